//! [`AsyncRead`], [`AsyncWrite`], [`AsyncBufRead`] (tokio's shapes, with a plain `&mut [u8]`
//! where tokio has its `ReadBuf`) and the extension traits whose methods return futures:
//! [`AsyncReadExt`] (`read`, `read_exact`, `read_to_end`), [`AsyncWriteExt`] (`write`,
//! `write_all`, `flush`, `shutdown`), [`AsyncBufReadExt`] (`read_until`, `read_line`).
//!
//! The contract of every `poll_*`: `Ready` with the result, or `Pending` after arranging for
//! `cx`'s waker to be woken when the call may make progress. `poll_read` returning `Ok(0)` with a
//! non-empty buffer is the end of the stream.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Reads bytes asynchronously.
pub trait AsyncRead {
    /// Reads into `buf`: `Ready(Ok(n))` with `n` bytes read (0: end of stream, for a non-empty
    /// `buf`), `Ready(Err(_))`, or `Pending` (the waker will be woken).
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
}

/// Writes bytes asynchronously.
pub trait AsyncWrite {
    /// Writes from `buf`: `Ready(Ok(n))` with `n` bytes written, `Ready(Err(_))` or `Pending`.
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Flushes buffered data (sockets have none: `Ready(Ok(()))`).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Flushes, then shuts down the write side (a socket sends its FIN).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A buffered reader: exposes its buffer.
pub trait AsyncBufRead: AsyncRead {
    /// Fills the internal buffer if it is empty and returns its contents (empty: end of stream).
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>>;
    /// Marks `amt` bytes of the buffer consumed.
    fn consume(self: Pin<&mut Self>, amt: usize);
}

macro_rules! deref_impls {
    ($($t:ty),*) => {$(
        impl<T: ?Sized + AsyncRead + Unpin> AsyncRead for $t {
            fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut **self).poll_read(cx, buf)
            }
        }
        impl<T: ?Sized + AsyncWrite + Unpin> AsyncWrite for $t {
            fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut **self).poll_write(cx, buf)
            }
            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut **self).poll_flush(cx)
            }
            fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut **self).poll_shutdown(cx)
            }
        }
        impl<T: ?Sized + AsyncBufRead + Unpin> AsyncBufRead for $t {
            fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
                Pin::new(&mut **self.get_mut()).poll_fill_buf(cx)
            }
            fn consume(mut self: Pin<&mut Self>, amt: usize) {
                Pin::new(&mut **self).consume(amt)
            }
        }
    )*};
}
deref_impls!(&mut T, Box<T>);

/// Reading futures for every [`AsyncRead`] + `Unpin`.
pub trait AsyncReadExt: AsyncRead {
    /// Reads into `buf` once (as `poll_read`).
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> Read<'a, Self>
    where
        Self: Unpin,
    {
        Read { r: self, buf }
    }
    /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if the stream ends first).
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact { r: self, buf, done: 0 }
    }
    /// Reads to the end of the stream, appending to `out`; the count read.
    fn read_to_end<'a>(&'a mut self, out: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        ReadToEnd { r: self, out, n: 0 }
    }
}
impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Writing futures for every [`AsyncWrite`] + `Unpin`.
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes from `buf` once (as `poll_write`).
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> Write<'a, Self>
    where
        Self: Unpin,
    {
        Write { w: self, buf }
    }
    /// Writes all of `buf` (`WriteZero` if the writer accepts nothing).
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAll<'a, Self>
    where
        Self: Unpin,
    {
        WriteAll { w: self, buf }
    }
    /// Flushes.
    fn flush(&mut self) -> Flush<'_, Self>
    where
        Self: Unpin,
    {
        Flush { w: self }
    }
    /// Flushes and shuts down the write side.
    fn shutdown(&mut self) -> Shutdown<'_, Self>
    where
        Self: Unpin,
    {
        Shutdown { w: self }
    }
}
impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// Line and delimiter reading for every [`AsyncBufRead`] + `Unpin`.
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Reads up to and including `delim` (or the end of the stream), appending to `out`; the
    /// count read (0: end of stream).
    fn read_until<'a>(&'a mut self, delim: u8, out: &'a mut Vec<u8>) -> ReadUntil<'a, Self>
    where
        Self: Unpin,
    {
        ReadUntil { r: self, delim, out, n: 0 }
    }
    /// Reads a line (up to and including `\n`) and appends it to `out`; the count read
    /// (0: end of stream). `InvalidData` if the line is not UTF-8 (nothing is appended then).
    fn read_line<'a>(&'a mut self, out: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine { r: self, out, bytes: Vec::new(), n: 0 }
    }
}
impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// The future of [`AsyncReadExt::read`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Read<'a, R: ?Sized> {
    r: &'a mut R,
    buf: &'a mut [u8],
}
impl<R: AsyncRead + Unpin + ?Sized> Future for Read<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Pin::new(&mut *this.r).poll_read(cx, this.buf)
    }
}

