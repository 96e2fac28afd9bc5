use proptest::prelude::*;

use super::*;

fn a(seq: u64, pass: bool, details: &str) -> Alert {
    Alert {
        seq,
        at_ms: seq * 1_000,
        pass,
        details: Arc::from(details),
    }
}

#[test]
fn runs_group_statuses_with_times_and_durations() {
    let t = Timeline::from_alerts([
        a(1, true, ""),
        a(2, true, ""),
        a(3, false, "x"),
        a(4, false, "x"),
        a(5, false, "x"),
        a(6, true, ""),
    ]);
    let runs: Vec<(bool, usize, usize)> =
        t.runs().iter().map(|r| (r.pass, r.first, r.len)).collect();
    assert_eq!(runs, [(true, 0, 2), (false, 2, 3), (true, 5, 1)]);
    assert_eq!(t.flips(), 2);
    assert_eq!((t.runs()[1].start_ms, t.runs()[1].last_ms), (3_000, 5_000));
    // A run lasts until the next one starts; the latest until now.
    assert_eq!(t.duration_ms(1, 99_000), 3_000);
    assert_eq!(t.duration_ms(2, 10_000), 4_000);
    assert_eq!(t.duration_ms(7, 10_000), 0);
    assert_eq!(t.flips_since(6_000), 1);
    assert_eq!(t.flips_since(3_000), 2);
    assert_eq!(t.flips_since(7_000), 0);
}

#[test]
fn details_changes_compare_each_failure_with_the_failure_before() {
    let t = Timeline::from_alerts([
        a(1, false, "a"),
        a(2, false, "a"),
        a(3, false, "b"),
        a(4, true, ""),
        // Same text as the failure before the fix: not a change.
        a(5, false, "b"),
        a(6, true, ""),
        a(7, false, "c"),
    ]);
    assert_eq!(t.changes(), [2, 6]);
    let changes: Vec<usize> = t.runs().iter().map(|r| r.changes).collect();
    assert_eq!(changes, [1, 0, 0, 0, 1]);
    assert_eq!(t.failure_before(6), Some(4));
    assert_eq!(t.failure_before(0), None);
}

#[test]
fn out_of_order_and_duplicate_alerts_are_ignored_by_push_and_deduplicated_by_merge() {
    let mut t = Timeline::from_alerts([a(5, false, "x"), a(6, true, "")]);
    assert!(!t.push(a(6, true, "")));
    assert!(!t.push(a(4, true, "")));
    assert!(t.push(a(9, false, "y")));
    // Older alerts from the durable state, overlapping the held ones.
    t.merge([a(1, true, ""), a(5, false, "x"), a(3, false, "w")]);
    let seqs: Vec<u64> = t.alerts().iter().map(|a| a.seq).collect();
    assert_eq!(seqs, [1, 3, 5, 6, 9]);
    assert_eq!(t.flips(), 3);
    assert_eq!(t.changes(), [2, 4]);
}

#[test]
fn the_strip_is_the_last_statuses_oldest_first() {
    let t = Timeline::from_alerts([a(1, true, ""), a(2, false, "x"), a(3, true, "")]);
    assert_eq!(t.strip(2).collect::<Vec<_>>(), [false, true]);
    assert_eq!(t.strip(10).count(), 3);
}

#[test]
fn the_timeline_is_bounded_and_counts_what_it_drops() {
    let mut t = Timeline::default();
    for seq in 1..=(MAX_ALERTS as u64 + 5) {
        t.push(a(seq, seq % 2 == 0, if seq % 2 == 0 { "" } else { "x" }));
    }
    assert!(t.alerts().len() <= MAX_ALERTS);
    assert_eq!(t.alerts().len() as u64 + t.dropped(), MAX_ALERTS as u64 + 5);
    assert_eq!(t.alerts().last().unwrap().seq, MAX_ALERTS as u64 + 5);
}

#[test]
fn a_line_diff_shows_removed_and_added_lines_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    let new = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
    let d = line_diff(old, new);
    assert_eq!((d.removed, d.added), (1, 2));
    let show: Vec<String> = d
        .lines
        .iter()
        .map(|l| match l.kind {
            LineKind::Same => format!(" {}", l.text),
            LineKind::Removed => format!("-{}", l.text),
            LineKind::Added => format!("+{}", l.text),
            LineKind::Gap => "…".to_owned(),
        })
        .collect();
    assert_eq!(
        show,
        [" a", "-b", "+B", " c", " d", "…", " i", " j", "+k"],
        "two hunks, {DIFF_CONTEXT} lines of context"
    );
    assert_eq!(line_diff(old, old), Diff::default());
    let long = "x\n".repeat(MAX_DIFF_LINES + 1);
    assert!(line_diff(&long, "y\n").too_long);
}

