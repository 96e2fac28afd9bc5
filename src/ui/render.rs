//! Drawing a frame: layout, then the rows of the *visible windows only*
//! (read from the store in one short lock hold and copied out), then the
//! widgets. Nothing here walks the history, the keys or the group lists
//! beyond what is on screen.
//!
//! Every wire string (owner, repo, policy, details, peer, identity) goes
//! through [`sanitize`] before it reaches a widget.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::forward::upstream::DEFAULT_OUTCOMES;
use crate::forward::{ForwardHealth, Outcome, Role, UpstreamSnapshot, UpstreamState};
use crate::hub::Hub;
use crate::model::store::{KeyId, KeyState, Peer, Transition};
use crate::model::{Change, Store};
use crate::sanitize;

use super::app::{AlertsView, App, DetailsId, FLASH_MS, MdCache, PaneGeom, RECENT_MS};
use super::fmt::{self, ago, clock, date_time, plural, rate, thousands};
use super::index::{SeqList, Step, Transitions};
use super::keymap::{self, Mode, Pane};
use super::lists::GroupRow;
use super::theme::Theme;
use super::{help, markdown};

/// Below this size the panes are replaced by a message.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// The narrowest Transitions place the forwarding panel is drawn in; when
/// that place is narrower, the panel takes the Details place too.
pub const FORWARD_MIN_WIDTH: u16 = 44;

/// Symbols that tell pass and fail apart without colour.
pub const FAIL: &str = "✗";
pub const PASS: &str = "✓";

impl App {
    /// Draws the whole screen.
    pub fn render(&mut self, frame: &mut Frame, hub: &Hub, now_ms: u64) {
        let now_ms = self.now(now_ms);
        draw(frame, self, hub, now_ms);
    }
}

/// One alert row of a visible window, copied out of the store.
struct AlertRow {
    at_ms: u64,
    pass: bool,
    change: Change,
    org: Arc<str>,
    repo: Arc<str>,
    policy: Arc<str>,
    details: Arc<str>,
    /// For the latest view: the key's state.
    count: u64,
    last_change_ms: u64,
}

impl AlertRow {
    fn from_key(s: &Store, key: KeyId) -> AlertRow {
        let k = s.key(key);
        let (org, repo, policy) = s.key_names(key);
        AlertRow {
            at_ms: k.last_seen_ms,
            pass: k.pass,
            change: k.change,
            org: org.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            details: k.details.clone(),
            count: k.count,
            last_change_ms: k.last_change_ms,
        }
    }
}

/// A transition of a visible window with its names.
type TransRow = (Transition, Arc<str>, Arc<str>, Arc<str>);

/// The alert shown in Details.
struct DetailsData {
    /// The event itself, or `None` when it left the history ring (then the
    /// key's latest alert is shown) or in the latest view.
    seq: Option<u64>,
    evicted: bool,
    at_ms: u64,
    pass: bool,
    change: Change,
    details: Arc<str>,
    peer: Option<Arc<Peer>>,
    names: (Arc<str>, Arc<str>, Arc<str>),
    key: KeyState,
    /// For a fixed alert: the key's alert just before it (failing), as
    /// `(seq, at_ms, details)`, when still in the history ring.
    failing_before: Option<(u64, u64, Arc<str>)>,
}

/// How far back Details looks for the alert a fix replaced: bounded so a
/// frame never walks a whole large history under the lock.
const FAILING_BEFORE_SCAN: usize = 50_000;

/// The key's alert before `seq` in the history ring (within the scan bound).
fn alert_before(s: &Store, key: KeyId, seq: u64) -> Option<(u64, u64, Arc<str>)> {
    let h = s.history();
    let first = h.front()?.seq;
    let idx = usize::try_from(seq.checked_sub(first)?).ok()?.min(h.len());
    h.range(..idx)
        .rev()
        .take(FAILING_BEFORE_SCAN)
        .find(|e| e.key == key)
        .map(|e| (e.seq, e.at_ms, e.details.clone()))
}

fn details_data(s: &Store, id: DetailsId, key_hint: Option<KeyId>) -> Option<DetailsData> {
    let event = match id {
        DetailsId::Event(seq) => s.event(seq),
        DetailsId::Key(_) => None,
    };
    let key = match (event, id) {
        (Some(e), _) => e.key,
        (None, DetailsId::Key(k)) => k,
        (None, DetailsId::Event(_)) => key_hint?,
    };
    if key as usize >= s.key_count() {
        return None;
    }
    let k = s.key(key).clone();
    let (o, r, p) = s.key_names(key);
    let names = (o.clone(), r.clone(), p.clone());
    Some(match event {
        Some(e) => DetailsData {
            seq: Some(e.seq),
            evicted: false,
            at_ms: e.at_ms,
            pass: e.pass,
            change: e.change,
            details: e.details.clone(),
            peer: e.peer.clone(),
            names,
            key: k,
            failing_before: if e.change == Change::Fixed {
                alert_before(s, key, e.seq)
            } else {
                None
            },
        },
        None => DetailsData {
            seq: None,
            evicted: matches!(id, DetailsId::Event(_)),
            at_ms: k.last_seen_ms,
            pass: k.pass,
            change: k.change,
            details: k.details.clone(),
            failing_before: if k.change == Change::Fixed {
                alert_before(s, key, k.last_seq)
            } else {
                None
            },
            peer: k.peer.clone(),
            names,
            key: k,
        },
    })
}

/// Screen areas.
struct Areas {
    notices: Rect,
    header: Rect,
    panes: [(Pane, Rect); 6],
    status: Rect,
    footer: Rect,
    /// The forwarding panel takes the Details place too.
    forward_wide: bool,
    /// Width of the Transitions place (shown or not).
    transitions_width: u16,
}

fn layout(area: Rect, app: &App, notices: u16) -> Areas {
    // The prompt: the input, and under it the live count or the error
    // (one line either way; see `draw_prompt`).
    let footer_h = if app.prompt.is_some() { 2 } else { 1 };
    let [notices_a, header, main, status, footer] = Layout::vertical([
        Constraint::Length(notices),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(footer_h),
    ])
    .areas(area);
    let left_w = left_width(app, area.width);
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]).areas(main);
    let policies_h = (app.lists.policies.len() as u16 + 2).clamp(5, (left.height / 3).max(5));
    let [orgs, repos, policies] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(policies_h),
    ])
    .areas(left);
    let [alerts, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(right);
    let [details, transitions] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(bottom);
    // The forwarding panel takes the place of Transitions, and of Details
    // too when that place alone is too narrow for it.
    let forward_wide = app.forward_panel && transitions.width < FORWARD_MIN_WIDTH;
    let (details, last) = if forward_wide {
        (Rect::default(), bottom)
    } else {
        (details, transitions)
    };
    let last_pane = if app.forward_panel {
        Pane::Forwarding
    } else {
        Pane::Transitions
    };
    let mut panes = [
        (Pane::Orgs, orgs),
        (Pane::Repos, repos),
        (Pane::Policies, policies),
        (Pane::Alerts, alerts),
        (Pane::Details, details),
        (last_pane, last),
    ];
    // `z`: the focused pane alone takes the whole place of the panes.
    if app.zoom {
        for (pane, rect) in &mut panes {
            *rect = if *pane == app.focus {
                main
            } else {
                Rect::default()
            };
        }
    }
    Areas {
        notices: notices_a,
        header,
        panes,
        status,
        footer,
        forward_wide,
        transitions_width: transitions.width,
    }
}

/// The display name of a group row: for repos `org/repo` unless the view
/// is narrowed to one org (then the org would repeat on every row).
fn group_name(app: &App, pane: Pane, id: u32, show_org: bool) -> (String, Option<String>) {
    match pane {
        Pane::Orgs => (sanitize::line(app.lists.org_name(id)).into_owned(), None),
        Pane::Repos if show_org => (
            sanitize::line(app.lists.org_name(app.lists.repo_org(id).unwrap_or(0))).into_owned(),
            Some(sanitize::line(app.lists.repo_name(id)).into_owned()),
        ),
        Pane::Repos => (sanitize::line(app.lists.repo_name(id)).into_owned(), None),
        _ => (sanitize::line(app.lists.policy_name(id)).into_owned(), None),
    }
}

/// Rows looked at to size the left column: enough for any screen, and a
/// bound on the work per frame however many repos there are.
const LEFT_SAMPLE: usize = 200;

/// The left column's width: what its names and counts need (borders, the
/// mark and symbol, a gap), within [24, 28% of the screen] so that the
/// Alerts pane keeps most of a narrow terminal.
fn left_width(app: &App, width: u16) -> u16 {
    let show_org = app.narrowing().org.is_none();
    let mut need = 0;
    for (pane, rows) in [
        (Pane::Orgs, &app.lists.orgs),
        (Pane::Repos, &app.lists.repos),
        (Pane::Policies, &app.lists.policies),
    ] {
        for r in rows.iter().take(LEFT_SAMPLE) {
            let (a, b) = group_name(app, pane, r.id, show_org);
            let name = fmt::width(&a) + b.map_or(0, |b| 1 + fmt::width(&b));
            let count =
                thousands(r.tally.failing.into()).len() + 1 + thousands(r.tally.total.into()).len();
            need = need.max(name + count);
        }
    }
    // Borders 2, mark 1, symbol and space 2, gap before the count 1.
    let need = (need + 6) as u16;
    let max = (width * 28 / 100).max(24);
    need.clamp(24, max)
}

