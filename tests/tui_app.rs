//! Whole-app tests: a real Hub, the real App driven by keys and mouse, real
//! frames on ratatui's TestBackend, snapshotted with insta. The clock is
//! injected (the harness starts at 2026-11-25T21:00:00Z), so times in the
//! frames are deterministic.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::MouseEventKind;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use sinkwatch::forward::{
    DropReason, ForwardStats, Outcome as FwdOutcome, UpstreamSnapshot, UpstreamState,
};
use sinkwatch::model::StoreLimits;
use sinkwatch::record::RecordedAlert;
use sinkwatch::ui::harness::{Harness, T0, buffer_text, forwarding, two_upstreams, upstream};
use sinkwatch::ui::keymap::{KEYMAP, Pane};
use sinkwatch::ui::state::{AlertsView, Outcome, SourceInfo};
use sinkwatch::ui::theme::Theme;

const POLICIES: [&str; 6] = [
    "Binary Artifacts",
    "Branch Protection",
    "CODEOWNERS",
    "Outside Collaborators",
    "SECURITY.md",
    "Dangerous Workflow",
];

const REPOS: [(&str, &str); 5] = [
    ("ossf", "allstar"),
    ("ossf", "scorecard"),
    ("acme-corp", "payments-api"),
    ("acme-corp", "web-frontend"),
    ("nimbus-io", "nimbus"),
];

const SECURITY_DETAILS: &str = "Security policy not enabled.\n\n\
    **Remediation**\n\
    - Add a `SECURITY.md` file to the repository\n\
    - See https://github.com/ossf/allstar#security-policy\n";

/// One scan of every repo, every policy, 700 ms apart; a quarter fail.
fn scan(h: &mut Harness) {
    for (i, (org, repo)) in REPOS.iter().enumerate() {
        for (j, policy) in POLICIES.iter().enumerate() {
            let pass = (i + j) % 4 != 0;
            let details = if pass { "" } else { SECURITY_DETAILS };
            h.ingest(org, repo, policy, pass, details);
            h.advance(700);
        }
    }
    // A frame, as the live loop would draw one: keys act on what is shown.
    h.draw();
}

/// Where `text` starts on screen (cells, not chars).
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    let want: Vec<String> = text.chars().map(|c| c.to_string()).collect();
    for y in 0..buf.area.height {
        let row: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(x) = row
            .windows(want.len())
            .position(|w| w.iter().zip(&want).all(|(a, b)| *a == b))
        {
            return Some((x as u16, y));
        }
    }
    None
}

fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with {text:?} in\n{screen}"))
}

#[test]
fn empty_start() {
    let mut h = Harness::live(160, 45);
    let screen = h.screen();
    assert!(screen.contains("Waiting for alerts on 127.0.0.1:50051"));
    assert!(screen.contains("0 alerts"));
    insta::assert_snapshot!("empty_start", screen);
}

#[test]
fn a_stream_of_alerts_newest_first_following_the_head() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    let screen = h.screen();
    // Newest first: the last alert sent is the first row.
    let first_row = screen.lines().nth(3).unwrap();
    assert!(
        first_row.contains("nimbus-io/nimbus") && first_row.contains("Dangerous Workflow"),
        "{first_row}"
    );
    assert!(screen.contains("30 alerts"));
    assert!(line_with(&screen, " Orgs ").contains("3"));
    // Failing first, then by name.
    let orgs: Vec<&str> = screen.lines().skip(2).take(3).collect();
    assert!(
        orgs[0].contains("✗ acme-corp") && orgs[0].contains("3/12"),
        "{orgs:?}"
    );
    insta::assert_snapshot!("stream", screen);

    // More alerts arrive: still following, the newest is on top.
    h.advance(1000);
    h.ingest(
        "ossf",
        "tac",
        "SECURITY.md",
        false,
        "Security policy not enabled.\n",
    );
    let screen = h.screen();
    assert!(screen.lines().nth(3).unwrap().contains("ossf/tac"));
    assert!(screen.contains("31 alerts"));
}

#[test]
fn pass_to_fail_shows_in_transitions_failing_list_and_details() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.ingest("ossf", "allstar", "Branch Protection", true, "");
    h.advance(60_000);
    h.ingest(
        "ossf",
        "allstar",
        "Branch Protection",
        false,
        "No protection found for branch main\n\n**Remediation**\n- Require a pull request before merging\n- See [the docs](https://github.com/ossf/allstar)\n",
    );
    h.advance(500);
    // The newest event is selected (following) and flashes through the
    // selection highlight.
    let buf = h.draw().clone();
    let (x, y) = find(&buf, "✗ FAIL ossf/allstar").expect("the regression on top");
    assert_eq!(y, 3);
    assert_eq!(
        buf[(x, y)].style().bg,
        Some(Color::Yellow),
        "flash over selection"
    );
    h.press("v");
    assert_eq!(h.app.view, AlertsView::Latest);
    let buf = h.draw().clone();
    let screen = buffer_text(&buf);
    // The regression is in Transitions, flashing (it is 0.5 s old).
    let (x, y) = find(&buf, "✗ regressed").expect("a regression row");
    assert_eq!(buf[(x, y)].style().bg, Some(Color::Yellow), "flash style");
    assert!(line_with(&screen, "✗ regressed").contains("ossf/allstar · Branch Protection"));
    assert!(screen.contains("1 regressed / 0 fixed in last 15m"));
    // The key is among the failing ones in the latest view.
    let row = line_with(&screen, "Branch Protection     0s");
    assert!(row.contains("✗ FAIL ossf/allstar"), "{row}");
    insta::assert_snapshot!("transition_latest", screen);

    // Its details: focus Transitions and open it.
    h.press("Tab Tab Enter");
    assert_eq!(h.app.focus, Pane::Details);
    let screen = h.screen();
    assert!(screen.contains("No protection found for branch main"));
    assert!(screen.contains("• Require a pull request before merging"));
    assert!(screen.contains("the docs <https://github.com/ossf/allstar>"));
    assert!(screen.contains("regressed"));
    insta::assert_snapshot!("transition_details", screen);

    // The flash ends after 2 s; the regression stays listed.
    h.advance(2_000);
    let buf = h.draw().clone();
    let (x, y) = find(&buf, "✗ regressed").unwrap();
    assert_ne!(buf[(x, y)].style().bg, Some(Color::Yellow));
}

#[test]
fn drill_down_narrows_every_pane_and_esc_widens() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("Tab Tab Tab");
    assert_eq!(h.app.focus, Pane::Orgs);
    // Orgs: acme-corp, nimbus-io, ossf (all failing) → pick ossf.
    h.press("j j Enter");
    assert_eq!(h.app.focus, Pane::Repos);
    let screen = h.screen();
    assert!(line_with(&screen, "sinkwatch").contains("all › org ossf"));
    // Repos only of ossf; alerts only of ossf.
    assert!(screen.contains("✗ allstar"));
    assert!(!screen.contains("payments-api"));
    assert!(!screen.contains("nimbus-io/nimbus"));
    // Orgs still lists the alternatives, the chosen one marked.
    assert!(screen.contains("▸✗ ossf"));
    assert!(screen.contains("✗ acme-corp"));

    // Repo, then policy.
    h.press("Enter");
    assert_eq!(h.app.focus, Pane::Policies);
    h.press("Enter");
    assert_eq!(h.app.focus, Pane::Alerts);
    let screen = h.screen();
    let crumb = line_with(&screen, "sinkwatch");
    assert!(
        crumb.contains("all › org ossf › repo ossf/allstar › policy Binary Artifacts"),
        "{crumb}"
    );
    assert!(screen.contains("events · 1 "));
    insta::assert_snapshot!("drill_down", screen);

    // Esc widens one level at a time.
    h.press("Esc");
    let screen = h.screen();
    assert!(!line_with(&screen, "sinkwatch").contains("policy"));
    assert!(screen.contains("events · 6 "));
    h.press("Esc Esc");
    let screen = h.screen();
    assert!(line_with(&screen, "sinkwatch").trim_end().ends_with("all"));
    assert!(screen.contains("events · 30 "));
}

#[test]
fn a_filter_narrows_every_pane_with_a_live_count() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("/");
    h.type_text("org:ossf status:fail");
    let screen = h.screen();
    // Live count while typing (ossf has 3 failing alerts).
    assert!(screen.contains("3 alerts match · 3 keys now"), "{screen}");
    insta::assert_snapshot!("filter_typing", screen);
    h.press("Enter");
    assert!(h.app.prompt.is_none());
    let screen = h.screen();
    assert!(line_with(&screen, "sinkwatch").contains("filter org:ossf status:fail"));
    // Orgs: only ossf; repos: only ossf's; policies: only failing ones.
    assert!(screen.contains("✗ ossf"));
    assert!(!screen.contains("acme-corp"));
    assert!(!screen.contains("nimbus"));
    assert!(screen.contains("events · 3 "));
    assert!(!screen.contains("✓ pass"));
    assert!(line_with(&screen, " Policies ").contains("3"));
    insta::assert_snapshot!("filter_applied", screen);

    // c clears everything.
    h.press("c");
    let screen = h.screen();
    assert!(screen.contains("events · 30 "));
    assert!(!line_with(&screen, "sinkwatch").contains("filter"));
}

#[test]
fn a_bad_filter_shows_an_inline_error_and_keeps_the_old_one() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("f");
    h.press("/");
    h.type_text("status:fail polcy:x");
    let screen = h.screen();
    assert!(screen.contains("^ ✗ at 13:"), "{screen}");
    assert!(screen.contains("unknown field `polcy`"));
    insta::assert_snapshot!("filter_error", screen);
    // Enter does not apply a broken filter; Esc cancels.
    h.press("Enter");
    assert!(h.app.prompt.is_some());
    h.press("Esc");
    assert!(h.app.prompt.is_none());
    assert!(h.app.filter.is_empty());
    let screen = h.screen();
    assert!(screen.contains("✗ failing only"));
    assert!(screen.contains("events · 8 "));
    // Unbalanced quotes and bad regexes are errors too, never a crash.
    for bad in ["\"open", "/(/", "age<", "-", "org:"] {
        h.press("/ C-u");
        h.type_text(bad);
        let screen = h.screen();
        assert!(screen.contains("^ ✗ at"), "{bad}: {screen}");
        h.press("Esc");
    }
}

