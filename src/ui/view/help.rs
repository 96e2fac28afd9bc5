//! The `?` overlay. The keys section is generated from
//! [`keymap::KEYMAP`], the table the event loop dispatches through.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{FAIL, PASS};
use crate::ui::keymap::{self, Context, DETAILS, GROUPS, KEYED, KEYMAP, STREAMS};
use crate::ui::theme::Theme;

/// Sections of the key table: the first column, the second (before the
/// filter language), and the screens' own keys — a third column when the
/// terminal is wide, else after the second; one column shows them all in
/// this order.
pub const SECTIONS: [&[Context]; 3] = [
    &[
        Context::Global,
        Context::Always,
        Context::Panes(GROUPS),
        Context::Panes(STREAMS),
        Context::Panes(DETAILS),
    ],
    &[
        Context::Mouse,
        Context::Prompt,
        Context::Help,
        Context::Refusals,
        Context::Panes(KEYED),
    ],
    &[
        Context::Timeline,
        Context::Rollout,
        Context::SilenceMenu,
        Context::SilenceForm,
        Context::SilenceList,
        Context::ExportPrompt,
        Context::ViewsMenu,
    ],
];

/// From this inner width on, the help has three columns.
const THREE_COLUMNS: u16 = 200;

const KEY_WIDTH: usize = 13;

fn heading(text: &str, t: &Theme) -> Line<'static> {
    Line::styled(text.to_owned(), t.title.add_modifier(Modifier::BOLD))
}

fn row(key: &str, text: &str, t: &Theme) -> Line<'static> {
    row_w(key, text, KEY_WIDTH, t)
}

fn row_w(key: &str, text: &str, width: usize, t: &Theme) -> Line<'static> {
    let pad = width.saturating_sub(Span::raw(key).width());
    Line::from(vec![
        Span::raw("  "),
        Span::styled(key.to_owned(), t.help_key),
        Span::raw(" ".repeat(pad + 1)),
        Span::styled(text.to_owned(), t.help_text),
    ])
}

/// The bindings of the key table in `sections`; without `live` (`open`),
/// not the keys that only mean something while listening.
pub fn key_lines(sections: &[Context], t: &Theme, live: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for &ctx in sections {
        let rows: Vec<_> = KEYMAP
            .iter()
            .filter(|b| b.context == ctx && (live || !b.action.live_only()))
            .collect();
        if rows.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(heading(ctx.title(), t));
        for b in rows {
            out.push(row(&b.label(), b.description, t));
        }
    }
    out
}

/// The filter language and how filtering applies to the panes.
pub fn reference_lines(t: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![heading(
        "Filter language (all terms must match, any case)",
        t,
    )];
    for (k, d) in [
        ("org:ossf", "owner; globs: * any run, ? one char"),
        ("org:ossf,acme", "any of these (every field)"),
        ("repo:score*", "repo name, or owner/name"),
        ("repo:/^s/", "regex in that field"),
        ("policy:\"Branch Protection\"", ""),
        ("", "policy name (quote spaces)"),
        ("status:fail", "failing (status:pass: passing)"),
        ("change:regressed", "also fixed, first, same, transition"),
        ("age<15m", "received within 15m (ms s m h d; < <= > >=)"),
        ("word \"a phrase\"", "substring of any name or the details"),
        ("/regex/", "regex in any name or the details"),
        ("-term", "negates a term (or a group)"),
        ("a or b", "either; ( ) group, AND binds tighter"),
    ] {
        out.push(row_w(k, d, 17, t));
    }
    out.push(Line::raw(""));
    out.push(heading("How the panes follow filter and narrowing", t));
    for line in [
        "Alerts and Transitions show the matching alerts.",
        "Orgs, Repos and Policies list the groups that have a",
        "matching key, judged by its latest alert; counts are",
        "failing/total of those keys. Each applies the other",
        "levels' narrowing but not its own (▸ marks it), so you",
        "can switch to a sibling with Enter.",
        "f adds status:fail, except in Transitions: a fix",
        "is news, so it stays listed and counted.",
        "Space pauses Alerts and Transitions; counts go on.",
    ] {
        out.push(Line::styled(format!("  {line}"), t.help_text));
    }
    out.push(Line::raw(""));
    out.push(heading("Symbols", t));
    out.push(Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("{FAIL} FAIL"), t.fail),
        Span::styled("  failing    ", t.help_text),
        Span::styled(format!("{PASS} pass"), t.pass),
        Span::styled("  passing", t.help_text),
    ]));
    out.push(Line::from(vec![
        Span::raw("  "),
        Span::styled("regressed", t.regressed),
        Span::styled(" pass→fail  ", t.help_text),
        Span::styled("fixed", t.fixed),
        Span::styled(" fail→pass  ", t.help_text),
        Span::styled("new", t.flash),
        Span::styled(" for 2 s", t.help_text),
    ]));
    out.push(Line::styled(
        if crate::ui::fmt::utc() {
            "  Times are UTC (--utc)."
        } else {
            "  Times are local; --utc shows UTC."
        },
        t.help_text,
    ));
    out
}

