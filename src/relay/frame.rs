//! Goridge v3 frames ("protocol version 1"), byte for byte as RoadRunner and
//! spiral/goridge write them (contract.md §1).
//!
//! ```text
//! 0      version<<4 | header length in 32-bit words (3 + options)
//! 1      flags
//! 2..6   payload length, u32 LE
//! 6..10  CRC-32 (IEEE) of bytes 0..6, u32 LE
//! 10     stream byte (STREAM/STOP/PING/PONG)
//! 11     reserved (0)
//! 12..   options, u32 LE each; then the payload
//! ```

use bytes::{Buf, Bytes, BytesMut};

pub const CONTROL: u8 = 0x01;
#[allow(dead_code)] // RPC codecs (rpc/)
pub const CODEC_RAW: u8 = 0x04;
pub const CODEC_JSON: u8 = 0x08;
#[allow(dead_code)]
pub const CODEC_GOB: u8 = 0x20;
pub const ERROR: u8 = 0x40;
#[allow(dead_code)]
pub const CODEC_PROTO: u8 = 0x80;

pub const STREAM: u8 = 0x01;
pub const STOP: u8 = 0x02;
pub const PING: u8 = 0x04;
pub const PONG: u8 = 0x08;

pub const HEADER_LEN: usize = 12;
/// RoadRunner caps options at 10 words.
pub const MAX_OPTIONS: usize = 10;

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub flags: u8,
    pub stream: u8,
    pub options: Vec<u32>,
    /// A view of the decoder's buffer (no copy): slicing it (`split_to`,
    /// `slice`) hands parts of it on without copying either.
    pub payload: Bytes,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The header's CRC does not match bytes 0..6.
    Crc {
        got: u32,
        want: u32,
        header: [u8; 12],
    },
    /// The header length nibble is below 3 or above 3 + MAX_OPTIONS.
    HeaderLength(u8),
    /// The payload is larger than the configured limit.
    TooLarge(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Crc { got, want, header } => {
                write!(
                    f,
                    "validation failed on the message sent by the worker: header CRC {got:#010x}, expected {want:#010x} (first bytes: {:?})",
                    String::from_utf8_lossy(header)
                )
            }
            FrameError::HeaderLength(hl) => write!(f, "invalid frame header length {hl}"),
            FrameError::TooLarge(n) => write!(f, "frame payload of {n} bytes is too large"),
        }
    }
}

pub fn crc(header: &[u8]) -> u32 {
    crc32fast::hash(&header[..6])
}

/// Encode a frame into `out` (appending), in one contiguous buffer so the
/// first 12 bytes are never split.
pub fn encode_into(out: &mut Vec<u8>, flags: u8, stream: u8, options: &[u32], payload: &[&[u8]]) {
    let len: usize = payload.iter().map(|p| p.len()).sum();
    out.reserve(HEADER_LEN + options.len() * 4 + len);
    encode_head(out, flags, stream, options, len);
    for p in payload {
        out.extend_from_slice(p);
    }
}

/// Encode a frame's header and options into `out` (appending), for a
/// payload of `len` bytes the caller sends right after them.
pub fn encode_head(out: &mut Vec<u8>, flags: u8, stream: u8, options: &[u32], len: usize) {
    debug_assert!(options.len() <= MAX_OPTIONS);
    let start = out.len();
    out.push(0x10 | (3 + options.len() as u8));
    out.push(flags);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    let c = crc(&out[start..start + 6]);
    out.extend_from_slice(&c.to_le_bytes());
    out.push(stream);
    out.push(0);
    for o in options {
        out.extend_from_slice(&o.to_le_bytes());
    }
}

pub fn encode(flags: u8, stream: u8, options: &[u32], payload: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_into(&mut v, flags, stream, options, payload);
    v
}

/// How much room [`Decoder::next_frame`] reserves at once for the rest of
/// a frame it has the header of: a frame arriving in pieces then lands in
/// one allocation instead of a buffer grown (and copied) step by step,
/// while a header that merely claims gigabytes reserves no more than this.
const RESERVE_AHEAD: usize = 16 << 20;

/// Incremental decoder over a byte stream (the worker's STDOUT).
///
/// Bytes are copied once, into `buf`; a frame comes out as a view of that
/// buffer (`split_to` + `freeze`), so its payload travels on as [`Bytes`]
/// without another copy. A view keeps its whole allocation alive, so each
/// write that finds the buffer empty starts a new allocation of its own
/// size: a small frame handed on never pins a large buffer.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    max_payload: u64,
}