/// A list's position in its block's bottom border when it does not fit:
/// `↑ 21–40 of 42 ↓`, the arrows saying on which side there is more.
fn scroll_title(first: usize, shown: usize, len: usize, t: &Theme) -> Option<Line<'static>> {
    if len <= shown || shown == 0 {
        return None;
    }
    let last = (first + shown).min(len);
    let up = if first > 0 { "↑ " } else { "" };
    let down = if last < len { " ↓" } else { "" };
    Some(
        Line::styled(
            format!(
                " {up}{}–{} of {}{down} ",
                thousands(first as u64 + 1),
                thousands(last as u64),
                thousands(len as u64)
            ),
            t.dim,
        )
        .right_aligned(),
    )
}

/// Inside the borders, minus `header` rows.
fn rows_area(area: Rect, header: u16) -> Rect {
    let inner = Block::bordered().inner(area);
    Rect {
        y: inner.y + header.min(inner.height),
        height: inner.height.saturating_sub(header),
        ..inner
    }
}

/// Draws the whole screen; see the module docs.
pub fn draw(frame: &mut Frame, app: &mut App, hub: &Hub, now_ms: u64) {
    let area = frame.area();
    app.geometry.clear();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, &app.theme, area);
        return;
    }
    let notices = notice_lines(app);
    let areas = layout(area, app, notices.len() as u16);
    app.forward_wide = areas.forward_wide;
    app.transitions_width = areas.transitions_width;
    app.keep_focus_visible();
    let pane_area = |p: Pane| {
        areas
            .panes
            .iter()
            .find(|(q, _)| *q == p)
            .map(|x| x.1)
            .unwrap_or_default()
    };

    // 1. The windows, from UI state only.
    let group_rows = |app: &mut App, pane: Pane| -> (usize, usize) {
        let h = rows_area(pane_area(pane), 0).height as usize;
        let (sel, len) = match pane {
            Pane::Orgs => (&mut app.sel_orgs, app.lists.orgs.len()),
            Pane::Repos => (&mut app.sel_repos, app.lists.repos.len()),
            _ => (&mut app.sel_policies, app.lists.policies.len()),
        };
        let off = sel.window(len, h);
        (off, sel.pos)
    };
    let orgs_w = group_rows(app, Pane::Orgs);
    let repos_w = group_rows(app, Pane::Repos);
    let policies_w = group_rows(app, Pane::Policies);

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
            if let Some((top, sel)) = app.sel_events.window(&app.index, upto, ah) {
                alerts_first = top;
                alerts_sel = Some(sel - top);
                let end = (top + ah).min(upto);
                event_seqs = (top..end).map(|p| app.index.seq_at(upto - 1 - p)).collect();
                alerts_details = Some(DetailsId::Event(app.index.seq_at(upto - 1 - sel)));
            }
        }
        AlertsView::Latest => {
            let len = app.lists.latest.len();
            let off = app.sel_latest.window(len, ah);
            alerts_first = off;
            if len > 0 {
                alerts_sel = Some(app.sel_latest.pos - off);
                latest_keys = app.lists.latest[off..(off + ah).min(len)].to_vec();
                alerts_details = Some(DetailsId::Key(app.lists.latest[app.sel_latest.pos]));
            }
        }
    }

    let trans_rows_area = rows_area(pane_area(Pane::Transitions), 0);
    let th = (trans_rows_area.height as usize).max(1);
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
        if let Some((top, sel)) = app.sel_transitions.window(&t, upto, th) {
            trans_first = top;
            trans_sel = Some(sel - top);
            let end = (top + th).min(upto);
            trans_items = (top..end).map(|p| list[upto - 1 - p]).collect();
            let s = list[upto - 1 - sel];
            trans_details = Some((DetailsId::Event(s.seq), s.key));
        }
    }
    let recent = count_recent(app.index.transitions(), now_ms);

    let (details_id, key_hint) = match app.details_from {
        Pane::Transitions if trans_details.is_some() => {
            let (id, k) = trans_details.expect("checked");
            (Some(id), Some(k))
        }
        _ => (alerts_details, None),
    };
    if details_id != app.details_id {
        app.details_id = details_id;
        app.details_scroll = 0;
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
                }
            })
            .collect();
        let latest: Vec<AlertRow> = latest_keys
            .iter()
            .filter(|&&k| (k as usize) < s.key_count())
            .map(|&k| AlertRow::from_key(s, k))
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

    // 3. Widgets.
    let theme = app.theme.clone();
    let t = &theme;
    if !notices.is_empty() {
        frame.render_widget(Paragraph::new(notices), areas.notices);
    }
    frame.render_widget(Paragraph::new(header_line(app, t)), areas.header);

    draw_groups(frame, app, t, Pane::Orgs, pane_area(Pane::Orgs), orgs_w);
    draw_groups(frame, app, t, Pane::Repos, pane_area(Pane::Repos), repos_w);
    draw_groups(
        frame,
        app,
        t,
        Pane::Policies,
        pane_area(Pane::Policies),
        policies_w,
    );

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
    app.geometry.push(PaneGeom {
        pane: Pane::Alerts,
        area: alerts_area,
        rows: alerts_rows,
        first: alerts_first,
    });

    if app.forward_panel {
        let fwd_area = pane_area(Pane::Forwarding);
        draw_forwarding(frame, app, t, fwd_area);
        app.geometry.push(PaneGeom {
            pane: Pane::Forwarding,
            area: fwd_area,
            rows: rows_area(fwd_area, 0),
            first: app.forward_scroll,
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
            recent,
            now_ms,
        );
        app.geometry.push(PaneGeom {
            pane: Pane::Transitions,
            area: trans_area,
            rows: trans_rows_area,
            first: trans_first,
        });
    }

    let details_area = pane_area(Pane::Details);
    if app.shown(Pane::Details) && !details_area.is_empty() {
        draw_details(frame, app, t, details_area, details.as_ref(), now_ms);
        app.geometry.push(PaneGeom {
            pane: Pane::Details,
            area: details_area,
            rows: rows_area(details_area, 0),
            first: app.details_scroll as usize,
        });
    }

    let status = status_line(app, t, areas.status.width);
    // Where `refused N` is, for a click to open the refusals view.
    app.refused_at = None;
    let mut x = 0;
    for span in &status.spans {
        let w = span.width() as u16;
        if span.content.starts_with("refused ") {
            app.refused_at = Some(Rect {
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
        None => frame.render_widget(
            Paragraph::new(hint_line(
                app.mode(),
                app.focus,
                app.info.live,
                t,
                areas.footer.width,
            )),
            areas.footer,
        ),
    }
    if let Some(scroll) = app.refusals {
        let max = super::refusals::draw(frame, t, area, hub, now_ms, scroll);
        app.refusals = Some(scroll.min(max));
    }
    if let Some(scroll) = app.help {
        let max = help::draw(frame, t, area, scroll);
        app.help = Some(scroll.min(max));
    }
}

fn count_recent(list: &std::collections::VecDeque<Transition>, now_ms: u64) -> (u64, u64) {
    let since = now_ms.saturating_sub(RECENT_MS);
    let (mut regressed, mut fixed) = (0, 0);
    for t in list.iter().rev().take_while(|t| t.at_ms >= since) {
        match t.change {
            Change::Regressed => regressed += 1,
            Change::Fixed => fixed += 1,
            _ => {}
        }
    }
    (regressed, fixed)
}

fn too_small(frame: &mut Frame, theme: &Theme, area: Rect) {
    let lines = vec![
        Line::styled("Terminal too small", theme.fail),
        Line::styled(
            format!(
                "{}×{} — sinkwatch needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            ),
            theme.text,
        ),
        Line::styled("Enlarge the window, or press q to quit.", theme.dim),
    ];
    let h = (lines.len() as u16).min(area.height);
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(h),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(lines).centered().wrap(Wrap { trim: true }),
        mid,
    );
}

fn notice_lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = Vec::new();
    if let Some(b) = &app.info.banner {
        out.push(Line::styled(format!(" ⚠ {}", sanitize::line(b)), t.banner).patch_style(t.banner));
    }
    for n in app.info.notices.iter().take(2) {
        out.push(Line::styled(
            format!(" ⚠ {}", sanitize::line(n)),
            t.status_warn,
        ));
    }
    out
}

fn pane_block<'a>(app: &App, t: &Theme, pane: Pane, extra: Vec<Span<'a>>) -> Block<'a> {
    let focused = app.focus == pane;
    let mut title = vec![Span::styled(
        format!(" {} ", pane.name()),
        if focused { t.title_focused } else { t.title },
    )];
    title.extend(extra);
    if title.len() > 1 {
        title.push(Span::raw(" "));
    }
    Block::bordered()
        .border_style(if focused { t.border_focused } else { t.border })
        .title(Line::from(title))
}

