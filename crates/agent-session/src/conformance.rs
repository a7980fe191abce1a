//! The conformance suite every [`SessionStore`] must pass (feature `conformance`).
//!
//! Each check runs real agent runs (an [`AgentLoop`] over agent-testkit's [`ScriptedModel`],
//! with tools) through [`run_in_session`] against the store, or calls the store directly, and
//! asserts what the [`SessionStore` contract](SessionStore#contract)
//! promises: memory across runs, one reasoning record per run, no lost turns under concurrency,
//! failed runs leaving no trace in the conversation, complete reads of long histories, TTL
//! expiry, delete, byte-exact round trips of large and multibyte values, conditional and
//! idempotent commits, and no I/O for invalid session ids.
//!
//! # Running the suite on a store
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! agent-session = { version = "0.1", features = ["conformance"] }
//! ```
//!
//! Then, in a test file (say `tests/conformance.rs`), give the macro a constructor: an async
//! closure (or an `async fn`) that takes the time to live the check needs and returns a fresh
//! store (any [`SessionStore`], an `Arc<dyn SessionStore>` included).
//!
//! ```
//! use std::time::Duration;
//! use agent_session::InMemorySessionStore;
//!
//! agent_session::session_store_conformance!(async |ttl: Duration| {
//!     InMemorySessionStore::with_ttl(ttl).unwrap()
//! });
//! ```
//!
//! This expands to one `#[test]` per check, named after it (`concurrent_runs_are_all_kept`,
//! …), so `cargo test` lists each result and `cargo test concurrent` runs one. Each test builds
//! its own multi-threaded tokio runtime, calls the constructor inside it (so clients bound to
//! a runtime work), and runs the check under a timeout. The constructor is called once per check
//! with [`DEFAULT_TTL`], [`EXPIRY_TTL`] or [`REFRESH_TTL`]; every check uses its own session ids
//! (`conf-<check>-<uuid>`), so all of them may share one table or database.
//!
//! Attributes written after the constructor go on every generated test, for example to skip a
//! suite that needs a local database unless it is there (skips then show in the test output):
//!
//! ```
//! # use agent_session::InMemorySessionStore;
//! async fn make_store(ttl: std::time::Duration) -> InMemorySessionStore {
//!     // Connect to the local database here.
//!     # InMemorySessionStore::with_ttl(ttl).unwrap()
//! }
//!
//! agent_session::session_store_conformance!(
//!     make_store,
//!     #[cfg_attr(not(feature = "local-db-tests"), ignore = "needs a local database")]
//! );
//! ```
//!
//! Each check is also a plain `pub async fn` taking the store, for callers that drive their own
//! runtime; [`run_all`] runs every check in turn and [`CHECKS`] lists them with the TTL each
//! expects. The in-memory store passes the whole suite in a few seconds; the TTL checks sleep
//! (about 3 and 7 seconds), since stores count time to live in real, whole seconds.

// A failed check is a test failure: the suite asserts, and panics on a store error or a
// timeout, like any test. It is library code only so that other crates can run it.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent_core::{
    AgentLoop, ContentBlock, InferenceConfig, Message, ModelError, ModelErrorKind, ModelResponse,
    NoObserver, Reasoning, Role, RunEvent, RunObserver, RunStatus, StopReason, TokenUsage, Tool,
    ToolCallStatus, ToolError, ToolResultContent, ToolSet, ToolUse, async_trait,
};
use agent_testkit::{ScriptedModel, ScriptedReply};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::time::Instant;
use uuid::Uuid;

pub use crate::counting::{CountingStore, StoreCalls};
use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionId;
use crate::run::{
    SessionRunError, SessionRunOptions, SessionRunOutput, run_in_session, run_in_session_str,
};
use crate::store::{RunCommit, SessionSnapshot, SessionStore, SessionVersion};

/// The time to live most checks ask the constructor for: one hour, so nothing expires.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The time to live of [`expired_sessions_read_as_gone`].
pub const EXPIRY_TTL: Duration = Duration::from_secs(2);

/// The time to live of [`ttl_counts_from_the_last_write`].
pub const REFRESH_TTL: Duration = Duration::from_secs(5);

/// The longest one check may take; a check that runs longer fails.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// Stores may round expiry times to whole seconds, so a session may read as gone up to this
/// much before, or as live up to this much after, its exact expiry.
const TTL_SLACK: Duration = Duration::from_secs(1);

/// A boxed check future.
type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the suite: its name, the time to live its store must have, and the check.
#[derive(Clone, Copy)]
pub struct Check {
    name: &'static str,
    ttl: Duration,
    run: fn(Arc<dyn SessionStore>) -> CheckFuture,
}

