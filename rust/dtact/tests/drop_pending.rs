//! A runtime dropped with tasks still pending: no leak (every future is dropped exactly once),
//! no crash, joiners see cancellation; then a new runtime can be built. Own process.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

static DROPS: AtomicUsize = AtomicUsize::new(0);
struct Tracked;
impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}
struct Never;
impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn drop_runtime_with_pending_and_queued_tasks() {
    let rt = dtact::Runtime::builder().workers(1).build().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    // 20 tasks that start and then wait forever
    let mut pending = Vec::new();
    for _ in 0..20 {
        let t = Tracked;
        let s = started.clone();
        pending.push(dtact::spawn(async move {
            let _t = t;
            s.fetch_add(1, Ordering::SeqCst);
            Never.await;
        }));
    }
    while started.load(Ordering::SeqCst) < 20 {
        std::thread::yield_now();
    }
    // block the only worker, then queue 30 tasks that never start
    let blocker = dtact::spawn(async { std::thread::sleep(std::time::Duration::from_millis(200)) });
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut queued = Vec::new();
    for _ in 0..30 {
        let t = Tracked;
        queued.push(dtact::spawn(async move {
            let _t = t;
            unreachable!("a queued task must be cancelled at shutdown");
        }));
    }
    drop(rt);
    assert_eq!(DROPS.load(Ordering::SeqCst), 50, "every future dropped exactly once");
    for h in pending.into_iter().chain(queued) {
        assert!(h.is_finished());
        assert!(h.join().unwrap_err().is_cancelled());
    }
    assert!(blocker.join().is_ok());
    // spawning without a runtime is an error, and a new runtime can be created
    assert_eq!(dtact::try_spawn(async {}).unwrap_err(), dtact::Error::NotInitialized);
    let rt2 = dtact::Runtime::builder().workers(2).build().unwrap();
    assert_eq!(rt2.block_on(dtact::spawn(async { 5 })).unwrap(), 5);
}
