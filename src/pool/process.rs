//! The process executor: RoadRunner's own model, one OS process per worker
//! speaking goridge over pipes or a socket. It is the baseline the benchmarks
//! compare the in-process threads against, and the fallback for commands
//! that are not a PHP script.
//!
//! It drives the same [`WorkerHost`] the thread executor hands to PHP: what
//! PHP would read from STDIN we write to the child, what the child writes we
//! feed to the host as PHP's STDOUT. So the protocol, recycling and failure
//! handling are one code path for both executors.

use super::worker::{LifeEnd, Lives, WorkerHost};
use super::{Ctl, Shared};
use crate::php::Host;
use crossbeam_channel as cb;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a process worker talks to the server (`server.relay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    Pipes,
    /// `tcp://host:port`: the server listens, each worker connects.
    Tcp(String),
    /// `unix:///path/to.sock`.
    Unix(String),
}

impl Relay {
    pub fn parse(s: &str) -> Result<Relay, String> {
        if s == "pipes" || s.is_empty() {
            Ok(Relay::Pipes)
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(Relay::Tcp(a.to_string()))
        } else if let Some(p) = s.strip_prefix("unix://") {
            Ok(Relay::Unix(p.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a relay: use pipes, tcp://host:port or unix:///path"
            ))
        }
    }
}

/// What the process executor runs.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: String,
    pub args: Vec<String>,
    pub relay: Relay,
    /// The value of RR_RELAY handed to the worker.
    pub relay_env: String,
    pub dir: std::path::PathBuf,
    /// `server.user`: (uid, primary gid) the processes run as; std drops
    /// the supplementary groups when root switches uid, as RoadRunner does.
    pub user: Option<(u32, u32)>,
}

/// A duplex byte stream to a worker (pipes, or a socket from the acceptor).
enum Conn {
    Pipe(std::process::ChildStdin),
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Pipe(p) => p.write_all(b),
            Conn::Tcp(s) => s.write_all(b),
            Conn::Unix(s) => s.write_all(b),
        }
    }
}

enum Event {
    /// Bytes of the relay (the child's STDOUT with pipes, the socket otherwise).
    Relay(Vec<u8>),
    RelayEof,
}

/// How many reads of a worker's relay (up to 64 KiB each) may wait for the
/// driver. Bounded: while the driver waits for a slow client of a streamed
/// response, the worker's own writes block (its pipe or socket fills), as
/// under RoadRunner, instead of its output piling up here.
const RELAY_BACKLOG: usize = 8;

/// Read the relay side of a worker into the driver's channel.
fn pump(mut r: impl Read + Send + 'static, tx: cb::Sender<Event>) {
    let _ = std::thread::Builder::new()
        .name("rr-worker-io".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Event::RelayEof);
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Event::Relay(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
}

/// Log what a worker writes on a stream that is not the relay (STDERR, and
/// STDOUT on socket relays), line by line as it comes, keeping the last
/// lines for error messages. Returns the thread to join at the life's end.
fn log_pump(
    mut r: impl Read + Send + 'static,
    worker: usize,
    tail: Arc<Mutex<String>>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rr-worker-log".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut line = Vec::new();
            let emit = |l: &[u8]| {
                let text = String::from_utf8_lossy(l);
                let text = text.trim_end();
                if text.is_empty() {
                    return;
                }
                tracing::info!(target: "php", worker, stream = "stderr", "{}", text);
                let mut t = tail.lock();
                t.push_str(text);
                t.push('\n');
                if t.len() > 4096 {
                    let cut = t.len() - 2048;
                    let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                    t.drain(..cut);
                }
            };
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        emit(&line);
                        return;
                    }
                    Ok(n) => {
                        line.extend_from_slice(&buf[..n]);
                        while let Some(pos) = line.iter().position(|&b| b == b'\n') {
                            let l: Vec<u8> = line.drain(..=pos).collect();
                            emit(&l);
                        }
                        if line.len() > 64 * 1024 {
                            emit(&line);
                            line.clear();
                        }
                    }
                }
            }
        })
        .ok()
}

/// Connections accepted on a socket relay, keyed by the pid each one
/// reported in its handshake.
#[derive(Default)]
pub(super) struct Acceptor {
    conns: Mutex<HashMap<u32, Conn>>,
    ready: Condvar,
}

