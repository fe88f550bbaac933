//! HTTP features over real HTTP against the real `rr` binary and real PHP:
//! static files, headers/CORS, compression, uploads, limits, streaming,
//! 103 Early Hints, trailers, trusted proxies, TLS, HTTP/2, h2c, HTTP/1.0
//! and slow clients.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// An app running tests/fixtures/http.php with one worker; `extra` holds
/// more `http:` keys, indented by two spaces.
fn http_app(name: &str, api: Api, extra: &str) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php http.php\"\n{}http:\n  address: 127.0.0.1:{{port}}\n{extra}  pool:\n    num_workers: 1\nlogs:\n  mode: development\n  level: debug\n",
        api.server_yaml()
    );
    let a = App::new(name, &yaml);
    a.fixture("http.php");
    a
}

/// Send a raw request and read until the server closes.
fn raw_req(port: u16, req: &str) -> String {
    raw(port, req.as_bytes())
}

fn get_h(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut r = ureq::get(&s.url(path));
    for (k, v) in headers {
        r = r.set(k, v);
    }
    request(r, None)
}

fn decode(enc: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        match enc {
            "gzip" => GzipDecoder::new(data).read_to_end(&mut out).await,
            "br" => BrotliDecoder::new(data).read_to_end(&mut out).await,
            "zstd" => ZstdDecoder::new(data).read_to_end(&mut out).await,
            other => panic!("unknown encoding {other}"),
        }
        .unwrap();
        out
    })
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("these tests need curl (with HTTP/2) on PATH");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const STATIC: &str = "  middleware: [static]\n  static:\n    dir: public\n    forbid: [.php]\n    calculate_etag: true\n    response: { X-Static: yes }\n";

