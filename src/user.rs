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
/// them) to `who`, with no supplementary groups and no capabilities, then
/// prove it on every thread.
pub fn drop_process(who: &RunAs) -> Result<(), String> {
    let fail =
        |what: &str, e: nix::Error| format!("cannot switch to user {:?}: {what}: {e}", who.name);
    // A service manager's SecureBits=keep-caps would let capabilities
    // survive the uid change.
    nix::sys::prctl::set_keepcaps(false).map_err(|e| fail("prctl(PR_SET_KEEPCAPS, 0)", e))?;
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(Gid::from_raw(who.gid)).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(Uid::from_raw(who.uid)).map_err(|e| fail("setuid", e))?;
    if let Err(why) = verify_dropped(who) {
        // Never go on half-dropped.
        eprintln!(
            "rr: privileges were not dropped to {:?}: {why}; aborting",
            who.name
        );
        std::process::abort();
    }
    Ok(())
}

/// Every thread runs as `who` (all four uids and gids), with no
/// supplementary group and no capability, and root cannot be taken back.
/// glibc skips threads that are exiting; such a thread may still show the
/// old ids for a moment, so a mismatch is read again before it counts, and
/// threads that are gone or dead are skipped.
fn verify_dropped(who: &RunAs) -> Result<(), String> {
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err("setuid(0) still works".into());
    }
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    let mut seen = 0;
    for t in tasks.flatten() {
        let path = t.path().join("status");
        let mut verdict = thread_dropped(&path, who);
        for _ in 0..40 {
            if !matches!(verdict, Some(Err(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            verdict = thread_dropped(&path, who);
        }
        match verdict {
            None => {} // gone or dead
            Some(Ok(())) => seen += 1,
            Some(Err(e)) => return Err(e),
        }
    }
    if seen == 0 {
        return Err("no thread could be checked in /proc/self/task".into());
    }
    Ok(())
}

/// One thread's verdict; None when it is gone or a zombie.
fn thread_dropped(path: &Path, who: &RunAs) -> Option<Result<(), String>> {
    let status = std::fs::read_to_string(path).ok()?;
    let field = |name: &str| -> Vec<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    };
    if field("State:")
        .first()
        .is_some_and(|s| *s == "Z" || *s == "X")
    {
        return None;
    }
    let uid = who.uid.to_string();
    let gid = who.gid.to_string();
    let ids_ok = |v: Vec<&str>, want: &str| v.len() == 4 && v.iter().all(|x| *x == want);
    if !ids_ok(field("Uid:"), &uid) || !ids_ok(field("Gid:"), &gid) {
        return Some(Err(format!("{} still has other ids", path.display())));
    }
    if !field("Groups:").is_empty() {
        return Some(Err(format!(
            "{} still has supplementary groups",
            path.display()
        )));
    }
    for cap in ["CapPrm:", "CapEff:", "CapAmb:"] {
        if field(cap)
            .iter()
            .any(|v| !v.trim_start_matches('0').is_empty())
        {
            return Some(Err(format!(
                "{} still has capabilities ({cap})",
                path.display()
            )));
        }
    }
    Some(Ok(()))
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
fn mode_bits_access(who: &RunAs, path: &Path, need: Need) -> Result<(), String> {
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

/// [`mode_bits_access`], with the kernel's word when the mode bits say no:
/// `test(1)` run as the user sees ACLs too. (An ACL that denies what the
/// mode bits allow is not seen.)
pub fn check_access(who: &RunAs, path: &Path, need: Need) -> Result<(), String> {
    let verdict = mode_bits_access(who, path, need);
    if verdict.is_err() && kernel_allows(who, path, need) == Some(true) {
        return Ok(());
    }
    verdict
}

fn kernel_allows(who: &RunAs, path: &Path, need: Need) -> Option<bool> {
    let test = Path::new("/usr/bin/test");
    if !test.is_file() {
        return None;
    }
    // Absolute, so it never reads as an option or an operator.
    let Ok(full) = std::fs::canonicalize(path) else {
        return Some(false);
    };
    let flags: &[&str] = match need {
        Need::Read => &["-r"],
        Need::Execute => &["-x"],
        Need::ReadDir => &["-r", "-x"],
        Need::WriteDir => &["-w", "-x"],
    };
    for flag in flags {
        use std::os::unix::process::CommandExt;
        let status = std::process::Command::new(test)
            .arg(flag)
            .arg(&full)
            .uid(who.uid)
            .gid(who.gid)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return Some(false);
        }
    }
    Some(true)
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
/// plant or read files in it. Everything after the open goes through the
/// returned descriptor, so the path cannot be swapped in between.
pub fn private_dir(dir: &Path, owner: (u32, u32)) -> Result<std::os::fd::OwnedFd, String> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::DirBuilderExt;
    let show = dir.display();
    let created = match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(format!("cannot create {show}: {e}")),
    };
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| match e {
        nix::Error::ELOOP | nix::Error::ENOTDIR => {
            format!("{show} exists and is not a directory (or is a link); refusing to use it")
        }
        e => format!("cannot open {show}: {e}"),
    })?;
    let dir_file = std::fs::File::from(fd);
    if created {
        std::os::unix::fs::fchown(&dir_file, Some(owner.0), Some(owner.1))
            .map_err(|e| format!("cannot give {show} to uid {}: {e}", owner.0))?;
    }
    let meta = dir_file.metadata().map_err(|e| format!("{show}: {e}"))?;
    if meta.uid() != owner.0 {
        return Err(format!(
            "{show} belongs to uid {}, not {}; refusing to use it",
            meta.uid(),
            owner.0
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        dir_file
            .set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {show} private (0700): {e}"))?;
    }
    Ok(dir_file.into())
}

/// An existing directory chosen by the operator (links allowed), held open
/// so that later swaps of its path do not redirect the server.
pub fn open_dir(dir: &Path) -> Result<std::os::fd::OwnedFd, String> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("cannot open {}: {e}", dir.display()))
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

    #[test]
    fn private_dir_refuses_links_and_makes_what_it_keeps_0700() {
        let base = std::env::temp_dir().join(format!("rr-private-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let target = base.join("target");
        std::fs::create_dir_all(&target).unwrap();
        let link = base.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let me = current();
        let e = private_dir(&link, me).unwrap_err();
        assert!(e.contains("is a link"), "{e}");
        let open = base.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open, me).unwrap();
        let mode = std::fs::metadata(&open).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let e = private_dir(&open, (me.0 + 1, me.1)).unwrap_err();
        assert!(e.contains("belongs to uid"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
