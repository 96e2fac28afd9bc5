//! Every option of the sink, declared once.
//!
//! One line of [`options!`] drives everything an option needs: the clap
//! argument (`--name`, its help with the default and the range), the config
//! file key (`name:`), the parser and range check shared by both, the
//! resolved field of [`Settings`], the merge (command line over file over
//! default) and its block in the printed default config. Adding an option
//! is one entry here plus its use.
//!
//! Entry forms (`kind name: Type [default or example] "VALUE" "help", range`):
//! - `one`: a value with a default; `Settings` holds `Type`.
//! - `opt`: a value without a default; `Settings` holds `Option<Type>`
//!   (the bracket holds an example for the printed config, or nothing).
//! - `flag`: `--name` sets it (`name: true` in the file); `Settings` holds `bool`.
//! - `many`: repeatable (`--name A --name B`; in the file a list or one
//!   value); `Settings` holds `Vec<Type>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::values::{Bytes, ForwardUrl, OptionValue, Range, Rate, parse_in};
use crate::forward::{ForwardMode, WhenBehind};
use crate::sink::auth::Combine;
use crate::sink::auth::signature::KeySpec;
use crate::state::{Retain, StateChoice};

/// Bounds shared with `attach`, which takes these options too.
pub const QUEUE_MAX: usize = 4_194_304;
pub const HISTORY_MAX: usize = 50_000_000;
pub const BUDGET_MIN: Bytes = Bytes(16 << 20);
pub const BUDGET_MAX: Bytes = Bytes(1 << 40);

/// What a config file sets, parsed and range-checked (errors carry the
/// line); `None`: not set.
pub type FileValue<T> = Option<T>;

macro_rules! options {
    ($(
        [$heading:literal]
        $(
            $kind:ident $field:ident : $ty:ty [$($default:literal)?] $vname:literal $help:literal
            $(, $lo:expr, $hi:expr)? ;
        )+
    )+) => {
        /// Options of the sink itself (the default mode). Every field is
        /// optional so that the config file can fill what the command line
        /// leaves out.
        #[derive(clap::Args, Debug, Default, Clone)]
        pub struct RunArgs {
            /// Config file [default: <config dir>/sinkwatch/config.yaml when present]
            #[arg(long, value_name = "FILE", help_heading = "Config")]
            pub config: Option<PathBuf>,
            $($(
                #[arg(
                    long,
                    // `--history -1` is a value out of range, named as
                    // such, not an unknown argument `-1`.
                    allow_negative_numbers = takes_value!($kind),
                    value_name = $vname,
                    help = help_line($help, default_shown!($kind, [$($default)?]), elem_range!($ty, $($lo, $hi)?).describe()),
                    help_heading = $heading,
                    num_args = num_args!($kind),
                    default_missing_value = missing_value!($kind),
                    value_parser = |s: &str| parse_in::<<$ty as OptionValue>::Elem>(s, &elem_range!($ty, $($lo, $hi)?)),
                )]
                pub $field: Option<$ty>,
            )+)+
        }

        /// The config file, each key parsed and checked like its option.
        #[derive(Debug, Default, Clone)]
        pub struct FileConfig {
            $($(
                pub $field: FileValue<$ty>,
            )+)+
            /// The line of each key the file sets.
            pub lines: std::collections::BTreeMap<String, usize>,
        }

        /// The keys a config file may hold, in the printed config's order.
        pub fn keys() -> Vec<String> {
            vec![$($(kebab!($field),)+)+]
        }

        /// What a key's value looks like (`FILE|none`); `None` for flags,
        /// which alone take `true` and `false`.
        pub fn value_name(key: &str) -> Option<&'static str> {
            $($(
                if key == kebab!($field) {
                    return (stringify!($kind) != "flag").then_some($vname);
                }
            )+)+
            None
        }

        /// The effective settings: command line over file over defaults.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $($(
                #[doc = $help]
                pub $field: settings_type!($kind, $ty),
            )+)+
            /// The config file that was read, if any.
            pub config_path: Option<PathBuf>,
            /// Where each option that was given came from (the rest are
            /// defaults), so that a rule broken between options can name
            /// the file and line of one set there.
            pub given: std::collections::BTreeMap<String, Given>,
        }

        /// Parses one config key's raw text values (a scalar is one value,
        /// a list many); `Err` is the message for that key.
        pub(super) fn set_file_value(
            file: &mut FileConfig,
            key: &str,
            raw: Vec<String>,
        ) -> Result<(), String> {
            $($(
                if key == stringify!($field).replace('_', "-") {
                    file.$field = Some(file_value!($kind, $ty, raw, $($lo, $hi)?)?);
                    return Ok(());
                }
            )+)+
            Err(format!("unknown key `{key}`"))
        }

        /// Merges the command line over the file over the defaults.
        pub fn merge(
            cli: &RunArgs,
            file: FileConfig,
            config_path: Option<PathBuf>,
        ) -> Result<Settings, super::ConfigError> {
            let mut given = std::collections::BTreeMap::new();
            $($(
                if cli.$field.is_some() {
                    given.insert(kebab!($field), Given::CommandLine);
                } else if file.$field.is_some() {
                    let line = file.lines.get(&kebab!($field)).copied().unwrap_or(1);
                    given.insert(kebab!($field), Given::File(line));
                }
            )+)+
            let settings = Settings {
                $($(
                    $field: resolve!($kind, $ty, cli.$field.clone(), file.$field, [$($default)?]),
                )+)+
                config_path,
                given,
            };
            settings
                .check()
                .map_err(|e| super::ConfigError(settings.blame(&e.0)))?;
            Ok(settings)
        }

        /// The commented default config printed by `sinkwatch config`.
        pub fn default_config() -> String {
            let mut out = String::from(super::CONFIG_PREAMBLE);
            let mut heading = "";
            $($(
                if heading != $heading {
                    heading = $heading;
                    out.push_str(&format!("\n# ── {heading} ──\n"));
                }
                let range = elem_range!($ty, $($lo, $hi)?).describe();
                out.push_str(&config_block(
                    &kebab!($field),
                    $help,
                    range.as_deref(),
                    stringify!($kind),
                    &[$($default)?],
                ));
            )+)+
            out
        }

        #[cfg(test)]
        /// Every default parses and lies in its range.
        pub(super) fn check_defaults() {
            $($(
                check_default!($kind, $field, $ty, [$($default)?], $($lo, $hi)?);
            )+)+
        }
    };
}

