//! The state writer: a consumer of the hub, in two stages on two threads,
//! so that persistence yields to ingest and never the reverse.
//!
//! - The **drain** (normal priority) reads the hub's broadcast promptly and
//!   only moves the records' `Arc`s into the writer's own queue, bounded in
//!   records and in bytes ([`QueueLimits`]). It is cheap, so it keeps up
//!   with the hub's shared queue (src/hub.rs) however far the SQL stage is
//!   behind; what overflows the writer's queue is lost and counted
//!   (`lagged`), like what the hub drops for a slow consumer.
//! - The **SQL stage** runs at a lower CPU priority (Linux: nice
//!   [`SQL_NICE`]): when ingest keeps the cores busy it gets them first, and
//!   the writer catches up in the gaps, with larger transactions (up to
//!   [`MAX_BATCH_ROWS`] rows, cheaper per row) while it is behind.
//!
//! A batch is committed when the queue holds [`BATCH_ROWS`] alerts or its
//! oldest alert waited [`BATCH_AGE`] — except during a burst: while alerts
//! keep arriving faster than a batch fills (and the spool takes them), the
//! SQL stage waits until the burst ends or its oldest alert is
//! [`DEFER_AGE`] old, so that SQLite's work is done after ingest's, in
//! larger transactions. What is queued or being written and not yet
//! committed is the `backlog` (stats line, status bar, metrics); the drain
//! appends it to the spool (`super::spool`) first, so a killed process
//! loses only the drain's last chunk, and the next start replays the rest.
//! Per-key counters are summed over the batch and
//! written once per key. A failed commit (disk full, …) rolls back that
//! batch only, counts its alerts as `failed`, marks the state not durable
//! and carries on: the next batch may succeed again.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::broadcast;

use super::StateStats;
use super::schema::details_hash;
use super::spool::{self, Spool};
use crate::model::{AlertRecord, Change, Peer};

/// Alerts per transaction while the writer keeps up.
pub const BATCH_ROWS: usize = 2048;
/// Alerts per transaction at most, while the writer is behind: a larger
/// transaction costs less per row (fewer commits, each index page written
/// once for more rows), and a writer that is behind loses its backlog on
/// `kill -9` anyway.
pub const MAX_BATCH_ROWS: usize = 16_384;
/// Longest an accepted alert waits before its batch is committed.
pub const BATCH_AGE: Duration = Duration::from_millis(100);
/// Longest the SQL stage waits for a burst of ingest to end before it
/// commits anyway (at its low priority): what a burst leaves to write is
/// at most this old, and under ingest that never pauses the backlog stays
/// about this long. Safe to wait because the spool holds it.
pub const DEFER_AGE: Duration = Duration::from_secs(5);
/// Ingest counts as a burst while the drain queued records this recently
/// and a full batch is waiting.
const BURST_GAP: Duration = Duration::from_millis(20);
/// The SQL stage's nice value (Linux; elsewhere the priority is left
/// alone). 19, the lowest priority: against busy normal-priority threads
/// it gets ~1.5 % of a core each, so ingest keeps the cores and the writer
/// catches up when they are idle.
pub const SQL_NICE: i32 = 19;
/// How often retention looks for old events.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Events deleted per pruning transaction, so a large backlog never holds
/// up the batches for long.
const PRUNE_CHUNK: i64 = 5_000;
/// Unreferenced details texts and peers are swept at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Bytes of details text remembered to find their rows without a query.
const DETAILS_CACHE_BYTES: usize = 32 << 20;
/// See src/record.rs: napping while alerts flow spares the hub a wake-up
/// per alert; an idle drain parks.
const NAP: Duration = Duration::from_millis(1);
const NAPS_BEFORE_PARKING: u32 = 20;
/// An idle SQL stage (no retention) still looks at its queue this often.
const PARK: Duration = Duration::from_secs(5);
/// Records the drain collects from the broadcast before taking the queue's
/// lock (one lock per chunk, not per alert).
const DRAIN_CHUNK: usize = 256;

/// Bounds of the writer's queue (what the drain holds for the SQL stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    pub records: usize,
    /// Estimated by [`cost`].
    pub bytes: usize,
}

/// Records queued at most: ~20 s of the fastest ingest measured on the
/// project's machine (50,000 alerts/s), so a writer descheduled for a
/// burst catches up instead of losing it.
pub const QUEUE_RECORDS: usize = 1 << 20;
/// Bytes queued at most, and never more than the store's own memory budget
/// (`--memory-budget`): the queue keeps records alive after the store
/// evicted them.
pub const QUEUE_BYTES: usize = 256 << 20;

impl QueueLimits {
    /// The bounds for a store of this memory budget.
    pub fn for_budget(memory_budget: usize) -> QueueLimits {
        QueueLimits {
            records: QUEUE_RECORDS,
            bytes: QUEUE_BYTES.min(memory_budget).max(1 << 20),
        }
    }
}

/// What a queued record may hold alive: the record, its `Arc` counts, its
/// queue slot and its details text (often shared with the store, counted
/// anyway: an upper bound).
fn cost(r: &AlertRecord) -> usize {
    std::mem::size_of::<AlertRecord>() + 3 * std::mem::size_of::<usize>() + r.details.len()
}

/// The writer's queue, shared by the drain and the SQL stage.
#[derive(Default)]
struct Queue {
    records: VecDeque<Arc<AlertRecord>>,
    bytes: usize,
    /// When the oldest queued record arrived (valid while non-empty).
    oldest_since: Option<Instant>,
    /// The SQL stage is writing a batch taken from the queue.
    in_flight: bool,
    /// The SQL stage sleeps on `wake`: only then does the drain signal.
    waiting: bool,
    /// The hub closed and the drain has queued its last records.
    closed: bool,
    /// When the drain last queued records (a burst is going on).
    last_push: Option<Instant>,
    /// Tests hold the SQL stage (it takes nothing) to fill the queue.
    #[cfg(test)]
    paused: bool,
}

