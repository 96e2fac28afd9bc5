//! `sinkwatch attach`: follows the Watch stream of one or more remote sinks
//! and feeds a local hub, so the TUI runs over them as over its own sink.
//!
//! Each source has its own task: connect, subscribe (resuming after the
//! last seq it received from that source), ingest what arrives, and on any
//! failure reconnect with a capped, jittered back-off. Several sources
//! (replicas behind a load balancer, each receiving part of the calls) feed
//! the same hub, so keys merge and a key's latest status is the one
//! received last by any of the sinks (their clocks are trusted), whatever
//! order the streams deliver them in (`Hub::ingest_by_time`). A `Missed` notice (this viewer fell behind on the remote
//! sink) is answered by resubscribing after the last seq received: the sink
//! replays the gap while it still holds it. When it cannot (`Reset`), the
//! fresh snapshot is ingested from the last receive time seen, counted as a
//! reset in the source's status. A refusal of the viewer's credentials
//! is final: that source stops, and `attach` exits 1 once every source has
//! refused it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prost::Message;
use prost::bytes::{Buf, Bytes};
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use tonic::GrpcMethod;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::service::interceptor::InterceptedService;

use crate::grpc::diagnose::{self, Stage};
use crate::grpc::{Auth, Target};
use crate::hub::Hub;
use crate::model::NewAlert;
use crate::proto::watch::watch_event::Event;
use crate::proto::watch::{Alert, SubscribeRequest, WatchEvent};
use crate::record::Sourced;

mod status;
use status::Printer;
pub use status::{
    Epochs, GIVEN_TWICE, PrinterPace, PrinterQueue, SourceState, SourceStatus, StateNews,
    status_line, status_short,
};

/// The back-off between reconnects: doubled per failure, up to the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long a subscription may wait for the sink's answer (the TCP and
/// TLS connection, then the stream's headers, which a sink sends before
/// its snapshot). Short in unit tests, which wait it out.
const OPEN_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    // The connection (5 s at most) and a sink checking a credential with
    // its issuer (10 s at most) fit in it.
    Duration::from_secs(20)
};
/// A stream open this long counts as progress (the back-off starts
/// afresh), whatever it brought.
const STABLE: Duration = Duration::from_secs(10);
/// Largest Watch message accepted (a snapshot entry carries one alert).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

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

/// What a viewer keeps between alerts so that ingesting one allocates
/// nothing of its own: the parsed peer, the alert being decoded and the
/// one handed to the hub (their strings' buffers are reused).
struct Scratch {
    peers: PeerCache,
    alert: Alert,
    new: NewAlert,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            peers: PeerCache::default(),
            alert: Alert::default(),
            new: NewAlert {
                owner: String::new(),
                repo: String::new(),
                policy: String::new(),
                details: String::new(),
                pass: false,
            },
        }
    }
}

impl Scratch {
    /// Ingests `a` (the strings are lent to the hub's alert, then given
    /// back), and hands it to the source's printer, if any, with its seq on
    /// the source.
    fn ingest(&mut self, hub: &Hub, printer: Option<&Printer>, a: &mut Alert) {
        let peer = self.peers.parse(&a.peer);
        let n = &mut self.new;
        std::mem::swap(&mut n.owner, &mut a.owner);
        std::mem::swap(&mut n.repo, &mut a.repo);
        std::mem::swap(&mut n.policy, &mut a.policy);
        std::mem::swap(&mut n.details, &mut a.details);
        n.pass = a.pass;
        let identity = (!a.identity.is_empty()).then_some(a.identity.as_str());
        // The key's status before this alert, as the sink had it (its
        // change): decides the change of a key this viewer holds nothing of.
        use crate::proto::watch::Change as Wire;
        let before = match Wire::try_from(a.change) {
            Ok(Wire::Same) => Some(a.pass),
            Ok(Wire::Regressed) => Some(true),
            Ok(Wire::Fixed) => Some(false),
            Ok(Wire::First | Wire::Unknown) | Err(_) => None,
        };
        // A refusal by the local store (over its bounds) is counted there.
        // By receive time: an alert older than the key's latest (one
        // replica's snapshot arriving after another's newer alert) must not
        // replace it.
        let _ = match printer {
            None => hub.ingest_by_time(n, a.received_ms, peer, identity, before),
            // Under the hub's lock, so the printer gets the alerts of all
            // sources in the viewer's seq order. A printer gone or behind
            // is not waited for (its queue counts what it lost).
            Some(p) => {
                hub.ingest_by_time_then(n, a.received_ms, peer, identity, before, &mut |r| {
                    let sent = p.tx.send(Sourced {
                        record: r.clone(),
                        source: p.source.clone(),
                        source_seq: a.seq,
                    });
                    if sent.is_ok() {
                        p.pace.gave();
                    }
                })
            }
        };
        std::mem::swap(&mut n.owner, &mut a.owner);
        std::mem::swap(&mut n.repo, &mut a.repo);
        std::mem::swap(&mut n.policy, &mut a.policy);
        std::mem::swap(&mut n.details, &mut a.details);
    }
}

