//! The `proxy_ip_parser` middleware: when the TCP peer is inside
//! `http.trusted_subnets`, the client address comes from `Forwarded: for=`,
//! the first `X-Forwarded-For` entry, `X-Real-Ip`, `True-Client-Ip` or
//! `Cf-Connecting-Ip` (the first one that holds an IP address).

use hyper::header::HeaderMap;
use std::net::IpAddr;

pub fn client_ip(trusted: &[ipnet::IpNet], peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return None;
    }
    let first = |name: &str| -> Option<String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(fwd) = first("forwarded") {
        for part in fwd.split(',').next().unwrap_or("").split(';') {
            let part = part.trim();
            let is_for = part
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("for="));
            if let (true, Some(value)) = (is_for, part.get(4..)) {
                if let Some(ip) = parse_ip(value) {
                    return Some(ip);
                }
            }
        }
    }
    if let Some(xff) = first("x-forwarded-for") {
        if let Some(ip) = xff.split(',').next().and_then(parse_ip) {
            return Some(ip);
        }
    }
    ["x-real-ip", "true-client-ip", "cf-connecting-ip"]
        .iter()
        .find_map(|h| first(h).and_then(|v| parse_ip(&v)))
}

/// `1.2.3.4`, `"[::1]:80"`, `1.2.3.4:5` → the address.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn sources() {
        let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("9.9.9.9"));
        assert_eq!(
            client_ip(&trusted, lo, &h),
            Some("9.9.9.9".parse().unwrap())
        );
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        assert_eq!(
            client_ip(&trusted, lo, &h),
            Some("1.1.1.1".parse().unwrap())
        );
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=\"[2001:db8::1]:4711\";proto=https, for=3.3.3.3"),
        );
        assert_eq!(
            client_ip(&trusted, lo, &h),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(client_ip(&trusted, "10.0.0.1".parse().unwrap(), &h), None);
    }
}
