//! Cells: the thread workers live in child processes ("cells") behind a
//! supervisor that owns the HTTP listener and never runs PHP
//! (`server.cells: N`).
//!
//! What the guards inside the process cannot stop (a segfault or an abort
//! in an extension's C code, a stack overflow while PHP frees a very deep
//! structure) ends the whole process. With cells it ends one cell: the
//! supervisor keeps the listening socket open, so connections that arrive
//! meanwhile wait in the kernel's backlog (never refused), and it starts a
//! new cell at once. Only the requests in flight in that cell are lost; with
//! two or more cells the others go on serving.
//!
//! A cell is `rr serve` itself, started again with the same arguments and
//! `RR_CELL=<index>`, the listening socket as its standard input (the one
//! descriptor a child can be given, and taken back, without `unsafe`). All
//! cells accept from that one socket. The supervisor serves RPC, status and
//! metrics for all cells, asking each over a private unix socket
//! (`CellsView`), so `rr workers`, `rr reset`, /metrics, /health and /ready
//! see the cells as one server. Signals to the supervisor go to every cell:
//! SIGTERM/SIGINT/SIGQUIT drain and stop them (a second one stops them at
//! once), SIGHUP resets their workers. PHP starts in each cell, so each cell
//! has its own OPcache.

use crate::config::{Config, Listen};
use anyhow::{anyhow, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use once_cell::sync::OnceCell;
use serde_json::{json, Value};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

/// The environment variable that makes `rr serve` a cell (its index).
pub const CELL_ENV: &str = "RR_CELL";
/// Where a cell serves its private RPC (a unix socket path).
const CELL_RPC_ENV: &str = "RR_CELL_RPC";

static START_DIR: OnceCell<PathBuf> = OnceCell::new();

/// Where `rr` was started (before `-c`/`-w` changed the directory): cells
/// start there with the same arguments.
pub fn remember_start_dir() {
    if let Ok(d) = std::env::current_dir() {
        let _ = START_DIR.set(d);
    }
}

/// This process's cell index, when it is a cell.
pub fn cell_index() -> Option<usize> {
    std::env::var(CELL_ENV).ok()?.parse().ok()
}

/// In a cell: the private RPC socket its supervisor asks it through.
pub fn internal_rpc() -> Option<Listen> {
    cell_index()?;
    std::env::var_os(CELL_RPC_ENV).map(|p| Listen::Unix(PathBuf::from(p)))
}

/// Thread worker ids are unique per cell; across cells (`rr workers`,
/// metrics) cell N's ids start at N × MAX_WORKERS.
pub fn worker_id_offset() -> usize {
    cell_index().unwrap_or(0) * crate::pool::MAX_WORKERS
}

/// In a cell: the HTTP listener the supervisor gave as standard input.
/// The cell also dies with the supervisor (it holds the listener; a cell
/// left behind would keep accepting for nobody).
pub fn inherited_listener() -> Result<std::net::TcpListener> {
    nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL))
        .map_err(|e| anyhow!("cell: cannot follow the supervisor's exit: {e}"))?;
    let parent: i32 = std::env::var("RR_CELL_PARENT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    if nix::unistd::getppid().as_raw() != parent {
        // The supervisor died before the death signal was armed.
        std::process::exit(1);
    }
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("cell: no listener on standard input")?;
    let l = std::net::TcpListener::from(fd);
    l.local_addr()
        .context("cell: standard input is not a listening TCP socket")?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The supervisor: bind the HTTP listener, start `n` cells, restart any that
