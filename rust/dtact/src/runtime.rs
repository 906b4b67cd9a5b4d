//! The process-wide runtime.
use std::ffi::c_void;
use std::future::Future;

use dtact_sys as sys;

use crate::error::{check, Error};
use crate::fiber;

/// Load distribution: runtime-wide (`dtact_config_t.mTopologyMode`, [`Builder::topology`]) or,
/// for `Pinned`, per spawn ([`SpawnBuilder::topology_mode`](crate::SpawnBuilder::topology_mode)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TopologyMode {
    /// The P2P mesh (the default).
    #[default]
    P2PMesh = 0,
    /// Global: deflect on load alone, ignore cache groups.
    Global = 1,
    /// Per spawn only: the fiber stays on the worker it is first queued on. Not a runtime mode
    /// ([`Builder::build`] rejects it with [`Error::Config`]).
    Pinned = 2,
}

/// Stack protection (`dtact_config_t.mSafetyLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SafetyLevel {
    /// A canary only.
    Safety0 = 0,
    /// A guard page below every stack while the process's map budget allows, a canary beyond (the default).
    #[default]
    Safety1 = 1,
    /// As Safety1.
    Safety2 = 2,
}

/// Builds a [`Runtime`]; every knob is a field of the C `dtact_config_t` (0 = the C default).
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    workers: u32,
    capacity: u32,
    stack_size: usize,
    safety: SafetyLevel,
    topology: TopologyMode,
    autostart: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: 0,
            capacity: 0,
            stack_size: 0,
            safety: SafetyLevel::default(),
            topology: TopologyMode::default(),
            autostart: true,
        }
    }
}

impl Builder {
    /// Worker threads (0 = one per online CPU; at most 1024).
    pub fn workers(mut self, n: u32) -> Self {
        self.workers = n;
        self
    }
    /// Maximum live fibers (0 = 65536; at most 16777215).
    pub fn capacity(mut self, n: u32) -> Self {
        self.capacity = n;
        self
    }
    /// Default stack bytes (0 = 256 KiB; 16 KiB ..= 64 MiB).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
    /// Stack protection.
    pub fn safety(mut self, s: SafetyLevel) -> Self {
        self.safety = s;
        self
    }
    /// Load distribution mode (P2PMesh or Global; Pinned is a per-spawn mode and makes
    /// [`Builder::build`] fail with [`Error::Config`]).
    pub fn topology(mut self, t: TopologyMode) -> Self {
        self.topology = t;
        self
    }
    /// Whether [`Builder::build`] starts the worker threads (the default, `true`). With `false`
    /// the runtime is built stopped: spawns are queued until [`Runtime::start`] (as in the
    /// original Dtact, whose workers started in `Runtime::start`).
    pub fn autostart(mut self, start: bool) -> Self {
        self.autostart = start;
        self
    }
    /// Creates the runtime (`dtact_init`) and, unless [`Builder::autostart`] is off, starts its
    /// workers (`dtact_start`, non-blocking). The workers are threads named `dtact-worker-<i>`.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`] while another `Runtime` (or a C-created runtime) is alive:
    /// the C runtime is process-global. [`Error::Config`] for a value out of range (see each
    /// setter) or topology `Pinned`, [`Error::OutOfMemory`], or [`Error::System`] if the worker
    /// threads cannot be started.
    pub fn build(self) -> Result<Runtime, Error> {
        if self.topology == TopologyMode::Pinned {
            return Err(Error::Config);
        }
        // SAFETY: dtact_default_config is pure and has no preconditions.
        let mut cfg = unsafe { sys::dtact_default_config() };
        cfg.mWorkers = self.workers;
        cfg.mFiberCapacity = self.capacity;
        cfg.mStackSize = u32::try_from(self.stack_size).map_err(|_| Error::Config)?;
        cfg.mSafetyLevel = self.safety as u8;
        cfg.mTopologyMode = self.topology as u8;
        // SAFETY: `cfg` is a valid, initialised config that outlives the call (read only).
        let rt = unsafe { sys::dtact_init(&cfg) };
        if rt.is_null() {
            return Err(Error::last());
        }
        let rt = Runtime { rt };
        if self.autostart {
            // On failure `rt` is dropped, which destroys the C runtime (dtact_destroy).
            rt.start()?;
        }
        Ok(rt)
    }
}