fn header_line(app: &App, t: &Theme) -> Line<'static> {
    let mut spans = vec![
        Span::styled(" sinkwatch ", t.title_focused),
        Span::styled(" ", t.dim),
    ];
    spans.push(Span::styled(
        "all",
        if app.steps.is_empty() { t.text } else { t.dim },
    ));
    for step in &app.steps {
        spans.push(Span::styled(" › ", t.dim));
        let (kind, name) = match *step {
            Step::Org(o) => ("org ", sanitize::line(app.lists.org_name(o)).into_owned()),
            Step::Repo { repo, org } => (
                "repo ",
                format!(
                    "{}/{}",
                    sanitize::line(app.lists.org_name(org)),
                    sanitize::line(app.lists.repo_name(repo))
                ),
            ),
            Step::Policy(p) => (
                "policy ",
                sanitize::line(app.lists.policy_name(p)).into_owned(),
            ),
        };
        spans.push(Span::styled(kind, t.dim));
        spans.push(Span::styled(name, t.text.add_modifier(Modifier::BOLD)));
    }
    if !app.steps.is_empty() {
        spans.push(Span::styled("  (Esc widens)", t.dim));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled("   filter ", t.dim));
        spans.push(Span::styled(
            sanitize::line(app.filter.source()).into_owned(),
            t.filter_prompt,
        ));
    }
    if app.failing_only {
        spans.push(Span::styled("   ", t.dim));
        spans.push(Span::styled(format!("{FAIL} failing only"), t.fail));
    }
    Line::from(spans)
}

/// What the status bar shortens or leaves out when it does not fit, in
/// this order.
#[derive(Clone, Copy, Debug, Default)]
struct Squeeze {
    /// No `refused 0`.
    no_zero_refused: bool,
    /// Forwarding health with only what needs attention.
    short_forward: bool,
    /// No `/ N keys`.
    no_keys: bool,
    /// No alert rate.
    no_rate: bool,
    /// `● 127.0.0.1:50051` rather than `● listen 127.0.0.1:50051`.
    no_listen_word: bool,
}

impl Squeeze {
    /// From nothing left out to everything.
    const STEPS: [Squeeze; 6] = {
        let none = Squeeze {
            no_zero_refused: false,
            short_forward: false,
            no_keys: false,
            no_rate: false,
            no_listen_word: false,
        };
        let a = Squeeze {
            no_zero_refused: true,
            ..none
        };
        let b = Squeeze {
            short_forward: true,
            ..a
        };
        let c = Squeeze { no_keys: true, ..b };
        let d = Squeeze { no_rate: true, ..c };
        let e = Squeeze {
            no_listen_word: true,
            ..d
        };
        [none, a, b, c, d, e]
    };
}

/// The status bar, squeezed (see [`Squeeze`]) until it fits `width`.
fn status_line(app: &App, t: &Theme, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    for sq in Squeeze::STEPS {
        spans = status_spans(app, t, sq);
        if spans.iter().map(Span::width).sum::<usize>() <= width as usize {
            break;
        }
    }
    spans.push(Span::styled(" ".repeat(200), t.status_bar));
    Line::from(spans)
}

/// Forwarding health for the status bar, e.g. `fwd 1/2 up, 1 down ·
/// queued 52 · in flight 4 · dropped 0 · failed 3` (the panel's numbers);
/// `short` keeps only what needs attention: `fwd 1/2 up, 1 down · failed 3`;
/// both add `· holding N senders` while backpressure holds answers.
pub fn forward_health_text(h: &ForwardHealth, short: bool) -> String {
    let mut s = format!("fwd {}/{} up", h.up, h.upstreams);
    if h.down > 0 {
        s.push_str(&format!(", {} down", h.down));
    }
    if h.connecting > 0 && !short {
        s.push_str(&format!(", {} connecting", h.connecting));
    }
    if !short {
        // As the panel says it: waiting in the queue, and being sent.
        s.push_str(&format!(" · queued {}", thousands(h.queued)));
        if h.in_flight > 0 {
            s.push_str(&format!(" · in flight {}", thousands(h.in_flight)));
        }
    }
    for (label, n) in [("dropped", h.dropped), ("failed", h.failed)] {
        if n > 0 || !short {
            s.push_str(&format!(" · {label} {}", thousands(n)));
        }
    }
    if h.holding > 0 {
        // The tee is slowing the senders down right now: always worth a look.
        s.push_str(&format!(" · holding {} senders", thousands(h.holding)));
    }
    s
}

/// The durable state for the status bar, and whether it needs attention:
/// `state ✓ restored 1,234 keys as of 2026-11-30 09:20Z`, or the cause when
/// it is not durable, or how many alerts it lost. `short` keeps `state ✓`.
pub fn state_text(s: &crate::state::StateStats, short: bool) -> (String, bool) {
    if let Some(e) = s.last_error() {
        return (sanitize::line(&e).into_owned(), true);
    }
    if s.lost() > 0 {
        return (format!("state: {} lost", thousands(s.lost())), true);
    }
    let r = &s.restored;
    match r.last_ms {
        Some(t) if !short && r.keys > 0 => {
            let at = crate::record::format_time(t);
            // 2026-11-30T09:20:00.000Z → 2026-11-30 09:20Z
            let at = format!(
                "{} {}Z",
                &at[..10.min(at.len())],
                at.get(11..16).unwrap_or("")
            );
            (
                format!(
                    "state ✓ restored {} as of {at}",
                    plural(r.keys, "key", "keys")
                ),
                false,
            )
        }
        _ => ("state ✓".to_owned(), false),
    }
}

/// True when forwarding needs attention: an upstream down, or alerts
/// dropped or failed.
pub fn forward_unhealthy(h: &ForwardHealth) -> bool {
    h.down > 0 || h.dropped > 0 || h.failed > 0
}

fn status_spans(app: &App, t: &Theme, sq: Squeeze) -> Vec<Span<'static>> {
    let st = &app.stats;
    let base = t.status_bar;
    let warn = t.status_warn;
    let sep = || Span::styled(" │ ", base);
    let mut spans = Vec::new();
    if let Some(remote) = &app.info.remote {
        // Attached: each source's connection state instead of an address.
        let line = (remote.0)();
        let style = if line.contains("down:") { warn } else { base };
        spans.push(Span::styled(format!(" ⇄ {}", sanitize::line(&line)), style));
    } else if app.info.live {
        let listen = if sq.no_listen_word { "" } else { "listen " };
        spans.push(Span::styled(
            format!(" ● {listen}{}", sanitize::line(&app.info.label)),
            base,
        ));
    } else {
        spans.push(Span::styled(
            format!(" recording {}", sanitize::line(&app.info.label)),
            base,
        ));
    }
    spans.push(sep());
    spans.push(Span::styled(plural(st.accepted, "alert", "alerts"), base));
    if let Some(r) = app.rate().filter(|_| !sq.no_rate) {
        spans.push(Span::styled(format!(" · {}", rate(r)), base));
    }
    spans.push(sep());
    let failing_style = if st.failing > 0 {
        base.patch(t.count_fail)
    } else {
        base.patch(t.count_ok)
    };
    spans.push(Span::styled(
        format!("{FAIL} {} failing", thousands(u64::from(st.failing))),
        failing_style,
    ));
    if !sq.no_keys {
        spans.push(Span::styled(
            format!(" / {}", plural(st.keys as u64, "key", "keys")),
            base,
        ));
    }
    // A recording has no refusals to count: `open` does not listen.
    if app.info.live && (st.refused > 0 || !sq.no_zero_refused) {
        spans.push(sep());
        // The main reason too, when there is room: a sink refusing every
        // call tells why at a glance (e.g. `wrong_audience`).
        let text = match st.refused_top {
            Some((why, n)) if !sq.no_keys => {
                format!(
                    "refused {} (most {why}: {})",
                    thousands(st.refused),
                    thousands(n)
                )
            }
            _ => format!("refused {}", thousands(st.refused)),
        };
        spans.push(Span::styled(text, if st.refused > 0 { warn } else { base }));
    }
    if st.evicted > 0 {
        spans.push(sep());
        spans.push(Span::styled(
            format!("evicted {}", thousands(st.evicted)),
            base,
        ));
    }
    if let Some(h) = &st.forward {
        spans.push(sep());
        spans.push(Span::styled(
            forward_health_text(h, sq.short_forward),
            if forward_unhealthy(h) { warn } else { base },
        ));
    }
    if let Some((name, _)) = &app.info.recorder {
        if let Some(e) = &st.recorder_error {
            spans.push(sep());
            spans.push(Span::styled(
                format!("record {}: {}", sanitize::line(name), sanitize::line(e)),
                warn,
            ));
        } else if st.recorder_lost > 0 {
            spans.push(sep());
            spans.push(Span::styled(
                format!(
                    "record {}: {} lost",
                    sanitize::line(name),
                    thousands(st.recorder_lost)
                ),
                warn,
            ));
        }
    }
    if let Some(s) = &app.info.state {
        spans.push(sep());
        let (text, bad) = state_text(s, sq.short_forward);
        spans.push(Span::styled(text, if bad { warn } else { base }));
    }
    if let Some(n) = app.new_since_pause() {
        spans.push(sep());
        spans.push(Span::styled(
            format!("⏸ PAUSED +{} new", thousands(n as u64)),
            warn,
        ));
    }
    spans
}

