//! Episode 1 (Symfony) over real HTTP: the real `rr` binary serving the
//! episode's app (episodes/1-symfony-integration/app) on Debian's Symfony 5.4
//! packages, through the server's own Symfony Runtime runner (the offline
//! stand-in for baldinof/roadrunner-bundle), plus the test-only routes of
//! tests/fixtures/symfony.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const EPISODE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/episodes/1-symfony-integration"
);

/// What an app copy never takes: Symfony's `var/` (cache, logs, sessions of
/// a manual run: a prod cache compiled elsewhere breaks the copy), Composer's
/// `vendor/` (the offline vendor is copied in its place) and the episode's
/// `.env.local*` files.
fn skipped(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n == "var" || n == "vendor" || n.starts_with(".env.local")
}

/// Copy `src` into `dst`; at the top level, leave out what `skipped` names.
fn copy_app(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        if !skipped(&e.file_name()) {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|err| panic!("copy {}: {err}", from.display()));
    }
}

/// The episode's app with the offline vendor and the test routes, in a fresh
/// folder. `.rr.yaml` is the test's; the episode's own configs are kept
/// under their names (`.rr.yaml` becomes `episode.rr.yaml`).
fn symfony_app(name: &str, env: &str, pool: &str) -> App {
    let yaml = format!(
        "version: \"3\"\n\
         server:\n  command: \"php bin/roadrunner-worker\"\n  env:\n    \
         APP_RUNTIME: Baldinof\\RoadRunnerBundle\\Runtime\\Runtime\n{env}\
         http:\n  address: 127.0.0.1:{{port}}\n  pool:\n{pool}\
         logs:\n  mode: development\n  level: debug\n"
    );
    let a = App::new(name, &yaml);
    let episode = Path::new(EPISODE);
    let ours = std::fs::read_to_string(a.dir.join(".rr.yaml")).unwrap();
    copy_app(&episode.join("app"), &a.dir);
    std::fs::rename(a.dir.join(".rr.yaml"), a.dir.join("episode.rr.yaml")).unwrap();
    std::fs::write(a.dir.join(".rr.yaml"), ours).unwrap();
    copy_dir(&episode.join("offline-vendor"), &a.dir.join("vendor"));
    copy_dir(&fixtures().join("symfony/src"), &a.dir.join("src"));
    a
}

const PROD: &str = "    APP_ENV: prod\n    APP_DEBUG: \"0\"\n";

fn state(s: &Server) -> serde_json::Value {
    let r = s.get("/state");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    r.json()
}

#[test]
fn symfony_test_route_json_and_404() {
    let a = symfony_app("sf-basic", PROD, "    num_workers: 2\n");
    let s = a.serve();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let r = s.get("/test");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["message"], "Hello from Symfony + RoadRunner!");
    let ts = j["timestamp"].as_i64().expect("timestamp is an integer");
    assert!(ts >= before - 1, "timestamp {ts} is older than the request");

    let r = s.get("/no-such-page");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("404 Not Found"),
        "Symfony's error page: {}",
        r.text()
    );
    // The worker still serves after the 404.
    assert_eq!(s.get("/test").status, 200);
}

#[test]
fn symfony_exception_gives_500_page_and_worker_recovers() {
    let a = symfony_app("sf-boom", PROD, "    num_workers: 1\n");
    let s = a.serve();
    let first = state(&s);

    let r = s.get("/boom");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("500 Internal Server Error"),
        "Symfony's error page: {}",
        r.text()
    );
    assert!(
        s.wait_log("boom from the controller", Duration::from_secs(10)),
        "the exception is logged: {}",
        s.log()
    );

    // Same PHP life (the terminate counter kept counting), new kernel
    // (kernel_reboot: on_exception).
    let after = state(&s);
    assert_ne!(after["kernel"], first["kernel"], "on_exception reboots");
    assert_eq!(after["seen"], 1);
    assert_eq!(
        after["terminated"].as_i64().unwrap(),
        first["terminated"].as_i64().unwrap() + 2,
        "same worker life: {first} then {after}"
    );

    // A 404 is an allowed exception (HttpExceptionInterface in the episode's
    // baldinof_road_runner.yaml): no reboot.
    assert_eq!(s.get("/no-such-page").status, 404);
    let again = state(&s);
    assert_eq!(again["kernel"], after["kernel"]);
    assert_eq!(again["seen"], 2);
    assert_eq!(s.get("/test").status, 200);
}

