//! dtact::sync locks: Mutex, RwLock, Semaphore, Barrier, OnceCell. Every test in this binary
//! shares one runtime (4 workers), created once; the tests may run in parallel threads.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use dtact::sync::{Barrier, Mutex, OnceCell, RwLock, Semaphore, SetError, TryAcquireError};
use dtact::{spawn, yield_now, Runtime};

fn rt() -> &'static Runtime {
    static RT: std::sync::Mutex<Option<&'static Runtime>> = std::sync::Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(4).build().expect("runtime"))));
    }
    g.expect("set above")
}

/// Runs `f` on a helper thread; panics if it does not return within `limit`.
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{} did not return within {:?}", what, limit))
}

/// Waits (on this thread) until `cond` holds, for at most 10 s.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out waiting for {}", what);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls `f`, and sets `flag` once its first poll returned (so a lock/acquire is queued).
struct FirstPoll<F> {
    f: std::pin::Pin<Box<F>>,
    flag: Arc<AtomicBool>,
}
impl<F: std::future::Future> std::future::Future for FirstPoll<F> {
    type Output = F::Output;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let r = self.f.as_mut().poll(cx);
        self.flag.store(true, Ordering::SeqCst);
        r
    }
}

/// Spawns `f` and returns once its first poll returned.
fn spawn_queued<F>(f: F) -> dtact::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let flag = Arc::new(AtomicBool::new(false));
    let h = spawn(FirstPoll { f: Box::pin(f), flag: flag.clone() });
    wait_until("first poll", || flag.load(Ordering::SeqCst));
    h
}

