//! The UI state, kept apart from drawing and from the store.
//!
//! [`App`] holds what the user did (focus, selections, narrowing, filter,
//! view mode, pause, scroll, overlays) and the derived, incrementally kept
//! data the panes page through ([`Index`], [`Lists`]). Three entry points:
//! - [`App::handle_key`] / [`App::handle_mouse`] (in `ui/input.rs`): pure
//!   state transitions dispatched through the key table, no terminal and
//!   no store needed;
//! - [`App::sync`] (in `sync.rs`): catches up with the hub in short lock
//!   holds;
//! - [`App::render`] (in `ui/view/`): draws a frame from `&App` plus the
//!   rows of the visible windows, read from the store in one short hold.
//!   What the frame learns comes back as one [`FrameLayout`], taken in by
//!   [`App::apply_layout`]; the only other write around a frame is
//!   [`App::fit_panes`] (which panes the terminal size leaves on screen).
//!
//! The parts: `editor.rs` (the `/` prompt's line editor), `scroll.rs`
//! (selections and scroll windows), `rate.rs` (the alert rate sampler),
//! `sync.rs` (hub sync). This module imports nothing from the view or the
//! input handling; they import it.
//!
//! `md_cache` is the view's Markdown render cache: stored here so callers
//! keep one handle (`app.render`), but only `ui/view/details.rs` reads or
//! writes it, handed `&mut` for the frame while the state is lent `&`.
//!
//! Time is always a parameter (`now_ms`), so tests are deterministic.

use std::sync::Arc;
use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::text::Text;

use crate::forward::{ForwardHealth, ForwardStats};
use crate::model::filter::Filter;
use crate::model::store::KeyId;
use crate::record::WriterStats;

use crate::ui::index::{Index, Matcher, Narrowing, Step};
use crate::ui::keymap::{Mode, Pane};
use crate::ui::lists::Lists;
use crate::ui::theme::Theme;

mod editor;
mod rate;
mod rollout;
mod scroll;
pub mod silences;
mod sync;
// Export, copy, bell and saved views.
mod bell;
mod clip;
mod export;
mod timeline;
mod views;

pub use editor::Prompt;
pub(in crate::ui) use editor::edit_line;
use rate::Rate;
pub use rollout::{RolloutBy, RolloutFocus, RolloutState};
pub use scroll::{Anchored, ListSel};
// Export, copy, bell and saved views.
pub use bell::{BELL_EVERY_MS, Bell, Notify};
pub(in crate::ui) use clip::ClipRequest;
pub use clip::{CLIP_MAX_BYTES, Opener, TermEnv, github_owner_ok, github_repo_ok, osc52};
pub use export::{ExportJob, ExportPrompt};
pub use timeline::{Note, Older, TimelineState};
pub use views::{MAX_VIEWS, SavedView, ViewsMenu};

/// How long a regression or fix stays highlighted after it arrived.
pub const FLASH_MS: u64 = 2_000;
/// How long a message stays in the status bar without a key pressed.
pub const MESSAGE_MS: u64 = 10_000;

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

/// Where the alerts come from.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    /// `127.0.0.1:50051` (live) or the recording's file name.
    pub label: String,
    /// Live (listening) or a recording (no rate).
    pub live: bool,
    /// Not live: a state database (`open FILE.db`), not a JSON-lines
    /// recording.
    pub database: bool,
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
    /// `sinkwatch attach`: the alerts its sources sent live (snapshots
    /// left out), what the status bar's rate counts. None: the store's
    /// accepted count (a sink's own alerts all arrive live).
    pub arrivals: Option<Arrivals>,
    /// A sink serving Watch: the viewers attached now (an empty line when
    /// none).
    pub viewers: Option<Remote>,
    /// What the empty alerts pane says (None: waiting on `label`, and
    /// `send --to label` as the example).
    pub empty_hint: Option<EmptyHint>,
}

/// What the empty alerts pane tells a user waiting for the first alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmptyHint {
    /// `on 127.0.0.1:50051`, `from http://a:50051, http://b:50051`.
    pub waiting: String,
    /// The `sinkwatch send` options that reach this sink as it is set up:
    /// `--to https://… --ca FILE --token-file FILE` (copied as is, it must
    /// not be refused).
    pub send_args: String,
}

/// The remote sources' status line, read when a frame is drawn.
#[derive(Clone)]
pub struct Remote(pub super::live::RemoteStatus);

/// A count read when the rate is sampled.
#[derive(Clone)]
pub struct Arrivals(pub Arc<dyn Fn() -> u64 + Send + Sync>);

