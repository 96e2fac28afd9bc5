//! The hub: the single owner of the [`Store`].
//!
//! The sink hands every validated alert to [`Hub::ingest`], which stores it,
//! assigns its `seq` and publishes the resolved record to every consumer
//! through one bounded broadcast queue. Publishing never waits: a consumer
//! that falls behind loses the oldest records it has not read and learns how
//! many (`Lagged`), so it can count and show them. Ingest therefore never
//! waits on a terminal, a disk or an upstream.
//!
//! Readers that need more than the stream (the TUI) look at the store under
//! the lock with [`Hub::read`], briefly, and never mutate it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::model::{AlertRecord, NewAlert, Peer, Store, StoreError, StoreLimits};

/// Reads back from the store the records with seqs in `from..to` it still
/// holds, in seq order. A consumer the broadcast skipped records of (it was
/// kept off the CPU longer than its queue lasts) fetches them with this
/// from the history, which holds far more than a queue.
pub type Refetch = Box<dyn Fn(u64, u64) -> Vec<AlertRecord> + Send>;

/// At most this many records are read back under one hold of the hub's
/// lock: ingest waits on a page at most, never on a whole lag.
pub const REFETCH_PAGE: u64 = 4096;

/// What [`read_back`] finds, in seq order.
pub enum ReadBack {
    /// A record the history still holds.
    Found(AlertRecord),
    /// A run of seqs it no longer holds: the first and how many.
    Missing(u64, u64),
}

/// Reads back the records with seqs in `from..to` a page at a time, giving
/// `each` every record the history still holds and every run of seqs it
/// no longer holds, in seq order. Stops at the first error `each` gives.
/// The one read-back of every consumer the broadcast skipped (the
/// writers, each tee's feeder).
pub fn read_back<E>(
    refetch: &Refetch,
    (from, to): (u64, u64),
    mut each: impl FnMut(ReadBack) -> Result<(), E>,
) -> Result<(), E> {
    let mut next = from;
    let mut at = from;
    while at < to {
        let end = (at + REFETCH_PAGE).min(to);
        for r in refetch(at, end) {
            if r.seq > next {
                each(ReadBack::Missing(next, r.seq - next))?;
            }
            next = r.seq + 1;
            each(ReadBack::Found(r))?;
        }
        at = end;
    }
    if next < to {
        each(ReadBack::Missing(next, to - next))?;
    }
    Ok(())
}

/// Default capacity of the consumer queue.
pub const DEFAULT_QUEUE: usize = 65_536;

/// Why the sink refused a request. Counted, never shown, never forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// A required field is empty.
    EmptyField,
    /// A field is longer than its limit.
    FieldTooLong,
    /// A field is not valid UTF-8.
    InvalidUtf8,
    /// The message could not be decoded.
    BadMessage,
    /// A credential that matches no configured method (a wrong static
    /// bearer token, a token of an unknown kind).
    Unauthenticated,
    /// Too many distinct keys, or shutting down.
    Overloaded,
    /// The sender's IP address is over its per-peer rate limit.
    RateLimited,
    /// A connection over the connection limit, closed at once.
    TooManyConnections,
    /// A connection that made no request within the idle timeout, closed.
    IdleTimeout,
    /// A connection whose peer read nothing it was sent for the idle
    /// timeout, closed.
    WriteStall,
    /// A request over the bound on buffered request bytes (per connection,
    /// per peer or in all).
    BufferFull,
    /// A connection over the per-peer connection cap, closed at once.
    TooManyFromPeer,
    /// The message (after decompression) is over the message size limit.
    OverSize,
    /// Compressed with an encoding the sink does not accept, or flagged
    /// compressed without a `grpc-encoding`.
    UnsupportedEncoding,
    /// A required credential is absent.
    AuthMissing,
    /// A credential that cannot be parsed (not a JWT, a bad signature header).
    AuthMalformed,
    /// A signature (of a token or a payload) that does not verify, or made
    /// with an unknown key.
    BadSignature,
    /// A token past its expiry (or not yet valid), or a signed payload
    /// outside the time window.
    Expired,
    /// A token issued for another audience.
    WrongAudience,
    /// A token from another issuer.
    WrongIssuer,
    /// A verified caller that is not on the allow list.
    NotAllowed,
    /// A signed payload seen before.
    Replayed,
    /// The sink cannot check the credential now (the issuer's keys or the
    /// token-info endpoint cannot be reached): answered UNAVAILABLE, which
    /// clients retry.
    AuthUnavailable,
    /// An alert that this sink had already forwarded came back (its
    /// `sinkwatch-hop` header names this instance).
    ForwardLoop,
    /// A remote viewer (Watch) refused because the sink listens beyond
    /// loopback without credentials and was not started with
    /// `--watch-open`.
    WatchClosed,
    /// A remote viewer over the viewer limit (in all, or from one address).
    TooManyViewers,
    /// A TLS handshake the client started and that failed: no client
    /// certificate or one the client CA did not sign (mTLS), plaintext sent
    /// to a TLS port, no protocol in common. A connection closed before it
    /// sent anything (a TCP probe) is not counted; one that stalls is
    /// `idle_timeout`.
    TlsHandshake,
}

