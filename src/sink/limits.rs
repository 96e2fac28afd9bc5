//! Limits of the sink. Each has a clear status when exceeded.
//!
//! | limit | when exceeded |
//! |---|---|
//! | `max_message_bytes` | `RESOURCE_EXHAUSTED` "message too large" |
//! | `max_name_bytes`, `max_details_bytes` | `INVALID_ARGUMENT` naming the field |
//! | `max_connections` | the oldest connection without an accepted alert (ever, or for `idle_timeout`) is evicted, or else the new one closed (counted `too_many_connections`) |
//! | `max_connections_per_peer` | the same among one address's (IPv6: /64's) connections; else closed (counted `too_many_from_peer`) |
//! | `max_concurrent_streams` | HTTP/2 `REFUSED_STREAM` beyond it (gRPC clients queue instead) |
//! | `idle_timeout` | a connection without an accepted alert by then is closed (counted `idle_timeout`); a write the peer does not read for as long closes it (counted `write_stall`) |
//! | `max_buffered_bytes` (and per connection, per peer) | `RESOURCE_EXHAUSTED` "too many request bytes buffered" (counted `buffer_full`) |
//! | `keepalive_*` | a connection not answering HTTP/2 pings is closed |
//! | `rate_limit` | `RESOURCE_EXHAUSTED` "rate limit" (counted `rate_limited`) |
//! | `request_timeout` | `CANCELLED` |

use std::time::Duration;

/// GitHub issue bodies hold at most 65,536 characters, and Allstar's details
/// are written to become issue text, so a longer details field is not
/// something Allstar sends.
pub const DEFAULT_MAX_DETAILS: usize = 65_536;
/// GitHub logins are ≤ 39 chars and repo names ≤ 100; policies are short.
/// Operators add their own policies and names, so leave ample room.
pub const DEFAULT_MAX_NAME: usize = 256;
pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;
/// Open connections at once. Allstar uses one; load generators a few.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Open connections at once from one address (IPv6: one /64): enough for
/// load generators, well below the global cap so one peer cannot take every
/// place.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 64;
/// Request bytes buffered at once by one connection (messages still
/// arriving, and decoded ones not yet handled).
pub const DEFAULT_MAX_BUFFERED_PER_CONNECTION: usize = 4 * 1024 * 1024;
/// Time a new connection has to make its first request.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest HTTP/2 header block accepted (hyper's default, stated here).
pub const DEFAULT_MAX_HEADER_LIST: u32 = 16 * 1024;

#[derive(Clone, Debug)]
pub struct SinkLimits {
    /// Largest encoded AlertRequest accepted (RESOURCE_EXHAUSTED above).
    pub max_message_bytes: usize,
    /// Largest owner_name / repo_name / policy_name (INVALID_ARGUMENT above).
    pub max_name_bytes: usize,
    /// Largest details (INVALID_ARGUMENT above).
    pub max_details_bytes: usize,
    /// Concurrent HTTP/2 streams per connection (this also bounds the
    /// requests a connection has in flight, so no separate tower
    /// concurrency limit is layered on top: it never triggered and cost a
    /// semaphore round per request).
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval and the time to wait for its answer.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Requests taking longer than this are answered CANCELLED/DEADLINE.
    pub request_timeout: Duration,
    /// Connections open at once. At the limit a new connection evicts the
    /// oldest one that has had no alert accepted (ever, or for the idle
    /// timeout), or, when all have, is closed as soon as it is accepted
    /// (see [`super::conn`]).
    pub max_connections: usize,
    /// A connection must have an alert accepted (TLS handshake, HTTP/2
    /// preface and the request included) within this time, or it is
    /// closed; a write its peer does not read for this long closes it too.
    /// Otherwise HTTP/2 keepalive decides whether it lives.
    pub idle_timeout: Duration,
    /// Requests per second per client IP address (a token bucket holding
    /// one second's worth); `None`: unlimited.
    pub rate_limit: Option<f64>,
    /// Largest HTTP/2 header list (bytes) a request may carry.
    pub max_header_list_bytes: u32,
    /// Connections open at once from one address (IPv6: one /64).
    pub max_connections_per_peer: usize,
    /// Request body bytes buffered at once over all connections (a quarter
    /// of the memory budget), and per connection (the larger of 4 MiB and
    /// one message): over either, the request is `RESOURCE_EXHAUSTED`.
    pub max_buffered_bytes: usize,
}

impl SinkLimits {
    pub fn max_buffered_per_connection(&self) -> usize {
        DEFAULT_MAX_BUFFERED_PER_CONNECTION.max(self.max_message_bytes + 5)
    }
}

impl Default for SinkLimits {
    fn default() -> Self {
        SinkLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE,
            max_name_bytes: DEFAULT_MAX_NAME,
            max_details_bytes: DEFAULT_MAX_DETAILS,
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            rate_limit: None,
            max_header_list_bytes: DEFAULT_MAX_HEADER_LIST,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_buffered_bytes: crate::model::store::DEFAULT_MEMORY_BUDGET / 4,
        }
    }
}
