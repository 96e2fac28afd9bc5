//! The group lists (orgs, repos, policies, each "failing/total") and the
//! latest-status-per-key list, rebuilt from the keys a few times per second
//! at most, never per frame.
//!
//! A rebuild is two steps so the hub lock is held only for the scan:
//! [`Lists::collect`] (under the lock) tallies the keys that match and copies
//! out small rows and any new names; [`Lists::finish`] (lock released) sorts.
//!
//! Consistency rules (shown in the help): a key matches when the filter and
//! failing-only accept its *latest* alert (status, change, details, age since
//! last seen). Each group pane applies the narrowing of the other levels but
//! not its own, so it still lists the alternatives at its level: Orgs apply
//! the policy narrowing, Repos the org and policy, Policies the org and repo.
//! A group is listed when at least one of its keys matches; its counts are
//! over matching keys. Without filter, narrowing or failing-only the store's
//! own aggregates are used and no key is visited.

use std::sync::Arc;

use crate::model::store::{KeyId, OrgId, PolicyId, RepoId};
use crate::model::{Store, Tally};

use super::index::Matcher;

/// One row of a group pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub id: u32,
    pub tally: Tally,
    /// When a key of the group was last seen (only for [`GroupSort::Recent`]).
    pub last_ms: u64,
}

/// The order of the group panes (`s` cycles through them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupSort {
    /// Failing groups first, then by name.
    #[default]
    FailingFirst,
    /// Most failing keys first.
    Count,
    /// Most recently seen first.
    Recent,
    /// By name only.
    Name,
}

impl GroupSort {
    pub fn next(self) -> GroupSort {
        match self {
            GroupSort::FailingFirst => GroupSort::Count,
            GroupSort::Count => GroupSort::Recent,
            GroupSort::Recent => GroupSort::Name,
            GroupSort::Name => GroupSort::FailingFirst,
        }
    }

    /// Shown in the pane titles; `None` for the default.
    pub fn label(self) -> Option<&'static str> {
        match self {
            GroupSort::FailingFirst => None,
            GroupSort::Count => Some("⇅fail"),
            GroupSort::Recent => Some("⇅new"),
            GroupSort::Name => Some("⇅a-z"),
        }
    }
}

/// Names by id, appended as the store interns new ones (ids are dense and
/// never reused).
#[derive(Debug, Default)]
pub struct Names {
    pub orgs: Vec<Arc<str>>,
    pub repos: Vec<(OrgId, Arc<str>)>,
    pub policies: Vec<Arc<str>>,
}

#[derive(Clone, Copy, Debug)]
struct LatestRaw {
    key: KeyId,
    repo: RepoId,
    policy: PolicyId,
    failing: bool,
}

/// What [`Lists::collect`] copies out of the store.
#[derive(Debug)]
pub struct Raw {
    orgs: Vec<GroupRow>,
    repos: Vec<GroupRow>,
    policies: Vec<GroupRow>,
    latest: Option<Vec<LatestRaw>>,
    seq: u64,
}

#[derive(Debug, Default)]
pub struct Lists {
    pub orgs: Vec<GroupRow>,
    pub repos: Vec<GroupRow>,
    pub policies: Vec<GroupRow>,
    /// Matching keys, failing first, then by org, repo, policy name.
    pub latest: Vec<KeyId>,
    pub latest_failing: usize,
    /// Groups with a failing key, per level (orgs, repos, policies).
    pub failing_groups: [usize; 3],
    /// Whether `latest` was built for the current matcher.
    pub latest_valid: bool,
    pub names: Names,
    org_rank: Vec<u32>,
    repo_rank: Vec<u32>,
    policy_rank: Vec<u32>,
    /// Per key: the filter's key terms (without narrowing) accept it.
    terms: Vec<bool>,
    terms_source: Option<String>,
    /// `next_seq` of the store when last built; `None` before the first build.
    pub built_seq: Option<u64>,
    pub built_at_ms: u64,
    /// The order of the group panes.
    pub sort: GroupSort,
}

