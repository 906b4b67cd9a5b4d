//! Spawn options: scheduling priority, affinity, workload kind and the context switcher. Each is
//! a plain value passed to the C runtime in `dtact_spawn_options_t` (see docs/scheduler.md for
//! what the scheduler does with them).

/// Scheduling priority (`DTACT_PRIORITY_*`). A worker dispatches its ready fibers highest
/// priority first, with a periodic turn for the lowest non-empty priority so that nothing
/// starves (see docs/scheduler.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Priority {
    /// `DTACT_PRIORITY_LOW`: dispatched after every higher priority (but never starved).
    Low = 0,
    /// `DTACT_PRIORITY_NORMAL` (the default).
    #[default]
    Normal = 1,
    /// `DTACT_PRIORITY_HIGH`.
    High = 2,
    /// `DTACT_PRIORITY_CRITICAL`: dispatched before every other priority, and never moved off
    /// the worker it was first queued on.
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
    /// `DTACT_KIND_COMPUTE`: CPU-bound work (the default); deflected to other workers first.
    #[default]
    Compute = 0,
    /// `DTACT_KIND_IO`: mostly waits on I/O; stays on its worker.
    IO = 1,
    /// `DTACT_KIND_MEMORY`: memory-bound work; deflected to other workers first.
    Memory = 2,
    /// `DTACT_KIND_SYSTEM`: runtime or system housekeeping; stays on its worker.
    System = 3,
}

mod sealed {
    /// Keeps [`ContextSwitcher`](super::ContextSwitcher) implemented by this module's four
    /// switchers only.
    pub trait Sealed {}
}

/// A context-switch variant (sealed: implemented by [`CrossThreadFloat`], [`CrossThreadNoFloat`],
/// [`SameThreadFloat`] and [`SameThreadNoFloat`] only). Chosen per spawn with
/// [`SpawnBuilder::switcher`](crate::SpawnBuilder::switcher) or `#[task(switcher = "...")]`.
pub trait ContextSwitcher: sealed::Sealed + Copy + Default + Send + Sync + 'static {
    /// The C `DTACT_SWITCHER_*` value of this variant.
    const CODE: u8;
    /// Whether the fiber is pinned to one worker thread.
    const SAME_THREAD: bool;
    /// The same-thread variant with the same FP behaviour (used by
    /// [`spawn_pinned`](crate::spawn_pinned)).
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
