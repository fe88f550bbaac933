//! `reload`: RoadRunner's removed reload plugin, brought back. Restarts the
//! workers (at request boundaries) when a watched file changes.
//!
//! ```yaml
//! reload:
//!   interval: 1s
//!   patterns: [".php"]
//!   plugins:
//!     http:
//!       dirs: ["."]
//!       recursive: true
//!       ignore: ["vendor"]
//!       patterns: [".php", ".yaml"]
//! ```

use super::value::*;
use super::KeyResult;
use serde_norway::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReloadConfig {
    /// How often changes are looked at (and the debounce window).
    pub interval: Duration,
    /// Folders to watch, relative to the working directory.
    pub dirs: Vec<String>,
    pub recursive: bool,
    /// Folder names whose contents are never watched.
    pub ignore: Vec<String>,
    /// File name endings that count (".php"); empty = every file.
    pub patterns: Vec<String>,
    pub warnings: Vec<String>,
}

fn strings(v: &Value, key: &str) -> KeyResult<Vec<String>> {
    match v {
        Value::Sequence(items) => items.iter().map(|i| as_string(i, key)).collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![as_string(other, key)?]),
    }
}

pub fn parse(root: &Value) -> KeyResult<Option<ReloadConfig>> {
    let Some(r) = get(root, "reload") else {
        return Ok(None);
    };
    let mut cfg = ReloadConfig {
        interval: Duration::from_secs(1),
        dirs: vec![".".into()],
        recursive: true,
        ignore: vec!["vendor".into()],
        patterns: vec![".php".into()],
        warnings: Vec::new(),
    };
    if let Some(v) = get(r, "interval") {
        cfg.interval = as_duration(v, "reload.interval")?;
        if cfg.interval.is_zero() {
            return Err(("reload.interval".into(), "must be greater than 0".into()));
        }
    }
    if let Some(v) = get(r, "patterns") {
        cfg.patterns = strings(v, "reload.patterns")?;
    }
    if let Some(plugins) = get(r, "plugins") {
        let Some(m) = plugins.as_mapping() else {
            return Err((
                "reload.plugins".into(),
                "must be a mapping of plugin names".into(),
            ));
        };
        for (name, p) in m {
            let name = name.as_str().unwrap_or_default();
            if name != "http" {
                cfg.warnings.push(format!(
                    "reload.plugins.{name}: only the http plugin has workers here; ignored"
                ));
                continue;
            }
            if let Some(v) = get(p, "dirs") {
                cfg.dirs = strings(v, "reload.plugins.http.dirs")?;
            }
            if let Some(v) = get(p, "recursive") {
                cfg.recursive = as_bool(v, "reload.plugins.http.recursive")?;
            }
            if let Some(v) = get(p, "ignore") {
                cfg.ignore = strings(v, "reload.plugins.http.ignore")?;
            }
            if let Some(v) = get(p, "patterns") {
                cfg.patterns = strings(v, "reload.plugins.http.patterns")?;
            }
        }
    }
    if cfg.dirs.is_empty() {
        return Err((
            "reload.plugins.http.dirs".into(),
            "lists no folder to watch".into(),
        ));
    }
    Ok(Some(cfg))
}
