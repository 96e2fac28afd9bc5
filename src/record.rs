//! JSON lines: the headless output, the `--record` file, and their reader.
//!
//! One object per accepted alert, in seq order (the format is in README.md,
//! "JSON lines"):
//! `{"kind":"alert","seq":1,"at":"…Z","owner":…,"repo":…,"policy":…,
//!   "pass":false,"details":…,"change":"first","peer":"127.0.0.1:40312"}`.
//! Strings keep the raw wire text, JSON-escaped. Readers skip kinds they do
//! not know.

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde::Deserialize;
use tokio::sync::broadcast;

use crate::hub::{ReadBack, Refetch};
use crate::model::{AlertRecord, Change};

/// An alert's JSON line as serde would write it (the reference for the
/// hand-written writer, in tests).
#[cfg(test)]
#[derive(serde::Serialize)]
struct AlertLine<'a> {
    kind: &'static str,
    seq: u64,
    at: &'a str,
    owner: &'a str,
    repo: &'a str,
    policy: &'a str,
    pass: bool,
    details: &'a str,
    change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_identity: Option<&'a str>,
    /// Headless output only: the id of the silence covering this failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    silenced: Option<&'a str>,
    /// A viewer's merge only: received before the key's latest alert, so
    /// it did not replace it (its `change` is `same`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    late: bool,
    /// A viewer's lines only: the sink the alert came from (its URL, as
    /// the `sources` line names it) and the alert's seq there (`seq` is
    /// the viewer's own, over all its sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_seq: Option<u64>,
}

/// An alert a viewer received from one of its sources, as its printer
/// gets it: the viewer's record, and where the alert came from.
#[derive(Clone, Debug)]
pub struct Sourced {
    pub record: Arc<AlertRecord>,
    /// The source's URL (shared by all its alerts).
    pub source: Arc<str>,
    /// The alert's seq on that source.
    pub source_seq: u64,
}

/// What a JSON-lines writer receives: a record, maybe with its source.
pub trait Item: Clone + Send + 'static {
    fn record(&self) -> &AlertRecord;
    /// The source's URL and the alert's seq there (a viewer's alerts).
    fn source(&self) -> Option<(&str, u64)> {
        None
    }
}

impl Item for Arc<AlertRecord> {
    fn record(&self) -> &AlertRecord {
        self
    }
}

impl Item for Sourced {
    fn record(&self) -> &AlertRecord {
        &self.record
    }

    fn source(&self) -> Option<(&str, u64)> {
        Some((&self.source, self.source_seq))
    }
}

/// Says which silence, if any, covers a record (headless output).
pub type Marker = Arc<dyn Fn(&AlertRecord) -> Option<String> + Send + Sync>;

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T21:00:00.123Z`.
pub fn format_time(at_ms: u64) -> String {
    TimeText::new(at_ms).as_str().to_owned()
}

/// [`format_time`]'s text without an allocation: every alert line carries
/// one, and formatting it through `humantime` and a `String` was a tenth
/// of a headless sink's (or viewer's) printing.
struct TimeText {
    buf: [u8; 24],
}

impl TimeText {
    /// The last millisecond of year 9999, the last RFC 3339 can write.
    /// Later times (only a hostile Watch source or file sends them; with
    /// `humantime` they were a panic) are written as this one.
    const LAST: u64 = 253_402_300_799_999;

    fn new(at_ms: u64) -> TimeText {
        let mut t = TimeText {
            buf: *b"0000-00-00T00:00:00.000Z",
        };
        let at_ms = at_ms.min(Self::LAST);
        let secs = at_ms / 1000;
        let (y, m, d) = civil_from_days(secs / 86_400);
        let day = secs % 86_400;
        let put = |buf: &mut [u8; 24], at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(&mut t.buf, 0, 4, y);
        put(&mut t.buf, 5, 2, m);
        put(&mut t.buf, 8, 2, d);
        put(&mut t.buf, 11, 2, day / 3600);
        put(&mut t.buf, 14, 2, day / 60 % 60);
        put(&mut t.buf, 17, 2, day % 60);
        put(&mut t.buf, 20, 3, at_ms % 1000);
        t
    }

    fn as_str(&self) -> &str {
        // ASCII digits and separators only.
        std::str::from_utf8(&self.buf).unwrap_or_default()
    }
}

/// The (year, month, day) of a day counted from 1970-01-01, in the
/// proleptic Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Parses the `at` field back into milliseconds since the epoch.
pub fn parse_time(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// The columns of an alert in CSV (the TUI's `e` export and `sinkwatch
/// export --format csv` alike).
pub const CSV_ALERT_COLUMNS: [&str; 10] = [
    "seq",
    "at",
    "owner",
    "repo",
    "policy",
    "status",
    "change",
    "details",
    "peer",
    "peer_identity",
];

/// An alert's cells, as text, in the order of [`CSV_ALERT_COLUMNS`] (the
/// TUI's Markdown export uses them too).
pub fn alert_cells(r: &AlertRecord) -> [String; 10] {
    let peer = r.peer.as_ref();
    [
        r.seq.to_string(),
        format_time(r.at_ms),
        r.owner.to_string(),
        r.repo.to_string(),
        r.policy.to_string(),
        if r.pass { "pass" } else { "fail" }.to_owned(),
        r.change.as_str().to_owned(),
        r.details.to_string(),
        peer.map_or(String::new(), |p| p.label.clone()),
        peer.and_then(|p| p.identity.clone()).unwrap_or_default(),
    ]
}

/// An alert as one CSV row (without the line end).
pub fn csv_alert(r: &AlertRecord) -> String {
    alert_cells(r).map(|c| csv_cell(&c)).join(",")
}

/// A CSV cell (RFC 4180 quoting). Wire text is sanitized (a CSV may well be
/// printed on a terminal), and a cell starting with `=`, `+`, `-` or `@`
/// gets a leading `'` so that a spreadsheet does not run it as a formula.
pub fn csv_cell(s: &str) -> String {
    let mut s = crate::sanitize::text(s).into_owned();
    if s.starts_with(['=', '+', '-', '@']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes one alert as a JSON line (with the trailing newline).
pub fn write_alert(w: &mut impl Write, r: &AlertRecord) -> io::Result<()> {
    write_alert_marked(w, r, None)
}

/// As [`write_alert`], with the `silenced` field when `silenced` is set.
pub fn write_alert_marked(
    w: &mut impl Write,
    r: &AlertRecord,
    silenced: Option<&str>,
) -> io::Result<()> {
    write_alert_from(w, r, silenced, None)
}

/// As [`write_alert_marked`], with the `source` and `source_seq` fields
/// when `source` is set (a viewer's alerts).
pub fn write_alert_from(
    w: &mut impl Write,
    r: &AlertRecord,
    silenced: Option<&str>,
    source: Option<(&str, u64)>,
) -> io::Result<()> {
    // Written field by field, in `AlertLine`'s order and spelling (a test
    // holds the two byte for byte): serde's serializer scanned each string
    // twice (its escapes, then the terminal-safe ones), 0.28 µs per alert
    // on the writer's thread.
    let at = TimeText::new(r.at_ms);
    let mut buf = itoa::Buffer::new();
    w.write_all(b"{\"kind\":\"alert\",\"seq\":")?;
    w.write_all(buf.format(r.seq).as_bytes())?;
    w.write_all(b",\"at\":\"")?;
    w.write_all(at.as_str().as_bytes())?;
    w.write_all(b"\",\"owner\":")?;
    json_str(w, &r.owner)?;
    w.write_all(b",\"repo\":")?;
    json_str(w, &r.repo)?;
    w.write_all(b",\"policy\":")?;
    json_str(w, &r.policy)?;
    w.write_all(if r.pass {
        b",\"pass\":true,\"details\":"
    } else {
        b",\"pass\":false,\"details\":"
    })?;
    json_str(w, &r.details)?;
    w.write_all(b",\"change\":\"")?;
    w.write_all(r.change.as_str().as_bytes())?;
    w.write_all(b"\"")?;
    if let Some(peer) = r.peer.as_deref() {
        if !peer.label.is_empty() {
            w.write_all(b",\"peer\":")?;
            json_str(w, &peer.label)?;
        }
        if let Some(id) = peer.identity.as_deref() {
            w.write_all(b",\"peer_identity\":")?;
            json_str(w, id)?;
        }
    }
    if let Some(id) = silenced {
        w.write_all(b",\"silenced\":")?;
        json_str(w, id)?;
    }
    if r.late {
        w.write_all(b",\"late\":true")?;
    }
    if let Some((url, seq)) = source {
        w.write_all(b",\"source\":")?;
        json_str(w, url)?;
        w.write_all(b",\"source_seq\":")?;
        w.write_all(buf.format(seq).as_bytes())?;
    }
    w.write_all(b"}\n")
}

/// A JSON string: printable ASCII without `"` or `\` as it is (what
/// nearly every name and most details are), anything else through the
/// terminal-safe serializer.
fn json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\"")
    } else {
        crate::sanitize::write_json(&mut *w, s)
    }
}