/// The Dtact runtime: owns the process-wide C runtime. Dropping it shuts the runtime down
/// (`dtact_shutdown`: queued tasks are cancelled and their futures dropped; running tasks are
/// dropped at their next suspension) and frees it (`dtact_destroy`, which waits for the workers).
/// Drop it on a host thread, not on a fiber.
#[derive(Debug)]
pub struct Runtime {
    rt: *mut c_void,
}

// SAFETY: the pointer is only passed to C functions, which are thread-safe and do not care which
// thread calls them (dtact_destroy, called by drop, only needs a host thread, not a given one).
unsafe impl Send for Runtime {}
// SAFETY: every C function reachable through &Runtime (dtact_get_stats, dtact_shutdown) is
// thread-safe; as_raw only copies the pointer.
unsafe impl Sync for Runtime {}

impl Runtime {
    /// A builder with every default.
    pub fn builder() -> Builder {
        Builder::default()
    }
    /// A runtime with every default (`Runtime::builder().build()`).
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new() -> Result<Runtime, Error> {
        Builder::default().build()
    }
    /// Starts the worker threads (`dtact_start`, non-blocking) if they are not running yet: a
    /// runtime built with [`Builder::autostart`]`(false)` runs nothing until this is called.
    /// Idempotent, as the original Dtact's `Runtime::start`: calling it on a started runtime
    /// does nothing and returns `Ok`. The workers are threads named `dtact-worker-<i>`.
    ///
    /// # Errors
    /// [`Error::System`] if the threads cannot be created (the partial start is undone),
    /// [`Error::Shutdown`] after [`Runtime::shutdown`].
    pub fn start(&self) -> Result<(), Error> {
        // SAFETY: `self.rt` is the live runtime (freed only by drop); dtact_start is thread-safe
        // and returns EALREADY if the workers were started already.
        match check(unsafe { sys::dtact_start(self.rt) }) {
            Err(Error::AlreadyInitialized) => Ok(()),
            r => r,
        }
    }
    /// Runs `fut` to completion on the calling thread (parking the thread while it is pending;
    /// spawned tasks run on the workers) and returns its output. Called on a fiber it drives the
    /// future on that fiber ([`crate::wait`]). The future need not be `Send`.
    ///
    /// # Panics
    /// If the future panics (the panic propagates), or, called on a fiber, if the runtime shuts
    /// down while the future is still pending (as [`crate::wait`]).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        fiber::wait(fut)
    }
    /// Runtime statistics, summed over the workers (`dtact_get_stats`; read racily).
    ///
    /// # Errors
    /// [`Error::NotInitialized`] or [`Error::InvalidArgument`] if the C runtime was destroyed
    /// behind this `Runtime`'s back.
    pub fn stats(&self) -> Result<sys::dtact_stats_t, Error> {
        // SAFETY: dtact_stats_t is a C struct of integers only, for which all-zero bytes are a
        // valid value.
        let mut s: sys::dtact_stats_t = unsafe { std::mem::zeroed() };
        // SAFETY: `self.rt` is the live runtime (freed only by drop) and `s` is a valid, writable
        // dtact_stats_t for the duration of the call.
        check(unsafe { sys::dtact_get_stats(self.rt, &mut s) })?;
        Ok(s)
    }
    /// The raw C runtime pointer (for C code sharing this runtime).
    pub fn as_raw(&self) -> *mut c_void {
        self.rt
    }
    /// Asks the runtime to stop (`dtact_shutdown`); `drop` then frees it.
    pub fn shutdown(&self) {
        // SAFETY: dtact_shutdown has no preconditions (idempotent, callable from any thread).
        unsafe { sys::dtact_shutdown() };
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: dtact_shutdown has no preconditions; `self.rt` is the live runtime this value
        // owns, destroyed once, here, and never used again (the caller is a host thread, as the
        // type's documentation requires; on a fiber dtact_destroy returns EPERM and frees
        // nothing).
        unsafe {
            sys::dtact_shutdown();
            sys::dtact_destroy(self.rt);
        }
        // The workers have exited (and freed their cached join-cell blocks): free the rest.
        crate::pool::clear();
    }
}

/// What `#[dtact::main] async fn` expands to: runs the future built by `make` as a task on a
/// fiber pinned to one worker and blocks the calling thread until it finishes; returns its
/// output, or resumes its panic on this thread. Not a public API.
///
/// # Panics
/// If the task panicked (the panic is resumed), or it was cancelled (the runtime shut down
/// under it), or no runtime exists.
#[doc(hidden)]
pub fn __run_main_on_fiber<M, F>(make: M) -> F::Output
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    match crate::spawn_pinned(make).join() {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("dtact::main: the main task did not finish: {}", e),
        },
    }
}
