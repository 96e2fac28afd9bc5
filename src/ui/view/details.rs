//! The Details pane: the selected alert, its Markdown details, the alert
//! a fix replaced, and its outcome per upstream.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::forward::upstream::DEFAULT_OUTCOMES;
use crate::model::store::{KeyId, KeyState, Peer};
use crate::model::{Change, Store};
use crate::sanitize;

use super::common::{change_span, org_repo, outcome_style, pane_block};
use super::forwarding::display_url;
use super::{FAIL, PASS};
use crate::ui::fmt::{ago, clock, date_time, plural, thousands};
use crate::ui::keymap::Pane;
use crate::ui::markdown;
use crate::ui::state::{App, DetailsId, FrameLayout, MdCache};
use crate::ui::theme::Theme;

/// The alert shown in Details.
pub(super) struct DetailsData {
    /// The event itself, or `None` when it left the history ring (then the
    /// key's latest alert is shown) or in the latest view.
    pub(super) seq: Option<u64>,
    pub(super) evicted: bool,
    pub(super) at_ms: u64,
    pub(super) pass: bool,
    pub(super) change: Change,
    pub(super) details: Arc<str>,
    pub(super) peer: Option<Arc<Peer>>,
    pub(super) names: (Arc<str>, Arc<str>, Arc<str>),
    pub(super) key: KeyState,
    /// For a fixed alert: the key's alert just before it (failing), as
    /// `(seq, at_ms, details)`, when still in the history ring.
    pub(super) failing_before: Option<(u64, u64, Arc<str>)>,
}

/// The key's alert before `seq`, while still in the history ring: one step
/// along the key's chain of events (no walk of the ring under the lock).
pub(super) fn alert_before(s: &Store, seq: u64) -> Option<(u64, u64, Arc<str>)> {
    s.prev_event(seq)
        .map(|e| (e.seq, e.at_ms, e.details.clone()))
}

pub(super) fn details_data(
    s: &Store,
    id: DetailsId,
    key_hint: Option<KeyId>,
) -> Option<DetailsData> {
    let event = match id {
        DetailsId::Event(seq) => s.event(seq),
        DetailsId::Key(_) => None,
    };
    let key = match (event, id) {
        (Some(e), _) => e.key,
        (None, DetailsId::Key(k)) => k,
        (None, DetailsId::Event(_)) => key_hint?,
    };
    if key as usize >= s.key_count() {
        return None;
    }
    let k = s.key(key).clone();
    let (o, r, p) = s.key_names(key);
    let names = (o.clone(), r.clone(), p.clone());
    Some(match event {
        Some(e) => DetailsData {
            seq: Some(e.seq),
            evicted: false,
            at_ms: e.at_ms,
            pass: e.pass,
            change: e.change,
            details: e.details.clone(),
            peer: e.peer.clone(),
            names,
            key: k,
            failing_before: if e.change == Change::Fixed {
                alert_before(s, e.seq)
            } else {
                None
            },
        },
        None => DetailsData {
            seq: None,
            evicted: matches!(id, DetailsId::Event(_)),
            at_ms: k.last_seen_ms,
            pass: k.pass,
            change: k.change,
            details: k.details.clone(),
            failing_before: if k.change == Change::Fixed {
                alert_before(s, k.last_seq)
            } else {
                None
            },
            peer: k.peer.clone(),
            names,
            key: k,
        },
    })
}

/// Rows `line` takes when word-wrapped to `width` (greedy, as ratatui's
/// word wrapper; long words are broken).
pub(super) fn wrapped_rows(line: &Line, width: usize) -> usize {
    if width == 0 {
        return 0;
    }
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let (mut rows, mut col) = (1, 0usize);
    for word in text.split(' ') {
        let w = Span::raw(word).width();
        let need = if col == 0 { w } else { col + 1 + w };
        if need <= width {
            col = need;
        } else if w <= width {
            rows += 1;
            col = w;
        } else {
            if col > 0 {
                rows += 1;
            }
            rows += (w - 1) / width;
            col = w - (w - 1) / width * width;
        }
    }
    rows
}

