//! [`CountingStore`]: a store decorator that counts the calls made to the store it wraps.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent_core::Reasoning;
use async_trait::async_trait;
use jiff::Timestamp;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::store::{
    Commit, Committed, Entry, RunLease, RunRecord, SessionHead, SessionPage, SessionStore,
    StoredEvent,
};

/// How many times each method of a [`CountingStore`] was called, by method name
/// (`head`, `commit`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCalls(BTreeMap<&'static str, usize>);

impl StoreCalls {
    /// Calls of one method.
    pub fn of(&self, method: &str) -> usize {
        self.0.get(method).copied().unwrap_or(0)
    }

    /// Every call, of any method.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Calls that write: commits, run records, events, heartbeats and deletes.
    pub fn writes(&self) -> usize {
        [
            "commit",
            "begin_run",
            "append_events",
            "heartbeat",
            "finish_run",
            "claim_run",
            "delete",
        ]
        .iter()
        .map(|method| self.of(method))
        .sum()
    }
}

/// Wraps a store and counts the calls made to it (counted when made, whatever their outcome).
///
/// Used by the conformance suites to prove that invalid input never reaches the store, and by
/// tests that check how many reads and writes a run makes.
#[derive(Debug)]
pub struct CountingStore<S: ?Sized = dyn SessionStore> {
    calls: Arc<Mutex<StoreCalls>>,
    inner: Arc<S>,
}

impl<S: ?Sized> Clone for CountingStore<S> {
    /// Another handle on the same store and the same counts.
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: SessionStore + ?Sized> CountingStore<S> {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            calls: Arc::default(),
            inner,
        }
    }

    /// The calls made so far, through this wrapper and its clones.
    pub fn calls(&self) -> StoreCalls {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    fn count(&self, method: &'static str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .entry(method)
            .or_default() += 1;
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for CountingStore<S> {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        self.count("head");
        self.inner.head(session).await
    }
    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        self.count("entries");
        self.inner.entries(session, from, to).await
    }
    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        self.count("commit");
        self.inner.commit(session, commit).await
    }
    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<RunLease, SessionError> {
        self.count("begin_run");
        self.inner.begin_run(session, reasoning).await
    }
    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        self.count("append_events");
        self.inner.append_events(session, lease, events).await
    }
    async fn heartbeat(&self, session: &SessionId, lease: &RunLease) -> Result<(), SessionError> {
        self.count("heartbeat");
        self.inner.heartbeat(session, lease).await
    }
    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        self.count("finish_run");
        self.inner.finish_run(session, lease, reasoning).await
    }
    async fn claim_run(
        &self,
        session: &SessionId,
        run: u64,
        last_heartbeat: Option<Timestamp>,
    ) -> Result<RunLease, SessionError> {
        self.count("claim_run");
        self.inner.claim_run(session, run, last_heartbeat).await
    }
    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        self.count("runs");
        self.inner.runs(session, after, limit).await
    }
    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        self.count("latest_run");
        self.inner.latest_run(session).await
    }
    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        self.count("events");
        self.inner.events(session, run, after, limit).await
    }
    async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
        self.inner.wait_for_changes(session, timeout).await;
    }
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.count("delete");
        self.inner.delete(session).await
    }
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        self.count("list_sessions");
        self.inner.list_sessions(page, limit).await
    }
}
