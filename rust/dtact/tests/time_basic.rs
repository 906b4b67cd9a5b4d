//! dtact::time and dtact::timer: sleep, timeout, interval, both on task fibers (the runner parks
//! with a timeout) and through the timer thread (foreign wakers, plain threads). Every test in
//! this binary shares one runtime (2 workers); the tests may run in parallel threads. Timing
//! assertions are "never early" and "within a generous bound" only.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use dtact::time::{interval, interval_at, sleep, sleep_until, timeout, Instant, MissedTickBehavior};
use dtact::{spawn, Runtime};

fn rt() -> &'static Runtime {
    static RT: std::sync::Mutex<Option<&'static Runtime>> = std::sync::Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(2).build().expect("runtime"))));
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

const GENEROUS: Duration = Duration::from_secs(2);

#[test]
fn sleep_in_tasks_is_never_early() {
    rt();
    let hs: Vec<_> = (0..50u64)
        .map(|i| {
            spawn(async move {
                let d = Duration::from_millis(1 + (i * 7) % 40);
                let t0 = Instant::now();
                sleep(d).await;
                let took = t0.elapsed();
                assert!(took >= d, "early: {:?} < {:?}", took, d);
                took - d
            })
        })
        .collect();
    for h in hs {
        let late = h.join().unwrap();
        assert!(late < GENEROUS, "late by {:?}", late);
    }
    // sleep_until, zero and past deadlines
    rt().block_on(async {
        sleep(Duration::ZERO).await;
        sleep_until(Instant::now() - Duration::from_millis(5)).await;
        let dl = Instant::now() + Duration::from_millis(15);
        sleep_until(dl).await;
        assert!(Instant::now() >= dl);
    });
}

#[test]
fn many_sleepers_do_not_block_workers() {
    rt();
    // 200 tasks sleeping 100 ms each on 2 workers finish in about 100 ms, not 200 x 100 ms
    let t0 = Instant::now();
    let hs: Vec<_> = (0..200).map(|_| spawn(async { sleep(Duration::from_millis(100)).await })).collect();
    for h in hs {
        h.join().unwrap();
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(100));
    assert!(took < Duration::from_secs(5), "{:?}", took);
}

#[test]
fn sleep_on_threads_and_under_foreign_wakers() {
    // no runtime needed on a plain thread: the timer thread wakes it
    let t0 = Instant::now();
    dtact::wait(sleep(Duration::from_millis(20)));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    // a combinator that polls with its own waker (the timer thread path), inside a task
    rt();
    let h = spawn(async {
        let t0 = Instant::now();
        OwnWaker { inner: Box::pin(sleep(Duration::from_millis(20))), waker: None }.await;
        t0.elapsed()
    });
    let took = h.join().unwrap();
    assert!(took >= Duration::from_millis(20) && took < GENEROUS, "{:?}", took);
    // re-polled with a different waker: the registration follows
    let mut s = Box::pin(sleep(Duration::from_millis(30)));
    let (f1, w1) = flag_waker();
    assert!(s.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
    let (f2, w2) = flag_waker();
    assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
    let t0 = Instant::now();
    while !f2.0.load(Ordering::SeqCst) {
        assert!(t0.elapsed() < GENEROUS);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!f1.0.load(Ordering::SeqCst), "the old waker was replaced");
    assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_ready());
    // a dropped Sleep never fires
    let (f3, w3) = flag_waker();
    let mut s = Box::pin(sleep(Duration::from_millis(5)));
    assert!(s.as_mut().poll(&mut Context::from_waker(&w3)).is_pending());
    drop(s);
    std::thread::sleep(Duration::from_millis(30));
    assert!(!f3.0.load(Ordering::SeqCst));
}

struct FlagWaker(AtomicBool);
impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}
fn flag_waker() -> (Arc<FlagWaker>, Waker) {
    let f = Arc::new(FlagWaker(AtomicBool::new(false)));
    (f.clone(), Waker::from(f))
}

/// Polls its inner future with a waker of its own that forwards to the task's waker.
struct OwnWaker<F> {
    inner: Pin<Box<F>>,
    waker: Option<Waker>,
}
struct Forward(std::sync::Mutex<Option<Waker>>);
impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        if let Some(w) = self.0.lock().unwrap().take() {
            w.wake();
        }
    }
}
impl<F: Future> Future for OwnWaker<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let w = Waker::from(Arc::new(Forward(std::sync::Mutex::new(Some(cx.waker().clone())))));
        self.waker = Some(w.clone());
        self.inner.as_mut().poll(&mut Context::from_waker(&w))
    }
}