#[test]
fn symfony_kernel_kept_services_reset_terminate_called() {
    let a = symfony_app("sf-reset", PROD, "    num_workers: 1\n");
    let s = a.serve();
    let mut kernel = None;
    for i in 0..4i64 {
        let j = state(&s);
        // The counter is incremented twice per request: 2 every time means
        // services_resetter ran between requests.
        assert_eq!(j["counter"], 2, "request {i}: {j}");
        // One kernel for the worker's life: its stamp saw every request.
        assert_eq!(j["seen"], i + 1, "request {i}: {j}");
        kernel.get_or_insert_with(|| j["kernel"].clone());
        assert_eq!(Some(&j["kernel"]), kernel.as_ref());
        // terminate() ran after each earlier request.
        assert_eq!(j["terminated"], i, "request {i}: {j}");
    }
}

#[test]
fn symfony_reboot_strategies_always_and_max_jobs() {
    let a = symfony_app("sf-always", PROD, "    num_workers: 1\n");
    a.file(
        "config/packages/baldinof_road_runner.yaml",
        "baldinof_road_runner:\n    kernel_reboot:\n        strategy: always\n",
    );
    let s = a.serve();
    let ids: Vec<String> = (0..4).map(|_| state(&s)["kernel"].to_string()).collect();
    for w in ids.windows(2) {
        assert_ne!(w[0], w[1], "always: a new kernel per request: {ids:?}");
    }
    drop(s);

    let a = symfony_app("sf-maxjobs", PROD, "    num_workers: 1\n");
    a.file(
        "config/packages/baldinof_road_runner.yaml",
        "baldinof_road_runner:\n    kernel_reboot:\n        strategy: max_jobs\n        max_jobs: 3\n        max_jobs_dispersion: 0\n",
    );
    let s = a.serve();
    let seen: Vec<i64> = (0..7)
        .map(|_| state(&s)["seen"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seen,
        vec![1, 2, 3, 1, 2, 3, 1],
        "max_jobs 3: reboot after every third request"
    );
}

#[test]
fn symfony_session_cookie_across_requests() {
    let a = symfony_app("sf-session", PROD, "    num_workers: 2\n");
    let s = a.serve();
    let r = s.get("/session");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.json()["n"], 1);
    let cookie = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("PHPSESSID="))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", r.headers));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(cookie, format!("PHPSESSID={id}"));
    for n in 2..=5 {
        let r = request(ureq::get(&s.url("/session")).set("Cookie", &cookie), None);
        let j = r.json();
        assert_eq!(j["n"], n, "{j}");
        assert_eq!(j["id"], id.as_str());
    }
    // Another client gets another session.
    let r = s.get("/session");
    assert_eq!(r.json()["n"], 1);
    assert_ne!(r.json()["id"], id.as_str());
}

