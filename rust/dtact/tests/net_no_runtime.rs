//! dtact::net on plain threads of a process without a Dtact runtime: dtact_wait_fd is poll(2).
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use dtact::net::{TcpListener, TcpStream, UdpSocket};

#[test]
fn tcp_and_udp_without_a_runtime() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut s = l.incoming().next().unwrap().unwrap();
        let mut buf = vec![0u8; 50_000];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&data).unwrap();
    let mut got = vec![0u8; data.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, data);
    server.join().unwrap();

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(u.recv(&mut b).unwrap_err().kind(), ErrorKind::TimedOut);
    u.send_to(b"self", u.local_addr().unwrap()).unwrap();
    let (n, from) = u.recv_from(&mut b).unwrap();
    assert_eq!((&b[..n], from), (&b"self"[..], u.local_addr().unwrap()));
}
