//! Leases with an end, claims judged by the store's clock, and run writes repeated after their
//! answer was lost — on a file, with Tokio's paused clock (`TokioClock`) where time matters.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{Message, Reasoning, RunStatus};
use agent_session::{
    Commit, Fault, FaultInjector, FaultyStore, RunClaim, SessionErrorKind, SessionId, SessionStore,
    StoreMethod, TokioClock,
};
use agent_session_sqlite::SqliteSessionStore;
use jiff::SignedDuration;
use rusqlite::Connection;
use tokio::time::advance;

/// How long a lease holds past each heartbeat.
const LEASE: Duration = Duration::from_secs(30);

async fn paused_store(db: &Path) -> SqliteSessionStore {
    SqliteSessionStore::builder()
        .path(db)
        .ttl(Duration::from_secs(3600))
        .clock(Arc::new(TokioClock::new()))
        .build()
        .await
        .unwrap()
}

fn trace(query: &str, status: RunStatus) -> Reasoning {
    let mut reasoning = Reasoning::start(query, None);
    reasoning.status = status;
    reasoning
}

/// The rows of `runs` holding this run id, counted in the file.
fn rows_of(db: &Path, run_id: uuid::Uuid) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM runs WHERE run_id = ?1",
            [run_id.hyphenated().to_string()],
            |r| r.get(0),
        )
        .unwrap()
}

fn conflict(result: Result<impl std::fmt::Debug, agent_session::SessionError>) {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_claim_is_refused_before_the_lease_ends_and_allowed_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lease.db");
    let store = paused_store(&db).await;
    let s = SessionId::new("s").unwrap();
    let lease = store
        .begin_run(&s, &trace("long", RunStatus::Running), LEASE)
        .await
        .unwrap();
    let begun = store.latest_run(&s).await.unwrap().unwrap();
    let beat = begun.heartbeat_at.unwrap();
    assert_eq!(
        begun.lease_expires_at,
        Some(beat + SignedDuration::from_secs(30))
    );

    // A claimant that gave up on the run after 5 s (its own limit) is refused: the lease holds.
    advance(Duration::from_secs(5)).await;
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, Some(beat), LEASE))
            .await,
    );
    advance(Duration::from_secs(24)).await; // t = 29, one second before the end
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, Some(beat), LEASE))
            .await,
    );

    // A heartbeat moves the end on: 30 s from t = 29.
    store.heartbeat(&s, &lease, LEASE).await.unwrap();
    let beaten = store.latest_run(&s).await.unwrap().unwrap();
    let beat = beaten.heartbeat_at.unwrap();
    assert_eq!(
        beat,
        begun.heartbeat_at.unwrap() + SignedDuration::from_secs(29)
    );
    assert_eq!(
        beaten.lease_expires_at,
        Some(beat + SignedDuration::from_secs(30))
    );
    advance(Duration::from_secs(29)).await; // t = 58
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, Some(beat), LEASE))
            .await,
    );
    assert_eq!(
        store.latest_run(&s).await.unwrap().unwrap(),
        beaten,
        "refused claims changed nothing"
    );

    // At the end (t = 59) the run may be taken over, under the claimant's lease.
    advance(Duration::from_secs(1)).await;
    let mut claim = RunClaim::new(lease.run, Some(beat), Duration::from_secs(10));
    claim.lease = uuid::Uuid::now_v7();
    let new = store.claim_run(&s, &claim).await.unwrap();
    assert_eq!((new.run, new.lease), (lease.run, claim.lease));
    let claimed = store.latest_run(&s).await.unwrap().unwrap();
    let now = claimed.heartbeat_at.unwrap();
    assert_eq!(now, beat + SignedDuration::from_secs(30));
    assert_eq!(claimed.lease, Some(claim.lease));
    assert_eq!(
        claimed.lease_expires_at,
        Some(now + SignedDuration::from_secs(10))
    );

    // The same claim again (its answer lost) is its own; the old lease is fenced off.
    advance(Duration::from_secs(3)).await;
    assert_eq!(store.claim_run(&s, &claim).await.unwrap(), new);
    assert_eq!(store.latest_run(&s).await.unwrap().unwrap(), claimed);
    conflict(store.heartbeat(&s, &lease, LEASE).await);
    // Another claimant, even past the heartbeat it read, waits for the new lease's end.
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, Some(now), LEASE))
            .await,
    );
    advance(Duration::from_secs(7)).await;
    let third = store
        .claim_run(&s, &RunClaim::new(lease.run, Some(now), LEASE))
        .await
        .unwrap();
    assert_ne!(third.lease, new.lease);
}

