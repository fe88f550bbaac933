//! The `http` section: listener, limits, middleware (static, headers/CORS,
//! gzip, proxy_ip_parser), uploads, TLS, HTTP/2, and the worker pool.
//!
//! Files named here (`static.dir`, `ssl.cert`, ...) are checked when the
//! server starts ([`crate::http::ServerSetup`]), relative to the config's
//! folder, so parsing stays free of I/O.

use super::pool::{self, PoolConfig};
use super::value::*;
use super::KeyResult;
use serde_norway::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The plain listener; empty when only `ssl` serves.
    pub address: String,
    pub pool: PoolConfig,
    pub internal_error_code: u16,
    /// Bytes; 0 = unlimited.
    pub max_request_size: u64,
    pub raw_body: bool,
    pub access_logs: bool,
    /// Beyond RoadRunner: `http.server_header`, a `Server` header added to
    /// responses that have none. None (the default, like RoadRunner) = no header.
    pub server_header: Option<String>,
    /// Known middleware names in the order of the config (the last one is
    /// the outermost, as in RoadRunner ≤ 2025.1).
    pub middleware: Vec<String>,
    pub trusted_subnets: Vec<ipnet::IpNet>,
    pub uploads: UploadsConfig,
    pub headers: Option<HeadersConfig>,
    pub static_files: Option<StaticConfig>,
    pub ssl: Option<SslConfig>,
    pub http2: Http2Config,
    pub timeouts: Timeouts,
    /// Problems that do not stop the server (unknown keys, unknown middleware).
    pub warnings: Vec<String>,
}

impl HttpConfig {
    /// The middleware `name` is listed.
    pub fn uses(&self, name: &str) -> bool {
        self.middleware.iter().any(|m| m == name)
    }
}

