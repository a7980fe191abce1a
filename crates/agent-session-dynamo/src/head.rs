//! The head item (`messages#{sid}`, sk 0): where a session's conversation and runs stand, its
//! life and its expiry. Every write that moves the session is a conditional update of it.

use agent_core::{MAX_STATE_BYTES, SessionState};
use agent_session::{SessionError, SessionHead, SessionVersion};
use jiff::Timestamp;
use uuid::Uuid;

use crate::db::{Expr, UpdateSpec};
use crate::errors::{corrupted, invalid};
use crate::layout::{HEAD_SK, Item, MAX_SEQ, Reader, SCHEMA, SCHEMA_2, attr, key, kind, n, s};
use crate::size::MAX_ITEM_BYTES;

/// A head as stored by this version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The current life: the creation time in milliseconds, never reused for the session.
    pub(crate) life: u64,
    pub(crate) first_seq: u64,
    /// `first_seq - 1` while the life has no entry.
    pub(crate) last_seq: u64,
    pub(crate) summary_seq: Option<u64>,
    pub(crate) first_run: u64,
    /// The highest run number (`first_run - 1` while the life has no run).
    pub(crate) runs: u64,
    pub(crate) expires_at_ms: i64,
    /// Every record of the life expires no sooner than this (epoch seconds).
    pub(crate) horizon: i64,
    pub(crate) deleted: bool,
    /// The life before this one, and whether it ended by a delete.
    pub(crate) prev_life: u64,
    pub(crate) prev_deleted: bool,
    /// For sessions first written by the Python MinimalAgent: the sort key of the Python item
    /// the conversation was taken over from.
    pub(crate) migrated_from: Option<i64>,
    /// For such a session taken over while a Python agent could still write an item with the
    /// same sort key (the same second): the digest of that item's history as taken over, to
    /// tell an overwrite from the item itself ([`python_digest`]). Dropped once that second is
    /// safely past.
    pub(crate) migrated_digest: Option<String>,
    /// The run ids of the newest runs of the life, `(run, run id)` oldest first, at most
    /// [`RECENT_RUNS`]: a `begin_run` or `finish_run` repeated after a lost answer finds its
    /// run here, with no other read in the hot path.
    pub(crate) recent: Vec<(u64, Uuid)>,
    /// The session's state (attribute `state`), changed by commits and by `update_state`.
    pub(crate) state: HeadState,
    /// How many times the state was written (attribute `state_version`, absent for 0): the
    /// version of `state`. Every write of the state pins it in its condition and adds one
    /// (see [`HeadState`]).
    pub(crate) state_version: u64,
}

/// A head's session state, as this store has it.
///
/// The state is a JSON string in the head item's attribute `state` (S), with the life it
/// belongs to in `state_life` (N); both are absent when the state is empty, and heads of the
/// Python MinimalAgent, of schema 2 and of the previous release of this schema have neither.
/// A state of another life than the head's is none: a version that does not know the state
/// may have started a new life (or tombstoned one) without removing it.
///
/// The state is changed by commits and by `update_state`, which writes no entry: `last_seq`
/// does not tell whether the state moved. Its version does: the head's `state_version`
/// (absent for 0), which every write of the state pins in its condition (with the life) and
/// adds one to. DynamoDB cannot read and modify in one write, so a writer applies its changes
/// to the state of the head it planned from and writes the whole state; the condition on the
/// version makes that the state the session has at the write, so no write of the state ever
/// overwrites another it did not see (a commit planned from a head cached before another
/// process's `update_state` fails its condition and is planned again on the head returned
/// with the failure, the update's keys kept). A write that does not pin the version (a commit
/// that does not change the state, a run record, a tombstone) leaves `state` and
/// `state_version` as stored (see [`write`]); the cache keeps, per life, the state of the
/// highest version seen ([`Head::merged`]). Versions are unique within a life, and every
/// condition pins the life; a new life carries the previous life's version on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadState {
    /// The state's JSON as stored, not parsed until it is needed (by `head` and by a commit
    /// that changes the state), so that a damaged state fails those and nothing else; empty
    /// text for no state (no attribute).
    Json(String),
    /// The attribute is there but is not a state's JSON text: what is wrong with it. `head` and
    /// commits that change the state fail with `CorruptedData`; other writes leave it as it is.
    Damaged(String),
    /// Not kept: a head in the store's cache whose state is larger than
    /// [`CACHED_STATE_BYTES`] (`bytes` long). A commit that changes the state reads the head
    /// first.
    Unknown { bytes: usize },
}

impl HeadState {
    /// No state.
    pub(crate) const EMPTY: HeadState = HeadState::Json(String::new());

    /// The state's JSON as it is stored (`state` empty: no attribute).
    pub(crate) fn of(state: &SessionState) -> Result<HeadState, SessionError> {
        if state.is_empty() {
            return Ok(HeadState::EMPTY);
        }
        serde_json::to_string(state)
            .map(HeadState::Json)
            .map_err(|e| invalid(format!("the session's state cannot be stored as JSON: {e}")))
    }