#[tokio::test]
async fn a_lease_ended_in_the_file_is_claimed_by_the_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("past.db");
    let store = SqliteSessionStore::open(&db).await.unwrap();
    let s = SessionId::new("s").unwrap();
    let hour = Duration::from_secs(3600);
    let lease = store
        .begin_run(&s, &trace("long", RunStatus::Running), hour)
        .await
        .unwrap();
    let record = store.latest_run(&s).await.unwrap().unwrap();
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, record.heartbeat_at, hour))
            .await,
    );
    // The lease's end written a minute in the past, as if its process had died long ago.
    let past =
        jiff::Timestamp::from_microsecond(jiff::Timestamp::now().as_microsecond() - 60_000_000)
            .unwrap();
    Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE runs SET lease_expires_at = ?1 WHERE session = 's' AND run = ?2",
            [past.as_microsecond(), lease.run as i64],
        )
        .unwrap();
    let record = store.latest_run(&s).await.unwrap().unwrap();
    assert_eq!(record.lease_expires_at, Some(past));
    let new = store
        .claim_run(&s, &RunClaim::new(lease.run, record.heartbeat_at, hour))
        .await
        .unwrap();
    assert_ne!(new.lease, lease.lease);
    // A lease of any length is stored as a time that reads back.
    store.heartbeat(&s, &new, Duration::MAX).await.unwrap();
    let record = store.latest_run(&s).await.unwrap().unwrap();
    assert!(!record.is_damaged(), "{record:?}");
    let latest = jiff::Timestamp::from_second(jiff::Timestamp::MAX.as_second()).unwrap();
    assert_eq!(record.lease_expires_at, Some(latest));
}

#[tokio::test]
async fn run_writes_repeated_after_a_lost_answer_write_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("repeat.db");
    let store = Arc::new(SqliteSessionStore::open(&db).await.unwrap());
    // The first answer of begin_run, finish_run and commit is lost: applied, then an error.
    let faults = FaultInjector::new(7)
        .script(StoreMethod::BeginRun, 1, Fault::DropResponse)
        .script(StoreMethod::FinishRun, 1, Fault::DropResponse)
        .script(StoreMethod::Commit, 1, Fault::DropResponse);
    let faulty = FaultyStore::new(store.clone() as Arc<dyn SessionStore>, faults);
    let s = SessionId::new("s").unwrap();

    // A real-time run that fails: begin and finish, each answer lost once, each repeated.
    let running = trace("fails", RunStatus::Running);
    let lost = faulty.begin_run(&s, &running, LEASE).await.unwrap_err();
    assert!(lost.maybe_applied(), "{lost}");
    let lease = faulty.begin_run(&s, &running, LEASE).await.unwrap();
    assert_eq!(lease.run, 1);
    assert_eq!(rows_of(&db, running.run_id), 1, "one record begun");
    let mut failed = running.clone();
    failed.status = RunStatus::Failed;
    let lost = faulty
        .finish_run(&s, Some(&lease), &failed)
        .await
        .unwrap_err();
    assert!(lost.maybe_applied(), "{lost}");
    assert_eq!(
        faulty.finish_run(&s, Some(&lease), &failed).await.unwrap(),
        1
    );
    assert_eq!(faulty.finish_run(&s, None, &failed).await.unwrap(), 1);
    assert_eq!(rows_of(&db, running.run_id), 1, "one record finished");
    conflict(faulty.begin_run(&s, &running, LEASE).await);

    // A run whose commit's answer was lost, then recorded as failed: the commit's record stays.
    let committing = trace("kept", RunStatus::Running);
    let lease = faulty.begin_run(&s, &committing, LEASE).await.unwrap();
    let mut done = committing.clone();
    done.status = RunStatus::Completed;
    let messages = [Message::user_text("kept"), Message::assistant_text("ok")];
    let base = faulty.head(&s).await.unwrap().version;
    let commit = Commit::new(committing.run_id, base, &messages, &done).with_lease(Some(lease));
    assert!(faulty.commit(&s, commit).await.unwrap_err().maybe_applied());
    let mut not_kept = committing.clone();
    not_kept.status = RunStatus::Failed;
    assert_eq!(
        faulty
            .finish_run(&s, Some(&lease), &not_kept)
            .await
            .unwrap(),
        lease.run
    );
    assert_eq!(
        faulty.finish_run(&s, None, &not_kept).await.unwrap(),
        lease.run
    );
    assert_eq!(rows_of(&db, committing.run_id), 1);
    let record = store.latest_run(&s).await.unwrap().unwrap();
    assert_eq!(record.reasoning, done);
    assert_eq!(record.committed_seq, Some(1));

    // Runs without a real-time record: a repeated finish is one record too.
    let plain = trace("plain", RunStatus::Cancelled);
    let first = store.finish_run(&s, None, &plain).await.unwrap();
    assert_eq!(store.finish_run(&s, None, &plain).await.unwrap(), first);
    assert_eq!(rows_of(&db, plain.run_id), 1);
    let runs = store.runs(&s, 0, 10).await.unwrap();
    let statuses: Vec<RunStatus> = runs.into_iter().map(|r| r.reasoning.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Failed,
            RunStatus::Completed,
            RunStatus::Cancelled
        ]
    );
    assert_eq!(
        store.head(&s).await.unwrap().runs,
        3,
        "no number was spent twice"
    );
    assert_eq!(faulty.injected().total().dropped_responses, 3);
}

