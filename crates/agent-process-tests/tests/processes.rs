//! Several processes on one session, on a SQLite file and on DynamoDB Local (whose endpoint
//! comes from `AWS_ENDPOINT_URL_DYNAMODB`, set by `cargo xtask test`):
//!
//! - 4 processes × 4 tasks each run 20 turns on one session: every run succeeds and is kept
//!   exactly once, with no torn turn and one completed record per run;
//! - two long-lived processes taking turns on one session each see every earlier turn, though
//!   each has the session cached from its previous turn;
//! - a worker killed with SIGKILL mid-run is reported `interrupted` to a follower in another
//!   process within the heartbeat limit; the session goes on, and the run resumes from its
//!   last recorded step in another process without running that step's tool again;
//! - a worker killed with SIGKILL while an at-most-once tool (`pay`) and an at-least-once tool
//!   (`read_balance`) of one step run, both recorded as started and neither as ended: the
//!   resumed run does not call `pay` again (the model is told its outcome is unknown) and calls
//!   `read_balance` again with the same idempotency key;
//! - a run paused for approval in a worker that then exits is decided by an operator process
//!   (no model, no tools; of two racing operators one wins and the other is told it was
//!   answered already) and continued by a third process: the tool runs once, with the
//!   winner's input.

// A failed assertion is a test failure: helpers panic like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_process_tests::{
    CountingTool, EchoModel, LoggedCall, LoggedTool, OneStepModel, TRANSFER_REASON, question,
};
use futures::StreamExt;
use minimalagent::core::{ToolResult, ToolResultContent, ToolResultStatus};
use minimalagent::session::SessionId;
use minimalagent::{
    Agent, AgentEvent, ContentBlock, Decisions, ErrorKind, FollowPosition, InterruptDecision,
    Message, ResumeRefusal, RunStatus, SessionOptions, Sessions, ToolCallStatus, ToolErrorKind,
    open_store,
};
use serde_json::json;
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
        let query = question(&turn[0]).unwrap_or_else(|| panic!("no question in {turn:?}"));
        assert_eq!(turn[3].text(), format!("answer to {query}"));
        assert!(queries.insert(query.to_owned()), "duplicated turn {query}");
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

/// Waits for a worker to exit (at most `limit`, else it is killed and the test fails) and
/// returns its stdout; fails the test when it failed.
async fn finished(mut child: Worker, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stdout = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    assert!(
        status.success(),
        "the worker failed ({status}): {stdout}{stderr}"
    );
    stdout
}

