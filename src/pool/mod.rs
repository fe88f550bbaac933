//! The worker pool: N OS threads, each running PHP worker lives, fed from
//! one shared queue. An idle worker is a thread blocked waiting for a job
//! (inside PHP's read of STDIN, or inside `rustrunner_wait_request()`), so
//! the queue itself is the load balancer.
//!
//! Recycling follows RoadRunner's pool (max_jobs with jitter, ttl, idle_ttl,
//! exec_ttl, max_worker_memory, reset), but a restart is a new PHP request on
//! the same thread, and exec_ttl uses the engine's own per-thread timer
//! instead of killing anything.

pub mod events;
pub mod job;
pub mod process;
pub mod state;
pub mod watch;
mod worker;

use crate::config::PoolConfig;
use crossbeam_channel as cb;
use job::{HttpRequest, Job, JobError, JobResult};
use parking_lot::Mutex;
use state::{Reason, Status, REASONS};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
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
    /// Run workers as OS processes (RoadRunner's model) instead of threads.
    pub process: Option<process::ProcessSpec>,
}

/// Messages to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// Leave the loop at the next request boundary and start a new life.
    Restart(Reason),
}

/// What `Pool::snapshot` reports about one worker.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    pub id: usize,
    /// Serving a request right now.
    pub busy: bool,
    /// RoadRunner's state of the worker.
    pub status: Status,
    /// Requests served by the current life.
    pub execs: u64,
    /// Requests served by every life of this worker.
    pub total_execs: u64,
    /// Lives started (1 = never restarted).
    pub lives: u64,
    /// Zend allocator memory of the worker after its last request, bytes.
    pub memory: u64,
    /// When the current life started.
    pub created_unix: std::time::SystemTime,
}

/// Counters and state of one worker, shared with the pool.
#[derive(Debug)]
pub struct WorkerState {
    pub lives: AtomicU64,
    pub execs: AtomicU64,
    pub total_execs: AtomicU64,
    pub busy: AtomicBool,
    pub status: AtomicU8,
    pub memory: AtomicU64,
    /// Milliseconds since the pool's epoch at the end of the last request;
    /// 0 = this life served nothing yet.
    pub last_used_ms: AtomicU64,
    /// A reason to leave after the current request (0 = none, else reason + 1).
    pub recycle: AtomicU8,
    pub created: Mutex<Instant>,
    pub created_unix: Mutex<std::time::SystemTime>,
    /// A thread runs this slot.
    pub alive: AtomicBool,
    /// informer.RemoveWorker: end the thread after the current life.
    pub retire: AtomicBool,
    /// When the request in flight reaches exec_ttl (ms since the pool's
    /// epoch; 0 = none): the supervisor's view of a thread stuck in C.
    pub deadline_ms: AtomicU64,
    /// The request in flight, for the supervisor to answer when it gives
    /// up on this thread.
    pub ticket: Mutex<Option<Arc<job::Ticket>>>,
    /// Given up on (stuck in a C call past exec_ttl) and replaced: the slot
    /// stays taken until the thread returns and ends.
    pub detached: AtomicBool,
}

impl WorkerState {
    fn new() -> WorkerState {
        WorkerState {
            lives: AtomicU64::new(0),
            execs: AtomicU64::new(0),
            total_execs: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            status: AtomicU8::new(Status::Inactive as u8),
            memory: AtomicU64::new(0),
            last_used_ms: AtomicU64::new(0),
            recycle: AtomicU8::new(0),
            created: Mutex::new(Instant::now()),
            created_unix: Mutex::new(std::time::SystemTime::now()),
            alive: AtomicBool::new(false),
            retire: AtomicBool::new(false),
            deadline_ms: AtomicU64::new(0),
            ticket: Mutex::new(None),
            detached: AtomicBool::new(false),
        }
    }

    pub fn set_status(&self, s: Status) {
        self.status.store(s as u8, Ordering::Relaxed);
    }

