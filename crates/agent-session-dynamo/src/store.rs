//! [`DynamoSessionStore`]: the [`SessionStore`] over the layout of [`crate::layout`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{Message, Reasoning};
use agent_session::{
    RunCommit, SessionError, SessionErrorKind, SessionId, SessionSnapshot, SessionStore,
    SessionVersion,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use uuid::Uuid;

use crate::builder::DynamoSessionStoreBuilder;
use crate::codec::{self, Encoded, EntryMeta};
use crate::db::{Db, KeyRange, QuerySpec, TxFailure, WRITE_CONCURRENCY};
use crate::errors::corrupted;
use crate::layout::{
    CHUNK_BASE_SK, CHUNK_MAX_SK, ENTRY_MAX_SK, Entry, HEAD_SK, Head, Item, LEGACY_MIN_SK,
    Partition, Reader, SCHEMA_VERSION, StoredBody, attr, is_expired, key, kind, n, pointer_sk, s,
};
use crate::metrics::StoreMetrics;

/// How often a commit re-plans after finding the head other than it thought (a stale cache).
const MAX_COMMIT_ATTEMPTS: usize = 4;
/// How often a reasoning save retries against concurrent saves of other runs.
const MAX_SAVE_ATTEMPTS: usize = 16;
/// How often a transaction is resent after `TransactionConflict` or throttling cancellations.
const MAX_TX_RETRIES: u32 = 5;
/// Cached heads and run slots kept per store (cleared when full).
const CACHE_LIMIT: usize = 4096;

/// A [`SessionStore`] in one Amazon DynamoDB table.
///
/// Each run appends one entry item with a conditional transaction on a small head item, so a
/// run costs the same at turn 1,000 as at turn 1, concurrent runs never overwrite each other,
/// and a run is never half-written. Large runs and traces are compressed and split into chunk
/// items. Sessions expire `ttl` after their last write, as a whole. Sessions written by the
/// Python MinimalAgent 0.2.x in the same table load, and continue here.
/// See the [crate documentation](crate) and `docs/design/session-layout.md`.
///
/// Cheap to clone: clones share the client, caches and [metrics](Self::metrics).
#[derive(Clone)]
pub struct DynamoSessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    ttl: Duration,
    /// The last head seen per partition key (`None`: no head item). A hint only: every write
    /// is conditioned on the head it assumes.
    heads: Mutex<HashMap<String, Option<Head>>>,
    /// Where each reasoning run's entry is, as last written by this store.
    slots: Mutex<HashMap<(String, Uuid), Slot>>,
}

#[derive(Debug, Clone)]
struct Slot {
    incarnation: String,
    seq: u64,
    /// The chunks of the record as last written, to clean up when it is replaced.
    chunks: Option<(i128, u64)>,
}

impl fmt::Debug for DynamoSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoSessionStore")
            .field("table", &self.inner.db.table)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

/// How a write changes the head.
#[derive(Debug, Clone)]
enum HeadChange {
    /// Starts a new incarnation over no head, a stub, or an expired head.
    Create { prev: Option<Head>, first_seq: u64 },
    /// Appends entries after the head's version.
    Advance { head: Head },
    /// Replaces the entry at `seq` in place (reasoning updates).
    Touch { head: Head, seq: u64 },
}

/// One entry to write.
#[derive(Debug, Clone)]
struct NewEntry {
    run_id: Option<Uuid>,
    kind: &'static str,
    migrated_from: Option<i128>,
    body: Encoded,
}

/// Why a write did not happen.
#[derive(Debug)]
enum WriteFailure {
    /// The head's condition failed; here is the head as it is now.
    HeadChanged(Option<Head>),
    /// The run already has a pointer (reasoning): its entry is at `seq`.
    PointerExists {
        seq: u64,
        incarnation: String,
    },
    /// The entry to replace no longer belongs to the run.
    SlotMoved,
    Session(SessionError),
}

impl From<SessionError> for WriteFailure {
    fn from(error: SessionError) -> Self {
        WriteFailure::Session(error)
    }
}

/// What a successful write left.
#[derive(Debug)]
struct Written {
    head: Head,
    /// The sequence number of the last entry written.
    last_seq: u64,
    /// The chunks of the last entry, if it has any.
    last_chunks: Option<(i128, u64)>,
}

/// The live part of a partition, as read.
struct Log {
    head: Option<Head>,
    /// The entries of a live head, in order; empty otherwise.
    entries: Vec<Entry>,
}

/// A conversation version: `epoch << 32 | seq`, where `epoch` is the second the session's
/// current life began and `seq` its last entry. Versions of the Python layout are that item's
/// sort key (Unix seconds, below 2^32), and 0 is an empty session. A session written again after
/// it expired or was deleted never shows a version it had before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Empty,
    Legacy(i128),
    Ours { epoch: u64, seq: u64 },
}

const EPOCH_SHIFT: u32 = 32;

impl Base {
    fn of(version: SessionVersion) -> Base {
        match version.0 {
            0 => Base::Empty,
            v if v < 1 << EPOCH_SHIFT => Base::Legacy(i128::from(v)),
            v => Base::Ours {
                epoch: v >> EPOCH_SHIFT,
                seq: v & ((1 << EPOCH_SHIFT) - 1),
            },
        }
    }
}

/// The epoch of a head's current life.
fn epoch(head: &Head) -> u64 {
    u64::try_from(head.created_at_ms / 1000).unwrap_or(0).max(1)
}

