//! Fiber-level operations: handles, the allocation-free fiber waker, yielding, waiting.
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::Thread;

use dtact_sys as sys;

use crate::error::{check, Error};

/// Pins a future held in a local variable to the stack (what `std::pin::pin!` does, which needs
/// Rust 1.68; this crate supports 1.63): `pin_local!(fut)` shadows `fut` with a `Pin<&mut _>`
/// to the moved-in value.
macro_rules! pin_local {
    ($x:ident) => {
        let mut $x = $x;
        // SAFETY: the value was moved into the new local `$x` just above, which is shadowed
        // right here by the pinned reference, so it can never be named (moved) again; it stays
        // in place until it is dropped at the end of the enclosing block.
        #[allow(unused_mut)]
        let mut $x = unsafe { Pin::new_unchecked(&mut $x) };
    };
}

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

// What a future tells the runner that polls it. A yield inside a task returns `Pending` to the
// runner below, which yields the fiber itself and can therefore check for abort and shutdown at
// every yield (a yield that switched inside `poll` and returned `Ready` would let a yield-looping
// task run forever): the request travels in a thread-local flag set in `poll` and read by the
// runner right after `poll` returns. A timer (`time::Sleep`) polled by the runner registers its
// deadline in the runner's [`FiberTimers`] (made on first use, reached through a thread-local
// while the runner polls), and the runner parks the fiber with a timeout up to the earliest
// registered deadline (`dtact_park(ns)`) instead of forever: a sleeping task needs no timer
// thread. A registration lasts until the timer completes, is dropped or re-registers, or its
// deadline passes (the runner then polls again: that is the wake-up), so a combinator that does
// not re-poll a pending timer at every wake-up still gets its wake-up at the deadline.
//
// A poll may itself suspend the fiber (a nested `wait`, an in-place yield) and a cross-thread
// fiber may then resume on another thread: those suspension points take the thread-locals of
// the poll in progress before they suspend and put them back on the thread they resume on
// (`suspend_preserving`), and a nested runner does the same, so nothing is left behind on the
// wrong thread. The driver mark (`PollTls::driver`) says which fiber's runner is polling on this
// thread (only a future polled by its own runner, with the fiber's waker, may register a deadline
// there). The accessors are `#[inline(never)]` so that the compiler never keeps a thread-local
// address across a suspension of a cross-thread fiber.

/// The deadlines registered with one runner by the timers it polls (a handful: scanned
/// linearly). Shared (`Arc`) with those timers, which deregister themselves when dropped, on
/// whatever thread that happens.
#[derive(Debug, Default)]
pub(crate) struct FiberTimers {
    inner: std::sync::Mutex<TimersInner>,
}

#[derive(Debug, Default)]
struct TimersInner {
    entries: Vec<(u64, std::time::Instant)>,
    next_id: u64,
}

impl FiberTimers {
    fn lock(&self) -> std::sync::MutexGuard<'_, TimersInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Registers `deadline`; returns its id.
    pub(crate) fn register(&self, deadline: std::time::Instant) -> u64 {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.entries.push((id, deadline));
        id
    }
    /// Moves registration `id` to `deadline`; false if it is gone (expired).
    pub(crate) fn update(&self, id: u64, deadline: std::time::Instant) -> bool {
        let mut g = self.lock();
        match g.entries.iter_mut().find(|e| e.0 == id) {
            Some(e) => {
                e.1 = deadline;
                true
            }
            None => false,
        }
    }
    /// Removes registration `id` (if still there).
    pub(crate) fn deregister(&self, id: u64) {
        let mut g = self.lock();
        if let Some(i) = g.entries.iter().position(|e| e.0 == id) {
            g.entries.swap_remove(i);
        }
    }
    fn earliest(&self) -> Option<std::time::Instant> {
        self.lock().entries.iter().map(|e| e.1).min()
    }
    /// Drops the registrations whose deadline has passed (their wake-up is the poll that follows).
    fn expire(&self, now: std::time::Instant) {
        self.lock().entries.retain(|e| e.1 > now);
    }
}

