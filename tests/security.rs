//! Security defaults (issue 9): upload files readable by the server's user
//! only, static never serves dot files nor lists directories, the `Server`
//! header is configurable and absent by default.

mod common;

use common::*;

fn app(name: &str, extra: &str) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php security.php\"\nhttp:\n  address: 127.0.0.1:{{port}}\n{extra}  pool:\n    num_workers: 1\nlogs:\n  mode: development\n  level: debug\n"
    );
    let a = App::new(name, &yaml);
    a.fixture("security.php");
    a
}

#[test]
fn uploaded_files_are_private() {
    let a = app("sec-uploads", "  uploads:\n    dir: up\n");
    std::fs::create_dir_all(a.dir.join("up")).unwrap();
    let mut s = a.serve();
    let body = b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nsecret\r\n--B--\r\n";
    let r = s.post("/up", "multipart/form-data; boundary=B", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["modes"],
        serde_json::json!(["600"]),
        "{}",
        r.text()
    );
    s.stop();
}

#[test]
fn static_never_serves_dot_files_or_directories() {
    let a = app(
        "sec-static",
        "  middleware: [static]\n  static:\n    dir: public\n    forbid: [.php]\n",
    );
    for (f, body) in [
        ("public/ok.txt", "visible"),
        ("public/.env.txt", "SECRET=1"),
        ("public/.env", "SECRET=2"),
        ("public/.git/config.json", "{\"secret\":3}"),
        ("public/sub/.hidden.css", "secret4"),
        ("public/dir.d/inner.txt", "x"),
        ("public/code.php", "<?php secret5"),
    ] {
        a.file(f, body);
    }
    let mut s = a.serve();
    assert_eq!(s.get("/ok.txt").text(), "visible");
    for path in [
        "/.env.txt",
        "/.env",
        "/.git/config.json",
        "/%2egit/config.json",
        "/sub/.hidden.css",
        "/sub/%2Ehidden.css",
        "/dir.d",
        "/dir.d/",
        "/code.php",
        "/",
    ] {
        let r = s.get(path);
        let t = r.text();
        assert!(
            t.contains("\"php\""),
            "{path}: served from disk instead of PHP: {} {t}",
            r.status
        );
        assert!(
            !t.contains("secret") && !t.contains("SECRET") && !t.contains("inner.txt"),
            "{path}: {t}"
        );
    }
    s.stop();
}

#[test]
fn server_header_is_configurable() {
    let a = app(
        "sec-server-default",
        "  middleware: [static]\n  static:\n    dir: public\n",
    );
    a.file("public/s.txt", "static");
    let mut s = a.serve();
    assert_eq!(
        s.get("/x").header("server"),
        None,
        "no Server header by default"
    );
    assert_eq!(s.get("/s.txt").header("server"), None);
    s.stop();

    let a = app(
        "sec-server-set",
        "  server_header: \"rustrunner\"\n  middleware: [static]\n  static:\n    dir: public\n",
    );
    a.file("public/s.txt", "static");
    let mut s = a.serve();
    assert_eq!(s.get("/x").header("server"), Some("rustrunner"));
    assert_eq!(s.get("/s.txt").header("server"), Some("rustrunner"));
    // 400s made before PHP carry it too
    let raw = raw(s.port, b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("server: rustrunner"),
        "{raw}"
    );
    s.stop();

    let a = app("sec-server-bad", "  server_header: \"a\\nb\"\n");
    let (code, out) = a.run(&["serve"], std::time::Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("http.server_header"), "{out}");
}

/// nobody's uid and primary gid, from /etc/passwd.
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("a nobody user");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// Real, effective, saved and fs uid (or gid) of a process, from /proc.
fn proc_ids(pid: u32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

fn is_root() -> bool {
    proc_ids(std::process::id(), "Uid")[1] == 0
}

/// Tests of switching users need root (this machine's CI runs as root).
/// Without it they are skipped with a word, unless RR_TESTS_AS_ROOT=1 makes
/// that a failure.
fn need_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("RR_TESTS_AS_ROOT").as_deref() != Ok("1"),
        "RR_TESTS_AS_ROOT=1 but the tests do not run as root: the server.user tests switch users"
    );
    eprintln!("skipped: server.user needs the tests to run as root");
    false
}

