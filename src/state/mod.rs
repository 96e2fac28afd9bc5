//! Durable state: an embedded SQLite database (WAL mode) that keeps what the
//! sink accepted across restarts, and that people can query with `sqlite3`.
//!
//! - [`open`] takes the file's lock, checks and migrates its schema
//!   ([`schema`]) and restores the latest status per key, the transitions and
//!   the tail of the history into a fresh [`Store`] ([`restore`]), so `seq`
//!   continues where the file stopped.
//! - [`writer`] is a consumer of the hub, like the recorder: it writes in
//!   batched transactions on its own thread, never on the ingest path, and
//!   counts what it loses (fell behind, or a write failed).
//! - Faults (a corrupt, truncated, read-only or newer file, a full disk)
//!   never stop the sink: they are one line naming the file and the cause,
//!   and the state is marked not durable in the status bar and the stats.
//!   A file that cannot be read is never written.

pub mod epoch;
pub mod export;
pub mod history;
pub mod older;
pub mod restore;
pub mod schema;
pub mod seek;
pub mod silences;
pub mod spool;
pub mod writer;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::model::{Store, StoreLimits};

/// Default retention of events (the latest alert of each key is kept
/// whatever its age).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where the state goes, as chosen by `--state` / the `state` key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum StateChoice {
    /// Not chosen: the default file for the interactive sink, memory for
    /// headless runs and `--demo`.
    #[default]
    Default,
    /// `none`: in memory only.
    Memory,
    File(PathBuf),
}

impl StateChoice {
    pub fn parse(s: &str) -> Result<StateChoice, String> {
        match s.trim() {
            "" => Err("expected a file name or `none`".into()),
            "none" => Ok(StateChoice::Memory),
            f => Ok(StateChoice::File(PathBuf::from(f))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for StateChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StateChoice::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How long events are kept: `None` is forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retain(pub Option<Duration>);

impl<'de> serde::Deserialize<'de> for Retain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_retain(&s).map_err(serde::de::Error::custom)
    }
}

/// The longest retention short of `forever`: every number has a range, and
/// a longer one keeps everything anyway. 100 years of 365.25 days, as the
/// duration parser counts `100y`.
pub const MAX_RETAIN: Duration = Duration::from_secs(3_155_760_000);

/// Parses `--retain`: a duration such as `30d` or `12h`, a bare number of
/// seconds (as every duration option), or `forever`; from 1 s to
/// [`MAX_RETAIN`]. Errors are one line saying what is expected (never the
/// duration parser's own words, which point at byte offsets).
pub fn parse_retain(s: &str) -> Result<Retain, String> {
    let t = s.trim();
    if t == "forever" {
        return Ok(Retain(None));
    }
    let too_long = || format!("{t:?}: at most 100 years (or `forever` to keep everything)");
    let d = match bare_seconds(t) {
        Some(secs) if secs > MAX_RETAIN.as_secs_f64() => return Err(too_long()),
        Some(secs) => Duration::from_secs_f64(secs),
        None => match humantime::parse_duration(t) {
            Ok(d) => d,
            Err(humantime::DurationError::NumberOverflow) => return Err(too_long()),
            Err(_) => {
                return Err(format!(
                    "{t:?}: expected a duration such as 30d, 12h or 90m, a number of seconds, \
                     or `forever`"
                ));
            }
        },
    };
    if d < Duration::from_secs(1) {
        return Err(format!(
            "{t:?}: must be at least 1s (or `forever` to keep everything)"
        ));
    }
    if d > MAX_RETAIN {
        return Err(too_long());
    }
    Ok(Retain(Some(d)))
}

/// A bare number of seconds (`3600`, `86_400`, `1.5`), digits grouped with
/// `_` or `,` as in every number of the options; `None` for anything else.
fn bare_seconds(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let grouped = |i: usize| {
        i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit()
    };
    let ok = b.first().is_some_and(u8::is_ascii_digit)
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_digit() || c == b'.' || ((c == b'_' || c == b',') && grouped(i))
        });
    if !ok {
        return None;
    }
    t.replace(['_', ','], "")
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
}

