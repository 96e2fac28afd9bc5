//! The key timeline screen (`t`): a summary with the flips (flapping made
//! visible), a strip of the latest statuses, where the alerts came from,
//! then the runs (newest first) beside what the selected run shows: the
//! text it failed with, each change of its details as a line diff, or for
//! a pass run what was failing before it.
//!
//! Everything drawn is prepared in `ui/state/timeline.rs`; a frame only
//! lays out the visible runs and the selected run's notes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::model::timeline::{Diff, LineKind, Run};
use crate::sanitize;

use super::common::org_repo;
use super::details::wrapped_rows;
use super::{FAIL, PASS};
use crate::ui::fmt::{self, clock, date_time, plural, thousands};
use crate::ui::state::{Note, Older, TimelineState};
use crate::ui::theme::Theme;

/// Flips within this window before the key is called flapping.
pub const FLAP_WINDOW_MS: u64 = 60 * 60 * 1000;
/// Flips within [`FLAP_WINDOW_MS`] that make a key flapping.
pub const FLAP_FLIPS: usize = 3;
const DAY_MS: u64 = 86_400_000;
/// Width of the runs list.
const RUNS_WIDTH: u16 = 40;

/// A duration in two units: `45s`, `12m05s`, `2h13m`, `3d04h`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

/// When a run started: the time of day within a day of now, else the date
/// too (`11-25 21:00`); 11 columns when `wide` (a list with dates), else 8.
fn when(at_ms: u64, now_ms: u64, wide: bool) -> String {
    if now_ms.saturating_sub(at_ms) < DAY_MS {
        let w = if wide { 11 } else { 8 };
        format!("{:>w$}", clock(at_ms))
    } else {
        let d = date_time(at_ms);
        d.get(5..16).unwrap_or(&d).to_owned()
    }
}

fn status(pass: bool, t: &Theme) -> Span<'static> {
    if pass {
        Span::styled(format!("{PASS} pass"), t.pass)
    } else {
        Span::styled(format!("{FAIL} fail"), t.fail)
    }
}

/// Draws the screen over `area` (the footer below lists its keys); returns
/// the notes' scroll, clamped.
pub fn draw(frame: &mut Frame, t: &Theme, area: Rect, tl: &TimelineState, now_ms: u64) -> u16 {
    let (o, r, p) = &tl.names;
    // The key whole when it fits; else cut with `…`, the policy kept
    // first (a review: at 40 columns it went with no sign of it).
    let names = format!("{} · {} ", org_repo(o, r), sanitize::line(p));
    let room = (area.width as usize).saturating_sub(2 + fmt::width(" Timeline · "));
    let names = if fmt::width(&names) <= room {
        names
    } else {
        let policy = sanitize::line(p);
        let mut short = fmt::ellipsize(
            &format!("{policy} · {}", org_repo(o, r)),
            room.saturating_sub(1),
        );
        short.push(' ');
        short
    };
    let block = Block::bordered()
        .border_style(t.border_focused)
        .title(Line::from(vec![
            Span::styled(" Timeline · ", t.title_focused),
            Span::styled(names, t.title_focused.add_modifier(Modifier::BOLD)),
        ]));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let [head, body] = Layout::vertical([Constraint::Length(4), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(head_lines(tl, t, head.width, now_ms)), head);

    let runs_w = RUNS_WIDTH.min(body.width / 2);
    let [left, right] =
        Layout::horizontal([Constraint::Length(runs_w), Constraint::Min(1)]).areas(body);
    draw_runs(frame, tl, t, left, now_ms);
    draw_notes(frame, tl, t, right, now_ms)
}

/// The summary, the strip and where the alerts came from.
fn head_lines(tl: &TimelineState, t: &Theme, width: u16, now_ms: u64) -> Vec<Line<'static>> {
    let tm = &tl.timeline;
    let mut out = Vec::new();
    let Some(last) = tm.runs().last() else {
        out.push(Line::styled(
            " No alert of this key is in the history ring.",
            t.dim,
        ));
        out.push(older_line(tl, t));
        return out;
    };
    let i = tm.runs().len() - 1;
    let (word, style) = if last.pass {
        (format!("{PASS} passing"), t.pass)
    } else {
        (format!("{FAIL} failing"), t.fail)
    };
    let mut summary = vec![
        Span::raw(" "),
        Span::styled(word, style.add_modifier(Modifier::BOLD)),
        Span::styled(
            format!(
                " for {} (since {})",
                duration(tm.duration_ms(i, now_ms)),
                when(last.start_ms, now_ms, false).trim_start()
            ),
            t.text,
        ),
    ];
    let recent = tm.flips_since(now_ms.saturating_sub(FLAP_WINDOW_MS));
    if recent >= FLAP_FLIPS {
        summary.push(Span::styled(
            format!(" · flapping: {recent} flips in the last hour"),
            t.status_warn,
        ));
    } else if recent > 0 {
        summary.push(Span::styled(
            format!(
                " · {} in the last hour",
                plural(recent as u64, "flip", "flips")
            ),
            t.dim,
        ));
    }
    out.push(Line::from(summary));
    let counts = format!(
        " {} · {} · {} · {} · held since {}",
        plural(tm.alerts().len() as u64, "alert", "alerts"),
        plural(tm.runs().len() as u64, "run", "runs"),
        plural(tm.flips() as u64, "flip", "flips"),
        plural(
            tm.changes().len() as u64,
            "details change",
            "details changes"
        ),
        tm.alerts()
            .first()
            .map_or_else(String::new, |a| when(a.at_ms, now_ms, true)
                .trim_start()
                .to_owned()),
    );
    out.push(Line::styled(
        crate::ui::fmt::ellipsize(&counts, width as usize),
        t.dim,
    ));

    // The strip: one cell per alert, oldest left; a tall bar fails, a low
    // one passes, so it reads without colour too.
    let label = " latest ";
    let room = (width as usize).saturating_sub(label.len() + 1);
    let cells: Vec<bool> = tm.strip(room).collect();
    let mut strip = vec![Span::styled(label, t.dim)];
    let mut run: Option<(bool, String)> = None;
    for pass in cells {
        match &mut run {
            Some((p, s)) if *p == pass => s.push(if pass { '▁' } else { '█' }),
            _ => {
                if let Some((p, s)) = run.take() {
                    strip.push(Span::styled(s, if p { t.pass } else { t.fail }));
                }
                run = Some((pass, String::from(if pass { '▁' } else { '█' })));
            }
        }
    }
    if let Some((p, s)) = run {
        strip.push(Span::styled(s, if p { t.pass } else { t.fail }));
    }
    out.push(Line::from(strip));

    out.push(older_line(tl, t));
    out
}

