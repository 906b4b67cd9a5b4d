//! # dtact: Rust futures on Dtact's stackful fibers
//!
//! Every spawned future runs on its own fiber of the C runtime (`ffi/include/dtact.h`). The
//! future is moved once onto the top of the fiber's own stack (`dtact_spawn_inline`), polled
//! there in place (pinned for free) and dropped there: no heap allocation for the future itself.
//! Futures over 8 KiB (or over a quarter of the stack) are boxed and counted in
//! [`HEAP_ESCAPED_SPAWNS`]. The join state (output, panic payload or cancellation, and the
//! awaiting task's waker) lives in one small cell shared by the task and its [`JoinHandle`] (one
//! word): one state word, one atomic operation on the task's side and none on the handle's when
//! the task finishes before it is awaited (an await of a finished task never parks). The cells
//! of small outputs come from a cache kept by the worker threads (at most 64 MiB, freed when the
//! [`Runtime`] is dropped), so spawning needs no allocator call in the steady state.
//!
//! The waker of a task is its fiber handle (no allocation): a pending task parks its fiber
//! (`dtact_park`) and a wake unparks it (`dtact_unpark`); a late wake after completion is a no-op.
//! Panics are caught on the fiber and returned as [`JoinError`]s; they never cross into C.
//!
//! ```no_run
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! let v = rt.block_on(async {
//!     let h = dtact::spawn(async { 6 * 7 });
//!     h.await.unwrap()
//! });
//! assert_eq!(v, 42);
//! ```
//!
//! ## The process-global runtime and TLS
//! The C runtime is process-wide: one live [`Runtime`] at a time (a second `build()` returns
//! [`Error::AlreadyInitialized`]). Tasks spawned with a cross-thread switcher may resume on
//! another worker thread after any suspension, including inside `yield_now().await`, `wait()`
//! and `dtact_await()`: do not hold references to thread-locals across those calls. Use
//! [`spawn_pinned`] for `!Send` futures (pinned fiber, same-thread switcher).
//!
//! ## Shutdown
//! Dropping the runtime cancels tasks that never started (their futures are dropped, their
//! joiners get a cancelled [`JoinError`]) and drops running tasks at their next suspension point.
//!
//! ## Macros
//! `#[dtact::task(...)]` and `#[dtact::main(...)]` (also spelled `#[dtact::dtact_init(...)]`)
//! reject unknown keys and bad values at compile time:
//! ```compile_fail
//! #[dtact::task(capacity = "1024")]
//! async fn t() {}
//! ```
//! ```compile_fail
//! #[dtact::task(priority = "Urgent")]
//! async fn t() {}
//! ```
//! ```compile_fail
//! #[dtact::task(stack = "12Q")]
//! async fn t() {}
//! ```
//! ```compile_fail
//! #[dtact::task(switcher = "FastSwitch")]
//! async fn t() {}
//! ```
//! ```compile_fail
//! #[dtact::main(stack = "12Q")]
//! fn main() {}
//! ```
//! ```compile_fail
//! #[dtact::main(threads = 4)]
//! fn main() {}
//! ```
//! ```compile_fail
//! #[dtact::dtact_init(topology = "Pinned")]
//! fn main() {}
//! ```
//! ```compile_fail
//! #[dtact::main(workers = "lots")]
//! fn main() {}
//! ```
//! A correct use compiles:
//! ```no_run
//! #[dtact::task(priority = "High", kind = "Compute", affinity = "Any", stack = "256K", switcher = "CrossThreadNoFloat")]
//! async fn work(x: u64) -> u64 { x * 2 }
//! #[dtact::main(workers = 2, stack = "256K", capacity = "1024")]
//! async fn main() {
//!     assert_eq!(dtact::spawn(work(21)).await.unwrap(), 42);
//! }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

mod error;
mod fiber;
mod pool;
mod runtime;
mod task;

pub use dtact_macros::{dtact_init, main, task};
pub use dtact_sys as sys;

pub use error::Error;
pub use fiber::{
    current, current_worker, dtact_await, dtact_handle_t, dtact_wait, fiber_waker, in_fiber, is_finished, sleep, unpark,
    wait, yield_now, yield_to, yield_to_async, DtactWaitExt, YieldNow,
};
pub use runtime::{Builder, Runtime, SafetyLevel, TopologyMode};
pub use task::{
    spawn, spawn_local, spawn_pinned, spawn_with, topology, try_spawn, Affinity, ContextSwitcher, CrossThreadFloat,
    CrossThreadNoFloat, IntoTask, JoinError, JoinHandle, Priority, SameThreadFloat, SameThreadNoFloat, SpawnBuilder,
    TaskFuture, WorkloadKind, HEAP_ESCAPED_SPAWNS,
};
