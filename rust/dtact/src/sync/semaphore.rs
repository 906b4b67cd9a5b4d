//! [`Semaphore`]: a FIFO-fair counting semaphore, the base of [`Mutex`](super::Mutex),
//! [`RwLock`](super::RwLock), [`OnceCell`](super::OnceCell) and the bounded
//! [`mpsc`](super::mpsc) channel (as in tokio).
//!
//! Waiters are served strictly in arrival order: an acquire that finds others waiting queues
//! behind them even if enough permits are free, and permits are handed to the head of the queue
//! (several waiters at once when there are enough). A dropped acquire future leaves the queue; if
//! it had already been granted its permits (woken, not yet polled), they go back and on to the
//! next waiters.
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use super::waiters::{lock, WakeList, Waiters};

/// What happened to a queued acquire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Waiting,
    Granted,
    Closed,
}

struct SemWaiter {
    need: usize,
    outcome: Outcome,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: Waiters<SemWaiter>,
}

impl State {
    /// Hands free permits to the head of the queue, in order, while they suffice.
    fn grant(&mut self, wake: &mut WakeList) {
        while let Some(k) = self.waiters.front() {
            let need = self.waiters.get_mut(k).data.need;
            if need > self.permits {
                break;
            }
            self.permits -= need;
            self.waiters.pop_front();
            let e = self.waiters.get_mut(k);
            e.data.outcome = Outcome::Granted;
            wake.push(e.waker.take());
        }
    }
}

/// A counting semaphore for tasks (async `acquire`) and synchronous code
/// (`dtact::wait(sem.acquire())`, which suspends only the fiber on a fiber and parks a plain
/// thread). FIFO: permits go to waiters in the order they started waiting.
///
/// ```
/// use std::sync::Arc;
/// use dtact::sync::Semaphore;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let sem = Arc::new(Semaphore::new(2));
/// let hs: Vec<_> = (0..8).map(|_| {
///     let sem = sem.clone();
///     dtact::spawn(async move {
///         let _p = sem.acquire().await.unwrap();
///         assert!(sem.available_permits() < 2);
///     })
/// }).collect();
/// for h in hs { h.join().unwrap(); }
/// assert_eq!(sem.available_permits(), 2);
/// # drop(rt);
/// ```
pub struct Semaphore {
    state: Mutex<State>,
}

/// The semaphore was closed ([`Semaphore::close`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}
impl std::error::Error for AcquireError {}

/// Why a `try_acquire` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free (or others are waiting for them).
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}
impl std::error::Error for TryAcquireError {}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Semaphore").field("permits", &st.permits).field("closed", &st.closed).finish()
    }
}

impl Default for Semaphore {
    fn default() -> Self {
        Semaphore::new(0)
    }
}

impl Semaphore {
    /// The most permits a semaphore can hold (`usize::MAX >> 3`, as in tokio).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn new(permits: usize) -> Semaphore {
        assert!(permits <= Self::MAX_PERMITS, "a semaphore may not have more than MAX_PERMITS permits ({})", Self::MAX_PERMITS);
        Semaphore { state: Mutex::new(State { permits, closed: false, waiters: Waiters::new() }) }
    }

    /// The permits free right now (0 while waiters are queued: those permits are theirs).
    pub fn available_permits(&self) -> usize {
        let st = lock(&self.state);
        if st.waiters.is_empty() {
            st.permits
        } else {
            0
        }
    }

    /// Adds `n` permits (waking queued waiters they satisfy, in order).
    ///
    /// # Panics
    /// If the total would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn add_permits(&self, n: usize) {
        self.release(n)
    }

    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.state);
            let total = st.permits.checked_add(n).filter(|&t| t <= Self::MAX_PERMITS);
            st.permits = match total {
                Some(t) => t,
                None => {
                    drop(st);
                    panic!("dtact::sync::Semaphore: number of added permits ({}) would overflow MAX_PERMITS", n);
                }
            };
            st.grant(&mut wake);
        }
        wake.wake();
    }

    /// Closes the semaphore: queued and future acquires fail with [`AcquireError`]; permits
    /// already held stay valid (and may still be released).
    pub fn close(&self) {
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.closed = true;
            while let Some(k) = st.waiters.pop_front() {
                let e = st.waiters.get_mut(k);
                e.data.outcome = Outcome::Closed;
                wake.push(e.waker.take());
            }
        }
        wake.wake();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Takes `n` permits now, if free and nobody is queued before us.
    pub(crate) fn try_acquire_n(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut st = lock(&self.state);
        if st.closed {
            Err(TryAcquireError::Closed)
        } else if st.waiters.is_empty() && st.permits >= n {
            st.permits -= n;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// A future that takes `n` permits (FIFO), or fails when the semaphore is closed.
    pub(crate) fn acquire_n(&self, n: usize) -> Acquire<'_> {
        Acquire { sem: self, need: n, key: None, done: false }
    }

    /// Waits for one permit. The permit is released when the returned guard is dropped.
    /// Cancel-safe: dropping the future before it completes gives up the place in the queue
    /// (and any permit it was just granted).
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is closed.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_n(1).await?;
        Ok(SemaphorePermit { sem: self, permits: 1 })
    }

    /// Waits for `n` permits at once (FIFO: a large request queued first is served first).
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is closed.
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_n(n as usize).await?;
        Ok(SemaphorePermit { sem: self, permits: n })
    }

    /// Takes one permit if one is free now.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_n(1)?;
        Ok(SemaphorePermit { sem: self, permits: 1 })
    }

    /// Takes `n` permits if they are free now.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_n(n as usize)?;
        Ok(SemaphorePermit { sem: self, permits: n })
    }

    /// [`acquire`](Self::acquire) on an `Arc`: the permit owns a reference to the semaphore.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is closed.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_n(1).await?;
        Ok(OwnedSemaphorePermit { sem: self, permits: 1 })
    }

    /// [`acquire_many`](Self::acquire_many) on an `Arc`.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is closed.
    pub async fn acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_n(n as usize).await?;
        Ok(OwnedSemaphorePermit { sem: self, permits: n })
    }

    /// [`try_acquire`](Self::try_acquire) on an `Arc`.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_n(1)?;
        Ok(OwnedSemaphorePermit { sem: self, permits: 1 })
    }

    /// [`try_acquire_many`](Self::try_acquire_many) on an `Arc`.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_many_owned(self: Arc<Self>, n: u32) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_n(n as usize)?;
        Ok(OwnedSemaphorePermit { sem: self, permits: n })
    }

    /// Removes up to `n` free permits (not those of queued waiters); returns how many.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut st = lock(&self.state);
        let k = st.permits.min(n);
        st.permits -= k;
        k
    }
}

