//! The option layer through the binary: every option checked at the door
//! (range, file size), one line and exit 2 for each mistake, and the
//! spellings people write accepted in both places.

mod common;

use common::binary::{Headless, bin, output};

/// Runs the binary, expecting a usage error: exit 2 and one line on stderr.
fn usage_error(args: &[&str]) -> String {
    let out = output(bin().args(args).stdin(std::process::Stdio::null()));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err:?}");
    assert!(err.starts_with("sinkwatch: "), "{err}");
    err
}

#[test]
fn numbers_out_of_range_are_one_line_and_exit_2() {
    // Each of these once crashed or hung the sink: an allocation abort
    // (exit 134), a panic in the stats task, 2.9 GB taken at start.
    for (args, option, range) in [
        (
            &["--queue", "100000000000"][..],
            "--queue",
            "allowed 1 to 4_194_304",
        ),
        (
            &["--stats-interval", "18446744073709551615"],
            "--stats-interval",
            "too long",
        ),
        (
            &["--forward-concurrency", "1000000"],
            "--forward-concurrency",
            "allowed 1 to 1_024",
        ),
        (&["--fps", "0"], "--fps", "allowed 1 to 240"),
        (
            &["--memory-budget", "1MiB"],
            "--memory-budget",
            "allowed 16MiB to 1TiB",
        ),
        (
            &["--max-connections", "4", "--max-connections-per-peer", "8"],
            "max-connections-per-peer",
            "above max-connections",
        ),
        // Negative or past the type, the option's range is said (the type's
        // maximum was, and `-1` given apart was taken for an unknown
        // argument, the option unnamed).
        (&["--history=-1"], "--history", "allowed 1 to 50_000_000"),
        (&["--history", "-1"], "--history", "allowed 1 to 50_000_000"),
        (
            &["--history", "99999999999999999999"],
            "--history",
            "allowed 1 to 50_000_000",
        ),
        (
            &["--demo-rate", "1e300"],
            "--demo-rate",
            "1e300 is out of range",
        ),
        (
            &["--idle-timeout", "0"],
            "--idle-timeout",
            "allowed 100ms to 1h",
        ),
        (
            &["--forward-timeout", "soon"],
            "--forward-timeout",
            "not a duration",
        ),
    ] {
        let mut full = vec!["--no-tui", "--listen", "127.0.0.1:0"];
        full.extend_from_slice(args);
        let err = usage_error(&full);
        assert!(
            err.contains(option) && err.contains(range),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn files_that_never_end_are_refused() {
    let err = usage_error(&["--no-tui", "--config", "/dev/zero"]);
    assert!(
        err.contains("/dev/zero") && err.contains("larger than"),
        "{err}"
    );
    // Token, key, certificate and key-set files too: all but the token
    // were read without end before (gigabytes in seconds, then an
    // out-of-memory kill).
    let sink = ["--no-tui", "--listen", "127.0.0.1:0"];
    let send = ["send", "--to", "https://127.0.0.1:1"];
    for args in [
        [&sink[..], &["--token-file", "/dev/zero"]].concat(),
        [&sink[..], &["--verify-signature", "ed25519:/dev/zero"]].concat(),
        [&sink[..], &["--verify-signature", "hmac:/dev/zero"]].concat(),
        [
            &sink[..],
            &[
                "--oidc-issuer",
                "https://issuer.test",
                "--oidc-audience",
                "a",
                "--oidc-allow",
                "*",
                "--oidc-jwks",
                "/dev/zero",
            ],
        ]
        .concat(),
        [
            &sink[..],
            &["--tls-cert", "/dev/zero", "--tls-key", "/dev/zero"],
        ]
        .concat(),
        [
            &send[..],
            &["--ca", "/dev/zero"],
            &common::binary::ALERT[..],
        ]
        .concat(),
    ] {
        let err = usage_error(&args);
        assert!(
            err.contains("/dev/zero") && err.contains("larger than"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_deeply_nested_config_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, format!("forward: {}\n", "[".repeat(100_000))).unwrap();
    let err = usage_error(&["--no-tui", "--config", cfg.to_str().unwrap()]);
    assert!(
        err.contains(":1:") && err.contains("nested deeper"),
        "{err}"
    );
}

#[test]
fn a_misspelt_key_or_theme_gets_a_suggestion_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "forwrd-queue: 10\n").unwrap();
    let err = usage_error(&["--no-tui", "--config", cfg.to_str().unwrap()]);
    assert!(err.contains("did you mean `forward-queue`?"), "{err}");
    // A bad theme fails headless too, not first when someone starts the TUI.
    std::fs::write(&cfg, "theme: drak\n").unwrap();
    let err = usage_error(&[
        "--no-tui",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        err.contains("unknown theme `drak`") && err.contains("did you mean `dark`?"),
        "{err}"
    );
}

#[test]
fn send_asks_for_exactly_one_of_pass_and_fail() {
    let base = [
        "send",
        "--to",
        "127.0.0.1:1",
        "--owner",
        "o",
        "--repo",
        "r",
        "--policy",
        "p",
    ];
    let err = usage_error(&base);
    assert!(err.contains("--pass") && err.contains("--fail"), "{err}");
    let err = usage_error(&[&base[..], &["--pass", "--fail"]].concat());
    assert!(err.contains("--pass") && err.contains("--fail"), "{err}");
}

/// A config written the way people write it runs (the sink starts and
/// answers), with durations in units and grouped numbers.
#[test]
fn a_config_with_units_and_grouped_numbers_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "history: 250,000\nqueue: 1_024\nforward-timeout: 10s\nforward-grace: 0\nidle-timeout: 2s\n",
    )
    .unwrap();
    let sink = Headless::start(&["--config", cfg.to_str().unwrap()]);
    let out = common::binary::send(
        &sink.url(),
        &["--owner", "o", "--repo", "r", "--policy", "p", "--pass"],
    );
    assert!(out.status.success(), "{out:?}");
}

/// A value or path with escape sequences, echoed in an error, reaches the
/// terminal escaped (`\x1b`), never raw: from our own messages and from
/// clap's. A user's review saw `--details-file` echo one raw.
#[test]
fn values_echoed_in_errors_are_escaped() {
    for args in [
        [
            &["send", "--to", "http://127.0.0.1:1"][..],
            &common::binary::ALERT,
            &["--details-file", "/nonexistent\u{1b}[2J\nline"],
        ]
        .concat(),
        vec!["--no-tui", "--listen", "\u{1b}]0;pwned\u{7}"],
    ] {
        let err = usage_error(&args);
        assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
        // Shown, escaped (ours as \x1b, a Debug-quoted value as \u{1b}).
        assert!(err.contains("\\x1b") || err.contains("\\u{1b}"), "{err:?}");
    }
}

/// The same upstream given twice (here by two spellings) would get every
/// alert twice, and its counters would count each twice: refused at
/// start. A user's review saw the upstream take one sent alert twice.
#[test]
fn the_same_upstream_given_twice_is_refused() {
    let err = usage_error(&[
        "--no-tui",
        "--listen",
        "127.0.0.1:0",
        "--forward",
        "127.0.0.1:27801",
        "--forward",
        "http://127.0.0.1:27801",
    ]);
    assert!(
        err.contains("--forward") && err.contains("same upstream"),
        "{err}"
    );
}

/// A bad upstream URL in a config file is told with the file and line, as
/// every other bad value is (it was checked only when forwarding started,
/// naming neither; a user's review).
#[test]
fn a_bad_forward_url_in_a_config_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:0\nforward: ftp://x:5\n").unwrap();
    let err = usage_error(&["--no-tui", "--config", cfg.to_str().unwrap()]);
    assert!(
        err.contains("c.yaml:2:") && err.contains("forward") && err.contains("ftp://x:5"),
        "{err}"
    );
}

/// Files an option in the config file names are read when the sink starts;
/// a missing one is told with the config file's line as well as the file
/// (a user's review: only the option was named).
#[test]
fn a_missing_key_file_set_in_a_config_file_names_the_config_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "listen: 127.0.0.1:0\n\nverify-signature: ed25519:/nonexistent/k.pub\n",
    )
    .unwrap();
    let err = usage_error(&["--no-tui", "--config", cfg.to_str().unwrap()]);
    assert!(
        err.contains("c.yaml:3: --verify-signature: /nonexistent/k.pub"),
        "{err}"
    );
    for (text, says) in [
        (
            "history: 10\ntoken-file: /nonexistent/t\n",
            "c.yaml:2: --token-file: /nonexistent/t",
        ),
        ("history: 10\n\ntheme: neon\n", "c.yaml:3: --theme: "),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let err = usage_error(&["--no-tui", "--config", cfg.to_str().unwrap()]);
        assert!(err.contains(says), "{text:?}: {err}");
    }
}