#[test]
fn help_lists_every_key_of_the_key_table() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("?");
    let screen = h.screen();
    // The help scrolls when the key table outgrows the terminal: read every
    // page of it.
    let mut pages = screen.clone();
    let mut last = screen.clone();
    loop {
        h.press("PgDn");
        let next = h.screen();
        if next == last {
            break;
        }
        pages.push_str(&next);
        last = next;
    }
    for b in KEYMAP {
        let label = b.label();
        let row = pages
            .lines()
            .find(|l| l.contains(&format!("  {label} ")) && l.contains(b.description))
            .unwrap_or_else(|| panic!("help misses {label:?} {:?}\n{pages}", b.description));
        assert!(!row.is_empty());
    }
    h.press("Esc ?");
    insta::assert_snapshot!("help", screen);
    // G and g go to its end and back, and the bottom border says where
    // (a review: they did nothing, and nothing said where one was).
    h.press("G");
    let end = h.screen();
    assert!(end.contains(" of 114 ┘") && end.contains("↑ "), "{end}");
    h.press("g");
    assert!(h.screen().contains(" 1–41 of 114 ↓ ┘"));
    // Keys other than the help's own do nothing while it is open.
    h.press("f / v");
    assert!(!h.app.failing_only && h.app.prompt.is_none() && h.app.view == AlertsView::Events);
    h.press("Esc");
    assert!(h.app.help.is_none());

    // On a small terminal the help scrolls to its end.
    h.resize(100, 30);
    h.press("?");
    let mut screen = h.screen();
    for _ in 0..100 {
        h.press("PgDn");
        let next = h.screen();
        if next == screen {
            break;
        }
        screen = next;
    }
    assert!(screen.contains("Times are UTC (--utc)."), "{screen}");
    h.press("q");
    assert!(h.app.help.is_none());
}

/// On a wide terminal the help has three columns and every key is on its
/// first page: nothing to scroll for.
#[test]
fn a_wide_help_shows_every_key_at_once() {
    let mut h = Harness::live(250, 60);
    scan(&mut h);
    h.press("?");
    let screen = h.screen();
    for b in KEYMAP {
        let label = b.label();
        assert!(
            screen
                .lines()
                .any(|l| l.contains(&format!("  {label} ")) && l.contains(b.description)),
            "help misses {label:?} {:?}\n{screen}",
            b.description
        );
    }
}

#[test]
fn small_terminals() {
    let mut h = Harness::live(100, 30);
    scan(&mut h);
    h.ingest(
        "ossf",
        "allstar",
        "Binary Artifacts",
        false,
        "Binary artifacts found:\n- `bin/tool.exe`\n",
    );
    let screen = h.screen();
    assert!(screen.contains("Transitions"));
    assert!(screen.contains("✗ FAIL"));
    insta::assert_snapshot!("layout_100x30", screen);

    // Below 80×24 (80×23 is an 80×24 terminal under tmux's status line)
    // one pane at a time, the focused one, as `z` shows it; the pane keys
    // switch it. Before, a message only (a review).
    for (w, hh) in [(79, 30), (80, 23), (60, 20)] {
        h.resize(w, hh);
        h.press("4");
        let screen = h.screen();
        assert!(!screen.contains("Terminal too small"), "{w}×{hh}\n{screen}");
        assert!(screen.contains("┌ Alerts"), "{w}×{hh}\n{screen}");
        assert!(!screen.contains("┌ Orgs"), "{w}×{hh}\n{screen}");
        h.press("1");
        let screen = h.screen();
        assert!(screen.contains("┌ Orgs"), "{w}×{hh}\n{screen}");
        assert!(!screen.contains("┌ Alerts"), "{w}×{hh}\n{screen}");
    }
    h.resize(60, 20);
    h.press("4");
    insta::assert_snapshot!("one_pane_60x20", h.screen());
    h.resize(39, 11);
    let screen = h.screen();
    assert!(screen.contains("Terminal too small"));
    assert!(screen.contains("39×11 — sinkwatch needs at least 40×12"));
    insta::assert_snapshot!("too_small", screen);
    // Keys still work; q quits.
    assert_eq!(h.press("q"), Outcome::Quit);
}

/// Every screen and overlay draws at the small sizes one pane at a time
/// serves, down to the smallest, without a panic and with its frame.
#[test]
fn every_overlay_draws_at_small_sizes() {
    let mut h = Harness::live(100, 30);
    scan(&mut h);
    for (w, hh) in [(40, 12), (45, 13), (52, 16), (64, 20), (79, 23), (80, 23)] {
        h.resize(w, hh);
        for keys in [
            "4",
            "1 Enter",
            "2",
            "3",
            "5",
            "6",
            "?",
            "Esc F",
            "F",
            "R",
            "Esc t",
            "Esc x",
            "Esc X",
            "Esc /",
            "Esc e",
            "Esc Esc c z",
            "z",
            "Esc r",
            "r",
        ] {
            h.press(keys);
            let screen = h.screen();
            assert!(
                screen.lines().count() == hh as usize,
                "{w}×{hh} after {keys}"
            );
            assert!(screen.contains('┌'), "{w}×{hh} after {keys}\n{screen}");
        }
        h.press("Esc Esc Esc");
    }
}

#[test]
fn no_color_keeps_failures_distinct() {
    let theme = Theme::default_theme().without_color();
    let mut h = Harness::new(
        160,
        45,
        theme,
        SourceInfo::live("127.0.0.1:50051"),
        StoreLimits::default(),
    );
    scan(&mut h);
    h.ingest("ossf", "allstar", "Binary Artifacts", true, "");
    h.advance(300);
    let buf = h.draw().clone();
    for cell in buf.content() {
        assert_eq!(cell.fg, Color::Reset, "no colour at all: {cell:?}");
        assert_eq!(cell.bg, Color::Reset, "no colour at all: {cell:?}");
    }
    let (fx, fy) = find(&buf, "✗ FAIL").unwrap();
    let (px, py) = find(&buf, "✓ pass").unwrap();
    let fail = buf[(fx, fy)].modifier;
    let pass = buf[(px, py)].modifier;
    assert!(fail.contains(Modifier::BOLD), "{fail:?}");
    assert_ne!(fail, pass, "failures differ from passes without colour");
    // A fresh fix still stands out (flash), by modifiers alone.
    let (x, y) = find(&buf, "✓ fixed").unwrap();
    let row_text = buf[(x + 14, y)].modifier;
    assert!(row_text.intersects(Modifier::REVERSED | Modifier::UNDERLINED | Modifier::BOLD));
    let plain = Theme::default_theme();
    assert_ne!(plain.fail.fg, None, "the default theme does use colour");
}

#[test]
fn pause_freezes_the_stream_and_counts_new_alerts() {
    // Forwarding with an upstream down fills the status bar, as a user's
    // review had it when PAUSED was cut off at 80 columns.
    let mut h = Harness::live(160, 45).with_forward(one_up_one_down());
    scan(&mut h);
    h.press("Space");
    for i in 0..3 {
        h.ingest("ossf", &format!("new-{i}"), "SECURITY.md", false, "x");
    }
    let screen = h.screen();
    assert!(screen.contains("⏸ PAUSED +3 new"), "{screen}");
    assert!(screen.contains("33 alerts"), "counts keep updating");
    assert!(!screen.contains("FAIL ossf/new-0"), "the stream is frozen");
    assert!(
        screen.contains("✗ ossf/new-0"),
        "the group panes keep updating"
    );
    // At 80 columns the squeezed status bar still says so (it was cut).
    h.resize(80, 24);
    let screen = h.screen();
    assert!(screen.contains("⏸ PAUSED +3 new"), "{screen}");
    h.resize(160, 45);
    h.press("Space");
    let screen = h.screen();
    assert!(screen.contains("ossf/new-2"));
    assert!(!screen.contains("PAUSED"));
}

#[test]
fn a_scrolled_view_stays_put_and_g_follows_again() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("j j");
    h.ingest("ossf", "tac", "SECURITY.md", false, "x");
    let screen = h.screen();
    assert!(screen.contains("scrolled (g: newest)"));
    // The first row did not move: the new alert is above the window.
    assert!(!screen.lines().nth(3).unwrap().contains("ossf/tac"));
    h.press("g");
    let screen = h.screen();
    assert!(screen.lines().nth(3).unwrap().contains("ossf/tac"));
    assert!(screen.contains("newest first"));
}

#[test]
fn mouse_click_focuses_and_selects_and_the_wheel_scrolls() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.draw();
    // Orgs rows start at y=2 (header line, border); click the third org.
    h.click(5, 4);
    assert_eq!(h.app.focus, Pane::Orgs);
    h.press("Enter");
    let screen = h.screen();
    assert!(
        line_with(&screen, "sinkwatch").contains("org ossf"),
        "{screen}"
    );
    // Wheel over Alerts scrolls it without moving focus.
    h.mouse(MouseEventKind::ScrollDown, 80, 10);
    assert_eq!(h.app.focus, Pane::Repos);
    assert!(h.screen().contains("scrolled (g: newest)"));
}

#[test]
fn wire_strings_are_sanitized_everywhere() {
    let mut h = Harness::live(160, 45);
    h.ingest(
        "evil\x1b]0;pwned\x07",
        "repo\u{202e}txt",
        "Policy\x1b[2J",
        false,
        "details \x1b[31mred\x1b[0m\n",
    );
    h.press("v");
    let buf = h.draw().clone();
    for cell in buf.content() {
        for c in cell.symbol().chars() {
            assert!(
                !c.is_control(),
                "control character {c:?} reached the screen"
            );
            assert_ne!(c, '\u{202e}', "bidi override reached the screen");
        }
    }
    let screen = buffer_text(&buf);
    assert!(screen.contains("evil\\x1b]0;pwned\\x07"), "{screen}");
    assert!(screen.contains("repo\\u{202e}txt"));
}

#[test]
fn quit_keys() {
    let mut h = Harness::live(100, 30);
    assert_eq!(h.press("q"), Outcome::Quit);
    let mut h = Harness::live(100, 30);
    h.press("/");
    h.type_text("q");
    assert_eq!(
        h.app.prompt.as_ref().unwrap().input,
        "q",
        "q types in the prompt"
    );
    assert_eq!(h.press("C-c"), Outcome::Quit);
    // Ctrl-Z asks the loop to suspend, from anywhere (even the prompt).
    assert_eq!(h.press("C-z"), Outcome::Suspend);
    let mut h = Harness::live(100, 30);
    assert_eq!(h.press("C-z"), Outcome::Suspend);
}

