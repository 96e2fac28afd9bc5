//! Pieces several panes share: the pane block, the scroll position in
//! a border, row styles and flashes, names cut to fit.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell};

use crate::forward::Outcome;
use crate::model::Change;
use crate::sanitize;

use super::{FAIL, PASS};
use crate::ui::fmt::{self, thousands};
use crate::ui::keymap::Pane;
use crate::ui::state::{App, FLASH_MS};
use crate::ui::theme::Theme;

/// Inside the borders, minus `header` rows.
pub(super) fn rows_area(area: Rect, header: u16) -> Rect {
    let inner = Block::bordered().inner(area);
    Rect {
        y: inner.y + header.min(inner.height),
        height: inner.height.saturating_sub(header),
        ..inner
    }
}

/// A list's position in its block's bottom border when it does not fit:
/// `↑ 21–40 of 42 ↓`, the arrows saying on which side there is more.
pub(super) fn scroll_title(
    first: usize,
    shown: usize,
    len: usize,
    t: &Theme,
) -> Option<Line<'static>> {
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

/// A block title or hint line for a block `width` wide: whole when it
/// fits between the corners, else cut with `…` (a review found overlay
/// titles and key hints cut mid-word at 40 columns, `scrol`, `.m`).
pub(super) fn fit_title(text: &str, width: u16) -> String {
    let room = (width as usize).saturating_sub(2);
    if fmt::width(text) <= room {
        return text.to_owned();
    }
    let mut cut = fmt::ellipsize(text.trim_end(), room.saturating_sub(1));
    cut.push(' ');
    cut
}

/// Columns a pane `width` wide has for its title beside its name (the
/// corners, the name's padding and a space at the end).
pub(super) fn title_room(pane: Pane, width: u16) -> usize {
    (width as usize).saturating_sub(2 + pane.name().len() + 3)
}

/// A pane's bordered block, its title the pane's name and `extra`, in a
/// pane `width` columns wide. What does not fit between the corners is left
/// out a whole span at a time, from the end, and `…` says so: a title is
/// never cut inside a number (a review read `· 1 silenced / 3` for 378).
pub(super) fn pane_block<'a>(
    app: &App,
    t: &Theme,
    pane: Pane,
    extra: Vec<Span<'a>>,
    width: u16,
) -> Block<'a> {
    let focused = app.focus == pane;
    let mut title = vec![Span::styled(
        format!(" {} ", pane.name()),
        if focused { t.title_focused } else { t.title },
    )];
    let room = (width as usize).saturating_sub(2);
    let total: usize = title[0].width() + extra.iter().map(Span::width).sum::<usize>() + 1;
    if total <= room {
        title.extend(extra);
    } else {
        let mut used = title[0].width();
        for s in extra {
            // Room kept for the `…` and the space after it.
            if used + s.width() + 2 > room {
                title.push(Span::styled("…", t.dim));
                break;
            }
            used += s.width();
            title.push(s);
        }
    }
    if title.len() > 1 {
        title.push(Span::raw(" "));
    }
    Block::bordered()
        .border_style(if focused { t.border_focused } else { t.border })
        .title(Line::from(title))
}

/// The first line of the details as plain one-line text.
pub(super) fn summary(details: &str) -> String {
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
pub(super) fn row_styles(flash: bool, pass: bool, t: &Theme) -> (Style, impl Fn(Style) -> Style) {
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

pub(super) fn status_cell(pass: bool, t: &Theme, st: &impl Fn(Style) -> Style) -> Cell<'static> {
    if pass {
        Cell::from(Span::styled(format!("{PASS} pass"), st(t.pass)))
    } else {
        Cell::from(Span::styled(format!("{FAIL} FAIL"), st(t.fail)))
    }
}

pub(super) fn change_span(change: Change, t: &Theme) -> Span<'static> {
    match change {
        Change::Regressed => Span::styled("regressed", t.regressed),
        Change::Fixed => Span::styled("fixed", t.fixed),
        Change::First => Span::styled("first", t.dim),
        Change::Same => Span::raw(""),
    }
}

/// `org/repo · policy` in `max` columns: the policy is cut first (keeping
/// a few columns of it), then org/repo as [`fmt::org_repo_fit`] cuts it.
pub(super) fn names_fit(org: &str, repo: &str, policy: &str, max: usize) -> String {
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

pub(super) fn org_repo(org: &str, repo: &str) -> String {
    format!("{}/{}", sanitize::line(org), sanitize::line(repo))
}

/// The selected row's style; a flash shows through the selection.
pub(super) fn highlight(t: &Theme, selected_row_flashes: bool) -> Style {
    if selected_row_flashes {
        t.selected.patch(t.flash)
    } else {
        t.selected
    }
}

/// Whether a row flashes: a transition in its first moments, live only (a
/// recording's "now" is its last alert, which would flash for ever).
pub(super) fn flashing(app: &App, change: Change, at_ms: u64, now_ms: u64) -> bool {
    app.info.live && change.is_transition() && at_ms <= now_ms && now_ms - at_ms < FLASH_MS
}

/// How an alert's outcome upstream looks in Details.
pub(super) fn outcome_style(o: &Outcome, t: &Theme) -> Style {
    match o {
        Outcome::Delivered { .. } => t.pass,
        Outcome::Failed { .. } => t.fail,
        Outcome::Dropped(_) => t.count_fail,
        Outcome::Queued | Outcome::InFlight { .. } => t.text,
    }
}

/// A styled line cut to `width` columns, its last column `…` when cut
/// (a cut never looks like the whole text).
pub(super) fn fit_line(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let Line {
        spans: all,
        style,
        alignment,
    } = line;
    let mut spans = Vec::new();
    let mut used = 0;
    for span in all {
        let w = span.width();
        if used + w < width {
            used += w;
            spans.push(span);
            continue;
        }
        // This span reaches the edge, and more follows or it is too wide:
        // keep what fits before the `…`.
        let room = width.saturating_sub(used + 1);
        let mut cut = String::new();
        let mut taken = 0;
        for c in span.content.chars() {
            let cw = fmt::width(c.encode_utf8(&mut [0; 4]));
            if taken + cw > room {
                break;
            }
            taken += cw;
            cut.push(c);
        }
        if width > used {
            cut.push('…');
        }
        spans.push(Span::styled(cut, span.style));
        break;
    }
    Line {
        spans,
        style,
        alignment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_line_ends_in_an_ellipsis_and_keeps_its_styles() {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let line = || {
            Line::from(vec![
                Span::styled("click", bold),
                Span::raw("   focus a pane"),
            ])
        };
        assert_eq!(fit_line(line(), 40), line(), "fits: unchanged");
        let cut = fit_line(line(), 12);
        assert_eq!(cut.width(), 12);
        assert_eq!(cut.to_string(), "click   foc…");
        assert_eq!(cut.spans[0].style, bold);
        // Cut exactly at a span's end, with more after it.
        assert_eq!(fit_line(line(), 5).to_string(), "clic…");
        assert_eq!(fit_line(line(), 6).to_string(), "click…");
        // Wide characters are never split.
        let wide = Line::raw("ab漢字");
        assert_eq!(fit_line(wide, 5).to_string(), "ab漢…");
    }

    #[test]
    fn summaries_are_one_clean_line() {
        assert_eq!(summary("\n\n**Remediation**\n- do it"), "Remediation");
        assert_eq!(summary("- `main` is unprotected"), "main is unprotected");
        assert_eq!(summary("bad\x1b[2Jthing\nmore"), "bad\\x1b[2Jthing");
        assert_eq!(summary(""), "");
    }
}