/// `--state` in a directory that does not exist is a usage error, and
/// nothing is made: on the old code the whole missing tree was created (a
/// user's review made `/nonexist` by a typo).
#[test]
fn a_state_file_in_a_missing_directory_is_refused_and_nothing_made() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such");
    let file = missing.join("x.db");
    let err = usage_error(&[
        "--no-tui",
        "--listen",
        "127.0.0.1:0",
        "--state",
        file.to_str().unwrap(),
    ]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("no").exists());
}

/// Files given to the clients' options are named by their option, and a
/// directory given as a recording is refused before anything is sent. On
/// the old code `attach` and `send` did not name `--token-file`, and
/// `replay DIR` said a read error, then connected and exited 1.
#[test]
fn the_clients_name_the_option_of_a_file_they_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let err = usage_error(&["attach", "--token-file", d, "http://127.0.0.1:1"]);
    assert!(err.starts_with("sinkwatch: --token-file: "), "{err}");
    let err = usage_error(&[
        "send",
        "--to",
        "127.0.0.1:1",
        "--ca",
        d,
        "--owner",
        "o",
        "--repo",
        "r",
        "--policy",
        "p",
        "--pass",
    ]);
    assert!(err.starts_with("sinkwatch: --ca: cannot read "), "{err}");
    // A public key given to sign with (a review: the option was unnamed).
    let public = dir.path().join("allstar.pub");
    std::fs::write(
        &public,
        "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let spec = format!("ed25519:{}", public.display());
    let sign = ["send", "--to", "127.0.0.1:1", "--sign", &spec];
    let err = usage_error(&[&sign[..], &common::binary::ALERT[..]].concat());
    assert!(err.starts_with("sinkwatch: --sign: "), "{err}");
    assert!(err.contains("PRIVATE KEY"), "{err}");
    let err = usage_error(&["replay", d, "--to", "127.0.0.1:1"]);
    assert!(err.contains("it is a directory"), "{err}");
}

/// A path that is not UTF-8 is refused naming its option. On the old code
/// clap's "invalid UTF-8 was detected in one or more arguments" named
/// none.
#[test]
fn a_path_that_is_not_utf8_names_its_option() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"/tmp/a\xff.jsonl");
    let mut joined = std::ffi::OsString::from("--record=");
    joined.push(bad);
    // A path option that takes any bytes (`--config`) before it is not
    // the one named.
    let mut config = std::ffi::OsString::from("/nonexistent/");
    config.push(bad);
    for args in [
        vec![std::ffi::OsString::from("--record"), bad.to_owned()],
        vec![joined],
        vec![
            std::ffi::OsString::from("--config"),
            config,
            std::ffi::OsString::from("--record"),
            bad.to_owned(),
        ],
    ] {
        let out = output(
            bin()
                .args(["--no-tui", "--listen", "127.0.0.1:0"])
                .args(&args)
                .stdin(std::process::Stdio::null()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("sinkwatch: --record: \"/tmp/a\u{fffd}.jsonl\" is not valid UTF-8"),
            "{err}"
        );
    }
}
