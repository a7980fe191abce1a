//! Bad input and a hostile environment: paths that cannot be opened, files that are not
//! session databases, read-only files, a full disk, and stored rows edited by hand. Every
//! failure is a typed `SessionError`, and nothing is half-written.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use agent_core::{AgentEvent, MAX_STATE_BYTES, Message, Reasoning, RunStatus, StateChanges};
use agent_session::{
    Commit, SessionError, SessionErrorKind, SessionId, SessionStore, SessionVersion, StoredEvent,
};
use agent_session_sqlite::SqliteSessionStore;
use rusqlite::{Connection, params};

/// How long a run's lease holds past each heartbeat.
const LEASE: Duration = Duration::from_secs(60);

fn turn(query: &str) -> Vec<Message> {
    vec![
        Message::user_text(query),
        Message::assistant_text(format!("ok {query}")),
    ]
}

fn done(query: &str) -> Reasoning {
    let mut reasoning = Reasoning::start(query, None);
    reasoning.status = RunStatus::Completed;
    reasoning
}

async fn commit(
    store: &SqliteSessionStore,
    session: &SessionId,
    base: SessionVersion,
    messages: &[Message],
) -> Result<SessionVersion, SessionError> {
    let reasoning = done("q");
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, messages, &reasoning),
        )
        .await
        .map(|c| c.version)
}

fn event(index: u32) -> StoredEvent {
    StoredEvent::new(
        index,
        AgentEvent::TextDelta {
            step: 1,
            text: format!("t{index}"),
        },
    )
}

fn sql(db: &Path, statement: &str, values: impl rusqlite::Params) {
    Connection::open(db)
        .unwrap()
        .execute(statement, values)
        .unwrap();
}

fn assert_kind(error: &SessionError, kind: SessionErrorKind) {
    assert_eq!(error.kind(), kind, "{error}");
}

#[tokio::test]
async fn paths_that_cannot_be_opened_are_misconfigured_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("s.db");
    let error = SqliteSessionStore::open(&missing).await.unwrap_err();
    assert_kind(&error, SessionErrorKind::Misconfigured);
    assert!(
        error.message().contains(&missing.display().to_string()),
        "{error}"
    );
    assert!(!missing.parent().unwrap().exists(), "no directory was made");

    let error = SqliteSessionStore::open(dir.path()).await.unwrap_err();
    assert_kind(&error, SessionErrorKind::Misconfigured);
    assert!(
        error.message().contains(&dir.path().display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    let text = "These are notes, not a database.\n".repeat(200);
    std::fs::write(&db, &text).unwrap();
    let error = SqliteSessionStore::open(&db).await.unwrap_err();
    assert_kind(&error, SessionErrorKind::Misconfigured);
    assert!(error.message().contains("not a SQLite database"), "{error}");
    assert!(
        error.message().contains(&db.display().to_string()),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&db).unwrap(), text);
    assert!(!dir.path().join("notes.txt-wal").exists());
}

#[tokio::test]
async fn a_read_only_store_reads_and_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let session = SessionId::new("s").unwrap();
    let writer = SqliteSessionStore::open(&db).await.unwrap();
    let v1 = commit(&writer, &session, SessionVersion::EMPTY, &turn("one"))
        .await
        .unwrap();

    let reader = SqliteSessionStore::builder()
        .path(&db)
        .read_only(true)
        .build()
        .await
        .unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.head(&session).await.unwrap().version, v1);
    assert_eq!(reader.entries(&session, 1, 1).await.unwrap().len(), 1);
    assert_eq!(reader.runs(&session, 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        reader.list_sessions(None, 10).await.unwrap().sessions.len(),
        1
    );
    let error = commit(&reader, &session, v1, &turn("two"))
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::Unsupported);
    let error = reader
        .begin_run(&session, &done("x"), LEASE)
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::Unsupported);
    assert_kind(
        &reader.delete(&session).await.unwrap_err(),
        SessionErrorKind::Unsupported,
    );
    assert_eq!(
        writer.head(&session).await.unwrap().version,
        v1,
        "nothing changed"
    );
    // It follows what the writer commits.
    let v2 = commit(&writer, &session, v1, &turn("two")).await.unwrap();
    assert_eq!(reader.head(&session).await.unwrap().version, v2);
}