/// The thread-locals of the poll in progress on this thread, in one thread-local so that a
/// runner's poll costs two accesses ([`begin_poll`], [`end_poll`]) rather than one per field.
/// It has no destructor (a thread-local with one checks its registration at every access): the
/// timer registry is held as a raw `Arc` pointer, installed only while a runner polls (taken out
/// again by `end_poll`, or by `take_poll_state` before a suspension).
struct PollTls {
    /// A yield request of the future being polled ([`request_yield`]).
    yield_request: Cell<bool>,
    /// The fiber whose runner is polling on this thread (0: none).
    driver: Cell<u64>,
    /// That runner's timer registry (`Arc::into_raw`), or null.
    timers: Cell<*const FiberTimers>,
}

thread_local! {
    static POLL: PollTls = const {
        PollTls { yield_request: Cell::new(false), driver: Cell::new(0), timers: Cell::new(std::ptr::null()) }
    };
}

/// The registry held by a raw pointer of [`PollTls::timers`] (which gives up its reference).
fn timers_from_raw(p: *const FiberTimers) -> Option<Arc<FiberTimers>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: a non-null pointer in PollTls::timers comes from Arc::into_raw and owns one
        // reference, which the caller took out of the cell (replaced it), so it is reclaimed once.
        Some(unsafe { Arc::from_raw(p) })
    }
}

/// The raw pointer that [`PollTls::timers`] holds for `t` (owning its reference), or null.
fn timers_into_raw(t: Option<Arc<FiberTimers>>) -> *const FiberTimers {
    match t {
        Some(t) => Arc::into_raw(t),
        None => std::ptr::null(),
    }
}

/// Tells the runner polling the current future to yield the fiber when `poll` returns.
#[inline(never)]
fn request_yield() {
    POLL.with(|p| p.yield_request.set(true));
}

#[inline(never)]
fn driver() -> u64 {
    POLL.with(|p| p.driver.get())
}

/// A runner of fiber `me` starts a poll: clears a stale yield request (of a foreign executor),
/// installs the runner's timer registry and marks `me` as the driver.
#[inline(never)]
fn begin_poll(me: u64, timers: Option<Arc<FiberTimers>>) {
    let old = POLL.with(|p| {
        p.yield_request.set(false);
        p.driver.set(me);
        p.timers.replace(timers_into_raw(timers))
    });
    // Left by a poll that panicked (its runner never took it back): dropped here.
    drop(timers_from_raw(old));
}

/// The poll returned: clears the driver mark; returns the timer registry and the yield request.
#[inline(never)]
fn end_poll() -> (Option<Arc<FiberTimers>>, bool) {
    let (t, y) = POLL.with(|p| {
        p.driver.set(0);
        (p.timers.replace(std::ptr::null()), p.yield_request.replace(false))
    });
    (timers_from_raw(t), y)
}

/// Takes the thread-locals of the poll in progress (yield request, driver mark, timer registry).
#[inline(never)]
fn take_poll_state() -> (bool, u64, Option<Arc<FiberTimers>>) {
    let (y, d, t) =
        POLL.with(|p| (p.yield_request.replace(false), p.driver.replace(0), p.timers.replace(std::ptr::null())));
    (y, d, timers_from_raw(t))
}

/// Puts back what [`take_poll_state`] took.
#[inline(never)]
fn put_poll_state(st: (bool, u64, Option<Arc<FiberTimers>>)) {
    let old = POLL.with(|p| {
        p.yield_request.set(st.0);
        p.driver.set(st.1);
        p.timers.replace(timers_into_raw(st.2))
    });
    drop(timers_from_raw(old));
}

/// The timer registry of the runner polling the current future, if the future is polled by the
/// runner of the current fiber ([`drive_on_fiber`]: a task's runner or [`wait`]) with the
/// fiber's own waker (made on first use). `None` otherwise: the caller must arrange its wake-up
/// some other way.
#[inline(never)]
pub(crate) fn runner_timers(cx: &Context<'_>) -> Option<Arc<FiberTimers>> {
    // SAFETY: dtact_self has no preconditions (it returns 0 on a host thread).
    let me = unsafe { sys::dtact_self() };
    if me == 0 || driver() != me || !cx.waker().will_wake(&fiber_waker(dtact_handle_t(me))) {
        return None;
    }
    POLL.with(|p| {
        let mut t = p.timers.get();
        if t.is_null() {
            t = timers_into_raw(Some(Arc::new(FiberTimers::default())));
            p.timers.set(t);
        }
        // SAFETY: `t` (non-null) comes from Arc::into_raw and the cell still owns that reference
        // (it stays there): the ManuallyDrop keeps it from being released here; we clone it.
        let held = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(t) });
        Some(Arc::clone(&held))
    })
}

