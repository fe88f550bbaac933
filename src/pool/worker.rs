//! One worker thread: a loop of PHP lives, and the [`Host`] that answers
//! PHP's callbacks during a life.
//!
//! Two ways a PHP script can take requests, decided per life by what it does
//! first:
//! * **relay** (RoadRunner's own PHP packages): the script reads STDIN and
//!   writes STDOUT; we speak goridge frames over those memory streams exactly
//!   as RoadRunner does over pipes (pid handshake, JSON context, stop).
//! * **native** (the server's PHP library): the script calls
//!   `rustrunner_wait_request()` / `rustrunner_respond()`.

use super::events::{EventSender, SendError};
use super::job::{self, HttpResponse, Job, JobError, ResponseEvent};
use super::state::{Reason, Status};
use super::{Ctl, Shared};
use crate::php::{Host, LogLevel, NativeRequest, PhpThread};
use crate::relay::frame::{self, Decoder, Frame};
use bytes::{Buf, Bytes};
use crossbeam_channel as cb;
use std::collections::VecDeque;
use std::ffi::CString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Relay,
    Native,
}

/// How often an idle worker looks at its control messages.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Per-life state behind PHP's callbacks.
pub(super) struct WorkerHost {
    id: usize,
    shared: Arc<Shared>,
    ctl: cb::Receiver<Ctl>,
    mode: Mode,
    env: Vec<(Vec<u8>, CString)>,
    /// server → worker bytes not yet read by PHP, in order, none empty:
    /// frames we encoded, and a request's body as hyper gave it (read
    /// straight into PHP's buffer, never copied into a frame buffer first).
    inbox: VecDeque<Bytes>,
    decoder: Decoder,
    pub(super) job: Option<Job>,
    /// The request frame was sent / the request handed over.
    pub(super) ready: bool,
    /// Leave at the next boundary, and why (max_jobs, reset, stop(), ...).
    pub(super) leave: Option<Reason>,
    /// When the request in flight hits exec_ttl.
    pub(super) exec_deadline: Option<Instant>,
    /// A stop was sent (relay) or returned (native): any further read is EOF.
    pub(super) stop_sent: bool,
    /// The relay is unusable (garbage on STDOUT).
    pub(super) broken: bool,
    pub(super) execs: u64,
    max_jobs: u64,
    /// The last error PHP logged, for boot failures.
    pub(super) last_error: String,
    /// What the script printed (output, STDERR) before it was ready: the
    /// cause of a boot failure when PHP logged none (an app's own error
    /// handler prints it), whatever the log level lets through.
    pub(super) boot_output: VecDeque<String>,
    out_line: Vec<u8>,
    err_line: Vec<u8>,
    /// A streamed response whose head went out: later frames are its body.
    stream: Option<Streaming>,
    /// When this life started (for the boot time in the log).
    born: Instant,
    /// The OS process behind this worker (process executor), or None for a
    /// thread worker.
    pub(super) process: Option<u32>,
}

/// A streamed response in flight (relay STREAM frames, or native parts).
struct Streaming {
    /// Where the body goes; None once the client went away or stalled (a
    /// STOP was sent and frames are discarded until the last one).
    events: Option<EventSender>,
}

