//! Where silences are kept: the `silences` table of the state database when
//! the state is on (and durable), else a YAML file beside the config,
//! `<config dir>/sinkwatch/silences.yaml` (or beside the `--config` file).
//!
//! Loading is done once at start. Saving is off the caller's thread: the TUI
//! hands the whole list (at most [`MAX_SILENCES`]) to a small thread of its
//! own, which writes the newest list it has (a burst of edits is one write).
//! The file is written whole to a temporary file in the same directory and
//! renamed over the old one, so a crash leaves the old or the new list, never
//! half of one. A file that cannot be read or parsed is one line naming it
//! (and the line), and is never written over: the silences of that run stay
//! in memory, and the list view says so.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::model::silence::{MAX_SILENCES, Silence, Silences};
use crate::record::{format_time, parse_time};

/// The largest silences file read (a thousand silences with long matchers
/// and comments fit).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Where silences are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// The `silences` table of this state database.
    Database(PathBuf),
    /// A YAML file.
    File(PathBuf),
}

impl Backing {
    /// The file beside the config: the directory of the config file in
    /// use, else `<config dir>/sinkwatch/`.
    pub fn beside_config(config: Option<&Path>) -> Option<Backing> {
        let dir = match config.and_then(Path::parent) {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            Some(_) => PathBuf::from("."),
            None => dirs::config_dir()?.join("sinkwatch"),
        };
        Some(Backing::File(dir.join("silences.yaml")))
    }

    /// Names it in messages.
    pub fn label(&self) -> String {
        match self {
            Backing::Database(p) => format!("state {}", p.display()),
            Backing::File(p) => p.display().to_string(),
        }
    }
}

/// One silence as stored in the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    id: String,
    matcher: String,
    starts: String,
    ends: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    created_by: String,
    created: String,
    updated: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    silences: Vec<Row>,
}

impl Row {
    fn of(s: &Silence) -> Row {
        Row {
            id: s.id.clone(),
            matcher: s.matcher.clone(),
            starts: format_time(s.starts_ms),
            ends: format_time(s.ends_ms),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            created: format_time(s.created_ms),
            updated: format_time(s.updated_ms),
        }
    }

    fn silence(&self) -> Result<Silence, String> {
        let t = |field: &str, v: &str| {
            parse_time(v).ok_or_else(|| format!("{field} {v:?} is not an RFC 3339 time"))
        };
        Silence::new(
            &self.id,
            &self.matcher,
            t("starts", &self.starts)?,
            t("ends", &self.ends)?,
            &self.comment,
            &self.created_by,
            t("created", &self.created)?,
            t("updated", &self.updated)?,
        )
        .map_err(|e| format!("silence {}: {e}", self.id))
    }
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub silences: Vec<Silence>,
    /// One line naming the file and what is wrong with it.
    pub warning: Option<String>,
    /// False when the store must not be written (it could not be read).
    pub writable: bool,
}

/// Reads the silences. A missing file is no silences; a bad one is a
/// warning, and it is left untouched (`writable` false).
pub fn load(b: &Backing) -> Loaded {
    let r = match b {
        Backing::File(p) => load_file(p),
        Backing::Database(p) => load_db(p),
    };
    match r {
        Ok(silences) => Loaded {
            silences,
            warning: None,
            writable: true,
        },
        Err(e) => Loaded {
            silences: Vec::new(),
            warning: Some(format!(
                "silences {}: {e}; it is left untouched and silences made now are not kept",
                b.label()
            )),
            writable: false,
        },
    }
}

fn load_file(path: &Path) -> Result<Vec<Silence>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = crate::files::read_limited(path, MAX_FILE_BYTES)?;
    let form: FileForm = serde_yaml::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        match e.location() {
            Some(l) => format!("line {}: {msg}", l.line()),
            None => msg,
        }
    })?;
    if form.silences.len() > MAX_SILENCES {
        return Err(format!(
            "{} silences, more than {MAX_SILENCES}",
            form.silences.len()
        ));
    }
    form.silences.iter().map(Row::silence).collect()
}

