//! Export formats (`e`): the rows of a list pane as CSV, JSON lines or a
//! Markdown table, chosen by the file name's extension.
//!
//! Alert rows (Alerts, Transitions) in JSON lines are the record format
//! (`record.rs`), so `sinkwatch replay` and `open` read an export like a
//! recording; they are written oldest first (seq order) so a replay sees
//! each key's alerts in the order they happened. CSV and Markdown follow
//! the screen's order. Group rows (Orgs, Repos, Policies) are one object
//! per group (`{"kind":"org","org":…,"failing":…,"keys":…}`).
//!
//! CSV and Markdown are for people and spreadsheets: cells pass through
//! `sanitize::text` (controls and invisible characters become visible
//! escapes), and a CSV cell starting with `=`, `+`, `-` or `@` gets a
//! leading `'` so a spreadsheet does not run it as a formula. Markdown cells
//! escape `|`, `<`, `>` and `&`, and line breaks become `<br>`. JSON lines
//! keep the wire text exactly (JSON-escaped), like a recording.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::model::AlertRecord;
use crate::record::{csv_cell, write_alert, write_value};
use crate::sanitize;

use super::index::Level;

/// The file formats, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Markdown,
}

/// What the prompt says about extensions.
pub const SUPPORTED: &str = ".csv, .jsonl (or .json) and .md";

impl Format {
    /// The format a file name asks for; `Err` says what is supported.
    pub fn of(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl" | "json" | "ndjson") => Ok(Format::Jsonl),
            Some("md" | "markdown") => Ok(Format::Markdown),
            Some(other) => Err(format!(
                "unknown extension .{}: use {SUPPORTED}",
                sanitize::line(other)
            )),
            None => Err(format!("name the format by the extension: {SUPPORTED}")),
        }
    }
}

/// One row of an export.
#[derive(Clone, Debug)]
pub enum Row {
    Alert(AlertRecord),
    Group {
        org: Arc<str>,
        /// The repo or policy name (empty for an org).
        name: Arc<str>,
        failing: u32,
        keys: u32,
    },
}

/// What the rows are: alerts, or groups of one level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Alerts,
    Groups(Level),
}

fn columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Alerts => &crate::record::CSV_ALERT_COLUMNS,
        Kind::Groups(Level::Org) => &["org", "failing", "keys"],
        Kind::Groups(Level::Repo) => &["org", "repo", "failing", "keys"],
        Kind::Groups(Level::Policy) => &["policy", "failing", "keys"],
    }
}

/// The cells of a row, as text, in the order of [`columns`].
fn cells(kind: Kind, row: &Row) -> Vec<String> {
    match row {
        Row::Alert(a) => crate::record::alert_cells(a).to_vec(),
        Row::Group {
            org,
            name,
            failing,
            keys,
        } => {
            let mut v = match kind {
                Kind::Groups(Level::Org) => vec![org.to_string()],
                Kind::Groups(Level::Repo) => vec![org.to_string(), name.to_string()],
                _ => vec![name.to_string()],
            };
            v.push(failing.to_string());
            v.push(keys.to_string());
            v
        }
    }
}

