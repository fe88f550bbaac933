//! `.rr.yaml` (version "3"): load, expand `${VAR}`, apply `-o` overrides and
//! `include:`, then validate into typed config. Every error names the file,
//! the key path and the problem; keys we ignore are reported as warnings.
//!
//! Order, as RoadRunner's config plugin: read the file (aliases expanded,
//! merge keys applied: `yaml.rs`), lower-case the keys,
//! expand environment variables, apply `-o` overrides (their values expanded
//! too), check `version`, merge `include:` files (each replaces whole
//! top-level sections), then decode with weak typing.

pub mod http;
mod logs;
mod observe;
mod pool;
mod reload;
mod server;
mod value;
pub(crate) mod yaml;

pub use http::HttpConfig;
pub use logs::{FileLoggerOptions, LogsConfig};
#[allow(unused_imports)] // Listen is matched by rpc/
pub use observe::{parse_dsn, Listen, MetricsConfig, RpcConfig, StatusConfig};
pub use pool::PoolConfig;
pub use reload::ReloadConfig;
pub use server::ServerConfig;
#[allow(unused_imports)] // used by the CLI's DSN parsing
pub use value::parse_duration;

use serde_norway::Value;
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
    /// Its folder (relative paths of other sections resolve against the
    /// working directory, which is this folder unless `-w` is given).
    #[allow(dead_code)]
    pub dir: PathBuf,
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub logs: LogsConfig,
    /// `rpc.listen` as written in the config (exported to workers as RR_RPC).
    pub rpc_listen: Option<String>,
    /// The file watcher (`reload:`), off unless configured.
    pub reload: Option<ReloadConfig>,
    /// The RPC server (present when the `rpc` section is).
    pub rpc: Option<RpcConfig>,
    pub status: Option<StatusConfig>,
    pub metrics: Option<MetricsConfig>,
    /// Keys and sections that are ignored, one line each (naming file and key).
    pub warnings: Vec<String>,
    /// The merged config tree, as JSON (`rpc.Config`).
    pub merged: serde_json::Value,
}

/// Warnings collected while validating: (key path, message).
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<(String, String)>);

impl Warnings {
    pub fn push(&mut self, key: &str, msg: &str) {
        self.0.push((key.to_string(), msg.to_string()));
    }

    /// Warn about every key of `section` not in `known`.
    pub fn unknown_keys(&mut self, section: &Value, prefix: &str, known: &[&str]) {
        for k in value::keys(section) {
            if !known.contains(&k.as_str()) {
                self.push(
                    &format!("{prefix}.{k}"),
                    &format!(
                        "unknown key, ignored (RoadRunner ignores it silently){}",
                        value::did_you_mean(&k, known)
                    ),
                );
            }
        }
    }
}

/// Whether a warning is one `rr serve --test` fails on: an unknown key or
/// section, a plugin, middleware or option that is not supported (so
/// nothing of it runs), a value outside the accepted ones, a bare-number
/// duration, half an ssl section, YAML documents after the first (never
/// read, as RoadRunner never reads them). The others are notes (a key RoadRunner
/// itself removed or ignores, a default kept).
pub fn is_problem(warning: &str) -> bool {
    [
        "unknown key",
        "unknown section",
        "unknown version",
        "not supported",
        "does not exist",
        "is not one of",
        "bare number",
        "HTTPS is off",
        "YAML documents",
    ]
    .iter()
    .any(|p| warning.contains(p))
}

/// The top-level sections rustrunner reads.
const SECTIONS: &[&str] = &[
    "version", "include", "server", "http", "logs", "rpc", "status", "metrics", "reload",
];

/// Top-level sections of RoadRunner plugins rustrunner does not implement.
const OTHER_PLUGINS: &[&str] = &[
    "jobs",
    "kv",
    "grpc",
    "tcp",
    "temporal",
    "centrifuge",
    "service",
    "amqp",
    "kafka",
    "nats",
    "sqs",
    "beanstalk",
    "boltdb",
    "memory",
    "redis",
    "memcached",
    "fileserver",
    "otel",
    "websockets",
    "broadcast",
    "lock",
    "sentry",
    "google_pub_sub",
    "gps",
    "appLogger",
    "applogger",
];

/// Where each top-level section came from (the root file or an include).
struct Origins {
    root: String,
    sections: Vec<(String, String)>,
}

