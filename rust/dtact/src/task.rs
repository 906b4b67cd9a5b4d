//! Spawning futures on fibers, join handles and spawn options.
use std::any::Any;
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use dtact_sys as sys;

use crate::error::Error;
use crate::fiber::{self, dtact_handle_t, drive_on_fiber, Driven};

/// Spawns whose future did not fit on the fiber's stack (over `DTACT_INLINE_MAX` = 8192 bytes,
/// over a quarter of the stack, or aligned above 64) and were boxed on the heap instead.
pub static HEAP_ESCAPED_SPAWNS: AtomicU64 = AtomicU64::new(0);

/// How long a spawn waits for a free fiber record when the pool is full, before failing.
const WAIT_IF_FULL_NS: u64 = 60_000_000_000;

// ------------------------------------------------------------------ options

/// Scheduling priority (`DTACT_PRIORITY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Priority {
    Low = 0,
    #[default]
    Normal = 1,
    High = 2,
    Critical = 3,
}

/// Where a fiber may run (`DTACT_AFFINITY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Affinity {
    /// Pinned to the worker it is first queued on.
    SameCore = 0,
    /// May move among workers sharing its L3 cache.
    SameCCX = 1,
    /// May move among workers of its NUMA node.
    SameNUMA = 2,
    /// May move anywhere (the default).
    #[default]
    Any = 3,
}

/// Workload hint (`DTACT_KIND_*`): Compute and Memory fibers are deflected to other workers
/// first; IO and System fibers stay local (see docs/scheduler.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum WorkloadKind {
    #[default]
    Compute = 0,
    IO = 1,
    Memory = 2,
    System = 3,
}

/// The original's module path for [`Affinity`].
pub mod topology {
    pub use super::Affinity;
}

mod sealed {
    pub trait Sealed {}
}

/// A context-switch variant (sealed). `CODE` is the C `DTACT_SWITCHER_*` value.
pub trait ContextSwitcher: sealed::Sealed + Copy + Default + Send + Sync + 'static {
    /// `DTACT_SWITCHER_*`.
    const CODE: u8;
    /// Whether the fiber is pinned to one worker thread.
    const SAME_THREAD: bool;
    /// The same-thread variant with the same FP behaviour.
    type Pinned: ContextSwitcher;
}

macro_rules! switcher {
    ($(#[$m:meta])* $name:ident, $code:expr, $same:expr, $pinned:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl ContextSwitcher for $name {
            const CODE: u8 = $code;
            const SAME_THREAD: bool = $same;
            type Pinned = $pinned;
        }
    };
}
switcher!(
    /// May migrate between workers; saves the FP control state (the default).
    CrossThreadFloat, 0, false, SameThreadFloat);
switcher!(
    /// May migrate between workers; does not save the FP control state.
    CrossThreadNoFloat, 1, false, SameThreadNoFloat);
switcher!(
    /// Pinned to one worker; saves the FP control state.
    SameThreadFloat, 2, true, SameThreadFloat);
switcher!(
    /// Pinned to one worker; does not save the FP control state.
    SameThreadNoFloat, 3, true, SameThreadNoFloat);

/// Spawn options. `SpawnBuilder::new()` (or [`spawn_with`]) defaults to Normal priority, Any
/// affinity, Compute kind, the runtime's default stack and the `CrossThreadFloat` switcher.
/// Every setting is passed to the C runtime (`dtact_spawn_attr_t`). The original's `name` is not
/// offered (the C runtime has nowhere to keep it).
pub struct SpawnBuilder<S: ContextSwitcher = CrossThreadFloat> {
    priority: Priority,
    affinity: Affinity,
    kind: WorkloadKind,
    stack_size: usize,
    _s: PhantomData<S>,
}

impl<S: ContextSwitcher> Clone for SpawnBuilder<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: ContextSwitcher> Copy for SpawnBuilder<S> {}
impl<S: ContextSwitcher> fmt::Debug for SpawnBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnBuilder")
            .field("priority", &self.priority)
            .field("affinity", &self.affinity)
            .field("kind", &self.kind)
            .field("stack_size", &self.stack_size)
            .field("switcher", &std::any::type_name::<S>())
            .finish()
    }
}

impl Default for SpawnBuilder<CrossThreadFloat> {
    fn default() -> Self {
        Self::new()
    }
}

impl SpawnBuilder<CrossThreadFloat> {
    /// The default options.
    pub const fn new() -> Self {
        SpawnBuilder { priority: Priority::Normal, affinity: Affinity::Any, kind: WorkloadKind::Compute, stack_size: 0, _s: PhantomData }
    }
}