/// The `status` column of a run, as stored.
fn status_of(db: &Path, run: u64) -> String {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT status FROM runs WHERE run = ?1",
            [i64::try_from(run).unwrap()],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_paused_run_keeps_its_heartbeat_and_pauses_again_after_it_is_continued() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("paused.db");
    let store = paused_store(&db).await;
    let s = SessionId::new("s").unwrap();
    let running = trace("pay", RunStatus::Running);
    let lease = store.begin_run(&s, &running, LEASE).await.unwrap();
    advance(Duration::from_secs(5)).await;
    store.heartbeat(&s, &lease, LEASE).await.unwrap();
    let beat = store.latest_run(&s).await.unwrap().unwrap().heartbeat_at;
    advance(Duration::from_secs(5)).await;
    let mut paused = running.clone();
    paused.status = RunStatus::Paused;
    store.finish_run(&s, Some(&lease), &paused).await.unwrap();
    let record = store.latest_run(&s).await.unwrap().unwrap();
    assert_eq!(record.heartbeat_at, beat, "the pause keeps the heartbeat");
    assert_eq!(
        (record.lease, record.lease_expires_at),
        (None, None),
        "and releases the lease"
    );
    assert_eq!(status_of(&db, lease.run), "paused");
    // Paused, a run is claimed on its heartbeat alone, however long it waited (within the
    // session's time to live).
    advance(Duration::from_secs(1800)).await;
    // Not by a claim that read another heartbeat.
    conflict(
        store
            .claim_run(&s, &RunClaim::new(lease.run, None, LEASE))
            .await,
    );
    let claim = RunClaim::new(lease.run, beat, LEASE).with_reasoning(running.clone());
    let continued = store.claim_run(&s, &claim).await.unwrap();
    assert_eq!(
        status_of(&db, lease.run),
        "running",
        "the claim wrote its record"
    );
    // It pauses again, and is continued again.
    store
        .finish_run(&s, Some(&continued), &paused)
        .await
        .unwrap();
    assert_eq!(status_of(&db, lease.run), "paused");
    let record = store.latest_run(&s).await.unwrap().unwrap();
    assert!(
        record.heartbeat_at > beat,
        "the claim's heartbeat, kept by the pause"
    );
    let again =
        RunClaim::new(lease.run, record.heartbeat_at, LEASE).with_reasoning(running.clone());
    let last = store.claim_run(&s, &again).await.unwrap();
    assert_eq!(rows_of(&db, running.run_id), 1, "one record all along");
    let mut done = running.clone();
    done.status = RunStatus::Failed;
    assert_eq!(
        store.finish_run(&s, Some(&last), &done).await.unwrap(),
        lease.run
    );
    assert_eq!(
        store.finish_run(&s, Some(&last), &paused).await.unwrap(),
        lease.run,
        "a final record is kept"
    );
    assert_eq!(status_of(&db, lease.run), "failed");
}
