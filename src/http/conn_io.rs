//! The socket (or TLS stream) under one connection, seen by hyper through a
//! wrapper that
//! * drops the connection when a write makes no progress for the write
//!   timeout (a stalled client cannot hold a connection task forever), and
//! * lets a handler send HTTP/1.1 interim responses (103 Early Hints), which
//!   hyper's server API cannot express: the bytes are queued here and written
//!   before hyper's next bytes, but only while hyper has nothing of its own
//!   buffered, so they can never land inside another response, and
//! * adds announced trailers to the chunked body of an HTTP/1.1 response
//!   whose client did not send `TE: trailers` (hyper then drops them; Go's
//!   server, and so RoadRunner, always sends them): the bytes hyper writes
//!   are followed through the response head and the chunks, and the trailer
//!   lines go in after the last chunk's `0\r\n`.

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
    /// Trailer lines for the response hyper writes next.
    trailers: Option<Vec<u8>>,
}

/// Where hyper's bytes of a response with trailers to add have got to.
#[derive(Clone)]
enum Scan {
    /// In a response head (interim ones are skipped), bytes so far.
    Head(Vec<u8>),
    /// In a chunk-size line, bytes so far.
    Size(Vec<u8>),
    /// In a chunk's data and its CRLF: bytes left.
    Data(u64),
    /// Just after the last chunk's `0\r\n`: the trailers go here.
    Last,
    /// Not hyper's chunked output after all: the trailers are dropped.
    Gave,
}

/// Longest response head followed (a longer one drops the trailers).
const MAX_SCANNED_HEAD: usize = 64 * 1024;

impl Scan {
    /// Follow `bytes`; stops at [`Scan::Last`] and returns how many bytes
    /// were taken.
    fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            match self {
                Scan::Last | Scan::Gave => return i - 1,
                Scan::Head(h) => {
                    h.push(b);
                    if h.ends_with(b"\r\n\r\n") {
                        let lower = h.to_ascii_lowercase();
                        *self = if lower.starts_with(b"http/1.1 1") {
                            Scan::Head(Vec::new())
                        } else if find(&lower, b"\r\ntransfer-encoding: chunked\r\n") {
                            Scan::Size(Vec::new())
                        } else {
                            Scan::Gave
                        };
                    } else if h.len() > MAX_SCANNED_HEAD {
                        *self = Scan::Gave;
                    }
                }
                Scan::Size(line) => {
                    line.push(b);
                    if line.ends_with(b"\r\n") {
                        let size = std::str::from_utf8(&line[..line.len() - 2])
                            .ok()
                            .and_then(|l| u64::from_str_radix(l.trim(), 16).ok());
                        *self = match size {
                            Some(0) => Scan::Last,
                            Some(n) => Scan::Data(n.saturating_add(2)),
                            None => Scan::Gave,
                        };
                    } else if line.len() > 32 {
                        *self = Scan::Gave;
                    }
                }
                Scan::Data(left) => {
                    // This byte and as many more of the chunk as are here.
                    let more = (*left - 1).min((bytes.len() - i) as u64);
                    i += more as usize;
                    *left -= 1 + more;
                    if *left == 0 {
                        *self = Scan::Size(Vec::new());
                    }
                }
            }
        }
        bytes.len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
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

    /// Have the trailer lines `lines` (each ending in CRLF) added to the
    /// chunked body of the response hyper writes next. False when it cannot
    /// be done safely now (hyper still holds bytes of an earlier response).
    pub fn add_trailers(&self, lines: Vec<u8>) -> bool {
        let mut st = self.0.lock();
        if !st.clean {
            return false;
        }
        st.trailers = Some(lines);
        true
    }
}

pub struct ConnIo<S> {
    inner: S,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    interim: Interim,
    /// Bytes of `interim.queue` (or trailer lines) taken out and not
    /// written yet.
    pending: Vec<u8>,
    /// Trailer lines being added to the response being written, and where
    /// its bytes have got to.
    trailers: Option<(Vec<u8>, Scan)>,
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
            trailers: None,
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
    /// socket (of at most `limit` bytes when trailers are to go in), under
    /// the stall clock. `bufs` are hyper's bytes, followed for trailers.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>, usize) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match self.drain_interim(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        {
            let mut st = self.interim.0.lock();
            st.clean = false;
            if let Some(lines) = st.trailers.take() {
                self.trailers = Some((lines, Scan::Head(Vec::new())));
            }
        }
        // Stop hyper's write where the trailers go.
        let limit = match &self.trailers {
            Some((_, scan)) => {
                let mut scan = scan.clone();
                let mut n = 0;
                for b in bufs {
                    n += scan.feed(b);
                    if matches!(scan, Scan::Last | Scan::Gave) {
                        break;
                    }
                }
                if matches!(scan, Scan::Last) {
                    n
                } else {
                    usize::MAX
                }
            }
            None => usize::MAX,
        };
        match write(Pin::new(&mut self.inner), cx, limit) {
            Poll::Ready(r) => {
                self.stalled = None;
                if let (Ok(n), Some((_, scan))) = (&r, self.trailers.as_mut()) {
                    let mut left = *n;
                    for b in bufs {
                        if left == 0 {
                            break;
                        }
                        let take = left.min(b.len());
                        scan.feed(&b[..take]);
                        left -= take;
                    }
                    match scan {
                        Scan::Last => {
                            let (lines, _) = self.trailers.take().expect("checked");
                            self.pending.extend_from_slice(&lines);
                        }
                        Scan::Gave => self.trailers = None,
                        _ => {}
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.check_stall(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }
}

/// The first `limit` bytes of `bufs`.
fn truncated<'a>(bufs: &'a [io::IoSlice<'a>], limit: usize) -> Vec<io::IoSlice<'a>> {
    let mut out = Vec::with_capacity(bufs.len());
    let mut left = limit;
    for b in bufs {
        if left == 0 {
            break;
        }
        let take = left.min(b.len());
        out.push(io::IoSlice::new(&b[..take]));
        left -= take;
    }
    out
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, &[io::IoSlice::new(buf)], |io, cx, limit| {
                io.poll_write(cx, &buf[..limit.min(buf.len())])
            })
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
        self.get_mut().write_with(cx, bufs, |io, cx, limit| {
            if limit == usize::MAX {
                io.poll_write_vectored(cx, bufs)
            } else {
                io.poll_write_vectored(cx, &truncated(bufs, limit))
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_last_chunk_in_any_split() {
        let out: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nD\r\nwith trailers\r\n3\r\n0\r\n\r\n0\r\n\r\n";
        let at = out.len() - 2;
        for split in 0..out.len() {
            let mut s = Scan::Head(Vec::new());
            let a = s.feed(&out[..split]);
            assert_eq!(a, split.min(at));
            if split < at {
                let b = s.feed(&out[split..]);
                assert_eq!(split + b, at, "split at {split}");
            }
            assert!(matches!(s, Scan::Last), "split at {split}");
        }
        let mut s = Scan::Head(Vec::new());
        s.feed(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(matches!(s, Scan::Gave));
    }
}
