//! Forwarding accepted alerts to other AlertSinks (`--forward URL`).
//!
//! **tee** (default): each upstream has its own bounded queue, fed from a
//! hub subscription by a task that never waits on the upstream, and
//! `concurrency` lanes that send over one lazily connected HTTP/2 channel,
//! on a forwarding thread of its own (see `forward_thread`).
//! An alert's lane is chosen by its (owner, repo, policy) key and a lane
//! sends one alert at a time, so each key's alerts arrive in order (also
//! across retries) — except a run of identical requests, which the upstream
//! cannot tell apart, sent at once (at most `concurrency` requests are in
//! flight per upstream in all). While a healthy upstream is behind, senders'
//! answers are held (`pace.rs`, `--forward-when-behind wait`) so the queue
//! does not overflow. Transient failures (UNAVAILABLE, RESOURCE_EXHAUSTED,
//! DEADLINE_EXCEEDED, no answer in time) are retried with exponential
//! backoff up to `retries` times; other statuses fail at once. While an
//! upstream cannot be reached at all, alerts wait (without using up their
//! retries) and the queue fills, then drops — every drop counted; delivery
//! resumes by itself when it is back (channels reconnect on demand).
//!
//! **proxy**: the first upstream gets each alert directly from the sink's
//! [`AcceptHook`]: the sender's call waits for it and gets its status code
//! and message back (unreachable: UNAVAILABLE naming the URL; no answer
//! within `timeout` or the sender's own deadline: DEADLINE_EXCEEDED). The
//! alert is accepted and shown locally either way. No retries: the sender
//! decides. Proxied alerts count in the first upstream's counters
//! (role `proxy`: accepted, then delivered or failed; nothing is queued or
//! dropped). Other upstreams are tee'd.
//!
//! Per upstream, at every moment (one lock per upstream, see [`stats`]):
//! `accepted = delivered + failed + dropped + queued + in_flight`.
//!
//! Delivery is at least once: an alert whose connection broke mid-call is
//! sent again, and the upstream may have received it the first time.
//!
//! On exit ([`Forwarder::shutdown`]) the queues drain for a grace period;
//! then exactly what did not reach each upstream is reported per reason
//! (dropped, failed, still queued, in flight at the end) as seq ranges
//! ([`Undelivered::lines`]: `{"kind":"undelivered",…}` lines appended to the
//! `--record` file), counted in the final stats line and on stderr.
//!
//! `--forward-metadata` (proxy mode) passes the sender's metadata on,
//! except credentials (`authorization`, cookies: the sender's token is a
//! secret between it and sinkwatch; the upstream gets its own from
//! `--forward-token-file`) and per-hop HTTP/gRPC headers.
//!
//! A sender's payload signature is never passed on either: it vouches for
//! the sender to sinkwatch, covers the bytes the sender encoded (sinkwatch
//! re-encodes the alert it validated), and is single-use — an upstream
//! verifying it would see a replay of what sinkwatch already accepted.
//! With `--forward-sign` sinkwatch signs every attempt with its own key, so
//! an upstream that verifies signatures trusts sinkwatch, the hop it talks
//! to.

pub mod outcome;
pub mod send;
pub mod snapshot;
pub mod undelivered;
pub mod upstream;

mod pace;
mod probe;
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

pub use send::Backoff;
pub use upstream::{
    DropReason, Outcome, Role, SeqRanges, Undelivered, UpstreamSnapshot, UpstreamState,
};

use crate::grpc::Target;
use crate::hub::Hub;
use crate::sink::AcceptHook;
use upstream::Upstream;

/// Default queue capacity per upstream: a whole scan cycle of a
/// 10,000-repo org (≈ 90,000 alerts: nine policies per repo) fits, so a burst is
/// absorbed rather than dropped. Each queued alert costs ~120 bytes.
pub const DEFAULT_QUEUE: usize = 100_000;
/// Default requests in flight per upstream. Throughput per upstream is
/// about concurrency / upstream latency, and forwarding must keep up with
/// senders that themselves keep dozens of calls in flight: measured on 2
/// cores, 16 lanes fell behind a 64-concurrency `sinkwatch load` (with a
/// 10,000 queue, 70 % of 100,000 alerts were dropped); 64 kept up.
pub const DEFAULT_CONCURRENCY: usize = 64;
pub const DEFAULT_RETRIES: u32 = 5;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// tee: answer the sender at once; proxy: answer with the first
/// upstream's status.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ForwardMode {
    #[default]
    Tee,
    Proxy,
}

