//! The silence overlays: the `x` menu (what to silence), the form (matcher,
//! for how long, comment; or one field of an edit), and the `X` list of
//! active and expired silences.
//!
//! Matchers hold names from the wire and the file may be edited by hand:
//! everything shown goes through `sanitize`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Position, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState};

use crate::model::silence::{Silence, short_duration};
use crate::sanitize;

use super::FAIL;
use crate::ui::fmt::{self, thousands};
use crate::ui::keymap::{self, Mode};
use crate::ui::state::App;
use crate::ui::state::silences::FormPurpose;
use crate::ui::theme::Theme;

/// Draws whichever silence overlay is open.
pub(super) fn draw(frame: &mut Frame, app: &App, t: &Theme, area: Rect, now_ms: u64) {
    if app.silences.list.is_some() {
        draw_list(frame, app, t, area, now_ms);
    }
    if app.silences.menu.is_some() {
        draw_menu(frame, app, t, area);
    }
    if app.silences.form.is_some() {
        draw_form(frame, app, t, area);
    }
}

fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    area.centered(Constraint::Length(w), Constraint::Length(h))
}

/// A silence overlay's block, `width` wide (its title and hints fitted).
fn block<'a>(t: &Theme, title: String, mode: Mode, width: u16) -> Block<'a> {
    use super::common::fit_title;
    Block::bordered()
        .border_style(t.border_focused)
        .title(Line::styled(fit_title(&title, width), t.title_focused))
        .title_bottom(Line::styled(
            fit_title(&keymap::popup_hints(mode), width),
            t.footer_text,
        ))
}

fn draw_menu(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(items) = &app.silences.menu else {
        return;
    };
    let width = area.width.saturating_sub(8).min(100);
    let inner_w = width.saturating_sub(2) as usize;
    let mut lines = vec![Line::styled(
        " Silence the failures that match (they are dimmed and counted apart):",
        t.dim,
    )];
    lines.push(Line::raw(""));
    for (key, what, matcher) in items {
        let head = format!("  {key}  {what:<22}");
        let room = inner_w.saturating_sub(fmt::width(&head) + 1);
        let m = if matcher.is_empty() {
            "type one in the filter language".to_owned()
        } else {
            sanitize::line(matcher).into_owned()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {key}"), t.help_key),
            Span::styled(format!("  {what:<22}"), t.text),
            Span::styled(
                fmt::ellipsize(&m, room),
                if matcher.is_empty() {
                    t.dim
                } else {
                    t.filter_prompt
                },
            ),
        ]));
    }
    let p = popup(area, width, lines.len() as u16 + 3);
    frame.render_widget(Clear, p);
    frame.render_widget(
        Paragraph::new(lines).block(block(t, " Silence… ".into(), Mode::SilenceMenu, p.width)),
        p,
    );
}

fn draw_form(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(form) = &app.silences.form else {
        return;
    };
    let title = match &form.purpose {
        FormPurpose::New => " New silence ".to_owned(),
        FormPurpose::EditEnd(id) => format!(" Silence {}: new end ", sanitize::line(id)),
        FormPurpose::EditComment(id) => format!(" Silence {}: comment ", sanitize::line(id)),
    };
    let width = area.width.saturating_sub(8).min(100);
    let inner_w = width.saturating_sub(2) as usize;
    let label_w = 10;
    let mut lines = Vec::new();
    let mut cursor = None;
    for (i, f) in form.fields.iter().enumerate() {
        let focused = i == form.focus;
        let text = sanitize::line(&f.input).into_owned();
        // Long input scrolls so the cursor stays in view.
        let room = inner_w.saturating_sub(label_w + 2);
        let before: String = f.input.chars().take(f.cursor).collect();
        let before_w = fmt::width(&sanitize::line(&before));
        let skip = before_w.saturating_sub(room.saturating_sub(1));
        let shown: String = text.chars().skip(skip).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:>w$} ", f.label, w = label_w - 1),
                if focused {
                    t.filter_prompt.add_modifier(Modifier::BOLD)
                } else {
                    t.dim
                },
            ),
            // A suggestion that typing replaces is shown selected.
            Span::styled(
                fmt::ellipsize(&shown, room),
                if focused && f.suggested {
                    t.text.add_modifier(Modifier::REVERSED)
                } else {
                    t.text
                },
            ),
        ]));
        if focused {
            cursor = Some((i, label_w + 1 + before_w - skip));
        }
    }
    lines.push(Line::raw(""));
    let help = match form.purpose {
        FormPurpose::EditComment(_) => "why it is silenced, for whoever looks next".to_owned(),
        _ => "for: 1h, 2d, 1h30m — or until 2026-12-04T17:00 (UTC)".to_owned(),
    };
    match &form.error {
        Some(e) => lines.push(Line::styled(
            fmt::ellipsize(&format!(" {FAIL} {}", sanitize::line(e)), inner_w),
            t.filter_error,
        )),
        None => lines.push(Line::styled(format!(" {help}"), t.dim)),
    }
    if form.purpose == FormPurpose::New {
        lines.push(Line::styled(
            format!(" by {}", sanitize::line(app.silences.creator_name())),
            t.dim,
        ));
    }
    let p = popup(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, p);
    frame.render_widget(
        Paragraph::new(lines).block(block(t, title, Mode::SilenceForm, p.width)),
        p,
    );
    if let Some((row, col)) = cursor {
        let x = (p.x + 1 + col as u16).min(p.right().saturating_sub(2));
        frame.set_cursor_position(Position::new(x, p.y + 1 + row as u16));
    }
}