#[test]
fn a_recording_opens_with_its_times_and_bad_lines_noted() {
    let alerts: Vec<RecordedAlert> = (0..4)
        .map(|i| RecordedAlert {
            seq: i + 1,
            at: sinkwatch::record::format_time(T0 - 3_600_000 + i * 1000),
            owner: "ossf".into(),
            repo: "allstar".into(),
            policy: "SECURITY.md".into(),
            pass: i % 2 == 1,
            details: if i % 2 == 1 {
                String::new()
            } else {
                "Security policy not enabled.\n".into()
            },
            change: None,
            peer: Some("10.0.0.7:5000".into()),
            peer_identity: Some("CN=allstar".into()),
        })
        .collect();
    let (hub, refused) = sinkwatch::ui::live::load_into_hub(&alerts);
    assert_eq!(refused, 0);
    let mut info = SourceInfo::recording("alerts.jsonl");
    info.notices
        .push("1 unreadable line skipped (line 3: expected value)".into());
    // What the recording says beside its alerts (`lost`, `undelivered`),
    // a row each; past three, the third row holds the rest.
    info.notices.extend([
        "212 alerts missing: this recording's writer lost them (`lost` lines)".to_owned(),
        "not delivered: http://u:1 dropped 13 (`undelivered` lines list the seqs)".to_owned(),
        "2 alerts not loaded: the key limit was reached".to_owned(),
    ]);
    let mut h = Harness::new(
        160,
        45,
        Theme::default_theme(),
        info,
        StoreLimits::default(),
    );
    h.hub = hub;
    let screen = h.screen();
    assert!(
        screen.contains("recording alerts.jsonl │ 4 alerts │"),
        "no rate: {screen}"
    );
    assert!(screen.contains("⚠ 1 unreadable line skipped (line 3: expected value)"));
    assert!(
        screen.contains("⚠ 212 alerts missing: this recording's writer lost them (`lost` lines)\n"),
        "{screen}"
    );
    assert!(
        screen.contains("⚠ not delivered: http://u:1 dropped 13 (`undelivered` lines list the seqs) · 2 alerts not loaded"),
        "{screen}"
    );
    // Three notice rows leave the smallest terminals their panes.
    for (w, hgt) in [(80, 24), (60, 20), (40, 12)] {
        h.resize(w, hgt);
        let small = h.screen();
        assert!(small.starts_with(" ⚠ 1 unreadable"), "{w}x{hgt}: {small}");
        assert!(small.contains("⚠ 212 alerts missing"), "{w}x{hgt}: {small}");
        assert!(small.contains("⚠ not delivered"), "{w}x{hgt}: {small}");
        assert!(
            small.contains("recording alerts.jsonl"),
            "{w}x{hgt}: {small}"
        );
    }
    h.resize(160, 45);
    // Recorded times are kept: 20:00:03 is an hour before the clock.
    assert!(screen.contains("20:00:03 ✓ pass ossf/allstar"), "{screen}");
    // fail, fix, regression, fix — an hour before the wall clock, but a
    // recording is its own time: "now" is its last alert.
    assert!(
        screen.contains("1 regressed / 2 fixed in last 15m"),
        "{screen}"
    );
    assert!(screen.contains("20:00:03Z (0s ago)"), "{screen}");
    assert_eq!(screen.matches("✓ fixed").count(), 2);
    assert_eq!(screen.matches("✗ regressed").count(), 1);
    assert!(screen.contains("identity CN=allstar"));
    // Live-only keys and counters are not offered.
    let footer = screen.lines().last().unwrap();
    assert!(
        !footer.contains("pause") && !footer.contains("forwarding"),
        "{footer}"
    );
    assert!(!screen.contains("refused"), "{screen}");
    insta::assert_snapshot!("recording", screen);
    // Nor in the help (a review found Space pause, F and R listed there).
    h.press("?");
    let help = h.screen();
    assert!(help.contains("Help · sinkwatch keys"), "{help}");
    for live in [
        "pause the view",
        "forwarding per upstream",
        "refused requests",
        "bell on matching",
    ] {
        assert!(!help.contains(live), "{live}: {help}");
    }
    h.press("Esc");
    // age< measures from the recording's end too.
    h.press("/");
    h.type_text("age<15m");
    h.press("Enter");
    let screen = h.screen();
    assert!(screen.contains("Alerts events · 4 "), "{screen}");
}

#[test]
fn the_banner_and_recorder_problems_show() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let stats = Arc::new(sinkwatch::record::WriterStats::default());
    let mut info = SourceInfo::live("0.0.0.0:50051");
    info.banner = Some("listening on 0.0.0.0:50051 without TLS or a token\x1b[2J".into());
    info.recorder = Some(("alerts.jsonl".into(), stats.clone()));
    let mut h = Harness::new(
        160,
        45,
        Theme::default_theme(),
        info,
        StoreLimits::default(),
    );
    scan(&mut h);
    let screen = h.screen();
    assert!(
        screen.starts_with(" ⚠ listening on 0.0.0.0:50051 without TLS or a token\\x1b[2J"),
        "{screen}"
    );
    assert!(
        !screen.contains("record alerts.jsonl"),
        "nothing lost, nothing shown"
    );
    stats.lagged.fetch_add(3, Ordering::Relaxed);
    let buf = h.draw().clone();
    let screen = buffer_text(&buf);
    assert!(line_with(&screen, "listen 0.0.0.0:50051").contains("record alerts.jsonl: 3 lost"));
    let (x, y) = find(&buf, "record alerts.jsonl").unwrap();
    assert_eq!(
        buf[(x, y)].style(),
        buf[(x, y)]
            .style()
            .patch(Theme::default_theme().status_warn)
    );
    *stats.last_error.lock().unwrap() = Some("No space left on device".into());
    let screen = h.screen();
    assert!(screen.contains("record alerts.jsonl: No space left on device"));
}

// ---- forwarding -----------------------------------------------------------

fn healthy_upstream(port: u16) -> UpstreamSnapshot {
    UpstreamSnapshot {
        delivered: 12_345,
        rate: 41.2,
        latency_p50: Some(Duration::from_micros(1_200)),
        latency_p99: Some(Duration::from_micros(4_800)),
        ..upstream(port, UpstreamState::Up, 210)
    }
}

/// 50071 up (some failures, a few in flight), 50072 down with its queue
/// full and drops; outcomes for alerts 29 and 30.
fn one_up_one_down() -> Arc<ForwardStats> {
    let up = UpstreamSnapshot {
        failed: 3,
        queued: 12,
        in_flight: 4,
        retries: 7,
        last_error: Some("InvalidArgument: policy name too long".into()),
        last_error_age: Some(Duration::from_secs(150)),
        ..healthy_upstream(50071)
    };
    let down = UpstreamSnapshot {
        dropped: 2_000,
        queued: 100_000,
        in_flight: 1,
        retries: 250,
        last_error: Some(
            "Unavailable: error trying to connect: tcp connect error: Connection refused (os error 111)"
                .into(),
        ),
        last_error_age: Some(Duration::from_secs(90)),
        ..upstream(50072, UpstreamState::Down, 150)
    };
    forwarding(vec![
        (
            up,
            vec![
                (
                    30,
                    FwdOutcome::Delivered {
                        attempts: 2,
                        latency: Duration::from_micros(3_400),
                    },
                ),
                (
                    29,
                    FwdOutcome::Failed {
                        code: tonic::Code::InvalidArgument,
                        message: "policy name too long\x1b[2J".into(),
                        attempts: 1,
                    },
                ),
            ],
        ),
        (
            down,
            vec![
                (30, FwdOutcome::Dropped(DropReason::QueueFull)),
                (29, FwdOutcome::InFlight { attempts: 3 }),
            ],
        ),
    ])
}

/// The status bar and the footer.
fn bottom_lines(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    lines[lines.len() - 2..].join("\n")
}

#[test]
fn the_status_bar_shows_forwarding_health() {
    // The status bar and the panel read one sample and say it the same way.
    let base = Theme::default_theme().status_bar;
    let warn = Theme::default_theme().status_warn;

    // Healthy: every upstream up, nothing dropped or failed.
    let stats = forwarding(vec![
        (healthy_upstream(50071), vec![]),
        (healthy_upstream(50072), vec![]),
    ]);
    let mut h = Harness::live(160, 45).with_forward(stats);
    scan(&mut h);
    let buf = h.draw().clone();
    let screen = buffer_text(&buf);
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(
        status.contains("refused 0 │ fwd 2/2 up · queued 0 · dropped 0 · failed 0"),
        "{status}"
    );
    let (x, y) = find(&buf, "fwd 2/2 up").unwrap();
    let cell = &buf[(x, y)];
    assert_eq!(
        (Some(cell.fg), Some(cell.bg), cell.modifier),
        (base.fg, base.bg, base.add_modifier),
        "healthy: the plain status style"
    );
    insta::assert_snapshot!("forward_status_healthy", bottom_lines(&screen));

    // One upstream down, its queue full and dropping: the warning style.
    let mut h = Harness::live(160, 45).with_forward(one_up_one_down());
    scan(&mut h);
    let buf = h.draw().clone();
    let screen = buffer_text(&buf);
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(
        status.contains(
            "fwd 1/2 up, 1 down · queued 100,012 · in flight 5 · dropped 2,000 · failed 3"
        ),
        "{status}"
    );
    let (x, y) = find(&buf, "fwd 1/2 up").unwrap();
    let cell = &buf[(x, y)];
    assert_eq!(
        (Some(cell.fg), Some(cell.bg), cell.modifier),
        (warn.fg, warn.bg, warn.add_modifier),
        "trouble: the warning style"
    );
    insta::assert_snapshot!("forward_status_down", bottom_lines(&screen));

    // Narrow: zero counters, `queued`, `refused 0` and `/ N keys` make room.
    h.resize(100, 30);
    let screen = h.screen();
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(status.contains("fwd 1/2 up, 1 down"), "{status}");
    assert!(status.contains("dropped 2,000"), "{status}");
    insta::assert_snapshot!("forward_status_narrow", bottom_lines(&screen));

    // Without --forward nothing is said about forwarding.
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    assert!(!h.screen().contains("fwd "));
}

#[test]
fn the_forwarding_panel_replaces_transitions() {
    let mut h = Harness::live(160, 45).with_forward(one_up_one_down());
    scan(&mut h);
    h.press("F");
    assert!(h.app.forward_panel);
    let screen = h.screen();
    assert!(!screen.contains("Transitions"), "{screen}");
    let title = line_with(&screen, " Forwarding ");
    assert!(title.contains("tee · 1/2 up · ✗ 1 down"), "{title}");
    assert!(screen.contains("✓ 127.0.0.1:50071 · tee"));
    assert!(screen.contains("up 3m · 41/s · p50 1.2 ms · p99 4.8 ms · retries 7"));
    assert!(screen.contains("✗ 127.0.0.1:50072 · tee"));
    assert!(screen.contains("down 2m · 0.0/s · no answers yet · retries 250"));
    assert!(screen.contains("dropped 2,000"));
    assert!(screen.contains("queued 100,000 (full)"));
    assert!(screen.contains("last error 1m ago: Unavailable: error trying to"));
    assert!(screen.contains("Connection refused (os"), "the error wraps");
    // Details is still there, with the selected alert's outcomes.
    assert!(screen.contains("forward 127.0.0.1:50071 → delivered (3.4 ms, attempt 2)"));
    insta::assert_snapshot!("forward_panel", screen);

    // Tab goes through it in the place of Transitions; F hides it again.
    h.press("Tab Tab");
    assert_eq!(h.app.focus, Pane::Forwarding);
    h.press("Tab");
    assert_eq!(h.app.focus, Pane::Orgs);
    h.press("BackTab");
    assert_eq!(h.app.focus, Pane::Forwarding);
    h.press("F");
    assert_eq!(h.app.focus, Pane::Transitions);
    assert!(h.screen().contains("Transitions"));
}

#[test]
fn held_senders_are_shown_only_once_there_were_some() {
    let calm = forwarding(vec![(healthy_upstream(50071), vec![])]);
    let mut h = Harness::live(160, 45).with_forward(calm);
    scan(&mut h);
    h.press("F");
    assert!(!h.screen().contains("senders held"));

    let behind = UpstreamSnapshot {
        queued: 50_000,
        held: 1_234,
        holding: 12,
        ..healthy_upstream(50071)
    };
    let mut h = Harness::live(160, 45).with_forward(forwarding(vec![(behind, vec![])]));
    scan(&mut h);
    h.press("F");
    let screen = h.screen();
    assert!(
        screen.contains("queued 50,000 · in flight 0") && screen.contains("senders held 1,234"),
        "{screen}"
    );
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(
        status.contains("failed 0 · holding 12 senders"),
        "held right now, in the status bar: {status}"
    );
}