impl Check {
    /// The check's name, which is also the name of its `pub async fn` and generated test.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The time to live the store under test must be built with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Runs the check on `store` (built with [`Check::ttl`]); panics when it fails.
    pub fn run(&self, store: Arc<dyn SessionStore>) -> impl Future<Output = ()> + Send + use<> {
        (self.run)(store)
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

macro_rules! checks {
    ($($name:ident: $ttl:expr),* $(,)?) => {
        /// Every check of the suite, in the order [`run_all`] runs them.
        pub const CHECKS: &[Check] = &[
            $(Check {
                name: stringify!($name),
                ttl: $ttl,
                run: |store| Box::pin($name(store)),
            }),*
        ];
    };
}

checks! {
    memory_across_runs: DEFAULT_TTL,
    real_time_reasoning_updates_one_record: DEFAULT_TTL,
    back_to_back_runs_are_all_kept: DEFAULT_TTL,
    concurrent_runs_are_all_kept: DEFAULT_TTL,
    failed_run_leaves_the_conversation_unchanged: DEFAULT_TTL,
    long_histories_are_read_in_full: DEFAULT_TTL,
    expired_sessions_read_as_gone: EXPIRY_TTL,
    ttl_counts_from_the_last_write: REFRESH_TTL,
    delete_removes_everything: DEFAULT_TTL,
    large_values_round_trip: DEFAULT_TTL,
    invalid_session_ids_are_rejected_before_any_io: DEFAULT_TTL,
    commits_are_conditional_and_idempotent: DEFAULT_TTL,
    reasoning_is_saved_in_place: DEFAULT_TTL,
}

/// Expands to one `#[test]` per conformance check, each running the check on a store made by
/// the given constructor.
///
/// The constructor is an async closure or `async fn` taking the [`Duration`](std::time::Duration)
/// to use as the store's time to live and returning a fresh store (any
/// [`SessionStore`](crate::SessionStore), `Arc<dyn SessionStore>` included). Attributes after
/// it (`make_store, #[ignore]`) are put on every generated test. See the
/// [module docs](crate::conformance).
///
/// ```
/// agent_session::session_store_conformance!(async |ttl: std::time::Duration| {
///     agent_session::InMemorySessionStore::with_ttl(ttl).unwrap()
/// });
/// ```
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
macro_rules! session_store_conformance {
    (@test [$($attr:tt)*] ($make:expr) $name:ident) => {
        #[test]
        $($attr)*
        fn $name() {
            $crate::conformance::run_check(stringify!($name), $make);
        }
    };
    (@tests $attrs:tt ($make:expr) $($name:ident),* $(,)?) => {
        $($crate::session_store_conformance!(@test $attrs ($make) $name);)*
    };
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::session_store_conformance!(
            @tests [$(#[$attr])*] ($make)
            memory_across_runs,
            real_time_reasoning_updates_one_record,
            back_to_back_runs_are_all_kept,
            concurrent_runs_are_all_kept,
            failed_run_leaves_the_conversation_unchanged,
            long_histories_are_read_in_full,
            expired_sessions_read_as_gone,
            ttl_counts_from_the_last_write,
            delete_removes_everything,
            large_values_round_trip,
            invalid_session_ids_are_rejected_before_any_io,
            commits_are_conditional_and_idempotent,
            reasoning_is_saved_in_place,
        );
    };
}

/// Runs the check called `name` on a store made by `make`, on a new multi-threaded tokio
/// runtime: what each test generated by [`session_store_conformance!`] does.
///
/// Panics when the check fails, takes longer than [`CHECK_TIMEOUT`], or does not exist.
pub fn run_check<F, S>(name: &str, make: F)
where
    F: AsyncFnOnce(Duration) -> S,
    S: SessionStore + 'static,
{
    let Some(check) = CHECKS.iter().find(|check| check.name == name) else {
        panic!("there is no conformance check named `{name}`");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance check");
    runtime.block_on(async {
        let store = make(check.ttl).await;
        check.run(Arc::new(store)).await;
    });
}

/// Runs every check in turn on the current runtime, each on a new store made by `make` with the
/// check's time to live. Panics at the first failure.
pub async fn run_all<F, S>(make: F)
where
    F: AsyncFn(Duration) -> S,
    S: SessionStore + 'static,
{
    for check in CHECKS {
        tracing::info!(check = check.name, "conformance check");
        check.run(Arc::new(make(check.ttl).await)).await;
    }
}

/// Runs a check's body under [`CHECK_TIMEOUT`].
async fn bounded(name: &str, body: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIMEOUT, body).await.is_err() {
        panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The second run of a session sees the first: the model's request of run 2 holds run 1's query
/// and answer followed by run 2's query, and `load` returns both turns at a new version.
pub async fn memory_across_runs(store: Arc<dyn SessionStore>) {
    bounded("memory_across_runs", async {
        let session = session_id("memory");
        let model = ScriptedModel::new()
            .then_text("Nice to meet you, Ada.")
            .then_text("Your name is Ada.");
        let agent = agent(&model);
        let first = run_ok(&agent, &*store, &session, "My name is Ada.", &options()).await;
        let second = run_ok(&agent, &*store, &session, "What is my name?", &options()).await;
        assert_eq!(second.response, "Your name is Ada.");
        let requests = model.requests();
        assert_eq!(requests.len(), 2, "one model call per run");
        assert_eq!(
            requests[0].messages,
            vec![Message::user_text("My name is Ada.")],
            "the first run of a new session starts from an empty conversation"
        );
        assert_eq!(
            requests[1].messages,
            vec![
                Message::user_text("My name is Ada."),
                Message::assistant_text("Nice to meet you, Ada."),
                Message::user_text("What is my name?"),
            ],
            "the second run's model request must hold the first run's messages"
        );
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages(
            "the conversation after two runs",
            &loaded.messages,
            &[first.messages.clone(), second.messages.clone()].concat(),
        );
        assert_eq!(loaded.version, second.version);
        assert_ne!(first.version, SessionVersion::EMPTY);
        assert_ne!(
            first.version, second.version,
            "every commit moves the version"
        );
    })
    .await;
}

/// With real-time reasoning, each run has exactly one record, rewritten in place as it goes: an
/// observer reading the store at each event sees it `running` with the steps so far (and tool
/// results), a concurrent poller sees it `running` with steps and never a second record, and
/// at the end it is `completed` and equal to the run's trace. A second run adds a second
/// record, which becomes the latest.
pub async fn real_time_reasoning_updates_one_record(store: Arc<dyn SessionStore>) {
    bounded("real_time_reasoning_updates_one_record", async {
        let session = session_id("realtime");
        let model = ScriptedModel::new()
            .then_tools(Some("I should echo once"), &[("echo", json!({"n": 1}))])
            .then_tools(
                Some("and twice more"),
                &[("echo", json!({"n": 2})), ("echo", json!({"n": 3}))],
            )
            .then_text("Echoed three times.")
            .then_text("Hello again.")
            .with_latency(Duration::from_millis(60));
        let agent = agent(&model);
        let probe = StoreProbe {
            store: store.clone(),
            session: session.clone(),
            seen: Mutex::default(),
        };
        let poller = Poller::start(store.clone(), session.clone());
        let options = SessionRunOptions::default().with_real_time_reasoning(true);
        let output = run_in_session(&agent, &*store, &session, "Echo!", &options, &probe)
            .await
            .expect("the run");
        let polled = poller.stop().await;

        let seen = std::mem::take(&mut *probe.seen.lock().unwrap_or_else(PoisonError::into_inner));
        let step_starts: Vec<&Seen> = seen.iter().filter(|s| s.event == "step").collect();
        let events: Vec<&str> = seen.iter().map(|s| s.event).collect();
        assert_eq!(step_starts.len(), 2, "two steps, events seen: {events:?}");
        for (index, observed) in step_starts.iter().enumerate() {
            let record = observed.record.as_ref().unwrap_or_else(|| {
                panic!("no reasoning record in the store at step {}", index + 1)
            });
            assert_eq!(record.run_id, output.reasoning.run_id);
            assert_eq!(record.status, RunStatus::Running, "a running record");
            assert_eq!(
                record.steps.len(),
                index + 1,
                "the record holds the steps so far when step {} starts",
                index + 1
            );
        }
        let tools_done: Vec<usize> = seen
            .iter()
            .filter(|s| s.event == "tool")
            .map(|s| {
                let record = s.record.as_ref().expect("a record at each tool result");
                assert_eq!(record.status, RunStatus::Running);
                record
                    .steps
                    .iter()
                    .flat_map(|step| &step.tools)
                    .filter(|tool| tool.status == ToolCallStatus::Succeeded)
                    .count()
            })
            .collect();
        assert_eq!(
            tools_done,
            vec![1, 2, 3],
            "the record is rewritten after each tool result"
        );
        let history_lens: Vec<usize> = seen.iter().map(|s| s.history_len).collect();
        assert!(
            history_lens.iter().all(|&len| len == 1),
            "a real-time update must replace the record, not add one; records seen at each \
             event: {history_lens:?}"
        );
        assert!(
            polled
                .iter()
                .any(|(status, steps, _)| *status == RunStatus::Running && *steps >= 1),
            "a poller reading the store during the run should see it running with steps: \
             {polled:?}"
        );
        assert!(
            polled.iter().all(|(_, _, records)| *records <= 1),
            "a poller must never see more than one record for one run: {polled:?}"
        );

        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), 1, "one record per run");
        let record = &history[0];
        assert_eq!(
            record, &output.reasoning,
            "the stored record is the final trace"
        );
        assert_eq!(record.status, RunStatus::Completed);
        assert_eq!(record.session_id.as_deref(), Some(session.as_str()));
        assert_eq!(record.total_steps, 2);
        assert_eq!(
            record.steps[0].thinking.as_deref(),
            Some("I should echo once")
        );
        assert_eq!(
            record.steps[1].tools[1].result,
            Some(json!({"echo": {"n": 3}}))
        );
        assert_eq!(
            record.final_response.as_deref(),
            Some("Echoed three times.")
        );

        let second = run_in_session(&agent, &*store, &session, "Hi", &options, &NoObserver)
            .await
            .expect("the second run");
        let history = store.reasoning_history(&session).await.expect("history");
        let ids: Vec<Uuid> = history.iter().map(|r| r.run_id).collect();
        assert_eq!(
            ids,
            vec![output.reasoning.run_id, second.reasoning.run_id],
            "one record per run, oldest first"
        );
        let latest = store.latest_reasoning(&session).await.expect("latest");
        assert_eq!(latest.as_ref(), Some(&second.reasoning));
    })
    .await;
}

/// Runs that follow each other at once (within the same millisecond, as a fast store and model
/// allow) are all kept: every turn in order and one record each, in order.
pub async fn back_to_back_runs_are_all_kept(store: Arc<dyn SessionStore>) {
    bounded("back_to_back_runs_are_all_kept", async {
        let session = session_id("backtoback");
        const RUNS: usize = 10;
        let model = (0..RUNS).fold(ScriptedModel::new(), |model, n| {
            model.then_text(format!("answer {n}"))
        });
        let agent = agent(&model);
        let mut outputs = Vec::new();
        for n in 0..RUNS {
            outputs
                .push(run_ok(&agent, &*store, &session, &format!("query {n}"), &options()).await);
        }
        let expected: Vec<Message> = outputs.iter().flat_map(|o| o.messages.clone()).collect();
        assert_eq!(expected.len(), 2 * RUNS);
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages("back-to-back runs", &loaded.messages, &expected);
        let history = store.reasoning_history(&session).await.expect("history");
        let queries: Vec<&str> = history.iter().map(|r| r.query.as_str()).collect();
        let expected_queries: Vec<String> = (0..RUNS).map(|n| format!("query {n}")).collect();
        assert_eq!(queries, expected_queries, "one record per run, in order");
        let ids: HashSet<Uuid> = history.iter().map(|r| r.run_id).collect();
        assert_eq!(ids.len(), RUNS, "distinct runs");
        assert!(history.iter().all(|r| r.status == RunStatus::Completed));
        let latest = store.latest_reasoning(&session).await.expect("latest");
        assert_eq!(latest.map(|r| r.query), Some(format!("query {}", RUNS - 1)));
    })
    .await;
}

/// Eight runs of one session at once, each with a tool step, all loading the session before
/// any commits: every query and answer ends up in the conversation exactly once, each run's
/// messages contiguous and in order, every `toolUse` answered by the next message, roles
/// alternating; there are eight records, and the runs that committed late counted their
/// conflicts (at least seven in all).
pub async fn concurrent_runs_are_all_kept(store: Arc<dyn SessionStore>) {
    bounded("concurrent_runs_are_all_kept", async {
        const RUNS: usize = 8;
        let session = session_id("concurrent");
        let gated: Arc<dyn SessionStore> = Arc::new(GatedLoads {
            inner: store.clone(),
            barrier: Barrier::new(RUNS),
            gated: AtomicUsize::new(RUNS),
        });
        let options = options().with_max_commit_attempts(2 * RUNS as u32);
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..RUNS {
            let model = ScriptedModel::new()
                .then(ScriptedReply::Respond(tool_reply(
                    &format!("run {n} needs a tool"),
                    &[(&format!("run{n}-call"), "echo", json!({"run": n}))],
                )))
                .then_text(format!("answer {n}"))
                .with_latency(Duration::from_millis(5));
            let agent = agent(&model);
            let (store, session, options) = (gated.clone(), session.clone(), options.clone());
            tasks.spawn(async move {
                let query = format!("query {n}");
                let output =
                    run_in_session(&agent, &*store, &session, &query, &options, &NoObserver)
                        .await
                        .unwrap_or_else(|error| panic!("run {n} failed: {error}"));
                (n, output)
            });
        }
        let mut outputs: Vec<Option<SessionRunOutput>> = vec![None; RUNS];
        while let Some(joined) = tasks.join_next().await {
            let (n, output) = joined.expect("a run's task");
            outputs[n] = Some(output);
        }
        let outputs: Vec<SessionRunOutput> = outputs.into_iter().flatten().collect();
        assert_eq!(outputs.len(), RUNS);

        let loaded = store.load(&session).await.expect("load");
        assert_eq!(
            loaded.messages.len(),
            4 * RUNS,
            "every run's four messages are kept"
        );
        assert_valid_conversation(&loaded.messages);
        for (n, output) in outputs.iter().enumerate() {
            let query = format!("query {n}");
            let starts: Vec<usize> = loaded
                .messages
                .iter()
                .enumerate()
                .filter(|(_, m)| m.role == Role::User && m.text() == query)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(starts.len(), 1, "`{query}` appears exactly once");
            let start = starts[0];
            assert_eq!(start % 4, 0, "turns are never interleaved");
            assert_same_messages(
                &format!("run {n}'s turn"),
                &loaded.messages[start..start + 4],
                &output.messages,
            );
            let answers = loaded
                .messages
                .iter()
                .filter(|m| m.role == Role::Assistant && m.text() == format!("answer {n}"))
                .count();
            assert_eq!(answers, 1, "`answer {n}` appears exactly once");
        }
        let versions: HashSet<SessionVersion> = outputs.iter().map(|o| o.version).collect();
        assert_eq!(versions.len(), RUNS, "each commit has its own version");
        let last_query = loaded.messages[4 * (RUNS - 1)].text();
        let last = outputs
            .iter()
            .find(|o| o.reasoning.query == last_query)
            .expect("the last turn's run");
        assert_eq!(
            loaded.version, last.version,
            "the session is at the version of its last commit"
        );

        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), RUNS, "one record per run");
        for output in &outputs {
            let record = history
                .iter()
                .find(|r| r.run_id == output.reasoning.run_id)
                .expect("each run's record");
            assert_eq!(record, &output.reasoning);
            assert_eq!(record.status, RunStatus::Completed);
        }
        let conflicts: u32 = history.iter().map(|r| r.commit_conflicts).sum();
        assert!(
            conflicts >= RUNS as u32 - 1,
            "all runs started from the same version, so all but the first to commit met a \
             conflict; counted {conflicts}"
        );
    })
    .await;
}

/// A run whose model fails after a tool step leaves the conversation exactly as it was (same
/// messages, same version), with real-time reasoning off and on; its record says `failed` with
/// the error and keeps the step; the next run's model request holds none of its messages.
pub async fn failed_run_leaves_the_conversation_unchanged(store: Arc<dyn SessionStore>) {
    bounded("failed_run_leaves_the_conversation_unchanged", async {
        let session = session_id("failed");
        let model = ScriptedModel::new().then_text("First answer.");
        let agent = agent(&model);
        let first = run_ok(&agent, &*store, &session, "First question", &options()).await;
        let before = store.load(&session).await.expect("load");
        for (attempt, real_time) in [false, true].into_iter().enumerate() {
            model.push(ScriptedReply::Respond(tool_reply(
                "let me look",
                &[(&format!("fail-{attempt}"), "echo", json!({"look": attempt}))],
            )));
            model.push(ScriptedReply::Fail(ModelError::new(
                ModelErrorKind::ServiceUnavailable,
                format!("scripted outage {attempt}"),
            )));
            let options = options().with_real_time_reasoning(real_time);
            let error = run_in_session(&agent, &*store, &session, "Doomed", &options, &NoObserver)
                .await
                .expect_err("the model failed, so the run fails");
            let SessionRunError::Run { error, reasoning } = error else {
                panic!("expected SessionRunError::Run, got {error:?}");
            };
            assert!(
                error
                    .to_string()
                    .contains(&format!("scripted outage {attempt}"))
            );
            let after = store.load(&session).await.expect("load");
            assert_eq!(
                after.version, before.version,
                "a failed run commits nothing"
            );
            assert_same_messages(
                "the conversation after a failed run",
                &after.messages,
                &before.messages,
            );
            let latest = store
                .latest_reasoning(&session)
                .await
                .expect("latest")
                .expect("the failed run's record");
            assert_eq!(latest.run_id, reasoning.run_id);
            assert_eq!(latest.status, RunStatus::Failed);
            let failure = latest.error.as_ref().expect("the record holds the error");
            assert!(
                failure
                    .message
                    .contains(&format!("scripted outage {attempt}"))
            );
            assert_eq!(latest.steps.len(), 1, "the step before the failure is kept");
            assert_eq!(latest.steps[0].tools[0].status, ToolCallStatus::Succeeded);
            assert_eq!(latest.final_response, None);
            assert_eq!(&latest, &*reasoning, "the record is the failed run's trace");
        }
        let history = store.reasoning_history(&session).await.expect("history");
        let statuses: Vec<RunStatus> = history.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![RunStatus::Completed, RunStatus::Failed, RunStatus::Failed]
        );

        model.push(ScriptedReply::Respond(agent_testkit::text_response(
            "Second answer.",
        )));
        run_ok(&agent, &*store, &session, "Second question", &options()).await;
        let last_request = model.requests().pop().expect("a request");
        assert_same_messages(
            "the model request after failed runs",
            &last_request.messages,
            &[
                first.messages.clone(),
                vec![Message::user_text("Second question")],
            ]
            .concat(),
        );
    })
    .await;
}

