//! [`UdpSocket`]: std's shape, waiting through the reactor (see the module documentation).
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use super::Sock;

/// A UDP socket (`std::net::UdpSocket`'s shape) whose receives and sends suspend only the
/// calling fiber (block a plain thread) when the socket is not ready.
#[derive(Debug)]
pub struct UdpSocket {
    sock: Sock<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    /// As std.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }
    /// Wraps a std socket (made non-blocking).
    ///
    /// # Errors
    /// If it cannot be made non-blocking.
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket { sock: Sock::new(s, |s| s.set_nonblocking(true))? })
    }
    /// The std socket (non-blocking; no longer watched).
    pub fn into_std(self) -> std::net::UdpSocket {
        self.sock.into_inner()
    }
    /// Sets the default peer (`send`/`recv`) and filters incoming datagrams to it.
    ///
    /// # Errors
    /// As std.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.sock.s.connect(addr)
    }
    /// Sends to the connected peer.
    ///
    /// # Errors
    /// As std; `TimedOut` after the write timeout.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write_op(|| self.sock.s.send(buf))
    }
    /// Receives from the connected peer.
    ///
    /// # Errors
    /// As std; `TimedOut` after the read timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read_op(|| self.sock.s.recv(buf))
    }
    /// Sends to `addr` (its first resolved address, as std).
    ///
    /// # Errors
    /// As std; `TimedOut` after the write timeout.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let a = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))?;
        self.sock.write_op(|| self.sock.s.send_to(buf, a))
    }
    /// Receives one datagram and its source.
    ///
    /// # Errors
    /// As std; `TimedOut` after the read timeout.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read_op(|| self.sock.s.recv_from(buf))
    }
    /// Receives without consuming.
    ///
    /// # Errors
    /// As `recv`.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read_op(|| self.sock.s.peek_from(buf))
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
    /// As std (`NotConnected`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.s.peer_addr()
    }
    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// As std.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.s.set_broadcast(on)
    }
    /// Bounds each receive; `None`: wait forever. Expiry is `TimedOut`.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration (as std).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.rto.set(d)
    }
    /// Bounds each send.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration (as std).
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
    /// Takes `SO_ERROR`.
    ///
    /// # Errors
    /// As std.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.s.take_error()
    }
    /// A second socket for the same socket (a new fd; timeouts start unset).
    ///
    /// # Errors
    /// As std.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.sock.s.try_clone()?)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.fd()
    }
}
impl IntoRawFd for UdpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}
