//! [`InMemorySessionStore`]: a [`SessionStore`] in the process's memory, for tests, examples
//! and single-process applications.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agent_core::{Reasoning, RunStatus, SessionState, StateChanges};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use uuid::Uuid;

use crate::DEFAULT_SESSION_TTL;
use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionId;
use crate::store::{
    Commit, Committed, Entry, EntryBody, RunClaim, RunLease, RunRecord, SessionHead, SessionInfo,
    SessionPage, SessionStore, StoredEvent,
};
use crate::version::SessionVersion;
use agent_core::{Clock, TokioClock};

/// Expired sessions are swept from memory at most this often (and dropped whenever touched).
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A [`SessionStore`] that keeps sessions in the process's memory.
///
/// It follows the store contract exactly, with the simplest possible means: one map of sessions
/// behind a mutex that is never held across an `.await`.
///
/// - Lives are numbered across the whole store, so a session deleted (or expired) and written
///   again never shows a version it had before.
/// - Time comes from a [`Clock`], by default a [`TokioClock`]: tests that pause Tokio's clock
///   can step over time-to-live and heartbeat limits instantly.
/// - Followers are woken when a session changes, without polling.
/// - Nothing survives the process. For sessions that outlive it, or that several processes
///   share, use a persistent store (SQLite or DynamoDB).
///
/// Cloning is cheap and every clone shares the same sessions.
///
/// ```
/// use std::time::Duration;
/// use agent_session::{InMemorySessionStore, SessionId, SessionStore, SessionVersion};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemorySessionStore::with_ttl(Duration::from_secs(600))?;
/// let head = store.head(&SessionId::new("user123")?).await?;
/// assert_eq!(head.version, SessionVersion::EMPTY);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct InMemorySessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

struct State {
    sessions: HashMap<SessionId, Stored>,
    /// The last life handed out by any session of this store.
    last_life: u64,
    last_sweep: Timestamp,
}

/// One session's data, kept after expiry or deletion as long as the contract says.
struct Stored {
    life: u64,
    deleted: bool,
    /// The life before this one, and whether it ended by a delete (else it expired).
    previous_life: (u64, bool),
    first_seq: u64,
    entries: Vec<Entry>,
    summary_seq: Option<u64>,
    first_run: u64,
    last_run: u64,
    runs: BTreeMap<u64, StoredRun>,
    /// What each run's commit did, to recognise a retried commit.
    commits: HashMap<Uuid, Committed>,
    expires_at: Timestamp,
    /// The session's state, changed by commits.
    state: SessionState,
}

struct StoredRun {
    record: RunRecord,
    events: Vec<StoredEvent>,
}

impl Stored {
    fn last_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64 - 1
    }

    fn version(&self) -> SessionVersion {
        if self.entries.is_empty() {
            SessionVersion::EMPTY
        } else {
            SessionVersion::new(self.life, self.last_seq())
        }
    }

    fn is_live(&self, now: Timestamp) -> bool {
        !self.deleted && now < self.expires_at
    }

    /// Starts a new life after this one: numbers continue, data goes.
    fn restart(&mut self, life: u64) {
        self.previous_life = (self.life, self.deleted);
        self.life = life;
        self.deleted = false;
        self.first_seq = self.last_seq() + 1;
        self.entries.clear();
        self.summary_seq = None;
        self.first_run = self.last_run + 1;
        self.runs.clear();
        self.commits.clear();
        self.state = SessionState::new();
    }

    fn head(&self, now: Timestamp) -> SessionHead {
        if !self.is_live(now) {
            let mut head = SessionHead::empty();
            head.first_seq = self.last_seq() + 1;
            head.first_run = self.last_run + 1;
            head.runs = self.last_run;
            return head;
        }
        SessionHead::new(
            self.version(),
            self.first_seq,
            self.first_run,
            self.last_run,
        )
        .with_summary(self.summary_seq)
        .with_expiry(Some(self.expires_at))
        .with_state(self.state.clone())
    }
}

impl fmt::Debug for InMemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemorySessionStore")
            .field("ttl", &self.inner.ttl)
            .field("sessions", &self.lock().sessions.len())
            .finish()
    }
}

impl Default for InMemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

