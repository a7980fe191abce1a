//! The facade's error type.

use agent_core::Reasoning;
use agent_core::{ModelError, RunError, ToolSetError};
use agent_session::{InvalidSessionId, SessionError, SessionRunError};

/// Why an agent could not be built or a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder's settings are invalid; nothing was started.
    #[error("invalid agent configuration: {0}")]
    Config(#[from] ConfigError),
    /// The session id is not 1 to 128 characters of `[A-Za-z0-9_-]`; nothing was read or written.
    #[error(transparent)]
    InvalidSessionId(#[from] InvalidSessionId),
    /// The model failed (after the client's retries); the run's trace, kept here, says `failed`.
    #[error("the run failed: {error}")]
    Run {
        /// Why the run failed.
        #[source]
        error: RunError,
        /// The run's trace up to the failure.
        reasoning: Box<Reasoning>,
    },
    /// The session store failed.
    #[error("session store: {0}")]
    Session(#[from] SessionError),
    /// A run in a session failed, or its turn could not be kept. The error keeps the run's
    /// trace and, when the run completed, its answer.
    #[error(transparent)]
    SessionRun(SessionRunError),
    /// A session method was called on an agent built without sessions.
    #[error(
        "sessions are off for this agent: build it with use_session_memory(true) or session_store(..)"
    )]
    SessionsDisabled,
}

impl From<SessionRunError> for Error {
    fn from(error: SessionRunError) -> Self {
        match error {
            SessionRunError::InvalidSessionId(error) => Error::InvalidSessionId(error),
            other => Error::SessionRun(other),
        }
    }
}

impl Error {
    /// The model error behind this error, if a model call failed.
    pub fn model_error(&self) -> Option<&ModelError> {
        let run_error = match self {
            Error::Run { error, .. } => Some(error),
            Error::SessionRun(error) => error.run_error(),
            _ => None,
        };
        match run_error {
            Some(RunError::Model(error)) => Some(error),
            _ => None,
        }
    }

    /// The session-store error behind this error, if the store failed.
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            Error::Session(error) => Some(error),
            Error::SessionRun(error) => error.session_error(),
            _ => None,
        }
    }

    /// The trace of the run this error ended, when a run started.
    pub fn reasoning(&self) -> Option<&Reasoning> {
        match self {
            Error::Run { reasoning, .. } => Some(reasoning),
            Error::SessionRun(error) => error.reasoning(),
            _ => None,
        }
    }

    /// The run's answer, when the run completed but its turn could not be kept (or its
    /// reasoning not saved): the answer is not lost to a store failure.
    pub fn response(&self) -> Option<&str> {
        match self {
            Error::SessionRun(error) => error.response(),
            _ => None,
        }
    }

    /// Whether the run's turn is in the session's conversation despite the error (its final
    /// reasoning record could not be saved): running the query again would add it twice.
    pub fn is_committed(&self) -> bool {
        matches!(self, Error::SessionRun(error) if error.is_committed())
    }
}

/// An invalid builder setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_steps` was 0.
    #[error("max_steps must be greater than 0")]
    ZeroMaxSteps,
    /// The tools cannot be offered to a model (duplicate or invalid names, no description).
    #[error(transparent)]
    Tools(#[from] ToolSetError),
    /// `session_ttl` was zero.
    #[error("session_ttl must be greater than 0 seconds")]
    ZeroSessionTtl,
    /// The table name breaks DynamoDB's rules.
    #[error("session_table_name {0:?} must be 3 to 255 characters of [A-Za-z0-9_.-]")]
    InvalidTableName(String),
    /// No model was given and the `bedrock` feature is off.
    #[error("no model: give one with .model(..) or enable the `bedrock` feature")]
    NoModel,
    /// Session memory was asked for, but no store was given and the `dynamodb` feature is off.
    #[error(
        "use_session_memory needs the `dynamodb` feature or a store given with .session_store(..)"
    )]
    NoSessionStore,
    /// The Bedrock model could not be set up.
    #[cfg(feature = "bedrock")]
    #[error(transparent)]
    Bedrock(#[from] agent_llm_bedrock::BedrockConfigError),
}
