//! The key timeline screen (`t`): every alert of one key in pass and fail
//! runs, flips, and what changed in its failure details.
//!
//! Opening it is a request resolved at the next sync, under the hub lock:
//! the key's alerts in the history ring are found by walking the key's
//! chain of events (`Store::key_events`: O(the key's alerts), never the
//! ring), then each sync appends the key's new alerts the same way. With
//! the durable state on, the key's older alerts are read from the database
//! on a thread of its own and merged when they arrive: the UI thread and
//! ingest never wait for it. The runs and diffs are computed by the pure
//! `model/timeline.rs`; what the right side shows for the selected run is
//! prepared here (once per change of selection or data), so drawing a
//! frame does no diffing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use crate::hub::Hub;
use crate::model::Store;
use crate::model::store::KeyId;
use crate::model::timeline::{Alert, Diff, Timeline, line_diff};
use crate::state::history::{KeyHistory, key_history};

use crate::ui::keymap::Action;

use super::{App, DetailsId};

/// Most details changes prepared for one run (the newest are kept).
pub const MAX_NOTES: usize = 50;

/// The older alerts from the durable state.
#[derive(Debug)]
pub enum Older {
    /// No durable state (`--state none`, `--demo`): the ring is all.
    Off,
    Loading(Receiver<Result<KeyHistory, String>>),
    Loaded {
        alerts: usize,
        more: u64,
        texts_left_out: u64,
    },
    Failed(String),
}

/// One piece of what the selected run shows.
#[derive(Clone, Debug)]
pub enum Note {
    /// A failure's whole text (the first failure held, or a run's first
    /// failure when it differs from nothing known).
    Text {
        seq: u64,
        at_ms: u64,
        text: Arc<str>,
    },
    /// A run's first failure with the same details as the failure before.
    Same { seq: u64, at_ms: u64, from: u64 },
    /// A failure whose details changed from the failure `from`.
    Changed {
        seq: u64,
        at_ms: u64,
        from: u64,
        diff: Diff,
    },
    /// A pass run: what was failing before it (the last failure).
    WasFailing {
        seq: u64,
        at_ms: u64,
        text: Arc<str>,
    },
    /// Changes left out at [`MAX_NOTES`].
    More(usize),
}

/// See the module docs.
#[derive(Debug)]
pub struct TimelineState {
    pub key: KeyId,
    /// (owner, repo, policy), as on the wire (sanitized when drawn).
    pub names: (Arc<str>, Arc<str>, Arc<str>),
    pub timeline: Timeline,
    /// The key's alerts with seq <= this were taken from the ring.
    synced: u64,
    /// Alerts taken from the ring (the rest came from the durable state).
    pub from_ring: usize,
    /// The selected run, by the seq of an alert in it; `None` follows the
    /// newest run.
    selected: Option<u64>,
    /// The right side's scroll.
    pub scroll: u16,
    pub older: Older,
    /// What the selected run shows, and for which (run, alerts held).
    notes: Vec<Note>,
    notes_for: Option<(usize, usize)>,
}

impl TimelineState {
    /// A timeline of `key` from the ring as it is now.
    pub fn open(s: &Store, key: KeyId) -> TimelineState {
        let (o, r, p) = s.key_names(key);
        let mut ring: Vec<Alert> = s.key_events(key, 0).map(alert_of).collect();
        ring.reverse();
        let mut t = TimelineState {
            key,
            names: (o.clone(), r.clone(), p.clone()),
            from_ring: ring.len(),
            timeline: Timeline::from_alerts(ring),
            synced: s.next_seq().saturating_sub(1),
            selected: None,
            scroll: 0,
            older: Older::Off,
            notes: Vec::new(),
            notes_for: None,
        };
        t.refresh_notes();
        t
    }

    /// Appends the key's alerts that arrived since the last sync.
    pub fn sync(&mut self, s: &Store) -> bool {
        let next = s.next_seq().saturating_sub(1);
        if next <= self.synced {
            return false;
        }
        let mut new: Vec<Alert> = s.key_events(self.key, self.synced).map(alert_of).collect();
        self.synced = next;
        if new.is_empty() {
            return false;
        }
        new.reverse();
        for a in new {
            if self.timeline.push(a) {
                self.from_ring += 1;
            }
        }
        self.refresh_notes();
        true
    }

