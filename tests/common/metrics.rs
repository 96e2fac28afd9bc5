//! The metrics endpoint as a scraper sees it: its address from the sink's
//! readiness output, a plain HTTP GET, one sample's value.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::binary::Headless;

/// The address the sink's readiness output gave for its metrics.
pub fn metrics_addr(sink: &Headless) -> String {
    sink.early_stderr
        .iter()
        .find_map(|l| l.strip_prefix("sinkwatch: metrics on http://"))
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics line in {:?}", sink.early_stderr))
        .to_owned()
}

/// `GET path` over a fresh connection: (status line, body).
pub fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    // A hung server fails the test instead of blocking it.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The value of the sample line `name` (labels included), if present.
pub fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (n, v) = l.rsplit_once(' ')?;
        (n == name).then(|| v.parse().unwrap())
    })
}
