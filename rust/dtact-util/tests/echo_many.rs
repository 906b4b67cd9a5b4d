//! Many concurrent loopback connections echoed through dtact_util types, one task per
//! connection on each side, checked byte for byte; then every socket (and every watcher fiber,
//! which holds a retired fd number until it exits) is closed again. Own binary: it counts fds.
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtact::sync::{Barrier, Semaphore};
use dtact_util::io::{AsyncReadExt, AsyncWriteExt, DtactTcpListener, DtactTcpStream};

const N: usize = 400; // 800 sockets: below the common soft limit of 1024 fds

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(131) ^ seed.wrapping_mul(7)) as u8).collect()
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

async fn echo(s: DtactTcpStream) {
    let mut buf = vec![0u8; 8192];
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

#[test]
fn many_connections_echo_byte_for_byte() {
    let rt = dtact::Runtime::builder().workers(2).build().expect("runtime");
    let base = count_fds();
    let t0 = Instant::now();
    let out = rt.block_on(dtact::spawn(dtact::time::timeout(Duration::from_secs(120), async {
        let l = DtactTcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = dtact::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..N {
                let (s, _) = l.accept().await.unwrap();
                conns.push(dtact::spawn(echo(s)));
            }
            for c in conns {
                c.await.unwrap();
            }
        });
        // At most 64 connects in flight (the listen backlog is 128), but all N connections
        // stay open together: each client waits at the barrier before it talks.
        let sem = Arc::new(Semaphore::new(64));
        let barrier = Arc::new(Barrier::new(N));
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let sem = sem.clone();
                let barrier = barrier.clone();
                dtact::spawn(async move {
                    let mut s = {
                        let _p = sem.acquire().await.unwrap();
                        DtactTcpStream::connect(addr).await.unwrap()
                    };
                    barrier.wait().await;
                    let mut total = 0;
                    for round in 0..3 {
                        let len = 1 + (i * 977 + round * 4099) % 20_000;
                        let msg = pattern(len, i + round);
                        let mut got = vec![0u8; len];
                        if i % 2 == 0 {
                            s.write_all(&msg).await.unwrap();
                            let mut k = 0;
                            while k < len {
                                let n = s.read(&mut got[k..]).await.unwrap();
                                assert!(n > 0, "early end of stream");
                                k += n;
                            }
                        } else {
                            AsyncWriteExt::write_all(&mut s, &msg).await.unwrap();
                            AsyncReadExt::read_exact(&mut s, &mut got).await.unwrap();
                        }
                        assert!(got == msg, "connection {i} round {round}: echo differs");
                        total += len;
                    }
                    total
                })
            })
            .collect();
        let mut bytes = 0;
        for c in clients {
            bytes += c.await.unwrap();
        }
        server.await.unwrap();
        bytes
    })));
    let bytes = out.expect("task").expect("the echo test took over 120 s");
    assert!(bytes > N * 3);
    // Every socket is closed once its watchers have gone: wait (bounded) for the count to fall
    // back (the slack is the runtime's own fds made since: an epoll set and an eventfd per
    // worker, and the /dev/null that retired sockets point to; a leak would be hundreds).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = count_fds();
        if now <= base + 16 {
            break;
        }
        assert!(Instant::now() < deadline, "fds still open: {now} (base {base})");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("{N} connections, {bytes} bytes echoed in {:?}", t0.elapsed());
}
