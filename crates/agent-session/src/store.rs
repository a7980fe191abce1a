//! The [`SessionStore`] contract and the records it reads and writes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{AgentEvent, Message, Reasoning, SessionState, StateChanges};
use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionId;
use crate::version::SessionVersion;

/// The head of a session: where its conversation and its runs stand. Small, and read with one
/// strongly consistent request, so a process that has the conversation cached can check it is
/// current cheaply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionHead {
    /// The conversation's version: [`SessionVersion::EMPTY`] for a session that does not exist
    /// (never written, expired or deleted). Its [`seq`](SessionVersion::seq) is the sequence
    /// number of the newest entry.
    pub version: SessionVersion,
    /// The sequence number of the first entry of the session's current life; entries are
    /// `first_seq ..= version.seq()`, dense. (A session written again after it expired or was
    /// deleted starts a new life whose numbers continue after the old ones where the store can.)
    pub first_seq: u64,
    /// The newest summary entry, if the session has one.
    pub summary_seq: Option<u64>,
    /// The number of the first run of the current life.
    pub first_run: u64,
    /// The highest run number recorded in the current life (0 for none); runs are
    /// `first_run ..= runs`.
    pub runs: u64,
    /// When the session expires unless written again.
    pub expires_at: Option<Timestamp>,
    /// The session's state (see [`SessionState`]): written with the turns that change it.
    #[serde(default, skip_serializing_if = "SessionState::is_empty")]
    pub state: SessionState,
}

impl SessionHead {
    /// The head of a session that does not exist.
    pub fn empty() -> Self {
        Self {
            version: SessionVersion::EMPTY,
            first_seq: 1,
            summary_seq: None,
            first_run: 1,
            runs: 0,
            expires_at: None,
            state: SessionState::new(),
        }
    }

    /// A head from its parts (for store implementations).
    pub fn new(version: SessionVersion, first_seq: u64, first_run: u64, runs: u64) -> Self {
        Self {
            version,
            first_seq,
            summary_seq: None,
            first_run,
            runs,
            expires_at: None,
            state: SessionState::new(),
        }
    }

    /// The same head with this state.
    #[must_use]
    pub fn with_state(mut self, state: SessionState) -> Self {
        self.state = state;
        self
    }

    /// The same head with this summary entry.
    #[must_use]
    pub fn with_summary(mut self, summary_seq: Option<u64>) -> Self {
        self.summary_seq = summary_seq;
        self
    }

    /// The same head with this expiry.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Option<Timestamp>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Whether the session exists (has a live conversation or runs).
    pub fn exists(&self) -> bool {
        !self.version.is_empty() || self.runs >= self.first_run
    }

    /// The sequence number of the newest entry (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        self.version.seq()
    }

    /// How many entries the current life holds. A head whose first entry lies past its last
    /// (damaged or hostile data) counts none.
    pub fn entry_count(&self) -> u64 {
        if self.version.is_empty() {
            0
        } else {
            self.version
                .seq()
                .saturating_add(1)
                .saturating_sub(self.first_seq)
        }
    }
}

/// One entry of a session's conversation log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// Its sequence number.
    pub seq: u64,
    /// What it holds.
    pub body: EntryBody,
    /// When it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<Timestamp>,
}

impl Entry {
    /// An entry from its parts (for store implementations).
    pub fn new(seq: u64, body: EntryBody, written_at: Option<Timestamp>) -> Self {
        Self {
            seq,
            body,
            written_at,
        }
    }
}

/// What a conversation entry holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryBody {
    /// One run's messages: its query, the model's replies and the tool results, ending with
    /// the answer (or, for entries written by the Python MinimalAgent, a whole history).
    Turn {
        /// The run that wrote it (nil for migrated entries).
        run_id: Uuid,
        /// The messages, in order.
        messages: Vec<Message>,
    },
    /// A summary of the conversation up to an entry, written by a summarising context policy
    /// so that later loads read the summary and the entries after it.
    Summary(Summary),
    /// An entry of a kind this version does not know (written by a newer version): skipped by
    /// readers.
    #[serde(other)]
    #[schemars(skip)]
    Unknown,
}

