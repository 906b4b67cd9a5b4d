//! [`BufReader`], [`BufWriter`] and [`copy`] (tokio's shapes).
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::traits::{AsyncBufRead, AsyncRead, AsyncWrite};

const DEFAULT_CAP: usize = 8 * 1024;

/// Buffers an [`AsyncRead`]: small reads are served from one larger read of the inner reader.
/// It is an [`AsyncBufRead`] (`read_line`, `read_until`).
#[derive(Debug)]
pub struct BufReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
}

impl<R: AsyncRead> BufReader<R> {
    /// With an 8 KiB buffer.
    pub fn new(inner: R) -> Self {
        BufReader::with_capacity(DEFAULT_CAP, inner)
    }
    /// With a buffer of `cap` bytes (at least 1).
    pub fn with_capacity(cap: usize, inner: R) -> Self {
        BufReader { inner, buf: vec![0; cap.max(1)].into_boxed_slice(), pos: 0, filled: 0 }
    }
    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
    /// The inner reader (reading from it directly skips the buffered bytes).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
    /// The buffered, unread bytes.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }
    /// The inner reader (buffered bytes are lost).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BufReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos == this.filled && out.len() >= this.buf.len() {
            // Empty buffer and a large read: bypass the buffer.
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let n = {
            let avail = match Pin::new(&mut *this).poll_fill_buf(cx) {
                Poll::Ready(Ok(b)) => b,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos == this.filled {
            match Pin::new(&mut this.inner).poll_read(cx, &mut this.buf) {
                Poll::Ready(Ok(n)) => {
                    this.pos = 0;
                    this.filled = n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(&this.buf[this.pos..this.filled]))
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.filled);
    }
}

impl<R: AsyncWrite + Unpin> AsyncWrite for BufReader<R> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Buffers an [`AsyncWrite`]: small writes are collected and written in one go when the buffer
/// is full, on `flush` and on `shutdown`. Dropping it loses unflushed bytes (an async flush cannot
/// run in `drop`): flush first.
#[derive(Debug)]
pub struct BufWriter<W> {
    inner: W,
    buf: Vec<u8>,
    cap: usize,
    written: usize,
}

impl<W: AsyncWrite> BufWriter<W> {
    /// With an 8 KiB buffer.
    pub fn new(inner: W) -> Self {
        BufWriter::with_capacity(DEFAULT_CAP, inner)
    }
    /// With a buffer of `cap` bytes (at least 1).
    pub fn with_capacity(cap: usize, inner: W) -> Self {
        let cap = cap.max(1);
        BufWriter { inner, buf: Vec::with_capacity(cap), cap, written: 0 }
    }
    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    /// The inner writer (writing to it directly bypasses the buffered bytes).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    /// The buffered, unwritten bytes.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.written..]
    }
    /// The inner writer (unflushed bytes are lost).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> BufWriter<W> {
    /// Writes the buffer out.
    fn poll_flush_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for BufWriter<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() + data.len() > this.cap {
            match this.poll_flush_buf(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
        }
        if data.len() >= this.cap {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush_buf(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush_buf(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

impl<W: AsyncRead + Unpin> AsyncRead for BufWriter<W> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Copies `reader` into `writer` until the reader's end of stream, then flushes the writer;
/// the count copied.
pub fn copy<'a, R, W>(reader: &'a mut R, writer: &'a mut W) -> Copy<'a, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    Copy { r: reader, w: writer, buf: vec![0; DEFAULT_CAP].into_boxed_slice(), pos: 0, cap: 0, total: 0, eof: false }
}

/// The future of [`copy`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Copy<'a, R: ?Sized, W: ?Sized> {
    r: &'a mut R,
    w: &'a mut W,
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    total: u64,
    eof: bool,
}

impl<R, W> Future for Copy<'_, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<u64>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            if this.pos == this.cap && !this.eof {
                match Pin::new(&mut *this.r).poll_read(cx, &mut this.buf) {
                    Poll::Ready(Ok(0)) => this.eof = true,
                    Poll::Ready(Ok(n)) => {
                        this.pos = 0;
                        this.cap = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            while this.pos < this.cap {
                match Pin::new(&mut *this.w).poll_write(cx, &this.buf[this.pos..this.cap]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        this.pos += n;
                        this.total += n as u64;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if this.eof {
                return match Pin::new(&mut *this.w).poll_flush(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(this.total)),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                };
            }
        }
    }
}
