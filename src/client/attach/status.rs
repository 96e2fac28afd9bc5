//! One remote source's connection state and counters, as a viewer's
//! status bar, its `sources` line and its stderr tell them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::forward::ForwardStats;
use crate::numbers::thousands;
use crate::record::Sourced;

/// Where a source's connection is. Kept as a value, not as the text shown,
/// so that what tells one state from another (the reason a source is down,
/// apart from its retry countdown) is not read back out of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Connecting,
    /// Subscribed; the snapshot is arriving.
    Snapshot,
    Live,
    /// Failed for `why` (one line, sanitized); retried after `retry_in`.
    Down {
        why: String,
        retry_in: Duration,
    },
    /// The sink refused this viewer (`why`, sanitized): final.
    Refused(String),
}

impl std::fmt::Display for SourceState {
    /// `connecting`, `snapshot`, `live`, `down: <why> (retry in 2.0s)`,
    /// `refused: <why>`: the `state` of the `sources` line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceState::Connecting => f.write_str("connecting"),
            SourceState::Snapshot => f.write_str("snapshot"),
            SourceState::Live => f.write_str("live"),
            SourceState::Down { why, retry_in } => {
                write!(f, "down: {why} (retry in {:.1}s)", retry_in.as_secs_f64())
            }
            SourceState::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

/// One remote sink's connection state and counters, for the status bar.
#[derive(Debug)]
pub struct SourceStatus {
    pub url: String,
    state: Mutex<SourceState>,
    /// The last seq received from this source (0: none yet).
    pub last_seq: AtomicU64,
    /// Alerts received from this source.
    pub received: AtomicU64,
    /// Of them, received live (after an opening): what tells a stream that
    /// made progress from one that only sent a snapshot (see [`follow`]).
    pub(super) live: AtomicU64,
    /// Reconnects after a failure.
    pub reconnects: AtomicU64,
    /// Resume points the source could not honour (a fresh snapshot came).
    pub resets: AtomicU64,
    /// Snapshots of another history than the one followed before (the
    /// sink restarted without durable state, or after an unclean stop):
    /// keys only the old one held stay shown.
    pub restarts: AtomicU64,
    /// Alerts the source reported this viewer missed (then refetched).
    pub missed: AtomicU64,
    /// Why the source last answered a resume with a Reset.
    pub(super) last_reset: Mutex<Option<String>>,
    /// Why the source was last down, until it is live again: a retry's
    /// `connecting` (which may last 20 s against a silent peer) keeps
    /// saying it, where the reason showed only during the back-off.
    last_down: Mutex<Option<String>>,
    /// When the source went down: its retry counts down from there.
    down_at: Mutex<Option<std::time::Instant>>,
    /// Where this source's forwarding reports go (the TUI's forwarding
    /// panel), and this source's place there.
    forward: Mutex<Option<(Arc<ForwardStats>, usize)>>,
    /// Where this source's alerts go with their source (`attach
    /// --no-tui`'s printer), if anywhere; taken away when the viewer stops,
    /// so the printer sees its queue close.
    printer: Mutex<Option<Printer>>,
    /// The epochs the viewer's sources stream, shared by all of them: a
    /// sink given twice (the same URL, or two names of it) streams one
    /// epoch twice, and would count every alert twice.
    epochs: Option<(Epochs, usize)>,
}

/// How the reason starts when a source is the same sink as another.
pub const GIVEN_TWICE: &str = "the same sink as";

/// Which source streams which epoch (a sink's history, see the Watch
/// proto), shared by the sources of one viewer: each epoch's source, as its
/// place among them and its URL.
pub type Epochs = Arc<Mutex<std::collections::HashMap<String, (usize, String)>>>;

/// A printer's queue of alerts with their source: bounded, never waited
/// for by the hub (a printer that falls behind loses lines and says how
/// many); the sources pace themselves by it ([`PrinterPace`]).
pub type PrinterQueue = tokio::sync::broadcast::Sender<Sourced>;

/// The printer of one source's alerts, and the source's name there.
#[derive(Debug)]
pub(super) struct Printer {
    pub(super) tx: PrinterQueue,
    pub(super) source: Arc<str>,
    pub(super) pace: Arc<PrinterPace>,
}

/// How far a headless viewer's printer is behind what its sources gave it.
/// A sink sends a viewer bursts far faster than lines are written (a
/// resume's replay, a snapshot: 14,000 alerts at once after a SIGSTOP, in
/// a user's review), and the printer's queue is bounded in bytes, so it
/// lost most of them. But the sink holds what a viewer has not read, and
/// tells it what it had to drop (fetched again by a resume): so a source
/// stops reading while its printer is over half full, and goes on once it
/// is down to a quarter. The hub itself still never waits on the printer.
#[derive(Debug)]
pub struct PrinterPace {
    /// Alerts given to the printer's queue.
    given: AtomicU64,
    stats: Arc<crate::record::WriterStats>,
    capacity: u64,
}

impl PrinterPace {
    pub fn new(stats: Arc<crate::record::WriterStats>, capacity: usize) -> Arc<PrinterPace> {
        Arc::new(PrinterPace {
            given: AtomicU64::new(0),
            stats,
            capacity: capacity as u64,
        })
    }

