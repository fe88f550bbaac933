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
    /// `file_logger_options`: when set, lines go only to this rotated file
    /// (JSON-encoded), and `output` is ignored, as in RoadRunner.
    pub file: Option<FileLoggerOptions>,
    /// Per-plugin loggers (`http`, `server`, `rpc`, `status`, `metrics`...).
    pub channels: Vec<(String, LogsConfig)>,
}

/// RoadRunner's `file_logger_options` (lumberjack's settings): rotate the
/// file when a write would take it past `max_size_mb`, keep at most
/// `max_backups` rotated files, none older than `max_age_days`, gzip them
/// when `compress` is set. Zero means RoadRunner's default for each number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLoggerOptions {
    pub log_output: String,
    pub max_size_mb: u64,
    pub max_age_days: u64,
    pub max_backups: u64,
    pub compress: bool,
}

impl Default for FileLoggerOptions {
    fn default() -> Self {
        // RoadRunner's InitDefaults: lumberjack's file name in the OS temp
        // folder, 100 MB, 24 days, 10 backups, no compression.
        FileLoggerOptions {
            log_output: std::env::temp_dir()
                .join("rr-lumberjack.log")
                .to_string_lossy()
                .into_owned(),
            max_size_mb: 100,
            max_age_days: 24,
            max_backups: 10,
            compress: false,
        }
    }
}

const FILE_KEYS: &[&str] = &[
    "log_output",
    "max_size",
    "max_age",
    "max_backups",
    "compress",
];

/// The largest `max_size` accepted: 1 TiB in MB, far past any disk's
/// sensible log size, and small enough to count in bytes without overflow.
const MAX_SIZE_MB: u64 = 1 << 20;

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            mode: "development".into(),
            level: "debug".into(),
            encoding: "console".into(),
            output: vec!["stderr".into()],
            err_output: vec!["stderr".into()],
            file: None,
            channels: Vec::new(),
        }
    }
}

impl LogsConfig {
    /// The key of the first logger (root, then channels) that writes to a
    /// rotated file.
    pub fn rotated_key(&self) -> Option<String> {
        if self.file.is_some() {
            return Some("logs.file_logger_options".into());
        }
        self.channels
            .iter()
            .find(|(_, c)| c.file.is_some())
            .map(|(n, _)| format!("logs.channels.{n}.file_logger_options"))
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
            // A channel that names its own output writes there, not to the
            // root's rotated file.
            if get(c, "output").is_some() {
                cl.file = None;
            }
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
            logs.file = Some(file_options(v, &key("file_logger_options"), warn)?);
            if get(l, "output").is_some() {
                warn.push(
                    &key("output"),
                    "ignored: with file_logger_options the lines go only to its log_output \
                     (as in RoadRunner)",
                );
            }
        }
    }
    Ok(())
}

fn file_options(v: &Value, prefix: &str, warn: &mut Warnings) -> KeyResult<FileLoggerOptions> {
    if !v.is_mapping() {
        return Err((
            prefix.to_string(),
            format!(
                "must be a mapping ({}), not {}",
                FILE_KEYS.join(", "),
                go_type(v)
            ),
        ));
    }
    warn.unknown_keys(v, prefix, FILE_KEYS);
    let key = |k: &str| format!("{prefix}.{k}");
    let mut f = FileLoggerOptions::default();
    if let Some(p) = get(v, "log_output") {
        let p = as_string(p, &key("log_output"))?;
        if p.contains('\0') {
            return Err((key("log_output"), "contains a NUL byte".into()));
        }
        if p == "stdout" || p == "stderr" {
            return Err((
                key("log_output"),
                format!("{p:?} cannot be rotated; name a file, or use output: {p} instead"),
            ));
        }
        if p.ends_with('/') {
            return Err((key("log_output"), format!("{p:?} is a folder; name a file")));
        }
        if !p.is_empty() {
            f.log_output = p;
        }
    }
    // Zero keeps RoadRunner's default, as its InitDefaults does.
    let number = |k: &str, slot: &mut u64| -> KeyResult<()> {
        if let Some(n) = get(v, k) {
            let n = as_u64(n, &key(k))?;
            if n > 0 {
                *slot = n;
            }
        }
        Ok(())
    };
    number("max_size", &mut f.max_size_mb)?;
    number("max_age", &mut f.max_age_days)?;
    number("max_backups", &mut f.max_backups)?;
    if f.max_size_mb > MAX_SIZE_MB {
        return Err((
            key("max_size"),
            format!(
                "{} MB is more than {MAX_SIZE_MB} (1 TiB); the size is in megabytes",
                f.max_size_mb
            ),
        ));
    }
    if let Some(c) = get(v, "compress") {
        f.compress = as_bool(c, &key("compress"))?;
    }
    Ok(f)
}

fn outputs(v: &Value, key: &str) -> KeyResult<Vec<String>> {
    let list = as_string_list(v, key)?;
    if list.is_empty() {
        return Err((key.to_string(), "must name stdout, stderr or a file".into()));
    }
    Ok(list)
}
