use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// 3 orgs × 2 repos × 3 policies.
fn ids(org: u32, r: u32, p: u32) -> (KeyId, RepoId) {
    (org * 6 + r * 3 + p, org * 2 + r)
}

/// A script of alerts with the store's change detection, as samples.
fn samples(script: &[(u32, u32, u32, bool, u64)], t0: u64) -> Vec<Sample> {
    let mut last: HashMap<KeyId, bool> = HashMap::new();
    let mut at = t0;
    script
        .iter()
        .map(|&(org, r, p, pass, dt)| {
            at += dt;
            let (key, repo) = ids(org, r, p);
            let change = Change::between(last.insert(key, pass), pass);
            Sample {
                at_ms: at,
                key,
                org,
                repo,
                policy: p,
                pass,
                change,
            }
        })
        .collect()
}

/// Brute force: passing and total keys of `g` after the samples before
/// `end_ms` (all of them, fed or not), by replaying from scratch.
fn recount(all: &[Sample], g: Group, end_ms: u64) -> (u32, u32) {
    let mut status: HashMap<KeyId, (OrgId, PolicyId, bool)> = HashMap::new();
    for s in all.iter().filter(|s| s.at_ms < end_ms) {
        status.insert(s.key, (s.org, s.policy, s.pass));
    }
    let of = |o: OrgId, p: PolicyId| match g {
        Group::All => true,
        Group::Policy(q) => p == q,
        Group::Org(q) => o == q,
    };
    let mine: Vec<bool> = status
        .values()
        .filter(|(o, p, _)| of(*o, *p))
        .map(|x| x.2)
        .collect();
    (
        mine.iter().filter(|p| **p).count() as u32,
        mine.len() as u32,
    )
}

/// Regressions and fixes of `g` among the fed samples in [from, to).
fn transitions(fed: &[Sample], g: Group, from: u64, to: u64) -> (u32, u32) {
    let mut out = (0, 0);
    for s in fed.iter().filter(|s| s.at_ms >= from && s.at_ms < to) {
        let mine = match g {
            Group::All => true,
            Group::Policy(q) => s.policy == q,
            Group::Org(q) => s.org == q,
        };
        match s.change {
            Change::Regressed if mine => out.0 += 1,
            Change::Fixed if mine => out.1 += 1,
            _ => {}
        }
    }
    out
}

/// Store tallies after every sample.
fn tally(all: &[Sample], g: Group) -> Tally {
    let (p, t) = recount(all, g, u64::MAX);
    Tally {
        failing: t - p,
        total: t,
    }
}

fn settle(r: &mut Rollout, all: &[Sample]) {
    r.settle(
        tally(all, Group::All),
        |p| tally(all, Group::Policy(p)),
        |o| tally(all, Group::Org(o)),
        3,
        3,
    );
}

const T0: u64 = 1_795_640_400_000;

fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..90_000,
        1 => 0u64..4 * 3_600_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The share passing in every bucket of every window and group equals
    /// a brute-force recount, whether the aggregation saw every alert or
    /// started after some (settled on the store's tallies), and the
    /// regressions and fixes per bucket equal a count of the fed alerts.
    #[test]
    fn buckets_equal_a_recount(
        script in prop::collection::vec((0u32..3, 0u32..2, 0u32..3, any::<bool>(), step()), 1..160),
        skip_frac in 0.0f64..0.9,
    ) {
        let all = samples(&script, T0);
        let skip = (all.len() as f64 * skip_frac) as usize;
        let fed = &all[skip..];
        let mut r = Rollout::new();
        for s in fed {
            r.push(s);
        }
        settle(&mut r, &all);
        let now = all.last().unwrap().at_ms;
        let since = fed[0].at_ms;
        for w in Window::ALL {
            for g in [Group::All, Group::Policy(0), Group::Policy(2), Group::Org(1)] {
                let series = r.series(g, w, now);
                prop_assert_eq!(series.len(), w.buckets());
                let width = w.bucket_ms();
                let end_b = now / width;
                for (i, point) in series.iter().enumerate() {
                    let b = end_b + 1 + i as u64 - w.buckets() as u64;
                    let end = (b + 1) * width;
                    let (passing, total) = recount(&all, g, end);
                    if end <= since || total == 0 {
                        prop_assert!(point.is_none(), "bucket {} before the data", i);
                        continue;
                    }
                    let p = point.expect("a bucket with data");
                    prop_assert_eq!((p.passing, p.total), (passing, total), "{:?} {:?} bucket {}", w, g, i);
                    prop_assert_eq!((p.regressions, p.fixes), transitions(fed, g, b * width, end), "{:?} {:?} bucket {}", w, g, i);
                }
            }
        }
        prop_assert_eq!(r.current(Group::All), Point {
            passing: recount(&all, Group::All, u64::MAX).0,
            total: recount(&all, Group::All, u64::MAX).1,
            ..Point::default()
        });
    }
}

