//! The rollout screen (`r`): compliance over time and what changed since
//! each repo's previous scan.
//!
//! Top: the share of passing keys over the window (a three-row sparkline),
//! with the regressions and fixes per bucket under it. Middle: a table per
//! policy (or per org, `o`), least compliant first, each row with its own
//! sparkline, its share now, the change in points over the window and its
//! regressions and fixes. Bottom: the repos whose last two scans differ,
//! newest first, with the policies that got worse and better.
//!
//! A sparkline is scaled between the lowest and highest share it shows
//! (at least 5 points apart, so that noise does not look like a cliff); the
//! share now and the change are printed beside it. When the window has
//! more buckets than the sparkline has columns, a column is several
//! buckets: the share at the end of the newest, the sum of the
//! transitions.
//!
//! Everything drawn is read from the aggregation ([`RolloutState`]), only
//! for the rows on screen; the store is read for names only, in one short
//! hold.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, SparklineBar, Wrap};

use crate::hub::Hub;
use crate::model::rollout::{Group, MAX_ORG_SERIES, Point, ScanDiff};
use crate::sanitize;

use super::{FAIL, PASS};
use crate::ui::fmt::{self, ago, clock, thousands};
use crate::ui::keymap;
use crate::ui::state::{RolloutBy, RolloutFocus, RolloutState};
use crate::ui::theme::Theme;

/// The narrowest span of a sparkline, in share (5 points).
const MIN_SPAN: f64 = 0.05;
/// Width of the numbers right of a sparkline (share, change, ▲, ▼) when
/// each count takes `digits` columns (at least 5: `99,99` and below).
fn numbers_width(digits: usize) -> u16 {
    (19 + 2 * digits) as u16
}

/// Transitions over the window: regressions and fixes.
fn transitions(series: &[Option<Point>]) -> (u64, u64) {
    series.iter().flatten().fold((0u64, 0u64), |(r, f), p| {
        (r + u64::from(p.regressions), f + u64::from(p.fixes))
    })
}

/// Columns of a sparkline `width` wide over `series` (oldest first): each
/// column covers its share of the buckets (a bucket spans several columns
/// when there are fewer buckets than columns): the share at the end of the
/// newest, the sum of the transitions.
fn columns(series: &[Option<Point>], width: usize) -> Vec<Option<Point>> {
    let n = series.len();
    if n == 0 {
        return Vec::new();
    }
    (0..width)
        .map(|c| {
            let lo = c * n / width;
            let hi = ((c + 1) * n / width).max(lo + 1).min(n);
            let chunk = &series[lo..hi];
            let last = chunk.iter().rev().flatten().next().copied()?;
            let (reg, fix) = chunk
                .iter()
                .flatten()
                .fold((0, 0), |(r, f), p| (r + p.regressions, f + p.fixes));
            Some(Point {
                regressions: reg,
                fixes: fix,
                ..last
            })
        })
        .collect()
}

/// The lowest and highest share shown, at least [`MIN_SPAN`] apart.
fn range(cols: &[Option<Point>]) -> (f64, f64) {
    let shares = cols.iter().flatten().map(Point::share);
    let (lo, hi) = shares.fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let lo = lo.min(hi - MIN_SPAN).max(0.0);
    (lo, hi.max(lo + MIN_SPAN))
}

/// Bars of the share, scaled to `range`: the lowest is one eighth of a
/// row (never blank, which means no data).
fn share_bars(cols: &[Option<Point>], (lo, hi): (f64, f64), style: Style) -> Vec<SparklineBar> {
    cols.iter()
        .map(|p| match p {
            None => SparklineBar::from(None),
            Some(p) => {
                let v = 125.0 + (p.share() - lo) / (hi - lo) * 875.0;
                SparklineBar::from(v.round().clamp(0.0, 1000.0) as u64).style(Some(style))
            }
        })
        .collect()
}

fn count_bars(cols: &[Option<Point>], f: impl Fn(&Point) -> u32) -> (Vec<SparklineBar>, u64) {
    let bars: Vec<SparklineBar> = cols
        .iter()
        .map(|p| SparklineBar::from(p.as_ref().map(|p| u64::from(f(p)))))
        .collect();
    let max = cols.iter().flatten().map(|p| u64::from(f(p))).max();
    (bars, max.unwrap_or(0).max(1))
}

fn pct(share: f64) -> String {
    format!("{:5.1}%", share * 100.0)
}

/// The change in points over the window: first shown to now.
fn delta(cols: &[Option<Point>], now: &Point) -> String {
    match cols.iter().flatten().next() {
        Some(first) => {
            let d = (now.share() - first.share()) * 100.0;
            if d.abs() < 0.05 {
                "   ±0.0".to_owned()
            } else {
                format!("{d:+7.1}")
            }
        }
        None => "       ".to_owned(),
    }
}