/// What a tee does when a healthy upstream falls behind.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum WhenBehind {
    /// Hold senders' answers (backpressure): nothing is dropped.
    #[default]
    Wait,
    /// Answer at once; the queue fills, then drops (counted).
    Drop,
}

/// How to forward.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    /// The upstreams, in `--forward` order (the first is the proxy's).
    pub upstreams: Vec<Target>,
    pub mode: ForwardMode,
    /// Capacity of each upstream's queue.
    pub queue: usize,
    /// Tee: hold senders' answers while a healthy upstream is behind, or
    /// drop what does not fit.
    pub when_behind: WhenBehind,
    /// Without an answer for this long, an upstream is stalled, not behind:
    /// senders are not held for it.
    pub stall: Duration,
    /// Lanes (requests in flight at once) per upstream.
    pub concurrency: usize,
    /// HTTP/2 connections per upstream the lanes are spread over.
    pub connections: usize,
    /// Retries of a transient failure before the alert counts as failed.
    pub retries: u32,
    /// Deadline of one attempt (and of a proxied call).
    pub timeout: Duration,
    pub backoff: Backoff,
    /// Proxy mode: pass the sender's metadata on (never credentials).
    pub pass_metadata: bool,
    /// Signs forwarded alerts with sinkwatch's own key (`--forward-sign`).
    pub signer: Option<Arc<crate::sink::auth::signature::Signer>>,
    /// Per-alert outcomes kept per upstream.
    pub outcomes: usize,
    /// How often an idle upstream is checked for being reachable (a TCP
    /// connection; see `probe.rs`); None: never.
    pub idle_check: Option<Duration>,
}

impl ForwardConfig {
    pub fn new(upstreams: Vec<Target>) -> ForwardConfig {
        ForwardConfig {
            upstreams,
            mode: ForwardMode::Tee,
            queue: DEFAULT_QUEUE,
            when_behind: WhenBehind::Wait,
            stall: upstream::DEFAULT_STALL,
            concurrency: DEFAULT_CONCURRENCY,
            connections: 1,
            retries: DEFAULT_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            backoff: Backoff::default(),
            pass_metadata: false,
            signer: None,
            outcomes: upstream::DEFAULT_OUTCOMES,
            idle_check: Some(probe::IDLE_CHECK),
        }
    }
}

/// The read side of forwarding, for the TUI and the stats lines. Cheap to
/// call; each method takes each upstream's lock briefly.
///
/// - [`ForwardStats::snapshot`]: one [`UpstreamSnapshot`] per upstream, in
///   `--forward` order: state, counters (they balance), rate, latency
///   p50/p99, last error (sanitized) — the forwarding panel.
/// - [`ForwardStats::health`]: totals for the status bar.
/// - [`ForwardStats::outcome`] / [`ForwardStats::outcomes`]: what happened to
///   alert `seq` upstream — the Details pane (recent alerts only: the last
///   [`upstream::DEFAULT_OUTCOMES`] seqs per upstream).
pub struct ForwardStats {
    mode: ForwardMode,
    upstreams: Vec<Arc<Upstream>>,
    /// `sinkwatch attach`: no upstream of its own, but the remote sinks'
    /// forwarders as they last reported them over Watch, per source.
    remote: Option<std::sync::Mutex<Vec<RemoteForwarding>>>,
}

impl std::fmt::Debug for ForwardStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardStats")
            .field("mode", &self.mode())
            .field("upstreams", &self.urls())
            .finish()
    }
}

/// One remote sink's forwarding as last reported (empty: none yet, or it
/// does not forward).
#[derive(Clone, Debug, Default)]
struct RemoteForwarding {
    mode: ForwardMode,
    upstreams: Vec<UpstreamSnapshot>,
}

/// Upstreams of one remote sink shown at most (a sink forwards to a few;
/// this bounds what a hostile one can make a viewer hold).
pub const MAX_REMOTE_UPSTREAMS: usize = 64;

