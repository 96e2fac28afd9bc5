//! The key timeline (`t`) and what a fix replaced, on whole frames: a real
//! Hub, the real App driven by keys, the clock injected (the harness
//! starts at 2026-11-25T21:00:00Z), snapshots with insta.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::MouseEventKind;

use sinkwatch::hub::Hub;
use sinkwatch::model::{Store, StoreLimits};
use sinkwatch::state::{Restored, StateStats};
use sinkwatch::ui::harness::{Harness, T0};
use sinkwatch::ui::state::AlertsView;

const KEY: (&str, &str, &str) = ("ossf", "allstar", "Branch Protection");

const V1: &str = "Branch protection findings:\n\
    branch main Require approval: 0\n\
    branch main Dismiss stale reviews: false\n\
    branch main Block force push: true\n";
const V2: &str = "Branch protection findings:\n\
    branch main Require approval: 1\n\
    branch main Dismiss stale reviews: false\n\
    branch main Block force push: true\n\
    branch release Require approval: 0\n";

/// The key flaps: fails (V1), fails with other details (V2), passes,
/// fails again (V2), passes, fails (V1); other keys in between, every
/// minute or so.
fn flapping(h: &mut Harness) {
    let steps: [(bool, &str); 9] = [
        (false, V1),
        (false, V1),
        (false, V2),
        (true, ""),
        (true, ""),
        (false, V2),
        (true, ""),
        (false, V1),
        (false, V1),
    ];
    for (pass, details) in steps {
        h.ingest(KEY.0, KEY.1, KEY.2, pass, details);
        h.ingest("ossf", "scorecard", "SECURITY.md", true, "");
        h.ingest(
            "acme-corp",
            "web",
            "CODEOWNERS",
            false,
            "No CODEOWNERS file\n",
        );
        h.advance(7 * 60_000);
    }
}

/// Selects the newest alert of KEY in the Alerts pane (the stream is newest
/// first: it is third from the top).
fn select_key(h: &mut Harness) {
    h.draw();
    h.press("j j");
    h.draw();
}

#[test]
fn t_opens_the_keys_timeline_with_runs_flips_and_a_details_diff() {
    let mut h = Harness::live(120, 40);
    flapping(&mut h);
    select_key(&mut h);
    assert!(h.screen().contains("Branch Protection"));
    h.press("t");
    let screen = h.screen();
    assert!(
        screen.contains("Timeline · ossf/allstar · Branch Protection"),
        "{screen}"
    );
    // 9 alerts in 6 runs, the current one failing since the 8th alert.
    assert!(screen.contains("✗ failing for 14m00s"), "{screen}");
    assert!(screen.contains("9 alerts · 5 runs · 4 flips"), "{screen}");
    assert!(
        screen.contains("flapping: 4 flips in the last hour"),
        "{screen}"
    );
    // The strip: one cell per alert, oldest first.
    assert!(screen.contains("latest ███▁▁█▁██"), "{screen}");
    assert!(
        screen.contains("no durable state: older alerts are not kept"),
        "{screen}"
    );
    // The newest run changed back to V1 from V2: a diff.
    assert!(
        screen.contains("Δ details changed #22 at 21:49:00 (from #16): +1 −2"),
        "{screen}"
    );
    assert!(
        screen.contains("- branch main Require approval: 1"),
        "{screen}"
    );
    assert!(
        screen.contains("+ branch main Require approval: 0"),
        "{screen}"
    );
    assert!(
        screen.contains("- branch release Require approval: 0"),
        "{screen}"
    );
    insta::assert_snapshot!("timeline_120x40", screen);

    // Down: the older pass run shows what was failing before it.
    h.press("j");
    let screen = h.screen();
    assert!(
        screen.contains("✓ fixed; what was failing, #16 at 21:35:00:"),
        "{screen}"
    );
    // The first run: its text, then the change within it.
    h.press("G");
    let screen = h.screen();
    assert!(
        screen.contains("✗ failing since #1 at 21:00:00:"),
        "{screen}"
    );
    assert!(
        screen.contains("Δ details changed #7 at 21:14:00 (from #4): +2 −1"),
        "{screen}"
    );
    // The timeline follows new alerts of the key, and only of the key.
    h.press("g");
    h.ingest(KEY.0, KEY.1, KEY.2, true, "");
    h.ingest("ossf", "scorecard", "SECURITY.md", false, "x");
    h.advance(60_000);
    let screen = h.screen();
    assert!(screen.contains("10 alerts · 6 runs · 5 flips"), "{screen}");
    assert!(screen.contains("✓ passing for 1m00s"), "{screen}");
    // t, q and Esc close it; the panes are back.
    h.press("Esc");
    let screen = h.screen();
    assert!(!screen.contains("Timeline ·"), "{screen}");
    assert!(screen.contains("┌ Alerts"), "{screen}");
}

