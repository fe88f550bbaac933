//! The HTTP front end: hyper (HTTP/1.1 keep-alive and h2c) on tokio. It reads
//! the request, builds what RoadRunner would hand PHP, queues it on the pool
//! and writes the worker's answer back.

pub mod request;

use crate::config::HttpConfig;
use crate::pool::job::{HttpRequest, JobError};
use crate::pool::Pool;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct HttpState {
    pub pool: Arc<Pool>,
    pub cfg: HttpConfig,
    pub tls: bool,
}

/// Bind the listener (errors name the address).
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Accept connections until `shutdown` turns true, then let open connections
/// finish their in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let mut conn_shutdown = shutdown.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(state, peer, req).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        res = conn.as_mut() => {
                            if let Err(e) = res {
                                tracing::debug!("connection from {peer}: {e}");
                            }
                        }
                        _ = conn_shutdown.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn handle(
    state: Arc<HttpState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let _in_flight = crate::observe::metrics::request_started();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let resp = match build_request(&state, peer, req).await {
        Ok(r) => match state.pool.exec(r).await {
            Ok(resp) => to_response(resp),
            Err(e) => error_response(&state, e),
        },
        Err(resp) => resp,
    };
    crate::observe::metrics::request_finished(&resp, started);
    if state.cfg.access_logs {
        tracing::info!(
            target: "http",
            method = %method,
            path = %path,
            status = resp.status().as_u16(),
            remote = %peer.ip(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "http access"
        );
    }
    resp
}

fn error_response(state: &HttpState, e: JobError) -> Response<Full<Bytes>> {
    let code = StatusCode::from_u16(state.cfg.internal_error_code)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &e {
        JobError::Soft(_) => tracing::debug!("request failed: {e}"),
        _ => tracing::warn!("request failed: {e}"),
    }
    let body = if state.cfg.pool.debug {
        format!("{e}\n")
    } else {
        String::new()
    };
    let mut r = plain(code, body);
    if matches!(e, JobError::NoFreeWorkers | JobError::QueueFull) {
        r.headers_mut()
            .insert("No-Workers", HeaderValue::from_static("true"));
    }
    r
}

fn to_response(resp: crate::pool::job::HttpResponse) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(resp.body));
    *r.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    for (k, v) in resp.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) else {
            tracing::warn!("the worker sent an invalid header {k:?}; dropped");
            continue;
        };
        h.append(name, value);
    }
    r
}

async fn build_request(
    state: &HttpState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<HttpRequest, Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let limit = state.cfg.max_request_size;
    if limit > 0 {
        if let Some(len) = parts.headers.get(hyper::header::CONTENT_LENGTH) {
            if len
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| n > limit)
            {
                return Err(plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large\n",
                ));
            }
        }
    }
    let method = parts.method.as_str().to_string();
    let skip_body = method == "HEAD" || method == "OPTIONS";
    let body_bytes = if skip_body {
        Bytes::new()
    } else {
        let limited = Limited::new(
            body,
            if limit > 0 {
                limit as usize
            } else {
                usize::MAX
            },
        );
        match limited.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    return Err(plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body too large\n",
                    ));
                }
                return Err(plain(
                    StatusCode::BAD_REQUEST,
                    "cannot read the request body\n",
                ));
            }
        }
    };

    let protocol = match parts.version {
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let scheme = if state.tls { "https" } else { "http" };
    let uri: String = format!("{scheme}://{host}{target}")
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let raw_query: String = parts
        .uri
        .query()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();

    let mut headers: Vec<(String, String)> = Vec::with_capacity(parts.headers.len());
    let mut cookie_values = Vec::new();
    for (name, value) in parts.headers.iter() {
        if name == hyper::header::HOST {
            continue;
        }
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == hyper::header::COOKIE {
            cookie_values.push(v.clone());
        }
        headers.push((request::canonical_header(name.as_str()), v));
    }
    // Go's http.Header is a map: names sorted, values of one name in order.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let cookies = request::parse_cookies(cookie_values.iter().map(String::as_str));

    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut parsed = false;
    let mut body_out = body_bytes;
    if !skip_body
        && !state.cfg.raw_body
        && content_type.contains("application/x-www-form-urlencoded")
    {
        // Go's ParseForm reads bodies of POST, PUT and PATCH only.
        let pairs: Vec<(String, String)> = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            form_urlencoded::parse(&body_out)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            Vec::new()
        };
        match request::form_tree(&pairs) {
            Ok(tree) => {
                parsed = true;
                body_out =
                    Bytes::from(serde_json::to_vec(&tree).unwrap_or_else(|_| b"{}".to_vec()));
            }
            Err(e) => return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))),
        }
    }

    Ok(HttpRequest {
        remote_addr: peer.ip().to_string(),
        protocol,
        method,
        uri,
        headers,
        cookies,
        raw_query,
        parsed,
        body: body_out,
        uploads: String::new(),
        attributes: String::new(),
    })
}
