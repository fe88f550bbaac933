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
