//! Containment: what one worker's request can do to the server, and what it
//! must not. Real rr, real PHP, real HTTP on 127.0.0.1. Each test could fail:
//! without its fix the server crashed, or a later request failed.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn app(name: &str, api: Api, pool: &str, extra: &str) -> App {
    php_app(name, api, "containment.php", pool, extra)
}

fn one_worker(name: &str, api: Api, supervisor: &str) -> App {
    app(name, api, &format!("    num_workers: 1\n{supervisor}"), "")
}

fn ok(s: &Server, path: &str) -> Resp {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), s.log());
    r
}

/// The first line of the log that holds every one of `needles`.
fn log_line(s: &Server, needles: &[&str]) -> Option<String> {
    s.log()
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
}

/// review-core C1: a header whose value is an empty array made
/// rustrunner_respond() write through NULL (the whole server died) or past
/// its buffer.
#[test]
fn empty_header_arrays_are_skipped_not_written_out_of_bounds() {
    for api in [Api::Native, Api::Relay] {
        let a = one_worker("empty-header", api, "");
        let s = a.serve();
        let r = ok(&s, "/only-empty-header");
        assert_eq!(r.text(), "only");
        assert!(r.header("X-Empty").is_none(), "{api:?}: {:?}", r.headers);
        for _ in 0..50 {
            let r = ok(&s, "/empty-headers");
            assert_eq!(r.text(), "mixed");
            let b: Vec<_> = r
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("b"))
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(b, ["b1", "b2"], "{api:?}");
            assert_eq!(r.header("H"), Some("h"));
            assert!(r.header("C").is_none() && r.header("J").is_none());
        }
        let r = ok(&s, "/empty-header");
        assert!(r.header("X-Empty").is_none());
        // The same worker served it all: nothing crashed.
        let w = r.header("X-Worker").unwrap().to_string();
        assert_eq!(ok(&s, "/").header("X-Worker"), Some(w.as_str()));
    }
}

/// review-core H1: with exec_ttl 0 (the default), a request's
/// set_time_limit(1) stayed armed on the wall clock while the worker idled,
/// and the next request died with "Maximum execution time".
#[test]
fn set_time_limit_ends_with_its_request() {
    for api in [Api::Native, Api::Relay] {
        let a = one_worker("time-limit", api, "");
        let s = a.serve();
        let w = ok(&s, "/set-time-limit?s=1")
            .header("X-Worker")
            .unwrap()
            .to_string();
        std::thread::sleep(Duration::from_millis(2500));
        let r = ok(&s, "/");
        assert_eq!(r.header("X-Worker"), Some(w.as_str()), "{api:?}: same life");
        assert!(
            !s.log().contains("Maximum execution time"),
            "{api:?}: {}",
            s.log()
        );
    }
}

/// review-core M1: a life ended by exec_ttl left its deadline behind, so the
/// next life's boot-time set_time_limit(10) was clamped to 1 s and its slow
/// boot failed, again and again.
#[test]
fn a_life_cut_by_exec_ttl_leaves_no_deadline_behind() {
    for api in [Api::Native, Api::Relay] {
        let a = one_worker(
            "stale-deadline",
            api,
            "    supervisor:\n      exec_ttl: 1s\n",
        );
        a.file("slow-boot.flag", "");
        let s = a.serve();
        let first = ok(&s, "/").header("X-Worker").unwrap().to_string();
        let r = s.get("/loop");
        assert_eq!(r.status, 500, "{api:?}: exec_ttl cuts the loop");
        let t = Instant::now();
        let r = ok(&s, "/");
        assert_ne!(r.header("X-Worker"), Some(first.as_str()), "a new life");
        assert!(t.elapsed() < Duration::from_secs(10), "{api:?}");
        assert_eq!(
            s.log()
                .matches("worker died while serving a request")
                .count(),
            1,
            "{api:?}: only the loop timed out:\n{}",
            s.log()
        );
        assert!(
            !s.log().contains("worker failed to start"),
            "{api:?}: the next boot was not cut short:\n{}",
            s.log()
        );
    }
}