/// The alert line as serde writes it: the reference the hand-written
/// [`write_alert_from`] is held to.
#[cfg(test)]
fn write_alert_by_serde(
    w: &mut impl Write,
    r: &AlertRecord,
    silenced: Option<&str>,
    source: Option<(&str, u64)>,
) -> io::Result<()> {
    let at = TimeText::new(r.at_ms);
    let line = AlertLine {
        kind: "alert",
        seq: r.seq,
        at: at.as_str(),
        owner: &r.owner,
        repo: &r.repo,
        policy: &r.policy,
        pass: r.pass,
        details: &r.details,
        change: r.change.as_str(),
        peer: r
            .peer
            .as_ref()
            .map(|p| p.label.as_str())
            .filter(|l| !l.is_empty()),
        peer_identity: r.peer.as_ref().and_then(|p| p.identity.as_deref()),
        silenced,
        late: r.late,
        source: source.map(|(url, _)| url),
        source_seq: source.map(|(_, seq)| seq),
    };
    crate::sanitize::write_json(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// The line a recorder writes first: where a run begins in a file that
/// several runs appended to (their seqs each start at 1).
pub fn run_marker(at_ms: u64) -> serde_json::Value {
    serde_json::json!({
        "kind": "run",
        "at": format_time(at_ms),
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
    })
}

/// Writes any other kind of line (`{"kind":…}` objects such as stats).
pub fn write_value(w: &mut impl Write, value: &serde_json::Value) -> io::Result<()> {
    crate::sanitize::write_json(&mut *w, value)?;
    w.write_all(b"\n")
}

/// One alert read back from JSON lines.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RecordedAlert {
    pub seq: u64,
    pub at: String,
    pub owner: String,
    pub repo: String,
    pub policy: String,
    pub pass: bool,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub change: Option<String>,
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub peer_identity: Option<String>,
}

impl RecordedAlert {
    pub fn at_ms(&self) -> Option<u64> {
        parse_time(&self.at)
    }

    pub fn change(&self) -> Option<Change> {
        self.change.as_deref().and_then(Change::parse)
    }
}

/// A line of a recording that could not be read; reading goes on after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Deserialize)]
struct KindOnly<'a> {
    #[serde(borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// Reads JSON lines: yields each alert, or an error naming the line for a
/// truncated or corrupt one (then continues). Other kinds and blank lines are
/// skipped. A read error of the underlying file ends the iteration with an
/// error.
pub fn read_alerts<R: BufRead>(
    reader: R,
) -> impl Iterator<Item = Result<RecordedAlert, LineError>> {
    read_runs(reader).map(|item| item.map(|(_, a)| a))
}

/// As [`read_alerts`], with the run each alert belongs to, counted from 0 in
/// file order: a `{"kind":"run"}` line starts a new one, and so does (in
/// recordings made before those lines existed) a second seq 1.
pub fn read_runs<R: BufRead>(
    reader: R,
) -> impl Iterator<Item = Result<(u32, RecordedAlert), LineError>> {
    read_runs_noting(reader, |_, _, _| Ok(()))
}

/// As [`read_runs`]; `other` is given each line of another kind (`lost`,
/// `undelivered`, `run`, `stats`…) with its kind and line number, as it is
/// read; what it refuses is an unreadable line.
fn read_runs_noting<R: BufRead>(
    reader: R,
    mut other: impl FnMut(&str, &str, u64) -> Result<(), String>,
) -> impl Iterator<Item = Result<(u32, RecordedAlert), LineError>> {
    let mut lines = reader.split(b'\n');
    let mut n: u64 = 0;
    let mut done = false;
    let mut run: u32 = 0;
    // Whether the current run has had an alert / its seq 1.
    let mut any = false;
    let mut had_one = false;
    std::iter::from_fn(move || {
        loop {
            if done {
                return None;
            }
            n += 1;
            let bytes = match lines.next()? {
                Ok(b) => b,
                Err(e) => {
                    done = true;
                    return Some(Err(LineError {
                        line: n,
                        message: format!("read error: {e}"),
                    }));
                }
            };
            let text = match std::str::from_utf8(&bytes) {
                Ok(t) => t.trim_end_matches('\r'),
                Err(e) => {
                    return Some(Err(LineError {
                        line: n,
                        message: format!("not UTF-8 (at byte {})", e.valid_up_to()),
                    }));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let kind = match serde_json::from_str::<KindOnly>(text) {
                Ok(k) => k.kind,
                Err(e) => {
                    return Some(Err(LineError {
                        line: n,
                        message: format!("not a JSON object: {e}"),
                    }));
                }
            };
            match kind.as_deref() {
                Some("alert") => {}
                Some("run") => {
                    if let Err(message) = other("run", text, n) {
                        return Some(Err(LineError { line: n, message }));
                    }
                    if any {
                        run += 1;
                        (any, had_one) = (false, false);
                    }
                    continue;
                }
                Some(k) => {
                    if let Err(message) = other(k, text, n) {
                        return Some(Err(LineError { line: n, message }));
                    }
                    continue;
                }
                None => {
                    return Some(Err(LineError {
                        line: n,
                        message: "no \"kind\" field".to_owned(),
                    }));
                }
            }
            return Some(
                serde_json::from_str::<RecordedAlert>(text)
                    .map(|a| {
                        if a.seq == 1 {
                            if had_one {
                                run += 1;
                            }
                            had_one = true;
                        }
                        any = true;
                        (run, a)
                    })
                    .map_err(|e| LineError {
                        line: n,
                        message: format!("bad alert: {e}"),
                    }),
            );
        }
    })
}

/// Opens a recording to append to (made if missing). A file whose last
/// line is torn (a sink killed mid-write) first gets its newline, so this
/// run's lines start on lines of their own: appended to the torn line, this
/// run's first line was lost with it (a review).
pub fn open_appending(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // Read apart, and only if it can be: a file one may append to but not
    // read (or a pipe) is written as before.
    let torn = file.metadata()?.len() > 0
        && std::fs::File::open(path).is_ok_and(|mut r| {
            let mut last = [0u8];
            r.seek(SeekFrom::End(-1)).is_ok() && r.read_exact(&mut last).is_ok() && last[0] != b'\n'
        });
    if torn {
        file.write_all(b"\n")?;
    }
    Ok(file)
}

/// Counters of one JSON-lines writer, shared with whoever shows them.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    /// Records the writer never received because it fell behind.
    pub lagged: AtomicU64,
    /// Records received but not written (I/O errors such as a full disk).
    pub failed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// The reader went away (a closed pipe): set once, and notified, so a
    /// headless run whose stdout is closed can end cleanly.
    pub closed: std::sync::atomic::AtomicBool,
    pub closed_notify: tokio::sync::Notify,
    /// Asked to stop before its queue is written (a second signal while a
    /// slow reader was being drained): it stops at its next record.
    stop_now: std::sync::atomic::AtomicBool,
    /// Records still queued when it stopped so.
    pub abandoned: AtomicU64,
    /// Records of the batch being written whose whole line is out already
    /// (a write that blocks for good leaves them out of `written`).
    in_flush: AtomicU64,
}

impl WriterStats {
    pub fn lost(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + self.abandoned.load(Ordering::Relaxed)
    }

    /// Records whose whole line reached the output, the batch being
    /// written included (what a reader that stopped reading has got).
    pub fn reached(&self) -> u64 {
        self.written.load(Ordering::Relaxed) + self.in_flush.load(Ordering::Relaxed)
    }

    /// Asks the writer to stop at its next record, counting what is still
    /// queued as [`abandoned`](Self::abandoned). A writer blocked in a
    /// write (a reader that takes nothing) sees it only once that write
    /// returns.
    pub fn stop_now(&self) {
        self.stop_now.store(true, Ordering::Relaxed);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    /// Whether the output's reader went away (EPIPE).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn note_error(&self, e: &io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe && !self.closed.swap(true, Ordering::Relaxed) {
            self.closed_notify.notify_one();
        }
    }
}

/// What a writer does at the end of a batch.
pub trait Sync2: Write {
    /// Makes written data durable (files: fsync). Called on exit.
    fn sync(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// Whether this is a pipe (or a socket): written a few whole lines at
    /// a time (see [`PIPE_CHUNK`]).
    fn is_pipe(&self) -> bool {
        false
    }
}

impl Sync2 for io::Stdout {
    fn is_pipe(&self) -> bool {
        stdout_is_pipe()
    }
}
impl Sync2 for io::StdoutLock<'static> {
    fn is_pipe(&self) -> bool {
        stdout_is_pipe()
    }
}

fn stdout_is_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata().ok())
        .is_some_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
}