pub(super) fn draw_details(
    frame: &mut Frame,
    app: &App,
    (out, md): (&mut FrameLayout, &mut Vec<MdCache>),
    t: &Theme,
    area: Rect,
    d: Option<&DetailsData>,
    now_ms: u64,
) {
    let Some(d) = d else {
        let block = pane_block(app, t, Pane::Details, vec![], area.width);
        let msg = if app.stats.accepted == 0 {
            " the selected alert's details show here"
        } else {
            " nothing selected"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, t.dim)).block(block), area);
        out.details_max = 0;
        return;
    };
    let (o, r, p) = &d.names;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let (status, style) = if d.pass {
        (format!("{PASS} pass"), t.pass)
    } else {
        (format!("{FAIL} FAIL"), t.fail)
    };
    lines.push(Line::from(vec![
        Span::styled(status, style),
        Span::raw("  "),
        Span::styled(org_repo(o, r), t.text.add_modifier(Modifier::BOLD)),
        Span::styled(" · ", t.dim),
        Span::styled(
            sanitize::line(p).into_owned(),
            t.text.add_modifier(Modifier::BOLD),
        ),
    ]));
    let mut when = vec![Span::styled(
        format!("{} ({} ago)", date_time(d.at_ms), ago(now_ms, d.at_ms)),
        t.dim,
    )];
    if let Some(seq) = d.seq {
        when.push(Span::styled(format!(" · #{}", thousands(seq)), t.dim));
    }
    let change = change_span(d.change, t);
    if !change.content.is_empty() {
        when.push(Span::styled(" · ", t.dim));
        when.push(change);
    }
    lines.push(Line::from(when));
    if d.evicted {
        lines.push(Line::styled(
            "this alert left the history ring; showing the key's latest",
            t.status_warn,
        ));
    }
    let k = &d.key;
    lines.push(Line::styled(
        format!(
            "key seen {}× since {} · last change {}",
            thousands(k.count),
            clock(k.first_seen_ms),
            clock(k.last_change_ms)
        ),
        t.dim,
    ));
    if k.regressions > 0 || k.fixes > 0 {
        lines.push(Line::styled(
            format!(
                "{} and {} so far",
                plural(k.regressions.into(), "regression", "regressions"),
                plural(k.fixes.into(), "fix", "fixes")
            ),
            t.dim,
        ));
    }
    if let Some(sl) = app.silences.silencing((o, r, p), &d.details, d.pass) {
        // Why it is dimmed, and until when.
        lines.push(Line::styled(
            format!(
                "silenced by {} until {} ({ago} left)",
                sanitize::line(&sl.id),
                date_time(sl.ends_ms),
                ago = crate::model::silence::short_duration(sl.ends_ms.saturating_sub(now_ms)),
            ),
            t.status_warn,
        ));
        let mut why = format!(
            "  {} · {}",
            sanitize::line(&sl.matcher),
            sanitize::line(&sl.created_by)
        );
        if !sl.comment.is_empty() {
            why.push_str(&format!(": {}", sanitize::line(&sl.comment)));
        }
        lines.push(Line::styled(why, t.dim));
    }
    if let Some(peer) = &d.peer {
        let mut from = format!("from {}", sanitize::line(&peer.label));
        if let Some(id) = &peer.identity {
            from.push_str(&format!(" · identity {}", sanitize::line(id)));
        }
        lines.push(Line::styled(from, t.dim));
    }
    if let Some(f) = &app.forward {
        // The event shown, or the key's latest alert.
        let seq = d.seq.unwrap_or(d.key.last_seq);
        for o in f.outcomes(seq) {
            let (text, style) = match &o.outcome {
                Some(oc) => (oc.describe(), outcome_style(oc, t)),
                None if seq.saturating_add(DEFAULT_OUTCOMES as u64) < app.stats.next_seq => (
                    format!(
                        "no longer tracked (only the last {} alerts are)",
                        thousands(DEFAULT_OUTCOMES as u64)
                    ),
                    t.dim,
                ),
                None => ("not handed to the forwarder yet".to_owned(), t.dim),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("forward {} → ", display_url(&o.upstream)), t.dim),
                Span::styled(text, style),
            ]));
        }
    }
    lines.push(Line::raw(""));
    if d.details.trim().is_empty() {
        lines.push(Line::styled(
            if d.pass {
                "(no details: the check passed)"
            } else {
                "(no details were sent)"
            },
            t.dim,
        ));
    } else {
        let width = Block::bordered().inner(area).width;
        lines.extend(cached_markdown(md, &d.details, t, width).lines);
    }
    // A fix: what was failing until now, as GitHub's issue would still show.
    if let Some((seq, at_ms, before)) = &d.failing_before {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!(
                "{FAIL} failing before, #{} at {} ({} ago):",
                thousands(*seq),
                clock(*at_ms),
                ago(now_ms, *at_ms)
            ),
            t.fail,
        ));
        if before.trim().is_empty() {
            lines.push(Line::styled("(no details were sent)", t.dim));
        } else {
            let width = Block::bordered().inner(area).width;
            lines.extend(cached_markdown(md, before, t, width).lines);
        }
    } else if d.change == Change::Fixed && d.seq.is_some() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "(the failing alert before this fix has left the history ring; t: the key's \
             timeline, which reads older alerts from the durable state when it is on)",
            t.dim,
        ));
    }
    let inner = Block::bordered().inner(area);
    let total: usize = lines
        .iter()
        .map(|l| wrapped_rows(l, inner.width as usize))
        .sum();
    out.details_max = total
        .saturating_sub(inner.height as usize)
        .min(u16::MAX as usize) as u16;
    out.details_scroll = out.details_scroll.min(out.details_max);
    let mut title = Vec::new();
    if out.details_max > 0 {
        title.push(Span::styled(
            format!(
                "{}/{} lines",
                out.details_scroll as usize + inner.height as usize,
                total
            ),
            t.dim,
        ));
    }
    let block = pane_block(app, t, Pane::Details, title, area.width);
    let para = Paragraph::new(Text::from(lines))
        .style(t.text)
        .wrap(Wrap { trim: false })
        .scroll((out.details_scroll, 0))
        .block(block);
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

