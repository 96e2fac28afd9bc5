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
