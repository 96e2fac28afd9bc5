//! Silences in the whole app: `x` (menu and form), `X` (the list, edit and
//! expire), `i` (hide), dimmed rows and the count apart, expiry by the
//! injected clock, and a restart from each kind of storage.

use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use sinkwatch::model::StoreLimits;
use sinkwatch::state::silences::Backing;
use sinkwatch::ui::harness::{Harness, T0};
use sinkwatch::ui::keymap::Pane;
use sinkwatch::ui::state::silences::SilenceState;

const POLICIES: [&str; 4] = [
    "Branch Protection",
    "CODEOWNERS",
    "SECURITY.md",
    "Dangerous Workflow",
];

const REPOS: [(&str, &str); 4] = [
    ("ossf", "allstar"),
    ("ossf", "scorecard"),
    ("acme-corp", "payments-api"),
    ("nimbus-io", "nimbus"),
];

const H: u64 = 3_600_000;

/// Every repo, every policy; CODEOWNERS fails everywhere, and one more
/// failure per repo for some.
fn scan(h: &mut Harness) {
    for (i, (org, repo)) in REPOS.iter().enumerate() {
        for (j, policy) in POLICIES.iter().enumerate() {
            let pass = *policy != "CODEOWNERS" && (i + j) % 3 != 0;
            let details = if pass { "" } else { "Not compliant.\n" };
            h.ingest(org, repo, policy, pass, details);
            h.advance(500);
        }
    }
    h.draw();
}

fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with {text:?} in\n{screen}"))
}

/// The row of the Alerts pane with these names.
fn row<'a>(screen: &'a str, names: &str, policy: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {names} ")) && l.contains(&format!(" {policy} ")))
        .unwrap_or_else(|| panic!("no row {names} {policy} in\n{screen}"))
}

/// Whether the cell where `names` starts on its row is dimmed.
fn dimmed(buf: &Buffer, names: &str, policy: &str) -> bool {
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if line.contains(&format!(" {policy} "))
            && let Some(at) = line.find(&format!(" {names} "))
        {
            let x = line[..at].chars().count() as u16 + 1;
            let theme = sinkwatch::ui::theme::Theme::default_theme();
            return buf[(x, y)].style().fg == theme.dim.fg
                || buf[(x, y)].modifier.contains(Modifier::DIM);
        }
    }
    panic!("no row {names} {policy}");
}

/// Whether the Transitions row of a regression of this policy is dimmed
/// (its `✗ regressed` cell: the Alerts pane has no such cell).
fn regression_dimmed(buf: &Buffer, policy: &str) -> bool {
    let theme = sinkwatch::ui::theme::Theme::default_theme();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(at) = line.rfind("✗ regressed")
            && line[at..].contains(policy)
        {
            let x = line[..at].chars().count() as u16;
            return buf[(x, y)].style().fg == theme.dim.fg;
        }
    }
    panic!("no regression of {policy}");
}

/// `x`, `e`, then the form: the expression, 1h, a comment, Enter.
fn silence(h: &mut Harness, matcher: &str, span: &str, comment: &str) {
    h.press("x e");
    h.type_text(matcher);
    h.press("Tab C-u");
    h.type_text(span);
    h.press("Tab");
    h.type_text(comment);
    h.press("Enter");
}

#[test]
fn a_silence_on_codeowners_for_1h_dims_those_failures_then_expires() {
    let mut h = Harness::live(160, 40);
    scan(&mut h);
    let before = h.screen();
    let failing = line_with(&before, "failing /").to_owned();
    assert!(failing.contains("✗ 9 failing / 16 keys"), "{failing}");

    silence(&mut h, "policy:CODEOWNERS", "1h", "fix scheduled Friday");
    assert!(h.app.silences.form.is_none(), "created");
    let screen = h.screen();
    // Counted apart, dimmed, and still a failure without colour.
    assert!(
        line_with(&screen, "failing").contains("✗ 5 failing · 4 silenced / 16 keys"),
        "{screen}"
    );
    let r = row(&screen, "ossf/scorecard", "CODEOWNERS");
    assert!(r.contains("✗ sil."), "{r}");
    assert!(row(&screen, "ossf/scorecard", "SECURITY.md").contains("✗ FAIL"));
    let buf = h.draw().clone();
    assert!(dimmed(&buf, "ossf/scorecard", "CODEOWNERS"));
    assert!(!dimmed(&buf, "nimbus-io/nimbus", "Branch Protection"));
    insta::assert_snapshot!("silenced_rows", screen);
    // Details say by which silence, until when and why.
    h.press("j j");
    let screen = h.screen();
    assert!(line_with(&screen, "silenced by").contains("(1h left)"));
    let why = line_with(&screen, "policy:CODEOWNERS · sinkwatch");
    assert!(why.contains("fix scheduled Friday"), "{why}");
    h.press("g");

    // The same in the latest view (the per-key verdicts), whose title
    // counts as the status bar does (a user's review: 9 failing there
    // against 5 in the status bar).
    h.press("v");
    let screen = h.screen();
    assert!(row(&screen, "acme-corp/payments-api", "CODEOWNERS").contains("✗ sil."));
    assert!(
        line_with(&screen, "latest per key").contains("✗ 5 failing · 4 silenced / 16"),
        "{screen}"
    );
    h.press("v");

    // A regression of a silenced key is dimmed in Transitions too.
    h.ingest("ossf", "allstar", "CODEOWNERS", true, "");
    h.advance(5_000);
    h.ingest("ossf", "allstar", "CODEOWNERS", false, "");
    h.ingest("ossf", "allstar", "SECURITY.md", true, "");
    h.advance(5_000);
    h.ingest("ossf", "allstar", "SECURITY.md", false, "");
    h.advance(5_000);
    let buf = h.draw().clone();
    let text = sinkwatch::ui::harness::buffer_text(&buf);
    assert!(text.contains("2 regressed"), "{text}");
    assert!(regression_dimmed(&buf, "CODEOWNERS"));
    assert!(!regression_dimmed(&buf, "SECURITY.md"));

    // New failures of a silenced key stay silenced; others are not.
    h.ingest("ossf", "tac", "CODEOWNERS", false, "");
    h.ingest("ossf", "tac", "SECURITY.md", false, "");
    let screen = h.screen();
    assert!(
        line_with(&screen, "failing").contains("✗ 7 failing · 5 silenced"),
        "{screen}"
    );

    // One hour later it has expired: the failures count again.
    h.advance(H);
    let screen = h.screen();
    assert!(
        line_with(&screen, "failing").contains("✗ 12 failing / 18 keys"),
        "{screen}"
    );
    assert!(!screen.contains("✗ sil."), "{screen}");
    assert!(!h.app.silences.set.all()[0].active(h.now_ms));
}

