//! The agent's side of sessions: run a query on top of a session's conversation and keep the
//! turn and its reasoning in a [`SessionStore`].

use agent_core::{
    AgentLoop, Message, Reasoning, RunError, RunEvent, RunFailure, RunObserver, RunStatus,
    async_trait,
};
use tracing::Instrument;

use crate::error::SessionError;
use crate::id::{InvalidSessionId, SessionId};
use crate::store::{RunCommit, SessionStore, SessionVersion};

/// How many times [`run_in_session`] tries to commit a run by default.
pub const DEFAULT_MAX_COMMIT_ATTEMPTS: u32 = 8;

/// How a session run keeps its turn and its reasoning.
///
/// ```
/// use agent_session::SessionRunOptions;
///
/// let options = SessionRunOptions::default().with_real_time_reasoning(true);
/// assert!(options.real_time_reasoning);
/// assert_eq!(options.max_commit_attempts, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRunOptions {
    /// Write the reasoning record while the run goes on: when it starts, after each thinking
    /// step and after each tool result, then once more when it ends. Off (the default), the
    /// record is written once, when the run ends.
    pub real_time_reasoning: bool,
    /// How many times to try to commit the run's messages when other runs of the same session
    /// keep committing first (default [`DEFAULT_MAX_COMMIT_ATTEMPTS`]; 0 counts as 1). Every
    /// failed attempt means another run's commit succeeded, so `n` concurrent runs of one
    /// session all get in with `n` attempts.
    pub max_commit_attempts: u32,
}

impl Default for SessionRunOptions {
    fn default() -> Self {
        Self {
            real_time_reasoning: false,
            max_commit_attempts: DEFAULT_MAX_COMMIT_ATTEMPTS,
        }
    }
}

impl SessionRunOptions {
    /// Turns real-time reasoning on or off.
    #[must_use]
    pub fn with_real_time_reasoning(mut self, enabled: bool) -> Self {
        self.real_time_reasoning = enabled;
        self
    }

    /// Sets how many times a commit is tried (0 counts as 1).
    #[must_use]
    pub fn with_max_commit_attempts(mut self, attempts: u32) -> Self {
        self.max_commit_attempts = attempts;
        self
    }
}

/// A run that completed and whose messages are in the session's conversation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionRunOutput {
    /// The final answer, with any `<thinking>` removed.
    pub response: String,
    /// The run's trace, as saved: `completed`, with `session_id` and `commit_conflicts` set.
    pub reasoning: Reasoning,
    /// The session's version right after this run's commit.
    pub version: SessionVersion,
    /// The messages this run added to the conversation: its query, the model's replies and the
    /// tool results, ending with the answer.
    pub messages: Vec<Message>,
}

/// A run that completed but whose messages are not in the session's conversation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UncommittedRun {
    /// The final answer the run gave.
    pub response: String,
    /// The run's trace: `failed`, with the store's error (kind `session.<kind>`) and the answer.
    pub reasoning: Reasoning,
    /// The messages the run would have added.
    pub messages: Vec<Message>,
}