/// `SpawnBuilder::new()`.
pub const fn spawn_with() -> SpawnBuilder<CrossThreadFloat> {
    SpawnBuilder::new()
}

impl<S: ContextSwitcher> SpawnBuilder<S> {
    /// Scheduling priority.
    pub const fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }
    /// Affinity.
    pub const fn affinity(mut self, a: Affinity) -> Self {
        self.affinity = a;
        self
    }
    /// Workload kind.
    pub const fn kind(mut self, k: WorkloadKind) -> Self {
        self.kind = k;
        self
    }
    /// Stack bytes for this fiber (0: the runtime's default; rounded up to a size class; the
    /// runtime rejects sizes outside its classes with `InvalidArgument`).
    pub const fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
    /// Chooses the context switcher.
    pub const fn switcher<S2: ContextSwitcher>(self) -> SpawnBuilder<S2> {
        SpawnBuilder { priority: self.priority, affinity: self.affinity, kind: self.kind, stack_size: self.stack_size, _s: PhantomData }
    }
    /// The configured priority.
    pub const fn get_priority(&self) -> Priority {
        self.priority
    }
    /// The configured affinity.
    pub const fn get_affinity(&self) -> Affinity {
        self.affinity
    }
    /// The configured kind.
    pub const fn get_kind(&self) -> WorkloadKind {
        self.kind
    }
    /// The configured stack size (0 = default).
    pub const fn get_stack_size(&self) -> usize {
        self.stack_size
    }

    fn attr(&self, pinned: bool) -> Result<sys::dtact_spawn_attr_t, Error> {
        let mut a: sys::dtact_spawn_attr_t = unsafe { mem::zeroed() };
        unsafe { sys::dtact_spawn_attr_init(&mut a) };
        a.options.mPriority = self.priority as u8;
        a.options.mAffinity = if pinned { Affinity::SameCore as u8 } else { self.affinity as u8 };
        a.options.mKind = self.kind as u8;
        a.options.mSwitcher = if pinned { <S::Pinned as ContextSwitcher>::CODE } else { S::CODE };
        a.flags = sys::DTACT_SPAWN_WAIT_IF_FULL as u32;
        a.wait_ns = WAIT_IF_FULL_NS;
        a.stack_size = u32::try_from(self.stack_size).map_err(|_| Error::InvalidArgument)?;
        Ok(a)
    }

    /// Spawns `task` (a future, or a `#[task]` [`TaskFuture`], whose own settings are ignored in
    /// favour of this builder's) on a new fiber. Panics if no runtime exists; see [`try_spawn`].
    pub fn spawn<T: IntoTask>(self, task: T) -> JoinHandle<<T::Fut as Future>::Output>
    where
        T::Fut: Send + 'static,
        <T::Fut as Future>::Output: Send + 'static,
    {
        self.try_spawn(task).unwrap_or_else(|e| panic!("dtact::spawn: {e}"))
    }

    /// As [`SpawnBuilder::spawn`], returning the C error instead of panicking. During shutdown
    /// (`Error::Shutdown`) the future is dropped and the error returned.
    pub fn try_spawn<T: IntoTask>(self, task: T) -> Result<JoinHandle<<T::Fut as Future>::Output>, Error>
    where
        T::Fut: Send + 'static,
        <T::Fut as Future>::Output: Send + 'static,
    {
        let (fut, _) = task.into_task();
        let attr = self.attr(false)?;
        spawn_raw(FutSource::Ready(fut), &attr)
    }

    /// Spawns a future that need not be `Send` on a fiber pinned to one worker thread (same-thread
    /// switcher, SameCore affinity). The future is built by `make` on that fiber, so it never
    /// crosses threads; only `make` (which is `Send`) and the output do.
    pub fn spawn_pinned<M, F>(self, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let attr = self.attr(true).unwrap_or_else(|e| panic!("dtact::spawn_pinned: {e}"));
        spawn_raw::<Pinned<M, F>>(FutSource::Ready(Pinned::Make(Some(make))), &attr).unwrap_or_else(|e| panic!("dtact::spawn_pinned: {e}"))
    }
}

/// Spawns a `Send + 'static` future (or a `#[task]` [`TaskFuture`], with its settings) on a new
/// fiber and returns its [`JoinHandle`]. The future is placed on the fiber's own stack when it
/// fits (no heap allocation for the future), else boxed (counted in [`HEAP_ESCAPED_SPAWNS`]).
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

