//! The `gzip` middleware: gzip as RoadRunner does (klauspost gzhttp
//! defaults: at least 1024 bytes, not already encoded, not an already
//! compressed type), plus br and zstd when the client prefers them.
//! Streamed responses (unknown length) are left alone so every chunk still
//! reaches the client when PHP sends it.

use super::body::{Body, BoxError};
use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio_util::io::{ReaderStream, StreamReader};

const MIN_SIZE: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Brotli,
    Zstd,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// The best encoding the client accepts (highest q; on a tie br, zstd, gzip).
pub fn negotiate(headers: &HeaderMap) -> Option<Encoding> {
    let mut best: Option<(f32, u8, Encoding)> = None;
    for v in headers.get_all(header::ACCEPT_ENCODING).iter() {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(x) = p.trim().strip_prefix("q=") {
                    q = x.trim().parse().unwrap_or(0.0);
                }
            }
            let (rank, enc) = match name.as_str() {
                "br" => (3, Encoding::Brotli),
                "zstd" => (2, Encoding::Zstd),
                "gzip" | "x-gzip" => (1, Encoding::Gzip),
                _ => continue,
            };
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((bq, br, _)) => q > bq || (q == bq && rank > br),
            };
            if better {
                best = Some((q, rank, enc));
            }
        }
    }
    best.map(|(_, _, e)| e)
}

fn compressible_type(ct: &str) -> bool {
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct.starts_with("image/") {
        return ct == "image/svg+xml" || ct == "image/bmp" || ct == "image/x-icon";
    }
    !(ct.starts_with("video/")
        || ct.starts_with("audio/")
        || matches!(
            ct.as_str(),
            "application/zip"
                | "application/gzip"
                | "application/x-gzip"
                | "application/zstd"
                | "application/x-brotli"
                | "application/x-7z-compressed"
                | "application/x-rar-compressed"
                | "application/x-bzip2"
                | "application/x-xz"
                | "font/woff"
                | "font/woff2"
        ))
}

/// Compress `resp` when it qualifies.
pub fn apply(enc: Option<Encoding>, head_request: bool, resp: Response<Body>) -> Response<Body> {
    let status = resp.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT
    {
        return resp;
    }
    let h = resp.headers();
    if h.contains_key(header::CONTENT_ENCODING) || h.contains_key(header::CONTENT_RANGE) {
        return resp;
    }
    if let Some(ct) = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        if !compressible_type(ct) {
            return resp;
        }
    }
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let size = declared.or_else(|| hyper::body::Body::size_hint(resp.body()).exact());
    match size {
        Some(n) if n >= MIN_SIZE => {}
        _ => return resp,
    }
    let (mut parts, body) = resp.into_parts();
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let Some(enc) = enc else {
        return Response::from_parts(parts, body);
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::ACCEPT_RANGES);
    parts.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(enc.name()),
    );
    // The representation changed: a strong validator of the original no longer fits.
    if let Some(etag) = parts
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
    {
        if !etag.starts_with("W/") {
            if let Ok(v) = HeaderValue::from_str(&format!("W/{etag}")) {
                parts.headers.insert(header::ETAG, v);
            }
        }
    }
    if head_request {
        return Response::from_parts(parts, body);
    }
    let reader = StreamReader::new(
        BodyStream::new(body)
            .try_filter_map(|f| async move { Ok(f.into_data().ok()) })
            .map_err(std::io::Error::other),
    );
    let out: Body = match enc {
        Encoding::Gzip => stream_body(ReaderStream::new(GzipEncoder::new(reader))),
        Encoding::Brotli => stream_body(ReaderStream::new(BrotliEncoder::with_quality(
            reader,
            async_compression::Level::Precise(4),
        ))),
        Encoding::Zstd => stream_body(ReaderStream::new(ZstdEncoder::new(reader))),
    };
    Response::from_parts(parts, out)
}

fn stream_body<S>(s: S) -> Body
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    StreamBody::new(
        s.map_ok(Frame::data)
            .map_err(|e| -> BoxError { Box::new(e) }),
    )
    .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&h("gzip")), Some(Encoding::Gzip));
        assert_eq!(
            negotiate(&h("gzip, deflate, br, zstd")),
            Some(Encoding::Brotli)
        );
        assert_eq!(negotiate(&h("gzip;q=1, br;q=0.5")), Some(Encoding::Gzip));
        assert_eq!(negotiate(&h("zstd, gzip;q=0.9")), Some(Encoding::Zstd));
        assert_eq!(negotiate(&h("br;q=0, identity")), None);
        assert_eq!(negotiate(&HeaderMap::new()), None);
        assert!(!compressible_type("image/png"));
        assert!(compressible_type("text/html; charset=utf-8"));
    }
}
