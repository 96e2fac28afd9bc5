//! The Watch service (`proto/sinkwatch/v1/watch.proto`): remote viewers get
//! a snapshot and then every accepted alert live, with its seq, and can
//! resume after a reconnect with no gap and no duplicate.
//!
//! Live alerts reach the viewers through one shared fan-out task per sink
//! (started with the first viewer, gone with the last): it is one more hub
//! consumer, and gathers the alerts queued for it into chunks (up to
//! [`BATCH_ALERTS`] alerts or [`BATCH_BYTES`] bytes, waiting [`LINGER`] after
//! the first so a busy sink makes few, full chunks). A chunk is encoded at
//! most once, as one `Batch` message, and those bytes are what every viewer
//! without a filter sends: the cost per viewer per alert is a share of one
//! copy, not an encoding, and each viewer wakes once per chunk, not per
//! alert. Viewers with a filter, or that did not ask for batches, encode
//! from the chunk's records.
//!
//! Nothing waits on a viewer: the fan-out reads the hub's bounded broadcast
//! queue, and viewers read the fan-out's ([`FANOUT_QUEUE`] chunks). Seqs are
//! contiguous, so a viewer finds what it missed (wherever it was dropped)
//! as the distance between the last seq it sent and the next chunk's first,
//! and is told (`Missed`, with the seq to resume after). A resume within
//! reach is replayed from the history a page (one chunk's worth) at a time
//! as the viewer takes them ([`replay`]). A viewer that
//! resumes further back than the sink can replay is reset, and what the
//! fresh snapshot does not carry is counted missed then (see README.md,
//! "Remote viewers"); being cut off (a write stall, unanswered pings)
//! counts nothing by itself, as a resume fetches the gap. Between the shared
//! queue and the connection sits a small bounded channel per viewer
//! ([`VIEWER_BUFFER`] messages): memory per viewer is bounded by that and
//! by the chunks of the shared queue it has not read (shared with the other
//! viewers).
//!
//! Access: watching reveals every alert. When the sink requires bearer
//! credentials, Watch checks the same ones (mTLS, when configured, is
//! required of every connection already). When it has none, Watch is served
//! only if the run says so ([`Access::Open`]: the listener is loopback, or
//! the operator asked for it).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::Stream;
use prost::bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tonic::{Request, Response, Status};

mod lane;
mod shown;

use super::auth::Policy;
use crate::hub::Hub;
use crate::model::filter::{AlertView, Filter, Limits as FilterLimits};
use crate::model::{AlertRecord, Change, Store};
use crate::proto::watch::watch_event::Event;
#[cfg(test)]
use crate::proto::watch::{Alert, Batch};
use crate::proto::watch::{
    Missed, Reset, SnapshotBegin, SnapshotEnd, SubscribeRequest, WatchEvent,
};
use crate::proto::wire::Wire;
use crate::proto::wire::watch_server::{Watch, WatchServer};

/// Messages buffered per viewer between the shared queue and the
/// connection (a message is up to one chunk).
pub const VIEWER_BUFFER: usize = 16;
/// Chunks the fan-out queues for the viewers (shared by all of them).
pub const FANOUT_QUEUE: usize = 64;
/// Most alerts in one chunk (one `Batch` message).
pub const BATCH_ALERTS: usize = 512;
/// A chunk is closed once its alerts' text reaches this many bytes (a
/// single larger alert still makes a chunk of its own).
pub const BATCH_BYTES: usize = 256 * 1024;
/// How long the fan-out lets alerts gather after the first of a chunk:
/// the latency a viewer sees, traded for few wakeups under load. Kept
/// under one TUI frame (33 ms at the default 30 fps): a viewer's screen
/// shows an alert at most about a frame later. 5 ms made chunks of ~200
/// alerts at 40k/s, each one more wake-up of every viewer task and of
/// every viewer process.
pub const LINGER: Duration = Duration::from_millis(20);
/// Events of the history ring a snapshot carries (the newest).
pub const SNAPSHOT_HISTORY: usize = 10_000;
/// A viewer's opening yields to the runtime after this many items, sent
/// or filtered out.
const YIELD_EVERY: usize = 256;
/// A viewer that takes nothing it is sent for this long is let go: one
/// that never reads yet answers pings would otherwise keep its opening
/// (the snapshot, up to one item per key) pinned in the sink for ever. It
/// resumes where it stopped when it reads again and reconnects.
pub const VIEWER_STALL: Duration = Duration::from_secs(30);
/// Viewers attached at once, in all and from one IP address: each holds an
/// opening while it is sent, so their number bounds that memory, and a
/// viewer's connection is not evictable by senders' connections (it could
/// not fill the connection limit and lock senders out). At the cap, a
/// viewer from a less crowded address takes a place (see
/// `WatchStats::join`).
pub const MAX_VIEWERS: usize = 64;
pub const MAX_VIEWERS_PER_PEER: usize = 8;
/// Resuming further back than this many alerts sends a fresh snapshot
/// instead: a replay is read a page at a time ([`replay`]), but a longer
/// one would cost the sink more than the snapshot a viewer can start from.
pub const MAX_REPLAY: u64 = 250_000;

/// The refusal of a viewer by a sink that does not serve Watch
/// ([`Access::Closed`]); `attach` recognises it by its start.
pub const WATCH_CLOSED: &str = "this sink does not serve Watch: it listens beyond loopback without \
     credentials (configure --token-file or mTLS, or start it with --watch-open)";

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
    /// Alerts viewers missed (summed): dropped from a live stream because
    /// the viewer fell behind, or no longer held when it resumed.
    pub missed: AtomicU64,
    /// The recent `Missed` notices: (after_seq, count), oldest first.
    told: Mutex<std::collections::VecDeque<(u64, u64)>>,
    /// The viewers attached right now, by a number of their own (bounded
    /// by [`MAX_VIEWERS`]).
    viewers: Mutex<std::collections::BTreeMap<u64, Viewer>>,
    /// Bytes of the openings being sent now (see [`OpeningCharge`]).
    opening_bytes: std::sync::atomic::AtomicUsize,
}

/// An opening's bytes, counted against a quarter of the memory budget from
/// when it is read until it is sent (or its viewer goes): openings that are
/// not taken cannot add up past the budget.
struct OpeningCharge {
    stats: Arc<WatchStats>,
    bytes: usize,
}

impl OpeningCharge {
    /// Charges `bytes` unless the openings being sent would pass `limit`.
    fn take(stats: &Arc<WatchStats>, bytes: usize, limit: usize) -> Option<OpeningCharge> {
        let mut now = stats.opening_bytes.load(Ordering::Relaxed);
        loop {
            // One opening alone is always let through: a sink whose single
            // snapshot is over the limit still serves one viewer at a time.
            if now > 0 && now.saturating_add(bytes) > limit {
                return None;
            }
            match stats.opening_bytes.compare_exchange_weak(
                now,
                now + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(OpeningCharge {
                        stats: stats.clone(),
                        bytes,
                    });
                }
                Err(actual) => now = actual,
            }
        }
    }
}

