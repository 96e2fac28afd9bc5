//! Backpressure from tee upstreams (`--forward-when-behind wait`, the
//! default): while a healthy upstream is behind — half its queue waiting —
//! each sender's answer is held until the queue drains below that mark, so
//! senders slow to the rate the upstream absorbs and nothing is dropped.
//!
//! The alert itself is already accepted and shown (the hub has it; the UI,
//! the printer and the recorder never wait): only the OK is delayed. A
//! sender keeps a bounded number of calls in flight, so holding answers
//! bounds how far the queue can overshoot the mark. The hold ends at the
//! latest after `--forward-timeout`, or half the sender's own deadline
//! (`grpc-timeout`), whichever is sooner: senders are slowed, never failed.
//! An upstream that is down, still connecting, or has not answered anything
//! for a stall period (1 s: hung) is never "behind": an outage must not
//! stall the senders, so its queue fills and then drops, counted.
//!
//! `--forward-when-behind drop` answers at once and lets the queue fill.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tonic::Status;
use tonic::codegen::BoxFuture;
use tonic::metadata::MetadataMap;

use super::send::grpc_timeout;
use super::upstream::Upstream;
use crate::model::AlertRecord;
use crate::sink::AcceptHook;

/// Holds sender answers while any of the tee upstreams is behind.
pub(crate) struct PaceHook {
    pub ups: Arc<[Arc<Upstream>]>,
    /// The longest hold (`--forward-timeout`).
    pub limit: Duration,
}

impl AcceptHook for PaceHook {
    fn accepted(
        &self,
        record: Arc<AlertRecord>,
        metadata: &MetadataMap,
    ) -> Option<BoxFuture<(), Status>> {
        let seq = record.seq;
        // The common case costs a few relaxed loads and no allocation.
        if !self.ups.iter().any(|u| u.backlog.behind(seq)) {
            return None;
        }
        let limit = grpc_timeout(metadata).map_or(self.limit, |t| self.limit.min(t / 2));
        let ups = self.ups.clone();
        Some(Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limit;
            for up in ups.iter() {
                hold(up, seq, deadline).await;
            }
            Ok(())
        }))
    }
}

/// Waits until `up` is no longer behind for alert `seq`, or until
/// `deadline`; counts it.
async fn hold(up: &Upstream, seq: u64, deadline: tokio::time::Instant) {
    let b = &up.backlog;
    if !b.behind(seq) {
        return;
    }
    b.held.fetch_add(1, Ordering::Relaxed);
    b.waiting.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting(b);
    loop {
        // Registered before the check, so a wake-up between the check and
        // the await is not lost.
        let room = b.room.notified();
        tokio::pin!(room);
        room.as_mut().enable();
        if !b.behind(seq) {
            return;
        }
        // Look again at least every stall period: an upstream that stops
        // answering sends no wake-up, yet must stop holding senders.
        let look = (tokio::time::Instant::now() + b.stall()).min(deadline);
        if tokio::time::timeout_at(look, room).await.is_err()
            && (look == deadline || !b.behind(seq))
        {
            b.held_to_limit.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Un-counts a held sender however its wait ends (also when the sender's
/// call is dropped).
struct Waiting<'a>(&'a super::upstream::Backlog);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Two hooks on one sink (proxy mode with tee upstreams behind it): both
/// run at once; the first one's answer is the sender's.
pub(crate) struct Both(pub Arc<dyn AcceptHook>, pub Arc<dyn AcceptHook>);

impl AcceptHook for Both {
    fn accepted(
        &self,
        record: Arc<AlertRecord>,
        metadata: &MetadataMap,
    ) -> Option<BoxFuture<(), Status>> {
        let first = self.0.accepted(record.clone(), metadata);
        let second = self.1.accepted(record, metadata);
        match (first, second) {
            (None, None) => None,
            (Some(f), None) => Some(f),
            (None, Some(s)) => Some(s),
            (Some(f), Some(s)) => Some(Box::pin(async move {
                let (answer, _) = futures_util::future::join(f, s).await;
                answer
            })),
        }
    }
}
