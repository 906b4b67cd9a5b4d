//! Fiber-level operations: handles, the allocation-free fiber waker, yielding, waiting.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::Thread;

use dtact_sys as sys;

use crate::error::{check, Error};

/// A fiber handle (the C `dtact_handle_t`): a plain value, `Copy`, nothing to free. Bit 63 is set
/// on every valid handle; the rest holds a slot index and a generation, so a handle to a finished
/// and recycled fiber is recognised as finished.
#[allow(non_camel_case_types)]
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct dtact_handle_t(
    /// The raw C handle value.
    pub u64,
);

impl dtact_handle_t {
    /// `DTACT_INVALID_HANDLE`.
    pub const INVALID: dtact_handle_t = dtact_handle_t(0);
    /// Whether this is not the invalid handle.
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
}

/// The calling fiber's handle, or `None` on a host thread (`dtact_self`).
pub fn current() -> Option<dtact_handle_t> {
    // SAFETY: dtact_self has no preconditions (it returns 0 on a host thread).
    let h = unsafe { sys::dtact_self() };
    if h == 0 {
        None
    } else {
        Some(dtact_handle_t(h))
    }
}

/// Whether the caller runs on a Dtact fiber.
pub fn in_fiber() -> bool {
    // SAFETY: dtact_self has no preconditions (it returns 0 on a host thread).
    unsafe { sys::dtact_self() != 0 }
}

/// The index of the worker running the caller, or `None` on a host thread.
pub fn current_worker() -> Option<usize> {
    // SAFETY: dtact_current_worker has no preconditions (it returns -1 on a host thread).
    let w = unsafe { sys::dtact_current_worker() };
    if w < 0 {
        None
    } else {
        Some(w as usize)
    }
}

// ------------------------------------------------------------------ the fiber waker
//
// The waker of a future polled on a fiber is the fiber's handle itself, stored in the RawWaker's
// data pointer: no allocation, no reference count. wake = dtact_unpark(handle). A wake that races
// with completion is harmless: unparking a finished or recycled fiber is a no-op (the handle's
// generation no longer matches).

/// The vtable's `clone`: the handle is a plain value, so the clone is the same data pointer.
///
/// # Safety
/// None beyond the `RawWakerVTable` contract: `p` is a fiber handle stored as a pointer (never
/// dereferenced).
unsafe fn fw_clone(p: *const ()) -> RawWaker {
    RawWaker::new(p, &FIBER_WAKER_VTABLE)
}
/// The vtable's `wake` and `wake_by_ref`: `dtact_unpark(handle)`.
///
/// # Safety
/// None beyond the `RawWakerVTable` contract: `p` is a fiber handle stored as a pointer (never
/// dereferenced).
unsafe fn fw_wake(p: *const ()) {
    // SAFETY: dtact_unpark takes any handle value and validates it (EHANDLE for a forged one; a
    // finished or recycled fiber is ignored), so even a stale handle is harmless.
    unsafe { sys::dtact_unpark(p as usize as u64) };
}
/// The vtable's `drop`: nothing to release.
///
/// # Safety
/// None: the data pointer owns nothing.
unsafe fn fw_drop(_: *const ()) {}

static FIBER_WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(fw_clone, fw_wake, fw_wake, fw_drop);

/// A `Waker` that unparks fiber `h` (`dtact_unpark`); allocation-free.
pub fn fiber_waker(h: dtact_handle_t) -> Waker {
    // SAFETY: the RawWaker contract holds: the data pointer is a plain value (the handle) that is
    // never dereferenced, so it is valid on any thread and for any lifetime, clone copies it,
    // drop releases nothing, and wake only passes the value to dtact_unpark, which validates it.
    unsafe { Waker::from_raw(RawWaker::new(h.0 as usize as *const (), &FIBER_WAKER_VTABLE)) }
}

/// Outcome of driving a future on a fiber.
pub(crate) enum Driven<T> {
    Done(T),
    /// The runtime shut down (dtact_park returned ESHUTDOWN) while the future was pending.
    Shutdown,
    /// `stop()` returned true while the future was pending.
    Stopped,
}

/// Polls `fut` on the current fiber until it completes; on `Pending` parks the fiber
/// (`dtact_park(-1)`) until a wake (`dtact_unpark`) arrives. Must run on a fiber.
pub(crate) fn drive_on_fiber<F: Future + ?Sized>(mut fut: Pin<&mut F>, stop: &dyn Fn() -> bool) -> Driven<F::Output> {
    // SAFETY: dtact_self has no preconditions.
    let me = unsafe { sys::dtact_self() };
    debug_assert!(me != 0);
    let waker = fiber_waker(dtact_handle_t(me));
    let mut cx = Context::from_waker(&waker);
    let mut shutdown = false;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Driven::Done(v);
        }
        if shutdown {
            return Driven::Shutdown;
        }
        if stop() {
            return Driven::Stopped;
        }
        // SAFETY: dtact_park has no memory-safety preconditions (on a host thread it returns
        // EPERM; callers run this on a fiber).
        let rc = unsafe { sys::dtact_park(-1) };
        if rc == sys::DTACT_ESHUTDOWN {
            shutdown = true; // poll once more: the wake may have come with the shutdown
        }
    }
}

// ------------------------------------------------------------------ thread block_on