    /// Reads the attributes `state` and `state_life` of a head item of life `life`.
    fn read(r: &Reader<'_>, life: u64) -> HeadState {
        if !r.has(attr::STATE) {
            return HeadState::EMPTY;
        }
        match r.opt_u64(attr::STATE_LIFE) {
            Ok(Some(of)) if of == life => {}
            // Left by an earlier life.
            Ok(Some(_)) => return HeadState::EMPTY,
            Ok(None) => {
                return HeadState::Damaged(format!("attribute `{}` is missing", attr::STATE_LIFE));
            }
            Err(why) => return HeadState::Damaged(why),
        }
        match r.string(attr::STATE) {
            Ok("") => HeadState::Damaged(format!("attribute `{}` is empty", attr::STATE)),
            Ok(text) => HeadState::Json(text.to_owned()),
            Err(why) => HeadState::Damaged(why),
        }
    }

    /// The state, parsed and checked: `None` when it is not known here
    /// ([`HeadState::Unknown`]). A state that is not a JSON object of a state's size is
    /// `CorruptedData` naming the head item of `pk`.
    pub(crate) fn parse(&self, pk: &str) -> Result<Option<SessionState>, SessionError> {
        let bad = |why: &str| corrupted(pk, 0, format!("bad session state: {why}"));
        match self {
            HeadState::Json(text) if text.is_empty() => Ok(Some(SessionState::new())),
            HeadState::Json(text) if text.len() > MAX_STATE_BYTES => Err(bad(&format!(
                "{} bytes of JSON, more than a state may be ({MAX_STATE_BYTES})",
                text.len()
            ))),
            HeadState::Json(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| bad(&format!("invalid JSON: {e}"))),
            HeadState::Damaged(why) => Err(bad(why)),
            HeadState::Unknown { .. } => Ok(None),
        }
    }

    /// The bytes it takes in the head item (the attribute's value).
    fn stored_bytes(&self) -> usize {
        match self {
            HeadState::Json(text) => text.len(),
            HeadState::Damaged(_) => 0,
            HeadState::Unknown { bytes } => *bytes,
        }
    }

    /// What the store's cache keeps of it: the state itself up to [`CACHED_STATE_BYTES`], so
    /// that the cache of heads stays small whatever the sessions' states.
    pub(crate) fn for_cache(&self) -> HeadState {
        match self {
            HeadState::Json(text) if text.len() > CACHED_STATE_BYTES => {
                HeadState::Unknown { bytes: text.len() }
            }
            other => other.clone(),
        }
    }
}

/// The largest state the store's cache of heads keeps (see [`HeadState::for_cache`]): a commit
/// of a session whose state is larger, planned from the cache, reads the head first.
pub(crate) const CACHED_STATE_BYTES: usize = 8 * 1024;

/// What a head item takes besides its state: under 1 KB (see the tests), counted here with a
/// wide margin.
const HEAD_WITHOUT_STATE_BYTES: usize = 8 * 1024;

// The head item, the largest state included, fits in one DynamoDB item.
const _: () = assert!(MAX_STATE_BYTES + HEAD_WITHOUT_STATE_BYTES < MAX_ITEM_BYTES);

/// How many run ids the head keeps ([`Head::recent`]): about 36 bytes each, so that the head
/// stays well under 1 KB (one write unit).
pub(crate) const RECENT_RUNS: usize = 8;

/// The digest of a Python history as stored (its JSON text): its length and CRC-32.
pub(crate) fn python_digest(json: &str) -> String {
    let mut crc = flate2::Crc::new();
    crc.update(json.as_bytes());
    format!("{}:{:08x}", json.len(), crc.sum())
}

/// What a head item holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HeadItem {
    /// This version's head.
    Current(Head),
    /// A head of the previous version of this crate (schema 2), to migrate.
    Schema2,
}

impl Head {
    /// The head of a new life starting at `now_ms` after `previous` (if any).
    pub(crate) fn new_life(previous: Option<&Head>, now_ms: i64) -> Head {
        let now = u64::try_from(now_ms).unwrap_or(1).max(1);
        match previous {
            None => Head {
                life: now,
                first_seq: 1,
                last_seq: 0,
                summary_seq: None,
                first_run: 1,
                runs: 0,
                expires_at_ms: 0,
                horizon: 0,
                deleted: false,
                prev_life: 0,
                prev_deleted: false,
                migrated_from: None,
                migrated_digest: None,
                recent: Vec::new(),
                state: HeadState::EMPTY,
                state_version: 0,
            },
            Some(old) => Head {
                life: now.max(old.life + 1),
                first_seq: old.last_seq + 1,
                last_seq: old.last_seq,
                summary_seq: None,
                first_run: old.runs + 1,
                runs: old.runs,
                expires_at_ms: 0,
                horizon: 0,
                deleted: false,
                prev_life: old.life,
                prev_deleted: old.deleted,
                migrated_from: None,
                migrated_digest: None,
                recent: Vec::new(),
                state: HeadState::EMPTY,
                state_version: old.state_version,
            },
        }
    }

    /// Records that run `run` (id `run_id`) took the next number: `runs` must already be `run`.
    pub(crate) fn push_recent(&mut self, run: u64, run_id: Uuid) {
        if run_id.is_nil() {
            return;
        }
        self.recent.retain(|(number, _)| *number < run);
        self.recent.push((run, run_id));
        let excess = self.recent.len().saturating_sub(RECENT_RUNS);
        self.recent.drain(..excess);
    }

    /// The number of the run with this id among the newest runs of the life, if it is there.
    pub(crate) fn recent_run(&self, run_id: Uuid) -> Option<u64> {
        if run_id.is_nil() {
            return None;
        }
        self.recent
            .iter()
            .rev()
            .find(|(run, id)| *id == run_id && self.holds_run(*run))
            .map(|(run, _)| *run)
    }