/// Where the alerts came from: the ring, and the durable state.
fn older_line(tl: &TimelineState, t: &Theme) -> Line<'static> {
    let ring = format!(
        " {} from the history ring",
        plural(tl.from_ring as u64, "alert", "alerts")
    );
    let (state, style) = match &tl.older {
        Older::Off => (
            " · no durable state: older alerts are not kept".to_owned(),
            t.dim,
        ),
        Older::Loading(_) => (" · reading older alerts from the state…".to_owned(), t.dim),
        Older::Loaded {
            alerts,
            more,
            texts_left_out,
        } => {
            let mut s = if *alerts == 0 {
                " · nothing older in the state".to_owned()
            } else {
                format!(" · {} older from the state", thousands(*alerts as u64))
            };
            if *more > 0 {
                s.push_str(&format!(" ({} older still not read)", thousands(*more)));
            }
            if *texts_left_out > 0 {
                s.push_str(&format!(
                    " ({} not read: too large)",
                    plural(*texts_left_out, "text", "texts")
                ));
            }
            (s, t.dim)
        }
        Older::Failed(e) => (format!(" · {}", sanitize::line(e)), t.status_warn),
    };
    let mut dropped = String::new();
    if tl.timeline.dropped() > 0 {
        dropped = format!(" · {} oldest dropped", thousands(tl.timeline.dropped()));
    }
    Line::from(vec![
        Span::styled(ring, t.dim),
        Span::styled(state, style),
        Span::styled(dropped, t.status_warn),
    ])
}

fn run_row(tl: &TimelineState, i: usize, r: &Run, t: &Theme, now_ms: u64) -> Line<'static> {
    // Dates only when the list reaches back more than a day.
    let wide = tl
        .timeline
        .runs()
        .first()
        .is_some_and(|f| now_ms.saturating_sub(f.start_ms) >= DAY_MS);
    let mut spans = vec![
        status(r.pass, t),
        Span::styled(format!(" {}", when(r.start_ms, now_ms, wide)), t.text),
        Span::styled(
            format!(" {:>7}", duration(tl.timeline.duration_ms(i, now_ms))),
            t.text,
        ),
        Span::styled(format!(" {:>6}×", thousands(r.len as u64)), t.dim),
    ];
    if r.changes > 0 {
        spans.push(Span::styled(format!(" Δ{}", r.changes), t.md_heading));
    }
    Line::from(spans)
}

