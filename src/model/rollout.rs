//! Compliance over time, kept incrementally: the share of passing keys
//! overall, per policy and per org at the end of each time bucket, the
//! regressions and fixes in each bucket, and each repo's last two scans.
//!
//! [`Rollout::push`] takes one alert at a time, in seq order, in O(1) (plus
//! a few comparisons of one repo's policies): the UI feeds it from its sync
//! with the hub, never by rescanning the history per frame.
//!
//! **Counts are deltas until settled.** The aggregation may start in the
//! middle of the store's life (the history ring keeps only the newest
//! events; keys restored from the durable state have no events at all), so
//! it cannot know how many keys passed before its first event. It keeps, per
//! group, the running *change* in passing and total keys since its first
//! event. Once it has caught up with the store, [`Rollout::settle`] takes
//! the store's current tallies: the offset is then `now − change so far`,
//! and every bucket's absolute count is `offset + change at its end`. When
//! events were missed (evicted from the ring before they were read), the
//! next settle re-aligns the offsets on the store.
//!
//! **Buckets.** Three resolutions are kept side by side, one per window:
//! the last hour in 1-minute buckets, the last day in 15-minute buckets,
//! the last week in 1-hour buckets. A group's series at each resolution is
//! sparse: an entry only for buckets in which its counts changed, pruned to
//! the window (plus the one entry before it, which carries the value into
//! the window's first bucket). Time never runs backwards here: an alert
//! stamped earlier than one already seen counts in the current bucket.
//!
//! **Scans.** Allstar checks a repo's policies one after the other and
//! sends their results together. A repo's alert belongs to the repo's
//! current scan unless it arrives more than [`SCAN_GAP_MS`] after the repo's
//! previous alert, or its policy already has a result in the current scan:
//! then a new scan starts and the current one becomes the previous one.
//! Comparing a repo's current scan with its previous one gives what got
//! better and worse "since the previous scan"; repos with such changes are
//! listed newest scan first. A scan still arriving is compared on the
//! policies it has so far.
//!
//! Bounded: series are kept for every policy and for the first
//! [`MAX_ORG_SERIES`] orgs (further orgs are counted, not charted); a
//! series holds at most one window of entries per resolution; scans hold
//! at most one result per policy per repo, for the repos the store has.
//!
//! Pure: no clock (times are parameters), no I/O.

use std::collections::{BTreeSet, VecDeque};

use super::alert::Change;
use super::store::{KeyId, OrgId, PolicyId, RepoId, Tally};

/// A repo's alert more than this long after its previous one starts a new
/// scan. Allstar sends a repo's policies within seconds; its scans of one
/// repo are minutes apart.
pub const SCAN_GAP_MS: u64 = 60_000;
/// Orgs whose series are kept; the keys of further orgs are counted in
/// [`Rollout::orgs_not_charted`].
pub const MAX_ORG_SERIES: usize = 1_000;

/// The window the rollout view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Hour, Window::Day, Window::Week];

    /// The length of one bucket.
    pub fn bucket_ms(self) -> u64 {
        match self {
            Window::Hour => 60_000,
            Window::Day => 15 * 60_000,
            Window::Week => 3_600_000,
        }
    }

    /// How many buckets the window spans.
    pub fn buckets(self) -> usize {
        match self {
            Window::Hour => 60,
            Window::Day => 96,
            Window::Week => 168,
        }
    }

    pub fn span_ms(self) -> u64 {
        self.bucket_ms() * self.buckets() as u64
    }

    /// The next window (the view's `w` key).
    pub fn next(self) -> Window {
        match self {
            Window::Hour => Window::Day,
            Window::Day => Window::Week,
            Window::Week => Window::Hour,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::Hour => "last hour",
            Window::Day => "last day",
            Window::Week => "last week",
        }
    }

    pub fn bucket_label(self) -> &'static str {
        match self {
            Window::Hour => "1 min",
            Window::Day => "15 min",
            Window::Week => "1 h",
        }
    }

    fn slot(self) -> usize {
        match self {
            Window::Hour => 0,
            Window::Day => 1,
            Window::Week => 2,
        }
    }
}

