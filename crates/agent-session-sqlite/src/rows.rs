//! Reading stored rows back, trusting nothing in them.
//!
//! Every number is checked before it is used (negative or out-of-range values, a session whose
//! counters contradict each other), every value's byte length is compared with the length
//! stored beside it, and every JSON value must parse. A row that fails is `CorruptedData`
//! naming the session and the row — except a run record, which reads as
//! [`RunRecord::damaged`] in its place; nothing a row says sizes an allocation.

use std::fmt;

use agent_core::{AgentEvent, MAX_STATE_BYTES, Reasoning, SessionState};
use agent_session::{
    Entry, EntryBody, RunRecord, SessionError, SessionErrorKind, SessionHead, SessionId,
    SessionVersion, StoredEvent,
};
use jiff::Timestamp;
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::errors::{DbError, corrupted};

/// A session's row in `sessions`: its current life and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub(crate) life: u64,
    pub(crate) deleted: bool,
    pub(crate) first_seq: u64,
    /// `first_seq - 1` when the life has no entries.
    pub(crate) last_seq: u64,
    pub(crate) summary_seq: Option<u64>,
    pub(crate) first_run: u64,
    /// `first_run - 1` when the life has no runs.
    pub(crate) last_run: u64,
    /// Microseconds since the epoch, as every time in the database.
    pub(crate) expires_at: i64,
    pub(crate) purge_at: i64,
    pub(crate) changes: i64,
}

/// The columns of `sessions` that [`SessionRow::from_row`] reads, in order.
pub(crate) const SESSION_COLUMNS: &str = "life, deleted, first_seq, last_seq, summary_seq, \
     first_run, last_run, expires_at, purge_at, changes";
/// How many columns [`SESSION_COLUMNS`] names.
pub(crate) const SESSION_COLUMN_COUNT: usize = 10;

impl SessionRow {
    /// The session's row, if it has one.
    pub(crate) fn load(conn: &Connection, session: &SessionId) -> Result<Option<Self>, DbError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
        let mut statement = conn.prepare_cached(&sql)?;
        let row = statement
            .query_row([session.as_str()], |row| {
                Ok(Self::from_row(row, 0, session))
            })
            .optional()?;
        row.transpose()
    }

    /// Decodes [`SESSION_COLUMNS`] starting at column `at`.
    pub(crate) fn from_row(row: &Row<'_>, at: usize, session: &SessionId) -> Result<Self, DbError> {
        let item = "its `sessions` row";
        let number = |offset: usize, name: &str| -> Result<u64, DbError> {
            let value: i64 = column(row, at + offset, session, &format_args!("{item} ({name})"))?;
            non_negative(value, session, &format_args!("{item}: `{name}`")).map_err(Into::into)
        };
        let life = number(0, "life")?;
        let deleted: i64 = column(row, at + 1, session, &item)?;
        let first_seq = number(2, "first_seq")?;
        let last_seq = number(3, "last_seq")?;
        let summary_seq: Option<i64> = column(row, at + 4, session, &item)?;
        let summary_seq = summary_seq
            .map(|seq| non_negative(seq, session, &format_args!("{item}: `summary_seq`")))
            .transpose()?;
        let first_run = number(5, "first_run")?;
        let last_run = number(6, "last_run")?;
        let decoded = Self {
            life,
            deleted: deleted != 0,
            first_seq,
            last_seq,
            summary_seq,
            first_run,
            last_run,
            expires_at: column(row, at + 7, session, &item)?,
            purge_at: column(row, at + 8, session, &item)?,
            changes: column(row, at + 9, session, &item)?,
        };
        let consistent = life >= 1
            && (deleted == 0 || deleted == 1)
            && first_seq >= 1
            && last_seq
                .checked_add(1)
                .is_some_and(|next| next >= first_seq)
            && first_run >= 1
            && last_run
                .checked_add(1)
                .is_some_and(|next| next >= first_run)
            && summary_seq.is_none_or(|seq| (first_seq..=last_seq).contains(&seq));
        if !consistent {
            return Err(corrupted(
                session,
                item,
                format!("its counters contradict each other: {decoded:?}"),
            )
            .into());
        }
        Ok(decoded)
    }

    /// Whether reads see the session: not deleted, and its time to live not yet passed.
    pub(crate) fn is_live(&self, now: i64) -> bool {
        !self.deleted && now < self.expires_at
    }

    /// Whether the current life holds entries.
    pub(crate) fn has_entries(&self) -> bool {
        self.last_seq >= self.first_seq
    }

    /// The conversation's version.
    pub(crate) fn version(&self) -> SessionVersion {
        if self.has_entries() {
            SessionVersion::new(self.life, self.last_seq)
        } else {
            SessionVersion::EMPTY
        }
    }

    /// The head as the contract shows it: empty (counters continuing) when not live.
    pub(crate) fn head(&self, now: i64) -> SessionHead {
        if !self.is_live(now) {
            let mut head = SessionHead::empty();
            head.first_seq = self.last_seq.saturating_add(1);
            head.first_run = self.last_run.saturating_add(1);
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
        .with_expiry(Timestamp::from_microsecond(self.expires_at).ok())
    }
}

