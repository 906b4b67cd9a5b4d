//! Core behaviour. The C runtime is process-global, so every test in this binary shares one
//! runtime (2 workers), created once; the tests may run in parallel threads.
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use dtact::{spawn, yield_now, DtactWaitExt, Runtime};

fn rt() -> &'static Runtime {
    static RT: Mutex<Option<&'static Runtime>> = Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    *g.get_or_insert_with(|| Box::leak(Box::new(Runtime::builder().workers(2).build().expect("runtime"))))
}

#[test]
fn output_values() {
    let v = rt().block_on(async {
        let hs: Vec<_> = (0..100u64).map(|i| spawn(async move { i * i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(v, (0..100u64).map(|i| i * i).sum());
    // a String output, joined from a thread
    let h = { let _ = rt(); spawn(async { String::from("hello") }) };
    assert_eq!(h.join().unwrap(), "hello");
}

#[test]
fn panics_become_join_errors() {
    rt();
    let seven = unsafe { std::ptr::read_volatile(&7) };
    let h = spawn(async move {
        yield_now().await;
        if seven == 7 {
            panic!("boom {}", seven);
        }
        1
    });
    let e = h.join().unwrap_err();
    assert!(e.is_panic() && !e.is_cancelled());
    assert_eq!(e.into_panic().downcast_ref::<String>().map(|s| s.as_str()), Some("boom 7"));
    // the runtime still works
    assert_eq!(spawn(async { 3 }).join().unwrap(), 3);
}

#[test]
fn nested_spawn_and_is_finished() {
    rt();
    let h = spawn(async {
        let inner = spawn(async { 5u32 });
        let a = inner.await.unwrap();
        let inner2 = spawn(async { 6u32 });
        a + inner2.wait().unwrap()
    });
    assert_eq!(h.join().unwrap(), 11);
    let h = spawn(async { 1 });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn thousands_of_tasks_awaiting_each_other() {
    rt();
    // a chain: task i awaits task i-1 and adds one
    const N: usize = 3000;
    let r = rt().block_on(async {
        let mut prev = spawn(async { 0usize });
        for _ in 1..N {
            let p = prev;
            prev = spawn(async move { p.await.unwrap() + 1 });
        }
        prev.await.unwrap()
    });
    assert_eq!(r, N - 1);
    // a fan-in: 2000 tasks all awaiting one gate task
    let gate = Arc::new(Chan::<u32>::new());
    let g2 = gate.clone();
    let root = spawn(async move { g2.recv().await });
    let root = Arc::new(Mutex::new(Some(root)));
    let hs: Vec<_> = (0..2000)
        .map(|i| {
            let c = gate.clone();
            spawn(async move {
                for _ in 0..(i % 3) {
                    yield_now().await;
                }
                let _ = &c;
                i
            })
        })
        .collect();
    gate.send(9);
    let s: u64 = hs.into_iter().map(|h| h.join().unwrap() as u64).sum();
    assert_eq!(s, (0..2000u64).sum());
    assert_eq!(root.lock().unwrap().take().unwrap().join().unwrap(), 9);
}

/// A tiny channel: Mutex + Waker.
struct Chan<T> {
    inner: Mutex<(VecDeque<T>, Option<Waker>)>,
}
impl<T> Chan<T> {
    fn new() -> Self {
        Chan { inner: Mutex::new((VecDeque::new(), None)) }
    }
    fn send(&self, v: T) {
        let w = {
            let mut g = self.inner.lock().unwrap();
            g.0.push_back(v);
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }
    fn recv(&self) -> Recv<'_, T> {
        Recv(self)
    }
}
struct Recv<'a, T>(&'a Chan<T>);
impl<T> Future for Recv<'_, T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut g = self.0.inner.lock().unwrap();
        match g.0.pop_front() {
            Some(v) => Poll::Ready(v),
            None => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[test]
fn wakers_from_other_threads() {
    rt();
    let ch = Arc::new(Chan::<u64>::new());
    let c2 = ch.clone();
    let consumer = spawn(async move {
        let mut sum = 0;
        for _ in 0..4000 {
            sum += c2.recv().await;
        }
        sum
    });
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let c = ch.clone();
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    c.send(t * 1000 + i);
                    if i % 100 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), (0..4000u64).sum());
}

#[test]
fn futures_larger_than_8k_go_to_the_heap() {
    rt();
    let before = dtact::HEAP_ESCAPED_SPAWNS.load(Ordering::SeqCst);
    let h = spawn(async {
        let mut big = [0u8; 16384];
        big[100] = 7;
        yield_now().await; // `big` lives across the await: it is part of the future
        big.iter().map(|&b| b as u32).sum::<u32>()
    });
    assert_eq!(h.join().unwrap(), 7);
    assert!(dtact::HEAP_ESCAPED_SPAWNS.load(Ordering::SeqCst) > before);
    // a small future does not escape (other tests may run concurrently, so check a range)
    let h = spawn(async {
        let mut small = [0u8; 512];
        small[1] = 2;
        yield_now().await;
        small[1] as u32
    });
    assert_eq!(h.join().unwrap(), 2);
}

#[test]
fn drop_runs_in_place_once() {
    rt();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D;
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let d = D;
            spawn(async move {
                yield_now().await;
                let _keep = &d;
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 50);
}

#[test]
fn abort_before_and_while_running() {
    rt();
    // a task parked on a channel forever: abort wakes it and drops it
    let ch = Arc::new(Chan::<u32>::new());
    let c2 = ch.clone();
    let h = spawn(async move { c2.recv().await });
    std::thread::sleep(std::time::Duration::from_millis(20));
    h.abort();
    let e = h.join().unwrap_err();
    assert!(e.is_cancelled());
    assert_eq!(Arc::strong_count(&ch), 1, "the aborted future was dropped");
}

#[test]
fn wait_and_spawn_builder_options() {
    rt();
    use dtact::{Affinity, Priority, SameThreadNoFloat, WorkloadKind};
    let h = dtact::spawn_with()
        .priority(Priority::High)
        .affinity(Affinity::SameCore)
        .kind(WorkloadKind::IO)
        .stack_size(64 * 1024)
        .switcher::<SameThreadNoFloat>()
        .spawn(async {
            let w0 = dtact::current_worker();
            for _ in 0..10 {
                yield_now().await;
                assert_eq!(dtact::current_worker(), w0, "a pinned fiber stays on its worker");
            }
            dtact::wait(async { 4 })
        });
    assert_eq!(h.join().unwrap(), 4);
    // a bad stack size is reported, not ignored
    let r = dtact::SpawnBuilder::new().stack_size(1 << 40).try_spawn(async {});
    assert!(r.is_err());
}

#[test]
fn spawn_pinned_runs_non_send_futures() {
    rt();
    let h = dtact::spawn_pinned(|| async {
        let rc = std::rc::Rc::new(std::cell::Cell::new(1));
        for _ in 0..5 {
            yield_now().await;
            rc.set(rc.get() * 2);
        }
        rc.get()
    });
    assert_eq!(h.join().unwrap(), 32);
}

#[test]
fn raw_await_and_second_runtime_fails() {
    rt();
    let h = spawn(async { 1 });
    let fh = h.fiber_handle();
    dtact::dtact_await(fh).unwrap();
    assert!(h.join().is_ok());
    let e = Runtime::builder().build().unwrap_err();
    assert_eq!(e, dtact::Error::AlreadyInitialized);
    assert!(e.to_string().len() > 5, "{e}");
}
