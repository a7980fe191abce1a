//! The run-level conformance suite (feature `conformance`): real agent runs on a store.
//!
//! Where `agent_session::conformance` checks what a store promises call by call, this suite
//! checks what agents built on it get: memory across runs and across processes (each run sees
//! every earlier turn, however the cache stands), sustained concurrent writers that all keep
//! their turns, failed and cancelled runs that leave the conversation unchanged, real-time runs
//! followed by position with no duplicate and no gap (two at once, across delete), crashed runs
//! reported `interrupted` and resumed from their last step, context policies whose summary
//! is stored and reloaded, runs that pause for a person's approval and go on in another
//! process (every decision, several held calls, one winner among responders, expiry), and
//! session state kept with the turn.
//!
//! ```
//! use std::time::Duration;
//! use agent_session::InMemorySessionStore;
//!
//! agent_runtime::session_runs_conformance!(async |ttl: Duration| {
//!     InMemorySessionStore::with_ttl(ttl).unwrap()
//! });
//! ```
//!
//! Each check waits in real time where it must (heartbeats, time to live), a few seconds at
//! most; the sustained-writers check runs 16 writers of 20 turns each on one session.

// A failed check is a test failure: the suite asserts, and panics on errors, like any test.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{
    AgentEvent, ContentBlock, Message, Model, ModelError, ModelErrorKind, ModelRequest,
    ModelResponse, NoEvents, RunStatus, StopReason, Tool, ToolContext, ToolError, ToolOutput,
    ToolSet, ToolUse, async_trait,
};
use agent_loop::{AgentLoop, RunError, RunInput};
use agent_session::conformance::{CountingStore, session_for};
use agent_session::{SessionId, SessionStore};
use agent_testkit::EchoTool;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::context::{ContextPolicy, Window};
use crate::follow::{FollowPosition, FollowedEvent};
use crate::options::SessionOptions;
use crate::outcome::{SessionRunError, TurnState};
use crate::runner::SessionRunner;

mod approvals;
mod forks;
pub use approvals::*;
pub use forks::*;

/// The time to live most checks ask the constructor for.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The longest one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(240);

/// How long without a heartbeat makes a run interrupted, in these checks.
const INTERRUPTED_AFTER: Duration = Duration::from_secs(2);

type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check: its name and the check.
#[derive(Clone, Copy)]
pub struct Check {
    name: &'static str,
    run: fn(Arc<dyn SessionStore>) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// The check's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the check; panics when it fails or takes longer than [`CHECK_TIMEOUT`].
    pub fn run(&self, store: Arc<dyn SessionStore>) -> impl Future<Output = ()> + Send + use<> {
        let name = self.name;
        let check = (self.run)(store);
        async move {
            if tokio::time::timeout(CHECK_TIMEOUT, check).await.is_err() {
                panic!("run conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}");
            }
        }
    }
}

/// The checks, listed once.
#[doc(hidden)]
#[macro_export]
macro_rules! __runs_conformance_checks {
    ($callback:path { $($prefix:tt)* }) => {
        $callback! { $($prefix)*
            memory_across_runs,
            every_run_sees_every_earlier_turn_across_processes,
            sustained_writers_keep_every_turn,
            failed_runs_leave_the_conversation_unchanged,
            cancelled_runs_keep_what_they_produced,
            real_time_runs_are_followed_in_order,
            followers_resume_without_duplicates_or_gaps,
            concurrent_runs_are_followed_together,
            following_survives_a_delete,
            crashed_runs_read_as_interrupted,
            interrupted_runs_resume_from_their_last_step,
            summaries_are_stored_and_reloaded,
            deleted_sessions_are_never_served_from_a_cache,
            turns_are_kept_truthfully_under_faults,
            real_time_turns_are_kept_truthfully_under_faults,
            paused_runs_wait_and_go_on_in_another_process,
            every_decision_is_kept,
            held_calls_are_answered_once_together_or_one_by_one,
            held_calls_expire_as_denied,
            a_continuing_run_is_read_once,
            session_state_is_kept_with_the_turn,
            forks_continue_from_every_step_boundary,
        }
    };
}

