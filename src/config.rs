//! The YAML config file and its merge with the command line.
//!
//! Keys mirror the long CLI options (`listen`, `demo-rate`, `forward`, …);
//! the command line wins over the file, the file over the defaults. Unknown
//! keys and bad values are errors naming the file, the line and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{ForwardMode, RunArgs, WhenBehind};
use crate::model::store::DEFAULT_HISTORY;
use crate::sink::SinkLimits;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_DEMO_RATE: f64 = 25.0;
pub const DEFAULT_FPS: u32 = 30;

/// The config file. Every key is optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub listen: Option<Listen>,
    pub no_tui: Option<bool>,
    pub demo: Option<bool>,
    pub demo_rate: Option<Positive>,
    pub forward: Option<Vec<String>>,
    pub forward_mode: Option<ForwardMode>,
    pub record: Option<PathBuf>,
    pub theme: Option<String>,
    pub utc: Option<bool>,
    pub history: Option<Count>,
    pub fps: Option<Count>,
    pub queue: Option<Count>,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub max_message_bytes: Option<Count>,
    pub max_details_bytes: Option<Count>,
    pub max_name_bytes: Option<Count>,
    pub stats_interval: Option<u64>,
    pub max_connections: Option<Count>,
    pub idle_timeout: Option<crate::sink::limits::DurationSetting>,
    pub rate_limit: Option<crate::sink::limits::RateSetting>,
    pub forward_queue: Option<Count>,
    pub forward_when_behind: Option<WhenBehind>,
    pub forward_concurrency: Option<Count>,
    pub forward_retries: Option<u32>,
    pub forward_timeout: Option<Positive>,
    pub forward_grace: Option<NonNegative>,
    pub forward_ca: Option<PathBuf>,
    pub forward_token_file: Option<PathBuf>,
    pub forward_metadata: Option<bool>,
}

/// A listen address, checked while parsing so errors carry the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen(pub SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_listen(&s)
            .map(Listen)
            .map_err(serde::de::Error::custom)
    }
}

/// A whole number ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count(pub usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n == 0 {
            return Err(serde::de::Error::custom("must be at least 1"));
        }
        usize::try_from(n)
            .map(Count)
            .map_err(|_| serde::de::Error::custom("too large"))
    }
}

/// A number > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = f64::deserialize(d)?;
        if !(n.is_finite() && n > 0.0) {
            return Err(serde::de::Error::custom("must be a number above 0"));
        }
        Ok(Positive(n))
    }
}

/// A number ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = f64::deserialize(d)?;
        if !(n.is_finite() && n >= 0.0) {
            return Err(serde::de::Error::custom("must be a number, 0 or more"));
        }
        Ok(NonNegative(n))
    }
}

/// Parses `host:port`; `localhost` means 127.0.0.1.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid listen address {s:?}: bad port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!(
            "invalid listen address {s:?}: expected IP:PORT such as 127.0.0.1:50051 or [::1]:50051"
        )
    })
}

/// A config error: one line naming the file, the line and the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Parses config text; `origin` names the file in errors.
pub fn parse_file(text: &str, origin: &str) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_yaml::from_str::<Option<FileConfig>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            let msg = strip_location(&e.to_string());
            let msg = name_the_key(&msg, text, e.location());
            // One line, whatever the file holds (a block scalar quoted in
            // the message would otherwise break it).
            let msg = crate::sanitize::line(&msg);
            match e.location() {
                Some(l) => ConfigError(format!("{origin}:{}:{}: {msg}", l.line(), l.column())),
                None => ConfigError(format!("{origin}: {msg}")),
            }
        })
}

/// serde_yaml appends " at line L column C"; the location is printed first.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Value errors do not say which key they belong to; the line does.
fn name_the_key(msg: &str, text: &str, loc: Option<serde_yaml::Location>) -> String {
    if msg.contains("unknown field") {
        return msg.to_owned();
    }
    let Some(loc) = loc else {
        return msg.to_owned();
    };
    let line = text.lines().nth(loc.line().saturating_sub(1)).unwrap_or("");
    let key = line
        .trim_start()
        .trim_start_matches("- ")
        .split(':')
        .next()
        .unwrap_or("")
        .trim();
    if !key.is_empty()
        && line.contains(':')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        format!("key `{key}`: {msg}")
    } else {
        msg.to_owned()
    }
}

