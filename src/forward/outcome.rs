//! What happened to an alert on an upstream, and the upstream's state and
//! role: the vocabulary the counters, the panel and Details share.

use std::sync::Arc;
use std::time::Duration;

use tonic::Code;

/// Connection state of an upstream, as last observed by a delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamState {
    /// Nothing answered yet (channels connect lazily, on the first alert).
    Connecting,
    /// The last attempt got an answer (any status) from the upstream.
    Up,
    /// The last attempt could not reach it (connect, TLS or stream error).
    Down,
}

impl UpstreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Connecting => "connecting",
            UpstreamState::Up => "up",
            UpstreamState::Down => "down",
        }
    }
}

/// How an upstream receives alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Fed from the hub through its own bounded queue.
    Tee,
    /// The first upstream in proxy mode: each sender's call is passed on
    /// directly and waits for the answer (no queue).
    Proxy,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Tee => "tee",
            Role::Proxy => "proxy",
        }
    }
}

/// Why an alert was not queued for an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The upstream's queue was full.
    QueueFull,
    /// The forwarder fell behind the hub's broadcast queue.
    Lagged,
}

/// What happened to one alert on one upstream.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Waiting in the upstream's queue.
    Queued,
    /// Being sent; `attempts` failed attempts so far.
    InFlight { attempts: u32 },
    /// The upstream answered OK.
    Delivered { attempts: u32, latency: Duration },
    /// Given up: a permanent error, retries exhausted, or (proxy) the answer
    /// passed back to the sender. `message` is raw upstream text: use
    /// [`Outcome::describe`] (sanitized) to show it.
    Failed {
        code: Code,
        message: Arc<str>,
        attempts: u32,
    },
    /// Never sent.
    Dropped(DropReason),
}

impl Outcome {
    /// One line for display, safe for the terminal (upstream text is
    /// sanitized), e.g. `delivered (1.2 ms)`, `failed: InvalidArgument: …`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Queued => "queued".into(),
            Outcome::InFlight { attempts: 0 } => "in flight".into(),
            Outcome::InFlight { attempts } => {
                format!("in flight (retrying, {attempts} failed attempts)")
            }
            Outcome::Delivered { attempts, latency } => {
                let ms = latency.as_secs_f64() * 1000.0;
                if *attempts > 1 {
                    format!("delivered ({ms:.1} ms, attempt {attempts})")
                } else {
                    format!("delivered ({ms:.1} ms)")
                }
            }
            Outcome::Failed {
                code,
                message,
                attempts,
            } => {
                let msg = crate::sanitize::line(message);
                let tries = if *attempts > 1 {
                    format!(" after {attempts} attempts")
                } else {
                    String::new()
                };
                if msg.is_empty() {
                    format!("failed{tries}: {code:?}")
                } else {
                    format!("failed{tries}: {code:?}: {msg}")
                }
            }
            Outcome::Dropped(DropReason::QueueFull) => "dropped: queue full".into(),
            Outcome::Dropped(DropReason::Lagged) => "dropped: forwarder fell behind".into(),
        }
    }

    /// `queued`, `in_flight`, `delivered`, `failed` or `dropped`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::InFlight { .. } => "in_flight",
            Outcome::Delivered { .. } => "delivered",
            Outcome::Failed { .. } => "failed",
            Outcome::Dropped(_) => "dropped",
        }
    }
}
