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

/// Before: `--queue 100000000000` aborted on allocation (134), a huge
/// `--stats-interval` panicked, `--forward-concurrency 1000000` took 2.9 GB,
/// `/dev/zero` as config or token file was read without end, and 100,000
/// nested `[` took 16 s. Now each is exit 2 with one line, at once.
#[test]
fn bad_options_and_files_are_refused_at_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.yaml");
    std::fs::write(&bomb, format!("forward: {}", "[".repeat(100_000))).unwrap();
    let bomb = bomb.to_str().unwrap();
    for (args, names) in [
        (&["--queue", "100000000000"][..], "--queue"),
        (
            &["--stats-interval", "18446744073709551615"],
            "--stats-interval",
        ),
        (
            &["--forward-concurrency", "1000000"],
            "--forward-concurrency",
        ),
        (&["--memory-budget", "1KiB"], "memory-budget"),
        (&["--config", "/dev/zero"], "/dev/zero"),
        (&["--token-file", "/dev/zero"], "/dev/zero"),
        (&["--config", bomb], "nested deeper"),
    ] {
        let out = output(
            bin()
                .args(["--no-tui", "--listen", "127.0.0.1:0"])
                .args(args),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
}
