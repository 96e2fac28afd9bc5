//! The Alerts pane: the events or latest-per-key table.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::model::store::KeyId;
use crate::model::{Change, Store};
use crate::sanitize;

use super::common::{
    change_span, flashing, highlight, pane_block, row_styles, status_cell, summary, title_room,
};
use super::{FAIL, PASS};
use crate::ui::fmt::{self, ago, clock, thousands};
use crate::ui::index::SeqList;
use crate::ui::keymap::Pane;
use crate::ui::state::{AlertsView, App};
use crate::ui::theme::Theme;

/// One alert row of a visible window, copied out of the store.
pub(super) struct AlertRow {
    pub(super) at_ms: u64,
    pub(super) pass: bool,
    pub(super) change: Change,
    pub(super) org: Arc<str>,
    pub(super) repo: Arc<str>,
    pub(super) policy: Arc<str>,
    pub(super) details: Arc<str>,
    /// For the latest view: the key's state.
    pub(super) count: u64,
    pub(super) last_change_ms: u64,
    /// A failure an active silence covers: drawn dimmed.
    pub(super) silenced: bool,
}

impl AlertRow {
    pub(super) fn from_key(s: &Store, key: KeyId) -> AlertRow {
        let k = s.key(key);
        let (org, repo, policy) = s.key_names(key);
        AlertRow {
            at_ms: k.last_seen_ms,
            pass: k.pass,
            change: k.change,
            org: org.clone(),
            repo: repo.clone(),
            policy: policy.clone(),
            details: k.details.clone(),
            count: k.count,
            last_change_ms: k.last_change_ms,
            silenced: false,
        }
    }
}

/// The words of a command as lines of at most `width` columns: the first
/// indented by 3, the rest by 5, broken only between `parts` (an option
/// and its value stay together: a review saw `"Branch` / `Protection"`).
fn command_lines(parts: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::from("  ");
    for part in parts {
        let fresh = lines.is_empty() && cur.trim().is_empty();
        if !fresh && fmt::width(&cur) + 1 + fmt::width(part) > width {
            lines.push(std::mem::replace(&mut cur, String::from("    ")));
        }
        cur.push(' ');
        cur.push_str(part);
    }
    lines.push(cur);
    lines
}

pub(super) fn empty_alerts_message(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    if app.stats.accepted == 0 {
        if app.info.live {
            let (waiting, send_args) = match &app.info.empty_hint {
                Some(h) => (h.waiting.clone(), h.send_args.clone()),
                None => {
                    let addr = &app.info.label;
                    (format!("on {addr}"), format!("--to {addr}"))
                }
            };
            let waiting = sanitize::line(&waiting);
            let send_args = sanitize::line(&send_args);
            let point = if app.info.remote.is_some() {
                " Point Allstar's rpc action at the attached sink, or try:"
            } else {
                " Point Allstar's rpc action at this address, or try:"
            };
            let mut parts = vec!["sinkwatch send".to_owned()];
            // `--to URL --token-file FILE`: an option with its value.
            for (i, opt) in send_args.split(" --").enumerate() {
                parts.push(if i == 0 {
                    opt.to_owned()
                } else {
                    format!("--{opt}")
                });
            }
            parts.extend(
                [
                    "--owner my-org",
                    "--repo my-repo",
                    "--policy \"Branch Protection\"",
                    "--fail",
                ]
                .map(str::to_owned),
            );
            let mut lines = vec![
                Line::styled(format!(" Waiting for alerts {waiting} …"), t.text),
                Line::raw(""),
                Line::styled(point, t.dim),
            ];
            lines.extend(
                command_lines(&parts, width)
                    .into_iter()
                    .map(|l| Line::styled(l, t.dim)),
            );
            lines
        } else {
            let what = if app.info.database {
                "database"
            } else {
                "recording"
            };
            vec![Line::styled(format!(" The {what} holds no alerts."), t.dim)]
        }
    } else if !app.index.complete() {
        vec![Line::styled(" Filtering…", t.dim)]
    } else {
        vec![
            Line::styled(" No alert matches.", t.text),
            Line::styled(
                " c clears the filter and narrowing; Esc widens one level.",
                t.dim,
            ),
        ]
    }
}

