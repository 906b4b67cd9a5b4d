//! sync-tokio: tokio on the synchronisation and timer workloads W7, W7b, W7c, W10, W11, W12
//! (docs/benchmarks.md, "Synchronisation and timers"); the Dtact side is benches/sync_bench.c.
//!
//! usage: sync-tokio WORKLOAD N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [rounds=5] [seed=S]
//!                   [batches=5] [unit=1024] [factor=1000] [every=100]
//!
//!   W7   P pairs (default WORKERS) bounce a token N times through two `Notify` (notify_one / notified);
//!        the token travels in a shared word                                           ns/round-trip
//!   W7b  the same over two `mpsc::channel(1)`, the token is the message                ns/round-trip
//!   W7c  as W7: `Notify` is tokio's auto-reset event (a stored permit)                 ns/round-trip
//!   W10  T tasks (default 4 x WORKERS) take one `tokio::sync::Mutex<u64>` N times in total around an
//!        increment; checks the count                                                   ns/lock-unlock
//!   W11  one producer task, one consumer task, `mpsc::channel::<u64>(C)` (default 1024), N messages;
//!        the consumer checks order and sum                                             ns/message
//!   W12  N tasks each `time::sleep_until(now + d)`, d pseudo-random 1..100 ms (seed S), `rounds` rounds;
//!        lateness = wake time - deadline; prints p50_us, p99_us, max_us and cpu_s (getrusage user+sys
//!        over the rounds)
//!   SKEW load balance under skew (benches/dtact_peer.c, docs/benchmarks.md): the root task spawns N tasks
//!        in a fixed pseudo-random order (Fisher-Yates with splitmix64(seed + i)), every `every`-th of them
//!        (by shuffled index) spinning factor x unit dependent LCG steps, the others unit steps, and awaits
//!        their JoinHandles in order; each times its own body (Instant). Per batch ratio = makespan / (sum
//!        of task times / WORKERS); one warm-up batch, then `batches`; each rep prints the median ratio
//!        (min, max) and the median makespan                                           ratio
//!
//! multi_thread runtime with WORKERS worker threads (time driver enabled for W12 only). The root of every
//! workload is a spawned task. A measurement (all but W12) is `batches` back-to-back runs timed together:
//! one cold warm-up, a second unless the first took over 4 x mintime, the batch count grows until a run
//! lasts mintime, then `reps` timed runs, one line each:
//!   peer=tokio workload=W10 n=1000000 workers=2 rep=1 batches=1 ns_per_op=41.20 unit=ns/lock-unlock elapsed_s=0.0412 tasks=8
//! Every result is validated; a wrong one prints CHECK FAILED on stderr and exits 1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex, Notify};

#[derive(Clone)]
struct Cfg {
    workload: String,
    n: u64,
    workers: usize,
    reps: usize,
    min_time: f64,
    pairs: usize,
    tasks: usize,
    cap: usize,
    rounds: usize,
    seed: u64,
    batches: usize,
    unit: u64,
    factor: u64,
    every: u64,
}

fn fail(cfg: &Cfg, msg: String) -> ! {
    eprintln!("peer=tokio workload={} n={} CHECK FAILED: {}", cfg.workload, cfg.n, msg);
    std::process::exit(1);
}

// ------------------------------------------------------------------ W7 family

