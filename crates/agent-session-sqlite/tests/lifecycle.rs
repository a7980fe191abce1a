//! Time to live, the sweep, lives after delete and expiry, and followers' waiting — on Tokio's
//! paused clock (`TokioClock`), so the tests step over minutes instantly and time exactly.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{Message, Reasoning, RunStatus};
use agent_session::{
    Commit, SessionError, SessionErrorKind, SessionId, SessionStore, SessionVersion, TokioClock,
};
use agent_session_sqlite::{SqliteSessionStore, SqliteSessionStoreBuilder};
use rusqlite::Connection;
use tokio::time::{Instant, advance};

const TTL: Duration = Duration::from_secs(10);

/// How long a run's lease holds past each heartbeat.
const LEASE: Duration = Duration::from_secs(30);

fn builder(db: &Path) -> SqliteSessionStoreBuilder {
    SqliteSessionStore::builder()
        .path(db)
        .ttl(TTL)
        .clock(Arc::new(TokioClock::new()))
        .sweep_interval(Duration::from_secs(1))
}

async fn commit(
    store: &SqliteSessionStore,
    session: &SessionId,
    base: SessionVersion,
    query: &str,
) -> Result<SessionVersion, SessionError> {
    let mut reasoning = Reasoning::start(query, Some(session.to_string()));
    reasoning.status = RunStatus::Completed;
    let messages = [Message::user_text(query), Message::assistant_text("ok")];
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning),
        )
        .await
        .map(|c| c.version)
}

/// Rows the session still has in the file, its own row included.
fn stored_rows(db: &Path, session: &str) -> i64 {
    let conn = Connection::open(db).unwrap();
    ["entries", "runs", "events", "ended_lives"]
        .iter()
        .map(|table| {
            conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE session = ?1"),
                [session],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        })
        .sum::<i64>()
        + conn
            .query_row(
                "SELECT count(*) FROM sessions WHERE id = ?1",
                [session],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
}

#[tokio::test(start_paused = true)]
async fn sessions_expire_a_ttl_after_their_last_write_and_go_one_ttl_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ttl.db");
    let store = builder(&db).build().await.unwrap();
    let (s, other) = (
        SessionId::new("s").unwrap(),
        SessionId::new("other").unwrap(),
    );
    let v1 = commit(&store, &s, SessionVersion::EMPTY, "one")
        .await
        .unwrap();

    advance(Duration::from_secs(9)).await;
    assert_eq!(store.head(&s).await.unwrap().version, v1);
    advance(Duration::from_secs(2)).await;
    let head = store.head(&s).await.unwrap();
    assert!(
        head.version.is_empty() && !head.exists(),
        "expired: {head:?}"
    );
    assert!(store.runs(&s, 0, 10).await.unwrap().is_empty());
    assert!(
        store
            .list_sessions(None, 10)
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
    assert_eq!(
        store.entries(&s, 1, 1).await.unwrap_err().kind(),
        SessionErrorKind::NotFound
    );

    // A run that read v1 before it expired still commits: the data is there.
    let late = commit(&store, &s, v1, "late").await.unwrap();
    assert_eq!(late.life(), v1.life());
    assert_eq!(store.head(&s).await.unwrap().version, late);

    // Expired at t=21; not removed before t=31, however often the sweep runs.
    advance(Duration::from_secs(19)).await; // t = 30
    commit(&store, &other, SessionVersion::EMPTY, "sweep trigger")
        .await
        .unwrap();
    assert!(stored_rows(&db, "s") > 0, "kept one more time to live");
    assert!(store.head(&s).await.unwrap().version.is_empty());

    advance(Duration::from_secs(2)).await; // t = 32
    let v = store.head(&other).await.unwrap().version;
    commit(&store, &other, v, "sweep trigger").await.unwrap();
    assert_eq!(stored_rows(&db, "s"), 0, "swept");
    let error = commit(&store, &s, late, "too late").await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Expired, "{error}");
}