impl Drop for OpeningCharge {
    fn drop(&mut self) {
        self.stats
            .opening_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// An opening between its first message and its last: how fast the viewer
/// takes it.
#[derive(Debug)]
struct Opening {
    started: tokio::time::Instant,
    /// Bytes of the messages the viewer was given.
    sent: AtomicU64,
}

/// How a viewer is asked to leave to make room for another, and why (the
/// refusal it is counted as, and what is logged).
#[derive(Debug, Default)]
struct Leave {
    go: tokio::sync::Notify,
    why: OnceLock<(crate::hub::Refusal, String)>,
}

impl Leave {
    /// Asks once (a second reason is ignored).
    fn ask(&self, why: crate::hub::Refusal, what: String) {
        if self.why.set((why, what)).is_ok() {
            self.go.notify_one();
        }
    }

    fn asked(&self) -> bool {
        self.why.get().is_some()
    }
}

/// An opening taken slower than [`OPENING_FLOOR`] bytes a second, after
/// [`OPENING_GRACE`], is let go when another viewer is refused for room
/// (the slowest first; it resumes where it stopped). The 30 s stall rule
/// alone let viewers that never read hold the openings' room for 30 s at
/// a time, and viewers that read 2 KiB every 2 s for ever (a hostile
/// review locked new viewers out from 5 addresses).
pub const OPENING_GRACE: Duration = Duration::from_secs(5);
pub const OPENING_FLOOR: u64 = 256 * 1024;

impl Opening {
    /// Bytes a second since it started, if it has had its grace.
    fn rate(&self, now: tokio::time::Instant) -> Option<u64> {
        let ms = now.saturating_duration_since(self.started).as_millis() as u64;
        (ms >= OPENING_GRACE.as_millis() as u64)
            .then(|| self.sent.load(Ordering::Relaxed).saturating_mul(1000) / ms)
    }
}

/// One attached viewer, for the stats line and the status bar.
#[derive(Clone, Debug)]
struct Viewer {
    /// The verified identity (mTLS and/or OIDC), else `token` when a
    /// bearer token was checked, else the peer address. Terminal-safe.
    who: String,
    peer: String,
    ip: Option<std::net::IpAddr>,
    since_ms: u64,
    missed: u64,
    /// While its opening is being sent.
    opening: Option<Arc<Opening>>,
    leave: Arc<Leave>,
}

/// Viewers listed in a stats line at most (the count is always exact).
pub const VIEWERS_LISTED: usize = 32;

/// A viewer's place in [`WatchStats`]: leaves with the viewer.
pub struct ViewerEntry {
    stats: Arc<WatchStats>,
    id: u64,
    /// How it is asked to leave (shared with its place in the list).
    leave: Arc<Leave>,
}

impl ViewerEntry {
    /// `n` alerts after seq `after` were dropped from this viewer's live
    /// stream (it is told, with `Missed`).
    fn missed(&self, after: u64, n: u64) {
        self.count(n);
        let mut told = self.stats.told.lock().unwrap_or_else(|e| e.into_inner());
        if told.len() >= TOLD_GAPS {
            told.pop_front();
        }
        told.push_back((after, n));
    }

    /// This viewer resumed after seq `after` further back than the sink can
    /// replay, and will never get `n` alerts after it: missed, but only
    /// those not counted already when a live stream dropped them (a viewer
    /// told `Missed` resumes there).
    fn lost(&self, after: u64, n: u64) {
        let end = after + n;
        let mut counted = 0;
        self.stats
            .told
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&(from, count)| {
                // The two runs of seqs: (after, end] and (from, from + count].
                let overlap = end.min(from + count).saturating_sub(after.max(from));
                counted += overlap;
                overlap == 0
            });
        self.count(n.saturating_sub(counted));
    }

    /// This viewer resumed after seq `after` and is sent the alerts after
    /// it: the `Missed` notice it answers is settled (forgotten, so that it
    /// cannot be taken for another viewer's).
    fn resumed(&self, after: u64) {
        let mut told = self.stats.told.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = told.iter().position(|&(from, _)| from == after) {
            told.remove(i);
        }
    }

    /// This viewer's opening starts: it may be let go if it takes it
    /// slowly while others wait for room.
    fn opening(&self) -> Arc<Opening> {
        let o = Arc::new(Opening {
            started: tokio::time::Instant::now(),
            sent: AtomicU64::new(0),
        });
        if let Some(v) = self.stats.lock().get_mut(&self.id) {
            v.opening = Some(o.clone());
        }
        o
    }

    /// Its opening is sent.
    fn opened(&self) {
        if let Some(v) = self.stats.lock().get_mut(&self.id) {
            v.opening = None;
        }
    }

    fn count(&self, n: u64) {
        self.stats.missed.fetch_add(n, Ordering::Relaxed);
        if let Some(v) = self.stats.lock().get_mut(&self.id) {
            v.missed += n;
        }
    }
}

/// The recent `Missed` notices remembered (as seq runs), so that a resume
/// reset over the same alerts does not count them again. Bounded: beyond
/// it the oldest are forgotten (and such a gap would count twice).
const TOLD_GAPS: usize = 256;

impl Drop for ViewerEntry {
    fn drop(&mut self) {
        self.stats.attached.fetch_sub(1, Ordering::Relaxed);
        self.stats.lock().remove(&self.id);
    }
}

impl WatchStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Viewer>> {
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a viewer in until the entry is dropped, unless that would
    /// pass [`MAX_VIEWERS`] in all or [`MAX_VIEWERS_PER_PEER`] from its
    /// address (`Err`: what it is told). At [`MAX_VIEWERS`], a viewer from
    /// an address holding at least two fewer than the address holding most
    /// takes the place of that address's newest viewer: 8 addresses of 8
    /// viewers held every place for ever (a hostile review), and now a
    /// ninth address's viewer gets in and keeps its place.
    fn join(
        self: &Arc<Self>,
        who: String,
        peer: String,
        ip: Option<std::net::IpAddr>,
    ) -> Result<ViewerEntry, String> {
        let mut viewers = self.lock();
        // Those asked to leave are going: their places are taken already.
        let staying = || viewers.values().filter(|v| !v.leave.asked());
        let mine = staying().filter(|v| ip.is_some() && v.ip == ip).count();
        if mine >= MAX_VIEWERS_PER_PEER {
            return Err(format!(
                "{MAX_VIEWERS_PER_PEER} viewers are attached from this address, the most from one"
            ));
        }
        if staying().count() >= MAX_VIEWERS {
            let mut per_address = std::collections::HashMap::new();
            for v in staying() {
                *per_address.entry(v.ip).or_insert(0usize) += 1;
            }
            let crowded = per_address
                .into_iter()
                .max_by_key(|&(_, n)| n)
                .filter(|&(_, most)| ip.is_some() && mine + 1 < most);
            let newest = crowded.and_then(|(most_ip, _)| staying().rfind(|v| v.ip == most_ip));
            match newest {
                Some(v) => {
                    v.leave.ask(
                        crate::hub::Refusal::TooManyViewers,
                        format!(
                            "its address holds the most viewers while {} waited",
                            crate::sanitize::line(&peer)
                        ),
                    );
                }
                None => {
                    return Err(format!(
                        "{MAX_VIEWERS} viewers are attached, the most this sink serves at once"
                    ));
                }
            }
        }
        let id = self.total.fetch_add(1, Ordering::Relaxed);
        self.attached.fetch_add(1, Ordering::Relaxed);
        let leave = Arc::<Leave>::default();
        viewers.insert(
            id,
            Viewer {
                who,
                peer,
                ip,
                since_ms: crate::hub::now_ms(),
                missed: 0,
                opening: None,
                leave: leave.clone(),
            },
        );
        drop(viewers);
        Ok(ViewerEntry {
            stats: self.clone(),
            id,
            leave,
        })
    }

    /// Lets go the viewer taking its opening slowest, if one is under
    /// [`OPENING_FLOOR`] after its grace: a viewer was refused for room.
    /// Returns who, with its rate.
    fn let_slowest_go(&self) -> Option<String> {
        let now = tokio::time::Instant::now();
        let viewers = self.lock();
        let (v, rate) = viewers
            .values()
            .filter(|v| !v.leave.asked())
            .filter_map(|v| Some((v, v.opening.as_ref()?.rate(now)?)))
            .filter(|&(_, rate)| rate < OPENING_FLOOR)
            .min_by_key(|&(_, rate)| rate)?;
        v.leave.ask(
            crate::hub::Refusal::WriteStall,
            format!(
                "took its opening slower than {} KiB/s while another viewer waited",
                OPENING_FLOOR / 1024
            ),
        );
        Some(format!("{} ({} B/s)", v.who, rate))
    }