#[test]
fn timeout_returns_elapsed_or_value() {
    rt();
    let r = spawn(async {
        let t0 = Instant::now();
        let e = timeout(Duration::from_millis(25), std::future::pending::<()>()).await;
        (e, t0.elapsed())
    })
    .join()
    .unwrap();
    assert!(r.0.is_err() && r.1 >= Duration::from_millis(25) && r.1 < GENEROUS, "{:?}", r);
    assert_eq!(r.0.unwrap_err().to_string(), "deadline has elapsed");
    let v = spawn(async { timeout(Duration::from_secs(10), async { 4 }).await }).join().unwrap();
    assert_eq!(v, Ok(4));
    // a value arriving before the deadline wins
    let (tx, rx) = dtact::sync::oneshot::channel();
    let h = spawn(async move { timeout(Duration::from_secs(10), rx).await });
    std::thread::sleep(Duration::from_millis(5));
    tx.send(1).unwrap();
    assert_eq!(h.join().unwrap().unwrap().unwrap(), 1);
    // on a thread
    assert!(dtact::wait(timeout(Duration::from_millis(5), sleep(Duration::from_secs(10)))).is_err());
    // the original's names
    let r = dtact::wait(dtact::timer::timeout(Duration::from_millis(5), dtact::timer::DtactSleep::new(Duration::from_secs(9))));
    let _: dtact::timer::TimeoutError = r.unwrap_err();
    dtact::wait(dtact::timer::DtactSleep::until(Instant::now() + Duration::from_millis(1)));
}

#[test]
fn interval_ticks_are_never_early() {
    rt();
    let ticks = spawn(async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_millis(10));
        let mut at = Vec::new();
        for _ in 0..6 {
            let sched = iv.tick().await;
            at.push((sched, Instant::now()));
        }
        (start, at)
    })
    .join()
    .unwrap();
    let (start, at) = ticks;
    assert!(at[0].1 - start < GENEROUS, "the first tick is immediate");
    for (k, (sched, now)) in at.iter().enumerate() {
        assert!(*now >= *sched, "tick {} early", k);
        assert!(*sched >= start + Duration::from_millis(10) * k as u32, "tick {} scheduled early", k);
        assert!(*now - start >= Duration::from_millis(10) * k as u32);
    }
    // Delay after a late tick: the next one is a whole period after the late one
    let r = spawn(async {
        let mut iv = interval_at(Instant::now(), Duration::from_millis(10));
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Delay);
        iv.tick().await;
        sleep(Duration::from_millis(35)).await;
        iv.tick().await; // late
        let t = Instant::now();
        iv.tick().await;
        t.elapsed()
    })
    .join()
    .unwrap();
    assert!(r >= Duration::from_millis(9), "{:?}", r);
    // Burst: the missed ticks come at once
    let n = spawn(async {
        let mut iv = interval(Duration::from_millis(10));
        iv.tick().await;
        sleep(Duration::from_millis(45)).await;
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < Duration::from_millis(5) && n < 10 {
            dtact::time::timeout(Duration::from_millis(1), iv.tick()).await.map(|_| n += 1).ok();
        }
        n
    })
    .join()
    .unwrap();
    assert!(n >= 3, "burst of {} ticks", n);
    // the original's name
    let mut iv = dtact::timer::interval(Duration::from_millis(3));
    let t0 = Instant::now();
    dtact::wait(iv.tick());
    dtact::wait(iv.tick());
    assert!(t0.elapsed() >= Duration::from_millis(3));
}

#[test]
fn abort_of_task_blocked_in_sleep_is_prompt() {
    rt();
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let f = Flag(dropped.clone());
    let h = spawn(async move {
        let _f = f;
        sleep(Duration::from_secs(3600)).await;
    });
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    h.abort();
    let e = within(Duration::from_secs(10), "join after abort", move || h.join()).unwrap_err();
    assert!(e.is_cancelled());
    assert!(t0.elapsed() < GENEROUS);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn sleep_inside_nested_wait_and_blocking_sleep() {
    rt();
    let took = spawn(async {
        let t0 = Instant::now();
        // synchronous code inside a task: wait() on a sleep parks only the fiber
        dtact::wait(sleep(Duration::from_millis(15)));
        dtact::time::sleep_blocking(Duration::from_millis(5));
        sleep(Duration::from_millis(5)).await;
        t0.elapsed()
    })
    .join()
    .unwrap();
    assert!(took >= Duration::from_millis(25) && took < GENEROUS, "{:?}", took);
}
