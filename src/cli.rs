//! Command-line interface (DESIGN §4). Names here are a contract: add, don't
//! rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "sinkwatch",
    version,
    about = "Live terminal monitor for OpenSSF Allstar's rpc action: an embedded gRPC AlertSink",
    long_about = "Runs an AlertSink gRPC server (/AlertSink/Alert) and shows every alert it receives \
                  live, by org, repo and policy, with failing checks, their details and pass/fail \
                  transitions. Headless (JSON lines on stdout) with --no-tui or when stdout is not a \
                  terminal.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of the sink itself (the default mode). Every field is optional so
/// that the config file can fill what the command line leaves out.
#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// Address to listen on [default: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Headless: one JSON object per accepted alert on stdout
    #[arg(long)]
    pub no_tui: bool,
    /// Also feed realistic synthetic Allstar traffic into the sink
    #[arg(long)]
    pub demo: bool,
    /// Demo alerts per second [default: 25]
    #[arg(long, value_name = "N")]
    pub demo_rate: Option<f64>,
    /// Tee every accepted alert to another AlertSink (repeatable; http://, https:// or host:port)
    #[arg(long, value_name = "URL")]
    pub forward: Vec<String>,
    /// tee: answer the sender at once; proxy: answer with the first upstream's status
    #[arg(long, value_enum, value_name = "MODE")]
    pub forward_mode: Option<ForwardMode>,
    /// Append every accepted alert to FILE as JSON lines
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Config file [default: <config dir>/sinkwatch/config.yaml when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Theme: a built-in name (dark, light, high-contrast, …), a user theme, or a YAML file
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Alerts kept in the event history ring [default: 250000]
    #[arg(long, value_name = "N")]
    pub history: Option<usize>,
    /// Maximum TUI frames per second [default: 30]
    #[arg(long, value_name = "N")]
    pub fps: Option<u32>,
    /// Capacity of each consumer's queue (printer, recorder, UI) [default: 65536]
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Require `authorization: Bearer <token>`; the token is the file's first line
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve TLS with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key for --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mTLS)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Largest request message accepted, in bytes [default: 1048576]
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Largest details field accepted, in bytes [default: 65536]
    #[arg(long, value_name = "BYTES")]
    pub max_details_bytes: Option<usize>,
    /// Largest owner/repo/policy name accepted, in bytes [default: 256]
    #[arg(long, value_name = "BYTES")]
    pub max_name_bytes: Option<usize>,
    /// Headless: print a {"kind":"stats"} line every SECS seconds (0: only at exit) [default: 0]
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<u64>,
    /// Connections open at once (1..=65536); at the limit a new one evicts the oldest that has had no alert accepted (ever, or for --idle-timeout), or is closed [default: 1024]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Time a new connection has to get an alert accepted (TLS handshake included), and the longest a write may wait for the peer to read, e.g. 10s (1ms..=1h) [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = crate::sink::limits::parse_timeout)]
    pub idle_timeout: Option<std::time::Duration>,
    /// Requests per second per client address (IPv6: per /64), e.g. 100/s; over it: RESOURCE_EXHAUSTED [default: unlimited]
    #[arg(long, value_name = "RATE", value_parser = crate::sink::limits::parse_rate)]
    pub rate_limit: Option<f64>,
    /// Capacity of each upstream's forward queue; when full, alerts are dropped and counted [default: 100000]
    #[arg(long, value_name = "N")]
    pub forward_queue: Option<usize>,
    /// When a healthy tee upstream falls behind (half its queue waiting): wait = hold each sender's answer until it catches up (at most --forward-timeout), drop = answer at once, drop what does not fit (counted) [default: wait]
    #[arg(long, value_enum, value_name = "WHAT")]
    pub forward_when_behind: Option<WhenBehind>,
    /// Requests in flight at once per upstream (alerts of one key stay in order) [default: 64]
    #[arg(long, value_name = "N")]
    pub forward_concurrency: Option<usize>,
    /// Retries of a transient upstream failure (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED) [default: 5]
    #[arg(long, value_name = "N")]
    pub forward_retries: Option<u32>,
    /// Deadline of one forward attempt, and of a proxied call [default: 10]
    #[arg(long, value_name = "SECS")]
    pub forward_timeout: Option<f64>,
    /// On exit, time to drain the forward queues before reporting what was not delivered [default: 5]
    #[arg(long, value_name = "SECS")]
    pub forward_grace: Option<f64>,
    /// CA certificate (PEM) to verify https:// upstreams [default: system roots]
    #[arg(long, value_name = "FILE")]
    pub forward_ca: Option<PathBuf>,
    /// Send `authorization: Bearer <token>` to upstreams; the token is the file's first line
    #[arg(long, value_name = "FILE")]
    pub forward_token_file: Option<PathBuf>,
    /// Proxy mode: pass the sender's metadata on to the upstream (never authorization, cookies or grpc-*)
    #[arg(long)]
    pub forward_metadata: bool,
    // -- bounds under attack (issue 15) --
    /// Bytes the history and the per-key state may hold, e.g. 512MiB (16MiB..=1TiB); over it the oldest events go first [default: 1GiB]
    #[arg(long, value_name = "BYTES", value_parser = crate::sink::limits::parse_bytes)]
    pub memory_budget: Option<usize>,
    /// Connections open at once from one client address (IPv6: per /64), at most --max-connections [default: 64]
    #[arg(long, value_name = "N")]
    pub max_connections_per_peer: Option<usize>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMode {
    #[default]
    Tee,
    Proxy,
}

