//! The UI state, kept apart from drawing and from the store.
//!
//! [`App`] holds what the user did (focus, selections, narrowing, filter,
//! view mode, pause, scroll, overlays) and the derived, incrementally kept
//! data the panes page through ([`Index`], [`Lists`]). Three entry points:
//! - [`App::handle_key`] / [`App::handle_mouse`]: pure state transitions
//!   dispatched through the key table, no terminal and no store needed;
//! - [`App::sync`]: catches up with the hub in short lock holds;
//! - [`App::render`] (in `render.rs`): draws a frame from the state plus the
//!   rows of the visible windows, read from the store in one short hold.
//!
//! Time is always a parameter (`now_ms`), so tests are deterministic.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui::text::Text;

use crate::forward::{ForwardHealth, ForwardStats};
use crate::hub::Hub;
use crate::model::filter::{Filter, FilterError};
use crate::model::store::KeyId;
use crate::record::WriterStats;

use super::index::{Index, Matcher, Narrowing, SeqList, Step, Transitions};
use super::keymap::{self, Action, Mode, Pane};
use super::lists::{GroupRow, Lists};
use super::theme::Theme;

/// How long a regression or fix stays highlighted after it arrived.
pub const FLASH_MS: u64 = 2_000;
/// The window of the "in the last 15m" transition counts.
pub const RECENT_MS: u64 = 15 * 60 * 1000;
/// Group and latest lists are rebuilt at most this often while data flows.
pub const LIST_REFRESH_MS: u64 = 250;
/// Filters with `age` terms are re-evaluated this often.
pub const AGE_REFRESH_MS: u64 = 5_000;
/// Events examined per chunk of a backward scan.
const SCAN_CHUNK: usize = 65_536;
/// Longest the hub lock is held for backward scanning in one sync.
const SCAN_TIME: Duration = Duration::from_millis(3);
/// Forwarding health is sampled for the status bar at most this often.
pub const FORWARD_REFRESH_MS: u64 = 250;
/// Rows moved by one wheel notch.
const WHEEL_ROWS: i64 = 3;

/// Where the alerts come from.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    /// `127.0.0.1:50051` (live) or the recording's file name.
    pub label: String,
    /// Live (listening) or a recording (no rate).
    pub live: bool,
    /// The security warning, shown as a banner.
    pub banner: Option<String>,
    /// Other notices shown above the panes (e.g. bad recording lines).
    pub notices: Vec<String>,
    /// The `--record` file and its writer's counters.
    pub recorder: Option<(String, Arc<WriterStats>)>,
    /// The durable state (`--state`): what was restored, and whether it is
    /// still durable.
    pub state: Option<Arc<crate::state::StateStats>>,
    /// `sinkwatch attach`: the remote sources' connection states.
    pub remote: Option<Remote>,
}

/// The remote sources' status line, read when a frame is drawn.
#[derive(Clone)]
pub struct Remote(pub super::live::RemoteStatus);

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remote(..)")
    }
}

impl SourceInfo {
    pub fn live(listen: impl Into<String>) -> SourceInfo {
        SourceInfo {
            label: listen.into(),
            live: true,
            ..SourceInfo::default()
        }
    }

    pub fn recording(file: impl Into<String>) -> SourceInfo {
        SourceInfo {
            label: file.into(),
            live: false,
            ..SourceInfo::default()
        }
    }
}

/// What the event loop should do after an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    Quit,
    /// Ctrl-Z: the terminal is to be restored and the process stopped, as
    /// a shell job; drawing resumes when it is continued.
    Suspend,
}

/// The two views of the Alerts pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertsView {
    /// Every event as received, newest first.
    Events,
    /// The latest status of each key, failing first.
    Latest,
}

/// The `/` prompt being edited.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub input: String,
    /// Cursor position in chars.
    pub cursor: usize,
    /// The parse error of `input`, if any.
    pub error: Option<FilterError>,
    filter: Option<Filter>,
}

impl Prompt {
    fn new(input: &str) -> Prompt {
        let mut p = Prompt {
            input: input.to_owned(),
            cursor: input.chars().count(),
            error: None,
            filter: None,
        };
        p.parse();
        p
    }

    fn parse(&mut self) {
        match Filter::parse(&self.input) {
            Ok(f) => {
                self.filter = Some(f);
                self.error = None;
            }
            Err(e) => {
                self.filter = None;
                self.error = Some(e);
            }
        }
    }

    fn byte_at(&self, char_pos: usize) -> usize {
        self.input
            .char_indices()
            .nth(char_pos)
            .map_or(self.input.len(), |(i, _)| i)
    }
}

/// A selection in a list whose rows have stable ids (groups, latest).
#[derive(Clone, Copy, Debug, Default)]
pub struct ListSel {
    pub id: Option<u32>,
    pub pos: usize,
    pub offset: usize,
    /// Whether the user has moved it. Until then it stays on the first row
    /// (and the list at its top) as rows arrive above the one first seen.
    pub moved: bool,
}