/// A Watch message as the viewer decodes it: a batch of live alerts is
/// kept as its bytes and its alerts decoded one at a time into one reused
/// [`Alert`] ([`batch_alerts`]); decoding the whole `Batch` message made
/// six strings per alert, only to free them after the ingest.
enum Incoming {
    /// The `alerts` fields of a `Batch` (the message's only field).
    Batch(Bytes),
    Event(WatchEvent),
}

/// The `batch` field of `WatchEvent` (see watch.proto).
const BATCH_FIELD: u32 = 8;

impl Incoming {
    fn decode(mut bytes: Bytes) -> Result<Incoming, prost::DecodeError> {
        // The one field of a batch, spanning the whole message: kept.
        // Anything else (or a batch among other fields) decodes in full.
        let mut peek = &bytes[..];
        if let Ok((BATCH_FIELD, WireType::LengthDelimited)) = decode_key(&mut peek)
            && let Ok(len) = decode_varint(&mut peek)
            && len == peek.len() as u64
        {
            let body = bytes.split_off(bytes.len() - peek.len());
            return Ok(Incoming::Batch(body));
        }
        WatchEvent::decode(bytes).map(Incoming::Event)
    }
}

/// Calls `each` with every alert of a batch's fields, decoded into
/// `scratch.alert` in turn (unknown fields skipped, as prost would).
#[cfg(test)]
fn batch_alerts(
    mut body: &[u8],
    scratch: &mut Scratch,
    mut each: impl FnMut(&mut Scratch, &mut Alert),
) -> Result<(), prost::DecodeError> {
    batch_alerts_while(&mut body, scratch, |s, a| {
        each(s, a);
        true
    })
}

/// As `batch_alerts`, until `each` returns false: `body` is then left at
/// the alert after that one.
fn batch_alerts_while(
    body: &mut &[u8],
    scratch: &mut Scratch,
    mut each: impl FnMut(&mut Scratch, &mut Alert) -> bool,
) -> Result<(), prost::DecodeError> {
    let mut alert = std::mem::take(&mut scratch.alert);
    let result = (|| {
        while !body.is_empty() {
            let (tag, wire) = decode_key(body)?;
            if tag != 1 || wire != WireType::LengthDelimited {
                skip_field(wire, tag, body, DecodeContext::default())?;
                continue;
            }
            alert.clear();
            prost::encoding::message::merge(wire, &mut alert, body, DecodeContext::default())?;
            if !each(scratch, &mut alert) {
                break;
            }
        }
        Ok(())
    })();
    scratch.alert = alert;
    result
}

/// The Watch call's codec on the viewer's side: the request as prost
/// encodes it, messages as [`Incoming`].
#[derive(Clone, Copy, Default)]
struct ViewerCodec;

impl Codec for ViewerCodec {
    type Encode = SubscribeRequest;
    type Decode = Incoming;
    type Encoder = ViewerCodec;
    type Decoder = ViewerCodec;

    fn encoder(&mut self) -> ViewerCodec {
        ViewerCodec
    }

    fn decoder(&mut self) -> ViewerCodec {
        ViewerCodec
    }
}

impl Encoder for ViewerCodec {
    type Item = SubscribeRequest;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: SubscribeRequest,
        buf: &mut EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        item.encode(buf)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for ViewerCodec {
    type Item = Incoming;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Incoming>, Self::Error> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        Incoming::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("a malformed Watch message: {e}")))
    }
}

