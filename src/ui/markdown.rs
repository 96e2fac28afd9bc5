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

mod links;
mod table;

use links::split_bare_url;
use table::TableBuf;

#[cfg(test)]
mod tests;