fn draw_runs(frame: &mut Frame, tl: &TimelineState, t: &Theme, area: Rect, now_ms: u64) {
    let block = Block::new()
        .borders(ratatui::widgets::Borders::TOP | ratatui::widgets::Borders::RIGHT)
        .border_style(t.border)
        .title(Span::styled(" Runs, newest first ", t.title));
    let rows = block.inner(area);
    frame.render_widget(block, area);
    let runs = tl.timeline.runs();
    let Some(sel) = tl.selected_run() else {
        return;
    };
    let h = rows.height as usize;
    // Newest first: list position p is run len-1-p.
    let sel_pos = runs.len() - 1 - sel;
    let first = sel_pos.saturating_sub(h.saturating_sub(1));
    let lines: Vec<Line> = (first..runs.len().min(first + h))
        .map(|p| {
            let i = runs.len() - 1 - p;
            let mut line = run_row(tl, i, &runs[i], t, now_ms);
            if p == sel_pos {
                line = line.patch_style(t.selected);
                line.spans.insert(0, Span::styled("▶", t.selected));
            } else {
                line.spans.insert(0, Span::raw(" "));
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rows);
}

fn text_lines(text: &str, t: &Theme, out: &mut Vec<Line<'static>>) {
    if text.trim().is_empty() {
        out.push(Line::styled("  (no details were sent)", t.dim));
        return;
    }
    for l in text.lines() {
        out.push(Line::styled(format!("  {}", sanitize::line(l)), t.text));
    }
}

fn diff_lines(d: &Diff, t: &Theme, out: &mut Vec<Line<'static>>) {
    if d.too_long {
        out.push(Line::styled(
            "  (too long for a line diff; the whole text is in Details)",
            t.dim,
        ));
        return;
    }
    for l in &d.lines {
        let (mark, style) = match l.kind {
            LineKind::Same => (' ', t.dim),
            LineKind::Removed => ('-', t.fail),
            LineKind::Added => ('+', t.pass),
            LineKind::Gap => {
                out.push(Line::styled("  ⋯", t.dim));
                continue;
            }
        };
        out.push(Line::styled(
            format!("{mark} {}", sanitize::line(&l.text)),
            style,
        ));
    }
}

fn note_lines(tl: &TimelineState, t: &Theme, now_ms: u64) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let tm = &tl.timeline;
    let Some(i) = tl.selected_run() else {
        return out;
    };
    let r = tm.runs()[i];
    let end = match tm.runs().get(i + 1) {
        Some(n) => when(n.start_ms, now_ms, false).trim_start().to_owned(),
        None => "now".to_owned(),
    };
    out.push(Line::from(vec![
        status(r.pass, t).patch_style(Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(
            format!(
                " run · {} → {end} · {} · {}",
                when(r.start_ms, now_ms, false).trim_start(),
                duration(tm.duration_ms(i, now_ms)),
                plural(r.len as u64, "alert", "alerts"),
            ),
            t.text,
        ),
    ]));
    let at = |seq: &u64, at_ms: &u64| format!("#{} at {}", thousands(*seq), clock(*at_ms));
    for n in tl.notes() {
        out.push(Line::raw(""));
        match n {
            Note::Text { seq, at_ms, text } => {
                out.push(Line::styled(
                    format!("{FAIL} failing since {}:", at(seq, at_ms)),
                    t.fail,
                ));
                text_lines(text, t, &mut out);
            }
            Note::Same { seq, at_ms, from } => out.push(Line::styled(
                format!(
                    "{} failed with the same details as the failure before (#{})",
                    at(seq, at_ms),
                    thousands(*from)
                ),
                t.dim,
            )),
            Note::Changed {
                seq,
                at_ms,
                from,
                diff,
            } => {
                out.push(Line::from(vec![
                    Span::styled(
                        format!(
                            "Δ details changed {} (from #{}): ",
                            at(seq, at_ms),
                            thousands(*from)
                        ),
                        t.md_heading,
                    ),
                    Span::styled(format!("+{}", diff.added), t.pass),
                    Span::styled(" ", t.dim),
                    Span::styled(format!("−{}", diff.removed), t.fail),
                ]));
                diff_lines(diff, t, &mut out);
            }
            Note::WasFailing { seq, at_ms, text } => {
                out.push(Line::styled(
                    format!("{PASS} fixed; what was failing, {}:", at(seq, at_ms)),
                    t.pass,
                ));
                text_lines(text, t, &mut out);
            }
            Note::More(k) => out.push(Line::styled(
                format!(
                    "({} earlier in this run not shown)",
                    plural(*k as u64, "change", "changes")
                ),
                t.dim,
            )),
        }
    }
    if r.pass && tl.notes().is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled(
            "(no failure of this key is held before it)",
            t.dim,
        ));
    }
    out
}

fn draw_notes(frame: &mut Frame, tl: &TimelineState, t: &Theme, area: Rect, now_ms: u64) -> u16 {
    let block = Block::new()
        .borders(ratatui::widgets::Borders::TOP)
        .border_style(t.border)
        .title(Span::styled(" Selected run ", t.title));
    let inner = block.inner(area);
    let inner = Rect {
        x: inner.x + 1,
        width: inner.width.saturating_sub(1),
        ..inner
    };
    frame.render_widget(block, area);
    let lines = note_lines(tl, t, now_ms);
    let total: usize = lines
        .iter()
        .map(|l| wrapped_rows(l, inner.width as usize))
        .sum();
    let max = total
        .saturating_sub(inner.height as usize)
        .min(u16::MAX as usize) as u16;
    let scroll = tl.scroll.min(max);
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
    scroll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_two_units() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(725_000), "12m05s");
        assert_eq!(duration(2 * 3_600_000 + 13 * 60_000), "2h13m");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
    }
}
