//! Entry points of the TUI: the terminal, the event loop, and loading a
//! recording for `sinkwatch open`.
//!
//! The loop runs on the calling thread. It waits for input (read by a
//! thread of its own) with a timeout of one frame, handles every pending
//! input at once, catches up with the hub ([`App::sync`]: short lock holds,
//! new events only) and redraws only when something changed (input, data,
//! resize, a flash ending, the once-a-second clock of ages and rates), at
//! most `fps` times per second. The terminal is restored on quit, on error
//! and on panic; SIGTERM and SIGHUP end the loop like `q`.

use std::io::{self, BufReader, Stdout};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, SetTitle, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};

use crate::hub::{Hub, now_ms};
use crate::model::store::DEFAULT_TRANSITIONS;
use crate::model::{NewAlert, StoreLimits};
use crate::record::RecordedAlert;
use crate::sanitize;

use super::state::{App, Outcome, SourceInfo};
use super::theme::{ColorDepth, Theme, user_theme_dir};

/// Things the TUI shows besides the store.
pub struct Extras {
    pub listen: String,
    pub banner: Option<String>,
    pub recorder: Option<(String, Arc<crate::record::WriterStats>)>,
    /// Forwarding counters, state and per-alert outcomes (None without
    /// `--forward`); see [`crate::forward::ForwardStats`].
    pub forward: Option<Arc<crate::forward::ForwardStats>>,
    /// The durable state's counters and what was restored (None: memory only).
    pub state: Option<Arc<crate::state::StateStats>>,
    /// `sinkwatch attach`: each remote source's connection state, for the
    /// status bar (read at each frame).
    pub remote: Option<RemoteStatus>,
    /// `sinkwatch attach`: the alerts its sources sent live, which the
    /// status bar's rate counts (see `SourceInfo::arrivals`).
    pub arrivals: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// `--bell-on`: ring on regressions matching it.
    pub bell_on: Option<crate::model::filter::Filter>,
    /// The saved views (`views:` in the config) the `V` menu offers.
    pub views: Vec<super::state::SavedView>,
    /// A sink serving Watch: the viewers attached now, with their
    /// identities (empty: none), for the status bar.
    pub viewers: Option<RemoteStatus>,
    /// Ends the UI when set (as `q` does): `attach` once every source has
    /// refused the viewer.
    pub stop: Option<Arc<AtomicBool>>,
    /// The silences loaded at start and where they are saved.
    pub silences: super::state::silences::SilenceState,
    /// What the empty alerts pane says (None: waiting on `listen`).
    pub empty_hint: Option<super::state::EmptyHint>,
}

/// A line describing the remote sources (or the viewers), read when a
/// frame is drawn; `true` asks for the short form of a narrow status bar.
pub type RemoteStatus = Arc<dyn Fn(bool) -> String + Send + Sync>;

