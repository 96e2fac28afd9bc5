//! Hub sync: catching up with the hub in short lock holds.

use std::time::Instant;

use crate::forward::ForwardHealth;
use crate::hub::Hub;
use crate::model::store::KeyId;

use crate::ui::index::{Index, SeqList};
use crate::ui::lists::GroupRow;

use super::*;

impl App {
    pub(in crate::ui) fn replace_index(&mut self, ix: Index) {
        self.index = ix;
        self.pending = None;
        self.lists.invalidate();
        self.sel_events = Anchored::default();
        self.sel_transitions = Anchored::default();
        self.sel_latest = ListSel::default();
    }

    /// Clears a message shown for [`super::MESSAGE_MS`] (wall clock: a
    /// paused screen's messages expire too).
    fn expire_message(&mut self, now_ms: u64) {
        match (&self.message, &self.message_since) {
            (None, _) => self.message_since = None,
            (Some((m, _)), Some((shown, since))) if m == shown => {
                if now_ms >= since + super::MESSAGE_MS {
                    self.message = None;
                    self.message_since = None;
                    self.dirty = true;
                }
            }
            (Some((m, _)), _) => self.message_since = Some((m.clone(), now_ms)),
        }
    }

    /// Catches up with the hub: counters, the filtered index (new events,
    /// evictions, a budgeted part of any rescan), and the lists when due.
    /// Returns true if the screen should be redrawn.
    pub fn sync(&mut self, hub: &Hub, now_ms: u64) -> bool {
        self.expire_message(now_ms);
        if !self.info.live && self.recording_end.is_none() {
            self.recording_end = hub.read(|s| s.history().back().map(|e| e.at_ms));
        }
        let now_ms = self.now(now_ms);
        // Silences first: a change of the set may make the matcher dirty.
        let silences_changed = hub.read(|s| self.sync_silences(s, now_ms));
        let mut changed = std::mem::take(&mut self.dirty) | silences_changed;
        if std::mem::take(&mut self.matcher_dirty) {
            let m = self.matcher();
            self.replace_index(Index::new(m));
            changed = true;
        }
        if self.pending.is_none()
            && self.index.matcher().age_sensitive()
            && now_ms >= self.index.built_at_ms + AGE_REFRESH_MS
        {
            self.pending = Some(Index::new(self.index.matcher().clone()));
        }

        let before = self.stats.clone();
        let index = &mut self.index;
        let pending = &mut self.pending;
        let preview = &mut self.preview;
        let stats = &mut self.stats;
        let preview_keys = &mut self.preview_keys;
        hub.read(|s| {
            stats.accepted = s.accepted();
            stats.next_seq = s.next_seq();
            stats.evicted = s.evicted();
            stats.history = s.history().len();
            stats.keys = s.key_count();
            stats.failing = s.failing_keys();
            let started = Instant::now();
            for ix in [Some(index), pending.as_mut(), preview.as_mut()]
                .into_iter()
                .flatten()
            {
                loop {
                    ix.sync(s, now_ms, SCAN_CHUNK);
                    if ix.complete() || started.elapsed() >= SCAN_TIME {
                        break;
                    }
                }
            }
            if let Some(p) = preview.as_ref()
                && preview_keys.is_none()
            {
                let m = p.matcher();
                let n = (0..s.key_count() as KeyId)
                    .filter(|&k| m.key_ok(s, k) && m.latest_ok(s, k, now_ms))
                    .count();
                *preview_keys = Some(n);
            }
        });
        if self.pending.as_ref().is_some_and(Index::complete)
            && let Some(ix) = self.pending.take()
        {
            // Same matcher, re-evaluated: keep the selections.
            self.index = ix;
            self.lists.invalidate();
            changed = true;
        }
        self.stats.refused = hub.refused_total();
        self.stats.refused_top = (self.stats.refused > 0)
            .then(|| hub.refused_by_reason().into_iter().max_by_key(|(_, n)| *n))
            .flatten();
        if let Some((_, w)) = &self.info.recorder {
            self.stats.recorder_lost = w.lost();
            self.stats.recorder_error = w.last_error();
        }
        if let Some(f) = &self.forward
            && self
                .forward_sampled_ms
                .is_none_or(|t| now_ms >= t + FORWARD_REFRESH_MS || now_ms < t)
        {
            // One sample for the status bar and the panel alike.
            let snaps = f.snapshot();
            // None when there is nothing to show (`attach` to sinks that
            // do not forward, or have not said yet).
            self.stats.forward = (!snaps.is_empty()).then(|| ForwardHealth::of(&snaps));
            self.forward_upstreams = snaps.len();
            self.forward_snaps = snaps;
            self.forward_sampled_ms = Some(now_ms);
        }
        if self.info.live {
            // A viewer's snapshot is not traffic: counted, it read as
            // thousands of alerts a second for the first seconds.
            let arrived = self
                .info
                .arrivals
                .as_ref()
                .map_or(self.stats.accepted, |a| (a.0)());
            self.rate.sample(now_ms, arrived);
        }
        changed |= self.stats != before;

        let heads = (
            self.index.len() as u64,
            self.index.transitions().back().map_or(0, |t| t.seq),
            self.index.progress(),
        );
        changed |= heads != self.last_heads;
        self.last_heads = heads;
        if let Some(p) = &self.preview {
            changed |= !p.complete();
        }

        changed |= self.sync_timeline(hub);
        changed |= self.refresh_lists(hub, now_ms, false);
        // Export, copy, bell (`e`, `y`/`Y`/`o`, `b`).
        self.run_clip_request(hub);
        self.sync_export(hub);
        self.sync_bell(hub, now_ms);
        changed |= std::mem::take(&mut self.dirty);
        changed |= self.sync_rollout(hub);
        changed
    }

