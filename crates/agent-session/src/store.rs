//! The [`SessionStore`] contract.

use std::fmt;
use std::sync::Arc;

use agent_core::{Message, Reasoning};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::SessionError;
use crate::id::SessionId;

/// The version of a session's conversation, as its store counts it.
///
/// [`SessionVersion::EMPTY`] is a session with no committed run. Every commit moves the version
/// forward; stores are free in how (a count of runs, a sequence number), so compare versions
/// only for equality.
///
/// A store should avoid giving a session, once deleted or expired and written again, a version
/// it had before: a run computed from the old conversation would then commit on top of the new
/// one instead of conflicting. ([`InMemorySessionStore`](crate::InMemorySessionStore) counts
/// versions across the whole store for this reason.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SessionVersion(pub u64);

impl SessionVersion {
    /// A session with nothing committed.
    pub const EMPTY: SessionVersion = SessionVersion(0);
}

impl fmt::Display for SessionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A session's conversation as loaded: its messages, oldest first, and the version they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSnapshot {
    /// Every committed message, oldest first: plain Converse messages.
    pub messages: Vec<Message>,
    /// The version these messages are; a commit computed from them states it.
    pub version: SessionVersion,
}

/// One run's new messages, to be appended as a unit.
#[derive(Debug, Clone, Copy)]
pub struct RunCommit<'a> {
    /// The run's id. A store recognises a second commit of the same run (a retry after a lost
    /// response) as the write it already made.
    pub run_id: Uuid,
    /// The version of the session the run was computed from.
    pub base: SessionVersion,
    /// The run's messages: they start with a user message and end with an assistant message.
    pub messages: &'a [Message],
}

/// Where sessions live: a conversation log and a record of each run's reasoning per session.
///
/// # Contract
///
/// Every store passes the conformance suite (`agent_session::conformance`, feature
/// `conformance`). In short:
///
/// - **Conversation**: [`load`](Self::load) returns every committed message in commit order,
///   however long the session, with its version. [`commit_run`](Self::commit_run) appends one
///   run's messages *atomically* (all or none, never torn) and *conditionally*: when the session
///   is no longer at `commit.base` it fails with [`SessionErrorKind::Conflict`] and writes
///   nothing, unless the run itself already committed (a retried request), in which case it
///   returns that commit's version and writes nothing again.
/// - **Reasoning**: [`save_reasoning`](Self::save_reasoning) creates the record of
///   `reasoning.run_id` or replaces it in place, so real-time updates never add records.
///   [`reasoning_history`](Self::reasoning_history) returns one record per run, oldest first
///   (in the order the runs were first saved); [`latest_reasoning`](Self::latest_reasoning) the
///   newest of them.
/// - **Time to live**: a session lives until the store's TTL after its last write; after that
///   every read treats it as gone, whether or not the backend has deleted it yet, and a session
///   never comes back with part of its history missing.
/// - **Delete**: [`delete`](Self::delete) removes the conversation and every reasoning record.
/// - Errors are [`SessionError`]s with a [`SessionErrorKind`]; corrupted data names the session
///   and the item, and does not affect other sessions.
///
/// [`SessionErrorKind::Conflict`]: crate::SessionErrorKind::Conflict
/// [`SessionErrorKind`]: crate::SessionErrorKind
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Loads a session's conversation. An unknown or expired session is empty at
    /// [`SessionVersion::EMPTY`].
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError>;

    /// Appends one run's messages if the session is still at `commit.base`, and returns the new
    /// version.
    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError>;

    /// Creates or replaces the reasoning record of `reasoning.run_id`.
    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError>;

    /// The reasoning of the newest run of the session, if any.
    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError>;

    /// The reasoning of every run of the session, oldest first.
    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError>;

    /// Deletes the session's conversation and reasoning.
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError>;
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
        (**self).load(session).await
    }
    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        (**self).commit_run(session, commit).await
    }
    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        (**self).save_reasoning(session, reasoning).await
    }
    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        (**self).latest_reasoning(session).await
    }
    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        (**self).reasoning_history(session).await
    }
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        (**self).delete(session).await
    }
}
