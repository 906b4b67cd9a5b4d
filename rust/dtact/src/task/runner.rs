//! The fiber side of a task: the [`TaskState`] placed on the fiber's stack (or boxed), the
//! trampolines the C runtime calls with it, and [`run_task`], which drives the future in place,
//! drops it in place and completes the join cell.
//!
//! Every task state is used by exactly two calls from the C runtime: the trampoline (at most
//! once, when the fiber first runs) and the cleanup (exactly once, last: after the trampoline
//! returned, or instead of it when the fiber is cancelled before it ran, e.g. at shutdown).
use std::ffi::c_void;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::join_cell::CellPtr;
use super::join_error::JoinError;
use crate::fiber::{drive_on_fiber, Driven};

/// A `!Send` future built on its fiber (spawn_pinned): `Make` holds the closure until the first
/// poll, which builds the future in place and switches to `Run`.
pub(super) enum Pinned<M, F> {
    Make(Option<M>),
    Run(F),
}

impl<M: FnOnce() -> F, F: Future> Future for Pinned<M, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: nothing here moves out of the pinned value: `Make` holds no pinned data (the
        // closure is taken out of its Option, which is allowed as `M` is never pinned), and the
        // `Run` future is built in place and from then on only reached through a pinned
        // reference (below), so it never moves once built.
        let this = unsafe { self.get_unchecked_mut() };
        if let Pinned::Make(m) = this {
            let f = (m.take().expect("Pinned polled after panic"))();
            *this = Pinned::Run(f);
        }
        match this {
            // SAFETY: structural pinning of `Run`: `f` lives inside the pinned `Pinned` and is
            // never moved out or replaced until it is dropped in place with it.
            Pinned::Run(f) => unsafe { Pin::new_unchecked(f) }.poll(cx),
            Pinned::Make(_) => unreachable!(),
        }
    }
}

/// The task state placed on the fiber's stack (or boxed): the future, the task's pointer to
/// the join cell and the task's name (`SpawnBuilder::name`, for its `JoinError`). `done` says
/// [`run_task`] already dropped the future and completed the cell.
#[repr(C)]
pub(super) struct TaskState<F: Future> {
    pub(super) fut: ManuallyDrop<F>,
    pub(super) cell: CellPtr<F::Output>,
    pub(super) done: bool,
    pub(super) name: Option<&'static str>,
}

impl<F: Future> TaskState<F> {
    /// Undoes a failed spawn: frees the cell (`cell` is the handle's copy of the same pointer)
    /// and gives the future back, to be dropped by the caller.
    pub(super) fn into_future(mut self, cell: CellPtr<F::Output>) -> F {
        debug_assert_eq!(self.cell.0, cell.0);
        // SAFETY: the spawn failed: no fiber and no JoinHandle ever saw the cell, so we own it
        // alone (both copies are here), and no result was stored in it.
        unsafe { cell.free(false) };
        // SAFETY: the future is initialised (the spawn failed, so nothing ran or dropped it) and
        // taken once; `self`, whose other fields need no drop, is then discarded.
        unsafe { ManuallyDrop::take(&mut self.fut) }
    }
}

