//! The read side of one upstream: a consistent snapshot taken under its
//! lock, for the forwarding panel, the status bar and the stats lines.

use std::time::Duration;

use super::outcome::{Role, UpstreamState};

/// A consistent view of one upstream, taken under its lock.
#[derive(Clone, Debug)]
pub struct UpstreamSnapshot {
    /// The URL as normalized (`http://…` or `https://…`).
    pub url: String,
    pub role: Role,
    pub state: UpstreamState,
    /// How long the upstream has been in `state`.
    pub state_for: Duration,
    pub accepted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: u64,
    pub in_flight: u64,
    /// Attempts that were retried (not alerts: one alert may retry often).
    pub retries: u64,
    pub queue_capacity: usize,
    /// Deliveries per second, recently.
    pub rate: f64,
    /// Upstream answer latency of recent attempts that got an answer.
    pub latency_p50: Option<Duration>,
    pub latency_p99: Option<Duration>,
    /// Latency over the whole run.
    pub latency_p50_total: Option<Duration>,
    pub latency_p99_total: Option<Duration>,
    /// The last error, already sanitized for the terminal, and its age.
    pub last_error: Option<String>,
    pub last_error_age: Option<Duration>,
    /// Sender answers held back while this upstream was behind
    /// (`--forward-when-behind wait`), and how many of those a time bound
    /// released (the hold limit, or the upstream stopped answering) rather
    /// than room in the queue.
    pub held: u64,
    pub held_to_limit: u64,
    /// Sender answers being held right now.
    pub holding: u64,
}

impl UpstreamSnapshot {
    /// The invariant: every accepted alert is in exactly one bucket.
    pub fn balances(&self) -> bool {
        self.accepted == self.delivered + self.failed + self.dropped + self.queued + self.in_flight
    }

    /// Alerts that did not (or not yet) reach the upstream.
    pub fn undelivered(&self) -> u64 {
        self.failed + self.dropped + self.queued + self.in_flight
    }

    /// The object used in `{"kind":"stats"}` lines.
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        serde_json::json!({
            "upstream": self.url,
            "role": self.role.as_str(),
            "state": self.state.as_str(),
            "accepted": self.accepted,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "queued": self.queued,
            "in_flight": self.in_flight,
            "retries": self.retries,
            "rate": (self.rate * 10.0).round() / 10.0,
            "latency_ms": {
                "p50": ms(self.latency_p50),
                "p99": ms(self.latency_p99),
                "p50_total": ms(self.latency_p50_total),
                "p99_total": ms(self.latency_p99_total),
            },
            "last_error": self.last_error,
            "last_error_age_s": self.last_error_age.map(|d| d.as_secs()),
            "held": self.held,
            "held_to_limit": self.held_to_limit,
            "holding": self.holding,
        })
    }
}