/// Runs `f`, which may suspend the current fiber (and resume it on another thread), keeping the
/// thread-locals of the poll in progress (yield request, driver mark, timer registry) across it.
pub(crate) fn suspend_preserving<R>(f: impl FnOnce() -> R) -> R {
    let st = take_poll_state();
    let r = f();
    put_poll_state(st);
    r
}

/// Polls `fut` on the current fiber until it completes. After a `Pending` it checks `stop()`
/// (the task's abort flag) and shutdown; then, if the future asked to yield ([`yield_now`]), it
/// yields the fiber (`dtact_yield`) and polls again; else it parks the fiber until a wake
/// (`dtact_unpark`) arrives (`dtact_park(-1)`) or, if timers registered deadlines
/// (`time::Sleep`), until the earliest one (`dtact_park(ns)`). Must run on a fiber. A nested
/// call (a `wait` inside a poll) keeps the outer poll's thread-locals.
pub(crate) fn drive_on_fiber<F: Future + ?Sized>(fut: Pin<&mut F>, stop: &dyn Fn() -> bool) -> Driven<F::Output> {
    // SAFETY: dtact_self has no preconditions.
    let me = unsafe { sys::dtact_self() };
    drive_on_fiber_as(fut, stop, me)
}

/// [`drive_on_fiber`] for a caller that knows the current fiber's handle `me` already (a task's
/// trampoline reads it from its join cell, where the spawn wrote it before the fiber could run).
pub(crate) fn drive_on_fiber_as<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    stop: &dyn Fn() -> bool,
    me: u64,
) -> Driven<F::Output> {
    // SAFETY: dtact_self has no preconditions.
    debug_assert!(me != 0 && me == unsafe { sys::dtact_self() });
    if driver() == me {
        // Nested in a poll of this fiber's runner: keep that poll's state.
        // (suspend_preserving puts the outer poll's driver mark, `me`, back afterwards.)
        suspend_preserving(|| drive_loop(fut, stop, me))
    } else {
        // drive_loop leaves the driver mark cleared (end_poll).
        drive_loop(fut, stop, me)
    }
}

