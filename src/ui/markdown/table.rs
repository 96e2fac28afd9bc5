//! Tables laid out to fit the pane: column widths by water-filling, cells
//! word-wrapped.

use crate::ui::fmt;

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

/// `text` word-wrapped to `width` columns; words longer than a line are
/// broken. At least one (possibly empty) line.
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
        for ch in word.chars() {
            let cw = fmt::width(ch.encode_utf8(&mut [0; 4]));
            if col + cw > width && col > 0 {
                lines.push(String::new());
                col = 0;
            }
            lines.last_mut().expect("never empty").push(ch);
            col += cw;
        }
    }
    lines
}
