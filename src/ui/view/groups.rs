//! The orgs, repos and policies group lists.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::sanitize;

use super::common::{pane_block, rows_area, scroll_title};
use super::{FAIL, PASS};
use crate::ui::fmt::{self, thousands};
use crate::ui::keymap::Pane;
use crate::ui::lists::GroupRow;
use crate::ui::state::{App, PaneGeom};
use crate::ui::theme::Theme;

/// The display name of a group row: for repos `org/repo` unless the view
/// is narrowed to one org (then the org would repeat on every row).
pub(super) fn group_name(
    app: &App,
    pane: Pane,
    id: u32,
    show_org: bool,
) -> (String, Option<String>) {
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

pub(super) fn draw_groups(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    pane: Pane,
    area: Rect,
    (offset, pos): (usize, usize),
) -> PaneGeom {
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
    let block = pane_block(app, t, pane, title, area.width);
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
        let msg = if app.stats.accepted == 0 && app.info.live {
            "waiting for alerts"
        } else if app.stats.accepted == 0 {
            // Offline (`open`): nothing will come.
            "no alerts"
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
    PaneGeom {
        pane,
        area,
        rows: rows_rect,
        first: offset,
        row_height: 1,
    }
}
