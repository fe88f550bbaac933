//! A missing or wrongly built extension says what it is and where the
//! README tells how to get the right one (issue 14, item 3).

mod common;

use common::*;
use std::time::Duration;

#[test]
fn calling_a_missing_extension_logs_which_extension() {
    let a = php_app(
        "missing-ext",
        Api::Native,
        "containment.php",
        "    num_workers: 1\n",
        "",
    );
    let s = a.serve();
    assert_eq!(s.get("/missing-extension").status, 500);
    assert!(
        s.wait_log(
            "hint: ldap_connect() comes from the ldap extension",
            Duration::from_secs(5)
        ),
        "{}",
        s.log()
    );
}

#[test]
fn a_distribution_nts_extension_is_named_as_such() {
    // Debian's own extension packages are NTS builds (make's dependencies
    // install php8.2-common through the Symfony packages).
    let so = std::fs::read_dir("/usr/lib/php")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("ffi.so"))
        .find(|p| p.is_file());
    let Some(so) = so else {
        eprintln!("skipped: no Debian ffi.so under /usr/lib/php");
        return;
    };
    let a = php_app(
        "nts-ext",
        Api::Native,
        "containment.php",
        "    num_workers: 1\n",
        "",
    );
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
        .unwrap()
        .replace(
            "php containment.php",
            &format!("php -d extension={} containment.php", so.display()),
        );
    a.file(".rr.yaml", &yaml);
    let s = a.serve();
    assert!(
        s.log()
            .contains("rustrunner: that extension was not built for this PHP"),
        "{}",
        s.log()
    );
    assert_eq!(s.get("/").status, 200, "the server still serves");
}

/// issue 16: what a worker logs keeps its level: a logger's lines on STDERR
/// by their level, error_log() at INFO (as RoadRunner logs a worker's
/// STDERR), not everything as WARN.
#[test]
fn worker_log_lines_keep_their_level() {
    let a = php_app(
        "log-levels",
        Api::Native,
        "containment.php",
        "    num_workers: 1\n",
        "",
    );
    let s = a.serve();
    assert_eq!(s.get("/log-levels").status, 200);
    assert!(s.wait_log("symfony logger info line", Duration::from_secs(5)));
    let log = s.log();
    let level_of = |needle: &str| {
        let line = log
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not logged:\n{log}"));
        ["ERROR", "WARN", "INFO", "DEBUG"]
            .into_iter()
            .find(|lvl| line.contains(&format!(" {lvl} ")))
            .unwrap_or("?")
    };
    assert_eq!(level_of("monolog error line"), "ERROR");
    assert_eq!(level_of("symfony logger warning line"), "WARN");
    assert_eq!(level_of("symfony logger info line"), "INFO");
    assert_eq!(level_of("plain error_log line"), "INFO");
}
