//! [`SessionRunner`]: running an agent loop in a session: load what the context policy needs,
//! run, record in real time, and commit the turn (see `commit`), saying precisely what happened
//! when something fails.

use std::sync::{Arc, PoisonError};

use agent_core::{AgentEvent, EventSink, Reasoning, RunOutcome, StateHandle};
use agent_loop::{AgentLoop, ContextCompactor, EventLog, RunInput};
use agent_session::{RunLease, SessionId, SessionStore};
use tokio::time::{Instant, timeout_at};
use tracing::Instrument;

use crate::cache::{ConversationCache, load};
use crate::context::{PolicyCompactor, prepare};
use crate::options::SessionOptions;
use crate::outcome::{SessionRunError, SessionRunOutput};
use crate::recorder::{Recorder, RecorderSettings};

/// Runs agent loops in sessions of one store. Cheap to clone; clones share the conversation
/// cache.
#[derive(Clone)]
pub struct SessionRunner {
    pub(crate) inner: Arc<RunnerInner>,
}

pub(crate) struct RunnerInner {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) options: SessionOptions,
    pub(crate) cache: ConversationCache,
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
        Box::pin(self.run_inner(agent_loop, session, input, sink, None))
            .instrument(span)
            .await
    }

    /// The run itself. Its future is large (it holds the loop's, the recorder's and the
    /// commit's state), so its callers box it: the futures they return stay small, and a task
    /// that runs one (each of the facade's runs is spawned) is not copied kilobytes at a time.
    pub(crate) async fn run_inner(
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
        let conversion = conversation.conversion.clone();
        // The summary a policy writes is the run's work: cancelled with it, its tokens
        // counted in its usage.
        let cancellation = input.cancellation.clone();
        let prepared = tokio::select! {
            prepared = prepare(
                &options.context,
                agent_loop.model(),
                conversation.turns,
                conversation.summary,
            ) => prepared,
            // Cancelled while summarising: the run starts without the new summary and ends
            // at once, cancelled.
            () = cancellation.cancelled() => prepare(&options.context, agent_loop.model(), Vec::new(), None).await,
        };
        let summary_usage = prepared.usage.clone();
        input.session_id = Some(session.to_string());
        input.history = prepared.history;
        input.conversion = Some(conversion);
        input.context_notes = prepared.notes;
        let compactor: Option<Arc<PolicyCompactor>> = prepared.compactor;
        input.compactor = compactor.clone().map(|c| c as Arc<dyn ContextCompactor>);
        input.state = StateHandle::new(head.state.clone());
        if input.interrupt_ttl.is_none() {
            // A call held for approval waits as long as the session lives.
            input.interrupt_ttl = store.time_to_live();
        }
        let run_id = input.run_id;

        // Real-time recording: claim a record (or keep the resumed one), then write as we go.
        let (lease, next_index) = match resumed {
            Some((lease, last_index)) => (Some(lease), last_index + 1),
            None if options.real_time => {
                let mut start = Reasoning::start(input.query_text(), Some(session.to_string()));
                start.run_id = run_id;
                input.started_at = start.started_at;
                match self.begin_run(session, &start).await {
                    Ok(lease) => (Some(lease), 1),
                    Err(error) => {
                        tracing::warn!(%error, "could not record the run in real time; it runs without");
                        (None, 1)
                    }
                }
            }
            None => (None, 1),
        };
        // The heartbeat cancels the run when another process takes it over: it gets a child of
        // the caller's token, so that a token the caller shares between runs is never
        // cancelled by one of them.
        let run_token = input.cancellation.child_token();
        input.cancellation = run_token.clone();
        let recorder = lease.map(|lease| {
            Recorder::start(
                store.clone(),
                session.clone(),
                lease,
                next_index,
                RecorderSettings {
                    text_flush_interval: options.text_flush_interval,
                    heartbeat_interval: options.heartbeat_interval,
                    lease_for: options.interrupted_after,
                },
                run_token,
            )
        });
        // A run not recorded in real time keeps its durable events, to record them if it
        // pauses (any tool may ask for approval when it runs, so every run may pause). They
        // are the run's own steps, which the run holds anyway.
        let collected = recorder.is_none().then(DurableEvents::default);
        let outcome = match (&recorder, &collected) {
            (Some(recorder), _) => {
                let log = recorder.sink();
                input.event_log = Some(Arc::new(log.clone()) as Arc<dyn EventLog>);
                let tee = Tee {
                    first: sink,
                    second: &log,
                };
                agent_loop.run(input, &tee).await
            }
            (None, Some(collected)) => {
                let tee = Tee {
                    first: sink,
                    second: collected,
                };
                agent_loop.run(input, &tee).await
            }
            (None, None) => agent_loop.run(input, sink).await,
        };
        // From here on every store call is bounded by the commit timeout: a store that hangs
        // cannot hold the run.
        let deadline = Instant::now() + options.commit_timeout;
        let mut recorded = false;
        if let Some(recorder) = &recorder {
            match timeout_at(deadline, recorder.flush()).await {
                Ok(all) => recorded = all,
                Err(_) => {
                    tracing::warn!(session = %session, "the run's real-time events were not all written before the commit timeout");
                }
            }
        }
        let summarised = *summary_usage.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = outcome
            .map(|mut result| {
                result.usage += summarised;
                result.reasoning.usage += summarised;
                result
            })
            .map_err(|mut failed| {
                failed.reasoning.usage += summarised;
                failed
            });
        let result = match outcome {
            Ok(result) => result,
            Err(failed) => {
                let record = self
                    .save_record(session, lease.as_ref(), &failed.reasoning, deadline)
                    .await;
                stop(recorder, deadline).await;
                return Err(SessionRunError::Run {
                    failed: Box::new(failed),
                    record: record.err(),
                });
            }
        };
        if result.outcome == RunOutcome::Paused {
            let events = collected.map(DurableEvents::take);
            let paused = self
                .pause(session, result, lease, recorded, events, deadline)
                .await;
            stop(recorder, deadline).await;
            return paused;
        }
        let summary = compactor.and_then(|c| c.new_summary());
        let committed = self
            .commit(
                session,
                head.version,
                result,
                summary.as_ref(),
                lease,
                deadline,
            )
            .await;
        if let Err(SessionRunError::Commit { result, .. }) = &committed {
            // The record says the run failed, as the turn was not kept (or may not have been):
            // a real-time record never stays `running`, to be read later as interrupted and
            // resumed. A record the commit wrote after all (a lost answer) is kept: the store
            // keeps one final record per run.
            let grace = Instant::now() + FAILED_RECORD_GRACE;
            if let Err(error) = self
                .save_record(session, lease.as_ref(), &result.reasoning, grace)
                .await
            {
                tracing::warn!(%error, "the record of a run whose turn was not kept could not be saved");
            }
        }
        stop(recorder, deadline).await;
        committed
    }
}