impl WorkerHost {
    pub(super) fn new(id: usize, shared: Arc<Shared>, ctl: cb::Receiver<Ctl>) -> WorkerHost {
        let env = shared
            .spec
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.as_bytes().to_vec(), CString::new(v.as_str()).ok()?)))
            .collect();
        let max_jobs = jitter(shared.cfg.max_jobs);
        WorkerHost {
            id,
            shared,
            ctl,
            mode: Mode::Undecided,
            env,
            inbox: VecDeque::new(),
            decoder: Decoder::new(0),
            job: None,
            ready: false,
            leave: None,
            exec_deadline: None,
            stop_sent: false,
            broken: false,
            execs: 0,
            max_jobs,
            last_error: String::new(),
            boot_output: VecDeque::new(),
            out_line: Vec::new(),
            err_line: Vec::new(),
            stream: None,
            born: Instant::now(),
            process: None,
        }
    }

    pub(super) fn id(&self) -> usize {
        self.id
    }

    /// A streamed response is in progress (its head went out).
    pub(super) fn streaming(&self) -> bool {
        self.stream.is_some()
    }

    pub(super) fn state(&self) -> &super::WorkerState {
        &self.shared.states[self.id]
    }

    /// Leave at the next request boundary (the first reason wins).
    pub(super) fn leave_for(&mut self, why: Reason) {
        if self.leave.is_none() {
            self.leave = Some(why);
            self.state().set_status(why.status());
        }
    }

    fn mark_ready(&mut self) {
        if !self.ready {
            self.ready = true;
            // The boot timer (allocate_timeout) is done.
            if self.process.is_none() {
                PhpThread::unset_timeout();
            }
            self.state().set_status(Status::Ready);
            if self.shared.cfg.debug {
                *self.shared.boot_error.lock() = None;
            }
            tracing::debug!(
                worker = self.id,
                boot_us = self.born.elapsed().as_micros() as u64,
                "worker ready"
            );
            if !self.shared.started.load(Ordering::Acquire) {
                let _ = self.shared.boot_tx.send((self.id, Ok(())));
            }
        }
    }

    /// Fail the request in flight, if any.
    pub(super) fn fail_job(&mut self, err: JobError) {
        // A streamed response in progress belongs to this request: drop it, or
        // its chunks would be prepended to the next request's response.
        self.stream = None;
        if let Some(job) = self.job.take() {
            // The worker's state first: whoever gets the answer may look at it.
            self.finish_exec();
            let _ = job.reply.send(Err(err));
        }
    }

    fn reply(&mut self, resp: HttpResponse) {
        if let Some(job) = self.job.take() {
            // The worker's state first: whoever gets the answer may look at it.
            self.finish_exec();
            let _ = job.reply.send(Ok(resp));
        }
    }

    fn finish_exec(&mut self) {
        self.exec_deadline = None;
        self.clear_stuck_watch();
        if self.process.is_none() {
            PhpThread::note_idle();
        }
        if self.process.is_none() {
            // Always, not only when exec_ttl armed it: the request may have
            // armed the engine's wall-clock timer itself (set_time_limit),
            // and an idle worker must not time out on the next request.
            PhpThread::unset_timeout();
        }
        self.execs += 1;
        let memory = match self.process {
            // A process worker's memory is its resident set, as RoadRunner's.
            Some(pid) => process_rss(pid),
            None => PhpThread::memory_usage() as u64,
        };
        let now_ms = self.shared.now_ms();
        let st = self.state();
        st.execs.store(self.execs, Ordering::Relaxed);
        st.total_execs.fetch_add(1, Ordering::Relaxed);
        st.busy.store(false, Ordering::Relaxed);
        st.memory.store(memory, Ordering::Relaxed);
        st.last_used_ms.store(now_ms, Ordering::Relaxed);
        st.set_status(Status::Ready);
        let recycle = st.take_recycle();
        if let Some(why) = recycle {
            self.leave_for(why);
        }
        if self.process.is_none() {
            self.check_opcache_restart();
        }
        if self.max_jobs > 0 && self.execs >= self.max_jobs {
            self.leave_for(Reason::MaxJobs);
        }
        let limit = self.shared.cfg.supervisor.max_worker_memory;
        if limit > 0 && memory >= limit {
            tracing::info!(
                worker = self.id,
                memory,
                limit,
                "worker memory over max_worker_memory; recycling it"
            );
            self.leave_for(Reason::MaxMemory);
        }
    }

    /// OPcache filled up (or was invalidated) and wants to restart its
    /// shared memory: that may only run while no life executes from it (the
    /// C side's gate waits for that), so every worker is asked, once, to end
    /// its life at its request boundary.
    fn check_opcache_restart(&self) {
        let asked = &self.shared.opcache_restart_asked;
        if PhpThread::opcache_restart_pending() {
            if !asked.swap(true, Ordering::AcqRel) {
                tracing::info!(
                    worker = self.id,
                    "OPcache restart pending: restarting every worker at its request boundary"
                );
                self.shared.restart_all(Reason::Reset);
            }
        } else if asked.load(Ordering::Relaxed) {
            asked.store(false, Ordering::Release);
        }
    }

    /// The request is over: nothing for the supervisor to watch.
    fn clear_stuck_watch(&self) {
        let st = self.state();
        if st.deadline_ms.load(Ordering::Relaxed) != 0 {
            st.deadline_ms.store(0, Ordering::Release);
            *st.ticket.lock() = None;
        }
    }

    /// Send the request in flight back to the queue (the worker called stop()).
    pub(super) fn requeue_job(&mut self) {
        self.stream = None;
        self.clear_stuck_watch();
        if let Some(mut job) = self.job.take() {
            self.state().busy.store(false, Ordering::Relaxed);
            job.retries += 1;
            if job.retries > 3 || self.shared.shutting_down.load(Ordering::Acquire) {
                let _ = job.reply.send(Err(JobError::WorkerFailed(
                    "the worker stopped before answering".into(),
                )));
            } else if let Err(cb::SendError(job)) = {
                // Back in the queue: takeable again (and cancellable by allocate_timeout).
                job.ticket.state.store(job::QUEUED, Ordering::Release);
                self.shared.jobs_tx.send(job)
            } {
                let _ = job.reply.send(Err(JobError::Stopped));
            }
        }
    }

    /// Block until a job arrives or the worker must leave. Returns None to leave.
    fn next_job(&mut self) -> Option<Job> {
        loop {
            if self.shared.shutting_down.load(Ordering::Acquire) {
                self.leave_for(Reason::Shutdown);
            }
            if self.leave.is_none() {
                if let Some(why) = self.state().take_recycle() {
                    self.leave_for(why);
                }
            }
            if self.leave.is_some() {
                return None;
            }
            match self.ctl.try_recv() {
                Ok(Ctl::Restart(why)) => {
                    self.leave_for(why);
                    continue;
                }
                Err(cb::TryRecvError::Disconnected) => {
                    self.leave_for(Reason::Shutdown);
                    continue;
                }
                Err(cb::TryRecvError::Empty) => {}
            }
            // A plain receive on the shared queue, not a select over it and
            // the control channel: with many idle workers, select's waker
            // registration on two channels dominated the hand-off (perf).
            // Control messages are seen within IDLE_POLL.
            let job = match self.shared.jobs_rx.recv_timeout(IDLE_POLL) {
                Ok(job) => job,
                Err(cb::RecvTimeoutError::Timeout) => continue,
                Err(cb::RecvTimeoutError::Disconnected) => return None,
            };
            if job.reply.is_closed() {
                // The client went away while it waited.
                continue;
            }
            if job
                .ticket
                .state
                .compare_exchange(job::QUEUED, job::TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Withdrawn after allocate_timeout.
                continue;
            }
            // A restart asked for while this worker slept must win over the
            // job it woke up with: the job goes back to the queue, so no
            // request is served by a life that was told to end.
            let pending = match self.ctl.try_recv() {
                Ok(Ctl::Restart(why)) => Some(why),
                Err(cb::TryRecvError::Disconnected) => Some(Reason::Shutdown),
                Err(cb::TryRecvError::Empty) => self.state().take_recycle(),
            };
            if let Some(why) = pending {
                job.ticket.state.store(job::QUEUED, Ordering::Release);
                if let Err(cb::SendError(job)) = self.shared.jobs_tx.send(job) {
                    let _ = job.reply.send(Err(JobError::Stopped));
                }
                self.leave_for(why);
                return None;
            }
            let st = self.state();
            st.busy.store(true, Ordering::Relaxed);
            st.set_status(Status::Working);
            if self.process.is_none() {
                // For the line a crash writes (which request it was).
                PhpThread::note_request(self.id, &job.req.method, &job.req.uri);
            }
            let ttl = self.shared.cfg.supervisor.exec_ttl;
            if !ttl.is_zero() {
                if self.process.is_none() {
                    PhpThread::set_timeout(ttl);
                    // The supervisor's view, for a call PHP cannot interrupt.
                    *st.ticket.lock() = Some(job.ticket.clone());
                    st.deadline_ms.store(
                        self.shared.now_ms() + ttl.as_millis() as u64,
                        Ordering::Release,
                    );
                }
                self.exec_deadline = Some(Instant::now() + ttl);
            }
            return Some(job);
        }
    }

    fn log_lines(&mut self, data: &[u8], stderr: bool) {
        let id = self.id;
        let buf = if stderr {
            &mut self.err_line
        } else {
            &mut self.out_line
        };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            if !self.ready && !text.trim().is_empty() {
                if self.boot_output.len() == 40 {
                    self.boot_output.pop_front();
                }
                self.boot_output.push_back(text.trim_end().to_string());
            }
            if let Some(hint) = super::hints::extension_hint(&text) {
                tracing::error!(target: "php", worker = id, "{hint}");
            }
            if stderr {
                match super::hints::line_level(&text) {
                    tracing::Level::ERROR => {
                        tracing::error!(target: "php", worker = id, stream = "stderr", "{}", text)
                    }
                    tracing::Level::WARN => {
                        tracing::warn!(target: "php", worker = id, stream = "stderr", "{}", text)
                    }
                    tracing::Level::DEBUG => {
                        tracing::debug!(target: "php", worker = id, stream = "stderr", "{}", text)
                    }
                    _ => tracing::info!(target: "php", worker = id, stream = "stderr", "{}", text),
                }
            } else {
                tracing::info!(target: "php", worker = id, stream = "output", "{}", text);
            }
        }
        if buf.len() > 64 * 1024 {
            let text = String::from_utf8_lossy(buf).into_owned();
            buf.clear();
            tracing::info!(target: "php", worker = id, "{}", text);
        }
    }

    pub(super) fn flush_logs(&mut self) {
        for stderr in [false, true] {
            let buf = if stderr {
                &mut self.err_line
            } else {
                &mut self.out_line
            };
            if !buf.is_empty() {
                buf.push(b'\n');
                self.log_lines(&[], stderr);
            }
        }
    }

    /// Handle one frame the worker wrote.
    fn on_frame(&mut self, f: Frame) {
        if f.flags & frame::CONTROL != 0 {
            let v: serde_json::Value = serde_json::from_slice(&f.payload).unwrap_or_default();
            if v.get("pid").is_some() {
                self.mark_ready();
            } else {
                tracing::warn!(
                    worker = self.id,
                    "unexpected control frame from the worker: {}",
                    String::from_utf8_lossy(&f.payload)
                );
            }
            return;
        }
        if f.flags & frame::ERROR != 0 {
            // The same as the native error(): see Host::error.
            Host::error(self, &f.payload);
            return;
        }
        if f.stream & frame::PONG != 0 || f.stream & frame::STOP != 0 {
            return;
        }
        if f.options.len() != 1 {
            self.protocol_error(format!(
                "options length should be equal 1 (body offset), got {}",
                f.options.len()
            ));
            return;
        }
        let split = f.options[0] as usize;
        if split > f.payload.len() {
            self.protocol_error(format!(
                "bad payload: context length {split} > payload length {}",
                f.payload.len()
            ));
            return;
        }
        // Context and body as views of the frame's buffer: no copy.
        let stream = f.stream;
        let mut body = f.payload;
        let ctx = body.split_to(split);
        if body.is_empty() && ctx[..] == b"{\"stop\":true}"[..] {
            // $worker->stop(): this worker leaves; its request goes elsewhere.
            self.requeue_job();
            self.leave_for(Reason::WorkerStop);
            return;
        }
        if self.job.is_none() && self.stream.is_none() {
            tracing::warn!(
                worker = self.id,
                "worker sent a response while idle; discarding it and restarting the worker"
            );
            self.leave_for(Reason::Protocol);
            return;
        }
        self.on_response_frame(stream, &ctx, body);
        if stream & frame::PING != 0 {
            self.push_inbox(frame::encode(0, frame::PONG, &[], &[]));
        }
    }

    /// A response frame: a whole response, or one part of a streamed one.
    fn on_response_frame(&mut self, stream_byte: u8, ctx: &[u8], body: Bytes) {
        let streaming = stream_byte & frame::STREAM != 0;
        if self.stream.is_some() {
            // A later part: its context (if repeated) is ignored, as by RoadRunner.
            self.on_response_part(streaming, None, body);
            return;
        }
        if ctx.is_empty() && !streaming {
            self.reply(HttpResponse {
                status: 200,
                headers: vec![],
                body,
                streamed: false,
            });
            return;
        }
        match crate::relay::response::parse_response_context(ctx) {
            Ok(head) => {
                self.on_response_part(streaming, Some(head), body);
            }
            Err(e) => {
                tracing::warn!(worker = self.id, "bad response context: {e}");
                if !streaming {
                    self.fail_job(JobError::BadResponse(e));
                }
            }
        }
    }

    /// One part of a response, from a relay frame or the native API: the
    /// whole response, a 1xx interim response, the head and first part of a
    /// streamed one (`streaming`), or a later part (`head` is None). Returns
    /// false once the client went away (a stream should stop). `body` is
    /// handed on as it is (a relay frame's view, or the native API's copy).
    fn on_response_part(
        &mut self,
        streaming: bool,
        head: Option<(u16, Vec<(String, String)>)>,
        body: Bytes,
    ) -> bool {
        if let Some(st) = self.stream.as_mut() {
            let mut stopped = None;
            if let Some(tx) = &st.events {
                if !body.is_empty() {
                    // Waits while the client is behind (bounded hand-off).
                    let part = ResponseEvent::Data(body);
                    let stop = Some(&self.shared.shutting_down);
                    if let Err(e) = tx.send(part, self.exec_deadline, stop) {
                        st.events = None;
                        stopped = Some(e);
                    }
                }
            }
            let alive = st.events.is_some();
            if let Some(why) = stopped {
                match why {
                    SendError::Gone => tracing::debug!(
                        worker = self.id,
                        "client went away; stopping the stream"
                    ),
                    SendError::Stalled => tracing::warn!(
                        worker = self.id,
                        "the client read nothing of the streamed response within the write timeout; stopping the stream"
                    ),
                    SendError::Deadline => tracing::warn!(
                        worker = self.id,
                        "exec_ttl passed while the streamed response waited for its client; stopping the stream"
                    ),
                    SendError::Stopping => tracing::info!(
                        worker = self.id,
                        "the server is stopping while the streamed response waits for its client; stopping the stream"
                    ),
                }
                if self.mode == Mode::Relay {
                    self.push_inbox(frame::encode(0, frame::STOP, &[], &[]));
                }
            }
            if !streaming {
                if let Some(tx) = self.stream.take().and_then(|s| s.events) {
                    // The end never waits (it costs nothing).
                    let _ = tx.send(ResponseEvent::End, None, None);
                }
                self.finish_exec();
            }
            return alive;
        }
        let Some((status, headers)) = head else {
            return false;
        };
        if (100..200).contains(&status) && streaming {
            // 1xx interim responses (103 Early Hints), bodies dropped.
            let events = self.job.as_ref().and_then(|j| j.req.events.as_ref());
            return match events {
                Some(tx) if status != 101 => {
                    let sent = tx
                        .send(
                            ResponseEvent::Interim(status, headers),
                            self.exec_deadline,
                            Some(&self.shared.shutting_down),
                        )
                        .is_ok();
                    tracing::debug!(worker = self.id, status, sent, "interim response passed on");
                    sent
                }
                _ => {
                    tracing::debug!(worker = self.id, status, "interim response dropped");
                    true
                }
            };
        }
        let events = self.job.as_mut().and_then(|j| j.req.events.take());
        let resp = HttpResponse {
            status,
            headers,
            body,
            streamed: streaming && events.is_some(),
        };
        if !streaming {
            self.reply(resp);
            return true;
        }
        // The head goes now; the exec is counted at the last part.
        let mut events = events;
        if let Some(job) = self.job.take() {
            if job.reply.send(Ok(resp)).is_err()
                && events.take().is_some()
                && self.mode == Mode::Relay
            {
                self.push_inbox(frame::encode(0, frame::STOP, &[], &[]));
            }
        }
        let alive = events.is_some();
        self.stream = Some(Streaming { events });
        alive
    }

    fn protocol_error(&mut self, mut msg: String) {
        // Say what the worker wrote instead of a frame (PHP's own error
        // message, usually), as RoadRunner does.
        let junk = self.decoder.take_buffer();
        if !junk.is_empty() {
            let shown = String::from_utf8_lossy(&junk[..junk.len().min(1024)]).into_owned();
            if !self.ready {
                // Before its loop, what it wrote is the cause of the failure.
                let lines: Vec<&str> = shown.lines().collect();
                if let Some(cause) = php_cause(&lines) {
                    self.last_error = format!("the worker wrote instead of a frame: {cause}");
                }
            }
            msg = format!("{msg}; the worker wrote: {}", shown.trim());
        }
        tracing::error!(
            worker = self.id,
            "relay protocol error: {msg}; restarting the worker"
        );
        self.broken = true;
        self.leave_for(Reason::Protocol);
        self.fail_job(JobError::WorkerFailed(msg));
    }

    fn push_inbox(&mut self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.inbox.push_back(bytes);
        }
    }
}

