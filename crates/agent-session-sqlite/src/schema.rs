//! The database schema, how a file records its version, and the forward-only migrations.
//!
//! A file made by this crate carries two numbers in its header: `PRAGMA application_id`
//! ([`APPLICATION_ID`], so that another program's database is never taken for ours) and
//! `PRAGMA user_version` (the schema version, [`SCHEMA_VERSION`]). Opening a file:
//!
//! 1. [`inspect`] reads both, changing nothing: a foreign database is refused
//!    (`Misconfigured`), a newer schema is refused (`Incompatible`).
//! 2. [`migrate`] applies every migration above the file's version, in order, in one
//!    `BEGIN IMMEDIATE` transaction that also sets the new version: a crash or an error leaves
//!    the file at its old version, and two processes opening a new file at once migrate it
//!    once (the second sees the version the first wrote).
//!
//! Migrations only ever go forward; a released migration is never edited, a change of schema
//! is a new migration at the end of [`MIGRATIONS`].

use agent_session::{SessionError, SessionErrorKind};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::errors::DbError;

/// The schema version this crate writes and reads (`PRAGMA user_version` of its files).
pub const SCHEMA_VERSION: u32 = 3;

/// `PRAGMA application_id` of a session database: "MASS", MinimalAgent session store.
pub const APPLICATION_ID: i32 = 0x4D41_5353;

/// One step of the schema: the SQL that takes a file from `version - 1` to `version`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) sql: &'static str,
}

/// Every migration, in order; the last one's version is [`SCHEMA_VERSION`].
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
];

/// Version 1. Numbers are SQLite integers (sequence and run numbers from 1, times in
/// microseconds since the Unix epoch); values are JSON text with their byte length beside
/// them, so that a damaged or edited value is caught on read. Tables are `STRICT`: a value of
/// the wrong type cannot be stored.
const V1: &str = "
CREATE TABLE store_meta (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_life     INTEGER NOT NULL,   -- the last life handed out to any session
    last_sweep_at INTEGER NOT NULL    -- when any process last swept expired sessions
) STRICT;
INSERT INTO store_meta (id, last_life, last_sweep_at) VALUES (1, 0, 0);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    life        INTEGER NOT NULL,     -- this life's number, from store_meta.last_life
    deleted     INTEGER NOT NULL,     -- 1: this life ended by a delete (a tombstone)
    first_seq   INTEGER NOT NULL,     -- entries of this life: first_seq ..= last_seq
    last_seq    INTEGER NOT NULL,
    summary_seq INTEGER,
    first_run   INTEGER NOT NULL,     -- runs of this life: first_run ..= last_run
    last_run    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,     -- reads treat the session as gone from then on
    purge_at    INTEGER NOT NULL,     -- the sweep may remove its rows from then on
    changes     INTEGER NOT NULL      -- bumped by every write followers care about
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_purge_at ON sessions (purge_at);

CREATE TABLE ended_lives (
    session  TEXT NOT NULL,
    life     INTEGER NOT NULL,
    deleted  INTEGER NOT NULL,        -- 1: ended by a delete; 0: expired
    purge_at INTEGER NOT NULL,
    PRIMARY KEY (session, life)
) STRICT;
CREATE INDEX ended_lives_by_purge_at ON ended_lives (purge_at);

CREATE TABLE entries (
    session    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    run_id     TEXT,                  -- the run of a turn; NULL for a summary
    run        INTEGER,
    body       TEXT NOT NULL,         -- agent_session::EntryBody as JSON
    bytes      INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    PRIMARY KEY (session, seq)
) STRICT;
CREATE UNIQUE INDEX entries_by_run_id ON entries (session, run_id) WHERE run_id IS NOT NULL;

CREATE TABLE runs (
    session       TEXT NOT NULL,
    run           INTEGER NOT NULL,
    status        TEXT NOT NULL,      -- the record's status, for claim_run without parsing it
    reasoning     TEXT NOT NULL,      -- agent_core::Reasoning as JSON
    bytes         INTEGER NOT NULL,
    lease         TEXT,
    heartbeat_at  INTEGER,
    committed_seq INTEGER,
    PRIMARY KEY (session, run)
) STRICT;

CREATE TABLE events (
    session TEXT NOT NULL,
    run     INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    event   TEXT NOT NULL,            -- agent_core::AgentEvent as JSON
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (session, run, idx)
) STRICT;
";