    /// The `"watchers"` object of a `{"kind":"stats"}` line: counts, and
    /// the viewers attached now (oldest first, [`VIEWERS_LISTED`] at most).
    pub fn to_json(&self) -> serde_json::Value {
        let now = crate::hub::now_ms();
        let viewers: Vec<_> = self
            .lock()
            .values()
            .take(VIEWERS_LISTED)
            .map(|v| {
                serde_json::json!({
                    "who": v.who,
                    "peer": v.peer,
                    "attached_s": now.saturating_sub(v.since_ms) / 1000,
                    "missed": v.missed,
                })
            })
            .collect();
        serde_json::json!({
            "attached": self.attached.load(Ordering::Relaxed),
            "total": self.total.load(Ordering::Relaxed),
            "missed": self.missed.load(Ordering::Relaxed),
            "viewers": viewers,
        })
    }

    /// `2 viewers: alice@example.com, token` for a status bar (`short`:
    /// `2 viewers`); None when no viewer is attached.
    pub fn summary(&self, short: bool) -> Option<String> {
        let viewers = self.lock();
        let n = viewers.len();
        if n == 0 {
            return None;
        }
        let plural = if n == 1 { "" } else { "s" };
        if short {
            return Some(format!("{n} viewer{plural}"));
        }
        let shown: Vec<&str> = viewers.values().take(4).map(|v| v.who.as_str()).collect();
        let more = if n > shown.len() {
            format!(", +{}", n - shown.len())
        } else {
            String::new()
        };
        Some(format!("{n} viewer{plural}: {}{more}", shown.join(", ")))
    }
}

/// The sink's forwarding as told to viewers, read when it is sent.
pub type ForwardingReport = Arc<dyn Fn() -> crate::proto::watch::Forwarding + Send + Sync>;

/// The Watch service.
pub struct WatchService {
    hub: Arc<Hub>,
    policy: Arc<Policy>,
    access: Access,
    stats: Arc<WatchStats>,
    fanout: Arc<FanoutSlot>,
    /// Where the viewers' filters run (see [`lane`]).
    lane: Arc<lane::Lane>,
    forwarding: Option<ForwardingReport>,
    /// Becomes true when the sink starts shutting down: every stream then
    /// sends what it holds and ends, so the server's graceful shutdown
    /// does not wait for viewers that would never leave.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// What a viewer is told when the sink shuts down (the stream's status).
pub const SHUTTING_DOWN: &str = "the sink is shutting down";
/// How long a stream may take, once the sink is shutting down, to hand
/// what it holds to its connection (a stalled viewer does not hold up
/// the shutdown longer than this).
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

/// The running fan-out's queue, if any. Viewers subscribe to it while
/// holding this lock; the fan-out leaves (and empties it) only while
/// holding it and seeing no viewer, so a viewer never subscribes to a
/// fan-out that is leaving.
type FanoutSlot = Mutex<Option<broadcast::Sender<Arc<Chunk>>>>;

/// Consecutive accepted alerts (contiguous seqs), as the fan-out read them.
struct Chunk {
    records: Vec<Arc<AlertRecord>>,
    /// The `Batch` event of all of them, encoded by the first viewer that
    /// sends it whole, then shared.
    encoded: OnceLock<Bytes>,
}

impl Chunk {
    fn first(&self) -> u64 {
        self.records.first().map_or(0, |r| r.seq)
    }

    fn last(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }

    fn encoded(&self) -> Bytes {
        self.encoded
            .get_or_init(|| encode_batch(self.records.iter().map(|r| &**r)))
            .clone()
    }
}

/// The fan-out: reads the hub's queue, sends chunks to the viewers, and
/// leaves when none is left (or the hub closes).
async fn fan_out(
    mut rx: broadcast::Receiver<Arc<AlertRecord>>,
    tx: broadcast::Sender<Arc<Chunk>>,
    slot: Arc<FanoutSlot>,
) {
    let mut full = false;
    loop {
        let first = match rx.recv().await {
            Ok(r) => r,
            // Lost here: the viewers see the gap in the seqs.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if !full {
            tokio::time::sleep(LINGER).await;
        }
        let mut bytes = text_bytes(&first);
        let mut records = vec![first];
        while !is_full(records.len(), bytes) {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += text_bytes(&r);
                    records.push(r);
                }
                // Empty, closed, or lagged (a gap: the chunk ends here).
                Err(_) => break,
            }
        }
        full = is_full(records.len(), bytes);
        let chunk = Arc::new(Chunk {
            records,
            encoded: OnceLock::new(),
        });
        if tx.send(chunk).is_err() {
            // No viewer. Busy: one is subscribing right now.
            if let Ok(mut s) = slot.try_lock()
                && tx.receiver_count() == 0
            {
                *s = None;
                return;
            }
        }
    }
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Whether a chunk (live, or a page of a replay) of `alerts` alerts and
/// `bytes` of text is closed.
fn is_full(alerts: usize, bytes: usize) -> bool {
    alerts >= BATCH_ALERTS || bytes >= BATCH_BYTES
}

fn text_bytes(r: &AlertRecord) -> usize {
    r.owner.len() + r.repo.len() + r.policy.len() + r.details.len() + 64
}

impl WatchService {
    pub fn server(
        hub: Arc<Hub>,
        policy: Arc<Policy>,
        access: Access,
        stats: Arc<WatchStats>,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> WatchService {
        WatchService {
            hub,
            policy,
            access,
            stats,
            fanout: Arc::default(),
            lane: Arc::default(),
            forwarding: None,
            stopping,
        }
    }

    /// Viewers are also sent the sink's forwarding, about once a second.
    pub fn with_forwarding(mut self, f: Option<ForwardingReport>) -> WatchServer<WatchService> {
        self.forwarding = f;
        WatchServer::new(self)
    }

    /// What a new viewer is sent before the live stream, and its receiver
    /// of the live chunks: read together under the hub lock, so the chunks
    /// carry every alert after the opening (and maybe some before it,
    /// which the viewer skips by seq).
    fn open(
        &self,
        resume_after: Option<u64>,
        epoch: &str,
    ) -> (Vec<Item>, u64, broadcast::Receiver<Arc<Chunk>>, usize) {
        let mut slot = self.fanout.lock().unwrap_or_else(|e| e.into_inner());
        let tx = match &*slot {
            Some(tx) => tx.clone(),
            None => {
                let (tx, _) = broadcast::channel(FANOUT_QUEUE);
                // Subscribed to the hub before the opening is read below.
                let (_, rx) = self.hub.subscribe();
                tokio::spawn(fan_out(rx, tx.clone(), self.fanout.clone()));
                *slot = Some(tx.clone());
                tx
            }
        };
        let theirs = (!epoch.is_empty()).then_some(epoch);
        let ours = self.hub.epoch();
        self.hub.read(|store| {
            let (items, lost) = opening(store, ours, resume_after.map(|after| (after, theirs)));
            let limit = store.limits().memory_budget / 4;
            (items, lost, tx.subscribe(), limit)
        })
    }
}

/// One alert as read under the hub lock: a record of shared strings only
/// (cheap to take while ingest waits); turned into a message when it is
/// sent, one at a time, so a snapshot never holds a second copy of the
/// details.
type Row = AlertRecord;

/// Whether the viewer's filter lets this alert through: when it matches,
/// and when it changes the status of a key the viewer was sent an alert of
/// (`shown`), so the viewer never shows a status the key has left: a viewer
/// of `status:fail` or of words failing details hold (`'check failed'`)
/// is sent each fix of a key it shows failing, however the failure was
/// worded in between.
///
/// A stream that resumed (or was reset) serves a viewer that holds keys an
/// earlier stream sent, which `shown` does not know. There a change of a
/// key not in `shown` is also sent when the alert before it may have
/// matched ([`before_may_have_matched`]).
fn passes(row: &Row, filter: Option<&Filter>, now_ms: u64, shown: &mut shown::Shown) -> bool {
    let Some(f) = filter else {
        return true;
    };
    let view = AlertView {
        owner: &row.owner,
        repo: &row.repo,
        policy: &row.policy,
        details: lane::searched(&row.details),
        pass: row.pass,
        change: row.change,
        age_ms: now_ms.saturating_sub(row.at_ms),
    };
    let sent = f.matches(&view)
        || (row.change.is_transition()
            && (shown.has(row.key)
                || (!shown.is_whole() && before_may_have_matched(row, f, &view, shown))));
    if sent {
        shown.add(row.key);
    }
    sent
}

/// Whether the alert before `row` (a change of status) may have matched:
/// it had the same names, the other status and any change that status can
/// have had, and its own details: on records read back from the store
/// ([`AlertRecord::before`]), else read from the store now (live records
/// carry one text only). Details the history no longer holds may have been
/// anything: then the names alone decide, and a change of a key outside
/// the filter's names is never sent.
///
/// [`AlertRecord::before`]: crate::model::AlertRecord::before
fn before_may_have_matched(
    row: &Row,
    f: &Filter,
    view: &AlertView<'_>,
    shown: &shown::Shown,
) -> bool {
    let looked_up;
    let text = match &row.before {
        Some(text) => text,
        None => {
            looked_up = shown.details_before(row.seq);
            match &looked_up {
                Some(text) => text,
                None => return f.matches_key(view.owner, view.repo, view.policy),
            }
        }
    };
    let before: &[Change] = match row.change {
        Change::Fixed => &[Change::First, Change::Regressed, Change::Same],
        Change::Regressed => &[Change::First, Change::Fixed, Change::Same],
        Change::First | Change::Same => return false,
    };
    before.iter().any(|&change| {
        f.matches(&AlertView {
            pass: !row.pass,
            change,
            details: lane::searched(text),
            ..*view
        })
    })
}

/// The `WatchEvent` fields that carry alerts (see watch.proto).
const LATEST: u32 = 2;
const HISTORY: u32 = 3;
const LIVE: u32 = 5;
const BATCH: u32 = 8;

/// An alert's encoding is written straight from the record's shared
/// strings: building the `Alert` message first cost six string copies per
/// alert, allocated and freed again (most of what serving viewers cost the
/// sink in `perf`). The bytes are the ones prost writes for
/// `alert_of(row)`; the tests below hold the two together.
mod encode {
    use prost::bytes::{BufMut, Bytes};
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

