//! Pool and supervisor: every recycle path, over real HTTP against the real
//! binary. No timing is asserted beyond "it did not hang".

mod common;

use common::*;
use std::time::{Duration, Instant};

fn app(name: &str, api: Api, pool: &str, extra: &str) -> App {
    php_app(name, api, "supervisor.php", pool, extra)
}

fn both(f: impl Fn(Api)) {
    f(Api::Native);
    f(Api::Relay);
}

fn worker_id(s: &Server, path: &str) -> String {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.header("X-Worker").unwrap().to_string()
}

#[test]
fn exec_ttl_interrupts_sleep_and_loops() {
    both(|api| {
        let a = app(
            "execttl",
            api,
            "    num_workers: 1\n    supervisor:\n      exec_ttl: 1s\n",
            "",
        );
        let s = a.serve();
        let before = worker_id(&s, "/id");
        for path in ["/sleep?s=30", "/loop", "/unlimited-loop"] {
            let t = Instant::now();
            let r = s.get(path);
            assert_eq!(r.status, 500, "{api:?} {path}");
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{path} was not interrupted"
            );
        }
        assert!(
            s.log().contains("Maximum execution time"),
            "PHP's own message: {}",
            s.log()
        );
        assert!(s.log().contains("execTTLReached"), "{}", s.log());
        // A new life on the same thread serves on.
        let after = worker_id(&s, "/id");
        assert_ne!(before, after);
        // set_time_limit() still works for the app (it just cannot outlast exec_ttl).
        assert_eq!(s.get("/time-limit?s=5").text(), "true 5");
        assert_eq!(worker_id(&s, "/delay?ms=10"), after);
    });
}

#[test]
fn max_worker_memory_recycles_after_the_request() {
    both(|api| {
        let a = app(
            "memory",
            api,
            "    num_workers: 1\n    supervisor:\n      max_worker_memory: 16\n",
            "",
        );
        let s = a.serve();
        let first = worker_id(&s, "/id");
        let r = s.get("/hog?mb=24");
        assert_eq!(
            r.status, 200,
            "the request that crossed the limit still completes"
        );
        assert_eq!(r.header("X-Worker").unwrap(), first);
        let next = worker_id(&s, "/id");
        assert_ne!(
            first, next,
            "{api:?}: recycled after crossing max_worker_memory"
        );
        assert!(s.log().contains("maxMemoryReached"), "{}", s.log());
    });
}

#[test]
fn ttl_and_idle_ttl() {
    let a = app(
        "ttl",
        Api::Native,
        "    num_workers: 1\n    supervisor:\n      watch_tick: 100ms\n      ttl: 1s\n",
        "",
    );
    let s = a.serve();
    let first = worker_id(&s, "/id");
    assert!(
        s.wait_log("ttlReached", Duration::from_secs(15)),
        "{}",
        s.log()
    );
    assert_ne!(worker_id(&s, "/id"), first);
    drop(s);

    let a = app(
        "idlettl",
        Api::Native,
        "    num_workers: 1\n    supervisor:\n      watch_tick: 100ms\n      idle_ttl: 1s\n",
        "",
    );
    let s = a.serve();
    // A worker that never served is never idle-killed.
    std::thread::sleep(Duration::from_millis(1600));
    assert!(!s.log().contains("idleTTLReached"), "{}", s.log());
    let first = worker_id(&s, "/id");
    assert!(
        s.wait_log("idleTTLReached", Duration::from_secs(15)),
        "{}",
        s.log()
    );
    assert_ne!(worker_id(&s, "/id"), first);
}

