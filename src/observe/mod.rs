//! Logs (`logs.*` onto tracing-subscriber), the status endpoints and the
//! Prometheus metrics.
//!
//! Log channels: RoadRunner gives each plugin its own logger
//! (`logs.channels.<plugin>`). Our events map to those plugin names by
//! target: `http` (the front end and access logs), `server` (PHP output,
//! worker lives), `rpc`, `status`, `metrics`; everything else is the root
//! logger's.

pub mod app_metrics;
mod logfile;
pub mod metrics;
pub mod process_metrics;
pub mod status;

use crate::config::LogsConfig;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The RoadRunner plugin (log channel) an event belongs to.
pub fn channel_of(target: &str) -> &'static str {
    if target == "http" || target.contains("::http") {
        "http"
    } else if target == "php" || target.contains("::pool") || target.contains("::serve") {
        "server"
    } else if target.contains("::rpc") {
        "rpc"
    } else if target.contains("::observe::status") {
        "status"
    } else if target.contains("::observe::metrics") {
        "metrics"
    } else {
        ""
    }
}

/// Where log lines go: any mix of stdout, stderr and files.
#[derive(Clone)]
struct Sinks(Arc<Vec<Sink>>);

enum Sink {
    Stdout,
    Stderr,
    File(parking_lot::Mutex<std::fs::File>),
    /// `file_logger_options`: lines go to the rotating file's writer thread.
    Rotating(tracing_appender::non_blocking::NonBlocking),
}

/// The rotated files of this process, one writer each however many
/// loggers name it (two writers would rotate the file under each other),
/// and the guards that flush their last lines at exit.
#[derive(Default)]
struct RotatedFiles {
    writers: Vec<(
        std::path::PathBuf,
        tracing_appender::non_blocking::NonBlocking,
    )>,
}

static LOG_GUARDS: parking_lot::Mutex<Vec<tracing_appender::non_blocking::WorkerGuard>> =
    parking_lot::Mutex::new(Vec::new());

impl RotatedFiles {
    fn sinks(&mut self, opts: &crate::config::FileLoggerOptions) -> Result<Sinks, String> {
        let file = logfile::Rotating::open(opts)?;
        let path = file.path().to_path_buf();
        if let Some((_, w)) = self.writers.iter().find(|(p, _)| *p == path) {
            return Ok(Sinks(Arc::new(vec![Sink::Rotating(w.clone())])));
        }
        // Lossless: a full queue (128k lines) makes the logging thread wait
        // rather than drop lines.
        let (w, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("rr-log-writer")
            .finish(file);
        LOG_GUARDS.lock().push(guard);
        self.writers.push((path, w.clone()));
        Ok(Sinks(Arc::new(vec![Sink::Rotating(w)])))
    }
}

/// Write out what the rotated files' writer threads still hold. Called
/// once, as the process ends.
pub fn flush_logs() {
    LOG_GUARDS.lock().clear();
}

impl Sinks {
    fn open(names: &[String]) -> Result<Sinks, String> {
        let mut v = Vec::new();
        for n in names {
            v.push(match n.as_str() {
                "stdout" => Sink::Stdout,
                "stderr" => Sink::Stderr,
                path => Sink::File(parking_lot::Mutex::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| format!("cannot open the log file {path}: {e}"))?,
                )),
            });
        }
        Ok(Sinks(Arc::new(v)))
    }

    fn is_terminal(&self) -> bool {
        self.0.iter().all(|s| match s {
            Sink::Stdout => std::io::stdout().is_terminal(),
            Sink::Stderr => std::io::stderr().is_terminal(),
            Sink::File(_) | Sink::Rotating(_) => false,
        })
    }
}

impl Write for Sinks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for s in self.0.iter() {
            let _ = match s {
                Sink::Stdout => std::io::stdout().lock().write_all(buf),
                Sink::Stderr => std::io::stderr().lock().write_all(buf),
                Sink::File(f) => f.lock().write_all(buf),
                Sink::Rotating(w) => w.clone().write_all(buf),
            };
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sinks {
    type Writer = Sinks;
    fn make_writer(&'a self) -> Sinks {
        self.clone()
    }
}

/// `logs.mode: raw`: the message only.
struct RawFormat;

impl<S, N> FormatEvent<S, N> for RawFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        struct Msg<'w, 'a>(&'w mut Writer<'a>, std::fmt::Result);
        impl tracing::field::Visit for Msg<'_, '_> {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.1 = write!(self.0, "{v:?}");
                }
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                if f.name() == "message" {
                    self.1 = write!(self.0, "{v}");
                }
            }
        }
        let mut m = Msg(&mut writer, Ok(()));
        event.record(&mut m);
        m.1?;
        writeln!(writer)
    }
}

/// JSON lines as RoadRunner's zap logger writes them (logger v5's encoder
/// config): `level` in lower case, `ts`, `logger` (the plugin's channel),
/// `msg`, then the event's fields. `ts` is UTC epoch nanoseconds in
/// production mode, else zap's ISO 8601 form (`2006-01-02T15:04:05+0000`).
struct ZapJson {
    epoch_ts: bool,
}