/// The version a head stands for, or that of entry `seq` in its life.
fn version_at(head: &Head, seq: u64) -> SessionVersion {
    SessionVersion((epoch(head) << EPOCH_SHIFT) | seq)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn invalid(message: impl Into<String>) -> SessionError {
    SessionError::new(SessionErrorKind::InvalidInput, message)
}

fn cancel_code(reason: Option<&CancellationReason>) -> &str {
    reason.and_then(|r| r.code()).unwrap_or("None")
}

/// A pseudo-random number for backoff jitter.
fn jitter(max_ms: u64) -> Duration {
    let random = (Uuid::now_v7().as_u128() & 0xffff_ffff) as u64;
    Duration::from_millis(random % max_ms.max(1))
}

impl DynamoSessionStore {
    /// A builder with every default: see [`DynamoSessionStoreBuilder`].
    pub fn builder() -> DynamoSessionStoreBuilder {
        DynamoSessionStoreBuilder::default()
    }

    pub(crate) fn from_parts(db: Db, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                ttl,
                heads: Mutex::new(HashMap::new()),
                slots: Mutex::new(HashMap::new()),
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

    fn db(&self) -> &Db {
        &self.inner.db
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.inner.ttl.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(1)
    }

    fn ttl_secs(&self) -> i64 {
        (self.ttl_ms() + 999) / 1000
    }

    /// The head's expiry for a write at `now`: (milliseconds, whole seconds rounded up).
    fn expiry(&self, now: i64) -> (i64, i64) {
        let exp_ms = now.saturating_add(self.ttl_ms());
        (
            exp_ms,
            exp_ms.div_euclid(1000) + i64::from(exp_ms.rem_euclid(1000) != 0),
        )
    }

    // ---------------------------------------------------------------- caches

    fn cached_head(&self, pk: &str) -> Option<Option<Head>> {
        self.inner.heads.lock().ok()?.get(pk).cloned()
    }

    fn remember_head(&self, pk: &str, head: Option<Head>) {
        if let Ok(mut heads) = self.inner.heads.lock() {
            if heads.len() >= CACHE_LIMIT && !heads.contains_key(pk) {
                heads.clear();
            }
            heads.insert(pk.to_owned(), head);
        }
    }

    fn cached_slot(&self, pk: &str, run_id: Uuid) -> Option<Slot> {
        self.inner
            .slots
            .lock()
            .ok()?
            .get(&(pk.to_owned(), run_id))
            .cloned()
    }

    fn remember_slot(&self, pk: &str, run_id: Uuid, slot: Option<Slot>) {
        if let Ok(mut slots) = self.inner.slots.lock() {
            let key = (pk.to_owned(), run_id);
            match slot {
                Some(slot) => {
                    if slots.len() >= CACHE_LIMIT && !slots.contains_key(&key) {
                        slots.clear();
                    }
                    slots.insert(key, slot);
                }
                None => {
                    slots.remove(&key);
                }
            }
        }
    }

    fn forget_partition(&self, pk: &str) {
        if let Ok(mut heads) = self.inner.heads.lock() {
            heads.remove(pk);
        }
        if let Ok(mut slots) = self.inner.slots.lock() {
            slots.retain(|(slot_pk, _), _| slot_pk != pk);
        }
    }

    // ---------------------------------------------------------------- reads

    fn parse_head(pk: &str, item: &Item) -> Result<Head, SessionError> {
        Head::parse(item).map_err(|e| corrupted(pk, "0", format!("bad head item: {e}")))
    }

    /// Reads the head (strongly consistent) and caches it.
    async fn fetch_head(&self, pk: &str) -> Result<Option<Head>, SessionError> {
        let head = match self.db().get(pk, HEAD_SK).await? {
            Some(item) => Some(Self::parse_head(pk, &item)?),
            None => None,
        };
        self.remember_head(pk, head.clone());
        Ok(head)
    }

    /// The cached head, else a fresh one; and whether it is fresh.
    async fn head(&self, pk: &str) -> Result<(Option<Head>, bool), SessionError> {
        match self.cached_head(pk) {
            Some(head) => Ok((head, false)),
            None => Ok((self.fetch_head(pk).await?, true)),
        }
    }

    /// Reads a partition's head and, when it is live, its entries: one Query page per MB.
    async fn read_log(&self, pk: &str, now: i64) -> Result<Log, SessionError> {
        let spec = QuerySpec::new(pk, KeyRange::Between(HEAD_SK, ENTRY_MAX_SK));
        let (page, mut next) = self.db().query_page(&spec, None).await?;
        let mut items = page.into_iter().peekable();
        let head = match items.peek() {
            Some(item) if Reader::new(item).sk().ok() == Some(HEAD_SK) => {
                let head = Self::parse_head(pk, item)?;
                items.next();
                Some(head)
            }
            _ => None,
        };
        self.remember_head(pk, head.clone());
        let Some(live) = head.clone().filter(|h| h.is_live(now)) else {
            return Ok(Log {
                head,
                entries: Vec::new(),
            });
        };
        let (first, last) = (live.first_seq, live.version);
        let first_sk = i128::from(first);
        let last_sk = i128::from(last);
        let raw: Vec<Item> = if first > 1 {
            // The session restarted after expiring: skip its earlier life's entries.
            self.db()
                .query_all(
                    &QuerySpec::new(pk, KeyRange::Between(first_sk, last_sk)),
                    None,
                )
                .await?
        } else {
            let mut raw: Vec<Item> = items.collect();
            loop {
                let reached = raw
                    .last()
                    .and_then(|item| Reader::new(item).sk().ok())
                    .is_some_and(|sk| sk >= last_sk);
                match next.take() {
                    Some(start) if !reached => {
                        let (page, following) = self.db().query_page(&spec, Some(start)).await?;
                        raw.extend(page);
                        next = following;
                    }
                    _ => break,
                }
            }
            raw
        };
        let incarnation = live.incarnation.clone().unwrap_or_default();
        let mut entries = Vec::with_capacity(raw.len());
        let mut expected = first;
        for item in &raw {
            let reader = Reader::new(item);
            let sk = reader
                .sk()
                .map_err(|e| corrupted(pk, &reader.sk_text(), e))?;
            if sk < first_sk || sk > last_sk {
                continue;
            }
            let entry = Entry::parse(item).map_err(|e| corrupted(pk, &reader.sk_text(), e))?;
            if entry.seq != expected {
                return Err(corrupted(
                    pk,
                    &expected.to_string(),
                    "the entry is missing: the session has a gap",
                ));
            }
            if entry.incarnation != incarnation {
                return Err(corrupted(
                    pk,
                    &entry.seq.to_string(),
                    "the entry belongs to another life of the session",
                ));
            }
            if is_expired(entry.expiration_time, now) {
                return Err(corrupted(
                    pk,
                    &entry.seq.to_string(),
                    "the entry expired before its session",
                ));
            }
            entries.push(entry);
            expected += 1;
        }
        if expected != last + 1 {
            return Err(corrupted(
                pk,
                &expected.to_string(),
                "the entry is missing: the session has a gap",
            ));
        }
        Ok(Log { head, entries })
    }

    /// An entry's body as JSON bytes, reading its chunks if it has any.
    async fn entry_json(&self, pk: &str, entry: &Entry, now: i64) -> Result<Vec<u8>, SessionError> {
        let seq = entry.seq.to_string();
        match &entry.body {
            StoredBody::Inline { gzip, bytes } => {
                codec::decode(*gzip, bytes.clone()).map_err(|e| corrupted(pk, &seq, e))
            }
            StoredBody::Chunked {
                gzip,
                blob_id,
                first,
                count,
                len,
            } => {
                let last = first + i128::from(*count) - 1;
                if *count == 0 || *first < CHUNK_BASE_SK || last > CHUNK_MAX_SK {
                    return Err(corrupted(pk, &seq, "bad chunk range"));
                }
                let items = self
                    .db()
                    .query_all(&QuerySpec::new(pk, KeyRange::Between(*first, last)), None)
                    .await?;
                let mut bytes = Vec::with_capacity(usize::try_from(*len).unwrap_or(0));
                let mut expected = *first;
                for item in &items {
                    let r = Reader::new(item);
                    let sk_text = r.sk_text();
                    let chunk_error = |e: String| corrupted(pk, &sk_text, e);
                    r.check_schema().map_err(chunk_error)?;
                    let sk = r.sk().map_err(chunk_error)?;
                    if sk != expected {
                        return Err(corrupted(
                            pk,
                            &expected.to_string(),
                            format!("chunk of entry {seq} is missing"),
                        ));
                    }
                    if r.string(attr::BLOB_ID).map_err(chunk_error)? != blob_id
                        || r.string(attr::INCARNATION).map_err(chunk_error)? != entry.incarnation
                        || r.u64(attr::PART).map_err(chunk_error)? != (sk - first) as u64
                    {
                        return Err(chunk_error(format!("chunk does not belong to entry {seq}")));
                    }
                    if is_expired(r.expiration().map_err(chunk_error)?, now) {
                        return Err(chunk_error("the chunk expired before its session".into()));
                    }
                    bytes.extend_from_slice(r.binary(attr::BODY).map_err(chunk_error)?);
                    expected += 1;
                }
                if expected != last + 1 {
                    return Err(corrupted(
                        pk,
                        &expected.to_string(),
                        format!("chunk of entry {seq} is missing"),
                    ));
                }
                if bytes.len() as u64 != *len {
                    return Err(corrupted(
                        pk,
                        &seq,
                        format!("the chunks hold {} bytes, not {len}", bytes.len()),
                    ));
                }
                codec::decode(*gzip, bytes).map_err(|e| corrupted(pk, &seq, e))
            }
        }
    }

    /// The newest item of the Python layout in a partition, if it has not expired.
    async fn newest_legacy(&self, pk: &str, now: i64) -> Result<Option<Item>, SessionError> {
        let mut spec = QuerySpec::new(pk, KeyRange::AtLeast(LEGACY_MIN_SK));
        spec.forward = false;
        spec.limit = Some(1);
        let (items, _) = self.db().query_page(&spec, None).await?;
        let Some(item) = items.into_iter().next() else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        let expiration = r.expiration().map_err(|e| corrupted(pk, &r.sk_text(), e))?;
        Ok((!is_expired(expiration, now)).then_some(item))
    }

    /// The conversation of the Python layout: its sort key, JSON and messages.
    async fn legacy_conversation(
        &self,
        pk: &str,
        now: i64,
    ) -> Result<Option<(i128, Vec<u8>, Vec<Message>)>, SessionError> {
        let Some(item) = self.newest_legacy(pk, now).await? else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        let sk_text = r.sk_text();
        let sk = r.sk().map_err(|e| corrupted(pk, &sk_text, e))?;
        let json = r
            .string(attr::LEGACY_MESSAGES)
            .map_err(|e| corrupted(pk, &sk_text, e))?;
        let messages: Vec<Message> = serde_json::from_str(json)
            .map_err(|e| corrupted(pk, &sk_text, format!("bad messages JSON: {e}")))?;
        Ok(Some((sk, json.as_bytes().to_vec(), messages)))
    }

    /// Every unexpired reasoning record of the Python layout, oldest first, as JSON values.
    async fn legacy_reasoning(
        &self,
        pk: &str,
        now: i64,
    ) -> Result<Vec<(i128, Value)>, SessionError> {
        let items = self
            .db()
            .query_all(&QuerySpec::new(pk, KeyRange::AtLeast(LEGACY_MIN_SK)), None)
            .await?;
        let mut out = Vec::new();
        for item in &items {
            let r = Reader::new(item);
            let sk_text = r.sk_text();
            let expiration = r.expiration().map_err(|e| corrupted(pk, &sk_text, e))?;
            if is_expired(expiration, now) {
                continue;
            }
            let sk = r.sk().map_err(|e| corrupted(pk, &sk_text, e))?;
            let json = r
                .string(attr::LEGACY_REASONING)
                .map_err(|e| corrupted(pk, &sk_text, e))?;
            let value: Value = serde_json::from_str(json)
                .map_err(|e| corrupted(pk, &sk_text, format!("bad reasoning JSON: {e}")))?;
            serde_json::from_value::<Reasoning>(value.clone())
                .map_err(|e| corrupted(pk, &sk_text, format!("bad reasoning record: {e}")))?;
            out.push((sk, value));
        }
        Ok(out)
    }

    /// The reasoning records of one entry (a run's, or a bundle of migrated ones).
    async fn entry_reasoning(
        &self,
        pk: &str,
        entry: &Entry,
        now: i64,
    ) -> Result<Vec<Reasoning>, SessionError> {
        let json = self.entry_json(pk, entry, now).await?;
        let seq = entry.seq.to_string();
        let values: Vec<Value> = serde_json::from_slice(&json)
            .map_err(|e| corrupted(pk, &seq, format!("bad reasoning JSON: {e}")))?;
        values
            .into_iter()
            .map(|value| {
                serde_json::from_value(value)
                    .map_err(|e| corrupted(pk, &seq, format!("bad reasoning record: {e}")))
            })
            .collect()
    }

    // ---------------------------------------------------------------- writes

    /// Extends the expiry of every record of the head's incarnation to `record_exp`.
    async fn refresh(&self, pk: &str, head: &Head, record_exp: i64) -> Result<(), SessionError> {
        let Some(incarnation) = head.incarnation.as_deref() else {
            return Ok(());
        };
        let spec = QuerySpec {
            projection: Some(&[attr::INCARNATION, attr::EXPIRATION_TIME]),
            ..QuerySpec::new(pk, KeyRange::Below(LEGACY_MIN_SK))
        };
        let items = self.db().query_all(&spec, None).await?;
        let mut keys = Vec::new();
        for item in &items {
            let r = Reader::new(item);
            let (Ok(sk), Ok(inc)) = (r.sk(), r.string(attr::INCARNATION)) else {
                continue;
            };
            let exp = r.expiration().ok().flatten().unwrap_or(0);
            if sk != HEAD_SK && inc == incarnation && exp < record_exp {
                keys.push(key(pk, sk));
            }
        }
        tracing::debug!(
            pk,
            items = keys.len(),
            record_exp,
            "extending the expiry of the session's records"
        );
        let names = HashMap::from([
            ("#exp".to_owned(), attr::EXPIRATION_TIME.to_owned()),
            ("#inc".to_owned(), attr::INCARNATION.to_owned()),
        ]);
        let values = HashMap::from([
            (":exp".to_owned(), n(record_exp)),
            (":inc".to_owned(), s(incarnation)),
        ]);
        futures::stream::iter(keys.into_iter().map(|key| {
            self.db().update(
                key,
                "SET #exp = :exp",
                Some("#inc = :inc AND #exp < :exp"),
                names.clone(),
                values.clone(),
                false,
            )
        }))
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(())
    }

    /// Reserves `count` chunk sort keys on the head (creating a stub head if there is none) and
    /// returns the first.
    async fn reserve_chunks(
        &self,
        pk: &str,
        count: u64,
        stub_expiration: i64,
    ) -> Result<i128, SessionError> {
        let names = HashMap::from([
            ("#next".to_owned(), attr::NEXT_CHUNK.to_owned()),
            ("#schema".to_owned(), attr::SCHEMA.to_owned()),
            ("#exp".to_owned(), attr::EXPIRATION_TIME.to_owned()),
        ]);
        let values = HashMap::from([
            (":count".to_owned(), n(count)),
            (":schema".to_owned(), n(SCHEMA_VERSION)),
            (":exp".to_owned(), n(stub_expiration)),
        ]);
        let item = self
            .db()
            .update(
                key(pk, HEAD_SK),
                "ADD #next :count SET #schema = if_not_exists(#schema, :schema), \
                 #exp = if_not_exists(#exp, :exp)",
                None,
                names,
                values,
                true,
            )
            .await?
            .unwrap_or_default();
        let next = Reader::new(&item)
            .u64(attr::NEXT_CHUNK)
            .map_err(|e| corrupted(pk, "0", e))?;
        let first = CHUNK_BASE_SK + i128::from(next) - i128::from(count);
        if first < CHUNK_BASE_SK || CHUNK_BASE_SK + i128::from(next) - 1 > CHUNK_MAX_SK {
            return Err(invalid(format!(
                "partition `{pk}` has used up its chunk range; delete the session"
            )));
        }
        Ok(first)
    }

    /// Writes entries (and a run pointer) with one transaction on the head, staging chunks of
    /// large entries first.
    async fn write(
        &self,
        pk: &str,
        change: HeadChange,
        entries: Vec<NewEntry>,
        pointer: Option<Uuid>,
        guard_run: Option<Uuid>,
    ) -> Result<Written, WriteFailure> {
        let now = now_ms();
        let (exp_ms, exp_s) = self.expiry(now);
        let ttl_s = self.ttl_secs();
        let (incarnation, record_exp, created_at, first_seq, next_seq, new_version) = match &change
        {
            HeadChange::Create { first_seq, .. } => {
                let count = entries.len() as u64;
                (
                    Uuid::now_v7().simple().to_string(),
                    exp_s + ttl_s,
                    now,
                    *first_seq,
                    *first_seq,
                    first_seq + count - 1,
                )
            }
            HeadChange::Advance { head } | HeadChange::Touch { head, .. } => {
                let Some(incarnation) = head.incarnation.clone() else {
                    return Err(WriteFailure::HeadChanged(Some(head.clone())));
                };
                let record_exp = if exp_s > head.record_exp {
                    let age_s = (now - head.created_at_ms).max(0) / 1000;
                    let record_exp = exp_s + ttl_s.max(age_s);
                    self.refresh(pk, head, record_exp).await?;
                    record_exp
                } else {
                    head.record_exp
                };
                let (next_seq, new_version) = match &change {
                    HeadChange::Touch { seq, .. } => (*seq, head.version),
                    _ => (head.version + 1, head.version + entries.len() as u64),
                };
                (
                    incarnation,
                    record_exp,
                    head.created_at_ms,
                    head.first_seq,
                    next_seq,
                    new_version,
                )
            }
        };
        if i128::from(new_version) > ENTRY_MAX_SK {
            return Err(invalid(format!(
                "partition `{pk}` has reached {ENTRY_MAX_SK} entries; delete the session"
            ))
            .into());
        }

        // Entries, and the chunks of those too large for one item.
        let mut staged = Vec::new();
        let mut entry_items = Vec::with_capacity(entries.len());
        let mut last_chunks = None;
        for (i, entry) in entries.iter().enumerate() {
            let meta = EntryMeta {
                pk,
                seq: next_seq + i as u64,
                incarnation: &incarnation,
                run_id: entry.run_id,
                kind: entry.kind,
                migrated_from: entry.migrated_from,
                created_at_ms: now,
                expiration_time: record_exp,
            };
            last_chunks = None;
            if let Some(item) = codec::inline_entry(&meta, &entry.body) {
                entry_items.push(item);
                continue;
            }
            let blob_id = Uuid::now_v7().simple().to_string();
            let payload = codec::chunk_payload(pk, &incarnation, &blob_id, record_exp);
            let parts: Vec<&[u8]> = entry.body.bytes.chunks(payload).collect();
            let count = parts.len() as u64;
            let first = self.reserve_chunks(pk, count, exp_s).await?;
            for (part, bytes) in parts.into_iter().enumerate() {
                staged.push(codec::chunk_item(
                    pk,
                    first + part as i128,
                    &incarnation,
                    &blob_id,
                    part as u64,
                    record_exp,
                    bytes.to_vec(),
                ));
            }
            let body = StoredBody::Chunked {
                gzip: entry.body.gzip,
                blob_id,
                first,
                count,
                len: entry.body.bytes.len() as u64,
            };
            entry_items.push(codec::chunked_entry(&meta, &body));
            last_chunks = Some((first, count));
            tracing::debug!(
                pk,
                seq = meta.seq,
                chunks = count,
                "entry split into chunks"
            );
        }
        let staged_keys: Vec<Item> = staged
            .iter()
            .filter_map(|item| Reader::new(item).sk().ok().map(|sk| key(pk, sk)))
            .collect();
        if !staged.is_empty() {
            // Chunks are invisible until the entry that names them commits.
            self.db().put_all(staged).await?;
        }

        // The transaction: head, pointer, entries.
        let mut actions = vec![self.head_action(
            pk,
            &change,
            HeadValues {
                now,
                exp_ms,
                exp_s,
                record_exp,
                incarnation: &incarnation,
                first_seq,
                new_version,
            },
        )?];
        let mut pointer_index = None;
        if let Some(run_id) = pointer {
            actions.push(pointer_action(
                &self.inner.db.table,
                pk,
                run_id,
                new_version,
                &incarnation,
                record_exp,
            )?);
            pointer_index = Some(actions.len() - 1);
        }
        let first_entry_index = actions.len();
        for item in entry_items {
            let mut put = Put::builder()
                .table_name(&self.inner.db.table)
                .set_item(Some(item));
            if let Some(run_id) = guard_run {
                put = put
                    .condition_expression("#inc = :inc AND #run = :run")
                    .expression_attribute_names("#inc", attr::INCARNATION)
                    .expression_attribute_names("#run", attr::RUN_ID)
                    .expression_attribute_values(":inc", s(&incarnation))
                    .expression_attribute_values(":run", s(run_id.to_string()))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
            }
            let put = put.build().map_err(|e| invalid(e.to_string()))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }

        let outcome = self
            .transact_with_retries(pk, actions, pointer_index, first_entry_index)
            .await;
        match outcome {
            Ok(()) => {
                let head = Head {
                    incarnation: Some(incarnation),
                    version: new_version,
                    first_seq,
                    created_at_ms: created_at,
                    expires_at_ms: exp_ms,
                    record_exp,
                };
                self.remember_head(pk, Some(head.clone()));
                Ok(Written {
                    head,
                    last_seq: next_seq + entries.len() as u64 - 1,
                    last_chunks,
                })
            }
            Err(failure) => {
                if !staged_keys.is_empty() {
                    // Never referenced: remove them now rather than wait for their expiry.
                    if let Err(error) = self.db().batch_delete(staged_keys).await {
                        tracing::debug!(%error, "could not remove the chunks of a failed write");
                    }
                }
                if let WriteFailure::HeadChanged(head) = &failure {
                    self.remember_head(pk, head.clone());
                }
                Err(failure)
            }
        }
    }

    /// Sends a transaction, resending it after transient cancellations, and says why it
    /// failed otherwise.
    async fn transact_with_retries(
        &self,
        pk: &str,
        actions: Vec<TransactWriteItem>,
        pointer_index: Option<usize>,
        first_entry_index: usize,
    ) -> Result<(), WriteFailure> {
        let mut attempt = 0;
        loop {
            let reasons = match self.db().transact(actions.clone()).await {
                Ok(()) => return Ok(()),
                Err(TxFailure::Error(error)) => return Err(error.into()),
                Err(TxFailure::IdempotentMismatch) => {
                    return Err(WriteFailure::HeadChanged(self.fetch_head(pk).await?));
                }
                Err(TxFailure::Canceled(reasons)) => reasons,
            };
            let code = |i: usize| cancel_code(reasons.get(i));
            if code(0) == "ConditionalCheckFailed" {
                let head = match reasons.first().and_then(|r| r.item()) {
                    Some(item) if !item.is_empty() => Some(Self::parse_head(pk, item)?),
                    _ => self.fetch_head(pk).await?,
                };
                return Err(WriteFailure::HeadChanged(head));
            }
            if let Some(index) = pointer_index
                && code(index) == "ConditionalCheckFailed"
            {
                let item = match reasons.get(index).and_then(|r| r.item()) {
                    Some(item) if !item.is_empty() => Some(item.clone()),
                    _ => None,
                };
                return Err(Self::pointer_failure(pk, item));
            }
            if (first_entry_index..reasons.len()).any(|i| code(i) == "ConditionalCheckFailed") {
                return Err(WriteFailure::SlotMoved);
            }
            let transient = reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "TransactionConflict"
                            | "ThrottlingError"
                            | "ProvisionedThroughputExceeded"
                            | "RequestLimitExceeded"
                    )
                )
            });
            let summary: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            if !transient {
                let kind = if summary.contains(&"ValidationError") {
                    SessionErrorKind::InvalidInput
                } else {
                    SessionErrorKind::Unavailable
                };
                return Err(SessionError::new(
                    kind,
                    format!(
                        "DynamoDB TransactWriteItems on table `{}` was cancelled: {summary:?}",
                        self.inner.db.table
                    ),
                )
                .into());
            }
            attempt += 1;
            if attempt > MAX_TX_RETRIES {
                let throttled = summary
                    .iter()
                    .any(|c| *c != "TransactionConflict" && *c != "None");
                return Err(SessionError::new(
                    if throttled {
                        SessionErrorKind::Throttled
                    } else {
                        SessionErrorKind::Unavailable
                    },
                    format!(
                        "DynamoDB TransactWriteItems on table `{}` was cancelled {attempt} times: \
                         {summary:?}",
                        self.inner.db.table
                    ),
                )
                .into());
            }
            tracing::debug!(?summary, attempt, "transaction cancelled; retrying");
            tokio::time::sleep(Duration::from_millis(25 << attempt) + jitter(50)).await;
        }
    }

    fn pointer_failure(pk: &str, item: Option<Item>) -> WriteFailure {
        let Some(item) = item else {
            // Without the old item (an older DynamoDB), let the caller look again.
            return WriteFailure::SlotMoved;
        };
        let r = Reader::new(&item);
        match (r.u64(attr::SEQ), r.string(attr::INCARNATION)) {
            (Ok(seq), Ok(incarnation)) => WriteFailure::PointerExists {
                seq,
                incarnation: incarnation.to_owned(),
            },
            (Err(e), _) | (_, Err(e)) => WriteFailure::Session(corrupted(pk, &r.sk_text(), e)),
        }
    }

    /// The head's Update action for a change.
    fn head_action(
        &self,
        pk: &str,
        change: &HeadChange,
        v: HeadValues<'_>,
    ) -> Result<TransactWriteItem, SessionError> {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut name = |placeholder: &str, attribute: &str| {
            names.insert(placeholder.to_owned(), attribute.to_owned());
        };
        name("#version", attr::VERSION);
        name("#inc", attr::INCARNATION);
        name("#exp_ms", attr::EXPIRES_AT_MS);
        name("#exp", attr::EXPIRATION_TIME);
        name("#rexp", attr::RECORD_EXP);
        name("#updated", attr::UPDATED_AT);
        values.insert(":now".to_owned(), n(v.now));
        values.insert(":exp_ms".to_owned(), n(v.exp_ms));
        values.insert(":exp".to_owned(), n(v.exp_s));
        values.insert(":rexp".to_owned(), n(v.record_exp));
        let common = "#updated = :now, #exp_ms = :exp_ms, #exp = :exp, #rexp = :rexp";
        let (update, condition) = match change {
            HeadChange::Create { prev, .. } => {
                name("#schema", attr::SCHEMA);
                name("#kind", attr::KIND);
                name("#first", attr::FIRST_SEQ);
                name("#created", attr::CREATED_AT);
                values.insert(":schema".to_owned(), n(SCHEMA_VERSION));
                values.insert(":kind".to_owned(), s(kind::HEAD));
                values.insert(":inc".to_owned(), s(v.incarnation));
                values.insert(":version".to_owned(), n(v.new_version));
                values.insert(":first".to_owned(), n(v.first_seq));
                let condition = match prev
                    .as_ref()
                    .and_then(|h| h.incarnation.as_ref().map(|inc| (inc, h.version)))
                {
                    None => "attribute_not_exists(#version)".to_owned(),
                    Some((old_inc, old_version)) => {
                        values.insert(":old_inc".to_owned(), s(old_inc));
                        values.insert(":old_version".to_owned(), n(old_version));
                        "#version = :old_version AND #inc = :old_inc AND #exp_ms <= :now".to_owned()
                    }
                };
                (
                    format!(
                        "SET #schema = :schema, #kind = :kind, #inc = :inc, #version = :version, \
                         #first = :first, #created = :now, {common}"
                    ),
                    condition,
                )
            }
            HeadChange::Advance { head } => {
                values.insert(":inc".to_owned(), s(v.incarnation));
                values.insert(":version".to_owned(), n(v.new_version));
                values.insert(":old_version".to_owned(), n(head.version));
                values.insert(":old_rexp".to_owned(), n(head.record_exp));
                (
                    format!("SET #version = :version, {common}"),
                    "#version = :old_version AND #inc = :inc AND #exp_ms > :now \
                     AND #rexp = :old_rexp"
                        .to_owned(),
                )
            }
            HeadChange::Touch { head, seq } => {
                name("#first", attr::FIRST_SEQ);
                values.insert(":inc".to_owned(), s(v.incarnation));
                values.insert(":old_rexp".to_owned(), n(head.record_exp));
                values.insert(":seq".to_owned(), n(seq));
                (
                    format!("SET {common}"),
                    "#inc = :inc AND #exp_ms > :now AND #rexp = :old_rexp \
                     AND #version >= :seq AND #first <= :seq"
                        .to_owned(),
                )
            }
        };
        let update = Update::builder()
            .table_name(&self.inner.db.table)
            .set_key(Some(key(pk, HEAD_SK)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    // ---------------------------------------------------------------- commit

    /// Whether the run of `commit` is already in the session (a retried request): its version.
    async fn own_commit(
        &self,
        pk: &str,
        head: Option<&Head>,
        commit: &RunCommit<'_>,
    ) -> Result<Option<SessionVersion>, SessionError> {
        let Some(head) = head else { return Ok(None) };
        let Some(incarnation) = head.incarnation.as_deref() else {
            return Ok(None);
        };
        let seq = match Base::of(commit.base) {
            Base::Empty => head.first_seq,
            Base::Legacy(_) => head.first_seq + 1,
            Base::Ours { epoch: e, seq } if e == epoch(head) => seq + 1,
            Base::Ours { .. } => return Ok(None),
        };
        if seq < head.first_seq || seq > head.version {
            return Ok(None);
        }
        let Some(item) = self.db().get(pk, i128::from(seq)).await? else {
            return Ok(None);
        };
        let mine = Entry::parse(&item).is_ok_and(|entry| {
            entry.incarnation == incarnation && entry.run_id == Some(commit.run_id)
        });
        Ok(mine.then_some(version_at(head, seq)))
    }

    async fn own_or_conflict(
        &self,
        pk: &str,
        head: Option<Head>,
        commit: &RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        if let Some(version) = self.own_commit(pk, head.as_ref(), commit).await? {
            tracing::debug!(%version, run_id = %commit.run_id, "the run was already committed");
            return Ok(version);
        }
        let now = now_ms();
        let current = head
            .filter(|h| h.is_live(now))
            .map(|h| version_at(&h, h.version))
            .unwrap_or(SessionVersion::EMPTY);
        Err(SessionError::new(
            SessionErrorKind::Conflict,
            format!(
                "the session is at {current} and no longer at {}: another run committed first",
                commit.base
            ),
        ))
    }

    async fn commit_inner(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        if commit.messages.is_empty() {
            return Err(invalid("a run commit needs at least one message"));
        }
        let pk = Partition::Messages.pk(session.as_str());
        let json = serde_json::to_vec(commit.messages)
            .map_err(|e| invalid(format!("the messages do not serialise: {e}")))?;
        let run = NewEntry {
            run_id: Some(commit.run_id),
            kind: kind::RUN,
            migrated_from: None,
            body: codec::encode(json),
        };
        let base = Base::of(commit.base);
        let (mut head, mut fresh) = self.head(&pk).await?;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let now = now_ms();
            let live = head.as_ref().filter(|h| h.is_live(now)).cloned();
            let has_incarnation = head.as_ref().is_some_and(|h| h.incarnation.is_some());
            let planned = match base {
                Base::Legacy(_) if has_incarnation => None,
                Base::Legacy(legacy_sk) => match self.legacy_conversation(&pk, now).await? {
                    Some((sk, json, _)) if sk == legacy_sk => {
                        let migrated = NewEntry {
                            run_id: None,
                            kind: kind::MIGRATED,
                            migrated_from: Some(sk),
                            body: codec::encode(json),
                        };
                        Some((
                            HeadChange::Create {
                                prev: head.clone(),
                                first_seq: 1,
                            },
                            vec![migrated, run.clone()],
                        ))
                    }
                    _ => None,
                },
                Base::Empty => match (&head, &live) {
                    (_, Some(_)) => None,
                    (Some(h), None) if h.incarnation.is_some() => Some((
                        HeadChange::Create {
                            prev: Some(h.clone()),
                            first_seq: h.version + 1,
                        },
                        vec![run.clone()],
                    )),
                    _ => Some((
                        HeadChange::Create {
                            prev: head.clone(),
                            first_seq: 1,
                        },
                        vec![run.clone()],
                    )),
                },
                Base::Ours { epoch: e, seq } => match &live {
                    Some(h) if h.version == seq && epoch(h) == e => {
                        Some((HeadChange::Advance { head: h.clone() }, vec![run.clone()]))
                    }
                    _ => None,
                },
            };
            let Some((change, entries)) = planned else {
                if !fresh {
                    head = self.fetch_head(&pk).await?;
                    fresh = true;
                    continue;
                }
                return self.own_or_conflict(&pk, head, &commit).await;
            };
            match self.write(&pk, change, entries, None, None).await {
                Ok(written) => {
                    let version = version_at(&written.head, written.head.version);
                    tracing::debug!(%version, "run committed");
                    return Ok(version);
                }
                Err(WriteFailure::HeadChanged(now_head)) => {
                    head = now_head;
                    fresh = true;
                }
                Err(WriteFailure::Session(error)) => return Err(error),
                Err(WriteFailure::PointerExists { .. } | WriteFailure::SlotMoved) => {
                    return Err(SessionError::new(
                        SessionErrorKind::Unavailable,
                        "unexpected transaction outcome for a conversation commit",
                    ));
                }
            }
        }
        self.own_or_conflict(&pk, head, &commit).await
    }

    // ---------------------------------------------------------------- reasoning

    async fn save_inner(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        let pk = Partition::Reasoning.pk(session.as_str());
        let json = serde_json::to_vec(&[reasoning])
            .map_err(|e| invalid(format!("the reasoning does not serialise: {e}")))?;
        let run_id = (!reasoning.run_id.is_nil()).then_some(reasoning.run_id);
        let record = NewEntry {
            run_id,
            kind: kind::RUN,
            migrated_from: None,
            body: codec::encode(json),
        };
        let (mut head, _) = self.head(&pk).await?;
        let mut known = run_id.and_then(|id| self.cached_slot(&pk, id));
        for attempt in 0..MAX_SAVE_ATTEMPTS {
            let now = now_ms();
            let live = head.as_ref().filter(|h| h.is_live(now)).cloned();
            let (change, entries, pointer, guard) = match &live {
                Some(h) => {
                    let slot = known.as_ref().filter(|slot| {
                        Some(slot.incarnation.as_str()) == h.incarnation.as_deref()
                            && slot.seq >= h.first_seq
                            && slot.seq <= h.version
                    });
                    match slot {
                        Some(slot) => (
                            HeadChange::Touch {
                                head: h.clone(),
                                seq: slot.seq,
                            },
                            vec![record.clone()],
                            None,
                            run_id,
                        ),
                        None => (
                            HeadChange::Advance { head: h.clone() },
                            vec![record.clone()],
                            run_id,
                            None,
                        ),
                    }
                }
                None => {
                    let mut entries = Vec::new();
                    let first_seq = match &head {
                        Some(h) if h.incarnation.is_some() => h.version + 1,
                        _ => {
                            // First save in this layout: bring the Python records along.
                            let legacy = self.legacy_reasoning(&pk, now).await?;
                            if let Some((first_sk, _)) = legacy.first() {
                                let first_sk = *first_sk;
                                let values: Vec<Value> =
                                    legacy.into_iter().map(|(_, value)| value).collect();
                                let json = serde_json::to_vec(&values)
                                    .map_err(|e| invalid(e.to_string()))?;
                                entries.push(NewEntry {
                                    run_id: None,
                                    kind: kind::MIGRATED,
                                    migrated_from: Some(first_sk),
                                    body: codec::encode(json),
                                });
                            }
                            1
                        }
                    };
                    entries.push(record.clone());
                    (
                        HeadChange::Create {
                            prev: head.clone(),
                            first_seq,
                        },
                        entries,
                        run_id,
                        None,
                    )
                }
            };
            let replacing = known.clone().filter(|_| guard.is_some());
            match self.write(&pk, change, entries, pointer, guard).await {
                Ok(written) => {
                    if let Some(id) = run_id {
                        let incarnation = written.head.incarnation.clone().unwrap_or_default();
                        self.remember_slot(
                            &pk,
                            id,
                            Some(Slot {
                                incarnation,
                                seq: written.last_seq,
                                chunks: written.last_chunks,
                            }),
                        );
                    }
                    if let Some((first, count)) = replacing.and_then(|slot| slot.chunks) {
                        self.remove_chunks(&pk, first, count).await;
                    }
                    return Ok(());
                }
                Err(WriteFailure::HeadChanged(now_head)) => {
                    head = now_head;
                    if attempt > 0 {
                        tokio::time::sleep(jitter(20 * (attempt as u64 + 1))).await;
                    }
                }
                Err(WriteFailure::PointerExists { seq, incarnation }) => {
                    known = Some(Slot {
                        incarnation,
                        seq,
                        chunks: None,
                    });
                }
                Err(WriteFailure::SlotMoved) => {
                    if let Some(id) = run_id {
                        self.remember_slot(&pk, id, None);
                        // Look the run up by its pointer.
                        known = match self.db().get(&pk, pointer_sk(id)).await? {
                            Some(item) => {
                                let r = Reader::new(&item);
                                match (r.u64(attr::SEQ), r.string(attr::INCARNATION)) {
                                    (Ok(seq), Ok(incarnation)) => Some(Slot {
                                        incarnation: incarnation.to_owned(),
                                        seq,
                                        chunks: None,
                                    }),
                                    _ => None,
                                }
                            }
                            None => None,
                        };
                    } else {
                        known = None;
                    }
                    head = self.fetch_head(&pk).await?;
                }
                Err(WriteFailure::Session(error)) => return Err(error),
            }
        }
        Err(SessionError::new(
            SessionErrorKind::Unavailable,
            format!(
                "the reasoning record could not be saved after {MAX_SAVE_ATTEMPTS} attempts: \
                 too many concurrent writers"
            ),
        ))
    }

    /// Deletes chunks no entry names any more (best effort; they expire anyway).
    async fn remove_chunks(&self, pk: &str, first: i128, count: u64) {
        let keys = (0..count).map(|i| key(pk, first + i as i128)).collect();
        if let Err(error) = self.db().batch_delete(keys).await {
            tracing::debug!(%error, "could not remove the chunks of a replaced record");
        }
    }

    async fn latest_inner(&self, session: &SessionId) -> Result<Option<Reasoning>, SessionError> {
        let pk = Partition::Reasoning.pk(session.as_str());
        let now = now_ms();
        let head = self.fetch_head(&pk).await?;
        match &head {
            Some(h) if h.is_live(now) => {
                let item = self
                    .db()
                    .get(&pk, i128::from(h.version))
                    .await?
                    .ok_or_else(|| {
                        corrupted(&pk, &h.version.to_string(), "the newest entry is missing")
                    })?;
                let entry =
                    Entry::parse(&item).map_err(|e| corrupted(&pk, &h.version.to_string(), e))?;
                if Some(entry.incarnation.as_str()) != h.incarnation.as_deref() {
                    return Err(corrupted(
                        &pk,
                        &h.version.to_string(),
                        "the entry belongs to another life of the session",
                    ));
                }
                Ok(self.entry_reasoning(&pk, &entry, now).await?.pop())
            }
            Some(h) if h.incarnation.is_some() => Ok(None),
            _ => {
                let Some(item) = self.newest_legacy(&pk, now).await? else {
                    return Ok(None);
                };
                let r = Reader::new(&item);
                let sk_text = r.sk_text();
                let json = r
                    .string(attr::LEGACY_REASONING)
                    .map_err(|e| corrupted(&pk, &sk_text, e))?;
                serde_json::from_str(json)
                    .map(Some)
                    .map_err(|e| corrupted(&pk, &sk_text, format!("bad reasoning record: {e}")))
            }
        }
    }

    async fn history_inner(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        let pk = Partition::Reasoning.pk(session.as_str());
        let now = now_ms();
        let log = self.read_log(&pk, now).await?;
        match &log.head {
            Some(h) if h.incarnation.is_some() => {
                let mut out = Vec::new();
                for entry in &log.entries {
                    out.extend(self.entry_reasoning(&pk, entry, now).await?);
                }
                Ok(out)
            }
            _ => self
                .legacy_reasoning(&pk, now)
                .await?
                .into_iter()
                .map(|(sk, value)| {
                    serde_json::from_value(value).map_err(|e| {
                        corrupted(&pk, &sk.to_string(), format!("bad reasoning record: {e}"))
                    })
                })
                .collect(),
        }
    }

    // ---------------------------------------------------------------- delete

    /// Deletes every item of a partition. The head is expired first (readers see nothing from
    /// then on, and runs computed from the old conversation conflict), then everything else is
    /// deleted. The expired head stays, holding no data, until DynamoDB's TTL removes it, so a
    /// session written again continues its version numbers instead of reusing them.
    async fn delete_partition(&self, pk: &str) -> Result<(), SessionError> {
        self.forget_partition(pk);
        for _ in 0..5 {
            let spec = QuerySpec {
                projection: Some(&[attr::VERSION, attr::INCARNATION]),
                ..QuerySpec::new(pk, KeyRange::All)
            };
            let items = self.db().query_all(&spec, None).await?;
            let mut head = None;
            let mut keys = Vec::with_capacity(items.len());
            for item in &items {
                let r = Reader::new(item);
                match r.sk() {
                    Ok(HEAD_SK) => {
                        head = Some((
                            r.u64(attr::VERSION).ok(),
                            r.string(attr::INCARNATION).ok().map(str::to_owned),
                        ));
                    }
                    Ok(sk) => keys.push(key(pk, sk)),
                    Err(_) => {
                        if let (Some(pk_value), Some(sk_value)) =
                            (item.get(attr::PK), item.get(attr::SK))
                        {
                            keys.push(HashMap::from([
                                (attr::PK.to_owned(), pk_value.clone()),
                                (attr::SK.to_owned(), sk_value.clone()),
                            ]));
                        }
                    }
                }
            }
            match head {
                None => self.db().batch_delete(keys).await?,
                Some((Some(version), Some(incarnation))) => {
                    // Readers see the session as expired from now on; DynamoDB removes the
                    // head itself one TTL later.
                    let names = HashMap::from([
                        ("#version".to_owned(), attr::VERSION.to_owned()),
                        ("#inc".to_owned(), attr::INCARNATION.to_owned()),
                        ("#exp_ms".to_owned(), attr::EXPIRES_AT_MS.to_owned()),
                        ("#exp".to_owned(), attr::EXPIRATION_TIME.to_owned()),
                    ]);
                    let values = HashMap::from([
                        (":version".to_owned(), n(version)),
                        (":inc".to_owned(), s(&incarnation)),
                        (":zero".to_owned(), n(0)),
                        (":exp".to_owned(), n(now_ms() / 1000 + self.ttl_secs())),
                    ]);
                    let expired = self
                        .db()
                        .update(
                            key(pk, HEAD_SK),
                            "SET #exp_ms = :zero, #exp = :exp",
                            Some("#version = :version AND #inc = :inc"),
                            names,
                            values,
                            false,
                        )
                        .await?;
                    if expired.is_none() {
                        // A run committed since the listing: list again.
                        continue;
                    }
                    self.db().batch_delete(keys).await?;
                }
                Some(_) => {
                    // A stub (or a head this version cannot read): no run can be lost here.
                    self.db().batch_delete(keys).await?;
                    self.db()
                        .delete(
                            key(pk, HEAD_SK),
                            Some("attribute_not_exists(#version)"),
                            HashMap::from([("#version".to_owned(), attr::VERSION.to_owned())]),
                            HashMap::new(),
                        )
                        .await?;
                }
            }
            self.forget_partition(pk);
            return Ok(());
        }
        Err(SessionError::new(
            SessionErrorKind::Conflict,
            "the session kept changing while it was being deleted",
        ))
    }
}

/// The values a head update writes.
struct HeadValues<'a> {
    now: i64,
    exp_ms: i64,
    exp_s: i64,
    record_exp: i64,
    incarnation: &'a str,
    first_seq: u64,
    new_version: u64,
}

