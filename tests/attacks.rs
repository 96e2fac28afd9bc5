//! The attacks of issue 15 against the real binary or a real sink, each
//! bounded in time and count, each checking that a real client still gets
//! through: memory in bytes (large details), connections that stop reading,
//! unfinished messages, and one peer's share of the connections.

mod common;

use common::binary::Headless;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;

/// Resident and peak resident bytes of a process (Linux: /proc).
fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn big_alert(i: usize, unique: bool) -> sinkwatch::proto::AlertRequest {
    let seed = if unique { i } else { 0 };
    common::alert(
        "ossf",
        &format!("repo-{}", i % 50),
        "Branch Protection",
        false,
        &format!("{seed:010}").repeat(6_000),
    )
}

/// Sends `n` alerts with 60 KB details over 8 concurrent calls; all must be
/// answered OK.
async fn send_big(url: &str, n: usize, unique: bool) {
    let client = AlertSinkClient::connect(url.to_owned())
        .await
        .unwrap()
        .max_decoding_message_size(1 << 20);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..n).step_by(8) {
                c.alert(big_alert(i, unique)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_the_budget_under_60_kb_details() {
    // 3,000 × 60 KB = 180 MB of unique details against a 32 MiB budget.
    // Before the budget the history kept every one (RSS > 180 MB).
    let budget = 32u64 << 20;
    let sink = Headless::start(&["--memory-budget", "32MiB"]);
    let (base, _) = rss_of(sink.pid());
    send_big(&sink.url(), 3_000, true).await;
    let (rss, peak) = rss_of(sink.pid());
    eprintln!("RSS: at start {base}, after {rss}, peak {peak}");
    // The budget, the consumer queue's half budget, buffers in flight and
    // the process itself (its start-up RSS): 64 MiB is generous for those.
    let allowed = budget + budget / 2 + (64 << 20);
    assert!(peak < allowed, "peak RSS {peak} over {allowed}");
    // A real client is still answered, and the evictions are counted.
    send_big(&sink.url(), 1, true).await;
    let exit = sink.terminate();
    assert!(exit.status.success(), "{}", exit.stderr);
    let stats = exit.lines().pop().unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["accepted"], 3_001);
    let evicted = stats["evicted"].as_u64().unwrap();
    assert!(evicted > 2_000, "{stats}");
    assert!(stats["memory_bytes"].as_u64().unwrap() <= budget, "{stats}");
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_details_stay_shared_and_evict_nothing() {
    let sink = Headless::start(&["--memory-budget", "32MiB"]);
    send_big(&sink.url(), 3_000, false).await;
    let (_, peak) = rss_of(sink.pid());
    eprintln!("peak RSS with repeated details: {peak}");
    let exit = sink.terminate();
    assert!(exit.status.success(), "{}", exit.stderr);
    let stats = exit.lines().pop().unwrap();
    assert_eq!(stats["accepted"], 3_000);
    assert_eq!(stats["evicted"], 0, "{stats}");
    assert_eq!(stats["details_evicted"], 0, "{stats}");
}