fn load_db(path: &Path) -> Result<Vec<Silence>, String> {
    let conn = super::open_read_only(path).map_err(|e| super::cause(&e))?;
    let mut stmt = conn
        .prepare(
            "SELECT id, matcher, starts_ms, ends_ms, comment, created_by, created_ms, updated_ms \
             FROM silences ORDER BY created_ms LIMIT ?1",
        )
        .map_err(|e| super::cause(&e))?;
    let rows = stmt
        .query_map([MAX_SILENCES as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })
        .map_err(|e| super::cause(&e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, m, s, e, c, by, cr, up) = row.map_err(|e| super::cause(&e))?;
        let ms = |v: i64| v.max(0) as u64;
        out.push(
            Silence::new(&id, &m, ms(s), ms(e), &c, &by, ms(cr), ms(up))
                .map_err(|e| format!("silence {id}: {e}"))?,
        );
    }
    Ok(out)
}

/// Writes the whole list now (the saver thread, and tests).
pub fn write(b: &Backing, list: &[Silence]) -> Result<(), String> {
    match b {
        Backing::File(p) => write_file(p, list),
        Backing::Database(p) => write_db(p, list),
    }
}

fn write_file(path: &Path, list: &[Silence]) -> Result<(), String> {
    use std::io::Write;
    let form = FileForm {
        silences: list.iter().map(Row::of).collect(),
    };
    let body = serde_yaml::to_string(&form).map_err(|e| e.to_string())?;
    let text = format!(
        "# sinkwatch silences: written by sinkwatch (the TUI's `x` and `X`); times are UTC.\n{body}"
    );
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = path.file_name().map_or_else(
        || "silences.yaml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", tmp.display()));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot replace {}: {e}", path.display()));
    }
    Ok(())
}

fn write_db(path: &Path, list: &[Silence]) -> Result<(), String> {
    let mut conn = super::open_rw(path).map_err(|e| super::cause(&e))?;
    let tx = conn.transaction().map_err(|e| super::cause(&e))?;
    tx.execute("DELETE FROM silences", [])
        .map_err(|e| super::cause(&e))?;
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO silences (id, matcher, starts_ms, ends_ms, comment, created_by, \
                 created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(|e| super::cause(&e))?;
        for s in list {
            let ms = |v: u64| v.min(i64::MAX as u64) as i64;
            ins.execute(rusqlite::params![
                s.id,
                s.matcher,
                ms(s.starts_ms),
                ms(s.ends_ms),
                s.comment,
                s.created_by,
                ms(s.created_ms),
                ms(s.updated_ms)
            ])
            .map_err(|e| super::cause(&e))?;
        }
    }
    tx.commit().map_err(|e| super::cause(&e))
}

/// What the saver reports: the last error, and saves done.
#[derive(Debug, Default)]
pub struct SaverStatus {
    error: Mutex<Option<String>>,
    saved: std::sync::atomic::AtomicU64,
}

