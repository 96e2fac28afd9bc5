//! The state writer: a consumer of the hub, on its own thread, like the
//! recorder (src/record.rs). It never touches the ingest path: the hub only
//! queues records for it, and if it falls behind it loses the oldest ones
//! and counts them (`lagged`).
//!
//! Records are written in batched transactions: a batch is committed when
//! it holds [`BATCH_ROWS`] alerts or its oldest alert waited [`BATCH_AGE`],
//! so a killed process loses at most the batch it was collecting (plus what
//! was still queued). Per-key counters are summed over the batch and
//! written once per key. A failed commit (disk full, …) rolls back that
//! batch only, counts its alerts as `failed`, marks the state not durable
//! and carries on: the next batch may succeed again.

use std::collections::HashMap;
use std::fs::File;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::broadcast;

use super::StateStats;
use super::schema::details_hash;
use crate::model::{AlertRecord, Change, Peer};

/// Alerts per transaction at most.
pub const BATCH_ROWS: usize = 2048;
/// Longest an accepted alert waits before its batch is committed.
pub const BATCH_AGE: Duration = Duration::from_millis(100);
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
/// per alert; an idle writer parks.
const NAP: Duration = Duration::from_millis(1);
const NAPS_BEFORE_PARKING: u32 = 20;
/// A parked writer still wakes up this often (retention).
const PARK: Duration = Duration::from_secs(5);

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
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        lock: Option<File>,
        retain: Option<Duration>,
        name: String,
    ) -> Writer {
        Writer {
            conn,
            _lock: lock,
            retain,
            name,
            ids: Ids::default(),
            last_sweep: None,
            pruned_since_sweep: false,
        }
    }

    /// Runs the writer on its own thread until the hub closes; the last
    /// batch is committed before the thread ends.
    pub fn spawn(
        mut self,
        mut rx: broadcast::Receiver<Arc<AlertRecord>>,
        stats: Arc<StateStats>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::Builder::new()
            .name("state writer".into())
            .spawn(move || {
                let waiter = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("writer runtime");
                let mut batch: Vec<Arc<AlertRecord>> = Vec::with_capacity(BATCH_ROWS);
                let mut oldest = Instant::now();
                let mut naps = 0;
                let mut next_prune = Instant::now();
                let mut prune_more = false;
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
                            if !batch.is_empty() {
                                if oldest.elapsed() >= BATCH_AGE {
                                    self.commit(&mut batch, &stats);
                                } else {
                                    std::thread::sleep(NAP);
                                }
                                continue;
                            }
                            if self.retain.is_some() && (prune_more || Instant::now() >= next_prune)
                            {
                                prune_more = self.prune(&stats);
                                if !prune_more {
                                    next_prune = Instant::now() + PRUNE_EVERY;
                                }
                                continue;
                            }
                            if naps < NAPS_BEFORE_PARKING {
                                naps += 1;
                                std::thread::sleep(NAP);
                                continue;
                            }
                            match waiter
                                .block_on(async { tokio::time::timeout(PARK, rx.recv()).await })
                            {
                                Ok(Ok(r)) => Ok(r),
                                Ok(Err(e)) => Err(Some(e)),
                                Err(_) => Err(None),
                            }
                        }
                    };
                    match next {
                        Ok(r) => {
                            naps = 0;
                            if batch.is_empty() {
                                oldest = Instant::now();
                            }
                            batch.push(r);
                            if batch.len() >= BATCH_ROWS || oldest.elapsed() >= BATCH_AGE {
                                self.commit(&mut batch, &stats);
                            }
                        }
                        Err(Some(broadcast::error::RecvError::Lagged(n))) => {
                            stats.lagged.fetch_add(n, Ordering::Relaxed);
                            tracing::warn!("state {}: fell behind, {n} alerts lost", self.name);
                        }
                        Err(Some(broadcast::error::RecvError::Closed)) => break,
                        Err(None) => {}
                    }
                }
                self.commit(&mut batch, &stats);
            })
            .expect("spawn the state writer")
    }

    /// Commits the batch (empties it); a failure is counted, not returned.
    fn commit(&mut self, batch: &mut Vec<Arc<AlertRecord>>, stats: &StateStats) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match self.write(batch) {
            Ok(()) => {
                stats.written.fetch_add(n, Ordering::Relaxed);
                if !stats.durable() {
                    // Writing works again (space was freed): durable from
                    // here on; what was lost stays counted.
                    stats.durable.store(true, Ordering::Relaxed);
                    *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
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
            }
        }
        batch.clear();
    }

    /// Writes one batch as the writer thread does, without the thread
    /// (benches/state.rs measures the writer's CPU per alert with it).
    #[cfg(feature = "test-support")]
    pub fn write_batch(&mut self, batch: &[Arc<AlertRecord>]) -> rusqlite::Result<()> {
        self.write(batch)
    }

    fn write(&mut self, batch: &[Arc<AlertRecord>]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
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
        let dir = tempfile::tempdir().unwrap();
        let opened = super::super::open(super::super::OpenOptions {
            path: dir.path().join("s.db"),
            retain: None,
            listen: "test".into(),
            limits: StoreLimits::default(),
        })
        .unwrap();
        let mut w = opened.writer.unwrap();
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
}
