//! Drives the real [`App`] on ratatui's [`TestBackend`] with a real [`Hub`]
//! and an injected clock: for the whole-app tests and for rendering
//! screenshots without a terminal.
//!
//! ```no_run
//! use sinkwatch::ui::harness::Harness;
//! let mut h = Harness::live(160, 45);
//! h.ingest("ossf", "allstar", "Branch Protection", false, "No protection found for branch main\n");
//! h.press("v");
//! println!("{}", h.screen());
//! ```

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use crate::forward::ForwardMode;
use crate::forward::{ForwardStats, Outcome as FwdOutcome, Role, UpstreamSnapshot, UpstreamState};
use crate::hub::Hub;
use crate::model::{NewAlert, StoreLimits};

use super::state::{App, Outcome, SourceInfo};
use super::theme::Theme;

/// 2026-11-25T21:00:00Z: the default start of the injected clock.
pub const T0: u64 = 1_795_640_400_000;

pub struct Harness {
    pub hub: Arc<Hub>,
    pub app: App,
    pub terminal: Terminal<TestBackend>,
    /// The injected clock (ms since the epoch).
    pub now_ms: u64,
}

impl Harness {
    pub fn new(
        width: u16,
        height: u16,
        theme: Theme,
        info: SourceInfo,
        limits: StoreLimits,
    ) -> Harness {
        let terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        Harness {
            hub: Hub::new(limits, 1024),
            app: App::new(theme, info),
            terminal,
            now_ms: T0,
        }
    }

    /// A live sink on 127.0.0.1:50051 with the default theme, at [`T0`].
    pub fn live(width: u16, height: u16) -> Harness {
        Harness::new(
            width,
            height,
            Theme::default_theme(),
            SourceInfo::live("127.0.0.1:50051"),
            StoreLimits::default(),
        )
    }

    /// With forwarding: the status bar shows its health, `F` its panel and
    /// Details each alert's outcome per upstream (as `--forward` does in
    /// the live TUI). See [`forwarding`] for stats with chosen counters.
    pub fn with_forward(mut self, forward: Arc<ForwardStats>) -> Harness {
        self.app.set_forward(Some(forward));
        self
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// An alert received now (the clock then moves on by 1 ms so that
    /// alerts keep their order in time). Returns its seq.
    pub fn ingest(
        &mut self,
        owner: &str,
        repo: &str,
        policy: &str,
        pass: bool,
        details: &str,
    ) -> u64 {
        let a = NewAlert {
            owner: owner.into(),
            repo: repo.into(),
            policy: policy.into(),
            details: details.into(),
            pass,
        };
        let peer = "127.0.0.1:40312".parse().ok();
        let seq = self
            .hub
            .ingest_at(&a, self.now_ms, peer, None)
            .expect("ingest")
            .seq;
        self.now_ms += 1;
        seq
    }

    /// Ingests the demo world's next `n` alerts, `step_ms` apart.
    pub fn ingest_demo(
        &mut self,
        world: &mut crate::client::demo::DemoWorld,
        n: usize,
        step_ms: u64,
    ) {
        for _ in 0..n {
            let a = world.next_alert();
            self.ingest(
                &a.owner_name,
                &a.repo_name,
                &a.policy_name,
                a.pass,
                &a.details,
            );
            self.advance(step_ms);
        }
    }

    /// Sends one key event.
    pub fn key(&mut self, code: KeyCode, mods: KeyModifiers) -> Outcome {
        self.app.handle_key(KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        })
    }

    /// Presses keys written as space-separated names: single characters,
    /// `Enter`, `Esc`, `Tab`, `BackTab`, `Up`, `Down`, `Left`, `Right`,
    /// `Home`, `End`, `PgUp`, `PgDn`, `Backspace`, `Space`, `C-x` (Ctrl).
    /// Returns the outcome of the last key.
    pub fn press(&mut self, keys: &str) -> Outcome {
        let mut out = Outcome::Continue;
        for name in keys.split(' ').filter(|s| !s.is_empty()) {
            let (code, mods) = match name {
                "Enter" => (KeyCode::Enter, KeyModifiers::NONE),
                "Esc" => (KeyCode::Esc, KeyModifiers::NONE),
                "Tab" => (KeyCode::Tab, KeyModifiers::NONE),
                "BackTab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
                "Up" => (KeyCode::Up, KeyModifiers::NONE),
                "Down" => (KeyCode::Down, KeyModifiers::NONE),
                "Left" => (KeyCode::Left, KeyModifiers::NONE),
                "Right" => (KeyCode::Right, KeyModifiers::NONE),
                "Home" => (KeyCode::Home, KeyModifiers::NONE),
                "End" => (KeyCode::End, KeyModifiers::NONE),
                "PgUp" => (KeyCode::PageUp, KeyModifiers::NONE),
                "PgDn" => (KeyCode::PageDown, KeyModifiers::NONE),
                "Backspace" => (KeyCode::Backspace, KeyModifiers::NONE),
                "Space" => (KeyCode::Char(' '), KeyModifiers::NONE),
                s if s.starts_with("C-") && s.chars().count() == 3 => (
                    KeyCode::Char(s.chars().nth(2).unwrap_or(' ')),
                    KeyModifiers::CONTROL,
                ),
                s if s.chars().count() == 1 => {
                    let c = s.chars().next().unwrap_or(' ');
                    let mods = if c.is_ascii_uppercase() {
                        KeyModifiers::SHIFT
                    } else {
                        KeyModifiers::NONE
                    };
                    (KeyCode::Char(c), mods)
                }
                other => panic!("unknown key name {other:?}"),
            };
            out = self.key(code, mods);
        }
        out
    }