/// Where an option's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    CommandLine,
    /// The config file, at this line.
    File(usize),
}

/// A field's key: `forward_queue` → `forward-queue` (as clap names the
/// option).
macro_rules! kebab {
    ($field:ident) => {
        stringify!($field).replace('_', "-")
    };
}

macro_rules! settings_type {
    (opt, $ty:ty) => { Option<$ty> };
    ($kind:ident, $ty:ty) => { $ty };
}

/// Whether the option takes a value (a flag does not).
macro_rules! takes_value {
    (flag) => {
        false
    };
    ($kind:ident) => {
        true
    };
}

macro_rules! num_args {
    (flag) => {
        0
    };
    ($kind:ident) => {
        1
    };
}

macro_rules! missing_value {
    (flag) => {
        Some("true")
    };
    ($kind:ident) => {
        None::<&str>
    };
}

macro_rules! elem_range {
    ($ty:ty,) => {
        Range::<<$ty as OptionValue>::Elem>::any()
    };
    ($ty:ty, $lo:expr, $hi:expr) => {
        Range::<<$ty as OptionValue>::Elem>(Some(($lo, $hi)))
    };
}

macro_rules! default_shown {
    (one, [$default:literal]) => {
        Some($default)
    };
    ($kind:ident, [$($default:literal)?]) => {
        None::<&str>
    };
}

macro_rules! file_value {
    (many, $ty:ty, $raw:expr, $($lo:expr, $hi:expr)?) => {{
        let range = elem_range!($ty, $($lo, $hi)?);
        $raw.iter()
            .map(|s| parse_in::<<$ty as OptionValue>::Elem>(s, &range))
            .collect::<Result<$ty, String>>()
    }};
    ($kind:ident, $ty:ty, $raw:expr, $($lo:expr, $hi:expr)?) => {{
        match $raw.as_slice() {
            [one] => parse_in::<$ty>(one, &elem_range!($ty, $($lo, $hi)?)),
            _ => Err("expected one value, not a list".to_owned()),
        }
    }};
}