/// One upstream's outcome for one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertOutcome {
    pub upstream: String,
    /// None: not tracked (older than the outcome ring, or not seen yet).
    pub outcome: Option<Outcome>,
}

/// Totals over all upstreams, for a status bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardHealth {
    pub upstreams: usize,
    pub up: usize,
    pub down: usize,
    pub connecting: usize,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: u64,
    pub in_flight: u64,
    /// Sender answers held right now because an upstream is behind.
    pub holding: u64,
    /// Upstreams not down but not answering what they were sent
    /// ([`UpstreamSnapshot::not_answering`]); counted in `up` or
    /// `connecting` too.
    pub not_answering: usize,
    /// Upstreams up but refusing what they are sent
    /// ([`UpstreamSnapshot::refusing`]); counted in `up` too.
    pub refusing: usize,
}

impl ForwardStats {
    /// `sinkwatch attach` over `sources` remote sinks: shows what they
    /// report ([`ForwardStats::set_remote`]); nothing is forwarded here.
    pub fn remote(sources: usize) -> Arc<ForwardStats> {
        Arc::new(ForwardStats {
            mode: ForwardMode::Tee,
            upstreams: Vec::new(),
            remote: Some(std::sync::Mutex::new(vec![
                RemoteForwarding::default();
                sources
            ])),
        })
    }

    fn remote_lock(&self) -> Option<std::sync::MutexGuard<'_, Vec<RemoteForwarding>>> {
        self.remote
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What remote source `source` reported (a `Forwarding` Watch event).
    /// Bounded: at most [`MAX_REMOTE_UPSTREAMS`] upstreams per source.
    pub fn set_remote(&self, source: usize, f: &crate::proto::watch::Forwarding) {
        if let Some(mut r) = self.remote_lock()
            && let Some(slot) = r.get_mut(source)
        {
            *slot = RemoteForwarding {
                mode: if f.mode == "proxy" {
                    ForwardMode::Proxy
                } else {
                    ForwardMode::Tee
                },
                upstreams: f
                    .upstreams
                    .iter()
                    .take(MAX_REMOTE_UPSTREAMS)
                    .map(UpstreamSnapshot::from_proto)
                    .collect(),
            };
        }
    }

    /// What a sink tells its remote viewers about its forwarding.
    pub fn to_proto(&self) -> crate::proto::watch::Forwarding {
        crate::proto::watch::Forwarding {
            mode: match self.mode() {
                ForwardMode::Tee => "tee",
                ForwardMode::Proxy => "proxy",
            }
            .into(),
            upstreams: self.snapshot().iter().map(|s| s.to_proto()).collect(),
        }
    }

    pub fn mode(&self) -> ForwardMode {
        match self.remote_lock() {
            // The first source that forwards says.
            Some(r) => r
                .iter()
                .find(|f| !f.upstreams.is_empty())
                .map_or(ForwardMode::Tee, |f| f.mode),
            None => self.mode,
        }
    }

    pub fn urls(&self) -> Vec<String> {
        if self.remote.is_some() {
            return self.snapshot().into_iter().map(|s| s.url).collect();
        }
        self.upstreams.iter().map(|u| u.url.clone()).collect()
    }

    /// One consistent snapshot per upstream, in `--forward` order (for
    /// `attach`: each source's, in the order of the sources).
    pub fn snapshot(&self) -> Vec<UpstreamSnapshot> {
        if let Some(r) = self.remote_lock() {
            return r.iter().flat_map(|f| f.upstreams.iter().cloned()).collect();
        }
        self.upstreams.iter().map(|u| u.snapshot()).collect()
    }

    /// The first upstream's outcome for alert `seq` (the proxy's in proxy
    /// mode). None when not tracked.
    pub fn outcome(&self, seq: u64) -> Option<Outcome> {
        self.upstreams.first().and_then(|u| u.outcome(seq))
    }

    /// Every upstream's outcome for alert `seq`, in `--forward` order.
    pub fn outcomes(&self, seq: u64) -> Vec<AlertOutcome> {
        self.upstreams
            .iter()
            .map(|u| AlertOutcome {
                upstream: u.url.clone(),
                outcome: u.outcome(seq),
            })
            .collect()
    }