impl Origins {
    fn file_of(&self, key: &str) -> &str {
        let section = key.split(['.', '[']).next().unwrap_or("");
        self.sections
            .iter()
            .rev()
            .find(|(s, _)| s == section)
            .map(|(_, f)| f.as_str())
            .unwrap_or(&self.root)
    }
}

/// Read one YAML file (see `yaml::parse` for the semantics). Also returns a
/// warning when the file holds more documents than the first, which is the
/// only one read.
fn read_yaml(file: &Path, shown: &str) -> Result<(Value, Option<String>), ConfigError> {
    let err = |msg: String| ConfigError {
        file: shown.to_string(),
        key: String::new(),
        msg,
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| err(format!("cannot read the file: {e}")))?;
    let (mut v, ignored) = if text.trim().is_empty() {
        (Value::Mapping(Default::default()), 0)
    } else {
        yaml::parse(&text).map_err(|e| err(format!("invalid YAML: {e}")))?
    };
    if v.is_null() {
        v = Value::Mapping(Default::default());
    }
    if !v.is_mapping() {
        return Err(err("the top level must be a mapping of sections".into()));
    }
    value::lowercase_keys(&mut v);
    value::expand_tree(&mut v);
    let note = (ignored > 0).then(|| {
        format!(
            "config warning in {shown}: the file holds {} YAML documents (separated by `---`): \
             only the first is read, as RoadRunner does, and the other {ignored} are ignored",
            ignored + 1
        )
    });
    Ok((v, note))
}

/// Split `-o key=value` as RoadRunner does: at the first `=`, one layer of
/// quotes stripped from the value, the value env-expanded.
pub fn parse_override(o: &str) -> Result<(String, String), String> {
    let Some((k, v)) = o.split_once('=') else {
        return Err(format!("invalid flag `{o}`: expected key.path=value"));
    };
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("invalid flag `{o}`: key should not be empty"));
    }
    let mut v = v.trim();
    for q in ['"', '\'', '`'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            v = &v[1..v.len() - 1];
            break;
        }
    }
    if v.is_empty() {
        return Err(format!("invalid flag `{o}`: value should not be empty"));
    }
    Ok((
        k.to_lowercase(),
        value::expand_env(v, &|n| std::env::var(n).ok()),
    ))
}

