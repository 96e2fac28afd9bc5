//! Hardening as a user meets it, through the binary: token refusals leave
//! no trace but a count, the exposure warning, an unwritable record file,
//! hostile text escaped in the JSON output.

mod common;

use common::binary::{Headless, bin, json_lines, send};

#[test]
fn without_the_token_a_client_is_refused_and_leaves_no_trace_but_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-Token\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "guess\n").unwrap();
    let rec = dir.path().join("rec.jsonl");
    let sink = Headless::start_on(
        "127.0.0.1:0",
        &[
            "--token-file",
            token.to_str().unwrap(),
            "--record",
            rec.to_str().unwrap(),
        ],
    );
    let url = sink.url();
    let intruder = [
        "--owner",
        "intruder-org",
        "--repo",
        "intruder-repo",
        "--policy",
        "Intruder Policy",
        "--fail",
    ];

    let out = send(
        &url,
        &[&intruder[..], &["--details", "INTRUDER-DETAILS"]].concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthenticated"), "{err}");
    let out = send(
        &url,
        &[&intruder[..], &["--token-file", wrong.to_str().unwrap()]].concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthenticated"));

    let out = send(
        &url,
        &[
            "--owner",
            "ossf",
            "--repo",
            "allstar",
            "--policy",
            "SECURITY.md",
            "--pass",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let exit = sink.terminate();
    let (stdout, stderr, status) = (exit.stdout, exit.stderr, exit.status);
    assert!(status.success());
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("record", &std::fs::read_to_string(&rec).unwrap()),
    ] {
        assert!(
            !text.contains("intruder") && !text.contains("INTRUDER"),
            "{what} shows a refused request: {text}"
        );
    }
    let lines = json_lines(&stdout);
    let alerts: Vec<_> = lines.iter().filter(|l| l["kind"] == "alert").collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["owner"], "ossf");
    let stats = lines.last().unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["accepted"], 1);
    // Counted apart: no token at all, and a wrong one.
    assert_eq!(stats["refused"]["auth_missing"], 1);
    assert_eq!(stats["refused"]["unauthenticated"], 1);
    let recorded = std::fs::read_to_string(&rec).unwrap();
    let kinds: Vec<_> = json_lines(&recorded)
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["run", "alert"]);
}

#[test]
fn listening_beyond_loopback_without_tls_or_token_warns() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();

    let open = Headless::start_on("0.0.0.0:0", &[]);
    let warnings: Vec<_> = open
        .early_stderr
        .iter()
        .filter(|l| l.contains("warning"))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", open.early_stderr);
    let w = &warnings[0];
    assert!(
        w.starts_with("sinkwatch: warning: listening on 0.0.0.0:"),
        "{w}"
    );
    assert!(
        w.contains("without TLS or a token") && w.contains("--token-file"),
        "{w}"
    );
    // It still works (traffic only to 127.0.0.1).
    let out = send(
        &open.url(),
        &["--owner", "o", "--repo", "r", "--policy", "p", "--pass"],
    );
    assert!(out.status.success());
    let status = open.terminate().status;
    assert!(status.success());

    for extra in [vec!["--token-file", token.to_str().unwrap()], vec![]] {
        let listen = if extra.is_empty() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        };
        let quiet = Headless::start_on(listen, &extra);
        assert!(
            !quiet.early_stderr.iter().any(|l| l.contains("warning")),
            "{listen} {extra:?}: {:?}",
            quiet.early_stderr
        );
        quiet.terminate();
    }
}

/// TLS alone hides what is sent, not who sends it: still warned (a
/// review; this test said the opposite before), and alerts still flow.
#[test]
fn tls_without_a_credential_is_still_warned_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let tls = Headless::start_on(
        "0.0.0.0:0",
        &[
            "--tls-cert",
            c.to_str().unwrap(),
            "--tls-key",
            k.to_str().unwrap(),
        ],
    );
    assert!(
        tls.early_stderr
            .iter()
            .any(|l| l.contains("warning") && l.contains("with TLS but no credential")),
        "{:?}",
        tls.early_stderr
    );
    let url = format!("https://{}", tls.addr.replace("0.0.0.0", "127.0.0.1"));
    let out = bin()
        .args([
            "send",
            "--to",
            &url,
            "--ca",
            c.to_str().unwrap(),
            "--timeout",
            "10",
        ])
        .args(["--owner", "o", "--repo", "r", "--policy", "p", "--pass"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tls.terminate();
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_record_file_is_reported_and_ingest_goes_on() {
    let sink = Headless::start_on("127.0.0.1:0", &["--record", "/dev/full"]);
    // Enough text that the recorder's 64 KiB buffer must reach the device.
    let out = bin()
        .args([
            "load",
            "--to",
            &sink.url(),
            "--total",
            "600",
            "--concurrency",
            "8",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let details = "x".repeat(2000);
    for i in 0..40 {
        let out = send(
            &sink.url(),
            &[
                "--owner",
                "o",
                "--repo",
                &format!("r{i}"),
                "--policy",
                "p",
                "--fail",
                "--details",
                &details,
            ],
        );
        assert!(out.status.success());
    }
    let exit = sink.terminate();
    let (stdout, stderr, status) = (exit.stdout, exit.stderr, exit.status);
    // Ingest went on, but the recording is incomplete: the run failed,
    // with one line saying why.
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let lines = json_lines(&stdout);
    let seqs: Vec<u64> = lines
        .iter()
        .filter(|l| l["kind"] == "alert")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=640).collect::<Vec<_>>(),
        "every alert still printed"
    );
    assert!(
        stderr.contains("record file: /dev/full") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    let stats = lines.last().unwrap();
    assert_eq!(stats["accepted"], 640);
    // Nothing reached /dev/full: every record is counted as lost.
    assert_eq!(stats["lost"]["/dev/full"], 640, "{stats}");
    assert_eq!(stats["lost"]["stdout"], 0);
}

#[test]
fn escape_sequences_in_alerts_stay_escaped_in_the_json_output() {
    let sink = Headless::start_on("127.0.0.1:0", &[]);
    let hostile = "title \u{1b}]0;pwned\u{7} clear \u{1b}[2J\u{1b}[H colour \u{1b}[31mred\u{1b}[0m \
                   8bit-csi \u{9b}31m bidi \u{202e}txt.exe zero\u{200b}width del\u{7f} nul-free \r\n";
    let out = send(
        &sink.url(),
        &[
            "--owner",
            "o\u{1b}[2J",
            "--repo",
            "r\u{202e}",
            "--policy",
            "p\u{7}",
            "--fail",
            "--details",
            hostile,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = sink.terminate().stdout;
    // No raw control (C0, DEL, C1 such as the 8-bit CSI), bidi override or
    // zero-width character anywhere in the output: all are \u escapes.
    for line in stdout.lines() {
        assert!(
            !line.chars().any(|c| c.is_control()),
            "raw control character in {line:?}"
        );
        assert!(
            sinkwatch::sanitize::is_clean_line(line),
            "terminal-unsafe text in {line:?}"
        );
    }
    assert!(
        stdout.contains("\\u009b31m") && stdout.contains("\\u202etxt.exe"),
        "{stdout}"
    );
    let lines = json_lines(&stdout);
    let a = &lines[0];
    assert_eq!(a["details"], hostile, "JSON keeps the raw text");
    assert_eq!(a["owner"], "o\u{1b}[2J");
    assert!(stdout.contains("\\u001b]0;pwned\\u0007"), "{stdout}");
}