/// Resident set size of a process, bytes (0 if unknown).
fn process_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The cause of a failure in what PHP printed: from the last line that
/// starts an error ("PHP Fatal error:  Uncaught ...", "Parse error", ...)
/// on (at most 4 lines), else the last 3 lines; None when nothing was printed.
pub(super) fn php_cause(lines: &[&str]) -> Option<String> {
    const MARKS: [&str; 5] = [
        "Fatal error",
        "Parse error",
        "Uncaught",
        "Warning:",
        "Exception",
    ];
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let from = MARKS
        .iter()
        .find_map(|m| lines.iter().rposition(|l| l.contains(m)))
        .unwrap_or(lines.len().saturating_sub(3));
    Some(
        lines[from..]
            .iter()
            .take(4)
            .copied()
            .collect::<Vec<_>>()
            .join(" | "),
    )
}

/// RoadRunner's max_jobs jitter: limit + floor(limit × p / 100), p in [0, 14].
fn jitter(max_jobs: u64) -> u64 {
    if max_jobs == 0 {
        return 0;
    }
    let p = fastrand::u128(0..15);
    max_jobs + ((max_jobs as u128 * p) / 100) as u64
}

impl Host for WorkerHost {
    fn output(&mut self, data: &[u8]) {
        self.log_lines(data, false);
    }

