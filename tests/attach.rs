//! `sinkwatch attach`'s engine over loopback: a local hub fed by remote
//! sinks' Watch streams survives a restart of the sink (resume: no gap, no
//! duplicate) and merges replicas into one picture.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::binary::{Headless, send};
use sinkwatch::client::attach::{SourceState, SourceStatus, follow, follow_filtered};
use sinkwatch::grpc::Target;
use sinkwatch::hub::Hub;
use sinkwatch::model::StoreLimits;

/// Polls `cond` until it holds; a generous watchdog fails a hang.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn send_ok(url: &str, token: &str, repo: &str) {
    let out = send(
        url,
        &[
            "--token-file",
            token,
            "--owner",
            "org",
            "--repo",
            repo,
            "--policy",
            "p",
            "--fail",
        ],
    );
    assert!(out.status.success(), "{out:?}");
}

/// A sink that refuses the viewer (a wrong token: UNAUTHENTICATED; Watch
/// closed on an exposed sink: PERMISSION_DENIED) is not retried: `follow`
/// returns the reason and the source says `refused`.
#[tokio::test]
async fn a_refused_viewer_stops_following_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "right-token\n").unwrap();
    let sink = Headless::start(&["--token-file", token.to_str().unwrap()]);
    let closed = Headless::start_on("0.0.0.0:0", &[]);
    for (url, token, code) in [
        (sink.url(), Some("wrong-token"), "Unauthenticated"),
        (closed.url(), None, "PermissionDenied"),
    ] {
        let hub = Hub::new(StoreLimits::default(), 16);
        let status = SourceStatus::new(url.clone());
        let mut target = Target::plain(url.clone());
        target.token = token.map(str::to_owned);
        let why =
            tokio::time::timeout(Duration::from_secs(60), follow(target, hub, status.clone()))
                .await
                .expect("follow gives up on a refusal")
                .expect("the reason");
        assert!(why.starts_with(code), "{why}");
        assert_eq!(status.state(), SourceState::Refused(why.clone()));
        assert_eq!(status.reconnects.load(Ordering::Relaxed), 0);
    }
}

/// `attach` whose every source refuses it: one line per source naming the
/// URL and the reason, and exit 1 (it used to retry forever).
#[test]
fn attach_exits_1_when_every_source_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "right-token\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "wrong-token\n").unwrap();
    let sink = Headless::start(&["--token-file", token.to_str().unwrap()]);
    let out = common::binary::output(common::binary::bin().args([
        "attach",
        "--no-tui",
        "--token-file",
        wrong.to_str().unwrap(),
        &sink.url(),
    ]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("refused this viewer"))
        .collect();
    assert_eq!(refusals.len(), 1, "{stderr}");
    assert!(refusals[0].contains(&sink.url()), "{stderr}");
    assert!(refusals[0].contains("Unauthenticated"), "{stderr}");
}

/// A viewer's hub following `sink`, once its snapshot of `n` alerts is in.
async fn follow_snapshot(
    sink: &Headless,
    n: u64,
) -> (
    Arc<Hub>,
    Arc<SourceStatus>,
    tokio::task::JoinHandle<Option<String>>,
) {
    let hub = Hub::new(StoreLimits::default(), 16);
    let status = SourceStatus::new(sink.url());
    let follower = tokio::spawn(follow(
        Target::plain(sink.url()),
        hub.clone(),
        status.clone(),
    ));
    until("the snapshot is in", || {
        status.state() == SourceState::Live && status.received.load(Ordering::Relaxed) == n
    })
    .await;
    (hub, status, follower)
}