macro_rules! define_checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, in order.
        pub const CHECKS: &[Check] = &[$(Check { name: stringify!($name), run: |store| Box::pin($name(store)) }),*];
    };
}

__runs_conformance_checks!(define_checks {});

/// Expands to one `#[test]` per run-level check, each on a store made by the constructor (an
/// async closure taking the time to live). See the [module docs](crate::conformance).
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
macro_rules! session_runs_conformance {
    (@test [$($attr:tt)*] ($make:expr) $name:ident) => {
        #[test]
        $($attr)*
        fn $name() {
            $crate::conformance::run_check(stringify!($name), $make);
        }
    };
    (@tests $attrs:tt ($make:expr) $($name:ident),* $(,)?) => {
        $($crate::session_runs_conformance!(@test $attrs ($make) $name);)*
    };
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__runs_conformance_checks!(
            $crate::session_runs_conformance { @tests [$(#[$attr])*] ($make) }
        );
    };
}

/// Runs the check called `name` on a store made by `make`, on a new multi-threaded runtime.
pub fn run_check<F, S>(name: &str, make: F)
where
    F: AsyncFnOnce(Duration) -> S,
    S: SessionStore + 'static,
{
    let Some(check) = CHECKS.iter().find(|check| check.name == name) else {
        panic!("there is no run conformance check named `{name}`");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let store = make(DEFAULT_TTL).await;
        check.run(Arc::new(store)).await;
    });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A model that needs no script: asked a question, it calls `echo` with it; given tool results,
/// it answers with the question; it can be told to fail or to hold a step.
#[derive(Default)]
struct EchoModel {
    calls: AtomicUsize,
}

#[async_trait]
impl Model for EchoModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let last = request
            .messages
            .last()
            .ok_or_else(|| ModelError::new(ModelErrorKind::Validation, "no messages"))?;
        let question = question_of(&request.messages);
        if question.contains("FAIL") {
            return Err(ModelError::new(ModelErrorKind::Throttled, "slow down"));
        }
        if question.starts_with("Summarise the conversation") || question.starts_with("SUMMARY") {
            return Ok(text(format!("summary of {} characters", question.len())));
        }
        if last.tool_results().next().is_some() {
            return Ok(text(format!("answer to {question}")));
        }
        let tool = if question.contains("SLOW") {
            "slow"
        } else {
            "echo"
        };
        let id = format!("t{}", self.calls.load(Ordering::SeqCst));
        Ok(ModelResponse::new(
            Message {
                role: agent_core::Role::Assistant,
                content: vec![
                    ContentBlock::Text(format!("<thinking>use {tool}</thinking>")),
                    ContentBlock::ToolUse(ToolUse {
                        tool_use_id: id,
                        name: tool.into(),
                        input: json!({ "q": question }),
                    }),
                ],
            },
            StopReason::ToolUse,
        ))
    }
}

fn text(answer: String) -> ModelResponse {
    ModelResponse::new(Message::assistant_text(answer), StopReason::EndTurn)
}

