//! The bell on regressions (`--bell-on EXPR`, `b` toggles it).
//!
//! At each sync the alerts that arrived since the last one are examined
//! once (a cursor over the seqs, like the index's forward scan: never the
//! whole history). An alert rings when it is a regression (pass → fail) or
//! a key's first alert failing, matches the expression (the filter
//! language) and is not silenced. Rings are rate-limited: at most one per
//! [`BELL_EVERY_MS`]; the matching regressions inside that time are counted
//! but ring no more. The status bar shows how many matched since the user
//! last pressed a key (the counter is reset by any key).
//!
//! What rings: BEL (terminals turn it into a sound, a visual bell or the
//! window's urgency hint: xterm `bellIsUrgent`, urxvt `urgentOnBell`, tmux
//! `monitor-bell`), plus a desktop notification for terminals known to show
//! one ([`Notify`]). The notification text is fixed ("sinkwatch: N
//! regressions"): nothing from the wire goes into it.
//!
//! Without `--bell-on`, `b` turns the bell on for every regression.

use crate::hub::Hub;
use crate::model::filter::Filter;
use crate::model::{AlertRecord, Change};

use super::App;
use crate::ui::index::{Matcher, Narrowing};

/// At most one ring per this many milliseconds.
pub const BELL_EVERY_MS: u64 = 2_000;
/// Alerts examined per sync at most; a burst beyond it is skipped (counted
/// in `skipped`), so a sync stays short.
const BELL_SCAN_MAX: u64 = 200_000;

/// A desktop notification besides BEL, for terminals that show one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Notify {
    /// BEL only.
    #[default]
    None,
    /// `OSC 777 ; notify ; TITLE ; BODY` (urxvt, foot, Ghostty, WezTerm).
    Osc777,
    /// `OSC 9 ; BODY` (iTerm2, Windows Terminal, ConEmu).
    Osc9,
}

