//! Where the panes go: the screen split, the left column width, the
//! too-small message and the notices above the header.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::sanitize;

use super::groups::group_name;
use super::{FORWARD_MIN_WIDTH, MIN_HEIGHT, MIN_WIDTH};
use crate::ui::fmt::{self, thousands};
use crate::ui::keymap::Pane;
use crate::ui::state::App;
use crate::ui::theme::Theme;

/// Screen areas.
pub(super) struct Areas {
    pub(super) notices: Rect,
    pub(super) header: Rect,
    pub(super) panes: [(Pane, Rect); 6],
    pub(super) status: Rect,
    pub(super) footer: Rect,
    /// The forwarding panel takes the Details place too.
    pub(super) forward_wide: bool,
    /// Width of the Transitions place (shown or not).
    pub(super) transitions_width: u16,
    /// One pane at a time (the terminal is below the split's size).
    pub(super) one_pane: bool,
}

/// Rows of the footer for the last message (an export, a copy, an open),
/// shown whole there in place of the key hints while it lasts: up to 3, at
/// least 1. In the status bar it was cut at narrow widths, the URL an
/// `open` without a browser names with it (a review).
pub(super) fn message_rows(app: &App, width: u16) -> u16 {
    let Some((m, _)) = &app.message else {
        return 1;
    };
    let w = 1 + fmt::width(&sanitize::line(m));
    (w.div_ceil(width.max(1) as usize) as u16).clamp(1, 3)
}

/// `one_pane`: the terminal is too small for the split (see
/// [`super::SPLIT_WIDTH`]); the focused pane takes the whole place.
pub(super) fn layout(area: Rect, app: &App, notices: u16, one_pane: bool) -> Areas {
    // The prompt: the input, and under it the live count or the error
    // (one line either way; see `draw_prompt`).
    let footer_h = if app.prompt.is_some() || app.export_prompt.is_some() {
        2
    } else {
        message_rows(app, area.width)
    };
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
    if app.zoom || one_pane {
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
        one_pane,
    }
}

/// Rows looked at to size the left column: enough for any screen, and a
/// bound on the work per frame however many repos there are.
pub(super) const LEFT_SAMPLE: usize = 200;

/// The left column's width: what its names and counts need (borders, the
/// mark and symbol, a gap), within [24, 28% of the screen] so that the
/// Alerts pane keeps most of a narrow terminal.
pub(super) fn left_width(app: &App, width: u16) -> u16 {
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

pub(super) fn too_small(frame: &mut Frame, theme: &Theme, area: Rect) {
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

/// Rows the notices above the panes may take.
const MAX_NOTICE_ROWS: usize = 3;

/// The banner and notices above the panes, one line each, cut to `width`
/// with `…`.
pub(super) fn notice_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let t = &app.theme;
    let fit = |s: &str| {
        let text = format!(" ⚠ {}", sanitize::line(s));
        crate::ui::fmt::ellipsize(&text, usize::from(width))
    };
    let mut out = Vec::new();
    if let Some(b) = &app.info.banner {
        out.push(Line::styled(fit(b), t.banner).patch_style(t.banner));
    }
    // A row each, three at most: past three, the third holds the rest,
    // joined (a recording can have bad lines, lost alerts and undelivered
    // ones, each worth its own row).
    let notices = &app.info.notices;
    for (i, n) in notices.iter().enumerate().take(MAX_NOTICE_ROWS) {
        let text = if i + 1 == MAX_NOTICE_ROWS {
            notices[i..].join(" · ")
        } else {
            n.clone()
        };
        out.push(Line::styled(fit(&text), t.status_warn));
    }
    out
}