fn hint_line(mode: Mode, focus: Pane, live: bool, t: &Theme, width: u16) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (key, hint) in keymap::hints_for(mode, focus, live) {
        let w = Span::raw(key.as_str()).width() + 1 + hint.len() + 2;
        if used + w > width as usize {
            break;
        }
        used += w;
        spans.push(Span::styled(key, t.footer_key));
        spans.push(Span::styled(format!(" {hint}  "), t.footer_text));
    }
    Line::from(spans)
}

const PROMPT_LABEL: &str = " filter / ";

fn draw_prompt(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(p) = &app.prompt else { return };
    let label = PROMPT_LABEL;
    let mut spans = vec![Span::styled(label, t.filter_prompt)];
    let chars: Vec<char> = p.input.chars().collect();
    let clean = |cs: &[char]| sanitize::line(&cs.iter().collect::<String>()).into_owned();
    match &p.error {
        Some(e) => {
            let at = e.position.min(chars.len());
            let end = chars[at..]
                .iter()
                .position(|c| c.is_whitespace())
                .map_or(chars.len(), |n| at + n.max(1));
            spans.push(Span::styled(clean(&chars[..at]), t.text));
            spans.push(Span::styled(clean(&chars[at..end]), t.filter_error));
            spans.push(Span::styled(clean(&chars[end..]), t.text));
        }
        None => spans.push(Span::styled(clean(&chars), t.text)),
    }
    let col = |n: usize| -> u16 {
        (Span::raw(label).width() + Span::raw(clean(&chars[..n.min(chars.len())])).width()) as u16
    };
    let second = match &p.error {
        // One line: under the bad term when it fits there, else from the
        // left edge (the term is highlighted in the input anyway), cut
        // with `…` rather than wrapped off the prompt.
        Some(e) => {
            let msg = format!(
                "^ {FAIL} at {}: {}",
                e.position + 1,
                sanitize::line(&e.message)
            );
            let width = area.width as usize;
            let indent = col(e.position) as usize;
            if indent + fmt::width(&msg) <= width {
                Line::from(vec![
                    Span::raw(" ".repeat(indent)),
                    Span::styled(msg, t.filter_error),
                ])
            } else {
                let msg = msg.trim_start_matches("^ ");
                Line::from(vec![
                    Span::raw(" "),
                    Span::styled(fmt::ellipsize(msg, width.saturating_sub(1)), t.filter_error),
                ])
            }
        }
        None => {
            let mut spans = vec![Span::raw(" ".repeat(Span::raw(label).width()))];
            if let Some(ix) = &app.preview {
                let n = ix.len() as u64;
                let mut s = format!("{} match", plural(n, "alert", "alerts"));
                if let Some(k) = app.preview_keys {
                    s.push_str(&format!(" · {} now", plural(k as u64, "key", "keys")));
                }
                if !ix.complete() {
                    s.push_str(&format!(" (counting… {:.0}%)", ix.progress() * 100.0));
                }
                spans.push(Span::styled(s, t.count_ok));
                spans.push(Span::raw("   "));
            }
            for (key, hint) in keymap::hints(Mode::Prompt, app.focus) {
                spans.push(Span::styled(key, t.footer_key));
                spans.push(Span::styled(format!(" {hint}  "), t.footer_text));
            }
            Line::from(spans)
        }
    };
    let [input_area, below] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), input_area);
    frame.render_widget(Paragraph::new(second).wrap(Wrap { trim: false }), below);
    let x = area.x + col(p.cursor).min(area.width.saturating_sub(1));
    frame.set_cursor_position(Position::new(x, area.y));
}

fn draw_groups(
    frame: &mut Frame,
    app: &mut App,
    t: &Theme,
    pane: Pane,
    area: Rect,
    (offset, pos): (usize, usize),
) {
    let narrow = app.narrowing();
    let (rows, narrowed, empty): (&[GroupRow], Option<u32>, &str) = match pane {
        Pane::Orgs => (&app.lists.orgs, narrow.org, "no orgs"),
        Pane::Repos => (&app.lists.repos, narrow.repo, "no repos"),
        _ => (&app.lists.policies, narrow.policy, "no policies"),
    };
    let h = rows_area(area, 0).height as usize;
    let visible = &rows[offset.min(rows.len())..(offset + h).min(rows.len())];
    let failing = app.lists.failing_groups[match pane {
        Pane::Orgs => 0,
        Pane::Repos => 1,
        _ => 2,
    }];
    let mut title = vec![Span::styled(thousands(rows.len() as u64), t.title)];
    if failing > 0 {
        title.push(Span::styled(
            format!(" · {FAIL} {}", thousands(failing as u64)),
            t.count_fail,
        ));
    }
    if let Some(order) = app.lists.sort.label() {
        title.push(Span::styled(format!(" {order}"), t.dim));
    }
    let block = pane_block(app, t, pane, title);
    let counts: Vec<String> = visible
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                thousands(r.tally.failing.into()),
                thousands(r.tally.total.into())
            )
        })
        .collect();
    let count_w = counts.iter().map(|c| c.len()).max().unwrap_or(0) as u16;
    let show_org = pane == Pane::Repos && narrow.org.is_none();
    // Inner width less the mark, the symbol and its space, the gap.
    let name_w = (area.width as usize).saturating_sub(2 + 3 + 1 + count_w as usize);
    let block = match scroll_title(offset, h, rows.len(), t) {
        Some(s) => block.title_bottom(s),
        None => block,
    };
    let table_rows: Vec<Row> = visible
        .iter()
        .zip(counts)
        .map(|(r, count)| {
            let fails = r.tally.failing > 0;
            let name = match group_name(app, pane, r.id, show_org) {
                (org, Some(repo)) => fmt::org_repo_fit(&org, &repo, name_w),
                (name, None) => fmt::ellipsize(&name, name_w),
            };
            // Only the mark itself is styled: a styled blank would paint a
            // block on every row in themes with a background there.
            let mark = if narrowed == Some(r.id) {
                Span::styled("▸", t.title_focused)
            } else {
                Span::raw(" ")
            };
            let (sym, sym_style, name_style) = if fails {
                (FAIL, t.fail, t.fail)
            } else {
                (PASS, t.pass, t.text)
            };
            let (f, rest) = count.split_once('/').unwrap_or(("", ""));
            let count_line = Line::from(vec![
                Span::styled(f.to_owned(), if fails { t.count_fail } else { t.count_ok }),
                Span::styled(format!("/{rest}"), t.dim),
            ])
            .right_aligned();
            Row::new(vec![
                Cell::from(Line::from(vec![
                    mark,
                    Span::styled(format!("{sym} "), sym_style),
                    Span::styled(name, name_style),
                ])),
                Cell::from(count_line),
            ])
        })
        .collect();
    let rows_rect = rows_area(area, 0);
    if rows.is_empty() {
        let msg = if app.stats.accepted == 0 {
            "waiting for alerts"
        } else {
            empty
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {msg}"), t.dim)).block(block),
            area,
        );
    } else {
        let table = Table::new(
            table_rows,
            [Constraint::Fill(1), Constraint::Length(count_w)],
        )
        .block(block)
        .row_highlight_style(t.selected);
        let mut state =
            TableState::default().with_selected((app.focus == pane).then_some(pos - offset));
        frame.render_stateful_widget(table, area, &mut state);
    }
    app.geometry.push(PaneGeom {
        pane,
        area,
        rows: rows_rect,
        first: offset,
    });
}

/// The first line of the details as plain one-line text.
fn summary(details: &str) -> String {
    let line = details
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut short: String = line.chars().take(160).collect();
    short = short.replace("**", "").replace('`', "");
    let short = short.trim_start_matches(['#', '-', '*', '>', ' ']);
    sanitize::line(short).into_owned()
}

/// The row style, and a function giving a cell's own style: none while the
/// row flashes, so the whole row shows the flash.
fn row_styles(flash: bool, pass: bool, t: &Theme) -> (Style, impl Fn(Style) -> Style) {
    // The row style spans the gaps between columns too: no underline there
    // (the status cell keeps the theme's full fail style).
    let row = if flash {
        t.flash
    } else if pass {
        t.text
    } else {
        t.fail.remove_modifier(Modifier::UNDERLINED)
    };
    (row, move |s: Style| if flash { Style::new() } else { s })
}

