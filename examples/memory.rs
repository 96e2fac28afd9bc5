//! Memory per alert held in history: resident size after N alerts over
//! 10,000 repos × 9 policies with realistic details, minus the resident size
//! before. Linux only (reads /proc/self/status).
//!
//!     cargo run --release --example memory -- 1000000

use sinkwatch::client::demo::details_for;
use sinkwatch::client::load::POLICIES;
use sinkwatch::hub::Hub;
use sinkwatch::model::{NewAlert, StoreLimits};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let hub = Hub::new(
        StoreLimits {
            history: n,
            ..StoreLimits::default()
        },
        1024,
    );
    let before = rss_bytes();
    let peer = "127.0.0.1:40312".parse().ok();
    // Each key keeps the same details scan after scan, as Allstar's do; a
    // few flip so the details change now and then.
    let mut alert = NewAlert {
        owner: String::new(),
        repo: String::new(),
        policy: String::new(),
        details: String::new(),
        pass: true,
    };
    for i in 0..n {
        let policy = POLICIES[i % 9];
        let repo = (i / 9) % 10_000;
        let cycle = i / 90_000;
        let fails = (repo.wrapping_mul(31) + i % 9 + cycle / 3) % 8 == 0;
        alert.owner.clear();
        alert.owner.push_str(&format!("org-{}", repo % 50));
        alert.repo = format!("repo-{repo}");
        alert.policy.clear();
        alert.policy.push_str(policy);
        alert.pass = !fails;
        alert.details = if fails {
            details_for(policy, &alert.repo, repo as u32)
        } else {
            String::new()
        };
        hub.ingest(&alert, peer, None).expect("ingest");
    }
    let after = rss_bytes();
    let (held, keys) = hub.read(|s| (s.history().len(), s.key_count()));
    let per = (after.saturating_sub(before)) as f64 / held.max(1) as f64;
    println!(
        "{{\"kind\":\"memory\",\"alerts\":{held},\"keys\":{keys},\"rss_before\":{before},\"rss_after\":{after},\"bytes_per_alert\":{per:.1}}}"
    );
}
