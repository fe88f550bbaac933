//! The `static` middleware: files under `http.static.dir` served by Rust,
//! without PHP. A path that cannot be served (no extension, forbidden or not
//! allowed extension, missing, a directory, a symlink leading outside the
//! root) goes on to PHP, as RoadRunner does; a `..` segment gets 403.
//!
//! Why not tower-http's `ServeDir` (evaluated for issue 16): it answers a
//! missing file with 404 (or a fallback *tower service*, which the PHP
//! handler is not) where RoadRunner passes the request on to PHP; it
//! serves `index.html` for folders and redirects them, which RoadRunner's
//! static middleware does not; it has no ETag (RoadRunner's
//! `calculate_etag`/`weak`: a CRC32 of the content), no forbid/allow
//! extension lists and no per-file response headers. Those would be
//! wrapped around it, leaving only Range and conditional requests to the
//! crate, which are ~100 lines here, checked by tests/http.rs
//! (`static_files_conditional_and_ranges`).

use super::body::{self, Body, BoxError};
use crate::config::http::StaticConfig;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub struct StaticFiles {
    /// Canonical root.
    root: PathBuf,
    cfg: StaticConfig,
}

impl StaticFiles {
    /// Checks the root (relative to the working directory, the config's folder).
    pub fn new(cfg: &StaticConfig) -> Result<StaticFiles, String> {
        let root = std::fs::canonicalize(&cfg.dir)
            .map_err(|_| format!("root directory '{}' does not exist", cfg.dir.display()))?;
        if !root.is_dir() {
            return Err(format!("invalid root directory '{}'", cfg.dir.display()));
        }
        Ok(StaticFiles {
            root,
            cfg: cfg.clone(),
        })
    }

    /// The file's response, or None to pass the request on.
    pub async fn serve(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response<Body>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
        if decoded.contains(&0)
            || decoded
                .split(|&b| b == b'/' || b == b'\\')
                .any(|seg| seg == b"..")
        {
            return Some(status_only(StatusCode::FORBIDDEN));
        }
        let rel = String::from_utf8(decoded).ok()?;
        let rel = rel.trim_start_matches('/');
        // Dot files and dot directories (.env, .git/, .htaccess) are never
        // served from disk; the request goes on to PHP.
        if rel.split(['/', '\\']).any(|seg| seg.starts_with('.')) {
            return None;
        }
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{}", e.to_ascii_lowercase()))?;
        if self.cfg.forbid.contains(&ext)
            || (!self.cfg.allow.is_empty() && !self.cfg.allow.contains(&ext))
        {
            return None;
        }
        let full = tokio::fs::canonicalize(self.root.join(rel)).await.ok()?;
        if !full.starts_with(&self.root) {
            tracing::debug!(path = %full.display(), "static: the path leads outside the root; passed on");
            return None;
        }
        let file = tokio::fs::File::open(&full).await.ok()?;
        let meta = file.metadata().await.ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(self.respond(method, headers, file, &full, meta).await)
    }

