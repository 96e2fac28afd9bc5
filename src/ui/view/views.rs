//! The `V` saved-views menu: the views of the config file, numbered, over
//! the panes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::sanitize;

use crate::ui::fmt;
use crate::ui::keymap;
use crate::ui::state::App;
use crate::ui::theme::Theme;

/// Draws the menu over `area` when it is open.
pub(super) fn draw_views_menu(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(menu) = app.views_menu else { return };
    let active = app.active_view_name();
    let name_w = app
        .views
        .iter()
        .map(|v| fmt::width(&sanitize::line(&v.name)))
        .max()
        .unwrap_or(0);
    let expr_w = app
        .views
        .iter()
        .map(|v| fmt::width(&sanitize::line(v.filter.source())))
        .max()
        .unwrap_or(0);
    // Number, mark, name, gap, expression, borders; at least the hints' width.
    let want = (4 + 2 + name_w + 2 + expr_w + 2).max(44) as u16;
    let w = area.width.saturating_sub(4).min(want);
    let h = (app.views.len() as u16 + 2).min(area.height.saturating_sub(2));
    let popup = area.centered(Constraint::Length(w), Constraint::Length(h));
    let inner_w = w.saturating_sub(2) as usize;
    let lines: Vec<Line<'static>> = app
        .views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let num = if i < 9 {
                format!(" {} ", i + 1)
            } else {
                "   ".to_owned()
            };
            let name = sanitize::line(&v.name).into_owned();
            let pad = " ".repeat(name_w.saturating_sub(fmt::width(&name)));
            let mark = if active == Some(v.name.as_str()) {
                "●"
            } else {
                " "
            };
            let head = format!("{num}{mark} {name}{pad}  ");
            let expr = fmt::ellipsize(
                &sanitize::line(v.filter.source()),
                inner_w.saturating_sub(fmt::width(&head)),
            );
            let style = if i == menu.selected {
                t.selected
            } else {
                t.text
            };
            Line::from(vec![
                Span::styled(head, style),
                Span::styled(
                    expr,
                    if i == menu.selected {
                        t.selected
                    } else {
                        t.dim
                    },
                ),
            ])
        })
        .collect();
    let block = Block::bordered()
        .border_style(t.border_focused)
        .title(Line::styled(
            super::common::fit_title(" Saved views · 1–9 or Enter ", w),
            t.title_focused,
        ))
        .title_bottom(Line::styled(
            super::common::fit_title(&keymap::popup_hints(keymap::Mode::Views), w),
            t.footer_text,
        ));
    // Keep the selected row visible in a short terminal.
    let rows = h.saturating_sub(2) as usize;
    let scroll = menu.selected.saturating_sub(rows.saturating_sub(1)) as u16;
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(block),
        popup,
    );
}