/// `active`, `pending` or `expired`, and when it ends or ended.
fn state_of(s: &Silence, now_ms: u64) -> (&'static str, String) {
    if s.active(now_ms) {
        (
            "active",
            format!("in {}", short_duration(s.ends_ms - now_ms)),
        )
    } else if !s.expired(now_ms) {
        (
            "pending",
            format!("starts {}", short_duration(s.starts_ms - now_ms)),
        )
    } else {
        (
            "expired",
            format!("{} ago", short_duration(now_ms - s.ends_ms)),
        )
    }
}

fn draw_list(frame: &mut Frame, app: &App, t: &Theme, area: Rect, now_ms: u64) {
    let rows = app.silence_rows();
    let active = rows.iter().filter(|s| s.active(now_ms)).count() as u64;
    let expired = rows.iter().filter(|s| s.expired(now_ms)).count() as u64;
    let title = format!(
        " Silences · {} active · {} expired · {} failing keys silenced ",
        thousands(active),
        thousands(expired),
        thousands(app.silences.silenced() as u64)
    );
    let width = area.width.saturating_sub(4).min(160);
    let height = area.height.saturating_sub(2);
    let p = popup(area, width, height);
    let b = block(t, title, Mode::SilenceList, p.width);
    let inner = b.inner(p);
    frame.render_widget(Clear, p);
    frame.render_widget(b, p);

    // Above the table: where they are kept, and what just happened.
    let mut head = Vec::new();
    let kept = match app.silences.backing() {
        Some(b) => format!(" kept in {}", sanitize::line(&b.label())),
        None => " kept in memory only (this run)".to_owned(),
    };
    head.push(Line::styled(kept, t.dim));
    for w in [&app.silences.load_warning, &app.silences.save_error()]
        .into_iter()
        .flatten()
    {
        head.push(Line::styled(
            format!(" {}", sanitize::line(w)),
            t.status_warn,
        ));
    }
    if let Some(n) = &app.silences.notice {
        head.push(Line::styled(format!(" {}", sanitize::line(n)), t.count_ok));
    }
    if app.silences.set.pruned() > 0 {
        head.push(Line::styled(
            format!(
                " {} long-expired silences forgotten",
                thousands(app.silences.set.pruned())
            ),
            t.dim,
        ));
    }
    let head_h = (head.len() as u16 + 1).min(inner.height);
    let head_area = Rect {
        height: head_h,
        ..inner
    };
    frame.render_widget(Paragraph::new(head), head_area);
    let table_area = Rect {
        y: inner.y + head_h,
        height: inner.height.saturating_sub(head_h),
        ..inner
    };
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(" No silence yet.", t.text),
                Line::styled(
                    " x on an alert (or a group) silences it, its repo, org or policy, or an expression.",
                    t.dim,
                ),
            ])
            // Wrapped, not cut mid-word at 80 columns.
            .wrap(ratatui::widgets::Wrap { trim: false }),
            table_area,
        );
        return;
    }
    let inner_w = inner.width as usize;
    // state, id, ends, (by when there is room); matcher and comment share
    // the rest, the matcher more.
    let with_by = inner_w >= 100;
    let fixed = 8 + 9 + 12 + if with_by { 13 } else { 0 };
    let rest = inner_w.saturating_sub(fixed + 1);
    let matcher_w = (rest * 3 / 5).max(10);
    let comment_w = rest.saturating_sub(matcher_w + 1);
    let mut titles = vec!["state", "id", "ends", "matcher", "comment"];
    if with_by {
        titles.push("by");
    }
    let header = Row::new(titles).style(t.dim);
    let body = rows.iter().map(|s| {
        let (state, when) = state_of(s, now_ms);
        let active = state == "active";
        let mut cells = vec![
            Cell::from(Span::styled(state, if active { t.count_ok } else { t.dim })),
            Cell::from(sanitize::line(&s.id).into_owned()),
            Cell::from(when),
            Cell::from(Span::styled(
                fmt::ellipsize(&sanitize::line(&s.matcher), matcher_w),
                if active { t.filter_prompt } else { t.dim },
            )),
            Cell::from(fmt::ellipsize(&sanitize::line(&s.comment), comment_w)),
        ];
        if with_by {
            cells.push(Cell::from(fmt::ellipsize(
                &sanitize::line(&s.created_by),
                12,
            )));
        }
        Row::new(cells).style(if active { t.text } else { t.dim })
    });
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(11),
        Constraint::Length(matcher_w as u16),
        Constraint::Length(comment_w as u16),
    ];
    if with_by {
        widths.push(Constraint::Length(12));
    }
    let sel = app.silences.list.map(|i| i.min(rows.len() - 1));
    let table = Table::new(body, widths)
        .header(header)
        .row_highlight_style(t.selected);
    frame.render_stateful_widget(
        table,
        table_area,
        &mut TableState::default().with_selected(sel),
    );
}
