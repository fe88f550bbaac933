//! Core behaviour over real HTTP: the real `rr` binary, real PHP, on both
//! worker APIs (native functions, and goridge frames over the memory relay).

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::time::Duration;

fn app(name: &str, api: Api, script: &str, pool: &str) -> App {
    php_app(name, api, script, pool, "")
}

/// Every way workers can run: in-process (native functions, memory relay)
/// and as processes (pipes, TCP).
fn all(f: impl Fn(Api)) {
    for api in [Api::Native, Api::Relay, Api::Process, Api::ProcessTcp] {
        f(api);
    }
}

#[test]
fn echo_request_context() {
    all(|api| {
        let a = app("echo", api, "echo.php", "    num_workers: 2\n");
        let s = a.serve();
        let r = request(
            ureq::get(&s.url("/p/q?a=1&b[]=2&b[]=3"))
                .set("X-Multi", "one")
                .set("X-Multi", "two")
                .set("authorization", "Basic dTpw")
                .set("Cookie", "s=a%20b; t=plain"),
            None,
        );
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        let j = r.json();
        assert_eq!(j["method"], "GET");
        // Absolute uri (PSR-7 may percent-encode the brackets).
        let uri = j["request_uri"]
            .as_str()
            .unwrap()
            .replace("%5B", "[")
            .replace("%5D", "]");
        assert_eq!(
            uri,
            format!("http://127.0.0.1:{}/p/q?a=1&b[]=2&b[]=3", s.port)
        );
        assert_eq!(j["query"]["a"], "1");
        assert_eq!(j["query"]["b"], serde_json::json!(["2", "3"]));
        assert_eq!(j["cookies"]["s"], "a b", "{api:?}");
        assert_eq!(j["cookies"]["t"], "plain");
        assert_eq!(
            j["headers"]["Authorization"][0], "Basic dTpw",
            "canonical names: {j}"
        );
        let multi = j["headers"]["X-Multi"].as_array().unwrap();
        let joined: Vec<String> = multi
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(
            joined.join(",").contains("one") && joined.join(",").contains("two"),
            "{joined:?}"
        );
        assert!(
            j["headers"].get("Host").is_some(),
            "PSR-7 adds Host from the uri: {j}"
        );
        assert_eq!(j["remote_addr"], "127.0.0.1");
        assert!(j["request_time"].as_i64().unwrap() > 0);
        assert_eq!(j["sapi"], "cli");
        // A PHP binary of the same version that runs (Composer, Symfony's
        // PhpExecutableFinder): the CLI of this build.
        let bin = j["php_binary"].as_str().unwrap();
        assert!(
            !bin.is_empty() && std::path::Path::new(bin).is_file(),
            "{api:?}: {j}"
        );
        assert_eq!(j["argv"], serde_json::json!(["echo.php"]));
        assert_eq!(j["rr_mode"], "http");
        assert_eq!(j["env_server_rr_mode"], "http");
        assert_eq!(
            j["opcache"], true,
            "{api:?}: OPcache must be on inside workers"
        );
        assert_eq!(j["stdin"], "stream");
        assert_eq!(r.header("X-Worker").map(str::len), Some(12));
        let multi: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-multi"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(multi, vec!["a", "b"]);
    });
}

