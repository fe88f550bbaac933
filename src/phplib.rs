//! The server's own PHP library (php-sapi/php/), embedded in the binary and
//! written once to a private directory so OPcache can cache it like any file.

use std::io::Write;
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/phplib.rs"));

/// Write the library (if not already there) and return its directory.
/// `shared`: workers run as another user (`server.user`), who must be able
/// to read it: it then lives under the system temp dir (not a per-user
/// runtime dir), readable but still writable by this user only.
pub fn install(shared: bool) -> std::io::Result<PathBuf> {
    let mut h = crc32fast::Hasher::new();
    for (name, data) in FILES {
        h.update(name.as_bytes());
        h.update(data);
    }
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| !shared && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // Per uid, not per $USER: in a container without USER, root and the
    // app's user must not share (and fight over) one 0700 directory.
    let uid = nix::unistd::geteuid().as_raw();
    // The folder is checked (ours, a real dir, nobody else may write) before
    // anything in it is trusted: its files become every worker's
    // auto_prepend_file. When somebody else took the name, a fresh one.
    let mut root = base.join(format!("rustrunner-{uid}"));
    if let Err(e) = create_private_dir(&root) {
        let alt = (0..8)
            .map(|_| base.join(format!("rustrunner-{uid}-{:08x}", fastrand::u32(..))))
            .find(|alt| !alt.exists() && create_private_dir(alt).is_ok())
            .ok_or(e)?;
        tracing::warn!(
            "{}: taken by somebody else; the PHP library goes to {} instead",
            root.display(),
            alt.display()
        );
        root = alt;
    }
    let dir = root.join(format!("lib-{:08x}", h.finalize()));
    if dir.join(".complete").exists() {
        if shared {
            share(&root, &dir)?;
        }
        return Ok(dir);
    }
    let tmp = root.join(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    create_private_dir(&tmp)?;
    for (name, data) in FILES {
        let p = tmp.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::create(&p)?.write_all(data)?;
    }
    std::fs::File::create(tmp.join(".complete"))?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => {}
        Err(_) if dir.join(".complete").exists() => {
            // Another server won the race with identical files.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => return Err(e),
    }
    if shared {
        share(&root, &dir)?;
    }
    Ok(dir)
}

/// Let other users read the library: its folders 0755 (the per-uid root
/// only 0711, nothing to list there), its files 0644. Only the owner writes.
fn share(root: &std::path::Path, dir: &std::path::Path) -> std::io::Result<()> {
    use std::fs::{set_permissions, Permissions};
    use std::os::unix::fs::PermissionsExt;
    set_permissions(root, Permissions::from_mode(0o711))?;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        set_permissions(&d, Permissions::from_mode(0o755))?;
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                todo.push(entry.path());
            } else {
                set_permissions(entry.path(), Permissions::from_mode(0o644))?;
            }
        }
    }
    Ok(())
}

fn create_private_dir(p: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(p)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(p)?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || me != meta.uid() || meta.permissions().mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a private directory of this user; refusing to load PHP code from it",
            p.display()
        )));
    }
    Ok(())
}
