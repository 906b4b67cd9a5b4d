//! io-hyper: hyper 0.14's HTTP/1.1 server for W15 (docs/benchmarks.md), driven by benches/loadgen/loadgen.c.
//!
//!     io-hyper http PORT WORKERS
//!
//! A tokio multi-thread runtime with worker_threads = WORKERS; a spawned accept loop over tokio's TcpListener
//! spawns one task per connection that runs hyper's HTTP/1.1 connection driver (`server::conn::Http`,
//! keep-alive on by default) with a service answering every request with 200, Content-Length 13 and body
//! "Hello, world!". Prints "ready" once listening on 127.0.0.1:PORT.

use hyper::server::conn::Http;
use hyper::service::service_fn;
use hyper::{Body, Request, Response};
use std::convert::Infallible;
use std::io::Write;
use tokio::net::TcpListener;

async fn hello(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::builder()
        .header("Content-Type", "text/plain")
        .header("Content-Length", "13")
        .body(Body::from("Hello, world!"))
        .unwrap())
}

fn raise_nofile() {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 || args[1] != "http" {
        eprintln!("usage: io-hyper http PORT WORKERS");
        std::process::exit(2);
    }
    let port: u16 = args[2].parse().expect("PORT");
    let workers: usize = args[3].parse().expect("WORKERS");
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let ln = TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
            eprintln!("io-hyper: bind: {e}");
            std::process::exit(1)
        });
        let acceptor = tokio::spawn(async move {
            let http = Http::new();
            loop {
                match ln.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        let conn = http.serve_connection(s, service_fn(hello));
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                    Err(e) => eprintln!("io-hyper: accept: {e}"),
                }
            }
        });
        println!("ready");
        let _ = std::io::stdout().flush();
        let _ = acceptor.await;
    });
}
