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
//! an `https://` upstream it is a connection opened as the forwarding
//! channel opens one (the same endpoint: TCP, the TLS handshake with the
//! same roots or `--forward-ca` and client certificate, HTTP/2), so a
//! certificate that would be refused is found too, and a hung process does
//! not finish the handshake. What an alert's call finds always overrides the check,
//! and a `down` that timed-out calls set is undone only by an answer: a
//! ping does not exercise the handler, which may be what hangs.

use std::sync::Arc;
use std::time::Duration;

use super::upstream::{Probe, Upstream};
use crate::grpc::diagnose::{Stage, upstream_failure};

/// How long an upstream is left alone before it is checked, and between
/// checks while it stays idle; also the bound on one check.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(5);

/// How an upstream is checked.
pub(crate) enum Way {
    /// `http://host:port`: a TCP connection and an HTTP/2 ping.
    Ping(String),
    /// `https://`: a connection of the forwarding channel's endpoint.
    Connect(Box<tonic::transport::Endpoint>),
}

/// Checks `up` whenever it is due, until its input closes. Runs on the
/// upstream's forwarding thread.
pub(crate) async fn idle_checks(up: Arc<Upstream>, way: Way, every: Duration) {
    // While checks fail, they space out (to [`SPACED_OUT`] intervals): each
    // may be a refused handshake in the upstream's own log, or a connection
    // a hung process's kernel holds for it. Not while nothing listens (the
    // connection is refused): no process sees those, and an upstream being
    // restarted is then found back within one interval.
    let mut wait = every;
    loop {
        match up.probe_due(every) {
            Probe::Stop => return,
            Probe::NotDue => wait = every,
            Probe::Due => match tokio::time::timeout(every, check(&way)).await {
                Ok(Ok(())) => {
                    wait = every;
                    up.probe_reached();
                }
                Ok(Err(failed)) => {
                    wait = after_failure(wait, every, &failed);
                    up.probe_failed(&match failed {
                        Failed::Connect(e) => describe(up.url(), e),
                        Failed::Http2(e) => format!(
                            "Unavailable: the upstream took the connection but did not speak \
                             HTTP/2: {} (found while idle)",
                            crate::sanitize::line(&e.to_string())
                        ),
                    });
                }
                Err(_) => {
                    wait = spaced(wait, every);
                    up.probe_failed(&format!(
                        "Unavailable: the upstream did not answer {} within {} — hung, or \
                         overloaded? (found while idle)",
                        match way {
                            Way::Ping(_) => "an HTTP/2 ping",
                            Way::Connect(_) => "a connection (TCP and TLS)",
                        },
                        if every < Duration::from_secs(1) {
                            format!("{} ms", every.as_millis())
                        } else {
                            format!("{} s", every.as_secs())
                        }
                    ));
                }
            },
        }
        tokio::time::sleep(wait).await;
    }
}

/// The wait after the check failed as `failed`: every interval while the
/// connection is refused, else spaced out.
fn after_failure(last: Duration, every: Duration, failed: &Failed) -> Duration {
    if failed.refused() {
        every
    } else {
        spaced(last, every)
    }
}

/// The wait after one more failed check: twice the last, at most
/// [`SPACED_OUT`] times `every` (40 s for the 5 s default).
fn spaced(last: Duration, every: Duration) -> Duration {
    (last * 2).min(every * SPACED_OUT).max(every)
}

/// The longest wait between two checks of an upstream found down, in
/// checks' intervals.
const SPACED_OUT: u32 = 8;

enum Failed {
    Connect(Box<dyn std::error::Error + Send + Sync>),
    Http2(h2::Error),
}

impl Failed {
    /// Whether the TCP connection was refused: nothing listens there, so
    /// no process saw the check.
    fn refused(&self) -> bool {
        let Failed::Connect(e) = self else {
            return false;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&**e);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                return io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            cause = c.source();
        }
        false
    }
}

/// One check: see [`Way`].
async fn check(way: &Way) -> Result<(), Failed> {
    let addr = match way {
        Way::Connect(endpoint) => {
            return endpoint
                .connect()
                .await
                .map(drop)
                .map_err(|e| Failed::Connect(Box::new(e)));
        }
        Way::Ping(addr) => addr,
    };
    let tcp = tokio::net::TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| Failed::Connect(Box::new(e)))?;
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
fn describe(url: &str, e: Box<dyn std::error::Error + Send + Sync>) -> String {
    let status = tonic::Status::from_error(e);
    let why = upstream_failure(url, &status, Stage::Connect)
        .unwrap_or_else(|| status.message().to_owned());
    format!("Unavailable: {why} (found while idle)")
}

/// How to check `target` (normalized as `url`): None when it cannot be
/// (a URL without a port, which normalizing refuses anyway).
pub(crate) fn way(target: &crate::grpc::Target, url: &str) -> Option<Way> {
    if url.starts_with("https://") {
        return target.endpoint().ok().map(|e| Way::Connect(Box::new(e)));
    }
    authority(url).map(Way::Ping)
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
    fn failed_checks_space_out_to_a_bound() {
        let every = Duration::from_secs(5);
        let mut w = every;
        let waits: Vec<u64> = (0..6)
            .map(|_| {
                w = spaced(w, every);
                w.as_secs()
            })
            .collect();
        assert_eq!(waits, [10, 20, 40, 40, 40, 40]);
    }

    /// A port nothing listens on, found by binding one and letting it go.
    fn closed_port() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn checks_a_process_saw_space_out_a_refused_connection_does_not() {
        let addr = closed_port();
        let every = Duration::from_secs(5);
        let refused = check(&Way::Ping(addr.clone())).await.err().unwrap();
        assert!(refused.refused());
        let mut w = every;
        for _ in 0..4 {
            w = after_failure(w, every, &refused);
        }
        assert_eq!(w, every, "a refused connection is checked every interval");
        // Through the forwarding channel's endpoint too (its error wraps
        // the io error).
        let url = format!("https://{addr}");
        let target = crate::grpc::Target::plain(url.clone());
        let Some(Way::Connect(e)) = way(&target, &url) else {
            panic!("an https URL is checked by connecting");
        };
        let refused = check(&Way::Connect(e)).await.err().unwrap();
        assert!(refused.refused());
        // A listener that takes the connection and closes it: a process
        // saw the check, which is spaced out.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        });
        let closed = check(&Way::Ping(at)).await.err().unwrap();
        assert!(!closed.refused());
        assert_eq!(after_failure(every, every, &closed), every * 2);
    }

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
