//! [`DynamoSessionStore`]: the store's state and the [`SessionStore`] implementation, which
//! hands each operation to the module that does it (`read`, `commit`, `runs`, `admin`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent_core::{Reasoning, StateChanges};
use agent_session::{
    Clock, Commit, Committed, Entry, RunClaim, RunLease, RunRecord, SessionError, SessionHead,
    SessionId, SessionPage, SessionStore, StoredEvent,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use jiff::Timestamp;

use crate::builder::DynamoSessionStoreBuilder;
use crate::codec::Encoding;
use crate::db::Db;
use crate::head::{Head, HeadItem};
use crate::layout::{HEAD_SK, messages_pk};
use crate::metrics::StoreMetrics;

/// Heads and fenced leases kept per store (cleared when full).
const CACHE_LIMIT: usize = 4096;

/// A [`SessionStore`] in one Amazon DynamoDB table.
///
/// A session is a small head item and append-only items: one per conversation entry, one
/// record per run, one item per real-time event. A run's commit is one conditional
/// `TransactWriteItems` of a few small items, whatever the session's length; payloads are
/// plain JSON strings a person (or a dashboard) can read, compressed and chunked only when
/// they must be. Sessions expire whole, `ttl` after their last write. Sessions written by the
/// Python MinimalAgent 0.2.x, and by the previous version of this crate, load and continue.
/// See the [crate documentation](crate) and `docs/design/session-layout.md`.
///
/// Cheap to clone: clones share the client, the cache of heads and the
/// [metrics](Self::metrics).
#[derive(Clone)]
pub struct DynamoSessionStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) ttl: Duration,
    pub(crate) encoding: Encoding,
    pub(crate) clock: Arc<dyn Clock>,
    /// The last head seen per session: a hint for planning writes (every write is conditioned
    /// on the head it assumes, and a failed condition returns the real one).
    heads: Mutex<HashMap<String, Head>>,
    /// Leases this store learnt were taken over or ended: appends under them are refused.
    fenced: Mutex<HashSet<(String, RunLease)>>,
}

impl fmt::Debug for DynamoSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoSessionStore")
            .field("table", &self.inner.db.table)
            .field("ttl", &self.inner.ttl)
            .field("compress_above", &self.inner.encoding.compress_above)
            .finish_non_exhaustive()
    }
}

impl DynamoSessionStore {
    /// A builder with every default: see [`DynamoSessionStoreBuilder`].
    pub fn builder() -> DynamoSessionStoreBuilder {
        DynamoSessionStoreBuilder::default()
    }

    pub(crate) fn from_parts(
        db: Db,
        ttl: Duration,
        encoding: Encoding,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ttl,
                encoding,
                clock,
                heads: Mutex::new(HashMap::new()),
                fenced: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.inner.db.table
    }

    /// How long a session lives after its last write.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Payloads (messages, reasoning, events) larger than this many bytes of JSON are
    /// gzip-compressed; `None`: only those that would not fit in an item otherwise.
    pub fn compress_above(&self) -> Option<usize> {
        self.inner.encoding.compress_above
    }

    /// The DynamoDB client the store uses.
    pub fn client(&self) -> &Client {
        &self.inner.db.client
    }

    /// What this store (and its clones) has sent to DynamoDB so far: requests, bytes and
    /// consumed capacity. Take a snapshot before and after an operation and subtract them with
    /// [`StoreMetrics::since`].
    pub fn metrics(&self) -> StoreMetrics {
        self.inner.db.counters.snapshot()
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now().as_millisecond()
    }

    pub(crate) fn ttl_ms(&self) -> i64 {
        i64::try_from(self.inner.ttl.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(1000)
    }

    pub(crate) fn ttl_s(&self) -> i64 {
        (self.ttl_ms() + 999) / 1000
    }

    // ------------------------------------------------------------------- the head cache

    pub(crate) fn cached_head(&self, session: &SessionId) -> Option<Head> {
        self.inner
            .heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session.as_str())
            .cloned()
    }

