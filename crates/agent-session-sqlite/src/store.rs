//! [`SqliteSessionStore`]: the [`SessionStore`] contract on the pool of `connection.rs`.
//!
//! Every call takes a connection (the writer for writes, a reader for reads), moves it into
//! `tokio::task::spawn_blocking` and runs one transaction there, so SQLite's blocking I/O and
//! lock waits never occupy the async runtime's threads. Waiting for the connection itself is
//! asynchronous. Inputs are serialised to JSON before the call, outputs parsed inside it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{Message, Reasoning, StateChanges};
use agent_session::{
    Clock, Commit, Committed, Entry, RunClaim, RunLease, RunRecord, SessionError, SessionErrorKind,
    SessionHead, SessionId, SessionPage, SessionStore, StoredEvent, Summary,
};
use async_trait::async_trait;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::builder::{SqliteSessionStoreBuilder, micros};
use crate::connection::{Access, Opened, Pool, Writer};
use crate::errors::DbError;
use crate::ops::{self, ClaimData, CommitData, Now, RecordData};
use crate::sweep::{self, SweepSettings};

/// The first pause of a follower's poll; it doubles up to the poll interval.
const FIRST_POLL: Duration = Duration::from_millis(5);

/// A [`SessionStore`] in a SQLite database file, shared by every process on the host that
/// opens the same file.
///
/// Made with [`SqliteSessionStore::open`], [`SqliteSessionStore::open_in_memory`] or
/// [`SqliteSessionStore::builder`]. Cloning is cheap; clones share the connections. Calls
/// need a Tokio runtime (they run SQLite on its blocking threads).
///
/// See the [crate documentation](crate) for the design, the schema and the guarantees.
#[derive(Clone)]
pub struct SqliteSessionStore {
    inner: Arc<Inner>,
}

/// What the builder decided besides the connections.
pub(crate) struct StoreSettings {
    pub(crate) ttl: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) busy_retries: u32,
    pub(crate) poll_interval: Duration,
    pub(crate) sweep: SweepSettings,
    #[cfg(feature = "test-helper")]
    pub(crate) stall_commits: Option<std::path::PathBuf>,
}

struct Inner {
    file: String,
    access: Access,
    pool: Pool,
    settings: StoreSettings,
    /// Bumped after each write of this process, so its own followers wake at once; writes of
    /// other processes are found by polling.
    changes: watch::Sender<u64>,
}

impl fmt::Debug for SqliteSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSessionStore")
            .field("file", &self.inner.file)
            .field("ttl", &self.inner.settings.ttl)
            .field("read_only", &(self.inner.access != Access::Writable))
            .finish_non_exhaustive()
    }
}

/// An entry body as stored: the same JSON as `agent_session::EntryBody`, serialised from
/// borrowed messages instead of a copy of them.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BodyRef<'a> {
    Turn {
        run_id: Uuid,
        messages: &'a [Message],
    },
    Summary(&'a Summary),
}

fn to_json(
    value: &impl Serialize,
    session: &SessionId,
    what: &str,
) -> Result<String, SessionError> {
    serde_json::to_string(value).map_err(|error| {
        SessionError::new(
            SessionErrorKind::InvalidInput,
            format!("the {what} cannot be stored as JSON: {error}"),
        )
        .for_session(session)
    })
}

fn record(reasoning: &Reasoning, session: &SessionId) -> Result<RecordData, SessionError> {
    Ok(RecordData {
        reasoning: to_json(reasoning, session, "run's reasoning record")?,
        status: reasoning.status.as_str().to_owned(),
        run_id: reasoning.run_id.hyphenated().to_string(),
        run_uuid: reasoning.run_id,
    })
}