/// Token in a shared word, two Notify per pair (W7, W7c).
async fn w7_notify(cfg: &Cfg, m: u64, np: usize) {
    let bad = Arc::new(AtomicU64::new(0));
    let mut hs = Vec::with_capacity(2 * np);
    for _ in 0..np {
        let tok = Arc::new(AtomicU64::new(0));
        let to_a = Arc::new(Notify::new());
        let to_b = Arc::new(Notify::new());
        let (t, a, b, bd) = (tok.clone(), to_a.clone(), to_b.clone(), bad.clone());
        hs.push(tokio::spawn(async move {
            // responder
            for i in 0..m {
                while t.load(Ordering::Acquire) < 2 * i + 1 {
                    a.notified().await;
                }
                if t.load(Ordering::Acquire) != 2 * i + 1 {
                    bd.fetch_add(1, Ordering::Relaxed);
                }
                t.store(2 * i + 2, Ordering::Release);
                b.notify_one();
            }
        }));
        let bd = bad.clone();
        hs.push(tokio::spawn(async move {
            // initiator
            for i in 0..m {
                tok.store(2 * i + 1, Ordering::Release);
                to_a.notify_one();
                while tok.load(Ordering::Acquire) < 2 * i + 2 {
                    to_b.notified().await;
                }
                if tok.load(Ordering::Acquire) != 2 * i + 2 {
                    bd.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let b = bad.load(Ordering::Relaxed);
    if b != 0 {
        fail(cfg, format!("{} bad tokens", b));
    }
}

/// The token is the message of two bounded channels of capacity 1 (W7b).
async fn w7_chan(cfg: &Cfg, m: u64, np: usize) {
    let bad = Arc::new(AtomicU64::new(0));
    let mut hs = Vec::with_capacity(2 * np);
    for _ in 0..np {
        let (req_tx, mut req_rx) = mpsc::channel::<u64>(1);
        let (rep_tx, mut rep_rx) = mpsc::channel::<u64>(1);
        let bd = bad.clone();
        hs.push(tokio::spawn(async move {
            for i in 0..m {
                let v = req_rx.recv().await.unwrap_or(u64::MAX);
                if v != 2 * i + 1 {
                    bd.fetch_add(1, Ordering::Relaxed);
                }
                rep_tx.send(2 * i + 2).await.unwrap();
            }
        }));
        let bd = bad.clone();
        hs.push(tokio::spawn(async move {
            for i in 0..m {
                req_tx.send(2 * i + 1).await.unwrap();
                let v = rep_rx.recv().await.unwrap_or(u64::MAX);
                if v != 2 * i + 2 {
                    bd.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let b = bad.load(Ordering::Relaxed);
    if b != 0 {
        fail(cfg, format!("{} bad tokens", b));
    }
}

// ------------------------------------------------------------------ W10 mutex

async fn w10(cfg: &Cfg, total: u64, nt: usize) {
    let m = Arc::new(Mutex::new(0u64));
    let mut hs = Vec::with_capacity(nt);
    for t in 0..nt {
        let iters = total / nt as u64 + if (t as u64) < total % nt as u64 { 1 } else { 0 };
        let m = m.clone();
        hs.push(tokio::spawn(async move {
            for _ in 0..iters {
                *m.lock().await += 1;
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let c = *m.lock().await;
    if c != total {
        fail(cfg, format!("counter {} != {}", c, total));
    }
}

// ------------------------------------------------------------------ W11 channel

async fn w11(cfg: &Cfg, cnt: u64, cap: usize) {
    let (tx, mut rx) = mpsc::channel::<u64>(cap);
    let p = tokio::spawn(async move {
        for i in 0..cnt {
            tx.send(i).await.unwrap();
        }
    });
    let c = tokio::spawn(async move {
        let mut sum = 0u64;
        for i in 0..cnt {
            let v = rx.recv().await.unwrap_or(u64::MAX);
            if v != i {
                return Err(format!("message {}: got {}", i, v));
            }
            sum = sum.wrapping_add(v);
        }
        let want = cnt.wrapping_mul(cnt.wrapping_sub(1)) / 2;
        if sum != want {
            return Err(format!("sum {} != {}", sum, want));
        }
        Ok(())
    });
    p.await.unwrap();
    if let Err(e) = c.await.unwrap() {
        fail(cfg, e);
    }
}

// ------------------------------------------------------------------ W12 timers

/// splitmix64: the same pseudo-random durations in every program of the comparison.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) as f64 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) as f64 * 1e-6
}

async fn w12(cfg: &Cfg, rep: usize) {
    let n = cfg.n;
    let mut late: Vec<i64> = Vec::with_capacity(n as usize * cfg.rounds);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    for r in 0..cfg.rounds as u64 {
        let mut hs = Vec::with_capacity(n as usize);
        for i in 0..n {
            let ms = 1 + splitmix64(cfg.seed ^ (r * n + i)) % 100;
            hs.push(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_millis(ms);
                tokio::time::sleep_until(deadline.into()).await;
                let now = Instant::now();
                if now < deadline {
                    -((deadline - now).as_nanos() as i64)
                } else {
                    (now - deadline).as_nanos() as i64
                }
            }));
        }
        for h in hs {
            late.push(h.await.unwrap());
        }
    }
    let (el, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    late.sort_unstable();
    if late[0] < 0 {
        fail(cfg, format!("a sleep ended {} ns before its deadline", -late[0]));
    }
    let pct = |q: f64| late[(q * (late.len() - 1) as f64) as usize] as f64 / 1e3;
    println!(
        "peer=tokio workload=W12 n={} workers={} rep={} rounds={} p50_us={:.1} p99_us={:.1} max_us={:.1} cpu_s={:.3} unit=us elapsed_s={:.4}",
        n, cfg.workers, rep, cfg.rounds, pct(0.5), pct(0.99), pct(1.0), cpu, el
    );
}

// ------------------------------------------------------------------ SKEW load balance under skew

/// The same loop as the C program's (an empty asm statement that "changes" x every step, so that LLVM
/// cannot unroll the recurrence into independent multiplies; Go's compiler does not transform it).
#[inline(never)]
fn skew_spin(mut x: u64, iters: u64) -> u64 {
    for _ in 0..iters {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        unsafe { std::arch::asm!("/* {0} */", inout(reg) x, options(nomem, nostack, preserves_flags)) };
    }
    x
}

fn skew_setup(cfg: &Cfg) -> Vec<u64> {
    let n = cfg.n as usize;
    let mut perm: Vec<u64> = (0..n as u64).collect();
    for i in (1..n).rev() {
        let j = (splitmix64(cfg.seed.wrapping_add(i as u64)) % (i as u64 + 1)) as usize;
        perm.swap(i, j);
    }
    perm.iter().map(|&p| if p % cfg.every == 0 { cfg.unit * cfg.factor } else { cfg.unit }).collect()
}

/// One batch: (makespan / (work / W), makespan ns, work ns, checksum).
async fn skew_batch(cfg: &Cfg, iters: &Arc<Vec<u64>>) -> (f64, u64, u64, u64) {
    let n = cfg.n as usize;
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(n);
    for i in 0..n {
        let it = iters.clone();
        hs.push(tokio::spawn(async move {
            let s = Instant::now();
            let x = skew_spin(i as u64 + 1, it[i]);
            (x, s.elapsed().as_nanos() as u64)
        }));
    }
    let (mut sum, mut work) = (0u64, 0u64);
    for h in hs {
        let (x, d) = h.await.unwrap();
        sum = sum.wrapping_add(x);
        work += d;
    }
    let span = t0.elapsed().as_nanos() as u64;
    (span as f64 / (work as f64 / cfg.workers as f64), span, work, sum)
}

async fn skew(cfg: &Cfg) {
    let iters = Arc::new(skew_setup(cfg));
    let nlong = iters.iter().filter(|&&x| x != cfg.unit).count();
    let check = skew_batch(cfg, &iters).await.3;
    let b = cfg.batches;
    for rep in 1..=cfg.reps {
        let (mut r, mut s, mut wk) = (Vec::with_capacity(b), Vec::with_capacity(b), Vec::with_capacity(b));
        for _ in 0..b {
            let (ratio, span, work, sum) = skew_batch(cfg, &iters).await;
            if sum != check {
                fail(cfg, format!("checksum {} != {}", sum, check));
            }
            r.push(ratio);
            s.push(span as f64);
            wk.push(work as f64);
        }
        for v in [&mut r, &mut s, &mut wk] {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        }
        println!(
            "peer=tokio workload=SKEW n={} workers={} rep={} batches={} ratio={:.4} ratio_min={:.4} ratio_max={:.4} makespan_ns={:.0} work_ns={:.0} ns_per_op={:.2} unit=ratio long={} factor={} unit_iters={}",
            cfg.n, cfg.workers, rep, b, r[b / 2], r[0], r[b - 1], s[b / 2], wk[b / 2], s[b / 2] / cfg.n as f64, nlong, cfg.factor, cfg.unit
        );
    }
}

// ------------------------------------------------------------------ measurement

async fn batch(cfg: &Cfg) {
    match cfg.workload.as_str() {
        "W7" | "W7c" => w7_notify(cfg, cfg.n, cfg.pairs).await,
        "W7b" => w7_chan(cfg, cfg.n, cfg.pairs).await,
        "W10" => w10(cfg, cfg.n, cfg.tasks).await,
        "W11" => w11(cfg, cfg.n, cfg.cap).await,
        _ => unreachable!(),
    }
}

async fn time_batches(cfg: &Cfg, k: u64) -> f64 {
    let t0 = Instant::now();
    for _ in 0..k {
        batch(cfg).await;
    }
    t0.elapsed().as_secs_f64()
}

async fn calibrate(cfg: &Cfg) -> u64 {
    let mut k = 1u64;
    let mut t = time_batches(cfg, k).await;
    if t < 4.0 * cfg.min_time {
        t = time_batches(cfg, k).await;
    }
    while t < cfg.min_time {
        let est = (k as f64 * 1.3 * cfg.min_time / t.max(1e-7)).ceil() as u64;
        k = est.max(2 * k);
        t = time_batches(cfg, k).await;
    }
    k
}

async fn driver(cfg: Cfg) {
    if cfg.workload == "W12" {
        for r in 1..=cfg.reps {
            w12(&cfg, r).await;
        }
        return;
    }
    if cfg.workload == "SKEW" {
        skew(&cfg).await;
        return;
    }
    let np = cfg.pairs as u64;
    let (unit, ops, extra) = match cfg.workload.as_str() {
        "W7" | "W7c" => ("ns/round-trip", (cfg.n * np) as f64, format!(" pairs={} via=notify", np)),
        "W7b" => ("ns/round-trip", (cfg.n * np) as f64, format!(" pairs={} via=mpsc1", np)),
        "W10" => ("ns/lock-unlock", cfg.n as f64, format!(" tasks={}", cfg.tasks)),
        "W11" => ("ns/message", cfg.n as f64, format!(" cap={}", cfg.cap)),
        _ => unreachable!(),
    };
    let k = calibrate(&cfg).await;
    for r in 1..=cfg.reps {
        let el = time_batches(&cfg, k).await;
        println!(
            "peer=tokio workload={} n={} workers={} rep={} batches={} ns_per_op={:.2} unit={} elapsed_s={:.4}{}",
            cfg.workload,
            cfg.n,
            cfg.workers,
            r,
            k,
            el * 1e9 / (k as f64 * ops),
            unit,
            el,
            extra
        );
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: sync-tokio W7|W7b|W7c|W10|W11|W12|SKEW N WORKERS [reps=5] [mintime=0.25] [pairs=P] [tasks=T] [cap=C] [rounds=5] [seed=S] [batches=5] [unit=1024] [factor=1000] [every=100]"
    );
    std::process::exit(2);
}

fn num<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        usage();
    }
    let mut cfg = Cfg {
        workload: args[1].clone(),
        n: num(&args[2]),
        workers: num(&args[3]),
        reps: 5,
        min_time: 0.25,
        pairs: 0,
        tasks: 0,
        cap: 1024,
        rounds: 5,
        seed: 42,
        batches: 5,
        unit: 1024,
        factor: 1000,
        every: 100,
    };
    for a in &args[4..] {
        let (k, v) = a.split_once('=').unwrap_or_else(|| usage());
        match k {
            "reps" => cfg.reps = num(v),
            "mintime" => cfg.min_time = num(v),
            "pairs" => cfg.pairs = num(v),
            "tasks" => cfg.tasks = num(v),
            "cap" => cfg.cap = num(v),
            "rounds" => cfg.rounds = num(v),
            "seed" => cfg.seed = num(v),
            "batches" => cfg.batches = num(v),
            "unit" => cfg.unit = num(v),
            "factor" => cfg.factor = num(v),
            "every" => cfg.every = num(v),
            _ => usage(),
        }
    }
    if cfg.n == 0 || cfg.workers == 0 || cfg.rounds == 0 || cfg.cap == 0 || cfg.batches == 0 || cfg.unit == 0
        || cfg.factor == 0 || cfg.every == 0
    {
        usage();
    }
    if cfg.pairs == 0 {
        cfg.pairs = cfg.workers;
    }
    if cfg.tasks == 0 {
        cfg.tasks = 4 * cfg.workers;
    }
    match cfg.workload.as_str() {
        "W7" | "W7b" | "W7c" | "W10" | "W11" | "W12" | "SKEW" => {}
        _ => {
            eprintln!("sync-tokio: unknown workload {}", cfg.workload);
            std::process::exit(2);
        }
    }
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(cfg.workers);
    if cfg.workload == "W12" {
        b.enable_time();
    }
    let rt = b.build().unwrap();
    rt.block_on(async move { tokio::spawn(driver(cfg)).await.unwrap() });
}
