//! The spawn functions: [`spawn`], [`try_spawn`], [`spawn_pinned`] (and their aliases from the
//! original Dtact, the earlier Rust implementation whose API this crate keeps), and
//! [`spawn_raw`], which places a future's task state on the new fiber's stack (or boxes it) and
//! hands it to the C runtime.
use std::ffi::c_void;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::sync::atomic::{AtomicU64, Ordering};

use dtact_sys as sys;

use super::builder::{IntoTask, SpawnBuilder};
use super::join_cell::CellPtr;
use super::join_handle::JoinHandle;
use super::runner::{
    heap_cleanup, heap_tramp, inline_cleanup, inline_tramp, resident_cleanup, resident_tramp, Resident, TaskState,
};
use crate::error::Error;

/// Spawns whose future did not fit on the fiber's stack (over `DTACT_INLINE_MAX` = 8192 bytes,
/// over a quarter of the stack, or aligned above 64) and were boxed on the heap instead.
pub static HEAP_ESCAPED_SPAWNS: AtomicU64 = AtomicU64::new(0);

/// Spawns a `Send + 'static` future (or a `#[task]` [`TaskFuture`](crate::TaskFuture), with its
/// settings) on a new fiber and returns its [`JoinHandle`]. A small future is placed in the
/// task's join cell (a block from the workers' cache), a larger one on the fiber's own stack when
/// it fits (no heap allocation for the future either way), else it is boxed (counted in
/// [`HEAP_ESCAPED_SPAWNS`]).
///
/// # Panics
/// If no runtime exists or the spawn fails (see [`try_spawn`]).
///
/// The future must be `Send`:
/// ```compile_fail
/// let rt = dtact::Runtime::builder().workers(1).build().unwrap();
/// rt.block_on(async {
///     let rc = std::rc::Rc::new(5);
///     dtact::spawn(async move { dtact::yield_now().await; *rc }).await.unwrap()
/// });
/// ```
pub fn spawn<T: IntoTask>(task: T) -> JoinHandle<<T::Fut as Future>::Output>
where
    T::Fut: Send + 'static,
    <T::Fut as Future>::Output: Send + 'static,
{
    try_spawn(task).unwrap_or_else(|e| panic!("dtact::spawn: {e}"))
}

/// As [`spawn`], returning the C error instead of panicking.
///
/// # Errors
/// [`Error::NotInitialized`] (no runtime), [`Error::Shutdown`] (the runtime is shutting down;
/// the future is dropped), [`Error::Exhausted`] (no fiber record became free within 60 s),
/// [`Error::InvalidArgument`] (a `#[task]` stack size outside the runtime's classes).
pub fn try_spawn<T: IntoTask>(task: T) -> Result<JoinHandle<<T::Fut as Future>::Output>, Error>
where
    T::Fut: Send + 'static,
    <T::Fut as Future>::Output: Send + 'static,
{
    let (fut, settings) = task.into_task();
    let attr = settings.attr(false)?;
    spawn_raw(FutSource::Ready(fut), &attr, settings.get_name())
}