#[cfg(test)]
macro_rules! check_default {
    (one, $field:ident, $ty:ty, [$default:literal], $($lo:expr, $hi:expr)?) => {
        parse_in::<<$ty as OptionValue>::Elem>($default, &elem_range!($ty, $($lo, $hi)?))
            .unwrap_or_else(|e| panic!("default of {}: {e}", kebab!($field)));
    };
    ($kind:ident, $field:ident, $ty:ty, [$($default:literal)?], $($lo:expr, $hi:expr)?) => {};
}

macro_rules! resolve {
    (one, $ty:ty, $cli:expr, $file:expr, [$default:literal]) => {
        match $cli.or($file) {
            Some(v) => v,
            None => <$ty as OptionValue>::parse_value($default).expect("defaults are tested"),
        }
    };
    (opt, $ty:ty, $cli:expr, $file:expr, [$($default:literal)?]) => {
        $cli.or($file)
    };
    (flag, $ty:ty, $cli:expr, $file:expr, []) => {
        $cli.or($file).unwrap_or(false)
    };
    (many, $ty:ty, $cli:expr, $file:expr, [$($default:literal)?]) => {
        $cli.or($file).unwrap_or_default()
    };
}

/// An option's `--help` line: what it does, its range, its default.
fn help_line(help: &str, default: Option<&str>, range: Option<String>) -> String {
    let mut line = help.to_owned();
    if let Some(r) = range {
        line.push_str(&format!(" ({r})"));
    }
    if let Some(d) = default {
        line.push_str(&format!(" [default: {d}]"));
    }
    line
}

/// One option's block in the printed config: its help as comments, then
/// `key: default`, or the key commented out with an example.
fn config_block(
    key: &str,
    help: &str,
    range: Option<&str>,
    kind: &str,
    default: &[&str],
) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    let help = match range {
        Some(r) => format!("{help} ({r})"),
        None => help.to_owned(),
    };
    for word in help.split_whitespace() {
        if line.len() + word.len() + 1 > 78 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    let quote = |v: &str| {
        if v.contains(": ")
            || v.contains(" #")
            || v.starts_with(['[', '{', '*', '&', '!', '|', '>', '%', '@', '`', '"', '\''])
        {
            format!("{v:?}")
        } else {
            v.to_owned()
        }
    };
    match (kind, default.first()) {
        ("one", Some(d)) => out.push_str(&format!("{key}: {}\n", quote(d))),
        ("flag", _) => out.push_str(&format!("{key}: false\n")),
        ("many", Some(example)) => out.push_str(&format!("# {key}:\n#   - {}\n", quote(example))),
        (_, Some(example)) => out.push_str(&format!("# {key}: {}\n", quote(example))),
        (_, None) => out.push_str(&format!("# {key}:\n")),
    }
    out
}

const MIB: usize = 1024 * 1024;