/// A snapshot moves the source's `last_seq` (the sources line showed 0
/// with 1 alert received from a snapshot).
#[tokio::test]
async fn a_snapshot_moves_the_sources_last_seq() {
    let sink = Headless::start(&[]);
    for repo in ["a", "b"] {
        let out = send(
            &sink.url(),
            &["--owner", "org", "--repo", repo, "--policy", "p", "--fail"],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let (hub, status, follower) = follow_snapshot(&sink, 2).await;
    // Seqs start at 1: the sink's second alert.
    assert_eq!(status.last_seq.load(Ordering::Relaxed), 2);
    assert_eq!(status.to_json()["last_seq"], 2);
    hub.close();
    follower.abort();
}

/// A snapshot starts with each key's oldest alert it carries, often not
/// the key's first: the viewer shows the change the sink gave it (a review
/// counted 9,000 of 10,002 snapshot alerts shown `first`, and a viewer
/// attached late showed 251 transitions where the sink held 1,375).
#[tokio::test]
async fn a_snapshot_keeps_the_changes_the_sink_gave_its_alerts() {
    use sinkwatch::model::Change;
    // A history of 2: the keys' earlier alerts are gone from the sink's
    // history when the viewer attaches; their latest are in the snapshot.
    let sink = Headless::start(&["--history", "2"]);
    for (repo, status) in [
        ("regressed", "--pass"),
        ("regressed", "--fail"),
        ("fixed", "--fail"),
        ("fixed", "--pass"),
        ("same", "--fail"),
        ("same", "--fail"),
        ("new-a", "--pass"),
        ("new-b", "--fail"),
    ] {
        let args = ["--owner", "org", "--repo", repo, "--policy", "p", status];
        let out = send(&sink.url(), &args);
        assert!(out.status.success(), "{out:?}");
    }
    let (hub, _status, follower) = follow_snapshot(&sink, 5).await;
    hub.read(|s| {
        let change = |repo: &str| s.key(s.key_id("org", repo, "p").unwrap()).change;
        assert_eq!(change("regressed"), Change::Regressed);
        assert_eq!(change("fixed"), Change::Fixed);
        assert_eq!(change("same"), Change::Same);
        assert_eq!(change("new-a"), Change::First);
        assert_eq!(change("new-b"), Change::First);
        // Counted as transitions, as at the sink; the tallies are this
        // viewer's own (three keys failing).
        assert_eq!((s.total_regressions(), s.total_fixes()), (1, 1));
        assert_eq!(s.transitions().len(), 2);
        assert_eq!(s.failing_keys(), 3);
    });
    hub.close();
    follower.abort();
}

/// The same sink given twice would show every alert of it twice (the
/// second time as `same`): a usage error naming it.
#[test]
fn the_same_sink_given_twice_is_a_usage_error() {
    let out = common::binary::output(common::binary::bin().args([
        "attach",
        "--no-tui",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/",
    ]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("http://127.0.0.1:9/ is given twice"),
        "{stderr}"
    );
}

/// The remote sink's forwarding reaches the viewer (a `Forwarding` event
/// about once a second): its upstream, state and counters, as the
/// forwarding panel draws them.
#[tokio::test]
async fn the_remote_sinks_forwarding_is_shown_to_the_viewer() {
    let upstream = Headless::start(&[]);
    let sink = Headless::start(&["--forward", &upstream.url()]);
    let hub = Hub::new(StoreLimits::default(), 16);
    let status = SourceStatus::new(sink.url());
    let forward = sinkwatch::forward::ForwardStats::remote(1);
    status.report_forwarding(forward.clone(), 0);
    tokio::spawn(follow(
        Target::plain(sink.url()),
        hub.clone(),
        status.clone(),
    ));
    until("live", || status.state() == SourceState::Live).await;
    let out = send(
        &sink.url(),
        &["--owner", "org", "--repo", "a", "--policy", "p", "--fail"],
    );
    assert!(out.status.success(), "{out:?}");
    until("the delivery reported", || {
        forward.snapshot().first().is_some_and(|u| u.delivered == 1)
    })
    .await;
    let snaps = forward.snapshot();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].url, upstream.url());
    assert_eq!(snaps[0].state.as_str(), "up");
    assert!(snaps[0].balances(), "{:?}", snaps[0]);
    assert_eq!(forward.mode(), sinkwatch::forward::ForwardMode::Tee);

    // The sink goes away, and comes back without --forward: what it
    // reported is gone with it, not shown forever (a review).
    let addr = sink.addr.clone();
    sink.terminate();
    until("down", || {
        matches!(status.state(), SourceState::Down { .. })
    })
    .await;
    assert!(forward.snapshot().is_empty(), "{:?}", forward.snapshot());
    let again = Headless::start_on(&addr, &[]);
    until("live again", || status.state() == SourceState::Live).await;
    assert!(forward.snapshot().is_empty(), "{:?}", forward.snapshot());
    again.terminate();
}

/// The local hub's history as repo names, oldest first.
fn repos(hub: &Hub) -> Vec<String> {
    hub.read(|s| {
        s.history()
            .iter()
            .map(|e| s.key_names(e.key).1.to_string())
            .collect()
    })
}

/// A viewer (through `filter`) of a sink with durable state, across a
/// restart of the sink: `snapshot` is sent before it attaches, `live`
/// after, `resumed` once the sink is back; a repo named `keep-…` matches
/// the filter. Returns what the viewer holds once the last alert is in
/// (it must match), and the source's status.
async fn across_a_restart(
    filter: &str,
    snapshot: &[&str],
    live: &[&str],
    resumed: &[&str],
) -> (Vec<String>, Arc<SourceStatus>) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "attach-token\n").unwrap();
    let token = token.to_str().unwrap().to_owned();
    let state = dir.path().join("state.db");
    let args = ["--token-file", &token, "--state", state.to_str().unwrap()];
    let sink = Headless::start(&args);
    let addr = sink.addr.clone();
    let url = sink.url();
    let shown = |repos: &[&str]| {
        repos
            .iter()
            .filter(|r| filter.is_empty() || r.starts_with("keep-"))
            .count() as u64
    };
    for repo in snapshot {
        send_ok(&url, &token, repo);
    }

    let hub = Hub::new(StoreLimits::default(), 1024);
    let status = SourceStatus::new(url.clone());
    let mut target = Target::plain(url.clone());
    target.token = Some("attach-token".into());
    tokio::spawn({
        let (hub, status, filter) = (hub.clone(), status.clone(), filter.to_owned());
        async move { follow_filtered(target, &filter, hub, status).await }
    });
    let mut want = shown(snapshot);
    until("the snapshot", || {
        status.state() == SourceState::Live && hub.read(|s| s.accepted()) == want
    })
    .await;
    for repo in live {
        send_ok(&url, &token, repo);
    }
    want += shown(live);
    until("the live alerts", || hub.read(|s| s.accepted()) == want).await;

    let exit = sink.terminate();
    assert!(exit.status.success(), "{}", exit.stderr);
    until("down", || {
        matches!(status.state(), SourceState::Down { .. })
    })
    .await;
    // And a second attempt failed too (its back-off is drawn afresh): a
    // reconnect is counted once the sink is back, not per attempt.
    let SourceState::Down {
        retry_in: first, ..
    } = status.state()
    else {
        unreachable!("down until the sink is back")
    };
    until(
        "a second attempt failed",
        || matches!(status.state(), SourceState::Down { retry_in, .. } if retry_in != first),
    )
    .await;
    let sink = Headless::start_on(&addr, &args);
    for repo in resumed {
        send_ok(&url, &token, repo);
    }
    // The last one matches: everything before it has arrived (or was
    // duplicated) once it is in.
    want += shown(resumed);
    until("the last alert", || hub.read(|s| s.accepted()) >= want).await;
    drop(sink);
    (repos(&hub), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_resumes_after_the_sink_restarts_without_gap_or_duplicate() {
    let (repos, status) = across_a_restart("", &[], &["a", "b"], &["c", "d", "e"]).await;
    assert_eq!(repos, ["a", "b", "c", "d", "e"]);
    assert_eq!(
        status.resets.load(Ordering::Relaxed),
        0,
        "{}",
        status.line()
    );
    // One loss, one reconnect, whatever the attempts between (on the old
    // code each failed attempt counted).
    assert_eq!(
        status.reconnects.load(Ordering::Relaxed),
        1,
        "{}",
        status.line()
    );
}

/// `follow_filtered`: only the matching alerts, from the snapshot, live
/// and after a restart of the sink (its replay filtered too), with no gap
/// or duplicate; the resume point is the last matching alert, older than
/// the sink's last seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_viewer_takes_only_matching_alerts_across_a_restart() {
    let (repos, status) = across_a_restart(
        "repo:keep-*",
        &["keep-a", "drop-b"],
        &["drop-c", "keep-d"],
        &["drop-e", "keep-f", "keep-g"],
    )
    .await;
    assert_eq!(repos, ["keep-a", "keep-d", "keep-f", "keep-g"]);
    assert_eq!(
        status.resets.load(Ordering::Relaxed),
        0,
        "{}",
        status.line()
    );
}

