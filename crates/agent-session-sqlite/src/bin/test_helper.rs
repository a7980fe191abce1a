//! A child process for this crate's multi-process tests (feature `test-helper`; not for use).
//!
//! ```text
//! agent-session-sqlite-test-helper open         <db> <session>
//! agent-session-sqlite-test-helper commit-loop  <db> <session> <writer> <turns>
//! agent-session-sqlite-test-helper stall-commit <db> <session> <marker>
//! agent-session-sqlite-test-helper live-run     <db> <session> <events> <pause-ms>
//! ```
//!
//! - `open` opens (creating and migrating) the store, reads the session's head and exits.
//! - `commit-loop` commits `turns` turns (user text `<writer>-<n>`), re-reading the head after
//!   each conflict, and prints `conflicts <n>` at the end.
//! - `stall-commit` commits one large turn that stops just before `COMMIT`, with the write
//!   lock held, writes `<marker>`, and waits to be killed.
//! - `live-run` begins a real-time run, prints `run <number>`, appends `events` events one at
//!   a time `pause-ms` apart, and commits.

use std::error::Error;
use std::io::Write;
use std::time::Duration;

use agent_core::{AgentEvent, Message, Reasoning, RunStatus};
use agent_session::{Commit, SessionId, SessionStore, StoredEvent};
use agent_session_sqlite::SqliteSessionStore;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// How long a live run's lease holds past each heartbeat.
const LEASE: Duration = Duration::from_secs(30);

fn turn(query: &str) -> Vec<Message> {
    vec![
        Message::user_text(query),
        Message::assistant_text(format!("ok {query}")),
    ]
}

fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

async fn open(db: &str) -> Result<SqliteSessionStore> {
    Ok(SqliteSessionStore::builder()
        .path(db)
        .busy_timeout(Duration::from_secs(20))
        .build()
        .await?)
}

async fn commit_loop(db: &str, session: &SessionId, writer: &str, turns: u32) -> Result<()> {
    let store = open(db).await?;
    let mut conflicts = 0u32;
    for n in 0..turns {
        let query = format!("{writer}-{n}");
        let messages = turn(&query);
        let mut reasoning = Reasoning::start(&query, Some(session.to_string()));
        reasoning.status = RunStatus::Completed;
        let mut base = store.head(session).await?.version;
        loop {
            let commit = Commit::new(reasoning.run_id, base, &messages, &reasoning);
            match store.commit(session, commit).await {
                Ok(_) => break,
                Err(error) if error.is_conflict() => {
                    conflicts += 1;
                    base = store.head(session).await?.version;
                }
                Err(error) if error.is_retryable() => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
    say(&format!("conflicts {conflicts}"))
}

async fn stall_commit(db: &str, session: &SessionId, marker: &str) -> Result<()> {
    let store = SqliteSessionStore::builder()
        .path(db)
        .stall_commits_for_tests(marker)
        .build()
        .await?;
    // Large enough (8 MB) to spill out of SQLite's page cache: uncommitted pages reach the
    // write-ahead log on disk before the process is killed.
    let mut messages = turn("never committed");
    messages.push(Message::user_text("x".repeat(8 << 20)));
    messages.push(Message::assistant_text("big"));
    let reasoning = Reasoning::start("never committed", Some(session.to_string()));
    let base = store.head(session).await?.version;
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning),
        )
        .await?;
    Err("the stalled commit returned".into())
}

async fn live_run(db: &str, session: &SessionId, events: u32, pause: Duration) -> Result<()> {
    let store = open(db).await?;
    let mut reasoning = Reasoning::start("live", Some(session.to_string()));
    let lease = store.begin_run(session, &reasoning, LEASE).await?;
    say(&format!("run {}", lease.run))?;
    for index in 1..=events {
        tokio::time::sleep(pause).await;
        let event = AgentEvent::TextDelta {
            step: 1,
            text: format!("chunk {index}"),
        };
        store
            .append_events(session, &lease, &[StoredEvent::new(index, event)])
            .await?;
        store.heartbeat(session, &lease, LEASE).await?;
    }
    reasoning.status = RunStatus::Completed;
    let messages = turn("live");
    let base = store.head(session).await?.version;
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, base, &messages, &reasoning).with_lease(Some(lease)),
        )
        .await?;
    say("committed")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |n: usize| -> Result<&str> {
        args.get(n)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {n}; see the helper's docs").into())
    };
    let (command, db, session) = (arg(0)?, arg(1)?, SessionId::new(arg(2)?)?);
    match command {
        "open" => {
            open(db).await?.head(&session).await?;
            say("opened")
        }
        "commit-loop" => commit_loop(db, &session, arg(3)?, arg(4)?.parse()?).await,
        "stall-commit" => stall_commit(db, &session, arg(3)?).await,
        "live-run" => {
            let pause = Duration::from_millis(arg(4)?.parse()?);
            live_run(db, &session, arg(3)?.parse()?, pause).await
        }
        other => Err(format!("unknown command {other:?}").into()),
    }
}