impl ListSel {
    fn set(&mut self, pos: usize, len: usize, id_at: impl Fn(usize) -> u32) {
        if len == 0 {
            *self = ListSel::default();
            return;
        }
        self.pos = pos.min(len - 1);
        self.id = Some(id_at(self.pos));
        self.moved = true;
    }

    fn move_by(&mut self, delta: i64, len: usize, id_at: impl Fn(usize) -> u32) {
        let pos = (self.pos as i64 + delta).clamp(0, len.saturating_sub(1) as i64) as usize;
        self.set(pos, len, id_at);
    }

    /// After a rebuild: follow the selected id, else stay at the position.
    fn refind(&mut self, ids: &[u32]) {
        if ids.is_empty() {
            self.pos = 0;
            self.id = None;
            return;
        }
        if !self.moved {
            self.pos = 0;
            self.id = Some(ids[0]);
            return;
        }
        if let Some(id) = self.id
            && let Some(p) = ids.iter().position(|&x| x == id)
        {
            self.pos = p;
            return;
        }
        self.pos = self.pos.min(ids.len() - 1);
        self.id = Some(ids[self.pos]);
    }

    /// The first visible row for a window of `height`, keeping the
    /// selection visible.
    pub fn window(&mut self, len: usize, height: usize) -> usize {
        if height == 0 || len == 0 {
            self.offset = 0;
            return 0;
        }
        self.pos = self.pos.min(len - 1);
        if self.pos < self.offset {
            self.offset = self.pos;
        } else if self.pos >= self.offset + height {
            self.offset = self.pos + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset
    }
}

/// A selection in a newest-first stream, anchored by seq so that the
/// window does not move when new rows arrive unless it follows the head.
#[derive(Clone, Copy, Debug)]
pub struct Anchored {
    pub follow: bool,
    pub seq: u64,
    pub top: u64,
}

impl Default for Anchored {
    fn default() -> Self {
        Anchored {
            follow: true,
            seq: 0,
            top: 0,
        }
    }
}

impl Anchored {
    /// Position (0 = newest) of the selection among the first `upto`
    /// entries of `l` (ascending).
    pub fn pos(&self, l: &dyn SeqList, upto: usize) -> Option<usize> {
        if upto == 0 {
            return None;
        }
        if self.follow {
            return Some(0);
        }
        let c = l.count_le(self.seq).min(upto);
        Some(if c == 0 { upto - 1 } else { upto - c })
    }

    fn set_pos(&mut self, l: &dyn SeqList, upto: usize, pos: usize) {
        if upto == 0 {
            *self = Anchored::default();
            return;
        }
        let pos = pos.min(upto - 1);
        self.follow = pos == 0;
        self.seq = l.seq_at(upto - 1 - pos);
    }

    fn move_by(&mut self, l: &dyn SeqList, upto: usize, delta: i64) {
        if let Some(p) = self.pos(l, upto) {
            let np = (p as i64 + delta).clamp(0, upto as i64 - 1) as usize;
            self.set_pos(l, upto, np);
        }
    }

    /// `(top, selected)` positions for a window of `height`.
    pub fn window(
        &mut self,
        l: &dyn SeqList,
        upto: usize,
        height: usize,
    ) -> Option<(usize, usize)> {
        let sel = self.pos(l, upto)?;
        if height == 0 {
            return None;
        }
        let mut top = if self.follow {
            0
        } else {
            let c = l.count_le(self.top).min(upto);
            if c == 0 { upto - 1 } else { upto - c }
        };
        if sel < top {
            top = sel;
        } else if sel >= top + height {
            top = sel + 1 - height;
        }
        top = top.min(upto.saturating_sub(height));
        self.top = l.seq_at(upto - 1 - top);
        Some((top, sel))
    }
}

/// Counters shown in the status bar, copied at each sync.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub accepted: u64,
    pub next_seq: u64,
    pub evicted: u64,
    pub history: usize,
    pub keys: usize,
    pub failing: u32,
    pub refused: u64,
    /// The most frequent refusal reason and its count (e.g. why callers
    /// fail to authenticate), when any.
    pub refused_top: Option<(&'static str, u64)>,
    pub recorder_lost: u64,
    pub recorder_error: Option<String>,
    /// Forwarding totals (None without `--forward`).
    pub forward: Option<ForwardHealth>,
}

/// Alerts per second over the last few seconds.
#[derive(Debug, Default)]
struct Rate {
    samples: VecDeque<(u64, u64)>,
}

impl Rate {
    const SPAN_MS: u64 = 5_000;
    const STEP_MS: u64 = 250;

    fn sample(&mut self, now_ms: u64, accepted: u64) {
        if self
            .samples
            .back()
            .is_some_and(|&(t, _)| now_ms < t + Self::STEP_MS)
        {
            return;
        }
        self.samples.push_back((now_ms, accepted));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| now_ms.saturating_sub(t) >= Self::SPAN_MS)
        {
            self.samples.pop_front();
        }
    }

