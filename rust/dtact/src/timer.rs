//! The original Dtact's timer names (its `dtact-util` crate's `timer` module), over
//! [`crate::time`]: [`sleep`], [`DtactSleep`] (`DtactSleep::new(duration)`,
//! `DtactSleep::until(instant)`), [`interval`] returning a [`DtactInterval`] (`tick().await`,
//! [`MissedTickBehavior`]; the first tick is immediate), and [`timeout`] with [`TimeoutError`].
//!
//! ```
//! use std::time::Duration;
//! use dtact::timer::{interval, sleep, timeout, DtactSleep};
//! let rt = dtact::Runtime::builder().workers(1).build().unwrap();
//! rt.block_on(dtact::spawn(async {
//!     sleep(Duration::from_millis(1)).await;
//!     DtactSleep::new(Duration::from_millis(1)).await;
//!     let mut iv = interval(Duration::from_millis(2));
//!     iv.tick().await;
//!     iv.tick().await;
//!     assert!(timeout(Duration::from_millis(1), DtactSleep::new(Duration::from_secs(9))).await.is_err());
//! })).unwrap();
//! ```
use std::future::Future;
use std::time::Duration;

pub use crate::time::MissedTickBehavior;

/// The future of [`sleep`] (= [`crate::time::Sleep`]): `DtactSleep::new(duration)`,
/// `DtactSleep::until(instant)`.
pub type DtactSleep = crate::time::Sleep;

/// The ticker of [`interval`] (= [`crate::time::Interval`]).
pub type DtactInterval = crate::time::Interval;

/// The error of [`timeout`] (= [`crate::time::error::Elapsed`]).
pub type TimeoutError = crate::time::error::Elapsed;

/// The future of [`timeout`] (= [`crate::time::Timeout`]).
pub type DtactTimeout<F> = crate::time::Timeout<F>;

/// Sleeps for `duration` ([`crate::time::sleep`]).
pub fn sleep(duration: Duration) -> DtactSleep {
    crate::time::sleep(duration)
}

/// Ticks every `period`, the first tick at once ([`crate::time::interval`]).
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> DtactInterval {
    crate::time::interval(period)
}

/// Runs `future` with a time limit: `Err(TimeoutError)` if `duration` passes first
/// ([`crate::time::timeout`]).
pub fn timeout<F: Future>(duration: Duration, future: F) -> DtactTimeout<F> {
    crate::time::timeout(duration, future)
}