/// The default database of an interactive sink listening on `listen`:
/// `<state dir>/sinkwatch/state-<port>.db`. One file per port, so several
/// sinks on one machine (a tee to a local upstream) each keep their own;
/// port 0 has no default (the next run gets another port and would never
/// find the file again).
pub fn default_path(listen: SocketAddr) -> Option<PathBuf> {
    if listen.port() == 0 {
        return None;
    }
    let dir = dirs::state_dir().or_else(dirs::data_local_dir)?;
    Some(
        dir.join("sinkwatch")
            .join(format!("state-{}.db", listen.port())),
    )
}

/// What was restored at start, for the status bar and the stats line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub keys: u64,
    pub events: u64,
    pub transitions: u64,
    /// Alerts the file had accepted in all (`seq` continues after it).
    pub accepted: u64,
    /// The oldest and newest stored alert times (ms since the epoch).
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    /// Keys the store refused (its key bound).
    pub refused_keys: u64,
    /// Alerts the last run had spooled and not committed (it was killed),
    /// committed at this start before the restore.
    pub replayed: u64,
    /// Seqs missing from the file outside what retention pruned: how many,
    /// the first and the last (see `restore::missing`).
    pub missing: Option<(u64, u64, u64)>,
}

/// Counters of the state database, shared with whoever shows them.
#[derive(Debug, Default)]
pub struct StateStats {
    pub file: String,
    /// Alerts committed to the database.
    pub written: AtomicU64,
    /// Alerts the writer never received because it fell behind.
    pub lagged: AtomicU64,
    /// Alerts received but not committed (a write failed: disk full, …).
    pub failed: AtomicU64,
    /// Events removed by retention.
    pub pruned: AtomicU64,
    /// Alerts the writer holds and has not committed yet (queued, or in
    /// the batch being written): what a `kill -9` would lose.
    pub backlog: AtomicU64,
    /// Receive time (ms since the epoch) of the oldest of them; 0 when none.
    pub oldest_ms: AtomicU64,
    /// Alerts the writer held without a copy in the spool (it was full,
    /// or could not be written): a kill before their commit loses them.
    pub unspooled: AtomicU64,
    durable: AtomicBool,
    last_error: Mutex<Option<String>>,
    pub restored: Restored,
}

