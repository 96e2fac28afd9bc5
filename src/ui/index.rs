//! What the current filter, narrowing and failing-only select, kept
//! incrementally so that a frame never walks the whole history.
//!
//! An [`Index`] belongs to one [`Matcher`]. It holds:
//! - a per-key cache of the key-only part of the match (`org:`, `repo:`,
//!   `policy:` terms and the narrowing), computed once per key;
//! - the ascending seqs of matching events still in the history ring;
//! - the matching transitions still in the transitions ring.
//!
//! [`Index::sync`] brings it up to date with the store: new events (after
//! the last sync) are always scanned at once; events that fell out of the
//! ring are dropped from the front. A fresh index (new filter) scans the
//! existing history *backwards from the newest* in budgeted chunks, so the
//! visible (newest) rows are right after the first chunk and the lock is
//! never held for long; [`Index::complete`] says when it is done. When the
//! matcher selects everything, no seqs are stored at all: the index is the
//! range of seqs in the ring.
//!
//! Filters with `age` terms depend on the clock; the app rebuilds their
//! index every few seconds (see [`Matcher::age_sensitive`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::model::filter::{AlertView, Filter};
use crate::model::silence::Silences;
use crate::model::store::{Event, KeyId, KeyState, OrgId, PolicyId, RepoId, Transition};
use crate::model::{Change, Store};

/// One level of drill-down, in the order the user applied them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Org(OrgId),
    /// A repo (which implies its org).
    Repo {
        repo: RepoId,
        org: OrgId,
    },
    Policy(PolicyId),
}

/// The group levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Org,
    Repo,
    Policy,
}

/// The effective narrowing of a list of steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub org: Option<OrgId>,
    pub repo: Option<RepoId>,
    pub policy: Option<PolicyId>,
}

impl Narrowing {
    pub fn from_steps(steps: &[Step]) -> Narrowing {
        let mut n = Narrowing::default();
        for s in steps {
            match *s {
                Step::Org(o) => n.org = Some(o),
                Step::Repo { repo, org } => {
                    n.repo = Some(repo);
                    n.org = Some(org);
                }
                Step::Policy(p) => n.policy = Some(p),
            }
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.org.is_none() && self.repo.is_none() && self.policy.is_none()
    }

    pub fn admits(&self, k: &KeyState) -> bool {
        self.org.is_none_or(|o| k.org == o)
            && self.repo.is_none_or(|r| k.repo == r)
            && self.policy.is_none_or(|p| k.policy == p)
    }

    /// The narrowing a group pane applies to itself: everything but its own
    /// level (the Orgs pane also ignores the repo, which implies an org), so
    /// the pane still offers the alternatives at its level.
    pub fn for_level(&self, level: Level) -> Narrowing {
        match level {
            Level::Org => Narrowing {
                org: None,
                repo: None,
                policy: self.policy,
            },
            Level::Repo => Narrowing {
                repo: None,
                ..*self
            },
            Level::Policy => Narrowing {
                policy: None,
                ..*self
            },
        }
    }
}

/// Cached text-term verdicts of one key: for its alerts without details
/// (most passing checks) and for the last details text seen.
#[derive(Clone, Debug, Default)]
struct TextVerdicts {
    empty: Option<bool>,
    last: Option<(Arc<str>, bool)>,
}

/// Everything that decides whether an alert is shown.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    pub filter: Filter,
    pub narrow: Narrowing,
    pub failing_only: bool,
    /// Per key, the last details text the filter's text terms were judged
    /// on and the verdict. A key's alerts share one details allocation while
    /// the text is unchanged, so a re-filter of a million alerts runs the
    /// words and regexes about once per (key, details) instead of once per
    /// alert. Holding the Arc keeps its address from being reused, which
    /// makes the pointer comparison sound.
    text_cache: RefCell<Vec<TextVerdicts>>,
    /// `i`: failing alerts the silences (active at that time) cover are
    /// left out; see `ui/state/silences.rs`.
    hide: Option<(Arc<Silences>, u64)>,
}

