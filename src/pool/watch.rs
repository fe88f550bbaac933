//! The file watcher behind `reload:`: when a watched PHP file changes, every
//! worker restarts at its next request boundary, so the next request runs the
//! new code. RoadRunner removed this plugin; in-process workers make it cheap.
//!
//! Folders are walked once and each one is watched on its own (inotify), so
//! ignored folders such as `vendor` cost nothing; folders created later are
//! picked up from their creation events.

use crate::config::ReloadConfig;
use crossbeam_channel as cb;
use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
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

/// The matching files already in `dirs`: a folder that appears (created or
/// moved in) is watched only once the debouncer reports it, so what was
/// written into it before then would otherwise go unseen.
fn files_in(cfg: &ReloadConfig, dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.is_file() && matches(cfg, p))
        .collect()
}

/// Start watching; `on_change` gets the changed files once a burst of
/// changes has settled.
///
/// notify-debouncer-full holds every raw event for `interval` and merges
/// what it can (a file's writes, create+remove of editor temp files, atomic
/// saves by rename), but it releases each event on its own clock, so one
/// burst can come out over several ticks. Batches are therefore gathered
/// until none has come for two ticks, which makes a burst one reset.
pub fn start(
    cfg: ReloadConfig,
    base: PathBuf,
    on_change: impl Fn(&[PathBuf]) + Send + 'static,
) -> Result<Watcher, String> {
    let (ev_tx, ev_rx) = cb::unbounded::<DebounceEventResult>();
    // At least 1ms: a zero tick would make the debouncer's thread spin.
    let tick = (cfg.interval / 4)
        .max(Duration::from_millis(1))
        .min(cfg.interval);
    let settle = tick * 2;
    // A stream that never pauses (a log file matching the patterns) must not
    // hold reloads back forever.
    let max_wait = cfg.interval.saturating_mul(10);
    let mut debouncer = new_debouncer(cfg.interval, Some(tick), ev_tx)
        .map_err(|e| format!("reload: cannot start the file watcher: {e}"))?;
    let mut dirs = Vec::new();
    for d in &cfg.dirs {
        // Through components(): `dirs: ["."]` gives `<base>/x.php` in the
        // log, not `<base>/./x.php`.
        let p: PathBuf = base.join(d).components().collect();
        if !p.is_dir() {
            return Err(format!(
                "reload.plugins.http.dirs: {} is not a folder",
                p.display()
            ));
        }
        folders(&cfg, &base, &p, &mut dirs);
    }
    for d in &dirs {
        debouncer
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
            let mut first: Option<Instant> = None;
            let mut due: Option<Instant> = None;
            loop {
                let wait = due.map_or(Duration::from_secs(3600), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                cb::select! {
                    recv(stop_rx) -> _ => return,
                    recv(ev_rx) -> batch => {
                        let events = match batch {
                            Ok(Ok(events)) => events,
                            Ok(Err(errors)) => {
                                tracing::warn!(?errors, "reload: file watcher errors");
                                continue;
                            }
                            Err(_) => return,
                        };
                        let mut relevant = false;
                        for ev in events {
                            let mut changed = Vec::new();
                            for p in &ev.paths {
                                if ignored(&cfg, &base, p) {
                                    continue;
                                }
                                let appeared = matches!(
                                    ev.kind,
                                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
                                );
                                if appeared && cfg.recursive && p.is_dir() {
                                    let mut more = Vec::new();
                                    folders(&cfg, &base, p, &mut more);
                                    for d in &more {
                                        let _ = debouncer.watch(d, RecursiveMode::NonRecursive);
                                    }
                                    changed.extend(files_in(&cfg, &more));
                                } else if !matches!(ev.kind, EventKind::Access(_))
                                    && matches(&cfg, p)
                                {
                                    changed.push(p.clone());
                                }
                            }
                            relevant |= !changed.is_empty();
                            for p in changed {
                                if !pending.contains(&p) {
                                    pending.push(p);
                                }
                            }
                        }
                        // Any relevant change, even to a file already
                        // pending, means the burst goes on.
                        if relevant {
                            let now = Instant::now();
                            let start = *first.get_or_insert(now);
                            // Checked: `interval` comes from the config, unbounded.
                            due = [now.checked_add(settle), start.checked_add(max_wait)]
                                .into_iter()
                                .flatten()
                                .min();
                        }
                    },
                    default(wait) => {
                        if due.is_some_and(|d| Instant::now() >= d) {
                            due = None;
                            first = None;
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
