//! What a run in a session gives back: [`SessionRunOutput`], or a [`SessionRunError`] that says
//! whether the turn is kept ([`TurnState`]).

use agent_core::RunResult;
use agent_loop::FailedRun;
use agent_session::{Committed, SessionError};

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

/// A run in a session that completed and whose turn is kept, or that paused
/// ([`RunOutcome::Paused`](agent_core::RunOutcome::Paused)) with its held calls recorded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionRunOutput {
    /// The run's result; its trace is the one stored.
    pub result: RunResult,
    /// What the commit did; `None` for a run that paused (its turn is committed when it ends).
    pub committed: Option<Committed>,
    /// The run's number in the session, when it has a record.
    pub run: Option<u64>,
}

impl SessionRunOutput {
    /// Whether the run paused, waiting for decisions on its held calls
    /// ([`RunResult::pending_interrupts`]).
    pub fn is_paused(&self) -> bool {
        self.committed.is_none() && !self.result.pending_interrupts.is_empty()
    }
}

/// Why a run in a session did not give a kept answer. Each variant says what happened to the
/// conversation ([`turn`](Self::turn)) and keeps whatever the run produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRunError {
    /// The session could not be read; the run did not start and nothing was written.
    #[error("could not load the session")]
    Load(#[source] SessionError),
    /// The run did not complete (the model failed, it was cancelled, …); the conversation is
    /// unchanged and the run's record says why.
    #[error("the run did not complete")]
    Run {
        /// The failed run, with its trace and the messages it produced.
        failed: Box<FailedRun>,
        /// Whether its record could be saved.
        record: Option<SessionError>,
    },
    /// The run completed but its turn could not be committed before the commit timeout; the
    /// answer is in `result`.
    #[error("the run completed but its turn was not kept")]
    Commit {
        /// The store's last error.
        #[source]
        error: SessionError,
        /// The completed run.
        result: Box<RunResult>,
        /// Whether the turn is in the conversation: `NotKept` or `Unknown`.
        turn: TurnState,
    },
    /// The run paused but its held calls could not be recorded (the store failed): nobody can
    /// answer them, so the run ended `failed` and its turn is not kept.
    #[error("the run paused but its held calls could not be recorded")]
    Pause {
        /// The store's error.
        #[source]
        error: SessionError,
        /// The paused run.
        result: Box<RunResult>,
    },
    /// There is no interrupted run to resume, or it cannot be resumed: the reason says which,
    /// and a store's failure (a throttled claim) is the [`source`](std::error::Error::source).
    #[error("cannot resume: {reason}")]
    NotResumable {
        /// Why.
        reason: ResumeRefusal,
        /// The store's error, when the store failed (claiming the run).
        #[source]
        error: Option<SessionError>,
    },
}

/// Why a run cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeRefusal {
    /// The session has no runs.
    NoRuns,
    /// The newest run ended (completed, failed or cancelled).
    Ended {
        /// Its number.
        run: u64,
        /// How it ended.
        status: agent_core::RunStatus,
    },
    /// The newest run is alive: its heartbeat is recent, or its lease has not expired.
    StillAlive {
        /// Its number.
        run: u64,
    },
    /// The newest run was not recorded in real time, so its steps are unknown.
    NotRecorded {
        /// Its number.
        run: u64,
    },
    /// Another process resumed it first.
    TakenOver {
        /// Its number.
        run: u64,
    },
    /// The store failed while claiming it (the [`source`](std::error::Error::source) says
    /// how); it may be resumed later.
    ClaimFailed {
        /// Its number.
        run: u64,
    },
    /// No run of the session waits for a decision on these interrupts.
    NothingPaused,
    /// No decision was given.
    NoDecisions,
    /// The paused run holds no call with this interrupt id (it was answered, or never asked).
    UnknownInterrupt {
        /// The paused run's number.
        run: u64,
        /// The id.
        id: String,
    },
    /// Another process answered the paused run first; read it again to see what is left.
    AlreadyAnswered {
        /// Its number.
        run: u64,
    },
}

impl std::fmt::Display for ResumeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResumeRefusal::NoRuns => f.write_str("the session has no runs"),
            ResumeRefusal::Ended { run, status } => {
                write!(f, "the newest run ({run}) is {status}, not interrupted")
            }
            ResumeRefusal::StillAlive { run } => {
                write!(f, "the newest run ({run}) is still alive")
            }
            ResumeRefusal::NotRecorded { run } => write!(
                f,
                "the newest run ({run}) was not recorded in real time, so its steps are unknown"
            ),
            ResumeRefusal::TakenOver { run } => {
                write!(f, "another process resumed the newest run ({run}) first")
            }
            ResumeRefusal::ClaimFailed { run } => {
                write!(f, "the store failed while claiming run {run}")
            }
            ResumeRefusal::NothingPaused => {
                f.write_str("no run of the session waits for these decisions")
            }
            ResumeRefusal::NoDecisions => f.write_str("no decision was given"),
            ResumeRefusal::UnknownInterrupt { run, id } => write!(
                f,
                "run {run} holds no call `{id}` waiting for a decision (answered already, or never asked)"
            ),
            ResumeRefusal::AlreadyAnswered { run } => write!(
                f,
                "another process answered run {run} first; read it again to see what is left"
            ),
        }
    }
}

impl SessionRunError {
    pub(crate) fn not_resumable(reason: ResumeRefusal) -> Self {
        SessionRunError::NotResumable {
            reason,
            error: None,
        }
    }
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
            SessionRunError::Load(error)
            | SessionRunError::Commit { error, .. }
            | SessionRunError::Pause { error, .. } => Some(error),
            SessionRunError::Run { record, .. } => record.as_ref(),
            SessionRunError::NotResumable { error, .. } => error.as_ref(),
        }
    }
}