    pub(super) fn gave(&self) {
        self.given.fetch_add(1, Ordering::Relaxed);
    }

    /// Alerts given and not yet written or counted lost (those in the
    /// queue and those the writer holds).
    fn behind(&self) -> u64 {
        let done = self.stats.written.load(Ordering::Relaxed) + self.stats.lost();
        self.given.load(Ordering::Relaxed).saturating_sub(done)
    }

    /// Whether a source should stop reading before it gives more.
    pub(super) fn over_half(&self) -> bool {
        !self.gone() && self.behind() > self.capacity / 2
    }

    /// Whether a source that stopped may read again.
    pub(super) fn caught_up(&self) -> bool {
        self.gone() || self.behind() <= self.capacity / 4
    }

    /// The printer's reader went away: nothing it holds will be written.
    fn gone(&self) -> bool {
        self.stats.closed.load(Ordering::Relaxed)
    }
}

impl SourceStatus {
    /// Alerts received live from this source (snapshots left out).
    pub fn received_live(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    pub fn new(url: impl Into<String>) -> Arc<SourceStatus> {
        SourceStatus::in_group(url, None)
    }

    fn in_group(url: impl Into<String>, epochs: Option<(Epochs, usize)>) -> Arc<SourceStatus> {
        Arc::new(SourceStatus {
            url: url.into(),
            state: Mutex::new(SourceState::Connecting),
            last_seq: AtomicU64::new(0),
            received: AtomicU64::new(0),
            live: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            last_reset: Mutex::new(None),
            last_down: Mutex::new(None),
            down_at: Mutex::new(None),
            forward: Mutex::new(None),
            printer: Mutex::new(None),
            epochs,
        })
    }

    /// The sources of one viewer, sharing what tells a sink given twice.
    pub fn group(urls: impl IntoIterator<Item = String>) -> Vec<Arc<SourceStatus>> {
        let epochs = Epochs::default();
        urls.into_iter()
            .enumerate()
            .map(|(i, u)| SourceStatus::in_group(u, Some((epochs.clone(), i))))
            .collect()
    }

    /// Takes `epoch` for this source; the other source's URL if another
    /// source of this viewer streams it already (the same sink).
    pub(super) fn claim(&self, epoch: &str) -> Result<(), String> {
        let Some((all, me)) = &self.epochs else {
            return Ok(());
        };
        let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
        match all.get(epoch) {
            Some((other, url)) if other != me => Err(url.clone()),
            _ => {
                all.retain(|_, (i, _)| i != me);
                all.insert(epoch.to_owned(), (*me, self.url.clone()));
                Ok(())
            }
        }
    }

    /// Sends this source's alerts to `tx` too, each with this source's URL
    /// and its seq there (for `attach --no-tui`'s `source` and
    /// `source_seq`). Set before following the source.
    pub fn print_to(&self, tx: PrinterQueue, pace: Arc<PrinterPace>) {
        *self.printer() = Some(Printer {
            tx,
            source: Arc::from(self.url.as_str()),
            pace,
        });
    }

    /// Stops sending to the printer (its queue closes once every source
    /// has stopped).
    pub fn stop_printing(&self) {
        self.printer().take();
    }

    pub(super) fn printer(&self) -> std::sync::MutexGuard<'_, Option<Printer>> {
        self.printer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the source last reset this viewer (sanitized), if it has.
    pub fn last_reset(&self) -> Option<String> {
        self.last_reset
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Shows this source's forwarding (as the sink reports it) in `stats`,
    /// as source number `index`.
    pub fn report_forwarding(&self, stats: Arc<ForwardStats>, index: usize) {
        *self.forward.lock().unwrap_or_else(|e| e.into_inner()) = Some((stats, index));
    }

    pub(super) fn forwarding(&self, f: &crate::proto::watch::Forwarding) {
        if let Some((stats, i)) = &*self.forward.lock().unwrap_or_else(|e| e.into_inner()) {
            stats.set_remote(*i, f);
        }
    }

    /// Sets the connection state (`follow` does; tests draw it).
    pub fn set(&self, state: SourceState) {
        // A diagnosis may start with the source's URL: kept without it, as
        // every place that says the state names the source already.
        let state = match state {
            SourceState::Down { why, retry_in } => SourceState::Down {
                why: self.without_url(&why).to_owned(),
                retry_in,
            },
            other => other,
        };
        match &state {
            SourceState::Down { why, .. } => {
                *self.last_down() = Some(why.clone());
                *self.down_at.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now());
                // What it reported is not known any more, and a sink that
                // comes back may not forward at all (it then reports
                // nothing): its last report would stand forever (a review).
                self.forwarding(&crate::proto::watch::Forwarding::default());
            }
            SourceState::Live => *self.last_down() = None,
            _ => {}
        }
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    fn last_down(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_down.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the source was last down, while it is not live again.
    pub fn last_error(&self) -> Option<String> {
        self.last_down().clone()
    }

    /// `why` without the URL the diagnosis may start with (the source's
    /// own, already named wherever a state is said).
    pub fn without_url<'a>(&self, why: &'a str) -> &'a str {
        why.strip_prefix(self.url.as_str())
            .and_then(|w| w.strip_prefix(": "))
            .unwrap_or(why)
    }

    pub fn state(&self) -> SourceState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `URL live · 1,200` (alerts received) and, when any, reconnects,
    /// resets and alerts fetched again. A source that is not live says why
    /// in a few words, with its retry countdown: the whole diagnosis (on
    /// stderr and in the log) made three sources' line too long for even
    /// a 250-column status bar.
    pub fn line(&self) -> String {
        let mut shown = self.short_state();
        shown.push_str(&self.retry_countdown());
        let mut s = format!(
            "{} {} · {}",
            self.url,
            shown,
            thousands(self.received.load(Ordering::Relaxed))
        );
        let resets = self.resets.load(Ordering::Relaxed);
        for (n, one, many) in [
            (
                self.reconnects.load(Ordering::Relaxed),
                "reconnect",
                "reconnects",
            ),
            (resets, "reset", "resets"),
            (
                self.missed.load(Ordering::Relaxed),
                missed_word(resets),
                missed_word(resets),
            ),
        ] {
            if n > 0 {
                let what = if n == 1 { one } else { many };
                s.push_str(&format!(" · {} {what}", thousands(n)));
            }
        }
        if self.restarts.load(Ordering::Relaxed) > 0 {
            s.push_str(" · restarted with a new history: keys held before are still shown");
        }
        s
    }

    /// ` (retry in 7.5s)` while down, counting down from when it went
    /// down (it stood still between attempts: a review); ` (retrying)`
    /// once the wait is over; empty otherwise.
    fn retry_countdown(&self) -> String {
        let SourceState::Down { retry_in, .. } = self.state() else {
            return String::new();
        };
        let since = *self.down_at.lock().unwrap_or_else(|e| e.into_inner());
        let left = since.map_or(retry_in, |t| retry_in.saturating_sub(t.elapsed()));
        if left.is_zero() {
            " (retrying)".to_owned()
        } else {
            format!(" (retry in {:.1}s)", left.as_secs_f64())
        }
    }

    /// The state in a few words: `down: connection refused`, `refused:
    /// Unauthenticated: …` cut to [`SHORT_REASON`] characters, `live`.
    fn short_state(&self) -> String {
        let (word, why) = match self.state() {
            SourceState::Down { why, .. } => ("down", why),
            SourceState::Refused(why) => ("refused", why),
            // Retrying: still the reason it went down.
            SourceState::Connecting if self.last_error().is_some() => (
                "connecting, was down",
                self.last_error().unwrap_or_default(),
            ),
            other => return other.to_string(),
        };
        // Without the URL, and without the hint after ` — `.
        let why = self.without_url(&why);
        let why = why.split(" — ").next().unwrap_or(why);
        format!("{word}: {}", cut(why, SHORT_REASON))
    }
}

/// What the alerts a source said this viewer fell behind on are: fetched
/// again by the resume that follows (nothing lost) unless the source had to
/// reset this viewer, which may have lost some.
impl SourceStatus {
    /// Counts what the sink says this viewer missed: the sink's number, not
    /// ours, so saturating (a hostile sink's counts wrapped the total).
    pub(super) fn add_missed(&self, n: u64) {
        let _ = self
            .missed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(n))
            });
    }
}

