//! Entry points of the TUI (stub until the TUI lands).

use std::sync::Arc;

use crate::config::Settings;
use crate::hub::Hub;
use crate::run::Extras;

/// Runs the live TUI until the user quits. Blocking.
pub fn run_live(
    _hub: Arc<Hub>,
    _settings: &Settings,
    _extras: Extras,
    _rt: tokio::runtime::Handle,
) -> Result<(), String> {
    Err("the TUI is not built yet; use --no-tui".into())
}

/// The TUI over a recording (stub until the TUI lands).
pub fn run_open(_args: &crate::cli::OpenArgs) -> Result<(), String> {
    Err("the TUI is not built yet".into())
}
