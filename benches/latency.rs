//! One call's round trip over loopback, one call at a time: a do-nothing
//! tonic AlertSink (the baseline: same proto, same tonic) against
//! sinkwatch's sink (validation, the hub and its store, a JSON-lines printer
//! writing to /dev/null), in the same process and run, so the difference is
//! what sinkwatch adds to a sender's latency (the target in BENCHMARKS.md: ≤ 20 µs at p50).
//!
//! Run: `cargo bench --bench latency` (`ROUNDS=60 BATCH=500` to change the
//! sizes). All servers share one runtime with two workers, and so does the
//! client (a task making one call at a time, like `sinkwatch load
//! --concurrency 1`).
//!
//! Why not criterion here: the figure is a small difference between two
//! noisy latencies on a shared machine, and measuring one target for
//! seconds and then the other lets the machine's drift land in the
//! difference. So the targets take turns in short batches, round after
//! round, and the added latency is the median over rounds of each batch's
//! p50 minus the baseline's p50 in the same round.

use std::sync::Arc;

use std::time::Instant;

use sinkwatch::grpc::Target;
use sinkwatch::hub::Hub;
use sinkwatch::model::StoreLimits;
use sinkwatch::proto::alert_sink_server::{AlertSink, AlertSinkServer};
use sinkwatch::proto::{AlertRequest, AlertResponse};
use sinkwatch::record::{WriterStats, spawn_writer};
use sinkwatch::sink::{SinkConfig, serve};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

struct Bare;

#[tonic::async_trait]
impl AlertSink for Bare {
    async fn alert(&self, _: Request<AlertRequest>) -> Result<Response<AlertResponse>, Status> {
        Ok(Response::new(AlertResponse {}))
    }
}

async fn start_bare() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(AlertSinkServer::new(Bare))
            .serve_with_incoming(incoming),
    );
    format!("http://{addr}")
}

async fn start_sinkwatch(hub: Arc<Hub>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        hub,
        SinkConfig::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// Alerts over 10,000 repos × 9 policies, one in eight failing, as in
/// `sinkwatch load`.
fn request(i: usize) -> AlertRequest {
    let pass = i % 8 != 0;
    AlertRequest {
        owner_name: format!("org-{}", i % 50),
        repo_name: format!("repo-{}", (i / 9) % 10_000),
        policy_name: sinkwatch::client::load::POLICIES[i % 9].to_owned(),
        details: if pass {
            String::new()
        } else {
            "Branch protection is not enabled on main.\n".to_owned()
        },
        pass,
    }
}

/// One target's latencies: every call (µs) and each round's batch p50.
struct Series {
    name: &'static str,
    all: hdrhistogram::Histogram<u64>,
    batch_p50: Vec<f64>,
}

fn p50_of(samples: &mut [u64]) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2] as f64
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // nothing: then one tiny round, to keep the bench compiling and working.
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { env_or("ROUNDS", 40) } else { 1 };
    let batch = if full { env_or("BATCH", 500) } else { 20 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hub = Hub::new(StoreLimits::default(), 1 << 16);
    let (_, rx) = hub.subscribe();
    let null = std::fs::File::create("/dev/null").unwrap();
    let printer = spawn_writer("null".into(), rx, null, Arc::new(WriterStats::default()));
    // The same sink and hub with no consumer: what the printer adds.
    let quiet_hub = Hub::new(StoreLimits::default(), 1 << 16);
    let urls = [
        ("bare tonic AlertSink", rt.block_on(start_bare())),
        (
            "sinkwatch sink, no consumers",
            rt.block_on(start_sinkwatch(quiet_hub.clone())),
        ),
        (
            "sinkwatch headless (printer → /dev/null)",
            rt.block_on(start_sinkwatch(hub.clone())),
        ),
    ];
    let mut clients: Vec<_> = urls
        .iter()
        .map(|(_, url)| rt.block_on(Target::plain(url.clone()).connect()).unwrap())
        .collect();
    let mut series: Vec<Series> = urls
        .iter()
        .map(|(name, _)| Series {
            name,
            all: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
            batch_p50: Vec::new(),
        })
        .collect();

    let mut i = 0usize;
    // Warm-up: connections, the stores' first keys, the allocator.
    for client in clients.iter_mut() {
        rt.block_on(calls(client, batch.max(200), &mut i));
    }
    for round in 0..rounds {
        // Rotate who goes first, so no target always follows another.
        for k in 0..clients.len() {
            let t = (round + k) % clients.len();
            let mut lat = rt.block_on(calls(&mut clients[t], batch, &mut i));
            for &us in &lat {
                let _ = series[t].all.record(us.max(1));
            }
            series[t].batch_p50.push(p50_of(&mut lat));
        }
    }
    hub.close();
    quiet_hub.close();
    let _ = printer.join();

    println!(
        "sequential calls over loopback, one at a time: {rounds} rounds of {batch} calls per target, taking turns"
    );
    println!(
        "{:<42} {:>10} {:>10} {:>16}",
        "target", "p50 µs", "p99 µs", "added p50 µs"
    );
    let base = &series[0];
    for s in &series {
        let added: Vec<f64> = s
            .batch_p50
            .iter()
            .zip(&base.batch_p50)
            .map(|(a, b)| a - b)
            .collect();
        let added = if std::ptr::eq(s, base) {
            "".to_owned()
        } else {
            let mut sorted = added.clone();
            sorted.sort_by(f64::total_cmp);
            let q = |f: f64| sorted[((sorted.len() - 1) as f64 * f).round() as usize];
            format!("{:+.1} [{:+.1} … {:+.1}]", median(&added), q(0.25), q(0.75))
        };
        println!(
            "{:<42} {:>10} {:>10} {:>16}",
            s.name,
            s.all.value_at_quantile(0.5),
            s.all.value_at_quantile(0.99),
            added
        );
    }
    println!(
        "added p50: median over rounds of (batch p50 − baseline batch p50), [interquartile range]"
    );
}

/// `n` calls, one after the other, from a task on the runtime; each call's
/// latency in µs.
async fn calls(client: &mut sinkwatch::grpc::Client, n: usize, i: &mut usize) -> Vec<u64> {
    let mut c = client.clone();
    let start = *i;
    *i += n;
    tokio::spawn(async move {
        let mut out = Vec::with_capacity(n);
        for k in start..start + n {
            let t0 = Instant::now();
            c.alert(request(k)).await.expect("the sink answers OK");
            out.push(t0.elapsed().as_micros() as u64);
        }
        out
    })
    .await
    .unwrap()
}