/// Runs the live TUI until the user quits. Blocking.
///
/// `theme` comes from [`load_theme`], called by the caller before binding
/// so that a bad theme is a plain one-line error.
pub fn run_live(
    hub: Arc<Hub>,
    theme: Theme,
    fps: u32,
    extras: Extras,
    rt: tokio::runtime::Handle,
) -> Result<(), String> {
    let info = SourceInfo {
        label: extras.listen,
        live: true,
        database: false,
        banner: extras.banner,
        notices: Vec::new(),
        recorder: extras.recorder,
        state: extras.state,
        remote: extras.remote.map(super::state::Remote),
        arrivals: extras.arrivals.map(super::state::Arrivals),
        viewers: extras.viewers.map(super::state::Remote),
        empty_hint: extras.empty_hint,
    };
    let stop = extras.stop.unwrap_or_default();
    {
        // SIGTERM, SIGHUP and SIGINT end the UI like `q`.
        let stop = stop.clone();
        rt.spawn(async move {
            wait_for_termination().await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut app = App::new(theme, info);
    app.set_forward(extras.forward);
    app.set_bell(extras.bell_on);
    app.set_views(extras.views);
    app.set_silences(extras.silences);
    run_terminal(app, &hub, fps, &stop)
}

/// A recording or a state database read for `open`, before any screen is
/// taken: a file that cannot be read is a plain one-line error.
pub struct Opened {
    hub: Arc<Hub>,
    info: SourceInfo,
    name: String,
    /// A recording's unreadable lines, listed again once the screen is gone.
    bad: Vec<crate::record::LineError>,
}

/// Reads what `open` shows (see [`Opened`]).
pub fn prepare_open(file: &std::path::Path) -> Result<Opened, String> {
    let name = file.display().to_string();
    if crate::state::is_database(file) {
        let (hub, info) = open_database(file)?;
        return Ok(Opened {
            hub,
            info,
            name,
            bad: Vec::new(),
        });
    }
    if file.is_dir() {
        return Err(format!("cannot open recording {name}: it is a directory"));
    }
    let f = std::fs::File::open(file).map_err(|e| format!("cannot open recording {name}: {e}"))?;
    let (alerts, bad, remarks) = crate::record::load_recording_noting(BufReader::new(f));
    let (hub, not_loaded) = load_into_hub(&alerts);

    let mut info = SourceInfo::recording(name.clone());
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(3).map(|e| e.to_string()).collect();
        let more = if bad.len() > 3 { "; …" } else { "" };
        info.notices.push(format!(
            "{} unreadable line{} skipped ({}{more})",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            shown.join("; ")
        ));
    }
    if not_loaded > 0 {
        info.notices.push(format!(
            "{not_loaded} alerts not loaded: the key limit was reached"
        ));
    }
    info.notices.extend(remarks.notices());
    Ok(Opened {
        hub,
        info,
        name,
        bad,
    })
}

/// The TUI over what [`prepare_open`] read, for offline triage. Blocking.
///
/// `theme` comes from [`load_theme`] and `fps` from the config file, both
/// loaded by the caller (`--theme` first, then the file's `theme`), so that
/// a bad theme or config is a plain one-line error.
pub fn run_open(
    opened: Opened,
    theme: Theme,
    fps: u32,
    views: Vec<super::state::SavedView>,
) -> Result<(), String> {
    let mut app = App::new(theme, opened.info);
    app.set_views(views);
    let stop = AtomicBool::new(false);
    let result = run_terminal(app, &opened.hub, fps, &stop);
    // The screen is gone now: list every bad line where it stays visible.
    for e in &opened.bad {
        eprintln!("sinkwatch: {}: {e}", opened.name);
    }
    result
}

/// Events of a state database shown by `open` at most (the newest).
pub const OPEN_DATABASE_HISTORY: usize = 2_000_000;

/// A state database, read-only, restored into a fresh hub for `open`: the
/// same keys, transitions and newest events a restarted sink would show
/// (more history: up to [`OPEN_DATABASE_HISTORY`] events).
pub fn open_database(path: &std::path::Path) -> Result<(Arc<Hub>, SourceInfo), String> {
    let name = path.display().to_string();
    let conn = crate::state::open_read_only(path)
        .map_err(|e| format!("state {name}: {}", crate::state::cause(&e)))?;
    let v = crate::state::schema::version(&conn)
        .map_err(|e| format!("state {name}: {}", crate::state::cause(&e)))?;
    crate::state::schema::check_ours(&conn).map_err(|e| format!("state {name}: {e}"))?;
    if v == 0 {
        return Err(format!("state {name}: not a sinkwatch state database"));
    }
    let limits = StoreLimits {
        history: OPEN_DATABASE_HISTORY,
        transitions: OPEN_DATABASE_HISTORY,
        ..StoreLimits::default()
    };
    let (store, restored) = crate::state::restore::restore(&conn, limits)
        .map_err(|e| format!("state {name}: {}", crate::state::cause(&e)))?;
    let mut info = SourceInfo::database(name);
    if let Some(note) = crate::state::uncommitted_note(path) {
        info.notices.push(note);
    }
    if restored.refused_keys > 0 {
        info.notices.push(format!(
            "{} keys not loaded: the key limit was reached",
            restored.refused_keys
        ));
    }
    Ok((Hub::with_store(store, 1), info))
}

/// Loads recorded alerts, in order and with their recorded times, into a
/// fresh hub whose history holds them all. Returns the hub and how many
/// alerts the store refused (key limit).
pub fn load_into_hub(alerts: &[RecordedAlert]) -> (Arc<Hub>, u64) {
    let hub = Hub::new(
        StoreLimits {
            history: alerts.len().max(1),
            transitions: alerts.len().max(DEFAULT_TRANSITIONS),
            ..StoreLimits::default()
        },
        1,
    );
    let fallback = now_ms();
    let mut refused = 0;
    for a in alerts {
        let alert = NewAlert {
            owner: a.owner.clone(),
            repo: a.repo.clone(),
            policy: a.policy.clone(),
            details: a.details.clone(),
            pass: a.pass,
        };
        let peer = a.peer.as_deref().and_then(|p| p.parse::<SocketAddr>().ok());
        let at = a.at_ms().unwrap_or(fallback);
        if hub
            .ingest_at(&alert, at, peer, a.peer_identity.as_deref())
            .is_err()
        {
            refused += 1;
        }
    }
    (hub, refused)
}

/// `Theme::load(name or "dark")`, without colours when NO_COLOR is set,
/// else in the colours the terminal advertises (see [`ColorDepth::detect`]).
pub fn load_theme(name: Option<&str>) -> Result<Theme, String> {
    let theme = Theme::load(name.unwrap_or("dark"), user_theme_dir().as_deref())
        .map_err(|e| e.to_string())?;
    Ok(if no_color() {
        theme.without_color()
    } else {
        theme.with_depth(ColorDepth::detect())
    })
}

/// <https://no-color.org>: set and not empty.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// SIGTERM, SIGHUP and SIGINT (sent by `kill`: Ctrl-C is a key in raw
/// mode, not a signal).
async fn wait_for_termination() {
    crate::shutdown::StopSignals::install().recv().await
}

/// Puts the terminal back: cooked mode, main screen, no mouse, cursor.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        // Cleared before it is left: tmux, after the window was resized,
        // carried the alternate screen's last frame over into the main
        // screen above the prompt.
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All),
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Ctrl-Z. Raw mode turns the terminal's own job control off, so the TUI
/// does what the terminal would have: gives the terminal back, stops the
/// process with SIGTSTP (the shell shows it as a stopped job), and on
/// SIGCONT (`fg`) takes the terminal again. Ingest, forwarding and the
/// record file stop with the process while it is stopped, as any job does.
fn suspend() {
    restore_terminal();
    #[cfg(unix)]
    // SAFETY: raise() only sends a signal to this process; SIGTSTP's default
    // action stops it, and raise returns once it is continued.
    unsafe {
        libc::raise(libc::SIGTSTP);
    }
    let _ = enable_raw_mode();
    let _ = execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture);
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static>;

/// The terminal while the TUI runs; restores it when dropped and on a
/// panic of the UI thread.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: Option<Arc<PanicHook>>,
}

