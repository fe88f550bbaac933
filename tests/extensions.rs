//! Issue 14: the extensions real applications load, under real concurrency,
//! against real servers (PostgreSQL, MariaDB, Redis from Debian's packages,
//! temporary unprivileged instances on free 127.0.0.1 ports: see
//! tests/common/servers.rs), with 8 worker threads and 16 client threads.
//!
//! `make test` installs postgresql, mariadb-server and redis-server; without
//! them the server tests say why they skip.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::*;
use serde_json::Value;
use servers::{HttpFiles, MariaDb, Postgres, Redis};
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const CLIENTS: usize = 16;
const REQUESTS: usize = 200;

/// Every extension of issue 14 items 1-2 (and PHP's names for them in -m).
const EXTENSIONS: &[&str] = &[
    "mysqlnd",
    "pdo_mysql",
    "mysqli",
    "pdo_pgsql",
    "pgsql",
    "curl",
    "gd",
    "zip",
    "sodium",
    "gmp",
    "bz2",
    "exif",
    "calendar",
    "gettext",
    "xsl",
    "soap",
    "sysvsem",
    "sysvshm",
    "sysvmsg",
    "shmop",
    "readline",
    "apcu",
    "igbinary",
    "redis",
];

/// The fixture app on `api` with 8 workers; `config` is the body of the PHP
/// array config.php returns.
fn ext_app(name: &str, api: Api, config: &str) -> App {
    let a = php_app(
        name,
        api,
        "extensions.php",
        &format!("    num_workers: {WORKERS}\n"),
        "",
    );
    a.file("config.php", &format!("<?php\nreturn [\n{config}];\n"));
    a
}

/// `n` requests from `CLIENTS` threads; `path(i)` is request i's path.
fn hammer(s: &Server, n: usize, path: impl Fn(usize) -> String + Sync) -> Vec<(u16, Value)> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(vec![(0u16, Value::Null); n]);
    std::thread::scope(|sc| {
        for _ in 0..CLIENTS {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = s.get(&path(i));
                let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                out.lock().unwrap()[i] = (r.status, v);
            });
        }
    });
    out.into_inner().unwrap()
}

fn ok(r: &(u16, Value), what: &str) -> Value {
    assert_eq!(r.0, 200, "{what}: {}", r.1);
    r.1.clone()
}

fn workers_of(rs: &[(u16, Value)]) -> HashSet<String> {
    rs.iter()
        .filter_map(|(_, v)| v["worker"].as_str().map(String::from))
        .collect()
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why} (make test installs it)");
}

