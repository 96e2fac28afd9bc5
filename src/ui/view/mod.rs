//! Drawing a frame: layout, then the rows of the *visible windows only*
//! (read from the store in one short lock hold and copied out), then the
//! widgets. Nothing here walks the history, the keys or the group lists
//! beyond what is on screen.
//!
//! Every wire string (owner, repo, policy, details, peer, identity) goes
//! through [`sanitize`](crate::sanitize) before it reaches a widget.
//!
//! Drawing reads the state by shared reference (`&App`). What a frame
//! learns (pane geometry for the mouse, the scroll windows that keep each
//! selection visible, scrolls clamped to the content, where `refused N`
//! is) is returned as one [`FrameLayout`] and applied by
//! [`App::apply_layout`] after drawing. The one mutable thing drawing
//! touches is the Markdown render cache (`App::md_cache`, see
//! `ui/state/mod.rs`), handed in `&mut` on its own.
//!
//! One file per pane: `groups.rs` (orgs, repos, policies), `alerts.rs`,
//! `transitions.rs`, `details.rs`, `forwarding.rs`, `refusals.rs`,
//! `help.rs`, `rollout.rs` (the rollout screen, drawn alone); `status.rs`
//! (header, status bar, footer and prompt),
//! `layout.rs` (where panes go), `common.rs` (pieces panes share) and
//! `text.rs` (widths, cutting, wrapping). Pane files import `common`,
//! `text` and this module's constants; the two other uses between files
//! go one way (`details` → `forwarding::display_url`, `layout` →
//! `groups::group_name`), so there is no import loop.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::hub::Hub;
use crate::model::store::{KeyId, Transition};

use crate::ui::index::{SeqList, Transitions};
use crate::ui::keymap::Pane;
use crate::ui::state::{AlertsView, App, DetailsId, FrameLayout, MdCache, PaneGeom};
use alerts::{AlertRow, draw_alerts};
use common::{rows_area, scroll_title};
use details::{details_data, draw_details};
use forwarding::draw_forwarding;
use groups::draw_groups;
use layout::{Areas, layout, notice_lines, too_small};
use status::{draw_prompt, header_line, status_line};
use transitions::{TransRow, count_recent, draw_transitions};

mod alerts;
mod common;
mod details;
mod export;
mod forwarding;
mod groups;
pub mod help;
mod layout;
pub mod refusals;
mod rollout;
mod silences;
mod status;
mod text;
pub mod timeline;
mod transitions;
mod views;

pub use status::forward_health_text;

/// Below this size the panes are replaced by a message.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// Below this size one pane is on screen at a time: the focused one takes
/// the whole place of the panes, as `z` does, and the pane keys switch it.
/// A review found 80×24 a hard minimum, so a terminal of that size under
/// tmux's status line (80×23) showed only a message.
pub const SPLIT_WIDTH: u16 = 80;
pub const SPLIT_HEIGHT: u16 = 24;

/// The narrowest Transitions place the forwarding panel is drawn in; when
/// that place is narrower, the panel takes the Details place too.
pub const FORWARD_MIN_WIDTH: u16 = 44;

/// Symbols that tell pass and fail apart without colour.
pub const FAIL: &str = "✗";
pub const PASS: &str = "✓";

impl App {
    /// Draws the whole screen. The state changes in two places only: what
    /// the terminal size decides about which panes are on screen (before
    /// drawing, since the frame's own focus depends on it), and what the
    /// frame learned ([`FrameLayout`], applied after drawing).
    pub fn render(&mut self, frame: &mut Frame, hub: &Hub, now_ms: u64) {
        let now_ms = self.now(now_ms);
        let plan = plan(frame.area(), self);
        if let Some((_, areas)) = &plan {
            self.fit_panes(areas.forward_wide, areas.transitions_width, areas.one_pane);
        }
        let mut md_cache = std::mem::take(&mut self.md_cache);
        let layout = draw(frame, self, plan, hub, now_ms, &mut md_cache);
        self.md_cache = md_cache;
        self.apply_layout(layout);
    }
}

