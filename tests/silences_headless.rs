//! Silences seen from the binary: headless JSON lines mark silenced
//! failures (`"silenced":"<id>"`) by the silences file beside the config;
//! a bad file is one warning line and is left untouched.

mod common;

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use common::binary::{Headless, bin, send};

fn rfc3339(ms: u64) -> String {
    sinkwatch::record::format_time(ms)
}

fn start_with_config_home(dir: &std::path::Path) -> Headless {
    let child = bin()
        .env("XDG_CONFIG_HOME", dir)
        .args(["--no-tui", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Headless::adopt(child)
}

#[test]
fn headless_lines_mark_silenced_failures() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    std::fs::create_dir_all(dir.path().join("sinkwatch")).unwrap();
    std::fs::write(
        dir.path().join("sinkwatch/silences.yaml"),
        format!(
            "silences:\n\
             - id: c0de0123\n  matcher: policy:CODEOWNERS\n  starts: {}\n  ends: {}\n  \
             comment: fix scheduled\n  created_by: alice\n  created: {0}\n  updated: {0}\n\
             - id: 01d01d01\n  matcher: org:ossf\n  starts: {}\n  ends: {}\n  \
             created: {2}\n  updated: {2}\n",
            rfc3339(now - 60_000),
            rfc3339(now + 3_600_000),
            rfc3339(now - 7_200_000),
            rfc3339(now - 3_600_000),
        ),
    )
    .unwrap();
    let sink = start_with_config_home(dir.path());
    assert!(
        sink.early_stderr.iter().all(|l| !l.contains("silences")),
        "{:?}",
        sink.early_stderr
    );
    let url = sink.url();
    for args in [
        [
            "--owner",
            "ossf",
            "--repo",
            "scorecard",
            "--policy",
            "CODEOWNERS",
            "--fail",
        ]
        .as_slice(),
        [
            "--owner",
            "ossf",
            "--repo",
            "scorecard",
            "--policy",
            "CODEOWNERS",
            "--pass",
        ]
        .as_slice(),
        [
            "--owner",
            "ossf",
            "--repo",
            "scorecard",
            "--policy",
            "SECURITY.md",
            "--fail",
        ]
        .as_slice(),
    ] {
        let out = send(&url, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let exit = sink.terminate();
    let alerts: Vec<_> = exit
        .lines()
        .into_iter()
        .filter(|v| v["kind"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 3, "{}", exit.stdout);
    // The failure the active silence covers; a pass never; another policy
    // not; the expired org silence silences nothing.
    assert_eq!(alerts[0]["silenced"], "c0de0123", "{}", alerts[0]);
    assert!(alerts[1].get("silenced").is_none(), "{}", alerts[1]);
    assert!(alerts[2].get("silenced").is_none(), "{}", alerts[2]);
    // The other fields are unchanged.
    assert_eq!(alerts[0]["policy"], "CODEOWNERS");
    assert_eq!(alerts[0]["pass"], false);
}

#[test]
fn a_bad_silences_file_is_one_line_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sinkwatch")).unwrap();
    let path = dir.path().join("sinkwatch/silences.yaml");
    let text = "silences:\n- id: x\n  matcher: [unclosed\n";
    std::fs::write(&path, text).unwrap();
    let sink = start_with_config_home(dir.path());
    let warnings: Vec<_> = sink
        .early_stderr
        .iter()
        .filter(|l| l.contains("silences.yaml"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", sink.early_stderr);
    assert!(
        warnings[0].starts_with("sinkwatch: warning: silences ") && warnings[0].contains("line "),
        "{}",
        warnings[0]
    );
    let out = send(
        &sink.url(),
        &[
            "--owner",
            "o",
            "--repo",
            "r",
            "--policy",
            "CODEOWNERS",
            "--fail",
        ],
    );
    assert!(out.status.success());
    let exit = sink.terminate();
    assert!(exit.status.success(), "{}", exit.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
