//! Runs that wait for a person: recording a paused run, listing the calls that wait, and
//! continuing a run with decisions from any process.
//!
//! A paused run is a record with status `paused`, its held calls in the trace
//! ([`Reasoning::pending_interrupts`]) and its durable events in the store; it holds no lease
//! and nothing runs for it. Answering it is a conditional write: the responder
//! [claims](SessionStore::claim_run) the record on the heartbeat it read, so of two responders
//! exactly one wins; the winner records the decisions ([`AgentEvent::InterruptAnswered`]),
//! then either pauses the run again (calls still wait) or continues it from its events, as a
//! resumed run: the calls that ran before the pause are not run again.

use agent_core::{
    AgentEvent, Decisions, EventSink, Interrupt, InterruptDecision, Reasoning, RunFailure,
    RunResult, RunStatus,
};
use agent_loop::{AgentLoop, RunInput};
use agent_session::{
    RunClaim, RunLease, RunRecord, SessionError, SessionErrorKind, SessionId, StoredEvent,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::commit::bounded;
use crate::outcome::{ResumeRefusal, SessionRunError, SessionRunOutput};
use crate::reader::{PAGE, all_events};
use crate::runner::SessionRunner;

/// A run waiting for decisions on its held calls.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PausedRun {
    /// The run's number in its session.
    pub run: u64,
    /// The run's id.
    pub run_id: Uuid,
    /// The run's query.
    pub query: String,
    /// The calls that wait, with their inputs and reasons.
    pub interrupts: Vec<Interrupt>,
}

impl PausedRun {
    fn of(record: &RunRecord) -> Option<Self> {
        (record.reasoning.status == RunStatus::Paused).then(|| PausedRun {
            run: record.run,
            run_id: record.reasoning.run_id,
            query: record.reasoning.query.clone(),
            interrupts: record.reasoning.pending_interrupts.clone(),
        })
    }
}

impl SessionRunner {
    /// Records a run that paused: its durable events (written now when the run was not
    /// recorded in real time) and its `paused` record, which releases its lease.
    pub(crate) async fn pause(
        &self,
        session: &SessionId,
        mut result: RunResult,
        lease: Option<RunLease>,
        recorded: bool,
        events: Option<Vec<AgentEvent>>,
        deadline: Instant,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let lease = match (lease, events) {
            (Some(lease), _) if recorded => Ok(lease),
            (Some(_), _) => Err(SessionError::new(
                SessionErrorKind::Unavailable,
                "the run's real-time events could not all be written, so it cannot be continued from them",
            )),
            (None, Some(events)) => {
                self.record_at_once(session, &result, events, deadline)
                    .await
            }
            (None, None) => Err(SessionError::new(
                SessionErrorKind::Unavailable,
                "the run's events were not kept, so it cannot be continued from them",
            )),
        };
        let saved = match lease {
            Ok(lease) => {
                self.save_record(session, Some(&lease), &result.reasoning, deadline)
                    .await
            }
            Err(error) => Err(error),
        };
        match saved {
            Ok(run) => {
                tracing::info!(
                    session = %session,
                    run,
                    held = result.pending_interrupts.len(),
                    "the run paused: calls wait for a decision"
                );
                Ok(SessionRunOutput {
                    result,
                    committed: None,
                    run: Some(run),
                })
            }
            Err(error) => {
                tracing::warn!(%error, session = %session, "the paused run could not be recorded; it fails");
                result.reasoning.status = RunStatus::Failed;
                result.reasoning.error = Some(RunFailure {
                    kind: "run.pause_not_recorded".to_owned(),
                    message: format!(
                        "the run paused but its held calls could not be recorded: {error}"
                    ),
                });
                let grace = Instant::now() + std::time::Duration::from_secs(5);
                let _ = self
                    .save_record(session, None, &result.reasoning, grace)
                    .await;
                Err(SessionRunError::Pause {
                    error,
                    result: Box::new(result),
                })
            }
        }
    }