/// Forty runs whose messages add up to more than 3 MB (more than one page of most backends'
/// reads): `load` returns every message byte for byte and in order, and `reasoning_history`
/// every record, in order, with their large queries and answers intact.
pub async fn long_histories_are_read_in_full(store: Arc<dyn SessionStore>) {
    bounded("long_histories_are_read_in_full", async {
        const RUNS: usize = 40;
        const TEXT_BYTES: usize = 41_000;
        let session = session_id("long");
        let model = (0..RUNS).fold(ScriptedModel::new(), |model, n| {
            model.then_text(big_text(&format!("answer {n}"), TEXT_BYTES))
        });
        let agent = agent(&model);
        let mut expected = Vec::with_capacity(2 * RUNS);
        for n in 0..RUNS {
            let query = big_text(&format!("query {n}"), TEXT_BYTES);
            let output = run_ok(&agent, &*store, &session, &query, &options()).await;
            assert_eq!(output.messages.len(), 2);
            expected.push(Message::user_text(query));
            expected.push(Message::assistant_text(big_text(
                &format!("answer {n}"),
                TEXT_BYTES,
            )));
        }
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages("a long history", &loaded.messages, &expected);
        let size = serde_json::to_vec(&loaded.messages)
            .expect("messages serialise")
            .len();
        assert!(size > 3_000_000, "the history is over 3 MB ({size} bytes)");
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), RUNS, "every record, however many pages");
        for (n, record) in history.iter().enumerate() {
            assert!(
                record.query == big_text(&format!("query {n}"), TEXT_BYTES),
                "record {n} holds its query, in order"
            );
            assert!(
                record.final_response.as_deref()
                    == Some(big_text(&format!("answer {n}"), TEXT_BYTES).as_str()),
                "record {n} holds its answer"
            );
        }
    })
    .await;
}

