//! Reading older events for the rollout screen: the events of the last
//! days that the in-memory history no longer holds, streamed from a
//! read-only connection on the caller's (blocking) thread in bounded
//! batches, so the UI takes them in a little per frame and never waits on
//! the database. The read is one read transaction: in WAL mode the writer
//! goes on beside it (the log is only checkpointed past it once it ends),
//! and it ends as fast as the UI takes the batches in.

use std::path::Path;
use std::sync::mpsc::SyncSender;

use crate::model::Change;

/// One row of the stream. A key's names come once, before its first event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Older {
    Key {
        id: i64,
        owner: String,
        repo: String,
        policy: String,
    },
    Event {
        seq: u64,
        at_ms: u64,
        key: i64,
        pass: bool,
        change: Change,
    },
}

/// A batch of rows, or why reading stopped.
pub type OlderBatch = Result<Vec<Older>, String>;

/// Sends the events with `seq < before_seq` and `at_ms >= since_ms`, in seq
/// order, in batches of `batch` rows through `tx` (bounded: this blocks
/// while the receiver is behind). Returns when done, on an error (sent as
/// the last batch), or when the receiver is gone.
pub fn read_older(
    path: &Path,
    before_seq: u64,
    since_ms: u64,
    batch: usize,
    tx: &SyncSender<OlderBatch>,
) {
    if let Err(e) = stream(path, before_seq, since_ms, batch.max(1), tx) {
        let _ = tx.send(Err(format!(
            "state {}: {}",
            path.display(),
            super::cause(&e)
        )));
    }
}

fn stream(
    path: &Path,
    before_seq: u64,
    since_ms: u64,
    batch: usize,
    tx: &SyncSender<OlderBatch>,
) -> rusqlite::Result<()> {
    let conn = super::open_read_only(path)?;
    // Where the window starts, by a search over seq (src/state/seek.rs);
    // then a range of the primary key, filtered on the time.
    let Some(first) = super::seek::first_seq_since(&conn, since_ms as i64)? else {
        return Ok(());
    };
    let mut names = conn.prepare("SELECT owner, repo, policy FROM keys WHERE id = ?1")?;
    let mut q = conn.prepare(
        "SELECT seq, at_ms, key_id, pass, change FROM events \
         WHERE seq >= ?1 AND seq < ?2 AND at_ms >= ?3 ORDER BY seq",
    )?;
    let mut rows = q.query([first, before_seq as i64, since_ms as i64])?;
    let mut known = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(batch);
    while let Some(r) = rows.next()? {
        let key: i64 = r.get(2)?;
        if known.insert(key) {
            let (owner, repo, policy) =
                names.query_row([key], |n| Ok((n.get(0)?, n.get(1)?, n.get(2)?)))?;
            out.push(Older::Key {
                id: key,
                owner,
                repo,
                policy,
            });
        }
        let change: String = r.get(4)?;
        out.push(Older::Event {
            seq: r.get::<_, i64>(0)? as u64,
            at_ms: r.get::<_, i64>(1)? as u64,
            key,
            pass: r.get::<_, i64>(3)? != 0,
            change: Change::parse(&change).unwrap_or(Change::Same),
        });
        if out.len() >= batch && tx.send(Ok(std::mem::take(&mut out))).is_err() {
            return Ok(());
        }
    }
    if !out.is_empty() {
        let _ = tx.send(Ok(out));
    }
    Ok(())
}