/// The future of an acquire of `need` permits.
pub(crate) struct Acquire<'a> {
    sem: &'a Semaphore,
    need: usize,
    key: Option<usize>,
    done: bool,
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "dtact::sync: acquire polled after completion");
        let mut st = lock(&this.sem.state);
        let r = match this.key {
            None => {
                if st.closed {
                    Err(AcquireError(()))
                } else if st.waiters.is_empty() && st.permits >= this.need {
                    st.permits -= this.need;
                    Ok(())
                } else {
                    assert!(this.need <= Semaphore::MAX_PERMITS, "dtact::sync: acquire of more than MAX_PERMITS permits");
                    this.key = Some(st.waiters.push(SemWaiter { need: this.need, outcome: Outcome::Waiting }, cx.waker()));
                    return Poll::Pending;
                }
            }
            Some(k) => match st.waiters.get_mut(k).data.outcome {
                Outcome::Waiting => {
                    st.waiters.update_waker(k, cx);
                    return Poll::Pending;
                }
                Outcome::Granted => {
                    st.waiters.remove(k);
                    this.key = None;
                    Ok(())
                }
                Outcome::Closed => {
                    st.waiters.remove(k);
                    this.key = None;
                    Err(AcquireError(()))
                }
            },
        };
        this.done = true;
        Poll::Ready(r)
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let k = match self.key.take() {
            Some(k) => k,
            None => return,
        };
        let mut wake = WakeList::new();
        {
            let mut st = lock(&self.sem.state);
            let e = st.waiters.remove(k);
            if e.data.outcome == Outcome::Granted {
                // Granted but never taken: the permits go on to the next waiters.
                st.permits += e.data.need;
            }
            // Our leaving may let the next waiters (with smaller needs) through.
            st.grant(&mut wake);
        }
        wake.wake();
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("need", &self.need).field("queued", &self.key.is_some()).finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; released when dropped.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: u32,
}

impl<'a> SemaphorePermit<'a> {
    /// Keeps the permits out of the semaphore for good (they are not released on drop).
    pub fn forget(mut self) {
        self.permits = 0;
    }
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
    /// Merges `other`'s permits into this one (both from the same semaphore).
    ///
    /// # Panics
    /// If they belong to different semaphores.
    pub fn merge(&mut self, mut other: Self) {
        assert!(std::ptr::eq(self.sem, other.sem), "merging permits of different semaphores");
        self.permits += other.permits;
        other.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits as usize);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish()
    }
}

/// Permits of an `Arc<Semaphore>`; released when dropped.
#[must_use = "the permit is released at once if not kept"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: u32,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
    /// Merges `other`'s permits into this one.
    ///
    /// # Panics
    /// If they belong to different semaphores.
    pub fn merge(&mut self, mut other: Self) {
        assert!(Arc::ptr_eq(&self.sem, &other.sem), "merging permits of different semaphores");
        self.permits += other.permits;
        other.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.permits as usize);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish()
    }
}