/// With a store built with [`EXPIRY_TTL`] (2 s): a session is there right after a run, and
/// reads as gone once the TTL has passed since its last write (empty at
/// [`SessionVersion::EMPTY`], no latest record, empty history), whether or not the backend has
/// deleted it; a new run then starts from an empty conversation.
pub async fn expired_sessions_read_as_gone(store: Arc<dyn SessionStore>) {
    bounded("expired_sessions_read_as_gone", async {
        let session = session_id("expired");
        let model = ScriptedModel::new()
            .then_text("Noted.")
            .then_text("Starting over.");
        let agent = agent(&model);
        let first = run_ok(&agent, &*store, &session, "Remember 42", &options()).await;
        let written = Instant::now();
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(
            loaded.messages.len(),
            2,
            "the session is there before its TTL"
        );
        assert_eq!(loaded.version, first.version);

        tokio::time::sleep_until(written + EXPIRY_TTL + TTL_SLACK + Duration::from_millis(200))
            .await;
        let loaded = store.load(&session).await.expect("load");
        assert!(
            loaded.messages.is_empty(),
            "an expired session has no messages (found {})",
            loaded.messages.len()
        );
        assert_eq!(loaded.version, SessionVersion::EMPTY);
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            None
        );
        assert!(
            store
                .reasoning_history(&session)
                .await
                .expect("history")
                .is_empty()
        );

        run_ok(&agent, &*store, &session, "What did I say?", &options()).await;
        let request = model.requests().pop().expect("a request");
        assert_eq!(
            request.messages,
            vec![Message::user_text("What did I say?")],
            "a run after the expiry starts from an empty conversation"
        );
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), 1);
    })
    .await;
}

