//! The idle check: while nothing is being sent to an upstream, whether it
//! can still be reached. An upstream's state otherwise changes only with
//! the answers to alerts, so one that went away while idle read `up` until
//! the next alert (a review stopped the upstream between two scans and the
//! panel kept its ✓), and a mistyped `--forward` address read `connecting`
//! until the first.
//!
//! The check, for an `http://` upstream, is an HTTP/2 ping on a connection
//! of its own, closed at once: no call is made (nothing an AlertSink would
//! log or count), and a stopped or hung process does not answer it (the
//! kernel accepts its TCP connection, its HTTP/2 server does not run). For
//! an `https://` upstream it is a TCP connection only (its TLS set-up is
//! the channel's). What an alert's call finds always overrides the check,
//! and a `down` that timed-out calls set is undone only by an answer: a
//! ping does not exercise the handler, which may be what hangs.

use std::sync::Arc;
use std::time::Duration;

use super::upstream::{Probe, Upstream};
use crate::grpc::diagnose::{Stage, upstream_failure};

/// How long an upstream is left alone before it is checked, and between
/// checks while it stays idle; also the bound on one check.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(5);

/// Checks `up` at `addr` (`host:port`) whenever it is due, until its input
/// closes. Runs on the upstream's forwarding thread.
pub(crate) async fn idle_checks(up: Arc<Upstream>, addr: String, every: Duration) {
    let tls = up.url().starts_with("https://");
    loop {
        match up.probe_due(every) {
            Probe::Stop => return,
            Probe::NotDue => {}
            Probe::Due => match tokio::time::timeout(every, check(&addr, tls)).await {
                Ok(Ok(())) => up.probe_reached(),
                Ok(Err(Failed::Connect(e))) => up.probe_failed(&describe(up.url(), e)),
                Ok(Err(Failed::Http2(e))) => up.probe_failed(&format!(
                    "Unavailable: {addr} took the connection but did not speak HTTP/2: {} \
                     (found while idle)",
                    crate::sanitize::line(&e.to_string())
                )),
                Err(_) => up.probe_failed(&format!(
                    "Unavailable: {addr} did not answer {} within {} s — hung, or \
                     overloaded? (found while idle)",
                    if tls {
                        "a TCP connection"
                    } else {
                        "an HTTP/2 ping"
                    },
                    every.as_secs()
                )),
            },
        }
        tokio::time::sleep(every).await;
    }
}

enum Failed {
    Connect(std::io::Error),
    Http2(h2::Error),
}

/// One check: a TCP connection, then (plain HTTP/2 only) a ping answered.
async fn check(addr: &str, tls: bool) -> Result<(), Failed> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(Failed::Connect)?;
    if tls {
        return Ok(());
    }
    let (_calls, mut conn) = h2::client::handshake(tcp).await.map_err(Failed::Http2)?;
    let Some(mut pings) = conn.ping_pong() else {
        return Ok(());
    };
    // The connection runs while the ping waits for its pong; it ends only
    // with an error (or the server closing it) before that.
    tokio::select! {
        pong = pings.ping(h2::Ping::opaque()) => pong.map(drop).map_err(Failed::Http2),
        end = &mut conn => match end {
            Err(e) => Err(Failed::Http2(e)),
            Ok(()) => Err(Failed::Http2(h2::Error::from(h2::Reason::NO_ERROR))),
        },
    }
}

/// The error as a call that failed to connect would have it, so the panel
/// reads the same either way.
fn describe(url: &str, e: std::io::Error) -> String {
    let status = tonic::Status::from_error(Box::new(e));
    let why = upstream_failure(url, &status, Stage::Connect)
        .unwrap_or_else(|| status.message().to_owned());
    format!("Unavailable: {why} (found while idle)")
}

/// `host:port` of a normalized `http://` or `https://` URL.
pub(crate) fn authority(url: &str) -> Option<String> {
    let uri: tonic::codegen::http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    let port = uri.port_u16()?;
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_address_is_the_urls() {
        assert_eq!(
            authority("http://127.0.0.1:7001").as_deref(),
            Some("127.0.0.1:7001")
        );
        assert_eq!(
            authority("https://sink.example:443/x").as_deref(),
            Some("sink.example:443")
        );
        assert_eq!(
            authority("http://[::1]:7001").as_deref(),
            Some("[::1]:7001")
        );
        assert_eq!(authority("http://h"), None);
    }
}
