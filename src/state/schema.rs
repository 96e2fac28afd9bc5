//! The database schema, its version and the migrations to it.
//!
//! The version lives in SQLite's `PRAGMA user_version`. Migration `n` takes
//! a database from version `n` to `n + 1` inside one transaction, so a crash
//! half-way leaves the previous version intact. A database whose version is
//! above [`VERSION`] was written by a newer sinkwatch and is never touched.
//!
//! The tables are meant to be queried by people with `sqlite3` (README.md,
//! "Durable state"): names are plain, times are milliseconds since the Unix
//! epoch, `pass` is 0 or 1 and `change` is the JSON-lines word.

use rusqlite::Connection;

/// The schema version this sinkwatch writes.
pub const VERSION: i64 = 4;

/// Migrations, in order: `MIGRATIONS[n]` goes from version `n` to `n + 1`.
const MIGRATIONS: [&str; VERSION as usize] = [
    // 0 → 1: the first schema.
    r#"
CREATE TABLE keys (
    id             INTEGER PRIMARY KEY,
    owner          TEXT    NOT NULL,
    repo           TEXT    NOT NULL,
    policy         TEXT    NOT NULL,
    pass           INTEGER NOT NULL,
    change         TEXT    NOT NULL,
    first_seen_ms  INTEGER NOT NULL,
    last_seen_ms   INTEGER NOT NULL,
    last_change_ms INTEGER NOT NULL,
    count          INTEGER NOT NULL,
    regressions    INTEGER NOT NULL,
    fixes          INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    details_id     INTEGER NOT NULL REFERENCES details(id),
    peer_id        INTEGER REFERENCES peers(id),
    UNIQUE (owner, repo, policy)
);
CREATE INDEX keys_failing ON keys(policy, owner) WHERE pass = 0;

CREATE TABLE details (
    id   INTEGER PRIMARY KEY,
    hash INTEGER NOT NULL,
    text TEXT    NOT NULL
);
CREATE INDEX details_hash ON details(hash);

CREATE TABLE peers (
    id       INTEGER PRIMARY KEY,
    label    TEXT NOT NULL,
    identity TEXT NOT NULL DEFAULT '',
    UNIQUE (label, identity)
);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    key_id     INTEGER NOT NULL REFERENCES keys(id),
    pass       INTEGER NOT NULL,
    change     TEXT    NOT NULL,
    details_id INTEGER NOT NULL REFERENCES details(id),
    peer_id    INTEGER REFERENCES peers(id)
);
CREATE INDEX events_key ON events(key_id, seq);
CREATE INDEX events_at ON events(at_ms);
CREATE INDEX events_transitions ON events(seq) WHERE change IN ('regressed', 'fixed');

CREATE VIEW transitions AS
    SELECT seq, at_ms, key_id, change FROM events WHERE change IN ('regressed', 'fixed');

CREATE VIEW alerts AS
    SELECT e.seq, strftime('%Y-%m-%dT%H:%M:%fZ', e.at_ms / 1000.0, 'unixepoch') AS at, e.at_ms,
           k.owner, k.repo, k.policy, e.pass, e.change, d.text AS details,
           p.label AS peer, NULLIF(p.identity, '') AS peer_identity
    FROM events e
    JOIN keys k ON k.id = e.key_id
    JOIN details d ON d.id = e.details_id
    LEFT JOIN peers p ON p.id = e.peer_id;
"#,
    // 1 → 2: no index on events(at_ms). It cost every stored alert one
    // more b-tree insert (about 0.3 µs of the writer's CPU, and 17 bytes of
    // file); retention walks events in seq order instead (arrival order,
    // which is time order), and the time-bounded questions of README.md
    // are about transitions, found through events_transitions.
    r#"
DROP INDEX events_at;
"#,
    // 2 → 3: silences (`src/state/silences.rs`). Times in ms since the
    // epoch; `matcher` is a filter expression as typed in the TUI.
    r#"
CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    matcher    TEXT    NOT NULL,
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
"#,
    // 3 → 4: `meta`, the state's own facts. `seq_epoch` names the run of
    // seq numbers viewers resume in (src/state/epoch.rs); `clean_through`
    // is written at a clean shutdown that stored every seq it gave out.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
];