/// Draws the overlay over `area`; returns the largest useful scroll.
pub fn draw(frame: &mut Frame, t: &Theme, area: Rect, scroll: u16, live: bool) -> u16 {
    let w = area.width.saturating_sub(4).min(240);
    let h = area.height.saturating_sub(2);
    let popup = area.centered(Constraint::Length(w), Constraint::Length(h));
    let block = Block::bordered()
        .border_style(t.border_focused)
        .title(Line::styled(" Help · sinkwatch keys ", t.title_focused))
        .title_bottom(Line::styled(
            super::common::fit_title(&keymap::popup_hints(keymap::Mode::Help), w),
            t.footer_text,
        ));
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    // The block is drawn once the columns are measured: its bottom border
    // says where the help is scrolled to (`↑ 21–40 of 97 ↓`).
    let (max, longest) = columns(frame, t, inner, scroll, live);
    let shown = inner.height as usize;
    let block = match super::common::scroll_title(scroll.min(max) as usize, shown, longest, t) {
        Some(at) => block.title_bottom(at),
        None => block,
    };
    frame.render_widget(block, popup);
    max
}

/// Draws the help's columns in `inner`; returns the largest useful scroll
/// and the longest column's lines.
fn columns(frame: &mut Frame, t: &Theme, inner: Rect, scroll: u16, live: bool) -> (u16, usize) {
    let keys = key_lines(SECTIONS[0], t, live);
    let screens = key_lines(SECTIONS[2], t, live);
    let height = inner.height as usize;
    if inner.width >= THREE_COLUMNS {
        let mut reference = key_lines(SECTIONS[1], t, live);
        reference.push(Line::raw(""));
        reference.extend(reference_lines(t));
        let [left, _, middle, _, right] = Layout::horizontal([
            Constraint::Length(66),
            Constraint::Length(2),
            Constraint::Fill(1),
            Constraint::Length(2),
            Constraint::Fill(1),
        ])
        .areas(inner);
        let longest = keys.len().max(reference.len()).max(screens.len());
        let max = longest.saturating_sub(height) as u16;
        let s = scroll.min(max);
        column(frame, keys, left, s);
        column(frame, reference, middle, s);
        column(frame, screens, right, s);
        return (max, longest);
    }
    let mut reference = key_lines(SECTIONS[1], t, live);
    reference.push(Line::raw(""));
    reference.extend(screens);
    reference.push(Line::raw(""));
    reference.extend(reference_lines(t));
    if inner.width >= 110 {
        let [left, _, right] = Layout::horizontal([
            Constraint::Length(66),
            Constraint::Length(2),
            Constraint::Fill(1),
        ])
        .areas(inner);
        let longest = keys.len().max(reference.len());
        let max = longest.saturating_sub(height) as u16;
        let s = scroll.min(max);
        column(frame, keys, left, s);
        column(frame, reference, right, s);
        (max, longest)
    } else {
        let mut all = keys;
        all.push(Line::raw(""));
        all.extend(reference);
        let longest = all.len();
        let max = longest.saturating_sub(height) as u16;
        let s = scroll.min(max);
        column(frame, all, inner, s);
        (max, longest)
    }
}

/// One column of the help, scrolled; a line longer than the column ends in
/// `…` rather than stopping mid-word at its edge.
fn column(frame: &mut Frame, lines: Vec<Line<'static>>, area: Rect, scroll: u16) {
    let width = usize::from(area.width);
    let lines: Vec<Line<'static>> = lines
        .into_iter()
        .map(|l| super::common::fit_line(l, width))
        .collect();
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), area);
}