/// The text of the newest user message that is a question (not tool results).
/// The newest user text, without the turn's time line.
fn question_of(messages: &[Arc<Message>]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == agent_core::Role::User && m.has_text())
        .map(|m| {
            m.content
                .iter()
                .filter(|block| !agent_loop::is_time_line(block))
                .filter_map(|block| match block {
                    agent_core::ContentBlock::Text(text) => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A tool that waits until released (or cancelled), counting its calls.
#[derive(Clone, Default)]
struct SlowTool {
    calls: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Tool for SlowTool {
    fn name(&self) -> &str {
        "slow"
    }
    fn description(&self) -> &str {
        "Waits until released."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            () = self.release.notified() => Ok(json!({"slow": input}).into()),
            () = context.cancellation().cancelled() => Err(ToolError::new(agent_core::ToolErrorKind::Cancelled, "cancelled")),
        }
    }
}

fn agent(model: Arc<dyn Model>, slow: &SlowTool) -> AgentLoop {
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(EchoTool), Arc::new(slow.clone())];
    AgentLoop::new(model, ToolSet::new(tools).unwrap()).with_max_steps(3)
}

fn runner(store: &Arc<dyn SessionStore>, real_time: bool) -> SessionRunner {
    SessionRunner::new(
        store.clone(),
        SessionOptions::default()
            .with_real_time(real_time)
            .with_heartbeat(Duration::from_millis(400), INTERRUPTED_AFTER)
            .with_commit_timeout(Duration::from_secs(120)),
    )
}

async fn run(
    runner: &SessionRunner,
    agent: &AgentLoop,
    session: &SessionId,
    query: &str,
) -> String {
    match runner
        .run(agent, session, RunInput::new(query), &NoEvents)
        .await
    {
        Ok(output) => output.result.response,
        Err(error) => panic!("run {query:?} failed: {error}"),
    }
}

async fn all_messages(runner: &SessionRunner, session: &SessionId) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut from = None;
    loop {
        let page = runner.conversation(session, from, 50).await.unwrap();
        messages.extend(page.messages());
        match page.next {
            Some(next) => from = Some(next),
            None => return messages,
        }
    }
}

/// Collects followed events until `done` says stop (or the timeout), returning them.
async fn collect_until(
    stream: impl futures::Stream<Item = Result<FollowedEvent, agent_session::SessionError>> + Send,
    mut done: impl FnMut(&[FollowedEvent]) -> bool,
) -> Vec<FollowedEvent> {
    let mut stream = std::pin::pin!(stream);
    let mut events = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(item) = stream.next().await {
            events.push(item.expect("follow"));
            if done(&events) {
                return;
            }
        }
    })
    .await;
    assert!(
        collected.is_ok(),
        "the follower stopped short: {:?}",
        names(&events)
    );
    events
}

fn names(events: &[FollowedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}:{}", e.run, e.event.type_name()))
        .collect()
}

fn ended_runs(events: &[FollowedEvent]) -> usize {
    events.iter().filter(|e| e.event.is_terminal()).count()
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The second run of a session sees the first: its first model request holds run 1's turn
/// before run 2's query; both runs have records, completed.
pub async fn memory_across_runs(store: Arc<dyn SessionStore>) {
    let session = session_for("memory");
    let model = Arc::new(EchoModel::default());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recording = Arc::new(Recording {
        inner: model,
        requests: requests.clone(),
    });
    let agent = agent(recording, &SlowTool::default());
    let runner = runner(&store, false);
    assert_eq!(
        run(&runner, &agent, &session, "I am Ada").await,
        "answer to I am Ada"
    );
    run(&runner, &agent, &session, "Who am I?").await;
    let seen = requests.lock().unwrap()[2].clone();
    assert_eq!(seen.len(), 5, "run 1's four messages, then run 2's query");
    assert_eq!(question_of(&seen[..1]), "I am Ada");
    let history = runner.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|r| r.status == RunStatus::Completed && r.total_steps == 1)
    );
    assert_eq!(history[1].session_id.as_deref(), Some(session.as_str()));
}

struct Recording {
    inner: Arc<EchoModel>,
    requests: Arc<Mutex<Vec<Vec<Arc<Message>>>>>,
}

#[async_trait]
impl Model for Recording {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.requests.lock().unwrap().push(request.messages.clone());
        self.inner.converse(request).await
    }
}

/// Runs alternating between two processes (two runners, each with its own cache) each see
/// every earlier turn; a run whose session did not change reads only the head.
pub async fn every_run_sees_every_earlier_turn_across_processes(store: Arc<dyn SessionStore>) {
    let session = session_for("processes");
    let counting = CountingStore::new(store.clone());
    let counted: Arc<dyn SessionStore> = Arc::new(counting.clone());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let model = Arc::new(Recording {
        inner: Arc::new(EchoModel::default()),
        requests: requests.clone(),
    });
    let agent = agent(model, &SlowTool::default());
    let first = runner(&counted, false);
    let second = runner(&store, false);
    for n in 0..6 {
        let runner = if n % 2 == 0 { &first } else { &second };
        run(runner, &agent, &session, &format!("turn {n}")).await;
        let seen = requests.lock().unwrap().last().cloned().unwrap();
        // The final call of run n holds 4 messages per earlier turn plus its own 3.
        assert_eq!(seen.len(), 4 * n + 3, "run {n} saw every earlier turn");
    }
    // Nothing changed since `first` committed last: its next run reads the head only.
    run(&first, &agent, &session, "turn 6").await;
    let before = counting.calls();
    run(&first, &agent, &session, "turn 7").await;
    let calls = counting.calls();
    assert_eq!(calls.of("head") - before.of("head"), 1);
    assert_eq!(
        calls.of("entries") - before.of("entries"),
        0,
        "no entries read when the cache is current"
    );
    assert_eq!(calls.writes() - before.writes(), 1, "one commit");
    assert_eq!(all_messages(&first, &session).await.len(), 32);
}