/// Why a session run did not give a kept answer.
///
/// Each variant says what happened to the conversation and keeps whatever the run produced, so
/// an answer is never lost to a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRunError {
    /// The session id is not 1 to 128 characters of `[A-Za-z0-9_-]`; nothing was read or
    /// written.
    #[error(transparent)]
    InvalidSessionId(#[from] InvalidSessionId),
    /// The session's conversation could not be loaded; the run did not start and nothing was
    /// written.
    #[error("could not load the session: {0}")]
    Load(#[source] SessionError),
    /// The run failed (the model failed); the conversation is unchanged and the trace, saved as
    /// `failed`, holds the error.
    #[error("the run failed: {error}")]
    Run {
        /// Why the run failed.
        #[source]
        error: RunError,
        /// The run's trace up to the failure.
        reasoning: Box<Reasoning>,
    },
    /// The run completed, but its messages could not be added to the conversation (the store
    /// failed, or other runs kept committing first more than `max_commit_attempts` times). The
    /// conversation is unchanged; the answer is in `run`.
    #[error("the run completed but its turn was not kept: {error}")]
    Commit {
        /// What the store said.
        #[source]
        error: SessionError,
        /// The completed run.
        run: Box<UncommittedRun>,
    },
    /// The run completed and its messages are in the conversation, but its final reasoning
    /// record could not be saved. Running the query again would add the turn a second time.
    #[error("the run's turn was kept but its reasoning was not saved: {error}")]
    ReasoningNotSaved {
        /// What the store said.
        #[source]
        error: SessionError,
        /// The committed run.
        output: Box<SessionRunOutput>,
    },
}

impl SessionRunError {
    /// The store's error, when the store failed.
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            SessionRunError::Load(error)
            | SessionRunError::Commit { error, .. }
            | SessionRunError::ReasoningNotSaved { error, .. } => Some(error),
            SessionRunError::InvalidSessionId(_) | SessionRunError::Run { .. } => None,
        }
    }

    /// The run's error, when the run itself failed.
    pub fn run_error(&self) -> Option<&RunError> {
        match self {
            SessionRunError::Run { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The run's trace, when the run started.
    pub fn reasoning(&self) -> Option<&Reasoning> {
        match self {
            SessionRunError::Run { reasoning, .. } => Some(reasoning),
            SessionRunError::Commit { run, .. } => Some(&run.reasoning),
            SessionRunError::ReasoningNotSaved { output, .. } => Some(&output.reasoning),
            SessionRunError::InvalidSessionId(_) | SessionRunError::Load(_) => None,
        }
    }

    /// The run's answer, when the run completed (whether or not its turn was kept).
    pub fn response(&self) -> Option<&str> {
        match self {
            SessionRunError::Commit { run, .. } => Some(&run.response),
            SessionRunError::ReasoningNotSaved { output, .. } => Some(&output.response),
            _ => None,
        }
    }

    /// Whether the run's turn is in the session's conversation despite the error (only when
    /// the reasoning record could not be saved afterwards).
    pub fn is_committed(&self) -> bool {
        matches!(self, SessionRunError::ReasoningNotSaved { .. })
    }

    /// Whether the turn was not kept because other runs of the session kept committing first.
    pub fn is_conflict(&self) -> bool {
        matches!(self, SessionRunError::Commit { error, .. } if error.is_conflict())
    }
}

/// Runs `query` on top of the session's conversation and keeps the turn and its reasoning.
///
/// 1. Loads the conversation (and its version) from `store`.
/// 2. Runs [`AgentLoop::run`] on it, reporting each event to `observer`. With
///    [`real_time_reasoning`](SessionRunOptions::real_time_reasoning), the reasoning record is
///    written when the run starts, after each step and after each tool result, *before*
///    `observer` hears of the event; a failed write is logged and the run goes on.
/// 3. When the run completes, commits its messages on top of the loaded version. If another run
///    of the session committed first, re-reads the session and commits the same messages after
///    the other run's, so both turns are kept in commit order (a run's messages start with the
///    user's query and end with a complete assistant answer, so they can follow any other
///    turn). The trace's `commit_conflicts` counts these retries.
/// 4. Saves the final reasoning record (`completed`, or `failed` with the error).
///
/// A failed run leaves the conversation as it was.
///
/// # Errors
///
/// See [`SessionRunError`]: every variant says what happened to the conversation and keeps the
/// run's trace and answer when there is one.
pub async fn run_in_session(
    agent_loop: &AgentLoop,
    store: &dyn SessionStore,
    session: &SessionId,
    query: &str,
    options: &SessionRunOptions,
    observer: &dyn RunObserver,
) -> Result<SessionRunOutput, SessionRunError> {
    let span = tracing::info_span!("agent.session_run", session_id = %session);
    run(agent_loop, store, session, query, options, observer)
        .instrument(span)
        .await
}

/// [`run_in_session`] with the session id as text: an invalid id gives
/// [`SessionRunError::InvalidSessionId`] before anything is read or written.
///
/// # Errors
///
/// As [`run_in_session`], plus [`SessionRunError::InvalidSessionId`].
pub async fn run_in_session_str(
    agent_loop: &AgentLoop,
    store: &dyn SessionStore,
    session: &str,
    query: &str,
    options: &SessionRunOptions,
    observer: &dyn RunObserver,
) -> Result<SessionRunOutput, SessionRunError> {
    let session = SessionId::new(session)?;
    run_in_session(agent_loop, store, &session, query, options, observer).await
}

async fn run(
    agent_loop: &AgentLoop,
    store: &dyn SessionStore,
    session: &SessionId,
    query: &str,
    options: &SessionRunOptions,
    observer: &dyn RunObserver,
) -> Result<SessionRunOutput, SessionRunError> {
    let snapshot = store.load(session).await.map_err(SessionRunError::Load)?;
    let base = snapshot.version;
    let mut reasoning = Reasoning::start(query, Some(session.as_str().to_owned()));
    let session_observer = SessionObserver {
        store,
        session,
        real_time: options.real_time_reasoning,
        inner: observer,
    };
    let result = agent_loop
        .run(snapshot.messages, &mut reasoning, &session_observer)
        .await;
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            save_final(store, session, &reasoning).await.ok();
            return Err(SessionRunError::Run {
                error,
                reasoning: Box::new(reasoning),
            });
        }
    };
    let messages = output.new_messages().to_vec();
    let (committed, conflicts) = commit(store, session, &reasoning, base, &messages, options).await;
    reasoning.commit_conflicts = conflicts;
    let version = match committed {
        Ok(version) => version,
        Err(error) => {
            reasoning.status = RunStatus::Failed;
            reasoning.error = Some(RunFailure {
                kind: format!("session.{}", error.kind().as_str()),
                message: format!("the run's turn was not kept: {error}"),
            });
            save_final(store, session, &reasoning).await.ok();
            return Err(SessionRunError::Commit {
                error,
                run: Box::new(UncommittedRun {
                    response: output.response,
                    reasoning,
                    messages,
                }),
            });
        }
    };
    let saved = save_final(store, session, &reasoning).await;
    let output = SessionRunOutput {
        response: output.response,
        reasoning,
        version,
        messages,
    };
    match saved {
        Ok(()) => Ok(output),
        Err(error) => Err(SessionRunError::ReasoningNotSaved {
            error,
            output: Box::new(output),
        }),
    }
}

