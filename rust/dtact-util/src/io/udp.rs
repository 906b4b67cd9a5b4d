//! [`DtactUdpSocket`].
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};

use super::ready::{Io, READ, WRITE};

/// A UDP socket for tasks (tokio's `UdpSocket` shape): every method takes `&self`, so several
/// tasks may send and receive on one socket shared in an `Arc`.
pub struct DtactUdpSocket {
    io: Io<std::net::UdpSocket>,
}

impl std::fmt::Debug for DtactUdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtactUdpSocket").field("fd", &self.as_raw_fd()).finish()
    }
}

fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

impl DtactUdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    /// As std.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<DtactUdpSocket> {
        DtactUdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }
    /// Wraps a std socket (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<DtactUdpSocket> {
        s.set_nonblocking(true)?;
        Ok(DtactUdpSocket { io: Io::new(s) })
    }
    /// Sets the default peer and filters incoming datagrams to it.
    ///
    /// # Errors
    /// As std.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.io.get().connect(first_addr(addr)?)
    }
    /// Sends to the connected peer.
    ///
    /// # Errors
    /// As std.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(WRITE, |s| s.send(buf)).await
    }
    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// As std.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(READ, |s| s.recv(buf)).await
    }
    /// Sends to `target` (its first resolved address).
    ///
    /// # Errors
    /// As std.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let a = first_addr(target)?;
        self.io.op(WRITE, |s| s.send_to(buf, a)).await
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
    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// As std.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get().set_broadcast(on)
    }
}

impl AsRawFd for DtactUdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get().as_raw_fd()
    }
}