    /// What a cache keeps of two heads of a session read or written in any order: the newer
    /// life; within one life, every number as far as either has seen it (entries and runs only
    /// grow, a delete only comes later), so that a head planned from an older one (a commit
    /// that does not take a run number does not know the newest) never hides a newer one. The
    /// state goes with its version, not with the entries: `update_state` changes it without
    /// an entry, and a commit that does not change it does not write it (its head may carry a
    /// state older than the stored one, with the older version).
    pub(crate) fn merged(known: &Head, seen: &Head) -> Head {
        if known.life != seen.life {
            return if seen.life > known.life {
                seen.clone()
            } else {
                known.clone()
            };
        }
        if known.deleted != seen.deleted {
            return if seen.deleted {
                seen.clone()
            } else {
                known.clone()
            };
        }
        let mut head = seen.clone();
        if known.last_seq > seen.last_seq {
            head.last_seq = known.last_seq;
            head.summary_seq = known.summary_seq;
        }
        if known.state_version > seen.state_version
            || (known.state_version == seen.state_version
                && matches!(seen.state, HeadState::Unknown { .. }))
        {
            head.state_version = known.state_version;
            head.state = known.state.clone();
        }
        if known.runs > seen.runs {
            head.runs = known.runs;
            head.recent = known.recent.clone();
        }
        head.expires_at_ms = known.expires_at_ms.max(seen.expires_at_ms);
        head.horizon = known.horizon.max(seen.horizon);
        if known.migrated_digest.is_none() {
            head.migrated_digest = None;
        }
        head
    }

    /// Parses a head item.
    pub(crate) fn parse(pk: &str, item: &Item) -> Result<HeadItem, SessionError> {
        let r = Reader::new(item);
        match r.schema() {
            Some(SCHEMA) => {}
            Some(SCHEMA_2) => return Ok(HeadItem::Schema2),
            Some(other) => {
                return Err(SessionError::new(
                    agent_session::SessionErrorKind::Incompatible,
                    format!(
                        "the head item pk=`{pk}` sk=0 has schema {other:?}: written by a newer \
                         version of MinimalAgent; upgrade to continue this session"
                    ),
                ));
            }
            None => return Err(corrupted(pk, 0, "the head item has no `schema`")),
        }
        let bad = |e: String| corrupted(pk, 0, format!("bad head item: {e}"));
        let life = r.u64(attr::LIFE).map_err(bad)?;
        let head = Head {
            life,
            first_seq: r.u64(attr::FIRST_SEQ).map_err(bad)?,
            last_seq: r.u64(attr::LAST_SEQ).map_err(bad)?,
            summary_seq: r.opt_u64(attr::SUMMARY_SEQ).map_err(bad)?,
            first_run: r.u64(attr::FIRST_RUN).map_err(bad)?,
            runs: r.u64(attr::RUNS).map_err(bad)?,
            expires_at_ms: r.i64(attr::EXPIRES_AT_MS).map_err(bad)?,
            horizon: r.i64(attr::HORIZON).map_err(bad)?,
            deleted: r.bool(attr::DELETED).map_err(bad)?,
            prev_life: r.opt_u64(attr::PREV_LIFE).map_err(bad)?.unwrap_or(0),
            prev_deleted: r.bool(attr::PREV_DELETED).map_err(bad)?,
            migrated_from: r.opt_i64(attr::MIGRATED_FROM).map_err(bad)?,
            migrated_digest: r
                .opt_string(attr::MIGRATED_DIGEST)
                .map_err(bad)?
                .map(str::to_owned),
            recent: match r.opt_string(attr::RECENT_RUNS).map_err(bad)? {
                Some(text) => parse_recent(text).map_err(bad)?,
                None => Vec::new(),
            },
            // Read, not parsed (see `HeadState`): a damaged state fails only what needs it.
            state: HeadState::read(&r, life),
            state_version: r.opt_u64(attr::STATE_VERSION).map_err(bad)?.unwrap_or(0),
        };
        head.check().map_err(bad)?;
        Ok(HeadItem::Current(head))
    }

    /// Checks the numbers are consistent, so that they can drive reads.
    fn check(&self) -> Result<(), String> {
        if self.life == 0 {
            return Err("`life` is 0".into());
        }
        if self.first_seq == 0 || self.last_seq + 1 < self.first_seq || self.last_seq > MAX_SEQ {
            return Err(format!(
                "entries {}..={} are out of range",
                self.first_seq, self.last_seq
            ));
        }
        if self.first_run == 0 || self.runs + 1 < self.first_run || self.runs > u64::from(u32::MAX)
        {
            return Err(format!(
                "runs {}..={} are out of range",
                self.first_run, self.runs
            ));
        }
        if let Some(seq) = self.summary_seq
            && (seq < self.first_seq || seq > self.last_seq)
        {
            return Err(format!("`summary_seq` {seq} is outside the entries"));
        }
        Ok(())
    }

    /// Whether the session is live at `now_ms`.
    pub(crate) fn is_live(&self, now_ms: i64) -> bool {
        !self.deleted && now_ms < self.expires_at_ms
    }

