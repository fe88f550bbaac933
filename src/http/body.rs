//! Response bodies (one boxed type for PHP, static files and errors) and a
//! request body wrapper that enforces the read timeout between two pieces of
//! a body.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body this server sends.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|n| match n {}).boxed_unsync()
}

/// How many bytes of whole (not streamed) response bodies the server keeps
/// in memory at once, over every connection. A client that does not read
/// keeps its response alive: 200 stalled clients of a 5 MB page held 1 GB.
/// Past this bound, a large body waits in an unlinked temp file (page cache
/// the kernel can reclaim) and is read from it as the client takes it.
const BUFFERED_LIMIT: usize = 64 << 20;
/// Bodies below this stay in memory whatever the total (a temp file costs
/// more than it saves).
const SPILL_MIN: usize = 256 << 10;
/// What a spilled body reads per frame.
const SPILL_CHUNK: usize = 64 << 10;

static BUFFERED: AtomicUsize = AtomicUsize::new(0);

/// A whole response body from a worker: in memory while the total allows,
/// else from a temp file.
pub fn response(b: Bytes) -> Body {
    let len = b.len();
    if len < SPILL_MIN {
        return full(b);
    }
    let reserved = BUFFERED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            (used + len <= BUFFERED_LIMIT).then_some(used + len)
        })
        .is_ok();
    if reserved {
        // Released when the last view of the bytes is gone (hyper may
        // still hold them after the body itself was dropped).
        return full(Bytes::from_owner(Counted(b)));
    }
    match spill(&b) {
        Ok(file) => SpilledBody {
            file,
            left: len as u64,
        }
        .boxed_unsync(),
        Err(e) => {
            tracing::warn!(
                "cannot spill a {len}-byte response to a temp file ({e}); keeping it in memory"
            );
            full(b)
        }
    }
}

/// Bytes counted in [`BUFFERED`] until dropped.
struct Counted(Bytes);

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        BUFFERED.fetch_sub(self.0.len(), Ordering::AcqRel);
    }
}

fn spill(b: &[u8]) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, Write};
    let mut f = tempfile::tempfile()?;
    f.write_all(b)?;
    f.rewind()?;
    Ok(f)
}

/// A spilled body: read in chunks as hyper asks for them, which it does
/// only as the client takes the previous ones. The file is in the page
/// cache, so a read does not block on a disk.
struct SpilledBody {
    file: std::fs::File,
    left: u64,
}

impl HttpBody for SpilledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::io::Read;
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = (this.left as usize).min(SPILL_CHUNK);
        let mut buf = vec![0u8; want];
        match this.file.read_exact(&mut buf) {
            Ok(()) => {
                this.left -= want as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
            Err(e) => Poll::Ready(Some(Err(Box::new(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

pub fn empty() -> Body {
    Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync()
}

/// The request body went quiet for longer than the read timeout.
#[derive(Debug)]
pub struct ReadTimedOut;

impl std::fmt::Display for ReadTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out reading the request body")
    }
}

impl std::error::Error for ReadTimedOut {}

/// Fails the body when no piece of it arrives within `timeout`.
pub struct ReadTimeout<B> {
    inner: B,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<B> ReadTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        ReadTimeout {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> HttpBody for ReadTimeout<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(r.map(|x| x.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(ReadTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body that keeps `guard` alive until hyper drops the body (after the
/// last byte was written, or when the client went away): uploaded files are
/// deleted then.
pub struct Guarded<G> {
    inner: Body,
    _guard: G,
}

pub fn guarded<G: Send + Unpin + 'static>(inner: Body, guard: G) -> Body {
    Guarded {
        inner,
        _guard: guard,
    }
    .boxed_unsync()
}

impl<G: Unpin> HttpBody for Guarded<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