#[test]
fn the_forwarding_panel_at_100x30_takes_the_details_place_too() {
    let mut h = Harness::live(100, 30).with_forward(one_up_one_down());
    scan(&mut h);
    h.press("Tab F");
    // Focus was on Details, which the panel now covers.
    assert_eq!(h.app.focus, Pane::Forwarding);
    let screen = h.screen();
    assert!(!screen.contains("Details"), "{screen}");
    assert!(screen.contains("✓ 127.0.0.1:50071 · tee"));
    assert!(screen.contains("✗ 127.0.0.1:50072 · tee"));
    insta::assert_snapshot!("forward_panel_100x30", screen);
    // Tab skips the hidden Details.
    h.press("BackTab");
    assert_eq!(h.app.focus, Pane::Alerts);
    h.press("Tab");
    assert_eq!(h.app.focus, Pane::Forwarding);
}

#[test]
fn the_forwarding_panel_scrolls_by_upstream() {
    let ups = (0..8)
        .map(|i| (healthy_upstream(50071 + i), vec![]))
        .collect();
    let stats = forwarding(ups);
    let mut h = Harness::live(160, 45).with_forward(stats);
    scan(&mut h);
    h.press("F");
    let screen = h.screen();
    assert!(screen.contains("✓ 127.0.0.1:50071 · tee"));
    assert!(!screen.contains("✓ 127.0.0.1:50078 · tee"));
    assert!(screen.contains("↓ 4 more · Tab here, j/k"), "{screen}");
    h.press("Tab Tab G");
    assert_eq!(h.app.focus, Pane::Forwarding);
    let screen = h.screen();
    assert!(screen.contains("✓ 127.0.0.1:50078 · tee"));
    assert!(!screen.contains("✓ 127.0.0.1:50077 · tee"));
    assert!(screen.contains("↑ 7 above · j/k"), "{screen}");
    h.press("k");
    assert!(h.screen().contains("✓ 127.0.0.1:50077 · tee"));
    h.press("g");
    assert!(h.screen().contains("✓ 127.0.0.1:50071 · tee"));
}

#[test]
fn without_forwarding_the_panel_says_how_to_start_it() {
    let mut h = Harness::live(160, 45);
    scan(&mut h);
    h.press("F");
    let screen = h.screen();
    assert!(line_with(&screen, " Forwarding ").contains("off"));
    assert!(screen.contains("Forwarding is off."));
    assert!(screen.contains("--forward URL"));
    assert!(!screen.contains("forward 127"), "no outcomes in Details");
}

/// `attach`: the panel draws what the remote sink reports over Watch, and
/// says so while it reports no upstream (nothing in the status bar then).
#[test]
fn attached_the_panel_shows_the_remote_sinks_forwarders() {
    use sinkwatch::forward::ForwardStats;
    use sinkwatch::proto::watch::{Forwarding, Upstream};
    let remote = ForwardStats::remote(1);
    let mut h = Harness::live(160, 45).with_forward(remote.clone());
    scan(&mut h);
    h.press("F");
    let screen = h.screen();
    assert!(screen.contains("No forwarding reported."), "{screen}");
    assert!(!screen.contains("fwd"), "{screen}");
    remote.set_remote(
        0,
        &Forwarding {
            mode: "tee".into(),
            upstreams: vec![Upstream {
                url: "http://plugin:50051\x1b[2J".into(),
                role: "tee".into(),
                state: "up".into(),
                accepted: 30,
                delivered: 28,
                queued: 2,
                queue_capacity: 100_000,
                ..Default::default()
            }],
        },
    );
    h.advance(1_000);
    let screen = h.screen();
    assert!(screen.contains("tee · 1/1 up"), "{screen}");
    assert!(screen.contains("✓ plugin:50051"), "{screen}");
    assert!(screen.contains("delivered 28"), "{screen}");
    assert!(!screen.contains('\x1b'), "sanitized");
    assert!(!screen.contains("No forwarding reported."), "{screen}");
}

#[test]
fn details_show_each_alerts_outcome_per_upstream() {
    let mut h = Harness::live(160, 45).with_forward(one_up_one_down());
    scan(&mut h);
    // The newest alert (#30) is selected.
    let screen = h.screen();
    assert!(
        screen.contains("forward 127.0.0.1:50071 → delivered (3.4 ms, attempt 2)"),
        "{screen}"
    );
    assert!(screen.contains("forward 127.0.0.1:50072 → dropped: queue full"));
    // #29: failed upstream (the message sanitized), retrying on the other.
    h.press("j Enter");
    let buf = h.draw().clone();
    let screen = buffer_text(&buf);
    // (wrapped in the 65 columns of Details)
    assert!(
        screen.contains("forward 127.0.0.1:50071 → failed: InvalidArgument: policy name"),
        "{screen}"
    );
    assert!(screen.contains("long\\x1b[2J"), "sanitized: {screen}");
    assert!(screen.contains("forward 127.0.0.1:50072 → in flight (retrying, 3 failed attempts)"));
    let (x, y) = find(&buf, "failed: InvalidArgument").unwrap();
    assert_eq!(buf[(x, y)].style().fg, Theme::default_theme().fail.fg);
    insta::assert_snapshot!("forward_details", screen);
    // An alert the forwarder has no outcome for (yet).
    h.press("Esc j");
    assert!(
        h.screen()
            .contains("forward 127.0.0.1:50071 → not handed to the forwarder yet")
    );
}

/// The demo world at a size, after three scans, as a new user sees it.
fn demo_at(width: u16, height: u16) -> Harness {
    let mut h = Harness::live(width, height);
    let mut world = sinkwatch::client::demo::DemoWorld::new(7);
    let n = world.key_count() * 3;
    h.ingest_demo(&mut world, n, 150);
    h.draw();
    h
}

/// The rows of a pane's body, by the pane's title (left column panes).
fn pane_rows(screen: &str, title: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(&format!("┌ {title} ")))
        .unwrap_or_else(|| panic!("no pane {title} in\n{screen}"));
    let col = lines[start].chars().position(|c| c == '┌').unwrap();
    let mut out = Vec::new();
    for l in &lines[start + 1..] {
        let cells: Vec<char> = l.chars().skip(col).collect();
        if cells.first() != Some(&'│') {
            break;
        }
        let end = cells.iter().skip(1).position(|&c| c == '│').unwrap() + 1;
        out.push(cells[1..end].iter().collect::<String>().trim().to_owned());
    }
    out
}

/// At 80×24, counts too wide for the Transitions title are left out
/// whole, never cut (`✓1,` read as a count of 1 for 1,378, a review); and
/// the status bar is cut between words, never inside a number.
#[test]
fn at_80x24_no_count_is_cut_short() {
    let mut h = demo_at(80, 24);
    for i in 0..2_800 {
        h.ingest("acme-corp", "flappy", "Branch Protection", i % 2 == 1, "x");
    }
    h.draw();
    let screen = h.screen();
    let title = screen
        .lines()
        .find(|l| l.contains("Transitions"))
        .expect("the Transitions pane");
    let counts = regex::Regex::new(r"[✗✓][0-9][0-9,]*\+?").unwrap();
    for c in counts.find_iter(title) {
        let digits = c
            .as_str()
            .trim_start_matches(['✗', '✓'])
            .trim_end_matches('+');
        assert!(
            !digits.ends_with(',') && digits.replace(',', "").parse::<u64>().unwrap() >= 1_000,
            "a count cut short: {title}"
        );
    }
    assert!(title.contains("✗1,"), "the regressions, whole: {title}");
    let bar = screen.lines().rev().nth(1).unwrap();
    let cut = regex::Regex::new(r"[0-9,/]…").unwrap();
    assert!(!cut.is_match(bar), "a number cut in the status bar: {bar}");
}

#[test]
fn at_80x24_every_repo_name_is_distinct_or_visibly_cut() {
    let mut h = demo_at(80, 24);
    let screen = h.screen();
    let repos: Vec<String> = pane_rows(&screen, "Repos")
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect();
    assert!(repos.len() >= 4, "{screen}");
    for (i, a) in repos.iter().enumerate() {
        for b in &repos[i + 1..] {
            assert_ne!(a, b, "two repos look the same:\n{screen}");
        }
    }
    // The demo's repo names are longer than the column: cuts show.
    assert!(repos.iter().any(|r| r.contains('…')), "{repos:?}");
    // The Alerts rows too: a cut name ends in an ellipsis, never mid-word.
    let alerts_row = line_with(&screen, "21:02:51");
    assert!(alerts_row.contains("…/grades-export"), "{alerts_row}");
    // More repos than rows: the position shows in the border.
    assert!(screen.contains("1–5 of 42 ↓"), "{screen}");
    insta::assert_snapshot!("demo_80x24", screen);
}

#[test]
fn at_120x40_the_alerts_pane_has_a_details_column() {
    let mut h = demo_at(120, 40);
    let screen = h.screen();
    let header = line_with(&screen, "time UTC");
    assert!(header.contains("details"), "{header}");
    // A failing row shows the start of its details.
    assert!(screen.contains("CODEOWNERS file"), "{screen}");
    insta::assert_snapshot!("demo_120x40", screen);
}

#[test]
fn at_250x60_names_are_whole_and_the_left_column_fits_them() {
    let mut h = demo_at(250, 60);
    let screen = h.screen();
    let repos = pane_rows(&screen, "Repos");
    assert!(
        repos
            .iter()
            .any(|r| r.contains("contoso-labs/inference-server")),
        "{repos:?}"
    );
    assert!(!repos.iter().any(|r| r.contains('…')), "{repos:?}");
    // Sized to content: not a fixed share of a wide screen.
    let orgs_top = line_with(&screen, "┌ Orgs");
    assert!(
        orgs_top.chars().take_while(|&c| c != '┐').count() < 60,
        "{orgs_top}"
    );
    insta::assert_snapshot!("demo_250x60", screen);
}

#[test]
fn the_repos_list_stays_at_its_top_until_the_user_moves() {
    let mut h = Harness::live(80, 24);
    // The first repo seen sorts last; the ones arriving later sort above it.
    for i in (0..20).rev() {
        h.ingest("acme", &format!("repo-{i:02}"), "SECURITY.md", false, "x");
        h.advance(10);
        h.draw();
    }
    let screen = h.screen();
    let repos = pane_rows(&screen, "Repos");
    assert!(repos[0].contains("acme/repo-00"), "{screen}");
    assert!(screen.contains("── 1–6 of 20 ↓ ┘│"), "{screen}");
    // Once moved, the selection follows its repo.
    h.press("2 j");
    h.ingest("acme", "a-new-one", "SECURITY.md", false, "x");
    h.advance(2_000);
    let screen = h.screen();
    let repos = pane_rows(&screen, "Repos");
    assert!(repos.iter().any(|r| r.contains("repo-01")), "{screen}");
}