    use super::Row;

    fn peer(row: &Row) -> (&str, &str) {
        match &row.peer {
            Some(p) => (p.label.as_str(), p.identity.as_deref().unwrap_or("")),
            None => ("", ""),
        }
    }

    fn uint_len(tag: u32, v: u64) -> usize {
        if v == 0 {
            0
        } else {
            key_len(tag) + encoded_len_varint(v)
        }
    }

    fn str_len(tag: u32, s: &str) -> usize {
        if s.is_empty() {
            0
        } else {
            key_len(tag) + encoded_len_varint(s.len() as u64) + s.len()
        }
    }

    fn put_uint(tag: u32, v: u64, buf: &mut Vec<u8>) {
        if v != 0 {
            encode_key(tag, WireType::Varint, buf);
            encode_varint(v, buf);
        }
    }

    fn put_str(tag: u32, s: &str, buf: &mut Vec<u8>) {
        if !s.is_empty() {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(s.len() as u64, buf);
            buf.put_slice(s.as_bytes());
        }
    }

    /// The length of the `Alert` message of `row` (without a key).
    fn alert_len(row: &Row) -> usize {
        let (label, identity) = peer(row);
        uint_len(1, row.seq)
            + uint_len(2, row.at_ms)
            + str_len(3, &row.owner)
            + str_len(4, &row.repo)
            + str_len(5, &row.policy)
            + if row.pass { key_len(6) + 1 } else { 0 }
            + str_len(7, &row.details)
            + str_len(8, label)
            + str_len(9, identity)
            + uint_len(10, change(row))
    }

    /// The `Change` enum of watch.proto for the record's change.
    pub(super) fn change(row: &Row) -> u64 {
        use crate::model::Change;
        match row.change {
            Change::First => 1,
            Change::Same => 2,
            Change::Regressed => 3,
            Change::Fixed => 4,
        }
    }

    fn put_alert(row: &Row, buf: &mut Vec<u8>) {
        let (label, identity) = peer(row);
        put_uint(1, row.seq, buf);
        put_uint(2, row.at_ms, buf);
        put_str(3, &row.owner, buf);
        put_str(4, &row.repo, buf);
        put_str(5, &row.policy, buf);
        if row.pass {
            encode_key(6, WireType::Varint, buf);
            buf.put_u8(1);
        }
        put_str(7, &row.details, buf);
        put_str(8, label, buf);
        put_str(9, identity, buf);
        put_uint(10, change(row), buf);
    }

    fn field_len(tag: u32, len: usize) -> usize {
        key_len(tag) + encoded_len_varint(len as u64) + len
    }

    /// A `WatchEvent` whose field `tag` (latest, history or live) is the
    /// alert of `row`.
    pub fn one(tag: u32, row: &Row) -> Bytes {
        let len = alert_len(row);
        let mut buf = Vec::with_capacity(field_len(tag, len));
        encode_key(tag, WireType::LengthDelimited, &mut buf);
        encode_varint(len as u64, &mut buf);
        put_alert(row, &mut buf);
        Bytes::from(buf)
    }

