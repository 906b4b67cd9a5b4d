//! The join cell's hand-offs: detach, waker replacement, polls after completion, outputs of
//! every size class, and races between completion and a handle being dropped. One runtime
//! (2 workers) for the whole binary, as in basic.rs.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use dtact::{spawn, yield_now, Runtime};

/// The binary's runtime, built on first use (a leaked `Runtime`: `OnceLock` needs Rust 1.70 and
/// the crate supports 1.63).
fn rt() -> &'static Runtime {
    static RT: Mutex<Option<&'static Runtime>> = Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(2).build().expect("runtime"))));
    }
    g.expect("set above")
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Counts its drops in the given counter.
struct Tracked(&'static AtomicUsize);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker counting its wakes.
struct CountWaker(AtomicUsize);
impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future pending until `open` is set; its waker is kept for `release`.
struct Gate {
    open: AtomicBool,
    waker: Mutex<Option<Waker>>,
}
impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate { open: AtomicBool::new(false), waker: Mutex::new(None) })
    }
    fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
    async fn wait(self: Arc<Self>) {
        GateWait(self).await
    }
}

/// The future of `Gate::wait` (`std::future::poll_fn` needs Rust 1.64).
struct GateWait(Arc<Gate>);
impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.open.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn detached_outputs_are_dropped_once() {
    rt();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    // dropped while the task is still pending
    let gate = Gate::new();
    let g = gate.clone();
    let h = spawn(async move {
        g.wait().await;
        Tracked(&DROPS)
    });
    drop(h);
    gate.release();
    wait_until("the detached output to be dropped", || DROPS.load(Ordering::SeqCst) == 1);
    // dropped after the task finished, without taking the output
    let h = spawn(async { Tracked(&DROPS) });
    wait_until("the task to finish", || h.is_finished());
    drop(h);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    // taken: dropped by the taker only
    let t = spawn(async { Tracked(&DROPS) }).join().unwrap();
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    drop(t);
    assert_eq!(DROPS.load(Ordering::SeqCst), 3);
}

#[test]
fn the_latest_waker_is_woken() {
    rt();
    let gate = Gate::new();
    let g = gate.clone();
    let mut h = spawn(async move {
        g.wait().await;
        7u32
    });
    let fiber = h.fiber_handle();
    assert!(fiber.is_valid());
    let w1 = Arc::new(CountWaker(AtomicUsize::new(0)));
    let w2 = Arc::new(CountWaker(AtomicUsize::new(0)));
    let (k1, k2) = (Waker::from(w1.clone()), Waker::from(w2.clone()));
    assert!(Pin::new(&mut h).poll(&mut Context::from_waker(&k1)).is_pending());
    assert!(Pin::new(&mut h).poll(&mut Context::from_waker(&k1)).is_pending()); // same waker: kept
    assert!(Pin::new(&mut h).poll(&mut Context::from_waker(&k2)).is_pending()); // replaced
    gate.release();
    wait_until("the second waker to be woken", || w2.0.load(Ordering::SeqCst) == 1);
    assert_eq!(w1.0.load(Ordering::SeqCst), 0, "a replaced waker is not woken");
    assert!(h.is_finished());
    match Pin::new(&mut h).poll(&mut Context::from_waker(&k2)) {
        Poll::Ready(r) => assert_eq!(r.unwrap(), 7),
        Poll::Pending => panic!("finished task polled pending"),
    }
    assert!(h.is_finished(), "still finished after the output was taken");
    assert_eq!(h.fiber_handle(), fiber, "the fiber handle outlives the output");
    assert_eq!(std::mem::size_of::<dtact::JoinHandle<u32>>(), 8, "a JoinHandle is one word");
    assert_eq!(std::mem::size_of::<Option<dtact::JoinHandle<u32>>>(), 8);
    h.abort(); // no effect after completion
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut h).poll(&mut Context::from_waker(&k2));
    }));
    assert!(again.is_err(), "a JoinHandle polled after completion panics");
}

#[test]
fn abort_after_completion_keeps_the_output() {
    rt();
    let h = spawn(async { 5u8 });
    wait_until("the task to finish", || h.is_finished());
    h.abort();
    assert_eq!(h.join().unwrap(), 5);
}

#[test]
fn outputs_of_every_size() {
    rt();
    let v = rt().block_on(async {
        let small = spawn(async { 1u8 });
        let mid = spawn(async {
            yield_now().await;
            [3u8; 72] // a 128-byte cell
        });
        let big = spawn(async {
            yield_now().await;
            [5u64; 40] // over 128 bytes: not pooled
        });
        let s = String::from("owned");
        let string = spawn(async move { s + "!" });
        let a = small.await.unwrap() as u64;
        let b = mid.await.unwrap().iter().map(|&x| x as u64).sum::<u64>();
        let c = big.await.unwrap().iter().sum::<u64>();
        assert_eq!(string.await.unwrap(), "owned!");
        a + b + c
    });
    assert_eq!(v, 1 + 3 * 72 + 5 * 40);
}