impl StateStats {
    pub fn lost(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    /// Alerts held and not committed yet, and how long the oldest of them
    /// has waited at `now_ms` (0 when none).
    pub fn backlog(&self, now_ms: u64) -> (u64, u64) {
        let n = self.backlog.load(Ordering::Relaxed);
        let oldest = self.oldest_ms.load(Ordering::Relaxed);
        if n == 0 || oldest == 0 {
            return (n, 0);
        }
        (n, now_ms.saturating_sub(oldest))
    }

    /// True while every received alert reached the database.
    pub fn durable(&self) -> bool {
        self.durable.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_error(&self, e: String) {
        self.durable.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    /// The line said at exit when alerts were not stored, if any: how many,
    /// and why (the run's last write error, or falling behind).
    pub fn summary(&self) -> Option<String> {
        let (failed, lagged) = (
            self.failed.load(Ordering::Relaxed),
            self.lagged.load(Ordering::Relaxed),
        );
        if failed + lagged == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if failed > 0 {
            parts.push(format!("{failed} could not be written"));
        }
        if lagged > 0 {
            parts.push(format!("{lagged} were dropped while the writer was behind"));
        }
        Some(format!(
            "state {}: {} alerts not stored ({})",
            self.file,
            failed + lagged,
            parts.join(", ")
        ))
    }

    /// The `"state"` object of the stats line.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.restored;
        let (backlog, backlog_age_ms) = self.backlog(crate::hub::now_ms());
        let mut v = serde_json::json!({
            "file": self.file,
            "durable": self.durable(),
            "written": self.written.load(Ordering::Relaxed),
            "lost": self.lost(),
            "pruned": self.pruned.load(Ordering::Relaxed),
            "backlog": backlog,
            "backlog_age_ms": backlog_age_ms,
            "unspooled": self.unspooled.load(Ordering::Relaxed),
            "restored": {
                "keys": r.keys,
                "events": r.events,
                "transitions": r.transitions,
                "accepted": r.accepted,
                "replayed": r.replayed,
                "missing": r.missing.map_or(0, |m| m.0),
            },
        });
        if let Some(t) = r.last_ms {
            v["restored"]["last_at"] = crate::record::format_time(t).into();
        }
        if let Some(t) = r.first_ms {
            v["restored"]["first_at"] = crate::record::format_time(t).into();
        }
        if let Some(e) = self.last_error() {
            v["error"] = e.into();
        }
        v
    }
}

/// Options of [`open`].
pub struct OpenOptions {
    pub path: PathBuf,
    pub retain: Option<Duration>,
    /// This sink's listen address, written in the lock file so a second
    /// process can name it.
    pub listen: String,
    pub limits: StoreLimits,
}

/// An opened state: the restored store, its counters, and the writer to
/// start once the hub exists (`None` when the state is not durable).
pub struct Opened {
    pub store: Store,
    /// The run of seqs viewers resume in ([`epoch`]).
    pub epoch: String,
    pub stats: Arc<StateStats>,
    pub writer: Option<writer::Writer>,
    /// Warnings to print (the cause when not durable).
    pub warnings: Vec<String>,
}

/// The file a `--state` path names, with symbolic links resolved: the
/// lock, the WAL beside it and the database itself must be found from the
/// same name whichever link or relative path led to it (SQLite resolves
/// links itself, so a lock beside a link would guard nothing). A file that
/// does not exist yet is its directory, resolved, and its name (a dangling
/// link is followed to where the file will be made). A directory is
/// refused: SQLite could not open it, and nothing must be made beside it.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    if path.is_dir() {
        return Err(format!(
            "state {}: is a directory; name a file in it, e.g. --state {}",
            path.display(),
            path.join("state.db").display()
        ));
    }
    if let Ok(p) = std::fs::canonicalize(path) {
        return Ok(p);
    }
    // Not there yet. Follow a dangling link by hand (bounded, like the
    // kernel's own limit on links in one lookup).
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&p) else {
            break;
        };
        p = match p.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    let (Some(dir), Some(file)) = (p.parent(), p.file_name()) else {
        return Ok(p);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    // A directory that cannot be resolved (it does not exist) gives the
    // name as it is: opening it fails with the cause.
    Ok(std::fs::canonicalize(dir).map_or(p.clone(), |d| d.join(file)))
}

/// The lock file beside the database: held (flock) while a sink uses it.
pub fn lock_path(db: &Path) -> PathBuf {
    sibling(db, ".lock")
}

