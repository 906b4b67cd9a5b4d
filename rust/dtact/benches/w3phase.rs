//! W3 split into its phases (profiling aid): spawn 1M `async {}` tasks, then await them; prints
//! the min and median ns/task of each phase over REPS batches (dtact and tokio, same process).
use std::time::Instant;

const N: usize = 1_000_000;

macro_rules! phases {
    ($name:ident, $spawn:path) => {
        async fn $name(reps: usize) -> (Vec<f64>, Vec<f64>) {
            let (mut s, mut a) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let mut hs = Vec::with_capacity(N);
                let t0 = Instant::now();
                for _ in 0..N {
                    hs.push($spawn(async {}));
                }
                let t1 = Instant::now();
                for h in hs {
                    h.await.unwrap();
                }
                let t2 = Instant::now();
                s.push((t1 - t0).as_secs_f64() * 1e9 / N as f64);
                a.push((t2 - t1).as_secs_f64() * 1e9 / N as f64);
            }
            (s, a)
        }
    };
}
phases!(dt, dtact::spawn);
phases!(tk, tokio::spawn);

fn stat(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!("min {:6.1} med {:6.1}", v[0], v[v.len() / 2])
}

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(9);
    let side = std::env::var("DTACT_BENCH_SIDE").ok();
    if side.as_deref() != Some("tokio") {
        let w: u32 = std::env::var("W").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
        let rt = dtact::Runtime::builder().workers(w).build().unwrap();
        let (s, a) = rt.block_on(async move { dtact::spawn(dt(reps)).await.unwrap() });
        let tot: Vec<f64> = s.iter().zip(&a).map(|(x, y)| x + y).collect();
        println!("dtact spawn {} | await {} | total {}", stat(s), stat(a), stat(tot));
        drop(rt);
    }
    if side.as_deref() != Some("dtact") {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let (s, a) = rt.block_on(async move { tokio::spawn(tk(reps)).await.unwrap() });
        let tot: Vec<f64> = s.iter().zip(&a).map(|(x, y)| x + y).collect();
        println!("tokio spawn {} | await {} | total {}", stat(s), stat(a), stat(tot));
    }
}