#[test]
fn symfony_request_and_response_mapping() {
    let a = symfony_app("sf-map", PROD, "    num_workers: 1\n");
    let s = a.serve();
    let r = request(
        ureq::get(&s.url("/request/a/b?x=1&y[]=2&y[]=3"))
            .set("Authorization", "Basic dXNlcjpwYXNz")
            .set("X-Test", "yes")
            .set("Cookie", "c1=v1; c2=v%202"),
        None,
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    let j = r.json();
    assert_eq!(j["path"], "/request/a/b");
    assert_eq!(j["request_uri"], "/request/a/b?x=1&y[]=2&y[]=3");
    assert_eq!(j["query_string"], "x=1&y[]=2&y[]=3");
    assert_eq!(j["host"], "127.0.0.1");
    assert_eq!(j["port"], s.port);
    assert_eq!(j["scheme"], "http");
    assert_eq!(j["method"], "GET");
    assert_eq!(j["protocol"], "HTTP/1.1");
    assert_eq!(j["client_ip"], "127.0.0.1");
    assert_eq!(j["query"], serde_json::json!({"x": "1", "y": ["2", "3"]}));
    assert_eq!(j["cookies"], serde_json::json!({"c1": "v1", "c2": "v 2"}));
    assert_eq!(j["user"], "user");
    assert_eq!(j["password"], "pass");
    assert_eq!(j["x_test"], "yes");
    assert_eq!(j["rr_mode"], "http");
    assert_eq!(j["server_rr_mode"], "http");
    assert_eq!(
        j["app_runtime"],
        "Baldinof\\RoadRunnerBundle\\Runtime\\Runtime"
    );
    assert_eq!(j["app_env"], "prod");
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("a=1;")), "{cookies:?}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("b=2;") && c.contains("path=/x")),
        "{cookies:?}"
    );
    let multi: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-multi"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(multi, vec!["one", "two"]);

    // A url-encoded form: parsed into $request->request.
    let r = s.post(
        "/request/form",
        "application/x-www-form-urlencoded",
        b"a=1&b[]=x&b[]=y",
    );
    let j = r.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["post"], serde_json::json!({"a": "1", "b": ["x", "y"]}));
    // A JSON body: raw content.
    let r = s.post("/request/json", "application/json", br#"{"k":[1,2]}"#);
    let j = r.json();
    assert_eq!(j["content"], r#"{"k":[1,2]}"#);
    assert_eq!(j["content_type"], "application/json");
    // A multipart upload: a field in $request->request, the file an UploadedFile.
    let boundary = "rrsymfonyboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nfile content\r\n--{boundary}--\r\n"
    );
    let r = s.post(
        "/request/upload",
        &format!("multipart/form-data; boundary={boundary}"),
        body.as_bytes(),
    );
    let j = r.json();
    assert_eq!(j["post"], serde_json::json!({"title": "hello"}), "{j}");
    assert_eq!(j["files"]["doc"]["name"], "a.txt", "{j}");
    assert_eq!(j["files"]["doc"]["size"], 12, "{j}");
    assert_eq!(j["files"]["doc"]["content"], "file content", "{j}");

    // Streamed and file responses are buffered whole.
    let r = s.get("/streamed");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "part1,part2");
    let r = s.get("/file");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        std::fs::read(a.dir.join("src/Controller/ProbeController.php")).unwrap()
    );
}

#[test]
fn symfony_hundred_concurrent_requests() {
    let a = symfony_app("sf-concurrent", PROD, "    num_workers: 4\n");
    let s = a.serve();
    let url = s.url("/test");
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || request(ureq::get(&url), None))
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["message"], "Hello from Symfony + RoadRunner!");
        ok += 1;
    }
    assert_eq!(ok, 100);
    assert_eq!(s.get("/test").status, 200, "{}", s.log());
}

/// The guide's bin/roadrunner-worker passes APP_ENV where the bundle's Runner
/// expects RR_MODE, and an RR_MODE inherited from the parent environment used
/// to reach workers: both gave "Missing RR worker implementation for dev mode"
/// (the guide's common issue 1). Here the worker serves, and says why.
#[test]
fn symfony_guide_worker_with_app_env_dev_serves() {
    let a = symfony_app("sf-devmode", "    APP_ENV: dev\n", "    num_workers: 1\n");
    a.file(
        "bin/roadrunner-worker",
        "#!/usr/bin/env php\n<?php\n\nuse App\\Kernel;\nuse Baldinof\\RoadRunnerBundle\\Runtime\\Runner;\n\n\
         require_once dirname(__DIR__).'/vendor/autoload_runtime.php';\n\n\
         return function (array $context) {\n    \
         $kernel = new Kernel($context['APP_ENV'], (bool) $context['APP_DEBUG']);\n    \
         return new Runner($kernel, $context['APP_ENV']);\n};\n",
    );
    let s = a.serve_env(&[], &[("RR_MODE", "dev")]);
    let r = s.get("/request/x");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.json()["rr_mode"], "http");
    assert_eq!(r.json()["app_env"], "dev");
    assert!(
        s.log()
            .contains("the Runner was given mode \"dev\" but RR_MODE is \"http\""),
        "{}",
        s.log()
    );
}

