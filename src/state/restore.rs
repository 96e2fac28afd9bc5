//! Reading the database back into a [`Store`]: every key with its latest
//! status and counters, the newest transitions (up to the store's bound) and
//! the newest events (up to `--history`), in seq order. Details texts and
//! peers are read once per distinct row and shared, as on ingest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use super::Restored;
use crate::model::store::{RestoredKey, Transition};
use crate::model::{Change, Event, KeyId, Peer, Store, StoreLimits};

/// Texts and peers by row id, read on first use.
struct Shared<'c> {
    conn: &'c Connection,
    details: HashMap<i64, Arc<str>>,
    peers: HashMap<i64, Option<Arc<Peer>>>,
    empty: Arc<str>,
}

impl Shared<'_> {
    fn details(&mut self, id: i64) -> rusqlite::Result<Arc<str>> {
        if let Some(t) = self.details.get(&id) {
            return Ok(t.clone());
        }
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT text FROM details WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        // A dangling id (a hand-edited file) shows as no details.
        let t = match text {
            Some(t) if !t.is_empty() => Arc::from(t),
            _ => self.empty.clone(),
        };
        self.details.insert(id, t.clone());
        Ok(t)
    }

    fn peer(&mut self, store: &mut Store, id: Option<i64>) -> rusqlite::Result<Option<Arc<Peer>>> {
        let Some(id) = id else { return Ok(None) };
        if let Some(p) = self.peers.get(&id) {
            return Ok(p.clone());
        }
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT label, identity FROM peers WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let p = row.map(|(label, identity)| {
            let addr = label.parse::<SocketAddr>().ok();
            let identity = (!identity.is_empty()).then_some(identity);
            store.peer(addr, identity.as_deref())
        });
        self.peers.insert(id, p.clone());
        Ok(p)
    }
}

fn change(s: &str) -> Change {
    Change::parse(s).unwrap_or(Change::Same)
}

