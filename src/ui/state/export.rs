//! `e`: the rows of the focused list pane, as shown (filter, narrowing,
//! failing-only, the Alerts view's mode, a pause), written to a file.
//!
//! On Enter the rows are fixed (seqs, keys, transitions or group rows:
//! small copies of what the index and the lists already hold). The file is
//! written by a thread of its own; the UI thread only copies the rows out
//! of the store, [`EXPORT_CHUNK`] at a time at each sync (short lock
//! holds, like the re-filter's scan), and hands each chunk over through a
//! small bounded channel without waiting: while the writer is behind, the
//! next chunk waits for the next sync. Events that leave the history before
//! their chunk is copied are counted as missing. Errors (a directory that
//! does not exist, a full disk, an existing file) end the export with one
//! line in the status bar; the app goes on.

use super::edit_line;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};

use crate::hub::Hub;
use crate::model::store::{KeyId, Transition};
use crate::model::{AlertRecord, Change, Store};

use super::{AlertsView, App};
use crate::ui::export::{Format, Kind, Row, write_header, write_row};
use crate::ui::index::{Level, SeqList};
use crate::ui::keymap::Pane;

/// Rows copied out of the store per chunk.
pub const EXPORT_CHUNK: usize = 4_096;
/// Chunks copied per sync at most.
const CHUNKS_PER_SYNC: usize = 1;
/// Chunks waiting for the writer at most.
const CHANNEL_CHUNKS: usize = 8;

/// The `e` prompt: a file name.
#[derive(Clone, Debug)]
pub struct ExportPrompt {
    pub input: String,
    /// Cursor position in chars.
    pub cursor: usize,
    /// Why the last Enter did not start (shown under the input).
    pub error: Option<String>,
    /// How many rows will be exported, and of what (e.g. `(412, "alerts")`).
    pub rows: usize,
    pub noun: &'static str,
}

/// The rows to write, fixed when the export starts.
enum Source {
    /// Event seqs in file order.
    Events(Vec<u64>),
    /// The contiguous seqs `first..first + len` (nothing filtered out: not
    /// copied), newest first or oldest first.
    SeqRange {
        first: u64,
        len: usize,
        newest_first: bool,
    },
    /// Keys (the latest alert of each).
    Keys(Vec<KeyId>),
    Transitions(Vec<Transition>),
    Groups(Vec<Row>),
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Source::Events(v) => v.len(),
            Source::SeqRange { len, .. } => *len,
            Source::Keys(v) => v.len(),
            Source::Transitions(v) => v.len(),
            Source::Groups(v) => v.len(),
        }
    }
}

/// An export being written; see the module docs.
pub struct ExportJob {
    pub path: String,
    source: Source,
    next: usize,
    pending: Option<Vec<Row>>,
    tx: Option<SyncSender<Vec<Row>>>,
    done: Receiver<Result<u64, String>>,
    pub total: usize,
    /// Rows handed to the writer.
    pub copied: usize,
    /// Events that left the history before they were copied.
    pub missing: u64,
}

impl std::fmt::Debug for ExportJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ExportJob({}, {}/{})",
            self.path, self.copied, self.total
        )
    }
}

/// `~/x` → the home directory's `x`.
fn expand(input: &str) -> PathBuf {
    match input.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map_or_else(|| PathBuf::from(input), |h| h.join(rest)),
        None => PathBuf::from(input),
    }
}

/// The writer thread: creates the file (never over an existing one),
/// writes the header and every chunk until the channel closes, flushes.
fn spawn_writer(
    path: PathBuf,
    format: Format,
    kind: Kind,
    rx: Receiver<Vec<Row>>,
) -> Result<Receiver<Result<u64, String>>, String> {
    let (done_tx, done) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sinkwatch-export".into())
        .spawn(move || {
            let name = path.display().to_string();
            let mut created = false;
            let result = (|| -> std::io::Result<u64> {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                created = true;
                let mut w = BufWriter::with_capacity(256 * 1024, f);
                write_header(&mut w, format, kind)?;
                let mut n = 0u64;
                let mut ended = false;
                for chunk in rx {
                    // An empty chunk ends the rows; without it the export
                    // was abandoned (the app quit).
                    if chunk.is_empty() {
                        ended = true;
                        break;
                    }
                    for row in &chunk {
                        write_row(&mut w, format, kind, row)?;
                    }
                    n += chunk.len() as u64;
                }
                if !ended {
                    return Err(std::io::Error::other("cancelled"));
                }
                w.flush()?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(n)
            })();
            if result.is_err() && created {
                // No partial file under the chosen name (only ever one
                // this export created: `create_new` never opens another).
                let _ = std::fs::remove_file(&path);
            }
            let _ = done_tx
                .send(result.map_err(|e| format!("export {}: {e}", crate::sanitize::line(&name))));
        })
        .map_err(|e| format!("cannot start the export: {e}"))?;
    Ok(done)
}

impl App {
    /// The pane `e` exports: the focused one (Details: the list it shows).
    fn export_pane(&self) -> Pane {
        match self.focus {
            Pane::Details => self.details_from,
            p => p,
        }
    }