#[test]
fn z_zooms_the_focused_pane_and_digits_move_focus() {
    let mut h = demo_at(80, 24);
    // 4: Alerts, Enter: Details, z: Details alone.
    h.press("4 Enter z");
    let screen = h.screen();
    assert!(screen.contains("┌ Details"), "{screen}");
    assert!(!screen.contains("┌ Orgs"), "{screen}");
    assert!(!screen.contains("┌ Alerts"), "{screen}");
    let top = line_with(&screen, "┌ Details");
    assert_eq!(top.chars().count(), 80, "{top}");
    assert!(screen.contains("example-univ/grades-export"), "{screen}");
    insta::assert_snapshot!("zoom_details_80x24", screen);
    // h/l move focus, the zoom follows it.
    h.press("h");
    assert!(h.screen().contains("┌ Alerts"));
    h.press("z");
    assert!(h.screen().contains("┌ Orgs"));
}

#[test]
fn details_keep_lines_draw_tables_and_a_fix_shows_what_failed_before() {
    let mut h = Harness::live(120, 40);
    h.ingest(
        "ossf",
        "allstar",
        "OpenSSF Scorecard",
        false,
        "Branch protection findings:\n\
         branch main Require approval: 0\n\
         branch main Dismiss stale reviews: false\n\n\
         | Check | Score |\n|---|--:|\n| Code-Review | 3/10 |\n| Token-Permissions | 0/10 |\n",
    );
    h.advance(1_000);
    let screen = h.screen();
    // One finding per line, as the GitHub issue shows them.
    assert!(
        screen.contains("│branch main Require approval: 0  "),
        "{screen}"
    );
    assert!(
        screen.contains("│branch main Dismiss stale reviews: false"),
        "{screen}"
    );
    // The table as a table, not its source.
    assert!(screen.contains("Check             │ Score"), "{screen}");
    assert!(screen.contains("Code-Review       │  3/10"), "{screen}");
    assert!(!screen.contains("|---"), "{screen}");
    insta::assert_snapshot!("details_table_120x40", screen);

    // Fixed: Details shows the fix, then what was failing before it.
    h.ingest("ossf", "allstar", "OpenSSF Scorecard", true, "");
    h.advance(1_000);
    let screen = h.screen();
    assert!(screen.contains("fixed"), "{screen}");
    assert!(
        screen.contains("✗ failing before, #1 at 21:00:00 (2s ago):"),
        "{screen}"
    );
    assert!(
        screen.contains("│branch main Require approval: 0  "),
        "{screen}"
    );
    assert!(screen.contains("Check             │ Score"), "{screen}");
}

/// At 80 columns what a refused sender was told no longer fits beside
/// its line: it goes under it, whole. On the old code it was cut to a few
/// columns (`owner_name is 20…`, a user's review).
#[test]
fn a_refusals_message_is_read_whole_at_80_columns() {
    let mut h = demo_at(80, 24);
    let peer: std::net::SocketAddr = "127.0.0.1:40999".parse().unwrap();
    h.hub.refuse_from(
        sinkwatch::hub::Refusal::FieldTooLong,
        Some(peer),
        Some("owner_name is 2000 bytes; at most 256 are accepted"),
    );
    h.advance(1_000);
    h.press("R");
    let screen = h.screen();
    assert!(screen.contains("Refused requests · 1"), "{screen}");
    assert!(
        screen.contains("owner_name is 2000 bytes; at most 256 are accepted"),
        "{screen}"
    );
}

#[test]
fn refusals_can_be_inspected_from_the_status_bar_and_with_r() {
    let mut h = demo_at(120, 40);
    let peer: std::net::SocketAddr = "127.0.0.1:40999".parse().unwrap();
    h.hub.refuse_from(
        sinkwatch::hub::Refusal::EmptyField,
        Some(peer),
        Some("owner_name is empty; it is required"),
    );
    h.hub
        .refuse_from(sinkwatch::hub::Refusal::Unauthenticated, Some(peer), None);
    h.advance(1_000);
    let buf = h.draw().clone();
    let (x, y) = find(&buf, "refused 2").expect("refused count in the status bar");
    // A click on the count opens the view.
    h.click(x + 2, y);
    let screen = h.screen();
    assert!(screen.contains("Refused requests · 2"), "{screen}");
    let row = line_with(&screen, "empty_field  ");
    assert!(row.contains("1"), "{row}");
    let recent = line_with(&screen, "owner_name is empty");
    assert!(
        recent.contains("127.0.0.1:40999") && recent.contains("empty_field"),
        "{recent}"
    );
    assert!(line_with(&screen, "unauthenticated").contains("1"));
    // Refusals carry the wall clock's time: masked for the snapshot.
    let when = regex::Regex::new(r"\d\d:\d\d:\d\d +\d+[smhd]  127").unwrap();
    let masked = when.replace_all(&screen, "hh:mm:ss  ago  127");
    insta::assert_snapshot!("refusals_120x40", masked);
    // Esc closes; R opens it again.
    h.press("Esc");
    assert!(!h.screen().contains("Refused requests"));
    h.press("R");
    assert!(h.screen().contains("Refused requests · 2"));
    h.press("R");
    assert!(!h.screen().contains("Refused requests"));
}

#[test]
fn the_screenshot_forwarding_scene_balances_and_the_panel_agrees_with_the_status_bar() {
    for accepted in [0, 1, 300, 1_136] {
        for (s, _) in two_upstreams(accepted) {
            assert_eq!(s.accepted, accepted);
            assert!(s.balances(), "{s:?}");
        }
    }
    let h0 = demo_at(160, 45);
    let accepted = h0.hub.read(|s| s.next_seq()) - 1;
    let mut h = h0.with_forward(forwarding(two_upstreams(accepted)));
    h.press("F");
    let screen = h.screen();
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(status.contains("queued 246 · in flight 64"), "{status}");
    // The panel: the same numbers; the down upstream's latency is stale.
    assert!(screen.contains("queued 246"), "{screen}");
    assert!(screen.contains("in flight 64"), "{screen}");
    assert!(screen.contains("(stale)"), "{screen}");
    let delivered = format!("delivered {}", thousands_of(accepted));
    assert!(screen.contains(&delivered), "{delivered} in {screen}");
}

fn thousands_of(n: u64) -> String {
    sinkwatch::ui::fmt::thousands(n)
}

#[test]
fn failing_only_narrows_alerts_but_not_the_transitions_counts() {
    let mut h = Harness::live(160, 45);
    h.ingest("ossf", "allstar", "SECURITY.md", true, "");
    h.ingest("ossf", "allstar", "CODEOWNERS", true, "");
    h.advance(1_000);
    h.ingest(
        "ossf",
        "allstar",
        "SECURITY.md",
        false,
        "Security policy not enabled.\n",
    );
    h.ingest(
        "ossf",
        "allstar",
        "CODEOWNERS",
        false,
        "CODEOWNERS file not present.\n",
    );
    h.advance(1_000);
    h.ingest("ossf", "allstar", "CODEOWNERS", true, "");
    h.advance(5_000);
    let before = line_with(&h.screen(), "┌ Transitions").to_owned();
    assert!(before.contains("2 regressed / 1 fixed"), "{before}");
    h.press("f");
    let screen = h.screen();
    assert!(
        line_with(&screen, "┌ Transitions").contains("2 regressed / 1 fixed"),
        "{screen}"
    );
    // The alerts are narrowed: only the two failing ones.
    assert!(screen.contains("Alerts events · 2 "), "{screen}");
}

/// A cell's look: colours and effective modifiers.
fn look(buf: &Buffer, x: u16, y: u16) -> (Color, Color, Modifier) {
    let c = &buf[(x, y)];
    (c.fg, c.bg, c.modifier)
}

