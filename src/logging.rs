//! Logs go to a file under the user's state (or cache) directory, never to
//! the terminal: the TUI owns the screen, and headless stdout is JSON.
//! `SINKWATCH_LOG_TO=stderr` sends them to stderr instead when stderr is
//! not a terminal (a container's log, where a file in the container could
//! not be read), and a file that cannot be made is said on stderr once.

use std::io::IsTerminal;
use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;

/// `<state dir>/sinkwatch/` (or the cache dir where there is no state dir).
pub fn log_dir() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("sinkwatch"))
}

/// Where the logs went.
pub enum Logging {
    /// Keep the guard alive until exit so lines are flushed.
    On(WorkerGuard),
    /// No log file: why, for one line on stderr where the caller wants it
    /// (the sink, not each `send`).
    Off(String),
}

/// Starts logging (see the module docs).
pub fn init() -> Logging {
    let level = match std::env::var("SINKWATCH_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let to_stderr = std::env::var("SINKWATCH_LOG_TO").as_deref() == Ok("stderr")
        && !std::io::stderr().is_terminal();
    let (writer, guard) = if to_stderr {
        tracing_appender::non_blocking(std::io::stderr())
    } else {
        let Some(dir) = log_dir() else {
            return Logging::Off("no log file: no state or cache directory".into());
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Logging::Off(format!("no log file: cannot create {}: {e}", dir.display()));
        }
        let appender = match tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("sinkwatch")
            .filename_suffix("log")
            .max_log_files(7)
            .build(&dir)
        {
            Ok(a) => a,
            Err(e) => {
                return Logging::Off(format!("no log file in {}: {e}", dir.display()));
            }
        };
        tracing_appender::non_blocking(appender)
    };
    // Only fails when a subscriber is already set (a second init).
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
    Logging::On(guard)
}
