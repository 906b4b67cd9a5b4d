//! Runs examples/echo.rs (`harness = false`: this binary runs itself again as a child process
//! with `DTACT_ECHO_CHILD=1` and the arguments `127.0.0.1:0 2`), reads the address it listens
//! on from its stderr, echoes through it from a few plain threads, and kills it.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

mod echo {
    include!("../examples/echo.rs");
    pub(crate) fn run() {
        main()
    }
}

fn main() {
    if std::env::var_os("DTACT_ECHO_CHILD").is_some() {
        echo::run();
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .env("DTACT_ECHO_CHILD", "1")
        .args(["127.0.0.1:0", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("read stderr");
    let addr =
        line.trim().strip_prefix("echo: listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_string();
    let clients: Vec<_> = (0..8u8)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let msg: Vec<u8> = (0..50_000u32).map(|k| (k as u8).wrapping_add(i)).collect();
                let w = {
                    let mut w = s.try_clone().unwrap();
                    let msg = msg.clone();
                    std::thread::spawn(move || w.write_all(&msg).unwrap())
                };
                let mut got = vec![0u8; msg.len()];
                s.read_exact(&mut got).expect("echo");
                w.join().unwrap();
                assert!(got == msg, "echo differs");
            })
        })
        .collect();
    let joined: Vec<bool> = clients.into_iter().map(|c| c.join().is_ok()).collect();
    let ok = joined.iter().all(|&x| x);
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "a client failed");
    println!("echo example: 8 clients echoed");
}
