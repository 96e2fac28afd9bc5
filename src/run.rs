//! Running the sink: bind first, then wire hub, consumers, server, demo and
//! the TUI or the headless printer together, and shut down cleanly.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{ConfigError, Settings};
use crate::hub::Hub;
use crate::record::{WriterStats, spawn_recorder};
use crate::sink::{SinkConfig, TlsFiles};

/// How a run ended, mapped to the exit status by `main`.
#[derive(Debug)]
pub enum Failure {
    /// Usage or config error: exit 2.
    Usage(String),
    /// Runtime failure: exit 1.
    Runtime(String),
    /// Runtime failure already told on stderr, line by line: exit 1.
    Told,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.0)
    }
}

/// Whether an address is only reachable from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The warning shown when the sink is reachable from other machines with
/// no credential method (a static token, OIDC identity tokens, access
/// tokens, signed payloads, client certificates): then anyone who can
/// reach it can send alerts. TLS alone does not suppress it (a review):
/// it hides what is sent, not who sends it.
pub fn exposure_warning(s: &Settings, local: std::net::SocketAddr) -> Option<String> {
    let credentials = s.token_file.is_some()
        || s.oidc_issuer.is_some()
        || s.oauth_tokeninfo().is_some()
        || s.verify_signature.is_some()
        || s.tls_client_ca.is_some();
    if is_loopback(&s.listen) || credentials {
        return None;
    }
    let methods = "--token-file, --oidc-issuer, --oauth-access-tokens, --verify-signature or \
                   --tls-client-ca";
    Some(if s.tls_cert.is_some() {
        format!(
            "listening on {local} with TLS but no credential: anyone who can reach it can send \
             alerts (TLS hides what is sent, not who sends it; use {methods})"
        )
    } else {
        format!(
            "listening on {local} without TLS or a token: anyone who can reach it can send alerts \
             (use --tls-cert/--tls-key, and {methods})"
        )
    })
}

/// A note when bearer credentials (a static token, OIDC identity tokens)
/// cross a non-loopback network without TLS: whoever sees one can reuse it
/// until it expires (a static token: forever).
pub fn cleartext_note(s: &Settings, local: std::net::SocketAddr) -> Option<String> {
    let bearer = s.token_file.is_some() || s.oidc_issuer.is_some() || s.oauth_tokeninfo().is_some();
    (!is_loopback(&s.listen) && s.tls_cert.is_none() && bearer).then(|| {
        format!(
            "bearer tokens reach {local} without TLS: anyone on the path can read and reuse them \
             (use --tls-cert/--tls-key)"
        )
    })
}

/// The verifiers of the OIDC, access-token and signed-payload methods,
/// when configured.
pub type AuthVerifiers = (
    Option<Arc<crate::sink::auth::oidc::Verifier>>,
    Option<Arc<crate::sink::auth::tokeninfo::Verifier>>,
    Option<Arc<crate::sink::auth::signature::Verifier>>,
);

/// The verifiers of the configured credential methods, checked before
/// anything is bound (a bad file or option is a usage error).
pub fn auth_methods(
    s: &Settings,
    clock: crate::sink::auth::Clock,
) -> Result<AuthVerifiers, Failure> {
    use crate::sink::auth::{oidc, signature, tokeninfo};
    let oidc = match &s.oidc_issuer {
        Some(issuer) => Some(Arc::new(
            oidc::Verifier::new(
                oidc::Settings {
                    issuer: issuer.clone(),
                    audiences: s.oidc_audience.clone(),
                    jwks: oidc::JwksSource::parse(s.oidc_jwks.as_deref()),
                    allow: s.oidc_allow.clone(),
                },
                clock.clone(),
            )
            .map_err(Failure::Usage)?,
        )),
        None => None,
    };
    let tokeninfo = match &s.oauth_tokeninfo() {
        Some(url) => Some(Arc::new(
            tokeninfo::Verifier::new(Some(url), &s.oidc_allow, clock.clone())
                .map_err(Failure::Usage)?,
        )),
        None => None,
    };
    let signature = match &s.verify_signature {
        Some(spec) => Some(Arc::new(
            signature::Verifier::load(spec, clock)
                .map_err(|e| Failure::Usage(format!("--verify-signature: {e}")))?,
        )),
        None => None,
    };
    Ok((oidc, tokeninfo, signature))
}

