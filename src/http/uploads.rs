//! multipart/form-data: fields into RoadRunner's data tree, files streamed
//! to temporary files in `http.uploads.dir` (never held whole in memory),
//! described by RoadRunner's upload tree (contract.md §3.4). The files are
//! deleted when the [`UploadGuard`] drops, which is after the response.

use super::body::BoxError;
use super::request::{fetch_indexes, form_tree};
use crate::config::http::UploadsConfig;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Deletes the request's temporary files when dropped.
#[derive(Default)]
pub struct UploadGuard {
    /// Each file, with the uploads dir it was made in (held open: names
    /// are removed relative to it).
    files: Vec<(PathBuf, Option<Arc<OwnedFd>>)>,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        for (p, dir) in &self.files {
            let res = match (dir, p.file_name()) {
                (Some(dir), Some(name)) => {
                    nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
                        .map_err(std::io::Error::from)
                }
                _ => std::fs::remove_file(p),
            };
            if let Err(e) = res {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), "cannot delete an uploaded file: {e}");
                }
            }
        }
    }
}

#[derive(Debug)]
pub enum FormError {
    TooLarge,
    TimedOut,
    /// Malformed multipart, conflicting names, a body read error.
    Bad(String),
}

pub struct Parsed {
    /// The data tree (JSON object) of the non-file fields.
    pub data: Value,
    /// JSON text of the upload tree.
    pub uploads: String,
    pub guard: UploadGuard,
}

fn classify(e: &(dyn std::error::Error + 'static)) -> Option<FormError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if x.is::<http_body_util::LengthLimitError>() {
            return Some(FormError::TooLarge);
        }
        if x.is::<super::body::ReadTimedOut>() {
            return Some(FormError::TimedOut);
        }
        cur = x.source();
    }
    None
}

fn multer_error(e: multer::Error) -> FormError {
    if let multer::Error::StreamReadFailed(inner) = &e {
        if let Some(c) = classify(inner.as_ref()) {
            return c;
        }
    }
    FormError::Bad(e.to_string())
}

pub async fn parse<S>(stream: S, boundary: String, cfg: &UploadsConfig) -> Result<Parsed, FormError>
where
    S: futures_util::Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
{
    let dir = cfg.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut files: Vec<(String, Value)> = Vec::new();
    let mut guard = UploadGuard::default();
    while let Some(mut field) = mp.next_field().await.map_err(multer_error)? {
        // multer reads a name or filename that is not UTF-8 as absent (a
        // file would become a field): refuse the part instead, the client's
        // error (NUL bytes already fail multer's header parsing).
        if field
            .headers()
            .get(hyper::header::CONTENT_DISPOSITION)
            .is_some_and(|v| std::str::from_utf8(v.as_bytes()).is_err())
        {
            return Err(FormError::Bad(
                "invalid UTF-8 in a part's Content-Disposition".into(),
            ));
        }
        let name = field.name().unwrap_or("").to_string();
        let Some(file_name) = field.file_name().map(str::to_string) else {
            let mut v = Vec::new();
            while let Some(c) = field.chunk().await.map_err(multer_error)? {
                v.extend_from_slice(&c);
            }
            fields.push((name, String::from_utf8_lossy(&v).into_owned()));
            continue;
        };
        let mime = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let ext = Path::new(&file_name)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
            .unwrap_or_default();
        let forbidden =
            cfg.forbid.contains(&ext) || (!cfg.allow.is_empty() && !cfg.allow.contains(&ext));
        let (error, size, tmp) = if forbidden {
            while field.chunk().await.map_err(multer_error)?.is_some() {}
            (8, 0u64, String::new())
        } else {
            match create_temp(&dir, cfg.dir_fd.clone(), cfg.owner).await {
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot create an upload file: {e}");
                    while field.chunk().await.map_err(multer_error)?.is_some() {}
                    (6, 0, String::new())
                }
                Ok((path, mut file, dir_fd)) => {
                    guard.files.push((path.clone(), dir_fd));
                    let mut size = 0u64;
                    let mut failed = false;
                    while let Some(c) = field.chunk().await.map_err(multer_error)? {
                        if failed {
                            continue;
                        }
                        size += c.len() as u64;
                        if file.write_all(&c).await.is_err() {
                            failed = true;
                        }
                    }
                    if file.flush().await.is_err() {
                        failed = true;
                    }
                    if failed {
                        (7, size, path.to_string_lossy().into_owned())
                    } else {
                        (0, size, path.to_string_lossy().into_owned())
                    }
                }
            }
        };
        let mut d = Map::new();
        d.insert("name".into(), Value::String(file_name));
        d.insert("mime".into(), Value::String(mime));
        d.insert("size".into(), Value::from(size));
        d.insert("error".into(), Value::from(error));
        d.insert("tmpName".into(), Value::String(tmp));
        files.push((name, Value::Object(d)));
    }
    let data = form_tree(&fields).map_err(FormError::Bad)?;
    let uploads = upload_tree(files).map_err(FormError::Bad)?;
    Ok(Parsed {
        data,
        uploads: uploads.to_string(),
        guard,
    })
}

