//! A `Sleep` polled by its task's runner needs no timer thread: the runner parks the fiber with
//! a timeout. This binary only sleeps inside tasks (directly, under `timeout`, in a hand-written
//! join that passes the task's waker through, in `interval`, inside a nested `wait`, across
//! cross-thread migrations) and then checks that the fallback timer thread (`dtact-timer`) was
//! never started. One test: the check is process-wide.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dtact::time::{interval, sleep, timeout};
use dtact::{spawn, yield_now, Runtime};

/// Polls both futures with the caller's context until both are done.
struct Join2<A: Future, B: Future>(Pin<Box<A>>, Pin<Box<B>>, Option<A::Output>, Option<B::Output>);
impl<A: Future, B: Future> Future for Join2<A, B>
where
    A::Output: Unpin,
    B::Output: Unpin,
{
    type Output = (A::Output, B::Output);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.2.is_none() {
            if let Poll::Ready(v) = this.0.as_mut().poll(cx) {
                this.2 = Some(v);
            }
        }
        if this.3.is_none() {
            if let Poll::Ready(v) = this.1.as_mut().poll(cx) {
                this.3 = Some(v);
            }
        }
        if this.2.is_some() && this.3.is_some() {
            Poll::Ready((this.2.take().unwrap(), this.3.take().unwrap()))
        } else {
            Poll::Pending
        }
    }
}

/// Polls its sleep only once, then only its channel (as a combinator that knows which child
/// woke it might): the sleep's first registration must still wake the task at its deadline.
struct PollSleepOnce {
    s: Pin<Box<dtact::time::Sleep>>,
    polled: bool,
    rx: dtact::sync::mpsc::UnboundedReceiver<()>,
    msgs: usize,
}
impl Future for PollSleepOnce {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = &mut *self;
        if !this.polled {
            this.polled = true;
            assert!(this.s.as_mut().poll(cx).is_pending());
        }
        while let Poll::Ready(Some(())) = this.rx.poll_recv(cx) {
            this.msgs += 1;
        }
        if this.s.is_elapsed() {
            Poll::Ready(this.msgs)
        } else {
            Poll::Pending
        }
    }
}

fn timer_thread_running() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| std::fs::read_to_string(e.path().join("comm")).map(|c| c.trim() == "dtact-timer").unwrap_or(false))
        })
        .unwrap_or(false)
}

#[test]
fn task_sleeps_use_the_runner_not_the_timer_thread() {
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    assert!(!timer_thread_running());
    let hs: Vec<_> = (0..40u64)
        .map(|i| {
            spawn(async move {
                let t0 = Instant::now();
                let d = Duration::from_millis(2 + i % 9);
                sleep(d).await;
                assert!(t0.elapsed() >= d);
                // under timeout: both the inner sleep and the deadline ride on the runner
                let t1 = Instant::now();
                assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await.is_err());
                assert!(t1.elapsed() >= Duration::from_millis(5));
                assert_eq!(timeout(Duration::from_secs(60), async { 3 }).await, Ok(3));
                // a join passing the task's waker through: the earliest deadline wakes the fiber
                let t2 = Instant::now();
                Join2(Box::pin(sleep(Duration::from_millis(3))), Box::pin(sleep(Duration::from_millis(8))), None, None).await;
                assert!(t2.elapsed() >= Duration::from_millis(8));
                // interval
                let mut iv = interval(Duration::from_millis(2));
                let t3 = Instant::now();
                for _ in 0..4 {
                    iv.tick().await;
                }
                assert!(t3.elapsed() >= Duration::from_millis(6));
                // a nested wait inside the task (synchronous code on the fiber), between a
                // sleep's poll and the runner, with yields that may migrate the fiber
                let t4 = Instant::now();
                Join2(
                    Box::pin(sleep(Duration::from_millis(4))),
                    Box::pin(async {
                        yield_now().await;
                        dtact::wait(sleep(Duration::from_millis(1)));
                        yield_now().await;
                    }),
                    None,
                    None,
                )
                .await;
                assert!(t4.elapsed() >= Duration::from_millis(4));
                t0.elapsed()
            })
        })
        .collect();
    for h in hs {
        let took = h.join().unwrap();
        assert!(took < Duration::from_secs(5), "{:?}", took);
    }
    // a wake-up in between (a message) does not cancel the sleep's registration
    let (tx, rx) = dtact::sync::mpsc::unbounded_channel();
    let h = spawn(async move {
        let t0 = Instant::now();
        let n = PollSleepOnce { s: Box::pin(sleep(Duration::from_millis(40))), polled: false, rx, msgs: 0 }.await;
        (n, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(5));
    tx.send(()).unwrap();
    let (tx2, rx2) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx2.send(h.join());
    });
    let (n, took) = rx2.recv_timeout(Duration::from_secs(10)).expect("the sleep's wake-up was lost").unwrap();
    assert_eq!(n, 1);
    assert!(took >= Duration::from_millis(40) && took < Duration::from_secs(5), "{:?}", took);
    drop(tx);
    assert!(!timer_thread_running(), "a task's sleep started the timer thread");
    drop(rt);
}
