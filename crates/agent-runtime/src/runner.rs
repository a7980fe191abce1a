//! Running an agent loop in a session: load what the context policy needs, run, record in real
//! time, commit the turn without ever losing it, and say precisely what happened when something
//! fails.

use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    AgentEvent, AgentLoop, ContextCompactor, EventSink, FailedRun, Reasoning, RunInput, RunResult,
    RunStatus,
};
use agent_session::{
    Clock, Commit, Committed, RunLease, SessionError, SessionId, SessionStore, SessionVersion,
    SystemClock,
};
use futures::Stream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::cache::{ConversationCache, DEFAULT_CACHE_BYTES, DEFAULT_CACHED_SESSIONS, load};
use crate::context::{ContextPolicy, PolicyCompactor, prepare};
use crate::follow::{FollowOptions, FollowPosition, FollowedEvent, follow};
use crate::reader::{all_events, is_interrupted, latest_reasoning, reasoning_history};
use crate::recorder::{Recorder, RecorderSettings};

/// How long a run keeps trying to commit its turn by default (conflicts with other runs are
/// re-based and retried until then; a store that stays down is retried until then).
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a run recorded in real time says it is alive, by default.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a run may go without a heartbeat before readers call it interrupted, by default.
pub const DEFAULT_INTERRUPTED_AFTER: Duration = Duration::from_secs(30);
/// How often streamed text is written to a real-time log at most, by default.
pub const DEFAULT_TEXT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How runs use a session store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Record each run's events as they happen, so other processes can follow it and a crashed
    /// run can be resumed (the seed's `real_time_reasoning`). Off by default.
    pub real_time: bool,
    /// What the model sees of the conversation.
    pub context: ContextPolicy,
    /// How long a run keeps trying to commit its turn.
    pub commit_timeout: Duration,
    /// How often a real-time run beats its heart.
    pub heartbeat_interval: Duration,
    /// How long without a heartbeat makes a run interrupted.
    pub interrupted_after: Duration,
    /// How often streamed text is written at most (real-time runs).
    pub text_flush_interval: Duration,
    /// The time, for heartbeats and interruption.
    pub clock: Arc<dyn Clock>,
    /// How many sessions' conversations a process keeps to load incrementally.
    pub cached_sessions: usize,
    /// How many bytes of messages that cache holds at most.
    pub cache_bytes: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            real_time: false,
            context: ContextPolicy::WholeHistory,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            interrupted_after: DEFAULT_INTERRUPTED_AFTER,
            text_flush_interval: DEFAULT_TEXT_FLUSH_INTERVAL,
            clock: Arc::new(SystemClock),
            cached_sessions: DEFAULT_CACHED_SESSIONS,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl SessionOptions {
    /// Turns real-time recording on or off.
    #[must_use]
    pub fn with_real_time(mut self, real_time: bool) -> Self {
        self.real_time = real_time;
        self
    }

    /// Sets the context policy.
    #[must_use]
    pub fn with_context(mut self, context: ContextPolicy) -> Self {
        self.context = context;
        self
    }

    /// Sets how long a commit keeps trying.
    #[must_use]
    pub fn with_commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// Sets the heartbeat interval and the silence that makes a run interrupted.
    #[must_use]
    pub fn with_heartbeat(mut self, interval: Duration, interrupted_after: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.interrupted_after = interrupted_after;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// Whether a run's turn is in its session's conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TurnState {
    /// The turn is in the conversation.
    Kept,
    /// The turn is not in the conversation; running the query again adds it once.
    NotKept,
    /// The store did not answer whether the turn was kept before the commit timeout (its
    /// responses were lost). Running the query again may add it twice; read the conversation
    /// first.
    Unknown,
}

/// A run in a session that completed and whose turn is kept.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionRunOutput {
    /// The run's result; its trace is the one stored.
    pub result: RunResult,
    /// What the commit did.
    pub committed: Committed,
}