fn alerts_strategy() -> impl Strategy<Value = Vec<Alert>> {
    // Small alphabets so statuses flap and texts repeat.
    prop::collection::vec((1u64..5, any::<bool>(), 0usize..3), 0..60).prop_map(|v| {
        let mut seq = 0;
        v.into_iter()
            .map(|(gap, pass, text)| {
                seq += gap;
                let details = if pass {
                    ""
                } else {
                    ["a\nb\n", "a\nc\n", "z\n"][text]
                };
                a(seq, pass, details)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn runs_cover_every_alert_once_in_order(alerts in alerts_strategy()) {
        let t = Timeline::from_alerts(alerts.clone());
        prop_assert_eq!(t.alerts(), &alerts[..]);
        let mut next = 0;
        for (i, r) in t.runs().iter().enumerate() {
            prop_assert_eq!(r.first, next, "contiguous");
            prop_assert!(r.len > 0);
            prop_assert!(t.alerts()[r.range()].iter().all(|x| x.pass == r.pass));
            prop_assert_eq!(r.start_ms, t.alerts()[r.first].at_ms);
            prop_assert_eq!(r.last_ms, t.alerts()[r.first + r.len - 1].at_ms);
            if i > 0 {
                prop_assert_ne!(t.runs()[i - 1].pass, r.pass, "adjacent runs differ");
            }
            next += r.len;
        }
        prop_assert_eq!(next, alerts.len(), "every alert in a run");
        let flips = alerts.windows(2).filter(|w| w[0].pass != w[1].pass).count();
        prop_assert_eq!(t.flips(), flips);
        // Changes: each failure against the previous failure.
        let mut expected = Vec::new();
        let mut last: Option<&Alert> = None;
        for (i, x) in alerts.iter().enumerate() {
            if !x.pass {
                if last.is_some_and(|l| l.details != x.details) {
                    expected.push(i);
                }
                last = Some(x);
            }
        }
        prop_assert_eq!(t.changes(), &expected[..]);
        prop_assert_eq!(t.runs().iter().map(|r| r.changes).sum::<usize>(), expected.len());
    }

    #[test]
    fn built_alert_by_alert_or_merged_from_older_is_the_same(
        alerts in alerts_strategy(),
        cut in 0usize..60,
    ) {
        let whole = Timeline::from_alerts(alerts.clone());
        let cut = cut.min(alerts.len());
        let mut t = Timeline::from_alerts(alerts[cut..].to_vec());
        // Older ones arrive later (the durable state), overlapping by one.
        t.merge(alerts[..(cut + 1).min(alerts.len())].to_vec());
        prop_assert_eq!(t.alerts(), whole.alerts());
        prop_assert_eq!(t.runs(), whole.runs());
        prop_assert_eq!(t.changes(), whole.changes());
        let mut inc = Timeline::default();
        for x in alerts {
            inc.push(x);
        }
        prop_assert_eq!(inc.runs(), whole.runs());
        prop_assert_eq!(inc.changes(), whole.changes());
    }

    #[test]
    fn a_diff_keeps_the_old_lines_and_adds_the_new(
        old in prop::collection::vec("[abc]", 0..12),
        new in prop::collection::vec("[abc]", 0..12),
    ) {
        let join = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
        let d = line_diff(&join(&old), &join(&new));
        let removed: Vec<&str> = d.lines.iter().filter(|l| l.kind == LineKind::Removed).map(|l| l.text.as_str()).collect();
        let added: Vec<&str> = d.lines.iter().filter(|l| l.kind == LineKind::Added).map(|l| l.text.as_str()).collect();
        prop_assert_eq!(removed.len(), d.removed);
        prop_assert_eq!(added.len(), d.added);
        // Every line of old is kept or removed, every line of new kept or added.
        prop_assert_eq!(old.len() - d.removed, new.len() - d.added);
        prop_assert_eq!(d.lines.is_empty(), old == new);
    }
}
