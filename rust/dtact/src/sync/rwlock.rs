//! [`RwLock`]: an async reader-writer lock (a [`Semaphore`] of `MAX_READS` permits: a reader
//! takes one, a writer all of them; FIFO-fair, so a queued writer holds back later readers and
//! writers cannot starve, as in tokio).
use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::mutex::TryLockError;
use super::semaphore::Semaphore;

/// The most concurrent readers (tokio's limit).
const MAX_READS: u32 = u32::MAX >> 3;

/// A reader-writer lock for tasks: many readers or one writer; `read().await` and
/// `write().await` suspend the task while they cannot proceed. FIFO: a writer waits for the
/// readers before it, and readers that come after a queued writer wait for it.
/// [`blocking_read`](RwLock::blocking_read) / [`blocking_write`](RwLock::blocking_write) are for
/// synchronous code (they suspend only the fiber on a fiber, park a plain thread otherwise).
///
/// ```
/// use dtact::sync::RwLock;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let l = RwLock::new(5);
/// rt.block_on(async {
///     {
///         let r1 = l.read().await;
///         let r2 = l.read().await;
///         assert_eq!(*r1 + *r2, 10);
///         assert!(l.try_write().is_err());
///     }
///     *l.write().await += 1;
/// });
/// assert_eq!(*l.blocking_read(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    max_readers: u32,
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (`T: Sync`), a writer gets `&mut T` possibly on
// another thread (`T: Send`); the semaphore keeps readers and the writer apart.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: owning the lock owns the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        Self::with_max_readers(value, MAX_READS)
    }
    /// An unlocked lock allowing at most `max_reads` readers at once.
    ///
    /// # Panics
    /// If `max_reads` is 0 or above `u32::MAX >> 3`.
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        assert!(max_reads > 0 && max_reads <= MAX_READS, "dtact::sync::RwLock: max_reads out of range");
        RwLock { max_readers: max_reads, sem: Semaphore::new(max_reads as usize), data: UnsafeCell::new(value) }
    }
    /// The value (the lock is consumed).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access (FIFO). Cancel-safe.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.sem.acquire_n(1).await.expect("dtact::sync::RwLock: semaphore closed");
        RwLockReadGuard { lock: self }
    }
    /// Waits for exclusive access (FIFO). Cancel-safe.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.sem.acquire_n(self.max_readers as usize).await.expect("dtact::sync::RwLock: semaphore closed");
        RwLockWriteGuard { lock: self }
    }
    /// [`read`](Self::read) for synchronous code: suspends the fiber, or parks the thread.
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        crate::wait(self.read())
    }
    /// [`write`](Self::write) for synchronous code: suspends the fiber, or parks the thread.
    ///
    /// # Panics
    /// On a fiber, if the runtime shuts down while waiting (as [`crate::wait`]).
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        crate::wait(self.write())
    }
    /// Shared access if available now.
    ///
    /// # Errors
    /// [`TryLockError`] if a writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_n(1) {
            Ok(()) => Ok(RwLockReadGuard { lock: self }),
            Err(_) => Err(TryLockError(())),
        }
    }
    /// Exclusive access if available now.
    ///
    /// # Errors
    /// [`TryLockError`] if the lock is held or waited for.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_n(self.max_readers as usize) {
            Ok(()) => Ok(RwLockWriteGuard { lock: self }),
            Err(_) => Err(TryLockError(())),
        }
    }
    /// The value, through `&mut` (no lock needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(v: T) -> Self {
        RwLock::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]; released when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}
impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]; released when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: sharing the write guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without letting a writer in between.
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        std::mem::forget(self);
        // Keep one permit (the read guard's), give the rest back.
        lock.sem.release(lock.max_readers as usize - 1);
        RwLockReadGuard { lock }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}
impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit and is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}
impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(self.lock.max_readers as usize);
    }
}
impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
