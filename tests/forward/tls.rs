//! TLS upstreams: a test CA, and the wrong scheme explained.

use super::support::*;

/// A sink serving TLS with a certificate of the test CA in `dir`: the sink,
/// the CA file and its `https://localhost:PORT` URL.
async fn tls_upstream(dir: &std::path::Path) -> (TestSink, std::path::PathBuf, String) {
    let (tls, ca) = test_pki(dir);
    let b = TestSink::start(SinkConfig {
        tls: Some(tls),
        ..SinkConfig::default()
    })
    .await;
    let url = format!("https://localhost:{}", b.addr.port());
    (b, ca, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (b, ca, url) = tls_upstream(dir.path()).await;

    // Trusting the test CA: delivered.
    let a_hub = hub();
    let mut target = Target::plain(&url);
    target.ca_pem = Some(std::fs::read(&ca).unwrap());
    let fwd = Forwarder::start(&a_hub, ForwardConfig::new(vec![target])).unwrap();
    let stats = fwd.stats();
    // Without it (system roots): the upstream is down, nothing is lost.
    let b_hub2 = hub();
    let mut cfg = fast(vec![url.clone()]);
    cfg.queue = 1000;
    let fwd_untrusting = Forwarder::start(&b_hub2, cfg).unwrap();
    let untrusting = fwd_untrusting.stats();

    for i in 0..100 {
        let a = sinkwatch::model::NewAlert {
            owner: "o".into(),
            repo: format!("r{i}"),
            policy: "p".into(),
            details: String::new(),
            pass: true,
        };
        a_hub.ingest(&a, None, None).unwrap();
        b_hub2.ingest(&a, None, None).unwrap();
    }
    wait_for("100 delivered over TLS", &stats, |s| s[0].delivered == 100).await;
    assert_eq!(b.hub.read(|s| s.accepted()), 100);

    wait_for("untrusted upstream down", &untrusting, |s| {
        s[0].state == UpstreamState::Down
    })
    .await;
    let snap = &untrusting.snapshot()[0];
    assert_eq!((snap.delivered, snap.failed, snap.dropped), (0, 0, 0));
    // Before: `Unavailable: invalid peer certificate: UnknownIssuer:
    // transport error`.
    assert_eq!(
        snap.last_error.as_deref(),
        Some(
            "Unavailable: the upstream's certificate is not trusted (UnknownIssuer) — \
             --forward-ca FILE must name the CA that issued it"
        )
    );
    b_hub2.close();
    let report = fwd_untrusting.shutdown(Duration::from_millis(50)).await;
    assert_eq!(report.undelivered_total(), 100);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_on_the_other_scheme_is_told_the_url_to_try() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = test_pki(dir.path());
    let tls_sink = TestSink::start(SinkConfig {
        tls: Some(tls),
        ..SinkConfig::default()
    })
    .await;
    let plain_sink = TestSink::start(SinkConfig::default()).await;
    let (tls_addr, plain_addr) = (tls_sink.addr, plain_sink.addr);

    // https:// to the plain sink, and http:// to the TLS one.
    let a_hub = hub();
    let mut to_plain = Target::plain(format!("https://{plain_addr}"));
    to_plain.ca_pem = Some(std::fs::read(&ca).unwrap());
    let mut cfg = fast(vec![]);
    cfg.upstreams = vec![to_plain, Target::plain(format!("http://{tls_addr}"))];
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let stats = fwd.stats();
    a_hub
        .ingest(
            &sinkwatch::model::NewAlert {
                owner: "o".into(),
                repo: "r".into(),
                policy: "p".into(),
                details: String::new(),
                pass: true,
            },
            None,
            None,
        )
        .unwrap();
    wait_for("both upstreams down, with errors", &stats, |s| {
        s.iter()
            .all(|u| u.state == UpstreamState::Down && u.last_error.is_some())
    })
    .await;
    let snap = stats.snapshot();
    // Before: `Unavailable: received corrupt message of type
    // InvalidContentType: transport error`.
    assert_eq!(
        snap[0].last_error,
        Some(format!(
            "Unavailable: the upstream did not answer in TLS — it may serve plain text: \
             try http://{plain_addr}"
        ))
    );
    // Before: `Unknown: h2 protocol error: http2 error: transport error:
    // connection error detected: frame with invalid size` or `Unknown:
    // transport error: connection error: stream closed because of a broken
    // pipe` (which of the two is a race in hyper).
    let to_tls = snap[1].last_error.clone().unwrap();
    assert!(
        [
            format!(
                ": the upstream did not answer in HTTP/2 — it may serve TLS \
                 (try https://{tls_addr}) or not be a gRPC server"
            ),
            format!(
                ": the upstream closed the connection without answering — if it \
                 serves TLS, use https://{tls_addr}"
            ),
        ]
        .iter()
        .any(|want| to_tls.ends_with(want.as_str())),
        "{to_tls}"
    );
    assert_eq!(tls_sink.hub.read(|s| s.accepted()), 0);
    assert_eq!(plain_sink.hub.read(|s| s.accepted()), 0);
    a_hub.close();
    fwd.shutdown(Duration::from_millis(50)).await;
    tls_sink.stop().await;
    plain_sink.stop().await;
}

/// The idle check of an `https://` upstream opens a connection as the
/// channel does (TLS with the same roots): before any alert, one trusted
/// through `--forward-ca` is up, one whose certificate the system roots do
/// not trust is down with the certificate named, and a hung one (its TCP
/// taken, no TLS answer) is down. On old a TCP connection was all it
/// checked: the untrusted and the hung one read up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_check_of_an_https_upstream_makes_the_tls_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (b, ca, url) = tls_upstream(dir.path()).await;
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut trusted = Target::plain(&url);
    trusted.ca_pem = Some(std::fs::read(&ca).unwrap());
    let mut cfg = fast(vec![]);
    cfg.upstreams = vec![
        trusted,
        Target::plain(&url),
        Target::plain(format!("https://{}", hung.local_addr().unwrap())),
    ];
    cfg.idle_check = Some(Duration::from_millis(50));
    let a_hub = hub();
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let stats = fwd.stats();
    wait_for("each found before any alert", &stats, |s| {
        s[0].state == UpstreamState::Up
            && s[1].state == UpstreamState::Down
            && s[2].state == UpstreamState::Down
    })
    .await;
    let snap = stats.snapshot();
    let untrusted = snap[1].last_error.clone().unwrap();
    assert!(
        untrusted.contains("certificate is not trusted") && untrusted.contains("found while idle"),
        "{untrusted}"
    );
    let hung_error = snap[2].last_error.clone().unwrap();
    assert!(
        hung_error.contains("did not answer a connection (TCP and TLS)"),
        "{hung_error}"
    );
    a_hub.close();
    fwd.shutdown(Duration::from_millis(50)).await;
    b.stop().await;
    drop(hung);
}
