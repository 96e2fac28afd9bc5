//! Restoring a [`Store`] from durable state (src/state/): each key with its
//! latest status and counters, then the tail of the history and the
//! transitions, without replaying every alert ever received (the database
//! keeps per-key counters that outlive pruned events).
//!
//! Kept apart from `store.rs` so the ingest path stays as it is; the
//! functions here only run before the hub serves anything.

use std::sync::Arc;

use super::{Change, Event, KeyId, Peer, Store, StoreError, Transition};

/// The latest status of one key as stored on disk.
#[derive(Clone, Debug)]
pub struct RestoredKey<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    pub policy: &'a str,
    pub pass: bool,
    pub change: Change,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub last_change_ms: u64,
    pub count: u64,
    pub regressions: u32,
    pub fixes: u32,
    pub last_seq: u64,
    pub details: Arc<str>,
    pub peer: Option<Arc<Peer>>,
}

impl Store {
    /// Adds a key with its stored latest status; aggregates follow. `seq`
    /// continues after the key's last alert. Fails only at the key bound.
    pub fn restore_key(&mut self, k: &RestoredKey<'_>) -> Result<KeyId, StoreError> {
        let id = self.key_for(k.owner, k.repo, k.policy)?;
        let state = &mut self.keys[id as usize];
        let previous = (state.count > 0).then_some(state.pass);
        // A key restored twice replaces its counters rather than adding.
        self.regressions =
            self.regressions - u64::from(state.regressions) + u64::from(k.regressions);
        self.fixes = self.fixes - u64::from(state.fixes) + u64::from(k.fixes);
        state.pass = k.pass;
        state.change = k.change;
        state.first_seen_ms = k.first_seen_ms;
        state.last_seen_ms = k.last_seen_ms;
        state.last_change_ms = k.last_change_ms;
        state.count = k.count.max(1);
        state.regressions = k.regressions;
        state.fixes = k.fixes;
        state.last_seq = k.last_seq;
        state.details = k.details.clone();
        if !k.details.is_empty() {
            state.last_text = k.details.clone();
        }
        state.peer = k.peer.clone();
        let (org, repo, policy) = (state.org, state.repo, state.policy);
        self.apply_tally(org, repo, policy, previous, k.pass);
        self.next_seq = self.next_seq.max(k.last_seq.saturating_add(1));
        Ok(id)
    }

    /// Appends a stored event to the history ring (oldest first; the ring's
    /// bound holds). `e.key` is an id returned by [`Store::restore_key`].
    pub fn restore_event(&mut self, e: Event) {
        if self.history.len() >= self.limits.history {
            self.history.pop_front();
            self.evicted += 1;
        }
        self.next_seq = self.next_seq.max(e.seq.saturating_add(1));
        self.history.push_back(e);
    }

    /// Appends a stored transition (oldest first; the ring's bound holds).
    pub fn restore_transition(&mut self, t: Transition) {
        if self.transitions.len() >= self.limits.transitions {
            self.transitions.pop_front();
            self.transitions_evicted += 1;
        }
        self.next_seq = self.next_seq.max(t.seq.saturating_add(1));
        self.transitions.push_back(t);
    }

    /// Makes the next accepted alert get at least `next`.
    pub fn continue_seq(&mut self, next: u64) {
        self.next_seq = self.next_seq.max(next);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NewAlert, StoreLimits};
    use super::*;

    fn key<'a>(repo: &'a str, pass: bool, last_seq: u64) -> RestoredKey<'a> {
        RestoredKey {
            owner: "o",
            repo,
            policy: "p",
            pass,
            change: if pass {
                Change::Same
            } else {
                Change::Regressed
            },
            first_seen_ms: 1,
            last_seen_ms: 5,
            last_change_ms: 4,
            count: 7,
            regressions: u32::from(!pass),
            fixes: 0,
            last_seq,
            details: Arc::from(if pass { "" } else { "bad" }),
            peer: None,
        }
    }

    #[test]
    fn restored_keys_give_aggregates_counters_and_seq() {
        let mut s = Store::new(StoreLimits::default());
        let a = s.restore_key(&key("a", false, 40)).unwrap();
        s.restore_key(&key("b", true, 41)).unwrap();
        assert_eq!(s.failing_keys(), 1);
        assert_eq!(s.key_count(), 2);
        assert_eq!(s.total_regressions(), 1);
        assert_eq!(s.key(a).count, 7);
        assert_eq!(s.accepted(), 41);
        // Restoring the same key again replaces, never double counts.
        s.restore_key(&key("a", true, 40)).unwrap();
        assert_eq!(s.failing_keys(), 0);
        assert_eq!(s.total_regressions(), 0);
        // Ingest carries on: seq continues, change compares with the
        // restored status.
        let r = s
            .ingest(
                &NewAlert {
                    owner: "o".into(),
                    repo: "b".into(),
                    policy: "p".into(),
                    details: String::new(),
                    pass: false,
                },
                9,
                None,
            )
            .unwrap();
        assert_eq!(r.seq, 42);
        assert_eq!(r.change, Change::Regressed);
        assert_eq!(s.key(s.key_id("o", "b", "p").unwrap()).count, 8);
    }

    #[test]
    fn restored_history_and_transitions_keep_their_bounds() {
        let mut s = Store::new(StoreLimits {
            history: 2,
            transitions: 1,
            ..StoreLimits::default()
        });
        let k = s.restore_key(&key("a", false, 3)).unwrap();
        for seq in 1..=3 {
            s.restore_event(Event {
                seq,
                at_ms: seq,
                key: k,
                pass: false,
                change: Change::Same,
                details: Arc::from(""),
                peer: None,
                prev_seq: 0,
                late: false,
            });
            s.restore_transition(Transition {
                seq,
                at_ms: seq,
                key: k,
                change: Change::Regressed,
            });
        }
        assert_eq!(s.history().len(), 2);
        assert_eq!(s.history().front().unwrap().seq, 2);
        assert_eq!(s.transitions().len(), 1);
        assert_eq!(s.next_seq(), 4);
        s.continue_seq(100);
        assert_eq!(s.next_seq(), 100);
        s.continue_seq(5);
        assert_eq!(s.next_seq(), 100);
    }
}
