//! The schema version a file records, and what opening files of other versions does.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use agent_core::{Message, Reasoning, RunStatus, StateChanges};
use agent_session::{Commit, RunClaim, SessionErrorKind, SessionId, SessionStore, SessionVersion};
use agent_session_sqlite::{APPLICATION_ID, SCHEMA_VERSION, SqliteSessionStore};
use rusqlite::Connection;
use serde_json::json;

/// Schema version 1 as released, frozen here: the current code must always open a file laid
/// out like this (migrating it forward when there are later versions), whatever the crate's
/// own migration list becomes.
const V1_AS_RELEASED: &str = "
CREATE TABLE store_meta (id INTEGER PRIMARY KEY CHECK (id = 1), last_life INTEGER NOT NULL,
    last_sweep_at INTEGER NOT NULL) STRICT;
INSERT INTO store_meta VALUES (1, 7, 0);
CREATE TABLE sessions (id TEXT PRIMARY KEY, life INTEGER NOT NULL, deleted INTEGER NOT NULL,
    first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, summary_seq INTEGER,
    first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    purge_at INTEGER NOT NULL, changes INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_purge_at ON sessions (purge_at);
CREATE TABLE ended_lives (session TEXT NOT NULL, life INTEGER NOT NULL,
    deleted INTEGER NOT NULL, purge_at INTEGER NOT NULL, PRIMARY KEY (session, life)) STRICT;
CREATE INDEX ended_lives_by_purge_at ON ended_lives (purge_at);
CREATE TABLE entries (session TEXT NOT NULL, seq INTEGER NOT NULL, run_id TEXT, run INTEGER,
    body TEXT NOT NULL, bytes INTEGER NOT NULL, written_at INTEGER NOT NULL,
    PRIMARY KEY (session, seq)) STRICT;
CREATE UNIQUE INDEX entries_by_run_id ON entries (session, run_id) WHERE run_id IS NOT NULL;
CREATE TABLE runs (session TEXT NOT NULL, run INTEGER NOT NULL, status TEXT NOT NULL,
    reasoning TEXT NOT NULL, bytes INTEGER NOT NULL, lease TEXT, heartbeat_at INTEGER,
    committed_seq INTEGER, PRIMARY KEY (session, run)) STRICT;
CREATE TABLE events (session TEXT NOT NULL, run INTEGER NOT NULL, idx INTEGER NOT NULL,
    event TEXT NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (session, run, idx)) STRICT;
PRAGMA application_id = 1296126803;
PRAGMA user_version = 1;
";

/// What version 2 added to version 1, as released, frozen here like [`V1_AS_RELEASED`].
const V2_ON_V1_AS_RELEASED: &str = "
ALTER TABLE runs ADD COLUMN run_id TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at INTEGER;
CREATE INDEX runs_by_run_id ON runs (session, run_id, run) WHERE run_id IS NOT NULL;
PRAGMA user_version = 2;
";

fn header(path: &Path) -> (i64, i64) {
    let conn = Connection::open(path).unwrap();
    let id = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let version = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    (id, version)
}

async fn commit(
    store: &SqliteSessionStore,
    session: &SessionId,
    base: SessionVersion,
    query: &str,
) -> SessionVersion {
    let mut reasoning = Reasoning::start(query, Some(session.to_string()));
    reasoning.status = RunStatus::Completed;
    let messages = [Message::user_text(query), Message::assistant_text("ok")];
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning),
        )
        .await
        .unwrap()
        .version
}

#[tokio::test]
async fn a_new_file_records_its_schema_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let session = SessionId::new("s").unwrap();
    let store = SqliteSessionStore::open(&db).await.unwrap();
    let v1 = commit(&store, &session, SessionVersion::EMPTY, "one").await;
    drop(store);
    assert_eq!(
        header(&db),
        (i64::from(APPLICATION_ID), i64::from(SCHEMA_VERSION))
    );
    for _ in 0..2 {
        let store = SqliteSessionStore::open(&db).await.unwrap();
        assert_eq!(store.head(&session).await.unwrap().version, v1);
    }
    assert_eq!(
        header(&db),
        (i64::from(APPLICATION_ID), i64::from(SCHEMA_VERSION))
    );
    let conn = Connection::open(&db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the file stays in WAL mode");
}

