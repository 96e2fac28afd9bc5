use super::*;
use crossterm::event::{KeyEventKind, KeyEventState};

fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent {
        code,
        modifiers: mods,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    }
}

fn plain(c: char) -> KeyEvent {
    key(KeyCode::Char(c), KeyModifiers::NONE)
}

/// How keys are matched, not which key does what (that is the table
/// itself): shifted letters, Tab with Shift or as BackTab, Ctrl with or
/// without Shift, and Alt never matching a plain key.
#[test]
fn keys_match_by_code_and_the_modifiers_that_matter() {
    let n = Mode::Normal;
    let f = Pane::Alerts;
    assert_eq!(
        lookup(n, f, &key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
        Some(Action::Bottom)
    );
    assert_eq!(
        lookup(n, f, &key(KeyCode::Char('F'), KeyModifiers::SHIFT)),
        Some(Action::ToggleForward)
    );
    assert_ne!(lookup(n, f, &plain('f')), Some(Action::ToggleForward));
    assert_eq!(
        lookup(n, f, &key(KeyCode::BackTab, KeyModifiers::SHIFT)),
        Some(Action::PrevPane)
    );
    assert_eq!(
        lookup(n, f, &key(KeyCode::Tab, KeyModifiers::SHIFT)),
        Some(Action::PrevPane)
    );
    assert_eq!(
        lookup(n, f, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    assert_eq!(
        lookup(
            n,
            f,
            &key(
                KeyCode::Char('C'),
                KeyModifiers::CONTROL | KeyModifiers::SHIFT
            )
        ),
        Some(Action::Quit)
    );
    assert_eq!(lookup(n, f, &plain('~')), None);
    assert_eq!(
        lookup(n, f, &key(KeyCode::Char('q'), KeyModifiers::ALT)),
        None
    );
}

#[test]
fn enter_depends_on_the_focused_pane() {
    let enter = key(KeyCode::Enter, KeyModifiers::NONE);
    for p in [Pane::Orgs, Pane::Repos, Pane::Policies] {
        assert_eq!(
            lookup(Mode::Normal, p, &enter),
            Some(Action::Narrow),
            "{p:?}"
        );
    }
    for p in [Pane::Alerts, Pane::Transitions] {
        assert_eq!(
            lookup(Mode::Normal, p, &enter),
            Some(Action::ShowDetails),
            "{p:?}"
        );
    }
    assert_eq!(lookup(Mode::Normal, Pane::Details, &enter), None);
    let esc = key(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(
        lookup(Mode::Normal, Pane::Details, &esc),
        Some(Action::Back)
    );
    assert_eq!(lookup(Mode::Normal, Pane::Orgs, &esc), Some(Action::Widen));
}

#[test]
fn the_prompt_takes_text_and_only_ctrl_c_quits() {
    let p = Mode::Prompt;
    let f = Pane::Orgs;
    for c in ['q', 'j', '?', '/', ' ', 'c', 'G', ':', '"'] {
        assert_eq!(lookup(p, f, &plain(c)), Some(Action::Insert), "{c:?}");
    }
    assert_eq!(
        lookup(p, f, &key(KeyCode::Enter, KeyModifiers::NONE)),
        Some(Action::Apply)
    );
    assert_eq!(
        lookup(p, f, &key(KeyCode::Esc, KeyModifiers::NONE)),
        Some(Action::Cancel)
    );
    assert_eq!(
        lookup(p, f, &key(KeyCode::Backspace, KeyModifiers::NONE)),
        Some(Action::Backspace)
    );
    assert_eq!(
        lookup(p, f, &key(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        Some(Action::ClearInput)
    );
    assert_eq!(
        lookup(p, f, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    assert_eq!(lookup(p, f, &key(KeyCode::Tab, KeyModifiers::NONE)), None);
}

#[test]
fn help_mode_closes_scrolls_and_swallows_the_rest() {
    let h = Mode::Help;
    let f = Pane::Alerts;
    assert_eq!(lookup(h, f, &plain('q')), Some(Action::CloseHelp));
    assert_eq!(lookup(h, f, &plain('?')), Some(Action::CloseHelp));
    assert_eq!(
        lookup(h, f, &key(KeyCode::Esc, KeyModifiers::NONE)),
        Some(Action::CloseHelp)
    );
    assert_eq!(lookup(h, f, &plain('j')), Some(Action::Down));
    assert_eq!(lookup(h, f, &plain('/')), None);
    assert_eq!(lookup(h, f, &plain('f')), None);
}

#[test]
fn every_key_is_bound_once_per_context() {
    for (i, a) in KEYMAP.iter().enumerate() {
        for b in &KEYMAP[i + 1..] {
            if a.context == b.context {
                for k in a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{} bound twice in {:?}",
                        k.label(),
                        a.context
                    );
                }
            }
        }
    }
}

#[test]
fn labels_and_hints_come_from_the_table() {
    let labels: Vec<String> = KEYMAP.iter().map(Binding::label).collect();
    for want in [
        "q",
        "?",
        "Tab l",
        "Shift-Tab h",
        "1 2 3 4 5 6",
        "z",
        "j ↓",
        "G End",
        "Space",
        "Ctrl-C",
        "Esc ? q",
        "click",
    ] {
        assert!(
            labels.iter().any(|l| l == want),
            "missing {want}: {labels:?}"
        );
    }
    let h = hints(Mode::Normal, Pane::Orgs);
    assert_eq!(h[0], ("Enter".to_owned(), "narrow"));
    assert!(h.iter().any(|(k, t)| k == "/" && *t == "filter"));
    let h = hints(Mode::Normal, Pane::Alerts);
    assert_eq!(h[0], ("Enter".to_owned(), "details"));
    assert!(!h.iter().any(|(_, t)| *t == "narrow"));
    let h = hints(Mode::Normal, Pane::Details);
    assert_eq!(h[0], ("Esc".to_owned(), "back"));
    assert!(
        !h.iter().any(|(_, t)| *t == "widen"),
        "Esc is taken by back"
    );
    let h = hints(Mode::Prompt, Pane::Alerts);
    assert_eq!(h[0], ("Enter".to_owned(), "apply"));
}
