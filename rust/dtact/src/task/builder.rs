//! [`SpawnBuilder`] (per-spawn options and the spawns that use them), and what `spawn` accepts:
//! [`IntoTask`], implemented by every future and by the [`TaskFuture`] of a `#[dtact::task]`
//! function, which carries that function's settings.
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use dtact_sys as sys;

use super::join_handle::JoinHandle;
use super::options::{Affinity, ContextSwitcher, CrossThreadFloat, Priority, WorkloadKind};
use super::runner::Pinned;
use super::spawn::{spawn_raw, FutSource};
use crate::error::Error;
use crate::runtime::{SafetyLevel, TopologyMode};

/// How long a spawn waits for a free fiber record when the pool is full, before failing.
const WAIT_IF_FULL_NS: u64 = 60_000_000_000;

/// Spawn options. [`spawn_with()`](crate::spawn_with) (or `SpawnBuilder::<S>::new()` for a
/// switcher type `S`, or `SpawnBuilder::default()` where the type is known) defaults to no name,
/// Normal priority, Any affinity, Compute kind, the runtime's default stack, topology mode
/// P2PMesh, safety Safety0 and the `CrossThreadFloat` switcher. Priority, affinity, kind, stack
/// size and switcher are passed to the C runtime (`dtact_spawn_attr_t`); for `name`,
/// `topology_mode` and `safety` see their setters.
///
/// As in the original Dtact (the earlier Rust implementation whose API this crate keeps), `new`
/// is generic over the switcher, so a bare `SpawnBuilder::new()` needs its type from the
/// context: write `spawn_with()`, `SpawnBuilder::<CrossThreadFloat>::new()` or
/// `let b: SpawnBuilder = SpawnBuilder::new();`.
///
/// ```no_run
/// use dtact::{Priority, SpawnBuilder, WorkloadKind};
/// let rt = dtact::Runtime::builder().workers(2).build().unwrap();
/// let v = rt.block_on(async {
///     let opts = dtact::spawn_with().priority(Priority::High).kind(WorkloadKind::IO).name("answer");
///     opts.spawn(async { 6 * 7 }).await.unwrap()
/// });
/// assert_eq!(v, 42);
/// let pinned = SpawnBuilder::<dtact::SameThreadNoFloat>::new();
/// ```
pub struct SpawnBuilder<S: ContextSwitcher = CrossThreadFloat> {
    name: Option<&'static str>,
    priority: Priority,
    affinity: Affinity,
    kind: WorkloadKind,
    mode: TopologyMode,
    safety: SafetyLevel,
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
            .field("name", &self.name)
            .field("priority", &self.priority)
            .field("affinity", &self.affinity)
            .field("kind", &self.kind)
            .field("stack_size", &self.stack_size)
            .field("topology_mode", &self.mode)
            .field("safety", &self.safety)
            .field("switcher", &std::any::type_name::<S>())
            .finish()
    }
}

