//! Forwarding between real sinks over loopback: tee (exactly once, in order
//! per key, upstream down and back, drops counted exactly, undelivered
//! report), proxy (the upstream's codes), TLS upstreams with a test CA, and
//! two chained binaries.
//!
//! No sleeps as synchronisation: conditions are polled with a bound, so a
//! bug fails the test instead of hanging it.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestSink, alert};
use sinkwatch::client::Target;
use sinkwatch::forward::{
    Backoff, DropReason, ForwardConfig, ForwardStats, Forwarder, Outcome, UpstreamSnapshot,
    UpstreamState,
};
use sinkwatch::hub::Hub;
use sinkwatch::model::{AlertRecord, StoreLimits};
use sinkwatch::sink::{AcceptHook, SinkConfig, SinkLimits, TlsFiles, serve};
use tokio::sync::{broadcast, oneshot};
use tonic::codegen::BoxFuture;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

const BOUND: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds; panics with `what` and the last snapshot
/// after `BOUND`.
async fn wait_for(
    what: &str,
    stats: &ForwardStats,
    mut cond: impl FnMut(&[UpstreamSnapshot]) -> bool,
) {
    let start = Instant::now();
    loop {
        let snap = stats.snapshot();
        if cond(&snap) {
            return;
        }
        assert!(
            start.elapsed() < BOUND,
            "timed out waiting for {what}: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fast(urls: Vec<String>) -> ForwardConfig {
    let mut c = ForwardConfig::new(urls.into_iter().map(Target::plain).collect());
    c.backoff = Backoff {
        first: Duration::from_millis(5),
        max: Duration::from_millis(50),
    };
    c
}

/// The status bar's forwarding text, as the TUI shows it.
fn health_line(stats: &ForwardStats) -> String {
    sinkwatch::ui::render::forward_health_text(&stats.health(), false)
}

fn hub() -> Arc<Hub> {
    Hub::new(StoreLimits::default(), 1 << 16)
}

fn drain(rx: &mut broadcast::Receiver<Arc<AlertRecord>>) -> Vec<Arc<AlertRecord>> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(r) => out.push(r),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => {
                return out;
            }
            Err(e) => panic!("test receiver lagged: {e:?}"),
        }
    }
}

