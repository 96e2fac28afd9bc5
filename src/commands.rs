//! The client subcommands: send, load, replay, open.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Command, LoadArgs, ReplayArgs, SendArgs, TargetArgs};
use crate::client::attach::{SourceState, StateNews};
use crate::grpc::Target;
use crate::grpc::diagnose::{self, Stage};
use crate::proto::AlertRequest;
use crate::run::Failure;
use crate::sink::auth::signature::Signer;

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))
}

pub fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Send(a) => send(a),
        Command::Load(a) => load(a),
        Command::Replay(a) => replay(a),
        Command::Open(a) => {
            // The config file and the theme (`--theme`, else the file's),
            // loaded once and here: a bad one is a config error (exit 2),
            // one line before the alternate screen.
            // The same merge as a run: `--theme` over the file's.
            let settings = crate::config::settings(&crate::config::RunArgs {
                config: a.config.clone(),
                theme: a.theme.clone(),
                utc: a.utc.then_some(true),
                ..Default::default()
            })?;
            crate::ui::fmt::use_local_time(!settings.utc);
            let theme =
                crate::ui::live::load_theme(Some(&settings.theme)).map_err(Failure::Usage)?;
            // The file first (exit 1 when it cannot be read), then the
            // terminal the TUI needs: piped, it would write its escape
            // sequences into the pipe.
            // A directory is a mistake in the argument (exit 2), as for
            // `replay`.
            if a.file.is_dir() {
                return Err(Failure::Usage(format!(
                    "cannot open {}: it is a directory (give a recording or a state database)",
                    a.file.display()
                )));
            }
            // A file that is not there is a mistake in the argument (exit
            // 2), as for `replay`; one that cannot be read is not.
            if let Err(e) = std::fs::metadata(&a.file)
                && e.kind() == std::io::ErrorKind::NotFound
            {
                return Err(Failure::Usage(format!(
                    "cannot open {}: {e}",
                    a.file.display()
                )));
            }
            let opened = crate::ui::prepare_open(&a.file).map_err(Failure::Runtime)?;
            if !std::io::stdout().is_terminal() {
                return Err(Failure::Usage(
                    "open shows the TUI, and stdout is not a terminal (for text: `sinkwatch \
                     export --state FILE`, or read the recording)"
                        .into(),
                ));
            }
            crate::ui::run_open(opened, theme, settings.fps, settings.views.clone())
                .map_err(Failure::Runtime)
        }
        Command::Config => {
            say(format_args!("{}", crate::config::default_config()));
            Ok(())
        }
        Command::Export(a) => export(a),
        Command::Attach(a) => attach(a),
    }
}

