//! Proxy mode: the upstream's codes back to the sender, metadata without
//! credentials, refusals never forwarded.

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_answers_with_the_upstreams_status_and_tees_the_others() {
    // B refuses long details; C is tee'd.
    let b = TestSink::start(SinkConfig {
        limits: SinkLimits {
            max_details_bytes: 10,
            ..SinkLimits::default()
        },
        ..SinkConfig::default()
    })
    .await;
    let c_hub = hub();
    let (_, mut c_rx) = c_hub.subscribe();
    let c = TestSink::start_with_hub(c_hub, SinkConfig::default()).await;
    let (a, stats, _fwd) = proxy_to(vec![b.url(), c.url()], |_| {}).await;
    let mut client = Target::plain(a.url()).client().unwrap();

    bounded(client.alert(alert("o", "r", "p", true, "")))
        .await
        .expect("OK from B");
    assert_eq!(
        b.hub.read(|s| s.accepted()),
        1,
        "B has it when the sender got OK"
    );

    let err = bounded(client.alert(alert("o", "r", "p", false, "far too long for B")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // B's own message, saying it is B's (a review: an upstream's
    // UNAUTHENTICATED read as the proxy's own).
    assert_eq!(
        err.message(),
        format!(
            "upstream {} answered: details is 18 bytes; the limit is 10 bytes",
            b.url()
        ),
        "{err:?}"
    );
    // Accepted and shown locally all the same.
    assert_eq!(a.hub.read(|s| s.accepted()), 2);

    let snap = stats.snapshot();
    assert_eq!(snap[0].role.as_str(), "proxy");
    assert_eq!(
        snap[0].last_error.as_deref(),
        Some("InvalidArgument: details is 18 bytes; the limit is 10 bytes"),
        "B's answer, verbatim"
    );
    assert_eq!(
        (snap[0].accepted, snap[0].delivered, snap[0].failed),
        (2, 1, 1)
    );
    assert!(snap[0].balances());
    assert!(matches!(stats.outcome(1), Some(Outcome::Delivered { .. })));
    assert!(matches!(
        stats.outcome(2),
        Some(Outcome::Failed {
            code: Code::InvalidArgument,
            ..
        })
    ));

    // C got both through its queue.
    wait_for("C tee'd", &stats, |s| s[1].delivered == 2).await;
    assert_eq!(drain(&mut c_rx).len(), 2);
    assert_eq!(
        stats.outcomes(2)[1].outcome.as_ref().map(Outcome::kind),
        Some("delivered")
    );
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_unreachable_is_unavailable_naming_the_upstream() {
    let dead = dead_addr();
    let (a, stats, _fwd) = proxy_to(vec![dead.to_string()], |_| {}).await;
    let mut client = Target::plain(a.url()).client().unwrap();
    let err = bounded(client.alert(alert("o", "r", "p", true, "")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    // Before: `upstream http://… unreachable: tcp connect error: transport
    // error: Connection refused (os error 111)`.
    assert_eq!(
        err.message(),
        format!(
            "upstream http://{dead} unreachable: connection refused — check that the \
             upstream is running and listening on {dead}"
        ),
        "names the upstream and the cause"
    );
    assert_eq!(a.hub.read(|s| s.accepted()), 1, "still accepted locally");
    let snap = &stats.snapshot()[0];
    assert_eq!((snap.accepted, snap.failed), (1, 1));
    assert_eq!(snap.state, UpstreamState::Down);
    assert_eq!(snap.last_error.as_deref(), Some(refused(dead).as_str()));
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_deadline_is_deadline_exceeded() {
    let b = TestSink::start(SinkConfig {
        hook: Some(Arc::new(Stall)),
        ..SinkConfig::default()
    })
    .await;
    let (a, stats, _fwd) =
        proxy_to(vec![b.url()], |c| c.timeout = Duration::from_millis(300)).await;
    let mut client = Target::plain(a.url()).client().unwrap();
    let t0 = Instant::now();
    let err = bounded(client.alert(alert("o", "r", "p", true, "")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains(&b.url()), "{err:?}");
    assert!(t0.elapsed() >= Duration::from_millis(300));

    wait_for("resolved", &stats, |s| s[0].failed == 1).await;
    let snap = &stats.snapshot()[0];
    assert!(snap.balances() && snap.in_flight == 0, "{snap:?}");
    a.stop().await;

    // The sender's own, shorter deadline wins: behind a proxy whose own
    // deadline is far beyond the test's watchdog, only the sender's 100 ms
    // can end the call before `bounded` fails the test.
    let (a, stats, _fwd) = proxy_to(vec![b.url()], |c| c.timeout = Duration::from_secs(3600)).await;
    let mut client = Target::plain(a.url()).client().unwrap();
    let mut req = tonic::Request::new(alert("o", "r", "p", true, ""));
    req.set_timeout(Duration::from_millis(100));
    let err = bounded(client.alert(req)).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    wait_for("resolved", &stats, |s| s[0].failed == 1).await;
    let snap = &stats.snapshot()[0];
    assert!(snap.balances() && snap.in_flight == 0, "{snap:?}");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_passes_metadata_but_never_the_senders_token() {
    let capture = Arc::new(Capture::default());
    let b = TestSink::start(SinkConfig {
        token: Some("upstream-secret".into()),
        hook: Some(capture.clone()),
        ..SinkConfig::default()
    })
    .await;
    let a_hub = hub();
    let mut targets = vec![Target::plain(b.url())];
    targets[0].token = Some("upstream-secret".into());
    let mut cfg = ForwardConfig::new(targets);
    cfg.mode = sinkwatch::forward::ForwardMode::Proxy;
    cfg.pass_metadata = true;
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let a = TestSink::start_with_hub(
        a_hub,
        SinkConfig {
            token: Some("sender-secret".into()),
            hook: fwd.hook(),
            ..SinkConfig::default()
        },
    )
    .await;
    let mut sender = Target::plain(a.url());
    sender.token = Some("sender-secret".into());
    let mut client = sender.client().unwrap();
    let mut req = tonic::Request::new(alert("o", "r", "p", true, ""));
    req.metadata_mut()
        .insert("x-request-id", "abc-123".parse().unwrap());
    req.metadata_mut()
        .insert("cookie", "session=1".parse().unwrap());
    bounded(client.alert(req)).await.unwrap();
    let seen = capture.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("x-request-id").unwrap(), "abc-123");
    assert_eq!(
        seen[0].get("authorization").unwrap(),
        "Bearer upstream-secret"
    );
    assert!(seen[0].get("cookie").is_none());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_never_forwarded() {
    let b = TestSink::start(SinkConfig::default()).await;
    let a_hub = hub();
    let fwd = Forwarder::start(&a_hub, fast(vec![b.url()])).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(
        a_hub.clone(),
        SinkConfig {
            token: Some("t0ken".into()),
            ..SinkConfig::default()
        },
    )
    .await;
    let mut anonymous = Target::plain(a.url()).client().unwrap();
    for _ in 0..5 {
        let err = anonymous
            .alert(alert("o", "r", "p", true, ""))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let mut target = Target::plain(a.url());
    target.token = Some("t0ken".into());
    let mut client = target.client().unwrap();
    let err = client
        .alert(alert("", "r", "p", true, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    client
        .alert(alert("o", "r", "p", true, "the one"))
        .await
        .unwrap();
    wait_for("one delivered", &stats, |s| s[0].delivered == 1).await;
    a.stop().await;
    a_hub.close();
    let report = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.upstreams[0].accepted, 1);
    assert_eq!(a_hub.refused_total(), 6);
    assert_eq!(
        b.hub.read(|s| s.accepted()),
        1,
        "only the accepted alert reached B"
    );
    b.stop().await;
}