/// Sixteen writers running twenty turns each on one session all keep their turns: no loss, no
/// duplicate, no torn turn, one completed record per run.
pub async fn sustained_writers_keep_every_turn(store: Arc<dyn SessionStore>) {
    const WRITERS: usize = 16;
    const TURNS: usize = 20;
    let session = session_for("sustained");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let runner = runner(&store, false);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (agent, runner, session) = (agent.clone(), runner.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for turn in 0..TURNS {
                let output = runner
                    .run(
                        &agent,
                        &session,
                        RunInput::new(format!("w{writer} t{turn}")),
                        &NoEvents,
                    )
                    .await
                    .unwrap_or_else(|error| panic!("writer {writer} turn {turn}: {error}"));
                conflicts += output.result.reasoning.commit_conflicts;
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let messages = all_messages(&runner, &session).await;
    assert_eq!(messages.len(), WRITERS * TURNS * 4);
    let mut seen = HashSet::new();
    for turn in messages.chunks(4) {
        assert!(
            turn[0].has_text() && turn[1].tool_uses().count() == 1,
            "torn turn"
        );
        assert_eq!(turn[2].tool_results().count(), 1, "torn turn");
        assert!(
            seen.insert(turn[0].text()),
            "duplicated turn {}",
            turn[0].text()
        );
    }
    let history = runner.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), WRITERS * TURNS);
    assert!(history.iter().all(|r| r.status == RunStatus::Completed));
    let runs = WRITERS * TURNS;
    // The figures the issue asks for, shown with `--nocapture` and in CI's log.
    eprintln!(
        "sustained writers: {runs} runs in {elapsed:?} ({:.0} runs/s), {:.2} commit retries per run",
        runs as f64 / elapsed.as_secs_f64(),
        f64::from(conflicts) / runs as f64
    );
}

/// A run whose model fails leaves the conversation as it was, and its record says `failed`.
pub async fn failed_runs_leave_the_conversation_unchanged(store: Arc<dyn SessionStore>) {
    let session = session_for("failed");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let runner = runner(&store, true);
    run(&runner, &agent, &session, "fine").await;
    let before = all_messages(&runner, &session).await;
    let error = runner
        .run(&agent, &session, RunInput::new("FAIL please"), &NoEvents)
        .await
        .unwrap_err();
    assert_eq!(error.turn(), TurnState::NotKept);
    assert!(
        matches!(&error, SessionRunError::Run { failed, .. } if matches!(failed.error, RunError::Model(_)))
    );
    assert_eq!(all_messages(&runner, &session).await, before);
    let latest = runner.latest_reasoning(&session).await.unwrap().unwrap();
    assert_eq!(latest.status, RunStatus::Failed);
    assert!(latest.error.unwrap().kind.starts_with("model."));
}

/// A run cancelled while its tool runs gives the tool the signal, keeps the conversation as it
/// was, and its record says `cancelled` with the steps it took.
pub async fn cancelled_runs_keep_what_they_produced(store: Arc<dyn SessionStore>) {
    let session = session_for("cancel");
    let slow = SlowTool::default();
    let agent = agent(Arc::new(EchoModel::default()), &slow);
    let runner = runner(&store, true);
    let mut input = RunInput::new("SLOW work");
    let cancel = CancellationToken::new();
    input.cancellation = cancel.clone();
    let task = {
        let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
        tokio::spawn(async move { runner.run(&agent, &session, input, &NoEvents).await })
    };
    while slow.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    let error = task.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, SessionRunError::Run { failed, .. } if matches!(failed.error, RunError::Cancelled))
    );
    assert!(all_messages(&runner, &session).await.is_empty());
    let latest = runner.latest_reasoning(&session).await.unwrap().unwrap();
    assert_eq!(latest.status, RunStatus::Cancelled);
    assert_eq!(latest.total_steps, 1);
    assert_eq!(
        latest.steps[0].tools[0]
            .error
            .as_ref()
            .map(|e| e.kind.clone()),
        Some(agent_core::ToolErrorKind::Cancelled)
    );
}

