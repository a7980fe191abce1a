//! Committing a run's turn without ever losing it: re-based after other runs' commits, repeated
//! when an outcome is unknown, until the commit timeout; and saving a failed run's record.

use std::future::Future;
use std::time::Duration;

use agent_core::{Reasoning, RunResult, RunStatus};
use agent_session::{Commit, RunLease, SessionError, SessionErrorKind, SessionId, SessionVersion};
use tokio::time::Instant;
use uuid::Uuid;

use crate::outcome::{SessionRunError, SessionRunOutput, TurnState};
use crate::runner::SessionRunner;

impl SessionRunner {
    /// Saves the record of a run that did not commit (failed, cancelled, or paused), trying a
    /// few times until `deadline` (writing it again is safe: the store keeps one record per
    /// run id).
    pub(crate) async fn save_record(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
        deadline: Instant,
    ) -> Result<u64, SessionError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let finished = bounded(
                deadline,
                "saving the run's record",
                self.inner.store.finish_run(session, lease, reasoning),
            )
            .await;
            match finished {
                Err(error) if error.kind() == SessionErrorKind::Timeout => {
                    tracing::warn!(%error, run_id = %reasoning.run_id, "could not save the run's record");
                    return Err(error);
                }
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
    /// recognises the run's own earlier commit), until `deadline`: every store call is bounded
    /// by it, so a store that hangs cannot hold the run.
    pub(crate) async fn commit(
        &self,
        session: &SessionId,
        mut base: SessionVersion,
        mut result: RunResult,
        summary: Option<&agent_session::Summary>,
        lease: Option<RunLease>,
        deadline: Instant,
    ) -> Result<SessionRunOutput, SessionRunError> {
        let store = &self.inner.store;
        let mut conflicts = 0u32;
        let mut unsure = false;
        let mut pause = Duration::from_millis(50);
        let run_id = result.reasoning.run_id;
        loop {
            result.reasoning.commit_conflicts = conflicts;
            let commit = Commit::new(run_id, base, &result.messages, &result.reasoning)
                .with_summary(summary)
                .with_lease(lease)
                .with_state(Some(&result.state_changes));
            let error = match bounded(deadline, "the commit", store.commit(session, commit)).await {
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
                    return Ok(SessionRunOutput {
                        result,
                        committed: Some(committed),
                        run: Some(committed.run),
                    });
                }
                Err(error) => error,
            };
            let now = tokio::time::Instant::now();
            if error.kind() == SessionErrorKind::InvalidInput && !result.state_changes.is_empty() {
                // The run's state changes, merged with what other runs wrote since, would make
                // the state too large: the turn is kept without them rather than lost.
                tracing::warn!(%error, session = %session, "the run's session state changes were not kept: the state would be too large");
                result.state_changes = agent_core::StateChanges::new();
                continue;
            }
            if error.is_conflict() {
                match bounded(deadline, "reading the head", store.head(session)).await {
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

    pub(crate) fn not_kept(
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
}

/// A pseudo-random number below `max` (at least 1), for backoff jitter.
fn jitter_ms(max: u64) -> u64 {
    let random = (Uuid::now_v7().as_u128() & 0xffff_ffff) as u64;
    random % max.max(1)
}

/// `call`, or a timeout error once `deadline` passes. The call may have been applied (its
/// answer never came): the error says so.
pub(crate) async fn bounded<T>(
    deadline: Instant,
    what: &str,
    call: impl Future<Output = Result<T, SessionError>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(SessionError::new(
            SessionErrorKind::Timeout,
            format!("{what} did not answer before the commit timeout"),
        )
        .with_maybe_applied()),
    }
}
