//! A key's timeline: its alerts grouped into pass and fail runs (with flips,
//! so flapping shows), and the changes of its failure details between
//! consecutive failures as line diffs.
//!
//! Pure: the alerts come in (from the history ring, and older ones from the
//! durable state), runs and diffs come out. Built once when the timeline is
//! opened and then extended alert by alert ([`Timeline::push`]), so keeping
//! it current costs O(new alerts of the key).

use std::sync::Arc;

use similar::{ChangeTag, TextDiff};

/// Most alerts a timeline keeps; past it the oldest go (and are counted).
pub const MAX_ALERTS: usize = 100_000;
/// Diffs are computed on at most this many lines per side; longer texts
/// are compared as "changed" without the line-by-line diff (Myers' cost
/// grows with the product of the sizes in the worst case).
pub const MAX_DIFF_LINES: usize = 2_000;
/// Lines of unchanged context kept around each change of a diff.
pub const DIFF_CONTEXT: usize = 2;

/// One alert of the key.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub pass: bool,
    pub details: Arc<str>,
}

/// A run of consecutive alerts with the same status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub pass: bool,
    /// Position of its first alert in [`Timeline::alerts`].
    pub first: usize,
    /// Alerts in the run (at least one).
    pub len: usize,
    pub start_ms: u64,
    /// Time of its last alert.
    pub last_ms: u64,
    /// Failures in the run whose details differ from the failure before
    /// (within the run or before it).
    pub changes: usize,
}

impl Run {
    /// Positions of its alerts in [`Timeline::alerts`].
    pub fn range(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.len
    }
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    alerts: Vec<Alert>,
    runs: Vec<Run>,
    /// Positions of the failures whose details differ from the previous
    /// failure's (not the first failure ever).
    changes: Vec<usize>,
    /// Position of the latest failure.
    last_failure: Option<usize>,
    /// Alerts dropped at [`MAX_ALERTS`].
    dropped: u64,
}

impl Timeline {
    /// A timeline of `alerts` in any order; duplicates (same seq) count once.
    pub fn from_alerts(alerts: impl IntoIterator<Item = Alert>) -> Timeline {
        let mut v: Vec<Alert> = alerts.into_iter().collect();
        v.sort_by_key(|a| a.seq);
        v.dedup_by_key(|a| a.seq);
        let mut t = Timeline::default();
        for a in v {
            t.push(a);
        }
        t
    }

    /// Appends a newer alert. An alert not newer than the last one is
    /// ignored (false): the timeline stays in seq order, each alert once.
    pub fn push(&mut self, a: Alert) -> bool {
        if self.alerts.last().is_some_and(|l| l.seq >= a.seq) {
            return false;
        }
        if self.alerts.len() >= MAX_ALERTS {
            // Drop a tenth at once: the rebuild is O(n), so amortised O(1).
            let drop = MAX_ALERTS / 10;
            let rest = self.alerts.split_off(drop);
            self.dropped += drop as u64;
            let dropped = self.dropped;
            *self = Timeline::default();
            self.dropped = dropped;
            for old in rest {
                self.push(old);
            }
        }
        let pos = self.alerts.len();
        let changed = !a.pass
            && self
                .last_failure
                .is_some_and(|f| !same_text(&self.alerts[f].details, &a.details));
        match self.runs.last_mut() {
            Some(r) if r.pass == a.pass => {
                r.len += 1;
                r.last_ms = a.at_ms;
            }
            _ => self.runs.push(Run {
                pass: a.pass,
                first: pos,
                len: 1,
                start_ms: a.at_ms,
                last_ms: a.at_ms,
                changes: 0,
            }),
        }
        if changed {
            self.changes.push(pos);
            if let Some(r) = self.runs.last_mut() {
                r.changes += 1;
            }
        }
        if !a.pass {
            self.last_failure = Some(pos);
        }
        self.alerts.push(a);
        true
    }

    /// Adds alerts older than the ones held (from the durable state): the
    /// timeline is rebuilt once; duplicates of held alerts count once.
    pub fn merge(&mut self, older: impl IntoIterator<Item = Alert>) {
        let dropped = self.dropped;
        let all = std::mem::take(&mut self.alerts);
        *self = Timeline::from_alerts(older.into_iter().chain(all));
        self.dropped += dropped;
    }

    /// The alerts, oldest first.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The runs, oldest first; together they cover every alert once, in order.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Status flips (pass → fail and fail → pass) among the alerts held.
    pub fn flips(&self) -> usize {
        self.runs.len().saturating_sub(1)
    }

    /// Flips at or after `since_ms`.
    pub fn flips_since(&self, since_ms: u64) -> usize {
        self.runs
            .iter()
            .skip(1)
            .rev()
            .take_while(|r| r.start_ms >= since_ms)
            .count()
    }

    /// Positions of the failures whose details changed from the failure
    /// before them, oldest first.
    pub fn changes(&self) -> &[usize] {
        &self.changes
    }

    /// Alerts dropped at [`MAX_ALERTS`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// How long run `i` lasted: until the next run started, or until `now_ms`
    /// for the latest run.
    pub fn duration_ms(&self, i: usize, now_ms: u64) -> u64 {
        let Some(r) = self.runs.get(i) else {
            return 0;
        };
        let end = self
            .runs
            .get(i + 1)
            .map_or(now_ms.max(r.last_ms), |n| n.start_ms);
        end.saturating_sub(r.start_ms)
    }

    /// The failure before position `pos` (skipping passes), if held.
    pub fn failure_before(&self, pos: usize) -> Option<usize> {
        self.alerts[..pos.min(self.alerts.len())]
            .iter()
            .rposition(|a| !a.pass)
    }

    /// The statuses of the last `n` alerts, oldest first (the run strip).
    pub fn strip(&self, n: usize) -> impl Iterator<Item = bool> + '_ {
        let from = self.alerts.len().saturating_sub(n);
        self.alerts[from..].iter().map(|a| a.pass)
    }
}

/// Same text, cheaply when shared: the store hands a key's repeated
/// details out as one allocation.
fn same_text(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// What a line of a diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Removed,
    Added,
    /// Unchanged lines left out between two hunks.
    Gap,
}

/// One line of a diff (without its line ending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub text: String,
}

/// A line diff of two details texts, with [`DIFF_CONTEXT`] lines around
/// each change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub lines: Vec<DiffLine>,
    pub added: usize,
    pub removed: usize,
    /// The texts were too long for a line diff ([`MAX_DIFF_LINES`]).
    pub too_long: bool,
}

/// The line diff from `old` to `new`.
pub fn line_diff(old: &str, new: &str) -> Diff {
    if old.lines().count() > MAX_DIFF_LINES || new.lines().count() > MAX_DIFF_LINES {
        return Diff {
            too_long: true,
            ..Diff::default()
        };
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = Diff::default();
    for (i, group) in diff.grouped_ops(DIFF_CONTEXT).iter().enumerate() {
        if i > 0 {
            out.lines.push(DiffLine {
                kind: LineKind::Gap,
                text: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Same,
                    ChangeTag::Delete => {
                        out.removed += 1;
                        LineKind::Removed
                    }
                    ChangeTag::Insert => {
                        out.added += 1;
                        LineKind::Added
                    }
                };
                let text = change.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                out.lines.push(DiffLine {
                    kind,
                    text: text.to_owned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
