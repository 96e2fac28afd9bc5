//! What did not reach an upstream, as bounded seq ranges per reason: the
//! shutdown report and the `{"kind":"undelivered"}` lines.

use std::collections::BTreeMap;

/// Distinct seq ranges kept per reason for the undelivered report; beyond
/// this the seqs are only counted (`unlisted`).
pub const MAX_RANGES: usize = 100_000;

/// Seqs as inclusive ranges, bounded; seqs beyond the bound are counted.
#[derive(Debug, Default, Clone)]
pub struct SeqRanges {
    ranges: BTreeMap<u64, u64>,
    count: u64,
    unlisted: u64,
}

impl SeqRanges {
    pub fn insert_range(&mut self, first: u64, last: u64) {
        if last < first {
            return;
        }
        self.count += last - first + 1;
        // Merge with a range ending right before `first` or overlapping it.
        let mut start = first;
        let mut end = last;
        if let Some((&s, &e)) = self.ranges.range(..=first).next_back()
            && e.saturating_add(1) >= first
        {
            start = s;
            end = end.max(e);
            self.ranges.remove(&s);
        }
        while let Some((&s, &e)) = self.ranges.range(start..).next() {
            if s > end.saturating_add(1) {
                break;
            }
            end = end.max(e);
            self.ranges.remove(&s);
        }
        if self.ranges.len() >= MAX_RANGES && !self.ranges.contains_key(&start) {
            // Keep the list bounded: the seqs are counted, not listed.
            self.unlisted += end - start + 1;
            return;
        }
        self.ranges.insert(start, end);
    }

    pub fn insert(&mut self, seq: u64) {
        self.insert_range(seq, seq);
    }

    /// Number of seqs inserted (listed or not).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Seqs counted but not listed (the range list was full).
    pub fn unlisted(&self) -> u64 {
        self.unlisted
    }

    /// Inclusive `(first, last)` ranges in seq order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|(&s, &e)| (s, e)).collect()
    }

    pub fn from_seqs(seqs: impl IntoIterator<Item = u64>) -> SeqRanges {
        let mut r = SeqRanges::default();
        for s in seqs {
            r.insert(s);
        }
        r
    }
}

/// What was not delivered to one upstream, exactly, at the end of a run.
#[derive(Clone, Debug, Default)]
pub struct Undelivered {
    pub url: String,
    /// Never sent: the queue was full or the forwarder fell behind.
    pub dropped: SeqRanges,
    /// The upstream refused them or retries ran out.
    pub failed: SeqRanges,
    /// Still queued when the grace period ended (never sent).
    pub queued: SeqRanges,
    /// Being sent when the grace period ended: the upstream may or may not
    /// have received them.
    pub in_flight: SeqRanges,
}

impl Undelivered {
    pub fn count(&self) -> u64 {
        self.dropped.count() + self.failed.count() + self.queued.count() + self.in_flight.count()
    }

    /// `{"kind":"undelivered",…}` lines, one per non-empty reason, for the
    /// record file: `{"kind":"undelivered","upstream":URL,"reason":"dropped",
    /// "count":N,"ranges":[[first,last],…],"unlisted":0}` (inclusive ranges).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        [
            ("dropped", &self.dropped),
            ("failed", &self.failed),
            ("queued", &self.queued),
            ("in_flight", &self.in_flight),
        ]
        .into_iter()
        .filter(|(_, r)| r.count() > 0)
        .map(|(reason, r)| {
            serde_json::json!({
                "kind": "undelivered",
                "upstream": self.url,
                "reason": reason,
                "count": r.count(),
                "ranges": r.ranges().into_iter().map(|(a, b)| [a, b]).collect::<Vec<_>>(),
                "unlisted": r.unlisted(),
            })
        })
        .collect()
    }

    /// Every listed seq (expands the ranges; for tests and small reports).
    pub fn seqs(&self) -> Vec<u64> {
        let mut all: Vec<u64> = [&self.dropped, &self.failed, &self.queued, &self.in_flight]
            .into_iter()
            .flat_map(|r| r.ranges())
            .flat_map(|(a, b)| a..=b)
            .collect();
        all.sort_unstable();
        all
    }
}
