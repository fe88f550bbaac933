//! RoadRunner's `metrics` plugin for the application, and RPC while the
//! workers boot (issue 15, items 1 and 2). Real rr, real PHP, real HTTP.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn metrics_app(name: &str, api: Api, script: &str, metrics_port: u16) -> App {
    let rpc_port = free_port();
    php_app(
        name,
        api,
        script,
        "    num_workers: 2\n    allocate_timeout: 10s\n",
        &format!(
            "rpc:\n  listen: tcp://127.0.0.1:{rpc_port}\nmetrics:\n  address: 127.0.0.1:{metrics_port}\n  collect:\n    app_queue:\n      type: gauge\n      help: \"Jobs waiting.\"\n      labels: [\"queue\"]\n"
        ),
    )
}

fn scrape(port: u16) -> String {
    request(ureq::get(&format!("http://127.0.0.1:{port}/metrics")), None).text()
}

/// The workers declare collectors over RPC before their loop: the start
/// does not wait for allocate_timeout, every worker's call is answered.
#[test]
fn application_metrics_over_rpc_reach_the_endpoint() {
    for api in [Api::Native, Api::Process] {
        let mport = free_port();
        let a = metrics_app("app-metrics", api, "metrics.php", mport);
        let t = Instant::now();
        let s = a.serve();
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{api:?}: {:?}",
            t.elapsed()
        );
        for route in ["a", "a", "a", "b"] {
            let r = s.get(&format!("/hit?route={route}"));
            assert_eq!(r.text(), "ok", "{api:?} {}: {}", r.status, s.log());
        }
        assert_eq!(s.get("/observe?v=0.5").text(), "ok");
        assert_eq!(s.get("/observe?v=0.05").text(), "ok");
        assert_eq!(s.get("/queue?v=7").text(), "ok");
        let undefined = s.get("/undefined").text();
        assert!(
            undefined.starts_with("MetricsException: ")
                && undefined.contains("undefined collector"),
            "{undefined}\n{}",
            s.log()
        );
        let m = scrape(mport);
        for want in [
            "# TYPE app_hits counter\n",
            "# HELP app_hits Hits by route.\n",
            "app_hits_total{route=\"a\"} 3\n",
            "app_hits_total{route=\"b\"} 1\n",
            "app_latency_bucket{le=\"0.1\"} 1\n",
            "app_latency_bucket{le=\"1\"} 2\n",
            "app_latency_bucket{le=\"+Inf\"} 2\n",
            "app_latency_count 2\n",
            "app_queue{queue=\"jobs\"} 6\n",
            "rr_http_request_total",
            // The server process's own (issue 16).
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_open_fds ",
            "process_threads ",
        ] {
            assert!(m.contains(want), "{api:?}: {want:?} in\n{m}");
        }
        assert!(m.ends_with("# EOF\n"), "{m}");
        assert_eq!(s.get("/unregister").text(), "ok");
        assert!(!scrape(mport).contains("app_latency"));
    }
}

/// Without a `metrics` section the plugin is not there, as in RoadRunner.
#[test]
fn metrics_rpc_without_the_plugin_is_an_unknown_service() {
    let rpc_port = free_port();
    let a = php_app(
        "no-metrics",
        Api::Native,
        "metrics.php",
        "    num_workers: 1\n    allocate_timeout: 5s\n",
        &format!("rpc:\n  listen: tcp://127.0.0.1:{rpc_port}\n"),
    );
    let (code, log) = a.run(&["serve"], Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("can't find service"), "{log}");
}

/// A bad collector in .rr.yaml names the key.
#[test]
fn a_bad_collector_in_the_config_names_its_key() {
    let a = metrics_app("bad-collect", Api::Native, "metrics.php", free_port());
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
        .unwrap()
        .replace("type: gauge", "type: meter");
    a.file(".rr.yaml", &yaml);
    let (code, log) = a.run(&["serve"], Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("metrics.collect.app_queue.type"), "{log}");
}

/// issue 13: with cells, RPC, `rr workers`, `rr reset` and the metrics
/// endpoint see every cell as one pool (the supervisor asks each cell), and
/// the application's metrics from workers of every cell add up.
#[test]
fn cells_are_one_pool_for_rpc_and_metrics() {
    let (mport, sport) = (free_port(), free_port());
    let a = metrics_app("cells-view", Api::Native, "metrics.php", mport);
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
        .unwrap()
        .replace("server:\n", "server:\n  cells: 2\n")
        + &format!("status:\n  address: 127.0.0.1:{sport}\n");
    a.file(".rr.yaml", &yaml);
    let s = a.serve();
    // Wait until both cells serve (the second may still boot).
    let t = Instant::now();
    loop {
        let m = scrape(mport);
        if m.contains("rr_http_total_workers 4\n") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{m}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out) = a.run(&["workers"], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{out}");
    let rows = out.lines().filter(|l| l.contains("ready")).count();
    assert_eq!(rows, 4, "two cells of two workers: {out}");
    assert!(
        out.contains("| 500 ") || out.contains("| 501 "),
        "cell 1's ids: {out}"
    );
    // Fresh connections land on either cell; every hit is counted once.
    for _ in 0..40 {
        assert_eq!(s.get("/hit?route=x").text(), "ok");
    }
    let m = scrape(mport);
    assert!(m.contains("app_hits_total{route=\"x\"} 40\n"), "{m}");
    assert!(m.contains("rr_http_request_total{status=\"200\"}"), "{m}");
    assert!(m.ends_with("# EOF\n"), "{m}");
    let (code, out) = a.run(&["reset"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}\n{}", s.log());
    // The supervisor serves status for its cells.
    for path in ["/health", "/ready", "/ready?plugin=http"] {
        let r = request(ureq::get(&format!("http://127.0.0.1:{sport}{path}")), None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()[0]["plugin_name"], "http", "{path}");
    }
    let r = request(ureq::get(&format!("http://127.0.0.1:{sport}/nope")), None);
    assert_eq!(r.status, 404);
}