#[derive(Debug, Clone, Default)]
pub struct UploadsConfig {
    /// Where uploaded files go; None = the system temp dir.
    pub dir: Option<PathBuf>,
    /// Extensions with the dot, as configured (RoadRunner lowercases only the file's).
    pub forbid: Vec<String>,
    pub allow: Vec<String>,
    /// Not a config key: with `server.user` and process workers, upload
    /// files are given to that (uid, gid), as RoadRunner does.
    pub owner: Option<(u32, u32)>,
    /// Not a config key: the dir, opened at start; files are made relative
    /// to it (a root server must not follow a path the workers can change).
    pub dir_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

#[derive(Debug, Clone, Default)]
pub struct HeadersConfig {
    pub request: Vec<(String, String)>,
    pub response: Vec<(String, String)>,
    pub cors: Option<CorsConfig>,
}

#[derive(Debug, Clone)]
pub enum OriginRule {
    Any,
    /// Exact origins (lower-cased) and `prefix*suffix` wildcards.
    List(Vec<String>),
    Regex(regex::Regex),
}

#[derive(Debug, Clone)]
pub struct CorsConfig {
    pub allowed_origin: OriginRule,
    /// Upper-cased methods.
    pub allowed_methods: Vec<String>,
    /// Lower-cased names; `*` allows whatever is asked.
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: u64,
    pub options_success_status: u16,
}

#[derive(Debug, Clone)]
pub struct StaticConfig {
    pub dir: PathBuf,
    /// Lower-cased extensions with the dot.
    pub forbid: Vec<String>,
    pub allow: Vec<String>,
    pub calculate_etag: bool,
    pub weak: bool,
    pub response: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

#[derive(Debug, Clone)]
pub struct SslConfig {
    pub address: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub redirect: bool,
    pub root_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

#[derive(Debug, Clone)]
pub struct Http2Config {
    pub h2c: bool,
    pub max_concurrent_streams: u32,
}

/// RoadRunner hard-codes these (5 min, 5 min, 5 min, 1 h); rustrunner lets
/// `http.timeouts.*` change them.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub read_header: Duration,
    /// Idle time allowed between two pieces of a request body.
    pub read: Duration,
    /// Time a response write may stall before the connection is dropped.
    pub write: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            read_header: Duration::from_secs(300),
            read: Duration::from_secs(300),
            write: Duration::from_secs(300),
            idle: Duration::from_secs(3600),
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "address",
    "pool",
    "internal_error_code",
    "max_request_size",
    "raw_body",
    "access_logs",
    "server_header",
    "middleware",
    "trusted_subnets",
    "uploads",
    "headers",
    "static",
    "ssl",
    "http2",
    "http3",
    "fcgi",
    "timeouts",
];

/// RoadRunner's middleware names (http@v5.3.0 schema plus plugins).
const MIDDLEWARE: &[&str] = &[
    "headers",
    "gzip",
    "static",
    "sendfile",
    "http_metrics",
    "proxy_ip_parser",
    "otel",
    "cache",
    "new_relic",
];
/// The ones this server implements.
const IMPLEMENTED: &[&str] = &["headers", "gzip", "static", "proxy_ip_parser"];

fn unknown_keys(v: &Value, path: &str, known: &[&str], warnings: &mut Vec<String>) {
    if let Some(m) = v.as_mapping() {
        for k in m.keys() {
            let k = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{k:?}"));
            if !known.contains(&k.as_str()) {
                warnings.push(format!(
                    "{path}.{k}: unknown key (ignored){}",
                    super::value::did_you_mean(&k, known)
                ));
            }
        }
    }
}

pub fn parse(root: &Value) -> KeyResult<HttpConfig> {
    let http = get(root, "http").ok_or_else(|| {
        (
            "http".to_string(),
            "missing: the http section with http.address is required".to_string(),
        )
    })?;
    let mut warnings = Vec::new();
    unknown_keys(http, "http", KNOWN_KEYS, &mut warnings);
    let address = match get(http, "address") {
        Some(v) => as_string(v, "http.address")?,
        None => String::new(),
    };
    let pool = pool::parse(get(http, "pool"), "http.pool")?;
    let internal_error_code = match get(http, "internal_error_code") {
        Some(v) => {
            let c = as_u64(v, "http.internal_error_code")?;
            if c == 0 {
                500
            } else if !(100..=599).contains(&c) {
                return Err((
                    "http.internal_error_code".into(),
                    format!("{c} is not an HTTP status code"),
                ));
            } else {
                c as u16
            }
        }
        None => 500,
    };
    // RoadRunner: 0 means the 1000 MB default.
    let max_request_size = match get(http, "max_request_size") {
        Some(v) => match as_u64(v, "http.max_request_size")? {
            0 => 1000 * 1024 * 1024,
            n => n.saturating_mul(1024 * 1024),
        },
        None => 1000 * 1024 * 1024,
    };
    let raw_body = opt_bool(http, "raw_body", "http.raw_body")?;
    let access_logs = opt_bool(http, "access_logs", "http.access_logs")?;
    let server_header = match get(http, "server_header") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let s = as_string(v, "http.server_header")?;
            if s.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err((
                    "http.server_header".into(),
                    "control characters are not allowed in a header value".into(),
                ));
            }
            Some(s).filter(|s| !s.is_empty())
        }
    };

    let mut middleware = Vec::new();
    for name in string_list(get(http, "middleware"), "http.middleware")? {
        if !MIDDLEWARE.contains(&name.as_str()) {
            warnings.push(format!(
                "http.middleware: requested middleware does not exist: {name:?}"
            ));
        } else if !IMPLEMENTED.contains(&name.as_str()) {
            warnings.push(format!(
                "http.middleware: {name:?} is not supported by rustrunner (ignored)"
            ));
        } else {
            middleware.push(name);
        }
    }

    let mut trusted_subnets = Vec::new();
    for (i, s) in string_list(get(http, "trusted_subnets"), "http.trusted_subnets")?
        .iter()
        .enumerate()
    {
        let net: ipnet::IpNet = s.trim().parse().map_err(|_| {
            (
                format!("http.trusted_subnets[{i}]"),
                format!("{s:?} is not a CIDR such as 10.0.0.0/8"),
            )
        })?;
        trusted_subnets.push(net);
    }

    let uploads = match get(http, "uploads") {
        Some(u) => {
            unknown_keys(
                u,
                "http.uploads",
                &["dir", "forbid", "allow"],
                &mut warnings,
            );
            UploadsConfig {
                dir: match get(u, "dir") {
                    Some(v) => Some(as_string(v, "http.uploads.dir")?)
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from),
                    None => None,
                },
                forbid: string_list(get(u, "forbid"), "http.uploads.forbid")?,
                allow: string_list(get(u, "allow"), "http.uploads.allow")?,
                owner: None,
                dir_fd: None,
            }
        }
        None => UploadsConfig::default(),
    };

    let headers = match get(http, "headers") {
        Some(h) => Some(parse_headers(h, &mut warnings)?),
        None => None,
    };
    let static_files = match get(http, "static") {
        Some(s) => Some(parse_static(s, &mut warnings)?),
        None => None,
    };
    let ssl = match get(http, "ssl") {
        Some(s) => parse_ssl(s, &mut warnings)?,
        None => None,
    };
    let mut http2 = Http2Config {
        h2c: false,
        max_concurrent_streams: 128,
    };
    if let Some(h) = get(http, "http2") {
        unknown_keys(
            h,
            "http.http2",
            &["h2c", "max_concurrent_streams"],
            &mut warnings,
        );
        http2.h2c = opt_bool(h, "h2c", "http.http2.h2c")?;
        if let Some(v) = get(h, "max_concurrent_streams") {
            let n = as_u64(v, "http.http2.max_concurrent_streams")?;
            http2.max_concurrent_streams = if n == 0 {
                128
            } else {
                n.min(u32::MAX as u64) as u32
            };
        }
    }
    if let Some(f) = get(http, "fcgi") {
        if !f.is_null() {
            return Err((
                "http.fcgi".into(),
                "FastCGI is not supported by rustrunner; remove the fcgi section and put a \
                 reverse proxy in front of http.address instead"
                    .into(),
            ));
        }
    }
    if get(http, "http3").is_some_and(|v| !v.is_null()) {
        warnings.push("http.http3: HTTP/3 is not supported by rustrunner (ignored)".into());
    }
    let mut timeouts = Timeouts::default();
    if let Some(t) = get(http, "timeouts") {
        unknown_keys(
            t,
            "http.timeouts",
            &["read_header", "read", "write", "idle"],
            &mut warnings,
        );
        for (key, slot) in [
            ("read_header", &mut timeouts.read_header),
            ("read", &mut timeouts.read),
            ("write", &mut timeouts.write),
            ("idle", &mut timeouts.idle),
        ] {
            if let Some(v) = get(t, key) {
                let d = as_duration(v, &format!("http.timeouts.{key}"))?;
                if d.is_zero() {
                    return Err((format!("http.timeouts.{key}"), "must be more than 0".into()));
                }
                *slot = d;
            }
        }
    }

    if address.is_empty() && ssl.is_none() {
        return Err((
            "http.address".into(),
            "missing: unable to run http service, no method has been specified \
             (http, https, http/2); e.g. address: 0.0.0.0:8080"
                .into(),
        ));
    }
    if !address.is_empty() {
        validate_address(&address).map_err(|m| ("http.address".to_string(), m))?;
    }

    Ok(HttpConfig {
        address,
        pool,
        internal_error_code,
        max_request_size,
        raw_body,
        access_logs,
        server_header,
        middleware,
        trusted_subnets,
        uploads,
        headers,
        static_files,
        ssl,
        http2,
        timeouts,
        warnings,
    })
}

