//! Blocking sockets for synchronous code on fibers, with `std::net` / `std::os::unix::net`
//! shapes: [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`], [`UnixStream`],
//! [`UnixDatagram`].
//!
//! Each type wraps the std socket, set non-blocking. An operation is tried at once; when it
//! would block, the caller waits for the fd with `dtact_wait_fd` (the runtime's readiness
//! reactor) and tries again. On a Dtact fiber that suspends only the fiber (its worker runs
//! other fibers meanwhile); on a plain thread `dtact_wait_fd` blocks the thread in `poll(2)`,
//! with or without a runtime. So the same code works in a fiber closure
//! ([`crate::fiber::spawn_with_stack`], a task's synchronous helper) and on an ordinary thread.
//!
//! Timeouts (`set_read_timeout`, `set_write_timeout`) are kept by the wrapper (the socket's own
//! `SO_RCVTIMEO` is not used: the socket never blocks) and bound the whole operation, retries
//! included. An expired timeout is an error of kind [`ErrorKind::TimedOut`] (std reports
//! `WouldBlock` on Unix). The other runtime codes map as [`io_error`] says.
//!
//! Dropping a socket wakes every fiber or thread waiting for its fd (`dtact_fd_cancel`) before
//! the fd is closed, as the reactor's contract requires (a reused fd number must not inherit a
//! watch). [`TcpStream::connect`] resolves names with `ToSocketAddrs` in place (getaddrinfo
//! blocks the caller's thread: pass addresses, or resolve elsewhere); the connection itself is
//! made without blocking the worker. [`UnixStream::connect`] is std's connect (a local connect
//! does not wait, except on a full backlog).
//!
//! Linux only, like the C core.
use std::io::{self, ErrorKind};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dtact_sys as sys;

#[doc(hidden)]
pub mod raw;
mod tcp;
mod udp;
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UCred, UnixDatagram, UnixIncoming, UnixListener, UnixStream};

/// An `io::Error` for a negative Dtact code, with `dtact_strerror`'s message: `DTACT_ETIMEDOUT`
/// is [`ErrorKind::TimedOut`], `DTACT_ECLOSED` (the fd was cancelled or closed while waiting)
/// [`ErrorKind::ConnectionAborted`], `DTACT_EINVAL` [`ErrorKind::InvalidInput`],
/// `DTACT_ENOMEM` [`ErrorKind::OutOfMemory`], `DTACT_EPERM` [`ErrorKind::PermissionDenied`],
/// every other code (`DTACT_ESHUTDOWN`: the runtime is shutting down, ...) [`ErrorKind::Other`].
pub fn io_error(code: i32) -> io::Error {
    let kind = match code {
        sys::DTACT_ETIMEDOUT => ErrorKind::TimedOut,
        sys::DTACT_ECLOSED => ErrorKind::ConnectionAborted,
        sys::DTACT_EINVAL => ErrorKind::InvalidInput,
        sys::DTACT_ENOMEM => ErrorKind::OutOfMemory,
        sys::DTACT_EPERM => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, crate::Error::from_code(code).unwrap_or(crate::Error::Other(code)))
}

impl From<crate::Error> for io::Error {
    fn from(e: crate::Error) -> io::Error {
        io_error(e.code())
    }
}

/// Waits (fiber: suspends; thread: polls) until `fd` is ready for `events` or `deadline_ns`
/// (`dtact_now_ns` clock, `u64::MAX`: none) passes.
pub(crate) fn wait_fd(fd: RawFd, events: u32, deadline_ns: u64) -> io::Result<()> {
    // SAFETY: dtact_wait_fd_until takes any fd value (EINVAL for a bad one) and only waits.
    let rc = crate::fiber::suspend_preserving(|| unsafe { sys::dtact_wait_fd_until(fd, events, deadline_ns) });
    if rc > 0 {
        Ok(())
    } else {
        Err(io_error(rc))
    }
}

/// A timeout slot: nanoseconds, 0 = none (std's `Option<Duration>`, where zero is rejected).
#[derive(Debug, Default)]
pub(crate) struct Timeout(AtomicU64);

impl Timeout {
    pub(crate) fn set(&self, d: Option<Duration>) -> io::Result<()> {
        let ns = match d {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(ErrorKind::InvalidInput, "cannot set a 0 duration timeout"))
            }
            Some(d) => d.as_nanos().clamp(1, u64::MAX as u128) as u64,
        };
        self.0.store(ns, Ordering::Relaxed);
        Ok(())
    }
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
    /// The absolute deadline of an operation starting now.
    fn deadline(&self) -> u64 {
        deadline_after(self.get())
    }
}

/// `dtact_now_ns() + d`, `u64::MAX` for none.
pub(crate) fn deadline_after(d: Option<Duration>) -> u64 {
    match d {
        None => u64::MAX,
        // SAFETY: dtact_now_ns has no preconditions.
        Some(d) => unsafe { sys::dtact_now_ns() }.saturating_add(d.as_nanos().min(u64::MAX as u128) as u64),
    }
}

/// Runs the non-blocking `op` until it does not return `WouldBlock`, waiting for `events` on
/// `fd` in between, at most until the deadline `timeout` gives (taken at the first wait).
pub(crate) fn blocking<R>(
    fd: RawFd,
    events: u32,
    timeout: &Timeout,
    mut op: impl FnMut() -> io::Result<R>,
) -> io::Result<R> {
    let mut deadline = None;
    loop {
        match op() {
            Err(ref e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(ref e) if e.kind() == ErrorKind::Interrupted => continue,
            r => return r,
        }
        let d = *deadline.get_or_insert_with(|| timeout.deadline());
        wait_fd(fd, events, d)?;
    }
}

/// The common part of every socket: the std socket (non-blocking) and its timeouts. Dropping it
/// cancels the fd's waiters (`dtact_fd_cancel`) and then closes it (the socket's own drop).
#[derive(Debug)]
pub(crate) struct Sock<S: AsRawFd> {
    pub(crate) s: S,
    pub(crate) rto: Timeout,
    pub(crate) wto: Timeout,
}

impl<S: AsRawFd> Sock<S> {
    pub(crate) fn new(s: S, nonblocking: impl FnOnce(&S) -> io::Result<()>) -> io::Result<Self> {
        nonblocking(&s)?;
        Ok(Sock { s, rto: Timeout::default(), wto: Timeout::default() })
    }
    pub(crate) fn fd(&self) -> RawFd {
        self.s.as_raw_fd()
    }
    pub(crate) fn read_op<R>(&self, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        blocking(self.fd(), sys::DTACT_IO_READ as u32, &self.rto, op)
    }
    pub(crate) fn write_op<R>(&self, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        blocking(self.fd(), sys::DTACT_IO_WRITE as u32, &self.wto, op)
    }
    /// Unwatches the fd (its waiters get ECLOSED) and gives the socket back, for `into_std` /
    /// `into_raw_fd`.
    pub(crate) fn into_inner(self) -> S {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: dtact_fd_cancel takes any fd value.
        unsafe { sys::dtact_fd_cancel(me.fd()) };
        // SAFETY: `me` is never used or dropped again; the timeouts need no drop.
        unsafe { std::ptr::read(&me.s) }
    }
}

impl<S: AsRawFd> Drop for Sock<S> {
    fn drop(&mut self) {
        // SAFETY: dtact_fd_cancel takes any fd value; the fd is still open (the socket field is
        // dropped, closing it, right after this).
        unsafe { sys::dtact_fd_cancel(self.fd()) };
    }
}
