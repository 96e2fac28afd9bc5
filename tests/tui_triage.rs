//! Whole-app tests of export (`e`), copy and open (`y`, `Y`, `o`), the
//! bell (`b`, `--bell-on`) and saved views (`V`): the real App and Hub on
//! the test backend (src/ui/harness.rs), keys pressed as a user would, the
//! files written and the bytes sent to the terminal checked as they are.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sinkwatch::model::filter::Filter;
use sinkwatch::record::load_recording;
use sinkwatch::ui::harness::Harness;
use sinkwatch::ui::state::{AlertsView, SavedView, TermEnv};

const POLICIES: [&str; 4] = [
    "Binary Artifacts",
    "Branch Protection",
    "CODEOWNERS",
    "SECURITY.md",
];

const REPOS: [(&str, &str); 4] = [
    ("ossf", "allstar"),
    ("ossf", "scorecard"),
    ("acme-corp", "payments-api"),
    ("nimbus-io", "nimbus"),
];

/// Details with what CSV and Markdown must escape: a comma, quotes, a
/// line break, a pipe, a formula and an escape sequence.
const DETAILS: &str =
    "No protection on \"main\", see:\n| rule | state |\n=HYPERLINK(\"x\") \u{1b}[2J";

/// `scans` scans of every repo and policy, 700 ms apart; a third fail,
/// with statuses moving between scans (regressions and fixes).
fn scans(h: &mut Harness, scans: usize) {
    for s in 0..scans {
        for (i, (org, repo)) in REPOS.iter().enumerate() {
            for (j, policy) in POLICIES.iter().enumerate() {
                let pass = (i + j + s) % 3 != 0;
                h.ingest(org, repo, policy, pass, if pass { "" } else { DETAILS });
                h.advance(700);
            }
        }
    }
    h.draw();
}

/// Syncs until the export is written (a watchdog, not a time limit on the
/// export: it only keeps a broken export from hanging the suite).
fn finish_export(h: &mut Harness) {
    let start = Instant::now();
    while h.app.exporting() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the export never finished"
        );
        let (hub, now) = (h.hub.clone(), h.now_ms);
        h.app.sync(&hub, now);
        std::thread::yield_now();
    }
}

fn export(h: &mut Harness, path: &Path) {
    h.press("e C-u");
    h.type_text(&path.display().to_string());
    h.press("Enter");
    finish_export(h);
}

/// A minimal RFC 4180 reader: rows of cells, quotes and line breaks inside
/// quoted cells.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// The seqs the Alerts pane shows (events view), newest first.
fn shown_seqs(h: &Harness) -> Vec<u64> {
    let mut v = h.app.index().seqs();
    v.reverse();
    v
}

