//! The idle check: while nothing is being sent to an upstream, whether it
//! can still be reached. An upstream's state otherwise changes only with
//! the answers to alerts, so one that went away while idle read `up` until
//! the next alert (a review stopped the upstream between two scans and the
//! panel kept its ✓), and a mistyped `--forward` address read `connecting`
//! until the first.
//!
//! The check is a TCP connection, opened and closed at once: it sends the
//! upstream nothing (no call an AlertSink would log or count), and an
//! answer to an alert always overrides it. It cannot tell a hung upstream
//! from a working one (the kernel accepts for a stopped process); what it
//! has in flight says that ([`super::UpstreamSnapshot::not_answering`]).

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
    loop {
        match up.probe_due(every) {
            Probe::Stop => return,
            Probe::NotDue => {}
            Probe::Due => {
                let connect = tokio::net::TcpStream::connect(addr.as_str());
                match tokio::time::timeout(every, connect).await {
                    Ok(Ok(_closed_at_once)) => up.probe_reached(),
                    Ok(Err(e)) => up.probe_failed(&describe(up.url(), e)),
                    Err(_) => up.probe_failed(&format!(
                        "Unavailable: no TCP connection to {addr} within {} s (found while idle)",
                        every.as_secs()
                    )),
                }
            }
        }
        tokio::time::sleep(every).await;
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