impl Refusal {
    pub const ALL: [Refusal; 27] = [
        Refusal::EmptyField,
        Refusal::FieldTooLong,
        Refusal::InvalidUtf8,
        Refusal::BadMessage,
        Refusal::Unauthenticated,
        Refusal::Overloaded,
        Refusal::RateLimited,
        Refusal::TooManyConnections,
        Refusal::IdleTimeout,
        Refusal::WriteStall,
        Refusal::BufferFull,
        Refusal::TooManyFromPeer,
        Refusal::OverSize,
        Refusal::UnsupportedEncoding,
        Refusal::AuthMissing,
        Refusal::AuthMalformed,
        Refusal::BadSignature,
        Refusal::Expired,
        Refusal::WrongAudience,
        Refusal::WrongIssuer,
        Refusal::NotAllowed,
        Refusal::Replayed,
        Refusal::AuthUnavailable,
        Refusal::ForwardLoop,
        Refusal::WatchClosed,
        Refusal::TooManyViewers,
        Refusal::TlsHandshake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::EmptyField => "empty_field",
            Refusal::FieldTooLong => "field_too_long",
            Refusal::InvalidUtf8 => "invalid_utf8",
            Refusal::BadMessage => "bad_message",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Overloaded => "overloaded",
            Refusal::RateLimited => "rate_limited",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::IdleTimeout => "idle_timeout",
            Refusal::WriteStall => "write_stall",
            Refusal::BufferFull => "buffer_full",
            Refusal::TooManyFromPeer => "too_many_from_peer",
            Refusal::OverSize => "over_size",
            Refusal::UnsupportedEncoding => "unsupported_encoding",
            Refusal::AuthMissing => "auth_missing",
            Refusal::AuthMalformed => "auth_malformed",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::NotAllowed => "not_allowed",
            Refusal::Replayed => "replayed",
            Refusal::AuthUnavailable => "auth_unavailable",
            Refusal::ForwardLoop => "forward_loop",
            Refusal::WatchClosed => "watch_closed",
            Refusal::TooManyViewers => "too_many_viewers",
            Refusal::TlsHandshake => "tls_handshake",
        }
    }
}

/// One recent refusal, as the TUI lists it: when, from whom and why (the
/// reason, and the status message naming the field). Never any content of
/// the refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalRecord {
    pub at_ms: u64,
    pub reason: Refusal,
    pub peer: Option<std::net::SocketAddr>,
    /// What the sender was told, e.g. `owner_name is empty; it is required`
    /// (cut to [`REFUSAL_DETAIL_BYTES`]).
    pub detail: Option<Box<str>>,
}

/// Recent refusals kept for the TUI (older ones are only counted).
pub const RECENT_REFUSALS: usize = 200;
/// The longest refusal detail kept.
pub const REFUSAL_DETAIL_BYTES: usize = 200;

/// Why the hub did not accept an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    Store(StoreError),
    Closed,
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Store(e) => e.fmt(f),
            IngestError::Closed => f.write_str("sinkwatch is shutting down"),
        }
    }
}

impl std::error::Error for IngestError {}

struct Inner {
    store: Store,
    tx: Option<broadcast::Sender<Arc<AlertRecord>>>,
}