impl std::fmt::Debug for Arrivals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Arrivals(..)")
    }
}

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

    /// A state database opened read-only (`open FILE.db`).
    pub fn database(file: impl Into<String>) -> SourceInfo {
        SourceInfo {
            database: true,
            ..SourceInfo::recording(file)
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

/// Where a pane was drawn, for the mouse.
#[derive(Clone, Copy, Debug)]
pub struct PaneGeom {
    pub pane: Pane,
    pub area: Rect,
    /// The rows area (inside borders and headers).
    pub rows: Rect,
    /// Position of the first visible row.
    pub first: usize,
    /// Screen rows per list row: 2 where a narrow Transitions pane puts
    /// a transition's names on one line and its policy on the next.
    pub row_height: u16,
}

/// What a frame learned while drawing, applied to the state in one place
/// ([`App::apply_layout`]): where panes went (for the mouse), the scroll
/// windows that keep each selection visible, scrolls clamped to what there
/// is, and where the status bar's `refused N` is.
#[derive(Clone, Debug)]
pub struct FrameLayout {
    pub geometry: Vec<PaneGeom>,
    pub sel_orgs: ListSel,
    pub sel_repos: ListSel,
    pub sel_policies: ListSel,
    pub sel_latest: ListSel,
    pub sel_events: Anchored,
    pub sel_transitions: Anchored,
    /// The alert in Details (its scroll is reset when it changes).
    pub details_id: Option<DetailsId>,
    pub details_scroll: u16,
    pub details_max: u16,
    pub forward_scroll: usize,
    pub help: Option<u16>,
    pub refusals: Option<u16>,
    pub refused_at: Option<Rect>,
    /// The timeline screen's scroll, clamped to its content.
    pub timeline_scroll: Option<u16>,
    /// The names of the alert in Details (the selection), for `x`.
    pub selected_names: Option<(Arc<str>, Arc<str>, Arc<str>)>,
}

impl FrameLayout {
    /// Starts from the state as it is: a frame that learns nothing changes
    /// nothing (but the geometry, which each frame draws anew).
    pub fn of(app: &App) -> FrameLayout {
        FrameLayout {
            geometry: Vec::new(),
            sel_orgs: app.sel_orgs,
            sel_repos: app.sel_repos,
            sel_policies: app.sel_policies,
            sel_latest: app.sel_latest,
            sel_events: app.sel_events,
            sel_transitions: app.sel_transitions,
            details_id: app.details_id,
            details_scroll: app.details_scroll,
            details_max: app.details_max,
            forward_scroll: app.forward_scroll,
            help: app.help,
            refusals: app.refusals,
            refused_at: app.refused_at,
            timeline_scroll: app.timeline.as_ref().map(|t| t.scroll),
            selected_names: app.selected_names.clone(),
        }
    }
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
    pub(in crate::ui) pending: Option<Index>,
    /// The index of the filter being typed (its live count); becomes
    /// `index` on Enter.
    pub(crate) preview: Option<Index>,
    pub(crate) preview_keys: Option<usize>,
    pub(crate) lists: Lists,
    pub(in crate::ui) rate: Rate,
    pub(crate) geometry: Vec<PaneGeom>,
    pub(in crate::ui) matcher_dirty: bool,
    /// Something the user did needs a redraw.
    pub(in crate::ui) dirty: bool,
    pub(in crate::ui) last_heads: (u64, u64, f64),
    /// Forwarding counters, state and per-alert outcomes (`--forward`).
    pub(crate) forward: Option<Arc<ForwardStats>>,
    pub(in crate::ui) forward_upstreams: usize,
    pub(in crate::ui) forward_sampled_ms: Option<u64>,
    /// The upstreams as last sampled (with `stats.forward`).
    pub(crate) forward_snaps: Vec<crate::forward::UpstreamSnapshot>,
    /// The forwarding panel is shown in the place of Transitions (`F`).
    pub forward_panel: bool,
    /// The first upstream shown in the panel.
    pub(crate) forward_scroll: usize,
    /// The panel is too wide for the Transitions place and takes the
    /// Details place too (Details hidden); see `view::FORWARD_MIN_WIDTH`.
    pub(crate) forward_wide: bool,
    /// Width of the Transitions place at the last draw.
    pub(crate) transitions_width: u16,
    /// `z`: the focused pane takes the whole place of the panes.
    pub zoom: bool,
    /// The last frame had room for one pane only (see
    /// `view::SPLIT_WIDTH`): what a key opens in a pane's place is focused,
    /// or it would not be seen.
    pub one_pane: bool,
    /// A recording's last alert time: its "now" (see [`App::now`]).
    pub(in crate::ui) recording_end: Option<u64>,
    /// The refusals view is open (`R`), at this scroll.
    pub refusals: Option<u16>,
    /// Where the status bar's `refused N` was drawn (a click opens the
    /// refusals view).
    pub(crate) refused_at: Option<Rect>,
    // Export, copy, bell and saved views (`e`, `y`, `Y`, `o`, `b`, `V`).
    /// The `e` prompt, while open.
    pub export_prompt: Option<ExportPrompt>,
    /// The export being written, chunk by chunk at each sync.
    pub(crate) export_job: Option<ExportJob>,
    /// `y`/`Y`/`o` wait for the next sync (they need the store).
    pub(in crate::ui) clip_request: Option<clip::ClipRequest>,
    /// What the terminal and system offer: tmux, notifications, an opener.
    pub(crate) term_env: TermEnv,
    /// Bytes for the terminal outside the frame (BEL, OSC 52), taken by
    /// the event loop after each sync; bounded by `clip::TERM_OUT_MAX`.
    pub(crate) term_out: Vec<u8>,
    /// One line for the status bar about the last export, copy or open;
    /// `(text, is_error)`. Cleared by the next key, or after
    /// [`MESSAGE_MS`] (shown whole in the footer, in place of the keys).
    pub message: Option<(String, bool)>,
    /// The message shown now and since when (wall clock, ms).
    message_since: Option<(String, u64)>,
    /// The bell on regressions.
    pub bell: Bell,
    /// The saved views (config `views:`) and the `V` menu, while open.
    pub views: Vec<SavedView>,
    pub views_menu: Option<ViewsMenu>,
    /// The view applied last: `(name, filter source)`; shown in the header
    /// while the filter is still that view's.
    pub(crate) active_view: Option<(String, String)>,
    // The key timeline (`t`, ui/state/timeline.rs).
    /// The timeline screen, when open.
    pub timeline: Option<TimelineState>,
    /// `t` was pressed: the timeline of this alert's key opens at the next sync.
    pub(in crate::ui) timeline_request: Option<DetailsId>,
    // Rollout screen (`r`, `rollout.rs`): started on first open, then fed
    // at every sync.
    pub(crate) rollout: Option<Box<RolloutState>>,
    // Silences (`x`, `X`, `i`; see `silences.rs`).
    pub silences: silences::SilenceState,
    /// The set's version the matcher hides by (when hiding).
    pub(in crate::ui) matcher_silences_version: u64,
    /// The names of the alert in Details at the last draw.
    pub(crate) selected_names: Option<(Arc<str>, Arc<str>, Arc<str>)>,
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
            one_pane: false,
            refusals: None,
            refused_at: None,
            recording_end: None,
            export_prompt: None,
            export_job: None,
            clip_request: None,
            term_env: TermEnv::default(),
            term_out: Vec::new(),
            message: None,
            message_since: None,
            bell: Bell::default(),
            views: Vec::new(),
            views_menu: None,
            active_view: None,
            timeline: None,
            timeline_request: None,
            rollout: None,
            silences: silences::SilenceState::default(),
            matcher_silences_version: 0,
            selected_names: None,
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
    pub(in crate::ui) fn in_place_of(&self, pane: Pane) -> Pane {
        match pane {
            Pane::Transitions if self.forward_panel => Pane::Forwarding,
            Pane::Forwarding if !self.forward_panel => Pane::Transitions,
            p => p,
        }
    }

    /// Tab / Shift-Tab: the next pane on screen.
    pub(in crate::ui) fn cycle_focus(&mut self, forward: bool) {
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

    /// What the terminal size decides before a frame is drawn: whether the
    /// forwarding panel also takes the Details place, and so where focus
    /// and the Details source may be.
    pub fn fit_panes(&mut self, forward_wide: bool, transitions_width: u16, one_pane: bool) {
        self.forward_wide = forward_wide;
        self.transitions_width = transitions_width;
        self.one_pane = one_pane;
        self.keep_focus_visible();
    }

    /// Takes in what the last frame learned; see [`FrameLayout`].
    pub fn apply_layout(&mut self, l: FrameLayout) {
        self.geometry = l.geometry;
        self.sel_orgs = l.sel_orgs;
        self.sel_repos = l.sel_repos;
        self.sel_policies = l.sel_policies;
        self.sel_latest = l.sel_latest;
        self.sel_events = l.sel_events;
        self.sel_transitions = l.sel_transitions;
        self.details_id = l.details_id;
        self.details_scroll = l.details_scroll;
        self.details_max = l.details_max;
        self.forward_scroll = l.forward_scroll;
        self.help = l.help;
        self.refusals = l.refusals;
        self.refused_at = l.refused_at;
        if let (Some(t), Some(s)) = (self.timeline.as_mut(), l.timeline_scroll) {
            t.scroll = s;
        }
        self.selected_names = l.selected_names;
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
        } else if self.rollout_open().is_some() {
            Mode::Rollout
        } else if self.refusals.is_some() {
            Mode::Refusals
        } else if self.timeline.is_some() {
            Mode::Timeline
        } else if self.silences.form.is_some() {
            Mode::SilenceForm
        } else if self.silences.menu.is_some() {
            Mode::SilenceMenu
        } else if self.silences.list.is_some() {
            Mode::SilenceList
        } else if self.prompt.is_some() {
            Mode::Prompt
        } else if self.export_prompt.is_some() {
            Mode::Export
        } else if self.views_menu.is_some() {
            Mode::Views
        } else {
            Mode::Normal
        }
    }

    pub fn narrowing(&self) -> Narrowing {
        Narrowing::from_steps(&self.steps)
    }

    pub(in crate::ui) fn matcher(&self) -> Matcher {
        self.matcher_for(self.filter.clone())
    }

    /// The matcher of a filter with the current narrowing, failing-only
    /// and hidden silences.
    pub(in crate::ui) fn matcher_for(&self, filter: Filter) -> Matcher {
        let hide = self
            .silences
            .hide
            .then(|| (Arc::new(self.silences.set.clone()), self.silences.now_ms));
        Matcher::new(filter, self.narrowing(), self.failing_only).hiding(hide)
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
}