/// A worker whose stderr the test reads (its error, when it fails).
fn worker_with_stderr(args: &[&str]) -> Worker {
    Worker(
        Command::new(env!("CARGO_BIN_EXE_session-worker"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the worker starts"),
    )
}

fn calls(dir: &Path, tool: &str) -> Vec<LoggedCall> {
    LoggedTool::calls(dir, tool).unwrap()
}

/// The tool results of a message, by id.
fn results_of(message: &Message) -> Vec<ToolResult> {
    message.tool_results().cloned().collect()
}

fn result_text(result: &ToolResult) -> String {
    result
        .content
        .iter()
        .map(|block| match block {
            ToolResultContent::Text(text) => text.clone(),
            ToolResultContent::Json(value) => value.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Every message of the session's conversation.
async fn whole_conversation(sessions: &Sessions, session: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut from = None;
    loop {
        let page = sessions.conversation(session, from, 1000).await.unwrap();
        messages.extend(page.messages());
        match page.next {
            Some(next) => from = Some(next),
            None => return messages,
        }
    }
}

/// The at-most-once guarantee across a crash: a worker is killed with SIGKILL while `pay`
/// (at most once) and `read_balance` (at least once) of one step are both running — recorded
/// as started in the store, and their calls logged outside the process — and the run is
/// resumed in this process.
async fn an_at_most_once_call_cut_off_by_a_crash_is_not_run_again(store: Store) {
    let started = Instant::now();
    let session = session_id("paykill");
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    open_store(&store.url, None).await.unwrap();
    let options =
        SessionOptions::default().with_heartbeat(Duration::from_millis(200), INTERRUPTED_AFTER);
    let sessions = Sessions::with_options(open_store(&store.url, None).await.unwrap(), options);
    let mut follow = sessions.follow(&session, FollowPosition::start()).unwrap();

    let mut child = Worker(worker(&["pay-run", &store.url, &session, &dir_arg]));
    let mut seen = Vec::new();
    let mut started_tools = HashSet::new();
    let mut killed = false;
    let (run, ended) = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = follow.next().await {
            let event = event.unwrap();
            seen.push(event.event.type_name().to_owned());
            match &event.event {
                AgentEvent::RunEnded { reasoning } => {
                    return (event.run, reasoning.status.clone());
                }
                AgentEvent::ToolExecutionStarted { name, .. } => {
                    started_tools.insert(name.clone());
                }
                AgentEvent::ToolResult { invocation, .. } => {
                    panic!("no call may end in the worker: {invocation:?}")
                }
                _ => {}
            }
            if !killed && started_tools.len() == 2 {
                // Both starts are in the store; kill the worker once both tools are inside
                // their call (their logs say so), before either returns (they never do).
                let deadline = Instant::now() + Duration::from_secs(10);
                while calls(dir.path(), "pay").is_empty()
                    || calls(dir.path(), "read_balance").is_empty()
                {
                    assert!(
                        Instant::now() < deadline,
                        "the tools were recorded as started but never called"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                child.kill();
                killed = true;
            }
        }
        panic!("the follow stream ended without the run's end");
    })
    .await
    .unwrap_or_else(|_| panic!("the follower never saw the run end; events seen: {seen:?}"));
    assert!(killed, "the run ended before both tools started: {seen:?}");
    assert_eq!(ended, RunStatus::Interrupted, "events seen: {seen:?}");

    // What the store holds of the step: both calls started, neither ended.
    let stored: Vec<AgentEvent> = sessions
        .store()
        .events(&SessionId::new(session.clone()).unwrap(), run, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    let started_ids: Vec<&str> = stored
        .iter()
        .filter_map(|event| match event {
            AgentEvent::ToolExecutionStarted { tool_use_id, .. } => Some(tool_use_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started_ids.len(), 2, "{stored:?}");
    assert!(started_ids.contains(&"pay-1") && started_ids.contains(&"read_balance-1"));
    assert!(
        !stored
            .iter()
            .any(|e| matches!(e, AgentEvent::ToolResult { .. })),
        "{stored:?}"
    );
    let first_pay = calls(dir.path(), "pay");
    let first_read = calls(dir.path(), "read_balance");
    assert_eq!((first_pay.len(), first_read.len()), (1, 1));

    // Resumed in this process, with the same tools (returning at once now).
    let model = Arc::new(OneStepModel::paying());
    let agent = Agent::builder()
        .model(model.clone())
        .show_reasoning(false)
        .tool(LoggedTool::new("pay", dir.path()))
        .tool(LoggedTool::new("read_balance", dir.path()).at_least_once())
        .sessions(open_store(&store.url, None).await.unwrap())
        .real_time_reasoning(true)
        .heartbeat(Duration::from_millis(200), INTERRUPTED_AFTER)
        .build()
        .await
        .unwrap();
    let resumed = agent.resume(&session).await.unwrap();
    assert_eq!(resumed.response, "done: pay the rent");
    assert_eq!(resumed.reasoning.status, RunStatus::Completed);
    let run_id = resumed.reasoning.run_id;

    // `pay` was not called again; `read_balance` was, as the same call.
    let pay_calls = calls(dir.path(), "pay");
    let read_calls = calls(dir.path(), "read_balance");
    assert_eq!(pay_calls, first_pay, "`pay` must not run twice");
    assert_eq!(
        read_calls.len(),
        2,
        "`read_balance` runs again: {read_calls:?}"
    );
    assert_eq!(pay_calls[0].key, format!("{run_id}:pay-1"));
    assert_eq!(read_calls[0].key, format!("{run_id}:read_balance-1"));
    assert_eq!(
        read_calls[0].key, read_calls[1].key,
        "a call run again keeps its idempotency key"
    );

    // The trace: `pay` failed as `outcome_unknown`, `read_balance` succeeded.
    let step = &resumed.reasoning.steps[0];
    let invocation = |name: &str| {
        step.tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", step.tools))
            .clone()
    };
    let pay = invocation("pay");
    assert_eq!(pay.status, ToolCallStatus::Failed);
    assert_eq!(
        pay.error.as_ref().map(|e| e.kind.clone()),
        Some(ToolErrorKind::OutcomeUnknown)
    );
    let read = invocation("read_balance");
    assert_eq!(read.status, ToolCallStatus::Succeeded, "{read:?}");
    let read_output = json!({"tool": "read_balance", "key": read_calls[1].key, "input": {}});
    assert_eq!(read.result, Some(read_output.clone()));

    // The model was asked once more (its tool request was recorded before the crash), with
    // the outcome-unknown error for `pay` and the real result for `read_balance`; the kept
    // conversation holds the same.
    let requests = model.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let kept = whole_conversation(&sessions, &session).await;
    assert_eq!(kept.len(), 4, "{kept:?}");
    for results in [
        results_of(requests[0].last().unwrap()),
        results_of(&kept[2]),
    ] {
        assert_eq!(results.len(), 2, "{results:?}");
        let pay = results.iter().find(|r| r.tool_use_id == "pay-1").unwrap();
        assert_eq!(pay.status, Some(ToolResultStatus::Error));
        assert!(
            result_text(pay).starts_with("outcome unknown `pay`"),
            "{pay:?}"
        );
        let read = results
            .iter()
            .find(|r| r.tool_use_id == "read_balance-1")
            .unwrap();
        assert_ne!(read.status, Some(ToolResultStatus::Error));
        assert_eq!(read.content, [ToolResultContent::Json(read_output.clone())]);
    }
    assert_eq!(kept[3].text(), "done: pay the rent");
    let history = sessions.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, RunStatus::Completed);
    eprintln!(
        "at most once across a SIGKILL on {}: {:?}",
        store.url.split("://").next().unwrap_or_default(),
        started.elapsed()
    );
}

/// Approval across processes: a worker's run pauses and the worker exits; two operators
/// (without model or tools) race to decide; a third process continues the run.
async fn a_paused_run_is_decided_and_continued_by_other_processes(store: Store) {
    let started = Instant::now();
    let session = session_id("approval");
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    open_store(&store.url, None).await.unwrap();
    let limit = Duration::from_secs(30);

    let paused = finished(
        worker_with_stderr(&["approval-run", &store.url, &session, &dir_arg]),
        limit,
    )
    .await;
    let interrupt_id = paused
        .trim()
        .strip_prefix("paused ")
        .unwrap_or_else(|| panic!("unexpected worker output {paused:?}"))
        .to_owned();
    assert!(calls(dir.path(), "transfer").is_empty(), "a held call ran");

    // The operator: the store alone.
    let sessions = Sessions::open(&store.url).await.unwrap();
    let waiting = sessions.paused_runs(&session).await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let run = waiting[0].run;
    assert_eq!(waiting[0].query, "send 10");
    let [interrupt] = waiting[0].interrupts.as_slice() else {
        panic!("one call waits: {waiting:?}");
    };
    assert_eq!(interrupt.id, interrupt_id);
    assert_eq!(interrupt.tool, "transfer");
    assert_eq!(interrupt.reason, TRANSFER_REASON);
    assert_eq!(interrupt.input, json!({"amount": 10}));
    assert_eq!(
        sessions
            .get_reasoning(&session)
            .await
            .unwrap()
            .unwrap()
            .status,
        RunStatus::Paused
    );

    // Two operators race to decide, each with its own input: exactly one wins.
    let mut operators: Vec<(&str, Worker, _)> = ["a", "b"]
        .into_iter()
        .map(|by| {
            let mut child =
                worker_with_stderr(&["decide", &store.url, &session, &interrupt_id, by]);
            let lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
            (by, child, lines)
        })
        .collect();
    let outcomes = tokio::task::spawn_blocking(move || {
        for (by, _, lines) in &mut operators {
            let line = lines.next().expect("the operator starts").unwrap();
            assert_eq!(line, "ready", "operator {by}");
        }
        for (_, child, _) in &mut operators {
            let stdin = child.0.stdin.as_mut().unwrap();
            writeln!(stdin, "go").unwrap();
            stdin.flush().unwrap();
        }
        operators
            .into_iter()
            .map(|(by, mut child, mut lines)| {
                let line = lines.next().map(Result::unwrap);
                let status = child.0.wait().unwrap();
                let mut stderr = String::new();
                child
                    .0
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                assert!(status.success(), "operator {by} failed: {line:?} {stderr}");
                (by, line.unwrap_or_default())
            })
            .collect::<Vec<_>>()
    });
    let outcomes = tokio::time::timeout(limit, outcomes)
        .await
        .expect("the operators answer")
        .unwrap();
    let winners: Vec<&str> = outcomes
        .iter()
        .filter(|(_, line)| line == "decided")
        .map(|(by, _)| *by)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    let loser = outcomes.iter().find(|(by, _)| *by != winner).unwrap();
    let how = loser
        .1
        .strip_prefix(&format!("already_answered {run} "))
        .unwrap_or_else(|| panic!("the loser is told it was answered: {outcomes:?}"));
    assert!(
        ["claim-lost", "found-answered"].contains(&how),
        "{outcomes:?}"
    );
    let winning_input = json!({"amount": 10, "by": winner});

    // Decided, not continued: the run still waits (for a process with the agent), with no
    // call left to decide, and nothing ran.
    let waiting = sessions.paused_runs(&session).await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(waiting[0].interrupts.is_empty(), "{waiting:?}");
    assert!(
        calls(dir.path(), "transfer").is_empty(),
        "deciding ran the tool"
    );
    // A late operator gets the typed refusal too.
    let late = sessions
        .decide(&session, &Decisions::new().deny(&interrupt_id, "too late"))
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::NotResumable, "{late}");
    assert_eq!(
        late.resume_refusal(),
        Some(&ResumeRefusal::AlreadyAnswered { run }),
        "{late}"
    );

    // A third process continues the run.
    let continued = finished(
        worker_with_stderr(&["continue", &store.url, &session, &dir_arg]),
        limit,
    )
    .await;
    assert_eq!(continued.trim(), "response done: send 10");
    let transfers = calls(dir.path(), "transfer");
    assert_eq!(
        transfers.len(),
        1,
        "the tool runs exactly once: {transfers:?}"
    );
    assert_eq!(transfers[0].input, winning_input);

    let kept = whole_conversation(&sessions, &session).await;
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(question(&kept[0]), Some("send 10"), "{:?}", kept[0]);
    assert!(
        matches!(&kept[1].content[..], [ContentBlock::ToolUse(call)] if call.name == "transfer" && call.tool_use_id == interrupt_id),
        "{:?}",
        kept[1]
    );
    let results = results_of(&kept[2]);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].tool_use_id, interrupt_id);
    assert_ne!(results[0].status, Some(ToolResultStatus::Error));
    assert_eq!(
        results[0].content,
        [ToolResultContent::Json(
            json!({"tool": "transfer", "key": transfers[0].key, "input": winning_input})
        )]
    );
    assert_eq!(kept[3].text(), "done: send 10");

    let history = sessions.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    let record = &history[0];
    assert_eq!(record.status, RunStatus::Completed);
    assert!(record.pending_interrupts.is_empty());
    let [answered] = record.answered_interrupts.as_slice() else {
        panic!("one answered call: {:?}", record.answered_interrupts);
    };
    assert_eq!(answered.interrupt.id, interrupt_id);
    assert_eq!(
        answered.decision,
        InterruptDecision::ApproveWithInput {
            input: winning_input.clone()
        }
    );
    assert_eq!(
        transfers[0].key,
        format!("{}:{interrupt_id}", record.run_id)
    );
    assert!(sessions.paused_runs(&session).await.unwrap().is_empty());
    eprintln!(
        "approval across processes on {}: {:?} (the losing operator: {how})",
        store.url.split("://").next().unwrap_or_default(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_most_once_call_cut_off_by_a_crash_is_not_run_again_on_sqlite() {
    an_at_most_once_call_cut_off_by_a_crash_is_not_run_again(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_most_once_call_cut_off_by_a_crash_is_not_run_again_on_dynamodb() {
    an_at_most_once_call_cut_off_by_a_crash_is_not_run_again(dynamodb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_is_decided_and_continued_by_other_processes_on_sqlite() {
    a_paused_run_is_decided_and_continued_by_other_processes(sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_is_decided_and_continued_by_other_processes_on_dynamodb() {
    a_paused_run_is_decided_and_continued_by_other_processes(dynamodb()).await;
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
