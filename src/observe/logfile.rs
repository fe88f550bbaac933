//! `logs.file_logger_options`: RoadRunner's lumberjack-rotated log file.
//!
//! file-rotate renames the file with a timestamp suffix, keeps at most
//! `max_backups` of them and gzips them. This module adds what lumberjack
//! does beyond that, so RoadRunner's settings mean the same here:
//! - the file rotates *before* a write that would take it past `max_size`
//!   (a line is never split across two files);
//! - backups older than `max_age` days are removed (by modification time,
//!   which is when the backup stopped being written: its rotation time);
//! - a failed rotation (the folder removed under us, say) never takes the
//!   server down: file-rotate asserts and unwraps on some of those paths,
//!   so its calls are caught and the file is opened anew.
//!
//! Lines reach the file through tracing-appender's non-blocking worker
//! thread, so a rotation that gzips 100 MB never stalls a request thread.

use crate::config::FileLoggerOptions;
use file_rotate::compression::Compression;
use file_rotate::suffix::{AppendTimestamp, DateFrom, FileLimit};
use file_rotate::{ContentLimit, FileRotate};
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The backups' suffix: lumberjack's timestamp without its milliseconds
/// (file-rotate's suffixes cannot hold a dot; two rotations in the same
/// second get `.1`, `.2`...). Lexical order is chronological order.
const SUFFIX_FORMAT: &str = "%Y-%m-%dT%H-%M-%S";

pub struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    max_backups: usize,
    compress: bool,
    inner: Option<FileRotate<AppendTimestamp>>,
    /// Bytes in the current file.
    size: u64,
    /// A failure was reported already (one line on stderr, not one per log line).
    reported: bool,
}

impl Rotating {
    /// Open (or create) the file; errors are start-up errors that name it.
    pub fn open(opts: &FileLoggerOptions) -> Result<Rotating, String> {
        let path = std::path::absolute(&opts.log_output)
            .map_err(|e| format!("log_output {:?}: {e}", opts.log_output))?;
        // What file-rotate would panic on, checked here with a clear error:
        // a folder that cannot be made, a file that cannot be opened.
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make the log folder {}: {e}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        drop(f);
        let mut r = Rotating {
            path,
            max_bytes: opts.max_size_mb.saturating_mul(1024 * 1024),
            max_age: Duration::from_secs(opts.max_age_days.saturating_mul(86_400)),
            max_backups: usize::try_from(opts.max_backups).unwrap_or(usize::MAX),
            compress: opts.compress,
            inner: None,
            size,
            reported: false,
        };
        r.reopen();
        if r.inner.is_none() {
            return Err(format!("cannot open the log file {}", r.path.display()));
        }
        // lumberjack also clears out old backups when it starts.
        r.prune();
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh file-rotate writer: it scans the folder for the backups.
    fn reopen(&mut self) {
        self.inner = None;
        let compression = if self.compress {
            // Every backup, as lumberjack's compress does.
            Compression::OnRotate(0)
        } else {
            Compression::None
        };
        let (path, backups) = (self.path.clone(), self.max_backups);
        let made = catch_unwind(move || {
            FileRotate::new(
                path,
                AppendTimestamp::with_format(
                    SUFFIX_FORMAT,
                    FileLimit::MaxFiles(backups),
                    DateFrom::Now,
                ),
                // We decide when to rotate (see `write`).
                ContentLimit::None,
                compression,
                None,
            )
        });
        match made {
            Ok(f) => self.inner = Some(f),
            Err(_) => self.report("cannot open it"),
        }
        self.size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
    }

    fn report(&mut self, what: &str) {
        if !self.reported {
            self.reported = true;
            // Not through tracing: this is the logger failing.
            eprintln!(
                "rr: log file {}: {what}; lines may be lost",
                self.path.display()
            );
        }
    }

    fn rotate(&mut self) {
        let Some(inner) = self.inner.as_mut() else {
            return self.reopen();
        };
        match catch_unwind(AssertUnwindSafe(|| inner.rotate())) {
            Ok(Ok(())) => self.size = 0,
            Ok(Err(e)) => {
                self.report(&format!("rotation failed: {e}"));
                self.reopen();
            }
            Err(_) => {
                self.report("rotation failed");
                self.reopen();
            }
        }
        self.prune();
    }

    /// Remove the backups older than max_age.
    fn prune(&mut self) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let now = SystemTime::now();
        let mut removed = false;
        for p in inner.log_paths() {
            let old = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > self.max_age);
            if old && std::fs::remove_file(&p).is_ok() {
                removed = true;
            }
        }
        if removed {
            // file-rotate keeps its own list of backups: let it scan again.
            self.reopen();
        }
    }
}

