//! The errors of session stores.

use std::fmt;

/// What kind of failure a session store met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The session moved on since the version a commit was computed from.
    Conflict,
    /// The request was invalid (a bad id, a bad table name, data the store cannot hold).
    InvalidInput,
    /// Stored data could not be read back (bad JSON, missing attribute, a gap in a sequence).
    CorruptedData,
    /// The backend could not be reached or failed (after retries).
    Unavailable,
    /// The backend throttled the request (after retries).
    Throttled,
    /// The backend is set up wrongly (for example a table with the wrong key schema).
    Misconfigured,
    /// The session was deleted since the run read it; the run's turn was not kept (a commit
    /// never brings a deleted conversation back).
    Deleted,
    /// The session expired while the run ran and its data was removed before the run
    /// committed; the run's turn was not kept.
    Expired,
    /// The stored data cannot be continued by this version: written by a newer version of this
    /// project, or by the Python MinimalAgent after this project took the session over.
    Incompatible,
    /// The store does not support the operation.
    Unsupported,
    /// The operation did not answer within its time limit (a run's commit timeout); it may
    /// have been applied.
    Timeout,
}

impl SessionErrorKind {
    /// A short, stable, `snake_case` name of the kind (`conflict`, `unavailable`, …), as stored
    /// in the trace of a run whose messages could not be kept (`session.conflict`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionErrorKind::NotFound => "not_found",
            SessionErrorKind::Conflict => "conflict",
            SessionErrorKind::InvalidInput => "invalid_input",
            SessionErrorKind::CorruptedData => "corrupted_data",
            SessionErrorKind::Unavailable => "unavailable",
            SessionErrorKind::Throttled => "throttled",
            SessionErrorKind::Misconfigured => "misconfigured",
            SessionErrorKind::Deleted => "deleted",
            SessionErrorKind::Expired => "expired",
            SessionErrorKind::Incompatible => "incompatible",
            SessionErrorKind::Unsupported => "unsupported",
            SessionErrorKind::Timeout => "timeout",
        }
    }
}

impl fmt::Display for SessionErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionErrorKind::NotFound => "not found",
            SessionErrorKind::Conflict => "conflict",
            SessionErrorKind::InvalidInput => "invalid input",
            SessionErrorKind::CorruptedData => "corrupted data",
            SessionErrorKind::Unavailable => "backend unavailable",
            SessionErrorKind::Throttled => "throttled",
            SessionErrorKind::Misconfigured => "misconfigured",
            SessionErrorKind::Deleted => "session deleted",
            SessionErrorKind::Expired => "session expired",
            SessionErrorKind::Incompatible => "incompatible data",
            SessionErrorKind::Unsupported => "unsupported",
            SessionErrorKind::Timeout => "timed out",
        })
    }
}

/// A failed session-store operation: its kind, the session it concerned, and what happened.
#[derive(Debug, thiserror::Error)]
pub struct SessionError {
    kind: SessionErrorKind,
    session: Option<String>,
    message: String,
    maybe_applied: bool,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.session {
            Some(session) => write!(f, "session `{session}`: {}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

impl SessionError {
    /// A new error of this kind.
    pub fn new(kind: SessionErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            session: None,
            message: message.into(),
            maybe_applied: false,
            source: None,
        }
    }

    /// Marks a write whose outcome is unknown: the request may have been applied although its
    /// response was lost (a timeout, a dropped connection, a server error after the write).
    #[must_use]
    pub fn with_maybe_applied(mut self) -> Self {
        self.maybe_applied = true;
        self
    }

    /// Whether the failed write may have been applied all the same (its response was lost).
    /// Repeating a commit is safe: the store recognises the run's own earlier commit.
    pub fn maybe_applied(&self) -> bool {
        self.maybe_applied
    }

    /// Names the session the error concerns.
    #[must_use]
    pub fn for_session(mut self, session: impl fmt::Display) -> Self {
        self.session = Some(session.to_string());
        self
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> SessionErrorKind {
        self.kind
    }

    /// The session the error concerns, when known.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether another run of the session committed first.
    pub fn is_conflict(&self) -> bool {
        self.kind == SessionErrorKind::Conflict
    }

    /// Whether the same call may succeed later. (For a commit, repeating it is safe either
    /// way: a run's own earlier commit is recognised.)
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            SessionErrorKind::Unavailable | SessionErrorKind::Throttled
        )
    }
}

impl From<crate::id::InvalidSessionId> for SessionError {
    fn from(error: crate::id::InvalidSessionId) -> Self {
        SessionError::new(SessionErrorKind::InvalidInput, error.to_string())
    }
}
