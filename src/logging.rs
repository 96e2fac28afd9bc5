//! Logs go to a file under the user's state (or cache) directory, never to
//! the terminal: the TUI owns the screen, and headless stdout is JSON.

use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;

/// `<state dir>/sinkwatch/` (or the cache dir where there is no state dir).
pub fn log_dir() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .map(|d| d.join("sinkwatch"))
}

/// Starts file logging; keep the guard alive until exit so lines are
/// flushed. Logging is skipped silently when no directory can be made.
pub fn init() -> Option<WorkerGuard> {
    let dir = log_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("sinkwatch")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let level = match std::env::var("SINKWATCH_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_max_level(level)
        .try_init()
        .ok()?;
    Some(guard)
}
