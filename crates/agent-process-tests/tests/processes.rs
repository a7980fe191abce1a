//! Several processes on one session, on a SQLite file and on DynamoDB Local (whose endpoint
//! comes from `AWS_ENDPOINT_URL_DYNAMODB`, set by `cargo xtask test`):
//!
//! - 4 processes × 4 tasks each run 20 turns on one session: every run succeeds and is kept
//!   exactly once, with no torn turn and one completed record per run;
//! - two long-lived processes taking turns on one session each see every earlier turn, though
//!   each has the session cached from its previous turn;
//! - a worker killed with SIGKILL mid-run is reported `interrupted` to a follower in another
//!   process within the heartbeat limit; the session goes on, and the run resumes from its
//!   last recorded step in another process without running that step's tool again.

// A failed assertion is a test failure: helpers panic like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_process_tests::{CountingTool, EchoModel};
use futures::StreamExt;
use minimalagent::{
    Agent, AgentEvent, FollowPosition, RunStatus, SessionOptions, Sessions, open_store,
};
use tempfile::TempDir;

const PROCESSES: usize = 4;
const TASKS: usize = 4;
const TURNS: usize = 20;

/// How long the worker's runs may go without a heartbeat before they read as interrupted
/// (the worker beats every 200 ms).
const INTERRUPTED_AFTER: Duration = Duration::from_secs(2);

/// A store URL and what must outlive it.
struct Store {
    url: String,
    _dir: Option<TempDir>,
}

fn sqlite() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    Store {
        url,
        _dir: Some(dir),
    }
}

fn dynamodb() -> Store {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests run against DynamoDB Local. Run \
             them with `cargo xtask test`, or start it with `cargo xtask dynamodb-local` and \
             export the variables it prints."
        );
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS_ENDPOINT_URL_DYNAMODB={endpoint} is not DynamoDB Local on loopback"
    );
    Store {
        url: format!("dynamodb://minimalagent-test-processes?region=us-west-2&endpoint={endpoint}"),
        _dir: None,
    }
}

fn session_id(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7().simple())
}

fn worker(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_session-worker"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts")
}

/// A worker that is killed (SIGKILL) and reaped when the test is done with it, whatever happens.
struct Worker(Child);

impl Worker {
    fn kill(&mut self) {
        // Killing an exited process fails harmlessly; reaping it never does.
        let _ = self.0.kill();
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn sustained_writers_in_several_processes(store: Store) {
    let session = session_id("processes");
    // Create the store (and the table) once, before the workers race to.
    open_store(&store.url, None).await.unwrap();
    let started = Instant::now();
    let workers: Vec<Child> = (0..PROCESSES)
        .map(|p| {
            worker(&[
                "writers",
                &store.url,
                &session,
                &TASKS.to_string(),
                &TURNS.to_string(),
                &format!("p{p}"),
            ])
        })
        .collect();
    let mut conflicts = 0u64;
    for child in workers {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "a worker failed: {stdout}");
        conflicts += stdout
            .trim()
            .strip_prefix("conflicts ")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("unexpected worker output {stdout:?}"));
    }
    let elapsed = started.elapsed();

    let sessions = Sessions::open(&store.url).await.unwrap();
    let runs = PROCESSES * TASKS * TURNS;
    let mut messages = Vec::new();
    let mut page = sessions.conversation(&session, None, 1000).await.unwrap();
    loop {
        messages.extend(page.messages());
        match page.next {
            Some(next) => {
                page = sessions
                    .conversation(&session, Some(next), 1000)
                    .await
                    .unwrap()
            }
            None => break,
        }
    }
    assert_eq!(
        messages.len(),
        runs * 4,
        "every run keeps its four messages"
    );
    let mut queries = HashSet::new();
    for turn in messages.chunks(4) {
        assert!(turn[0].has_text(), "a turn starts with its question");
        assert_eq!(turn[1].tool_uses().count(), 1, "torn turn");
        assert_eq!(turn[2].tool_results().count(), 1, "torn turn");
        assert_eq!(turn[3].text(), format!("answer to {}", turn[0].text()));
        assert!(
            queries.insert(turn[0].text()),
            "duplicated turn {}",
            turn[0].text()
        );
    }
    let history = sessions.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), runs, "one record per run");
    assert!(history.iter().all(|r| r.status == RunStatus::Completed));
    eprintln!(
        "{PROCESSES} processes × {TASKS} tasks × {TURNS} turns on {}: {runs} runs in {elapsed:?} \
         ({:.0} runs/s), {:.2} commit retries per run",
        store.url.split("://").next().unwrap_or_default(),
        runs as f64 / elapsed.as_secs_f64(),
        conflicts as f64 / runs as f64
    );
}

