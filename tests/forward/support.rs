//! What the forwarding tests share: polling with a bound, senders, sinks
//! with hooks (gated, flaky, stalled, capturing), a test PKI.

pub use std::collections::{BTreeMap, HashMap, HashSet};
pub use std::future::Future;
pub use std::net::SocketAddr;
pub use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
pub use std::sync::{Arc, Mutex};
pub use std::time::{Duration, Instant};

pub use crate::common::{TestSink, alert};
pub use sinkwatch::forward::{
    Backoff, DropReason, ForwardConfig, ForwardStats, Forwarder, Outcome, UpstreamSnapshot,
    UpstreamState,
};
pub use sinkwatch::grpc::Target;
pub use sinkwatch::hub::Hub;
pub use sinkwatch::model::{AlertRecord, StoreLimits};
pub use sinkwatch::sink::{AcceptHook, SinkConfig, SinkLimits, TlsFiles, serve};
pub use tokio::sync::{broadcast, oneshot};
pub use tonic::codegen::BoxFuture;
pub use tonic::metadata::MetadataMap;
pub use tonic::{Code, Status};

pub const BOUND: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds; panics with `what` and the last snapshot
/// after `BOUND`.
pub async fn wait_for(
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

pub fn fast(urls: Vec<String>) -> ForwardConfig {
    let mut c = ForwardConfig::new(urls.into_iter().map(Target::plain).collect());
    // The idle check changes state and errors on a clock of its own: the
    // tests of what calls find leave it out; its own tests turn it on.
    c.idle_check = None;
    c.backoff = Backoff {
        first: Duration::from_millis(5),
        max: Duration::from_millis(50),
    };
    c
}

/// A sink on `hub` that forwards what it accepts as `cfg` says: its
/// forwarder, the forwarder's stats and the sink.
pub async fn forwarding_sink(
    hub: &Arc<Hub>,
    cfg: ForwardConfig,
) -> (Forwarder, Arc<ForwardStats>, TestSink) {
    let fwd = Forwarder::start(hub, cfg).unwrap();
    let stats = fwd.stats();
    let sink = TestSink::start_with_hub(
        hub.clone(),
        SinkConfig {
            hook: fwd.hook(),
            ..SinkConfig::default()
        },
    )
    .await;
    (fwd, stats, sink)
}

/// The status bar's forwarding text, as the TUI shows it.
pub fn health_line(stats: &ForwardStats) -> String {
    sinkwatch::ui::view::forward_health_text(&stats.health(), false)
}

pub fn hub() -> Arc<Hub> {
    Hub::new(StoreLimits::default(), 1 << 16)
}

pub fn drain(rx: &mut broadcast::Receiver<Arc<AlertRecord>>) -> Vec<Arc<AlertRecord>> {
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
pub struct Upstream {
    pub addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Upstream {
    pub async fn bind(addr: SocketAddr, hub: Arc<Hub>, config: SinkConfig) -> Upstream {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, hub, config, async {
            let _ = stopped.await;
        }));
        Upstream { addr, stop, task }
    }

    pub async fn stop(self) {
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
pub struct Sampler {
    pub stop: Arc<AtomicBool>,
    pub thread: std::thread::JoinHandle<(u64, Option<UpstreamSnapshot>)>,
}

impl Sampler {
    pub fn start(stats: Arc<ForwardStats>) -> Sampler {
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
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let (n, bad) = self.thread.join().unwrap();
        assert!(bad.is_none(), "counters did not balance: {bad:#?}");
        n
    }
}

/// Sends `per_worker` alerts from each of `workers` concurrent senders;
/// each worker owns its keys and sends them in order, so every key's
/// alerts reach the sink in order. Details are unique: `w{w}-{i}`.
pub async fn send_keyed(url: &str, workers: usize, per_worker: usize, tag: &str) {
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

pub fn key(r: &AlertRecord) -> Key {
    (
        r.owner.to_string(),
        r.repo.to_string(),
        r.policy.to_string(),
    )
}

/// Each key's details, in arrival order.
pub fn per_key(records: &[Arc<AlertRecord>]) -> BTreeMap<Key, Vec<String>> {
    let mut m: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for r in records {
        m.entry(key(r)).or_default().push(r.details.to_string());
    }
    m
}

pub fn assert_unique(records: &[Arc<AlertRecord>]) {
    let mut seen = HashSet::new();
    for r in records {
        assert!(
            seen.insert(r.details.to_string()),
            "delivered twice: {}",
            r.details
        );
    }
}

/// An address nothing listens on.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The `last_error` of an upstream at `addr` that refuses connections: the
/// gRPC code, then the cause and what to check.
pub fn refused(addr: SocketAddr) -> String {
    format!(
        "Unavailable: connection refused — check that the upstream is running and \
         listening on {addr}"
    )
}

/// B's hook: every call waits for a permit the test hands out, so the test
/// decides how fast B "absorbs"; counts the calls waiting at once.
pub struct Gate {
    pub permits: Arc<tokio::sync::Semaphore>,
    pub waiting: Arc<AtomicU32>,
    pub most: Arc<AtomicU32>,
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
    pub fn open(&self, n: usize) {
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
pub struct Gated {
    pub a: TestSink,
    pub b: TestSink,
    pub b_rx: broadcast::Receiver<Arc<AlertRecord>>,
    pub gate: Arc<Gate>,
    pub stats: Arc<ForwardStats>,
    pub fwd: Forwarder,
    pub a_hub: Arc<Hub>,
}

impl Gated {
    pub async fn start(tweak: impl FnOnce(&mut ForwardConfig)) -> Gated {
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
        let (fwd, stats, a) = forwarding_sink(&a_hub, cfg).await;
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
    pub async fn stop(self) -> sinkwatch::forward::ForwardReport {
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
pub fn senders(
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

/// B's hook: answers UNAVAILABLE to the first `fail` calls.
pub struct Flaky {
    pub fail: u32,
    pub calls: AtomicU32,
}

impl AcceptHook for Flaky {
    fn accepted(&self, _: Arc<AlertRecord>, _: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (n < self.fail).then(|| -> BoxFuture<(), Status> {
            Box::pin(async { Err(Status::unavailable("busy, try later")) })
        })
    }
}

/// B's hook: never answers.
pub struct Stall;

impl AcceptHook for Stall {
    fn accepted(&self, _: Arc<AlertRecord>, _: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        Some(Box::pin(std::future::pending()))
    }
}

/// B's hook: keeps the metadata of every call.
#[derive(Default)]
pub struct Capture(pub Mutex<Vec<MetadataMap>>);

impl AcceptHook for Capture {
    fn accepted(&self, _: Arc<AlertRecord>, md: &MetadataMap) -> Option<BoxFuture<(), Status>> {
        self.0.lock().unwrap().push(md.clone());
        None
    }
}

/// A proxying sink in front of `urls`; returns it, its hub and the stats.
pub async fn proxy_to(
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

pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("bounded")
}

/// A CA and a server certificate for `localhost` it signed, as files.
pub fn test_pki(dir: &std::path::Path) -> (TlsFiles, std::path::PathBuf) {
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
