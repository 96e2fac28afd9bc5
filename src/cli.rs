//! Command-line interface: the subcommands and the client options. The
//! sink's own options are declared once in `config/options.rs` (flattened
//! here as [`RunArgs`]). Names are a contract: add, don't rename.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

pub use crate::config::RunArgs;

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

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send one alert and print the sink's answer
    Send(SendArgs),
    /// Load generator: prints throughput and latency percentiles
    Load(LoadArgs),
    /// Send a recording's alerts to a sink, in seq order
    Replay(ReplayArgs),
    /// The TUI over a recording or a state database, for offline triage (no listener)
    Open(OpenArgs),
    /// Write a state database's events out as JSON lines (replayable) or CSV
    Export(ExportArgs),
    /// Print a commented default config file
    Config,
    /// The TUI over one or more remote sinks' Watch streams (replicas are merged)
    Attach(AttachArgs),
}

use crate::config::values::{Bytes, Range, parse_in};
use crate::config::{BUDGET_MAX, BUDGET_MIN, HISTORY_MAX, QUEUE_MAX};

/// `sinkwatch attach URL [URL…]`.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// The sinks: http://host:port, https://host:port or host:port
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Send `authorization: Bearer <token>` read from FILE
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) to verify https:// sinks [default: system roots]
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM) for mTLS
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Theme: a built-in name (dark, light, high-contrast, solarized-dark,
    /// monochrome), a user theme's name, or a YAML file [default: dark]
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Config file: its display settings, history, memory-budget and queue apply
    /// [default: <config dir>/sinkwatch/config.yaml when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Show times in UTC instead of local time
    #[arg(long)]
    pub utc: bool,
    /// Only alerts matching EXPR (the filter language, e.g. `org:ossf
    /// status:fail`), filtered by each sink: the rest never cross the
    /// network. The sink searches the first 64 KiB of an alert's details
    // A filter may start with `-` (a negated term: `-status:pass`).
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// No TUI: the merged alerts as JSON lines on stdout (each with its source
    /// and its seq there) until SIGINT/SIGTERM, then a {"kind":"sources"} line
    /// (also when stdout is not a terminal)
    #[arg(long)]
    pub no_tui: bool,
    /// Alerts the viewer keeps in its history, the Alerts pane's events
    /// (headless, at most 4,096) (1 to 50,000,000) [default: the config
    /// file's, else 250000]
    #[arg(long, allow_negative_numbers = true, value_name = "N", value_parser = |s: &str| parse_in(s, &Range(Some((1, HISTORY_MAX)))))]
    pub history: Option<usize>,
    /// Bytes the viewer's history and per-key state may hold, e.g. 512MiB;
    /// over it the oldest events go first (counted) (16MiB to 1TiB)
    /// [default: the config file's, else 1GiB]
    #[arg(long, allow_negative_numbers = true, value_name = "BYTES", value_parser = |s: &str| parse_in(s, &Range(Some((BUDGET_MIN, BUDGET_MAX)))))]
    pub memory_budget: Option<Bytes>,
    /// Capacity of the printer's queue (headless), held as the sink's is to
    /// half the memory budget's worth of records of the config's
    /// max-details-bytes: 8,128 with the defaults (1 to 4,194,304)
    /// [default: the config file's, else 65536]
    #[arg(long, allow_negative_numbers = true, value_name = "N", value_parser = |s: &str| parse_in(s, &Range(Some((1, QUEUE_MAX)))))]
    pub queue: Option<usize>,
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
    /// Sign each request: hmac:SECRET_FILE or ed25519:PRIVATE_KEY_FILE (PKCS#8 PEM)
    #[arg(long, value_name = "hmac:FILE|ed25519:FILE")]
    pub sign: Option<crate::sink::auth::signature::KeySpec>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("outcome").required(true).args(["pass", "fail"])))]
pub struct SendArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub owner: String,
    #[arg(long)]
    pub repo: String,
    #[arg(long)]
    pub policy: String,
    /// The check passed (exactly one of --pass and --fail)
    #[arg(long)]
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
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub timeout: f64,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Alerts to send in all
    #[arg(long, allow_negative_numbers = true)]
    pub total: u64,
    /// Requests in flight at once
    #[arg(long, allow_negative_numbers = true, default_value_t = 16)]
    pub concurrency: usize,
    /// HTTP/2 connections the requests are spread over [default: min(concurrency, 4)]
    #[arg(long, allow_negative_numbers = true)]
    pub connections: Option<usize>,
    /// Target rate in alerts per second (default: as fast as possible)
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Distinct repos the alerts are spread over (9 policies each)
    #[arg(long, allow_negative_numbers = true, default_value_t = 1000)]
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
    #[arg(long, allow_negative_numbers = true, default_value = "1")]
    pub speed: String,
    /// Requests in flight at once when --speed max (order is kept per key)
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    pub concurrency: usize,
}

#[derive(Args, Debug)]
pub struct OpenArgs {
    /// A JSON-lines recording, or a state database (--state)
    pub file: PathBuf,
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Show times in UTC instead of local time
    #[arg(long)]
    pub utc: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The state database to read
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Only events received within this long before now, e.g. 7d, 12h
    #[arg(long, allow_negative_numbers = true, value_name = "DURATION", value_parser = crate::config::values::duration)]
    pub since: Option<std::time::Duration>,
    /// Only events matching this filter (the TUI's `/` language)
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// jsonl: the recording format (`replay` and `open` read it); csv: a header and one row per event
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: crate::state::export::Format,
}
