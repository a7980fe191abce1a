//! Several processes on one database file: concurrent writers, a writer killed (SIGKILL) with
//! its commit half done, and a follower reading a run live from another process.
//!
//! The children are the crate's `agent-session-sqlite-test-helper` binary (feature
//! `test-helper`, switched on for this crate's tests by its dev-dependency on itself). These
//! tests run on the wall clock — they are about real processes and real locks — with
//! deadlines only so that a hang fails instead of blocking.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_core::{Message, Reasoning, RunStatus};
use agent_session::{Commit, SessionErrorKind, SessionId, SessionStore, SessionVersion};
use agent_session_sqlite::SqliteSessionStore;

const DEADLINE: Duration = Duration::from_secs(120);

/// A child process that is killed if the test ends (or fails) before it does.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn helper() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agent-session-sqlite-test-helper"));
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    command
}

/// Waits for a child, killing it if it outlives the deadline; returns its standard output.
fn finish(mut helper: Helper) -> String {
    let child = &mut helper.0;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(stdout) = child.stdout.take() {
                for line in BufReader::new(stdout).lines() {
                    out.push_str(&line.unwrap());
                    out.push('\n');
                }
            }
            assert!(status.success(), "the helper failed ({status}): {out}");
            return out;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("the helper did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn turn(query: &str) -> Vec<Message> {
    vec![
        Message::user_text(query),
        Message::assistant_text(format!("ok {query}")),
    ]
}

async fn commit(
    store: &SqliteSessionStore,
    session: &SessionId,
    base: SessionVersion,
    query: &str,
) -> SessionVersion {
    let mut reasoning = Reasoning::start(query, Some(session.to_string()));
    reasoning.status = RunStatus::Completed;
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &turn(query), &reasoning),
        )
        .await
        .unwrap()
        .version
}