/// Set in the child that runs `a_write_protected_file_is_read_but_not_written` without the
/// capability that lets root write through file permissions.
const WITHOUT_DAC_OVERRIDE: &str = "MINIMALAGENT_TEST_WITHOUT_DAC_OVERRIDE";

#[tokio::test]
async fn a_write_protected_file_is_read_but_not_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let session = SessionId::new("s").unwrap();
    let v1 = {
        let store = SqliteSessionStore::open(&db).await.unwrap();
        commit(&store, &session, SessionVersion::EMPTY, &turn("one"))
            .await
            .unwrap()
    };
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&db).is_ok() {
        // Root (as in CI containers) writes through file permissions by its capability
        // CAP_DAC_OVERRIDE. Run this test again in a child without it (util-linux's setpriv),
        // where the permissions hold as they do for any other user.
        assert!(
            std::env::var_os(WITHOUT_DAC_OVERRIDE).is_none(),
            "the file is writable even without CAP_DAC_OVERRIDE"
        );
        let test = std::env::current_exe().unwrap();
        let output = std::process::Command::new("setpriv")
            .args(["--bounding-set=-dac_override", "--"])
            .arg(test)
            .args([
                "--exact",
                "a_write_protected_file_is_read_but_not_written",
                "--nocapture",
            ])
            .env(WITHOUT_DAC_OVERRIDE, "1")
            .output()
            .expect("setpriv (util-linux) runs the test without CAP_DAC_OVERRIDE");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the test without CAP_DAC_OVERRIDE failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let store = SqliteSessionStore::open(&db).await.unwrap();
    assert!(store.is_read_only());
    assert_eq!(store.head(&session).await.unwrap().version, v1);
    assert_eq!(store.entries(&session, 1, 1).await.unwrap().len(), 1);
    let error = commit(&store, &session, v1, &turn("two"))
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::Misconfigured);
    assert!(error.message().contains("write-protected"), "{error}");
}