impl Notify {
    /// From the environment's terminal names (`$TERM`, `$TERM_PROGRAM`);
    /// anything unknown gets BEL only (an unknown OSC could be shown as
    /// text by a terminal that does not parse it).
    pub fn detect(term: &str, term_program: &str) -> Notify {
        let tp = term_program.to_ascii_lowercase();
        if tp == "iterm.app" {
            Notify::Osc9
        } else if term.starts_with("foot")
            || term.starts_with("rxvt")
            || tp == "ghostty"
            || tp == "wezterm"
        {
            Notify::Osc777
        } else {
            Notify::None
        }
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct Bell {
    /// The `--bell-on` expression's matcher (`None`: every regression).
    matcher: Option<Matcher>,
    /// The `--bell-on` expression, as typed.
    pub source: Option<String>,
    pub enabled: bool,
    /// Alerts with seq below this were examined (`None`: start from the
    /// newest at the next sync, so alerts from before are never rung).
    next_seq: Option<u64>,
    last_ring_ms: Option<u64>,
    /// Matching regressions since the user's last key press.
    pub since_key: u64,
    /// Rings sent (BEL written) since start.
    pub rung: u64,
    /// Matching regressions not rung because of the rate limit, since start.
    pub held: u64,
    /// Alerts not examined: they left the history before a sync saw them,
    /// or a burst went past the scan bound.
    pub skipped: u64,
}

impl Bell {
    /// The bell for `--bell-on EXPR` (on), or off with no expression.
    pub fn new(filter: Option<Filter>) -> Bell {
        Bell {
            enabled: filter.is_some(),
            source: filter.as_ref().map(|f| f.source().to_owned()),
            matcher: filter.map(|f| Matcher::new(f, Narrowing::default(), false)),
            ..Bell::default()
        }
    }

    /// `b`: on/off. Turned on, it rings for what arrives from now on.
    pub fn toggle(&mut self) {
        self.enabled = !self.enabled;
        self.next_seq = None;
        self.since_key = 0;
    }

    /// Rings now unless one rang less than [`BELL_EVERY_MS`] ago; `n`
    /// matching regressions are counted either way. Returns whether it rang.
    pub fn ring(&mut self, n: u64, now_ms: u64) -> bool {
        if n == 0 {
            return false;
        }
        self.since_key += n;
        let due = self
            .last_ring_ms
            .is_none_or(|t| now_ms >= t + BELL_EVERY_MS || now_ms < t);
        if due {
            self.last_ring_ms = Some(now_ms);
            self.rung += 1;
            self.held += n - 1;
        } else {
            self.held += n;
        }
        due
    }
}

/// The bytes of one ring for `n` regressions.
pub fn ring_bytes(notify: Notify, n: u64) -> Vec<u8> {
    let body = if n == 1 {
        "1 regression".to_owned()
    } else {
        format!("{n} regressions")
    };
    let mut out = vec![0x07];
    match notify {
        Notify::None => {}
        Notify::Osc777 => {
            out.extend_from_slice(format!("\x1b]777;notify;sinkwatch;{body}\x1b\\").as_bytes())
        }
        Notify::Osc9 => out.extend_from_slice(format!("\x1b]9;sinkwatch: {body}\x1b\\").as_bytes()),
    }
    out
}

impl App {
    /// The bell on regressions; see [`Bell::new`].
    pub fn set_bell(&mut self, filter: Option<Filter>) {
        self.bell = Bell::new(filter);
    }

    /// Examines the alerts that arrived since the last sync and rings for
    /// the matching regressions (see the module docs).
    pub(super) fn sync_bell(&mut self, hub: &Hub, now_ms: u64) {
        if !self.bell.enabled {
            return;
        }
        let bell = &mut self.bell;
        let candidates: Vec<AlertRecord> = hub.read(|s| {
            let next = s.next_seq();
            let from = *bell.next_seq.get_or_insert(next);
            bell.next_seq = Some(next);
            let front = s.history().front().map_or(next, |e| e.seq);
            let mut start = from.max(front);
            bell.skipped += start - from;
            if next - start > BELL_SCAN_MAX {
                bell.skipped += next - start - BELL_SCAN_MAX;
                start = next - BELL_SCAN_MAX;
            }
            let mut out = Vec::new();
            for seq in start..next {
                let Some(e) = s.event(seq) else { continue };
                let regression =
                    e.change == Change::Regressed || (e.change == Change::First && !e.pass);
                if !regression {
                    continue;
                }
                let hit = bell
                    .matcher
                    .as_ref()
                    .is_none_or(|m| m.key_ok(s, e.key) && m.event_ok(s, e, now_ms));
                if hit {
                    out.push(s.record(e));
                }
            }
            out
        });
        let n = candidates.iter().filter(|a| !self.is_silenced(a)).count() as u64;
        if self.bell.ring(n, now_ms) {
            let bytes = ring_bytes(self.term_env.notify, n);
            self.emit(&bytes);
        }
        if n > 0 {
            self.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_ring_per_interval_the_rest_counted() {
        let mut b = Bell::new(None);
        assert!(!b.ring(0, 0), "nothing to ring");
        assert!(b.ring(3, 10_000));
        assert!(!b.ring(1, 10_000 + BELL_EVERY_MS - 1));
        assert!(b.ring(1, 10_000 + BELL_EVERY_MS));
        assert_eq!((b.rung, b.held, b.since_key), (2, 3, 5));
        // A clock that went back does not silence the bell for good.
        assert!(b.ring(1, 5_000));
    }

    #[test]
    fn notifications_carry_no_wire_text() {
        assert_eq!(ring_bytes(Notify::None, 3), b"\x07".to_vec());
        assert_eq!(
            ring_bytes(Notify::Osc777, 1),
            b"\x07\x1b]777;notify;sinkwatch;1 regression\x1b\\".to_vec()
        );
        assert_eq!(
            ring_bytes(Notify::Osc9, 2),
            b"\x07\x1b]9;sinkwatch: 2 regressions\x1b\\".to_vec()
        );
        assert_eq!(Notify::detect("xterm-256color", ""), Notify::None);
        assert_eq!(Notify::detect("foot", ""), Notify::Osc777);
        assert_eq!(Notify::detect("xterm-256color", "iTerm.app"), Notify::Osc9);
    }
}
