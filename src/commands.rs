//! The client subcommands: send, load, replay, open.

use std::time::Duration;

use crate::cli::{Command, LoadArgs, ReplayArgs, SendArgs};
use crate::client::Target;
use crate::client::diagnose::{self, Stage};
use crate::proto::AlertRequest;
use crate::run::Failure;

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
            let (file, _) = crate::config::load(a.config.as_deref())?;
            let theme = crate::ui::live::load_theme(a.theme.as_deref().or(file.theme.as_deref()))
                .map_err(Failure::Usage)?;
            let fps = file
                .fps
                .map_or(crate::config::DEFAULT_FPS, |c| c.0.min(240) as u32)
                .max(1);
            crate::ui::run_open(&a, theme, fps).map_err(Failure::Runtime)
        }
        Command::Config => {
            print!("{}", crate::config::DEFAULT_CONFIG);
            Ok(())
        }
    }
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
    let target = Target::from_args(&a.target).map_err(Failure::Usage)?;
    target.check().map_err(Failure::Usage)?;
    in_range(
        a.timeout > 0.0 && a.timeout <= 3600.0,
        "timeout",
        a.timeout,
        "above 0 up to 3600 seconds",
    )?;
    let details = match (&a.details, &a.details_file) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => crate::config::read_limited(p, MAX_DETAILS_FILE).map_err(|e| {
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
        let mut client = target.connect().await?;
        client
            .alert(req)
            .await
            .map_err(|s| diagnose::call_failure(&target, &s, Stage::FirstCall))
    };
    // The timer is made inside the runtime: it needs its time driver.
    match rt.block_on(async { tokio::time::timeout(timeout, call).await }) {
        Ok(Ok(_)) => {
            println!("OK");
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
    let target = Target::from_args(&a.target).map_err(Failure::Usage)?;
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
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
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
    let target = Target::from_args(&a.target).map_err(Failure::Usage)?;
    target.check().map_err(Failure::Usage)?;
    let speed: crate::client::replay::Speed = a.speed.parse().map_err(Failure::Usage)?;
    in_range(
        (1..=10_000).contains(&a.concurrency),
        "concurrency",
        a.concurrency,
        "1..=10000",
    )?;
    let file = std::fs::File::open(&a.file)
        .map_err(|e| Failure::Usage(format!("cannot open recording {}: {e}", a.file.display())))?;
    let (alerts, bad) = crate::client::replay::load_recording(std::io::BufReader::new(file));
    let name = a.file.display().to_string();
    for e in &bad {
        eprintln!("sinkwatch: {name}:{e} (skipped)");
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
    println!(
        "replayed {} of {} alerts from {name} to {} ({} failed, {} bad lines skipped)",
        report.sent,
        report.read,
        target.url,
        report.failed.len(),
        report.bad_lines.len()
    );
    if !report.failed.is_empty() {
        return Err(Failure::Runtime(format!(
            "{} alerts were not accepted",
            report.failed.len()
        )));
    }
    Ok(())
}
