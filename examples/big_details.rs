//! Sends alerts with large details to a sink, to measure its memory under
//! the memory budget (BENCHMARKS.md, "Memory under large details").
//!
//!     cargo run --release --example big_details -- URL TOTAL BYTES unique|repeated [CONCURRENCY]
//!
//! `unique`: every alert's details differ (over 1,000 keys); `repeated`:
//! every alert of a key repeats that key's details, as Allstar does scan
//! after scan. Prints one JSON line with the rate.

use std::time::Instant;

use sinkwatch::proto::AlertRequest;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: big_details URL TOTAL BYTES unique|repeated [CONCURRENCY]";
    let url = args.next().ok_or(usage)?;
    let total: usize = args.next().ok_or(usage)?.parse()?;
    let bytes: usize = args.next().ok_or(usage)?.parse()?;
    let unique = match args.next().as_deref() {
        Some("unique") => true,
        Some("repeated") => false,
        _ => return Err(usage.into()),
    };
    let conc: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(16);
    let client = AlertSinkClient::connect(url).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..conc {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..total).step_by(conc) {
                let key = i % 1000;
                let seed = if unique { i } else { key };
                let unit = format!("{seed:012}\n");
                let details = unit.repeat(bytes / unit.len() + 1)[..bytes].to_owned();
                let req = AlertRequest {
                    owner_name: "ossf".into(),
                    repo_name: format!("repo-{key}"),
                    policy_name: "Branch Protection".into(),
                    details,
                    pass: false,
                };
                c.alert(req).await.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"kind\":\"big_details\",\"alerts\":{total},\"bytes\":{bytes},\"unique\":{unique},\"secs\":{secs:.2},\"per_sec\":{:.0}}}",
        total as f64 / secs
    );
    Ok(())
}
