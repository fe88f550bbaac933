//! Goridge RPC (contract.md §5) on `rpc.listen`: what `rr workers`,
//! `rr reset` and PHP's `Spiral\Goridge\RPC\RPC` talk to.
//!
//! Frames: version 1, flags = codec, two options `[seq, len(method)]`,
//! payload `method ‖ argument`. Replies carry the same options and codec;
//! errors add the ERROR flag and carry `method ‖ message`. Codecs: JSON
//! (0x08) and raw (0x04) for arguments; gob (what the Go `rr` sends) is
//! refused with an error frame, since our own CLI speaks JSON.
//!
//! Workers are threads of this process, so `informer.Workers` reports each
//! worker's id in `pid` (the same id the logs show as `worker=`), plus the
//! extra keys `id`, `lives` and `totalExecs`.

pub mod cli;
pub mod client;
pub mod codec;

use crate::config::Listen;
use crate::observe::Runtime;
use crate::relay::frame::{self, Decoder};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Plugins with workers (informer) and with a reset (resetter).
const PLUGINS: &[&str] = &["http"];
/// How long `resetter.Reset` waits for every worker to start a new life.
/// How long past reset_timeout a reset waits for the replacements to boot.
const RESET_GRACE: Duration = Duration::from_secs(10);

pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, std::path::PathBuf),
}

impl Listener {
    pub async fn bind(addr: &Listen) -> std::io::Result<Listener> {
        match addr {
            Listen::Tcp(a) => Ok(Listener::Tcp(tokio::net::TcpListener::bind(a).await?)),
            Listen::Unix(p) => {
                // RoadRunner unlinks a stale socket file first.
                if std::fs::symlink_metadata(p)
                    .map(|m| {
                        use std::os::unix::fs::FileTypeExt;
                        m.file_type().is_socket()
                    })
                    .unwrap_or(false)
                {
                    let _ = std::fs::remove_file(p);
                }
                Ok(Listener::Unix(
                    tokio::net::UnixListener::bind(p)?,
                    p.clone(),
                ))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What answers RPC calls: the server itself ([`Runtime`]), or a cells'
/// supervisor that asks its cells ([`crate::cells`]).
pub trait Service: Send + Sync + 'static {
    fn call<'a>(
        &'a self,
        method: &'a str,
        arg: Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>;
}

impl Service for Runtime {
    fn call<'a>(
        &'a self,
        method: &'a str,
        arg: Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>
    {
        Box::pin(call(self, method, arg))
    }
}

/// Accept connections forever (the task is dropped at shutdown).
pub async fn serve(listener: Listener, rt: Arc<dyn Service>) {
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                (
                    Box::new(r) as Box<dyn AsyncRead + Send + Unpin>,
                    Box::new(w) as Box<dyn AsyncWrite + Send + Unpin>,
                )
            }),
            Listener::Unix(l, _) => l.accept().await.map(|(s, _)| {
                let (r, w) = s.into_split();
                (
                    Box::new(r) as Box<dyn AsyncRead + Send + Unpin>,
                    Box::new(w) as Box<dyn AsyncWrite + Send + Unpin>,
                )
            }),
        };
        match accepted {
            Ok((r, w)) => {
                tokio::spawn(connection(r, w, rt.clone()));
            }
            Err(e) => {
                tracing::warn!("rpc: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn connection(
    mut r: Box<dyn AsyncRead + Send + Unpin>,
    mut w: Box<dyn AsyncWrite + Send + Unpin>,
    rt: Arc<dyn Service>,
) {
    // RPC payloads are small; 64 MiB bounds a hostile length field.
    let mut dec = Decoder::new(64 << 20);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        dec.push(&buf[..n]);
        loop {
            let f = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("rpc: bad frame, closing the connection: {e}");
                    return;
                }
            };
            let Some(reply) = handle_frame(rt.as_ref(), f).await else {
                return;
            };
            if w.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

/// Answer one request frame; None closes the connection (not an RPC frame).
async fn handle_frame(rt: &dyn Service, f: frame::Frame) -> Option<Vec<u8>> {
    let c = match codec::decode_call(&f) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("rpc: {e}");
            return None;
        }
    };
    let result = match &c.arg {
        Ok(v) => rt.call(&c.method, v.clone()).await,
        Err(e) => Err(e.clone()),
    };
    tracing::debug!(method = %c.method, ok = result.is_ok(), "rpc call");
    Some(codec::encode_reply(&c, &result))
}

fn plugin_arg(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a plugin name (string), got {other}")),
    }
}

