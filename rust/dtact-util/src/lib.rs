//! # dtact-util: async sockets for Dtact tasks
//!
//! The `io` names of the original `dtact-util` crate ([`io::DtactTcpListener`],
//! [`io::DtactTcpStream`], [`io::DtactUdpSocket`], the Unix sockets, [`io::lookup_host`], the
//! [`io::AsyncRead`] / [`io::AsyncWrite`] traits with [`io::BufReader`], [`io::BufWriter`] and
//! [`io::copy`]), for futures run by `dtact::spawn`. Unlike the original, which handed every
//! operation to a private pool of helper threads, readiness comes from the Dtact runtime's own
//! reactor (`dtact_wait_fd`: epoll, edge-triggered, read by the workers): no helper thread is on
//! the path of a read or a write. Only name resolution ([`io::lookup_host`]) uses a helper
//! thread (`dtact_blocking`), since getaddrinfo cannot be made asynchronous.
//!
//! ```no_run
//! use dtact_util::io::{DtactTcpListener, DtactTcpStream};
//! let rt = dtact::Runtime::builder().workers(2).build().unwrap();
//! rt.block_on(dtact::spawn(async {
//!     let l = DtactTcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = l.local_addr().unwrap();
//!     let client = dtact::spawn(async move {
//!         let s = DtactTcpStream::connect(addr).await.unwrap();
//!         s.write_all(b"ping").await.unwrap();
//!     });
//!     let (s, _) = l.accept().await.unwrap();
//!     let mut buf = [0u8; 4];
//!     let mut got = 0;
//!     while got < 4 {
//!         got += s.read(&mut buf[got..]).await.unwrap();
//!     }
//!     assert_eq!(&buf, b"ping");
//!     client.await.unwrap();
//! })).unwrap();
//! ```
//!
//! Blocking (synchronous) sockets for fibers are in `dtact::net`.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

#[cfg(target_os = "linux")]
pub mod io;