/// Version 2: run records know their run id (so that a repeated `begin_run` or `finish_run` is
/// recognised, looked up by an index) and until when their lease holds. Records written by
/// version 1 get the run id their reasoning JSON names, when it names one (a damaged record
/// gets none, and changes nothing else); their lease has no end (readers judge them by their
/// own limit, as before).
const V2: &str = "
ALTER TABLE runs ADD COLUMN run_id TEXT;                -- the reasoning's run id
ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;   -- until when the lease holds
UPDATE runs SET run_id =
    CASE WHEN json_valid(reasoning) THEN
        CASE WHEN json_type(reasoning, '$.run_id') = 'text'
            THEN lower(json_extract(reasoning, '$.run_id')) END
    END;
CREATE INDEX runs_by_run_id ON runs (session, run_id, run) WHERE run_id IS NOT NULL;
";

/// Version 3: sessions have a state (`agent_core::SessionState`), written by commits: its JSON
/// and the JSON's byte length, both `NULL` for an empty state. Sessions written by version 2
/// have none (`NULL`), which reads as an empty state; nothing else changes.
const V3: &str = "
ALTER TABLE sessions ADD COLUMN state TEXT;             -- agent_core::SessionState as JSON
ALTER TABLE sessions ADD COLUMN state_bytes INTEGER;    -- its length in bytes
";

/// What a file holds, as far as this crate is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileState {
    /// An empty database (a new file): the migrations create everything.
    Empty,
    /// A session database at this schema version.
    Ours(u32),
}

/// Reads what the file holds without changing it. Refuses another program's database
/// (`Misconfigured`) and a schema newer than this crate's (`Incompatible`).
pub(crate) fn inspect(conn: &Connection, file: &str) -> Result<FileState, DbError> {
    // One read transaction: the three reads must see the same state even if another process
    // is creating the file right now (else an empty header and a created table look foreign).
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
    let state = read_state(&tx, SCHEMA_VERSION, file)?;
    tx.rollback()?;
    Ok(state)
}

/// What the file holds, read inside the caller's transaction, for a build whose schema goes up
/// to `latest`.
fn read_state(conn: &Connection, latest: u32, file: &str) -> Result<FileState, DbError> {
    let application_id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let objects: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?;
    if application_id == 0 && version == 0 && objects == 0 {
        return Ok(FileState::Empty);
    }
    if application_id != APPLICATION_ID {
        return Err(SessionError::new(
            SessionErrorKind::Misconfigured,
            format!(
                "`{file}` is a SQLite database of another application (application_id \
                 {application_id:#x}), not a session store"
            ),
        )
        .into());
    }
    let version = check_version(version, latest, file)?;
    Ok(FileState::Ours(version))
}

/// The file's version, if this build (whose schema goes up to `latest`) can read it.
fn check_version(version: i64, latest: u32, file: &str) -> Result<u32, DbError> {
    match u32::try_from(version) {
        Ok(version) if version <= latest => Ok(version),
        _ => Err(SessionError::new(
            SessionErrorKind::Incompatible,
            format!(
                "`{file}` has session schema version {version}, newer than this version of \
                 agent-session-sqlite reads ({latest}); nothing was changed"
            ),
        )
        .into()),
    }
}

/// Brings the file up to the last of `migrations` in one immediate transaction; returns the
/// version it was at. `migrations` is [`MIGRATIONS`] except in tests of the runner itself.
pub(crate) fn migrate(
    conn: &Connection,
    migrations: &[Migration],
    file: &str,
) -> Result<u32, DbError> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated since `inspect`.
    let current = match read_state(&tx, latest, file)? {
        FileState::Empty => 0,
        FileState::Ours(version) => version,
    };
    if current == latest {
        return Ok(current);
    }
    for migration in migrations.iter().filter(|m| m.version > current) {
        tx.execute_batch(migration.sql)?;
    }
    // Header fields: written through the pager, so they commit or roll back with the rest.
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", latest)?;
    tx.commit().map_err(DbError::AtCommit)?;
    tracing::info!(
        file,
        from = current,
        to = latest,
        "migrated the session database"
    );
    Ok(current)
}

/// The file's schema version (`PRAGMA user_version`), for a read-only connection that must not
/// migrate: it must already be current.
pub(crate) fn require_current(conn: &Connection, file: &str) -> Result<(), DbError> {
    match inspect(conn, file)? {
        FileState::Ours(SCHEMA_VERSION) => Ok(()),
        FileState::Ours(version) => Err(SessionError::new(
            SessionErrorKind::Misconfigured,
            format!(
                "`{file}` has session schema version {version} and needs migrating to \
                 {SCHEMA_VERSION}, which a read-only store cannot do: open it writable once"
            ),
        )
        .into()),
        FileState::Empty => Err(SessionError::new(
            SessionErrorKind::Misconfigured,
            format!("`{file}` is empty: a read-only store needs an existing session database"),
        )
        .into()),
    }
}

