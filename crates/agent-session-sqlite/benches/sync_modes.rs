//! A benchmark: commit, event and load latency with `synchronous=FULL` and `NORMAL`. Run with
//!
//! ```text
//! cargo bench -p minimalagent-session-sqlite --bench sync_modes
//! ```
//!
//! and under `strace -f -c -e trace=fsync,fdatasync` to count flushes per commit
//! (`MEASURE_SYNC=full` or `normal` measures one setting only). Figures are in the README.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use agent_core::{AgentEvent, Message, Reasoning, RunStatus};
use agent_session::{Commit, SessionId, SessionStore, SessionVersion, StoredEvent};
use agent_session_sqlite::{SqliteSessionStore, Synchronous};

const COMMITS: usize = 200;
const EVENTS: u32 = 200;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let at = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[at]
}

fn report(what: &str, samples: &mut [Duration]) {
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{what:<34} n={:<4} mean {:>8.3?}  p50 {:>8.3?}  p99 {:>8.3?}",
        samples.len(),
        mean,
        percentile(samples, 0.5),
        percentile(samples, 0.99)
    );
}

async fn measure(synchronous: Synchronous) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store = SqliteSessionStore::builder()
        .path(dir.path().join("measure.db"))
        .synchronous(synchronous)
        .build()
        .await
        .unwrap();
    let session = SessionId::new("measure").unwrap();
    // A typical turn: a question, a tool call and its result, an answer; about 2 KB of JSON.
    let messages = vec![
        Message::user_text("What is the weather in Oslo tomorrow, and should I bring an umbrella?"),
        Message::assistant_text("<thinking>I will look it up.</thinking>".repeat(4)),
        Message::user_text(format!(
            "tool result: {}",
            "rain 12mm, 9°C, wind 6 m/s; ".repeat(20)
        )),
        Message::assistant_text("Yes: rain all day tomorrow, 9 °C. Bring an umbrella."),
    ];
    let mut base = SessionVersion::EMPTY;
    let mut commits = Vec::with_capacity(COMMITS);
    for _ in 0..COMMITS {
        let mut reasoning = Reasoning::start("q", Some(session.to_string()));
        reasoning.status = RunStatus::Completed;
        let started = Instant::now();
        base = store
            .commit(
                &session,
                Commit::new(reasoning.run_id, base, &messages, &reasoning),
            )
            .await
            .unwrap()
            .version;
        commits.push(started.elapsed());
    }
    let lease = store
        .begin_run(
            &session,
            &Reasoning::start("live", None),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let mut appends = Vec::new();
    for index in 1..=EVENTS {
        let event = AgentEvent::TextDelta {
            step: 1,
            text: "a few words of streamed text ".into(),
        };
        let started = Instant::now();
        store
            .append_events(&session, &lease, &[StoredEvent::new(index, event)])
            .await
            .unwrap();
        appends.push(started.elapsed());
    }
    let mut loads = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let head = store.head(&session).await.unwrap();
        let entries = store
            .entries(&session, head.first_seq, head.last_seq())
            .await
            .unwrap();
        assert_eq!(entries.len(), COMMITS);
        loads.push(started.elapsed());
    }
    let mut heads = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        store.head(&session).await.unwrap();
        heads.push(started.elapsed());
    }
    println!("--- synchronous={synchronous:?}");
    report("commit (one turn, ~2 KB)", &mut commits);
    report("append_events (one event)", &mut appends);
    report("head", &mut heads);
    report(&format!("head + entries ({COMMITS} turns)"), &mut loads);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("MEASURE_SYNC").unwrap_or_default();
    if only != "normal" {
        measure(Synchronous::Full).await;
    }
    if only != "full" {
        measure(Synchronous::Normal).await;
    }
}