fn opt_bool(v: &Value, key: &str, path: &str) -> KeyResult<bool> {
    match get(v, key) {
        Some(x) => as_bool(x, path),
        None => Ok(false),
    }
}

/// A YAML list of strings, or one comma-separated string (RoadRunner accepts both).
fn string_list(v: Option<&Value>, path: &str) -> KeyResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| as_string(x, &format!("{path}[{i}]")))
            .collect(),
        Some(other) => Ok(as_string(other, path)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()),
    }
}

/// A mapping of header name → value.
fn header_map(v: Option<&Value>, path: &str) -> KeyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let k = as_string(k, path)?;
                let val = as_string(v, &format!("{path}.{k}"))?;
                if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    return Err((format!("{path}.{k}"), "is not a valid header name".into()));
                }
                if hyper::header::HeaderValue::from_str(&val).is_err() {
                    return Err((format!("{path}.{k}"), "is not a valid header value".into()));
                }
                out.push((k, val));
            }
        }
        Some(_) => return Err((path.into(), "must be a mapping of Name: value".into())),
    }
    Ok(out)
}

fn parse_headers(h: &Value, warnings: &mut Vec<String>) -> KeyResult<HeadersConfig> {
    unknown_keys(
        h,
        "http.headers",
        &["request", "response", "cors"],
        warnings,
    );
    let request = header_map(get(h, "request"), "http.headers.request")?;
    let response = header_map(get(h, "response"), "http.headers.response")?;
    let cors = match get(h, "cors") {
        None | Some(Value::Null) => None,
        Some(c) => {
            unknown_keys(
                c,
                "http.headers.cors",
                &[
                    "allowed_origin",
                    "allowed_origin_regex",
                    "allowed_headers",
                    "allowed_methods",
                    "allow_credentials",
                    "exposed_headers",
                    "max_age",
                    "options_success_status",
                    "debug",
                ],
                warnings,
            );
            let origins =
                string_list(get(c, "allowed_origin"), "http.headers.cors.allowed_origin")?;
            let regex = match get(c, "allowed_origin_regex") {
                Some(v) => as_string(v, "http.headers.cors.allowed_origin_regex")?,
                None => String::new(),
            };
            let allowed_origin = if !regex.is_empty() {
                OriginRule::Regex(regex::Regex::new(&regex).map_err(|e| {
                    (
                        "http.headers.cors.allowed_origin_regex".to_string(),
                        format!("invalid regular expression: {e}"),
                    )
                })?)
            } else if origins.is_empty() || origins.iter().any(|o| o == "*") {
                OriginRule::Any
            } else {
                OriginRule::List(origins.iter().map(|o| o.to_ascii_lowercase()).collect())
            };
            let mut allowed_methods: Vec<String> = string_list(
                get(c, "allowed_methods"),
                "http.headers.cors.allowed_methods",
            )?
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
            if allowed_methods.is_empty() {
                allowed_methods = vec!["GET".into(), "POST".into(), "HEAD".into()];
            }
            let mut allowed_headers: Vec<String> = string_list(
                get(c, "allowed_headers"),
                "http.headers.cors.allowed_headers",
            )?
            .into_iter()
            .map(|m| m.to_ascii_lowercase())
            .collect();
            if allowed_headers.is_empty() {
                allowed_headers = vec![
                    "accept".into(),
                    "content-type".into(),
                    "x-requested-with".into(),
                ];
            }
            // Simple requests always carry Origin; rs/cors allows it implicitly.
            allowed_headers.push("origin".into());
            let exposed_headers = string_list(
                get(c, "exposed_headers"),
                "http.headers.cors.exposed_headers",
            )?
            .iter()
            .map(|h| crate::http::request::canonical_header(h))
            .collect();
            let max_age = match get(c, "max_age") {
                Some(v) => as_u64(v, "http.headers.cors.max_age")?,
                None => 0,
            };
            let options_success_status = match get(c, "options_success_status") {
                Some(v) => {
                    let s = as_u64(v, "http.headers.cors.options_success_status")?;
                    if !(200..=299).contains(&s) {
                        return Err((
                            "http.headers.cors.options_success_status".into(),
                            format!("{s} is not a 2xx status"),
                        ));
                    }
                    s as u16
                }
                None => 200,
            };
            Some(CorsConfig {
                allowed_origin,
                allowed_methods,
                allowed_headers,
                exposed_headers,
                allow_credentials: opt_bool(
                    c,
                    "allow_credentials",
                    "http.headers.cors.allow_credentials",
                )?,
                max_age,
                options_success_status,
            })
        }
    };
    Ok(HeadersConfig {
        request,
        response,
        cors,
    })
}