/// How one subscription ended.
enum End {
    /// The stream failed or closed: reconnect after the back-off.
    Failed(String),
    /// The viewer fell behind: resubscribe, resuming (at once when the
    /// stream brought live alerts, see [`follow`]).
    Resume,
    /// The sink refused this viewer's credentials: retrying cannot help.
    Refused(String),
}

/// A failed call: a refusal of the credentials is final, and so is the
/// sink's TLS alert that it requires a client certificate when none was
/// given; anything else (unavailable, deadline, a sink restarting) is
/// worth retrying. A transport failure is told as `send` tells it.
fn ended(target: &Target, s: &tonic::Status, stage: Stage) -> End {
    use std::error::Error;
    match s.code() {
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
            return End::Refused(crate::grpc::describe_status(s));
        }
        // The request itself (its filter: a sink of other bounds than
        // this viewer's) was refused: asking again cannot help.
        tonic::Code::InvalidArgument => {
            return End::Refused(crate::grpc::describe_status(s));
        }
        _ => {}
    }
    match diagnose::transport_failure(target, s, stage) {
        Some(why) if diagnose::client_certificate_required(target, s.source()) => End::Refused(why),
        Some(why) => End::Failed(why),
        None => End::Failed(crate::grpc::describe_status(s)),
    }
}

/// Where a source's stream got to: the last seq and receive time ingested
/// from it, and the epoch of those seqs (the snapshot's), to resume in.
#[derive(Default)]
struct Position {
    last: Option<u64>,
    last_ms: u64,
    epoch: String,
    /// When the last subscription was answered (its stream open).
    opened: Option<std::time::Instant>,
    /// A stream that had opened was lost since the last one opened: the
    /// next that opens is a reconnect. Attempts are not counted: a sink
    /// down for a minute was "5 reconnects" (a user's review).
    lost: bool,
}

/// What a viewer holds when a Reset comes: after it, only what is newer
/// is taken from the fresh snapshot (its seqs, of a new epoch, cannot
/// tell). At 10,000 alerts a second a millisecond holds several, so the
/// alerts of the newest one are told apart by key and status, read from
/// the viewer's own store when the Reset comes (nothing is added to the
/// live path). Comparing times alone dropped the others of that
/// millisecond (a user's review: 2 to 4 per reset, `"missed":0`).
#[derive(Default)]
struct Held {
    ms: u64,
    at_ms: Vec<u64>,
}

impl Held {
    /// From the newest events of `store` (up to a bound: a sink whose clock
    /// stood still would make them many; past it, an alert may be shown
    /// again rather than lost).
    fn of(store: &crate::model::Store, ms: u64) -> Held {
        let at_ms = store
            .history()
            .iter()
            .rev()
            .take(MAX_SAME_MS)
            .filter(|e| e.at_ms == ms)
            .map(|e| {
                let (o, r, p) = store.key_names(e.key);
                fingerprint(o, r, p, e.pass)
            })
            .collect();
        Held { ms, at_ms }
    }

    /// Whether `a` is older than what is held, or is held itself: an alert
    /// of the newest millisecond that is not held is new.
    fn has(&self, a: &Alert) -> bool {
        a.received_ms < self.ms
            || (a.received_ms == self.ms
                && self
                    .at_ms
                    .contains(&fingerprint(&a.owner, &a.repo, &a.policy, a.pass)))
    }
}

/// Newest events looked through for those of the newest millisecond.
const MAX_SAME_MS: usize = 4096;

/// The history a headless viewer (`attach --no-tui`) keeps: the newest
/// events a Reset looks through ([`Held::of`]), nothing more, as nothing
/// else reads it (lines are printed as alerts arrive). With the TUI's
/// 250,000 a headless viewer held ~30 MB it never read, and zeroing the
/// pages as that grew was a fifth of its CPU under load (`perf`).
pub const HEADLESS_HISTORY: usize = MAX_SAME_MS;

/// Key and status: what tells apart alerts of one millisecond here (two of
/// one key with one status in one millisecond are the same news).
fn fingerprint(owner: &str, repo: &str, policy: &str, pass: bool) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (owner, repo, policy, pass).hash(&mut h);
    h.finish()
}