fn status_cell(pass: bool, t: &Theme, st: &impl Fn(Style) -> Style) -> Cell<'static> {
    if pass {
        Cell::from(Span::styled(format!("{PASS} pass"), st(t.pass)))
    } else {
        Cell::from(Span::styled(format!("{FAIL} FAIL"), st(t.fail)))
    }
}

fn change_span(change: Change, t: &Theme) -> Span<'static> {
    match change {
        Change::Regressed => Span::styled("regressed", t.regressed),
        Change::Fixed => Span::styled("fixed", t.fixed),
        Change::First => Span::styled("first", t.dim),
        Change::Same => Span::raw(""),
    }
}

/// `org/repo · policy` in `max` columns: the policy is cut first (keeping
/// a few columns of it), then org/repo as [`fmt::org_repo_fit`] cuts it.
fn names_fit(org: &str, repo: &str, policy: &str, max: usize) -> String {
    let (org, repo, policy) = (
        sanitize::line(org),
        sanitize::line(repo),
        sanitize::line(policy),
    );
    let names = fmt::width(&org) + 1 + fmt::width(&repo);
    const SEP: usize = 3;
    const POLICY_KEPT: usize = 6;
    if names + SEP + POLICY_KEPT.min(fmt::width(&policy)) <= max {
        let rest = max - names - SEP;
        return format!("{org}/{repo} · {}", fmt::ellipsize(&policy, rest));
    }
    let names_max = max.saturating_sub(SEP + POLICY_KEPT);
    if names_max >= 8 {
        return format!(
            "{} · {}",
            fmt::org_repo_fit(&org, &repo, names_max),
            fmt::ellipsize(&policy, POLICY_KEPT)
        );
    }
    fmt::org_repo_fit(&org, &repo, max)
}

fn org_repo(org: &str, repo: &str) -> String {
    format!("{}/{}", sanitize::line(org), sanitize::line(repo))
}

/// The selected row's style; a flash shows through the selection.
fn highlight(t: &Theme, selected_row_flashes: bool) -> Style {
    if selected_row_flashes {
        t.selected.patch(t.flash)
    } else {
        t.selected
    }
}

/// Whether a row flashes: a transition in its first moments, live only (a
/// recording's "now" is its last alert, which would flash for ever).
fn flashing(app: &App, change: Change, at_ms: u64, now_ms: u64) -> bool {
    app.info.live && change.is_transition() && at_ms <= now_ms && now_ms - at_ms < FLASH_MS
}

fn empty_alerts_message(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    if app.stats.accepted == 0 {
        if app.info.live {
            let addr = sanitize::line(&app.info.label).into_owned();
            vec![
                Line::styled(format!(" Waiting for alerts on {addr} …"), t.text),
                Line::raw(""),
                Line::styled(
                    " Point Allstar's rpc action at this address, or try:",
                    t.dim,
                ),
                Line::styled(
                    format!(
                        "   sinkwatch send --to {addr} --owner my-org --repo my-repo --policy \"Branch Protection\" --fail"
                    ),
                    t.dim,
                ),
            ]
        } else {
            vec![Line::styled(" The recording holds no alerts.", t.dim)]
        }
    } else if !app.index.complete() {
        vec![Line::styled(" Filtering…", t.dim)]
    } else {
        vec![
            Line::styled(" No alert matches.", t.text),
            Line::styled(
                " c clears the filter and narrowing; Esc widens one level.",
                t.dim,
            ),
        ]
    }
}

fn alerts_title(app: &App, t: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    match app.view {
        AlertsView::Events => {
            spans.push(Span::styled(
                format!("events · {}", thousands(app.index.len() as u64)),
                t.title,
            ));
            if !app.index.complete() {
                spans.push(Span::styled(
                    format!(" · filtering {:.0}%", app.index.progress() * 100.0),
                    t.status_warn,
                ));
            }
            if let Some(n) = app.new_since_pause() {
                spans.push(Span::styled(
                    format!(" · ⏸ paused +{} new", thousands(n as u64)),
                    t.status_warn,
                ));
            } else if !app.sel_events.follow {
                spans.push(Span::styled(" · scrolled (g: newest)", t.dim));
            } else {
                spans.push(Span::styled(" · newest first", t.dim));
            }
        }
        AlertsView::Latest => {
            spans.push(Span::styled("latest per key · ", t.title));
            let f = app.lists.latest_failing as u64;
            spans.push(Span::styled(
                format!("{FAIL} {} failing", thousands(f)),
                if f > 0 { t.count_fail } else { t.count_ok },
            ));
            spans.push(Span::styled(
                format!(" / {}", thousands(app.lists.latest.len() as u64)),
                t.title,
            ));
            if app.paused_at.is_some() {
                spans.push(Span::styled(" · ⏸ paused", t.status_warn));
            }
        }
    }
    spans
}

/// Widths of the org/repo and policy columns: what the visible rows need,
/// squeezed when `avail` (the width left by the fixed columns) is short.
/// What gives way first: the policy (down to [`POLICY_MIN`]), then org/repo
/// (down to [`ORG_REPO_MIN`]) so that the details column appears as soon as
/// [`MIN_SUMMARY`] fits; only then is details left out (`false`) and the
/// names share the whole width.
fn name_widths(avail: usize, rows: &[AlertRow]) -> (u16, u16, bool) {
    let org_w = rows
        .iter()
        .map(|r| fmt::width(&r.org) + 1 + fmt::width(&r.repo))
        .max()
        .unwrap_or(0)
        .clamp(8, 48);
    let pol_w = rows
        .iter()
        .map(|r| fmt::width(&r.policy))
        .max()
        .unwrap_or(0)
        .clamp(6, 28);
    let room = avail.saturating_sub(1 + MIN_SUMMARY);
    if org_w + pol_w <= room {
        return (org_w as u16, pol_w as u16, true);
    }
    let pol_min = pol_w.min(POLICY_MIN);
    if org_w + pol_min <= room {
        return (org_w as u16, (room - org_w) as u16, true);
    }
    let org_min = org_w.min(ORG_REPO_MIN);
    if org_min + pol_min <= room {
        return ((room - pol_min) as u16, pol_min as u16, true);
    }
    // No details column (and its spacing): the names share `avail + 1`.
    let total = avail + 1;
    if org_w + pol_w < total {
        let spare = total - org_w - pol_w - 1;
        return ((org_w + spare) as u16, pol_w as u16, false);
    }
    let org = (total.saturating_sub(1) * org_w / (org_w + pol_w)).min(org_w);
    (org as u16, total.saturating_sub(org + 1) as u16, false)
}

/// The policy column gives way down to this before anything else does.
const POLICY_MIN: usize = 13;
/// Then org/repo, down to this.
const ORG_REPO_MIN: usize = 22;

/// The narrowest details column worth showing.
const MIN_SUMMARY: usize = 16;

/// A column of the Alerts pane, before the details summary.
#[derive(Clone, Copy)]
enum Column {
    Time,
    Status,
    OrgRepo,
    Policy,
    Change,
    Since,
    Seen,
}

/// The events view: each alert as received.
const EVENT_COLUMNS: [Column; 5] = [
    Column::Time,
    Column::Status,
    Column::OrgRepo,
    Column::Policy,
    Column::Change,
];
/// The latest status per key.
const LATEST_COLUMNS: [Column; 5] = [
    Column::Status,
    Column::OrgRepo,
    Column::Policy,
    Column::Since,
    Column::Seen,
];

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Time => "time UTC",
            Column::Status => "status",
            Column::OrgRepo => "org/repo",
            Column::Policy => "policy",
            Column::Change => "change",
            Column::Since => "since",
            Column::Seen => "seen",
        }
    }

    /// Its width: fixed, or for the names the one [`name_widths`] gives.
    /// `compact` (a narrow pane) shortens the change word.
    fn width(self, org_w: u16, pol_w: u16, compact: bool) -> u16 {
        match self {
            Column::Time => 8,
            Column::Status if compact => 1,
            Column::Status => 6,
            Column::OrgRepo => org_w,
            Column::Policy => pol_w,
            Column::Change if compact => 6,
            Column::Change => 9,
            Column::Since => 5,
            Column::Seen => 6,
        }
    }

    /// A row's cell; `st` gives a cell's own style (see [`row_styles`]).
    fn cell(
        self,
        r: &AlertRow,
        t: &Theme,
        now_ms: u64,
        (org_w, pol_w, compact): (u16, u16, bool),
        st: &impl Fn(Style) -> Style,
    ) -> Cell<'static> {
        match self {
            Column::Time => Cell::from(Span::styled(clock(r.at_ms), st(t.dim))),
            Column::Status if compact => {
                let (sym, style) = if r.pass {
                    (PASS, t.pass)
                } else {
                    (FAIL, t.fail)
                };
                Cell::from(Span::styled(sym, st(style)))
            }
            Column::Status => status_cell(r.pass, t, st),
            Column::OrgRepo => Cell::from(fmt::org_repo_fit(
                &sanitize::line(&r.org),
                &sanitize::line(&r.repo),
                org_w.into(),
            )),
            Column::Policy => Cell::from(fmt::ellipsize(&sanitize::line(&r.policy), pol_w.into())),
            Column::Change => {
                let change = change_span(r.change, t);
                let text = if compact {
                    match r.change {
                        Change::Regressed => "regr.".into(),
                        c => change_span(c, t).content,
                    }
                } else {
                    change.content
                };
                Cell::from(Span::styled(text, st(change.style)))
            }
            Column::Since => Cell::from(Span::styled(ago(now_ms, r.last_change_ms), st(t.dim))),
            Column::Seen => Cell::from(Span::styled(format!("{}×", thousands(r.count)), st(t.dim))),
        }
    }
}

