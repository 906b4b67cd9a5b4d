//! dtact_util::io: timeouts, select-like concurrency, dropped futures, UDP, Unix sockets,
//! buffered I/O, lookup_host. One runtime (2 workers) shared by the tests of this binary.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dtact::Runtime;
use dtact_util::io::{
    copy, lookup_host, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, DtactTcpListener,
    DtactTcpStream, DtactUdpSocket, DtactUnixDatagram, DtactUnixListener, DtactUnixStream,
};

fn rt() -> &'static Runtime {
    static RT: Mutex<Option<&'static Runtime>> = Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(2).build().expect("runtime"))));
    }
    g.expect("set above")
}

/// Runs `fut` as a task (bounded: 60 s) and returns its output.
fn run<F: Future + Send + 'static>(fut: F) -> F::Output
where
    F::Output: Send + 'static,
{
    rt().block_on(dtact::spawn(dtact::time::timeout(Duration::from_secs(60), fut)))
        .expect("task")
        .expect("the test took over 60 s")
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls two futures in one task (with the task's one waker); the first to finish wins and the
/// other is dropped, pending.
struct Select<A, B> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
}

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = self.b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    }
}

fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select { a: Box::pin(a), b: Box::pin(b) }
}

/// Polls a future once: `Some(output)` or `None` (still pending; it is handed back).
struct PollOnce<'a, F>(Option<Pin<&'a mut F>>);
impl<F: Future> Future for PollOnce<'_, F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let f = self.0.as_mut().expect("polled after completion");
        Poll::Ready(match f.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    }
}

async fn tcp_pair() -> (DtactTcpStream, DtactTcpStream) {
    let l = DtactTcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let c = dtact::spawn(async move { DtactTcpStream::connect(addr).await.unwrap() });
    let (s, peer) = l.accept().await.unwrap();
    let c = c.await.unwrap();
    assert_eq!(c.local_addr().unwrap(), peer);
    assert_eq!(s.local_addr().unwrap(), c.peer_addr().unwrap());
    (s, c)
}

#[test]
fn read_timeout_expires_then_the_socket_still_works() {
    run(async {
        let (s, c) = tcp_pair().await;
        let mut buf = [0u8; 16];
        let t0 = Instant::now();
        let r = dtact::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await;
        assert!(r.is_err(), "the read completed without data");
        assert!(t0.elapsed() >= Duration::from_millis(50));
        // The dropped read left the socket usable, also for a read already waiting.
        let reader = {
            let s = Arc::new(s);
            let s2 = s.clone();
            (
                s,
                dtact::spawn(async move {
                    let mut b = [0u8; 5];
                    let mut k = 0;
                    while k < 5 {
                        k += s2.read(&mut b[k..]).await.unwrap();
                    }
                    b
                }),
            )
        };
        c.write_all(b"later").await.unwrap();
        assert_eq!(&reader.1.await.unwrap(), b"later");
    });
}

#[test]
fn two_pending_reads_in_one_task_either_completes() {
    run(async {
        let (s1, c1) = tcp_pair().await;
        let (s2, c2) = tcp_pair().await;
        let mut b1 = [0u8; 8];
        let mut b2 = [0u8; 8];
        // Both reads pending in one task; the data comes on the second socket only, from
        // another task, after this task has suspended.
        let writer = dtact::spawn(async move {
            dtact::time::sleep(Duration::from_millis(20)).await;
            c2.write_all(b"two").await.unwrap();
            c2
        });
        match select(s1.read(&mut b1), s2.read(&mut b2)).await {
            Either::Right(n) => assert_eq!(&b2[..n.unwrap()], b"two"),
            Either::Left(_) => panic!("the read of the silent socket completed"),
        }
        let _c2 = writer.await.unwrap();
        // And the other way round, with the first socket's read (dropped above) renewed.
        let writer = dtact::spawn(async move {
            dtact::time::sleep(Duration::from_millis(20)).await;
            c1.write_all(b"one").await.unwrap();
            c1
        });
        match select(s1.read(&mut b1), s2.read(&mut b2)).await {
            Either::Left(n) => assert_eq!(&b1[..n.unwrap()], b"one"),
            Either::Right(_) => panic!("the read of the silent socket completed"),
        }
        writer.await.unwrap();
    });
}

