//! The attribute macros. One #[test] drives every #[dtact::main] function in turn, since the
//! C runtime is process-global (one live runtime at a time).
use dtact::{Affinity, Priority, WorkloadKind};

#[dtact::task(priority = "High", kind = "Compute", affinity = "Any", stack = "256K", switcher = "CrossThreadNoFloat")]
async fn double(x: u64) -> u64 {
    dtact::yield_now().await;
    x * 2
}

#[dtact::task(affinity = "SameCore", switcher = "SameThreadFloat", kind = "IO", priority = "Low", stack = "64K")]
async fn pinned_worker() -> (Option<usize>, Option<usize>) {
    let a = dtact::current_worker();
    for _ in 0..10 {
        dtact::yield_now().await;
    }
    (a, dtact::current_worker())
}

#[dtact::task]
async fn plain() -> &'static str {
    "plain"
}

#[dtact::main(workers = 2, stack = "256K", capacity = "1024")]
async fn async_main() -> u64 {
    let a = dtact::spawn(double(21)).await.unwrap();
    let b = dtact::spawn!(double(1)).await.unwrap();
    #[cfg(dtact_into_future)]
    let c = double(5).await; // awaited in place (IntoFuture, Rust >= 1.64)
    #[cfg(not(dtact_into_future))]
    let c = dtact::spawn(double(5)).await.unwrap();
    let (w0, w1) = dtact::spawn(pinned_worker()).await.unwrap();
    assert_eq!(w0, w1);
    assert_eq!(dtact::spawn(plain()).await.unwrap(), "plain");
    a + b + c
}

#[dtact::dtact_init(workers = 1, capacity = 4096, stack = 65536, safety = "Safety0", topology = "Global", numa = 0)]
fn sync_main() -> usize {
    assert!(dtact::Runtime::builder().build().is_err(), "the runtime is live inside the fn");
    dtact::spawn(async { 7usize }).join().unwrap()
}

#[dtact::main]
fn early_return(x: i32) -> Result<i32, String> {
    if x < 0 {
        return Err("negative".into());
    }
    Ok(x)
}

#[test]
fn macros_build_run_and_drop_the_runtime() {
    assert_eq!(async_main(), 42 + 2 + 10);
    assert_eq!(sync_main(), 7);
    assert_eq!(early_return(-1), Err("negative".into()));
    assert_eq!(early_return(3), Ok(3));
    // each macro-built runtime was dropped: a new one can be built
    let rt = dtact::Runtime::builder().build().unwrap();
    drop(rt);
}

#[test]
fn task_metadata_is_exposed() {
    let s = double(1).settings();
    assert_eq!(s.get_priority(), Priority::High);
    assert_eq!(s.get_kind(), WorkloadKind::Compute);
    assert_eq!(s.get_affinity(), Affinity::Any);
    assert_eq!(s.get_stack_size(), 256 * 1024);
    assert_eq!(dtact_metadata_double::PRIORITY, Priority::High);
    assert_eq!(dtact_metadata_double::STACK_SIZE, 262144);
    assert_eq!(<dtact_metadata_double::SWITCHER as dtact::ContextSwitcher>::CODE, 1);
    assert_eq!(<dtact_metadata_pinned_worker::SWITCHER as dtact::ContextSwitcher>::CODE, 2);
    assert_eq!(dtact_metadata_pinned_worker::AFFINITY, Affinity::SameCore);
    assert_eq!(dtact_metadata_plain::STACK_SIZE, 0);
}