/// dies, forward signals. Returns when every cell has stopped after a stop
/// signal (or at once, with the cells' failure, when the first start fails).
pub fn supervise(cfg: &Config, n: usize) -> Result<()> {
    if cfg.http.address.is_empty() {
        return Err(anyhow!(
            "config error in {}: server.cells: needs http.address",
            cfg.file.display()
        ));
    }
    if cfg.http.ssl.is_some() {
        return Err(anyhow!(
            "config error in {}: server.cells: not supported together with http.ssl yet",
            cfg.file.display()
        ));
    }
    crate::observe::app_metrics::install_from(cfg).map_err(|e| anyhow!(e))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rr-supervisor")
        .build()
        .context("cannot start the supervisor's runtime")?;
    rt.block_on(run(cfg, n))
}

struct Cell {
    index: usize,
    child: Option<Child>,
    started: Instant,
    /// Crashes in a row (backoff after the second).
    crashes: u32,
}

async fn run(cfg: &Config, n: usize) -> Result<()> {
    let addr = crate::http::listen_address(&cfg.http.address);
    let listener = bind(&addr)
        .await
        .with_context(|| format!("http: cannot listen on {addr}"))?;
    tracing::info!(address = %addr, cells = n, "supervisor: listening; starting the cells");
    // The cells' private RPC sockets, in a folder only we can enter.
    let sockets_dir = tempfile::Builder::new()
        .prefix("rr-cells-")
        .tempdir()
        .context("cannot make the cells' socket folder")?;
    let sockets: Vec<PathBuf> = (0..n)
        .map(|i| sockets_dir.path().join(format!("cell-{i}.sock")))
        .collect();
    let cells_view = Arc::new(CellsView {
        sockets: sockets.clone(),
    });
    let mut side = Vec::new();
    if let Some(r) = &cfg.rpc {
        let l = crate::rpc::Listener::bind(&r.addr)
            .await
            .with_context(|| format!("rpc: cannot listen on {}", r.listen))?;
        side.push(tokio::spawn(crate::rpc::serve(l, cells_view.clone())));
    }
    if let Some(m) = &cfg.metrics {
        let l = tokio::net::TcpListener::bind(&m.address)
            .await
            .with_context(|| format!("metrics: cannot listen on {}", m.address))?;
        let view = cells_view.clone();
        side.push(tokio::spawn(crate::observe::serve_plain(
            l,
            Duration::from_secs(120),
            Arc::new(move |_: &str, _: Option<&str>| {
                crate::observe::plain(200, crate::observe::metrics::CONTENT_TYPE, view.metrics())
            }),
        )));
    }
    let stopping_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(st) = &cfg.status {
        let l = tokio::net::TcpListener::bind(&st.address)
            .await
            .with_context(|| format!("status: cannot listen on {}", st.address))?;
        let (view, stopping) = (cells_view.clone(), stopping_flag.clone());
        let unavailable = crate::observe::status::unavailable_code(cfg);
        side.push(tokio::spawn(crate::observe::serve_plain(
            l,
            st.check_timeout,
            Arc::new(move |path: &str, q: Option<&str>| {
                let stopping = stopping.load(std::sync::atomic::Ordering::Acquire);
                let answers = if stopping {
                    Vec::new()
                } else {
                    view.status(path, q)
                };
                let (code, ct, body) =
                    crate::observe::status::combine(unavailable, stopping, path, &answers);
                crate::observe::plain(code, ct, body)
            }),
        )));
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut alrm = signal(SignalKind::alarm())?;

    let mut cells: Vec<Cell> = (0..n)
        .map(|index| Cell {
            index,
            child: None,
            started: Instant::now(),
            crashes: 0,
        })
        .collect();
    for c in &mut cells {
        c.child = Some(spawn(c.index, &listener, &sockets[c.index])?);
        c.started = Instant::now();
    }
    let mut stopping: Option<Signal> = None;
    let mut worst = 0;
    loop {
        if cells.iter().all(|c| c.child.is_none()) {
            return if worst == 0 {
                tracing::info!("supervisor: every cell stopped");
                Ok(())
            } else {
                Err(anyhow!("a cell exited with status {worst}"))
            };
        }
        let (index, status) = tokio::select! {
            r = wait_any(&mut cells) => r,
            Some(_) = term.recv() => { stopping = Some(forward(&cells, Signal::SIGTERM, stopping)); stopping_flag.store(true, std::sync::atomic::Ordering::Release); continue; }
            Some(_) = int.recv() => { stopping = Some(forward(&cells, Signal::SIGINT, stopping)); stopping_flag.store(true, std::sync::atomic::Ordering::Release); continue; }
            Some(_) = quit.recv() => { stopping = Some(forward(&cells, Signal::SIGQUIT, stopping)); stopping_flag.store(true, std::sync::atomic::Ordering::Release); continue; }
            Some(_) = hup.recv() => { signal_all(&cells, Signal::SIGHUP); continue; }
            Some(_) = usr1.recv() => { tracing::info!("SIGUSR1 received: ignored"); continue; }
            Some(_) = usr2.recv() => { tracing::info!("SIGUSR2 received: ignored"); continue; }
            Some(_) = alrm.recv() => { tracing::info!("SIGALRM received: ignored"); continue; }
        };
        let cell = &mut cells[index];
        cell.child = None;
        let up = cell.started.elapsed();
        if stopping.is_some() {
            if let Some(code) = status.code().filter(|c| *c != 0) {
                worst = worst.max(code);
            }
            continue;
        }
        let how = describe(&status);
        if status.signal().is_none() && up < Duration::from_secs(2) && cell.crashes == 0 {
            // It never came up: a config or boot error, already logged by
            // the cell. Stop the others and fail as a single server would.
            tracing::error!(
                cell = index,
                "supervisor: cell {index} failed to start ({how})"
            );
            forward(&cells, Signal::SIGTERM, None);
            stopping = Some(Signal::SIGTERM);
            worst = status.code().unwrap_or(1).max(1);
            continue;
        }
        cell.crashes = if up > Duration::from_secs(10) {
            1
        } else {
            cell.crashes + 1
        };
        tracing::error!(
            cell = index,
            up_ms = up.as_millis() as u64,
            "supervisor: cell {index} died ({how}); its in-flight requests were lost; \
             starting it again (the listener stayed open)"
        );
        if cell.crashes > 2 {
            let pause = Duration::from_millis(100 << (cell.crashes - 2).min(6));
            tokio::time::sleep(pause).await;
        }
        cell.child = Some(spawn(index, &listener, &sockets[index])?);
        cell.started = Instant::now();
    }
}

/// RPC and metrics of the cells as one pool: `informer.Workers` lists every
/// cell's workers, `resetter.Reset` resets them all, `AddWorker` goes to the
/// smallest cell and `RemoveWorker` to the largest, the application's
/// metrics (`metrics.*`) are kept here, and the metrics endpoint sums the
/// cells' series. Anything else is answered by the first cell that answers.
struct CellsView {
    sockets: Vec<PathBuf>,
}

impl CellsView {
    /// One call to cell `i` (blocking; a cell that restarts has no socket).
    fn ask(&self, i: usize, method: &str, arg: &Value) -> Result<Value, String> {
        self.ask_within(i, method, arg, Duration::from_secs(70))
    }

    fn ask_within(
        &self,
        i: usize,
        method: &str,
        arg: &Value,
        t: Duration,
    ) -> Result<Value, String> {
        let mut c = crate::rpc::client::Client::connect(&Listen::Unix(self.sockets[i].clone()), t)?;
        c.call(method, arg)
    }

    /// The same call to every cell, in parallel: (cell, answer).
    async fn ask_all(
        self: &Arc<Self>,
        method: &str,
        arg: &Value,
    ) -> Vec<(usize, Result<Value, String>)> {
        let calls: Vec<_> = (0..self.sockets.len())
            .map(|i| {
                let (me, m, a) = (self.clone(), method.to_string(), arg.clone());
                tokio::task::spawn_blocking(move || (i, me.ask(i, &m, &a)))
            })
            .collect();
        let mut out = Vec::new();
        for c in calls {
            if let Ok(r) = c.await {
                out.push(r);
            }
        }
        out
    }

    fn workers_of(answer: &Value) -> usize {
        answer["workers"].as_array().map_or(0, Vec::len)
    }

    async fn call_cells(self: Arc<Self>, method: String, arg: Value) -> Result<Value, String> {
        match method.as_str() {
            m if m.starts_with("metrics.") => crate::rpc::metrics_call(m, &arg),
            "informer.Workers" => {
                let mut all = Vec::new();
                let mut last_err = None;
                for (_, r) in self.ask_all(&method, &arg).await {
                    match r {
                        Ok(v) => all.extend(v["workers"].as_array().cloned().unwrap_or_default()),
                        Err(e) => last_err = Some(e),
                    }
                }
                match (all.is_empty(), last_err) {
                    (true, Some(e)) => Err(e),
                    _ => Ok(json!({ "workers": all })),
                }
            }
            "resetter.Reset" => {
                for (i, r) in self.ask_all(&method, &arg).await {
                    r.map_err(|e| format!("cell {i}: {e}"))?;
                }
                Ok(json!(true))
            }
            "informer.AddWorker" | "informer.RemoveWorker" => {
                let sizes: Vec<(usize, usize)> = self
                    .ask_all("informer.Workers", &arg)
                    .await
                    .into_iter()
                    .filter_map(|(i, r)| r.ok().map(|v| (i, Self::workers_of(&v))))
                    .collect();
                let pick = if method == "informer.AddWorker" {
                    sizes.iter().min_by_key(|(_, n)| *n)
                } else {
                    sizes.iter().max_by_key(|(_, n)| *n)
                };
                let (i, _) = *pick.ok_or("no cell answers")?;
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.ask(i, &method, &arg))
                    .await
                    .map_err(|e| e.to_string())?
            }
            _ => {
                let mut last = Err("no cell answers".to_string());
                for i in 0..self.sockets.len() {
                    let (me, m, a) = (self.clone(), method.clone(), arg.clone());
                    last = tokio::task::spawn_blocking(move || me.ask(i, &m, &a))
                        .await
                        .map_err(|e| e.to_string())?;
                    if last.is_ok() {
                        break;
                    }
                }
                last
            }
        }
    }

    /// Every cell's `/health` or `/ready` answer (None: it did not answer).
    fn status(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Vec<Option<crate::observe::status::Answer>> {
        let arg = json!({ "path": path, "query": query });
        (0..self.sockets.len())
            .map(|i| {
                // A probe waits seconds, not minutes: a cell stuck this
                // long counts as not answering.
                let v = self
                    .ask_within(i, "rustrunner.Status", &arg, Duration::from_secs(2))
                    .ok()?;
                let code = u16::try_from(v["code"].as_u64()?).ok()?;
                let ct = if v["json"].as_bool() == Some(true) {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                Some((code, ct, v["body"].as_str()?.as_bytes().to_vec()))
            })
            .collect()
    }

    /// Every cell's metrics summed series by series (the same worker never
    /// appears in two cells), uptime the longest, then the application's.
    fn metrics(&self) -> String {
        let texts: Vec<String> = (0..self.sockets.len())
            .filter_map(|i| {
                self.ask(i, "rustrunner.Metrics", &Value::Null)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
            })
            .collect();
        let mut out = merge_metrics(&texts);
        if let Some(app) = crate::observe::app_metrics::get() {
            app.render(&mut out);
        }
        out.push_str("# EOF\n");
        out
    }
}

impl crate::rpc::Service for CellsView {
    fn call<'a>(
        &'a self,
        method: &'a str,
        arg: Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + 'a>>
    {
        let me = Arc::new(CellsView {
            sockets: self.sockets.clone(),
        });
        Box::pin(me.call_cells(method.to_string(), arg))
    }
}

/// OpenMetrics texts of several cells as one (without `# EOF`): families in
/// the order first seen, each sample's value summed over the cells (the
/// uptime gauge: the largest).
fn merge_metrics(texts: &[String]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut comments: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut samples: std::collections::HashMap<String, Vec<(String, f64)>> = Default::default();
    for t in texts {
        let mut family = String::new();
        for line in t.lines() {
            if line == "# EOF" || line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let name = rest.split_whitespace().nth(1).unwrap_or("").to_string();
                if !comments.contains_key(&name) {
                    order.push(name.clone());
                    comments.insert(name.clone(), Vec::new());
                }
                let c = comments.get_mut(&name).expect("inserted");
                if !c.iter().any(|l| l == line) {
                    c.push(line.to_string());
                }
                family = name;
                continue;
            }
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let v: f64 = value.parse().unwrap_or(0.0);
            let list = samples.entry(family.clone()).or_default();
            match list.iter_mut().find(|(k, _)| k == key) {
                Some((_, have)) if key.contains("uptime") => *have = have.max(v),
                Some((_, have)) if key.contains("start_time") => *have = have.min(v),
                Some((_, have)) => *have += v,
                None => list.push((key.to_string(), v)),
            }
        }
    }
    let mut out = String::new();
    for name in &order {
        for c in &comments[name] {
            out.push_str(c);
            out.push('\n');
        }
        for (k, v) in samples.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            out.push_str(&format!("{k} {v}\n"));
        }
    }
    out
}