impl EntryBody {
    /// The messages of a turn; none for other entries.
    pub fn messages(&self) -> &[Message] {
        match self {
            EntryBody::Turn { messages, .. } => messages,
            _ => &[],
        }
    }
}

/// A summary of a conversation's earlier turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Summary {
    /// The summary, as the model wrote it.
    pub text: String,
    /// The newest entry it covers: later loads read this summary and the entries after it.
    pub through_seq: u64,
    /// How many messages it stands for.
    pub messages: u64,
}

impl Summary {
    /// A summary of the entries up to `through_seq`, standing for `messages` messages.
    pub fn new(text: impl Into<String>, through_seq: u64, messages: u64) -> Self {
        Self {
            text: text.into(),
            through_seq,
            messages,
        }
    }
}

/// A run's claim on its record, from [`SessionStore::begin_run`] or
/// [`SessionStore::claim_run`]: its number, and the lease that proves the claim. A store
/// refuses writes to a run's record under any other lease, so a process that was taken over
/// (declared dead, then resumed elsewhere) cannot write over its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunLease {
    /// The run's number in its session.
    pub run: u64,
    /// The lease id.
    pub lease: Uuid,
}

impl RunLease {
    /// The claim of run `run` under `lease` (for store implementations).
    pub fn new(run: u64, lease: Uuid) -> Self {
        Self { run, lease }
    }
}

/// One run's turn, its final reasoning record and optionally a summary, to be written as a
/// unit.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Commit<'a> {
    /// The run's id. A store recognises a second commit of the same run (a retry after a lost
    /// response) as the write it already made, however many commits came in between.
    pub run_id: Uuid,
    /// The version of the session the run was computed from.
    pub base: SessionVersion,
    /// A summary entry to write before the turn.
    pub summary: Option<&'a Summary>,
    /// The run's messages: they start with a user message and end with an assistant message.
    pub messages: &'a [Message],
    /// The run's final reasoning record.
    pub reasoning: &'a Reasoning,
    /// The run's claim on its record, when it has one ([`SessionStore::begin_run`]); without
    /// one the store gives the run the next number.
    pub lease: Option<RunLease>,
    /// The run's changes to the session's state, applied key by key on the state the session
    /// has at the commit (so concurrent runs merge per key), in the same atomic write.
    pub state: Option<&'a StateChanges>,
}

impl<'a> Commit<'a> {
    /// A commit of `messages` and `reasoning` on top of `base`.
    pub fn new(
        run_id: Uuid,
        base: SessionVersion,
        messages: &'a [Message],
        reasoning: &'a Reasoning,
    ) -> Self {
        Self {
            run_id,
            base,
            summary: None,
            messages,
            reasoning,
            lease: None,
            state: None,
        }
    }

    /// The same commit with these changes to the session's state.
    #[must_use]
    pub fn with_state(mut self, state: Option<&'a StateChanges>) -> Self {
        self.state = state.filter(|changes| !changes.is_empty());
        self
    }

    /// The same commit with a summary entry before the turn.
    #[must_use]
    pub fn with_summary(mut self, summary: Option<&'a Summary>) -> Self {
        self.summary = summary;
        self
    }