/// Takes the database's lock. `Err` when another process holds it, naming
/// its listen address; `Ok(None)` when no lock file can be made (a
/// read-only directory: then nothing is written either).
fn take_lock(db: &Path, name: &str, listen: &str) -> Result<Option<File>, String> {
    let path = lock_path(db);
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    match try_lock(&f) {
        Ok(true) => {}
        Ok(false) => {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            let holder = crate::sanitize::line(holder.trim());
            let who = if holder.is_empty() {
                "another sinkwatch".to_owned()
            } else {
                format!("another sinkwatch ({holder})")
            };
            let via = if Path::new(name) == db {
                String::new()
            } else {
                format!(" (that is {})", db.display())
            };
            return Err(format!(
                "state {name}{via} is in use by {who}; use --state OTHER-FILE or --state none"
            ));
        }
        Err(_) => return Ok(None),
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = writeln!(f, "pid {}, listening on {listen}", std::process::id());
    let _ = f.flush();
    Ok(Some(f))
}

/// An exclusive, non-blocking flock: `Ok(false)` when another process
/// holds it. Released by the kernel when the process ends, however it ends
/// (kill -9 included), so a stale lock file never blocks a restart.
#[cfg(unix)]
fn try_lock(f: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is shared.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// Opens (creating it if needed) the state database, restores from it and
/// prepares its writer. Only a lock held by another process, or a path
/// that is a directory ([`resolve`]), is an error; every other fault gives
/// an in-memory, not-durable state with a warning.
pub fn open(opts: OpenOptions) -> Result<Opened, String> {
    let name = opts.path.display().to_string();
    let stats = |restored: Restored| StateStats {
        file: name.clone(),
        restored,
        ..StateStats::default()
    };
    let not_durable = |cause: String, mut store: Store, restored: Restored| {
        let s = stats(restored);
        // A killed run's spool, kept for a later start: its seqs are
        // taken, and a later start stores them under those numbers.
        let spooled = spool::seqs(&opts.path).unwrap_or_default();
        let kept = match spooled.last().copied() {
            Some(last) if last >= store.next_seq() => {
                store.continue_after(last);
                format!(
                    " (its spool, kept for a later start, holds alerts up to seq {last}: this run's \
                     seqs follow them)"
                )
            }
            _ => String::new(),
        };
        let line = format!("state {name}: {cause}; running in memory (not durable){kept}");
        s.set_error(line.clone());
        Opened {
            store,
            // Nothing records which seqs this run gives out: its own.
            epoch: epoch::random(),
            stats: Arc::new(s),
            writer: None,
            warnings: vec![line],
        }
    };
    if let Some(dir) = opts.path.parent()
        && !dir.as_os_str().is_empty()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return Ok(not_durable(
            format!("cannot create {}: {e}", dir.display()),
            Store::new(opts.limits),
            Restored::default(),
        ));
    }
    // Resolved before the lock is taken: a link to a file another sink
    // holds must find that sink's lock.
    let path = resolve(&opts.path)?;
    let lock = take_lock(&path, &name, &opts.listen)?;
    let fresh = || Store::new(opts.limits);
    // The file cannot be written (a read-only directory, a full disk, a
    // WAL file that cannot be made) but may well be readable: restore what
    // it holds, so the picture and `seq` are not lost with durability.
    let read_back = |e: &rusqlite::Error| {
        let why = format!("cannot write: {}", cause(e));
        let c = match open_read_only(&path) {
            Ok(c) => c,
            Err(_) => return not_durable(cause(e), fresh(), Restored::default()),
        };
        if let Err(w) = schema::check_ours_for_sink(&c) {
            return not_durable(w, fresh(), Restored::default());
        }
        if schema::version(&c).unwrap_or(0) == 0 {
            return not_durable(why, fresh(), Restored::default());
        }
        match restore::restore(&c, opts.limits) {
            Ok((store, restored)) => not_durable(why, store, restored),
            Err(e2) => not_durable(cause(&e2), fresh(), Restored::default()),
        }
    };
    if let Err(e) = check_not_truncated(&path) {
        return Ok(not_durable(e, fresh(), Restored::default()));
    }
    let healed = heal_sidecars(&path);
    let mut conn = match open_rw(&path) {
        Ok(c) => c,
        Err(e) => return Ok(read_back(&e)),
    };

    if let Err(why) = schema::check_ours_for_sink(&conn) {
        return Ok(not_durable(why, fresh(), Restored::default()));
    }
    // SQLite opens a write-protected file read-only without a word: say so
    // now, and show what it holds.
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        let why = "cannot write: the file is read-only".to_owned();
        if schema::version(&conn).unwrap_or(0) == 0 {
            return Ok(not_durable(why, fresh(), Restored::default()));
        }
        return Ok(match restore::restore(&conn, opts.limits) {
            Ok((store, restored)) => not_durable(why, store, restored),
            Err(e) => not_durable(cause(&e), fresh(), Restored::default()),
        });
    }
    if let Err(e) = enable_wal(&conn) {
        drop(conn);
        return Ok(read_back(&e));
    }
    match schema::migrate(&mut conn) {
        Ok(()) => {}
        Err(schema::SchemaError::Newer(v)) => {
            return Ok(not_durable(
                format!(
                    "schema version {v} is newer than this sinkwatch understands ({}); \
                     the file is left untouched ({})",
                    schema::VERSION,
                    schema::NEWER_HINT_FOR_SINK
                ),
                fresh(),
                Restored::default(),
            ));
        }
        Err(schema::SchemaError::Sql(e)) => {
            drop(conn);
            return Ok(read_back(&e));
        }
    }
    if let Ok(pages) = std::env::var(TEST_MAX_PAGES_ENV)
        && let Ok(pages) = pages.parse::<i64>()
    {
        let _ = conn.pragma_update(None, "max_page_count", pages);
    }
    let mut writer = writer::Writer::new(
        conn,
        lock,
        opts.retain,
        name.clone(),
        writer::QueueLimits::for_budget(opts.limits.memory_budget),
    );
    // What a killed run had spooled and not committed goes in first, so
    // the restore below shows it and `seq` continues after it. If it
    // cannot, the spool is kept for a later start and this run shows what
    // the file holds, not durable (a full disk: as above).
    let mut warnings: Vec<String> = healed.into_iter().collect();
    let replayed = match writer.replay_spool(&path) {
        Ok((n, notes)) => {
            if n > 0 {
                let (alerts, them) = if n == 1 {
                    ("alert", "it")
                } else {
                    ("alerts", "them")
                };
                warnings.push(format!(
                    "state {name}: the last run ended without committing {n} {alerts}; \
                     replayed {them} from its spool"
                ));
            }
            warnings.extend(notes.into_iter().map(|n| format!("state {name}: {n}")));
            n
        }
        Err(why) => {
            drop(writer);
            let why = format!("{why} (the spool is kept for the next start)");
            return Ok(match open_read_only(&path) {
                Ok(c) => match restore::restore(&c, opts.limits) {
                    Ok((store, restored)) => not_durable(why, store, restored),
                    Err(e) => not_durable(cause(&e), fresh(), Restored::default()),
                },
                Err(_) => not_durable(why, fresh(), Restored::default()),
            });
        }
    };
    let (store, mut restored) = match restore::restore(writer.conn(), opts.limits) {
        Ok(r) => r,
        Err(e) => return Ok(not_durable(cause(&e), fresh(), Restored::default())),
    };
    restored.replayed = replayed;
    if let Some((n, first, last)) = restored.missing {
        let alerts = if n == 1 { "alert" } else { "alerts" };
        warnings.push(format!(
            "state {name}: {n} {alerts} between seq {first} and {last} are not in the file (an \
             earlier run accepted them and could not store them before it was stopped)"
        ));
    }
    let epoch = match epoch::take(writer.conn(), store.next_seq() - 1) {
        Ok(e) => e,
        Err(e) => return Ok(not_durable(cause(&e), store, restored)),
    };
    let stats = Arc::new(stats(restored));
    stats.durable.store(true, Ordering::Relaxed);
    Ok(Opened {
        store,
        epoch,
        stats,
        writer: Some(writer),
        warnings,
    })
}