/// The default config path: `<config dir>/sinkwatch/config.yaml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sinkwatch").join("config.yaml"))
}

/// Reads the file named by `--config`, or the default one when present.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Some(p) if p.is_file() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("{}: cannot read config: {e}", path.display())))?;
    let cfg = parse_file(&text, &path.display().to_string())?;
    Ok((cfg, Some(path)))
}

/// The effective settings after merging defaults, file and command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub no_tui: bool,
    pub demo: bool,
    pub demo_rate: f64,
    pub forward: Vec<String>,
    pub forward_mode: ForwardMode,
    pub record: Option<PathBuf>,
    pub theme: Option<String>,
    /// TUI times in UTC rather than local time.
    pub utc: bool,
    pub history: usize,
    pub fps: u32,
    pub queue: usize,
    pub token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub limits: SinkLimits,
    pub stats_interval: Option<Duration>,
    pub config_path: Option<PathBuf>,
    pub forward_queue: usize,
    pub forward_when_behind: WhenBehind,
    pub forward_concurrency: usize,
    pub forward_retries: u32,
    pub forward_timeout: Duration,
    pub forward_grace: Duration,
    pub forward_ca: Option<PathBuf>,
    pub forward_token_file: Option<PathBuf>,
    pub forward_metadata: bool,
}

