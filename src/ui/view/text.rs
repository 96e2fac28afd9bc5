//! Text utilities: display widths, cutting, packing and word wrapping.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::ui::theme::Theme;

/// Display width of a string.
pub(super) fn width_of(s: &str) -> usize {
    Span::raw(s).width()
}

/// `spans` cut to `max` columns, ending in `…`.
pub(super) fn cut_spans(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    let room = max.saturating_sub(1);
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = s.width();
        if used + w <= room {
            used += w;
            out.push(s);
            continue;
        }
        let mut text = String::new();
        for c in s.content.chars() {
            let cw = width_of(c.encode_utf8(&mut [0; 4]));
            if used + cw > room {
                break;
            }
            used += cw;
            text.push(c);
        }
        text.push('…');
        out.push(Span::styled(text, s.style));
        return out;
    }
    out
}

/// Lays segments out as `a · b · c` lines of at most `width` columns, the
/// first line indented by `first` columns and the others by `rest`; a
/// segment wider than a line is cut with `…`.
pub(super) fn pack(
    segs: Vec<Vec<Span<'static>>>,
    width: usize,
    (first, rest): (usize, usize),
    t: &Theme,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut cur = vec![Span::raw(" ".repeat(first))];
    let mut used = first;
    let mut empty = true;
    for seg in segs {
        let w: usize = seg.iter().map(Span::width).sum();
        if !empty && used + 3 + w > width {
            lines.push(Line::from(std::mem::take(&mut cur)));
            cur = vec![Span::raw(" ".repeat(rest))];
            used = rest;
            empty = true;
        }
        if !empty {
            cur.push(Span::styled(" · ", t.dim));
            used += 3;
        }
        let seg = if used + w > width {
            cut_spans(seg, width.saturating_sub(used))
        } else {
            seg
        };
        used += seg.iter().map(Span::width).sum::<usize>();
        cur.extend(seg);
        empty = false;
    }
    if !empty {
        lines.push(Line::from(cur));
    }
    lines
}

/// `text` word-wrapped to `width` columns in at most `max` lines (long
/// words broken; the last line ends in `…` when text was left out).
pub(super) fn wrap_words(text: &str, width: usize, max: usize) -> Vec<String> {
    let width = width.max(2);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let w = width_of(word);
        if used > 0 && used + 1 + w > width {
            lines.push(std::mem::take(&mut cur));
            used = 0;
        }
        if used > 0 {
            cur.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let cw = width_of(c.encode_utf8(&mut [0; 4]));
            if used + cw > width {
                lines.push(std::mem::take(&mut cur));
                used = 0;
            }
            cur.push(c);
            used += cw;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && width_of(last) + 1 > width {
                last.pop();
            }
            last.push('…');
        }
    }
    lines
}

/// `label value`, the label dimmed.
pub(super) fn labeled(label: &str, value: String, style: Style, t: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), t.dim),
        Span::styled(value, style),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_and_wrapping_fit_the_width() {
        let t = Theme::default_theme();
        let seg = |s: &str| vec![Span::raw(s.to_owned())];
        let lines = pack(vec![seg("aaaa"), seg("bbbb"), seg("cccc")], 12, (1, 3), &t);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, [" aaaa · bbbb", "   cccc"]);
        let lines = pack(vec![seg("a-very-long-segment")], 10, (1, 3), &t);
        assert_eq!(lines[0].to_string(), " a-very-l…");
        assert_eq!(lines[0].width(), 10);
        assert_eq!(wrap_words("one two three", 7, 3), ["one two", "three"]);
        assert_eq!(
            wrap_words("one two three four", 7, 2),
            ["one two", "three…"]
        );
        assert_eq!(wrap_words("abcdefghij", 4, 3), ["abcd", "efgh", "ij"]);
    }
}
