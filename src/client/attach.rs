//! `sinkwatch attach`: follows the Watch stream of one or more remote sinks
//! and feeds a local hub, so the TUI runs over them as over its own sink.
//!
//! Each source has its own task: connect, subscribe (resuming after the
//! last seq it received from that source), ingest what arrives, and on any
//! failure reconnect with a capped, jittered back-off. Several sources
//! (replicas behind a load balancer, each receiving part of the calls) feed
//! the same hub, so keys merge and a key's latest status is the one that
//! arrived last. A `Missed` notice (this viewer fell behind on the remote
//! sink) is answered by resubscribing after the last seq received: the sink
//! replays the gap while it still holds it. When it cannot (`Reset`), the
//! fresh snapshot is ingested from the last receive time seen, counted as a
//! reset in the source's status. A refusal of the viewer's credentials
//! is final: that source stops, and `attach` exits 1 once every source has
//! refused it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::forward::ForwardStats;
use crate::grpc::{Auth, Target};
use crate::hub::Hub;
use crate::model::NewAlert;
use crate::proto::watch::watch_client::WatchClient;
use crate::proto::watch::watch_event::Event;
use crate::proto::watch::{Alert, SubscribeRequest};

/// The back-off between reconnects: doubled per failure, up to the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Largest Watch message accepted (a snapshot entry carries one alert).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One remote sink's connection state and counters, for the status bar.
#[derive(Debug)]
pub struct SourceStatus {
    pub url: String,
    state: Mutex<String>,
    /// The last seq received from this source (0: none yet).
    pub last_seq: AtomicU64,
    /// Alerts received from this source.
    pub received: AtomicU64,
    /// Reconnects after a failure.
    pub reconnects: AtomicU64,
    /// Resume points the source could not honour (a fresh snapshot came).
    pub resets: AtomicU64,
    /// Alerts the source reported this viewer missed (then refetched).
    pub missed: AtomicU64,
    /// Where this source's forwarding reports go (the TUI's forwarding
    /// panel), and this source's place there.
    forward: Mutex<Option<(Arc<ForwardStats>, usize)>>,
}

impl SourceStatus {
    pub fn new(url: impl Into<String>) -> Arc<SourceStatus> {
        Arc::new(SourceStatus {
            url: url.into(),
            state: Mutex::new("connecting".into()),
            last_seq: AtomicU64::new(0),
            received: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            forward: Mutex::new(None),
        })
    }

    /// Shows this source's forwarding (as the sink reports it) in `stats`,
    /// as source number `index`.
    pub fn report_forwarding(&self, stats: Arc<ForwardStats>, index: usize) {
        *self.forward.lock().unwrap_or_else(|e| e.into_inner()) = Some((stats, index));
    }

    fn forwarding(&self, f: &crate::proto::watch::Forwarding) {
        if let Some((stats, i)) = &*self.forward.lock().unwrap_or_else(|e| e.into_inner()) {
            stats.set_remote(*i, f);
        }
    }

    fn set(&self, state: impl Into<String>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state.into();
    }

    /// `connecting`, `snapshot`, `live`, `down: <why> (retry in 2s)`, or
    /// `refused: <why>` (final).
    pub fn state(&self) -> String {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `URL live · 120 alerts` and, when any, reconnects and resets.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {} · {}",
            self.url,
            self.state(),
            self.received.load(Ordering::Relaxed)
        );
        for (n, what) in [
            (self.reconnects.load(Ordering::Relaxed), "reconnects"),
            (self.resets.load(Ordering::Relaxed), "resets"),
            (self.missed.load(Ordering::Relaxed), "missed"),
        ] {
            if n > 0 {
                s.push_str(&format!(" · {n} {what}"));
            }
        }
        s
    }
}

impl SourceStatus {
    /// One source's object in the `{"kind":"sources"}` line.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "state": self.state(),
            "last_seq": self.last_seq.load(Ordering::Relaxed),
            "received": self.received.load(Ordering::Relaxed),
            "reconnects": self.reconnects.load(Ordering::Relaxed),
            "resets": self.resets.load(Ordering::Relaxed),
            "missed": self.missed.load(Ordering::Relaxed),
        })
    }
}