/// The Alerts pane's title in `room` columns (see [`title_room`]).
pub(super) fn alerts_title(app: &App, t: &Theme, room: usize) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    match app.view {
        AlertsView::Events => {
            spans.push(Span::styled(
                format!("events · {}", thousands(app.index.len() as u64)),
                t.title,
            ));
            if !app.index.complete() {
                spans.push(Span::styled(
                    format!(" · filtering {:.0}%", app.index.progress() * 100.0),
                    t.status_warn,
                ));
            }
            if let Some(n) = app.new_since_pause() {
                spans.push(Span::styled(
                    format!(" · ⏸ paused +{} new", thousands(n as u64)),
                    t.status_warn,
                ));
            } else if !app.sel_events.follow {
                spans.push(Span::styled(" · scrolled (g: newest)", t.dim));
            } else {
                spans.push(Span::styled(" · newest first", t.dim));
            }
        }
        AlertsView::Latest => {
            // Counted as the status bar counts: silenced failures apart.
            // The failing rows come first in the list; their verdicts are
            // cached per key (looked at only while some key is silenced).
            let failing_rows =
                &app.lists.latest[..app.lists.latest_failing.min(app.lists.latest.len())];
            let silenced = if app.silences.silenced() > 0 {
                failing_rows
                    .iter()
                    .filter(|k| app.silences.key_silenced(**k))
                    .count() as u64
            } else {
                0
            };
            let f = failing_rows.len() as u64 - silenced;
            let total = format!(" / {}", thousands(app.lists.latest.len() as u64));
            let paused = app.paused_at.is_some();
            // From the whole title to the counts alone: the first that
            // fits. The failing count and the total stay to the last.
            let forms: [(&str, &str, Option<&str>, &str); 6] = [
                (
                    "latest per key · ",
                    " failing",
                    Some(" silenced"),
                    " · ⏸ paused",
                ),
                ("latest · ", " failing", Some(" silenced"), " · ⏸ paused"),
                ("latest · ", " failing", Some(" sil."), " · ⏸ paused"),
                ("latest · ", " failing", Some(" sil."), " · ⏸"),
                ("", "", Some(" sil."), " ⏸"),
                ("", "", None, " ⏸"),
            ];
            let build = |(lead, failing, sil, pause): (&str, &str, Option<&str>, &str)| {
                let mut v = Vec::new();
                if !lead.is_empty() {
                    v.push(Span::styled(lead.to_owned(), t.title));
                }
                v.push(Span::styled(
                    format!("{FAIL} {}{failing}", thousands(f)),
                    if f > 0 { t.count_fail } else { t.count_ok },
                ));
                if let (true, Some(word)) = (silenced > 0, sil) {
                    v.push(Span::styled(
                        format!(" · {}{word}", thousands(silenced)),
                        t.title,
                    ));
                }
                v.push(Span::styled(total.clone(), t.title));
                if paused {
                    v.push(Span::styled(pause.to_owned(), t.status_warn));
                }
                v
            };
            let width = |v: &[Span]| v.iter().map(Span::width).sum::<usize>();
            let mut chosen = None;
            for form in forms {
                let v = build(form);
                if width(&v) <= room {
                    chosen = Some(v);
                    break;
                }
            }
            spans = chosen.unwrap_or_else(|| build(forms[5]));
        }
    }
    spans
}

/// Widths of the org/repo and policy columns: what the visible rows need,
/// squeezed when `avail` (the width left by the fixed columns) is short.
/// What gives way first: the policy (down to [`POLICY_MIN`]), then org/repo
/// (down to [`ORG_REPO_MIN`]) so that the details column appears as soon as
/// [`MIN_SUMMARY`] fits; only then is details left out (`false`) and the
/// names share the whole width. When no visible row has details (passing
/// checks), none is kept for them: the names come first (a user's review
/// saw `Branch Protec…` beside a blank details column).
pub(super) fn name_widths(avail: usize, rows: &[AlertRow]) -> (u16, u16, bool) {
    // Measured as shown: a name's escapes (`\x1b`) take columns its raw
    // control characters do not.
    let shown = |s: &str| fmt::width(&crate::sanitize::line(s));
    let org_w = rows
        .iter()
        .map(|r| shown(&r.org) + 1 + shown(&r.repo))
        .max()
        .unwrap_or(0)
        .clamp(8, 48);
    let pol_w = rows
        .iter()
        .map(|r| shown(&r.policy))
        .max()
        .unwrap_or(0)
        .clamp(6, 28);
    let room = avail.saturating_sub(1 + MIN_SUMMARY);
    if org_w + pol_w <= room {
        return (org_w as u16, pol_w as u16, true);
    }
    let any_details = rows.iter().any(|r| !r.details.trim().is_empty());
    let pol_min = pol_w.min(POLICY_MIN);
    if any_details && org_w + pol_min <= room {
        return (org_w as u16, (room - org_w) as u16, true);
    }
    let org_min = org_w.min(ORG_REPO_MIN);
    if any_details && org_min + pol_min <= room {
        return ((room - pol_min) as u16, pol_min as u16, true);
    }
    // No details column (and its spacing): the names share `avail + 1`.
    let total = avail + 1;
    if org_w + pol_w < total {
        let spare = total - org_w - pol_w - 1;
        return ((org_w + spare) as u16, pol_w as u16, false);
    }
    let org = (total.saturating_sub(1) * org_w / (org_w + pol_w)).min(org_w);
    (org as u16, total.saturating_sub(org + 1) as u16, false)
}

