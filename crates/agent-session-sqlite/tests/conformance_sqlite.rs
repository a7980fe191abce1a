//! The `agent-session` conformance suite and the run-level suite of `agent-runtime` on a SQLite
//! file in a temporary directory.

// Helpers outside `#[test]` functions fail the test the same way: by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use agent_core::{Reasoning, StateChanges};
use agent_session::{
    Commit, Committed, Entry, RunClaim, RunLease, RunRecord, SessionError, SessionHead, SessionId,
    SessionPage, SessionStore, StoredEvent,
};
use agent_session_sqlite::SqliteSessionStore;
use async_trait::async_trait;
use tempfile::TempDir;

/// A store on its own file, with the directory that holds it: removed when the check ends.
#[derive(Debug)]
struct OnTempFile {
    store: SqliteSessionStore,
    _dir: TempDir,
}

async fn store_on_a_file(ttl: Duration) -> OnTempFile {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteSessionStore::builder()
        .path(dir.path().join("sessions.db"))
        .ttl(ttl)
        .build()
        .await
        .expect("the store opens");
    OnTempFile { store, _dir: dir }
}

agent_session::session_store_conformance!(store_on_a_file);

/// The run-level checks: real agent runs (sustained writers, followers, crashes, resume).
mod runs {
    agent_runtime::session_runs_conformance!(super::store_on_a_file);
}

#[async_trait]
impl SessionStore for OnTempFile {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        self.store.head(session).await
    }
    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        self.store.entries(session, from, to).await
    }
    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        self.store.commit(session, commit).await
    }
    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        self.store.begin_run(session, reasoning, lease_for).await
    }
    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        self.store.append_events(session, lease, events).await
    }
    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        self.store.heartbeat(session, lease, lease_for).await
    }
    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        self.store.finish_run(session, lease, reasoning).await
    }
    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        self.store.claim_run(session, claim).await
    }
    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        self.store.runs(session, after, limit).await
    }
    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        self.store.latest_run(session).await
    }
    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        self.store.events(session, run, after, limit).await
    }
    async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
        self.store.wait_for_changes(session, timeout).await
    }
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.store.delete(session).await
    }
    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        self.store.update_state(session, changes).await
    }
    fn time_to_live(&self) -> Option<Duration> {
        self.store.time_to_live()
    }
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        self.store.list_sessions(page, limit).await
    }
}