/// A refused filter is final, like refused credentials: retrying the same
/// request cannot help. On the old code `follow` retried it for ever.
#[tokio::test]
async fn a_source_that_refuses_the_filter_is_not_retried() {
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let url = serve_scripted({
        let asked = asked.clone();
        move |_| {
            asked.fetch_add(1, Ordering::Relaxed);
            Err(tonic::Status::invalid_argument("filter: too many terms"))
        }
    })
    .await;
    let hub = Hub::new(StoreLimits::default(), 16);
    let status = SourceStatus::new(url.clone());
    let why = tokio::time::timeout(
        Duration::from_secs(60),
        follow_filtered(Target::plain(url), "org:a", hub, status.clone()),
    )
    .await
    .expect("follow gives up on a refused request")
    .expect("the reason");
    assert_eq!(why, "InvalidArgument: filter: too many terms");
    assert_eq!(status.state(), SourceState::Refused(why.clone()));
    assert_eq!(status.reconnects.load(Ordering::Relaxed), 0);
    assert_eq!(asked.load(Ordering::Relaxed), 1);
}

/// `attach --no-tui --filter`: only matching alerts are printed, from the
/// snapshot and live, and the `sources` line names the filter; a filter
/// that does not parse, or is over the bounds every sink applies, is a
/// usage error naming `--filter` (exit 2), before any connection.
#[test]
fn attach_no_tui_filter_prints_only_matching_alerts() {
    use std::process::Stdio;
    let sink = Headless::start(&[]);
    let url = sink.url();
    send_ok_open(&url, "keep-1");
    send_ok_open(&url, "drop-1");
    let (mut viewer, rx) = spawn_viewer(
        // A negated term first: taken as the option's value, not an option.
        &["attach", "--no-tui", "--filter", "-repo:drop-*", &url],
        Stdio::null(),
    );
    let next = || next_json(&rx);
    assert_eq!(next()["repo"], "keep-1");
    send_ok_open(&url, "drop-2");
    send_ok_open(&url, "keep-2");
    assert_eq!(next()["repo"], "keep-2");
    viewer.term();
    let sources = next();
    assert_eq!(sources["kind"], "sources", "{sources}");
    assert_eq!(sources["filter"], "-repo:drop-*", "{sources}");
    assert_eq!(sources["sources"][0]["received"], 2, "{sources}");
    assert!(viewer.0.wait().unwrap().success());

    let nine = (0..9)
        .map(|i| format!("repo:/^x{i}/"))
        .collect::<Vec<_>>()
        .join(" or ");
    for (filter, says) in [("status:maybe", "status"), (nine.as_str(), "regex")] {
        let out = common::binary::output(
            common::binary::bin().args(["attach", "--no-tui", "--filter", filter, &url]),
        );
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--filter"), "{stderr}");
        assert!(stderr.to_lowercase().contains(says), "{stderr}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

/// `attach --no-tui` says on stderr why a source is down, naming its URL
/// once (a review saw `source URL: down: URL: connection refused`), with
/// the retry; then a SIGTERM ends it with the `sources` line, which keeps
/// the reason as `last_error`.
#[test]
fn attach_says_once_why_a_source_is_down() {
    use std::io::{BufRead, BufReader};
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (mut viewer, rx) =
        spawn_viewer(&["attach", "--no-tui", &url], std::process::Stdio::piped());
    // Read to the end on a thread: a viewer whose stderr closed would
    // fail its next line.
    let stderr = viewer.0.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let down = lines
        .iter()
        .find(|l| l.contains(": down: "))
        .expect("a down line");
    assert!(
        down.starts_with(&format!(
            "sinkwatch: source {url}: down: connection refused"
        )),
        "{down}"
    );
    assert_eq!(down.matches(&url).count(), 1, "{down}");
    assert!(down.contains("(retry in "), "{down}");
    viewer.term();
    let sources = next_json(&rx);
    assert_eq!(sources["kind"], "sources", "{sources}");
    let last_error = sources["sources"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(last_error.starts_with("connection refused"), "{sources}");
    assert!(viewer.0.wait().unwrap().success());
}

/// `attach` takes its own bounds (`--history`, `--memory-budget`,
/// `--queue`; before, only a config file set them), range-checked as the
/// sink's: out of range is a usage error naming the option (exit 2).
#[test]
fn attach_takes_its_own_bounds() {
    use std::process::Stdio;
    let sink = Headless::start(&[]);
    let url = sink.url();
    send_ok_open(&url, "bounded-1");
    let (mut viewer, rx) = spawn_viewer(
        &[
            "attach",
            "--no-tui",
            "--history",
            "16",
            "--memory-budget",
            "32MiB",
            "--queue",
            "64",
            &url,
        ],
        Stdio::null(),
    );
    assert_eq!(next_json(&rx)["repo"], "bounded-1");
    send_ok_open(&url, "bounded-2");
    assert_eq!(next_json(&rx)["repo"], "bounded-2");
    viewer.term();
    assert_eq!(next_json(&rx)["kind"], "sources");
    assert!(viewer.0.wait().unwrap().success());

    for (option, value) in [
        ("--history", "0"),
        ("--memory-budget", "1KiB"),
        ("--queue", "0"),
        ("--queue", "lots"),
    ] {
        let out = common::binary::output(
            common::binary::bin().args(["attach", "--no-tui", option, value, &url]),
        );
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(option), "{stderr}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_merged_into_one_picture() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "attach-token\n").unwrap();
    let token = token.to_str().unwrap().to_owned();
    let a = Headless::start(&["--token-file", &token]);
    let b = Headless::start(&["--token-file", &token]);
    let hub = Hub::new(StoreLimits::default(), 1024);
    let mut statuses = Vec::new();
    for url in [a.url(), b.url()] {
        let status = SourceStatus::new(url.clone());
        let mut target = Target::plain(url);
        target.token = Some("attach-token".into());
        tokio::spawn(follow(target, hub.clone(), status.clone()));
        statuses.push(status);
    }
    let statuses: Vec<Arc<SourceStatus>> = statuses;
    until("both live", || {
        statuses.iter().all(|s| s.state() == SourceState::Live)
    })
    .await;
    send_ok(&a.url(), &token, "from-a");
    send_ok(&b.url(), &token, "from-b");
    send_ok(&a.url(), &token, "from-a-2");
    until("three alerts", || hub.read(|s| s.accepted()) == 3).await;
    let mut seen = repos(&hub);
    seen.sort();
    assert_eq!(seen, ["from-a", "from-a-2", "from-b"]);
    let line = sinkwatch::client::attach::status_line(&statuses);
    assert!(line.contains(&a.url()) && line.contains(&b.url()), "{line}");
}

/// A failing test leaves no viewer behind.
struct Kill(std::process::Child);

impl Kill {
    /// SIGTERM.
    fn term(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

/// The next line of a viewer's stdout, as JSON.
fn next_json(lines: &std::sync::mpsc::Receiver<String>) -> serde_json::Value {
    let line = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a line within the watchdog");
    serde_json::from_str(&line).unwrap()
}

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The viewer's stderr, line by line, read on a thread of its own.
fn stderr_lines(viewer: &mut Kill) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let (tx, said) = std::sync::mpsc::channel();
    let stderr = viewer.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    said
}

/// Returns once a viewer's stderr said its source is live.
fn wait_live(said: &std::sync::mpsc::Receiver<String>) {
    while !said
        .recv_timeout(Duration::from_secs(60))
        .expect("the source live within the watchdog")
        .ends_with(": live")
    {}
}

/// Sends `sig` (`-STOP`, `-TERM`, …) to the process `pid`.
fn kill(sig: &str, pid: u32) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The next `n` lines of a viewer's stdout are its source's alerts 1 to
/// `n`, in order, with no other line (a `lost` one) among them.
fn expect_alerts_in_order(lines: &std::sync::mpsc::Receiver<String>, n: u64) {
    for want in 1..=n {
        let l = next_json(lines);
        assert_eq!(l["kind"].as_str(), Some("alert"), "{l}");
        assert_eq!(l["source_seq"].as_u64(), Some(want), "{l}");
    }
}

/// Watch served to any viewer (as on loopback), counted in `stats`.
fn open_watch(
    stats: Arc<sinkwatch::sink::watch::WatchStats>,
) -> Option<sinkwatch::sink::WatchConfig> {
    Some(sinkwatch::sink::WatchConfig {
        access: sinkwatch::sink::watch::Access::Open,
        stats,
        forwarding: None,
    })
}

/// The binary run with `args`, and its stdout's lines as they come.
fn spawn_viewer(
    args: &[&str],
    stderr: std::process::Stdio,
) -> (Kill, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Kill(
        common::binary::bin()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// `attach --no-tui URL | head -1`: once the reader of stdout has gone,
/// the next alert ends the viewer, with status 0 and no panic. On the old
/// code it ran until killed, and then panicked printing its last line.
#[test]
fn attach_no_tui_ends_when_its_reader_goes() {
    use std::io::{BufRead, BufReader};
    let sink = Headless::start(&[]);
    let url = sink.url();
    let mut child = common::binary::bin()
        .args(["attach", "--no-tui", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = common::binary::watchdog(child.id());
    let said = {
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.ends_with(": live") {
                    let _ = tx.send(None);
                }
                all.push_str(&line);
                all.push('\n');
            }
            let _ = tx.send(Some(all));
        });
        rx
    };
    assert_eq!(said.recv().unwrap(), None, "the source went live");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    assert!(
        common::binary::send(
            &url,
            &["--owner", "o", "--repo", "r1", "--policy", "p", "--pass"]
        )
        .status
        .success()
    );
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"r1\""), "{first}");
    drop(out); // `head -1` has its line and exits.
    // Alerts until the viewer notices: its next write fails.
    let mut n = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        n += 1;
        assert!(
            common::binary::send(
                &url,
                &[
                    "--owner",
                    "o",
                    "--repo",
                    &format!("r{n}"),
                    "--policy",
                    "p",
                    "--pass"
                ]
            )
            .status
            .success()
        );
    };
    let _ = done.send(());
    let stderr = loop {
        if let Some(all) = said.recv().unwrap() {
            break all;
        }
    };
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Said, as the sink says it (a user's review: nothing was).
    assert!(
        stderr.contains("sinkwatch: stdout was closed; alerts not written to it: "),
        "{stderr}"
    );
}

/// A Reset is said on `attach --no-tui`'s stderr, with its reason: the
/// JSON lines cannot show that the picture was rebuilt (it was only in the
/// log file). Here the sink restarts without state: a new epoch.
#[test]
fn attach_no_tui_says_a_reset_on_stderr() {
    let sink = Headless::start(&[]);
    let (addr, url) = (sink.addr.clone(), sink.url());
    let (mut viewer, lines) =
        spawn_viewer(&["attach", "--no-tui", &url], std::process::Stdio::piped());
    let said = stderr_lines(&mut viewer);
    let wait_for = |rx: &std::sync::mpsc::Receiver<String>, what: &str| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("never: {what}"));
        if line.contains(what) {
            return line;
        }
    };
    wait_for(&said, ": live");
    send_ok_open(&url, "a");
    wait_for(&lines, "\"repo\":\"a\"");
    assert!(sink.terminate().status.success());
    let _again = Headless::start_on(&addr, &[]);
    let reset = wait_for(&said, "reset:");
    assert!(
        reset.contains(&url) && reset.contains("restarted"),
        "{reset}"
    );
}

/// A sink restarted without its state serves another history: the viewer
/// keeps what it held (keys only the old one had stay shown) and its
/// source's line says so (a review took the kept keys, 257 failing against
/// the new sink's 1, for the sink's own). Fails on old: nothing said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_restarted_without_its_state_is_said_and_what_was_held_kept() {
    let sink = Headless::start(&[]);
    let (addr, url) = (sink.addr.clone(), sink.url());
    send_ok_open(&url, "old");
    let hub = Hub::new(StoreLimits::default(), 1024);
    let status = SourceStatus::new(url.clone());
    tokio::spawn(follow(
        Target::plain(url.clone()),
        hub.clone(),
        status.clone(),
    ));
    until("the snapshot", || {
        status.state() == SourceState::Live && hub.read(|s| s.accepted()) == 1
    })
    .await;
    assert!(sink.terminate().status.success());
    let _again = Headless::start_on(&addr, &[]);
    send_ok_open(&url, "new");
    until("the new sink's alert", || hub.read(|s| s.accepted()) == 2).await;
    assert_eq!(repos(&hub), ["old", "new"]);
    assert_eq!(status.restarts.load(Ordering::Relaxed), 1);
    let line = status.line();
    assert!(
        line.contains("restarted with a new history: keys held before are still shown"),
        "{line}"
    );
    let short = sinkwatch::client::attach::status_short(std::slice::from_ref(&status));
    assert!(
        short.contains("a sink restarted: older keys shown"),
        "{short}"
    );
}

/// `attach --no-tui` into a stdout nobody reads: the first SIGTERM waits
/// to print what was received (and says so), a second one stops it at
/// once, saying what was not printed. On the old code the first signal
/// waited for ever on the writer (the review's slow reader: tens of
/// seconds), and a second was ignored.
#[test]
fn a_second_signal_stops_attach_without_draining_its_stdout() {
    let sink = Headless::start(&[]);
    let url = sink.url();
    // A snapshot of ~1.5 MB of lines: more than a pipe holds. The viewer
    // gives it to its printer only as fast as it prints, so with nobody
    // reading it stays at `snapshot`.
    common::binary::load(&url, 5000);
    common::binary::second_signal_stops_with_stdout_unread(
        common::binary::bin().args(["attach", "--no-tui", &url]),
        ": snapshot",
        |_| {},
    );
}

fn send_ok_open(url: &str, repo: &str) {
    let out = send(
        url,
        &["--owner", "org", "--repo", repo, "--policy", "p", "--fail"],
    );
    assert!(out.status.success(), "{out:?}");
}

/// The binary, headless: `attach --no-tui` prints the alerts it receives
/// as JSON lines and, on SIGTERM, a `sources` line with each source's state.
#[test]
fn attach_no_tui_prints_what_it_receives_and_its_sources() {
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "attach-token\n").unwrap();
    let token = token.to_str().unwrap().to_owned();
    let sink = Headless::start(&["--token-file", &token]);
    send_ok(&sink.url(), &token, "before");
    let (mut viewer, rx) = spawn_viewer(
        &["attach", "--no-tui", "--token-file", &token, &sink.url()],
        Stdio::piped(),
    );
    let next = || next_json(&rx);
    // The snapshot's alert, then a live one.
    assert_eq!(next()["repo"], "before");
    send_ok(&sink.url(), &token, "live");
    assert_eq!(next()["repo"], "live");
    viewer.term();
    let sources = next();
    assert_eq!(sources["kind"], "sources", "{sources}");
    assert_eq!(sources["sources"][0]["received"], 2, "{sources}");
    assert_eq!(sources["sources"][0]["state"], "live", "{sources}");
    assert!(viewer.0.wait().unwrap().success());
}

/// One sink given twice (here by two names): its second stream is the same
/// history (epoch), so it is followed once and the other is told why on
/// stderr. On the old code every alert was printed and counted twice.
#[test]
fn a_sink_given_twice_is_followed_once() {
    use std::process::Stdio;

    let sink = Headless::start(&[]);
    let url = sink.url();
    let bare = url.trim_start_matches("http://").to_owned();
    let (mut viewer, rx) = spawn_viewer(&["attach", "--no-tui", &url, &bare], Stdio::piped());
    let said = stderr_lines(&mut viewer);
    // Both subscribe; the second snapshot's epoch is already taken.
    let (mut live, mut twice) = (false, None);
    while !(live && twice.is_some()) {
        let line = said
            .recv_timeout(Duration::from_secs(60))
            .expect("a line within the watchdog");
        live |= line.ends_with(": live");
        if line.contains("given twice") {
            twice = Some(line);
        }
    }
    let twice = twice.unwrap();
    assert!(twice.contains("the same sink as"), "{twice}");
    assert!(!twice.contains("refused this viewer"), "{twice}");
    for r in ["a", "b", "c"] {
        common::binary::send(
            &url,
            &["--owner", "o", "--repo", r, "--policy", "p", "--pass"],
        );
    }
    let next = || next_json(&rx);
    for r in ["a", "b", "c"] {
        assert_eq!(next()["repo"], r);
    }
    viewer.term();
    let sources = next();
    assert_eq!(sources["kind"], "sources", "{sources}");
    let received: Vec<u64> = (0..2)
        .map(|i| sources["sources"][i]["received"].as_u64().unwrap())
        .collect();
    assert_eq!(received.iter().sum::<u64>(), 3, "{sources}");
    assert!(received.contains(&0), "{sources}");
    assert!(viewer.0.wait().unwrap().success());
}

/// A Watch source that is not a sinkwatch sink: it answers each
/// subscription with the events its script makes (given the subscription's
/// number, from 1), then stays quiet; or with the script's error.
struct Scripted<F>(F, std::sync::atomic::AtomicU64);

type Events = Vec<sinkwatch::proto::watch::watch_event::Event>;
type Scripts = Result<Events, tonic::Status>;

#[tonic::async_trait]
impl<F: Fn(u64) -> Scripts + Send + Sync + 'static> sinkwatch::proto::wire::watch_server::Watch
    for Scripted<F>
{
    type SubscribeStream = std::pin::Pin<
        Box<
            dyn futures_util::Stream<Item = Result<sinkwatch::proto::wire::Wire, tonic::Status>>
                + Send,
        >,
    >;

    async fn subscribe(
        &self,
        _: tonic::Request<sinkwatch::proto::watch::SubscribeRequest>,
    ) -> Result<tonic::Response<Self::SubscribeStream>, tonic::Status> {
        use futures_util::StreamExt;
        let n = self.1.fetch_add(1, Ordering::Relaxed) + 1;
        let events = (self.0)(n)?.into_iter().map(|e| {
            Ok(sinkwatch::proto::wire::Wire::Event(
                sinkwatch::proto::watch::WatchEvent { event: Some(e) },
            ))
        });
        let stream = futures_util::stream::iter(events).chain(futures_util::stream::pending());
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

/// Serves a scripted source on loopback (within the current runtime):
/// its URL.
async fn serve_scripted(script: impl Fn(u64) -> Scripts + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(sinkwatch::proto::wire::watch_server::WatchServer::new(
                Scripted(script, Default::default()),
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    url
}

/// An empty snapshot, then one batch whose alert says it was received past
/// year 9999.
fn far_future(_: u64) -> Events {
    use sinkwatch::proto::watch::watch_event::Event;
    use sinkwatch::proto::watch::*;
    let alert = Alert {
        seq: 1,
        received_ms: u64::MAX,
        owner: "ossf".into(),
        repo: "far-future".into(),
        policy: "Security Policy".into(),
        details: "from the year 584942417".into(),
        ..Default::default()
    };
    vec![
        Event::SnapshotBegin(SnapshotBegin {
            keys: 0,
            history: 0,
            next_seq: 1,
            ..Default::default()
        }),
        Event::SnapshotEnd(SnapshotEnd {}),
        Event::Batch(Batch {
            alerts: vec![alert],
        }),
    ]
}

/// A Reset, a snapshot of one alert not sent before, and a gap: each
/// stream brings an alert, none of them live.
fn resets_every_resume(n: u64) -> Events {
    use sinkwatch::proto::watch::watch_event::Event;
    use sinkwatch::proto::watch::*;
    let alert = Alert {
        seq: n,
        received_ms: 1_700_000_000_000 + n,
        owner: "ossf".into(),
        repo: format!("repo-{n}"),
        policy: "Security Policy".into(),
        ..Default::default()
    };
    vec![
        Event::Reset(Reset {
            reason: "the resume point is too old".into(),
        }),
        Event::SnapshotBegin(SnapshotBegin {
            keys: 1,
            history: 0,
            next_seq: n + 1,
            ..Default::default()
        }),
        Event::Latest(alert),
        Event::SnapshotEnd(SnapshotEnd {}),
        Event::Missed(Missed {
            count: 1,
            after_seq: n,
        }),
    ]
}

/// A source whose every stream ends after its opening (here: a Reset, a
/// one-alert snapshot, then a gap) makes no progress, and the viewer backs
/// off before each resubscription. (When a snapshot's alert counted as
/// progress, the viewer resubscribed at once, ~130 times a second, and
/// counted no reconnect.)
#[tokio::test]
async fn a_source_that_resets_every_resume_is_resubscribed_with_back_off() {
    let (tx, mut subscribed) = tokio::sync::mpsc::unbounded_channel();
    let url = serve_scripted(move |n| {
        let _ = tx.send(n);
        Ok(resets_every_resume(n))
    })
    .await;
    let hub = Hub::new(StoreLimits::default(), 16);
    let status = SourceStatus::new(url.clone());
    let follower = tokio::spawn(follow(Target::plain(url), hub.clone(), status.clone()));
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(60), subscribed.recv())
            .await
            .expect("a subscription within the watchdog")
            .unwrap();
    }
    // Each stream opened after the first is a reconnect: the fifth
    // subscription came after the fourth stream had opened and ended.
    let reconnects = status.reconnects.load(Ordering::Relaxed);
    assert!(
        reconnects >= 3,
        "{reconnects} reconnects over 5 subscriptions"
    );
    assert!(status.resets.load(Ordering::Relaxed) >= 3);
    hub.close();
    follower.abort();
}

/// The receive time comes from the source: one past what RFC 3339 can
/// write made the viewer's printer panic (and print nothing more).
#[test]
fn a_receive_time_past_year_9999_is_printed_not_a_panic() {
    use std::process::Stdio;

    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(serve_scripted(|n| Ok(far_future(n))));
    let (mut viewer, rx) = spawn_viewer(&["attach", "--no-tui", &url], Stdio::null());
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the alert's line within the watchdog");
    let alert: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(alert["repo"], "far-future", "{alert}");
    assert_eq!(alert["at"], "9999-12-31T23:59:59.999Z", "{alert}");
    viewer.term();
    let sources: serde_json::Value = serde_json::from_str(
        &rx.recv_timeout(Duration::from_secs(60))
            .expect("the sources line"),
    )
    .unwrap();
    assert_eq!(sources["sources"][0]["received"], 1, "{sources}");
    assert!(viewer.0.wait().unwrap().success());
}

/// Two replicas, each given part of the calls, as the tester's: key `y`
/// passes on B then fails on A; key `z` passes on A then fails on B. Both
/// keys' newest alert is a failure, and each replica holds one key's
/// older pass. Returns (A, B).
fn replicas_with_crossed_keys() -> (Headless, Headless) {
    let a = Headless::start(&[]);
    let b = Headless::start(&[]);
    for (sink, repo, pass) in [
        (&b, "y", true),
        (&a, "y", false),
        (&a, "z", true),
        (&b, "z", false),
    ] {
        let status = if pass { "--pass" } else { "--fail" };
        let args = ["--owner", "shared", "--repo", repo, "--policy", "p", status];
        let out = send(&sink.url(), &args);
        assert!(out.status.success(), "{out:?}");
    }
    (a, b)
}

/// Replicas' snapshots arrive one after the other, so a key's older alert
/// can reach the viewer after its newer one from the other replica. The
/// merged picture is by receive time whatever the order: both keys fail,
/// no `fixed` transition, and the older pass is kept in the history,
/// marked late. (The merge by arrival ended `y` — first order — or `z` —
/// second — on its older pass, with a fake fix.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_merge_by_receive_time_whatever_order_their_snapshots_arrive_in() {
    let (a, b) = replicas_with_crossed_keys();
    for (first, second, late_repo) in [(&a, &b, "y"), (&b, &a, "z")] {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let one = SourceStatus::new(first.url());
        tokio::spawn(follow(Target::plain(first.url()), hub.clone(), one.clone()));
        until("the first snapshot", || {
            one.state() == SourceState::Live && hub.read(|s| s.accepted()) == 2
        })
        .await;
        let two = SourceStatus::new(second.url());
        tokio::spawn(follow(
            Target::plain(second.url()),
            hub.clone(),
            two.clone(),
        ));
        until("both snapshots", || hub.read(|s| s.accepted()) == 4).await;
        hub.read(|s| {
            let order = format!("{} then {}", first.url(), second.url());
            // The precondition: the four receive times in the order sent.
            let at = |repo: &str, pass: bool| {
                s.history()
                    .iter()
                    .find(|e| &**s.key_names(e.key).1 == repo && e.pass == pass)
                    .map(|e| e.at_ms)
                    .expect("the alert")
            };
            let times = [at("y", true), at("y", false), at("z", true), at("z", false)];
            assert!(times.is_sorted_by(|x, y| x < y), "{times:?}");
            for repo in ["y", "z"] {
                let k = s.key_id("shared", repo, "p").unwrap();
                let key = s.key(k);
                assert!(!key.pass, "{order}: {repo} ends on its newer fail");
                assert_eq!(key.last_seen_ms, at(repo, false), "{order}: {repo}");
                assert_eq!(key.fixes, 0, "{order}: {repo}");
            }
            assert_eq!(s.failing_keys(), 2, "{order}");
            assert_eq!(s.total_fixes(), 0, "{order}");
            let late: Vec<(String, bool)> = s
                .history()
                .iter()
                .filter(|e| e.late)
                .map(|e| (s.key_names(e.key).1.to_string(), e.pass))
                .collect();
            assert_eq!(late, [(late_repo.to_owned(), true)], "{order}");
        });
        hub.close();
    }
}

/// The binary, as the tester ran it: `attach --no-tui A B` and `B A`.
/// Whatever order the two snapshots arrive in, no line says `fixed`, an
/// older alert that arrives after its key's newer one is printed `late`
/// (change `same`), and each key's last unmarked line is its newer fail.
#[test]
fn attach_no_tui_prints_an_older_alert_as_late_not_as_a_fix() {
    use std::process::Stdio;

    let (a, b) = replicas_with_crossed_keys();
    for urls in [[a.url(), b.url()], [b.url(), a.url()]] {
        let (_viewer, rx) =
            spawn_viewer(&["attach", "--no-tui", &urls[0], &urls[1]], Stdio::null());
        let lines: Vec<serde_json::Value> = (0..4)
            .map(|_| {
                let line = rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("a line within the watchdog");
                serde_json::from_str(&line).unwrap()
            })
            .collect();
        let order = format!("{urls:?}: {lines:#?}");
        let mut newest: std::collections::HashMap<String, (String, bool)> = Default::default();
        for l in &lines {
            assert_eq!(l["kind"], "alert", "{order}");
            assert_ne!(l["change"], "fixed", "{order}");
            let repo = l["repo"].as_str().unwrap().to_owned();
            let at = l["at"].as_str().unwrap().to_owned();
            let pass = l["pass"].as_bool().unwrap();
            if l["late"] == true {
                assert_eq!(l["change"], "same", "{order}");
                // RFC 3339 UTC texts of one length order as times.
                assert!(newest.get(&repo).is_some_and(|(t, _)| *t > at), "{order}");
            } else {
                assert_eq!(l.get("late"), None, "{order}");
                newest.insert(repo, (at, pass));
            }
        }
        assert_eq!(newest.len(), 2, "{order}");
        assert!(newest.values().all(|(_, pass)| !pass), "{order}");
    }
}

/// `attach --no-tui A B`: each alert line names the sink it came from
/// (`source`, the URL as the `sources` line names it) and that sink's own
/// seq (`source_seq`), as the sink's own JSON lines give it — the line's
/// `seq` is the viewer's. Snapshot and live alerts alike. The sinks'
/// seqs differ from each other and from the viewer's, so a mix-up shows.
#[test]
fn attach_no_tui_names_each_alerts_source_and_its_seq_there() {
    use std::collections::HashMap;
    use std::process::Stdio;

    let mut a = Headless::start(&[]);
    let mut b = Headless::start(&[]);
    let (a_out, b_out) = (a.stdout_lines(), b.stdout_lines());
    // repo → (the sink's URL, its seq there), from the sinks' own lines.
    let mut want: HashMap<String, (String, u64)> = HashMap::new();
    let mut sent = |sink: &Headless, out: &std::sync::mpsc::Receiver<String>, repo: &str| {
        send_ok_open(&sink.url(), repo);
        let line = out
            .recv_timeout(Duration::from_secs(60))
            .expect("the sink's line within the watchdog");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["repo"], repo, "{v}");
        want.insert(repo.to_owned(), (sink.url(), v["seq"].as_u64().unwrap()));
    };
    for repo in ["a1", "a2", "a3"] {
        sent(&a, &a_out, repo);
    }
    sent(&b, &b_out, "b1");
    let (_viewer, rx) = spawn_viewer(&["attach", "--no-tui", &a.url(), &b.url()], Stdio::null());
    let next = || next_json(&rx);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next());
    }
    // Live, once both snapshots are in: one more on each.
    sent(&b, &b_out, "b2");
    seen.push(next());
    sent(&a, &a_out, "a4");
    seen.push(next());
    let mut repos = Vec::new();
    for (i, l) in seen.iter().enumerate() {
        assert_eq!(l["kind"], "alert", "{l}");
        // The viewer's own seqs, in order, whichever source fed each.
        assert_eq!(l["seq"].as_u64(), Some(i as u64 + 1), "{l}");
        let repo = l["repo"].as_str().unwrap();
        let (url, seq) = &want[repo];
        assert_eq!(l["source"].as_str(), Some(url.as_str()), "{l}");
        assert_eq!(l["source_seq"].as_u64(), Some(*seq), "{l}");
        repos.push(repo.to_owned());
    }
    repos.sort();
    assert_eq!(repos, ["a1", "a2", "a3", "a4", "b1", "b2"]);
}