/// The bundle's own sample .rr.yaml: `php public/index.php` with server.env
/// written as a list (`- APP_RUNTIME: ...`).
#[test]
fn symfony_bundle_sample_config_public_index() {
    let a = symfony_app("sf-sample", "", "    num_workers: 1\n");
    a.file(
        ".rr.yaml",
        &format!(
            "version: \"3\"\nserver:\n  command: \"php public/index.php\"\n  env:\n    \
             - APP_RUNTIME: Baldinof\\RoadRunnerBundle\\Runtime\\Runtime\n    - APP_ENV: prod\n\
             http:\n  address: 127.0.0.1:{}\n  pool:\n    num_workers: 1\n    debug: false\n",
            a.port
        ),
    );
    let s = a.serve();
    let r = s.get("/request/x");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.json()["app_env"], "prod");
    assert_eq!(
        r.json()["app_runtime"],
        "Baldinof\\RoadRunnerBundle\\Runtime\\Runtime"
    );
    // Served by the runner: the kernel outlives the request.
    let k = state(&s)["kernel"].clone();
    assert_eq!(state(&s)["kernel"], k);
}

/// The guide's common issue 2 ("goridge_frame_receive: validation failed",
/// output during worker start-up): output and warnings before the worker
/// starts go to the log; requests are served.
#[test]
fn symfony_stray_output_at_boot_goes_to_log() {
    let a = symfony_app("sf-stray", PROD, "    num_workers: 1\n");
    let path = a.dir.join("bin/roadrunner-worker");
    let src = std::fs::read_to_string(&path).unwrap();
    let src = src.replacen(
        "<?php\n",
        "<?php\necho \"<html>stray output at boot</html>\\n\";\ntrigger_error('warning at boot', E_USER_WARNING);\n",
        1,
    );
    std::fs::write(&path, src).unwrap();
    let s = a.serve();
    let r = s.get("/test");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    assert_eq!(r.json()["message"], "Hello from Symfony + RoadRunner!");
    assert!(
        s.wait_log("stray output at boot", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert!(s.log().contains("warning at boot"), "{}", s.log());
}

/// The guide's baldinof_road_runner.yaml (bundle 1.x's should_reboot_kernel,
/// a Sentry middleware) ends in a message saying what to write instead.
#[test]
fn symfony_guide_bundle_config_gets_clear_error() {
    let a = symfony_app("sf-badcfg", PROD, "    num_workers: 1\n");
    a.file(
        "config/packages/baldinof_road_runner.yaml",
        "baldinof_road_runner:\n    should_reboot_kernel: true\n    middlewares:\n        - 'Baldinof\\RoadRunnerBundle\\Http\\Middleware\\SentryMiddleware'\n",
    );
    let (_code, log) = a.run(&["serve"], Duration::from_secs(30));
    assert!(
        log.contains("should_reboot_kernel") && log.contains("kernel_reboot: { strategy: always }"),
        "{log}"
    );
}

/// Without the bundle in bundles.php (the guide's common issue 6, "You have
/// requested a non-existent service") the server's runner still serves: it
/// needs no service from the bundle.
#[test]
fn symfony_without_bundle_registration_serves() {
    let a = symfony_app("sf-nobundle", PROD, "    num_workers: 1\n");
    a.file(
        "config/bundles.php",
        "<?php\n\nreturn [\n    Symfony\\Bundle\\FrameworkBundle\\FrameworkBundle::class => ['all' => true],\n];\n",
    );
    std::fs::remove_file(a.dir.join("config/packages/baldinof_road_runner.yaml")).unwrap();
    let s = a.serve();
    let r = s.get("/test");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    // on_exception is the default without the bundle's config too.
    let k = state(&s)["kernel"].clone();
    assert_eq!(s.get("/boom").status, 500);
    assert_ne!(state(&s)["kernel"], k);
}

/// The guide's common issue 7: a server.command script that does not exist.
#[test]
fn symfony_missing_worker_script_is_named() {
    let a = symfony_app("sf-noscript", PROD, "    num_workers: 1\n");
    std::fs::remove_file(a.dir.join("bin/roadrunner-worker")).unwrap();
    let (code, log) = a.run(&["serve"], Duration::from_secs(30));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("bin/roadrunner-worker"), "{log}");
}

/// Files older than OPcache's file_update_protection (2 s), so they are cached.
fn age_sources(a: &App) {
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for e in std::fs::read_dir(a.dir.join("src/Controller"))
        .unwrap()
        .flatten()
    {
        std::fs::File::options()
            .write(true)
            .open(e.path())
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
}

fn set_message(a: &App, message: &str) {
    let p = a.dir.join("src/Controller/TestController.php");
    let src = std::fs::read_to_string(&p).unwrap();
    let start = src.find("'message' => '").unwrap() + "'message' => '".len();
    let end = start + src[start..].find('\'').unwrap();
    let new = format!("{}{}{}", &src[..start], message, &src[end..]);
    std::fs::write(&p, new).unwrap();
}

fn message(s: &Server) -> String {
    let r = s.get("/test");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log());
    r.json()["message"].as_str().unwrap().to_string()
}

/// The guide's dev config (episode .rr.yaml: APP_ENV=dev from .env, one
/// worker, max_jobs: 1): a code change shows on the very next request.
#[test]
fn symfony_dev_config_max_jobs_1_shows_changes() {
    let a = symfony_app("sf-dev", "", "    num_workers: 1\n");
    age_sources(&a);
    let rpc = free_port();
    let s = a.serve_with(&[
        "-c",
        "episode.rr.yaml",
        "-o",
        &format!("http.address=127.0.0.1:{}", a.port),
        "-o",
        &format!("rpc.listen=tcp://127.0.0.1:{rpc}"),
    ]);
    assert_eq!(message(&s), "Hello from Symfony + RoadRunner!");
    for i in 1..=10 {
        let m = format!("changed {i}");
        set_message(&a, &m);
        assert_eq!(message(&s), m, "{}", s.log());
    }
}

/// The file watcher (episode .rr.watch.yaml): workers keep their kernel until
/// a watched file changes, then the next request after the restart shows it.
#[test]
fn symfony_file_watcher_shows_changes() {
    let a = symfony_app("sf-watch", "", "    num_workers: 1\n");
    age_sources(&a);
    let s = a.serve_with(&[
        "-c",
        ".rr.watch.yaml",
        "-o",
        &format!("http.address=127.0.0.1:{}", a.port),
        "-o",
        "http.pool.num_workers=1",
    ]);
    assert!(s.wait_log("reload: watching", Duration::from_secs(10)));
    assert_eq!(message(&s), "Hello from Symfony + RoadRunner!");
    // Kernel kept between requests while nothing changes.
    let k = state(&s)["kernel"].clone();
    assert_eq!(state(&s)["kernel"], k);

    let restarts = |s: &Server| s.log().matches("reload: files changed").count();
    for i in 1..=2 {
        let before = restarts(&s);
        let m = format!("watched {i}");
        set_message(&a, &m);
        let start = Instant::now();
        while restarts(&s) == before && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            restarts(&s) > before,
            "the watcher saw nothing: {}",
            s.log()
        );
        assert_eq!(message(&s), m, "{}", s.log());
    }
}