/// The Alerts pane in the current view: `rows` are the visible window's
/// only, `sel` the selected one among them.
#[allow(clippy::too_many_arguments)]
fn draw_alerts(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[AlertRow],
    sel: Option<usize>,
    scroll: Option<Line<'static>>,
    now_ms: u64,
) {
    let mut block = pane_block(app, t, Pane::Alerts, alerts_title(app, t));
    if let Some(s) = scroll {
        block = block.title_bottom(s);
    }
    if rows.is_empty() {
        frame.render_widget(Paragraph::new(empty_alerts_message(app)).block(block), area);
        return;
    }
    // A row flashes after a change: of the event itself, or of the key.
    let (columns, changed_at): (&[Column], fn(&AlertRow) -> u64) = match app.view {
        AlertsView::Events => (&EVENT_COLUMNS, |r| r.at_ms),
        AlertsView::Latest => (&LATEST_COLUMNS, |r| r.last_change_ms),
    };
    // The fixed columns, each with the space after it.
    let inner = Block::bordered().inner(area).width as usize;
    let fixed_of = |compact| -> usize {
        columns
            .iter()
            .map(|c| c.width(0, 0, compact) as usize + 1)
            .sum()
    };
    // Narrow: the short change word leaves the names a little more room.
    let compact = inner < fixed_of(false) + 44;
    let fixed = fixed_of(compact);
    let avail = inner.saturating_sub(fixed);
    let (org_w, pol_w, with_summary) = name_widths(avail, rows);
    let summary_w = avail.saturating_sub(org_w as usize + pol_w as usize + 1);
    let titles = columns.iter().map(|c| match c {
        // One column: the symbol alone says pass or fail.
        Column::Status if compact => "",
        Column::Time if !fmt::utc() => "time",
        c => c.title(),
    });
    let header = Row::new(titles.chain(with_summary.then_some("details"))).style(t.dim);
    let table_rows = rows.iter().map(|r| {
        let (style, st) = row_styles(flashing(app, r.change, changed_at(r), now_ms), r.pass, t);
        let mut cells: Vec<Cell> = columns
            .iter()
            .map(|c| c.cell(r, t, now_ms, (org_w, pol_w, compact), &st))
            .collect();
        if with_summary {
            cells.push(Cell::from(Span::styled(
                fmt::ellipsize(&summary(&r.details), summary_w),
                st(t.dim),
            )));
        }
        Row::new(cells).style(style)
    });
    let mut widths: Vec<Constraint> = columns
        .iter()
        .map(|c| Constraint::Length(c.width(org_w, pol_w, compact)))
        .collect();
    if with_summary {
        widths.push(Constraint::Fill(1));
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(highlight(
            t,
            sel.and_then(|i| rows.get(i))
                .is_some_and(|r| flashing(app, r.change, changed_at(r), now_ms)),
        ));
    frame.render_stateful_widget(table, area, &mut TableState::default().with_selected(sel));
}

#[allow(clippy::too_many_arguments)]
fn draw_transitions(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[TransRow],
    (sel, scroll): (Option<usize>, Option<Line<'static>>),
    (regressed, fixed): (u64, u64),
    now_ms: u64,
) {
    let wide = area.width >= 52;
    let r_style = if regressed > 0 { t.count_fail } else { t.title };
    let f_style = if fixed > 0 { t.count_ok } else { t.title };
    let title = if wide {
        vec![
            Span::styled(format!("{regressed} regressed"), r_style),
            Span::styled(" / ", t.title),
            Span::styled(format!("{fixed} fixed"), f_style),
            Span::styled(" in last 15m", t.title),
        ]
    } else {
        let mut v = vec![
            Span::styled(format!("{FAIL}{regressed}"), r_style),
            Span::styled(" ", t.title),
            Span::styled(format!("{PASS}{fixed}"), f_style),
        ];
        // The window only where it fits: a title is never cut mid-word.
        if area.width >= 30 {
            v.push(Span::styled(" in 15m", t.title));
        }
        v
    };
    let mut block = pane_block(app, t, Pane::Transitions, title);
    if let Some(s) = scroll {
        block = block.title_bottom(s);
    }
    if rows.is_empty() {
        let msg = if app.paused_at.is_some() {
            " none before the pause"
        } else {
            " no pass↔fail changes yet"
        };
        let msg = fmt::ellipsize(msg, area.width.saturating_sub(2).into());
        frame.render_widget(Paragraph::new(Line::styled(msg, t.dim)).block(block), area);
        return;
    }
    // From wide to narrow: time, change word, names, age; time, change
    // word, names; time, symbol, names; symbol, names, age.
    let (with_time, with_word, with_age) = match area.width {
        80.. => (true, true, true),
        52.. => (true, true, false),
        40.. => (true, false, false),
        _ => (false, false, true),
    };
    let names_w = (area.width as usize).saturating_sub(
        2 + usize::from(with_time) * 9 + if with_word { 12 } else { 2 } + usize::from(with_age) * 4,
    );
    let table_rows = rows.iter().map(|(tr, o, r, p)| {
        let flash = flashing(app, tr.change, tr.at_ms, now_ms);
        let st = |s: Style| if flash { Style::new() } else { s };
        let (sym, word, style) = match tr.change {
            Change::Regressed => (FAIL, "regressed", st(t.regressed)),
            _ => (PASS, "fixed", st(t.fixed)),
        };
        let mut cells = Vec::with_capacity(4);
        if with_time {
            cells.push(Cell::from(Span::styled(clock(tr.at_ms), st(t.dim))));
        }
        cells.push(Cell::from(if with_word {
            Span::styled(format!("{sym} {word}"), style)
        } else {
            Span::styled(sym, style)
        }));
        cells.push(Cell::from(names_fit(o, r, p, names_w)));
        if with_age {
            cells.push(Cell::from(
                Line::styled(ago(now_ms, tr.at_ms), st(t.dim)).right_aligned(),
            ));
        }
        let row = Row::new(cells);
        if flash {
            row.style(t.flash)
        } else {
            row.style(t.text)
        }
    });
    let mut widths = Vec::with_capacity(4);
    if with_time {
        widths.push(Constraint::Length(8));
    }
    widths.push(Constraint::Length(if with_word { 11 } else { 1 }));
    widths.push(Constraint::Fill(1));
    if with_age {
        widths.push(Constraint::Length(3));
    }
    let highlight_row = if app.focus == Pane::Transitions || app.details_from == Pane::Transitions {
        sel
    } else {
        None
    };
    let table = Table::new(table_rows, widths)
        .block(block)
        .row_highlight_style(highlight(
            t,
            highlight_row
                .and_then(|i| rows.get(i))
                .is_some_and(|(tr, ..)| flashing(app, tr.change, tr.at_ms, now_ms)),
        ));
    frame.render_stateful_widget(
        table,
        area,
        &mut TableState::default().with_selected(highlight_row),
    );
}

/// Rows `line` takes when word-wrapped to `width` (greedy, as ratatui's
/// word wrapper; long words are broken).
fn wrapped_rows(line: &Line, width: usize) -> usize {
    if width == 0 {
        return 0;
    }
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let (mut rows, mut col) = (1, 0usize);
    for word in text.split(' ') {
        let w = Span::raw(word).width();
        let need = if col == 0 { w } else { col + 1 + w };
        if need <= width {
            col = need;
        } else if w <= width {
            rows += 1;
            col = w;
        } else {
            if col > 0 {
                rows += 1;
            }
            rows += (w - 1) / width;
            col = w - (w - 1) / width * width;
        }
    }
    rows
}

fn draw_details(
    frame: &mut Frame,
    app: &mut App,
    t: &Theme,
    area: Rect,
    d: Option<&DetailsData>,
    now_ms: u64,
) {
    let Some(d) = d else {
        let block = pane_block(app, t, Pane::Details, vec![]);
        let msg = if app.stats.accepted == 0 {
            " the selected alert's details show here"
        } else {
            " nothing selected"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, t.dim)).block(block), area);
        app.details_max = 0;
        return;
    };
    let (o, r, p) = &d.names;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let (status, style) = if d.pass {
        (format!("{PASS} pass"), t.pass)
    } else {
        (format!("{FAIL} FAIL"), t.fail)
    };
    lines.push(Line::from(vec![
        Span::styled(status, style),
        Span::raw("  "),
        Span::styled(org_repo(o, r), t.text.add_modifier(Modifier::BOLD)),
        Span::styled(" · ", t.dim),
        Span::styled(
            sanitize::line(p).into_owned(),
            t.text.add_modifier(Modifier::BOLD),
        ),
    ]));
    let mut when = vec![Span::styled(
        format!("{} ({} ago)", date_time(d.at_ms), ago(now_ms, d.at_ms)),
        t.dim,
    )];
    if let Some(seq) = d.seq {
        when.push(Span::styled(format!(" · #{}", thousands(seq)), t.dim));
    }
    let change = change_span(d.change, t);
    if !change.content.is_empty() {
        when.push(Span::styled(" · ", t.dim));
        when.push(change);
    }
    lines.push(Line::from(when));
    if d.evicted {
        lines.push(Line::styled(
            "this alert left the history ring; showing the key's latest",
            t.status_warn,
        ));
    }
    let k = &d.key;
    lines.push(Line::styled(
        format!(
            "key seen {}× since {} · last change {}",
            thousands(k.count),
            clock(k.first_seen_ms),
            clock(k.last_change_ms)
        ),
        t.dim,
    ));
    if k.regressions > 0 || k.fixes > 0 {
        lines.push(Line::styled(
            format!(
                "{} and {} so far",
                plural(k.regressions.into(), "regression", "regressions"),
                plural(k.fixes.into(), "fix", "fixes")
            ),
            t.dim,
        ));
    }
    if let Some(peer) = &d.peer {
        let mut from = format!("from {}", sanitize::line(&peer.label));
        if let Some(id) = &peer.identity {
            from.push_str(&format!(" · identity {}", sanitize::line(id)));
        }
        lines.push(Line::styled(from, t.dim));
    }
    if let Some(f) = &app.forward {
        // The event shown, or the key's latest alert.
        let seq = d.seq.unwrap_or(d.key.last_seq);
        for o in f.outcomes(seq) {
            let (text, style) = match &o.outcome {
                Some(oc) => (oc.describe(), outcome_style(oc, t)),
                None if seq.saturating_add(DEFAULT_OUTCOMES as u64) < app.stats.next_seq => (
                    format!(
                        "no longer tracked (only the last {} alerts are)",
                        thousands(DEFAULT_OUTCOMES as u64)
                    ),
                    t.dim,
                ),
                None => ("not handed to the forwarder yet".to_owned(), t.dim),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("forward {} → ", display_url(&o.upstream)), t.dim),
                Span::styled(text, style),
            ]));
        }
    }
    lines.push(Line::raw(""));
    if d.details.trim().is_empty() {
        lines.push(Line::styled(
            if d.pass {
                "(no details: the check passed)"
            } else {
                "(no details were sent)"
            },
            t.dim,
        ));
    } else {
        let width = Block::bordered().inner(area).width;
        lines.extend(cached_markdown(app, &d.details, t, width).lines);
    }
    // A fix: what was failing until now, as GitHub's issue would still show.
    if let Some((seq, at_ms, before)) = &d.failing_before {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!(
                "{FAIL} failing before, #{} at {} ({} ago):",
                thousands(*seq),
                clock(*at_ms),
                ago(now_ms, *at_ms)
            ),
            t.fail,
        ));
        if before.trim().is_empty() {
            lines.push(Line::styled("(no details were sent)", t.dim));
        } else {
            let width = Block::bordered().inner(area).width;
            lines.extend(cached_markdown(app, before, t, width).lines);
        }
    } else if d.change == Change::Fixed && d.seq.is_some() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "(the failing alert before this fix has left the history ring)",
            t.dim,
        ));
    }
    let inner = Block::bordered().inner(area);
    let total: usize = lines
        .iter()
        .map(|l| wrapped_rows(l, inner.width as usize))
        .sum();
    app.details_max = total
        .saturating_sub(inner.height as usize)
        .min(u16::MAX as usize) as u16;
    app.details_scroll = app.details_scroll.min(app.details_max);
    let mut title = Vec::new();
    if app.details_max > 0 {
        title.push(Span::styled(
            format!(
                "{}/{} lines",
                app.details_scroll as usize + inner.height as usize,
                total
            ),
            t.dim,
        ));
    }
    let block = pane_block(app, t, Pane::Details, title);
    let para = Paragraph::new(Text::from(lines))
        .style(t.text)
        .wrap(Wrap { trim: false })
        .scroll((app.details_scroll, 0))
        .block(block);
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

