//! Why a connection to a sink failed, as one line a user can act on — for
//! `send`, `load` and `replay`, and for the upstreams sinkwatch forwards to
//! ([`upstream_failure`], worded for an upstream and its `--forward*`
//! options).
//!
//! tonic reports transport failures as bare statuses such as
//! `Cancelled: operation was canceled` or `Unknown: transport error`; the
//! real cause, when there is one, is buried in the error's source chain, and
//! sometimes it is gone altogether. The classic case is a sink that requires
//! a client certificate: with TLS 1.3 the client's side of the handshake
//! completes before the server checks the certificate, the server then sends
//! an alert and closes, and whether the alert reaches the caller or only
//! "connection closed" does is a race inside hyper. So the cause is taken
//! from the chain when it is there, and otherwise inferred from when the
//! connection failed (see [`Stage`]) and how the target is set up — and then
//! worded as "may", since it is a likely cause rather than a known one.
//!
//! Only texts the chain carries are matched (rustls, hyper and h2 messages
//! and `std::io::ErrorKind`s); the tests in `tests/tls.rs` pin the resulting
//! lines against real sinks, so a dependency changing a message shows up as
//! a failing test rather than as a vaguer message.

use std::error::Error;
use std::io;

use super::{Target, normalize_url};

/// When a failure happened, which is part of the evidence: a connection that
/// the sink closes right after the TLS handshake most likely refused the
/// client, while one that had been answered on before was simply lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opening the connection: TCP, then the TLS handshake for https://.
    Connect,
    /// A call on a connection that opened, before the sink answered anything
    /// on it.
    FirstCall,
    /// A call after the sink had answered on the connection.
    LaterCall,
}

/// What the source chain of an error tells.
#[derive(Debug, Default)]
struct Evidence {
    /// Each message of the chain, outermost first.
    messages: Vec<String>,
    /// The kinds of the `io::Error`s in the chain.
    io_kinds: Vec<io::ErrorKind>,
}

impl Evidence {
    fn gather(err: &(dyn Error + 'static)) -> Evidence {
        let mut ev = Evidence::default();
        let mut cur = Some(err);
        // Bounded: a chain is a handful of layers; a cyclic one must not hang.
        for _ in 0..32 {
            let Some(e) = cur else { break };
            ev.messages.push(e.to_string());
            cur = match e.downcast_ref::<io::Error>() {
                Some(io) => {
                    ev.io_kinds.push(io.kind());
                    // `io::Error::source` skips the error it wraps (and goes
                    // to that one's source), so step into the wrapped one:
                    // rustls errors travel inside io errors.
                    io.get_ref().map(|inner| inner as &(dyn Error + 'static))
                }
                None => e.source(),
            };
        }
        ev
    }

    fn contains(&self, needle: &str) -> bool {
        self.messages.iter().any(|m| m.contains(needle))
    }

    fn has_kind(&self, kinds: &[io::ErrorKind]) -> bool {
        self.io_kinds.iter().any(|k| kinds.contains(k))
    }

    /// The text after `prefix` in the first message holding it, up to
    /// `stop` (or the end of that message).
    fn after(&self, prefix: &str, stop: impl Fn(char) -> bool) -> Option<String> {
        self.messages.iter().find_map(|m| {
            let rest = &m[m.find(prefix)? + prefix.len()..];
            let end = rest.find(&stop).unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        })
    }

    /// The TLS alert the sink sent (rustls: `received fatal alert: NAME`).
    fn alert(&self) -> Option<String> {
        self.after("received fatal alert: ", |c: char| !c.is_alphanumeric())
    }

    /// Why the sink's certificate was not accepted (rustls:
    /// `invalid peer certificate: DETAIL`).
    fn untrusted_server(&self) -> Option<String> {
        self.after("invalid peer certificate: ", |_| false)
    }

    /// The connection ended without a TLS or HTTP/2 reason: closed, reset,
    /// or hyper cancelling the call because the connection went away.
    fn closed(&self) -> bool {
        use io::ErrorKind::*;
        self.has_kind(&[
            BrokenPipe,
            ConnectionReset,
            ConnectionAborted,
            UnexpectedEof,
        ]) || [
            "connection closed",
            "operation was canceled",
            "tls handshake eof",
            "broken pipe",
            "connection reset",
        ]
        .iter()
        .any(|n| self.contains(n))
    }

    /// The chain on one line, without repeating what an outer layer said.
    fn chain(&self) -> String {
        let mut s = String::new();
        for m in &self.messages {
            if !s.contains(m.as_str()) {
                if !s.is_empty() {
                    s.push_str(": ");
                }
                s.push_str(m);
            }
        }
        s
    }
}

/// Alerts a TLS server sends when it does not accept the client's
/// certificate, or the lack of one.
const CLIENT_CERT_ALERTS: [&str; 8] = [
    "CertificateRequired",
    "BadCertificate",
    "UnknownCA",
    "CertificateUnknown",
    "UnsupportedCertificate",
    "CertificateExpired",
    "CertificateRevoked",
    "AccessDenied",
];

const CLIENT_CERT_OPTIONS: &str = "--client-cert/--client-key";

/// Who is at the other end, for the wording of the diagnosis: what it is
/// called and which options the hints name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// A sink that `send`, `load` or `replay` connect to: `--to`, `--ca`,
    /// `--client-cert/--client-key`.
    Sink,
    /// An upstream that sinkwatch forwards to: `--forward`, `--forward-ca`;
    /// forwarding presents no client certificate.
    Upstream,
}

impl Peer {
    fn noun(self) -> &'static str {
        match self {
            Peer::Sink => "sink",
            Peer::Upstream => "upstream",
        }
    }

    /// The option naming the URL.
    fn url_option(self) -> &'static str {
        match self {
            Peer::Sink => "--to",
            Peer::Upstream => "--forward",
        }
    }

