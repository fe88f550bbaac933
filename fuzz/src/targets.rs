//! Fuzz entry points, shared by the cargo-fuzz binaries (fuzz/fuzz_targets)
//! and the stable smoke test (tests/fuzz_smoke.rs). Each takes arbitrary
//! bytes, must never panic, and checks the invariants of what it drives
//! (a failed `assert!` is a finding, like a crash).
//!
//! The including crate provides, at its root, the server's modules
//! `config`, `relay`, `rpc::codec`, `http::{body, request, uploads}` and
//! `pool::job` (see fuzz/src/lib.rs).

use crate::config;
use crate::http::{request, uploads};
use crate::pool::job::HttpRequest;
use crate::relay::frame::{self, Decoder, Frame};
use crate::relay::response::parse_response_context;
use crate::rpc::codec;
use std::path::PathBuf;

/// Frames re-encoded by the server carry version 1 and a zero byte 11, so
/// compare what the decoder reports, not raw bytes.
fn same_frame(a: &Frame, b: &Frame) -> bool {
    a.flags == b.flags && a.stream == b.stream && a.options == b.options && a.payload == b.payload
}

/// Worker → server: arbitrary bytes on a worker's STDOUT (or an RPC
/// socket), fed to the decoder in chunks whose sizes come from the input.
/// Every frame is then handled as the pool handles a response frame (the
/// options check, the context split, the response context parser), and
/// re-encoded: decoding the re-encoding gives the same frame.
pub fn frame_decode(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = (step as usize % 64) + 1;
    let mut dec = Decoder::new(1 << 20);
    for chunk in rest.chunks(step) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    check_response_frame(&f);
                    let again = frame::encode(f.flags, f.stream, &f.options, &[&f.payload]);
                    let mut d2 = Decoder::new(0);
                    d2.push(&again);
                    let g = d2.next_frame().expect("re-encoded frame decodes");
                    let g = g.expect("re-encoded frame is complete");
                    assert!(same_frame(&f, &g), "round trip changed the frame");
                    assert!(d2.next_frame().expect("nothing left").is_none());
                }
                Ok(None) => break,
                Err(_) => return, // the connection/worker is dropped
            }
        }
    }
}

/// What the pool does with a worker's data frame (src/pool/worker.rs
/// `on_frame`), minus the side effects.
fn check_response_frame(f: &Frame) {
    if f.flags & (frame::CONTROL | frame::ERROR) != 0 {
        let _ = serde_json::from_slice::<serde_json::Value>(&f.payload);
        let _ = String::from_utf8_lossy(&f.payload);
        return;
    }
    if f.options.len() != 1 {
        return;
    }
    let split = f.options[0] as usize;
    if split > f.payload.len() {
        return;
    }
    let (ctx, _body) = f.payload.split_at(split);
    if let Ok((status, headers)) = parse_response_context(ctx) {
        assert!((100..=599).contains(&status));
        for (k, v) in headers {
            let _ = (k.len(), v.len());
        }
    }
}

/// A little reader over the fuzz input for structured targets.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// Up to `max` bytes, the length taken from the input.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (self.byte() as usize * 256 + self.byte() as usize).min(max);
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }
}

