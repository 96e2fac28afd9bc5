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
    // -- bounds under attack (issue 15) --
    pub memory_budget: Option<crate::sink::limits::BytesSetting>,
    pub max_connections_per_peer: Option<Count>,
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
    if let Some(line) = too_deep(text, MAX_YAML_DEPTH) {
        return Err(ConfigError(format!(
            "{origin}:{line}: nested deeper than {MAX_YAML_DEPTH} levels"
        )));
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

/// Largest config or theme file read (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest token file read (the token is its first line).
pub const MAX_TOKEN_BYTES: u64 = 64 << 10;
/// Deepest `[`/`{` nesting accepted in a YAML file: the parser's time grows
/// with the square of the depth (100,000 levels took 16 s), and no setting
/// nests more than two.
pub const MAX_YAML_DEPTH: usize = 32;

/// Reads a text file of at most `limit` bytes: `/dev/zero` or a huge file
/// is an error, not an endless read.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes; not a file for this"
        )));
    }
    Ok(text)
}

/// The deepest flow nesting (`[`, `{`) of YAML text outside quotes and
/// comments, and the line where it is first exceeded.
fn too_deep(text: &str, max: usize) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
        } else if comment {
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '"' | '\'' => quote = Some(c),
                '#' if prev.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > max {
                        return Some(line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    None
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
    let text = read_limited(&path, MAX_CONFIG_BYTES)
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
    /// Bytes the store (history and per-key state) may hold.
    pub memory_budget: usize,
}

/// Range of `--memory-budget`: below 16 MiB the fixed costs dominate.
pub const MEMORY_BUDGET_RANGE: std::ops::RangeInclusive<usize> = (16 << 20)..=(1 << 40);

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
    let memory_budget = cli
        .memory_budget
        .or(file.memory_budget.map(|b| b.0))
        .unwrap_or(crate::model::store::DEFAULT_MEMORY_BUDGET);
    if !MEMORY_BUDGET_RANGE.contains(&memory_budget) {
        return Err(ConfigError(format!(
            "--memory-budget: {memory_budget} bytes is out of range (16MiB..=1TiB)"
        )));
    }
    let limits = {
        let per_peer = positive("max-connections-per-peer", cli.max_connections_per_peer)?
            .or(file.max_connections_per_peer.map(|c| c.0));
        if let Some(n) = per_peer
            && n > limits.max_connections
        {
            return Err(ConfigError(format!(
                "--max-connections-per-peer: {n} is above --max-connections ({})",
                limits.max_connections
            )));
        }
        SinkLimits {
            max_connections_per_peer: per_peer
                .unwrap_or(crate::sink::limits::DEFAULT_MAX_CONNECTIONS_PER_PEER)
                .min(limits.max_connections),
            max_buffered_bytes: (memory_budget / 4).max(limits.max_message_bytes),
            ..limits
        }
    };
    let fps = match cli.fps {
        Some(0) => return Err(ConfigError("--fps: must be at least 1".into())),
        Some(f) => f,
        None => file
            .fps
            .map(|c| c.0.min(u32::MAX as usize) as u32)
            .unwrap_or(DEFAULT_FPS),
    };
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
    let settings = Settings {
        listen,
        no_tui: cli.no_tui || file.no_tui.unwrap_or(false),
        demo: cli.demo || file.demo.unwrap_or(false),
        demo_rate,
        forward,
        forward_mode: cli.forward_mode.or(file.forward_mode).unwrap_or_default(),
        record: cli.record.clone().or(file.record),
        theme: cli.theme.clone().or(file.theme),
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
        memory_budget,
    };
    check_ranges(&settings)?;
    Ok(settings)
}

/// The documented range of every numeric option (README "Limits and
/// ranges"); a value outside is a usage error naming the option. The upper
/// bounds keep what is allocated or scheduled from a value sane: a queue is
/// allocated at start, a stats interval becomes a timer, each forwarding
/// lane costs memory up front.
pub fn check_ranges(s: &Settings) -> Result<(), ConfigError> {
    fn whole(name: &str, v: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&v) {
            return Ok(());
        }
        Err(ConfigError(format!(
            "--{name}: {v} is out of range ({lo}..={hi})"
        )))
    }
    fn real(name: &str, v: f64, lo: f64, lo_open: bool, hi: f64) -> Result<(), ConfigError> {
        let above = if lo_open { v > lo } else { v >= lo };
        if above && v <= hi {
            return Ok(());
        }
        let open = if lo_open { "above " } else { "" };
        Err(ConfigError(format!(
            "--{name}: {v} is out of range ({open}{lo} up to {hi})"
        )))
    }
    let l = &s.limits;
    whole("history", s.history, 1, 50_000_000)?;
    whole("fps", s.fps as usize, 1, 240)?;
    whole("queue", s.queue, 1, 1 << 20)?;
    whole("max-message-bytes", l.max_message_bytes, 64, 64 << 20)?;
    whole("max-details-bytes", l.max_details_bytes, 1, 16 << 20)?;
    whole("max-name-bytes", l.max_name_bytes, 1, 65_536)?;
    whole("max-connections", l.max_connections, 1, 65_536)?;
    whole("forward-queue", s.forward_queue, 1, 10_000_000)?;
    whole("forward-concurrency", s.forward_concurrency, 1, 1024)?;
    whole("forward-retries", s.forward_retries as usize, 0, 100)?;
    let stats = s.stats_interval.map_or(0, |d| d.as_secs());
    whole("stats-interval", stats as usize, 0, 86_400)?;
    real("demo-rate", s.demo_rate, 0.0, true, 100_000.0)?;
    real(
        "idle-timeout",
        l.idle_timeout.as_secs_f64(),
        0.001,
        false,
        3600.0,
    )?;
    if let Some(r) = l.rate_limit {
        real("rate-limit", r, 0.0, true, 1e9)?;
    }
    real(
        "forward-timeout",
        s.forward_timeout.as_secs_f64(),
        0.0,
        true,
        3600.0,
    )?;
    real(
        "forward-grace",
        s.forward_grace.as_secs_f64(),
        0.0,
        false,
        3600.0,
    )?;
    Ok(())
}

