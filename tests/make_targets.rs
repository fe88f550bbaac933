//! The make targets the README names, run as written (from the repository
//! root) with the suite's own `rr` and free ports: `make serve`,
//! `make serve-symfony` (each until it answers 200, then SIGINT to make and
//! rr, as Ctrl-C), and `make install` into a temporary DESTDIR.
//!
//! `RR=<the test binary> RR_BUILD=` skips the release build the targets do
//! first; `SERVE_FLAGS` adds `-o` overrides for the ports. Everything else
//! (the vendor targets, the `-c` path, the working directory) is the
//! target's own recipe.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rr-make-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn have_make() -> bool {
    Command::new("make")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `make -s <target> RR=... RR_BUILD= SERVE_FLAGS=<flags>` in its own
/// process group, wait until `http://127.0.0.1:port<path>` answers 200 with
/// `want` in the body, then SIGINT the group (what Ctrl-C does) and wait for it to exit.
// Every path waits for the child (try_wait or wait); clippy cannot see it.
#[allow(clippy::zombie_processes)]
fn serve_target(target: &str, flags: &str, port: u16, path: &str, want: &str) {
    let dir = tmpdir(target);
    let log = dir.join("make.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("make")
        .args([
            "-s",
            target,
            &format!("RR={RR}"),
            "RR_BUILD=",
            &format!("SERVE_FLAGS={flags}"),
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let start = Instant::now();
    let mut answered = None;
    while start.elapsed() < Duration::from_secs(120) {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("make {target} exited early ({st}):\n{}", read_log());
        }
        if let Ok(r) = ureq::get(&format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(30))
            .call()
        {
            answered = Some((r.status(), r.into_string().unwrap_or_default()));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Ctrl-C in a terminal: SIGINT to the foreground process group.
    let _ = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status();
    let mut code = None;
    let stop = Instant::now();
    while stop.elapsed() < Duration::from_secs(30) {
        if let Some(st) = child.try_wait().unwrap() {
            code = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if code.is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = child.wait();
    }
    let (status, body) =
        answered.unwrap_or_else(|| panic!("no answer on :{port}:\n{}", read_log()));
    assert_eq!(status, 200, "{body}\n{}", read_log());
    assert!(body.contains(want), "{body}\n{}", read_log());
    assert!(
        code.is_some(),
        "make {target} did not stop on SIGINT (Ctrl-C):\n{}",
        read_log()
    );
    // Nothing is left listening.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "rr still listens after make {target} stopped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn make_serve_answers_and_stops() {
    if !have_make() {
        eprintln!("skipped: make is not installed");
        return;
    }
    let port = free_port();
    serve_target(
        "serve",
        &format!("-o http.address=127.0.0.1:{port}"),
        port,
        "/",
        "Hello from RoadRunner!",
    );
}

#[test]
fn make_serve_symfony_answers_and_stops() {
    if !have_make() {
        eprintln!("skipped: make is not installed");
        return;
    }
    // The prod config warms Symfony's cache into the episode's var/ (the
    // target serves the episode in place): remove it afterwards unless it
    // was there before.
    let var = root().join("episodes/1-symfony-integration/app/var");
    let had_var = var.exists();
    let port = free_port();
    let rpc = free_port();
    serve_target(
        "serve-symfony",
        &format!("-o http.address=127.0.0.1:{port} -o rpc.listen=tcp://127.0.0.1:{rpc}"),
        port,
        "/test",
        "Hello from Symfony + RoadRunner!",
    );
    if !had_var {
        let _ = std::fs::remove_dir_all(&var);
    }
}

fn inode(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .ino()
}

#[test]
fn make_install_puts_rr_and_php_on_path() {
    if !have_make() {
        eprintln!("skipped: make is not installed");
        return;
    }
    let dest = tmpdir("install");
    let out = Command::new("make")
        .args([
            "-s",
            "install",
            &format!("RR={RR}"),
            "RR_BUILD=",
            &format!("DESTDIR={}", dest.display()),
            "PREFIX=/opt/rr",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = dest.join("opt/rr/bin");
    assert_eq!(
        inode(&bin.join("rr")),
        inode(&bin.join("php")),
        "php is a hard link to rr"
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let v = Command::new("rr")
        .arg("--version")
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");
    let php = Command::new("php")
        .args(["-r", "echo PHP_SAPI, ' ', PHP_BINARY;"])
        .env("PATH", &path)
        .env_remove("RR_PHP_BINARY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&php.stdout);
    assert!(php.status.success(), "{php:?}");
    assert_eq!(
        text,
        format!("cli {}", bin.join("php").display()),
        "`php` on PATH is the installed rr php-cli"
    );
    let _ = std::fs::remove_dir_all(&dest);
}

/// Every `make <target>` the README names is a target of the Makefile whose
/// recipe make accepts (`make -n`: nothing runs). serve, serve-symfony and
/// install run for real above; dist runs in tests/dist.rs (with root and
/// debootstrap); test is the suite itself; bench is a long benchmark run
/// (bench/run.py), only dry-run here.
#[test]
fn readme_make_targets_exist() {
    if !have_make() {
        eprintln!("skipped: make is not installed");
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut targets: Vec<String> = readme
        .split("`make ")
        .skip(1)
        .filter_map(|rest| {
            let t: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!t.is_empty()).then_some(t)
        })
        .collect();
    targets.sort();
    targets.dedup();
    for want in ["serve", "serve-symfony", "test", "install", "dist"] {
        assert!(
            targets.iter().any(|t| t == want),
            "README names make {want}"
        );
    }
    for t in &targets {
        let out = Command::new("make")
            .args(["-n", t, "RR_BUILD=", &format!("RR={RR}")])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make -n {t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
