//! The `headers` middleware: configured request and response headers, and
//! CORS as RoadRunner does it with rs/cors (preflights answered here, never
//! by PHP; `Vary: Origin` on every response).
//!
//! Why not tower-http's `CorsLayer` (evaluated for issue 16): RoadRunner's
//! `options_success_status` sets the preflight's status (rs/cors answers
//! 204 by default, many deployments set 200), and CorsLayer always answers
//! 200; RoadRunner's `allowed_origin` wildcards (`https://*.example.com`)
//! would become a predicate closure anyway; and a tower layer needs the
//! handler to be a tower `Service`, which ours (hyper's `service_fn` over
//! the pool) is not. What stays here is ~150 lines checked by
//! tests/http.rs (`headers_and_cors`, `cors_any_origin_and_regex`).

use super::body::{self, Body};
use crate::config::http::{CorsConfig, HeadersConfig, OriginRule};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};

/// Request phase: add the configured request headers; answer a preflight.
pub fn on_request(
    cfg: &HeadersConfig,
    method: &Method,
    headers: &mut HeaderMap,
) -> Option<Response<Body>> {
    for (k, v) in &cfg.request {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    let cors = cfg.cors.as_ref()?;
    if method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return Some(preflight(cors, headers));
    }
    None
}

/// Response phase. `origin` and `method` are the request's.
pub fn on_response(
    cfg: &HeadersConfig,
    origin: Option<&str>,
    method: &Method,
    resp: &mut Response<Body>,
) {
    let h = resp.headers_mut();
    // RoadRunner sets these before PHP writes; PHP's values are added after.
    for (k, v) in &cfg.response {
        let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) else {
            continue;
        };
        let existing: Vec<HeaderValue> = h.get_all(&k).iter().cloned().collect();
        h.insert(k.clone(), v);
        for e in existing {
            h.append(k.clone(), e);
        }
    }
    let Some(cors) = &cfg.cors else {
        return;
    };
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin else {
        return;
    };
    if !origin_allowed(cors, origin) || !cors.allowed_methods.iter().any(|m| m == method.as_str()) {
        return;
    }
    set_allow_origin(cors, origin, h);
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !cors.exposed_headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cors.exposed_headers.join(", ")) {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

fn set_allow_origin(cors: &CorsConfig, origin: &str, h: &mut HeaderMap) {
    // `*` cannot carry credentials in a browser: echo the origin then.
    let v = if matches!(cors.allowed_origin, OriginRule::Any) && !cors.allow_credentials {
        HeaderValue::from_static("*")
    } else {
        match HeaderValue::from_str(origin) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
}

fn preflight(cors: &CorsConfig, req: &HeaderMap) -> Response<Body> {
    let mut r = Response::new(body::empty());
    *r.status_mut() = StatusCode::from_u16(cors.options_success_status).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    h.append(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    let Some(origin) = req.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return r;
    };
    if !origin_allowed(cors, origin) {
        return r;
    }
    let method = req
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_uppercase();
    // rs/cors always lets OPTIONS through.
    if method != "OPTIONS" && !cors.allowed_methods.contains(&method) {
        return r;
    }
    let asked: Vec<String> = req
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let any_header = cors.allowed_headers.iter().any(|h| h == "*");
    if !any_header && !asked.iter().all(|a| cors.allowed_headers.contains(a)) {
        return r;
    }
    set_allow_origin(cors, origin, h);
    if let Ok(v) = HeaderValue::from_str(&method) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !asked.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&asked.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if cors.max_age > 0 {
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(cors.max_age),
        );
    }
    r
}

pub fn origin_allowed(cors: &CorsConfig, origin: &str) -> bool {
    match &cors.allowed_origin {
        OriginRule::Any => true,
        OriginRule::Regex(re) => re.is_match(origin),
        OriginRule::List(list) => {
            let o = origin.to_ascii_lowercase();
            list.iter().any(|pat| match pat.split_once('*') {
                Some((pre, suf)) => {
                    o.len() >= pre.len() + suf.len() && o.starts_with(pre) && o.ends_with(suf)
                }
                None => *pat == o,
            })
        }
    }
}
