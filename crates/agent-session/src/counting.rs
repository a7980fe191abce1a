//! [`CountingStore`]: a store decorator that counts the calls made to the store it wraps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_core::Reasoning;
use async_trait::async_trait;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::store::{RunCommit, SessionSnapshot, SessionStore, SessionVersion};

/// How many times each method of a [`CountingStore`] was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCalls {
    /// Calls of [`SessionStore::load`].
    pub load: usize,
    /// Calls of [`SessionStore::commit_run`].
    pub commit_run: usize,
    /// Calls of [`SessionStore::save_reasoning`].
    pub save_reasoning: usize,
    /// Calls of [`SessionStore::latest_reasoning`].
    pub latest_reasoning: usize,
    /// Calls of [`SessionStore::reasoning_history`].
    pub reasoning_history: usize,
    /// Calls of [`SessionStore::delete`].
    pub delete: usize,
}

impl StoreCalls {
    /// Every call, of any method.
    pub fn total(&self) -> usize {
        self.load
            + self.commit_run
            + self.save_reasoning
            + self.latest_reasoning
            + self.reasoning_history
            + self.delete
    }
}

/// Wraps a store and counts the calls made to it (counted when made, whatever their outcome).
///
/// Used by the conformance suite to prove that invalid input never reaches the store, and handy
/// for tests that check how many writes a run makes.
#[derive(Debug, Clone)]
pub struct CountingStore<S: ?Sized = dyn SessionStore> {
    counters: Arc<Counters>,
    inner: Arc<S>,
}

#[derive(Debug, Default)]
struct Counters {
    load: AtomicUsize,
    commit_run: AtomicUsize,
    save_reasoning: AtomicUsize,
    latest_reasoning: AtomicUsize,
    reasoning_history: AtomicUsize,
    delete: AtomicUsize,
}

impl<S: SessionStore + ?Sized> CountingStore<S> {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            counters: Arc::default(),
            inner,
        }
    }

    /// The calls made so far, through this wrapper and its clones.
    pub fn calls(&self) -> StoreCalls {
        let c = &self.counters;
        StoreCalls {
            load: c.load.load(Ordering::SeqCst),
            commit_run: c.commit_run.load(Ordering::SeqCst),
            save_reasoning: c.save_reasoning.load(Ordering::SeqCst),
            latest_reasoning: c.latest_reasoning.load(Ordering::SeqCst),
            reasoning_history: c.reasoning_history.load(Ordering::SeqCst),
            delete: c.delete.load(Ordering::SeqCst),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for CountingStore<S> {
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
        bump(&self.counters.load);
        self.inner.load(session).await
    }

    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        bump(&self.counters.commit_run);
        self.inner.commit_run(session, commit).await
    }

    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        bump(&self.counters.save_reasoning);
        self.inner.save_reasoning(session, reasoning).await
    }

    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        bump(&self.counters.latest_reasoning);
        self.inner.latest_reasoning(session).await
    }

    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        bump(&self.counters.reasoning_history);
        self.inner.reasoning_history(session).await
    }

    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        bump(&self.counters.delete);
        self.inner.delete(session).await
    }
}