#[test]
fn bodies_forms_json_and_binary() {
    all(|api| {
        let a = app("bodies", api, "echo.php", "    num_workers: 2\n");
        let s = a.serve();
        // url-encoded form → parsed data tree
        let r = s.post(
            "/form",
            "application/x-www-form-urlencoded",
            b"a=1&a=2&b[]=x&b[]=y&c[d]=z",
        );
        let j = r.json();
        assert_eq!(
            j["parsed"],
            serde_json::json!({"a":"2","b":["x","y"],"c":{"d":"z"}}),
            "{api:?}"
        );
        // JSON body → raw
        let r = s.post("/json", "application/json", br#"{"k":[1,2,3]}"#);
        let j = r.json();
        assert_eq!(j["body"], r#"{"k":[1,2,3]}"#);
        assert!(j["parsed"].is_null());
        // 5 MB binary body, echoed back byte for byte
        let big: Vec<u8> = (0..5 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let r = s.post("/binary", "application/octet-stream", &big);
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len(), "{api:?}");
        assert_eq!(Sha256::digest(&r.body), Sha256::digest(&big));
        // HEAD gets no body, and no body is read
        let r = request(ureq::head(&s.url("/head")), None);
        assert_eq!(r.status, 200);
    });
}

#[test]
fn concurrent_requests_spread_over_workers() {
    all(|api| {
        let a = app("spread", api, "echo.php", "    num_workers: 4\n");
        let s = a.serve();
        let url = s.url("/c");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| {
                            let r = request(ureq::get(&url), None);
                            assert_eq!(r.status, 200);
                            r.header("X-Worker").unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(ids.len(), 200);
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            4,
            "{api:?}: 200 requests over 4 workers used {} workers",
            distinct.len()
        );
        // Threads, not processes: no PHP child process.
        assert!(
            !api.in_process() || children_of(s.pid()).is_empty(),
            "rr has child processes: {:?}",
            children_of(s.pid())
        );
    });
}

#[test]
fn worker_output_goes_to_the_log_not_the_response() {
    all(|api| {
        let a = app("output", api, "echo.php", "    num_workers: 1\n");
        let s = a.serve();
        let r = s.get("/echo-output");
        assert_eq!(r.status, 200);
        let j = r.json();
        assert_eq!(j["method"], "GET", "response intact: {}", r.text());
        assert!(!r.text().contains("stray output"));
        assert!(
            s.wait_log("stray output from the worker loop", Duration::from_secs(5)),
            "{}",
            s.log()
        );
        assert!(
            s.wait_log("an error_log line", Duration::from_secs(5)),
            "{}",
            s.log()
        );
        assert!(
            s.wait_log("a STDERR line", Duration::from_secs(5)),
            "{}",
            s.log()
        );
        // and the worker keeps serving
        assert_eq!(s.get("/again").status, 200);
    });
}

#[test]
fn error_is_soft_and_the_worker_stays() {
    all(|api| {
        let a = app("error", api, "failures.php", "    num_workers: 1\n");
        let s = a.serve();
        let before = s.get("/ok");
        assert_eq!(before.status, 200);
        let r = s.get("/error");
        assert_eq!(r.status, 500, "{api:?}");
        assert_eq!(r.text(), "", "no error text without pool.debug");
        let after = s.get("/ok");
        assert_eq!(after.status, 200);
        assert_eq!(
            before.header("X-Worker"),
            after.header("X-Worker"),
            "{api:?}: error() must not restart the worker"
        );
    });
}

#[test]
fn crashing_workers_get_500_and_the_pool_recovers() {
    all(|api| {
        let a = app("crash", api, "failures.php", "    num_workers: 2\n");
        let s = a.serve();
        for path in ["/exit", "/throw", "/fatal"] {
            let r = s.get(path);
            assert_eq!(r.status, 500, "{api:?} {path}: {}", r.text());
            for _ in 0..4 {
                assert_eq!(s.get("/ok").status, 200, "{api:?} after {path}");
            }
        }
        assert!(
            s.log().contains("uncaught in the loop"),
            "PHP's message is logged"
        );
        assert!(
            s.log().contains("undefined_function_for_the_test"),
            "PHP's message is logged"
        );
    });
}

#[test]
fn stop_sends_the_request_to_another_worker() {
    all(|api| {
        let a = app("stop", api, "failures.php", "    num_workers: 2\n");
        let s = a.serve();
        let r = s.get("/stop");
        // Every worker that takes /stop leaves; the request is retried and in
        // the end fails cleanly instead of looping.
        assert_eq!(r.status, 500, "{api:?}");
        for _ in 0..4 {
            assert_eq!(s.get("/ok").status, 200, "{api:?}");
        }
        let r = s.get("/stop-once");
        assert_eq!(r.status, 200, "{api:?}: the retried request is answered");
        assert!(r.text().starts_with("served after stop"), "{}", r.text());
    });
}

#[test]
fn max_jobs_restarts_a_worker() {
    all(|api| {
        let a = app(
            "maxjobs",
            api,
            "echo.php",
            "    num_workers: 1\n    max_jobs: 3\n",
        );
        let s = a.serve();
        let ids: Vec<String> = (0..7)
            .map(|_| s.get("/m").header("X-Worker").unwrap().to_string())
            .collect();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[1], ids[2]);
        assert_ne!(
            ids[2], ids[3],
            "{api:?}: a new life after 3 requests: {ids:?}"
        );
        assert_eq!(ids[3], ids[5]);
        assert_ne!(ids[5], ids[6]);
    });
}

#[test]
fn garbage_on_stdout() {
    // Relay (in memory or a process's pipe): bytes that are not a frame
    // break that worker's relay → 500, the worker is restarted, and the log
    // says what it wrote. Native: STDOUT is not a protocol → logged.
    for api in [Api::Relay, Api::Process] {
        let a = app("garbage-relay", api, "failures.php", "    num_workers: 1\n");
        let s = a.serve();
        assert_eq!(s.get("/garbage").status, 500, "{api:?}");
        assert!(
            s.wait_log("relay protocol error", Duration::from_secs(5)),
            "{}",
            s.log()
        );
        assert!(
            s.log().contains("this is not a goridge frame"),
            "{}",
            s.log()
        );
        assert_eq!(s.get("/ok").status, 200, "{api:?}");
    }
    let a = app(
        "garbage-native",
        Api::Native,
        "failures.php",
        "    num_workers: 1\n",
    );
    let s = a.serve();
    let r = s.get("/garbage");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "after garbage");
    assert!(s.wait_log("this is not a goridge frame", Duration::from_secs(5)));
}