/// With a store built with [`REFRESH_TTL`] (5 s): a session lives until the TTL after its
/// *last* write. Run 1, wait 3 s, run 2, then read once run 1's own expiry has passed (but not
/// run 2's): both runs' messages and records are there — a session never loses its oldest part.
pub async fn ttl_counts_from_the_last_write(store: Arc<dyn SessionStore>) {
    bounded("ttl_counts_from_the_last_write", async {
        let session = session_id("refresh");
        let model = ScriptedModel::new().then_text("One.").then_text("Two.");
        let agent = agent(&model);
        let first = run_ok(&agent, &*store, &session, "First", &options()).await;
        let first_written = Instant::now();
        tokio::time::sleep_until(first_written + Duration::from_secs(3)).await;
        let second_started = Instant::now();
        let second = run_ok(&agent, &*store, &session, "Second", &options()).await;
        // Past the first run's expiry even for a store that rounds up to the next second ...
        tokio::time::sleep_until(
            first_written + REFRESH_TTL + TTL_SLACK + Duration::from_millis(500),
        )
        .await;
        // ... and still before the second run's expiry for one that rounds down.
        assert!(
            Instant::now() + Duration::from_millis(100) < second_started + REFRESH_TTL - TTL_SLACK,
            "the store was too slow for this check's timing"
        );
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages(
            "a session written again before its TTL",
            &loaded.messages,
            &[first.messages.clone(), second.messages.clone()].concat(),
        );
        assert_eq!(loaded.version, second.version);
        let history = store.reasoning_history(&session).await.expect("history");
        let ids: Vec<Uuid> = history.iter().map(|r| r.run_id).collect();
        assert_eq!(ids, vec![first.reasoning.run_id, second.reasoning.run_id]);
    })
    .await;
}

/// `delete` removes the conversation and every reasoning record, leaves other sessions alone,
/// succeeds again on a deleted (or unknown) session, and a later run starts afresh.
pub async fn delete_removes_everything(store: Arc<dyn SessionStore>) {
    bounded("delete_removes_everything", async {
        let session = session_id("delete");
        let other = session_id("keep");
        let model = ScriptedModel::new()
            .then_tools(Some("echo it"), &[("echo", json!({"x": 1}))])
            .then_text("One.")
            .then_text("Two.")
            .then_text("Kept.")
            .then_text("Fresh.");
        let agent = agent(&model);
        let real_time = options().with_real_time_reasoning(true);
        run_ok(&agent, &*store, &session, "First", &real_time).await;
        run_ok(&agent, &*store, &session, "Second", &options()).await;
        let kept = run_ok(&agent, &*store, &other, "Other session", &options()).await;
        assert_eq!(store.load(&session).await.expect("load").messages.len(), 6);

        store.delete(&session).await.expect("delete");
        assert_eq!(
            store.load(&session).await.expect("load"),
            SessionSnapshot::default(),
            "a deleted session is empty at version EMPTY"
        );
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            None
        );
        assert!(
            store
                .reasoning_history(&session)
                .await
                .expect("history")
                .is_empty()
        );
        let other_loaded = store.load(&other).await.expect("load");
        assert_same_messages("another session", &other_loaded.messages, &kept.messages);
        assert_eq!(
            store
                .reasoning_history(&other)
                .await
                .expect("history")
                .len(),
            1
        );
        store
            .delete(&session)
            .await
            .expect("deleting twice is fine");
        store
            .delete(&session_id("never"))
            .await
            .expect("deleting an unknown session is fine");

        let fresh = run_ok(&agent, &*store, &session, "Anyone there?", &options()).await;
        let request = model.requests().pop().expect("a request");
        assert_eq!(request.messages, vec![Message::user_text("Anyone there?")]);
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages("a session after delete", &loaded.messages, &fresh.messages);
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].run_id, fresh.reasoning.run_id);
    })
    .await;
}