/// A follower started before a real-time run sees it whole, in order, once: its start, each
/// reply, each tool result and step end, then its end.
pub async fn real_time_runs_are_followed_in_order(store: Arc<dyn SessionStore>) {
    let session = session_for("follow");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let runner = runner(&store, true);
    let follower = runner.follow(&session, FollowPosition::start());
    let running = {
        let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
        tokio::spawn(async move { run(&runner, &agent, &session, "watch me").await })
    };
    let events = collect_until(follower, |events| ended_runs(events) == 1).await;
    running.await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.type_name()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    for (wanted, count) in [
        ("model_reply", 2),
        ("tool_call_started", 1),
        ("tool_input_complete", 1),
        ("tool_result", 1),
        ("step_finished", 1),
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == wanted).count(),
            count,
            "{wanted} in {kinds:?}"
        );
    }
    let reply = kinds.iter().position(|k| *k == "model_reply").unwrap();
    let result = kinds.iter().position(|k| *k == "tool_result").unwrap();
    assert!(reply < result);
    let AgentEvent::RunFinished { result } = &events.last().unwrap().event else {
        panic!("the run ends with its result");
    };
    assert_eq!(result.response, "answer to watch me");
}

/// A follower stopped after any event and started again from that event's position gets the
/// rest exactly once: together, the same events as one uninterrupted follower.
pub async fn followers_resume_without_duplicates_or_gaps(store: Arc<dyn SessionStore>) {
    let session = session_for("resume-follow");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let live = runner(&store, true);
    let quiet = runner(&store, false);
    run(&live, &agent, &session, "one").await;
    run(&quiet, &agent, &session, "two").await;
    run(&live, &agent, &session, "three").await;
    let whole = collect_until(live.follow(&session, FollowPosition::start()), |e| {
        ended_runs(e) == 3
    })
    .await;
    let expected: Vec<(u64, AgentEvent)> = whole.iter().map(|e| (e.run, e.event.clone())).collect();
    for cut in [0, 1, whole.len() / 2, whole.len() - 2] {
        let position = whole[cut].position.clone();
        let reparsed: FollowPosition = position.to_string().parse().unwrap();
        let rest = collect_until(live.follow(&session, reparsed), |e| {
            e.len() == whole.len() - cut - 1
        })
        .await;
        let mut joined: Vec<(u64, AgentEvent)> = expected[..=cut].to_vec();
        joined.extend(rest.iter().map(|e| (e.run, e.event.clone())));
        assert_eq!(joined, expected, "resumed after event {cut}");
    }
}

/// Two real-time runs at once: a follower gets both, each run's events in order, once.
pub async fn concurrent_runs_are_followed_together(store: Arc<dyn SessionStore>) {
    let session = session_for("two-runs");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let runner = runner(&store, true);
    let follower = runner.follow(&session, FollowPosition::start());
    let tasks: Vec<_> = (0..2)
        .map(|n| {
            let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
            tokio::spawn(async move { run(&runner, &agent, &session, &format!("run {n}")).await })
        })
        .collect();
    let events = collect_until(follower, |events| ended_runs(events) == 2).await;
    for task in tasks {
        task.await.unwrap();
    }
    let mut per_run: HashMap<u64, Vec<&str>> = HashMap::new();
    for event in &events {
        per_run
            .entry(event.run)
            .or_default()
            .push(event.event.type_name());
    }
    assert_eq!(per_run.len(), 2);
    for kinds in per_run.values() {
        assert_eq!(kinds.first(), Some(&"run_started"));
        assert_eq!(kinds.last(), Some(&"run_finished"));
        assert_eq!(kinds.iter().filter(|k| **k == "run_started").count(), 1);
    }
}

