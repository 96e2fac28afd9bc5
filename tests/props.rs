//! Property tests over what the network and the disk can hand sinkwatch:
//! request validation, the JSON lines it writes and reads back, and the
//! config file. (The sanitizer, the filter parser and theme loading have
//! their own properties next to their code.)

use proptest::prelude::*;
use prost::Message as _;
use sinkwatch::config::{merge, parse_file};
use sinkwatch::hub::Hub;
use sinkwatch::model::{NewAlert, StoreLimits};
use sinkwatch::record::{read_alerts, write_alert};
use sinkwatch::sanitize;
use sinkwatch::sink::SinkLimits;
use sinkwatch::sink::service::RawAlertRequest;
use sinkwatch::sink::validate::validate;

/// Strings full of what a hostile sender would try: controls, escapes,
/// bidi and zero-width characters, variation selectors, astral characters.
fn hostile_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => any::<char>(),
        2 => prop::sample::select(vec![
            '\u{1b}', '\u{7}', '\u{0}', '\u{7f}', '\u{9b}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200b}',
            '\u{200d}', '\u{feff}', '\u{fe0f}', '\u{e0041}', '\u{2028}', '\r', '\n', '\t', '"', '\\', '[', ']',
            ';', '⚠', '🦀', 'é',
        ]),
        3 => proptest::char::range(' ', '~'),
    ];
    prop::collection::vec(ch, 0..48).prop_map(|v| v.into_iter().collect())
}

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        hostile_text().prop_map(String::into_bytes),
    ]
}

