//! The key table: data, not code. The event loop dispatches every key through
//! [`lookup`], and both the `?` help overlay and the footer hints are
//! generated from [`KEYMAP`], so what the screen says is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The panes that can take focus, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    Orgs,
    Repos,
    Policies,
    Alerts,
    Details,
    Transitions,
    /// The forwarding panel: shown in the place of Transitions (`F`).
    Forwarding,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Orgs,
        Pane::Repos,
        Pane::Policies,
        Pane::Alerts,
        Pane::Details,
        Pane::Transitions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pane::Orgs => "Orgs",
            Pane::Repos => "Repos",
            Pane::Policies => "Policies",
            Pane::Alerts => "Alerts",
            Pane::Details => "Details",
            Pane::Transitions => "Transitions",
            Pane::Forwarding => "Forwarding",
        }
    }

    /// Position in the Tab order: the forwarding panel takes the place of
    /// Transitions.
    fn index(self) -> usize {
        let slot = match self {
            Pane::Forwarding => Pane::Transitions,
            p => p,
        };
        Pane::ALL.iter().position(|p| *p == slot).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// The three group panes (org, repo, policy).
pub const GROUPS: &[Pane] = &[Pane::Orgs, Pane::Repos, Pane::Policies];
/// The panes listing alerts (their selection feeds Details).
pub const STREAMS: &[Pane] = &[Pane::Alerts, Pane::Transitions];

/// The Details pane.
pub const DETAILS: &[Pane] = &[Pane::Details];
/// The panes showing one alert or key (`t` opens its timeline).
pub const KEYED: &[Pane] = &[Pane::Alerts, Pane::Transitions, Pane::Details];

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// In every mode, even while typing a filter or reading help.
    Always,
    /// Normal mode, whatever pane has focus.
    Global,
    /// Normal mode, when one of these panes has focus (wins over Global).
    Panes(&'static [Pane]),
    /// While the `/` filter prompt is open.
    Prompt,
    /// While the help overlay is open.
    Help,
    /// While the refusals view is open.
    Refusals,
    /// While the `e` export prompt is open (file name).
    ExportPrompt,
    /// While the `V` saved-views menu is open.
    ViewsMenu,
    /// While a key's timeline is open (`t`).
    Timeline,
    /// While the rollout screen is open.
    Rollout,
    /// The mouse (documentation rows; dispatched by position).
    Mouse,
    /// The `x` menu: what to silence.
    SilenceMenu,
    /// The silence form (new, or an edit from the list).
    SilenceForm,
    /// The silences list (`X`).
    SilenceList,
}

impl Context {
    /// Section title in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Context::Always => "Anywhere",
            Context::Global => "Everywhere",
            Context::Panes(GROUPS) => "Orgs · Repos · Policies",
            Context::Panes(STREAMS) => "Alerts · Transitions",
            Context::Panes(DETAILS) => "Details",
            Context::Panes(KEYED) => "Alerts · Transitions · Details",
            Context::Panes(_) => "Panes",
            Context::Prompt => "Filter prompt (/)",
            Context::Help => "This help",
            Context::Refusals => "Refusals view (R)",
            Context::ExportPrompt => "Export prompt (e)",
            Context::ViewsMenu => "Saved views (V)",
            Context::Timeline => "Key timeline (t)",
            Context::Rollout => "Rollout screen (r)",
            Context::Mouse => "Mouse",
            Context::SilenceMenu => "Silence menu (x)",
            Context::SilenceForm => "Silence form",
            Context::SilenceList => "Silences list (X)",
        }
    }
}