    /// Takes in the durable state's answer, if it came. Polled at each
    /// sync: the event loop syncs at least once a frame, so the answer shows
    /// within a frame without the loop spinning for it.
    pub fn poll_older(&mut self) -> bool {
        let Older::Loading(rx) = &self.older else {
            return false;
        };
        let answer = match rx.try_recv() {
            Ok(a) => a,
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => Err("the state reader stopped".to_owned()),
        };
        self.older = match answer {
            Ok(h) => {
                let n = h.alerts.len();
                let before = self.timeline.alerts().len();
                self.timeline.merge(h.alerts);
                // Overlap with the ring counts once.
                let added = self.timeline.alerts().len() - before;
                Older::Loaded {
                    alerts: added.min(n),
                    more: h.more,
                    texts_left_out: h.texts_left_out,
                }
            }
            Err(e) => Older::Failed(e),
        };
        self.notes_for = None;
        self.refresh_notes();
        true
    }

    /// Reads the key's older alerts from the database at `path` on a
    /// thread of its own.
    pub fn load_older(&mut self, path: PathBuf) {
        let (tx, rx) = mpsc::channel();
        let names = self.names.clone();
        // Everything before the oldest alert held; the ring's newer ones
        // are already here.
        let before = self
            .timeline
            .alerts()
            .first()
            .map_or(self.synced.saturating_add(1), |a| a.seq);
        let spawned = std::thread::Builder::new()
            .name("timeline reader".into())
            .spawn(move || {
                let r = key_history(&path, (&names.0, &names.1, &names.2), before);
                let _ = tx.send(r);
            });
        self.older = match spawned {
            Ok(_) => Older::Loading(rx),
            Err(e) => Older::Failed(format!("cannot start the state reader: {e}")),
        };
    }

    /// The selected run's position in `timeline.runs()`.
    pub fn selected_run(&self) -> Option<usize> {
        let runs = self.timeline.runs();
        if runs.is_empty() {
            return None;
        }
        let Some(seq) = self.selected else {
            return Some(runs.len() - 1);
        };
        let alerts = self.timeline.alerts();
        let pos = alerts
            .partition_point(|a| a.seq < seq)
            .min(alerts.len() - 1);
        Some(runs.partition_point(|r| r.first <= pos).saturating_sub(1))
    }

    /// What the selected run shows.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    fn select(&mut self, run: usize) {
        let runs = self.timeline.runs();
        let run = run.min(runs.len().saturating_sub(1));
        self.selected = if run + 1 >= runs.len() {
            None
        } else {
            Some(self.timeline.alerts()[runs[run].first].seq)
        };
        self.scroll = 0;
        self.refresh_notes();
    }

    /// The keys of the timeline screen.
    pub fn apply(&mut self, action: Action) {
        let Some(cur) = self.selected_run() else {
            return;
        };
        let last = self.timeline.runs().len() - 1;
        match action {
            // The list is newest first: down is older.
            Action::Down => self.select(cur.saturating_sub(1)),
            Action::Up => self.select((cur + 1).min(last)),
            Action::Top => self.select(last),
            Action::Bottom => self.select(0),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            _ => {}
        }
    }

    /// Prepares the notes of the selected run when it or the data changed.
    fn refresh_notes(&mut self) {
        let Some(i) = self.selected_run() else {
            self.notes.clear();
            self.notes_for = None;
            return;
        };
        let t = &self.timeline;
        let run = t.runs()[i];
        let stamp = (i, t.alerts().len());
        if self.notes_for == Some(stamp) {
            return;
        }
        self.notes_for = Some(stamp);
        let alerts = t.alerts();
        let mut notes = Vec::new();
        if run.pass {
            if let Some(f) = t.failure_before(run.first) {
                let a = &alerts[f];
                notes.push(Note::WasFailing {
                    seq: a.seq,
                    at_ms: a.at_ms,
                    text: a.details.clone(),
                });
            }
        } else {
            let first = &alerts[run.first];
            match t.failure_before(run.first) {
                Some(p) if alerts[p].details == first.details => notes.push(Note::Same {
                    seq: first.seq,
                    at_ms: first.at_ms,
                    from: alerts[p].seq,
                }),
                _ => {}
            }
            // The text it failed with at the start, then each change.
            notes.push(Note::Text {
                seq: first.seq,
                at_ms: first.at_ms,
                text: first.details.clone(),
            });
            let changes = t.changes();
            let from = changes.partition_point(|&c| c < run.first);
            let to = changes.partition_point(|&c| c < run.first + run.len);
            let shown = from.max(to.saturating_sub(MAX_NOTES));
            if shown > from {
                notes.push(Note::More(shown - from));
            }
            for &c in &changes[shown..to] {
                let Some(p) = t.failure_before(c) else {
                    continue;
                };
                notes.push(Note::Changed {
                    seq: alerts[c].seq,
                    at_ms: alerts[c].at_ms,
                    from: alerts[p].seq,
                    diff: line_diff(&alerts[p].details, &alerts[c].details),
                });
            }
        }
        self.notes = notes;
    }
}

fn alert_of(e: &crate::model::Event) -> Alert {
    Alert {
        seq: e.seq,
        at_ms: e.at_ms,
        pass: e.pass,
        details: e.details.clone(),
    }
}