/// The sources' lines joined for one status bar.
pub fn status_line(sources: &[Arc<SourceStatus>]) -> String {
    sources
        .iter()
        .map(|s| s.line())
        .collect::<Vec<_>>()
        .join(" │ ")
}

/// The sources in a few words, for a narrow status bar: `2/2 live`, or
/// `1/2 live · http://b:50051 down` naming the first that is not live.
pub fn status_short(sources: &[Arc<SourceStatus>]) -> String {
    let states: Vec<String> = sources.iter().map(|s| s.state()).collect();
    let live = states.iter().filter(|s| *s == "live").count();
    let mut out = format!("{live}/{} live", sources.len());
    if let Some((s, state)) = sources.iter().zip(&states).find(|(_, st)| *st != "live") {
        // The state's first word: `down`, `refused`, `snapshot`, …
        let word = state.split([':', ' ']).next().unwrap_or_default();
        out.push_str(&format!(" · {} {word}", s.url));
    }
    out
}

/// The last peer text parsed and what it parsed to: alerts from a source
/// mostly come from the same few senders, and parsing the address of each
/// was a few percent of a viewer's CPU.
#[derive(Default)]
struct PeerCache {
    text: String,
    addr: Option<SocketAddr>,
}

impl PeerCache {
    fn parse(&mut self, text: &str) -> Option<SocketAddr> {
        if text != self.text {
            self.addr = text.parse().ok();
            self.text.clear();
            self.text.push_str(text);
        }
        self.addr
    }
}

fn ingest(hub: &Hub, peers: &mut PeerCache, a: Alert) {
    let peer = peers.parse(&a.peer);
    let identity = (!a.identity.is_empty()).then_some(a.identity);
    let alert = NewAlert {
        owner: a.owner,
        repo: a.repo,
        policy: a.policy,
        details: a.details,
        pass: a.pass,
    };
    let identity = identity.as_deref();
    // A refusal by the local store (over its bounds) is counted there.
    let _ = hub.ingest_at(&alert, a.received_ms, peer, identity);
}

/// How one subscription ended.
enum End {
    /// The stream failed or closed: reconnect after the back-off.
    Failed(String),
    /// The viewer fell behind: resubscribe at once, resuming.
    Resume,
    /// The sink refused this viewer's credentials: retrying cannot help.
    Refused(String),
}

/// A failed call: a refusal of the credentials is final, anything else
/// (unavailable, deadline, a sink restarting) worth retrying.
fn ended(s: &tonic::Status) -> End {
    let why = crate::grpc::describe_status(s);
    match s.code() {
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => End::Refused(why),
        _ => End::Failed(why),
    }
}