    async fn respond(
        &self,
        method: &Method,
        req: &HeaderMap,
        mut file: tokio::fs::File,
        full: &Path,
        meta: std::fs::Metadata,
    ) -> Response<Body> {
        let size = meta.len();
        let modified = meta.modified().ok().map(trunc_secs);
        let etag = if self.cfg.calculate_etag {
            if self.cfg.weak {
                let name = full
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Some(format!("W/\"{:08x}\"", crc32fast::hash(name.as_bytes())))
            } else {
                match file_crc(&mut file).await {
                    Ok(c) => Some(format!("\"{size}-{c:08x}\"")),
                    Err(_) => return status_only(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
        } else {
            None
        };
        let mut h = HeaderMap::new();
        if let Some(m) = modified {
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(m)) {
                h.insert(header::LAST_MODIFIED, v);
            }
        }
        if let Some(e) = &etag {
            if let Ok(v) = HeaderValue::from_str(e) {
                h.insert(header::ETAG, v);
            }
        }
        for (k, v) in &self.cfg.response {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.append(k, v);
            }
        }

        if not_modified(req, etag.as_deref(), modified) {
            let mut r = status_only(StatusCode::NOT_MODIFIED);
            *r.headers_mut() = h;
            return r;
        }

        let mime = mime_guess::from_path(full).first_or_octet_stream();
        let ctype = if mime.type_() == mime_guess::mime::TEXT
            || mime.essence_str() == "application/javascript"
        {
            format!("{}; charset=utf-8", mime.essence_str())
        } else {
            mime.essence_str().to_string()
        };
        if let Ok(v) = HeaderValue::from_str(&ctype) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

        let mut status = StatusCode::OK;
        let (mut start, mut len) = (0u64, size);
        if let Some(range) = req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
            if if_range_ok(req, etag.as_deref(), modified) {
                match parse_range(range, size) {
                    RangeSpec::One(s, e) => {
                        status = StatusCode::PARTIAL_CONTENT;
                        start = s;
                        len = e - s + 1;
                        if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{size}")) {
                            h.insert(header::CONTENT_RANGE, v);
                        }
                    }
                    RangeSpec::Unsatisfiable => {
                        let mut r = status_only(StatusCode::RANGE_NOT_SATISFIABLE);
                        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                            r.headers_mut().insert(header::CONTENT_RANGE, v);
                        }
                        return r;
                    }
                    RangeSpec::Ignore => {}
                }
            }
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let body = if method == Method::HEAD || len == 0 {
            body::empty()
        } else {
            if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
                return status_only(StatusCode::INTERNAL_SERVER_ERROR);
            }
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024)
                .map_ok(Frame::data)
                .map_err(|e| -> BoxError { Box::new(e) });
            StreamBody::new(stream).boxed_unsync()
        };
        let mut r = Response::new(body);
        *r.status_mut() = status;
        *r.headers_mut() = h;
        r
    }
}

fn status_only(s: StatusCode) -> Response<Body> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = s;
    r
}

fn trunc_secs(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

async fn file_crc(file: &mut tokio::fs::File) -> std::io::Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    file.seek(std::io::SeekFrom::Start(0)).await?;
    Ok(h.finalize())
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    list.split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

/// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
fn not_modified(req: &HeaderMap, etag: Option<&str>, modified: Option<SystemTime>) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return etag.is_some_and(|e| etag_matches(inm, e));
    }
    if let (Some(ims), Some(m)) = (
        req.get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok()),
        modified,
    ) {
        return m <= ims;
    }
    false
}

fn if_range_ok(req: &HeaderMap, etag: Option<&str>, modified: Option<SystemTime>) -> bool {
    let Some(v) = req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if v.starts_with('"') {
        return etag.is_some_and(|e| !e.starts_with("W/") && e == v.trim());
    }
    match (httpdate::parse_http_date(v), modified) {
        (Ok(d), Some(m)) => d == m,
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Inclusive byte range.
    One(u64, u64),
    Unsatisfiable,
    /// Malformed or several ranges: serve the whole file.
    Ignore,
}

fn parse_range(v: &str, size: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeSpec::Ignore;
        };
        if n == 0 || size == 0 {
            return RangeSpec::Unsatisfiable;
        }
        let n = n.min(size);
        return RangeSpec::One(size - n, size - 1);
    }
    let Ok(s) = a.parse::<u64>() else {
        return RangeSpec::Ignore;
    };
    if s >= size {
        return RangeSpec::Unsatisfiable;
    }
    let e = if b.is_empty() {
        size - 1
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= s => e.min(size - 1),
            _ => return RangeSpec::Ignore,
        }
    };
    RangeSpec::One(s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::One(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::One(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::One(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), RangeSpec::One(0, 99));
        assert_eq!(parse_range("bytes=95-200", 100), RangeSpec::One(95, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Ignore);
    }

    #[test]
    fn etags() {
        assert!(etag_matches("\"a\", \"b\"", "\"b\""));
        assert!(etag_matches("W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"c\"", "\"b\""));
    }
}
