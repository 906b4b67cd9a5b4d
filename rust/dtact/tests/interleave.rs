//! yield_now really yields: two tasks on ONE worker alternate. Own process (own runtime).
use std::sync::{Arc, Mutex};

#[test]
fn two_tasks_on_one_worker_alternate() {
    let rt = dtact::Runtime::builder().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (la, lb) = (log.clone(), log.clone());
    rt.block_on(async move {
        // spawn both from one task so they are queued together on the single worker
        let root = dtact::spawn(async move {
            let a = dtact::spawn(async move {
                for _ in 0..5 {
                    la.lock().unwrap().push('A');
                    dtact::yield_now().await;
                }
            });
            let b = dtact::spawn(async move {
                for _ in 0..5 {
                    lb.lock().unwrap().push('B');
                    dtact::yield_now().await;
                }
            });
            a.await.unwrap();
            b.await.unwrap();
        });
        root.await.unwrap();
    });
    let s = log.lock().unwrap().clone();
    // strictly alternating (ABAB... or BABA..., depending on which one the worker runs first), never AAAAABBBBB
    assert!(s == "ABABABABAB" || s == "BABABABABA", "yield_now must put the fiber behind the other ready fiber: {s}");
    drop(rt);
}
