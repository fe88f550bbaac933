//! RoadRunner parity (issue 15): places where RoadRunner answers differently,
//! over real HTTP against the real `rr` binary and real PHP.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn echo_app(name: &str, api: Api) -> App {
    php_app(name, api, "echo.php", "    num_workers: 1\n", "")
}

/// A form part: name, filename (for a file), contents.
type Part<'a> = (&'a str, Option<&'a [u8]>, &'a [u8]);

fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "XbOuNdArYx";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"")
                        .as_bytes(),
                );
                body.extend_from_slice(f);
                body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
            }
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Item 3: `key[subkey]value=1` → key → subkey → value, as RoadRunner's
/// parser, in url-encoded and multipart forms.
#[test]
fn form_keys_with_text_after_bracket() {
    let a = echo_app("formkeys", Api::Native);
    let s = a.serve();
    let r = s.post(
        "/form",
        "application/x-www-form-urlencoded",
        b"key[subkey]value=1&opts=&opts[0][name]=n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["parsed"],
        serde_json::json!({"key":{"subkey":{"value":"1"}},"opts":[{"name":"n"}]})
    );
    let (ct, body) = multipart(&[("key[subkey]value", None, b"2")]);
    let r = s.post("/multipart", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["parsed"],
        serde_json::json!({"key":{"subkey":{"value":"2"}}})
    );
}

/// Item 14: a NUL or an invalid UTF-8 byte in an upload's filename is the
/// client's error: 400 (RoadRunner answers request-forming errors with 400),
/// and the server serves on.
#[test]
fn bad_upload_filename_is_400() {
    let a = echo_app("badname", Api::Native);
    let s = a.serve();
    for name in [&b"a\0b.txt"[..], &b"a\xffb.txt"[..], &b"\xc3(.txt"[..]] {
        let (ct, body) = multipart(&[("f", Some(name), b"data")]);
        let r = s.post("/upload", &ct, &body);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(name),
            r.text()
        );
    }
    // Conflicting names are the client's error too.
    let r = s.post(
        "/form",
        "application/x-www-form-urlencoded",
        b"o[0][n]=x&o=1",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid multiple values"), "{}", r.text());
    // A good filename still works.
    let (ct, body) = multipart(&[("f", Some(b"ok.txt"), b"data"), ("x", None, b"1")]);
    let r = s.post("/upload", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["parsed"], serde_json::json!({"x":"1"}));
}

/// Item 5: a client that half-closes after its request (`nc -N`) still gets
/// its response, on both executors.
#[test]
fn half_closed_client_gets_its_response() {
    for api in [Api::Native, Api::Process] {
        let a = echo_app("halfclose", api);
        let s = a.serve();
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /half HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200"), "{api:?}: {out:?}");
        assert!(out.contains("\"uri\":\"http://a/half\""), "{api:?}: {out}");
    }
}

/// An app running tests/fixtures/http.php (the server's HttpWorker API).
fn http_app(name: &str, api: Api) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php http.php\"\n{}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\nlogs:\n  mode: development\n  level: debug\n",
        api.server_yaml()
    );
    let a = App::new(name, &yaml);
    a.fixture("http.php");
    a
}