impl Queue {
    fn oldest_since(&self) -> Instant {
        self.oldest_since.unwrap_or_else(Instant::now)
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The queue's length and bytes, as of its last change: what the drain
    /// bounds its own pending records by when it cannot take the lock.
    queued_records: AtomicUsize,
    queued_bytes: AtomicUsize,
    /// The highest seq the SQL stage is done with (committed, or counted
    /// as failed): the spool's segments up to it can be emptied.
    done_max: AtomicU64,
    /// The spool took the drain's last records: the SQL stage may wait out
    /// a burst. Off when the spool is full, failed or absent.
    spooling: AtomicBool,
    /// The SQL stage's thread id, once its priority is set (tests).
    #[cfg(test)]
    tid: std::sync::atomic::AtomicI64,
}

/// Records the drain has read and not queued yet.
#[derive(Default)]
struct Pending {
    records: VecDeque<Arc<AlertRecord>>,
    bytes: usize,
    /// The records read since the last spool append, encoded, and how
    /// many and the highest seq they hold.
    frames: Vec<u8>,
    framed: u64,
    framed_max: u64,
}

impl Pending {
    fn push(&mut self, r: Arc<AlertRecord>, spooling: bool) {
        if spooling {
            spool::encode(&r, &mut self.frames);
        }
        self.framed += 1;
        self.framed_max = self.framed_max.max(r.seq);
        self.bytes += cost(&r);
        self.records.push_back(r);
    }
}

/// The drain's end of the spool.
struct Spooler {
    spool: Option<Spool>,
    name: String,
}

impl Spooler {
    /// Appends what was read since the last call, before it is queued for
    /// the SQL stage, and empties the segments it is done with. Records
    /// the spool could not take are counted (`unspooled`).
    fn flush(&mut self, pending: &mut Pending, shared: &Shared, stats: &StateStats) {
        let n = std::mem::take(&mut pending.framed);
        let appended = match &mut self.spool {
            None => false,
            Some(_) if n == 0 => true,
            Some(s) => match s.append(&pending.frames, pending.framed_max) {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(
                        "state {}: cannot write the spool ({e}): alerts not committed yet \
                         would be lost by a kill from now on",
                        self.name
                    );
                    self.spool = None;
                    false
                }
            },
        };
        pending.frames.clear();
        if !appended {
            stats.unspooled.fetch_add(n, Ordering::Relaxed);
        }
        self.release(shared);
        shared.spooling.store(appended, Ordering::Relaxed);
    }