impl SessionRunner {
    /// Begins a real-time record, trying again while the store fails transiently or loses its
    /// answer: a repeated begin of the same run is recognised, so a lost answer never leaves a
    /// record behind that would read as a crashed run.
    pub(crate) async fn begin_run(
        &self,
        session: &SessionId,
        start: &Reasoning,
    ) -> Result<RunLease, agent_session::SessionError> {
        let store = &self.inner.store;
        let lease_for = self.inner.options.interrupted_after;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match store.begin_run(session, start, lease_for).await {
                Err(error)
                    if (error.is_retryable() || error.maybe_applied())
                        && attempt < BEGIN_ATTEMPTS =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(6)))
                        .await;
                }
                other => return other,
            }
        }
    }
}

/// How many times a run tries to begin its real-time record.
const BEGIN_ATTEMPTS: u32 = 6;

/// How long a run whose turn was not kept still tries to save its `failed` record, past the
/// commit timeout that ended its commit.
const FAILED_RECORD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Stops a recorder (its last events, then its heartbeat), waiting no later than `deadline`.
async fn stop(recorder: Option<Recorder>, deadline: Instant) {
    if let Some(recorder) = recorder
        && timeout_at(
            deadline.max(Instant::now() + FAILED_RECORD_GRACE),
            recorder.stop(),
        )
        .await
        .is_err()
    {
        tracing::warn!("the run's recorder did not stop in time; it was left behind");
    }
}

/// The durable events of a run, kept in memory.
#[derive(Default)]
struct DurableEvents(std::sync::Mutex<Vec<AgentEvent>>);

impl DurableEvents {
    fn take(self) -> Vec<AgentEvent> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventSink for DurableEvents {
    fn emit(&self, event: &AgentEvent) {
        if event.is_durable() {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event.clone());
        }
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
