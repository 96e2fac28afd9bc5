//! The rollout screen's state (`r`): the compliance aggregation
//! ([`crate::model::rollout`]) and what the user chose on the screen.
//!
//! The aggregation is created the first time the screen is opened and from
//! then on fed at every sync with the alerts the store took in since the
//! last one (in budgeted chunks under the read lock, like the index), so
//! the screen never rescans the history and stays current while closed.
//! It starts from the oldest event still in the history ring (restored
//! events included); when it has caught up with the store it is settled on
//! the store's tallies (see the model's docs), and settled again if events
//! were evicted from the ring before it read them.

use std::time::{Duration, Instant};

use crate::model::Store;
use crate::model::rollout::{Rollout, Sample, Window};
use crate::model::store::Tally;

use super::App;

/// Events taken in per chunk.
const CHUNK: usize = 65_536;
/// Longest the hub lock is held for catching up in one sync.
const CATCH_UP_TIME: Duration = Duration::from_millis(3);

/// What the table of the screen lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutBy {
    Policy,
    Org,
}

/// Which list of the screen moves with `j`/`k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutFocus {
    Groups,
    Scans,
}

/// See the module docs.
pub struct RolloutState {
    pub model: Rollout,
    /// The next seq to take from the store (`None`: not started).
    next_seq: Option<u64>,
    /// Events evicted from the ring before they were read.
    pub missed: u64,
    settled_missed: u64,
    pub open: bool,
    pub window: Window,
    pub by: RolloutBy,
    pub focus: RolloutFocus,
    pub groups_scroll: usize,
    pub scans_scroll: usize,
}

impl Default for RolloutState {
    fn default() -> Self {
        RolloutState {
            model: Rollout::new(),
            next_seq: None,
            missed: 0,
            settled_missed: 0,
            open: false,
            window: Window::Hour,
            by: RolloutBy::Policy,
            focus: RolloutFocus::Groups,
            groups_scroll: 0,
            scans_scroll: 0,
        }
    }
}

impl RolloutState {
    /// True while older events are still being taken in.
    pub fn catching_up(&self) -> bool {
        !self.model.settled()
    }

    /// Takes in what the store has beyond the last sync, for at most
    /// [`CATCH_UP_TIME`]. Returns true if anything changed.
    pub fn catch_up(&mut self, s: &Store) -> bool {
        let started = Instant::now();
        let history = s.history();
        let first = history.front().map_or(s.next_seq(), |e| e.seq);
        let next = *self.next_seq.get_or_insert(first);
        if next < first {
            self.missed += first - next;
        }
        let mut next = next.max(first);
        let before = self.model.pushed();
        loop {
            let from = (next - first) as usize;
            let to = (from + CHUNK).min(history.len());
            for e in history.range(from..to) {
                let k = s.key(e.key);
                self.model.push(&Sample {
                    at_ms: e.at_ms,
                    key: e.key,
                    org: k.org,
                    repo: k.repo,
                    policy: k.policy,
                    pass: e.pass,
                    change: e.change,
                });
            }
            next = first + to as u64;
            if to == history.len() || started.elapsed() >= CATCH_UP_TIME {
                break;
            }
        }
        self.next_seq = Some(next);
        let mut changed = self.model.pushed() != before;
        if next == s.next_seq() && (!self.model.settled() || self.settled_missed != self.missed) {
            let all = Tally {
                failing: s.failing_keys(),
                total: s.key_count() as u32,
            };
            self.model.settle(
                all,
                |p| s.policy_tally(p),
                |o| s.org_tally(o),
                s.policy_count(),
                s.org_count(),
            );
            self.settled_missed = self.missed;
            changed = true;
        }
        changed
    }
}

impl App {
    /// `r`: opens the rollout screen (starting the aggregation the first
    /// time), or closes it.
    pub(in crate::ui) fn toggle_rollout(&mut self) {
        let r = self.rollout.get_or_insert_with(Box::default);
        r.open = !r.open;
    }

    /// A key on the rollout screen.
    pub(in crate::ui) fn apply_rollout(&mut self, action: crate::ui::keymap::Action) {
        use crate::ui::keymap::Action;
        let Some(r) = self.rollout.as_deref_mut() else {
            return;
        };
        let len = match r.focus {
            RolloutFocus::Groups => match r.by {
                RolloutBy::Policy => r.model.policy_count(),
                RolloutBy::Org => r.model.org_count(),
            },
            RolloutFocus::Scans => r.model.changes_len(),
        };
        let scroll = match r.focus {
            RolloutFocus::Groups => &mut r.groups_scroll,
            RolloutFocus::Scans => &mut r.scans_scroll,
        };
        let page = 10;
        match action {
            Action::CloseHelp => r.open = false,
            Action::RolloutWindow => r.window = r.window.next(),
            Action::RolloutBy => {
                r.by = match r.by {
                    RolloutBy::Policy => RolloutBy::Org,
                    RolloutBy::Org => RolloutBy::Policy,
                };
                r.groups_scroll = 0;
            }
            Action::NextPane => {
                r.focus = match r.focus {
                    RolloutFocus::Groups => RolloutFocus::Scans,
                    RolloutFocus::Scans => RolloutFocus::Groups,
                }
            }
            Action::Down => *scroll = (*scroll + 1).min(len.saturating_sub(1)),
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::PageDown => *scroll = (*scroll + page).min(len.saturating_sub(1)),
            Action::PageUp => *scroll = scroll.saturating_sub(page),
            _ => {}
        }
    }

    /// The rollout screen, when open.
    pub fn rollout_open(&self) -> Option<&RolloutState> {
        self.rollout.as_deref().filter(|r| r.open)
    }

    /// Feeds the aggregation (when started) with what the store took in.
    pub(in crate::ui) fn sync_rollout(&mut self, hub: &crate::hub::Hub) -> bool {
        match self.rollout.as_mut() {
            Some(r) => hub.read(|s| r.catch_up(s)),
            None => false,
        }
    }

    /// True while the aggregation is still catching up (the loop comes
    /// back sooner, as for a re-filter).
    pub fn rollout_scanning(&self) -> bool {
        self.rollout.as_ref().is_some_and(|r| r.catching_up())
    }
}