/// The columns of `sessions` that [`state`] reads, in order.
pub(crate) const STATE_COLUMNS: &str = "state, state_bytes";

/// A session's state from [`STATE_COLUMNS`] starting at column `at`: both `NULL` is an empty
/// state. The text is read in place and checked before it is parsed: longer than a state may be
/// ([`MAX_STATE_BYTES`]), a length that does not match, or JSON that is not a state map is
/// `CorruptedData`.
pub(crate) fn state(
    row: &Row<'_>,
    at: usize,
    session: &SessionId,
) -> Result<SessionState, DbError> {
    let item = "its `sessions` row (`state`)";
    let bytes: Option<i64> = column(row, at + 1, session, &item)?;
    let text = match row.get_ref(at)? {
        ValueRef::Null => None,
        ValueRef::Text(text) => Some(text),
        other => {
            return Err(corrupted(
                session,
                item,
                format!(
                    "a value of type {} where JSON text belongs",
                    other.data_type()
                ),
            )
            .into());
        }
    };
    match (text, bytes) {
        (None, None) => Ok(SessionState::new()),
        (Some(text), Some(bytes)) => {
            if text.len() > MAX_STATE_BYTES {
                return Err(corrupted(
                    session,
                    item,
                    format!(
                        "the state is {} bytes of JSON, more than a state may be ({MAX_STATE_BYTES})",
                        text.len()
                    ),
                )
                .into());
            }
            let text = std::str::from_utf8(text)
                .map_err(|error| corrupted(session, item, format!("not UTF-8: {error}")))?;
            Ok(json(text, bytes, session, &item)?)
        }
        _ => Err(corrupted(session, item, "the state and its length are not both set").into()),
    }
}

/// One column, a value of the wrong type being corruption of `item`.
pub(crate) fn column<T: FromSql>(
    row: &Row<'_>,
    index: usize,
    session: &SessionId,
    item: &dyn fmt::Display,
) -> Result<T, DbError> {
    row.get(index).map_err(|error| match error {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => corrupted(session, item, error).into(),
        other => DbError::Sqlite(other),
    })
}

/// A stored count or sequence number, which is never negative.
pub(crate) fn non_negative(
    value: i64,
    session: &SessionId,
    item: &dyn fmt::Display,
) -> Result<u64, SessionError> {
    u64::try_from(value).map_err(|_| corrupted(session, item, format!("negative number {value}")))
}

/// A stored time (microseconds since the epoch).
pub(crate) fn timestamp(
    micros: i64,
    session: &SessionId,
    item: &dyn fmt::Display,
) -> Result<Timestamp, SessionError> {
    Timestamp::from_microsecond(micros)
        .map_err(|error| corrupted(session, item, format!("bad time {micros}: {error}")))
}