    fn per_second(&self) -> Option<f64> {
        let (&(t0, a0), &(t1, a1)) = (self.samples.front()?, self.samples.back()?);
        (t1 >= t0 + 1000).then(|| a1.saturating_sub(a0) as f64 * 1000.0 / (t1 - t0) as f64)
    }
}

/// Where a pane was drawn, for the mouse.
#[derive(Clone, Copy, Debug)]
pub struct PaneGeom {
    pub pane: Pane,
    pub area: Rect,
    /// The rows area (inside borders and headers).
    pub rows: Rect,
    /// Position of the first visible row.
    pub first: usize,
}

/// What identifies the alert in Details (to reset the scroll on change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailsId {
    Event(u64),
    Key(KeyId),
}

/// The rendered Markdown of the last details shown.
pub(crate) struct MdCache {
    pub details: Arc<str>,
    pub theme: String,
    /// Tables are laid out for this width.
    pub width: u16,
    pub text: Text<'static>,
}

/// See the module docs.
pub struct App {
    pub theme: Theme,
    pub info: SourceInfo,
    pub focus: Pane,
    /// The drill-down, in the order applied (the breadcrumb).
    pub steps: Vec<Step>,
    pub filter: Filter,
    pub failing_only: bool,
    pub view: AlertsView,
    /// The last seq shown while paused.
    pub paused_at: Option<u64>,
    /// The help overlay and its scroll.
    pub help: Option<u16>,
    pub prompt: Option<Prompt>,
    pub stats: Stats,
    pub(crate) sel_orgs: ListSel,
    pub(crate) sel_repos: ListSel,
    pub(crate) sel_policies: ListSel,
    pub(crate) sel_latest: ListSel,
    pub(crate) sel_events: Anchored,
    pub(crate) sel_transitions: Anchored,
    /// Which stream the Details pane shows (Alerts or Transitions).
    pub(crate) details_from: Pane,
    pub(crate) details_scroll: u16,
    pub(crate) details_max: u16,
    pub(crate) details_id: Option<DetailsId>,
    /// Rendered details: the alert's, and a fixed alert's failing details
    /// before it (at most two entries).
    pub(crate) md_cache: Vec<MdCache>,
    pub(crate) index: Index,
    /// A rebuild of `index` for an age-sensitive filter, swapped in when done.
    pending: Option<Index>,
    /// The index of the filter being typed (its live count); becomes
    /// `index` on Enter.
    pub(crate) preview: Option<Index>,
    pub(crate) preview_keys: Option<usize>,
    pub(crate) lists: Lists,
    rate: Rate,
    pub(crate) geometry: Vec<PaneGeom>,
    matcher_dirty: bool,
    /// Something the user did needs a redraw.
    dirty: bool,
    last_heads: (u64, u64, f64),
    /// Forwarding counters, state and per-alert outcomes (`--forward`).
    pub(crate) forward: Option<Arc<ForwardStats>>,
    forward_upstreams: usize,
    forward_sampled_ms: Option<u64>,
    /// The upstreams as last sampled (with `stats.forward`).
    pub(crate) forward_snaps: Vec<crate::forward::UpstreamSnapshot>,
    /// The forwarding panel is shown in the place of Transitions (`F`).
    pub forward_panel: bool,
    /// The first upstream shown in the panel.
    pub(crate) forward_scroll: usize,
    /// The panel is too wide for the Transitions place and takes the
    /// Details place too (Details hidden); see `render::FORWARD_MIN_WIDTH`.
    pub(crate) forward_wide: bool,
    /// Width of the Transitions place at the last draw.
    pub(crate) transitions_width: u16,
    /// `z`: the focused pane takes the whole place of the panes.
    pub zoom: bool,
    /// A recording's last alert time: its "now" (see [`App::now`]).
    recording_end: Option<u64>,
    /// The refusals view is open (`R`), at this scroll.
    pub refusals: Option<u16>,
    /// Where the status bar's `refused N` was drawn (a click opens the
    /// refusals view).
    pub(crate) refused_at: Option<Rect>,
}

/// The help or refusals overlay after `action`: scrolled, or closed (`None`).
fn scroll_overlay(scroll: Option<u16>, action: Action) -> Option<u16> {
    let s = scroll.unwrap_or(0);
    let page = 10;
    match action {
        Action::CloseHelp => None,
        Action::Down => Some(s.saturating_add(1)),
        Action::Up => Some(s.saturating_sub(1)),
        Action::PageDown => Some(s.saturating_add(page)),
        Action::PageUp => Some(s.saturating_sub(page)),
        _ => Some(s),
    }
}

