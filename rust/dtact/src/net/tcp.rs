//! [`TcpListener`] and [`TcpStream`]: std's shapes, waiting through the reactor (see the
//! module documentation).
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use dtact_sys as sys;

use super::{deadline_after, raw, wait_fd, Sock};

/// A TCP listener (`std::net::TcpListener`'s shape) whose `accept` suspends only the calling
/// fiber (blocks a plain thread).
#[derive(Debug)]
pub struct TcpListener {
    sock: Sock<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first address that binds, as std).
    ///
    /// # Errors
    /// As `std::net::TcpListener::bind`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::from_std(std::net::TcpListener::bind(addr)?)
    }
    /// Wraps a std listener (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener { sock: Sock::new(l, |l| l.set_nonblocking(true))? })
    }
    /// The std listener (non-blocking; no longer watched).
    pub fn into_std(self) -> std::net::TcpListener {
        self.sock.into_inner()
    }
    /// Accepts a connection (the stream is non-blocking, a [`TcpStream`]).
    ///
    /// # Errors
    /// As std's `accept`; `ConnectionAborted` when the listener's fd is cancelled meanwhile.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self.sock.read_op(|| self.sock.s.accept())?;
        Ok((TcpStream::from_std(s)?, a))
    }
    /// An iterator of accepted connections (`accept` in a loop; never `None`).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { l: self }
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.local_addr()
    }
    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// As std.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.s.set_ttl(ttl)
    }
    /// Takes `SO_ERROR`.
    ///
    /// # Errors
    /// As std.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.s.take_error()
    }
    /// A second listener for the same socket (a new fd, watched on its own).
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.sock.s.try_clone()?)
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for TcpListener {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    l: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.l.accept().map(|p| p.0))
    }
}

/// A TCP stream (`std::net::TcpStream`'s shape): `Read`/`Write` suspend only the calling fiber
/// (block a plain thread) when the socket is not ready.
#[derive(Debug)]
pub struct TcpStream {
    sock: Sock<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn, as std; names are resolved in place).
    ///
    /// # Errors
    /// The last address's error (or `InvalidInput` if none resolved).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_until(&a, u64::MAX) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
    }
    /// Connects to `addr` within `timeout` (`TimedOut` after it).
    ///
    /// # Errors
    /// As `connect`; `InvalidInput` for a zero timeout (as std).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        TcpStream::connect_until(addr, deadline_after(Some(timeout)))
    }
    fn connect_until(addr: &SocketAddr, deadline: u64) -> io::Result<TcpStream> {
        let (s, pending) = raw::tcp_connect_start(addr)?;
        let s = TcpStream::from_std(s)?;
        if pending {
            wait_fd(s.as_raw_fd(), sys::DTACT_IO_WRITE as u32, deadline)?;
            if let Some(e) = s.sock.s.take_error()? {
                return Err(e);
            }
            // Writable and no error: connected (peer_addr fails if not).
            s.sock.s.peer_addr()?;
        }
        Ok(s)
    }
    /// Wraps a std stream (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { sock: Sock::new(s, |s| s.set_nonblocking(true))? })
    }
    /// The std stream (non-blocking; no longer watched).
    pub fn into_std(self) -> std::net::TcpStream {
        self.sock.into_inner()
    }
    /// The peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.peer_addr()
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.local_addr()
    }
    /// Shuts down one or both directions (`shutdown(2)`).
    ///
    /// # Errors
    /// As std.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.s.shutdown(how)
    }
    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As std.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.s.set_nodelay(on)
    }
    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// As std.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.s.nodelay()
    }
    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// As std.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.s.set_ttl(ttl)
    }
    /// Bounds each read (retries included); `None`: wait forever. Expiry is `TimedOut`.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)` (as std).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.rto.set(d)
    }
    /// Bounds each write; as [`TcpStream::set_read_timeout`].
    ///
    /// # Errors
    /// As `set_read_timeout`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.wto.set(d)
    }
    /// The read timeout.
    ///
    /// # Errors
    /// Never (std's shape).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.rto.get())
    }
    /// The write timeout.
    ///
    /// # Errors
    /// Never (std's shape).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.wto.get())
    }
    /// Reads without consuming (`MSG_PEEK`), waiting as `read`.
    ///
    /// # Errors
    /// As `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_op(|| self.sock.s.peek(buf))
    }
    /// Takes `SO_ERROR`.
    ///
    /// # Errors
    /// As std.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.s.take_error()
    }
    /// A second stream for the same socket (a new fd, watched on its own; the timeouts start
    /// unset).
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        TcpStream::from_std(self.sock.s.try_clone()?)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.read_op(|| (&*s).read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.read_op(|| (&*s).read_vectored(bufs))
    }
}
impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.write_op(|| (&*s).write(buf))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.write_op(|| (&*s).write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}
impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for TcpStream {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}
