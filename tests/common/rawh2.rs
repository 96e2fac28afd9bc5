//! Just enough raw HTTP/2 to misbehave: frames written by hand, for clients
//! that do what a well-behaved library would not (never read, flood PINGs).
#![allow(dead_code)]

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(0x4, 0, 0, &p)
}

pub fn ping(payload: u64) -> Vec<u8> {
    frame(0x6, 0, 0, &payload.to_be_bytes())
}

/// An HPACK integer with an N-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut v: usize) {
    let max = (1usize << prefix_bits) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &str) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A header block for a gRPC POST (no Huffman, no dynamic table).
pub fn grpc_headers(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = vec![0x83, 0x86]; // :method POST, :scheme http (static table)
    hpack_int(&mut b, 0x00, 4, 4); // :path, literal without indexing
    hpack_str(&mut b, path);
    hpack_int(&mut b, 0x00, 4, 1); // :authority
    hpack_str(&mut b, "localhost");
    for (name, value) in [("content-type", "application/grpc"), ("te", "trailers")]
        .iter()
        .chain(extra.iter())
    {
        b.push(0x00);
        hpack_str(&mut b, name);
        hpack_str(&mut b, value);
    }
    b
}

/// A gRPC length-prefixed message.
pub fn grpc_frame(compressed: bool, msg: &[u8]) -> Vec<u8> {
    let mut f = vec![compressed as u8];
    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

/// A whole unary request on `stream`: HEADERS, then DATA with END_STREAM
/// carrying `body` (already gRPC-framed).
pub fn request(stream: u32, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = frame(0x1, 0x4, stream, &grpc_headers("/AlertSink/Alert", extra));
    out.extend(frame(0x0, 0x1, stream, body));
    out
}