/// `sinkwatch attach`: a local hub fed by the remote sinks' Watch streams,
/// and the TUI over it.
fn attach(a: crate::cli::AttachArgs) -> Result<(), Failure> {
    let settings = crate::config::settings(&crate::config::RunArgs {
        config: a.config.clone(),
        theme: a.theme.clone(),
        utc: a.utc.then_some(true),
        history: a.history,
        memory_budget: a.memory_budget,
        queue: a.queue,
        ..Default::default()
    })?;
    let theme = crate::ui::live::load_theme(Some(&settings.theme)).map_err(Failure::Usage)?;
    let mut targets = Vec::new();
    for url in &a.urls {
        let t = target(&TargetArgs {
            to: url.clone(),
            token_file: a.token_file.clone(),
            ca: a.ca.clone(),
            client_cert: a.client_cert.clone(),
            client_key: a.client_key.clone(),
            sign: None,
        })
        .map_err(Failure::Usage)?;
        t.check().map_err(Failure::Usage)?;
        // The same sink twice would show each of its alerts twice (the
        // second time as `same`).
        let key = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
        if targets
            .iter()
            .any(|o: &crate::grpc::Target| key(&o.url) == key(&t.url))
        {
            return Err(Failure::Usage(format!(
                "attach: {} is given twice",
                crate::sanitize::line(url)
            )));
        }
        targets.push(t);
    }
    // Checked here against the bounds every sink applies to a viewer's
    // filter, so that a mistake is this command's usage error (exit 2),
    // said once, not each sink's refusal.
    let filter: Arc<str> = match a.filter.as_deref().map(str::trim) {
        None | Some("") => Arc::from(""),
        Some(text) => {
            crate::model::filter::Filter::parse_within(text, crate::model::filter::Limits::REMOTE)
                .map_err(|e| {
                    Failure::Usage(format!(
                        "attach: --filter: {}",
                        crate::sanitize::line(&e.to_string())
                    ))
                })?;
            Arc::from(text)
        }
    };
    let rt = runtime()?;
    // Bounded in bytes as the sink's is: records wait in the printer's
    // queue after the store let them go (a review's flood of 60 KB alerts
    // into a slow stdout took 65,536 of them: 4.3 GB).
    let queue = crate::run::queue_within_budget(
        settings.queue,
        settings.memory_budget.0,
        settings.max_details_bytes.0,
    );
    let headless = a.no_tui || !std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Headless, a signal stops the viewer: installed first, so that one
    // sent while it starts is kept rather than lost or fatal (the TUI has
    // its own).
    let signals = headless.then(|| {
        let _rt = rt.enter();
        crate::shutdown::StopSignals::install()
    });
    let mut limits = settings.store_limits();
    if headless {
        limits.history = limits.history.min(crate::client::attach::HEADLESS_HISTORY);
    }
    let hub = crate::hub::Hub::new(limits, queue);
    let sources = crate::client::attach::SourceStatus::group(
        targets
            .iter()
            .map(|t| t.normalized_url().unwrap_or_else(|_| t.url.clone())),
    );
    // Headless: the printer subscribes before any source is followed, so
    // it sees every alert the local hub accepts.
    // Its queue is fed by the sources, each alert with its source and its
    // seq there (`source`, `source_seq`), in the local hub's seq order.
    let printer = headless.then(|| {
        let stats = Arc::new(crate::record::WriterStats::default());
        let (tx, rx) = tokio::sync::broadcast::channel(queue);
        let pace = crate::client::attach::PrinterPace::new(stats.clone(), queue);
        for s in &sources {
            s.print_to(tx.clone(), pace.clone());
        }
        (
            stats.clone(),
            crate::record::spawn_writer("stdout".into(), rx, std::io::stdout(), stats),
        )
    });
    // Each source that refuses this viewer says so once, on stderr while
    // headless (the TUI shows it in its status bar, and lists it on exit).
    let follows: Vec<_> = targets
        .into_iter()
        .zip(&sources)
        .map(|(t, s)| {
            let (hub, s, filter) = (hub.clone(), s.clone(), filter.clone());
            rt.spawn(async move {
                let refused =
                    crate::client::attach::follow_filtered(t, &filter, hub, s.clone()).await;
                if let Some(why) = &refused
                    && headless
                {
                    eprintln!("{}", refusal_line(&s.url, why));
                }
                refused
            })
        })
        .collect();
    // Set once every source has refused: nothing is left to show.
    let all_refused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Ends the TUI: set then, and by a signal (its own flag: a signal is a
    // clean stop, exit 0; it used to set `all_refused`, and a SIGTERM to
    // the TUI exited 1 without a word).
    let stop_tui = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refusals = {
        let (all_refused, stop_tui) = (all_refused.clone(), stop_tui.clone());
        rt.spawn(async move {
            let n = follows.len();
            let mut refused = Vec::new();
            for f in follows {
                if let Ok(Some(why)) = f.await {
                    refused.push(why);
                }
            }
            if refused.len() == n {
                all_refused.store(true, std::sync::atomic::Ordering::Relaxed);
                stop_tui.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    if let (Some((stats, writer)), Some(mut signals)) = (printer, signals) {
        // Each source's state changes on stderr (`sinkwatch: source URL:
        // live`): what an operator, or a script waiting to send, needs.
        {
            let sources = sources.clone();
            rt.spawn(async move {
                let mut shown: Vec<(StateNews, u64, u64)> =
                    sources.iter().map(|_| Default::default()).collect();
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    for (s, (last, resets, missed)) in sources.iter().zip(shown.iter_mut()) {
                        // A Reset or a Missed said as it happens: the
                        // viewer's picture was rebuilt, or had a gap that
                        // was fetched again (the JSON lines carry neither).
                        let r = s.resets.load(std::sync::atomic::Ordering::Relaxed);
                        if r != *resets {
                            let why = s.last_reset().unwrap_or_default();
                            eprintln!("sinkwatch: source {}: reset: {why}; a fresh snapshot follows", s.url);
                            *resets = r;
                        }
                        let m = s.missed.load(std::sync::atomic::Ordering::Relaxed);
                        if m != *missed {
                            eprintln!(
                                "sinkwatch: source {}: fell behind, {} alerts missed; fetching them again while the sink holds them",
                                s.url,
                                m.saturating_sub(*missed)
                            );
                            *missed = m;
                        }
                        let now = s.state();
                        // A refusal has a line of its own (above).
                        if last.is_news(&now) && !matches!(now, SourceState::Refused(_)) {
                            // The reason is sanitized, and the URL it may
                            // start with taken off, where it is set.
                            eprintln!("sinkwatch: source {}: {now}", s.url);
                        }
                    }
                }
            });
        }
        rt.block_on(async {
            // Until a signal, or until stdout's reader goes away
            // (`attach --no-tui URL | head -1`), as the headless sink does.
            let closed = async {
                if !stats.is_closed() {
                    stats.closed_notify.notified().await;
                }
            };
            tokio::select! {
                _ = signals.recv() => {}
                _ = refusals => {}
                _ = closed => {}
            }
        });
        if all_refused.load(std::sync::atomic::Ordering::Relaxed) {
            // Each refusal has been told on its own line.
            return Err(Failure::Told);
        }
        hub.close();
        for s in &sources {
            s.stop_printing();
        }
        // What was received is printed before the `sources` line, unless a
        // second signal says to stop now.
        if !crate::shutdown::finish_writer(&rt, writer, &stats, "alerts", signals.recv()) {
            rt.shutdown_background();
            return Ok(());
        }
        if stats.is_closed() {
            // Nobody reads the sources line either (what was lost is said).
            rt.shutdown_timeout(Duration::from_secs(1));
            return Ok(());
        }
        let mut line = serde_json::json!({
            "kind": "sources",
            "sources": sources.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
            "lost": {"stdout": stats.lost()},
        });
        if !filter.is_empty() {
            line["filter"] = filter.as_ref().into();
        }
        say(format_args!("{line}\n"));
        rt.shutdown_timeout(Duration::from_secs(1));
        return Ok(());
    }
    crate::ui::fmt::use_local_time(!settings.utc);
    // The forwarding panel (F) shows the remote sinks' forwarders, as
    // they report them over Watch.
    let forward = crate::forward::ForwardStats::remote(sources.len());
    for (i, s) in sources.iter().enumerate() {
        s.report_forwarding(forward.clone(), i);
    }
    // The empty pane names the sinks and a `send` that reaches the first
    // with the options this viewer was given.
    let mut send_args = format!("--to {}", a.urls[0]);
    for (option, path) in [
        ("--token-file", &a.token_file),
        ("--ca", &a.ca),
        ("--client-cert", &a.client_cert),
        ("--client-key", &a.client_key),
    ] {
        if let Some(p) = path {
            send_args.push_str(&format!(" {option} {}", p.display()));
        }
    }
    let extras = crate::ui::Extras {
        empty_hint: Some(crate::ui::state::EmptyHint {
            waiting: if filter.is_empty() {
                format!("from {}", a.urls.join(", "))
            } else {
                format!("matching {filter} from {}", a.urls.join(", "))
            },
            send_args,
        }),
        // The sinks' filter stays in sight: a pane missing alerts may be
        // this viewer's choice.
        listen: if filter.is_empty() {
            format!("attached to {}", a.urls.join(", "))
        } else {
            format!("attached to {} · sink filter: {filter}", a.urls.join(", "))
        },
        banner: None,
        recorder: None,
        forward: Some(forward),
        state: None,
        arrivals: Some(Arc::new({
            let sources = sources.clone();
            move || sources.iter().map(|s| s.received_live()).sum()
        })),
        remote: Some(Arc::new({
            let (sources, filter) = (sources.clone(), filter.clone());
            move |short| {
                let line = if short {
                    crate::client::attach::status_short(&sources)
                } else {
                    crate::client::attach::status_line(&sources)
                };
                match (filter.is_empty(), short) {
                    (true, _) => line,
                    (false, true) => format!("{line} · sink-filtered"),
                    (false, false) => format!("{line} · sink filter: {filter}"),
                }
            }
        })),
        bell_on: settings.bell_on.clone(),
        views: settings.views.clone(),
        viewers: None,
        stop: Some(stop_tui),
        // A viewer's own silences: the file beside its config.
        silences: match crate::state::silences::Backing::beside_config(
            settings.config_path.as_deref(),
        ) {
            Some(b) => {
                let st = crate::ui::state::silences::SilenceState::load(b, crate::hub::now_ms());
                if let Some(w) = &st.load_warning {
                    eprintln!("sinkwatch: warning: {w}");
                }
                st
            }
            None => Default::default(),
        },
    };
    let r = crate::ui::run_live(
        hub.clone(),
        theme,
        settings.fps,
        extras,
        rt.handle().clone(),
    );
    hub.close();
    rt.shutdown_timeout(Duration::from_secs(1));
    r.map_err(Failure::Runtime)?;
    // The screen is gone: the refusals where they stay visible.
    for s in &sources {
        if let SourceState::Refused(why) = s.state() {
            eprintln!("{}", refusal_line(&s.url, &why));
        }
    }
    if all_refused.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Failure::Told);
    }
    Ok(())
}

/// The line telling that a source refused this viewer (and is not retried).
fn refusal_line(url: &str, why: &str) -> String {
    if why.starts_with(crate::client::attach::GIVEN_TWICE) {
        // Not the sink's refusal: this viewer's own decision.
        return format!("sinkwatch: source {url}: {why}");
    }
    // What to do depends on who can fix it.
    let hint = if why.contains("--watch-open") {
        "not retrying; the sink's operator must give it credentials (--token-file or mTLS) \
         or start it with --watch-open"
    } else if why.contains("--client-cert") {
        "not retrying"
    } else if why.starts_with("InvalidArgument") {
        // Its bounds differ from this viewer's (another version).
        "not retrying; check --filter"
    } else {
        "not retrying; check --token-file or the client certificate"
    };
    format!("sinkwatch: {url} refused this viewer: {why} ({hint})")
}

/// A client's target from its options, reading the files they name
/// (errors name the file).
fn target(args: &TargetArgs) -> Result<Target, String> {
    let read = |p: &std::path::Path, what: &str| {
        crate::files::read_limited_bytes(p, crate::files::MAX_KEY_FILE)
            .map_err(|e| format!("{what}: cannot read {}: {e}", p.display()))
    };
    let token = match &args.token_file {
        Some(p) => {
            Some(crate::config::read_token(p).map_err(|e| format!("--token-file: {}", e.0))?)
        }
        None => None,
    };
    let ca_pem = args.ca.as_deref().map(|p| read(p, "--ca")).transpose()?;
    let client_identity = match (&args.client_cert, &args.client_key) {
        (Some(c), Some(k)) => Some((read(c, "--client-cert")?, read(k, "--client-key")?)),
        _ => None,
    };
    let signer = args
        .sign
        .as_ref()
        .map(|k| {
            Signer::load(k)
                .map(std::sync::Arc::new)
                .map_err(|e| format!("--sign: {e}"))
        })
        .transpose()?;
    Ok(Target {
        url: args.to.clone(),
        token,
        ca_pem,
        client_identity,
        signer,
    })
}

fn export(a: crate::cli::ExportArgs) -> Result<(), Failure> {
    let filter = match &a.filter {
        Some(f) => Some(
            crate::model::filter::Filter::parse(f)
                .map_err(|e| Failure::Usage(format!("--filter: {e}")))?,
        ),
        None => None,
    };
    if a.state.is_dir() {
        return Err(Failure::Usage(format!(
            "--state {}: is a directory; name a state database file",
            a.state.display()
        )));
    }
    let opts = crate::state::export::ExportOptions {
        path: &a.state,
        since: a.since,
        filter,
        format: a.format,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    crate::state::export::export(&opts, &mut out).map_err(Failure::Runtime)?;
    if let Some(note) = crate::state::uncommitted_note(&a.state) {
        eprintln!("sinkwatch: warning: {}", crate::sanitize::line(&note));
    }
    Ok(())
}
/// A usage error unless `ok`: one line naming the option and its range.
fn in_range(
    ok: bool,
    name: &str,
    value: impl std::fmt::Display,
    range: &str,
) -> Result<(), Failure> {
    if ok {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "--{name}: {value} is out of range ({range})"
    )))
}

/// Largest details file `send` reads (a details field is at most what the
/// sink accepts, 64 KiB by default; this leaves room for larger limits).
const MAX_DETAILS_FILE: u64 = 16 << 20;

fn send(a: SendArgs) -> Result<(), Failure> {
    let target = target(&a.target).map_err(Failure::Usage)?;
    target.check().map_err(Failure::Usage)?;
    in_range(
        a.timeout > 0.0 && a.timeout <= 3600.0,
        "timeout",
        a.timeout,
        "above 0 up to 3600 seconds",
    )?;
    let details = match (&a.details, &a.details_file) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => crate::files::read_limited(p, MAX_DETAILS_FILE).map_err(|e| {
            Failure::Usage(format!("cannot read details file {}: {e}", p.display()))
        })?,
        (None, None) => String::new(),
    };
    let req = AlertRequest {
        owner_name: a.owner,
        repo_name: a.repo,
        policy_name: a.policy,
        details,
        pass: a.pass && !a.fail,
    };
    let timeout = Duration::from_secs_f64(a.timeout.max(0.001));
    let rt = runtime()?;
    let call = async {
        // Connecting first tells a sink that cannot be reached, or whose TLS
        // handshake fails, from one that fails the call.
        let client = target.connect().await?;
        // Again if a closing connection never sent it (a GOAWAY).
        crate::grpc::unsent::retry_unsent(|| {
            let mut client = client.clone();
            let req = target.request(req.clone());
            async move { client.alert(req).await }
        })
        .await
        .0
        .map_err(|s| diagnose::call_failure(&target, &s, Stage::FirstCall))
    };
    // The timer is made inside the runtime: it needs its time driver.
    match rt.block_on(async { tokio::time::timeout(timeout, call).await }) {
        Ok(Ok(_)) => {
            say(format_args!("OK\n"));
            Ok(())
        }
        Ok(Err(why)) => Err(Failure::Runtime(format!("send: {why}"))),
        Err(_) => Err(Failure::Runtime(format!(
            "send: {} did not answer within {:.1} s",
            target.normalized_url().unwrap_or(target.url),
            timeout.as_secs_f64()
        ))),
    }
}

