//! Request checks hyper leaves to the application, as Go's net/http makes
//! them before a RoadRunner handler runs (RFC 9112 §3.2, §6.1): an
//! HTTP/1.1 request needs exactly one valid Host header, and the only
//! transfer coding accepted is a single `chunked`. A rejected request is
//! answered with `Connection: close`, so a desynchronised body can never be
//! read as the next request on that connection (request smuggling).

use hyper::header::{HeaderMap, HOST, TRANSFER_ENCODING};
use hyper::{Method, StatusCode, Version};

/// Go's `httpguts.ValidHostHeader` byte set.
fn valid_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&b)
}

/// `Some((status, message))` when the request must be refused before it
/// reaches PHP.
pub fn check(
    version: Version,
    method: &Method,
    headers: &HeaderMap,
) -> Option<(StatusCode, &'static str)> {
    if version != Version::HTTP_10 && version != Version::HTTP_11 {
        return None; // HTTP/2 carries :authority and has its own framing
    }
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 && method != Method::CONNECT => {
            return Some((StatusCode::BAD_REQUEST, "missing required Host header"));
        }
        (Some(_), Some(_)) => return Some((StatusCode::BAD_REQUEST, "too many Host headers")),
        (Some(h), None) if !h.as_bytes().iter().all(|b| valid_host_byte(*b)) => {
            return Some((StatusCode::BAD_REQUEST, "malformed Host header"));
        }
        _ => {}
    }
    let mut te = headers.get_all(TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (Some(_), Some(_)) => {
            return Some((StatusCode::NOT_IMPLEMENTED, "too many transfer encodings"));
        }
        (Some(v), None) if !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") => {
            return Some((StatusCode::NOT_IMPLEMENTED, "unsupported transfer encoding"));
        }
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn h(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn host_and_transfer_encoding_rules() {
        let get = Method::GET;
        let v11 = Version::HTTP_11;
        assert_eq!(check(v11, &get, &h(&[("host", b"a:80")])), None);
        assert_eq!(check(v11, &get, &h(&[("host", b"")])), None);
        assert_eq!(check(v11, &get, &h(&[("host", b"[::1]:8080")])), None);
        assert_eq!(check(Version::HTTP_10, &get, &h(&[])), None);
        assert_eq!(check(Version::HTTP_2, &get, &h(&[])), None);
        assert_eq!(check(v11, &Method::CONNECT, &h(&[])), None);
        let bad = |m: &HeaderMap| check(v11, &get, m).map(|x| x.0);
        assert_eq!(bad(&h(&[])), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            bad(&h(&[("host", b"a"), ("host", b"b")])),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(bad(&h(&[("host", b"a b")])), Some(StatusCode::BAD_REQUEST));
        assert_eq!(bad(&h(&[("host", b"a/b")])), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            bad(&h(&[("host", b"x\xff")])),
            Some(StatusCode::BAD_REQUEST)
        );
        let te = |v: &[&[u8]]| {
            let mut pairs: Vec<(&str, &[u8])> = vec![("host", b"x")];
            pairs.extend(v.iter().map(|v| ("transfer-encoding", *v)));
            bad(&h(&pairs))
        };
        assert_eq!(te(&[b"chunked"]), None);
        assert_eq!(te(&[b"Chunked "]), None);
        assert_eq!(
            te(&[b"chunked", b"chunked"]),
            Some(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            te(&[b"chunked, chunked"]),
            Some(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(te(&[b"gzip, chunked"]), Some(StatusCode::NOT_IMPLEMENTED));
    }
}
