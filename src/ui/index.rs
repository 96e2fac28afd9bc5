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
}

impl Matcher {
    pub fn new(filter: Filter, narrow: Narrowing, failing_only: bool) -> Matcher {
        Matcher {
            filter,
            narrow,
            failing_only,
            text_cache: RefCell::default(),
        }
    }

    /// True when nothing is excluded.
    pub fn everything(&self) -> bool {
        self.filter.is_empty() && self.narrow.is_empty() && !self.failing_only
    }

    pub fn same_as(&self, other: &Matcher) -> bool {
        self.filter.source() == other.filter.source()
            && self.narrow == other.narrow
            && self.failing_only == other.failing_only
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
        )
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
        self.attrs_ok(
            store,
            t.key,
            t.change != Change::Regressed,
            t.change,
            details,
            now_ms.saturating_sub(t.at_ms),
        )
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
mod tests {
    use super::*;
    use crate::model::{NewAlert, StoreLimits};
    use proptest::prelude::*;

    #[test]
    fn cached_text_verdicts_follow_a_keys_details_as_they_change() {
        let mut s = Store::default();
        let a = |d: &str| NewAlert {
            owner: "o".into(),
            repo: "r".into(),
            policy: "p".into(),
            details: d.into(),
            pass: false,
        };
        for (t, d) in [
            "needle here",
            "needle here",
            "nothing",
            "needle again",
            "nothing",
        ]
        .iter()
        .enumerate()
        {
            s.ingest(&a(d), t as u64, None).unwrap();
        }
        let m = Matcher::new(
            Filter::parse("needle").unwrap(),
            Narrowing::default(),
            false,
        );
        let got: Vec<bool> = s.history().iter().map(|e| m.event_ok(&s, e, 10)).collect();
        assert_eq!(got, [true, true, false, true, false]);
        // Judged again (now from the cache), the verdicts are the same.
        let again: Vec<bool> = s.history().iter().map(|e| m.event_ok(&s, e, 10)).collect();
        assert_eq!(again, got);
        let negated = Matcher::new(
            Filter::parse("-needle status:fail").unwrap(),
            Narrowing::default(),
            false,
        );
        let got: Vec<bool> = s
            .history()
            .iter()
            .map(|e| negated.event_ok(&s, e, 10))
            .collect();
        assert_eq!(got, [false, false, true, false, true]);
    }

    const NOW: u64 = 1_000_000;

    fn alert(o: u8, r: u8, p: u8, pass: bool) -> NewAlert {
        NewAlert {
            owner: format!("org{o}"),
            repo: format!("repo{r}"),
            policy: format!("policy{p}"),
            details: if pass {
                String::new()
            } else {
                format!("**failed** on repo{r}\n")
            },
            pass,
        }
    }

    /// The reference: the matcher applied to every event in the ring.
    fn rescan(store: &Store, m: &Matcher) -> Vec<u64> {
        store
            .history()
            .iter()
            .filter(|e| m.key_ok(store, e.key) && m.event_ok(store, e, NOW))
            .map(|e| e.seq)
            .collect()
    }

    fn rescan_transitions(store: &Store, m: &Matcher) -> Vec<u64> {
        store
            .transitions()
            .iter()
            .filter(|t| m.key_ok(store, t.key) && m.transition_ok(store, t, NOW))
            .map(|t| t.seq)
            .collect()
    }

    fn matcher(filter: &str, narrow: Narrowing, failing_only: bool) -> Matcher {
        Matcher::new(Filter::parse(filter).unwrap(), narrow, failing_only)
    }

    fn full(store: &Store, m: &Matcher) -> Index {
        let mut ix = Index::new(m.clone());
        ix.sync(store, NOW, usize::MAX);
        assert!(ix.complete());
        ix
    }

    #[test]
    fn the_everything_index_is_the_ring() {
        let mut s = Store::new(StoreLimits {
            history: 5,
            ..StoreLimits::default()
        });
        let mut ix = Index::new(Matcher::default());
        for i in 0..12u8 {
            s.ingest(&alert(0, i % 3, 0, i % 2 == 0), u64::from(i), None)
                .unwrap();
            ix.sync(&s, NOW, 0);
            assert_eq!(ix.seqs(), rescan(&s, &Matcher::default()));
        }
        assert_eq!(ix.seqs(), vec![8, 9, 10, 11, 12]);
        assert_eq!(ix.count_le(9), 2);
        assert_eq!(ix.count_le(100), 5);
        assert_eq!(ix.count_le(1), 0);
    }

    #[test]
    fn a_fresh_index_scans_newest_first_within_its_budget() {
        let mut s = Store::default();
        for i in 0..100u8 {
            s.ingest(&alert(0, i % 10, 0, i % 3 != 0), u64::from(i), None)
                .unwrap();
        }
        let m = matcher("status:fail", Narrowing::default(), false);
        let mut ix = Index::new(m.clone());
        assert_eq!(ix.sync(&s, NOW, 10), 10);
        assert!(!ix.complete());
        // The newest matches are there first.
        assert_eq!(ix.seqs(), vec![91, 94, 97, 100]);
        assert!((ix.progress() - 0.1).abs() < 1e-9);
        while !ix.complete() {
            ix.sync(&s, NOW, 7);
        }
        assert_eq!(ix.seqs(), rescan(&s, &m));
    }