#[test]
fn php_cli_lists_every_extension() {
    let o = Command::new(RR)
        .args(["php-cli", "-m"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success());
    let m = String::from_utf8_lossy(&o.stdout);
    let missing: Vec<&&str> = EXTENSIONS
        .iter()
        .filter(|e| !m.lines().any(|l| l == **e))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from rr php-cli -m: {missing:?}\n{m}"
    );
    // apc.enable_cli is on (the SAPI is named "cli"); redis has igbinary.
    let o = Command::new(RR)
        .args([
            "php-cli",
            "-r",
            "echo json_encode([apcu_enabled(), apcu_store('k', 5), apcu_fetch('k'), \
             defined('Redis::SERIALIZER_IGBINARY'), (new ReflectionExtension('redis'))->getDependencies()['igbinary']]);",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out,
        r#"[true,true,5,true,"Required"]"#,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// PDO (prepared statements, transactions, persistent connections, a
/// constraint violation) on `db` ("pg" or "my"), checking the server-side
/// connection count with `conns`.
fn pdo_suite(s: &Server, db: &str, conns: &dyn Fn() -> usize) -> HashSet<String> {
    let r = s.get(&format!("/{db}/setup"));
    assert_eq!(r.status, 200, "{}", r.text());

    // 200 transactions from 16 clients: each sees exactly its own two rows
    // inside the transaction (nothing of the others'), rolled back ones
    // leave none.
    let rs = hammer(s, REQUESTS, |i| {
        format!("/{db}/tx?tag=t{i}&rollback={}", i % 3 == 0)
    });
    for (i, r) in rs.iter().enumerate() {
        let v = ok(r, &format!("{db} tx {i}"));
        assert_eq!(v["in_tx"], 2, "{v}");
        assert_eq!(v["sum"], 3, "{v}");
        assert_eq!(v["after"], if i % 3 == 0 { 0 } else { 2 }, "{v}");
        assert_eq!(v["in_transaction"], false, "{v}");
    }
    let mut seen = workers_of(&rs);
    assert!(seen.len() > 1, "one worker served everything: {seen:?}");
    assert!(seen.len() <= WORKERS, "{seen:?}");

    // Persistent connections: at most one per worker, as the server sees it.
    let n = conns();
    assert!(
        (1..=WORKERS).contains(&n),
        "{db}: {n} connections for {WORKERS} workers"
    );

    // A constraint violation: 500, and the worker that hit it serves again.
    let mut failed: HashSet<String> = HashSet::new();
    for i in 0..WORKERS {
        let r = s.get(&format!("/{db}/dup?k=dup{i}"));
        assert_eq!(r.status, 500, "{}", r.text());
        let v = r.json();
        assert_eq!(v["exception"], "PDOException", "{v}");
        let m = v["message"].as_str().unwrap();
        assert!(m.contains("23000") || m.contains("23505"), "{m}");
        failed.insert(v["worker"].as_str().unwrap().to_string());
    }
    let start = Instant::now();
    let mut again: HashSet<String> = HashSet::new();
    while !failed.is_subset(&again) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "workers {:?} did not serve again",
            failed.difference(&again).collect::<Vec<_>>()
        );
        let rs = hammer(s, 32, |i| format!("/{db}/tx?tag=after{i}&rollback=true"));
        for r in &rs {
            ok(r, "after a constraint violation");
        }
        again.extend(workers_of(&rs));
    }
    seen.extend(again);
    seen.extend(failed);
    // No worker died (a new one would have a new id).
    assert!(seen.len() <= WORKERS, "workers were replaced: {seen:?}");
    let n = conns();
    assert!(n <= WORKERS, "{db}: {n} connections for {WORKERS} workers");
    seen
}

fn pg_config(pg: &Postgres) -> String {
    format!("'pg' => '{}', 'pg_user' => 'postgres',\n", pg.dsn())
}

#[test]
fn postgres_pdo_thread_workers_and_restart_under_load() {
    if !Postgres::available() {
        return skip("postgresql");
    }
    let mut pg = Postgres::start();
    let a = ext_app("ext-pg", Api::Native, &pg_config(&pg));
    let s = a.serve();
    let mut seen = pdo_suite(&s, "pg", &|| pg.client_conns());

    // The database restarted under load: 5xx while it is down, 200 again
    // after, from the same workers, without `rr reset`.
    let stop = AtomicBool::new(false);
    let down = AtomicBool::new(false);
    let during_down = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let was_down = down.load(Ordering::SeqCst);
                    let r = s.get("/pg/ping");
                    if was_down && down.load(Ordering::SeqCst) {
                        during_down.lock().unwrap().push(r.status);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        pg.stop_server();
        down.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(2));
        down.store(false, Ordering::SeqCst);
        pg.start_server();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
    });
    let statuses = during_down.into_inner().unwrap();
    assert!(
        !statuses.is_empty(),
        "no request while the database was down"
    );
    assert!(
        statuses.iter().all(|s| *s >= 500),
        "while down: {statuses:?}"
    );
    // Back: a broken persistent connection fails once per worker at most,
    // then every worker reconnects.
    let start = Instant::now();
    loop {
        let rs = hammer(&s, 64, |_| "/pg/ping".to_string());
        seen.extend(workers_of(&rs));
        if rs.iter().all(|r| r.0 == 200) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still failing after the restart: {:?}",
            rs.iter().find(|r| r.0 != 200)
        );
    }
    assert!(seen.len() <= WORKERS, "workers were replaced: {seen:?}");
    assert!(pg.client_conns() <= WORKERS);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

