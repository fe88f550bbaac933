//! `rr serve`: start PHP, the worker pool and the HTTP server; stop them on
//! SIGINT/SIGTERM (draining in-flight requests) and restart the workers on
//! SIGHUP.

use crate::config::Config;
use crate::http::{self, HttpState};
use crate::php::Engine;
use crate::phplib;
use crate::pool::{Pool, WorkerSpec};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::sync::Arc;

/// The server version reported as RR_VERSION and by `rr --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `server.command` means for an in-process worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhpCommand {
    pub script: String,
    pub args: Vec<String>,
    /// `-d key=value` settings.
    pub ini: Vec<(String, String)>,
}

/// Parse `php [-d k=v]... [-f] script [args...]`. Errors when the command is
/// not a PHP interpreter running a script.
pub fn parse_php_command(cmd: &[String]) -> Result<PhpCommand, String> {
    let first = cmd.first().ok_or("server.command is empty")?;
    let base = Path::new(first)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(first);
    let is_php = base == "php"
        || base.starts_with("php8")
        || base.starts_with("php-")
        || base.starts_with("php7");
    if !is_php {
        return Err(format!(
            "server.command {:?} does not run PHP; in-process workers need `php <script>` \
             (process workers for other commands are not supported yet)",
            cmd.join(" ")
        ));
    }
    let mut ini = Vec::new();
    let mut i = 1;
    while i < cmd.len() {
        let a = &cmd[i];
        if a == "-d" || a == "--define" {
            let kv = cmd.get(i + 1).ok_or("server.command: -d needs key=value")?;
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), "1"));
            ini.push((k.to_string(), v.to_string()));
            i += 2;
        } else if let Some(kv) = a.strip_prefix("-d") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "1"));
            ini.push((k.to_string(), v.to_string()));
            i += 1;
        } else if a == "-f" || a == "--" {
            i += 1;
            break;
        } else if a == "-n" || a == "-q" || a == "-H" || a == "-e" {
            i += 1;
        } else if a == "-c" {
            i += 2;
        } else if a.starts_with('-') {
            return Err(format!(
                "server.command: the php option {a:?} is not supported in-process"
            ));
        } else {
            break;
        }
    }
    let script = cmd
        .get(i)
        .ok_or("server.command names no PHP script")?
        .clone();
    Ok(PhpCommand {
        script,
        args: cmd[i + 1..].to_vec(),
        ini,
    })
}

/// php.ini settings every worker thread starts with (before `-d` ones).
pub fn base_ini() -> String {
    let mut ini = String::from(
        "display_errors=0\n\
         display_startup_errors=0\n\
         log_errors=1\n\
         html_errors=0\n\
         implicit_flush=1\n\
         output_buffering=0\n\
         max_execution_time=0\n\
         max_input_time=-1\n\
         register_argc_argv=1\n\
         opcache.enable=1\n\
         opcache.enable_cli=1\n\
         opcache.revalidate_freq=0\n",
    );
    // revalidate_freq=0: every worker life shares one OPcache, unlike
    // RoadRunner's php-cli processes that each start with an empty one. With
    // PHP's default (2 s) a worker restarted by max_jobs: 1 or the file
    // watcher could run the old code of a file edited less than 2 s after
    // its last check. A worker compiles its files once per life, so checking
    // every time costs one stat per file per life. `-d` still overrides it.
    if let Some(so) = opcache_extension() {
        ini.push_str(&format!("zend_extension={}\n", so.display()));
    }
    ini
}

/// opcache.so of the linked PHP (PHP < 8.5 builds it as a shared extension):
/// next to the binary first, then the build's extension dir.
fn opcache_extension() -> Option<std::path::PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            for p in [
                dir.join("opcache.so"),
                dir.join("../lib/rustrunner/opcache.so"),
            ] {
                if p.exists() {
                    return Some(p);
                }
            }
        }
    }
    let p = Path::new(env!("RR_PHP_EXTENSION_DIR")).join("opcache.so");
    p.exists().then_some(p)
}

/// The worker environment, in RoadRunner's order: parent environment,
/// RR_RELAY, RR_RPC, server.env (keys upper-cased), RR_VERSION, RR_MODE last.
pub fn worker_env(cfg: &Config) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    let mut set = |k: &str, v: &str| {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    };
    set("RR_RELAY", &cfg.server.relay);
    if let Some(rpc) = &cfg.rpc_listen {
        set("RR_RPC", rpc);
    }
    for (k, v) in &cfg.server.env {
        set(k, v);
    }
    set("RR_VERSION", VERSION);
    set("RR_MODE", "http");
    env
}