/// An event's fields: the message apart, the others as JSON values.
#[derive(Default)]
struct JsonFields {
    msg: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for JsonFields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        let text = format!("{v:?}");
        if f.name() == "message" {
            self.msg = text;
        } else {
            self.fields
                .insert(f.name().to_string(), serde_json::Value::String(text));
        }
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "message" {
            self.msg = v.to_string();
        } else {
            self.fields.insert(f.name().to_string(), v.into());
        }
    }
    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        self.fields.insert(f.name().to_string(), v.into());
    }
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        self.fields.insert(f.name().to_string(), v.into());
    }
    fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
        self.fields.insert(f.name().to_string(), v.into());
    }
    fn record_bool(&mut self, f: &tracing::field::Field, v: bool) {
        self.fields.insert(f.name().to_string(), v.into());
    }
}

/// zap's development time format, in UTC.
fn iso8601_utc(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

impl<S, N> FormatEvent<S, N> for ZapJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn",
            tracing::Level::INFO => "info",
            _ => "debug",
        };
        let now = std::time::SystemTime::now();
        let mut line = serde_json::Map::new();
        line.insert("level".into(), level.into());
        line.insert(
            "ts".into(),
            if self.epoch_ts {
                now.duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0)
                    .into()
            } else {
                iso8601_utc(now).into()
            },
        );
        // zap leaves the name out for an unnamed (root) logger.
        let channel = channel_of(meta.target());
        if !channel.is_empty() {
            line.insert("logger".into(), channel.into());
        }
        let mut f = JsonFields::default();
        event.record(&mut f);
        line.insert("msg".into(), f.msg.into());
        for (k, v) in f.fields {
            line.entry(k).or_insert(v);
        }
        let text =
            serde_json::to_string(&serde_json::Value::Object(line)).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn level_of(l: &str) -> tracing::Level {
    match l {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    }
}

/// One fmt layer for a logger config, keeping events for which `pick` says yes.
fn layer(
    cfg: &LogsConfig,
    rotated: &mut RotatedFiles,
    env_filter: Option<EnvFilter>,
    pick: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> Result<Option<BoxedLayer>, String> {
    if cfg.mode == "off" {
        return Ok(None);
    }
    let sinks = match &cfg.file {
        Some(opts) => rotated
            .sinks(opts)
            .map_err(|e| format!("file_logger_options: {e}"))?,
        None => Sinks::open(&cfg.output)?,
    };
    // err_output is where RoadRunner's logger reports its own failures; we
    // have none to report, but a bad path is still a start-up error.
    Sinks::open(&cfg.err_output)?;
    let ansi = sinks.is_terminal() && cfg.mode == "development";
    let max = level_of(&cfg.level);
    let base = tracing_subscriber::fmt::layer()
        .with_writer(sinks)
        .with_ansi(ansi);
    let l: BoxedLayer = if cfg.mode == "raw" && cfg.file.is_none() {
        base.event_format(RawFormat).boxed()
    } else if cfg.encoding == "json" || cfg.file.is_some() {
        // (RoadRunner's rotated file is always JSON.)
        base.event_format(ZapJson {
            epoch_ts: cfg.mode == "production",
        })
        .boxed()
    } else {
        base.with_target(true).boxed()
    };
    Ok(Some(match env_filter {
        Some(f) => l
            .with_filter(f)
            .with_filter(filter_fn(move |m| pick(m.target())))
            .boxed(),
        None => l
            .with_filter(filter_fn(move |m| *m.level() <= max && pick(m.target())))
            .boxed(),
    }))
}

/// Install the global subscriber. `RR_LOG` (an EnvFilter such as
/// `debug` or `php=warn`) overrides the configured levels.
pub fn init(cfg: &LogsConfig) -> Result<(), String> {
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let env = std::env::var("RR_LOG").ok().filter(|s| !s.is_empty());
    let names: Vec<String> = cfg.channels.iter().map(|(n, _)| n.clone()).collect();
    let root_names = names.clone();
    let mut rotated = RotatedFiles::default();
    if let Some(l) = layer(
        cfg,
        &mut rotated,
        env.as_deref().map(EnvFilter::new),
        move |t: &str| {
            let ch = channel_of(t);
            ch.is_empty() || !root_names.iter().any(|n| n == ch)
        },
    )? {
        layers.push(l);
    }
    for (name, ch) in &cfg.channels {
        let name = name.clone();
        if let Some(l) = layer(
            ch,
            &mut rotated,
            env.as_deref().map(EnvFilter::new),
            move |t: &str| channel_of(t) == name,
        )? {
            layers.push(l);
        }
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(())
}

/// What the status, metrics and RPC servers look at while the server runs.
pub struct Runtime {
    pub pool: Arc<crate::pool::Pool>,
    pub cfg: Arc<crate::config::Config>,
    /// A stop signal arrived: /ready fails, /health says so.
    pub stopping: std::sync::atomic::AtomicBool,
    pub started: std::time::Instant,
}

impl Runtime {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub type PlainResponse = hyper::Response<http_body_util::Full<bytes::Bytes>>;

pub fn plain(
    status: u16,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> PlainResponse {
    let mut r = hyper::Response::new(http_body_util::Full::new(body.into()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A small HTTP/1.1 server for the status and metrics endpoints: every
/// request goes to `handler` (path, query).
pub async fn serve_plain<F>(
    listener: tokio::net::TcpListener,
    read_timeout: std::time::Duration,
    handler: Arc<F>,
) where
    F: Fn(&str, Option<&str>) -> PlainResponse + Send + Sync + 'static,
{
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let r = handler(req.uri().path(), req.uri().query());
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(read_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zap_development_time() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(super::iso8601_utc(t), "2023-11-14T22:13:20+0000");
        assert_eq!(
            super::iso8601_utc(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00+0000"
        );
    }
}