    /// The same commit for a run that holds this lease.
    #[must_use]
    pub fn with_lease(mut self, lease: Option<RunLease>) -> Self {
        self.lease = lease;
        self
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed {
    /// The session's version right after the commit.
    pub version: SessionVersion,
    /// The sequence number of the turn's entry.
    pub seq: u64,
    /// The run's number.
    pub run: u64,
    /// Whether the run had already committed (a retry of a commit whose response was lost):
    /// nothing was written again.
    pub replayed: bool,
}

impl Committed {
    /// A commit outcome (for store implementations).
    pub fn new(version: SessionVersion, seq: u64, run: u64, replayed: bool) -> Self {
        Self {
            version,
            seq,
            run,
            replayed,
        }
    }
}

/// A run's record as stored: its reasoning (as of its last write) and its liveness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's number in its session.
    pub run: u64,
    /// The record: the final trace of an ended run; for a run in progress, the trace as it was
    /// when the run began (fold its events for the rest).
    pub reasoning: Reasoning,
    /// The lease of the process running it, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Uuid>,
    /// When the running process last said it was alive (or when the run began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<Timestamp>,
    /// The sequence number of the run's turn, once it committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_seq: Option<u64>,
    /// Until when the running process's lease holds: its last heartbeat plus the lease time
    /// the process asked for ([`SessionStore::begin_run`]). Before then no other process may
    /// claim the run, whatever its own limit; after it, readers see the run as interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<Timestamp>,
}

impl RunRecord {
    /// A record from its parts (for store implementations).
    pub fn new(run: u64, reasoning: Reasoning) -> Self {
        Self {
            run,
            reasoning,
            lease: None,
            heartbeat_at: None,
            committed_seq: None,
            lease_expires_at: None,
        }
    }

    /// The record that stands in for one that could not be read (see
    /// [`Reasoning::damaged`]): `key` names it in the store, `why` says what was wrong.
    pub fn damaged(run: u64, key: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(run, Reasoning::damaged(key, why))
    }

    /// Whether the record could not be read.
    pub fn is_damaged(&self) -> bool {
        self.reasoning.status == agent_core::RunStatus::Damaged
    }
}

/// A claim on a run whose process stopped heart-beating, or on a paused run to continue it
/// ([`SessionStore::claim_run`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunClaim {
    /// The run's number.
    pub run: u64,
    /// Its heartbeat as the claimant last read it: the claim fails if it moved.
    pub last_heartbeat: Option<Timestamp>,
    /// The new lease, chosen by the claimant, so that a claim repeated after a lost response
    /// is recognised as its own.
    pub lease: Uuid,
    /// How long the new lease lasts without a heartbeat.
    pub lease_for: Duration,
    /// The record to write with the claim, when the claimant changes it (a paused run
    /// continued is `running` again); `None` keeps the record as it is.
    pub reasoning: Option<Reasoning>,
}

impl RunClaim {
    /// A claim of `run`, last seen heart-beating at `last_heartbeat`, with a new lease lasting
    /// `lease_for` without a heartbeat.
    pub fn new(run: u64, last_heartbeat: Option<Timestamp>, lease_for: Duration) -> Self {
        Self {
            run,
            last_heartbeat,
            lease: Uuid::now_v7(),
            lease_for,
            reasoning: None,
        }
    }

    /// The same claim, writing `reasoning` as the run's record when it succeeds.
    #[must_use]
    pub fn with_reasoning(mut self, reasoning: Reasoning) -> Self {
        self.reasoning = Some(reasoning);
        self
    }
}

/// One event of a real-time run as stored: its index in the run (from 1) and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The event's index among its run's stored events, from 1, dense.
    pub index: u32,
    /// The event.
    pub event: AgentEvent,
}

impl StoredEvent {
    /// Event `event` at `index`.
    pub fn new(index: u32, event: AgentEvent) -> Self {
        Self { index, event }
    }
}

/// A session as listed by [`SessionStore::list_sessions`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's id.
    pub id: SessionId,
    /// Its head.
    pub head: SessionHead,
}

impl SessionInfo {
    /// A listing entry (for store implementations).
    pub fn new(id: SessionId, head: SessionHead) -> Self {
        Self { id, head }
    }
}

/// A page of [`SessionStore::list_sessions`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SessionPage {
    /// The sessions, in the store's order.
    pub sessions: Vec<SessionInfo>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

impl SessionPage {
    /// A page (for store implementations).
    pub fn new(sessions: Vec<SessionInfo>, next: Option<String>) -> Self {
        Self { sessions, next }
    }
}

