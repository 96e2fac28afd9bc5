//! The forwarding panel (`F`): one card per upstream.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::forward::{Role, UpstreamSnapshot, UpstreamState};
use crate::sanitize;

use super::common::pane_block;
use super::text::{labeled, pack, wrap_words};
use super::{FAIL, PASS};
use crate::ui::fmt::{self, rate, thousands};
use crate::ui::keymap::Pane;
use crate::ui::state::{App, FrameLayout};
use crate::ui::theme::Theme;

/// An upstream URL for the screen: sanitized, any credentials
/// (`user:password@`) masked, and `http://` left out as in `--forward
/// host:port` (`https://` stays).
pub fn display_url(url: &str) -> String {
    let clean = sanitize::line(url);
    let (scheme, rest) = match clean.split_once("://") {
        Some(("http", r)) => ("", r),
        Some((s, r)) => (s, r),
        None => ("", clean.as_ref()),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}…@{}{path}", &authority[at + 1..]),
        None => format!("{scheme}{rest}"),
    }
}

/// One upstream in the forwarding panel: URL and role; state, rate,
/// latency and retried attempts; the counters; the last error.
pub(super) fn upstream_card(s: &UpstreamSnapshot, width: usize, t: &Theme) -> Vec<Line<'static>> {
    let (sym, state_style) = match s.state {
        // Answering, and refusing what it is sent (a review saw a ✓
        // beside `failed 300 · delivered 0`).
        _ if s.not_answering() => (FAIL, t.fail),
        UpstreamState::Up if s.refusing => (FAIL, t.fail),
        UpstreamState::Up => (PASS, t.pass),
        UpstreamState::Down => (FAIL, t.fail),
        UpstreamState::Connecting => ("…", t.dim),
    };
    let mut out = pack(
        vec![
            vec![
                Span::styled(format!("{sym} "), state_style),
                Span::styled(display_url(&s.url), t.text.add_modifier(Modifier::BOLD)),
            ],
            vec![Span::styled(s.role.as_str(), t.dim)],
        ],
        width,
        (1, 3),
        t,
    );
    let mut segs = vec![
        vec![Span::styled(
            format!(
                "{} {}{}{}",
                s.state.as_str(),
                fmt::span(s.state_for),
                if s.refusing { ", refusing alerts" } else { "" },
                match s.unanswered_for {
                    Some(d) if s.not_answering() => format!(", no answer for {}", fmt::span(d)),
                    _ => String::new(),
                }
            ),
            state_style,
        )],
        vec![Span::styled(rate(s.rate), t.text)],
    ];
    if s.latency_p50.is_some() || s.latency_p99.is_some() {
        // Not up: these answers are from before, not how it answers now.
        let (style, stale) = if s.state == UpstreamState::Up {
            (t.text, "")
        } else {
            (t.dim, " (stale)")
        };
        segs.push(labeled("p50", fmt::latency(s.latency_p50), style, t));
        let mut p99 = labeled("p99", fmt::latency(s.latency_p99), style, t);
        p99.push(Span::styled(stale, t.dim));
        segs.push(p99);
    } else {
        let none = if s.delivered + s.failed > 0 {
            "no recent answers"
        } else {
            "no answers yet"
        };
        segs.push(vec![Span::styled(none, t.dim)]);
    }
    if s.retries > 0 {
        segs.push(labeled("retries", thousands(s.retries), t.text, t));
    }
    out.extend(pack(segs, width, (3, 3), t));

    let problem = |n: u64| if n > 0 { t.count_fail } else { t.text };
    // `accepted` first: the rest add up to it (README, Forwarding), which
    // the panel lets one check.
    let mut segs = vec![
        labeled("accepted", thousands(s.accepted), t.text, t),
        labeled("delivered", thousands(s.delivered), t.text, t),
        labeled("failed", thousands(s.failed), problem(s.failed), t),
    ];
    if s.role == Role::Tee {
        segs.push(labeled(
            "dropped",
            thousands(s.dropped),
            problem(s.dropped),
            t,
        ));
        let full = s.queue_capacity > 0 && s.queued >= s.queue_capacity as u64;
        let queued = if full {
            format!("{} (full)", thousands(s.queued))
        } else {
            thousands(s.queued)
        };
        segs.push(labeled(
            "queued",
            queued,
            if full { t.count_fail } else { t.text },
            t,
        ));
    }
    segs.push(labeled("in flight", thousands(s.in_flight), t.text, t));
    if s.held > 0 {
        // Backpressure happened: say so, so a slower sender is explained.
        segs.push(labeled("senders held", thousands(s.held), t.text, t));
    }
    out.extend(pack(segs, width, (3, 3), t));

    if let Some(e) = &s.last_error {
        let label = match s.last_error_age {
            Some(a) => format!("last error {} ago:", fmt::span(a)),
            None => "last error:".to_owned(),
        };
        let style = if s.state == UpstreamState::Down {
            t.fail
        } else {
            t.text
        };
        let text = format!("{label} {}", sanitize::line(e));
        for (i, l) in wrap_words(&text, width.saturating_sub(3), 3)
            .into_iter()
            .enumerate()
        {
            let mut spans = vec![Span::raw("   ")];
            match l.strip_prefix(&label) {
                Some(rest) if i == 0 => {
                    spans.push(Span::styled(label.clone(), t.dim));
                    spans.push(Span::styled(rest.to_owned(), style));
                }
                _ => spans.push(Span::styled(l, style)),
            }
            out.push(Line::from(spans));
        }
    }
    out
}

