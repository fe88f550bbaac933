//! Episode 2 (episodes/2-database): the notes API as committed, served by the
//! real binary with its offline vendor (Debian's nyholm/psr7 and Doctrine
//! DBAL), against a real temporary PostgreSQL (tests/common/servers.rs), with
//! 8 workers and 16 concurrent clients, on thread workers and on
//! `server.executor: process`: persistence across requests and workers, one
//! PostgreSQL backend per worker, a rolled-back transaction, constraint
//! violations (409/422) with the workers staying alive, and a database
//! restart (503, then the same workers again).

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use serde_json::{json, Value};
use servers::Postgres;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const CLIENTS: usize = 16;
const NOTES: usize = 200;
const DBAL: &str = "/usr/share/php/Doctrine/DBAL/autoload.php";

fn episode_app(name: &str, process: bool) -> App {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("episodes/2-database");
    let yaml = std::fs::read_to_string(src.join("app/.rr.yaml")).unwrap();
    assert!(yaml.contains("address: 0.0.0.0:8080"), "{yaml}");
    assert!(yaml.contains(&format!("num_workers: {WORKERS}")), "{yaml}");
    let mut yaml = yaml.replace("address: 0.0.0.0:8080", "address: 127.0.0.1:{port}");
    if process {
        assert!(yaml.contains("server:\n"), "{yaml}");
        yaml = yaml.replace("server:\n", "server:\n  executor: process\n");
    }
    let a = App::new(name, &yaml);
    a.file(
        "worker.php",
        &std::fs::read_to_string(src.join("app/worker.php")).unwrap(),
    );
    a.file(
        "vendor/autoload.php",
        &std::fs::read_to_string(src.join("offline-vendor/autoload.php")).unwrap(),
    );
    a.file(
        "vendor/offline-autoload.php",
        &std::fs::read_to_string(root.join("episodes/offline-autoload.php")).unwrap(),
    );
    a
}

fn post_json(s: &Server, path: &str, v: &Value) -> Resp {
    s.post(path, "application/json", v.to_string().as_bytes())
}

fn worker_of(r: &Resp) -> String {
    r.header("x-worker")
        .unwrap_or_else(|| panic!("no X-Worker: {} {}", r.status, r.text()))
        .to_string()
}

