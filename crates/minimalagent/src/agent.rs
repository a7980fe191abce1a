//! [`Agent`]: runs, streams, sessions, following and resuming.

use std::sync::Arc;

use agent_core::{
    AgentEvent, CoalescingSender, Decisions, EventSink, Reasoning, RunResult, coalescing_channel,
};
use agent_loop::{AgentLoop, RunInput, StructuredAnswer};
use agent_runtime::{ConversationPage, FollowPosition, SessionRunner};
use agent_session::{SessionId, SessionStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::builder::AgentBuilder;
use crate::error::Error;
use crate::prompt::Prompt;
use crate::sessions::Sessions;
use crate::stream::{FollowStream, RunItem, RunStream, StreamSink};

/// An agent: a model, its tools and settings, and optionally a session store.
///
/// `Send + Sync` and cheap to clone (one `Arc`), so one agent serves many concurrent runs —
/// build it once at start-up (in a web server's state, or outside a Lambda handler).
///
/// Every way to run is the same loop: [`run`](Self::run) is [`stream`](Self::stream) read to
/// its end. In a session ([`run_in_session`](Self::run_in_session),
/// [`stream_in_session`](Self::stream_in_session)) the run starts from the session's
/// conversation and its turn and trace are kept.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

pub(crate) struct AgentInner {
    pub(crate) agent_loop: AgentLoop,
    pub(crate) sinks: Vec<Arc<dyn EventSink>>,
    pub(crate) sessions: Option<Sessions>,
    /// The runs under way (each on a task of its own), for [`Agent::wait_for_runs`].
    pub(crate) runs: TaskTracker,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("agent_loop", &self.inner.agent_loop)
            .field("sinks", &self.inner.sinks.len())
            .field("sessions", &self.inner.sessions)
            .finish()
    }
}

/// What a run task does.
pub(crate) enum Job {
    Run {
        prompt: Prompt,
        session: Option<SessionId>,
        structured: Option<StructuredAnswer>,
    },
    Resume {
        session: SessionId,
    },
    Respond {
        session: SessionId,
        decisions: Decisions,
    },
}

impl Agent {
    /// A builder with the defaults of the Python MinimalAgent.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    pub(crate) fn from_parts(inner: AgentInner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs a prompt without session memory.
    ///
    /// # Errors
    ///
    /// An [`Error`] of kind `Model`, `ContextWindowExceeded` or `Cancelled`, keeping the run's
    /// trace.
    pub async fn run(&self, prompt: impl Into<Prompt>) -> Result<RunResult, Error> {
        self.stream(prompt).result().await
    }

    /// Runs a prompt in a session: starts from the session's conversation (what the context
    /// policy lets the model see), and keeps the new turn and the run's trace. Two runs of one
    /// session at once are both kept, in the order they commit.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId` before any I/O for an id that is not 1 to 128 characters of
    /// `[A-Za-z0-9_-]`; `SessionsDisabled`; the run's errors; `Store` when the store failed —
    /// [`Error::turn`] says whether the turn was kept and [`Error::result`] keeps the answer.
    pub async fn run_in_session(
        &self,
        prompt: impl Into<Prompt>,
        session_id: &str,
    ) -> Result<RunResult, Error> {
        self.stream_in_session(prompt, session_id).result().await
    }

    /// Runs a prompt without session memory, as a stream of its events. Must be called within
    /// a Tokio runtime (the run goes on in a task of its own).
    pub fn stream(&self, prompt: impl Into<Prompt>) -> RunStream {
        self.launch(
            Ok(Job::Run {
                prompt: prompt.into(),
                session: None,
                structured: None,
            }),
            CancellationToken::new(),
        )
    }

    /// Runs a prompt in a session, as a stream of its events (see
    /// [`run_in_session`](Self::run_in_session) and [`RunStream`]).
    pub fn stream_in_session(&self, prompt: impl Into<Prompt>, session_id: &str) -> RunStream {
        let job = self.session_id(session_id).map(|session| Job::Run {
            prompt: prompt.into(),
            session: Some(session),
            structured: None,
        });
        self.launch(job, CancellationToken::new())
    }

