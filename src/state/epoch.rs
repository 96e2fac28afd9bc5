//! The seq epoch: which run of `seq` numbers a viewer's resume point
//! belongs to.
//!
//! A Watch viewer resumes "after seq N" (src/sink/watch.rs). That is only
//! sound if seq N means the same alert to the sink it reconnects to. Seqs
//! continue across a restart from the last *stored* one, so after a
//! `kill -9` (or a failed last commit) the seqs the killed sink gave out
//! but never stored are given out again, to other alerts — a viewer that
//! saw the old ones would silently skip the new ones. So the state keeps an
//! epoch: kept across a restart only when the previous run ended cleanly
//! with every seq it gave out stored (`clean_through` = the last stored
//! seq), replaced by a new random one otherwise. A viewer resuming with
//! another epoch gets a Reset and a fresh snapshot. A sink without durable
//! state has a new epoch every run.

use rusqlite::{Connection, OptionalExtension};

/// A new random epoch.
pub fn random() -> String {
    crate::hub::random_id()
}

/// The epoch of this run, given the last seq the database holds: the
/// stored one if the previous run ended cleanly at exactly that seq, else a
/// new one (stored). Either way the clean mark is removed until this run
/// ends cleanly in its turn.
pub fn take(conn: &Connection, last_stored: u64) -> rusqlite::Result<String> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let clean = get("clean_through")?.and_then(|v| v.parse::<u64>().ok());
    let epoch = match get("seq_epoch")? {
        Some(e) if clean == Some(last_stored) => e,
        _ => random(),
    };
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| {
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('seq_epoch', ?1)",
            [&epoch],
        )?;
        conn.execute("DELETE FROM meta WHERE key = 'clean_through'", [])?;
        conn.execute_batch("COMMIT")
    })();
    if r.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    r.map(|()| epoch)
}

/// Marks a clean end: every seq given out up to the last stored one is
/// stored, so the next run may keep the epoch.
pub fn mark_clean(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) \
         SELECT 'clean_through', CAST(coalesce(max(seq), 0) AS TEXT) FROM events",
        [],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::state::schema::migrate(&mut c).unwrap();
        // Events without their keys and details rows: only seqs matter here.
        c.pragma_update(None, "foreign_keys", false).unwrap();
        c
    }

    fn add_event(c: &Connection, seq: i64) {
        c.execute(
            "INSERT INTO events (seq, at_ms, key_id, pass, change, details_id) \
             VALUES (?1, 0, 1, 1, 'same', 1)",
            [seq],
        )
        .unwrap();
    }

    #[test]
    fn kept_after_a_clean_end_and_replaced_after_any_other() {
        let c = db();
        let first = take(&c, 0).unwrap();
        add_event(&c, 1);
        add_event(&c, 2);
        mark_clean(&c).unwrap();
        // A clean end at seq 2, restored at seq 2: the same run of seqs.
        assert_eq!(take(&c, 2).unwrap(), first);
        // This run never marked its end clean (kill -9): a new epoch.
        add_event(&c, 3);
        let second = take(&c, 3).unwrap();
        assert_ne!(second, first);
        // A clean mark for other seqs than those restored (the file was
        // changed in between): not trusted.
        mark_clean(&c).unwrap();
        add_event(&c, 4);
        assert_ne!(take(&c, 4).unwrap(), second);
    }
}