/// Commits the run's messages, re-basing them on the newest version after each conflict.
/// Returns the outcome and how many conflicts there were.
async fn commit(
    store: &dyn SessionStore,
    session: &SessionId,
    reasoning: &Reasoning,
    mut base: SessionVersion,
    messages: &[Message],
    options: &SessionRunOptions,
) -> (Result<SessionVersion, SessionError>, u32) {
    let attempts = options.max_commit_attempts.max(1);
    let mut conflicts = 0;
    loop {
        let commit = RunCommit {
            run_id: reasoning.run_id,
            base,
            messages,
        };
        match store.commit_run(session, commit).await {
            Ok(version) => return (Ok(version), conflicts),
            Err(error) if error.is_conflict() && conflicts + 1 < attempts => {
                conflicts += 1;
                tracing::debug!(
                    run_id = %reasoning.run_id,
                    %base,
                    conflicts,
                    "another run of the session committed first; committing after it"
                );
                match store.load(session).await {
                    Ok(snapshot) => base = snapshot.version,
                    Err(error) => return (Err(error), conflicts),
                }
            }
            Err(error) => {
                if error.is_conflict() {
                    tracing::warn!(
                        run_id = %reasoning.run_id,
                        attempts,
                        "other runs of the session kept committing first; the turn is not kept"
                    );
                }
                return (Err(error), conflicts);
            }
        }
    }
}