    /// `e`: the prompt, pre-filled with a name after the pane.
    pub(in crate::ui) fn open_export_prompt(&mut self) {
        if self.export_job.is_some() {
            self.message = Some(("an export is still being written".into(), true));
            return;
        }
        let pane = self.export_pane();
        let (name, rows, noun) = match pane {
            Pane::Orgs => ("orgs", self.lists.orgs.len(), "orgs"),
            Pane::Repos => ("repos", self.lists.repos.len(), "repos"),
            Pane::Policies => ("policies", self.lists.policies.len(), "policies"),
            Pane::Alerts => match self.view {
                AlertsView::Events => ("alerts", self.upto(&self.index), "alerts"),
                AlertsView::Latest => ("latest", self.lists.latest.len(), "keys (latest status)"),
            },
            Pane::Transitions => {
                let t = crate::ui::index::Transitions(self.index.transitions());
                ("transitions", self.upto(&t), "transitions")
            }
            Pane::Forwarding | Pane::Details => {
                self.message = Some(("focus a list pane to export it".into(), true));
                return;
            }
        };
        let input = format!("sinkwatch-{name}.csv");
        self.export_prompt = Some(ExportPrompt {
            cursor: input.chars().count(),
            input,
            error: None,
            rows,
            noun,
        });
    }

    /// Line editing in the export prompt; `true` when the input changed.
    pub(in crate::ui) fn edit_export(
        &mut self,
        action: crate::ui::keymap::Action,
        ev: &crossterm::event::KeyEvent,
    ) {
        use crate::ui::keymap::Action;
        let Some(p) = self.export_prompt.as_mut() else {
            return;
        };
        match action {
            Action::Cancel => self.export_prompt = None,
            Action::Apply => self.start_export(),
            _ => {
                if edit_line(&mut p.input, &mut p.cursor, action, ev) == Some(true) {
                    p.error = None;
                }
            }
        }
    }

    /// Enter in the prompt: fixes the rows and starts the writer. A name
    /// without a known extension keeps the prompt open with the reason.
    fn start_export(&mut self) {
        let Some(p) = self.export_prompt.as_mut() else {
            return;
        };
        let input = p.input.trim().to_owned();
        if input.is_empty() {
            p.error = Some("type a file name".into());
            return;
        }
        let path = expand(&input);
        let format = match Format::of(&path) {
            Ok(f) => f,
            Err(e) => {
                p.error = Some(e);
                return;
            }
        };
        let (kind, source) = self.export_rows(format);
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CHUNKS);
        self.export_prompt = None;
        let done = match spawn_writer(path.clone(), format, kind, rx) {
            Ok(d) => d,
            Err(e) => {
                self.message = Some((e, true));
                return;
            }
        };
        self.export_job = Some(ExportJob {
            path: input,
            total: source.len(),
            source,
            next: 0,
            pending: None,
            tx: Some(tx),
            done,
            copied: 0,
            missing: 0,
        });
    }

    /// The rows of the export pane, in file order.
    fn export_rows(&self, format: Format) -> (Kind, Source) {
        // JSON lines of alerts go oldest first (a replay then sees each
        // key's alerts in order); CSV and Markdown as on screen.
        let newest_first = format != Format::Jsonl;
        let groups = |level: Level| {
            let rows = match level {
                Level::Org => &self.lists.orgs,
                Level::Repo => &self.lists.repos,
                Level::Policy => &self.lists.policies,
            };
            let rows = rows
                .iter()
                .map(|r| {
                    let (org, name) = match level {
                        Level::Org => (self.lists.org_name(r.id), ""),
                        Level::Repo => (
                            self.lists
                                .repo_org(r.id)
                                .map_or("", |o| self.lists.org_name(o)),
                            self.lists.repo_name(r.id),
                        ),
                        Level::Policy => ("", self.lists.policy_name(r.id)),
                    };
                    Row::Group {
                        org: org.into(),
                        name: name.into(),
                        failing: r.tally.failing,
                        keys: r.tally.total,
                    }
                })
                .collect();
            (Kind::Groups(level), Source::Groups(rows))
        };
        match self.export_pane() {
            Pane::Orgs => groups(Level::Org),
            Pane::Repos => groups(Level::Repo),
            Pane::Policies => groups(Level::Policy),
            Pane::Alerts if self.view == AlertsView::Latest => {
                (Kind::Alerts, Source::Keys(self.lists.latest.clone()))
            }
            Pane::Transitions => {
                let list = self.index.transitions();
                let upto = self.upto(&crate::ui::index::Transitions(list));
                let mut v: Vec<Transition> = list.iter().take(upto).copied().collect();
                if newest_first {
                    v.reverse();
                }
                (Kind::Alerts, Source::Transitions(v))
            }
            _ => {
                let upto = self.upto(&self.index);
                if upto > 0 && self.index.seq_at(upto - 1) - self.index.seq_at(0) == upto as u64 - 1
                {
                    // Every seq in between: a range, nothing to copy (1M
                    // seqs would hold the UI thread for milliseconds).
                    let first = self.index.seq_at(0);
                    return (
                        Kind::Alerts,
                        Source::SeqRange {
                            first,
                            len: upto,
                            newest_first,
                        },
                    );
                }
                let mut v: Vec<u64> = (0..upto).map(|i| self.index.seq_at(i)).collect();
                if newest_first {
                    v.reverse();
                }
                (Kind::Alerts, Source::Events(v))
            }
        }
    }

    /// Abandons an export being written (on quit): the writer removes its
    /// partial file; waits for that at most `wait`.
    pub fn abort_export(&mut self, wait: std::time::Duration) {
        if let Some(mut job) = self.export_job.take() {
            job.tx = None;
            let _ = job.done.recv_timeout(wait);
        }
    }

    /// True while an export is being written (the loop comes back soon).
    pub fn exporting(&self) -> bool {
        self.export_job.is_some()
    }

    /// Copies the next chunks to the writer and learns how it ended.
    pub(super) fn sync_export(&mut self, hub: &Hub) {
        let Some(job) = self.export_job.as_mut() else {
            return;
        };
        self.dirty = true;
        for _ in 0..CHUNKS_PER_SYNC {
            if job.pending.is_none() && job.next < job.total {
                let end = (job.next + EXPORT_CHUNK).min(job.total);
                let (rows, missing) = hub.read(|s| copy_rows(s, &job.source, job.next..end));
                job.missing += missing;
                job.next = end;
                // Empty (every event of the chunk evicted): nothing to send;
                // an empty chunk would mean the end.
                job.pending = (!rows.is_empty()).then_some(rows);
                if job.pending.is_none() {
                    continue;
                }
            }
            let Some(chunk) = job.pending.take() else {
                break;
            };
            let Some(tx) = &job.tx else { break };
            let n = chunk.len();
            match tx.try_send(chunk) {
                Ok(()) => job.copied += n,
                Err(TrySendError::Full(c)) => {
                    job.pending = Some(c);
                    break;
                }
                // The writer stopped: its error is on the way.
                Err(TrySendError::Disconnected(_)) => {
                    job.tx = None;
                    break;
                }
            }
        }
        if job.next >= job.total
            && job.pending.is_none()
            && let Some(tx) = &job.tx
        {
            // Everything handed over: the end marker (an empty chunk).
            match tx.try_send(Vec::new()) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => job.tx = None,
                Err(TrySendError::Full(_)) => {}
            }
        }
        match job.done.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(Ok(n)) => {
                let mut m = format!(
                    "exported {} to {}",
                    crate::ui::fmt::plural(n, "row", "rows"),
                    crate::sanitize::line(&job.path)
                );
                if job.missing > 0 {
                    m.push_str(&format!(
                        " ({} left the history before they were written)",
                        job.missing
                    ));
                }
                self.message = Some((m, false));
                self.export_job = None;
            }
            Ok(Err(e)) => {
                self.message = Some((e, true));
                self.export_job = None;
            }
            Err(TryRecvError::Disconnected) => {
                self.message = Some(("export: the writer stopped".into(), true));
                self.export_job = None;
            }
        }
    }
}