options! {
    ["Server"]
    one listen: SocketAddr ["127.0.0.1:50051"] "ADDR"
        "Address of the embedded AlertSink gRPC server; anything beyond loopback should use TLS or a token";
    flag no_tui: bool [] ""
        "Headless: one JSON object per accepted alert on stdout (also when stdout is not a terminal)";
    one queue: usize ["65536"] "N"
        "Capacity of each consumer's queue (printer, recorder, UI), held to half the memory budget's worth of --max-details-bytes records (8,128 with the default budget and details); a consumer that falls behind skips the oldest: the printer, recorder, state writer and forwarders read them back from the history, viewers fetch them again, anything else counts them lost",
        1, QUEUE_MAX;
    one history: usize ["250000"] "N"
        "Alerts kept in the event history ring",
        1, HISTORY_MAX;
    one memory_budget: Bytes ["1GiB"] "BYTES"
        "Bytes the history and the per-key state may hold, e.g. 512MiB; over it the oldest events are evicted first (counted), then the oldest keys' details",
        BUDGET_MIN, BUDGET_MAX;
    one stats_interval: Duration ["0s"] "DURATION"
        "Headless: a {\"kind\":\"stats\"} line every DURATION (0s: only at exit)",
        Duration::ZERO, Duration::from_secs(7 * 86_400);

    ["Remote viewers and metrics"]
    opt metrics_listen: SocketAddr ["127.0.0.1:9464"] "ADDR"
        "Serve Prometheus metrics (text format) at http://ADDR/metrics [default: off]";
    flag watch_open: bool [] ""
        "Serve the Watch stream to remote viewers without credentials although the sink listens beyond loopback (anyone who reaches it sees every alert)";

    ["Demo"]
    flag demo: bool [] ""
        "Also feed realistic synthetic Allstar traffic into the sink";
    one demo_rate: f64 ["25"] "N"
        "Demo alerts per second",
        0.001, 1_000_000.0;

    ["Recording and state"]
    opt record: PathBuf ["/var/log/sinkwatch/alerts.jsonl"] "FILE"
        "Append every accepted alert to FILE as JSON lines";
    opt state: StateChoice ["/var/lib/sinkwatch/state.db"] "FILE|none"
        "Durable state: an SQLite database restored at start, or none (memory only) [default: <state dir>/sinkwatch/state-PORT.db for the TUI; none when headless or with --demo]";
    one retain: Retain ["30d"] "DURATION"
        "Prune stored events older than this (a key's latest alert is always kept): 1s to 100 years, e.g. 30d, 12h, 3600 (seconds), or forever";

    ["TUI"]
    one theme: String ["dark"] "NAME|FILE"
        "Theme: a built-in name (dark, light, high-contrast, solarized-dark, monochrome), a user theme in <config dir>/sinkwatch/themes/NAME.yaml, or a YAML file";
    one fps: u32 ["30"] "N"
        "Maximum TUI frames per second",
        1, 240;
    flag utc: bool [] ""
        "TUI times in UTC (default: local time, with its offset)";
    opt bell_on: crate::model::filter::Filter ["policy:\"Branch Protection\" org:ossf"] "EXPR"
        "TUI: ring the terminal bell on each regression (pass to fail, or a new key failing) matching EXPR (filter language), at most once per 2s; `b` toggles it (headless ignores it)";
    many views: Vec<crate::ui::state::SavedView> ["failing-bp=policy:\"Branch Protection\" status:fail"] "NAME=EXPR"
        "TUI: a saved view, a named filter expression (repeatable; in the file a mapping `views: {NAME: EXPR}`); `V` lists them";

    ["Security"]
    opt token_file: PathBuf ["/etc/sinkwatch/token"] "FILE"
        "Require `authorization: Bearer <token>`; the token is the file's first line";
    opt tls_cert: PathBuf ["/etc/sinkwatch/server.pem"] "FILE"
        "Serve TLS with this certificate chain (PEM); needs tls-key";
    opt tls_key: PathBuf ["/etc/sinkwatch/server.key"] "FILE"
        "Private key for tls-cert (PEM)";
    opt tls_client_ca: PathBuf ["/etc/sinkwatch/allstar-ca.pem"] "FILE"
        "Require client certificates signed by this CA (mTLS); needs tls-cert";
    opt oidc_issuer: String ["https://accounts.google.com"] "URL"
        "Require OIDC identity tokens (authorization: Bearer <JWT>) from this issuer";
    many oidc_audience: Vec<String> ["https://sink.example.org"] "AUD"
        "An audience the tokens must be for (repeatable; required with oidc-issuer)";
    opt oidc_jwks: String ["/etc/sinkwatch/jwks.json"] "FILE|URL"
        "The issuer's keys: a JWKS file, or its URL [default: from the issuer's discovery document]";
    many oidc_allow: Vec<String> ["allstar@my-project.iam.gserviceaccount.com"] "SUBJECT|EMAIL"
        "A token subject, email (when email_verified) or OAuth client id allowed to send (repeatable; required with oidc-issuer or access tokens; `*` = anyone the issuer vouches for)";
    flag oauth_access_tokens: bool [] ""
        "Accept opaque OAuth access tokens (Google's default credentials with scopes), checked at the token-info endpoint; who is allowed: oidc-allow";
    opt oauth_tokeninfo_url: String ["https://oauth2.googleapis.com/tokeninfo"] "URL"
        "The token-info endpoint for access tokens (implies oauth-access-tokens) [default: https://oauth2.googleapis.com/tokeninfo]";
    opt verify_signature: KeySpec ["ed25519:/etc/sinkwatch/allstar.pub"] "hmac:FILE|ed25519:FILE"
        "Require signed payloads: hmac:SECRET_FILE or ed25519:PUBLIC_KEY_FILE (see README, Signed payloads)";
    one auth: Combine ["any"] "any|all"
        "How the credential methods combine: any = one configured method must verify, all = every one must";

    ["Limits"]
    one max_message_bytes: Bytes ["1MiB"] "BYTES"
        "Largest request message accepted (RESOURCE_EXHAUSTED above)",
        Bytes(1024), Bytes(64 * MIB);
    one max_details_bytes: Bytes ["64KiB"] "BYTES"
        "Largest details field accepted (INVALID_ARGUMENT above)",
        Bytes(1), Bytes(16 * MIB);
    one max_name_bytes: Bytes ["256"] "BYTES"
        "Largest owner/repo/policy name accepted",
        Bytes(1), Bytes(65_536);
    one max_connections: usize ["1024"] "N"
        "Connections open at once; at the limit a new one evicts the oldest that has had no alert accepted (ever, or for idle-timeout), or is closed",
        1, 65_536;
    one max_connections_per_peer: usize ["64"] "N"
        "Connections open at once from one client address (IPv6: per /64), at most max-connections",
        1, 65_536;
    one idle_timeout: Duration ["10s"] "DURATION"
        "Time a new connection has to get an alert accepted (TLS handshake included), and the longest a write may wait for the peer to read",
        Duration::from_millis(100), Duration::from_secs(3600);
    opt rate_limit: Rate ["100/s"] "RATE"
        "Requests per second per client address (IPv6: per /64), e.g. 100/s; over it RESOURCE_EXHAUSTED [default: unlimited]",
        Rate(0.001), Rate(1_000_000.0);

    ["Forwarding"]
    many forward: Vec<ForwardUrl> ["http://127.0.0.1:50052"] "URL"
        "Tee every accepted alert to another AlertSink (repeatable; http://, https:// or host:port)";
    one forward_mode: ForwardMode ["tee"] "MODE"
        "tee: answer the sender at once; proxy: answer with the first upstream's status";
    one forward_queue: usize ["100000"] "N"
        "Capacity of each upstream's forward queue; when full, alerts are dropped and counted",
        1, 10_000_000;
    one forward_when_behind: WhenBehind ["wait"] "WHAT"
        "When a healthy tee upstream falls behind (half its queue waiting): wait = hold each sender's answer until it catches up (at most forward-timeout), drop = answer at once and drop what does not fit (counted)";
    one forward_concurrency: usize ["64"] "N"
        "Requests in flight at once per upstream (alerts of one key stay in order)",
        1, 1024;
    one forward_retries: u32 ["5"] "N"
        "Retries of a transient upstream answer (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED); an upstream that cannot be reached is retried without using them up (its queue fills, then drops, counted)",
        0, 100;
    one forward_timeout: Duration ["10s"] "DURATION"
        "Deadline of one forward attempt, and of a proxied call (a bare number is seconds)",
        Duration::from_millis(1), Duration::from_secs(3600);
    one forward_grace: Duration ["5s"] "DURATION"
        "On exit, time to drain the forward queues before reporting what was not delivered",
        Duration::ZERO, Duration::from_secs(3600);
    opt forward_ca: PathBuf ["/etc/sinkwatch/upstream-ca.pem"] "FILE"
        "CA certificate (PEM) to verify https:// upstreams [default: system roots]";
    opt forward_token_file: PathBuf ["/etc/sinkwatch/upstream-token"] "FILE"
        "Send `authorization: Bearer <token>` to upstreams; the token is the file's first line";
    flag forward_metadata: bool [] ""
        "Proxy mode: pass the sender's metadata on to the upstream (never authorization, cookies or grpc-*)";
    opt forward_sign: KeySpec ["hmac:/etc/sinkwatch/upstream-secret"] "hmac:FILE|ed25519:FILE"
        "Sign forwarded alerts with this key (hmac:SECRET_FILE or ed25519:PRIVATE_KEY_FILE); the sender's signature is never passed on";
}
