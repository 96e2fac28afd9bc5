//! One key's older alerts, read back from the database for the TUI's
//! timeline (`t`): the history ring holds minutes to hours, the database
//! days. Read through a read-only connection of its own, so the writer is
//! never blocked (WAL), and meant to run on a thread of its own: the UI
//! thread and the ingest path never wait on it.
//!
//! Bounded: at most [`MAX_ALERTS`] alerts (the newest before the given seq)
//! and [`MAX_TEXT_BYTES`] of distinct details texts; what is left out is
//! counted in the answer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::OptionalExtension;

use crate::model::timeline::Alert;

/// Most alerts read for one key.
pub const MAX_ALERTS: usize = 20_000;
/// Most bytes of distinct details texts read for one key.
pub const MAX_TEXT_BYTES: usize = 16 << 20;
/// Shown for a failure whose text was over [`MAX_TEXT_BYTES`].
pub const TEXT_NOT_LOADED: &str =
    "(details not loaded: the timeline reads at most 16 MiB of texts)";

/// What the database holds for one key before a seq.
#[derive(Debug, Default)]
pub struct KeyHistory {
    /// Oldest first.
    pub alerts: Vec<Alert>,
    /// Older alerts of the key left out at [`MAX_ALERTS`].
    pub more: u64,
    /// Texts left out at [`MAX_TEXT_BYTES`].
    pub texts_left_out: u64,
}

