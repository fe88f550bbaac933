//! `server.user` and `server.on_init.user`: who runs the PHP code.
//!
//! RoadRunner starts each worker process as that user (uid and the user's
//! primary gid, no supplementary groups) while `rr` itself stays root. Process
//! workers here do exactly that. Thread workers are threads of this process
//! and share its uid, so with `server.user` the whole server drops to that
//! user once its listeners are bound and `on_init` has run: PHP never runs as
//! root, and nothing the server does after start-up needs root.
//!
//! Before any of that, the start-up checks that the user can reach what it
//! needs (the worker's directory and script, the program, the server's PHP
//! library, the uploads dir), so a permission problem is one clear error at
//! start and not a worker that keeps failing.

use nix::unistd::{Gid, Uid};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A user the workers run as.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    /// The user's primary group (RoadRunner ignores `server.group`).
    pub gid: u32,
}

/// Look `name` up. `Ok(None)`: nothing to change (empty, or the server
/// already runs as that user). An unknown user, or a different user while
/// the server is not root, is an error naming the problem.
pub fn resolve(name: &str) -> Result<Option<RunAs>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let user = match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(format!("no user named {name:?} on this system")),
        Err(e) => return Err(format!("cannot look up user {name:?}: {e}")),
    };
    let me = nix::unistd::geteuid();
    if user.uid == me {
        return Ok(None);
    }
    if !me.is_root() {
        return Err(format!(
            "running workers as {name:?} needs rr to start as root (it runs as uid {me}); \
             remove the key or start rr as {name:?}"
        ));
    }
    Ok(Some(RunAs {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }))
}

/// Drop the whole process (every thread: glibc applies set*id to all of
/// them) to `who`, with no supplementary groups, then prove root is gone.
pub fn drop_process(who: &RunAs) -> Result<(), String> {
    let fail =
        |what: &str, e: nix::Error| format!("cannot switch to user {:?}: {what}: {e}", who.name);
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(Gid::from_raw(who.gid)).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(Uid::from_raw(who.uid)).map_err(|e| fail("setuid", e))?;
    if nix::unistd::geteuid().as_raw() != who.uid
        || nix::unistd::getegid().as_raw() != who.gid
        || nix::unistd::setuid(Uid::from_raw(0)).is_ok()
    {
        // Never go on half-dropped.
        eprintln!(
            "rr: privileges were not dropped to {:?}; aborting",
            who.name
        );
        std::process::abort();
    }
    Ok(())
}

/// What a user needs to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Execute,
    /// A directory to list and read files from.
    ReadDir,
    /// A directory to create files in.
    WriteDir,
}

/// Can `who` (its uid and primary gid only, as the workers will run) do
/// `need` with `path`? Walks every directory on the way, by mode bits (ACLs
/// are not read). The error names the first path in the way.
pub fn check_access(who: &RunAs, path: &Path, need: Need) -> Result<(), String> {
    let full = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut walked = PathBuf::from("/");
    for part in full.components().skip(1) {
        let meta = std::fs::metadata(&walked).map_err(|e| format!("{}: {e}", walked.display()))?;
        if !allows(who, &meta, 0o1) {
            return Err(denied(who, &walked, &meta, "cannot enter"));
        }
        walked.push(part);
    }
    let meta = std::fs::metadata(&full).map_err(|e| format!("{}: {e}", full.display()))?;
    let (bits, verb) = match need {
        Need::Read => (0o4, "cannot read"),
        Need::Execute => (0o1, "cannot execute"),
        Need::ReadDir => (0o5, "cannot read"),
        Need::WriteDir => (0o3, "cannot create files in"),
    };
    if !allows(who, &meta, bits) {
        return Err(denied(who, &full, &meta, verb));
    }
    Ok(())
}

/// The permission bits (`rwx` as 0o7) that apply to `who` on `meta`.
fn allows(who: &RunAs, meta: &std::fs::Metadata, bits: u32) -> bool {
    if who.uid == 0 {
        return true;
    }
    let mode = meta.permissions().mode();
    let class = if meta.uid() == who.uid {
        mode >> 6
    } else if meta.gid() == who.gid {
        mode >> 3
    } else {
        mode
    };
    class & bits == bits
}

fn denied(who: &RunAs, path: &Path, meta: &std::fs::Metadata, verb: &str) -> String {
    format!(
        "user {:?} (uid {}, gid {}) {verb} {}: it is mode {:o}, owned by uid {} gid {}",
        who.name,
        who.uid,
        who.gid,
        path.display(),
        meta.permissions().mode() & 0o7777,
        meta.uid(),
        meta.gid()
    )
}

/// Make `dir` a private directory of `owner` (uid, gid): created mode 0700
/// if missing, else it must be a real directory (not a link) owned by that
/// uid; it is then set to 0700. Anything else is refused, so nobody else can
/// plant or read files in it.
pub fn private_dir(dir: &Path, owner: (u32, u32)) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    let show = dir.display();
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            std::os::unix::fs::lchown(dir, Some(owner.0), Some(owner.1))
                .map_err(|e| format!("cannot give {show} to uid {}: {e}", owner.0))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {show}: {e}")),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{show}: {e}"))?;
    if !meta.is_dir() {
        return Err(format!("{show} exists and is not a directory"));
    }
    if meta.uid() != owner.0 {
        return Err(format!(
            "{show} belongs to uid {}, not {}; refusing to use it",
            meta.uid(),
            owner.0
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {show} private (0700): {e}"))?;
    }
    Ok(())
}

/// The uid and primary gid this process runs as.
pub fn current() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nobody() -> RunAs {
        RunAs {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
        }
    }

    #[test]
    fn unknown_user_is_named() {
        let e = resolve("no-such-user-rustrunner").unwrap_err();
        assert!(
            e.contains("no user named \"no-such-user-rustrunner\""),
            "{e}"
        );
    }

    #[test]
    fn empty_and_own_user_change_nothing() {
        assert!(resolve("").unwrap().is_none());
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap();
        assert!(resolve(&me.name).unwrap().is_none());
    }

    #[test]
    fn access_walks_every_directory() {
        let base = std::env::temp_dir().join(format!("rr-user-test-{}", std::process::id()));
        let inner = base.join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(inner.join("f.php"), "<?php").unwrap();
        for d in [&base, &base.join("a"), &inner] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(inner.join("f.php"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let who = nobody();
        check_access(&who, &inner.join("f.php"), Need::Read).unwrap();
        assert!(check_access(&who, &inner, Need::WriteDir).is_err());
        std::fs::set_permissions(base.join("a"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = check_access(&who, &inner.join("f.php"), Need::Read).unwrap_err();
        assert!(e.contains("cannot enter") && e.contains("/a:"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