impl Decoder {
    pub fn new(max_payload: u64) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            max_payload,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.buf.is_empty() {
            self.buf = BytesMut::with_capacity(data.len());
        }
        self.buf.extend_from_slice(data);
    }

    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Take whatever is buffered (bytes that did not make a frame).
    pub fn take_buffer(&mut self) -> BytesMut {
        std::mem::take(&mut self.buf)
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut header = [0u8; 12];
        header.copy_from_slice(&self.buf[..12]);
        let want = crc(&header);
        let got = u32::from_le_bytes([header[6], header[7], header[8], header[9]]);
        if got != want {
            return Err(FrameError::Crc { got, want, header });
        }
        let hl = header[0] & 0x0f;
        if !(3..=(3 + MAX_OPTIONS as u8)).contains(&hl) {
            return Err(FrameError::HeaderLength(hl));
        }
        let len = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as u64;
        if self.max_payload > 0 && len > self.max_payload {
            return Err(FrameError::TooLarge(len));
        }
        let opt_len = (hl as usize - 3) * 4;
        let total = HEADER_LEN + opt_len + len as usize;
        if self.buf.len() < total {
            self.buf
                .reserve((total - self.buf.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        // The frame's bytes, out of the buffer without a copy (the whole
        // buffer when it holds just this frame, the usual case).
        let mut raw = if self.buf.len() == total {
            std::mem::take(&mut self.buf)
        } else {
            self.buf.split_to(total)
        };
        let options = raw[HEADER_LEN..HEADER_LEN + opt_len]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        raw.advance(HEADER_LEN + opt_len);
        Ok(Some(Frame {
            flags: header[1],
            stream: header[10],
            options,
            payload: raw.freeze(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn matches_verified_frames() {
        // contract.md §1.5
        assert_eq!(
            encode(CONTROL | CODEC_JSON, 0, &[], &[b"{\"pid\":4242}"]),
            [
                hex("13 09 0c 00 00 00 5f 0c 46 73 00 00"),
                b"{\"pid\":4242}".to_vec()
            ]
            .concat()
        );
        assert_eq!(
            encode(CONTROL | CODEC_JSON, 0, &[], &[b"{\"stop\":true}"]),
            [
                hex("13 09 0d 00 00 00 3a 6b fa cb 00 00"),
                b"{\"stop\":true}".to_vec()
            ]
            .concat()
        );
        assert_eq!(
            encode(0, PONG, &[], &[]),
            hex("13 00 00 00 00 00 96 d1 80 34 08 00")
        );
        assert_eq!(
            encode(0, 0, &[13], &[b"{\"stop\":true}"]),
            [
                hex("14 00 0d 00 00 00 f3 39 ef db 00 00 0d 00 00 00"),
                b"{\"stop\":true}".to_vec()
            ]
            .concat()
        );
        assert_eq!(
            encode(ERROR, 0, &[], &[b"oops"]),
            [hex("13 40 04 00 00 00 88 1e 11 e3 00 00"), b"oops".to_vec()].concat()
        );
    }

    #[test]
    fn decodes_split_input() {
        let f = encode(
            CODEC_JSON,
            0,
            &[27],
            &[b"{\"status\":200,\"headers\":{}}", b"hi"],
        );
        let mut d = Decoder::new(0);
        for b in &f[..f.len() - 1] {
            d.push(&[*b]);
            assert_eq!(d.next_frame().unwrap(), None);
        }
        d.push(&f[f.len() - 1..]);
        let fr = d.next_frame().unwrap().unwrap();
        assert_eq!(fr.options, vec![27]);
        assert_eq!(&fr.payload[27..], b"hi");
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn frames_of_one_write_are_views_of_one_buffer() {
        let a = encode(CODEC_JSON, STREAM, &[2], &[b"{}", b"first"]);
        let b = encode(CODEC_JSON, 0, &[2], &[b"{}", b"second"]);
        let c = encode(CODEC_JSON, 0, &[], &[b"third, split"]);
        let mut d = Decoder::new(0);
        d.push(&[&a[..], &b[..], &c[..5]].concat());
        let fa = d.next_frame().unwrap().unwrap();
        let fb = d.next_frame().unwrap().unwrap();
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), 5);
        assert_eq!((fa.stream, &fa.payload[..]), (STREAM, &b"{}first"[..]));
        assert_eq!((fb.stream, &fb.payload[..]), (0, &b"{}second"[..]));
        // No copy: b's payload sits right after a's payload and b's header
        // and option, in the buffer the write was copied into.
        let gap = fb.payload.as_ptr() as usize - fa.payload.as_ptr() as usize;
        assert_eq!(gap, fa.payload.len() + HEADER_LEN + 4);
        d.push(&c[5..]);
        let fc = d.next_frame().unwrap().unwrap();
        assert_eq!(&fc.payload[..], b"third, split");
        assert!(fc.options.is_empty());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn a_frame_over_many_writes_is_whole() {
        let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let f = encode(CODEC_JSON, 0, &[7], &[b"context", &body]);
        let mut d = Decoder::new(0);
        // The header split, then uneven pieces.
        let mut at = 0;
        for n in [5, 7, 4, 1000, 65536]
            .into_iter()
            .chain(std::iter::repeat(70_000))
        {
            let end = (at + n).min(f.len());
            d.push(&f[at..end]);
            at = end;
            if at == f.len() {
                break;
            }
            assert_eq!(d.next_frame().unwrap(), None);
        }
        let fr = d.next_frame().unwrap().unwrap();
        assert_eq!(fr.options, vec![7]);
        assert_eq!(&fr.payload[..7], b"context");
        assert!(fr.payload[7..] == body[..]);
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn a_huge_claimed_length_waits_for_bytes() {
        // A valid header claiming 4 GiB: the decoder waits for the payload
        // without reserving it all up front.
        let mut f = encode(0, 0, &[], &[]);
        f[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        let c = crc(&f);
        f[6..10].copy_from_slice(&c.to_le_bytes());
        let mut d = Decoder::new(0);
        d.push(&f);
        d.push(b"some");
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered(), HEADER_LEN + 4);
        let mut d = Decoder::new(1 << 20);
        d.push(&f);
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge(u32::MAX as u64)));
    }

    #[test]
    fn rejects_garbage() {
        let mut d = Decoder::new(0);
        d.push(b"Hello world, this is not a frame");
        assert!(matches!(d.next_frame(), Err(FrameError::Crc { .. })));
        let mut f = encode(0, 0, &[], &[b"x"]);
        f[0] = 0x12;
        // fix the CRC so only the header length is wrong
        let c = crc(&f);
        f[6..10].copy_from_slice(&c.to_le_bytes());
        let mut d = Decoder::new(0);
        d.push(&f);
        assert_eq!(d.next_frame(), Err(FrameError::HeaderLength(2)));
    }
}