/// A sink on a given listener (to restart an upstream on the same port).
struct Upstream {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Upstream {
    async fn bind(addr: SocketAddr, hub: Arc<Hub>, config: SinkConfig) -> Upstream {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, hub, config, async {
            let _ = stopped.await;
        }));
        Upstream { addr, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(BOUND, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Samples every upstream's counters on its own thread until stopped and
/// checks the invariant at each sample.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, Option<UpstreamSnapshot>)>,
}

impl Sampler {
    fn start(stats: Arc<ForwardStats>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                for snap in stats.snapshot() {
                    n += 1;
                    if !snap.balances() {
                        return (n, Some(snap));
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (n, None)
        });
        Sampler { stop, thread }
    }

    /// Number of samples; panics if one did not balance.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let (n, bad) = self.thread.join().unwrap();
        assert!(bad.is_none(), "counters did not balance: {bad:#?}");
        n
    }
}

/// Sends `per_worker` alerts from each of `workers` concurrent senders;
/// each worker owns its keys and sends them in order, so every key's
/// alerts reach the sink in order. Details are unique: `w{w}-{i}`.
async fn send_keyed(url: &str, workers: usize, per_worker: usize, tag: &str) {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut client = Target::plain(url).client().unwrap();
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_worker {
                let req = alert(
                    &format!("org-{w}"),
                    &format!("repo-{}", i % 7),
                    "Branch Protection",
                    i % 3 == 0,
                    &format!("{tag}w{w}-{i}"),
                );
                client
                    .alert(req)
                    .await
                    .expect("the first sink accepts every alert");
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.unwrap().unwrap();
    }
}

type Key = (String, String, String);

fn key(r: &AlertRecord) -> Key {
    (
        r.owner.to_string(),
        r.repo.to_string(),
        r.policy.to_string(),
    )
}

/// Each key's details, in arrival order.
fn per_key(records: &[Arc<AlertRecord>]) -> BTreeMap<Key, Vec<String>> {
    let mut m: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for r in records {
        m.entry(key(r)).or_default().push(r.details.to_string());
    }
    m
}

fn assert_unique(records: &[Arc<AlertRecord>]) {
    let mut seen = HashSet::new();
    for r in records {
        assert!(
            seen.insert(r.details.to_string()),
            "delivered twice: {}",
            r.details
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tee_delivers_every_alert_exactly_once_in_order_per_key() {
    let b_hub = hub();
    let (_, mut b_rx) = b_hub.subscribe();
    let b = TestSink::start_with_hub(b_hub, SinkConfig::default()).await;

    let a_hub = hub();
    let (_, mut a_rx) = a_hub.subscribe();
    let fwd = Forwarder::start(&a_hub, fast(vec![b.url()])).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(
        a_hub.clone(),
        SinkConfig {
            hook: fwd.hook(),
            ..SinkConfig::default()
        },
    )
    .await;
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

/// An address nothing listens on.
fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The `last_error` of an upstream at `addr` that refuses connections: the
/// gRPC code, then the cause and what to check.
fn refused(addr: SocketAddr) -> String {
    format!(
        "Unavailable: connection refused — check that the upstream is running and \
         listening on {addr}"
    )
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
    assert_eq!(snap.queued, 10, "the queue is full");
    assert!((1..=2).contains(&snap.in_flight), "{snap:?}");
    assert_eq!(
        snap.dropped,
        100 - 10 - snap.in_flight,
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
    assert_eq!(u.queued.count(), 10);
    assert_eq!(u.in_flight.count(), snap.in_flight);
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

/// B's hook: every call waits for a permit the test hands out, so the test
/// decides how fast B "absorbs"; counts the calls waiting at once.
struct Gate {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: Arc<AtomicU32>,
    most: Arc<AtomicU32>,
}

impl Default for Gate {
    /// Shut: no call gets through until [`Gate::open`].
    fn default() -> Gate {
        Gate {
            permits: Arc::new(tokio::sync::Semaphore::new(0)),
            waiting: Arc::default(),
            most: Arc::default(),
        }
    }
}

impl Gate {
    fn open(&self, n: usize) {
        self.permits.add_permits(n);
    }
}

impl AcceptHook for Gate {
    fn accepted(&self, _: Arc<AlertRecord>, _: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let (permits, waiting) = (self.permits.clone(), self.waiting.clone());
        Some(Box::pin(async move {
            permits.acquire().await.expect("never closed").forget();
            waiting.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }))
    }
}

/// A tee sink A (its hook installed, as `sinkwatch` does) in front of a
/// gated sink B; B let exactly one alert through, so A has seen it up.
struct Gated {
    a: TestSink,
    b: TestSink,
    b_rx: broadcast::Receiver<Arc<AlertRecord>>,
    gate: Arc<Gate>,
    stats: Arc<ForwardStats>,
    fwd: Forwarder,
    a_hub: Arc<Hub>,
}

impl Gated {
    async fn start(tweak: impl FnOnce(&mut ForwardConfig)) -> Gated {
        let gate = Arc::new(Gate::default());
        let b_hub = hub();
        let (_, b_rx) = b_hub.subscribe();
        let b = TestSink::start_with_hub(
            b_hub,
            SinkConfig {
                hook: Some(gate.clone()),
                ..SinkConfig::default()
            },
        )
        .await;
        let a_hub = hub();
        let mut cfg = fast(vec![b.url()]);
        tweak(&mut cfg);
        let fwd = Forwarder::start(&a_hub, cfg).unwrap();
        let stats = fwd.stats();
        let a = TestSink::start_with_hub(
            a_hub.clone(),
            SinkConfig {
                hook: fwd.hook(),
                ..SinkConfig::default()
            },
        )
        .await;
        gate.open(1);
        let mut client = Target::plain(a.url()).client().unwrap();
        client
            .alert(alert("o", "first", "p", true, ""))
            .await
            .unwrap();
        wait_for("the first alert delivered", &stats, |s| s[0].delivered == 1).await;
        assert_eq!(stats.snapshot()[0].state, UpstreamState::Up);
        Gated {
            a,
            b,
            b_rx,
            gate,
            stats,
            fwd,
            a_hub,
        }
    }

    /// Stops A, drains the forwarder with B open; returns the report.
    async fn stop(self) -> sinkwatch::forward::ForwardReport {
        self.gate.open(1_000_000);
        self.a.stop().await;
        self.a_hub.close();
        let report = self.fwd.shutdown(BOUND).await;
        self.b.stop().await;
        report
    }
}

/// `workers` senders, each sending `each` distinct alerts one after the
/// other; returns how many calls have been answered so far (live).
fn senders(
    url: &str,
    workers: usize,
    each: usize,
) -> (Arc<AtomicU32>, Vec<tokio::task::JoinHandle<()>>) {
    let answered = Arc::new(AtomicU32::new(0));
    let tasks = (0..workers)
        .map(|w| {
            let mut client = Target::plain(url).client().unwrap();
            let answered = answered.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    client
                        .alert(alert("o", &format!("w{w}-{i}"), "p", false, "x"))
                        .await
                        .expect("accepted");
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    (answered, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_upstream_that_falls_behind_holds_senders_and_drops_nothing() {
    // Queue 8: behind from 4 queued. Three senders can push it to at most
    // 4 + 3 = 7 before all three are held, so nothing may be dropped.
    let g = Gated::start(|c| {
        c.queue = 8;
        c.concurrency = 1;
        // B answers nothing while shut: it must not count as stalled here.
        c.stall = BOUND;
    })
    .await;
    let stats = g.stats.clone();
    let sampler = Sampler::start(stats.clone());
    let (answered, tasks) = senders(&g.a.url(), 3, 10);
    // Held, and every accepted alert handed to the queue (a sender may be
    // held while its alert is still on its way to the queue).
    let hub = g.a.hub.clone();
    wait_for("senders held", &stats, |s| {
        s[0].holding == 3 && s[0].queued >= 4 && s[0].accepted == hub.read(|st| st.accepted())
    })
    .await;
    let before = answered.load(Ordering::SeqCst);
    assert!(health_line(&stats).ends_with("holding 3 senders"));
    // B is shut: nothing moves, so held senders stay held (bounded check:
    // a few more snapshots must not see new answers or any drop).
    for _ in 0..20 {
        tokio::task::yield_now().await;
        let s = &stats.snapshot()[0];
        assert_eq!(s.dropped, 0, "{s:?}");
        assert!(s.queued <= 7, "{s:?}");
    }
    assert_eq!(
        answered.load(Ordering::SeqCst),
        before,
        "held, not answered"
    );
    assert!(before < 30);

    // Let B take just enough for one place below the mark (4): exactly one
    // held sender goes (its next alert is held again), not all of them.
    let s = stats.snapshot()[0].clone();
    let through = s.queued as usize - 3;
    g.gate.open(through);
    let a = answered.clone();
    wait_for("one released, held again", &stats, |now| {
        now[0].delivered == s.delivered + through as u64
            && now[0].holding == 3
            && a.load(Ordering::SeqCst) > before
    })
    .await;
    assert_eq!(
        answered.load(Ordering::SeqCst),
        before + 1,
        "{:?}",
        stats.snapshot()[0]
    );

    g.gate.open(1_000);
    for t in tasks {
        bounded(t).await.unwrap();
    }
    wait_for("all delivered", &stats, |s| s[0].delivered == 31).await;
    sampler.finish();
    let s = &stats.snapshot()[0];
    assert_eq!((s.dropped, s.failed, s.queued, s.in_flight), (0, 0, 0, 0));
    assert!(s.held >= 3 && s.held <= 30, "{s:?}");
    assert_eq!(s.held_to_limit, 0, "room released them, not the limit");
    assert_eq!(s.holding, 0, "none held any more");
    assert_eq!(stats.to_json()[0]["held"], s.held);
    assert_eq!(g.stop().await.undelivered_total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_behind_drop_answers_at_once_and_counts_the_drops() {
    let g = Gated::start(|c| {
        c.queue = 8;
        c.concurrency = 1;
        c.when_behind = sinkwatch::forward::WhenBehind::Drop;
    })
    .await;
    let stats = g.stats.clone();
    assert!(g.fwd.hook().is_none(), "nothing to hold");
    let (answered, tasks) = senders(&g.a.url(), 3, 10);
    for t in tasks {
        bounded(t).await.unwrap();
    }
    assert_eq!(answered.load(Ordering::SeqCst), 30, "all answered, B shut");
    wait_for("all 31 seen", &stats, |s| s[0].accepted == 31).await;
    let s = &stats.snapshot()[0];
    assert_eq!(s.queued + s.in_flight, 9, "{s:?}");
    assert_eq!(s.dropped, 30 - 9, "{s:?}");
    assert_eq!(s.held, 0);
    let report = g.stop().await;
    assert_eq!(report.upstreams[0].delivered, 1 + 9, "the queue delivered");
    assert_eq!(report.undelivered_total(), 30 - 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sender_is_answered_ok_within_its_own_deadline() {
    let g = Gated::start(|c| {
        c.queue = 2;
        c.concurrency = 1;
        c.stall = BOUND;
    })
    .await;
    let stats = g.stats.clone();
    // Fill: one in flight at B, one queued (= behind, with a queue of 2).
    let mut client = Target::plain(g.a.url()).client().unwrap();
    for i in 0..2 {
        let mut req = tonic::Request::new(alert("o", &format!("r{i}"), "p", true, ""));
        req.set_timeout(Duration::from_millis(400));
        bounded(client.alert(req)).await.unwrap();
    }
    wait_for("behind", &stats, |s| {
        s[0].queued == 1 && s[0].in_flight == 1
    })
    .await;
    let mut req = tonic::Request::new(alert("o", "held", "p", true, ""));
    req.set_timeout(Duration::from_millis(400));
    let t0 = Instant::now();
    bounded(client.alert(req))
        .await
        .expect("OK: held at most half the sender's deadline, never failed");
    assert!(t0.elapsed() >= Duration::from_millis(200), "it was held");
    let s = &stats.snapshot()[0];
    assert!(s.held >= 1 && s.held_to_limit >= 1, "{s:?}");
    assert_eq!(s.dropped, 0);
    let report = g.stop().await;
    assert_eq!(report.upstreams[0].delivered, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_answering_stops_holding_senders() {
    // B accepts connections but answers nothing: held senders must go once
    // it has been silent for the stall time, long before the hold limit.
    let g = Gated::start(|c| {
        c.queue = 8;
        c.concurrency = 1;
        c.stall = Duration::from_millis(200);
        c.timeout = BOUND;
    })
    .await;
    let stats = g.stats.clone();
    let t0 = Instant::now();
    let (answered, tasks) = senders(&g.a.url(), 3, 10);
    for t in tasks {
        bounded(t).await.unwrap();
    }
    assert_eq!(answered.load(Ordering::SeqCst), 30);
    assert!(
        t0.elapsed() < BOUND / 2,
        "released by the stall, not the {BOUND:?} hold limit"
    );
    wait_for("all seen", &stats, |s| s[0].accepted == 31).await;
    let s = &stats.snapshot()[0];
    assert!(s.held >= 1, "they were held first: {s:?}");
    assert!(s.held_to_limit >= 1, "…and let go by a time bound: {s:?}");
    assert_eq!(s.state, UpstreamState::Up, "it never refused a connection");
    assert!(s.dropped > 0, "then the queue filled: {s:?}");
    let report = g.stop().await;
    assert_eq!(
        report.upstreams[0].delivered + report.undelivered_total(),
        31
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_never_holds_senders() {
    let a_hub = hub();
    let mut cfg = fast(vec![dead_addr().to_string()]);
    cfg.queue = 4;
    cfg.concurrency = 1;
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let stats = fwd.stats();
    let a = TestSink::start_with_hub(
        a_hub.clone(),
        SinkConfig {
            hook: fwd.hook(),
            ..SinkConfig::default()
        },
    )
    .await;
    let (answered, tasks) = senders(&a.url(), 2, 20);
    for t in tasks {
        bounded(t).await.unwrap();
    }
    assert_eq!(answered.load(Ordering::SeqCst), 40);
    wait_for("all seen", &stats, |s| s[0].accepted == 40).await;
    let s = &stats.snapshot()[0];
    assert_eq!(s.held, 0, "{s:?}");
    assert!(s.dropped >= 40 - 5, "{s:?}");
    a.stop().await;
    a_hub.close();
    fwd.shutdown(Duration::from_millis(50)).await;
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

/// B's hook: answers UNAVAILABLE to the first `fail` calls.
struct Flaky {
    fail: u32,
    calls: AtomicU32,
}

impl AcceptHook for Flaky {
    fn accepted(&self, _: Arc<AlertRecord>, _: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (n < self.fail).then(|| -> BoxFuture<(), Status> {
            Box::pin(async { Err(Status::unavailable("busy, try later")) })
        })
    }
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

/// B's hook: never answers.
struct Stall;

impl AcceptHook for Stall {
    fn accepted(&self, _: Arc<AlertRecord>, _: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        Some(Box::pin(std::future::pending()))
    }
}

/// B's hook: keeps the metadata of every call.
#[derive(Default)]
struct Capture(Mutex<Vec<MetadataMap>>);

impl AcceptHook for Capture {
    fn accepted(&self, _: Arc<AlertRecord>, md: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        self.0.lock().unwrap().push(md.clone());
        None
    }
}

/// A proxying sink in front of `urls`; returns it, its hub and the stats.
async fn proxy_to(
    urls: Vec<String>,
    tweak: impl FnOnce(&mut ForwardConfig),
) -> (TestSink, Arc<ForwardStats>, Forwarder) {
    let a_hub = hub();
    let mut cfg = fast(urls);
    cfg.mode = sinkwatch::forward::ForwardMode::Proxy;
    tweak(&mut cfg);
    let fwd = Forwarder::start(&a_hub, cfg).unwrap();
    let a = TestSink::start_with_hub(
        a_hub,
        SinkConfig {
            hook: fwd.hook(),
            ..SinkConfig::default()
        },
    )
    .await;
    (a, fwd.stats(), fwd)
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("bounded")
}

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
    assert!(
        err.message().contains("details"),
        "B's own message: {err:?}"
    );
    // Accepted and shown locally all the same.
    assert_eq!(a.hub.read(|s| s.accepted()), 2);

    let snap = stats.snapshot();
    assert_eq!(snap[0].role.as_str(), "proxy");
    assert_eq!(
        snap[0].last_error,
        Some(format!("InvalidArgument: {}", err.message())),
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

    // The sender's own, shorter deadline wins.
    let mut req = tonic::Request::new(alert("o", "r", "p", true, ""));
    req.set_timeout(Duration::from_millis(100));
    let t0 = Instant::now();
    let err = bounded(client.alert(req)).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_millis(300));
    wait_for("both resolved", &stats, |s| s[0].failed == 2).await;
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

/// A CA and a server certificate for `localhost` it signed, as files.
fn test_pki(dir: &std::path::Path) -> (TlsFiles, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sinkwatch test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: None,
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    (files, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = test_pki(dir.path());
    let b = TestSink::start(SinkConfig {
        tls: Some(tls),
        ..SinkConfig::default()
    })
    .await;
    let url = format!("https://localhost:{}", b.addr.port());

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
                ": the upstream did not answer in HTTP/2 — it may serve TLS: \
                 try https://{tls_addr}"
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

// ---- the binary ----------------------------------------------------------

#[test]
fn two_chained_binaries_pass_every_alert_and_count_them() {
    use common::binary::{Headless, bin, output};
    let b = Headless::start(&[]);
    let a = Headless::start(&["--forward", &b.addr, "--stats-interval", "1"]);
    let out = output(bin().args([
        "load",
        "--to",
        &a.url(),
        "--total",
        "5000",
        "--concurrency",
        "32",
        "--json",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(load["ok"], 5000);

    // On SIGTERM A drains its queue (grace 5 s) before it reports.
    let a_exit = a.terminate();
    let (a_lines, a_err, status) = (a_exit.lines(), a_exit.stderr, a_exit.status);
    assert!(status.success(), "{a_err}");
    let stats = a_lines.last().unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["accepted"], 5000);
    let fwd = &stats["forward"][0];
    assert_eq!(fwd["upstream"], format!("http://{}", b.addr));
    assert_eq!(fwd["delivered"], 5000, "{stats}");
    assert_eq!(fwd["accepted"], 5000);
    assert_eq!(stats["undelivered"], 0);
    assert!(!a_err.contains("not delivered"), "{a_err}");
    // Every line is whole JSON (the periodic stats lines share stdout).
    assert_eq!(
        a_lines.iter().filter(|l| l["kind"] == "alert").count(),
        5000
    );

    let b_lines = b.terminate().lines();
    let seqs: Vec<u64> = b_lines
        .iter()
        .filter(|l| l["kind"] == "alert")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=5000).collect::<Vec<_>>());
}

#[test]
fn undelivered_alerts_are_listed_in_the_record_file_and_counted_on_exit() {
    use common::binary::{Headless, bin, output};
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("a.jsonl");
    let dead = dead_addr();
    let a = Headless::start(&[
        "--forward",
        &dead.to_string(),
        "--forward-queue",
        "5",
        "--forward-concurrency",
        "2",
        "--forward-grace",
        "0.2",
        "--record",
        rec.to_str().unwrap(),
    ]);
    for i in 0..20 {
        let out = output(bin().args([
            "send",
            "--to",
            &a.url(),
            "--owner",
            "o",
            "--repo",
            &format!("r{i}"),
            "--policy",
            "p",
            "--pass",
        ]));
        assert!(
            out.status.success(),
            "accepted although the upstream is down"
        );
    }
    let a_exit = a.terminate();
    let (lines, err, status) = (a_exit.lines(), a_exit.stderr, a_exit.status);
    assert!(status.success());
    let stats = lines.last().unwrap();
    assert_eq!(stats["undelivered"], 20, "{stats}");
    assert_eq!(stats["forward"][0]["delivered"], 0);
    assert!(
        err.contains(&format!("forward http://{dead}: 20 alerts not delivered")),
        "{err}"
    );

    let text = std::fs::read_to_string(&rec).unwrap();
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut listed: Vec<u64> = Vec::new();
    let mut reasons = HashMap::new();
    for v in values.iter().filter(|v| v["kind"] == "undelivered") {
        assert_eq!(v["upstream"], format!("http://{dead}"));
        *reasons
            .entry(v["reason"].as_str().unwrap().to_owned())
            .or_insert(0u64) += v["count"].as_u64().unwrap();
        for r in v["ranges"].as_array().unwrap() {
            listed.extend(r[0].as_u64().unwrap()..=r[1].as_u64().unwrap());
        }
    }
    listed.sort_unstable();
    assert_eq!(listed, (1..=20).collect::<Vec<_>>(), "{text}");
    assert_eq!(reasons.get("queued"), Some(&5), "{reasons:?}");
    // The recording still replays: readers skip the unknown kind.
    let alerts = sinkwatch::record::read_alerts(text.as_bytes())
        .filter(|a| a.is_ok())
        .count();
    assert_eq!(alerts, 20);
}

#[test]
fn bad_forward_options_are_usage_errors() {
    use common::binary::{bin, output};
    // (extra arguments, what the one line on stderr must name)
    let cases: [(&[&str], &str); 4] = [
        (&["--forward", "ftp://x:1"], "ftp://x:1"),
        (
            &[
                "--forward",
                "127.0.0.1:1",
                "--forward-ca",
                "/nonexistent/ca.pem",
            ],
            "/nonexistent/ca.pem",
        ),
        (&["--forward-mode", "proxy"], "needs an upstream"),
        (
            &["--forward", "127.0.0.1:1", "--forward-when-behind", "block"],
            "invalid value 'block' for '--forward-when-behind",
        ),
    ];
    for (extra, named) in cases {
        let out = output(
            bin()
                .args(["--no-tui", "--listen", "127.0.0.1:0"])
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{extra:?}: {err}");
    }
}

/// Forwarding capacity, in process: alerts go straight into A's hub (no
/// ingest network cost) and are tee'd to a real sink B over loopback.
/// `cargo test --release --test forward -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn forward_throughput() {
    for (concurrency, connections) in [
        (16, 1),
        (16, 2),
        (64, 1),
        (64, 2),
        (128, 2),
        (16, 1),
        (64, 2),
    ] {
        let b = TestSink::start(SinkConfig::default()).await;
        let a_hub = hub();
        let mut cfg = fast(vec![b.url()]);
        cfg.concurrency = concurrency;
        cfg.connections = connections;
        cfg.queue = 1_000_000;
        let fwd = Forwarder::start(&a_hub, cfg).unwrap();
        let stats = fwd.stats();
        let n = 100_000u64;
        let t0 = Instant::now();
        for i in 0..n {
            let a = sinkwatch::model::NewAlert {
                owner: format!("org-{}", i % 10),
                repo: format!("repo-{}", (i / 9) % 1000),
                policy: format!("policy-{}", i % 9),
                details: String::new(),
                pass: i % 8 != 0,
            };
            a_hub.ingest(&a, None, None).unwrap();
            if i % 1024 == 0 {
                tokio::task::yield_now().await;
            }
        }
        wait_for("all delivered", &stats, |s| s[0].delivered == n).await;
        let secs = t0.elapsed().as_secs_f64();
        let s = &stats.snapshot()[0];
        println!(
            "concurrency {concurrency:>3} connections {connections}: {:.0} alerts/s delivered (p50 {:?}, p99 {:?})",
            n as f64 / secs,
            s.latency_p50_total.unwrap(),
            s.latency_p99_total.unwrap()
        );
        a_hub.close();
        fwd.shutdown(Duration::from_secs(1)).await;
        b.stop().await;
    }
}