/// Sets its flag when dropped (the task's future was dropped).
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn mutex_mutual_exclusion_tasks_and_threads() {
    rt();
    let m = Arc::new(Mutex::new((0u64, 0u64)));
    let inside = Arc::new(AtomicUsize::new(0));
    const TASKS: usize = 16;
    const ITERS: u64 = 500;
    let hs: Vec<_> = (0..TASKS)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            spawn(async move {
                for i in 0..ITERS {
                    let mut g = m.lock().await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    let a = g.0;
                    if i % 8 == 0 {
                        yield_now().await; // hold it across a suspension
                    }
                    g.0 = a + 1;
                    g.1 += 2;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // plain threads with blocking_lock at the same time
    let ths: Vec<_> = (0..2)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..ITERS {
                    let mut g = m.blocking_lock();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    g.0 += 1;
                    g.1 += 2;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    for t in ths {
        t.join().unwrap();
    }
    let total = (TASKS as u64 + 2) * ITERS;
    assert_eq!(*m.blocking_lock(), (total, 2 * total));
    assert!(m.try_lock().is_ok());
}

#[test]
fn mutex_blocking_lock_inside_tasks_suspends_the_fiber() {
    rt();
    let m = Arc::new(Mutex::new(0u32));
    let g = m.try_lock().unwrap();
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            spawn(async move {
                *m.blocking_lock() += 1; // synchronous code on the task's fiber
            })
        })
        .collect();
    // the workers are not blocked: other tasks still run
    assert_eq!(spawn(async { 5 }).join().unwrap(), 5);
    drop(g);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*m.try_lock().unwrap(), 8);
    let m = Arc::try_unwrap(m).unwrap();
    assert_eq!(m.into_inner(), 8);
}

#[test]
fn mutex_owned_guard_and_fifo() {
    rt();
    let m = Arc::new(Mutex::new(Vec::new()));
    let g = m.clone().try_lock_owned().unwrap();
    assert!(m.try_lock().is_err());
    // queue tasks one at a time so their arrival order is known
    let mut hs = Vec::new();
    for i in 0..6 {
        let m2 = m.clone();
        hs.push(spawn_queued(async move { m2.lock_owned().await.push(i) }));
    }
    drop(g);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*m.blocking_lock(), vec![0, 1, 2, 3, 4, 5], "FIFO lock order");
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    rt();
    let l = Arc::new(RwLock::new(0u64));
    let readers = Arc::new(AtomicUsize::new(0));
    let writer = Arc::new(AtomicBool::new(false));
    let max_readers = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..12)
        .map(|t| {
            let (l, readers, writer, max_readers) = (l.clone(), readers.clone(), writer.clone(), max_readers.clone());
            spawn(async move {
                for _ in 0..300 {
                    if t % 3 == 0 {
                        let mut g = l.write().await;
                        assert!(!writer.swap(true, Ordering::SeqCst));
                        assert_eq!(readers.load(Ordering::SeqCst), 0);
                        *g += 1;
                        yield_now().await;
                        writer.store(false, Ordering::SeqCst);
                    } else {
                        let g = l.read().await;
                        let n = readers.fetch_add(1, Ordering::SeqCst) + 1;
                        max_readers.fetch_max(n, Ordering::SeqCst);
                        assert!(!writer.load(Ordering::SeqCst));
                        let _ = *g;
                        yield_now().await;
                        readers.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*l.blocking_read(), 4 * 300);
    *l.blocking_write() += 1;
    assert_eq!(*l.try_read().unwrap(), 1201);
    let r = l.try_read().unwrap();
    assert!(l.try_write().is_err());
    drop(r);
    let w = l.try_write().unwrap();
    assert!(l.try_read().is_err());
    let r = w.downgrade();
    assert!(l.try_read().is_ok() && l.try_write().is_err());
    drop(r);
}

#[test]
fn rwlock_queued_writer_holds_back_later_readers() {
    rt();
    let l = Arc::new(RwLock::new(0));
    let r1 = l.try_read().unwrap();
    let l2 = l.clone();
    let w = spawn(async move { *l2.write().await = 1 });
    wait_until("writer queued", || l.try_read().is_err());
    // a reader arriving after the queued writer waits for it
    let l3 = l.clone();
    let r = spawn(async move { *l3.read().await });
    std::thread::sleep(Duration::from_millis(20));
    assert!(!r.is_finished());
    drop(r1);
    w.join().unwrap();
    assert_eq!(r.join().unwrap(), 1);
}

#[test]
fn semaphore_fifo_and_dropped_waiter_hands_over() {
    rt();
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    // waiter 0 wants 3, waiter 1 wants 1, waiter 2 wants 2: strict FIFO
    let mut hs = Vec::new();
    for (i, n) in [(0, 3u32), (1, 1), (2, 2)] {
        let (sem, order) = (sem.clone(), order.clone());
        hs.push(spawn_queued(async move {
            let p = sem.acquire_many(n).await.unwrap();
            order.lock().unwrap().push(i);
            p.forget();
        }));
    }
    sem.add_permits(2); // not enough for the head (3): nobody goes, not even waiter 1
    std::thread::sleep(Duration::from_millis(20));
    assert!(order.lock().unwrap().is_empty());
    assert_eq!(sem.available_permits(), 0, "queued waiters own the free permits");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    sem.add_permits(1); // 3: the head goes
    wait_until("waiter 0", || order.lock().unwrap().len() == 1);
    sem.add_permits(1); // waiter 1
    wait_until("waiter 1", || order.lock().unwrap().len() == 2);
    sem.add_permits(2); // waiter 2
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(sem.available_permits(), 0);

    // a waiter aborted while queued gives its place up; the next one gets the permit
    let a = {
        let sem = sem.clone();
        spawn(async move {
            let _p = sem.acquire().await.unwrap();
            std::future::pending::<()>().await
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    let b = {
        let sem = sem.clone();
        spawn(async move { sem.acquire().await.unwrap().forget() })
    };
    std::thread::sleep(Duration::from_millis(5));
    a.abort();
    assert!(a.join().unwrap_err().is_cancelled());
    sem.add_permits(1);
    within(Duration::from_secs(10), "the next waiter", move || b.join()).unwrap();

    // a permit granted to a waiter that is dropped before it sees it goes to the next waiter
    let sem2 = Arc::new(Semaphore::new(0));
    let got = Arc::new(AtomicUsize::new(0));
    for round in 0..200 {
        let s1 = sem2.clone();
        let first = spawn(async move { s1.acquire().await.unwrap().forget() });
        std::thread::yield_now();
        let (s2, got2) = (sem2.clone(), got.clone());
        let second = spawn(async move {
            s2.acquire().await.unwrap().forget();
            got2.fetch_add(1, Ordering::SeqCst);
        });
        // grant, and abort the first concurrently: either it took the permit, or it passed on
        sem2.add_permits(1);
        first.abort();
        let first_got = first.join().is_ok();
        if !first_got {
            within(Duration::from_secs(10), "hand-over", move || second.join()).unwrap();
        } else {
            sem2.add_permits(1);
            second.join().unwrap();
        }
        assert_eq!(sem2.available_permits(), 0, "round {}", round);
    }
    assert_eq!(got.load(Ordering::SeqCst), 200);

    // close
    let s = Arc::new(Semaphore::new(0));
    let s2 = s.clone();
    let w = spawn(async move { s2.acquire().await.map(|_| ()) });
    std::thread::sleep(Duration::from_millis(5));
    s.close();
    assert!(w.join().unwrap().is_err());
    assert!(s.is_closed());
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(dtact::wait(s.acquire()).is_err());
}

#[test]
fn semaphore_limits_concurrency_and_blocks_threads() {
    rt();
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..20)
        .map(|_| {
            let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
            spawn(async move {
                for _ in 0..50 {
                    let _p = sem.acquire().await.unwrap();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..50 {
        let p = dtact::wait(sem.clone().acquire_owned()).unwrap(); // from a plain thread
        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(n, Ordering::SeqCst);
        inside.fetch_sub(1, Ordering::SeqCst);
        drop(p);
    }
    for h in hs {
        h.join().unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn abort_of_task_blocked_in_lock_is_prompt() {
    rt();
    let m = Arc::new(Mutex::new(0));
    let g = m.try_lock().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let (m2, flag) = (m.clone(), DropFlag(dropped.clone()));
    let h = spawn(async move {
        let _f = flag;
        *m2.lock().await += 1;
    });
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    h.abort();
    let e = within(Duration::from_secs(10), "join after abort", move || h.join()).unwrap_err();
    assert!(e.is_cancelled(), "{:?}", e);
    assert!(t0.elapsed() < Duration::from_secs(2), "abort took {:?}", t0.elapsed());
    assert!(dropped.load(Ordering::SeqCst));
    drop(g);
    // the waiter was removed: the lock is free and usable
    assert_eq!(*m.try_lock().unwrap(), 0);
    let m3 = m.clone();
    spawn(async move { *m3.lock().await += 1 }).join().unwrap();
    assert_eq!(*m.blocking_lock(), 1);
}

#[test]
fn barrier_one_leader_per_round() {
    rt();
    const N: usize = 6;
    const ROUNDS: usize = 200;
    let b = Arc::new(Barrier::new(N));
    let leaders = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..N)
        .map(|i| {
            let (b, leaders, arrived) = (b.clone(), leaders.clone(), arrived.clone());
            spawn(async move {
                for r in 0..ROUNDS {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    if b.wait().await.is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    // nobody passes round r before everyone arrived in it
                    assert!(arrived.load(Ordering::SeqCst) >= (r + 1) * N);
                    if (i + r) % 3 == 0 {
                        yield_now().await;
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
    // a thread takes part too
    let b = Arc::new(Barrier::new(2));
    let b2 = b.clone();
    let h = spawn(async move { b2.wait().await.is_leader() });
    let l = b.blocking_wait().is_leader();
    assert!(l ^ h.join().unwrap());
    assert!(dtact::wait(Barrier::new(0).wait()).is_leader());
}

#[test]
fn once_cell_initialises_once_under_contention() {
    rt();
    for _ in 0..50 {
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                spawn(async move {
                    *cell
                        .get_or_init(|| async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            yield_now().await;
                            i
                        })
                        .await
                })
            })
            .collect();
        let vals: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(vals.iter().all(|&v| v == vals[0]));
        assert_eq!(cell.get(), Some(&vals[0]));
        assert!(cell.initialized());
    }
    // a failed try-init leaves it empty for the next one; set
    let cell = OnceCell::new();
    rt().block_on(async {
        assert_eq!(cell.get_or_try_init(|| async { Err::<u8, _>("no") }).await, Err("no"));
        assert!(!cell.initialized());
        assert_eq!(cell.get_or_try_init(|| async { Ok::<u8, ()>(3) }).await, Ok(&3));
    });
    assert_eq!(cell.set(4), Err(SetError::AlreadyInitializedError(4)));
    let c2 = OnceCell::new();
    assert_eq!(c2.set(9), Ok(()));
    assert_eq!(c2.into_inner(), Some(9));
    // an initialiser aborted midway lets the next caller initialise
    let cell = Arc::new(OnceCell::new());
    let c = cell.clone();
    let h = spawn_queued(async move {
        *c.get_or_init(|| async {
            std::future::pending::<()>().await;
            0
        })
        .await
    });
    let c = cell.clone();
    let h2 = spawn_queued(async move { *c.get_or_init(|| async { 7 }).await });
    assert!(!h2.is_finished());
    h.abort();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(within(Duration::from_secs(10), "second initialiser", move || h2.join()).unwrap(), 7);
}
