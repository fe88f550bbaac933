//! `metrics.address`: a Prometheus endpoint with RoadRunner's `rr_http_*`
//! names and labels (rr-config.md §9.2), plus worker restarts by reason.
//!
//! Differences from RoadRunner, by design:
//! * thread workers have no pid of their own, so their `pid` label carries
//!   the worker id (the same id as `worker=` in the logs and in `rr
//!   workers`); process workers have their OS pid there, as in RoadRunner;
//!   memory is the worker's Zend allocator usage, not a process RSS;
//! * the request metrics of RoadRunner's `http_metrics` middleware are
//!   always exported when the `metrics` section exists;
//! * `rr_http_uptime_seconds` is a gauge (RoadRunner's is a counter named
//!   without `_total`, which OpenMetrics does not allow);
//! * extra: `rr_http_worker_restarts_total{reason}`.

use super::Runtime;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    total_workers: Gauge,
    workers_memory: Gauge,
    worker_memory: Family<Labels, Gauge>,
    worker_state: Family<Labels, Gauge>,
    ready: Gauge,
    working: Gauge,
    invalid: Gauge,
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
    queue: Gauge,
    no_free: Counter,
    uptime: Gauge,
    restarts: Family<Labels, Counter>,
}

static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();

const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Create and register the metrics (once; later calls return the same).
pub fn install() -> Arc<Metrics> {
    METRICS
        .get_or_init(|| {
            let mut registry = Registry::default();
            let m = Metrics {
                registry: Registry::default(),
                total_workers: Gauge::default(),
                workers_memory: Gauge::default(),
                worker_memory: Family::default(),
                worker_state: Family::default(),
                ready: Gauge::default(),
                working: Gauge::default(),
                invalid: Gauge::default(),
                requests: Family::default(),
                duration: Family::new_with_constructor(histogram),
                queue: Gauge::default(),
                no_free: Counter::default(),
                uptime: Gauge::default(),
                restarts: Family::default(),
            };
            registry.register(
                "rr_http_total_workers",
                "Total number of workers used by the HTTP plugin",
                m.total_workers.clone(),
            );
            registry.register(
                "rr_http_workers_memory_bytes",
                "Memory usage by HTTP workers (Zend allocator)",
                m.workers_memory.clone(),
            );
            registry.register(
                "rr_http_worker_memory_bytes",
                "Worker current memory usage (Zend allocator); pid is the OS pid (process workers) or the worker id",
                m.worker_memory.clone(),
            );
            registry.register(
                "rr_http_worker_state",
                "Worker current state (in the state label); pid is the OS pid (process workers) or the worker id",
                m.worker_state.clone(),
            );
            registry.register(
                "rr_http_workers_ready",
                "HTTP workers currently in ready state",
                m.ready.clone(),
            );
            registry.register(
                "rr_http_workers_working",
                "HTTP workers currently in working state",
                m.working.clone(),
            );
            registry.register(
                "rr_http_workers_invalid",
                "HTTP workers currently in invalid,killing,destroyed,errored,inactive states",
                m.invalid.clone(),
            );
            registry.register(
                "rr_http_request",
                "Total number of handled http requests after server restart",
                m.requests.clone(),
            );
            registry.register(
                "rr_http_request_duration_seconds",
                "HTTP request duration",
                m.duration.clone(),
            );
            registry.register(
                "rr_http_requests_queue",
                "Total number of queued requests",
                m.queue.clone(),
            );
            registry.register(
                "rr_http_no_free_workers",
                "Total number of NoFreeWorkers occurrences",
                m.no_free.clone(),
            );
            registry.register(
                "rr_http_uptime_seconds",
                "Uptime in seconds",
                m.uptime.clone(),
            );
            registry.register(
                "rr_http_worker_restarts",
                format!(
                    "Worker restarts by reason ({})",
                    crate::pool::state::REASONS
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                m.restarts.clone(),
            );
            Arc::new(Metrics { registry, ..m })
        })
        .clone()
}

/// Counts a request as in flight until dropped (`rr_http_requests_queue`).
pub struct InFlight(&'static Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.queue.dec();
    }
}

/// Call when a request arrives; keep the guard until it is answered.
/// Nothing is counted when metrics are off.
pub fn request_started() -> Option<InFlight> {
    let m: &'static Metrics = METRICS.get()?;
    m.queue.inc();
    Some(InFlight(m))
}

/// Record an answered request.
pub fn request_finished<B>(resp: &hyper::Response<B>, started: Instant) {
    let Some(m) = METRICS.get() else { return };
    let labels = vec![("status".to_string(), resp.status().as_u16().to_string())];
    m.requests.get_or_create(&labels).inc();
    m.duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    if resp.headers().contains_key("No-Workers") {
        m.no_free.inc();
    }
}

impl Metrics {
    /// Refresh the worker gauges and encode everything (OpenMetrics text).
    pub fn render(&self, rt: &Runtime) -> String {
        let workers = rt.pool.snapshot();
        self.total_workers.set(workers.len() as i64);
        self.workers_memory
            .set(workers.iter().map(|w| w.memory as i64).sum());
        self.worker_memory.clear();
        self.worker_state.clear();
        let (mut ready, mut working, mut invalid) = (0, 0, 0);
        for w in &workers {
            let pid = w
                .pid
                .map_or((w.id + crate::cells::worker_id_offset()) as u64, u64::from)
                .to_string();
            self.worker_memory
                .get_or_create(&vec![("pid".to_string(), pid.clone())])
                .set(w.memory as i64);
            let state = if w.lives == 0 {
                invalid += 1;
                "inactive"
            } else if w.busy {
                working += 1;
                "working"
            } else {
                ready += 1;
                "ready"
            };
            // RoadRunner's value is always 0: the state is in the label.
            self.worker_state
                .get_or_create(&vec![
                    ("state".to_string(), state.to_string()),
                    ("pid".to_string(), pid),
                ])
                .set(0);
        }
        self.ready.set(ready);
        self.working.set(working);
        self.invalid.set(invalid);
        self.uptime.set(rt.started.elapsed().as_secs() as i64);
        for (reason, n) in rt.pool.restarts() {
            let c = self
                .restarts
                .get_or_create(&vec![("reason".to_string(), reason.as_str().to_string())]);
            let have = c.get();
            if n > have {
                c.inc_by(n - have);
            }
        }
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        // The process's and the application's families go before
        // OpenMetrics' end marker.
        let body = out.strip_suffix("# EOF\n").unwrap_or(&out).to_string();
        out = body;
        super::process_metrics::render(&mut out);
        if let Some(app) = super::app_metrics::get() {
            app.render(&mut out);
        }
        out.push_str("# EOF\n");
        out
    }
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