    pub fn health(&self) -> ForwardHealth {
        ForwardHealth::of(&self.snapshot())
    }

    /// The `"forward"` array of a `{"kind":"stats"}` line.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.snapshot().iter().map(|s| s.to_json()).collect())
    }
}

impl ForwardHealth {
    /// The totals of these snapshots: the TUI shows the status bar's totals
    /// and the panel's cards from one sample, so the two always agree.
    pub fn of(snapshots: &[UpstreamSnapshot]) -> ForwardHealth {
        let mut h = ForwardHealth {
            upstreams: snapshots.len(),
            ..ForwardHealth::default()
        };
        for s in snapshots {
            match s.state {
                UpstreamState::Up => h.up += 1,
                UpstreamState::Down => h.down += 1,
                UpstreamState::Connecting => h.connecting += 1,
            }
            h.delivered += s.delivered;
            h.failed += s.failed;
            h.dropped += s.dropped;
            h.queued += s.queued;
            h.in_flight += s.in_flight;
            h.holding += s.holding;
            h.not_answering += usize::from(s.not_answering());
            h.refusing += usize::from(s.refusing);
        }
        h
    }
}

/// The running forwarders. Start before the server (so nothing is missed),
/// close the hub, then [`Forwarder::shutdown`].
pub struct Forwarder {
    stats: Arc<ForwardStats>,
    hook: Option<Arc<dyn AcceptHook>>,
    feeders: Vec<JoinHandle<()>>,
    lanes: Vec<JoinHandle<()>>,
    /// The forwarding threads' runtimes end when these are dropped.
    _threads: Vec<Stopper>,
}

/// Stops the forwarding thread when dropped (also when the forwarder is
/// dropped without `shutdown`).
struct Stopper(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stopper {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A thread with its own single-threaded runtime for one upstream: its
/// feeder, lanes and connections. Why: a forwarded alert passes through
/// several tasks (feeder, lane, the channel's buffer, the HTTP/2
/// connection) and back; on one thread each hand-over is a queue push,
/// while across the sink's worker threads each was a futex wake-up — the
/// scheduler time that dominated the tee's profile. One thread per
/// upstream, so several upstreams use several cores.
fn forward_thread() -> Result<(tokio::runtime::Handle, Stopper), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("forwarding runtime: {e}"))?;
    let handle = rt.handle().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("sinkwatch-forward".into())
        .spawn(move || {
            rt.block_on(async {
                let _ = rx.await;
            })
        })
        .map_err(|e| format!("forwarding thread: {e}"))?;
    Ok((handle, Stopper(Some(tx))))
}

/// What shutdown found: the final counters and exactly what was not
/// delivered, per upstream.
#[derive(Debug)]
pub struct ForwardReport {
    pub upstreams: Vec<UpstreamSnapshot>,
    pub undelivered: Vec<Undelivered>,
    /// Whether the grace period ended before the queues drained.
    pub timed_out: bool,
}

impl ForwardReport {
    pub fn undelivered_total(&self) -> u64 {
        self.undelivered.iter().map(|u| u.count()).sum()
    }

    /// One line per upstream with undelivered alerts, for stderr.
    pub fn summary_lines(&self) -> Vec<String> {
        self.undelivered
            .iter()
            .filter(|u| u.count() > 0)
            .map(|u| {
                format!(
                    "forward {}: {} not delivered (dropped {}, failed {}, still queued {}, in flight {})",
                    u.url,
                    if u.count() == 1 {
                        "1 alert".to_owned()
                    } else {
                        format!("{} alerts", u.count())
                    },
                    u.dropped.count(),
                    u.failed.count(),
                    u.queued.count(),
                    u.in_flight.count()
                )
            })
            .collect()
    }
}

