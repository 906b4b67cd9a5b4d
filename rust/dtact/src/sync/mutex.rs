//! [`Mutex`]: an async mutex for tasks (a [`Semaphore`] of one permit, FIFO-fair, as tokio's),
//! with a blocking form for synchronous code on a fiber or a thread.
use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::{Semaphore, TryAcquireError};

/// A mutual-exclusion lock whose `lock().await` suspends the task (not the worker) while another
/// holds it. Lock order is FIFO. The guard may be held across `.await`s.
///
/// [`blocking_lock`](Mutex::blocking_lock) is for synchronous code: on a fiber it suspends only
/// the fiber (unlike tokio's, it does not panic inside a task, but it blocks the task's whole
/// poll, so prefer `.await` in async code); on a plain thread it parks the thread.
///
/// ```
/// use std::sync::Arc;
/// use dtact::sync::Mutex;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let m = Arc::new(Mutex::new(0u64));
/// let hs: Vec<_> = (0..4).map(|_| {
///     let m = m.clone();
///     dtact::spawn(async move {
///         for _ in 0..100 {
///             *m.lock().await += 1;
///             dtact::yield_now().await;
///         }
///     })
/// }).collect();
/// for h in hs { h.join().unwrap(); }
/// assert_eq!(*m.blocking_lock(), 400);
/// # drop(rt);
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` to one guard at a time (the semaphore has one
// permit), so sharing the mutex moves `T` between threads but never shares it: `T: Send`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: owning the mutex owns the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// The lock was held ([`Mutex::try_lock`], [`RwLock::try_read`](super::RwLock::try_read), ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(pub(super) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}
impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex { sem: Semaphore::new(1), data: UnsafeCell::new(value) }
    }
    /// The value (no lock needed: the mutex is consumed).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock (FIFO) and returns its guard. Cancel-safe: dropping the future gives
    /// up the place in the queue.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The semaphore is never closed.
        self.sem.acquire_n(1).await.expect("dtact::sync::Mutex: semaphore closed");
        MutexGuard { lock: self }
    }

    /// [`lock`](Self::lock) for synchronous code: suspends the calling fiber (only the fiber) or
    /// parks the calling thread until the lock is held ([`crate::wait`]).
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        crate::wait(self.lock())
    }

    /// The lock, if it is free now.
    ///
    /// # Errors
    /// [`TryLockError`] if it is held (or others are queued for it).
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_n(1) {
            Ok(()) => Ok(MutexGuard { lock: self }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// [`lock`](Self::lock) on an `Arc`: the guard owns a reference to the mutex (`'static`).
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        self.sem.acquire_n(1).await.expect("dtact::sync::Mutex: semaphore closed");
        OwnedMutexGuard { lock: self }
    }

    /// [`lock_owned`](Self::lock_owned) for synchronous code (as [`blocking_lock`](Self::blocking_lock)).
    ///
    /// # Panics
    /// As [`blocking_lock`](Self::blocking_lock).
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        crate::wait(self.lock_owned())
    }

    /// [`try_lock`](Self::try_lock) on an `Arc`.
    ///
    /// # Errors
    /// [`TryLockError`] if it is held.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.sem.try_acquire_n(1) {
            Ok(()) => Ok(OwnedMutexGuard { lock: self }),
            Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => Err(TryLockError(())),
        }
    }

    /// The value, through `&mut` (no lock needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(v: T) -> Self {
        Mutex::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The guard of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

// SAFETY: the guard gives `&T` (and `&mut T`) through `&MutexGuard`: sharing it shares `T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other access to `data` exists.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex's only permit and is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}
impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The guard of a [`Mutex`] locked through an `Arc` ([`Mutex::lock_owned`]).
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Arc<Mutex<T>>,
}

// SAFETY: as MutexGuard.
unsafe impl<T: ?Sized + Sync> Sync for OwnedMutexGuard<T> {}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex's only permit and is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}
impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