fn ext_list(v: Option<&Value>, path: &str) -> KeyResult<Vec<String>> {
    Ok(string_list(v, path)?
        .into_iter()
        .map(|e| {
            let e = e.to_ascii_lowercase();
            if e.starts_with('.') {
                e
            } else {
                format!(".{e}")
            }
        })
        .collect())
}

fn parse_static(s: &Value, warnings: &mut Vec<String>) -> KeyResult<StaticConfig> {
    unknown_keys(
        s,
        "http.static",
        &[
            "dir",
            "forbid",
            "allow",
            "calculate_etag",
            "weak",
            "request",
            "response",
        ],
        warnings,
    );
    // `request` headers would only reach a file read: validated, then unused.
    header_map(get(s, "request"), "http.static.request")?;
    let dir = match get(s, "dir") {
        Some(v) => as_string(v, "http.static.dir")?,
        None => String::new(),
    };
    if dir.is_empty() {
        return Err((
            "http.static.dir".into(),
            "missing: the folder to serve, e.g. dir: \"public\"".into(),
        ));
    }
    Ok(StaticConfig {
        dir: PathBuf::from(dir),
        forbid: ext_list(get(s, "forbid"), "http.static.forbid")?,
        allow: ext_list(get(s, "allow"), "http.static.allow")?,
        calculate_etag: opt_bool(s, "calculate_etag", "http.static.calculate_etag")?,
        weak: opt_bool(s, "weak", "http.static.weak")?,
        response: header_map(get(s, "response"), "http.static.response")?,
    })
}

