//! The public API of the original Dtact (the earlier Rust implementation whose API this crate
//! keeps), used the way its users used it: `Runtime::start`, `SpawnBuilder::<S>::new()` and its
//! `name` / `topology_mode` / `safety` setters, `TopologyMode::Pinned`, `fiber::spawn_with_stack`,
//! `yield_to_sync`, `config::set_deflection_threshold`, `topology::{current, current_core,
//! current_raw}`, `#[export_async]` / `#[export_fiber]`, `FiberStatus`, `dtact_await` on a
//! raw handle and on what `spawn` returns, and `wait()` on a plain thread. One test: the runtime
//! is process-global and this test builds it stopped.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtact::topology::{self, Affinity, CpuLevel};
use dtact::{
    config, dtact_await, dtact_handle_t, fiber, spawn, spawn_with, wait, yield_now, yield_to_sync, CrossThreadFloat,
    CrossThreadNoFloat, DtactWaitExt, FiberStatus, Runtime, SafetyLevel, SameThreadFloat, SameThreadNoFloat, SpawnBuilder,
    TopologyMode,
};

static EXPORTED_SUM: AtomicU64 = AtomicU64::new(0);
static EXPORTED_FIBER: AtomicU64 = AtomicU64::new(0);

#[dtact::export_async]
async fn add_later(a: u32, b: u32) {
    yield_now().await;
    EXPORTED_SUM.store(u64::from(a + b), Ordering::SeqCst);
}

#[dtact::export_fiber]
fn store_on_fiber(v: u64) {
    assert!(dtact::in_fiber());
    EXPORTED_FIBER.store(v, Ordering::SeqCst);
}

#[dtact::export_async]
#[dtact::task(priority = "High", kind = "IO")]
async fn task_export(v: u64) {
    EXPORTED_SUM.store(v, Ordering::SeqCst);
}

/// How C sees the exported symbols.
mod c_side {
    extern "C" {
        #[link_name = "dtact_export_add_later"]
        pub fn add_later(a: u32, b: u32) -> u64;
        #[link_name = "dtact_export_fiber_store_on_fiber"]
        pub fn store_on_fiber(v: u64) -> u64;
    }
}

/// An opaque identity (`std::hint::black_box` needs Rust 1.66; this crate supports 1.63).
#[inline(never)]
fn opaque<T>(x: T) -> T {
    x
}

/// Fills a stack buffer through a call the compiler cannot see through; returns its sum.
#[inline(never)]
fn fill(buf: &mut [u8]) -> u64 {
    buf.iter_mut().for_each(|b| *b = 1);
    buf.iter().map(|&b| u64::from(b)).sum()
}

/// The worker running a pinned task, before and after it yields.
async fn where_am_i() -> (Option<usize>, Option<usize>) {
    let a = dtact::current_worker();
    for _ in 0..20 {
        yield_now().await;
    }
    (a, dtact::current_worker())
}