#[test]
fn the_timeline_fits_80x24_and_uses_250x60() {
    for (w, ht) in [(80, 24), (250, 60)] {
        let mut h = Harness::live(w, ht);
        flapping(&mut h);
        select_key(&mut h);
        h.press("t");
        let screen = h.screen();
        assert!(screen.contains("Timeline ·"), "{screen}");
        assert!(screen.contains("Runs, newest first"), "{screen}");
        insta::assert_snapshot!(format!("timeline_{w}x{ht}"), screen);
    }
}

#[test]
fn t_works_from_transitions_and_details_and_a_fix_shows_what_was_failing() {
    let mut h = Harness::live(120, 40);
    flapping(&mut h);
    h.ingest(KEY.0, KEY.1, KEY.2, true, "");
    h.draw();
    // Transitions (pane 6): the newest entry is that fix.
    h.press("6");
    let screen = h.screen();
    assert!(screen.contains("✗ failing before, #25"), "{screen}");
    h.press("t");
    let screen = h.screen();
    assert!(
        screen.contains("Timeline · ossf/allstar · Branch Protection"),
        "{screen}"
    );
    assert!(
        screen.contains("✓ fixed; what was failing, #25 at 21:56:00"),
        "{screen}"
    );
    h.press("t");
    // From Details too.
    h.press("Enter");
    h.press("t");
    assert!(h.screen().contains("Timeline · ossf/allstar"));
    // Other keys do nothing while it is open.
    h.press("f / v");
    assert!(!h.app.failing_only && h.app.prompt.is_none());
    assert_eq!(h.app.view, AlertsView::Events);
    h.press("q");
    assert!(h.app.timeline.is_none());
    // In the latest-per-key view: the selected key (failing first).
    h.press("4 v g");
    h.draw();
    h.press("t");
    let screen = h.screen();
    assert!(
        screen.contains("Timeline · acme-corp/web · CODEOWNERS"),
        "{screen}"
    );
    assert!(screen.contains("9 alerts · 1 run · 0 flips"), "{screen}");
}

/// What a fix replaced used to be looked for at most 50,000 alerts back;
/// with a large ring (90k keys scanned in turn) it was never found.
#[test]
fn a_fix_shows_what_was_failing_however_far_back_in_the_ring() {
    let mut h = Harness::new(
        120,
        40,
        sinkwatch::ui::theme::Theme::default_theme(),
        sinkwatch::ui::state::SourceInfo::live("127.0.0.1:50051"),
        StoreLimits {
            history: 200_000,
            ..StoreLimits::default()
        },
    );
    h.ingest(KEY.0, KEY.1, KEY.2, false, V1);
    for i in 0..60_000 {
        h.ingest("bulk", &format!("r{}", i % 5_000), "SECURITY.md", true, "");
    }
    h.ingest(KEY.0, KEY.1, KEY.2, true, "");
    h.draw();
    h.press("6");
    let screen = h.screen();
    assert!(
        screen.contains("✗ failing before, #1 at 21:00:00"),
        "{screen}"
    );
    assert!(
        screen.contains("branch main Require approval: 0"),
        "{screen}"
    );
}