/// A conversation of more than 5 MB over several runs, one tool result of 2 MB and multibyte
/// UTF-8 (accents, CJK, emoji, quotes, backslashes, newlines) round-trip byte for byte through
/// `load`, and the 2 MB result through the reasoning record too.
pub async fn large_values_round_trip(store: Arc<dyn SessionStore>) {
    bounded("large_values_round_trip", async {
        const BLOB_BYTES: usize = 2_000_000;
        let session = session_id("large");
        let model = ScriptedModel::new()
            .then(ScriptedReply::Respond(tool_reply(
                "fetch the blob",
                &[("blob-call", "blob", json!({"bytes": BLOB_BYTES}))],
            )))
            .then_text(big_text("answer 0", 500_000))
            .then_text(big_text("answer 1", 600_000))
            .then_text(big_text("answer 2", 600_000))
            .then_text(big_text("answer 3", 600_000));
        let agent = agent(&model);
        let mut expected = Vec::new();
        let mut outputs = Vec::new();
        for n in 0..4 {
            let query = if n == 0 {
                "Fetch the blob, s'il vous plaît 🦀".to_owned()
            } else {
                big_text(&format!("query {n}"), 600_000)
            };
            let output = run_ok(&agent, &*store, &session, &query, &options()).await;
            expected.extend(output.messages.iter().cloned());
            outputs.push(output);
        }
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages("a 5 MB conversation", &loaded.messages, &expected);
        let size = serde_json::to_vec(&loaded.messages)
            .expect("messages serialise")
            .len();
        assert!(
            size > 5_000_000,
            "the conversation is over 5 MB ({size} bytes)"
        );

        let blob = big_text("blob", BLOB_BYTES);
        let result = loaded
            .messages
            .get(2)
            .and_then(|m| m.tool_results().next())
            .expect("the third message holds the tool result");
        let [ToolResultContent::Json(value)] = result.content.as_slice() else {
            panic!("the tool result is one JSON block");
        };
        assert!(
            value.get("data").and_then(Value::as_str) == Some(blob.as_str()),
            "the 2 MB tool result is intact"
        );
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(history.len(), 4);
        assert!(
            history[0].steps[0].tools[0].result == Some(json!({"data": blob})),
            "the 2 MB tool result is intact in the reasoning record"
        );
        for (record, output) in history.iter().zip(&outputs) {
            assert!(
                record == &output.reasoning,
                "each record round-trips intact"
            );
        }
    })
    .await;
}

/// Invalid session ids are rejected by [`SessionId::new`], and [`run_in_session_str`] returns
/// [`SessionRunError::InvalidSessionId`] for them without a single call to the store or the
/// model; a valid id goes through.
pub async fn invalid_session_ids_are_rejected_before_any_io(store: Arc<dyn SessionStore>) {
    bounded("invalid_session_ids_are_rejected_before_any_io", async {
        let counting = CountingStore::new(store.clone());
        let model = ScriptedModel::new().then_text("Fine.");
        let agent = agent(&model);
        let too_long = "x".repeat(129);
        let bad_ids = [
            "",
            "has space",
            "slash/",
            "dot.",
            "ü",
            "a#b",
            "messages#abc",
            "../etc",
            "tab\t",
            too_long.as_str(),
        ];
        for bad in bad_ids {
            assert!(SessionId::new(bad).is_err(), "{bad:?} must be rejected");
            let error =
                run_in_session_str(&agent, &counting, bad, "Hi", &options(), &NoObserver).await;
            assert!(
                matches!(error, Err(SessionRunError::InvalidSessionId(_))),
                "{bad:?}: expected InvalidSessionId, got {error:?}"
            );
        }
        assert_eq!(
            counting.calls(),
            StoreCalls::default(),
            "invalid ids must not reach the store"
        );
        assert!(model.requests().is_empty(), "nor the model");

        let valid = session_id("valid_ID-1");
        let output = run_in_session_str(
            &agent,
            &counting,
            valid.as_str(),
            "Hi",
            &options(),
            &NoObserver,
        )
        .await
        .expect("a valid id");
        assert_eq!(output.reasoning.session_id.as_deref(), Some(valid.as_str()));
        let calls = counting.calls();
        assert_eq!(
            (calls.load, calls.commit_run, calls.save_reasoning),
            (1, 1, 1)
        );
        assert!(SessionId::new("a".repeat(128)).is_ok());
    })
    .await;
}

