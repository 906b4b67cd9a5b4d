//! The few socket calls std does not offer (Linux, x86-64 and AArch64 share every value used
//! here): a non-blocking TCP connect, `SO_PEERCRED`, and `dup2`. Not a public API: the
//! `dtact-util` crate uses it.
use std::io;
use std::net::SocketAddr;
use std::os::raw::{c_int, c_void};
use std::os::unix::io::{FromRawFd, RawFd};

#[allow(non_camel_case_types)]
type socklen_t = u32;

extern "C" {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const c_void, len: socklen_t) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
}

const AF_INET: c_int = 2;
const AF_INET6: c_int = 10;
const SOCK_STREAM: c_int = 1;
const SOCK_NONBLOCK: c_int = 0o4000;
const SOCK_CLOEXEC: c_int = 0o2000000;
const SOL_SOCKET: c_int = 1;
const SO_PEERCRED: c_int = 17;
const EINPROGRESS: i32 = 115;

#[repr(C)]
struct SockaddrIn {
    family: u16,
    port: u16,
    addr: [u8; 4],
    zero: [u8; 8],
}

#[repr(C)]
struct SockaddrIn6 {
    family: u16,
    port: u16,
    flowinfo: u32,
    addr: [u8; 16],
    scope_id: u32,
}

/// Starts a non-blocking TCP connect to `addr`: the stream (non-blocking, close-on-exec) and
/// whether the connect is still in progress (wait for writability, then `take_error`).
pub fn tcp_connect_start(addr: &SocketAddr) -> io::Result<(std::net::TcpStream, bool)> {
    let domain = if addr.is_ipv4() { AF_INET } else { AF_INET6 };
    // SAFETY: plain system call, no pointers.
    let fd = unsafe { socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own; the TcpStream now owns (and closes) it.
    let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    // SAFETY (both arms): the address structures are initialised, live for the call and their
    // length is passed; connect only reads them.
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sa = SockaddrIn { family: AF_INET as u16, port: a.port().to_be(), addr: a.ip().octets(), zero: [0; 8] };
            unsafe {
                connect(fd, &sa as *const SockaddrIn as *const c_void, std::mem::size_of::<SockaddrIn>() as socklen_t)
            }
        }
        SocketAddr::V6(a) => {
            let sa = SockaddrIn6 {
                family: AF_INET6 as u16,
                port: a.port().to_be(),
                flowinfo: a.flowinfo().to_be(),
                addr: a.ip().octets(),
                scope_id: a.scope_id(),
            };
            unsafe {
                connect(fd, &sa as *const SockaddrIn6 as *const c_void, std::mem::size_of::<SockaddrIn6>() as socklen_t)
            }
        }
    };
    if rc == 0 {
        return Ok((s, false));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(EINPROGRESS) || e.kind() == io::ErrorKind::Interrupted {
        Ok((s, true))
    } else {
        Err(e)
    }
}

/// `SO_PEERCRED` of a Unix socket: (pid, uid, gid).
pub fn peer_cred(fd: RawFd) -> io::Result<(i32, u32, u32)> {
    let mut cred = [0u32; 3];
    let mut len = std::mem::size_of_val(&cred) as socklen_t;
    // SAFETY: `cred` is a writable buffer of `len` bytes (struct ucred: pid, uid, gid).
    let rc = unsafe { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred.as_mut_ptr() as *mut c_void, &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred[0] as i32, cred[1], cred[2]))
}

/// `dup2(old, new)`: makes `new` refer to `old`'s file (closing what `new` referred to).
///
/// # Safety
/// The caller owns `new` (nobody else may be using or closing that fd number).
pub unsafe fn replace_fd(old: RawFd, new: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: plain system call; the caller owns `new`.
        if unsafe { dup2(old, new) } >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
