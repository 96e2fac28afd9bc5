//! The spool: every alert the state writer holds and has not committed
//! yet, appended to a plain file beside the database, so a killed sink
//! loses only what the drain had not written out (one drain chunk), not
//! the SQL stage's whole backlog.
//!
//! Why a file of our own and not SQLite: an append is one `write` per
//! chunk of up to [`super::writer`]'s drain chunk (a few hundred alerts),
//! about a tenth of a microsecond per alert, on the drain's thread, which
//! runs at normal priority. The SQL stage then commits at its own pace — it
//! may wait out a burst of ingest (see `DEFER_AGE` in the writer) — and a
//! `kill -9` meanwhile loses nothing the spool holds: the next start
//! replays it into the database ([`read`], then the writer's own `write`)
//! before restoring. The file is in the page cache once `write` returns, so
//! a killed *process* loses nothing written; a power loss may lose the
//! last writes, as for the database's own WAL (`synchronous=NORMAL`).
//!
//! Two segment files (`FILE.db-spool-a`, `-b`) take turns, so the one the
//! SQL stage has caught up with can be emptied while the other is appended
//! to. A segment is emptied once every seq it holds is done (committed, or
//! counted as failed); both are bounded ([`SEGMENT_MAX`]): past that the
//! drain stops spooling (counted as `unspooled`) until one is emptied,
//! and the SQL stage stops waiting for bursts to end.
//!
//! Frame: payload length (u32 LE), CRC-32 of the payload (u32 LE), payload.
//! A torn last frame (a kill in the middle of a `write`) or any frame that
//! fails its length or CRC check ends the segment's reading there.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{AlertRecord, Change, Peer};

/// A segment takes the next appends until it holds this many bytes, then
/// the other one does (if the SQL stage emptied it).
pub const SEGMENT_SWITCH: u64 = 16 << 20;
/// A segment never grows past this: the spool holds at most twice it.
pub const SEGMENT_MAX: u64 = 128 << 20;
/// Longest payload read back: a corrupt length must not become an
/// allocation of gigabytes. Alerts are far smaller (the sink's message
/// limit).
const MAX_FRAME: usize = 64 << 20;
const HEADER: usize = 8;

/// The two segment files of the database at `db`.
pub fn paths(db: &Path) -> [PathBuf; 2] {
    [
        super::sibling(db, "-spool-a"),
        super::sibling(db, "-spool-b"),
    ]
}