    fn release(&mut self, shared: &Shared) {
        if let Some(s) = &mut self.spool
            && let Err(e) = s.release(shared.done_max.load(Ordering::Relaxed))
        {
            tracing::warn!("state {}: cannot empty the spool ({e})", self.name);
            self.spool = None;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the drained records (empties `pending`) and returns true, or
    /// returns false when the SQL stage holds the queue's lock right now
    /// and `wait` is false: the drain never waits on that low-priority
    /// thread, which may have been preempted holding the lock for longer
    /// than the hub's queue lasts. Over the bounds (queue and pending
    /// together) the oldest records go, counted as lost: as in the hub's
    /// queue, the newest alerts carry each key's current status.
    fn push(
        &self,
        pending: &mut Pending,
        stats: &StateStats,
        limits: QueueLimits,
        wait: bool,
    ) -> bool {
        let mut q = match self.queue.try_lock() {
            Ok(q) => q,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if wait => self.lock(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // The queue only shrinks meanwhile: bounding by its last
                // size is conservative.
                let (queued, bytes) = (
                    self.queued_records.load(Ordering::Relaxed),
                    self.queued_bytes.load(Ordering::Relaxed),
                );
                let mut lost = 0;
                while queued + pending.records.len() > limits.records
                    || bytes + pending.bytes > limits.bytes
                {
                    let Some(old) = pending.records.pop_front() else {
                        break;
                    };
                    pending.bytes -= cost(&old);
                    lost += 1;
                }
                if lost > 0 {
                    stats.lagged.fetch_add(lost, Ordering::Relaxed);
                }
                return false;
            }
        };
        let before = q.records.len();
        let (mut added, mut lost) = (0u64, 0u64);
        for r in pending.records.drain(..) {
            q.bytes += cost(&r);
            q.records.push_back(r);
            added += 1;
            while q.records.len() > limits.records || q.bytes > limits.bytes {
                let Some(old) = q.records.pop_front() else {
                    break;
                };
                q.bytes -= cost(&old);
                lost += 1;
            }
        }
        pending.bytes = 0;
        q.last_push = Some(Instant::now());
        self.queued_records
            .store(q.records.len(), Ordering::Relaxed);
        self.queued_bytes.store(q.bytes, Ordering::Relaxed);
        if before == 0 && !q.records.is_empty() {
            q.oldest_since = Some(Instant::now());
        }
        if (before == 0 || lost > 0) && !q.in_flight {
            let front = q.records.front().map_or(0, |r| r.at_ms);
            stats.oldest_ms.store(front, Ordering::Relaxed);
        }
        // Backlog: what this call added and kept (`lost` may include
        // records queued by earlier calls, which the backlog counted).
        stats.backlog.fetch_add(added, Ordering::Relaxed);
        stats.backlog.fetch_sub(lost, Ordering::Relaxed);
        // Woken when there is a first record to time, or a full batch.
        let wake = q.waiting
            && !q.records.is_empty()
            && (before == 0 || (before < BATCH_ROWS && q.records.len() >= BATCH_ROWS));
        drop(q);
        if wake {
            self.wake.notify_one();
        }
        if lost > 0 {
            stats.lagged.fetch_add(lost, Ordering::Relaxed);
        }
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }
}

pub use crate::hub::Refetch;
use crate::hub::{ReadBack, read_back};

/// The drain stage: moves records from the hub's broadcast into the
/// spool and the writer's queue until the hub closes; returns the spool.
///
/// The broadcast is bounded, so a drain kept off the CPU longer than it
/// lasts (a VM's pause, a stalled disk; ~180 ms at 45,000 alerts a second
/// with the default budget) misses records. Those are read back from the
/// store's history (`refetch`), which holds far more (250,000 by default),
/// and spooled in their place, in seq order: only what the history has let
/// go too is lost, counted. Before, a lag was a hole in the stored seqs
/// that a `kill -9` then made silent (a review found 1,046 missing after a
/// restart, later seqs present).
fn drain(
    mut rx: broadcast::Receiver<Arc<AlertRecord>>,
    shared: &Shared,
    stats: &StateStats,
    limits: QueueLimits,
    mut spooler: Spooler,
    refetch: Refetch,
) -> Option<Spool> {
    let name = spooler.name.clone();
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("drain runtime");
    let mut pending = Pending::default();
    let mut naps = 0;
    // The last seq taken, and how many the broadcast skipped after it.
    let mut last: Option<u64> = None;
    let mut skipped = 0u64;
    let take = |r: Arc<AlertRecord>, pending: &mut Pending, spooler: &mut Spooler| {
        pending.push(r, spooler.spool.is_some());
        if pending.records.len() % DRAIN_CHUNK == 0 {
            spooler.flush(pending, shared, stats);
            shared.push(pending, stats, limits, false);
        }
    };
    // Reads back the `skipped` records before seq `upto` (exclusive).
    let read_back = |upto: u64, skipped: u64, pending: &mut Pending, spooler: &mut Spooler| {
        let (mut found, mut lost) = (0u64, 0u64);
        let _ = read_back::<std::convert::Infallible>(
            &refetch,
            (upto.saturating_sub(skipped), upto),
            |got| {
                match got {
                    ReadBack::Found(r) => {
                        found += 1;
                        take(Arc::new(r), pending, spooler);
                    }
                    ReadBack::Missing(_, n) => lost += n,
                }
                Ok(())
            },
        );
        if lost > 0 {
            stats.lagged.fetch_add(lost, Ordering::Relaxed);
        }
        tracing::warn!(
            "state {name}: fell behind the hub by {skipped} alerts: {found} read back from \
             the history, {lost} lost"
        );
    };
    loop {
        let next = match rx.try_recv() {
            Ok(r) => Ok(r),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                Err(Some(broadcast::error::RecvError::Lagged(n)))
            }
            Err(broadcast::error::TryRecvError::Closed) => {
                Err(Some(broadcast::error::RecvError::Closed))
            }
            Err(broadcast::error::TryRecvError::Empty) => {
                if !pending.records.is_empty() {
                    spooler.flush(&mut pending, shared, stats);
                    if !shared.push(&mut pending, stats, limits, false) {
                        // The SQL stage holds the lock: try again after a
                        // nap, reading the hub meanwhile.
                        std::thread::sleep(NAP);
                    }
                    continue;
                }
                if naps < NAPS_BEFORE_PARKING {
                    naps += 1;
                    std::thread::sleep(NAP);
                    continue;
                }
                match waiter.block_on(async { tokio::time::timeout(PARK, rx.recv()).await }) {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(Some(e)),
                    Err(_) => Err(None),
                }
            }
        };
        match next {
            Ok(r) => {
                naps = 0;
                if skipped > 0 {
                    read_back(
                        r.seq,
                        std::mem::take(&mut skipped),
                        &mut pending,
                        &mut spooler,
                    );
                }
                last = Some(r.seq);
                take(r, &mut pending, &mut spooler);
            }
            // Seqs are contiguous: the next record says which were skipped.
            Err(Some(broadcast::error::RecvError::Lagged(n))) => skipped += n,
            Err(Some(broadcast::error::RecvError::Closed)) => {
                if skipped > 0 {
                    // Skipped at the very end: after the last one taken.
                    let upto = last.map_or(skipped + 1, |l| l + skipped + 1);
                    read_back(upto, skipped, &mut pending, &mut spooler);
                }
                break;
            }
            // Idle: the SQL stage may have caught up since the last
            // records came.
            Err(None) => spooler.release(shared),
        }
    }
    spooler.flush(&mut pending, shared, stats);
    shared.push(&mut pending, stats, limits, true);
    shared.close();
    spooler.spool
}

/// Lowers the calling thread's CPU priority to [`SQL_NICE`] (Linux: nice
/// is per thread). A failure only costs ingest some CPU: logged, not fatal.
#[cfg(target_os = "linux")]
fn lower_priority(name: &str) {
    // SAFETY: gettid and setpriority take and return plain integers.
    let r = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, SQL_NICE)
    };
    if r != 0 {
        tracing::warn!(
            "state {name}: cannot lower the writer's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_: &str) {}

/// A key's row, and the details rows it wrote last (the store shares an
/// unchanged text, so it is recognised by pointer). Holding the names keeps
/// their allocations alive, so the addresses in [`Ids::keys`] cannot be
/// reused for other names while the entry exists.
struct KeyRow {
    _names: KeyNames,
    id: i64,
    /// Whether the row's `pass` is 0 or 1 now (what the next UPDATE
    /// compares with, to leave the failing-keys index alone when unchanged).
    pass: bool,
    /// The last details written, and the last non-empty ones: a key that
    /// fails, passes and fails again with the same text (as Allstar's
    /// policies do) finds its row without hashing the text.
    details: Option<(Arc<str>, i64)>,
    failing_details: Option<(Arc<str>, i64)>,
    /// Index in the batch's deltas while this batch touched the key.
    delta: Option<usize>,
}

/// A key's changes summed over one batch.
struct Delta {
    key: [usize; 3],
    id: i64,
    pass: bool,
    /// Whether `pass` differs from the row's before the batch.
    pass_changed: bool,
    change: Change,
    last_seen_ms: u64,
    last_change_ms: Option<u64>,
    count: u64,
    regressions: u64,
    fixes: u64,
    last_seq: u64,
    details_id: i64,
    peer_id: Option<i64>,
}

/// A key's names, shared with the store.
type KeyNames = (Arc<str>, Arc<str>, Arc<str>);

/// The addresses of a key's names: the store hands out one allocation per
/// distinct name, so they identify the key without hashing or comparing
/// its text. A name that comes in another allocation only misses the map
/// and is found in the database, never confused with another key.
fn key_addrs(r: &AlertRecord) -> [usize; 3] {
    [
        Arc::as_ptr(&r.owner) as *const u8 as usize,
        Arc::as_ptr(&r.repo) as *const u8 as usize,
        Arc::as_ptr(&r.policy) as *const u8 as usize,
    ]
}

/// A hasher for addresses and row ids (Fx-style multiply and rotate):
/// SipHash over three strings per alert showed in the writer's profile,
/// and these keys are not chosen by senders.
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        // The product's high bits are the mixed ones; the table indexes
        // by the low bits (addresses are aligned: their own low bits are
        // zeros).
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

type AddrMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<AddrHasher>>;

/// Row ids already known. Cleared whenever a transaction fails or rows
/// are swept, since they may name rows that no longer exist.
#[derive(Default)]
struct Ids {
    keys: AddrMap<[usize; 3], KeyRow>,
    details: HashMap<Arc<str>, i64>,
    details_bytes: usize,
    /// The empty text's row (most alerts: passing ones have no details).
    empty_details: Option<i64>,
    /// Peers by the address of the store's shared `Peer` (held here, so
    /// the address is not reused), then by label and identity.
    peer_ptrs: AddrMap<usize, (Arc<Peer>, i64)>,
    peers: HashMap<(String, String), i64>,
}

/// The writer, ready to start (see [`super::open`]).
pub struct Writer {
    conn: Connection,
    /// Held until the writer ends: see `super::take_lock`.
    _lock: Option<File>,
    retain: Option<Duration>,
    name: String,
    ids: Ids,
    last_sweep: Option<Instant>,
    pruned_since_sweep: bool,
    queue_limits: QueueLimits,
    /// The highest seq taken from the queue, and the highest committed:
    /// equal at the end, the run ended with every seq it gave out stored
    /// (see `super::epoch`).
    taken_max: u64,
    committed_max: u64,
    /// Handed to the drain when the writer starts.
    spool: Option<Spool>,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        lock: Option<File>,
        retain: Option<Duration>,
        name: String,
        queue_limits: QueueLimits,
    ) -> Writer {
        Writer {
            conn,
            _lock: lock,
            retain,
            name,
            ids: Ids::default(),
            last_sweep: None,
            pruned_since_sweep: false,
            queue_limits,
            taken_max: 0,
            committed_max: 0,
            spool: None,
        }
    }

    /// The connection, for what is read at start (restore, the epoch).
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Commits what the spool beside `db` holds beyond the database's
    /// newest alert (a run that ended without committing it: a kill, a
    /// crash), then starts a new spool for this run. Returns how many
    /// alerts were replayed and a line per unreadable part of the spool.
    /// The spool is left as it was when it cannot be read or replayed.
    pub(super) fn replay_spool(&mut self, db: &Path) -> Result<(u64, Vec<String>), String> {
        let (records, mut notes) = spool::read(db).map_err(|e| {
            format!(
                "cannot read the spool {}: {e}",
                spool::paths(db)[0].display()
            )
        })?;
        let newest: i64 = self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| super::cause(&e))?;
        let records: Vec<Arc<AlertRecord>> = records
            .into_iter()
            .filter(|r| r.seq > newest as u64)
            .map(Arc::new)
            .collect();
        for batch in records.chunks(MAX_BATCH_ROWS) {
            self.write(batch).map_err(|e| {
                self.ids = Ids::default();
                format!("cannot replay the spool: {}", super::cause(&e))
            })?;
        }
        // Names shared by replayed records are not the store's: forget
        // them (the map would otherwise keep them alive for nothing).
        self.ids = Ids::default();
        match Spool::create(db) {
            Ok(s) => self.spool = Some(s),
            Err(e) => notes.push(format!(
                "cannot create the spool {}: {e}; alerts not committed yet would be lost by a \
                 kill",
                spool::paths(db)[0].display()
            )),
        }
        Ok((records.len() as u64, notes))
    }

    /// Starts the writer's two stages (see the module docs) until the hub
    /// closes; the returned thread ends once everything the drain queued
    /// is committed (or counted as failed).
    pub fn spawn(
        self,
        rx: broadcast::Receiver<Arc<AlertRecord>>,
        stats: Arc<StateStats>,
        refetch: Refetch,
    ) -> std::thread::JoinHandle<()> {
        let limits = self.queue_limits;
        self.start(rx, stats, limits, Arc::new(Shared::default()), refetch)
    }

    fn start(
        mut self,
        rx: broadcast::Receiver<Arc<AlertRecord>>,
        stats: Arc<StateStats>,
        limits: QueueLimits,
        shared: Arc<Shared>,
        refetch: Refetch,
    ) -> std::thread::JoinHandle<()> {
        let drain = {
            let (shared, stats) = (shared.clone(), stats.clone());
            let spooler = Spooler {
                spool: self.spool.take(),
                name: self.name.clone(),
            };
            shared
                .spooling
                .store(spooler.spool.is_some(), Ordering::Relaxed);
            std::thread::Builder::new()
                .name("state drain".into())
                .spawn(move || drain(rx, &shared, &stats, limits, spooler, refetch))
                .expect("spawn the state drain")
        };
        std::thread::Builder::new()
            .name("state sql".into())
            .spawn(move || {
                lower_priority(&self.name);
                #[cfg(all(test, target_os = "linux"))]
                // SAFETY: gettid takes nothing and returns an integer.
                shared
                    .tid
                    .store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                self.run(&shared, &stats);
                if let Ok(Some(mut spool)) = drain.join() {
                    // Everything is done with: nothing for a next start to
                    // replay.
                    let _ = spool.release(shared.done_max.load(Ordering::Relaxed));
                    if spool.is_empty() {
                        spool.remove();
                    }
                }
            })
            .expect("spawn the state writer")
    }

    /// The SQL stage: takes due batches from the queue and commits them;
    /// prunes when there is nothing to write.
    fn run(&mut self, shared: &Shared, stats: &StateStats) {
        let mut next_prune = Instant::now();
        let mut prune_more = false;
        loop {
            let batch = {
                let mut q = shared.lock();
                loop {
                    let n = q.records.len();
                    let due = n >= BATCH_ROWS
                        || (n > 0 && (q.closed || q.oldest_since().elapsed() >= BATCH_AGE));
                    #[cfg(test)]
                    let due = due && !q.paused;
                    // A burst: the spool holds what waits, so SQLite's
                    // work waits for ingest's (see the module docs).
                    let burst = n >= BATCH_ROWS
                        && !q.closed
                        && shared.spooling.load(Ordering::Relaxed)
                        && q.last_push.is_some_and(|t| t.elapsed() < BURST_GAP)
                        && q.oldest_since().elapsed() < DEFER_AGE;
                    if due && !burst {
                        break;
                    }
                    if q.closed && n == 0 {
                        drop(q);
                        self.end_cleanly();
                        return;
                    }
                    let prune_due = self.retain.is_some()
                        && n == 0
                        && (prune_more || Instant::now() >= next_prune);
                    #[cfg(test)]
                    let prune_due = prune_due && !q.paused;
                    if prune_due {
                        break;
                    }
                    let wait = if burst {
                        BURST_GAP
                    } else if n > 0 {
                        BATCH_AGE.saturating_sub(q.oldest_since().elapsed())
                    } else if self.retain.is_some() {
                        next_prune.saturating_duration_since(Instant::now())
                    } else {
                        PARK
                    };
                    q.waiting = true;
                    q = shared
                        .wake
                        .wait_timeout(q, wait.max(Duration::from_millis(1)))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    q.waiting = false;
                }
                let n = q.records.len().min(MAX_BATCH_ROWS);
                let batch: Vec<Arc<AlertRecord>> = q.records.drain(..n).collect();
                q.bytes -= batch.iter().map(|r| cost(r)).sum::<usize>();
                shared
                    .queued_records
                    .store(q.records.len(), Ordering::Relaxed);
                shared.queued_bytes.store(q.bytes, Ordering::Relaxed);
                q.in_flight = !batch.is_empty();
                // What is left is no younger than what was taken: it stays
                // due (`oldest_since` unchanged), so a writer that is behind
                // goes on at once with the next batch.
                batch
            };
            if batch.is_empty() {
                prune_more = self.prune(stats);
                if !prune_more {
                    next_prune = Instant::now() + PRUNE_EVERY;
                }
                continue;
            }
            let top = batch.iter().map(|r| r.seq).max().unwrap_or(0);
            self.taken_max = self.taken_max.max(top);
            if self.commit(&batch, stats) {
                self.committed_max = self.committed_max.max(top);
            }
            shared.done_max.fetch_max(top, Ordering::Relaxed);
            let mut q = shared.lock();
            q.in_flight = false;
            stats
                .oldest_ms
                .store(q.records.front().map_or(0, |r| r.at_ms), Ordering::Relaxed);
            stats
                .backlog
                .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        }
    }

    /// At the end of the run: if every seq given out is stored, says so
    /// in the database, so the next run keeps the seq epoch.
    fn end_cleanly(&mut self) {
        if self.taken_max == self.committed_max
            && let Err(e) = super::epoch::mark_clean(&self.conn)
        {
            tracing::warn!("state {}: cannot mark a clean end: {e}", self.name);
        }
    }

    /// Commits the batch; a failure is counted, not returned (false).
    fn commit(&mut self, batch: &[Arc<AlertRecord>], stats: &StateStats) -> bool {
        let n = batch.len() as u64;
        match self.write(batch) {
            Ok(()) => {
                stats.written.fetch_add(n, Ordering::Relaxed);
                if !stats.durable() {
                    // Writing works again (space was freed): durable from
                    // here on; what was lost stays counted.
                    if !std::io::stderr().is_terminal() {
                        eprintln!(
                            "sinkwatch: state {}: writing works again, durable from seq {} \
                             ({} alerts not stored before)",
                            self.name,
                            batch.first().map_or(0, |r| r.seq),
                            stats.failed.load(Ordering::Relaxed)
                        );
                    }
                    stats.durable.store(true, Ordering::Relaxed);
                    *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                true
            }
            Err(e) => {
                self.ids = Ids::default();
                stats.failed.fetch_add(n, Ordering::Relaxed);
                let line = format!(
                    "state {}: cannot write ({}): {n} alerts not stored, not durable",
                    self.name,
                    super::cause(&e)
                );
                if stats.durable() && !std::io::stderr().is_terminal() {
                    // The first failure of a run of them, as one line (under
                    // the TUI the status bar shows it instead).
                    eprintln!("sinkwatch: {line}");
                }
                tracing::warn!("{line}");
                stats.set_error(line);
                false
            }
        }
    }

    /// Writes one batch as the writer thread does, without the thread
    /// (benches/state.rs measures the writer's CPU per alert with it).
    #[cfg(feature = "test-support")]
    pub fn write_batch(&mut self, batch: &[Arc<AlertRecord>]) -> rusqlite::Result<()> {
        self.write(batch)
    }

    fn write(&mut self, batch: &[Arc<AlertRecord>]) -> rusqlite::Result<()> {
        // IMMEDIATE: the write lock first. A deferred transaction that
        // read before writing gets SQLITE_BUSY at once, without waiting,
        // when another connection (sqlite3 mid-transaction) holds the
        // lock, and the whole batch would fail for a moment's contention.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ids = &mut self.ids;
        let mut deltas: Vec<Delta> = Vec::new();
        let mut rows: Vec<EventRow> = Vec::with_capacity(batch.len());
        for r in batch {
            let addrs = key_addrs(r);
            let known = ids.keys.get(&addrs);
            let details_id = match known {
                Some(k) => match (&k.details, &k.failing_details) {
                    (Some((text, id)), _) if Arc::ptr_eq(text, &r.details) => Some(*id),
                    (_, Some((text, id))) if Arc::ptr_eq(text, &r.details) => Some(*id),
                    _ => None,
                },
                None => None,
            };
            let details_id = match details_id {
                Some(id) => id,
                None => details_id_of(&tx, ids, &r.details)?,
            };
            let peer_id = match &r.peer {
                None => None,
                Some(p) => Some(peer_id(&tx, ids, p)?),
            };
            let k = match ids.keys.entry(addrs) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let (id, pass) = tx
                        .prepare_cached(
                            "INSERT INTO keys (owner, repo, policy, pass, change, first_seen_ms, \
                         last_seen_ms, last_change_ms, count, regressions, fixes, last_seq, \
                         details_id, peer_id) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, 0, 0, 0, ?7, ?8, ?9) \
                         ON CONFLICT (owner, repo, policy) DO UPDATE SET owner = owner \
                         RETURNING id, pass",
                        )?
                        .query_row(
                            params![
                                &*r.owner,
                                &*r.repo,
                                &*r.policy,
                                r.pass,
                                r.change.as_str(),
                                r.at_ms as i64,
                                r.seq as i64,
                                details_id,
                                peer_id
                            ],
                            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, bool>(1)?)),
                        )?;
                    v.insert(KeyRow {
                        _names: (r.owner.clone(), r.repo.clone(), r.policy.clone()),
                        id,
                        pass,
                        details: None,
                        failing_details: None,
                        delta: None,
                    })
                }
            };
            if !k
                .details
                .as_ref()
                .is_some_and(|(t, _)| Arc::ptr_eq(t, &r.details))
            {
                k.details = Some((r.details.clone(), details_id));
            }
            if !r.details.is_empty()
                && !k
                    .failing_details
                    .as_ref()
                    .is_some_and(|(t, _)| Arc::ptr_eq(t, &r.details))
            {
                k.failing_details = Some((r.details.clone(), details_id));
            }
            rows.push(EventRow {
                seq: r.seq as i64,
                at_ms: r.at_ms as i64,
                key_id: k.id,
                pass: r.pass,
                change: r.change,
                details_id,
                peer_id,
            });
            let d = match k.delta {
                Some(i) => &mut deltas[i],
                None => {
                    k.delta = Some(deltas.len());
                    deltas.push(Delta {
                        key: addrs,
                        id: k.id,
                        pass: k.pass,
                        pass_changed: false,
                        change: r.change,
                        last_seen_ms: r.at_ms,
                        last_change_ms: None,
                        count: 0,
                        regressions: 0,
                        fixes: 0,
                        last_seq: r.seq,
                        details_id,
                        peer_id,
                    });
                    deltas.last_mut().expect("pushed")
                }
            };
            d.pass_changed ^= d.pass != r.pass;
            d.pass = r.pass;
            d.change = r.change;
            d.last_seen_ms = r.at_ms;
            d.count += 1;
            d.last_seq = r.seq;
            d.details_id = details_id;
            d.peer_id = peer_id;
            match r.change {
                Change::Regressed => d.regressions += 1,
                Change::Fixed => d.fixes += 1,
                _ => {}
            }
            if r.change.is_transition() || r.change == Change::First {
                d.last_change_ms = Some(r.at_ms);
            }
        }
        insert_events(&tx, &rows)?;
        // The keys' marks of this batch (a failure clears all of `ids`).
        for d in &deltas {
            if let Some(k) = ids.keys.get_mut(&d.key) {
                k.delta = None;
            }
        }
        {
            // Two statements: `pass` is only set when it changed, so the
            // partial index of failing keys is left alone otherwise
            // (SQLite revisits an index whenever a column of its WHERE is
            // assigned).
            let mut same_pass = tx.prepare_cached(
                "UPDATE keys SET change = ?2, last_seen_ms = ?3, \
                 last_change_ms = coalesce(?4, last_change_ms), count = count + ?5, \
                 regressions = regressions + ?6, fixes = fixes + ?7, last_seq = ?8, \
                 details_id = ?9, peer_id = ?10 WHERE id = ?1",
            )?;
            let mut new_pass = tx.prepare_cached(
                "UPDATE keys SET change = ?2, last_seen_ms = ?3, \
                 last_change_ms = coalesce(?4, last_change_ms), count = count + ?5, \
                 regressions = regressions + ?6, fixes = fixes + ?7, last_seq = ?8, \
                 details_id = ?9, peer_id = ?10, pass = ?11 WHERE id = ?1",
            )?;
            for d in &deltas {
                let (last_change_ms, count) = (d.last_change_ms.map(|t| t as i64), d.count as i64);
                let (regressions, fixes) = (d.regressions as i64, d.fixes as i64);
                let p = params![
                    d.id,
                    d.change.as_str(),
                    d.last_seen_ms as i64,
                    last_change_ms,
                    count,
                    regressions,
                    fixes,
                    d.last_seq as i64,
                    d.details_id,
                    d.peer_id,
                    d.pass,
                ];
                if d.pass_changed {
                    new_pass.execute(p)?;
                } else {
                    same_pass.execute(&p[..10])?;
                }
            }
        }
        tx.commit()?;
        // Committed: the rows' `pass` is what the batch left.
        for d in &deltas {
            if let Some(k) = ids.keys.get_mut(&d.key) {
                k.pass = d.pass;
            }
        }
        Ok(())
    }

    /// One step of retention: deletes a chunk of events older than
    /// `--retain`, never a key's latest. Returns true when more may remain.
    fn prune(&mut self, stats: &StateStats) -> bool {
        let Some(retain) = self.retain else {
            return false;
        };
        let cutoff = crate::hub::now_ms().saturating_sub(retain.as_millis() as u64) as i64;
        // Events are pruned in seq (arrival) order, up to the first one
        // received after the cutoff: no index on `at_ms` is needed, and
        // the walk from the oldest row only passes what is pruned now and
        // the keys' kept latest events. Should the clock have stepped back,
        // an event stamped before the cutoff but received after a newer
        // one waits until that one is pruned.
        let result = self.conn.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events \
             WHERE seq < coalesce((SELECT seq FROM events WHERE at_ms >= ?1 ORDER BY seq \
             LIMIT 1), 9223372036854775807) \
             AND seq NOT IN (SELECT last_seq FROM keys) ORDER BY seq LIMIT ?2)",
            params![cutoff, PRUNE_CHUNK],
        );
        match result {
            Ok(n) => {
                stats.pruned.fetch_add(n as u64, Ordering::Relaxed);
                if n > 0 {
                    self.pruned_since_sweep = true;
                }
                if (n as i64) < PRUNE_CHUNK {
                    self.sweep();
                    false
                } else {
                    true
                }
            }
            Err(e) => {
                tracing::warn!(
                    "state {}: retention failed: {}",
                    self.name,
                    super::cause(&e)
                );
                false
            }
        }
    }

    /// Removes details texts and peers no event or key refers to any more.
    fn sweep(&mut self) {
        if !self.pruned_since_sweep || self.last_sweep.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(Instant::now());
        self.pruned_since_sweep = false;
        self.ids = Ids::default();
        let r = self.conn.execute_batch(
            "BEGIN;
             DELETE FROM details WHERE id NOT IN
                 (SELECT details_id FROM events UNION SELECT details_id FROM keys);
             DELETE FROM peers WHERE id NOT IN
                 (SELECT peer_id FROM events WHERE peer_id IS NOT NULL
                  UNION SELECT peer_id FROM keys WHERE peer_id IS NOT NULL);
             COMMIT;",
        );
        if let Err(e) = r {
            let _ = self.conn.execute_batch("ROLLBACK");
            tracing::warn!("state {}: sweep failed: {}", self.name, super::cause(&e));
        }
    }
}