/// The policy column gives way down to this before anything else does.
pub(super) const POLICY_MIN: usize = 13;
/// Then org/repo, down to this.
pub(super) const ORG_REPO_MIN: usize = 22;

/// The narrowest details column worth showing.
pub(super) const MIN_SUMMARY: usize = 16;

/// A silenced failure in a one-column status cell (a narrow pane).
const SILENCED: &str = "~";

/// A column of the Alerts pane, before the details summary.
#[derive(Clone, Copy)]
pub(super) enum Column {
    Time,
    Status,
    OrgRepo,
    Policy,
    Change,
    Since,
    Seen,
}

/// The events view: each alert as received.
pub(super) const EVENT_COLUMNS: [Column; 5] = [
    Column::Time,
    Column::Status,
    Column::OrgRepo,
    Column::Policy,
    Column::Change,
];
/// The latest status per key.
pub(super) const LATEST_COLUMNS: [Column; 5] = [
    Column::Status,
    Column::OrgRepo,
    Column::Policy,
    Column::Since,
    Column::Seen,
];

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Time => "time UTC",
            Column::Status => "status",
            Column::OrgRepo => "org/repo",
            Column::Policy => "policy",
            Column::Change => "change",
            Column::Since => "since",
            Column::Seen => "seen",
        }
    }

    /// Its width: fixed, or for the names the one [`name_widths`] gives.
    /// `compact` (a narrow pane) shortens the change word.
    fn width(self, org_w: u16, pol_w: u16, compact: bool) -> u16 {
        match self {
            Column::Time => 8,
            Column::Status if compact => 1,
            Column::Status => 6,
            Column::OrgRepo => org_w,
            Column::Policy => pol_w,
            Column::Change if compact => 6,
            Column::Change => 9,
            Column::Since => 5,
            Column::Seen => 6,
        }
    }

    /// A row's cell; `st` gives a cell's own style (see [`row_styles`]).
    fn cell(
        self,
        r: &AlertRow,
        t: &Theme,
        now_ms: u64,
        (org_w, pol_w, compact): (u16, u16, bool),
        st: &impl Fn(Style) -> Style,
    ) -> Cell<'static> {
        match self {
            Column::Time => Cell::from(Span::styled(clock(r.at_ms), st(t.dim))),
            Column::Status if compact => {
                let (sym, style) = if r.pass {
                    (PASS, t.pass)
                } else if r.silenced {
                    // One column: `~` for a silenced failure, told apart
                    // from `✗` without colour too (a review: at 80 columns
                    // only the weight differed under NO_COLOR).
                    (SILENCED, t.dim)
                } else {
                    (FAIL, t.fail)
                };
                Cell::from(Span::styled(sym, st(style)))
            }
            // Silenced: still a failure, said without colour too.
            Column::Status if r.silenced => {
                Cell::from(Span::styled(format!("{FAIL} sil."), st(t.dim)))
            }
            Column::Status => status_cell(r.pass, t, st),
            Column::OrgRepo => Cell::from(fmt::org_repo_fit(
                &sanitize::line(&r.org),
                &sanitize::line(&r.repo),
                org_w.into(),
            )),
            Column::Policy => Cell::from(fmt::ellipsize(&sanitize::line(&r.policy), pol_w.into())),
            Column::Change => {
                let change = change_span(r.change, t);
                let text = if compact {
                    match r.change {
                        Change::Regressed => "regr.".into(),
                        c => change_span(c, t).content,
                    }
                } else {
                    change.content
                };
                Cell::from(Span::styled(text, st(change.style)))
            }
            Column::Since => Cell::from(Span::styled(ago(now_ms, r.last_change_ms), st(t.dim))),
            Column::Seen => Cell::from(Span::styled(format!("{}×", thousands(r.count)), st(t.dim))),
        }
    }
}

