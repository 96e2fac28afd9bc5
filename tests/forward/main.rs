//! Forwarding between real sinks over loopback, by topic: tee (exactly
//! once, in order per key, upstream down and back, drops counted exactly,
//! undelivered report), backpressure, proxy (the upstream's codes), TLS
//! upstreams with a test CA, and two chained binaries. The throughput
//! measurement is a benchmark (`benches/forward.rs`).
//!
//! No sleeps as synchronisation: conditions are polled with a bound, so a
//! bug fails the test instead of hanging it.

#[path = "../common/mod.rs"]
mod common;

mod backpressure;
mod binary;
mod goaway;
mod proxy;
mod support;
mod tee;
mod tls;