fn small_limits() -> SinkLimits {
    SinkLimits {
        max_name_bytes: 24,
        max_details_bytes: 40,
        ..SinkLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any decoded request is either accepted with exactly its bytes, or
    /// refused with a status naming a field; never a panic.
    #[test]
    fn validation_accepts_exactly_the_well_formed(
        owner in hostile_bytes(), repo in hostile_bytes(), policy in hostile_bytes(),
        details in hostile_bytes(), pass in any::<bool>(),
    ) {
        let limits = small_limits();
        let req = RawAlertRequest { owner_name: owner, repo_name: repo, policy_name: policy, details, pass };
        let field_ok = |b: &[u8], limit: usize, required: bool| {
            std::str::from_utf8(b).is_ok() && b.len() <= limit && (!required || !b.is_empty())
        };
        let well_formed = field_ok(&req.owner_name, limits.max_name_bytes, true)
            && field_ok(&req.repo_name, limits.max_name_bytes, true)
            && field_ok(&req.policy_name, limits.max_name_bytes, true)
            && field_ok(&req.details, limits.max_details_bytes, false);
        match validate(&req, &limits) {
            Ok(a) => {
                prop_assert!(well_formed);
                prop_assert_eq!(a.owner.as_bytes(), &req.owner_name[..]);
                prop_assert_eq!(a.repo.as_bytes(), &req.repo_name[..]);
                prop_assert_eq!(a.policy.as_bytes(), &req.policy_name[..]);
                prop_assert_eq!(a.details.as_bytes(), &req.details[..]);
                prop_assert_eq!(a.pass, pass);
            }
            Err((_, status)) => {
                prop_assert!(!well_formed);
                prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
                let m = status.message();
                prop_assert!(
                    ["owner_name ", "repo_name ", "policy_name ", "details "].iter().any(|f| m.starts_with(f)),
                    "{}", m
                );
                // The message itself is safe to show: it quotes no input.
                prop_assert!(sanitize::is_clean_line(m), "{:?}", m);
            }
        }
    }

    /// Arbitrary bytes as a request body never panic the decoder.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(req) = RawAlertRequest::decode(&body[..]) {
            let _ = validate(&req, &SinkLimits::default());
        }
    }

    /// Whatever the network sends ends up in a JSON line with no raw
    /// control, bidi or invisible character, and reads back unchanged.
    #[test]
    fn json_lines_are_terminal_safe_and_round_trip(
        owner in hostile_text(), repo in hostile_text(), policy in hostile_text(),
        details in hostile_text(), pass in any::<bool>(), identity in proptest::option::of(hostile_text()),
    ) {
        let hub = Hub::new(StoreLimits::default(), 4);
        let alert = NewAlert { owner, repo, policy, details, pass };
        let peer = Some("127.0.0.1:5".parse().unwrap());
        let r = hub.ingest_at(&alert, 1_700_000_000_000, peer, identity.as_deref()).unwrap();
        let mut out = Vec::new();
        write_alert(&mut out, &r).unwrap();
        prop_assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let line = std::str::from_utf8(&out).unwrap().trim_end_matches('\n');
        prop_assert!(!line.chars().any(|c| c.is_control()), "{:?}", line);
        prop_assert!(sanitize::is_clean_line(line), "{:?}", line);
        let back: Vec<_> = read_alerts(&out[..]).collect();
        prop_assert_eq!(back.len(), 1);
        let a = back[0].as_ref().unwrap();
        prop_assert_eq!(&a.owner, &alert.owner);
        prop_assert_eq!(&a.repo, &alert.repo);
        prop_assert_eq!(&a.policy, &alert.policy);
        prop_assert_eq!(&a.details, &alert.details);
        prop_assert_eq!(a.pass, pass);
        prop_assert_eq!(&a.peer_identity, &identity);
    }

    /// The reader never panics, and every error names a line that exists.
    #[test]
    fn read_alerts_never_panics_and_names_real_lines(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let lines = input.split(|b| *b == b'\n').count() as u64;
        for item in read_alerts(&input[..]) {
            if let Err(e) = item {
                prop_assert!(e.line >= 1 && e.line <= lines, "line {} of {}", e.line, lines);
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    /// JSON-ish garbage too (the arbitrary bytes above rarely look like JSON).
    #[test]
    fn read_alerts_never_panics_on_json_soup(
        input in "([{}\\[\\]\":,0-9a-z \\\\]|\"kind\"|\"alert\"|\"seq\"|\"at\"|true|null|\n){0,80}"
    ) {
        let lines = input.split('\n').count() as u64;
        for e in read_alerts(input.as_bytes()).filter_map(Result::err) {
            prop_assert!(e.line >= 1 && e.line <= lines);
        }
    }

    /// Valid lines interleaved with garbage are all recovered, in order,
    /// and each garbage line is at most one error.
    #[test]
    fn valid_lines_survive_interleaved_garbage(
        alerts in prop::collection::vec((hostile_text(), hostile_text(), any::<bool>()), 1..12),
        garbage in prop::collection::vec(
            prop::collection::vec(any::<u8>(), 0..60).prop_map(|mut v| { v.retain(|b| *b != b'\n'); v }),
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let hub = Hub::new(StoreLimits::default(), 4);
        let mut file = Vec::new();
        let mut written = Vec::new();
        let mut junk = garbage.into_iter();
        for (i, (repo, details, pass)) in alerts.iter().enumerate() {
            if let Some(g) = junk.next() {
                file.extend_from_slice(&g);
                file.push(b'\n');
            }
            let a = NewAlert {
                owner: format!("org{i}"),
                repo: repo.clone(),
                policy: "Branch Protection".into(),
                details: details.clone(),
                pass: *pass,
            };
            let r = hub.ingest_at(&a, 1_000 * i as u64, None, None).unwrap();
            let mut line = Vec::new();
            write_alert(&mut line, &r).unwrap();
            if crlf {
                line.pop();
                line.extend_from_slice(b"\r\n");
            }
            file.extend_from_slice(&line);
            written.push(r);
        }
        let mut garbage_lines = 0;
        for g in junk {
            file.extend_from_slice(&g);
            file.push(b'\n');
            garbage_lines += 1;
        }
        garbage_lines += alerts.len().min(12);
        let items: Vec<_> = read_alerts(&file[..]).collect();
        let ok: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
        prop_assert_eq!(ok.len(), written.len());
        for (got, want) in ok.iter().zip(&written) {
            prop_assert_eq!(got.seq, want.seq);
            prop_assert_eq!(got.repo.as_str(), &*want.repo);
            prop_assert_eq!(got.details.as_str(), &*want.details);
            prop_assert_eq!(got.pass, want.pass);
        }
        prop_assert!(items.len() - ok.len() <= garbage_lines);
    }

    /// Config text never panics the parser; every error starts with the
    /// file's name; whatever parses also merges without panicking.
    #[test]
    fn config_parse_never_panics_and_names_the_origin(text in any::<String>()) {
        check_config(&text)?;
    }

    #[test]
    fn config_like_text_never_panics_and_names_the_origin(
        entries in prop::collection::vec((config_key(), config_value()), 0..10),
        indent in prop::collection::vec(prop::sample::select(vec!["", "", "  ", "- ", "\t"]), 10),
    ) {
        let text: String = entries
            .iter()
            .zip(indent.iter().cycle())
            .map(|((k, v), ind)| format!("{ind}{k}: {v}\n"))
            .collect();
        check_config(&text)?;
    }
}

const ORIGIN: &str = "/etc/sinkwatch/conf ig.yaml";

fn check_config(text: &str) -> Result<(), TestCaseError> {
    match parse_file(text, ORIGIN) {
        Ok(file) => {
            let _ = merge(&sinkwatch::cli::RunArgs::default(), file, None);
        }
        Err(e) => {
            prop_assert!(e.0.starts_with(&format!("{ORIGIN}:")), "{}", e.0);
            prop_assert_eq!(e.0.lines().count(), 1, "one line: {:?}", e.0);
        }
    }
    Ok(())
}

fn config_key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "listen", "no-tui", "demo", "demo-rate", "forward", "forward-mode", "record", "theme",
            "history", "fps", "queue", "token-file", "tls-cert", "tls-key", "tls-client-ca",
            "max-message-bytes", "max-details-bytes", "max-name-bytes", "stats-interval",
            "max-connections", "idle-timeout", "rate-limit",
        ]).prop_map(str::to_owned),
        1 => "[a-z-]{1,12}",
    ]
}

fn config_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,22}(\\.[0-9]{0,3})?",
        "[0-9]{1,4}(ms|s|m|h|/s|/m|/x)?",
        prop::sample::select(vec![
            "true",
            "false",
            "null",
            "~",
            "[]",
            "{}",
            "[a, b]",
            "\"127.0.0.1:0\"",
            "[::1]:9",
            "localhost:1",
            "tee",
            "proxy",
            "1e999",
            "-0",
            ".nan",
            ".inf",
            "0x10",
            "'quoted'",
            "|\n  block",
            "&a",
            "*a",
            "!!binary x",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,16}",
    ]
}