/// What a key does. The app interprets movement per focused pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    /// Narrow every pane to the selected org / repo / policy.
    Narrow,
    /// Show the selected alert in Details.
    ShowDetails,
    /// From Details back to the list it shows an alert of.
    Back,
    /// Widen the narrowing by one level.
    Widen,
    OpenFilter,
    ClearAll,
    FailingOnly,
    ToggleView,
    Pause,
    /// The forwarding panel on/off (in the place of Transitions).
    ToggleForward,
    /// The focused pane alone on screen, or back.
    Zoom,
    /// Focus the pane numbered by the key (`1`–`6`).
    FocusPane,
    /// The refusals view: recent refused requests and counts by reason.
    ShowRefusals,
    /// The next order of the group panes.
    Sort,
    /// Stop as a shell job (Ctrl-Z); `fg` resumes.
    Suspend,
    // Export, copy, bell and saved views.
    /// The export prompt: the focused list, as shown, to a file.
    Export,
    /// The selected repo's URL to the clipboard (OSC 52).
    CopyUrl,
    /// The selected alert's details to the clipboard (OSC 52).
    CopyDetails,
    /// The selected repo's GitHub page with the system opener.
    OpenRepo,
    /// The bell on regressions (`--bell-on`) on/off.
    ToggleBell,
    /// The saved-views menu.
    ViewsMenu,
    /// In the saved-views menu: the view numbered by the key.
    PickView,
    /// The timeline of the selected alert's key (`t`).
    Timeline,
    /// The rollout screen: compliance over time, scan changes.
    ShowRollout,
    /// Rollout screen: the next window (hour, day, week).
    RolloutWindow,
    /// Rollout screen: the table by policy or by org.
    RolloutBy,
    // The filter prompt.
    Apply,
    Cancel,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    ClearInput,
    Insert,
    // Help.
    CloseHelp,
    // Mouse.
    Click,
    Wheel,
    // Silences.
    /// `x`: silence the selection (a menu of matchers).
    Silence,
    /// `X`: the list of silences.
    SilenceList,
    /// `i`: silenced failures shown dimmed, or hidden.
    ToggleSilenced,
    /// A letter of the silence menu.
    Choose,
    NextField,
    PrevField,
    /// In the list: a new end for the selected silence.
    EditEnd,
    /// In the list: a new comment.
    EditComment,
    /// In the list: expire the selected silence now.
    Expire,
}

/// A key: a code plus Ctrl/Alt (Shift is part of the character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

impl Key {
    /// True if a terminal key event is this key.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let (code, mods) = normalize(ev);
        self.code == code && self.mods == mods
    }

    /// How the key is written in help and hints.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Delete => "Del".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// Shift folds into the character (`G` arrives as Shift+`G`, `?` often as
/// Shift+`?`); Shift+Tab arrives as BackTab or as Tab with Shift.
fn normalize(ev: &KeyEvent) -> (KeyCode, KeyModifiers) {
    let mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    let code = match ev.code {
        KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
        // Ctrl+letter may come upper-case with Shift held.
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
            KeyCode::Char(c.to_ascii_lowercase())
        }
        other => other,
    };
    (code, mods)
}

/// One row of the key table.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    /// Overrides the label generated from `keys` (mouse, typing).
    pub label: Option<&'static str>,
    pub context: Context,
    pub action: Action,
    /// Shown in the help overlay.
    pub description: &'static str,
    /// Short text for the footer; `None` keeps the binding out of it.
    pub hint: Option<&'static str>,
}