impl Lists {
    /// Scans the store (call under the hub lock). `want_latest` also
    /// collects the latest-per-key list.
    pub fn collect(&mut self, store: &Store, m: &Matcher, want_latest: bool, now_ms: u64) -> Raw {
        let mut raw = self.collect_rows(store, m, want_latest, now_ms);
        if self.sort == GroupSort::Recent {
            // One more pass over the keys, only in this order.
            let mut last = [
                vec![0u64; store.org_count()],
                vec![0u64; store.repo_count()],
                vec![0u64; store.policy_count()],
            ];
            for k in store.keys() {
                for (level, id) in [k.org, k.repo, k.policy].into_iter().enumerate() {
                    let slot = &mut last[level][id as usize];
                    *slot = (*slot).max(k.last_seen_ms);
                }
            }
            for (level, rows) in [&mut raw.orgs, &mut raw.repos, &mut raw.policies]
                .into_iter()
                .enumerate()
            {
                for r in rows.iter_mut() {
                    r.last_ms = last[level].get(r.id as usize).copied().unwrap_or(0);
                }
            }
        }
        raw
    }

    fn collect_rows(&mut self, store: &Store, m: &Matcher, want_latest: bool, now_ms: u64) -> Raw {
        // New names only.
        for id in self.names.orgs.len()..store.org_count() {
            self.names.orgs.push(store.org_name(id as OrgId).clone());
        }
        for id in self.names.repos.len()..store.repo_count() {
            let r = store.repo(id as RepoId);
            self.names.repos.push((r.org, r.name.clone()));
        }
        for id in self.names.policies.len()..store.policy_count() {
            self.names
                .policies
                .push(store.policy_name(id as PolicyId).clone());
        }
        let seq = store.next_seq();
        let keys = store.keys();

        if m.everything() {
            let rows = |n: usize, tally: &dyn Fn(u32) -> Tally| -> Vec<GroupRow> {
                (0..n as u32)
                    .map(|id| GroupRow {
                        id,
                        tally: tally(id),
                        last_ms: 0,
                    })
                    .filter(|r| r.tally.total > 0)
                    .collect()
            };
            return Raw {
                orgs: rows(store.org_count(), &|id| store.org_tally(id)),
                repos: rows(store.repo_count(), &|id| store.repo(id).tally),
                policies: rows(store.policy_count(), &|id| store.policy_tally(id)),
                latest: want_latest.then(|| {
                    keys.iter()
                        .enumerate()
                        .map(|(i, k)| LatestRaw {
                            key: i as KeyId,
                            repo: k.repo,
                            policy: k.policy,
                            failing: !k.pass,
                        })
                        .collect()
                }),
                seq,
            };
        }

        if self.terms_source.as_deref() != Some(m.filter.source()) {
            self.terms.clear();
            self.terms_source = Some(m.filter.source().to_owned());
        }
        for key in self.terms.len()..keys.len() {
            let (o, r, p) = store.key_names(key as KeyId);
            self.terms.push(m.filter.matches_key(o, r, p));
        }
        let mut org_t = vec![Tally::default(); store.org_count()];
        let mut repo_t = vec![Tally::default(); store.repo_count()];
        let mut pol_t = vec![Tally::default(); store.policy_count()];
        let mut latest = Vec::new();
        let n = m.narrow;
        let bump = |t: &mut Tally, failing: bool| {
            t.total += 1;
            t.failing += u32::from(failing);
        };
        for (i, k) in keys.iter().enumerate() {
            if !self.terms[i] || !m.latest_ok(store, i as KeyId, now_ms) {
                continue;
            }
            let failing = !k.pass;
            let org_ok = n.org.is_none_or(|o| k.org == o);
            let repo_ok = n.repo.is_none_or(|r| k.repo == r);
            let pol_ok = n.policy.is_none_or(|p| k.policy == p);
            if pol_ok {
                bump(&mut org_t[k.org as usize], failing);
            }
            if org_ok && pol_ok {
                bump(&mut repo_t[k.repo as usize], failing);
            }
            if org_ok && repo_ok {
                bump(&mut pol_t[k.policy as usize], failing);
            }
            if want_latest && org_ok && repo_ok && pol_ok {
                latest.push(LatestRaw {
                    key: i as KeyId,
                    repo: k.repo,
                    policy: k.policy,
                    failing,
                });
            }
        }
        let rows = |t: Vec<Tally>| -> Vec<GroupRow> {
            t.into_iter()
                .enumerate()
                .filter(|(_, t)| t.total > 0)
                .map(|(id, tally)| GroupRow {
                    id: id as u32,
                    tally,
                    last_ms: 0,
                })
                .collect()
        };
        Raw {
            orgs: rows(org_t),
            repos: rows(repo_t),
            policies: rows(pol_t),
            latest: want_latest.then_some(latest),
            seq,
        }
    }