/// Merges: command line over file over defaults. Errors name the option.
pub fn merge(
    cli: &RunArgs,
    file: FileConfig,
    config_path: Option<PathBuf>,
) -> Result<Settings, ConfigError> {
    let listen = match &cli.listen {
        Some(s) => parse_listen(s).map_err(|e| ConfigError(format!("--listen: {e}")))?,
        None => file
            .listen
            .map(|l| l.0)
            .unwrap_or_else(|| parse_listen(DEFAULT_LISTEN).expect("default listen address")),
    };
    let positive = |name: &str, v: Option<usize>| -> Result<Option<usize>, ConfigError> {
        match v {
            Some(0) => Err(ConfigError(format!("--{name}: must be at least 1"))),
            other => Ok(other),
        }
    };
    let demo_rate = match cli.demo_rate {
        Some(r) if !(r.is_finite() && r > 0.0) => {
            return Err(ConfigError("--demo-rate: must be a number above 0".into()));
        }
        Some(r) => r,
        None => file.demo_rate.map(|p| p.0).unwrap_or(DEFAULT_DEMO_RATE),
    };
    let defaults = SinkLimits::default();
    let limits = SinkLimits {
        max_message_bytes: positive("max-message-bytes", cli.max_message_bytes)?
            .or(file.max_message_bytes.map(|c| c.0))
            .unwrap_or(defaults.max_message_bytes),
        max_details_bytes: positive("max-details-bytes", cli.max_details_bytes)?
            .or(file.max_details_bytes.map(|c| c.0))
            .unwrap_or(defaults.max_details_bytes),
        max_name_bytes: positive("max-name-bytes", cli.max_name_bytes)?
            .or(file.max_name_bytes.map(|c| c.0))
            .unwrap_or(defaults.max_name_bytes),
        max_connections: positive("max-connections", cli.max_connections)?
            .or(file.max_connections.map(|c| c.0))
            .unwrap_or(defaults.max_connections),
        idle_timeout: cli
            .idle_timeout
            .or(file.idle_timeout.map(|d| d.0))
            .unwrap_or(defaults.idle_timeout),
        rate_limit: cli.rate_limit.or(file.rate_limit.map(|r| r.0)),
        ..defaults
    };
    let fps = match cli.fps {
        Some(0) => return Err(ConfigError("--fps: must be at least 1".into())),
        Some(f) => f,
        None => file.fps.map(|c| c.0 as u32).unwrap_or(DEFAULT_FPS),
    }
    .min(240);
    let forward = if cli.forward.is_empty() {
        file.forward.unwrap_or_default()
    } else {
        cli.forward.clone()
    };
    let tls_cert = cli.tls_cert.clone().or(file.tls_cert);
    let tls_key = cli.tls_key.clone().or(file.tls_key);
    if tls_cert.is_some() != tls_key.is_some() {
        return Err(ConfigError(
            "tls-cert and tls-key go together: set both or neither".into(),
        ));
    }
    let tls_client_ca = cli.tls_client_ca.clone().or(file.tls_client_ca);
    if tls_client_ca.is_some() && tls_cert.is_none() {
        return Err(ConfigError(
            "tls-client-ca needs tls-cert and tls-key (mTLS is TLS first)".into(),
        ));
    }
    let stats = cli.stats_interval.or(file.stats_interval).unwrap_or(0);
    let forward_timeout = match cli.forward_timeout {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            return Err(ConfigError(
                "--forward-timeout: must be a number of seconds above 0".into(),
            ));
        }
        Some(t) => t,
        None => file
            .forward_timeout
            .map(|p| p.0)
            .unwrap_or(crate::forward::DEFAULT_TIMEOUT.as_secs_f64()),
    };
    let forward_grace = match cli.forward_grace {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            return Err(ConfigError(
                "--forward-grace: must be a number of seconds, 0 or more".into(),
            ));
        }
        Some(t) => t,
        None => file
            .forward_grace
            .map(|p| p.0)
            .unwrap_or(crate::forward::DEFAULT_GRACE.as_secs_f64()),
    };
    Ok(Settings {
        listen,
        no_tui: cli.no_tui || file.no_tui.unwrap_or(false),
        demo: cli.demo || file.demo.unwrap_or(false),
        demo_rate,
        forward,
        forward_mode: cli.forward_mode.or(file.forward_mode).unwrap_or_default(),
        record: cli.record.clone().or(file.record),
        theme: cli.theme.clone().or(file.theme),
        utc: cli.utc || file.utc.unwrap_or(false),
        history: positive("history", cli.history)?
            .or(file.history.map(|c| c.0))
            .unwrap_or(DEFAULT_HISTORY),
        fps,
        queue: positive("queue", cli.queue)?
            .or(file.queue.map(|c| c.0))
            .unwrap_or(crate::hub::DEFAULT_QUEUE),
        token_file: cli.token_file.clone().or(file.token_file),
        tls_cert,
        tls_key,
        tls_client_ca,
        limits,
        stats_interval: (stats > 0).then(|| Duration::from_secs(stats)),
        config_path,
        forward_queue: positive("forward-queue", cli.forward_queue)?
            .or(file.forward_queue.map(|c| c.0))
            .unwrap_or(crate::forward::DEFAULT_QUEUE),
        forward_when_behind: cli
            .forward_when_behind
            .or(file.forward_when_behind)
            .unwrap_or_default(),
        forward_concurrency: positive("forward-concurrency", cli.forward_concurrency)?
            .or(file.forward_concurrency.map(|c| c.0))
            .unwrap_or(crate::forward::DEFAULT_CONCURRENCY),
        forward_retries: cli
            .forward_retries
            .or(file.forward_retries)
            .unwrap_or(crate::forward::DEFAULT_RETRIES),
        forward_timeout: Duration::from_secs_f64(forward_timeout.min(1e9)),
        forward_grace: Duration::from_secs_f64(forward_grace.min(1e9)),
        forward_ca: cli.forward_ca.clone().or(file.forward_ca),
        forward_token_file: cli.forward_token_file.clone().or(file.forward_token_file),
        forward_metadata: cli.forward_metadata || file.forward_metadata.unwrap_or(false),
    })
}

/// Reads a secret token from a file: its first line, trimmed. Errors name
/// the file.
pub fn read_token(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read token file: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(ConfigError(format!(
            "{}: token file is empty",
            path.display()
        )));
    }
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ConfigError(format!(
            "{}: token must be printable ASCII without spaces",
            path.display()
        )));
    }
    Ok(token)
}