/// The future of [`AsyncReadExt::read_exact`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadExact<'a, R: ?Sized> {
    r: &'a mut R,
    buf: &'a mut [u8],
    done: usize,
}
impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        while this.done < this.buf.len() {
            match Pin::new(&mut *this.r).poll_read(cx, &mut this.buf[this.done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                Poll::Ready(Ok(n)) => this.done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(this.done))
    }
}

/// The future of [`AsyncReadExt::read_to_end`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadToEnd<'a, R: ?Sized> {
    r: &'a mut R,
    out: &'a mut Vec<u8>,
    n: usize,
}
impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut chunk = [0u8; 4096];
        loop {
            match Pin::new(&mut *this.r).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(this.n)),
                Poll::Ready(Ok(k)) => {
                    this.out.extend_from_slice(&chunk[..k]);
                    this.n += k;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The future of [`AsyncWriteExt::write`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Write<'a, W: ?Sized> {
    w: &'a mut W,
    buf: &'a [u8],
}
impl<W: AsyncWrite + Unpin + ?Sized> Future for Write<'_, W> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Pin::new(&mut *this.w).poll_write(cx, this.buf)
    }
}

/// The future of [`AsyncWriteExt::write_all`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WriteAll<'a, W: ?Sized> {
    w: &'a mut W,
    buf: &'a [u8],
}
impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            match Pin::new(&mut *this.w).poll_write(cx, this.buf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => this.buf = &this.buf[n..],
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The future of [`AsyncWriteExt::flush`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Flush<'a, W: ?Sized> {
    w: &'a mut W,
}
impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().w).poll_flush(cx)
    }
}

/// The future of [`AsyncWriteExt::shutdown`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Shutdown<'a, W: ?Sized> {
    w: &'a mut W,
}
impl<W: AsyncWrite + Unpin + ?Sized> Future for Shutdown<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().w).poll_shutdown(cx)
    }
}

/// Appends bytes up to `delim` from `r` to `out`, counting into `n`.
fn poll_read_until<R: AsyncBufRead + Unpin + ?Sized>(
    r: &mut R,
    cx: &mut Context<'_>,
    delim: u8,
    out: &mut Vec<u8>,
    n: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        let (done, used) = {
            let avail = match Pin::new(&mut *r).poll_fill_buf(cx) {
                Poll::Ready(Ok(b)) => b,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match avail.iter().position(|&b| b == delim) {
                Some(i) => {
                    out.extend_from_slice(&avail[..=i]);
                    (true, i + 1)
                }
                None => {
                    out.extend_from_slice(avail);
                    (avail.is_empty(), avail.len())
                }
            }
        };
        Pin::new(&mut *r).consume(used);
        *n += used;
        if done {
            return Poll::Ready(Ok(std::mem::replace(n, 0)));
        }
    }
}

/// The future of [`AsyncBufReadExt::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadUntil<'a, R: ?Sized> {
    r: &'a mut R,
    delim: u8,
    out: &'a mut Vec<u8>,
    n: usize,
}
impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        poll_read_until(this.r, cx, this.delim, this.out, &mut this.n)
    }
}

/// The future of [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadLine<'a, R: ?Sized> {
    r: &'a mut R,
    out: &'a mut String,
    bytes: Vec<u8>,
    n: usize,
}
impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match poll_read_until(this.r, cx, b'\n', &mut this.bytes, &mut this.n) {
            Poll::Ready(Ok(k)) => match std::str::from_utf8(&this.bytes) {
                Ok(s) => {
                    this.out.push_str(s);
                    this.bytes.clear();
                    Poll::Ready(Ok(k))
                }
                Err(_) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8")))
                }
            },
            other => other,
        }
    }
}
