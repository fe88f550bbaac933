//! `.rr.yaml` (version "3"): load, expand `${VAR}`, apply `-o` overrides,
//! then validate into typed config. Every error names the file, the key path
//! and the problem.

mod http;
mod pool;
mod reload;
mod value;

pub use http::HttpConfig;
pub use pool::PoolConfig;
pub use reload::ReloadConfig;

use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// A config problem: file, key path, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub msg: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "config error in {}: {}", self.file, self.msg)
        } else {
            write!(
                f,
                "config error in {}: {}: {}",
                self.file, self.key, self.msg
            )
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, absolute.
    pub file: PathBuf,
    /// Its folder: the working directory of the server and its workers.
    pub dir: PathBuf,
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub logs: LogsConfig,
    pub rpc_listen: Option<String>,
    /// The file watcher (`reload:`), off unless configured.
    pub reload: Option<ReloadConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// argv of server.command.
    pub command: Vec<String>,
    /// server.env, keys upper-cased, in file order.
    pub env: Vec<(String, String)>,
    pub relay: String,
}

#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub mode: String,
    pub level: String,
    pub encoding: String,
}

/// Reads a config file with overrides (`key.path=value`).
pub fn load(file: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let shown = file.display().to_string();
    let err = |key: &str, msg: String| ConfigError {
        file: shown.clone(),
        key: key.to_string(),
        msg,
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| err("", format!("cannot read the file: {e}")))?;
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut root: Value = if text.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(&text).map_err(|e| err("", format!("invalid YAML: {e}")))?
    };
    if !root.is_mapping() {
        return Err(err(
            "",
            "the top level must be a mapping of sections".into(),
        ));
    }
    for o in overrides {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| err(o, "an override must look like key.path=value".into()))?;
        value::set_path(&mut root, k.trim(), Value::String(v.to_string()));
    }
    value::expand_tree(&mut root);
    from_value(&root, abs, dir).map_err(|(key, msg)| err(&key, msg))
}

pub(crate) type KeyResult<T> = Result<T, (String, String)>;