    /// The option naming the CA that verifies the peer.
    fn ca_option(self) -> &'static str {
        match self {
            Peer::Sink => "--ca",
            Peer::Upstream => "--forward-ca",
        }
    }

    /// Where a client certificate would come from, in parentheses.
    fn client_cert_source(self) -> String {
        match self {
            Peer::Sink => format!("({CLIENT_CERT_OPTIONS})"),
            Peer::Upstream => "(forwarding presents none)".to_owned(),
        }
    }
}

/// How the target is set up, as far as the diagnosis cares.
struct Setup {
    /// The URL with its scheme (what the user is told about).
    url: String,
    tls: bool,
    /// `host:port`, to suggest the URL with the other scheme.
    authority: String,
    host: String,
    peer: Peer,
    /// Whether a CA was given; `None` when not known.
    has_ca: Option<bool>,
    has_identity: bool,
}

impl Setup {
    fn of(target: &Target) -> Setup {
        let mut setup = Setup::at(&target.url);
        setup.has_ca = Some(target.ca_pem.is_some());
        setup.has_identity = target.client_identity.is_some();
        setup
    }

    /// An upstream at `url`, whose CA option is not known here.
    fn upstream(url: &str) -> Setup {
        Setup {
            peer: Peer::Upstream,
            ..Setup::at(url)
        }
    }

    /// A sink at `url`, nothing else known.
    fn at(url: &str) -> Setup {
        let url = normalize_url(url).unwrap_or_else(|_| url.trim().to_owned());
        let tls = url.starts_with("https://");
        let authority = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_owned();
        let host = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_else(|| authority.clone());
        Setup {
            tls,
            authority,
            host,
            peer: Peer::Sink,
            has_ca: None,
            has_identity: false,
            url,
        }
    }
}