struct ThreadWaker(Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a future on the calling host thread, parking the thread while it is pending.
pub(crate) fn block_on_thread<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

// ------------------------------------------------------------------ wait

/// Drives `fut` to completion on the current fiber and returns its output: polls it, and while
/// it is pending parks the fiber (only the fiber: its worker runs other fibers) until the
/// future's waker unparks it. Outside a fiber it falls back to a thread-parking `block_on`.
///
/// # Panics
/// If the future panics (the panic propagates), or, on a fiber, if the runtime shuts down while
/// the future is still pending (the fiber can no longer park).
pub fn wait<F: Future>(fut: F) -> F::Output {
    if !in_fiber() {
        return block_on_thread(fut);
    }
    let mut fut = std::pin::pin!(fut);
    match drive_on_fiber(fut.as_mut(), &|| false) {
        Driven::Done(v) => v,
        _ => panic!("dtact::wait: the runtime shut down while the future was pending"),
    }
}

/// The name of [`wait`] in the original Dtact (the earlier Rust implementation whose API this
/// crate keeps); identical.
///
/// # Panics
/// As [`wait`].
pub fn dtact_wait<F: Future>(fut: F) -> F::Output {
    wait(fut)
}

/// `fut.wait()`: [`wait`] as a method on every future.
pub trait DtactWaitExt: Future + Sized {
    /// Drives this future to completion on the current fiber (see [`wait`]).
    ///
    /// # Panics
    /// As [`wait`].
    fn wait(self) -> Self::Output {
        wait(self)
    }
}
impl<F: Future> DtactWaitExt for F {}

// ------------------------------------------------------------------ yield

/// Yields the current fiber: `yield_now().await` calls `dtact_yield` from inside `poll` (the
/// fiber is suspended behind every other ready fiber of its worker, which then run) and returns
/// `Ready`. Outside a fiber it behaves like an ordinary executor yield (wake + one `Pending`).
pub fn yield_now() -> YieldNow {
    YieldNow { done: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    done: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        // On a fiber this suspends it behind the worker's other ready fibers (one call, no
        // separate "am I on a fiber" query); on a host thread it does nothing and says EPERM.
        // SAFETY: dtact_yield has no preconditions.
        if unsafe { sys::dtact_yield() } != sys::DTACT_EPERM {
            return Poll::Ready(());
        }
        self.done = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Makes fiber `target` runnable if it is parked (`dtact_unpark`), then yields the caller.
/// A finished target is ignored.
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued (then the caller does not yield),
/// [`Error::NotInitialized`] without a runtime.
pub async fn yield_to(target: dtact_handle_t) -> Result<(), Error> {
    // SAFETY: dtact_unpark takes any handle value and validates it.
    check(unsafe { sys::dtact_unpark(target.0) })?;
    yield_now().await;
    Ok(())
}

/// The original Dtact's name for [`yield_to`]; identical.
///
/// # Errors
/// As [`yield_to`].
pub async fn yield_to_async(target: dtact_handle_t) -> Result<(), Error> {
    yield_to(target).await
}

/// `dtact_await`: the raw C wait. Returns once fiber `h` has finished (or was cancelled:
/// `Err(Cancelled)`). On a fiber it suspends only that fiber; on a host thread it spins briefly,
/// then sleeps on a futex.
///
/// # Errors
/// [`Error::Cancelled`] (the fiber was cancelled before it ran), [`Error::Deadlock`] (the
/// caller's own handle), [`Error::BadHandle`], [`Error::NotInitialized`], [`Error::NotRunning`]
/// (on a host thread while the workers are not running and the fiber has not finished),
/// [`Error::Shutdown`] (a fiber's wait was interrupted by shutdown).
pub fn dtact_await(h: dtact_handle_t) -> Result<(), Error> {
    // SAFETY: dtact_await takes any handle value and validates it (EHANDLE, EDEADLK).
    check(unsafe { sys::dtact_await(h.0) })
}

/// Whether fiber `h` has finished (or was recycled).
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued, [`Error::NotInitialized`] without a
/// runtime.
pub fn is_finished(h: dtact_handle_t) -> Result<bool, Error> {
    // SAFETY: dtact_is_finished takes any handle value and validates it.
    let r = unsafe { sys::dtact_is_finished(h.0) };
    if r < 0 {
        Err(Error::from_code(r).unwrap())
    } else {
        Ok(r == 1)
    }
}

/// Gives fiber `h` a wake-up token (`dtact_unpark`): its next (or current) park returns. Never
/// blocks or switches; a finished or recycled fiber is ignored.
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued, [`Error::NotInitialized`] without a
/// runtime.
pub fn unpark(h: dtact_handle_t) -> Result<(), Error> {
    // SAFETY: dtact_unpark takes any handle value and validates it.
    check(unsafe { sys::dtact_unpark(h.0) })
}

/// Suspends the calling fiber (or sleeps the thread) for at least `d` (`dtact_sleep_ns`).
///
/// # Errors
/// [`Error::Shutdown`] if shutdown interrupted the sleep.
pub fn sleep(d: std::time::Duration) -> Result<(), Error> {
    // SAFETY: dtact_sleep_ns has no preconditions (it sleeps the fiber, or the thread).
    check(unsafe { sys::dtact_sleep_ns(d.as_nanos().min(u64::MAX as u128) as u64) })
}
