//! `rr serve`: start PHP, the worker pool, the HTTP server and the RPC,
//! status and metrics servers; stop them on SIGINT/SIGTERM/SIGQUIT (draining
//! in-flight requests; a second signal exits at once with 1) and restart the
//! workers on SIGHUP (RoadRunner dies on SIGHUP; we reset).

use crate::config::Config;
use crate::http;
use crate::observe::{self, Runtime};
use crate::php::Engine;
use crate::phplib;
use crate::pool::process::{ProcessSpec, Relay};
use crate::pool::{Pool, WorkerSpec};
use crate::rpc;
use crate::user::{self, Need, RunAs};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// `-n`: no php.ini.
    pub no_ini: bool,
    /// `-c path`: the php.ini file or folder.
    pub ini_path: Option<String>,
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
    let mut no_ini = false;
    let mut ini_path = None;
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
        } else if a == "-n" {
            no_ini = true;
            i += 1;
        } else if a == "-q" || a == "-H" || a == "-e" {
            i += 1;
        } else if a == "-c" {
            ini_path = Some(
                cmd.get(i + 1)
                    .ok_or("server.command: -c needs a php.ini path")?
                    .clone(),
            );
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
        no_ini,
        ini_path,
    })
}

/// `rr serve --test`: every listener on a free port of the same host (the
/// configured ports may belong to a live server), and a `unix://` RPC socket
/// in the temp dir instead of the configured path.
pub fn test_addresses(cfg: &mut Config) {
    fn port_zero(a: &str) -> String {
        match a.rsplit_once(':') {
            Some((host, _)) => format!("{host}:0"),
            None => a.to_string(),
        }
    }
    cfg.http.address = port_zero(&cfg.http.address);
    if let Some(ssl) = cfg.http.ssl.as_mut() {
        ssl.address = port_zero(&ssl.address);
    }
    if let Some(s) = cfg.status.as_mut() {
        s.address = port_zero(&s.address);
    }
    if let Some(m) = cfg.metrics.as_mut() {
        m.address = port_zero(&m.address);
    }
    if let Some(r) = cfg.rpc.as_mut() {
        // Workers are told the RPC address (RR_RPC) before it is bound: pick
        // a free port now.
        let listen = match &r.addr {
            crate::config::Listen::Tcp(a) => {
                let host = a.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
                let port = std::net::TcpListener::bind((host, 0))
                    .and_then(|l| l.local_addr())
                    .map_or(0, |a| a.port());
                format!("tcp://{host}:{port}")
            }
            crate::config::Listen::Unix(_) => format!(
                "unix://{}",
                std::env::temp_dir()
                    .join(format!("rr-serve-test-{}.sock", std::process::id()))
                    .display()
            ),
        };
        if let Ok(addr) = crate::config::parse_dsn(&listen) {
            r.addr = addr;
            r.listen = listen.clone();
            cfg.rpc_listen = Some(listen);
        }
    }
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
         opcache.revalidate_freq=0\n\
         apc.enable_cli=1\n",
    );
    // apc.enable_cli: our SAPI is named "cli", and APCu turns itself off for
    // that name unless told; all thread workers share its one cache.
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
pub(crate) fn opcache_extension() -> Option<std::path::PathBuf> {
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

/// RoadRunner's executor: `server.command` as OS processes. `php` means the
/// CLI of the PHP this server was built with (same version, same
/// extensions), unless the command names another binary.
fn process_spec(cfg: &Config, is_php: bool, run_as: Option<&RunAs>) -> Result<WorkerSpec> {
    let relay = Relay::parse(&cfg.server.relay)
        .map_err(|m| anyhow!("config error in {}: server.relay: {m}", cfg.file.display()))?;
    let mut program = cfg.server.command[0].clone();
    let mut args: Vec<String> = Vec::new();
    if program == "php" {
        let ours = Path::new(env!("RR_PHP_PREFIX")).join("bin/php");
        if ours.is_file() {
            program = ours.to_string_lossy().into_owned();
            // Our build has no php.ini: OPcache on, as in the threads.
            if let Some(so) = opcache_extension() {
                args.extend([
                    "-d".to_string(),
                    format!("zend_extension={}", so.display()),
                    "-d".to_string(),
                    "opcache.enable_cli=1".to_string(),
                ]);
            }
        }
    }
    if program
        == Path::new(env!("RR_PHP_PREFIX"))
            .join("bin/php")
            .to_string_lossy()
    {
        // APCu is off in a "cli" SAPI unless told (one cache per process here).
        args.extend(["-d".to_string(), "apc.enable_cli=1".to_string()]);
    }
    let given = &cfg.server.command[1..];
    let mut env = worker_env(cfg);
    if is_php {
        if !given.iter().any(|a| a.contains("display_errors")) {
            // PHP's errors on STDERR (the log) rather than on the relay's
            // STDOUT, where RoadRunner reports them as a CRC failure.
            args.extend(["-d".to_string(), "display_errors=stderr".to_string()]);
        }
        // The server's worker API, for apps without the Spiral packages,
        // speaking goridge frames (no native functions in a php-cli process).
        let lib =
            phplib::install(run_as.is_some()).context("cannot install the server's PHP library")?;
        if let Some(who) = run_as {
            user_can(cfg, who, &lib, Need::ReadDir)?;
        }
        args.push("-d".into());
        args.push(format!(
            "auto_prepend_file={}",
            lib.join("bootstrap.php").display()
        ));
        if !env.iter().any(|(k, _)| k == "RUSTRUNNER_WORKER_TRANSPORT") {
            env.push(("RUSTRUNNER_WORKER_TRANSPORT".into(), "relay".into()));
        }
    }
    args.extend(given.iter().cloned());
    if let Some(who) = run_as {
        user_can(cfg, who, &cfg.dir, Need::ReadDir)?;
        let path = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        user_can_run(cfg, who, &program, path)?;
        if program != cfg.server.command[0] {
            // Our PHP, with the OPcache we pointed it at.
            if let Some(so) = opcache_extension() {
                user_can(cfg, who, &so, Need::Read)?;
            }
        }
        if let Relay::Unix(sock) = &relay {
            relay_dir_is_safe(cfg, who, Path::new(sock))?;
        }
    }
    Ok(WorkerSpec {
        script: String::new(),
        argv: Vec::new(),
        bootstrap: None,
        env,
        process: Some(ProcessSpec {
            program,
            args,
            relay,
            relay_env: cfg.server.relay.clone(),
            dir: cfg.dir.clone(),
            user: run_as.map(|u| (u.uid, u.gid)),
        }),
    })
}

/// The files exec may run for `program` started in `dir` with `path` as
/// PATH: the program itself when it has a slash (relative to `dir`, where
/// the worker starts), else every file of that name on PATH, in order.
fn program_candidates(program: &str, dir: &Path, path: Option<&str>) -> Vec<std::path::PathBuf> {
    if program.contains('/') {
        return vec![dir.join(program)];
    }
    path.map(|path| {
        std::env::split_paths(path)
            .map(|d| dir.join(d).join(program))
            .filter(|p| p.is_file())
            .collect()
    })
    .unwrap_or_default()
}

/// Can `who` run `program`? As exec does for that user with the workers'
/// PATH: the first candidate it can execute wins. Nothing found is left to
/// the spawn's own error.
fn user_can_run(cfg: &Config, who: &RunAs, program: &str, path: Option<&str>) -> Result<()> {
    let mut first_error = None;
    for p in program_candidates(program, &cfg.dir, path) {
        match user::check_access(who, &p, Need::Execute) {
            Ok(()) => return Ok(()),
            Err(m) => {
                first_error.get_or_insert(m);
            }
        }
    }
    match first_error {
        Some(m) => Err(anyhow!(
            "config error in {}: server.user: {m} (server.command)",
            cfg.file.display()
        )),
        None => Ok(()),
    }
}

/// A `unix://` relay socket is created by root and then given to the
/// workers' user: in a folder that user may write, the user could swap the
/// path between the two steps. Refused, with the fix in the message.
fn relay_dir_is_safe(cfg: &Config, who: &RunAs, sock: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Bound relative to rr's working directory, as the acceptor does.
    let full = std::path::absolute(sock).unwrap_or_else(|_| sock.to_path_buf());
    let parent = full
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    let Ok(meta) = std::fs::metadata(parent) else {
        return Ok(()); // the bind reports it
    };
    let mode = meta.permissions().mode();
    let writable = if meta.uid() == who.uid {
        mode & 0o200 != 0
    } else if meta.gid() == who.gid {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    };
    let sticky_not_theirs = mode & 0o1000 != 0 && meta.uid() != who.uid;
    if writable && !sticky_not_theirs {
        bail!(
            "config error in {}: server.relay: user {:?} may write to {}, where the relay socket \
             is created as root and then given to that user; put the socket in a folder only \
             root may write (or use pipes or tcp)",
            cfg.file.display(),
            who.name,
            parent.display()
        );
    }
    Ok(())
}

/// `server.user` must be able to do `need` with `path`; a config error
/// naming the directory in the way otherwise.
fn user_can(cfg: &Config, who: &RunAs, path: &Path, need: Need) -> Result<()> {
    user::check_access(who, path, need)
        .map_err(|m| anyhow!("config error in {}: server.user: {m}", cfg.file.display()))
}

/// `http.uploads.dir`: a missing dir is created 0700, and without one the
/// server keeps uploads in a private dir of its own under the temp dir
/// (RoadRunner writes them straight into the temp dir). Both belong to the
/// user the workers run as. An existing dir is the operator's; only a
/// world-writable one without the sticky bit is warned about. The dir is
/// held open from now on and files are made relative to it.
fn prepare_uploads(cfg: &mut Config, run_as: Option<&RunAs>, process: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let owner = run_as.map(|u| (u.uid, u.gid)).unwrap_or_else(user::current);
    let file = cfg.file.display().to_string();
    let key_error = |key: &str, m: String| anyhow!("config error in {file}: {key}: {m}");
    let (dir, fd) = match cfg.http.uploads.dir.clone() {
        Some(d) if d.exists() => {
            if let Ok(m) = std::fs::metadata(&d) {
                let mode = m.permissions().mode();
                if m.is_dir() && mode & 0o002 != 0 && mode & 0o1000 == 0 {
                    tracing::warn!(
                        "config {file}: http.uploads.dir: {} is writable by everyone without \
                         the sticky bit: other users can replace uploaded files",
                        d.display()
                    );
                }
            }
            let fd = user::open_dir(&d).map_err(|m| key_error("http.uploads.dir", m))?;
            (d, fd)
        }
        Some(d) => {
            let fd = user::private_dir(&d, owner).map_err(|m| key_error("http.uploads.dir", m))?;
            tracing::info!(dir = %d.display(), "created the uploads dir (0700)");
            (d, fd)
        }
        None => default_uploads_dir(owner)?,
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if let Some(who) = run_as {
        let need = if process {
            Need::ReadDir
        } else {
            Need::WriteDir
        };
        user::check_access(who, &dir, need)
            .map_err(|m| key_error("server.user", format!("{m} (http.uploads.dir)")))?;
        if process {
            cfg.http.uploads.owner = Some(owner);
        }
    }
    cfg.http.uploads.dir = Some(dir);
    cfg.http.uploads.dir_fd = Some(Arc::new(fd));
    Ok(())
}

/// `$TMPDIR/rustrunner-uploads-<uid>`, private to `owner`. When that name is
/// taken by somebody else (any local user can create it first), a fresh
/// dir with a random suffix instead of refusing to start.
fn default_uploads_dir(owner: (u32, u32)) -> Result<(std::path::PathBuf, std::os::fd::OwnedFd)> {
    let base = std::env::temp_dir();
    let d = base.join(format!("rustrunner-uploads-{}", owner.0));
    let first = match user::private_dir(&d, owner) {
        Ok(fd) => return Ok((d, fd)),
        Err(m) => m,
    };
    for _ in 0..8 {
        let alt = base.join(format!(
            "rustrunner-uploads-{}-{:08x}",
            owner.0,
            fastrand::u32(..)
        ));
        if alt.exists() {
            continue;
        }
        if let Ok(fd) = user::private_dir(&alt, owner) {
            tracing::warn!(
                "uploads: {first}; using {} instead (set http.uploads.dir to choose)",
                alt.display()
            );
            return Ok((alt, fd));
        }
    }
    bail!("uploads: {first}; set http.uploads.dir to a directory of your own")
}

/// PHP_BINARY inside workers: a `php` next to `rr` (the image's hard link,
/// which runs `rr php-cli`), else the CLI of the PHP this server was built
/// with. Symfony's PhpExecutableFinder and Composer scripts use it.
fn php_binary() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.join("php");
    if beside.is_file() {
        return Some(beside.to_string_lossy().into_owned());
    }
    let ours = Path::new(env!("RR_PHP_PREFIX")).join("bin/php");
    ours.is_file().then(|| ours.to_string_lossy().into_owned())
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

/// Thread workers: check the script and the user's access, install the
/// server's PHP library, put the worker environment into the process's (for
/// the programs workers start), and start PHP, still single-threaded.
fn thread_spec(
    cfg: &Config,
    cmd: PhpCommand,
    run_as: Option<&RunAs>,
) -> Result<(WorkerSpec, Engine)> {
    if cfg.server.relay != "pipes" {
        bail!(
            "config error in {}: server.relay: thread workers talk through memory; \
             {:?} needs server.executor: process",
            cfg.file.display(),
            cfg.server.relay
        );
    }
    let script_path = cfg.dir.join(&cmd.script);
    if !script_path.is_file() {
        bail!(
            "worker failed to start: Could not open input file: {}",
            cmd.script
        );
    }
    let lib =
        phplib::install(run_as.is_some()).context("cannot install the server's PHP library")?;
    if let Some(who) = run_as {
        user_can(cfg, who, &cfg.dir, Need::ReadDir)?;
        user_can(cfg, who, &script_path, Need::Read)?;
        user_can(cfg, who, &lib, Need::ReadDir)?;
    }
    let mut ini = base_ini();
    for (k, v) in &cmd.ini {
        ini.push_str(&format!("{k}={v}\n"));
    }
    let opts = crate::php::StartOptions {
        executable: php_binary(),
        no_ini: cmd.no_ini,
        ini_path: cmd.ini_path.clone(),
        worker_functions: true,
        memory_ceiling: crate::limits::memory_ceiling(
            cfg.http.pool.num_workers,
            cfg.http.pool.supervisor.max_worker_memory,
        ),
    };
    if let Some(who) = run_as {
        // PHP starts as root, as php-fpm's master does (extensions load
        // and start up), and the server drops root before any request
        // code runs. opcache.preload is app code: PHP runs it in a child
        // switched to this user when preload_user is set (also for the
        // "cli" SAPI name, which PHP >= 8.3 would otherwise let run it
        // as root).
        ini.push_str(&format!("opcache.preload_user={}\n", who.name));
    }
    let env = worker_env(cfg);
    // Programs a worker starts with the default environment (exec(),
    // proc_open() without $env) inherit the process environment, not
    // the worker's virtual one: give it the worker variables, as
    // RoadRunner's php-cli processes have them (review-core M8). The
    // process is still single-threaded here.
    for (k, v) in &env {
        if std::env::var_os(k).is_none_or(|cur| cur != v.as_str()) {
            std::env::set_var(k, v);
        }
    }
    let engine =
        Engine::start_with(&ini, &opts).map_err(|e| anyhow!("PHP failed to start: {e}"))?;
    tracing::debug!(php = %Engine::version(), "PHP engine started");
    let mut argv = vec![cmd.script.clone()];
    argv.extend(cmd.args.iter().cloned());
    let spec = WorkerSpec {
        script: cmd.script.clone(),
        argv,
        bootstrap: Some(lib.join("bootstrap.php").to_string_lossy().into_owned()),
        env,
        process: None,
    };
    Ok((spec, engine))
}

/// RPC, status and metrics listeners, bound before PHP workers start (so a
/// busy port fails the start). In a cell, the supervisor serves RPC, status
/// and metrics (asking every cell over its private RPC socket).
struct SideListeners {
    rpc: Option<rpc::Listener>,
    status: Option<tokio::net::TcpListener>,
    metrics: Option<tokio::net::TcpListener>,
}

impl SideListeners {
    async fn bind(cfg: &Config, cell: Option<usize>) -> Result<SideListeners> {
        let rpc = match (crate::cells::internal_rpc(), cfg.rpc.as_ref()) {
            (Some(internal), _) => Some(
                rpc::Listener::bind(&internal)
                    .await
                    .map_err(|e| anyhow!("cell: cannot listen on its RPC socket: {e}"))?,
            ),
            (None, Some(r)) => Some(
                rpc::Listener::bind(&r.addr)
                    .await
                    .map_err(|e| anyhow!("rpc: cannot listen on {}: {e}", r.listen))?,
            ),
            (None, None) => None,
        };
        let tcp = |what: &'static str, address: &str| {
            let address = address.to_string();
            async move {
                tokio::net::TcpListener::bind(&address)
                    .await
                    .map_err(|e| anyhow!("{what}: cannot listen on {address}: {e}"))
            }
        };
        let status = match cfg.status.as_ref().filter(|_| cell.is_none()) {
            Some(s) => Some(tcp("status", &s.address).await?),
            None => None,
        };
        let metrics = match cfg.metrics.as_ref().filter(|_| cell.is_none()) {
            Some(m) => Some(tcp("metrics", &m.address).await?),
            None => None,
        };
        Ok(SideListeners {
            rpc,
            status,
            metrics,
        })
    }

    fn start_rpc(&mut self, cfg: &Config, rt: &Arc<Runtime>) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(l) = self.rpc.take() else {
            return Vec::new();
        };
        tracing::info!(target: "rr::rpc", listen = %cfg.rpc.as_ref().map(|r| r.listen.as_str()).unwrap_or("(cell)"), "rpc server started");
        vec![tokio::spawn(rpc::serve(l, rt.clone()))]
    }

    fn start_status_and_metrics(
        self,
        cfg: &Config,
        rt: &Arc<Runtime>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let (Some(l), Some(s)) = (self.status, &cfg.status) {
            let r = rt.clone();
            tasks.push(tokio::spawn(observe::serve_plain(
                l,
                s.check_timeout,
                Arc::new(move |path: &str, q: Option<&str>| observe::status::handle(&r, path, q)),
            )));
            tracing::info!(target: "rr::observe::status", address = %s.address, "status server started");
        }
        if let (Some(l), Some(m)) = (self.metrics, &cfg.metrics) {
            let metrics = observe::metrics::install();
            let r = rt.clone();
            tasks.push(tokio::spawn(observe::serve_plain(
                l,
                std::time::Duration::from_secs(120),
                Arc::new(move |_: &str, _: Option<&str>| {
                    observe::plain(200, observe::metrics::CONTENT_TYPE, metrics.render(&r))
                }),
            )));
            tracing::info!(target: "rr::observe::metrics", address = %m.address, "metrics server started");
        }
        tasks
    }
}

