//! Honest at the edges (issue 15): a closed stdout, a failing record file,
//! options out of range, oversized or deeply nested files.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::binary::{bin, output};

/// `sinkwatch --no-tui --demo | head -1`: once the reader is gone the run
/// ends, status 0, no panic (before: the final stats line panicked, exit
/// 101, and the run went on writing into the closed pipe).
#[test]
fn a_closed_stdout_ends_a_headless_run_cleanly() {
    let mut child = bin()
        .args(["--no-tui", "--demo", "--demo-rate", "500"])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with(r#"{"kind":"alert","seq":1"#), "{first}");
    drop(out);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 30 s after stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.lines().count() <= 2,
        "readiness and at most one more line: {err}"
    );
}

// The options and files refused at the door (ranges, /dev/zero, nested YAML)
// are tested in tests/options.rs.

// ---- forwarding loops

use std::sync::Arc;

use common::TestSink;
use sinkwatch::forward::{ForwardConfig, Forwarder};
use sinkwatch::grpc::Target;
use sinkwatch::hub::{Hub, Refusal};
use sinkwatch::model::StoreLimits;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;
use sinkwatch::sink::SinkConfig;

async fn sink() -> TestSink {
    TestSink::start_with_hub(
        Hub::new(StoreLimits::default(), 1 << 10),
        SinkConfig::default(),
    )
    .await
}

fn tee_to(hub: &Arc<Hub>, url: String) -> Forwarder {
    Forwarder::start(hub, ForwardConfig::new(vec![Target::plain(url)])).unwrap()
}

/// Waits (bounded) for a condition reached asynchronously.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn send_one(url: String) {
    let mut c = AlertSinkClient::connect(url).await.unwrap();
    c.alert(common::alert("ossf", "allstar", "p", false, "x"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_to_itself_is_refused_as_a_loop() {
    // Before: 1 alert became 1,448 in 3 s.
    let a = sink().await;
    let fwd = tee_to(&a.hub, a.url());
    let stats = fwd.stats();
    send_one(a.url()).await;
    eventually("the loop refused", || {
        a.hub.refused(Refusal::ForwardLoop) == 1 && stats.snapshot()[0].failed == 1
    })
    .await;
    assert_eq!(a.hub.read(|s| s.accepted()), 1, "the alert once, not again");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_through_two_sinks_is_refused_where_it_began() {
    let a = sink().await;
    let b = sink().await;
    let a_fwd = tee_to(&a.hub, b.url());
    let b_fwd = tee_to(&b.hub, a.url());
    send_one(a.url()).await;
    eventually("the loop refused at A", || {
        a.hub.refused(Refusal::ForwardLoop) == 1 && b_fwd.stats().snapshot()[0].failed == 1
    })
    .await;
    assert_eq!(a.hub.read(|s| s.accepted()), 1);
    assert_eq!(b.hub.read(|s| s.accepted()), 1);
    assert_eq!(a_fwd.stats().snapshot()[0].delivered, 1);
    // B's record names the hops: A's mark, then B's own.
    let hops = b.hub.read(|s| {
        let e = s.history().back().expect("B holds the alert");
        e.peer.as_ref().expect("its sender").hops.to_string()
    });
    assert_eq!(hops, format!("{},{}", a.hub.instance(), b.hub.instance()));
    a.stop().await;
    b.stop().await;
}

#[test]
fn client_options_out_of_range_are_one_line() {
    for args in [
        &[
            "send",
            "--to",
            "127.0.0.1:1",
            "--owner",
            "o",
            "--repo",
            "r",
            "--policy",
            "p",
            "--pass",
            "--timeout",
            "inf",
        ][..],
        &[
            "load",
            "--to",
            "127.0.0.1:1",
            "--total",
            "1",
            "--concurrency",
            "1000000000",
        ],
        &[
            "load",
            "--to",
            "127.0.0.1:1",
            "--total",
            "1",
            "--connections",
            "100000",
        ],
        &[
            "replay",
            "/dev/null",
            "--to",
            "127.0.0.1:1",
            "--concurrency",
            "0",
        ],
    ] {
        let out = output(bin().args(args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("out of range"), "{args:?}: {err}");
    }
}
