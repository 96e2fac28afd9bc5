//! Where a time window starts in `events`, without an index on `at_ms`.
//!
//! Migration 2 dropped that index: it cost every stored alert one more
//! b-tree insert. Events are stored in arrival order and `at_ms` is the
//! arrival time, so `at_ms` grows with `seq` — up to the few milliseconds by
//! which concurrent ingests can take their timestamps out of `seq` order,
//! and except across a step of the wall clock. A binary search over `seq`
//! (primary-key lookups) therefore finds a window's first event in about
//! log2(n) steps, where `WHERE at_ms >= ?` scanned the whole table: on a
//! month-long file, seconds for `export --since 1h` and for the rollout
//! screen's look at the week before memory.

use rusqlite::Connection;

/// How far before the window the search aims, for timestamps taken out of
/// `seq` order by concurrent ingests. Callers still filter on
/// `at_ms >= since`, so the slack only costs reading a few more rows.
pub const SLACK_MS: i64 = 1_000;

/// A `seq` such that no event before it has `at_ms >= since_ms` (given
/// arrival-ordered times, within [`SLACK_MS`]): read from it on with
/// `seq >= ?` and filter on `at_ms`. `None` when the newest event is older
/// than the window by more than the slack.
/// A wall clock stepped back by more than the slack can hide the events
/// stored before the step from a window that starts after it.
pub fn first_seq_since(conn: &Connection, since_ms: i64) -> rusqlite::Result<Option<i64>> {
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut lo), Some(mut hi)) = (first, last) else {
        return Ok(None);
    };
    // The first event at or after a seq (seqs have gaps: pruned or lost).
    let mut at =
        conn.prepare_cached("SELECT seq, at_ms FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    let mut event_from =
        |seq: i64| at.query_row([seq], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)));
    let target = since_ms.saturating_sub(SLACK_MS);
    if event_from(hi)?.1 < target {
        return Ok(None);
    }
    // The answer is the first event at or after `lo`; every event before
    // `lo` is older than `target`, and the event at or after `hi` is not.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (seq, at_ms) = event_from(mid)?;
        if at_ms >= target {
            hi = mid;
        } else {
            lo = seq + 1;
        }
    }
    Ok(Some(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(times: &[(i64, i64)]) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::state::schema::migrate(&mut c).unwrap();
        // Only the events matter here: no key or details rows behind them.
        c.pragma_update(None, "foreign_keys", false).unwrap();
        let tx = c.transaction().unwrap();
        for (seq, at) in times {
            tx.execute(
                "INSERT INTO events (seq, at_ms, key_id, pass, change, details_id) \
                 VALUES (?1, ?2, 1, 1, 'same', 1)",
                [seq, at],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        c
    }

    /// What the search stands in for: the events of the window, by a scan.
    fn window(c: &Connection, since: i64) -> Vec<i64> {
        let mut q = c
            .prepare("SELECT seq FROM events WHERE at_ms >= ?1 ORDER BY seq")
            .unwrap();
        q.query_map([since], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn from(c: &Connection, start: Option<i64>, since: i64) -> Vec<i64> {
        let Some(start) = start else {
            return Vec::new();
        };
        let mut q = c
            .prepare("SELECT seq FROM events WHERE seq >= ?1 AND at_ms >= ?2 ORDER BY seq")
            .unwrap();
        q.query_map([start, since], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn an_empty_table_has_no_window() {
        let c = events(&[]);
        assert_eq!(first_seq_since(&c, 0).unwrap(), None);
    }

    /// Seqs with gaps (pruned, lost), several events per millisecond, and
    /// timestamps up to 50 ms out of seq order (concurrent ingests): every
    /// window read from the found seq on is the window a full scan finds.
    #[test]
    fn the_window_from_the_found_seq_is_the_scanned_window() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..40 {
            let mut times = Vec::new();
            let (mut seq, mut at) = (rng.i64(1..100), rng.i64(0..10_000));
            for _ in 0..rng.usize(1..400) {
                times.push((seq, at + rng.i64(-50..=0)));
                seq += if rng.u8(..) < 20 { rng.i64(2..500) } else { 1 };
                at += rng.i64(0..40);
            }
            let c = events(&times);
            let lo = times.first().unwrap().1 - 100;
            let hi = times.last().unwrap().1 + 100;
            for _ in 0..50 {
                let since = rng.i64(lo..hi);
                let start = first_seq_since(&c, since).unwrap();
                assert_eq!(from(&c, start, since), window(&c, since), "since {since}");
            }
            assert_eq!(
                first_seq_since(&c, hi + SLACK_MS).unwrap(),
                None,
                "nothing that recent"
            );
        }
    }

    /// The search aims [`SLACK_MS`] before the window, no further: on a
    /// table with an event every 10 ms, 100 events before it.
    #[test]
    fn the_search_starts_one_slack_before_the_window() {
        let times: Vec<(i64, i64)> = (1..=100_000).map(|s| (s, s * 10)).collect();
        let c = events(&times);
        assert_eq!(first_seq_since(&c, 700_000).unwrap(), Some(69_900));
        assert_eq!(first_seq_since(&c, 0).unwrap(), Some(1));
        assert_eq!(first_seq_since(&c, 1_000_000).unwrap(), Some(99_900));
        assert_eq!(first_seq_since(&c, 1_001_000).unwrap(), Some(100_000));
        assert_eq!(first_seq_since(&c, 1_001_001).unwrap(), None);
    }
}
