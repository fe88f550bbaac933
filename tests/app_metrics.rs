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