/// review-core M5: after one fatal error, every later life of the thread
/// reported exit status 255.
#[test]
fn exit_status_is_fresh_in_every_life() {
    let a = one_worker("exit-status", Api::Native, "    max_jobs: 2\n");
    let s = a.serve();
    assert_eq!(s.get("/fatal").status, 500);
    ok(&s, "/");
    ok(&s, "/");
    assert!(
        s.wait_log("maxJobsReached", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    let line = log_line(&s, &["worker life ended", "maxJobsReached"]).unwrap();
    assert!(line.contains("exit_status=0"), "{line}");
}

/// review-core M8: programs a thread worker starts with the default
/// environment see server.env and RR_MODE, as under RoadRunner.
#[test]
fn server_env_reaches_programs_a_worker_starts() {
    for (api, server) in [
        (
            Api::Native,
            "  env:\n    RUSTRUNNER_WORKER_TRANSPORT: native\n    RR_TEST_CHILD: from-server-env\n",
        ),
        (
            Api::Process,
            "  executor: process\n  env:\n    RR_TEST_CHILD: from-server-env\n",
        ),
    ] {
        let a = one_worker("child-env", api, "");
        let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
        a.file(".rr.yaml", &yaml.replace(&api.server_yaml(), server));
        let s = a.serve();
        assert_eq!(
            ok(&s, "/child-env").text(),
            "from-server-env|http",
            "{api:?}"
        );
    }
}

/// review-core C2: OPcache's own restarts (memory full with enough waste)
/// ran at the next life's start while other threads executed from its
/// memory. Now they run alone: every worker ends its life, the restart
/// happens, and every request is answered.
#[test]
fn opcache_restarts_run_while_no_worker_executes() {
    let a = app("opcache-restart", Api::Native, "    num_workers: 4\n", "");
    // 8 MB of shared memory (OPcache's minimum), at least 1 % waste to
    // restart: each file holds an immutable array of ~160 KB.
    let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap().replace(
        "php containment.php",
        "php -d opcache.memory_consumption=8 -d opcache.max_wasted_percentage=1 -d opcache.interned_strings_buffer=1 -d opcache.file_update_protection=0 containment.php",
    );
    a.file(".rr.yaml", &yaml);
    let files = 240;
    for n in 0..files {
        let items: Vec<String> = (0..5000).map(|i| (i * 7 + n).to_string()).collect();
        a.file(
            &format!("gen/f{n}.php"),
            &format!("<?php\nreturn [{}];\n", items.join(",")),
        );
    }
    let s = a.serve();
    let before: serde_json::Value = ok(&s, "/opcache").json();
    assert_eq!(before["enabled"], true, "OPcache is on in workers");
    let port = s.port;
    let clients: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                for n in (c..files).step_by(4) {
                    let url = format!("http://127.0.0.1:{port}/include?n={n}&invalidate=1");
                    let r = request(ureq::get(&url), None);
                    if r.status != 200 || r.text() != "5000" {
                        bad.push((n, r.status, r.text()));
                    }
                }
                bad
            })
        })
        .collect();
    let bad: Vec<_> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(bad.is_empty(), "lost requests: {bad:?}\n{}", s.log());
    let after: serde_json::Value = ok(&s, "/opcache").json();
    assert!(
        after["restarts"].as_u64().unwrap() > before["restarts"].as_u64().unwrap(),
        "OPcache restarted its memory: {after}\n{}",
        s.log()
    );
    assert!(
        s.log().contains("OPcache restart pending"),
        "the workers were recycled for it"
    );
}

/// Runs `fault` while a client keeps hitting a healthy route and a slow
/// request is in flight on another worker; returns what those lost.
fn while_serving(s: &Server, fault: impl FnOnce()) -> Vec<String> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = s.port;
    let healthy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut lost = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                let r = request(ureq::get(&format!("http://127.0.0.1:{port}/")), None);
                if r.status != 200 {
                    lost.push(format!("healthy: {} {}", r.status, r.text()));
                }
                n += 1;
            }
            lost
        })
    };
    let slow = std::thread::spawn(move || {
        let r = request(
            ureq::get(&format!("http://127.0.0.1:{port}/delay?ms=700")),
            None,
        );
        (r.status != 200).then(|| format!("in flight: {} {}", r.status, r.text()))
    });
    std::thread::sleep(Duration::from_millis(100));
    fault();
    let mut lost: Vec<String> = slow.join().unwrap().into_iter().collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    lost.extend(healthy.join().unwrap());
    lost
}