/// At 80 columns the latest view's title drops words, never a number: a
/// review read `✗ 72 failing · 1 silenced / 3┐` for 378 keys, the total cut
/// by the corner. Every width from 80 to 160 keeps the failing count, the
/// silenced count and the total whole.
#[test]
fn the_latest_title_drops_words_never_a_number() {
    let mut h = Harness::live(160, 40);
    scan(&mut h);
    silence(&mut h, "policy:CODEOWNERS", "1h", "");
    h.press("v");
    for width in [80, 84, 90, 100, 120, 160] {
        h.resize(width, 24);
        let screen = h.screen();
        let title = line_with(&screen, "Alerts");
        let at = title.find("Alerts").unwrap();
        let rest = &title[at..];
        assert!(
            rest.contains("✗ 5") && rest.contains("/ 16 "),
            "{width}: {title}"
        );
        assert!(rest.contains(" · 4 s"), "{width}: {title}");
    }
    h.resize(160, 40);
    assert!(
        line_with(&h.screen(), "Alerts")
            .contains("latest per key · ✗ 5 failing · 4 silenced / 16 ")
    );
}

/// In a narrow pane, whose status column is one character, a silenced
/// failure shows `~` where another shows `✗`: told apart without colour (a
/// review: under NO_COLOR at 80 columns only the weight differed).
#[test]
fn a_narrow_pane_marks_a_silenced_failure_apart() {
    let mut h = Harness::live(160, 40);
    scan(&mut h);
    silence(&mut h, "policy:CODEOWNERS", "1h", "");
    h.resize(80, 40);
    let screen = h.screen();
    let silenced = row(&screen, "ossf/scorecard", "CODEOWNERS");
    assert!(silenced.contains(" ~ "), "{silenced}");
    let failing = row(&screen, "ossf/scorecard", "SECURITY.md");
    assert!(
        failing.contains(" ✗ ") && !failing.contains(" ~ "),
        "{failing}"
    );
}

#[test]
fn i_hides_silenced_failures_and_shows_them_again() {
    let mut h = Harness::live(160, 40);
    scan(&mut h);
    silence(&mut h, "policy:CODEOWNERS", "1h", "");
    h.press("i");
    let screen = h.screen();
    assert!(!screen.contains("CODEOWNERS"), "{screen}");
    assert!(line_with(&screen, "failing").contains("4 silenced (hidden)"));
    // Expired silences hide nothing.
    h.advance(H);
    let screen = h.screen();
    assert!(screen.contains("CODEOWNERS"), "{screen}");
    h.advance(1);
    h.press("i");
    assert!(h.screen().contains("CODEOWNERS"));
}