/// At the store: a commit on a stale base fails with [`SessionErrorKind::Conflict`] and writes
/// nothing; committing the same run again (a retry after a lost response) returns the version
/// it got and adds nothing, even after another run committed meanwhile; versions move on.
pub async fn commits_are_conditional_and_idempotent(store: Arc<dyn SessionStore>) {
    bounded("commits_are_conditional_and_idempotent", async {
        let session = session_id("commit");
        let turn_a = turn("a");
        let turn_b = turn("b");
        let run_a = RunCommit {
            run_id: Uuid::now_v7(),
            base: SessionVersion::EMPTY,
            messages: &turn_a,
        };
        let version_a = store.commit_run(&session, run_a).await.expect("commit a");
        assert_ne!(version_a, SessionVersion::EMPTY);
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(loaded.version, version_a);
        assert_same_messages("one commit", &loaded.messages, &turn_a);

        let stale = RunCommit {
            run_id: Uuid::now_v7(),
            base: SessionVersion::EMPTY,
            messages: &turn_b,
        };
        let error = store
            .commit_run(&session, stale)
            .await
            .expect_err("a commit on a stale base must fail");
        assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
        assert!(error.is_conflict());
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(loaded.version, version_a, "a conflict writes nothing");
        assert_same_messages("after a conflict", &loaded.messages, &turn_a);

        let retried = store.commit_run(&session, run_a).await.expect("retry of a");
        assert_eq!(retried, version_a, "a retried commit returns its version");
        let loaded = store.load(&session).await.expect("load");
        assert_same_messages("after a retried commit", &loaded.messages, &turn_a);

        let run_b = RunCommit {
            base: version_a,
            ..stale
        };
        let version_b = store.commit_run(&session, run_b).await.expect("commit b");
        assert_ne!(version_b, version_a);
        assert_ne!(version_b, SessionVersion::EMPTY);
        let retried = store
            .commit_run(&session, run_a)
            .await
            .expect("a retry of a after b");
        assert_eq!(retried, version_a);
        let loaded = store.load(&session).await.expect("load");
        assert_eq!(loaded.version, version_b);
        assert_same_messages(
            "two commits and retries",
            &loaded.messages,
            &[turn_a.clone(), turn_b.clone()].concat(),
        );

        let stale_again = RunCommit {
            run_id: Uuid::now_v7(),
            base: version_a,
            messages: &turn_a,
        };
        let error = store
            .commit_run(&session, stale_again)
            .await
            .expect_err("a base one commit behind is stale too");
        assert!(error.is_conflict());
        assert_eq!(store.load(&session).await.expect("load").messages.len(), 4);
    })
    .await;
}

/// At the store: saving a run's reasoning twice keeps one record, replaced in place; records
/// come back in the order runs were first saved, the latest is the newest run even after an
/// older run's record is updated, and records round-trip intact.
pub async fn reasoning_is_saved_in_place(store: Arc<dyn SessionStore>) {
    bounded("reasoning_is_saved_in_place", async {
        let session = session_id("reasoning");
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            None
        );
        let mut first = Reasoning::start("first", Some(session.as_str().to_owned()));
        store.save_reasoning(&session, &first).await.expect("save");
        first.status = RunStatus::Completed;
        first.final_response = Some("done".into());
        first.total_steps = 1;
        first.steps.push(agent_core::ReasoningStep {
            step_number: 1,
            timestamp: Some(jiff::Timestamp::now()),
            thinking: Some("hmm".into()),
            tools: Vec::new(),
            usage: TokenUsage::default(),
        });
        store
            .save_reasoning(&session, &first)
            .await
            .expect("save again");
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(
            history,
            vec![first.clone()],
            "one record, replaced in place"
        );
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            Some(first.clone())
        );

        let second = Reasoning::start("second", Some(session.as_str().to_owned()));
        store.save_reasoning(&session, &second).await.expect("save");
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            Some(second.clone()),
            "latest is the newest run"
        );
        first.final_response = Some("done, revised".into());
        store
            .save_reasoning(&session, &first)
            .await
            .expect("update the older run");
        let history = store.reasoning_history(&session).await.expect("history");
        assert_eq!(
            history,
            vec![first.clone(), second.clone()],
            "records stay in the order of their first save"
        );
        assert_eq!(
            store.latest_reasoning(&session).await.expect("latest"),
            Some(second),
            "updating an older run does not make it the latest"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fresh session id for a check: `conf-<label>-<uuid>`.
fn session_id(label: &str) -> SessionId {
    SessionId::new(format!("conf-{label}-{}", Uuid::now_v7().simple())).expect("a valid session id")
}

fn options() -> SessionRunOptions {
    SessionRunOptions::default()
}

fn agent(model: &ScriptedModel) -> AgentLoop {
    let tools = ToolSet::new([
        Arc::new(agent_testkit::EchoTool) as Arc<dyn Tool>,
        Arc::new(BlobTool) as Arc<dyn Tool>,
    ])
    .expect("valid tools");
    AgentLoop::new(
        Arc::new(model.clone()),
        tools,
        "You are a conformance test.",
        5,
        InferenceConfig::default(),
    )
}

async fn run_ok(
    agent: &AgentLoop,
    store: &dyn SessionStore,
    session: &SessionId,
    query: &str,
    options: &SessionRunOptions,
) -> SessionRunOutput {
    run_in_session(agent, store, session, query, options, &NoObserver)
        .await
        .unwrap_or_else(|error| panic!("a run of session {session} failed: {error}"))
}

/// A model reply asking for tools, with the given `toolUse` ids.
fn tool_reply(thinking: &str, calls: &[(&str, &str, Value)]) -> ModelResponse {
    let mut content = vec![ContentBlock::Text(format!(
        "<thinking>{thinking}</thinking>"
    ))];
    content.extend(calls.iter().map(|(id, name, input)| {
        ContentBlock::ToolUse(ToolUse {
            tool_use_id: (*id).to_owned(),
            name: (*name).to_owned(),
            input: input.clone(),
        })
    }));
    ModelResponse {
        message: Message {
            role: Role::Assistant,
            content,
        },
        stop_reason: StopReason::ToolUse,
        usage: TokenUsage::default(),
    }
}

fn turn(label: &str) -> Vec<Message> {
    vec![
        Message::user_text(format!("question {label}")),
        Message::assistant_text(format!("answer {label}")),
    ]
}

/// Deterministic text of at least `bytes` bytes (and at most a few more), full of multibyte
/// UTF-8 and characters JSON must escape.
fn big_text(seed: &str, bytes: usize) -> String {
    const PIECES: &[&str] = &[
        "plain ascii words, ",
        "\"quoted\" and back\\slashed, ",
        "new\nlines\tand tabs, ",
        "é à ü ß ø, ",
        "漢字とかな, ",
        "🦀🚀✨, ",
        "Ελληνικά, ",
    ];
    let mut text = String::with_capacity(bytes + 64);
    text.push_str(seed);
    text.push_str(": ");
    let mut n = 0usize;
    while text.len() < bytes {
        text.push_str(PIECES[n % PIECES.len()]);
        if n.is_multiple_of(16) {
            text.push_str(&n.to_string());
        }
        n += 1;
    }
    // No trailing whitespace: a final answer is stored trimmed.
    text.push('∎');
    text
}

/// Asserts two message lists are equal without printing megabytes when they are not.
fn assert_same_messages(context: &str, actual: &[Message], expected: &[Message]) {
    if actual == expected {
        return;
    }
    let describe = |m: &Message| {
        let json = serde_json::to_string(m).unwrap_or_default();
        let head: String = json.chars().take(160).collect();
        format!("{:?} message of {} bytes: {head}…", m.role, json.len())
    };
    let first_difference = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{context}: {} messages where {} were expected; they differ first at index \
         {first_difference}:\n  found:    {}\n  expected: {}",
        actual.len(),
        expected.len(),
        actual
            .get(first_difference)
            .map_or("nothing".to_owned(), describe),
        expected
            .get(first_difference)
            .map_or("nothing".to_owned(), describe),
    );
}