impl App {
    /// `t`: opens the timeline of the key in Details at the next sync.
    pub(in crate::ui) fn request_timeline(&mut self) {
        if let Some(id) = self.details_id {
            self.timeline_request = Some(id);
        }
    }

    /// Opens a requested timeline, appends new alerts, takes in the
    /// durable state's answer. True when the screen changed.
    pub(in crate::ui) fn sync_timeline(&mut self, hub: &Hub) -> bool {
        let mut changed = false;
        if let Some(id) = self.timeline_request.take() {
            let opened = hub.read(|s| {
                let key = match id {
                    DetailsId::Event(seq) => s.event(seq).map(|e| e.key).or_else(|| {
                        // A transition whose event left the ring.
                        let ring = s.transitions();
                        let i = ring.partition_point(|t| t.seq < seq);
                        ring.get(i).filter(|t| t.seq == seq).map(|t| t.key)
                    }),
                    DetailsId::Key(k) => Some(k),
                }?;
                ((key as usize) < s.key_count()).then(|| TimelineState::open(s, key))
            });
            if let Some(mut t) = opened {
                if let Some(path) = self.timeline_state_file() {
                    t.load_older(path);
                }
                self.timeline = Some(t);
                changed = true;
            }
        }
        if let Some(t) = self.timeline.as_mut() {
            changed |= hub.read(|s| t.sync(s));
            changed |= t.poll_older();
        }
        changed
    }

    /// The database to read older alerts from: the durable state's file,
    /// when there is one and it was readable at start.
    fn timeline_state_file(&self) -> Option<PathBuf> {
        let st = self.info.state.as_ref()?;
        (st.restored.accepted > 0 || st.durable()).then(|| PathBuf::from(&st.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewAlert, StoreLimits};

    fn ingest(s: &mut Store, repo: &str, pass: bool, details: &str, at: u64) {
        let a = NewAlert {
            owner: "o".into(),
            repo: repo.into(),
            policy: "p".into(),
            details: details.into(),
            pass,
        };
        s.ingest(&a, at, None).unwrap();
    }

    #[test]
    fn opens_from_the_keys_chain_and_follows_new_alerts() {
        let mut s = Store::new(StoreLimits::default());
        for i in 0..30u64 {
            ingest(&mut s, "a", i % 10 < 5, "x\n", i);
            ingest(&mut s, "b", true, "", i);
        }
        let k = s.key_id("o", "a", "p").unwrap();
        let mut t = TimelineState::open(&s, k);
        assert_eq!(t.timeline.alerts().len(), 30);
        assert_eq!(t.timeline.flips(), 5);
        assert!(!t.sync(&s), "nothing new");
        ingest(&mut s, "b", false, "y\n", 40);
        assert!(!t.sync(&s), "another key's alert");
        ingest(&mut s, "a", true, "", 41);
        assert!(t.sync(&s));
        assert_eq!(t.timeline.alerts().len(), 31);
        assert_eq!(t.timeline.flips(), 6);
        assert_eq!(t.from_ring, 31);
    }

    #[test]
    fn a_fail_run_shows_its_text_and_each_change_and_a_pass_run_what_failed() {
        let mut s = Store::new(StoreLimits::default());
        ingest(&mut s, "a", false, "one\ntwo\n", 1);
        ingest(&mut s, "a", false, "one\nthree\n", 2);
        ingest(&mut s, "a", true, "", 3);
        let k = s.key_id("o", "a", "p").unwrap();
        let mut t = TimelineState::open(&s, k);
        // The newest run (pass) is selected: what was failing.
        assert_eq!(t.selected_run(), Some(1));
        assert!(
            matches!(t.notes(), [Note::WasFailing { seq: 2, text, .. }] if &**text == "one\nthree\n")
        );
        t.apply(Action::Down);
        assert_eq!(t.selected_run(), Some(0));
        match t.notes() {
            [
                Note::Text { seq: 1, .. },
                Note::Changed {
                    seq: 2,
                    from: 1,
                    diff,
                    ..
                },
            ] => {
                assert_eq!((diff.removed, diff.added), (1, 1));
            }
            other => panic!("{other:?}"),
        }
        // New alerts do not move a selection the user made.
        ingest(&mut s, "a", false, "one\nthree\n", 4);
        t.sync(&s);
        assert_eq!(t.selected_run(), Some(0));
        t.apply(Action::Top);
        assert_eq!(t.selected_run(), Some(2));
        assert!(matches!(
            t.notes(),
            [
                Note::Same {
                    seq: 4,
                    from: 2,
                    ..
                },
                Note::Text { seq: 4, .. }
            ]
        ));
    }
}
