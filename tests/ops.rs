//! Operating the server: config errors, `rr serve --test`, `rr workers`,
//! `rr reset`, RPC from PHP, status and metrics endpoints, logs, signals.
//! The real `rr` binary, real PHP, real HTTP and RPC on 127.0.0.1.

mod common;

use common::*;
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ports {
    rpc: u16,
    status: u16,
    metrics: u16,
}

/// An app running tests/fixtures/ops.php with RPC, status and metrics on.
fn ops_app(name: &str, workers: usize, extra: &str) -> (App, Ports) {
    let ports = Ports {
        rpc: free_port(),
        status: free_port(),
        metrics: free_port(),
    };
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php ops.php\"\nhttp:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: {workers}\nrpc:\n  listen: tcp://127.0.0.1:{}\nstatus:\n  address: 127.0.0.1:{}\nmetrics:\n  address: 127.0.0.1:{}\nlogs:\n  level: debug\n{extra}",
        ports.rpc, ports.status, ports.metrics
    );
    let a = App::new(name, &yaml);
    a.fixture("ops.php");
    a.offline_autoload();
    (a, ports)
}

fn get_port(port: u16, path: &str) -> Resp {
    request(ureq::get(&format!("http://127.0.0.1:{port}{path}")), None)
}

fn worker_ids(s: &Server, n: usize) -> HashSet<String> {
    // n slow requests at once: each needs its own worker, so every worker
    // answers (an idle worker that just served may otherwise take every
    // sequential request).
    let mut ids = HashSet::new();
    for _ in 0..10 {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let url = s.url("/slow?ms=100");
                std::thread::spawn(move || request(ureq::get(&url), None).text())
            })
            .collect();
        for h in handles {
            let body = h.join().unwrap();
            ids.insert(body.rsplit(' ').next().unwrap_or("").to_string());
        }
        if ids.len() == n {
            break;
        }
    }
    ids
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Start a request in a thread; returns its handle.
fn spawn_get(url: String) -> std::thread::JoinHandle<Result<(u16, String), String>> {
    std::thread::spawn(
        move || match ureq::get(&url).timeout(Duration::from_secs(60)).call() {
            Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
            Err(ureq::Error::Status(c, r)) => Ok((c, r.into_string().unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        },
    )
}

fn wait_file(p: &std::path::Path) {
    let start = Instant::now();
    while !p.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn config_errors_exit_1_and_name_file_and_key() {
    for (yaml, key) in [
        ("server:\n  command: php w.php\n", "version"),
        ("version: 3\nserver:\n  command: php w.php\n", "version"),
        (
            "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\n  pool:\n    allocate_timeout: 5 seconds\n",
            "http.pool.allocate_timeout",
        ),
        (
            "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\nrpc:\n  listen: 6001\n",
            "rpc.listen",
        ),
        (
            "version: \"3\"\nserver:\n  command: php w.php\n  user: no-such-user-rr\nhttp:\n  address: 127.0.0.1:1\n",
            "server.user",
        ),
        (
            "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\nlogs:\n  encoding: xml\n",
            "logs.encoding",
        ),
    ] {
        let a = App::new("cfgerr", yaml);
        let (code, out) = a.run(&["serve"], Duration::from_secs(30));
        assert_eq!(code, Some(1), "{yaml}\n{out}");
        assert!(out.contains(".rr.yaml") && out.contains(key), "{key}: {out}");
    }
    // -o errors too.
    let a = App::new("cfgerr-o", "version: \"3\"\n");
    let (code, out) = a.run(&["serve", "-o", "http.address="], Duration::from_secs(30));
    assert_eq!(code, Some(1));
    assert!(out.contains("value should not be empty"), "{out}");
}

/// YAML as RoadRunner's loader (yaml.v3) reads it, through the real binary:
/// an alias, merge keys (a list of merges: the first wins; the mapping's own
/// keys over both) and `${VAR:-default}` inside a merged value. `--test`
/// passes (no `<<` left as an unknown key) and the pool has the merged size.
#[test]
fn yaml_anchors_merge_keys_and_env_reach_the_server() {
    let rpc = free_port();
    let yaml = concat!(
        "version: \"3\"\n",
        "rpc:\n  listen: &rpc tcp://127.0.0.1:RPC\n",
        "server:\n  command: \"php ops.php\"\n  env:\n    RR_T_RPC_COPY: *rpc\n",
        "http:\n",
        "  <<: {address: \"${RR_T_YAML_UNSET:-127.0.0.1:{port}}\", pool: {num_workers: 9}}\n",
        "  pool:\n",
        "    <<: [{num_workers: 2}, {num_workers: 5, max_jobs: 0}]\n",
        "logs:\n  level: debug\n",
    )
    .replace("RPC", &rpc.to_string());
    let a = App::new("yaml-merge", &yaml);
    a.fixture("ops.php");
    a.offline_autoload();
    let (code, out) = a.run(&["serve", "--test"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("config warning"), "{out}");
    let s = a.serve();
    assert_eq!(s.get("/").status, 200, "{}", s.log());
    let (code, out) = a.run(&["workers"], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{out}");
    let rows = out.lines().filter(|l| l.contains("ready")).count();
    assert_eq!(rows, 2, "num_workers from the first merged mapping: {out}");
}

/// YAML the loader rejects: one line naming the file and the place, fast,
/// whatever the text (a duplicate key, a tab, an alias bomb).
#[test]
fn yaml_errors_name_file_and_position() {
    let base = "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\n";
    let mut bomb =
        format!("{base}  middleware: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let prev = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb += &format!("  m{i}: &a{i} [{prev}]\n");
    }
    for (yaml, want) in [
        (
            format!("{base}  address: 127.0.0.1:2\n"),
            "mapping key \"address\" is defined twice in the mapping at line 5 column 3",
        ),
        (
            base.replace("  command", "\tcommand"),
            "found character that cannot start any token at line 3 column 1",
        ),
        (bomb, "the aliases (*name) expand to too large a document"),
    ] {
        let a = App::new("yaml-bad", &yaml);
        let t = Instant::now();
        let (code, out) = a.run(&["serve"], Duration::from_secs(30));
        assert_eq!(code, Some(1), "{out}");
        assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
        assert!(
            out.contains("config error in ") && out.contains(".rr.yaml: invalid YAML: "),
            "{out}"
        );
        assert!(out.contains(want), "want {want:?} in {out}");
        assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
    }
}

#[test]
fn serve_test_flag_starts_workers_and_exits_0() {
    let (a, _) = ops_app("servetest", 2, "");
    let (code, out) = a.run(&["serve", "--test"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("http server started"), "{out}");
    // A worker that cannot start fails the test run.
    a.file("ops.php", "<?php exit(3);\n");
    let (code, out) = a.run(&["serve", "--test"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{out}");
}

/// `--test` rejects what a normal start only warns about, listing every
/// problem with a suggestion where a known key is close, and starts nothing.
#[test]
fn serve_test_flag_lists_every_config_problem() {
    let (a, _) = ops_app(
        "servetest-bad",
        1,
        "jobs:\n  num_pollers: 1\nkv:\n  local:\n    driver: memory\nservice:\n  x:\n    command: sleep 1\nhtpp:\n  x: 1\n",
    );
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    let yaml = yaml
        .replace(
            "    num_workers: 1\n",
            "    num_workers: 1\n    max_job: 3\n    supervisor:\n      exec_ttl: 60\n      idle_tll: 10s\n",
        )
        .replace("  command: \"php ops.php\"\n", "  command: \"php ops.php\"\n  relay_timout: 60s\n")
        .replace("logs:\n  level: debug\n", "logs:\n  level: debug\n  mod: development\n");
    std::fs::write(a.dir.join(".rr.yaml"), yaml).unwrap();
    let (code, out) = a.run(&["serve", "--test"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("9 config problem(s)"), "{out}");
    for want in [
        "jobs: the plugin is not supported",
        "kv: the plugin is not supported",
        "service: the plugin is not supported",
        "htpp: unknown section, ignored (RoadRunner ignores it silently); did you mean \"http\"?",
        "http.pool.max_job: unknown key, ignored; did you mean \"max_jobs\"?",
        "http.pool.supervisor.idle_tll: unknown key",
        "did you mean \"idle_ttl\"?",
        "server.relay_timout: unknown key",
        "did you mean \"relay_timeout\"?",
        "logs.mod: unknown key",
        "did you mean \"mode\"?",
        "http.pool.supervisor.exec_ttl: the bare number 60 is a duration in nanoseconds for RoadRunner",
        "you probably meant \"60s\"",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !out.contains("http server started"),
        "nothing starts: {out}"
    );
    assert!(out.contains("nothing was started"), "{out}");
}

/// `--test` next to a live server with the same config: no real port, no
/// real RPC socket, no pid file; the live server keeps serving.
#[test]
fn serve_test_flag_runs_next_to_a_live_server() {
    let (a, ports) = ops_app("servetest-live", 1, "");
    let s = a.serve_with(&["-p"]);
    let pid = std::fs::read_to_string(a.dir.join(".pid")).unwrap();
    let (code, out) = a.run(&["serve", "--test", "-p"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("http server started"), "{out}");
    assert_eq!(s.get("/").status, 200, "{}", s.log());
    assert_eq!(get_port(ports.status, "/health?plugin=http").status, 200);
    assert_eq!(
        std::fs::read_to_string(a.dir.join(".pid")).unwrap(),
        pid,
        "--test leaves the live server's pid file alone"
    );
}

/// At a normal start, config warnings (pool and reload ones included) come
/// before "http server started", with the suggestion.
#[test]
fn config_warnings_come_before_http_server_started() {
    let (a, _) = ops_app("warn-order", 1, "");
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
        .unwrap()
        .replace(
            "    num_workers: 1\n",
            "    num_workers: 1\n    num_worker: 3\n",
        );
    std::fs::write(a.dir.join(".rr.yaml"), yaml).unwrap();
    let s = a.serve();
    let log = s.log();
    let warn = log
        .find("http.pool.num_worker: unknown key, ignored; did you mean \"num_workers\"?")
        .unwrap_or_else(|| panic!("no warning: {log}"));
    let started = log.find("http server started").unwrap();
    assert!(warn < started, "{log}");
}

#[test]
fn version_flag() {
    let out = Command::new(RR).arg("--version").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("rr version "), "{s}");
}

#[test]
fn workers_and_reset_over_rpc() {
    let (a, _) = ops_app("workers", 2, "");
    let s = a.serve();
    let before = worker_ids(&s, 2);
    assert_eq!(before.len(), 2);

    let (code, out) = a.run(&["workers"], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Workers of [http]:"), "{out}");
    assert!(
        out.contains("| ID ") && out.contains("STATUS") && out.contains("CPU%"),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| 0 ") || l.starts_with("| 1 "))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().all(|r| r.contains("ready")), "{out}");
    let (code, out) = a.run(&["workers", "nope"], Duration::from_secs(30));
    assert_eq!(code, Some(0));
    assert!(out.contains("plugin nope not found"), "{out}");

    let (code, out) = a.run(&["reset"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("resetting plugin: [http]") && out.contains("plugin reset: [http]"),
        "{out}"
    );
    let after = worker_ids(&s, 2);
    assert!(
        before.is_disjoint(&after),
        "new lives after reset: {before:?} {after:?}"
    );

    // -o reaches the client side too: a wrong RPC port fails clearly.
    let (code, out) = a.run(
        &[
            "workers",
            "-o",
            &format!("rpc.listen=tcp://127.0.0.1:{}", free_port()),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(out.contains("cannot connect to the RPC server"), "{out}");
}

#[test]
fn workers_without_rpc_section_says_so() {
    let a = App::new(
        "norpc",
        "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:1\n",
    );
    let (code, out) = a.run(&["workers"], Duration::from_secs(30));
    assert_eq!(code, Some(1));
    assert!(
        out.contains("rpc service not specified in the configuration"),
        "{out}"
    );
}

#[test]
fn reset_under_load_fails_no_request() {
    let (a, _) = ops_app("resetload", 3, "");
    let s = a.serve();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(parking_lot_free::Failures::default());
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let url = s.url("/");
        clients.push(std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new().build();
            while !stop.load(Ordering::Relaxed) {
                match agent.get(&url).timeout(Duration::from_secs(60)).call() {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed.push(format!("status {}", r.status())),
                    Err(e) => failed.push(e.to_string()),
                }
            }
        }));
    }
    // Wait until the load runs, then reset three times under it.
    while ok.load(Ordering::Relaxed) < 50 {
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..3 {
        let (code, out) = a.run(&["reset", "-s"], Duration::from_secs(60));
        assert_eq!(code, Some(0), "{out}");
    }
    let served_during = ok.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failed.take();
    assert!(
        failures.is_empty(),
        "failed requests during reset: {failures:?}"
    );
    assert!(served_during >= 50);
    // Every worker restarted (3 resets × 3 workers), as metrics count them.
    let m = get_port(ports_of(&a).metrics, "/metrics").text();
    let restarts: u64 = m
        .lines()
        .find(|l| l.starts_with("rr_http_worker_restarts_total{reason=\"reset\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(restarts >= 9, "{m}");
    println!(
        "reset under load: {} requests, {} failed",
        ok.load(Ordering::Relaxed),
        failures.len()
    );
}

/// The ports an ops app was given (read back from its config).
fn ports_of(a: &App) -> Ports {
    let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    let port_after = |key: &str| -> u16 {
        let i = y.find(key).unwrap() + key.len();
        let rest = &y[i..];
        let colon = rest.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
        rest[colon..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap()
    };
    Ports {
        rpc: port_after("rpc:"),
        status: port_after("status:"),
        metrics: port_after("metrics:"),
    }
}

mod parking_lot_free {
    use std::sync::Mutex;
    #[derive(Default)]
    pub struct Failures(Mutex<Vec<String>>);
    impl Failures {
        pub fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
        pub fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }
}

#[test]
fn sigterm_drains_in_flight_requests() {
    let (a, p) = ops_app("drain", 2, "");
    let mut s = a.serve();
    let marks: Vec<_> = (0..2).map(|i| a.dir.join(format!("mark{i}"))).collect();
    let slow: Vec<_> = marks
        .iter()
        .map(|m| spawn_get(s.url(&format!("/slow?ms=1500&mark={}", m.display()))))
        .collect();
    for m in &marks {
        wait_file(m);
    }
    kill(s.pid(), "TERM");
    // While draining: /ready fails, /health stays up and says why.
    assert!(s.wait_log("stopping: no new connections", Duration::from_secs(10)));
    let ready = get_port(p.status, "/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    let health = get_port(p.status, "/health");
    assert_eq!(health.status, 200);
    assert!(health.text().contains("service is shutting down"));
    for h in slow {
        let (code, body) = h.join().unwrap().expect("the in-flight request completes");
        assert_eq!(code, 200);
        assert!(body.starts_with("slow done"), "{body}");
    }
    assert_eq!(s.wait_exit(Duration::from_secs(30)), Some(0), "{}", s.log());
    assert!(s
        .log()
        .contains("stop signal received, grace timeout is: 60 seconds"));
}

#[test]
fn second_signal_forces_exit_1() {
    let (a, _) = ops_app("force", 1, "");
    let s = a.serve();
    let mark = a.dir.join("mark");
    let slow = spawn_get(s.url(&format!("/slow?ms=20000&mark={}", mark.display())));
    wait_file(&mark);
    kill(s.pid(), "TERM");
    assert!(s.wait_log("stopping: no new connections", Duration::from_secs(10)));
    kill(s.pid(), "INT");
    let mut s = s;
    assert_eq!(s.wait_exit(Duration::from_secs(30)), Some(1), "{}", s.log());
    assert!(s.log().contains("exit forced"));
    let _ = slow.join();
}

#[test]
fn sighup_restarts_workers() {
    let (a, _) = ops_app("sighup", 2, "");
    let mut s = a.serve();
    let before = worker_ids(&s, 2);
    kill(s.pid(), "HUP");
    assert!(
        s.wait_log("every http worker restarted", Duration::from_secs(30)),
        "{}",
        s.log()
    );
    let after = worker_ids(&s, 2);
    assert!(before.is_disjoint(&after), "{before:?} {after:?}");
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn status_endpoints() {
    let (a, p) = ops_app("status", 1, "");
    let s = a.serve();
    for path in [
        "/health",
        "/ready",
        "/health?plugin=http",
        "/ready?plugin=http",
    ] {
        let r = get_port(p.status, path);
        assert_eq!(r.status, 200, "{path}");
        let j = r.json();
        assert_eq!(j[0]["plugin_name"], "http", "{path}");
        assert_eq!(j[0]["status_code"], 200, "{path}");
    }
    // A plugin without checks is left out.
    let r = get_port(p.status, "/health?plugin=jobs");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
    // Busy workers do not make the server unready (requests queue).
    let mark = a.dir.join("mark");
    let slow = spawn_get(s.url(&format!("/slow?ms=1000&mark={}", mark.display())));
    wait_file(&mark);
    assert_eq!(get_port(p.status, "/ready").status, 200);
    assert_eq!(slow.join().unwrap().unwrap().0, 200);
    assert_eq!(get_port(p.status, "/nope").status, 404);
}

#[test]
fn unavailable_status_code_is_used() {
    let (a, p) = ops_app("status503", 1, "");
    // Rewrite the status section with a custom code.
    let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    std::fs::write(
        a.dir.join(".rr.yaml"),
        y.replace(
            &format!("status:\n  address: 127.0.0.1:{}\n", p.status),
            &format!(
                "status:\n  address: 127.0.0.1:{}\n  unavailable_status_code: 599\n",
                p.status
            ),
        ),
    )
    .unwrap();
    let s = a.serve();
    let mark = a.dir.join("mark");
    let slow = spawn_get(s.url(&format!("/slow?ms=1500&mark={}", mark.display())));
    wait_file(&mark);
    kill(s.pid(), "TERM");
    assert!(s.wait_log("stopping: no new connections", Duration::from_secs(10)));
    assert_eq!(get_port(p.status, "/ready").status, 599);
    let _ = slow.join();
}

#[test]
fn metrics_endpoint() {
    let (a, p) = ops_app("metrics", 2, "");
    let s = a.serve();
    for _ in 0..5 {
        assert_eq!(s.get("/").status, 200);
    }
    let r = get_port(p.metrics, "/metrics");
    assert_eq!(r.status, 200);
    let m = r.text();
    for needle in [
        "rr_http_total_workers 2",
        "rr_http_workers_ready 2",
        "rr_http_workers_working 0",
        "rr_http_request_total{status=\"200\"} 5",
        "rr_http_request_duration_seconds_bucket{le=\"0.005\",status=\"200\"}",
        "rr_http_request_duration_seconds_count{status=\"200\"} 5",
        "rr_http_requests_queue 0",
        "rr_http_no_free_workers_total 0",
        "rr_http_worker_memory_bytes{pid=\"0\"}",
        "rr_http_worker_state{state=\"ready\",pid=\"1\"} 0",
        "rr_http_uptime_seconds",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in\n{m}");
    }
    // Any path answers, as RoadRunner's handler does.
    assert!(get_port(p.metrics, "/")
        .text()
        .contains("rr_http_total_workers"));
}

#[test]
fn php_worker_calls_rpc() {
    for listen in ["tcp", "unix"] {
        let (a, p) = ops_app("phprpc", 2, "");
        if listen == "unix" {
            let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
            std::fs::write(
                a.dir.join(".rr.yaml"),
                y.replace(
                    &format!("tcp://127.0.0.1:{}", p.rpc),
                    &format!("unix://{}/rr.sock", a.dir.display()),
                ),
            )
            .unwrap();
        }
        let s = a.serve();
        let j = s.get("/rpc").json();
        assert!(j.get("exception").is_none(), "{listen}: {j}");
        assert!(j["rr_rpc"].as_str().unwrap().starts_with(listen), "{j}");
        // The server's own RPC class (no spiral/goridge installed).
        assert!(j["class"].as_str().unwrap().contains("RPC/RPC.php"), "{j}");
        assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
        let ws = j["workers"]["workers"].as_array().unwrap();
        assert_eq!(ws.len(), 2, "{j}");
        // The worker making the call is working, and says so.
        assert!(ws.iter().any(|w| w["statusStr"] == "working"), "{j}");
        assert!(ws.iter().all(|w| w["created"].as_i64().unwrap() > 0), "{j}");
        assert_eq!(j["list"], serde_json::json!(["http"]));
        assert!(
            j["error"]
                .as_str()
                .unwrap()
                .contains("can't find service nope.Method"),
            "{j}"
        );
        assert_eq!(j["after_error"], serde_json::json!(["http"]));
        // The CLI works over the same socket.
        let (code, out) = a.run(&["workers"], Duration::from_secs(30));
        assert_eq!(code, Some(0), "{listen}: {out}");
    }
}

/// `rr serve` in the app's folder with the config's own log levels (the
/// harness's RR_LOG=debug removed), its terminal output in `server.out`;
/// returns once `log_file` (where the config sends the logs) says the
/// server started.
fn serve_logging_to(a: &App, log_file: &std::path::Path) -> std::process::Child {
    let out = a.dir.join("server.out");
    let child = Command::new(RR)
        .arg("serve")
        .current_dir(&a.dir)
        .env_remove("RR_LOG")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(a.dir.join("server.err")).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(log_file)
        .unwrap_or_default()
        .contains("http server started")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no start: {}",
            std::fs::read_to_string(a.dir.join("server.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn logs_go_where_configured_tagged_with_the_worker() {
    let (a, _) = ops_app("logs", 1, "");
    let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    let log_file = a.dir.join("rr.log");
    std::fs::write(
        a.dir.join(".rr.yaml"),
        y.replace(
            "logs:\n  level: debug\n",
            &format!(
                "logs:\n  mode: production\n  level: info\n  output: {}\n  channels:\n    http:\n      level: error\n",
                log_file.display()
            ),
        )
        .replace("  pool:\n", "  access_logs: true\n  pool:\n"),
    )
    .unwrap();
    let mut child = serve_logging_to(&a, &log_file);
    let r = request(ureq::get(&format!("http://127.0.0.1:{}/log", a.port)), None);
    assert_eq!(r.text(), "logged");
    let wait_for = |needle: &str| {
        let start = Instant::now();
        loop {
            let t = std::fs::read_to_string(&log_file).unwrap_or_default();
            if t.contains(needle) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{needle:?} not in\n{t}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let t = wait_for("stray echo from php");
    wait_for("stderr line from php");
    wait_for("error_log line from php");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    // production → JSON lines; PHP output carries the worker id.
    for line in t.lines().filter(|l| l.contains("from php")) {
        let j: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(j["worker"], 0, "{line}");
    }
    // Nothing below info; the http channel is at error, so no access lines.
    assert!(!t.contains("\"level\":\"debug\""), "{t}");
    assert!(!t.contains("http access"), "{t}");
    // stderr got nothing of it.
    let err = std::fs::read_to_string(a.dir.join("server.err")).unwrap_or_default();
    assert!(!err.contains("from php"), "{err}");
}

/// `logs.file_logger_options` (RoadRunner's lumberjack file): the lines go
/// only to the file, as JSON; it rotates at max_size, keeps max_backups
/// gzipped backups, and the last lines before a stop are written out.
#[test]
fn file_logger_options_rotate_compress_and_keep_the_last_lines() {
    let (a, _) = ops_app("rotate", 1, "");
    let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    std::fs::write(
        a.dir.join(".rr.yaml"),
        y.replace(
            "logs:\n  level: debug\n",
            "logs:\n  level: debug\n  file_logger_options:\n    log_output: logs/rr.log\n    \
             max_size: 1\n    max_backups: 2\n    compress: true\n",
        ),
    )
    .unwrap();
    let logs = a.dir.join("logs");
    let mut child = serve_logging_to(&a, &logs.join("rr.log"));
    let biglog = |bytes: usize, tag: &str| {
        let url = format!("http://127.0.0.1:{}/biglog?bytes={bytes}&tag={tag}", a.port);
        assert_eq!(request(ureq::get(&url), None).text(), "logged");
    };
    // 40 lines of 100 kB: 4 MB through a 1 MB file.
    for i in 0..40 {
        biglog(100_000, &format!("line{i}"));
    }
    biglog(1, "LAST-MARKER");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let backups: Vec<&String> = names.iter().filter(|n| n.ends_with(".gz")).collect();
    assert_eq!(names.len(), 3, "rr.log and two backups: {names:?}");
    assert_eq!(backups.len(), 2, "{names:?}");
    let json_lines = |text: &str, what: &str| {
        for line in text.lines() {
            let j: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {:.200}", line));
            assert!(
                j["level"].is_string() && j["msg"].is_string(),
                "{what}: {line:.200}"
            );
        }
    };
    for b in backups {
        let out = Command::new("gzip")
            .arg("-dc")
            .arg(logs.join(b))
            .output()
            .unwrap();
        assert!(out.status.success(), "{b}: not gzip");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.len() <= 1024 * 1024, "{b}: {} bytes", text.len());
        assert!(text.ends_with('\n'), "{b}: a line was cut");
        json_lines(&text, b);
    }
    let live = std::fs::read_to_string(logs.join("rr.log")).unwrap();
    json_lines(&live, "rr.log");
    assert!(live.contains("LAST-MARKER"), "a request's line was lost");
    // The very last line, logged just before the process ends, is written
    // out by the log writer thread before exit.
    assert!(
        live.lines()
            .last()
            .unwrap_or("")
            .contains("\"msg\":\"stopped\""),
        "{:.300}",
        live.lines().last().unwrap_or("")
    );
    assert!(live.contains("line39"), "{:.300}", live);
    // Nothing went to the terminal: output is ignored with a rotated file.
    let out = std::fs::read_to_string(a.dir.join("server.out")).unwrap_or_default()
        + &std::fs::read_to_string(a.dir.join("server.err")).unwrap_or_default();
    assert!(!out.contains("line1"), "{out:.300}");
}

#[test]
fn dotenv_overrides_and_workdir() {
    let (a, _) = ops_app("dotenv", 1, "");
    let y = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    std::fs::write(
        a.dir.join(".rr.yaml"),
        y.replace(
            &format!("address: 127.0.0.1:{}", a.port),
            "address: ${RR_T_HTTP_ADDR:-127.0.0.1:1}",
        ),
    )
    .unwrap();
    std::fs::write(
        a.dir.join("test.env"),
        format!("RR_T_HTTP_ADDR=127.0.0.1:{}\n", a.port),
    )
    .unwrap();
    // --dotenv feeds ${...}; -o num_workers=2 overrides the file.
    let mut s = a.serve_with(&["--dotenv", "test.env", "-o", "http.pool.num_workers=2"]);
    assert_eq!(worker_ids(&s, 2).len(), 2);
    assert_eq!(s.stop(), Some(0));
}

#[test]
fn rpc_adds_and_removes_workers() {
    let (a, _) = ops_app("scale", 2, "");
    let s = a.serve();
    let j = s.get("/scale?op=add").json();
    assert_eq!(j["result"], true, "{j}");
    assert_eq!(j["count"], 3, "{j}");
    for _ in 0..30 {
        assert_eq!(s.get("/").status, 200);
    }
    // Down to one worker: each removed worker leaves after its request.
    for expect in [2, 1] {
        let j = s.get("/scale?op=remove").json();
        assert_eq!(j["result"], true, "{j}");
        let start = std::time::Instant::now();
        while s.get("/scale?op=count").json()["count"] != expect {
            assert!(start.elapsed() < Duration::from_secs(10), "never {expect}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Never the last one: RoadRunner answers without error and keeps it.
    let j = s.get("/scale?op=remove").json();
    assert!(j.get("exception").is_none(), "{j}");
    assert_eq!(j["result"], true, "{j}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.get("/scale?op=count").json()["count"], 1);
    assert_eq!(s.get("/").status, 200);
    assert!(
        s.log().contains("can't remove the last worker"),
        "{}",
        s.log()
    );
}

const BINARY_WORKER: &str = r#"<?php
require __DIR__ . '/autoload.php';
$w = \Spiral\RoadRunner\Worker::create();
$f = new \Nyholm\Psr7\Factory\Psr17Factory();
$psr7 = new \Spiral\RoadRunner\Http\PSR7Worker($w, $f, $f, $f);
while ($req = $psr7->waitRequest()) {
    $psr7->respond(new \Nyholm\Psr7\Response(200, [], PHP_BINARY . ' ' . (ZEND_THREAD_SAFE ? 'zts' : 'nts') . ' ' . getmypid()));
}
"#;

fn binary_app(name: &str, command: &str, server_extra: &str) -> App {
    let a = App::new(
        name,
        &format!(
            "version: \"3\"\nserver:\n  command: \"{command}\"\n{server_extra}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\nlogs:\n  level: debug\n"
        ),
    );
    a.file("w.php", BINARY_WORKER);
    a.file(
        "autoload.php",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/episodes/offline-autoload.php"
        ))
        .unwrap(),
    );
    a
}

/// `server.command: "/usr/bin/php8.2 w.php"` (or any PHP binary other than
/// plain `php`) with thread workers: the embedded PHP serves, and a warning
/// before "http server started" says so and names server.executor: process.
#[test]
fn command_naming_another_php_binary_warns_that_the_embedded_php_runs() {
    let a = binary_app("otherphp", "/opt/nowhere/php8.2 w.php", "");
    let s = a.serve();
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}", s.log());
    assert!(
        r.text().contains(" zts "),
        "the embedded (ZTS) PHP: {}",
        r.text()
    );
    let log = s.log();
    let warn = log
        .find("server.command: \"/opt/nowhere/php8.2\": the workers run as threads on rustrunner's embedded PHP")
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(log.contains("set server.executor: process"), "{log}");
    assert!(warn < log.find("http server started").unwrap(), "{log}");
    // Plain `php`: no warning.
    let b = binary_app("plainphp", "php w.php", "");
    let s = b.serve();
    assert_eq!(s.get("/").status, 200);
    assert!(!s.log().contains("embedded PHP (the one"), "{}", s.log());
}

/// With `server.executor: process` the named binary itself runs the workers.
#[test]
fn command_naming_another_php_binary_runs_it_as_process_workers() {
    let php = std::path::Path::new("/usr/bin/php8.2");
    if !php.is_file() {
        eprintln!("skipped: no /usr/bin/php8.2 (Debian's php8.2-cli)");
        return;
    }
    let a = binary_app(
        "otherphp-proc",
        "/usr/bin/php8.2 w.php",
        "  executor: process\n",
    );
    let s = a.serve();
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}", s.log());
    assert!(
        r.text().starts_with("/usr/bin/php8.2 "),
        "that binary serves: {}",
        r.text()
    );
    assert!(!s.log().contains("embedded PHP (the one"), "{}", s.log());
}

/// The restart reasons /metrics exports are the ones its HELP text and the
/// README name (RoadRunner's state names, not older ad-hoc labels).
#[test]
fn restart_reason_labels_match_help_and_readme() {
    let (a, ports) = ops_app("reasons", 1, "");
    let s = a.serve();
    // One restart with a known reason.
    let (code, out) = a.run(&["reset", "-s"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(s.get("/").status, 200);
    let m = get_port(ports.metrics, "/metrics").text();
    let help = m
        .lines()
        .find(|l| l.starts_with("# HELP rr_http_worker_restarts"))
        .unwrap_or_else(|| panic!("{m}"));
    let list = help
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(l, _)| l)
        .unwrap_or_else(|| panic!("{help}"));
    let reasons: Vec<&str> = list.split(", ").collect();
    assert!(reasons.len() >= 10, "{help}");
    for label in m
        .lines()
        .filter_map(|l| l.strip_prefix("rr_http_worker_restarts_total{reason=\""))
        .filter_map(|l| l.split('"').next())
    {
        assert!(reasons.contains(&label), "{label} is not in {help}");
    }
    assert!(
        m.contains("rr_http_worker_restarts_total{reason=\"reset\"}"),
        "{m}"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for r in &reasons {
        assert!(
            readme.contains(&format!("`{r}`")),
            "README does not name `{r}`"
        );
    }
    for stale in ["(max_jobs, reset, stop, exit, crash", "boot_failure"] {
        assert!(
            !readme.contains(stale) && !help.contains(stale),
            "stale {stale:?}"
        );
    }
}
