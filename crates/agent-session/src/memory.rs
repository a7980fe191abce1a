//! [`InMemorySessionStore`]: a [`SessionStore`] in the process's memory, for tests, examples
//! and single-process applications.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agent_core::{Message, Reasoning};
use async_trait::async_trait;
use tokio::time::Instant;
use uuid::Uuid;

use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionId;
use crate::store::{RunCommit, SessionSnapshot, SessionStore, SessionVersion};

/// The time to live of [`InMemorySessionStore::new`]: one hour after a session's last write.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);

/// Expired sessions are swept from memory at most this often (and dropped whenever read).
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A [`SessionStore`] that keeps sessions in the process's memory.
///
/// It follows the store contract exactly, with the simplest possible means: one map of sessions
/// behind a mutex that is never held across an `.await`.
///
/// - Commits are conditional on the session's version. Versions come from one counter for the
///   whole store, so a session that was deleted (or expired) and written again never reuses a
///   version an older snapshot of it had, and a commit computed from that snapshot conflicts.
/// - A session lives until the TTL after its last write (a commit or a reasoning save); after
///   that it reads as gone, and it is dropped from memory when next touched (or by a sweep
///   during a later write). The TTL is measured with [`tokio::time::Instant`], so tests that
///   pause tokio's clock can step over it.
/// - Nothing survives the process. For sessions that outlive it, or that several processes
///   share, use a persistent store (such as the DynamoDB one).
///
/// Cloning is cheap and every clone shares the same sessions, so one store can be handed to
/// many tasks and agents.
///
/// ```
/// use std::time::Duration;
/// use agent_session::{InMemorySessionStore, SessionId, SessionStore, SessionVersion};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemorySessionStore::with_ttl(Duration::from_secs(600))?;
/// let snapshot = store.load(&SessionId::new("user123")?).await?;
/// assert!(snapshot.messages.is_empty());
/// assert_eq!(snapshot.version, SessionVersion::EMPTY);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct InMemorySessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    state: Mutex<State>,
}

struct State {
    sessions: HashMap<SessionId, StoredSession>,
    /// The last version handed out by any session of this store.
    last_version: u64,
    last_sweep: Instant,
}

/// One session's data.
struct StoredSession {
    messages: Vec<Message>,
    version: SessionVersion,
    /// The version each committed run produced, to recognise a retried commit.
    commits: HashMap<Uuid, SessionVersion>,
    /// One record per run, in the order the runs were first saved.
    reasoning: Vec<Reasoning>,
    /// Where each run's record is in `reasoning`.
    reasoning_index: HashMap<Uuid, usize>,
    expires_at: Instant,
}

impl StoredSession {
    fn new(expires_at: Instant) -> Self {
        Self {
            messages: Vec::new(),
            version: SessionVersion::EMPTY,
            commits: HashMap::new(),
            reasoning: Vec::new(),
            reasoning_index: HashMap::new(),
            expires_at,
        }
    }

    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

impl State {
    /// The session, if it exists and has not expired; an expired one is dropped.
    fn live(&mut self, session: &SessionId, now: Instant) -> Option<&mut StoredSession> {
        if self
            .sessions
            .get(session)
            .is_some_and(|stored| stored.is_expired(now))
        {
            self.sessions.remove(session);
        }
        self.sessions.get_mut(session)
    }

