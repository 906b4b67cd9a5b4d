//! [`OnceCell`]: a cell initialised once, by the first task to get there (tokio's semantics).
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use super::semaphore::{Semaphore, TryAcquireError};

/// A thread-safe cell written once. [`get_or_init`](OnceCell::get_or_init) runs the
/// initialiser in one task at a time: concurrent callers wait (suspended) for it; if the
/// initialising future is dropped (or the try-initialiser fails), the next waiter runs its own.
///
/// ```
/// use dtact::sync::OnceCell;
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let cell = OnceCell::new();
/// let v = rt.block_on(async { *cell.get_or_init(|| async { 42 }).await });
/// assert_eq!(v, 42);
/// assert_eq!(cell.set(1), Err(dtact::sync::SetError::AlreadyInitializedError(1)));
/// ```
pub struct OnceCell<T> {
    value_set: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
    /// One permit: held by the initialiser; closed once the value is set.
    sem: Semaphore,
}

// SAFETY: the value is written once, by the holder of the semaphore's permit, before
// `value_set` is released; afterwards it is only read (`&T` shared: `T: Sync`; it may have been
// written on another thread: `T: Send`).
unsafe impl<T: Sync + Send> Sync for OnceCell<T> {}
// SAFETY: owning the cell owns the `T`.
unsafe impl<T: Send> Send for OnceCell<T> {}

/// Why [`OnceCell::set`] failed; holds the value back.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// Another task is initialising the cell right now.
    InitializingError(T),
}

impl<T> SetError<T> {
    /// Whether the cell was already initialised.
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitializedError(_))
    }
    /// Whether the cell was being initialised.
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::InitializingError(_))
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => f.write_str("AlreadyInitializedError"),
            SetError::InitializingError(_) => f.write_str("InitializingError"),
        }
    }
}
impl<T: fmt::Debug> std::error::Error for SetError<T> {}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell").field("value", &self.get()).finish()
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(v: T) -> Self {
        OnceCell::new_with(Some(v))
    }
}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> Self {
        OnceCell { value_set: AtomicBool::new(false), value: UnsafeCell::new(MaybeUninit::uninit()), sem: Semaphore::new(1) }
    }

    /// A cell holding `value` if it is `Some`.
    pub fn new_with(value: Option<T>) -> Self {
        let c = OnceCell::new();
        if let Some(v) = value {
            // SAFETY: the cell is new and not shared: nobody else can access the value.
            unsafe { c.store(v) };
        }
        c
    }

    /// Whether the value is set.
    pub fn initialized(&self) -> bool {
        // order: acquire pairs with the release in `store`: the value is visible.
        self.value_set.load(Ordering::Acquire)
    }

    /// Writes the value and publishes it, then lets every waiting initialiser go.
    ///
    /// # Safety
    /// The caller holds the semaphore's permit (or has the cell to itself) and the value is not
    /// set.
    unsafe fn store(&self, v: T) {
        // SAFETY: by the caller's contract nobody else reads or writes the slot now.
        unsafe { (*self.value.get()).as_mut_ptr().write(v) };
        // order: release publishes the write above to `initialized`'s acquire.
        self.value_set.store(true, Ordering::Release);
        self.sem.close();
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        if self.initialized() {
            // SAFETY: set (seen with acquire ordering) and never written again.
            Some(unsafe { &*(*self.value.get()).as_ptr() })
        } else {
            None
        }
    }

    /// The value through `&mut`, if set.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.value_set.get_mut() {
            // SAFETY: set, and `&mut self` excludes every other access.
            Some(unsafe { &mut *(*self.value.get()).as_mut_ptr() })
        } else {
            None
        }
    }

    /// Sets the value if the cell is empty and nobody is initialising it.
    ///
    /// # Errors
    /// [`SetError`] with the value.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        match self.sem.try_acquire_n(1) {
            Ok(()) => {
                if self.initialized() {
                    self.sem.release(1);
                    return Err(SetError::AlreadyInitializedError(value));
                }
                // SAFETY: we hold the permit and the value is not set.
                unsafe { self.store(value) };
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(SetError::InitializingError(value)),
            Err(TryAcquireError::Closed) => Err(SetError::AlreadyInitializedError(value)),
        }
    }

    /// The value, initialising it with `f().await` if it is empty (one initialiser at a time;
    /// the others wait for its result).
    pub async fn get_or_init<F, Fut>(&self, f: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(v) = self.get() {
            return v;
        }
        match self.sem.acquire_n(1).await {
            Ok(()) => {
                let permit = Permit(&self.sem);
                if let Some(v) = self.get() {
                    return v;
                }
                let v = f().await;
                std::mem::forget(permit); // the semaphore is closed by store
                // SAFETY: we hold the permit and the value is not set.
                unsafe { self.store(v) };
                self.get().expect("set above")
            }
            // Closed: the value is set.
            Err(_) => self.get().expect("dtact::sync::OnceCell: closed but unset"),
        }
    }

    /// The value, initialising it with `f().await` if it is empty; an `Err` leaves the cell
    /// empty for the next caller.
    ///
    /// # Errors
    /// The initialiser's error.
    pub async fn get_or_try_init<E, F, Fut>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        match self.sem.acquire_n(1).await {
            Ok(()) => {
                let permit = Permit(&self.sem);
                if let Some(v) = self.get() {
                    return Ok(v);
                }
                let v = f().await?; // an error drops the permit: the next waiter tries
                std::mem::forget(permit);
                // SAFETY: we hold the permit and the value is not set.
                unsafe { self.store(v) };
                Ok(self.get().expect("set above"))
            }
            Err(_) => Ok(self.get().expect("dtact::sync::OnceCell: closed but unset")),
        }
    }

    /// The value, if set (the cell is consumed).
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if std::mem::replace(self.value_set.get_mut(), false) {
            // SAFETY: it was set; the flag is now clear, so it is read out once.
            let v = unsafe { (*self.value.get()).as_ptr().read() };
            // A fresh semaphore: the old one is closed.
            self.sem = Semaphore::new(1);
            Some(v)
        } else {
            None
        }
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if *self.value_set.get_mut() {
            // SAFETY: set and dropped once (the cell is going away).
            unsafe { (*self.value.get()).as_mut_ptr().drop_in_place() };
        }
    }
}

/// Releases the init permit if the initialiser is dropped or fails.
struct Permit<'a>(&'a Semaphore);
impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.release(1);
    }
}
