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
//!
//! With the durable state on, the week before the ring's oldest event is
//! first read from the database: a read-only connection on a thread of its
//! own streams the events in bounded batches (`state/older.rs`), taken in
//! here a few milliseconds per sync, before the ring. Nothing waits on the
//! database: not ingest, not a frame.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crate::model::Store;
use crate::model::rollout::{Rollout, Sample, Window};
use crate::model::store::{KeyId, Tally};
use crate::state::older::{Older, OlderBatch, read_older};

use super::App;

/// Events taken in per chunk (about a millisecond's work: the time bound
/// is checked between chunks).
const CHUNK: usize = 2_048;
/// Longest the hub lock is held for catching up in one sync.
const CATCH_UP_TIME: Duration = Duration::from_millis(3);
/// Rows per batch read from the database, and batches in flight: what the
/// reader may hold in memory ahead of the UI.
const OLDER_BATCH: usize = 8_192;
const OLDER_QUEUE: usize = 4;

/// The database reader of older events, while it runs.
struct OlderLoad {
    rx: Receiver<OlderBatch>,
    /// The database's key ids mapped onto the store's (`None`: a key the
    /// store does not have; its events are skipped).
    keys: HashMap<i64, Option<KeyId>>,
}

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
    /// The state database to read older events from (set when it is
    /// durable), until the reader is started.
    pub state_file: Option<PathBuf>,
    older: Option<OlderLoad>,
    /// Older events read from the database.
    pub older_read: u64,
    /// Why reading the database stopped early, if it did.
    pub older_error: Option<String>,
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
            state_file: None,
            older: None,
            older_read: 0,
            older_error: None,
        }
    }
}

