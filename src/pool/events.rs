//! The hand-off of a response's events (1xx interim responses, the parts of
//! a streamed body, its end) from a worker to the HTTP response body: a
//! channel bounded in bytes.
//!
//! A worker produces parts as fast as PHP can; the body takes them as fast
//! as the client reads. When the client reads slower (or not at all), the
//! parts in flight fill [`BUDGET`] and the worker's `send` waits: the worker
//! is a PHP thread (or a process executor's driver thread), so blocking it is
//! what RoadRunner's pipes do to a PHP process too. The wait ends when
//! * the body takes parts (the client reads again): the part is queued;
//! * the body is dropped (the client hung up, or the connection was cut):
//!   [`SendError::Gone`], and the worker stops the stream as it does for a
//!   client that left;
//! * the body takes nothing for the stall timeout (the server's write
//!   timeout), a hard deadline (exec_ttl) passes, or the server stops:
//!   [`SendError::Stalled`] / [`SendError::Deadline`] /
//!   [`SendError::Stopping`]; the worker gives up on the client the same
//!   way, and the body, once its sender is gone, ends in an error so the
//!   client never takes a cut stream for a whole one.
//!
//! The parts travel through tokio's lock-free unbounded channel; the bound
//! is a byte count beside it. The fast path (the client keeps up) adds one
//! atomic add on each side and one atomic load on the body's side to what
//! an unbounded channel costs: no lock, no copy (parts are `Bytes`), no
//! extra task. Locks and the condition variable are for a sender that has
//! to wait, and for the body waking it.

use super::job::ResponseEvent;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Bytes of queued parts one response may hold before its worker waits
/// (15 parts of 64 KiB). Beyond this, hyper buffers up to ~400 KiB per
/// HTTP/1 connection and the kernel the socket's send buffer; a stalled
/// client costs the sum of the three, whatever the worker streams. Smaller
/// budgets cost throughput on a busy machine: the body drains half the
/// budget while a woken worker gets back on a CPU (256 KiB was measurably
/// slower than the unbounded queue with 4 KiB parts, 1 MiB was not).
pub const BUDGET: usize = 1024 * 1024;

/// What a queued event counts for besides its body bytes: many tiny parts
/// are bounded too.
const EVENT_COST: usize = 64;

/// How often a waiting sender looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Why a part could not be queued. The worker stops the stream in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The response body is gone: the client hung up or its connection
    /// was cut.
    Gone,
    /// The body took nothing for the stall timeout.
    Stalled,
    /// The caller's deadline (exec_ttl) passed while waiting.
    Deadline,
    /// The caller's stop flag was raised while waiting (the pool stops).
    Stopping,
}

/// A worker's end. Cloning adds a sender (a response has one at a time; the
/// budget is checked per send, so two senders racing could overshoot it by
/// a part); the body ends once every sender is dropped.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<ResponseEvent>,
    gate: Arc<Gate>,
}

/// The HTTP body's end. Dropping it wakes a waiting sender with
/// [`SendError::Gone`] and frees whatever was queued.
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<ResponseEvent>,
    gate: Arc<Gate>,
}

/// The bound beside the channel.
struct Gate {
    /// Cost of the events sent and not taken yet (bytes plus `EVENT_COST`
    /// per event).
    in_flight: AtomicUsize,
    /// Senders inside [`EventSender::wait_for_room`]. With `in_flight`, a
    /// Dekker pair (both SeqCst): a sender raises this, then looks at
    /// `in_flight`; the body lowers `in_flight`, then looks at this. One of
    /// them sees the other, so a wake-up is never lost.
    waiting: AtomicUsize,
    receiver_alive: AtomicBool,
    /// When the body last took an event while a sender waited, in
    /// nanoseconds after `epoch` (only kept then: the stall clock runs only
    /// while someone waits, and the fast path never reads the clock).
    taken_at: AtomicU64,
    epoch: Instant,
    /// Held by a waiting sender from its last look at `in_flight` until it
    /// sleeps, and by the body to wake it.
    lock: Mutex<()>,
    space: Condvar,
    budget: usize,
    stall: Duration,
}

impl Gate {
    fn fits(&self, cost: usize) -> bool {
        let queued = self.in_flight.load(Ordering::SeqCst);
        queued == 0 || queued + cost <= self.budget
    }

