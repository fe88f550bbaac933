//! The HTTP front end: hyper on tokio (HTTP/1.0 and 1.1, HTTP/2 over TLS,
//! h2c when enabled), RoadRunner's middleware (static, headers/CORS, gzip,
//! proxy_ip_parser), and the PHP handler that builds what RoadRunner would
//! hand PHP, queues it on the pool and writes the worker's answer back,
//! streamed when the worker streams.
//!
//! Layout: `body` (response body type, read timeout), `conn_io` (write
//! timeout, interim responses), `request` (RoadRunner's request context),
//! `uploads` (multipart), `static_files`, `headers`, `compress`, `proxy`,
//! `tls`.

mod body;
mod compress;
mod conn_io;
mod headers;
mod proxy;
pub mod request;
mod sanity;
mod static_files;
mod tls;
mod uploads;

use crate::config::HttpConfig;
use crate::pool::events::{self, EventReceiver};
use crate::pool::job::{HttpRequest, HttpResponse, JobError, ResponseEvent};
use crate::pool::Pool;
use body::{Body, BoxError};
use bytes::Bytes;
use conn_io::{ConnIo, Interim};
use http_body_util::{BodyDataStream, BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Why the front end could not be set up.
#[derive(Debug)]
pub enum SetupError {
    /// A config value is wrong (a missing file, a bad certificate).
    Config(String, String),
    /// A listener could not be bound.
    Listen(String, std::io::Error),
}

impl SetupError {
    pub fn describe(&self, file: &std::path::Path) -> String {
        match self {
            SetupError::Config(k, m) => format!("config error in {}: {k}: {m}", file.display()),
            SetupError::Listen(a, e) => format!("http: cannot listen on {a}: {e}"),
        }
    }
}

/// Listeners and checked middleware, ready to serve.
pub struct Prepared {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    statics: Option<static_files::StaticFiles>,
}

impl Prepared {
    /// Where the listeners are, for the start-up log line.
    pub fn addresses(&self) -> String {
        let mut out = Vec::new();
        if let Some(a) = self.plain.as_ref().and_then(|l| l.local_addr().ok()) {
            out.push(format!("http://{a}"));
        }
        if let Some(a) = self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok()) {
            out.push(format!("https://{a}"));
        }
        out.join(" ")
    }
}

/// RoadRunner's listener addresses: `:port` is every IPv4 interface, and a
/// `tcp://` prefix is allowed.
pub(crate) fn listen_address(a: &str) -> String {
    let a = a.strip_prefix("tcp://").unwrap_or(a);
    if a.starts_with(':') {
        format!("0.0.0.0{a}")
    } else {
        a.to_string()
    }
}

/// Check the files the config names and bind every listener, before PHP starts.
/// `inherited`: the plain listener a cell got from its supervisor.
pub async fn prepare(
    cfg: &HttpConfig,
    inherited: Option<std::net::TcpListener>,
) -> Result<Prepared, SetupError> {
    let statics = match (&cfg.static_files, cfg.uses("static")) {
        (Some(s), true) => Some(
            static_files::StaticFiles::new(s)
                .map_err(|m| SetupError::Config("http.static.dir".into(), m))?,
        ),
        _ => None,
    };
    if let Some(dir) = &cfg.uploads.dir {
        if !dir.is_dir() {
            return Err(SetupError::Config(
                "http.uploads.dir".into(),
                format!("'{}' is not a directory", dir.display()),
            ));
        }
    }
    let tls = match &cfg.ssl {
        Some(ssl) => {
            let acceptor = tls::acceptor(ssl).map_err(|(k, m)| SetupError::Config(k, m))?;
            let addr = listen_address(&ssl.address);
            let l = TcpListener::bind(&addr)
                .await
                .map_err(|e| SetupError::Listen(addr.clone(), e))?;
            Some((l, acceptor))
        }
        None => None,
    };
    let plain = if let Some(l) = inherited {
        Some(TcpListener::from_std(l).map_err(|e| SetupError::Listen(cfg.address.clone(), e))?)
    } else if cfg.address.is_empty() {
        None
    } else {
        let addr = listen_address(&cfg.address);
        Some(
            TcpListener::bind(&addr)
                .await
                .map_err(|e| SetupError::Listen(addr.clone(), e))?,
        )
    };
    Ok(Prepared {
        plain,
        tls,
        statics,
    })
}