fn load(a: LoadArgs) -> Result<(), Failure> {
    let target = target(&a.target).map_err(Failure::Usage)?;
    target.check().map_err(Failure::Usage)?;
    if a.concurrency == 0 {
        return Err(Failure::Usage("--concurrency: must be at least 1".into()));
    }
    if let Some(r) = a.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(Failure::Usage("--rate: must be a number above 0".into()));
    }
    in_range(
        a.concurrency <= 10_000,
        "concurrency",
        a.concurrency,
        "1..=10000",
    )?;
    if let Some(c) = a.connections {
        in_range((1..=1024).contains(&c), "connections", c, "1..=1024")?;
    }
    if let Some(r) = a.rate {
        in_range(r <= 1e7, "rate", r, "above 0 up to 10000000")?;
    }
    in_range(
        (1..=1_000_000).contains(&a.repos),
        "repos",
        a.repos,
        "1..=1000000",
    )?;
    let plan = crate::client::load::LoadPlan {
        total: a.total,
        concurrency: a.concurrency,
        connections: a.connections.unwrap_or(a.concurrency.min(4)).max(1),
        rate: a.rate,
        repos: a.repos.max(1),
    };
    let rt = runtime()?;
    let report = rt
        .block_on(crate::client::load::run(&target, &plan))
        .map_err(|why| Failure::Runtime(format!("load: {why}")))?;
    if a.json {
        say(format_args!("{}\n", report.json()));
    } else {
        say(format_args!("{}", report.text()));
    }
    if let Some(why) = &report.failure {
        let what = if report.stopped {
            format!("stopped after {} of {} alerts", report.sent, plan.total)
        } else {
            format!(
                "{} of {} alerts failed",
                report.sent - report.ok,
                report.sent
            )
        };
        return Err(Failure::Runtime(format!("load: {why} ({what})")));
    }
    if report.ok < report.sent {
        return Err(Failure::Runtime(format!(
            "{} of {} alerts were refused",
            report.sent - report.ok,
            report.sent
        )));
    }
    Ok(())
}