#[tokio::test]
async fn a_version_1_file_made_by_hand_is_migrated_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(V1_AS_RELEASED).unwrap();
    let run_id = uuid::Uuid::now_v7();
    let body = json!({"type": "turn", "run_id": run_id,
        "messages": [{"role": "user", "content": [{"text": "hi"}]},
                     {"role": "assistant", "content": [{"text": "hello"}]}]})
    .to_string();
    let reasoning = json!({"run_id": run_id, "query": "hi", "status": "completed"}).to_string();
    let far = 4_102_444_800_000_000_i64; // 2100-01-01, in microseconds
    conn.execute(
        "INSERT INTO sessions VALUES ('old', 7, 0, 1, 1, NULL, 1, 3, ?1, ?1, 1)",
        [far],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO entries VALUES ('old', 1, ?1, 1, ?2, ?3, 1700000000000000)",
        rusqlite::params![run_id.to_string(), body, body.len() as i64],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs VALUES ('old', 1, 'completed', ?1, ?2, NULL, NULL, 1)",
        rusqlite::params![reasoning, reasoning.len() as i64],
    )
    .unwrap();
    // Run 2 was running when version 1 wrote it (a lease without an end); run 3 is damaged.
    let live_id = uuid::Uuid::now_v7();
    let live = json!({"run_id": live_id, "query": "live", "status": "running"}).to_string();
    let (lease, beat) = (uuid::Uuid::now_v7(), 1_700_000_000_000_000_i64);
    conn.execute(
        "INSERT INTO runs VALUES ('old', 2, 'running', ?1, ?2, ?3, ?4, NULL)",
        rusqlite::params![live, live.len() as i64, lease.to_string(), beat],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs VALUES ('old', 3, 'failed', '{\"run_id\": ', 12, NULL, NULL, NULL)",
        [],
    )
    .unwrap();
    drop(conn);

    // A read-only store cannot migrate it, and leaves it as it was.
    let error = SqliteSessionStore::builder()
        .path(&db)
        .read_only(true)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert_eq!(header(&db).1, 1);

    let store = SqliteSessionStore::open(&db).await.unwrap();
    assert_eq!(header(&db).1, i64::from(SCHEMA_VERSION), "migrated on open");
    let session = SessionId::new("old").unwrap();
    let runs = store.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].reasoning.run_id, run_id);
    assert_eq!(runs[1].reasoning.status, RunStatus::Running);
    assert_eq!(runs[1].lease, Some(lease));
    assert_eq!(
        runs[1].lease_expires_at, None,
        "version 1 leases have no end"
    );
    assert!(runs[2].is_damaged(), "{:?}", runs[2]);
    // The records' run ids were taken from their JSON: repeated writes of those runs are
    // recognised.
    let mut failed = Reasoning::start("hi", None);
    failed.run_id = run_id;
    failed.status = RunStatus::Failed;
    assert_eq!(store.finish_run(&session, None, &failed).await.unwrap(), 1);
    let mut live = Reasoning::start("live", None);
    live.run_id = live_id;
    // Found by its run id; a version 1 lease is not the run id a begun run's lease is now,
    // so a repeated begin of that run is refused rather than handed the lease.
    let refused = store
        .begin_run(&session, &live, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), agent_session::SessionErrorKind::Conflict);
    assert_eq!(
        store.runs(&session, 0, 10).await.unwrap().len(),
        3,
        "nothing written"
    );
    // A lease without an end is judged by its heartbeat alone.
    let claim = RunClaim::new(2, runs[1].heartbeat_at, Duration::from_secs(30));
    assert_eq!(
        store.claim_run(&session, &claim).await.unwrap().lease,
        claim.lease
    );
    assert_eq!(store.head(&session).await.unwrap().runs, 3, "nothing added");
    let ids: Vec<Option<String>> = Connection::open(&db)
        .unwrap()
        .prepare("SELECT run_id FROM runs WHERE session = 'old' ORDER BY run")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        ids,
        [Some(run_id.to_string()), Some(live_id.to_string()), None]
    );

    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, SessionVersion::new(7, 1));
    let entries = store.entries(&session, 1, 1).await.unwrap();
    assert_eq!(entries[0].body.messages()[1].text(), "hello");
    assert_eq!(runs[0].reasoning.query, "hi");
    let latest = store.latest_run(&session).await.unwrap().unwrap();
    assert!(latest.is_damaged() && latest.run == 3, "{latest:?}");
    let next = commit(&store, &session, head.version, "again").await;
    assert_eq!(next, SessionVersion::new(7, 2));
    assert_eq!(store.latest_run(&session).await.unwrap().unwrap().run, 4);
    let fresh = commit(
        &store,
        &SessionId::new("new").unwrap(),
        SessionVersion::EMPTY,
        "x",
    )
    .await;
    assert_eq!(fresh.life(), 8, "lives continue from the file's counter");
    drop(store);
    assert_eq!(header(&db).1, i64::from(SCHEMA_VERSION));
}

/// Creates a current file and returns once the store has closed it. A store dropped inside a
/// runtime closes its connections on the blocking pool, and the last close checkpoints the log
/// into the file: the file may change after the drop returns. Dropping the store's own runtime
/// waits for that close.
fn create_and_close(db: &Path) {
    let db = db.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async { drop(SqliteSessionStore::open(&db).await.unwrap()) });
    })
    .join()
    .unwrap();
}