/// The Alerts pane in the current view: `rows` are the visible window's
/// only, `sel` the selected one among them.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_alerts(
    frame: &mut Frame,
    app: &App,
    t: &Theme,
    area: Rect,
    rows: &[AlertRow],
    sel: Option<usize>,
    scroll: Option<Line<'static>>,
    now_ms: u64,
) {
    let mut block = pane_block(
        app,
        t,
        Pane::Alerts,
        alerts_title(app, t, title_room(Pane::Alerts, area.width)),
        area.width,
    );
    if let Some(s) = scroll {
        block = block.title_bottom(s);
    }
    if rows.is_empty() {
        // Wrapped: at 80 columns the hint was cut mid-word.
        frame.render_widget(
            Paragraph::new(empty_alerts_message(
                app,
                area.width.saturating_sub(2) as usize,
            ))
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block),
            area,
        );
        return;
    }
    // A row flashes after a change: of the event itself, or of the key.
    let (columns, changed_at): (&[Column], fn(&AlertRow) -> u64) = match app.view {
        AlertsView::Events => (&EVENT_COLUMNS, |r| r.at_ms),
        AlertsView::Latest => (&LATEST_COLUMNS, |r| r.last_change_ms),
    };
    // The fixed columns, each with the space after it.
    let inner = Block::bordered().inner(area).width as usize;
    let fixed_of = |compact| -> usize {
        columns
            .iter()
            .map(|c| c.width(0, 0, compact) as usize + 1)
            .sum()
    };
    // Narrow: the short change word leaves the names a little more room.
    let compact = inner < fixed_of(false) + 44;
    let fixed = fixed_of(compact);
    let avail = inner.saturating_sub(fixed);
    let (org_w, pol_w, with_summary) = name_widths(avail, rows);
    let summary_w = avail.saturating_sub(org_w as usize + pol_w as usize + 1);
    let titles = columns.iter().map(|c| match c {
        // One column: the symbol alone says pass or fail.
        Column::Status if compact => "",
        Column::Time if !fmt::utc() => "time",
        c => c.title(),
    });
    let header = Row::new(titles.chain(with_summary.then_some("details"))).style(t.dim);
    let table_rows = rows.iter().map(|r| {
        let flash = flashing(app, r.change, changed_at(r), now_ms);
        let (style, st0) = row_styles(flash, r.pass, t);
        // A silenced failure is dimmed whole (unless it flashes: news).
        let dim = r.silenced && !flash;
        let style = if dim { t.dim } else { style };
        let st = move |s: Style| if dim { t.dim } else { st0(s) };
        let mut cells: Vec<Cell> = columns
            .iter()
            .map(|c| c.cell(r, t, now_ms, (org_w, pol_w, compact), &st))
            .collect();
        if with_summary {
            cells.push(Cell::from(Span::styled(
                fmt::ellipsize(&summary(&r.details), summary_w),
                st(t.dim),
            )));
        }
        Row::new(cells).style(style)
    });
    let mut widths: Vec<Constraint> = columns
        .iter()
        .map(|c| Constraint::Length(c.width(org_w, pol_w, compact)))
        .collect();
    if with_summary {
        widths.push(Constraint::Fill(1));
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(highlight(
            t,
            sel.and_then(|i| rows.get(i))
                .is_some_and(|r| flashing(app, r.change, changed_at(r), now_ms)),
        ));
    frame.render_stateful_widget(table, area, &mut TableState::default().with_selected(sel));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(org: &str, repo: &str, policy: &str, details: &str) -> AlertRow {
        AlertRow {
            at_ms: 0,
            pass: details.is_empty(),
            change: Change::Same,
            org: org.into(),
            repo: repo.into(),
            policy: policy.into(),
            details: details.into(),
            count: 1,
            last_change_ms: 0,
            silenced: false,
        }
    }

    #[test]
    fn blank_details_leave_their_room_to_the_names() {
        let names = (
            "octo-organization",
            "a-rather-long-repository",
            "Branch Protection",
        );
        let passing = [row(names.0, names.1, names.2, "")];
        let failing = [row(names.0, names.1, names.2, "No protection")];
        // Room for both names whole, but not also for a details summary.
        let avail = 42 + 1 + 17 + 1 + 4;
        let (org, pol, summary) = name_widths(avail, &passing);
        assert!(
            org >= 42 && pol == 17 && !summary,
            "the names whole: {org} {pol} {summary}"
        );
        let (_, pol, summary) = name_widths(avail, &failing);
        assert!(summary && pol < 17, "details get their room: policy {pol}");
    }
}
