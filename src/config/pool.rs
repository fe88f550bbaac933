//! `http.pool` (RoadRunner's shared pool config): workers, jobs, timeouts.

use super::value::*;
use super::KeyResult;
use serde_norway::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub num_workers: usize,
    pub max_jobs: u64,
    pub max_queue_size: u64,
    pub allocate_timeout: Duration,
    pub destroy_timeout: Duration,
    pub reset_timeout: Duration,
    pub stream_timeout: Duration,
    pub debug: bool,
    pub supervisor: SupervisorConfig,
    /// `command`: this pool's worker command instead of `server.command`.
    pub command: Option<Vec<String>>,
    /// Keys we read past (unknown ones), for the log.
    pub warnings: Vec<String>,
}

/// `http.pool.supervisor`: limits checked per request and every `watch_tick`.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub watch_tick: Duration,
    /// Maximum life of a worker; 0 = none.
    pub ttl: Duration,
    /// Maximum idle time of a worker that served a request; 0 = none.
    pub idle_ttl: Duration,
    /// Maximum time of one request; 0 = none.
    pub exec_ttl: Duration,
    /// Zend memory (bytes) after which a worker is recycled; 0 = none.
    pub max_worker_memory: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            watch_tick: Duration::from_secs(5),
            ttl: Duration::ZERO,
            idle_ttl: Duration::ZERO,
            exec_ttl: Duration::ZERO,
            max_worker_memory: 0,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            num_workers: default_workers(),
            max_jobs: 0,
            max_queue_size: 0,
            allocate_timeout: Duration::from_secs(60),
            destroy_timeout: Duration::from_secs(60),
            reset_timeout: Duration::from_secs(60),
            stream_timeout: Duration::from_secs(60),
            debug: false,
            supervisor: SupervisorConfig::default(),
            command: None,
            warnings: Vec::new(),
        }
    }
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parse a pool section found at `prefix` (e.g. `http.pool`).
pub fn parse(p: Option<&Value>, prefix: &str) -> KeyResult<PoolConfig> {
    let mut pool = PoolConfig::default();
    let Some(p) = p else { return Ok(pool) };
    let key = |k: &str| format!("{prefix}.{k}");
    if let Some(v) = get(p, "num_workers") {
        let n = as_u64(v, &key("num_workers"))?;
        if n > 500 {
            return Err((
                key("num_workers"),
                format!("{n} is over the maximum of 500"),
            ));
        }
        if n > 0 {
            pool.num_workers = n as usize;
        }
    }
    if let Some(v) = get(p, "command") {
        // As RoadRunner: an empty one means the server's.
        let argv = super::server::argv(v, &key("command"))?;
        pool.command = (!argv.is_empty()).then_some(argv);
    }
    if let Some(v) = get(p, "max_jobs") {
        pool.max_jobs = as_u64(v, &key("max_jobs"))?;
    }
    if let Some(v) = get(p, "max_queue_size") {
        pool.max_queue_size = as_u64(v, &key("max_queue_size"))?;
    }
    if let Some(v) = get(p, "allocate_timeout") {
        pool.allocate_timeout = as_duration(v, &key("allocate_timeout"))?;
    }
    if let Some(v) = get(p, "destroy_timeout") {
        pool.destroy_timeout = as_duration(v, &key("destroy_timeout"))?;
    }
    if let Some(v) = get(p, "reset_timeout") {
        pool.reset_timeout = as_duration(v, &key("reset_timeout"))?;
    }
    if let Some(v) = get(p, "stream_timeout") {
        pool.stream_timeout = as_duration(v, &key("stream_timeout"))?;
    }
    if let Some(s) = get(p, "supervisor") {
        let sk = |k: &str| format!("{prefix}.supervisor.{k}");
        let mut sup = pool.supervisor.clone();
        if let Some(v) = get(s, "watch_tick") {
            sup.watch_tick = as_duration(v, &sk("watch_tick"))?;
            if sup.watch_tick.is_zero() {
                return Err((sk("watch_tick"), "must be greater than 0".into()));
            }
        }
        if let Some(v) = get(s, "ttl") {
            sup.ttl = as_duration(v, &sk("ttl"))?;
        }
        if let Some(v) = get(s, "idle_ttl") {
            sup.idle_ttl = as_duration(v, &sk("idle_ttl"))?;
        }
        if let Some(v) = get(s, "exec_ttl") {
            sup.exec_ttl = as_duration(v, &sk("exec_ttl"))?;
        }
        if let Some(v) = get(s, "max_worker_memory") {
            // Megabytes, as RoadRunner.
            sup.max_worker_memory = as_u64(v, &sk("max_worker_memory"))? * 1024 * 1024;
        }
        for (k, _) in s.as_mapping().into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            if !SUPERVISOR_KEYS.contains(&k) {
                pool.warnings.push(format!(
                    "{}: unknown key, ignored (known: watch_tick, ttl, idle_ttl, exec_ttl, max_worker_memory){}",
                    sk(k),
                    super::value::did_you_mean(k, SUPERVISOR_KEYS)
                ));
            }
        }
        pool.supervisor = sup;
    }
    for (k, _) in p.as_mapping().into_iter().flatten() {
        let k = k.as_str().unwrap_or_default();
        if !POOL_KEYS.contains(&k) {
            let why = if k == "dynamic_allocator" {
                "not supported yet, ignored".to_string()
            } else {
                format!(
                    "unknown key, ignored{}",
                    super::value::did_you_mean(k, POOL_KEYS)
                )
            };
            pool.warnings.push(format!("{}: {why}", key(k)));
        }
    }
    if let Some(v) = get(p, "debug") {
        pool.debug = as_bool(v, &key("debug"))?;
    }
    if pool.debug {
        pool.max_jobs = 1;
    }
    Ok(pool)
}

const SUPERVISOR_KEYS: &[&str] = &[
    "watch_tick",
    "ttl",
    "idle_ttl",
    "exec_ttl",
    "max_worker_memory",
];

const POOL_KEYS: &[&str] = &[
    "num_workers",
    "max_jobs",
    "max_queue_size",
    "allocate_timeout",
    "destroy_timeout",
    "reset_timeout",
    "stream_timeout",
    "debug",
    "supervisor",
    "command",
];