/// With the durable state on, older alerts come from the database on a
/// thread of their own and join those of the ring.
#[test]
fn older_alerts_come_from_the_durable_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        // Two days ago the key failed, then passed: rows as the writer
        // keeps them (seq before the ring's).
        let mut c = rusqlite::Connection::open(&path).unwrap();
        sinkwatch::state::schema::migrate(&mut c).unwrap();
        let day = 86_400_000_i64;
        let t0 = T0 as i64 - 2 * day;
        c.execute(
            "INSERT INTO details (id, hash, text) VALUES (1, 0, ''), (2, 0, ?1)",
            [V2],
        )
        .unwrap();
        c.execute(
            "INSERT INTO keys VALUES (1, ?1, ?2, ?3, 1, 'fixed', ?4, ?4, ?4, 3, 1, 1, 3, 1, NULL)",
            (KEY.0, KEY.1, KEY.2, t0),
        )
        .unwrap();
        for (seq, pass, details) in [(1, false, 2), (2, false, 2), (3, true, 1)] {
            c.execute(
                "INSERT INTO events VALUES (?1, ?2, 1, ?3, 'same', ?4, NULL)",
                (seq, t0 + seq * 3_600_000, pass, details),
            )
            .unwrap();
        }
    }
    let mut h = Harness::live(120, 40);
    let mut store = Store::new(StoreLimits::default());
    store.continue_seq(10);
    h.hub = Hub::with_store(store, 1024);
    let mut stats = StateStats::default();
    stats.file = path.display().to_string();
    stats.restored = Restored {
        accepted: 9,
        ..Restored::default()
    };
    h.app.info.state = Some(Arc::new(stats));
    flapping(&mut h);
    select_key(&mut h);
    h.press("t");
    // The reader runs on its own thread: poll frames until it answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let screen = h.screen();
        if !screen.contains("reading older alerts") {
            break screen;
        }
        assert!(Instant::now() < deadline, "no answer from the state");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(screen.contains("3 older from the state"), "{screen}");
    assert!(screen.contains("12 alerts · 7 runs · 6 flips"), "{screen}");
    // The oldest run is two days ago: shown with its date.
    h.press("G");
    let screen = h.screen();
    assert!(screen.contains("✗ fail 11-23 22:00"), "{screen}");
    assert!(
        screen.contains("✗ failing since #1 at 22:00:00:"),
        "{screen}"
    );
}

#[test]
fn wire_strings_are_sanitized_in_the_timeline() {
    let mut h = Harness::live(120, 40);
    let policy = "Evil\u{1b}]0;title\u{7}";
    h.ingest("ossf", "allstar", policy, false, "a\u{1b}[31mred\u{202e}\n");
    h.ingest("ossf", "allstar", policy, false, "b\u{1b}[2Jgone\n");
    h.draw();
    h.press("t");
    let screen = h.screen();
    assert!(
        screen.contains("Timeline · ossf/allstar · Evil\\x1b"),
        "{screen}"
    );
    assert!(screen.contains("- a\\x1b[31mred"), "{screen}");
    assert!(screen.contains("+ b\\x1b[2Jgone"), "{screen}");
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{202e}'));
}

#[test]
fn the_wheel_scrolls_the_timeline_not_the_panes_and_t_needs_an_alert() {
    let mut h = Harness::live(120, 24);
    // Nothing selected yet: t does nothing.
    h.press("t");
    assert!(!h.screen().contains("Timeline ·"));
    flapping(&mut h);
    // A long change of the details: more than the screen shows.
    let long: String = (0..30).map(|i| format!("finding {i}\n")).collect();
    h.ingest(KEY.0, KEY.1, KEY.2, false, &long);
    h.draw();
    // Not from the group panes.
    h.press("1 t");
    assert!(!h.screen().contains("Timeline ·"));
    h.press("4");
    assert!(
        h.screen().contains(" · #28"),
        "Details shows the key's newest alert"
    );
    h.press("t");
    let before = h.screen();
    assert!(before.contains("Timeline ·"), "{before}");
    h.mouse(MouseEventKind::ScrollDown, 60, 15);
    let after = h.screen();
    assert_ne!(before, after, "the selected run's text moved");
    assert!(after.contains("▶✗ fail 21:49:00"), "{after}");
    h.press("q");
    // Back on the panes: the Alerts selection did not move under it.
    let screen = h.screen();
    assert!(screen.contains(" · #28"), "{screen}");
}