    /// Sorts what [`Lists::collect`] copied out (lock released).
    pub fn finish(&mut self, raw: Raw, now_ms: u64) {
        self.update_ranks();
        let (or, rr, pr) = (&self.org_rank, &self.repo_rank, &self.policy_rank);
        let sort = self.sort;
        let order = |rows: &mut Vec<GroupRow>, rank: &[u32]| {
            let name = |r: &GroupRow| rank.get(r.id as usize).copied().unwrap_or(u32::MAX);
            match sort {
                GroupSort::FailingFirst => {
                    rows.sort_unstable_by_key(|r| (r.tally.failing == 0, name(r)))
                }
                GroupSort::Count => {
                    rows.sort_unstable_by_key(|r| (std::cmp::Reverse(r.tally.failing), name(r)))
                }
                GroupSort::Recent => {
                    rows.sort_unstable_by_key(|r| (std::cmp::Reverse(r.last_ms), name(r)))
                }
                GroupSort::Name => rows.sort_unstable_by_key(name),
            }
        };
        let mut orgs = raw.orgs;
        order(&mut orgs, or);
        let mut repos = raw.repos;
        order(&mut repos, rr);
        let mut policies = raw.policies;
        order(&mut policies, pr);
        if let Some(mut latest) = raw.latest {
            latest
                .sort_unstable_by_key(|k| (!k.failing, rr[k.repo as usize], pr[k.policy as usize]));
            self.latest_failing = latest.iter().take_while(|k| k.failing).count();
            self.latest = latest.into_iter().map(|k| k.key).collect();
            self.latest_valid = true;
        }
        let failing = |rows: &[GroupRow]| rows.iter().filter(|r| r.tally.failing > 0).count();
        self.failing_groups = [failing(&orgs), failing(&repos), failing(&policies)];
        self.orgs = orgs;
        self.repos = repos;
        self.policies = policies;
        self.built_seq = Some(raw.seq);
        self.built_at_ms = now_ms;
    }

    /// Name ranks, recomputed only when names were added.
    fn update_ranks(&mut self) {
        fn ranks<T>(items: &[T], cmp: impl Fn(&T, &T) -> std::cmp::Ordering) -> Vec<u32> {
            let mut order: Vec<usize> = (0..items.len()).collect();
            order.sort_by(|&a, &b| cmp(&items[a], &items[b]));
            let mut rank = vec![0; items.len()];
            for (r, i) in order.into_iter().enumerate() {
                rank[i] = r as u32;
            }
            rank
        }
        let names = &self.names;
        if self.org_rank.len() != names.orgs.len() {
            self.org_rank = ranks(&names.orgs, |a, b| a.cmp(b));
        }
        if self.repo_rank.len() != names.repos.len() {
            let org_rank = &self.org_rank;
            self.repo_rank = ranks(&names.repos, |a, b| {
                (org_rank[a.0 as usize], &a.1).cmp(&(org_rank[b.0 as usize], &b.1))
            });
        }
        if self.policy_rank.len() != names.policies.len() {
            self.policy_rank = ranks(&names.policies, |a, b| a.cmp(b));
        }
    }

    /// Forgets everything derived from the matcher (names stay).
    pub fn invalidate(&mut self) {
        self.built_seq = None;
        self.latest_valid = false;
    }

    pub fn org_name(&self, id: OrgId) -> &str {
        self.names.orgs.get(id as usize).map_or("", |n| n)
    }

    pub fn repo_name(&self, id: RepoId) -> &str {
        self.names.repos.get(id as usize).map_or("", |n| &n.1)
    }

    pub fn repo_org(&self, id: RepoId) -> Option<OrgId> {
        self.names.repos.get(id as usize).map(|n| n.0)
    }