/// The commented default config printed by `sinkwatch config`.
pub const DEFAULT_CONFIG: &str = r#"# sinkwatch config file: <config dir>/sinkwatch/config.yaml, or --config FILE.
# Keys mirror the long command-line options; the command line wins.
# Unknown keys are errors.

# Address of the embedded AlertSink gRPC server. Anything beyond loopback
# should use TLS (tls-cert/tls-key) or a token (token-file).
listen: 127.0.0.1:50051

# Headless: JSON lines on stdout instead of the TUI.
no-tui: false

# Feed synthetic Allstar traffic into the sink, at demo-rate alerts/s.
demo: false
demo-rate: 25

# Tee every accepted alert to other AlertSinks (http://, https:// or host:port).
# forward:
#   - http://127.0.0.1:50052
# tee: answer senders at once; proxy: answer with the first upstream's status.
forward-mode: tee
# Per upstream: queue capacity (full: dropped and counted), requests in
# flight, retries of transient failures, and the deadline of one attempt.
forward-queue: 100000
forward-concurrency: 64
# When a healthy tee upstream falls behind (half its queue waiting):
# wait = hold each sender's answer until it catches up (backpressure; at
# most forward-timeout), drop = answer at once and drop what does not fit.
forward-when-behind: wait
forward-retries: 5
forward-timeout: 10
# On exit, seconds to drain the queues before reporting what was not delivered.
forward-grace: 5
# https:// upstreams: a CA file (default: system roots) and a bearer token.
# forward-ca: /etc/sinkwatch/upstream-ca.pem
# forward-token-file: /etc/sinkwatch/upstream-token
# Proxy mode: pass the sender's metadata on (never authorization or cookies).
forward-metadata: false

# Append every accepted alert to this file as JSON lines.
# record: /var/log/sinkwatch/alerts.jsonl

# A built-in theme (dark, light, high-contrast, …), a user theme in
# <config dir>/sinkwatch/themes/NAME.yaml, or a path to a YAML file.
theme: dark

# Show the TUI's times in UTC (as in the JSON lines) instead of local time.
utc: false

# Alerts kept in the event history ring.
history: 250000

# Maximum frames per second of the TUI.
fps: 30

# Capacity of each consumer's queue (printer, recorder, UI).
queue: 65536

# Require `authorization: Bearer <token>` (the file's first line).
# token-file: /etc/sinkwatch/token

# TLS for the server, and mTLS with a client CA.
# tls-cert: /etc/sinkwatch/server.pem
# tls-key: /etc/sinkwatch/server.key
# tls-client-ca: /etc/sinkwatch/allstar-ca.pem

# Limits (bytes).
max-message-bytes: 1048576
max-details-bytes: 65536
max-name-bytes: 256

# Connections open at once. At the limit a new connection evicts the oldest
# one that has not made a request yet; if all have, it is closed (counted).
max-connections: 1024
# A new connection must make its first request within this time (TLS
# handshake included), or it is closed: idle connection floods cannot pile up.
idle-timeout: 10s
# Requests per second per client address (IPv6: per /64), e.g. 100/s;
# beyond it RESOURCE_EXHAUSTED. Unset: unlimited.
# rate-limit: 100/s

