//! Spawning futures on fibers, join handles and spawn options.
use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use dtact_sys as sys;

use crate::error::Error;
use crate::fiber::{self, dtact_handle_t, drive_on_fiber, Driven};
use crate::pool;

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
        // Every field is set here (what dtact_spawn_attr_init would do, then the options), so the
        // spawn path makes no extra call into C.
        Ok(sys::dtact_spawn_attr_t {
            options: sys::dtact_spawn_options_t {
                mPriority: self.priority as u8,
                mAffinity: if pinned { Affinity::SameCore as u8 } else { self.affinity as u8 },
                mKind: self.kind as u8,
                mSwitcher: if pinned { <S::Pinned as ContextSwitcher>::CODE } else { S::CODE },
            },
            flags: sys::DTACT_SPAWN_WAIT_IF_FULL as u32,
            stack_size: u32::try_from(self.stack_size).map_err(|_| Error::InvalidArgument)?,
            reserved: 0,
            wait_ns: WAIT_IF_FULL_NS,
            cleanup: None,
        })
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

// The join cell: one heap block per task, shared by the task and its JoinHandle, holding the
// output (or panic / cancellation), the awaiting task's waker and one state word. Every
// hand-off is a transition of that word, so the common cases cost one atomic operation per side:
// the task publishes its output and lets go of the cell with one CAS, and a handle that finds
// the task finished reads the output and frees the cell with no atomic read-modify-write at all.
//
// Ownership rules (the bits of `state`):
// - `result` belongs to the task until it sets COMPLETE, then to the handle.
// - `waker` belongs to the handle while WAKER is clear and COMPLETE is clear. The handle writes
//   it, then sets WAKER; to replace it, the handle clears WAKER first (a CAS that fails once
//   COMPLETE is set). While WAKER is set the slot is only read: by the handle (`will_wake`) and
//   by the task, which wakes it if its own COMPLETE transition saw WAKER. The waker is dropped
//   with the cell.
// - TASK_REF / HANDLE_REF: each side clears its bit when it lets go of the cell; whoever clears
//   the last one frees it. TAKEN tells that freer that the output was moved out already.
// - CANCEL: set by `abort`, read by the task.

/// The task has stored its result.
const COMPLETE: usize = 1;
/// A waker is stored in `waker`.
const WAKER: usize = 2;
/// `abort` was called.
const CANCEL: usize = 4;
/// The task still uses the cell.
const TASK_REF: usize = 8;
/// The JoinHandle still exists.
const HANDLE_REF: usize = 16;
/// The handle moved the result out.
const TAKEN: usize = 32;

/// `repr(C)`: the state word, the fiber handle and the result first, so that the words written on
/// spawn and on completion usually share one cache line (blocks are 16-byte aligned); the waker,
/// written only when the handle waits, last.
#[repr(C)]
struct JoinCell<T> {
    state: AtomicUsize,
    /// The fiber's handle: written by the spawn (its `out` argument), then only read, by the
    /// handle's owner. The task never touches it.
    fiber: UnsafeCell<sys::dtact_handle_t>,
    result: UnsafeCell<MaybeUninit<Result<T, JoinError>>>,
    waker: UnsafeCell<Option<Waker>>,
}

/// A pointer to a live join cell, held by the task (in its `TaskState`) or by its JoinHandle.
struct CellPtr<T>(NonNull<JoinCell<T>>);

impl<T> CellPtr<T> {
    /// A new cell owned by both the task and the handle (two copies of the returned pointer).
    fn new() -> Self {
        let p = pool::alloc(Layout::new::<JoinCell<T>>()).cast::<JoinCell<T>>();
        // SAFETY: fresh memory with the layout of a JoinCell<T>.
        unsafe {
            p.as_ptr().write(JoinCell {
                state: AtomicUsize::new(TASK_REF | HANDLE_REF),
                fiber: UnsafeCell::new(0),
                result: UnsafeCell::new(MaybeUninit::uninit()),
                waker: UnsafeCell::new(None),
            })
        };
        CellPtr(p)
    }
    fn copy(&self) -> Self {
        CellPtr(self.0)
    }
    fn cell(&self) -> &JoinCell<T> {
        // SAFETY: a CellPtr exists only while its side's REF bit is set, so the cell is alive.
        unsafe { self.0.as_ref() }
    }
    fn state(&self) -> &AtomicUsize {
        &self.cell().state
    }