fn replay(a: ReplayArgs) -> Result<(), Failure> {
    let target = target(&a.target).map_err(Failure::Usage)?;
    target.check().map_err(Failure::Usage)?;
    let speed: crate::client::replay::Speed = a.speed.parse().map_err(Failure::Usage)?;
    in_range(
        (1..=10_000).contains(&a.concurrency),
        "concurrency",
        a.concurrency,
        "1..=10000",
    )?;
    // A directory opens (on Linux) and fails at its first read: said as
    // `open` says it, before anything is sent.
    if a.file.is_dir() {
        return Err(Failure::Usage(format!(
            "cannot open recording {}: it is a directory",
            a.file.display()
        )));
    }
    let file = std::fs::File::open(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot open recording {}: {e}", a.file.display())))?;
    // The file's lines are counted as it is read (once), to tell a torn
    // last line from corruption.
    let mut reader = std::io::BufReader::new(LineCounter::new(file));
    let (alerts, bad, remarks) = crate::record::load_recording_noting(&mut reader);
    let total_lines = reader.get_ref().lines();
    let name = a.file.display().to_string();
    for e in &bad {
        eprintln!("sinkwatch: {name}:{e} (skipped)");
    }
    if remarks.lost > 0 {
        // Said, not an error: the recording holds what it holds, and it
        // says it is short; the replay cannot send what was never written.
        eprintln!(
            "sinkwatch: {name}: {} alerts were lost while it was recorded (its `lost` lines); they cannot be replayed",
            remarks.lost
        );
    }
    let rt = runtime()?;
    let report = rt
        .block_on(crate::client::replay::run(
            &target,
            alerts,
            bad,
            speed,
            |m| eprintln!("sinkwatch: {m}"),
        ))
        .map_err(|why| Failure::Runtime(format!("replay: {why}")))?;
    let skipped = report.bad_lines.len();
    say(format_args!(
        "replayed {} of {} alerts from {name} to {} ({} failed, {skipped} bad {} skipped)\n",
        report.sent,
        report.read,
        target.url,
        report.failed.len(),
        if skipped == 1 { "line" } else { "lines" },
    ));
    if !report.failed.is_empty() {
        let n = report.failed.len();
        return Err(Failure::Runtime(format!(
            "{n} {} not accepted",
            if n == 1 { "alert was" } else { "alerts were" }
        )));
    }
    // A run cut short by a crash ends in a torn line: at the end of the
    // file, or just before the next run's start when the file was appended
    // to. Expected, not an error. Any other unreadable line is, after the
    // rest was sent, so a script can tell (a review: exit 0 with 4 lines
    // skipped).
    let corrupt = report
        .bad_lines
        .iter()
        .filter(|b| !remarks.torn_run_end(b.line, total_lines))
        .count();
    if corrupt > 0 {
        let n = corrupt;
        let lines = if n == 1 { "line" } else { "lines" };
        return Err(Failure::Runtime(format!(
            "{n} {lines} of {name} could not be read (named above); the rest were replayed"
        )));
    }
    Ok(())
}

/// A reader that counts the lines it passes on (a last line without its
/// newline counts too).
struct LineCounter<R> {
    inner: R,
    newlines: u64,
    last: Option<u8>,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            newlines: 0,
            last: None,
        }
    }

    fn lines(&self) -> u64 {
        self.newlines + u64::from(self.last.is_some_and(|b| b != b'\n'))
    }
}

impl<R: std::io::Read> std::io::Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// Writes to stdout, ignoring a reader that has gone (`… | head -1`):
/// `print!` would panic there.
fn say(text: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|_| out.flush());
}

#[cfg(test)]
mod tests {
    use super::refusal_line;

    #[test]
    fn a_refusal_line_says_who_can_fix_it() {
        let closed = refusal_line(
            "http://a:1",
            &format!("PermissionDenied: {}", crate::sink::watch::WATCH_CLOSED),
        );
        assert!(
            closed.ends_with(
                "(not retrying; the sink's operator must give it credentials \
                 (--token-file or mTLS) or start it with --watch-open)"
            ),
            "{closed}"
        );
        let cert = refusal_line(
            "https://a:1",
            "the sink requires a client certificate (TLS alert CertificateRequired) — \
             give one with --client-cert/--client-key",
        );
        assert!(
            cert.ends_with("--client-cert/--client-key (not retrying)"),
            "{cert}"
        );
        let token = refusal_line("http://a:1", "Unauthenticated: wrong token");
        assert!(
            token.ends_with("(not retrying; check --token-file or the client certificate)"),
            "{token}"
        );
    }
}