    /// Continues the session's newest run, which was interrupted (its process died, was killed
    /// or lost the network, so it stopped heart-beating), from its last completed step: tool
    /// results already recorded are not run again. Needs real-time reasoning, which records the
    /// steps.
    ///
    /// # Errors
    ///
    /// `NotResumable` saying why when there is nothing to resume (the newest run ended, is
    /// still alive, was not recorded in real time, or another process resumed it first);
    /// otherwise as [`run_in_session`](Self::run_in_session).
    pub async fn resume(&self, session_id: &str) -> Result<RunResult, Error> {
        self.stream_resume(session_id).result().await
    }

    /// [`resume`](Self::resume) as a stream of the continued run's events: cancelled as any
    /// run's stream is (drop it, or [`RunStream::cancel`]).
    pub fn stream_resume(&self, session_id: &str) -> RunStream {
        let job = self
            .session_id(session_id)
            .map(|session| Job::Resume { session });
        self.launch(job, CancellationToken::new())
    }

    /// Answers the calls a paused run of the session holds for approval, from any process
    /// (a worker, an API handler, the CLI): `decisions` by interrupt id — approve, approve with
    /// another input, approve always, deny with a message, or answer in place of the tool.
    /// Once every held call has a decision the run goes on from where it paused (what ran
    /// before the pause does not run again) and its turn is kept; until then the result says
    /// [`RunOutcome::Paused`](crate::RunOutcome::Paused) with the calls still waiting.
    ///
    /// Answering is a conditional write: of two processes answering one run, one wins and the
    /// other gets `NotResumable` with [`ResumeRefusal::AlreadyAnswered`](crate::ResumeRefusal).
    /// A held call whose time ran out is answered as expired (denied), whatever the decision.
    ///
    /// With no decisions (`Decisions::new()`), it continues the session's paused run whose
    /// calls were all decided elsewhere ([`Sessions::decide`](crate::Sessions::decide): an
    /// operator's CLI, an approval API).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, `SessionsDisabled`; `NotResumable` saying why (nothing paused, an
    /// unknown interrupt id, answered elsewhere); otherwise as
    /// [`run_in_session`](Self::run_in_session).
    pub async fn respond(
        &self,
        session_id: &str,
        decisions: Decisions,
    ) -> Result<RunResult, Error> {
        self.stream_respond(session_id, decisions).result().await
    }

    /// [`respond`](Self::respond) as a stream of the continued run's events.
    pub fn stream_respond(&self, session_id: &str, decisions: Decisions) -> RunStream {
        let job = self
            .session_id(session_id)
            .map(|session| Job::Respond { session, decisions });
        self.launch(job, CancellationToken::new())
    }

    pub(crate) fn launch(
        &self,
        job: Result<Job, Error>,
        cancellation: CancellationToken,
    ) -> RunStream {
        let (reader, events) = coalescing_channel();
        let agent = self.clone();
        let token = cancellation.clone();
        self.inner
            .runs
            .spawn(async move { agent.drive(job, token, reader).await });
        RunStream::new(events, cancellation)
    }

    async fn drive(
        self,
        job: Result<Job, Error>,
        cancellation: CancellationToken,
        reader: CoalescingSender<RunItem>,
    ) {
        let sink = StreamSink {
            reader: &reader,
            sinks: &self.inner.sinks,
        };
        let outcome = match job {
            Err(error) => Err(error),
            Ok(job) => self.execute(job, cancellation, &sink).await,
        };
        match outcome {
            Ok(result) => sink.emit(&AgentEvent::RunFinished {
                result: Box::new(result),
            }),
            Err(error) => {
                if let Some(reasoning) = error.reasoning() {
                    self.inner.sinks.emit(&AgentEvent::RunEnded {
                        reasoning: Box::new(reasoning.clone()),
                    });
                }
                let _ = reader.send(RunItem::Failed(error));
            }
        }
    }

    async fn execute(
        &self,
        job: Job,
        cancellation: CancellationToken,
        sink: &dyn EventSink,
    ) -> Result<RunResult, Error> {
        let agent_loop = &self.inner.agent_loop;
        match job {
            Job::Run {
                prompt,
                session,
                structured,
            } => {
                let mut input = RunInput::with_content(prompt.into_blocks());
                input.cancellation = cancellation;
                input.structured = structured;
                match session {
                    // Boxed, as the session runner boxes its runs: the loop's state is
                    // kilobytes, and the task this runs in would otherwise be copied whole
                    // each time it moves.
                    None => Box::pin(agent_loop.run(input, sink))
                        .await
                        .map_err(Error::run_failed),
                    Some(session) => {
                        let runner = self.runner()?;
                        Ok(runner.run(agent_loop, &session, input, sink).await?.result)
                    }
                }
            }
            Job::Resume { session } => {
                let runner = self.runner()?;
                Ok(runner
                    .resume(agent_loop, &session, cancellation, sink)
                    .await?
                    .result)
            }
            Job::Respond { session, decisions } => {
                let runner = self.runner()?;
                Ok(runner
                    .respond(agent_loop, &session, &decisions, cancellation, sink)
                    .await?
                    .result)
            }
        }
    }

