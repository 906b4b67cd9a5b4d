//! Synchronisation for tasks, with tokio's names and semantics: [`Mutex`], [`RwLock`],
//! [`Semaphore`], [`Notify`], [`Barrier`], [`OnceCell`] and the channels [`mpsc`], [`oneshot`],
//! [`broadcast`], [`watch`].
//!
//! Every waiting operation is a future that suspends only its task: the task's fiber parks and
//! its worker runs other fibers. Each primitive keeps its waiters in a FIFO list behind a short
//! `std::sync::Mutex` critical section (no busy waiting). Mutex, RwLock and Semaphore are
//! FIFO-fair (a semaphore-based design, as in tokio: a mutex is one permit, a reader takes one of
//! `u32::MAX >> 3` permits and a writer all of them).
//!
//! Cancellation: dropping a waiting future removes its waiter, and anything it had just been
//! granted (a permit, a lock, a `notify_one`) passes to the next waiter. So
//! [`JoinHandle::abort`](crate::JoinHandle::abort) of a task blocked in `lock().await`,
//! `recv().await`, `acquire().await`... takes effect at once (the task's future is dropped at that
//! suspension point) and leaks nothing; runtime shutdown likewise.
//!
//! Synchronous code (plain threads, or synchronous code on a fiber) uses the blocking forms:
//! [`Mutex::blocking_lock`], [`RwLock::blocking_read`] / [`RwLock::blocking_write`],
//! [`mpsc::Sender::blocking_send`], [`mpsc::Receiver::blocking_recv`],
//! [`oneshot::Receiver::blocking_recv`], or [`crate::wait`] on any of the futures (for example
//! `dtact::wait(sem.acquire())`). On a fiber these suspend only the fiber (unlike tokio's, they
//! do not panic inside a task; but they hold up the task's whole `poll`, so prefer `.await` in
//! async code: in particular an abort of a task waiting in a blocking form takes effect only
//! when that call returns, at the task's next `.await` that suspends); on a plain thread they
//! park the thread.
pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod watch;

mod barrier;
mod mutex;
mod notify;
mod once_cell;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError};