/// Asserts the conversation is valid for Converse: it starts with a user message, roles
/// alternate, and every `toolUse` is answered, in order, by the `toolResult`s of the next
/// message, which answer nothing else.
fn assert_valid_conversation(messages: &[Message]) {
    if let Some(first) = messages.first() {
        assert!(
            first.tool_results().next().is_none(),
            "the first message answers no toolUse"
        );
    }
    for (index, message) in messages.iter().enumerate() {
        let expected_role = if index.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        };
        assert_eq!(
            message.role, expected_role,
            "message {index}: roles alternate"
        );
        let asked: Vec<&str> = message
            .tool_uses()
            .map(|t| t.tool_use_id.as_str())
            .collect();
        let answered: Vec<&str> = messages
            .get(index + 1)
            .map(|next| {
                next.tool_results()
                    .map(|r| r.tool_use_id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if message.role == Role::Assistant {
            assert_eq!(
                asked, answered,
                "message {index}: every toolUse is answered by the next message"
            );
        }
    }
}

/// Returns `{"data": big_text("blob", bytes)}`.
struct BlobTool;

#[async_trait]
impl Tool for BlobTool {
    fn name(&self) -> &str {
        "blob"
    }
    fn description(&self) -> &str {
        "Returns a large text."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"bytes": {"type": "integer"}}})
    }
    async fn call(&self, input: Value) -> Result<Value, ToolError> {
        let bytes = input
            .get("bytes")
            .and_then(Value::as_u64)
            .ok_or_else(|| ToolError::invalid_input("`bytes` must be a number"))?;
        Ok(json!({ "data": big_text("blob", bytes as usize) }))
    }
}

/// What a [`StoreProbe`] saw in the store when an event came.
#[derive(Debug)]
struct Seen {
    event: &'static str,
    record: Option<Reasoning>,
    history_len: usize,
}

/// An observer that reads the store's latest record at each event.
struct StoreProbe {
    store: Arc<dyn SessionStore>,
    session: SessionId,
    seen: Mutex<Vec<Seen>>,
}

#[async_trait]
impl RunObserver for StoreProbe {
    async fn on_event(&self, event: RunEvent<'_>, _reasoning: &Reasoning) {
        let event = match event {
            RunEvent::Started => "started",
            RunEvent::StepStarted { .. } => "step",
            RunEvent::ToolFinished { .. } => "tool",
            RunEvent::Completed { .. } => "completed",
            _ => "other",
        };
        let record = self
            .store
            .latest_reasoning(&self.session)
            .await
            .expect("latest_reasoning during the run");
        let history_len = self
            .store
            .reasoning_history(&self.session)
            .await
            .expect("reasoning_history during the run")
            .len();
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                event,
                record,
                history_len,
            });
    }
}

/// A task that polls the store's latest record until stopped.
struct Poller {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(RunStatus, usize, usize)>>,
}

impl Poller {
    fn start(store: Arc<dyn SessionStore>, session: SessionId) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut polled = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                let latest = store.latest_reasoning(&session).await.expect("poll latest");
                let records = store
                    .reasoning_history(&session)
                    .await
                    .expect("poll history")
                    .len();
                if let Some(record) = latest {
                    polled.push((record.status, record.steps.len(), records));
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            polled
        });
        Self { stop, task }
    }

    /// Stops polling; returns `(status, steps, records in history)` of each poll that found a
    /// record.
    async fn stop(self) -> Vec<(RunStatus, usize, usize)> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the poller task")
    }
}

/// A store whose first `gated` loads each wait, after loading, until that many loads have
/// happened: runs started together then all compute from the same version.
#[derive(Debug)]
struct GatedLoads {
    inner: Arc<dyn SessionStore>,
    barrier: Barrier,
    gated: AtomicUsize,
}

#[async_trait]
impl SessionStore for GatedLoads {
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
        let snapshot = self.inner.load(session).await;
        let gate = self
            .gated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if gate {
            self.barrier.wait().await;
        }
        snapshot
    }
    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        self.inner.commit_run(session, commit).await
    }
    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        self.inner.save_reasoning(session, reasoning).await
    }
    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        self.inner.latest_reasoning(session).await
    }
    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        self.inner.reasoning_history(session).await
    }
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.inner.delete(session).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_text_is_deterministic_and_multibyte() {
        let text = big_text("x", 10_000);
        assert!(text.len() >= 10_000 && text.len() < 10_100);
        assert_eq!(text, big_text("x", 10_000));
        assert!(text.chars().any(|c| c.len_utf8() == 4));
        assert!(text.contains('"') && text.contains('\\') && text.contains('\n'));
    }

    #[test]
    fn every_check_has_a_unique_name_and_a_positive_ttl() {
        let names: HashSet<&str> = CHECKS.iter().map(Check::name).collect();
        assert_eq!(names.len(), CHECKS.len());
        assert!(CHECKS.iter().all(|check| !check.ttl().is_zero()));
    }

    #[test]
    #[should_panic(expected = "no conformance check named `nope`")]
    fn an_unknown_check_name_fails() {
        run_check("nope", async |_ttl: Duration| {
            crate::InMemorySessionStore::new()
        });
    }
}