#[test]
fn an_alert_stamped_in_the_past_counts_in_the_current_bucket() {
    let mut r = Rollout::new();
    let all = samples(&[(0, 0, 0, true, 0), (0, 0, 1, false, 180_000)], T0);
    for s in &all {
        r.push(s);
    }
    // A late fix, stamped before the last alert's minute.
    let late = Sample {
        at_ms: T0 + 10_000,
        change: Change::Fixed,
        pass: true,
        ..all[1]
    };
    r.push(&late);
    settle(&mut r, &[all[0], all[1], late]);
    let s = r.series(Group::All, Window::Hour, T0 + 180_000);
    let last = s.last().unwrap().unwrap();
    assert_eq!((last.passing, last.total, last.fixes), (2, 2, 1));
    // The minute it claims to be from is unchanged.
    let then = s[s.len() - 4].unwrap();
    assert_eq!((then.passing, then.total, then.fixes), (1, 1, 0));
}

#[test]
fn buckets_before_the_window_are_pruned_but_carry_their_value() {
    let mut r = Rollout::new();
    let all = samples(&[(0, 0, 0, false, 0), (0, 0, 1, true, 0)], T0);
    for s in &all {
        r.push(s);
    }
    settle(&mut r, &all);
    // Two hours later, nothing changed: the whole hour shows 1 of 2.
    let s = r.series(Group::All, Window::Hour, T0 + 2 * 3_600_000);
    assert!(
        s.iter()
            .all(|p| p.is_some_and(|p| (p.passing, p.total) == (1, 2)))
    );
    for q in &r.all.res {
        assert!(q.len() <= 1);
    }
}

#[test]
fn a_series_holds_at_most_one_window_of_entries() {
    let mut r = Rollout::new();
    let mut at = T0;
    for i in 0..10_000u64 {
        at += 61_000;
        r.push(&Sample {
            at_ms: at,
            key: 0,
            org: 0,
            repo: 0,
            policy: 0,
            pass: i % 2 == 0,
            change: if i == 0 {
                Change::First
            } else if i % 2 == 0 {
                Change::Fixed
            } else {
                Change::Regressed
            },
        });
    }
    for w in Window::ALL {
        assert!(r.all.res[w.slot()].len() <= w.buckets() + 1, "{w:?}");
    }
}

#[test]
fn orgs_past_the_limit_are_counted_not_charted() {
    let mut r = Rollout::new();
    for o in 0..(MAX_ORG_SERIES as u32 + 5) {
        r.push(&Sample {
            at_ms: T0,
            key: o,
            org: o,
            repo: o,
            policy: 0,
            pass: true,
            change: Change::First,
        });
    }
    assert_eq!(r.org_count(), MAX_ORG_SERIES);
    assert_eq!(r.orgs_not_charted(), 5);
    // Settled on a store where those orgs have two keys each.
    r.settle(
        Tally::default(),
        |_| Tally::default(),
        |o| Tally {
            failing: 0,
            total: if o as usize >= MAX_ORG_SERIES { 2 } else { 1 },
        },
        1,
        MAX_ORG_SERIES + 5,
    );
    assert_eq!(r.orgs_not_charted(), 10);
}

