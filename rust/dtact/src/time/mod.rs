//! Time for tasks, with tokio's shapes: [`sleep`], [`sleep_until`], [`interval`],
//! [`interval_at`], [`timeout`], [`timeout_at`], and [`sleep_blocking`] for synchronous code.
//!
//! How a [`Sleep`] waits: polled by the runner of a dtact task (or by [`crate::wait`] on a
//! fiber) with the fiber's own waker, it registers its deadline with that runner, which parks
//! the fiber with a timeout (`dtact_park(ns)`) up to the earliest registered deadline instead of
//! forever: no timer thread; the fiber is re-polled when the timeout expires (or earlier, on any
//! other wake-up) and the `Sleep` completes once the clock has passed its deadline. The
//! registration stays until the `Sleep` completes, is dropped or its deadline passes, so a
//! combinator that does not re-poll it at every wake-up still gets the wake-up at the deadline. Polled any other way (under another
//! executor, inside a combinator that substitutes its own waker, on a plain thread through
//! `block_on`), it registers its waker with one global timer thread (started on first use), which
//! wakes it at the deadline; dropping the `Sleep` deregisters it, and re-polling it with a
//! different waker updates the registration. A sleep never completes before its deadline.
//!
//! Abort and shutdown: a task waiting in `sleep(..).await` is a suspended task like any other;
//! [`JoinHandle::abort`](crate::JoinHandle::abort) wakes it and drops its future at once.
//!
//! ```
//! use std::time::Duration;
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let t0 = dtact::time::Instant::now();
//! rt.block_on(dtact::spawn(async {
//!     dtact::time::sleep(Duration::from_millis(20)).await;
//!     let r = dtact::time::timeout(Duration::from_millis(10), dtact::time::sleep(Duration::from_secs(60))).await;
//!     assert!(r.is_err());
//! })).unwrap();
//! assert!(t0.elapsed() >= Duration::from_millis(30));
//! ```
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use std::time::Instant;

mod driver;

/// The errors of this module.
pub mod error {
    use std::fmt;

    /// The deadline of a [`timeout`](super::timeout) passed before the future completed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Elapsed(pub(super) ());

    impl fmt::Display for Elapsed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("deadline has elapsed")
        }
    }
    impl std::error::Error for Elapsed {}
    impl From<Elapsed> for std::io::Error {
        fn from(_: Elapsed) -> std::io::Error {
            std::io::ErrorKind::TimedOut.into()
        }
    }
}

use error::Elapsed;

/// An instant about 30 years from now (what tokio uses for "never").
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

fn deadline_in(d: Duration) -> Instant {
    Instant::now().checked_add(d).unwrap_or_else(far_future)
}

/// A future that completes once `duration` has passed (see the module documentation for how
/// it waits).
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::until(deadline_in(duration))
}

/// A future that completes at `deadline` (at once if it has passed).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until(deadline)
}

/// Sleeps in synchronous code: suspends the calling fiber (only the fiber; `dtact_sleep_ns`),
/// or sleeps the calling thread. On a fiber a runtime shutdown ends the sleep early.
pub fn sleep_blocking(duration: Duration) {
    if crate::in_fiber() {
        let _ = crate::fiber::sleep(duration);
    } else {
        std::thread::sleep(duration);
    }
}

/// The future of [`sleep`] and [`sleep_until`]. `Unpin`.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    reg: Reg,
}

/// Where a pending [`Sleep`] is registered.
enum Reg {
    None,
    /// With the timer thread: its id and the waker it holds.
    Thread(u64, Waker),
    /// With the runner of a fiber: its registry and the id there.
    Fiber(Arc<crate::fiber::FiberTimers>, u64),
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}

impl Sleep {
    /// A sleep of `duration` from now (the original Dtact's `DtactSleep::new`).
    pub fn new(duration: Duration) -> Sleep {
        sleep(duration)
    }

    /// A sleep until `deadline` (the original Dtact's `DtactSleep::until`).
    pub fn until(deadline: Instant) -> Sleep {
        Sleep { deadline, reg: Reg::None }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (the sleep becomes pending again if it is in the future). A task
    /// waiting on it is woken by the new deadline.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().reset_inner(deadline)
    }