impl TerminalGuard {
    fn enter(title: &str) -> Result<TerminalGuard, String> {
        let previous: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        let ui_thread = std::thread::current().id();
        {
            let previous = previous.clone();
            std::panic::set_hook(Box::new(move |info| {
                if std::thread::current().id() == ui_thread {
                    restore_terminal();
                    previous(info);
                } else {
                    // Another thread (a server task): the screen belongs to
                    // the TUI, so the message goes to the log.
                    tracing::error!("panic: {info}");
                }
            }));
        }
        let mut guard_hook = Some(previous);
        let result = (|| -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(
                io::stdout(),
                EnterAlternateScreen,
                EnableMouseCapture,
                SetTitle(title)
            )?;
            Terminal::new(CrosstermBackend::new(io::stdout()))
        })();
        match result {
            Ok(terminal) => Ok(TerminalGuard {
                terminal,
                previous_hook: guard_hook.take(),
            }),
            Err(e) => {
                restore_terminal();
                if let Some(h) = guard_hook.take() {
                    reinstall(h);
                }
                Err(format!("cannot set up the terminal: {e}"))
            }
        }
    }
}

fn reinstall(previous: Arc<PanicHook>) {
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        restore_terminal();
        // `set_hook` panics on a panicking thread; the hook then stays ours,
        // which only restores the terminal once more.
        if !std::thread::panicking()
            && let Some(h) = self.previous_hook.take()
        {
            reinstall(h);
        }
    }
}

