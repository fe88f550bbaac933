//! Issue 8: `rr php-cli`, the static-ish binary on a bare Debian root, and
//! scaling out behind nginx.
//!
//! * php-cli tests run the debug `rr` built by cargo.
//! * `chroot_bare_debian_serves_episode0` runs `make dist` (RR_STATIC=1
//!   release build) and `scripts/dist-chroot-test.sh` when debootstrap is
//!   installed and the tests run as root; otherwise it says why it skipped.
//! * `composer_runs_on_php_cli` runs `scripts/composer-php-cli-test.sh`.
//! * `nginx_three_instances_drain_and_restart` runs
//!   `scripts/nginx-drain-test.sh` when nginx is installed.

mod common;

use common::RR;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rr-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn php(args: &[&str]) -> Output {
    Command::new(RR)
        .arg("php-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rr php-cli")
}

/// `rr php-cli args` with `input` on its standard input.
fn php_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(RR)
        .arg("php-cli")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rr php-cli");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn php_cli_version_modules_and_info() {
    let o = php(&["-v"]);
    assert!(o.status.success());
    let v = stdout(&o);
    assert!(v.starts_with("PHP 8."), "{v}");
    assert!(v.contains("(cli)") && v.contains("ZTS"), "{v}");
    assert!(v.contains("with Zend OPcache"), "{v}");

    let m = stdout(&php(&["-m"]));
    assert!(m.starts_with("[PHP Modules]\n"), "{m}");
    for e in ["Core", "mbstring", "openssl", "pdo_sqlite", "intl", "pcntl"] {
        assert!(m.lines().any(|l| l == e), "{e} missing from -m: {m}");
    }
    assert!(m.contains("[Zend Modules]\nZend OPcache\n"), "{m}");

    let i = stdout(&php(&["-i"]));
    assert!(
        i.contains("PHP Version => 8."),
        "{}",
        &i[..i.len().min(400)]
    );
    assert!(i.contains("Thread Safety => enabled"));

    // php.ini: -c, PHPRC and PHP_INI_SCAN_DIR (the image sets the latter two).
    let d = tmpdir("ini");
    std::fs::create_dir_all(d.join("conf.d")).unwrap();
    std::fs::write(d.join("php.ini"), "memory_limit=43M\n").unwrap();
    std::fs::write(d.join("conf.d/10-x.ini"), "precision=9\n").unwrap();
    let code = "echo ini_get('memory_limit'), ' ', ini_get('precision');";
    let o = php(&["-c", d.join("php.ini").to_str().unwrap(), "-r", code]);
    assert_eq!(stdout(&o), "43M 14");
    let o = Command::new(RR)
        .args(["php-cli", "-r", code])
        .env("PHPRC", &d)
        .env("PHP_INI_SCAN_DIR", d.join("conf.d"))
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "43M 9");
    let _ = std::fs::remove_dir_all(&d);

    let h = stdout(&php(&["-h"]));
    assert!(h.contains("-r <code>"), "{h}");
    let ini = stdout(&php(&["-n", "--ini"]));
    assert!(
        ini.contains("Loaded Configuration File:         (none)"),
        "{ini}"
    );
}