/// What a series is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    All,
    Policy(PolicyId),
    Org(OrgId),
}

/// One alert as the aggregation needs it: its time, key and the key's org,
/// repo and policy (from the store), its status and change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub at_ms: u64,
    pub key: KeyId,
    pub org: OrgId,
    pub repo: RepoId,
    pub policy: PolicyId,
    pub pass: bool,
    pub change: Change,
}

/// A group at the end of one bucket: its keys (passing and total) and the
/// regressions and fixes within the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Point {
    pub passing: u32,
    pub total: u32,
    pub regressions: u32,
    pub fixes: u32,
}

impl Point {
    /// The share of passing keys, 0–1 (1 when there are none).
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            f64::from(self.passing) / f64::from(self.total)
        }
    }
}

/// A bucket in which a group's counts changed: the running changes at its
/// end and the transitions within it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    bucket: u64,
    passing: i64,
    total: i64,
    regressions: u32,
    fixes: u32,
}

#[derive(Clone, Debug, Default)]
struct Series {
    /// Change in passing and total keys since the first event.
    passing: i64,
    total: i64,
    /// What the store had when the first event was taken in (known once
    /// settled).
    offset_passing: i64,
    offset_total: i64,
    /// One sparse ring per window, oldest first.
    res: [VecDeque<Entry>; 3],
}

impl Series {
    fn add(&mut self, clock_ms: u64, dp: i64, dt: i64, reg: u32, fix: u32) {
        self.passing += dp;
        self.total += dt;
        for w in Window::ALL {
            let b = clock_ms / w.bucket_ms();
            let q = &mut self.res[w.slot()];
            match q.back_mut() {
                Some(e) if e.bucket == b => {
                    e.passing = self.passing;
                    e.total = self.total;
                    e.regressions += reg;
                    e.fixes += fix;
                }
                _ => {
                    q.push_back(Entry {
                        bucket: b,
                        passing: self.passing,
                        total: self.total,
                        regressions: reg,
                        fixes: fix,
                    });
                    // Keep the window and the one entry before it.
                    let n = w.buckets() as u64;
                    while q.len() >= 2 && q[1].bucket + n <= b {
                        q.pop_front();
                    }
                }
            }
        }
    }

    fn now(&self) -> (i64, i64) {
        (
            self.offset_passing + self.passing,
            self.offset_total + self.total,
        )
    }

    fn settle(&mut self, t: Tally) {
        self.offset_passing = i64::from(t.passing()) - self.passing;
        self.offset_total = i64::from(t.total) - self.total;
    }
}

fn clamp(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

/// A repo's scans: the current one (possibly still arriving) and the one
/// before, as (policy, pass) in arrival order.
#[derive(Clone, Debug, Default)]
struct RepoScans {
    org: OrgId,
    start_ms: u64,
    last_ms: u64,
    cur: Vec<(PolicyId, bool)>,
    prev_start_ms: u64,
    prev: Vec<(PolicyId, bool)>,
    /// The key under which the repo is in [`Rollout::changed`].
    listed: Option<u64>,
}

impl RepoScans {
    /// (worse, better) between the previous scan and the current one, on
    /// the policies both have.
    fn diff(&self) -> (Vec<PolicyId>, Vec<PolicyId>) {
        let (mut worse, mut better) = (Vec::new(), Vec::new());
        for &(p, pass) in &self.cur {
            match self.prev.iter().find(|(q, _)| *q == p) {
                Some(&(_, true)) if !pass => worse.push(p),
                Some(&(_, false)) if pass => better.push(p),
                _ => {}
            }
        }
        (worse, better)
    }
}

/// What got better and worse in one repo between its last two scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanDiff {
    pub repo: RepoId,
    pub org: OrgId,
    /// When the current scan started.
    pub at_ms: u64,
    /// When the previous scan started.
    pub prev_at_ms: u64,
    pub worse: Vec<PolicyId>,
    pub better: Vec<PolicyId>,
}

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Rollout {
    all: Series,
    policies: Vec<Series>,
    orgs: Vec<Series>,
    /// Keys of the orgs beyond [`MAX_ORG_SERIES`] (first sights since the
    /// last settle added to the store's count then).
    orgs_over: u64,
    /// The latest alert time seen: buckets never go backwards.
    clock_ms: u64,
    /// The time of the first alert taken in: buckets that ended before it
    /// have no data.
    since_ms: Option<u64>,
    pushed: u64,
    settled: bool,
    repos: Vec<RepoScans>,
    /// Repos whose last two scans differ, by (current scan start, repo).
    changed: BTreeSet<(u64, RepoId)>,
}