    fn log(&mut self, msg: &[u8], level: LogLevel) {
        let text = String::from_utf8_lossy(msg);
        match level {
            LogLevel::Error => {
                self.last_error = text.to_string();
                tracing::error!(target: "php", worker = self.id, "{}", text);
                if let Some(hint) = super::hints::extension_hint(&text) {
                    tracing::error!(target: "php", worker = self.id, "{hint}");
                }
            }
            LogLevel::Warn => tracing::warn!(target: "php", worker = self.id, "{}", text),
            LogLevel::Info => tracing::info!(target: "php", worker = self.id, "{}", text),
            LogLevel::Debug => tracing::debug!(target: "php", worker = self.id, "{}", text),
        }
    }

    fn stderr(&mut self, data: &[u8]) {
        self.log_lines(data, true);
    }

    fn relay_read(&mut self, buf: &mut [u8]) -> usize {
        if self.broken || self.mode == Mode::Native {
            return 0;
        }
        if self.mode == Mode::Undecided {
            self.mode = Mode::Relay;
            // RoadRunner's first frame: the pid request.
            let pid = format!("{{\"pid\":{}}}", std::process::id());
            let f = frame::encode(
                frame::CONTROL | frame::CODEC_JSON,
                0,
                &[],
                &[pid.as_bytes()],
            );
            self.push_inbox(f);
        }
        if self.inbox.is_empty() {
            if self.stop_sent {
                return 0;
            }
            if self.stream.take().is_some() {
                tracing::warn!(
                    worker = self.id,
                    "worker asked for a new request before ending its streamed response"
                );
                self.finish_exec();
            }
            if self.job.is_some() {
                // Reading the next request without answering this one.
                tracing::warn!(
                    worker = self.id,
                    "worker asked for a new request without answering the current one"
                );
                self.fail_job(JobError::WorkerFailed("the worker did not answer".into()));
            }
            match self.next_job() {
                Some(job) => {
                    // Header, options and context in one buffer (the first
                    // 12 bytes never split); the body follows as it is.
                    let ctx = job.req.context_json();
                    let body = &job.req.body;
                    let mut head = Vec::with_capacity(frame::HEADER_LEN + 4 + ctx.len());
                    frame::encode_head(
                        &mut head,
                        frame::CODEC_JSON,
                        0,
                        &[ctx.len() as u32],
                        ctx.len() + body.len(),
                    );
                    head.extend_from_slice(&ctx);
                    self.push_inbox(head);
                    self.push_inbox(body.clone());
                    self.job = Some(job);
                }
                None => {
                    let f = frame::encode(
                        frame::CONTROL | frame::CODEC_JSON,
                        0,
                        &[],
                        &[b"{\"stop\":true}"],
                    );
                    self.push_inbox(f);
                    self.stop_sent = true;
                }
            }
        }
        // As much as fits, across segments: a read of a whole payload gets
        // the whole payload, as from one contiguous buffer.
        let mut n = 0;
        while n < buf.len() {
            let Some(seg) = self.inbox.front_mut() else {
                break;
            };
            let k = seg.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&seg[..k]);
            seg.advance(k);
            n += k;
            if seg.is_empty() {
                self.inbox.pop_front();
            }
        }
        n
    }

    fn relay_write(&mut self, data: &[u8]) -> usize {
        if self.broken {
            return 0;
        }
        if self.mode != Mode::Relay {
            // Nothing read the relay yet: this is stray output, not a frame.
            self.log_lines(data, false);
            return data.len();
        }
        self.decoder.push(data);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => self.on_frame(f),
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(e.to_string());
                    return 0;
                }
            }
            if self.broken {
                return 0;
            }
        }
        data.len()
    }

    fn relay_readable(&mut self) -> bool {
        !self.inbox.is_empty()
    }

    fn getenv(&mut self, name: &[u8]) -> Option<&std::ffi::CStr> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_c_str())
    }

    fn putenv(&mut self, name: &[u8], value: Option<&[u8]>) {
        self.env.retain(|(k, _)| k != name);
        if let Some(v) = value {
            if let Ok(v) = CString::new(v) {
                self.env.push((name.to_vec(), v));
            }
        }
    }

    fn env_len(&self) -> usize {
        self.env.len()
    }

    fn env_entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.env.get(i).map(|(k, v)| (k.as_slice(), v.to_bytes()))
    }

    fn wait_request<'a>(&'a mut self, out: &mut NativeRequest<'a>) -> bool {
        if self.mode == Mode::Relay {
            tracing::error!(
                worker = self.id,
                "the worker mixes the STDIN relay and the native API"
            );
            return false;
        }
        self.mode = Mode::Native;
        if self.stream.is_some() {
            // A streamed response the script never finished ends here.
            self.on_response_part(false, None, Bytes::new());
        }
        if self.job.is_some() {
            tracing::warn!(
                worker = self.id,
                "worker asked for a new request without answering the current one"
            );
            self.fail_job(JobError::WorkerFailed("the worker did not answer".into()));
        }
        if self.stop_sent {
            return false;
        }
        self.mark_ready();
        match self.next_job() {
            Some(job) => self.job = Some(job),
            None => {
                self.stop_sent = true;
                return false;
            }
        }
        let r = &self.job.as_ref().expect("job set above").req;
        out.method = r.method.as_bytes();
        out.uri = r.uri.as_bytes();
        out.protocol = r.protocol.as_bytes();
        out.remote_addr = r.remote_addr.as_bytes();
        out.raw_query = r.raw_query.as_bytes();
        out.body = &r.body;
        out.uploads = r.uploads.as_bytes();
        out.attributes = r.attributes.as_bytes();
        out.parsed = r.parsed;
        out.headers = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        out.cookies = r
            .cookies
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        true
    }

    fn respond(
        &mut self,
        status: i64,
        headers: &[(&[u8], &[u8])],
        body: &[u8],
        more: bool,
    ) -> bool {
        if self.job.is_none() && self.stream.is_none() {
            tracing::warn!(
                worker = self.id,
                "respond() without a request in flight (ignored)"
            );
            return false;
        }
        // A native response's body is copied once, out of PHP's memory.
        if self.stream.is_some() {
            return self.on_response_part(more, None, Bytes::copy_from_slice(body));
        }
        if !(100..=599).contains(&status) {
            self.fail_job(JobError::BadResponse(format!(
                "unknown status code from worker: {status}"
            )));
            return false;
        }
        let headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let body = Bytes::copy_from_slice(body);
        self.on_response_part(more, Some((status as u16, headers)), body)
    }

    fn error(&mut self, msg: &[u8]) {
        let msg = String::from_utf8_lossy(msg).into_owned();
        if self.stream.take().is_some() {
            // As an ERROR frame on the relay: dropping the body sender
            // without End cuts the response; the worker stays.
            tracing::warn!(
                worker = self.id,
                "worker error during a streamed response: {msg}"
            );
            self.finish_exec();
        } else if self.job.is_some() {
            tracing::warn!(worker = self.id, "worker error: {msg}");
            self.fail_job(JobError::Soft(msg));
        } else {
            tracing::warn!(
                worker = self.id,
                "worker sent an error while idle; discarding it and restarting the worker: {msg}"
            );
            self.leave_for(Reason::Protocol);
        }
    }

    fn stop(&mut self) {
        self.requeue_job();
        self.leave_for(Reason::WorkerStop);
    }

    fn opcache_reset(&mut self) {
        tracing::info!(
            worker = self.id,
            "opcache_reset(): restarting every worker at its request boundary"
        );
        self.shared.restart_all(Reason::Reset);
    }
}

