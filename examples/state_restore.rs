//! Durable state at scale: writes N alerts over 10,000 repos × 9 policies
//! (90,000 keys) with Allstar-like details through the real state writer
//! (a hub consumer), then measures the restore a restarting sink does.
//! Prints one JSON line: writer throughput, bytes per stored alert, restore
//! time and what was restored.
//!
//!     cargo run --release --example state_restore -- 1000000 [DIR]

use std::time::Instant;

use sinkwatch::client::demo::details_for;
use sinkwatch::client::load::POLICIES;
use sinkwatch::hub::Hub;
use sinkwatch::model::{NewAlert, StoreLimits};
use sinkwatch::state::{OpenOptions, open};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("sinkwatch-restore-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).expect("bench directory");
    let path = dir.join("state.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    let limits = StoreLimits {
        history: 1000,
        ..StoreLimits::default()
    };
    let opened = open(OpenOptions {
        path: path.clone(),
        retain: None,
        listen: "bench".into(),
        limits,
    })
    .expect("open");
    // A queue that holds everything: this measures the writer, not losses.
    let hub = Hub::with_store(opened.store, n + 1);
    let (_, rx) = hub.subscribe();
    let stats = opened.stats.clone();
    let store = hub.clone();
    let writer = opened.writer.expect("durable").spawn(
        rx,
        stats.clone(),
        Box::new(move |from, to| store.read(|s| s.records_between(from, to))),
    );

    let peer = "127.0.0.1:40312".parse().ok();
    // Received over 30 days, oldest first, as a long-running sink would.
    let day_ms = 86_400_000u64;
    let start_ms = sinkwatch::hub::now_ms() - 30 * day_ms;
    let step = (30 * day_ms) / n.max(1) as u64;
    let t0 = Instant::now();
    for i in 0..n {
        let policy = POLICIES[i % 9];
        let repo = (i / 9) % 10_000;
        let cycle = i / 90_000;
        // 1 key in 8 fails; the set drifts every few scans (regressions
        // and fixes), and details stay the same scan after scan.
        let fails = (repo.wrapping_mul(31) + i % 9 + cycle / 3) % 8 == 0;
        let repo_name = format!("repo-{repo}");
        let alert = NewAlert {
            owner: format!("org-{}", repo % 50),
            details: if fails {
                details_for(policy, &repo_name, repo as u32)
            } else {
                String::new()
            },
            repo: repo_name,
            policy: policy.to_owned(),
            pass: !fails,
        };
        hub.ingest_at(&alert, start_ms + i as u64 * step, peer, None)
            .expect("ingest");
    }
    hub.close();
    writer.join().expect("writer");
    let write_s = t0.elapsed().as_secs_f64();
    let written = stats.written.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        written as usize,
        n,
        "every alert stored: {}",
        stats.to_json()
    );
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(hub);

    // The restore a restarting sink does (default --history).
    let t1 = Instant::now();
    let opened = open(OpenOptions {
        path: path.clone(),
        retain: None,
        listen: "bench".into(),
        limits: StoreLimits::default(),
    })
    .expect("reopen");
    let restore_s = t1.elapsed().as_secs_f64();
    let r = &opened.stats.restored;
    println!(
        "{{\"kind\":\"state_restore\",\"alerts\":{n},\"keys\":{},\"write_seconds\":{write_s:.2},\
         \"write_rate\":{:.0},\"file_bytes\":{bytes},\"bytes_per_alert\":{:.1},\
         \"restore_seconds\":{restore_s:.3},\"restored_events\":{},\"restored_transitions\":{},\
         \"failing_keys\":{}}}",
        r.keys,
        n as f64 / write_s,
        bytes as f64 / n.max(1) as f64,
        r.events,
        r.transitions,
        opened.store.failing_keys(),
    );
    drop(opened);
    let _ = std::fs::remove_dir_all(&dir);
}
