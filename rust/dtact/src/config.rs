//! Runtime tuning calls of the original Dtact (the earlier Rust implementation whose API this
//! crate keeps).
use dtact_sys as sys;

use crate::error::{check, Error};

/// The queue length at which a worker starts deflecting for the original's threshold `t`:
/// `max(32, t * 256 / 80)`. The original measured load on a 0..100 scale (100 = 8192 queued
/// fibers) with a default threshold of 80; this runtime counts queued fibers, with a default of
/// 256 and a minimum of 32 (`dtact_set_deflection_threshold`). The mapping keeps the default
/// (80 -> 256) and scales proportionally: 40 -> 128, 100 -> 320, 10 or less -> 32.
pub const fn deflection_queue_length(threshold: u8) -> u32 {
    let q = threshold as u32 * 256 / 80;
    if q < 32 {
        32
    } else {
        q
    }
}

/// Tunes worker `worker`: above the queue length [`deflection_queue_length`]`(threshold)` it
/// hands chunks of its work to a less loaded peer. `threshold` is on the original's scale
/// (default 80); the value stays until changed again (the original's periodic adaptation
/// overwrote it; this runtime does not). Callable from any thread while a runtime exists.
///
/// # Errors
/// [`Error::InvalidArgument`] for a worker index the runtime does not have,
/// [`Error::NotInitialized`] without a runtime.
pub fn set_deflection_threshold(worker: usize, threshold: u8) -> Result<(), Error> {
    let w = u32::try_from(worker).map_err(|_| Error::InvalidArgument)?;
    // SAFETY: dtact_set_deflection_threshold has no memory preconditions; it validates the
    // worker index and the value (EINVAL) and the runtime's existence (ENOTINIT).
    check(unsafe { sys::dtact_set_deflection_threshold(w, deflection_queue_length(threshold)) })
}
