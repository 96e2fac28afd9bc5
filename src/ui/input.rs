//! Input: keys through the key table and the mouse through where panes
//! were last drawn, as pure transitions of the [`App`] state.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::model::filter::Filter;

use crate::ui::index::{Index, SeqList, Step, Transitions};
use crate::ui::keymap::{self, Action, Mode, Pane};
use crate::ui::lists::GroupRow;

use crate::ui::state::*;

#[cfg(test)]
mod tests;

/// Rows moved by one wheel notch.
const WHEEL_ROWS: i64 = 3;

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
        Action::Top => Some(0),
        // Clamped to the largest useful scroll by the next frame.
        Action::Bottom => Some(u16::MAX),
        _ => Some(s),
    }
}

impl App {
    /// Handles a key through the key table.
    pub fn handle_key(&mut self, ev: KeyEvent) -> Outcome {
        if ev.kind == KeyEventKind::Release {
            return Outcome::Continue;
        }
        match keymap::lookup(self.mode(), self.focus, &ev) {
            Some(action) => {
                self.dirty = true;
                self.seen_by_user();
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
            Mode::Timeline => {
                match (action, self.timeline.as_mut()) {
                    (Action::CloseHelp, _) => self.timeline = None,
                    (Action::Help, _) => self.help = Some(0),
                    (a, Some(t)) => t.apply(a),
                    _ => {}
                }
                Outcome::Continue
            }
            Mode::Rollout => {
                self.apply_rollout(action);
                Outcome::Continue
            }
            Mode::Prompt => self.apply_prompt(action, ev),
            Mode::Export => {
                self.edit_export(action, ev);
                Outcome::Continue
            }
            Mode::Views => {
                self.apply_views_menu(action, ev);
                Outcome::Continue
            }
            Mode::SilenceMenu => {
                match (action, ev.code) {
                    (Action::Choose, KeyCode::Char(c)) => self.choose_silence(c),
                    (Action::Cancel, _) => self.silences.menu = None,
                    _ => {}
                }
                Outcome::Continue
            }
            Mode::SilenceForm => {
                self.apply_silence_form_key(action, ev);
                Outcome::Continue
            }
            Mode::SilenceList => {
                match action {
                    Action::CloseHelp => self.silences.list = None,
                    Action::Down => self.move_listed(1),
                    Action::Up => self.move_listed(-1),
                    Action::EditEnd => self.edit_listed(true),
                    Action::EditComment => self.edit_listed(false),
                    Action::Expire => self.expire_listed(),
                    _ => {}
                }
                Outcome::Continue
            }
            Mode::Normal => self.apply_normal(action, ev),
        }
    }

    pub(in crate::ui) fn apply_prompt(&mut self, action: Action, ev: &KeyEvent) -> Outcome {
        let Some(p) = self.prompt.as_mut() else {
            return Outcome::Continue;
        };
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
            _ => {
                if edit_line(&mut p.input, &mut p.cursor, action, ev) == Some(true) {
                    p.parse();
                    self.start_preview();
                }
            }
        }
        Outcome::Continue
    }

    /// A key in the silence form: editing the focused field, moving
    /// between fields, applying or cancelling.
    pub(in crate::ui) fn apply_silence_form_key(&mut self, action: Action, ev: &KeyEvent) {
        let now = self.silences.now_ms;
        let Some(form) = self.silences.form.as_mut() else {
            return;
        };
        let n = form.fields.len();
        match action {
            Action::Apply => self.apply_silence_form(),
            Action::Cancel => self.silences.form = None,
            Action::NextField => form.focus = (form.focus + 1) % n,
            Action::PrevField => form.focus = (form.focus + n - 1) % n,
            _ => {
                let f = form.field();
                if std::mem::take(&mut f.suggested)
                    && matches!(action, Action::Insert | Action::Backspace | Action::Delete)
                {
                    // Typing over a suggestion replaces it; deleting
                    // removes it whole.
                    f.input.clear();
                    f.cursor = 0;
                    if action != Action::Insert {
                        form.check(now);
                        return;
                    }
                }
                edit_line(&mut f.input, &mut f.cursor, action, ev);
                form.check(now);
            }
        }
    }

    pub(in crate::ui) fn start_preview(&mut self) {
        self.preview_keys = None;
        self.preview = self
            .prompt
            .as_ref()
            .and_then(|p| p.filter.clone())
            .map(|filter| Index::new(self.matcher_for(filter)));
    }