/// `attach` suspended (SIGSTOP, as Ctrl-Z does) stops reading, and the
/// sink closes its connection (here its HTTP/2 pings go unanswered; the
/// keepalive is made short). Alerts accepted meanwhile, and while it is
/// away, are fetched when it is continued: it reconnects and resumes, and
/// prints every alert once, in the source's seq order (`source_seq` 1, 2,
/// 3, … with no gap). The sink counts nothing missed: it resumed over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_viewer_cut_off_by_the_sink_resumes_without_a_gap() {
    use std::process::Stdio;

    let stats = Arc::new(sinkwatch::sink::watch::WatchStats::default());
    let sink = common::TestSink::start(sinkwatch::sink::SinkConfig {
        limits: sinkwatch::sink::limits::SinkLimits {
            keepalive_interval: Duration::from_millis(200),
            keepalive_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        watch: open_watch(stats.clone()),
        ..Default::default()
    })
    .await;
    let url = sink.url();
    let (mut viewer, lines) = spawn_viewer(&["attach", "--no-tui", &url], Stdio::piped());
    let said = stderr_lines(&mut viewer);
    wait_live(&said);
    let signal = |sig: &str| kill(sig, viewer.0.id());
    let attached = || stats.attached.load(Ordering::Relaxed);
    until("the viewer attached", || attached() == 1).await;
    signal("-STOP");
    let mut c = sinkwatch::proto::alert_sink_client::AlertSinkClient::connect(url.clone())
        .await
        .unwrap();
    let details = "x".repeat(4096);
    let mut n = 0u64;
    let mut send = async |count: u64| {
        for _ in 0..count {
            c.alert(common::alert("org", "r", "p", false, &details))
                .await
                .unwrap();
            n += 1;
        }
    };
    // While it is stopped (more than its windows hold), then while it is
    // away: only a resume can fetch those.
    send(1000).await;
    until("the stopped viewer cut off", || attached() == 0).await;
    send(100).await;
    signal("-CONT");
    for want in 1..=n {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a line within the watchdog");
        let l: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(l["source_seq"].as_u64(), Some(want), "{l}");
        assert_eq!(l["source"].as_str(), Some(url.as_str()), "{l}");
    }
    until("the viewer back", || attached() == 1).await;
    assert_eq!(stats.missed.load(Ordering::Relaxed), 0);
    drop(viewer);
    sink.stop().await;
}