/// Where sessions live: a conversation log per session, a record per run, and the events of
/// runs recorded in real time.
///
/// # Contract
///
/// Every store passes the conformance suite (`agent_session::conformance`, feature
/// `conformance`). In short:
///
/// - **Conversation log.** A session's conversation is a log of entries (turns and
///   summaries) with dense sequence numbers. [`head`](Self::head) tells where it stands with one
///   small strongly consistent read; [`entries`](Self::entries) reads any range of it.
///   [`commit`](Self::commit) appends a run's turn (and optionally a summary before it) and
///   writes the run's final record, *atomically* (all or nothing, never torn) and
///   *conditionally*: when the session is no longer at `base` it fails with
///   [`SessionErrorKind::Conflict`] and writes nothing — unless the run itself already
///   committed (a retry after a lost response), which is recognised by the run id however many
///   commits came after it and returns that commit with `replayed` set.
/// - **Runs.** Each run has a record, numbered densely per session in the order runs were
///   recorded. A run recorded in real time claims its record first ([`begin_run`]), appends
///   its events ([`append_events`]), beats its heart ([`heartbeat`]) and ends with its commit
///   or [`finish_run`]; a record's writes need the run's lease. A run that is not recorded in
///   real time gets its record with its commit or `finish_run`. Writing one run's record or
///   events never conflicts with other runs.
/// - **Lifecycle.** A session lives until the store's time to live after its last write; after
///   that every read treats it as gone, whether or not the backend has removed its data yet,
///   and its data is removed no sooner than one more time to live later. A run whose session
///   expired while it ran still commits (the session lives on from that commit) if the data is
///   still there, and fails with [`SessionErrorKind::Expired`] otherwise. A run whose session
///   was deleted while it ran fails with [`SessionErrorKind::Deleted`]: a commit never brings a
///   deleted conversation back.
/// - **Errors** are [`SessionError`]s with a [`SessionErrorKind`]; damaged or hostile stored
///   data gives [`SessionErrorKind::CorruptedData`] naming the session and the item, and other
///   sessions keep working. A write whose outcome is unknown (a lost response) says so
///   ([`SessionError::maybe_applied`]); repeating it is safe.
///
/// [`begin_run`]: Self::begin_run
/// [`append_events`]: Self::append_events
/// [`heartbeat`]: Self::heartbeat
/// [`finish_run`]: Self::finish_run
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// The session's head (strongly consistent). A session that does not exist, has expired or
    /// was deleted has an empty version (its run counters may continue).
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError>;

    /// The entries `from ..= to` of the session's current life, in order, dense. A range
    /// outside the current life, or a gap in the stored entries, is an error
    /// ([`SessionErrorKind::NotFound`], [`SessionErrorKind::CorruptedData`]).
    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError>;

    /// Appends a run's turn and writes its final record, if the session is still at
    /// `commit.base` (see the [contract](SessionStore#contract)); applies the commit's state
    /// changes in the same write. A state the changes would make too large
    /// ([`agent_core::MAX_STATE_BYTES`]) is [`SessionErrorKind::InvalidInput`], nothing written.
    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError>;

    /// Records that a run began, for a run recorded in real time: gives it the next run number
    /// and writes `reasoning` (status `running`) as its record, with a lease that holds for
    /// `lease_for` past each heartbeat ([`RunRecord::lease_expires_at`]). Starts the session if
    /// it does not exist. The run's first lease is its run id (`reasoning.run_id`), so
    /// repeating the call after a lost answer returns the same lease and writes nothing; when
    /// the run has ended or another process claimed it since, the repeat fails with
    /// [`SessionErrorKind::Conflict`]. A lease longer than a year counts as a year.
    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError>;

    /// Appends events to a run begun with [`begin_run`](Self::begin_run). Their indexes are
    /// dense from 1 across calls; writing an index again replaces it (a retried write).
    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError>;

    /// Says the run is alive: sets its heartbeat to now and its lease to hold `lease_for`
    /// longer. Fails with [`SessionErrorKind::Conflict`] when another process holds the run
    /// now (it was taken over) and with [`SessionErrorKind::Deleted`] when the session was
    /// deleted.
    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError>;

    /// Writes the final record of a run that did not commit (it failed or was cancelled), and
    /// returns its number: the lease's, or the next one for a run that had none. Idempotent by
    /// run id: when the run (`reasoning.run_id`) already has a final record — written by a
    /// repeated call, or by its commit whose answer was lost — that record is kept and its
    /// number returned.
    ///
    /// A run that pauses (status [`paused`](agent_core::RunStatus::Paused), waiting for a
    /// person's decisions) writes its record the same way: the lease is released (a paused run
    /// holds none), the record is not final, and the heartbeat stays as it was, for the
    /// [claim](Self::claim_run) that continues it. Pausing again with the lease just released
    /// (a repeat after a lost answer) succeeds and changes nothing.
    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError>;

    /// Takes over a run whose process stopped heart-beating, if its heartbeat is still the
    /// claim's `last_heartbeat` (so two resumers cannot both win) and its lease has expired by
    /// the store's clock (so a live run is never taken over, whatever the claimant's own
    /// limit), and returns the new lease. A claim repeated with the same lease (after a lost
    /// response) succeeds again. Fails with [`SessionErrorKind::Conflict`] otherwise.
    ///
    /// A paused run (status `paused`, no lease) is claimed the same way, on its heartbeat
    /// alone (it has no lease to expire): of several processes answering it, exactly one
    /// wins. The claim's [`reasoning`](RunClaim::reasoning), when given, is written as the
    /// record in the same conditional write (a continued run is `running` again).
    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError>;

    /// Run records with numbers above `after`, in order, at most `limit`. A record that cannot
    /// be read is returned as [`RunRecord::damaged`] in its place, so one damaged record never
    /// hides the others.
    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError>;

    /// The record of the newest run, if any ([`RunRecord::damaged`] when it cannot be read).
    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError>;

    /// A run's stored events with indexes above `after`, in order, at most `limit`.
    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError>;

    /// Waits until the session may have changed, or `timeout` passes. Followers call it between
    /// reads. The default waits `timeout`; a store that can tell when a session changes
    /// returns sooner.
    async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
        let _ = session;
        tokio::time::sleep(timeout).await;
    }

    /// Deletes the session's conversation, runs and events.
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError>;

    /// Changes a live session's state outside a run — an operator revoking an "always approve",
    /// a fork linking its source to it — key by key on the state the session has now, and
    /// returns the head as it is after. It writes no turn and leaves the session's time to live
    /// as it was. The default says the store cannot ([`SessionErrorKind::Unsupported`]).
    ///
    /// Fails with [`SessionErrorKind::NotFound`] for a session that does not exist (or expired
    /// or was deleted), and [`SessionErrorKind::InvalidInput`] when the state would pass
    /// [`agent_core::MAX_STATE_BYTES`] (nothing written).
    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        let _ = changes;
        Err(SessionError::new(
            SessionErrorKind::Unsupported,
            format!("{self:?} cannot change a session's state outside a run"),
        )
        .for_session(session))
    }

    /// How long a session lives after its last write, when the store knows (the default says
    /// it does not). A run that pauses uses it as the default time a call waits for approval.
    fn time_to_live(&self) -> Option<Duration> {
        None
    }

    /// Lists live sessions, a page at a time (`page` is the previous page's `next`).
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        let _ = (page, limit);
        Err(SessionError::new(
            SessionErrorKind::Unsupported,
            format!("{self:?} cannot list sessions"),
        ))
    }
}

