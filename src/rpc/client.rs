//! A blocking goridge RPC client with the JSON codec, for `rr workers` and
//! `rr reset`.

use crate::config::Listen;
use crate::relay::frame::{self, Decoder};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub struct Client {
    conn: Box<dyn Stream>,
    seq: u32,
    dec: Decoder,
    addr: String,
}

impl Client {
    pub fn connect(listen: &Listen, timeout: Duration) -> Result<Client, String> {
        let (conn, addr): (Box<dyn Stream>, String) = match listen {
            Listen::Tcp(a) => {
                let a = a.replacen("0.0.0.0:", "127.0.0.1:", 1);
                let s = std::net::TcpStream::connect(&a)
                    .map_err(|e| format!("cannot connect to the RPC server at tcp://{a}: {e}"))?;
                let _ = s.set_read_timeout(Some(timeout));
                (Box::new(s), format!("tcp://{a}"))
            }
            Listen::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p).map_err(|e| {
                    format!(
                        "cannot connect to the RPC server at unix://{}: {e}",
                        p.display()
                    )
                })?;
                let _ = s.set_read_timeout(Some(timeout));
                (Box::new(s), format!("unix://{}", p.display()))
            }
        };
        Ok(Client {
            conn,
            seq: 0,
            dec: Decoder::new(64 << 20),
            addr,
        })
    }

    /// Call `Service.Method` with a JSON argument.
    pub fn call(&mut self, method: &str, arg: &Value) -> Result<Value, String> {
        let body = serde_json::to_vec(arg).map_err(|e| e.to_string())?;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let req = frame::encode(
            frame::CODEC_JSON,
            0,
            &[seq, method.len() as u32],
            &[method.as_bytes(), &body],
        );
        self.conn
            .write_all(&req)
            .map_err(|e| format!("{method}: cannot send to {}: {e}", self.addr))?;
        let mut buf = [0u8; 16 * 1024];
        let f = loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(e) => return Err(format!("{method}: bad reply from {}: {e}", self.addr)),
            }
            let n = self
                .conn
                .read(&mut buf)
                .map_err(|e| format!("{method}: no reply from {}: {e}", self.addr))?;
            if n == 0 {
                return Err(format!("{method}: {} closed the connection", self.addr));
            }
            self.dec.push(&buf[..n]);
        };
        if f.options.len() != 2 || f.options[0] != seq {
            return Err(format!(
                "{method}: reply out of sequence from {}",
                self.addr
            ));
        }
        let mlen = (f.options[1] as usize).min(f.payload.len());
        let data = &f.payload[mlen..];
        if f.flags & frame::ERROR != 0 {
            return Err(String::from_utf8_lossy(data).into_owned());
        }
        if data.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(data).map_err(|e| format!("{method}: reply is not JSON: {e}"))
    }
}
