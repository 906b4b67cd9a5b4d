//! # dtact: Rust futures on Dtact's stackful fibers
//!
//! Every spawned future runs on its own fiber of the C runtime (`ffi/include/dtact.h`). The future
//! is moved once, into memory the task owns, polled there in place (pinned for free) and dropped
//! there. The join state (output, panic payload or cancellation, and the awaiting task's waker)
//! lives in one small cell shared by the task and its [`JoinHandle`] (one word): one state word,
//! one atomic operation on the task's side and none on the handle's when the task finishes before
//! it is awaited (an await of a finished task never parks). The small future of an unnamed task (up
//! to 96 bytes, 16-byte aligned at most, its output up to about 88) is moved into that cell, in the
//! slot where its output goes once it is dropped, so a task is one block of 64 or 128 bytes; a
//! larger one goes onto the top of the fiber's own stack (`dtact_spawn_inline`); futures over 8 KiB
//! (or over a quarter of the stack) are boxed and counted in [`HEAP_ESCAPED_SPAWNS`]. The cells
//! come from a cache kept by the worker threads (at most 64 MiB, freed when the [`Runtime`] is
//! dropped), so spawning needs no allocator call in the steady state.
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
//! ## Synchronisation and time
//! [`sync`] has tokio's primitives (`Mutex`, `RwLock`, `Semaphore`, `Notify`, `Barrier`,
//! `OnceCell`, channels `mpsc`, `oneshot`, `broadcast`, `watch`) and [`time`] tokio's timers
//! (`sleep`, `interval`, `timeout`); waiting suspends only the task. A task's `sleep` needs no
//! timer thread: its runner parks the fiber with a timeout. [`timer`] keeps the original Dtact's
//! names for the timers.
//!
//! ## The process-global runtime and TLS
//! The C runtime is process-wide: one live [`Runtime`] at a time (a second `build()` returns
//! [`Error::AlreadyInitialized`]). Tasks spawned with a cross-thread switcher may resume on
//! another worker thread after any suspension, including inside `yield_now().await`, `wait()`
//! and `dtact_await()`: do not hold references to thread-locals across those calls. Use
//! [`spawn_pinned`] for `!Send` futures (pinned fiber, same-thread switcher).
//!
//! ## Blocking sockets
//! [`net`] has std-shaped blocking sockets (`TcpListener`, `TcpStream`, `UdpSocket`, the Unix
//! sockets) for synchronous code: on a fiber a socket that is not ready suspends only the fiber
//! (the runtime's readiness reactor, `dtact_wait_fd`); on a plain thread it blocks the thread.
//! The async sockets are in the `dtact-util` crate.
//!
//! ## Shutdown and abort
//! Dropping the runtime cancels tasks that never started (their futures are dropped, their
//! joiners get a cancelled [`JoinError`]) and drops running tasks at their next suspension point.
//! [`JoinHandle::abort`] does the same for one task. Every `.await` that suspends is such a
//! point, and so is every `yield_now().await`, so a task that loops on `yield_now()` is
//! cancelled at its next yield.
//!
//! ## Code written for the original Dtact
//! Programs written against the original Dtact (the earlier Rust implementation whose API this
//! crate keeps) compile unchanged; `examples/original_readme.rs` is its README's example
//! pattern. The differences: spawns return a [`JoinHandle<T>`] instead of a raw
//! [`dtact_handle_t`], and every call that took a handle ([`dtact_await`], [`yield_to`],
//! [`yield_to_sync`], [`is_finished`], ...) accepts either ([`AsHandle`]); calls that returned
//! nothing now return a `Result` (an unused one is a warning, not an error); [`wait`] on a plain
//! thread blocks it instead of panicking; `SpawnBuilder::new()` is generic over the switcher as
//! in the original (use [`spawn_with`] for the default). Worker threads are named
//! `dtact-worker-<i>` by the C runtime (visible to the OS, e.g. in `/proc/<pid>/task/*/comm`
//! and debuggers); Rust's `std::thread::current().name()` does not see that name inside a
//! task, because the threads were not created by `std::thread`.
//!
//! ## Compiler support
//! Rust 1.63 and later. `TaskFuture: IntoFuture` (awaiting a `#[task]` call in place) needs
//! Rust 1.64; on 1.63 write `t.into_inner().await`.
//!
//! ## Macros
//! `#[dtact::task(...)]` and `#[dtact::main(...)]` (also spelled `#[dtact::dtact_init(...)]`)
//! reject unknown keys and bad values at compile time:
//! ```compile_fail
//! #[dtact::task(threads = 4)]
//! async fn t() {}
//! ```
//! ```compile_fail
//! #[dtact::task(capacity = "lots")]
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

pub mod config;
mod error;
pub mod fiber;
#[cfg(target_os = "linux")]
pub mod net;
mod pool;
mod runtime;
pub mod sync;
mod task;
pub mod time;
pub mod timer;
pub mod topology;

pub use dtact_macros::{dtact_init, export_async, export_fiber, main, task};
pub use dtact_sys as sys;

pub use config::set_deflection_threshold;
pub use error::Error;
pub use fiber::{
    current, current_worker, dtact_await, dtact_handle_t, dtact_wait, fiber_waker, in_fiber, is_finished, sleep,
    spawn_with_stack, status, unpark, wait, yield_now, yield_to, yield_to_async, yield_to_sync, AsHandle, DtactWaitExt,
    FiberStatus, StackSize, YieldNow, YieldTo,
};
#[doc(hidden)]
pub use runtime::__run_main_on_fiber;
pub use runtime::{Builder, Runtime, SafetyLevel, TopologyMode};
pub use task::{
    spawn, spawn_local, spawn_pinned, spawn_with, try_spawn, Affinity, ContextSwitcher, CrossThreadFloat, CrossThreadNoFloat,
    IntoTask, JoinError, JoinHandle, Priority, SameThreadFloat, SameThreadNoFloat, SpawnBuilder, TaskFuture, WorkloadKind,
    HEAP_ESCAPED_SPAWNS,
};
