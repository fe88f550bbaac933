//! The ceiling for the benchmarks: hyper on tokio answering the same bytes
//! as the PHP workers, with no PHP at all. Same runtime setup as `rr serve`.
//!
//!     bare-hyper 127.0.0.1:18401

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

const HELLO: &str = "Hello from RoadRunner!";

fn json_16k() -> Bytes {
    let mut items = Vec::new();
    let mut i = 0;
    loop {
        let item = format!(
            "{{\"id\":{i},\"name\":\"item {i}\",\"tags\":[\"a\",\"b\",\"c\"],\"price\":{}.5}}",
            i * 3
        );
        let len: usize = items.iter().map(|s: &String| s.len() + 1).sum();
        if len + item.len() > 16 * 1024 - 20 {
            break;
        }
        items.push(item);
        i += 1;
    }
    Bytes::from(format!("{{\"items\":[{}]}}", items.join(",")))
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    json: Bytes,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let (ctype, out) = match path.as_str() {
        "/json" => ("application/json", json),
        "/echo" => ("application/octet-stream", body),
        _ => ("text/plain", Bytes::from_static(HELLO.as_bytes())),
    };
    let mut r = Response::new(Full::new(out));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(ctype),
    );
    Ok(r)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18401".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
        let json = json_16k();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let json = json.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, json.clone()));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}
