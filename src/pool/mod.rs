//! The worker pool: N OS threads, each running PHP worker lives, fed from
//! one shared queue. An idle worker is a thread blocked waiting for a job
//! (inside PHP's read of STDIN, or inside `rustrunner_wait_request()`), so
//! the queue itself is the load balancer.

pub mod job;
mod worker;

use crate::config::PoolConfig;
use crossbeam_channel as cb;
use job::{HttpRequest, Job, JobError, JobResult};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a worker thread runs.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Script path as given in server.command.
    pub script: String,
    /// `$argv`: the script followed by its arguments.
    pub argv: Vec<String>,
    /// The server's worker-API bootstrap file, run before the script.
    pub bootstrap: Option<String>,
    /// The worker environment (RoadRunner's order, RR_MODE last).
    pub env: Vec<(String, String)>,
}

/// Messages to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// Leave the loop at the next request boundary and start a new life.
    Restart,
}

/// What `Pool::snapshot` reports about one worker.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read by rpc/ and observe/
pub struct WorkerInfo {
    pub id: usize,
    /// Serving a request right now.
    pub busy: bool,
    /// Requests served by the current life.
    pub execs: u64,
    /// Requests served by every life of this worker.
    pub total_execs: u64,
    /// Lives started (1 = never restarted).
    pub lives: u64,
    /// Zend allocator memory of the worker after its last request, bytes.
    pub memory: u64,
    /// When the current life started.
    pub created: Instant,
    pub created_unix: std::time::SystemTime,
}

/// Counters and state of one worker, shared with the pool.
#[derive(Debug)]
pub struct WorkerState {
    pub lives: AtomicU64,
    pub execs: AtomicU64,
    pub total_execs: AtomicU64,
    pub busy: AtomicBool,
    pub memory: AtomicU64,
    pub created: Mutex<Instant>,
    pub created_unix: Mutex<std::time::SystemTime>,
}

