//! A watch channel: one value that a [`Sender`] updates and any number of [`Receiver`]s read,
//! each learning when it changed since it last looked (tokio's API).
//!
//! ```
//! use dtact::sync::watch;
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let (tx, mut rx) = watch::channel("hello");
//! let h = dtact::spawn(async move {
//!     rx.changed().await.unwrap();
//!     *rx.borrow_and_update()
//! });
//! tx.send("world").unwrap();
//! assert_eq!(h.join().unwrap(), "world");
//! ```
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::notify::Notify;

/// The channel's errors.
pub mod error {
    use std::fmt;

    /// No receiver exists; the value comes back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);
    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }
    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl<T> std::error::Error for SendError<T> {}

    /// The sender is gone.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());
    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

struct Shared<T> {
    value: RwLock<T>,
    /// Bumped (under the value's write lock) by every change; the low bit is "sender gone".
    version: AtomicU64,
    receivers: AtomicUsize,
    /// Receivers waiting for a change (notify_waiters on each change and on close).
    changed: Notify,
    /// Senders waiting for the last receiver to go.
    closed: Notify,
}

const CLOSED: u64 = 1;
const STEP: u64 = 2;

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A watch channel holding `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicU64::new(0),
        receivers: AtomicUsize::new(1),
        changed: Notify::new(),
        closed: Notify::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, seen: 0 })
}

/// A read borrow of the value (holds a read lock: keep it short, and never across `.await`).
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value had changed since the receiver last marked it seen (when borrowed).
    pub fn has_changed(&self) -> bool {
        self.changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The sending half (one; it is not `Clone`, as in tokio).
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("value", &*self.shared.read()).finish()
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // order: SeqCst with the receivers' loads (see Receiver::changed).
        self.shared.version.fetch_or(CLOSED, Ordering::SeqCst);
        self.shared.changed.notify_waiters();
    }
}

impl<T> Sender<T> {
    /// Replaces the value and notifies the receivers.
    ///
    /// # Errors
    /// [`SendError`] with the value if no receiver exists (the value is not stored).
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        // order: SeqCst, a plain count.
        if self.shared.receivers.load(Ordering::SeqCst) == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Modifies the value in place and notifies the receivers (even if none exists).
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Modifies the value in place; notifies the receivers only if `modify` returns true.
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        let changed = {
            let mut g = self.shared.value.write().unwrap_or_else(|e| e.into_inner());
            let changed = modify(&mut g);
            if changed {
                // order: SeqCst, under the write lock, with the receivers' loads.
                self.shared.version.fetch_add(STEP, Ordering::SeqCst);
            }
            changed
        };
        if changed {
            self.shared.changed.notify_waiters();
        }
        changed
    }

    /// Replaces the value (even if no receiver exists), notifies, returns the old one.
    pub fn send_replace(&self, value: T) -> T {
        let mut value = Some(value);
        let mut old = None;
        self.send_modify(|v| old = Some(std::mem::replace(v, value.take().expect("once"))));
        old.expect("replaced")
    }

    /// Borrows the current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { guard: self.shared.read(), changed: false }
    }

    /// A new receiver; the current value counts as seen.
    pub fn subscribe(&self) -> Receiver<T> {
        // order: SeqCst, a plain count.
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        let g = self.shared.read();
        // order: SeqCst; read under the read lock, so it matches the value.
        let seen = self.shared.version.load(Ordering::SeqCst) & !CLOSED;
        drop(g);
        Receiver { shared: self.shared.clone(), seen }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        // order: SeqCst, a plain count.
        self.shared.receivers.load(Ordering::SeqCst)
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Completes when every receiver is gone.
    pub async fn closed(&self) {
        loop {
            let n = self.shared.closed.notified();
            if self.is_closed() {
                return;
            }
            n.await;
        }
    }
}

/// A receiving half; clone it for more receivers (the clone has seen what this one has).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version last marked seen.
    seen: u64,
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("value", &*self.shared.read()).finish()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // order: SeqCst, a plain count.
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver { shared: self.shared.clone(), seen: self.seen }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // order: SeqCst, a plain count; the Notified of `closed` is created before its check.
        if self.shared.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.closed.notify_waiters();
        }
    }
}

impl<T> Receiver<T> {
    fn version(&self) -> u64 {
        // order: SeqCst, pairs with the sender's bump and notify_waiters (see `changed`).
        self.shared.version.load(Ordering::SeqCst)
    }

    /// Borrows the current value without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let changed = self.version() & !CLOSED != self.seen;
        Ref { guard, changed }
    }

    /// Borrows the current value and marks it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let v = self.version() & !CLOSED;
        let changed = v != self.seen;
        self.seen = v;
        Ref { guard, changed }
    }

    /// Whether the value changed since it was last marked seen.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let v = self.version();
        if v & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(v != self.seen)
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.version() & !CLOSED;
    }

    /// Marks the current value unseen (the next `changed` completes at once).
    pub fn mark_changed(&mut self) {
        self.seen = self.seen.wrapping_sub(STEP);
    }

    /// Waits (suspended) for a value not yet marked seen, and marks it seen. Cancel-safe.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone (and the value did not change meanwhile).
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            // Created before the check: a change after the check notifies it.
            let n = self.shared.changed.notified();
            let v = self.version();
            if v & !CLOSED != self.seen {
                self.seen = v & !CLOSED;
                return Ok(());
            }
            if v & CLOSED != 0 {
                return Err(RecvError(()));
            }
            n.await;
        }
    }

    /// Whether both receivers watch the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