/// `details` rendered for `width`, from the cache when it was rendered
/// for the same text (same allocation), theme and width. The cache keeps
/// the two texts Details may show at once.
fn cached_markdown(app: &mut App, details: &Arc<str>, t: &Theme, width: u16) -> Text<'static> {
    let hit = app
        .md_cache
        .iter()
        .find(|c| Arc::ptr_eq(&c.details, details) && c.theme == t.name && c.width == width);
    if let Some(c) = hit {
        return c.text.clone();
    }
    let text = markdown::render_width(details, t, width.into());
    if app.md_cache.len() >= 2 {
        app.md_cache.remove(0);
    }
    app.md_cache.push(MdCache {
        details: details.clone(),
        theme: t.name.clone(),
        width,
        text: text.clone(),
    });
    text
}

/// How an alert's outcome upstream looks in Details.
fn outcome_style(o: &Outcome, t: &Theme) -> Style {
    match o {
        Outcome::Delivered { .. } => t.pass,
        Outcome::Failed { .. } => t.fail,
        Outcome::Dropped(_) => t.count_fail,
        Outcome::Queued | Outcome::InFlight { .. } => t.text,
    }
}

/// An upstream URL for the screen: sanitized, any credentials
/// (`user:password@`) masked, and `http://` left out as in `--forward
/// host:port` (`https://` stays).
pub fn display_url(url: &str) -> String {
    let clean = sanitize::line(url);
    let (scheme, rest) = match clean.split_once("://") {
        Some(("http", r)) => ("", r),
        Some((s, r)) => (s, r),
        None => ("", clean.as_ref()),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}…@{}{path}", &authority[at + 1..]),
        None => format!("{scheme}{rest}"),
    }
}

/// Display width of a string.
fn width_of(s: &str) -> usize {
    Span::raw(s).width()
}

/// `spans` cut to `max` columns, ending in `…`.
fn cut_spans(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    let room = max.saturating_sub(1);
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = s.width();
        if used + w <= room {
            used += w;
            out.push(s);
            continue;
        }
        let mut text = String::new();
        for c in s.content.chars() {
            let cw = width_of(c.encode_utf8(&mut [0; 4]));
            if used + cw > room {
                break;
            }
            used += cw;
            text.push(c);
        }
        text.push('…');
        out.push(Span::styled(text, s.style));
        return out;
    }
    out
}

/// Lays segments out as `a · b · c` lines of at most `width` columns, the
/// first line indented by `first` columns and the others by `rest`; a
/// segment wider than a line is cut with `…`.
fn pack(
    segs: Vec<Vec<Span<'static>>>,
    width: usize,
    (first, rest): (usize, usize),
    t: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut cur = vec![Span::raw(" ".repeat(first))];
    let mut used = first;
    let mut empty = true;
    for seg in segs {
        let w: usize = seg.iter().map(Span::width).sum();
        if !empty && used + 3 + w > width {
            lines.push(Line::from(std::mem::take(&mut cur)));
            cur = vec![Span::raw(" ".repeat(rest))];
            used = rest;
            empty = true;
        }
        if !empty {
            cur.push(Span::styled(" · ", t.dim));
            used += 3;
        }
        let seg = if used + w > width {
            cut_spans(seg, width.saturating_sub(used))
        } else {
            seg
        };
        used += seg.iter().map(Span::width).sum::<usize>();
        cur.extend(seg);
        empty = false;
    }
    if !empty {
        lines.push(Line::from(cur));
    }
    lines
}

/// `text` word-wrapped to `width` columns in at most `max` lines (long
/// words broken; the last line ends in `…` when text was left out).
fn wrap_words(text: &str, width: usize, max: usize) -> Vec<String> {
    let width = width.max(2);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let w = width_of(word);
        if used > 0 && used + 1 + w > width {
            lines.push(std::mem::take(&mut cur));
            used = 0;
        }
        if used > 0 {
            cur.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let cw = width_of(c.encode_utf8(&mut [0; 4]));
            if used + cw > width {
                lines.push(std::mem::take(&mut cur));
                used = 0;
            }
            cur.push(c);
            used += cw;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && width_of(last) + 1 > width {
                last.pop();
            }
            last.push('…');
        }
    }
    lines
}

/// `label value`, the label dimmed.
fn labeled(label: &str, value: String, style: Style, t: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), t.dim),
        Span::styled(value, style),
    ]
}