/// A follower of a session that is deleted follows its next life from its first run.
pub async fn following_survives_a_delete(store: Arc<dyn SessionStore>) {
    let session = session_for("follow-delete");
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let runner = runner(&store, true);
    run(&runner, &agent, &session, "before").await;
    let follower = runner.follow(&session, FollowPosition::start());
    let driver = {
        let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            runner.delete(&session).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            run(&runner, &agent, &session, "after").await;
        })
    };
    let events = collect_until(follower, |events| ended_runs(events) == 2).await;
    driver.await.unwrap();
    let queries: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            AgentEvent::RunStarted { query, .. } => Some(query.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(queries, ["before", "after"]);
}

/// A run whose process died (here: its task aborted mid-tool, so no heartbeat and no end) reads
/// as `interrupted` once the heartbeat limit passed, its follower ends it so, and later runs of
/// the session are not held up.
pub async fn crashed_runs_read_as_interrupted(store: Arc<dyn SessionStore>) {
    let session = session_for("crash");
    let slow = SlowTool::default();
    let agent = agent(Arc::new(EchoModel::default()), &slow);
    let runner = runner(&store, true);
    let crashed = {
        let (runner, agent, session) = (runner.clone(), agent.clone(), session.clone());
        tokio::spawn(async move {
            runner
                .run(&agent, &session, RunInput::new("SLOW crash"), &NoEvents)
                .await
        })
    };
    while slow.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    crashed.abort();
    let latest = runner.latest_reasoning(&session).await.unwrap().unwrap();
    assert_eq!(
        latest.status,
        RunStatus::Running,
        "alive until the limit passes"
    );
    let watched = std::time::Instant::now();
    let events = collect_until(runner.follow(&session, FollowPosition::start()), |e| {
        ended_runs(e) == 1
    })
    .await;
    let limit = INTERRUPTED_AFTER + Duration::from_secs(3);
    assert!(
        watched.elapsed() < limit,
        "interrupted seen after {:?}",
        watched.elapsed()
    );
    let AgentEvent::RunEnded { reasoning } = &events.last().unwrap().event else {
        panic!("the follower ends the run");
    };
    assert_eq!(reasoning.status, RunStatus::Interrupted);
    assert_eq!(reasoning.total_steps, 1, "the step it took is folded in");
    let latest = runner.latest_reasoning(&session).await.unwrap().unwrap();
    assert_eq!(latest.status, RunStatus::Interrupted);
    run(&runner, &agent, &session, "next").await;
    assert_eq!(all_messages(&runner, &session).await.len(), 4);
}

/// An interrupted run resumed by another process continues from its last completed step: tool
/// results already recorded are not run again, and its turn is committed under its own record.
pub async fn interrupted_runs_resume_from_their_last_step(store: Arc<dyn SessionStore>) {
    let session = session_for("resume");
    let model = Arc::new(EchoModel::default());
    let counted_echo = CountingEcho::default();
    let tools: Vec<Arc<dyn Tool>> = vec![Arc::new(counted_echo.clone())];
    let agent = AgentLoop::new(model.clone(), ToolSet::new(tools).unwrap()).with_max_steps(3);
    let first = runner(&store, true);
    // Crash after step 1's tool result is recorded and before the answer: abort while the
    // model is held up.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let held = Arc::new(HeldModel {
        inner: model.clone(),
        gate: gate.clone(),
        calls: AtomicUsize::new(0),
    });
    let held_agent = AgentLoop::new(
        held.clone(),
        ToolSet::new(vec![Arc::new(counted_echo.clone()) as Arc<dyn Tool>]).unwrap(),
    );
    let crashed = {
        let (runner, session) = (first.clone(), session.clone());
        tokio::spawn(async move {
            runner
                .run(&held_agent, &session, RunInput::new("resume me"), &NoEvents)
                .await
        })
    };
    while held.calls.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    crashed.abort();
    assert_eq!(counted_echo.calls.load(Ordering::SeqCst), 1);
    let second = runner(&store, true);
    let error = second
        .resume(&agent, &session, CancellationToken::new(), &NoEvents)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SessionRunError::NotResumable { .. }),
        "still alive: {error}"
    );
    tokio::time::sleep(INTERRUPTED_AFTER + Duration::from_millis(500)).await;
    let output = second
        .resume(&agent, &session, CancellationToken::new(), &NoEvents)
        .await
        .unwrap();
    assert_eq!(output.result.response, "answer to resume me");
    assert_eq!(
        counted_echo.calls.load(Ordering::SeqCst),
        1,
        "the recorded tool result was reused"
    );
    let history = second.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, RunStatus::Completed);
    assert_eq!(all_messages(&second, &session).await.len(), 4);
    let error = second
        .resume(&agent, &session, CancellationToken::new(), &NoEvents)
        .await
        .unwrap_err();
    assert!(matches!(error, SessionRunError::NotResumable { .. }));
}