#[test]
fn a_dropped_pending_read_leaves_the_socket_usable_and_drop_closes() {
    run(async {
        let (a, b) = DtactUnixStream::pair().unwrap();
        let mut buf = [0u8; 8];
        {
            let mut fut = Box::pin(a.read(&mut buf));
            assert!(PollOnce(Some(fut.as_mut())).await.is_none());
        } // dropped while pending
        b.write_all(b"x").await.unwrap();
        let n = a.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"x");
        // A socket dropped with a pending registration (and its watcher alive) is closed: the
        // peer sees the end of the stream.
        {
            let mut fut = Box::pin(a.read(&mut buf));
            assert!(PollOnce(Some(fut.as_mut())).await.is_none());
        }
        drop(a);
        assert_eq!(b.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn full_duplex_bulk_from_two_tasks() {
    run(async {
        let (s, c) = tcp_pair().await;
        const LEN: usize = 4 << 20;
        let data: Arc<Vec<u8>> = Arc::new((0..LEN).map(|i| (i % 253) as u8).collect());
        // Server: echo with copy (one task, trait path).
        let server = dtact::spawn(async move {
            let mut s = s;
            let mut buf = vec![0u8; LEN];
            AsyncReadExt::read_exact(&mut s, &mut buf).await.unwrap();
            AsyncWriteExt::write_all(&mut s, &buf).await.unwrap();
            AsyncWriteExt::shutdown(&mut s).await.unwrap();
        });
        // Client: one task writes, another reads, on one shared stream.
        let c = Arc::new(c);
        let (cw, d) = (c.clone(), data.clone());
        let writer = dtact::spawn(async move { cw.write_all(&d).await.unwrap() });
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = c.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        server.await.unwrap();
        assert!(got == *data, "echo differs");
    });
}

#[test]
fn udp_send_recv() {
    run(async {
        let a = DtactUdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = Arc::new(DtactUdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let b2 = b.clone();
        let echo = dtact::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..4 {
                let (n, from) = b2.recv_from(&mut buf).await.unwrap();
                b2.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let mut buf = [0u8; 64];
        for i in 0..2u8 {
            a.send_to(&[i; 3], ba).await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&[i; 3][..], ba));
        }
        a.connect(ba).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), ba);
        for i in 2..4u8 {
            a.send(&[i; 5]).await.unwrap();
            let n = a.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[i; 5]);
        }
        echo.await.unwrap();
        assert_ne!(aa, ba);
    });
}

#[test]
fn unix_stream_peer_cred_buffered_and_copy() {
    let dir = std::env::temp_dir().join(format!("dtact-util-io-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("u.sock");
    let _ = std::fs::remove_file(&path);
    let p2 = path.clone();
    run(async move {
        let l = DtactUnixListener::bind(&p2).unwrap();
        let server = dtact::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let cred = s.peer_cred().unwrap();
            // Echo line by line through a BufReader/BufWriter pair over one stream.
            let mut r = BufReader::new(s);
            let mut lines = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                let mut w = BufWriter::new(r.get_mut());
                w.write_all(line.to_uppercase().as_bytes()).await.unwrap();
                w.flush().await.unwrap();
                lines += 1;
            }
            (cred, lines)
        });
        let mut c = DtactUnixStream::connect(&p2).await.unwrap();
        assert_eq!(c.peer_cred().unwrap().pid, Some(std::process::id() as i32));
        let mut r = Vec::new();
        for w in ["alpha\n", "beta\n", "gamma\n"] {
            c.write_all(w.as_bytes()).await.unwrap();
            let mut b = vec![0u8; w.len()];
            c.read_exact(&mut b).await.unwrap();
            r.push(String::from_utf8(b).unwrap());
        }
        assert_eq!(r, ["ALPHA\n", "BETA\n", "GAMMA\n"]);
        AsyncWriteExt::shutdown(&mut c).await.unwrap();
        let (cred, lines) = server.await.unwrap();
        assert_eq!(lines, 3);
        assert_eq!(cred.pid, Some(std::process::id() as i32));

        // copy: a stream pair's contents into another.
        let (mut x, y) = DtactUnixStream::pair().unwrap();
        let (mut z, w) = DtactUnixStream::pair().unwrap();
        let feeder = dtact::spawn(async move {
            let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
            y.write_all(&data).await.unwrap();
            drop(y);
            data
        });
        let drain = dtact::spawn(async move {
            let mut w = w;
            let mut v = Vec::new();
            w.read_to_end(&mut v).await.unwrap();
            v
        });
        let n = copy(&mut x, &mut z).await.unwrap();
        drop(z);
        let data = feeder.await.unwrap();
        assert_eq!(n as usize, data.len());
        assert!(drain.await.unwrap() == data);

        // Unix datagrams.
        let (d1, d2) = DtactUnixDatagram::pair().unwrap();
        let h = dtact::spawn(async move {
            let mut b = [0u8; 16];
            let n = d2.recv(&mut b).await.unwrap();
            d2.send(&b[..n]).await.unwrap();
        });
        d1.send(b"dgram").await.unwrap();
        let mut b = [0u8; 16];
        let n = d1.recv(&mut b).await.unwrap();
        assert_eq!(&b[..n], b"dgram");
        h.await.unwrap();
    });
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn lookup_host_localhost() {
    let addrs: Vec<_> = run(async { lookup_host("localhost:80").await.unwrap().collect() });
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()), "{addrs:?}");
    // Also from a plain thread (block_on outside any fiber).
    let addrs: Vec<_> = rt().block_on(async { lookup_host(("127.0.0.1", 9)).await.unwrap().collect() });
    assert_eq!(addrs, vec!["127.0.0.1:9".parse().unwrap()]);
    dtact_util::io::init(4); // the original's init: a no-op
}

#[test]
fn connect_refused_is_an_error() {
    run(async {
        let addr = {
            let l = DtactTcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        }; // closed: nobody listens there now
        let e = DtactTcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    });
}