/// How `rr serve` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--test`: start everything, then stop and exit 0.
    pub test: bool,
    /// `-s`: no banner on stdout.
    pub silent: bool,
}

/// `server.on_init`: run the command once, before the workers start. Its
/// output is logged at INFO (the `server` channel); a failure stops the
/// server only with `exit_on_error`.
fn run_on_init(cfg: &Config, run_as: Option<&RunAs>) -> Result<()> {
    let Some(oi) = &cfg.server.on_init else {
        return Ok(());
    };
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let fail = |msg: String| -> Result<()> {
        if oi.exit_on_error {
            bail!("server.on_init: {msg}");
        }
        tracing::error!("server.on_init: {msg}");
        Ok(())
    };
    let mut cmd = Command::new(&oi.command[0]);
    cmd.args(&oi.command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(who) = run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(who.uid).gid(who.gid);
    }
    // RoadRunner puts on_init.env before its own environment: the OS wins.
    for (k, v) in &oi.env {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {:?}: {e}", oi.command.join(" "))),
    };
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                tracing::info!(target: "php", stream = "on_init", "{line}");
            }
        }));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                tracing::info!(target: "php", stream = "on_init", "{line}");
            }
        }));
    }
    let deadline = std::time::Instant::now() + oi.exec_timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => return fail(format!("cannot wait for the command: {e}")),
        }
    };
    for r in readers {
        let _ = r.join();
    }
    match status {
        None => fail("startup process has been killed by timeout".into()),
        Some(st) if !st.success() => fail(format!("the command failed: {st}")),
        Some(_) => Ok(()),
    }
}