/// The cause of a transport failure, without the URL.
fn cause(setup: &Setup, ev: &Evidence, stage: Stage) -> String {
    use io::ErrorKind::*;
    let peer = setup.peer;
    let sink = peer.noun();
    let cert_source = peer.client_cert_source();

    // The sink said why, with a TLS alert.
    if let Some(alert) = ev.alert() {
        let about_client_cert = CLIENT_CERT_ALERTS.contains(&alert.as_str());
        return match (about_client_cert, setup.has_identity) {
            _ if alert == "CertificateRequired" && !setup.has_identity => match peer {
                Peer::Sink => format!(
                    "the sink requires a client certificate (TLS alert {alert}) — \
                     give one with {CLIENT_CERT_OPTIONS}"
                ),
                Peer::Upstream => format!(
                    "the upstream requires a client certificate (TLS alert {alert}), \
                     which forwarding cannot present"
                ),
            },
            (true, true) => format!(
                "the {sink} did not accept the client certificate (TLS alert {alert}) — \
                 check that {CLIENT_CERT_OPTIONS} are signed by a CA the {sink} trusts \
                 (its --tls-client-ca) and still valid"
            ),
            // No certificate was given, and the sink complains about one, or
            // ends the handshake as a TLS 1.2 server without one may.
            (true, false) => format!(
                "the {sink} refused the TLS handshake (alert {alert}) — \
                 it may require a client certificate {cert_source}"
            ),
            (false, false) if alert == "HandshakeFailure" => format!(
                "the {sink} refused the TLS handshake (alert {alert}) — it may require a \
                 client certificate {cert_source} or support no TLS version \
                 or cipher suite sinkwatch does"
            ),
            (false, _) => format!("the {sink} ended the TLS connection with alert {alert}"),
        };
    }

    // sinkwatch did not accept the sink's certificate.
    if let Some(detail) = ev.untrusted_server() {
        let ca = peer.ca_option();
        return if detail.contains("not valid for name") || detail.contains("NotValidForName") {
            format!(
                "the {sink}'s certificate is not valid for {} ({detail}) — \
                 use a host name the certificate lists in {}",
                setup.host,
                peer.url_option()
            )
        } else if detail.contains("CaUsedAsEndEntity") {
            format!(
                "the {sink}'s certificate is a CA certificate, which TLS refuses as a server's \
                 own (CaUsedAsEndEntity) — give the {sink} a certificate issued by that CA, and \
                 pass the CA with {}",
                peer.ca_option()
            )
        } else if detail.contains("xpired") || detail.contains("ot valid yet") {
            format!(
                "the {sink}'s certificate is outside its validity period ({detail}) — \
                 renew it, or check this machine's clock"
            )
        } else {
            match setup.has_ca {
                Some(true) => format!(
                    "the {sink}'s certificate is not trusted ({detail}) — check that {ca} is \
                     the CA that issued the {sink}'s certificate"
                ),
                Some(false) => format!(
                    "the {sink}'s certificate is not trusted by the system's roots ({detail}) — \
                     pass the CA that issued it with {ca} FILE"
                ),
                None => format!(
                    "the {sink}'s certificate is not trusted ({detail}) — \
                     {ca} FILE must name the CA that issued it"
                ),
            }
        };
    }

    // A TLS client got bytes that are not TLS: most likely a plain-text sink
    // answering the ClientHello with an HTTP/2 GOAWAY.
    if setup.tls && ev.contains("received corrupt message") {
        return format!(
            "the {sink} did not answer in TLS — it may serve plain text: try http://{}",
            setup.authority
        );
    }

    if ev.has_kind(&[ConnectionRefused]) {
        return format!(
            "connection refused — check that the {sink} is running and listening on {}",
            setup.authority
        );
    }
    if ev.contains("dns error") || ev.contains("failed to lookup address") {
        return format!("cannot resolve the host name {}", setup.host);
    }
    if ev.has_kind(&[TimedOut]) || ev.contains("timed out") {
        return format!(
            "no connection within the time limit — check the address {} and any \
             firewall on the way",
            setup.authority
        );
    }

    // A plain-text client read something that is not HTTP/2: a TLS alert
    // (the TLS sink's answer to the HTTP/2 preface) read as a frame header
    // announces a frame far over the size limit; so does an HTTP/1 server's
    // `HTTP/1.1 505 …` (a review: the hint named only TLS).
    if !setup.tls && stage != Stage::LaterCall && ev.contains("frame with invalid size") {
        return format!(
            "the {sink} did not answer in HTTP/2 — it may serve TLS (try https://{}) or not \
             be a gRPC server",
            setup.authority
        );
    }

    if ev.closed() {
        return match (stage, setup.tls, setup.has_identity) {
            // Also what a viewer suspended past the sink's keepalive sees
            // when it comes back.
            (Stage::LaterCall, _, _) => format!(
                "the connection was closed before the {sink} answered — \
                 the {sink} may have stopped or restarted, or closed a connection \
                 that had stopped reading"
            ),
            (Stage::FirstCall, true, false) => format!(
                "the {sink} closed the connection during/after the TLS handshake — \
                 it may require a client certificate {cert_source}"
            ),
            (Stage::FirstCall, true, true) => format!(
                "the {sink} closed the connection during/after the TLS handshake — \
                 it may not accept the client certificate (check that \
                 {CLIENT_CERT_OPTIONS} are signed by a CA the {sink} trusts)"
            ),
            // Closed before the handshake finished, and no alert to say why.
            (Stage::Connect, true, _) => format!(
                "the {sink} closed the connection during the TLS \
                 handshake — check that it serves TLS on this port"
            ),
            (_, false, _) => format!(
                "the {sink} closed the connection without answering — if it serves TLS, \
                 use https://{}",
                setup.authority
            ),
        };
    }

    format!("the connection failed: {}", ev.chain())
}

