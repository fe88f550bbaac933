//! The socket (or TLS stream) under one connection, seen by hyper through a
//! wrapper that
//! * drops the connection when a write makes no progress for the write
//!   timeout (a stalled client cannot hold a connection task forever), and
//! * lets a handler send HTTP/1.1 interim responses (103 Early Hints), which
//!   hyper's server API cannot express: the bytes are queued here and written
//!   before hyper's next bytes, but only while hyper has nothing of its own
//!   buffered, so they can never land inside another response.

use parking_lot::Mutex;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

#[derive(Default)]
struct InterimState {
    /// hyper flushed everything it wrote: whatever it writes next belongs to
    /// the response being prepared now.
    clean: bool,
    queue: Vec<u8>,
}

/// Handle for queueing interim responses on an HTTP/1.x connection.
#[derive(Clone, Default)]
pub struct Interim(Arc<Mutex<InterimState>>);

impl Interim {
    /// Queue raw interim-response bytes. False when it cannot be done safely
    /// now (hyper still holds unflushed bytes of an earlier response).
    pub fn send(&self, bytes: &[u8]) -> bool {
        let mut st = self.0.lock();
        if !st.clean {
            return false;
        }
        st.queue.extend_from_slice(bytes);
        true
    }
}

pub struct ConnIo<S> {
    inner: S,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    interim: Interim,
    /// Bytes of `interim.queue` taken out and not written yet.
    pending: Vec<u8>,
}

impl<S> ConnIo<S> {
    pub fn new(inner: S, write_timeout: Duration, interim: Interim) -> Self {
        interim.0.lock().clean = true;
        ConnIo {
            inner,
            write_timeout,
            stalled: None,
            interim,
            pending: Vec::new(),
        }
    }

    /// Called when a write is pending: error out once it stalled too long.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let timeout = self.write_timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> ConnIo<S> {
    /// Write queued interim bytes first. Ready(Ok) when none are left.
    fn drain_interim(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_empty() {
            let mut st = self.interim.0.lock();
            if st.queue.is_empty() {
                return Poll::Ready(Ok(()));
            }
            std::mem::swap(&mut self.pending, &mut st.queue);
        }
        while !self.pending.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.stalled = None;
                    self.pending.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return match self.check_stall(cx) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Pending,
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ConnIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> ConnIo<S> {
    /// One write of hyper's: the interim bytes first, then `write` on the
    /// socket, under the stall clock.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match self.drain_interim(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        self.interim.0.lock().clean = false;
        match write(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => match self.check_stall(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    /// Vectored writes pass through: hyper then queues a response body's
    /// `Bytes` and hands them to `writev` as they are, instead of copying
    /// every body into its own write buffer first (what it does for an IO
    /// that says it cannot write vectored).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain_interim(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                this.stalled = None;
                // hyper flushes only after handing over all it buffered.
                this.interim.0.lock().clean = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.check_stall(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