fn details_id_of(c: &Connection, ids: &mut Ids, text: &Arc<str>) -> rusqlite::Result<i64> {
    if text.is_empty()
        && let Some(id) = ids.empty_details
    {
        return Ok(id);
    }
    if let Some(&id) = ids.details.get(&**text) {
        return Ok(id);
    }
    let hash = details_hash(text);
    let found: Option<i64> = c
        .prepare_cached("SELECT id FROM details WHERE hash = ?1 AND text = ?2")?
        .query_row(params![hash, &**text], |r| r.get(0))
        .optional()?;
    let id = match found {
        Some(id) => id,
        None => {
            c.prepare_cached("INSERT INTO details (hash, text) VALUES (?1, ?2)")?
                .execute(params![hash, &**text])?;
            c.last_insert_rowid()
        }
    };
    if text.is_empty() {
        ids.empty_details = Some(id);
        return Ok(id);
    }
    if ids.details_bytes + text.len() > DETAILS_CACHE_BYTES {
        ids.details.clear();
        ids.details_bytes = 0;
    }
    ids.details_bytes += text.len();
    ids.details.insert(text.clone(), id);
    Ok(id)
}

/// One `events` row.
struct EventRow {
    seq: i64,
    at_ms: i64,
    key_id: i64,
    pass: bool,
    change: Change,
    details_id: i64,
    peer_id: Option<i64>,
}

