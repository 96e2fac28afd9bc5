//! Key dispatch as a pure function of the App state: no terminal, no
//! rendering. Data comes from a real hub through `sync`.
use super::*;
use std::sync::Arc;

use crate::hub::Hub;
use crate::model::{NewAlert, StoreLimits};
use crate::ui::theme::Theme;
use crossterm::event::{KeyEventState, KeyModifiers};

fn key(app: &mut App, code: KeyCode) -> Outcome {
    app.handle_key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    })
}

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn app_with_data() -> (App, Arc<Hub>) {
    let hub = Hub::new(StoreLimits::default(), 16);
    for (i, (o, r)) in [("a", "x"), ("a", "y"), ("b", "z")].iter().enumerate() {
        for p in ["P1", "P2"] {
            let alert = NewAlert {
                owner: (*o).into(),
                repo: (*r).into(),
                policy: p.into(),
                details: String::new(),
                pass: i != 1,
            };
            hub.ingest_at(&alert, 1_000 + i as u64, None, None).unwrap();
        }
    }
    let mut app = App::new(Theme::default_theme(), SourceInfo::live("x"));
    app.sync(&hub, 10_000);
    (app, hub)
}

#[test]
fn tab_cycles_the_panes_both_ways() {
    let (mut app, _) = app_with_data();
    assert_eq!(app.focus, Pane::Alerts);
    let mut seen = vec![];
    for _ in 0..6 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [
            Pane::Details,
            Pane::Transitions,
            Pane::Orgs,
            Pane::Repos,
            Pane::Policies,
            Pane::Alerts
        ]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Pane::Policies);
}

#[test]
fn the_forwarding_panel_takes_the_place_of_transitions() {
    let (mut app, _) = app_with_data();
    app.focus = Pane::Transitions;
    app.details_from = Pane::Transitions;
    key(&mut app, KeyCode::Char('F'));
    assert!(app.forward_panel);
    assert_eq!(app.focus, Pane::Forwarding, "it takes the focused place");
    assert_eq!(app.details_from, Pane::Alerts, "Details leaves Transitions");
    let mut seen = vec![];
    for _ in 0..6 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [
            Pane::Orgs,
            Pane::Repos,
            Pane::Policies,
            Pane::Alerts,
            Pane::Details,
            Pane::Forwarding
        ]
    );
    // Where the panel also covers Details, Tab skips it.
    app.forward_wide = true;
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Pane::Alerts);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Forwarding);
    key(&mut app, KeyCode::Char('F'));
    assert!(!app.forward_panel);
    assert_eq!(app.focus, Pane::Transitions);
    // j/k in the panel without forwarding: nothing to scroll.
    key(&mut app, KeyCode::Char('F'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.forward_scroll, 0);
}

#[test]
fn the_prompt_edits_previews_applies_and_cancels() {
    let (mut app, hub) = app_with_data();
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode(), Mode::Prompt);
    chars(&mut app, "org:b");
    app.sync(&hub, 10_000);
    assert_eq!(app.preview.as_ref().map(|p| p.seqs().len()), Some(2));
    assert_eq!(app.preview_keys, Some(2));
    // Cursor editing: insert in the middle.
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Backspace);
    chars(&mut app, ":a");
    assert_eq!(app.prompt.as_ref().unwrap().input, "org:ab");
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Delete);
    assert_eq!(app.prompt.as_ref().unwrap().input, "rg:ab");
    assert!(
        app.prompt.as_ref().unwrap().error.is_some(),
        "rg: is no field"
    );
    // Enter with an error keeps the prompt; Esc cancels.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), Mode::Prompt);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mode(), Mode::Normal);
    assert!(app.filter.is_empty());
    assert!(app.preview.is_none());
    // Apply: the preview becomes the index at once.
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "status:fail");
    app.sync(&hub, 10_000);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.filter.source(), "status:fail");
    assert_eq!(app.index().seqs(), vec![3, 4]);
    // Reopening starts from the current filter.
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.prompt.as_ref().unwrap().input, "status:fail");
}

#[test]
fn narrowing_steps_and_widening() {
    let (mut app, hub) = app_with_data();
    app.focus = Pane::Orgs;
    // Orgs: a (failing: y fails), b.
    key(&mut app, KeyCode::Enter);
    let a = hub.read(|s| s.org_id("a").unwrap());
    assert_eq!(app.steps, vec![Step::Org(a)]);
    assert_eq!(app.focus, Pane::Repos);
    app.sync(&hub, 10_000);
    assert_eq!(app.lists().repos.len(), 2, "repos of org a only");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.steps.len(), 2);
    assert_eq!(app.focus, Pane::Policies);
    app.sync(&hub, 10_000);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.steps.len(), 3);
    assert_eq!(app.focus, Pane::Alerts);
    app.sync(&hub, 10_000);
    assert_eq!(app.index().seqs().len(), 1);
    // Choosing another org drops the repo of the first.
    app.focus = Pane::Orgs;
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    let b = hub.read(|s| s.org_id("b").unwrap());
    assert!(app.steps.contains(&Step::Org(b)));
    assert!(!app.steps.iter().any(|s| matches!(s, Step::Repo { .. })));
    // Esc widens one step at a time, then c clears everything.
    let n = app.steps.len();
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.steps.len(), n - 1);
    key(&mut app, KeyCode::Char('f'));
    key(&mut app, KeyCode::Char('c'));
    assert!(app.steps.is_empty() && !app.failing_only && app.filter.is_empty());
}

#[test]
fn pause_view_and_help_toggle() {
    let (mut app, hub) = app_with_data();
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.paused_at, Some(6));
    hub.ingest_at(
        &NewAlert {
            owner: "c".into(),
            repo: "r".into(),
            policy: "P1".into(),
            details: String::new(),
            pass: false,
        },
        2_000,
        None,
        None,
    )
    .unwrap();
    app.sync(&hub, 10_000);
    assert_eq!(app.new_since_pause(), Some(1));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.new_since_pause(), None);
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, AlertsView::Latest);
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode(), Mode::Help);
    // Help swallows other keys, q closes it, q again quits.
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, AlertsView::Latest);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Outcome::Continue);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Outcome::Quit);
}

#[test]
fn the_event_selection_follows_the_head_until_moved() {
    let (mut app, hub) = app_with_data();
    let upto = app.upto(&app.index);
    assert_eq!(app.sel_events.window(&app.index, upto, 3), Some((0, 0)));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert!(!app.sel_events.follow);
    assert_eq!(app.sel_events.seq, 4);
    // New alerts: the selection and window stay on the same alerts.
    for t in 0..3 {
        hub.ingest_at(
            &NewAlert {
                owner: "a".into(),
                repo: "x".into(),
                policy: "P1".into(),
                details: String::new(),
                pass: true,
            },
            3_000 + t,
            None,
            None,
        )
        .unwrap();
    }
    app.sync(&hub, 10_000);
    let upto = app.upto(&app.index);
    let (top, sel) = app.sel_events.window(&app.index, upto, 3).unwrap();
    assert_eq!(app.index.seq_at(upto - 1 - sel), 4);
    assert_eq!(sel - top, 2, "the selected row did not move on screen");
    // g: back to the newest, following.
    key(&mut app, KeyCode::Char('g'));
    assert!(app.sel_events.follow);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.sel_events.seq, 1);
}