#[test]
fn static_files_conditional_and_ranges() {
    let a = http_app("static", Api::Native, STATIC);
    a.file("public/a.txt", "hello static world\n");
    a.file("public/style.css", "body { color: red }\n");
    a.file("public/sub/b.json", "{\"b\":1}");
    a.file("public/code.php", "<?php echo 'source';");
    let s = a.serve();

    let r = s.get("/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello static world\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-static"), Some("yes"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").expect("calculate_etag").to_string();
    assert!(etag.starts_with("\"19-"), "size-crc: {etag}");
    let lm = r
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert_eq!(
        s.get("/style.css").header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        s.get("/sub/b.json").header("content-type"),
        Some("application/json")
    );

    // Conditional requests.
    assert_eq!(get_h(&s, "/a.txt", &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(
        get_h(&s, "/a.txt", &[("If-None-Match", "\"other\"")]).status,
        200
    );
    assert_eq!(
        get_h(&s, "/a.txt", &[("If-Modified-Since", &lm)]).status,
        304
    );
    assert_eq!(
        get_h(
            &s,
            "/a.txt",
            &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]
        )
        .status,
        200
    );

    // Ranges.
    let r = get_h(&s, "/a.txt", &[("Range", "bytes=0-4")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "hello");
    assert_eq!(r.header("content-range"), Some("bytes 0-4/19"));
    let r = get_h(&s, "/a.txt", &[("Range", "bytes=-6")]);
    assert_eq!((r.status, r.text().as_str()), (206, "world\n"));
    let r = get_h(&s, "/a.txt", &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */19"));
    let r = get_h(
        &s,
        "/a.txt",
        &[("Range", "bytes=0-1"), ("If-Range", "\"stale\"")],
    );
    assert_eq!(r.status, 200, "a stale If-Range serves the whole file");

    // HEAD: headers, no body.
    let head = raw_req(
        s.port,
        "HEAD /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 19"),
        "{head}"
    );
    assert!(!head.contains("hello"), "{head}");

    // Missing files, forbidden extensions, directories and POSTs go to PHP.
    for path in ["/missing.txt", "/code.php", "/sub", "/noext"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["php"], true, "{path} must reach PHP: {}", r.text());
    }
    assert_eq!(s.post("/a.txt", "text/plain", b"x").json()["php"], true);
}

#[test]
fn static_path_traversal_matrix() {
    let a = http_app("traversal", Api::Native, STATIC);
    a.file("public/ok.txt", "fine");
    a.file("public/sub/inner.txt", "inner");
    a.file("secret.txt", "TOPSECRET-CONTENT");
    a.file("outside/secret.txt", "TOPSECRET-CONTENT");
    std::os::unix::fs::symlink(a.dir.join("secret.txt"), a.dir.join("public/link.txt")).unwrap();
    std::os::unix::fs::symlink(a.dir.join("outside"), a.dir.join("public/out")).unwrap();
    std::os::unix::fs::symlink("/etc", a.dir.join("public/etc")).unwrap();
    let s = a.serve();
    let matrix = [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/%252e%252e/secret.txt",
        "/.%2e/secret.txt",
        "//../secret.txt",
        "/..%5csecret.txt",
        "/ok.txt%00.txt",
        "/secret.txt%00",
        "/link.txt",
        "/out/secret.txt",
        "/etc/hostname",
        "/etc/passwd%00.txt",
    ];
    for path in matrix {
        let resp = raw_req(
            s.port,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(
            !resp.contains("TOPSECRET"),
            "{path} leaked a file outside the root:\n{resp}"
        );
        assert!(!resp.contains("root:"), "{path} leaked /etc:\n{resp}");
        let status = resp.get(9..12).unwrap_or("");
        assert!(
            ["403", "400", "200", "404"].contains(&status),
            "{path}: unexpected {resp}"
        );
        if status == "200" {
            assert!(
                resp.contains("\"php\":true"),
                "{path}: a 200 must come from PHP: {resp}"
            );
        }
    }
    // `..` segments are refused outright, as RoadRunner does.
    let resp = raw_req(
        s.port,
        "GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    // Legitimate paths still work.
    assert_eq!(s.get("/sub/inner.txt").text(), "inner");
    assert_eq!(s.get("/sub/../ok.txt").text(), "fine");
}

#[test]
fn headers_and_cors() {
    let a = http_app(
        "cors",
        Api::Native,
        "  middleware: [headers]\n  headers:\n    request: { X-In: added }\n    response: { X-Out: configured, X-Powered-By: RoadRunner }\n    cors:\n      allowed_origin: \"https://a.example, https://*.b.example\"\n      allowed_methods: \"GET,POST,PUT\"\n      allowed_headers: \"Content-Type, X-Custom\"\n      exposed_headers: \"x-total, x-page\"\n      allow_credentials: true\n      max_age: 600\n",
    );
    let s = a.serve();

    // Preflight: answered here, PHP never sees it.
    let r = request(
        ureq::request("OPTIONS", &s.url("/api"))
            .set("Origin", "https://app.b.example")
            .set("Access-Control-Request-Method", "PUT")
            .set("Access-Control-Request-Headers", "x-custom, content-type"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "", "a preflight never reaches PHP");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.b.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-custom, content-type")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r
        .header("vary")
        .unwrap_or("")
        .contains("Access-Control-Request-Method"));
    // A preflight for a method or header that is not allowed gets no grant.
    for (m, h) in [("DELETE", "x-custom"), ("PUT", "x-evil")] {
        let r = request(
            ureq::request("OPTIONS", &s.url("/api"))
                .set("Origin", "https://a.example")
                .set("Access-Control-Request-Method", m)
                .set("Access-Control-Request-Headers", h),
            None,
        );
        assert_eq!(r.header("access-control-allow-origin"), None, "{m} {h}");
    }

    // Actual request from an allowed origin.
    let r = get_h(&s, "/x", &[("Origin", "https://a.example")]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("X-Total, X-Page")
    );
    assert!(r.header("vary").unwrap_or("").contains("Origin"));
    let j = r.json();
    assert_eq!(
        j["headers"]["X-In"][0], "added",
        "request headers reach PHP: {j}"
    );
    let outs: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-out"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        outs,
        vec!["configured", "from-php"],
        "configured first, PHP's added"
    );
    assert_eq!(r.header("x-powered-by"), Some("RoadRunner"));
    // Not allowed: no CORS grant, the response itself still arrives.
    let r = get_h(&s, "/x", &[("Origin", "https://evil.example")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = get_h(&s, "/x", &[("Origin", "https://b.example.evil")]);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn cors_any_origin_and_regex() {
    let a = http_app(
        "cors2",
        Api::Native,
        "  middleware: [headers]\n  headers:\n    cors:\n      allowed_origin: \"*\"\n",
    );
    let s = a.serve();
    let r = get_h(&s, "/", &[("Origin", "https://whatever.example")]);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    drop(s);
    let a = http_app(
        "cors3",
        Api::Native,
        "  middleware: [headers]\n  headers:\n    cors:\n      allowed_origin: \"https://ignored.example\"\n      allowed_origin_regex: \"^https://[a-z]+\\\\.regex\\\\.example$\"\n",
    );
    let s = a.serve();
    let r = get_h(&s, "/", &[("Origin", "https://abc.regex.example")]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://abc.regex.example")
    );
    let r = get_h(&s, "/", &[("Origin", "https://ignored.example")]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "the regex replaces the list"
    );
}

#[test]
fn compression_gzip_br_zstd() {
    let a = http_app(
        "gzip",
        Api::Native,
        "  middleware: [static, gzip]\n  static:\n    dir: public\n",
    );
    a.file("public/big.txt", &"static text ".repeat(500));
    let s = a.serve();
    let expected = "abcdefgh".repeat(1000);
    for (accept, enc) in [
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("zstd, gzip;q=0.5", "zstd"),
        ("br;q=0.1, gzip", "gzip"),
    ] {
        let r = get_h(&s, "/big?size=8000", &[("Accept-Encoding", accept)]);
        assert_eq!(r.header("content-encoding"), Some(enc), "{accept}");
        assert!(r.header("vary").unwrap_or("").contains("Accept-Encoding"));
        assert!(r.body.len() < 8000);
        assert_eq!(
            String::from_utf8(decode(enc, &r.body)).unwrap(),
            expected,
            "{accept}"
        );
    }
    // Static files go through gzip too (static is inside gzip here).
    let r = get_h(&s, "/big.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        decode("gzip", &r.body),
        "static text ".repeat(500).into_bytes()
    );
    // Not compressed: small bodies, compressed types, clients that do not ask.
    let r = get_h(&s, "/big?size=800", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), None);
    let r = get_h(
        &s,
        "/big?size=8000&type=image/png",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body.len(), 8000);
    let r = get_h(&s, "/big?size=8000", &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), expected);
}

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, data) in parts {
        write!(
            b,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""
        )
        .unwrap();
        if let Some(f) = file {
            write!(
                b,
                "; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            )
            .unwrap();
        }
        b.extend_from_slice(b"\r\n\r\n");
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    write!(b, "--{boundary}--\r\n").unwrap();
    b
}

#[test]
fn uploads_three_files_one_forbidden() {
    for api in [Api::Native, Api::Relay] {
        let a = http_app(
            "uploads",
            api,
            "  uploads:\n    dir: up\n    forbid: [.php, .exe]\n",
        );
        std::fs::create_dir_all(a.dir.join("up")).unwrap();
        let s = a.serve();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let body = multipart(
            "XyZzY",
            &[
                ("title", None, b"hello"),
                ("tags[]", None, b"a"),
                ("tags[]", None, b"b"),
                ("doc", Some("report.pdf"), &big),
                ("files[]", Some("one.txt"), b"first file"),
                ("files[]", Some("evil.PHP"), b"<?php system($_GET['x']);"),
            ],
        );
        let r = s.post("/uploads", "multipart/form-data; boundary=XyZzY", &body);
        assert_eq!(r.status, 200, "{api:?}: {}", r.text());
        let j = r.json();
        assert_eq!(
            j["parsed"],
            serde_json::json!({"title":"hello","tags":["a","b"]}),
            "{api:?}"
        );
        let doc = &j["uploads"]["doc"];
        assert_eq!(doc["name"], "report.pdf");
        assert_eq!(doc["mime"], "application/octet-stream");
        assert_eq!(doc["size"], 300_000);
        assert_eq!(doc["error"], 0);
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            vec!["name", "mime", "size", "error", "tmpName"],
            "contract order"
        );
        let tmp = doc["tmpName"].as_str().unwrap();
        assert!(
            tmp.starts_with(&a.dir.join("up").join("upload").display().to_string()),
            "{tmp}"
        );
        assert_eq!(j["files"]["doc"]["sha256"], hex(&Sha256::digest(&big)));
        let files = j["uploads"]["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0]["name"], "one.txt");
        assert_eq!(files[0]["error"], 0);
        assert_eq!(
            j["files"]["files.0"]["sha256"],
            hex(&Sha256::digest(b"first file"))
        );
        assert_eq!(files[1]["name"], "evil.PHP");
        assert_eq!(
            files[1]["error"], 8,
            "forbidden extension (case-insensitive)"
        );
        assert_eq!(files[1]["size"], 0);
        assert_eq!(files[1]["tmpName"], "");
        // Deleted once the response is written.
        let up = a.dir.join("up");
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read_dir(&up)
                .unwrap()
                .count()
                == 0),
            "{api:?}: upload files left behind: {:?}",
            std::fs::read_dir(&up).unwrap().collect::<Vec<_>>()
        );
        // raw_body would pass the bytes; a non-multipart body is untouched.
        let r = s.post("/", "application/octet-stream", b"12345");
        assert_eq!(r.json()["body_len"], 5);
    }
}

#[test]
fn uploads_allow_list_and_raw_body() {
    let a = http_app("allow", Api::Native, "  uploads:\n    allow: [.png]\n");
    let s = a.serve();
    let body = multipart(
        "b1",
        &[("a", Some("x.png"), b"png"), ("b", Some("y.gif"), b"gif")],
    );
    let j = s
        .post("/uploads", "multipart/form-data; boundary=b1", &body)
        .json();
    assert_eq!(j["uploads"]["a"]["error"], 0);
    assert_eq!(j["uploads"]["b"]["error"], 8);
    drop(s);
    let a = http_app("rawbody", Api::Native, "  raw_body: true\n");
    let s = a.serve();
    let j = s
        .post("/uploads", "multipart/form-data; boundary=b1", &body)
        .json();
    assert!(j["uploads"].as_array().is_some_and(|x| x.is_empty()), "{j}");
    assert!(j["parsed"].is_null());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Read the response head from a socket that may be reset afterwards.
fn read_head(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn max_request_size_413_with_flat_memory() {
    let a = http_app(
        "limit",
        Api::Native,
        "  max_request_size: 100\n  uploads:\n    dir: up\n",
    );
    std::fs::create_dir_all(a.dir.join("up")).unwrap();
    let s = a.serve();
    let pid = s.pid();

    // Announced length over the limit: 413 before any of the body is read.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: {}\r\n\r\n",
        200u64 << 20
    )
    .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    drop(c);

    // Chunked, no length: streamed to disk until the limit, then 413.
    let before = rss_kb(pid);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut peak = 0;
        let head = "POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n";
        if w.write_all(head.as_bytes()).is_err() {
            return peak;
        }
        let start =
            b"--zz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\n\r\n";
        let _ = write!(w, "{:x}\r\n", start.len());
        let _ = w.write_all(start);
        let _ = w.write_all(b"\r\n");
        let chunk = vec![b'z'; 1 << 20];
        for i in 0..200 {
            if write!(w, "{:x}\r\n", chunk.len()).is_err()
                || w.write_all(&chunk).is_err()
                || w.write_all(b"\r\n").is_err()
            {
                break;
            }
            if i % 10 == 0 {
                peak = peak.max(rss_kb(pid));
            }
        }
        peak
    });
    let head = read_head(&mut c);
    let peak = writer.join().unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let grown_mb = peak.saturating_sub(before) / 1024;
    eprintln!(
        "RSS before {} MB, peak during a 200 MB upload {} MB",
        before / 1024,
        peak / 1024
    );
    assert!(
        grown_mb < 64,
        "memory grew by {grown_mb} MB during the upload"
    );
    let up = a.dir.join("up");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_dir(&up)
            .unwrap()
            .count()
            == 0),
        "partial upload left behind"
    );
    // The worker is fine afterwards.
    assert_eq!(s.get("/").json()["php"], true);
}