/// The bookkeeping around worker lives, shared by both executors: a fresh
/// host per life, and after a life, failing its request, counting the reason,
/// and backing off after boot failures.
pub(super) struct Lives {
    id: usize,
    shared: Arc<Shared>,
    ctl: cb::Receiver<Ctl>,
    backoff: Duration,
    booted_once: bool,
    started: Instant,
}

/// How a life ended, as the executor saw it.
pub(super) struct LifeEnd {
    pub exit_status: i32,
    pub startup_failed: bool,
}

impl Lives {
    pub(super) fn new(id: usize, shared: Arc<Shared>, ctl: cb::Receiver<Ctl>) -> Lives {
        Lives {
            id,
            shared,
            ctl,
            backoff: Duration::ZERO,
            booted_once: false,
            started: Instant::now(),
        }
    }

    /// A host for the next life, or None when the pool is shutting down.
    pub(super) fn begin(&mut self) -> Option<WorkerHost> {
        let st = &self.shared.states[self.id];
        st.deadline_ms.store(0, Ordering::Release);
        *st.ticket.lock() = None;
        if st.detached.load(Ordering::Acquire) {
            // The supervisor gave up on this thread (stuck past exec_ttl)
            // and replaced it: it ends here, and its slot is free again.
            tracing::info!(
                worker = self.id,
                "a stuck worker's call returned; its thread ends"
            );
            st.busy.store(false, Ordering::Relaxed);
            st.detached.store(false, Ordering::Release);
            return None;
        }
        if self.shared.shutting_down.load(Ordering::Acquire) || st.retire.load(Ordering::Acquire) {
            st.set_status(Status::Stopped);
            st.busy.store(false, Ordering::Relaxed);
            st.alive.store(false, Ordering::Release);
            return None;
        }
        // Restart requests aimed at the previous life mean nothing to a new one.
        while self.ctl.try_recv().is_ok() {}
        let st = &self.shared.states[self.id];
        st.recycle.store(0, Ordering::Relaxed);
        st.last_used_ms.store(0, Ordering::Relaxed);
        st.set_status(Status::Inactive);
        st.lives.fetch_add(1, Ordering::Relaxed);
        st.execs.store(0, Ordering::Relaxed);
        *st.created.lock() = Instant::now();
        *st.created_unix.lock() = std::time::SystemTime::now();
        self.started = Instant::now();
        Some(WorkerHost::new(
            self.id,
            self.shared.clone(),
            self.ctl.clone(),
        ))
    }