impl Forwarder {
    /// Subscribes to the hub and starts the tasks on a forwarding thread
    /// of their own. In proxy mode, and for backpressure, install
    /// [`Forwarder::hook`] in the sink.
    pub fn start(hub: &Arc<Hub>, config: ForwardConfig) -> Result<Forwarder, String> {
        let lanes_per = config.concurrency.max(1);
        let lane_cfg = Arc::new(send::LaneConfig {
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
            run: lanes_per,
            signer: config.signer.clone(),
        });
        let mut upstreams = Vec::new();
        let mut feeders = Vec::new();
        let mut lanes = Vec::new();
        let mut hook: Option<Arc<dyn AcceptHook>> = None;
        let mut tees = Vec::new();
        let mut threads = Vec::new();
        for (i, target) in config.upstreams.iter().enumerate() {
            let url = target.normalized_url()?;
            // Each upstream on a thread of its own; its channels spawn their
            // connection tasks there.
            let (rt, thread) = forward_thread()?;
            threads.push(thread);
            let _in_rt = rt.enter();
            let mut clients = Vec::new();
            for _ in 0..config.connections.max(1) {
                let channel = target.endpoint()?.connect_lazy();
                clients.push(target.client_on(channel)?);
            }
            let checked = probe::way(target, &url);
            let proxied = i == 0 && config.mode == ForwardMode::Proxy;
            if proxied {
                let up = Arc::new(Upstream::new(url, Role::Proxy, 0, 1, config.outcomes));
                if let (Some(way), Some(every)) = (checked, config.idle_check) {
                    rt.spawn(probe::idle_checks(up.clone(), way, every));
                }
                hook = Some(Arc::new(proxy::ProxyHook {
                    up: up.clone(),
                    client: clients[0].clone(),
                    timeout: config.timeout,
                    pass_metadata: config.pass_metadata,
                    signer: config.signer.clone(),
                }));
                upstreams.push(up);
                continue;
            }
            let up = Arc::new(Upstream::new(
                url,
                Role::Tee,
                config.queue,
                lanes_per,
                config.outcomes,
            ));
            up.backlog.set_stall(config.stall);
            if let (Some(way), Some(every)) = (checked, config.idle_check) {
                rt.spawn(probe::idle_checks(up.clone(), way, every));
            }
            tees.push(up.clone());
            let (next, rx) = hub.subscribe();
            feeders.push(rt.spawn(send::feed(up.clone(), rx, next, hub.refetch())));
            for lane in 0..lanes_per {
                let client = clients[lane % clients.len()].clone();
                lanes.push(rt.spawn(send::lane(up.clone(), lane, client, lane_cfg.clone())));
            }
            upstreams.push(up);
        }
        if config.when_behind == WhenBehind::Wait && !tees.is_empty() {
            let pace: Arc<dyn AcceptHook> = Arc::new(pace::PaceHook {
                ups: tees.into(),
                limit: config.timeout,
            });
            hook = Some(match hook {
                Some(proxy) => Arc::new(pace::Both(proxy, pace)),
                None => pace,
            });
        }
        Ok(Forwarder {
            stats: Arc::new(ForwardStats {
                mode: config.mode,
                upstreams,
                remote: None,
            }),
            hook,
            feeders,
            lanes,
            _threads: threads,
        })
    }

    /// The read side (for the TUI and the stats lines).
    pub fn stats(&self) -> Arc<ForwardStats> {
        self.stats.clone()
    }

    /// The sink hook: the proxy's call in proxy mode, and holding senders'
    /// answers while a tee upstream is behind (`--forward-when-behind wait`).
    pub fn hook(&self) -> Option<Arc<dyn AcceptHook>> {
        self.hook.clone()
    }

    /// Call after the hub closed (and the server stopped): lets the queues
    /// drain for up to `grace`, then stops sending and reports exactly what
    /// was not delivered. Alerts in flight at that moment are reported as
    /// such (the upstream may or may not have them).
    pub async fn shutdown(self, grace: Duration) -> ForwardReport {
        // Feeders end as soon as they drained the closed hub; they never
        // wait on an upstream.
        for f in self.feeders {
            let _ = f.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        let mut timed_out = false;
        for mut lane in self.lanes {
            if timed_out {
                lane.abort();
                let _ = lane.await;
                continue;
            }
            match tokio::time::timeout_at(deadline, &mut lane).await {
                Ok(_) => {}
                Err(_) => {
                    timed_out = true;
                    lane.abort();
                    let _ = lane.await;
                }
            }
        }
        ForwardReport {
            upstreams: self.stats.snapshot(),
            undelivered: self
                .stats
                .upstreams
                .iter()
                .map(|u| u.undelivered())
                .collect(),
            timed_out,
        }
    }
}