/// Why a run in a session did not give a kept answer. Each variant says what happened to the
/// conversation ([`turn`](Self::turn)) and keeps whatever the run produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRunError {
    /// The session could not be read; the run did not start and nothing was written.
    #[error("could not load the session: {0}")]
    Load(#[source] SessionError),
    /// The run did not complete (the model failed, it was cancelled, …); the conversation is
    /// unchanged and the run's record says why.
    #[error("{}", .failed.error)]
    Run {
        /// The failed run, with its trace and the messages it produced.
        failed: Box<FailedRun>,
        /// Whether its record could be saved.
        record: Option<SessionError>,
    },
    /// The run completed but its turn could not be committed before the commit timeout; the
    /// answer is in `result`.
    #[error("the run completed but its turn was not kept: {error}")]
    Commit {
        /// The store's last error.
        error: SessionError,
        /// The completed run.
        result: Box<RunResult>,
        /// Whether the turn is in the conversation: `NotKept` or `Unknown`.
        turn: TurnState,
    },
    /// There is no interrupted run to resume, or it cannot be resumed; the reason says which.
    #[error("cannot resume: {0}")]
    NotResumable(String),
}

impl SessionRunError {
    /// Whether the run's turn is in the session's conversation.
    pub fn turn(&self) -> TurnState {
        match self {
            SessionRunError::Commit { turn, .. } => *turn,
            _ => TurnState::NotKept,
        }
    }

    /// The store's error, when the store failed.
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            SessionRunError::Load(error) | SessionRunError::Commit { error, .. } => Some(error),
            SessionRunError::Run { record, .. } => record.as_ref(),
            SessionRunError::NotResumable(_) => None,
        }
    }
}

/// Runs agent loops in sessions of one store. Cheap to clone; clones share the conversation
/// cache.
#[derive(Clone)]
pub struct SessionRunner {
    inner: Arc<RunnerInner>,
}

struct RunnerInner {
    store: Arc<dyn SessionStore>,
    options: SessionOptions,
    cache: ConversationCache,
}