pub struct HttpState {
    pub pool: Arc<Pool>,
    pub cfg: HttpConfig,
    statics: Option<static_files::StaticFiles>,
}

/// What a request knows about its connection.
struct ConnInfo {
    peer: SocketAddr,
    /// Our side, for requests without a Host (HTTP/1.0).
    local: Option<SocketAddr>,
    tls: bool,
    interim: Interim,
    /// Plain listener with `ssl.redirect`: the https port to send clients to.
    redirect_port: Option<u16>,
}

/// Serve every listener until `shutdown` turns true, then let open
/// connections finish their in-flight requests.
pub async fn serve(
    prepared: Prepared,
    pool: Arc<Pool>,
    mut cfg: HttpConfig,
    shutdown: watch::Receiver<bool>,
) {
    // Upload descriptors carry absolute paths.
    cfg.uploads.dir = Some(match cfg.uploads.dir.take() {
        Some(d) => std::fs::canonicalize(&d).unwrap_or(d),
        None => std::env::temp_dir(),
    });
    let redirect_port = match &cfg.ssl {
        Some(s) if s.redirect => s.address.rsplit(':').next().and_then(|p| p.parse().ok()),
        _ => None,
    };
    let state = Arc::new(HttpState {
        pool,
        cfg,
        statics: prepared.statics,
    });
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = prepared.plain {
        tasks.spawn(accept_loop(
            l,
            None,
            redirect_port,
            state.clone(),
            shutdown.clone(),
        ));
    }
    if let Some((l, acc)) = prepared.tls {
        tasks.spawn(accept_loop(
            l,
            Some(acc),
            None,
            state.clone(),
            shutdown.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    redirect_port: Option<u16>,
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
                let local = stream.local_addr().ok();
                let state = state.clone();
                let shutdown = shutdown.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        None => {
                            let info = ConnInfo { peer, local, tls: false, interim: Interim::default(), redirect_port };
                            serve_conn(stream, info, state, shutdown).await;
                        }
                        Some(acc) => {
                            let hs = tokio::time::timeout(state.cfg.timeouts.read_header, acc.accept(stream)).await;
                            match hs {
                                Ok(Ok(s)) => {
                                    let info = ConnInfo { peer, local, tls: true, interim: Interim::default(), redirect_port: None };
                                    serve_conn(s, info, state, shutdown).await;
                                }
                                Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                            }
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

/// Most header lines one HTTP/1 request may carry (431 beyond).
const MAX_HEADERS: usize = 1000;

async fn serve_conn<S>(
    io: S,
    info: ConnInfo,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let tls = info.tls;
    let io = ConnIo::new(io, state.cfg.timeouts.write, info.interim.clone());
    let info = Arc::new(info);
    let st = state.clone();
    let svc = hyper::service::service_fn(move |req| {
        let state = st.clone();
        let info = info.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, info, req).await) }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.cfg.timeouts.read_header)
        // A client that shuts down its write side after the request (`nc
        // -N`) still gets the response, as from Go's server; one that is
        // really gone is seen when the response is written.
        .half_close(true)
        // hyper's default of 100 headers refuses ordinary requests Go accepts;
        // the header bytes stay bounded by hyper's ~400 KiB read buffer (431).
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(state.cfg.http2.max_concurrent_streams);
    if !tls && !state.cfg.http2.h2c {
        builder = builder.http1_only();
    }
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!("connection from {peer}: {e}");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(body::full(body));
    *r.status_mut() = status;
    r
}

/// 308 to https with HSTS (the plain listener under `ssl.redirect`).
fn redirect(req: &Request<Incoming>, port: u16) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("127.0.0.1");
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let loc = if port == 443 {
        format!("https://{host}{target}")
    } else {
        format!("https://{host}:{port}{target}")
    };
    let mut r = plain(StatusCode::PERMANENT_REDIRECT, "");
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains; preload"),
    );
    r
}

/// The middleware chain: the last listed middleware is the outermost, so it
/// sees the request first and the response last (RoadRunner ≤ 2025.1).
async fn handle(
    state: Arc<HttpState>,
    conn: Arc<ConnInfo>,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let _in_flight = crate::observe::metrics::request_started();
    if let Some(port) = conn.redirect_port {
        return redirect(&req, port);
    }
    if let Some((status, msg)) = sanity::check(req.version(), req.method(), req.headers()) {
        let mut r = plain(status, format!("{msg}\n"));
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        server_header(&state, &mut r);
        crate::observe::metrics::request_finished(&r, started);
        return r;
    }
    let method = req.method().clone();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut remote = conn.peer.ip();
    let mut encoding = None;
    let mut applied: Vec<&str> = Vec::new();
    let mut answered = None;
    for mw in state.cfg.middleware.iter().rev() {
        match mw.as_str() {
            "proxy_ip_parser" => {
                if let Some(ip) =
                    proxy::client_ip(&state.cfg.trusted_subnets, remote, req.headers())
                {
                    remote = ip;
                }
            }
            "headers" => {
                if let Some(h) = &state.cfg.headers {
                    answered = headers::on_request(h, &method, req.headers_mut());
                }
            }
            "gzip" => encoding = compress::negotiate(req.headers()),
            "static" => {
                if let Some(st) = &state.statics {
                    answered = st.serve(&method, req.uri().path(), req.headers()).await;
                }
            }
            _ => {}
        }
        if answered.is_some() {
            break;
        }
        applied.push(mw.as_str());
    }
    let mut resp = match answered {
        Some(r) => r,
        None => php(&state, &conn, remote, req).await,
    };
    for mw in applied.iter().rev() {
        match *mw {
            "headers" => {
                if let Some(h) = &state.cfg.headers {
                    headers::on_response(h, origin.as_deref(), &method, &mut resp);
                }
            }
            "gzip" => resp = compress::apply(encoding, method == Method::HEAD, resp),
            _ => {}
        }
    }
    server_header(&state, &mut resp);
    crate::observe::metrics::request_finished(&resp, started);
    resp
}

/// `http.server_header`, unless the response already names a server.
fn server_header(state: &HttpState, resp: &mut Response<Body>) {
    if let Some(name) = &state.cfg.server_header {
        if let Ok(v) = HeaderValue::from_str(name) {
            resp.headers_mut().entry(header::SERVER).or_insert(v);
        }
    }
}

/// The PHP handler: build the request, run it on the pool, answer.
async fn php(
    state: &HttpState,
    conn: &ConnInfo,
    remote: IpAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let version = req.version();
    // hyper sends trailers on HTTP/1.1 only to a client that sent `TE:
    // trailers`; Go's server (RoadRunner) always does: the connection adds
    // them for the others.
    let add_trailers = (version == Version::HTTP_11
        && method != Method::HEAD
        && !req
            .headers()
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers")))
    .then_some(&conn.interim);
    let log_extra = state.cfg.access_logs.then(|| {
        let h = req.headers();
        let get = |n: HeaderName| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        (
            get(header::HOST),
            get(header::USER_AGENT),
            get(header::REFERER),
            get(header::CONTENT_LENGTH),
        )
    });
    // Bounded: a worker streaming to a client that reads slowly (or not at
    // all) waits, for at most the write timeout without progress.
    let (tx, mut rx) = events::channel(state.cfg.timeouts.write);
    let resp = match build_request(state, conn, remote, req).await {
        Err(resp) => resp,
        Ok((mut hreq, guard)) => {
            hreq.events = Some(tx);
            let exec = state.pool.exec(hreq);
            tokio::pin!(exec);
            // The worker sends interim responses, then the answer, then the
            // body's parts: the first part (or end) seen here belongs to the
            // body, and no more are taken out of the bounded channel until
            // the answer is in (so they stay bounded).
            let mut early = None;
            let result = loop {
                tokio::select! {
                    biased;
                    Some(ev) = rx.recv(), if early.is_none() => match ev {
                        ResponseEvent::Interim(status, headers) => {
                            tracing::debug!(status, "interim response from the worker");
                            send_interim(conn, version, status, &headers)
                        }
                        other => early = Some(other),
                    },
                    r = &mut exec => break r,
                }
            };
            // Interim responses the worker sent before its answer must go
            // first even when the answer won the race to this task (the
            // select may see the reply before the channel's last events).
            while early.is_none() {
                match rx.try_recv() {
                    Some(ResponseEvent::Interim(status, headers)) => {
                        send_interim(conn, version, status, &headers)
                    }
                    Some(other) => early = Some(other),
                    None => break,
                }
            }
            let resp = match result {
                Ok(r) => to_response(r, method == Method::HEAD, early, rx, add_trailers),
                Err(e) => error_response(state, e),
            };
            match guard {
                Some(g) => resp.map(|b| body::guarded(b, g)),
                None => resp,
            }
        }
    };
    let status = resp.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match log_extra {
        Some((host, ua, referer, content_len)) => tracing::info!(
            target: "http",
            status,
            method = %method,
            uri = %target,
            remote_address = %remote,
            host = %host,
            user_agent = %ua,
            referer = %referer,
            content_len = %content_len,
            elapsed_ms,
            "http access log"
        ),
        None => tracing::debug!(
            target: "http",
            status,
            method = %method,
            uri = %target,
            remote_address = %remote,
            elapsed_ms,
            "http log"
        ),
    }
    resp
}

/// An HTTP/1.1 interim response with only its own headers. HTTP/1.0 clients
/// must not get one; HTTP/2 (hyper's server cannot send 1xx there) drops it.
fn send_interim(conn: &ConnInfo, version: Version, status: u16, headers: &[(String, String)]) {
    if version != Version::HTTP_11 {
        tracing::debug!(
            status,
            ?version,
            "interim response not sent on this protocol"
        );
        return;
    }
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Informational");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (k, v) in headers {
        if HeaderName::from_bytes(k.as_bytes()).is_ok() && HeaderValue::from_str(v).is_ok() {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    if !conn.interim.send(&out) {
        tracing::debug!(
            status,
            "interim response dropped: the connection is still writing"
        );
    }
}

fn error_response(state: &HttpState, e: JobError) -> Response<Body> {
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
        // RoadRunner means to send this but sets it after the status line;
        // here it really arrives, so a client or a load balancer can tell an
        // overloaded pool from a failing application.
        r.headers_mut()
            .insert("No-Workers", HeaderValue::from_static("true"));
    }
    r
}

/// Go's http.DetectContentType, reduced to what matters for PHP output.
fn sniff(body: &[u8]) -> &'static str {
    let start = body
        .iter()
        .position(|b| !b" \t\r\n".contains(b))
        .unwrap_or(body.len());
    let head = &body[start..body.len().min(start + 512)];
    let lower: Vec<u8> = head.iter().take(14).map(u8::to_ascii_lowercase).collect();
    for tag in [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<body",
        b"<div",
        b"<p",
        b"<h1",
        b"<table",
        b"<br",
        b"<script",
    ] {
        if lower.starts_with(tag) {
            return "text/html; charset=utf-8";
        }
    }
    if lower.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if body.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    if body.starts_with(b"\x89PNG") {
        return "image/png";
    }
    if body.starts_with(b"\xff\xd8\xff") {
        return "image/jpeg";
    }
    if body.starts_with(b"GIF8") {
        return "image/gif";
    }
    if body.starts_with(b"\x1f\x8b") {
        return "application/x-gzip";
    }
    if head
        .iter()
        .any(|&b| b < 0x09 || (0x0e..0x20).contains(&b) && b != 0x1b)
    {
        return "application/octet-stream";
    }
    "text/plain; charset=utf-8"
}

fn to_response(
    resp: HttpResponse,
    head_request: bool,
    early: Option<ResponseEvent>,
    rx: EventReceiver,
    add_trailers: Option<&Interim>,
) -> Response<Body> {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut h = HeaderMap::new();
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
    // `Trailer: A, B` turns headers A and B into trailers.
    let trailer_names: Vec<HeaderName> = h
        .get_all(header::TRAILER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let mut trailers = HeaderMap::new();
    for n in &trailer_names {
        for v in h.get_all(n).iter() {
            trailers.append(n.clone(), v.clone());
        }
        h.remove(n);
    }
    if !h.contains_key(header::CONTENT_TYPE) && !resp.body.is_empty() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(sniff(&resp.body)),
        );
    }
    if let (Some(interim), false) = (add_trailers, trailers.is_empty()) {
        let mut lines = Vec::new();
        for (k, v) in &trailers {
            lines.extend_from_slice(k.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(v.as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        if !interim.add_trailers(lines) {
            tracing::debug!("trailers dropped: the connection is still writing");
        }
    }
    let streamed = resp.streamed;
    if (streamed || !trailers.is_empty() || !resp.body.is_empty()) && !head_request {
        // The length comes from the body (or is unknown: chunked).
        h.remove(header::CONTENT_LENGTH);
    }
    let body = if !streamed && trailers.is_empty() {
        body::response(resp.body)
    } else {
        WorkerBody {
            first: Some(resp.body),
            early,
            rx: streamed.then_some(rx),
            trailers: (!trailers.is_empty()).then_some(trailers),
        }
        .boxed_unsync()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = h;
    r
}

/// A worker's response body sent as it arrives: the first part, then the
/// parts of a streamed response, then the trailers.
struct WorkerBody {
    first: Option<Bytes>,
    /// An event taken out of `rx` before the answer arrived.
    early: Option<ResponseEvent>,
    /// None once the stream ended (or for a whole response with trailers).
    rx: Option<EventReceiver>,
    trailers: Option<HeaderMap>,
}

#[derive(Debug)]
struct StreamBroke;

impl std::fmt::Display for StreamBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the worker's streamed response broke off")
    }
}

impl std::error::Error for StreamBroke {}

impl hyper::body::Body for WorkerBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(b) = this.first.take() {
            if !b.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
        }
        loop {
            let ev = if let Some(ev) = this.early.take() {
                Some(ev)
            } else if let Some(rx) = this.rx.as_mut() {
                match rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(ev) => ev,
                }
            } else {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            };
            match ev {
                Some(ResponseEvent::Data(b)) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(ResponseEvent::Interim(..)) => continue,
                Some(ResponseEvent::End) => this.rx = None,
                None => {
                    this.rx = None;
                    this.trailers = None;
                    return Poll::Ready(Some(Err(Box::new(StreamBroke))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.early.is_none() && self.rx.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn too_large() -> Response<Body> {
    let mut r = plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        "serve_http: http: request body too large\n",
    );
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Does the error chain hold an error of type `T`?
fn caused_by<T: std::error::Error + 'static>(e: &BoxError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    while let Some(x) = cur {
        if x.is::<T>() {
            return true;
        }
        cur = x.source();
    }
    false
}

async fn build_request(
    state: &HttpState,
    conn: &ConnInfo,
    remote: IpAddr,
    req: Request<Incoming>,
) -> Result<(HttpRequest, Option<uploads::UploadGuard>), Response<Body>> {
    let (parts, body) = req.into_parts();
    let limit = state.cfg.max_request_size;
    if limit > 0 {
        if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
            if len
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| n > limit)
            {
                return Err(too_large());
            }
        }
    }
    let limit = if limit > 0 {
        limit.min(usize::MAX as u64) as usize
    } else {
        usize::MAX
    };
    let method = parts.method.as_str().to_string();
    let skip_body = method == "HEAD" || method == "OPTIONS";
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ct_lower = content_type.to_ascii_lowercase();
    let body = Limited::new(body::ReadTimeout::new(body, state.cfg.timeouts.read), limit);

    let mut parsed = false;
    let mut uploads_json = String::new();
    let mut guard = None;
    let body_out = if skip_body {
        Bytes::new()
    } else if !state.cfg.raw_body && ct_lower.contains("multipart/form-data") {
        // RoadRunner answers every request-forming error (bad multipart,
        // conflicting names) with 400: only client bytes are involved.
        let boundary = multer::parse_boundary(&content_type)
            .map_err(|e| plain(StatusCode::BAD_REQUEST, format!("serve_http: {e}\n")))?;
        match uploads::parse(BodyDataStream::new(body), boundary, &state.cfg.uploads).await {
            Ok(p) => {
                parsed = true;
                uploads_json = p.uploads;
                guard = Some(p.guard);
                Bytes::from(serde_json::to_vec(&p.data).unwrap_or_else(|_| b"{}".to_vec()))
            }
            Err(uploads::FormError::TooLarge) => return Err(too_large()),
            Err(uploads::FormError::TimedOut) => {
                return Err(plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "timed out reading the request body\n",
                ))
            }
            Err(uploads::FormError::Bad(e)) => {
                return Err(plain(StatusCode::BAD_REQUEST, format!("serve_http: {e}\n")))
            }
        }
    } else {
        match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if caused_by::<http_body_util::LengthLimitError>(&e) {
                    return Err(too_large());
                }
                if caused_by::<body::ReadTimedOut>(&e) {
                    return Err(plain(
                        StatusCode::REQUEST_TIMEOUT,
                        "timed out reading the request body\n",
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
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .or_else(|| conn.local.map(|a| a.to_string()))
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut scheme = if conn.tls { "https" } else { "http" }.to_string();
    let mut host = host;
    // An HTTP/1 absolute-form target names the resource itself (RFC 9112
    // §3.2.2): its scheme and authority win over the connection and `Host`,
    // as in RoadRunner (Go's `r.URL` then has a host). HTTP/2's `:authority`
    // and `:scheme` are not a target: Go ignores them there.
    if parts.version != Version::HTTP_2 {
        if let (Some(sch), Some(auth)) = (parts.uri.scheme_str(), parts.uri.authority()) {
            scheme = sch.to_ascii_lowercase();
            host = auth.to_string();
        }
    }
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
        if name == header::HOST {
            continue;
        }
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookie_values.push(v.clone());
        }
        headers.push((request::canonical_header(name.as_str()), v));
    }
    // Go's http.Header is a map: names sorted, values of one name in order.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let cookies = request::parse_cookies(cookie_values.iter().map(String::as_str));

    let mut body_out = body_out;
    if !skip_body && !state.cfg.raw_body && ct_lower.contains("application/x-www-form-urlencoded") {
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
            Err(e) => return Err(plain(StatusCode::BAD_REQUEST, format!("serve_http: {e}\n"))),
        }
    }

    Ok((
        HttpRequest {
            remote_addr: remote.to_string(),
            protocol,
            method,
            uri,
            headers,
            cookies,
            raw_query,
            parsed,
            body: body_out,
            uploads: uploads_json,
            attributes: String::new(),
            events: None,
        },
        guard,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff(b"  <!DOCTYPE html><html>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(sniff(b"hello"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01\x02"), "application/octet-stream");
        assert_eq!(sniff(b"{\"a\":1}"), "text/plain; charset=utf-8");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("tcp://127.0.0.1:1"), "127.0.0.1:1");
    }
}