/// Appends one record's frame to `out`.
pub fn encode(r: &AlertRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.extend_from_slice(&r.seq.to_le_bytes());
    out.extend_from_slice(&r.at_ms.to_le_bytes());
    let flags = u8::from(r.pass)
        | u8::from(r.late) << 1
        | u8::from(r.peer.is_some()) << 2
        | u8::from(r.peer.as_ref().is_some_and(|p| p.identity.is_some())) << 3;
    out.push(flags);
    out.push(match r.change {
        Change::First => 0,
        Change::Same => 1,
        Change::Regressed => 2,
        Change::Fixed => 3,
    });
    for s in [&*r.owner, &*r.repo, &*r.policy, &*r.details] {
        put_str(out, s);
    }
    if let Some(p) = &r.peer {
        put_str(out, &p.label);
        put_str(out, p.identity.as_deref().unwrap_or(""));
        put_str(out, &p.hops);
    }
    let payload = &out[start + HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + HEADER].copy_from_slice(&crc);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One segment file, open for appending.
struct Segment {
    path: PathBuf,
    file: File,
    bytes: u64,
    /// The highest seq appended since the segment was last emptied.
    last_seq: u64,
}

impl Segment {
    fn empty(&mut self) -> std::io::Result<()> {
        self.cut(0)?;
        self.last_seq = 0;
        Ok(())
    }

    /// Cuts the file to `len` bytes, and the next append goes right there:
    /// `set_len` leaves the file's write position where it was, so without
    /// the seek the next frames would land past a hole of zeros that
    /// reads back as a damaged segment (every frame in it lost to a kill).
    fn cut(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.file.seek(SeekFrom::Start(len))?;
        self.bytes = len;
        Ok(())
    }
}

/// The spool as the drain appends to it. Every failure turns it off for
/// the rest of the run (one warning; the writer counts what it could not
/// take as `unspooled`).
pub struct Spool {
    segments: [Segment; 2],
    active: usize,
}

impl Spool {
    /// Creates (or empties) both segment files: called after [`read`] has
    /// replayed what they held.
    pub fn create(db: &Path) -> std::io::Result<Spool> {
        let open = |path: PathBuf| -> std::io::Result<Segment> {
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            Ok(Segment {
                path,
                file,
                bytes: 0,
                last_seq: 0,
            })
        };
        let [a, b] = paths(db);
        Ok(Spool {
            segments: [open(a)?, open(b)?],
            active: 0,
        })
    }

    /// Appends encoded frames whose highest seq is `last_seq`. `Ok(false)`:
    /// both segments are full and not yet done with; nothing was written.
    pub fn append(&mut self, frames: &[u8], last_seq: u64) -> std::io::Result<bool> {
        let n = frames.len() as u64;
        if self.segments[self.active].bytes >= SEGMENT_SWITCH
            && self.segments[1 - self.active].bytes == 0
        {
            self.active = 1 - self.active;
        }
        let s = &mut self.segments[self.active];
        if s.bytes + n > SEGMENT_MAX && s.bytes > 0 {
            return Ok(false);
        }
        if let Err(e) = s.file.write_all(frames) {
            // A partial write leaves a torn frame: cut it off, so later
            // frames are not read as its continuation.
            let _ = s.cut(s.bytes);
            return Err(e);
        }
        s.bytes += n;
        s.last_seq = s.last_seq.max(last_seq);
        Ok(true)
    }

    /// Empties the segments whose every seq is done (committed by the SQL
    /// stage, or counted as failed or lost).
    pub fn release(&mut self, done_through: u64) -> std::io::Result<()> {
        for s in &mut self.segments {
            if s.bytes > 0 && s.last_seq <= done_through {
                s.empty()?;
            }
        }
        Ok(())
    }

    /// Whether it holds nothing (the end of a run that committed all).
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.bytes == 0)
    }

    /// Removes both files (a clean end with nothing left to replay).
    pub fn remove(self) {
        for s in self.segments {
            drop(s.file);
            let _ = std::fs::remove_file(&s.path);
        }
    }
}

/// What the segments beside `db` hold: their records in seq order, and a
/// line per segment that had an unreadable part (what was skipped).
pub fn read(db: &Path) -> std::io::Result<(Vec<AlertRecord>, Vec<String>)> {
    let mut records = Vec::new();
    let mut names = Names::default();
    let warnings = walk(db, |payload| {
        decode(payload, &mut names)
            .map(|r| records.push(r))
            .is_some()
    })?;
    records.sort_by_key(|r| r.seq);
    records.dedup_by_key(|r| r.seq);
    Ok((records, warnings))
}

/// The seqs the segments beside `db` hold, in order, read from the frames
/// without decoding their records (for a reader asking what waits there,
/// or a run that must not give those seqs out again).
pub fn seqs(db: &Path) -> std::io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    walk(db, |payload| {
        payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(|b| seqs.push(u64::from_le_bytes(b)))
            .is_some()
    })?;
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
}

/// Hands each readable frame's payload of both segments to `take` (false:
/// it cannot be read), stopping a segment at its first unreadable frame;
/// returns a line per segment that had one.
fn walk(db: &Path, mut take: impl FnMut(&[u8]) -> bool) -> std::io::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for path in paths(db) {
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        let mut at = 0;
        while at < bytes.len() {
            match frame(&bytes[at..]).filter(|(payload, _)| take(payload)) {
                Some((_, len)) => at += len,
                None => {
                    // A frame whose end is past the file's is the last
                    // write, cut short by the kill; anything else is
                    // damage. Either way nothing after it is trusted (the
                    // frames carry no marker to find the next one by).
                    let why = if torn(&bytes[at..]) {
                        "a write cut short"
                    } else {
                        "damaged"
                    };
                    warnings.push(format!(
                        "spool {}: {} bytes from offset {at} unreadable ({why}), skipped",
                        path.display(),
                        bytes.len() - at
                    ));
                    break;
                }
            }
        }
    }
    Ok(warnings)
}