/// Transitions over the window, and the share and change: the numbers
/// right of a sparkline (from the buckets, not the columns).
fn numbers(series: &[Option<Point>], now: &Point, digits: usize, t: &Theme) -> Vec<Span<'static>> {
    let (reg, fix) = transitions(series);
    let style = |n: u64, s: Style| if n > 0 { s } else { t.dim };
    vec![
        Span::styled(format!(" {}", pct(now.share())), t.text),
        Span::styled(delta(series, now), t.text),
        Span::styled(
            format!(" ▲{:>digits$}", thousands(reg)),
            style(reg, t.regressed),
        ),
        Span::styled(
            format!(" ▼{:>digits$}", thousands(fix)),
            style(fix, t.fixed),
        ),
    ]
}

fn sparkline(frame: &mut Frame, area: Rect, bars: Vec<SparklineBar>, max: u64, style: Style) {
    frame.render_widget(
        Sparkline::default()
            .data(bars)
            .max(max)
            .style(style)
            .absent_value_symbol(" "),
        area,
    );
}

/// One table or total row: name, sparkline, numbers.
struct Row {
    name: String,
    now: Point,
    series: Vec<Option<Point>>,
}

/// The smallest inside (columns, rows) the screen is drawn in.
const MIN_INNER: (u16, u16) = (48, 8);