# Headless: a {"kind":"stats"} line every N seconds (0: only at exit).
stats-interval: 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_parses_to_the_defaults() {
        let file = parse_file(DEFAULT_CONFIG, "default").unwrap();
        let s = merge(&RunArgs::default(), file, None).unwrap();
        let d = merge(&RunArgs::default(), FileConfig::default(), None).unwrap();
        assert_eq!(s.listen, d.listen);
        assert_eq!(s.history, d.history);
        assert_eq!(s.fps, d.fps);
        assert_eq!(s.queue, d.queue);
        assert_eq!(s.demo_rate, d.demo_rate);
        assert_eq!(s.limits.max_details_bytes, d.limits.max_details_bytes);
        assert_eq!(s.theme.as_deref(), Some("dark"));
        assert_eq!(s.forward_queue, d.forward_queue);
        assert_eq!(s.forward_concurrency, d.forward_concurrency);
        assert_eq!(s.forward_retries, d.forward_retries);
        assert_eq!(s.forward_timeout, d.forward_timeout);
        assert_eq!(s.forward_grace, d.forward_grace);
        assert_eq!(s.forward_metadata, d.forward_metadata);
        assert_eq!(s.forward_when_behind, d.forward_when_behind);
    }

    #[test]
    fn forward_options_merge_and_check() {
        let file = parse_file(
            "forward-queue: 5\nforward-grace: 0\nforward-timeout: 0.5\nforward-when-behind: drop\n",
            "f",
        )
        .unwrap();
        let cli = RunArgs {
            forward_retries: Some(0),
            ..RunArgs::default()
        };
        let s = merge(&cli, file, None).unwrap();
        assert_eq!(s.forward_queue, 5);
        assert_eq!(s.forward_retries, 0);
        assert_eq!(s.forward_grace, Duration::ZERO);
        assert_eq!(s.forward_timeout, Duration::from_millis(500));
        assert_eq!(s.forward_when_behind, WhenBehind::Drop);
        let cli = RunArgs {
            forward_when_behind: Some(WhenBehind::Wait),
            ..RunArgs::default()
        };
        let file = parse_file("forward-when-behind: drop\n", "f").unwrap();
        assert_eq!(
            merge(&cli, file, None).unwrap().forward_when_behind,
            WhenBehind::Wait,
            "the command line wins"
        );
        let err = parse_file("\nforward-when-behind: block\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(parse_file("forward-timeout: 0\n", "f").is_err());
        assert!(parse_file("forward-grace: -1\n", "f").is_err());
        let cli = RunArgs {
            forward_queue: Some(0),
            ..RunArgs::default()
        };
        assert!(merge(&cli, FileConfig::default(), None).is_err());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_file("listen: 127.0.0.1:1\nhistroy: 5\n", "/etc/sw.yaml").unwrap_err();
        assert!(err.0.starts_with("/etc/sw.yaml:2:1: "), "{err}");
        assert!(err.0.contains("unknown field `histroy`"), "{err}");
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let err = parse_file("fps: 30\nhistory: -3\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(err.0.contains("`history`"), "{err}");

        let err = parse_file("\nlisten: nowhere\n", "c.yaml").unwrap_err();
        assert!(err.0.starts_with("c.yaml:2:"), "{err}");
        assert!(
            err.0.contains("listen") && err.0.contains("nowhere"),
            "{err}"
        );

        let err = parse_file("forward-mode: mirror\n", "c.yaml").unwrap_err();
        assert!(
            err.0.contains("forward-mode") || err.0.contains("mirror"),
            "{err}"
        );

        let err = parse_file("queue: 0\n", "c.yaml").unwrap_err();
        assert!(err.0.contains("at least 1"), "{err}");
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let file = parse_file(
            "listen: 127.0.0.1:7000\nhistory: 10\nforward: [\"a:1\"]\n",
            "f",
        )
        .unwrap();
        let cli = RunArgs {
            listen: Some("127.0.0.1:8000".into()),
            forward: vec!["b:2".into()],
            ..RunArgs::default()
        };
        let s = merge(&cli, file, None).unwrap();
        assert_eq!(s.listen.port(), 8000);
        assert_eq!(s.history, 10, "the file fills what the CLI leaves out");
        assert_eq!(s.forward, vec!["b:2".to_string()]);
    }

    #[test]
    fn tls_options_must_come_together() {
        let file = parse_file("tls-cert: a.pem\n", "f").unwrap();
        assert!(merge(&RunArgs::default(), file, None).is_err());
    }

    #[test]
    fn empty_and_comment_only_files_are_fine() {
        assert_eq!(parse_file("", "f").unwrap(), FileConfig::default());
        assert_eq!(
            parse_file("# nothing\n", "f").unwrap(),
            FileConfig::default()
        );
    }

    #[test]
    fn listen_accepts_ipv6_and_localhost() {
        assert_eq!(parse_listen("[::1]:9").unwrap().port(), 9);
        assert!(parse_listen("localhost:50051").unwrap().ip().is_loopback());
        assert!(parse_listen("50051").is_err());
    }
}