/// What a tee does when a healthy upstream falls behind.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WhenBehind {
    /// Hold senders' answers (backpressure): nothing is dropped.
    #[default]
    Wait,
    /// Answer at once; the queue fills, then drops (counted).
    Drop,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send one alert and print the sink's answer
    Send(SendArgs),
    /// Load generator: prints throughput and latency percentiles
    Load(LoadArgs),
    /// Send a recording's alerts to a sink, in seq order
    Replay(ReplayArgs),
    /// The TUI over a recording, for offline triage (no listener)
    Open(OpenArgs),
    /// Print a commented default config file
    Config,
}

/// Connection options shared by the clients.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// The sink: http://host:port, https://host:port or host:port
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Send `authorization: Bearer <token>` read from FILE
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) to verify an https:// sink [default: system roots]
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM) for mTLS
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub owner: String,
    #[arg(long)]
    pub repo: String,
    #[arg(long)]
    pub policy: String,
    /// The check passed
    #[arg(long, conflicts_with = "fail", required_unless_present = "fail")]
    pub pass: bool,
    /// The check failed
    #[arg(long)]
    pub fail: bool,
    /// Details text (Markdown)
    #[arg(long, conflicts_with = "details_file")]
    pub details: Option<String>,
    /// Read the details text from FILE
    #[arg(long, value_name = "FILE")]
    pub details_file: Option<PathBuf>,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub timeout: f64,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Alerts to send in all
    #[arg(long)]
    pub total: u64,
    /// Requests in flight at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// HTTP/2 connections the requests are spread over [default: min(concurrency, 4)]
    #[arg(long)]
    pub connections: Option<usize>,
    /// Target rate in alerts per second (default: as fast as possible)
    #[arg(long)]
    pub rate: Option<f64>,
    /// Distinct repos the alerts are spread over (9 policies each)
    #[arg(long, default_value_t = 1000)]
    pub repos: u32,
    /// Print the result as one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A JSON-lines recording (from --record or headless output)
    pub file: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Scale the recorded gaps: 2 = twice as fast; `max` = no waiting
    #[arg(long, default_value = "1")]
    pub speed: String,
    /// Requests in flight at once when --speed max (order is kept per key)
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
}

#[derive(Args, Debug)]
pub struct OpenArgs {
    /// A JSON-lines recording
    pub file: PathBuf,
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
