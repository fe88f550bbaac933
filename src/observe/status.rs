//! `status.address`: `/health` and `/ready` (RoadRunner ≥ 2024.3 semantics,
//! rr-config.md §9.1). The only plugin with checks is `http`.
//!
//! * health: 200 while at least one worker is alive (idle or serving);
//! * ready: 200 while a request can be taken: not stopping and at least one
//!   worker alive. Busy workers still count (requests wait in the queue),
//!   unlike RoadRunner, whose `/ready` fails whenever every worker is busy.
//! * after a stop signal: `/health` 200 `service is shutting down`, `/ready`
//!   `unavailable_status_code`.
//!
//! With `server.cells` the supervisor serves these endpoints: it asks every
//! cell (`rustrunner.Status` over the cell's private RPC socket) and
//! answers 200 when one cell can serve, so a probe does not fail while one
//! cell restarts after a crash.

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

/// An answer of the status endpoints: (status code, content type, body).
pub type Answer = (u16, &'static str, Vec<u8>);

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

pub fn unavailable_code(cfg: &crate::config::Config) -> u16 {
    cfg.status
        .as_ref()
        .map(|s| s.unavailable_status_code)
        .unwrap_or(503)
}

/// `/health`, `/ready`, anything else: which check, or the answer at once.
fn route(path: &str) -> Result<Check, Answer> {
    match path.trim_end_matches('/') {
        "/health" => Ok(Check::Health),
        "/ready" => Ok(Check::Ready),
        "/jobs" => Err((
            404,
            TEXT,
            b"the jobs plugin is not supported by rustrunner\n".to_vec(),
        )),
        _ => Err((404, TEXT, b"404 page not found\n".to_vec())),
    }
}

fn shutting_down(what: Check, unavailable: u16) -> Answer {
    let code = if what == Check::Health {
        200
    } else {
        unavailable
    };
    (code, TEXT, b"service is shutting down\n".to_vec())
}

pub fn handle(rt: &Runtime, path: &str, query: Option<&str>) -> PlainResponse {
    let (code, ct, body) = evaluate(rt, path, query);
    plain(code, ct, body)
}

/// This process's answer (a cell's, or a server's without cells).
pub fn evaluate(rt: &Runtime, path: &str, query: Option<&str>) -> Answer {
    let unavailable = unavailable_code(&rt.cfg);
    let what = match route(path) {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    if rt.is_stopping() {
        return shutting_down(what, unavailable);
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
    (status, JSON, body)
}

/// The supervisor's answer from its cells' answers (None: a cell did not
/// answer, e.g. while it restarts). The first cell that can serve answers
/// for all; if none can, the first answer there is, else "no cell answers".
pub fn combine(unavailable: u16, stopping: bool, path: &str, cells: &[Option<Answer>]) -> Answer {
    let what = match route(path) {
        Ok(w) => w,
        Err(answer) => return answer,
    };
    if stopping {
        return shutting_down(what, unavailable);
    }
    if let Some(ok) = cells.iter().flatten().find(|a| a.0 == 200) {
        return ok.clone();
    }
    if let Some(first) = cells.iter().flatten().next() {
        return first.clone();
    }
    let report = json!([{"plugin_name": "http", "error_message": "no cell answers", "status_code": unavailable}]);
    (unavailable, JSON, report.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supervisor_answers_for_its_cells() {
        let ok: Answer = (200, JSON, b"[ok]".to_vec());
        let down: Answer = (503, JSON, b"[down]".to_vec());
        // One cell restarting (None), one serving: 200.
        assert_eq!(
            combine(503, false, "/health", &[None, Some(ok.clone())]),
            ok
        );
        assert_eq!(
            combine(
                503,
                false,
                "/ready",
                &[Some(down.clone()), Some(ok.clone())]
            ),
            ok
        );
        assert_eq!(
            combine(503, false, "/ready", &[Some(down.clone()), None]),
            down
        );
        let none = combine(501, false, "/health", &[None, None]);
        assert_eq!(none.0, 501);
        assert!(String::from_utf8_lossy(&none.2).contains("no cell answers"));
        // Stopping: health still 200, ready not.
        assert_eq!(combine(503, true, "/health", &[Some(ok.clone())]).0, 200);
        assert_eq!(combine(503, true, "/ready", &[Some(ok.clone())]).0, 503);
        assert_eq!(combine(503, false, "/nope", &[Some(ok)]).0, 404);
    }
}