/// A new `upload*` file in the uploads dir, 0600 (given to `owner` when
/// set), with the dir it was made in.
async fn create_temp(
    dir: &Path,
    mut dir_fd: Option<Arc<OwnedFd>>,
    owner: Option<(u32, u32)>,
) -> std::io::Result<(PathBuf, tokio::fs::File, Option<Arc<OwnedFd>>)> {
    let mut remade = false;
    let mut tries = 0;
    while tries < 16 {
        tries += 1;
        // (Names need only be unlikely to clash: O_EXCL|O_NOFOLLOW below
        // makes a guessed one harmless.)
        let name = format!("upload{}", fastrand::u64(..10_000_000_000));
        let path = dir.join(&name);
        let opened = match &dir_fd {
            // Relative to the dir opened at start: a swap of its path (or of
            // a parent) for a link cannot send the file elsewhere.
            Some(fd) => {
                use nix::fcntl::OFlag;
                nix::fcntl::openat(
                    fd,
                    name.as_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                )
                .map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)))
                .map_err(std::io::Error::from)
            }
            None => {
                tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600) // readable by the server's user only
                    .open(&path)
                    .await
            }
        };
        match opened {
            Ok(f) => {
                if let Some((uid, gid)) = owner {
                    // Still 0600: readable by the worker's user only.
                    if let Err(e) = std::os::unix::fs::fchown(&f, Some(uid), Some(gid)) {
                        drop(UploadGuard {
                            files: vec![(path, dir_fd)],
                        });
                        return Err(e);
                    }
                }
                return Ok((path, f, dir_fd));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir_fd.is_some() && !remade => {
                // A temp cleaner removed the (idle) dir the server holds.
                remade = true;
                tries -= 1;
                dir_fd = Some(Arc::new(remake_dir(dir, owner)?));
                tracing::info!(dir = %dir.display(), "the uploads dir was gone; made it again (0700)");
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

/// The uploads dir again, private as at start: created 0700 (given to
/// `owner`), never through a link, and only used when it belongs to the
/// workers' user.
fn remake_dir(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let created = match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e),
    };
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let f = std::fs::File::from(fd);
    if let (true, Some((uid, gid))) = (created, owner) {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    let meta = f.metadata()?;
    let want = owner.map_or_else(|| nix::unistd::geteuid().as_raw(), |(uid, _)| uid);
    if meta.uid() != want || meta.permissions().mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is no longer a private dir of uid {want}",
            dir.display()
        )));
    }
    Ok(f.into())
}

/// RoadRunner's upload tree: `file` → the first file of that name, `f[]` →
/// every file of that name, `doc[a][b]` → nested objects.
pub fn upload_tree(files: Vec<(String, Value)>) -> Result<Value, String> {
    // Indexed grouping (a linear search was quadratic in the number of names).
    let mut grouped: Vec<(String, Vec<Value>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (k, v) in files {
        match index.get(&k) {
            Some(&i) => grouped[i].1.push(v),
            None => {
                index.insert(k.clone(), grouped.len());
                grouped.push((k, vec![v]));
            }
        }
    }
    let mut root = Map::new();
    for (k, vals) in grouped {
        let keys = fetch_indexes(&k);
        if keys.len() <= 127 {
            mount(&mut root, &keys, vals)?;
        }
    }
    Ok(Value::Object(root))
}

fn mount(d: &mut Map<String, Value>, keys: &[String], mut vals: Vec<Value>) -> Result<(), String> {
    if keys.len() == 1 {
        d.insert(keys[0].clone(), vals.swap_remove(0));
        return Ok(());
    }
    if keys.len() == 2 && keys[1].is_empty() {
        d.insert(keys[0].clone(), Value::Array(vals));
        return Ok(());
    }
    let entry = d
        .entry(keys[0].clone())
        .or_insert_with(|| Value::Object(Map::new()));
    match entry {
        Value::Object(m) if !m.contains_key("tmpName") => mount(m, &keys[1..], vals),
        _ => Err(format!("invalid multiple values to key {:?}", keys[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_shapes() {
        let f = |n: &str| serde_json::json!({"name": n, "tmpName": "/t"});
        let t = upload_tree(vec![
            ("a".into(), f("1")),
            ("a".into(), f("2")),
            ("m[]".into(), f("3")),
            ("m[]".into(), f("4")),
            ("d[x][y]".into(), f("5")),
        ])
        .unwrap();
        assert_eq!(t["a"]["name"], "1");
        assert_eq!(t["m"][1]["name"], "4");
        assert_eq!(t["d"]["x"]["y"]["name"], "5");
    }
}