    pub fn policy_name(&self, id: PolicyId) -> &str {
        self.names.policies.get(id as usize).map_or("", |n| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::filter::Filter;
    use crate::model::{NewAlert, StoreLimits};
    use crate::ui::index::Narrowing;

    fn ingest(s: &mut Store, o: &str, r: &str, p: &str, pass: bool) {
        let a = NewAlert {
            owner: o.into(),
            repo: r.into(),
            policy: p.into(),
            details: String::new(),
            pass,
        };
        s.ingest(&a, 0, None).unwrap();
    }

    fn build(s: &Store, m: &Matcher) -> Lists {
        let mut l = Lists::default();
        let raw = l.collect(s, m, true, 0);
        l.finish(raw, 0);
        l
    }

    fn names(l: &Lists, rows: &[GroupRow], f: impl Fn(&Lists, u32) -> String) -> Vec<String> {
        rows.iter()
            .map(|r| format!("{} {}/{}", f(l, r.id), r.tally.failing, r.tally.total))
            .collect()
    }

    fn sample() -> Store {
        let mut s = Store::new(StoreLimits::default());
        ingest(&mut s, "zeta", "a", "P1", true);
        ingest(&mut s, "zeta", "b", "P1", false);
        ingest(&mut s, "alpha", "x", "P1", true);
        ingest(&mut s, "alpha", "x", "P2", true);
        ingest(&mut s, "beta", "y", "P2", false);
        ingest(&mut s, "beta", "y", "P1", true);
        s
    }

    #[test]
    fn failing_first_then_by_name() {
        let s = sample();
        let l = build(&s, &Matcher::default());
        assert_eq!(
            names(&l, &l.orgs, |l, id| l.org_name(id).to_owned()),
            ["beta 1/2", "zeta 1/2", "alpha 0/2"]
        );
        assert_eq!(
            names(&l, &l.repos, |l, id| l.repo_name(id).to_owned()),
            ["y 1/2", "b 1/1", "x 0/2", "a 0/1"]
        );
        assert_eq!(
            names(&l, &l.policies, |l, id| l.policy_name(id).to_owned()),
            ["P1 1/4", "P2 1/2"]
        );
        let latest: Vec<String> = l
            .latest
            .iter()
            .map(|&k| {
                let (o, r, p) = s.key_names(k);
                format!("{o}/{r}/{p}")
            })
            .collect();
        assert_eq!(
            latest,
            [
                "beta/y/P2",
                "zeta/b/P1",
                "alpha/x/P1",
                "alpha/x/P2",
                "beta/y/P1",
                "zeta/a/P1"
            ]
        );
        assert_eq!(l.latest_failing, 2);
    }

    #[test]
    fn filters_and_narrowing_give_consistent_facets() {
        let s = sample();
        let p1 = s.policy_id("P1").unwrap();
        let zeta = s.org_id("zeta").unwrap();
        let m = Matcher::new(
            Filter::parse("-org:alpha").unwrap(),
            Narrowing {
                org: Some(zeta),
                repo: None,
                policy: Some(p1),
            },
            false,
        );
        let l = build(&s, &m);
        // Orgs ignore the org narrowing but apply policy P1 and the filter.
        assert_eq!(
            names(&l, &l.orgs, |l, id| l.org_name(id).to_owned()),
            ["zeta 1/2", "beta 0/1"]
        );
        // Repos: org zeta, policy P1.
        assert_eq!(
            names(&l, &l.repos, |l, id| l.repo_name(id).to_owned()),
            ["b 1/1", "a 0/1"]
        );
        // Policies: org zeta, any policy.
        assert_eq!(
            names(&l, &l.policies, |l, id| l.policy_name(id).to_owned()),
            ["P1 1/2"]
        );
        assert_eq!(l.latest.len(), 2);

        let failing = Matcher::new(Filter::default(), Narrowing::default(), true);
        let l = build(&s, &failing);
        assert_eq!(
            names(&l, &l.orgs, |l, id| l.org_name(id).to_owned()),
            ["beta 1/1", "zeta 1/1"]
        );
        assert_eq!(l.latest.len(), 2);
        assert_eq!(l.latest_failing, 2);
    }
}
