//! How a run stops: the signals that stop it (a first one to stop, a
//! second to stop now), and the wait for a JSON-lines writer to finish
//! that a second signal cuts short. Shared by the sink (`run.rs`), the
//! headless `attach` (`commands.rs`) and the TUI (`ui/live.rs`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The signals that stop a run: SIGTERM, SIGINT and SIGHUP (the terminal
/// or the ssh session went away: left to its default it ends the process
/// at once, without committing the state backlog or the stats line).
const STOPS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The stop signals, installed at once (within the runtime); each `recv`
/// resolves at the next of them. A signal held since the start of the run
/// ([`hold_early`]) is the first.
pub struct StopSignals {
    signals: Vec<tokio::signal::unix::Signal>,
    held: bool,
}

impl StopSignals {
    pub fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = STOPS
            .into_iter()
            .filter_map(|s| signal(SignalKind::from_raw(s)).ok())
            .collect();
        // After the runtime's handlers, so that no signal falls between
        // the two (one landing in the microseconds where both are
        // installed would count twice).
        StopSignals {
            signals,
            held: release_early(),
        }
    }

    pub async fn recv(&mut self) {
        if std::mem::take(&mut self.held) {
            return;
        }
        if self.signals.is_empty() {
            std::future::pending::<()>().await;
        }
        let each = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
        futures_util::future::select_all(each).await;
    }
}

/// A stop signal received before [`StopSignals`] was installed.
static EARLY: AtomicBool = AtomicBool::new(false);

/// The actions that set it, until `StopSignals` takes over.
static EARLY_ACTIONS: Mutex<Vec<signal_hook_registry::SigId>> = Mutex::new(Vec::new());

/// What a held signal does (in the signal handler: only atomics, `write`
/// and `_exit`, which are async-signal-safe). The first is kept, and said;
/// a second ends the process at once, as the default action would have (a
/// start that hangs — a config FIFO nobody writes, a slow file system —
/// could otherwise only be killed with SIGKILL, a review found).
fn held(signal: libc::c_int) {
    const KEPT: &[u8] =
        b"sinkwatch: stopping as soon as it has started; signal again to stop now\n";
    const NOW: &[u8] = b"sinkwatch: stopped before it had started\n";
    let say = |text: &[u8]| {
        // SAFETY: write(2) on stderr with a valid buffer; its result is
        // of no use here.
        unsafe { libc::write(libc::STDERR_FILENO, text.as_ptr().cast(), text.len()) };
    };
    if EARLY.swap(true, Ordering::SeqCst) {
        say(NOW);
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(128 + signal) };
    }
    say(KEPT);
}

/// Holds the stop signals from the first instructions of a run that will
/// install [`StopSignals`] (the sink, `attach`), while it reads its
/// config and files and before its runtime exists: one received then is
/// kept and given to the first `StopSignals`, instead of ending the
/// process by the default action (a supervisor stopping a sink as it
/// starts: no stats line, nothing committed). Not for the other commands,
/// which a signal ends as it does any program.
pub fn hold_early() {
    let mut actions = EARLY_ACTIONS.lock().unwrap_or_else(|e| e.into_inner());
    for signal in STOPS {
        // SAFETY: the action (`held`) uses only async-signal-safe calls; it
        // allocates and locks nothing.
        let action = unsafe { signal_hook_registry::register(signal, move || held(signal)) };
        if let Ok(id) = action {
            actions.push(id);
        }
    }
}

/// Stops holding; whether a stop signal was held.
fn release_early() -> bool {
    let mut actions = EARLY_ACTIONS.lock().unwrap_or_else(|e| e.into_inner());
    for id in actions.drain(..) {
        signal_hook_registry::unregister(id);
    }
    EARLY.swap(false, Ordering::SeqCst)
}

/// Waits for a JSON-lines writer to write what it was given and end,
/// unless `now` resolves first (a second signal): then it is told to stop
/// at its next record (the rest counted abandoned). A slow reader held
/// the shutdown for as long as it took to drain the queue, and one that
/// reads nothing held it for ever; after a second a line says so on
/// stderr. Returns false when the writer is blocked writing (its reader
/// takes nothing) and is left behind: nothing more can go to its output.
pub fn finish_writer<W: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    writer: std::thread::JoinHandle<W>,
    stats: &crate::record::WriterStats,
    what: &str,
    now: impl std::future::Future<Output = ()>,
) -> bool {
    let (joined_tx, mut joined) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = writer.join();
        let _ = joined_tx.send(());
    });
    let drained = runtime.block_on(async {
        let mut now = std::pin::pin!(now);
        let mut said = false;
        let mut wait = std::pin::pin!(tokio::time::sleep(std::time::Duration::from_secs(1)));
        loop {
            tokio::select! {
                _ = &mut joined => return true,
                _ = &mut now => return false,
                _ = &mut wait, if !said => {
                    said = true;
                    eprintln!(
                        "sinkwatch: still writing the {what} received to stdout; \
                         signal again to stop now"
                    );
                }
            }
        }
    });
    if drained {
        if stats.is_closed() && stats.lost() > 0 {
            // The reader went away (`| head -1`): said here for every caller.
            eprintln!(
                "sinkwatch: stdout was closed; {what} not written to it: {}",
                stats.lost()
            );
        }
        return true;
    }
    stats.stop_now();
    // The writer stops at its next record, at once unless a write is
    // waiting on the reader: a reader that takes anything frees a pipe's
    // few KiB within this wait; one that takes nothing never does, and the
    // writer is left behind. (At 250 ms a slow reader on a busy machine
    // was taken for a stuck one now and then: a user's review.)
    let stopped = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(500), joined)
            .await
            .is_ok()
    });
    let abandoned = stats.abandoned.load(std::sync::atomic::Ordering::Relaxed);
    if stopped {
        // A second signal that came as the writer was finishing anyway
        // (GNU `timeout` sends two) stopped nothing: nothing to say then.
        if abandoned > 0 {
            eprintln!("sinkwatch: stopped; {abandoned} {what} received were not written to stdout");
        }
    } else {
        // The reader got whole lines up to the one being written, which
        // stays cut short where the pipe filled.
        eprintln!(
            "sinkwatch: stopped; stdout is not being read: {} {what} reached it (its last \
             line may be cut short), the rest and the closing line did not",
            stats.reached()
        );
    }
    stopped
}