/// Rows `range` of `source`, copied out of the store (names and details
/// shared, not copied); and how many events had left the history.
fn copy_rows(s: &Store, source: &Source, range: std::ops::Range<usize>) -> (Vec<Row>, u64) {
    let mut missing = 0;
    let mut event = |seq: u64| {
        let r = s.event(seq).map(|e| Row::Alert(s.record(e)));
        missing += u64::from(r.is_none());
        r
    };
    let rows = match source {
        &Source::SeqRange {
            first,
            len,
            newest_first,
        } => {
            let at = |i: usize| {
                if newest_first {
                    first + (len - 1 - i) as u64
                } else {
                    first + i as u64
                }
            };
            range.filter_map(|i| event(at(i))).collect()
        }
        Source::Events(seqs) => seqs[range].iter().filter_map(|&seq| event(seq)).collect(),
        Source::Keys(keys) => keys[range]
            .iter()
            .filter(|&&k| (k as usize) < s.key_count())
            .map(|&k| Row::Alert(s.latest_record(k)))
            .collect(),
        Source::Transitions(ts) => ts[range]
            .iter()
            .filter(|t| (t.key as usize) < s.key_count())
            .map(|t| {
                Row::Alert(match s.event(t.seq) {
                    Some(e) => s.record(e),
                    // Out of the history: the transition with the key's
                    // latest details.
                    None => AlertRecord {
                        seq: t.seq,
                        at_ms: t.at_ms,
                        pass: t.change != Change::Regressed,
                        change: t.change,
                        ..s.latest_record(t.key)
                    },
                })
            })
            .collect(),
        Source::Groups(rows) => rows[range].to_vec(),
    };
    (rows, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_tilde_is_the_home_directory() {
        if let Some(h) = dirs::home_dir() {
            assert_eq!(expand("~/a.csv"), h.join("a.csv"));
        }
        assert_eq!(expand("a~/b.csv"), std::path::Path::new("a~/b.csv"));
    }
}