/// A headless viewer given a burst far larger than its printer's queue
/// (stopped while 3,000 alerts arrive, then let go on): it reads from the
/// sink only as fast as its printer writes, so every alert is printed, in
/// order, and nothing is lost. On the old code the printer's queue
/// overflowed and printed `{"kind":"lost",…,"reason":"writer fell behind"}`
/// in place of most of them (a user's review: 7,287 of 50,000 lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_viewer_paces_a_burst_to_its_printer_and_loses_nothing() {
    use std::process::Stdio;

    let stats = Arc::new(sinkwatch::sink::watch::WatchStats::default());
    let sink = common::TestSink::start(sinkwatch::sink::SinkConfig {
        watch: open_watch(stats.clone()),
        ..Default::default()
    })
    .await;
    let url = sink.url();
    let (mut viewer, lines) = spawn_viewer(
        &["attach", "--no-tui", "--queue", "64", &url],
        Stdio::piped(),
    );
    let said = stderr_lines(&mut viewer);
    wait_live(&said);
    let signal = |sig: &str| kill(sig, viewer.0.id());
    signal("-STOP");
    let mut c = sinkwatch::proto::alert_sink_client::AlertSinkClient::connect(url.clone())
        .await
        .unwrap();
    const N: u64 = 3_000;
    for i in 0..N {
        let repo = format!("r{}", i % 50);
        c.alert(common::alert("org", &repo, "p", i % 3 == 0, "details"))
            .await
            .unwrap();
    }
    signal("-CONT");
    expect_alerts_in_order(&lines, N);
    drop(viewer);
    sink.stop().await;
}