    /// The lock; nothing panics while holding it, but a poisoned lock must
    /// not take the server down with it.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an event counts for against the budget. The end costs nothing, so
/// it is never waited for.
fn cost(ev: &ResponseEvent) -> usize {
    match ev {
        ResponseEvent::Data(b) => EVENT_COST + b.len(),
        ResponseEvent::Interim(_, h) => {
            EVENT_COST + h.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        }
        ResponseEvent::End => 0,
    }
}

/// A channel holding up to [`BUDGET`] bytes; a sender waits at most `stall`
/// for the receiver to take something.
pub fn channel(stall: Duration) -> (EventSender, EventReceiver) {
    with_budget(BUDGET, stall)
}

fn with_budget(budget: usize, stall: Duration) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Gate {
        in_flight: AtomicUsize::new(0),
        waiting: AtomicUsize::new(0),
        receiver_alive: AtomicBool::new(true),
        taken_at: AtomicU64::new(0),
        epoch: Instant::now(),
        lock: Mutex::new(()),
        space: Condvar::new(),
        budget,
        stall,
    });
    (
        EventSender {
            tx,
            gate: gate.clone(),
        },
        EventReceiver { rx, gate },
    )
}

impl EventSender {
    /// Queue `ev`, waiting while the queue is over its budget (an event
    /// always fits into an empty queue, however large, and the end always
    /// fits). Besides the stall timeout, `deadline` ends the wait, and so
    /// does `stop` once it turns true (looked at every [`STOP_POLL`]).
    pub fn send(
        &self,
        ev: ResponseEvent,
        deadline: Option<Instant>,
        stop: Option<&AtomicBool>,
    ) -> Result<(), SendError> {
        let cost = cost(&ev);
        if cost > 0 && !self.gate.fits(cost) {
            self.wait_for_room(cost, deadline, stop)?;
        }
        self.gate.in_flight.fetch_add(cost, Ordering::SeqCst);
        self.tx.send(ev).map_err(|_| SendError::Gone)
    }

    /// The slow path: sleep until `cost` fits, or give up.
    fn wait_for_room(
        &self,
        cost: usize,
        deadline: Option<Instant>,
        stop: Option<&AtomicBool>,
    ) -> Result<(), SendError> {
        let g = &*self.gate;
        let mut guard = g.lock();
        g.waiting.fetch_add(1, Ordering::SeqCst);
        // The stall clock starts with this wait and restarts whenever the
        // body takes something.
        let mut since = Instant::now();
        let mut seen = g.taken_at.load(Ordering::Acquire);
        let outcome = loop {
            if !g.receiver_alive.load(Ordering::SeqCst) {
                break Err(SendError::Gone);
            }
            if g.fits(cost) {
                break Ok(());
            }
            let now = Instant::now();
            let taken = g.taken_at.load(Ordering::Acquire);
            if taken != seen {
                seen = taken;
                since = since.max(g.epoch + Duration::from_nanos(taken));
            }
            let stall_at = since + g.stall;
            if deadline.is_some_and(|d| now >= d && d <= stall_at) {
                break Err(SendError::Deadline);
            }
            if now >= stall_at {
                break Err(SendError::Stalled);
            }
            if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
                break Err(SendError::Stopping);
            }
            let mut until = deadline.map_or(stall_at, |d| d.min(stall_at));
            if stop.is_some() {
                until = until.min(now + STOP_POLL);
            }
            guard = match g
                .space
                .wait_timeout(guard, until.saturating_duration_since(now))
            {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        };
        g.waiting.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        outcome
    }
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSender")
    }
}