/// Item 4: announced trailers are sent even without `TE: trailers` (Go's
/// server always sends them), on a kept-alive connection too.
#[test]
fn trailers_sent_without_te() {
    for api in [Api::Native, Api::Process] {
        let a = http_app("trailers-no-te", api);
        let s = a.serve();
        // Two requests on one connection: the first response's framing must
        // stay intact for the second to be read.
        let resp = raw(
            s.port,
            b"GET /trailer HTTP/1.1\r\nHost: x\r\n\r\nGET /trailer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let lower = resp.to_ascii_lowercase();
        let want = "\r\nd\r\nwith trailers\r\n0\r\nx-checksum: abc123\r\n\r\n";
        assert_eq!(lower.matches(want).count(), 2, "{api:?}: {resp:?}");
        assert_eq!(lower.matches("http/1.1 200").count(), 2, "{api:?}: {resp}");
        assert!(lower.ends_with(want), "{api:?}: {resp:?}");
        // A HEAD gets no body and no trailers; the connection still works.
        let resp = raw(
            s.port,
            b"HEAD /trailer HTTP/1.1\r\nHost: x\r\n\r\nGET /trailer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let lower = resp.to_ascii_lowercase();
        assert_eq!(lower.matches(want).count(), 1, "{api:?}: {resp:?}");
        // A streamed response with a trailer, then a whole one on the same
        // connection.
        let resp = raw(
            s.port,
            b"GET /stream?n=40&trailer=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /trailer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let lower = resp.to_ascii_lowercase();
        assert!(
            lower.contains("chunk 39\n")
                && lower.contains("\r\n0\r\nx-sum: s40\r\n\r\nhttp/1.1 200"),
            "{api:?}: {resp:?}"
        );
        assert!(lower.ends_with(want), "{api:?}: {resp:?}");
        // With TE: trailers, as before.
        let resp = raw(
            s.port,
            b"GET /trailer HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        );
        assert!(
            resp.to_ascii_lowercase().ends_with(want),
            "{api:?}: {resp:?}"
        );
    }
}

/// Item 6: an absolute-form target gives PHP the target's scheme and
/// authority (RFC 9112 §3.2.2), as RoadRunner, whatever `Host` says.
#[test]
fn absolute_form_target_sets_the_uri() {
    let a = echo_app("absform", Api::Native);
    let s = a.serve();
    for (target, want) in [
        ("http://other.example/x?y=1", "http://other.example/x?y=1"),
        ("https://sec.example:8443/z", "https://sec.example:8443/z"),
        ("/origin-form", "http://a/origin-form"),
    ] {
        let resp = raw(
            s.port,
            format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let body = String::from_utf8_lossy(resp.split("\r\n\r\n").nth(1).unwrap_or("").as_bytes())
            .into_owned();
        let j: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {resp}"));
        assert_eq!(j["request_uri"], want, "{target}: {resp}");
    }
}

/// An app running tests/fixtures/ops.php on `api` with RPC and metrics on;
/// returns (app, rpc port, metrics port).
fn ops_app(name: &str, api: Api, workers: usize) -> (App, u16, u16) {
    let (rpc, metrics) = (free_port(), free_port());
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php ops.php\"\n{}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: {workers}\nrpc:\n  listen: tcp://127.0.0.1:{rpc}\nmetrics:\n  address: 127.0.0.1:{metrics}\nlogs:\n  level: debug\n",
        api.server_yaml()
    );
    let a = App::new(name, &yaml);
    a.fixture("ops.php");
    a.offline_autoload();
    (a, rpc, metrics)
}

/// Item 7: process workers are listed by OS pid in `informer.Workers`, `rr
/// workers` (RoadRunner's `PID` column) and the metrics' `pid` label; thread
/// workers keep their worker id.
#[test]
fn process_workers_listed_by_os_pid() {
    for api in [Api::Process, Api::Native] {
        let (a, _, metrics) = ops_app("pids", api, 2);
        let s = a.serve();
        let want: Vec<u64> = match api {
            Api::Process => {
                let mut c: Vec<u64> = children_of(s.pid()).into_iter().map(u64::from).collect();
                c.sort();
                c
            }
            _ => vec![0, 1],
        };
        assert_eq!(want.len(), 2, "{api:?}: {want:?}");
        let j = s.get("/rpc").json();
        let mut got: Vec<u64> = j["workers"]["workers"]
            .as_array()
            .unwrap_or_else(|| panic!("{j}"))
            .iter()
            .map(|w| w["pid"].as_u64().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, want, "{api:?}: informer.Workers: {j}");

        let (code, out) = a.run(&["workers"], Duration::from_secs(30));
        assert_eq!(code, Some(0), "{out}");
        let col = match api {
            Api::Process => "| PID ",
            _ => "| ID ",
        };
        assert!(out.contains(col), "{api:?}: {out}");
        for pid in &want {
            assert!(out.contains(&format!("| {pid} ")), "{api:?}: {pid}: {out}");
        }

        let m = request(
            ureq::get(&format!("http://127.0.0.1:{metrics}/metrics")),
            None,
        )
        .text();
        for pid in &want {
            assert!(
                m.contains(&format!("rr_http_worker_memory_bytes{{pid=\"{pid}\"}}")),
                "{api:?}: {pid}: {m}"
            );
        }
    }
}

/// Item 16: JSON logs carry zap's names as RoadRunner's production logger
/// writes them: `level` (lower case), `ts` (UTC epoch nanoseconds in
/// production), `logger` (the plugin), `msg`, then the fields.
#[test]
fn json_logs_use_zap_names() {
    for (mode, epoch) in [("mode: production", true), ("encoding: json", false)] {
        let log_file = std::env::temp_dir().join(format!(
            "rr-parity-zap-{}-{}.log",
            std::process::id(),
            epoch
        ));
        let _ = std::fs::remove_file(&log_file);
        let a = App::new(
            "zaplogs",
            &format!(
                "version: \"3\"\nserver:\n  command: \"php echo.php\"\nhttp:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\nlogs:\n  {mode}\n  level: info\n  output: [stderr, \"{}\"]\n",
                log_file.display()
            ),
        );
        a.fixture("echo.php");
        a.offline_autoload();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let mut s = a.serve_env(&[], &[("RR_LOG", "info")]);
        let start = std::time::Instant::now();
        let text = loop {
            let t = std::fs::read_to_string(&log_file).unwrap_or_default();
            if t.contains("http server started") {
                break t;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{mode}: {t}");
            std::thread::sleep(Duration::from_millis(20));
        };
        s.stop();
        let _ = std::fs::remove_file(&log_file);
        let line = text
            .lines()
            .find(|l| l.contains("http server started"))
            .unwrap();
        assert!(
            line.starts_with("{\"level\":\"info\",\"ts\":"),
            "{mode}: {line}"
        );
        let j: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(j["msg"], "http server started", "{line}");
        // The channel (plugin) the event belongs to.
        assert!(
            j["logger"].as_str().is_some_and(|l| !l.is_empty()),
            "{line}"
        );
        for k in ["timestamp", "message", "target"] {
            assert!(j.get(k).is_none(), "{mode}: tracing's {k}: {line}");
        }
        if epoch {
            let ts = j["ts"].as_i64().unwrap_or_else(|| panic!("{line}"));
            assert!(ts >= before && ts < before + 60_000_000_000, "{line}");
        } else {
            let ts = j["ts"].as_str().unwrap_or_else(|| panic!("{line}"));
            assert!(
                ts.len() == 24 && ts.ends_with("+0000") && ts.as_bytes()[10] == b'T',
                "{line}"
            );
        }
        for l in text.lines() {
            let j: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(
                ["debug", "info", "warn", "error"].contains(&j["level"].as_str().unwrap()),
                "{l}"
            );
        }
    }
}

/// Item 17: `rr stop` stops the server named by the `-p` pid file (SIGTERM:
/// in-flight requests finish); `-f` signals twice, which forces the exit;
/// without a pid file it fails and says how to get one.
#[test]
fn rr_stop_uses_the_pid_file() {
    let (a, _, _) = ops_app("stop", Api::Native, 1);
    let (code, out) = a.run(&["stop"], Duration::from_secs(10));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("rr serve -p"), "{out}");

    let mut s = a.serve_with(&["-p"]);
    let pid_file = a.dir.join(".pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        s.pid().to_string()
    );
    // A request in flight finishes: the stop is graceful.
    let url = s.url("/slow?ms=1500");
    let slow = std::thread::spawn(move || request(ureq::get(&url), None));
    std::thread::sleep(Duration::from_millis(300));
    let (code, out) = a.run(&["stop"], Duration::from_secs(10));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("PID: {}", s.pid())), "{out}");
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(0), "{}", s.log());
    assert!(!pid_file.exists());

    // -f: the second signal forces the exit while a request runs.
    let mut s = a.serve_with(&["-p"]);
    let url = s.url("/slow?ms=8000");
    let _slow = std::thread::spawn(move || ureq::get(&url).call().is_ok());
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (code, out) = a.run(&["stop", "-f", "-s"], Duration::from_secs(10));
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("stopping process"), "-s: {out}");
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(1), "{}", s.log());
    assert!(started.elapsed() < Duration::from_secs(6), "not forced");
    assert!(s.log().contains("exit forced"), "{}", s.log());
}

/// Item 15: `http.pool.command` runs instead of `server.command` for the
/// HTTP pool, on both executors.
#[test]
fn http_pool_command_overrides_server_command() {
    for api in [Api::Native, Api::Process] {
        let a = php_app(
            "poolcmd",
            api,
            "echo.php",
            "    num_workers: 1\n    command: \"php echo.php pool\"\n",
            "",
        );
        let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
        std::fs::write(
            a.dir.join(".rr.yaml"),
            y.replace("command: \"php echo.php\"", "command: \"php missing.php\""),
        )
        .unwrap();
        let s = a.serve();
        let r = s.get("/p");
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        assert_eq!(
            r.json()["argv"],
            serde_json::json!(["echo.php", "pool"]),
            "{api:?}"
        );
        assert!(
            !s.log().contains("http.pool.command"),
            "{api:?}: {}",
            s.log()
        );
    }
}