fn guarded_app(name: &str, api: Api) -> App {
    app(name, api, "    num_workers: 3\n", "")
}

/// issue 13: recursion through internal functions used to overflow the
/// worker thread's C stack and abort the whole server. Now PHP's own
/// "Maximum call stack size" Error is thrown, catchable, and costs at most
/// its own request.
#[test]
fn deep_recursion_through_internal_functions_is_an_error() {
    let a = guarded_app("stack", Api::Native);
    let s = a.serve();
    let caught = ok(&s, "/recurse-caught").text();
    assert!(
        caught.contains("Maximum call stack size"),
        "a catchable Error: {caught}"
    );
    let lost = while_serving(&s, || assert_eq!(s.get("/recurse").status, 500));
    assert!(lost.is_empty(), "{lost:?}\n{}", s.log());
    ok(&s, "/");
}

/// issue 13: signals a worker or an operator sends never end the server.
#[test]
fn harmless_signals_do_not_kill_the_server() {
    let a = guarded_app("signals", Api::Native);
    let s = a.serve();
    let lost = while_serving(&s, || {
        for sig in ["USR1", "USR2", "ALRM", "PIPE"] {
            let st = std::process::Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(s.pid().to_string())
                .status()
                .unwrap();
            assert!(st.success());
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    assert!(lost.is_empty(), "{lost:?}\n{}", s.log());
    ok(&s, "/");
}

/// issue 13: process-wide calls from a thread worker throw a clear Error
/// that names server.executor: process; under the process executor they
/// work on the worker's own process.
#[test]
fn process_wide_calls_are_refused_in_thread_workers() {
    let a = guarded_app("refused", Api::Native);
    let s = a.serve();
    let lost = while_serving(&s, || {
        for f in [
            "kill-self&sig=TERM",
            "kill-self&sig=USR1",
            "kill-group",
            "fork",
            "exec",
            "signal",
            "alarm",
            "setsid",
        ] {
            let body = ok(&s, &format!("/try?f={f}")).text();
            assert!(
                body.starts_with("Error: ") && body.contains("server.executor: process"),
                "{f}: {body}"
            );
        }
        // Signal 0 only asks whether the process exists.
        assert_eq!(ok(&s, "/try?f=kill-0").text(), "returned true");
    });
    assert!(lost.is_empty(), "{lost:?}\n{}", s.log());
    ok(&s, "/");

    // A process worker may signal itself: only that worker ends.
    let a = app("refused-process", Api::Process, "    num_workers: 1\n", "");
    let s = a.serve();
    assert_eq!(ok(&s, "/try?f=kill-0").text(), "returned true");
    assert_eq!(ok(&s, "/try?f=alarm").text(), "returned 0");
    ok(&s, "/");
}

/// issue 13: programs a thread worker starts (shell_exec, proc_open) get a
/// clean signal mask, so SIGTERM can stop them.
#[test]
fn programs_a_worker_starts_have_no_blocked_signals() {
    let a = guarded_app("sigmask", Api::Native);
    let s = a.serve();
    assert_eq!(
        ok(&s, "/child-sigmask").text(),
        "SigBlk:\t0000000000000000|SigBlk:\t0000000000000000"
    );
}

/// issue 13: umask() in one worker does not reach the server's uploads
/// (or other workers): the umask is per thread, uploads are always 0600.
#[test]
fn one_workers_umask_stays_in_its_thread() {
    let a = app("umask", Api::Native, "    num_workers: 1\n", "");
    let s = a.serve();
    assert_eq!(ok(&s, "/umask").text(), "777");
    let body = b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n";
    let r = s.post("/upload-mode", "multipart/form-data; boundary=B", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "600", "the upload file's mode");
}

/// issue 13: a worker cannot lift memory_limit above the server's ceiling
/// (ini_set returns false, ini_get stays truthful); lowering it is fine.
#[test]
fn memory_limit_cannot_be_lifted_past_the_ceiling() {
    let a = app(
        "memory-ceiling",
        Api::Native,
        "    num_workers: 1\n    supervisor:\n      max_worker_memory: 100\n",
        "",
    );
    let s = a.serve();
    assert_eq!(ok(&s, "/memory-limit?v=-1").text(), "false 128M");
    assert_eq!(ok(&s, "/memory-limit?v=4G").text(), "false 128M");
    assert_eq!(ok(&s, "/memory-limit?v=64M").text(), "true 64M");
    assert!(s.log().contains("cannot exceed"), "{}", s.log());
}

/// issue 13: exec_ttl cannot interrupt one long C call. The client gets
/// its 500 soon after exec_ttl anyway, the stuck thread is replaced at once
/// so the pool keeps its capacity, and the thread ends when its call returns.
#[test]
fn a_thread_stuck_in_c_is_answered_and_replaced() {
    let a = one_worker(
        "stuck-in-c",
        Api::Native,
        "    supervisor:\n      exec_ttl: 1s\n",
    );
    let s = a.serve();
    let first = ok(&s, "/").header("X-Worker").unwrap().to_string();
    let t = Instant::now();
    // Cost 18 keeps a core busy for about 12 s (more on a loaded machine):
    // the bounds below are far from it, loose enough for a busy CI machine.
    let r = s.get("/hash?cost=18");
    let answered = t.elapsed();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        answered < Duration::from_secs(6),
        "answered after {answered:?}, exec_ttl is 1 s"
    );
    // The only worker is stuck: its replacement serves long before the call
    // could return.
    let t = Instant::now();
    let r = ok(&s, "/");
    assert_ne!(r.header("X-Worker"), Some(first.as_str()));
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(
        s.log().contains("stuck in a call past exec_ttl"),
        "{}",
        s.log()
    );
    // The stuck thread's call returns; the thread ends, nothing else happens.
    assert!(
        s.wait_log("a stuck worker's call returned", Duration::from_secs(240)),
        "{}",
        s.log()
    );
    ok(&s, "/");
}

fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb / 1024
}

/// issue 13: 200 clients that do not read a 5 MB response used to hold
/// 1 GB in the server. Buffered response bytes have a total bound (larger
/// bodies wait in an unlinked temp file), and the server keeps serving.
#[test]
fn slow_readers_of_big_responses_are_bounded() {
    use std::io::{Read, Write};
    let a = app("slow-readers", Api::Native, "    num_workers: 4\n", "");
    let s = a.serve();
    let base = rss_mb(s.pid());
    let mut clients = Vec::new();
    for _ in 0..200 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        clients.push(c);
    }
    // Every response was produced: the workers are free again.
    let t = Instant::now();
    while s.log().matches("uri=/big").count() < 200 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = rss_mb(s.pid());
    eprintln!("rss: {base} MB before, {peak} MB with 200 stalled 5 MB responses");
    ok(&s, "/");
    // The clients read a little, then leave.
    for c in &mut clients {
        let mut buf = [0u8; 1024];
        let _ = c.read(&mut buf);
    }
    drop(clients);
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_mb(s.pid());
    eprintln!("rss: {after} MB after they left");
    assert!(peak < base + 300, "{peak} MB (base {base} MB)");
    assert!(after < base + 300, "{after} MB (base {base} MB)");
    let r = ok(&s, "/big?kb=64");
    assert_eq!(r.text().len(), 64 * 1024);
}