/// The forwarding panel: one card per upstream, from the first one
/// scrolled to, built only while they fit.
pub(super) fn draw_forwarding(
    frame: &mut Frame,
    app: &App,
    out: &mut FrameLayout,
    t: &Theme,
    area: Rect,
) {
    let Some(fwd) = &app.forward else {
        let block = pane_block(
            app,
            t,
            Pane::Forwarding,
            vec![Span::styled("off", t.dim)],
            area.width,
        );
        let text = vec![
            Line::styled("Forwarding is off.", t.text),
            Line::raw(""),
            Line::styled(
                "Start sinkwatch with --forward URL (repeatable; --forward-mode tee|proxy) \
                 to pass every accepted alert on to other AlertSinks and watch them here.",
                t.dim,
            ),
            Line::styled("F shows Transitions again.", t.dim),
        ];
        // A margin rather than a leading space: wrapped lines keep it too.
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text_area = Rect {
            x: inner.x + 1,
            width: inner.width.saturating_sub(1),
            ..inner
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), text_area);
        return;
    };
    // The sample the status bar shows too, taken at the last sync: drawing
    // never reads the forwarders themselves (only their fixed mode).
    let snaps = &app.forward_snaps;
    if snaps.is_empty() {
        // `attach`: the remote sinks report no forwarder (yet).
        let block = pane_block(
            app,
            t,
            Pane::Forwarding,
            vec![Span::styled("none", t.dim)],
            area.width,
        );
        let text = vec![
            Line::styled(" No forwarding reported.", t.text),
            Line::raw(""),
            Line::styled(
                " A sink this viewer is attached to reports its --forward upstreams here \
                 about once a second while it is live: none does now (they do not forward, \
                 or are not live: see the status bar).",
                t.dim,
            ),
            Line::styled(" F shows Transitions again.", t.dim),
        ];
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
            area,
        );
        return;
    }
    let n = snaps.len();
    let up = snaps
        .iter()
        .filter(|s| s.state == UpstreamState::Up)
        .count();
    let down = snaps
        .iter()
        .filter(|s| s.state == UpstreamState::Down)
        .count();
    let mode = match fwd.mode() {
        crate::forward::ForwardMode::Tee => "tee",
        crate::forward::ForwardMode::Proxy => "proxy",
    };
    let mut title = vec![Span::styled(format!("{mode} · {up}/{n} up"), t.title)];
    if down > 0 {
        title.push(Span::styled(format!(" · {FAIL} {down} down"), t.count_fail));
    }
    let inner = Block::bordered().inner(area);
    let (w, h) = (inner.width as usize, inner.height as usize);
    out.forward_scroll = out.forward_scroll.min(n.saturating_sub(1));
    let first = out.forward_scroll;
    // The cards that (partly) fit; a blank line between them if it all fits.
    let mut cards = Vec::new();
    let mut total = 0;
    for s in snaps.iter().skip(first) {
        if total >= h {
            break;
        }
        let card = upstream_card(s, w, t);
        total += card.len();
        cards.push(card);
    }
    let spaced = total + cards.len().saturating_sub(1) <= h;
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut whole = 0;
    for card in cards {
        if spaced && !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        if lines.len() + card.len() <= h {
            whole += 1;
        }
        lines.extend(card);
    }
    lines.truncate(h);
    if n == 0 {
        lines.push(Line::styled(" no upstreams", t.dim));
    }
    let mut more = Vec::new();
    if first > 0 {
        more.push(format!("↑ {first} above"));
    }
    let below = n.saturating_sub(first + whole);
    if below > 0 {
        more.push(format!("↓ {below} more"));
    }
    let mut block = pane_block(app, t, Pane::Forwarding, title, area.width);
    if !more.is_empty() {
        let how = if app.focus == Pane::Forwarding {
            "j/k"
        } else {
            "Tab here, j/k"
        };
        block = block.title_bottom(Line::styled(
            format!(" {} · {how} ", more.join(" · ")),
            t.dim,
        ));
    }
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).style(t.text).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The card's text at 100 columns, lines joined.
    fn text(s: &UpstreamSnapshot) -> String {
        let t = crate::ui::theme::Theme::default_theme();
        upstream_card(s, 100, &t)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn upstream_urls_show_without_credentials() {
        assert_eq!(display_url("http://127.0.0.1:50071"), "127.0.0.1:50071");
        assert_eq!(
            display_url("https://sink.example:443/x"),
            "https://sink.example:443/x"
        );
        assert_eq!(
            display_url("https://user:secret@sink.example:443"),
            "https://…@sink.example:443"
        );
        assert_eq!(display_url("http://a@b:1/p@q"), "…@b:1/p@q");
        assert_eq!(display_url("http://h:1\x1b[2J"), "h:1\\x1b[2J");
    }

    /// An upstream that answers and refuses what it is sent is marked ✗
    /// and says so, not ✓ beside its failures (a review).
    #[test]
    fn an_upstream_refusing_alerts_is_not_shown_healthy() {
        let mut s = crate::ui::harness::upstream(50071, UpstreamState::Up, 8);
        let healthy = text(&s);
        assert!(
            healthy.trim_start().starts_with(PASS) && !healthy.contains("refusing"),
            "{healthy}"
        );
        s.refusing = true;
        let refusing = text(&s);
        assert!(refusing.trim_start().starts_with(FAIL), "{refusing}");
        assert!(refusing.contains("up 8s, refusing alerts"), "{refusing}");
        // And in the status bar (a review: only the panel said it).
        let h = crate::forward::ForwardHealth::of(std::slice::from_ref(&s));
        assert!(super::super::status::forward_unhealthy(&h));
        let bar = super::super::status::forward_health_text(&h, true);
        assert!(bar.starts_with("fwd 1/1 up, 1 refusing"), "{bar}");
    }

    /// An upstream up but not answering what it was sent for 3 s or more
    /// is marked ✗ and says for how long, here and in the status bar;
    /// under that, or with nothing in flight, it is healthy.
    #[test]
    fn an_upstream_not_answering_is_not_shown_healthy() {
        let mut s = crate::ui::harness::upstream(50071, UpstreamState::Up, 90);
        s.in_flight = 4;
        s.unanswered_for = Some(Duration::from_millis(2_900));
        let busy = text(&s);
        assert!(busy.trim_start().starts_with(PASS), "{busy}");
        assert!(!busy.contains("no answer for"), "{busy}");
        s.unanswered_for = Some(Duration::from_secs(12));
        let hung = text(&s);
        assert!(hung.trim_start().starts_with(FAIL), "{hung}");
        assert!(hung.contains("up 1m, no answer for 12s"), "{hung}");
        // Hung before its first answer: connecting, and said so too.
        s.state = UpstreamState::Connecting;
        let early = text(&s);
        assert!(early.trim_start().starts_with(FAIL), "{early}");
        assert!(
            early.contains("connecting 1m, no answer for 12s"),
            "{early}"
        );
        s.state = UpstreamState::Up;
        let h = crate::forward::ForwardHealth::of(std::slice::from_ref(&s));
        assert!(super::super::status::forward_unhealthy(&h));
        assert!(
            super::super::status::forward_health_text(&h, true)
                .starts_with("fwd 1/1 up, 1 not answering"),
            "{}",
            super::super::status::forward_health_text(&h, true)
        );
        // Down already says it: not twice.
        s.state = UpstreamState::Down;
        assert!(!text(&s).contains("no answer for"));
    }
}