/// Spawns a `!Send` future built by `make` on a pinned fiber (see [`SpawnBuilder::spawn_pinned`]).
///
/// # Panics
/// If no runtime exists or the spawn fails (as [`spawn`]).
///
/// ```no_run
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let v = rt.block_on(async {
///     dtact::spawn_pinned(|| async {
///         let rc = std::rc::Rc::new(5);
///         dtact::yield_now().await;
///         *rc
///     }).await.unwrap()
/// });
/// assert_eq!(v, 5);
/// ```
pub fn spawn_pinned<M, F>(make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    spawn_with().spawn_pinned(make)
}

/// The original Dtact's spelling of [`spawn_pinned`]; identical.
///
/// # Panics
/// As [`spawn_pinned`].
pub fn spawn_local<M, F>(make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    spawn_pinned(make)
}

/// `SpawnBuilder::<CrossThreadFloat>::new()`: the default spawn options, to be adjusted and
/// then used with [`SpawnBuilder::spawn`].
pub const fn spawn_with() -> SpawnBuilder {
    SpawnBuilder::new()
}

/// `spawn!(expr)`: spawns a future or a `#[task]` [`TaskFuture`](crate::TaskFuture) with its
/// settings (the same as [`spawn`](fn@crate::spawn), kept for the original Dtact's users).
///
/// # Panics
/// As [`spawn`](fn@crate::spawn).
#[macro_export]
macro_rules! spawn {
    ($e:expr) => {
        $crate::spawn($e)
    };
}

/// Where the future of a spawn comes from (one variant: already built).
pub(super) enum FutSource<F> {
    Ready(F),
}

/// Spawns the future of `src` with `attr` and the task name `name`: into its join cell when it
/// fits a pooled block (a resident cell, `dtact_spawn` with the cell as argument); else its
/// [`TaskState`] is copied onto the new fiber's stack (`dtact_spawn_inline`) when it fits, else
/// boxed (`dtact_spawn`).
/// On error the future is dropped here and the cell freed.
pub(super) fn spawn_raw<F: Future>(
    src: FutSource<F>,
    attr: &sys::dtact_spawn_attr_t,
    name: Option<&'static str>,
) -> Result<JoinHandle<F::Output>, Error> {
    let FutSource::Ready(fut) = src;
    let mut attr = *attr;
    // A small future of an unnamed task goes into its join cell (one pooled block for the future
    // and the join state: the fiber touches one block, not a block and a payload slot).
    let resident = if name.is_none() {
        CellPtr::<F::Output>::new_resident(Resident { fut: ManuallyDrop::new(fut) })
    } else {
        Err(Resident { fut: ManuallyDrop::new(fut) })
    };
    let fut = match resident {
        Ok(cell) => {
            attr.cleanup = Some(resident_cleanup::<F>);
            let out: *mut sys::dtact_handle_t = cell.fiber_slot();
            let arg = cell.0.as_ptr() as *mut c_void;
            // SAFETY: `out` points into the live cell (no JoinHandle exists yet, so nobody reads
            // it); `arg` is the resident cell holding a Resident<F>, as resident_tramp and
            // resident_cleanup expect. On success the fiber owns the future and the task's cell
            // reference (resident_tramp runs it, or resident_cleanup drops it, once); on failure
            // neither was called and we still own both.
            let rc = unsafe { sys::dtact_spawn(out, Some(resident_tramp::<F>), arg, &attr) };
            if rc == sys::DTACT_OK {
                return Ok(JoinHandle::from_cell(cell));
            }
            // SAFETY: the spawn failed: nothing ran or moved the Resident<F>, and no JoinHandle
            // or fiber ever saw the cell, so we own it alone: take the future out, free the cell
            // (no result in it), and drop the future.
            let fut = unsafe { ManuallyDrop::into_inner(std::ptr::read(cell.resident_task::<Resident<F>>()).fut) };
            // SAFETY: as just said, the cell is ours alone and holds no result.
            unsafe { cell.free(false) };
            drop(fut);
            return Err(Error::from_code(rc).unwrap_or(Error::InvalidArgument));
        }
        Err(r) => ManuallyDrop::into_inner(r.fut),
    };
    let cell = CellPtr::new();
    let state = ManuallyDrop::new(TaskState { fut: ManuallyDrop::new(fut), cell: cell.copy(), done: false, name });
    // The spawn writes the fiber handle straight into the cell.
    let out: *mut sys::dtact_handle_t = cell.fiber_slot();
    let size = mem::size_of::<TaskState<F>>();
    let align = mem::align_of::<TaskState<F>>();
    if size <= sys::DTACT_INLINE_MAX as usize && align <= 64 {
        attr.cleanup = Some(inline_cleanup::<F>);
        // SAFETY: `out` points into the live cell (no JoinHandle exists yet, so nobody reads it);
        // `state` is a valid TaskState<F> of `size` bytes and `align` alignment, which the C side
        // copies (a plain move) into the fiber's memory before returning. On success the copy owns
        // the future and the task's cell reference (ours is forgotten: `state` is ManuallyDrop)
        // and inline_tramp/inline_cleanup are called with the copy's address; on failure nothing
        // was copied or run and we still own them.
        let rc = unsafe {
            sys::dtact_spawn_inline(out, Some(inline_tramp::<F>), &*state as *const TaskState<F> as *const c_void, size, align, &attr)
        };
        if rc == sys::DTACT_OK {
            return Ok(JoinHandle::from_cell(cell));
        }
        if rc != sys::DTACT_EINVAL {
            drop(ManuallyDrop::into_inner(state).into_future(cell));
            return Err(Error::from_code(rc).unwrap());
        }
        // EINVAL: too large for this stack (over a quarter of it), or bad options: try the heap,
        // which reports the options error again if that was it.
    }
    let boxed = Box::into_raw(Box::new(ManuallyDrop::into_inner(state)));
    attr.cleanup = Some(heap_cleanup::<F>);
    // SAFETY: `out` as above; `boxed` is a valid, uniquely owned TaskState<F>. On success the
    // fiber owns the Box (heap_tramp runs it, heap_cleanup frees it, once); on failure neither
    // was called and we still own it.
    let rc = unsafe { sys::dtact_spawn(out, Some(heap_tramp::<F>), boxed as *mut c_void, &attr) };
    if rc == sys::DTACT_OK {
        HEAP_ESCAPED_SPAWNS.fetch_add(1, Ordering::Relaxed);
        return Ok(JoinHandle::from_cell(cell));
    }
    // SAFETY: the spawn failed, so the Box made by Box::into_raw above is still ours alone.
    let st = unsafe { Box::from_raw(boxed) };
    drop(st.into_future(cell));
    Err(Error::from_code(rc).unwrap_or(Error::InvalidArgument))
}