    pub(crate) fn remember_head(&self, session: &SessionId, head: Option<&Head>) {
        let mut heads = self
            .inner
            .heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match head {
            Some(head) => {
                // Concurrent tasks finish their reads and writes in any order, and a write
                // planned from a cached head does not know what it does not pin (a commit under
                // a lease, the run count): the cache keeps, number by number, the newest seen
                // (`Head::merged`), never an older one.
                let mut merged = match heads.get(session.as_str()) {
                    Some(known) => Head::merged(known, head),
                    None => head.clone(),
                };
                // A large state is not kept (a commit that changes it reads the head).
                merged.state = merged.state.for_cache();
                if heads.len() >= CACHE_LIMIT && !heads.contains_key(session.as_str()) {
                    heads.clear();
                }
                heads.insert(session.as_str().to_owned(), merged);
            }
            None => {
                heads.remove(session.as_str());
            }
        }
    }

    pub(crate) fn fence(&self, session: &SessionId, lease: &RunLease) {
        let mut fenced = self
            .inner
            .fenced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if fenced.len() >= CACHE_LIMIT {
            fenced.clear();
        }
        fenced.insert((session.as_str().to_owned(), *lease));
    }

    pub(crate) fn is_fenced(&self, session: &SessionId, lease: &RunLease) -> bool {
        self.inner
            .fenced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(session.as_str().to_owned(), *lease))
    }

    /// Reads the head (strongly consistent), migrating a head of the previous version first,
    /// and caches it.
    pub(crate) async fn load_head(
        &self,
        session: &SessionId,
    ) -> Result<Option<Head>, SessionError> {
        let pk = messages_pk(session.as_str());
        for _ in 0..3 {
            let head = match self.db().get(&pk, HEAD_SK).await? {
                None => None,
                Some(item) => match Head::parse(&pk, &item)? {
                    HeadItem::Current(head) => Some(head),
                    HeadItem::Schema2 => {
                        self.migrate_schema2(session, &item).await?;
                        continue;
                    }
                },
            };
            self.remember_head(session, head.as_ref());
            return Ok(head);
        }
        Err(crate::errors::error(
            agent_session::SessionErrorKind::Unavailable,
            "the session's head kept changing while it was being migrated",
        ))
    }

    /// The head from the cache, else read.
    pub(crate) async fn known_head(
        &self,
        session: &SessionId,
    ) -> Result<Option<Head>, SessionError> {
        match self.cached_head(session) {
            Some(head) => Ok(Some(head)),
            None => self.load_head(session).await,
        }
    }

    /// Migrates a session of the previous version of this crate (schema 2) now, if it is one;
    /// otherwise does nothing. Sessions are migrated on first access anyway; this makes it
    /// explicit (for a bulk migration, say).
    ///
    /// # Errors
    ///
    /// Those of DynamoDB, and [`SessionErrorKind::CorruptedData`] for items that cannot be
    /// read.
    ///
    /// [`SessionErrorKind::CorruptedData`]: agent_session::SessionErrorKind::CorruptedData
    pub async fn migrate(&self, session: &SessionId) -> Result<(), SessionError> {
        self.load_head(session)
            .await
            .map(|_| ())
            .map_err(|e| e.for_session(session))
    }
}