/// Connects and subscribes, up to the sink's answer (its headers): the
/// stream of events, or how it ended.
async fn open(
    target: &Target,
    filter: &str,
    last: Option<u64>,
    epoch: String,
) -> Result<tonic::Streaming<Incoming>, End> {
    let channel = match target.endpoint() {
        Ok(ep) => match ep.connect().await {
            Ok(c) => c,
            Err(e) if diagnose::client_certificate_required(target, Some(&e)) => {
                return Err(End::Refused(diagnose::connect_failure(target, &e)));
            }
            Err(e) => return Err(End::Failed(diagnose::connect_failure(target, &e))),
        },
        Err(e) => return Err(End::Failed(e)),
    };
    let auth = match Auth::bearer(target.token.as_deref()) {
        Ok(a) => a,
        Err(e) => return Err(End::Failed(e)),
    };
    // The generated client's call, with the viewer's codec.
    let mut client = tonic::client::Grpc::new(InterceptedService::new(channel, auth))
        .max_decoding_message_size(MAX_MESSAGE);
    if let Err(e) = client.ready().await {
        return Err(End::Failed(format!("the connection is not ready: {e}")));
    }
    let mut request = tonic::Request::new(SubscribeRequest {
        resume_after: last,
        filter: filter.to_owned(),
        batch: true,
        epoch,
    });
    request
        .extensions_mut()
        .insert(GrpcMethod::new("sinkwatch.v1.Watch", "Subscribe"));
    let path = PathAndQuery::from_static("/sinkwatch.v1.Watch/Subscribe");
    match client.server_streaming(request, path, ViewerCodec).await {
        Ok(r) => Ok(r.into_inner()),
        Err(s) => Err(ended(target, &s, Stage::FirstCall)),
    }
}

