//! [`UnixListener`], [`UnixStream`], [`UnixDatagram`]: `std::os::unix::net`'s shapes, waiting
//! through the reactor (see the module documentation).
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::io::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{raw, Sock};

/// The credentials of a Unix socket's peer (`SO_PEERCRED`), as the peer had them when it
/// connected (or created the socket pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UCred {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id (`None` never on Linux; kept for std's shape).
    pub pid: Option<i32>,
}

/// `SO_PEERCRED` of `fd`.
pub(crate) fn peer_cred_of(fd: RawFd) -> io::Result<UCred> {
    let (pid, uid, gid) = raw::peer_cred(fd)?;
    Ok(UCred { uid, gid, pid: Some(pid) })
}

/// A Unix stream listener whose `accept` suspends only the calling fiber.
#[derive(Debug)]
pub struct UnixListener {
    sock: Sock<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path`.
    ///
    /// # Errors
    /// As std.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }
    /// Wraps a std listener (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener { sock: Sock::new(l, |l| l.set_nonblocking(true))? })
    }
    /// The std listener (non-blocking; no longer watched).
    pub fn into_std(self) -> std::os::unix::net::UnixListener {
        self.sock.into_inner()
    }
    /// Accepts a connection.
    ///
    /// # Errors
    /// As std; `ConnectionAborted` when the listener's fd is cancelled meanwhile.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self.sock.read_op(|| self.sock.s.accept())?;
        Ok((UnixStream::from_std(s)?, a))
    }
    /// An iterator of accepted connections (never `None`).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { l: self }
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.local_addr()
    }
    /// A second listener for the same socket.
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.sock.s.try_clone()?)
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for UnixListener {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    l: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.l.accept().map(|p| p.0))
    }
}

/// A Unix stream socket whose reads and writes suspend only the calling fiber.
#[derive(Debug)]
pub struct UnixStream {
    sock: Sock<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to `path` (std's connect, then non-blocking: a local connect does not wait,
    /// except on a full backlog, where it blocks the thread).
    ///
    /// # Errors
    /// As std.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::from_std(std::os::unix::net::UnixStream::connect(path)?)
    }
    /// A connected pair.
    ///
    /// # Errors
    /// As std.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }
    /// Wraps a std stream (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream { sock: Sock::new(s, |s| s.set_nonblocking(true))? })
    }
    /// The std stream (non-blocking; no longer watched).
    pub fn into_std(self) -> std::os::unix::net::UnixStream {
        self.sock.into_inner()
    }
    /// The peer's credentials (`SO_PEERCRED`).
    ///
    /// # Errors
    /// As getsockopt.
    pub fn peer_cred(&self) -> io::Result<UCred> {
        peer_cred_of(self.sock.fd())
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.local_addr()
    }
    /// The peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.peer_addr()
    }
    /// Shuts down one or both directions.
    ///
    /// # Errors
    /// As std.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.s.shutdown(how)
    }
    /// Bounds each read; `None`: forever. Expiry is `TimedOut`.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.rto.set(d)
    }
    /// Bounds each write.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.wto.set(d)
    }
    /// The read timeout.
    ///
    /// # Errors
    /// Never.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.rto.get())
    }
    /// The write timeout.
    ///
    /// # Errors
    /// Never.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.wto.get())
    }
    /// Takes `SO_ERROR`.
    ///
    /// # Errors
    /// As std.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.s.take_error()
    }
    /// A second stream for the same socket.
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        UnixStream::from_std(self.sock.s.try_clone()?)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.read_op(|| (&*s).read(buf))
    }
}
impl Write for &UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = &self.sock.s;
        self.sock.write_op(|| (&*s).write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}
impl Write for UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for UnixStream {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}

/// A Unix datagram socket whose sends and receives suspend only the calling fiber.
#[derive(Debug)]
pub struct UnixDatagram {
    sock: Sock<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Binds to `path`.
    ///
    /// # Errors
    /// As std.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }
    /// An unbound socket.
    ///
    /// # Errors
    /// As std.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }
    /// A connected pair.
    ///
    /// # Errors
    /// As std.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }
    /// Wraps a std socket (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { sock: Sock::new(s, |s| s.set_nonblocking(true))? })
    }
    /// The std socket (non-blocking; no longer watched).
    pub fn into_std(self) -> std::os::unix::net::UnixDatagram {
        self.sock.into_inner()
    }
    /// Sets the default peer.
    ///
    /// # Errors
    /// As std.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.sock.s.connect(path)
    }
    /// Sends to the connected peer.
    ///
    /// # Errors
    /// As std; `TimedOut` after the write timeout.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_op(|| self.sock.s.send(buf))
    }
    /// Receives one datagram.
    ///
    /// # Errors
    /// As std; `TimedOut` after the read timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_op(|| self.sock.s.recv(buf))
    }
    /// Sends to `path`.
    ///
    /// # Errors
    /// As std; `TimedOut` after the write timeout.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let p = path.as_ref();
        self.sock.write_op(|| self.sock.s.send_to(buf, p))
    }
    /// Receives one datagram and its source.
    ///
    /// # Errors
    /// As std; `TimedOut` after the read timeout.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read_op(|| self.sock.s.recv_from(buf))
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.local_addr()
    }
    /// The connected peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.peer_addr()
    }
    /// Bounds each receive; `None`: forever.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.rto.set(d)
    }
    /// Bounds each send.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.wto.set(d)
    }
    /// The read timeout.
    ///
    /// # Errors
    /// Never.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.rto.get())
    }
    /// The write timeout.
    ///
    /// # Errors
    /// Never.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.wto.get())
    }
    /// Shuts down one or both directions.
    ///
    /// # Errors
    /// As std.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.s.shutdown(how)
    }
    /// A second socket for the same socket.
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(self.sock.s.try_clone()?)
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for UnixDatagram {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}