/// Rows per INSERT statement: one statement per row spent a good part of
/// its time starting and stopping (opening the cursors of the table and
/// its indexes, binding, resetting).
const ROWS_PER_INSERT: usize = 32;

fn insert_events(c: &Connection, rows: &[EventRow]) -> rusqlite::Result<()> {
    const COLUMNS: &str = "INSERT INTO events (seq, at_ms, key_id, pass, change, details_id, \
                           peer_id) VALUES ";
    let sql = |n: usize| {
        let mut sql = String::from(COLUMNS);
        for i in 0..n {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?,?)"
            });
        }
        sql
    };
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut q = c.prepare_cached(&sql(ROWS_PER_INSERT))?;
        for chunk in &mut chunks {
            bind_events(&mut q, chunk)?;
            q.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut q = c.prepare_cached(&sql(1))?;
        for row in chunks.remainder() {
            bind_events(&mut q, std::slice::from_ref(row))?;
            q.raw_execute()?;
        }
    }
    Ok(())
}

fn bind_events(q: &mut rusqlite::CachedStatement<'_>, rows: &[EventRow]) -> rusqlite::Result<()> {
    for (i, r) in rows.iter().enumerate() {
        let at = i * 7;
        q.raw_bind_parameter(at + 1, r.seq)?;
        q.raw_bind_parameter(at + 2, r.at_ms)?;
        q.raw_bind_parameter(at + 3, r.key_id)?;
        q.raw_bind_parameter(at + 4, r.pass)?;
        q.raw_bind_parameter(at + 5, r.change.as_str())?;
        q.raw_bind_parameter(at + 6, r.details_id)?;
        q.raw_bind_parameter(at + 7, r.peer_id)?;
    }
    Ok(())
}