/// What the TUI's empty alerts pane suggests when the sink needs more than
/// `send --to ADDR` (TLS or a credential): copied as is, the example must
/// not be refused. None when the plain example works.
pub fn empty_hint(local: &SocketAddr, s: &Settings) -> Option<crate::ui::state::EmptyHint> {
    use crate::sink::auth::{Combine, signature::KeySpec};
    let mut args = if s.tls_cert.is_some() {
        format!("--to https://{local} --ca CA_FILE")
    } else {
        format!("--to {local}")
    };
    if s.tls_client_ca.is_some() {
        args.push_str(" --client-cert CERT_FILE --client-key KEY_FILE");
    }
    let bearer = if let Some(t) = &s.token_file {
        Some(format!(" --token-file {}", t.display()))
    } else if s.oidc_issuer.is_some() || s.oauth_tokeninfo().is_some() {
        Some(" --token-file TOKEN_FILE".to_owned())
    } else {
        None
    };
    let all = s.auth == Combine::All;
    if let Some(b) = &bearer {
        args.push_str(b);
    }
    if bearer.is_none() || all {
        match &s.verify_signature {
            Some(KeySpec::Hmac(p)) => args.push_str(&format!(" --sign hmac:{}", p.display())),
            Some(KeySpec::Ed25519(_)) => args.push_str(" --sign ed25519:PRIVATE_KEY_FILE"),
            None => {}
        }
    }
    (args != format!("--to {local}")).then(|| crate::ui::state::EmptyHint {
        waiting: format!("on {local}"),
        send_args: args,
    })
}

/// Runs the sink until SIGINT/SIGTERM (headless) or the user quits (TUI).
/// A usage error that names an option set in the config file names the
/// file and line too.
pub fn run_sink(settings: Settings) -> Result<(), Failure> {
    let blame = settings.clone();
    serve(settings).map_err(|f| match f {
        Failure::Usage(msg) => Failure::Usage(blame.blame(&msg)),
        other => other,
    })
}