/// The most a write to a pipe takes at once (Linux's `PIPE_BUF`): a write
/// of up to this many bytes goes in whole or waits, so written a few whole
/// lines at a time, a pipe whose reader stops holds whole lines only (one
/// longer than this excepted), and the writer knows which records reached
/// it. A 64 KiB write to a full pipe took part of a line and never
/// returned, and a reader that had stopped got a cut line and a count of
/// none (a user's review).
pub const PIPE_CHUNK: usize = 4096;
impl Sync2 for Vec<u8> {}
impl Sync2 for std::fs::File {
    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        match self.sync_all() {
            // Devices and pipes (/dev/stdout, /dev/full, a FIFO) cannot be
            // synced; that is not an error of the recording, and reporting
            // it would hide the error that matters.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        }
    }
}

/// Bytes a writer collects before writing them out.
const BATCH_BYTES: usize = 64 * 1024;

/// The writers' buffer of whole lines, knowing how many alert records it
/// holds: records are counted `written` once they reached the output, and
/// `failed` when writing them failed (a full disk fails when the batch is
/// written, not when a line is buffered).
struct Batch<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Where each alert record's line ends in `buf`: after a failed write,
    /// the records whose whole line reached the output are counted
    /// written, only the others failed.
    ends: Vec<usize>,
    /// A failed write may have left a partial line in the output: the next
    /// batch starts on a new line, so a reader loses only that line.
    torn: bool,
    /// Writes of at most this many bytes, ending at a line's end (pipes).
    chunk: Option<usize>,
    stats: Arc<WriterStats>,
    name: String,
}

impl<W: Sync2> Batch<W> {
    fn new(out: W, stats: Arc<WriterStats>, name: String) -> Self {
        Batch {
            chunk: out.is_pipe().then_some(PIPE_CHUNK),
            out,
            buf: Vec::with_capacity(BATCH_BYTES + 4096),
            ends: Vec::new(),
            torn: false,
            stats,
            name,
        }
    }
}

impl<W: Write> Batch<W> {
    /// Notes that the line just written holds an alert record; writes the
    /// batch out once it is large (errors are counted and kept in stats).
    fn record_added(&mut self) {
        self.ends.push(self.buf.len());
        if self.buf.len() >= BATCH_BYTES {
            let _ = self.flush();
        }
    }

    /// Writes what is left and returns the output.
    fn finish(mut self) -> W {
        let _ = self.flush();
        self.out
    }
}

impl<W: Write> Write for Batch<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return self.out.flush();
        }
        // Written by hand rather than with `write_all`, to know how far the
        // output got when it fails.
        let mut done = 0;
        let mut result = if self.torn {
            self.out.write_all(b"\n")
        } else {
            Ok(())
        };
        let prefix_ok = result.is_ok();
        while result.is_ok() && done < self.buf.len() {
            let end = match self.chunk {
                Some(max) => chunk_end(&self.buf, done, max),
                None => self.buf.len(),
            };
            match self.out.write(&self.buf[done..end]) {
                Ok(0) => result = Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    let out = self.ends.partition_point(|&end| end <= done);
                    self.stats.in_flush.store(out as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => result = Err(e),
            }
        }
        if result.is_ok() {
            result = self.out.flush();
        }
        // `ends` is in order: the lines out are a prefix of them.
        let whole = self.ends.partition_point(|&end| end <= done) as u64;
        let n = self.ends.len() as u64;
        self.stats.written.fetch_add(whole, Ordering::Relaxed);
        self.stats.in_flush.store(0, Ordering::Relaxed);
        match &result {
            Ok(()) => self.torn = false,
            Err(e) => {
                // Torn unless the output stopped at the end of a line.
                self.torn = !prefix_ok || (done > 0 && self.buf[done - 1] != b'\n');
                let lost = n - whole;
                self.stats.failed.fetch_add(lost, Ordering::Relaxed);
                self.stats.set_error(format!("{}: {e}", self.name));
                self.stats.note_error(e);
                tracing::warn!("{}: write failed, {lost} records lost: {e}", self.name);
            }
        }
        self.buf.clear();
        self.ends.clear();
        result
    }
}

/// Where the write starting at `from` ends: at the end of the last whole
/// line within `max` bytes, or of the line itself when it is longer.
fn chunk_end(buf: &[u8], from: usize, max: usize) -> usize {
    if buf.len() - from <= max {
        return buf.len();
    }
    match memchr::memrchr(b'\n', &buf[from..from + max]) {
        Some(i) => from + i + 1,
        None => memchr::memchr(b'\n', &buf[from + max..]).map_or(buf.len(), |i| from + max + i + 1),
    }
}

/// Runs a JSON-lines writer on its own thread until the hub closes: writes
/// every record it receives, flushes whenever it has caught up with the
/// queue (so output is prompt under light load and batched under heavy
/// load), notes losses with a `{"kind":"lost",…}` line, and syncs at the end.
/// `name` names the output in error messages.
pub fn spawn_writer<T: Item, W: Sync2 + Send + 'static>(
    name: String,
    rx: broadcast::Receiver<T>,
    out: W,
    stats: Arc<WriterStats>,
) -> std::thread::JoinHandle<W> {
    spawn(name, rx, out, stats, None, None, None, None)
}

/// As [`spawn_writer`] for a `--record` file: the first line marks where
/// this run starts ([`run_marker`]), as files are appended to. What the
/// writer falls behind on is read back with `refetch` (see [`spawn`]).
pub fn spawn_recorder<W: Sync2 + Send + 'static>(
    name: String,
    rx: broadcast::Receiver<Arc<AlertRecord>>,
    out: W,
    stats: Arc<WriterStats>,
    refetch: Option<Refetch>,
) -> std::thread::JoinHandle<W> {
    let marker = run_marker(crate::hub::now_ms());
    spawn(name, rx, out, stats, None, Some(marker), None, refetch)
}