    /// Whether run `run` is one of the life's (`first_run ..= runs`).
    pub(crate) fn holds_run(&self, run: u64) -> bool {
        run >= self.first_run && run <= self.runs
    }

    /// Whether the life holds entries.
    pub(crate) fn has_entries(&self) -> bool {
        self.last_seq >= self.first_seq
    }

    /// Whether the life's records are certainly still stored at `now_ms` (their expiry, the
    /// horizon, has not passed).
    pub(crate) fn data_present(&self, now_ms: i64) -> bool {
        !self.deleted && now_ms < self.horizon.saturating_mul(1000)
    }

    /// The conversation's version.
    pub(crate) fn version(&self) -> SessionVersion {
        if self.has_entries() {
            SessionVersion::new(self.life, self.last_seq)
        } else {
            SessionVersion::EMPTY
        }
    }

    /// The head as the contract shows it at `now_ms`, with its state (`pk`: the head item's,
    /// to name it when the state is damaged). A session that is not live has none.
    pub(crate) fn to_session_head(
        &self,
        pk: &str,
        now_ms: i64,
    ) -> Result<SessionHead, SessionError> {
        if !self.is_live(now_ms) {
            let mut head = SessionHead::empty();
            head.first_seq = self.last_seq + 1;
            head.first_run = self.runs + 1;
            head.runs = self.runs;
            return Ok(head);
        }
        let Some(state) = self.state.parse(pk)? else {
            return Err(crate::errors::error(
                agent_session::SessionErrorKind::Unavailable,
                "the session's state was not read with its head",
            ));
        };
        Ok(
            SessionHead::new(self.version(), self.first_seq, self.first_run, self.runs)
                .with_summary(self.summary_seq)
                .with_expiry(Timestamp::from_millisecond(self.expires_at_ms).ok())
                .with_state(state),
        )
    }

    /// The head's own `expiration_time`: one time to live after its records', so that it is
    /// the last item of the session DynamoDB removes and numbers are never reused while a
    /// record of an earlier life may remain.
    pub(crate) fn item_expiration(&self, ttl_s: i64) -> i64 {
        self.horizon.saturating_add(ttl_s)
    }
}

/// What a head write expects the stored head to be.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// No head item.
    Absent,
    /// An ended life (`life`, deleted or expired at `now_ms`), to restart.
    Ended { life: u64, now_ms: i64 },
    /// A head of schema 2 with this `incarnation` and `version` (a migration).
    Schema2 { incarnation: String, version: u64 },
    /// The life `life`, not deleted, with these numbers.
    Same {
        life: u64,
        last_seq: Option<u64>,
        runs: Option<u64>,
        /// The state's version (`state_version`): only a write that pins it writes the state
        /// (and the version).
        state: Option<u64>,
        horizon: i64,
        /// Also require it live at this time.
        live_at: Option<i64>,
    },
}

impl Head {
    /// The head as an item.
    pub(crate) fn to_item(&self, pk: &str, ttl_s: i64, now_ms: i64) -> Item {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut item = key(pk, HEAD_SK);
        let mut put = |name: &str, value| {
            item.insert(name.to_owned(), value);
        };
        put(attr::SCHEMA, n(SCHEMA));
        put(attr::KIND, s(kind::HEAD));
        put(attr::LIFE, n(self.life));
        put(attr::FIRST_SEQ, n(self.first_seq));
        put(attr::LAST_SEQ, n(self.last_seq));
        put(attr::FIRST_RUN, n(self.first_run));
        put(attr::RUNS, n(self.runs));
        put(attr::EXPIRES_AT_MS, n(self.expires_at_ms));
        put(attr::HORIZON, n(self.horizon));
        put(attr::EXPIRATION_TIME, n(self.item_expiration(ttl_s)));
        put(attr::DELETED, AttributeValue::Bool(self.deleted));
        put(attr::PREV_LIFE, n(self.prev_life));
        put(attr::PREV_DELETED, AttributeValue::Bool(self.prev_deleted));
        put(attr::UPDATED_AT, n(now_ms));
        if let Some(seq) = self.summary_seq {
            put(attr::SUMMARY_SEQ, n(seq));
        }
        if let Some(from) = self.migrated_from {
            put(attr::MIGRATED_FROM, n(from));
        }
        if let Some(digest) = &self.migrated_digest {
            put(attr::MIGRATED_DIGEST, s(digest.clone()));
        }
        if !self.recent.is_empty() {
            put(attr::RECENT_RUNS, s(format_recent(&self.recent)));
        }
        if self.state_version > 0 {
            put(attr::STATE_VERSION, n(self.state_version));
        }
        // A deleted life keeps no state.
        if let HeadState::Json(text) = &self.state
            && !text.is_empty()
            && !self.deleted
        {
            put(attr::STATE, s(text.clone()));
            put(attr::STATE_LIFE, n(self.life));
        }
        item
    }
}

