//! Test harness: the real `rr` binary, real PHP, real HTTP on 127.0.0.1.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const RR: &str = env!("CARGO_BIN_EXE_rr");

/// A log file opened for appending: stdout and stderr of `rr` both go to it
/// without overwriting each other (two `create`d handles would).
fn log_file(p: &Path) -> std::fs::File {
    std::fs::File::options()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A port no one listens on, for a server the test starts next. Not one
/// the kernel hands out (`bind(0)`): those come from the ephemeral range
/// (ip_local_port_range, 32768-60999), where every client socket of every
/// test also gets its port, so between our check and rr's bind a
/// connection elsewhere could take it. Below that range only listeners
/// compete, and a random pick makes two tests choosing the same one rare.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = fastrand::u16(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary app directory holding a .rr.yaml and fixture scripts.
pub struct App {
    pub dir: PathBuf,
    pub port: u16,
}

impl App {
    /// `yaml` may contain `{port}` and `{fixtures}`.
    pub fn new(name: &str, yaml: &str) -> App {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "rr-test-{}-{}-{}",
            name,
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (port as u128)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = yaml
            .replace("{port}", &port.to_string())
            .replace("{fixtures}", &fixtures().display().to_string());
        std::fs::write(dir.join(".rr.yaml"), yaml).unwrap();
        App { dir, port }
    }

    pub fn file(&self, name: &str, contents: &str) -> &App {
        let p = self.dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    /// The offline autoloader of the episodes (Debian's nyholm/psr7 and the
    /// server's own worker API) as the app's autoload.php.
    pub fn offline_autoload(&self) -> &App {
        self.file(
            "autoload.php",
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/episodes/offline-autoload.php"
            ))
            .unwrap(),
        )
    }

    /// Copy a fixture into the app directory.
    pub fn fixture(&self, name: &str) -> &App {
        let src = fixtures().join(name);
        let dst = self.dir.join(name);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        self
    }

    /// Run `rr` with args in the app dir and wait for it (for failures).
    pub fn run(&self, args: &[&str], timeout: Duration) -> (Option<i32>, String) {
        let log = self.dir.join("run.log");
        let _ = std::fs::remove_file(&log);
        let mut child = Command::new(RR)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return (st.code(), std::fs::read_to_string(&log).unwrap_or_default());
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return (None, std::fs::read_to_string(&log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    pub fn serve_with(&self, extra: &[&str]) -> Server {
        self.serve_env(extra, &[])
    }

    /// `serve_with`, with extra variables in rr's own environment.
    pub fn serve_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let log = self.dir.join("server.log");
        let _ = std::fs::remove_file(&log);
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let child = Command::new(RR)
            .args(&args)
            .current_dir(&self.dir)
            .envs(env.iter().copied())
            .env("RR_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .unwrap();
        let mut s = Server {
            child: Some(child),
            port: self.port,
            log,
        };
        s.wait_ready();
        s
    }
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rr exited early ({st}):\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.log().contains("http server started")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("rr did not start in 30s:\n{}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn get(&self, path: &str) -> Resp {
        request(ureq::get(&self.url(path)), None)
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        request(
            ureq::post(&self.url(path)).set("Content-Type", content_type),
            Some(body),
        )
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Wait for the server to exit by itself (after a signal the test sent).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Wait until the log contains `needle` (true) or the timeout passes.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn request(req: ureq::Request, body: Option<&[u8]>) -> Resp {
    let req = req.timeout(Duration::from_secs(60));
    let res = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let r = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = r.status();
    let mut names = r.headers_names();
    names.sort();
    names.dedup();
    let headers = names
        .into_iter()
        .flat_map(|n| {
            r.all(&n)
                .into_iter()
                .map(|v| (n.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// A raw HTTP/1.1 exchange (for requests ureq will not send).
pub fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Child processes of `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            if let Some(rest) = stat.rsplit(')').next() {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                if fields.get(1).and_then(|x| x.parse::<u32>().ok()) == Some(pid) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Which worker API a fixture runs on.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// The server's PHP library over native functions.
    Native,
    /// The same library speaking goridge frames over STDIN/STDOUT (what
    /// Spiral's packages do), through the server's memory relay.
    Relay,
    /// RoadRunner's model: php-cli processes over pipes.
    Process,
    /// php-cli processes over a TCP relay.
    ProcessTcp,
}

impl Api {
    /// Lines for the `server:` section (2-space indented).
    pub fn server_yaml(self) -> String {
        match self {
            Api::Native => "  env:\n    RUSTRUNNER_WORKER_TRANSPORT: native\n".into(),
            Api::Relay => "  env:\n    RUSTRUNNER_WORKER_TRANSPORT: relay\n".into(),
            Api::Process => "  executor: process\n".into(),
            Api::ProcessTcp => format!(
                "  executor: process\n  relay: \"tcp://127.0.0.1:{}\"\n",
                free_port()
            ),
        }
    }

    pub fn in_process(self) -> bool {
        matches!(self, Api::Native | Api::Relay)
    }
}

/// An app running fixture `script` (a PSR-7 worker) on `api`, with the
/// offline autoloader; `pool` holds `http.pool` keys (4-space indented),
/// `extra` more top-level sections.
pub fn php_app(name: &str, api: Api, script: &str, pool: &str, extra: &str) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php {script}\"\n{}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n{pool}\n{extra}logs:\n  mode: development\n  level: debug\n",
        api.server_yaml()
    );
    let a = App::new(name, &yaml);
    a.fixture(script);
    a.offline_autoload();
    a
}