impl EventReceiver {
    /// The next event; `Ready(None)` once every sender is gone and the
    /// queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ResponseEvent>> {
        let r = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(ev)) = &r {
            self.taken(ev);
        }
        r
    }

    pub async fn recv(&mut self) -> Option<ResponseEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// An event already queued, if any.
    pub fn try_recv(&mut self) -> Option<ResponseEvent> {
        let ev = self.rx.try_recv().ok()?;
        self.taken(&ev);
        Some(ev)
    }

    /// Account for an event taken out; wake a waiting sender once half the
    /// budget is free (so a reader that keeps up wakes it once per half
    /// budget rather than once per part).
    fn taken(&self, ev: &ResponseEvent) {
        let g = &*self.gate;
        let cost = cost(ev);
        if cost == 0 {
            return;
        }
        let left = g.in_flight.fetch_sub(cost, Ordering::SeqCst) - cost;
        if g.waiting.load(Ordering::SeqCst) > 0 {
            let now = g.epoch.elapsed().as_nanos() as u64;
            g.taken_at.store(now, Ordering::Release);
            if left <= g.budget / 2 {
                let _guard = g.lock();
                g.space.notify_all();
            }
        }
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        // No more sends; what is queued is freed with `rx`.
        self.rx.close();
        self.gate.receiver_alive.store(false, Ordering::SeqCst);
        let _guard = self.gate.lock();
        self.gate.space.notify_all();
    }
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventReceiver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn part(n: usize, byte: u8) -> ResponseEvent {
        ResponseEvent::Data(Bytes::from(vec![byte; n]))
    }

    fn data(ev: Option<ResponseEvent>) -> Bytes {
        match ev {
            Some(ResponseEvent::Data(b)) => b,
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn a_full_queue_makes_the_sender_wait_until_it_stalls() {
        let (tx, mut rx) = with_budget(1000, Duration::from_millis(50));
        let mut sent = 0;
        let err = loop {
            match tx.send(part(100, b'a'), None, None) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100, "the queue never filled");
        };
        assert_eq!(err, SendError::Stalled);
        // 100 bytes + EVENT_COST each: six fit in 1000.
        assert_eq!(sent, 1000 / (100 + EVENT_COST));
        for _ in 0..sent {
            assert_eq!(data(rx.try_recv()).len(), 100);
        }
        assert!(rx.try_recv().is_none());
        // Room again.
        tx.send(part(100, b'b'), None, None).unwrap();
    }

    #[test]
    fn an_event_larger_than_the_budget_fits_an_empty_queue() {
        let (tx, mut rx) = with_budget(1000, Duration::from_millis(50));
        tx.send(part(5000, b'a'), None, None).unwrap();
        assert_eq!(
            tx.send(part(1, b'b'), None, None),
            Err(SendError::Stalled),
            "nothing fits behind it"
        );
        // The end never waits.
        tx.send(ResponseEvent::End, None, None).unwrap();
        assert_eq!(data(rx.try_recv()).len(), 5000);
        assert!(matches!(rx.try_recv(), Some(ResponseEvent::End)));
        tx.send(part(5000, b'c'), None, None).unwrap();
    }

    #[test]
    fn dropping_the_receiver_wakes_a_waiting_sender() {
        let (tx, rx) = with_budget(1000, Duration::from_secs(3600));
        tx.send(part(1000, b'a'), None, None).unwrap();
        let t = std::thread::spawn(move || tx.send(part(10, b'b'), None, None));
        // Whether the sender is already waiting or not, it must see Gone.
        drop(rx);
        assert_eq!(t.join().unwrap(), Err(SendError::Gone));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let (tx, _rx) = with_budget(1000, Duration::from_secs(3600));
        tx.send(part(1000, b'a'), None, None).unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            tx.send(part(10, b'b'), Some(deadline), None),
            Err(SendError::Deadline)
        );
    }

    #[test]
    fn a_stop_flag_ends_the_wait() {
        let (tx, _rx) = with_budget(1000, Duration::from_secs(3600));
        tx.send(part(1000, b'a'), None, None).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || tx.send(part(10, b'b'), None, Some(&flag)));
        stop.store(true, Ordering::Release);
        assert_eq!(t.join().unwrap(), Err(SendError::Stopping));
    }

    #[test]
    fn a_reader_that_keeps_up_gets_everything_in_order() {
        let (tx, mut rx) = with_budget(4096, Duration::from_secs(3600));
        let writer = std::thread::spawn(move || {
            for i in 0..2000u32 {
                let b = Bytes::from(i.to_be_bytes().repeat(100));
                tx.send(ResponseEvent::Data(b), None, None).unwrap();
            }
            tx.send(ResponseEvent::End, None, None).unwrap();
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..2000u32 {
                let b = data(rx.recv().await);
                assert_eq!(b, Bytes::from(i.to_be_bytes().repeat(100)));
            }
            assert!(matches!(rx.recv().await, Some(ResponseEvent::End)));
            // The only sender is gone once the writer returns.
            assert!(rx.recv().await.is_none());
        });
        writer.join().unwrap();
    }

    #[test]
    fn the_stall_clock_restarts_when_the_receiver_takes_something() {
        // The receiver takes a part every 10 ms for about 2 s, twice the
        // stall timeout: the sender waits for every part but never gives up.
        let (tx, mut rx) = with_budget(1000, Duration::from_secs(1));
        let reader = std::thread::spawn(move || {
            let mut got = 0;
            while got < 200 {
                if rx.try_recv().is_some() {
                    got += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            got
        });
        for _ in 0..200 {
            tx.send(part(600, b'a'), None, None).unwrap();
        }
        assert_eq!(reader.join().unwrap(), 200);
    }
}
