//! The process-wide runtime.
use std::ffi::c_void;
use std::future::Future;

use dtact_sys as sys;

use crate::error::{check, Error};
use crate::fiber;

/// Load distribution (`dtact_config_t.mTopologyMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TopologyMode {
    /// The P2P mesh (the default).
    #[default]
    P2PMesh = 0,
    /// Global: deflect on load alone, ignore cache groups.
    Global = 1,
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
#[derive(Clone, Copy, Debug, Default)]
pub struct Builder {
    workers: u32,
    capacity: u32,
    stack_size: usize,
    safety: SafetyLevel,
    topology: TopologyMode,
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
    /// Load distribution mode.
    pub fn topology(mut self, t: TopologyMode) -> Self {
        self.topology = t;
        self
    }
    /// Creates the runtime (`dtact_init`) and starts its workers (`dtact_start`, non-blocking).
    /// The C runtime is process-global: while another `Runtime` (or a C-created runtime) is
    /// alive this fails with [`Error::AlreadyInitialized`].
    pub fn build(self) -> Result<Runtime, Error> {
        let mut cfg = unsafe { sys::dtact_default_config() };
        cfg.mWorkers = self.workers;
        cfg.mFiberCapacity = self.capacity;
        cfg.mStackSize = u32::try_from(self.stack_size).map_err(|_| Error::Config)?;
        cfg.mSafetyLevel = self.safety as u8;
        cfg.mTopologyMode = self.topology as u8;
        let rt = unsafe { sys::dtact_init(&cfg) };
        if rt.is_null() {
            return Err(Error::last());
        }
        if let Err(e) = check(unsafe { sys::dtact_start(rt) }) {
            unsafe { sys::dtact_destroy(rt) };
            return Err(e);
        }
        Ok(Runtime { rt })
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

// SAFETY: every C function taking the runtime is thread-safe.
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

impl Runtime {
    /// A builder with every default.
    pub fn builder() -> Builder {
        Builder::default()
    }
    /// A runtime with every default.
    pub fn new() -> Result<Runtime, Error> {
        Builder::default().build()
    }
    /// Runs `fut` to completion on the calling thread (parking the thread while it is pending;
    /// spawned tasks run on the workers) and returns its output. Called on a fiber it drives the
    /// future on that fiber ([`crate::wait`]). The future need not be `Send`.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        fiber::wait(fut)
    }
    /// Summed runtime statistics.
    pub fn stats(&self) -> Result<sys::dtact_stats_t, Error> {
        let mut s: sys::dtact_stats_t = unsafe { std::mem::zeroed() };
        check(unsafe { sys::dtact_get_stats(self.rt, &mut s) })?;
        Ok(s)
    }
    /// The raw C runtime pointer (for C code sharing this runtime).
    pub fn as_raw(&self) -> *mut c_void {
        self.rt
    }
    /// Asks the runtime to stop (`dtact_shutdown`); `drop` then frees it.
    pub fn shutdown(&self) {
        unsafe { sys::dtact_shutdown() };
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        unsafe {
            sys::dtact_shutdown();
            sys::dtact_destroy(self.rt);
        }
        // The workers have exited (and freed their cached join-cell blocks): free the rest.
        crate::pool::clear();
    }
}
