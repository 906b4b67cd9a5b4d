//! dtact::net: blocking sockets on fibers and on plain threads (one runtime, 2 workers).
use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dtact::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use dtact::Runtime;

fn rt() -> &'static Runtime {
    static RT: Mutex<Option<&'static Runtime>> = Mutex::new(None);
    let mut g = RT.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Box::leak(Box::new(Runtime::builder().workers(2).build().expect("runtime"))));
    }
    g.expect("set above")
}

/// Runs `f` on a fiber (a synchronous closure) and returns its value.
fn on_fiber<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    rt();
    dtact::fiber::spawn_with_stack(256 * 1024, f).join().expect("fiber")
}

fn echo_once(s: &TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = (&*s).read(&mut buf).unwrap();
        if n == 0 {
            return;
        }
        (&*s).write_all(&buf[..n]).unwrap();
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn tcp_fiber_server_thread_client_and_back() {
    // Server on fibers, client on a plain thread.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = {
        rt();
        dtact::fiber::spawn_with_stack(256 * 1024, move || {
            let (s, _) = l.accept().unwrap();
            echo_once(&s);
        })
    };
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    let data = pattern(200_000, 7);
    let w = c.try_clone().unwrap();
    let data2 = data.clone();
    let writer = std::thread::spawn(move || {
        let mut w = w;
        w.write_all(&data2).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got, data);
    server.join().unwrap();

    // Server on a plain thread, client on a fiber (connect_timeout, timeouts set).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, peer) = l.accept().unwrap();
        assert_eq!(s.peer_addr().unwrap(), peer);
        echo_once(&s);
    });
    let ok = on_fiber(move || {
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_secs(30)));
        assert!(c.set_write_timeout(Some(Duration::ZERO)).is_err());
        let data = pattern(100_000, 3);
        let mut got = vec![0u8; data.len()];
        for (chunk, out) in data.chunks(10_000).zip(got.chunks_mut(10_000)) {
            c.write_all(chunk).unwrap();
            c.read_exact(out).unwrap();
        }
        got == data
    });
    assert!(ok);
    server.join().unwrap();
}

#[test]
fn read_timeout_expires_then_the_socket_still_works() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        rx.recv().unwrap(); // after the client's timeout
        s.write_all(b"late").unwrap();
        let mut b = [0u8; 1];
        let _ = s.read(&mut b);
    });
    let ok = on_fiber(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let t0 = Instant::now();
        let mut b = [0u8; 4];
        let e = c.read(&mut b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(t0.elapsed() >= Duration::from_millis(50));
        tx.send(()).unwrap();
        c.set_read_timeout(None).unwrap();
        c.read_exact(&mut b).unwrap();
        &b == b"late"
    });
    assert!(ok);
    server.join().unwrap();
}

#[test]
fn cancel_wakes_a_blocked_reader() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let (tx, rx) = mpsc::channel();
    rt();
    let h = dtact::fiber::spawn_with_stack(256 * 1024, move || {
        let mut buf = [0u8; 8];
        let r = (&a).read(&mut buf);
        tx.send(r.map_err(|e| e.kind())).unwrap();
    });
    // Cancel until the reader returns (it may not be waiting yet when a cancel comes).
    let r = loop {
        // SAFETY: dtact_fd_cancel takes any fd value; `a` is alive until the fiber returns.
        unsafe { dtact::sys::dtact_fd_cancel(fd) };
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(r) => break r,
            Err(_) => continue,
        }
    };
    assert_eq!(r, Err(ErrorKind::ConnectionAborted));
    h.join().unwrap();
}

#[test]
fn udp_on_a_fiber_and_a_thread() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let aa = a.local_addr().unwrap();
    let ba = b.local_addr().unwrap();
    let echo = on_fiber_async_handle(move || {
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let (n, from) = b.recv_from(&mut buf).unwrap();
            b.send_to(&buf[..n], from).unwrap();
        }
    });
    a.connect(ba).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    for i in 0..3u8 {
        a.send(&[i, i, i]).unwrap();
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i, i, i]);
    }
    assert_eq!(a.peer_addr().unwrap(), ba);
    assert_ne!(aa, ba);
    echo.join().unwrap();
    // A receive timeout on a plain thread.
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(c.recv_from(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
}

fn on_fiber_async_handle<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> dtact::JoinHandle<R> {
    rt();
    dtact::fiber::spawn_with_stack(256 * 1024, f)
}

#[test]
fn unix_stream_listener_datagram_and_peer_cred() {
    let dir = std::env::temp_dir().join(format!("dtact-net-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    let server = on_fiber_async_handle(move || {
        let (mut s, _) = l.accept().unwrap();
        let cred = s.peer_cred().unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
        cred
    });
    let p2 = path.clone();
    let (got, cred) = on_fiber(move || {
        let mut c = UnixStream::connect(&p2).unwrap();
        c.write_all(b"hello").unwrap();
        let mut b = [0u8; 5];
        c.read_exact(&mut b).unwrap();
        (b, c.peer_cred().unwrap())
    });
    assert_eq!(&got, b"hello");
    let scred = server.join().unwrap();
    assert_eq!(scred.pid, Some(std::process::id() as i32));
    assert_eq!(cred.pid, Some(std::process::id() as i32));
    let _ = std::fs::remove_file(&path);

    let (x, y) = UnixDatagram::pair().unwrap();
    let h = on_fiber_async_handle(move || {
        let mut b = [0u8; 16];
        let n = y.recv(&mut b).unwrap();
        y.send(&b[..n]).unwrap();
    });
    x.send(b"dgram").unwrap();
    let mut b = [0u8; 16];
    let n = x.recv(&mut b).unwrap();
    assert_eq!(&b[..n], b"dgram");
    h.join().unwrap();
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn no_runtime_needed_for_the_error_mapping() {
    let e = dtact::net::io_error(dtact::sys::DTACT_ETIMEDOUT);
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    let e = dtact::net::io_error(dtact::sys::DTACT_ECLOSED);
    assert_eq!(e.kind(), ErrorKind::ConnectionAborted);
    assert!(!e.to_string().is_empty());
}