impl Acceptor {
    /// Listen on the relay address; accepted connections are paired with
    /// their process by the pid handshake (contract.md §2.2).
    pub(super) fn start(
        relay: &Relay,
        user: Option<(u32, u32)>,
        shared: Arc<Shared>,
    ) -> Result<Arc<Acceptor>, String> {
        let acc = Arc::new(Acceptor::default());
        match relay {
            Relay::Pipes => {}
            Relay::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .map_err(|e| format!("server.relay: cannot listen on tcp://{addr}: {e}"))?;
                acc.accept_in_background(shared, move || {
                    let s = l.accept().ok()?.0;
                    let _ = s.set_nodelay(true);
                    let r = s.try_clone().ok()?;
                    Some((Box::new(r) as Box<dyn Read + Send>, Conn::Tcp(s)))
                })?;
            }
            Relay::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let l = std::os::unix::net::UnixListener::bind(path)
                    .map_err(|e| format!("server.relay: cannot listen on unix://{path}: {e}"))?;
                if let Some((uid, gid)) = user {
                    // Connecting needs write permission on the socket file.
                    // lchown: a link swapped in meanwhile is not followed.
                    use std::os::unix::fs::FileTypeExt;
                    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| {
                        format!("server.relay: cannot give unix://{path} to uid {uid}: {e}")
                    })?;
                    let is_socket =
                        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
                    if !is_socket {
                        return Err(format!(
                            "server.relay: unix://{path} was replaced while starting"
                        ));
                    }
                }
                acc.accept_in_background(shared, move || {
                    let s = l.accept().ok()?.0;
                    let r = s.try_clone().ok()?;
                    Some((Box::new(r) as Box<dyn Read + Send>, Conn::Unix(s)))
                })?;
            }
        }
        Ok(acc)
    }

    /// Accept connections until the pool stops; each one's handshake runs
    /// on its own thread. `accept` yields a connection, or None on an error.
    fn accept_in_background(
        self: &Arc<Self>,
        shared: Arc<Shared>,
        mut accept: impl FnMut() -> Option<(Box<dyn Read + Send>, Conn)> + Send + 'static,
    ) -> Result<(), String> {
        let a = self.clone();
        std::thread::Builder::new()
            .name("rr-relay-accept".into())
            .spawn(move || loop {
                let conn = accept();
                if shared
                    .shutting_down
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    return;
                }
                match conn {
                    Some((r, w)) => {
                        let a = a.clone();
                        std::thread::spawn(move || a.handshake(r, w));
                    }
                    // accept() failed (e.g. out of descriptors): do not spin.
                    None => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn handshake(&self, mut r: Box<dyn Read + Send>, mut w: Conn) {
        use crate::relay::frame;
        let pid_req = frame::encode(
            frame::CONTROL | frame::CODEC_JSON,
            0,
            &[],
            &[format!("{{\"pid\":{}}}", std::process::id()).as_bytes()],
        );
        if w.write_all(&pid_req).is_err() {
            return;
        }
        let mut dec = frame::Decoder::new(4096);
        let mut buf = [0u8; 512];
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            dec.push(&buf[..n]);
            match dec.next_frame() {
                Ok(Some(f)) => {
                    let v: serde_json::Value =
                        serde_json::from_slice(&f.payload).unwrap_or_default();
                    let Some(pid) = v.get("pid").and_then(|p| p.as_u64()) else {
                        tracing::warn!("relay: a connection answered the handshake without a pid");
                        return;
                    };
                    self.conns.lock().insert(pid as u32, w);
                    self.ready.notify_all();
                    return;
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("relay: bad handshake on a new connection: {e}");
                    return;
                }
            }
        }
    }

    /// Wait for the connection of process `pid`.
    fn take(&self, pid: u32, child: &mut Child, timeout: Duration) -> Option<Conn> {
        let deadline = Instant::now() + timeout;
        let mut conns = self.conns.lock();
        loop {
            if let Some(c) = conns.remove(&pid) {
                return Some(c);
            }
            if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
                return None;
            }
            self.ready.wait_for(&mut conns, Duration::from_millis(50));
        }
    }
}

/// A process worker: spawns a life after a life until the pool shuts down.
pub(super) fn run(
    id: usize,
    shared: Arc<Shared>,
    ctl: cb::Receiver<Ctl>,
    spec: ProcessSpec,
    acceptor: Arc<Acceptor>,
) {
    let mut lives = Lives::new(id, shared.clone(), ctl);
    while let Some(mut host) = lives.begin() {
        let end = one_life(&mut host, &shared, &spec, &acceptor);
        if !lives.end(host, end) {
            break;
        }
    }
}