pub(crate) struct Shared {
    pub spec: WorkerSpec,
    pub cfg: PoolConfig,
    pub jobs_tx: cb::Sender<Job>,
    pub jobs_rx: cb::Receiver<Job>,
    pub shutting_down: AtomicBool,
    /// Set once start-up finished: boot reports are no longer read.
    pub started: AtomicBool,
    pub states: Vec<Arc<WorkerState>>,
    pub ctls: Vec<cb::Sender<Ctl>>,
    /// Boot reports: (worker id, Ok or PHP's error message).
    pub boot_tx: cb::Sender<(usize, Result<(), String>)>,
    /// Worker restarts by reason (for metrics).
    pub restarts: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Shared {
    /// Ask every worker to restart at its next request boundary.
    pub fn restart_all(&self) {
        for c in &self.ctls {
            let _ = c.try_send(Ctl::Restart);
        }
    }

    /// Count a worker restart (a life ended and another starts).
    pub fn count_restart(&self, reason: &'static str) {
        *self.restarts.lock().entry(reason).or_insert(0) += 1;
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Why the pool did not start.
#[derive(Debug)]
pub struct BootError(pub String);

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Pool {
    /// Start `cfg.num_workers` worker threads and wait until every one is
    /// ready (or one fails to boot, which fails the start with PHP's message).
    pub fn start(spec: WorkerSpec, cfg: PoolConfig) -> Result<Pool, BootError> {
        let n = cfg.num_workers.max(1);
        let (jobs_tx, jobs_rx) = cb::unbounded();
        let (boot_tx, boot_rx) = cb::unbounded();
        let mut ctls = Vec::with_capacity(n);
        let mut ctl_rxs = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = cb::bounded(4);
            ctls.push(tx);
            ctl_rxs.push(rx);
        }
        let states = (0..n)
            .map(|_| {
                Arc::new(WorkerState {
                    lives: AtomicU64::new(0),
                    execs: AtomicU64::new(0),
                    total_execs: AtomicU64::new(0),
                    busy: AtomicBool::new(false),
                    memory: AtomicU64::new(0),
                    created: Mutex::new(Instant::now()),
                    created_unix: Mutex::new(std::time::SystemTime::now()),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            spec,
            cfg,
            jobs_tx,
            jobs_rx,
            shutting_down: AtomicBool::new(false),
            started: AtomicBool::new(false),
            states,
            ctls,
            boot_tx,
            restarts: Mutex::new(Default::default()),
        });
        let mut threads = Vec::with_capacity(n);
        for (id, ctl_rx) in ctl_rxs.into_iter().enumerate() {
            let sh = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("php-worker-{id}"))
                .stack_size(8 << 20)
                .spawn(move || worker::run(id, sh, ctl_rx))
                .map_err(|e| BootError(format!("cannot start worker thread: {e}")))?;
            threads.push(t);
        }
        let pool = Pool {
            shared,
            threads: Mutex::new(threads),
        };

        let deadline = Instant::now() + pool.shared.cfg.allocate_timeout;
        let mut ready = 0;
        while ready < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match boot_rx.recv_timeout(left) {
                Ok((_, Ok(()))) => ready += 1,
                Ok((id, Err(msg))) => {
                    pool.stop(Duration::from_secs(5));
                    return Err(BootError(format!("worker {id} failed to start: {msg}")));
                }
                Err(_) => {
                    pool.stop(Duration::from_secs(5));
                    return Err(BootError(format!(
                        "{} of {n} workers did not become ready within allocate_timeout ({:?}); \
                         is the script's loop calling waitRequest()?",
                        n - ready,
                        pool.shared.cfg.allocate_timeout
                    )));
                }
            }
        }
        pool.shared.started.store(true, Ordering::Release);
        Ok(pool)
    }

    /// Queue a request and wait for its response.
    pub async fn exec(&self, req: HttpRequest) -> JobResult {
        if self.shared.shutting_down.load(Ordering::Acquire) {
            return Err(JobError::Stopped);
        }
        let max_q = self.shared.cfg.max_queue_size;
        if max_q > 0 && self.shared.jobs_tx.len() as u64 >= max_q {
            return Err(JobError::QueueFull);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            req,
            enqueued: Instant::now(),
            reply: tx,
            retries: 0,
        };
        if self.shared.jobs_tx.send(job).is_err() {
            return Err(JobError::Stopped);
        }
        rx.await.unwrap_or(Err(JobError::Stopped))
    }

    /// A snapshot of every worker, for `rr workers`, RPC and metrics.
    #[allow(dead_code)] // used by rpc/ and observe/
    pub fn snapshot(&self) -> Vec<WorkerInfo> {
        self.shared
            .states
            .iter()
            .enumerate()
            .map(|(id, st)| WorkerInfo {
                id,
                busy: st.busy.load(Ordering::Relaxed),
                execs: st.execs.load(Ordering::Relaxed),
                total_execs: st.total_execs.load(Ordering::Relaxed),
                lives: st.lives.load(Ordering::Relaxed),
                memory: st.memory.load(Ordering::Relaxed),
                created: *st.created.lock(),
                created_unix: *st.created_unix.lock(),
            })
            .collect()
    }

    /// Worker restarts so far, by reason.
    pub fn restarts(&self) -> Vec<(&'static str, u64)> {
        self.shared
            .restarts
            .lock()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// Rolling restart of every worker at its request boundary.
    pub fn reset(&self) {
        self.shared.restart_all();
    }

    /// Stop every worker after its current request; wait up to `timeout`.
    pub fn stop(&self, timeout: Duration) {
        self.shared.shutting_down.store(true, Ordering::Release);
        self.shared.restart_all();
        // Requests still queued will not be served.
        while let Ok(job) = self.shared.jobs_rx.try_recv() {
            let _ = job.reply.send(Err(JobError::Stopped));
        }
        let deadline = Instant::now() + timeout;
        let mut threads = self.threads.lock();
        for t in threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("a worker did not stop within destroy_timeout; leaving it");
            }
        }
    }

    /// True when every worker thread has ended.
    pub fn all_stopped(&self) -> bool {
        self.threads.lock().is_empty()
    }
}
