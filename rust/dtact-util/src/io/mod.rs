//! Async sockets for Dtact tasks, with the original dtact-util's names: [`DtactTcpListener`],
//! [`DtactTcpStream`], [`DtactUdpSocket`], [`DtactUnixListener`], [`DtactUnixStream`],
//! [`DtactUnixDatagram`], [`lookup_host`], the traits [`AsyncRead`], [`AsyncWrite`],
//! [`AsyncBufRead`] and their extension traits, [`BufReader`], [`BufWriter`], [`copy`].
//!
//! Use them from futures run by the Dtact runtime (`dtact::spawn(async { .. })`,
//! `Runtime::block_on`); they also work in any combinator (`select`/`join` shapes, a
//! `dtact::time::timeout`), since a pending operation wakes whatever waker polled it last. How
//! readiness is delivered (a small watcher fiber per socket direction, on the runtime's reactor)
//! and what dropping a socket or a pending future does is described in the `ready` module's
//! source documentation; in short: no helper thread on the path of a read or a write, one small
//! fiber per socket direction that has ever blocked, one extra fiber switch per readiness edge.
//!
//! Differences from tokio: the traits take `&mut [u8]` (no `ReadBuf`); the sockets' `read`,
//! `write` and `write_all` are inherent methods on `&self`; `shutdown(how)` is std's (the async
//! write-side shutdown is `AsyncWriteExt::shutdown(&mut stream)`); names given to `bind` and
//! `connect` are resolved in place (getaddrinfo blocks the caller: use [`lookup_host`] first or
//! pass addresses).
use std::ffi::c_void;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use dtact_sys as sys;

mod buf;
mod ready;
mod tcp;
mod traits;
mod udp;
mod unix;

pub use buf::{copy, BufReader, BufWriter, Copy};
pub use tcp::{DtactTcpListener, DtactTcpStream};
pub use traits::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Flush, Read, ReadExact,
    ReadLine, ReadToEnd, ReadUntil, Shutdown, Write, WriteAll,
};
pub use udp::DtactUdpSocket;
pub use unix::{DtactUnixDatagram, DtactUnixListener, DtactUnixStream, UCred};

/// The original's `io::init(workers)`, which started its private I/O thread pool. Dtact needs
/// none (readiness comes from the runtime's reactor), so this does nothing; kept so that code
/// written for the original compiles. Safe to call any number of times.
pub fn init(workers: usize) {
    let _ = workers;
}

/// One resolution handed to a `dtact_blocking` helper thread.
struct Job<T> {
    host: Mutex<Option<T>>,
    out: Mutex<Option<io::Result<Vec<SocketAddr>>>>,
}

/// Runs on the helper thread; owns one reference to the job.
///
/// # Safety
/// `p` is an `Arc<Job<T>>` reference made by `Arc::into_raw`, given to this call.
unsafe extern "C" fn run_job<T: ToSocketAddrs>(p: *mut c_void) -> *mut c_void {
    // SAFETY: as the function's contract says.
    let job = unsafe { Arc::from_raw(p as *const Job<T>) };
    let host = job.host.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(h) = host {
        let r = catch_unwind(AssertUnwindSafe(|| h.to_socket_addrs().map(|i| i.collect::<Vec<_>>())))
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::Other, "lookup_host: the resolver panicked")));
        *job.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    }
    std::ptr::null_mut()
}

/// Resolves `host` on a `dtact_blocking` helper thread: on a fiber only the fiber waits.
fn resolve_offloaded<T: ToSocketAddrs + Send + 'static>(host: T) -> io::Result<Vec<SocketAddr>> {
    let job = Arc::new(Job { host: Mutex::new(Some(host)), out: Mutex::new(None) });
    let p = Arc::into_raw(job.clone()) as *mut c_void;
    // SAFETY: run_job takes the reference `p`; if the call ends before it started
    // (ECANCELED, or an error that ran nothing) the reference is still ours and is dropped below.
    let rc = unsafe { sys::dtact_blocking(Some(run_job::<T>), p, -1, std::ptr::null_mut()) };
    if rc != sys::DTACT_OK && rc != sys::DTACT_ETIMEDOUT && rc != sys::DTACT_ESHUTDOWN {
        // fn never ran and never will.
        // SAFETY: the reference made by into_raw above, not consumed by run_job.
        drop(unsafe { Arc::from_raw(p as *const Job<T>) });
    }
    if rc != sys::DTACT_OK {
        return Err(dtact::net::io_error(rc));
    }
    let out = job.out.lock().unwrap_or_else(|e| e.into_inner()).take();
    out.unwrap_or_else(|| Err(io::Error::new(io::ErrorKind::Other, "lookup_host: no result")))
}

/// Resolves `host` (`"name:port"`, a `(name, port)` pair, ...) with std's `ToSocketAddrs`
/// (getaddrinfo) on a helper thread of the runtime's blocking pool (`dtact_blocking`), so the
/// worker keeps running other tasks meanwhile. The waiting is done by a small fiber of its own,
/// so the calling task stays responsive to its other futures (a timeout, a `select`). Without a
/// runtime it resolves on the calling thread.
///
/// # Errors
/// The resolver's error, or the runtime's (shutting down) as an `io::Error`.
pub async fn lookup_host<T: ToSocketAddrs + Send + 'static>(host: T) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    let slot = Arc::new(Mutex::new(Some(host)));
    let theirs = slot.clone();
    let spawned = dtact::SpawnBuilder::<dtact::SameThreadNoFloat>::new()
        .stack_size(64 * 1024)
        .kind(dtact::WorkloadKind::IO)
        .try_spawn(async move {
            let h = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            match h {
                Some(h) => resolve_offloaded(h),
                None => Err(io::Error::new(io::ErrorKind::Other, "lookup_host: no host")),
            }
        });
    let v = match spawned {
        Ok(jh) => jh.await.map_err(|e| io::Error::new(io::ErrorKind::Other, e.to_string()))??,
        Err(_) => {
            let h = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            match h {
                Some(h) => resolve_offloaded(h)?,
                None => return Err(io::Error::new(io::ErrorKind::Other, "lookup_host: no host")),
            }
        }
    };
    Ok(v.into_iter())
}