    /// Frees the cell. `drop_result`: the result was stored and not taken.
    ///
    /// # Safety
    /// The caller cleared the last REF bit (or owns both): nobody else uses the cell.
    unsafe fn free(self, drop_result: bool) {
        let p = self.0.as_ptr();
        // SAFETY: by the caller's contract we own the cell; `new` initialised it in memory from
        // pool::alloc with this layout, and the result is initialised if `drop_result`.
        unsafe {
            if drop_result {
                (*p).result.get_mut().assume_init_drop();
            }
            ptr::drop_in_place(p);
            pool::free(self.0.cast(), Layout::new::<JoinCell<T>>());
        }
    }

    /// Task side, called once: publishes the result, wakes the awaiting handle, lets go of the cell.
    fn complete(self, r: Result<T, JoinError>) {
        // SAFETY: the result slot is the task's until it sets COMPLETE (below).
        unsafe { (*self.cell().result.get()).write(r) };
        let st = self.state();
        let mut s = TASK_REF | HANDLE_REF;
        loop {
            if s & HANDLE_REF == 0 {
                // Detached: nobody will read the result. The acquire load pairs with the
                // handle's release of its bit (its last writes to the waker slot).
                let _ = st.load(Ordering::Acquire);
                // SAFETY: the handle is gone and we held the other reference. (Runs on the
                // fiber: a panicking destructor of the output must not unwind into C.)
                let _ = catch_unwind(AssertUnwindSafe(|| unsafe { self.free(true) }));
                return;
            }
            let (new, last) = if s & WAKER == 0 { ((s | COMPLETE) & !TASK_REF, true) } else { (s | COMPLETE, false) };
            // AcqRel: release publishes the result; acquire makes a stored waker visible.
            match st.compare_exchange(s, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) if last => return, // the handle owns the cell now
                Ok(_) => break,
                Err(a) => s = a,
            }
        }
        // WAKER was set when we completed: the handle no longer writes the slot (it may still
        // read it), so wake by reference; the waker is dropped with the cell.
        // SAFETY: the cell is alive while TASK_REF is set; the slot is only read from now on.
        if let Some(w) = unsafe { (*self.cell().waker.get()).as_ref() } {
            // A panicking foreign waker must not unwind into the C runtime.
            let _ = catch_unwind(AssertUnwindSafe(|| w.wake_by_ref()));
        }
        let prev = st.fetch_and(!TASK_REF, Ordering::AcqRel);
        if prev & HANDLE_REF == 0 {
            // SAFETY: both bits are clear now and we cleared the last one. (On the fiber, as above.)
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { self.free(prev & TAKEN == 0) }));
        }
    }

    /// Handle side: lets go of the cell. `taken`: the handle moved the result out.
    fn release_handle(self, taken: bool) {
        let st = self.state();
        let s = st.load(Ordering::Acquire);
        if s & TASK_REF == 0 {
            // The task let go for good (acquire: its result and waker writes are visible).
            // SAFETY: we hold the last reference.
            unsafe { self.free(s & COMPLETE != 0 && !taken) };
            return;
        }
        let prev = st.fetch_xor(if taken { HANDLE_REF | TAKEN } else { HANDLE_REF }, Ordering::AcqRel);
        if prev & TASK_REF == 0 {
            // SAFETY: the task let go between our load and our RMW; we cleared the last bit.
            unsafe { self.free(prev & COMPLETE != 0 && !taken) };
        }
    }
}

/// An owned permission to join a task: a `Future<Output = Result<T, JoinError>>` to await from a
/// task, or [`join`](JoinHandle::join) to block a thread (or wait on a fiber). Dropping it
/// detaches the task. The join state lives in one small heap cell shared with the task (the
/// future itself is placed on the fiber's stack); the handle frees it once it has the output.
pub struct JoinHandle<T> {
    /// One word, like the handle of other runtimes: while the handle holds the cell, its address
    /// (aligned, so the low bit is clear); once the output was returned, the fiber handle, shifted
    /// left by one with the low bit set (a valid handle always has bit 63 set, which is restored
    /// when decoding).
    raw: NonZeroU64,
    _cell: PhantomData<CellPtr<T>>,
}

// SAFETY: the handle only moves the task's output (T: Send) to its own thread and touches the
// shared cell through the state-word protocol above.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through &JoinHandle only the atomic state word is read or modified (is_finished, abort).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("fiber", &self.fiber_handle()).field("finished", &self.is_finished()).finish()
    }
}