#[test]
fn every_theme_with_and_without_colour_tells_selected_failing_and_passing_rows_apart() {
    use sinkwatch::ui::theme::ColorDepth;
    for name in Theme::builtin_names() {
        for variant in ["colour", "no-colour", "16-colour", "256-colour"] {
            let theme = Theme::load(name, None).unwrap();
            let theme = match variant {
                "no-colour" => theme.without_color(),
                "16-colour" => theme.with_depth(ColorDepth::Ansi16),
                "256-colour" => theme.with_depth(ColorDepth::Indexed256),
                _ => theme,
            };
            let mut h = Harness::new(
                120,
                40,
                theme,
                SourceInfo::live("127.0.0.1:50051"),
                StoreLimits::default(),
            );
            h.ingest("acme", "pass-one", "SECURITY.md", true, "");
            h.ingest("acme", "fail-one", "SECURITY.md", false, "x");
            h.ingest("acme", "pass-two", "SECURITY.md", true, "");
            h.ingest("acme", "fail-two", "SECURITY.md", false, "x");
            h.advance(10_000);
            // Newest first: fail-two is selected (following the head).
            let buf = h.draw().clone();
            let at = |text: &str| find(&buf, text).unwrap_or_else(|| panic!("{text}"));
            let (x, y) = at("acme/fail-two");
            let selected = look(&buf, x, y);
            let (x, y) = at("acme/fail-one");
            let failing = look(&buf, x, y);
            let (x, y) = at("acme/pass-one");
            let passing = look(&buf, x, y);
            let ctx = format!("{name} {variant}");
            assert_ne!(selected, failing, "{ctx}: selected vs failing");
            assert_ne!(selected, passing, "{ctx}: selected vs passing");
            assert_ne!(failing, passing, "{ctx}: failing vs passing");
            if variant == "no-colour" {
                assert!(selected.2.contains(Modifier::REVERSED), "{ctx}");
            }
            // No mark cell styled on unmarked group rows, no underline in
            // the gaps between columns.
            let (x, y) = at("✗ acme/fail-one");
            let gap = &buf[(x.saturating_sub(2), y)];
            assert_eq!(gap.bg, Color::Reset, "{ctx}: a block before a group row");
            let (x, y) = find(&buf, "acme/fail-one ").unwrap();
            let (gx, _) = (x + "acme/fail-one".len() as u16, y);
            assert!(
                !buf[(gx, y)].modifier.contains(Modifier::UNDERLINED),
                "{ctx}: underlined gap"
            );
            if variant == "16-colour" {
                for y in 0..buf.area.height {
                    for x in 0..buf.area.width {
                        let c = &buf[(x, y)];
                        for col in [c.fg, c.bg] {
                            assert!(
                                !matches!(col, Color::Rgb(..) | Color::Indexed(16..)),
                                "{ctx}: {col:?} at {x},{y}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_status_bar_names_the_main_refusal_reason() {
    use sinkwatch::hub::Refusal;
    let mut h = Harness::live(160, 45);
    for _ in 0..3 {
        h.hub.refuse(Refusal::WrongAudience);
    }
    h.hub.refuse(Refusal::AuthMissing);
    scan(&mut h);
    let screen = h.screen();
    let status = line_with(&screen, "listen 127.0.0.1:50051");
    assert!(
        status.contains("refused 4 (most wrong_audience: 3)"),
        "{status}"
    );
}

#[test]
fn s_cycles_the_order_of_the_group_panes() {
    let mut h = Harness::live(160, 45);
    h.ingest("zeta", "one", "SECURITY.md", false, "x");
    h.ingest("zeta", "one", "CODEOWNERS", false, "x");
    h.ingest("acme", "two", "SECURITY.md", false, "x");
    h.ingest("acme", "three", "SECURITY.md", true, "");
    h.advance(1_000);
    h.ingest("beta", "four", "SECURITY.md", true, "");
    h.advance(1_000);
    let orgs = |h: &mut Harness| -> Vec<String> {
        pane_rows(&h.screen(), "Orgs")
            .into_iter()
            .filter(|r| !r.is_empty())
            .collect()
    };
    // Default: failing first, then by name.
    let o = orgs(&mut h);
    assert!(
        o[0].contains("acme") && o[1].contains("zeta") && o[2].contains("beta"),
        "{o:?}"
    );
    h.press("s");
    let screen = h.screen();
    assert!(line_with(&screen, "┌ Orgs").contains("⇅fail"), "{screen}");
    let o = orgs(&mut h);
    assert!(o[0].contains("zeta") && o[1].contains("acme"), "{o:?}");
    h.press("s");
    let o = orgs(&mut h);
    assert!(o[0].contains("beta"), "by recency: {o:?}");
    h.press("s");
    let o = orgs(&mut h);
    assert!(
        o[0].contains("acme") && o[1].contains("beta") && o[2].contains("zeta"),
        "{o:?}"
    );
    h.press("s");
    assert!(!line_with(&h.screen(), "┌ Orgs").contains("⇅"));
}

#[test]
fn a_filter_error_fits_the_prompt_at_80x24() {
    let mut h = demo_at(80, 24);
    h.press("/");
    h.type_text("org:ossf \"no protection found for branch main in any repo");
    let screen = h.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let n = lines.len();
    // The input line, then the error under it, all within the screen.
    let error = lines[n - 2..].join("\n");
    assert!(error.contains("unterminated quote"), "{screen}");
    assert!(error.contains("at 10"), "{screen}");
    // One line, not wrapped: the last line is the error.
    assert!(lines[n - 1].contains("unterminated quote"), "{screen}");
    assert!(lines[n - 1].chars().count() <= 80, "{screen}");
    insta::assert_snapshot!("filter_error_80x24", screen);
}

/// `attach` before the first alert: waiting *from* the sinks, and a `send`
/// example that reaches the first with the viewer's token (it said
/// `Waiting for alerts on attached to http://…` and `send --to attached to …`).
#[test]
fn attached_and_empty_the_hint_names_the_sinks_and_a_send_that_reaches_them() {
    let mut h = Harness::live(120, 40);
    h.app.info.label = "attached to http://10.0.0.5:50051".into();
    let remote: sinkwatch::ui::live::RemoteStatus = Arc::new(|_| "1/1 live".into());
    h.app.info.remote = Some(sinkwatch::ui::state::Remote(remote));
    h.app.info.empty_hint = Some(sinkwatch::ui::state::EmptyHint {
        waiting: "from http://10.0.0.5:50051".into(),
        send_args: "--to http://10.0.0.5:50051 --token-file /run/t".into(),
    });
    let screen = h.screen();
    assert!(
        screen.contains("Waiting for alerts from http://10.0.0.5:50051 …"),
        "{screen}"
    );
    assert!(
        screen.contains("sinkwatch send --to http://10.0.0.5:50051 --token-file /run/t --owner"),
        "{screen}"
    );
    assert!(
        !screen.contains("attached to http://10.0.0.5:50051 …"),
        "{screen}"
    );
    // The whole command, wrapped (it was cut at `--repo my-repo`), an
    // option never parted from its value, at any width.
    assert!(
        screen.contains("--policy \"Branch Protection\" --fail"),
        "{screen}"
    );
    insta::assert_snapshot!("attached_empty_120x40", screen);
    for w in [60, 80, 100] {
        h.resize(w, 40);
        let screen = h.screen();
        for part in [
            "--to http://10.0.0.5:50051",
            "--token-file /run/t",
            "--policy \"Branch Protection\"",
        ] {
            assert!(screen.contains(part), "{w}: {part}\n{screen}");
        }
    }
    h.resize(120, 40);
    // A viewer refuses nothing itself: no `refused 0` in its status bar,
    // and `R` says where each sink's refusals are counted.
    assert!(!line_with(&screen, " ⇄ ").contains("refused"), "{screen}");
    h.press("R");
    let screen = h.screen();
    assert!(
        screen.contains("Each sink counts the requests it refuses"),
        "{screen}"
    );
    // Wrapped in the overlay, none of it cut (at 120 columns it ended
    // `or R i`); no count of its own in the title (it said `· 0`).
    assert!(screen.contains("in its own TUI."), "{screen}");
    assert!(screen.contains(" Refused requests "), "{screen}");
    assert!(!screen.contains("Refused requests ·"), "{screen}");
}

/// `attach` at 80 columns: the sources shrink to `1/2 live · URL down`
/// so the counts stay in the status bar; wide, each source's whole line.
#[test]
fn attached_to_two_sources_the_status_bar_keeps_its_counts_when_narrow() {
    use sinkwatch::client::attach::{SourceStatus, status_line, status_short};
    let a = SourceStatus::new("http://10.0.0.5:50051");
    let b = SourceStatus::new("http://10.0.0.6:50051");
    let sources = vec![a, b];
    let remote: sinkwatch::ui::live::RemoteStatus = Arc::new(move |short| {
        if short {
            status_short(&sources)
        } else {
            status_line(&sources)
        }
    });
    let mut h = Harness::live(80, 24);
    h.app.info.remote = Some(sinkwatch::ui::state::Remote(remote));
    scan(&mut h);
    let screen = h.screen();
    let bar = line_with(&screen, " ⇄ ");
    assert!(
        bar.contains("0/2 live · http://10.0.0.5:50051 connecting"),
        "{bar}"
    );
    assert!(bar.contains("30 alerts"), "{bar}");
    assert!(bar.contains("failing"), "{bar}");
    h.resize(250, 40);
    let screen = h.screen();
    let bar = line_with(&screen, " ⇄ ");
    assert!(
        bar.contains("http://10.0.0.5:50051 connecting · 0 │ http://10.0.0.6:50051 connecting · 0"),
        "{bar}"
    );
}

/// Every repo and policy of the scene, all passing but where `failing`
/// says, one scan 700 ms apart; then `gap_ms` of quiet.
fn scan_with(h: &mut Harness, failing: &[(&str, &str)], gap_ms: u64) {
    for (org, repo) in REPOS {
        for policy in POLICIES {
            let fail = failing.iter().any(|(r, p)| *r == repo && *p == policy);
            h.ingest(
                org,
                repo,
                policy,
                !fail,
                if fail { SECURITY_DETAILS } else { "" },
            );
            h.advance(700);
        }
    }
    h.advance(gap_ms);
}

#[test]
fn the_rollout_screen_shows_compliance_moving_and_what_changed_since_the_previous_scan() {
    let mut h = Harness::live(120, 40);
    // Scans ten minutes apart: a rollout fixing SECURITY.md repo by repo,
    // then Branch Protection regressing on two repos.
    let ten = 10 * 60_000;
    let all_sec: Vec<(&str, &str)> = REPOS.iter().map(|(_, r)| (*r, "SECURITY.md")).collect();
    scan_with(&mut h, &all_sec, ten);
    scan_with(&mut h, &all_sec[2..], ten);
    scan_with(&mut h, &all_sec[4..], ten);
    scan_with(
        &mut h,
        &[
            ("nimbus", "SECURITY.md"),
            ("allstar", "Branch Protection"),
            ("payments-api", "Branch Protection"),
        ],
        0,
    );
    h.press("r");
    let screen = h.screen();
    assert!(
        screen.contains("Rollout · compliance over the last hour (1 min buckets)"),
        "{screen}"
    );
    // 30 keys, 3 failing now.
    assert!(
        line_with(&screen, "Every key").contains("27 of 30 passing"),
        "{screen}"
    );
    // SECURITY.md went from 0% to 80% over the window (+80 points), with 4
    // fixes; Branch Protection from 100% to 60% with 2 regressions.
    let sec = line_with(&screen, " SECURITY.md ");
    assert!(
        sec.contains(" 80.0%") && sec.contains("+80.0") && sec.contains("▼    4"),
        "{sec}"
    );
    let bp = line_with(&screen, " Branch Protection ");
    assert!(
        bp.contains(" 60.0%") && bp.contains("-40.0") && bp.contains("▲    2"),
        "{bp}"
    );
    // Least compliant first.
    assert!(screen.find(" Branch Protection ").unwrap() < screen.find(" SECURITY.md ").unwrap());
    // Since the previous scan: the two regressions (the fixes were scans
    // before).
    assert!(screen.contains("2 repos changed"), "{screen}");
    assert!(
        line_with(&screen, "ossf/allstar").contains("✗ Branch Protection"),
        "{screen}"
    );
    assert!(line_with(&screen, "acme-corp/payments-api").contains("✗ Branch Protection"));
    assert!(!screen.contains("web-frontend"), "{screen}");
    insta::assert_snapshot!("rollout_120x40", screen);

    // By org; the day window.
    h.press("o w");
    let screen = h.screen();
    assert!(screen.contains("last day (15 min buckets)"), "{screen}");
    // acme-corp: 11 of 12 (payments-api's Branch Protection); nimbus-io 5
    // of 6, least compliant, first.
    assert!(
        line_with(&screen, " acme-corp ").contains(" 91.7%"),
        "{screen}"
    );
    assert!(
        line_with(&screen, " nimbus-io ").contains(" 83.3%"),
        "{screen}"
    );
    assert!(screen.find(" nimbus-io ").unwrap() < screen.find(" acme-corp ").unwrap());
    assert!(screen.contains("By org"));
    // A new scan of allstar with Branch Protection fixed: it moves on, live.
    for policy in POLICIES {
        h.ingest("ossf", "allstar", policy, true, "");
    }
    let screen = h.screen();
    assert!(
        line_with(&screen, "Every key").contains("28 of 30 passing"),
        "{screen}"
    );
    assert!(
        line_with(&screen, "ossf/allstar").contains("✓ Branch Protection"),
        "{screen}"
    );
    // r closes, and opens it again as it was.
    h.press("r");
    assert!(!h.screen().contains("Rollout ·"));
    h.press("r");
    assert!(h.screen().contains("last day"));
}

#[test]
fn the_rollout_screen_on_the_demo_at_each_size() {
    for (w, hgt) in [(80, 24), (120, 40), (250, 60)] {
        let mut h = demo_at(w, hgt);
        h.press("r");
        let screen = h.screen();
        assert!(screen.contains("Every key"), "{screen}");
        insta::assert_snapshot!(format!("rollout_demo_{w}x{hgt}"), screen);
        if w == 80 {
            // Tab: j then scrolls the scan changes, not the table.
            let rows = |s: &str| -> Vec<String> {
                let at = s.lines().position(|l| l.contains("previous scan")).unwrap();
                s.lines().skip(at + 1).take(5).map(str::to_owned).collect()
            };
            let before = rows(&screen);
            h.press("Tab j");
            let screen = h.screen();
            assert_eq!(rows(&screen)[0], before[1], "{screen}");
            assert!(
                screen.contains("CODEOWNERS  "),
                "the table did not move: {screen}"
            );
            // The policy table scrolls on its own after Tab again.
            h.press("Tab j");
            assert!(!h.screen().contains(" CODEOWNERS  "), "{}", h.screen());
            // The wheel scrolls the focused list (three rows a notch).
            h.press("Tab");
            h.mouse(MouseEventKind::ScrollDown, 40, 20);
            let screen = h.screen();
            assert_eq!(rows(&screen)[0], before[4], "{screen}");
        }
    }
}

/// The share now and the change over the window of a rollout table row.
fn rollout_row(screen: &str, name: &str) -> (f64, f64) {
    let row = line_with(screen, &format!(" {name} "));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let at = cells
        .iter()
        .position(|c| c.ends_with('%'))
        .unwrap_or_else(|| panic!("no share in {row}"));
    let num = |s: &str| {
        s.trim_end_matches('%')
            .replace('±', "")
            .parse::<f64>()
            .unwrap()
    };
    (num(cells[at]), num(cells[at + 1]))
}

#[test]
fn on_the_demo_the_rollout_screen_shows_a_campaign_fixing_a_policy() {
    let mut h = Harness::live(120, 40);
    let mut world = sinkwatch::client::demo::DemoWorld::new(7);
    h.press("r");
    let mut shares = Vec::new();
    // Three calm scans, then the first campaign's rollout of SECURITY.md.
    for scan in 0..13 {
        let n = world.key_count();
        h.ingest_demo(&mut world, n, 150);
        if scan >= 2 {
            shares.push(rollout_row(&h.screen(), "SECURITY.md").0);
        }
    }
    // Compliance moves up scan after scan during the campaign, and the
    // change over the window says so.
    assert!(shares.last().unwrap() - shares[0] > 15.0, "{shares:?}");
    let screen = h.screen();
    let (_, delta) = rollout_row(&screen, "SECURITY.md");
    assert!(delta > 15.0, "{screen}");
}

/// A state fault at 80 and 120 columns: `state ✗ not durable` next to the
/// address, never cut (the cause ran off the bar: `state /tmp/…/s.db:`).
#[test]
fn a_state_fault_keeps_not_durable_in_a_narrow_status_bar() {
    let fault = sinkwatch::ui::harness::state_fault(
        "/tmp/v12/small2/s.db",
        "state /tmp/v12/small2/s.db: cannot write (database or disk is full): \
         1,204 alerts not stored, not durable",
    );
    for (w, h, name) in [
        (80, 24, "state_fault_80x24"),
        (120, 40, "state_fault_120x40"),
    ] {
        let mut hs = demo_at(w, h).with_forward(forwarding(two_upstreams(400)));
        hs.app.info.state = Some(fault.clone());
        let screen = hs.screen();
        let bar = line_with(&screen, " ● ");
        assert!(bar.contains("state ✗ not durable"), "{w}: {bar}");
        insta::assert_snapshot!(name, screen);
    }
    // Wide enough, the whole cause.
    let mut wide = demo_at(250, 40);
    wide.app.info.state = Some(fault);
    let screen = wide.screen();
    assert!(
        line_with(&screen, " ● ").contains("1,204 alerts not stored, not durable"),
        "{screen}"
    );
}

/// What a restart restored stays in the status bar at 120 columns (it
/// went together with the forwarding's long form, before the rate).
#[test]
fn what_was_restored_stays_in_the_status_bar_at_120_columns() {
    let mut h = demo_at(120, 40).with_forward(forwarding(two_upstreams(400)));
    let mut stats = sinkwatch::state::StateStats::default();
    stats.restored.keys = 378;
    stats.restored.last_ms = Some(T0);
    h.app.info.state = Some(Arc::new(stats));
    let screen = h.screen();
    let bar = line_with(&screen, " ● ");
    // Before: `state ✓` here (dropped with the forwarding's long form,
    // before the key count and the rate; the harness has no rate, the
    // order of what goes is held in src/ui/view/status.rs).
    assert!(bar.contains("state ✓ restored 378 keys"), "{bar}");
    assert!(bar.contains("/ 378 keys"), "{bar}");
    insta::assert_snapshot!("state_restored_120x40", screen);
}

/// `attach` with a source down: the reason in a few words and what was
/// missed, at 80 and 120 columns.
#[test]
fn attached_a_down_source_says_why_and_what_was_missed() {
    use sinkwatch::client::attach::SourceState;
    let down = sinkwatch::client::attach::SourceStatus::new("http://10.0.0.6:50051");
    let ok = sinkwatch::client::attach::SourceStatus::new("http://10.0.0.5:50051");
    ok.missed
        .store(43_890, std::sync::atomic::Ordering::Relaxed);
    // As `follow` sets them.
    ok.set(SourceState::Live);
    down.set(SourceState::Down {
        why: "http://10.0.0.6:50051: connection refused — check that the sink is running \
              and listening on 10.0.0.6:50051"
            .into(),
        retry_in: std::time::Duration::from_secs(2),
    });
    let sources = vec![ok, down];
    let remote: sinkwatch::ui::live::RemoteStatus = Arc::new(move |short| {
        if short {
            sinkwatch::client::attach::status_short(&sources)
        } else {
            sinkwatch::client::attach::status_line(&sources)
        }
    });
    for (w, h, name) in [
        (80, 24, "attached_down_80x24"),
        (120, 40, "attached_down_120x40"),
    ] {
        let mut hs = demo_at(w, h);
        hs.app.info.remote = Some(sinkwatch::ui::state::Remote(remote.clone()));
        let screen = hs.screen();
        let bar = line_with(&screen, " ⇄ ");
        assert!(
            bar.contains("1/2 live · http://10.0.0.6:50051 down: connection refused"),
            "{w}: {bar}"
        );
        assert!(bar.contains("43,890 refetched"), "{w}: {bar}");
        insta::assert_snapshot!(name, screen);
    }
    // Wide enough for each source's own line: the reason in a few words and
    // the retry countdown (the whole diagnosis made it fall back to the
    // short form even at 250 columns).
    let mut hs = demo_at(250, 60);
    hs.app.info.remote = Some(sinkwatch::ui::state::Remote(remote.clone()));
    let screen = hs.screen();
    let bar = line_with(&screen, " ⇄ ");
    // The countdown runs from when the source went down: whatever it reads
    // by now, at most the 2 s it was set to.
    let from = bar.find("http://10.0.0.6:50051 down: connection refused (retry in ");
    let left: Option<f64> = from.and_then(|at| {
        let rest = &bar[at..];
        let n = &rest[rest.find("(retry in ")? + "(retry in ".len()..];
        n.split('s').next()?.parse().ok()
    });
    assert!(left.is_some_and(|s| s <= 2.0), "{bar}");
    assert!(
        bar.contains("s) · 0") && bar.contains("http://10.0.0.5:50051 live · 0 · 43,890 refetched"),
        "{bar}"
    );
}

/// More transitions in the last 15 minutes than the ring holds: the title
/// says "at least" (`+`) instead of the ring's count as if it were all.
/// A user's review saw `✗4999 ✓5001 in 15m` under a load test whose rollout
/// screen counted 11,374 regressions. Once the window is inside the ring
/// again, the count is exact and the `+` goes.
#[test]
fn transition_counts_over_a_full_ring_are_a_lower_bound() {
    let limits = StoreLimits {
        transitions: 4,
        ..StoreLimits::default()
    };
    let mut h = Harness::new(
        120,
        30,
        Theme::default_theme(),
        SourceInfo::live("127.0.0.1:50051"),
        limits,
    );
    h.ingest("ossf", "allstar", "SECURITY.md", true, "");
    for i in 0..6 {
        h.ingest("ossf", "allstar", "SECURITY.md", i % 2 == 1, "");
    }
    let screen = h.screen();
    assert!(screen.contains("Transitions ✗2+ ✓2+ in 15m"), "{screen}");
    // 16 minutes on: the ring's oldest is outside the window.
    h.advance(16 * 60 * 1000);
    h.ingest("ossf", "allstar", "SECURITY.md", false, "");
    let screen = h.screen();
    assert!(screen.contains("Transitions ✗1 ✓0 in 15m"), "{screen}");
}

/// Counts of five digits and more on the rollout screen are shown whole:
/// the columns take the width the largest needs. A user's review saw
/// `▲24,088 ▼24,09` (the last digit cut, reading as another number).
#[test]
fn rollout_counts_of_any_size_are_shown_whole() {
    let mut h = Harness::live(120, 40);
    // 6,000 keys, each failing and fixed three times: 18,000 of each.
    for i in 0..6_000u32 {
        h.ingest("ossf", &format!("r{i}"), "SECURITY.md", true, "");
    }
    for _ in 0..3 {
        for i in 0..6_000u32 {
            let repo = format!("r{i}");
            h.ingest("ossf", &repo, "SECURITY.md", false, "");
            h.ingest("ossf", &repo, "SECURITY.md", true, "");
        }
    }
    h.press("r");
    // The screen takes the history in a chunk per frame.
    let mut screen = h.screen();
    while screen.contains("Taking in") {
        screen = h.screen();
    }
    let every = screen
        .lines()
        .find(|l| l.contains('▲'))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        every.contains("▲18,000") && every.contains("▼18,000"),
        "{every}"
    );
}

/// A message (an export, a copy, an open) stays in the status bar ten
/// seconds, then the totals it hid come back without a key pressed. A
/// user's review saw `no browser opener found` there for minutes.
#[test]
fn a_status_message_gives_the_totals_back_after_ten_seconds() {
    let mut h = Harness::live(120, 30);
    h.ingest("ossf", "allstar", "SECURITY.md", false, "");
    h.app.message = Some(("no browser opener found".into(), true));
    assert!(h.screen().contains("no browser opener found"));
    h.advance(9_000);
    assert!(h.screen().contains("no browser opener found"));
    h.advance(1_000);
    let screen = h.screen();
    assert!(!screen.contains("no browser opener found"), "{screen}");
    // A new message starts its own ten seconds.
    h.app.message = Some(("exported".into(), false));
    assert!(h.screen().contains("exported"));
    h.advance(5_000);
    assert!(h.screen().contains("exported"));
}

/// Names with control characters are shown escaped and whole when there is
/// room: their columns are measured on what is shown (`\x1b` is four
/// columns), not on the raw text (where ESC is none). A user's review saw
/// them cut at 250 columns with the screen half empty.
#[test]
fn escaped_names_get_the_columns_they_are_shown_in() {
    let mut h = Harness::live(250, 30);
    h.ingest(
        "evil\u{1b}[2J\u{1b}[2J",
        "repo\u{7}\u{7}\u{7}",
        "Policy\u{1b}]0;x\u{7}",
        false,
        "",
    );
    let screen = h.screen();
    // The events row (Details shows the names whole anyway).
    let row = line_with(&screen, "21:00:00 ✗ FAIL");
    assert!(
        row.contains("evil\\x1b[2J\\x1b[2J/repo\\x07\\x07\\x07")
            && row.contains("Policy\\x1b]0;x\\x07"),
        "{row}"
    );
}

/// A long message is shown whole in the footer, wrapped, while it lasts,
/// and the status bar keeps its totals. A review saw `open`'s message cut
/// at 80 columns, with the URL it names (to open by hand) gone; before
/// that, one cut mid-word at the screen's edge.
#[test]
fn a_long_status_message_is_shown_whole_in_the_footer() {
    let mut h = Harness::live(80, 24);
    h.ingest("ossf", "allstar", "SECURITY.md", false, "");
    let m = "no browser opener found (xdg-open, open or $BROWSER): https://github.com/ossf/allstar";
    h.app.message = Some((m.into(), true));
    let screen = h.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let tail = lines[lines.len() - 2..].join("").replace("  ", " ");
    assert!(tail.contains("https://github.com/ossf/allstar"), "{screen}");
    assert!(tail.contains("no browser opener found"), "{screen}");
    assert!(
        line_with(&screen, "1 alert").contains("failing"),
        "{screen}"
    );
    h.app.message = None;
    let screen = h.screen();
    assert!(!screen.contains("no browser opener"), "{screen}");
    h.app.message = Some((
        "no saved views: add `views:` (name: filter) to the config file and start again".into(),
        true,
    ));
    assert!(h.screen().contains("to the config file and start again"));
    // The empty silences screen wraps its hint instead of cutting it.
    h.app.message = None;
    h.press("X");
    let screen = h.screen();
    assert!(
        screen.contains("expression.") && !screen.contains("or an ex│"),
        "{screen}"
    );
}

/// The forwarding panel when forwarding is off keeps its one-column margin
/// on wrapped lines too (a review: `│--forward-mode tee|proxy) …` stuck to
/// the border).
#[test]
fn the_forwarding_off_panel_keeps_its_margin_when_wrapped() {
    let mut h = Harness::live(80, 24);
    scan(&mut h);
    h.press("F 6 z");
    let screen = h.screen();
    let text: Vec<&str> = screen
        .lines()
        .filter(|l| {
            l.contains("Forwarding is off") || l.contains("forward") || l.contains("AlertSinks")
        })
        .filter(|l| !l.contains("┌"))
        .collect();
    assert!(text.len() >= 2, "{screen}");
    for l in text {
        assert!(
            l.starts_with("│ ") && !l.starts_with("│  "),
            "{l}\n{screen}"
        );
    }
}

/// Found by a second review of the small-terminal layout: the rollout
/// screen below 50 columns says what it needs (it was empty at 40, its
/// axis overlapped at 42 – 45); `F` with one pane on screen shows what it
/// switched to (it changed nothing visible); the refusals view says where
/// it is scrolled to, as the help does.
#[test]
fn small_terminals_show_what_a_key_opened() {
    let mut h = Harness::live(100, 30);
    scan(&mut h);
    h.resize(44, 20);
    h.press("r");
    let screen = h.screen();
    assert!(screen.contains("needs at least 50×10"), "{screen}");
    h.press("r");
    h.resize(60, 20);
    h.press("4 F");
    let screen = h.screen();
    assert!(screen.contains("┌ Forwarding"), "{screen}");
    h.press("F");
    assert!(h.screen().contains("┌ Transitions"));
    h.resize(100, 30);
    for i in 0..60u16 {
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000 + i));
        h.hub.refuse_from(
            sinkwatch::hub::Refusal::TlsHandshake,
            Some(peer),
            Some("TLS handshake failed: peer sent no certificates"),
        );
    }
    h.press("R");
    let screen = h.screen();
    assert!(
        screen.contains(" of ") && screen.contains(" ↓ ┘"),
        "{screen}"
    );
    h.press("G");
    assert!(h.screen().contains("↑ "));
    // Overlay titles and hints are whole or end in `…`, never cut in a
    // word (`j scrol`, the timeline's key without its policy).
    h.press("Esc");
    h.resize(40, 12);
    h.press("?");
    let screen = h.screen();
    let bottom = screen
        .lines()
        .rev()
        .find(|l| l.contains("Esc close"))
        .unwrap();
    assert!(
        bottom.contains("j scroll") || bottom.contains('…'),
        "{bottom}"
    );
    h.press("Esc 4 t");
    let screen = h.screen();
    let title = screen.lines().find(|l| l.contains("Timeline")).unwrap();
    assert!(title.contains('…'), "{title}");
}

/// A Transitions pane under 30 columns (80×24) shows each transition on
/// two lines, its names whole on the first and its policy on the second
/// (one line cut both: `os…/pac… · OpenS…`); a click on either line
/// selects that transition.
#[test]
fn a_narrow_transitions_pane_takes_two_lines_a_transition() {
    let mut h = Harness::live(80, 24);
    scan(&mut h);
    for (repo, policy) in [
        ("payments-api", "Branch Protection"),
        ("web-frontend", "Dangerous Workflow"),
        ("scorecard", "SECURITY.md"),
    ] {
        h.ingest("acme-corp", repo, policy, true, "");
        h.advance(1_000);
        h.ingest("acme-corp", repo, policy, false, "Not compliant.\n");
        h.advance(1_000);
    }
    let screen = h.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let (y, top) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("┌ Transitions"))
        .unwrap();
    let x = top[..top.find("┌ Transitions").unwrap()].chars().count() as u16 + 2;
    let in_pane = |l: &str| -> String {
        let start = l.char_indices().nth(x as usize).map_or(l.len(), |(i, _)| i);
        l[start..].trim_end_matches(['│', ' ']).to_owned()
    };
    // The second transition: names on one line, the policy under them.
    let names = in_pane(lines[y + 3]);
    let policy = in_pane(lines[y + 4]);
    assert!(
        names.contains('/') && !names.contains(" · "),
        "{names}\n{screen}"
    );
    assert!(
        policy.starts_with(' ') && !policy.trim().is_empty(),
        "{policy}\n{screen}"
    );
    let repo = names
        .split_whitespace()
        .nth(1)
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    h.click(x, y as u16 + 4);
    let screen = h.screen();
    assert_eq!(h.app.focus, Pane::Transitions);
    let details: Vec<&str> = screen.lines().filter(|l| l.contains(&repo)).collect();
    assert!(
        details.len() >= 2,
        "{repo} not in Details after the click\n{screen}"
    );
}

/// The status bar's rate is traffic: a viewer's snapshot (thousands of
/// alerts in a moment) is not counted, what its sources send live is (a
/// review: `10,000 alerts · 4,693/s` just after attaching, nothing sent).
/// A sink's own alerts all count.
#[test]
fn the_rate_counts_live_arrivals_not_a_viewers_snapshot() {
    use sinkwatch::ui::state::Arrivals;
    use std::sync::atomic::{AtomicU64, Ordering};
    let live = Arc::new(AtomicU64::new(0));
    let mut info = SourceInfo::live("attached to http://127.0.0.1:7000");
    info.arrivals = Some(Arrivals(Arc::new({
        let live = live.clone();
        move || live.load(Ordering::Relaxed)
    })));
    let viewer = Harness::new(
        120,
        30,
        Theme::default_theme(),
        info,
        StoreLimits::default(),
    );
    let sink = Harness::live(120, 30);
    for (mut h, snapshot_counted) in [(viewer, false), (sink, true)] {
        h.draw();
        // A snapshot of 2,000 alerts lands at once.
        for i in 0..2_000 {
            h.ingest("ossf", &format!("r{i}"), "p", true, "");
        }
        for _ in 0..8 {
            h.advance(250);
            h.draw();
        }
        let rate = h.app.rate().unwrap();
        assert_eq!(rate > 0.0, snapshot_counted, "{rate}");
        // Then 4 alerts a second, live, for longer than the rate's span.
        for _ in 0..28 {
            h.ingest("ossf", "live", "p", true, "");
            live.fetch_add(1, Ordering::Relaxed);
            h.advance(250);
            h.draw();
        }
        if !snapshot_counted {
            let rate = h.app.rate().unwrap();
            assert!((3.0..=5.0).contains(&rate), "{rate}");
        }
    }
}

/// A viewer of one sink that is down, at 80 columns: the bar keeps the
/// failing count (the sink's URL pushed it off, leaving `20,002 alerts │`),
/// and a bar cut anyway never ends on a separator.
#[test]
fn a_viewer_of_one_sink_down_keeps_its_counts_at_80_columns() {
    use sinkwatch::client::attach::{SourceState, SourceStatus, status_line, status_short};
    use sinkwatch::ui::state::Remote;
    let source = SourceStatus::new("http://127.0.0.1:27101");
    source.set(SourceState::Down {
        why: "connection refused".into(),
        retry_in: Duration::from_millis(2_000),
    });
    let sources = vec![source.clone()];
    let mut info = SourceInfo::live("attached to http://127.0.0.1:27101");
    info.remote = Some(Remote(Arc::new(move |short| {
        if short {
            status_short(&sources)
        } else {
            status_line(&sources)
        }
    })));
    let mut h = Harness::new(80, 24, Theme::default_theme(), info, StoreLimits::default());
    for i in 0..20_002u32 {
        h.ingest("ossf", &format!("r{}", i % 9_000), "p", i % 8 != 0, "x");
    }
    let screen = h.screen();
    let bar = screen.lines().nth(22).unwrap();
    assert!(bar.contains("0/1 live · down: connection refused"), "{bar}");
    assert!(bar.contains("20,002 alerts"), "{bar}");
    assert!(bar.contains("✗ 1,125 failing"), "{bar}");
    // Narrower still: cut, never on a separator.
    for w in 40..80 {
        h.resize(w, 24);
        let screen = h.screen();
        let bar = screen.lines().nth(22).unwrap().trim_end();
        assert!(!bar.ends_with('│'), "{w}: {bar}");
    }
    // After a restart of the sink (a note at the line's end), the counts
    // still come first: the sources' line gives way from its end (a review
    // saw `… older keys shown …` with no count at 80 columns).
    source
        .restarts
        .store(1, std::sync::atomic::Ordering::Relaxed);
    for w in 80..=120 {
        h.resize(w, 24);
        let screen = h.screen();
        let bar = screen.lines().nth(22).unwrap().trim_end();
        assert!(
            bar.contains("0/1 live · down: connection refused"),
            "{w}: {bar}"
        );
        assert!(bar.contains("20,002 alerts"), "{w}: {bar}");
        assert!(bar.contains("✗ 1,125 failing"), "{w}: {bar}");
    }
    h.resize(250, 24);
    let screen = h.screen();
    assert!(screen.contains("restarted with a new history"), "{screen}");
}

/// A Transitions title with room for the regressions' count only says the
/// fixes are cut (`✗1,200 …`): it read as if there were none.
#[test]
fn a_transitions_title_too_narrow_for_both_counts_says_so() {
    let mut h = Harness::live(80, 24);
    for i in 0..1_200 {
        h.ingest("ossf", &format!("r{i}"), "p", true, "");
        h.ingest("ossf", &format!("r{i}"), "p", false, "x");
    }
    for i in 0..1_100 {
        h.ingest("ossf", &format!("f{i}"), "p", false, "x");
        h.ingest("ossf", &format!("f{i}"), "p", true, "");
    }
    let screen = h.screen();
    let title = screen
        .lines()
        .find(|l| l.contains("Transitions"))
        .expect("the Transitions pane");
    assert!(title.contains("✗1,200"), "{title}");
    assert!(
        title.contains("✓1,100") || title.contains("✗1,200 …"),
        "{title}"
    );
}