    pub(in crate::ui) fn apply_normal(&mut self, action: Action, ev: &KeyEvent) -> Outcome {
        match action {
            a if a.live_only() && !self.info.live => {}
            Action::ShowRefusals => self.refusals = Some(0),
            Action::Timeline => self.request_timeline(),
            Action::ShowRollout => self.toggle_rollout(),
            Action::Silence => self.open_silence_menu(),
            Action::SilenceList => {
                self.silences.list = Some(0);
                self.silences.notice = None;
            }
            Action::ToggleSilenced => {
                self.silences.hide = !self.silences.hide;
                self.matcher_dirty = true;
            }
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
                self.forward_wide = self.forward_panel
                    && self.transitions_width < crate::ui::view::FORWARD_MIN_WIDTH;
                // One pane on screen (or zoomed): show what `F` switched
                // to, the panel or Transitions again (a review: `F` changed
                // nothing visible there).
                if self.one_pane || self.zoom {
                    self.focus = if self.forward_panel {
                        Pane::Forwarding
                    } else {
                        Pane::Transitions
                    };
                }
                self.keep_focus_visible();
            }
            // Export, copy, bell and saved views.
            Action::Export => self.open_export_prompt(),
            Action::CopyUrl => self.clip_request = Some(ClipRequest::Url),
            Action::CopyDetails => self.clip_request = Some(ClipRequest::Details),
            Action::OpenRepo => self.clip_request = Some(ClipRequest::Open),
            Action::ToggleBell => self.bell.toggle(),
            Action::ViewsMenu => self.open_views_menu(),
            _ => {}
        }
        Outcome::Continue
    }

    /// A key was pressed: the user has looked at the screen (the bell's
    /// counter and the last message start over).
    fn seen_by_user(&mut self) {
        self.bell.since_key = 0;
        self.message = None;
    }

    /// The `V` menu: a digit or Enter applies a view, Esc closes.
    pub(in crate::ui) fn apply_views_menu(&mut self, action: Action, ev: &KeyEvent) {
        match action {
            Action::PickView => {
                if let KeyCode::Char(c) = ev.code
                    && let Some(d) = c.to_digit(10)
                {
                    self.pick_view((d as usize).wrapping_sub(1));
                }
            }
            Action::Apply => {
                if let Some(m) = self.views_menu {
                    self.pick_view(m.selected);
                }
            }
            Action::Cancel => self.views_menu = None,
            _ => {}
        }
    }

    pub(in crate::ui) fn set_focus(&mut self, pane: Pane) {
        let pane = self.in_place_of(pane);
        self.focus = pane;
        if keymap::STREAMS.contains(&pane) {
            self.details_from = pane;
        }
    }

    pub(in crate::ui) fn set_step(&mut self, step: Step) {
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

    pub(in crate::ui) fn narrow_to_selection(&mut self) {
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
    pub(in crate::ui) fn page(&self, pane: Pane) -> i64 {
        self.geometry
            .iter()
            .find(|g| g.pane == pane)
            .map_or(10, |g| {
                i64::from((g.rows.height / g.row_height.max(1)).max(2)) - 1
            })
    }

    /// How many stream entries are visible (all, or up to the pause).
    pub fn upto(&self, l: &dyn SeqList) -> usize {
        match self.paused_at {
            Some(seq) => l.count_le(seq),
            None => l.len(),
        }
    }

    pub(in crate::ui) fn move_in(&mut self, pane: Pane, motion: Motion) {
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
                } else if let Some(t) = self.timeline.as_mut() {
                    // Over the panes: the wheel scrolls the selected run.
                    t.scroll = (i64::from(t.scroll) + d).clamp(0, i64::from(u16::MAX)) as u16;
                } else if self.rollout_open().is_some() {
                    // The rollout screen covers the panes: its focused list.
                    let step = if d > 0 { Action::Down } else { Action::Up };
                    for _ in 0..d.unsigned_abs() {
                        self.apply_rollout(step);
                    }
                } else if self.mode() == Mode::SilenceList {
                    self.move_listed(d.signum());
                } else if matches!(self.mode(), Mode::SilenceMenu | Mode::SilenceForm) {
                    // Over a silence overlay: nothing under it moves.
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
                    let pos = g.first + usize::from((at.y - g.rows.y) / g.row_height.max(1));
                    self.select_at(g.pane, pos);
                }
            }
            _ => {}
        }
        Outcome::Continue
    }

    pub(in crate::ui) fn select_at(&mut self, pane: Pane, pos: usize) {
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
}

#[derive(Clone, Copy, Debug)]
pub(in crate::ui) enum Motion {
    By(i64),
    Page(i64),
    Top,
    Bottom,
}