#[test]
fn streaming_and_client_abort() {
    // Both worker APIs stream: STREAM frames on the relay, parts through the
    // native functions.
    for api in [Api::Relay, Api::Native] {
        let a = http_app("stream", api, "");
        let s = a.serve();
        let resp = raw_req(
            s.port,
            "GET /stream?n=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{api:?}: {resp}");
        let lower = resp.to_ascii_lowercase();
        assert!(
            lower.contains("transfer-encoding: chunked"),
            "{api:?}: {resp}"
        );
        assert!(lower.contains("x-streamed: yes"));
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
        for i in 0..4 {
            assert!(body.contains(&format!("chunk {i}\n")), "{resp}");
        }
        assert!(body.contains("done\n"));
        // The same via ureq (dechunked), in order.
        let r = s.get("/stream?n=3");
        assert_eq!(r.text(), "chunk 0\nchunk 1\nchunk 2\ndone\n", "{api:?}");

        // A client that disconnects mid-stream: PHP gets StreamStoppedException.
        let mark = a.dir.join("stopped.txt");
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        write!(
            c,
            "GET /forever?mark={} HTTP/1.1\r\nHost: x\r\n\r\n",
            mark.display()
        )
        .unwrap();
        let mut got = vec![0u8; 8192];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = c.read(&mut got).unwrap();
        assert!(n > 0);
        drop(c);
        assert!(
            wait_until(Duration::from_secs(20), || mark_written(&mark)),
            "{api:?}: the worker never saw the stop:\n{}",
            s.log()
        );
        // The only worker is free again.
        assert_eq!(s.get("/").json()["php"], true);
    }
}