    #[test]
    fn narrowing_and_failing_only_apply_to_events_and_transitions() {
        let mut s = Store::default();
        for i in 0..60u64 {
            let a = alert((i % 2) as u8, (i % 3) as u8, (i % 4) as u8, i % 5 < 3);
            s.ingest(&a, i, None).unwrap();
        }
        let org1 = s.org_id("org1").unwrap();
        let narrow = Narrowing {
            org: Some(org1),
            ..Narrowing::default()
        };
        let m = matcher("", narrow, true);
        let ix = full(&s, &m);
        assert!(!ix.seqs().is_empty());
        for seq in ix.seqs() {
            let e = s.event(seq).unwrap();
            assert!(!e.pass);
            assert_eq!(s.keys()[e.key as usize].org, org1);
        }
        assert_eq!(ix.seqs(), rescan(&s, &m));
        let ts: Vec<u64> = ix.transitions().iter().map(|t| t.seq).collect();
        assert_eq!(ts, rescan_transitions(&s, &m));
        // Narrowing applies to transitions; failing-only does not: fixes
        // stay listed and counted.
        assert!(
            ix.transitions()
                .iter()
                .all(|t| s.keys()[t.key as usize].org == org1)
        );
        assert!(
            ix.transitions().iter().any(|t| t.change == Change::Fixed),
            "fixes stay under failing-only"
        );
        let all = full(&s, &matcher("", narrow, false));
        assert_eq!(
            ts,
            all.transitions().iter().map(|t| t.seq).collect::<Vec<_>>()
        );
    }

    #[test]
    fn level_narrowing_drops_the_own_level() {
        let n = Narrowing {
            org: Some(1),
            repo: Some(2),
            policy: Some(3),
        };
        assert_eq!(
            n.for_level(Level::Org),
            Narrowing {
                org: None,
                repo: None,
                policy: Some(3)
            }
        );
        assert_eq!(n.for_level(Level::Repo).repo, None);
        assert_eq!(n.for_level(Level::Repo).org, Some(1));
        assert_eq!(n.for_level(Level::Policy).policy, None);
        let steps = [Step::Policy(3), Step::Repo { repo: 2, org: 1 }];
        assert_eq!(Narrowing::from_steps(&steps), n);
    }

    #[test]
    fn age_terms_are_detected() {
        assert!(mentions_age("org:x age<15m"));
        assert!(mentions_age("-AGE>=2d"));
        assert!(!mentions_age("agent"));
        assert!(!mentions_age("org:age"));
        assert!(!mentions_age(""));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ingest { o: u8, r: u8, p: u8, pass: bool },
        Sync { budget: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..3, 0u8..5, 0u8..3, any::<bool>())
                .prop_map(|(o, r, p, pass)| Op::Ingest { o, r, p, pass }),
            1 => (0usize..20).prop_map(|budget| Op::Sync { budget }),
        ]
    }

    fn filter_source() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "",
            "status:fail",
            "org:org1",
            "-repo:repo2 policy:policy*",
            "change:regressed",
            "change:transition",
            "failed",
            "/repo[13]/",
            "-status:fail org:org0",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// After any interleaving of inserts (with evictions from a small
        /// ring) and budgeted syncs, the incremental index equals a full
        /// rescan once it has caught up.
        #[test]
        fn incremental_index_equals_a_full_rescan(
            ops in prop::collection::vec(op(), 1..150),
            history in 1usize..25,
            transitions in 1usize..10,
            source in filter_source(),
            narrow_org in prop::option::of(0u8..3),
            narrow_policy in prop::option::of(0u8..3),
            failing_only in any::<bool>(),
            start_after in 0usize..60,
        ) {
            let mut s = Store::new(StoreLimits { history, transitions, max_keys: 1000, ..StoreLimits::default() });
            // Narrowing by name: ids exist only once seen, so intern all up front.
            for o in 0..3 { for p in 0..3 {
                s.ingest(&alert(o, 0, p, true), 0, None).unwrap();
            }}
            let narrow = Narrowing {
                org: narrow_org.and_then(|o| s.org_id(&format!("org{o}"))),
                repo: None,
                policy: narrow_policy.and_then(|p| s.policy_id(&format!("policy{p}"))),
            };
            let m = matcher(source, narrow, failing_only);
            let mut ix: Option<Index> = None;
            for (i, op) in ops.iter().enumerate() {
                // The index may be created at any point (a filter applied
                // while alerts keep coming).
                if i == start_after.min(ops.len() - 1) && ix.is_none() {
                    ix = Some(Index::new(m.clone()));
                }
                match op {
                    Op::Ingest { o, r, p, pass } => {
                        s.ingest(&alert(*o, *r, *p, *pass), i as u64, None).unwrap();
                    }
                    Op::Sync { budget } => {
                        if let Some(ix) = ix.as_mut() {
                            ix.sync(&s, NOW, *budget);
                            // Whatever is indexed is right, complete or not.
                            let want = rescan(&s, &m);
                            for seq in ix.seqs() {
                                prop_assert!(want.contains(&seq));
                            }
                        }
                    }
                }
            }
            let mut ix = ix.unwrap_or_else(|| Index::new(m.clone()));
            ix.sync(&s, NOW, 3);
            while !ix.complete() {
                ix.sync(&s, NOW, 3);
            }
            prop_assert_eq!(ix.seqs(), rescan(&s, &m));
            prop_assert_eq!(ix.seqs(), full(&s, &m).seqs());
            // A transition whose event left the ring is judged by the key's
            // latest details, which may have changed since it was indexed.
            if !m.filter.uses_details() {
                let ts: Vec<u64> = ix.transitions().iter().map(|t| t.seq).collect();
                prop_assert_eq!(ts, rescan_transitions(&s, &m));
            }
            // count_le agrees with the materialized list.
            let seqs = ix.seqs();
            for probe in 0..s.next_seq() + 1 {
                prop_assert_eq!(ix.count_le(probe), seqs.iter().filter(|&&x| x <= probe).count());
            }
        }
    }
}