/// Draws the screen over `area`.
pub fn draw(frame: &mut Frame, r: &RolloutState, t: &Theme, area: Rect, hub: &Hub, now_ms: u64) {
    let w = r.window;
    let long = format!(
        " Rollout · compliance over the {} ({} buckets) ",
        w.label(),
        w.bucket_label()
    );
    // The whole title or the name alone: never cut inside a word.
    let title = if fmt::width(&long) + 2 <= area.width as usize {
        long
    } else {
        " Rollout ".to_owned()
    };
    let block = Block::bordered()
        .border_style(t.border_focused)
        .title(Line::styled(title, t.title_focused))
        .title_bottom(Line::styled(
            super::common::fit_title(&keymap::popup_hints(keymap::Mode::Rollout), area.width),
            t.footer_text,
        ));
    let inner = block.inner(area);
    // Drawn alone on a fresh frame (see `view/mod.rs`): nothing to clear.
    frame.render_widget(block, area);
    // Below this the sparklines, axis and counts overlap (a review: an
    // empty screen at 40 columns, `1h agono` and cut counts at 42 – 45):
    // said instead.
    if inner.height < MIN_INNER.1 || inner.width < MIN_INNER.0 {
        let msg = format!(
            "The rollout screen needs at least {}×{}; this is {}×{}. Enlarge the window, or r \
             closes it.",
            MIN_INNER.0 + 2,
            MIN_INNER.1 + 2,
            area.width,
            area.height
        );
        frame.render_widget(
            Paragraph::new(Line::styled(msg, t.dim)).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let m = &r.model;
    if !m.settled() {
        let from = if r.reading_older() {
            "the week before from the state database"
        } else {
            "the history"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    " Taking in {from}: {} alerts so far…",
                    thousands(m.pushed())
                ),
                t.dim,
            )),
            inner,
        );
        return;
    }

    let name_w = (inner.width / 4).clamp(14, 30);
    // The counts' columns fit the largest, every key's (`24,088` was cut
    // to `24,08` in a fixed width of 5).
    let all_now = m.current(Group::All);
    let all_series = m.series(Group::All, w, now_ms);
    let (all_reg, all_fix) = transitions(&all_series);
    let digits = thousands(all_reg.max(all_fix)).len().max(5);
    let numbers_w = numbers_width(digits);
    let spark_w = inner.width.saturating_sub(name_w + numbers_w + 2).max(8);
    let x_spark = inner.x + name_w + 1;
    let x_num = x_spark + spark_w;
    let big = if inner.height >= 20 { 3 } else { 1 };
    let overall_h = 1 + big + 3;
    let rest = inner.height.saturating_sub(overall_h + 2);
    let total_groups = match r.by {
        RolloutBy::Policy => m.policy_count(),
        RolloutBy::Org => m.org_count(),
    };
    // The table as long as it needs (and a note), up to three fifths.
    let table_h = (rest - rest * 2 / 5).min(total_groups as u16 + 1);
    let scans_h = rest - table_h;

    // Which rows are on screen, then their names in one short hold.
    let groups: Vec<Group> = match r.by {
        RolloutBy::Policy => (0..m.policy_count() as u32).map(Group::Policy).collect(),
        RolloutBy::Org => (0..m.org_count() as u32).map(Group::Org).collect(),
    };
    let mut groups: Vec<(Group, Point)> = groups
        .into_iter()
        .map(|g| (g, m.current(g)))
        .filter(|(_, p)| p.total > 0)
        .collect();
    let shown = table_h as usize;
    let g_first = r.groups_scroll.min(groups.len().saturating_sub(shown));
    let n_changes = m.changes_len();
    let s_first = r
        .scans_scroll
        .min(n_changes.saturating_sub(scans_h as usize));
    let diffs = m.changes(s_first, scans_h as usize);
    let (rows, scan_lines) = hub.read(|s| {
        let name = |g: Group| -> String {
            match g {
                Group::Policy(p) if (p as usize) < s.policy_count() => {
                    sanitize::line(s.policy_name(p)).into_owned()
                }
                Group::Org(o) if (o as usize) < s.org_count() => {
                    sanitize::line(s.org_name(o)).into_owned()
                }
                _ => "?".to_owned(),
            }
        };
        // Least compliant first, then by name.
        let mut named: Vec<(String, Group, Point)> =
            groups.drain(..).map(|(g, p)| (name(g), g, p)).collect();
        named.sort_by(|a, b| {
            a.2.share()
                .total_cmp(&b.2.share())
                .then_with(|| a.0.cmp(&b.0))
        });
        let rows: Vec<Row> = named
            .into_iter()
            .skip(g_first)
            .take(shown)
            .map(|(name, g, now)| Row {
                name,
                now,
                series: m.series(g, w, now_ms),
            })
            .collect();
        let scans: Vec<Line<'static>> = diffs
            .iter()
            .map(|d| scan_line(s, d, t, inner.width as usize, now_ms))
            .collect();
        (rows, scan_lines_or_empty(scans, t))
    });

    // 1. Every key: share, transitions, axis.
    let all_cols = columns(&all_series, spark_w as usize);
    let (lo, hi) = range(&all_cols);
    let mut y = inner.y;
    let line = |x: u16, y: u16, width: u16| Rect {
        x,
        y,
        width,
        height: 1,
    };
    let mut head = vec![Span::styled(
        format!(" {:<w$}", "Every key", w = name_w as usize),
        t.title,
    )];
    head.push(Span::styled(
        format!(
            "{} of {} passing",
            thousands(u64::from(all_now.passing)),
            thousands(u64::from(all_now.total))
        ),
        t.text,
    ));
    if let Some(e) = &r.older_error {
        head.push(Span::styled(
            format!(" · older alerts not read: {}", sanitize::line(e)),
            t.status_warn,
        ));
    }
    if r.missed > 0 {
        head.push(Span::styled(
            format!(" · {} missed", thousands(r.missed)),
            t.status_warn,
        ));
    }
    frame.render_widget(
        Paragraph::new(Line::from(head)),
        line(inner.x, y, inner.width),
    );
    frame.render_widget(
        Paragraph::new(Line::from(numbers(&all_series, &all_now, digits, t))),
        line(x_num, y + 1, numbers_w.min(inner.right() - x_num)),
    );
    y += 1;
    for (i, label) in [(0, pct(hi)), (big - 1, pct(lo))] {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{label:>w$}", w = name_w as usize),
                t.dim,
            )),
            line(inner.x, y + i, name_w),
        );
    }
    sparkline(
        frame,
        Rect {
            x: x_spark,
            y,
            width: spark_w,
            height: big,
        },
        share_bars(&all_cols, (lo, hi), t.pass),
        1000,
        t.pass,
    );
    y += big;
    for (label, style, f) in [
        (
            "▲ regressions",
            t.regressed,
            (|p: &Point| p.regressions) as fn(&Point) -> u32,
        ),
        ("▼ fixes", t.fixed, |p: &Point| p.fixes),
    ] {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{label:>w$}", w = name_w as usize),
                t.dim,
            )),
            line(inner.x, y, name_w),
        );
        let (bars, max) = count_bars(&all_cols, f);
        sparkline(frame, line(x_spark, y, spark_w), bars, max, style);
        y += 1;
    }
    let left = format!("{} ago", ago(w.span_ms(), 0));
    let axis = format!(
        "{left}{:>pad$}",
        "now",
        pad = (spark_w as usize).saturating_sub(left.len())
    );
    frame.render_widget(
        Paragraph::new(Line::styled(axis, t.dim)),
        line(x_spark, y, spark_w),
    );
    y += 1;

    // 2. The table.
    let focus = |f: RolloutFocus| {
        if r.focus == f {
            t.title_focused
        } else {
            t.title
        }
    };
    let by = match r.by {
        RolloutBy::Policy => "By policy",
        RolloutBy::Org => "By org",
    };
    let mut title = vec![Span::styled(
        format!(" {:<w$}", by, w = name_w as usize),
        focus(RolloutFocus::Groups),
    )];
    let mut order = "worst first".to_owned();
    if total_groups > rows.len() {
        order.push_str(&format!(
            " · {}–{} of {}",
            g_first + 1,
            g_first + rows.len(),
            total_groups
        ));
    }
    title.push(Span::styled(
        format!(
            "{:<w$}",
            fmt::ellipsize(&order, spark_w as usize),
            w = spark_w as usize
        ),
        t.dim,
    ));
    title.push(Span::styled("    now      Δ   regr  fixes", t.dim));
    frame.render_widget(
        Paragraph::new(Line::from(title)),
        line(inner.x, y, inner.width),
    );
    y += 1;
    for row in &rows {
        let cols = columns(&row.series, spark_w as usize);
        let name = fmt::ellipsize(&row.name, name_w as usize - 1);
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {name}"), t.text)),
            line(inner.x, y, name_w),
        );
        let style = if row.now.passing < row.now.total {
            t.count_fail
        } else {
            t.pass
        };
        sparkline(
            frame,
            line(x_spark, y, spark_w),
            share_bars(&cols, range(&cols), style),
            1000,
            style,
        );
        frame.render_widget(
            Paragraph::new(Line::from(numbers(&row.series, &row.now, digits, t))),
            line(x_num, y, numbers_w.min(inner.right() - x_num)),
        );
        y += 1;
    }
    let mut more = Vec::new();
    if r.by == RolloutBy::Org && m.orgs_not_charted() > 0 {
        more.push(format!(
            "keys of orgs past the first {MAX_ORG_SERIES}: {} (not charted)",
            thousands(m.orgs_not_charted())
        ));
    }
    if !more.is_empty() && rows.len() < table_h as usize {
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {}", more.join(" · ")), t.dim)),
            line(inner.x, y, inner.width),
        );
    }
    y = inner.y + overall_h + 1 + table_h;

    // 3. Since the previous scan.
    let title = vec![
        Span::styled(
            " Since each repo's previous scan",
            focus(RolloutFocus::Scans),
        ),
        Span::styled(
            format!(
                " · {} changed, newest first",
                fmt::plural(n_changes as u64, "repo", "repos")
            ),
            t.dim,
        ),
    ];
    frame.render_widget(
        Paragraph::new(Line::from(title)),
        line(inner.x, y, inner.width),
    );
    y += 1;
    frame.render_widget(
        Paragraph::new(scan_lines),
        Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: scans_h,
        },
    );
}