impl Rollout {
    pub fn new() -> Rollout {
        Rollout::default()
    }

    /// Takes in one alert (in seq order).
    pub fn push(&mut self, s: &Sample) {
        self.clock_ms = self.clock_ms.max(s.at_ms);
        if self.since_ms.is_none() {
            self.since_ms = Some(s.at_ms);
        }
        self.pushed += 1;
        let (dp, dt, reg, fix) = match s.change {
            Change::First => (i64::from(s.pass), 1, 0, 0),
            Change::Same => (0, 0, 0, 0),
            Change::Regressed => (-1, 0, 1, 0),
            Change::Fixed => (1, 0, 0, 1),
        };
        if (dp, dt, reg, fix) != (0, 0, 0, 0) {
            let clock = self.clock_ms;
            self.all.add(clock, dp, dt, reg, fix);
            let p = s.policy as usize;
            if self.policies.len() <= p {
                self.policies.resize_with(p + 1, Series::default);
            }
            self.policies[p].add(clock, dp, dt, reg, fix);
            let o = s.org as usize;
            if o < MAX_ORG_SERIES {
                if self.orgs.len() <= o {
                    self.orgs.resize_with(o + 1, Series::default);
                }
                self.orgs[o].add(clock, dp, dt, reg, fix);
            } else if s.change == Change::First {
                self.orgs_over += 1;
            }
        }
        self.scan(s);
    }

    fn scan(&mut self, s: &Sample) {
        let i = s.repo as usize;
        if self.repos.len() <= i {
            self.repos.resize_with(i + 1, RepoScans::default);
        }
        let r = &mut self.repos[i];
        r.org = s.org;
        let new_scan = r.cur.is_empty()
            || s.at_ms > r.last_ms.saturating_add(SCAN_GAP_MS)
            || r.cur.iter().any(|(p, _)| *p == s.policy);
        if new_scan {
            if !r.cur.is_empty() {
                std::mem::swap(&mut r.prev, &mut r.cur);
                r.prev_start_ms = r.start_ms;
            }
            r.cur.clear();
            r.start_ms = s.at_ms;
            r.last_ms = s.at_ms;
        }
        r.cur.push((s.policy, s.pass));
        r.last_ms = r.last_ms.max(s.at_ms);
        let (worse, better) = r.diff();
        let want = (!worse.is_empty() || !better.is_empty()).then_some(r.start_ms);
        if want != r.listed {
            if let Some(at) = r.listed {
                self.changed.remove(&(at, s.repo));
            }
            if let Some(at) = want {
                self.changed.insert((at, s.repo));
            }
            r.listed = want;
        }
    }

    /// Takes the store's current tallies (overall, per policy, per org) as
    /// the truth at the last alert taken in; see the module docs. Call it
    /// only when every alert the store has was pushed (or counted missed).
    pub fn settle(
        &mut self,
        all: Tally,
        policy: impl Fn(PolicyId) -> Tally,
        org: impl Fn(OrgId) -> Tally,
        policies: usize,
        orgs: usize,
    ) {
        self.all.settle(all);
        if self.policies.len() < policies {
            self.policies.resize_with(policies, Series::default);
        }
        for (i, s) in self.policies.iter_mut().enumerate() {
            s.settle(policy(i as PolicyId));
        }
        // Keys of the orgs past the limit, as the store counts them (keys
        // restored without events included).
        self.orgs_over = (MAX_ORG_SERIES..orgs)
            .map(|o| u64::from(org(o as OrgId).total))
            .sum();
        let orgs = orgs.min(MAX_ORG_SERIES);
        if self.orgs.len() < orgs {
            self.orgs.resize_with(orgs, Series::default);
        }
        for (i, s) in self.orgs.iter_mut().enumerate() {
            s.settle(org(i as OrgId));
        }
        self.settled = true;
    }

