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
//! cells accept from that one socket. Cell 0 also serves RPC, status and
//! metrics; so `rr workers`, `rr reset` and /metrics see cell 0's pool (with
//! one cell, the whole server). Signals to the supervisor go to every cell:
//! SIGTERM/SIGINT/SIGQUIT drain and stop them (a second one stops them at
//! once), SIGHUP resets their workers. PHP starts in each cell, so each cell
//! has its own OPcache.

use crate::config::Config;
use anyhow::{anyhow, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use once_cell::sync::OnceCell;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

/// The environment variable that makes `rr serve` a cell (its index).
pub const CELL_ENV: &str = "RR_CELL";

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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
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
        c.child = Some(spawn(c.index, &listener)?);
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
            Some(_) = term.recv() => { stopping = Some(forward(&cells, Signal::SIGTERM, stopping)); continue; }
            Some(_) = int.recv() => { stopping = Some(forward(&cells, Signal::SIGINT, stopping)); continue; }
            Some(_) = quit.recv() => { stopping = Some(forward(&cells, Signal::SIGQUIT, stopping)); continue; }
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
        cell.child = Some(spawn(index, &listener)?);
        cell.started = Instant::now();
    }
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

fn spawn(index: usize, listener: &OwnedFd) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find rr's own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(CELL_ENV, index.to_string())
        .env("RR_CELL_PARENT", std::process::id().to_string())
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