macro_rules! forward_store {
    ($($wrapper:ty),*) => {$(
        #[async_trait]
        impl<S: SessionStore + ?Sized> SessionStore for $wrapper {
            async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
                (**self).head(session).await
            }
            async fn entries(
                &self,
                session: &SessionId,
                from: u64,
                to: u64,
            ) -> Result<Vec<Entry>, SessionError> {
                (**self).entries(session, from, to).await
            }
            async fn commit(
                &self,
                session: &SessionId,
                commit: Commit<'_>,
            ) -> Result<Committed, SessionError> {
                (**self).commit(session, commit).await
            }
            async fn begin_run(
                &self,
                session: &SessionId,
                reasoning: &Reasoning,
                lease_for: Duration,
            ) -> Result<RunLease, SessionError> {
                (**self).begin_run(session, reasoning, lease_for).await
            }
            async fn append_events(
                &self,
                session: &SessionId,
                lease: &RunLease,
                events: &[StoredEvent],
            ) -> Result<(), SessionError> {
                (**self).append_events(session, lease, events).await
            }
            async fn heartbeat(
                &self,
                session: &SessionId,
                lease: &RunLease,
                lease_for: Duration,
            ) -> Result<(), SessionError> {
                (**self).heartbeat(session, lease, lease_for).await
            }
            async fn finish_run(
                &self,
                session: &SessionId,
                lease: Option<&RunLease>,
                reasoning: &Reasoning,
            ) -> Result<u64, SessionError> {
                (**self).finish_run(session, lease, reasoning).await
            }
            async fn claim_run(
                &self,
                session: &SessionId,
                claim: &RunClaim,
            ) -> Result<RunLease, SessionError> {
                (**self).claim_run(session, claim).await
            }
            async fn runs(
                &self,
                session: &SessionId,
                after: u64,
                limit: usize,
            ) -> Result<Vec<RunRecord>, SessionError> {
                (**self).runs(session, after, limit).await
            }
            async fn latest_run(
                &self,
                session: &SessionId,
            ) -> Result<Option<RunRecord>, SessionError> {
                (**self).latest_run(session).await
            }
            async fn events(
                &self,
                session: &SessionId,
                run: u64,
                after: u32,
                limit: usize,
            ) -> Result<Vec<StoredEvent>, SessionError> {
                (**self).events(session, run, after, limit).await
            }
            async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
                (**self).wait_for_changes(session, timeout).await
            }
            async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
                (**self).delete(session).await
            }
            fn time_to_live(&self) -> Option<Duration> {
                (**self).time_to_live()
            }
            async fn update_state(
                &self,
                session: &SessionId,
                changes: &StateChanges,
            ) -> Result<SessionHead, SessionError> {
                (**self).update_state(session, changes).await
            }
            async fn list_sessions(
                &self,
                page: Option<&str>,
                limit: usize,
            ) -> Result<SessionPage, SessionError> {
                (**self).list_sessions(page, limit).await
            }
        }
    )*};
}

