//! The `rpc`, `status` and `metrics` sections (rr-config.md §2, §7.1, §7.2).

use super::value::*;
use super::{KeyResult, Warnings};
use serde_norway::Value;
use std::time::Duration;

/// Where the goridge RPC server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(String),
    Unix(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// `rpc.listen` as written (`tcp://127.0.0.1:6001` by default).
    pub listen: String,
    pub addr: Listen,
}

#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// host:port of the /health and /ready server.
    pub address: String,
    pub unavailable_status_code: u16,
    /// Read timeout of the status server.
    pub check_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// host:port of the Prometheus endpoint.
    pub address: String,
    /// `metrics.collect`: the application's collectors, name → its mapping
    /// as JSON (checked where they are declared, observe::app_metrics).
    pub collect: Vec<(String, serde_json::Value)>,
}

pub const DEFAULT_RPC: &str = "tcp://127.0.0.1:6001";

/// Parse a goridge DSN (`tcp://host:port`, `unix:///path`).
pub fn parse_dsn(dsn: &str) -> Result<Listen, String> {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return Err(format!(
            "invalid socket DSN {dsn:?} (tcp://:6001, unix://file.sock)"
        ));
    };
    match scheme {
        "tcp" => {
            host_port(rest)?;
            let addr = if rest.starts_with(':') {
                format!("0.0.0.0{rest}")
            } else {
                rest.to_string()
            };
            Ok(Listen::Tcp(addr))
        }
        "unix" => {
            if rest.is_empty() {
                return Err(format!("invalid socket DSN {dsn:?}: no socket path"));
            }
            Ok(Listen::Unix(rest.into()))
        }
        other => Err(format!(
            "invalid socket DSN {dsn:?}: unknown scheme {other:?} (tcp://:6001, unix://file.sock)"
        )),
    }
}

/// `host:port` or `:port`.
pub fn host_port(a: &str) -> Result<(), String> {
    let (_host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} is not host:port (e.g. 127.0.0.1:2112)"))?;
    port.parse::<u16>()
        .map_err(|_| format!("{a:?}: port {port:?} is not a number from 0 to 65535"))?;
    Ok(())
}

fn section<'a>(root: &'a Value, name: &str) -> KeyResult<Option<&'a Value>> {
    match get(root, name) {
        None => Ok(None),
        // `rpc:` with nothing under it still turns the plugin on.
        Some(v) if v.is_null() || v.is_mapping() => Ok(Some(v)),
        Some(_) => Err((name.to_string(), "must be a mapping".into())),
    }
}

/// Returns the effective RPC config and the explicitly configured listen
/// (only that one is exported to workers as RR_RPC).
pub fn parse_rpc(
    root: &Value,
    warn: &mut Warnings,
) -> KeyResult<(Option<RpcConfig>, Option<String>)> {
    let Some(r) = section(root, "rpc")? else {
        return Ok((None, None));
    };
    warn.unknown_keys(r, "rpc", &["listen"]);
    let explicit = match get(r, "listen") {
        Some(v) => Some(as_string(v, "rpc.listen")?),
        None => None,
    };
    let listen = explicit
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_RPC.to_string());
    let addr = parse_dsn(&listen).map_err(|m| ("rpc.listen".to_string(), m))?;
    Ok((Some(RpcConfig { listen, addr }), explicit))
}

pub fn parse_status(root: &Value, warn: &mut Warnings) -> KeyResult<Option<StatusConfig>> {
    let Some(s) = section(root, "status")? else {
        return Ok(None);
    };
    warn.unknown_keys(
        s,
        "status",
        &["address", "unavailable_status_code", "check_timeout"],
    );
    let address = match get(s, "address") {
        Some(v) => as_string(v, "status.address")?,
        None => String::new(),
    };
    if address.is_empty() {
        return Err((
            "status.address".into(),
            "missing: e.g. address: 127.0.0.1:2114".into(),
        ));
    }
    host_port(&address).map_err(|m| ("status.address".to_string(), m))?;
    let code = match get(s, "unavailable_status_code") {
        Some(v) => as_u64(v, "status.unavailable_status_code")?,
        None => 0,
    };
    let code = if code == 0 { 503 } else { code };
    if !(100..=599).contains(&code) {
        return Err((
            "status.unavailable_status_code".into(),
            format!("{code} is not an HTTP status code"),
        ));
    }
    let secs = match get(s, "check_timeout") {
        Some(v) => as_i64(v, "status.check_timeout")?,
        None => 60,
    };
    Ok(Some(StatusConfig {
        address,
        unavailable_status_code: code as u16,
        check_timeout: Duration::from_secs(if secs <= 0 { 60 } else { secs as u64 }),
    }))
}

pub fn parse_metrics(root: &Value, warn: &mut Warnings) -> KeyResult<Option<MetricsConfig>> {
    let Some(m) = section(root, "metrics")? else {
        return Ok(None);
    };
    warn.unknown_keys(m, "metrics", &["address", "collect"]);
    let address = match get(m, "address") {
        Some(v) => as_string(v, "metrics.address")?,
        None => String::new(),
    };
    let address = if address.is_empty() {
        "127.0.0.1:2112".to_string()
    } else {
        address
    };
    host_port(&address).map_err(|m| ("metrics.address".to_string(), m))?;
    let mut collect = Vec::new();
    match get(m, "collect") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(c)) => {
            for (name, spec) in c {
                let name = as_string(name, "metrics.collect")?;
                let key = format!("metrics.collect.{name}");
                let Value::Mapping(fields) = spec else {
                    return Err((key, "must be a mapping (type, help, labels, ...)".into()));
                };
                // YAML to JSON; objectives' keys are numbers in YAML.
                let mut obj = serde_json::Map::new();
                for (k, v) in fields {
                    let k = as_string(k, &key)?;
                    let v = if k == "objectives" {
                        match v {
                            Value::Mapping(o) => serde_json::Value::Object(
                                o.iter()
                                    .map(|(q, e)| {
                                        Ok((
                                            as_string(q, &format!("{key}.objectives"))?,
                                            serde_json::to_value(e).map_err(|e| {
                                                (format!("{key}.objectives"), e.to_string())
                                            })?,
                                        ))
                                    })
                                    .collect::<KeyResult<_>>()?,
                            ),
                            _ => {
                                return Err((
                                    format!("{key}.objectives"),
                                    "must be a mapping of quantile: error".into(),
                                ))
                            }
                        }
                    } else {
                        serde_json::to_value(v)
                            .map_err(|e| (format!("{key}.{k}"), e.to_string()))?
                    };
                    obj.insert(k, v);
                }
                collect.push((name, serde_json::Value::Object(obj)));
            }
        }
        Some(_) => {
            return Err((
                "metrics.collect".into(),
                "must be a mapping of name: collector".into(),
            ))
        }
    }
    Ok(Some(MetricsConfig { address, collect }))
}
