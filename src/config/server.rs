//! The `server` section: how workers are started (rr-config.md §3).

use super::value::*;
use super::{KeyResult, Warnings};
use serde_norway::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// argv of server.command.
    pub command: Vec<String>,
    /// server.env, keys upper-cased, in file order.
    pub env: Vec<(String, String)>,
    pub relay: String,
    /// `server.user`: run the workers as this user ("" = the server's).
    pub user: String,
    /// `server.executor`: "thread" or "process"; None = decide from the command.
    pub executor: Option<String>,
    pub on_init: Option<OnInit>,
    /// `server.cells`: worker-host processes behind a supervisor that owns
    /// the listeners (0 = the workers are threads of this process).
    pub cells: usize,
}

/// `server.on_init`: a command run once before the workers start.
#[derive(Debug, Clone)]
pub struct OnInit {
    pub command: Vec<String>,
    pub exec_timeout: Duration,
    pub exit_on_error: bool,
    pub env: Vec<(String, String)>,
    /// `on_init.user`: run the command as this user ("" = the server's).
    pub user: String,
}

const KEYS: &[&str] = &[
    "command",
    "user",
    "group",
    "env",
    "relay",
    "relay_timeout",
    "on_init",
    "executor",
    "cells",
];
const ON_INIT_KEYS: &[&str] = &["command", "exec_timeout", "exit_on_error", "env", "user"];

/// A command: a list is argv as is; a string is split on spaces.
pub(super) fn argv(v: &Value, key: &str) -> KeyResult<Vec<String>> {
    let argv: Vec<String> = match v {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| as_string(x, &format!("{key}[{i}]")))
            .collect::<KeyResult<_>>()?,
        Value::Null => Vec::new(),
        other => as_string(other, key)?
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    Ok(argv)
}

/// `env`: a mapping (keys upper-cased), or RoadRunner 2's list of one-key maps.
fn env_map(v: &Value, key: &str) -> KeyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, val) in m {
                let k = as_string(k, key)?;
                let val = match val {
                    Value::Null => String::new(),
                    other => as_string(other, &format!("{key}.{k}"))?,
                };
                out.push((k.to_uppercase(), val));
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Mapping(m) = item else {
                    return Err((format!("{key}[{i}]"), "expected NAME: value".to_string()));
                };
                for (k, val) in m {
                    let k = as_string(k, key)?;
                    out.push((k.to_uppercase(), as_string(val, &format!("{key}.{k}"))?));
                }
            }
        }
        _ => {
            return Err((
                key.to_string(),
                "must be a mapping of NAME: value".to_string(),
            ))
        }
    }
    // They become real environment variables (of process workers, and of
    // the programs thread workers start): a name is never empty and never
    // holds '=' or NUL, a value holds no NUL.
    for (k, val) in &out {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err((
                format!("{key}.{k}"),
                "an environment variable name must be non-empty, without '=' or NUL".into(),
            ));
        }
        if val.contains('\0') {
            return Err((
                format!("{key}.{k}"),
                "an environment variable value cannot contain NUL".into(),
            ));
        }
    }
    Ok(out)
}

pub fn parse(root: &Value, warn: &mut Warnings) -> KeyResult<ServerConfig> {
    let server = get(root, "server").ok_or_else(|| {
        (
            "server".to_string(),
            "missing: the server section with server.command is required".to_string(),
        )
    })?;
    if !server.is_mapping() {
        return Err(("server".into(), "must be a mapping".into()));
    }
    warn.unknown_keys(server, "server", KEYS);
    let command = match get(server, "command") {
        None => {
            return Err((
                "server.command".into(),
                "command should not be empty (e.g. command: \"php worker.php\")".into(),
            ))
        }
        Some(v) => argv(v, "server.command")?,
    };
    if command.is_empty() {
        return Err((
            "server.command".into(),
            "command should not be empty".into(),
        ));
    }
    let user = match get(server, "user") {
        Some(Value::Null) | None => String::new(),
        Some(u) => as_string(u, "server.user")?,
    };
    if get(server, "group").is_some() {
        warn.push(
            "server.group",
            "ignored (RoadRunner reads it but never uses it either)",
        );
    }
    if get(server, "relay_timeout").is_some() {
        warn.push(
            "server.relay_timeout",
            "ignored: removed in RoadRunner 2024.1 (http.pool.allocate_timeout covers the handshake)",
        );
    }
    let env = match get(server, "env") {
        Some(e) => env_map(e, "server.env")?,
        None => Vec::new(),
    };
    let relay = match get(server, "relay") {
        Some(v) => as_string(v, "server.relay")?,
        None => "pipes".into(),
    };
    if relay != "pipes" && !relay.starts_with("tcp://") && !relay.starts_with("unix://") {
        return Err((
            "server.relay".into(),
            format!("invalid DSN {relay:?} (pipes, tcp://:6001, unix://file.sock)"),
        ));
    }
    // Beyond RoadRunner: where workers run. Threads of this process by
    // default for a PHP command on pipes; OS processes (RoadRunner's model)
    // otherwise or when asked.
    let executor = match get(server, "executor") {
        Some(v) => {
            let e = as_string(v, "server.executor")?;
            if e != "thread" && e != "process" {
                return Err((
                    "server.executor".into(),
                    format!("{e:?} is not one of thread, process"),
                ));
            }
            Some(e)
        }
        None => None,
    };
    let on_init = match get(server, "on_init") {
        None | Some(Value::Null) => None,
        Some(oi) => {
            if !oi.is_mapping() {
                return Err(("server.on_init".into(), "must be a mapping".into()));
            }
            warn.unknown_keys(oi, "server.on_init", ON_INIT_KEYS);
            let cmd = match get(oi, "command") {
                Some(v) => argv(v, "server.on_init.command")?,
                None => Vec::new(),
            };
            if cmd.is_empty() {
                return Err((
                    "server.on_init.command".into(),
                    "on_init command should not be empty".into(),
                ));
            }
            let mut exec_timeout = match get(oi, "exec_timeout") {
                Some(v) => as_duration(v, "server.on_init.exec_timeout")?,
                None => Duration::ZERO,
            };
            if exec_timeout.is_zero() {
                exec_timeout = Duration::from_secs(60);
            }
            Some(OnInit {
                command: cmd,
                exec_timeout,
                exit_on_error: match get(oi, "exit_on_error") {
                    Some(v) => as_bool(v, "server.on_init.exit_on_error")?,
                    None => false,
                },
                env: match get(oi, "env") {
                    Some(e) => env_map(e, "server.on_init.env")?,
                    None => Vec::new(),
                },
                user: match get(oi, "user") {
                    Some(Value::Null) | None => String::new(),
                    Some(u) => as_string(u, "server.on_init.user")?,
                },
            })
        }
    };
    // Beyond RoadRunner: thread workers in child processes ("cells"), so a
    // crash in C takes one cell's requests, not the server.
    let cells = match get(server, "cells") {
        Some(v) => {
            let n = as_u64(v, "server.cells")?;
            if n > 64 {
                return Err(("server.cells".into(), format!("{n} is more than 64")));
            }
            n as usize
        }
        None => 0,
    };
    if cells > 0 && executor.as_deref() == Some("process") {
        return Err((
            "server.cells".into(),
            "cells host thread workers; with server.executor: process every worker is a process already".into(),
        ));
    }
    Ok(ServerConfig {
        command,
        env,
        relay,
        user,
        executor,
        on_init,
        cells,
    })
}