async fn user_texts(store: &SqliteSessionStore, session: &SessionId) -> Vec<String> {
    let head = store.head(session).await.unwrap();
    let entries = store
        .entries(session, head.first_seq, head.last_seq())
        .await
        .unwrap();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (head.first_seq..=head.last_seq()).collect::<Vec<_>>(),
        "dense"
    );
    entries
        .iter()
        .map(|entry| entry.body.messages()[0].text())
        .collect()
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn processes_creating_one_file_at_once_all_open_it() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("new-{round}.db"));
        let children: Vec<Helper> = (0..8)
            .map(|_| {
                Helper(
                    helper()
                        .args(["open", db.to_str().unwrap(), "s"])
                        .spawn()
                        .unwrap(),
                )
            })
            .collect();
        for child in children {
            assert_eq!(finish(child).trim(), "opened", "round {round}");
        }
        assert_eq!(integrity(&db), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_in_several_processes_commit_every_turn_exactly_once() {
    const WRITERS: usize = 4;
    const TURNS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let session = SessionId::new("shared").unwrap();
    // The children race to create and migrate the file, then to commit.
    let children: Vec<Helper> = (0..WRITERS)
        .map(|w| {
            Helper(
                helper()
                    .args([
                        "commit-loop",
                        db.to_str().unwrap(),
                        session.as_str(),
                        &format!("w{w}"),
                        &TURNS.to_string(),
                    ])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let mut conflicts = 0;
    for child in children {
        let out = finish(child);
        conflicts += out
            .trim()
            .strip_prefix("conflicts ")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    }
    println!("{WRITERS} processes x {TURNS} turns: {conflicts} conflicts, each rebased");

    let store = SqliteSessionStore::open(&db).await.unwrap();
    let texts = user_texts(&store, &session).await;
    assert_eq!(
        texts.len(),
        WRITERS * TURNS,
        "nothing lost, nothing doubled"
    );
    let unique: HashSet<&String> = texts.iter().collect();
    assert_eq!(unique.len(), WRITERS * TURNS);
    // Each writer's turns landed in the order it committed them.
    let mut per_writer: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for text in &texts {
        let (writer, n) = text.split_once('-').unwrap();
        per_writer
            .entry(writer)
            .or_default()
            .push(n.parse().unwrap());
    }
    for (writer, turns) in per_writer {
        assert_eq!(turns, (0..TURNS).collect::<Vec<_>>(), "{writer}");
    }
    let runs = store.runs(&session, 0, 1000).await.unwrap();
    let numbers: Vec<u64> = runs.iter().map(|r| r.run).collect();
    assert_eq!(
        numbers,
        (1..=(WRITERS * TURNS) as u64).collect::<Vec<_>>(),
        "runs dense"
    );
    assert_eq!(integrity(&db), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_commit_leaves_a_database_that_loads_without_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let marker = dir.path().join("stalled");
    let session = SessionId::new("crash").unwrap();
    let store = SqliteSessionStore::open(&db).await.unwrap();
    let v1 = commit(&store, &session, SessionVersion::EMPTY, "one").await;
    let v2 = commit(&store, &session, v1, "two").await;

    let mut child = Helper(
        helper()
            .args([
                "stall-commit",
                db.to_str().unwrap(),
                session.as_str(),
                marker.to_str().unwrap(),
            ])
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the helper exited before stalling"
        );
        assert!(started.elapsed() < DEADLINE, "the helper never stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its 8 MB turn spilled out of the page cache: uncommitted frames are in the log on disk.
    let log = std::fs::metadata(dir.path().join("crash.db-wal"))
        .unwrap()
        .len();
    assert!(
        log > 4 << 20,
        "the stalled commit reached the log ({log} bytes)"
    );
    // The child holds the write lock with its turn and run record written but not committed:
    // readers still see the committed state, a writer times out and writes nothing.
    assert_eq!(store.head(&session).await.unwrap().version, v2);
    let impatient = SqliteSessionStore::builder()
        .path(&db)
        .busy_timeout(Duration::from_millis(100))
        .busy_retries(0)
        .build()
        .await
        .unwrap();
    let mut reasoning = Reasoning::start("blocked", None);
    reasoning.status = RunStatus::Completed;
    let error = impatient
        .commit(
            &session,
            Commit::new(reasoning.run_id, v2, &turn("blocked"), &reasoning),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable() && !error.maybe_applied());

    // SIGKILL (what `Child::kill` sends on Unix): no destructor, no rollback, no unlock by
    // SQLite; the kernel drops the process's file locks.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop((store, impatient));

    let reopened = SqliteSessionStore::open(&db).await.unwrap();
    let head = reopened.head(&session).await.unwrap();
    assert_eq!(head.version, v2, "the killed commit is not there");
    assert_eq!(user_texts(&reopened, &session).await, ["one", "two"]);
    assert_eq!(reopened.runs(&session, 0, 10).await.unwrap().len(), 2);
    let v3 = commit(&reopened, &session, v2, "three").await;
    assert_eq!(v3.seq(), 3, "the lock died with the process");
    assert_eq!(integrity(&db), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_follows_a_run_as_its_events_are_appended() {
    const EVENTS: u32 = 5;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let session = SessionId::new("live").unwrap();
    let follower = SqliteSessionStore::open(&db).await.unwrap();
    let mut child = Helper(
        helper()
            .args([
                "live-run",
                db.to_str().unwrap(),
                session.as_str(),
                &EVENTS.to_string(),
                "300",
            ])
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::task::spawn_blocking(move || {
        let line = lines.next().unwrap().unwrap();
        (line, lines)
    })
    .await
    .unwrap();
    let (line, lines) = first;
    let run: u64 = line.strip_prefix("run ").unwrap().parse().unwrap();

    let started = Instant::now();
    let mut seen = Vec::new();
    let mut seen_while_running = 0;
    while seen.len() < EVENTS as usize {
        assert!(started.elapsed() < DEADLINE, "saw only {seen:?}");
        let after = u32::try_from(seen.len()).unwrap();
        let new = follower.events(&session, run, after, 100).await.unwrap();
        if new.is_empty() {
            follower
                .wait_for_changes(&session, Duration::from_secs(5))
                .await;
            continue;
        }
        let record = follower.latest_run(&session).await.unwrap().unwrap();
        if record.reasoning.status == RunStatus::Running {
            seen_while_running += new.len();
        }
        seen.extend(new.into_iter().map(|event| event.index));
    }
    assert_eq!(seen, (1..=EVENTS).collect::<Vec<_>>());
    assert!(
        seen_while_running >= 1,
        "events are seen while the run is going on, not only after it committed"
    );
    let rest: Vec<String> =
        tokio::task::spawn_blocking(move || lines.map(Result::unwrap).collect())
            .await
            .unwrap();
    assert_eq!(rest, ["committed"]);
    finish(child);
    let record = follower.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Completed);
    assert_eq!(user_texts(&follower, &session).await, ["live"]);
}