    /// Ask the worker to leave after its current request.
    pub fn mark_recycle(&self, r: Reason) {
        let _ = self
            .recycle
            .compare_exchange(0, r as u8 + 1, Ordering::AcqRel, Ordering::Relaxed);
    }

    pub fn take_recycle(&self) -> Option<Reason> {
        match self.recycle.swap(0, Ordering::AcqRel) {
            0 => None,
            n => REASONS.get(n as usize - 1).copied(),
        }
    }
}

pub(crate) struct Shared {
    pub spec: WorkerSpec,
    pub cfg: PoolConfig,
    pub jobs_tx: cb::Sender<Job>,
    pub jobs_rx: cb::Receiver<Job>,
    pub shutting_down: AtomicBool,
    /// Every worker was asked to end its life for OPcache's pending restart
    /// (once per restart, not once per request that sees it pending).
    pub opcache_restart_asked: AtomicBool,
    /// Set once start-up finished: boot reports are no longer read.
    pub started: AtomicBool,
    /// One slot per possible worker (MAX_WORKERS); `alive` ones run.
    pub states: Vec<Arc<WorkerState>>,
    pub ctls: Vec<cb::Sender<Ctl>>,
    pub ctl_rxs: Vec<cb::Receiver<Ctl>>,
    /// Boot reports: (worker id, Ok or PHP's error message).
    pub boot_tx: cb::Sender<(usize, Result<(), String>)>,
    /// Worker restarts by reason (indexed by `Reason as usize`).
    pub restarts: [AtomicU64; REASONS.len()],
    pub epoch: Instant,
    /// Every worker thread ever started (joined at stop).
    pub threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Ask every worker to restart at its next request boundary.
    pub fn restart_all(&self, why: Reason) {
        for (i, c) in self.ctls.iter().enumerate() {
            if !self.states[i].alive.load(Ordering::Acquire) {
                continue;
            }
            if c.try_send(Ctl::Restart(why)).is_err() {
                // Its queue is full of restarts already; make sure it leaves.
                self.states[i].mark_recycle(why);
            }
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

/// RoadRunner's limit on a pool's workers.
pub const MAX_WORKERS: usize = 500;

pub struct Pool {
    shared: Arc<Shared>,
    acceptor: Option<Arc<process::Acceptor>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
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
        let n = cfg.num_workers.clamp(1, MAX_WORKERS);
        let (jobs_tx, jobs_rx) = cb::unbounded();
        let (boot_tx, boot_rx) = cb::unbounded();
        let mut ctls = Vec::with_capacity(MAX_WORKERS);
        let mut ctl_rxs = Vec::with_capacity(MAX_WORKERS);
        for _ in 0..MAX_WORKERS {
            let (tx, rx) = cb::bounded(4);
            ctls.push(tx);
            ctl_rxs.push(rx);
        }
        let states = (0..MAX_WORKERS)
            .map(|_| Arc::new(WorkerState::new()))
            .collect();
        let shared = Arc::new(Shared {
            spec,
            cfg,
            jobs_tx,
            jobs_rx,
            shutting_down: AtomicBool::new(false),
            opcache_restart_asked: AtomicBool::new(false),
            started: AtomicBool::new(false),
            states,
            ctls,
            ctl_rxs,
            boot_tx,
            restarts: Default::default(),
            epoch: Instant::now(),
            threads: Mutex::new(Vec::with_capacity(n)),
        });
        let acceptor = match &shared.spec.process {
            Some(p) => Some(
                process::Acceptor::start(&p.relay, p.user, shared.clone()).map_err(BootError)?,
            ),
            None => None,
        };
        let pool = Pool {
            shared,
            acceptor,
            supervisor: Mutex::new(None),
        };
        for id in 0..n {
            pool.spawn(id).map_err(BootError)?;
        }

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
        let sup = pool.shared.cfg.supervisor.clone();
        let stuck_watch = !sup.exec_ttl.is_zero() && pool.shared.spec.process.is_none();
        if !sup.ttl.is_zero() || !sup.idle_ttl.is_zero() || stuck_watch {
            let sh = pool.shared.clone();
            let t = std::thread::Builder::new()
                .name("rr-supervisor".into())
                .spawn(move || supervise(sh))
                .map_err(|e| BootError(format!("cannot start the supervisor: {e}")))?;
            *pool.supervisor.lock() = Some(t);
        }
        Ok(pool)
    }

    /// Start the worker thread of slot `id`.
    fn spawn(&self, id: usize) -> Result<(), String> {
        spawn(&self.shared, self.acceptor.as_ref(), id)
    }

    /// informer.AddWorker: one more worker (up to MAX_WORKERS). Returns its id.
    pub fn add_worker(&self) -> Result<usize, String> {
        if self.shared.shutting_down.load(Ordering::Acquire) {
            return Err("the pool is stopping".into());
        }
        let id = self
            .shared
            .states
            .iter()
            .position(|s| !s.alive.load(Ordering::Acquire) && !s.detached.load(Ordering::Acquire))
            .ok_or_else(|| format!("the pool has {MAX_WORKERS} workers already"))?;
        self.spawn(id)?;
        Ok(id)
    }

    /// informer.RemoveWorker: the newest worker leaves after its current
    /// request (never the last one). Returns its id.
    pub fn remove_worker(&self) -> Result<usize, String> {
        let alive: Vec<usize> = self
            .shared
            .states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.alive.load(Ordering::Acquire) && !s.retire.load(Ordering::Acquire))
            .map(|(i, _)| i)
            .collect();
        if alive.len() <= 1 {
            return Err("cannot remove the last worker of the pool".into());
        }
        let id = *alive.last().expect("more than one");
        self.shared.states[id].retire.store(true, Ordering::Release);
        let _ = self.shared.ctls[id].try_send(Ctl::Restart(Reason::Shutdown));
        Ok(id)
    }

    /// Queue a request and wait for its response. Without a free worker
    /// within allocate_timeout the request fails with NoFreeWorkers.
    pub async fn exec(&self, req: HttpRequest) -> JobResult {
        if self.shared.shutting_down.load(Ordering::Acquire) {
            return Err(JobError::Stopped);
        }
        let max_q = self.shared.cfg.max_queue_size;
        if max_q > 0 && self.shared.jobs_tx.len() as u64 >= max_q {
            return Err(JobError::QueueFull);
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let ticket = Arc::new(job::Ticket::default());
        let job = Job {
            req,
            enqueued: Instant::now(),
            reply: tx,
            retries: 0,
            ticket: ticket.clone(),
        };
        if self.shared.jobs_tx.send(job).is_err() {
            return Err(JobError::Stopped);
        }
        let timeout = self.shared.cfg.allocate_timeout;
        tokio::select! {
            r = &mut rx => return r.unwrap_or(Err(JobError::Stopped)),
            _ = ticket.stuck.notified() => return Err(stuck_error()),
            _ = tokio::time::sleep(timeout) => {}
        }
        // Nobody took it in time: withdraw it, unless a worker just did.
        if ticket
            .state
            .compare_exchange(
                job::QUEUED,
                job::CANCELLED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return Err(JobError::NoFreeWorkers);
        }
        tokio::select! {
            r = rx => r.unwrap_or(Err(JobError::Stopped)),
            _ = ticket.stuck.notified() => Err(stuck_error()),
        }
    }

    /// Rolling restart of every worker at its request boundary.
    pub fn reset(&self) {
        self.shared.restart_all(Reason::Reset);
    }

    /// A snapshot of every worker, for `rr workers`, RPC and metrics.
    pub fn snapshot(&self) -> Vec<WorkerInfo> {
        self.shared
            .states
            .iter()
            .enumerate()
            .filter(|(_, st)| st.alive.load(Ordering::Acquire))
            .map(|(id, st)| WorkerInfo {
                id,
                busy: st.busy.load(Ordering::Relaxed),
                status: Status::from_u8(st.status.load(Ordering::Relaxed)),
                execs: st.execs.load(Ordering::Relaxed),
                total_execs: st.total_execs.load(Ordering::Relaxed),
                lives: st.lives.load(Ordering::Relaxed),
                memory: st.memory.load(Ordering::Relaxed),
                created_unix: *st.created_unix.lock(),
            })
            .collect()
    }

    /// Worker restarts so far, by reason.
    pub fn restarts(&self) -> Vec<(Reason, u64)> {
        REASONS
            .iter()
            .map(|r| {
                (
                    *r,
                    self.shared.restarts[*r as usize].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Stop every worker after its current request; wait up to `timeout`.
    pub fn stop(&self, timeout: Duration) {
        self.shared.shutting_down.store(true, Ordering::Release);
        self.shared.restart_all(Reason::Shutdown);
        // Requests still queued will not be served.
        while let Ok(job) = self.shared.jobs_rx.try_recv() {
            let _ = job.reply.send(Err(JobError::Stopped));
        }
        if let Some(t) = self.supervisor.lock().take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + timeout;
        let mut threads = self.shared.threads.lock();
        let mut stuck = Vec::new();
        for t in threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                stuck.push(t);
            }
        }
        if !stuck.is_empty() {
            tracing::warn!(
                workers = stuck.len(),
                "workers did not stop within destroy_timeout; leaving them"
            );
            *threads = stuck;
        }
    }

    /// True when every worker thread has ended.
    pub fn all_stopped(&self) -> bool {
        self.shared.threads.lock().is_empty()
    }
}

/// Start the worker thread of slot `id` (the pool, or the supervisor
/// replacing a stuck thread).
fn spawn(
    sh: &Arc<Shared>,
    acceptor: Option<&Arc<process::Acceptor>>,
    id: usize,
) -> Result<(), String> {
    let st = &sh.states[id];
    st.retire.store(false, Ordering::Release);
    st.alive.store(true, Ordering::Release);
    let ctl_rx = sh.ctl_rxs[id].clone();
    while ctl_rx.try_recv().is_ok() {}
    let builder = std::thread::Builder::new().name(format!("php-worker-{id}"));
    let sh2 = sh.clone();
    let t = match (&sh.spec.process, acceptor) {
        (Some(spec), Some(acc)) => {
            let (spec, acc) = (spec.clone(), acc.clone());
            builder.spawn(move || process::run(id, sh2, ctl_rx, spec, acc))
        }
        _ => builder
            .stack_size(8 << 20)
            .spawn(move || worker::run(id, sh2, ctl_rx)),
    };
    match t {
        Ok(t) => {
            sh.threads.lock().push(t);
            Ok(())
        }
        Err(e) => {
            st.alive.store(false, Ordering::Release);
            Err(format!("cannot start worker thread: {e}"))
        }
    }
}

fn stuck_error() -> JobError {
    JobError::WorkerFailed(
        "exec_ttl: the worker is stuck in a call PHP cannot interrupt; it was replaced".into(),
    )
}

/// How long past exec_ttl a thread worker may stay in one call before the
/// supervisor gives up on it: the engine's timer interrupts PHP code and
/// blocking system calls at exec_ttl, so only a long C computation
/// (password_hash with a huge cost, a catastrophic regex) gets here.
const STUCK_GRACE_MS: u64 = 1000;

/// A thread worker past exec_ttl + grace: answer its client, take it out of
/// the pool and start a replacement, so capacity comes back at once. The
/// thread is left to finish its call; its life then ends (exec_ttl) and the
/// thread exits instead of starting a new one. At most as many detached
/// threads as the pool has workers: past that, no more replacements.
fn give_up_on_stuck(sh: &Arc<Shared>) {
    let now_ms = sh.now_ms();
    for (i, st) in sh.states.iter().enumerate() {
        let deadline = st.deadline_ms.load(Ordering::Acquire);
        if deadline == 0
            || now_ms < deadline + STUCK_GRACE_MS
            || !st.alive.load(Ordering::Acquire)
            || st.detached.swap(true, Ordering::AcqRel)
        {
            continue;
        }
        st.alive.store(false, Ordering::Release);
        st.set_status(Status::ExecTtlReached);
        if let Some(t) = st.ticket.lock().take() {
            t.stuck.notify_one();
        }
        sh.restarts[Reason::ExecTtl as usize].fetch_add(1, Ordering::Relaxed);
        let detached = sh
            .states
            .iter()
            .filter(|s| s.detached.load(Ordering::Acquire))
            .count();
        if detached > sh.cfg.num_workers.max(1) {
            tracing::error!(
                worker = i,
                detached,
                "worker stuck in a call past exec_ttl; too many stuck threads to replace it"
            );
            continue;
        }
        let free = sh
            .states
            .iter()
            .position(|s| !s.alive.load(Ordering::Acquire) && !s.detached.load(Ordering::Acquire));
        match free.map(|id| (id, spawn(sh, None, id))) {
            Some((id, Ok(()))) => tracing::error!(
                worker = i,
                replacement = id,
                "worker stuck in a call past exec_ttl: its client got a 500, worker {id} replaces it; \
                 the thread is left to finish its call"
            ),
            Some((_, Err(e))) => tracing::error!(worker = i, "cannot replace a stuck worker: {e}"),
            None => tracing::error!(worker = i, "no free slot to replace a stuck worker"),
        }
    }
}

/// RoadRunner's supervisor: every watch_tick, recycle workers past their ttl
/// (idle ones now, busy ones after their request) and idle ones past
/// idle_ttl (only those that served a request in this life). Thread
/// workers stuck past exec_ttl are looked for every 100 ms.
fn supervise(sh: Arc<Shared>) {
    let sup = sh.cfg.supervisor.clone();
    let tick = sup.watch_tick;
    let stuck_watch = !sup.exec_ttl.is_zero() && sh.spec.process.is_none();
    let mut next = Instant::now() + tick;
    let mut next_stuck = Instant::now();
    while !sh.shutting_down.load(Ordering::Acquire) {
        if stuck_watch && Instant::now() >= next_stuck {
            give_up_on_stuck(&sh);
            next_stuck = Instant::now() + Duration::from_millis(100);
        }
        // Sleep in small steps so shutdown is prompt.
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20).min(tick));
            continue;
        }
        if sup.ttl.is_zero() && sup.idle_ttl.is_zero() {
            next = Instant::now() + tick;
            continue;
        }
        next = Instant::now() + tick;
        let now_ms = sh.now_ms();
        for (i, st) in sh.states.iter().enumerate() {
            if !st.alive.load(Ordering::Acquire) {
                continue;
            }
            let busy = st.busy.load(Ordering::Relaxed);
            let age = st.created.lock().elapsed();
            if !sup.ttl.is_zero() && age >= sup.ttl {
                if busy {
                    st.set_status(Status::Invalid);
                    st.mark_recycle(Reason::Ttl);
                } else {
                    st.set_status(Status::TtlReached);
                    let _ = sh.ctls[i].try_send(Ctl::Restart(Reason::Ttl));
                }
                continue;
            }
            let last = st.last_used_ms.load(Ordering::Relaxed);
            if !sup.idle_ttl.is_zero() && !busy && last > 0 {
                let idle = Duration::from_millis(now_ms.saturating_sub(last));
                if idle >= sup.idle_ttl {
                    st.set_status(Status::IdleTtlReached);
                    let _ = sh.ctls[i].try_send(Ctl::Restart(Reason::IdleTtl));
                }
            }
        }
    }
}
