//! Tables: cells collected as plain text, then drawn as a grid fitted to
//! the width, or as `header: value` records when even that does not fit.

use super::*;

/// A table's cells as sanitized plain text (styles inside cells are
/// dropped: a grid of plain text reads better than a grid of runs).
#[derive(Default)]
pub(super) struct TableBuf {
    pub(super) aligns: Vec<Alignment>,
    /// The header row first.
    pub(super) rows: Vec<Vec<String>>,
    pub(super) row: Vec<String>,
    pub(super) cell: String,
}

impl Renderer<'_> {
    /// An event inside a table: text goes into the current cell; the
    /// table is drawn at its end.
    pub(super) fn table_event(&mut self, event: Event<'_>) {
        let Some(tb) = self.table.as_mut() else {
            return;
        };
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) | Event::Html(t) => {
                tb.cell.push_str(&t)
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => tb.cell.push_str(&t),
            Event::SoftBreak | Event::HardBreak => tb.cell.push(' '),
            Event::TaskListMarker(done) => tb.cell.push_str(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(l) => tb.cell.push_str(&format!("[^{l}]")),
            Event::Rule | Event::Start(_) => {}
            Event::End(TagEnd::TableCell) => {
                let cell = std::mem::take(&mut tb.cell);
                let clean = sanitize::line(&cell.replace('\t', " ")).trim().to_owned();
                tb.row.push(clean);
            }
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                let row = std::mem::take(&mut tb.row);
                tb.rows.push(row);
            }
            Event::End(TagEnd::Table) => {
                if let Some(tb) = self.table.take() {
                    self.draw_table(tb);
                }
                self.end_block();
            }
            Event::End(_) => {}
        }
    }

    /// Draws a read table into lines; see the module docs for the layout.
    pub(super) fn draw_table(&mut self, tb: TableBuf) {
        let cols = tb.rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let t = self.theme;
        let head = t.text.patch(t.md_bold);
        let dim = t.text.patch(t.dim);
        fn cell(r: &[String], c: usize) -> &str {
            r.get(c).map_or("", String::as_str)
        }
        let natural: Vec<usize> = (0..cols)
            .map(|c| {
                tb.rows
                    .iter()
                    .map(|r| fmt::width(cell(r, c)))
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        // Columns, not bytes: the bar is three bytes wide in UTF-8.
        let seps = fmt::width(TABLE_SEP) * (cols - 1);
        let room = self.width.saturating_sub(seps + self.prefix_width());
        // The longest word of each column: a grid that gives every column
        // that much breaks no word.
        let words: Vec<usize> = (0..cols)
            .map(|c| {
                tb.rows
                    .iter()
                    .flat_map(|r| cell(r, c).split(' '))
                    .map(fmt::width)
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        let widths = if natural.iter().sum::<usize>() <= room {
            natural
        } else if words.iter().sum::<usize>() <= room {
            fit_words(&natural, &words, room)
        } else if room >= cols * TABLE_MIN_COL {
            fit_columns(&natural, room)
        } else {
            // No grid fits: each row as `header: value` lines.
            let header = &tb.rows[0];
            for (i, r) in tb.rows.iter().enumerate().skip(1) {
                if i > 1 {
                    self.push_span(RULE_SHORT, dim);
                    self.end_line();
                }
                for c in 0..cols {
                    self.push_span(&format!("{}: ", cell(header, c)), head);
                    self.push_span(cell(r, c), t.text);
                    self.end_line();
                }
            }
            return;
        };
        for (i, r) in tb.rows.iter().enumerate() {
            let wrapped: Vec<Vec<String>> = (0..cols)
                .map(|c| wrap_cell(cell(r, c), widths[c]))
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
            for line in 0..height {
                for c in 0..cols {
                    if c > 0 {
                        self.push_span(TABLE_SEP, dim);
                    }
                    let text = wrapped[c].get(line).map_or("", String::as_str);
                    let pad = widths[c].saturating_sub(fmt::width(text));
                    let (left, right) = match tb.aligns.get(c) {
                        Some(Alignment::Right) => (pad, 0),
                        Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                        _ => (0, pad),
                    };
                    let style = if i == 0 { head } else { t.text };
                    // The last column is not padded on the right.
                    let right = if c + 1 == cols { 0 } else { right };
                    self.push_span(&" ".repeat(left), style);
                    self.push_span(text, style);
                    self.push_span(&" ".repeat(right), style);
                }
                self.end_line();
            }
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                self.push_span(&rule.join("─┼─"), dim);
                self.end_line();
            }
        }
    }
}

/// Between table columns.
pub(super) const TABLE_SEP: &str = " │ ";
/// The narrowest column of a wrapped table.
pub(super) const TABLE_MIN_COL: usize = 6;
/// Between the records of a table shown as `header: value` lines.
pub(super) const RULE_SHORT: &str = "──────";

/// Column widths summing to at most `room` (≥ `TABLE_MIN_COL` per column):
/// narrow columns keep their natural width, the wide ones share the rest
/// equally (water-filling), so a long text column wraps, not the short ones.
pub(super) fn fit_columns(natural: &[usize], room: usize) -> Vec<usize> {
    let mut widths = vec![0; natural.len()];
    let mut open: Vec<usize> = (0..natural.len()).collect();
    let mut left = room;
    loop {
        if open.is_empty() {
            break;
        }
        let share = (left / open.len()).max(TABLE_MIN_COL);
        let (fits, wide): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&c| natural[c] <= share);
        if fits.is_empty() {
            for &c in &wide {
                widths[c] = share;
            }
            // Hand out what division left over, one column each.
            let used: usize = widths.iter().sum();
            for &c in wide.iter().take(room.saturating_sub(used)) {
                widths[c] += 1;
            }
            break;
        }
        for &c in &fits {
            widths[c] = natural[c];
            left = left.saturating_sub(natural[c]);
        }
        open = wide;
    }
    widths
}

/// Column widths summing to `room` when every column can have its longest
/// word (`words`) but not its whole text (`natural`): each starts at its
/// longest word, and the room left goes to the columns that still wrap, in
/// proportion to what they lack, never past their natural width.
pub(super) fn fit_words(natural: &[usize], words: &[usize], room: usize) -> Vec<usize> {
    let mut widths: Vec<usize> = words.iter().zip(natural).map(|(w, n)| *w.min(n)).collect();
    let mut left = room.saturating_sub(widths.iter().sum());
    while left > 0 {
        let lack: Vec<usize> = widths.iter().zip(natural).map(|(w, n)| n - w).collect();
        let total: usize = lack.iter().sum();
        if total == 0 {
            break;
        }
        let mut given = 0;
        for (c, l) in lack.iter().enumerate() {
            let share = (left * l / total).min(*l);
            widths[c] += share;
            given += share;
        }
        if given == 0 {
            // Rounding gave nothing: one column each, widest lack first.
            let mut order: Vec<usize> = (0..widths.len()).filter(|&c| lack[c] > 0).collect();
            order.sort_by_key(|&c| std::cmp::Reverse(lack[c]));
            for c in order.into_iter().take(left) {
                widths[c] += 1;
                given += 1;
            }
        }
        left -= given;
    }
    widths
}

/// `text` word-wrapped to `width` columns; a word longer than a line is
/// broken after a `-`, `/`, `_` or `.` where one falls in the line, else
/// where the line ends. At least one (possibly empty) line.
pub(super) fn wrap_cell(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = vec![String::new()];
    let mut col = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = fmt::width(word);
        if col > 0 && col + 1 + w <= width {
            let last = lines.last_mut().expect("never empty");
            last.push(' ');
            last.push_str(word);
            col += 1 + w;
            continue;
        }
        if col > 0 {
            lines.push(String::new());
            col = 0;
        }
        for piece in break_word(word, width) {
            if col > 0 {
                lines.push(String::new());
            }
            col = fmt::width(&piece);
            lines.last_mut().expect("never empty").push_str(&piece);
        }
    }
    lines
}

/// A word cut into pieces of at most `width` columns, each ending after the
/// last `-`, `/`, `_` or `.` that fits (`Token-` / `Permissions`), or where
/// the width ends when none does.
fn break_word(word: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest: Vec<char> = word.chars().collect();
    while !rest.is_empty() {
        let mut col = 0;
        let mut end = 0; // chars that fit
        let mut soft = None; // chars up to the last break point that fits
        for (i, ch) in rest.iter().enumerate() {
            let cw = fmt::width(ch.encode_utf8(&mut [0; 4]));
            if col + cw > width && i > 0 {
                break;
            }
            col += cw;
            end = i + 1;
            if matches!(ch, '-' | '/' | '_' | '.') && i + 1 < rest.len() {
                soft = Some(i + 1);
            }
        }
        let cut = if end < rest.len() {
            soft.unwrap_or(end)
        } else {
            end
        };
        pieces.push(rest.drain(..cut).collect());
    }
    pieces
}
