//! A yield is a suspension point: `abort()` of a task that loops on `yield_now().await` takes
//! effect at its next yield, and dropping the runtime with such a task running returns. One
//! test (the runtime is process-global and this test drops it).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use dtact::{spawn, yield_now, Runtime};

/// Sets its flag when dropped (the task's future was dropped).
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Spawns a task that counts its yields forever; returns its handle, counter and drop flag.
fn spawn_yield_loop() -> (dtact::JoinHandle<()>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let n = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (n2, guard) = (n.clone(), DropFlag(dropped.clone()));
    let h = spawn(async move {
        let _guard = guard;
        loop {
            n2.fetch_add(1, Ordering::Relaxed);
            yield_now().await;
        }
    });
    (h, n, dropped)
}

fn wait_for(n: &AtomicUsize, at_least: usize) {
    let t0 = Instant::now();
    while n.load(Ordering::Relaxed) < at_least {
        assert!(t0.elapsed() < Duration::from_secs(10), "the task does not run");
        std::thread::yield_now();
    }
}

/// Runs `f` on a helper thread; panics if it does not return within `limit`.
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{} did not return within {:?}", what, limit))
}

#[test]
fn abort_and_shutdown_take_effect_at_yields() {
    let rt = Runtime::builder().workers(2).build().expect("runtime");

    // abort + join of a yield-looping task
    let (h, n, dropped) = spawn_yield_loop();
    wait_for(&n, 100);
    let t0 = Instant::now();
    h.abort();
    let r = within(Duration::from_secs(10), "join after abort", move || h.join());
    let took = t0.elapsed();
    let e = r.expect_err("an aborted task has no output");
    assert!(e.is_cancelled(), "{:?}", e);
    assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
    assert!(took < Duration::from_millis(500), "abort took {:?}", took);
    let after = n.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(n.load(Ordering::Relaxed), after, "the task stopped");

    // the same from a task awaiting the handle
    let (h, n, _) = spawn_yield_loop();
    wait_for(&n, 10);
    let joined = spawn(async move {
        h.abort();
        h.await.map_err(|e| e.is_cancelled())
    });
    assert_eq!(within(Duration::from_secs(10), "awaited abort", move || joined.join().unwrap()), Err(true));

    // dropping the runtime with yield-looping tasks running returns
    let loops: Vec<_> = (0..4).map(|_| spawn_yield_loop()).collect();
    for (_, n, _) in &loops {
        wait_for(n, 10);
    }
    let t0 = Instant::now();
    within(Duration::from_secs(10), "dropping the runtime", move || drop(rt));
    assert!(t0.elapsed() < Duration::from_secs(1), "shutdown took {:?}", t0.elapsed());
    for (h, _, dropped) in loops {
        assert!(dropped.load(Ordering::SeqCst), "the future was dropped at shutdown");
        let e = h.join().expect_err("cancelled at shutdown");
        assert!(e.is_cancelled());
    }
}