#[test]
fn the_original_api() {
    // ---- Runtime::start (idempotent); spawns before it are queued
    let rt = Runtime::builder().workers(2).autostart(false).build().expect("runtime");
    let early = spawn(async { 1 + 1 });
    std::thread::sleep(Duration::from_millis(20));
    assert!(!early.is_finished(), "nothing runs before start");
    rt.start().expect("start");
    rt.start().expect("start is idempotent");
    assert_eq!(early.join().unwrap(), 2);

    // ---- dtact_await on a raw handle, on a JoinHandle, on a reference
    let h = spawn(async { 5 });
    let raw: dtact_handle_t = dtact::AsHandle::as_handle(&h);
    dtact_await(raw).unwrap();
    dtact_await(&h).unwrap();
    assert_eq!(h.join().unwrap(), 5);
    dtact_await(spawn(async {})).unwrap();

    // ---- SpawnBuilder::<S>::new() for every switcher, with every setter
    assert_eq!(SpawnBuilder::<CrossThreadFloat>::new().spawn(async { 1 }).join().unwrap(), 1);
    assert_eq!(SpawnBuilder::<CrossThreadNoFloat>::new().spawn(async { 2 }).join().unwrap(), 2);
    assert_eq!(SpawnBuilder::<SameThreadFloat>::new().spawn(async { 3 }).join().unwrap(), 3);
    assert_eq!(SpawnBuilder::<SameThreadNoFloat>::new().spawn(async { 4 }).join().unwrap(), 4);
    let b = SpawnBuilder::<CrossThreadFloat>::new()
        .name("pinned-worker")
        .topology_mode(TopologyMode::Pinned)
        .safety(SafetyLevel::Safety2)
        .affinity(Affinity::Any);
    assert_eq!(b.get_name(), Some("pinned-worker"));
    assert_eq!(b.get_safety(), SafetyLevel::Safety2);
    for _ in 0..4 {
        let (w0, w1) = b.spawn(where_am_i()).join().unwrap();
        assert!(w0.is_some());
        assert_eq!(w0, w1, "a Pinned task stays on its worker");
    }
    let global = spawn_with().topology_mode(TopologyMode::Global).safety(SafetyLevel::Safety0);
    assert_eq!(global.spawn(async { 7 }).join().unwrap(), 7);
    assert_eq!(Runtime::builder().topology(TopologyMode::Pinned).build().err(), Some(dtact::Error::Config));
    // the name is kept with the task
    let e = spawn_with()
        .name("named")
        .spawn(async {
            if opaque(true) {
                panic!("boom");
            }
        })
        .join()
        .unwrap_err();
    assert_eq!(e.name(), Some("named"));
    assert_eq!(e.to_string(), "task 'named' panicked: boom");

    // ---- fiber::spawn_with_stack: a synchronous closure on a fiber, stack as a string or bytes
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = ran.clone();
    let h = fiber::spawn_with_stack("256K", move || {
        assert!(dtact::in_fiber());
        ran2.store(true, Ordering::SeqCst);
    });
    dtact_await(h).unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(dtact::spawn_with_stack(64 * 1024, || 6 * 7).join().unwrap(), 42);
    // a big local array needs the big stack
    let h = fiber::spawn_with_stack("2M", || {
        let mut buf = [0u8; 1 << 20];
        fill(&mut buf)
    });
    assert_eq!(h.join().unwrap(), 1 << 20);

    // ---- yield_to_sync: makes a parked fiber runnable (from a fiber and from a thread)
    let parked = fiber::spawn_with_stack("64K", || {
        // SAFETY: dtact_park has no memory-safety preconditions; this runs on a fiber.
        unsafe { dtact::sys::dtact_park(-1) }
    });
    let target = dtact::AsHandle::as_handle(&parked);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(dtact::status(&parked).unwrap(), FiberStatus::Yielded);
    let waker = fiber::spawn_with_stack("64K", move || yield_to_sync(target));
    waker.join().unwrap().unwrap();
    assert_eq!(parked.join().unwrap(), 0, "the parked fiber was unparked");
    // the output is ready a moment before the fiber itself has finished: await the fiber
    dtact_await(target).unwrap();
    assert_eq!(dtact::status(target).unwrap(), FiberStatus::Finished);
    assert!(yield_to_sync(target).is_ok(), "a finished target is ignored; on a thread it yields the thread");
    assert!(yield_to_sync(dtact_handle_t::INVALID).is_err());
    let me = spawn(async { dtact::status(dtact::current().unwrap()).unwrap() });
    assert_eq!(me.join().unwrap(), FiberStatus::Running);
    assert!(dtact::yield_to(dtact_handle_t::INVALID).wait().is_err());

    // ---- config::set_deflection_threshold, on the original's 0..100 scale
    config::set_deflection_threshold(0, 90).unwrap();
    dtact::set_deflection_threshold(1, 80).unwrap();
    assert!(config::set_deflection_threshold(99, 80).is_err(), "no such worker");
    assert_eq!(config::deflection_queue_length(80), 256);
    assert_eq!(config::deflection_queue_length(40), 128);
    assert_eq!(config::deflection_queue_length(100), 320);
    assert_eq!(config::deflection_queue_length(0), 32);
    assert_eq!(spawn(async { 1 }).join().unwrap(), 1, "still scheduling");

    // ---- topology: the caller's CPU, on a thread and in a task
    let c: CpuLevel = topology::current();
    let raw = topology::current_raw();
    let _core: u16 = topology::current_core();
    if let Some(cpu) = topology::current_cpu() {
        assert!(cpu < 65536);
        // the groups of one CPU do not change
        let again = loop {
            let (a, b) = (topology::current(), topology::current_raw());
            if a.core_id == b.core_id {
                break (a, b);
            }
        };
        assert_eq!((again.0.ccx_id, again.0.numa_id), (again.1.ccx_id, again.1.numa_id));
    }
    println!("host thread CPU: {:?} (raw {:?})", c, raw);
    let in_task = spawn(async { topology::current() }).join().unwrap();
    println!("task CPU: {:?}", in_task);

    // ---- #[export_async] / #[export_fiber]: C entry points returning fiber handles
    let h = dtact_export_add_later(2, 3);
    assert!(h.is_valid());
    dtact_await(h).unwrap();
    assert_eq!(EXPORTED_SUM.load(Ordering::SeqCst), 5);
    // SAFETY: the symbol is the extern "C" fn made by #[export_async] for add_later(u32, u32),
    // whose handle type is a transparent u64.
    let h = unsafe { c_side::add_later(20, 22) };
    dtact_await(dtact_handle_t(h)).unwrap();
    assert_eq!(EXPORTED_SUM.load(Ordering::SeqCst), 42);
    // SAFETY: as above, for #[export_fiber] store_on_fiber(u64).
    let h = unsafe { c_side::store_on_fiber(99) };
    dtact_await(dtact_handle_t(h)).unwrap();
    assert_eq!(EXPORTED_FIBER.load(Ordering::SeqCst), 99);
    dtact_await(dtact_export_fiber_store_on_fiber(100)).unwrap();
    assert_eq!(EXPORTED_FIBER.load(Ordering::SeqCst), 100);
    dtact_await(dtact_export_task_export(7)).unwrap();
    assert_eq!(EXPORTED_SUM.load(Ordering::SeqCst), 7);

    // ---- wait() on a plain thread blocks the thread (the original panicked)
    assert_eq!(wait(async { 3 }), 3);
    let from_thread = std::thread::spawn(|| wait(spawn(async { 4 })).unwrap()).join().unwrap();
    assert_eq!(from_thread, 4);
    let t0 = Instant::now();
    let slow = spawn(async {
        dtact::sleep(Duration::from_millis(30)).unwrap();
        8
    });
    assert_eq!(slow.wait().unwrap(), 8);
    assert!(t0.elapsed() >= Duration::from_millis(30));

    // ---- the statistic the original exported
    let _ = dtact::HEAP_ESCAPED_SPAWNS.load(Ordering::Relaxed);

    // ---- after shutdown the exports report failure instead of panicking across C
    drop(rt);
    assert_eq!(dtact_export_add_later(1, 1), dtact_handle_t::INVALID);
}
