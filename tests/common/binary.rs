//! Running the sinkwatch binary in tests: a headless sink on port 0 found
//! through its readiness line, stopped by SIGTERM, and never left behind
//! (killed on drop, and after 60 s without exiting — a hang fails the test
//! instead of blocking it).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::prelude::*;

/// How long a process may take to exit before it is killed.
const DEADLINE: Duration = Duration::from_secs(60);

/// The binary, with logs and config kept out of the user's home.
pub fn bin() -> Command {
    let mut c = Command::cargo_bin("sinkwatch").unwrap();
    c.env(
        "XDG_STATE_HOME",
        std::env::temp_dir().join("sinkwatch-test-state"),
    );
    c.env(
        "XDG_CONFIG_HOME",
        std::env::temp_dir().join("sinkwatch-test-config-none"),
    );
    c
}

/// JSON values, one per line (a bad line fails the test).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The one alert most tests send: `--owner o --repo r --policy p --pass`.
pub const ALERT: [&str; 7] = ["--owner", "o", "--repo", "r", "--policy", "p", "--pass"];

/// `sinkwatch send --to URL ARGS…`, giving up after 10 s.
pub fn send(url: &str, args: &[&str]) -> Output {
    bin()
        .args(["send", "--to", url, "--timeout", "10"])
        .args(args)
        .output()
        .unwrap()
}

/// `sinkwatch load` of `total` alerts over 50 repos to `url`; it must succeed.
pub fn load(url: &str, total: u64) {
    run_load(url, total, &["--repos", "50"]);
}

/// `sinkwatch load --to URL --total N --json EXTRA…`; it must succeed.
fn run_load(url: &str, total: u64, extra: &[&str]) -> Output {
    let total = total.to_string();
    let out = output(
        bin()
            .args(["load", "--to", url, "--total", &total, "--json"])
            .args(extra),
    );
    assert!(out.status.success(), "{out:?}");
    out
}

/// `sinkwatch load` of `total` alerts at full speed (64 calls in flight),
/// as the tests of consumers overtaken by the hub need; asserts it
/// succeeded and returns its JSON report.
pub fn load_at_full_speed(url: &str, total: u64) -> serde_json::Value {
    let out = run_load(url, total, &["--concurrency", "64"]);
    serde_json::from_slice(&out.stdout).expect("load's JSON report")
}

/// SIGKILLs `pid` unless the returned sender is dropped or used first.
pub fn watchdog(pid: u32) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(DEADLINE) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    done
}

/// Runs a command to completion under the watchdog.
pub fn output(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = watchdog(child.id());
    let out = child.wait_with_output().unwrap();
    drop(done);
    assert!(
        out.status.code().is_some(),
        "killed after {DEADLINE:?}: {cmd:?}"
    );
    out
}

/// How a headless sink ended.
pub struct Exit {
    pub stdout: String,
    /// stderr after the readiness line.
    pub stderr: String,
    pub status: ExitStatus,
}

impl Exit {
    /// stdout as JSON values, one per line (a bad line fails the test).
    pub fn lines(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout)
    }

    /// The last `{"kind":"stats"}` line (the exit's).
    pub fn stats(&self) -> serde_json::Value {
        self.lines()
            .into_iter()
            .rev()
            .find(|l| l["kind"] == "stats")
            .expect("a stats line")
    }
}

/// A headless sink; killed on drop unless terminated.
pub struct Headless {
    child: Option<Child>,
    pub addr: String,
    /// stderr lines printed before the readiness line (warnings).
    pub early_stderr: Vec<String>,
    rest_stderr: Option<std::thread::JoinHandle<String>>,
}

impl Headless {
    /// On 127.0.0.1, port 0.
    pub fn start(extra: &[&str]) -> Headless {
        Headless::start_on("127.0.0.1:0", extra)
    }