/// As [`spawn_writer`], and also writes the objects sent on `lines` (the
/// periodic `{"kind":"stats"}` lines of headless mode) as whole lines between
/// alert lines: one thread owns the output, so lines never interleave. Ends
/// when the hub closes, after writing the lines already sent.
pub fn spawn_writer_with_lines<W: Sync2 + Send + 'static>(
    name: String,
    rx: broadcast::Receiver<Arc<AlertRecord>>,
    out: W,
    stats: Arc<WriterStats>,
    lines: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    mark: Option<Marker>,
    refetch: Option<Refetch>,
) -> std::thread::JoinHandle<W> {
    spawn(name, rx, out, stats, Some(lines), None, mark, refetch)
}

/// How long a caught-up writer first naps between looks at its queue
/// before it parks. While alerts flow, napping instead of parking means the
/// hub's `send` never has to wake this thread: a futex wake-up per alert
/// cost more than formatting the line (seen in `perf` as scheduler time on
/// the ingest path). An idle writer still parks, so it costs nothing at
/// rest. 4 ms rather than 1: under steady load each nap was a sleep, a
/// timer interrupt and a flush for ~70 lines, 0.1 µs per alert in all
/// (the writer thread's CPU per alert, alternating: 0.53 → 0.40 µs); a
/// line reaches a reader at most a few ms later, and the queue holds far
/// more than 4 ms of alerts.
const NAP: std::time::Duration = std::time::Duration::from_millis(4);
/// Each look that finds nothing doubles the nap, up to this: alerts that
/// come in bursts (a viewer's, a batch from the sink every few ms) are not
/// looked for every millisecond in between, which was most of a viewer's
/// scheduler time. Steady traffic keeps the nap at [`NAP`].
const MAX_NAP: std::time::Duration = std::time::Duration::from_millis(8);
/// Napping this long in all without news: park.
const NAPS_BEFORE_PARKING: std::time::Duration = std::time::Duration::from_millis(20);

enum Next<T> {
    Alert(Result<T, broadcast::error::RecvError>),
    Line(Option<serde_json::Value>),
}

/// The writer thread. With `refetch` (a sink's own writers, whose records
/// carry the hub's contiguous seqs), what the broadcast skipped is read back
/// from the store's history and written in its place, in seq order: a
/// writer kept off the CPU longer than its queue lasts (a slow disk, a
/// pipe read in bursts) then loses only what the history has let go too,
/// counted with a `lost` line as before. Without it (a viewer's printer,
/// whose source paces itself instead), every skipped record is lost.
#[allow(clippy::too_many_arguments)]
fn spawn<T: Item, W: Sync2 + Send + 'static>(
    name: String,
    mut rx: broadcast::Receiver<T>,
    out: W,
    stats: Arc<WriterStats>,
    mut lines: Option<tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>>,
    first: Option<serde_json::Value>,
    mark: Option<Marker>,
    refetch: Option<Refetch>,
) -> std::thread::JoinHandle<W> {
    std::thread::Builder::new()
        .name(format!("writer {name}"))
        .spawn(move || {
            // Only to wait on two queues at once when parked.
            let waiter = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("writer runtime");
            let mut w = Batch::new(out, stats.clone(), name.clone());
            let mut pending = false;
            if let Some(v) = first {
                // Into the buffer: written with the first batch.
                let _ = write_value(&mut w, &v);
                pending = true;
            }
            let mut nap = NAP;
            let mut napped = std::time::Duration::ZERO;
            // The last seq written, and how many the broadcast skipped
            // after it (with `refetch` only).
            let mut last: Option<u64> = None;
            let mut skipped = 0u64;
            let read_back = |w: &mut Batch<W>, upto: u64, skipped: u64| {
                let refetch = refetch.as_ref().expect("skips are kept only with a refetch");
                let (found, lost, result) =
                    write_read_back(w, refetch, upto, skipped, mark.as_ref());
                stats.lagged.fetch_add(lost, Ordering::Relaxed);
                tracing::warn!(
                    "{name}: fell behind the hub by {skipped} alerts: {found} read back from the \
                     history, {lost} lost"
                );
                result
            };
            loop {
                if stats.stop_now.load(Ordering::Relaxed) {
                    stats.abandoned.fetch_add(rx.len() as u64, Ordering::Relaxed);
                    break;
                }
                let line = lines.as_mut().map(|l| l.try_recv());
                let next = match line {
                    Some(Ok(v)) => Next::Line(Some(v)),
                    Some(Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)) => {
                        Next::Line(None)
                    }
                    _ => match rx.try_recv() {
                        Ok(r) => Next::Alert(Ok(r)),
                        Err(broadcast::error::TryRecvError::Empty) => {
                            if pending {
                                if let Err(e) = w.flush() {
                                    stats.set_error(format!("{name}: {e}"));
                                    tracing::warn!("{name}: flush failed: {e}");
                                }
                                pending = false;
                            }
                            if napped < NAPS_BEFORE_PARKING {
                                std::thread::sleep(nap);
                                napped += nap;
                                nap = (nap * 2).min(MAX_NAP);
                                continue;
                            }
                            match lines.as_mut() {
                                Some(l) => waiter.block_on(async {
                                    tokio::select! {
                                        l = l.recv() => Next::Line(l),
                                        r = rx.recv() => Next::Alert(r),
                                    }
                                }),
                                None => Next::Alert(rx.blocking_recv()),
                            }
                        }
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            Next::Alert(Err(broadcast::error::RecvError::Lagged(n)))
                        }
                        Err(broadcast::error::TryRecvError::Closed) => {
                            Next::Alert(Err(broadcast::error::RecvError::Closed))
                        }
                    },
                };
                nap = NAP;
                napped = std::time::Duration::ZERO;
                let result = match next {
                    Next::Line(None) => {
                        lines = None;
                        continue;
                    }
                    Next::Line(Some(v)) => write_value(&mut w, &v),
                    Next::Alert(Ok(item)) => {
                        let record = item.record();
                        let caught_up = match std::mem::take(&mut skipped) {
                            0 => Ok(()),
                            n => read_back(&mut w, record.seq, n),
                        };
                        last = Some(record.seq);
                        let id = mark.as_ref().and_then(|m| m(record));
                        caught_up.and_then(|()| {
                            write_alert_from(&mut w, record, id.as_deref(), item.source())
                                .map(|_| w.record_added())
                        })
                    }
                    // Seqs are contiguous: the next record says which.
                    Next::Alert(Err(broadcast::error::RecvError::Lagged(n)))
                        if refetch.is_some() =>
                    {
                        skipped += n;
                        continue;
                    }
                    Next::Alert(Err(broadcast::error::RecvError::Lagged(n))) => {
                        stats.lagged.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!("{name}: fell behind, {n} records lost");
                        write_value(
                            &mut w,
                            &serde_json::json!({"kind": "lost", "count": n, "reason": "writer fell behind"}),
                        )
                    }
                    Next::Alert(Err(broadcast::error::RecvError::Closed)) => {
                        if skipped > 0 {
                            // Skipped at the very end: after the last one.
                            let upto = last.map_or(skipped + 1, |l| l + skipped + 1);
                            if let Err(e) = read_back(&mut w, upto, skipped) {
                                stats.failed.fetch_add(1, Ordering::Relaxed);
                                stats.set_error(format!("{name}: {e}"));
                            }
                        }
                        break;
                    }
                };
                pending = true;
                if let Err(e) = result {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    stats.set_error(format!("{name}: {e}"));
                    tracing::warn!("{name}: write failed: {e}");
                }
            }
            if let Some(l) = lines.as_mut() {
                while let Ok(v) = l.try_recv() {
                    if let Err(e) = write_value(&mut w, &v) {
                        stats.set_error(format!("{name}: {e}"));
                    }
                }
            }
            if let Err(e) = w.flush() {
                stats.set_error(format!("{name}: {e}"));
            }
            let mut out = w.finish();
            if let Err(e) = out.sync() {
                stats.set_error(format!("{name}: sync failed: {e}"));
            }
            out
        })
        .expect("spawn writer thread")
}