/// A Markdown table cell: one line, sanitized, no table or HTML syntax.
pub fn md_cell(s: &str) -> String {
    let clean = sanitize::text(s);
    let mut out = String::with_capacity(clean.len());
    for (i, line) in clean.trim_end_matches('\n').split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        for c in line.chars() {
            match c {
                '|' => out.push_str("\\|"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
    }
    out
}

/// Writes the header (CSV and Markdown; nothing for JSON lines).
pub fn write_header(w: &mut impl Write, format: Format, kind: Kind) -> io::Result<()> {
    let cols = columns(kind);
    match format {
        Format::Csv => writeln!(w, "{}", cols.join(",")),
        Format::Markdown => {
            writeln!(w, "| {} |", cols.join(" | "))?;
            writeln!(w, "|{}", "---|".repeat(cols.len()))
        }
        Format::Jsonl => Ok(()),
    }
}

/// Writes one row.
pub fn write_row(w: &mut impl Write, format: Format, kind: Kind, row: &Row) -> io::Result<()> {
    match format {
        Format::Csv => {
            let line: Vec<String> = cells(kind, row).iter().map(|c| csv_cell(c)).collect();
            writeln!(w, "{}", line.join(","))
        }
        Format::Markdown => {
            let line: Vec<String> = cells(kind, row).iter().map(|c| md_cell(c)).collect();
            writeln!(w, "| {} |", line.join(" | "))
        }
        Format::Jsonl => match row {
            Row::Alert(a) => write_alert(w, a),
            Row::Group {
                org,
                name,
                failing,
                keys,
            } => {
                let v = match kind {
                    Kind::Groups(Level::Org) => {
                        serde_json::json!({"kind": "org", "org": &**org, "failing": failing, "keys": keys})
                    }
                    Kind::Groups(Level::Repo) => {
                        serde_json::json!({"kind": "repo", "org": &**org, "repo": &**name, "failing": failing, "keys": keys})
                    }
                    _ => {
                        serde_json::json!({"kind": "policy", "policy": &**name, "failing": failing, "keys": keys})
                    }
                };
                write_value(w, &v)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;

    fn alert(details: &str) -> Row {
        Row::Alert(AlertRecord {
            seq: 7,
            at_ms: 1_795_640_400_000,
            owner: "ossf".into(),
            repo: "allstar".into(),
            policy: "Branch Protection".into(),
            pass: false,
            details: details.into(),
            change: Change::Regressed,
            peer: None,
            late: false,
            before: None,
            key: crate::model::NO_KEY,
        })
    }

    #[test]
    fn the_extension_picks_the_format() {
        assert_eq!(Format::of(Path::new("a.CSV")), Ok(Format::Csv));
        assert_eq!(Format::of(Path::new("x/a.jsonl")), Ok(Format::Jsonl));
        assert_eq!(Format::of(Path::new("a.md")), Ok(Format::Markdown));
        let e = Format::of(Path::new("a.xlsx")).unwrap_err();
        assert!(e.contains(".xlsx") && e.contains(".csv, .jsonl"), "{e}");
        assert!(Format::of(Path::new("noext")).is_err());
    }

    #[test]
    fn csv_quotes_sanitizes_and_guards_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\"\nok"), "\"say \"\"hi\"\"\nok\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("a\x1b[2Jb"), "a\\x1b[2Jb");
        let mut out = Vec::new();
        write_header(&mut out, Format::Csv, Kind::Alerts).unwrap();
        write_row(
            &mut out,
            Format::Csv,
            Kind::Alerts,
            &alert("No protection\n"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "seq,at,owner,repo,policy,status,change,details,peer,peer_identity\n\
             7,2026-11-25T21:00:00.000Z,ossf,allstar,Branch Protection,fail,regressed,\"No protection\n\",,\n"
        );
    }

    #[test]
    fn markdown_cells_stay_in_their_cell() {
        assert_eq!(
            md_cell("a|b\nc <script>&"),
            "a\\|b<br>c &lt;script&gt;&amp;"
        );
        let mut out = Vec::new();
        write_header(&mut out, Format::Markdown, Kind::Groups(Level::Repo)).unwrap();
        let g = Row::Group {
            org: "ossf".into(),
            name: "allstar".into(),
            failing: 2,
            keys: 9,
        };
        write_row(&mut out, Format::Markdown, Kind::Groups(Level::Repo), &g).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| org | repo | failing | keys |\n|---|---|---|---|\n| ossf | allstar | 2 | 9 |\n"
        );
    }

    #[test]
    fn json_lines_are_the_record_format() {
        let mut out = Vec::new();
        write_row(&mut out, Format::Jsonl, Kind::Alerts, &alert("x\u{1b}")).unwrap();
        let (alerts, bad) = crate::record::load_recording(&out[..]);
        assert!(bad.is_empty());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].details, "x\u{1b}", "wire text kept exactly");
        assert_eq!(alerts[0].change.as_deref(), Some("regressed"));
    }
}
