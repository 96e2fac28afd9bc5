//! The `e` export prompt (in the footer's place) and the status bar's
//! pieces for export, copy, open and the bell.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize;

use super::FAIL;
use crate::ui::fmt::{self, thousands};
use crate::ui::keymap::{self, Mode};
use crate::ui::state::App;
use crate::ui::theme::Theme;

pub(super) const EXPORT_LABEL: &str = " export to ";

/// The prompt: the file name, then what will be written (or why not) and
/// the keys.
pub(super) fn draw_export_prompt(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(p) = &app.export_prompt else { return };
    let input = sanitize::line(&p.input).into_owned();
    let line = Line::from(vec![
        Span::styled(EXPORT_LABEL, t.filter_prompt),
        Span::styled(input, t.text),
    ]);
    let indent = " ".repeat(fmt::width(EXPORT_LABEL));
    let second = match &p.error {
        Some(e) => Line::from(vec![
            Span::raw(indent),
            Span::styled(
                fmt::ellipsize(
                    &format!("{FAIL} {}", sanitize::line(e)),
                    (area.width as usize).saturating_sub(fmt::width(EXPORT_LABEL)),
                ),
                t.filter_error,
            ),
        ]),
        None => {
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(
                    format!("{} {} · .csv .jsonl .md", thousands(p.rows as u64), p.noun),
                    t.count_ok,
                ),
                Span::raw("   "),
            ];
            for (key, hint) in keymap::hints(Mode::Export, app.focus) {
                spans.push(Span::styled(key, t.footer_key));
                spans.push(Span::styled(format!(" {hint}  "), t.footer_text));
            }
            Line::from(spans)
        }
    };
    let [input_area, below] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(line), input_area);
    frame.render_widget(Paragraph::new(second), below);
    let before: String = p.input.chars().take(p.cursor).collect();
    let col = fmt::width(EXPORT_LABEL) + fmt::width(&sanitize::line(&before));
    let x = area.x + (col as u16).min(area.width.saturating_sub(1));
    frame.set_cursor_position(Position::new(x, area.y));
}

/// The status bar's spans for export progress and the bell (each after a
/// separator); empty when there is nothing to say. The last message is the
/// footer's (`footer`).
pub(super) fn status_spans(app: &App, t: &Theme) -> Vec<Span<'static>> {
    let base = t.status_bar;
    let warn = t.status_warn;
    let mut out = Vec::new();
    let sep = || Span::styled(" │ ", base);
    if let Some(job) = &app.export_job {
        out.push(sep());
        out.push(Span::styled(
            format!(
                "exporting {}/{} to {}",
                thousands(job.copied as u64),
                thousands(job.total as u64),
                sanitize::line(&job.path)
            ),
            base,
        ));
    }
    let b = &app.bell;
    if b.enabled {
        out.push(sep());
        let style = if b.since_key > 0 { warn } else { base };
        out.push(Span::styled(
            format!("bell {}", thousands(b.since_key)),
            style,
        ));
    } else if b.source.is_some() {
        out.push(sep());
        out.push(Span::styled("bell off", base));
    }
    out
}

/// The footer: the last message whole, wrapped, while it lasts; otherwise
/// the focused pane's keys.
pub(super) fn footer(frame: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let line = match &app.message {
        Some((m, bad)) => Line::from(vec![
            Span::raw(" "),
            Span::styled(
                sanitize::line(m).into_owned(),
                if *bad { t.status_warn } else { t.footer_text },
            ),
        ]),
        None => super::status::hint_line(app.mode(), app.focus, app.info.live, t, area.width),
    };
    frame.render_widget(
        ratatui::widgets::Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}