#[test]
fn completion_races_with_handle_drops() {
    rt();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    const N: usize = 20_000;
    let handles: Vec<_> = (0..N)
        .map(|i| {
            spawn(async move {
                for _ in 0..(i % 3) {
                    yield_now().await;
                }
                Tracked(&DROPS)
            })
        })
        .collect();
    // drop half of them (from this thread, while they run), join the rest from a task
    let mut keep = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(h);
        } else {
            keep.push(h);
        }
    }
    let joined = rt().block_on(spawn(async move {
        let mut n = 0;
        for h in keep {
            drop(h.await.unwrap());
            n += 1;
        }
        n
    }));
    assert_eq!(joined.unwrap(), N / 2);
    wait_until("every output to be dropped", || DROPS.load(Ordering::SeqCst) == N);
}

/// A future of `N` bytes (plus a drop counter) that yields once and returns the sum of its bytes.
fn sized_future<const N: usize>(drops: &'static AtomicUsize, byte: u8) -> impl Future<Output = u64> + Send + 'static {
    let data = [byte; N];
    let t = Tracked(drops);
    async move {
        yield_now().await;
        let _keep = &t;
        data.iter().map(|&x| x as u64).sum::<u64>()
    }
}

/// 16-byte aligned state (a resident cell's slot is 16-byte aligned).
#[repr(align(16))]
struct Aligned16([u8; 16]);
/// 64-byte aligned state: never resident (pooled blocks are 16-byte aligned).
#[repr(align(64))]
struct Aligned64([u8; 64]);

#[test]
fn futures_of_every_size_run_and_drop_once() {
    // Sizes around the resident cells' limits (64- and 128-byte blocks: 32 bytes of header, the
    // future and its name in the slot), on the fiber's stack, and boxed (over 8 KiB).
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    rt();
    let total = rt().block_on(async {
        let hs = vec![
            spawn(sized_future::<0>(&DROPS, 1)),
            spawn(sized_future::<8>(&DROPS, 1)),
            spawn(sized_future::<16>(&DROPS, 1)),
            spawn(sized_future::<40>(&DROPS, 1)),
            spawn(sized_future::<64>(&DROPS, 1)),
            spawn(sized_future::<72>(&DROPS, 1)),
            spawn(sized_future::<96>(&DROPS, 1)),
            spawn(sized_future::<300>(&DROPS, 1)),
            spawn(sized_future::<9000>(&DROPS, 1)),
        ];
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        let a16 = Aligned16([2; 16]);
        let a64 = Aligned64([3; 64]);
        let x = spawn(async move {
            yield_now().await;
            assert_eq!(&a16 as *const Aligned16 as usize % 16, 0);
            a16.0.iter().map(|&x| x as u64).sum::<u64>()
        });
        let y = spawn(async move {
            yield_now().await;
            assert_eq!(&a64 as *const Aligned64 as usize % 64, 0);
            a64.0.iter().map(|&x| x as u64).sum::<u64>()
        });
        sum + x.await.unwrap() + y.await.unwrap()
    });
    assert_eq!(total, (8 + 16 + 40 + 64 + 72 + 96 + 300 + 9000) + 2 * 16 + 3 * 64);
    assert_eq!(DROPS.load(Ordering::SeqCst), 9);
}

#[test]
fn aborted_before_start_drops_the_future_unpolled() {
    // Small (resident) tasks spawned while both workers are busy and aborted before the workers
    // get to them: none is polled, each future is dropped once, every joiner sees cancellation.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static POLLED: AtomicUsize = AtomicUsize::new(0);
    rt();
    rt().block_on(async {
        let gate = Gate::new();
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        // Occupy both workers (a blocker never yields) until every abort is done.
        let blockers: Vec<_> = (0..2)
            .map(|_| {
                let g = gate.clone();
                spawn(async move {
                    STARTED.fetch_add(1, Ordering::SeqCst);
                    while !g.open.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        wait_until("both blockers running", || STARTED.load(Ordering::SeqCst) == 2);
        let hs: Vec<_> = (0..64)
            .map(|_| {
                let t = Tracked(&DROPS);
                spawn(async move {
                    let _t = t;
                    POLLED.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in &hs {
            h.abort();
        }
        gate.release();
        for b in blockers {
            b.await.unwrap();
        }
        for h in hs {
            assert!(h.await.unwrap_err().is_cancelled());
        }
    });
    assert_eq!(POLLED.load(Ordering::SeqCst), 0);
    assert_eq!(DROPS.load(Ordering::SeqCst), 64);
}
