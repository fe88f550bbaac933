//! Real database servers for the tests, from Debian's packages: PostgreSQL,
//! MariaDB and Redis, each a temporary unprivileged instance (user `nobody`)
//! in its own temp dir, on a free 127.0.0.1 port, stopped (and its dir
//! removed) on Drop. No system service is used.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// The unprivileged user the servers run as (tests run as root; PostgreSQL
/// and MariaDB refuse to run as root).
const USER: &str = "nobody";
const GROUP: &str = "nogroup";

fn temp_dir(kind: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rr-{kind}-{}-{}", std::process::id(), free_port()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    chown(&d);
    d
}

fn chown(p: &Path) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{USER}:{GROUP}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "chown {}", p.display());
}

/// `cmd` as the unprivileged user (setpriv execs it: the child's pid is the
/// server's own, so signals reach it).
fn as_user(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        USER,
        "--regid",
        GROUP,
        "--clear-groups",
        "--reset-env",
        "--",
        program,
    ]);
    c
}

fn log_to(c: &mut Command, log: &Path) {
    let f = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    c.stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f);
}

/// Is the binary there? Tests skip (with a message) when it is not, as the
/// other suites do for optional tools; `make test` installs them.
pub fn have(program: &str) -> bool {
    Path::new(program).exists()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, log: &Path) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what} not ready after {timeout:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn stop_child(child: &mut Option<Child>, signal: &str) {
    if let Some(mut c) = child.take() {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(c.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if c.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster: superuser `postgres`, trust auth, database
/// `postgres`, TCP on 127.0.0.1:port, its unix socket in its own dir.
pub struct Postgres {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Postgres {
    pub fn available() -> bool {
        have(&format!("{PG_BIN}/initdb")) && have("/usr/bin/setpriv")
    }

    pub fn start() -> Postgres {
        let dir = temp_dir("pg");
        let log = dir.join("pg.log");
        let mut c = as_user(&format!("{PG_BIN}/initdb"));
        c.args(["-D"]).arg(dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        log_to(&mut c, &log);
        assert!(c.status().unwrap().success(), "initdb failed: {}", {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        let mut pg = Postgres {
            dir,
            port: free_port(),
            child: None,
        };
        pg.start_server();
        pg
    }

    /// Start (again) the server on the same data dir and port.
    pub fn start_server(&mut self) {
        assert!(self.child.is_none());
        let log = self.dir.join("pg.log");
        let mut c = as_user(&format!("{PG_BIN}/postgres"));
        c.arg("-D").arg(self.dir.join("data")).args([
            "-p",
            &self.port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            &format!("unix_socket_directories={}", self.dir.display()),
            "-c",
            "fsync=off",
            "-c",
            "max_connections=100",
        ]);
        log_to(&mut c, &log);
        self.child = Some(c.spawn().unwrap());
        let port = self.port.to_string();
        wait_until(
            "postgres",
            Duration::from_secs(60),
            || {
                Command::new(format!("{PG_BIN}/pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port])
                    .status()
                    .is_ok_and(|s| s.success())
            },
            &log,
        );
    }

    /// Fast shutdown (disconnects clients), and wait for it.
    pub fn stop_server(&mut self) {
        stop_child(&mut self.child, "INT");
    }

    /// Client connections of the workers, as PostgreSQL sees them (psql
    /// names itself; PDO leaves application_name empty).
    pub fn client_conns(&self) -> usize {
        self.psql(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'client backend' \
             AND application_name = ''",
        )
        .parse()
        .unwrap()
    }

    /// Run SQL with psql; returns stdout (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let o = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn dsn(&self) -> String {
        format!("pgsql:host=127.0.0.1;port={};dbname=postgres", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pg.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop_child(&mut self.child, "QUIT");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A MariaDB server: `root` without a password over 127.0.0.1, database `rr`.
pub struct MariaDb {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl MariaDb {
    pub fn available() -> bool {
        have("/usr/sbin/mariadbd") && have("/usr/bin/mariadb-install-db")
    }

    pub fn start() -> MariaDb {
        let dir = temp_dir("mariadb");
        let log = dir.join("mariadb.log");
        let data = dir.join("data");
        let mut c = Command::new("mariadb-install-db");
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={USER}"))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ]);
        log_to(&mut c, &log);
        assert!(
            c.status().unwrap().success(),
            "mariadb-install-db failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        chown(&dir);
        let port = free_port();
        // mariadbd drops to --user itself (it starts as root to do so).
        let mut c = Command::new("/usr/sbin/mariadbd");
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--user={USER}"))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=200",
            ]);
        log_to(&mut c, &log);
        let child = c.spawn().unwrap();
        let db = MariaDb {
            dir,
            port,
            child: Some(child),
        };
        let p = port.to_string();
        wait_until(
            "mariadbd",
            Duration::from_secs(60),
            || {
                Command::new("mariadb")
                    .args(["--no-defaults", "-h", "127.0.0.1", "-P", &p, "-uroot"])
                    .args(["-e", "SELECT 1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
            &log,
        );
        db.sql("CREATE DATABASE rr");
        db
    }

    pub fn sql(&self, sql: &str) -> String {
        let o = Command::new("mariadb")
            .args(["--no-defaults", "-h", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .args(["-uroot", "-N", "-B", "-e", sql])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mariadb {sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn dsn(&self) -> String {
        format!("mysql:host=127.0.0.1;port={};dbname=rr", self.port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server without persistence.
pub struct Redis {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn available() -> bool {
        have("/usr/bin/redis-server") && have("/usr/bin/setpriv")
    }

    pub fn start() -> Redis {
        let dir = temp_dir("redis");
        let log = dir.join("redis.log");
        let port = free_port();
        let conf = dir.join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndaemonize no\n\
                 dir {}\nlogfile \"\"\nprotected-mode yes\n",
                dir.display()
            ),
        )
        .unwrap();
        chown(&dir);
        let mut c = as_user("/usr/bin/redis-server");
        c.arg(&conf);
        log_to(&mut c, &log);
        let r = Redis {
            dir,
            port,
            child: Some(c.spawn().unwrap()),
        };
        let p = port.to_string();
        wait_until(
            "redis-server",
            Duration::from_secs(30),
            || {
                Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &p, "ping"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
            },
            &log,
        );
        r
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let o = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A second local HTTP server for curl (python3 -m http.server) serving
/// `dir` on a free 127.0.0.1 port.
pub struct HttpFiles {
    pub port: u16,
    child: Option<Child>,
}

impl HttpFiles {
    pub fn start(dir: &Path) -> HttpFiles {
        let port = free_port();
        let log = dir.join("http.log");
        let mut c = Command::new("python3");
        c.args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir);
        log_to(&mut c, &log);
        let h = HttpFiles {
            port,
            child: Some(c.spawn().unwrap()),
        };
        wait_until(
            "python3 -m http.server",
            Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            &log,
        );
        h
    }
}

impl Drop for HttpFiles {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM");
    }
}