impl SaverStatus {
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn saved(&self) -> u64 {
        self.saved.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Saves silence lists on a thread of its own (see the module docs).
/// Dropping it writes what was handed last, then returns.
pub struct Saver {
    backing: Backing,
    writable: bool,
    tx: Option<mpsc::Sender<Vec<Silence>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    status: Arc<SaverStatus>,
}

impl Saver {
    /// `writable` false (a store that could not be read): nothing is
    /// written, and [`Saver::error`] says why.
    pub fn start(backing: Backing, writable: bool) -> Saver {
        let status = Arc::new(SaverStatus::default());
        if !writable {
            *status.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "not saved: {} could not be read (fix or move it)",
                backing.label()
            ));
        }
        let (tx, rx) = mpsc::channel::<Vec<Silence>>();
        let thread = writable.then(|| {
            let b = backing.clone();
            let st = status.clone();
            std::thread::Builder::new()
                .name("silences".into())
                .spawn(move || {
                    while let Ok(mut list) = rx.recv() {
                        // Only the newest list matters.
                        while let Ok(newer) = rx.try_recv() {
                            list = newer;
                        }
                        let r = write(&b, &list);
                        let mut e = st.error.lock().unwrap_or_else(|e| e.into_inner());
                        match r {
                            Ok(()) => {
                                *e = None;
                                st.saved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(why) => {
                                tracing::warn!("silences {}: {why}", b.label());
                                *e = Some(format!("not saved to {}: {why}", b.label()));
                            }
                        }
                    }
                })
                .ok()
        });
        Saver {
            backing,
            writable,
            tx: Some(tx),
            thread: thread.flatten(),
            status,
        }
    }

    /// Hands the list to the thread (never waits for the write).
    pub fn save(&self, silences: &Silences) {
        if !self.writable {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(silences.all().to_vec());
        }
    }

    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    pub fn status(&self) -> Arc<SaverStatus> {
        self.status.clone()
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const NOW: u64 = 1_764_500_000_000;

    fn sample() -> Silences {
        let mut s = Silences::default();
        s.add("policy:CODEOWNERS", NOW + H, "fix on Friday", "alice", NOW)
            .unwrap();
        s.add(
            r#"repo:ossf/scorecard policy:"Branch Protection""#,
            NOW + 2 * H,
            "",
            "bob",
            NOW,
        )
        .unwrap();
        s
    }

    fn same(a: &[Silence], b: &[Silence]) {
        let key = |s: &Silence| {
            (
                s.id.clone(),
                s.matcher.clone(),
                s.starts_ms,
                s.ends_ms,
                s.comment.clone(),
                s.created_by.clone(),
                s.created_ms,
                s.updated_ms,
            )
        };
        assert_eq!(
            a.iter().map(key).collect::<Vec<_>>(),
            b.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_file_round_trips_and_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backing::File(dir.path().join("sub/silences.yaml"));
        assert!(load(&b).silences.is_empty(), "missing: none");
        let s = sample();
        write(&b, s.all()).unwrap();
        let back = load(&b);
        assert!(back.warning.is_none() && back.writable);
        same(&back.silences, s.all());
        // Only the file itself is left (no temporary files).
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["silences.yaml"]);
    }

    #[test]
    fn a_bad_file_is_one_line_and_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silences.yaml");
        let text = "silences:\n- id: abc\n  matcher: [\n";
        std::fs::write(&path, text).unwrap();
        let b = Backing::File(path.clone());
        let l = load(&b);
        let w = l.warning.unwrap();
        assert!(w.contains("silences.yaml") && w.contains("line "), "{w}");
        assert!(!w.contains('\n'));
        assert!(!l.writable);
        let saver = Saver::start(b, l.writable);
        saver.save(&sample());
        assert!(
            saver
                .status()
                .error()
                .unwrap()
                .contains("could not be read")
        );
        drop(saver);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");

        // A bad matcher names the silence.
        std::fs::write(
            &path,
            "silences:\n- {id: x1, matcher: 'age<1h', starts: 2025-11-30T10:00:00Z, \
             ends: 2025-11-30T11:00:00Z, created: 2025-11-30T10:00:00Z, updated: 2025-11-30T10:00:00Z}\n",
        )
        .unwrap();
        let w = load(&Backing::File(path.clone())).warning.unwrap();
        assert!(w.contains("silence x1") && w.contains("age"), "{w}");
        // Too big: refused before parsing.
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(
            load(&Backing::File(path))
                .warning
                .unwrap()
                .contains("larger than")
        );
    }

    #[test]
    fn the_database_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut c = super::super::open_rw(&path).unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        drop(c);
        let b = Backing::Database(path);
        let s = sample();
        let saver = Saver::start(b.clone(), true);
        saver.save(&s);
        drop(saver);
        same(&load(&b).silences, s.all());
    }
}