/// A stored JSON value, whose byte length must be the one stored beside it.
pub(crate) fn json<T: DeserializeOwned>(
    text: &str,
    bytes: i64,
    session: &SessionId,
    item: &dyn fmt::Display,
) -> Result<T, SessionError> {
    if i64::try_from(text.len()).ok() != Some(bytes) {
        return Err(corrupted(
            session,
            item,
            format!(
                "its value has {} bytes but {bytes} were stored (truncated or edited)",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text)
        .map_err(|error| corrupted(session, item, format!("invalid JSON: {error}")))
}

/// An entry from `seq, body, bytes, written_at`.
pub(crate) fn entry(row: &Row<'_>, session: &SessionId) -> Result<Entry, DbError> {
    let raw_seq: i64 = column(row, 0, session, &"an entry")?;
    let item = format!("entry {raw_seq}");
    let seq = non_negative(raw_seq, session, &item)?;
    let body: String = column(row, 1, session, &item)?;
    let bytes: i64 = column(row, 2, session, &item)?;
    let written_at: i64 = column(row, 3, session, &item)?;
    let body: EntryBody = json(&body, bytes, session, &item)?;
    Ok(Entry::new(
        seq,
        body,
        Some(timestamp(written_at, session, &item)?),
    ))
}

/// The columns of `runs` that [`run`] reads, in order.
pub(crate) const RUN_COLUMNS: &str =
    "run, reasoning, bytes, lease, heartbeat_at, committed_seq, lease_expires_at";

/// A run record from [`RUN_COLUMNS`]. A record that cannot be decoded (invalid JSON, a length
/// that does not match, a bad lease or time) is [`RunRecord::damaged`] in its place, so that
/// one damaged record never hides the session's other runs; only a run number that cannot be
/// read at all is an error.
pub(crate) fn run(row: &Row<'_>, session: &SessionId) -> Result<RunRecord, DbError> {
    let raw_run: i64 = column(row, 0, session, &"a run record")?;
    let item = format!("run {raw_run}");
    let number = non_negative(raw_run, session, &item)?;
    match run_fields(row, number, session, &item) {
        Ok(record) => Ok(record),
        Err(DbError::Session(error)) if error.kind() == SessionErrorKind::CorruptedData => {
            tracing::warn!(%session, run = number, %error, "a run record cannot be read");
            let prefix = format!("{item}: ");
            let why = error
                .message()
                .strip_prefix(prefix.as_str())
                .unwrap_or(error.message());
            Ok(RunRecord::damaged(
                number,
                format!("the `runs` row of session `{session}`, run {number}"),
                why,
            ))
        }
        Err(other) => Err(other),
    }
}

/// The rest of a run record, strictly.
fn run_fields(
    row: &Row<'_>,
    number: u64,
    session: &SessionId,
    item: &str,
) -> Result<RunRecord, DbError> {
    let reasoning: String = column(row, 1, session, &item)?;
    let bytes: i64 = column(row, 2, session, &item)?;
    let lease: Option<String> = column(row, 3, session, &item)?;
    let heartbeat_at: Option<i64> = column(row, 4, session, &item)?;
    let committed_seq: Option<i64> = column(row, 5, session, &item)?;
    let lease_expires_at: Option<i64> = column(row, 6, session, &item)?;
    let reasoning: Reasoning = json(&reasoning, bytes, session, &item)?;
    let mut record = RunRecord::new(number, reasoning);
    record.lease = lease
        .map(|lease| uuid(&lease, session, &item))
        .transpose()?;
    record.heartbeat_at = heartbeat_at
        .map(|at| timestamp(at, session, &item))
        .transpose()?;
    record.committed_seq = committed_seq
        .map(|seq| non_negative(seq, session, &item))
        .transpose()?;
    record.lease_expires_at = lease_expires_at
        .map(|at| timestamp(at, session, &item))
        .transpose()?;
    Ok(record)
}

/// An event from `idx, event, bytes` of run `run`.
pub(crate) fn event(row: &Row<'_>, session: &SessionId, run: u64) -> Result<StoredEvent, DbError> {
    let raw_index: i64 = column(row, 0, session, &format_args!("an event of run {run}"))?;
    let item = format!("event {raw_index} of run {run}");
    let index = u32::try_from(raw_index)
        .map_err(|_| corrupted(session, &item, "the index is not a 32-bit count"))?;
    let text: String = column(row, 1, session, &item)?;
    let bytes: i64 = column(row, 2, session, &item)?;
    let event: AgentEvent = json(&text, bytes, session, &item)?;
    Ok(StoredEvent::new(index, event))
}

/// A stored lease id.
pub(crate) fn uuid(
    text: &str,
    session: &SessionId,
    item: &dyn fmt::Display,
) -> Result<Uuid, SessionError> {
    Uuid::parse_str(text)
        .map_err(|error| corrupted(session, item, format!("bad lease id: {error}")))
}