impl App {
    pub fn new(theme: Theme, info: SourceInfo) -> App {
        App {
            theme,
            info,
            focus: Pane::Alerts,
            steps: Vec::new(),
            filter: Filter::default(),
            failing_only: false,
            view: AlertsView::Events,
            paused_at: None,
            help: None,
            prompt: None,
            stats: Stats::default(),
            sel_orgs: ListSel::default(),
            sel_repos: ListSel::default(),
            sel_policies: ListSel::default(),
            sel_latest: ListSel::default(),
            sel_events: Anchored::default(),
            sel_transitions: Anchored::default(),
            details_from: Pane::Alerts,
            details_scroll: 0,
            details_max: 0,
            details_id: None,
            md_cache: Vec::new(),
            index: Index::new(Matcher::default()),
            pending: None,
            preview: None,
            preview_keys: None,
            lists: Lists::default(),
            rate: Rate::default(),
            geometry: Vec::new(),
            matcher_dirty: false,
            dirty: true,
            last_heads: (0, 0, 1.0),
            forward: None,
            forward_upstreams: 0,
            forward_sampled_ms: None,
            forward_snaps: Vec::new(),
            forward_panel: false,
            forward_scroll: 0,
            forward_wide: false,
            transitions_width: u16::MAX,
            zoom: false,
            refusals: None,
            refused_at: None,
            recording_end: None,
        }
    }

    /// Shows forwarding (`--forward`): health in the status bar, the
    /// forwarding panel (`F`) and each alert's outcome per upstream in
    /// Details. `None` turns it off.
    pub fn set_forward(&mut self, forward: Option<Arc<ForwardStats>>) {
        self.forward_upstreams = forward.as_ref().map_or(0, |f| f.urls().len());
        self.forward = forward;
        self.forward_sampled_ms = None;
        self.forward_scroll = 0;
        self.stats.forward = None;
        self.dirty = true;
    }

    /// The forwarding handle, if forwarding is configured.
    pub fn forward(&self) -> Option<&Arc<ForwardStats>> {
        self.forward.as_ref()
    }

    /// Whether a pane is on screen: the forwarding panel takes the place of
    /// Transitions (and of Details too when that place is too narrow).
    pub fn shown(&self, pane: Pane) -> bool {
        match pane {
            Pane::Transitions => !self.forward_panel,
            Pane::Forwarding => self.forward_panel,
            Pane::Details => !(self.forward_panel && self.forward_wide),
            _ => true,
        }
    }

    /// The pane in `pane`'s place: Transitions and the forwarding panel
    /// share one.
    fn in_place_of(&self, pane: Pane) -> Pane {
        match pane {
            Pane::Transitions if self.forward_panel => Pane::Forwarding,
            Pane::Forwarding if !self.forward_panel => Pane::Transitions,
            p => p,
        }
    }

    /// Tab / Shift-Tab: the next pane on screen.
    fn cycle_focus(&mut self, forward: bool) {
        let mut p = self.focus;
        for _ in 0..Pane::ALL.len() {
            p = self.in_place_of(if forward { p.next() } else { p.prev() });
            if self.shown(p) {
                break;
            }
        }
        self.set_focus(p);
    }

    /// After a layout change: focus and the Details source stay on panes
    /// that are shown.
    pub(crate) fn keep_focus_visible(&mut self) {
        if self.forward_panel && self.details_from == Pane::Transitions {
            self.details_from = Pane::Alerts;
        }
        if !self.shown(self.focus) {
            self.focus = match self.focus {
                Pane::Details => Pane::Forwarding,
                p => self.in_place_of(p),
            };
        }
    }

    /// The time the screen measures from: the wall clock when live; over a
    /// recording its last alert, so that ages, the 15-minute window and
    /// `age<` filters read as they did when it was recorded.
    pub fn now(&self, wall_ms: u64) -> u64 {
        match self.recording_end {
            Some(end) if !self.info.live => end,
            _ => wall_ms,
        }
    }

    pub fn mode(&self) -> Mode {
        if self.help.is_some() {
            Mode::Help
        } else if self.refusals.is_some() {
            Mode::Refusals
        } else if self.prompt.is_some() {
            Mode::Prompt
        } else {
            Mode::Normal
        }
    }

    pub fn narrowing(&self) -> Narrowing {
        Narrowing::from_steps(&self.steps)
    }

    fn matcher(&self) -> Matcher {
        Matcher::new(self.filter.clone(), self.narrowing(), self.failing_only)
    }

    /// The index the panes show.
    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn lists(&self) -> &Lists {
        &self.lists
    }

    /// Alerts per second (live only).
    pub fn rate(&self) -> Option<f64> {
        if self.info.live {
            self.rate.per_second()
        } else {
            None
        }
    }

    // ---- input ---------------------------------------------------------

    /// Handles a key through the key table.
    pub fn handle_key(&mut self, ev: KeyEvent) -> Outcome {
        if ev.kind == KeyEventKind::Release {
            return Outcome::Continue;
        }
        match keymap::lookup(self.mode(), self.focus, &ev) {
            Some(action) => {
                self.dirty = true;
                self.apply(action, &ev)
            }
            None => Outcome::Continue,
        }
    }

    /// Performs an action as if its key was pressed (`ev` carries the
    /// character for [`Action::Insert`]).
    pub fn apply(&mut self, action: Action, ev: &KeyEvent) -> Outcome {
        match self.mode() {
            _ if action == Action::Quit => Outcome::Quit,
            _ if action == Action::Suspend => Outcome::Suspend,
            Mode::Help => {
                self.help = scroll_overlay(self.help, action);
                Outcome::Continue
            }
            Mode::Refusals => {
                self.refusals = scroll_overlay(self.refusals, action);
                Outcome::Continue
            }
            Mode::Prompt => self.apply_prompt(action, ev),
            Mode::Normal => self.apply_normal(action, ev),
        }
    }

