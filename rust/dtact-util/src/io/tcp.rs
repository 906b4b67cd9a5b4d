//! [`DtactTcpListener`] and [`DtactTcpStream`].
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::ready::{Io, READ, WRITE};
use super::traits::{AsyncRead, AsyncWrite};

/// A TCP listener for tasks (tokio's `TcpListener` shape).
pub struct DtactTcpListener {
    io: Io<std::net::TcpListener>,
}

impl std::fmt::Debug for DtactTcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactTcpListener").field("fd", &self.as_raw_fd()).finish()
    }
}

impl DtactTcpListener {
    /// Binds to `addr` (names are resolved in place; use [`super::lookup_host`] first to keep
    /// getaddrinfo off the worker).
    ///
    /// # Errors
    /// As `std::net::TcpListener::bind`.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<DtactTcpListener> {
        DtactTcpListener::from_std(std::net::TcpListener::bind(addr)?)
    }
    /// Wraps a std listener (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(l: std::net::TcpListener) -> io::Result<DtactTcpListener> {
        l.set_nonblocking(true)?;
        Ok(DtactTcpListener { io: Io::new(l) })
    }
    /// Accepts a connection.
    ///
    /// # Errors
    /// As std's `accept`.
    pub async fn accept(&self) -> io::Result<(DtactTcpStream, SocketAddr)> {
        let (s, a) = self.io.op(READ, |l| l.accept()).await?;
        Ok((DtactTcpStream::from_std(s)?, a))
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

impl AsRawFd for DtactTcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}

/// A TCP stream for tasks. The inherent `read`, `write` and `write_all` take `&self`, so one
/// task may read while another writes (share it in an `Arc`); it is also an [`AsyncRead`] and
/// [`AsyncWrite`] (for [`super::AsyncReadExt`], [`super::BufReader`], [`super::copy`], ...).
pub struct DtactTcpStream {
    io: Io<std::net::TcpStream>,
    rtok: Option<u64>,
    wtok: Option<u64>,
}

impl std::fmt::Debug for DtactTcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactTcpStream").field("fd", &self.as_raw_fd()).finish()
    }
}

impl DtactTcpStream {
    /// Connects to `addr`, trying each resolved address in turn (names are resolved in place:
    /// see [`super::lookup_host`]). The connection is made without blocking the worker.
    ///
    /// # Errors
    /// The last address's error (`InvalidInput` if none resolved).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<DtactTcpStream> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let mut last = None;
        for a in addrs {
            match DtactTcpStream::connect_one(&a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
    }
    async fn connect_one(addr: &SocketAddr) -> io::Result<DtactTcpStream> {
        let (s, pending) = dtact::net::raw::tcp_connect_start(addr)?;
        let s = DtactTcpStream { io: Io::new(s), rtok: None, wtok: None };
        if pending {
            s.io.op(WRITE, |s| match s.take_error()? {
                Some(e) => Err(e),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
                    Err(e) => Err(e),
                },
            })
            .await?;
        }
        Ok(s)
    }
    /// Wraps a std stream (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::net::TcpStream) -> io::Result<DtactTcpStream> {
        s.set_nonblocking(true)?;
        Ok(DtactTcpStream { io: Io::new(s), rtok: None, wtok: None })
    }
    /// Reads into `buf` once; 0 at the end of the stream.
    ///
    /// # Errors
    /// As std's `read`.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(READ, |s| (&*s).read(buf)).await
    }
    /// Writes from `buf` once; the count written.
    ///
    /// # Errors
    /// As std's `write`.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(WRITE, |s| (&*s).write(buf)).await
    }
    /// Writes all of `buf`.
    ///
    /// # Errors
    /// As std's `write`; `WriteZero` if the socket accepts nothing.
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
    /// Shuts down one or both directions at once (`shutdown(2)`; std's shape). The async
    /// `AsyncWriteExt::shutdown` (write side) is reached as `AsyncWriteExt::shutdown(&mut s)`.
    ///
    /// # Errors
    /// As std.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }
    /// The peer's address.
    ///
    /// # Errors
    /// As std.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }
    /// The local address.
    ///
    /// # Errors
    /// As std.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As std.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.get().set_nodelay(on)
    }
    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// As std.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }
}

impl AsRawFd for DtactTcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}

macro_rules! stream_async_impls {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.io.poll_io(READ, &mut this.rtok, cx, |s| (&*s).read(buf))
            }
        }
        impl AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.io.poll_io(WRITE, &mut this.wtok, cx, |s| (&*s).write(buf))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.io.get().shutdown(Shutdown::Write))
            }
        }
    };
}
pub(crate) use stream_async_impls;

stream_async_impls!(DtactTcpStream);
