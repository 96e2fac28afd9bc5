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
    /// Up, but its last answer to an alert was a failure, after the last
    /// delivery (or with none): it answers and takes nothing (a wrong
    /// token, say).
    pub refusing: bool,
    /// Alerts are in flight and the upstream has not answered for this
    /// long (None: nothing in flight, or down). See [`UNANSWERED_SHOWN`].
    pub unanswered_for: Option<Duration>,
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

/// How long an upstream that is up may leave what it was sent unanswered
/// before the panel, the status bar and the stats say it is not answering:
/// well above a working AlertSink's answer (milliseconds), well below the
/// forward timeout's default (10 s) that would mark it down.
pub const UNANSWERED_SHOWN: Duration = Duration::from_secs(3);

impl UpstreamSnapshot {
    /// The invariant: every accepted alert is in exactly one bucket.
    pub fn balances(&self) -> bool {
        self.accepted == self.delivered + self.failed + self.dropped + self.queued + self.in_flight
    }

    /// Not down (up, or connecting: hung before its first answer), with
    /// alerts in flight and no answer for [`UNANSWERED_SHOWN`] or longer:
    /// hung, or very slow.
    pub fn not_answering(&self) -> bool {
        self.state != UpstreamState::Down
            && self.unanswered_for.is_some_and(|d| d >= UNANSWERED_SHOWN)
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
            "refusing": self.refusing,
            "unanswered_s": self.unanswered_for.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
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

impl UpstreamSnapshot {
    /// As sent to remote viewers (`proto/sinkwatch/v1/watch.proto`).
    pub fn to_proto(&self) -> crate::proto::watch::Upstream {
        let us = |d: Option<Duration>| d.map(|d| d.as_micros() as u64);
        crate::proto::watch::Upstream {
            url: self.url.clone(),
            role: self.role.as_str().into(),
            state: self.state.as_str().into(),
            state_for_ms: self.state_for.as_millis() as u64,
            refusing: self.refusing,
            unanswered_ms: self.unanswered_for.map(|d| d.as_millis() as u64),
            accepted: self.accepted,
            delivered: self.delivered,
            failed: self.failed,
            dropped: self.dropped,
            queued: self.queued,
            in_flight: self.in_flight,
            retries: self.retries,
            queue_capacity: self.queue_capacity as u64,
            rate: self.rate,
            latency_p50_us: us(self.latency_p50),
            latency_p99_us: us(self.latency_p99),
            latency_p50_total_us: us(self.latency_p50_total),
            latency_p99_total_us: us(self.latency_p99_total),
            last_error: self.last_error.clone(),
            last_error_age_ms: self.last_error_age.map(|d| d.as_millis() as u64),
            held: self.held,
            held_to_limit: self.held_to_limit,
            holding: self.holding,
        }
    }

    /// As received from a remote sink: its text made terminal-safe, an
    /// unknown role or state read as tee / connecting.
    pub fn from_proto(u: &crate::proto::watch::Upstream) -> UpstreamSnapshot {
        let us = |v: Option<u64>| v.map(Duration::from_micros);
        UpstreamSnapshot {
            url: crate::sanitize::line(&u.url).into_owned(),
            role: if u.role == "proxy" {
                Role::Proxy
            } else {
                Role::Tee
            },
            state: match u.state.as_str() {
                "up" => UpstreamState::Up,
                "down" => UpstreamState::Down,
                _ => UpstreamState::Connecting,
            },
            // A sink older than these fields sends neither: false, None.
            // Refusing is a way of being up (as a local snapshot has it).
            refusing: u.refusing && u.state == "up",
            unanswered_for: u.unanswered_ms.map(Duration::from_millis),
            state_for: Duration::from_millis(u.state_for_ms),
            accepted: u.accepted,
            delivered: u.delivered,
            failed: u.failed,
            dropped: u.dropped,
            queued: u.queued,
            in_flight: u.in_flight,
            retries: u.retries,
            queue_capacity: usize::try_from(u.queue_capacity).unwrap_or(usize::MAX),
            rate: if u.rate.is_finite() {
                u.rate.max(0.0)
            } else {
                0.0
            },
            latency_p50: us(u.latency_p50_us),
            latency_p99: us(u.latency_p99_us),
            latency_p50_total: us(u.latency_p50_total_us),
            latency_p99_total: us(u.latency_p99_total_us),
            last_error: u
                .last_error
                .as_deref()
                .map(|e| crate::sanitize::line(e).into_owned()),
            last_error_age: u.last_error_age_ms.map(Duration::from_millis),
            held: u.held,
            held_to_limit: u.held_to_limit,
            holding: u.holding,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a remote viewer's panel needs to mark an upstream ✗ crosses
    /// the Watch stream (a review: `refusing` did not).
    #[test]
    fn refusing_and_not_answering_reach_remote_viewers() {
        let mut s = crate::ui::harness::upstream(50071, UpstreamState::Up, 8);
        s.refusing = true;
        s.unanswered_for = Some(Duration::from_millis(4_500));
        let back = UpstreamSnapshot::from_proto(&s.to_proto());
        assert!(back.refusing);
        assert_eq!(back.unanswered_for, Some(Duration::from_millis(4_500)));
        assert!(back.not_answering());
        // From a sink before these fields: neither.
        let old = crate::proto::watch::Upstream {
            state: "up".into(),
            ..Default::default()
        };
        let back = UpstreamSnapshot::from_proto(&old);
        assert!(!back.refusing && back.unanswered_for.is_none());
    }
}
