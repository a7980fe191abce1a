//! Resuming a run whose process stopped heart-beating, from its last recorded step.

use agent_core::{AgentEvent, EventSink, RunStatus};
use agent_loop::{AgentLoop, RunInput};
use agent_session::{RunClaim, SessionId};
use tokio_util::sync::CancellationToken;

use crate::outcome::{ResumeRefusal, SessionRunError, SessionRunOutput};
use crate::reader::{all_events, is_interrupted};
use crate::runner::SessionRunner;

impl SessionRunner {
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
            .ok_or_else(|| SessionRunError::not_resumable(ResumeRefusal::NoRuns))?;
        let run = record.run;
        if record.reasoning.status != RunStatus::Running {
            return Err(SessionRunError::not_resumable(ResumeRefusal::Ended {
                run,
                status: record.reasoning.status.clone(),
            }));
        }
        if !is_interrupted(&record, &*options.clock, options.interrupted_after) {
            return Err(SessionRunError::not_resumable(ResumeRefusal::StillAlive {
                run,
            }));
        }
        let events = all_events(&**store, session, record.run)
            .await
            .map_err(SessionRunError::Load)?;
        if events.is_empty() && record.lease.is_none() {
            return Err(SessionRunError::not_resumable(ResumeRefusal::NotRecorded {
                run,
            }));
        }
        let lease = store
            .claim_run(
                session,
                &RunClaim::new(record.run, record.heartbeat_at, options.interrupted_after),
            )
            .await
            .map_err(|error| {
                // A conflict is another resumer's win; anything else is the store failing, and
                // says so (a throttled claim is not "resumed elsewhere").
                let reason = if error.is_conflict() {
                    ResumeRefusal::TakenOver { run }
                } else {
                    ResumeRefusal::ClaimFailed { run }
                };
                SessionRunError::NotResumable {
                    reason,
                    error: Some(error),
                }
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
        Box::pin(self.run_inner(agent_loop, session, input, sink, Some((lease, last_index)))).await
    }
}