/// As [`spawn`], returning the C error (`NotInitialized`, `Shutdown`, `Exhausted` after waiting
/// 60 s for a free record, `InvalidArgument` for a bad stack size) instead of panicking.
pub fn try_spawn<T: IntoTask>(task: T) -> Result<JoinHandle<<T::Fut as Future>::Output>, Error>
where
    T::Fut: Send + 'static,
    <T::Fut as Future>::Output: Send + 'static,
{
    let (fut, settings) = task.into_task();
    let attr = settings.attr(false)?;
    spawn_raw(FutSource::Ready(fut), &attr)
}

/// Spawns a `!Send` future built by `make` on a pinned fiber (see [`SpawnBuilder::spawn_pinned`]).
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
    SpawnBuilder::new().spawn_pinned(make)
}

/// The original's spelling of [`spawn_pinned`].
pub fn spawn_local<M, F>(make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    spawn_pinned(make)
}

/// `spawn!(expr)`: spawns a future or a `#[task]` [`TaskFuture`] with its settings (the same as
/// [`spawn`], kept for the original's users).
#[macro_export]
macro_rules! spawn {
    ($e:expr) => {
        $crate::spawn($e)
    };
}

// ------------------------------------------------------------------ #[task] support

/// Something [`spawn`] accepts: any future (default settings) or a [`TaskFuture`] (its own).
pub trait IntoTask {
    /// The future that runs on the fiber.
    type Fut: Future;
    /// The switcher the settings use.
    type Switcher: ContextSwitcher;
    /// Splits into the future and its spawn settings.
    fn into_task(self) -> (Self::Fut, SpawnBuilder<Self::Switcher>);
}

impl<F: Future> IntoTask for F {
    type Fut = F;
    type Switcher = CrossThreadFloat;
    fn into_task(self) -> (F, SpawnBuilder<CrossThreadFloat>) {
        (self, SpawnBuilder::new())
    }
}

/// A future made by a `#[dtact::task]` function, carrying that function's spawn settings.
/// `spawn(t)` / `spawn!(t)` honour them; `t.await` runs the body in place (it implements
/// `IntoFuture`).
pub struct TaskFuture<F, S: ContextSwitcher = CrossThreadFloat> {
    fut: F,
    settings: SpawnBuilder<S>,
}

impl<F, S: ContextSwitcher> fmt::Debug for TaskFuture<F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFuture").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<F: Future, S: ContextSwitcher> TaskFuture<F, S> {
    /// Wraps a future with settings (used by `#[task]`).
    pub fn new(fut: F, settings: SpawnBuilder<S>) -> Self {
        TaskFuture { fut, settings }
    }
    /// The spawn settings.
    pub fn settings(&self) -> SpawnBuilder<S> {
        self.settings
    }
    /// The inner future.
    pub fn into_inner(self) -> F {
        self.fut
    }
}

impl<F: Future, S: ContextSwitcher> IntoTask for TaskFuture<F, S> {
    type Fut = F;
    type Switcher = S;
    fn into_task(self) -> (F, SpawnBuilder<S>) {
        (self.fut, self.settings)
    }
}

impl<F: Future, S: ContextSwitcher> IntoFuture for TaskFuture<F, S> {
    type Output = F::Output;
    type IntoFuture = F;
    fn into_future(self) -> F {
        self.fut
    }
}

// ------------------------------------------------------------------ join state

/// Why a task produced no output.
pub struct JoinError {
    repr: JoinRepr,
}

enum JoinRepr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// The task was cancelled: aborted, or dropped at shutdown before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, JoinRepr::Cancelled)
    }
    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinRepr::Panic(_))
    }
    /// The panic payload. Panics if the task was cancelled.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().unwrap_or_else(|_| panic!("JoinError::into_panic: the task was cancelled, it did not panic"))
    }
    /// The panic payload, or the error back.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            JoinRepr::Panic(p) => Ok(p),
            r => Err(JoinError { repr: r }),
        }
    }
}

fn panic_msg(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinRepr::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinRepr::Panic(p) => write!(f, "JoinError::Panic({:?})", panic_msg(&**p)),
        }
    }
}
impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinRepr::Cancelled => f.write_str("task was cancelled"),
            JoinRepr::Panic(p) => write!(f, "task panicked: {}", panic_msg(&**p)),
        }
    }
}
impl std::error::Error for JoinError {}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const TAKEN: u8 = 2;

/// The join cell, shared (one `Arc`) by the task and its JoinHandle: the output, the panic or
/// the cancellation, the awaiting task's waker and the abort flag.
struct JoinCell<T> {
    state: AtomicU8,
    cancel: AtomicBool,
    result: UnsafeCell<Option<Result<T, JoinError>>>,
    waker: Mutex<Option<Waker>>,
}

