//! dtact::sync channels and Notify: mpsc, oneshot, broadcast, watch. Every test in this binary
//! shares one runtime (3 workers), created once; the tests may run in parallel threads.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use dtact::sync::{broadcast, mpsc, oneshot, watch, Notify};
use dtact::{spawn, Runtime};

fn rt() -> &'static Runtime {
    static RT: std::sync::Mutex<Option<&'static Runtime>> = std::sync::Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(3).build().expect("runtime"))));
    }
    g.expect("set above")
}

fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{} did not return within {:?}", what, limit))
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn notify_ping_pong_no_lost_wakeups() {
    rt();
    const N: usize = 100_000;
    let ping = Arc::new(Notify::new());
    let pong = Arc::new(Notify::new());
    let (p1, q1) = (ping.clone(), pong.clone());
    let a = spawn(async move {
        for _ in 0..N {
            p1.notify_one();
            q1.notified().await;
        }
    });
    let (p2, q2) = (ping.clone(), pong.clone());
    let b = spawn(async move {
        for _ in 0..N {
            p2.notified().await;
            q2.notify_one();
        }
    });
    within(Duration::from_secs(60), "100k notify pairs", move || {
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn notify_waiters_wakes_all_created_before() {
    rt();
    let n = Arc::new(Notify::new());
    let woke = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..10)
        .map(|_| {
            let (n, woke) = (n.clone(), woke.clone());
            spawn(async move {
                n.notified().await;
                woke.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // the waiters register; notify_waiters stores no permit, so retry until all woke
    let t0 = Instant::now();
    while woke.load(Ordering::SeqCst) < 10 {
        n.notify_waiters();
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    for h in hs {
        h.join().unwrap();
    }
    // a Notified created before notify_waiters completes even if polled after
    let f = n.notified();
    n.notify_waiters();
    dtact::wait(f);
    // notify_one stores one permit
    n.notify_one();
    n.notify_one();
    dtact::wait(n.notified());
    let f = n.notified();
    assert!(dtact::wait(dtact::time::timeout(Duration::from_millis(20), f)).is_err(), "only one permit is stored");
}

#[test]
fn mpsc_order_across_tasks_and_threads() {
    rt();
    const PER: u64 = 20_000;
    let (tx, mut rx) = mpsc::channel::<(u64, u64)>(8);
    let mut hs = Vec::new();
    for p in 0..3u64 {
        let tx = tx.clone();
        hs.push(spawn(async move {
            for i in 0..PER {
                tx.send((p, i)).await.unwrap();
            }
        }));
    }
    let tx2 = tx.clone();
    let th = std::thread::spawn(move || {
        for i in 0..PER {
            tx2.blocking_send((3, i)).unwrap();
        }
    });
    drop(tx);
    let counts = within(Duration::from_secs(60), "mpsc receive", move || {
        let mut next = [0u64; 4];
        while let Some((p, i)) = rx.blocking_recv() {
            assert_eq!(i, next[p as usize], "per-sender order");
            next[p as usize] += 1;
        }
        next
    });
    assert_eq!(counts, [PER; 4]);
    for h in hs {
        h.join().unwrap();
    }
    th.join().unwrap();
}

#[test]
fn mpsc_close_semantics() {
    rt();
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    assert_eq!(tx.capacity(), 2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.capacity(), 0);
    assert!(matches!(tx.try_send(3), Err(mpsc::error::TrySendError::Full(3))));
    // a blocked sender is released by a receive
    let tx2 = tx.clone();
    let s = spawn(async move { tx2.send(3).await });
    std::thread::sleep(Duration::from_millis(10));
    assert!(!s.is_finished());
    assert_eq!(rx.blocking_recv(), Some(1));
    s.join().unwrap().unwrap();
    // close: sends fail, buffered messages still arrive, then None
    let tx3 = tx.clone();
    let closed = spawn(async move { tx3.closed().await });
    rx.close();
    assert!(tx.is_closed());
    closed.join().unwrap();
    assert_eq!(tx.try_send(9).unwrap_err(), mpsc::error::TrySendError::Closed(9));
    assert_eq!(dtact::wait(tx.send(9)).unwrap_err().0, 9);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
    assert_eq!(rx.blocking_recv(), None);
    // all senders dropped: None after the buffer
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Empty));
    let r = spawn(async move { rx.recv().await });
    std::thread::sleep(Duration::from_millis(10));
    drop(tx);
    assert_eq!(r.join().unwrap(), None::<i32>);
    // receiver dropped: send fails; blocked senders are released with an error
    let (tx, rx) = mpsc::channel::<u8>(1);
    tx.try_send(0).unwrap();
    let tx2 = tx.clone();
    let s = spawn(async move { tx2.send(1).await.map_err(|e| e.0) });
    std::thread::sleep(Duration::from_millis(10));
    drop(rx);
    assert_eq!(s.join().unwrap(), Err(1));
    // send_timeout
    let (tx, _rx) = mpsc::channel::<u8>(1);
    tx.try_send(0).unwrap();
    let t0 = Instant::now();
    let r = dtact::wait(tx.send_timeout(5, Duration::from_millis(30)));
    assert!(matches!(r, Err(mpsc::error::SendTimeoutError::Timeout(5))));
    assert!(t0.elapsed() >= Duration::from_millis(30));
}

#[test]
fn mpsc_unbounded_100k_recv_wakeups() {
    rt();
    const N: u64 = 100_000;
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let (back_tx, mut back_rx) = mpsc::unbounded_channel::<u64>();
    let echo = spawn(async move {
        while let Some(v) = rx.recv().await {
            back_tx.send(v).unwrap();
        }
    });
    let driver = spawn(async move {
        for i in 0..N {
            tx.send(i).unwrap();
            assert_eq!(back_rx.recv().await, Some(i));
        }
    });
    within(Duration::from_secs(60), "100k echoes", move || {
        driver.join().unwrap();
        echo.join().unwrap();
    });
}

#[test]
fn abort_of_task_blocked_in_recv_is_prompt() {
    rt();
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let h = spawn(async move {
        let _f = flag;
        rx.recv().await
    });
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    h.abort();
    let e = within(Duration::from_secs(10), "join after abort", move || h.join()).unwrap_err();
    assert!(e.is_cancelled());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(dropped.load(Ordering::SeqCst));
    assert!(tx.is_closed(), "the receiver was dropped with the task");
}

#[test]
fn oneshot_send_drop_close() {
    rt();
    let (tx, rx) = oneshot::channel();
    let h = spawn(rx);
    std::thread::sleep(Duration::from_millis(5));
    tx.send(String::from("x")).unwrap();
    assert_eq!(h.join().unwrap().unwrap(), "x");
    // sender dropped -> RecvError
    let (tx, rx) = oneshot::channel::<u8>();
    let h = spawn(rx);
    std::thread::sleep(Duration::from_millis(5));
    drop(tx);
    assert!(h.join().unwrap().is_err());
    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    assert!(rx.blocking_recv().is_err());
    // try_recv, receiver close / drop
    let (tx, mut rx) = oneshot::channel::<u8>();
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    let (mut tx, mut rx) = oneshot::channel::<u8>();
    assert!(!tx.is_closed());
    rx.close();
    assert!(tx.is_closed());
    dtact::wait(tx.closed());
    assert_eq!(tx.send(2), Err(2));
    let (mut tx, rx) = oneshot::channel::<u8>();
    let h = spawn(async move {
        tx.closed().await;
        tx.send(3)
    });
    std::thread::sleep(Duration::from_millis(5));
    drop(rx);
    assert_eq!(h.join().unwrap(), Err(3));
    // many one-shot hand-offs between tasks
    for i in 0..2000u32 {
        let (tx, rx) = oneshot::channel();
        let h = spawn(async move { rx.await.unwrap() + 1 });
        if i % 2 == 0 {
            yield_now_thread();
        }
        tx.send(i).unwrap();
        assert_eq!(h.join().unwrap(), i + 1);
    }
}

fn yield_now_thread() {
    std::thread::yield_now();
}

#[test]
fn broadcast_fanout_and_lag() {
    rt();
    let (tx, mut rx1) = broadcast::channel::<u32>(4);
    let mut rx2 = tx.subscribe();
    assert_eq!(tx.receiver_count(), 2);
    let h = spawn(async move {
        let mut v = Vec::new();
        loop {
            match rx2.recv().await {
                Ok(x) => v.push(x),
                Err(broadcast::error::RecvError::Closed) => return v,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
    });
    // rx2 keeps up (bounded by waiting for it), rx1 does not read until the end
    for i in 0..4 {
        assert_eq!(tx.send(i).unwrap(), 2);
    }
    // rx1 is now 4 behind, the capacity: 3 more sends make it lag by 3
    for i in 4..7 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx1.try_recv(), Err(broadcast::error::TryRecvError::Lagged(3)));
    assert_eq!(rx1.try_recv(), Ok(3));
    assert_eq!(dtact::wait(rx1.recv()), Ok(4));
    let mut rx3 = rx1.resubscribe();
    drop(tx);
    assert_eq!(dtact::wait(rx1.recv()), Ok(5));
    assert_eq!(dtact::wait(rx1.recv()), Ok(6));
    assert_eq!(dtact::wait(rx1.recv()), Err(broadcast::error::RecvError::Closed));
    assert_eq!(rx3.try_recv(), Err(broadcast::error::TryRecvError::Closed));
    let got = h.join().unwrap();
    // rx2 may itself have lagged if it was slow; what it got is in order and ends with 6
    assert!(got.windows(2).all(|w| w[0] < w[1]) && got.last() == Some(&6), "{:?}", got);
    // no receivers: send fails
    let (tx, rx) = broadcast::channel::<u8>(1);
    drop(rx);
    assert_eq!(tx.send(1).unwrap_err().0, 1);
}

#[test]
fn broadcast_many_receivers_see_everything() {
    rt();
    let (tx, _keep) = broadcast::channel::<u64>(1024);
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let mut rx = tx.subscribe();
            spawn(async move {
                let mut sum = 0;
                while let Ok(v) = rx.recv().await {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    for i in 0..1000 {
        tx.send(i).unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(tx);
    for h in hs {
        assert_eq!(h.join().unwrap(), (0..1000).sum::<u64>());
    }
}

#[test]
fn watch_changed_and_borrow() {
    rt();
    let (tx, mut rx) = watch::channel(0u64);
    assert!(!rx.has_changed().unwrap());
    let mut rx2 = rx.clone();
    let h = spawn(async move {
        let mut seen = Vec::new();
        while rx2.changed().await.is_ok() {
            let v = *rx2.borrow_and_update();
            seen.push(v);
            if v == 1000 {
                break;
            }
        }
        seen
    });
    for i in 1..=1000 {
        tx.send(i).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let seen = within(Duration::from_secs(10), "watch receiver", move || h.join().unwrap());
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "values only move forward");
    assert_eq!(seen.last(), Some(&1000), "the last value is always seen");
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow(), 1000);
    assert!(rx.has_changed().unwrap(), "borrow does not mark seen");
    assert_eq!(*rx.borrow_and_update(), 1000);
    assert!(!rx.has_changed().unwrap());
    tx.send_modify(|v| *v += 1);
    assert_eq!(*tx.borrow(), 1001);
    dtact::wait(rx.changed()).unwrap();
    // sender dropped: changed fails; receivers dropped: send fails, closed() completes
    let r = spawn(async move {
        let r = rx.changed().await;
        (r.is_err(), rx)
    });
    std::thread::sleep(Duration::from_millis(5));
    drop(tx);
    let (err, rx) = r.join().unwrap();
    assert!(err);
    assert!(rx.has_changed().is_err());
    let (tx, rx) = watch::channel(1);
    let rx2 = tx.subscribe();
    assert_eq!(tx.receiver_count(), 2);
    drop(rx);
    drop(rx2);
    dtact::wait(tx.closed());
    assert!(tx.send(2).is_err());
    assert_eq!(tx.send_replace(3), 1);
}
