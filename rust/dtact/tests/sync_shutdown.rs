//! Dropping the runtime while tasks wait in `lock()`, `recv()`, `notified()`, `acquire()` and
//! `sleep()` returns promptly; their futures are dropped (waiters removed) and their joiners get
//! a cancelled `JoinError`. One test (it drops the process-global runtime).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use dtact::sync::{mpsc, Mutex, Notify, Semaphore};
use dtact::{spawn, Runtime};

struct Count(Arc<AtomicUsize>);
impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_drops_waiting_tasks() {
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let dropped = Arc::new(AtomicUsize::new(0));
    let m = Arc::new(Mutex::new(0));
    let guard = m.clone().try_lock_owned().unwrap();
    let (_tx, rx) = mpsc::channel::<u8>(1);
    let n = Arc::new(Notify::new());
    let sem = Arc::new(Semaphore::new(0));
    let mut hs = Vec::new();
    {
        let (m, c) = (m.clone(), Count(dropped.clone()));
        hs.push(spawn(async move {
            let _c = c;
            *m.lock().await += 1;
        }));
    }
    {
        let (mut rx, c) = (rx, Count(dropped.clone()));
        hs.push(spawn(async move {
            let _c = c;
            rx.recv().await;
        }));
    }
    {
        let (n, c) = (n.clone(), Count(dropped.clone()));
        hs.push(spawn(async move {
            let _c = c;
            n.notified().await;
        }));
    }
    {
        let (sem, c) = (sem.clone(), Count(dropped.clone()));
        hs.push(spawn(async move {
            let _c = c;
            let _p = sem.acquire().await;
        }));
    }
    for _ in 0..4 {
        let c = Count(dropped.clone());
        hs.push(spawn(async move {
            let _c = c;
            dtact::time::sleep(Duration::from_secs(3600)).await;
        }));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    let t0 = Instant::now();
    let (tx, done) = std_mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = tx.send(());
    });
    done.recv_timeout(Duration::from_secs(10)).expect("dropping the runtime did not return");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(dropped.load(Ordering::SeqCst), 8, "every waiting future was dropped");
    for h in hs {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    // the waiters were removed: the primitives are consistent
    drop(guard);
    assert_eq!(*m.try_lock().unwrap(), 0);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
    n.notify_one();
}