/// One upstream in the forwarding panel: URL and role; state, rate,
/// latency and retried attempts; the counters; the last error.
fn upstream_card(s: &UpstreamSnapshot, width: usize, t: &Theme) -> Vec<Line<'static>> {
    let (sym, state_style) = match s.state {
        UpstreamState::Up => (PASS, t.pass),
        UpstreamState::Down => (FAIL, t.fail),
        UpstreamState::Connecting => ("…", t.dim),
    };
    let mut out = pack(
        vec![
            vec![
                Span::styled(format!("{sym} "), state_style),
                Span::styled(display_url(&s.url), t.text.add_modifier(Modifier::BOLD)),
            ],
            vec![Span::styled(s.role.as_str(), t.dim)],
        ],
        width,
        (1, 3),
        t,
    );
    let mut segs = vec![
        vec![Span::styled(
            format!("{} {}", s.state.as_str(), fmt::span(s.state_for)),
            state_style,
        )],
        vec![Span::styled(rate(s.rate), t.text)],
    ];
    if s.latency_p50.is_some() || s.latency_p99.is_some() {
        // Not up: these answers are from before, not how it answers now.
        let (style, stale) = if s.state == UpstreamState::Up {
            (t.text, "")
        } else {
            (t.dim, " (stale)")
        };
        segs.push(labeled("p50", fmt::latency(s.latency_p50), style, t));
        let mut p99 = labeled("p99", fmt::latency(s.latency_p99), style, t);
        p99.push(Span::styled(stale, t.dim));
        segs.push(p99);
    } else {
        let none = if s.delivered + s.failed > 0 {
            "no recent answers"
        } else {
            "no answers yet"
        };
        segs.push(vec![Span::styled(none, t.dim)]);
    }
    if s.retries > 0 {
        segs.push(labeled("retries", thousands(s.retries), t.text, t));
    }
    out.extend(pack(segs, width, (3, 3), t));

    let problem = |n: u64| if n > 0 { t.count_fail } else { t.text };
    let mut segs = vec![
        labeled("delivered", thousands(s.delivered), t.text, t),
        labeled("failed", thousands(s.failed), problem(s.failed), t),
    ];
    if s.role == Role::Tee {
        segs.push(labeled(
            "dropped",
            thousands(s.dropped),
            problem(s.dropped),
            t,
        ));
        let full = s.queue_capacity > 0 && s.queued >= s.queue_capacity as u64;
        let queued = if full {
            format!("{} (full)", thousands(s.queued))
        } else {
            thousands(s.queued)
        };
        segs.push(labeled(
            "queued",
            queued,
            if full { t.count_fail } else { t.text },
            t,
        ));
    }
    segs.push(labeled("in flight", thousands(s.in_flight), t.text, t));
    if s.held > 0 {
        // Backpressure happened: say so, so a slower sender is explained.
        segs.push(labeled("senders held", thousands(s.held), t.text, t));
    }
    out.extend(pack(segs, width, (3, 3), t));

    if let Some(e) = &s.last_error {
        let label = match s.last_error_age {
            Some(a) => format!("last error {} ago:", fmt::span(a)),
            None => "last error:".to_owned(),
        };
        let style = if s.state == UpstreamState::Down {
            t.fail
        } else {
            t.text
        };
        let text = format!("{label} {}", sanitize::line(e));
        for (i, l) in wrap_words(&text, width.saturating_sub(3), 3)
            .into_iter()
            .enumerate()
        {
            let mut spans = vec![Span::raw("   ")];
            match l.strip_prefix(&label) {
                Some(rest) if i == 0 => {
                    spans.push(Span::styled(label.clone(), t.dim));
                    spans.push(Span::styled(rest.to_owned(), style));
                }
                _ => spans.push(Span::styled(l, style)),
            }
            out.push(Line::from(spans));
        }
    }
    out
}

/// The forwarding panel: one card per upstream, from the first one
/// scrolled to, built only while they fit.
fn draw_forwarding(frame: &mut Frame, app: &mut App, t: &Theme, area: Rect) {
    let Some(fwd) = app.forward.clone() else {
        let block = pane_block(app, t, Pane::Forwarding, vec![Span::styled("off", t.dim)]);
        let text = vec![
            Line::styled(" Forwarding is off.", t.text),
            Line::raw(""),
            Line::styled(
                " Start sinkwatch with --forward URL (repeatable; --forward-mode tee|proxy) \
                 to pass every accepted alert on to other AlertSinks and watch them here.",
                t.dim,
            ),
            Line::styled(" F shows Transitions again.", t.dim),
        ];
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
            area,
        );
        return;
    };
    // The sample the status bar shows too (taken at the last sync; before
    // the first one, a fresh snapshot).
    let snaps = if app.forward_snaps.is_empty() {
        fwd.snapshot()
    } else {
        app.forward_snaps.clone()
    };
    let n = snaps.len();
    let up = snaps
        .iter()
        .filter(|s| s.state == UpstreamState::Up)
        .count();
    let down = snaps
        .iter()
        .filter(|s| s.state == UpstreamState::Down)
        .count();
    let mode = match fwd.mode() {
        crate::forward::ForwardMode::Tee => "tee",
        crate::forward::ForwardMode::Proxy => "proxy",
    };
    let mut title = vec![Span::styled(format!("{mode} · {up}/{n} up"), t.title)];
    if down > 0 {
        title.push(Span::styled(format!(" · {FAIL} {down} down"), t.count_fail));
    }
    let inner = Block::bordered().inner(area);
    let (w, h) = (inner.width as usize, inner.height as usize);
    app.forward_scroll = app.forward_scroll.min(n.saturating_sub(1));
    let first = app.forward_scroll;
    // The cards that (partly) fit; a blank line between them if it all fits.
    let mut cards = Vec::new();
    let mut total = 0;
    for s in snaps.iter().skip(first) {
        if total >= h {
            break;
        }
        let card = upstream_card(s, w, t);
        total += card.len();
        cards.push(card);
    }
    let spaced = total + cards.len().saturating_sub(1) <= h;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut whole = 0;
    for card in cards {
        if spaced && !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        if lines.len() + card.len() <= h {
            whole += 1;
        }
        lines.extend(card);
    }
    lines.truncate(h);
    if n == 0 {
        lines.push(Line::styled(" no upstreams", t.dim));
    }
    let mut more = Vec::new();
    if first > 0 {
        more.push(format!("↑ {first} above"));
    }
    let below = n.saturating_sub(first + whole);
    if below > 0 {
        more.push(format!("↓ {below} more"));
    }
    let mut block = pane_block(app, t, Pane::Forwarding, title);
    if !more.is_empty() {
        let how = if app.focus == Pane::Forwarding {
            "j/k"
        } else {
            "Tab here, j/k"
        };
        block = block.title_bottom(Line::styled(
            format!(" {} · {how} ", more.join(" · ")),
            t.dim,
        ));
    }
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).style(t.text).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_rows_counts_like_a_word_wrapper() {
        assert_eq!(wrapped_rows(&Line::raw(""), 10), 1);
        assert_eq!(wrapped_rows(&Line::raw("hello"), 10), 1);
        assert_eq!(wrapped_rows(&Line::raw("hello world"), 10), 2);
        assert_eq!(wrapped_rows(&Line::raw("hello world"), 11), 1);
        assert_eq!(
            wrapped_rows(&Line::raw("abcdefghijklmnopqrstuvwxyz"), 10),
            3
        );
        assert_eq!(
            wrapped_rows(&Line::raw("a abcdefghijklmnopqrstuvwxyz"), 10),
            4
        );
    }

    #[test]
    fn upstream_urls_show_without_credentials() {
        assert_eq!(display_url("http://127.0.0.1:50071"), "127.0.0.1:50071");
        assert_eq!(
            display_url("https://sink.example:443/x"),
            "https://sink.example:443/x"
        );
        assert_eq!(
            display_url("https://user:secret@sink.example:443"),
            "https://…@sink.example:443"
        );
        assert_eq!(display_url("http://a@b:1/p@q"), "…@b:1/p@q");
        assert_eq!(display_url("http://h:1\x1b[2J"), "h:1\\x1b[2J");
    }

    #[test]
    fn packing_and_wrapping_fit_the_width() {
        let t = Theme::default_theme();
        let seg = |s: &str| vec![Span::raw(s.to_owned())];
        let lines = pack(vec![seg("aaaa"), seg("bbbb"), seg("cccc")], 12, (1, 3), &t);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, [" aaaa · bbbb", "   cccc"]);
        let lines = pack(vec![seg("a-very-long-segment")], 10, (1, 3), &t);
        assert_eq!(lines[0].to_string(), " a-very-l…");
        assert_eq!(lines[0].width(), 10);
        assert_eq!(wrap_words("one two three", 7, 3), ["one two", "three"]);
        assert_eq!(
            wrap_words("one two three four", 7, 2),
            ["one two", "three…"]
        );
        assert_eq!(wrap_words("abcdefghij", 4, 3), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn summaries_are_one_clean_line() {
        assert_eq!(summary("\n\n**Remediation**\n- do it"), "Remediation");
        assert_eq!(summary("- `main` is unprotected"), "main is unprotected");
        assert_eq!(summary("bad\x1b[2Jthing\nmore"), "bad\\x1b[2Jthing");
        assert_eq!(summary(""), "");
    }
}