/// The `rr` binary where any user can run it (the build tree may sit in a
/// private home): a link or copy named `php`, which runs `rr php-cli`.
fn public_rr(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if std::fs::hard_link(RR, &p).is_err() {
        std::fs::copy(RR, &p).unwrap();
    }
    p
}

fn user_app(name: &str, server: &str) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n{server}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\nlogs:\n  mode: development\n  level: debug\n"
    );
    let a = App::new(name, &yaml);
    a.fixture("security.php");
    a
}

const UPLOAD: &[u8] =
    b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nsecret\r\n--B--\r\n";

#[test]
fn server_user_runs_thread_workers_and_the_server_as_that_user() {
    if !need_root() {
        return;
    }
    let (uid, gid) = nobody();
    // on_init without its own user runs as rr (root), before the drop.
    let a = user_app(
        "sec-user-thread",
        "  command: \"php security.php\"\n  user: nobody\n  on_init:\n    command: \"id -u\"\n",
    );
    let mut s = a.serve();
    let r = s.post("/up", "multipart/form-data; boundary=B", UPLOAD);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let u = uid.to_string();
    let g = gid.to_string();
    assert_eq!(j["ids"]["Uid"], serde_json::json!([u, u, u, u]), "{j}");
    assert_eq!(j["ids"]["Gid"], serde_json::json!([g, g, g, g]), "{j}");
    assert_eq!(j["ids"]["Groups"], serde_json::json!([]), "{j}");
    // The server itself dropped root, on every thread, with no capability.
    for task in std::fs::read_dir(format!("/proc/{}/task", s.pid())).unwrap() {
        // A thread may end between the listing and the read.
        let Ok(status) = std::fs::read_to_string(task.unwrap().path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or("0000000000000000") // no CapAmb before Linux 4.3
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(field("Uid:"), vec![u.clone(); 4], "{status}");
        assert_eq!(field("Gid:"), vec![g.clone(); 4], "{status}");
        assert!(field("Groups:").is_empty(), "{status}");
        for cap in ["CapPrm:", "CapEff:", "CapAmb:"] {
            assert_eq!(field(cap), vec!["0000000000000000"], "{cap} {status}");
        }
    }
    // Uploads: a private dir of the worker's user, private files it can read.
    assert_eq!(j["modes"], serde_json::json!(["600"]), "{j}");
    assert_eq!(j["dirs"], serde_json::json!(["700"]), "{j}");
    assert_eq!(j["owners"], serde_json::json!([uid]), "{j}");
    assert_eq!(j["contents"], serde_json::json!(["secret"]), "{j}");
    // on_init ran before the server dropped root.
    let log = s.log();
    assert!(
        log.lines()
            .any(|l| l.contains("on_init") && l.contains(" 0 ")),
        "{log}"
    );
    s.stop();
}

#[test]
fn server_user_runs_process_workers_as_that_user() {
    if !need_root() {
        return;
    }
    let (uid, gid) = nobody();
    for relay in ["", "  relay: \"unix://rr-relay.sock\"\n"] {
        let a = App::new("sec-user-process-probe", "version: \"3\"\n");
        let php = public_rr(&a.dir, "php");
        let a = user_app(
            "sec-user-process",
            &format!(
                "  command: \"{} security.php\"\n  executor: process\n  user: nobody\n{relay}  on_init:\n    command: \"id -u\"\n    user: nobody\n",
                php.display()
            ),
        );
        let mut s = a.serve();
        let r = s.post("/up", "multipart/form-data; boundary=B", UPLOAD);
        assert_eq!(r.status, 200, "{relay}: {}", r.text());
        let j = r.json();
        let u = uid.to_string();
        let g = gid.to_string();
        assert_eq!(j["ids"]["Uid"], serde_json::json!([u, u, u, u]), "{j}");
        assert_eq!(j["ids"]["Gid"], serde_json::json!([g, g, g, g]), "{j}");
        assert_eq!(j["ids"]["Groups"], serde_json::json!([]), "{j}");
        // RoadRunner's model: the server stays root, its children do not.
        assert_eq!(proc_ids(s.pid(), "Uid")[1], 0);
        let kids = children_of(s.pid());
        assert!(!kids.is_empty());
        for k in kids {
            assert_eq!(proc_ids(k, "Uid"), vec![uid; 4], "worker {k}");
        }
        // on_init ran as its own user.
        let log = s.log();
        assert!(
            log.contains(&format!("php: {u} stream=\"on_init\"")),
            "{log}"
        );
        // Upload files are given to the worker's user, still 0600.
        assert_eq!(j["modes"], serde_json::json!(["600"]), "{j}");
        assert_eq!(j["owners"], serde_json::json!([uid]), "{j}");
        assert_eq!(j["contents"], serde_json::json!(["secret"]), "{j}");
        s.stop();
    }
}

#[test]
fn server_user_problems_are_config_errors_at_start() {
    // An unknown user, and a bad on_init.user, name the key.
    for (server, key, says) in [
        (
            "  command: \"php security.php\"\n  user: no-such-user-rr\n",
            "server.user",
            "no user named \"no-such-user-rr\"",
        ),
        (
            "  command: \"php security.php\"\n  on_init:\n    command: \"true\"\n    user: no-such-user-rr\n",
            "server.on_init.user",
            "no user named",
        ),
    ] {
        let a = user_app("sec-user-bad", server);
        let (code, out) = a.run(&["serve"], std::time::Duration::from_secs(30));
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains(key) && out.contains(says), "{out}");
    }
    if !need_root() {
        return;
    }
    // The user cannot reach the app: one error naming the directory, before
    // any worker starts.
    use std::os::unix::fs::PermissionsExt;
    let a = user_app(
        "sec-user-noaccess",
        "  command: \"php security.php\"\n  user: nobody\n",
    );
    let app_dir = a.dir.join("app");
    std::fs::create_dir(&app_dir).unwrap();
    std::fs::rename(a.dir.join("security.php"), app_dir.join("security.php")).unwrap();
    std::fs::rename(a.dir.join(".rr.yaml"), app_dir.join(".rr.yaml")).unwrap();
    std::fs::set_permissions(&app_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (code, out) = a.run(
        &["serve", "-c", "app/.rr.yaml"],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("server.user")
            && out.contains("\"nobody\"")
            && out.contains(&format!("{}: it is mode 700", app_dir.display())),
        "{out}"
    );
    // Not root: switching user is refused with the reason.
    let rr = public_rr(&a.dir, "rr");
    std::fs::set_permissions(&app_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        app_dir.join(".rr.yaml"),
        "version: \"3\"\nserver:\n  command: \"php security.php\"\n  user: root\nhttp:\n  address: 127.0.0.1:1\n",
    )
    .unwrap();
    let (uid, gid) = nobody();
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(&rr)
        .args(["serve", "-c", "app/.rr.yaml"])
        .current_dir(&a.dir)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("server.user") && text.contains("needs rr to start as root"),
        "{text}"
    );
}

