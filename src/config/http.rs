//! The `http` section: listener, limits, and the worker pool.

use super::pool::{self, PoolConfig};
use super::value::*;
use super::KeyResult;
use serde_yaml::Value;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub address: String,
    pub pool: PoolConfig,
    pub internal_error_code: u16,
    /// Bytes; 0 = unlimited.
    pub max_request_size: u64,
    pub raw_body: bool,
    pub access_logs: bool,
}

pub fn parse(root: &Value) -> KeyResult<HttpConfig> {
    let http = get(root, "http").ok_or_else(|| {
        (
            "http".to_string(),
            "missing: the http section with http.address is required".to_string(),
        )
    })?;
    let address = match get(http, "address") {
        Some(v) => as_string(v, "http.address")?,
        None => {
            return Err((
                "http.address".into(),
                "missing: e.g. address: 0.0.0.0:8080".into(),
            ))
        }
    };
    validate_address(&address).map_err(|m| ("http.address".to_string(), m))?;
    let pool = pool::parse(get(http, "pool"), "http.pool")?;
    let internal_error_code = match get(http, "internal_error_code") {
        Some(v) => {
            let c = as_u64(v, "http.internal_error_code")?;
            if !(100..=599).contains(&c) {
                return Err((
                    "http.internal_error_code".into(),
                    format!("{c} is not an HTTP status code"),
                ));
            }
            c as u16
        }
        None => 500,
    };
    let max_request_size = match get(http, "max_request_size") {
        Some(v) => as_u64(v, "http.max_request_size")? * 1024 * 1024,
        None => 1000 * 1024 * 1024,
    };
    let raw_body = match get(http, "raw_body") {
        Some(v) => as_bool(v, "http.raw_body")?,
        None => false,
    };
    let access_logs = match get(http, "access_logs") {
        Some(v) => as_bool(v, "http.access_logs")?,
        None => false,
    };
    Ok(HttpConfig {
        address,
        pool,
        internal_error_code,
        max_request_size,
        raw_body,
        access_logs,
    })
}

fn validate_address(a: &str) -> Result<(), String> {
    let (_host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} is not host:port (e.g. 0.0.0.0:8080)"))?;
    port.parse::<u16>()
        .map_err(|_| format!("{a:?}: port {port:?} is not a number from 0 to 65535"))?;
    Ok(())
}