impl RolloutState {
    /// True while the state database's older events are being read.
    pub fn reading_older(&self) -> bool {
        self.older.is_some()
    }

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
        if self.next_seq.is_none() {
            self.next_seq = Some(first);
            if let (Some(path), Some(newest)) = (self.state_file.take(), history.back()) {
                self.start_older(
                    path,
                    first,
                    newest.at_ms.saturating_sub(Window::Week.span_ms()),
                );
            }
        }
        if self.older.is_some() {
            // The database's events come first: the ring waits.
            return self.take_older(s, started);
        }
        let next = self.next_seq.unwrap_or(first);
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

impl RolloutState {
    fn start_older(&mut self, path: PathBuf, before_seq: u64, since_ms: u64) {
        let (tx, rx) = mpsc::sync_channel(OLDER_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("rollout-older".into())
            .spawn(move || read_older(&path, before_seq, since_ms, OLDER_BATCH, &tx));
        match spawned {
            Ok(_) => {
                self.older = Some(OlderLoad {
                    rx,
                    keys: HashMap::new(),
                })
            }
            Err(e) => self.older_error = Some(format!("cannot start reading the state: {e}")),
        }
    }

    /// Takes in batches from the database reader for at most
    /// [`CATCH_UP_TIME`]; when it is done, the ring is next.
    fn take_older(&mut self, s: &Store, started: Instant) -> bool {
        let Some(load) = self.older.as_mut() else {
            return false;
        };
        let mut changed = false;
        loop {
            match load.rx.try_recv() {
                Ok(Ok(rows)) => {
                    changed = true;
                    for row in rows {
                        match row {
                            Older::Key {
                                id,
                                owner,
                                repo,
                                policy,
                            } => {
                                load.keys.insert(id, s.key_id(&owner, &repo, &policy));
                            }
                            Older::Event {
                                at_ms,
                                key,
                                pass,
                                change,
                                ..
                            } => {
                                let Some(&Some(k)) = load.keys.get(&key) else {
                                    continue;
                                };
                                let st = s.key(k);
                                self.model.push(&Sample {
                                    at_ms,
                                    key: k,
                                    org: st.org,
                                    repo: st.repo,
                                    policy: st.policy,
                                    pass,
                                    change,
                                });
                                self.older_read += 1;
                            }
                        }
                    }
                }
                Ok(Err(e)) => {
                    self.older_error = Some(e);
                    changed = true;
                }
                Err(TryRecvError::Empty) => return changed,
                Err(TryRecvError::Disconnected) => {
                    self.older = None;
                    return true;
                }
            }
            if started.elapsed() >= CATCH_UP_TIME {
                return changed;
            }
        }
    }
}

impl App {
    /// `r`: opens the rollout screen (starting the aggregation the first
    /// time), or closes it.
    pub(in crate::ui) fn toggle_rollout(&mut self) {
        let state_file = self
            .info
            .state
            .as_ref()
            .filter(|st| st.durable())
            .map(|st| PathBuf::from(&st.file));
        let r = self.rollout.get_or_insert_with(|| {
            Box::new(RolloutState {
                state_file,
                ..RolloutState::default()
            })
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;
    use crate::model::rollout::Group;
    use crate::model::{NewAlert, StoreLimits};

    const T0: u64 = 1_795_640_400_000;
    const HOUR: u64 = 3_600_000;

    fn alert(policy: &str, pass: bool) -> NewAlert {
        NewAlert {
            owner: "ossf".into(),
            repo: "allstar".into(),
            policy: policy.into(),
            details: String::new(),
            pass,
        }
    }

    /// Catches up until settled, polling the reader thread (watchdog: 60 s).
    fn settle(r: &mut RolloutState, s: &Store) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while {
            r.catch_up(s);
            r.catching_up()
        } {
            assert!(Instant::now() < deadline, "the older events never came");
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_week_before_the_ring_is_read_from_the_state_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::state::schema::migrate(&mut conn).unwrap();
        // SECURITY.md failed three hours ago and was fixed two hours ago;
        // an event of eight days ago is outside the week and not read.
        conn.execute_batch(&format!(
            "INSERT INTO details (id, hash, text) VALUES (1, 0, '');
             INSERT INTO keys VALUES (7, 'ossf', 'allstar', 'SECURITY.md', 1, 'same',
                 0, 0, 0, 4, 0, 1, 4, 1, NULL);
             INSERT INTO events VALUES (1, {}, 7, 0, 'first', 1, NULL);
             INSERT INTO events VALUES (2, {}, 7, 0, 'same', 1, NULL);
             INSERT INTO events VALUES (3, {}, 7, 1, 'fixed', 1, NULL);",
            T0 - 8 * 24 * HOUR,
            T0 - 3 * HOUR,
            T0 - 2 * HOUR
        ))
        .unwrap();
        drop(conn);
        // The ring holds only what came after (as after a restore with a
        // small --history): the same key passing, and a new one failing.
        let mut store = Store::new(StoreLimits::default());
        store
            .restore_key(&crate::model::store::RestoredKey {
                owner: "ossf",
                repo: "allstar",
                policy: "SECURITY.md",
                pass: true,
                change: Change::Fixed,
                first_seen_ms: T0 - 8 * 24 * HOUR,
                last_seen_ms: T0 - 2 * HOUR,
                last_change_ms: T0 - 2 * HOUR,
                count: 3,
                regressions: 0,
                fixes: 1,
                last_seq: 3,
                details: "".into(),
                peer: None,
            })
            .unwrap();
        store.ingest(&alert("SECURITY.md", true), T0, None).unwrap();
        store.ingest(&alert("CODEOWNERS", false), T0, None).unwrap();

        let mut r = RolloutState {
            state_file: Some(path),
            ..RolloutState::default()
        };
        settle(&mut r, &store);
        assert_eq!(r.older_read, 2, "{:?}", r.older_error);
        assert_eq!(r.older_error, None);
        assert_eq!(r.model.since_ms(), Some(T0 - 3 * HOUR));
        let day = r.model.series(Group::All, Window::Day, T0);
        let at = |ms: u64| day[day.len() - 1 - ((T0 / 900_000) - ms / 900_000) as usize];
        // Three hours ago: 0 of 1 passing; two hours ago the fix; now 1 of 2.
        let p = at(T0 - 3 * HOUR).unwrap();
        assert_eq!((p.passing, p.total), (0, 1));
        let p = at(T0 - 2 * HOUR).unwrap();
        assert_eq!((p.passing, p.total, p.fixes), (1, 1, 1));
        let p = at(T0).unwrap();
        assert_eq!((p.passing, p.total), (1, 2));
        // Before the first event read: no data.
        assert_eq!(at(T0 - 4 * HOUR), None);
    }

    #[test]
    fn alerts_evicted_before_they_were_read_are_counted_and_the_counts_realigned() {
        let mut store = Store::new(StoreLimits {
            history: 4,
            ..StoreLimits::default()
        });
        store.ingest(&alert("SECURITY.md", true), T0, None).unwrap();
        let mut r = RolloutState::default();
        settle(&mut r, &store);
        assert_eq!(r.missed, 0);
        // Ten alerts while the screen did not sync: six leave the ring unread,
        // among them the first sight of two keys.
        for (i, p) in ["CODEOWNERS", "Branch Protection"].iter().enumerate() {
            store
                .ingest(&alert(p, false), T0 + 1 + i as u64, None)
                .unwrap();
        }
        for i in 0..8 {
            store
                .ingest(&alert("SECURITY.md", i % 2 == 0), T0 + 10 + i, None)
                .unwrap();
        }
        settle(&mut r, &store);
        assert_eq!(r.missed, 6);
        let now = r.model.current(Group::All);
        assert_eq!((now.passing, now.total), (0, 3), "aligned on the store");
        let now = r.model.current(Group::Policy(0));
        assert_eq!((now.passing, now.total), (0, 1));
    }

    #[test]
    fn a_state_file_that_cannot_be_read_is_said_and_the_ring_still_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(StoreLimits::default());
        store
            .ingest(&alert("SECURITY.md", false), T0, None)
            .unwrap();
        let mut r = RolloutState {
            state_file: Some(dir.path().join("missing.db")),
            ..RolloutState::default()
        };
        settle(&mut r, &store);
        assert!(
            r.older_error
                .as_deref()
                .is_some_and(|e| e.contains("missing.db")),
            "{:?}",
            r.older_error
        );
        let now = r.model.current(Group::All);
        assert_eq!((now.passing, now.total), (0, 1));
    }
}
