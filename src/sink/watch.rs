//! The Watch service (`proto/sinkwatch/v1/watch.proto`): remote viewers get
//! a snapshot and then every accepted alert live, with its seq, and can
//! resume after a reconnect with no gap and no duplicate.
//!
//! A viewer is one more hub consumer: it reads the hub's bounded broadcast
//! queue, so a slow or stopped viewer never slows ingest. What it misses is
//! counted and sent to it (`Missed`, with the seq to resume after). Between
//! the broadcast queue and the connection sits a small bounded channel per
//! viewer ([`VIEWER_BUFFER`] messages): memory per viewer is bounded by that
//! and by the share of the broadcast queue it has not read.
//!
//! Access: watching reveals every alert. When the sink requires bearer
//! credentials, Watch checks the same ones (mTLS, when configured, is
//! required of every connection already). When it has none, Watch is served
//! only if the run says so ([`Access::Open`]: the listener is loopback, or
//! the operator asked for it).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tonic::{Request, Response, Status};

use super::auth::{HeaderVerdict, Policy};
use crate::hub::Hub;
use crate::model::filter::{AlertView, Filter};
use crate::model::{AlertRecord, Store};
use crate::proto::watch::watch_event::Event;
use crate::proto::watch::watch_server::{Watch, WatchServer};
use crate::proto::watch::{
    Alert, Missed, Reset, SnapshotBegin, SnapshotEnd, SubscribeRequest, WatchEvent,
};

/// Messages buffered per viewer between the hub's queue and the connection.
pub const VIEWER_BUFFER: usize = 256;
/// Events of the history ring a snapshot carries (the newest).
pub const SNAPSHOT_HISTORY: usize = 10_000;
/// Resuming further back than this many alerts sends a fresh snapshot
/// instead (a replay that long would hold the hub lock while it is cloned).
pub const MAX_REPLAY: u64 = 250_000;

/// Who may watch when the sink requires no bearer credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Bearer credentials (or none, when open) as configured for the sink.
    Open,
    /// No credential is configured and the sink is reachable beyond
    /// loopback: Watch is refused, naming the option that opens it.
    Closed,
}

/// Viewers attached right now and in all.
#[derive(Debug, Default)]
pub struct WatchStats {
    pub attached: AtomicU64,
    pub total: AtomicU64,
    /// Alerts viewers missed because they fell behind (summed).
    pub missed: AtomicU64,
}

impl WatchStats {
    /// The `"watchers"` object of a `{"kind":"stats"}` line.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "attached": self.attached.load(Ordering::Relaxed),
            "total": self.total.load(Ordering::Relaxed),
            "missed": self.missed.load(Ordering::Relaxed),
        })
    }
}

/// The Watch service.
pub struct WatchService {
    hub: Arc<Hub>,
    policy: Arc<Policy>,
    access: Access,
    stats: Arc<WatchStats>,
}

impl WatchService {
    pub fn server(
        hub: Arc<Hub>,
        policy: Arc<Policy>,
        access: Access,
        stats: Arc<WatchStats>,
    ) -> WatchServer<WatchService> {
        WatchServer::new(WatchService {
            hub,
            policy,
            access,
            stats,
        })
    }
}

/// One alert as read under the hub lock: shared strings only (cheap to
/// take while ingest waits); turned into a message when it is sent, one at
/// a time, so a snapshot never holds a second copy of the details.
struct Row {
    seq: u64,
    at_ms: u64,
    owner: Arc<str>,
    repo: Arc<str>,
    policy: Arc<str>,
    pass: bool,
    details: Arc<str>,
    change: crate::model::Change,
    peer: Option<Arc<crate::model::Peer>>,
}

impl Row {
    fn of_record(r: &AlertRecord) -> Row {
        Row {
            seq: r.seq,
            at_ms: r.at_ms,
            owner: r.owner.clone(),
            repo: r.repo.clone(),
            policy: r.policy.clone(),
            pass: r.pass,
            details: r.details.clone(),
            change: r.change,
            peer: r.peer.clone(),
        }
    }

    fn of_event(store: &Store, e: &crate::model::store::Event) -> Row {
        let (owner, repo, policy) = store.key_names(e.key);
        Row {
            seq: e.seq,
            at_ms: e.at_ms,
            owner: owner.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            pass: e.pass,
            details: e.details.clone(),
            change: e.change,
            peer: e.peer.clone(),
        }
    }