fn missed_word(resets: u64) -> &'static str {
    if resets == 0 { "refetched" } else { "missed" }
}

/// Longest reason a narrow status bar gives a source that is not live.
const SHORT_REASON: usize = 32;

/// `s` within `max` characters, ending with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl SourceStatus {
    /// One source's object in the `{"kind":"sources"}` line.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "url": self.url,
            "state": self.state().to_string(),
            "last_seq": self.last_seq.load(Ordering::Relaxed),
            "received": self.received.load(Ordering::Relaxed),
            "reconnects": self.reconnects.load(Ordering::Relaxed),
            "resets": self.resets.load(Ordering::Relaxed),
            "restarts": self.restarts.load(Ordering::Relaxed),
            "missed": self.missed.load(Ordering::Relaxed),
        });
        // Why it was last down, while it is not live again.
        if let Some(why) = self.last_error() {
            v["last_error"] = why.into();
        }
        v
    }
}

/// The sources' lines joined for one status bar.
pub fn status_line(sources: &[Arc<SourceStatus>]) -> String {
    sources
        .iter()
        .map(|s| s.line())
        .collect::<Vec<_>>()
        .join(" │ ")
}

/// The sources in a few words, for a narrow status bar: `2/2 live`, or
/// `1/2 live · http://b:50051 down: connection refused` naming the first
/// that is not live and why (shortened; `0/1 live · down: …` of a single
/// source); then `1,204 refetched` when
/// the sources reported alerts this viewer fell behind on (`missed` once a
/// source has reset it).
pub fn status_short(sources: &[Arc<SourceStatus>]) -> String {
    let states: Vec<SourceState> = sources.iter().map(|s| s.state()).collect();
    let live = states.iter().filter(|s| **s == SourceState::Live).count();
    let mut out = format!("{live}/{} live", sources.len());
    if let Some((s, _)) = sources
        .iter()
        .zip(&states)
        .find(|(_, st)| **st != SourceState::Live)
    {
        // Which one, when there are several; of one, the state alone
        // (at 80 columns the URL pushed the failing count off the bar).
        if sources.len() > 1 {
            out.push_str(&format!(" · {} {}", s.url, s.short_state()));
        } else {
            out.push_str(&format!(" · {}", s.short_state()));
        }
    }
    let missed: u64 = sources
        .iter()
        .map(|s| s.missed.load(Ordering::Relaxed))
        .fold(0, u64::saturating_add);
    let resets: u64 = sources
        .iter()
        .map(|s| s.resets.load(Ordering::Relaxed))
        .sum();
    if missed > 0 {
        out.push_str(&format!(" · {} {}", thousands(missed), missed_word(resets)));
    }
    if sources
        .iter()
        .any(|s| s.restarts.load(Ordering::Relaxed) > 0)
    {
        out.push_str(" · a sink restarted: older keys shown");
    }
    out
}