/// A listener with a deep backlog: while a cell restarts, connections wait
/// in it.
async fn bind(addr: &str) -> std::io::Result<OwnedFd> {
    let sa: std::net::SocketAddr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let sock = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(sa)?;
    let l = sock.listen(4096)?.into_std()?;
    Ok(OwnedFd::from(l))
}

fn spawn(index: usize, listener: &OwnedFd, rpc_socket: &std::path::Path) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find rr's own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(CELL_ENV, index.to_string())
        .env("RR_CELL_PARENT", std::process::id().to_string())
        .env(CELL_RPC_ENV, rpc_socket)
        .stdin(Stdio::from(listener.try_clone()?))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(d) = START_DIR.get() {
        cmd.current_dir(d);
    }
    let child = cmd.spawn().context("cannot start a cell")?;
    tracing::info!(
        cell = index,
        pid = child.id().unwrap_or(0),
        "supervisor: cell started"
    );
    Ok(child)
}

/// The first cell to exit: (index, status).
async fn wait_any(cells: &mut [Cell]) -> (usize, ExitStatus) {
    let waits = cells
        .iter_mut()
        .filter_map(|c| c.child.as_mut().map(|ch| (c.index, ch)))
        .map(|(i, ch)| {
            Box::pin(async move {
                let st = ch
                    .wait()
                    .await
                    .unwrap_or_else(|_| ExitStatus::from_raw(1 << 8));
                (i, st)
            })
        });
    futures_util::future::select_all(waits).await.0
}

fn signal_all(cells: &[Cell], sig: Signal) {
    for c in cells {
        if let Some(pid) = c.child.as_ref().and_then(|ch| ch.id()) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }
}

/// A stop signal: to every cell (a second one is passed on too: the cells
/// then stop at once).
fn forward(cells: &[Cell], sig: Signal, before: Option<Signal>) -> Signal {
    if before.is_none() {
        tracing::info!("supervisor: {} received; stopping the cells", sig.as_ref());
    }
    signal_all(cells, sig);
    sig
}

fn describe(st: &ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (_, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_ref().to_string())
                .unwrap_or_else(|_| format!("signal {sig}"));
            format!(
                "killed by {name}{}",
                if st.core_dumped() {
                    ", core dumped"
                } else {
                    ""
                }
            )
        }
        (Some(code), None) => format!("exit status {code}"),
        (None, None) => "unknown status".into(),
    }
}
