//! The refusals view (`R`, or a click on the status bar's `refused N`):
//! counts by reason and the recent refusals with time, peer and what the
//! sender was told (which names the field). The refused request's content
//! is never kept, so it cannot be shown.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::hub::{Hub, RECENT_REFUSALS};
use crate::sanitize;

use crate::ui::fmt::{self, ago, clock, thousands};
use crate::ui::keymap;
use crate::ui::theme::Theme;

/// Narrower than this beside its refusal's line, what the sender was told
/// goes under it instead, wrapped.
const DETAIL_BESIDE: usize = 40;
/// At most this many lines of it (the messages are one sentence or two).
const DETAIL_LINES: usize = 4;

/// The view's lines: counts by reason, then the recent refusals.
pub fn lines(hub: &Hub, t: &Theme, now_ms: u64, width: usize, remote: bool) -> Vec<Line<'static>> {
    let by_reason = hub.refused_by_reason();
    let mut out = Vec::new();
    if remote {
        // A viewer's alerts come over Watch: what the sinks refused never
        // reaches it.
        // Wrapped here: the view scrolls by these lines (a review saw it
        // cut at 120 columns).
        let text = "Each sink counts the requests it refuses: see its stats line, its metrics \
                    (sinkwatch_alerts_refused_total) or R in its own TUI.";
        for l in super::text::wrap_words(text, width.saturating_sub(1), 8) {
            out.push(Line::styled(format!(" {l}"), t.dim));
        }
        return out;
    }
    if by_reason.is_empty() {
        out.push(Line::styled(" No request has been refused.", t.dim));
        return out;
    }
    out.push(Line::styled(" By reason", t.title));
    let name_w = by_reason.keys().map(|k| k.len()).max().unwrap_or(0);
    for (reason, n) in &by_reason {
        out.push(Line::from(vec![
            Span::styled(format!("   {reason:<name_w$}  "), t.text),
            Span::styled(format!("{:>9}", thousands(*n)), t.status_warn),
        ]));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        format!(
            " Recent, newest first (the last {RECENT_REFUSALS} are kept; content is never kept)"
        ),
        t.title,
    ));
    for r in hub.recent_refusals() {
        let peer = r.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let head = format!(
            "   {} {:>4}  {:<21}  {:<name_w$}  ",
            clock(r.at_ms),
            ago(now_ms, r.at_ms),
            peer,
            r.reason.as_str()
        );
        let room = width.saturating_sub(fmt::width(&head));
        let detail = r.detail.as_deref().map(sanitize::line).unwrap_or_default();
        if room >= DETAIL_BESIDE || fmt::width(&detail) <= room {
            out.push(Line::from(vec![
                Span::styled(head, t.text),
                Span::styled(fmt::ellipsize(&detail, room), t.dim),
            ]));
            continue;
        }
        // Narrow: what the sender was told under its line, whole (a
        // user's review could not read it at 80 columns).
        out.push(Line::styled(head, t.text));
        let indent = "     ";
        let wrap = width.saturating_sub(indent.len());
        for l in super::text::wrap_words(&detail, wrap, DETAIL_LINES) {
            out.push(Line::styled(format!("{indent}{l}"), t.dim));
        }
    }
    out
}

/// Draws the view over `area`; returns the largest useful scroll.
pub fn draw(
    frame: &mut Frame,
    t: &Theme,
    area: Rect,
    hub: &Hub,
    now_ms: u64,
    scroll: u16,
    remote: bool,
) -> u16 {
    let w = area.width.saturating_sub(4).min(150);
    let h = area.height.saturating_sub(2);
    let popup = area.centered(Constraint::Length(w), Constraint::Length(h));
    let block = Block::bordered()
        .border_style(t.border_focused)
        .title(Line::styled(
            super::common::fit_title(
                &if remote {
                    // A viewer has no count of its own (it said `· 0`).
                    " Refused requests ".to_owned()
                } else {
                    format!(" Refused requests · {} ", thousands(hub.refused_total()))
                },
                w,
            ),
            t.title_focused,
        ))
        .title_bottom(Line::styled(
            super::common::fit_title(&keymap::popup_hints(keymap::Mode::Refusals), w),
            t.footer_text,
        ));
    let inner = block.inner(popup);
    let all = lines(hub, t, now_ms, inner.width as usize, remote);
    let max = all.len().saturating_sub(inner.height as usize) as u16;
    let s = scroll.min(max);
    // Where the view is scrolled to, as the help and the lists say it.
    let block = match super::common::scroll_title(s as usize, inner.height as usize, all.len(), t) {
        Some(at) => block.title_bottom(at),
        None => block,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(all).scroll((s, 0)).block(block), popup);
    max
}