#[tokio::test(start_paused = true)]
async fn runs_and_heartbeats_keep_a_session_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(&dir.path().join("hb.db")).build().await.unwrap();
    let s = SessionId::new("s").unwrap();
    let lease = store
        .begin_run(&s, &Reasoning::start("long", None), LEASE)
        .await
        .unwrap();
    for _ in 0..5 {
        advance(Duration::from_secs(8)).await;
        store.heartbeat(&s, &lease, LEASE).await.unwrap();
    }
    assert!(
        store.head(&s).await.unwrap().exists(),
        "40 s later, alive by its heartbeats"
    );
    assert_eq!(store.latest_run(&s).await.unwrap().unwrap().run, lease.run);
    advance(TTL + Duration::from_secs(1)).await;
    assert!(
        !store.head(&s).await.unwrap().exists(),
        "silent for a TTL: gone"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweep_removes_at_most_its_batch_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let store = builder(&db).sweep_batch(10).build().await.unwrap();
    let sessions: Vec<SessionId> = (0..4)
        .map(|n| SessionId::new(format!("s{n}")).unwrap())
        .collect();
    for session in &sessions {
        let mut base = SessionVersion::EMPTY;
        for n in 0..3 {
            base = commit(&store, session, base, &format!("q{n}"))
                .await
                .unwrap();
        }
    }
    let total: i64 = sessions.iter().map(|s| stored_rows(&db, s.as_str())).sum();
    assert_eq!(total, 4 * (3 + 3 + 1), "3 entries, 3 runs and a row each");

    advance(TTL * 2 + Duration::from_secs(1)).await;
    let trigger = SessionId::new("trigger").unwrap();
    let mut base = commit(&store, &trigger, SessionVersion::EMPTY, "a")
        .await
        .unwrap();
    let left = |db: &Path| {
        sessions
            .iter()
            .map(|s| stored_rows(db, s.as_str()))
            .sum::<i64>()
    };
    assert_eq!(left(&db), total - 10, "one batch");
    base = commit(&store, &trigger, base, "b").await.unwrap();
    assert_eq!(left(&db), total - 10, "no second sweep within the interval");
    advance(Duration::from_secs(1)).await;
    commit(&store, &trigger, base, "c").await.unwrap();
    assert_eq!(left(&db), total - 20, "the next batch an interval later");
}

#[tokio::test(start_paused = true)]
async fn a_run_of_an_ended_life_is_told_whether_it_was_deleted_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    let store = builder(&dir.path().join("lives.db")).build().await.unwrap();

    let deleted = SessionId::new("deleted").unwrap();
    let old = commit(&store, &deleted, SessionVersion::EMPTY, "old")
        .await
        .unwrap();
    let lease = store
        .begin_run(&deleted, &Reasoning::start("live", None), LEASE)
        .await
        .unwrap();
    store.delete(&deleted).await.unwrap();
    assert_eq!(
        store
            .heartbeat(&deleted, &lease, LEASE)
            .await
            .unwrap_err()
            .kind(),
        SessionErrorKind::Deleted
    );
    let new = commit(&store, &deleted, SessionVersion::EMPTY, "new")
        .await
        .unwrap();
    assert_ne!(new.life(), old.life());
    let error = commit(&store, &deleted, old, "stale").await.unwrap_err();
    assert_eq!(
        error.kind(),
        SessionErrorKind::Deleted,
        "even after a new life began: {error}"
    );
    assert!(store.heartbeat(&deleted, &lease, LEASE).await.is_err());

    let expired = SessionId::new("expired").unwrap();
    let old = commit(&store, &expired, SessionVersion::EMPTY, "old")
        .await
        .unwrap();
    advance(TTL + Duration::from_secs(1)).await;
    let new = commit(&store, &expired, SessionVersion::EMPTY, "new")
        .await
        .unwrap();
    assert_ne!(new.life(), old.life());
    assert_eq!(
        new.seq(),
        old.seq() + 1,
        "sequence numbers continue across lives"
    );
    let error = commit(&store, &expired, old, "stale").await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Expired, "{error}");
    let head = store.head(&expired).await.unwrap();
    assert_eq!((head.first_seq, head.version), (new.seq(), new));
}