/// Names under the temp dir that another local user took first (a link, a
/// directory of theirs) neither stop the server nor redirect what it writes:
/// the uploads and the PHP library go to fresh private dirs instead.
#[test]
fn squatted_temp_names_are_not_followed() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let a = app("sec-squat", "");
    let tmp = a.dir.join("tmp");
    let elsewhere = a.dir.join("elsewhere");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let me = proc_ids(std::process::id(), "Uid")[1];
    std::os::unix::fs::symlink(&elsewhere, tmp.join(format!("rustrunner-uploads-{me}"))).unwrap();
    if is_root() {
        // A directory of somebody else's where the PHP library would go.
        let lib = tmp.join(format!("rustrunner-{me}"));
        std::fs::create_dir(&lib).unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (uid, gid) = nobody();
        std::os::unix::fs::chown(&lib, Some(uid), Some(gid)).unwrap();
    }
    let tmp_s = tmp.display().to_string();
    let mut s = a.serve_env(&[], &[("TMPDIR", tmp_s.as_str()), ("XDG_RUNTIME_DIR", "")]);
    let r = s.post("/up", "multipart/form-data; boundary=B", UPLOAD);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["contents"], serde_json::json!(["secret"]), "{j}");
    assert_eq!(j["dirs"], serde_json::json!(["700"]), "{j}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing may be written through the link"
    );
    let log = s.log();
    assert!(log.contains("using") && log.contains("instead"), "{log}");
    if is_root() {
        assert!(log.contains("the PHP library goes to"), "{log}");
        let lib = tmp.join(format!("rustrunner-{me}"));
        assert_eq!(
            std::fs::read_dir(&lib).unwrap().count(),
            0,
            "nothing in the squatted dir"
        );
        assert_ne!(std::fs::metadata(&lib).unwrap().uid(), me);
    }
    s.stop();
}

