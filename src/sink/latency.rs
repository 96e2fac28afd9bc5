//! The ingest latency histogram (`sinkwatch_ingest_latency_seconds` in the
//! metrics): from the start of an `/AlertSink/Alert` call to its answer,
//! refused or accepted (decoding, checks, the store, and any wait of the
//! forwarding hook included).
//!
//! Sampled so the ingest path does not pay for it: each runtime thread
//! times one call in [`SAMPLE_EVERY`] (a thread-local counter: no shared
//! cache line, no clock read for the others). The histogram's count is
//! therefore the samples, not the calls (`sinkwatch_alerts_accepted_total`
//! counts those); the distribution is what matters.

use std::cell::Cell;
use std::time::Instant;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// One call in this many is timed, per thread.
pub const SAMPLE_EVERY: u32 = 16;

/// The histogram, shared by the sink (records) and the metrics (reads).
#[derive(Clone, Debug)]
pub struct IngestLatency {
    histogram: Histogram,
}

impl Default for IngestLatency {
    fn default() -> IngestLatency {
        // 25 µs to ~3.3 s, doubling: a loopback call takes tens of µs, one
        // held by a slow upstream (`--forward-when-behind wait`) seconds.
        IngestLatency {
            histogram: Histogram::new(exponential_buckets(0.000_025, 2.0, 18)),
        }
    }
}

impl IngestLatency {
    /// The start of a call, when this one is sampled.
    pub fn start(&self) -> Option<Instant> {
        thread_local! {
            static CALLS: Cell<u32> = const { Cell::new(0) };
        }
        CALLS.with(|n| {
            let v = n.get().wrapping_add(1);
            n.set(v);
            (v % SAMPLE_EVERY == 0).then(Instant::now)
        })
    }

    pub fn finish(&self, start: Option<Instant>) {
        if let Some(t) = start {
            self.histogram.observe(t.elapsed().as_secs_f64());
        }
    }

    /// The histogram itself, for a metrics registry.
    pub fn histogram(&self) -> Histogram {
        self.histogram.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_in_sample_every_is_timed() {
        let l = IngestLatency::default();
        let timed = (0..SAMPLE_EVERY * 10)
            .map(|_| l.start())
            .filter(Option::is_some)
            .count();
        assert_eq!(timed, 10);
    }
}