fn known_plugin(p: &str) -> Result<(), String> {
    if PLUGINS.contains(&p) {
        Ok(())
    } else {
        Err(format!(
            "plugin {p} not found (plugins with workers: {})",
            PLUGINS.join(", ")
        ))
    }
}

async fn call(rt: &Runtime, method: &str, arg: Value) -> Result<Value, String> {
    match method {
        "rpc.Version" => Ok(json!(crate::serve::VERSION)),
        // Go encodes []byte as base64 in JSON.
        "rpc.Config" => Ok(json!(base64(
            &serde_json::to_vec(&rt.cfg.merged).unwrap_or_default()
        ))),
        "informer.List" | "resetter.List" => Ok(json!(PLUGINS)),
        "informer.Workers" => {
            let p = plugin_arg(&arg)?;
            known_plugin(&p)?;
            Ok(json!({ "workers": workers(rt) }))
        }
        "informer.AddWorker" => {
            let p = plugin_arg(&arg)?;
            known_plugin(&p)?;
            let id = rt.pool.add_worker()?;
            tracing::info!(worker = id, "informer.AddWorker: worker added");
            Ok(json!(true))
        }
        "informer.RemoveWorker" => {
            let p = plugin_arg(&arg)?;
            known_plugin(&p)?;
            match rt.pool.remove_worker()? {
                Some(id) => tracing::info!(
                    worker = id,
                    "informer.RemoveWorker: worker leaves after its request"
                ),
                None => tracing::warn!("informer.RemoveWorker: can't remove the last worker"),
            }
            Ok(json!(true))
        }
        "informer.Jobs" => Err("the jobs plugin is not supported by rustrunner".into()),
        m if m.starts_with("metrics.") && crate::observe::app_metrics::get().is_some() => {
            metrics_call(m, &arg)
        }
        // A cell's supervisor gathers the cells' own metrics this way.
        "rustrunner.Metrics" if crate::cells::cell_index().is_some() => {
            Ok(json!(crate::observe::metrics::install().render(rt)))
        }
        // ... and the cell's /health and /ready answers.
        "rustrunner.Status" if crate::cells::cell_index().is_some() => {
            let path = arg["path"].as_str().unwrap_or("/health");
            let (code, content_type, body) =
                crate::observe::status::evaluate(rt, path, arg["query"].as_str());
            Ok(json!({
                "code": code,
                "json": content_type == "application/json",
                "body": String::from_utf8_lossy(&body),
            }))
        }
        "resetter.Reset" => {
            let p = plugin_arg(&arg)?;
            known_plugin(&p)?;
            reset(rt).await?;
            Ok(json!(true))
        }
        _ => {
            let service = method.split('.').next().unwrap_or("");
            if ["rpc", "informer", "resetter"].contains(&service) {
                Err(format!("rpc: can't find method {method}"))
            } else {
                Err(format!("rpc: can't find service {method}"))
            }
        }
    }
}

/// RoadRunner's `metrics` plugin (enabled by the `metrics` section).
pub(crate) fn metrics_call(method: &str, arg: &Value) -> Result<Value, String> {
    use crate::observe::app_metrics::{self, spec_from_json, update_from_json};
    let app = app_metrics::get().ok_or("rpc: can't find service metrics")?;
    match method {
        "metrics.Declare" => {
            let name = arg
                .get("name")
                .and_then(Value::as_str)
                .ok_or("metrics.Declare: expected {name, collector}")?;
            let spec = spec_from_json(arg.get("collector").unwrap_or(&Value::Null), "collector")?;
            app.declare(name, spec)?;
        }
        "metrics.Unregister" => {
            let name = arg.as_str().ok_or("metrics.Unregister: expected a name")?;
            app.unregister(name)?;
        }
        "metrics.Add" => app.add(&update_from_json(arg)?)?,
        "metrics.Sub" => app.sub(&update_from_json(arg)?)?,
        "metrics.Set" => app.set(&update_from_json(arg)?)?,
        "metrics.Observe" => app.observe(&update_from_json(arg)?)?,
        _ => return Err(format!("rpc: can't find method {method}")),
    }
    Ok(json!(true))
}