/// Reads a config file with overrides (`key.path=value`). Relative include
/// paths are resolved against the current directory (RoadRunner's working
/// directory: the config's folder unless `-w` says otherwise).
pub fn load(file: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let shown = file.display().to_string();
    let err = |key: &str, msg: String| ConfigError {
        file: shown.clone(),
        key: key.to_string(),
        msg,
    };
    let (mut root, note) = read_yaml(file, &shown)?;
    let mut notes: Vec<String> = note.into_iter().collect();
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    for o in overrides {
        let (k, v) = parse_override(o).map_err(|m| err(&format!("-o {o}"), m))?;
        value::set_path(&mut root, &k, Value::String(v));
    }

    let mut warnings = Warnings::default();
    let version = match value::get(&root, "version") {
        None => {
            return Err(err(
                "version",
                "rr configuration file should contain a version e.g: version: 3".into(),
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(err(
                "version",
                format!(
                    "version should be a string: `version: \"3\"`, actual type is: {}",
                    value::go_type(other)
                ),
            ))
        }
    };
    match version.as_str() {
        "3" => {}
        "2.7" => warnings.push(
            "version",
            "\"2.7\" is read as version \"3\"; please update the config to version: \"3\"",
        ),
        other => warnings.push(
            "version",
            &format!("unknown version {other:?}, read as version \"3\""),
        ),
    }

    // include: later files win, whole top-level sections are replaced.
    let mut origins = Origins {
        root: shown.clone(),
        sections: Vec::new(),
    };
    let includes: Vec<String> = match value::get(&root, "include") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split_whitespace().map(String::from).collect(),
        Some(v) => value::as_string_list(v, "include").map_err(|(k, m)| err(&k, m))?,
    };
    for inc in includes {
        let p = PathBuf::from(&inc);
        let inc_shown = p.display().to_string();
        let (sub, note) = read_yaml(&p, &inc_shown)?;
        notes.extend(note);
        let sub_version = value::get(&sub, "version").and_then(Value::as_str);
        if sub_version != Some(version.as_str()) {
            return Err(ConfigError {
                file: inc_shown,
                key: "version".into(),
                msg: "version in included file must be the same as in root".into(),
            });
        }
        if let (Value::Mapping(sub), Some(root_map)) = (sub, root.as_mapping_mut()) {
            for (k, v) in sub {
                let name = k.as_str().unwrap_or_default().to_string();
                if name == "version" || name == "include" {
                    continue;
                }
                root_map.insert(k, v);
                origins.sections.push((name, inc_shown.clone()));
            }
        }
    }

    let merged = serde_json::to_value(&root).unwrap_or(serde_json::Value::Null);
    value::take_bare_durations();
    let cfg =
        from_value(&root, abs, dir, &mut warnings, merged).map_err(|(key, msg)| ConfigError {
            file: origins.file_of(&key).to_string(),
            key,
            msg,
        })?;
    let mut cfg = cfg;
    for (k, n) in value::take_bare_durations() {
        warnings.push(&k, &value::bare_duration_warning(n));
    }
    // The sections' own warnings ("key: message"), so that every warning is
    // known (and logged) before anything starts, and `--test` sees them all.
    let mut more = std::mem::take(&mut cfg.http.warnings);
    more.append(&mut cfg.http.pool.warnings);
    if let Some(r) = cfg.reload.as_mut() {
        more.append(&mut r.warnings);
    }
    for w in more {
        let (k, m) = w.split_once(": ").unwrap_or(("http", w.as_str()));
        warnings.push(k, m);
    }
    cfg.warnings = warnings
        .0
        .into_iter()
        .map(|(k, m)| format!("config warning in {}: {k}: {m}", origins.file_of(&k)))
        .collect();
    cfg.warnings.splice(0..0, notes);
    Ok(cfg)
}

/// A `server.command` that names a PHP binary other than plain `php`
/// (`/usr/bin/php`, `php8.2`, ...) while the workers will be threads: they
/// run on the embedded PHP, not on that binary. Say so, and how to run it.
fn other_php_binary(server: &ServerConfig) -> Option<String> {
    let first = server.command.first()?;
    let base = Path::new(first).file_name()?.to_str()?;
    let php_like = base == "php"
        || base.starts_with("php8")
        || base.starts_with("php7")
        || base.starts_with("php-");
    let threads = match server.executor.as_deref() {
        Some(e) => e != "process",
        None => server.relay == "pipes",
    };
    (php_like && first != "php" && threads).then(|| {
        format!(
            "{first:?}: the workers run as threads on rustrunner's embedded PHP (the one \
             `rr php-cli -v` shows), not on {first}; its php.ini and extensions do not apply. \
             To run {first} itself as php-cli process workers, set server.executor: process; \
             to silence this, write `php` instead"
        )
    })
}

pub(crate) type KeyResult<T> = Result<T, (String, String)>;

fn from_value(
    root: &Value,
    file: PathBuf,
    dir: PathBuf,
    warn: &mut Warnings,
    merged: serde_json::Value,
) -> KeyResult<Config> {
    for k in value::keys(root) {
        match k.as_str() {
            name if SECTIONS.contains(&name) => {}
            "envfile" => warn.push(
                "envfile",
                "ignored: RoadRunner reads it only with -e; use --dotenv FILE or DOTENV_PATH",
            ),
            "endure" => warn.push(
                "endure",
                "ignored: rustrunner has no plugin container (the graceful stop is bounded by \
                 http.pool.destroy_timeout)",
            ),
            name if OTHER_PLUGINS.contains(&name) => warn.push(
                name,
                "the plugin is not supported by rustrunner; section ignored (nothing of it runs)",
            ),
            _ => warn.push(
                &k,
                &format!(
                    "unknown section, ignored (RoadRunner ignores it silently){}",
                    value::did_you_mean(&k, SECTIONS)
                ),
            ),
        }
    }

    let mut server = server::parse(root, warn)?;
    let http = http::parse(root)?;
    // The HTTP pool is the only pool: its own command (RoadRunner runs
    // `http.pool.command` instead of `server.command` for it) is the one
    // every worker runs.
    if let Some(cmd) = &http.pool.command {
        server.command = cmd.clone();
    }
    if let Some(w) = other_php_binary(&server) {
        warn.push("server.command", &w);
    }
    let logs = logs::parse(root, warn)?;
    if server.cells > 0 {
        // Rotation renames the file under its writer: one process must own
        // it (lumberjack says the same), and every cell is a process.
        if let Some(k) = logs.rotated_key() {
            return Err((
                k,
                format!(
                    "rotation needs a single writer, and server.cells: {} runs a process per \
                     cell; use output: [stderr] (or a plain file) with cells, or cells: 0",
                    server.cells
                ),
            ));
        }
    }
    let (rpc, rpc_listen) = observe::parse_rpc(root, warn)?;
    let status = observe::parse_status(root, warn)?;
    let metrics = observe::parse_metrics(root, warn)?;
    let reload = reload::parse(root)?;

    Ok(Config {
        file,
        dir,
        server,
        http,
        logs,
        rpc_listen,
        reload,
        rpc,
        status,
        metrics,
        warnings: Vec::new(),
        merged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(yaml: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rr-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One file per call: tests run in parallel, some with the same text.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let f = dir.join(format!("{:x}-{n}.yaml", crc32fast::hash(yaml.as_bytes())));
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

    #[test]
    fn version_rules() {
        let e = load_str("server:\n  command: php w.php\n", &[]).unwrap_err();
        assert_eq!(
            e.msg,
            "rr configuration file should contain a version e.g: version: 3"
        );
        let e = load_str(&OK.replace("\"3\"", "3"), &[]).unwrap_err();
        assert_eq!(e.key, "version");
        assert_eq!(
            e.msg,
            "version should be a string: `version: \"3\"`, actual type is: int"
        );
        let c = load_str(&OK.replace("\"3\"", "\"2.7\""), &[]).unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("version")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn override_table() {
        for (o, key, ok) in [
            ("http.pool.num_workers=3", "3", true),
            ("http.pool.num_workers=\"5\"", "5", true),
            ("http.pool.num_workers='6'", "6", true),
            ("http.pool.num_workers=`7`", "7", true),
            ("http.pool.num_workers=${RR_T_UNSET:-8}", "8", true),
            ("=3", "key should not be empty", false),
            ("http.pool.num_workers=", "value should not be empty", false),
            ("http.pool.num_workers", "invalid flag", false),
        ] {
            match load_str(OK, &[o]) {
                Ok(c) if ok => assert_eq!(c.http.pool.num_workers.to_string(), key, "{o}"),
                Err(e) if !ok => assert!(e.msg.contains(key), "{o}: {e}"),
                other => panic!("{o}: {other:?}"),
            }
        }
        // Overrides create keys and sections that are not in the file.
        let c = load_str(OK, &["rpc.listen=tcp://127.0.0.1:7001"]).unwrap();
        assert_eq!(c.rpc.unwrap().listen, "tcp://127.0.0.1:7001");
    }

    #[test]
    fn env_expansion_table() {
        std::env::set_var("RR_T_ADDR", "127.0.0.1:9000");
        std::env::set_var("RR_T_EMPTY", "");
        for (yaml_value, want) in [
            ("${RR_T_ADDR}", "127.0.0.1:9000"),
            ("$RR_T_ADDR", "127.0.0.1:9000"),
            ("${RR_T_NOPE:-127.0.0.1:1}", "127.0.0.1:1"),
            ("${RR_T_EMPTY:-127.0.0.1:2}", "127.0.0.1:2"),
        ] {
            let c = load_str(&OK.replace("0.0.0.0:8080", yaml_value), &[]).unwrap();
            assert_eq!(c.http.address, want, "{yaml_value}");
        }
    }

    #[test]
    fn includes_replace_sections() {
        let dir = std::env::temp_dir().join(format!("rr-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.yaml");
        std::fs::write(
            &inc,
            "version: \"3\"\nhttp:\n  address: 127.0.0.1:7777\n  pool:\n    num_workers: 9\n",
        )
        .unwrap();
        let yaml = format!("{OK}include:\n  - {}\n", inc.display());
        let c = load_str(&yaml, &[]).unwrap();
        assert_eq!(c.http.address, "127.0.0.1:7777");
        assert_eq!(c.http.pool.num_workers, 9);
        // -o include="a b": split on whitespace.
        let c = load_str(OK, &[&format!("include={}", inc.display())]).unwrap();
        assert_eq!(c.http.pool.num_workers, 9);
        // Errors in an included section name the included file.
        std::fs::write(
            &inc,
            "version: \"3\"\nhttp:\n  address: 127.0.0.1:7777\n  pool:\n    num_workers: x\n",
        )
        .unwrap();
        let e = load_str(&yaml, &[]).unwrap_err();
        assert_eq!(e.file, inc.display().to_string());
        assert_eq!(e.key, "http.pool.num_workers");
        std::fs::write(&inc, "version: \"2.7\"\n").unwrap();
        let e = load_str(&yaml, &[]).unwrap_err();
        assert_eq!(
            e.msg,
            "version in included file must be the same as in root"
        );
    }

    #[test]
    fn every_error_names_its_key() {
        for (yaml_add, key) in [
            ("rpc:\n  listen: 127.0.0.1:6001\n", "rpc.listen"),
            ("rpc:\n  listen: udp://x:1\n", "rpc.listen"),
            (
                "status:\n  unavailable_status_code: 503\n",
                "status.address",
            ),
            (
                "status:\n  address: 127.0.0.1:1\n  unavailable_status_code: 42\n",
                "status.unavailable_status_code",
            ),
            ("status:\n  address: nope\n", "status.address"),
            ("metrics:\n  address: 1.2.3.4\n", "metrics.address"),
            ("metrics:\n  collect: [a]\n", "metrics.collect"),
            (
                "metrics:\n  collect:\n    x: counter\n",
                "metrics.collect.x",
            ),
            ("logs:\n  encoding: xml\n", "logs.encoding"),
            ("logs:\n  output: []\n", "logs.output"),
            ("logs:\n  file_logger_options: [a]\n", "logs.file_logger_options"),
            (
                "logs:\n  file_logger_options:\n    max_size: -1\n",
                "logs.file_logger_options.max_size",
            ),
            (
                "logs:\n  file_logger_options:\n    max_size: 99999999\n",
                "logs.file_logger_options.max_size",
            ),
            (
                "logs:\n  file_logger_options:\n    log_output: stderr\n",
                "logs.file_logger_options.log_output",
            ),
            (
                "logs:\n  channels:\n    http:\n      file_logger_options:\n        compress: maybe\n",
                "logs.channels.http.file_logger_options.compress",
            ),
            (
                "logs:\n  channels:\n    http:\n      encoding: xml\n",
                "logs.channels.http.encoding",
            ),
            ("logs: 5\n", "logs"),
        ] {
            let e = load_str(&format!("{OK}{yaml_add}"), &[]).unwrap_err();
            assert_eq!(e.key, key, "{yaml_add}: {e}");
            assert!(e.to_string().contains(key) && e.to_string().contains(&e.file));
        }
        for (from, to, key) in [
            (
                "command: \"php worker.php\"",
                "command: \"\"",
                "server.command",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  user: [www]",
                "server.user",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  relay: ftp://127.0.0.1:1",
                "server.relay",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  relay: bogus",
                "server.relay",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  env: 5",
                "server.env",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  on_init:\n    exec_timeout: 1s",
                "server.on_init.command",
            ),
            (
                "command: \"php worker.php\"",
                "command: php w.php\n  on_init:\n    command: x\n    exec_timeout: 5 seconds",
                "server.on_init.exec_timeout",
            ),
        ] {
            let e = load_str(&OK.replace(from, to), &[]).unwrap_err();
            assert_eq!(e.key, key, "{to}: {e}");
        }
    }

    #[test]
    fn warnings_name_keys_and_sections() {
        let base = OK.replace(
            "command: \"php worker.php\"",
            "command: php w.php\n  group: www\n  relay_timeout: 60s",
        );
        let yaml = format!(
            "{base}jobs:\n  pool: {{}}\nfoo: 1\nrpc:\n  listen: tcp://127.0.0.1:6001\n  lisen: x\nlogs:\n  leval: info\n  level: loud\n"
        );
        let c = load_str(&yaml, &[]).unwrap();
        let w = c.warnings.join("\n");
        for needle in [
            ": jobs: the plugin is not supported",
            ": foo: unknown section",
            ": rpc.lisen: unknown key",
            ": logs.leval: unknown key",
            ": logs.level: \"loud\"",
            ": server.group: ignored",
            ": server.relay_timeout: ignored",
        ] {
            assert!(w.contains(needle), "missing {needle:?} in:\n{w}");
        }
        assert!(w.contains(&c.file.display().to_string()) || w.contains(".yaml"));
    }

    /// Anchors, aliases and merge keys, as RoadRunner's loader (yaml.v3)
    /// applies them, then env expansion over the merged tree: a `${VAR}` in
    /// an anchored value is expanded in every copy.
    #[test]
    fn yaml_anchors_merges_and_env_reach_the_typed_config() {
        std::env::set_var("RR_T_YAML_HOST", "127.0.0.1");
        let yaml = concat!(
            "version: \"3\"\n",
            "server:\n",
            "  command: \"php worker.php\"\n",
            "  env:\n",
            "    FIRST: &addr ${RR_T_YAML_HOST}:${RR_T_YAML_NOPORT:-8081}\n",
            "    SECOND: *addr\n",
            "http:\n",
            // The section's own `pool` wins over the merged one.
            "  <<: {address: *addr, pool: {num_workers: 9}}\n",
            "  pool:\n",
            // A list of merges: the first wins (2, not 5); max_jobs only in the second.
            "    <<: [&two {num_workers: 2}, {num_workers: 5, max_jobs: 7}]\n",
            "    debug: false\n",
        );
        let c = load_str(yaml, &[]).unwrap();
        assert_eq!(c.http.address, "127.0.0.1:8081");
        assert_eq!(c.http.pool.num_workers, 2);
        assert_eq!(c.http.pool.max_jobs, 7);
        assert_eq!(
            c.server.env,
            vec![
                ("FIRST".into(), "127.0.0.1:8081".into()),
                ("SECOND".into(), "127.0.0.1:8081".into())
            ]
        );
        // No `<<` is left behind as an unknown key.
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(!c.merged.to_string().contains("<<"), "{}", c.merged);
    }

    /// `on`/`yes` are strings (YAML 1.2, as yaml.v3 decodes into viper's
    /// interface{} tree); a bool field then takes what RoadRunner's weak
    /// decoding takes (strconv.ParseBool), so `debug: on` is an error naming
    /// the key there and here, and `debug: "true"` or `1` is fine.
    #[test]
    fn yaml_on_yes_are_not_bools() {
        for word in ["on", "yes", "off", "no", "y"] {
            let e = load_str(&format!("{OK}    debug: {word}\n"), &[]).unwrap_err();
            assert_eq!(e.key, "http.pool.debug", "{word}: {e}");
            assert!(e.msg.contains(&format!("{word:?}")), "{word}: {e}");
        }
        for (word, want) in [
            ("true", true),
            ("False", false),
            ("\"1\"", true),
            ("0", false),
        ] {
            let c = load_str(&format!("{OK}    debug: {word}\n"), &[]).unwrap();
            assert_eq!(c.http.pool.debug, want, "{word}");
        }
    }

    /// Parse errors name the file and the position; the key of a duplicate.
    #[test]
    fn yaml_errors_name_file_and_position() {
        for (yaml, want) in [
            (
                OK.replace("  address: 0.0.0.0:8080\n", "  address: a\n  address: b\n"),
                "invalid YAML: http: mapping key \"address\" is defined twice in the mapping at line 5 column 3",
            ),
            (
                OK.replace("  address:", "\taddress:"),
                "invalid YAML: found character that cannot start any token at line 5 column 1",
            ),
            (
                format!("{OK}    extra: [\n"),
                "invalid YAML: did not find expected node content at line 9 column 1",
            ),
        ] {
            let e = load_str(&yaml, &[]).unwrap_err();
            assert!(e.key.is_empty(), "{e:?}");
            let shown = e.to_string();
            assert!(shown.starts_with("config error in /"), "{shown}");
            assert!(shown.contains(".yaml: "), "{shown}");
            assert!(shown.contains(want), "want {want:?} in {shown}");
        }
    }

    /// A "billion laughs" config fails fast instead of exhausting memory.
    #[test]
    fn yaml_alias_bomb_is_an_error() {
        let mut bomb = format!("{OK}  middleware: &a0 [lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..=9 {
            let prev = vec![format!("*a{}", i - 1); 8].join(", ");
            bomb += &format!("  m{i}: &a{i} [{prev}]\n");
        }
        let t = std::time::Instant::now();
        let e = load_str(&bomb, &[]).unwrap_err();
        assert!(e.msg.starts_with("invalid YAML: "), "{e}");
        assert!(e.msg.contains("too large"), "{e}");
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    /// Only the first document of a multi-document file is read, as by
    /// RoadRunner; the others are a warning that `rr serve --test` fails on.
    #[test]
    fn yaml_documents_after_the_first_are_a_warning() {
        let c = load_str(&format!("{OK}---\nhttp:\n  address: 1.2.3.4:5\n"), &[]).unwrap();
        assert_eq!(c.http.address, "0.0.0.0:8080");
        let w = c.warnings.join("\n");
        assert!(w.contains("holds 2 YAML documents"), "{w}");
        assert!(c.warnings.iter().any(|w| is_problem(w)), "{w}");
        // `---` before the only document, or an empty one after it: no warning.
        let c = load_str(&format!("---\n{OK}---\n"), &[]).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn typed_sections() {
        let base = OK.replace(
            "command: \"php worker.php\"",
            "command: [\"php\", \"my worker.php\"]\n  env:\n    app_env: prod\n  on_init:\n    command: echo hi",
        );
        let yaml = format!(
            "{base}rpc: {{}}\nstatus:\n  address: 127.0.0.1:2114\n  unavailable_status_code: \"501\"\nmetrics: {{}}\nlogs:\n  mode: production\n  output: stdout,/tmp/x.log\n  channels:\n    http:\n      level: error\n"
        );
        let c = load_str(&yaml, &[]).unwrap();
        assert_eq!(c.rpc.as_ref().unwrap().listen, "tcp://127.0.0.1:6001");
        assert_eq!(c.rpc_listen, None, "the default listen is not exported");
        assert_eq!(c.status.as_ref().unwrap().unavailable_status_code, 501);
        assert_eq!(c.metrics.as_ref().unwrap().address, "127.0.0.1:2112");
        assert_eq!(c.logs.encoding, "json");
        assert_eq!(
            c.logs.level, "debug",
            "RoadRunner logs at debug in every mode"
        );
        assert_eq!(c.logs.output, vec!["stdout", "/tmp/x.log"]);
        assert_eq!(c.logs.channels[0].0, "http");
        assert_eq!(c.logs.channels[0].1.level, "error");
        assert_eq!(c.logs.channels[0].1.encoding, "json");
        assert_eq!(c.server.command, vec!["php", "my worker.php"]);
        assert_eq!(c.server.env, vec![("APP_ENV".into(), "prod".into())]);
        let oi = c.server.on_init.unwrap();
        assert_eq!(oi.exec_timeout, std::time::Duration::from_secs(60));
        // Keys are case-insensitive.
        let c = load_str(&OK.replace("num_workers", "NUM_WORKERS"), &[]).unwrap();
        assert_eq!(c.http.pool.num_workers, 4);
    }

    #[test]
    fn file_logger_options_defaults_and_channels() {
        let yaml = format!(
            "{OK}logs:\n  output: stdout\n  file_logger_options:\n    log_output: l/rr.log\n    max_size: 0\n    max_backups: 3\n    compress: true\n  channels:\n    http:\n      level: error\n    rpc:\n      output: stderr\n    metrics:\n      file_logger_options:\n        max_age: 2\n"
        );
        let c = load_str(&yaml, &[]).unwrap();
        let f = c.logs.file.clone().unwrap();
        assert_eq!(f.log_output, "l/rr.log");
        // Zero keeps RoadRunner's default, as its InitDefaults does.
        assert_eq!((f.max_size_mb, f.max_age_days, f.max_backups), (100, 24, 3));
        assert!(f.compress);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("logs.output") && w.contains("ignored")),
            "{:?}",
            c.warnings
        );
        let ch = |n: &str| {
            c.logs
                .channels
                .iter()
                .find(|(k, _)| k == n)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(ch("http").file, c.logs.file, "inherits the root's file");
        assert_eq!(ch("rpc").file, None, "its own output");
        assert_eq!(ch("rpc").output, vec!["stderr"]);
        let m = ch("metrics").file.unwrap();
        assert_eq!(
            (m.max_age_days, m.log_output.ends_with("rr-lumberjack.log")),
            (2, true)
        );
        assert_eq!(
            c.logs.rotated_key().as_deref(),
            Some("logs.file_logger_options")
        );
        // Rotation needs one writing process: not with cells.
        let e = load_str(&yaml, &["server.cells=2"]).unwrap_err();
        assert_eq!(e.key, "logs.file_logger_options", "{e}");
        assert!(e.to_string().contains("single writer"), "{e}");
    }
}
