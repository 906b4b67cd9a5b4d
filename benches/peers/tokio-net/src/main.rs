//! io-tokio: tokio's task-per-connection servers for the I/O workloads W13-W15 (docs/benchmarks.md), driven by
//! benches/loadgen/loadgen.c.
//!
//!     io-tokio echo|idle|http PORT WORKERS
//!
//! A multi-thread runtime with worker_threads = WORKERS; the accept loop is a spawned task, and every accepted
//! connection gets its own spawned task (TCP_NODELAY set, as Go and the C servers do). echo and idle are the
//! same handler: read up to 1 KiB into a buffer that lives in the task's future and write it back (an idle
//! connection's task sits in that read). http is a minimal HTTP/1.1 keep-alive server written by hand over
//! tokio::net (Debian bookworm's hyper is a separate crate: benches/peers/hyper-net): it reads into a 4 KiB
//! buffer and answers every complete request head (`\r\n\r\n`; no request bodies) with a fixed 200 response
//! with Content-Length 13 and body "Hello, world!". Prints "ready" once listening on 127.0.0.1:PORT.

use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

async fn serve_echo(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn serve_http(mut s: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut len = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(RESPONSE.len());
    loop {
        if len == buf.len() {
            return; // request head too large
        }
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        let mut start = 0;
        out.clear();
        while let Some(e) = find_head_end(&buf[start..len]) {
            out.extend_from_slice(RESPONSE);
            start += e;
        }
        if !out.is_empty() && s.write_all(&out).await.is_err() {
            return;
        }
        buf.copy_within(start..len, 0);
        len -= start;
    }
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
    if args.len() < 4 || !matches!(args[1].as_str(), "echo" | "idle" | "http") {
        eprintln!("usage: io-tokio echo|idle|http PORT WORKERS");
        std::process::exit(2);
    }
    let http = args[1] == "http";
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
            eprintln!("io-tokio: bind: {e}");
            std::process::exit(1)
        });
        let acceptor = tokio::spawn(async move {
            loop {
                match ln.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        if http {
                            tokio::spawn(serve_http(s));
                        } else {
                            tokio::spawn(serve_echo(s));
                        }
                    }
                    Err(e) => eprintln!("io-tokio: accept: {e}"),
                }
            }
        });
        println!("ready");
        let _ = std::io::stdout().flush();
        let _ = acceptor.await;
    });
}