    /// Rebuilds the group and latest lists when stale: at once after a
    /// change of filter or narrowing, else at most every
    /// [`LIST_REFRESH_MS`] while data changes. `force` rebuilds now.
    pub fn refresh_lists(&mut self, hub: &Hub, now_ms: u64, force: bool) -> bool {
        let latest_frozen = self.paused_at.is_some() && self.lists.latest_valid;
        let want_latest = self.view == AlertsView::Latest && !latest_frozen;
        let due = match self.lists.built_seq {
            None => true,
            Some(seq) => {
                force
                    || (want_latest && !self.lists.latest_valid)
                    || (seq != self.stats.next_seq
                        && now_ms >= self.lists.built_at_ms + LIST_REFRESH_MS)
            }
        };
        if !due {
            return false;
        }
        let m = self.index.matcher();
        let lists = &mut self.lists;
        let raw = hub.read(|s| lists.collect(s, m, want_latest, now_ms));
        self.lists.finish(raw, now_ms);
        if self.view != AlertsView::Latest && !latest_frozen {
            // Not shown: let it be rebuilt when it is.
            self.lists.latest_valid = false;
        }
        let ids = |rows: &[GroupRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        self.sel_orgs.refind(&ids(&self.lists.orgs));
        self.sel_repos.refind(&ids(&self.lists.repos));
        self.sel_policies.refind(&ids(&self.lists.policies));
        self.sel_latest.refind(&self.lists.latest);
        true
    }

    /// When the screen must be redrawn even without new input or data: the
    /// end of the earliest running flash.
    pub fn next_deadline(&self, now_ms: u64) -> Option<u64> {
        self.index
            .transitions()
            .iter()
            .rev()
            .take_while(|t| t.at_ms + FLASH_MS > now_ms)
            .map(|t| t.at_ms + FLASH_MS)
            .min()
    }

    /// True while an index is still being built (a new filter's backward
    /// scan, an age refresh, the prompt's live count): the loop then comes
    /// back sooner than one frame to scan the next chunk.
    pub fn scanning(&self) -> bool {
        !self.index.complete()
            || self.silences.judging()
            || self.pending.is_some()
            || self.preview.as_ref().is_some_and(|p| !p.complete())
            || self.exporting()
            || self.rollout_scanning()
    }

    /// Matching alerts that arrived after the pause.
    pub fn new_since_pause(&self) -> Option<usize> {
        self.paused_at
            .map(|seq| self.index.len() - self.index.count_le(seq))
    }
}
