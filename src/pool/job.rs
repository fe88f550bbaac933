//! What travels between the HTTP front end and a worker: one request, one
//! response (or an error), and how a request becomes RoadRunner's JSON
//! request context (contract.md §3.2).

use bytes::Bytes;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::sync::Notify;

/// `Job::state`: waiting in the queue.
pub const QUEUED: u8 = 0;
/// `Job::state`: a worker took it.
pub const TAKEN: u8 = 1;
/// `Job::state`: the client side gave up waiting (allocate_timeout).
pub const CANCELLED: u8 = 2;

/// An HTTP request as a worker sees it.
#[derive(Debug, Default, Clone)]
pub struct HttpRequest {
    pub remote_addr: String,
    pub protocol: &'static str,
    pub method: String,
    /// Absolute URL: scheme://host + request target.
    pub uri: String,
    /// Go-canonical names, sorted by name, values of one name adjacent.
    pub headers: Vec<(String, String)>,
    /// Cookie name → value (unescaped), sorted by name, last duplicate wins.
    pub cookies: Vec<(String, String)>,
    pub raw_query: String,
    /// The body is the JSON data tree of a parsed form.
    pub parsed: bool,
    pub body: Bytes,
    /// JSON text of the uploads tree, empty when none.
    pub uploads: String,
    /// JSON object text of PSR-7 attributes, empty when none.
    pub attributes: String,
    /// Where a streamed response sends its interim responses (1xx) and the
    /// body after the first part, bounded (see [`super::events`]). Dropped
    /// without [`ResponseEvent::End`] means the stream broke.
    pub events: Option<super::events::EventSender>,
}

/// What a worker sends besides the response head (streamed responses).
#[derive(Debug)]
pub enum ResponseEvent {
    /// A 1xx interim response (103 Early Hints), before the head.
    Interim(u16, Vec<(String, String)>),
    /// A piece of the body, after the head.
    Data(Bytes),
    /// The body is complete.
    End,
}

impl HttpRequest {
    /// RoadRunner's JSON request context, keys in its order.
    pub fn context_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.headers.len() * 48);
        out.extend_from_slice(b"{\"remoteAddr\":");
        json_str(&mut out, &self.remote_addr);
        out.extend_from_slice(b",\"protocol\":");
        json_str(&mut out, self.protocol);
        out.extend_from_slice(b",\"method\":");
        json_str(&mut out, &self.method);
        out.extend_from_slice(b",\"uri\":");
        json_str(&mut out, &self.uri);
        out.extend_from_slice(b",\"headers\":{");
        let mut prev: Option<&str> = None;
        for (k, v) in &self.headers {
            if prev == Some(k.as_str()) {
                out.push(b',');
            } else {
                if prev.is_some() {
                    out.extend_from_slice(b"],");
                }
                json_str(&mut out, k);
                out.extend_from_slice(b":[");
                prev = Some(k);
            }
            json_str(&mut out, v);
        }
        if prev.is_some() {
            out.push(b']');
        }
        out.extend_from_slice(b"},\"cookies\":{");
        for (i, (k, v)) in self.cookies.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.push(b':');
            json_str(&mut out, v);
        }
        out.extend_from_slice(b"},\"rawQuery\":");
        json_str(&mut out, &self.raw_query);
        out.extend_from_slice(if self.parsed {
            b",\"parsed\":true"
        } else {
            b",\"parsed\":false"
        });
        out.extend_from_slice(b",\"uploads\":");
        if self.uploads.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            out.extend_from_slice(self.uploads.as_bytes());
        }
        out.extend_from_slice(b",\"attributes\":");
        if self.attributes.is_empty() {
            out.extend_from_slice(b"{}");
        } else {
            out.extend_from_slice(self.attributes.as_bytes());
        }
        out.push(b'}');
        out
    }
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json never fails writing a &str into a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A worker's answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// More body follows as [`ResponseEvent`]s on the request's `events`.
    pub streamed: bool,
}

/// Why a request got no response from PHP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// `$worker->error($msg)`: the worker stays.
    Soft(String),
    /// The worker died, exited or broke the protocol while serving.
    WorkerFailed(String),
    /// No worker took the request in time.
    NoFreeWorkers,
    /// The queue is full.
    QueueFull,
    /// The pool is stopping.
    Stopped,
    /// The worker's response could not be understood.
    BadResponse(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Soft(m) => write!(f, "worker error: {m}"),
            JobError::WorkerFailed(m) => write!(f, "worker failed: {m}"),
            JobError::NoFreeWorkers => write!(f, "no free workers in the pool"),
            JobError::QueueFull => write!(f, "the request queue is full"),
            JobError::Stopped => write!(f, "the pool is stopping"),
            JobError::BadResponse(m) => write!(f, "bad response from the worker: {m}"),
        }
    }
}

pub type JobResult = Result<HttpResponse, JobError>;

/// One request waiting for (or being served by) a worker.
pub struct Job {
    pub req: HttpRequest,
    /// When it was queued (queue-time metrics).
    #[allow(dead_code)]
    pub enqueued: Instant,
    pub reply: oneshot::Sender<JobResult>,
    /// How many times a worker's stop() sent it back to the queue.
    pub retries: u32,
    /// What the waiting client and the worker share.
    pub ticket: Arc<Ticket>,
}

/// Shared by a queued request's waiter and the worker that takes it.
#[derive(Debug, Default)]
pub struct Ticket {
    /// QUEUED → TAKEN by a worker, or QUEUED → CANCELLED by the waiter.
    pub state: AtomicU8,
    /// The supervisor gave up on the worker that took it: it is stuck in a C
    /// call past exec_ttl. The waiter answers the client at once.
    pub stuck: Notify,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_json_has_roadrunner_shape() {
        let r = HttpRequest {
            remote_addr: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
            method: "GET".into(),
            uri: "http://localhost:8080/a?x=1".into(),
            headers: vec![
                ("Accept".into(), "*/*".into()),
                ("X-Multi".into(), "a".into()),
                ("X-Multi".into(), "b\"c".into()),
            ],
            cookies: vec![("s".into(), "a b".into())],
            raw_query: "x=1".into(),
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&r.context_json()).unwrap();
        assert_eq!(v["headers"]["X-Multi"][1], "b\"c");
        assert_eq!(v["cookies"]["s"], "a b");
        assert_eq!(v["parsed"], false);
        assert!(v["uploads"].is_null());
        assert!(v["attributes"].as_object().unwrap().is_empty());
        let s = String::from_utf8(r.context_json()).unwrap();
        assert!(s.starts_with("{\"remoteAddr\":\"127.0.0.1\",\"protocol\":\"HTTP/1.1\",\"method\""));
    }
}
