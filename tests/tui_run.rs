//! The TUI branch of a run, through the binary in a pseudo-terminal
//! (`script` from util-linux, which Debian always has): the sink starts, the
//! TUI takes the alternate screen, shows the listen address, takes an alert
//! sent by a client, and `q` restores the terminal and exits 0.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::binary::send;

/// Generous: a watchdog, not a performance bound.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn the_tui_takes_the_screen_shows_alerts_and_q_restores_it() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let err = dir.path().join("stderr");
    let bin = env!("CARGO_BIN_EXE_sinkwatch");
    // stderr goes to a file: the readiness line tells the port without
    // touching the screen.
    let cmd = format!(
        "stty cols 120 rows 40; exec '{bin}' --listen 127.0.0.1:0 --state none 2>'{}'",
        err.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed if the test fails half-way: `script` going away closes the
    // pseudo-terminal, and the sink ends on that hang-up.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let rx = chunks(child.stdout.take().unwrap());
    let mut guard = KillOnDrop(child);
    let mut screen = Vec::new();
    let started = Instant::now();
    let wait_for = |what: &str, cond: &dyn Fn(&[u8]) -> bool, screen: &mut Vec<u8>| {
        while !cond(screen) {
            let left = BOUND.saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(chunk) => screen.extend(chunk),
                Err(_) => panic!("waiting for {what}: {}", String::from_utf8_lossy(screen)),
            }
        }
    };
    let has = |needle: &'static [u8]| move |s: &[u8]| s.windows(needle.len()).any(|w| w == needle);
    wait_for("the alternate screen", &has(b"\x1b[?1049h"), &mut screen);
    wait_for("the status bar", &has(b"listen"), &mut screen);
    let addr = loop {
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find_map(|l| l.strip_prefix("sinkwatch: listening on "))
        {
            break line.to_owned();
        }
        assert!(started.elapsed() < BOUND, "no readiness line: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = send(
        &addr,
        &[
            "--owner",
            "tui-org",
            "--repo",
            "tui-repo",
            "--policy",
            "SECURITY.md",
            "--fail",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    wait_for("the alert on screen", &has(b"tui-repo"), &mut screen);
    stdin.write_all(b"q").unwrap();
    stdin.flush().unwrap();
    wait_for("the screen restored", &has(b"\x1b[?1049l"), &mut screen);
    // The alternate screen is cleared just before it is left: tmux, after
    // a resize, carried its last frame over into the main screen.
    assert!(
        screen.windows(12).any(|w| w == b"\x1b[2J\x1b[?1049l"),
        "no clear right before leaving the alternate screen"
    );
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < BOUND, "did not exit after q");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// What `from` (a pseudo-terminal's output) gives, as it comes, read on a
/// thread of its own (which also keeps the pipe drained).
fn chunks(mut from: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// `shell` (ending in `exec` of the binary) run in a 100×30
/// pseudo-terminal by `script`, its config and state in `dir`, its pid
/// (the shell's, then the binary's) written to `pid_file`; stdout piped.
/// `script -e` exits with the binary's status.
fn in_pty(shell: &str, dir: &std::path::Path, pid_file: &std::path::Path) -> std::process::Child {
    let cmd = format!(
        "stty cols 100 rows 30; echo $$ >'{}'; {shell}",
        pid_file.display()
    );
    Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("XDG_CONFIG_HOME", dir)
        .env("XDG_STATE_HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `attach`'s TUI stopped by a signal (`kill`: SIGTERM from a supervisor,
/// SIGINT, SIGHUP) restores the terminal and exits 0, as the sink's TUI
/// does. It exited 1 without a word (the signal set the flag that said
/// every source had refused it), and SIGINT was ignored.
#[test]
fn attachs_tui_stopped_by_a_signal_exits_0() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) on this machine");
        return;
    }
    let sink = common::binary::Headless::start(&[]);
    for signal in ["-TERM", "-INT", "-HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let bin = env!("CARGO_BIN_EXE_sinkwatch");
        let mut child = in_pty(
            &format!("exec '{bin}' attach {}", sink.url()),
            dir.path(),
            &pid_file,
        );
        let watchdog = common::binary::watchdog(child.id());
        let rx = chunks(child.stdout.take().unwrap());
        let mut screen = Vec::new();
        // Live: the source's state in the status bar.
        // (Words are placed one by one: no spaces between them on the wire.)
        while !screen.windows(4).any(|w| w == b"live") {
            match rx.recv_timeout(BOUND) {
                Ok(chunk) => screen.extend(chunk),
                Err(_) => panic!("{signal}: never live: {}", String::from_utf8_lossy(&screen)),
            }
        }
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let ok = Command::new("kill")
            .args([signal, pid.trim()])
            .status()
            .unwrap();
        assert!(ok.success());
        // `script -e` exits with the viewer's status.
        let status = child.wait().unwrap();
        drop(watchdog);
        let rest: Vec<u8> = rx.try_iter().flatten().collect();
        screen.extend(rest);
        assert!(status.success(), "{signal}: {status:?}");
        assert!(
            screen.windows(8).any(|w| w == b"\x1b[?1049l"),
            "{signal}: the screen was not restored"
        );
    }
}

/// A signal sent while the sink starts (here: while it fetches an OIDC
/// issuer's keys, which the test holds) stops its TUI once started, exit 0.
/// The run kept the signal, but the TUI listened only for signals sent
/// after it started, and ran on (a user's review, with a large state
/// database loading).
#[test]
fn a_signal_during_the_start_stops_the_sinks_tui() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let issuer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bin = env!("CARGO_BIN_EXE_sinkwatch");
    let mut child = in_pty(
        &format!(
            "exec '{bin}' --listen 127.0.0.1:0 --state none --oidc-issuer http://{} \
             --oidc-audience a --oidc-allow '*' 2>/dev/null",
            issuer.local_addr().unwrap()
        ),
        dir.path(),
        &pid_file,
    );
    let watchdog = common::binary::watchdog(child.id());
    let _screen = chunks(child.stdout.take().unwrap());
    // The fetch of the keys has begun: the sink is starting. (On a
    // thread: a sink that exited instead fails the test, not hangs it.)
    let (tx, accepted) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(issuer.accept().map(|(s, _)| s));
    });
    let fetch = accepted
        .recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("no fetch: {:?}", child.try_wait()))
        .unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let ok = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(ok.success());
    // The fetch fails at once; the start goes on, the TUI starts and stops.
    drop(fetch);
    // `script -e` exits with the sink's status (the watchdog's kill fails it).
    let status = child.wait().unwrap();
    drop(watchdog);
    assert!(status.success(), "{status:?}");
}
