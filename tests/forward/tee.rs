//! Tee delivery: exactly once and in order per key, an upstream down and
//! back, drops counted exactly, retries, runs of identical alerts.

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tee_delivers_every_alert_exactly_once_in_order_per_key() {
    let b_hub = hub();
    let (_, mut b_rx) = b_hub.subscribe();
    let b = TestSink::start_with_hub(b_hub, SinkConfig::default()).await;

    let a_hub = hub();
    let (_, mut a_rx) = a_hub.subscribe();
    let (fwd, stats, a) = forwarding_sink(&a_hub, fast(vec![b.url()])).await;
    let sampler = Sampler::start(stats.clone());

    send_keyed(&a.url(), 8, 250, "").await;
    wait_for("2000 delivered", &stats, |s| s[0].delivered == 2000).await;
    let samples = sampler.finish();
    assert!(samples > 10, "only {samples} samples");

    let sent = drain(&mut a_rx);
    let got = drain(&mut b_rx);
    assert_eq!(sent.len(), 2000);
    assert_eq!(got.len(), 2000, "B got every alert");
    assert_unique(&got);
    assert_eq!(
        per_key(&got),
        per_key(&sent),
        "same alerts, same order per key"
    );

    let snap = &stats.snapshot()[0];
    assert_eq!(
        (
            snap.accepted,
            snap.failed,
            snap.dropped,
            snap.queued,
            snap.in_flight
        ),
        (2000, 0, 0, 0, 0)
    );
    assert_eq!(snap.state, UpstreamState::Up);
    assert!(snap.latency_p50.is_some() && snap.latency_p99 >= snap.latency_p50);
    assert!(matches!(
        stats.outcome(1),
        Some(Outcome::Delivered { attempts: 1, .. })
    ));
    assert_eq!(stats.outcomes(2000)[0].upstream, b.url());
    assert!(stats.outcome(2001).is_none());
    assert_eq!(stats.health().up, 1);

    a.stop().await;
    a_hub.close();
    let report = fwd.shutdown(Duration::from_secs(5)).await;
    assert!(!report.timed_out);
    assert_eq!(report.undelivered_total(), 0);
    assert!(report.undelivered[0].lines().is_empty());
    b.stop().await;
}

