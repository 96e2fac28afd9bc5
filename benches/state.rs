//! The state writer alone: one batch per iteration written into a growing
//! database, as the writer's SQL stage does (no hub, no thread hand-over),
//! so the time per alert is the writer's CPU per alert; batches of 2,048
//! (a writer keeping up) and 16,384 (one catching up). (WAL
//! with `synchronous=NORMAL` does not sync on commit). The alerts are those
//! of `sinkwatch load` (1,000 repos × 9 policies, ~1 in 8 failing at
//! random, so about one alert in five is a transition) through a real
//! store, so details texts are shared as on ingest; a new database is
//! started every 300,000 alerts, the size of the end-to-end run's.
//!
//! `cargo bench --bench state`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sinkwatch::client::load::nth_alert;
use sinkwatch::model::{AlertRecord, NewAlert, Peer, Store, StoreLimits};
use sinkwatch::state::writer::{BATCH_ROWS, MAX_BATCH_ROWS, Writer};
use sinkwatch::state::{OpenOptions, open};

/// Feeds alerts through a store as the hub does.
struct Source {
    store: Store,
    peers: Vec<Arc<Peer>>,
    n: u64,
}

impl Source {
    fn new() -> Source {
        let mut store = Store::new(StoreLimits {
            history: 1000,
            ..StoreLimits::default()
        });
        // `sinkwatch load` opens 4 connections.
        let peers = (0..4)
            .map(|i| {
                let addr = format!("127.0.0.1:{}", 40000 + i).parse().ok();
                store.peer(addr, None)
            })
            .collect();
        Source { store, peers, n: 0 }
    }

    fn batch(&mut self, len: usize) -> Vec<Arc<AlertRecord>> {
        (0..len)
            .map(|_| {
                let a = nth_alert(self.n, 1000);
                let alert = NewAlert {
                    owner: a.owner_name,
                    repo: a.repo_name,
                    policy: a.policy_name,
                    details: a.details,
                    pass: a.pass,
                };
                let peer = self.peers[(self.n % 4) as usize].clone();
                self.n += 1;
                let at_ms = 1_764_000_000_000 + self.n / 50;
                Arc::new(self.store.ingest(&alert, at_ms, Some(peer)).unwrap())
            })
            .collect()
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Alerts in a database before the bench starts another: as many as
/// `scripts/bench.sh` stores (the cost per alert grows with the file, as
/// index pages do).
const ALERTS_PER_FILE: usize = 300_000;

/// A fresh database and its writer, every key already stored (the steady
/// state of a long run, not the first sight of 9,000 keys).
fn fresh(source: &mut Source) -> (tempfile::TempDir, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(OpenOptions {
        path: dir.path().join("state.db"),
        retain: None,
        listen: "bench".into(),
        limits: StoreLimits::default(),
    })
    .unwrap();
    let mut w = opened.writer.expect("a durable state");
    for _ in 0..5 {
        w.write_batch(&source.batch(BATCH_ROWS)).unwrap();
    }
    (dir, w)
}

fn writer(c: &mut Criterion) {
    let mut g = c.benchmark_group("state writer");
    g.sample_size(30);
    for (rows, name) in [
        (BATCH_ROWS, "batch of 2048, load traffic (9,000 keys)"),
        (MAX_BATCH_ROWS, "batch of 16384 (catching up), load traffic"),
    ] {
        let mut source = Source::new();
        let mut file = Some(fresh(&mut source));
        let mut batches = 0;
        let per_file = ALERTS_PER_FILE / rows;
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function(name, |b| {
            // The writer thread's CPU time, not the wall clock: what ingest
            // loses when the writer shares its cores.
            b.iter_custom(|iters| {
                let mut cpu = Duration::ZERO;
                for _ in 0..iters {
                    if batches == per_file {
                        // The old writer (and its lock) goes before the new one.
                        file = None;
                        file = Some(fresh(&mut source));
                        batches = 0;
                    }
                    batches += 1;
                    let batch = source.batch(rows);
                    let w = &mut file.as_mut().expect("a database").1;
                    let t0 = thread_cpu();
                    w.write_batch(&batch).unwrap();
                    cpu += thread_cpu() - t0;
                }
                cpu
            })
        });
    }
    g.finish();
}

criterion_group!(benches, writer);
criterion_main!(benches);
