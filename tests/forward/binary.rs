//! Forwarding through the binary: chained sinks, the undelivered report,
//! bad options.

use super::support::*;

// ---- the binary ----------------------------------------------------------

#[test]
fn two_chained_binaries_pass_every_alert_and_count_them() {
    use crate::common::binary::{Headless, bin, output};
    let b = Headless::start(&[]);
    let a = Headless::start(&["--forward", &b.addr, "--stats-interval", "1"]);
    let out = output(bin().args([
        "load",
        "--to",
        &a.url(),
        "--total",
        "5000",
        "--concurrency",
        "32",
        "--json",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(load["ok"], 5000);

    // On SIGTERM A drains its queue (grace 5 s) before it reports.
    let a_exit = a.terminate();
    let (a_lines, a_err, status) = (a_exit.lines(), a_exit.stderr, a_exit.status);
    assert!(status.success(), "{a_err}");
    let stats = a_lines.last().unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["accepted"], 5000);
    let fwd = &stats["forward"][0];
    assert_eq!(fwd["upstream"], format!("http://{}", b.addr));
    assert_eq!(fwd["delivered"], 5000, "{stats}");
    assert_eq!(fwd["accepted"], 5000);
    assert_eq!(stats["undelivered"], 0);
    assert!(!a_err.contains("not delivered"), "{a_err}");
    // Every line is whole JSON (the periodic stats lines share stdout).
    assert_eq!(
        a_lines.iter().filter(|l| l["kind"] == "alert").count(),
        5000
    );

    let b_lines = b.terminate().lines();
    let seqs: Vec<u64> = b_lines
        .iter()
        .filter(|l| l["kind"] == "alert")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=5000).collect::<Vec<_>>());
}

#[test]
fn undelivered_alerts_are_listed_in_the_record_file_and_counted_on_exit() {
    use crate::common::binary::{Headless, bin, output};
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("a.jsonl");
    let dead = dead_addr();
    let a = Headless::start(&[
        "--forward",
        &dead.to_string(),
        "--forward-queue",
        "5",
        "--forward-concurrency",
        "2",
        "--forward-grace",
        "0.2",
        "--record",
        rec.to_str().unwrap(),
    ]);
    for i in 0..20 {
        let out = output(bin().args([
            "send",
            "--to",
            &a.url(),
            "--owner",
            "o",
            "--repo",
            &format!("r{i}"),
            "--policy",
            "p",
            "--pass",
        ]));
        assert!(
            out.status.success(),
            "accepted although the upstream is down"
        );
    }
    let a_exit = a.terminate();
    let (lines, err, status) = (a_exit.lines(), a_exit.stderr, a_exit.status);
    assert!(status.success());
    let stats = lines.last().unwrap();
    assert_eq!(stats["undelivered"], 20, "{stats}");
    assert_eq!(stats["forward"][0]["delivered"], 0);
    // The stats line (as the panel and the metrics) counts what the lanes
    // held and never sent as queued, as the exit line does (it said
    // `in_flight` 2 beside `still queued`).
    let fwd = &stats["forward"][0];
    assert_eq!(fwd["in_flight"], 0, "{stats}");
    assert_eq!(
        fwd["queued"].as_u64().unwrap() + fwd["dropped"].as_u64().unwrap(),
        20,
        "{stats}"
    );
    assert!(
        err.contains(&format!("forward http://{dead}: 20 alerts not delivered")),
        "{err}"
    );

    let text = std::fs::read_to_string(&rec).unwrap();
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut listed: Vec<u64> = Vec::new();
    let mut reasons = HashMap::new();
    for v in values.iter().filter(|v| v["kind"] == "undelivered") {
        assert_eq!(v["upstream"], format!("http://{dead}"));
        *reasons
            .entry(v["reason"].as_str().unwrap().to_owned())
            .or_insert(0u64) += v["count"].as_u64().unwrap();
        for r in v["ranges"].as_array().unwrap() {
            listed.extend(r[0].as_u64().unwrap()..=r[1].as_u64().unwrap());
        }
    }
    listed.sort_unstable();
    assert_eq!(listed, (1..=20).collect::<Vec<_>>(), "{text}");
    // Nothing ever reached the dead upstream: what its lanes held is
    // queued (never sent), not in flight (it was, on old: "may or may not
    // have arrived").
    assert_eq!(reasons.get("in_flight"), None, "{reasons:?}");
    assert_eq!(
        reasons.get("queued").copied(),
        Some(20 - reasons.get("dropped").copied().unwrap_or(0)),
        "{reasons:?}"
    );
    // The recording still replays: readers skip the unknown kind.
    let alerts = sinkwatch::record::read_alerts(text.as_bytes())
        .filter(|a| a.is_ok())
        .count();
    assert_eq!(alerts, 20);
}

#[test]
fn bad_forward_options_are_usage_errors() {
    use crate::common::binary::{bin, output};
    // (extra arguments, what the one line on stderr must name)
    let cases: [(&[&str], &str); 4] = [
        (&["--forward", "ftp://x:1"], "ftp://x:1"),
        (
            &[
                "--forward",
                "127.0.0.1:1",
                "--forward-ca",
                "/nonexistent/ca.pem",
            ],
            "/nonexistent/ca.pem",
        ),
        (&["--forward-mode", "proxy"], "needs an upstream"),
        (
            &["--forward", "127.0.0.1:1", "--forward-when-behind", "block"],
            "invalid value 'block' for '--forward-when-behind",
        ),
    ];
    for (extra, named) in cases {
        let out = output(
            bin()
                .args(["--no-tui", "--listen", "127.0.0.1:0"])
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{extra:?}: {err}");
    }
}