/// Timestamps as stored (milliseconds).
pub(crate) fn timestamp(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

#[async_trait]
impl SessionStore for DynamoSessionStore {
    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        self.head_inner(session)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, from, to))]
    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        self.entries_inner(session, from, to)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(session = %session, run_id = %commit.run_id, base = %commit.base)
    )]
    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        self.commit_inner(session, commit)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        self.begin_run_inner(session, reasoning, lease_for)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, run = lease.run))]
    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        self.append_events_inner(session, lease, events)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, run = lease.run))]
    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        self.heartbeat_inner(session, lease, lease_for)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        self.finish_run_inner(session, lease, reasoning)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, run = claim.run))]
    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        self.claim_run_inner(session, claim)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, after, limit))]
    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        self.runs_inner(session, after, limit)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        self.latest_run_inner(session)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session, run, after))]
    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        self.events_inner(session, run, after, limit)
            .await
            .map_err(|e| e.for_session(session))
    }

    fn time_to_live(&self) -> Option<Duration> {
        Some(self.ttl())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.delete_inner(session)
            .await
            .map_err(|e| e.for_session(session))
    }

    /// Changes the state by one conditional `UpdateItem` of the head (on its life and the
    /// state's version, retried on the head returned when another write of the state came
    /// first); the session's expiry is left as it was. A session of the Python MinimalAgent is
    /// taken over first, as by a commit.
    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        self.update_state_inner(session, changes)
            .await
            .map_err(|e| e.for_session(session))
    }

    /// Lists live sessions with a conversation by a Scan of head items (for administration,
    /// not a request path). The heads carry their state: the Scan reads the whole head item
    /// anyway. A session whose head or state is damaged is left out.
    #[tracing::instrument(level = "debug", skip_all, fields(limit))]
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        self.list_sessions_inner(page, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counters;
    use agent_session::SystemClock;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    /// A store that never reaches DynamoDB: for its cache alone.
    fn offline() -> DynamoSessionStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .build();
        let db = Db {
            client: Client::from_conf(config),
            table: "t".into(),
            counters: Arc::new(Counters::default()),
        };
        let encoding = Encoding {
            compress_above: None,
        };
        DynamoSessionStore::from_parts(db, Duration::from_secs(60), encoding, Arc::new(SystemClock))
    }

    /// The cache keeps small states and only the size of large ones; a head read afresh has
    /// its state whatever its size.
    #[test]
    fn the_cache_keeps_no_large_state() {
        let store = offline();
        let session = SessionId::new("s").unwrap();
        let mut head = Head::new_life(None, 1_700_000_000_000);
        head.last_seq = 1;
        head.state = crate::head::HeadState::Json(r#"{"a":1}"#.into());
        store.remember_head(&session, Some(&head));
        assert_eq!(store.cached_head(&session).unwrap(), head);
        let large = format!(
            r#"{{"k":"{}"}}"#,
            "x".repeat(crate::head::CACHED_STATE_BYTES)
        );
        head.last_seq = 2;
        head.state = crate::head::HeadState::Json(large.clone());
        store.remember_head(&session, Some(&head));
        assert_eq!(
            store.cached_head(&session).unwrap().state,
            crate::head::HeadState::Unknown { bytes: large.len() }
        );
    }

    /// The race that lost a turn: a commit under a lease, planned from the head as it was
    /// before another run began, caches its head when its answer comes, after that run's
    /// `begin_run` cached the newer run count. The cache keeps the newer count (and the
    /// entry the commit added).
    #[test]
    fn a_late_head_never_hides_a_newer_run_count() {
        let store = offline();
        let session = SessionId::new("s").unwrap();
        let mut before = Head::new_life(None, 1_700_000_000_000);
        before.last_seq = 4;
        before.runs = 6;
        before.expires_at_ms = 1_700_000_060_000;
        before.horizon = 1_700_000_200;
        // Run 7 begins: its head (the entry count as it was, not pinned, and run 7).
        let mut begun = before.clone();
        begun.runs = 7;
        begun.push_recent(7, uuid::Uuid::now_v7());
        store.remember_head(&session, Some(&begun));
        // Run 6's commit, planned from `before`, answers now: one more entry, runs 6.
        let mut committed = before.clone();
        committed.last_seq = 5;
        committed.expires_at_ms += 1000;
        store.remember_head(&session, Some(&committed));
        let cached = store.cached_head(&session).unwrap();
        assert_eq!((cached.last_seq, cached.runs), (5, 7));
        assert_eq!(cached.recent, begun.recent);
        assert_eq!(cached.expires_at_ms, committed.expires_at_ms);
        // An older read finishing late changes nothing; a new life replaces it all.
        store.remember_head(&session, Some(&before));
        assert_eq!(store.cached_head(&session).unwrap(), cached);
        let next = Head::new_life(Some(&cached), 1_700_000_100_000);
        store.remember_head(&session, Some(&next));
        assert_eq!(store.cached_head(&session).unwrap(), next);
        store.remember_head(&session, Some(&cached));
        assert_eq!(
            store.cached_head(&session).unwrap(),
            next,
            "not the older life"
        );
        // A delete of the life is kept over the life's other heads.
        let mut tomb = next.clone();
        tomb.deleted = true;
        store.remember_head(&session, Some(&tomb));
        store.remember_head(&session, Some(&next));
        assert!(store.cached_head(&session).unwrap().deleted);
    }
}
