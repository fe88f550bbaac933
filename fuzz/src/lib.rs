//! The server modules the fuzzers reach, compiled from the server's own
//! source files (no copy): the same `#[path]` list is in
//! tests/fuzz_smoke.rs, which runs the same targets on stable.
#![allow(dead_code, unused_imports)]

#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/relay/mod.rs"]
pub mod relay;
#[path = "../../src/rpc"]
pub mod rpc {
    pub mod codec;
}
#[path = "../../src/http"]
pub mod http {
    pub mod body;
    pub mod request;
    pub mod uploads;
}
#[path = "../../src/pool"]
pub mod pool {
    pub mod events;
    pub mod job;
}
pub mod targets;