impl<S: ContextSwitcher> Default for SpawnBuilder<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: ContextSwitcher> SpawnBuilder<S> {
    /// The default options with switcher `S`: no name, Normal priority, Any affinity, Compute
    /// kind, the runtime's default stack size, topology mode P2PMesh, safety Safety0.
    pub const fn new() -> Self {
        SpawnBuilder {
            name: None,
            priority: Priority::Normal,
            affinity: Affinity::Any,
            kind: WorkloadKind::Compute,
            mode: TopologyMode::P2PMesh,
            safety: SafetyLevel::Safety0,
            stack_size: 0,
            _s: PhantomData,
        }
    }
    /// Names the task. The name is kept with the task and shown in its
    /// [`JoinError`](crate::JoinError) (`task 'name' panicked: ...`, [`JoinError::name`](crate::JoinError::name)).
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }
    /// The per-spawn topology mode of the original Dtact. [`TopologyMode::Pinned`] pins the
    /// fiber to the worker it is first queued on (as [`SpawnBuilder::spawn_pinned`]: SameCore
    /// affinity and the same-thread variant of the switcher). P2PMesh and Global leave the
    /// fiber to the runtime's mode ([`Builder::topology`](crate::Builder::topology)), which is
    /// runtime-wide, as in the original.
    pub const fn topology_mode(mut self, mode: TopologyMode) -> Self {
        self.mode = mode;
        self
    }
    /// The per-spawn safety level of the original Dtact (which ignored it). Stack protection is
    /// runtime-wide here: every stack gets the level of [`Builder::safety`](crate::Builder::safety)
    /// (a guard page while the process's map budget allows, and a canary), whatever this says;
    /// the value is kept only for [`SpawnBuilder::get_safety`].
    pub const fn safety(mut self, safety: SafetyLevel) -> Self {
        self.safety = safety;
        self
    }
    /// The configured name.
    pub const fn get_name(&self) -> Option<&'static str> {
        self.name
    }
    /// The configured topology mode.
    pub const fn get_topology_mode(&self) -> TopologyMode {
        self.mode
    }
    /// The configured safety level.
    pub const fn get_safety(&self) -> SafetyLevel {
        self.safety
    }
    /// Sets the scheduling priority.
    pub const fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }
    /// Sets where the fiber may run.
    pub const fn affinity(mut self, a: Affinity) -> Self {
        self.affinity = a;
        self
    }
    /// Sets the workload kind (a scheduling hint).
    pub const fn kind(mut self, k: WorkloadKind) -> Self {
        self.kind = k;
        self
    }
    /// Stack bytes for this fiber (0: the runtime's default; rounded up to a size class; the
    /// runtime rejects sizes outside its classes with `InvalidArgument` when spawning).
    pub const fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
    /// Chooses the context switcher (one of the four [`ContextSwitcher`] types), keeping the
    /// other settings.
    pub const fn switcher<S2: ContextSwitcher>(self) -> SpawnBuilder<S2> {
        SpawnBuilder {
            name: self.name,
            priority: self.priority,
            affinity: self.affinity,
            kind: self.kind,
            mode: self.mode,
            safety: self.safety,
            stack_size: self.stack_size,
            _s: PhantomData,
        }
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

    /// The C spawn attributes. `pinned`: force the same-thread switcher and SameCore affinity.
    /// `InvalidArgument` if the stack size does not fit the C field.
    pub(super) fn attr(&self, pinned: bool) -> Result<sys::dtact_spawn_attr_t, Error> {
        let pinned = pinned || matches!(self.mode, TopologyMode::Pinned);
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
    /// favour of this builder's) on a new fiber and returns its [`JoinHandle`].
    ///
    /// # Panics
    /// If the spawn fails: no runtime exists, it is shutting down, no fiber record became free
    /// within 60 s, or the stack size is invalid (see [`SpawnBuilder::try_spawn`]).
    pub fn spawn<T: IntoTask>(self, task: T) -> JoinHandle<<T::Fut as Future>::Output>
    where
        T::Fut: Send + 'static,
        <T::Fut as Future>::Output: Send + 'static,
    {
        self.try_spawn(task).unwrap_or_else(|e| panic!("dtact::spawn: {e}"))
    }

    /// As [`SpawnBuilder::spawn`], returning the C error instead of panicking.
    ///
    /// # Errors
    /// [`Error::NotInitialized`] (no runtime), [`Error::Shutdown`] (the runtime is shutting down),
    /// [`Error::Exhausted`] (no fiber record became free within 60 s), [`Error::InvalidArgument`]
    /// (a stack size outside the runtime's classes). On error the future is dropped.
    pub fn try_spawn<T: IntoTask>(self, task: T) -> Result<JoinHandle<<T::Fut as Future>::Output>, Error>
    where
        T::Fut: Send + 'static,
        <T::Fut as Future>::Output: Send + 'static,
    {
        let (fut, _) = task.into_task();
        let attr = self.attr(false)?;
        spawn_raw(FutSource::Ready(fut), &attr, self.name)
    }

    /// Spawns a future that need not be `Send` on a fiber pinned to one worker thread (same-thread
    /// switcher, SameCore affinity). The future is built by `make` on that fiber, so it never
    /// crosses threads; only `make` (which is `Send`) and the output do.
    ///
    /// # Panics
    /// If the spawn fails, as [`SpawnBuilder::spawn`].
    pub fn spawn_pinned<M, F>(self, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let attr = self.attr(true).unwrap_or_else(|e| panic!("dtact::spawn_pinned: {e}"));
        spawn_raw::<Pinned<M, F>>(FutSource::Ready(Pinned::Make(Some(make))), &attr, self.name).unwrap_or_else(|e| panic!("dtact::spawn_pinned: {e}"))
    }
}

// ------------------------------------------------------------------ #[task] support

/// Something [`spawn`](fn@crate::spawn) accepts: any future (default settings) or a [`TaskFuture`]
/// (its own settings).
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
        (self, SpawnBuilder::<CrossThreadFloat>::new())
    }
}

/// A future made by a `#[dtact::task]` function, carrying that function's spawn settings.
/// `spawn(t)` / `spawn!(t)` honour them; `t.await` runs the body in place (it implements
/// `IntoFuture`, on Rust 1.64 and later; on older compilers write `t.into_inner().await`).
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
    /// Wraps a future with settings (what `#[task]` expands to).
    pub fn new(fut: F, settings: SpawnBuilder<S>) -> Self {
        TaskFuture { fut, settings }
    }
    /// The spawn settings.
    pub fn settings(&self) -> SpawnBuilder<S> {
        self.settings
    }
    /// The inner future, without its settings.
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

// `IntoFuture` is stable since Rust 1.64; build.rs sets `dtact_into_future` from that version on.
#[cfg(dtact_into_future)]
impl<F: Future, S: ContextSwitcher> std::future::IntoFuture for TaskFuture<F, S> {
    type Output = F::Output;
    type IntoFuture = F;
    fn into_future(self) -> F {
        self.fut
    }
}