    /// Types text into the filter prompt (each char a key).
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    /// A mouse event at a cell.
    pub fn mouse(&mut self, kind: MouseEventKind, column: u16, row: u16) -> Outcome {
        self.app.handle_mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    }

    pub fn click(&mut self, column: u16, row: u16) -> Outcome {
        self.mouse(MouseEventKind::Down(MouseButton::Left), column, row)
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.terminal.backend_mut().resize(width, height);
        self.app.resized();
    }

    /// Syncs with the hub (lists rebuilt at once, as if their refresh
    /// interval had passed) and draws a frame.
    pub fn draw(&mut self) -> &Buffer {
        let (hub, app, now) = (&self.hub, &mut self.app, self.now_ms);
        app.sync(hub, now);
        app.refresh_lists(hub, now, true);
        self.terminal
            .draw(|f| app.render(f, hub, now))
            .expect("draw on the test backend");
        self.terminal.backend().buffer()
    }

    /// Draws and returns the screen as text, one line per row, trailing
    /// spaces trimmed.
    pub fn screen(&mut self) -> String {
        let buf = self.draw().clone();
        buffer_text(&buf)
    }
}

/// Forwarding stats in tee mode that show exactly these upstreams, each
/// with its per-alert outcomes `(seq, outcome)`: for [`Harness::with_forward`].
/// Nothing is sent; see [`ForwardStats::for_display`].
pub fn forwarding(upstreams: Vec<(UpstreamSnapshot, Vec<(u64, FwdOutcome)>)>) -> Arc<ForwardStats> {
    Arc::new(ForwardStats::for_display(ForwardMode::Tee, upstreams))
}

/// An upstream for [`forwarding`]: `http://127.0.0.1:{port}`, a tee, in
/// `state` for `for_s` seconds, a queue of 100,000, every counter zero, no
/// latencies and no error; set the rest with `..upstream(…)`.
///
/// The stats' clock is real: choose ages away from a unit's boundary
/// (whole minutes and a half, say) so that a frame does not depend on how
/// long the caller takes.
pub fn upstream(port: u16, state: UpstreamState, for_s: u64) -> UpstreamSnapshot {
    UpstreamSnapshot {
        url: format!("http://127.0.0.1:{port}"),
        role: Role::Tee,
        state,
        refusing: false,
        unanswered_for: None,
        state_for: Duration::from_secs(for_s),
        accepted: 0,
        delivered: 0,
        failed: 0,
        dropped: 0,
        queued: 0,
        in_flight: 0,
        retries: 0,
        queue_capacity: 100_000,
        rate: 0.0,
        latency_p50: None,
        latency_p99: None,
        latency_p50_total: None,
        latency_p99_total: None,
        last_error: None,
        last_error_age: None,
        held: 0,
        held_to_limit: 0,
        holding: 0,
    }
}

/// The README's forwarding scene after `accepted` alerts, `--forward
/// 127.0.0.1:50071 --forward 127.0.0.1:50072`: the first up and
/// delivering everything, the second down a while with its queue filling.
/// The newest alert (`seq == accepted`) is delivered to one and queued for
/// the other. Both balance: accepted = delivered + failed + dropped +
/// queued + in flight.
pub fn two_upstreams(accepted: u64) -> Vec<(UpstreamSnapshot, Vec<(u64, FwdOutcome)>)> {
    let (queued, in_flight) = (246.min(accepted), 64.min(accepted.saturating_sub(246)));
    let up = UpstreamSnapshot {
        accepted,
        delivered: accepted,
        rate: 6.7,
        latency_p50: Some(Duration::from_micros(1_300)),
        latency_p99: Some(Duration::from_micros(5_900)),
        ..upstream(50071, UpstreamState::Up, 224)
    };
    let down = UpstreamSnapshot {
        accepted,
        delivered: accepted - queued - in_flight,
        queued,
        in_flight,
        retries: 2_731,
        // From before it went down: shown as stale.
        latency_p50: Some(Duration::from_micros(1_400)),
        latency_p99: Some(Duration::from_micros(6_100)),
        last_error: Some(
            "Unavailable: tcp connect error: Connection refused (os error 111)".into(),
        ),
        last_error_age: Some(Duration::ZERO),
        ..upstream(50072, UpstreamState::Down, 47)
    };
    let delivered = FwdOutcome::Delivered {
        attempts: 1,
        latency: Duration::from_micros(1_250),
    };
    vec![
        (up, vec![(accepted, delivered)]),
        (down, vec![(accepted, FwdOutcome::Queued)]),
    ]
}

/// A buffer as plain text (wide characters once), trailing spaces trimmed.
pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = cell.symbol();
            line.push_str(sym);
            skip = ratatui::text::Span::raw(sym).width().saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Durable state that has failed with `error` (as the state's writer
/// marks it: not durable).
pub fn state_fault(file: &str, error: &str) -> Arc<crate::state::StateStats> {
    let mut stats = crate::state::StateStats::default();
    stats.file = file.to_owned();
    stats.set_error(error.to_owned());
    Arc::new(stats)
}