impl std::fmt::Debug for SessionRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRunner")
            .field("store", &self.inner.store)
            .field("options", &self.inner.options)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl SessionRunner {
    /// Runs in `store` with `options`.
    pub fn new(store: Arc<dyn SessionStore>, options: SessionOptions) -> Self {
        let cache = ConversationCache::new(options.cached_sessions, options.cache_bytes);
        Self {
            inner: Arc::new(RunnerInner {
                store,
                options,
                cache,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The options.
    pub fn options(&self) -> &SessionOptions {
        &self.inner.options
    }

    /// How many sessions' conversations this runner holds in its cache.
    pub fn cached_sessions(&self) -> usize {
        self.inner.cache.len()
    }

    /// Runs `input` in `session`: loads what the context policy needs (only the entries written
    /// since this process last saw the session), runs the loop reporting every event to `sink`,
    /// and commits the turn with the run's record. With real-time recording the run's events
    /// are written as they happen and its heartbeat beats until it ends.
    ///
    /// The caller reports the run's end to its own listeners (`RunFinished`, `RunEnded`).
    ///
    /// # Errors
    ///
    /// See [`SessionRunError`]: every variant says whether the turn is kept and keeps what the
    /// run produced.
    pub async fn run(
        &self,
        agent_loop: &AgentLoop,
        session: &SessionId,
        input: RunInput,
        sink: &dyn EventSink,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let span = tracing::info_span!("session_run", session_id = %session);
        self.run_inner(agent_loop, session, input, sink, None)
            .instrument(span)
            .await
    }

    async fn run_inner(
        &self,
        agent_loop: &AgentLoop,
        session: &SessionId,
        mut input: RunInput,
        sink: &dyn EventSink,
        resumed: Option<(RunLease, u32)>,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let store = &self.inner.store;
        let options = &self.inner.options;
        let (head, conversation) = load(&**store, &self.inner.cache, session, &options.context)
            .await
            .map_err(SessionRunError::Load)?;
        let prepared = prepare(
            &options.context,
            agent_loop.model(),
            conversation.turns,
            conversation.summary,
        )
        .await;
        input.session_id = Some(session.to_string());
        input.history = prepared.history;
        input.context_notes = prepared.notes;
        let compactor: Option<Arc<PolicyCompactor>> = prepared.compactor;
        input.compactor = compactor.clone().map(|c| c as Arc<dyn ContextCompactor>);
        let run_id = input.run_id;

        // Real-time recording: claim a record (or keep the resumed one), then write as we go.
        let (lease, next_index) = match resumed {
            Some((lease, last_index)) => (Some(lease), last_index + 1),
            None if options.real_time => {
                let mut start = Reasoning::start(input.query_text(), Some(session.to_string()));
                start.run_id = run_id;
                input.started_at = start.started_at;
                match store.begin_run(session, &start).await {
                    Ok(lease) => (Some(lease), 1),
                    Err(error) => {
                        tracing::warn!(%error, "could not record the run in real time; it runs without");
                        (None, 1)
                    }
                }
            }
            None => (None, 1),
        };
        let recorder = lease.map(|lease| {
            Recorder::start(
                store.clone(),
                session.clone(),
                lease,
                next_index,
                RecorderSettings {
                    text_flush_interval: options.text_flush_interval,
                    heartbeat_interval: options.heartbeat_interval,
                },
                input.cancellation.clone(),
            )
        });
        let outcome = match &recorder {
            Some(recorder) => {
                let tee = Tee {
                    first: sink,
                    second: &recorder.sink(),
                };
                agent_loop.run(input, &tee).await
            }
            None => agent_loop.run(input, sink).await,
        };
        if let Some(recorder) = &recorder {
            recorder.flush().await;
        }
        let result = match outcome {
            Ok(result) => result,
            Err(failed) => {
                let record = self
                    .save_failed(session, lease.as_ref(), &failed.reasoning)
                    .await;
                if let Some(recorder) = recorder {
                    recorder.stop().await;
                }
                return Err(SessionRunError::Run {
                    failed: Box::new(failed),
                    record: record.err(),
                });
            }
        };
        let summary = compactor.and_then(|c| c.new_summary());
        let committed = self
            .commit(session, head.version, result, summary.as_ref(), lease)
            .await;
        if let Some(recorder) = recorder {
            recorder.stop().await;
        }
        committed
    }

    /// Saves a failed or cancelled run's record, trying a few times.
    async fn save_failed(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.store.finish_run(session, lease, reasoning).await {
                Err(error) if (error.is_retryable() || error.maybe_applied()) && attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, run_id = %reasoning.run_id, "could not save the run's record");
                    return Err(error);
                }
                Ok(run) => return Ok(run),
            }
        }
    }

    /// Commits the run's turn on `base`, re-basing it after other runs' commits (both turns
    /// are kept, in commit order) and repeating a commit whose outcome was unknown (the store
    /// recognises the run's own earlier commit), until the commit timeout.
    async fn commit(
        &self,
        session: &SessionId,
        mut base: SessionVersion,
        mut result: RunResult,
        summary: Option<&agent_session::Summary>,
        lease: Option<RunLease>,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let store = &self.inner.store;
        let deadline = tokio::time::Instant::now() + self.inner.options.commit_timeout;
        let mut conflicts = 0u32;
        let mut unsure = false;
        let mut pause = Duration::from_millis(50);
        let run_id = result.reasoning.run_id;
        loop {
            result.reasoning.commit_conflicts = conflicts;
            let commit = Commit::new(run_id, base, &result.messages, &result.reasoning)
                .with_summary(summary)
                .with_lease(lease);
            let error = match store.commit(session, commit).await {
                Ok(committed) => {
                    if !committed.replayed {
                        self.inner.cache.record_commit(
                            session,
                            base,
                            committed.version,
                            summary,
                            &result.messages,
                        );
                    }
                    if conflicts > 0 {
                        tracing::debug!(conflicts, "the turn was committed after other runs'");
                    }
                    result.reasoning.status = RunStatus::Completed;
                    return Ok(SessionRunOutput { result, committed });
                }
                Err(error) => error,
            };
            let now = tokio::time::Instant::now();
            if error.is_conflict() {
                match store.head(session).await {
                    Ok(head) if head.version == base => {
                        // Nothing moved: the conflict was the run's lease (another process
                        // took the run over). The turn belongs to that process now.
                        return Err(self.not_kept(error, result, TurnState::NotKept));
                    }
                    Ok(head) => {
                        conflicts += 1;
                        base = head.version;
                        // Losers retry sooner the more often they lost, so none starves.
                        let jitter = jitter_ms(40 / u64::from(conflicts.min(40)));
                        tokio::time::sleep(Duration::from_millis(jitter)).await;
                    }
                    Err(head_error) => {
                        unsure |= head_error.maybe_applied();
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            } else if error.is_retryable() || error.maybe_applied() {
                unsure |= error.maybe_applied();
                tracing::debug!(%error, "commit failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            } else {
                let turn = if unsure {
                    TurnState::Unknown
                } else {
                    TurnState::NotKept
                };
                return Err(self.not_kept(error, result, turn));
            }
            if now >= deadline {
                let turn = if unsure || error.maybe_applied() {
                    TurnState::Unknown
                } else {
                    TurnState::NotKept
                };
                return Err(self.not_kept(error, result, turn));
            }
        }
    }

    fn not_kept(
        &self,
        error: SessionError,
        mut result: RunResult,
        turn: TurnState,
    ) -> SessionRunError {
        tracing::warn!(%error, ?turn, "the run completed but its turn was not kept");
        result.reasoning.status = RunStatus::Failed;
        result.reasoning.error = Some(agent_core::RunFailure {
            kind: format!("session.{}", error.kind().as_str()),
            message: format!("the run's turn was not kept: {error}"),
        });
        SessionRunError::Commit {
            error,
            result: Box::new(result),
            turn,
        }
    }

    /// Continues the session's newest run, interrupted when its process stopped heart-beating,
    /// from its last completed step: tool results already recorded are not run again.
    ///
    /// # Errors
    ///
    /// [`SessionRunError::NotResumable`] when the newest run is not interrupted (it ended, or
    /// is still alive), was not recorded in real time, or another process resumed it first;
    /// otherwise as [`run`](Self::run).
    pub async fn resume(
        &self,
        agent_loop: &AgentLoop,
        session: &SessionId,
        cancellation: CancellationToken,
        sink: &dyn EventSink,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let store = &self.inner.store;
        let options = &self.inner.options;
        let record = store
            .latest_run(session)
            .await
            .map_err(SessionRunError::Load)?
            .ok_or_else(|| SessionRunError::NotResumable("the session has no runs".into()))?;
        if record.reasoning.status != RunStatus::Running {
            return Err(SessionRunError::NotResumable(format!(
                "the newest run ({}) is {}, not interrupted",
                record.run, record.reasoning.status
            )));
        }
        if !is_interrupted(&record, &*options.clock, options.interrupted_after) {
            return Err(SessionRunError::NotResumable(format!(
                "the newest run ({}) is still alive: it beat its heart within {:?}",
                record.run, options.interrupted_after
            )));
        }
        let events = all_events(&**store, session, record.run)
            .await
            .map_err(SessionRunError::Load)?;
        if events.is_empty() && record.lease.is_none() {
            return Err(SessionRunError::NotResumable(
                "the run was not recorded in real time, so its steps are unknown".into(),
            ));
        }
        let lease = store
            .claim_run(session, record.run, record.heartbeat_at)
            .await
            .map_err(|error| {
                SessionRunError::NotResumable(format!("another process resumed it first: {error}"))
            })?;
        let last_index = events.last().map_or(0, |e| e.index);
        let r = &record.reasoning;
        let mut replay = vec![AgentEvent::RunStarted {
            run_id: r.run_id,
            session_id: r.session_id.clone(),
            query: r.query.clone(),
            started_at: r.started_at.unwrap_or_else(|| options.clock.now()),
        }];
        replay.extend(events.into_iter().map(|e| e.event));
        let mut input = RunInput::resuming(replay);
        input.cancellation = cancellation;
        tracing::info!(session = %session, run = record.run, "resuming an interrupted run");
        self.run_inner(agent_loop, session, input, sink, Some((lease, last_index)))
            .await
    }

    /// The trace of the session's newest run (folded from its events while it runs;
    /// `interrupted` when its process stopped heart-beating).
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        let options = &self.inner.options;
        latest_reasoning(
            &*self.inner.store,
            session,
            &*options.clock,
            options.interrupted_after,
        )
        .await
    }

    /// The traces of every run of the session, oldest first.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn reasoning_history(
        &self,
        session: &SessionId,
    ) -> Result<Vec<Reasoning>, SessionError> {
        let options = &self.inner.options;
        reasoning_history(
            &*self.inner.store,
            session,
            &*options.clock,
            options.interrupted_after,
        )
        .await
    }

    /// Follows the session's runs from `position` (see [`FollowPosition`]).
    pub fn follow(
        &self,
        session: &SessionId,
        position: FollowPosition,
    ) -> impl Stream<Item = Result<FollowedEvent, SessionError>> + Send + 'static {
        let options = &self.inner.options;
        follow(
            self.inner.store.clone(),
            session.clone(),
            position,
            FollowOptions {
                min_poll: Duration::from_millis(100),
                max_poll: Duration::from_secs(2),
                interrupted_after: options.interrupted_after,
                clock: options.clock.clone(),
            },
        )
    }

    /// Deletes the session and forgets it.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.inner.cache.forget(session);
        self.inner.store.delete(session).await
    }

    /// A page of the session's conversation for audit: the messages of the entries from `from`
    /// (the first entry when `None`), at most `limit` entries, and where the next page starts.
    ///
    /// # Errors
    ///
    /// The store's error; [`SessionErrorKind::NotFound`](agent_session::SessionErrorKind::NotFound) for a page outside the session.
    pub async fn conversation(
        &self,
        session: &SessionId,
        from: Option<u64>,
        limit: usize,
    ) -> Result<ConversationPage, SessionError> {
        let head = self.inner.store.head(session).await?;
        if head.version.is_empty() {
            return Ok(ConversationPage::default());
        }
        let from = from.unwrap_or(head.first_seq).max(head.first_seq);
        if from > head.last_seq() {
            return Ok(ConversationPage::default());
        }
        let to = from
            .saturating_add(limit.max(1) as u64 - 1)
            .min(head.last_seq());
        let entries = self.inner.store.entries(session, from, to).await?;
        Ok(ConversationPage {
            entries,
            next: (to < head.last_seq()).then_some(to + 1),
        })
    }
}

/// A page of a session's conversation.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConversationPage {
    /// The entries (turns and summaries), in order.
    pub entries: Vec<agent_session::Entry>,
    /// Where the next page starts, if there is one.
    pub next: Option<u64>,
}

impl ConversationPage {
    /// The messages of the page's turns, in order.
    pub fn messages(&self) -> Vec<agent_core::Message> {
        self.entries
            .iter()
            .flat_map(|entry| entry.body.messages().iter().cloned())
            .collect()
    }
}

/// Two sinks, in order.
struct Tee<'a> {
    first: &'a dyn EventSink,
    second: &'a dyn EventSink,
}

impl EventSink for Tee<'_> {
    fn emit(&self, event: &AgentEvent) {
        self.first.emit(event);
        self.second.emit(event);
    }
}

/// A pseudo-random number below `max` (at least 1), for backoff jitter.
fn jitter_ms(max: u64) -> u64 {
    let random = (Uuid::now_v7().as_u128() & 0xffff_ffff) as u64;
    random % max.max(1)
}