#[derive(Clone, Default)]
struct CountingEcho {
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Tool for CountingEcho {
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Echoes its input."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(json!({ "echo": input }).into())
    }
}

/// A model whose second call waits at a gate (so a test can crash the run there).
struct HeldModel {
    inner: Arc<EchoModel>,
    gate: Arc<tokio::sync::Semaphore>,
    calls: AtomicUsize,
}

#[async_trait]
impl Model for HeldModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= 1 {
            let _permit = self.gate.acquire().await;
        }
        self.inner.converse(request).await
    }
}

/// With a summarising policy, a long session gets a summary stored as its own entry; a cold
/// process then loads the summary and the turns after it, and the model sees the summary.
pub async fn summaries_are_stored_and_reloaded(store: Arc<dyn SessionStore>) {
    let session = session_for("summary");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let model = Arc::new(SystemRecording {
        inner: Arc::new(EchoModel::default()),
        requests: requests.clone(),
    });
    let agent = agent(model, &SlowTool::default());
    let policy = ContextPolicy::summarize(Window::Messages(8), 200);
    let options = SessionOptions::default().with_context(policy.clone());
    let writer = SessionRunner::new(store.clone(), options.clone());
    for n in 0..5 {
        run(
            &writer,
            &agent,
            &session,
            &format!("fact number {n} is {}", n * 7),
        )
        .await;
    }
    let head = store.head(&session).await.unwrap();
    assert!(head.summary_seq.is_some(), "a summary entry was written");
    let counting = CountingStore::new(store.clone());
    let cold = SessionRunner::new(Arc::new(counting.clone()), options);
    run(&cold, &agent, &session, "what do you know?").await;
    let (system, messages) = requests.lock().unwrap().last().cloned().unwrap();
    assert!(
        system
            .iter()
            .any(|s| s.contains("Summary of the earlier conversation")),
        "{system:?}"
    );
    assert!(
        messages.len() < 5 * 4 + 3,
        "the model saw summary + tail, not everything"
    );
    assert_eq!(
        all_messages(&cold, &session).await.len(),
        6 * 4,
        "the full history stays stored"
    );
}

/// The system blocks and messages of each request.
type SeenRequests = Arc<Mutex<Vec<(Vec<String>, Vec<Arc<Message>>)>>>;

struct SystemRecording {
    inner: Arc<EchoModel>,
    requests: SeenRequests,
}

#[async_trait]
impl Model for SystemRecording {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.requests
            .lock()
            .unwrap()
            .push((request.system.clone(), request.messages.clone()));
        self.inner.converse(request).await
    }
}

/// A session deleted by another process is never served from a process's cache: the next run
/// starts from an empty conversation.
pub async fn deleted_sessions_are_never_served_from_a_cache(store: Arc<dyn SessionStore>) {
    let session = session_for("cache-delete");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let model = Arc::new(Recording {
        inner: Arc::new(EchoModel::default()),
        requests: requests.clone(),
    });
    let agent = agent(model, &SlowTool::default());
    let cached = runner(&store, false);
    run(&cached, &agent, &session, "remember me").await;
    run(&cached, &agent, &session, "again").await;
    store.delete(&session).await.unwrap();
    run(&cached, &agent, &session, "fresh").await;
    let seen = requests.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.len(), 3, "only the new run's messages: {seen:?}");
    assert_eq!(all_messages(&cached, &session).await.len(), 4);
}