    fn reset_inner(&mut self, deadline: Instant) {
        self.deadline = deadline;
        match std::mem::replace(&mut self.reg, Reg::None) {
            Reg::None => {}
            Reg::Thread(id, w) => {
                driver::deregister(id);
                self.reg = Reg::Thread(driver::register(deadline, w.clone()), w);
            }
            Reg::Fiber(t, id) => {
                let id = if t.update(id, deadline) { id } else { t.register(deadline) };
                self.reg = Reg::Fiber(t, id);
            }
        }
    }

    fn deregister(&mut self) {
        match std::mem::replace(&mut self.reg, Reg::None) {
            Reg::None => {}
            Reg::Thread(id, _) => driver::deregister(id),
            Reg::Fiber(t, id) => t.deregister(id),
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if Instant::now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }
        if let Some(t) = crate::fiber::runner_timers(cx) {
            // The fiber's runner parks with a timeout: no timer thread needed.
            if let Reg::Fiber(cur, id) = &this.reg {
                if Arc::ptr_eq(cur, &t) && cur.update(*id, this.deadline) {
                    return Poll::Pending; // still registered there
                }
            }
            this.deregister();
            let id = t.register(this.deadline);
            this.reg = Reg::Fiber(t, id);
            return Poll::Pending;
        }
        match &mut this.reg {
            Reg::Thread(_, w) if w.will_wake(cx.waker()) => {}
            Reg::Thread(id, w) => {
                *w = cx.waker().clone();
                driver::update(*id, w.clone());
            }
            _ => {
                this.deregister();
                let w = cx.waker().clone();
                this.reg = Reg::Thread(driver::register(this.deadline, w.clone()), w);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

// ------------------------------------------------------------------ timeout

/// Runs `future` with a time limit: `Ok(output)` if it completes within `duration`, else
/// `Err(Elapsed)` (and the future is dropped with the `Timeout`).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { value: future, delay: sleep(duration) }
}

/// [`timeout`] with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { value: future, delay: sleep_until(deadline) }
}

/// The future of [`timeout`]: polls the inner future first, then the deadline.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<T> {
    value: T,
    delay: Sleep,
}

impl<T> Timeout<T> {
    /// The inner future.
    pub fn get_ref(&self) -> &T {
        &self.value
    }
    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }
    /// The inner future (the time limit is dropped).
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Future> Future for Timeout<T> {
    type Output = Result<T::Output, Elapsed>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning: `value` is never moved out of a pinned Timeout (only
        // `into_inner`, which takes the Timeout by value, i.e. unpinned, moves it), and `delay`
        // is Unpin, so handing out `&mut` to it is fine.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above: `value` stays in place while the Timeout is pinned.
        let value = unsafe { Pin::new_unchecked(&mut this.value) };
        if let Poll::Ready(v) = value.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ------------------------------------------------------------------ interval

/// What an [`Interval`] does about ticks it missed (because the task was late to call `tick`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per `tick`, until back on the original schedule (the
    /// default, as in tokio).
    #[default]
    Burst,
    /// Fire now, then schedule the next tick a whole period after now.
    Delay,
    /// Fire now, then return to the original schedule, skipping the missed ticks.
    Skip,
}

impl MissedTickBehavior {
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => timeout + period,
            MissedTickBehavior::Delay => now + period,
            MissedTickBehavior::Skip => {
                let late = (now - timeout).as_nanos() % period.as_nanos();
                now + period - Duration::from_nanos(late as u64)
            }
        }
    }
}

/// Ticks every `period`; the first tick completes at once.
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period` starting at `start`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    Interval { delay: sleep_until(start), period, missed: MissedTickBehavior::default() }
}

/// The ticker of [`interval`]: `tick().await` completes at each scheduled instant (never
/// before it) and returns that instant.
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick; returns its scheduled instant. Cancel-safe.
    pub async fn tick(&mut self) -> Instant {
        Tick { iv: self }.await
    }

    /// Polls for the next tick (for hand-written futures).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let timeout = self.delay.deadline();
        let now = Instant::now();
        // Less than 5 ms late counts as on time (as tokio).
        let next = if now > timeout + Duration::from_millis(5) {
            self.missed.next_timeout(timeout, now, self.period)
        } else {
            timeout + self.period
        };
        self.delay.reset_inner(next);
        Poll::Ready(timeout)
    }

    /// Restarts the schedule: the next tick is a period from now.
    pub fn reset(&mut self) {
        self.delay.reset_inner(Instant::now() + self.period);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

struct Tick<'a> {
    iv: &'a mut Interval,
}

impl Future for Tick<'_> {
    type Output = Instant;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        self.iv.poll_tick(cx)
    }
}