/// Tests simulate a full disk by capping the database's pages (SQLite's
/// `max_page_count`): a write past it fails with SQLITE_FULL exactly like a
/// full file system. Not an option: nobody needs it outside tests.
pub const TEST_MAX_PAGES_ENV: &str = "SINKWATCH_TEST_STATE_MAX_PAGES";

pub(crate) fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    // Reading the schema here turns "not a database" into an error now.
    schema::version(&conn)?;
    Ok(conn)
}

/// Switches to WAL, only once the file is known to be ours: the switch
/// itself writes the file's header.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers (sqlite3, `export`) never block the writer; a commit is
    // an append, and a killed process loses only what it had not committed.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    // NORMAL in WAL mode: a crash of the process loses nothing committed;
    // only a power loss may lose the last commits (never corrupts).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A page cache that holds a batch's pages (the default 2 MiB spilled
    // and re-read them). Checkpoints stay SQLite's default (every ~4 MB of
    // WAL): checkpointing every ~40 MB saved ≤ 0.2 µs of CPU per alert in
    // batches of 2,048 and nothing measurable in the batches of 16,384 a
    // writer that is behind takes (benches/state.rs), for a WAL file ten
    // times as large and ten times longer pauses.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(())
}

/// SQLite's page cache of the writer's connection, in KiB.
const CACHE_KIB: i64 = 32 << 10;