/// Rolling restart: every worker leaves at its request boundary; returns
/// once each has started a new life.
pub async fn reset(rt: &Runtime) -> Result<(), String> {
    let before: Vec<(usize, u64)> = rt.pool.snapshot().iter().map(|w| (w.id, w.lives)).collect();
    let limit = rt.cfg.http.pool.reset_timeout;
    tracing::info!("reset: restarting every http worker at its request boundary");
    rt.pool.reset();
    let start = Instant::now();
    loop {
        let now = rt.pool.snapshot();
        // Every worker listed before has a new life, or is gone (set aside
        // or removed); workers that appeared meanwhile are new anyway.
        let waiting: Vec<usize> = before
            .iter()
            .filter(|(id, lives)| now.iter().any(|w| w.id == *id && w.lives <= *lives))
            .map(|(id, _)| *id)
            .collect();
        if waiting.is_empty() {
            tracing::info!(
                ms = start.elapsed().as_millis() as u64,
                "reset: every http worker restarted"
            );
            return Ok(());
        }
        if rt.is_stopping() {
            return Err("the server is stopping".into());
        }
        if start.elapsed() > limit {
            // http.pool.reset_timeout: RoadRunner kills such workers; a
            // thread is set aside and replaced (its request goes on).
            tracing::warn!(
                workers = ?waiting,
                "reset: still in a request after reset_timeout ({limit:?}); replacing them"
            );
            rt.pool.set_aside(&waiting);
            if start.elapsed() > limit + RESET_GRACE {
                return Err(format!(
                    "reset: workers {waiting:?} did not restart within reset_timeout ({limit:?})"
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn workers(rt: &Runtime) -> Vec<Value> {
    let cpu = thread_cpu();
    let command = rt.cfg.server.command.join(" ");
    rt.pool
        .snapshot()
        .into_iter()
        .map(|w| {
            // RoadRunner's fsm state (ready, working, ttlReached, ...).
            let (status, status_str) = (w.status as u8, w.status.as_str());
            let created = w
                .created_unix
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0);
            // A process worker is its process (RoadRunner's view: `ps`
            // finds it by this pid); a thread worker is its thread.
            let cpu = match w.pid {
                Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|st| stat_cpu(&st, uptime()))
                    .map(|(_, c)| c)
                    .unwrap_or(0.0),
                None => cpu
                    .iter()
                    .find(|(name, _)| *name == format!("php-worker-{}", w.id))
                    .map(|(_, c)| *c)
                    .unwrap_or(0.0),
            };
            json!({
                "pid": w.pid.map_or((w.id + crate::cells::worker_id_offset()) as u64, u64::from),
                "process": w.pid.is_some(),
                "status": status,
                "numExecs": w.execs,
                "created": created,
                "memoryUsage": w.memory,
                "CPUPercent": cpu,
                "command": command,
                "statusStr": status_str,
                "id": w.id + crate::cells::worker_id_offset(),
                "lives": w.lives,
                "totalExecs": w.total_execs,
            })
        })
        .collect()
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A task's name and lifetime CPU % from its `/proc/.../stat` line (Linux).
fn stat_cpu(stat: &str, uptime: f64) -> Option<(String, f64)> {
    // USER_HZ is 100 on every Linux ABI Rust targets.
    const HZ: f64 = 100.0;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat[open + 1..close].to_string();
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3; utime 14, stime 15, starttime 22.
    let num = |i: usize| f.get(i - 3).and_then(|x| x.parse::<f64>().ok());
    let (ut, st, start) = (num(14)?, num(15)?, num(22)?);
    let alive = uptime - start / HZ;
    let pct = if alive > 0.0 {
        (ut + st) / HZ / alive * 100.0
    } else {
        0.0
    };
    Some((name, pct))
}

/// Lifetime CPU % of every thread of this process, by thread name (Linux).
fn thread_cpu() -> Vec<(String, f64)> {
    let uptime = uptime();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in rd.flatten() {
        if let Some(c) = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|st| stat_cpu(&st, uptime))
        {
            out.push(c);
        }
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