/// Runs on the fiber: drives the future in place, drops it in place, completes the cell.
///
/// # Safety
/// `st` points to a live TaskState whose future was neither dropped nor moved since the spawn,
/// not otherwise accessed during the call; called at most once per TaskState, on its fiber.
unsafe fn run_task<F: Future>(st: *mut TaskState<F>) {
    // SAFETY: by the caller's contract `st` is live and not aliased for the call.
    let st = unsafe { &mut *st };
    let result = if st.cell.is_cancelled() {
        None
    } else {
        // A plain copy of the pointer (not a borrow of `st`, whose future is borrowed below).
        let cell = st.cell.copy();
        // SAFETY: the future lives in place in the TaskState (which never moves: it is on the
        // fiber's stack or in its Box) until it is dropped below, so it may be pinned.
        let fut = unsafe { Pin::new_unchecked(&mut *st.fut) };
        let stop = || cell.is_cancelled();
        match catch_unwind(AssertUnwindSafe(|| drive_on_fiber(fut, &stop))) {
            Ok(Driven::Done(v)) => Some(Ok(v)),
            Ok(Driven::Shutdown) | Ok(Driven::Stopped) => None,
            Err(p) => Some(Err(JoinError::panicked(p, st.name))),
        }
    };
    // Drop the future in place (its destructor may panic: a panic there becomes the result).
    // SAFETY: the future is initialised (not dropped yet: `done` is still false) and dropped
    // once; `done` keeps the cleanup from dropping it again.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut st.fut) }));
    st.done = true;
    let r = match (result, dropped) {
        (Some(r), Ok(())) => r,
        (_, Err(p)) => Err(JoinError::panicked(p, st.name)),
        (None, Ok(())) => Err(JoinError::cancelled(st.name)),
    };
    st.cell.copy().complete(r);
}

/// Cleanup: runs exactly once per fiber, after run_task or instead of it (cancelled at shutdown).
///
/// # Safety
/// `st` points to a live TaskState, not otherwise accessed during the call, whose future was
/// neither moved nor dropped except by [`run_task`]; called once, after any run_task call.
unsafe fn cleanup_task<F: Future>(st: *mut TaskState<F>) {
    // SAFETY: by the caller's contract `st` is live and not aliased for the call.
    let st = unsafe { &mut *st };
    if !st.done {
        // SAFETY: run_task never ran (`done` is false), so the future is still there; dropped
        // once, as `done` is set right after.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut st.fut) }));
        st.done = true;
        st.cell.copy().complete(Err(JoinError::cancelled(st.name)));
    }
}

/// The fiber function of an inline spawn (`dtact_spawn_inline`).
///
/// # Safety
/// `p` is the fiber's copy of a `TaskState<F>` made by `dtact_spawn_inline`; called once.
pub(super) unsafe extern "C" fn inline_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the fiber's copy of the TaskState (placed there by dtact_spawn_inline, live
    // until the fiber is recycled after its cleanup) and the C runtime runs the fiber once.
    unsafe { run_task::<F>(p as *mut TaskState<F>) };
    std::ptr::null_mut()
}

/// The cleanup of an inline spawn.
///
/// # Safety
/// `p` is the same copy as for [`inline_tramp`]; called once, after it or instead of it.
pub(super) unsafe extern "C" fn inline_cleanup<F: Future>(p: *mut c_void) {
    // SAFETY: the same copy, still live; the C runtime calls the cleanup exactly once, after the
    // fiber function returned or instead of it.
    unsafe { cleanup_task::<F>(p as *mut TaskState<F>) };
}

/// The fiber function of a heap spawn (`dtact_spawn`).
///
/// # Safety
/// `p` is the `Box<TaskState<F>>` made by spawn_raw (as a raw pointer); called once.
pub(super) unsafe extern "C" fn heap_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the Box made by spawn_raw, freed only by heap_cleanup (which runs after
    // this returns); the C runtime runs the fiber once.
    unsafe { run_task::<F>(p as *mut TaskState<F>) };
    std::ptr::null_mut()
}

/// The cleanup of a heap spawn: completes the cell if the task never ran, then frees the Box.
///
/// # Safety
/// `p` is the same Box as for [`heap_tramp`]; called once, after it or instead of it.
pub(super) unsafe extern "C" fn heap_cleanup<F: Future>(p: *mut c_void) {
    // SAFETY: the same Box, still live; the cleanup runs exactly once and last (after the fiber
    // function, if it ran), so cleanup_task sees it unaliased and the Box is freed once, after
    // its last use.
    unsafe {
        cleanup_task::<F>(p as *mut TaskState<F>);
        drop(Box::from_raw(p as *mut TaskState<F>));
    }
}