#[test]
fn allocate_timeout_and_queue_limit_answer_no_workers() {
    let a = app(
        "alloc",
        Api::Native,
        "    num_workers: 1\n    allocate_timeout: 1s\n",
        "",
    );
    let s = a.serve();
    let url = s.url("/delay?ms=4000");
    let slow = std::thread::spawn(move || request(ureq::get(&url), None).status);
    std::thread::sleep(Duration::from_millis(300));
    let r = s.get("/id");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("No-Workers"), Some("true"));
    assert_eq!(
        slow.join().unwrap(),
        200,
        "the slow request itself completes"
    );
    assert_eq!(s.get("/id").status, 200);
    drop(s);

    let a = app(
        "queue",
        Api::Native,
        "    num_workers: 1\n    max_queue_size: 1\n",
        "",
    );
    let s = a.serve();
    let url = s.url("/delay?ms=2000");
    let busy = std::thread::spawn(move || request(ureq::get(&url), None).status);
    std::thread::sleep(Duration::from_millis(300));
    let url = s.url("/id");
    let queued = std::thread::spawn(move || request(ureq::get(&url), None).status);
    std::thread::sleep(Duration::from_millis(300));
    let r = s.get("/id");
    assert_eq!(r.status, 500, "beyond max_queue_size");
    assert_eq!(r.header("No-Workers"), Some("true"));
    assert_eq!(busy.join().unwrap(), 200);
    assert_eq!(queued.join().unwrap(), 200);
}

#[test]
fn debug_mode_is_a_fresh_life_per_request() {
    let a = app(
        "debug",
        Api::Native,
        "    num_workers: 1\n    debug: true\n",
        "",
    );
    let s = a.serve();
    let ids: Vec<String> = (0..4).map(|_| worker_id(&s, "/id")).collect();
    for w in ids.windows(2) {
        assert_ne!(w[0], w[1], "{ids:?}");
    }
}

#[test]
fn opcache_reset_restarts_every_worker() {
    both(|api| {
        let a = app("opreset", api, "    num_workers: 1\n", "");
        let s = a.serve();
        let first = worker_id(&s, "/id");
        let r = s.get("/opcache-reset");
        assert_eq!(r.text(), "true");
        assert_ne!(worker_id(&s, "/id"), first, "{api:?}");
        assert!(s.log().contains("opcache_reset()"), "{}", s.log());
    });
}

#[test]
fn stream_select_on_the_relay() {
    // goridge's StreamRelay::hasFrame() selects on STDIN in stream mode.
    both(|api| {
        let a = app("select", api, "    num_workers: 1\n", "");
        let s = a.serve();
        let r = s.get("/select");
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        assert_eq!(r.text(), "1", "STDOUT writable, STDIN idle");
        assert_eq!(s.get("/id").status, 200);
    });
}

#[test]
fn frames_while_idle_are_discarded_and_the_worker_restarts() {
    both(|api| {
        let a = app("idleframe", api, "    num_workers: 1\n", "");
        let s = a.serve();
        let r = s.get("/respond-then-error");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "responded");
        // Not off by one: the next request gets its own answer.
        let r = s.get("/id");
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        assert_eq!(r.text(), "ok");
        assert!(
            s.wait_log("while idle", Duration::from_secs(5)),
            "{}",
            s.log()
        );
    });
}