/// `n` jobs from `CLIENTS` threads; `job(i)` runs request i.
fn hammer<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new((0..n).map(|_| None).collect::<Vec<Option<T>>>());
    std::thread::scope(|sc| {
        for _ in 0..CLIENTS {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = job(i);
                out.lock().unwrap()[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn run_episode(name: &str, process: bool) {
    if !Postgres::available() || !Path::new(DBAL).exists() {
        eprintln!("SKIPPED: postgresql or php-doctrine-dbal missing (make test installs them)");
        return;
    }
    let mut pg = Postgres::start();
    let url = format!("pgsql://postgres@127.0.0.1:{}/postgres", pg.port);
    let a = episode_app(name, process);
    let s = a.serve_env(&[], &[("DATABASE_URL", url.as_str())]);

    // The schema is created at boot, once, whichever worker comes first.
    let r = s.get("/");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.json()["notes"], 0, "{}", r.text());

    // 200 notes created concurrently (each with its tags, one transaction).
    let created = hammer(NOTES, |i| {
        let r = post_json(
            &s,
            "/notes",
            &json!({"title": format!("note {i}"), "body": format!("body {i}"), "tags": [format!("t{}", i % 5), "all"]}),
        );
        assert_eq!(r.status, 201, "create {i}: {}", r.text());
        let v = r.json();
        assert_eq!(v["title"], format!("note {i}"));
        assert_eq!(v["tags"], json!(["all", format!("t{}", i % 5)]), "{v}");
        (v["id"].as_i64().unwrap(), worker_of(&r))
    });
    let writers: HashSet<&String> = created.iter().map(|(_, w)| w).collect();
    assert!(writers.len() > 1, "one worker wrote everything");

    // Every note read back concurrently; many by another worker than the
    // one that wrote it.
    let read = hammer(NOTES, |i| {
        let (id, _) = &created[i];
        let r = s.get(&format!("/notes/{id}"));
        assert_eq!(r.status, 200, "read {id}: {}", r.text());
        let v = r.json();
        assert_eq!(v["title"], format!("note {i}"), "{v}");
        assert_eq!(v["body"], format!("body {i}"), "{v}");
        worker_of(&r)
    });
    let crossed = (0..NOTES).filter(|&i| read[i] != created[i].1).count();
    assert!(crossed > 0, "every note was read by its own writer");
    assert_eq!(pg.psql("SELECT count(*) FROM notes"), NOTES.to_string());
    let r = s.get("/notes?tag=t3&limit=500");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), NOTES / 5);

    // Persistent connections: each worker keeps one backend across its
    // requests, and PostgreSQL sees at most one connection per worker.
    let who = hammer(200, |_| {
        let r = s.get("/");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        (
            v["worker"].as_str().unwrap().to_string(),
            v["backend_pid"].as_i64().unwrap(),
            v["pid"].as_u64().unwrap() as u32,
        )
    });
    let mut backends: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut pids: HashMap<String, u32> = HashMap::new();
    for (w, b, pid) in &who {
        backends.entry(w.clone()).or_default().insert(*b);
        pids.insert(w.clone(), *pid);
    }
    // Thread workers run in rr's own process; process workers each in one
    // of rr's children.
    let distinct: HashSet<u32> = pids.values().copied().collect();
    if process {
        assert_eq!(distinct.len(), pids.len(), "{pids:?}");
        assert!(!distinct.contains(&s.pid()), "{pids:?}");
    } else {
        assert_eq!(distinct, HashSet::from([s.pid()]), "{pids:?}");
    }
    for (w, b) in &backends {
        assert_eq!(b.len(), 1, "worker {w} used backends {b:?}");
    }
    let n = pg.client_conns();
    assert!(
        (1..=WORKERS).contains(&n),
        "{n} connections for {WORKERS} workers"
    );

    // The transaction: a duplicate tag fails the second insert, and the
    // note inserted before it is rolled back with it (409, nothing stored).
    let r = post_json(
        &s,
        "/notes",
        &json!({"title": "rolled back", "tags": ["x", "x"]}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["sqlstate"], "23505");
    assert_eq!(
        pg.psql("SELECT count(*) FROM notes WHERE title = 'rolled back'"),
        "0"
    );
    // A CHECK constraint (tag format): 422; bad input: 400; none: 404.
    let r = post_json(&s, "/notes", &json!({"title": "t", "tags": ["Not A Tag"]}));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["sqlstate"], "23514");
    assert_eq!(s.post("/notes", "application/json", b"{").status, 400);
    assert_eq!(s.get("/notes/999999").status, 404);

    // Duplicate titles (a unique constraint) from all clients: 409 every
    // time, and every worker that hit one serves again, none replaced.
    let dups = hammer(4 * WORKERS, |i| {
        let r = post_json(
            &s,
            "/notes",
            &json!({"title": format!("note {}", i % NOTES)}),
        );
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(r.json()["sqlstate"], "23505");
        worker_of(&r)
    });
    let failed: HashSet<String> = dups.into_iter().collect();
    let start = Instant::now();
    let mut again: HashSet<String> = HashSet::new();
    while !failed.is_subset(&again) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "workers {:?} did not serve again",
            failed.difference(&again).collect::<Vec<_>>()
        );
        for w in hammer(32, |_| {
            let r = s.get("/notes?limit=1");
            assert_eq!(r.status, 200, "after a constraint violation: {}", r.text());
            worker_of(&r)
        }) {
            again.insert(w);
        }
    }
    let mut all: HashSet<String> = backends.into_keys().collect();
    all.extend(writers.into_iter().cloned());
    all.extend(read);
    all.extend(again);
    all.extend(failed);
    assert!(all.len() <= WORKERS, "workers were replaced: {all:?}");
    assert_eq!(pg.psql("SELECT count(*) FROM notes"), NOTES.to_string());
    let n = pg.client_conns();
    assert!(n <= WORKERS, "{n} connections for {WORKERS} workers");

    // DELETE, then the note is gone for every worker.
    let (id, _) = created[0];
    let r = request(ureq::delete(&s.url(&format!("/notes/{id}"))), None);
    assert_eq!(r.status, 204, "{}", r.text());
    for st in hammer(16, |_| s.get(&format!("/notes/{id}")).status) {
        assert_eq!(st, 404);
    }

    // The database restarted: 503 while it is down (the worker lives on),
    // then the same workers reconnect by themselves.
    pg.stop_server();
    for st in hammer(32, |_| s.get("/notes?limit=1").status) {
        assert_eq!(st, 503);
    }
    pg.start_server();
    let start = Instant::now();
    let mut back: HashSet<String> = HashSet::new();
    while back.len() < all.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "after the restart only {back:?} of {all:?} served"
        );
        for (st, w) in hammer(32, |_| {
            let r = s.get("/notes?limit=1");
            (r.status, worker_of(&r))
        }) {
            if st == 200 {
                back.insert(w);
            }
        }
    }
    assert!(
        back.is_subset(&all),
        "workers were replaced: {back:?} vs {all:?}"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM notes"),
        (NOTES - 1).to_string()
    );

    let log = s.log();
    assert!(!log.contains("PHP Fatal"), "{log}");
}

#[test]
fn episode2_thread_workers() {
    run_episode("ep2-threads", false);
}

#[test]
fn episode2_process_executor() {
    run_episode("ep2-process", true);
}
