//! The fuzzers' smoke run on stable (issue 9): every target in
//! fuzz/src/targets.rs (the same functions `cargo +nightly fuzz run` drives)
//! gets its seed corpus plus a few thousand deterministic mutations of it.
//! Chosen over shelling out to cargo-fuzz so that `make test` behaves the
//! same on every machine, stable or not; the long runs are `cargo fuzz`'s
//! (see fuzz/README.md).

// The server's own source files, as in fuzz/src/lib.rs.
#[allow(dead_code, unused_imports)]
#[path = "../src/config/mod.rs"]
mod config;
#[allow(dead_code, unused_imports)]
#[path = "../src/relay/mod.rs"]
mod relay;
#[allow(dead_code, unused_imports)]
#[path = "../src/rpc"]
mod rpc {
    pub mod codec;
}
#[allow(dead_code, unused_imports)]
#[path = "../src/http"]
mod http {
    pub mod body;
    pub mod request;
    pub mod uploads;
}
#[allow(dead_code, unused_imports)]
#[path = "../src/pool"]
mod pool {
    pub mod events;
    pub mod job;
}
#[allow(dead_code)]
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One libFuzzer-like mutation: flip, set an interesting byte, insert,
/// delete, duplicate a slice, splice from another seed.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    const INTERESTING: &[u8] = &[
        0, 1, 0x7f, 0x80, 0xff, b'\n', b'\r', b'[', b']', b'%', b'=', b'&', b':', b'"', b'{', 0x13,
        0x14,
    ];
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1).min(16);
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i).min(64) + 1;
                let chunk = data[i..(i + n).min(len)].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = rng.below(other.len() - i).min(128) + 1;
                let at = rng.below(len + 1);
                data.splice(at..at, other[i..(i + n).min(other.len())].iter().copied());
            }
            _ => {
                // random bytes appended
                for _ in 0..rng.below(8) {
                    data.push(rng.next() as u8);
                }
            }
        }
    }
    data.truncate(64 * 1024);
}

/// The seed corpus of a target: fuzz/corpus/<target>/* (committed seeds).
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out.push(Vec::new());
    out
}

fn smoke(target: &str, f: fn(&[u8]), runs: usize) {
    let seeds = seeds(target);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let started = Instant::now();
    for s in &seeds {
        f(s);
    }
    let mut n = seeds.len();
    // a few thousand mutations, but bounded in time on a slow machine
    while n < runs && started.elapsed() < Duration::from_secs(20) {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        let mut d = a.clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut d, b);
        }
        f(&d);
        n += 1;
    }
    eprintln!("{target}: {n} inputs in {:?}", started.elapsed());
}

#[test]
fn fuzz_smoke_frame_decode() {
    smoke("frame_decode", targets::frame_decode, 5000);
}

#[test]
fn fuzz_smoke_frame_encode() {
    smoke("frame_encode", targets::frame_encode, 5000);
}

#[test]
fn fuzz_smoke_rpc_decode() {
    smoke("rpc_decode", targets::rpc_decode, 5000);
}

#[test]
fn fuzz_smoke_request_context() {
    smoke("request_context", targets::request_context, 3000);
}

#[test]
fn fuzz_smoke_config_load() {
    smoke("config_load", targets::config_load, 2000);
}