/// One scan of a repo: its policies a second apart.
fn scan_of(r: &mut Rollout, last: &mut HashMap<KeyId, bool>, at: u64, repo: u32, results: &[bool]) {
    for (p, &pass) in results.iter().enumerate() {
        let key = repo * 10 + p as u32;
        let change = Change::between(last.insert(key, pass), pass);
        r.push(&Sample {
            at_ms: at + p as u64 * 1_000,
            key,
            org: 0,
            repo,
            policy: p as u32,
            pass,
            change,
        });
    }
}

#[test]
fn scans_are_told_apart_and_their_differences_listed_newest_first() {
    let mut r = Rollout::new();
    let mut last = HashMap::new();
    scan_of(&mut r, &mut last, T0, 0, &[true, true, false]);
    scan_of(&mut r, &mut last, T0, 1, &[true, true, true]);
    assert_eq!(r.changes_len(), 0, "one scan each: nothing to compare");
    // Repo 0, five minutes later: policy 0 got worse, policy 2 better.
    scan_of(&mut r, &mut last, T0 + 300_000, 0, &[false, true, true]);
    // Repo 1, the same everywhere: not listed.
    scan_of(&mut r, &mut last, T0 + 310_000, 1, &[true, true, true]);
    assert_eq!(r.changes_len(), 1);
    let d = &r.changes(0, 10)[0];
    assert_eq!(
        (d.repo, d.worse.clone(), d.better.clone()),
        (0, vec![0], vec![2])
    );
    assert_eq!((d.prev_at_ms, d.at_ms), (T0, T0 + 300_000));
    // Repo 1 regresses on its next scan: listed first (newest).
    scan_of(&mut r, &mut last, T0 + 600_000, 1, &[true, false, true]);
    let ds = r.changes(0, 10);
    assert_eq!(ds.iter().map(|d| d.repo).collect::<Vec<_>>(), vec![1, 0]);
    // Repo 0's next scan matches the one before: it leaves the list.
    scan_of(&mut r, &mut last, T0 + 900_000, 0, &[false, true, true]);
    assert_eq!(
        r.changes(0, 10).iter().map(|d| d.repo).collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn a_gap_or_a_repeated_policy_starts_a_new_scan() {
    let mut r = Rollout::new();
    let mut last = HashMap::new();
    // Back to back without a gap: the repeated policy 0 starts the new scan.
    scan_of(&mut r, &mut last, T0, 0, &[true, true]);
    scan_of(&mut r, &mut last, T0 + 2_000, 0, &[false, true]);
    let d = r.scan_diff(0);
    assert_eq!((d.at_ms, d.worse.clone()), (T0 + 2_000, vec![0]));
    // A gap: policy 1 alone, long after, starts a scan of its own, compared
    // with the previous scan on policy 1 only.
    r.push(&Sample {
        at_ms: T0 + 2_000 + SCAN_GAP_MS + 5_000,
        key: 1,
        org: 0,
        repo: 0,
        policy: 1,
        pass: false,
        change: Change::Regressed,
    });
    let d = r.scan_diff(0);
    assert_eq!((d.worse.clone(), d.better.clone()), (vec![1], vec![]));
    assert_eq!(d.prev_at_ms, T0 + 2_000);
}

/// An org whose first key arrives after the window started has no bars
/// before it, and its change over the window is measured from its first
/// bucket: onboarding a failing repo is not a fall from 100 % (a user's
/// review: `corg █▁ 0.0% -100.0`).
#[test]
fn a_group_without_keys_yet_has_no_data() {
    let mut r = Rollout::new();
    // org 0 from the first minute; org 2 two minutes later, failing.
    let all = samples(&[(0, 0, 0, true, 0), (2, 0, 0, false, 120_000)], T0);
    for s in &all {
        r.push(s);
    }
    settle(&mut r, &all);
    let s = r.series(Group::Org(2), Window::Hour, T0 + 120_000);
    let shown: Vec<Point> = s.iter().flatten().copied().collect();
    assert_eq!(shown.len(), 1, "{s:?}");
    assert_eq!((shown[0].passing, shown[0].total), (0, 1));
    let org0 = r.series(Group::Org(0), Window::Hour, T0 + 120_000);
    assert_eq!(
        org0.iter().flatten().count(),
        3,
        "org 0 has data from its first minute"
    );
}