    /// Close a life. Returns false when the worker must end.
    pub(super) fn end(&mut self, mut host: WorkerHost, res: LifeEnd) -> bool {
        let id = self.id;
        let shared = self.shared.clone();
        host.flush_logs();
        if shared.states[id].detached.load(Ordering::Acquire) {
            // Given up on and already counted by the supervisor; its client
            // has its answer. `begin` ends the thread.
            host.stream = None;
            host.job = None;
            return true;
        }
        shared.states[id].busy.store(false, Ordering::Relaxed);
        let timed_out = host
            .exec_deadline
            .is_some_and(|d| Instant::now() + Duration::from_millis(50) >= d);
        // In the middle of a request, or of its streamed response.
        if (host.job.is_some() || host.stream.is_some()) && timed_out {
            host.leave = Some(Reason::ExecTtl);
        }
        // A streamed response cut by the worker's end. A worker *process*
        // that died ends it cleanly with what it wrote, as RoadRunner does;
        // otherwise (exec_ttl, or a thread worker, where the life ending
        // mid-stream is an error in the script) dropping the sender aborts
        // the client's response, so a truncated body never looks complete.
        if let Some(Streaming { events: Some(tx) }) = host.stream.take() {
            if host.process.is_some() && !timed_out {
                let _ = tx.send(ResponseEvent::End, None, None);
            }
        }
        if host.job.is_some() {
            let why = if host.last_error.is_empty() {
                format!(
                    "the worker exited with status {} while serving a request",
                    res.exit_status
                )
            } else {
                host.last_error.clone()
            };
            tracing::error!(
                worker = id,
                exit_status = res.exit_status,
                "worker died while serving a request: {why}"
            );
            host.fail_job(JobError::WorkerFailed(why));
        }
        if !host.ready {
            // The life ended before it could take a request: a boot failure.
            shared.restarts[Reason::BootFailed as usize].fetch_add(1, Ordering::Relaxed);
            shared.states[id].set_status(Status::Errored);
            let printed: Vec<&str> = host.boot_output.iter().map(String::as_str).collect();
            let msg = if res.startup_failed {
                "PHP request start-up failed".to_string()
            } else if !host.last_error.is_empty() {
                host.last_error.clone()
            } else if let Some(cause) = php_cause(&printed) {
                format!(
                    "the worker script exited with status {} before taking a request: {cause}",
                    res.exit_status
                )
            } else {
                format!(
                    "the worker script exited with status {} before taking a request (no waitRequest()/waitPayload() loop?)",
                    res.exit_status
                )
            };
            if !shared.started.load(Ordering::Acquire) {
                let _ = shared.boot_tx.send((id, Err(msg.clone())));
            }
            if shared.cfg.debug {
                *shared.boot_error.lock() = Some(msg.clone());
            }
            if shared.shutting_down.load(Ordering::Acquire) {
                return false;
            }
            // pool.debug retries at once (RoadRunner starts a worker per
            // request there), so a fixed script serves the next request.
            let most = if shared.cfg.debug {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(30)
            };
            self.backoff = (self.backoff * 2).clamp(Duration::from_millis(100), most);
            if self.booted_once {
                tracing::error!(
                    worker = id,
                    "worker failed to start: {msg}; retrying in {:?}",
                    self.backoff
                );
            }
            // Wait, but wake for shutdown.
            let deadline = Instant::now() + self.backoff;
            while Instant::now() < deadline && !shared.shutting_down.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return true;
        }
        self.booted_once = true;
        self.backoff = Duration::ZERO;
        let reason = host.leave.unwrap_or(Reason::Errored);
        shared.restarts[reason as usize].fetch_add(1, Ordering::Relaxed);
        shared.states[id].set_status(reason.status());
        let life_us = self.started.elapsed().as_micros() as u64;
        if reason == Reason::Errored {
            tracing::warn!(
                worker = id,
                exit_status = res.exit_status,
                execs = host.execs,
                life_us,
                "worker script ended on its own; starting a new life"
            );
        } else {
            tracing::debug!(
                worker = id,
                reason = reason.as_str(),
                exit_status = res.exit_status,
                execs = host.execs,
                life_us,
                "worker life ended"
            );
        }
        true
    }
}

/// A thread worker: lives until the pool shuts down.
pub(super) fn run(id: usize, shared: Arc<Shared>, ctl: cb::Receiver<Ctl>) {
    let mut php = PhpThread::enter();
    let mut lives = Lives::new(id, shared.clone(), ctl);
    while let Some(mut host) = lives.begin() {
        let res = php.run_life(
            &mut host,
            &shared.spec.script,
            &shared.spec.argv,
            shared.spec.bootstrap.as_deref(),
            shared.cfg.allocate_timeout,
        );
        let end = LifeEnd {
            exit_status: res.exit_status,
            startup_failed: res.startup_failed,
        };
        if !lives.end(host, end) {
            break;
        }
    }
    drop(php);
}