    /// Whether the viewer's filter lets this alert through.
    fn passes(&self, filter: Option<&Filter>, now_ms: u64) -> bool {
        filter.is_none_or(|f| {
            f.matches(&AlertView {
                owner: &self.owner,
                repo: &self.repo,
                policy: &self.policy,
                details: &self.details,
                pass: self.pass,
                change: self.change,
                age_ms: now_ms.saturating_sub(self.at_ms),
            })
        })
    }

    fn alert(&self) -> Alert {
        Alert {
            seq: self.seq,
            received_ms: self.at_ms,
            owner: self.owner.to_string(),
            repo: self.repo.to_string(),
            policy: self.policy.to_string(),
            pass: self.pass,
            details: self.details.to_string(),
            peer: self
                .peer
                .as_ref()
                .map(|p| p.label.clone())
                .unwrap_or_default(),
            identity: self
                .peer
                .as_ref()
                .and_then(|p| p.identity.clone())
                .unwrap_or_default(),
        }
    }
}

/// What is sent before the live stream.
enum Item {
    Reset(String),
    Begin(SnapshotBegin),
    Latest(Row),
    History(Row),
    End,
    Replay(Row),
}

impl Item {
    fn event(&self) -> WatchEvent {
        ev(match self {
            Item::Reset(reason) => Event::Reset(Reset {
                reason: reason.clone(),
            }),
            Item::Begin(b) => Event::SnapshotBegin(*b),
            Item::Latest(r) => Event::Latest(r.alert()),
            Item::History(r) => Event::History(r.alert()),
            Item::End => Event::SnapshotEnd(SnapshotEnd {}),
            Item::Replay(r) => Event::Live(r.alert()),
        })
    }
}

fn ev(e: Event) -> WatchEvent {
    WatchEvent { event: Some(e) }
}

/// What a subscriber is sent before the live stream, read under the hub
/// lock together with its subscription.
fn opening(store: &Store, resume_after: Option<u64>) -> Vec<Item> {
    let next = store.next_seq();
    if let Some(after) = resume_after {
        let first_held = store.history().front().map_or(next, |e| e.seq);
        let reason = if after >= next {
            // Seqs restart when a sink without durable state restarts.
            Some(format!(
                "resume after seq {after}, but this sink's next seq is {next} (it restarted without its state)"
            ))
        } else if after + 1 < first_held {
            Some(format!(
                "resume after seq {after}: the sink no longer holds seqs before {first_held}"
            ))
        } else if next - after > MAX_REPLAY {
            Some(format!(
                "resume after seq {after}: {} alerts behind, more than {MAX_REPLAY} to replay",
                next - after
            ))
        } else {
            None
        };
        return match reason {
            None => ((after + 1)..next)
                .filter_map(|seq| store.event(seq))
                .map(|e| Item::Replay(Row::of_event(store, e)))
                .collect(),
            Some(reason) => {
                let mut out = vec![Item::Reset(reason)];
                out.extend(snapshot(store));
                out
            }
        };
    }
    snapshot(store)
}

fn snapshot(store: &Store) -> Vec<Item> {
    let history = store.history();
    let skip = history.len().saturating_sub(SNAPSHOT_HISTORY);
    let mut out = Vec::with_capacity(store.key_count() + history.len() - skip + 2);
    out.push(Item::Begin(SnapshotBegin {
        keys: store.key_count() as u64,
        history: (history.len() - skip) as u64,
        next_seq: store.next_seq(),
    }));
    for (id, k) in store.keys().iter().enumerate() {
        let (owner, repo, policy) = store.key_names(id as crate::model::KeyId);
        out.push(Item::Latest(Row {
            seq: k.last_seq,
            at_ms: k.last_seen_ms,
            owner: owner.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            pass: k.pass,
            details: k.details.clone(),
            change: k.change,
            peer: k.peer.clone(),
        }));
    }
    for e in history.iter().skip(skip) {
        out.push(Item::History(Row::of_event(store, e)));
    }
    out.push(Item::End);
    out
}

type EventStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let (peer, tls_identity) = super::conn::peer_of(request.extensions());
        let peer_label = peer.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
        if self.access == Access::Closed {
            return Err(Status::permission_denied(
                "this sink does not serve Watch: it listens beyond loopback without credentials \
                 (configure --token-file or mTLS, or start it with --watch-open)",
            ));
        }
        let mut identity = tls_identity.map(|t| t.to_string());
        if self.policy.is_required() {
            let headers = request.metadata().clone().into_headers();
            match self.policy.check_headers(&headers).await {
                HeaderVerdict::Pass(id) => {
                    if let Some(id) = id {
                        identity = Some(match identity {
                            Some(t) => format!("{t}; {id}"),
                            None => id.to_string(),
                        });
                    }
                }
                HeaderVerdict::NeedSignature(_) => {
                    tracing::info!("viewer {peer_label} refused: no bearer credential");
                    return Err(Status::unauthenticated(
                        "Watch needs a bearer credential (authorization: Bearer <token>): \
                         signed payloads cannot authenticate a viewer",
                    ));
                }
                HeaderVerdict::Refuse(d) => {
                    tracing::info!("viewer {peer_label} refused: {}", d.message);
                    return Err(d.status());
                }
            }
        }
        // An authorized viewer holds its connection like a sender does.
        super::conn::mark_accepted(request.extensions());
        let resume_after = request.get_ref().resume_after;
        let filter = match request.get_ref().filter.trim() {
            "" => None,
            text => Some(Filter::parse(text).map_err(|e| {
                Status::invalid_argument(format!(
                    "filter: {}",
                    crate::sanitize::line(&e.to_string())
                ))
            })?),
        };
        let extensions = request.extensions().clone();
        let (first, mut rx) = self
            .hub
            .subscribe_with(|store| opening(store, resume_after));
        let who = match &identity {
            Some(id) => format!("{peer_label} ({})", crate::sanitize::line(id)),
            None => peer_label,
        };
        tracing::info!(
            "viewer {who} attached ({})",
            match resume_after {
                Some(s) => format!("resume after seq {s}"),
                None => "snapshot".into(),
            }
        );
        self.stats.attached.fetch_add(1, Ordering::Relaxed);
        self.stats.total.fetch_add(1, Ordering::Relaxed);
        let stats = self.stats.clone();
        let (tx, out) = mpsc::channel::<Result<WatchEvent, Status>>(VIEWER_BUFFER);
        tokio::spawn(async move {
            // The last seq sent: a gap starts after it.
            let mut last = resume_after;
            let run = async {
                let now = crate::hub::now_ms();
                for item in first {
                    match &item {
                        Item::Replay(r) => last = Some(r.seq),
                        Item::Begin(b) => last = Some(b.next_seq.saturating_sub(1)),
                        _ => {}
                    }
                    if let Item::Replay(r) | Item::Latest(r) | Item::History(r) = &item
                        && !r.passes(filter.as_ref(), now)
                    {
                        continue;
                    }
                    tx.send(Ok(item.event())).await.map_err(|_| ())?;
                }
                // A viewer holds its connection while attached, like a
                // sender that keeps sending (not evictable at the cap).
                let mut keep = tokio::time::interval(Duration::from_secs(1));
                loop {
                    let received = tokio::select! {
                        r = rx.recv() => r,
                        _ = keep.tick() => {
                            super::conn::mark_accepted(&extensions);
                            continue;
                        }
                        // Gone on a quiet sink: detach now, not at the next alert.
                        _ = tx.closed() => return Ok(()),
                    };
                    match received {
                        Ok(r) => {
                            last = Some(r.seq);
                            let row = Row::of_record(&r);
                            if !row.passes(filter.as_ref(), crate::hub::now_ms()) {
                                continue;
                            }
                            tx.send(Ok(ev(Event::Live(row.alert()))))
                                .await
                                .map_err(|_| ())?;
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            stats.missed.fetch_add(n, Ordering::Relaxed);
                            let after_seq = last.unwrap_or(0);
                            // The next record tells where the gap ends;
                            // the viewer needs only where it starts.
                            tx.send(Ok(ev(Event::Missed(Missed {
                                count: n,
                                after_seq,
                            }))))
                            .await
                            .map_err(|_| ())?;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok::<(), ()>(()),
                    }
                }
            };
            let _ = run.await;
            stats.attached.fetch_sub(1, Ordering::Relaxed);
            tracing::info!("viewer {who} detached");
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}