#[test]
fn mariadb_pdo_thread_workers() {
    if !MariaDb::available() {
        return skip("mariadb-server");
    }
    let my = MariaDb::start();
    let a = ext_app(
        "ext-my",
        Api::Native,
        &format!("'my' => '{}', 'my_user' => 'root',\n", my.dsn()),
    );
    let s = a.serve();
    pdo_suite(&s, "my", &|| {
        my.sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'root' AND DB = 'rr'",
        )
        .parse()
        .unwrap()
    });
}

/// Redis, APCu, curl, gd, zip, sodium and the smaller extensions from all
/// workers at once; `shared_apcu` when the workers are threads of one
/// process (one APCu cache).
fn mixed_suite(s: &Server, redis: &Redis, files: &HttpFiles, shared_apcu: bool) {
    let want_sha = {
        use sha2::{Digest, Sha256};
        hex(&Sha256::digest(b"served by python3 http.server\n"))
    };
    let curl_url = format!("http://127.0.0.1:{}/page.txt", files.port);
    let routes = ["redis", "apcu", "curl", "gd", "zip", "sodium", "misc"];
    let n = REQUESTS * 2;
    let rs = hammer(s, n, |i| {
        let r = routes[i % routes.len()];
        match r {
            "redis" => format!("/redis?k={i}&v=v{i}"),
            "curl" => format!("/curl?url={curl_url}"),
            "gd" => format!("/gd?n={i}"),
            "zip" => format!("/zip?v=z{i}"),
            "sodium" => format!("/sodium?m=secret{i}"),
            _ => format!("/{r}"),
        }
    });
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (i, r) in rs.iter().enumerate() {
        let route = routes[i % routes.len()];
        *counts.entry(route).or_default() += 1;
        let v = ok(r, route);
        match route {
            "redis" => {
                assert_eq!(v["get"], format!("v{i}"), "{v}");
                assert_eq!(v["ig"]["v"], format!("v{i}"), "{v}");
                assert_eq!(v["ig"]["list"], serde_json::json!([1, 2, 3]), "{v}");
            }
            "apcu" => assert_eq!(v["enabled"], true, "{v}"),
            "curl" => {
                assert_eq!(v["code"], 200, "{v}");
                assert_eq!(v["sha256"], want_sha.as_str(), "{v}");
            }
            "gd" => {
                assert_eq!(v["w"], 40 + (i % 7), "{v}");
                assert_eq!(v["r"], i % 256, "{v}");
                assert_eq!((v["g"].clone(), v["b"].clone()), (100.into(), 200.into()));
                assert_eq!(v["png"], "PNG", "{v}");
                assert_eq!(
                    (v["webp"].clone(), v["jpeg"].clone(), v["freetype"].clone()),
                    (true.into(), true.into(), true.into()),
                    "{v}"
                );
            }
            "zip" => {
                assert_eq!(v["files"], 2, "{v}");
                assert_eq!(v["a_len"], 100 * format!("z{i}").len(), "{v}");
                assert_eq!(v["b"], format!("z{i}"), "{v}");
            }
            "sodium" => assert_eq!(v["open"], format!("secret{i}"), "{v}"),
            _ => {
                assert_eq!(v["gmp"], "1267650600228229401496703205376", "{v}");
                assert_eq!(v["bz2"], "hello", "{v}");
                assert_eq!(v["cal"], 29, "{v}");
                assert_eq!(v["xsl"], "x=7", "{v}");
                assert_eq!(v["igbinary"], serde_json::json!({"a": 1}), "{v}");
                for k in ["soap", "mysqli", "pg", "exif", "sem", "shmop", "readline"] {
                    assert_eq!(v[k], true, "{k}: {v}");
                }
                assert_eq!(v["gettext"], "same", "{v}");
            }
        }
    }
    let seen = workers_of(&rs);
    assert!(seen.len() > 1 && seen.len() <= WORKERS, "{seen:?}");
    // Redis saw every incr.
    assert_eq!(redis.cli(&["get", "counter"]), counts["redis"].to_string());
    let clients: usize = redis
        .cli(&["info", "clients"])
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(clients <= WORKERS + 1, "redis clients: {clients}");
    if shared_apcu {
        // One APCu cache for all worker threads: every apcu_inc counted.
        let v = s.get("/apcu/get").json();
        assert_eq!(v["n"], counts["apcu"], "{v}");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn files_dir(a: &App) -> std::path::PathBuf {
    let d = a.dir.join("www");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("page.txt"), "served by python3 http.server\n").unwrap();
    d
}

#[test]
fn redis_apcu_curl_gd_zip_sodium_thread_workers() {
    if !Redis::available() {
        return skip("redis-server");
    }
    let redis = Redis::start();
    let a = ext_app(
        "ext-mixed",
        Api::Native,
        &format!("'redis_port' => {},\n", redis.port),
    );
    let files = HttpFiles::start(&files_dir(&a));
    let s = a.serve();
    mixed_suite(&s, &redis, &files, true);
}

/// The same on `server.executor: process` (RoadRunner's php-cli processes):
/// PDO pgsql, Redis, curl, gd, zip, sodium.
#[test]
fn process_executor_subset() {
    if !Postgres::available() || !Redis::available() {
        return skip("postgresql / redis-server");
    }
    let pg = Postgres::start();
    let redis = Redis::start();
    let a = ext_app(
        "ext-proc",
        Api::Process,
        &format!("{}'redis_port' => {},\n", pg_config(&pg), redis.port),
    );
    let files = HttpFiles::start(&files_dir(&a));
    let s = a.serve();
    let r = s.get("/pg/setup");
    assert_eq!(r.status, 200, "{}", r.text());
    let rs = hammer(&s, REQUESTS, |i| {
        format!("/pg/tx?tag=p{i}&rollback={}", i % 2 == 0)
    });
    for (i, r) in rs.iter().enumerate() {
        let v = ok(r, "pg tx on processes");
        assert_eq!(v["after"], if i % 2 == 0 { 0 } else { 2 }, "{v}");
    }
    let n = pg.client_conns();
    assert!(
        (1..=WORKERS).contains(&n),
        "{n} connections for {WORKERS} workers"
    );
    let r = s.get("/pg/dup?k=x");
    assert_eq!(r.status, 500, "{}", r.text());
    mixed_suite(&s, &redis, &files, false);
}

/// issue 14, item 3: any extension on demand. `scripts/build-ext.sh` builds
/// a Debian PECL source package with rr's own phpize into a ZTS .so; put in
/// the `extensions` folder next to the binary (the dist layout), it loads by
/// its bare name, in `rr php-cli` and in thread workers alike.
#[test]
fn an_extension_built_on_demand_loads_beside_the_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("rr-ext-demand-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("extensions")).unwrap();
    let out = Command::new(root.join("scripts/build-ext.sh"))
        .arg("php-msgpack")
        .arg("--out")
        .arg(dir.join("extensions"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build-ext.sh php-msgpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("extensions/msgpack.so").is_file());
    // A copy of rr with the folder beside it, as dist/ lays it out.
    let rr = dir.join("rr");
    std::fs::copy(RR, &rr).unwrap();
    let o = Command::new(&rr)
        .args([
            "php-cli",
            "-d",
            "extension=msgpack",
            "-r",
            "echo ini_get('extension_dir'), ' ', json_encode(msgpack_unpack(msgpack_pack(['a' => [1, 2]])));",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        text,
        format!("{} {{\"a\":[1,2]}}", dir.join("extensions").display()),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