/// Runs `op` in a transaction, again (after a short pause) when another connection held the
/// lock past the busy timeout. Writes commit; reads roll back (they changed nothing).
fn in_transaction<T>(
    conn: &Connection,
    behavior: TransactionBehavior,
    retries: u32,
    op: impl Fn(&Transaction<'_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut attempt = 0;
    loop {
        let result = Transaction::new_unchecked(conn, behavior)
            .map_err(DbError::from)
            .and_then(|tx| {
                let value = op(&tx)?;
                match behavior {
                    TransactionBehavior::Deferred => tx.rollback()?,
                    _ => tx.commit().map_err(DbError::AtCommit)?,
                }
                Ok(value)
            });
        match result {
            Err(error) if error.is_busy() && attempt < retries => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 << attempt.min(6)));
            }
            result => return result,
        }
    }
}

/// The pool is gone: only possible while the store is being dropped.
fn closed() -> SessionError {
    SessionError::new(SessionErrorKind::Unavailable, "the store is closed")
}

fn worker_failed(error: tokio::task::JoinError) -> SessionError {
    SessionError::new(
        SessionErrorKind::Unavailable,
        format!("the database task failed: {error}"),
    )
}

impl SqliteSessionStore {
    /// A builder, to set the file, the time to live and the rest.
    pub fn builder() -> SqliteSessionStoreBuilder {
        SqliteSessionStoreBuilder::default()
    }

    /// Opens (creating if needed) the database at `path` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`SqliteSessionStoreBuilder::build`].
    pub async fn open(path: impl Into<std::path::PathBuf>) -> Result<Self, SessionError> {
        Self::builder().path(path).build().await
    }

    /// A store in this process's memory, for tests: nothing is written to disk.
    ///
    /// # Errors
    ///
    /// As [`SqliteSessionStoreBuilder::build`] (in practice none).
    pub async fn open_in_memory() -> Result<Self, SessionError> {
        Self::builder().in_memory().build().await
    }

    pub(crate) fn from_parts(opened: Opened, settings: StoreSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                file: opened.file,
                access: opened.access,
                pool: opened.pool,
                settings,
                changes: watch::channel(0).0,
            }),
        }
    }

    /// How long a session lives after its last write.
    pub fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    /// The database file, as named in errors (`:memory:` for an in-memory store).
    pub fn file(&self) -> &str {
        &self.inner.file
    }

    /// Whether writes are refused: opened with `read_only(true)`, or the file is
    /// write-protected.
    pub fn is_read_only(&self) -> bool {
        self.inner.access != Access::Writable
    }

    fn now(&self) -> Now {
        Now {
            at: self.inner.settings.clock.now().as_microsecond(),
            ttl: micros(self.inner.settings.ttl),
        }
    }

    fn check_writable(&self, session: &SessionId) -> Result<(), SessionError> {
        let (kind, why) = match self.inner.access {
            Access::Writable => return Ok(()),
            Access::ReadOnly => (SessionErrorKind::Unsupported, "was opened read-only"),
            Access::WriteProtected => (SessionErrorKind::Misconfigured, "is write-protected"),
        };
        Err(SessionError::new(
            kind,
            format!("cannot write: the database `{}` {why}", self.inner.file),
        )
        .for_session(session))
    }

    /// Runs a write in one `BEGIN IMMEDIATE` transaction on the writer connection; then, if
    /// due, a sweep. `notify` wakes this process's followers.
    async fn write<T, F>(&self, session: &SessionId, notify: bool, op: F) -> Result<T, SessionError>
    where
        T: Send + 'static,
        F: Fn(&Connection, Now) -> Result<T, DbError> + Send + 'static,
    {
        self.check_writable(session)?;
        let inner = Arc::clone(&self.inner);
        let Some(mut writer) = self.inner.pool.writer().await else {
            return Err(closed().for_session(session));
        };
        // The time of the write: taken once the writer is ours, not while queuing for it.
        let now = self.now();
        let outcome = tokio::task::spawn_blocking(move || {
            let writer: &mut Writer = &mut writer;
            let result = in_transaction(
                &writer.conn,
                TransactionBehavior::Immediate,
                inner.settings.busy_retries,
                |tx| op(tx, now),
            );
            if result.is_ok() && now.at >= writer.next_sweep_at {
                writer.next_sweep_at = now.at.saturating_add(inner.settings.sweep.interval);
                match sweep::sweep(&writer.conn, now.at, inner.settings.sweep) {
                    Ok(0) => {}
                    Ok(rows) => tracing::debug!(file = inner.file, rows, "swept expired sessions"),
                    Err(error) => tracing::warn!(
                        file = inner.file,
                        ?error,
                        "sweeping expired sessions failed"
                    ),
                }
            }
            result
        })
        .await;
        let result = match outcome {
            Ok(result) => {
                result.map_err(|error| error.into_session_error(&self.inner.file, Some(session)))
            }
            Err(error) => Err(worker_failed(error)
                .for_session(session)
                .with_maybe_applied()),
        };
        if result.is_ok() && notify {
            self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        result
    }

    /// Runs a read in one read transaction (one consistent snapshot) on a reader connection.
    async fn read<T, F>(&self, session: Option<&SessionId>, op: F) -> Result<T, SessionError>
    where
        T: Send + 'static,
        F: Fn(&Connection, i64) -> Result<T, DbError> + Send + 'static,
    {
        let now = self.now().at;
        let retries = self.inner.settings.busy_retries;
        let Some(conn) = self.inner.pool.reader().await else {
            return Err(closed());
        };
        let outcome = tokio::task::spawn_blocking(move || {
            in_transaction(conn.conn(), TransactionBehavior::Deferred, retries, |tx| {
                op(tx, now)
            })
        })
        .await;
        match outcome {
            Ok(result) => {
                result.map_err(|error| error.into_session_error(&self.inner.file, session))
            }
            Err(error) => Err(worker_failed(error)),
        }
    }

    /// The session's life and change counter, which every write followers care about bumps.
    async fn change_marker(&self, session: &SessionId) -> Result<Option<(i64, i64)>, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, _| ops::change_marker(conn, &id))
            .await
    }

    #[cfg(feature = "test-helper")]
    fn stall_marker(&self) -> Option<std::path::PathBuf> {
        self.inner.settings.stall_commits.clone()
    }
}