/// `error()` after the first part of a streamed response: the response is
/// cut (never a last chunk: the client can tell it is incomplete) and the
/// worker stays, on both worker APIs.
#[test]
fn error_during_a_stream_cuts_it_and_the_worker_stays() {
    for api in [Api::Relay, Api::Native] {
        let a = http_app("stream-error", api, "");
        let s = a.serve();
        let resp = raw_req(
            s.port,
            "GET /stream-error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        // The connection closes before the last chunk: with nothing at all
        // when the head was not flushed yet, else after the first part.
        assert!(
            resp.is_empty() || resp.starts_with("HTTP/1.1 200"),
            "{api:?}: {resp}"
        );
        assert!(
            !resp.contains("\r\n0\r\n\r\n"),
            "{api:?}: the response must be cut, not ended: {resp:?}"
        );
        assert!(
            s.wait_log(
                "worker error during a streamed response: failed mid-stream",
                Duration::from_secs(5)
            ),
            "{api:?}: {}",
            s.log()
        );
        assert_eq!(s.get("/").json()["php"], true, "{api:?}");
        assert!(
            !s.log().contains("restarting the worker"),
            "{api:?}: the worker must stay: {}",
            s.log()
        );
    }
}

#[test]
fn early_hints_are_interim_responses() {
    for api in [Api::Relay, Api::Native] {
        let a = http_app("hints", api, "");
        let s = a.serve();
        let resp = raw_req(
            s.port,
            "GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(
            resp.starts_with("HTTP/1.1 103 Early Hints\r\n"),
            "{api:?}: {resp}"
        );
        let (hint, rest) = resp.split_once("\r\n\r\n").unwrap();
        assert!(
            hint.contains("</style.css>; rel=preload; as=style"),
            "{hint}"
        );
        assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
        let final_head = rest.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(
            !final_head.contains("link:"),
            "hint headers leaked into the final response: {rest}"
        );
        assert!(final_head.contains("x-final: 1"));
        assert!(rest.ends_with("final"), "{rest}");
        // HTTP/1.0 clients never get a 1xx.
        let resp = raw_req(s.port, "GET /hints HTTP/1.0\r\nHost: x\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
    }
}

#[test]
fn trailers_and_http10() {
    for api in [Api::Native, Api::Relay] {
        let a = http_app("trailers", api, "");
        let s = a.serve();
        let resp = raw_req(
            s.port,
            "GET /trailer HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        );
        let lower = resp.to_ascii_lowercase();
        assert!(
            lower.contains("transfer-encoding: chunked"),
            "{api:?}: {resp}"
        );
        assert!(lower.contains("trailer: x-checksum"), "{resp}");
        let (head, body) = lower.split_once("\r\n\r\n").unwrap();
        assert!(
            !head.contains("x-checksum: abc123"),
            "moved out of the head: {resp}"
        );
        assert!(body.contains("with trailers"));
        assert!(
            body.contains("x-checksum: abc123"),
            "sent as a trailer: {resp}"
        );

        let resp = raw_req(s.port, "GET /x HTTP/1.0\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
        assert!(resp.contains("\"protocol\":\"HTTP/1.0\""), "{resp}");
        // A stream to an HTTP/1.0 client ends by closing the connection.
        let resp = raw_req(s.port, "GET /stream?n=2 HTTP/1.0\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
        assert!(
            resp.ends_with("chunk 0\nchunk 1\ndone\n"),
            "{api:?}: {resp}"
        );
    }
}

#[test]
fn trusted_subnets_set_remote_addr() {
    let a = http_app(
        "proxy",
        Api::Native,
        "  middleware: [proxy_ip_parser]\n  trusted_subnets: [\"127.0.0.0/8\", \"::1/128\"]\n  access_logs: true\n  internal_error_code: 503\n",
    );
    let s = a.serve();
    // internal_error_code for worker errors; the access log has the client address.
    let r = get_h(&s, "/error", &[("X-Real-IP", "198.51.100.77")]);
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "", "no error text outside pool.debug");
    assert!(
        s.wait_log("http access log", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert!(s.log().contains("198.51.100.77"), "{}", s.log());
    for (h, v, want) in [
        ("X-Forwarded-For", "203.0.113.7, 10.0.0.1", "203.0.113.7"),
        ("X-Real-IP", "198.51.100.2", "198.51.100.2"),
        (
            "Forwarded",
            "for=\"[2001:db8::5]:1234\";proto=https",
            "2001:db8::5",
        ),
        ("True-Client-IP", "192.0.2.9", "192.0.2.9"),
        ("X-Forwarded-For", "garbage", "127.0.0.1"),
    ] {
        let j = get_h(&s, "/", &[(h, v)]).json();
        assert_eq!(j["remoteAddr"], want, "{h}: {v}");
    }
    drop(s);
    // Untrusted peer (loopback not listed): the headers are ignored.
    let a = http_app(
        "proxy2",
        Api::Native,
        "  middleware: [proxy_ip_parser]\n  trusted_subnets: [\"10.0.0.0/8\"]\n",
    );
    let s = a.serve();
    let j = get_h(&s, "/", &[("X-Forwarded-For", "203.0.113.7")]).json();
    assert_eq!(j["remoteAddr"], "127.0.0.1");
}

struct Certs {
    ca: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
}

fn make_certs(a: &App) -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "rustrunner test CA");
    let ca = p.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    let ckey = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["client".to_string()]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let ccert = p.signed_by(&ckey, &ca, &ca_key).unwrap();
    a.file("tls/ca.pem", &ca.pem());
    a.file("tls/cert.pem", &cert.pem());
    a.file("tls/key.pem", &key.serialize_pem());
    a.file("tls/client.pem", &ccert.pem());
    a.file("tls/client.key", &ckey.serialize_pem());
    Certs {
        ca: a.dir.join("tls/ca.pem"),
        client_cert: a.dir.join("tls/client.pem"),
        client_key: a.dir.join("tls/client.key"),
    }
}

#[test]
fn tls_http2_redirect_and_client_certs() {
    let ssl_port = free_port();
    let a = http_app(
        "tls",
        Api::Native,
        &format!("  ssl:\n    address: 127.0.0.1:{ssl_port}\n    cert: tls/cert.pem\n    key: tls/key.pem\n    redirect: true\n"),
    );
    let c = make_certs(&a);
    let s = a.serve();
    let ca = c.ca.display().to_string();
    let url = format!("https://127.0.0.1:{ssl_port}/p?q=1");
    let (out, err) = curl(&["--cacert", &ca, "--http2", "-w", "\n%{http_version}", &url]);
    let (body, ver) = out.rsplit_once('\n').unwrap_or(("", ""));
    assert_eq!(ver, "2", "HTTP/2 over TLS (ALPN): {out} {err}");
    let j: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(j["protocol"], "HTTP/2.0");
    assert_eq!(j["uri"], format!("https://127.0.0.1:{ssl_port}/p?q=1"));
    let (out, err) = curl(&[
        "--cacert",
        &ca,
        "--http1.1",
        "-w",
        "\n%{http_version}",
        &url,
    ]);
    assert!(out.ends_with("\n1.1"), "{out} {err}");
    assert!(out.contains("\"protocol\":\"HTTP/1.1\""));
    // The plain listener redirects everything.
    let (out, _) = curl(&["-i", &s.url("/a/b?c=d")]);
    assert!(out.starts_with("HTTP/1.1 308"), "{out}");
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("location: https://127.0.0.1:{ssl_port}/a/b?c=d")),
        "{out}"
    );
    assert!(
        lower.contains("strict-transport-security: max-age=31536000; includesubdomains; preload")
    );
    drop(s);

    // Client certificates against root_ca.
    let ssl_port = free_port();
    let a = http_app(
        "mtls",
        Api::Native,
        &format!("  ssl:\n    address: 127.0.0.1:{ssl_port}\n    cert: tls/cert.pem\n    key: tls/key.pem\n    root_ca: tls/ca.pem\n    client_auth_type: require_and_verify_client_cert\n"),
    );
    let c = make_certs(&a);
    let _s = a.serve();
    let ca = c.ca.display().to_string();
    let url = format!("https://127.0.0.1:{ssl_port}/");
    let (out, err) = curl(&["--cacert", &ca, &url]);
    assert!(
        !out.contains("\"php\":true"),
        "no client certificate must be refused: {out}"
    );
    assert!(!err.is_empty());
    let (out, err) = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &c.client_cert.display().to_string(),
        "--key",
        &c.client_key.display().to_string(),
        &url,
    ]);
    assert!(out.contains("\"php\":true"), "{out} {err}");
}