fn scan_lines_or_empty(lines: Vec<Line<'static>>, t: &Theme) -> Vec<Line<'static>> {
    if lines.is_empty() {
        vec![Line::styled(
            "   No repo has changed between its last two scans.",
            t.dim,
        )]
    } else {
        lines
    }
}

/// `21:03:05  4m  org/repo  ✗ worse, … ✓ better, …`
fn scan_line(
    s: &crate::model::Store,
    d: &ScanDiff,
    t: &Theme,
    width: usize,
    now_ms: u64,
) -> Line<'static> {
    let names = |ps: &[u32]| -> String {
        ps.iter()
            .filter(|&&p| (p as usize) < s.policy_count())
            .map(|&p| sanitize::line(s.policy_name(p)).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (org, repo) = if (d.repo as usize) < s.repo_count() {
        let e = s.repo(d.repo);
        (
            sanitize::line(s.org_name(e.org)).into_owned(),
            sanitize::line(&e.name).into_owned(),
        )
    } else {
        ("?".to_owned(), "?".to_owned())
    };
    let head = format!(" {} {:>4}  ", clock(d.at_ms), ago(now_ms, d.at_ms));
    let repo_w = (width / 4).clamp(16, 36);
    let mut spans = vec![
        Span::styled(head, t.dim),
        Span::styled(
            format!("{:<repo_w$}", fmt::org_repo_fit(&org, &repo, repo_w)),
            t.text,
        ),
    ];
    let mut room = width.saturating_sub(fmt::width(&spans[0].content) + repo_w);
    for (sym, list, style) in [(FAIL, &d.worse, t.regressed), (PASS, &d.better, t.fixed)] {
        if list.is_empty() || room < 4 {
            continue;
        }
        let text = fmt::ellipsize(&format!("  {sym} {}", names(list)), room);
        room = room.saturating_sub(fmt::width(&text));
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}