    fn apply_prompt(&mut self, action: Action, ev: &KeyEvent) -> Outcome {
        let Some(p) = self.prompt.as_mut() else {
            return Outcome::Continue;
        };
        let mut edited = true;
        match action {
            Action::Quit => return Outcome::Quit,
            Action::Cancel => {
                self.prompt = None;
                self.preview = None;
                self.preview_keys = None;
                return Outcome::Continue;
            }
            Action::Apply => {
                let Some(filter) = p.filter.clone() else {
                    // The error is on screen; keep the prompt open.
                    return Outcome::Continue;
                };
                self.prompt = None;
                self.filter = filter;
                let m = self.matcher();
                match self.preview.take() {
                    Some(ix) if ix.matcher().same_as(&m) => self.replace_index(ix),
                    _ => self.matcher_dirty = true,
                }
                self.preview_keys = None;
                return Outcome::Continue;
            }
            Action::Insert => {
                if let KeyCode::Char(c) = ev.code {
                    let at = p.byte_at(p.cursor);
                    p.input.insert(at, c);
                    p.cursor += 1;
                }
            }
            Action::Backspace if p.cursor > 0 => {
                let at = p.byte_at(p.cursor - 1);
                p.input.remove(at);
                p.cursor -= 1;
            }
            Action::Delete if p.cursor < p.input.chars().count() => {
                let at = p.byte_at(p.cursor);
                p.input.remove(at);
            }
            Action::ClearInput => {
                p.input.clear();
                p.cursor = 0;
            }
            Action::Left => {
                p.cursor = p.cursor.saturating_sub(1);
                edited = false;
            }
            Action::Right => {
                p.cursor = (p.cursor + 1).min(p.input.chars().count());
                edited = false;
            }
            Action::Home => {
                p.cursor = 0;
                edited = false;
            }
            Action::End => {
                p.cursor = p.input.chars().count();
                edited = false;
            }
            _ => edited = false,
        }
        if edited {
            p.parse();
            self.start_preview();
        }
        Outcome::Continue
    }

    fn start_preview(&mut self) {
        self.preview_keys = None;
        self.preview = self
            .prompt
            .as_ref()
            .and_then(|p| p.filter.clone())
            .map(|filter| Index::new(Matcher::new(filter, self.narrowing(), self.failing_only)));
    }