impl Write for Rotating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size.saturating_add(buf.len() as u64) > self.max_bytes {
            self.rotate();
        }
        let Some(inner) = self.inner.as_mut() else {
            self.reopen();
            return Ok(buf.len());
        };
        match catch_unwind(AssertUnwindSafe(|| inner.write_all(buf))) {
            Ok(Ok(())) => {
                self.size = self.size.saturating_add(buf.len() as u64);
                self.reported = false;
            }
            Ok(Err(e)) => self.report(&format!("write failed: {e}")),
            Err(_) => {
                self.report("write failed");
                self.reopen();
            }
        }
        // The line is dealt with either way: an error here would only make
        // the logging thread retry a line that cannot be written.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path, max_size_mb: u64, backups: u64, compress: bool) -> FileLoggerOptions {
        FileLoggerOptions {
            log_output: dir.join("app.log").to_string_lossy().into_owned(),
            max_size_mb,
            max_age_days: 24,
            max_backups: backups,
            compress,
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_before_a_line_would_pass_max_size_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Rotating::open(&opts(dir.path(), 1, 2, false)).unwrap();
        // 1 MiB is 1024 lines of 1 KiB: 5000 lines make 4 full files and a
        // part; two backups stay.
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..5000 {
            r.write_all(line.as_bytes()).unwrap();
        }
        r.flush().unwrap();
        let names = files(dir.path());
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"app.log".to_string()));
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 1024 * 1024, "{n}: {len}");
            assert_eq!(len % 1024, 0, "{n}: a line was split");
        }
        // The backups are full files; the live file holds the rest.
        let live = std::fs::metadata(dir.path().join("app.log")).unwrap().len();
        assert_eq!(live, (5000 % 1024) * 1024);
    }

    #[test]
    fn compresses_backups_and_prunes_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        // An old backup from an earlier run, 30 days old.
        let old = dir.path().join("app.log.2020-01-01T00-00-00");
        std::fs::write(&old, "old\n").unwrap();
        let month = SystemTime::now() - Duration::from_secs(30 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(month)
            .unwrap();
        let mut r = Rotating::open(&opts(dir.path(), 1, 5, true)).unwrap();
        assert!(!old.exists(), "older than max_age: removed at start");
        let line = format!("{}\n", "y".repeat(1023));
        for _ in 0..1100 {
            r.write_all(line.as_bytes()).unwrap();
        }
        let names = files(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        let gz = names
            .iter()
            .find(|n| n.ends_with(".gz"))
            .expect("a gzip backup");
        assert!(gz.starts_with("app.log.20"), "{gz}");
        let bytes = std::fs::read(dir.path().join(gz)).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    }

    #[test]
    fn a_folder_removed_under_it_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("logs");
        let o = FileLoggerOptions {
            log_output: sub.join("x.log").to_string_lossy().into_owned(),
            ..opts(dir.path(), 1, 2, false)
        };
        let mut r = Rotating::open(&o).unwrap();
        r.write_all(b"one\n").unwrap();
        std::fs::remove_dir_all(&sub).unwrap();
        let line = format!("{}\n", "z".repeat(1023));
        for _ in 0..2100 {
            r.write_all(line.as_bytes()).unwrap();
        }
        assert!(sub.join("x.log").exists());
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_a_start_up_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app.log")).unwrap();
        let e = Rotating::open(&opts(dir.path(), 1, 2, false))
            .err()
            .expect("a folder is not a log file");
        assert!(e.contains("app.log"), "{e}");
    }
}