#[test]
fn h2c_prior_knowledge() {
    let a = http_app(
        "h2c",
        Api::Native,
        "  http2:\n    h2c: true\n    max_concurrent_streams: 16\n",
    );
    let s = a.serve();
    let (out, err) = curl(&["--http2-prior-knowledge", &s.url("/x")]);
    assert!(out.contains("\"protocol\":\"HTTP/2.0\""), "{out} {err}");
    assert!(out.contains("\"uri\":\"http://127.0.0.1:"), "{out}");
    // HTTP/1.1 still works on the same port.
    assert_eq!(s.get("/").json()["protocol"], "HTTP/1.1");
    drop(s);
    let a = http_app("no-h2c", Api::Native, "");
    let s = a.serve();
    let (out, _) = curl(&["--http2-prior-knowledge", &s.url("/x")]);
    assert!(
        !out.contains("\"php\":true"),
        "h2c is off by default: {out}"
    );
}

#[test]
fn stalled_client_does_not_pin_the_worker() {
    let a = http_app(
        "slow",
        Api::Relay,
        "  timeouts:\n    write: 2s\n    read_header: 2s\n    read: 1s\n",
    );
    let s = a.serve();
    // A client asks for 64 MB and never reads.
    let mut stalled = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stalled
        .write_all(b"GET /big?size=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The only worker still answers others.
    for _ in 0..3 {
        assert_eq!(s.get("/").json()["php"], true);
    }
    // The stalled connection is dropped after the write timeout.
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0usize;
    std::thread::sleep(Duration::from_secs(3));
    loop {
        match stalled.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(
        total < 64 << 20,
        "the connection should have been cut, got all {total} bytes"
    );

    // A client that never finishes its headers is disconnected.
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("\"php\":true"));

    // A body that stops halfway gets 408 and never reaches PHP.
    let resp = raw_req(
        s.port,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nab",
    );
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert_eq!(s.get("/").json()["php"], true);
}

#[test]
fn config_errors_and_warnings() {
    let a = http_app(
        "fcgi",
        Api::Native,
        "  fcgi:\n    address: tcp://127.0.0.1:9000\n",
    );
    let (code, out) = a.run(&["serve"], Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("http.fcgi") && out.contains("not supported"),
        "{out}"
    );
    let a = http_app(
        "nodir",
        Api::Native,
        "  middleware: [static]\n  static:\n    dir: nowhere\n",
    );
    let (code, out) = a.run(&["serve"], Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("http.static.dir") && out.contains("nowhere"),
        "{out}"
    );
    let a = http_app(
        "nocert",
        Api::Native,
        "  ssl:\n    address: 127.0.0.1:1\n    cert: missing.pem\n    key: missing.key\n",
    );
    let (code, out) = a.run(&["serve"], Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("http.ssl.cert"), "{out}");
    let a = http_app(
        "warn",
        Api::Native,
        "  middleware: [sendfile, nosuch]\n  bogus_key: 1\n",
    );
    let s = a.serve();
    assert!(
        s.wait_log("http.bogus_key", Duration::from_secs(5)),
        "{}",
        s.log()
    );
    assert!(s.log().contains("nosuch"));
}

// ---------------------------------------------------------------------------
// Streamed responses and slow readers: the parts between a worker and the
// client are bounded, so a client that stops reading holds a worker (until it
// leaves or the write timeout passes) but never the server's memory.

/// tests/fixtures/http.php on `api` with two workers; `extra` holds more
/// `http:` keys, indented by two spaces.
/// The fixture's mark file holds its line: PHP's file_put_contents creates
/// the file before it writes, so its mere existence is not enough.
fn mark_written(mark: &std::path::Path) -> bool {
    std::fs::read_to_string(mark).is_ok_and(|m| !m.is_empty())
}

fn two_worker_app(name: &str, api: Api, extra: &str) -> App {
    let yaml = format!(
        "version: \"3\"\nserver:\n  command: \"php http.php\"\n{}http:\n  address: 127.0.0.1:{{port}}\n{extra}  pool:\n    num_workers: 2\nlogs:\n  mode: development\n  level: debug\n",
        api.server_yaml()
    );
    let a = App::new(name, &yaml);
    a.fixture("http.php");
    a
}

/// 512 MiB in 64 KiB parts.
const FLOOD_PARTS: usize = 8192;
const PART: usize = 64 * 1024;

/// Does `body` hold `parts` parts of `size` bytes of /flood, in order?
fn check_flood(body: &[u8], parts: usize, size: usize) -> Result<(), String> {
    if body.len() != parts * size {
        return Err(format!("{} bytes, expected {}", body.len(), parts * size));
    }
    for (i, part) in body.chunks(size).enumerate() {
        let rec = format!("{i:07} ");
        if let Some(at) = part.chunks(8).position(|r| r != rec.as_bytes()) {
            return Err(format!(
                "part {i}, record {at}: {:?}",
                String::from_utf8_lossy(&part[at * 8..(at * 8 + 8).min(part.len())])
            ));
        }
    }
    Ok(())
}

/// Ask for a 512 MiB stream, read its head, then read nothing. Returns the
/// socket and the peak RSS of `s` (kB) seen until the worker finished, or
/// stopped handing parts over (its progress mark stayed the same for 3 s).
fn flood_a_stalled_client(s: &Server, mark: &std::path::Path) -> (TcpStream, u64) {
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "GET /flood?parts={FLOOD_PARTS}&size={PART}&mark={} HTTP/1.1\r\nHost: x\r\n\r\n",
        mark.display()
    )
    .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let progress_file = mark.with_extension("progress");
    let progress = || {
        std::fs::read_to_string(&progress_file)
            .ok()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    let mut peak = 0;
    let (mut last, mut same) = (0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) && !mark.exists() {
        peak = peak.max(rss_kb(s.pid()));
        let p = progress();
        if p > 0 && p == last {
            same += 1;
            if same >= 30 {
                break;
            }
        } else {
            (last, same) = (p, 0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    peak = peak.max(rss_kb(s.pid()));
    (c, peak)
}

/// Two /pair requests at once: both answer "paired" only when two workers
/// take them together.
fn both_workers_free(s: &Server, dir: &std::path::Path) -> bool {
    let url = s.url(&format!("/pair?dir={}", dir.display()));
    let other = {
        let url = url.clone();
        std::thread::spawn(move || request(ureq::get(&url), None).text())
    };
    let mine = request(ureq::get(&url), None).text();
    let theirs = other.join().unwrap();
    mine == "paired" && theirs == "paired"
}

#[test]
fn stalled_stream_is_bounded_until_the_client_hangs_up() {
    for api in [Api::Native, Api::Relay, Api::Process] {
        let a = two_worker_app("flood-hangup", api, "");
        let s = a.serve();
        for _ in 0..2 {
            assert_eq!(s.get("/").json()["php"], true);
        }
        let before = rss_kb(s.pid());
        let mark = a.dir.join("flood");
        let (client, peak) = flood_a_stalled_client(&s, &mark);
        let grown_mb = peak.saturating_sub(before) / 1024;
        let progress = std::fs::read_to_string(mark.with_extension("progress")).unwrap_or_default();
        eprintln!(
            "{api:?}: RSS before {} MB, peak {} MB (+{grown_mb} MB) while a client stalls a 512 MiB stream; parts handed over: {} of {FLOOD_PARTS}",
            before / 1024,
            peak / 1024,
            progress.trim()
        );
        assert!(
            grown_mb < 128,
            "{api:?}: the server buffered the stream: +{grown_mb} MB"
        );
        assert!(
            !mark.exists(),
            "{api:?}: the stream should wait for the client, but it ended: {}",
            std::fs::read_to_string(&mark).unwrap_or_default()
        );
        // The other worker serves meanwhile.
        for _ in 0..3 {
            assert_eq!(s.get("/").json()["php"], true, "{api:?}");
        }
        // The client hangs up: the generator gets StreamStoppedException and
        // the worker is free again.
        drop(client);
        assert!(
            wait_until(Duration::from_secs(30), || std::fs::read_to_string(&mark)
                .is_ok_and(|m| m.starts_with("stopped"))),
            "{api:?}: the worker never saw the client leave: {:?}\n{}",
            std::fs::read_to_string(&mark),
            s.log()
        );
        assert!(
            both_workers_free(&s, &a.dir.join("pair")),
            "{api:?}: the streaming worker did not come back:\n{}",
            s.log()
        );
    }
}

#[test]
fn stalled_stream_ends_at_the_write_timeout() {
    for api in [Api::Native, Api::Relay, Api::Process] {
        let a = two_worker_app("flood-stall", api, "  timeouts:\n    write: 2s\n");
        let s = a.serve();
        for _ in 0..2 {
            assert_eq!(s.get("/").json()["php"], true);
        }
        let before = rss_kb(s.pid());
        let mark = a.dir.join("flood");
        // The client stays connected and never reads: after the write
        // timeout the stream ends and the worker is released.
        let (mut client, peak) = flood_a_stalled_client(&s, &mark);
        assert!(
            wait_until(Duration::from_secs(60), || mark_written(&mark)),
            "{api:?}: the stream never ended:\n{}",
            s.log()
        );
        let grown_mb = peak.saturating_sub(before) / 1024;
        eprintln!(
            "{api:?}: RSS before {} MB, peak {} MB (+{grown_mb} MB) until the write timeout",
            before / 1024,
            peak / 1024
        );
        assert!(
            grown_mb < 128,
            "{api:?}: the server buffered the stream: +{grown_mb} MB"
        );
        let how = std::fs::read_to_string(&mark).unwrap();
        assert!(
            how.starts_with("stopped"),
            "{api:?}: the worker should have been stopped, not: {how}"
        );
        assert!(
            both_workers_free(&s, &a.dir.join("pair")),
            "{api:?}: the streaming worker did not come back:\n{}",
            s.log()
        );
        // The stalled client's response was cut short.
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0usize;
        loop {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(
            total < FLOOD_PARTS * PART,
            "{api:?}: the stalled response should have been cut, got all {total} bytes"
        );
    }

    // HTTP/2: a stalled stream leaves its connection idle (nothing waits to
    // be written while the stream's window is closed), so only the worker's
    // own wait can see the stall.
    let a = two_worker_app(
        "flood-stall-h2",
        Api::Native,
        "  timeouts:\n    write: 2s\n  http2:\n    h2c: true\n",
    );
    let s = a.serve();
    assert_eq!(s.get("/").json()["php"], true);
    let before = rss_kb(s.pid());
    let mark = a.dir.join("flood");
    let url = s.url(&format!(
        "/flood?parts={FLOOD_PARTS}&size={PART}&mark={}",
        mark.display()
    ));
    // curl writes the body into a pipe nobody reads: once the pipe is full
    // it stops reading, and the stream's window closes.
    let mut stalled = Command::new("curl")
        .args(["-sS", "--max-time", "120", "--http2-prior-knowledge", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("these tests need curl (with HTTP/2) on PATH");
    let mut peak = 0;
    let ended = wait_until(Duration::from_secs(60), || {
        peak = peak.max(rss_kb(s.pid()));
        mark_written(&mark)
    });
    let _ = stalled.kill();
    let _ = stalled.wait();
    assert!(ended, "HTTP/2: the stream never ended:\n{}", s.log());
    let grown_mb = peak.saturating_sub(before) / 1024;
    eprintln!(
        "HTTP/2: RSS before {} MB, peak {} MB (+{grown_mb} MB) until the write timeout",
        before / 1024,
        peak / 1024
    );
    assert!(
        grown_mb < 128,
        "HTTP/2: the server buffered the stream: +{grown_mb} MB"
    );
    let how = std::fs::read_to_string(&mark).unwrap();
    assert!(
        how.starts_with("stopped"),
        "HTTP/2: the worker should have been stopped, not: {how}"
    );
    assert!(
        both_workers_free(&s, &a.dir.join("pair")),
        "HTTP/2: the streaming worker did not come back:\n{}",
        s.log()
    );
}

#[test]
fn streamed_response_arrives_whole_and_in_order() {
    let (parts, size) = (256, PART);
    for api in [Api::Native, Api::Relay, Api::Process] {
        let a = two_worker_app("flood-ok", api, "  http2:\n    h2c: true\n");
        let s = a.serve();
        // HTTP/1.1, read with pauses at first (the worker waits, then goes
        // on), then at full speed.
        let mark = a.dir.join("h1");
        let r = ureq::get(&s.url(&format!(
            "/flood?parts={parts}&size={size}&mark={}",
            mark.display()
        )))
        .timeout(Duration::from_secs(120))
        .call()
        .unwrap();
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        let mut rd = r.into_reader();
        let mut body = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = rd.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let mb = body.len() >> 20;
            body.extend_from_slice(&buf[..n]);
            if body.len() < 4 << 20 && body.len() >> 20 != mb {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if let Err(e) = check_flood(&body, parts, size) {
            panic!("{api:?}: HTTP/1.1 stream: {e}");
        }
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read_to_string(&mark)
                .is_ok_and(|m| m == format!("finished {parts}\n"))),
            "{api:?}: {:?}",
            std::fs::read_to_string(&mark)
        );
        // HTTP/2 (h2c).
        let out = a.dir.join("h2.bin");
        let (version, err) = curl(&[
            "--http2-prior-knowledge",
            "-o",
            &out.display().to_string(),
            "-w",
            "%{http_version}",
            &s.url(&format!("/flood?parts={parts}&size={size}")),
        ]);
        let body = std::fs::read(&out).unwrap_or_default();
        if let Err(e) = check_flood(&body, parts, size) {
            panic!("{api:?}: HTTP/2 stream: {e} ({err})");
        }
        assert_eq!(version, "2", "{api:?}: {err}");
        // Several streams at once, both workers busy.
        let url = s.url(&format!("/flood?parts={parts}&size={size}"));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || request(ureq::get(&url), None).body)
            })
            .collect();
        for t in readers {
            let body = t.join().unwrap();
            if let Err(e) = check_flood(&body, parts, size) {
                panic!("{api:?}: concurrent stream: {e}");
            }
        }
    }
}

/// exec_ttl also bounds a streamed response: the stream is cut and the
/// restart is counted as execTTLReached, not as an error.
#[test]
fn exec_ttl_cuts_a_streamed_response() {
    for api in [Api::Native, Api::Relay] {
        let yaml = format!(
            "version: \"3\"\nserver:\n  command: \"php http.php\"\n{}http:\n  address: 127.0.0.1:{{port}}\n  pool:\n    num_workers: 1\n    supervisor:\n      exec_ttl: 1s\nlogs:\n  mode: development\n  level: debug\n",
            api.server_yaml()
        );
        let a = App::new("stream-execttl", &yaml);
        a.fixture("http.php");
        let s = a.serve();
        let mark = a.dir.join("mark");
        let out = raw(
            s.port,
            format!(
                "GET /forever?mark={} HTTP/1.1\r\nHost: x\r\n\r\n",
                mark.display()
            )
            .as_bytes(),
        );
        assert!(
            out.starts_with("HTTP/1.1 200"),
            "{api:?}: {}",
            &out[..out.len().min(200)]
        );
        assert!(
            !out.ends_with("0\r\n\r\n"),
            "{api:?}: a cut stream is not a whole one"
        );
        assert!(
            s.wait_log("execTTLReached", Duration::from_secs(10)),
            "{api:?}: {}",
            s.log()
        );
        assert_eq!(
            s.get("/").json()["php"],
            true,
            "{api:?}: the worker serves again"
        );
    }
}

/// issue 15 (item 9): a process worker that dies in the middle of its
/// streamed response: the client gets what it wrote and a cleanly ended
/// body, as RoadRunner does; the pool replaces the worker.
#[test]
fn a_process_worker_dying_mid_stream_ends_the_body() {
    let a = http_app("stream-exit", Api::Process, "");
    let s = a.serve();
    let resp = raw_req(
        s.port,
        "GET /stream-exit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp:?}\n{}", s.log());
    assert!(resp.contains("first part\n"), "{resp:?}");
    assert!(resp.ends_with("\r\n0\r\n\r\n"), "ended cleanly: {resp:?}");
    assert_eq!(s.get("/").json()["php"], true);
}