/// `recent_runs` as stored: `run:id` pairs (ids in simple hex), oldest first, space-separated.
fn format_recent(recent: &[(u64, Uuid)]) -> String {
    recent
        .iter()
        .map(|(run, id)| format!("{run}:{}", id.simple()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `recent_runs` (see [`format_recent`]), reading at most [`RECENT_RUNS`] pairs.
fn parse_recent(text: &str) -> Result<Vec<(u64, Uuid)>, String> {
    let mut recent = Vec::new();
    for pair in text.split(' ').filter(|pair| !pair.is_empty()) {
        if recent.len() >= RECENT_RUNS {
            return Err(format!("`{}` holds too many runs", attr::RECENT_RUNS));
        }
        let parsed = pair
            .split_once(':')
            .and_then(|(run, id)| Some((run.parse::<u64>().ok()?, Uuid::try_parse(id).ok()?)));
        match parsed {
            Some(entry) => recent.push(entry),
            None => {
                let shown: String = pair.chars().take(48).collect();
                return Err(format!("`{}` has a bad entry `{shown}`", attr::RECENT_RUNS));
            }
        }
    }
    Ok(recent)
}

/// The head's full update to `new` under `expect`: every attribute is set (the head is small
/// and DynamoDB bills the whole item anyway) — except, when `expect` does not pin the entries,
/// the runs or the state's version, those that go with them (see [`HeadState`]).
pub(crate) fn write(pk: &str, new: &Head, ttl_s: i64, now_ms: i64, expect: Expect) -> UpdateSpec {
    let item = new.to_item(pk, ttl_s, now_ms);
    // A write that does not pin the entry count (or the run count, or the state's version) in
    // its condition must not set it either: another process may have moved it since `new` was
    // read, and writing the old value back would hide its commit (or hand out its run number
    // again, or undo its change to the state).
    let (pins_entries, pins_runs, pins_state) = match &expect {
        Expect::Same {
            last_seq,
            runs,
            state,
            ..
        } => (last_seq.is_some(), runs.is_some(), state.is_some()),
        _ => (true, true, true),
    };
    let unpinned = |name: &str| {
        (!pins_entries && (name == attr::LAST_SEQ || name == attr::SUMMARY_SEQ))
            || (!pins_runs && (name == attr::RUNS || name == attr::RECENT_RUNS))
            || (!pins_state
                && (name == attr::STATE || name == attr::STATE_LIFE || name == attr::STATE_VERSION))
    };
    let mut e = Expr::default();
    let mut names: Vec<&String> = item
        .keys()
        .filter(|name| *name != attr::PK && *name != attr::SK && !unpinned(name))
        .collect();
    names.sort();
    let sets: Vec<String> = names
        .into_iter()
        .map(|name| {
            let placeholder = e.name(name);
            let value = e.value(&format!("v_{name}"), item[name].clone());
            format!("{placeholder} = {value}")
        })
        .collect();
    // The state: written as it is known when its version is pinned (the state the session
    // has at this write: a commit's state, a new life's none); removed with a delete, whatever
    // the condition (the deleted life's state goes); else left as it is stored.
    let removes_state = new.deleted || (pins_state && new.state == HeadState::EMPTY);
    let mut removes: Vec<String> = [
        attr::SUMMARY_SEQ,
        attr::MIGRATED_FROM,
        attr::MIGRATED_DIGEST,
        attr::RECENT_RUNS,
        attr::STATE_VERSION,
    ]
    .into_iter()
    .filter(|name| !item.contains_key(*name) && !unpinned(name))
    .map(|name| e.name(name))
    .collect();
    if removes_state {
        removes.push(e.name(attr::STATE));
        removes.push(e.name(attr::STATE_LIFE));
    }
    let mut update = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        update.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let condition = condition(&mut e, expect);
    UpdateSpec {
        key: key(pk, HEAD_SK),
        update,
        condition: Some(condition),
        expr: e,
        // A state not kept in the cache is in the item all the same.
        item_size: Some(crate::size::item_size(&item) + unwritten_state(new)),
    }
}

/// The bytes of the stored state that `new`'s item does not carry (a state not kept in the
/// cache), for the estimate of the write's units.
fn unwritten_state(new: &Head) -> usize {
    match &new.state {
        HeadState::Unknown { .. } if !new.deleted => {
            attr::STATE.len() + new.state.stored_bytes() + attr::STATE_LIFE.len() + 8
        }
        _ => 0,
    }
}

/// The condition that the head's state is at `version` (version 0: no `state_version`).
pub(crate) fn state_version_is(e: &mut Expr, version: u64) -> String {
    if version == 0 {
        format!("attribute_not_exists({})", e.name(attr::STATE_VERSION))
    } else {
        format!(
            "{} = {}",
            e.name(attr::STATE_VERSION),
            e.num("c_state_version", version)
        )
    }
}

/// The condition expression for `expect`.
pub(crate) fn condition(e: &mut Expr, expect: Expect) -> String {
    match expect {
        Expect::Absent => format!("attribute_not_exists({})", e.name(attr::PK)),
        Expect::Schema2 {
            incarnation,
            version,
        } => format!(
            "{} = {} AND {} = {} AND {} = {}",
            e.name(attr::SCHEMA),
            e.num("c_schema", SCHEMA_2),
            e.name("incarnation"),
            e.str("c_incarnation", incarnation),
            e.name("version"),
            e.num("c_version", version)
        ),
        Expect::Ended { life, now_ms } => format!(
            "{} = {} AND ({} = {} OR {} <= {})",
            e.name(attr::LIFE),
            e.num("c_life", life),
            e.name(attr::DELETED),
            e.value(
                "c_true",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true)
            ),
            e.name(attr::EXPIRES_AT_MS),
            e.num("c_now", now_ms)
        ),
        Expect::Same {
            life,
            last_seq,
            runs,
            state,
            horizon,
            live_at,
        } => {
            let mut parts = vec![
                format!("{} = {}", e.name(attr::LIFE), e.num("c_life", life)),
                format!(
                    "{} = {}",
                    e.name(attr::DELETED),
                    e.value(
                        "c_false",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(false)
                    )
                ),
                format!(
                    "{} = {}",
                    e.name(attr::HORIZON),
                    e.num("c_horizon", horizon)
                ),
            ];
            if let Some(seq) = last_seq {
                parts.push(format!(
                    "{} = {}",
                    e.name(attr::LAST_SEQ),
                    e.num("c_last_seq", seq)
                ));
            }
            if let Some(runs) = runs {
                parts.push(format!(
                    "{} = {}",
                    e.name(attr::RUNS),
                    e.num("c_runs", runs)
                ));
            }
            if let Some(version) = state {
                parts.push(state_version_is(e, version));
            }
            if let Some(now) = live_at {
                parts.push(format!(
                    "{} > {}",
                    e.name(attr::EXPIRES_AT_MS),
                    e.num("c_now", now)
                ));
            }
            parts.join(" AND ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(head: &Head) -> Item {
        head.to_item("messages#s", 60, 1)
    }

    #[test]
    fn heads_round_trip_and_are_checked() {
        let mut head = Head::new_life(None, 1_700_000_000_000);
        head.last_seq = 3;
        head.runs = 2;
        head.summary_seq = Some(2);
        head.expires_at_ms = 1_700_000_060_000;
        head.horizon = 1_700_000_200;
        let stored = item(&head);
        assert_eq!(
            Head::parse("messages#s", &stored).unwrap(),
            HeadItem::Current(head.clone())
        );
        let mut bad = stored.clone();
        bad.insert(attr::LAST_SEQ.into(), n(MAX_SEQ + 1));
        let error = Head::parse("messages#s", &bad).unwrap_err();
        assert!(error.message().contains("out of range"), "{error}");
        let mut newer = stored;
        newer.insert(attr::SCHEMA.into(), n(4));
        assert_eq!(
            Head::parse("messages#s", &newer).unwrap_err().kind(),
            agent_session::SessionErrorKind::Incompatible
        );
        let next = Head::new_life(Some(&head), 5);
        assert_eq!(
            (next.life, next.first_seq, next.first_run),
            (head.life + 1, 4, 3)
        );
        assert!(!next.has_entries() && next.version().is_empty());
    }

    #[test]
    fn heads_keep_the_ids_of_their_newest_runs() {
        let mut head = Head::new_life(None, 1_700_000_000_000);
        let ids: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
        for (run, id) in (1..).zip(&ids) {
            head.runs = run;
            head.push_recent(run, *id);
        }
        assert_eq!(head.recent.len(), RECENT_RUNS);
        assert_eq!(head.recent_run(ids[11]), Some(12));
        assert_eq!(head.recent_run(ids[4]), Some(5));
        assert_eq!(head.recent_run(ids[3]), None, "older than the newest eight");
        assert_eq!(head.recent_run(Uuid::nil()), None);
        head.push_recent(13, Uuid::nil());
        assert_eq!(head.recent.len(), RECENT_RUNS, "nil ids are not kept");
        // Stored and read back, under 1 KB with the longest session id.
        let pk = format!("messages#{}", "s".repeat(agent_session::MAX_SESSION_ID_LEN));
        head.migrated_from = Some(1_700_000_000);
        head.migrated_digest = Some(python_digest("[]"));
        let stored = head.to_item(&pk, 60, 1_700_000_000_000);
        assert!(crate::size::item_size(&stored) < 1024);
        assert_eq!(
            Head::parse(&pk, &stored).unwrap(),
            HeadItem::Current(head.clone())
        );
        for bad in [
            "1:nothex",
            "x:0190",
            &"1:00000000000000000000000000000001 ".repeat(9),
        ] {
            let mut item = stored.clone();
            item.insert(attr::RECENT_RUNS.into(), s(bad));
            let error = Head::parse(&pk, &item).unwrap_err();
            assert!(error.message().contains("recent_runs"), "{error}");
        }
    }

    /// A head with every optional attribute set and the longest session id.
    fn full_head(pk_len: usize) -> (String, Head) {
        let pk = format!("messages#{}", "s".repeat(pk_len));
        let mut head = Head::new_life(None, 1_700_000_000_000);
        head.last_seq = 3;
        head.summary_seq = Some(2);
        head.runs = 12;
        for run in 5..=12 {
            head.push_recent(run, Uuid::now_v7());
        }
        head.expires_at_ms = 1_700_000_060_000;
        head.horizon = 1_700_000_200;
        head.migrated_from = Some(1_700_000_000);
        head.migrated_digest = Some(python_digest("[]"));
        head.state_version = 7;
        (pk, head)
    }

    #[test]
    fn session_states_round_trip_and_the_largest_fits_in_the_head_item() {
        let (pk, mut head) = full_head(agent_session::MAX_SESSION_ID_LEN);
        let without = crate::size::item_size(&head.to_item(&pk, 60, 1));
        assert!(
            !head.to_item(&pk, 60, 1).contains_key(attr::STATE),
            "empty: no attribute"
        );
        assert!(without < HEAD_WITHOUT_STATE_BYTES, "{without}");

        let mut changes = agent_core::StateChanges::new();
        changes.set_value("plan", serde_json::json!("pro")).unwrap();
        let state = SessionState::new().apply(&changes).unwrap();
        head.state = HeadState::of(&state).unwrap();
        let stored = head.to_item(&pk, 60, 1);
        assert_eq!(stored[attr::STATE], s(r#"{"plan":"pro"}"#), "readable JSON");
        assert_eq!(stored[attr::STATE_LIFE], n(head.life));
        let HeadItem::Current(read) = Head::parse(&pk, &stored).unwrap() else {
            panic!("a current head")
        };
        assert_eq!(read, head);
        assert_eq!(read.state.parse(&pk).unwrap(), Some(state));

        // The largest state a commit may write: the head item still fits, with room to spare.
        let filler = MAX_STATE_BYTES - r#"{"k":""}"#.len();
        let largest = format!(r#"{{"k":"{}"}}"#, "x".repeat(filler));
        assert_eq!(largest.len(), MAX_STATE_BYTES);
        head.state = HeadState::Json(largest);
        let stored = head.to_item(&pk, 60, 1);
        let size = crate::size::item_size(&stored);
        assert!(size <= MAX_STATE_BYTES + HEAD_WITHOUT_STATE_BYTES, "{size}");
        assert!(size < MAX_ITEM_BYTES, "{size}");
        let HeadItem::Current(read) = Head::parse(&pk, &stored).unwrap() else {
            panic!("a current head")
        };
        assert_eq!(read.state.parse(&pk).unwrap().map(|s| s.len()), Some(1));

        // A deleted life keeps none.
        head.deleted = true;
        assert!(!head.to_item(&pk, 60, 1).contains_key(attr::STATE));
    }

    #[test]
    fn a_damaged_state_is_corrupted_data_for_what_reads_it_and_another_lifes_is_none() {
        let (pk, mut head) = full_head(8);
        head.state = HeadState::Json(r#"{"a":1}"#.into());
        let stored = head.to_item(&pk, 60, 1);
        let too_large = format!(r#"{{"k":"{}"}}"#, "x".repeat(MAX_STATE_BYTES));
        let cases: [(&str, AttributeValue, &str); 6] = [
            (attr::STATE, n(7), "not a string"),
            (attr::STATE, s(""), "is empty"),
            (attr::STATE, s(r#"{"a":"#), "invalid JSON"),
            (attr::STATE, s("[1, 2]"), "invalid JSON"),
            (attr::STATE, s(too_large), "more than a state may be"),
            (attr::STATE_LIFE, s("1"), "not a number"),
        ];
        for (name, value, why) in cases {
            let mut item = stored.clone();
            item.insert(name.into(), value);
            // The head itself reads: its numbers drive the session's other reads.
            let HeadItem::Current(read) = Head::parse(&pk, &item).unwrap() else {
                panic!("a current head")
            };
            let error = read.state.parse(&pk).unwrap_err();
            assert_eq!(
                error.kind(),
                agent_session::SessionErrorKind::CorruptedData,
                "{error}"
            );
            assert!(error.message().contains(why), "{why}: {error}");
            assert!(error.message().contains("sk=0"), "{error}");
            assert!(read.to_session_head(&pk, 1_700_000_000_001).is_err());
        }
        let mut item = stored.clone();
        item.remove(attr::STATE_LIFE);
        let HeadItem::Current(read) = Head::parse(&pk, &item).unwrap() else {
            panic!("a current head")
        };
        assert!(
            matches!(read.state, HeadState::Damaged(_)),
            "{:?}",
            read.state
        );
        // Written in an earlier life and left by a version that did not know the state.
        let mut item = stored;
        item.insert(attr::STATE_LIFE.into(), n(head.life - 1));
        let HeadItem::Current(read) = Head::parse(&pk, &item).unwrap() else {
            panic!("a current head")
        };
        assert_eq!(read.state, HeadState::EMPTY);
        // Not live: no state, whatever is stored.
        let mut damaged = read;
        damaged.state = HeadState::Damaged("bad".into());
        let shown = damaged.to_session_head(&pk, damaged.expires_at_ms).unwrap();
        assert!(shown.state.is_empty());
    }

    /// Whether an update expression sets (`Some(true)`), removes (`Some(false)`) or leaves
    /// (`None`) the state.
    fn writes_state(spec: &UpdateSpec) -> Option<bool> {
        let (sets, removes) = spec
            .update
            .split_once(" REMOVE ")
            .unwrap_or((spec.update.as_str(), ""));
        let named = |part: &str| {
            part.split([',', ' '])
                .filter(|word| *word == "#state" || *word == "#state_life")
                .count()
        };
        match (named(sets), named(removes)) {
            (0, 0) => None,
            (2, 0) => Some(true),
            (0, 2) => Some(false),
            other => panic!("the state and its life apart: {other:?} in {}", spec.update),
        }
    }

    #[test]
    fn head_writes_carry_the_state_only_with_its_version_and_a_delete_removes_it() {
        let (pk, mut head) = full_head(8);
        head.state_version = 4;
        let same = |last_seq: Option<u64>, state: Option<u64>| Expect::Same {
            life: head.life,
            last_seq,
            runs: None,
            state,
            horizon: head.horizon,
            live_at: None,
        };
        // A commit that changes the state pins its version; one that does not (its entries
        // pinned all the same), a run record or a tombstone do not.
        let (pinned, unpinned) = (same(Some(3), Some(4)), same(None, None));
        let entries_only = same(Some(3), None);
        head.state = HeadState::Json(r#"{"a":1}"#.into());
        let spec = write(&pk, &head, 60, 1, pinned.clone());
        assert_eq!(writes_state(&spec), Some(true));
        assert!(
            spec.update.contains("#state_version = :v_state_version"),
            "{}",
            spec.update
        );
        assert!(
            spec.condition
                .as_deref()
                .unwrap()
                .contains("#state_version = :c_state_version"),
            "{:?}",
            spec.condition
        );
        for other in [unpinned.clone(), entries_only.clone()] {
            let spec = write(&pk, &head, 60, 1, other);
            assert_eq!(writes_state(&spec), None);
            assert!(!spec.update.contains("#state_version"), "{}", spec.update);
            assert!(!spec.condition.unwrap().contains("state_version"));
        }
        // Version 0: no attribute, in the condition and in the item.
        let spec = write(&pk, &head, 60, 1, same(Some(3), Some(0)));
        assert!(
            spec.condition
                .as_deref()
                .unwrap()
                .contains("attribute_not_exists(#state_version)"),
            "{:?}",
            spec.condition
        );
        head.state_version = 0;
        let spec = write(&pk, &head, 60, 1, pinned.clone());
        assert!(spec.update.contains(" REMOVE ") && spec.update.contains("#state_version"));
        head.state_version = 4;
        assert_eq!(
            writes_state(&write(&pk, &head, 60, 1, Expect::Absent)),
            Some(true)
        );
        // Not known here (a large state the cache did not keep), or damaged: left as stored;
        // its bytes still count in the write's estimate.
        let known = write(&pk, &head, 60, 1, pinned.clone()).item_size;
        head.state = HeadState::Unknown { bytes: 7 };
        let spec = write(&pk, &head, 60, 1, pinned.clone());
        assert_eq!(writes_state(&spec), None);
        assert_eq!(
            spec.item_size, known,
            "the same 7 bytes of state, and its life"
        );
        head.state = HeadState::Damaged("bad".into());
        assert_eq!(
            writes_state(&write(&pk, &head, 60, 1, pinned.clone())),
            None
        );
        // No state: removed, with its version pinned (a commit, a new life).
        head.state = HeadState::EMPTY;
        assert_eq!(writes_state(&write(&pk, &head, 60, 1, pinned)), Some(false));
        assert_eq!(
            writes_state(&write(&pk, &head, 60, 1, unpinned.clone())),
            None
        );
        assert_eq!(writes_state(&write(&pk, &head, 60, 1, entries_only)), None);
        let ended = Expect::Ended {
            life: head.life,
            now_ms: 1,
        };
        assert_eq!(writes_state(&write(&pk, &head, 60, 1, ended)), Some(false));
        // A delete (a tombstone, conditioned on the life alone) removes it.
        head.state = HeadState::Json(r#"{"a":1}"#.into());
        head.deleted = true;
        assert_eq!(
            writes_state(&write(&pk, &head, 60, 1, unpinned)),
            Some(false)
        );
    }

    #[test]
    fn the_state_goes_with_its_version_in_the_cache() {
        let (_, mut older) = full_head(8);
        older.state = HeadState::Json(r#"{"a":1}"#.into());
        older.state_version = 3;
        let mut newer = older.clone();
        newer.last_seq += 1;
        newer.state = HeadState::Json(r#"{"a":2}"#.into());
        newer.state_version = 4;
        // A head planned from an older one (a begin_run) answering late keeps the newer
        // entries and the newer state.
        let mut begun = older.clone();
        begun.runs += 1;
        let merged = Head::merged(&newer, &begun);
        assert_eq!(
            (merged.last_seq, &merged.state, merged.state_version),
            (newer.last_seq, &newer.state, 4)
        );
        assert_eq!(merged.runs, begun.runs);
        // A state changed outside a run (no entry) is newer than the state of a later commit
        // that did not change it (planned from a head before the change): the cache keeps it,
        // with the commit's entries.
        let mut updated = older.clone();
        updated.state = HeadState::Json(r#"{"a":1,"b":1}"#.into());
        updated.state_version = 4;
        let mut committed = older.clone();
        committed.last_seq += 1;
        let merged = Head::merged(&updated, &committed);
        assert_eq!(
            (merged.last_seq, &merged.state, merged.state_version),
            (committed.last_seq, &updated.state, 4)
        );
        let merged = Head::merged(&committed, &updated);
        assert_eq!(
            (merged.last_seq, &merged.state, merged.state_version),
            (committed.last_seq, &updated.state, 4)
        );
        // A state the cache did not keep is taken from a head of the same version that has it.
        let mut unknown = newer.clone();
        unknown.state = newer.state.for_cache();
        assert_eq!(unknown.state, newer.state, "small states are kept");
        unknown.state = HeadState::Unknown { bytes: 9 };
        assert_eq!(Head::merged(&newer, &unknown).state, newer.state);
        assert_eq!(Head::merged(&unknown, &newer).state, newer.state);
        let large = HeadState::Json(format!(r#"{{"k":"{}"}}"#, "x".repeat(CACHED_STATE_BYTES)));
        assert_eq!(
            large.for_cache(),
            HeadState::Unknown {
                bytes: CACHED_STATE_BYTES + 8
            }
        );
    }
}