pub fn run(cfg: Config) -> Result<()> {
    let cmd = parse_php_command(&cfg.server.command).map_err(|m| {
        anyhow!(
            "config error in {}: server.command: {m}",
            cfg.file.display()
        )
    })?;
    let script_path = cfg.dir.join(&cmd.script);
    if !script_path.is_file() {
        bail!(
            "worker failed to start: Could not open input file: {}",
            cmd.script
        );
    }
    let lib = phplib::install().context("cannot install the server's PHP library")?;

    let mut ini = base_ini();
    for (k, v) in &cmd.ini {
        ini.push_str(&format!("{k}={v}\n"));
    }
    let engine = Engine::start(&ini).map_err(|e| anyhow!("PHP failed to start: {e}"))?;
    tracing::debug!(php = %Engine::version(), "PHP engine started");

    let mut argv = vec![cmd.script.clone()];
    argv.extend(cmd.args.iter().cloned());
    let spec = WorkerSpec {
        script: cmd.script.clone(),
        argv,
        bootstrap: Some(lib.join("bootstrap.php").to_string_lossy().into_owned()),
        env: worker_env(&cfg),
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.http.pool.num_workers.clamp(1, 4))
        .enable_all()
        .thread_name("rr-http")
        .build()
        .context("cannot start the async runtime")?;

    let result = rt.block_on(async {
        // Bind first, so a busy port fails before PHP workers start.
        let listener = http::bind(&cfg.http.address)
            .await
            .map_err(|e| anyhow!("http: cannot listen on {}: {e}", cfg.http.address))?;
        let pool_cfg = cfg.http.pool.clone();
        let pool = tokio::task::spawn_blocking(move || Pool::start(spec, pool_cfg))
            .await
            .map_err(|e| anyhow!("pool start panicked: {e}"))?
            .map_err(|e| anyhow!("{e}"))?;
        let pool = Arc::new(pool);
        tracing::info!(
            address = %cfg.http.address,
            workers = cfg.http.pool.num_workers,
            php = %Engine::version(),
            "http server started"
        );
        for w in &cfg.http.pool.warnings {
            tracing::warn!("config {}: {w}", cfg.file.display());
        }
        let _watcher =
            match &cfg.reload {
                Some(r) => {
                    for w in &r.warnings {
                        tracing::warn!("config {}: {w}", cfg.file.display());
                    }
                    let p = pool.clone();
                    Some(
                    crate::pool::watch::start(r.clone(), cfg.dir.clone(), move |files| {
                        let shown: Vec<String> =
                            files.iter().take(3).map(|f| f.display().to_string()).collect();
                        tracing::info!(files = ?shown, "reload: files changed; restarting workers");
                        p.reset();
                    })
                    .map_err(|e| anyhow!("{e}"))?,
                )
                }
                None => None,
            };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let state = Arc::new(HttpState {
            pool: pool.clone(),
            cfg: cfg.http.clone(),
            tls: false,
        });
        let server = tokio::spawn(http::serve(listener, state, stop_rx));

        wait_for_signals(&pool).await;
        tracing::info!("stopping: no new connections; finishing in-flight requests");
        let _ = stop_tx.send(true);
        let drain = tokio::time::timeout(cfg.http.pool.destroy_timeout, server);
        tokio::select! {
            _ = drain => {}
            _ = second_signal() => tracing::warn!("second signal: stopping now"),
        }
        let p = pool.clone();
        let timeout = cfg.http.pool.destroy_timeout;
        let _ = tokio::task::spawn_blocking(move || p.stop(timeout)).await;
        Ok::<_, anyhow::Error>(pool)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    let pool = result?;
    if pool.all_stopped() {
        drop(pool);
        engine.shutdown();
    }
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signals(pool: &Pool) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: restarting workers");
                pool.reset();
            }
        }
    }
}

#[cfg(unix)]
async fn second_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn php_commands() {
        let c = parse_php_command(&v("php worker.php")).unwrap();
        assert_eq!(c.script, "worker.php");
        let c = parse_php_command(&v(
            "php -d memory_limit=512M -dopcache.enable=0 bin/roadrunner-worker a b",
        ))
        .unwrap();
        assert_eq!(c.script, "bin/roadrunner-worker");
        assert_eq!(c.args, vec!["a", "b"]);
        assert_eq!(
            c.ini,
            vec![
                ("memory_limit".into(), "512M".into()),
                ("opcache.enable".into(), "0".into())
            ]
        );
        assert!(parse_php_command(&v("/usr/bin/php8.2 w.php")).is_ok());
        assert!(parse_php_command(&v("node app.js")).is_err());
        assert!(parse_php_command(&v("php")).is_err());
    }
}