/// The key's alerts with `seq < before` (newest [`MAX_ALERTS`] of them).
/// An error is one line naming the file.
pub fn key_history(
    path: &Path,
    (owner, repo, policy): (&str, &str, &str),
    before: u64,
) -> Result<KeyHistory, String> {
    let name = path.display();
    let err = |e: rusqlite::Error| format!("state {name}: {}", super::cause(&e));
    let conn = super::open_read_only(path).map_err(err)?;
    super::schema::check_ours(&conn).map_err(|e| format!("state {name}: {e}"))?;
    if super::schema::version(&conn).map_err(err)? == 0 {
        return Ok(KeyHistory::default());
    }
    let key: Option<i64> = conn
        .query_row(
            "SELECT id FROM keys WHERE owner = ?1 AND repo = ?2 AND policy = ?3",
            (owner, repo, policy),
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    let Some(key) = key else {
        return Ok(KeyHistory::default());
    };
    let before = i64::try_from(before).unwrap_or(i64::MAX);
    // Newest first with a LIMIT: a walk of the (key_id, seq) index.
    let mut q = conn
        .prepare(
            "SELECT seq, at_ms, pass, details_id FROM events \
             WHERE key_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        )
        .map_err(err)?;
    let mut rows = q.query((key, before, MAX_ALERTS as i64)).map_err(err)?;
    let mut out = KeyHistory::default();
    let mut texts: HashMap<i64, Arc<str>> = HashMap::new();
    let mut text_bytes = 0usize;
    let empty: Arc<str> = Arc::from("");
    let left_out: Arc<str> = Arc::from(TEXT_NOT_LOADED);
    let mut text_q = conn
        .prepare("SELECT text FROM details WHERE id = ?1")
        .map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let seq: i64 = r.get(0).map_err(err)?;
        let at_ms: i64 = r.get(1).map_err(err)?;
        let pass: bool = r.get(2).map_err(err)?;
        let id: i64 = r.get(3).map_err(err)?;
        let details = match texts.get(&id) {
            Some(t) => t.clone(),
            None => {
                let len: Option<i64> = conn
                    .query_row(
                        "SELECT length(CAST(text AS BLOB)) FROM details WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(err)?;
                let len = len.unwrap_or(0).max(0) as usize;
                let t = if len == 0 {
                    empty.clone()
                } else if text_bytes + len > MAX_TEXT_BYTES {
                    out.texts_left_out += 1;
                    left_out.clone()
                } else {
                    text_bytes += len;
                    let s: Option<String> = text_q
                        .query_row([id], |r| r.get(0))
                        .optional()
                        .map_err(err)?;
                    s.map_or_else(|| empty.clone(), Arc::from)
                };
                texts.insert(id, t.clone());
                t
            }
        };
        out.alerts.push(Alert {
            seq: seq.max(0) as u64,
            at_ms: at_ms.max(0) as u64,
            pass,
            details,
        });
    }
    drop(rows);
    drop(q);
    out.alerts.reverse();
    if out.alerts.len() == MAX_ALERTS {
        let oldest = out.alerts[0].seq as i64;
        let older: i64 = conn
            .query_row(
                "SELECT count(*) FROM events WHERE key_id = ?1 AND seq < ?2",
                (key, oldest),
                |r| r.get(0),
            )
            .map_err(err)?;
        out.more = older.max(0) as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("s.db");
        let mut c = rusqlite::Connection::open(&path).unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO details (id, hash, text) VALUES (1, 0, ''), (2, 0, 'one\ntwo\n'), \
                 (3, 0, 'one\nthree\n');
             INSERT INTO keys VALUES (1, 'o', 'r', 'p', 0, 'same', 0, 0, 0, 5, 1, 1, 5, 3, NULL);
             INSERT INTO keys VALUES (2, 'o', 'other', 'p', 1, 'same', 0, 0, 0, 1, 0, 0, 6, 1, NULL);
             INSERT INTO events VALUES (1, 1000, 1, 0, 'first', 2, NULL), \
                 (2, 2000, 1, 0, 'same', 2, NULL), (3, 3000, 1, 1, 'fixed', 1, NULL), \
                 (4, 4000, 1, 0, 'regressed', 3, NULL), (5, 5000, 1, 0, 'same', 3, NULL), \
                 (6, 6000, 2, 1, 'first', 1, NULL);",
        )
        .unwrap();
        path
    }

    #[test]
    fn reads_one_keys_alerts_before_a_seq_oldest_first_sharing_texts() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(dir.path());
        let h = key_history(&path, ("o", "r", "p"), 5).unwrap();
        let got: Vec<(u64, u64, bool, &str)> = h
            .alerts
            .iter()
            .map(|a| (a.seq, a.at_ms, a.pass, &*a.details))
            .collect();
        assert_eq!(
            got,
            [
                (1, 1000, false, "one\ntwo\n"),
                (2, 2000, false, "one\ntwo\n"),
                (3, 3000, true, ""),
                (4, 4000, false, "one\nthree\n"),
            ]
        );
        assert!(Arc::ptr_eq(&h.alerts[0].details, &h.alerts[1].details));
        assert_eq!((h.more, h.texts_left_out), (0, 0));
        let none = key_history(&path, ("o", "nope", "p"), u64::MAX).unwrap();
        assert!(none.alerts.is_empty());
    }

    #[test]
    fn a_restored_ring_links_each_keys_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(dir.path());
        let conn = super::super::open_read_only(&path).unwrap();
        let (store, _) =
            super::super::restore::restore(&conn, crate::model::StoreLimits::default()).unwrap();
        let k = store.key_id("o", "r", "p").unwrap();
        let seqs: Vec<u64> = store.key_events(k, 0).map(|e| e.seq).collect();
        assert_eq!(seqs, [5, 4, 3, 2, 1]);
        // What the fix at #3 replaced: the failure at #2.
        assert_eq!(store.prev_event(3).map(|e| e.seq), Some(2));
    }

    /// A file missing some seqs (a killed run lost them) restores a ring
    /// with holes: looking an event up by seq finds that one or none, never
    /// its neighbour (before, seq 4 found seq 6's event: Details showed
    /// another alert).
    #[test]
    fn a_ring_restored_with_holes_finds_each_event_by_its_own_seq() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(dir.path());
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM events WHERE seq IN (2, 3)", [])
            .unwrap();
        let conn = super::super::open_read_only(&path).unwrap();
        let (store, restored) =
            super::super::restore::restore(&conn, crate::model::StoreLimits::default()).unwrap();
        // Said at start: two missing, seqs 2 to 3.
        assert_eq!(restored.missing, Some((2, 2, 3)));
        let found: Vec<Option<u64>> = (0..=7).map(|s| store.event(s).map(|e| e.seq)).collect();
        assert_eq!(
            found,
            [None, Some(1), None, None, Some(4), Some(5), Some(6), None]
        );
        let k = store.key_id("o", "r", "p").unwrap();
        let seqs: Vec<u64> = store.key_events(k, 0).map(|e| e.seq).collect();
        assert_eq!(seqs, [5, 4, 1]);
        assert_eq!(
            store
                .records_between(1, 7)
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>(),
            [1, 4, 5, 6]
        );
    }

    /// What retention prunes (every event below its frontier but each
    /// key's latest) is not reported missing; a hole above it is.
    #[test]
    fn only_holes_retention_did_not_make_are_reported_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(dir.path());
        let rw = rusqlite::Connection::open(&path).unwrap();
        let restore = || {
            let conn = super::super::open_read_only(&path).unwrap();
            super::super::restore::restore(&conn, crate::model::StoreLimits::default())
                .unwrap()
                .1
                .missing
        };
        assert_eq!(restore(), None);
        rw.execute("DELETE FROM events WHERE seq IN (1, 2)", [])
            .unwrap();
        assert_eq!(restore(), None, "pruned, not missing");
        rw.execute("DELETE FROM events WHERE seq = 4", []).unwrap();
        assert_eq!(restore(), Some((1, 4, 4)));
    }

    #[test]
    fn a_missing_or_foreign_file_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.db");
        let e = key_history(&missing, ("o", "r", "p"), 1).unwrap_err();
        assert!(
            e.starts_with(&format!("state {}", missing.display())),
            "{e}"
        );
        let other = dir.path().join("other.db");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = key_history(&other, ("o", "r", "p"), 1).unwrap_err();
        assert!(e.contains("not a sinkwatch state database"), "{e}");
    }
}