fn parse_ssl(s: &Value, warnings: &mut Vec<String>) -> KeyResult<Option<SslConfig>> {
    unknown_keys(
        s,
        "http.ssl",
        &[
            "address",
            "cert",
            "key",
            "redirect",
            "root_ca",
            "client_auth_type",
            "acme",
        ],
        warnings,
    );
    if get(s, "acme").is_some_and(|v| !v.is_null()) {
        return Err((
            "http.ssl.acme".into(),
            "ACME is not supported by rustrunner; give cert and key files".into(),
        ));
    }
    let text = |k: &str| -> KeyResult<String> {
        match get(s, k) {
            Some(v) => as_string(v, &format!("http.ssl.{k}")),
            None => Ok(String::new()),
        }
    };
    let cert = text("cert")?;
    let key = text("key")?;
    if cert.is_empty() || key.is_empty() {
        // RoadRunner quietly runs without TLS; say so.
        if !cert.is_empty() || !key.is_empty() {
            warnings.push("http.ssl: both cert and key are needed; HTTPS is off".into());
        }
        return Ok(None);
    }
    let mut address = text("address")?;
    if address.is_empty() {
        address = "127.0.0.1:443".into();
    }
    validate_address(&address).map_err(|_| {
        (
            "http.ssl.address".to_string(),
            format!("unknown format, accepted format is [:<port> or <host>:<port>], provided: {address}"),
        )
    })?;
    let root_ca = Some(text("root_ca")?)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let client_auth = match text("client_auth_type")?.as_str() {
        "" | "no_client_certs" => ClientAuth::None,
        "request_client_cert" => ClientAuth::Request,
        "require_any_client_cert" => ClientAuth::RequireAny,
        "verify_client_cert_if_given" => ClientAuth::VerifyIfGiven,
        "require_and_verify_client_cert" => ClientAuth::RequireAndVerify,
        other => {
            return Err((
                "http.ssl.client_auth_type".into(),
                format!(
                    "{other:?} is not one of no_client_certs, request_client_cert, \
                     require_any_client_cert, verify_client_cert_if_given, \
                     require_and_verify_client_cert"
                ),
            ))
        }
    };
    Ok(Some(SslConfig {
        address,
        cert: PathBuf::from(cert),
        key: PathBuf::from(key),
        redirect: opt_bool(s, "redirect", "http.ssl.redirect")?,
        root_ca,
        client_auth,
    }))
}

