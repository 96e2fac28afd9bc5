//! Renders an alert's Markdown `details` into styled ratatui text.
//!
//! Allstar writes details for humans: a few paragraphs, `**bold**` pseudo
//! headings, `- ` lists, links and bare URLs, sometimes `#` headings and code.
//! The text is wire data, so every run of text (including link URLs and raw
//! HTML) goes through [`sanitize::line()`] after Markdown parsing; the only
//! characters this module adds itself are indentation, bullets and rules.
//!
//! Layout rules:
//! - blocks (paragraphs, headings, lists, code blocks, quotes) are separated
//!   by one blank line, except that a list directly under a paragraph line
//!   (`**Steps**\n- do this`, no blank line in the source) stays attached;
//! - list items start with `• ` (ordered: `1. `); nested content is indented
//!   to the parent item's text, i.e. two spaces per level for bullet lists;
//! - links show their text in `md_link`, then ` <url>` in `dim` when the URL
//!   differs from the text; bare `http(s)://` URLs in text get `md_link` too;
//! - code blocks keep their lines, indented by two spaces, in `md_code`;
//! - every line break is kept, soft or hard: Allstar's details become the
//!   body of a GitHub issue or comment, where a single newline is a line
//!   break, and Scorecard / Branch Protection put one finding per line;
//! - tables (GitHub's pipe tables) are drawn as a grid that fits the width
//!   given: columns at their natural width when they fit, else the wide
//!   ones wrap within a share of the width, else (too many columns for any
//!   grid) one `header: value` line per cell, row by row;
//! - apart from tables nothing is wrapped here (the caller wraps with
//!   `Paragraph::wrap`).

use std::ops::Range;

use pulldown_cmark::{Alignment, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};

use crate::sanitize;
use crate::ui::fmt;
use crate::ui::theme::Theme;

/// Bullet for unordered list items.
const BULLET: &str = "• ";
/// Indentation of code block lines.
const CODE_INDENT: &str = "  ";
/// Prefix of block quote lines.
const QUOTE_BAR: &str = "│ ";
/// A thematic break (`---`); fixed width since we do not know the pane's.
const RULE: &str = "────────────────────────";
/// Deepest container nesting that still adds indentation. Pathological
/// input (thousands of nested `>`) would otherwise make every line's prefix
/// as long as the nesting, i.e. output quadratic in the input.
const MAX_INDENT_LEVELS: usize = 12;

/// Renders `markdown` with `theme`'s text and `md_*` styles, tables at
/// their natural width. Never panics; the result contains no control
/// characters.
pub fn render(markdown: &str, theme: &Theme) -> Text<'static> {
    render_width(markdown, theme, usize::MAX)
}

/// As [`render`], with tables laid out to fit `width` columns.
pub fn render_width(markdown: &str, theme: &Theme, width: usize) -> Text<'static> {
    let mut renderer = Renderer::new(markdown, theme);
    renderer.width = width.max(1);
    // Tables as GitHub draws them; footnotes etc. stay off: their source
    // form reads fine as text.
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        renderer.event(event, range);
    }
    renderer.finish()
}

/// A block that prefixes each of its lines.
enum Container {
    Quote,
    /// A list item: its marker (`• `, `3. `) goes on its first line, spaces
    /// of the same width on the following ones.
    Item {
        marker: String,
        marker_shown: bool,
    },
}

/// A link being rendered: its target and the plain text seen so far.
struct OpenLink {
    url: String,
    text: String,
}

struct Renderer<'a> {
    theme: &'a Theme,
    source: &'a str,
    lines: Vec<Line<'static>>,
    /// Spans of the line being built.
    current: Vec<Span<'static>>,
    /// Whether `current` has been started (container prefixes emitted).
    line_open: bool,
    /// How many spans at the start of `current` are container prefixes.
    prefix_len: usize,
    /// Adjacent text events, merged so URLs and styles see whole runs.
    pending_text: String,
    /// Inline style stack; the bottom is the theme's `text`.
    styles: Vec<Style>,
    containers: Vec<Container>,
    /// One entry per open list: the next number of an ordered list.
    lists: Vec<Option<u64>>,
    links: Vec<OpenLink>,
    /// Text of an open code or HTML block, emitted line by line at its end.
    literal_block: Option<(String, Style, &'static str)>,
    /// A blank line is due before the next block.
    gap: bool,
    /// Source offset of the paragraph that was the last block, if it was.
    last_paragraph_start: Option<usize>,
    /// Width tables are laid out in.
    width: usize,
    /// The table being read, drawn at its end.
    table: Option<TableBuf>,
}