/// What a headless viewer has said on stderr of one source's state, so
/// that it says only news. A source that stays down is said once per
/// reason, not at each retry's `connecting` and new countdown (84 lines in
/// 9 minutes, a user's review), nor when it alternates between reasons (a
/// peer that answers HTTP/1.1 and closes fails two ways in turn). Its
/// reasons are forgotten once it is up again.
#[derive(Debug, Default)]
pub struct StateNews {
    last: Option<SourceState>,
    /// The reasons said since the source was last up (a few).
    down: Vec<String>,
}

/// Reasons remembered per down spell: past them, a new one is said again.
const DOWN_REASONS: usize = 8;

impl StateNews {
    /// Whether `now` is news; if so, it counts as said.
    pub fn is_news(&mut self, now: &SourceState) -> bool {
        let news = match now {
            SourceState::Down { why, .. } => {
                if self.down.contains(why) {
                    false
                } else {
                    if self.down.len() == DOWN_REASONS {
                        self.down.remove(0);
                    }
                    self.down.push(why.clone());
                    true
                }
            }
            // A retry: news only before the first failure.
            SourceState::Connecting => self.down.is_empty() && self.last.as_ref() != Some(now),
            SourceState::Snapshot | SourceState::Live => {
                self.down.clear();
                self.last.as_ref() != Some(now)
            }
            SourceState::Refused(_) => self.last.as_ref() != Some(now),
        };
        if news {
            self.last = Some(now.clone());
        }
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(why: &str, ms: u64) -> SourceState {
        SourceState::Down {
            why: why.into(),
            retry_in: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_source_down_for_one_reason_is_said_once() {
        use SourceState::*;
        let mut news = StateNews::default();
        let said: Vec<String> = [
            Connecting,
            down("refused", 200),
            Connecting,
            down("refused", 500),
            Connecting,
            down("timed out", 1000),
            Connecting,
            Live,
            down("refused", 200),
        ]
        .iter()
        .filter(|now| news.is_news(now))
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            said,
            [
                "connecting",
                "down: refused (retry in 0.2s)",
                "down: timed out (retry in 1.0s)",
                "live",
                "down: refused (retry in 0.2s)"
            ]
        );
    }

    /// A peer that answers HTTP/1.1 and closes fails two ways in turn: each
    /// is said once, until the source is up again (a review saw a line per
    /// retry).
    #[test]
    fn a_source_alternating_between_two_reasons_says_each_once() {
        use SourceState::*;
        let mut news = StateNews::default();
        let mut said = Vec::new();
        for i in 0..20 {
            let why = if i % 2 == 0 {
                "HTTP/1.1 answer"
            } else {
                "connection reset"
            };
            for now in [Connecting, down(why, 100 * i)] {
                if news.is_news(&now) {
                    said.push(now.to_string());
                }
            }
        }
        for now in [Snapshot, Live, down("connection reset", 250)] {
            if news.is_news(&now) {
                said.push(now.to_string());
            }
        }
        assert_eq!(
            said,
            [
                "connecting",
                "down: HTTP/1.1 answer (retry in 0.0s)",
                "down: connection reset (retry in 0.1s)",
                "snapshot",
                "live",
                "down: connection reset (retry in 0.2s)"
            ]
        );
    }

    /// A retry's `connecting` (20 s against a silent peer) keeps saying
    /// why the source went down, in the status bar and the `sources` line,
    /// until it is live again (a review saw `connecting` 97 % of the time
    /// and no reason).
    #[test]
    fn a_source_retrying_says_why_it_was_down_until_it_is_live() {
        let b = SourceStatus::new("http://b:2");
        assert!(b.to_json().get("last_error").is_none());
        b.set(down(
            "http://b:2: no answer to the subscription within 20s — check",
            500,
        ));
        // The URL once, in `url` (not again in `state`).
        let state = b.to_json()["state"].as_str().unwrap().to_owned();
        assert!(
            state.starts_with("down: no answer to the subscription"),
            "{state}"
        );
        b.set(SourceState::Connecting);
        assert_eq!(
            status_short(std::slice::from_ref(&b)),
            "0/1 live · connecting, was down: no answer to the subscription w…"
        );
        assert_eq!(b.to_json()["state"], "connecting");
        assert_eq!(
            b.to_json()["last_error"],
            "no answer to the subscription within 20s — check"
        );
        b.set(SourceState::Snapshot);
        assert!(b.to_json().get("last_error").is_some(), "not live yet");
        b.set(SourceState::Live);
        assert_eq!(b.line(), "http://b:2 live · 0");
        assert!(b.to_json().get("last_error").is_none());
    }

    #[test]
    fn a_sinks_missed_counts_saturate() {
        let a = SourceStatus::new("http://a:1");
        a.add_missed(u64::MAX - 5);
        a.add_missed(1_000);
        assert_eq!(a.missed.load(Ordering::Relaxed), u64::MAX);
        let b = SourceStatus::new("http://b:1");
        b.add_missed(10);
        let short = status_short(&[a, b]);
        assert!(short.contains("18,446,744,073,709,551,615"), "{short}");
    }

    #[test]
    fn a_narrow_status_bar_says_why_a_source_is_down_and_what_was_missed() {
        let a = SourceStatus::new("http://a:1");
        let b = SourceStatus::new("http://b:2");
        a.set(SourceState::Live);
        b.set(down(
            "http://b:2: connection refused — check that the sink is running and \
             listening on b:2",
            2000,
        ));
        let sources = vec![a.clone(), b.clone()];
        assert_eq!(
            status_short(&sources),
            "1/2 live · http://b:2 down: connection refused"
        );
        b.set(down(
            "Unavailable: the sink is shutting down and will be back soon",
            200,
        ));
        a.missed.store(43_890, Ordering::Relaxed);
        assert_eq!(
            status_short(&sources),
            "1/2 live · http://b:2 down: Unavailable: the sink is shutti… · 43,890 refetched"
        );
        b.set(SourceState::Connecting);
        assert_eq!(
            status_short(&sources),
            "1/2 live · http://b:2 connecting, was down: Unavailable: the sink is shutti… · 43,890 refetched"
        );
        // The wide line: grouped digits, and one reset is not `1 resets`;
        // after a reset, what fell behind may not all have come back.
        a.received.store(2_005, Ordering::Relaxed);
        assert_eq!(a.line(), "http://a:1 live · 2,005 · 43,890 refetched");
        a.resets.store(1, Ordering::Relaxed);
        assert_eq!(
            a.line(),
            "http://a:1 live · 2,005 · 1 reset · 43,890 missed"
        );
        // Down: the reason in a few words, with the countdown.
        b.set(down(
            "http://b:2: connection refused — check that the sink is running and \
             listening on b:2",
            2000,
        ));
        assert_eq!(
            without_countdown(&b.line()),
            "http://b:2 down: connection refused · 0"
        );
    }

    /// The line without its ` (retry in …)` or ` (retrying)`.
    fn without_countdown(line: &str) -> String {
        for start in [" (retry in ", " (retrying)"] {
            if let Some(at) = line.find(start) {
                let end = at + line[at..].find(')').unwrap() + 1;
                return format!("{}{}", &line[..at], &line[end..]);
            }
        }
        line.to_owned()
    }

    /// The retry counts down from when the source went down (it stood at
    /// the wait set by the last failure: a review saw 6.1s for 6 s).
    #[test]
    fn a_down_sources_retry_counts_down() {
        let b = SourceStatus::new("http://b:2");
        b.set(down("connection refused", 10_000));
        let at = |ago: u64| {
            *b.down_at.lock().unwrap() = Some(std::time::Instant::now() - Duration::from_secs(ago));
        };
        let left = |line: &str| -> f64 {
            let from = line.find("(retry in ").unwrap() + "(retry in ".len();
            line[from..].split('s').next().unwrap().parse().unwrap()
        };
        at(4);
        let wide = b.line();
        assert!(left(&wide) <= 6.0, "{wide}");
        at(11);
        assert!(
            b.line().contains("down: connection refused (retrying)"),
            "{}",
            b.line()
        );
    }
}
