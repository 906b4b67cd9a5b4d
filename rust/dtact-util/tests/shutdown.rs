//! Runtime shutdown with a read pending: the task is cancelled, its watcher fiber ends, and the
//! socket, kept outside the runtime, works again under a new runtime. Own binary (own runtimes).
use std::sync::Arc;
use std::time::Duration;

use dtact_util::io::DtactUnixStream;

#[test]
fn shutdown_ends_pending_reads_and_watchers() {
    let (a, b) = DtactUnixStream::pair().unwrap();
    let a = Arc::new(a);
    let rt = dtact::Runtime::builder().workers(2).build().unwrap();
    let a2 = a.clone();
    let h = dtact::spawn(async move {
        let mut buf = [0u8; 4];
        a2.read(&mut buf).await
    });
    // Let it (most likely) reach its pending read; either way shutdown must end it.
    rt.block_on(dtact::time::sleep(Duration::from_millis(20)));
    drop(rt);
    // Either the task was dropped at its suspension (cancelled), or its watcher, woken with
    // ESHUTDOWN, woke it first and the read returned the runtime's shutdown error.
    match h.join() {
        Err(e) => assert!(e.is_cancelled()),
        Ok(r) => assert!(r.is_err(), "the read completed without data"),
    }

    // Without a runtime, an operation that would block says so instead of hanging.
    let mut buf = [0u8; 4];
    let e = dtact::wait(a.read(&mut buf)).unwrap_err();
    assert!(!e.to_string().is_empty());

    // A new runtime: a new watcher serves the same socket.
    let rt = dtact::Runtime::builder().workers(1).build().unwrap();
    let a3 = a.clone();
    let h = dtact::spawn(async move {
        let mut buf = [0u8; 4];
        let n = a3.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
    });
    let got = rt.block_on(async move {
        b.write_all(b"back").await.unwrap();
        h.await.unwrap()
    });
    assert_eq!(got, b"back");
}
