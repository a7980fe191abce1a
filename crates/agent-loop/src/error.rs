//! What a run that did not complete gives back: [`FailedRun`], with its [`RunError`].

use agent_core::{Message, ModelError, Reasoning, RunFailure, RunStatus};

/// Why a run did not complete.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A model call failed (after the client's retries and the loop's stream retries). It
    /// displays as the model's error (its kind and the provider's message) and passes that
    /// error's cause on, so a chain prints each message once.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The conversation no longer fits the model's context window, and the context policy
    /// could not make it fit.
    #[error(
        "the conversation ({messages} messages, about {estimated_tokens} tokens) exceeds the \
         model's context window{}; choose a context policy that windows or summarises it",
        session.as_deref().map(|s| format!(" in session `{s}`")).unwrap_or_default()
    )]
    ContextWindowExceeded {
        /// The session, if the run had one.
        session: Option<String>,
        /// How many messages the request held.
        messages: usize,
        /// Their estimated size in tokens.
        estimated_tokens: u64,
    },
    /// The run was cancelled.
    #[error("the run was cancelled")]
    Cancelled,
    /// A hook stopped the run.
    #[error("a hook stopped the run: {reason}")]
    Stopped {
        /// The hook's reason.
        reason: String,
    },
    /// The model's structured answer did not fit the requested type, after every attempt.
    #[error("the model's answer did not fit the requested type after {attempts} attempts: {error}")]
    InvalidStructuredAnswer {
        /// How many answers were tried.
        attempts: u32,
        /// Why the last one did not fit.
        error: String,
    },
}

impl RunError {
    /// A short, stable name of the error's kind, as stored in a failed run's trace
    /// (`model.throttled`, `run.cancelled`, …).
    pub fn kind_name(&self) -> String {
        match self {
            RunError::Model(error) => format!("model.{}", error.kind().as_str()),
            RunError::ContextWindowExceeded { .. } => "run.context_window_exceeded".to_owned(),
            RunError::Cancelled => "run.cancelled".to_owned(),
            RunError::Stopped { .. } => "run.stopped".to_owned(),
            RunError::InvalidStructuredAnswer { .. } => "run.invalid_structured_answer".to_owned(),
        }
    }

    /// The status a trace ends with for this error.
    pub fn status(&self) -> RunStatus {
        match self {
            RunError::Cancelled | RunError::Stopped { .. } => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        }
    }

    /// The error as stored in a trace: its kind name and message.
    pub fn to_failure(&self) -> RunFailure {
        RunFailure {
            kind: self.kind_name(),
            message: self.to_string(),
        }
    }
}

/// A run that did not complete, with everything it produced.
///
/// It displays as its [`error`](Self::error) and has that error's cause as its
/// [`source`](std::error::Error::source), so an error chain prints each message once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailedRun {
    /// Why it did not complete.
    pub error: RunError,
    /// Its trace, `failed` or `cancelled`, with the error and whatever answer text it had
    /// written so far.
    pub reasoning: Box<Reasoning>,
    /// The messages it added before it stopped (complete steps only: every `toolUse` has its
    /// `toolResult`).
    pub messages: Vec<Message>,
}

impl FailedRun {
    /// A failed run from its parts.
    pub fn new(error: RunError, reasoning: Reasoning, messages: Vec<Message>) -> Self {
        Self {
            error,
            reasoning: Box::new(reasoning),
            messages,
        }
    }
}

impl std::fmt::Display for FailedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for FailedRun {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}