impl<T> JoinHandle<T> {
    fn from_cell(cell: CellPtr<T>) -> Self {
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
    /// Whether the task has finished (output, panic or cancellation is ready).
    pub fn is_finished(&self) -> bool {
        match self.cell() {
            Some(c) => c.state().load(Ordering::Acquire) & COMPLETE != 0,
            None => true,
        }
    }
    /// The fiber's handle (for `dtact_await`, `yield_to`, ...).
    pub fn fiber_handle(&self) -> dtact_handle_t {
        match self.cell() {
            // SAFETY: written by the spawn before the handle existed; only read since.
            Some(c) => dtact_handle_t(unsafe { *c.cell().fiber.get() }),
            None => dtact_handle_t((self.raw.get() >> 1) | (1 << 63)),
        }
    }
    /// Cancels the task: if it has not started, its future is dropped without being polled; if
    /// it is running, it is dropped the next time it is pending (at its next `.await` that
    /// suspends). Its joiner then gets a cancelled `JoinError`. No effect on a finished task.
    /// A task that never suspends again runs to completion.
    pub fn abort(&self) {
        let Some(c) = self.cell() else { return };
        if c.state().fetch_or(CANCEL, Ordering::SeqCst) & COMPLETE == 0 {
            // SAFETY: dtact_unpark validates the handle; a finished or recycled fiber is ignored.
            unsafe { sys::dtact_unpark(self.fiber_handle().0) };
        }
    }
    /// Waits for the task: on a fiber only the fiber waits ([`crate::wait`]); on a thread it
    /// parks the thread.
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
        // SAFETY: COMPLETE is set, so the result is initialised and belongs to the handle; it is
        // read once, as the handle gave up the cell just above.
        let r = unsafe { (*c.cell().result.get()).assume_init_read() };
        c.release_handle(true);
        r
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
        let Some(c) = this.cell() else { panic!("JoinHandle polled after completion") };
        let st = c.state();
        let mut s = st.load(Ordering::Acquire);
        if s & COMPLETE != 0 {
            return Poll::Ready(this.take_output());
        }
        let slot = c.cell().waker.get();
        if s & WAKER != 0 {
            // SAFETY: while WAKER is set the stored waker is only read (by us or the task).
            if unsafe { (*slot).as_ref() }.is_some_and(|w| w.will_wake(cx.waker())) {
                return Poll::Pending;
            }
            // Take the slot back to replace the waker.
            loop {
                if s & COMPLETE != 0 {
                    return Poll::Ready(this.take_output());
                }
                match st.compare_exchange_weak(s, s & !WAKER, Ordering::Acquire, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(a) => s = a,
                }
            }
        }
        // SAFETY: WAKER and COMPLETE are clear: the slot is ours.
        unsafe { *slot = Some(cx.waker().clone()) };
        // Release publishes the waker; acquire makes the result visible if COMPLETE came first.
        if st.fetch_or(WAKER, Ordering::AcqRel) & COMPLETE != 0 {
            // The task completed before seeing our waker, so it will not touch the slot.
            // SAFETY: as above; the slot stays ours.
            drop(unsafe { (*slot).take() });
            return Poll::Ready(this.take_output());
        }
        Poll::Pending
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

/// The task state placed on the fiber's stack (or boxed): the future and the task's pointer to
/// the join cell. `done` says the trampoline already dropped the future and completed the cell.
#[repr(C)]
struct TaskState<F: Future> {
    fut: ManuallyDrop<F>,
    cell: CellPtr<F::Output>,
    done: bool,
}

/// Runs on the fiber: drives the future in place, drops it in place, completes the cell.
///
/// # Safety
/// `st` points to a live TaskState whose future was neither dropped nor moved since the spawn.
unsafe fn run_task<F: Future>(st: *mut TaskState<F>) {
    // SAFETY: by the caller's contract.
    let st = unsafe { &mut *st };
    let state = st.cell.state();
    let result = if state.load(Ordering::Acquire) & CANCEL != 0 {
        None
    } else {
        // SAFETY: the future lives in place in the TaskState until it is dropped below.
        let fut = unsafe { Pin::new_unchecked(&mut *st.fut) };
        let stop = || state.load(Ordering::Acquire) & CANCEL != 0;
        match catch_unwind(AssertUnwindSafe(|| drive_on_fiber(fut, &stop))) {
            Ok(Driven::Done(v)) => Some(Ok(v)),
            Ok(Driven::Shutdown) | Ok(Driven::Stopped) => None,
            Err(p) => Some(Err(JoinError { repr: JoinRepr::Panic(p) })),
        }
    };
    // Drop the future in place (its destructor may panic: a panic there becomes the result).
    // SAFETY: dropped once; `done` keeps the cleanup from dropping it again.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut st.fut) }));
    st.done = true;
    let r = match (result, dropped) {
        (Some(r), Ok(())) => r,
        (_, Err(p)) => Err(JoinError { repr: JoinRepr::Panic(p) }),
        (None, Ok(())) => Err(JoinError { repr: JoinRepr::Cancelled }),
    };
    st.cell.copy().complete(r);
}

/// Cleanup: runs exactly once per fiber, after run_task or instead of it (cancelled at shutdown).
///
/// # Safety
/// As run_task; called once.
unsafe fn cleanup_task<F: Future>(st: *mut TaskState<F>) {
    // SAFETY: by the caller's contract.
    let st = unsafe { &mut *st };
    if !st.done {
        // SAFETY: run_task never ran, so the future is still there; dropped once.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut st.fut) }));
        st.done = true;
        st.cell.copy().complete(Err(JoinError { repr: JoinRepr::Cancelled }));
    }
}

unsafe extern "C" fn inline_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the copy of the TaskState made by dtact_spawn_inline, run once.
    unsafe { run_task::<F>(p as *mut TaskState<F>) };
    std::ptr::null_mut()
}
unsafe extern "C" fn inline_cleanup<F: Future>(p: *mut c_void) {
    // SAFETY: the same copy; the C runtime calls the cleanup exactly once.
    unsafe { cleanup_task::<F>(p as *mut TaskState<F>) };
}
unsafe extern "C" fn heap_tramp<F: Future>(p: *mut c_void) -> *mut c_void {
    // SAFETY: `p` is the Box made by spawn_raw, run once.
    unsafe { run_task::<F>(p as *mut TaskState<F>) };
    std::ptr::null_mut()
}
unsafe extern "C" fn heap_cleanup<F: Future>(p: *mut c_void) {
    // SAFETY: the same Box; the cleanup runs exactly once, last, so the Box is freed once.
    unsafe {
        cleanup_task::<F>(p as *mut TaskState<F>);
        drop(Box::from_raw(p as *mut TaskState<F>));
    }
}

fn spawn_raw<F: Future>(src: FutSource<F>, attr: &sys::dtact_spawn_attr_t) -> Result<JoinHandle<F::Output>, Error> {
    let FutSource::Ready(fut) = src;
    let cell = CellPtr::new();
    let state = ManuallyDrop::new(TaskState { fut: ManuallyDrop::new(fut), cell: cell.copy(), done: false });
    let mut attr = *attr;
    // The spawn writes the fiber handle straight into the cell.
    let out: *mut sys::dtact_handle_t = cell.cell().fiber.get();
    let size = mem::size_of::<TaskState<F>>();
    let align = mem::align_of::<TaskState<F>>();
    if size <= sys::DTACT_INLINE_MAX as usize && align <= 64 {
        attr.cleanup = Some(inline_cleanup::<F>);
        // SAFETY: the C side copies `size` bytes of `state` into the fiber's memory; on success
        // the copy owns the future and the task's cell reference (ours is forgotten: `state` is
        // ManuallyDrop), on failure we still own them.
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
    // SAFETY: on success the fiber owns the Box (heap_cleanup frees it); on failure we do.
    let rc = unsafe { sys::dtact_spawn(out, Some(heap_tramp::<F>), boxed as *mut c_void, &attr) };
    if rc == sys::DTACT_OK {
        HEAP_ESCAPED_SPAWNS.fetch_add(1, Ordering::Relaxed);
        return Ok(JoinHandle::from_cell(cell));
    }
    // SAFETY: the spawn failed, so the Box is still ours alone.
    let st = unsafe { Box::from_raw(boxed) };
    drop(st.into_future(cell));
    Err(Error::from_code(rc).unwrap_or(Error::InvalidArgument))
}

impl<F: Future> TaskState<F> {
    /// Undoes a failed spawn: frees the cell (`cell` is the handle's copy of the same pointer)
    /// and gives the future back, to be dropped by the caller.
    fn into_future(mut self, cell: CellPtr<F::Output>) -> F {
        debug_assert_eq!(self.cell.0, cell.0);
        // SAFETY: the spawn failed: nobody else saw the cell, and no result was stored.
        unsafe { cell.free(false) };
        // SAFETY: taken once; `self` (no destructor of its own) is then discarded.
        unsafe { ManuallyDrop::take(&mut self.fut) }
    }
}