/// What the terminal and the system offer, from the environment: tmux
/// (OSC 52 passthrough), desktop notifications, and an opener for `o`
/// (`$BROWSER`, else `xdg-open` or macOS `open` on the `PATH`).
pub fn term_env() -> super::state::TermEnv {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let (opener, opener_name) = match find_opener(&var("BROWSER"), &var("PATH")) {
        Some((cmd, name)) => (Some(spawn_opener(cmd)), name),
        None => (None, String::new()),
    };
    super::state::TermEnv {
        tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
        notify: super::state::Notify::detect(&var("TERM"), &var("TERM_PROGRAM")),
        opener,
        opener_name,
    }
}

/// The opener's program and how to name it: `$BROWSER`'s first entry (a
/// `:`-separated list, as `xdg-open` reads it), else `xdg-open` or `open`
/// found on `path`.
fn find_opener(browser: &str, path: &str) -> Option<(std::path::PathBuf, String)> {
    if let Some(first) = browser.split(':').map(str::trim).find(|b| !b.is_empty()) {
        // Only a program name or path: `%s` templates and arguments are
        // not taken (the URL is always the one argument).
        if !first.contains([' ', '%']) {
            return Some((first.into(), "$BROWSER".to_owned()));
        }
    }
    for name in ["xdg-open", "open"] {
        for dir in std::env::split_paths(path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some((p, name.to_owned()));
            }
        }
    }
    None
}

/// Starts `program URL` detached: no terminal (stdin, stdout and stderr
/// are null, its own process group so Ctrl-C in the TUI does not reach it),
/// reaped by a thread of its own, so the UI never waits for it. The URL was
/// built from validated GitHub names (see `ui/state/clip.rs`).
fn spawn_opener(program: std::path::PathBuf) -> super::state::Opener {
    Arc::new(move |url: &str| {
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(&program);
        cmd.arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start {}: {e}",
                sanitize::line(&program.display().to_string())
            )
        })?;
        let _ = std::thread::Builder::new()
            .name("sinkwatch-opener".into())
            .spawn(move || child.wait());
        Ok(())
    })
}

fn run_terminal(mut app: App, hub: &Hub, fps: u32, stop: &AtomicBool) -> Result<(), String> {
    app.set_term_env(term_env());
    let title = sanitize::line(&format!("sinkwatch · {}", app.info.label)).into_owned();
    let mut guard = TerminalGuard::enter(&title)?;
    let input = spawn_input()?;
    let start = Instant::now();
    let mut clock = || Tick {
        wall_ms: now_ms(),
        mono_ms: start.elapsed().as_millis() as u64,
    };
    let result = event_loop(
        &mut guard.terminal,
        &mut app,
        hub,
        fps,
        stop,
        &input,
        &mut clock,
        &mut io::stdout(),
    );
    // Quit while an export is written: no partial file left behind.
    app.abort_export(Duration::from_secs(2));
    drop(guard);
    result
}

