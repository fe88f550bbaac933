//! RoadRunner parity (issue 15): places where RoadRunner answers differently,
//! over real HTTP against the real `rr` binary and real PHP.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn echo_app(name: &str, api: Api) -> App {
    php_app(name, api, "echo.php", "    num_workers: 1\n", "")
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "XbOuNdArYx";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Item 3: `key[subkey]value=1` → key → subkey → value, as RoadRunner's
/// parser, in url-encoded and multipart forms.
#[test]
fn form_keys_with_text_after_bracket() {
    let a = echo_app("formkeys", Api::Native);
    let s = a.serve();
    let r = s.post(
        "/form",
        "application/x-www-form-urlencoded",
        b"key[subkey]value=1&opts=&opts[0][name]=n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["parsed"],
        serde_json::json!({"key":{"subkey":{"value":"1"}},"opts":[{"name":"n"}]})
    );
    let (ct, body) = multipart(&[("key[subkey]value", None, b"2")]);
    let r = s.post("/multipart", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["parsed"],
        serde_json::json!({"key":{"subkey":{"value":"2"}}})
    );
}
