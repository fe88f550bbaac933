//! The `logs` section (rr-config.md §6).

use super::value::*;
use super::{KeyResult, Warnings};
use serde_norway::Value;

/// One logger: the root `logs` or a `logs.channels.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsConfig {
    /// development, production, raw or off.
    pub mode: String,
    /// debug, info, warn, error (panic and fatal map to error).
    pub level: String,
    /// console or json.
    pub encoding: String,
    /// stdout, stderr, or file paths.
    pub output: Vec<String>,
    pub err_output: Vec<String>,
    /// Per-plugin loggers (`http`, `server`, `rpc`, `status`, `metrics`...).
    pub channels: Vec<(String, LogsConfig)>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            mode: "development".into(),
            level: "debug".into(),
            encoding: "console".into(),
            output: vec!["stderr".into()],
            err_output: vec!["stderr".into()],
            channels: Vec::new(),
        }
    }
}

const KEYS: &[&str] = &[
    "mode",
    "level",
    "encoding",
    "line_ending",
    "output",
    "err_output",
    "file_logger_options",
    "channels",
];

pub fn parse(root: &Value, warn: &mut Warnings) -> KeyResult<LogsConfig> {
    let mut logs = LogsConfig::default();
    let Some(l) = get(root, "logs") else {
        return Ok(logs);
    };
    if l.is_null() {
        return Ok(logs);
    }
    if !l.is_mapping() {
        return Err(("logs".into(), "must be a mapping".into()));
    }
    warn.unknown_keys(l, "logs", KEYS);
    one(l, "logs", &mut logs, warn)?;
    if let Some(ch) = get(l, "channels") {
        let Value::Mapping(m) = ch else {
            return Err((
                "logs.channels".into(),
                "must be a mapping of plugin name: logger options".into(),
            ));
        };
        for (name, c) in m {
            let name = as_string(name, "logs.channels")?;
            let key = format!("logs.channels.{name}");
            if !c.is_mapping() {
                return Err((key, "must be a mapping (mode, level, ...)".into()));
            }
            warn.unknown_keys(c, &key, &KEYS[..KEYS.len() - 1]);
            // A channel starts from the root logger and changes what it sets.
            let mut cl = LogsConfig {
                channels: Vec::new(),
                ..logs.clone()
            };
            one(c, &key, &mut cl, warn)?;
            logs.channels.push((name, cl));
        }
    }
    Ok(logs)
}

fn one(l: &Value, prefix: &str, logs: &mut LogsConfig, warn: &mut Warnings) -> KeyResult<()> {
    let key = |k: &str| format!("{prefix}.{k}");
    if let Some(v) = get(l, "mode") {
        let mode = as_string(v, &key("mode"))?.to_lowercase();
        logs.mode = match mode.as_str() {
            "development" | "production" | "raw" | "off" => mode,
            "none" => "off".into(),
            other => {
                // RoadRunner falls back to a console logger at debug.
                warn.push(
                    &key("mode"),
                    &format!(
                        "{other:?} is not one of development, production, raw, off; using development"
                    ),
                );
                "development".into()
            }
        };
        logs.encoding = if logs.mode == "production" {
            "json"
        } else {
            "console"
        }
        .into();
    }
    if let Some(v) = get(l, "level") {
        let level = as_string(v, &key("level"))?.to_lowercase();
        match level.as_str() {
            "debug" | "info" | "warn" | "error" => logs.level = level,
            "warning" => logs.level = "warn".into(),
            "panic" | "fatal" | "dpanic" => logs.level = "error".into(),
            other => warn.push(
                &key("level"),
                &format!(
                    "{other:?} is not one of debug, info, warn, error; keeping {}",
                    logs.level
                ),
            ),
        }
    }
    if let Some(v) = get(l, "encoding") {
        let enc = as_string(v, &key("encoding"))?.to_lowercase();
        if enc != "console" && enc != "json" {
            return Err((
                key("encoding"),
                format!("no encoder registered for name {enc:?} (console, json)"),
            ));
        }
        logs.encoding = enc;
    }
    if let Some(v) = get(l, "line_ending") {
        let le = as_string(v, &key("line_ending"))?;
        if le != "\n" {
            return Err((key("line_ending"), "only \"\\n\" is supported yet".into()));
        }
    }
    if let Some(v) = get(l, "output") {
        logs.output = outputs(v, &key("output"))?;
    }
    if let Some(v) = get(l, "err_output") {
        logs.err_output = outputs(v, &key("err_output"))?;
    }
    if let Some(v) = get(l, "file_logger_options") {
        if !v.is_null() {
            return Err((
                key("file_logger_options"),
                "log file rotation is not supported yet; use output: [\"/path/to/file.log\"] \
                 (appended, not rotated)"
                    .into(),
            ));
        }
    }
    Ok(())
}

fn outputs(v: &Value, key: &str) -> KeyResult<Vec<String>> {
    let list = as_string_list(v, key)?;
    if list.is_empty() {
        return Err((key.to_string(), "must name stdout, stderr or a file".into()));
    }
    Ok(list)
}