fn serve(settings: Settings) -> Result<(), Failure> {
    let token = match &settings.token_file {
        Some(p) => Some(
            crate::config::read_token(p)
                .map_err(|e| Failure::Usage(format!("--token-file: {}", e.0)))?,
        ),
        None => None,
    };
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: settings.tls_client_ca.clone(),
        }),
        _ => None,
    };
    // Fail on bad TLS files before anything else, as a plain line.
    if let Some(t) = &tls {
        t.load().map_err(Failure::Usage)?;
        for w in t.warnings() {
            eprintln!("sinkwatch: warning: {w}");
            tracing::warn!("{w}");
        }
    }
    let (oidc, tokeninfo, signature) = auth_methods(&settings, crate::sink::auth::system_clock())?;
    let policy_line = crate::sink::auth::Policy {
        token: token.clone().map(String::into_bytes),
        oidc: oidc.clone(),
        tokeninfo: tokeninfo.clone(),
        signature: signature.clone(),
        combine: settings.auth,
    }
    .describe(settings.tls_client_ca.is_some());
    // The demo signs with a shared secret and sends the static token; it
    // has no identity token or Ed25519 private key.
    let demo_signer = match &settings.verify_signature {
        Some(spec @ crate::sink::auth::signature::KeySpec::Hmac(_)) => Some(Arc::new(
            crate::sink::auth::signature::Signer::load(spec).map_err(Failure::Usage)?,
        )),
        _ => None,
    };
    if settings.demo {
        let signs = demo_signer.is_some();
        let passes = match settings.auth {
            crate::sink::auth::Combine::All => {
                oidc.is_none() && tokeninfo.is_none() && (signature.is_none() || signs)
            }
            crate::sink::auth::Combine::Any => {
                (oidc.is_none() && tokeninfo.is_none() && signature.is_none())
                    || token.is_some()
                    || signs
            }
        };
        if !passes {
            return Err(Failure::Usage(
                "--demo cannot authenticate to this sink: it can send the static token and sign \
                 with an hmac secret, but has no OIDC token or Ed25519 private key"
                    .into(),
            ));
        }
    }
    let headless = settings.no_tui || !std::io::stdout().is_terminal();
    // The TUI's theme, loaded once and in every mode: a bad theme is a
    // config error (exit 2) reported before binding, also headless (a
    // config that only fails once someone runs the TUI is a trap).
    let theme = crate::ui::live::load_theme(Some(&settings.theme))
        .map_err(|e| Failure::Usage(format!("--theme: {e}")))?;
    let theme = (!headless).then_some(theme);
    // Forwarding options and files are checked before anything is bound.
    let forward_config = settings.forward_config().map_err(Failure::Usage)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sinkwatch")
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    // Signals stop the run in every mode. Installed first: a signal during
    // the start (a state database of 300,000 alerts takes a while to load)
    // is kept until the run can stop, rather than ending the process by
    // the default action (nothing committed, no stats line) or, when the
    // shell set SIGINT to be ignored (a script's background job), being
    // lost (a user's review).
    let mut signals = {
        let _rt = runtime.enter();
        crate::shutdown::StopSignals::install()
    };

    // The issuer's keys, fetched before the sink serves: a mistyped or
    // unreachable issuer is told at start, in one line, instead of being
    // found later as every call answered UNAVAILABLE. The sink starts
    // anyway: the issuer may come back, and each call tries again.
    if let Some(issuer) = &settings.oidc_issuer
        && !issuer.starts_with("https://")
        && !issuer.starts_with("http://")
    {
        // Allowed (a legacy Kubernetes token says `kubernetes/serviceaccount`),
        // but usually a slip: said, as tokens must carry exactly this `iss`.
        let w = format!(
            "--oidc-issuer {}: not a URL; OIDC issuers are https URLs, and tokens must carry \
             exactly this iss",
            crate::sanitize::line(issuer)
        );
        eprintln!("sinkwatch: warning: {w}");
        tracing::warn!("{w}");
    }
    if let (Some(v), Some(issuer)) = (&oidc, &settings.oidc_issuer)
        && let Err(e) = runtime.block_on(v.prefetch())
    {
        let w = format!(
            "--oidc-issuer {issuer}: the keys cannot be fetched now ({}); calls with an \
             identity token are answered UNAVAILABLE (counted auth_unavailable) until they can be",
            crate::sanitize::line(&e)
        );
        eprintln!("sinkwatch: warning: {w}");
        tracing::warn!("{w}");
    }

    // Bind before anything is drawn, so a taken port is one plain line.
    let std_listener = std::net::TcpListener::bind(settings.listen)
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", settings.listen)))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", settings.listen)))?;
    let local = std_listener
        .local_addr()
        .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", settings.listen)))?;
    // The metrics address is bound with the sink's, before readiness.
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => {
            let l = crate::metrics::bind(addr).map_err(Failure::Runtime)?;
            let bound = l
                .local_addr()
                .map_err(|e| Failure::Runtime(format!("cannot listen on {addr}: {e}")))?;
            Some((l, bound))
        }
        None => None,
    };
    let banner = exposure_warning(&settings, local);
    // Which credentials are required, as configured: on stderr and in the
    // log, before the readiness line.
    // Which credentials are required, said at start whenever there are
    // any (with none, the exposure warning speaks for a non-loopback
    // listener and the line would only be noise in every script's stderr).
    let any_credential = token.is_some()
        || oidc.is_some()
        || tokeninfo.is_some()
        || signature.is_some()
        || settings.tls_client_ca.is_some();
    if any_credential {
        eprintln!("sinkwatch: {policy_line}");
    }
    tracing::info!("{policy_line}");
    if signature.is_some()
        && token.is_none()
        && oidc.is_none()
        && tokeninfo.is_none()
        && settings.tls_client_ca.is_none()
    {
        // Said now rather than at the first refused `attach`: a viewer
        // sends no payload to sign.
        let n = "remote viewers (sinkwatch attach) are refused: a viewer sends no payload \
                 to sign, so Watch needs a bearer method or mTLS (--token-file, --oidc-issuer, \
                 --oauth-access-tokens or --tls-client-ca)";
        eprintln!("sinkwatch: note: {n}");
        tracing::info!("{n}");
    }
    if let Some(n) = cleartext_note(&settings, local) {
        eprintln!("sinkwatch: note: {n}");
        tracing::warn!("{n}");
    }
    if let Some(w) = &banner {
        eprintln!("sinkwatch: warning: {w}");
        tracing::warn!("{w}");
    }

    let limits = settings.store_limits();
    // Durable state, restored before the hub exists: seq continues and the
    // first alert of a key compares with its restored status. After the
    // bind, so the lock file can name this sink's address.
    if let Some(w) = retain_note(&settings, headless) {
        eprintln!("sinkwatch: warning: {w}");
        tracing::warn!("{w}");
    }
    let (store, epoch, state, state_writer) = match state_path(&settings, headless) {
        None => (
            crate::model::Store::new(limits),
            crate::state::epoch::random(),
            None,
            None,
        ),
        Some(path) => {
            // A directory is a mistake in the option (exit 2), told before
            // anything is made beside it.
            crate::state::resolve(&path).map_err(Failure::Usage)?;
            // So is a file chosen in a directory that does not exist (a
            // typo made whole directory trees, in a user's review); only
            // the default file's own directory is made.
            if matches!(settings.state, Some(crate::state::StateChoice::File(_)))
                && let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
                && std::fs::metadata(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                return Err(Failure::Usage(format!(
                    "state {}: the directory {} does not exist (create it, or choose another \
                     --state FILE)",
                    crate::sanitize::line(&path.display().to_string()),
                    crate::sanitize::line(&dir.display().to_string()),
                )));
            }
            let opened = crate::state::open(crate::state::OpenOptions {
                path,
                retain: settings.retain.0,
                listen: local.to_string(),
                limits,
            })
            .map_err(Failure::Runtime)?;
            for w in &opened.warnings {
                eprintln!("sinkwatch: warning: {w}");
                tracing::warn!("{w}");
            }
            (
                opened.store,
                opened.epoch,
                Some(opened.stats),
                opened.writer,
            )
        }
    };
    // Silences: in the state database when it is durable, else in the
    // file beside the config.
    let silence_backing = match (&state, state_path(&settings, headless)) {
        (Some(s), Some(path)) if s.durable() => {
            Some(crate::state::silences::Backing::Database(path))
        }
        _ => crate::state::silences::Backing::beside_config(settings.config_path.as_deref()),
    };
    let silences_loaded = silence_backing.as_ref().map(|b| {
        let l = crate::state::silences::load(b);
        if let Some(w) = &l.warning {
            eprintln!("sinkwatch: warning: {w}");
            tracing::warn!("{w}");
        }
        l
    });
    let hub = Hub::with_store_in_epoch(
        store,
        epoch,
        queue_within_budget(
            settings.queue,
            settings.memory_budget.0,
            settings.max_details_bytes.0,
        ),
    );
    // The state writer subscribes first of all consumers: it misses nothing.
    let state_writer = state_writer.map(|w| {
        let (_, rx) = hub.subscribe();
        // What it falls behind on is read back from the history.
        w.spawn(
            rx,
            state.clone().expect("stats of an opened state"),
            hub.refetch(),
        )
    });

    // Consumers subscribe before the server starts: they miss nothing.
    let mut recorder = None;
    if let Some(path) = &settings.record {
        let file = crate::record::open_appending(path).map_err(|e| {
            Failure::Runtime(format!("cannot open record file {}: {e}", path.display()))
        })?;
        let stats = Arc::new(WriterStats::default());
        let (_, rx) = hub.subscribe();
        let name = path.display().to_string();
        let handle = spawn_recorder(name.clone(), rx, file, stats.clone(), Some(hub.refetch()));
        recorder = Some((name, stats, handle));
    }
    // The printer owns stdout; periodic stats lines reach it through `lines`.
    let (lines_tx, lines_rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = headless.then(|| {
        let stats = Arc::new(WriterStats::default());
        let (_, rx) = hub.subscribe();
        // Silenced failures are marked (`"silenced":"<id>"`), by the
        // silences in force when this run started.
        let set = crate::model::silence::Silences::from_list(
            silences_loaded
                .as_ref()
                .map(|l| l.silences.clone())
                .unwrap_or_default(),
            crate::hub::now_ms(),
        );
        let mark: Option<crate::record::Marker> = (!set.is_empty()).then(|| {
            let set = Arc::new(set);
            Arc::new(move |r: &crate::model::AlertRecord| {
                set.silencing_parts(
                    (&r.owner, &r.repo, &r.policy),
                    &r.details,
                    r.pass,
                    r.change,
                    r.at_ms,
                )
                .map(|s| s.id.clone())
            }) as crate::record::Marker
        });
        (
            stats.clone(),
            crate::record::spawn_writer_with_lines(
                "stdout".into(),
                rx,
                std::io::stdout(),
                stats,
                lines_rx,
                mark,
                Some(hub.refetch()),
            ),
        )
    });
    let forwarder = match forward_config {
        Some(cfg) => {
            let _rt = runtime.enter();
            Some(crate::forward::Forwarder::start(&hub, cfg).map_err(Failure::Usage)?)
        }
        None => None,
    };
    let forward_stats = forwarder.as_ref().map(|f| f.stats());

    // Watching reveals every alert: with no bearer credential and no mTLS,
    // only a loopback sink serves it, unless the operator opens it.
    let viewer_credential = token.is_some()
        || oidc.is_some()
        || tokeninfo.is_some()
        || settings.tls_client_ca.is_some();
    let watch_access = if viewer_credential || is_loopback(&local) || settings.watch_open {
        crate::sink::watch::Access::Open
    } else {
        crate::sink::watch::Access::Closed
    };
    // Said once: a signature-only sink has told why already (above).
    if watch_access == crate::sink::watch::Access::Closed && signature.is_none() {
        let note = "remote viewers (Watch) are refused: the sink listens beyond loopback without \
                    a bearer token or mTLS (--watch-open serves them anyway)";
        eprintln!("sinkwatch: note: {note}");
        tracing::warn!("{note}");
    }
    let watch_stats = Arc::new(crate::sink::watch::WatchStats::default());
    let latency = metrics_listener
        .as_ref()
        .map(|_| crate::sink::latency::IngestLatency::default());
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = {
        let hub = hub.clone();
        let listener = runtime
            .block_on(async { tokio::net::TcpListener::from_std(std_listener) })
            .map_err(|e| Failure::Runtime(format!("cannot listen on {local}: {e}")))?;
        let config = SinkConfig {
            limits: settings.sink_limits(),
            token: token.clone(),
            oidc: oidc.clone(),
            tokeninfo: tokeninfo.clone(),
            signature: signature.clone(),
            combine: settings.auth,
            tls: tls.clone(),
            hook: forwarder.as_ref().and_then(|f| f.hook()),
            watch: Some(crate::sink::WatchConfig {
                access: watch_access,
                stats: watch_stats.clone(),
                forwarding: forward_stats.clone().map(|f| {
                    Arc::new(move || f.to_proto()) as crate::sink::watch::ForwardingReport
                }),
            }),
            latency: latency.clone(),
        };
        let mut stop = stop_rx.clone();
        runtime.spawn(async move {
            crate::sink::serve(listener, hub, config, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
        })
    };
    // A signal (installed at the start, before the readiness line) stops
    // the run; a second one means "now": the shutdown stops waiting (for a
    // stdout nobody reads, connections that do not close).
    let (now_tx, now_rx) = watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        runtime.spawn(async move {
            signals.recv().await;
            let _ = stop_tx.send(true);
            signals.recv().await;
            let _ = now_tx.send(true);
        });
    }
    let stop_now = move || {
        let mut now = now_rx.clone();
        async move {
            let _ = now.wait_for(|n| *n).await;
        }
    };

    if let Some((listener, bound)) = metrics_listener {
        let mut lost: Vec<(String, crate::metrics::LostCounter)> = Vec::new();
        if let Some((stats, _)) = &printer {
            let stats = stats.clone();
            lost.push(("stdout".into(), Arc::new(move || stats.lost())));
        }
        if let Some((name, stats, _)) = &recorder {
            let stats = stats.clone();
            lost.push((name.clone(), Arc::new(move || stats.lost())));
        }
        if let Some(s) = &state {
            let s = s.clone();
            lost.push((s.file.clone(), Arc::new(move || s.lost())));
        }
        let sources = crate::metrics::Sources {
            hub: hub.clone(),
            forward: forward_stats.clone(),
            lost,
            watchers: Some(watch_stats.clone()),
            state: state.clone(),
            latency: latency.as_ref().map(|l| l.histogram()),
            stopping: Some(stop_rx.clone()),
        };
        // Served until the process exits (the runtime's end drops it), so
        // the drain after a stop can be watched; readiness fails from the
        // stop on.
        runtime.spawn(crate::metrics::serve(
            listener,
            sources,
            std::future::pending::<()>(),
        ));
        tracing::info!("metrics on http://{bound}/metrics");
        if headless || !std::io::stderr().is_terminal() {
            // Before the readiness line: scripts and tests learn the port.
            eprintln!("sinkwatch: metrics on http://{bound}/metrics");
        }
    }
    tracing::info!("listening on {local}");
    if headless || !std::io::stderr().is_terminal() {
        // The readiness signal scripts and tests wait for (with --listen
        // 127.0.0.1:0 it is also how they learn the port). Under the TUI
        // only when stderr is redirected, so it never garbles the screen.
        eprintln!("sinkwatch: listening on {local}");
    }

    if settings.demo {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if local.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], local.port()))
        } else {
            local
        };
        let mut target = crate::grpc::Target::plain(format!("{scheme}://{host}"));
        target.token = token.clone();
        target.signer = demo_signer.clone();
        if let Some(t) = &tls {
            // The demo trusts the server's own certificate chain.
            target.ca_pem =
                crate::files::read_limited_bytes(&t.cert, crate::files::MAX_KEY_FILE).ok();
        }
        let rate = settings.demo_rate;
        let mut stop = stop_rx.clone();
        runtime.spawn(async move {
            tokio::select! {
                _ = crate::client::demo::run(target, rate) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }

    if let (true, Some(every)) = (headless, settings.stats_every()) {
        let hub = hub.clone();
        let forward = forward_stats.clone();
        let outputs: Vec<(String, Arc<WriterStats>)> = printer
            .iter()
            .map(|(s, _)| ("stdout".to_owned(), s.clone()))
            .chain(recorder.iter().map(|(n, s, _)| (n.clone(), s.clone())))
            .collect();
        let state = state.clone();
        let watchers = watch_stats.clone();
        let mut stop = stop_rx.clone();
        let lines_tx = lines_tx.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let mut lost: serde_json::Map<_, _> = outputs
                    .iter()
                    .map(|(n, s)| (n.clone(), s.lost().into()))
                    .collect();
                if let Some(s) = &state {
                    lost.insert(s.file.clone(), s.lost().into());
                }
                let mut line = stats_line(&hub, lost);
                line["watchers"] = watchers.to_json();
                if let Some(f) = &forward {
                    line["forward"] = f.to_json();
                }
                if let Some(s) = &state {
                    line["state"] = s.to_json();
                }
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    drop(lines_tx);

    let extras = crate::ui::Extras {
        empty_hint: empty_hint(&local, &settings),
        listen: local.to_string(),
        banner,
        recorder: recorder.as_ref().map(|(n, s, _)| (n.clone(), s.clone())),
        forward: forward_stats.clone(),
        state: state.clone(),
        remote: None,
        arrivals: None,
        bell_on: settings.bell_on.clone(),
        views: settings.views.clone(),
        viewers: Some({
            let w = watch_stats.clone();
            Arc::new(move |short| w.summary(short).unwrap_or_default())
        }),
        // The run's stop (a signal) ends the TUI too: one sent while the
        // state loaded was kept for the run, but the TUI listened only for
        // signals after it started, and ran on (a user's review).
        stop: Some({
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (flag2, mut stop) = (flag.clone(), stop_rx.clone());
            runtime.spawn(async move {
                let _ = stop.wait_for(|s| *s).await;
                flag2.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            flag
        }),
        silences: match (silence_backing, silences_loaded) {
            (Some(b), Some(l)) => {
                let set =
                    crate::model::silence::Silences::from_list(l.silences, crate::hub::now_ms());
                let saver = crate::state::silences::Saver::start(b, l.writable);
                crate::ui::state::silences::SilenceState::new(set, Some(saver), l.warning)
            }
            _ => crate::ui::state::silences::SilenceState::default(),
        },
    };
    let ui_result = match theme {
        None => {
            // Headless: until a signal, or until stdout's reader goes away
            // (`sinkwatch --no-tui | head -1`): nobody reads the lines.
            let stdout_stats = printer.as_ref().map(|(s, _)| s.clone());
            runtime.block_on(async {
                let closed = async {
                    match &stdout_stats {
                        Some(s) if !s.is_closed() => s.closed_notify.notified().await,
                        Some(_) => {}
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop_rx.wait_for(|s| *s) => {}
                    _ = closed => {}
                }
            });
            let _ = stop_tx.send(true);
            Ok(())
        }
        Some(theme) => {
            crate::ui::fmt::use_local_time(!settings.utc);
            let r = crate::ui::run_live(
                hub.clone(),
                theme,
                settings.fps,
                extras,
                runtime.handle().clone(),
            );
            let _ = stop_tx.send(true);
            r
        }
    };

    // Stop accepting, finish in-flight calls, then let consumers drain.
    // A connection whose peer does not read (a stopped viewer) can hold
    // this for the whole grace: said, not silent (a user's review took
    // the wait for a hang).
    let server = async {
        let server = tokio::time::timeout(SERVER_GRACE, server);
        tokio::pin!(server);
        tokio::select! {
            r = &mut server => return r,
            _ = tokio::time::sleep(SAY_WAITING_AFTER) => {}
        }
        let open = hub.open_connections();
        if open > 0 {
            let line = format!(
                "waiting at most {}s more for {} that {} not closed (a peer that does not \
                 read, such as a stopped viewer; signal again to stop now)",
                (SERVER_GRACE - SAY_WAITING_AFTER).as_secs(),
                match open {
                    1 => "1 connection".to_owned(),
                    n => format!("{} connections", crate::numbers::thousands(n)),
                },
                if open == 1 { "has" } else { "have" },
            );
            tracing::info!("{line}");
            eprintln!("sinkwatch: {line}");
        }
        server.await
    };
    let served = runtime.block_on(async {
        tokio::select! {
            r = server => match r {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(format!("server task failed: {e}")),
                Err(_) => Ok(()), // connections that do not close are abandoned
            },
            _ = stop_now() => Ok(()),
        }
    });
    hub.close();
    // Forward queues drain (up to the grace period) while the writers do.
    let forward_report = forwarder.map(|f| runtime.block_on(f.shutdown(settings.forward_grace)));
    let mut lost = serde_json::Map::new();
    // The state writer commits its last batch before the exit line counts it.
    let mut state_failure = None;
    if let (Some(handle), Some(s)) = (state_writer, &state) {
        let _ = handle.join();
        lost.insert(s.file.clone(), s.lost().into());
        if let Some(line) = s.summary() {
            tracing::warn!("{line}");
            // Alerts a write refused make the run fail (exit 1, the line
            // said by main), as an incomplete recording does; alerts
            // dropped while behind are counted like any slow consumer's.
            if s.failed.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                state_failure = Some(line);
            } else {
                eprintln!("sinkwatch: {line}");
            }
        }
    }
    let mut stdout_closed = false;
    let mut stdout_stuck = false;
    if let Some((stats, handle)) = printer {
        stdout_stuck =
            !crate::shutdown::finish_writer(&runtime, handle, &stats, "alerts", stop_now());
        lost.insert("stdout".into(), stats.lost().into());
        stdout_closed = stats.is_closed();
    }
    let mut record_failure = None;
    if let Some((name, stats, handle)) = recorder {
        let file = handle.join();
        lost.insert(name.clone(), stats.lost().into());
        let lagged = stats.lagged.load(std::sync::atomic::Ordering::Relaxed);
        if lagged > 0 {
            // Said where the run ends, as undelivered alerts are: the file
            // has `lost` lines, but a review saw 99.6 % of a recording gone
            // with only the stats line to tell.
            let line = format!(
                "record file {name}: {} alerts not recorded: its writer fell behind and the                  history (--history) had let them go (`lost` lines in the file)",
                crate::numbers::thousands(lagged)
            );
            eprintln!("sinkwatch: {line}");
            tracing::warn!("{line}");
        }
        if let Some(e) = stats.last_error() {
            // The recording is incomplete: the run failed (exit 1).
            record_failure = Some(format!(
                "record file: {e} ({} alerts not recorded)",
                stats.failed.load(std::sync::atomic::Ordering::Relaxed)
            ));
        }
        // Which alerts did not reach an upstream, after the alerts.
        if let (Ok(mut file), Some(report)) = (file, &forward_report) {
            let lines: Vec<_> = report.undelivered.iter().flat_map(|u| u.lines()).collect();
            if !lines.is_empty() {
                let written = lines
                    .iter()
                    .try_for_each(|l| crate::record::write_value(&mut file, l))
                    .and_then(|_| file.sync_all());
                if let Err(e) = written {
                    eprintln!(
                        "sinkwatch: record file {name}: cannot write the undelivered report: {e}"
                    );
                }
            }
        }
    }
    if let Some(report) = &forward_report {
        for line in report.summary_lines() {
            eprintln!("sinkwatch: {line}");
            tracing::warn!("{line}");
        }
    }
    if headless && !stdout_closed && !stdout_stuck {
        let mut stats = stats_line(&hub, lost);
        stats["watchers"] = watch_stats.to_json();
        if let Some(report) = &forward_report {
            stats["forward"] = report.upstreams.iter().map(|u| u.to_json()).collect();
            stats["undelivered"] = report.undelivered_total().into();
        }
        if let Some(s) = &state {
            stats["state"] = s.to_json();
        }
        // Not `println!`: a reader gone by now must not make it panic.
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = crate::record::write_value(&mut out, &stats).and_then(|_| out.flush());
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ui_result.map_err(Failure::Runtime)?;
    served.map_err(Failure::Runtime)?;
    match (record_failure, state_failure) {
        (None, None) => Ok(()),
        (Some(e), _) | (None, Some(e)) => Err(Failure::Runtime(e)),
    }
}

/// The state database of this run, if any: `--state FILE`, or by default
/// the per-port file for the interactive sink only. Headless runs (scripts,
/// tests, benchmarks) and `--demo` never write a user's state unless asked.
fn state_path(settings: &Settings, headless: bool) -> Option<std::path::PathBuf> {
    use crate::state::StateChoice;
    match settings.state.as_ref().unwrap_or(&StateChoice::Default) {
        StateChoice::File(p) => Some(p.clone()),
        StateChoice::Memory => None,
        StateChoice::Default if headless || settings.demo => None,
        StateChoice::Default => crate::state::default_path(settings.listen),
    }
}

/// A warning when `--retain` was set to something other than its default
/// and this run keeps no state for it to act on: said, not ignored.
fn retain_note(settings: &Settings, headless: bool) -> Option<String> {
    let chosen = settings.given.contains_key("retain")
        && settings.retain != crate::state::Retain(Some(crate::state::DEFAULT_RETAIN));
    (chosen && state_path(settings, headless).is_none()).then(|| {
        settings.blame(
            "--retain does nothing in this run: it keeps no state (headless runs and --demo keep \
             none unless --state FILE is given)",
        )
    })
}

/// How long a stopping sink waits for its connections to close (in-flight
/// calls to be answered) before it abandons those that do not.
const SERVER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// After how long of that wait it says what it is waiting for.
const SAY_WAITING_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The consumer queue's capacity. A consumer that lags keeps records alive
/// in the queue after the store evicted them, so the queue may hold at most
/// half the memory budget's worth of the largest details allowed (never
/// fewer than 64 records).
pub fn queue_within_budget(queue: usize, budget: usize, max_details: usize) -> usize {
    let per_record = max_details.saturating_add(512);
    queue.min((budget / 2 / per_record).max(64))
}

/// The `{"kind":"stats"}` line.
pub fn stats_line(
    hub: &Hub,
    lost: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let (accepted, evicted, keys, failing, details_evicted, memory) = hub.read(|s| {
        (
            s.accepted(),
            s.evicted(),
            s.key_count(),
            s.failing_keys(),
            s.details_evicted(),
            s.memory_used(),
        )
    });
    serde_json::json!({
        "kind": "stats",
        "at": crate::record::format_time(crate::hub::now_ms()),
        "accepted": accepted,
        "refused": hub.refused_by_reason(),
        "keys": keys,
        "failing_keys": failing,
        "evicted": evicted,
        "details_evicted": details_evicted,
        "memory_bytes": memory,
        "lost": lost,
    })
}

#[cfg(test)]
mod tests {
    /// The figure `--queue`'s help gives for the defaults.
    #[test]
    fn the_default_queue_is_held_to_what_the_help_says() {
        assert_eq!(super::queue_within_budget(65536, 1 << 30, 64 << 10), 8128);
    }

    #[test]
    fn retain_without_a_state_is_said() {
        let settings = |args: &[&str], file: &str| {
            use clap::Parser as _;
            #[derive(clap::Parser)]
            struct Cli {
                #[command(flatten)]
                run: crate::config::RunArgs,
            }
            let cli = Cli::parse_from(std::iter::once("sinkwatch").chain(args.iter().copied()));
            let parsed = crate::config::parse_file(file, "c.yaml").unwrap();
            crate::config::merge(&cli.run, parsed, Some("c.yaml".into())).unwrap()
        };
        let note = retain_note(&settings(&["--retain", "1d"], ""), true).unwrap();
        assert!(note.starts_with("--retain does nothing"), "{note}");
        let note = retain_note(&settings(&[], "history: 5\nretain: 7d\n"), true).unwrap();
        assert!(note.starts_with("c.yaml:2: --retain"), "{note}");
        assert_eq!(
            retain_note(&settings(&["--retain", "1d", "--state", "s.db"], ""), true),
            None,
            "a state to act on"
        );
        assert_eq!(
            retain_note(&settings(&["--retain", "1d"], ""), false),
            None,
            "the TUI keeps its default state"
        );
        assert_eq!(
            retain_note(&settings(&[], "retain: 30d\n"), true),
            None,
            "the printed default config sets the default"
        );
        assert_eq!(
            retain_note(&settings(&["--state", "none"], ""), false),
            None
        );
    }

    use super::*;
    use crate::cli::RunArgs;

    fn settings(args: RunArgs) -> Settings {
        crate::config::merge(&args, crate::config::FileConfig::default(), None).unwrap()
    }

    #[test]
    fn the_exposure_warning_knows_every_credential_method() {
        let open = RunArgs {
            listen: Some("0.0.0.0:1".parse().unwrap()),
            ..RunArgs::default()
        };
        // The address it was bound to, not the `:0` asked for.
        let bound: std::net::SocketAddr = "0.0.0.0:40123".parse().unwrap();
        let w = exposure_warning(&settings(open.clone()), bound).unwrap();
        assert!(w.contains("0.0.0.0:40123"), "{w}");
        for option in [
            "--token-file",
            "--oidc-issuer",
            "--oauth-access-tokens",
            "--verify-signature",
        ] {
            assert!(w.contains(option), "{w}");
        }
        let with = [
            RunArgs {
                token_file: Some("t".into()),
                ..open.clone()
            },
            RunArgs {
                oidc_issuer: Some("https://i".into()),
                oidc_audience: Some(vec!["a".into()]),
                oidc_allow: Some(vec!["s".into()]),
                ..open.clone()
            },
            RunArgs {
                oauth_access_tokens: Some(true),
                oidc_allow: Some(vec!["s".into()]),
                ..open.clone()
            },
            RunArgs {
                verify_signature: Some(crate::sink::auth::signature::KeySpec::Ed25519("k".into())),
                ..open.clone()
            },
        ];
        for args in with {
            let s = settings(args);
            assert_eq!(exposure_warning(&s, bound), None, "{s:?}");
        }
        // TLS alone authenticates nobody: still warned (fails on old).
        let tls = RunArgs {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..open.clone()
        };
        let w = exposure_warning(&settings(tls.clone()), bound).unwrap();
        assert!(w.contains("with TLS but no credential"), "{w}");
        assert!(w.contains("--tls-client-ca"), "{w}");
        let mtls = RunArgs {
            tls_client_ca: Some("ca.pem".into()),
            ..tls
        };
        assert_eq!(exposure_warning(&settings(mtls), bound), None);
        // Bearer tokens without TLS beyond loopback: a note.
        let s = settings(RunArgs {
            oidc_issuer: Some("https://i".into()),
            oidc_audience: Some(vec!["a".into()]),
            ..open
        });
        assert!(cleartext_note(&s, bound).unwrap().contains("without TLS"));
    }

    #[test]
    fn the_empty_panes_send_example_carries_what_the_sink_requires() {
        let local: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(empty_hint(&local, &settings(RunArgs::default())), None);
        let token = settings(RunArgs {
            token_file: Some("/run/t".into()),
            ..RunArgs::default()
        });
        let hint = empty_hint(&local, &token).unwrap();
        assert_eq!(hint.send_args, "--to 127.0.0.1:7000 --token-file /run/t");
        assert_eq!(hint.waiting, "on 127.0.0.1:7000");
        let signed = settings(RunArgs {
            verify_signature: Some(crate::sink::auth::signature::KeySpec::Hmac("/s".into())),
            ..RunArgs::default()
        });
        assert_eq!(
            empty_hint(&local, &signed).unwrap().send_args,
            "--to 127.0.0.1:7000 --sign hmac:/s"
        );
    }

    use crate::state::StateChoice;

    fn state_settings(state: StateChoice, demo: bool, listen: &str) -> Settings {
        let mut s = crate::config::merge(
            &crate::cli::RunArgs::default(),
            crate::config::FileConfig::default(),
            None,
        )
        .unwrap();
        s.state = Some(state);
        s.demo = demo;
        s.listen = listen.parse().unwrap();
        s
    }

    #[test]
    fn the_default_state_is_for_the_interactive_sink_only() {
        let tui = state_settings(StateChoice::Default, false, "127.0.0.1:50051");
        let default = state_path(&tui, false).expect("a default file");
        assert!(default.ends_with("sinkwatch/state-50051.db"), "{default:?}");
        // Headless, demo traffic and port 0 never write a user's state.
        assert_eq!(state_path(&tui, true), None);
        let demo = state_settings(StateChoice::Default, true, "127.0.0.1:50051");
        assert_eq!(state_path(&demo, false), None);
        let port0 = state_settings(StateChoice::Default, false, "127.0.0.1:0");
        assert_eq!(state_path(&port0, false), None);
        // Unless asked for.
        let chosen = state_settings(StateChoice::File("x.db".into()), true, "127.0.0.1:0");
        assert_eq!(state_path(&chosen, true), Some("x.db".into()));
        let none = state_settings(StateChoice::Memory, false, "127.0.0.1:50051");
        assert_eq!(state_path(&none, false), None);
    }
}