/// Writes the `skipped` records before seq `upto` (exclusive) that the
/// history still holds, a page at a time, and a `lost` line where each run
/// of those it no longer holds was (the oldest, usually: the ring lets go
/// of its front). Returns how many it found and lost.
fn write_read_back<W: Write>(
    w: &mut Batch<W>,
    refetch: &Refetch,
    upto: u64,
    skipped: u64,
    mark: Option<&Marker>,
) -> (u64, u64, std::io::Result<()>) {
    let (mut found, mut lost) = (0u64, 0u64);
    let result = crate::hub::read_back(refetch, (upto.saturating_sub(skipped), upto), |got| {
        match got {
            ReadBack::Found(r) => {
                found += 1;
                let id = mark.and_then(|m| m(&r));
                write_alert_from(w, &r, id.as_deref(), None)?;
                w.record_added();
                Ok(())
            }
            ReadBack::Missing(_, n) => {
                lost += n;
                write_value(
                    w,
                    &serde_json::json!({"kind": "lost", "count": n, "reason": "writer fell behind"}),
                )
            }
        }
    });
    (found, lost, result)
}

/// Reads every alert of a recording, sorted by run (in file order), then
/// seq; corrupt lines are returned separately.
pub fn load_recording<R: BufRead>(reader: R) -> (Vec<RecordedAlert>, Vec<LineError>) {
    let (alerts, bad, _) = load_recording_noting(reader);
    (alerts, bad)
}

/// What a recording says beside its alerts: alerts its writer lost
/// (`{"kind":"lost"}` lines), alerts forwarding did not deliver
/// (`{"kind":"undelivered"}`), which `open` shows with the alerts, and
/// where its runs start.
#[derive(Debug, Default, PartialEq)]
pub struct Remarks {
    /// Alerts the recording's writer could not write (summed over runs).
    pub lost: u64,
    /// Per upstream (as written, not yet sanitized), per reason (`dropped`,
    /// `failed`, `queued`, `in_flight`): alerts not delivered to it. An
    /// alert forwarded to two upstreams can be in both.
    pub undelivered: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    /// Deliveries that failed to upstreams beyond the first
    /// [`Remarks::UPSTREAMS`] named (a file is not trusted to be small).
    pub undelivered_elsewhere: u64,
    /// The line numbers of `{"kind":"run"}` lines, the first
    /// [`Remarks::RUNS_KEPT`]: a torn line just before one is where a run
    /// was cut short, not corruption.
    pub runs: Vec<u64>,
}

impl Remarks {
    /// Upstreams named one by one; sinkwatch forwards to a handful.
    pub const UPSTREAMS: usize = 8;
    /// Run starts remembered; a run is a sink's start.
    pub const RUNS_KEPT: usize = 4096;
    /// The reasons an `undelivered` line may give.
    pub const REASONS: [&'static str; 4] = ["dropped", "failed", "queued", "in_flight"];

    /// Whether unreadable line `line` is the last line of a run cut short
    /// by a crash: the file's last line, or the line before a run start.
    pub fn torn_run_end(&self, line: u64, last_line: u64) -> bool {
        line == last_line || self.runs.binary_search(&(line + 1)).is_ok()
    }

    /// At most two lines, terminal-safe, for the notices above the panes:
    /// what was lost, then what was not delivered where (the numbers first,
    /// as a narrow terminal cuts the end).
    pub fn notices(&self) -> Vec<String> {
        use crate::numbers::thousands;
        let mut out = Vec::new();
        if self.lost > 0 {
            out.push(format!(
                "{} missing: this recording's writer lost {} (`lost` lines)",
                if self.lost == 1 {
                    "1 alert".to_owned()
                } else {
                    format!("{} alerts", thousands(self.lost))
                },
                if self.lost == 1 { "it" } else { "them" },
            ));
        }
        let each: Vec<String> = self
            .undelivered
            .iter()
            .map(|(url, reasons)| {
                let how: Vec<String> = reasons
                    .iter()
                    .map(|(r, n)| format!("{} {}", r.replace('_', " "), thousands(*n)))
                    .collect();
                format!("{url} {}", how.join(", "))
            })
            .chain(
                (self.undelivered_elsewhere > 0)
                    .then(|| format!("other upstreams {}", thousands(self.undelivered_elsewhere))),
            )
            .collect();
        if !each.is_empty() {
            // Per upstream, not a total: an alert tee'd to two upstreams
            // and delivered to neither is in both (a review read "8 alerts"
            // of a 4-alert recording).
            out.push(
                crate::sanitize::line(&format!(
                    "not delivered: {} (`undelivered` lines list the seqs)",
                    each.join(" · ")
                ))
                .into_owned(),
            );
        }
        out
    }

    /// Takes in a line of another kind than `alert` (see
    /// [`load_recording_noting`]); a `lost` or `undelivered` line that does
    /// not read is refused with why.
    fn note(&mut self, kind: &str, text: &str, line: u64) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Counted {
            count: u64,
            #[serde(default)]
            upstream: String,
            #[serde(default)]
            reason: String,
        }
        match kind {
            "run" => {
                if self.runs.len() < Self::RUNS_KEPT {
                    self.runs.push(line);
                }
                return Ok(());
            }
            "lost" | "undelivered" => {}
            _ => return Ok(()),
        }
        let c =
            serde_json::from_str::<Counted>(text).map_err(|e| format!("bad {kind} line: {e}"))?;
        let too_large = || format!("bad {kind} line: the counts add up past any recording");
        if kind == "lost" {
            self.lost = self.lost.checked_add(c.count).ok_or_else(too_large)?;
            return Ok(());
        }
        if c.upstream.is_empty() {
            return Err("bad undelivered line: no upstream".to_owned());
        }
        if !Self::REASONS.contains(&c.reason.as_str()) {
            return Err(format!(
                "bad undelivered line: reason {:?} is not one of {}",
                c.reason,
                Self::REASONS.join(", ")
            ));
        }
        if c.count == 0 {
            return Ok(());
        }
        if self.undelivered.len() >= Self::UPSTREAMS && !self.undelivered.contains_key(&c.upstream)
        {
            self.undelivered_elsewhere = self
                .undelivered_elsewhere
                .checked_add(c.count)
                .ok_or_else(too_large)?;
            return Ok(());
        }
        let n = self
            .undelivered
            .entry(c.upstream)
            .or_default()
            .entry(c.reason)
            .or_default();
        *n = n.checked_add(c.count).ok_or_else(too_large)?;
        Ok(())
    }
}