/// Saves the run's final reasoning record; a failure is logged and returned.
async fn save_final(
    store: &dyn SessionStore,
    session: &SessionId,
    reasoning: &Reasoning,
) -> Result<(), SessionError> {
    let saved = store.save_reasoning(session, reasoning).await;
    if let Err(error) = &saved {
        tracing::warn!(run_id = %reasoning.run_id, %error, "could not save the run's reasoning");
    }
    saved
}

/// Writes the reasoning record as the run goes (when real-time reasoning is on), then passes
/// each event on to the caller's observer.
struct SessionObserver<'a> {
    store: &'a dyn SessionStore,
    session: &'a SessionId,
    real_time: bool,
    inner: &'a dyn RunObserver,
}

#[async_trait]
impl RunObserver for SessionObserver<'_> {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        let write = self.real_time
            && matches!(
                event,
                RunEvent::Started | RunEvent::StepStarted { .. } | RunEvent::ToolFinished { .. }
            );
        if write && let Err(error) = self.store.save_reasoning(self.session, reasoning).await {
            tracing::warn!(
                run_id = %reasoning.run_id,
                %error,
                "real-time reasoning update failed; the run goes on"
            );
        }
        self.inner.on_event(event, reasoning).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use agent_core::{InferenceConfig, ModelError, ModelErrorKind, NoObserver, Tool, ToolSet};
    use agent_testkit::ScriptedModel;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::counting::CountingStore;
    use crate::error::SessionErrorKind;
    use crate::memory::InMemorySessionStore;
    use crate::store::SessionSnapshot;

    fn agent(model: &ScriptedModel) -> AgentLoop {
        let tools = ToolSet::new([Arc::new(agent_testkit::EchoTool) as Arc<dyn Tool>]).unwrap();
        AgentLoop::new(
            Arc::new(model.clone()),
            tools,
            "",
            5,
            InferenceConfig::default(),
        )
    }

    /// Two steps (one tool, then two), then an answer: 1 + 2 + 3 + 1 real-time writes.
    fn two_step_model() -> ScriptedModel {
        ScriptedModel::new()
            .then_tools(Some("one"), &[("echo", json!({"n": 1}))])
            .then_tools(
                Some("two"),
                &[("echo", json!({"n": 2})), ("echo", json!({"n": 3}))],
            )
            .then_text("Done.")
    }

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn turn(label: &str) -> Vec<Message> {
        vec![
            Message::user_text(format!("q {label}")),
            Message::assistant_text(format!("a {label}")),
        ]
    }

    /// A store that fails on demand, around an in-memory one.
    #[derive(Debug, Default)]
    struct Faulty {
        inner: InMemorySessionStore,
        fail_load: bool,
        commit_error: Option<SessionErrorKind>,
        fail_running_saves: bool,
        fail_final_saves: bool,
    }

    fn failure(kind: SessionErrorKind) -> SessionError {
        SessionError::new(kind, "injected failure")
    }

    #[async_trait]
    impl SessionStore for Faulty {
        async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
            if self.fail_load {
                return Err(failure(SessionErrorKind::Unavailable));
            }
            self.inner.load(session).await
        }
        async fn commit_run(
            &self,
            session: &SessionId,
            commit: RunCommit<'_>,
        ) -> Result<SessionVersion, SessionError> {
            match self.commit_error {
                Some(kind) => Err(failure(kind)),
                None => self.inner.commit_run(session, commit).await,
            }
        }
        async fn save_reasoning(
            &self,
            session: &SessionId,
            reasoning: &Reasoning,
        ) -> Result<(), SessionError> {
            let fail = if reasoning.is_finished() {
                self.fail_final_saves
            } else {
                self.fail_running_saves
            };
            if fail {
                return Err(failure(SessionErrorKind::Throttled));
            }
            self.inner.save_reasoning(session, reasoning).await
        }
        async fn latest_reasoning(
            &self,
            session: &SessionId,
        ) -> Result<Option<Reasoning>, SessionError> {
            self.inner.latest_reasoning(session).await
        }
        async fn reasoning_history(
            &self,
            session: &SessionId,
        ) -> Result<Vec<Reasoning>, SessionError> {
            self.inner.reasoning_history(session).await
        }
        async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
            self.inner.delete(session).await
        }
    }

    /// Commits another run's turn when the observed run completes, before its own commit.
    struct CommitsFirst {
        store: InMemorySessionStore,
        session: SessionId,
    }

    #[async_trait]
    impl RunObserver for CommitsFirst {
        async fn on_event(&self, event: RunEvent<'_>, _reasoning: &Reasoning) {
            if let RunEvent::Completed { .. } = event {
                let base = self.store.load(&self.session).await.unwrap().version;
                let other = turn("other");
                let commit = RunCommit {
                    run_id: Uuid::now_v7(),
                    base,
                    messages: &other,
                };
                self.store.commit_run(&self.session, commit).await.unwrap();
            }
        }
    }

    /// Records the name of every event it hears.
    #[derive(Default)]
    struct Events(Mutex<Vec<&'static str>>);

    #[async_trait]
    impl RunObserver for Events {
        async fn on_event(&self, event: RunEvent<'_>, _reasoning: &Reasoning) {
            let name = match event {
                RunEvent::Started => "started",
                RunEvent::StepStarted { .. } => "step",
                RunEvent::ToolFinished { .. } => "tool",
                RunEvent::Completed { .. } => "completed",
                RunEvent::Failed => "failed",
                _ => "other",
            };
            self.0.lock().unwrap().push(name);
        }
    }

    #[tokio::test]
    async fn a_conflict_commits_the_turn_after_the_other_runs() {
        let store = InMemorySessionStore::new();
        let session = id("conflict");
        let model = ScriptedModel::new().then_text("Mine.");
        let observer = CommitsFirst {
            store: store.clone(),
            session: session.clone(),
        };
        let output = run_in_session(
            &agent(&model),
            &store,
            &session,
            "q mine",
            &SessionRunOptions::default(),
            &observer,
        )
        .await
        .unwrap();
        assert_eq!(output.reasoning.commit_conflicts, 1);
        let loaded = store.load(&session).await.unwrap();
        assert_eq!(loaded.version, output.version);
        assert_eq!(
            loaded.messages,
            [turn("other"), output.messages.clone()].concat()
        );
        let record = store.latest_reasoning(&session).await.unwrap().unwrap();
        assert_eq!(record.commit_conflicts, 1);
        assert_eq!(record.status, RunStatus::Completed);
    }

    #[tokio::test]
    async fn a_commit_that_keeps_conflicting_gives_up_and_keeps_the_answer() {
        let faulty = Arc::new(Faulty {
            commit_error: Some(SessionErrorKind::Conflict),
            ..Faulty::default()
        });
        let store = CountingStore::new(faulty.clone());
        let session = id("giveup");
        let model = ScriptedModel::new().then_text("Lost?");
        let options = SessionRunOptions::default().with_max_commit_attempts(3);
        let error = run_in_session(&agent(&model), &store, &session, "q", &options, &NoObserver)
            .await
            .unwrap_err();
        assert!(error.is_conflict());
        assert!(!error.is_committed());
        assert_eq!(error.response(), Some("Lost?"));
        assert_eq!(
            error.session_error().map(SessionError::kind),
            Some(SessionErrorKind::Conflict)
        );
        let reasoning = error.reasoning().unwrap();
        assert_eq!(reasoning.commit_conflicts, 2);
        assert_eq!(reasoning.status, RunStatus::Failed);
        assert_eq!(reasoning.final_response.as_deref(), Some("Lost?"));
        assert_eq!(reasoning.error.as_ref().unwrap().kind, "session.conflict");
        let SessionRunError::Commit { run, .. } = &error else {
            panic!("expected a commit error, got {error:?}");
        };
        assert_eq!(run.messages.len(), 2);
        let calls = store.calls();
        assert_eq!((calls.load, calls.commit_run), (3, 3));
        assert_eq!(calls.save_reasoning, 1);
        let saved = faulty.latest_reasoning(&session).await.unwrap().unwrap();
        assert_eq!(&saved, reasoning, "the failed record is saved");
        assert!(faulty.load(&session).await.unwrap().messages.is_empty());
        assert!(error.to_string().contains("not kept"));
    }

    #[tokio::test]
    async fn zero_commit_attempts_still_try_once_and_other_store_errors_are_not_retried() {
        for (attempts, kind) in [
            (0, SessionErrorKind::Conflict),
            (8, SessionErrorKind::Unavailable),
        ] {
            let store = CountingStore::new(Arc::new(Faulty {
                commit_error: Some(kind),
                ..Faulty::default()
            }));
            let model = ScriptedModel::new().then_text("x");
            let options = SessionRunOptions::default().with_max_commit_attempts(attempts);
            let error = run_in_session(
                &agent(&model),
                &store,
                &id("once"),
                "q",
                &options,
                &NoObserver,
            )
            .await
            .unwrap_err();
            assert_eq!(error.session_error().unwrap().kind(), kind);
            assert_eq!(store.calls().commit_run, 1, "{kind:?}");
            assert_eq!(error.reasoning().unwrap().commit_conflicts, 0);
        }
    }

    #[tokio::test]
    async fn a_failed_run_keeps_the_conversation_and_saves_a_failed_record() {
        let memory = Arc::new(InMemorySessionStore::new());
        let store = CountingStore::new(memory.clone());
        let session = id("failed");
        let before = turn("before");
        memory
            .commit_run(
                &session,
                RunCommit {
                    run_id: Uuid::now_v7(),
                    base: SessionVersion::EMPTY,
                    messages: &before,
                },
            )
            .await
            .unwrap();
        let snapshot = memory.load(&session).await.unwrap();
        let model = ScriptedModel::new()
            .then_tools(None, &[("echo", json!({}))])
            .then_fail(ModelError::new(ModelErrorKind::Throttled, "slow down"));
        let error = run_in_session(
            &agent(&model),
            &store,
            &session,
            "q",
            &SessionRunOptions::default(),
            &NoObserver,
        )
        .await
        .unwrap_err();
        assert!(error.run_error().is_some());
        assert!(error.response().is_none());
        assert!(error.to_string().contains("slow down"), "{error}");
        let reasoning = error.reasoning().unwrap();
        assert_eq!(reasoning.status, RunStatus::Failed);
        assert_eq!(reasoning.session_id.as_deref(), Some("failed"));
        assert_eq!(memory.load(&session).await.unwrap(), snapshot);
        let saved = memory.latest_reasoning(&session).await.unwrap().unwrap();
        assert_eq!(&saved, reasoning);
        let calls = store.calls();
        assert_eq!((calls.commit_run, calls.save_reasoning), (0, 1));
    }

    #[tokio::test]
    async fn real_time_off_writes_the_record_once() {
        let store = CountingStore::new(Arc::new(InMemorySessionStore::new()));
        let events = Events::default();
        let output = run_in_session(
            &agent(&two_step_model()),
            &store,
            &id("quiet"),
            "q",
            &SessionRunOptions::default(),
            &events,
        )
        .await
        .unwrap();
        assert_eq!(output.reasoning.total_steps, 2);
        assert_eq!(store.calls().save_reasoning, 1);
        assert_eq!(
            *events.0.lock().unwrap(),
            [
                "started",
                "step",
                "tool",
                "step",
                "tool",
                "tool",
                "completed"
            ],
            "the caller's observer hears every event"
        );
    }

    #[tokio::test]
    async fn real_time_on_writes_at_start_after_each_step_and_tool_and_at_the_end() {
        let store = CountingStore::new(Arc::new(InMemorySessionStore::new()));
        let session = id("live");
        let events = Events::default();
        let options = SessionRunOptions::default().with_real_time_reasoning(true);
        let output = run_in_session(
            &agent(&two_step_model()),
            &store,
            &session,
            "q",
            &options,
            &events,
        )
        .await
        .unwrap();
        assert_eq!(store.calls().save_reasoning, 1 + 2 + 3 + 1);
        assert_eq!(events.0.lock().unwrap().len(), 7);
        let history = store.reasoning_history(&session).await.unwrap();
        assert_eq!(history, vec![output.reasoning]);

        // A failed run: start, its one step and tool, and the failed record.
        let model = ScriptedModel::new()
            .then_tools(None, &[("echo", json!({}))])
            .then_fail(ModelError::new(ModelErrorKind::Network, "down"));
        let before = store.calls().save_reasoning;
        run_in_session(&agent(&model), &store, &session, "q", &options, &NoObserver)
            .await
            .unwrap_err();
        assert_eq!(store.calls().save_reasoning - before, 1 + 1 + 1 + 1);
    }

    #[tokio::test]
    async fn a_failing_real_time_write_does_not_fail_the_run() {
        let faulty = Faulty {
            fail_running_saves: true,
            ..Faulty::default()
        };
        let session = id("flaky");
        let options = SessionRunOptions::default().with_real_time_reasoning(true);
        let output = run_in_session(
            &agent(&two_step_model()),
            &faulty,
            &session,
            "q",
            &options,
            &NoObserver,
        )
        .await
        .unwrap();
        assert_eq!(output.response, "Done.");
        let saved = faulty.latest_reasoning(&session).await.unwrap().unwrap();
        assert_eq!(saved.status, RunStatus::Completed);
    }

    #[tokio::test]
    async fn a_failing_final_save_is_reported_with_the_committed_output() {
        let faulty = Faulty {
            fail_final_saves: true,
            ..Faulty::default()
        };
        let session = id("unsaved");
        let model = ScriptedModel::new().then_text("Kept.");
        let error = run_in_session(
            &agent(&model),
            &faulty,
            &session,
            "q",
            &SessionRunOptions::default(),
            &NoObserver,
        )
        .await
        .unwrap_err();
        assert!(error.is_committed());
        assert_eq!(error.response(), Some("Kept."));
        assert_eq!(
            error.session_error().unwrap().kind(),
            SessionErrorKind::Throttled
        );
        let SessionRunError::ReasoningNotSaved { output, .. } = error else {
            panic!("expected ReasoningNotSaved");
        };
        let loaded = faulty.load(&session).await.unwrap();
        assert_eq!(loaded.version, output.version);
        assert_eq!(loaded.messages, output.messages);
        assert_eq!(output.reasoning.status, RunStatus::Completed);
    }

    #[tokio::test]
    async fn a_load_failure_runs_nothing_and_writes_nothing() {
        let store = CountingStore::new(Arc::new(Faulty {
            fail_load: true,
            ..Faulty::default()
        }));
        let model = ScriptedModel::new().then_text("never");
        let error = run_in_session(
            &agent(&model),
            &store,
            &id("down"),
            "q",
            &SessionRunOptions::default().with_real_time_reasoning(true),
            &NoObserver,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, SessionRunError::Load(_)));
        assert!(error.reasoning().is_none());
        assert_eq!(store.calls().total(), 1);
        assert!(model.requests().is_empty());
    }

    #[tokio::test]
    async fn the_text_entry_checks_the_id_before_any_call() {
        let store = CountingStore::new(Arc::new(InMemorySessionStore::new()));
        let model = ScriptedModel::new().then_text("ok");
        let options = SessionRunOptions::default();
        let error =
            run_in_session_str(&agent(&model), &store, "bad id", "q", &options, &NoObserver)
                .await
                .unwrap_err();
        assert!(matches!(error, SessionRunError::InvalidSessionId(_)));
        assert!(error.session_error().is_none() && error.reasoning().is_none());
        assert_eq!(store.calls().total(), 0);
        let output = run_in_session_str(&agent(&model), &store, "good", "q", &options, &NoObserver)
            .await
            .unwrap();
        assert_eq!(output.reasoning.session_id.as_deref(), Some("good"));
        assert_eq!(output.messages.len(), 2);
    }
}