/// A temp cleaner that removes the idle uploads dir does not break uploads:
/// the dir is made again, private.
#[test]
fn uploads_dir_removed_by_a_temp_cleaner_is_made_again() {
    let a = app("sec-upload-gone", "");
    let tmp = a.dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp_s = tmp.display().to_string();
    let mut s = a.serve_env(&[], &[("TMPDIR", tmp_s.as_str())]);
    let me = proc_ids(std::process::id(), "Uid")[1];
    let dir = tmp.join(format!("rustrunner-uploads-{me}"));
    assert!(dir.is_dir(), "{}", s.log());
    for round in 0..2 {
        std::fs::remove_dir_all(&dir).unwrap();
        let r = s.post("/up", "multipart/form-data; boundary=B", UPLOAD);
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        assert_eq!(
            j["contents"],
            serde_json::json!(["secret"]),
            "round {round}: {j}\n{}",
            s.log()
        );
        assert_eq!(j["dirs"], serde_json::json!(["700"]), "{j}");
    }
    s.stop();
}

/// opcache.preload is app code: with server.user it runs as that user (PHP
/// starts as root, like php-fpm's master, and forks preload off as
/// opcache.preload_user, which the server sets).
#[test]
fn server_user_preload_runs_as_that_user() {
    if !need_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (uid, _) = nobody();
    let a = user_app(
        "sec-user-preload",
        "  command: \"php -d opcache.preload=preload.php security.php\"\n  user: nobody\n",
    );
    let out = a.dir.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    a.file(
        "preload.php",
        &format!(
            "<?php\nforeach (file('/proc/thread-self/status') as $l) {{\n    if (str_starts_with($l, 'Uid:')) {{\n        file_put_contents('{}/uid', preg_split('/\\s+/', trim($l))[1]);\n    }}\n}}\n",
            out.display()
        ),
    );
    let mut s = a.serve();
    assert_eq!(s.get("/x").status, 200);
    assert_eq!(
        std::fs::read_to_string(out.join("uid")).unwrap_or_default(),
        uid.to_string(),
        "{}",
        s.log()
    );
    s.stop();
}

/// server.user with cells: the supervisor stays root (it only holds the
/// listener, as RoadRunner's rr does) and each cell drops to the user before
/// its workers start, exactly as a single server does.
#[test]
fn server_user_with_cells_runs_the_cells_as_that_user() {
    if !need_root() {
        return;
    }
    let (uid, _) = nobody();
    let a = user_app(
        "sec-user-cells",
        "  command: \"php security.php\"\n  user: nobody\n  cells: 1\n",
    );
    let mut s = a.serve();
    let r = s.post("/up", "multipart/form-data; boundary=B", UPLOAD);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    let j = r.json();
    let u = uid.to_string();
    assert_eq!(j["ids"]["Uid"], serde_json::json!([u, u, u, u]), "{j}");
    assert_eq!(j["modes"], serde_json::json!(["600"]), "{j}");
    assert_eq!(j["owners"], serde_json::json!([uid]), "{j}");
    assert_eq!(s.stop(), Some(0), "{}", s.log());
}