#[test]
fn php_cli_code_args_ini_and_exit_status() {
    let o = php(&[
        "-d",
        "memory_limit=77M",
        "-d",
        "error_reporting=E_ALL & ~E_NOTICE",
        "-r",
        "echo PHP_SAPI, ' ', ini_get('memory_limit'), ' ', error_reporting() === (E_ALL & ~E_NOTICE) ? 'er' : 'no', ' ', json_encode($argv), \"\\n\"; exit(42);",
        "--",
        "a",
        "-b",
    ]);
    assert_eq!(o.status.code(), Some(42), "{o:?}");
    assert_eq!(
        stdout(&o),
        "cli 77M er [\"Standard input code\",\"a\",\"-b\"]\n"
    );

    // An uncaught exception: 255, the message on stdout (display_errors),
    // as php-cli without a php.ini; error_log() goes to stderr.
    let o = php(&[
        "-r",
        "error_log('logged'); throw new RuntimeException('boom');",
    ]);
    assert_eq!(o.status.code(), Some(255));
    assert!(stdout(&o).contains("Fatal error: Uncaught RuntimeException: boom"));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "logged\n");

    // exit() in a shutdown function or a destructor is the status, as in
    // php-cli (Symfony's error handler sets 255 that way).
    let o = php(&["-r", "register_shutdown_function(fn () => exit(3));"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = php(&[
        "-r",
        "$o = new class { function __destruct() { exit(4); } }; echo 'x';",
    ]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");

    // Unsupported and bad options fail with a message.
    let o = php(&["-S", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not supported"));
    let o = php(&["/nonexistent/x.php"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Could not open input file"));
}

/// `rr php-cli -a`: our own shell. State lives on between statements, a
/// statement may span lines, an exception is reported and the shell goes
/// on, `exit` ends it.
#[test]
fn php_cli_interactive_shell() {
    let o = php_stdin(
        &["-a"],
        b"$x = 2;\nfunction f($a) {\n  return $a * 21;\n}\necho f($x), \"\\n\";\n\
              throw new RuntimeException('boom');\necho 'multi',\n  'line', \"\\n\"\n;\n\
              exit\necho 'not reached';\n",
    );
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("Interactive shell\n"), "{out}");
    assert!(out.contains("\n42\n"), "{out}");
    assert!(out.contains("RuntimeException: boom"), "{out}");
    assert!(out.contains("multiline\n"), "{out}");
    assert!(!out.contains("not reached"), "{out}");
}

#[test]
fn php_cli_script_stdio_env_and_lint() {
    let d = tmpdir("cli");
    let script = d.join("s.php");
    std::fs::write(
        &script,
        "#!/usr/bin/env php\n<?php\n\
         $in = stream_get_contents(STDIN);\n\
         fwrite(STDOUT, 'in=' . strtoupper($in) . \"\\n\");\n\
         fwrite(STDERR, \"to-stderr\\n\");\n\
         echo 'args=', implode(',', array_slice($argv, 1)), \"\\n\";\n\
         echo 'env=', getenv('RR_CLI_TEST'), ' ', $_SERVER['RR_CLI_TEST'] ?? '-', \"\\n\";\n\
         putenv('RR_CLI_CHILD=seen');\n\
         echo 'child=', trim(shell_exec('echo $RR_CLI_CHILD')), \"\\n\";\n\
         echo 'isatty=', var_export(stream_isatty(STDOUT), true), \"\\n\";\n\
         exit(3);\n",
    )
    .unwrap();
    let mut child = Command::new(RR)
        .args(["php-cli", script.to_str().unwrap(), "x", "--y"])
        .env("RR_CLI_TEST", "hello")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(
        stdout(&o),
        "in=PIPED\nargs=x,--y\nenv=hello hello\nchild=seen\nisatty=false\n"
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-stderr\n");

    // The script from stdin.
    let o = php_stdin(&[], b"<?php echo 6 * 7, ' ', $argv[0], \"\\n\";");
    assert_eq!(stdout(&o), "42 Standard input code\n");

    // php -l.
    let o = php(&["-l", script.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("No syntax errors detected in "));
    let bad = d.join("bad.php");
    std::fs::write(&bad, "<?php function (").unwrap();
    let o = php(&["-l", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(255));
    assert!(stdout(&o).contains("Errors parsing"), "{o:?}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A hard link named `php` runs as `rr php-cli`, and PHP_BINARY names it, so
/// a script can re-run PHP with php's options, as Composer's `@php` does.
#[test]
fn php_hard_link_is_php_binary() {
    let d = tmpdir("link");
    let php = d.join("php");
    if std::fs::hard_link(RR, &php).is_err() {
        std::fs::copy(RR, &php).unwrap();
    }
    let code = "echo PHP_BINARY, \"\\n\"; \
        echo shell_exec(escapeshellarg(PHP_BINARY) . ' -d memory_limit=33M -r ' . escapeshellarg('echo ini_get(\"memory_limit\"), PHP_EOL;'));";
    let o = Command::new(&php).args(["-r", code]).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), format!("{}\n33M\n", php.display()));

    // `rr php-cli` next to such a link reports the link as PHP_BINARY.
    let rr = d.join("rr");
    if std::fs::hard_link(RR, &rr).is_err() {
        std::fs::copy(RR, &rr).unwrap();
        std::fs::remove_file(&php).unwrap();
        std::fs::hard_link(&rr, &php).unwrap();
    }
    let o = Command::new(&rr)
        .args(["php-cli", "-r", "echo PHP_BINARY;"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), php.display().to_string());
    let _ = std::fs::remove_dir_all(&d);
}

/// `php` as a link to rr (the image's layout) is RoadRunner's process
/// worker: over pipes a stray echo must not reach the relay, and over a
/// socket relay the worker must connect back. Before the fix the rustrunner_*
/// worker functions existed in `rr php-cli` too, so the PHP library took
/// them for an in-process worker: it never connected to a socket relay
/// (the worker exited at once) and let echo onto the pipes.
#[test]
fn php_hard_link_serves_as_a_process_worker() {
    for relay in ["pipes", "unix", "tcp"] {
        let extra = match relay {
            "unix" => "  relay: \"unix://worker.sock\"\n".to_string(),
            "tcp" => format!("  relay: \"tcp://127.0.0.1:{}\"\n", common::free_port()),
            _ => String::new(),
        };
        let a = common::php_app(
            &format!("php-link-worker-{relay}"),
            common::Api::Process,
            "echo.php",
            "    num_workers: 1",
            "",
        );
        let php = a.dir.join("php");
        if std::fs::hard_link(RR, &php).is_err() {
            std::fs::copy(RR, &php).unwrap();
        }
        let yaml = std::fs::read_to_string(a.dir.join(".rr.yaml"))
            .unwrap()
            .replace(
                "command: \"php echo.php\"",
                &format!("command: \"{} echo.php\"\n{extra}", php.display()),
            );
        std::fs::write(a.dir.join(".rr.yaml"), yaml).unwrap();
        let mut s = a.serve();
        for _ in 0..3 {
            let r = s.get("/echo-output");
            assert_eq!(r.status, 200, "{relay}: {}\n{}", r.text(), s.log());
            let j = r.json();
            assert_eq!(j["php_binary"], php.display().to_string(), "{relay}");
            assert_eq!(j["served"].as_u64().map(|n| n > 0), Some(true));
        }
        let log = s.log();
        assert!(
            log.contains("stray output from the worker loop"),
            "{relay}: echo goes to the log: {log}"
        );
        assert!(!log.contains("restart"), "{relay}: {log}");
        s.stop();
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || Path::new("/usr/sbin").join(cmd).exists()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run_script(cmd: &mut Command, what: &str) {
    let start = std::time::Instant::now();
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!(
        "{what} ({:.1}s):\n{out}{err}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        o.status.success() && out.contains("PASS"),
        "{what} failed:\n{out}\n{err}"
    );
}

#[test]
fn chroot_bare_debian_serves_episode0() {
    if !have("debootstrap") || !is_root() {
        eprintln!("skipped: needs debootstrap and root (make deps installs debootstrap)");
        return;
    }
    // The static-ish binary (incremental: only relinks when nothing changed).
    run_script(
        Command::new("sh")
            .current_dir(root())
            .args(["-c", "make -s dist >/dev/null && echo PASS"]),
        "make dist",
    );
    run_script(
        Command::new(root().join("scripts/dist-chroot-test.sh")).arg(root().join("dist/rr")),
        "scripts/dist-chroot-test.sh",
    );
}

#[test]
fn nginx_three_instances_drain_and_restart() {
    if !have("nginx") || !have("curl") {
        eprintln!("skipped: needs nginx and curl (make deps installs them)");
        return;
    }
    run_script(
        Command::new(root().join("scripts/nginx-drain-test.sh")).arg(RR),
        "scripts/nginx-drain-test.sh",
    );
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with
/// `status`; returns its port.
fn fake_status_server(status: u16) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(4) {
            let mut s = s;
            let mut buf = [0u8; 2048];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let body = if status == 200 { "ok" } else { "not ready" };
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The Dockerfile's HEALTHCHECK, run outside Docker: its command (JSON
/// form) with `php` = a hard link to rr, against a stand-in status endpoint.
#[test]
fn dockerfile_healthcheck_runs_on_the_embedded_php() {
    let df = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(df.contains("FROM debian:bookworm-slim"), "final stage");
    assert!(df.contains("php:8.4-zts"), "PHP 8.4 ZTS source");
    assert!(
        df.contains("\nUSER 10001:10001\n"),
        "non-root user (rr, uid 10001)"
    );
    assert!(df.contains("scripts/dist.sh"), "static-ish rr");
    let hc = df
        .split("\nHEALTHCHECK ")
        .nth(1)
        .expect("a HEALTHCHECK")
        .split("CMD ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let argv: Vec<String> = serde_json::from_str(hc).expect("HEALTHCHECK CMD in JSON form");
    assert_eq!(argv[0], "php");
    assert!(argv
        .iter()
        .any(|a| a.contains("127.0.0.1:2114/health?plugin=http")));

    let d = tmpdir("hc");
    let php = d.join("php");
    if std::fs::hard_link(RR, &php).is_err() {
        std::fs::copy(RR, &php).unwrap();
    }
    let check = |port: u16| -> Option<i32> {
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| a.replace("127.0.0.1:2114", &format!("127.0.0.1:{port}")))
            .collect();
        Command::new(&php)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(check(fake_status_server(200)), Some(0), "healthy");
    assert_eq!(check(fake_status_server(503)), Some(1), "503 = unhealthy");
    assert_eq!(check(common::free_port()), Some(1), "nothing listening");
    let _ = std::fs::remove_dir_all(&d);
}

fn yaml(path: &str) -> serde_norway::Value {
    serde_norway::from_str(&std::fs::read_to_string(root().join(path)).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Kubernetes manifests: probes on the status endpoints, a preStop
/// drain that fits the grace period, num_workers from the CPU limit; and
/// the container's command line is one rr really accepts.
#[test]
fn kubernetes_manifests_probe_drain_and_follow_the_cpu_limit() {
    let dep = yaml("deploy/kubernetes/deployment.yaml");
    let spec = &dep["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let get = |probe: &str| {
        c[probe]["httpGet"]["path"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(get("readinessProbe"), "/ready?plugin=http");
    assert_eq!(get("livenessProbe"), "/health?plugin=http");
    assert_eq!(
        c["readinessProbe"]["httpGet"]["port"].as_str(),
        Some("status")
    );
    let ports = c["ports"].as_sequence().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["name"].as_str() == Some("status")
                && p["containerPort"].as_u64() == Some(2114))
    );
    // preStop sleep + rr's drain fit in the grace period.
    let pre: Vec<&str> = c["lifecycle"]["preStop"]["exec"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pre[0], "sleep");
    let sleep: u64 = pre[1].parse().unwrap();
    let args: Vec<String> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let drain: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("http.pool.destroy_timeout="))
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("http.pool.destroy_timeout in args");
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        sleep + drain < grace,
        "preStop {sleep}s + drain {drain}s >= grace {grace}s"
    );
    // num_workers follows the CPU limit.
    let env = c["env"].as_sequence().unwrap();
    let w = env
        .iter()
        .find(|e| e["name"].as_str() == Some("RR_NUM_WORKERS"))
        .expect("RR_NUM_WORKERS");
    assert_eq!(
        w["valueFrom"]["resourceFieldRef"]["resource"].as_str(),
        Some("limits.cpu")
    );
    assert!(c["resources"]["limits"]["cpu"].as_str().is_some());
    assert!(args.contains(&"http.pool.num_workers=$(RR_NUM_WORKERS)".to_string()));
    assert_eq!(c["command"][0].as_str(), Some("rr"));
    for f in ["service.yaml", "pdb.yaml", "hpa.yaml", "kustomization.yaml"] {
        yaml(&format!("deploy/kubernetes/{f}"));
    }

    // The same command line (with $(RR_NUM_WORKERS) expanded as the kubelet
    // does, loopback ports) starts a server that answers.
    let app = common::App::new(
        "k8s",
        "version: \"3\"\nserver:\n  command: \"php worker.php\"\nhttp:\n  address: 127.0.0.1:1\n",
    );
    std::fs::copy(
        root().join("episodes/0-first-contact/app/worker.php"),
        app.dir.join("worker.php"),
    )
    .unwrap();
    std::fs::create_dir_all(app.dir.join("vendor")).unwrap();
    std::fs::copy(
        root().join("episodes/offline-autoload.php"),
        app.dir.join("vendor/autoload.php"),
    )
    .unwrap();
    let status_port = common::free_port();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("$(RR_NUM_WORKERS)", "2")
                .replace("0.0.0.0:8080", &format!("127.0.0.1:{}", app.port))
                .replace("0.0.0.0:2114", &format!("127.0.0.1:{status_port}"))
        })
        .collect();
    let mut child = Command::new(RR)
        .args(&args)
        .current_dir(&app.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", app.port);
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(r) = ureq::get(&url).call() {
            body = r.into_string().unwrap_or_default();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    assert_eq!(body, "Hello from RoadRunner!");
    assert!(st.success(), "rr exited with {st:?} after SIGTERM");
}

/// Composer (Debian's package, unpacked, not installed) on the embedded PHP
/// through a `php` hard link: install from a path repository, `@php -d`
/// and `@php -r` scripts.
#[test]
fn composer_runs_on_php_cli() {
    if !have("apt-get") || !have("dpkg") {
        eprintln!("skipped: needs apt-get and dpkg (to fetch Debian's composer)");
        return;
    }
    run_script(
        Command::new(root().join("scripts/composer-php-cli-test.sh")).arg(RR),
        "scripts/composer-php-cli-test.sh",
    );
}

/// php-cli's process behaviour: a closed stdout ends the script (exit 255,
/// not an endless loop), and pcntl_signal() receives the process's signals.
#[test]
fn php_cli_broken_pipe_and_signals() {
    let mut child = Command::new(RR)
        .args([
            "php-cli",
            "-r",
            "while (true) { echo str_repeat('y', 100), \"\\n\"; }",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    drop(out);
    let start = std::time::Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("rr php-cli kept writing to a closed pipe");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(st.code(), Some(255));

    let o = php(&[
        "-r",
        "pcntl_async_signals(true); pcntl_signal(SIGTERM, function () { echo \"got TERM\\n\"; exit(5); }); \
         posix_kill(posix_getpid(), SIGTERM); sleep(5); echo \"not reached\\n\";",
    ]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stdout(&o), "got TERM\n");
}