fn validate_address(a: &str) -> Result<(), String> {
    let a = a.strip_prefix("tcp://").unwrap_or(a);
    let (_host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} is not host:port (e.g. 0.0.0.0:8080)"))?;
    port.parse::<u16>()
        .map_err(|_| format!("{a:?}: port {port:?} is not a number from 0 to 65535"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_yaml(y: &str) -> KeyResult<HttpConfig> {
        let v: Value = serde_norway::from_str(y).unwrap();
        parse(&v)
    }

    #[test]
    fn full_section() {
        let c = parse_yaml(
            r#"
http:
  address: 127.0.0.1:8080
  max_request_size: 2
  middleware: [headers, gzip, static, sendfile, bogus]
  trusted_subnets: ["10.0.0.0/8", "::1/128"]
  uploads: { dir: /tmp, forbid: [.php], allow: [.png] }
  headers:
    request: { X-In: a }
    response: { X-Out: b }
    cors: { allowed_origin: "https://a.com, https://*.b.com", max_age: 600 }
  static: { dir: public, forbid: [php, .Exe], calculate_etag: true }
  http2: { h2c: true, max_concurrent_streams: 0 }
  timeouts: { write: 2s }
  whatever: 1
"#,
        )
        .unwrap();
        assert_eq!(c.max_request_size, 2 * 1024 * 1024);
        assert_eq!(c.middleware, vec!["headers", "gzip", "static"]);
        assert_eq!(c.trusted_subnets.len(), 2);
        let cors = c.headers.as_ref().unwrap().cors.as_ref().unwrap();
        assert!(matches!(&cors.allowed_origin, OriginRule::List(l) if l.len() == 2));
        assert_eq!(c.static_files.unwrap().forbid, vec![".php", ".exe"]);
        assert_eq!(c.http2.max_concurrent_streams, 128);
        assert_eq!(c.timeouts.write, Duration::from_secs(2));
        assert!(
            c.warnings.iter().any(|w| w.contains("http.whatever")),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings.iter().any(|w| w.contains("bogus")));
        assert!(c.warnings.iter().any(|w| w.contains("sendfile")));
    }

    #[test]
    fn errors_name_keys() {
        let e = parse_yaml("http:\n  address: :1\n  fcgi: { address: tcp://:9000 }\n").unwrap_err();
        assert_eq!(e.0, "http.fcgi");
        let e = parse_yaml("http:\n  address: :1\n  trusted_subnets: [nope]\n").unwrap_err();
        assert_eq!(e.0, "http.trusted_subnets[0]");
        let e = parse_yaml(
            "http:\n  address: :1\n  headers: { cors: { allowed_origin_regex: '(' } }\n",
        )
        .unwrap_err();
        assert_eq!(e.0, "http.headers.cors.allowed_origin_regex");
        let e = parse_yaml("http:\n  address: :1\n  static: { forbid: [.php] }\n").unwrap_err();
        assert_eq!(e.0, "http.static.dir");
        let e = parse_yaml("http:\n  ssl: { cert: a, key: b, address: nope }\n").unwrap_err();
        assert_eq!(e.0, "http.ssl.address");
        let e = parse_yaml("http:\n  pool: {}\n").unwrap_err();
        assert_eq!(e.0, "http.address");
        // TLS alone is enough.
        let c = parse_yaml("http:\n  ssl: { cert: a, key: b, address: ':8443' }\n").unwrap();
        assert_eq!(c.ssl.unwrap().address, ":8443");
    }
}