/// Whether a table of this name exists (for tests and diagnostics).
#[cfg(test)]
fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn the_migration_list_is_dense_and_ends_at_the_schema_version() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, n + 1);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, SCHEMA_VERSION);
    }

    #[test]
    fn a_new_file_is_migrated_once_and_reopening_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(inspect(&conn, "m").unwrap(), FileState::Empty);
        assert_eq!(migrate(&conn, MIGRATIONS, "m").unwrap(), 0);
        assert_eq!(
            inspect(&conn, "m").unwrap(),
            FileState::Ours(SCHEMA_VERSION)
        );
        assert_eq!(migrate(&conn, MIGRATIONS, "m").unwrap(), SCHEMA_VERSION);
        assert_eq!(version(&conn), i64::from(SCHEMA_VERSION));
        assert!(has_table(&conn, "entries").unwrap());
    }

    #[test]
    fn pending_migrations_run_in_order_and_a_failing_one_leaves_the_old_version() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &MIGRATIONS[..1], "m").unwrap();
        conn.execute(
            "INSERT INTO sessions VALUES ('s', 1, 0, 1, 0, NULL, 1, 0, 0, 0, 0)",
            [],
        )
        .unwrap();
        let broken = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY) STRICT;",
            },
            Migration {
                version: 3,
                sql: "ALTER TABLE no_such_table ADD COLUMN x INTEGER;",
            },
        ];
        assert!(migrate(&conn, &broken, "m").is_err());
        assert_eq!(
            version(&conn),
            1,
            "the failed step rolled the whole migration back"
        );
        assert!(!has_table(&conn, "notes").unwrap());
        let next = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                sql: "ALTER TABLE sessions ADD COLUMN note TEXT;",
            },
        ];
        assert_eq!(migrate(&conn, &next, "m").unwrap(), 1);
        assert_eq!(version(&conn), 2);
        let kept: String = conn
            .query_row("SELECT id FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, "s", "data survives a migration");
    }

    #[test]
    fn version_2_takes_run_ids_from_the_records_and_finds_runs_by_them() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &MIGRATIONS[..1], "m").unwrap();
        let id = "0190F3A1-7C2B-7DEF-8123-456789ABCDEF";
        for (run, reasoning) in [
            (1, format!(r#"{{"run_id": "{id}", "status": "completed"}}"#)),
            (2, r#"{"run_id": 5}"#.to_owned()),
            (3, r#"["not", "a", "record"]"#.to_owned()),
            (4, r#"{"run_id": "#.to_owned()),
            (5, r#"{"query": "no id"}"#.to_owned()),
        ] {
            conn.execute(
                "INSERT INTO runs VALUES ('s', ?1, 'completed', ?2, ?3, NULL, NULL, NULL)",
                rusqlite::params![run, reasoning, reasoning.len() as i64],
            )
            .unwrap();
        }
        assert_eq!(migrate(&conn, MIGRATIONS, "m").unwrap(), 1);
        let ids: Vec<Option<String>> = conn
            .prepare("SELECT run_id FROM runs ORDER BY run")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            ids,
            [Some(id.to_lowercase()), None, None, None, None],
            "an id only where the record names one as text; damaged records migrate too"
        );
        for query in [crate::ops::RUN_BY_ID, crate::ops::KEPT_RUN_BY_ID] {
            let parameters: [&dyn rusqlite::ToSql; 7] =
                [&"s", &"x", &1, &"running", &"paused", &"interrupted", &true];
            let count = (1..=parameters.len())
                .filter(|n| query.contains(&format!("?{n}")))
                .count();
            let plan: String = conn
                .query_row(
                    &format!("EXPLAIN QUERY PLAN {query}"),
                    rusqlite::params_from_iter(parameters.into_iter().take(count)),
                    |r| r.get(3),
                )
                .unwrap();
            assert!(plan.contains("runs_by_run_id"), "{query}: {plan}");
        }
    }

    #[test]
    fn newer_and_foreign_files_are_refused_before_anything_changes() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, MIGRATIONS, "m").unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let DbError::Session(error) = inspect(&conn, "m").unwrap_err() else {
            panic!()
        };
        assert_eq!(error.kind(), SessionErrorKind::Incompatible);
        let DbError::Session(error) = migrate(&conn, MIGRATIONS, "m").unwrap_err() else {
            panic!()
        };
        assert_eq!(error.kind(), SessionErrorKind::Incompatible);
        assert_eq!(version(&conn), i64::from(SCHEMA_VERSION + 1));

        let foreign = Connection::open_in_memory().unwrap();
        foreign
            .execute_batch("CREATE TABLE users (id INTEGER);")
            .unwrap();
        let DbError::Session(error) = inspect(&foreign, "f").unwrap_err() else {
            panic!()
        };
        assert_eq!(error.kind(), SessionErrorKind::Misconfigured);
    }
}