/// Why the schema cannot be used.
#[derive(Debug)]
pub enum SchemaError {
    /// Written by a newer sinkwatch.
    Newer(i64),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for SchemaError {
    fn from(e: rusqlite::Error) -> Self {
        SchemaError::Sql(e)
    }
}

/// The tables a database at version `v` has (no migration drops a table):
/// a file at that version without them is some other program's, whatever
/// its `user_version` says.
fn tables_of(v: i64) -> &'static [&'static str] {
    match v {
        ..=0 => &[],
        1..=2 => &["keys", "details", "peers", "events"],
        3 => &["keys", "details", "peers", "events", "silences"],
        _ => &["keys", "details", "peers", "events", "silences", "meta"],
    }
}

/// Why a database cannot be used as sinkwatch state, before anything is
/// written to it (the switch to WAL and the migrations both write): a
/// schema version this sinkwatch does not know (newer, or negative), at
/// version 0 tables of some other program, and at a known version the
/// absence of that version's tables (another program's `user_version`).
///
/// For the readers (`open`, `export`): the way out of a newer file is a
/// newer sinkwatch.
pub fn check_ours(conn: &Connection) -> Result<(), String> {
    check(conn, "use a newer sinkwatch")
}

/// [`check_ours`] for a sink, which can also be given another file.
pub fn check_ours_for_sink(conn: &Connection) -> Result<(), String> {
    check(conn, NEWER_HINT_FOR_SINK)
}

/// What a sink on a newer file can do.
pub const NEWER_HINT_FOR_SINK: &str = "use a newer sinkwatch, or another --state";

fn check(conn: &Connection, newer_hint: &str) -> Result<(), String> {
    let v = version(conn).map_err(|e| super::cause(&e))?;
    if v > VERSION {
        return Err(format!(
            "schema version {v} is newer than this sinkwatch understands ({VERSION}); \
             the file is left untouched ({newer_hint})"
        ));
    }
    if v < 0 {
        return Err(format!(
            "schema version {v} is not a sinkwatch schema; the file is left untouched"
        ));
    }
    if v == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| super::cause(&e))?;
        if tables > 0 {
            return Err(
                "not a sinkwatch state database (it holds other tables); the file is left \
                 untouched"
                    .to_owned(),
            );
        }
    }
    for table in tables_of(v) {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(|e| super::cause(&e))?;
        if found == 0 {
            return Err(format!(
                "not a sinkwatch state database (schema version {v} without its table \
                 {table}); the file is left untouched"
            ));
        }
    }
    Ok(())
}

/// The database's schema version (0: empty).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the schema to [`VERSION`]; refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let mut v = version(conn)?;
    if !(0..=VERSION).contains(&v) {
        return Err(SchemaError::Newer(v));
    }
    while v < VERSION {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
        v += 1;
    }
    Ok(())
}

/// The stable 64-bit hash of a details text stored beside it (FNV-1a: the
/// value is on disk, so it must never depend on the Rust version).
pub fn details_hash(text: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(version(&c).unwrap(), VERSION);
        migrate(&mut c).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut c), Err(SchemaError::Newer(v)) if v == VERSION + 1));
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn only_our_own_files_are_used() {
        let c = Connection::open_in_memory().unwrap();
        assert_eq!(check_ours(&c), Ok(()), "empty: ours to create");
        c.execute_batch("CREATE TABLE other (x)").unwrap();
        assert!(
            check_ours(&c)
                .unwrap_err()
                .contains("not a sinkwatch state database")
        );
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", -3).unwrap();
        assert!(check_ours(&c).unwrap_err().contains("version -3"));
        assert!(migrate(&mut c).is_err(), "never an index out of range");
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        assert_eq!(check_ours(&c), Ok(()));
        // Another program's file with a user_version sinkwatch knows.
        for v in 1..=VERSION {
            let c = Connection::open_in_memory().unwrap();
            c.execute_batch("CREATE TABLE foo (x)").unwrap();
            c.pragma_update(None, "user_version", v).unwrap();
            let e = check_ours(&c).unwrap_err();
            assert!(e.contains("not a sinkwatch state database"), "{e}");
            assert!(e.contains("left untouched"), "{e}");
        }
        // Ours at every version on the way.
        for v in 1..=VERSION {
            let c = Connection::open_in_memory().unwrap();
            for m in &MIGRATIONS[..v as usize] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", v).unwrap();
            assert_eq!(check_ours(&c), Ok(()), "version {v}");
        }
    }

    #[test]
    fn the_details_hash_is_stable() {
        // Pinned: a change would orphan every stored details row.
        assert_eq!(details_hash(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(details_hash("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
    }
}