#[test]
fn runtime_boot_failures_back_off_and_recover() {
    let a = app(
        "failboot",
        Api::Native,
        "    num_workers: 1\n    max_jobs: 1\n    allocate_timeout: 2s\n",
        "",
    );
    let s = a.serve();
    a.file("fail-boot.flag", "");
    // This request ends the only life; the next lives fail to boot.
    assert_eq!(s.get("/id").status, 200);
    assert!(
        s.wait_log("boot failure requested", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    let r = s.get("/id");
    assert_eq!(r.status, 500, "no worker while boot fails");
    // Backoff, not a spin: a handful of attempts in ~2 s, not thousands.
    let attempts = s.log().matches("boot failure requested").count();
    assert!(attempts < 20, "{attempts} boot attempts: spinning");
    std::fs::remove_file(a.dir.join("fail-boot.flag")).unwrap();
    let start = Instant::now();
    loop {
        let r = s.get("/id");
        if r.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never recovered: {}",
            s.log()
        );
    }
}

/// One worker watching the app folder (recursively) for `.php` changes,
/// serving `version.php`'s value on /version.
fn reload_app(name: &str, interval: &str, http_extra: &str, version: &str) -> App {
    let a = app(
        name,
        Api::Native,
        "    num_workers: 1\n",
        &format!(
            "reload:\n  interval: {interval}\n  patterns: [\".php\"]\n  plugins:\n    http:\n      dirs: [\".\"]\n      recursive: true\n{http_extra}"
        ),
    );
    a.file("version.php", &format!("<?php return '{version}';"));
    a
}

#[test]
fn file_watcher_restarts_workers_on_change() {
    let a = reload_app("reload", "100ms", "      ignore: [\"cache\"]\n", "one");
    let s = a.serve();
    let r = s.get("/version");
    assert_eq!(r.text(), "one");
    let before = r.header("X-Worker").unwrap().to_string();
    // A change under an ignored folder restarts nothing.
    a.file("cache/ignored.php", "<?php");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!s.log().contains("reload: files changed"), "{}", s.log());
    assert_eq!(worker_id(&s, "/id"), before);
    // A watched file changes: the workers restart and serve the new code.
    a.file("version.php", "<?php return 'two';");
    assert!(
        s.wait_log("reload: files changed", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    let start = Instant::now();
    loop {
        let r = s.get("/version");
        if r.header("X-Worker") != Some(before.as_str()) {
            assert_eq!(r.text(), "two");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "worker not restarted: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A burst of saves (a formatter over the tree, a `git checkout`) restarts
/// the workers once, after it settles, not once per change or per interval;
/// a folder that appears mid-burst is watched from then on.
#[test]
fn file_watcher_restarts_once_per_burst() {
    let a = reload_app("reload-burst", "1s", "", "v0");
    let s = a.serve();
    assert!(s.wait_log("reload: watching", Duration::from_secs(10)));
    assert_eq!(s.get("/version").text(), "v0");
    let restarts = |s: &Server| s.log().matches("reload: files changed").count();
    // 1.2 s of writes, longer than the interval, with pauses far below the
    // debouncer's tick (250 ms); `lib/` is created and written at once.
    for i in 1..=40 {
        a.file("version.php", &format!("<?php return 'v{i}';"));
        if i == 20 {
            a.file("lib/new.php", "<?php return 'lib';");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(
        s.wait_log("reload: files changed", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    // Long past the release of the burst's last events (1 s + a tick).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(restarts(&s), 1, "one burst, one restart: {}", s.log());
    let log = s.log();
    let line = log.lines().find(|l| l.contains("files changed")).unwrap();
    assert!(
        line.contains("version.php") && line.contains("new.php"),
        "{line}"
    );
    assert!(!line.contains("/./"), "paths without ./: {line}");
    let start = Instant::now();
    while s.get("/version").text() != "v40" {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new folder is watched: a change in it alone restarts again.
    a.file("lib/new.php", "<?php return 'lib 2';");
    let start = Instant::now();
    while restarts(&s) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "lib/ is not watched: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn putenv_is_per_worker_life() {
    // putenv() never touches the process environment (libc setenv is not
    // thread-safe): it lives in the worker's own environment, which a new
    // life starts afresh, as a new RoadRunner worker process would.
    let a = app(
        "putenv",
        Api::Native,
        "    num_workers: 1\n    max_jobs: 3\n",
        "",
    );
    let s = a.serve();
    assert_eq!(s.get("/putenv?v=abc").text(), "abc");
    let r = s.get("/getenv").text();
    assert!(r.starts_with("'abc' http "), "{r}");
    let _ = s.get("/id"); // third request: the life ends
    let r = s.get("/getenv").text();
    assert!(
        r.starts_with("false http "),
        "a new life starts from the server's environment: {r}"
    );
}

#[test]
fn process_workers_exec_ttl_memory_and_boot_failure() {
    // RoadRunner's own model: exec_ttl kills the process, memory is RSS.
    let a = app(
        "proc-ttl",
        Api::Process,
        "    num_workers: 1\n    supervisor:\n      exec_ttl: 1s\n      max_worker_memory: 64\n",
        "",
    );
    let s = a.serve();
    let first = worker_id(&s, "/id");
    let t = Instant::now();
    assert_eq!(s.get("/sleep?s=30").status, 500);
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(s.log().contains("exec_ttl"), "{}", s.log());
    let second = worker_id(&s, "/id");
    assert_ne!(first, second);
    assert_eq!(s.get("/hog?mb=96").status, 200);
    assert_ne!(
        worker_id(&s, "/id"),
        second,
        "recycled over max_worker_memory (RSS)"
    );
    assert!(s.log().contains("maxMemoryReached"), "{}", s.log());
    assert!(
        !children_of(s.pid()).is_empty(),
        "process workers are child processes"
    );
    drop(s);

    // A script that dies before its loop: rr exits 1 with PHP's message.
    let a = app("proc-boot", Api::Process, "    num_workers: 1\n", "");
    a.file("fail-boot.flag", "");
    let (code, out) = a.run(&["serve"], Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("boot failure requested"), "{out}");
}

/// issue 15 (item 13): exec_ttl on a process worker that waits for a
/// program it started: the whole process group is killed, so the client
/// gets its answer at exec_ttl, not when the program ends.
#[test]
fn exec_ttl_kills_a_process_workers_children_too() {
    let a = app(
        "execttl-group",
        Api::Process,
        "    num_workers: 1\n    supervisor:\n      exec_ttl: 1s\n",
        "",
    );
    let s = a.serve();
    worker_id(&s, "/id");
    let t = Instant::now();
    let r = s.get("/exec-sleep?s=20");
    assert_eq!(r.status, 500);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        t.elapsed()
    );
    worker_id(&s, "/id");
}

/// issue 15 (item 10): with pool.debug a worker that fails at boot does not
/// stop the start: every request gets a 500 carrying the error (as
/// RoadRunner's debug mode), and once the script is fixed it serves.
#[test]
fn pool_debug_serves_the_boot_error() {
    for api in [Api::Native, Api::Process] {
        let a = app(
            "debug-boot",
            api,
            "    num_workers: 1\n    debug: true\n",
            "",
        );
        a.file("fail-boot.flag", "");
        let s = a.serve();
        let r = s.get("/id");
        assert_eq!(r.status, 500, "{api:?}");
        assert!(
            r.text()
                .contains("boot failure requested by fail-boot.flag"),
            "{api:?}: {}",
            r.text()
        );
        std::fs::remove_file(a.dir.join("fail-boot.flag")).unwrap();
        let t = Instant::now();
        loop {
            if s.get("/id").status == 200 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{api:?}: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// issue 13: `rr reset` ends within reset_timeout even when a thread
/// worker is in a request that takes longer: that thread is set aside and
/// replaced, and its request still completes.
#[test]
fn reset_ends_within_reset_timeout_with_a_long_request() {
    let rpc = free_port();
    let a = app(
        "reset-timeout",
        Api::Native,
        "    num_workers: 1\n    reset_timeout: 2s\n",
        &format!("rpc:\n  listen: tcp://127.0.0.1:{rpc}\n"),
    );
    let s = a.serve();
    let first = worker_id(&s, "/id");
    let port = s.port;
    let long = std::thread::spawn(move || {
        request(
            ureq::get(&format!("http://127.0.0.1:{port}/sleep?s=8")),
            None,
        )
        .status
    });
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let (code, out) = a.run(&["reset"], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{out}\n{}", s.log());
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "reset took {:?}",
        t.elapsed()
    );
    // A new worker serves while the old thread still sleeps.
    assert_ne!(worker_id(&s, "/id"), first);
    assert_eq!(
        long.join().unwrap(),
        200,
        "the long request still completes"
    );
}
