//! Spawning futures on fibers, join handles and spawn options.
//!
//! The pieces, in the order a task meets them:
//!
//! - [`options`]: [`Priority`], [`Affinity`], [`WorkloadKind`] and the [`ContextSwitcher`]s.
//! - [`builder`]: [`SpawnBuilder`] (per-spawn options) and [`IntoTask`] / [`TaskFuture`] (what
//!   the spawn functions accept; `#[dtact::task]` functions return a `TaskFuture`).
//! - [`spawn`](self::spawn): the spawn functions and `spawn_raw`, which puts the task on a new
//!   fiber: its state (the future and a pointer to the join cell) is copied onto the fiber's own
//!   stack, or boxed when it does not fit.
//! - [`runner`]: the fiber side: the trampolines the C runtime calls, which drive the future in
//!   place, drop it in place and complete the join cell.
//! - [`join_cell`]: the cell shared by the task and its handle, and its single-state-word
//!   protocol (the state diagram is there).
//! - [`join_handle`]: [`JoinHandle`], the one-word handle side of the cell.
//! - [`join_error`]: [`JoinError`] (cancelled or panicked).
mod builder;
mod join_cell;
mod join_error;
mod join_handle;
mod options;
mod runner;
mod spawn;

pub use builder::{IntoTask, SpawnBuilder, TaskFuture};
pub use join_error::JoinError;
pub use join_handle::JoinHandle;
pub use options::{
    Affinity, ContextSwitcher, CrossThreadFloat, CrossThreadNoFloat, Priority, SameThreadFloat, SameThreadNoFloat,
    WorkloadKind,
};
pub use spawn::{spawn, spawn_local, spawn_pinned, spawn_with, try_spawn, HEAP_ESCAPED_SPAWNS};