    /// A `WatchEvent` whose `batch` holds the alerts of `rows`, in order.
    pub fn batch<'a>(rows: impl Iterator<Item = &'a Row> + Clone) -> Bytes {
        let body: usize = rows.clone().map(|r| field_len(1, alert_len(r))).sum();
        let mut buf = Vec::with_capacity(field_len(super::BATCH, body));
        encode_key(super::BATCH, WireType::LengthDelimited, &mut buf);
        encode_varint(body as u64, &mut buf);
        for r in rows {
            encode_key(1, WireType::LengthDelimited, &mut buf);
            encode_varint(alert_len(r) as u64, &mut buf);
            put_alert(r, &mut buf);
        }
        Bytes::from(buf)
    }
}

use encode::batch as encode_batch;

#[cfg(test)]
fn alert_of(row: &Row) -> Alert {
    Alert {
        seq: row.seq,
        received_ms: row.at_ms,
        owner: row.owner.to_string(),
        repo: row.repo.to_string(),
        policy: row.policy.to_string(),
        pass: row.pass,
        details: row.details.to_string(),
        peer: row
            .peer
            .as_ref()
            .map(|p| p.label.clone())
            .unwrap_or_default(),
        identity: row
            .peer
            .as_ref()
            .and_then(|p| p.identity.clone())
            .unwrap_or_default(),
        change: {
            use crate::proto::watch::Change as Wire;
            match row.change {
                Change::First => Wire::First,
                Change::Same => Wire::Same,
                Change::Regressed => Wire::Regressed,
                Change::Fixed => Wire::Fixed,
            }
        } as i32,
    }
}

/// What is sent before the live stream.
enum Item {
    Reset(String),
    Begin(SnapshotBegin),
    Latest(Row),
    History(Row),
    End,
    /// The alerts after the resume point up to this seq (exclusive): the
    /// live stream starts there.
    ReplayUpTo(u64),
}

impl Item {
    /// The item's one message; none for a replay, which is paged out of
    /// the history ([`replay`]).
    fn event(&self) -> Option<Wire> {
        Some(Wire::Event(ev(match self {
            Item::Reset(reason) => Event::Reset(Reset {
                reason: reason.clone(),
            }),
            Item::Begin(b) => Event::SnapshotBegin(b.clone()),
            Item::Latest(r) => return Some(Wire::Encoded(encode::one(LATEST, r))),
            Item::History(r) => return Some(Wire::Encoded(encode::one(HISTORY, r))),
            Item::End => Event::SnapshotEnd(SnapshotEnd {}),
            Item::ReplayUpTo(_) => return None,
        })))
    }
}

fn ev(e: Event) -> WatchEvent {
    WatchEvent { event: Some(e) }
}

/// What a subscriber is sent before the live stream, read under the hub
/// lock together with its subscription; and, when it resumed in this run's
/// seqs further back than the sink can replay, how many alerts after its
/// resume point it will never get (see [`lost_on_reset`]).
fn opening(store: &Store, epoch: &str, resume: Option<(u64, Option<&str>)>) -> (Vec<Item>, u64) {
    let next = store.next_seq();
    if let Some((after, theirs)) = resume {
        let first_held = store.history().front().map_or(next, |e| e.seq);
        // Whether `after` is one of this run's seqs (the reset is for a
        // gap too old, not for a restart).
        let mut comparable = false;
        let reason = if theirs.is_some_and(|e| e != epoch) {
            // The sink restarted without storing every seq it had given
            // out (src/state/epoch.rs): the same seqs may now name other
            // alerts, so `after` says nothing here.
            Some(format!(
                "resume after seq {after}, but the sink restarted since without a record that it kept every seq it had given out (no durable state, or an unclean stop such as kill -9)"
            ))
        } else if after >= next {
            // Seqs restart when a sink without durable state restarts.
            Some(format!(
                "resume after seq {after}, but this sink's next seq is {next} (it restarted without its state)"
            ))
        } else if after + 1 < first_held {
            comparable = true;
            Some(format!(
                "resume after seq {after}: the sink no longer holds seqs before {first_held}"
            ))
        } else if next - after > MAX_REPLAY {
            comparable = true;
            Some(format!(
                "resume after seq {after}: {} alerts behind, more than {MAX_REPLAY} to replay",
                next - after
            ))
        } else {
            None
        };
        return match reason {
            // Read from the history a page at a time as the viewer takes
            // them ([`replay`]), not here under the lock.
            None => (vec![Item::ReplayUpTo(next)], 0),
            Some(reason) => {
                let mut out = vec![Item::Reset(reason)];
                out.extend(snapshot(store, epoch));
                let lost = if comparable {
                    lost_on_reset(&out, after, next)
                } else {
                    0
                };
                (out, lost)
            }
        };
    }
    (snapshot(store, epoch), 0)
}

/// The alerts after `after` (up to `next`, the sink's next seq) that a
/// fresh snapshot does not carry, neither as a key's latest alert nor in
/// its history: a viewer resuming there can no longer get them, so they
/// are missed. Counted before any filter, as `Missed` is.
fn lost_on_reset(snapshot: &[Item], after: u64, next: u64) -> u64 {
    // The snapshot's history is the newest events, contiguous up to
    // `next`; a key's latest alert is carried apart only when older.
    let first_history = snapshot
        .iter()
        .find_map(|i| match i {
            Item::History(r) => Some(r.seq),
            _ => None,
        })
        .unwrap_or(next);
    let carried = snapshot
        .iter()
        .filter(|i| match i {
            Item::History(r) => r.seq > after,
            Item::Latest(r) => r.seq > after && r.seq < first_history,
            _ => false,
        })
        .count() as u64;
    next.saturating_sub(after + 1).saturating_sub(carried)
}

/// What one viewer is sent of a chunk: the alerts after `last` that pass
/// its filter. The shared bytes when it wants them all as a batch.
async fn messages(chunk: &Chunk, last: u64, wanted: &mut Wanted<'_>) -> Vec<Wire> {
    if wanted.batch && wanted.filter.is_none() && chunk.first() > last {
        return vec![Wire::Encoded(chunk.encoded())];
    }
    let rows = chunk.records.iter().map(|r| &**r).filter(|r| r.seq > last);
    passing(rows, wanted).await
}

/// The messages of the alerts of `rows` that pass the viewer's filter (run
/// in the lane): one `Batch`, or one `live` message each.
async fn passing<'a>(rows: impl Iterator<Item = &'a Row>, wanted: &mut Wanted<'_>) -> Vec<Wire> {
    let rows = wanted
        .slice
        .passing(rows, wanted.filter, wanted.shown)
        .await;
    if rows.is_empty() {
        Vec::new()
    } else if wanted.batch {
        vec![Wire::Encoded(encode_batch(rows.iter().copied()))]
    } else {
        rows.iter()
            .map(|r| Wire::Encoded(encode::one(LIVE, r)))
            .collect()
    }
}

fn snapshot(store: &Store, epoch: &str) -> Vec<Item> {
    let history = store.history();
    let skip = history.len().saturating_sub(SNAPSHOT_HISTORY);
    let mut out = Vec::with_capacity(store.key_count() + history.len() - skip + 2);
    out.push(Item::Begin(SnapshotBegin {
        keys: store.key_count() as u64,
        history: (history.len() - skip) as u64,
        next_seq: store.next_seq(),
        epoch: epoch.to_owned(),
    }));
    for id in 0..store.keys().len() {
        out.push(Item::Latest(store.latest_record(id as crate::model::KeyId)));
    }
    for e in history.iter().skip(skip) {
        out.push(Item::History(store.record(e)));
    }
    out.push(Item::End);
    out
}

/// How one viewer is sent alerts: its filter, its turns in the lane the
/// filter runs in, and whether it takes batches.
struct Wanted<'a> {
    filter: Option<&'a Filter>,
    slice: lane::Slice<'a>,
    batch: bool,
    /// Bytes given to the viewer (its opening's pace, see [`Opening`]).
    sent: &'a AtomicU64,
    /// The keys it was sent an alert of (see [`passes`]): one for the
    /// whole stream, opening and live.
    shown: &'a Mutex<shown::Shown>,
}

impl Wanted<'_> {
    /// Sends a message of the opening: at once when the viewer's buffer has
    /// room, so a turn in the lane goes on; else after giving the turn
    /// back, as the viewer's pace must not hold the others' filters.
    async fn give(&mut self, tx: &mpsc::Sender<Result<Wire, Status>>, m: Wire) -> Result<(), ()> {
        match tx.try_reserve() {
            Ok(place) => {
                self.sent
                    .fetch_add(prost::Message::encoded_len(&m) as u64, Ordering::Relaxed);
                place.send(Ok(m));
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                self.slice.pause();
                self.send(tx, m).await
            }
            Err(mpsc::error::TrySendError::Closed(())) => Err(()),
        }
    }

    /// Sends a message of a replay or of the live stream (the lane is
    /// given back already).
    async fn send(&mut self, tx: &mpsc::Sender<Result<Wire, Status>>, m: Wire) -> Result<(), ()> {
        let bytes = prost::Message::encoded_len(&m) as u64;
        give(tx, Ok(m)).await?;
        self.sent.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}

