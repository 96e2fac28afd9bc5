//! Limits of the sink. Each has a clear status when exceeded.

use std::time::Duration;

/// GitHub issue bodies hold at most 65,536 characters, and Allstar's details
/// are written to become issue text, so a longer details field is not
/// something Allstar sends.
pub const DEFAULT_MAX_DETAILS: usize = 65_536;
/// GitHub logins are ≤ 39 chars and repo names ≤ 100; policies are short.
/// Operators add their own policies and names, so leave ample room.
pub const DEFAULT_MAX_NAME: usize = 256;
pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct SinkLimits {
    /// Largest encoded AlertRequest accepted (RESOURCE_EXHAUSTED above).
    pub max_message_bytes: usize,
    /// Largest owner_name / repo_name / policy_name (INVALID_ARGUMENT above).
    pub max_name_bytes: usize,
    /// Largest details (INVALID_ARGUMENT above).
    pub max_details_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Concurrent requests per connection handled at once.
    pub concurrency_per_connection: usize,
    /// HTTP/2 keepalive ping interval and the time to wait for its answer.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Requests taking longer than this are answered CANCELLED/DEADLINE.
    pub request_timeout: Duration,
}

impl Default for SinkLimits {
    fn default() -> Self {
        SinkLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE,
            max_name_bytes: DEFAULT_MAX_NAME,
            max_details_bytes: DEFAULT_MAX_DETAILS,
            max_concurrent_streams: 256,
            concurrency_per_connection: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}