    /// True once [`Rollout::settle`] was called: counts are absolute.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// Alerts taken in.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The time of the first alert taken in.
    pub fn since_ms(&self) -> Option<u64> {
        self.since_ms
    }

    /// Keys of the orgs past [`MAX_ORG_SERIES`] (counted, not charted).
    pub fn orgs_not_charted(&self) -> u64 {
        self.orgs_over
    }

    /// Policies and orgs with a series.
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    pub fn org_count(&self) -> usize {
        self.orgs.len()
    }

    fn series_of(&self, g: Group) -> Option<&Series> {
        match g {
            Group::All => Some(&self.all),
            Group::Policy(p) => self.policies.get(p as usize),
            Group::Org(o) => self.orgs.get(o as usize),
        }
    }

    /// A group's passing and total keys now.
    pub fn current(&self, g: Group) -> Point {
        let (p, t) = self.series_of(g).map_or((0, 0), Series::now);
        Point {
            passing: clamp(p),
            total: clamp(t),
            ..Point::default()
        }
    }

    /// The window's buckets for a group, oldest first, the last one holding
    /// `now_ms` (or the latest alert, if later). `None`: the bucket ended
    /// before the first alert taken in, or the group had no key yet (no
    /// data).
    pub fn series(&self, g: Group, w: Window, now_ms: u64) -> Vec<Option<Point>> {
        let width = w.bucket_ms();
        let n = w.buckets() as u64;
        let end = now_ms.max(self.clock_ms) / width;
        let start = (end + 1).saturating_sub(n);
        let Some(s) = self.series_of(g) else {
            return vec![None; w.buckets()];
        };
        let q = &s.res[w.slot()];
        let mut i = 0;
        let mut cur = (0, 0);
        while i < q.len() && q[i].bucket < start {
            cur = (q[i].passing, q[i].total);
            i += 1;
        }
        let since = self.since_ms.unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(w.buckets());
        for b in start..=end {
            let (mut reg, mut fix) = (0, 0);
            if let Some(e) = q.get(i)
                && e.bucket == b
            {
                cur = (e.passing, e.total);
                reg = e.regressions;
                fix = e.fixes;
                i += 1;
            }
            let total = clamp(s.offset_total + cur.1);
            // Before the first alert, or before the group had a key (an
            // org onboarded later): no data, not "all of nothing passing".
            if (b + 1) * width <= since || total == 0 {
                out.push(None);
                continue;
            }
            out.push(Some(Point {
                passing: clamp(s.offset_passing + cur.0),
                total,
                regressions: reg,
                fixes: fix,
            }));
        }
        out
    }

    /// Repos whose last two scans differ.
    pub fn changes_len(&self) -> usize {
        self.changed.len()
    }

    /// Repos whose last two scans differ, newest scan first, from `skip`.
    pub fn changes(&self, skip: usize, take: usize) -> Vec<ScanDiff> {
        self.changed
            .iter()
            .rev()
            .skip(skip)
            .take(take)
            .map(|&(_, repo)| self.scan_diff(repo))
            .collect()
    }

    /// What got better and worse in a repo between its last two scans.
    pub fn scan_diff(&self, repo: RepoId) -> ScanDiff {
        let r = self.repos.get(repo as usize).cloned().unwrap_or_default();
        let (worse, better) = r.diff();
        ScanDiff {
            repo,
            org: r.org,
            at_ms: r.start_ms,
            prev_at_ms: r.prev_start_ms,
            worse,
            better,
        }
    }
}

#[cfg(test)]
mod tests;
