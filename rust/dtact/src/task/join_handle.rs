//! [`JoinHandle`]: the one-word owner of the handle's side of a task's join cell.
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use dtact_sys as sys;

use super::join_cell::{CellPtr, JoinCell};
use super::join_error::JoinError;
use crate::fiber::{self, dtact_handle_t};

/// An owned permission to join a task: a `Future<Output = Result<T, JoinError>>` to await from a
/// task, or [`join`](JoinHandle::join) to block a thread (or wait on a fiber). Dropping it
/// detaches the task. The join state lives in one small heap cell shared with the task (which
/// also holds a small future until it completes; a larger one is placed on the fiber's stack);
/// the handle frees it once it has the output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was cancelled.
/// Polling it again after it returned `Ready` panics.
pub struct JoinHandle<T> {
    /// One word, like the handle of other runtimes: while the handle holds the cell, its address
    /// (aligned, so the low bit is clear); once the output was returned, the fiber handle, shifted
    /// left by one with the low bit set (a valid handle always has bit 63 set, which is restored
    /// when decoding).
    raw: NonZeroU64,
    _cell: PhantomData<CellPtr<T>>,
}

// SAFETY: the handle only moves the task's output (T: Send) to its own thread and touches the
// shared cell through the state-word protocol of join_cell.rs, which is thread-safe.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through &JoinHandle only the atomic state word is read or modified (is_finished, abort)
// and the fiber handle, immutable once the handle exists, is read (fiber_handle).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("fiber", &self.fiber_handle()).field("finished", &self.is_finished()).finish()
    }
}

impl<T> JoinHandle<T> {
    /// The handle of a successful spawn, holding the handle's reference to `cell`.
    pub(super) fn from_cell(cell: CellPtr<T>) -> Self {
        let raw = NonZeroU64::new(cell.0.as_ptr() as usize as u64).expect("non-null cell");
        debug_assert_eq!(raw.get() & 1, 0);
        JoinHandle { raw, _cell: PhantomData }
    }
    /// The cell, while the handle holds it.
    fn cell(&self) -> Option<CellPtr<T>> {
        if self.raw.get() & 1 == 0 {
            // The address stored by from_cell; the cell is alive while the handle holds it.
            NonNull::new(self.raw.get() as usize as *mut JoinCell<T>).map(CellPtr)
        } else {
            None
        }
    }
    /// Whether the task has finished (its output, panic or cancellation is ready, so awaiting
    /// or joining the handle returns without waiting).
    pub fn is_finished(&self) -> bool {
        match self.cell() {
            Some(c) => c.is_complete(),
            None => true,
        }
    }
    /// The fiber's handle (for `dtact_await`, `yield_to`, ...). It stays valid to pass after the
    /// task finished: the runtime then recognises it as finished.
    pub fn fiber_handle(&self) -> dtact_handle_t {
        match self.cell() {
            Some(c) => dtact_handle_t(c.fiber()),
            None => dtact_handle_t((self.raw.get() >> 1) | (1 << 63)),
        }
    }
    /// Cancels the task: if it has not started, its future is dropped without being polled; if
    /// it is running, it is dropped the next time it is pending (at its next `.await` that
    /// suspends). Its joiner then gets a cancelled `JoinError`. No effect on a finished task.
    /// A task that never suspends again runs to completion.
    pub fn abort(&self) {
        let c = match self.cell() {
            Some(c) => c,
            None => return,
        };
        if c.cancel() {
            // SAFETY: dtact_unpark takes any handle value and validates it; a finished or
            // recycled fiber is ignored.
            unsafe { sys::dtact_unpark(self.fiber_handle().0) };
        }
    }
    /// Waits for the task: on a fiber only the fiber waits ([`crate::wait`]); on a thread it
    /// parks the thread.
    ///
    /// # Errors
    /// A [`JoinError`] if the task panicked or was cancelled.
    ///
    /// # Panics
    /// If called on a fiber and the runtime shuts down while the task is still pending (see
    /// [`crate::wait`]).
    pub fn join(self) -> Result<T, JoinError> {
        fiber::wait(self)
    }

    /// Moves the result out and lets go of the cell. The task has set COMPLETE (seen with
    /// acquire ordering by the caller).
    fn take_output(&mut self) -> Result<T, JoinError> {
        let c = self.cell().expect("JoinHandle: no cell");
        let fiber = self.fiber_handle().0;
        // From here on the handle no longer holds the cell.
        self.raw = NonZeroU64::new((fiber << 1) | 1).expect("odd");
        // SAFETY: we are the handle, our caller saw COMPLETE with acquire ordering, and the
        // handle gave up its pointer just above, so this runs once.
        unsafe { c.take_output() }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(c) = self.cell() {
            c.release_handle(false);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let c = match this.cell() {
            Some(c) => c,
            None => panic!("JoinHandle polled after completion"),
        };
        match c.poll_complete(cx) {
            Poll::Ready(()) => Poll::Ready(this.take_output()),
            Poll::Pending => Poll::Pending,
        }
    }
}