impl Matcher {
    pub fn new(filter: Filter, narrow: Narrowing, failing_only: bool) -> Matcher {
        Matcher {
            filter,
            narrow,
            failing_only,
            text_cache: RefCell::default(),
            hide: None,
        }
    }

    /// Leaves out what these silences silence at that time.
    pub fn hiding(mut self, hide: Option<(Arc<Silences>, u64)>) -> Matcher {
        self.hide = hide.filter(|(s, now)| s.active(*now).next().is_some());
        self
    }

    /// True when nothing is excluded.
    pub fn everything(&self) -> bool {
        self.filter.is_empty()
            && self.narrow.is_empty()
            && !self.failing_only
            && self.hide.is_none()
    }

    pub fn same_as(&self, other: &Matcher) -> bool {
        let hide = |m: &Matcher| m.hide.as_ref().map(|(s, now)| (s.version(), *now));
        self.filter.source() == other.filter.source()
            && self.narrow == other.narrow
            && self.failing_only == other.failing_only
            && hide(self) == hide(other)
    }

    /// True when a hidden silence covers the alert.
    fn hidden(&self, store: &Store, key: KeyId, pass: bool, change: Change, details: &str) -> bool {
        match &self.hide {
            Some((set, now)) if !pass => {
                let (o, r, p) = store.key_names(key);
                set.silencing_parts((o, r, p), details, pass, change, *now)
                    .is_some()
            }
            _ => false,
        }
    }

    /// True if the filter has `age` terms, whose result changes with time.
    pub fn age_sensitive(&self) -> bool {
        mentions_age(self.filter.source())
    }

    /// The key-only part: filter key terms and narrowing.
    pub fn key_ok(&self, store: &Store, key: KeyId) -> bool {
        let k = &store.keys()[key as usize];
        self.narrow.admits(k) && {
            let (o, r, p) = store.key_names(key);
            self.filter.matches_key(o, r, p)
        }
    }

    /// The rest, for an alert of `key` whose key part already matched.
    pub fn alert_ok(
        &self,
        store: &Store,
        key: KeyId,
        pass: bool,
        change: Change,
        details: &Arc<str>,
        age_ms: u64,
    ) -> bool {
        if self.failing_only && pass {
            return false;
        }
        self.attrs_ok(store, key, pass, change, details, age_ms)
    }

    /// [`Matcher::alert_ok`] without failing-only.
    fn attrs_ok(
        &self,
        store: &Store,
        key: KeyId,
        pass: bool,
        change: Change,
        details: &Arc<str>,
        age_ms: u64,
    ) -> bool {
        if !self.filter.has_event_terms() {
            return true;
        }
        let (owner, repo, policy) = store.key_names(key);
        let view = AlertView {
            owner,
            repo,
            policy,
            details,
            pass,
            change,
            age_ms,
        };
        if !self.filter.matches_attrs(&view) {
            return false;
        }
        if !self.filter.uses_details() {
            return true;
        }
        let mut cache = self.text_cache.borrow_mut();
        let slot = key as usize;
        if cache.len() <= slot {
            cache.resize(slot + 1, TextVerdicts::default());
        }
        let entry = &mut cache[slot];
        if details.is_empty() {
            return *entry
                .empty
                .get_or_insert_with(|| self.filter.matches_text(&view));
        }
        if let Some((seen, verdict)) = &entry.last
            && Arc::ptr_eq(seen, details)
        {
            return *verdict;
        }
        let verdict = self.filter.matches_text(&view);
        entry.last = Some((details.clone(), verdict));
        verdict
    }

    pub fn event_ok(&self, store: &Store, e: &Event, now_ms: u64) -> bool {
        let age = now_ms.saturating_sub(e.at_ms);
        self.alert_ok(store, e.key, e.pass, e.change, &e.details, age)
            && !self.hidden(store, e.key, e.pass, e.change, &e.details)
    }

    /// A key by its latest status (age: since it was last seen).
    pub fn latest_ok(&self, store: &Store, key: KeyId, now_ms: u64) -> bool {
        let k = &store.keys()[key as usize];
        self.alert_ok(
            store,
            key,
            k.pass,
            k.change,
            &k.details,
            now_ms.saturating_sub(k.last_seen_ms),
        ) && !self.hidden(store, key, k.pass, k.change, &k.details)
    }