fn drive_loop<F: Future + ?Sized>(mut fut: Pin<&mut F>, stop: &dyn Fn() -> bool, me: u64) -> Driven<F::Output> {
    let waker = fiber_waker(dtact_handle_t(me));
    let mut cx = Context::from_waker(&waker);
    let mut shutdown = false;
    let mut timers: Option<Arc<FiberTimers>> = None;
    loop {
        begin_poll(me, timers.take());
        let polled = fut.as_mut().poll(&mut cx);
        let (t, yield_requested) = end_poll();
        timers = t;
        if let Poll::Ready(v) = polled {
            return Driven::Done(v);
        }
        if shutdown {
            return Driven::Shutdown;
        }
        if stop() {
            return Driven::Stopped;
        }
        let rc = if yield_requested {
            // SAFETY: dtact_yield has no preconditions (we are on a fiber).
            unsafe { sys::dtact_yield() }
        } else if let Some(d) = timers.as_ref().and_then(|t| t.earliest()) {
            let left = d.saturating_duration_since(std::time::Instant::now());
            let rc = if left.is_zero() {
                sys::DTACT_OK // the deadline passed meanwhile: poll again
            } else {
                let ns = left.as_nanos().min(i64::MAX as u128) as i64;
                // SAFETY: dtact_park has no memory-safety preconditions (we are on a fiber).
                unsafe { sys::dtact_park(ns) }
            };
            if let Some(t) = &timers {
                t.expire(std::time::Instant::now());
            }
            rc
        } else {
            // SAFETY: dtact_park has no memory-safety preconditions (on a host thread it returns
            // EPERM; callers run this on a fiber).
            unsafe { sys::dtact_park(-1) }
        };
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
    pin_local!(fut);
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
/// future's waker unparks it. On a plain thread (not a fiber) it blocks the thread until the
/// future completes (parking it while the future is pending), where the original Dtact
/// panicked.
///
/// # Panics
/// If the future panics (the panic propagates), or, on a fiber, if the runtime shuts down while
/// the future is still pending (the fiber can no longer park).
pub fn wait<F: Future>(fut: F) -> F::Output {
    if !in_fiber() {
        return block_on_thread(fut);
    }
    pin_local!(fut);
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

/// Yields the current fiber: `yield_now().await` suspends the task's fiber behind every other
/// ready fiber of its worker, which then run. A yield is a suspension point: an aborted task
/// ([`JoinHandle::abort`](crate::JoinHandle::abort)) or a runtime that is shutting down stops
/// there (the future is dropped and the task reports cancelled).
///
/// Inside a task the yield is done by the task's runner after `poll` returns `Pending`; when the
/// future is polled by some other executor running on a fiber (a combinator that substitutes its
/// own waker, for instance), the fiber yields inside `poll` (`dtact_yield`) and the abort check
/// waits for the next real suspension. Outside a fiber it behaves like an ordinary executor
/// yield (wake + one `Pending`).
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
        self.done = true;
        // SAFETY: dtact_self has no preconditions (it returns 0 on a host thread).
        let me = unsafe { sys::dtact_self() };
        if me == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if cx.waker().will_wake(&fiber_waker(dtact_handle_t(me))) {
            // Our runner polls us: it yields the fiber (and checks abort and shutdown) as soon
            // as this `Pending` reaches it.
            request_yield();
            return Poll::Pending;
        }
        // A foreign executor on a fiber: yield in place.
        // SAFETY: dtact_yield has no preconditions (we are on a fiber).
        if suspend_preserving(|| unsafe { sys::dtact_yield() }) == sys::DTACT_ESHUTDOWN {
            // Let the runner see the shutdown at its next suspension.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

/// What names a fiber: a raw [`dtact_handle_t`] (what the original Dtact's spawns returned), a
/// [`JoinHandle`](crate::JoinHandle) (what this crate's spawns return) or a reference to either.
/// Every call that takes a fiber handle ([`dtact_await`], [`yield_to`], [`yield_to_sync`],
/// [`is_finished`], [`unpark`], [`status`]) accepts any of them, so code written against the
/// original, `dtact_await(spawn(fut))`, compiles unchanged.
pub trait AsHandle {
    /// The fiber's handle.
    fn as_handle(&self) -> dtact_handle_t;
}

impl AsHandle for dtact_handle_t {
    fn as_handle(&self) -> dtact_handle_t {
        *self
    }
}

impl<T> AsHandle for crate::JoinHandle<T> {
    fn as_handle(&self) -> dtact_handle_t {
        self.fiber_handle()
    }
}

impl<H: AsHandle + ?Sized> AsHandle for &H {
    fn as_handle(&self) -> dtact_handle_t {
        (**self).as_handle()
    }
}

impl<H: AsHandle + ?Sized> AsHandle for &mut H {
    fn as_handle(&self) -> dtact_handle_t {
        (**self).as_handle()
    }
}

/// Makes fiber `target` runnable if it is parked (`dtact_unpark`), then yields the caller
/// (as [`yield_now`]). A finished target is ignored.
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued (then the caller does not yield),
/// [`Error::NotInitialized`] without a runtime.
pub fn yield_to<H: AsHandle>(target: H) -> YieldTo {
    YieldTo { target: target.as_handle(), unparked: false, y: yield_now() }
}

/// The original Dtact's name for [`yield_to`]; identical.
///
/// # Errors
/// As [`yield_to`].
pub fn yield_to_async<H: AsHandle>(target: H) -> YieldTo {
    yield_to(target)
}

/// The future of [`yield_to`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldTo {
    target: dtact_handle_t,
    unparked: bool,
    y: YieldNow,
}

impl Future for YieldTo {
    type Output = Result<(), Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.unparked {
            // SAFETY: dtact_unpark takes any handle value and validates it.
            if let Err(e) = check(unsafe { sys::dtact_unpark(self.target.0) }) {
                return Poll::Ready(Err(e));
            }
            self.unparked = true;
        }
        match Pin::new(&mut self.y).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The synchronous [`yield_to`] of the original Dtact: makes fiber `target` runnable if it is
/// parked, then yields the calling fiber behind the other ready fibers of its worker (it stays
/// runnable: unlike the original, which parked the caller with nobody to wake it). On a host
/// thread it yields the thread's time slice instead. Usable from synchronous code on a fiber
/// (`fiber::spawn_with_stack` closures, `#[export_fiber]` functions).
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued (then the caller does not yield),
/// [`Error::NotInitialized`] without a runtime, [`Error::Shutdown`] if the runtime is shutting
/// down (the caller yielded anyway).
pub fn yield_to_sync<H: AsHandle>(target: H) -> Result<(), Error> {
    // SAFETY: dtact_unpark takes any handle value and validates it.
    check(unsafe { sys::dtact_unpark(target.as_handle().0) })?;
    // SAFETY: dtact_yield has no preconditions (EPERM on a host thread).
    match suspend_preserving(|| unsafe { sys::dtact_yield() }) {
        sys::DTACT_EPERM => {
            std::thread::yield_now();
            Ok(())
        }
        rc => check(rc),
    }
}

/// The states of a fiber, as the original Dtact numbered them. [`status`] reports `Finished`,
/// `Running` (the caller's own fiber) or `Yielded` (any other fiber that has not finished:
/// queued, suspended or running on another worker); the C runtime does not expose the finer
/// states, and a panic is reported by the task's [`JoinError`](crate::JoinError), not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FiberStatus {
    /// Spawned, never run.
    Initial = 0,
    /// Running (the caller's own fiber).
    Running = 1,
    /// Not finished and not the caller: queued, suspended, or running elsewhere.
    Yielded = 2,
    /// Finished (or cancelled, or its record was recycled).
    Finished = 3,
    /// Panicked (never reported by [`status`]; see the `JoinError`).
    Panicked = 4,
    /// Woken, waiting to run.
    Notified = 5,
    /// Switching out.
    Suspending = 6,
}

/// The state of fiber `h` (see [`FiberStatus`] for what is reported).
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued, [`Error::NotInitialized`] without a
/// runtime.
pub fn status<H: AsHandle>(h: H) -> Result<FiberStatus, Error> {
    let h = h.as_handle();
    if is_finished(h)? {
        Ok(FiberStatus::Finished)
    } else if current() == Some(h) {
        Ok(FiberStatus::Running)
    } else {
        Ok(FiberStatus::Yielded)
    }
}

/// `dtact_await`: the raw C wait. Returns once fiber `h` has finished (or was cancelled:
/// `Err(Cancelled)`). On a fiber it suspends only that fiber; on a host thread it spins briefly,
/// then sleeps on a futex. `h` is a [`dtact_handle_t`], a [`JoinHandle`](crate::JoinHandle) or a
/// reference to one ([`AsHandle`]); awaiting a `JoinHandle` by value drops it afterwards (the
/// output, if any, is dropped: use `.await` or `join()` to get it). An aborted task's fiber
/// finishes normally, so this returns `Ok` for it: its `JoinHandle` reports the cancellation.
///
/// # Errors
/// [`Error::Cancelled`] (the fiber was cancelled before it ran), [`Error::Deadlock`] (the
/// caller's own handle), [`Error::BadHandle`], [`Error::NotInitialized`], [`Error::NotRunning`]
/// (on a host thread while the workers are not running and the fiber has not finished),
/// [`Error::Shutdown`] (a fiber's wait was interrupted by shutdown).
pub fn dtact_await<H: AsHandle>(h: H) -> Result<(), Error> {
    let h = h.as_handle().0;
    // SAFETY: dtact_await takes any handle value and validates it (EHANDLE, EDEADLK).
    check(suspend_preserving(|| unsafe { sys::dtact_await(h) }))
}

/// Whether fiber `h` has finished (or was recycled).
///
/// # Errors
/// [`Error::BadHandle`] for a handle that was never issued, [`Error::NotInitialized`] without a
/// runtime.
pub fn is_finished<H: AsHandle>(h: H) -> Result<bool, Error> {
    // SAFETY: dtact_is_finished takes any handle value and validates it.
    let r = unsafe { sys::dtact_is_finished(h.as_handle().0) };
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
pub fn unpark<H: AsHandle>(h: H) -> Result<(), Error> {
    // SAFETY: dtact_unpark takes any handle value and validates it.
    check(unsafe { sys::dtact_unpark(h.as_handle().0) })
}

/// Suspends the calling fiber (or sleeps the thread) for at least `d` (`dtact_sleep_ns`).
///
/// # Errors
/// [`Error::Shutdown`] if shutdown interrupted the sleep.
pub fn sleep(d: std::time::Duration) -> Result<(), Error> {
    let ns = d.as_nanos().min(u64::MAX as u128) as u64;
    // SAFETY: dtact_sleep_ns has no preconditions (it sleeps the fiber, or the thread).
    check(suspend_preserving(|| unsafe { sys::dtact_sleep_ns(ns) }))
}

// ------------------------------------------------------------------ spawn_with_stack

/// A stack size for [`spawn_with_stack`]: a byte count, or a size string as the original Dtact
/// took (`"256K"`, `"2M"`, `"1G"`: K, M and G are powers of 1024; a plain `"65536"` is bytes).
pub trait StackSize {
    /// The size in bytes, or `None` if the string is not a size.
    fn stack_bytes(&self) -> Option<usize>;
}

impl StackSize for usize {
    fn stack_bytes(&self) -> Option<usize> {
        Some(*self)
    }
}
impl StackSize for u32 {
    fn stack_bytes(&self) -> Option<usize> {
        usize::try_from(*self).ok()
    }
}
impl StackSize for u64 {
    fn stack_bytes(&self) -> Option<usize> {
        usize::try_from(*self).ok()
    }
}
/// An unsuffixed integer literal is an `i32`; negative values are not sizes.
impl StackSize for i32 {
    fn stack_bytes(&self) -> Option<usize> {
        usize::try_from(*self).ok()
    }
}
impl StackSize for str {
    fn stack_bytes(&self) -> Option<usize> {
        parse_size(self)
    }
}
impl StackSize for String {
    fn stack_bytes(&self) -> Option<usize> {
        parse_size(self)
    }
}
impl<Z: StackSize + ?Sized> StackSize for &Z {
    fn stack_bytes(&self) -> Option<usize> {
        (**self).stack_bytes()
    }
}

/// Parses `"256K"`, `"2M"`, `"1G"`, `"4096"` (case-insensitive, optional `B` / `iB`).
fn parse_size(s: &str) -> Option<usize> {
    let upper = s.trim().to_ascii_uppercase();
    let body = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (num, shift) = match body.chars().last()? {
        'K' => (&body[..body.len() - 1], 10),
        'M' => (&body[..body.len() - 1], 20),
        'G' => (&body[..body.len() - 1], 30),
        _ => (body, 0),
    };
    let n: usize = num.trim().replace('_', "").parse().ok()?;
    n.checked_mul(1usize << shift)
}

/// Runs the synchronous closure `f` on a new fiber with a stack of `stack_size` (bytes, or a
/// string such as `"256K"`: see [`StackSize`]), using the `SameThreadNoFloat` switcher (the
/// fiber stays on one worker), as the original Dtact's `fiber::spawn_with_stack` did; unlike the
/// original, the size is honoured (rounded up to one of the runtime's stack size classes). The
/// closure may suspend its fiber with the synchronous calls ([`dtact_await`], [`wait`],
/// [`yield_to_sync`], [`sleep`]). Returns a [`JoinHandle`](crate::JoinHandle) for the closure's
/// value, which [`dtact_await`] also accepts.
///
/// # Panics
/// If `stack_size` is not a size, or the spawn fails (no runtime, shutting down, pool full for
/// 60 s, or a size outside the runtime's stack classes, 16 KiB ..= 64 MiB).
pub fn spawn_with_stack<Z, F, R>(stack_size: Z, f: F) -> crate::JoinHandle<R>
where
    Z: StackSize,
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let bytes = stack_size.stack_bytes().unwrap_or_else(|| panic!("dtact::fiber::spawn_with_stack: not a stack size"));
    crate::SpawnBuilder::<crate::SameThreadNoFloat>::new().stack_size(bytes).spawn(async move { f() })
}

#[cfg(test)]
mod tests {
    use super::parse_size;
    #[test]
    fn sizes() {
        assert_eq!(parse_size("256K"), Some(262144));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
    }
}