/// Runs of one session through a store that delays, fails before applying, loses answers after
/// applying and reorders completions (a seeded [`FaultInjector`](agent_session::FaultInjector)): every turn is kept or
/// reported not kept truthfully, none is kept twice, and every run's record ends in a final
/// status, once.
pub async fn turns_are_kept_truthfully_under_faults(store: Arc<dyn SessionStore>) {
    runs_under_faults(store, false).await;
}

/// The same with real-time recording: its records, events and heartbeats go through the
/// faults too.
pub async fn real_time_turns_are_kept_truthfully_under_faults(store: Arc<dyn SessionStore>) {
    runs_under_faults(store, true).await;
}

async fn runs_under_faults(store: Arc<dyn SessionStore>, real_time: bool) {
    use agent_session::{FaultInjector, FaultyStore, StoreMethods};
    const WRITERS: usize = 4;
    const TURNS: usize = 5;
    // MINIMALAGENT_FAULT_SEED replays a failing run of the check.
    let seed = std::env::var("MINIMALAGENT_FAULT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20_261_207);
    let session = session_for(if real_time { "faults-live" } else { "faults" });
    let faults = FaultInjector::new(seed)
        .delay(
            StoreMethods::ALL,
            0.3,
            Duration::from_millis(1)..=Duration::from_millis(25),
        )
        .fail_before(StoreMethods::WRITES, 0.1)
        .drop_response(StoreMethods::WRITES, 0.1)
        .reorder(
            StoreMethods::ALL,
            0.2,
            Duration::from_millis(1)..=Duration::from_millis(25),
        );
    let faulty = Arc::new(FaultyStore::new(store.clone(), faults));
    let runner = SessionRunner::new(
        faulty.clone() as Arc<dyn SessionStore>,
        SessionOptions::default()
            .with_real_time(real_time)
            .with_heartbeat(Duration::from_millis(200), Duration::from_secs(5))
            .with_commit_timeout(Duration::from_secs(30)),
    );
    let agent = agent(Arc::new(EchoModel::default()), &SlowTool::default());
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (agent, runner, session) = (agent.clone(), runner.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for turn in 0..TURNS {
                let input = RunInput::new(format!("w{writer} t{turn}"));
                let run_id = input.run_id;
                let outcome = match runner.run(&agent, &session, input, &NoEvents).await {
                    Ok(_) => TurnState::Kept,
                    Err(error) => error.turn(),
                };
                outcomes.push((run_id, outcome));
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    // Read what was really stored, without faults.
    let head = store.head(&session).await.unwrap();
    let entries = if head.version.is_empty() {
        Vec::new()
    } else {
        store
            .entries(&session, head.first_seq, head.last_seq())
            .await
            .unwrap()
    };
    let mut kept = HashSet::new();
    for entry in &entries {
        if let agent_session::EntryBody::Turn { run_id, .. } = &entry.body {
            assert!(kept.insert(*run_id), "run {run_id} was kept twice");
        }
    }
    for (run_id, outcome) in &outcomes {
        match outcome {
            TurnState::Kept => assert!(kept.contains(run_id), "run {run_id} said kept, but is not"),
            TurnState::NotKept => assert!(
                !kept.contains(run_id),
                "run {run_id} said not kept, but is in the conversation"
            ),
            _ => {}
        }
    }
    let records = store.runs(&session, 0, 1_000).await.unwrap();
    let mut recorded = HashSet::new();
    for record in &records {
        assert_ne!(
            record.reasoning.status,
            RunStatus::Running,
            "run {} ({}) was left running",
            record.run,
            record.reasoning.run_id
        );
        assert!(
            recorded.insert(record.reasoning.run_id),
            "run {} has two records",
            record.reasoning.run_id
        );
    }
    let injected = faulty.injected().total();
    let unknown = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == TurnState::Unknown)
        .count();
    eprintln!(
        "faults (seed {seed}, real time {real_time}): {} turns of {} kept, {unknown} unknown; \
         injected {injected:?}",
        kept.len(),
        outcomes.len()
    );
    assert!(
        injected.failed_before + injected.dropped_responses > 0,
        "the check injected faults"
    );
}