    /// A transition; judged by its event when still in the ring, else by
    /// the key's latest details. Failing-only (`f`) does not apply: it
    /// narrows alerts and the group panes, while Transitions keeps counting
    /// regressions *and* fixes (a fix is news in a failing-only view).
    pub fn transition_ok(&self, store: &Store, t: &Transition, now_ms: u64) -> bool {
        let details = match store.event(t.seq) {
            Some(e) => &e.details,
            None => &store.keys()[t.key as usize].details,
        };
        let pass = t.change != Change::Regressed;
        self.attrs_ok(
            store,
            t.key,
            pass,
            t.change,
            details,
            now_ms.saturating_sub(t.at_ms),
        ) && !self.hidden(store, t.key, pass, t.change, details)
    }
}

/// Whether a filter source has an `age` comparison term (`age<15m`,
/// `-age>=2d`). Approximate on purpose (quotes are not parsed): a false
/// positive only costs a periodic rescan.
pub fn mentions_age(source: &str) -> bool {
    source.split_whitespace().any(|t| {
        let t = t.trim_start_matches(['-', '(']);
        t.get(..3).is_some_and(|a| a.eq_ignore_ascii_case("age"))
            && matches!(t.as_bytes().get(3), Some(b'<' | b'>' | b'='))
    })
}

/// A list of seqs, ascending, that the panes page through newest first.
pub trait SeqList {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `i`-th seq, ascending.
    fn seq_at(&self, i: usize) -> u64;
    /// How many seqs are `<= seq`.
    fn count_le(&self, seq: u64) -> usize;
}

/// See the module docs.
#[derive(Debug)]
pub struct Index {
    matcher: Matcher,
    everything: bool,
    key_ok: Vec<bool>,
    /// Matching seqs, ascending (empty when `everything`).
    seqs: VecDeque<u64>,
    /// First seq in the ring at the last sync.
    front: u64,
    /// Seqs `< fwd` were seen by the forward scan (== store next_seq).
    fwd: u64,
    /// Seqs in `[back, fwd)` are scanned; `[front, back)` are not yet.
    back: u64,
    started: bool,
    transitions: VecDeque<Transition>,
    /// Transitions with seq `< t_next` were scanned.
    t_next: u64,
    /// When the store's transitions ring is full: the time of its oldest.
    /// Transitions before it may have been let go, so a count over a
    /// window reaching back past it is only a lower bound.
    ring_full_from: Option<u64>,
    /// When the scan started (the clock age terms were evaluated with).
    pub built_at_ms: u64,
}