#[tokio::test]
async fn a_full_database_fails_the_commit_and_keeps_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("small.db");
    let session = SessionId::new("s").unwrap();
    let store = SqliteSessionStore::builder()
        .path(&db)
        .max_size(256 * 1024)
        .build()
        .await
        .unwrap();
    let v1 = commit(&store, &session, SessionVersion::EMPTY, &turn("small"))
        .await
        .unwrap();
    let lease = store
        .begin_run(&session, &Reasoning::start("live", None), LEASE)
        .await
        .unwrap();
    let big = vec![
        Message::user_text("x".repeat(1 << 20)),
        Message::assistant_text("big"),
    ];
    let error = commit(&store, &session, v1, &big).await.unwrap_err();
    assert_kind(&error, SessionErrorKind::Unavailable);
    assert!(error.message().contains("full"), "{error}");
    assert!(
        !error.maybe_applied(),
        "SQLite refused a statement: nothing was applied"
    );
    let error = store
        .append_events(
            &session,
            &lease,
            &[StoredEvent::new(
                1,
                AgentEvent::TextDelta {
                    step: 1,
                    text: "y".repeat(1 << 20),
                },
            )],
        )
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::Unavailable);

    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, v1, "the failed commit left nothing");
    assert_eq!(head.runs, 2, "its run number was not taken");
    assert_eq!(store.entries(&session, 1, 1).await.unwrap().len(), 1);
    assert!(
        store
            .events(&session, lease.run, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let v2 = commit(&store, &session, v1, &turn("small again"))
        .await
        .unwrap();
    assert_eq!(v2.seq(), 2, "small writes still fit");
    let check: String = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Two sessions with three turns and a run with two events each.
async fn two_sessions(db: &Path) -> (SqliteSessionStore, SessionId, SessionId, u64) {
    let store = SqliteSessionStore::open(db).await.unwrap();
    let (good, bad) = (
        SessionId::new("good").unwrap(),
        SessionId::new("bad").unwrap(),
    );
    let mut run = 0;
    for session in [&good, &bad] {
        let mut base = SessionVersion::EMPTY;
        for n in 0..3 {
            base = commit(&store, session, base, &turn(&format!("q{n}")))
                .await
                .unwrap();
        }
        let lease = store
            .begin_run(session, &Reasoning::start("live", None), LEASE)
            .await
            .unwrap();
        store
            .append_events(session, &lease, &[event(1), event(2)])
            .await
            .unwrap();
        run = lease.run;
    }
    (store, good, bad, run)
}

/// The good session reads whole; the bad one fails with `CorruptedData` naming it and `item`.
async fn only_bad_is_corrupted(
    store: &SqliteSessionStore,
    good: &SessionId,
    result: Result<impl std::fmt::Debug, SessionError>,
    item: &str,
) {
    let error = result.unwrap_err();
    assert_kind(&error, SessionErrorKind::CorruptedData);
    assert_eq!(error.session(), Some("bad"), "{error}");
    assert!(error.message().contains(item), "{item:?} not in: {error}");
    assert_eq!(store.entries(good, 1, 3).await.unwrap().len(), 3);
    assert_eq!(store.runs(good, 0, 10).await.unwrap().len(), 4);
    assert_eq!(store.events(good, 4, 0, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn damaged_entries_are_corrupted_data_naming_the_session_and_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (store, good, bad, _) = two_sessions(&db).await;
    let original: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT body FROM entries WHERE session = 'bad' AND seq = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let broken = r#"{"type": "turn", "messages": ["#;
    sql(
        &db,
        "UPDATE entries SET body = ?1, bytes = ?2 WHERE session = 'bad' AND seq = 2",
        params![broken, broken.len() as i64],
    );
    only_bad_is_corrupted(
        &store,
        &good,
        store.entries(&bad, 1, 3).await,
        "entry 2: invalid JSON",
    )
    .await;

    // Valid JSON of another length than the one stored: a truncated or edited value.
    let edited = original.replace("q1", "edited q1");
    sql(
        &db,
        "UPDATE entries SET body = ?1, bytes = ?2 WHERE session = 'bad' AND seq = 2",
        params![edited, original.len() as i64],
    );
    only_bad_is_corrupted(
        &store,
        &good,
        store.entries(&bad, 1, 3).await,
        "entry 2: its value has",
    )
    .await;

    sql(
        &db,
        "DELETE FROM entries WHERE session = 'bad' AND seq = 2",
        [],
    );
    only_bad_is_corrupted(
        &store,
        &good,
        store.entries(&bad, 1, 3).await,
        "entry 2: missing",
    )
    .await;
    assert_eq!(
        store.entries(&bad, 3, 3).await.unwrap().len(),
        1,
        "the rest still reads"
    );

    // A head claiming 2^50 entries: refused without sizing anything by it (a vector of that
    // many entries would abort the test).
    sql(
        &db,
        "UPDATE sessions SET last_seq = ?1 WHERE id = 'bad'",
        [1_i64 << 50],
    );
    let huge = store.entries(&bad, 3, 1 << 50).await;
    only_bad_is_corrupted(&store, &good, huge, "entries 4..=").await;
}

#[tokio::test]
async fn damaged_run_records_read_as_damaged_beside_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (store, good, bad, live) = two_sessions(&db).await;
    // Run 1: not JSON. Run 2: JSON of the wrong type, its length stored right. Run 3: whole.
    // Run 4 (live): a lease id of the wrong SQL type (an integer, kept as text '42').
    sql(
        &db,
        "UPDATE runs SET reasoning = 'not json', bytes = 8 WHERE session = 'bad' AND run = 1",
        [],
    );
    let wrong = r#"{"run_id": 5, "query": ["not", "text"], "status": {}}"#;
    sql(
        &db,
        "UPDATE runs SET reasoning = ?1, bytes = ?2 WHERE session = 'bad' AND run = 2",
        params![wrong, wrong.len() as i64],
    );
    sql(
        &db,
        "UPDATE runs SET lease = 42 WHERE session = 'bad' AND run = ?1",
        [live as i64],
    );

    let runs = store.runs(&bad, 0, 10).await.unwrap();
    let numbers: Vec<u64> = runs.iter().map(|r| r.run).collect();
    assert_eq!(numbers, [1, 2, 3, live], "every run in its place");
    let damaged: Vec<bool> = runs.iter().map(|r| r.is_damaged()).collect();
    assert_eq!(damaged, [true, true, false, true]);
    for (record, why) in [
        (&runs[0], "invalid JSON"),
        (&runs[1], "invalid type"),
        (&runs[3], "bad lease id"),
    ] {
        assert_eq!(record.reasoning.status, RunStatus::Damaged);
        let failure = record.reasoning.error.as_ref().unwrap();
        assert_eq!(failure.kind, "store.damaged_record");
        let key = format!("session `bad`, run {}", record.run);
        assert!(failure.message.contains(&key), "{key:?} not in {failure:?}");
        assert!(failure.message.contains(why), "{why:?} not in {failure:?}");
        assert!(record.lease.is_none() && record.heartbeat_at.is_none());
    }
    assert_eq!(runs[2].reasoning.status, RunStatus::Completed);
    assert_eq!(runs[2].committed_seq, Some(3));
    let latest = store.latest_run(&bad).await.unwrap().unwrap();
    assert!(latest.is_damaged() && latest.run == live, "{latest:?}");
    assert_eq!(store.runs(&bad, 2, 1).await.unwrap()[0].run, 3);

    // The rest of the session and the other session read as ever; writes stay strict.
    assert_eq!(store.entries(&bad, 1, 3).await.unwrap().len(), 3);
    assert_eq!(store.events(&bad, live, 0, 10).await.unwrap().len(), 2);
    let good_runs = store.runs(&good, 0, 10).await.unwrap();
    assert!(good_runs.iter().all(|r| !r.is_damaged()), "{good_runs:?}");
    assert_eq!(good_runs.len(), 4);
    let lease = agent_session::RunLease::new(live, uuid::Uuid::now_v7());
    only_bad_is_corrupted(
        &store,
        &good,
        store.heartbeat(&bad, &lease, LEASE).await,
        "bad lease id",
    )
    .await;
    // A later run of the damaged session is recorded and read as usual.
    let mut failed = Reasoning::start("later", None);
    failed.status = RunStatus::Failed;
    let run = store.finish_run(&bad, None, &failed).await.unwrap();
    assert_eq!(run, live + 1);
    let latest = store.latest_run(&bad).await.unwrap().unwrap();
    assert_eq!(latest.reasoning, failed);
}

#[tokio::test]
async fn damaged_session_rows_and_events_are_corrupted_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (store, good, bad, run) = two_sessions(&db).await;
    let lease_run = run;

    sql(
        &db,
        "UPDATE events SET event = '{', bytes = 1 WHERE session = 'bad' AND idx = 2",
        [],
    );
    only_bad_is_corrupted(
        &store,
        &good,
        store.events(&bad, lease_run, 0, 10).await,
        "event 2 of run",
    )
    .await;
    sql(
        &db,
        "DELETE FROM events WHERE session = 'bad' AND idx = 1",
        [],
    );
    only_bad_is_corrupted(
        &store,
        &good,
        store.events(&bad, lease_run, 0, 10).await,
        "event 1 of run 4: missing",
    )
    .await;

    for (column, value) in [("life", -5_i64), ("first_seq", 9), ("last_run", -1)] {
        sql(
            &db,
            &format!("UPDATE sessions SET {column} = ?1 WHERE id = 'bad'"),
            [value],
        );
        only_bad_is_corrupted(&store, &good, store.head(&bad).await, "sessions").await;
        let error = commit(&store, &bad, SessionVersion::EMPTY, &turn("x"))
            .await
            .unwrap_err();
        assert_kind(&error, SessionErrorKind::CorruptedData);
        let listed = store.list_sessions(None, 10).await.unwrap();
        let ids: Vec<&str> = listed.sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["good"],
            "a damaged session is left out of the listing"
        );
    }
}

#[tokio::test]
async fn a_damaged_session_state_is_corrupted_data_and_a_commit_does_not_build_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (store, good, bad, _) = two_sessions(&db).await;
    let head = store.head(&bad).await.unwrap();
    let mut changes = StateChanges::new();
    changes.set_value("k", serde_json::json!(1)).unwrap();
    let huge = format!(r#"{{"k":"{}"}}"#, "x".repeat(MAX_STATE_BYTES));
    for (state, bytes, why) in [
        ("{", Some(1_i64), "invalid JSON"),
        (r#"{"k":1}"#, Some(3), "were stored"),
        ("[1, 2]", Some(6), "invalid JSON"),
        (r#"{"k":1}"#, None, "not both set"),
        (
            huge.as_str(),
            Some(huge.len() as i64),
            "more than a state may be",
        ),
    ] {
        sql(
            &db,
            "UPDATE sessions SET state = ?1, state_bytes = ?2 WHERE id = 'bad'",
            params![state, bytes],
        );
        only_bad_is_corrupted(&store, &good, store.head(&bad).await, why).await;
        let error = store.head(&bad).await.unwrap_err();
        assert!(error.message().contains("`state`"), "{error}");
        // A commit that changes the state cannot build on it, and writes nothing.
        let reasoning = done("q");
        let messages = turn("state");
        let error = store
            .commit(
                &bad,
                Commit::new(reasoning.run_id, head.version, &messages, &reasoning)
                    .with_state(Some(&changes)),
            )
            .await
            .unwrap_err();
        assert_kind(&error, SessionErrorKind::CorruptedData);
        let listed = store.list_sessions(None, 10).await.unwrap();
        let ids: Vec<&str> = listed.sessions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["good"],
            "a damaged state leaves its session out of the listing"
        );
    }
    // Its conversation and runs still read; once repaired, so does the state.
    assert_eq!(store.entries(&bad, 1, 3).await.unwrap().len(), 3);
    assert_eq!(store.runs(&bad, 0, 10).await.unwrap().len(), 4);
    sql(
        &db,
        "UPDATE sessions SET state = NULL, state_bytes = NULL WHERE id = 'bad'",
        [],
    );
    let repaired = store.head(&bad).await.unwrap();
    assert_eq!(repaired.version, head.version, "nothing was committed");
    assert!(repaired.state.is_empty());
}

#[tokio::test]
async fn invalid_input_is_refused_and_writes_nothing() {
    let error = SqliteSessionStore::builder()
        .in_memory()
        .ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::InvalidInput);
    assert_kind(
        &SqliteSessionStore::builder().build().await.unwrap_err(),
        SessionErrorKind::InvalidInput,
    );
    let error = SqliteSessionStore::builder()
        .in_memory()
        .readers(1000)
        .build()
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::InvalidInput);
    let error = SqliteSessionStore::builder()
        .in_memory()
        .sweep_batch(0)
        .build()
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::InvalidInput);

    let store = SqliteSessionStore::open_in_memory().await.unwrap();
    let session = SessionId::new("s").unwrap();
    let error = commit(&store, &session, SessionVersion::EMPTY, &[])
        .await
        .unwrap_err();
    assert_kind(&error, SessionErrorKind::InvalidInput);
    assert!(!store.head(&session).await.unwrap().exists());
    let lease = store
        .begin_run(&session, &Reasoning::start("live", None), LEASE)
        .await
        .unwrap();
    for events in [vec![event(0)], vec![event(1), event(3)], vec![event(2)]] {
        let error = store
            .append_events(&session, &lease, &events)
            .await
            .unwrap_err();
        assert_kind(&error, SessionErrorKind::InvalidInput);
    }
    assert!(
        store
            .events(&session, lease.run, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "all or nothing"
    );
}