#[tokio::test]
async fn a_file_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("future.db");
    // Settled before the snapshot below: a close still under way would checkpoint its log
    // into the file after it was taken (seen once on CI, as a changed page count).
    create_and_close(&db);
    Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let error = SqliteSessionStore::open(&db).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
    assert!(
        error.message().contains(&db.display().to_string()),
        "{error}"
    );
    let read_only = SqliteSessionStore::builder()
        .path(&db)
        .read_only(true)
        .build()
        .await;
    assert_eq!(
        read_only.unwrap_err().kind(),
        SessionErrorKind::Incompatible
    );
    assert_eq!(std::fs::read(&db).unwrap(), before, "not a byte changed");
    assert_eq!(header(&db).1, i64::from(SCHEMA_VERSION + 1));
}

#[tokio::test]
async fn another_applications_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let error = SqliteSessionStore::open(&db).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert!(error.message().contains("another application"), "{error}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test]
async fn a_read_only_store_needs_a_current_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = SqliteSessionStore::builder()
        .path(dir.path().join("absent.db"))
        .read_only(true)
        .build()
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), SessionErrorKind::Misconfigured, "{missing}");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let error = SqliteSessionStore::builder()
        .path(&empty)
        .read_only(true)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_version_2_file_is_migrated_and_its_sessions_start_with_an_empty_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v2.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(V1_AS_RELEASED).unwrap();
    conn.execute_batch(V2_ON_V1_AS_RELEASED).unwrap();
    let run_id = uuid::Uuid::now_v7();
    let body = json!({"type": "turn", "run_id": run_id,
        "messages": [{"role": "user", "content": [{"text": "hi"}]},
                     {"role": "assistant", "content": [{"text": "hello"}]}]})
    .to_string();
    let reasoning = json!({"run_id": run_id, "query": "hi", "status": "completed"}).to_string();
    let far = 4_102_444_800_000_000_i64; // 2100-01-01, in microseconds
    conn.execute(
        "INSERT INTO sessions VALUES ('old', 7, 0, 1, 1, NULL, 1, 1, ?1, ?1, 1)",
        [far],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO entries VALUES ('old', 1, ?1, 1, ?2, ?3, 1700000000000000)",
        rusqlite::params![run_id.to_string(), body, body.len() as i64],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs VALUES ('old', 1, 'completed', ?1, ?2, NULL, NULL, 1, ?3, NULL)",
        rusqlite::params![reasoning, reasoning.len() as i64, run_id.to_string()],
    )
    .unwrap();
    drop(conn);
    assert_eq!(header(&db).1, 2);

    // A read-only store cannot migrate it, and leaves it as it was.
    let error = SqliteSessionStore::builder()
        .path(&db)
        .read_only(true)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert_eq!(header(&db).1, 2);

    let store = SqliteSessionStore::open(&db).await.unwrap();
    assert_eq!(header(&db).1, i64::from(SCHEMA_VERSION), "migrated on open");
    let session = SessionId::new("old").unwrap();
    let head = store.head(&session).await.unwrap();
    assert_eq!(
        head.version,
        SessionVersion::new(7, 1),
        "the session is kept"
    );
    assert!(head.state.is_empty(), "with an empty state");
    assert_eq!(store.entries(&session, 1, 1).await.unwrap().len(), 1);
    assert_eq!(
        store.runs(&session, 0, 10).await.unwrap()[0]
            .reasoning
            .run_id,
        run_id
    );
    let listed = store.list_sessions(None, 10).await.unwrap();
    assert!(listed.sessions[0].head.state.is_empty());

    // The migrated session takes state from its next commit on, and keeps it across opens.
    let mut changes = StateChanges::new();
    changes.set_value("plan", json!("pro")).unwrap();
    let mut reasoning = Reasoning::start("more", Some(session.to_string()));
    reasoning.status = RunStatus::Completed;
    let messages = [Message::user_text("more"), Message::assistant_text("ok")];
    store
        .commit(
            &session,
            Commit::new(reasoning.run_id, head.version, &messages, &reasoning)
                .with_state(Some(&changes)),
        )
        .await
        .unwrap();
    drop(store);
    let store = SqliteSessionStore::open(&db).await.unwrap();
    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, SessionVersion::new(7, 2));
    assert_eq!(
        head.state.get::<String>("plan").unwrap().as_deref(),
        Some("pro")
    );
    let (state, bytes): (String, i64) = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT state, state_bytes FROM sessions WHERE id = 'old'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(state, r#"{"plan":"pro"}"#, "stored as JSON text");
    assert_eq!(bytes, state.len() as i64, "with its length");
}
