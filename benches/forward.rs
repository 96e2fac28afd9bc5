//! Forwarding capacity, in process: alerts go straight into A's hub (no
//! ingest network cost) and are tee'd to a real sink B over loopback, for
//! several lane and connection counts.
//!
//! `cargo bench --bench forward`

use std::time::{Duration, Instant};

use sinkwatch::forward::{ForwardConfig, Forwarder};
use sinkwatch::grpc::Target;
use sinkwatch::hub::Hub;
use sinkwatch::model::StoreLimits;
use sinkwatch::sink::SinkConfig;

#[path = "../tests/common/mod.rs"]
mod common;
use common::TestSink;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    for (concurrency, connections) in [
        (16, 1),
        (16, 2),
        (64, 1),
        (64, 2),
        (128, 2),
        (16, 1),
        (64, 2),
    ] {
        let b = TestSink::start(SinkConfig::default()).await;
        let a_hub = Hub::new(StoreLimits::default(), 1 << 16);
        let mut cfg = ForwardConfig::new(vec![Target::plain(b.url())]);
        cfg.concurrency = concurrency;
        cfg.connections = connections;
        cfg.queue = 1_000_000;
        let fwd = Forwarder::start(&a_hub, cfg).unwrap();
        let stats = fwd.stats();
        let n = 100_000u64;
        let t0 = Instant::now();
        for i in 0..n {
            let a = sinkwatch::model::NewAlert {
                owner: format!("org-{}", i % 10),
                repo: format!("repo-{}", (i / 9) % 1000),
                policy: format!("policy-{}", i % 9),
                details: String::new(),
                pass: i % 8 != 0,
            };
            a_hub.ingest(&a, None, None).unwrap();
            if i % 1024 == 0 {
                tokio::task::yield_now().await;
            }
        }
        while stats.snapshot()[0].delivered < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        let s = &stats.snapshot()[0];
        println!(
            "concurrency {concurrency:>3} connections {connections}: {:.0} alerts/s delivered (p50 {:?}, p99 {:?})",
            n as f64 / secs,
            s.latency_p50_total.unwrap(),
            s.latency_p99_total.unwrap()
        );
        a_hub.close();
        fwd.shutdown(Duration::from_secs(1)).await;
        b.stop().await;
    }
}
