//! Logs: `logs.mode` / `level` / `encoding` onto tracing-subscriber.

use crate::config::LogsConfig;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `RR_LOG` (an EnvFilter) overrides the level.
pub fn init(cfg: &LogsConfig) {
    if cfg.mode == "off" || cfg.mode == "none" {
        return;
    }
    let level = match cfg.level.as_str() {
        "panic" | "fatal" => "error",
        l => l,
    };
    let filter = EnvFilter::try_from_env("RR_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = if cfg.encoding == "json" {
        builder.json().flatten_event(true).try_init()
    } else if cfg.mode == "raw" {
        builder
            .without_time()
            .with_level(false)
            .with_target(false)
            .try_init()
    } else {
        builder.with_target(true).try_init()
    };
    let _ = res;
}