#[test]
fn x_offers_the_key_its_repo_org_and_policy() {
    let mut h = Harness::live(120, 40);
    scan(&mut h);
    // The newest alert is selected: nimbus-io/nimbus Dangerous Workflow.
    h.press("x");
    let screen = h.screen();
    assert!(screen.contains(r#"repo:nimbus-io/nimbus policy:"Dangerous Workflow""#));
    assert!(screen.contains("org:nimbus-io"));
    insta::assert_snapshot!("menu_120x40", screen);
    h.press("o");
    let screen = h.screen();
    assert!(screen.contains("New silence"), "{screen}");
    insta::assert_snapshot!("form_120x40", screen);
    h.press("Enter");
    assert_eq!(h.app.silences.set.all()[0].matcher, "org:nimbus-io");
    assert_eq!(
        h.app.silences.set.all()[0].ends_ms,
        h.app.silences.now_ms + H
    );

    // From a group pane: the selected group.
    h.app.focus = Pane::Policies;
    h.press("x");
    let screen = h.screen();
    assert!(screen.contains("this policy"), "{screen}");
    h.press("Esc");

    // A bad matcher or length keeps the form open with the reason.
    h.press("x e");
    h.type_text("age<1h");
    let screen = h.screen();
    assert!(screen.contains("age terms are not allowed"), "{screen}");
    h.press("C-u");
    h.type_text("org:x");
    h.press("Tab C-u");
    h.type_text("soon");
    h.press("Enter");
    assert!(h.app.silences.form.is_some());
    assert!(h.screen().contains("for: \"soon\": expected a duration"));
    h.press("Esc");
    assert_eq!(h.app.silences.set.all().len(), 1);
}

#[test]
fn the_list_shows_active_and_expired_with_edit_and_expire() {
    let mut h = Harness::live(120, 40);
    scan(&mut h);
    silence(&mut h, "policy:CODEOWNERS", "2h", "fix scheduled Friday");
    silence(&mut h, "org:acme-corp", "1d", "acme migrates");
    silence(&mut h, r#"policy:"Branch Protection""#, "30m", "");
    h.advance(31 * 60_000);
    h.press("X");
    let screen = h.screen();
    assert!(
        screen.contains("Silences · 2 active · 1 expired"),
        "{screen}"
    );
    insta::assert_snapshot!("list_120x40", screen);

    // `c` changes the comment of the selected one (active, ending first).
    h.press("c C-u");
    h.type_text("fixed on Friday, check Monday");
    h.press("Enter");
    let s = h.app.silence_rows()[0].clone();
    assert_eq!(s.matcher, "policy:CODEOWNERS");
    assert_eq!(s.comment, "fixed on Friday, check Monday");
    // `e` gives it a new end, `d` expires it.
    h.press("e C-u");
    h.type_text("3h");
    h.press("Enter");
    let now = h.app.silences.now_ms;
    assert_eq!(h.app.silences.set.get(&s.id).unwrap().ends_ms, now + 3 * H);
    // The suggested `1h` is replaced by what is typed, not appended to (a
    // user's review: `30m` gave a silence of 1h30m).
    h.press("e");
    h.type_text("30m");
    h.press("Enter");
    assert_eq!(
        h.app.silences.set.get(&s.id).unwrap().ends_ms,
        now + 30 * 60_000
    );
    // Moved over first, it is kept and edited.
    h.press("e End Backspace");
    h.type_text("2h");
    h.press("Enter");
    assert_eq!(h.app.silences.set.get(&s.id).unwrap().ends_ms, now + 12 * H);
    h.press("j d");
    let screen = h.screen();
    assert!(
        screen.contains("Silences · 1 active · 2 expired"),
        "{screen}"
    );
    assert!(screen.contains("expired"));
    // The expired one comes back to life with a new end.
    h.press("G");
    h.draw();
    for small in [(80, 24), (250, 60)] {
        h.resize(small.0, small.1);
        let screen = h.screen();
        assert!(screen.contains("Silences"), "{screen}");
        insta::assert_snapshot!(format!("list_{}x{}", small.0, small.1), screen);
    }
    h.press("Esc");
    assert!(h.app.silences.list.is_none());
}

/// A restart: the app goes, a new one loads what was saved.
fn restart_keeps_the_silence(backing: Backing) {
    let mut h = Harness::live(160, 40);
    h.app.set_silences(SilenceState::load(backing.clone(), T0));
    scan(&mut h);
    silence(&mut h, "policy:CODEOWNERS", "1h", "kept");
    let created = h.app.silences.now_ms;
    drop(h); // the saver writes what it was handed before it goes

    let mut h = Harness::new(
        160,
        40,
        sinkwatch::ui::theme::Theme::default_theme(),
        sinkwatch::ui::state::SourceInfo::live("127.0.0.1:50051"),
        StoreLimits::default(),
    );
    h.now_ms = created + 10 * 60_000;
    let st = SilenceState::load(backing, h.now_ms);
    assert!(st.load_warning.is_none(), "{:?}", st.load_warning);
    h.app.set_silences(st);
    scan(&mut h);
    let screen = h.screen();
    assert!(
        line_with(&screen, "failing").contains("✗ 5 failing · 4 silenced"),
        "{screen}"
    );
    let s = &h.app.silences.set.all()[0];
    assert_eq!((s.comment.as_str(), s.ends_ms), ("kept", created + H));
}

#[test]
fn a_silence_survives_a_restart_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    restart_keeps_the_silence(Backing::File(dir.path().join("sinkwatch/silences.yaml")));
}

#[test]
fn a_silence_survives_a_restart_in_the_state_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let opened = sinkwatch::state::open(sinkwatch::state::OpenOptions {
        path: path.clone(),
        retain: None,
        listen: "test".into(),
        limits: StoreLimits::default(),
    })
    .unwrap();
    assert!(opened.stats.durable());
    restart_keeps_the_silence(Backing::Database(path));
    drop(opened);
}