#[tokio::test(start_paused = true)]
async fn followers_wake_for_changes_and_otherwise_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("follow.db");
    let store = builder(&db).build().await.unwrap();
    // Another store on the same file stands for another process: it shares no memory.
    let elsewhere = builder(&db).build().await.unwrap();
    let s = SessionId::new("s").unwrap();
    let v1 = commit(&store, &s, SessionVersion::EMPTY, "one")
        .await
        .unwrap();

    let started = Instant::now();
    store.wait_for_changes(&s, Duration::from_secs(3)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3), "nothing changed");

    let wait = |store: SqliteSessionStore| {
        let s = s.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            store.wait_for_changes(&s, Duration::from_secs(30)).await;
            started.elapsed()
        })
    };
    // A write of the same process wakes its followers at once.
    let waiter = wait(store.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let v2 = commit(&store, &s, v1, "two").await.unwrap();
    assert_eq!(waiter.await.unwrap(), Duration::from_millis(20));

    // A write of another process is found by the next poll (5, 10, 20, … ms apart).
    let waiter = wait(store.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;
    commit(&elsewhere, &s, v2, "three").await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited > Duration::from_millis(20) && waited <= Duration::from_millis(35),
        "woken by polling after {waited:?}"
    );

    // Writes to other sessions do not wake it.
    let waiter = wait(store.clone());
    commit(
        &store,
        &SessionId::new("else").unwrap(),
        SessionVersion::EMPTY,
        "x",
    )
    .await
    .unwrap();
    assert_eq!(waiter.await.unwrap(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_state_lives_and_ends_with_its_life() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = builder(&db).build().await.unwrap();
    let s = SessionId::new("s").unwrap();
    let with_state = async |base: SessionVersion, key: &str| {
        let mut changes = agent_core::StateChanges::new();
        changes.set_value(key, serde_json::json!(true)).unwrap();
        let mut reasoning = Reasoning::start(key, None);
        reasoning.status = RunStatus::Completed;
        let messages = [Message::user_text(key), Message::assistant_text("ok")];
        store
            .commit(
                &s,
                Commit::new(reasoning.run_id, base, &messages, &reasoning)
                    .with_state(Some(&changes)),
            )
            .await
            .unwrap()
            .version
    };
    let stored_state = || -> Option<String> {
        Connection::open(&db)
            .unwrap()
            .query_row("SELECT state FROM sessions WHERE id = 's'", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let v1 = with_state(SessionVersion::EMPTY, "a").await;
    advance(TTL + Duration::from_secs(1)).await;
    assert!(store.head(&s).await.unwrap().state.is_empty(), "expired");
    // A run that read the session before it expired commits on the same life: its state goes
    // on.
    let v2 = with_state(v1, "b").await;
    assert_eq!(v2.life(), v1.life());
    assert_eq!(store.head(&s).await.unwrap().state.len(), 2);
    // A new life (after expiry, from any write) starts with no state, and the old one's is gone
    // from the file.
    advance(TTL + Duration::from_secs(1)).await;
    store
        .begin_run(&s, &Reasoning::start("next", None), LEASE)
        .await
        .unwrap();
    assert_eq!(stored_state(), None);
    let v3 = with_state(SessionVersion::EMPTY, "c").await;
    assert_ne!(v3.life(), v1.life());
    let head = store.head(&s).await.unwrap();
    assert_eq!(head.state.len(), 1);
    assert_eq!(head.state.get::<bool>("c").unwrap(), Some(true));
    // A delete removes it at once.
    store.delete(&s).await.unwrap();
    assert_eq!(stored_state(), None);
}

#[tokio::test(start_paused = true)]
async fn the_state_changed_outside_a_run_leaves_the_expiry_and_needs_a_live_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("update.db");
    let store = builder(&db).build().await.unwrap();
    let s = SessionId::new("s").unwrap();
    let set = |key: &str| {
        let mut changes = agent_core::StateChanges::new();
        changes.set_value(key, serde_json::json!(true)).unwrap();
        changes
    };
    let not_found = async |session: &SessionId| {
        let error = store.update_state(session, &set("x")).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::NotFound, "{error}");
    };
    let v1 = commit(&store, &s, SessionVersion::EMPTY, "one")
        .await
        .unwrap();
    let before = store.head(&s).await.unwrap();
    advance(Duration::from_secs(4)).await;
    // It wakes this process's followers (the change counter moves), and leaves the session's
    // time to live as it was.
    let follower = {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            store.wait_for_changes(&s, Duration::from_secs(30)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let head = store.update_state(&s, &set("a")).await.unwrap();
    assert_eq!(follower.await.unwrap(), Duration::from_millis(20));
    assert_eq!(head.version, v1);
    assert_eq!(
        head.expires_at, before.expires_at,
        "the expiry is not extended"
    );
    assert_eq!(head.runs, before.runs);
    assert_eq!(store.head(&s).await.unwrap(), head);
    // Past the expiry the commit set (and before the one an update that extended it would
    // have set): not found.
    advance(Duration::from_secs(7)).await;
    not_found(&s).await;
    // A session that has a run but no entry yet, and a deleted one: not found.
    let begun = SessionId::new("begun").unwrap();
    store
        .begin_run(&begun, &Reasoning::start("q", None), LEASE)
        .await
        .unwrap();
    not_found(&begun).await;
    let deleted = SessionId::new("deleted").unwrap();
    commit(&store, &deleted, SessionVersion::EMPTY, "d")
        .await
        .unwrap();
    store.delete(&deleted).await.unwrap();
    not_found(&deleted).await;
    not_found(&SessionId::new("never").unwrap()).await;
    // The expired session's next life starts with no state.
    commit(&store, &s, SessionVersion::EMPTY, "again")
        .await
        .unwrap();
    assert!(store.head(&s).await.unwrap().state.is_empty());
}