/// Reads terminal input on its own thread, so that the UI thread only ever
/// waits on a channel with a timeout. (crossterm 0.29's `event::poll` never
/// returns once the terminal is gone — crossterm issue #793 — while this
/// way the UI still sees SIGHUP or its failing writes and exits; the reader
/// ends with the process.)
fn spawn_input() -> Result<Receiver<io::Result<Event>>, String> {
    let (tx, rx) = mpsc::sync_channel(256);
    std::thread::Builder::new()
        .name("sinkwatch-input".into())
        .spawn(move || {
            loop {
                let ev = event::read();
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start the input thread: {e}"))?;
    Ok(rx)
}

/// The two clocks of the event loop: the wall clock (ages, the
/// once-a-second redraw, flashes) and a monotonic one (frame pacing).
/// Injected, so the loop's pacing and batching are tested without sleeps.
#[derive(Clone, Copy, Debug)]
struct Tick {
    wall_ms: u64,
    mono_ms: u64,
}

/// See the module docs. Generic over the backend; input comes from the
/// reader thread; time from `clock`; `raw` takes the bytes the app sends
/// the terminal outside frames (BEL, OSC 52), written after each sync.
#[allow(clippy::too_many_arguments)]
fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    hub: &Hub,
    fps: u32,
    stop: &AtomicBool,
    input: &Receiver<io::Result<Event>>,
    clock: &mut dyn FnMut() -> Tick,
    raw: &mut dyn io::Write,
) -> Result<(), String>
where
    B::Error: std::fmt::Display,
{
    let frame_ms = 1000 / u64::from(fps.clamp(1, 240));
    let mut last_draw: Option<u64> = None;
    let mut last_draw_ms = 0u64;
    let mut flash_due: Option<u64> = None;
    let mut need = true;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Tick {
            wall_ms: now,
            mono_ms,
        } = clock();
        need |= app.sync(hub, now);
        let out = app.take_terminal_output();
        if !out.is_empty() {
            raw.write_all(&out)
                .and_then(|()| raw.flush())
                .map_err(|e| format!("cannot write to the terminal: {e}"))?;
        }
        // Ages and the rate move with the clock; flashes end.
        need |= now >= last_draw_ms + 1000;
        need |= flash_due.is_some_and(|d| now >= d);
        let since = last_draw.map(|t| mono_ms.saturating_sub(t));
        if need && since.is_none_or(|s| s >= frame_ms) {
            terminal
                .draw(|f| app.render(f, hub, now))
                .map_err(|e| format!("cannot draw: {e}"))?;
            last_draw = Some(mono_ms);
            last_draw_ms = now;
            flash_due = app.next_deadline(now);
            need = false;
        }
        let waited = last_draw.map(|t| mono_ms.saturating_sub(t));
        let wait = Duration::from_millis(match waited {
            // A scan in chunks: come back soon (the lock is free meanwhile).
            _ if app.scanning() => 1,
            Some(e) if need => frame_ms.saturating_sub(e),
            _ => frame_ms,
        });
        let mut next = match input.recv_timeout(wait) {
            Ok(ev) => Some(ev),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Err("terminal input ended".into()),
        };
        // Every pending input at once, then one frame.
        while let Some(ev) = next {
            let outcome = match ev.map_err(|e| format!("terminal input: {e}"))? {
                Event::Key(k) => app.handle_key(k),
                Event::Mouse(m) => app.handle_mouse(m),
                Event::Resize(..) => {
                    app.resized();
                    Outcome::Continue
                }
                _ => Outcome::Continue,
            };
            match outcome {
                Outcome::Quit => return Ok(()),
                Outcome::Suspend => {
                    suspend();
                    // The screen is whatever the shell left: clear it and
                    // draw it all. (`resize` does that without querying the
                    // cursor position, which `clear` would, while the input
                    // thread owns the terminal's replies.)
                    let size = terminal.size().map_err(|e| format!("cannot draw: {e}"))?;
                    terminal
                        .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
                        .map_err(|e| format!("cannot draw: {e}"))?;
                    app.resized();
                    need = true;
                }
                Outcome::Continue => {}
            }
            next = input.try_recv().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;

    fn key(c: char) -> io::Result<Event> {
        Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    struct Loop {
        hub: Arc<Hub>,
        app: App,
        terminal: Terminal<TestBackend>,
    }

    impl Loop {
        fn new() -> Loop {
            Loop {
                hub: Hub::new(StoreLimits::default(), 64),
                app: App::new(Theme::default_theme(), SourceInfo::live("127.0.0.1:50051")),
                terminal: Terminal::new(TestBackend::new(100, 30)).unwrap(),
            }
        }

        /// Runs the loop over `events` (then the input closes) with a clock
        /// that moves `step_ms` per reading; returns the loop's result and
        /// the frames drawn.
        fn run(
            &mut self,
            fps: u32,
            events: Vec<io::Result<Event>>,
            step_ms: u64,
        ) -> (Result<(), String>, usize) {
            let (tx, rx) = mpsc::sync_channel(events.len() + 1);
            for e in events {
                tx.send(e).unwrap();
            }
            drop(tx);
            let mut t = 0u64;
            let mut clock = || {
                t += step_ms;
                Tick {
                    wall_ms: 1_800_000_000_000 + t,
                    mono_ms: t,
                }
            };
            let stop = AtomicBool::new(false);
            let r = event_loop(
                &mut self.terminal,
                &mut self.app,
                &self.hub,
                fps,
                &stop,
                &rx,
                &mut clock,
                &mut Vec::new(),
            );
            (r, self.terminal.get_frame().count())
        }
    }

    /// Every pending input is handled before the next frame: 50 keys that
    /// each change the screen (the help overlay, opened and closed), with
    /// time moving past a frame at every clock reading, make no frame of
    /// their own; `q` quits only because all 50 were handled (with the
    /// overlay open it would close it instead).
    #[test]
    fn pending_input_is_handled_at_once_then_one_frame() {
        let mut l = Loop::new();
        let mut keys: Vec<_> = (0..50).map(|_| key('?')).collect();
        keys.push(key('q'));
        let (r, frames) = l.run(240, keys, 1_000);
        assert_eq!(r, Ok(()), "q quits");
        assert_eq!(frames, 1, "one frame before the batch, none per key");
    }

    /// Frames are paced by `fps`: while the clock stands still, changes
    /// wait for the frame to end; once it has moved past it, they are drawn.
    #[test]
    fn redraws_wait_for_the_frame() {
        // The clock never reaches the end of the first frame (1 s at fps 1):
        // the change the key makes is not drawn before the input ends.
        let mut l = Loop::new();
        let (r, frames) = l.run(1, vec![key('?')], 0);
        assert_eq!(r, Err("terminal input ended".to_owned()));
        assert_eq!(frames, 1);
        // Time moving 2 s per reading: the change gets its own frame.
        let mut l = Loop::new();
        let (_, frames) = l.run(1, vec![key('?')], 2_000);
        assert_eq!(frames, 2);
    }

    /// One alert of `ossf/REPO` for POLICY, ingested at `at`.
    fn ingest_one(hub: &Hub, repo: &str, policy: &str, pass: bool, at: u64) {
        let a = crate::model::NewAlert {
            owner: "ossf".into(),
            repo: repo.into(),
            policy: policy.into(),
            details: String::new(),
            pass,
        };
        hub.ingest_at(&a, at, None, None).unwrap();
    }

    /// Runs the event loop on an injected clock that steps 500 ms per
    /// reading, ingesting the script's alert of that step (as a sender
    /// would meanwhile), and returns the raw bytes written outside frames.
    fn run_bell_script(
        l: &mut Loop,
        base: u64,
        script: Vec<Option<(&str, &str, bool)>>,
    ) -> Vec<u8> {
        let steps = script.len() as u64;
        let (tx, rx) = mpsc::sync_channel::<io::Result<Event>>(1);
        let mut t = 0u64;
        let mut script = script.into_iter();
        let stop = AtomicBool::new(false);
        let stop_ref = &stop;
        let hub = l.hub.clone();
        let mut clock = || {
            t += 500;
            let wall = base + t;
            match script.next() {
                Some(Some((repo, policy, pass))) => ingest_one(&hub, repo, policy, pass, wall),
                Some(None) => {}
                // The script is done: one more turn to sync, then stop.
                None if t > (steps + 2) * 500 => stop_ref.store(true, Ordering::Relaxed),
                None => {}
            }
            Tick {
                wall_ms: wall,
                mono_ms: t,
            }
        };
        let mut raw = Vec::new();
        let r = event_loop(
            &mut l.terminal,
            &mut l.app,
            &l.hub,
            240,
            &stop,
            &rx,
            &mut clock,
            &mut raw,
        );
        drop(tx);
        assert_eq!(r, Ok(()));
        raw
    }

    /// The bell on the raw output: one BEL per matching regression when
    /// they come further apart than the rate limit, none for alerts that
    /// do not match or are no regression, one for a burst inside the limit
    /// (the rest counted).
    #[test]
    fn the_bell_rings_once_per_matching_regression_rate_limited() {
        let mut l = Loop::new();
        l.app.set_bell(Some(
            crate::model::filter::Filter::parse("policy:CODEOWNERS").unwrap(),
        ));
        // Before the loop starts: never rung (the bell rings for news).
        ingest_one(&l.hub, "old", "CODEOWNERS", false, 1);
        // (clock step, what arrives): one step is 500 ms.
        let script: Vec<Option<(&str, &str, bool)>> = vec![
            None,
            Some(("a", "CODEOWNERS", true)),  // first, passing: no
            Some(("a", "CODEOWNERS", false)), // regression: BEL 1
            None,
            None,
            None,
            None,
            Some(("b", "CODEOWNERS", false)), // new key failing: BEL 2
            Some(("c", "Binary Artifacts", false)), // not matching: no
            None,
            None,
            None,
            None,
            Some(("a", "CODEOWNERS", false)), // still failing: no
            Some(("a", "CODEOWNERS", true)),  // fixed: no
            Some(("a", "CODEOWNERS", false)), // regression: BEL 3
            Some(("d", "CODEOWNERS", false)), // within 2 s: held
            Some(("e", "CODEOWNERS", false)), // within 2 s: held
        ];
        let raw = run_bell_script(&mut l, 1_800_000_000_000, script);
        assert_eq!(raw, b"\x07\x07\x07".to_vec(), "three rings, nothing else");
        assert_eq!(l.app.bell.rung, 3);
        assert_eq!(l.app.bell.held, 2, "the burst is counted");
        assert_eq!(l.app.bell.since_key, 5, "matching regressions since a key");
    }

    /// The bell never rings for a silenced failure: a silence on one repo
    /// keeps its regressions quiet while another repo's regression rings.
    #[test]
    fn the_bell_does_not_ring_for_silenced_regressions() {
        let base = 1_800_000_000_000;
        let mut l = Loop::new();
        l.app.set_bell(Some(
            crate::model::filter::Filter::parse("policy:CODEOWNERS").unwrap(),
        ));
        l.app
            .silences
            .set
            .add("repo:quiet", base + 3_600_000, "fix scheduled", "me", base)
            .unwrap();
        // Rings 4 s apart, beyond the rate limit.
        let mut script: Vec<Option<(&str, &str, bool)>> = vec![None];
        for (repo, pass) in [
            ("quiet", true),
            ("quiet", false), // regression, silenced: no
            ("loud", true),
            ("loud", false),        // regression: BEL
            ("other-quiet", false), // new failing, not silenced: BEL
        ] {
            script.push(Some((repo, "CODEOWNERS", pass)));
            script.extend([None; 7]);
        }
        let raw = run_bell_script(&mut l, base, script);
        assert_eq!(raw, b"\x07\x07".to_vec(), "two rings: loud, other-quiet");
        assert_eq!(l.app.bell.rung, 2);
        assert_eq!(l.app.bell.since_key, 2, "the silenced one is not counted");
    }

    /// `$BROWSER` first (a program, not a template), then `xdg-open` or
    /// `open` on the PATH; the opener gets the URL as its one argument and
    /// is not waited for.
    #[cfg(unix)]
    #[test]
    fn the_opener_is_found_and_started_detached() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("opened");
        let script = dir.path().join("xdg-open");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$#\" > {}.tmp && mv {0}.tmp {0}\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().display().to_string();
        assert_eq!(
            find_opener("", &path),
            Some((script.clone(), "xdg-open".to_owned()))
        );
        assert_eq!(
            find_opener("firefox:chromium", &path),
            Some(("firefox".into(), "$BROWSER".to_owned()))
        );
        // A template with arguments is not run; the PATH is used instead.
        assert_eq!(find_opener("firefox %s", "/nonexistent"), None);
        let open = spawn_opener(script);
        open("https://github.com/ossf/allstar").unwrap();
        // Poll for the script's output (a watchdog, not a time limit).
        let start = Instant::now();
        while !out.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the opener never ran"
            );
            std::thread::yield_now();
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "https://github.com/ossf/allstar|1"
        );
        let missing = spawn_opener("/nonexistent/opener".into());
        let e = missing("https://github.com/ossf").unwrap_err();
        assert!(e.starts_with("cannot start /nonexistent/opener"), "{e}");
    }

    /// A silence ends by the loop's own clock (injected: no sleeping):
    /// the failure it covered counts as failing again on the next frame.
    #[test]
    fn a_silence_expires_by_the_loop_clock() {
        let base = 1_800_000_000_000;
        let mut l = Loop::new();
        let a = NewAlert {
            owner: "ossf".into(),
            repo: "scorecard".into(),
            policy: "CODEOWNERS".into(),
            details: String::new(),
            pass: false,
        };
        l.hub.ingest_at(&a, base, None, None).unwrap();
        l.app
            .silences
            .set
            .add("policy:CODEOWNERS", base + 5_000, "", "me", base)
            .unwrap();
        let screen = |l: &Loop| {
            let buf = l.terminal.backend().buffer();
            (0..buf.area.height)
                .map(|y| {
                    (0..buf.area.width)
                        .map(|x| buf[(x, y)].symbol())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        // The clock stands at `base`: silenced.
        let _ = l.run(30, vec![], 0);
        assert_eq!(l.app.silences.silenced(), 1);
        assert!(
            screen(&l).contains("✗ 0 failing · 1 silenced"),
            "{}",
            screen(&l)
        );
        // Ten seconds on, at the first reading: it has ended.
        let _ = l.run(30, vec![], 10_000);
        assert_eq!(l.app.silences.silenced(), 0);
        assert!(screen(&l).contains("✗ 1 failing / 1 key"), "{}", screen(&l));
    }

    /// SIGTERM/SIGHUP set `stop`: the loop ends before drawing anything.
    #[test]
    fn stop_ends_the_loop_at_once() {
        let mut l = Loop::new();
        let (tx, rx) = mpsc::sync_channel(1);
        let stop = AtomicBool::new(true);
        let mut clock = || Tick {
            wall_ms: 0,
            mono_ms: 0,
        };
        let r = event_loop(
            &mut l.terminal,
            &mut l.app,
            &l.hub,
            30,
            &stop,
            &rx,
            &mut clock,
            &mut Vec::new(),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(l.terminal.get_frame().count(), 0);
        drop(tx);
    }
}