/// Whether `b` starts with a frame that ends past `b`'s end (or with less
/// than a frame header).
fn torn(b: &[u8]) -> bool {
    match b.get(..4) {
        None => true,
        Some(len) => {
            let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
            len <= MAX_FRAME && HEADER + len > b.len()
        }
    }
}

/// The payload of the frame at the start of `b` and the frame's length.
fn frame(b: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(b.get(4..HEADER)?.try_into().ok()?);
    if len > MAX_FRAME {
        return None;
    }
    let payload = b.get(HEADER..HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, HEADER + len))
}

/// Names shared by the replayed records, as the store shares them: the
/// writer recognises a key by its names' allocations.
#[derive(Default)]
struct Names(std::collections::HashSet<Arc<str>>);

impl Names {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }
}

fn decode(p: &[u8], names: &mut Names) -> Option<AlertRecord> {
    let mut c = Cursor(p);
    let seq = c.u64()?;
    let at_ms = c.u64()?;
    let flags = c.u8()?;
    let change = match c.u8()? {
        0 => Change::First,
        1 => Change::Same,
        2 => Change::Regressed,
        3 => Change::Fixed,
        _ => return None,
    };
    let owner = names.get(c.str()?);
    let repo = names.get(c.str()?);
    let policy = names.get(c.str()?);
    let details = names.get(c.str()?);
    let peer = if flags & 4 != 0 {
        let label = c.str()?.to_owned();
        let identity = c.str()?;
        let hops = c.str()?;
        let mut p = Peer::new(
            label.parse().ok(),
            (flags & 8 != 0).then(|| identity.to_owned()),
        );
        p.label = label;
        p.hops = Arc::from(hops);
        Some(Arc::new(p))
    } else {
        None
    };
    if !c.0.is_empty() {
        return None;
    }
    Some(AlertRecord {
        seq,
        at_ms,
        owner,
        repo,
        policy,
        pass: flags & 1 != 0,
        details,
        change,
        peer,
        late: flags & 2 != 0,
        // Only a filtered viewer reads it, never from the spool.
        before: None,
        key: crate::model::NO_KEY,
    })
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, peer: Option<Peer>) -> AlertRecord {
        AlertRecord {
            seq,
            at_ms: 1_700_000_000_000 + seq,
            owner: "o".into(),
            repo: format!("r{seq}").into(),
            policy: "Branch Protection".into(),
            pass: seq % 2 == 0,
            details: if seq % 2 == 0 {
                "".into()
            } else {
                "fails\n".into()
            },
            change: Change::Regressed,
            peer: peer.map(Arc::new),
            late: seq == 3,
            before: None,
            key: crate::model::NO_KEY,
        }
    }

    fn same(a: &AlertRecord, b: &AlertRecord) {
        assert_eq!(
            (
                a.seq, a.at_ms, &a.owner, &a.repo, &a.policy, a.pass, &a.details, a.change, a.late
            ),
            (
                b.seq, b.at_ms, &b.owner, &b.repo, &b.policy, b.pass, &b.details, b.change, b.late
            )
        );
        let peer = |r: &AlertRecord| {
            r.peer.as_ref().map(|p| {
                (
                    p.addr,
                    p.identity.clone(),
                    p.label.clone(),
                    p.hops.to_string(),
                )
            })
        };
        assert_eq!(peer(a), peer(b));
    }

    #[test]
    fn records_come_back_as_written_in_seq_order_across_both_segments() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let mut spool = Spool::create(&db).unwrap();
        let mut with_id = Peer::new(Some("10.0.0.1:5000".parse().unwrap()), Some("sa@x".into()));
        with_id.hops = "a1,b2".into();
        let written = [
            record(1, None),
            record(2, Some(with_id)),
            record(3, Some(Peer::new(Some("[::1]:9".parse().unwrap()), None))),
        ];
        let mut buf = Vec::new();
        encode(&written[0], &mut buf);
        encode(&written[1], &mut buf);
        assert!(spool.append(&buf, 2).unwrap());
        // The next appends go to the other segment once the first is past
        // its switch size and the other is empty.
        spool.segments[0].bytes = SEGMENT_SWITCH;
        buf.clear();
        encode(&written[2], &mut buf);
        assert!(spool.append(&buf, 3).unwrap());
        assert_eq!(spool.active, 1);
        let (back, warnings) = read(&db).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.len(), 3);
        for (a, b) in written.iter().zip(&back) {
            same(a, b);
        }
        // Replayed records share their names, as the store's do.
        let (again, _) = read(&db).unwrap();
        assert_eq!(again[0].owner, again[1].owner);
        assert!(Arc::ptr_eq(&back[0].owner, &back[1].owner));
    }

    /// A new spool beside `db` with these seqs appended (plain records).
    fn spool_of(db: &Path, seqs: std::ops::RangeInclusive<u64>) -> Spool {
        let mut spool = Spool::create(db).unwrap();
        let mut buf = Vec::new();
        let last = *seqs.end();
        for seq in seqs {
            encode(&record(seq, None), &mut buf);
        }
        assert!(spool.append(&buf, last).unwrap());
        spool
    }

    #[test]
    fn a_torn_or_corrupt_frame_ends_the_segment_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let _spool = spool_of(&db, 1..=3);
        let [a, _] = paths(&db);
        // A kill in the middle of a write: the last frame is cut short.
        let full = std::fs::read(&a).unwrap();
        std::fs::write(&a, &full[..full.len() - 5]).unwrap();
        let (back, warnings) = read(&db).unwrap();
        assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("-spool-a") && warnings[0].contains("skipped"));
        assert!(warnings[0].contains("a write cut short"), "{warnings:?}");
        // A flipped byte in the second frame fails its CRC: only the first
        // is trusted.
        let mut bad = full.clone();
        let second = HEADER + u32::from_le_bytes(full[..4].try_into().unwrap()) as usize;
        bad[second + HEADER + 3] ^= 0x40;
        std::fs::write(&a, &bad).unwrap();
        let (back, warnings) = read(&db).unwrap();
        assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
        assert!(warnings[0].contains("damaged"), "{warnings:?}");
        // A huge length is refused, not allocated.
        std::fs::write(&a, [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]).unwrap();
        let (back, warnings) = read(&db).unwrap();
        assert!(back.is_empty() && warnings.len() == 1);
    }

    #[test]
    fn segments_are_emptied_once_done_and_bounded_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let mut spool = Spool::create(&db).unwrap();
        let mut buf = Vec::new();
        encode(&record(7, None), &mut buf);
        assert!(spool.append(&buf, 7).unwrap());
        spool.release(6).unwrap();
        assert!(!spool.is_empty(), "seq 7 is not done yet");
        spool.release(7).unwrap();
        assert!(spool.is_empty());
        assert_eq!(std::fs::metadata(&paths(&db)[0]).unwrap().len(), 0);
        // Both segments full and not done: the append is refused.
        assert!(spool.append(&buf, 8).unwrap());
        spool.segments[0].bytes = SEGMENT_MAX;
        spool.segments[1].bytes = SEGMENT_MAX;
        spool.segments[1].last_seq = 9;
        assert!(!spool.append(&buf, 10).unwrap());
        spool.remove();
        assert!(!paths(&db)[0].exists() && !paths(&db)[1].exists());
    }

    /// What an emptied segment takes next is read back from its start. On
    /// the old code the file's write position stayed where the emptied
    /// frames had ended: the next frames landed past a hole of zeros, the
    /// next start read the segment as damaged from offset 0, and a `kill
    /// -9` before the SQL stage caught up lost every alert in it (found by
    /// a user: idle 5 s, a burst, `kill -9`).
    #[test]
    fn frames_appended_after_an_emptying_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let mut spool = spool_of(&db, 1..=3);
        spool.release(3).unwrap();
        let mut buf = Vec::new();
        for seq in 4..=5 {
            encode(&record(seq, None), &mut buf);
        }
        assert!(spool.append(&buf, 5).unwrap());
        assert_eq!(
            std::fs::metadata(&paths(&db)[0]).unwrap().len(),
            buf.len() as u64,
            "no hole before the new frames"
        );
        let (back, warnings) = read(&db).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    }
}