/// A table's cells as sanitized plain text (styles inside cells are
/// dropped: a grid of plain text reads better than a grid of runs).
#[derive(Default)]
struct TableBuf {
    aligns: Vec<Alignment>,
    /// The header row first.
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

impl<'a> Renderer<'a> {
    fn new(source: &'a str, theme: &'a Theme) -> Self {
        Renderer {
            theme,
            source,
            lines: Vec::new(),
            current: Vec::new(),
            line_open: false,
            prefix_len: 0,
            pending_text: String::new(),
            styles: vec![theme.text],
            containers: Vec::new(),
            lists: Vec::new(),
            links: Vec::new(),
            literal_block: None,
            gap: false,
            last_paragraph_start: None,
            width: usize::MAX,
            table: None,
        }
    }

    fn finish(mut self) -> Text<'static> {
        self.flush_text();
        self.end_line();
        Text::from(self.lines)
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        if self.table.is_some() {
            self.table_event(event);
            return;
        }
        if let Event::Text(text) = &event {
            match &mut self.literal_block {
                Some((buf, _, _)) => buf.push_str(text),
                None => self.add_text(text),
            }
            return;
        }
        self.flush_text();
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag, range),
            Event::Text(_) => {} // handled above
            Event::Code(code) | Event::InlineMath(code) | Event::DisplayMath(code) => {
                self.add_link_text(&code);
                let style = self.style().patch(self.theme.md_code);
                self.push_span(&code, style);
            }
            // Raw HTML is shown as the text it is, never interpreted.
            Event::Html(html) => match &mut self.literal_block {
                Some((buf, _, _)) => buf.push_str(&html),
                None => self.push_span(&html, self.style()),
            },
            Event::InlineHtml(html) => {
                self.add_link_text(&html);
                self.push_span(&html, self.style());
            }
            Event::FootnoteReference(label) => {
                self.push_span(&format!("[^{label}]"), self.style());
            }
            // GitHub comment semantics: a newline is a line break.
            Event::SoftBreak => {
                self.add_link_text(" ");
                self.end_line();
            }
            Event::HardBreak => {
                self.add_link_text(" ");
                self.end_line();
            }
            Event::Rule => {
                self.begin_block();
                let style = self.theme.text.patch(self.theme.dim);
                self.push_span(RULE, style);
                self.end_block();
            }
            Event::TaskListMarker(done) => {
                let style = self.theme.text.patch(self.theme.md_bullet);
                self.push_span(if done { "[x] " } else { "[ ] " }, style);
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        match tag {
            Tag::Paragraph => self.begin_block(),
            Tag::Heading { .. } => {
                self.begin_block();
                self.push_style(self.theme.md_heading);
            }
            Tag::BlockQuote(_) => {
                self.begin_block();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(_) => {
                self.begin_block();
                let style = self.theme.text.patch(self.theme.md_code);
                self.literal_block = Some((String::new(), style, CODE_INDENT));
            }
            Tag::HtmlBlock => {
                self.begin_block();
                self.literal_block = Some((String::new(), self.theme.text, ""));
            }
            Tag::List(first) => {
                if self.list_attached_to_paragraph(range.start) {
                    self.gap = false;
                }
                self.begin_block();
                self.lists.push(first);
            }
            Tag::Item => {
                self.end_line();
                self.gap = false;
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let marker = format!("{n}. ");
                        *n = n.saturating_add(1);
                        marker
                    }
                    _ => BULLET.to_owned(),
                };
                self.containers.push(Container::Item {
                    marker,
                    marker_shown: false,
                });
            }
            Tag::Table(aligns) => {
                self.begin_block();
                self.table = Some(TableBuf {
                    aligns,
                    ..TableBuf::default()
                });
            }
            Tag::Emphasis => self.push_style(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(self.theme.md_bold),
            Tag::Strikethrough => self.push_style(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.push_style(self.theme.md_link);
                self.links.push(OpenLink {
                    url: dest_url.into_string(),
                    text: String::new(),
                });
            }
            // Not enabled by our options; keep their content as plain text.
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, range: Range<usize>) {
        match tag {
            TagEnd::Paragraph => {
                self.end_block();
                self.last_paragraph_start = Some(range.start);
            }
            TagEnd::Heading(_) => {
                self.pop_style();
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.end_line();
                self.containers.pop();
                self.gap = true;
            }
            TagEnd::CodeBlock | TagEnd::HtmlBlock => {
                if let Some((buf, style, indent)) = self.literal_block.take() {
                    for line in buf.lines() {
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        self.push_span(indent, style);
                        // Code keeps its layout: tabs become 4 spaces here,
                        // not the single space of inline text.
                        self.push_span(&line.replace('\t', "    "), style);
                        self.end_line();
                    }
                }
                self.end_block();
            }
            TagEnd::List(_) => {
                self.end_line();
                self.lists.pop();
                self.gap = true;
            }
            TagEnd::Item => {
                // An empty item still shows its marker.
                if matches!(
                    self.containers.last(),
                    Some(Container::Item {
                        marker_shown: false,
                        ..
                    })
                ) {
                    self.open_line();
                }
                self.end_line();
                self.containers.pop();
                self.gap = false;
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_style(),
            TagEnd::Link | TagEnd::Image => {
                self.pop_style();
                if let Some(link) = self.links.pop() {
                    self.link_target(&link);
                }
            }
            _ => {}
        }
    }

    /// An event inside a table: text goes into the current cell; the
    /// table is drawn at its end.
    fn table_event(&mut self, event: Event<'_>) {
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
    fn draw_table(&mut self, tb: TableBuf) {
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
        let seps = TABLE_SEP.len() * (cols - 1);
        let room = self.width.saturating_sub(seps + self.prefix_width());
        let widths = if natural.iter().sum::<usize>() <= room {
            natural
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

    /// Width of the container prefixes (quote bars, list indentation).
    fn prefix_width(&self) -> usize {
        self.containers
            .iter()
            .rev()
            .take(MAX_INDENT_LEVELS)
            .map(|c| match c {
                Container::Quote => QUOTE_BAR.chars().count(),
                Container::Item { marker, .. } => marker.chars().count(),
            })
            .sum()
    }

    /// Shows ` <url>` after a link whose text is not already the URL.
    fn link_target(&mut self, link: &OpenLink) {
        let url = link.url.trim();
        let text = link.text.trim();
        let redundant =
            url.is_empty() || url == text || url.strip_prefix("mailto:").is_some_and(|u| u == text);
        if !redundant {
            let style = self.theme.text.patch(self.theme.dim);
            self.push_span(&format!(" <{url}>"), style);
        }
    }

    /// A list right under a paragraph line, without a blank line between
    /// them in the source, is rendered attached to it.
    fn list_attached_to_paragraph(&self, list_start: usize) -> bool {
        let Some(para_start) = self.last_paragraph_start else {
            return false;
        };
        let between = self.source.get(para_start..list_start).unwrap_or("");
        // Paragraph lines are never blank, so a blank (or quote-only `>`)
        // line between the two starts is a separating blank line. The last
        // segment is the list's own line up to its marker.
        let segments: Vec<&str> = between.split('\n').collect();
        let inner = segments
            .get(1..segments.len().saturating_sub(1))
            .unwrap_or(&[]);
        !inner
            .iter()
            .any(|l| l.trim_matches([' ', '\t', '\r', '>']).is_empty())
    }

    fn begin_block(&mut self) {
        self.end_line();
        if self.gap && !self.lines.is_empty() {
            self.lines.push(Line::default());
        }
        self.gap = false;
        self.last_paragraph_start = None;
    }

    fn end_block(&mut self) {
        self.end_line();
        self.gap = true;
    }

    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or(self.theme.text)
    }

    fn push_style(&mut self, patch: Style) {
        self.styles.push(self.style().patch(patch));
    }

    fn pop_style(&mut self) {
        // Never pop the base style, even on unbalanced events.
        if self.styles.len() > 1 {
            self.styles.pop();
        }
    }

    fn add_link_text(&mut self, text: &str) {
        if let Some(link) = self.links.last_mut() {
            link.text.push_str(text);
        }
    }

    fn add_text(&mut self, text: &str) {
        self.add_link_text(text);
        self.pending_text.push_str(text);
    }

    /// Emits merged text, marking bare URLs when not already in a link.
    fn flush_text(&mut self) {
        if self.pending_text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending_text);
        let style = self.style();
        if !self.links.is_empty() {
            self.push_span(&text, style);
            return;
        }
        let link_style = style.patch(self.theme.md_link);
        let mut rest = text.as_str();
        while let Some((before, url, after)) = split_bare_url(rest) {
            self.push_span(before, style);
            self.push_span(url, link_style);
            rest = after;
        }
        self.push_span(rest, style);
    }

    /// Starts the current line if needed by emitting container prefixes.
    fn open_line(&mut self) {
        if self.line_open {
            return;
        }
        self.line_open = true;
        let dim = self.theme.text.patch(self.theme.dim);
        let bullet = self.theme.text.patch(self.theme.md_bullet);
        let skip = self.containers.len().saturating_sub(MAX_INDENT_LEVELS);
        let mut prefix: Vec<Span<'static>> = Vec::new();
        for (i, container) in self.containers.iter_mut().enumerate() {
            match container {
                Container::Quote if i >= skip => prefix.push(Span::styled(QUOTE_BAR, dim)),
                Container::Quote => {}
                Container::Item {
                    marker,
                    marker_shown,
                } => {
                    if i < skip {
                        *marker_shown = true;
                    } else if *marker_shown {
                        prefix.push(Span::raw(" ".repeat(marker.chars().count())));
                    } else {
                        prefix.push(Span::styled(marker.clone(), bullet));
                        *marker_shown = true;
                    }
                }
            }
        }
        self.prefix_len = prefix.len();
        self.current.extend(prefix);
    }

    /// Appends sanitized `text` in `style` to the current line.
    fn push_span(&mut self, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
        self.open_line();
        // Tabs in inline text are just whitespace; as an escape (`\t`) they
        // would look like content.
        let text = text.replace('\t', " ");
        let clean = sanitize::line(&text).into_owned();
        // Extend the previous span when the style matches, keeping lines lean.
        // Prefix spans stay separate so marker styles and widths are exact.
        if self.current.len() > self.prefix_len
            && let Some(last) = self.current.last_mut()
            && last.style == style
        {
            last.content.to_mut().push_str(&clean);
            return;
        }
        self.current.push(Span::styled(clean, style));
    }

    fn end_line(&mut self) {
        if self.line_open {
            self.lines
                .push(Line::from(std::mem::take(&mut self.current)));
            self.line_open = false;
        }
    }
}

/// Between table columns.
const TABLE_SEP: &str = " │ ";
/// The narrowest column of a wrapped table.
const TABLE_MIN_COL: usize = 6;
/// Between the records of a table shown as `header: value` lines.
const RULE_SHORT: &str = "──────";

/// Column widths summing to at most `room` (≥ `TABLE_MIN_COL` per column):
/// narrow columns keep their natural width, the wide ones share the rest
/// equally (water-filling), so a long text column wraps, not the short ones.
fn fit_columns(natural: &[usize], room: usize) -> Vec<usize> {
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
fn wrap_cell(text: &str, width: usize) -> Vec<String> {
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

/// Finds the first `http://` or `https://` URL in `text`, returning the text
/// before it, the URL, and the rest. Trailing punctuation that usually ends a
/// sentence rather than the URL is left out, as GitHub's autolinker does.
/// Linear in the length of `text`, whatever it contains.
fn split_bare_url(text: &str) -> Option<(&str, &str, &str)> {
    for (start, _) in text.match_indices("http") {
        let tail = &text[start..];
        let scheme_len = if tail.starts_with("https://") {
            8
        } else if tail.starts_with("http://") {
            7
        } else {
            continue;
        };
        let end = url_end(tail);
        // A scheme with nothing after it is not a link.
        if end > scheme_len {
            return Some((&text[..start], &tail[..end], &tail[end..]));
        }
    }
    None
}

/// Byte length of the URL at the start of `tail`.
fn url_end(tail: &str) -> usize {
    let mut end = tail
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(tail.len());
    let url = &tail[..end];
    let opens = url.matches('(').count();
    let mut closes = url.matches(')').count();
    while let Some(last) = tail[..end].chars().next_back() {
        let trailing = match last {
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' => true,
            // A ')' closing a '(' before the URL is not part of it.
            ')' if closes > opens => {
                closes -= 1;
                true
            }
            _ => false,
        };
        if !trailing {
            break;
        }
        end -= last.len_utf8();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(text: &Text<'_>) -> Vec<String> {
        text.lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn spans(line: &Line<'_>) -> Vec<(String, Style)> {
        line.spans
            .iter()
            .map(|s| (s.content.to_string(), s.style))
            .collect()
    }

    fn theme() -> Theme {
        Theme::default_theme()
    }

    /// Asserts that no span contains a control or invisible character.
    fn assert_clean(text: &Text<'_>) {
        for line in &text.lines {
            for span in &line.spans {
                assert!(
                    sanitize::is_clean_line(&span.content),
                    "unsanitized span {:?}",
                    span.content
                );
            }
        }
    }

    const ALLSTAR_DETAILS: &str = "Security policy not enabled.\n\
        A SECURITY.md file can give users information about what constitutes a vulnerability \
        and how to report one securely.\n\
        \n\
        **Remediation steps**\n\
        - Add a SECURITY.md file to the repository.\n\
        - See [the docs](https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository)\n\
        \n\
        More at https://github.com/ossf/allstar.\n";

    #[test]
    fn realistic_allstar_details() {
        let t = theme();
        let text = render(ALLSTAR_DETAILS, &t);
        assert_eq!(
            plain(&text),
            [
                "Security policy not enabled.",
                "A SECURITY.md file can give users information about \
                 what constitutes a vulnerability and how to report one securely.",
                "",
                "Remediation steps",
                "• Add a SECURITY.md file to the repository.",
                "• See the docs <https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository>",
                "",
                "More at https://github.com/ossf/allstar.",
            ]
        );
        let base = t.text;
        assert_eq!(spans(&text.lines[0]).len(), 1);
        assert_eq!(text.lines[0].spans[0].style, base);
        assert_eq!(
            spans(&text.lines[3]),
            [("Remediation steps".to_owned(), base.patch(t.md_bold))]
        );
        assert_eq!(
            spans(&text.lines[5]),
            [
                ("• ".to_owned(), base.patch(t.md_bullet)),
                ("See ".to_owned(), base),
                ("the docs".to_owned(), base.patch(t.md_link)),
                (
                    " <https://docs.github.com/en/code-security/getting-started/adding-a-security-policy-to-your-repository>"
                        .to_owned(),
                    base.patch(t.dim)
                ),
            ]
        );
        assert_eq!(
            spans(&text.lines[7]),
            [
                ("More at ".to_owned(), base),
                (
                    "https://github.com/ossf/allstar".to_owned(),
                    base.patch(t.md_link)
                ),
                (".".to_owned(), base),
            ]
        );
    }

    #[test]
    fn paragraphs_are_separated_by_one_blank_line() {
        let text = render("one\n\n\n\ntwo\nstill two\n\nthree", &theme());
        assert_eq!(plain(&text), ["one", "", "two", "still two", "", "three"]);
    }

    #[test]
    fn list_after_blank_line_gets_a_gap() {
        let text = render("Steps:\n\n- a\n- b\n\nAfter.", &theme());
        assert_eq!(plain(&text), ["Steps:", "", "• a", "• b", "", "After."]);
    }

    #[test]
    fn headings_are_styled() {
        let t = theme();
        let text = render("# Branch protection\nSome text.\n\n## Details *here*", &t);
        assert_eq!(
            plain(&text),
            ["Branch protection", "", "Some text.", "", "Details here"]
        );
        let heading = t.text.patch(t.md_heading);
        assert_eq!(
            spans(&text.lines[0]),
            [("Branch protection".to_owned(), heading)]
        );
        assert_eq!(
            spans(&text.lines[4]),
            [
                ("Details ".to_owned(), heading),
                ("here".to_owned(), heading.add_modifier(Modifier::ITALIC)),
            ]
        );
    }

    #[test]
    fn bold_patches_over_surrounding_style_and_italic_adds_modifier() {
        let t = theme();
        let text = render("plain **bold _both_** *it*", &t);
        let bold = t.text.patch(t.md_bold);
        assert_eq!(
            spans(&text.lines[0]),
            [
                ("plain ".to_owned(), t.text),
                ("bold ".to_owned(), bold),
                ("both".to_owned(), bold.add_modifier(Modifier::ITALIC)),
                (" ".to_owned(), t.text),
                ("it".to_owned(), t.text.add_modifier(Modifier::ITALIC)),
            ]
        );
    }

    #[test]
    fn nested_and_ordered_lists() {
        let src = "- top\n  - nested\n    - deeper\n  - nested 2\n- top 2\n\n1. first\n2. second\n   - sub\n";
        let text = render(src, &theme());
        assert_eq!(
            plain(&text),
            [
                "• top",
                "  • nested",
                "    • deeper",
                "  • nested 2",
                "• top 2",
                "",
                "1. first",
                "2. second",
                "   • sub",
            ]
        );
    }

    #[test]
    fn ordered_list_keeps_its_start_number() {
        let text = render("9. nine\n10. ten\n", &theme());
        assert_eq!(plain(&text), ["9. nine", "10. ten"]);
    }

    #[test]
    fn loose_list_item_with_two_paragraphs_indents_continuation() {
        let text = render("- first para\n\n  second para\n- next\n", &theme());
        assert_eq!(
            plain(&text),
            ["• first para", "", "  second para", "• next"]
        );
    }

    #[test]
    fn inline_code_and_code_blocks() {
        let t = theme();
        let code = t.text.patch(t.md_code);
        let text = render(
            "Run `allstar --fix` now.\n\n```sh\ngit add SECURITY.md\n\tgit push\n```\n\nDone.",
            &t,
        );
        assert_eq!(
            plain(&text),
            [
                "Run allstar --fix now.",
                "",
                "  git add SECURITY.md",
                "      git push",
                "",
                "Done."
            ]
        );
        assert_eq!(text.lines[0].spans[1].content, "allstar --fix");
        assert_eq!(text.lines[0].spans[1].style, code);
        assert!(text.lines[2].spans.iter().all(|s| s.style == code));
    }

    #[test]
    fn code_block_in_list_item_is_indented_under_it() {
        let text = render("- step:\n\n  ```\n  make\n  ```\n", &theme());
        assert_eq!(plain(&text), ["• step:", "", "    make"]);
    }

    #[test]
    fn breaks() {
        let text = render("soft\nbreak and hard  \nbreak\\\nagain", &theme());
        // GitHub issue semantics: every newline is a line break.
        assert_eq!(plain(&text), ["soft", "break and hard", "break", "again"]);
    }

    #[test]
    fn one_finding_per_line_stays_one_per_line() {
        let text = render(
            "Branch protection settings:\nbranch main Require approval: 0 (want 1)\nbranch main Dismiss stale reviews: false\n",
            &theme(),
        );
        assert_eq!(
            plain(&text),
            [
                "Branch protection settings:",
                "branch main Require approval: 0 (want 1)",
                "branch main Dismiss stale reviews: false"
            ]
        );
    }

    const TABLE: &str = "Checks:\n\n| Check | Score | Reason |\n|---|--:|---|\n\
        | Code-Review | 3 | Found 3/10 approved changesets |\n\
        | Pinned-Dependencies | 10 | all dependencies are pinned |\n";

    #[test]
    fn tables_are_drawn_as_a_grid_that_fits() {
        let text = render_width(TABLE, &theme(), 200);
        let lines = plain(&text);
        assert_eq!(lines[0], "Checks:");
        assert_eq!(lines[2], "Check               │ Score │ Reason");
        assert_eq!(
            lines[3],
            "────────────────────┼───────┼───────────────────────────────"
        );
        // Right-aligned as the delimiter row says.
        assert_eq!(
            lines[4],
            "Code-Review         │     3 │ Found 3/10 approved changesets"
        );
        assert!(!lines.iter().any(|l| l.contains("|---")), "{lines:?}");
        let head = spans(&text.lines[2]);
        assert!(head[0].1.add_modifier.contains(Modifier::BOLD), "{head:?}");
        assert_clean(&text);
    }

    #[test]
    fn narrow_tables_wrap_their_wide_column_and_stay_within_the_width() {
        let text = render_width(TABLE, &theme(), 40);
        let lines = plain(&text);
        for l in &lines {
            assert!(fmt::width(l) <= 40, "{l:?} in {lines:?}");
        }
        // The long reason wraps under its own column.
        let reason_rows: Vec<&String> = lines.iter().filter(|l| l.contains("│")).collect();
        assert!(reason_rows.len() > 3, "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("approved")), "{lines:?}");
        // Too narrow for any grid: header: value lines.
        let text = render_width(TABLE, &theme(), 12);
        let lines = plain(&text);
        assert!(
            lines.contains(&"Check: Code-Review".to_owned()),
            "{lines:?}"
        );
        assert!(lines.contains(&"Score: 3".to_owned()), "{lines:?}");
    }

    #[test]
    fn fit_columns_keeps_narrow_columns_and_fills_the_room() {
        assert_eq!(fit_columns(&[5, 40, 3], 30), vec![5, 22, 3]);
        let w = fit_columns(&[50, 50, 50], 31);
        assert_eq!(w.iter().sum::<usize>(), 31);
        assert_eq!(wrap_cell("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap_cell("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap_cell("", 3), [""]);
    }

    #[test]
    fn links_show_url_only_when_it_adds_information() {
        let t = theme();
        let text = render(
            "[https://a.example](https://a.example) <https://b.example> <me@example.com> [x]()",
            &t,
        );
        assert_eq!(
            plain(&text),
            ["https://a.example https://b.example me@example.com x"]
        );
        let text = render("![logo](https://img.example/l.png)", &t);
        assert_eq!(plain(&text), ["logo <https://img.example/l.png>"]);
    }

    #[test]
    fn bare_urls_trim_trailing_punctuation() {
        assert_eq!(
            split_bare_url("see https://x.io/a."),
            Some(("see ", "https://x.io/a", "."))
        );
        assert_eq!(
            split_bare_url("(https://x.io/wiki/A_(b)) ok"),
            Some(("(", "https://x.io/wiki/A_(b)", ") ok"))
        );
        assert_eq!(
            split_bare_url("http://x.io, y"),
            Some(("", "http://x.io", ", y"))
        );
        assert_eq!(split_bare_url("no url"), None);
        assert_eq!(split_bare_url("https:// nothing"), None);
        assert_eq!(
            split_bare_url("http://. then https://y.io"),
            Some(("http://. then ", "https://y.io", ""))
        );
    }

    #[test]
    fn bare_url_scan_is_linear_on_hostile_text() {
        let many = "http://".repeat(50_000);
        assert_eq!(
            split_bare_url(&many).map(|(b, u, _)| (b.len(), u.len())),
            Some((0, many.len()))
        );
        let parens = format!("https://x{}", ")".repeat(100_000));
        assert_eq!(
            split_bare_url(&parens).map(|(_, u, _)| u),
            Some("https://x")
        );
        let empties = "http:// ".repeat(50_000);
        assert_eq!(split_bare_url(&empties), None);
        let text = render(&format!("{empties}\n\n{parens}"), &theme());
        assert_eq!(text.lines.len(), 3);
    }

    #[test]
    fn blockquotes_and_rules() {
        let text = render("> quoted\n> more\n\n---\n\nafter", &theme());
        assert_eq!(plain(&text), ["│ quoted", "│ more", "", RULE, "", "after"]);
    }

    #[test]
    fn raw_html_is_plain_text() {
        let text = render("<div onclick=x>\nhi\n</div>\n\ninline <b>tag</b>", &theme());
        assert_eq!(
            plain(&text),
            ["<div onclick=x>", "hi", "</div>", "", "inline <b>tag</b>"]
        );
    }

    #[test]
    fn task_lists_and_strikethrough() {
        let t = theme();
        let text = render("- [x] done\n- [ ] ~~todo~~", &t);
        assert_eq!(plain(&text), ["• [x] done", "• [ ] todo"]);
        let struck = text.lines[1].spans.last().unwrap();
        assert!(struck.style.add_modifier.contains(Modifier::CROSSED_OUT));
    }

    #[test]
    fn hostile_control_sequences_are_escaped_everywhere() {
        let src = "Title\x1b]0;x\x07 here\u{9b}2J\n\n\
            [click\x1bc](https://evil.example/&#27;]0;x&#7;)\n\n\
            [raw](<https://evil.example/\x1b[2J>)\n\n\
            - item \u{202e}txt.exe\n\n\
            ```\ncode \x1b[31mred\r\n```\n\n\
            <b>\x1b[5m</b>\n\n\
            `\x1b[1m`";
        let text = render(src, &theme());
        assert_clean(&text);
        let all = plain(&text).join("\n");
        assert!(all.contains("Title\\x1b]0;x\\x07 here\\x9b2J"), "{all}");
        // Entity references decode to controls inside the URL: still escaped.
        assert!(
            all.contains("click\\x1bc <https://evil.example/\\x1b]0;x\\x07>"),
            "{all}"
        );
        assert!(all.contains("raw <https://evil.example/\\x1b[2J>"), "{all}");
        assert!(all.contains("\\u{202e}txt.exe"), "{all}");
        assert!(all.contains("code \\x1b[31mred"), "{all}");
    }

    #[test]
    fn empty_and_whitespace_input() {
        assert!(render("", &theme()).lines.is_empty());
        assert!(render("\n\n  \n", &theme()).lines.is_empty());
        assert_eq!(plain(&render("-", &theme())), ["• "]);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let src = format!("{}x  \ny  \nz", "> ".repeat(5000));
        let text = render(&src, &theme());
        assert_eq!(text.lines.len(), 3);
        assert!(
            text.lines
                .iter()
                .all(|l| l.spans.len() <= MAX_INDENT_LEVELS + 2)
        );
        let lists = format!("{}deep", "- ".repeat(300));
        let text = render(&lists, &theme());
        assert_clean(&text);
    }

    fn markdownish() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "- ",
            "* ",
            "1. ",
            "  ",
            "\n",
            "\n\n",
            "**",
            "*",
            "_",
            "`",
            "```\n",
            "[",
            "](",
            ")",
            "<",
            ">",
            "> ",
            "# ",
            "---\n",
            "https://x.io/",
            "\\",
            "\t",
            "\r\n",
            "\x1b",
            "\x1b]0;t\x07",
            "\u{9b}",
            "\u{202e}",
            "\u{200d}",
            "\u{fe0f}",
            "<b>",
            "![",
            "~~",
            "[ ] ",
            "word",
            "é",
            "&amp;",
            "&#27;",
            "&#x9b;",
            "&#8238;",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_never_emits_controls(s in any::<String>()) {
            assert_clean(&render(&s, &theme()));
        }

        #[test]
        fn markdown_like_input_is_clean(s in markdownish()) {
            assert_clean(&render(&s, &theme()));
        }
    }
}