forward_store!(Arc<S>, Box<S>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_serialise_with_a_type_tag_and_unknown_kinds_still_read() {
        let body = EntryBody::Summary(Summary::new("They talked about Oslo.", 4, 9));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"type": "summary", "text": "They talked about Oslo.", "through_seq": 4, "messages": 9})
        );
        let newer: EntryBody =
            serde_json::from_value(json!({"type": "checkpoint", "state": {}})).unwrap();
        assert_eq!(newer, EntryBody::Unknown);
        assert!(newer.messages().is_empty());
    }

    #[test]
    fn a_hostile_head_counts_no_entries_instead_of_overflowing() {
        let head = SessionHead::new(SessionVersion::new(1, 3), 10, 1, 0);
        assert_eq!(head.entry_count(), 0);
        let head = SessionHead::new(SessionVersion::new(1, u64::MAX), 1, 1, 0);
        assert_eq!(head.entry_count(), u64::MAX - 1);
    }

    #[test]
    fn heads_count_their_entries() {
        let head = SessionHead::new(SessionVersion::new(7, 12), 10, 1, 4);
        assert_eq!((head.last_seq(), head.entry_count()), (12, 3));
        assert!(head.exists());
        let empty = SessionHead::empty();
        assert_eq!(empty.entry_count(), 0);
        assert!(!empty.exists());
    }
}
