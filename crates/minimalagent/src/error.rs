//! The facade's one error type.

use std::fmt;

use agent_core::{ModelError, Reasoning, RunResult, ToolSetError};
use agent_loop::{FailedRun, RunError};
use agent_runtime::{SessionRunError, TurnState};
use agent_session::{InvalidSessionId, SessionError, SessionErrorKind};

/// Why an agent could not be built, or a run did not give a kept answer.
///
/// One type for every failure, with a [`kind`](Error::kind) to match on and helpers for the
/// questions callers ask: is it retryable, is the turn in the conversation
/// ([`turn`](Error::turn)), what did the run produce ([`reasoning`](Error::reasoning),
/// [`result`](Error::result)). Nothing a run produced is lost to an error.
pub struct Error {
    repr: Box<Repr>,
}

enum Repr {
    Config(ConfigError),
    InvalidSessionId(InvalidSessionId),
    SessionsDisabled,
    /// The run did not complete.
    Run {
        failed: FailedRun,
        /// The store's error saving the run's record, if that failed too.
        record: Option<SessionError>,
    },
    /// A store operation failed; `result` is the completed run whose turn was not kept.
    Store {
        error: SessionError,
        result: Option<Box<RunResult>>,
        turn: TurnState,
    },
    NotResumable {
        reason: agent_runtime::ResumeRefusal,
        error: Option<SessionError>,
    },
    Internal(String),
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The builder's settings are invalid or conflict; nothing was started.
    Config,
    /// A session id is not 1 to 128 characters of `[A-Za-z0-9_-]`; nothing was read or written.
    InvalidSessionId,
    /// A session method was called on an agent built without sessions.
    SessionsDisabled,
    /// A model call failed (after the client's and the loop's retries).
    Model,
    /// The conversation no longer fits the model's context window.
    ContextWindowExceeded,
    /// The run was cancelled.
    Cancelled,
    /// The model's structured answer did not fit the requested type.
    InvalidStructuredAnswer,
    /// The session store failed (reading, committing, or saving a record).
    Store,
    /// There is no interrupted run to resume.
    NotResumable,
    /// The run's task ended without a result (it panicked).
    Internal,
}

impl ErrorKind {
    /// A short, stable snake_case name (`model`, `store`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::InvalidSessionId => "invalid_session_id",
            ErrorKind::SessionsDisabled => "sessions_disabled",
            ErrorKind::Model => "model",
            ErrorKind::ContextWindowExceeded => "context_window_exceeded",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::InvalidStructuredAnswer => "invalid_structured_answer",
            ErrorKind::Store => "store",
            ErrorKind::NotResumable => "not_resumable",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    fn new(repr: Repr) -> Self {
        Self {
            repr: Box::new(repr),
        }
    }