/// Restores a store with `limits` from the database.
pub fn restore(conn: &Connection, limits: StoreLimits) -> rusqlite::Result<(Store, Restored)> {
    let mut store = Store::new(limits);
    let mut restored = Restored::default();
    let mut shared = Shared {
        conn,
        details: HashMap::new(),
        peers: HashMap::new(),
        empty: Arc::from(""),
    };
    let mut ids: HashMap<i64, KeyId> = HashMap::new();
    {
        let mut q = conn.prepare(
            "SELECT id, owner, repo, policy, pass, change, first_seen_ms, last_seen_ms, \
             last_change_ms, count, regressions, fixes, last_seq, details_id, peer_id \
             FROM keys ORDER BY id",
        )?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let owner: String = r.get(1)?;
            let repo: String = r.get(2)?;
            let policy: String = r.get(3)?;
            let change_text: String = r.get(5)?;
            let details = shared.details(r.get(13)?)?;
            let peer = shared.peer(&mut store, r.get(14)?)?;
            let k = RestoredKey {
                owner: &owner,
                repo: &repo,
                policy: &policy,
                pass: r.get(4)?,
                change: change(&change_text),
                first_seen_ms: r.get::<_, i64>(6)?.max(0) as u64,
                last_seen_ms: r.get::<_, i64>(7)?.max(0) as u64,
                last_change_ms: r.get::<_, i64>(8)?.max(0) as u64,
                count: r.get::<_, i64>(9)?.max(1) as u64,
                regressions: r.get::<_, i64>(10)?.clamp(0, u32::MAX as i64) as u32,
                fixes: r.get::<_, i64>(11)?.clamp(0, u32::MAX as i64) as u32,
                last_seq: r.get::<_, i64>(12)?.max(0) as u64,
                details,
                peer,
            };
            match store.restore_key(&k) {
                Ok(kid) => {
                    ids.insert(r.get(0)?, kid);
                    restored.keys += 1;
                    restored.first_ms = Some(
                        restored
                            .first_ms
                            .map_or(k.first_seen_ms, |f| f.min(k.first_seen_ms)),
                    );
                    restored.last_ms = Some(restored.last_ms.unwrap_or(0).max(k.last_seen_ms));
                }
                Err(_) => restored.refused_keys += 1,
            }
        }
    }
    // Newest first with a LIMIT (the indexes on seq make it a short walk
    // from the end), then applied oldest first.
    let mut transitions = Vec::new();
    {
        let mut q = conn.prepare(
            "SELECT seq, at_ms, key_id, change FROM events \
             WHERE change IN ('regressed', 'fixed') ORDER BY seq DESC LIMIT ?1",
        )?;
        let mut rows = q.query([limits.transitions as i64])?;
        while let Some(r) = rows.next()? {
            let Some(&key) = ids.get(&r.get::<_, i64>(2)?) else {
                continue;
            };
            let c: String = r.get(3)?;
            transitions.push(Transition {
                seq: r.get::<_, i64>(0)?.max(0) as u64,
                at_ms: r.get::<_, i64>(1)?.max(0) as u64,
                key,
                change: change(&c),
            });
        }
    }
    restored.transitions = transitions.len() as u64;
    for t in transitions.into_iter().rev() {
        store.restore_transition(t);
    }
    let mut events = Vec::new();
    {
        let mut q = conn.prepare(
            "SELECT seq, at_ms, key_id, pass, change, details_id, peer_id FROM events \
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let mut rows = q.query([limits.history as i64])?;
        while let Some(r) = rows.next()? {
            let Some(&key) = ids.get(&r.get::<_, i64>(2)?) else {
                continue;
            };
            let c: String = r.get(4)?;
            events.push(Event {
                seq: r.get::<_, i64>(0)?.max(0) as u64,
                at_ms: r.get::<_, i64>(1)?.max(0) as u64,
                key,
                pass: r.get(3)?,
                change: change(&c),
                details: shared.details(r.get(5)?)?,
                peer: shared.peer(&mut store, r.get(6)?)?,
                prev_seq: 0,
                late: false,
            });
        }
    }
    restored.events = events.len() as u64;
    for e in events.into_iter().rev() {
        store.restore_event(e);
    }
    store.link_history();
    let max_seq: Option<i64> = conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
    store.continue_seq(max_seq.unwrap_or(0).max(0) as u64 + 1);
    restored.accepted = store.accepted();
    restored.missing = missing(conn)?;
    Ok((store, restored))
}

/// Seqs missing from the file where nothing was pruned: alerts a run
/// accepted and never stored (a write that failed, then a kill). Retention
/// deletes every event below its frontier except each key's latest, so
/// the span checked starts at the oldest event that is not a key's latest
/// (everything from there on is kept); below it the gaps are retention's.
/// Returns how many are missing and the first and last of them.
fn missing(conn: &Connection) -> rusqlite::Result<Option<(u64, u64, u64)>> {
    let from: Option<i64> = conn
        .query_row(
            "SELECT seq FROM events WHERE seq NOT IN (SELECT last_seq FROM keys) \
             ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(from) = from else { return Ok(None) };
    let (count, max): (i64, i64) = conn.query_row(
        "SELECT count(*), max(seq) FROM events WHERE seq >= ?1",
        [from],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let n = (max - from + 1 - count).max(0) as u64;
    if n == 0 {
        return Ok(None);
    }
    // The first and last missing: the ends of the holes.
    let first: i64 = conn.query_row(
        "SELECT e.seq + 1 FROM events e WHERE e.seq >= ?1 AND e.seq < ?2 \
         AND NOT EXISTS (SELECT 1 FROM events f WHERE f.seq = e.seq + 1) ORDER BY e.seq LIMIT 1",
        [from, max],
        |r| r.get(0),
    )?;
    let last: i64 = conn.query_row(
        "SELECT e.seq - 1 FROM events e WHERE e.seq > ?1 AND e.seq <= ?2 \
         AND NOT EXISTS (SELECT 1 FROM events f WHERE f.seq = e.seq - 1) ORDER BY e.seq DESC LIMIT 1",
        [from, max],
        |r| r.get(0),
    )?;
    Ok(Some((n, first.max(0) as u64, last.max(0) as u64)))
}
