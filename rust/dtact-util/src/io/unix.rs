//! [`DtactUnixListener`], [`DtactUnixStream`], [`DtactUnixDatagram`].
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use dtact::net::UCred;

use super::ready::{Io, READ, WRITE};
use super::tcp::stream_async_impls;
use super::traits::{AsyncRead, AsyncWrite};

/// A Unix stream listener for tasks.
pub struct DtactUnixListener {
    io: Io<std::os::unix::net::UnixListener>,
}

impl std::fmt::Debug for DtactUnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactUnixListener").field("fd", &self.as_raw_fd()).finish()
    }
}

impl DtactUnixListener {
    /// Binds to `path` (tokio's shape: not async).
    ///
    /// # Errors
    /// As std.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<DtactUnixListener> {
        DtactUnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }
    /// Wraps a std listener (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<DtactUnixListener> {
        l.set_nonblocking(true)?;
        Ok(DtactUnixListener { io: Io::new(l) })
    }
    /// Accepts a connection.
    ///
    /// # Errors
    /// As std.
    pub async fn accept(&self) -> io::Result<(DtactUnixStream, SocketAddr)> {
        let (s, a) = self.io.op(READ, |l| l.accept()).await?;
        Ok((DtactUnixStream::from_std(s)?, a))
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

impl AsRawFd for DtactUnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}

/// A Unix stream socket for tasks (as [`super::DtactTcpStream`], plus [`DtactUnixStream::peer_cred`]).
pub struct DtactUnixStream {
    io: Io<std::os::unix::net::UnixStream>,
    rtok: Option<u64>,
    wtok: Option<u64>,
}

impl std::fmt::Debug for DtactUnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactUnixStream").field("fd", &self.as_raw_fd()).finish()
    }
}

impl DtactUnixStream {
    /// Connects to `path` (std's connect: a local connect does not wait, except on a full
    /// backlog, where it blocks the worker until the listener accepts).
    ///
    /// # Errors
    /// As std.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<DtactUnixStream> {
        DtactUnixStream::from_std(std::os::unix::net::UnixStream::connect(path)?)
    }
    /// A connected pair.
    ///
    /// # Errors
    /// As std.
    pub fn pair() -> io::Result<(DtactUnixStream, DtactUnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((DtactUnixStream::from_std(a)?, DtactUnixStream::from_std(b)?))
    }
    /// Wraps a std stream (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<DtactUnixStream> {
        s.set_nonblocking(true)?;
        Ok(DtactUnixStream { io: Io::new(s), rtok: None, wtok: None })
    }
    /// Reads into `buf` once; 0 at the end of the stream.
    ///
    /// # Errors
    /// As std.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(READ, |s| (&*s).read(buf)).await
    }
    /// Writes from `buf` once.
    ///
    /// # Errors
    /// As std.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(WRITE, |s| (&*s).write(buf)).await
    }
    /// Writes all of `buf`.
    ///
    /// # Errors
    /// As std; `WriteZero` if the socket accepts nothing.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }
    /// The peer's credentials (`SO_PEERCRED`).
    ///
    /// # Errors
    /// As getsockopt.
    pub fn peer_cred(&self) -> io::Result<UCred> {
        let (pid, uid, gid) = dtact::net::raw::peer_cred(self.as_raw_fd())?;
        Ok(UCred { uid, gid, pid: Some(pid) })
    }
    /// Shuts down one or both directions at once.
    ///
    /// # Errors
    /// As std.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
    /// The peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }
}

impl AsRawFd for DtactUnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}

stream_async_impls!(DtactUnixStream);

/// A Unix datagram socket for tasks; every method takes `&self`.
pub struct DtactUnixDatagram {
    io: Io<std::os::unix::net::UnixDatagram>,
}

impl std::fmt::Debug for DtactUnixDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactUnixDatagram").field("fd", &self.as_raw_fd()).finish()
    }
}

impl DtactUnixDatagram {
    /// Binds to `path`.
    ///
    /// # Errors
    /// As std.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<DtactUnixDatagram> {
        DtactUnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }
    /// An unbound socket.
    ///
    /// # Errors
    /// As std.
    pub fn unbound() -> io::Result<DtactUnixDatagram> {
        DtactUnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }
    /// A connected pair.
    ///
    /// # Errors
    /// As std.
    pub fn pair() -> io::Result<(DtactUnixDatagram, DtactUnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((DtactUnixDatagram::from_std(a)?, DtactUnixDatagram::from_std(b)?))
    }
    /// Wraps a std socket (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::os::unix::net::UnixDatagram) -> io::Result<DtactUnixDatagram> {
        s.set_nonblocking(true)?;
        Ok(DtactUnixDatagram { io: Io::new(s) })
    }
    /// Sets the default peer.
    ///
    /// # Errors
    /// As std.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.io.get().connect(path)
    }
    /// Sends to the connected peer.
    ///
    /// # Errors
    /// As std.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(WRITE, |s| s.send(buf)).await
    }
    /// Receives one datagram.
    ///
    /// # Errors
    /// As std.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(READ, |s| s.recv(buf)).await
    }
    /// Sends to `path`.
    ///
    /// # Errors
    /// As std.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let p = path.as_ref();
        self.io.op(WRITE, |s| s.send_to(buf, p)).await
    }
    /// Receives one datagram and its source.
    ///
    /// # Errors
    /// As std.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(READ, |s| s.recv_from(buf)).await
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
    /// The connected peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }
}

impl AsRawFd for DtactUnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}