/// As [`load_recording`], with what the recording says beside its alerts.
pub fn load_recording_noting<R: BufRead>(
    reader: R,
) -> (Vec<RecordedAlert>, Vec<LineError>, Remarks) {
    let mut remarks = Remarks::default();
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    for item in read_runs_noting(reader, |kind, text, line| remarks.note(kind, text, line)) {
        match item {
            Ok(a) => alerts.push(a),
            Err(e) => bad.push(e),
        }
    }
    // Recordings are written in seq order; a file assembled from pieces
    // might not be. Runs appended to one file each start at seq 1: sorting
    // by seq alone would interleave them (and show an old run's status as
    // the latest), so runs keep their file order. The sort is stable, so
    // equal seqs keep file order.
    alerts.sort_by_key(|(run, a)| (*run, a.seq));
    (alerts.into_iter().map(|(_, a)| a).collect(), bad, remarks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use crate::model::{NewAlert, StoreLimits};
    use proptest::prelude::*;
    use std::time::Duration;

    fn humantime_text(at_ms: u64) -> String {
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at_ms)).to_string()
    }

    #[test]
    fn times_are_formatted_as_humantime_formats_them() {
        for at in [
            0,
            999,
            951_782_400_000,   // 2000-02-29 (a leap day of a century)
            4_107_542_399_999, // 2100-02-28T23:59:59.999 (no leap day)
            4_107_542_400_000,
            1_795_000_000_123,
            TimeText::LAST,
        ] {
            assert_eq!(format_time(at), humantime_text(at), "{at}");
        }
        assert_eq!(format_time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        // Beyond RFC 3339 (humantime panicked on these; a Watch source
        // sets the receive time a viewer prints).
        for at in [TimeText::LAST + 1, u64::MAX] {
            assert_eq!(format_time(at), "9999-12-31T23:59:59.999Z");
        }
    }

    proptest! {
        #[test]
        fn any_time_is_formatted_as_humantime_formats_it(at in 0..=TimeText::LAST) {
            prop_assert_eq!(format_time(at), humantime_text(at));
        }

        /// The hand-written alert line is serde's, byte for byte, for any
        /// text: plain names, quotes, backslashes, controls, escapes, bidi
        /// and invisible characters, variation selectors, any Unicode.
        #[test]
        fn an_alert_line_is_written_as_serde_writes_it(
            texts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-zA-Z0-9 ._/-]{0,12}",
                    "[\\x00-\\x7f]{0,12}",
                    "[\"\\\\\\u{1b}\\u{7f}\\u{9b}\\u{200b}\\u{202e}\\u{fe0f}a é]{0,8}",
                    any::<String>(),
                ],
                7,
            ),
            seq in any::<u64>(),
            at_ms in any::<u64>(),
            pass in any::<bool>(),
            change in 0usize..4,
            peer in 0usize..4,
            late in any::<bool>(),
            silenced in any::<bool>(),
            source in proptest::option::of(any::<u64>()),
        ) {
            let mut r = AlertRecord {
                seq,
                at_ms,
                owner: texts[0].as_str().into(),
                repo: texts[1].as_str().into(),
                policy: texts[2].as_str().into(),
                pass,
                details: texts[3].as_str().into(),
                change: [Change::First, Change::Same, Change::Regressed, Change::Fixed][change],
                peer: None,
                late,
                before: None,
                key: crate::model::NO_KEY,
            };
            r.peer = match peer {
                0 => None,
                1 => Some(Arc::new(crate::model::Peer::new(None, None))),
                2 => Some(Arc::new(crate::model::Peer::new(
                    Some("10.0.0.1:5000".parse().unwrap()),
                    None,
                ))),
                _ => Some(Arc::new(crate::model::Peer::new(
                    Some("[::1]:443".parse().unwrap()),
                    Some(texts[4].clone()),
                ))),
            };
            let silenced = silenced.then_some(texts[5].as_str());
            let source = source.map(|seq| (texts[6].as_str(), seq));
            let mut hand = Vec::new();
            write_alert_from(&mut hand, &r, silenced, source).unwrap();
            let mut serde = Vec::new();
            write_alert_by_serde(&mut serde, &r, silenced, source).unwrap();
            prop_assert_eq!(String::from_utf8(hand).unwrap(), String::from_utf8(serde).unwrap());
        }
    }

    fn alert(details: &str, pass: bool) -> NewAlert {
        NewAlert {
            owner: "ossf".into(),
            repo: "allstar".into(),
            policy: "Branch Protection".into(),
            details: details.into(),
            pass,
        }
    }

    /// A viewer's printer gets its alerts with their source: the line adds
    /// `source` and `source_seq` after every documented field (nothing
    /// renamed or moved); other lines have neither.
    #[test]
    fn a_viewers_line_names_the_source_and_its_seq_there() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let (_, mut plain) = hub.subscribe();
        let (tx, rx) = broadcast::channel(8);
        hub.ingest_by_time_then(&alert("", true), 1_000, None, None, None, &mut |r| {
            let _ = tx.send(Sourced {
                record: r.clone(),
                source: Arc::from("http://127.0.0.1:7000"),
                source_seq: 1234,
            });
        })
        .unwrap();
        hub.close();
        drop(tx);
        let stats = Arc::new(WriterStats::default());
        let out = spawn_writer("test".into(), rx, Vec::new(), stats)
            .join()
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "\"change\":\"first\",\"source\":\"http://127.0.0.1:7000\",\"source_seq\":1234}\n"
            ),
            "{text}"
        );
        let mut out = Vec::new();
        write_alert(&mut out, &plain.try_recv().unwrap()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("source"), "{text}");
    }

    #[test]
    fn lines_match_the_documented_format() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let peer = "127.0.0.1:40312".parse().unwrap();
        let r = hub
            .ingest_at(
                &alert("No protection found for branch main\n", false),
                1_795_640_400_123,
                Some(peer),
                None,
            )
            .unwrap();
        let mut out = Vec::new();
        write_alert(&mut out, &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"kind\":\"alert\",\"seq\":1,\"at\":\"2026-11-25T21:00:00.123Z\",\"owner\":\"ossf\",\
             \"repo\":\"allstar\",\"policy\":\"Branch Protection\",\"pass\":false,\
             \"details\":\"No protection found for branch main\\n\",\"change\":\"first\",\
             \"peer\":\"127.0.0.1:40312\"}\n"
        );
    }

    /// A viewer's merge of an alert older than the key's latest: `same`,
    /// marked `late` (a field added, nothing renamed); others unmarked.
    #[test]
    fn a_late_alert_is_marked_and_others_are_not() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let line = |r: &AlertRecord| {
            let mut out = Vec::new();
            write_alert(&mut out, r).unwrap();
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        };
        let newer = hub.ingest_by_time(&alert("", true), 2_000, None, None, None);
        let older = hub.ingest_by_time(&alert("x", false), 1_000, None, None, None);
        let newer = line(&newer.unwrap());
        assert_eq!(newer.get("late"), None, "{newer}");
        let older = line(&older.unwrap());
        assert_eq!(older["late"], true, "{older}");
        assert_eq!(older["change"], "same", "{older}");
        assert_eq!(older["at"], "1970-01-01T00:00:01.000Z", "{older}");
        // Readers of recordings take it as any alert line.
        let back: Vec<_> = read_alerts(older.to_string().as_bytes()).collect();
        assert_eq!(back[0].as_ref().unwrap().change(), Some(Change::Same));
    }

    #[test]
    fn hostile_strings_stay_raw_but_escaped() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let r = hub
            .ingest_at(&alert("\u{1b}]0;pwned\u{7}\u{202e}", false), 0, None, None)
            .unwrap();
        let mut out = Vec::new();
        write_alert(&mut out, &r).unwrap();
        assert!(!out.contains(&0x1b), "no raw ESC in JSON output");
        let back: Vec<_> = read_alerts(&out[..]).collect();
        assert_eq!(
            back[0].as_ref().unwrap().details,
            "\u{1b}]0;pwned\u{7}\u{202e}"
        );
    }

    #[test]
    fn round_trip_and_corrupt_lines_are_reported_by_number() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let mut out = Vec::new();
        for i in 0..3 {
            let r = hub
                .ingest_at(&alert("d", i % 2 == 0), 1000 * i, None, None)
                .unwrap();
            write_alert(&mut out, &r).unwrap();
        }
        let mut text = String::from_utf8(out).unwrap();
        text.insert_str(0, "{\"kind\":\"stats\",\"accepted\":0}\n\n");
        text.push_str("{\"kind\":\"alert\",\"seq\":4,\"at\n"); // truncated
        text.push_str("garbage\n");
        text.push_str("{\"kind\":\"alert\",\"seq\":5}\n"); // missing fields
        text.push_str("{\"kind\":\"alert\",\"seq\":6,\"at\":\"2026-11-25T21:00:00.000Z\",\"owner\":\"o\",\"repo\":\"r\",\"policy\":\"p\",\"pass\":true}"); // no final newline
        let items: Vec<_> = read_alerts(text.as_bytes()).collect();
        let ok: Vec<u64> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|a| a.seq)
            .collect();
        assert_eq!(ok, vec![1, 2, 3, 6]);
        let errs: Vec<u64> = items
            .iter()
            .filter_map(|i| i.as_ref().err())
            .map(|e| e.line)
            .collect();
        assert_eq!(errs, vec![6, 7, 8]);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.at_ms(), Some(0));
        assert_eq!(first.change(), Some(Change::First));
        assert_eq!(items[1].as_ref().unwrap().change(), Some(Change::Regressed));
    }

    /// What the broadcast skipped is read back from the history in seq
    /// order; only what the history let go too is lost, in a `lost` line.
    #[test]
    fn a_writer_reads_back_what_it_fell_behind_on() {
        for (history, want, lost) in [
            (50, (1..=10).collect::<Vec<u64>>(), 0),
            (7, (4..=10).collect(), 3),
        ] {
            let limits = StoreLimits {
                history,
                ..StoreLimits::default()
            };
            let hub = Hub::new(limits, 4);
            let (_, rx) = hub.subscribe();
            for i in 0..10 {
                hub.ingest(&alert("x", i % 3 == 0), None, None).unwrap();
            }
            hub.close();
            let stats = Arc::new(WriterStats::default());
            let refetch = Some(hub.refetch());
            let out = spawn(
                "test".into(),
                rx,
                Vec::new(),
                stats.clone(),
                None,
                None,
                None,
                refetch,
            )
            .join()
            .unwrap();
            let seqs: Vec<u64> = read_alerts(&out[..]).map(|a| a.unwrap().seq).collect();
            assert_eq!(seqs, want, "history {history}");
            let lines: Vec<serde_json::Value> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            let lost_lines: Vec<_> = lines.iter().filter(|v| v["kind"] == "lost").collect();
            assert_eq!(stats.lost(), lost, "history {history}");
            if lost == 0 {
                assert!(lost_lines.is_empty(), "{lost_lines:?}");
            } else {
                assert_eq!(lost_lines.len(), 1, "{lost_lines:?}");
                assert_eq!(lost_lines[0]["count"], lost);
                // Said before the records that came after the hole.
                assert_eq!(lines[0]["kind"], "lost", "{lines:?}");
            }
        }
    }

    #[test]
    fn writer_writes_everything_in_order_then_syncs() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let (_, rx) = hub.subscribe();
        let stats = Arc::new(WriterStats::default());
        let handle = spawn_writer("test".into(), rx, Vec::new(), stats.clone());
        for i in 0..500 {
            hub.ingest(&alert("x", i % 3 == 0), None, None).unwrap();
        }
        hub.close();
        let out = handle.join().unwrap();
        let seqs: Vec<u64> = read_alerts(&out[..]).map(|a| a.unwrap().seq).collect();
        assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
        assert_eq!(stats.written.load(Ordering::Relaxed), 500);
        assert_eq!(stats.lost(), 0);
    }

    /// A pipe is written whole lines at a time, at most `max` bytes (a
    /// longer line alone), so a write that blocks leaves no cut line.
    #[test]
    fn pipe_writes_end_at_a_lines_end() {
        let buf = b"aaa\nbb\ncccccccc\nd\n";
        let mut from = 0;
        let mut writes = Vec::new();
        while from < buf.len() {
            let end = chunk_end(buf, from, 8);
            writes.push(std::str::from_utf8(&buf[from..end]).unwrap());
            from = end;
        }
        assert_eq!(writes, ["aaa\nbb\n", "cccccccc\n", "d\n"]);
        assert_eq!(chunk_end(buf, 0, 100), buf.len());
    }

    /// Told to stop now, the writer writes nothing more and counts what
    /// was queued as lost (abandoned), instead of draining it.
    #[test]
    fn a_writer_told_to_stop_now_counts_the_queue_as_abandoned() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let (_, rx) = hub.subscribe();
        for i in 0..300 {
            hub.ingest(&alert("x", i % 3 == 0), None, None).unwrap();
        }
        let stats = Arc::new(WriterStats::default());
        stats.stop_now();
        let handle = spawn_writer("test".into(), rx, Vec::new(), stats.clone());
        let out = handle.join().unwrap();
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        assert_eq!(stats.abandoned.load(Ordering::Relaxed), 300);
        assert_eq!(stats.lost(), 300);
        hub.close();
    }

    struct FullDisk;
    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sync2 for FullDisk {}

    #[test]
    fn records_buffered_when_the_disk_fails_are_counted_as_failed() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let (_, rx) = hub.subscribe();
        let stats = Arc::new(WriterStats::default());
        let handle = spawn_writer("full.jsonl".into(), rx, FullDisk, stats.clone());
        for _ in 0..3 {
            hub.ingest(&alert("small", false), None, None).unwrap();
        }
        hub.close();
        handle.join().unwrap();
        assert_eq!(
            stats.written.load(Ordering::Relaxed),
            0,
            "nothing reached the disk"
        );
        assert_eq!(
            stats.failed.load(Ordering::Relaxed),
            3,
            "every lost record is counted"
        );
        assert_eq!(stats.lost(), 3);
    }

    /// Accepts `ok` bytes, then fails once (mid-line), then works again.
    struct Hiccup {
        ok: usize,
        failed: bool,
        data: Vec<u8>,
    }
    impl Write for Hiccup {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if !self.failed {
                let n = self.ok.saturating_sub(self.data.len()).min(b.len());
                if n == 0 {
                    self.failed = true;
                    return Err(io::Error::other("transient"));
                }
                self.data.extend_from_slice(&b[..n]);
                return Ok(n);
            }
            self.data.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sync2 for Hiccup {}

    #[test]
    fn after_a_torn_write_the_next_lines_are_whole() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let mut w = Batch::new(
            Hiccup {
                ok: 30,
                failed: false,
                data: Vec::new(),
            },
            Arc::new(WriterStats::default()),
            "t".into(),
        );
        let stats = w.stats.clone();
        let r = hub.ingest(&alert("a", false), None, None).unwrap();
        write_alert(&mut w, &r).unwrap();
        w.record_added();
        assert!(w.flush().is_err());
        let r = hub.ingest(&alert("b", false), None, None).unwrap();
        write_alert(&mut w, &r).unwrap();
        w.record_added();
        w.flush().unwrap();
        let out = w.finish().data;
        let items: Vec<_> = read_alerts(&out[..]).collect();
        assert_eq!(items.len(), 2, "{}", String::from_utf8_lossy(&out));
        assert!(items[0].is_err(), "the torn line is reported");
        assert_eq!(items[1].as_ref().unwrap().seq, 2);
        assert_eq!(
            (
                stats.written.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed)
            ),
            (1, 1)
        );
    }

    /// Takes `ok` bytes, then fails every write (a disk that fills up).
    struct FillsUp {
        ok: usize,
        data: Vec<u8>,
    }
    impl Write for FillsUp {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = self.ok.saturating_sub(self.data.len()).min(b.len());
            if n == 0 {
                return Err(io::Error::other("No space left on device"));
            }
            self.data.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Sync2 for FillsUp {}

    #[test]
    fn after_a_torn_write_only_the_lines_that_did_not_make_it_are_lost() {
        // Before, the whole batch counted as lost, over-reporting by the
        // complete lines that reached the disk before it filled up.
        let hub = Hub::new(StoreLimits::default(), 1024);
        let stats = Arc::new(WriterStats::default());
        let mut w = Batch::new(
            FillsUp {
                ok: 0,
                data: Vec::new(),
            },
            stats.clone(),
            "t".into(),
        );
        let mut ends = Vec::new();
        for i in 0..5 {
            let r = hub
                .ingest(&alert(&format!("d{i}"), false), None, None)
                .unwrap();
            write_alert(&mut w, &r).unwrap();
            w.record_added();
            ends.push(w.buf.len());
        }
        // Room for two whole lines and half of the third.
        w.out.ok = ends[1] + (ends[2] - ends[1]) / 2;
        assert!(w.flush().is_err());
        assert_eq!(stats.written.load(Ordering::Relaxed), 2);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 3);
        assert!(w.torn);
        let items: Vec<_> = read_alerts(&w.out.data[..]).collect();
        assert_eq!(items.len(), 3, "two whole lines and a torn one");
    }

    /// What a recording says beside its alerts is read, not skipped: its
    /// writer's `lost` lines and forwarding's `undelivered` lines (a review:
    /// `open` showed such a file as if nothing had been lost).
    #[test]
    fn a_recordings_lost_and_undelivered_lines_are_read() {
        let text = [
            r#"{"kind":"alert","seq":1,"at":"2026-11-25T21:00:01.000Z","owner":"o","repo":"r","policy":"p","pass":true}"#,
            r#"{"kind":"lost","count":21200,"reason":"writer fell behind"}"#,
            r#"{"kind":"stats","accepted":1}"#,
            r#"{"kind":"undelivered","upstream":"http://u:1","reason":"dropped","count":10,"ranges":[[2,11]],"unlisted":0}"#,
            r#"{"kind":"undelivered","upstream":"http://u:1","reason":"in_flight","count":2,"ranges":[[12,13]],"unlisted":0}"#,
            r#"{"kind":"undelivered","upstream":"http://v:2\u001b[2J","reason":"failed","count":1,"ranges":[[14,14]],"unlisted":0}"#,
        ]
        .join("\n");
        let (alerts, bad, remarks) = load_recording_noting(text.as_bytes());
        assert_eq!((alerts.len(), bad.len()), (1, 0), "{bad:?}");
        assert_eq!(remarks.lost, 21_200);
        assert_eq!(remarks.undelivered["http://u:1"]["dropped"], 10);
        // Per upstream, no total: an alert tee'd to two upstreams is in both.
        assert_eq!(
            remarks.notices(),
            vec![
                "21,200 alerts missing: this recording's writer lost them (`lost` lines)"
                    .to_owned(),
                "not delivered: http://u:1 dropped 10, in flight 2 · \
                 http://v:2\\x1b[2J failed 1 (`undelivered` lines list the seqs)"
                    .to_owned(),
            ]
        );
        // A file naming upstream after upstream is summed past the first few.
        let many: String = (0..20)
            .map(|i| {
                format!(
                    "{{\"kind\":\"undelivered\",\"upstream\":\"http://u{i}:1\",\"reason\":\"failed\",\"count\":1}}\n"
                )
            })
            .collect();
        let (_, _, remarks) = load_recording_noting(many.as_bytes());
        assert_eq!(remarks.undelivered.len(), Remarks::UPSTREAMS);
        assert_eq!(remarks.undelivered_elsewhere, 12);
        assert!(
            remarks.notices()[0]
                .ends_with(" · other upstreams 12 (`undelivered` lines list the seqs)")
        );
    }

    /// A `lost` or `undelivered` line that does not read is an unreadable
    /// line, named, not a silent nothing; and counts never add up past
    /// what a number holds (a review: "18446744073709551615 alerts missing").
    #[test]
    fn a_bad_lost_or_undelivered_line_is_an_unreadable_line() {
        for (line, why) in [
            (r#"{"kind":"lost","count":-5}"#, "bad lost line"),
            (r#"{"kind":"lost","count":"12"}"#, "bad lost line"),
            (r#"{"kind":"lost","count":2.5}"#, "bad lost line"),
            (r#"{"kind":"lost"}"#, "missing field `count`"),
            (
                r#"{"kind":"lost","count":99999999999999999999999}"#,
                "bad lost line",
            ),
            (
                r#"{"kind":"undelivered","upstream":"u","reason":"failed","count":-4}"#,
                "bad undelivered line",
            ),
            (
                r#"{"kind":"undelivered","reason":"failed","count":4}"#,
                "no upstream",
            ),
            (
                r#"{"kind":"undelivered","upstream":"u","reason":"bogus","count":4}"#,
                "reason \"bogus\"",
            ),
        ] {
            let (_, bad, remarks) = load_recording_noting(line.as_bytes());
            assert_eq!(bad.len(), 1, "{line}");
            assert!(bad[0].message.contains(why), "{line}: {}", bad[0]);
            assert_eq!(remarks, Remarks::default(), "{line}");
        }
        let text =
            "{\"kind\":\"lost\",\"count\":18446744073709551615}\n{\"kind\":\"lost\",\"count\":1}\n";
        let (_, bad, remarks) = load_recording_noting(text.as_bytes());
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].line, remarks.lost), (2, u64::MAX));
    }

    #[test]
    fn runs_appended_to_one_file_keep_their_order() {
        use super::load_recording;
        let line = |seq: u64, pass: bool| {
            format!(
                r#"{{"kind":"alert","seq":{seq},"at":"2026-11-25T21:00:0{seq}.000Z","owner":"o","repo":"r","policy":"p","pass":{pass}}}"#
            )
        };
        let marker = |at: u64| run_marker(at).to_string();
        // Run 1: three alerts, the last failing... then run 2: two alerts,
        // the last failing. Sorted by seq alone, run 1's seq 3 came last.
        let with_markers = [
            marker(1),
            line(1, true),
            line(2, true),
            line(3, true),
            marker(2),
            line(1, true),
            line(2, false),
        ]
        .join("\n");
        let without = [
            line(1, true),
            line(2, true),
            line(3, true),
            line(1, true),
            line(2, false),
        ]
        .join("\n");
        for text in [with_markers, without] {
            let runs: Vec<u32> = read_runs(text.as_bytes()).map(|r| r.unwrap().0).collect();
            assert_eq!(runs, [0, 0, 0, 1, 1]);
            let (alerts, bad) = load_recording(text.as_bytes());
            assert!(bad.is_empty());
            let order: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
            assert_eq!(order, [1, 2, 3, 1, 2]);
            assert!(
                !alerts.last().unwrap().pass,
                "the latest status is the last run's"
            );
        }
    }

    #[test]
    fn a_failing_output_is_counted_and_never_blocks() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let (_, rx) = hub.subscribe();
        let stats = Arc::new(WriterStats::default());
        let handle = spawn_writer("full.jsonl".into(), rx, FullDisk, stats.clone());
        // Lines larger than the buffer reach the device and fail.
        let big = "x".repeat(100 * 1024);
        for _ in 0..5 {
            hub.ingest(&alert(&big, false), None, None).unwrap();
        }
        hub.close();
        handle.join().unwrap();
        assert_eq!(hub.read(|s| s.accepted()), 5);
        assert!(stats.failed.load(Ordering::Relaxed) >= 1);
        let err = stats.last_error().unwrap();
        assert!(
            err.contains("full.jsonl") && err.contains("No space left"),
            "{err}"
        );
    }

    #[test]
    fn extra_lines_are_written_whole_between_alerts() {
        let hub = Hub::new(StoreLimits::default(), 1024);
        let (_, rx) = hub.subscribe();
        let stats = Arc::new(WriterStats::default());
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let handle = spawn_writer_with_lines(
            "test".into(),
            rx,
            Vec::new(),
            stats.clone(),
            lines,
            None,
            None,
        );
        for i in 0..300 {
            hub.ingest(&alert("x", i % 3 == 0), None, None).unwrap();
            if i % 100 == 0 {
                tx.send(serde_json::json!({"kind": "stats", "i": i}))
                    .unwrap();
            }
        }
        tx.send(serde_json::json!({"kind": "stats", "last": true}))
            .unwrap();
        hub.close();
        let out = handle.join().unwrap();
        let text = String::from_utf8(out).unwrap();
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(values.iter().filter(|v| v["kind"] == "stats").count(), 4);
        let seqs: Vec<u64> = read_alerts(text.as_bytes())
            .map(|a| a.unwrap().seq)
            .collect();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
        assert_eq!(stats.lost(), 0);
    }

    #[test]
    fn recordings_are_sorted_by_seq_and_bad_lines_kept() {
        let text = "{\"kind\":\"alert\",\"seq\":2,\"at\":\"2026-11-25T21:00:01Z\",\"owner\":\"o\",\"repo\":\"r\",\"policy\":\"p\",\"pass\":true}\n\
                    not json\n\
                    {\"kind\":\"alert\",\"seq\":1,\"at\":\"2026-11-25T21:00:00Z\",\"owner\":\"o\",\"repo\":\"r\",\"policy\":\"p\",\"pass\":false}\n";
        let (alerts, bad) = load_recording(text.as_bytes());
        assert_eq!(alerts.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
    }
}