// SAFETY: `result` is written once by the task before `state` becomes DONE (release) and read
// once by the handle after it observes DONE (acquire) and swaps it to TAKEN.
unsafe impl<T: Send> Sync for JoinCell<T> {}
unsafe impl<T: Send> Send for JoinCell<T> {}

impl<T> JoinCell<T> {
    fn new() -> Self {
        JoinCell { state: AtomicU8::new(RUNNING), cancel: AtomicBool::new(false), result: UnsafeCell::new(None), waker: Mutex::new(None) }
    }
    /// Called once, by the task (or its cleanup).
    fn complete(&self, r: Result<T, JoinError>) {
        unsafe { *self.result.get() = Some(r) };
        self.state.store(DONE, Ordering::Release);
        let w = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// An owned permission to join a task: a `Future<Output = Result<T, JoinError>>` to await from a
/// task, or [`join`](JoinHandle::join) to block a thread (or wait on a fiber). Dropping it
/// detaches the task. The join state lives in an `Arc`'d cell shared with the task (one small
/// allocation per spawn; the future itself is placed on the fiber's stack).
pub struct JoinHandle<T> {
    cell: Arc<JoinCell<T>>,
    fiber: dtact_handle_t,
}

impl<T> Unpin for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("fiber", &self.fiber).field("finished", &self.is_finished()).finish()
    }
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (output, panic or cancellation is ready).
    pub fn is_finished(&self) -> bool {
        self.cell.state.load(Ordering::Acquire) != RUNNING
    }
    /// The fiber's handle (for `dtact_await`, `yield_to`, ...). May be invalid for a task that
    /// never got a fiber.
    pub fn fiber_handle(&self) -> dtact_handle_t {
        self.fiber
    }
    /// Cancels the task: if it has not started, its future is dropped without being polled; if
    /// it is running, it is dropped the next time it is pending (at its next `.await` that
    /// suspends). Its joiner then gets a cancelled `JoinError`. No effect on a finished task.
    /// A task that never suspends again runs to completion.
    pub fn abort(&self) {
        self.cell.cancel.store(true, Ordering::SeqCst);
        if self.fiber.is_valid() {
            unsafe { sys::dtact_unpark(self.fiber.0) };
        }
    }
    /// Waits for the task: on a fiber only the fiber waits ([`crate::wait`]); on a thread it
    /// parks the thread.
    pub fn join(self) -> Result<T, JoinError> {
        fiber::wait(self)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let cell = &*self.cell;
        let take = |cell: &JoinCell<T>| {
            if cell.state.compare_exchange(DONE, TAKEN, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                Some(unsafe { (*cell.result.get()).take().unwrap() })
            } else if cell.state.load(Ordering::Relaxed) == TAKEN {
                panic!("JoinHandle polled after completion")
            } else {
                None
            }
        };
        if let Some(r) = take(cell) {
            return Poll::Ready(r);
        }
        {
            let mut w = cell.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        match take(cell) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

// ------------------------------------------------------------------ the fiber side

/// A `!Send` future built on its fiber (spawn_pinned).
enum Pinned<M, F> {
    Make(Option<M>),
    Run(F),
}

impl<M: FnOnce() -> F, F: Future> Future for Pinned<M, F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of `Run`; we never move F once built.
        let this = unsafe { self.get_unchecked_mut() };
        if let Pinned::Make(m) = this {
            let f = (m.take().expect("Pinned polled after panic"))();
            *this = Pinned::Run(f);
        }
        match this {
            Pinned::Run(f) => unsafe { Pin::new_unchecked(f) }.poll(cx),
            Pinned::Make(_) => unreachable!(),
        }
    }
}

enum FutSource<F> {
    Ready(F),
}

/// The task state placed on the fiber's stack (or boxed): the future and the join cell.
/// `done` says the trampoline already dropped the future and completed the cell.
#[repr(C)]
struct TaskState<F: Future> {
    fut: ManuallyDrop<F>,
    cell: ManuallyDrop<Arc<JoinCell<F::Output>>>,
    done: bool,
}

/// Runs on the fiber: drives the future in place, drops it in place, completes the cell.
unsafe fn run_task<F: Future>(st: *mut TaskState<F>) {
    let st = &mut *st;
    let cell: &JoinCell<F::Output> = &st.cell;
    let result = if cell.cancel.load(Ordering::Acquire) {
        None
    } else {
        let fut = Pin::new_unchecked(&mut *st.fut);
        let stop = || cell.cancel.load(Ordering::Acquire);
        match catch_unwind(AssertUnwindSafe(|| drive_on_fiber(fut, &stop))) {
            Ok(Driven::Done(v)) => Some(Ok(v)),
            Ok(Driven::Shutdown) | Ok(Driven::Stopped) => None,
            Err(p) => Some(Err(JoinError { repr: JoinRepr::Panic(p) })),
        }
    };
    // Drop the future in place (its destructor may panic: a panic there becomes the result).
    let dropped = catch_unwind(AssertUnwindSafe(|| ManuallyDrop::drop(&mut st.fut)));
    st.done = true;
    let r = match (result, dropped) {
        (Some(r), Ok(())) => r,
        (_, Err(p)) => Err(JoinError { repr: JoinRepr::Panic(p) }),
        (None, Ok(())) => Err(JoinError { repr: JoinRepr::Cancelled }),
    };
    cell.complete(r);
}

/// Cleanup: runs exactly once per fiber, after run_task or instead of it (cancelled at shutdown).
unsafe fn cleanup_task<F: Future>(st: *mut TaskState<F>) {
    let st = &mut *st;
    if !st.done {
        let _ = catch_unwind(AssertUnwindSafe(|| ManuallyDrop::drop(&mut st.fut)));
        st.done = true;
        st.cell.complete(Err(JoinError { repr: JoinRepr::Cancelled }));
    }
    ManuallyDrop::drop(&mut st.cell);
}

unsafe extern "C" fn inline_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    run_task::<F>(p as *mut TaskState<F>);
    std::ptr::null_mut()
}
unsafe extern "C" fn inline_cleanup<F: Future>(p: *mut c_void) {
    cleanup_task::<F>(p as *mut TaskState<F>);
}
unsafe extern "C" fn heap_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    run_task::<F>(p as *mut TaskState<F>);
    std::ptr::null_mut()
}
unsafe extern "C" fn heap_cleanup<F: Future>(p: *mut c_void) {
    cleanup_task::<F>(p as *mut TaskState<F>);
    drop(Box::from_raw(p as *mut TaskState<F>));
}