/// issue 13: setlocale() in one worker changes that worker's locale only
/// (libc's is process-wide), and its life's end resets only its own.
#[test]
fn setlocale_stays_in_its_worker() {
    let a = app("locale", Api::Native, "    num_workers: 2\n", "");
    let s = a.serve();
    // Keep one worker busy so the next requests go to the other.
    let port = s.port;
    let busy = std::thread::spawn(move || {
        let r = request(
            ureq::get(&format!("http://127.0.0.1:{port}/delay?ms=1500")),
            None,
        );
        r.header("X-Worker").unwrap().to_string()
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = ok(&s, "/setlocale?v=C.UTF-8");
    assert_eq!(
        r.text(),
        "C.UTF-8|C.UTF-8",
        "the worker's own locale changed"
    );
    let changed = r.header("X-Worker").unwrap().to_string();
    let other = busy.join().unwrap();
    assert_ne!(changed, other);
    // Now ask both workers until the other one answers.
    let mut seen_other = false;
    for _ in 0..40 {
        let r = ok(&s, "/getlocale");
        let w = r.header("X-Worker").unwrap();
        if w == other {
            assert_eq!(
                r.text(),
                "C|C.UTF-8",
                "the other worker kept the server's locale"
            );
            seen_other = true;
        } else {
            assert_eq!(r.text(), "C.UTF-8|C.UTF-8");
        }
    }
    assert!(seen_other, "the other worker answered");
}

/// One HTTP/1.1 GET on a fresh connection: Ok(status) or the error kind.
fn try_get(port: u16, path: &str) -> Result<u16, std::io::ErrorKind> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.kind())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.kind())?;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(std::io::ErrorKind::UnexpectedEof)
}