/// `details` rendered for `width`, from the cache when it was rendered
/// for the same text (same allocation), theme and width. The cache keeps
/// the two texts Details may show at once.
pub(super) fn cached_markdown(
    cache: &mut Vec<MdCache>,
    details: &Arc<str>,
    t: &Theme,
    width: u16,
) -> Text<'static> {
    let hit = cache
        .iter()
        .find(|c| Arc::ptr_eq(&c.details, details) && c.theme == t.name && c.width == width);
    if let Some(c) = hit {
        return c.text.clone();
    }
    let text = markdown::render_width(details, t, width.into());
    if cache.len() >= 2 {
        cache.remove(0);
    }
    cache.push(MdCache {
        details: details.clone(),
        theme: t.name.clone(),
        width,
        text: text.clone(),
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_rows_counts_like_a_word_wrapper() {
        assert_eq!(wrapped_rows(&Line::raw(""), 10), 1);
        assert_eq!(wrapped_rows(&Line::raw("hello"), 10), 1);
        assert_eq!(wrapped_rows(&Line::raw("hello world"), 10), 2);
        assert_eq!(wrapped_rows(&Line::raw("hello world"), 11), 1);
        assert_eq!(
            wrapped_rows(&Line::raw("abcdefghijklmnopqrstuvwxyz"), 10),
            3
        );
        assert_eq!(
            wrapped_rows(&Line::raw("a abcdefghijklmnopqrstuvwxyz"), 10),
            4
        );
    }
}