/// An upstream that goes away while nothing is being sent to it is shown
/// down (the idle check), and up again once it is back; before the first
/// alert, a reachable one is shown up, a mistyped address down, and a hung
/// one (its TCP taken, no HTTP/2 answer) down. On old each kept its last
/// state until an alert was sent: `up` for the first, `connecting` for the
/// others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_gone_while_idle_is_shown_down_and_up_when_back() {
    let b1 = Upstream::bind("127.0.0.1:0".parse().unwrap(), hub(), SinkConfig::default()).await;
    let addr = b1.addr;
    let dead = dead_addr();
    // Takes connections (the kernel does, for a listener never accepting)
    // and answers nothing: a hung process.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let a_hub = hub();
    let mut cfg = fast(vec![
        format!("http://{addr}"),
        format!("http://{dead}"),
        format!("http://{hung_addr}"),
    ]);
    cfg.idle_check = Some(Duration::from_millis(20));
    let (fwd, stats, a) = forwarding_sink(&a_hub, cfg).await;
    wait_for("each found before any alert", &stats, |s| {
        s[0].state == UpstreamState::Up
            && s[1].state == UpstreamState::Down
            && s[2].state == UpstreamState::Down
            && s.iter().all(|u| u.accepted == 0)
    })
    .await;
    let e = stats.snapshot()[1].last_error.clone().unwrap();
    assert!(
        e.contains("connection refused") && e.contains("found while idle"),
        "{e}"
    );
    let e = stats.snapshot()[2].last_error.clone().unwrap();
    assert!(
        e.contains("did not answer an HTTP/2 ping") && e.contains("found while idle"),
        "{e}"
    );

    let mut client = Target::plain(a.url()).client().unwrap();
    client.alert(alert("o", "r1", "p", true, "")).await.unwrap();
    wait_for("delivered", &stats, |s| s[0].delivered == 1).await;
    assert_eq!(stats.snapshot()[0].state, UpstreamState::Up);
    b1.stop().await;
    wait_for("B gone while idle, shown down", &stats, |s| {
        s[0].state == UpstreamState::Down
    })
    .await;
    assert_eq!(stats.snapshot()[0].in_flight, 0, "no alert told it");

    let b2 = Upstream::bind(addr, hub(), SinkConfig::default()).await;
    wait_for("B back, shown up", &stats, |s| {
        s[0].state == UpstreamState::Up
    })
    .await;
    a.stop().await;
    a_hub.close();
    // The alert waits for the dead address: the grace is not waited out.
    fwd.shutdown(Duration::from_millis(100)).await;
    b2.stop().await;
    drop(hung);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_mid_run_then_back_resumes_with_exact_counters() {
    let b1_hub = hub();
    let (_, mut b1_rx) = b1_hub.subscribe();
    let b1 = Upstream::bind(
        "127.0.0.1:0".parse().unwrap(),
        b1_hub,
        SinkConfig::default(),
    )
    .await;
    let addr = b1.addr;

    let a_hub = hub();
    let (_, mut a_rx) = a_hub.subscribe();
    let fwd = Forwarder::start(&a_hub, fast(vec![format!("http://{addr}")])).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(a_hub.clone(), SinkConfig::default()).await;
    let sampler = Sampler::start(stats.clone());

    send_keyed(&a.url(), 4, 100, "one-").await;
    wait_for("phase 1 delivered", &stats, |s| s[0].delivered == 400).await;
    b1.stop().await;

    // B is down: A still accepts every alert (send_keyed asserts OK).
    send_keyed(&a.url(), 4, 100, "two-").await;
    wait_for("the upstream seen down, every alert queued", &stats, |s| {
        s[0].state == UpstreamState::Down && s[0].accepted == 800
    })
    .await;
    let down = &stats.snapshot()[0];
    assert_eq!(
        down.delivered, 400,
        "nothing can be delivered while B is down"
    );
    assert_eq!((down.failed, down.dropped), (0, 0));
    assert_eq!(down.queued + down.in_flight, 400);
    assert!(down.last_error.is_some());

    // B comes back on the same port.
    let b2_hub = hub();
    let (_, mut b2_rx) = b2_hub.subscribe();
    let b2 = Upstream::bind(addr, b2_hub, SinkConfig::default()).await;
    wait_for("everything delivered", &stats, |s| s[0].delivered == 800).await;
    let samples = sampler.finish();
    assert!(samples > 10, "only {samples} samples");

    let snap = &stats.snapshot()[0];
    assert_eq!(
        (
            snap.accepted,
            snap.failed,
            snap.dropped,
            snap.queued,
            snap.in_flight
        ),
        (800, 0, 0, 0, 0)
    );
    assert_eq!(snap.state, UpstreamState::Up);

    let sent = drain(&mut a_rx);
    let got1 = drain(&mut b1_rx);
    let got2 = drain(&mut b2_rx);
    assert_eq!(got1.len(), 400);
    assert!(got1.iter().all(|r| r.details.starts_with("one-")));
    assert_eq!(got2.len(), 400);
    assert!(got2.iter().all(|r| r.details.starts_with("two-")));
    let all: Vec<_> = got1.iter().chain(&got2).cloned().collect();
    assert_unique(&all);
    assert_eq!(
        per_key(&all),
        per_key(&sent),
        "every alert once, in order per key"
    );

    a.stop().await;
    a_hub.close();
    assert_eq!(
        fwd.shutdown(Duration::from_secs(5))
            .await
            .undelivered_total(),
        0
    );
    b2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upstreams_last_error_names_its_address_and_says_connection_refused() {
    let dead = dead_addr();
    let a_hub = hub();
    let fwd = Forwarder::start(&a_hub, fast(vec![dead.to_string()])).unwrap();
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
    wait_for("the upstream seen down, with an error", &stats, |s| {
        s[0].state == UpstreamState::Down && s[0].last_error.is_some()
    })
    .await;
    let snap = &stats.snapshot()[0];
    // Before: `Unavailable: tcp connect error: transport error: Connection
    // refused (os error 111)`.
    let want = refused(dead);
    assert_eq!(snap.last_error.as_deref(), Some(want.as_str()));
    assert_eq!(stats.to_json()[0]["last_error"], want.as_str());
    // The alert waits for the upstream to come back; nothing failed.
    assert_eq!(snap.failed, 0);
    assert!(
        matches!(stats.outcome(1), Some(Outcome::InFlight { attempts }) if attempts >= 1),
        "{:?}",
        stats.outcome(1)
    );
    a_hub.close();
    let report = fwd.shutdown(Duration::from_millis(50)).await;
    assert_eq!(report.undelivered_total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_exactly_and_shutdown_reports_every_undelivered_alert() {
    let dead = dead_addr();
    let a_hub = hub();
    let mut cfg = fast(vec![dead.to_string()]);
    cfg.queue = 10;
    cfg.concurrency = 2;
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(a_hub.clone(), SinkConfig::default()).await;
    let sampler = Sampler::start(stats.clone());

    let mut client = Target::plain(a.url()).client().unwrap();
    for i in 0..100 {
        client
            .alert(alert("o", &format!("r{i}"), "p", false, "x"))
            .await
            .expect("accepted although the upstream is down");
    }
    wait_for("all 100 seen by the forwarder", &stats, |s| {
        s[0].accepted == 100
    })
    .await;
    wait_for("the upstream seen down", &stats, |s| {
        s[0].state == UpstreamState::Down
    })
    .await;
    let snap = &stats.snapshot()[0];
    assert_eq!((snap.delivered, snap.failed), (0, 0));
    // The queue is full, and each lane holds one alert for sending: never
    // sent, so counted queued (in flight only during an attempt).
    let held = snap.queued + snap.in_flight - 10;
    assert!((1..=2).contains(&held), "{snap:?}");
    assert_eq!(
        snap.dropped,
        100 - 10 - held,
        "every other alert dropped, counted"
    );
    assert_eq!(stats.health().dropped, snap.dropped);
    assert!(
        health_line(&stats).contains("1 down"),
        "{}",
        health_line(&stats)
    );
    assert_eq!(
        stats.outcome(100),
        Some(Outcome::Dropped(DropReason::QueueFull))
    );
    assert_eq!(
        snap.last_error.as_deref(),
        Some(refused(dead).as_str()),
        "the cause, not `tcp connect error`"
    );

    a.stop().await;
    a_hub.close();
    let report = fwd.shutdown(Duration::from_millis(100)).await;
    assert!(report.timed_out);
    sampler.finish();
    let u = &report.undelivered[0];
    assert_eq!(u.url, format!("http://{dead}"));
    assert_eq!(
        u.seqs(),
        (1..=100).collect::<Vec<u64>>(),
        "exactly the alerts that were not delivered"
    );
    assert_eq!(u.dropped.count(), snap.dropped);
    // The dead upstream was never sent anything: what its lanes held is
    // queued, not in flight (on old: in flight, "may have arrived").
    assert_eq!(u.queued.count(), 10 + held);
    assert_eq!(u.in_flight.count(), 0);
    assert_eq!(report.undelivered_total(), 100);
    let lines = u.lines();
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "undelivered" && l["upstream"] == u.url.as_str())
    );
    let listed: u64 = lines.iter().map(|l| l["count"].as_u64().unwrap()).sum();
    assert_eq!(listed, 100);
    assert!(report.summary_lines()[0].contains("100 alerts not delivered"));
    assert!(report.upstreams[0].balances());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_alerts_go_out_at_once_and_every_keys_order_holds() {
    let mut g = Gated::start(|c| c.concurrency = 4).await;
    let stats = g.stats.clone();
    let mut client = Target::plain(g.a.url()).client().unwrap();
    // One key: a first alert that waits at B (so the rest queues behind
    // it), then 6 identical failures, a fix, 6 identical failures again.
    let sent: Vec<&str> = ["before"]
        .into_iter()
        .chain(["x"; 6])
        .chain(["fixed"])
        .chain(["x"; 6])
        .collect();
    for d in &sent {
        let pass = *d == "fixed";
        client.alert(alert("o", "r", "p", pass, d)).await.unwrap();
    }
    wait_for("all queued behind the first", &stats, |s| {
        s[0].in_flight == 1 && s[0].queued == 13
    })
    .await;
    // The run goes out at once, up to the 4 allowed in flight; the fix
    // waits for the whole run of 6.
    g.gate.open(1);
    wait_for("a run of 4 in flight", &stats, |s| {
        s[0].delivered == 2 && s[0].in_flight == 4
    })
    .await;
    let gate = g.gate.clone();
    wait_for("the run of 4 waiting at B", &stats, |_| {
        gate.waiting.load(Ordering::SeqCst) == 4
    })
    .await;
    g.gate.open(4);
    wait_for("the rest of the run", &stats, |s| {
        s[0].delivered == 2 + 4 && s[0].in_flight == 2
    })
    .await;
    g.gate.open(2);
    wait_for("the fix, alone", &stats, |s| {
        s[0].delivered == 2 + 6 && s[0].in_flight == 1
    })
    .await;
    g.gate.open(1_000);
    wait_for("all", &stats, |s| s[0].delivered == 1 + 14).await;
    assert_eq!(
        g.gate.most.load(Ordering::SeqCst),
        4,
        "never more in flight than the concurrency"
    );
    let got: Vec<String> = drain(&mut g.b_rx)
        .iter()
        .filter(|r| &*r.repo == "r")
        .map(|r| r.details.to_string())
        .collect();
    assert_eq!(got, sent, "B saw the key's alerts in the order sent");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_permanent_ones_fail_at_once() {
    // B refuses details over 10 bytes (permanent) and is "busy" for 2 calls.
    let flaky = Arc::new(Flaky {
        fail: 2,
        calls: AtomicU32::new(0),
    });
    let b = TestSink::start(SinkConfig {
        limits: SinkLimits {
            max_details_bytes: 10,
            ..SinkLimits::default()
        },
        hook: Some(flaky.clone()),
        ..SinkConfig::default()
    })
    .await;
    let a_hub = hub();
    let mut cfg = fast(vec![b.url()]);
    cfg.concurrency = 1;
    cfg.retries = 3;
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(a_hub.clone(), SinkConfig::default()).await;
    let mut client = Target::plain(a.url()).client().unwrap();
    client.alert(alert("o", "r", "p", true, "")).await.unwrap();
    client
        .alert(alert("o", "r", "p", false, "far too long for B"))
        .await
        .unwrap();
    wait_for("both decided", &stats, |s| {
        s[0].delivered + s[0].failed == 2
    })
    .await;
    let snap = &stats.snapshot()[0];
    assert_eq!((snap.delivered, snap.failed, snap.retries), (1, 1, 2));
    assert!(matches!(
        stats.outcome(1),
        Some(Outcome::Delivered { attempts: 3, .. })
    ));
    match stats.outcome(2) {
        Some(
            o @ Outcome::Failed {
                code: Code::InvalidArgument,
                attempts: 1,
                ..
            },
        ) => {
            assert!(o.describe().contains("details"), "{}", o.describe());
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    // A status the upstream sent is shown as it is, with its code.
    assert_eq!(
        snap.last_error.as_deref(),
        Some("InvalidArgument: details is 18 bytes; the limit is 10 bytes")
    );
    // Up, and refusing since its last delivery (a review saw a ✓ beside
    // `failed 300 · delivered 0`); a delivery ends it.
    assert_eq!(snap.state, UpstreamState::Up);
    assert!(snap.refusing, "{snap:?}");
    assert_eq!(snap.to_json()["refusing"], true);
    client.alert(alert("o", "r2", "p", true, "")).await.unwrap();
    wait_for("the next delivered", &stats, |s| s[0].delivered == 2).await;
    assert!(!stats.snapshot()[0].refusing);

    // Retries run out: C busy for every call.
    let flaky2 = Arc::new(Flaky {
        fail: u32::MAX,
        calls: AtomicU32::new(0),
    });
    let c = TestSink::start(SinkConfig {
        hook: Some(flaky2.clone()),
        ..SinkConfig::default()
    })
    .await;
    let c_hub = hub();
    let mut cfg = fast(vec![c.url()]);
    cfg.retries = 2;
    let fwd2 = Forwarder::start(&c_hub, cfg).unwrap();
    let stats2 = fwd2.stats();
    c_hub
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
    wait_for("failed after retries", &stats2, |s| s[0].failed == 1).await;
    assert_eq!(
        flaky2.calls.load(Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
    match stats2.outcome(1) {
        Some(Outcome::Failed {
            code: Code::Unavailable,
            attempts: 3,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        stats2.snapshot()[0].state,
        UpstreamState::Up,
        "it answered: it is up"
    );
    assert_eq!(
        stats2.snapshot()[0].last_error.as_deref(),
        Some("Unavailable: busy, try later"),
        "the upstream's own UNAVAILABLE, as it sent it"
    );

    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// A tee upstream that stops answering (reachable, but hung: no answer
/// within the forward timeout) shows down, as a proxy's does, and up again
/// once it answers. It showed `up` the whole time (a user's review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_tee_upstream_shows_down_until_it_answers() {
    let g = Gated::start(|c| c.timeout = Duration::from_millis(200)).await;
    let mut client = Target::plain(g.a.url()).client().unwrap();
    client.alert(alert("o", "r1", "p", true, "")).await.unwrap();
    wait_for("the attempt timed out", &g.stats, |s| {
        s[0].state == UpstreamState::Down
    })
    .await;
    g.gate.open(1_000);
    wait_for("answered again", &g.stats, |s| {
        s[0].state == UpstreamState::Up && s[0].delivered >= 2
    })
    .await;
    g.stop().await;
}

/// While a tee upstream has left an alert unanswered the snapshot says
/// for how long (the panel marks it ✗ from 3 s, long before the forward
/// timeout marks it down); once it answers and nothing is in flight, no
/// wait is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tee_upstream_left_waiting_says_how_long() {
    let g = Gated::start(|c| c.timeout = Duration::from_secs(600)).await;
    assert_eq!(
        g.stats.snapshot()[0].unanswered_for,
        None,
        "nothing in flight"
    );
    let mut client = Target::plain(g.a.url()).client().unwrap();
    client.alert(alert("o", "r1", "p", true, "")).await.unwrap();
    wait_for("the alert waits for B", &g.stats, |s| {
        s[0].in_flight == 1 && s[0].unanswered_for.is_some()
    })
    .await;
    let first = g.stats.snapshot()[0].unanswered_for.unwrap();
    wait_for("the wait grows", &g.stats, |s| {
        s[0].unanswered_for.is_some_and(|d| d > first)
    })
    .await;
    assert_eq!(g.stats.snapshot()[0].state, UpstreamState::Up);
    g.gate.open(1);
    wait_for("answered", &g.stats, |s| s[0].delivered == 2).await;
    assert_eq!(g.stats.snapshot()[0].unanswered_for, None);
    g.stop().await;
}

/// An alert whose call the upstream took and never answered is reported
/// in flight at exit (the upstream may have it), where one a dead upstream
/// never got is queued (the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_a_hung_upstream_took_is_in_flight_at_exit() {
    let g = Gated::start(|c| c.timeout = Duration::from_secs(600)).await;
    let mut client = Target::plain(g.a.url()).client().unwrap();
    client.alert(alert("o", "r1", "p", true, "")).await.unwrap();
    // B's hook holds the call: it reached B.
    bounded(async {
        while g.gate.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    g.a.stop().await;
    g.a_hub.close();
    let report = g.fwd.shutdown(Duration::from_millis(50)).await;
    let u = &report.undelivered[0];
    assert_eq!((u.in_flight.count(), u.queued.count()), (1, 0));
    g.gate.open(1_000);
    g.b.stop().await;
}

/// A feeder kept behind the hub (a hub queue of 4, alerts ingested in a
/// tight loop while the feeder's thread naps) reads what it skipped back
/// from the history: the upstream gets every alert once, nothing counted
/// dropped. Fails on old: hundreds `dropped` (`forwarder fell behind`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feeder_overtaken_by_the_hub_still_forwards_every_alert() {
    let b_hub = hub();
    let (_, mut b_rx) = b_hub.subscribe();
    let b = TestSink::start_with_hub(b_hub, SinkConfig::default()).await;

    let a_hub = Hub::new(StoreLimits::default(), 4);
    let fwd = Forwarder::start(&a_hub, fast(vec![b.url()])).unwrap();
    let stats = fwd.stats();
    for i in 0..2000 {
        let a = sinkwatch::model::NewAlert {
            owner: "o".into(),
            repo: format!("r{}", i % 50),
            policy: "p".into(),
            details: format!("d{i}"),
            pass: i % 3 == 0,
        };
        a_hub.ingest(&a, None, None).unwrap();
    }
    wait_for("2000 delivered or dropped", &stats, |s| {
        s[0].delivered + s[0].dropped + s[0].failed == 2000
    })
    .await;
    let snap = &stats.snapshot()[0];
    assert_eq!(
        (snap.accepted, snap.delivered, snap.dropped, snap.failed),
        (2000, 2000, 0, 0)
    );
    let got = drain(&mut b_rx);
    assert_eq!(got.len(), 2000, "B got every alert");
    assert_unique(&got);
    let sent: Vec<_> = a_hub
        .read(|s| s.records_between(1, 2001))
        .into_iter()
        .map(Arc::new)
        .collect();
    assert_eq!(sent.len(), 2000);
    assert_eq!(
        per_key(&got),
        per_key(&sent),
        "same alerts, same order per key"
    );

    a_hub.close();
    let report = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.undelivered_total(), 0);
    b.stop().await;
}
