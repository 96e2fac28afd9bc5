//! Calls that failed before the server could act on them.
//!
//! A server or proxy that ends an HTTP/2 connection gracefully — nginx after
//! `keepalive_requests` calls (1,000 by default), an upstream restarting —
//! sends a GOAWAY naming the last stream it will process. The streams above
//! it are refused unprocessed (RFC 9113 §6.8), a stream the peer resets
//! with REFUSED_STREAM was never processed (§8.7), and a call the client
//! had queued on that connection but not yet sent fails as "canceled". grpc-go
//! retries such calls transparently; tonic reports them as errors. Since
//! none of them reached the application, retrying is always safe: it can
//! neither duplicate an alert nor hide a real refusal.

use std::error::Error;
use std::future::Future;

/// More attempts of one call that never reached the server, at most: a
/// server refusing every stream is answered with its error, not a spin.
pub const UNSENT_RETRIES: u32 = 8;

/// Whether the failed call is known not to have reached the server
/// (see the module docs), by the causes in its error chain.
pub fn never_processed(status: &tonic::Status) -> bool {
    // A connection the server ended with a TLS alert (a client certificate
    // it refused) failed every call queued on it, "canceled" too; trying
    // again only fails again, and costs the sink a counted handshake each
    // time (a review: one `send` made up to 19).
    if tls_failure(status) {
        return false;
    }
    let mut next: Option<&(dyn Error + 'static)> = status.source();
    while let Some(e) = next {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_canceled()
        {
            return true;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && (h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR)))
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Whether a TLS error (an alert from the peer, a certificate refused) is
/// among the causes of `status`.
fn tls_failure(status: &tonic::Status) -> bool {
    use tokio_rustls::rustls;
    let mut next: Option<&(dyn Error + 'static)> = status.source();
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn Error + 'static));
        if e.is::<rustls::Error>() || inner.is_some_and(|i| i.is::<rustls::Error>()) {
            return true;
        }
        next = e.source();
    }
    false
}

/// Runs `call` and runs it again, at most [`UNSENT_RETRIES`] more times,
/// while it fails without having reached the server (a new call: the
/// channel connects again). Returns the last result and the retries made.
pub async fn retry_unsent<T, F, Fut>(mut call: F) -> (Result<T, tonic::Status>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut retries = 0;
    loop {
        match call().await {
            Err(s) if retries < UNSENT_RETRIES && never_processed(&s) => retries += 1,
            other => return (other, retries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_the_server_sent_or_a_broken_connection_is_not_unsent() {
        assert!(!never_processed(&tonic::Status::unavailable("x")));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(!never_processed(&tonic::Status::from_error(Box::new(io))));
    }

    #[test]
    fn a_tls_alert_is_not_unsent_whatever_else_the_chain_says() {
        use tokio_rustls::rustls;
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, alert);
        assert!(!never_processed(&tonic::Status::from_error(Box::new(io))));
    }

    #[test]
    fn a_refused_stream_is_unsent() {
        let refused = h2::Error::from(h2::Reason::REFUSED_STREAM);
        assert!(never_processed(&tonic::Status::from_error(Box::new(
            refused
        ))));
        let other = h2::Error::from(h2::Reason::INTERNAL_ERROR);
        assert!(!never_processed(&tonic::Status::from_error(Box::new(
            other
        ))));
    }
}