/// Server → worker: any frame the server may build (flags, stream byte,
/// up to 10 options, payload in parts) encodes to bytes that decode to the
/// same frame, whatever the chunking; plus RoadRunner's JSON request
/// context (hand-written JSON in src/pool/job.rs) built from arbitrary
/// strings is valid JSON holding exactly those strings.
pub fn frame_encode(data: &[u8]) {
    let mut inp = Input(data);
    let flags = inp.byte();
    let stream = inp.byte();
    let nopt = inp.byte() as usize % (frame::MAX_OPTIONS + 1);
    let options: Vec<u32> = (0..nopt).map(|_| inp.u32()).collect();
    let p1 = inp.bytes(4096);
    let p2 = inp.bytes(4096);
    let bytes = frame::encode(flags, stream, &options, &[p1, p2]);
    assert_eq!(
        bytes.len(),
        frame::HEADER_LEN + 4 * nopt + p1.len() + p2.len()
    );
    let step = (inp.byte() as usize % 16) + 1;
    let mut dec = Decoder::new(0);
    let mut got = None;
    for c in bytes.chunks(step) {
        dec.push(c);
        if let Some(f) = dec.next_frame().expect("a frame we encoded decodes") {
            assert!(got.is_none(), "one frame only");
            got = Some(f);
        }
    }
    let f = got.expect("the whole frame was pushed");
    assert_eq!(f.flags, flags);
    assert_eq!(f.stream, stream);
    assert_eq!(f.options, options);
    assert_eq!(f.payload, [p1, p2].concat());

    let mut req = HttpRequest {
        remote_addr: inp.string(64),
        protocol: "HTTP/1.1",
        method: inp.string(32),
        uri: inp.string(512),
        raw_query: inp.string(512),
        parsed: inp.byte() & 1 == 1,
        ..HttpRequest::default()
    };
    let nh = inp.byte() % 16;
    for _ in 0..nh {
        req.headers.push((inp.string(64), inp.string(256)));
    }
    req.headers.sort_by(|a, b| a.0.cmp(&b.0));
    let nc = inp.byte() % 8;
    for _ in 0..nc {
        req.cookies.push((inp.string(32), inp.string(64)));
    }
    let ctx = req.context_json();
    let v: serde_json::Value =
        serde_json::from_slice(&ctx).expect("the request context is valid JSON");
    assert_eq!(v["remoteAddr"], req.remote_addr.as_str());
    assert_eq!(v["method"], req.method.as_str());
    assert_eq!(v["uri"], req.uri.as_str());
    assert_eq!(v["rawQuery"], req.raw_query.as_str());
    for (k, val) in &req.headers {
        let arr = v["headers"][k.as_str()].as_array().expect("header list");
        assert!(arr.iter().any(|x| x == val.as_str()));
    }
}

/// An RPC request frame (what a client sends to `rpc.listen`) decoded as
/// the server does; a decoded call's reply is a frame a client decodes
/// back to the same sequence number and method.
pub fn rpc_decode(data: &[u8]) {
    let mut inp = Input(data);
    let mode = inp.byte();
    let frames: Vec<Frame> = if mode & 1 == 0 {
        // Raw bytes through the decoder (what a socket delivers).
        let mut dec = Decoder::new(64 << 20);
        dec.push(inp.0);
        let mut v = Vec::new();
        while let Ok(Some(f)) = dec.next_frame() {
            v.push(f);
        }
        v
    } else {
        // A well-formed frame with fuzzed fields (past the CRC check).
        let flags = inp.byte();
        let nopt = inp.byte() as usize % 4;
        let mut options: Vec<u32> = (0..nopt).map(|_| inp.u32() % 64).collect();
        if mode & 2 == 0 && !options.is_empty() {
            options[0] = inp.u32();
        }
        let payload = inp.0;
        vec![Frame {
            flags,
            stream: 0,
            options,
            payload: bytes::Bytes::copy_from_slice(payload),
        }]
    };
    for f in frames {
        let Ok(call) = codec::decode_call(&f) else {
            continue;
        };
        let result = match &call.arg {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(e.clone()),
        };
        let reply = codec::encode_reply(&call, &result);
        let mut dec = Decoder::new(0);
        dec.push(&reply);
        let r = dec
            .next_frame()
            .expect("reply decodes")
            .expect("reply complete");
        assert_eq!(r.options.len(), 2);
        assert_eq!(r.options[0], call.seq);
        let mlen = r.options[1] as usize;
        assert_eq!(&r.payload[..mlen], call.method.as_bytes());
        assert_eq!(r.flags & frame::ERROR != 0, result.is_err());
    }
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
}