fn one_life(
    host: &mut WorkerHost,
    shared: &Shared,
    spec: &ProcessSpec,
    acceptor: &Acceptor,
) -> LifeEnd {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.dir)
        .env_clear()
        .envs(
            shared
                .spec
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .env("RR_RELAY", &spec.relay_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, as RoadRunner: a Ctrl-C on the terminal
        // reaches the server, which stops the workers itself.
        .process_group(0);
    if let Some((uid, gid)) = spec.user {
        cmd.uid(uid).gid(gid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            host.last_error = match spec.user {
                Some((uid, _)) => format!("cannot start {} as uid {uid}: {e}", spec.program),
                None => format!("cannot start {}: {e}", spec.program),
            };
            return LifeEnd {
                exit_status: 127,
                startup_failed: false,
            };
        }
    };
    host.process = Some(child.id());
    shared.states[host.id()]
        .pid
        .store(child.id(), std::sync::atomic::Ordering::Relaxed);
    let (tx, rx) = cb::bounded(RELAY_BACKLOG);
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let tail = Arc::new(Mutex::new(String::new()));
    let mut loggers = vec![log_pump(stderr, host.id(), tail.clone())];
    let mut conn = match &spec.relay {
        Relay::Pipes => {
            pump(stdout, tx.clone());
            stdin.map(Conn::Pipe)
        }
        _ => {
            // STDOUT carries nothing protocol-related on a socket relay.
            loggers.push(log_pump(stdout, host.id(), tail.clone()));
            drop(stdin);
            match acceptor.take(child.id(), &mut child, shared.cfg.allocate_timeout) {
                Some(c) => {
                    let reader: Option<Box<dyn Read + Send>> = match &c {
                        Conn::Tcp(s) => s
                            .try_clone()
                            .ok()
                            .map(|s| Box::new(s) as Box<dyn Read + Send>),
                        Conn::Unix(s) => s
                            .try_clone()
                            .ok()
                            .map(|s| Box::new(s) as Box<dyn Read + Send>),
                        Conn::Pipe(_) => None,
                    };
                    if let Some(r) = reader {
                        pump(r, tx.clone());
                    }
                    Some(c)
                }
                None => {
                    host.last_error = format!(
                        "the worker did not connect to {} within allocate_timeout",
                        spec.relay_env
                    );
                    None
                }
            }
        }
    };
    drop(tx);
    if conn.is_some() {
        drive(host, &mut conn, &rx, &mut child);
    }
    // Make sure it is gone, collecting what it still writes meanwhile (the
    // relay's backlog is bounded: unread, a writing child could not exit).
    let collect = |host: &mut WorkerHost| {
        for ev in rx.try_iter() {
            if let Event::Relay(d) = ev {
                if host.job.is_some() {
                    host.relay_write(&d);
                }
            }
        }
    };
    let exited = wait_exit(&mut child, Duration::from_secs(10), || collect(host));
    if !exited {
        kill_group(&mut child);
    }
    let status = child.wait().ok();
    collect(host);
    for t in loggers.into_iter().flatten() {
        let _ = t.join();
    }
    if host.last_error.is_empty() {
        // PHP's own words, from what it wrote on STDERR.
        let t = tail.lock();
        let lines: Vec<&str> = t.lines().collect();
        host.last_error = super::worker::php_cause(&lines).unwrap_or_default();
    }
    let exit_status = status.and_then(|s| s.code()).unwrap_or(255);
    LifeEnd {
        exit_status,
        startup_failed: false,
    }
}

/// Wait for the child to exit, calling `meanwhile` between looks.
fn wait_exit(child: &mut Child, timeout: Duration, mut meanwhile: impl FnMut()) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        meanwhile();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Move bytes between the host and the child until the life ends.
fn drive(
    host: &mut WorkerHost,
    conn: &mut Option<Conn>,
    rx: &cb::Receiver<Event>,
    child: &mut Child,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut handshake_sent = false;
    loop {
        // The server's turn: the pid request, a PONG, the next request, or
        // stop. A worker in the middle of a streamed response has no job
        // (its head was answered) but is not idle: its next frames are parts.
        let want_write = !handshake_sent
            || host.relay_readable()
            || (host.ready
                && host.job.is_none()
                && !host.streaming()
                && !host.stop_sent
                && !host.broken);
        if want_write {
            handshake_sent = true;
            let n = host.relay_read(&mut buf);
            if n == 0 {
                // Nothing more to say: close the relay and let it exit.
                *conn = None;
                return;
            }
            let Some(c) = conn.as_mut() else { return };
            if c.write_all(&buf[..n]).is_err() {
                // The worker is gone before it saw this request: it goes to
                // another worker.
                host.requeue_job();
                return;
            }
            continue;
        }
        if host.stop_sent && !host.relay_readable() {
            // Stop sent: give it RoadRunner's 10 s to leave.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(Event::Relay(_)) => {}
                    Ok(Event::RelayEof) | Err(cb::RecvTimeoutError::Disconnected) => return,
                    Err(cb::RecvTimeoutError::Timeout) => {
                        if matches!(child.try_wait(), Ok(Some(_))) {
                            return;
                        }
                    }
                }
            }
            return;
        }
        // The worker's turn.
        let wait = host.exec_deadline.map_or(Duration::from_millis(500), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(Event::Relay(d)) => {
                host.relay_write(&d);
                if host.broken {
                    kill_group(child);
                    return;
                }
            }
            Ok(Event::RelayEof) | Err(cb::RecvTimeoutError::Disconnected) => return,
            Err(cb::RecvTimeoutError::Timeout) => {
                if host.exec_deadline.is_some_and(|d| Instant::now() >= d) {
                    // exec_ttl: RoadRunner's answer for a process, SIGKILL.
                    tracing::warn!("worker exceeded exec_ttl; killing its process");
                    host.last_error =
                        "the request exceeded exec_ttl; the worker process was killed".into();
                    kill_group(child);
                    return;
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
            }
        }
    }
}

/// SIGKILL to the worker's whole process group (it has its own): a program
/// it started (`exec('sleep 20')`) would otherwise keep the relay pipes
/// open, and the client would wait for that program instead of exec_ttl.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
}