    pub(crate) fn session_id(&self, session_id: &str) -> Result<SessionId, Error> {
        let session = SessionId::new(session_id)?;
        self.runner()?;
        Ok(session)
    }

    pub(crate) fn runner(&self) -> Result<&SessionRunner, Error> {
        Ok(self.sessions()?.runner())
    }

    /// The agent's sessions: reading, following and deleting them.
    ///
    /// # Errors
    ///
    /// `SessionsDisabled` when the agent was built without sessions.
    pub fn sessions(&self) -> Result<&Sessions, Error> {
        self.inner
            .sessions
            .as_ref()
            .ok_or_else(Error::sessions_disabled)
    }

    /// The trace of the session's most recent run (see [`Sessions::get_reasoning`]).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, `SessionsDisabled`, or the store's `Store` error.
    pub async fn get_reasoning(&self, session_id: &str) -> Result<Option<Reasoning>, Error> {
        self.sessions()?.get_reasoning(session_id).await
    }

    /// The trace of every run of the session, oldest first, one per run (the Python
    /// MinimalAgent's `get_reasoning_history`).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, `SessionsDisabled`, or the store's `Store` error.
    pub async fn get_reasoning_history(&self, session_id: &str) -> Result<Vec<Reasoning>, Error> {
        self.sessions()?.reasoning_history(session_id).await
    }

    /// A page of the session's whole conversation, for audit: every stored turn (and summary),
    /// whatever the context policy shows the model. Start with `None`, then pass the page's
    /// `next`.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, `SessionsDisabled`, or the store's `Store` error.
    pub async fn conversation(
        &self,
        session_id: &str,
        page: Option<u64>,
    ) -> Result<ConversationPage, Error> {
        self.sessions()?.conversation(session_id, page, 50).await
    }

    /// Deletes the session's conversation and runs. A run of the session still going fails to
    /// commit (its turn is not kept) rather than bringing the conversation back.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, `SessionsDisabled`, or the store's `Store` error.
    pub async fn delete_session(&self, session_id: &str) -> Result<(), Error> {
        self.sessions()?.delete(session_id).await
    }

    /// Follows the session's runs from its first: the events of the run in progress and of
    /// later runs, as any process writes them, each with a position to resume from (see
    /// [`follow_from`](Self::follow_from)). Runs recorded in real time are seen as they
    /// happen; others when they end.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId` or `SessionsDisabled`.
    pub fn follow(&self, session_id: &str) -> Result<FollowStream, Error> {
        self.follow_from(session_id, FollowPosition::start())
    }

    /// Follows the session's runs from `position`: the events after the one that position was
    /// given with, exactly once each.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId` or `SessionsDisabled`.
    pub fn follow_from(
        &self,
        session_id: &str,
        position: FollowPosition,
    ) -> Result<FollowStream, Error> {
        self.sessions()?.follow(session_id, position)
    }

    /// Waits until every run of this agent under way has ended — committed its turn or saved
    /// its record —, including runs whose stream was dropped (a dropped stream cancels its run,
    /// which still saves its `cancelled` record). Call it before a process exits or a Lambda
    /// function's handler returns, so that no write is cut off. Runs started while it waits are
    /// waited for too.
    pub async fn wait_for_runs(&self) {
        let runs = &self.inner.runs;
        runs.close();
        runs.wait().await;
        runs.reopen();
    }

    /// How many runs of this agent are under way.
    pub fn runs_in_flight(&self) -> usize {
        self.inner.runs.len()
    }

    /// The loop this agent runs: its model, tools and step limit.
    pub fn agent_loop(&self) -> &AgentLoop {
        &self.inner.agent_loop
    }

    /// The session store, when sessions are on.
    pub fn session_store(&self) -> Option<&Arc<dyn SessionStore>> {
        self.inner.sessions.as_ref().map(Sessions::store)
    }
}