    /// Returns once the sink printed `sinkwatch: listening on ADDR`.
    pub fn start_on(listen: &str, extra: &[&str]) -> Headless {
        let child = bin()
            .args(["--no-tui", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Headless::adopt(child)
    }

    /// Its stdout, line by line, as it prints (read by a thread of its own;
    /// `terminate` then returns an empty stdout).
    pub fn stdout_lines(&mut self) -> mpsc::Receiver<String> {
        let out = self
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("stdout not taken yet");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// The process id (to signal it, or to read its memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A headless sink spawned by the caller (with its own environment),
    /// with stdout and stderr piped: returns once it is listening.
    pub fn adopt(child: Child) -> Headless {
        // Owned by the guard at once: a panic below still stops the child.
        let mut h = Headless {
            child: Some(child),
            addr: String::new(),
            early_stderr: Vec::new(),
            rest_stderr: None,
        };
        let stderr = h.child.as_mut().and_then(|c| c.stderr.take()).unwrap();
        let mut err = BufReader::new(stderr);
        loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap_or(0) > 0,
                "sink exited before listening: {:?}",
                h.early_stderr
            );
            if let Some(a) = line.trim().strip_prefix("sinkwatch: listening on ") {
                h.addr = a.to_owned();
                h.rest_stderr = Some(std::thread::spawn(move || {
                    let mut rest = String::new();
                    let _ = err.read_to_string(&mut rest);
                    rest
                }));
                return h;
            }
            h.early_stderr.push(line.trim_end().to_owned());
        }
    }

    /// The address to send to (127.0.0.1 when listening on 0.0.0.0).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr.replace("0.0.0.0", "127.0.0.1"))
    }

    /// SIGTERM, then what it printed and how it exited.
    pub fn terminate(self) -> Exit {
        self.signal("-TERM")
    }

    /// The signal (`-TERM`, `-HUP`, …), then what it printed and how it
    /// exited.
    pub fn signal(mut self, signal: &str) -> Exit {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let done = watchdog(child.id());
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut stdout).unwrap();
        }
        let status = child.wait().unwrap();
        drop(done);
        assert!(
            status.code().is_some(),
            "no exit within {DEADLINE:?} of {signal}"
        );
        let stderr = self
            .rest_stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Exit {
            stdout,
            stderr,
            status,
        }
    }
}

impl Drop for Headless {
    /// A test that fails half-way leaves no process behind.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd` with its stdout piped and never read, waits for the stderr
/// line containing `ready`, calls `then` with that line (to fill the pipe),
/// and sends SIGTERM: the process must say it is still writing, stop at
/// a second SIGTERM saying that stdout is not being read and how many
/// alert lines reached it (the whole ones the pipe holds), and exit 0.
pub fn second_signal_stops_with_stdout_unread(
    cmd: &mut Command,
    ready: &str,
    then: impl FnOnce(&str),
) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = watchdog(child.id());
    // Held, read only once the process is gone.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, said) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &str| loop {
        let line = said
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("never said: {what}"));
        if line.contains(what) {
            return line;
        }
    };
    then(&wait_for(ready));
    // And lines are in the pipe: the writer has begun, and with more than
    // a pipe holds to write it blocks (the ready line alone may come
    // before the first line is written: a paced `attach` says `snapshot`
    // before it gives its printer anything).
    let start = std::time::Instant::now();
    while pipe_holds(&stdout) < 16 * 1024 {
        assert!(start.elapsed() < DEADLINE, "nothing written to stdout");
        std::thread::sleep(Duration::from_millis(10));
    }
    let term = || {
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    term();
    wait_for("signal again to stop now");
    term();
    let last = wait_for("stopped;");
    assert!(last.contains("stdout is not being read"), "{last}");
    let status = child.wait().unwrap();
    drop(done);
    assert!(status.success(), "{status:?}");
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).unwrap();
    let whole = got
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n") && l.starts_with(b"{\"kind\":\"alert\""))
        .count();
    assert!(whole > 0, "{last}");
    assert!(
        last.contains(&format!(": {whole} alerts reached it")),
        "{whole} whole alert lines: {last}"
    );
}

/// The bytes waiting in a pipe's reading end (FIONREAD).
fn pipe_holds(pipe: &std::process::ChildStdout) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer given; the fd is
    // open for as long as `pipe` is borrowed.
    let r = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n.max(0) as usize
}