/// The notices and the screen areas, or `None` when the terminal is too
/// small for the panes.
fn plan(area: Rect, app: &App) -> Option<(Vec<Line<'static>>, Areas)> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let notices = notice_lines(app, area.width);
    let one_pane = area.width < SPLIT_WIDTH || area.height < SPLIT_HEIGHT;
    let areas = layout(area, app, notices.len() as u16, one_pane);
    Some((notices, areas))
}

/// Draws the whole screen from the state, read only; see the module docs.
/// `md_cache` is the Markdown render cache Details draws through.
fn draw(
    frame: &mut Frame,
    app: &App,
    plan: Option<(Vec<Line<'static>>, Areas)>,
    hub: &Hub,
    now_ms: u64,
    md_cache: &mut Vec<MdCache>,
) -> FrameLayout {
    let area = frame.area();
    let mut out = FrameLayout::of(app);
    let Some((notices, areas)) = plan else {
        too_small(frame, &app.theme, area);
        return out;
    };
    if let Some(tl) = &app.timeline {
        // The timeline covers the panes: they are not drawn (nor read from
        // the store) under it, so its frames cost no more than theirs.
        let over = Rect {
            height: areas.status.y.saturating_sub(area.y),
            ..area
        };
        let t = &app.theme;
        out.timeline_scroll = Some(timeline::draw(frame, t, over, tl, now_ms));
        let status = status_line(app, t, areas.status.width, now_ms);
        frame.render_widget(Paragraph::new(status), areas.status);
        export::footer(frame, app, t, areas.footer);
        if let Some(scroll) = app.help {
            let max = help::draw(frame, t, area, scroll, app.info.live);
            out.help = Some(scroll.min(max));
        }
        return out;
    }
    if let Some(r) = app.rollout_open() {
        // It covers the whole screen: the panes under it are not drawn.
        out.geometry.clear();
        rollout::draw(frame, r, &app.theme, area, hub, now_ms);
        return out;
    }
    let pane_area = |p: Pane| {
        areas
            .panes
            .iter()
            .find(|(q, _)| *q == p)
            .map(|x| x.1)
            .unwrap_or_default()
    };

    // 1. The windows, from UI state only.
    let group_rows = |out: &mut FrameLayout, pane: Pane| -> (usize, usize) {
        let h = rows_area(pane_area(pane), 0).height as usize;
        let (sel, len) = match pane {
            Pane::Orgs => (&mut out.sel_orgs, app.lists.orgs.len()),
            Pane::Repos => (&mut out.sel_repos, app.lists.repos.len()),
            _ => (&mut out.sel_policies, app.lists.policies.len()),
        };
        let off = sel.window(len, h);
        (off, sel.pos)
    };
    let orgs_w = group_rows(&mut out, Pane::Orgs);
    let repos_w = group_rows(&mut out, Pane::Repos);
    let policies_w = group_rows(&mut out, Pane::Policies);

    let alerts_rows = rows_area(pane_area(Pane::Alerts), 1);
    // At least one row even when another pane is zoomed: the selection
    // still feeds Details.
    let ah = (alerts_rows.height as usize).max(1);
    let mut alerts_first = 0;
    let mut alerts_sel = None;
    let mut event_seqs: Vec<u64> = Vec::new();
    let mut latest_keys: Vec<KeyId> = Vec::new();
    let mut alerts_details: Option<DetailsId> = None;
    match app.view {
        AlertsView::Events => {
            let upto = app.upto(&app.index);
            if let Some((top, sel)) = out.sel_events.window(&app.index, upto, ah) {
                alerts_first = top;
                alerts_sel = Some(sel - top);
                let end = (top + ah).min(upto);
                event_seqs = (top..end).map(|p| app.index.seq_at(upto - 1 - p)).collect();
                alerts_details = Some(DetailsId::Event(app.index.seq_at(upto - 1 - sel)));
            }
        }
        AlertsView::Latest => {
            let len = app.lists.latest.len();
            let off = out.sel_latest.window(len, ah);
            alerts_first = off;
            if len > 0 {
                alerts_sel = Some(out.sel_latest.pos - off);
                latest_keys = app.lists.latest[off..(off + ah).min(len)].to_vec();
                alerts_details = Some(DetailsId::Key(app.lists.latest[out.sel_latest.pos]));
            }
        }
    }

    let trans_rows_area = rows_area(pane_area(Pane::Transitions), 0);
    // A narrow pane shows each transition on two lines: its names, then
    // its policy (one line cut both to `os…/pac… · OpenS…` at 80×24).
    let trans_two_lines = transitions::two_lines(pane_area(Pane::Transitions));
    let trans_row_h: u16 = if trans_two_lines { 2 } else { 1 };
    let th = ((trans_rows_area.height / trans_row_h) as usize).max(1);
    let mut trans_first = 0;
    let mut trans_sel = None;
    let mut trans_items: Vec<Transition> = Vec::new();
    let mut trans_details: Option<(DetailsId, KeyId)> = None;
    let trans_len;
    {
        let list = app.index.transitions();
        let t = Transitions(list);
        let upto = app.upto(&t);
        trans_len = upto;
        if let Some((top, sel)) = out.sel_transitions.window(&t, upto, th) {
            trans_first = top;
            trans_sel = Some(sel - top);
            let end = (top + th).min(upto);
            trans_items = (top..end).map(|p| list[upto - 1 - p]).collect();
            let s = list[upto - 1 - sel];
            trans_details = Some((DetailsId::Event(s.seq), s.key));
        }
    }
    let recent = count_recent(&app.index, now_ms);

    let (details_id, key_hint) = match app.details_from {
        Pane::Transitions if trans_details.is_some() => {
            let (id, k) = trans_details.expect("checked");
            (Some(id), Some(k))
        }
        _ => (alerts_details, None),
    };
    if details_id != app.details_id {
        out.details_id = details_id;
        out.details_scroll = 0;
    }

    // 2. The rows of those windows, in one short hold of the lock.
    let (events, latest, trans, details) = hub.read(|s| {
        let events: Vec<AlertRow> = event_seqs
            .iter()
            .filter_map(|&seq| s.event(seq))
            .map(|e| {
                let (org, repo, policy) = s.key_names(e.key);
                AlertRow {
                    at_ms: e.at_ms,
                    pass: e.pass,
                    change: e.change,
                    org: org.clone(),
                    repo: repo.clone(),
                    policy: policy.clone(),
                    details: e.details.clone(),
                    count: 0,
                    last_change_ms: 0,
                    silenced: app
                        .silences
                        .silencing((org, repo, policy), &e.details, e.pass)
                        .is_some(),
                }
            })
            .collect();
        let latest: Vec<AlertRow> = latest_keys
            .iter()
            .filter(|&&k| (k as usize) < s.key_count())
            .map(|&k| AlertRow {
                silenced: app.silences.key_silenced(k),
                ..AlertRow::from_key(s, k)
            })
            .collect();
        let trans: Vec<TransRow> = trans_items
            .iter()
            .filter(|t| (t.key as usize) < s.key_count())
            .map(|t| {
                let (o, r, p) = s.key_names(t.key);
                (*t, o.clone(), r.clone(), p.clone())
            })
            .collect();
        let details = details_id.and_then(|id| details_data(s, id, key_hint));
        (events, latest, trans, details)
    });

    out.selected_names = details.as_ref().map(|d| d.names.clone());

    // 3. Widgets.
    let theme = app.theme.clone();
    let t = &theme;
    if !notices.is_empty() {
        frame.render_widget(Paragraph::new(notices), areas.notices);
    }
    frame.render_widget(Paragraph::new(header_line(app, t)), areas.header);

    for (pane, window) in [
        (Pane::Orgs, orgs_w),
        (Pane::Repos, repos_w),
        (Pane::Policies, policies_w),
    ] {
        let geom = draw_groups(frame, app, t, pane, pane_area(pane), window);
        out.geometry.push(geom);
    }

    let alerts_area = pane_area(Pane::Alerts);
    let alerts = match app.view {
        AlertsView::Events => &events,
        AlertsView::Latest => &latest,
    };
    let alerts_len = match app.view {
        AlertsView::Events => app.upto(&app.index),
        AlertsView::Latest => app.lists.latest.len(),
    };
    let alerts_scroll = scroll_title(alerts_first, ah, alerts_len, t);
    draw_alerts(
        frame,
        app,
        t,
        alerts_area,
        alerts,
        alerts_sel,
        alerts_scroll,
        now_ms,
    );
    out.geometry.push(PaneGeom {
        pane: Pane::Alerts,
        area: alerts_area,
        rows: alerts_rows,
        first: alerts_first,
        row_height: 1,
    });

    if app.forward_panel {
        let fwd_area = pane_area(Pane::Forwarding);
        draw_forwarding(frame, app, &mut out, t, fwd_area);
        out.geometry.push(PaneGeom {
            pane: Pane::Forwarding,
            area: fwd_area,
            rows: rows_area(fwd_area, 0),
            first: out.forward_scroll,
            row_height: 1,
        });
    } else {
        let trans_area = pane_area(Pane::Transitions);
        let trans_scroll = scroll_title(trans_first, th, trans_len, t);
        draw_transitions(
            frame,
            app,
            t,
            trans_area,
            &trans,
            (trans_sel, trans_scroll),
            &recent,
            now_ms,
        );
        out.geometry.push(PaneGeom {
            pane: Pane::Transitions,
            area: trans_area,
            rows: trans_rows_area,
            first: trans_first,
            row_height: trans_row_h,
        });
    }

    let details_area = pane_area(Pane::Details);
    if app.shown(Pane::Details) && !details_area.is_empty() {
        draw_details(
            frame,
            app,
            (&mut out, md_cache),
            t,
            details_area,
            details.as_ref(),
            now_ms,
        );
        out.geometry.push(PaneGeom {
            pane: Pane::Details,
            area: details_area,
            rows: rows_area(details_area, 0),
            first: out.details_scroll as usize,
            row_height: 1,
        });
    }

    let status = status_line(app, t, areas.status.width, now_ms);
    // Where `refused N` is, for a click to open the refusals view.
    out.refused_at = None;
    let mut x = 0;
    for span in &status.spans {
        let w = span.width() as u16;
        if span.content.starts_with("refused ") {
            out.refused_at = Some(Rect {
                x: areas.status.x + x,
                width: w.min(areas.status.width.saturating_sub(x)),
                ..areas.status
            });
        }
        x = x.saturating_add(w);
    }
    frame.render_widget(Paragraph::new(status), areas.status);
    match &app.prompt {
        Some(_) => draw_prompt(frame, app, t, areas.footer),
        None if app.export_prompt.is_some() => {
            export::draw_export_prompt(frame, app, t, areas.footer)
        }
        None => export::footer(frame, app, t, areas.footer),
    }
    views::draw_views_menu(frame, app, t, area);
    if let Some(scroll) = app.refusals {
        let remote = app.info.remote.is_some();
        let max = refusals::draw(frame, t, area, hub, now_ms, scroll, remote);
        out.refusals = Some(scroll.min(max));
    }
    silences::draw(frame, app, t, area, now_ms);
    if let Some(scroll) = app.help {
        let max = help::draw(frame, t, area, scroll, app.info.live);
        out.help = Some(scroll.min(max));
    }
    out
}