#[test]
fn the_exported_rows_are_the_rows_of_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::live(160, 45);
    scans(&mut h, 3);
    // A filter and a narrowing: the export is what the pane shows.
    h.press("/");
    h.type_text("status:fail");
    h.press("Enter");
    h.draw();
    let want = shown_seqs(&h);
    assert!(want.len() > 5 && want.len() < 48, "{}", want.len());

    // CSV, in the screen's order (newest first).
    let csv = dir.path().join("fail.csv");
    export(&mut h, &csv);
    let rows = read_csv(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(
        rows[0].join(","),
        "seq,at,owner,repo,policy,status,change,details,peer,peer_identity"
    );
    let seqs: Vec<u64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(seqs, want, "one row per row of the view, in its order");
    let screen = h.screen();
    assert!(screen.contains("exported"), "{screen}");
    // The first row on screen is the first row of the file.
    let first = &rows[1];
    let first_screen_row = screen.lines().nth(3).unwrap();
    assert!(
        first_screen_row.contains(&format!("{}/{}", first[2], first[3]))
            && first_screen_row.contains(&first[4]),
        "{first_screen_row} vs {first:?}"
    );
    assert!(rows[1..].iter().all(|r| r[5] == "fail"));
    // Escaped for a spreadsheet, sanitized, and otherwise the text.
    assert_eq!(
        first[7],
        "No protection on \"main\", see:\n| rule | state |\n=HYPERLINK(\"x\") \\x1b[2J"
    );

    // JSON lines: the record format, oldest first, wire text exact.
    let jsonl = dir.path().join("fail.jsonl");
    export(&mut h, &jsonl);
    let (alerts, bad) = load_recording(std::io::BufReader::new(
        std::fs::File::open(&jsonl).unwrap(),
    ));
    assert!(bad.is_empty(), "{bad:?}");
    let mut oldest_first = want.clone();
    oldest_first.reverse();
    assert_eq!(
        alerts.iter().map(|a| a.seq).collect::<Vec<_>>(),
        oldest_first
    );
    assert!(alerts.iter().all(|a| a.details == DETAILS && !a.pass));

    // Markdown: a header, a rule, then one line per row.
    let md = dir.path().join("fail.md");
    export(&mut h, &md);
    let text = std::fs::read_to_string(&md).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + want.len());
    assert!(
        lines[2].starts_with(&format!("| {} |", want[0])),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains("see:<br>\\| rule \\| state \\|<br>"),
        "{}",
        lines[2]
    );

    // Nothing filtered out (the rows are a range of seqs, not copied) and
    // paused: the rows up to the pause, in both orders.
    h.press("c Space");
    h.ingest("ossf", "allstar", "CODEOWNERS", false, "after the pause");
    h.draw();
    let csv = dir.path().join("all.csv");
    export(&mut h, &csv);
    let rows = read_csv(&std::fs::read_to_string(&csv).unwrap());
    let seqs: Vec<u64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(seqs, (1..=48).rev().collect::<Vec<u64>>());
    let jsonl = dir.path().join("all.jsonl");
    export(&mut h, &jsonl);
    let (alerts, _) = load_recording(std::io::BufReader::new(
        std::fs::File::open(&jsonl).unwrap(),
    ));
    let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=48).collect::<Vec<u64>>());
}

#[test]
fn the_latest_view_and_the_group_panes_export_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::live(160, 45);
    scans(&mut h, 2);
    h.press("f v");
    h.draw();
    assert_eq!(h.app.view, AlertsView::Latest);
    let keys = h.app.lists().latest.clone();
    assert!(!keys.is_empty());
    let want: Vec<(String, String, String)> = h.hub.read(|s| {
        keys.iter()
            .map(|&k| {
                let (o, r, p) = s.key_names(k);
                (o.to_string(), r.to_string(), p.to_string())
            })
            .collect()
    });
    let csv = dir.path().join("latest.csv");
    export(&mut h, &csv);
    let rows = read_csv(&std::fs::read_to_string(&csv).unwrap());
    let got: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    assert_eq!(got, want);

    // Repos (pane 2): org, repo, failing, keys, as the pane lists them.
    h.press("2");
    h.draw();
    let md = dir.path().join("repos.md");
    export(&mut h, &md);
    let text = std::fs::read_to_string(&md).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "| org | repo | failing | keys |");
    assert_eq!(lines.len(), 2 + h.app.lists().repos.len());
    let screen = h.screen();
    for l in &lines[2..] {
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        assert!(screen.contains(cells[1]), "{l} not on screen");
    }
}

#[test]
fn bad_names_are_one_line_and_the_app_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::live(120, 40);
    scans(&mut h, 1);
    // An unknown extension: the prompt stays open and says what works.
    h.press("e C-u");
    h.type_text("out.xlsx");
    h.press("Enter");
    let screen = h.screen();
    assert!(
        screen.contains("unknown extension .xlsx: use .csv, .jsonl (or .json) and .md"),
        "{screen}"
    );
    insta::assert_snapshot!("export_prompt_error", screen);
    h.press("Esc");
    // A directory that does not exist: one message, in the footer.
    export(&mut h, &dir.path().join("no/such/dir/x.csv"));
    let screen = h.screen();
    let footer: Vec<&str> = screen.lines().rev().take(2).collect();
    let footer = footer.join(" ");
    assert!(
        footer.contains("export") && footer.contains("No such file or directory"),
        "{footer}"
    );
    // An existing file is never overwritten.
    let existing = dir.path().join("keep.csv");
    std::fs::write(&existing, "mine").unwrap();
    export(&mut h, &existing);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "mine");
    assert!(h.screen().contains("File exists"));
    // Abandoned half-way (the app quits): no partial file.
    let mut big = Harness::live(120, 40);
    for i in 0..40_000u32 {
        big.ingest(
            "ossf",
            &format!("r{}", i % 5_000),
            "CODEOWNERS",
            i % 2 == 0,
            "x",
        );
    }
    big.draw();
    let partial = dir.path().join("partial.csv");
    big.press("e C-u");
    big.type_text(&partial.display().to_string());
    big.press("Enter");
    let (hub, now) = (big.hub.clone(), big.now_ms);
    big.app.sync(&hub, now);
    assert!(big.app.exporting(), "40,000 rows take more than one sync");
    big.app.abort_export(Duration::from_secs(60));
    assert!(!partial.exists(), "the partial file is removed");
    // Still running: keys work.
    h.press("v");
    h.draw();
    assert_eq!(h.app.view, AlertsView::Latest);
}