#[test]
fn relay_frames_in_pieces_and_together() {
    // How a worker cuts its STDOUT into writes is not the protocol: a frame
    // over many writes (its 12-byte header split too), several frames in
    // one write, frames straddling writes all give the same response.
    let pattern = |n: usize| (0..n).map(|i| i as u8).collect::<Vec<u8>>();
    for api in [Api::Relay, Api::Process] {
        let a = app("rawframes", api, "rawframes.php", "    num_workers: 1\n");
        let s = a.serve();
        for n in [0, 1, 8191, 8192 * 3 + 5, 5 * 1024 * 1024 + 3] {
            let r = s.get(&format!("/split?n={n}"));
            assert_eq!(r.status, 200, "{api:?} n={n}: {}", s.log());
            assert_eq!(r.header("x-raw"), Some("yes"), "{api:?}");
            assert_eq!(r.body.len(), n, "{api:?}");
            assert!(r.body == pattern(n), "{api:?}: body differs for n={n}");
        }
        let r = s.get("/together");
        assert_eq!(r.status, 200, "{api:?}: {}", s.log());
        assert_eq!(r.text(), "one,two,three", "{api:?}");
        let r = s.get("/straddle");
        assert_eq!(r.status, 200, "{api:?}: {}", s.log());
        let want: Vec<u8> = (0..40).flat_map(|i| pattern(100 + i)).collect();
        assert!(r.body == want, "{api:?}: streamed body differs");
        // The same worker still answers (no frame lost or left over).
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let r = s.post("/echo", "application/octet-stream", &body);
        assert_eq!(r.status, 200, "{api:?}: {}", s.log());
        assert!(r.body == body, "{api:?}: echo differs");
        assert_eq!(s.get("/").text(), "raw ok", "{api:?}");
        assert!(!s.log().contains("protocol error"), "{}", s.log());
    }
}

#[test]
fn boot_failures_exit_1_with_php_message() {
    for (script, needle) in [
        ("failboot.php", "database unreachable at boot"),
        ("parse_error.php", "syntax error"),
        ("noloop.php", "before taking a request"),
    ] {
        let a = app("boot", Api::Native, script, "    num_workers: 2\n");
        let (code, out) = a.run(&["serve"], Duration::from_secs(20));
        assert_eq!(code, Some(1), "{script}: {out}");
        assert!(out.contains(needle), "{script}: {out}");
    }
    // The cause is in the error whatever logs.level lets through, on both
    // executors (issue 15, item 12): PHP's own fatal error, or what the app's
    // error handler printed, never only the last line of a stack trace.
    for api in [Api::Native, Api::Process] {
        for (script, needle) in [
            (
                "failboot.php",
                "Uncaught RuntimeException: database unreachable at boot",
            ),
            ("printed_failure.php", "cannot reach the database (test)"),
        ] {
            let a = app(
                "boot-quiet",
                api,
                script,
                "    num_workers: 1
",
            );
            let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
                .unwrap()
                .replace("level: debug", "level: error");
            a.file(".rr.yaml", &yaml);
            let (code, out) = a.run(&["serve"], Duration::from_secs(20));
            assert_eq!(code, Some(1), "{api:?} {script}: {out}");
            // rr's own final error (`rr: ...` on stderr), not the PHP log.
            let err = &out[out.rfind("rr: ").unwrap_or(0)..];
            assert!(err.contains(needle), "{api:?} {script}: {out}");
        }
    }
    let a = App::new(
        "missing",
        "version: \"3\"\nserver:\n  command: php nope.php\nhttp:\n  address: 127.0.0.1:{port}\n",
    );
    let (code, out) = a.run(&["serve"], Duration::from_secs(20));
    assert_eq!(code, Some(1));
    assert!(out.contains("Could not open input file: nope.php"), "{out}");
}

#[test]
fn bad_config_names_file_and_key() {
    for (yaml, key) in [
        ("server:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\n", "version"),
        ("version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: nowhere\n", "http.address"),
        ("version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\n  pool:\n    num_workers: lots\n", "http.pool.num_workers"),
        ("version: \"3\"\nserver: [\n", "invalid YAML"),
    ] {
        let a = App::new("badcfg", yaml);
        let (code, out) = a.run(&["serve"], Duration::from_secs(10));
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains(".rr.yaml") && out.contains(key), "{key}: {out}");
        assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
    }
    let a = App::new("nocfg", "");
    let (code, out) = a.run(&["serve", "-c", "missing.yaml"], Duration::from_secs(10));
    assert_eq!(code, Some(1));
    assert!(out.contains("missing.yaml"), "{out}");
}

#[test]
fn sigterm_stops_cleanly() {
    let a = app("sigterm", Api::Native, "echo.php", "    num_workers: 2\n");
    let mut s = a.serve();
    assert_eq!(s.get("/x").status, 200);
    assert_eq!(s.stop(), Some(0), "{}", s.log());
}