    pub(crate) fn sessions_disabled() -> Self {
        Self::new(Repr::SessionsDisabled)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Repr::Internal(message.into()))
    }

    pub(crate) fn run_failed(failed: FailedRun) -> Self {
        Self::new(Repr::Run {
            failed,
            record: None,
        })
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match &*self.repr {
            Repr::Config(_) => ErrorKind::Config,
            Repr::InvalidSessionId(_) => ErrorKind::InvalidSessionId,
            Repr::SessionsDisabled => ErrorKind::SessionsDisabled,
            Repr::Run { failed, .. } => match &failed.error {
                RunError::Model(_) => ErrorKind::Model,
                RunError::ContextWindowExceeded { .. } => ErrorKind::ContextWindowExceeded,
                RunError::Cancelled => ErrorKind::Cancelled,
                RunError::InvalidStructuredAnswer { .. } => ErrorKind::InvalidStructuredAnswer,
                _ => ErrorKind::Model,
            },
            Repr::Store { .. } => ErrorKind::Store,
            Repr::NotResumable { .. } => ErrorKind::NotResumable,
            Repr::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether the run's turn is in its session's conversation.
    /// [`TurnState::NotKept`] for errors of runs without a session or that never ran.
    pub fn turn(&self) -> TurnState {
        match &*self.repr {
            Repr::Store { turn, .. } => *turn,
            _ => TurnState::NotKept,
        }
    }

    /// Whether running the same query again may succeed, and is safe: `false` whenever the
    /// turn is (or may be) in the conversation, since a retry would add it twice.
    pub fn is_retryable(&self) -> bool {
        if self.turn() != TurnState::NotKept {
            return false;
        }
        match &*self.repr {
            Repr::Run { failed, .. } => match &failed.error {
                RunError::Model(error) => error.is_retryable(),
                _ => false,
            },
            Repr::Store { error, .. } => error.is_retryable() || error.is_conflict(),
            _ => false,
        }
    }

    /// Whether the builder's settings were invalid.
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// Whether a model call failed.
    pub fn is_model(&self) -> bool {
        self.kind() == ErrorKind::Model
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// Whether the session store failed.
    pub fn is_store(&self) -> bool {
        self.kind() == ErrorKind::Store
    }

    /// Whether the session changed under the run (another run committed first, the session
    /// was deleted or expired, or the run was taken over) and the turn was not kept.
    pub fn is_conflict(&self) -> bool {
        self.session_error().is_some_and(|error| {
            error.is_conflict()
                || matches!(
                    error.kind(),
                    SessionErrorKind::Deleted | SessionErrorKind::Expired
                )
        })
    }

    /// The configuration error, when the builder failed.
    pub fn config_error(&self) -> Option<&ConfigError> {
        match &*self.repr {
            Repr::Config(error) => Some(error),
            _ => None,
        }
    }

    /// The model's error, when a model call failed.
    pub fn model_error(&self) -> Option<&ModelError> {
        match &*self.repr {
            Repr::Run { failed, .. } => match &failed.error {
                RunError::Model(error) => Some(error),
                _ => None,
            },
            _ => None,
        }
    }

    /// The run's error, when the run did not complete.
    pub fn run_error(&self) -> Option<&RunError> {
        match &*self.repr {
            Repr::Run { failed, .. } => Some(&failed.error),
            _ => None,
        }
    }

    /// The store's error, when the store failed (also when a failed run's record could not be
    /// saved).
    pub fn session_error(&self) -> Option<&SessionError> {
        match &*self.repr {
            Repr::Store { error, .. } => Some(error),
            Repr::Run { record, .. } => record.as_ref(),
            Repr::NotResumable { error, .. } => error.as_ref(),
            _ => None,
        }
    }

    /// Why there is nothing to resume, when [`kind`](Self::kind) is `NotResumable`.
    pub fn resume_refusal(&self) -> Option<&agent_runtime::ResumeRefusal> {
        match &*self.repr {
            Repr::NotResumable { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The run's trace, when a run started: `failed`/`cancelled` with the error, or the trace
    /// of a completed run whose turn was not kept.
    pub fn reasoning(&self) -> Option<&Reasoning> {
        match &*self.repr {
            Repr::Run { failed, .. } => Some(&failed.reasoning),
            Repr::Store {
                result: Some(result),
                ..
            } => Some(&result.reasoning),
            _ => None,
        }
    }

    /// The completed run whose turn was not kept (or may not have been): its answer is not
    /// lost to a store failure.
    pub fn result(&self) -> Option<&RunResult> {
        match &*self.repr {
            Repr::Store { result, .. } => result.as_deref(),
            _ => None,
        }
    }

    /// The run's answer, when it had one: the completed run's, or a cancelled run's partial
    /// answer.
    pub fn response(&self) -> Option<&str> {
        match &*self.repr {
            Repr::Store {
                result: Some(result),
                ..
            } => Some(&result.response),
            Repr::Run { failed, .. } => failed.reasoning.final_response.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("turn", &self.turn())
            .field("message", &self.to_string())
            .finish()
    }
}

/// Each level of an error says what it knows once: the message of a level is not repeated by
/// the level above, so a chain printed by `anyhow` or `eyre` (`{:#}`) reads each message once.
/// Where a level adds nothing (a run that failed: the run's error says it all), it displays as
/// the level below and passes that level's cause on as its own.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Config(_) => f.write_str("invalid agent configuration"),
            Repr::InvalidSessionId(error) => error.fmt(f),
            Repr::SessionsDisabled => f.write_str(
                "sessions are off for this agent: build it with use_session_memory(true), \
                 sessions(..) or session_store_url(..)",
            ),
            Repr::Run { failed, .. } => failed.error.fmt(f),
            Repr::Store {
                result: Some(_),
                turn,
                ..
            } => match turn {
                TurnState::Unknown => {
                    f.write_str("the run completed, but whether its turn was kept is unknown")
                }
                _ => f.write_str("the run completed but its turn was not kept"),
            },
            Repr::Store { error, .. } => error.fmt(f),
            Repr::NotResumable { reason, .. } => write!(f, "nothing to resume: {reason}"),
            Repr::Internal(message) => write!(f, "internal error: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.repr {
            Repr::Config(error) => Some(error),
            Repr::InvalidSessionId(error) => std::error::Error::source(error),
            Repr::Run { failed, .. } => std::error::Error::source(&failed.error),
            Repr::Store {
                error,
                result: Some(_),
                ..
            } => Some(error),
            Repr::Store { error, .. } => std::error::Error::source(error),
            Repr::NotResumable { error, .. } => error
                .as_ref()
                .map(|error| error as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Self::new(Repr::Config(error))
    }
}

impl From<InvalidSessionId> for Error {
    fn from(error: InvalidSessionId) -> Self {
        Self::new(Repr::InvalidSessionId(error))
    }
}

impl From<SessionError> for Error {
    fn from(error: SessionError) -> Self {
        Self::new(Repr::Store {
            error,
            result: None,
            turn: TurnState::NotKept,
        })
    }
}

impl From<SessionRunError> for Error {
    fn from(error: SessionRunError) -> Self {
        let turn = error.turn();
        match error {
            SessionRunError::Load(error) => error.into(),
            SessionRunError::Run { failed, record } => Self::new(Repr::Run {
                failed: *failed,
                record,
            }),
            SessionRunError::Commit { error, result, .. } => Self::new(Repr::Store {
                error,
                result: Some(result),
                turn,
            }),
            SessionRunError::NotResumable { reason, error } => {
                Self::new(Repr::NotResumable { reason, error })
            }
            other => Self::internal(other.to_string()),
        }
    }
}

/// An invalid or conflicting builder setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_steps` was 0.
    #[error("max_steps must be greater than 0")]
    ZeroMaxSteps,
    /// The tools cannot be offered to a model (duplicate or invalid names, no description).
    #[error(transparent)]
    Tools(#[from] ToolSetError),
    /// The session time to live is shorter than a second.
    #[error("session_ttl must be at least 1 second")]
    InvalidSessionTtl,
    /// The table name breaks DynamoDB's rules.
    #[error("session_table_name {0:?} must be 3 to 255 characters of [A-Za-z0-9_.-]")]
    InvalidTableName(String),
    /// Two settings that cannot go together; the message says which and why.
    #[error("{first} cannot be combined with {second}: {why}")]
    Conflict {
        /// One setting.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// Real-time reasoning was asked for without session memory.
    #[error(
        "real_time_reasoning needs sessions: add use_session_memory(true), sessions(..) or \
         session_store_url(..)"
    )]
    RealTimeWithoutSessions,
    /// No model was given and the `bedrock` feature is off.
    #[error("no model: give one with .model(..) or enable the `bedrock` feature")]
    NoModel,
    /// A session store URL that cannot be used.
    #[error("session store URL {url:?}: {reason}")]
    InvalidStoreUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting needs a feature of the `minimalagent` crate that is off.
    #[error("{what} needs the `{feature}` feature of minimalagent")]
    FeatureDisabled {
        /// What was asked for.
        what: String,
        /// The feature to turn on.
        feature: &'static str,
    },
    /// The session store could not be set up (a wrong table, a file that is not SQLite, …).
    #[error("the session store could not be set up")]
    Store(#[source] SessionError),
    /// The Bedrock model could not be set up.
    #[cfg(feature = "bedrock")]
    #[error(transparent)]
    Bedrock(#[from] agent_llm_bedrock::BedrockConfigError),
}