/// A read-only connection (`open`, `export`, and a file we cannot write).
/// For a reader of the database (`export`, `open`): a line saying how many
/// alerts newer than the stored ones wait in its spool, if any. A running
/// sink's backlog is there until the SQL stage commits it; after a kill,
/// until the sink's next start replays it. Either way a reader does not
/// see them, and should be told rather than shown a shorter history.
pub fn uncommitted_note(db: &Path) -> Option<String> {
    let conn = open_read_only(db).ok()?;
    let newest: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
        .ok()?;
    let waiting = spool::seqs(db)
        .ok()?
        .iter()
        .filter(|&&seq| seq as i64 > newest)
        .count();
    (waiting > 0).then(|| {
        format!(
            "state {}: {waiting} newer alerts wait in its spool, not committed yet (a running \
             sink commits them shortly; after a kill, the sink's next start does): not shown here",
            db.display()
        )
    })
}

pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = Connection::open_with_flags(path, flags).and_then(|conn| {
        configure(&conn)?;
        schema::version(&conn)?;
        Ok(conn)
    });
    match opened {
        Ok(conn) => Ok(conn),
        // A WAL-mode file needs its `-shm` beside it, even to be read: in
        // a directory nobody may create files in, it cannot be made. With
        // no `-wal` holding newer pages, the file alone is the whole
        // database, and SQLite can read it as immutable (no `-shm`).
        Err(e) if !sibling(path, "-wal").exists() => {
            let conn = Connection::open_with_flags(
                immutable_uri(path),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(|_| e)?;
            configure(&conn)?;
            schema::version(&conn)?;
            Ok(conn)
        }
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` appended to its file name (`-wal`, `.lock`).
/// A run on a write-protected database leaves its `-wal` and `-shm` files
/// write-protected too (SQLite gives them the database's mode). Once the
/// database is writable again they still are not, and every start ran not
/// durable ("attempt to write a readonly database"), naming neither. Ours
/// to set right: the lock is held, and only their mode changes, to the
/// database's.
fn heal_sidecars(path: &Path) -> Option<String> {
    let db = std::fs::metadata(path).ok()?;
    if db.permissions().readonly() {
        return None;
    }
    let healed: Vec<String> = ["-wal", "-shm"]
        .into_iter()
        .map(|suffix| sibling(path, suffix))
        .filter(|side| {
            std::fs::metadata(side).is_ok_and(|m| m.permissions().readonly())
                && std::fs::set_permissions(side, db.permissions()).is_ok()
        })
        .map(|side| side.display().to_string())
        .collect();
    (!healed.is_empty()).then(|| {
        format!(
            "state {}: made {} writable again (write-protected by a run when the database was)",
            path.display(),
            healed.join(" and ")
        )
    })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `file:PATH?immutable=1`, with the characters a URI gives a meaning to
/// escaped.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Another reader (sqlite3 mid-query, a checkpoint) is waited for, not
    // reported as an error.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

/// A file cut short (a partial copy, a full disk during a copy): SQLite
/// refuses it at the first read as "database disk image is malformed",
/// which sounds like damage inside. Its header says how many pages it has
/// (when the header's own check holds); without a WAL that holds newer
/// pages, a shorter file is truncated. Read from the raw header, before
/// SQLite opens it.
fn check_not_truncated(path: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let wal_len = std::fs::metadata(sibling(path, "-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    if wal_len > 0 {
        return Ok(());
    }
    let mut header = [0u8; 100];
    let Ok(mut f) = File::open(path) else {
        return Ok(());
    };
    if f.read_exact(&mut header).is_err() || !header.starts_with(b"SQLite format 3\0") {
        return Ok(());
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    // The page count at offset 28 is valid only when the change counter
    // (24) equals the version-valid-for number (92).
    if be32(24) != be32(92) || be32(28) == 0 {
        return Ok(());
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536u64,
        n => u64::from(n),
    };
    let expected = u64::from(be32(28)) * page_size;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len < expected {
        return Err(format!(
            "the file is truncated ({len} bytes, its header says {expected})"
        ));
    }
    Ok(())
}

/// One line for an SQLite error.
pub fn cause(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::InvalidQuery => "cannot switch to WAL mode".to_owned(),
        e => crate::sanitize::line(&e.to_string()).into_owned(),
    }
}

/// True when the file starts with SQLite's header (for `sinkwatch open`).
pub fn is_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"SQLite format 3\0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_path_is_resolved_through_links_whether_the_file_exists_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let file = dir.path().join("t.db");
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        // Dangling: where SQLite will make the file.
        assert_eq!(resolve(&link).unwrap(), real.join("t.db"));
        assert_eq!(resolve(&file).unwrap(), real.join("t.db"));
        std::fs::write(&file, b"").unwrap();
        assert_eq!(resolve(&link).unwrap(), real.join("t.db"));
        // A relative link, through a linked directory.
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("d", dir.path().join("dl")).unwrap();
        std::os::unix::fs::symlink("../t.db", dir.path().join("d/rel.db")).unwrap();
        assert_eq!(
            resolve(&dir.path().join("dl/rel.db")).unwrap(),
            real.join("t.db")
        );
        assert_eq!(
            lock_path(&resolve(&link).unwrap()),
            real.join("t.db.lock"),
            "one lock whichever name led to the file"
        );
        // A loop of links ends (and opening it then fails with the cause).
        std::os::unix::fs::symlink("b.db", dir.path().join("a.db")).unwrap();
        std::os::unix::fs::symlink("a.db", dir.path().join("b.db")).unwrap();
        assert!(resolve(&dir.path().join("a.db")).is_ok());
    }

    #[test]
    fn retain_takes_durations_seconds_or_forever_within_a_range() {
        let ok = |s: &str| parse_retain(s).unwrap().0;
        assert_eq!(ok("forever"), None);
        assert_eq!(ok("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(ok(" 12h "), Some(Duration::from_secs(12 * 3600)));
        // A bare number is seconds, as the README says of every duration.
        assert_eq!(ok("30"), Some(Duration::from_secs(30)));
        assert_eq!(ok("86_400"), Some(Duration::from_secs(86_400)));
        assert_eq!(ok("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(ok("100y"), Some(MAX_RETAIN));
        assert_eq!(ok("36525d"), Some(MAX_RETAIN));
        let err = |s: &str| parse_retain(s).unwrap_err();
        for bad in ["abc", "FOREVER", "", "-5", "5 parsecs", "1e3", "1__0", ",5"] {
            let e = err(bad);
            assert!(e.contains("expected a duration such as 30d"), "{bad}: {e}");
            assert!(e.contains("`forever`"), "{bad}: {e}");
            assert!(!e.contains(" at 0"), "no parser offsets: {e}");
        }
        for short in ["0", "0s", "500ms", "0.5"] {
            assert!(err(short).contains("at least 1s"), "{short}");
        }
        for long in ["36526d", "101y", "3155760001", "99999999999999999999999y"] {
            assert!(
                err(long).contains("at most 100 years"),
                "{long}: {}",
                err(long)
            );
        }
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(dir.path()).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }
}