async fn a_killed_worker_reads_as_interrupted_and_resumes(store: Store) {
    let session = session_id("killed");
    open_store(&store.url, None).await.unwrap();
    let options =
        SessionOptions::default().with_heartbeat(Duration::from_millis(200), INTERRUPTED_AFTER);
    let sessions = Sessions::with_options(open_store(&store.url, None).await.unwrap(), options);
    let mut follow = sessions.follow(&session, FollowPosition::start()).unwrap();

    let mut child = Worker(worker(&["long-run", &store.url, &session]));
    // Kill the worker once its second step is recorded: its first step's tool result is then
    // durable, and its second tool is running.
    let mut killed = None;
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = follow.next().await {
            let event = event.unwrap();
            match &event.event {
                AgentEvent::RunEnded { reasoning } => return reasoning.status.clone(),
                AgentEvent::ToolCallStarted { name, .. } if name == "hang" => {
                    child.kill();
                    killed = Some(Instant::now());
                }
                _ => {}
            }
            seen.push(event.event.type_name().to_owned());
        }
        panic!("the follow stream ended without the run's end");
    })
    .await
    .expect("the follower reports the run's end");
    let killed = killed.unwrap_or_else(|| panic!("the run never reached `hang`: {seen:?}"));
    let noticed = killed.elapsed();
    assert_eq!(ended, RunStatus::Interrupted, "events seen: {seen:?}");
    assert!(
        seen.contains(&"tool_result".to_owned()),
        "events seen: {seen:?}"
    );
    // The follower reads again when the last heartbeat it saw turns older than the limit, and
    // that heartbeat came before the kill: the limit, plus time for the store's reads.
    assert!(
        noticed <= INTERRUPTED_AFTER + Duration::from_millis(1500),
        "reported interrupted {noticed:?} after the kill"
    );
    eprintln!("a SIGKILLed worker read as interrupted {noticed:?} after the kill");

    // The run resumes in this process from its last recorded step: `echo` is not run again.
    let echo = CountingTool::echo();
    let hang = CountingTool::hang(false);
    let agent = Agent::builder()
        .model(EchoModel::default())
        .show_reasoning(false)
        .tool(echo.clone())
        .tool(hang.clone())
        .sessions(open_store(&store.url, None).await.unwrap())
        .real_time_reasoning(true)
        .heartbeat(Duration::from_millis(200), INTERRUPTED_AFTER)
        .build()
        .await
        .unwrap();
    let resumed = agent.resume(&session).await.unwrap();
    assert_eq!(resumed.response, "answer to LONG");
    assert_eq!((echo.calls(), hang.calls()), (0, 1));
    // And the session goes on.
    agent
        .run_in_session("after the crash", &session)
        .await
        .unwrap();
    let history = agent.get_reasoning_history(&session).await.unwrap();
    let statuses: Vec<RunStatus> = history.iter().map(|r| r.status.clone()).collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == RunStatus::Completed),
        "{statuses:?}"
    );
}

/// Two processes alternate turns: each run is sent every earlier question and its own.
async fn processes_taking_turns_see_every_earlier_turn(store: Store) {
    const TURNS: usize = 10;
    let session = session_id("alternate");
    open_store(&store.url, None).await.unwrap();
    let mut workers: Vec<(Worker, _)> = (0..2)
        .map(|_| {
            let mut child = worker(&["turns", &store.url, &session]);
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            (Worker(child), lines)
        })
        .collect();
    let url = store.url.clone();
    tokio::task::spawn_blocking(move || {
        for turn in 1..=TURNS {
            let (worker, lines) = &mut workers[turn % 2];
            let stdin = worker.0.stdin.as_mut().unwrap();
            writeln!(stdin, "question {turn}").unwrap();
            stdin.flush().unwrap();
            let line = lines.next().expect("the worker answers").unwrap();
            assert_eq!(line, format!("saw {turn}"), "turn {turn} on {url}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_taking_turns_see_every_earlier_turn_on_sqlite() {
    processes_taking_turns_see_every_earlier_turn(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_taking_turns_see_every_earlier_turn_on_dynamodb() {
    processes_taking_turns_see_every_earlier_turn(dynamodb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_writers_in_several_processes_on_sqlite() {
    sustained_writers_in_several_processes(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_writers_in_several_processes_on_dynamodb() {
    sustained_writers_in_several_processes(dynamodb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_reads_as_interrupted_and_resumes_on_sqlite() {
    a_killed_worker_reads_as_interrupted_and_resumes(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_reads_as_interrupted_and_resumes_on_dynamodb() {
    a_killed_worker_reads_as_interrupted_and_resumes(dynamodb()).await;
}