/// For the crash test: with the write transaction open, say so and wait to be killed.
#[cfg(feature = "test-helper")]
fn stall(marker: Option<&std::path::Path>) {
    if let Some(marker) = marker {
        if let Err(error) = std::fs::write(marker, b"stalled") {
            tracing::error!(%error, "cannot write the stall marker");
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, now| ops::head(conn, &id, now))
            .await
    }

    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, now| {
            ops::entries(conn, &id, now, from, to)
        })
        .await
    }

    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        if commit.messages.is_empty() {
            return Err(SessionError::new(
                SessionErrorKind::InvalidInput,
                format!("run {} has no messages to commit", commit.run_id),
            )
            .for_session(session));
        }
        let data = CommitData {
            run_id: commit.run_id,
            base: commit.base,
            summary: commit
                .summary
                .map(|summary| to_json(&BodyRef::Summary(summary), session, "summary"))
                .transpose()?,
            turn: to_json(
                &BodyRef::Turn {
                    run_id: commit.run_id,
                    messages: commit.messages,
                },
                session,
                "run's messages",
            )?,
            record: record(commit.reasoning, session)?,
            lease: commit.lease,
            state: commit.state.cloned(),
        };
        let id = session.clone();
        #[cfg(feature = "test-helper")]
        let marker = self.stall_marker();
        self.write(session, true, move |conn, now| {
            let committed = ops::commit(conn, &id, now, &data)?;
            #[cfg(feature = "test-helper")]
            stall(marker.as_deref());
            Ok(committed)
        })
        .await
    }

    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        let data = record(reasoning, session)?;
        let id = session.clone();
        let lease_for = micros(lease_for);
        self.write(session, true, move |conn, now| {
            ops::begin_run(conn, &id, now, &data, lease_for)
        })
        .await
    }

    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        let events = events
            .iter()
            .map(|event| Ok((event.index, to_json(&event.event, session, "event")?)))
            .collect::<Result<Vec<_>, SessionError>>()?;
        let (id, lease) = (session.clone(), *lease);
        self.write(session, true, move |conn, now| {
            ops::append_events(conn, &id, now, &lease, &events)
        })
        .await
    }

    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        let (id, lease, lease_for) = (session.clone(), *lease, micros(lease_for));
        self.write(session, false, move |conn, now| {
            ops::heartbeat(conn, &id, now, &lease, lease_for)
        })
        .await
    }

    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let data = record(reasoning, session)?;
        let (id, lease) = (session.clone(), lease.copied());
        self.write(session, true, move |conn, now| {
            ops::finish_run(conn, &id, now, lease.as_ref(), &data)
        })
        .await
    }

    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        let id = session.clone();
        let claim = ClaimData {
            run: claim.run,
            last_heartbeat: claim.last_heartbeat,
            lease: claim.lease,
            lease_for: micros(claim.lease_for),
            record: claim
                .reasoning
                .as_ref()
                .map(|reasoning| record(reasoning, session))
                .transpose()?,
        };
        self.write(session, true, move |conn, now| {
            ops::claim_run(conn, &id, now, &claim)
        })
        .await
    }

    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, now| {
            ops::runs(conn, &id, now, after, limit)
        })
        .await
    }

    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, now| {
            ops::latest_run(conn, &id, now)
        })
        .await
    }

    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        let id = session.clone();
        self.read(Some(session), move |conn, now| {
            ops::events(conn, &id, now, run, after, limit)
        })
        .await
    }

    /// Polls the session's change counter — one indexed read — starting 5 ms after the call
    /// and doubling the pause up to the poll interval, and wakes at once for writes of this
    /// process. Returns when the session changed, or at `timeout`. A failed poll counts as
    /// "no change" (polling goes on, so a broken database never makes a follower spin), except
    /// that the first poll after a failed baseline returns: the session may have changed.
    async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let mut local = self.inner.changes.subscribe();
        let start = self.change_marker(session).await.ok();
        let mut pause = FIRST_POLL;
        loop {
            let now = tokio::time::Instant::now();
            let wait = match deadline {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => pause.min(deadline - now),
                None => pause,
            };
            tokio::select! {
                changed = local.changed() => {
                    if changed.is_err() {
                        // Cannot happen while `self` holds the sender; wait as if it could not.
                        tokio::time::sleep(wait).await;
                    }
                }
                () = tokio::time::sleep(wait) => {
                    pause = (pause * 2).min(self.inner.settings.poll_interval);
                }
            }
            if let Ok(marker) = self.change_marker(session).await
                && Some(marker) != start
            {
                return;
            }
        }
    }

    fn time_to_live(&self) -> Option<Duration> {
        Some(self.ttl())
    }

    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        let id = session.clone();
        self.write(session, true, move |conn, now| ops::delete(conn, &id, now))
            .await
    }

    /// Changes the state in one write transaction (see `ops::update_state`): the session's
    /// time to live is left as it was.
    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        let (id, changes) = (session.clone(), changes.clone());
        self.write(session, true, move |conn, now| {
            ops::update_state(conn, &id, now, &changes)
        })
        .await
    }

    /// Lists live sessions in id order. The heads carry their state (it is in the `sessions`
    /// row the listing reads anyway); a session whose row or state is damaged is left out.
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        let page = page.map(str::to_owned);
        self.read(None, move |conn, now| {
            ops::list_sessions(conn, now, page.as_deref(), limit)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_session::EntryBody;

    #[test]
    fn stored_bodies_are_entry_bodies() {
        let messages = [Message::user_text("hi"), Message::assistant_text("hello")];
        let run_id = Uuid::now_v7();
        let turn = serde_json::to_string(&BodyRef::Turn {
            run_id,
            messages: &messages,
        })
        .unwrap();
        let parsed: EntryBody = serde_json::from_str(&turn).unwrap();
        assert_eq!(
            parsed,
            EntryBody::Turn {
                run_id,
                messages: messages.to_vec()
            }
        );
        let summary = Summary::new("so far", 3, 6);
        let stored = serde_json::to_string(&BodyRef::Summary(&summary)).unwrap();
        let parsed: EntryBody = serde_json::from_str(&stored).unwrap();
        assert_eq!(parsed, EntryBody::Summary(summary));
    }
}
