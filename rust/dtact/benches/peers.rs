//! rust_bench: dtact::spawn vs Tokio on W2 (yield), W3 (spawn_join) and W5 (fib_tree), same
//! process, same worker count (2; W2 on one worker / tokio current_thread), median of 5 reps
//! after the same calibration as /work/shared/bench/peers/tokio (batches run >= mintime).
//! The Tokio side is that peer's code. `cargo bench --bench peers [-- --quick]`;
//! `DTACT_BENCH_ROWS=W3` runs only the W3 row(s); `DTACT_BENCH_SIDE=dtact` (or `tokio`) runs only
//! that side of each row (for profiling; the other column shows 0).
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

fn fib_seq(k: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..k {
        let t = a + b;
        a = b;
        b = t;
    }
    a
}
fn fib_calls(k: u64) -> u64 {
    2 * fib_seq(k + 1) - 1
}
fn check(ok: bool, what: String) {
    if !ok {
        eprintln!("CHECK FAILED: {what}");
        std::process::exit(1);
    }
}

macro_rules! workloads {
    ($m:ident, $spawn:path, $yield_now:path) => {
        mod $m {
            use super::*;
            type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
            pub async fn w2(per_task: u64, ntasks: usize) {
                let mut hs = Vec::with_capacity(ntasks);
                for _ in 0..ntasks {
                    hs.push($spawn(async move {
                        let mut c = 0u64;
                        for _ in 0..per_task {
                            $yield_now().await;
                            c += 1;
                        }
                        c
                    }));
                }
                let mut total = 0;
                for h in hs {
                    total += h.await.unwrap();
                }
                check(total == per_task * ntasks as u64, format!("yields {total}"));
            }
            pub async fn w3(n: u64) {
                let mut hs = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    hs.push($spawn(async {}));
                }
                let mut joined = 0u64;
                for h in hs {
                    h.await.unwrap();
                    joined += 1;
                }
                check(joined == n, format!("joined {joined}"));
            }
            fn fib(k: u64) -> BoxFut<u64> {
                Box::pin(async move {
                    if k < 2 {
                        return k;
                    }
                    let a = $spawn(fib(k - 1));
                    let b = $spawn(fib(k - 2));
                    a.await.unwrap() + b.await.unwrap()
                })
            }
            pub async fn w5(k: u64) {
                let r = $spawn(fib(k)).await.unwrap();
                check(r == fib_seq(k), format!("fib({k}) = {r}"));
            }
            pub async fn batch(w: &str, n: u64) {
                match w {
                    "W2" => w2(n, 2).await,
                    "W3" => w3(n).await,
                    "W5" => w5(n).await,
                    _ => unreachable!(),
                }
            }
            async fn time_batches(w: &str, n: u64, k: u64) -> f64 {
                let t0 = Instant::now();
                for _ in 0..k {
                    batch(w, n).await;
                }
                t0.elapsed().as_secs_f64()
            }
            /// Same calibration as the tokio peer; returns the median ns/op of `reps` runs.
            pub async fn driver(w: String, n: u64, reps: usize, min_time: f64) -> f64 {
                let ops = match w.as_str() {
                    "W2" => 2.0 * n as f64,
                    "W3" => n as f64,
                    _ => fib_calls(n) as f64,
                };
                let mut k = 1u64;
                let mut t = time_batches(&w, n, k).await;
                if t < 4.0 * min_time {
                    t = time_batches(&w, n, k).await;
                }
                while t < min_time {
                    let est = (k as f64 * 1.3 * min_time / t.max(1e-7)).ceil() as u64;
                    k = est.max(2 * k);
                    t = time_batches(&w, n, k).await;
                }
                let mut v: Vec<f64> = Vec::new();
                for _ in 0..reps {
                    let el = time_batches(&w, n, k).await;
                    v.push(el * 1e9 / (k as f64 * ops));
                }
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                v[v.len() / 2]
            }
        }
    };
}
workloads!(on_dtact, dtact::spawn, dtact::yield_now);
workloads!(on_tokio, tokio::spawn, tokio::task::yield_now);

fn run_dtact(w: &str, n: u64, workers: u32, reps: usize, mt: f64) -> f64 {
    let rt = dtact::Runtime::builder().workers(workers).build().expect("dtact runtime");
    let w = w.to_string();
    let r = rt.block_on(async move { dtact::spawn(on_dtact::driver(w, n, reps, mt)).await.unwrap() });
    drop(rt);
    r
}

fn run_tokio(w: &str, n: u64, workers: usize, reps: usize, mt: f64) -> f64 {
    let rt = if w == "W2" {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).build().unwrap()
    };
    let w = w.to_string();
    let r = rt.block_on(async move { tokio::spawn(on_tokio::driver(w, n, reps, mt)).await.unwrap() });
    drop(rt);
    r
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("DTACT_BENCH_QUICK").is_some();
    let (reps, mt) = if quick { (3, 0.05) } else { (5, 0.25) };
    let rows: Vec<(&str, &str, u64)> = if quick {
        vec![("W2", "yield, 2 tasks x N (W=1)", 200_000), ("W3", "spawn_join", 100_000), ("W5", "fib_tree fib(n)", 20)]
    } else {
        vec![
            ("W2", "yield, 2 tasks x N (W=1)", 5_000_000),
            ("W3", "spawn_join", 1_000_000),
            ("W5", "fib_tree fib(n)", 25),
            ("W5", "fib_tree fib(n)", 30),
        ]
    };
    println!("rust_bench ({}; W=2 except W2; median of {reps})\n", if quick { "quick" } else { "full" });
    println!("| id | workload | N | unit | dtact::spawn | tokio 1.24 | dtact / tokio |");
    println!("|----|----------|--:|------|---:|---:|---:|");
    // DTACT_BENCH_ROWS=W3,W5 runs only those rows (for profiling).
    let only = std::env::var("DTACT_BENCH_ROWS").ok();
    for (w, name, n) in rows {
        if only.as_deref().map_or(false, |o| !o.split(',').any(|r| r == w)) {
            continue;
        }
        let workers = if w == "W2" { 1 } else { 2 };
        let side = std::env::var("DTACT_BENCH_SIDE").ok();
        let d = if side.as_deref() == Some("tokio") { 0.0 } else { run_dtact(w, n, workers, reps, mt) };
        let t = if side.as_deref() == Some("dtact") { 0.0 } else { run_tokio(w, n, 2, reps, mt) };
        let unit = match w {
            "W2" => "ns/yield",
            _ => "ns/task",
        };
        println!("| {w} | {name} | {n} | {unit} | {d:.1} | {t:.1} | {:.2} |", d / t);
    }
}