fn spawn_raw<F: Future>(src: FutSource<F>, attr: &sys::dtact_spawn_attr_t) -> Result<JoinHandle<F::Output>, Error> {
    let FutSource::Ready(fut) = src;
    let cell = Arc::new(JoinCell::new());
    let state = TaskState { fut: ManuallyDrop::new(fut), cell: ManuallyDrop::new(cell.clone()), done: false };
    let mut attr = *attr;
    let mut out: sys::dtact_handle_t = 0;
    let size = mem::size_of::<TaskState<F>>();
    let align = mem::align_of::<TaskState<F>>();
    let state = ManuallyDrop::new(state);
    if size <= sys::DTACT_INLINE_MAX as usize && align <= 64 {
        attr.cleanup = Some(inline_cleanup::<F>);
        // SAFETY: the C side copies `size` bytes of `state` onto the fiber's stack; on success the
        // copy owns the future and the Arc (we forget ours), on failure we still own them.
        let rc = unsafe {
            sys::dtact_spawn_inline(&mut out, Some(inline_tramp::<F>), &*state as *const TaskState<F> as *const c_void, size, align, &attr)
        };
        if rc == sys::DTACT_OK {
            return Ok(JoinHandle { cell, fiber: dtact_handle_t(out) });
        }
        if rc != sys::DTACT_EINVAL {
            drop(ManuallyDrop::into_inner(state).into_parts());
            return Err(Error::from_code(rc).unwrap());
        }
        // EINVAL: too large for this stack (over a quarter of it), or bad options: try the heap,
        // which reports the options error again if that was it.
    }
    let boxed = Box::into_raw(Box::new(ManuallyDrop::into_inner(state)));
    attr.cleanup = Some(heap_cleanup::<F>);
    let rc = unsafe { sys::dtact_spawn(&mut out, Some(heap_tramp::<F>), boxed as *mut c_void, &attr) };
    if rc == sys::DTACT_OK {
        HEAP_ESCAPED_SPAWNS.fetch_add(1, Ordering::Relaxed);
        return Ok(JoinHandle { cell, fiber: dtact_handle_t(out) });
    }
    let st = unsafe { Box::from_raw(boxed) };
    drop(st.into_parts());
    Err(Error::from_code(rc).unwrap_or(Error::InvalidArgument))
}

impl<F: Future> TaskState<F> {
    fn into_parts(mut self) -> (F, Arc<JoinCell<F::Output>>) {
        unsafe { (ManuallyDrop::take(&mut self.fut), ManuallyDrop::take(&mut self.cell)) }
    }
}