/// The Put of a run pointer, conditioned on no pointer of the same incarnation existing.
fn pointer_action(
    table: &str,
    pk: &str,
    run_id: Uuid,
    seq: u64,
    incarnation: &str,
    expiration_time: i64,
) -> Result<TransactWriteItem, SessionError> {
    let mut item = key(pk, pointer_sk(run_id));
    item.insert(attr::SCHEMA.to_owned(), n(SCHEMA_VERSION));
    item.insert(attr::KIND.to_owned(), s(kind::POINTER));
    item.insert(attr::INCARNATION.to_owned(), s(incarnation));
    item.insert(attr::RUN_ID.to_owned(), s(run_id.to_string()));
    item.insert(attr::SEQ.to_owned(), n(seq));
    item.insert(attr::EXPIRATION_TIME.to_owned(), n(expiration_time));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #inc <> :inc")
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#inc", attr::INCARNATION)
        .expression_attribute_values(":inc", s(incarnation))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[async_trait]
impl SessionStore for DynamoSessionStore {
    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn load(&self, session: &SessionId) -> Result<SessionSnapshot, SessionError> {
        let pk = Partition::Messages.pk(session.as_str());
        let now = now_ms();
        let result = async {
            let log = self.read_log(&pk, now).await?;
            match &log.head {
                Some(h) if h.incarnation.is_some() => {
                    if !h.is_live(now) {
                        return Ok(SessionSnapshot::default());
                    }
                    let mut messages = Vec::new();
                    for entry in &log.entries {
                        let json = self.entry_json(&pk, entry, now).await?;
                        let run: Vec<Message> = serde_json::from_slice(&json).map_err(|e| {
                            corrupted(
                                &pk,
                                &entry.seq.to_string(),
                                format!("bad messages JSON: {e}"),
                            )
                        })?;
                        messages.extend(run);
                    }
                    Ok(SessionSnapshot {
                        messages,
                        version: version_at(h, h.version),
                    })
                }
                _ => Ok(match self.legacy_conversation(&pk, now).await? {
                    Some((sk, _, messages)) => SessionSnapshot {
                        messages,
                        version: SessionVersion(u64::try_from(sk).unwrap_or(0)),
                    },
                    None => SessionSnapshot::default(),
                }),
            }
        }
        .await;
        result.map_err(|e: SessionError| e.for_session(session))
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(session = %session, run_id = %commit.run_id, base = %commit.base)
    )]
    async fn commit_run(
        &self,
        session: &SessionId,
        commit: RunCommit<'_>,
    ) -> Result<SessionVersion, SessionError> {
        self.commit_inner(session, commit)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(session = %session, run_id = %reasoning.run_id)
    )]
    async fn save_reasoning(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<(), SessionError> {
        self.save_inner(session, reasoning)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        self.latest_inner(session)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn reasoning_history(&self, session: &SessionId) -> Result<Vec<Reasoning>, SessionError> {
        self.history_inner(session)
            .await
            .map_err(|e| e.for_session(session))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(session = %session))]
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        let result = async {
            self.delete_partition(&Partition::Messages.pk(session.as_str()))
                .await?;
            self.delete_partition(&Partition::Reasoning.pk(session.as_str()))
                .await
        }
        .await;
        result.map_err(|e| e.for_session(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: u64, created_at_ms: i64) -> Head {
        Head {
            incarnation: Some("inc".into()),
            version,
            first_seq: 1,
            created_at_ms,
            expires_at_ms: i64::MAX,
            record_exp: 0,
        }
    }

    #[test]
    fn versions_encode_the_life_and_the_sequence() {
        let h = head(7, 1_700_000_000_123);
        let version = version_at(&h, h.version);
        assert_eq!(
            Base::of(version),
            Base::Ours {
                epoch: 1_700_000_000,
                seq: 7
            }
        );
        assert_eq!(Base::of(SessionVersion::EMPTY), Base::Empty);
        assert_eq!(
            Base::of(SessionVersion(1_700_000_000)),
            Base::Legacy(1_700_000_000)
        );
        // Another life of the session, even at the same seq, is another version.
        assert_ne!(version, version_at(&head(7, 1_700_000_001_000), 7));
    }

    #[test]
    fn heads_entries_and_stubs_parse_or_say_what_is_wrong() {
        let mut item = key("messages#s", 0);
        item.insert(attr::SCHEMA.into(), n(SCHEMA_VERSION));
        item.insert(attr::NEXT_CHUNK.into(), n(3));
        let stub = Head::parse(&item).unwrap();
        assert!(stub.incarnation.is_none() && !stub.is_live(0));
        item.insert(attr::VERSION.into(), n(2));
        let error = Head::parse(&item).unwrap_err();
        assert!(error.contains("incarnation"), "{error}");

        let mut entry = key("messages#s", 1);
        entry.insert(attr::SCHEMA.into(), n(SCHEMA_VERSION));
        entry.insert(attr::INCARNATION.into(), s("inc"));
        entry.insert(attr::ENC.into(), s("gzip"));
        entry.insert(attr::BODY.into(), s("[]"));
        let error = Entry::parse(&entry).unwrap_err();
        assert!(error.contains("wrong type"), "{error}");
        entry.insert(attr::ENC.into(), s("json"));
        let parsed = Entry::parse(&entry).unwrap();
        assert_eq!(
            parsed.body,
            StoredBody::Inline {
                gzip: false,
                bytes: b"[]".to_vec()
            }
        );
        entry.insert(attr::SCHEMA.into(), n(3));
        assert!(Entry::parse(&entry).unwrap_err().contains("schema"));
    }

    #[test]
    fn pointer_keys_are_negative_and_within_38_digits() {
        for id in [Uuid::nil(), Uuid::max(), Uuid::now_v7()] {
            let sk = pointer_sk(id);
            assert!(sk < 0);
            assert!(sk.to_string().len() <= 39, "{sk}");
        }
    }
}