/// The single owner of the Store; see the module docs.
pub struct Hub {
    inner: Mutex<Inner>,
    refused: [AtomicU64; Refusal::ALL.len()],
    /// The last [`RECENT_REFUSALS`] refusals, oldest first. Its own lock:
    /// refusing never waits on the store.
    recent_refusals: Mutex<std::collections::VecDeque<RefusalRecord>>,
    /// Connections the sink has open right now (kept by `sink::conn`).
    open_connections: AtomicU64,
    /// This sink's id in forwarding hop headers (random per hub).
    instance: String,
    /// The run of seqs this hub's store continues (src/state/epoch.rs):
    /// viewers resume only within it.
    epoch: String,
}

/// A random 64-bit id in hex: a hub's instance (hop headers) and a new
/// seq epoch (src/state/epoch.rs).
pub fn random_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The metadata key naming the sinks an alert was forwarded through.
pub const HOP_HEADER: &str = "sinkwatch-hop";
/// Hops beyond which an alert is refused as a loop even if this sink is not
/// among them (a cycle through sinks that do not all mark it).
pub const MAX_HOPS: usize = 16;

impl Hub {
    pub fn new(limits: StoreLimits, queue: usize) -> Arc<Hub> {
        Hub::with_store(Store::new(limits), queue)
    }

    /// A hub over a store that already holds alerts (restored from durable
    /// state): `seq` continues from the store's next one.
    pub fn with_store(store: Store, queue: usize) -> Arc<Hub> {
        Hub::with_store_in_epoch(store, random_id(), queue)
    }

