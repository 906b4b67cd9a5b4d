//! The fiber side of a task: the task state (a [`Resident`] in the join cell, or a [`TaskState`]
//! placed on the fiber's stack or boxed), the trampolines the C runtime calls with it, and
//! [`run_and_drop`], which drives the future in place and drops it in place, before the
//! trampoline completes the join cell.
//!
//! Every task state is used by exactly two calls from the C runtime: the trampoline (at most
//! once, when the fiber first runs) and the cleanup (exactly once, last: after the trampoline
//! returned, or instead of it when the fiber is cancelled before it ran, e.g. at shutdown).
use std::cell::Cell;
use std::ffi::c_void;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::join_cell::{CellPtr, JoinCell};
use super::join_error::JoinError;
use crate::fiber::{drive_on_fiber_as, Driven};

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

/// Drives the future in place until it completes (unless the task was cancelled before it
/// started, or is stopped: abort or shutdown at a suspension), then drops it in place; returns
/// the task's result. `initial_state`: the cell's [`CellPtr::initial_state`].
///
/// # Safety
/// `fut` is initialised, was never moved since it was placed where it is (it is pinned there
/// until dropped here), and is not used again after the call.
unsafe fn run_and_drop<F: Future>(
    fut: &mut ManuallyDrop<F>,
    cell: &CellPtr<F::Output>,
    initial_state: usize,
    name: Option<&'static str>,
) -> Result<F::Output, JoinError> {
    let result = if cell.is_cancelled_at_start(initial_state) {
        None
    } else {
        // SAFETY: the future lives in place (on the fiber's stack, in its Box or in its resident
        // cell, none of which moves) until it is dropped below, so it may be pinned.
        let pinned = unsafe { Pin::new_unchecked(&mut **fut) };
        let stop = || cell.is_cancelled();
        // The fiber's handle, which the spawn wrote into the cell before the fiber could run
        // (dtact_spawn writes `*out` before it schedules the fiber): no dtact_self call.
        let me = cell.fiber();
        match catch_unwind(AssertUnwindSafe(|| drive_on_fiber_as(pinned, &stop, me))) {
            Ok(Driven::Done(v)) => Some(Ok(v)),
            Ok(Driven::Shutdown) | Ok(Driven::Stopped) => None,
            Err(p) => Some(Err(JoinError::panicked(p, name))),
        }
    };
    // Drop the future in place (its destructor may panic: a panic there becomes the result).
    // SAFETY: the future is initialised and, by the caller's contract, dropped once, here.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(fut) }));
    match (result, dropped) {
        (Some(r), Ok(())) => r,
        (_, Err(p)) => Err(JoinError::panicked(p, name)),
        (None, Ok(())) => Err(JoinError::cancelled(name)),
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
    // A plain copy of the pointer (not a borrow of `st`, whose future is borrowed mutably).
    let cell = st.cell.copy();
    // SAFETY: the future is initialised and unmoved (caller's contract), and `done`, set right
    // after, keeps the cleanup from using it again.
    let r = unsafe { run_and_drop(&mut st.fut, &cell, CellPtr::<F::Output>::initial_state::<()>(), st.name) };
    st.done = true;
    cell.complete(r);
}

/// The task state of a resident cell ([`CellPtr::new_resident`]): the future, pinned in the cell
/// until the task drops it. The cell holds it in the slot where the result goes, written once
/// the future is gone. Only unnamed tasks are resident (a name, 16 bytes, would grow every cell
/// for a rarely used feature).
pub(super) struct Resident<F> {
    pub(super) fut: ManuallyDrop<F>,
}

thread_local! {
    /// The resident cell whose trampoline just returned on this thread: its cleanup, which the C
    /// runtime calls next on the same fiber (before anything else runs on this thread), finds it
    /// here and knows the task ran, without touching the cell (the task let go of it already).
    static RAN: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// Notes that the trampoline of cell `p` returns (`#[inline(never)]`, as every thread-local
/// accessor of this crate: the fiber may have moved to another thread since the task started).
#[inline(never)]
fn set_ran(p: *mut c_void) {
    RAN.with(|r| r.set(p));
}

/// Takes the note of [`set_ran`].
#[inline(never)]
fn take_ran() -> *mut c_void {
    RAN.with(|r| r.replace(std::ptr::null_mut()))
}

/// The fiber function of a resident spawn (`dtact_spawn` with the cell as its argument).
///
/// # Safety
/// `p` is a resident cell made by `CellPtr::<F::Output>::new_resident(Resident<F>)`, whose task
/// reference is the fiber's; called once, on its fiber.
pub(super) unsafe extern "C" fn resident_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the cell (non-null), alive while the task holds its reference, which it
    // gives up in `complete` below, its last use.
    let cell = CellPtr::<F::Output>(unsafe { NonNull::new_unchecked(p as *mut JoinCell<F::Output>) });
    let task = cell.resident_task::<Resident<F>>();
    // SAFETY: the slot holds the Resident<F> written by new_resident, unmoved and unused since
    // (this runs once and the cleanup skips it); the future is dropped by run_and_drop and the
    // name copied out before `complete` overwrites the slot with the result.
    let r = unsafe {
        run_and_drop(&mut (*task).fut, &cell, CellPtr::<F::Output>::initial_state::<Resident<F>>(), None)
    };
    cell.complete(r);
    // Last, right before returning: `complete` may run user code (a waker, the output's drop)
    // that suspends this fiber, during which this thread may run other cleanups (which take the
    // note); from here to the cleanup nothing else runs on this thread. The cell may be gone by
    // now: only its address is kept.
    set_ran(p);
    std::ptr::null_mut()
}

/// The cleanup of a resident spawn: nothing if the trampoline ran (it just returned on this
/// thread); else (the fiber was cancelled before it ran) drops the future and completes the cell
/// as cancelled.
///
/// # Safety
/// `p` is the same cell as for [`resident_tramp`]; called once, after it or instead of it.
pub(super) unsafe extern "C" fn resident_cleanup<F: Future>(p: *mut c_void) {
    if take_ran() == p {
        return;
    }
    // SAFETY: the trampoline never ran (it would have left `p` in RAN: the C runtime calls the
    // cleanup right after it returns, on the same thread), so the task still holds its
    // reference and the slot still holds the untouched Resident<F>; it is used once, here.
    unsafe {
        let cell = CellPtr::<F::Output>(NonNull::new_unchecked(p as *mut JoinCell<F::Output>));
        let task = cell.resident_task::<Resident<F>>();
        let _ = catch_unwind(AssertUnwindSafe(|| ManuallyDrop::drop(&mut (*task).fut)));
        cell.complete(Err(JoinError::cancelled(None)));
    }
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