/// The OSC 52 payload of the terminal output, decoded.
fn osc52_text(out: &[u8]) -> String {
    let s = std::str::from_utf8(out).unwrap();
    let b64 = s
        .strip_prefix("\x1b]52;c;")
        .and_then(|r| r.strip_suffix('\x07'))
        .unwrap_or_else(|| panic!("not one OSC 52 sequence: {s:?}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn y_and_shift_y_send_osc_52_on_the_raw_output() {
    let mut h = Harness::live(160, 45);
    scans(&mut h, 1);
    let _ = h.app.take_terminal_output();
    // The newest alert is selected: nimbus-io/nimbus SECURITY.md.
    h.press("y");
    h.draw();
    let out = h.app.take_terminal_output();
    assert_eq!(osc52_text(&out), "https://github.com/nimbus-io/nimbus");
    let screen = h.screen();
    assert!(
        screen.contains(
            "sent https://github.com/nimbus-io/nimbus via OSC 52 (terminal may not support it)"
        ),
        "{screen}"
    );
    // Down to a failing alert; Y copies its details exactly.
    h.press("f");
    h.draw();
    h.press("Y");
    h.draw();
    assert_eq!(osc52_text(&h.app.take_terminal_output()), DETAILS);
    // The message goes with the next key.
    h.press("j");
    assert!(!h.screen().contains("via OSC 52"));
    // Inside tmux: wrapped for passthrough, and the status says what it needs.
    h.app.set_term_env(TermEnv {
        tmux: true,
        ..TermEnv::default()
    });
    h.press("y");
    h.draw();
    let out = h.app.take_terminal_output();
    assert!(out.starts_with(b"\x1bPtmux;\x1b\x1b]52;c;") && out.ends_with(b"\x07\x1b\\"));
    assert!(h.screen().contains("tmux needs allow-passthrough on"));
}

#[test]
fn names_from_the_wire_never_become_a_url_or_an_argument() {
    let mut h = Harness::live(160, 45);
    let opened = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = opened.clone();
    h.app.set_term_env(TermEnv {
        opener: Some(Arc::new(move |url: &str| {
            log.lock().unwrap().push(url.to_owned());
            Ok(())
        })),
        opener_name: "xdg-open".into(),
        ..TermEnv::default()
    });
    h.ingest("ossf", "allstar", "CODEOWNERS", false, "x");
    h.draw();
    h.press("o");
    h.draw();
    assert_eq!(*opened.lock().unwrap(), ["https://github.com/ossf/allstar"]);
    assert!(
        h.screen()
            .contains("opening https://github.com/ossf/allstar with xdg-open")
    );
    // A repo name with a path and a query; an owner that is an option.
    h.ingest("ossf", "../../settings?tab=1", "CODEOWNERS", false, "x");
    h.draw();
    h.press("o y");
    h.draw();
    h.ingest("--help", "r", "CODEOWNERS", false, "x");
    h.draw();
    h.press("o");
    h.draw();
    assert_eq!(opened.lock().unwrap().len(), 1, "nothing else opened");
    assert!(h.app.take_terminal_output().is_empty(), "nothing copied");
    assert!(h.screen().contains("is not a GitHub owner name"));
    // No opener: one clear line.
    h.app.set_term_env(TermEnv::default());
    h.press("G");
    h.draw();
    h.press("o");
    assert!(
        h.screen()
            .contains("no browser opener found (xdg-open, open or $BROWSER)")
    );
}

#[test]
fn the_bell_rings_for_matching_regressions_and_counts_until_a_key() {
    let mut h = Harness::live(120, 40);
    h.app
        .set_bell(Some(Filter::parse("policy:CODEOWNERS").unwrap()));
    h.ingest("ossf", "allstar", "CODEOWNERS", true, "");
    h.draw();
    assert!(h.app.take_terminal_output().is_empty(), "a pass is no news");
    h.ingest("ossf", "allstar", "CODEOWNERS", false, "x");
    h.ingest("ossf", "allstar", "Binary Artifacts", false, "x");
    let screen = h.screen();
    assert_eq!(h.app.take_terminal_output(), b"\x07");
    assert!(screen.contains("bell 1"), "{screen}");
    insta::assert_snapshot!("bell_counter", screen);
    // A key: the counter starts over. `b` turns it off: no ring.
    h.press("b");
    h.advance(5_000);
    h.ingest("ossf", "scorecard", "CODEOWNERS", false, "x");
    let screen = h.screen();
    assert!(h.app.take_terminal_output().is_empty());
    assert!(screen.contains("bell off"), "{screen}");
    // On again: only what arrives from now on.
    h.press("b");
    h.draw();
    assert!(h.app.take_terminal_output().is_empty());
    h.ingest("acme-corp", "x", "CODEOWNERS", false, "x");
    h.draw();
    assert_eq!(h.app.take_terminal_output(), b"\x07");
}

#[test]
fn saved_views_menu_applies_a_filter_and_names_it_in_the_header() {
    let mut h = Harness::live(120, 40);
    h.app.set_views(vec![
        SavedView::parse("failing=status:fail").unwrap(),
        SavedView::parse("codeowners in ossf=org:ossf policy:CODEOWNERS").unwrap(),
    ]);
    scans(&mut h, 1);
    h.press("V");
    let screen = h.screen();
    assert!(screen.contains("Saved views"), "{screen}");
    insta::assert_snapshot!("views_menu", screen);
    h.press("2");
    let screen = h.screen();
    let header = screen.lines().next().unwrap();
    assert!(
        header.contains("view codeowners in ossf")
            && header.contains("filter org:ossf policy:CODEOWNERS"),
        "{header}"
    );
    assert_eq!(h.app.index().seqs().len(), 2);
    // Enter applies the marked (active) view again; `1` the first.
    h.press("c V Enter");
    assert!(
        h.screen().lines().next().unwrap().contains("view failing"),
        "the first when none is active"
    );
    h.press("V 2");
    h.press("V Enter");
    assert!(
        h.screen()
            .lines()
            .next()
            .unwrap()
            .contains("view codeowners in ossf")
    );
    // `c` clears the filter, and the name with it.
    h.press("c");
    assert!(!h.screen().lines().next().unwrap().contains("view "));
    // Without views: a message naming the config key.
    h.app.set_views(Vec::new());
    h.press("V");
    assert!(h.screen().contains("no saved views: add `views:`"));
}

#[test]
fn the_prompt_and_the_menu_at_80x24() {
    let mut h = Harness::live(80, 24);
    h.app.set_views(vec![
        SavedView::parse("failing BP=policy:\"Branch Protection\" status:fail").unwrap(),
        SavedView::parse("ossf regressions=org:ossf change:regressed").unwrap(),
    ]);
    scans(&mut h, 1);
    h.press("e");
    let screen = h.screen();
    assert!(
        screen.contains(" export to sinkwatch-alerts.csv"),
        "{screen}"
    );
    assert!(screen.contains("16 alerts · .csv .jsonl .md"), "{screen}");
    insta::assert_snapshot!("export_prompt_80x24", screen);
    h.press("Esc V");
    let screen = h.screen();
    assert!(
        screen.contains("2   ossf regressions  org:ossf change:regressed"),
        "{screen}"
    );
    insta::assert_snapshot!("views_menu_80x24", screen);
}