    /// Records a run that was not recorded in real time, now: its record and its events.
    async fn record_at_once(
        &self,
        session: &SessionId,
        result: &RunResult,
        events: Vec<AgentEvent>,
        deadline: Instant,
    ) -> Result<RunLease, SessionError> {
        let store = &self.inner.store;
        let mut start = result.reasoning.clone();
        start.status = RunStatus::Running;
        let lease = bounded(
            deadline,
            "recording the paused run",
            self.begin_run(session, &start),
        )
        .await?;
        let stored: Vec<StoredEvent> = events
            .into_iter()
            .zip(1u32..)
            .map(|(event, index)| StoredEvent::new(index, event))
            .collect();
        for batch in stored.chunks(PAGE) {
            bounded(
                deadline,
                "recording the paused run's events",
                store.append_events(session, &lease, batch),
            )
            .await?;
        }
        Ok(lease)
    }

    /// The session's runs that wait for decisions, oldest first.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn paused_runs(&self, session: &SessionId) -> Result<Vec<PausedRun>, SessionError> {
        let store = &self.inner.store;
        let mut paused = Vec::new();
        let mut after = 0;
        loop {
            let page = store.runs(session, after, PAGE).await?;
            let full = page.len() == PAGE;
            for record in &page {
                paused.extend(PausedRun::of(record));
                after = record.run;
            }
            if !full {
                return Ok(paused);
            }
        }
    }

    /// The newest run that `wanted` picks.
    async fn find_run(
        &self,
        session: &SessionId,
        wanted: impl Fn(&RunRecord) -> bool,
    ) -> Result<Option<RunRecord>, SessionError> {
        let store = &self.inner.store;
        let mut found = None;
        let mut after = 0;
        loop {
            let page = store.runs(session, after, PAGE).await?;
            let full = page.len() == PAGE;
            if let Some(record) = page.iter().rev().find(|record| wanted(record)) {
                found = Some(record.clone());
            }
            after = page.last().map_or(after, |record| record.run);
            if !full {
                return Ok(found);
            }
        }
    }

    /// The paused run that `wanted` picks: the newest run first (the usual case), then every
    /// run, oldest first.
    async fn find_paused(
        &self,
        session: &SessionId,
        wanted: impl Fn(&RunRecord) -> bool,
    ) -> Result<RunRecord, SessionRunError> {
        let store = &self.inner.store;
        let paused =
            |record: &RunRecord| record.reasoning.status == RunStatus::Paused && wanted(record);
        let latest = store
            .latest_run(session)
            .await
            .map_err(SessionRunError::Load)?;
        if let Some(record) = latest.filter(|record| paused(record)) {
            return Ok(record);
        }
        let mut after = 0;
        loop {
            let page = store
                .runs(session, after, PAGE)
                .await
                .map_err(SessionRunError::Load)?;
            let full = page.len() == PAGE;
            if let Some(record) = page.iter().find(|record| paused(record)) {
                return Ok(record.clone());
            }
            after = page.last().map_or(after, |record| record.run);
            if !full {
                return Err(SessionRunError::not_resumable(ResumeRefusal::NothingPaused));
            }
        }
    }

    /// Claims the paused run that holds the decisions' interrupts and records the decisions:
    /// the conditional write of answering. Returns the run's record as answered, the lease,
    /// and the run's events (the decisions last).
    async fn record_decisions(
        &self,
        session: &SessionId,
        decisions: &Decisions,
        sink: &dyn EventSink,
    ) -> Result<Answered, SessionRunError> {
        let store = &self.inner.store;
        let options = &self.inner.options;
        let record = match decisions.iter().next() {
            Some((first, _)) => {
                let found = self
                    .find_paused(session, |record| {
                        record
                            .reasoning
                            .pending_interrupts
                            .iter()
                            .any(|i| i.id == *first)
                    })
                    .await;
                match found {
                    Ok(record) => record,
                    Err(not_found) => {
                        // Answered already (by another responder), or never asked.
                        let answered = self
                            .find_run(session, |record| {
                                record
                                    .reasoning
                                    .answered_interrupts
                                    .iter()
                                    .any(|a| a.interrupt.id == *first)
                            })
                            .await
                            .map_err(SessionRunError::Load)?;
                        return Err(match answered {
                            Some(record) => {
                                SessionRunError::not_resumable(ResumeRefusal::AlreadyAnswered {
                                    run: record.run,
                                })
                            }
                            None => not_found,
                        });
                    }
                }
            }
            // No decision: a run whose calls were all decided elsewhere, to continue.
            None => self
                .find_paused(session, |record| {
                    record.reasoning.pending_interrupts.is_empty()
                })
                .await
                .map_err(|_| SessionRunError::not_resumable(ResumeRefusal::NoDecisions))?,
        };
        let run = record.run;
        for (id, _) in decisions.iter() {
            if !record
                .reasoning
                .pending_interrupts
                .iter()
                .any(|i| i.id == *id)
            {
                return Err(SessionRunError::not_resumable(
                    ResumeRefusal::UnknownInterrupt {
                        run,
                        id: id.clone(),
                    },
                ));
            }
        }
        let now = options.clock.now();
        let answers: Vec<AgentEvent> = record
            .reasoning
            .pending_interrupts
            .iter()
            .filter_map(|interrupt| {
                let (_, decision) = decisions.iter().find(|(id, _)| **id == interrupt.id)?;
                let decision = if interrupt.is_expired(now) {
                    InterruptDecision::Expired
                } else {
                    decision.clone()
                };
                Some(AgentEvent::InterruptAnswered {
                    step: interrupt.step,
                    interrupt_id: interrupt.id.clone(),
                    decision,
                    answered_at: now,
                })
            })
            .collect();
        let mut reasoning: Reasoning = record.reasoning.clone();
        for answer in &answers {
            reasoning.apply(answer);
        }
        // The claim is the conditional write: on the heartbeat this responder read, so of
        // two responders exactly one wins. The claimed record holds the answers, so that the
        // other responder learns the calls were answered; readers of the running run fold its
        // events over the run as it began (see `reader::current_reasoning`).
        let mut running = reasoning.clone();
        running.status = RunStatus::Running;
        let claim = RunClaim::new(run, record.heartbeat_at, options.interrupted_after)
            .with_reasoning(running);
        let lease = store.claim_run(session, &claim).await.map_err(|error| {
            let reason = if error.is_conflict() {
                ResumeRefusal::AlreadyAnswered { run }
            } else {
                ResumeRefusal::ClaimFailed { run }
            };
            SessionRunError::NotResumable {
                reason,
                error: Some(error),
            }
        })?;
        let mut events: Vec<AgentEvent> = match all_events(&**store, session, run).await {
            Ok(events) => events.into_iter().map(|e| e.event).collect(),
            Err(error) => {
                self.release(session, &lease, &record.reasoning).await;
                return Err(SessionRunError::Load(error));
            }
        };
        let first_index = u32::try_from(events.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let stored: Vec<StoredEvent> = answers
            .iter()
            .cloned()
            .zip(first_index..)
            .map(|(event, index)| StoredEvent::new(index, event))
            .collect();
        if let Err(error) = store.append_events(session, &lease, &stored).await {
            // The decisions are not recorded: the run waits as it did.
            self.release(session, &lease, &record.reasoning).await;
            return Err(SessionRunError::NotResumable {
                reason: ResumeRefusal::ClaimFailed { run },
                error: Some(error),
            });
        }
        for answer in &answers {
            sink.emit(answer);
        }
        events.extend(answers);
        Ok(Answered {
            record,
            reasoning,
            lease,
            events,
        })
    }

    /// Pauses a claimed run again, as `reasoning` says (its lease released).
    async fn release(&self, session: &SessionId, lease: &RunLease, reasoning: &Reasoning) {
        let mut paused = reasoning.clone();
        paused.status = RunStatus::Paused;
        let deadline = Instant::now() + self.inner.options.commit_timeout;
        if let Err(error) = self
            .save_record(session, Some(lease), &paused, deadline)
            .await
        {
            // Its lease runs out, and it reads as interrupted: `resume` continues it.
            tracing::warn!(%error, session = %session, run = lease.run, "a paused run could not be released");
        }
    }

    /// Records decisions on a paused run's held calls, without continuing it: for a process
    /// that does not run the agent (an operator's CLI, an approval API). The run stays
    /// paused; a process with the agent continues it with [`respond`](Self::respond) and no
    /// decisions once every held call is decided. Returns the run as it now waits.
    ///
    /// # Errors
    ///
    /// As [`respond`](Self::respond).
    pub async fn decide(
        &self,
        session: &SessionId,
        decisions: &Decisions,
    ) -> Result<PausedRun, SessionRunError> {
        if decisions.is_empty() {
            return Err(SessionRunError::not_resumable(ResumeRefusal::NoDecisions));
        }
        let answered = self
            .record_decisions(session, decisions, &agent_core::NoEvents)
            .await?;
        let mut reasoning = answered.reasoning;
        reasoning.status = RunStatus::Paused;
        let deadline = Instant::now() + self.inner.options.commit_timeout;
        self.save_record(session, Some(&answered.lease), &reasoning, deadline)
            .await
            .map_err(|error| SessionRunError::NotResumable {
                reason: ResumeRefusal::ClaimFailed {
                    run: answered.lease.run,
                },
                error: Some(error),
            })?;
        let mut record = answered.record;
        record.reasoning = reasoning;
        PausedRun::of(&record)
            .ok_or_else(|| SessionRunError::not_resumable(ResumeRefusal::NothingPaused))
    }

    /// Answers a paused run's held calls, from any process: `decisions` by interrupt id
    /// (several at once, or some now and the rest later). An interrupt that expired is
    /// answered [`InterruptDecision::Expired`] whatever the decision given. Once every held
    /// call has a decision the run goes on from where it paused (nothing that ran runs again)
    /// and its turn is committed as any run's; until then it pauses again and the output says
    /// which calls still wait. With no decisions, it continues the run whose calls were all
    /// decided elsewhere ([`decide`](Self::decide)).
    ///
    /// # Errors
    ///
    /// [`SessionRunError::NotResumable`] with [`ResumeRefusal::NothingPaused`],
    /// [`ResumeRefusal::NoDecisions`], [`ResumeRefusal::UnknownInterrupt`], or
    /// [`ResumeRefusal::AlreadyAnswered`] when another responder won; otherwise as
    /// [`run`](Self::run).
    pub async fn respond(
        &self,
        agent_loop: &AgentLoop,
        session: &SessionId,
        decisions: &Decisions,
        cancellation: CancellationToken,
        sink: &dyn EventSink,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let answered = self.record_decisions(session, decisions, sink).await?;
        let Answered {
            record,
            mut reasoning,
            lease,
            events,
        } = answered;
        let run = record.run;
        if !reasoning.pending_interrupts.is_empty() {
            // Calls still wait: the run pauses again, its lease released.
            reasoning.status = RunStatus::Paused;
            let deadline = Instant::now() + self.inner.options.commit_timeout;
            self.save_record(session, Some(&lease), &reasoning, deadline)
                .await
                .map_err(|error| SessionRunError::NotResumable {
                    reason: ResumeRefusal::ClaimFailed { run },
                    error: Some(error),
                })?;
            let mut result = RunResult::new(String::new(), reasoning, Vec::new());
            result.outcome = agent_core::RunOutcome::Paused;
            result.pending_interrupts = result.reasoning.pending_interrupts.clone();
            return Ok(SessionRunOutput {
                result,
                committed: None,
                run: Some(run),
            });
        }
        let r = &record.reasoning;
        let last_index = u32::try_from(events.len()).unwrap_or(u32::MAX);
        let mut replay = vec![AgentEvent::RunStarted {
            run_id: r.run_id,
            session_id: r.session_id.clone(),
            query: r.query.clone(),
            started_at: r
                .started_at
                .unwrap_or_else(|| self.inner.options.clock.now()),
        }];
        replay.extend(events);
        let mut input = RunInput::resuming(replay);
        input.cancellation = cancellation;
        tracing::info!(session = %session, run, "continuing a paused run with its decisions");
        Box::pin(self.run_inner(agent_loop, session, input, sink, Some((lease, last_index)))).await
    }
}

/// A paused run claimed, with its decisions recorded.
struct Answered {
    /// The record as read before answering.
    record: RunRecord,
    /// The trace with the decisions applied.
    reasoning: Reasoning,
    lease: RunLease,
    /// Every event of the run, the decisions last.
    events: Vec<AgentEvent>,
}