pub fn run(mut cfg: Config, opts: Options) -> Result<()> {
    let php_cmd = parse_php_command(&cfg.server.command);
    let process = match cfg.server.executor.as_deref() {
        Some("process") => true,
        Some(_) => false,
        None => php_cmd.is_err() || cfg.server.relay != "pipes",
    };
    let config_error =
        |key: &str, m: String| anyhow!("config error in {}: {key}: {m}", cfg.file.display());
    let run_as = user::resolve(&cfg.server.user).map_err(|m| config_error("server.user", m))?;
    let on_init_as = match &cfg.server.on_init {
        Some(oi) => user::resolve(&oi.user).map_err(|m| config_error("server.on_init.user", m))?,
        None => None,
    };
    prepare_uploads(&mut cfg, run_as.as_ref(), process)?;
    // The application's metrics plugin, ready before any worker boots.
    observe::app_metrics::install_from(&cfg).map_err(|e| anyhow!(e))?;
    let cell = crate::cells::cell_index();
    if cfg.server.cells > 0 && cell.is_none() && !opts.test {
        // The supervisor: on_init once, then the cells (each of them runs
        // the rest of this function).
        run_on_init(&cfg, on_init_as.as_ref())?;
        return crate::cells::supervise(&cfg, cfg.server.cells);
    }
    let inherited = match cell {
        Some(_) => Some(crate::cells::inherited_listener()?),
        None => None,
    };
    let (spec, engine) = if process {
        (process_spec(&cfg, php_cmd.is_ok(), run_as.as_ref())?, None)
    } else {
        let cmd = php_cmd.map_err(|m| {
            anyhow!(
                "config error in {}: server.command: {m}",
                cfg.file.display()
            )
        })?;
        let (spec, engine) = thread_spec(&cfg, cmd, run_as.as_ref())?;
        (spec, Some(engine))
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.http.pool.num_workers.clamp(2, 4))
        .enable_all()
        .thread_name("rr-http")
        .build()
        .context("cannot start the async runtime")?;

    let cfg = Arc::new(cfg);
    let result = rt.block_on(async {
        let signals = Signals::register();
        // Bind first, so a busy port or a bad file fails before PHP workers start.
        // (Config warnings were logged by main before this point.)
        let prepared = http::prepare(&cfg.http, inherited)
            .await
            .map_err(|e| anyhow!(e.describe(&cfg.file)))?;
        let addresses = prepared.addresses();
        let mut side = SideListeners::bind(&cfg, cell).await?;
        if cell.is_none() {
            let c = cfg.clone();
            let who = on_init_as.clone();
            tokio::task::spawn_blocking(move || run_on_init(&c, who.as_ref()))
                .await
                .map_err(|e| anyhow!("on_init panicked: {e}"))??;
        }
        // Thread workers run as the server: with server.user the server
        // becomes that user now, everything bound and on_init done.
        if let (false, Some(who)) = (process, &run_as) {
            user::drop_process(who).map_err(|m| anyhow!("server.user: {m}"))?;
            tracing::info!(
                user = %who.name,
                uid = who.uid,
                gid = who.gid,
                "server.user: the server and its thread workers now run as this user"
            );
        }
        let pool_cfg = cfg.http.pool.clone();
        let pool = tokio::task::spawn_blocking(move || Pool::launch(spec, pool_cfg))
            .await
            .map_err(|e| anyhow!("pool start panicked: {e}"))?
            .map_err(|e| anyhow!("{e}"))?;
        let pool = Arc::new(pool);
        let runtime = Arc::new(Runtime {
            pool: pool.clone(),
            cfg: cfg.clone(),
            stopping: AtomicBool::new(false),
            started: std::time::Instant::now(),
        });
        // RPC answers while the workers boot: a worker may call it before
        // its loop (the Symfony bundle declares its metrics so).
        let mut side_tasks = side.start_rpc(&cfg, &runtime);
        {
            let p = pool.clone();
            tokio::task::spawn_blocking(move || p.wait_booted())
                .await
                .map_err(|e| anyhow!("pool start panicked: {e}"))?
                .map_err(|e| anyhow!("{e}"))?;
        }
        side_tasks.extend(side.start_status_and_metrics(&cfg, &runtime));
        tracing::info!(
            address = %addresses,
            workers = cfg.http.pool.num_workers,
            php = %Engine::version(),
            "http server started"
        );
        if !opts.silent && !opts.test {
            println!("[INFO] RoadRunner server started; version: {VERSION}, buildtime: rustrunner");
        }
        let _watcher =
            match &cfg.reload {
                Some(r) => {
                    let p = pool.clone();
                    Some(
                    crate::pool::watch::start(r.clone(), cfg.dir.clone(), move |files| {
                        let shown: Vec<String> =
                            files.iter().take(3).map(|f| f.display().to_string()).collect();
                        p.reset();
                        tracing::info!(files = ?shown, "reload: files changed; restarting workers");
                    })
                    .map_err(|e| anyhow!("{e}"))?,
                )
                }
                None => None,
            };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(http::serve(
            prepared,
            pool.clone(),
            cfg.http.clone(),
            stop_rx,
        ));

        if opts.test {
            tracing::info!("--test: the config is valid and the workers started; stopping");
        } else {
            let mut signals = signals.context("cannot handle signals")?;
            signals.first_stop(&runtime).await;
            let grace = cfg.http.pool.destroy_timeout;
            if !opts.silent {
                println!(
                    "stop signal received, grace timeout is: {} seconds",
                    grace.as_secs()
                );
            }
            // A second signal stops at once.
            tokio::spawn(async move {
                signals.next_stop().await;
                eprintln!("exit forced");
                crate::observe::flush_logs();
                std::process::exit(1);
            });
        }
        runtime.stopping.store(true, Ordering::Release);
        tracing::info!("stopping: no new connections; finishing in-flight requests");
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(cfg.http.pool.destroy_timeout, server).await;
        let p = pool.clone();
        let timeout = cfg.http.pool.destroy_timeout;
        let _ = tokio::task::spawn_blocking(move || p.stop(timeout)).await;
        for t in side_tasks {
            t.abort();
        }
        Ok::<_, anyhow::Error>(pool)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    let pool = result?;
    if pool.all_stopped() {
        drop(pool);
        if let Some(e) = engine {
            let _ = e.shutdown();
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The stop and reset signals, registered once at start-up so that no
/// signal is missed between the first and the second.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        // Go's runtime, and so RoadRunner, catches and ignores SIGUSR1,
        // SIGUSR2 and SIGALRM. Their default action would end the whole
        // server, and a worker can send them (posix_kill(getmypid()),
        // pcntl_alarm) as easily as an operator. Handlers, not SIG_IGN:
        // programs the workers start get the default dispositions back.
        for (kind, name) in [
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
            (SignalKind::alarm(), "SIGALRM"),
        ] {
            let mut s = signal(kind)?;
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    tracing::info!("{name} received: ignored (as RoadRunner does)");
                }
            });
        }
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Wait for a stop signal; SIGHUP meanwhile resets the workers.
    async fn first_stop(&mut self, rt: &Arc<Runtime>) {
        loop {
            // recv() gives None when the runtime shuts down: not a signal.
            tokio::select! {
                Some(_) = self.term.recv() => return,
                Some(_) = self.int.recv() => return,
                Some(_) = self.quit.recv() => return,
                Some(_) = self.hup.recv() => {
                    tracing::info!("SIGHUP: restarting the workers at their request boundaries");
                    let r = rt.clone();
                    tokio::spawn(async move {
                        if let Err(e) = rpc::reset(&r).await {
                            tracing::warn!("SIGHUP reset: {e}");
                        }
                    });
                }
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// The second stop signal (never resolves once the runtime shuts down).
    async fn next_stop(&mut self) {
        tokio::select! {
            Some(_) = self.term.recv() => {}
            Some(_) = self.int.recv() => {}
            Some(_) = self.quit.recv() => {}
            else => std::future::pending::<()>().await,
        }
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
        let c = parse_php_command(&v("php -n -c /etc/php.ini w.php")).unwrap();
        assert!(c.no_ini);
        assert_eq!(c.ini_path.as_deref(), Some("/etc/php.ini"));
        assert_eq!(c.script, "w.php");
        assert!(parse_php_command(&v("node app.js")).is_err());
        assert!(parse_php_command(&v("php")).is_err());
    }
}