impl Index {
    pub fn new(matcher: Matcher) -> Index {
        Index {
            everything: matcher.everything(),
            matcher,
            key_ok: Vec::new(),
            seqs: VecDeque::new(),
            front: 0,
            fwd: 0,
            back: 0,
            started: false,
            transitions: VecDeque::new(),
            t_next: 0,
            ring_full_from: None,
            built_at_ms: 0,
        }
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// True when the whole ring has been scanned.
    pub fn complete(&self) -> bool {
        self.started && self.back <= self.front
    }

    /// Share of the ring scanned so far, 0..=1.
    pub fn progress(&self) -> f64 {
        let total = self.fwd.saturating_sub(self.front);
        if total == 0 || self.complete() {
            return 1.0;
        }
        self.fwd.saturating_sub(self.back) as f64 / total as f64
    }

    /// Whether the key-only part admits `key` (false for keys not synced yet).
    pub fn key_ok(&self, key: KeyId) -> bool {
        self.everything || self.key_ok.get(key as usize).copied().unwrap_or(false)
    }

    /// Matching transitions still in the ring, oldest first.
    pub fn transitions(&self) -> &VecDeque<Transition> {
        &self.transitions
    }

    /// Whether the ring still holds every transition at or after
    /// `since_ms` (it is not full, or its oldest is older).
    pub fn transitions_cover(&self, since_ms: u64) -> bool {
        self.ring_full_from.is_none_or(|oldest| oldest < since_ms)
    }

    /// Catches up with the store: all new events, evictions, new keys, new
    /// transitions, and up to `budget` older events of the initial backward
    /// scan. Returns the number of events examined.
    pub fn sync(&mut self, store: &Store, now_ms: u64, budget: usize) -> usize {
        let next = store.next_seq();
        let history = store.history();
        let front = history.front().map_or(next, |e| e.seq);
        if !self.started {
            self.started = true;
            self.fwd = next;
            self.back = next;
            self.built_at_ms = now_ms;
        }
        let pos = |seq: u64| (seq - front) as usize;

        if !self.everything {
            for key in self.key_ok.len()..store.key_count() {
                let ok = self.matcher.key_ok(store, key as KeyId);
                self.key_ok.push(ok);
            }
        }

        // Evictions.
        self.front = front;
        while self.seqs.front().is_some_and(|&s| s < front) {
            self.seqs.pop_front();
        }
        self.back = self.back.max(front);
        let mut examined = 0;

        if self.everything {
            self.fwd = next;
            self.back = front;
        } else {
            // New events, all of them, oldest first.
            let start = self.fwd.max(front);
            if start < next {
                for e in history.range(pos(start)..pos(next)) {
                    if self.admits(store, e, now_ms) {
                        self.seqs.push_back(e.seq);
                    }
                }
                examined += (next - start) as usize;
            }
            self.fwd = next;
            // The initial scan, newest first, within the budget.
            if self.back > front && budget > 0 {
                let stop = self.back.saturating_sub(budget as u64).max(front);
                for e in history.range(pos(stop)..pos(self.back)).rev() {
                    if self.admits(store, e, now_ms) {
                        self.seqs.push_front(e.seq);
                    }
                }
                examined += (self.back - stop) as usize;
                self.back = stop;
            }
        }

        // Transitions: a small bounded ring, scanned incrementally too.
        let ring = store.transitions();
        self.ring_full_from = (ring.len() >= store.limits().transitions)
            .then(|| ring.front().map(|t| t.at_ms))
            .flatten();
        match ring.front() {
            None => self.transitions.clear(),
            Some(first) => {
                while self.transitions.front().is_some_and(|t| t.seq < first.seq) {
                    self.transitions.pop_front();
                }
            }
        }
        let from = ring.partition_point(|t| t.seq < self.t_next);
        for t in ring.range(from..) {
            if self.everything
                || (self.key_ok(t.key) && self.matcher.transition_ok(store, t, now_ms))
            {
                self.transitions.push_back(*t);
            }
        }
        self.t_next = next;
        examined
    }

    fn admits(&self, store: &Store, e: &Event, now_ms: u64) -> bool {
        self.key_ok[e.key as usize] && self.matcher.event_ok(store, e, now_ms)
    }

    /// Matching seqs, ascending (materialized; for tests and small lists).
    pub fn seqs(&self) -> Vec<u64> {
        (0..SeqList::len(self)).map(|i| self.seq_at(i)).collect()
    }
}

impl SeqList for Index {
    fn len(&self) -> usize {
        if self.everything {
            (self.fwd - self.front) as usize
        } else {
            self.seqs.len()
        }
    }

    fn seq_at(&self, i: usize) -> u64 {
        if self.everything {
            self.front + i as u64
        } else {
            self.seqs[i]
        }
    }

    fn count_le(&self, seq: u64) -> usize {
        if self.everything {
            (seq.saturating_add(1).saturating_sub(self.front) as usize).min(SeqList::len(self))
        } else {
            self.seqs.partition_point(|&s| s <= seq)
        }
    }
}

/// The matching transitions as a [`SeqList`].
pub struct Transitions<'a>(pub &'a VecDeque<Transition>);

impl SeqList for Transitions<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn seq_at(&self, i: usize) -> u64 {
        self.0[i].seq
    }

    fn count_le(&self, seq: u64) -> usize {
        self.0.partition_point(|t| t.seq <= seq)
    }
}

#[cfg(test)]
mod tests;
