//! `sinkwatch export --state FILE`: the stored events, oldest first, as JSON
//! lines in the recording format (so `replay` and `open` read them) or as
//! CSV. Reads through a read-only connection: a running sink keeps writing.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::model::filter::{AlertView, Filter};
use crate::model::{AlertRecord, Change, Peer};

/// Output formats of `export`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Jsonl,
    Csv,
}

/// What to export.
pub struct ExportOptions<'a> {
    pub path: &'a Path,
    pub since: Option<Duration>,
    pub filter: Option<Filter>,
    pub format: Format,
}

/// Writes the events; returns how many. Errors are one line naming the
/// file (or the output) and the cause. An output whose reader went away
/// (`export … | head -1`) ends the export quietly, as a closed stdout ends
/// a headless run: the reader had what it wanted.
pub fn export(opts: &ExportOptions<'_>, out: &mut impl Write) -> Result<u64, String> {
    let mut n = 0;
    match export_counted(opts, out, &mut n) {
        Err(Stop::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(n),
        Err(Stop::Output(e)) => Err(format!("cannot write the export: {e}")),
        Err(Stop::Failed(e)) => Err(e),
        Ok(()) => Ok(n),
    }
}

/// Why an export stopped early.
enum Stop {
    /// Writing the output failed.
    Output(std::io::Error),
    /// Reading the database failed (one line, naming the file).
    Failed(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Failed(e)
    }
}

fn export_counted(opts: &ExportOptions<'_>, out: &mut impl Write, n: &mut u64) -> Result<(), Stop> {
    let name = opts.path.display();
    if !opts.path.is_file() {
        return Err(format!("state {name}: no such file").into());
    }
    let conn = super::open_read_only(opts.path)
        .map_err(|e| format!("state {name}: cannot open: {}", super::cause(&e)))?;
    let v =
        super::schema::version(&conn).map_err(|e| format!("state {name}: {}", super::cause(&e)))?;
    super::schema::check_ours(&conn).map_err(|e| format!("state {name}: {e}"))?;
    if v == 0 {
        return Err(format!("state {name}: not a sinkwatch state database").into());
    }
    let now = crate::hub::now_ms();
    let since = opts
        .since
        .map_or(0, |d| now.saturating_sub(d.as_millis() as u64)) as i64;
    let sql_err = |e: rusqlite::Error| format!("state {name}: {}", super::cause(&e));
    let out_err = Stop::Output;
    let mut q = conn
        .prepare(
            "SELECT e.seq, e.at_ms, k.owner, k.repo, k.policy, e.pass, e.change, d.text, \
             p.label, p.identity \
             FROM events e JOIN keys k ON k.id = e.key_id \
             JOIN details d ON d.id = e.details_id \
             LEFT JOIN peers p ON p.id = e.peer_id \
             WHERE e.seq >= ?2 AND e.at_ms >= ?1 ORDER BY e.seq",
        )
        .map_err(sql_err)?;
    // Where the window starts, by a search over seq (no index on at_ms).
    let start = if since > 0 {
        super::seek::first_seq_since(&conn, since).map_err(sql_err)?
    } else {
        Some(i64::MIN)
    };
    let mut rows = q
        .query([since, start.unwrap_or(i64::MAX)])
        .map_err(sql_err)?;
    if opts.format == Format::Csv {
        writeln!(out, "{}", crate::record::CSV_ALERT_COLUMNS.join(",")).map_err(out_err)?;
    }
    while let Some(r) = rows.next().map_err(sql_err)? {
        let get = |i| -> Result<String, String> { r.get::<_, String>(i).map_err(sql_err) };
        let change: String = get(6)?;
        let label: Option<String> = r.get(8).map_err(sql_err)?;
        let identity: Option<String> = r.get(9).map_err(sql_err)?;
        let record = AlertRecord {
            seq: r.get::<_, i64>(0).map_err(sql_err)?.max(0) as u64,
            at_ms: r.get::<_, i64>(1).map_err(sql_err)?.max(0) as u64,
            owner: Arc::from(get(2)?),
            repo: Arc::from(get(3)?),
            policy: Arc::from(get(4)?),
            pass: r.get(5).map_err(sql_err)?,
            details: Arc::from(get(7)?),
            change: Change::parse(&change).unwrap_or(Change::Same),
            peer: label.map(|l| {
                let mut p = Peer::new(l.parse().ok(), identity.filter(|i| !i.is_empty()));
                p.label = l;
                Arc::new(p)
            }),
            late: false,
            before: None,
            key: crate::model::NO_KEY,
        };
        if let Some(f) = &opts.filter {
            let view = AlertView {
                owner: &record.owner,
                repo: &record.repo,
                policy: &record.policy,
                details: &record.details,
                pass: record.pass,
                change: record.change,
                age_ms: now.saturating_sub(record.at_ms),
            };
            if !f.matches(&view) {
                continue;
            }
        }
        match opts.format {
            Format::Jsonl => crate::record::write_alert(out, &record).map_err(out_err)?,
            Format::Csv => {
                writeln!(out, "{}", crate::record::csv_alert(&record)).map_err(out_err)?
            }
        }
        *n += 1;
    }
    out.flush().map_err(out_err)?;
    Ok(())
}
