//! RPC request decoding and reply encoding (goridge frames, contract.md §5):
//! pure functions, so the fuzzers reach exactly what the server runs.

use crate::relay::frame::{self, Frame};
use serde_json::Value;

/// A decoded request frame.
#[derive(Debug)]
pub struct Call {
    pub seq: u32,
    pub method: String,
    /// The codec flags of the request (without ERROR/CONTROL).
    pub codec: u8,
    /// The decoded argument, or why it could not be decoded (answered with
    /// an error frame, the connection stays open).
    pub arg: Result<Value, String>,
}

/// Decode a request frame. `Err` means it is not an RPC request at all and
/// the connection is closed.
pub fn decode_call(f: &Frame) -> Result<Call, String> {
    if f.options.len() != 2 {
        return Err(format!(
            "a request frame needs 2 options (seq, method length), got {}",
            f.options.len()
        ));
    }
    let (seq, mlen) = (f.options[0], f.options[1] as usize);
    if mlen > f.payload.len() {
        return Err(format!("method length {mlen} beyond the payload"));
    }
    let method = String::from_utf8_lossy(&f.payload[..mlen]).into_owned();
    let raw = &f.payload[mlen..];
    let codec = f.flags & !(frame::ERROR | frame::CONTROL);
    let arg = match codec {
        frame::CODEC_JSON => {
            if raw.is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_slice(raw).map_err(|e| format!("cannot decode the argument: {e}"))
            }
        }
        frame::CODEC_RAW => Ok(Value::String(String::from_utf8_lossy(raw).into())),
        other => Err(format!(
            "codec {other:#04x} is not supported: rustrunner's RPC speaks JSON (0x08); \
             use rustrunner's own rr CLI"
        )),
    };
    Ok(Call {
        seq,
        method,
        codec,
        arg,
    })
}

/// The reply frame to `call`: the result with the request's codec (RAW stays
/// RAW, everything else is answered in JSON), or an error frame.
pub fn encode_reply(call: &Call, result: &Result<Value, String>) -> Vec<u8> {
    let reply_codec = if call.codec == frame::CODEC_RAW {
        frame::CODEC_RAW
    } else {
        frame::CODEC_JSON
    };
    let m = call.method.as_bytes();
    let mlen = m.len() as u32;
    match result {
        Ok(v) => {
            let body = if reply_codec == frame::CODEC_RAW {
                match v {
                    Value::String(s) => s.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                }
            } else {
                serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
            };
            frame::encode(reply_codec, 0, &[call.seq, mlen], &[m, &body])
        }
        Err(e) => frame::encode(
            reply_codec | frame::ERROR,
            0,
            &[call.seq, mlen],
            &[m, e.as_bytes()],
        ),
    }
}
