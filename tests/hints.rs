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