fn from_value(root: &Value, file: PathBuf, dir: PathBuf) -> KeyResult<Config> {
    use value::*;
    match get(root, "version") {
        None => return Err((
            "version".into(),
            "missing: add `version: \"3\"` at the top (RoadRunner 2.x configs are not supported)"
                .into(),
        )),
        Some(v) => {
            let s = as_string(v, "version")?;
            if s != "3" {
                return Err((
                    "version".into(),
                    format!("unsupported version {s:?}; only \"3\" is supported"),
                ));
            }
        }
    }

    let server = get(root, "server").ok_or_else(|| {
        (
            "server".to_string(),
            "missing: the server section with server.command is required".to_string(),
        )
    })?;
    let command = match get(server, "command") {
        None => {
            return Err((
                "server.command".into(),
                "missing: e.g. command: \"php worker.php\"".into(),
            ))
        }
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| as_string(v, "server.command"))
            .collect::<KeyResult<Vec<_>>>()?,
        Some(v) => as_string(v, "server.command")?
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    if command.is_empty() {
        return Err(("server.command".into(), "is empty".into()));
    }
    let mut env = Vec::new();
    if let Some(e) = get(server, "env") {
        match e {
            Value::Mapping(m) => {
                for (k, v) in m {
                    let k = as_string(k, "server.env")?;
                    let v = as_string(v, &format!("server.env.{k}"))?;
                    env.push((k.to_uppercase(), v));
                }
            }
            // A list of one-entry mappings (`- APP_RUNTIME: ...`), as in
            // baldinof/roadrunner-bundle's sample .rr.yaml: RoadRunner's
            // weakly typed decoding merges them, so do we.
            Value::Sequence(items) if items.iter().all(Value::is_mapping) => {
                for m in items.iter().filter_map(Value::as_mapping) {
                    for (k, v) in m {
                        let k = as_string(k, "server.env")?;
                        let v = as_string(v, &format!("server.env.{k}"))?;
                        env.push((k.to_uppercase(), v));
                    }
                }
            }
            Value::Null => {}
            _ => {
                return Err((
                    "server.env".into(),
                    "must be a mapping of NAME: value".into(),
                ))
            }
        }
    }
    let relay = match get(server, "relay") {
        Some(v) => as_string(v, "server.relay")?,
        None => "pipes".into(),
    };
    if relay != "pipes" {
        return Err((
            "server.relay".into(),
            format!("{relay:?} is not supported yet (socket relays come with process workers); use \"pipes\""),
        ));
    }

    let http = http::parse(root)?;

    let mut logs = LogsConfig {
        mode: "development".into(),
        level: "debug".into(),
        encoding: "console".into(),
    };
    let mut level_set = false;
    if let Some(l) = get(root, "logs") {
        if let Some(v) = get(l, "mode") {
            logs.mode = as_string(v, "logs.mode")?;
            if !["development", "production", "raw", "off", "none"].contains(&logs.mode.as_str()) {
                return Err((
                    "logs.mode".into(),
                    format!(
                        "{:?} is not one of development, production, raw, off",
                        logs.mode
                    ),
                ));
            }
        }
        if let Some(v) = get(l, "level") {
            logs.level = as_string(v, "logs.level")?.to_lowercase();
            level_set = true;
            if !["debug", "info", "warn", "error", "panic", "fatal"].contains(&logs.level.as_str())
            {
                return Err((
                    "logs.level".into(),
                    format!("{:?} is not one of debug, info, warn, error", logs.level),
                ));
            }
        }
        if let Some(v) = get(l, "encoding") {
            logs.encoding = as_string(v, "logs.encoding")?;
            if !["console", "json"].contains(&logs.encoding.as_str()) {
                return Err((
                    "logs.encoding".into(),
                    format!("{:?} is not one of console, json", logs.encoding),
                ));
            }
        }
    }
    if logs.mode == "production" {
        if !level_set {
            logs.level = "info".into();
        }
        if get(root, "logs").and_then(|l| get(l, "encoding")).is_none() {
            logs.encoding = "json".into();
        }
    }

    let rpc_listen = match get(root, "rpc").and_then(|r| get(r, "listen")) {
        Some(v) => Some(as_string(v, "rpc.listen")?),
        None => None,
    };

    Ok(Config {
        file,
        dir,
        server: ServerConfig {
            command,
            env,
            relay,
        },
        http,
        logs,
        rpc_listen,
        reload: reload::parse(root)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(yaml: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rr-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("{:x}.yaml", crc32fast::hash(yaml.as_bytes())));
        std::fs::write(&f, yaml).unwrap();
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load(&f, &o)
    }

    const OK: &str = "version: \"3\"\nserver:\n  command: \"php worker.php\"\nhttp:\n  address: 0.0.0.0:8080\n  pool:\n    num_workers: 4\n";

    #[test]
    fn loads_episode_zero() {
        let c = load_str(OK, &[]).unwrap();
        assert_eq!(c.server.command, vec!["php", "worker.php"]);
        assert_eq!(c.http.pool.num_workers, 4);
        assert_eq!(c.http.address, "0.0.0.0:8080");
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("server:\n  command: php w.php\n", &[]).unwrap_err();
        assert_eq!(e.key, "version");
        let e = load_str(&OK.replace("num_workers: 4", "num_workers: many"), &[]).unwrap_err();
        assert_eq!(e.key, "http.pool.num_workers");
        assert!(e.to_string().contains("http.pool.num_workers"), "{e}");
        let e = load_str(&OK.replace("0.0.0.0:8080", "localhost"), &[]).unwrap_err();
        assert_eq!(e.key, "http.address");
        let e = load_str("version: \"3\"\nhttp:\n  address: :1\n", &[]).unwrap_err();
        assert_eq!(e.key, "server");
    }

    #[test]
    fn overrides_and_env() {
        std::env::set_var("RR_TEST_WORKERS", "7");
        let c = load_str(
            &OK.replace("num_workers: 4", "num_workers: ${RR_TEST_WORKERS}"),
            &[],
        )
        .unwrap();
        assert_eq!(c.http.pool.num_workers, 7);
        let c = load_str(OK, &["http.pool.num_workers=2", "http.address=127.0.0.1:9"]).unwrap();
        assert_eq!(c.http.pool.num_workers, 2);
        assert_eq!(c.http.address, "127.0.0.1:9");
        let c = load_str(
            &OK.replace("num_workers: 4", "num_workers: ${RR_UNSET_X:-3}"),
            &[],
        )
        .unwrap();
        assert_eq!(c.http.pool.num_workers, 3);
    }
}
