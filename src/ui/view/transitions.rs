//! The Transitions pane: regressions and fixes, newest first.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::model::Change;
use crate::model::store::Transition;

use super::common::{flashing, highlight, names_fit, pane_block};
use super::{FAIL, PASS};
use crate::ui::fmt::{self, ago, clock};
use crate::ui::keymap::Pane;
use crate::ui::state::{App, RECENT_MS};
use crate::ui::theme::Theme;

/// A transition of a visible window with its names.
pub(super) type TransRow = (Transition, Arc<str>, Arc<str>, Arc<str>);

/// Regressions and fixes in the last 15 minutes, as counted in the ring.
pub(super) struct Recent {
    pub regressed: u64,
    pub fixed: u64,
    /// False when the ring (10,000 transitions) no longer reaches back 15
    /// minutes: the counts are a lower bound, shown with a `+`.
    pub complete: bool,
}

pub(super) fn count_recent(index: &crate::ui::index::Index, now_ms: u64) -> Recent {
    let since = now_ms.saturating_sub(RECENT_MS);
    let (mut regressed, mut fixed) = (0, 0);
    for t in index
        .transitions()
        .iter()
        .rev()
        .take_while(|t| t.at_ms >= since)
    {
        match t.change {
            Change::Regressed => regressed += 1,
            Change::Fixed => fixed += 1,
            _ => {}
        }
    }
    Recent {
        regressed,
        fixed,
        complete: index.transitions_cover(since),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn draw_transitions(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[TransRow],
    (sel, scroll): (Option<usize>, Option<Line<'static>>),
    recent: &Recent,
    now_ms: u64,
) {
    let wide = area.width >= 52;
    let (regressed, fixed) = (recent.regressed, recent.fixed);
    let r_style = if regressed > 0 { t.count_fail } else { t.title };
    let f_style = if fixed > 0 { t.count_ok } else { t.title };
    // At least this many, when older ones in the window were let go.
    let more = if recent.complete { "" } else { "+" };
    let (r, f) = (fmt::thousands(regressed), fmt::thousands(fixed));
    // What fits beside the pane's name: a title is never cut, and a count
    // cut short would read as a smaller one (`✓1,` for 1,378).
    let room = (area.width as usize).saturating_sub(2 + Pane::Transitions.name().len() + 3);
    let long = [
        Span::styled(format!("{r}{more} regressed"), r_style),
        Span::styled(" / ", t.title),
        Span::styled(format!("{f}{more} fixed"), f_style),
        Span::styled(" in last 15m", t.title),
    ];
    let title = if wide && long.iter().map(Span::width).sum::<usize>() <= room {
        long.to_vec()
    } else {
        let fail = format!("{FAIL}{r}{more}");
        let pass = format!("{PASS}{f}{more}");
        let both = fmt::width(&fail) + 1 + fmt::width(&pass);
        let mut v = Vec::new();
        if both <= room {
            v.push(Span::styled(fail, r_style));
            v.push(Span::styled(" ", t.title));
            v.push(Span::styled(pass, f_style));
            if both + 7 <= room {
                v.push(Span::styled(" in 15m", t.title));
            }
        } else if fmt::width(&fail) <= room {
            // The fixes do not fit: said to be there (a review read the
            // title as all there was).
            let cut = fmt::width(&fail) + 2 <= room;
            v.push(Span::styled(fail, r_style));
            if cut {
                v.push(Span::styled(" …", t.title));
            }
        }
        v
    };
    let mut block = pane_block(app, t, Pane::Transitions, title, area.width);
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
    if two_lines(area) {
        draw_two_line_rows(frame, app, t, area, rows, block, (sel, now_ms));
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
        let look = Look::of(app, tr, t, now_ms);
        let st = |s: Style| look.cell(s);
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
        look.row(Row::new(cells))
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
    render(
        frame,
        app,
        t,
        area,
        rows,
        Table::new(table_rows, widths).block(block),
        (sel, now_ms),
    );
}

/// How one transition's row looks: flashing (news), dimmed (a regression
/// of a silenced key), or plain.
struct Look<'t> {
    flash: bool,
    dim: bool,
    t: &'t Theme,
}

impl<'t> Look<'t> {
    fn of(app: &App, tr: &Transition, t: &'t Theme, now_ms: u64) -> Look<'t> {
        let flash = flashing(app, tr.change, tr.at_ms, now_ms);
        // A regression of a silenced key is dimmed (unless it flashes).
        let dim = !flash && tr.change == Change::Regressed && app.silences.key_silenced(tr.key);
        Look { flash, dim, t }
    }

    /// A cell's own style: none while the row flashes, dim when dimmed.
    fn cell(&self, s: Style) -> Style {
        if self.flash {
            Style::new()
        } else if self.dim {
            self.t.dim
        } else {
            s
        }
    }

    fn row<'a>(&self, row: Row<'a>) -> Row<'a> {
        row.style(if self.flash {
            self.t.flash
        } else if self.dim {
            self.t.dim
        } else {
            self.t.text
        })
    }
}

/// Draws the table of `rows` with the selection highlighted while the
/// pane (or Details from it) has the focus.
fn render(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[TransRow],
    table: Table<'_>,
    (sel, now_ms): (Option<usize>, u64),
) {
    let highlight_row = if app.focus == Pane::Transitions || app.details_from == Pane::Transitions {
        sel
    } else {
        None
    };
    let table = table.row_highlight_style(highlight(
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

/// Below this width a transition takes two lines (see [`two_lines`]).
const TWO_LINES_BELOW: u16 = 30;

/// Whether the pane in `area` shows each transition on two lines: its
/// names whole on the first, its policy on the second. At 80×24 the pane
/// is 25 columns, where one line cut both to `os…/pac… · OpenS…`.
pub(super) fn two_lines(area: Rect) -> bool {
    area.width < TWO_LINES_BELOW && area.height >= 6
}

/// The rows of a narrow pane: symbol, names and age; under them the
/// policy.
fn draw_two_line_rows(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[TransRow],
    block: ratatui::widgets::Block<'_>,
    (sel, now_ms): (Option<usize>, u64),
) {
    use ratatui::text::Text;
    // Borders 2, symbol 1, age 3, two column gaps.
    let names_w = (area.width as usize).saturating_sub(2 + 1 + 3 + 2);
    let table_rows = rows.iter().map(|(tr, o, r, p)| {
        let look = Look::of(app, tr, t, now_ms);
        let st = |s: Style| look.cell(s);
        let (sym, style) = match tr.change {
            Change::Regressed => (FAIL, st(t.regressed)),
            _ => (PASS, st(t.fixed)),
        };
        let names = fmt::org_repo_fit(
            &crate::sanitize::line(o),
            &crate::sanitize::line(r),
            names_w,
        );
        let policy = fmt::ellipsize(&crate::sanitize::line(p), names_w);
        let cells = vec![
            Cell::from(Span::styled(sym, style)),
            Cell::from(Text::from(vec![
                Line::raw(names),
                Line::styled(policy, st(t.dim)),
            ])),
            Cell::from(Line::styled(ago(now_ms, tr.at_ms), st(t.dim)).right_aligned()),
        ];
        look.row(Row::new(cells).height(2))
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(3),
    ];
    render(
        frame,
        app,
        t,
        area,
        rows,
        Table::new(table_rows, widths).block(block),
        (sel, now_ms),
    );
}
