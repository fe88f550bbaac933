//! `status.address`: `/health` and `/ready` (RoadRunner ≥ 2024.3 semantics,
//! rr-config.md §9.1). The only plugin with checks is `http`.
//!
//! * health: 200 while at least one worker is alive (idle or serving);
//! * ready: 200 while a request can be taken: not stopping and at least one
//!   worker alive. Busy workers still count (requests wait in the queue),
//!   unlike RoadRunner, whose `/ready` fails whenever every worker is busy.
//! * after a stop signal: `/health` 200 `service is shutting down`, `/ready`
//!   `unavailable_status_code`.

use super::{plain, PlainResponse, Runtime};
use serde_json::json;

const PLUGINS: &[&str] = &["http"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Health,
    Ready,
}

/// (status code, error message) of one plugin.
fn check(rt: &Runtime, plugin: &str, _what: Check) -> (u16, String) {
    let unavailable = rt
        .cfg
        .status
        .as_ref()
        .map(|s| s.unavailable_status_code)
        .unwrap_or(503);
    match plugin {
        "http" => {
            let workers = rt.pool.snapshot();
            let alive = workers.iter().filter(|w| w.lives > 0).count();
            if alive == 0 {
                (unavailable, "no workers in the pool".into())
            } else {
                (200, String::new())
            }
        }
        _ => (unavailable, "plugin not found".into()),
    }
}

fn plugins_of(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "plugin")
        .map(|(_, v)| v.into_owned())
        .collect()
}

pub fn handle(rt: &Runtime, path: &str, query: Option<&str>) -> PlainResponse {
    let unavailable = rt
        .cfg
        .status
        .as_ref()
        .map(|s| s.unavailable_status_code)
        .unwrap_or(503);
    let what = match path.trim_end_matches('/') {
        "/health" => Check::Health,
        "/ready" => Check::Ready,
        "/jobs" => {
            return plain(
                404,
                "text/plain; charset=utf-8",
                "the jobs plugin is not supported by rustrunner\n",
            )
        }
        _ => return plain(404, "text/plain; charset=utf-8", "404 page not found\n"),
    };
    if rt.is_stopping() {
        let code = if what == Check::Health {
            200
        } else {
            unavailable
        };
        return plain(
            code,
            "text/plain; charset=utf-8",
            "service is shutting down\n",
        );
    }
    let asked = plugins_of(query);
    let list: Vec<String> = if asked.is_empty() {
        PLUGINS.iter().map(|s| s.to_string()).collect()
    } else {
        asked
    };
    let mut status = 200;
    let mut report = Vec::new();
    for p in list {
        if !PLUGINS.contains(&p.as_str()) {
            tracing::info!(plugin = %p, "plugin does not support health checks");
            continue;
        }
        let (code, msg) = check(rt, &p, what);
        if code >= 500 {
            status = unavailable;
        }
        report.push(json!({"plugin_name": p, "error_message": msg, "status_code": code}));
    }
    let body = serde_json::to_vec(&report).unwrap_or_else(|_| b"[]".to_vec());
    plain(status, "application/json", body)
}