/// Sends a resumed viewer the alerts after `*last` up to `to` (exclusive)
/// from the sink's history, a page at a time: at most a chunk's worth
/// ([`BATCH_ALERTS`], [`BATCH_BYTES`]) read under the hub lock, then sent
/// (one `Batch` when the viewer takes batches) before the next is read.
/// So what the sink holds for a replay is one page, however far back the
/// viewer resumed, and ingest waits on the lock for one page at a time.
/// Alerts the history lets go before their page is read (the viewer reads
/// slower than alerts arrive) are told `Missed`, as a live gap is.
async fn replay(
    hub: &Hub,
    tx: &mpsc::Sender<Result<Wire, Status>>,
    last: &mut u64,
    to: u64,
    entry: &ViewerEntry,
    wanted: &mut Wanted<'_>,
) -> Result<(), ()> {
    while *last + 1 < to {
        let from = *last + 1;
        let (first_held, rows) = hub.read(|store| {
            let first_held = store.history().front().map_or(to, |e| e.seq);
            let mut rows = Vec::new();
            if first_held > from {
                return (first_held, rows);
            }
            let mut bytes = 0;
            for seq in from..to {
                let Some(e) = store.event(seq) else { break };
                let row = store.record(e);
                bytes += text_bytes(&row);
                rows.push(row);
                if is_full(rows.len(), bytes) {
                    break;
                }
            }
            (first_held, rows)
        });
        if first_held > from {
            let held = first_held.min(to);
            tell_missed(tx, entry, *last, held - from).await?;
            *last = held - 1;
            continue;
        }
        let Some(end) = rows.last().map(|r| r.seq) else {
            break; // nothing held up to `to`: cannot happen while seqs are contiguous
        };
        for m in passing(rows.iter(), wanted).await {
            wanted.send(tx, m).await?;
        }
        *last = end;
        // A filter that passes none of a long replay would never await.
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Sends a viewer one message, or gives up on one that has taken nothing
/// for [`VIEWER_STALL`] (or is gone).
async fn give(tx: &mpsc::Sender<Result<Wire, Status>>, m: Result<Wire, Status>) -> Result<(), ()> {
    match tokio::time::timeout(VIEWER_STALL, tx.send(m)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Tells a viewer that `count` alerts after seq `after` will not reach it
/// on this stream, and counts them once the notice is on its way: a viewer
/// cut off before is counted nothing here, and what it cannot resume is
/// counted when it comes back.
async fn tell_missed(
    tx: &mpsc::Sender<Result<Wire, Status>>,
    entry: &ViewerEntry,
    after: u64,
    count: u64,
) -> Result<(), ()> {
    give(
        tx,
        Ok(Wire::Event(ev(Event::Missed(Missed {
            count,
            after_seq: after,
        })))),
    )
    .await?;
    entry.missed(after, count);
    Ok(())
}

/// Sends one viewer what it gets of a live chunk (a `Missed` notice first
/// when the chunk does not follow `last`), and moves `last` past it.
async fn send_chunk(
    tx: &mpsc::Sender<Result<Wire, Status>>,
    chunk: &Chunk,
    last: &mut u64,
    entry: &ViewerEntry,
    wanted: &mut Wanted<'_>,
) -> Result<(), ()> {
    if chunk.last() <= *last {
        return Ok(()); // all in the opening already
    }
    if chunk.first() > *last + 1 {
        tell_missed(tx, entry, *last, chunk.first() - *last - 1).await?;
    }
    for m in messages(chunk, *last, wanted).await {
        wanted.send(tx, m).await?;
    }
    *last = chunk.last();
    Ok(())
}

/// A viewer's identity: its mTLS subject and a token's, both when both.
fn add_identity(identity: &mut Option<String>, id: Option<Arc<str>>) {
    if let Some(id) = id {
        *identity = Some(match identity.take() {
            Some(t) => format!("{t}; {id}"),
            None => id.to_string(),
        });
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<Wire, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let (peer, tls_identity) = super::conn::peer_of(request.extensions());
        let peer_label = peer.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
        // Refused viewers are counted like any refusal (and listed among
        // the recent ones with what they were told).
        let refuse = |why: crate::hub::Refusal, status: Status| {
            self.hub.refuse_from(why, peer, Some(status.message()));
            Err(status)
        };
        if self.access == Access::Closed {
            tracing::info!("viewer {peer_label} refused: Watch is not served (no credentials)");
            return refuse(
                crate::hub::Refusal::WatchClosed,
                Status::permission_denied(WATCH_CLOSED),
            );
        }
        let mut identity = tls_identity.map(|t| t.to_string());
        let mut token = false;
        if self.policy.is_required() {
            let headers = request.metadata().clone().into_headers();
            match self.policy.check_viewer(&headers, identity.is_some()).await {
                Ok(id) => {
                    token = self.policy.has_bearer_method();
                    add_identity(&mut identity, id);
                }
                Err(d) => {
                    tracing::info!("viewer {peer_label} refused: {}", d.message);
                    return refuse(d.why, d.status());
                }
            }
        }
        let resume_after = request.get_ref().resume_after;
        let filter = match request.get_ref().filter.trim() {
            "" => None,
            // From the network and run over every key held: bounded.
            text => Some(
                Filter::parse_within(text, FilterLimits::REMOTE).map_err(|e| {
                    Status::invalid_argument(format!(
                        "filter: {}",
                        crate::sanitize::line(&e.to_string())
                    ))
                })?,
            ),
        };
        let batch = request.get_ref().batch;
        let forwarding = self.forwarding.clone();
        let extensions = request.extensions().clone();
        let epoch = request.get_ref().epoch.clone();
        // Shown as the viewer: the verified identity, else that a token
        // was checked, else where it came from.
        let shown = match &identity {
            Some(id) => crate::sanitize::line(id).into_owned(),
            None if token => "token".to_owned(),
            None => peer_label.clone(),
        };
        let who = match &identity {
            Some(_) => format!("{peer_label} ({shown})"),
            None => peer_label.clone(),
        };
        // Admitted before its opening is made: a refused viewer costs no
        // snapshot.
        let entry = match self
            .stats
            .join(shown, peer_label.clone(), peer.map(|p| p.ip()))
        {
            Ok(e) => e,
            Err(why) => {
                tracing::info!("viewer {who} refused: {why}");
                return refuse(
                    crate::hub::Refusal::TooManyViewers,
                    Status::resource_exhausted(why),
                );
            }
        };
        // Holds its connection like a sender once admitted.
        super::conn::mark_accepted(request.extensions());
        let (first, lost, mut rx, limit) = self.open(resume_after, &epoch);
        // Strings are the store's (shared); the opening's own bytes are
        // its items.
        let bytes = first.capacity() * std::mem::size_of::<Item>();
        let Some(charge) = OpeningCharge::take(&self.stats, bytes, limit) else {
            drop(first);
            let why = format!(
                "viewers' openings being sent would pass a quarter of the memory budget \
                 ({limit} bytes): retry in a moment"
            );
            tracing::info!("viewer {who} refused: {why}");
            // Room for its retry: the slowest opening goes.
            if let Some(slowest) = self.stats.let_slowest_go() {
                tracing::info!("viewer {slowest} let go: its opening was slowest ({who} waits)");
            }
            return refuse(
                crate::hub::Refusal::TooManyViewers,
                Status::resource_exhausted(why),
            );
        };
        tracing::info!(
            "viewer {who} attached ({})",
            match resume_after {
                Some(s) => format!("resume after seq {s}"),
                None => "snapshot".into(),
            }
        );
        if let Some(after) = resume_after {
            if matches!(first.first(), Some(Item::Reset(_))) {
                // Resumed further back than the sink can replay: what the
                // fresh snapshot does not carry is missed (the Reset says
                // why). Alerts a resume fetched are not: a viewer cut off
                // (a write stall) is counted nothing until it comes back.
                entry.lost(after, lost);
            } else {
                entry.resumed(after);
            }
        }
        let (tx, out) = mpsc::channel::<Result<Wire, Status>>(VIEWER_BUFFER);
        let opening = entry.opening();
        let leave = entry.leave.clone();
        let mut stopping = self.stopping.clone();
        let hub = self.hub.clone();
        let lane = self.lane.clone();
        tokio::spawn(async move {
            // The last seq accounted for (sent, filtered out, or in the
            // snapshot): a gap starts after it.
            let mut last = resume_after.unwrap_or(0);
            // Whether the opening went out whole (live chunks may follow).
            let mut opened = false;
            // A fresh stream's viewer holds only what this stream sends it.
            let shown = Mutex::new(match resume_after {
                None => shown::Shown::fresh(),
                Some(_) => shown::Shown::resumed(hub.clone()),
            });
            let wanted = || Wanted {
                filter: filter.as_ref(),
                slice: lane.slice(filter.as_ref()),
                batch,
                sent: &opening.sent,
                shown: &shown,
            };
            let run = async {
                let now = crate::hub::now_ms();
                let mut wanted = wanted();
                for (i, item) in first.into_iter().enumerate() {
                    // A filter that passes nothing would never await: give
                    // the ingest's threads back now and then, and stop
                    // when the viewer is gone (a user's review: a viewer
                    // wedged the sink past its own disconnect).
                    if i % YIELD_EVERY == YIELD_EVERY - 1 {
                        tokio::task::yield_now().await;
                        if tx.is_closed() {
                            return Err(());
                        }
                    }
                    match &item {
                        Item::ReplayUpTo(to) => {
                            wanted.slice.pause();
                            replay(&hub, &tx, &mut last, *to, &entry, &mut wanted).await?;
                            continue;
                        }
                        Item::Begin(b) => last = b.next_seq.saturating_sub(1),
                        _ => {}
                    }
                    if let Item::Latest(r) | Item::History(r) = &item
                        && let Some(f) = wanted.filter
                    {
                        // In the lane, a slice at a time; and between
                        // slices, stop if the viewer is gone.
                        if wanted.slice.enter(lane::work(f, r)).await && tx.is_closed() {
                            return Err(());
                        }
                        let mut sent_keys = shown.lock().unwrap_or_else(|e| e.into_inner());
                        if !passes(r, Some(f), now, &mut sent_keys) {
                            continue;
                        }
                    }
                    if let Some(message) = item.event() {
                        wanted.give(&tx, message).await?;
                    }
                }
                // Never held while waiting for live alerts.
                wanted.slice.pause();
                entry.opened();
                opened = true;
                drop(charge);
                // A viewer holds its connection while attached, like a
                // sender that keeps sending (not evictable at the cap).
                let mut keep = tokio::time::interval(Duration::from_secs(1));
                loop {
                    let received = tokio::select! {
                        r = rx.recv() => r,
                        _ = keep.tick() => {
                            super::conn::mark_accepted(&extensions);
                            // Skipped, not waited for, when the viewer is
                            // behind: the next one will do.
                            if let Some(f) = &forwarding {
                                let e = ev(Event::Forwarding(f()));
                                let _ = tx.try_send(Ok(Wire::Event(e)));
                            }
                            continue;
                        }
                        // Gone on a quiet sink: detach now, not at the next alert.
                        _ = tx.closed() => return Ok(()),
                    };
                    let chunk = match received {
                        Ok(c) => c,
                        // The next chunk's first seq tells how many.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return Ok::<(), ()>(()),
                    };
                    send_chunk(&tx, &chunk, &mut last, &entry, &mut wanted).await?;
                }
            };
            // Ends the stream when the sink starts shutting down (never,
            // if the server went without saying so).
            let stop = async {
                if stopping.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let (stopped, failed) = tokio::select! {
                r = run => (false, r.is_err()),
                _ = stop => (true, false),
                // Asked to leave for another viewer (see `join`).
                _ = leave.go.notified() => (false, true),
            };
            if failed && !tx.is_closed() {
                // Still connected, yet took nothing for VIEWER_STALL (or
                // asked to leave): let go, and counted as a connection
                // that reads nothing is (or as a viewer too many).
                let (kind, why) = leave.why.get().cloned().unwrap_or_else(|| {
                    let why = format!("took nothing it was sent for {}s", VIEWER_STALL.as_secs());
                    (crate::hub::Refusal::WriteStall, why)
                });
                tracing::info!("viewer {who} let go: {why}");
                hub.refuse_from(kind, peer, Some(&why));
            }
            if stopped {
                // Every alert accepted so far goes out (the fan-out may be
                // lingering over the last ones), then the reason; a viewer
                // that does not read gets what fits in [`SHUTDOWN_FLUSH`]
                // and resumes from there when it comes back.
                let held = hub.read(|store| store.next_seq()).saturating_sub(1);
                let flush = async {
                    let mut wanted = wanted();
                    while opened && last < held {
                        let chunk = match rx.recv().await {
                            Ok(c) => c,
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => break,
                        };
                        send_chunk(&tx, &chunk, &mut last, &entry, &mut wanted).await?;
                    }
                    tx.send(Err(Status::unavailable(SHUTTING_DOWN)))
                        .await
                        .map_err(|_| ())
                };
                let _ = tokio::time::timeout(SHUTDOWN_FLUSH, flush).await;
            }
            drop(entry);
            tracing::info!("viewer {who} detached");
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn record(seq: u64, pass: bool, details: &str, peer: Option<(&str, Option<&str>)>) -> Row {
        Row {
            seq,
            at_ms: seq.wrapping_mul(1_000_003),
            owner: "ossf".into(),
            repo: format!("repo-{seq}").into(),
            policy: "Branch Protection".into(),
            pass,
            details: details.into(),
            change: crate::model::Change::First,
            peer: peer.map(|(addr, id)| {
                Arc::new(crate::model::Peer::new(
                    addr.parse().ok(),
                    id.map(str::to_owned),
                ))
            }),
            late: false,
            before: None,
            key: crate::model::NO_KEY,
        }
    }

    /// Every field empty or set, every varint length class, a long text.
    fn records() -> Vec<Row> {
        let long = "é".repeat(20_000);
        vec![
            record(0, false, "", None),
            record(1, true, "", None),
            record(127, false, "Branch protection not enabled.\n", None),
            record(128, true, "x", Some(("10.0.0.1:5000", None))),
            record(
                300_000,
                false,
                &long,
                Some(("[::1]:443", Some("spiffe://a/b"))),
            ),
            record(u64::MAX, true, "ok", Some(("", Some("alice@example.com")))),
        ]
    }

    #[test]
    fn alerts_are_encoded_as_prost_encodes_their_messages() {
        let rows = records();
        for r in &rows {
            for (tag, event) in [
                (LATEST, Event::Latest(alert_of(r))),
                (HISTORY, Event::History(alert_of(r))),
                (LIVE, Event::Live(alert_of(r))),
            ] {
                let want = ev(event).encode_to_vec();
                assert_eq!(
                    encode::one(tag, r).as_ref(),
                    want.as_slice(),
                    "seq {}",
                    r.seq
                );
            }
        }
        let want = ev(Event::Batch(Batch {
            alerts: rows.iter().map(alert_of).collect(),
        }))
        .encode_to_vec();
        assert_eq!(encode_batch(rows.iter()).as_ref(), want.as_slice());
        // And a viewer decodes them back to the same alerts.
        let back = WatchEvent::decode(encode_batch(rows.iter())).unwrap();
        let Some(Event::Batch(b)) = back.event else {
            panic!("not a batch: {back:?}")
        };
        assert_eq!(b.alerts, rows.iter().map(alert_of).collect::<Vec<_>>());
    }

    #[test]
    fn a_reset_misses_what_the_snapshot_does_not_carry() {
        // After seq 2, the sink's next is 11: seqs 3..=10. The snapshot
        // carries 8..=10 in its history and key 5's latest alert apart
        // (older than the history); key 9's latest is also in the history.
        let snapshot = vec![
            Item::Begin(SnapshotBegin::default()),
            Item::Latest(record(1, true, "", None)),
            Item::Latest(record(5, true, "", None)),
            Item::Latest(record(9, true, "", None)),
            Item::History(record(8, true, "", None)),
            Item::History(record(9, true, "", None)),
            Item::History(record(10, true, "", None)),
            Item::End,
        ];
        assert_eq!(lost_on_reset(&snapshot, 2, 11), 4);
        // Nothing in the snapshot: all of them.
        assert_eq!(lost_on_reset(&[Item::End], 2, 11), 8);
    }

    #[test]
    fn alerts_told_missed_and_then_lost_to_a_reset_count_once() {
        let stats = Arc::new(WatchStats::default());
        let a = stats
            .join("token".into(), "10.0.0.1:5000".into(), None)
            .unwrap();
        // Told: 5 after seq 10 (11..=15); it resumes after 10, too late:
        // 20 are lost (11..=30), of which 5 were counted.
        a.missed(10, 5);
        drop(a);
        let b = stats
            .join("token".into(), "10.0.0.1:5001".into(), None)
            .unwrap();
        b.lost(10, 20);
        assert_eq!(stats.to_json()["missed"], 20);
        assert_eq!(stats.to_json()["viewers"][0]["missed"], 15);
        // The notice is used up: another reset over the same seqs counts.
        b.lost(10, 20);
        assert_eq!(stats.to_json()["missed"], 40);
        // A notice answered by a resume the sink could honour is settled:
        // a later reset over those seqs (another viewer's) counts them all.
        b.missed(40, 5);
        b.resumed(40);
        b.lost(40, 10);
        assert_eq!(stats.to_json()["missed"], 55);
    }

    /// A sink of `keys` keys (each one alert) whose openings' room holds
    /// one opening and a half, and its Watch service.
    fn sink_with_room_for_one_opening(keys: usize) -> (Arc<Hub>, WatchService, Arc<WatchStats>) {
        // Begin, a latest and a history item per key, End.
        let opening = (2 * keys + 2) * std::mem::size_of::<Item>();
        let limits = crate::model::StoreLimits {
            memory_budget: 4 * (opening + opening / 2),
            ..Default::default()
        };
        let hub = Hub::new(limits, 16);
        for i in 0..keys {
            let alert = crate::model::NewAlert {
                owner: "o".into(),
                repo: format!("r{i}"),
                policy: "p".into(),
                details: String::new(),
                pass: false,
            };
            hub.ingest(&alert, None, None).unwrap();
        }
        let policy = Arc::new(Policy {
            token: None,
            oidc: None,
            tokeninfo: None,
            signature: None,
            combine: Default::default(),
        });
        let (stop, stopping) = tokio::sync::watch::channel(false);
        // The sink never stops in these tests.
        std::mem::forget(stop);
        let stats = Arc::new(WatchStats::default());
        let service =
            WatchService::server(hub.clone(), policy, Access::Open, stats.clone(), stopping);
        (hub, service, stats)
    }

    /// A viewer that takes nothing it is sent for [`VIEWER_STALL`] while
    /// still connected is let go and counted `write_stall` (the tokio clock
    /// is paused: the 30 s pass at once, and exactly).
    #[tokio::test(start_paused = true)]
    async fn a_viewer_that_takes_nothing_for_the_stall_time_is_let_go() {
        let (hub, service, stats) = sink_with_room_for_one_opening(100);
        let start = tokio::time::Instant::now();
        // Held, never read: its opening (200 messages) fills the buffer.
        let _stream = service
            .subscribe(Request::new(SubscribeRequest::default()))
            .await
            .unwrap();
        assert_eq!(stats.attached.load(Ordering::Relaxed), 1);
        while stats.attached.load(Ordering::Relaxed) > 0 {
            // Virtual time: lets the runtime's clock move on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(start.elapsed() < 2 * VIEWER_STALL, "never let go");
        }
        let waited = start.elapsed();
        assert!(
            (VIEWER_STALL..VIEWER_STALL + Duration::from_secs(1)).contains(&waited),
            "let go after {waited:?}"
        );
        assert_eq!(hub.refused(crate::hub::Refusal::WriteStall), 1);
    }

    /// A viewer refused for the openings' room makes room for its retry:
    /// the viewer taking its opening slowest (here: nothing, for longer
    /// than the grace) is let go, long before the 30 s stall rule would.
    /// (Before, never-reading viewers held the room 30 s at a time, and
    /// slow readers for ever.)
    #[tokio::test(start_paused = true)]
    async fn a_slow_opening_gives_way_to_a_viewer_refused_for_room() {
        let (hub, service, stats) = sink_with_room_for_one_opening(100);
        let start = tokio::time::Instant::now();
        let _slow = service
            .subscribe(Request::new(SubscribeRequest::default()))
            .await
            .unwrap();
        // Within its grace, a slow opening keeps its room.
        let refused = service
            .subscribe(Request::new(SubscribeRequest::default()))
            .await
            .err()
            .expect("no room for a second opening");
        assert_eq!(
            refused.code(),
            tonic::Code::ResourceExhausted,
            "{refused:?}"
        );
        tokio::time::sleep(OPENING_GRACE / 2).await;
        assert_eq!(
            stats.attached.load(Ordering::Relaxed),
            1,
            "let go in its grace"
        );
        tokio::time::sleep(OPENING_GRACE).await;
        // Past it: the refusal lets the slow one go.
        let refused = service
            .subscribe(Request::new(SubscribeRequest::default()))
            .await
            .err()
            .expect("still no room while the slow one leaves");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        while stats.attached.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(start.elapsed() < VIEWER_STALL, "{:?}", start.elapsed());
        assert_eq!(hub.refused(crate::hub::Refusal::WriteStall), 1);
        // The retry gets in.
        let _retry = service
            .subscribe(Request::new(SubscribeRequest::default()))
            .await
            .unwrap();
        assert_eq!(stats.attached.load(Ordering::Relaxed), 1);
    }

    /// At the cap, a viewer from an address holding two fewer than the
    /// most crowded one takes the place of that address's newest viewer,
    /// which is asked to leave; the crowded address cannot take it back.
    /// (With a cap and no eviction, 8 addresses of 8 viewers held every
    /// place for ever.)
    #[test]
    fn at_the_cap_a_viewer_from_a_less_crowded_address_takes_a_place() {
        let stats = Arc::new(WatchStats::default());
        let ip = |i: u8| Some(std::net::IpAddr::from([10, 0, 0, i]));
        let mut held = Vec::new();
        for a in 0..8 {
            for _ in 0..MAX_VIEWERS_PER_PEER {
                held.push(stats.join("x".into(), "p".into(), ip(a)).unwrap());
            }
        }
        assert_eq!(held.len(), MAX_VIEWERS);
        let asked = |stats: &WatchStats| {
            stats
                .lock()
                .values()
                .filter(|v| v.leave.asked())
                .map(|v| v.ip)
                .collect::<Vec<_>>()
        };
        let newcomer = stats.join("legit".into(), "10.0.0.9:1".into(), ip(9));
        assert!(newcomer.is_ok());
        let gone = asked(&stats);
        assert_eq!(gone.len(), 1);
        let (kind, why) = stats
            .lock()
            .values()
            .find_map(|v| v.leave.why.get().cloned())
            .unwrap();
        assert_eq!(kind, crate::hub::Refusal::TooManyViewers);
        assert!(why.contains("10.0.0.9:1 waited"), "{why}");
        // The address that gave a place cannot take it back (7 against 8).
        let back = stats.join("x".into(), "p".into(), gone[0]);
        assert!(back.err().unwrap().contains("64 viewers are attached"));
        // A full address cannot make room for itself either.
        assert!(stats.join("x".into(), "p".into(), ip(1)).is_err());
        // Another less crowded address can.
        assert!(stats.join("legit".into(), "p".into(), ip(10)).is_ok());
        assert_eq!(asked(&stats).len(), 2);
    }

    #[test]
    fn viewers_are_listed_while_attached_with_what_they_missed() {
        let stats = Arc::new(WatchStats::default());
        assert_eq!(stats.summary(false), None);
        let a = stats
            .join("alice@example.com".into(), "10.0.0.1:5000".into(), None)
            .unwrap();
        let b = stats
            .join("token".into(), "10.0.0.2:5000".into(), None)
            .unwrap();
        b.missed(0, 7);
        assert_eq!(
            stats.summary(false).as_deref(),
            Some("2 viewers: alice@example.com, token")
        );
        assert_eq!(stats.summary(true).as_deref(), Some("2 viewers"));
        let json = stats.to_json();
        assert_eq!(json["attached"], 2);
        assert_eq!(json["missed"], 7);
        assert_eq!(json["viewers"][0]["who"], "alice@example.com");
        assert_eq!(json["viewers"][1]["peer"], "10.0.0.2:5000");
        assert_eq!(json["viewers"][1]["missed"], 7);
        drop(a);
        assert_eq!(stats.summary(false).as_deref(), Some("1 viewer: token"));
        drop(b);
        let json = stats.to_json();
        assert_eq!(
            (json["attached"].clone(), json["total"].clone()),
            (0.into(), 2.into())
        );
        assert_eq!(json["viewers"], serde_json::json!([]));
        assert_eq!(stats.summary(false), None);
    }
}
