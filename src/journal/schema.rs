//! The journal's schema: an ordered list of migrations, each one SQL batch run in the same
//! transaction that records it in `schema_version`. Migration `i` (0-based) brings the file to
//! version `i + 1`; a file's version is the highest row of `schema_version`. Never edit a
//! migration that has shipped: add a new one.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// `PRAGMA application_id` of a journal file: "OKCJ". Lets `file(1)`, support and `open` tell a
/// journal from another SQLite file.
pub const APPLICATION_ID: i32 = 0x4F4B_434A;

/// Version 1: the entries (one row per operation, the current state and a time stamp per
/// state) and the version table.
const V1: &str = "
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
CREATE TABLE entries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    family       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    request      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    outcome      TEXT,
    result       TEXT,
    reason       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    answered_at  INTEGER,
    in_doubt_at  INTEGER,
    ended_at     INTEGER,
    delivered_at INTEGER,
    confirmed_at INTEGER,
    updated_at   INTEGER NOT NULL,
    UNIQUE (family, key)
);
CREATE INDEX entries_state ON entries (state);
CREATE INDEX entries_updated ON entries (updated_at);
";

/// Version 2: every state change as its own row (`history`), so a second "in doubt" or a
/// re-begin after "not sent" does not overwrite what happened before. Entries of a version 1
/// file get their creation and their current state as history.
const V2: &str = "
CREATE TABLE history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    event    TEXT    NOT NULL,
    note     TEXT
);
CREATE INDEX history_entry ON history (entry_id);
INSERT INTO history (entry_id, at, event, note)
    SELECT id, created_at, 'recorded', 'from schema version 1' FROM entries;
INSERT INTO history (entry_id, at, event, note)
    SELECT id, updated_at, state, 'state at the migration to schema version 2'
    FROM entries WHERE state <> 'recorded';
";

/// Version 3: the event log (`okc serve`'s Server-sent events, `journal::events`): one row per
/// event published, its id the `Last-Event-ID` a client resumes from, so a browser that
/// reconnects — also after a restart of the service — misses nothing.
const V3: &str = "
CREATE TABLE events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    kind TEXT    NOT NULL,
    json TEXT    NOT NULL
);
CREATE INDEX events_at ON events (at);
";

/// The migrations, oldest first.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this code writes.
pub const CURRENT: u32 = MIGRATIONS.len() as u32;

/// The columns `verify` expects, per table.
pub const TABLES: &[(&str, &[&str])] = &[
    ("schema_version", &["version", "applied_at"]),
    (
        "entries",
        &[
            "id",
            "family",
            "kind",
            "key",
            "scope",
            "request",
            "state",
            "outcome",
            "result",
            "reason",
            "attempts",
            "created_at",
            "sent_at",
            "answered_at",
            "in_doubt_at",
            "ended_at",
            "delivered_at",
            "confirmed_at",
            "updated_at",
        ],
    ),
    ("history", &["id", "entry_id", "at", "event", "note"]),
    ("events", &["id", "at", "kind", "json"]),
];

/// What `migrate` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The file is at (or was brought to) [`CURRENT`]; `from` is the version it had.
    Ready { from: u32 },
    /// A newer okclink wrote it.
    TooNew(u32),
    /// Tables but no `schema_version`, or another application id: not a journal.
    Foreign,
}

fn table_exists(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

/// The version of an open file without changing it (0: empty file).
pub(crate) fn version(c: &Connection) -> rusqlite::Result<Option<u32>> {
    if !table_exists(c, "schema_version")? {
        let tables: i64 = c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )?;
        return Ok((tables == 0).then_some(0));
    }
    let v: Option<i64> =
        c.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(Some(v.unwrap_or(0).max(0) as u32))
}

/// Brings the file to [`CURRENT`] in one immediate transaction (so a journal locked by another
/// process is found here, at open, and two processes never migrate at once).
pub(crate) fn migrate(c: &mut Connection, now: i64) -> rusqlite::Result<Found> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let Some(from) = version(&tx)? else {
        return Ok(Found::Foreign);
    };
    if app != APPLICATION_ID && !(app == 0 && from <= CURRENT) {
        return Ok(Found::Foreign);
    }
    if from > CURRENT {
        return Ok(Found::TooNew(from));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            params![i as i64 + 1, now],
        )?;
    }
    if app != APPLICATION_ID {
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
    }
    tx.commit()?;
    Ok(Found::Ready { from })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_file_gets_every_migration() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c, 1).unwrap(), Found::Ready { from: 0 });
        assert_eq!(version(&c).unwrap(), Some(CURRENT));
        assert_eq!(migrate(&mut c, 2).unwrap(), Found::Ready { from: CURRENT });
        let app: i32 = c
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
        for (table, cols) in TABLES {
            let mut st = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap();
            let have: Vec<String> = st
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(&have, cols, "{table}");
        }
    }

    #[test]
    fn a_version_2_file_gets_the_event_log() {
        let mut c = Connection::open_in_memory().unwrap();
        let tx = c.transaction().unwrap();
        for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
            tx.execute_batch(sql).unwrap();
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, 1)",
                [i as i64 + 1],
            )
            .unwrap();
        }
        tx.execute_batch(
            "INSERT INTO entries (family, kind, key, scope, request, state, created_at, \
             updated_at) VALUES ('basket', 'basket', 'b-1', 'AV1', '{}', 'sent', 1, 1)",
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(version(&c).unwrap(), Some(2));
        assert_eq!(migrate(&mut c, 2).unwrap(), Found::Ready { from: 2 });
        assert_eq!(version(&c).unwrap(), Some(3));
        let n: i64 = c
            .query_row("SELECT count(*) FROM entries WHERE key = 'b-1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1, "the entries are kept");
        c.execute(
            "INSERT INTO events (at, kind, json) VALUES (5, 'sale-info', '{}')",
            [],
        )
        .unwrap();
        assert_eq!(c.last_insert_rowid(), 1);
    }

    #[test]
    fn other_sqlite_files_are_foreign() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (x)").unwrap();
        assert_eq!(migrate(&mut c, 1).unwrap(), Found::Foreign);
    }
}