fn error(kind: SessionErrorKind, session: &SessionId, message: impl Into<String>) -> SessionError {
    SessionError::new(kind, message).for_session(session)
}

impl InMemorySessionStore {
    /// An empty store whose sessions live [`DEFAULT_SESSION_TTL`] (one hour) after their last
    /// write.
    pub fn new() -> Self {
        Self::build(DEFAULT_SESSION_TTL, Arc::new(TokioClock::new()))
    }

    /// An empty store whose sessions live `ttl` after their last write.
    ///
    /// # Errors
    ///
    /// [`SessionErrorKind::InvalidInput`] when `ttl` is zero.
    pub fn with_ttl(ttl: Duration) -> Result<Self, SessionError> {
        crate::check_ttl(ttl)?;
        Ok(Self::build(ttl, Arc::new(TokioClock::new())))
    }

    /// The same (empty) store taking the time from `clock`.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self::build(self.inner.ttl, clock)
    }

    fn build(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            inner: Arc::new(Inner {
                ttl,
                clock,
                state: Mutex::new(State {
                    sessions: HashMap::new(),
                    last_life: 0,
                    last_sweep: now,
                }),
                changes: watch::channel(0).0,
            }),
        }
    }

    /// How long a session lives after its last write.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How many sessions the store holds, expired ones not yet dropped included.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, short of running out of memory; if something
        // did, the map is still consistent (every change is a single insert, push or replace).
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn ttl_span(&self) -> SignedDuration {
        SignedDuration::try_from(self.inner.ttl).unwrap_or(SignedDuration::MAX)
    }

    fn expiry(&self, now: Timestamp) -> Timestamp {
        now.checked_add(self.ttl_span()).unwrap_or(Timestamp::MAX)
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Drops sessions whose data may go (one time to live after they expired), at most once
    /// per interval.
    fn sweep(&self, state: &mut State, now: Timestamp) {
        let interval = SignedDuration::try_from(self.inner.ttl.min(MAX_SWEEP_INTERVAL))
            .unwrap_or(SignedDuration::MAX);
        if now.duration_since(state.last_sweep) < interval {
            return;
        }
        state.last_sweep = now;
        let grace = self.ttl_span();
        state.sessions.retain(|_, stored| {
            now < stored
                .expires_at
                .checked_add(grace)
                .unwrap_or(Timestamp::MAX)
        });
    }

    /// The session to start or continue a run in: live, or a new life.
    fn writable<'s>(
        &self,
        state: &'s mut State,
        session: &SessionId,
        now: Timestamp,
    ) -> &'s mut Stored {
        self.sweep(state, now);
        let State {
            sessions,
            last_life,
            ..
        } = state;
        let stored = sessions.entry(session.clone()).or_insert_with(|| {
            *last_life += 1;
            Stored {
                life: *last_life,
                deleted: false,
                previous_life: (0, false),
                first_seq: 1,
                entries: Vec::new(),
                summary_seq: None,
                first_run: 1,
                last_run: 0,
                runs: BTreeMap::new(),
                commits: HashMap::new(),
                expires_at: now,
                state: SessionState::new(),
            }
        });
        let fresh = stored.entries.is_empty() && stored.runs.is_empty() && !stored.deleted;
        if !stored.is_live(now) && !fresh {
            *last_life += 1;
            stored.restart(*last_life);
        }
        stored
    }

    fn live<'s>(&self, state: &'s mut State, session: &SessionId) -> Option<&'s mut Stored> {
        let now = self.inner.clock.now();
        state
            .sessions
            .get_mut(session)
            .filter(|stored| stored.is_live(now))
    }

    fn run_mut<'s>(
        stored: &'s mut Stored,
        session: &SessionId,
        lease: &RunLease,
    ) -> Result<&'s mut StoredRun, SessionError> {
        if stored.deleted {
            return Err(error(
                SessionErrorKind::Deleted,
                session,
                "the session was deleted",
            ));
        }
        match stored.runs.get_mut(&lease.run) {
            Some(run) if run.record.lease == Some(lease.lease) => Ok(run),
            Some(_) => Err(error(
                SessionErrorKind::Conflict,
                session,
                format!("run {} is held by another process now", lease.run),
            )),
            None => Err(error(
                SessionErrorKind::NotFound,
                session,
                format!("run {} does not exist", lease.run),
            )),
        }
    }
}