    fn apply_normal(&mut self, action: Action, ev: &KeyEvent) -> Outcome {
        match action {
            a if a.live_only() && !self.info.live => {}
            Action::ShowRefusals => self.refusals = Some(0),
            Action::Sort => {
                self.lists.sort = self.lists.sort.next();
                self.lists.invalidate();
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::FocusPane => {
                // `1`–`6`: the panes in Tab order (the forwarding panel in
                // the place of Transitions).
                if let KeyCode::Char(c) = ev.code
                    && let Some(d) = c.to_digit(10)
                    && let Some(&p) = Pane::ALL.get((d as usize).wrapping_sub(1))
                {
                    let p = self.in_place_of(p);
                    if self.shown(p) {
                        self.set_focus(p);
                    }
                }
            }
            Action::Quit => return Outcome::Quit,
            Action::Help => self.help = Some(0),
            Action::NextPane => self.cycle_focus(true),
            Action::PrevPane => self.cycle_focus(false),
            Action::Down => self.move_in(self.focus, Motion::By(1)),
            Action::Up => self.move_in(self.focus, Motion::By(-1)),
            Action::PageDown => self.move_in(self.focus, Motion::Page(1)),
            Action::PageUp => self.move_in(self.focus, Motion::Page(-1)),
            Action::Top => self.move_in(self.focus, Motion::Top),
            Action::Bottom => self.move_in(self.focus, Motion::Bottom),
            Action::Narrow => self.narrow_to_selection(),
            Action::ShowDetails => {
                self.details_from = self.focus;
                self.focus = Pane::Details;
            }
            Action::Back => self.focus = self.details_from,
            Action::Widen => {
                if self.steps.pop().is_some() {
                    self.matcher_dirty = true;
                } else {
                    // Nothing to widen: back to following the newest.
                    self.sel_events = Anchored::default();
                    self.sel_transitions = Anchored::default();
                }
            }
            Action::OpenFilter => {
                self.prompt = Some(Prompt::new(self.filter.source()));
                self.start_preview();
            }
            Action::ClearAll
                if !self.filter.is_empty() || !self.steps.is_empty() || self.failing_only =>
            {
                self.filter = Filter::default();
                self.steps.clear();
                self.failing_only = false;
                self.matcher_dirty = true;
            }
            Action::FailingOnly => {
                self.failing_only = !self.failing_only;
                self.matcher_dirty = true;
            }
            Action::ToggleView => {
                self.view = match self.view {
                    AlertsView::Events => AlertsView::Latest,
                    AlertsView::Latest => AlertsView::Events,
                };
                if self.view == AlertsView::Latest {
                    // Built on demand; make it fresh now.
                    self.lists.invalidate();
                }
            }
            Action::Pause => {
                self.paused_at = match self.paused_at {
                    Some(_) => None,
                    None => Some(self.stats.next_seq.saturating_sub(1)),
                };
            }
            Action::ToggleForward => {
                self.forward_panel = !self.forward_panel;
                // As the next frame will lay it out.
                self.forward_wide =
                    self.forward_panel && self.transitions_width < super::render::FORWARD_MIN_WIDTH;
                self.keep_focus_visible();
            }
            _ => {}
        }
        Outcome::Continue
    }

    fn set_focus(&mut self, pane: Pane) {
        let pane = self.in_place_of(pane);
        self.focus = pane;
        if keymap::STREAMS.contains(&pane) {
            self.details_from = pane;
        }
    }

    fn set_step(&mut self, step: Step) {
        let same_level = |s: &Step| {
            matches!(
                (s, &step),
                (Step::Org(_), Step::Org(_))
                    | (Step::Repo { .. }, Step::Repo { .. })
                    | (Step::Policy(_), Step::Policy(_))
            )
        };
        match self.steps.iter().position(same_level) {
            Some(i) => self.steps[i] = step,
            None => self.steps.push(step),
        }
        // A repo of another org, or an org other than the repo's, cannot stay.
        self.steps.retain(|s| match (*s, step) {
            (Step::Repo { org, .. }, Step::Org(o)) | (Step::Org(o), Step::Repo { org, .. }) => {
                org == o
            }
            _ => true,
        });
        self.matcher_dirty = true;
    }

    fn narrow_to_selection(&mut self) {
        match self.focus {
            Pane::Orgs => {
                if let Some(r) = self.lists.orgs.get(self.sel_orgs.pos) {
                    self.set_step(Step::Org(r.id));
                    self.sel_repos = ListSel::default();
                    self.focus = Pane::Repos;
                }
            }
            Pane::Repos => {
                if let Some(r) = self.lists.repos.get(self.sel_repos.pos)
                    && let Some(org) = self.lists.repo_org(r.id)
                {
                    self.set_step(Step::Repo { repo: r.id, org });
                    self.sel_policies = ListSel::default();
                    self.focus = Pane::Policies;
                }
            }
            Pane::Policies => {
                if let Some(r) = self.lists.policies.get(self.sel_policies.pos) {
                    self.set_step(Step::Policy(r.id));
                    self.set_focus(Pane::Alerts);
                }
            }
            _ => {}
        }
    }

    /// Rows of the visible window of a pane at the last draw.
    fn page(&self, pane: Pane) -> i64 {
        self.geometry
            .iter()
            .find(|g| g.pane == pane)
            .map_or(10, |g| i64::from(g.rows.height.max(2)) - 1)
    }

    /// How many stream entries are visible (all, or up to the pause).
    pub fn upto(&self, l: &dyn SeqList) -> usize {
        match self.paused_at {
            Some(seq) => l.count_le(seq),
            None => l.len(),
        }
    }

    fn move_in(&mut self, pane: Pane, motion: Motion) {
        let page = self.page(pane);
        let delta = |pos: usize, len: usize| -> i64 {
            match motion {
                Motion::By(d) => d,
                Motion::Page(d) => d * page,
                Motion::Top => -(pos as i64),
                Motion::Bottom => len as i64,
            }
        };
        let group = |sel: &mut ListSel, rows: &[GroupRow]| {
            let d = delta(sel.pos, rows.len());
            sel.move_by(d, rows.len(), |i| rows[i].id);
        };
        match pane {
            Pane::Orgs => group(&mut self.sel_orgs, &self.lists.orgs),
            Pane::Repos => group(&mut self.sel_repos, &self.lists.repos),
            Pane::Policies => group(&mut self.sel_policies, &self.lists.policies),
            Pane::Alerts => match self.view {
                AlertsView::Events => {
                    let upto = self.upto(&self.index);
                    let pos = self.sel_events.pos(&self.index, upto).unwrap_or(0);
                    let d = delta(pos, upto);
                    self.sel_events.move_by(&self.index, upto, d);
                }
                AlertsView::Latest => {
                    let keys = &self.lists.latest;
                    let d = delta(self.sel_latest.pos, keys.len());
                    self.sel_latest.move_by(d, keys.len(), |i| keys[i]);
                }
            },
            Pane::Transitions => {
                let t = Transitions(self.index.transitions());
                let upto = self.upto(&t);
                let pos = self.sel_transitions.pos(&t, upto).unwrap_or(0);
                let d = delta(pos, upto);
                self.sel_transitions.move_by(&t, upto, d);
            }
            Pane::Details => {
                let d = delta(self.details_scroll as usize, self.details_max as usize);
                self.details_scroll = (i64::from(self.details_scroll) + d)
                    .clamp(0, i64::from(self.details_max))
                    as u16;
            }
            Pane::Forwarding => {
                // One upstream (card) at a time.
                let n = self.forward_upstreams;
                let d = match motion {
                    Motion::Page(d) => d,
                    _ => delta(self.forward_scroll, n),
                };
                self.forward_scroll =
                    (self.forward_scroll as i64 + d).clamp(0, n.saturating_sub(1) as i64) as usize;
            }
        }
    }

    /// Handles a mouse event using where panes were last drawn.
    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Outcome {
        let at = Position::new(ev.column, ev.row);
        let hit = self.geometry.iter().find(|g| g.area.contains(at)).copied();
        match ev.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let d = if ev.kind == MouseEventKind::ScrollDown {
                    WHEEL_ROWS
                } else {
                    -WHEEL_ROWS
                };
                self.dirty = true;
                if let Some(s) = self.help {
                    self.help = Some((i64::from(s) + d).max(0) as u16);
                } else if let Some(s) = self.refusals {
                    self.refusals = Some((i64::from(s) + d).max(0) as u16);
                } else if self.prompt.is_none()
                    && let Some(g) = hit
                {
                    self.move_in(g.pane, Motion::By(d));
                }
            }
            MouseEventKind::Down(MouseButton::Left)
                if self.mode() == Mode::Normal
                    && self.refused_at.is_some_and(|r| r.contains(at)) =>
            {
                self.dirty = true;
                self.refusals = Some(0);
            }
            MouseEventKind::Down(MouseButton::Left) if self.mode() == Mode::Normal => {
                let Some(g) = hit else {
                    return Outcome::Continue;
                };
                self.dirty = true;
                self.set_focus(g.pane);
                if g.rows.contains(at) {
                    let pos = g.first + usize::from(at.y - g.rows.y);
                    self.select_at(g.pane, pos);
                }
            }
            _ => {}
        }
        Outcome::Continue
    }

    fn select_at(&mut self, pane: Pane, pos: usize) {
        let group = |sel: &mut ListSel, rows: &[GroupRow]| {
            if pos < rows.len() {
                sel.set(pos, rows.len(), |i| rows[i].id);
            }
        };
        match pane {
            Pane::Orgs => group(&mut self.sel_orgs, &self.lists.orgs),
            Pane::Repos => group(&mut self.sel_repos, &self.lists.repos),
            Pane::Policies => group(&mut self.sel_policies, &self.lists.policies),
            Pane::Alerts => match self.view {
                AlertsView::Events => {
                    let upto = self.upto(&self.index);
                    if pos < upto {
                        self.sel_events.set_pos(&self.index, upto, pos);
                    }
                }
                AlertsView::Latest => {
                    let keys = &self.lists.latest;
                    if pos < keys.len() {
                        self.sel_latest.set(pos, keys.len(), |i| keys[i]);
                    }
                }
            },
            Pane::Transitions => {
                let t = Transitions(self.index.transitions());
                let upto = self.upto(&t);
                if pos < upto {
                    self.sel_transitions.set_pos(&t, upto, pos);
                }
            }
            Pane::Details | Pane::Forwarding => {}
        }
    }

    /// Notes a terminal resize (the next frame is drawn at the new size).
    pub fn resized(&mut self) {
        self.dirty = true;
    }

    // ---- data ----------------------------------------------------------

    fn replace_index(&mut self, ix: Index) {
        self.index = ix;
        self.pending = None;
        self.lists.invalidate();
        self.sel_events = Anchored::default();
        self.sel_transitions = Anchored::default();
        self.sel_latest = ListSel::default();
    }

    /// Catches up with the hub: counters, the filtered index (new events,
    /// evictions, a budgeted part of any rescan), and the lists when due.
    /// Returns true if the screen should be redrawn.
    pub fn sync(&mut self, hub: &Hub, now_ms: u64) -> bool {
        if !self.info.live && self.recording_end.is_none() {
            self.recording_end = hub.read(|s| s.history().back().map(|e| e.at_ms));
        }
        let now_ms = self.now(now_ms);
        let mut changed = std::mem::take(&mut self.dirty);
        if std::mem::take(&mut self.matcher_dirty) {
            let m = self.matcher();
            self.replace_index(Index::new(m));
            changed = true;
        }
        if self.pending.is_none()
            && self.index.matcher().age_sensitive()
            && now_ms >= self.index.built_at_ms + AGE_REFRESH_MS
        {
            self.pending = Some(Index::new(self.index.matcher().clone()));
        }

        let before = self.stats.clone();
        let index = &mut self.index;
        let pending = &mut self.pending;
        let preview = &mut self.preview;
        let stats = &mut self.stats;
        let preview_keys = &mut self.preview_keys;
        hub.read(|s| {
            stats.accepted = s.accepted();
            stats.next_seq = s.next_seq();
            stats.evicted = s.evicted();
            stats.history = s.history().len();
            stats.keys = s.key_count();
            stats.failing = s.failing_keys();
            let started = Instant::now();
            for ix in [Some(index), pending.as_mut(), preview.as_mut()]
                .into_iter()
                .flatten()
            {
                loop {
                    ix.sync(s, now_ms, SCAN_CHUNK);
                    if ix.complete() || started.elapsed() >= SCAN_TIME {
                        break;
                    }
                }
            }
            if let Some(p) = preview.as_ref()
                && preview_keys.is_none()
            {
                let m = p.matcher();
                let n = (0..s.key_count() as KeyId)
                    .filter(|&k| m.key_ok(s, k) && m.latest_ok(s, k, now_ms))
                    .count();
                *preview_keys = Some(n);
            }
        });
        if self.pending.as_ref().is_some_and(Index::complete)
            && let Some(ix) = self.pending.take()
        {
            // Same matcher, re-evaluated: keep the selections.
            self.index = ix;
            self.lists.invalidate();
            changed = true;
        }
        self.stats.refused = hub.refused_total();
        self.stats.refused_top = (self.stats.refused > 0)
            .then(|| hub.refused_by_reason().into_iter().max_by_key(|(_, n)| *n))
            .flatten();
        if let Some((_, w)) = &self.info.recorder {
            self.stats.recorder_lost = w.lost();
            self.stats.recorder_error = w.last_error();
        }
        if let Some(f) = &self.forward
            && self
                .forward_sampled_ms
                .is_none_or(|t| now_ms >= t + FORWARD_REFRESH_MS || now_ms < t)
        {
            // One sample for the status bar and the panel alike.
            let snaps = f.snapshot();
            self.stats.forward = Some(ForwardHealth::of(&snaps));
            self.forward_snaps = snaps;
            self.forward_sampled_ms = Some(now_ms);
        }
        if self.info.live {
            self.rate.sample(now_ms, self.stats.accepted);
        }
        changed |= self.stats != before;

        let heads = (
            self.index.len() as u64,
            self.index.transitions().back().map_or(0, |t| t.seq),
            self.index.progress(),
        );
        changed |= heads != self.last_heads;
        self.last_heads = heads;
        if let Some(p) = &self.preview {
            changed |= !p.complete();
        }

        changed |= self.refresh_lists(hub, now_ms, false);
        changed
    }

    /// Rebuilds the group and latest lists when stale: at once after a
    /// change of filter or narrowing, else at most every
    /// [`LIST_REFRESH_MS`] while data changes. `force` rebuilds now.
    pub fn refresh_lists(&mut self, hub: &Hub, now_ms: u64, force: bool) -> bool {
        let latest_frozen = self.paused_at.is_some() && self.lists.latest_valid;
        let want_latest = self.view == AlertsView::Latest && !latest_frozen;
        let due = match self.lists.built_seq {
            None => true,
            Some(seq) => {
                force
                    || (want_latest && !self.lists.latest_valid)
                    || (seq != self.stats.next_seq
                        && now_ms >= self.lists.built_at_ms + LIST_REFRESH_MS)
            }
        };
        if !due {
            return false;
        }
        let m = self.index.matcher();
        let lists = &mut self.lists;
        let raw = hub.read(|s| lists.collect(s, m, want_latest, now_ms));
        self.lists.finish(raw, now_ms);
        if self.view != AlertsView::Latest && !latest_frozen {
            // Not shown: let it be rebuilt when it is.
            self.lists.latest_valid = false;
        }
        let ids = |rows: &[GroupRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        self.sel_orgs.refind(&ids(&self.lists.orgs));
        self.sel_repos.refind(&ids(&self.lists.repos));
        self.sel_policies.refind(&ids(&self.lists.policies));
        self.sel_latest.refind(&self.lists.latest);
        true
    }

    /// When the screen must be redrawn even without new input or data: the
    /// end of the earliest running flash.
    pub fn next_deadline(&self, now_ms: u64) -> Option<u64> {
        self.index
            .transitions()
            .iter()
            .rev()
            .take_while(|t| t.at_ms + FLASH_MS > now_ms)
            .map(|t| t.at_ms + FLASH_MS)
            .min()
    }

    /// True while an index is still being built (a new filter's backward
    /// scan, an age refresh, the prompt's live count): the loop then comes
    /// back sooner than one frame to scan the next chunk.
    pub fn scanning(&self) -> bool {
        !self.index.complete()
            || self.pending.is_some()
            || self.preview.as_ref().is_some_and(|p| !p.complete())
    }

    /// Matching alerts that arrived after the pause.
    pub fn new_since_pause(&self) -> Option<usize> {
        self.paused_at
            .map(|seq| self.index.len() - self.index.count_le(seq))
    }
}

#[derive(Clone, Copy, Debug)]
enum Motion {
    By(i64),
    Page(i64),
    Top,
    Bottom,
}

#[cfg(test)]
mod tests {
    //! Key dispatch as a pure function of the App state: no terminal, no
    //! rendering. Data comes from a real hub through `sync`.
    use super::*;
    use crate::model::{NewAlert, StoreLimits};
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
}