/// Reads a secret token from a file: its first line, trimmed. Errors name
/// the file.
pub fn read_token(path: &Path) -> Result<String, ConfigError> {
    let text = read_limited(path, MAX_TOKEN_BYTES)
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
# one that has had no alert accepted (ever, or for idle-timeout); if none
# qualifies, it is closed (counted).
max-connections: 1024
# A new connection must get an alert accepted within this time (TLS
# handshake included), or it is closed: idle connection floods cannot pile
# up. A write the peer does not read for as long closes a connection too.
idle-timeout: 10s
# Requests per second per client address (IPv6: per /64), e.g. 100/s;
# beyond it RESOURCE_EXHAUSTED. Unset: unlimited.
# rate-limit: 100/s

# Headless: a {"kind":"stats"} line every N seconds (0: only at exit).
stats-interval: 0

# Bytes the history and the per-key state may hold (16MiB..1TiB); over it the
# oldest events are evicted first (counted), then the oldest keys' details.
memory-budget: 1GiB
# Connections open at once from one client address (IPv6: per /64).
max-connections-per-peer: 64
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
        assert_eq!(s.memory_budget, d.memory_budget);
        assert_eq!(
            s.limits.max_connections_per_peer,
            d.limits.max_connections_per_peer
        );
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
    fn deep_nesting_is_refused_at_once_naming_the_line() {
        let bomb = format!("forward: {}", "[".repeat(100_000));
        let started = std::time::Instant::now();
        let err = parse_file(&bomb, "c.yaml").unwrap_err();
        assert_eq!(err.0, "c.yaml:1: nested deeper than 32 levels");
        // Brackets in quotes and comments are text.
        let ok = format!("theme: \"{}\" # {}\n", "[".repeat(100), "{".repeat(100));
        assert!(parse_file(&ok, "c.yaml").is_ok());
        eprintln!("refused in {:?}", started.elapsed());
    }

    #[test]
    fn every_numeric_option_has_a_range() {
        let over = |args: &[&str]| {
            let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(
                std::iter::once("sinkwatch").chain(args.iter().copied()),
            )
            .unwrap();
            merge(&cli.run, FileConfig::default(), None).unwrap_err().0
        };
        for (opt, v) in [
            ("--queue", "100000000000"),
            ("--stats-interval", "18446744073709551615"),
            ("--forward-concurrency", "1000000"),
            ("--history", "1000000000"),
            ("--fps", "1000"),
            ("--max-message-bytes", "10"),
            ("--max-details-bytes", "100000000"),
            ("--max-name-bytes", "1000000"),
            ("--max-connections", "1000000"),
            ("--forward-queue", "100000000"),
            ("--forward-retries", "1000"),
            ("--forward-timeout", "100000"),
            ("--forward-grace", "100000"),
            ("--demo-rate", "1e9"),
            ("--idle-timeout", "2h"),
            ("--rate-limit", "1e12/s"),
        ] {
            let err = over(&[opt, v]);
            assert!(
                err.starts_with(opt) && err.contains("out of range") && err.lines().count() == 1,
                "{opt} {v}: {err}"
            );
        }
        let file = parse_file("queue: 100000000000\n", "c.yaml").unwrap();
        let err = merge(&RunArgs::default(), file, None).unwrap_err().0;
        assert!(err.starts_with("--queue:"), "{err}");
    }

    #[test]
    fn files_are_read_with_a_size_limit() {
        let err = read_limited(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
        let err = read_token(Path::new("/dev/zero")).unwrap_err();
        assert!(
            err.0.starts_with("/dev/zero: cannot read token file"),
            "{err}"
        );
        let err = load(Some(Path::new("/dev/zero"))).unwrap_err();
        assert!(err.0.starts_with("/dev/zero: cannot read config"), "{err}");
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