/// Peers remembered at most (each way of finding them).
const PEERS_CACHED: usize = 4096;

fn peer_id(c: &Connection, ids: &mut Ids, p: &Arc<Peer>) -> rusqlite::Result<i64> {
    let addr = Arc::as_ptr(p) as usize;
    if let Some((_, id)) = ids.peer_ptrs.get(&addr) {
        return Ok(*id);
    }
    let identity = p.identity.clone().unwrap_or_default();
    let lookup = (p.label.clone(), identity);
    let id = match ids.peers.get(&lookup) {
        Some(&id) => id,
        None => {
            let id: i64 = c
                .prepare_cached(
                    "INSERT INTO peers (label, identity) VALUES (?1, ?2) \
                     ON CONFLICT (label, identity) DO UPDATE SET label = label RETURNING id",
                )?
                .query_row(params![&lookup.0, &lookup.1], |r| r.get(0))?;
            if ids.peers.len() >= PEERS_CACHED {
                ids.peers.clear();
            }
            ids.peers.insert(lookup, id);
            id
        }
    };
    if ids.peer_ptrs.len() >= PEERS_CACHED {
        ids.peer_ptrs.clear();
    }
    ids.peer_ptrs.insert(addr, (p.clone(), id));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoreLimits;

    fn record(seq: u64, at_ms: u64, repo: &str, pass: bool, details: &str) -> Arc<AlertRecord> {
        Arc::new(AlertRecord {
            seq,
            at_ms,
            owner: Arc::from("o"),
            repo: Arc::from(repo),
            policy: Arc::from("p"),
            pass,
            details: Arc::from(details),
            change: if seq <= 2 {
                Change::First
            } else {
                Change::Same
            },
            peer: None,
            late: false,
            before: None,
            key: crate::model::NO_KEY,
        })
    }

    fn seqs(c: &Connection) -> Vec<i64> {
        let mut q = c.prepare("SELECT seq FROM events ORDER BY seq").unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn retention_prunes_old_events_but_never_a_keys_latest() {
        let dir = tempfile::tempdir().unwrap();
        let opened = super::super::open(super::super::OpenOptions {
            path: dir.path().join("s.db"),
            retain: Some(Duration::from_secs(86_400)),
            listen: "test".into(),
            limits: StoreLimits::default(),
        })
        .unwrap();
        let (mut w, stats) = (opened.writer.unwrap(), opened.stats);
        let now = crate::hub::now_ms();
        let old = now - 10 * 86_400_000;
        w.write(&[
            record(1, old, "a", false, "first text"),
            record(2, old, "b", false, "b text"),
            record(3, old + 1, "a", false, "second text"),
            record(4, old + 2, "b", true, ""),
            record(5, now, "b", true, ""),
        ])
        .unwrap();
        assert!(!w.prune(&stats), "one chunk was enough");
        // a's latest (3) is old but kept; b's latest is recent.
        assert_eq!(seqs(&w.conn), vec![3, 5]);
        assert_eq!(stats.pruned.load(Ordering::Relaxed), 3);
        // Counters of keys outlive their pruned events.
        let counts: (i64, i64) = w
            .conn
            .query_row(
                "SELECT (SELECT count FROM keys WHERE repo = 'a'),                  (SELECT count FROM keys WHERE repo = 'b')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(counts, (2, 3));
        // Texts nobody refers to any more are swept; the rest stay.
        let mut q = w
            .conn
            .prepare("SELECT text FROM details ORDER BY text")
            .unwrap();
        let texts: Vec<String> = q
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(texts, vec!["".to_owned(), "second text".to_owned()]);
        // A pruned database restores: latest status per key intact.
        let (store, restored) =
            super::super::restore::restore(&w.conn, StoreLimits::default()).unwrap();
        assert_eq!(restored.keys, 2);
        assert_eq!(store.failing_keys(), 1);
        assert_eq!(store.next_seq(), 6);
    }

    #[test]
    fn a_batch_shares_details_rows_and_sums_key_counters() {
        let (_dir, mut w, _) = durable();
        let text: Arc<str> = Arc::from("same details");
        let batch: Vec<_> = (1..=100)
            .map(|seq| {
                let mut r = (*record(seq, seq, "a", false, "")).clone();
                r.details = text.clone();
                Arc::new(r)
            })
            .collect();
        w.write(&batch).unwrap();
        // Again, with the caches cleared: found by hash and text.
        w.ids = Ids::default();
        w.write(&[record(101, 101, "a", false, "same details")])
            .unwrap();
        let n: (i64, i64, i64) = w
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM details), (SELECT count FROM keys),                  (SELECT last_seq FROM keys)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(n, (1, 101, 101));
    }

    /// Polls `done` until it holds; panics after a generous watchdog.
    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A drain the hub's queue overtook (4 places, 10 records sent before
    /// it read any): the 6 it skipped are read back from the store's
    /// history and stored in their place, and only what the history no
    /// longer holds (seqs 1 and 2 in the second run) is counted lost. On
    /// the old code the 6 were a hole in the stored seqs (a review: 1,046
    /// missing after a `kill -9`, later ones present).
    #[test]
    fn what_the_drain_fell_behind_on_is_read_back_from_the_history() {
        for (held_from, want_lost) in [(1, 0), (3, 2)] {
            let (dir, w, stats) = durable();
            let path = dir.path().join("s.db");
            let (tx, rx) = broadcast::channel(4);
            for seq in 1..=10 {
                tx.send(record(seq, 1_000 + seq, "r", false, "x")).unwrap();
            }
            let asked = Arc::new(Mutex::new(Vec::new()));
            let refetch: Refetch = Box::new({
                let asked = asked.clone();
                move |from, to| {
                    asked.lock().unwrap().push((from, to));
                    (from.max(held_from)..to)
                        .map(|seq| (*record(seq, 1_000 + seq, "r", false, "x")).clone())
                        .collect()
                }
            });
            let limits = w.queue_limits;
            let handle = w.start(
                rx,
                stats.clone(),
                limits,
                Arc::new(Shared::default()),
                refetch,
            );
            drop(tx);
            handle.join().unwrap();
            let stored = seqs(&Connection::open(&path).unwrap());
            let want: Vec<i64> = (held_from as i64..=10).collect();
            assert_eq!(stored, want);
            assert_eq!(*asked.lock().unwrap(), [(1, 7)]);
            assert_eq!(stats.lagged.load(Ordering::Relaxed), want_lost);
        }
    }

    /// A state opened in a new directory (`s.db`, no retention): the
    /// directory, the writer, its counters.
    fn durable() -> (tempfile::TempDir, Writer, Arc<StateStats>) {
        let dir = tempfile::tempdir().unwrap();
        let opened = super::super::open(super::super::OpenOptions {
            path: dir.path().join("s.db"),
            retain: None,
            listen: "test".into(),
            limits: StoreLimits::default(),
        })
        .unwrap();
        (dir, opened.writer.unwrap(), opened.stats)
    }

    struct Stalled {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        stats: Arc<StateStats>,
        shared: Arc<Shared>,
        tx: broadcast::Sender<Arc<AlertRecord>>,
        handle: std::thread::JoinHandle<()>,
    }

    /// A writer whose SQL stage is paused, its drain running.
    fn stalled(limits: QueueLimits) -> Stalled {
        let (dir, w, stats) = durable();
        let path = dir.path().join("s.db");
        // The hub's queue holds everything the test sends: whatever is lost
        // is the writer's queue's doing.
        let (tx, rx) = broadcast::channel(100_000);
        let shared = Arc::new(Shared::default());
        shared.lock().paused = true;
        let handle = w.start(
            rx,
            stats.clone(),
            limits,
            shared.clone(),
            Box::new(|_, _| Vec::new()),
        );
        Stalled {
            _dir: dir,
            path,
            stats,
            shared,
            tx,
            handle,
        }
    }

    impl Stalled {
        fn send(&self, seqs: std::ops::RangeInclusive<u64>, details: &str) {
            for seq in seqs {
                self.tx
                    .send(record(
                        seq,
                        1_000 + seq,
                        &format!("r{}", seq % 7),
                        false,
                        details,
                    ))
                    .unwrap();
            }
        }

        fn resume(&self) {
            self.shared.lock().paused = false;
            self.shared.wake.notify_one();
        }

        fn stored(&self) -> Vec<i64> {
            seqs(&Connection::open(&self.path).unwrap())
        }

        /// Closes the hub's side, waits for the writer to end; what is
        /// stored then.
        fn finish(self) -> (Arc<StateStats>, Vec<i64>) {
            drop(self.tx);
            self.handle.join().unwrap();
            let stored = seqs(&Connection::open(&self.path).unwrap());
            (self.stats, stored)
        }
    }

    fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    #[test]
    fn the_drain_loses_nothing_while_the_sql_stage_is_stalled() {
        let s = stalled(QueueLimits {
            records: 5_000,
            bytes: usize::MAX,
        });
        s.send(1..=4_000, "");
        wait_for("all queued", || load(&s.stats.backlog) == 4_000);
        assert_eq!(load(&s.stats.lagged), 0);
        assert_eq!(load(&s.stats.written), 0, "the SQL stage is paused");
        assert_eq!(
            load(&s.stats.oldest_ms),
            1_001,
            "the oldest queued alert's time"
        );
        s.resume();
        // Written without the hub closing: more than one batch is due.
        wait_for("all written", || load(&s.stats.written) == 4_000);
        wait_for("backlog cleared", || load(&s.stats.backlog) == 0);
        assert_eq!(s.stats.backlog(5_000), (0, 0));
        assert_eq!(s.stored(), (1..=4_000).collect::<Vec<i64>>());
        assert_eq!(s.finish().0.lost(), 0);
    }

    #[test]
    fn the_drain_never_waits_for_the_sql_stages_lock() {
        let s = stalled(QueueLimits {
            records: 5_000,
            bytes: usize::MAX,
        });
        // As if the low-priority SQL stage had been preempted holding the
        // queue's lock: the drain must go on reading the hub (a drain
        // blocked on the lock leaves the second record unread).
        let held = s.shared.lock();
        for seq in 1..=1_000 {
            s.send(seq..=seq, "");
            wait_for("the drain read it", || s.tx.is_empty());
        }
        assert_eq!(load(&s.stats.lagged), 0);
        drop(held);
        wait_for("all queued", || load(&s.stats.backlog) == 1_000);
        s.resume();
        let (stats, stored) = s.finish();
        assert_eq!(stats.lost(), 0);
        assert_eq!(stored, (1..=1_000).collect::<Vec<i64>>());
    }

    #[test]
    fn over_the_queue_bound_the_oldest_are_counted_as_lost() {
        let s = stalled(QueueLimits {
            records: 100,
            bytes: usize::MAX,
        });
        s.send(1..=250, "");
        wait_for("all seen", || {
            load(&s.stats.backlog) + load(&s.stats.lagged) == 250
        });
        assert_eq!(load(&s.stats.backlog), 100);
        assert_eq!(load(&s.stats.lagged), 150);
        assert_eq!(load(&s.stats.oldest_ms), 1_151, "the oldest kept");
        s.resume();
        let (stats, stored) = s.finish();
        assert_eq!(load(&stats.written), 100);
        assert_eq!(load(&stats.backlog), 0);
        assert_eq!(stats.lost(), 150);
        assert_eq!(stored, (151..=250).collect::<Vec<i64>>());
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_too() {
        let details = "x".repeat(1_000);
        let one = cost(&record(1, 1, "r", false, &details));
        let s = stalled(QueueLimits {
            records: 1_000_000,
            bytes: 10 * one,
        });
        s.send(1..=30, &details);
        wait_for("all seen", || {
            load(&s.stats.backlog) + load(&s.stats.lagged) == 30
        });
        assert_eq!((load(&s.stats.backlog), load(&s.stats.lagged)), (10, 20));
        s.resume();
        assert_eq!(s.finish().1, (21..=30).collect::<Vec<i64>>());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sql_stage_runs_at_a_lower_priority() {
        let s = stalled(QueueLimits::for_budget(1 << 30));
        wait_for("the SQL stage started", || {
            s.shared.tid.load(Ordering::Relaxed) != 0
        });
        let tid = s.shared.tid.load(Ordering::Relaxed);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // Fields after the command name's closing parenthesis start at
        // field 3 (state); nice is field 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i32 = after.split(' ').nth(19 - 3).unwrap().parse().unwrap();
        assert_eq!(nice, SQL_NICE, "{stat}");
        s.resume();
        s.finish();
    }
}
