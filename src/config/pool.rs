//! `http.pool` (RoadRunner's shared pool config): workers, jobs, timeouts.

use super::value::*;
use super::KeyResult;
use serde_yaml::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub num_workers: usize,
    pub max_jobs: u64,
    pub max_queue_size: u64,
    pub allocate_timeout: Duration,
    pub destroy_timeout: Duration,
    pub debug: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            num_workers: default_workers(),
            max_jobs: 0,
            max_queue_size: 0,
            allocate_timeout: Duration::from_secs(60),
            destroy_timeout: Duration::from_secs(60),
            debug: false,
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
    if let Some(v) = get(p, "debug") {
        pool.debug = as_bool(v, &key("debug"))?;
    }
    if pool.debug {
        pool.max_jobs = 1;
    }
    Ok(pool)
}