/// SIGTERM frees the sink's port at once, though a viewer that does not
/// read (stopped) holds its connection, and the shutdown with it, for a
/// while: a sink restarted at once can listen there, and the sink says
/// what it waits for. On the old code the listening socket stayed open
/// until the process exited (5 s, silent), and the restart failed with
/// "Address already in use" (a user's review).
#[test]
fn a_stopping_sink_frees_its_port_while_a_stopped_viewer_holds_it() {
    use std::process::Stdio;

    let sink = Headless::start(&[]);
    let url = sink.url();
    let (mut viewer, _lines) = spawn_viewer(&["attach", "--no-tui", &url], Stdio::piped());
    let said = stderr_lines(&mut viewer);
    wait_live(&said);
    let signal = kill;
    signal("-STOP", viewer.0.id());
    for i in 0..5 {
        send_ok_open(&url, &format!("r{i}"));
    }
    let pid = sink.pid();
    // Not exited (a zombie, its parent being this test, has exited).
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
    };
    signal("-TERM", pid);
    loop {
        if let Ok(listener) = std::net::TcpListener::bind(&sink.addr) {
            // Alive after the bind: the port was free while it ran.
            assert!(alive(), "the port was held until the sink exited");
            drop(listener);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // And it says what it waits for, then gives up on it.
    let exit = sink.signal("-CONT");
    assert!(exit.status.success(), "{}", exit.stderr);
    // (The stopped viewer's connection at least: the senders' may not all
    // have been seen closing yet.)
    assert!(
        exit.stderr.contains("waiting at most 4s more for ")
            && exit
                .stderr
                .contains(" not closed (a peer that does not read"),
        "{}",
        exit.stderr
    );
    signal("-CONT", viewer.0.id());
}

/// A snapshot far larger than the headless viewer's printer queue (1,000
/// keys, `--queue 64`) is printed whole: its alerts are given to the
/// printer as fast as it writes them. On the old code they were given all
/// at once and most were lost (`{"kind":"lost",…}`, a review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_viewer_prints_a_snapshot_larger_than_its_queue_whole() {
    use std::process::Stdio;

    let sink = common::TestSink::start(sinkwatch::sink::SinkConfig {
        watch: open_watch(Arc::new(sinkwatch::sink::watch::WatchStats::default())),
        ..Default::default()
    })
    .await;
    let url = sink.url();
    let mut c = sinkwatch::proto::alert_sink_client::AlertSinkClient::connect(url.clone())
        .await
        .unwrap();
    const N: u64 = 1_000;
    for i in 0..N {
        c.alert(common::alert(
            "org",
            &format!("r{i}"),
            "p",
            false,
            "details",
        ))
        .await
        .unwrap();
    }
    let (viewer, lines) = spawn_viewer(
        &["attach", "--no-tui", "--queue", "64", &url],
        Stdio::null(),
    );
    expect_alerts_in_order(&lines, N);
    drop(viewer);
    sink.stop().await;
}

/// A viewer keeps its memory in small pages (its peak RSS halved and its
/// CPU per alert down a sixth, measured: see `main.rs`). Read from the
/// kernel's own status of the process.
#[test]
fn a_viewer_asks_the_kernel_for_no_huge_pages() {
    use std::process::Stdio;

    let thp = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_owned()))
    };
    let sink = Headless::start(&[]);
    if thp(sink.pid()).is_none() {
        eprintln!("skipped: this kernel's status has no THP_enabled");
        return;
    }
    let (mut viewer, _lines) = spawn_viewer(&["attach", "--no-tui", &sink.url()], Stdio::piped());
    wait_live(&stderr_lines(&mut viewer));
    assert_eq!(thp(viewer.0.id()).as_deref(), Some("0"));
}
