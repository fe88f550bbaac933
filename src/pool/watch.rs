//! The file watcher behind `reload:`: when a watched PHP file changes, every
//! worker restarts at its next request boundary, so the next request runs the
//! new code. RoadRunner removed this plugin; in-process workers make it cheap.
//!
//! Folders are walked once and each one is watched on its own (inotify), so
//! ignored folders such as `vendor` cost nothing; folders created later are
//! picked up from their creation events.

use crate::config::ReloadConfig;
use crossbeam_channel as cb;
use notify::{EventKind, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Watcher {
    stop: cb::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ignored(cfg: &ReloadConfig, base: &Path, p: &Path) -> bool {
    let rel = p.strip_prefix(base).unwrap_or(p);
    rel.components()
        .any(|c| cfg.ignore.iter().any(|i| c.as_os_str() == i.as_str()))
}

fn matches(cfg: &ReloadConfig, p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name.starts_with('.') && name.ends_with(".swp") {
        return false;
    }
    cfg.patterns.is_empty() || cfg.patterns.iter().any(|pat| name.ends_with(pat.as_str()))
}

/// Every folder to watch under `dir` (itself included), ignored ones skipped.
fn folders(cfg: &ReloadConfig, base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    if ignored(cfg, base, dir) || !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if !cfg.recursive {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                folders(cfg, base, &e.path(), out);
            }
        }
    }
}

/// Start watching; `on_change` gets the changed files, at most once per
/// `interval`.
pub fn start(
    cfg: ReloadConfig,
    base: PathBuf,
    on_change: impl Fn(&[PathBuf]) + Send + 'static,
) -> Result<Watcher, String> {
    let (ev_tx, ev_rx) = cb::unbounded::<notify::Event>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let _ = ev_tx.send(ev);
        }
    })
    .map_err(|e| format!("reload: cannot start the file watcher: {e}"))?;
    let mut dirs = Vec::new();
    for d in &cfg.dirs {
        let p = base.join(d);
        if !p.is_dir() {
            return Err(format!(
                "reload.plugins.http.dirs: {} is not a folder",
                p.display()
            ));
        }
        folders(&cfg, &base, &p, &mut dirs);
    }
    for d in &dirs {
        watcher
            .watch(d, RecursiveMode::NonRecursive)
            .map_err(|e| format!("reload: cannot watch {}: {e}", d.display()))?;
    }
    tracing::info!(
        folders = dirs.len(),
        interval = ?cfg.interval,
        "reload: watching for file changes"
    );
    let (stop_tx, stop_rx) = cb::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("rr-reload".into())
        .spawn(move || {
            let mut pending: Vec<PathBuf> = Vec::new();
            let mut due: Option<Instant> = None;
            loop {
                let wait = due.map_or(Duration::from_secs(3600), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                cb::select! {
                    recv(stop_rx) -> _ => return,
                    recv(ev_rx) -> ev => {
                        let Ok(ev) = ev else { return };
                        if matches!(ev.kind, EventKind::Access(_)) {
                            continue;
                        }
                        for p in ev.paths {
                            if ignored(&cfg, &base, &p) {
                                continue;
                            }
                            if matches!(ev.kind, EventKind::Create(_)) && p.is_dir() && cfg.recursive {
                                let mut more = Vec::new();
                                folders(&cfg, &base, &p, &mut more);
                                for d in more {
                                    let _ = watcher.watch(&d, RecursiveMode::NonRecursive);
                                }
                                continue;
                            }
                            if matches(&cfg, &p) && !pending.contains(&p) {
                                pending.push(p);
                                due.get_or_insert_with(|| Instant::now() + cfg.interval);
                            }
                        }
                    },
                    default(wait) => {
                        if due.is_some_and(|d| Instant::now() >= d) {
                            due = None;
                            on_change(&pending);
                            pending.clear();
                        }
                    }
                }
            }
        })
        .map_err(|e| format!("reload: cannot start its thread: {e}"))?;
    Ok(Watcher {
        stop: stop_tx,
        thread: Some(thread),
    })
}