/// A manual run of the episode (`make serve-symfony`, `bin/console`) leaves
/// a compiled cache in the episode's `var/`, with that folder's absolute
/// paths; the tests' copies must not take it. Here the cache is planted in
/// a stand-in episode folder and must not reach the copy.
#[test]
fn symfony_app_copy_leaves_out_var_vendor_and_local_env() {
    let src = std::env::temp_dir().join(format!("rr-sf-copy-src-{}", free_port()));
    let dst = std::env::temp_dir().join(format!("rr-sf-copy-dst-{}", free_port()));
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&dst);
    for f in [
        "var/cache/prod/App_KernelProdContainer.php",
        "var/log/prod.log",
        "vendor/autoload.php",
        ".env.local",
        "src/Kernel.php",
        "config/var/kept.yaml",
        ".env",
    ] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f).unwrap();
    }
    copy_app(&src, &dst);
    assert!(!dst.join("var").exists(), "var/ is not copied");
    assert!(!dst.join("vendor").exists(), "vendor/ is not copied");
    assert!(!dst.join(".env.local").exists());
    assert!(dst.join("src/Kernel.php").is_file());
    assert!(dst.join(".env").is_file());
    assert!(
        dst.join("config/var/kept.yaml").is_file(),
        "only the top-level var/ is left out"
    );
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&dst);
}

/// With the real episode (whatever its `var/` holds after a manual run): a
/// test app starts without `var/` and serves.
#[test]
fn symfony_serves_after_a_manual_run_left_var_behind() {
    let a = symfony_app("sf-novar", PROD, "    num_workers: 1\n");
    assert!(!a.dir.join("var").exists(), "the copy starts without var/");
    let s = a.serve();
    assert_eq!(s.get("/test").status, 200, "{}", s.log());
}