impl Binding {
    pub fn label(&self) -> String {
        match self.label {
            Some(l) => l.to_owned(),
            None => self
                .keys
                .iter()
                .map(Key::label)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

macro_rules! bind {
    ($ctx:expr, [$($key:expr),*], $action:ident, $desc:literal) => {
        Binding { keys: &[$($key),*], label: None, context: $ctx, action: Action::$action,
                  description: $desc, hint: None }
    };
    ($ctx:expr, [$($key:expr),*], $action:ident, $desc:literal, $hint:literal) => {
        Binding { keys: &[$($key),*], label: None, context: $ctx, action: Action::$action,
                  description: $desc, hint: Some($hint) }
    };
}

use Context::{
    Always, ExportPrompt, Global, Help, Mouse, Panes, Prompt, Refusals, Rollout, SilenceForm,
    SilenceList, SilenceMenu, Timeline, ViewsMenu,
};

/// Every key sinkwatch understands. Order matters: the first matching row
/// wins, pane rows are tried before global rows, and help and footer list
/// rows in this order.
#[rustfmt::skip]
pub static KEYMAP: &[Binding] = &[
    // Pane-specific rows first: they win over the global ones.
    bind!(Panes(GROUPS), [code(KeyCode::Enter)], Narrow, "narrow every pane to it, then focus the next level", "narrow"),
    bind!(Panes(STREAMS), [code(KeyCode::Enter)], ShowDetails, "show it in Details (focus there; Esc back)", "details"),
    bind!(Panes(DETAILS), [code(KeyCode::Esc)], Back, "back to the alert list", "back"),
    // No footer hint: the footer at 80 columns is full (help and README say it).
    bind!(Panes(KEYED), [ch('t')], Timeline, "timeline of its key: pass/fail runs, flips, details diffs"),
    // Normal mode, any pane.
    bind!(Global, [ch('q')], Quit, "quit", "quit"),
    bind!(Global, [ch('?')], Help, "show this help", "help"),
    bind!(Global, [code(KeyCode::Tab), ch('l')], NextPane, "focus the next pane", "pane"),
    bind!(Global, [code(KeyCode::BackTab), ch('h')], PrevPane, "focus the previous pane"),
    bind!(Global, [ch('1'), ch('2'), ch('3'), ch('4'), ch('5'), ch('6')], FocusPane,
          "focus pane 1–6 (Orgs … Transitions)"),
    bind!(Global, [ch('z')], Zoom, "zoom: the focused pane alone on screen, or back", "zoom"),
    bind!(Global, [ch('j'), code(KeyCode::Down)], Down, "move down (older alerts); scroll Details"),
    bind!(Global, [ch('k'), code(KeyCode::Up)], Up, "move up (newer alerts); scroll Details"),
    bind!(Global, [ch('g'), code(KeyCode::Home)], Top, "go to the top (newest; follow new alerts)"),
    bind!(Global, [ch('G'), code(KeyCode::End)], Bottom, "go to the bottom (oldest)"),
    bind!(Global, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Global, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Global, [ch('/')], OpenFilter, "filter (see the filter language)", "filter"),
    bind!(Global, [code(KeyCode::Esc)], Widen, "widen the narrowing one level; else back to newest", "widen"),
    bind!(Global, [ch('c')], ClearAll, "clear filter, narrowing and failing-only", "clear"),
    bind!(Global, [ch('f')], FailingOnly, "failing only on/off", "failing"),
    bind!(Global, [ch('v')], ToggleView, "alerts: event stream / latest status per key", "events/latest"),
    bind!(Global, [ch(' ')], Pause, "pause the view (ingest goes on, shows +N new)", "pause"),
    bind!(Global, [ch('F')], ToggleForward, "forwarding per upstream, in place of Transitions", "forwarding"),
    bind!(Global, [ch('s')], Sort, "sort groups: failing first, ⇅fail, ⇅new, ⇅a-z", "sort"),
    bind!(Global, [ch('R')], ShowRefusals, "refused requests: recent ones and counts by reason"),
    // Export, copy, bell and saved views.
    bind!(Global, [ch('e')], Export, "export the focused list, as shown: .csv .jsonl .md"),
    bind!(Global, [ch('y')], CopyUrl, "copy the selected repo's URL (OSC 52 clipboard)"),
    bind!(Global, [ch('Y')], CopyDetails, "copy the selected alert's details (OSC 52)"),
    bind!(Global, [ch('o')], OpenRepo, "open the selected repo's GitHub page (browser)"),
    bind!(Global, [ch('b')], ToggleBell, "bell on matching regressions (--bell-on) on/off"),
    bind!(Global, [ch('V')], ViewsMenu, "saved views (config `views:`), by number"),
    bind!(Global, [ch('r')], ShowRollout, "rollout: compliance over time, scan changes"),
    // Silences.
    bind!(Global, [ch('x')], Silence, "silence the key, its repo, org, policy or a filter"),
    bind!(Global, [ch('X')], SilenceList, "silences: active and expired, edit and expire"),
    bind!(Global, [ch('i')], ToggleSilenced, "silenced failures: shown dimmed / hidden"),
    // Anywhere.
    bind!(Always, [ctrl('c')], Quit, "quit"),
    bind!(Always, [ctrl('z')], Suspend, "suspend to the shell (fg resumes)"),
    // The filter prompt.
    Binding { keys: &[], label: Some("text"), context: Prompt, action: Action::Insert,
              description: "type the filter; the match count updates live", hint: None },
    bind!(Prompt, [code(KeyCode::Enter)], Apply, "apply the filter", "apply"),
    bind!(Prompt, [code(KeyCode::Esc)], Cancel, "cancel (keep the previous filter)", "cancel"),
    bind!(Prompt, [code(KeyCode::Backspace)], Backspace, "delete before the cursor"),
    bind!(Prompt, [code(KeyCode::Delete)], Delete, "delete at the cursor"),
    bind!(Prompt, [code(KeyCode::Left)], Left, "cursor left"),
    bind!(Prompt, [code(KeyCode::Right)], Right, "cursor right"),
    bind!(Prompt, [code(KeyCode::Home), ctrl('a')], Home, "cursor to the start"),
    bind!(Prompt, [code(KeyCode::End), ctrl('e')], End, "cursor to the end"),
    bind!(Prompt, [ctrl('u')], ClearInput, "clear the input", "clear"),
    // Help.
    bind!(Help, [code(KeyCode::Esc), ch('?'), ch('q')], CloseHelp, "close the help", "close"),
    bind!(Help, [ch('j'), code(KeyCode::Down)], Down, "scroll down", "scroll"),
    bind!(Help, [ch('k'), code(KeyCode::Up)], Up, "scroll up"),
    bind!(Help, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Help, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Help, [ch('g'), code(KeyCode::Home)], Top, "to the top"),
    bind!(Help, [ch('G'), code(KeyCode::End)], Bottom, "to the bottom"),
    // The refusals view.
    bind!(Refusals, [code(KeyCode::Esc), ch('R'), ch('q')], CloseHelp, "close the refusals view", "close"),
    bind!(Refusals, [ch('j'), code(KeyCode::Down)], Down, "scroll down", "scroll"),
    bind!(Refusals, [ch('k'), code(KeyCode::Up)], Up, "scroll up"),
    bind!(Refusals, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Refusals, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Refusals, [ch('g'), code(KeyCode::Home)], Top, "to the top"),
    bind!(Refusals, [ch('G'), code(KeyCode::End)], Bottom, "to the bottom"),
    // The export prompt (editing keys as in the filter prompt).
    Binding { keys: &[], label: Some("text"), context: ExportPrompt, action: Action::Insert,
              description: "the file name; editing keys as in the filter prompt", hint: None },
    bind!(ExportPrompt, [code(KeyCode::Enter)], Apply, "write the file", "export"),
    bind!(ExportPrompt, [code(KeyCode::Esc)], Cancel, "cancel", "cancel"),
    // The saved-views menu.
    Binding { keys: &[ch('1'), ch('2'), ch('3'), ch('4'), ch('5'), ch('6'), ch('7'), ch('8'), ch('9')],
              label: Some("1–9"), context: ViewsMenu, action: Action::PickView,
              description: "apply the view with that number", hint: None },
    bind!(ViewsMenu, [code(KeyCode::Enter)], Apply, "apply the marked (active) view", "apply"),
    bind!(ViewsMenu, [code(KeyCode::Esc), ch('V'), ch('q')], Cancel, "close the menu", "close"),
    // The key timeline.
    bind!(Timeline, [code(KeyCode::Esc), ch('t'), ch('q')], CloseHelp, "close the timeline", "close"),
    bind!(Timeline, [ch('j'), code(KeyCode::Down)], Down, "select the older run", "run"),
    bind!(Timeline, [ch('k'), code(KeyCode::Up)], Up, "select the newer run"),
    bind!(Timeline, [ch('g'), code(KeyCode::Home)], Top, "the newest run (follows new alerts)"),
    bind!(Timeline, [ch('G'), code(KeyCode::End)], Bottom, "the oldest run"),
    bind!(Timeline, [code(KeyCode::PageDown)], PageDown, "scroll the run's details down", "scroll"),
    bind!(Timeline, [code(KeyCode::PageUp)], PageUp, "scroll the run's details up"),
    bind!(Timeline, [ch('?')], Help, "show this help"),
    // The rollout screen.
    bind!(Rollout, [code(KeyCode::Esc), ch('r'), ch('q')], CloseHelp, "close the rollout screen", "close"),
    bind!(Rollout, [ch('w')], RolloutWindow, "window: last hour / day / week", "window"),
    bind!(Rollout, [ch('o')], RolloutBy, "table by policy / by org", "policy/org"),
    bind!(Rollout, [code(KeyCode::Tab)], NextPane, "move between the table and the scan changes", "table/scans"),
    bind!(Rollout, [ch('j'), code(KeyCode::Down)], Down, "scroll down", "scroll"),
    bind!(Rollout, [ch('k'), code(KeyCode::Up)], Up, "scroll up"),
    bind!(Rollout, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Rollout, [code(KeyCode::PageUp)], PageUp, "page up"),
    // Mouse (documentation rows: the app dispatches by pointer position).
    Binding { keys: &[], label: Some("click"), context: Mouse, action: Action::Click,
              description: "focus a pane and select the row under the pointer", hint: None },
    Binding { keys: &[], label: Some("wheel"), context: Mouse, action: Action::Wheel,
              description: "scroll the pane under the pointer", hint: None },
    // The silence menu (`x`).
    Binding { keys: &[ch('k'), ch('r'), ch('o'), ch('p'), ch('f'), ch('e')], label: Some("letter"),
              context: SilenceMenu, action: Action::Choose,
              description: "key, repo, org, policy, the filter shown, or type one", hint: Some("choose") },
    bind!(SilenceMenu, [code(KeyCode::Esc), ch('q')], Cancel, "cancel", "cancel"),
    // The silence form.
    Binding { keys: &[], label: Some("text"), context: SilenceForm, action: Action::Insert,
              description: "the matcher, for (1h, 2d, until TIME in UTC), a comment", hint: None },
    bind!(SilenceForm, [code(KeyCode::Tab), code(KeyCode::Down)], NextField, "next field; Enter saves, Esc cancels, edit as in /", "field"),
    bind!(SilenceForm, [code(KeyCode::BackTab), code(KeyCode::Up)], PrevField, "previous field"),
    // The silences list (`X`).
    bind!(SilenceList, [ch('j'), code(KeyCode::Down)], Down, "next silence", "move"),
    bind!(SilenceList, [ch('k'), code(KeyCode::Up)], Up, "previous silence"),
    bind!(SilenceList, [ch('e')], EditEnd, "new end: 2h, or until a time (revives an expired one)", "end"),
    bind!(SilenceList, [ch('c')], EditComment, "change the comment", "comment"),
    bind!(SilenceList, [ch('d')], Expire, "expire it now", "expire"),
    bind!(SilenceList, [code(KeyCode::Esc), ch('X'), ch('q')], CloseHelp, "close the list", "close"),
];

/// The input mode, deciding which rows of the table apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Prompt,
    Help,
    Refusals,
    /// The `e` export prompt.
    Export,
    /// The `V` saved-views menu.
    Views,
    Timeline,
    Rollout,
    SilenceMenu,
    SilenceForm,
    SilenceList,
}

/// Contexts tried, in order, for a mode and focus.
fn applies(ctx: Context, mode: Mode, focus: Pane, pane_pass: bool) -> bool {
    match (mode, ctx) {
        (_, Always) => !pane_pass,
        (Mode::Normal, Panes(panes)) => pane_pass && panes.contains(&focus),
        (Mode::Normal, Global) => !pane_pass,
        (Mode::Prompt, Prompt) | (Mode::Help, Help) | (Mode::Refusals, Refusals) => !pane_pass,
        // The export prompt edits its line with the filter prompt's keys
        // (Enter and Esc mean the same there: apply, cancel).
        (Mode::Export, ExportPrompt | Prompt)
        | (Mode::Views, ViewsMenu)
        | (Mode::Timeline, Timeline)
        | (Mode::Rollout, Rollout) => !pane_pass,
        (Mode::SilenceMenu, SilenceMenu)
        | (Mode::SilenceForm, SilenceForm)
        | (Mode::SilenceList, SilenceList) => !pane_pass,
        // The form edits its fields with the filter prompt's keys.
        (Mode::SilenceForm, Prompt) => !pane_pass,
        _ => false,
    }
}

/// The action of a key event, if any. In the prompt, printable characters
/// without Ctrl/Alt that no row claims are [`Action::Insert`].
pub fn lookup(mode: Mode, focus: Pane, ev: &KeyEvent) -> Option<Action> {
    for pane_pass in [true, false] {
        for b in KEYMAP {
            if applies(b.context, mode, focus, pane_pass) && b.keys.iter().any(|k| k.matches(ev)) {
                return Some(b.action);
            }
        }
    }
    let plain = !ev
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match ev.code {
        KeyCode::Char(_)
            if matches!(mode, Mode::Prompt | Mode::Export | Mode::SilenceForm) && plain =>
        {
            Some(Action::Insert)
        }
        _ => None,
    }
}

/// Footer hints `(keys, hint)` for a mode and focus: the pane's own rows
/// first, then the general ones; each action once, and no row whose keys
/// an earlier row already takes.
pub fn hints(mode: Mode, focus: Pane) -> Vec<(String, &'static str)> {
    hints_for(mode, focus, true)
}

/// A popup screen's hints as its bottom title: ` k hint · k hint `.
pub fn popup_hints(mode: Mode) -> String {
    let h: Vec<String> = hints(mode, Pane::Alerts)
        .into_iter()
        .map(|(k, h)| format!("{k} {h}"))
        .collect();
    format!(" {} ", h.join(" · "))
}

impl Action {
    /// Keys that only mean something while listening (not over a
    /// recording in `open`): pausing the stream, forwarding, refusals.
    pub fn live_only(self) -> bool {
        matches!(
            self,
            Action::Pause | Action::ToggleForward | Action::ShowRefusals | Action::ToggleBell
        )
    }
}

/// As [`hints`]; without `live`, the live-only keys are left out.
pub fn hints_for(mode: Mode, focus: Pane, live: bool) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let mut seen: Vec<Action> = Vec::new();
    let mut taken: Vec<Key> = Vec::new();
    for pane_pass in [true, false] {
        for b in KEYMAP {
            if !applies(b.context, mode, focus, pane_pass) {
                continue;
            }
            let shadowed = !b.keys.is_empty() && b.keys.iter().all(|k| taken.contains(k));
            taken.extend(b.keys.iter().copied());
            let Some(hint) = b.hint else { continue };
            if shadowed || seen.contains(&b.action) || (!live && b.action.live_only()) {
                continue;
            }
            seen.push(b.action);
            // A row's own label when it has one (the silence menu's
            // `letter`: its first key, `k`, is not offered in a group pane).
            let label = match (b.label, b.keys.first()) {
                (Some(l), _) => l.to_owned(),
                (None, Some(k)) => k.label(),
                (None, None) => b.label(),
            };
            out.push((label, hint));
        }
    }
    out
}

#[cfg(test)]
mod tests;