    /// [`Hub::with_store`] for a store whose seqs continue a known run
    /// (`epoch`, kept by durable state across clean restarts).
    pub fn with_store_in_epoch(store: Store, epoch: String, queue: usize) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(queue.max(1));
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                store,
                tx: Some(tx),
            }),
            refused: Default::default(),
            recent_refusals: Mutex::default(),
            open_connections: AtomicU64::new(0),
            instance: random_id(),
            epoch,
        })
    }

    /// The run of seqs viewers may resume in.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// This sink's id in forwarding hop headers.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in the pure store;
        // keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores an alert and publishes it. Returns once the store holds it.
    pub fn ingest(
        &self,
        alert: &NewAlert,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
    ) -> Result<Arc<AlertRecord>, IngestError> {
        self.ingest_at(alert, now_ms(), peer_addr, peer_identity)
    }

    /// As [`Hub::ingest`] with an explicit receive time (recordings).
    pub fn ingest_at(
        &self,
        alert: &NewAlert,
        at_ms: u64,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
    ) -> Result<Arc<AlertRecord>, IngestError> {
        self.ingest_via(alert, at_ms, peer_addr, peer_identity, None)
    }

    /// As [`Hub::ingest_at`] for alerts merged from several sources (a
    /// viewer over replicas): the key's latest status follows receive time
    /// ([`Store::ingest_by_time`]). `before`: the key's status before the
    /// alert as its source knew it (see there).
    pub fn ingest_by_time(
        &self,
        alert: &NewAlert,
        at_ms: u64,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
        before: Option<bool>,
    ) -> Result<Arc<AlertRecord>, IngestError> {
        let then = &mut |_: &Arc<AlertRecord>| {};
        self.ingest_by_time_then(alert, at_ms, peer_addr, peer_identity, before, then)
    }

    /// As [`Hub::ingest_by_time`], calling `then` with the record under the
    /// hub's lock, before any consumer sees it: what `then` sends on (a
    /// viewer's printer) goes in seq order too. Keep it short.
    pub fn ingest_by_time_then(
        &self,
        alert: &NewAlert,
        at_ms: u64,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
        before: Option<bool>,
        then: &mut dyn FnMut(&Arc<AlertRecord>),
    ) -> Result<Arc<AlertRecord>, IngestError> {
        self.ingest_with(
            alert,
            at_ms,
            peer_addr,
            peer_identity,
            None,
            Some(before),
            then,
        )
    }

    /// As [`Hub::ingest_at`] for an alert that came through the forwarding
    /// hops `via` (the sender's `sinkwatch-hop` header): forwarded on, it
    /// carries them and this sink's id.
    pub fn ingest_via(
        &self,
        alert: &NewAlert,
        at_ms: u64,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
        via: Option<&str>,
    ) -> Result<Arc<AlertRecord>, IngestError> {
        self.ingest_with(
            alert,
            at_ms,
            peer_addr,
            peer_identity,
            via,
            None,
            &mut |_| {},
        )
    }

    // The one ingest path behind the public ones, each passing its own
    // mix of these.
    #[allow(clippy::too_many_arguments)]
    fn ingest_with(
        &self,
        alert: &NewAlert,
        at_ms: u64,
        peer_addr: Option<std::net::SocketAddr>,
        peer_identity: Option<&str>,
        via: Option<&str>,
        // Some when merged by receive time, with the status before.
        by_time: Option<Option<bool>>,
        then: &mut dyn FnMut(&Arc<AlertRecord>),
    ) -> Result<Arc<AlertRecord>, IngestError> {
        let mut inner = self.lock();
        // Borrow the inner state as two disjoint fields: the sender is used
        // in place, not cloned (a clone per alert was two atomic updates on
        // the ingest path, under the lock).
        let Inner { store, tx } = &mut *inner;
        let Some(tx) = tx.as_ref() else {
            return Err(IngestError::Closed);
        };
        let peer: Option<Arc<Peer>> = if peer_addr.is_some() || peer_identity.is_some() {
            Some(store.peer_via(peer_addr, peer_identity, via, &self.instance))
        } else {
            None
        };
        let stored = match by_time {
            Some(before) => store.ingest_by_time(alert, at_ms, peer, before),
            None => store.ingest(alert, at_ms, peer),
        };
        let record = Arc::new(stored.map_err(IngestError::Store)?);
        then(&record);
        // Sent under the lock so consumers see records in seq order. An error
        // only means nobody is subscribed right now.
        let _ = tx.send(record.clone());
        drop(inner);
        Ok(record)
    }

    /// A new consumer: receives every record accepted from now on, and
    /// returns the seq of the first record it will see.
    pub fn subscribe(&self) -> (u64, broadcast::Receiver<Arc<AlertRecord>>) {
        let inner = self.lock();
        let next = inner.store.next_seq();
        match &inner.tx {
            Some(tx) => (next, tx.subscribe()),
            None => {
                // Already closed: a receiver that reports Closed at once.
                let (tx, rx) = broadcast::channel(1);
                drop(tx);
                (next, rx)
            }
        }
    }

    /// A new consumer together with a read of the store, under one lock:
    /// the read sees exactly the records before the first one the receiver
    /// gets (a snapshot followed by the stream, no gap, no duplicate).
    /// Keep `f` short: ingest waits for it.
    pub fn subscribe_with<R>(
        &self,
        f: impl FnOnce(&Store) -> R,
    ) -> (R, broadcast::Receiver<Arc<AlertRecord>>) {
        let inner = self.lock();
        let read = f(&inner.store);
        let rx = match &inner.tx {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(1);
                drop(tx);
                rx
            }
        };
        (read, rx)
    }

    /// Reads the store under the lock. Keep `f` short: ingest waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.lock().store)
    }

    /// A [`Refetch`] reading this hub's history.
    pub fn refetch(self: &Arc<Self>) -> Refetch {
        let hub = self.clone();
        Box::new(move |from, to| hub.read(|s| s.records_between(from, to)))
    }

    /// Stops accepting; consumers drain what is queued and then see Closed.
    pub fn close(&self) {
        self.lock().tx = None;
    }

    pub fn is_closed(&self) -> bool {
        self.lock().tx.is_none()
    }

    pub fn refuse(&self, why: Refusal) {
        self.refuse_from(why, None, None);
    }

    /// Counts a refusal and keeps it among the recent ones with the peer
    /// and the message the sender was told (bounded in count and bytes).
    pub fn refuse_from(
        &self,
        why: Refusal,
        peer: Option<std::net::SocketAddr>,
        detail: Option<&str>,
    ) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
        let detail = detail.map(|d| {
            let mut end = d.len().min(REFUSAL_DETAIL_BYTES);
            while !d.is_char_boundary(end) {
                end -= 1;
            }
            Box::from(&d[..end])
        });
        let record = RefusalRecord {
            at_ms: now_ms(),
            reason: why,
            peer,
            detail,
        };
        let mut recent = self
            .recent_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_REFUSALS {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    /// The recent refusals, newest first.
    pub fn recent_refusals(&self) -> Vec<RefusalRecord> {
        let recent = self
            .recent_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        recent.iter().rev().cloned().collect()
    }

    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    pub fn refused_total(&self) -> u64 {
        Refusal::ALL.iter().map(|r| self.refused(*r)).sum()
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Non-zero refusal counters by name.
    pub fn refused_by_reason(&self) -> BTreeMap<&'static str, u64> {
        Refusal::ALL
            .iter()
            .map(|r| (r.as_str(), self.refused(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(repo: &str, pass: bool) -> NewAlert {
        NewAlert {
            owner: "o".into(),
            repo: repo.into(),
            policy: "p".into(),
            details: String::new(),
            pass,
        }
    }

    #[test]
    fn consumers_see_every_record_in_order() {
        let hub = Hub::new(StoreLimits::default(), 16);
        let (first, mut rx) = hub.subscribe();
        assert_eq!(first, 1);
        for i in 0..10 {
            hub.ingest(&alert(&format!("r{i}"), true), None, None)
                .unwrap();
        }
        for want in 1..=10 {
            assert_eq!(rx.try_recv().unwrap().seq, want);
        }
    }

    #[test]
    fn a_slow_consumer_loses_records_but_never_blocks_ingest() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let (_, mut rx) = hub.subscribe();
        for i in 0..100 {
            hub.ingest(&alert(&format!("r{i}"), true), None, None)
                .unwrap();
        }
        assert_eq!(hub.read(|s| s.accepted()), 100);
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 92),
            other => panic!("expected Lagged, got {other:?}"),
        }
        assert_eq!(rx.try_recv().unwrap().seq, 93);
    }

    #[test]
    fn close_refuses_and_ends_consumers_after_draining() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let (_, mut rx) = hub.subscribe();
        hub.ingest(&alert("a", false), None, None).unwrap();
        hub.close();
        assert_eq!(
            hub.ingest(&alert("b", false), None, None),
            Err(IngestError::Closed)
        );
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }

    #[test]
    fn a_hub_over_a_restored_store_continues_its_seq() {
        let mut store = Store::new(StoreLimits::default());
        store.continue_seq(501);
        let hub = Hub::with_store(store, 8);
        let (first, _rx) = hub.subscribe();
        assert_eq!(first, 501);
        let r = hub.ingest(&alert("a", true), None, None).unwrap();
        assert_eq!(r.seq, 501);
    }

    #[test]
    fn recent_refusals_are_kept_bounded_newest_first() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let long = "é".repeat(REFUSAL_DETAIL_BYTES);
        for i in 0..RECENT_REFUSALS + 5 {
            let detail = if i == RECENT_REFUSALS + 4 {
                long.clone()
            } else {
                format!("#{i}")
            };
            hub.refuse_from(Refusal::EmptyField, Some(peer), Some(&detail));
        }
        hub.refuse(Refusal::IdleTimeout);
        let recent = hub.recent_refusals();
        assert_eq!(recent.len(), RECENT_REFUSALS);
        assert_eq!(recent[0].reason, Refusal::IdleTimeout);
        assert_eq!(recent[0].peer, None);
        let cut = recent[1].detail.as_deref().unwrap();
        assert!(cut.len() <= REFUSAL_DETAIL_BYTES && cut.starts_with('é'));
        assert_eq!(recent[1].peer, Some(peer));
        // The oldest went; the counters still have them all.
        assert_eq!(recent.last().unwrap().detail.as_deref(), Some("#6"));
        assert_eq!(hub.refused(Refusal::EmptyField), RECENT_REFUSALS as u64 + 5);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let hub = Hub::new(StoreLimits::default(), 8);
        hub.refuse(Refusal::EmptyField);
        hub.refuse(Refusal::EmptyField);
        hub.refuse(Refusal::InvalidUtf8);
        assert_eq!(hub.refused_total(), 3);
        let by = hub.refused_by_reason();
        assert_eq!(by.get("empty_field"), Some(&2));
        assert_eq!(by.get("invalid_utf8"), Some(&1));
        assert_eq!(by.len(), 2);
    }

    #[test]
    fn peers_reach_the_record() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let addr = "127.0.0.1:5000".parse().unwrap();
        let r = hub
            .ingest(&alert("a", true), Some(addr), Some("CN=x"))
            .unwrap();
        let p = r.peer.as_ref().unwrap();
        assert_eq!(p.label, "127.0.0.1:5000");
        assert_eq!(p.identity.as_deref(), Some("CN=x"));
    }
}