/// issue 13: with `server.cells`, what no guard can stop (here a stack
/// overflow while PHP frees a deep structure, which aborts the process as a
/// segfault in an extension would) ends one cell: the supervisor keeps the
/// listener, so no connection is refused, and serves again within a second.
#[test]
fn a_crash_in_c_costs_one_cell_not_the_server() {
    for cells in [1, 2] {
        let status_port = free_port();
        let a = app("cells", Api::Native, "    num_workers: 2\n", "");
        let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
        a.file(
            ".rr.yaml",
            &(yaml.replace(
                "server:\n",
                &format!("server:\n  cells: {cells}\n  cels_typo: 1\n"),
            ) + &format!("status:\n  address: 127.0.0.1:{status_port}\n")),
        );
        let mut s = a.serve();
        let supervisor = s.pid();
        // The config's warnings are logged once, by the supervisor, not
        // again by every cell.
        assert_eq!(
            s.log().matches("server.cels_typo").count(),
            1,
            "{}",
            s.log()
        );
        let cell_pid: u32 = ok(&s, "/pid").text().parse().unwrap();
        assert_ne!(cell_pid, supervisor, "PHP runs in a cell");

        let port = s.port;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut refused, mut ok_n, mut failed) = (0, 0, 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match try_get(port, "/") {
                        Ok(200) => ok_n += 1,
                        Err(std::io::ErrorKind::ConnectionRefused) => refused += 1,
                        _ => failed += 1,
                    }
                }
                (refused, ok_n, failed)
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let crashed = try_get(port, "/deep-free");
        assert!(crashed != Ok(200), "the crashing request cannot succeed");
        if cells == 2 {
            // The other cell serves, so the supervisor's probe says so
            // while the crashed one restarts.
            assert_eq!(try_get(status_port, "/health"), Ok(200));
            assert_eq!(try_get(status_port, "/ready"), Ok(200));
        }
        let t = Instant::now();
        let back = loop {
            if try_get(port, "/") == Ok(200) {
                break t.elapsed();
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{}", s.log());
        };
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (refused, served, failed) = prober.join().unwrap();
        eprintln!(
            "cells={cells}: served again after {back:?}; healthy requests: {served} ok, {failed} lost, {refused} refused"
        );
        assert_eq!(refused, 0, "no connection refused");
        assert!(back < Duration::from_secs(1), "{back:?}");
        assert!(
            s.log().contains("cell 0 died (killed by SIGABRT)")
                || s.log().contains("cell 1 died (killed by SIGABRT)"),
            "{}",
            s.log()
        );
        // The cell said which worker and request before it died.
        assert!(
            s.log()
                .contains("rustrunner: fatal signal 11 (SIGSEGV) in worker ")
                && s.log().contains(" while serving GET http://a/deep-free"),
            "{}",
            s.log()
        );
        // A new cell serves; the supervisor is the same process.
        assert_eq!(s.pid(), supervisor);
        ok(&s, "/");
        assert_eq!(s.stop(), Some(0), "{}", s.log());
        assert!(
            !std::path::Path::new(&format!("/proc/{cell_pid}")).exists(),
            "no cell left behind"
        );
    }
}