    /// Drops every expired session, at most once per `interval`.
    fn sweep(&mut self, now: Instant, interval: Duration) {
        if now.duration_since(self.last_sweep) >= interval {
            self.sessions.retain(|_, stored| !stored.is_expired(now));
            self.last_sweep = now;
        }
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

impl InMemorySessionStore {
    /// An empty store whose sessions live [`DEFAULT_SESSION_TTL`] (one hour) after their last
    /// write.
    pub fn new() -> Self {
        Self::with_valid_ttl(DEFAULT_SESSION_TTL)
    }

    /// An empty store whose sessions live `ttl` after their last write.
    ///
    /// # Errors
    ///
    /// [`SessionErrorKind::InvalidInput`] when `ttl` is zero.
    pub fn with_ttl(ttl: Duration) -> Result<Self, SessionError> {
        if ttl.is_zero() {
            return Err(SessionError::new(
                SessionErrorKind::InvalidInput,
                "the session TTL must be greater than zero",
            ));
        }
        Ok(Self::with_valid_ttl(ttl))
    }

    fn with_valid_ttl(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                state: Mutex::new(State {
                    sessions: HashMap::new(),
                    last_version: 0,
                    last_sweep: Instant::now(),
                }),
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

    /// The session to write to (created when missing or expired), with its expiry pushed back.
    fn writable<'s>(&self, state: &'s mut State, session: &SessionId) -> &'s mut StoredSession {
        let now = Instant::now();
        let expires_at = now + self.inner.ttl;
        state.sweep(now, self.inner.ttl.min(MAX_SWEEP_INTERVAL));
        if state
            .sessions
            .get(session)
            .is_some_and(|stored| stored.is_expired(now))
        {
            state.sessions.remove(session);
        }
        let stored = state
            .sessions
            .entry(session.clone())
            .or_insert_with(|| StoredSession::new(expires_at));
        stored.expires_at = expires_at;
        stored
    }
}

#[async_trait]
impl SessionStore for InMemorySessionStore {
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
        let mut state = self.lock();
        Ok(match state.live(session, Instant::now()) {
            Some(stored) => SessionSnapshot {
                messages: stored.messages.clone(),
                version: stored.version,
            },
            None => SessionSnapshot::default(),
        })
    }

    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        if commit.messages.is_empty() {
            return Err(SessionError::new(
                SessionErrorKind::InvalidInput,
                format!("run {} has no messages to commit", commit.run_id),
            )
            .for_session(session));
        }
        let mut state = self.lock();
        let now = Instant::now();
        let current = match state.live(session, now) {
            Some(stored) => {
                if let Some(version) = stored.commits.get(&commit.run_id) {
                    // A retry of a commit that already went through.
                    return Ok(*version);
                }
                stored.version
            }
            None => SessionVersion::EMPTY,
        };
        if current != commit.base {
            return Err(SessionError::new(
                SessionErrorKind::Conflict,
                format!(
                    "run {} was computed from {} but the session is at {current}",
                    commit.run_id, commit.base
                ),
            )
            .for_session(session));
        }
        state.last_version += 1;
        let version = SessionVersion(state.last_version);
        let stored = self.writable(&mut state, session);
        stored.messages.extend_from_slice(commit.messages);
        stored.version = version;
        stored.commits.insert(commit.run_id, version);
        Ok(version)
    }

    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        let mut state = self.lock();
        let stored = self.writable(&mut state, session);
        match stored.reasoning_index.get(&reasoning.run_id) {
            Some(&index) => stored.reasoning[index] = reasoning.clone(),
            None => {
                stored
                    .reasoning_index
                    .insert(reasoning.run_id, stored.reasoning.len());
                stored.reasoning.push(reasoning.clone());
            }
        }
        Ok(())
    }

    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        let mut state = self.lock();
        Ok(state
            .live(session, Instant::now())
            .and_then(|stored| stored.reasoning.last().cloned()))
    }

    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        let mut state = self.lock();
        Ok(state
            .live(session, Instant::now())
            .map(|stored| stored.reasoning.clone())
            .unwrap_or_default())
    }

    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.lock().sessions.remove(session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    ) -> Result<SessionVersion, SessionError> {
        store
            .commit_run(
                session,
                RunCommit {
                    run_id: Uuid::now_v7(),
                    base,
                    messages,
                },
            )
            .await
    }

    #[test]
    fn a_zero_ttl_is_rejected() {
        let error = InMemorySessionStore::with_ttl(Duration::ZERO).unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::InvalidInput);
        assert_eq!(InMemorySessionStore::new().ttl(), DEFAULT_SESSION_TTL);
        assert_eq!(
            InMemorySessionStore::with_ttl(Duration::from_millis(1500))
                .unwrap()
                .ttl(),
            Duration::from_millis(1500)
        );
    }

    #[tokio::test]
    async fn clones_share_sessions_and_empty_commits_are_refused() {
        let store = InMemorySessionStore::new();
        let clone = store.clone();
        let s = id("shared");
        let v1 = commit(&store, &s, SessionVersion::EMPTY, &turn("a"))
            .await
            .unwrap();
        assert_eq!(clone.load(&s).await.unwrap().version, v1);
        let error = commit(&clone, &s, v1, &[]).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::InvalidInput);
        assert_eq!(error.session(), Some("shared"));
        assert_eq!(store.load(&s).await.unwrap().messages.len(), 2);
        assert!(format!("{store:?}").contains("sessions: 1"));
    }

    #[tokio::test]
    async fn a_snapshot_taken_before_a_delete_cannot_commit_after_it() {
        let store = InMemorySessionStore::new();
        let s = id("aba");
        let v1 = commit(&store, &s, SessionVersion::EMPTY, &turn("old"))
            .await
            .unwrap();
        store.delete(&s).await.unwrap();
        let v1_again = commit(&store, &s, SessionVersion::EMPTY, &turn("new"))
            .await
            .unwrap();
        assert_ne!(v1, v1_again, "versions must not be reused after a delete");
        let error = commit(&store, &s, v1, &turn("stale")).await.unwrap_err();
        assert!(error.is_conflict());
        let loaded = store.load(&s).await.unwrap();
        assert_eq!(loaded.messages, turn("new"));
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_live_until_the_ttl_after_their_last_write() {
        let ttl = Duration::from_secs(10);
        let store = InMemorySessionStore::with_ttl(ttl).unwrap();
        let s = id("ttl");
        let v1 = commit(&store, &s, SessionVersion::EMPTY, &turn("one"))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        // A reasoning save is a write too: it keeps the whole session alive.
        store
            .save_reasoning(&s, &Reasoning::start("one", Some("ttl".into())))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        let loaded = store.load(&s).await.unwrap();
        assert_eq!(loaded.version, v1);
        assert_eq!(loaded.messages, turn("one"));
        // Reads do not extend the life of a session.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(store.load(&s).await.unwrap(), SessionSnapshot::default());
        assert_eq!(store.latest_reasoning(&s).await.unwrap(), None);
        assert!(store.reasoning_history(&s).await.unwrap().is_empty());
        assert_eq!(
            store.session_count(),
            0,
            "an expired session is dropped when read"
        );
        // A commit computed before the expiry conflicts; the session starts again from empty.
        assert!(
            commit(&store, &s, v1, &turn("late"))
                .await
                .unwrap_err()
                .is_conflict()
        );
        commit(&store, &s, SessionVersion::EMPTY, &turn("fresh"))
            .await
            .unwrap();
        assert_eq!(store.load(&s).await.unwrap().messages, turn("fresh"));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_sessions_are_swept_by_later_writes() {
        let store = InMemorySessionStore::with_ttl(Duration::from_secs(5)).unwrap();
        for n in 0..10 {
            commit(
                &store,
                &id(&format!("s{n}")),
                SessionVersion::EMPTY,
                &turn("x"),
            )
            .await
            .unwrap();
        }
        assert_eq!(store.session_count(), 10);
        tokio::time::advance(Duration::from_secs(6)).await;
        commit(&store, &id("other"), SessionVersion::EMPTY, &turn("y"))
            .await
            .unwrap();
        assert_eq!(store.session_count(), 1);
    }

    #[tokio::test]
    async fn a_retried_commit_returns_its_version_even_after_the_session_moved_on() {
        let store = InMemorySessionStore::new();
        let s = id("retry");
        let run_id = Uuid::now_v7();
        let first = RunCommit {
            run_id,
            base: SessionVersion::EMPTY,
            messages: &turn("a"),
        };
        let v1 = store.commit_run(&s, first).await.unwrap();
        let v2 = commit(&store, &s, v1, &turn("b")).await.unwrap();
        assert_eq!(store.commit_run(&s, first).await.unwrap(), v1);
        let loaded = store.load(&s).await.unwrap();
        assert_eq!(loaded.version, v2);
        assert_eq!(loaded.messages.len(), 4);
    }
}