/// `URL: cause — hint` for a connection that could not be opened.
pub fn connect_failure(target: &Target, err: &(dyn Error + 'static)) -> String {
    let setup = Setup::of(target);
    let why = cause(&setup, &Evidence::gather(err), Stage::Connect);
    one_line(&setup.url, &why)
}

/// For a failed call: `Some(cause — hint)` when it failed in the transport
/// (the sink never answered it), `None` when the sink answered with this
/// status, which then speaks for itself.
pub fn transport_failure(target: &Target, status: &tonic::Status, stage: Stage) -> Option<String> {
    failure_cause(&Setup::of(target), status, stage)
}

/// [`transport_failure`] for a call to an upstream that sinkwatch forwards
/// to at `url`: worded for an upstream (`--forward`, `--forward-ca`, and
/// no client certificate to give).
pub fn upstream_failure(url: &str, status: &tonic::Status, stage: Stage) -> Option<String> {
    failure_cause(&Setup::upstream(url), status, stage)
}

fn failure_cause(setup: &Setup, status: &tonic::Status, stage: Stage) -> Option<String> {
    // A status the sink sent is decoded from its trailers and has no source;
    // tonic attaches the transport error to the ones it makes up itself.
    let source = status.source()?;
    let ev = Evidence::gather(source);
    // An HTTP/2 reset or GOAWAY from the sink (h2: "… error received: …")
    // is an answer too: the sink spoke HTTP/2 and said no, and the status
    // already names the reason.
    if ev.contains("error received: ") {
        return None;
    }
    let why = cause(setup, &ev, stage);
    Some(crate::sanitize::line(&why).into_owned())
}

/// Whether `target` gave no client certificate and the sink said, with its
/// TLS alert, that it requires one: retrying cannot help. (When only a
/// closed connection got through, the cause is a guess and this is false.)
pub fn client_certificate_required(target: &Target, err: Option<&(dyn Error + 'static)>) -> bool {
    target.client_identity.is_none()
        && err
            .is_some_and(|e| Evidence::gather(e).alert().as_deref() == Some("CertificateRequired"))
}

/// `URL: cause — hint` for a call that failed in the transport, or
/// `URL answered CODE: message` when the sink answered.
pub fn call_failure(target: &Target, status: &tonic::Status, stage: Stage) -> String {
    let setup = Setup::of(target);
    match transport_failure(target, status, stage) {
        Some(why) => one_line(&setup.url, &why),
        None => crate::sanitize::line(&format!(
            "{} answered {}",
            setup.url,
            super::describe_status(status)
        ))
        .into_owned(),
    }
}

fn one_line(url: &str, why: &str) -> String {
    // Texts from the chain can carry names from a certificate: keep them to
    // one harmless line.
    crate::sanitize::line(&format!("{url}: {why}")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional source, to build chains.
    #[derive(Debug)]
    struct E(String, Option<Box<dyn Error + Send + Sync>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    /// `transport error` over `outer` over an io error of `kind` wrapping
    /// `inner`: the shape tonic's transport errors have.
    fn chain(outer: &str, kind: io::ErrorKind, inner: &str) -> E {
        let io = io::Error::new(kind, E(inner.to_owned(), None));
        E(
            "transport error".into(),
            Some(Box::new(E(outer.into(), Some(Box::new(io))))),
        )
    }

    fn target(url: &str, identity: bool) -> Target {
        Target {
            url: url.into(),
            ca_pem: Some(b"ca".to_vec()),
            client_identity: identity.then(|| (b"c".to_vec(), b"k".to_vec())),
            ..Target::default()
        }
    }

    fn why(url: &str, identity: bool, err: &E, stage: Stage) -> String {
        cause(
            &Setup::of(&target(url, identity)),
            &Evidence::gather(err),
            stage,
        )
    }

    #[test]
    fn the_chain_is_read_through_io_errors() {
        let err = chain(
            "connection error",
            io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        let ev = Evidence::gather(&err);
        assert_eq!(ev.alert().as_deref(), Some("CertificateRequired"));
        assert_eq!(ev.io_kinds, vec![io::ErrorKind::InvalidData]);
        assert_eq!(
            ev.chain(),
            "transport error: connection error: received fatal alert: CertificateRequired"
        );
    }

    #[test]
    fn a_closed_connection_hints_at_a_client_certificate_only_when_the_evidence_says_so() {
        let canceled = E(
            "transport error".into(),
            Some(Box::new(E(
                "operation was canceled".into(),
                Some(Box::new(E("connection closed".into(), None))),
            ))),
        );
        let hint = "it may require a client certificate (--client-cert/--client-key)";
        // TLS, just after the handshake, no certificate given: the hint.
        let first = why("https://h:1", false, &canceled, Stage::FirstCall);
        assert_eq!(
            first,
            format!("the sink closed the connection during/after the TLS handshake — {hint}")
        );
        // With a certificate given, the doubt is about that certificate.
        let with_cert = why("https://h:1", true, &canceled, Stage::FirstCall);
        assert!(
            with_cert.contains("may not accept the client certificate"),
            "{with_cert}"
        );
        // Plain text, or a connection that had worked, or during the
        // handshake: no client-certificate hint.
        for (url, stage) in [
            ("http://h:1", Stage::FirstCall),
            ("https://h:1", Stage::LaterCall),
            ("https://h:1", Stage::Connect),
        ] {
            let w = why(url, false, &canceled, stage);
            assert!(!w.contains("client certificate"), "{url} {stage:?}: {w}");
        }
        assert_eq!(
            why("h:1", false, &canceled, Stage::FirstCall),
            "the sink closed the connection without answering — if it serves TLS, use https://h:1"
        );
    }

    #[test]
    fn tls_alerts_name_the_certificate_problem() {
        let alert = |name: &str| {
            chain(
                "connection error",
                io::ErrorKind::InvalidData,
                &format!("received fatal alert: {name}"),
            )
        };
        assert_eq!(
            why(
                "https://h:1",
                false,
                &alert("CertificateRequired"),
                Stage::FirstCall
            ),
            "the sink requires a client certificate (TLS alert CertificateRequired) — \
             give one with --client-cert/--client-key"
        );
        let rejected = why("https://h:1", true, &alert("UnknownCA"), Stage::FirstCall);
        assert!(
            rejected.starts_with(
                "the sink did not accept the client certificate (TLS alert UnknownCA)"
            ),
            "{rejected}"
        );
        // A TLS 1.2 server refusing a client without a certificate.
        let refused = why(
            "https://h:1",
            false,
            &alert("BadCertificate"),
            Stage::Connect,
        );
        assert!(
            refused.contains("may require a client certificate"),
            "{refused}"
        );
        assert_eq!(
            why(
                "https://h:1",
                false,
                &alert("ProtocolVersion"),
                Stage::Connect
            ),
            "the sink ended the TLS connection with alert ProtocolVersion"
        );
    }

    #[test]
    fn an_untrusted_sink_certificate_says_what_to_check() {
        let err = |detail: &str| {
            chain(
                &format!("invalid peer certificate: {detail}"),
                io::ErrorKind::InvalidData,
                &format!("invalid peer certificate: {detail}"),
            )
        };
        let issuer = err("UnknownIssuer");
        assert!(why("https://h:1", false, &issuer, Stage::Connect).contains(
            "(UnknownIssuer) — check that --ca is the CA that issued the sink's certificate"
        ));
        let mut no_ca = target("https://h:1", false);
        no_ca.ca_pem = None;
        let w = cause(
            &Setup::of(&no_ca),
            &Evidence::gather(&issuer),
            Stage::Connect,
        );
        assert!(
            w.contains("pass the CA that issued it with --ca FILE"),
            "{w}"
        );
        let name = why(
            "https://other:1",
            false,
            &err(
                "certificate not valid for name \"other\"; certificate is only valid for DnsName(\"h\")",
            ),
            Stage::Connect,
        );
        assert!(
            name.starts_with("the sink's certificate is not valid for other ("),
            "{name}"
        );
        let expired = why(
            "https://h:1",
            false,
            &err("certificate expired: …"),
            Stage::Connect,
        );
        assert!(expired.contains("check this machine's clock"), "{expired}");
    }

    #[test]
    fn an_upstream_is_called_one_and_its_hints_name_the_forward_options() {
        let up =
            |err: &E, stage: Stage| cause(&Setup::upstream("h:1"), &Evidence::gather(err), stage);
        let tls_up = |err: &E, stage: Stage| {
            cause(
                &Setup::upstream("https://h:1"),
                &Evidence::gather(err),
                stage,
            )
        };
        let refused = chain(
            "tcp connect error",
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        assert_eq!(
            up(&refused, Stage::FirstCall),
            "connection refused — check that the upstream is running and listening on h:1"
        );
        let required = chain(
            "connection error",
            io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        assert_eq!(
            tls_up(&required, Stage::FirstCall),
            "the upstream requires a client certificate (TLS alert CertificateRequired), \
             which forwarding cannot present"
        );
        let untrusted = chain(
            "invalid peer certificate: UnknownIssuer",
            io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(
            tls_up(&untrusted, Stage::FirstCall),
            "the upstream's certificate is not trusted (UnknownIssuer) — \
             --forward-ca FILE must name the CA that issued it"
        );
        let closed = E("connection closed".into(), None);
        assert_eq!(
            tls_up(&closed, Stage::FirstCall),
            "the upstream closed the connection during/after the TLS handshake — \
             it may require a client certificate (forwarding presents none)"
        );
        assert_eq!(
            up(&closed, Stage::LaterCall),
            "the connection was closed before the upstream answered — \
             the upstream may have stopped or restarted, or closed a connection \
             that had stopped reading"
        );
        for (err, stage) in [
            (&refused, Stage::FirstCall),
            (&required, Stage::FirstCall),
            (&untrusted, Stage::Connect),
            (&closed, Stage::FirstCall),
            (&closed, Stage::Connect),
        ] {
            let w = tls_up(err, stage);
            assert!(
                !w.contains("sink") && !w.contains("--ca ") && !w.contains("--client-"),
                "{w}"
            );
        }
        // A status the upstream sent speaks for itself.
        let sent = tonic::Status::unavailable("busy");
        assert_eq!(upstream_failure("h:1", &sent, Stage::FirstCall), None);
        let lost = tonic::Status::from_error(Box::new(refused));
        assert_eq!(
            upstream_failure("h:1", &lost, Stage::FirstCall).as_deref(),
            Some("connection refused — check that the upstream is running and listening on h:1")
        );
    }

    #[test]
    fn unclassified_failures_keep_the_whole_chain() {
        let err = chain("connection error", io::ErrorKind::Other, "something new");
        assert_eq!(
            why("http://h:1", false, &err, Stage::FirstCall),
            "the connection failed: transport error: connection error: something new"
        );
    }

    #[test]
    fn a_status_the_sink_sent_is_not_a_transport_failure() {
        let t = target("h:1", false);
        let s = tonic::Status::invalid_argument("owner_name: empty");
        assert_eq!(transport_failure(&t, &s, Stage::FirstCall), None);
        assert_eq!(
            call_failure(&t, &s, Stage::FirstCall),
            "http://h:1 answered InvalidArgument: owner_name: empty"
        );
        // Nor is a stream the sink reset: it answered in HTTP/2.
        let reset = tonic::Status::from_error(Box::new(E(
            "transport error".into(),
            Some(Box::new(E(
                "stream error received: refused stream before processing any application logic"
                    .into(),
                None,
            ))),
        )));
        assert!(std::error::Error::source(&reset).is_some());
        assert_eq!(transport_failure(&t, &reset, Stage::FirstCall), None);
        // A transport failure is one, and says why.
        let closed = tonic::Status::from_error(Box::new(E("connection closed".into(), None)));
        assert_eq!(
            call_failure(&t, &closed, Stage::LaterCall),
            "http://h:1: the connection was closed before the sink answered — \
             the sink may have stopped or restarted, or closed a connection \
             that had stopped reading"
        );
    }
}