/// One subscription: `at` advances as alerts are ingested.
async fn subscribe_once(
    target: &Target,
    filter: &str,
    hub: &Hub,
    status: &SourceStatus,
    at: &mut Position,
) -> End {
    let Position {
        last,
        last_ms,
        epoch,
        opened,
        lost,
    } = at;
    let opening = open(target, filter, *last, epoch.clone());
    let mut stream = match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(end)) => return end,
        // A peer that takes the connection and never answers (not a sink,
        // or a proxy holding it) left the source `connecting` for ever.
        Err(_) => {
            return End::Failed(format!(
                "no answer to the subscription within {}s — check that {} is a sinkwatch \
                 sink (gRPC over HTTP/2) and that nothing on the way holds the connection",
                OPEN_TIMEOUT.as_secs_f64(),
                target.url
            ));
        }
    };
    *opened = Some(std::time::Instant::now());
    if std::mem::take(lost) {
        status.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    status.set(if last.is_some() {
        SourceState::Live
    } else {
        SourceState::Snapshot
    });
    // The snapshot is gathered, then ingested oldest first: keys whose
    // latest alert is older than the history window first, then history.
    let mut latest = Vec::new();
    let mut history = Vec::new();
    // After a Reset: what this viewer held (None: take the whole snapshot).
    let mut after: Option<Held> = None;
    let mut scratch = Scratch::default();
    loop {
        let_printer_catch_up(status).await;
        let event = match stream.message().await {
            Ok(Some(Incoming::Event(m))) => m.event,
            Ok(Some(Incoming::Batch(body))) => {
                // A batch may hold more than the printer has room for:
                // ingested a part at a time, as the printer takes them.
                let mut rest = &body[..];
                loop {
                    // The printer's lock once per part, not per alert.
                    let ingested = {
                        let printer = status.printer();
                        let pace = printer.as_ref().map(|p| &p.pace);
                        let mut n = 0u32;
                        batch_alerts_while(&mut rest, &mut scratch, |scratch, a| {
                            live_one(hub, scratch, printer.as_ref(), status, last, last_ms, a);
                            // Looked at every few alerts (it reads the
                            // writer's counters): at most that many past
                            // half of a queue of 64 or more.
                            n += 1;
                            n % PACE_EVERY != 0 || pace.is_none_or(|p| !p.over_half())
                        })
                    };
                    if let Err(e) = ingested {
                        return End::Failed(format!("a malformed batch from the sink: {e}"));
                    }
                    if rest.is_empty() {
                        break;
                    }
                    let_printer_catch_up(status).await;
                }
                continue;
            }
            Ok(None) => return End::Failed("the sink closed the stream".into()),
            Err(s) => return ended(target, &s, Stage::LaterCall),
        };
        match event {
            Some(Event::Reset(r)) => {
                let why = crate::sanitize::line(&r.reason).into_owned();
                tracing::warn!("{}: {why}", status.url);
                *status.last_reset.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                status.resets.fetch_add(1, Ordering::Relaxed);
                // Only what is newer than what this viewer holds.
                after = Some(hub.read(|s| Held::of(s, *last_ms)));
            }
            Some(Event::SnapshotBegin(b)) => {
                if !b.epoch.is_empty()
                    && let Err(other) = status.claim(&b.epoch)
                {
                    // Final, like a refusal: following it would count every
                    // alert of that sink twice.
                    return End::Refused(format!(
                        "{GIVEN_TWICE} {other} (its history {}): given twice, followed once",
                        crate::sanitize::line(&b.epoch)
                    ));
                }
                // Another history than the one followed so far: the sink
                // restarted without durable state, or after an unclean
                // stop (a kill -9 even with --state: it cannot know it
                // kept every seq it gave out). What this viewer holds of
                // the old one stays on screen, and the bar says so.
                if !epoch.is_empty() && !b.epoch.is_empty() && *epoch != b.epoch {
                    status.restarts.fetch_add(1, Ordering::Relaxed);
                }
                *epoch = b.epoch;
                status.set(SourceState::Snapshot);
                latest.clear();
                history.clear();
            }
            Some(Event::Latest(a)) => latest.push(a),
            Some(Event::History(a)) => history.push(a),
            Some(Event::SnapshotEnd(_)) => {
                let first_history = history.first().map_or(u64::MAX, |a| a.seq);
                latest.retain(|a| a.seq < first_history);
                latest.sort_by_key(|a| a.seq);
                for mut a in latest.drain(..).chain(history.drain(..)) {
                    // A snapshot holds every key: far more than a printer's
                    // queue (a review), so it is paced as live batches are.
                    let_printer_catch_up(status).await;
                    *last = Some(a.seq);
                    let held = after.as_ref().is_some_and(|h| h.ms > 0 && h.has(&a));
                    *last_ms = (*last_ms).max(a.received_ms);
                    if !held {
                        scratch.ingest(hub, status.printer().as_ref(), &mut a);
                        status.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // The snapshot moved the resume point (after a Reset, maybe
                // back): the sources line shows where this viewer is.
                if let Some(seq) = *last {
                    status.last_seq.store(seq, Ordering::Relaxed);
                }
                status.set(SourceState::Live);
            }
            Some(Event::Live(a)) => live(hub, &mut scratch, status, last, last_ms, [a]),
            Some(Event::Batch(b)) => live(hub, &mut scratch, status, last, last_ms, b.alerts),
            Some(Event::Forwarding(f)) => status.forwarding(&f),
            Some(Event::Missed(m)) => {
                status.add_missed(m.count);
                *last = Some(m.after_seq);
                return End::Resume;
            }
            None => {}
        }
    }
}

/// Live alerts from this source, in its order.
fn live(
    hub: &Hub,
    scratch: &mut Scratch,
    status: &SourceStatus,
    last: &mut Option<u64>,
    last_ms: &mut u64,
    alerts: impl IntoIterator<Item = Alert>,
) {
    let printer = status.printer();
    for mut a in alerts {
        live_one(
            hub,
            scratch,
            printer.as_ref(),
            status,
            last,
            last_ms,
            &mut a,
        );
    }
}

/// One of them: counted, merged into the viewer's store, printed.
fn live_one(
    hub: &Hub,
    scratch: &mut Scratch,
    printer: Option<&Printer>,
    status: &SourceStatus,
    last: &mut Option<u64>,
    last_ms: &mut u64,
    a: &mut Alert,
) {
    status.received.fetch_add(1, Ordering::Relaxed);
    status.live.fetch_add(1, Ordering::Relaxed);
    status.last_seq.store(a.seq, Ordering::Relaxed);
    *last = Some(a.seq);
    *last_ms = (*last_ms).max(a.received_ms);
    scratch.ingest(hub, printer, a);
}

/// A batch's alerts between two looks at the printer's pace.
const PACE_EVERY: u32 = 16;

/// How soon a source whose printer is behind looks again, and how far that
/// backs off while it stays behind (a stdout paused for minutes, in
/// `less`, costs a wakeup every 50 ms, not 500 a second).
const PRINTER_POLL: Duration = Duration::from_millis(1);
const PRINTER_POLL_MAX: Duration = Duration::from_millis(50);

/// Before a source gives its printer more: waits while the printer is
/// behind (see [`PrinterPace`]); at once without a printer (the TUI).
async fn let_printer_catch_up(status: &SourceStatus) {
    let pace = match status.printer().as_ref() {
        Some(p) if p.pace.over_half() => p.pace.clone(),
        _ => return,
    };
    let mut poll = PRINTER_POLL;
    while !pace.caught_up() {
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(PRINTER_POLL_MAX);
    }
}

/// Whether a subscription made progress (the back-off starts afresh): it
/// brought live alerts (`live` went from `before` to `now_live`), or its
/// stream stayed open [`STABLE`] (an idle sink that then restarted).
fn made_progress(before: u64, now_live: u64, opened: Option<Instant>, now: Instant) -> bool {
    now_live > before || opened.is_some_and(|t| now.saturating_duration_since(t) >= STABLE)
}

/// The next wait of a back-off (jittered to half or all of it), and the
/// back-off doubled for the time after (up to [`BACKOFF_MAX`]).
fn next_wait(backoff: &mut Duration) -> Duration {
    let wait = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    wait
}

/// Follows one remote sink until the hub closes (the viewer quits), or
/// until the sink refuses this viewer's credentials (UNAUTHENTICATED or
/// PERMISSION_DENIED): then the source's state is `refused: <why>` and the
/// reason is returned. Every other failure is retried with back-off.
pub async fn follow(target: Target, hub: Arc<Hub>, status: Arc<SourceStatus>) -> Option<String> {
    follow_filtered(target, "", hub, status).await
}

/// As [`follow`], taking only the alerts that match `filter` (the filter
/// language; empty: all). The sink applies it, so the rest never cross
/// the network; a sink that refuses it (`INVALID_ARGUMENT`) is not
/// retried, like a refusal of credentials.
pub async fn follow_filtered(
    target: Target,
    filter: &str,
    hub: Arc<Hub>,
    status: Arc<SourceStatus>,
) -> Option<String> {
    let mut at = Position::default();
    let mut backoff = BACKOFF_FIRST;
    while !hub.is_closed() {
        // Progress is live alerts: a stream that ends after its opening
        // (a sink that answers every resume with a Reset, a snapshot of
        // one alert and a gap; one that fails right after its snapshot)
        // brought no live alert, and waits like a failure, so that it
        // cannot spin this viewer (a hostile review saw ~130 resumes a
        // second when a snapshot's alert counted).
        // So is a stream that stayed open a while: a sink that was idle,
        // then restarted, is retried from the first back-off (a review saw
        // `retry in 6.7s` after a day without alerts).
        let live = status.live.load(Ordering::Relaxed);
        at.opened = None;
        let result = subscribe_once(&target, filter, &hub, &status, &mut at).await;
        // A stream that opened and ended, whatever ended it: the next to
        // open is a reconnect (failed attempts in between are not).
        if at.opened.is_some() {
            at.lost = true;
        }
        let opened = at.opened;
        let progressed = |status: &SourceStatus| {
            made_progress(
                live,
                status.live.load(Ordering::Relaxed),
                opened,
                Instant::now(),
            )
        };
        match result {
            End::Resume if progressed(&status) => {
                backoff = BACKOFF_FIRST;
                continue;
            }
            End::Resume => {
                tokio::time::sleep(next_wait(&mut backoff)).await;
            }
            End::Refused(why) => {
                let why = crate::sanitize::line(&why).into_owned();
                status.set(SourceState::Refused(why.clone()));
                tracing::warn!("{}: refused: {why}", status.url);
                return Some(why);
            }
            End::Failed(why) => {
                if progressed(&status) {
                    // It was up and delivered: start the back-off afresh.
                    backoff = BACKOFF_FIRST;
                }
                let wait = next_wait(&mut backoff);
                status.set(SourceState::Down {
                    why: crate::sanitize::line(&why).into_owned(),
                    retry_in: wait,
                });
                tracing::info!("{}: {why}", status.url);
                tokio::time::sleep(wait).await;
                status.set(SourceState::Connecting);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::watch::{Batch, Missed};

    fn alert(seq: u64, details: &str, identity: &str) -> Alert {
        Alert {
            seq,
            received_ms: 1_700_000_000_000 + seq,
            owner: format!("org-{}", seq % 3),
            repo: format!("repo-{seq}"),
            policy: "Security Policy".into(),
            pass: details.is_empty(),
            details: details.into(),
            peer: if seq % 2 == 0 {
                "10.0.0.1:5000".into()
            } else {
                String::new()
            },
            identity: identity.into(),
            // Every value of the enum, unknown ones too.
            change: (seq % 6) as i32,
        }
    }

    fn batch_of(alerts: &[Alert]) -> Bytes {
        let e = WatchEvent {
            event: Some(Event::Batch(Batch {
                alerts: alerts.to_vec(),
            })),
        };
        Bytes::from(e.encode_to_vec())
    }

    #[test]
    fn a_batch_is_decoded_alert_by_alert_into_the_same_alerts() {
        let alerts = vec![
            alert(1, "Security policy not enabled.\n", "spiffe://x/y"),
            alert(2, "", ""),
            alert(3, &"long text ".repeat(5_000), ""),
            alert(4, "", "alice@example.com"),
        ];
        let Ok(Incoming::Batch(body)) = Incoming::decode(batch_of(&alerts)) else {
            panic!("a batch is kept as its bytes")
        };
        let mut seen = Vec::new();
        let mut scratch = Scratch::default();
        batch_alerts(&body, &mut scratch, |_, a| seen.push(a.clone())).unwrap();
        // A field left over from the alert before would show here.
        assert_eq!(seen, alerts);

        // Any other message decodes in full.
        let missed = WatchEvent {
            event: Some(Event::Missed(Missed {
                count: 3,
                after_seq: 9,
            })),
        };
        match Incoming::decode(Bytes::from(missed.encode_to_vec())) {
            Ok(Incoming::Event(e)) => assert_eq!(e, missed),
            _ => panic!("not decoded as an event"),
        }
        // An empty batch is a batch of nothing.
        let Ok(Incoming::Batch(empty)) = Incoming::decode(batch_of(&[])) else {
            panic!("an empty batch")
        };
        batch_alerts(&empty, &mut scratch, |_, _| panic!("no alert")).unwrap();
    }

    #[test]
    fn a_truncated_or_garbled_batch_is_an_error_not_a_panic() {
        let whole = batch_of(&[alert(1, "x", ""), alert(2, "y", "")]);
        let Ok(Incoming::Batch(body)) = Incoming::decode(whole.clone()) else {
            panic!("a batch")
        };
        let mut scratch = Scratch::default();
        for cut in 1..body.len() {
            let _ = batch_alerts(&body[..cut], &mut scratch, |_, _| {});
        }
        assert!(batch_alerts(&body[..body.len() - 1], &mut scratch, |_, _| {}).is_err());
        assert!(batch_alerts(&[0x0a, 0xff], &mut scratch, |_, _| {}).is_err());
        // A message cut short is not taken for a batch.
        assert!(Incoming::decode(whole.slice(..whole.len() - 1)).is_err());
    }

    #[test]
    fn a_batch_is_taken_a_part_at_a_time_when_asked_to_stop() {
        let alerts: Vec<Alert> = (1..=5).map(|n| alert(n, "", "")).collect();
        let Ok(Incoming::Batch(body)) = Incoming::decode(batch_of(&alerts)) else {
            panic!("a batch")
        };
        let mut scratch = Scratch::default();
        let mut rest = &body[..];
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let mut part = Vec::new();
            batch_alerts_while(&mut rest, &mut scratch, |_, a| {
                part.push(a.seq);
                part.len() < 2
            })
            .unwrap();
            parts.push(part);
        }
        assert_eq!(parts, [vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn ingesting_lends_the_strings_to_the_hub_and_takes_them_back() {
        let hub = Hub::new(crate::model::StoreLimits::default(), 16);
        let (_, mut rx) = hub.subscribe();
        let mut scratch = Scratch::default();
        let mut a = alert(2, "Branch protection missing.", "alice@example.com");
        let before = a.clone();
        scratch.ingest(&hub, None, &mut a);
        assert_eq!(a, before);
        let r = rx.try_recv().unwrap();
        assert_eq!(
            (
                &*r.owner,
                &*r.repo,
                &*r.policy,
                &*r.details,
                r.pass,
                r.at_ms
            ),
            (
                "org-2",
                "repo-2",
                "Security Policy",
                "Branch protection missing.",
                false,
                before.received_ms
            )
        );
        let peer = r.peer.as_ref().unwrap();
        assert_eq!(peer.label, "10.0.0.1:5000");
        assert_eq!(peer.identity.as_deref(), Some("alice@example.com"));
    }

    /// After a Reset, the fresh snapshot's alerts of the viewer's newest
    /// millisecond are taken unless the viewer holds them. Comparing times
    /// alone dropped them (a user's review: 2 to 4 alerts lost per reset at
    /// 10,000 alerts a second, `"missed":0`).
    #[test]
    fn a_reset_keeps_the_alerts_of_the_last_millisecond_it_did_not_hold() {
        let at = |seq: u64, ms: u64, repo: &str| Alert {
            seq,
            received_ms: ms,
            owner: "o".into(),
            repo: repo.into(),
            policy: "p".into(),
            ..Alert::default()
        };
        // What the viewer holds: its store, a (99), b and c (100).
        let mut store = crate::model::Store::new(crate::model::StoreLimits::default());
        for (ms, repo) in [(99, "a"), (100, "b"), (100, "c")] {
            let alert = crate::model::NewAlert {
                owner: "o".into(),
                repo: repo.into(),
                policy: "p".into(),
                details: "".into(),
                pass: false,
            };
            store.ingest_by_time(&alert, ms, None, None).unwrap();
        }
        let held = Held::of(&store, 100);
        // The snapshot after the Reset (other seqs: a new epoch).
        assert!(held.has(&at(7, 99, "x")), "older");
        assert!(held.has(&at(8, 100, "b")), "held");
        assert!(!held.has(&at(9, 100, "d")), "same ms, not held");
        assert!(!held.has(&at(10, 101, "e")), "newer");
    }

    /// A peer that takes the connection and never answers (not a sink, a
    /// proxy holding it) left the source `connecting` for ever (a review):
    /// now the subscription fails, saying so, and is retried.
    #[tokio::test]
    async fn a_peer_that_never_answers_fails_the_subscription() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                held.push(c);
            }
        });
        let target = Target::plain(format!("http://{addr}"));
        let hub = Hub::new(crate::model::StoreLimits::default(), 16);
        let status = SourceStatus::new(target.url.clone());
        let end = subscribe_once(&target, "", &hub, &status, &mut Position::default()).await;
        let End::Failed(why) = end else {
            panic!("not a failure to retry");
        };
        assert!(
            why.starts_with("no answer to the subscription within"),
            "{why}"
        );
        assert!(why.contains(&target.url), "{why}");
        silent.abort();
    }

    /// Progress is live alerts, or a stream that stayed open a while: an
    /// idle sink that restarts is retried from the first back-off (a
    /// review saw `retry in 6.7s`); a stream that ends at once without
    /// live alerts is not progress (a sink answering every resume so
    /// would spin the viewer).
    #[test]
    fn a_stream_open_a_while_is_progress_a_short_one_is_not() {
        let t = Instant::now();
        assert!(made_progress(5, 6, None, t), "live alerts");
        assert!(made_progress(5, 5, Some(t), t + STABLE), "open long enough");
        assert!(
            !made_progress(5, 5, Some(t), t + STABLE / 2),
            "short, nothing live"
        );
        assert!(!made_progress(5, 5, None, t + STABLE), "never opened");
    }

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
