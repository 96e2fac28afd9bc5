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

/// Parses a rate such as `100`, `100/s`, `6000/m` or `0.5/s` into requests
/// per second (> 0).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, per) = match t.split_once('/') {
        Some((n, unit)) => {
            let per = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hour" => 3600.0,
                other => {
                    return Err(format!(
                        "invalid rate {s:?}: unknown unit {other:?} (use /s, /m or /h)"
                    ));
                }
            };
            (n.trim(), per)
        }
        None => (t, 1.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid rate {s:?}: expected a number such as 100 or 100/s"))?;
    let rate = n / per;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("invalid rate {s:?}: must be above 0"));
    }
    Ok(rate)
}

/// Parses a byte size such as `1048576`, `64KiB`, `512MiB`, `1GiB`, `1GB`
/// (units are powers of 1024 either way: these are memory sizes).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number such as 512MiB"))?;
    let bytes = n * mult;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes <= usize::MAX as f64 / 2.0) {
        return Err(format!("invalid size {s:?}: out of range"));
    }
    Ok(bytes as usize)
}

/// Parses a duration such as `10s`, `500ms`, `2m` or a bare number of
/// seconds (> 0).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("invalid duration {s:?}: must be above 0")),
        Err(_) => humantime::parse_duration(t)
            .map_err(|e| format!("invalid duration {s:?}: {e} (e.g. 10s, 500ms, 2m)"))?,
    };
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be above 0"));
    }
    Ok(d)
}

/// A rate in the config file: a number (per second) or a string such as
/// `100/s` or `600/m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSetting(pub f64);

/// A duration in the config file: a number of seconds or a string such as
/// `10s`, `500ms` or `2m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationSetting(pub Duration);

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

impl<'de> serde::Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        };
        parse_rate(&text)
            .map(RateSetting)
            .map_err(serde::de::Error::custom)
    }
}

/// A size in the config file: a number of bytes or a string such as
/// `512MiB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BytesSetting(pub usize);

impl<'de> serde::Deserialize<'de> for BytesSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        };
        parse_bytes(&text)
            .map(BytesSetting)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for DurationSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        };
        parse_timeout(&text)
            .map(DurationSetting)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(parse_rate("100").unwrap(), 100.0);
        assert_eq!(parse_rate("100/s").unwrap(), 100.0);
        assert_eq!(parse_rate(" 60/m ").unwrap(), 1.0);
        assert_eq!(parse_rate("0.5/s").unwrap(), 0.5);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-1/s").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("10/d").unwrap_err().contains("unknown unit"));
        assert!(parse_rate("lots").is_err());
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1PB").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("99999999999999999999999TiB").is_err());
    }

    #[test]
    fn timeouts_parse_as_seconds_or_humantime() {
        assert_eq!(parse_timeout("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