/// One subscription: `last` and `last_ms` (the last seq and receive time
/// ingested from this source) advance as alerts are ingested.
async fn subscribe_once(
    target: &Target,
    hub: &Hub,
    status: &SourceStatus,
    last: &mut Option<u64>,
    last_ms: &mut u64,
) -> End {
    let channel = match target.endpoint() {
        Ok(ep) => match ep.connect().await {
            Ok(c) => c,
            Err(e) => return End::Failed(crate::grpc::diagnose::connect_failure(target, &e)),
        },
        Err(e) => return End::Failed(e),
    };
    let auth = match Auth::bearer(target.token.as_deref()) {
        Ok(a) => a,
        Err(e) => return End::Failed(e),
    };
    let mut client =
        WatchClient::with_interceptor(channel, auth).max_decoding_message_size(MAX_MESSAGE);
    let mut stream = match client
        .subscribe(SubscribeRequest {
            resume_after: *last,
            filter: String::new(),
            batch: true,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return ended(&s),
    };
    status.set(if last.is_some() { "live" } else { "snapshot" });
    // The snapshot is gathered, then ingested oldest first: keys whose
    // latest alert is older than the history window first, then history.
    let mut latest = Vec::new();
    let mut history = Vec::new();
    let mut after_ms = 0;
    let mut peers = PeerCache::default();
    loop {
        let event = match stream.message().await {
            Ok(Some(m)) => m.event,
            Ok(None) => return End::Failed("the sink closed the stream".into()),
            Err(s) => return ended(&s),
        };
        match event {
            Some(Event::Reset(r)) => {
                status.resets.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{}: {}", status.url, crate::sanitize::line(&r.reason));
                // Only what is newer than what this viewer holds.
                after_ms = *last_ms;
            }
            Some(Event::SnapshotBegin(_)) => {
                status.set("snapshot");
                latest.clear();
                history.clear();
            }
            Some(Event::Latest(a)) => latest.push(a),
            Some(Event::History(a)) => history.push(a),
            Some(Event::SnapshotEnd(_)) => {
                let first_history = history.first().map_or(u64::MAX, |a| a.seq);
                latest.retain(|a| a.seq < first_history);
                latest.sort_by_key(|a| a.seq);
                for a in latest.drain(..).chain(history.drain(..)) {
                    *last = Some(a.seq);
                    *last_ms = (*last_ms).max(a.received_ms);
                    if a.received_ms > after_ms || after_ms == 0 {
                        ingest(hub, &mut peers, a);
                        status.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                status.set("live");
            }
            Some(Event::Live(a)) => live(hub, &mut peers, status, last, last_ms, a),
            Some(Event::Batch(b)) => {
                for a in b.alerts {
                    live(hub, &mut peers, status, last, last_ms, a);
                }
            }
            Some(Event::Forwarding(f)) => status.forwarding(&f),
            Some(Event::Missed(m)) => {
                status.missed.fetch_add(m.count, Ordering::Relaxed);
                *last = Some(m.after_seq);
                return End::Resume;
            }
            None => {}
        }
    }
}

/// One live alert from this source.
fn live(
    hub: &Hub,
    peers: &mut PeerCache,
    status: &SourceStatus,
    last: &mut Option<u64>,
    last_ms: &mut u64,
    a: Alert,
) {
    status.received.fetch_add(1, Ordering::Relaxed);
    status.last_seq.store(a.seq, Ordering::Relaxed);
    *last = Some(a.seq);
    *last_ms = (*last_ms).max(a.received_ms);
    ingest(hub, peers, a);
}

/// Follows one remote sink until the hub closes (the viewer quits), or
/// until the sink refuses this viewer's credentials (UNAUTHENTICATED or
/// PERMISSION_DENIED): then the source's state is `refused: <why>` and the
/// reason is returned. Every other failure is retried with back-off.
pub async fn follow(target: Target, hub: Arc<Hub>, status: Arc<SourceStatus>) -> Option<String> {
    let mut last = None;
    let mut last_ms = 0;
    let mut backoff = BACKOFF_FIRST;
    while !hub.is_closed() {
        let received = status.received.load(Ordering::Relaxed);
        match subscribe_once(&target, &hub, &status, &mut last, &mut last_ms).await {
            End::Resume => continue,
            End::Refused(why) => {
                let why = crate::sanitize::line(&why).into_owned();
                status.set(format!("refused: {why}"));
                tracing::warn!("{}: refused: {why}", status.url);
                return Some(why);
            }
            End::Failed(why) => {
                if status.received.load(Ordering::Relaxed) > received {
                    // It was up and delivered: start the back-off afresh.
                    backoff = BACKOFF_FIRST;
                }
                status.reconnects.fetch_add(1, Ordering::Relaxed);
                let wait = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
                status.set(format!(
                    "down: {} (retry in {:.1}s)",
                    crate::sanitize::line(&why),
                    wait.as_secs_f64()
                ));
                tracing::info!("{}: {why}", status.url);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                status.set("connecting");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_cache_answers_as_parsing_each_text_would() {
        let mut cache = PeerCache::default();
        for text in [
            "10.0.0.1:5000",
            "10.0.0.1:5000",
            "[::1]:443",
            "",
            "not an address",
            "10.0.0.1:5000",
            "",
        ] {
            assert_eq!(cache.parse(text), text.parse().ok(), "{text:?}");
        }
    }
}