fn upload_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rr-fuzz-uploads-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// The request-context builder (src/http/mod.rs `build_request` and its
/// helpers): header names, Cookie headers, the query, url-encoded forms into
/// RoadRunner's data tree, and multipart bodies (fields and files) through
/// the same parser the server streams uploads with. The input is split in
/// four parts at 0xFF bytes: header lines, cookie lines, a query, a body.
pub fn request_context(data: &[u8]) {
    let mut parts = data.splitn(4, |b| *b == 0xff);
    let head = parts.next().unwrap_or_default();
    let cookie = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let (n, v) = line.split_once(':').unwrap_or((&line, ""));
        let c = request::canonical_header(n);
        assert_eq!(c.len(), n.len(), "canonical names keep their length");
        assert!(c.eq_ignore_ascii_case(n));
        headers.push((c, v.trim().to_string()));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let cookie_lines: Vec<String> = cookie
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let cookies = request::parse_cookies(cookie_lines.iter().map(String::as_str));
    for w in cookies.windows(2) {
        assert!(w[0].0 < w[1].0, "cookies sorted and unique");
    }
    let raw_query = String::from_utf8_lossy(query).into_owned();
    let _ = request::query_unescape(&raw_query);
    let qpairs: Vec<(String, String)> = form_urlencoded::parse(query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let _ = request::form_tree(&qpairs);

    let pairs: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut parsed = false;
    let mut req_body = bytes::Bytes::copy_from_slice(body);
    if let Ok(tree) = request::form_tree(&pairs) {
        assert!(tree.is_object());
        parsed = true;
        req_body = bytes::Bytes::from(serde_json::to_vec(&tree).expect("tree serialises"));
    }

    // multipart: the boundary from the first header value when it parses,
    // else a fixed one; the body in input-sized chunks.
    let ct = headers
        .first()
        .map(|h| format!("multipart/form-data; {}", h.1))
        .unwrap_or_default();
    let boundary = multer::parse_boundary(&ct).unwrap_or_else(|_| "XyZ".to_string());
    let step = body.first().map(|b| *b as usize % 32 + 1).unwrap_or(1);
    let chunks: Vec<Result<bytes::Bytes, crate::http::body::BoxError>> = body
        .chunks(step)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let cfg = config::http::UploadsConfig {
        dir: Some(upload_dir()),
        forbid: vec![".php".into()],
        allow: Vec::new(),
        owner: None,
        dir_fd: None,
    };
    let mut uploads_json = String::new();
    RT.with(|rt| {
        let stream = futures_util::stream::iter(chunks);
        if let Ok(p) = rt.block_on(uploads::parse(stream, boundary, &cfg)) {
            assert!(p.data.is_object());
            let u: serde_json::Value =
                serde_json::from_str(&p.uploads).expect("the uploads tree is JSON");
            assert!(u.is_object());
            uploads_json = p.uploads;
            // p.guard drops here: the temporary files are deleted.
        }
    });

    let req = HttpRequest {
        remote_addr: "127.0.0.1".into(),
        protocol: "HTTP/1.1",
        method: "POST".into(),
        uri: format!("http://localhost/?{raw_query}"),
        headers,
        cookies,
        raw_query,
        parsed,
        body: req_body,
        uploads: uploads_json,
        ..HttpRequest::default()
    };
    let ctx = req.context_json();
    serde_json::from_slice::<serde_json::Value>(&ctx).expect("the request context is valid JSON");
}

/// `.rr.yaml` loading and validation on arbitrary text (plus up to two
/// `-o` overrides from the input's first lines when they start with `-o `).
/// Inputs with an `include` key are skipped: an include names a file to
/// read, and a fuzzer must not read `/dev/zero`.
pub fn config_load(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut overrides = Vec::new();
    let mut body: &str = &text;
    for _ in 0..2 {
        if let Some(rest) = body.strip_prefix("-o ") {
            let (o, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            overrides.push(o.to_string());
            body = tail;
        }
    }
    if overrides
        .iter()
        .any(|o| o.to_ascii_lowercase().contains("include"))
    {
        return;
    }
    // The loader's own parser: merge keys applied (a merge can bring in an
    // `include`), alias expansion bounded.
    if let Ok((serde_norway::Value::Mapping(m), _)) = config::yaml::parse(body) {
        let has_include = m.keys().any(|k| {
            k.as_str()
                .map(|s| s.trim().eq_ignore_ascii_case("include"))
                .unwrap_or(false)
        });
        if has_include {
            return;
        }
    }
    let path = std::env::temp_dir().join(format!(
        "rr-fuzz-config-{}-{:?}.yaml",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::write(&path, body.as_bytes()).is_err() {
        return;
    }
    match config::load(&path, &overrides) {
        Ok(cfg) => {
            let _ = format!("{:?}", cfg.warnings);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
        }
    }
    let _ = std::fs::remove_file(&path);
}
