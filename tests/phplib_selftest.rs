//! The PHP library's own self-test, php-sapi/php/selftest.php: the worker API
//! (Worker, HttpWorker, PSR7Worker) on stand-ins for the native functions
//! that must keep the real functions' signatures (compared here with those
//! of `rr php-cli`) and the server's behaviour, and the relay transport
//! against a fake server on a socket and on pipes.
//!
//! It runs twice:
//! * on the CLI of the PHP this server was built with
//!   (`$RR_PHP_PREFIX/bin/php`);
//! * on rr's own php-cli through a `php` hard link. The relay children it
//!   starts run on that link too, as process workers do in the container
//!   image. Neither has the rustrunner_* functions: they exist only in the
//!   worker threads of `rr serve`, which is where the real signatures come
//!   from (a worker running `selftest.php --native-signatures`).
//!
//! The PSR-7 part needs Debian's php-nyholm-psr7 (`make deps` installs it).
//! When /usr/share/php/Nyholm/Psr7/autoload.php exists nothing may be skipped;
//! otherwise the test says that the part was skipped and why.

mod common;

use common::RR;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SELFTEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/php-sapi/php/selftest.php");
const SHARE: &str = "/usr/share/php";

/// The signatures of the real native functions, as a worker thread of
/// `rr serve` sees them (the self-test's `--native-signatures` worker).
fn native_signatures() -> String {
    let a = common::App::new(
        "selftest-signatures",
        &format!(
            "version: \"3\"\nserver:\n  command: [\"php\", \"{SELFTEST}\", \"--native-signatures\"]\nhttp:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\n"
        ),
    );
    let mut s = a.serve();
    let r = s.get("/");
    s.stop();
    let out = r.text();
    assert_eq!(r.status, 200, "{out}");
    assert_eq!(
        out.lines().count(),
        4,
        "one line per native function: {out}"
    );
    out
}

/// Run the self-test with `php` and return its output; panics when it fails.
fn selftest(php: &Path) -> String {
    let o = Command::new(php)
        .arg("-n")
        .args(["-d", &format!("include_path=.:{SHARE}")])
        .arg(SELFTEST)
        .env("RUSTRUNNER_SELFTEST_NATIVE_SIGNATURES", native_signatures())
        .env_remove("RUSTRUNNER_WORKER_TRANSPORT")
        .env_remove("RR_RELAY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && out.contains("\nOK: "),
        "selftest.php on {} failed ({}):\n{out}\n{err}",
        php.display(),
        o.status
    );
    if Path::new(SHARE).join("Nyholm/Psr7/autoload.php").is_file() {
        assert!(!out.contains("SKIP"), "nothing may be skipped:\n{out}");
    } else {
        assert!(!out.contains("SKIP stand-in signatures"), "{out}");
        for line in out.lines().filter(|l| l.starts_with("SKIP")) {
            eprintln!("selftest.php on {}: {line}", php.display());
        }
    }
    out
}

#[test]
fn selftest_on_the_built_php_cli() {
    let php = Path::new(env!("RR_PHP_PREFIX")).join("bin/php");
    if !php.is_file() {
        eprintln!(
            "skipped: {} does not exist (PHP_CONFIG names a PHP built without its CLI); \
             selftest_on_rr_php_cli still runs",
            php.display()
        );
        return;
    }
    let out = selftest(&php);
    assert!(
        out.contains("which lacks the rustrunner_* functions"),
        "{out}"
    );
}

#[test]
fn selftest_on_rr_php_cli() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("phplib-selftest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let php = dir.join("php");
    if std::fs::hard_link(RR, &php).is_err() {
        std::fs::copy(RR, &php).unwrap();
    }
    let out = selftest(&php);
    assert!(
        out.contains("which lacks the rustrunner_* functions"),
        "rr php-cli has no worker functions:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
