//! A per-peer rate limit: a token bucket per client address holding one
//! second's worth of requests (at least one).
//!
//! Peers are IPv4 addresses, or IPv6 /64 networks (one host usually has a
//! whole /64, so per-address buckets would be trivial to evade). Memory is
//! bounded: at most [`MAX_TRACKED`] buckets; when the table is full, buckets
//! that have refilled completely are forgotten (no information is lost), and
//! if it is still full, every new peer shares one overflow bucket, so
//! newcomers are limited together rather than not at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at most.
pub const MAX_TRACKED: usize = 65_536;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.last = now;
    }

    fn take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
}

/// See the module docs.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    table: Mutex<Table>,
}

/// The key of a peer: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
pub(crate) fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl RateLimiter {
    /// `rate` requests per second per peer (> 0).
    pub fn new(rate: f64) -> RateLimiter {
        let burst = rate.max(1.0);
        RateLimiter {
            rate,
            burst,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket::full(burst, Instant::now()),
            }),
        }
    }

    /// True if `ip` may make one more request now (and counts it).
    pub fn check(&self, ip: IpAddr) -> bool {
        self.check_at(ip, Instant::now())
    }

    /// As [`RateLimiter::check`] at a given time (tests).
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> bool {
        let key = peer_key(ip);
        let (rate, burst) = (self.rate, self.burst);
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = table.buckets.get_mut(&key) {
            b.refill(rate, burst, now);
            return b.take();
        }
        if table.buckets.len() >= MAX_TRACKED {
            table.buckets.retain(|_, b| {
                b.refill(rate, burst, now);
                b.tokens < burst
            });
        }
        if table.buckets.len() >= MAX_TRACKED {
            let b = &mut table.overflow;
            b.refill(rate, burst, now);
            return b.take();
        }
        let mut b = Bucket::full(burst, now);
        let ok = b.take();
        table.buckets.insert(key, b);
        ok
    }

    /// Buckets held now.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_gets_its_burst_then_the_rate() {
        let rl = RateLimiter::new(5.0);
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let granted = (0..10).filter(|_| rl.check_at(ip, t0)).count();
        assert_eq!(granted, 5, "one second's worth at once");
        assert!(!rl.check_at(ip, t0 + Duration::from_millis(100)));
        assert!(
            rl.check_at(ip, t0 + Duration::from_millis(200)),
            "one token per 200 ms"
        );
        assert!(!rl.check_at(ip, t0 + Duration::from_millis(200)));
        // Another peer is not affected.
        assert!(rl.check_at("10.0.0.2".parse().unwrap(), t0));
    }

    #[test]
    fn slow_rates_still_allow_one_request() {
        let rl = RateLimiter::new(0.5);
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(rl.check_at(ip, t0));
        assert!(!rl.check_at(ip, t0 + Duration::from_secs(1)));
        assert!(rl.check_at(ip, t0 + Duration::from_secs(2)));
    }

    #[test]
    fn ipv6_hosts_of_one_network_share_a_bucket_and_mapped_v4_is_v4() {
        let rl = RateLimiter::new(1.0);
        let t0 = Instant::now();
        assert!(rl.check_at("2001:db8::1".parse().unwrap(), t0));
        assert!(!rl.check_at("2001:db8::ffff:2".parse().unwrap(), t0));
        assert!(rl.check_at("2001:db8:0:1::1".parse().unwrap(), t0));
        assert!(rl.check_at("192.0.2.1".parse().unwrap(), t0));
        assert!(!rl.check_at("::ffff:192.0.2.1".parse().unwrap(), t0));
    }

    #[test]
    fn the_table_is_bounded() {
        let rl = RateLimiter::new(1.0);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 1000) {
            rl.check_at(IpAddr::V4(i.into()), t0);
        }
        assert_eq!(rl.tracked(), MAX_TRACKED);
        // Newcomers share the overflow bucket while the table is full.
        let a = rl.check_at(IpAddr::V4(0xfff0_0000u32.into()), t0);
        let b = rl.check_at(IpAddr::V4(0xfff0_0001u32.into()), t0);
        assert!(!(a && b), "the overflow bucket holds one token");
        // Once buckets have refilled they are forgotten to make room.
        let later = t0 + Duration::from_secs(2);
        assert!(rl.check_at(IpAddr::V4(0xfff0_0002u32.into()), later));
        assert!(rl.tracked() <= 1);
    }
}