#[async_trait]
impl SessionStore for InMemorySessionStore {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        let now = self.inner.clock.now();
        Ok(self
            .lock()
            .sessions
            .get(session)
            .map_or_else(SessionHead::empty, |stored| stored.head(now)))
    }

    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        let mut state = self.lock();
        let Some(stored) = self.live(&mut state, session) else {
            return Err(error(
                SessionErrorKind::NotFound,
                session,
                "the session does not exist",
            ));
        };
        if from < stored.first_seq || to > stored.last_seq() || from > to {
            return Err(error(
                SessionErrorKind::NotFound,
                session,
                format!(
                    "entries {from}..={to} are outside the session's {}..={}",
                    stored.first_seq,
                    stored.last_seq()
                ),
            ));
        }
        let start = usize::try_from(from - stored.first_seq).unwrap_or(usize::MAX);
        let end = usize::try_from(to - stored.first_seq).unwrap_or(usize::MAX);
        Ok(stored.entries[start..=end].to_vec())
    }

    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        if commit.messages.is_empty() {
            return Err(error(
                SessionErrorKind::InvalidInput,
                session,
                format!("run {} has no messages to commit", commit.run_id),
            ));
        }
        let now = self.inner.clock.now();
        let mut state = self.lock();
        self.sweep(&mut state, now);
        let stored = state.sessions.get(session);
        if let Some(done) = stored.and_then(|s| s.commits.get(&commit.run_id)) {
            return Ok(Committed {
                replayed: true,
                ..*done
            });
        }
        // Whether the run may write, and on which life.
        match stored {
            _ if commit.base.is_empty() => {
                if stored.is_some_and(|s| s.is_live(now) && !s.entries.is_empty()) {
                    let current = stored.map(Stored::version).unwrap_or_default();
                    return Err(error(
                        SessionErrorKind::Conflict,
                        session,
                        format!(
                            "the session is at {current}, not empty: another run committed first"
                        ),
                    ));
                }
            }
            Some(s) if s.life == commit.base.life() && s.deleted => {
                return Err(error(
                    SessionErrorKind::Deleted,
                    session,
                    "the session was deleted while the run ran",
                ));
            }
            Some(s) if s.life == commit.base.life() => {
                if s.last_seq() != commit.base.seq() || s.entries.is_empty() {
                    return Err(error(
                        SessionErrorKind::Conflict,
                        session,
                        format!(
                            "the session is at {}, no longer at {}: another run committed first",
                            s.version(),
                            commit.base
                        ),
                    ));
                }
            }
            Some(s) if s.previous_life == (commit.base.life(), true) => {
                return Err(error(
                    SessionErrorKind::Deleted,
                    session,
                    "the session was deleted while the run ran",
                ));
            }
            Some(_) => {
                return Err(error(
                    SessionErrorKind::Expired,
                    session,
                    "the session expired while the run ran and was started again; the run's conversation is gone",
                ));
            }
            None => {
                return Err(error(
                    SessionErrorKind::Expired,
                    session,
                    "the session expired while the run ran and its data is gone",
                ));
            }
        }
        let expires_at = self.expiry(now);
        let stored = if commit.base.is_empty() {
            self.writable(&mut state, session, now)
        } else {
            match state.sessions.get_mut(session) {
                Some(stored) => stored,
                None => {
                    return Err(error(
                        SessionErrorKind::Expired,
                        session,
                        "the session's data is gone",
                    ));
                }
            }
        };
        if let Some(lease) = &commit.lease {
            Self::run_mut(stored, session, lease)?;
        }
        // Checked before anything changes: a refused state writes nothing.
        let new_state = match commit.state {
            Some(changes) => Some(stored.state.apply(changes).map_err(|refused| {
                error(SessionErrorKind::InvalidInput, session, refused.to_string())
            })?),
            None => None,
        };
        let run = match &commit.lease {
            Some(lease) => lease.run,
            None => {
                stored.last_run += 1;
                stored.last_run
            }
        };
        if let Some(state) = new_state {
            stored.state = state;
        }
        if let Some(summary) = commit.summary {
            let seq = stored.first_seq + stored.entries.len() as u64;
            stored.entries.push(Entry::new(
                seq,
                EntryBody::Summary(summary.clone()),
                Some(now),
            ));
            stored.summary_seq = Some(seq);
        }
        let seq = stored.first_seq + stored.entries.len() as u64;
        stored.entries.push(Entry::new(
            seq,
            EntryBody::Turn {
                run_id: commit.run_id,
                messages: commit.messages.to_vec(),
            },
            Some(now),
        ));
        let events = stored
            .runs
            .remove(&run)
            .map(|r| r.events)
            .unwrap_or_default();
        let mut record = RunRecord::new(run, commit.reasoning.clone());
        record.committed_seq = Some(seq);
        stored.runs.insert(run, StoredRun { record, events });
        stored.expires_at = expires_at;
        let committed = Committed::new(SessionVersion::new(stored.life, seq), seq, run, false);
        stored.commits.insert(commit.run_id, committed);
        drop(state);
        self.changed();
        Ok(committed)
    }

    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        let now = self.inner.clock.now();
        let expires_at = self.expiry(now);
        let mut state = self.lock();
        let stored = self.writable(&mut state, session, now);
        // A run's first lease is its run id, so a repeat (after a lost answer) is recognised:
        // the same lease, still held, is the run's; another lease means another process
        // claimed the run in between.
        if let Some(existing) = stored
            .runs
            .values()
            .rev()
            .find(|run| run.record.reasoning.run_id == reasoning.run_id)
        {
            return if existing.record.lease == Some(reasoning.run_id)
                && existing.record.reasoning.status == RunStatus::Running
            {
                Ok(RunLease::new(existing.record.run, reasoning.run_id))
            } else {
                Err(error(
                    SessionErrorKind::Conflict,
                    session,
                    format!(
                        "run {} was begun before and has ended or was taken over",
                        existing.record.run
                    ),
                ))
            };
        }
        stored.last_run += 1;
        let lease = RunLease::new(stored.last_run, reasoning.run_id);
        let mut record = RunRecord::new(lease.run, reasoning.clone());
        record.lease = Some(lease.lease);
        record.heartbeat_at = Some(now);
        record.lease_expires_at = Some(lease_end(now, lease_for));
        stored.runs.insert(
            lease.run,
            StoredRun {
                record,
                events: Vec::new(),
            },
        );
        stored.expires_at = stored.expires_at.max(expires_at);
        drop(state);
        self.changed();
        Ok(lease)
    }

    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        let mut state = self.lock();
        let Some(stored) = state.sessions.get_mut(session) else {
            return Err(error(
                SessionErrorKind::Deleted,
                session,
                "the session is gone",
            ));
        };
        let run = Self::run_mut(stored, session, lease)?;
        for event in events {
            let index = event.index as usize;
            if index == 0 || index > run.events.len() + 1 {
                return Err(error(
                    SessionErrorKind::InvalidInput,
                    session,
                    format!(
                        "event index {} of run {} leaves a gap after {}",
                        event.index,
                        lease.run,
                        run.events.len()
                    ),
                ));
            }
            if index <= run.events.len() {
                run.events[index - 1] = event.clone();
            } else {
                run.events.push(event.clone());
            }
        }
        drop(state);
        self.changed();
        Ok(())
    }

    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        let now = self.inner.clock.now();
        let expires_at = self.expiry(now);
        let mut state = self.lock();
        let Some(stored) = state.sessions.get_mut(session) else {
            return Err(error(
                SessionErrorKind::Deleted,
                session,
                "the session is gone",
            ));
        };
        let run = Self::run_mut(stored, session, lease)?;
        run.record.heartbeat_at = Some(now);
        run.record.lease_expires_at = Some(lease_end(now, lease_for));
        stored.expires_at = stored.expires_at.max(expires_at);
        Ok(())
    }

    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        // Idempotent by run id: a run that already has a final record keeps it (a repeated call,
        // or a commit whose answer was lost).
        if let Some(stored) = state.sessions.get(session)
            && let Some(done) = stored.runs.values().rev().find(|run| {
                run.record.reasoning.run_id == reasoning.run_id
                    && (run.record.reasoning.status.is_final()
                        // A pause repeated after its answer was lost.
                        || (run.record.reasoning.status == RunStatus::Paused
                            && reasoning.status == RunStatus::Paused
                            && run.record.lease.is_none()))
            })
        {
            return Ok(done.record.run);
        }
        let run = match lease {
            Some(lease) => {
                let Some(stored) = state.sessions.get_mut(session) else {
                    return Err(error(
                        SessionErrorKind::Deleted,
                        session,
                        "the session is gone",
                    ));
                };
                let run = Self::run_mut(stored, session, lease)?;
                run.record.reasoning = reasoning.clone();
                run.record.lease = None;
                run.record.lease_expires_at = None;
                lease.run
            }
            None => {
                let expires_at = self.expiry(now);
                let stored = self.writable(&mut state, session, now);
                stored.last_run += 1;
                let run = stored.last_run;
                stored.runs.insert(
                    run,
                    StoredRun {
                        record: RunRecord::new(run, reasoning.clone()),
                        events: Vec::new(),
                    },
                );
                stored.expires_at = stored.expires_at.max(expires_at);
                run
            }
        };
        drop(state);
        self.changed();
        Ok(run)
    }

    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        let run = claim.run;
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let Some(stored) = self.live(&mut state, session) else {
            return Err(error(
                SessionErrorKind::NotFound,
                session,
                "the session does not exist",
            ));
        };
        let Some(slot) = stored.runs.get_mut(&run) else {
            return Err(error(
                SessionErrorKind::NotFound,
                session,
                format!("run {run} does not exist"),
            ));
        };
        let lease = RunLease::new(run, claim.lease);
        if slot.record.lease == Some(claim.lease) {
            // This claim's own, repeated after a lost answer.
            return Ok(lease);
        }
        if slot.record.reasoning.status == RunStatus::Paused && slot.record.lease.is_none() {
            // A paused run waits without a lease: its heartbeat alone decides the claim.
            if slot.record.heartbeat_at != claim.last_heartbeat {
                return Err(error(
                    SessionErrorKind::Conflict,
                    session,
                    format!("run {run} was answered by another process"),
                ));
            }
        } else if slot.record.reasoning.status != RunStatus::Running || slot.record.lease.is_none()
        {
            return Err(error(
                SessionErrorKind::Conflict,
                session,
                format!("run {run} has ended"),
            ));
        }
        if slot.record.heartbeat_at != claim.last_heartbeat {
            return Err(error(
                SessionErrorKind::Conflict,
                session,
                format!("run {run} is alive or was claimed by another process"),
            ));
        }
        if slot
            .record
            .lease_expires_at
            .is_some_and(|until| now < until)
        {
            return Err(error(
                SessionErrorKind::Conflict,
                session,
                format!("run {run} is alive: its lease has not expired"),
            ));
        }
        slot.record.lease = Some(lease.lease);
        slot.record.heartbeat_at = Some(now);
        slot.record.lease_expires_at = Some(lease_end(now, claim.lease_for));
        if let Some(reasoning) = &claim.reasoning {
            slot.record.reasoning = reasoning.clone();
        }
        drop(state);
        self.changed();
        Ok(lease)
    }

    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        let mut state = self.lock();
        Ok(self
            .live(&mut state, session)
            .map(|stored| {
                stored
                    .runs
                    .range(after.saturating_add(1)..)
                    .take(limit)
                    .map(|(_, run)| run.record.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        let mut state = self.lock();
        Ok(self.live(&mut state, session).and_then(|stored| {
            stored
                .runs
                .values()
                .next_back()
                .map(|run| run.record.clone())
        }))
    }

    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        let mut state = self.lock();
        Ok(self
            .live(&mut state, session)
            .and_then(|stored| stored.runs.get(&run))
            .map(|run| {
                run.events
                    .iter()
                    .skip(after as usize)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn wait_for_changes(&self, _session: &SessionId, timeout: Duration) {
        let mut changes = self.inner.changes.subscribe();
        changes.mark_unchanged();
        let _ = tokio::time::timeout(timeout, changes.changed()).await;
    }

    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        if let Some(stored) = state.sessions.get_mut(session) {
            stored.deleted = true;
            stored.first_seq = stored.last_seq() + 1;
            stored.entries.clear();
            stored.summary_seq = None;
            stored.runs.clear();
            stored.commits.clear();
            stored.state = SessionState::new();
            stored.first_run = stored.last_run + 1;
            stored.expires_at = now;
        }
        drop(state);
        self.changed();
        Ok(())
    }

    fn time_to_live(&self) -> Option<Duration> {
        Some(self.inner.ttl)
    }

    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let Some(stored) = self
            .live(&mut state, session)
            .filter(|s| !s.entries.is_empty())
        else {
            return Err(error(
                SessionErrorKind::NotFound,
                session,
                "the session does not exist",
            ));
        };
        stored.state = stored.state.apply(changes).map_err(|refused| {
            error(SessionErrorKind::InvalidInput, session, refused.to_string())
        })?;
        let head = stored.head(now);
        drop(state);
        self.changed();
        Ok(head)
    }

    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        let now = self.inner.clock.now();
        let state = self.lock();
        let mut live: Vec<SessionInfo> = state
            .sessions
            .iter()
            .filter(|(id, stored)| {
                stored.is_live(now) && page.is_none_or(|after| id.as_str() > after)
            })
            .map(|(id, stored)| SessionInfo::new(id.clone(), stored.head(now)))
            .collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        let next = (live.len() > limit).then(|| live[limit - 1].id.to_string());
        live.truncate(limit);
        Ok(SessionPage::new(live, next.filter(|_| limit > 0)))
    }
}

/// The end of a lease that lasts `lease_for` from `now`. A lease longer than a year counts as
/// a year: an end that far stays a time every store can write and read back.
pub(crate) fn lease_end(now: Timestamp, lease_for: Duration) -> Timestamp {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    jiff::SignedDuration::try_from(lease_for.min(YEAR))
        .ok()
        .and_then(|lease| now.checked_add(lease).ok())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::Message;

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn turn(query: &str) -> Vec<Message> {
        vec![
            Message::user_text(query),
            Message::assistant_text(format!("re: {query}")),
        ]
    }

    async fn commit(
        store: &InMemorySessionStore,
        session: &SessionId,
        base: SessionVersion,
        messages: &[Message],
    ) -> Result<Committed, SessionError> {
        let reasoning = Reasoning::start("q", Some(session.to_string()));
        store
            .commit(
                session,
                Commit::new(Uuid::now_v7(), base, messages, &reasoning),
            )
            .await
    }

    #[test]
    fn a_zero_ttl_is_rejected() {
        let error = InMemorySessionStore::with_ttl(Duration::ZERO).unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::InvalidInput);
        assert_eq!(InMemorySessionStore::new().ttl(), DEFAULT_SESSION_TTL);
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_live_until_the_ttl_after_their_last_write_and_are_swept_later() {
        let ttl = Duration::from_secs(10);
        let store = InMemorySessionStore::with_ttl(ttl).unwrap();
        let s = id("ttl");
        let v1 = commit(&store, &s, SessionVersion::EMPTY, &turn("one"))
            .await
            .unwrap()
            .version;
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(store.head(&s).await.unwrap().version, v1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(store.head(&s).await.unwrap().version, SessionVersion::EMPTY);
        assert!(store.runs(&s, 0, 10).await.unwrap().is_empty());
        // A run that loaded v1 before the expiry still commits: its data is there.
        let late = commit(&store, &s, v1, &turn("late")).await.unwrap();
        assert_eq!(late.version.life(), v1.life());
        // Expired and swept (one TTL after expiry): the data is gone, a late commit says so.
        tokio::time::advance(Duration::from_secs(31)).await;
        commit(&store, &id("other"), SessionVersion::EMPTY, &turn("x"))
            .await
            .unwrap();
        assert_eq!(store.session_count(), 1);
        let error = commit(&store, &s, late.version, &turn("too late"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Expired);
    }

    #[tokio::test(start_paused = true)]
    async fn followers_are_woken_by_changes() {
        let store = InMemorySessionStore::new();
        let s = id("wake");
        let waiter = {
            let store = store.clone();
            let s = s.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                store.wait_for_changes(&s, Duration::from_secs(30)).await;
                started.elapsed()
            })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        commit(&store, &s, SessionVersion::EMPTY, &turn("hi"))
            .await
            .unwrap();
        let waited = waiter.await.unwrap();
        assert_eq!(
            waited,
            Duration::from_millis(20),
            "woken by the commit, not the timeout"
        );
    }
}
