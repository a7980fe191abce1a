//! The store's operations in SQL. Each function runs inside one transaction that
//! `store.rs` opens (`BEGIN IMMEDIATE` for writes, a deferred read transaction for reads) and
//! commits; an error anywhere rolls the whole operation back.
//!
//! The rules follow the reference store (`agent_session::InMemorySessionStore`) step by step:
//! a session row holds the current life and its counters; a life ends by a delete (the row
//! stays as a tombstone) or by expiry, and a write after that starts a new life with a fresh,
//! store-wide life number; the life that ended is remembered in `ended_lives` so that a late
//! commit on it is told `Deleted` or `Expired`.

use agent_core::{RunStatus, SessionState, StateChanges};
use agent_session::{
    Committed, Entry, RunLease, RunRecord, SessionErrorKind, SessionHead, SessionId, SessionInfo,
    SessionPage, SessionVersion, StoredEvent,
};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::errors::{DbError, corrupted, session_error};
use crate::rows::{self, RUN_COLUMNS, SESSION_COLUMNS, STATE_COLUMNS, SessionRow};

/// The time of an operation and the time to live, in microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) at: i64,
    pub(crate) ttl: i64,
}

impl Now {
    /// When a session written now expires.
    fn expiry(self) -> i64 {
        self.at.saturating_add(self.ttl)
    }
}

/// A run's commit, serialised before the transaction starts.
#[derive(Debug)]
pub(crate) struct CommitData {
    pub(crate) run_id: Uuid,
    pub(crate) base: SessionVersion,
    /// `EntryBody::Summary` as JSON.
    pub(crate) summary: Option<String>,
    /// `EntryBody::Turn` as JSON.
    pub(crate) turn: String,
    /// The run's final record.
    pub(crate) record: RecordData,
    pub(crate) lease: Option<RunLease>,
    /// The run's changes to the session's state.
    pub(crate) state: Option<StateChanges>,
}

/// A run record to write, serialised before the transaction starts.
#[derive(Debug)]
pub(crate) struct RecordData {
    /// The `Reasoning` as JSON, its status and its run id (hyphenated, as the JSON has it).
    pub(crate) reasoning: String,
    pub(crate) status: String,
    pub(crate) run_id: String,
    /// The run id itself: a begun run's first lease.
    pub(crate) run_uuid: Uuid,
}

/// A claim on a run ([`agent_session::RunClaim`]), with its lease time in microseconds and the
/// record it writes, if any.
#[derive(Debug)]
pub(crate) struct ClaimData {
    pub(crate) run: u64,
    pub(crate) last_heartbeat: Option<Timestamp>,
    pub(crate) lease: Uuid,
    pub(crate) lease_for: i64,
    pub(crate) record: Option<RecordData>,
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/// A number as SQLite stores it; only hostile data can push one past `i64::MAX`.
fn int(value: u64, session: &SessionId, what: &str) -> Result<i64, DbError> {
    i64::try_from(value).map_err(|_| {
        corrupted(
            session,
            what,
            format!("{value} is beyond what the store can number"),
        )
        .into()
    })
}

/// The number after `value`.
fn next(value: u64, session: &SessionId, what: &str) -> Result<u64, DbError> {
    let next = value.saturating_add(1);
    int(next, session, what)?;
    Ok(next)
}

fn len(text: &str) -> i64 {
    i64::try_from(text.len()).unwrap_or(i64::MAX)
}

/// The end of a lease that lasts `lease_for` microseconds from `at`, saturating at the latest
/// whole second a timestamp can hold (so that it always reads back: `Timestamp::MAX` itself,
/// with its fraction of a second, is past what `Timestamp::from_microsecond` accepts).
fn lease_end(at: i64, lease_for: i64) -> i64 {
    let latest = Timestamp::MAX.as_second().saturating_mul(1_000_000);
    at.saturating_add(lease_for.max(0)).min(latest)
}

// ---------------------------------------------------------------------------------------------
// Lives
// ---------------------------------------------------------------------------------------------

/// Writes `row` back.
fn save(conn: &Connection, session: &SessionId, row: &SessionRow) -> Result<(), DbError> {
    let mut statement = conn.prepare_cached(
        "UPDATE sessions SET life = ?2, deleted = ?3, first_seq = ?4, last_seq = ?5, \
         summary_seq = ?6, first_run = ?7, last_run = ?8, expires_at = ?9, purge_at = ?10, \
         changes = ?11 WHERE id = ?1",
    )?;
    let summary_seq = row
        .summary_seq
        .map(|seq| int(seq, session, "summary_seq"))
        .transpose()?;
    statement.execute(params![
        session.as_str(),
        int(row.life, session, "life")?,
        row.deleted,
        int(row.first_seq, session, "first_seq")?,
        int(row.last_seq, session, "last_seq")?,
        summary_seq,
        int(row.first_run, session, "first_run")?,
        int(row.last_run, session, "last_run")?,
        row.expires_at,
        row.purge_at,
        row.changes,
    ])?;
    Ok(())
}

/// Extends the session's life: it lives `ttl` from now, its data one more `ttl`.
fn touch(row: &mut SessionRow, now: Now, changed: bool) {
    row.expires_at = row.expires_at.max(now.expiry());
    row.purge_at = row.purge_at.max(row.expires_at.saturating_add(now.ttl));
    if changed {
        row.changes = row.changes.wrapping_add(1);
    }
}

/// A life number no session of this file has had.
fn new_life(conn: &Connection, session: &SessionId) -> Result<u64, DbError> {
    let life: Option<i64> = conn
        .prepare_cached(
            "UPDATE store_meta SET last_life = last_life + 1 WHERE id = 1 RETURNING last_life",
        )?
        .query_row([], |row| row.get(0))
        .optional()?;
    match life {
        Some(life) if life >= 1 => Ok(life.unsigned_abs()),
        _ => Err(corrupted(
            session,
            "the store's `store_meta` row",
            "missing or damaged",
        )
        .into()),
    }
}

/// Deletes every entry, run and event of the session, and its state.
fn delete_data(conn: &Connection, session: &SessionId) -> Result<(), DbError> {
    for table in ["events", "runs", "entries"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE session = ?1"))?
            .execute([session.as_str()])?;
    }
    conn.prepare_cached("UPDATE sessions SET state = NULL, state_bytes = NULL WHERE id = ?1")?
        .execute([session.as_str()])?;
    Ok(())
}

/// The session's state as stored (empty without a row).
fn load_state(conn: &Connection, session: &SessionId) -> Result<SessionState, DbError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {STATE_COLUMNS} FROM sessions WHERE id = ?1"
    ))?;
    let state = statement
        .query_row([session.as_str()], |row| Ok(rows::state(row, 0, session)))
        .optional()?;
    state.unwrap_or_else(|| Ok(SessionState::new()))
}

/// The session's state applied `changes` to, as it will be stored: its JSON, `None` when it is
/// empty. A state that would be too large is `InvalidInput`.
fn changed_state(
    conn: &Connection,
    session: &SessionId,
    changes: &StateChanges,
) -> Result<Option<String>, DbError> {
    let state = load_state(conn, session)?
        .apply(changes)
        .map_err(|refused| {
            session_error(SessionErrorKind::InvalidInput, session, refused.to_string())
        })?;
    if state.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&state).map(Some).map_err(|error| {
        session_error(
            SessionErrorKind::InvalidInput,
            session,
            format!("the session's state cannot be stored as JSON: {error}"),
        )
        .into()
    })
}

/// The session's row to write a run into: the live one, or a new life (the old life's data
/// goes: a run computed from it can no longer commit).
fn writable(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    loaded: Option<SessionRow>,
) -> Result<SessionRow, DbError> {
    match loaded {
        Some(row) if row.is_live(now.at) => Ok(row),
        Some(old) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO ended_lives (session, life, deleted, purge_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                session.as_str(),
                int(old.life, session, "life")?,
                old.deleted,
                now.expiry()
            ])?;
            delete_data(conn, session)?;
            Ok(SessionRow {
                life: new_life(conn, session)?,
                deleted: false,
                first_seq: next(old.last_seq, session, "last_seq")?,
                last_seq: old.last_seq,
                summary_seq: None,
                first_run: next(old.last_run, session, "last_run")?,
                last_run: old.last_run,
                expires_at: now.at,
                purge_at: now.at,
                changes: old.changes,
            })
        }
        None => {
            let row = SessionRow {
                life: new_life(conn, session)?,
                deleted: false,
                first_seq: 1,
                last_seq: 0,
                summary_seq: None,
                first_run: 1,
                last_run: 0,
                expires_at: now.at,
                purge_at: now.at,
                changes: 0,
            };
            conn.prepare_cached(&format!(
                "INSERT INTO sessions (id, {SESSION_COLUMNS}) VALUES (?1, ?2, 0, 1, 0, NULL, 1, 0, ?3, ?3, 0)"
            ))?
            .execute(params![session.as_str(), int(row.life, session, "life")?, now.at])?;
            Ok(row)
        }
    }
}

/// Why a run computed from life `life`, which is no longer the session's, cannot write.
fn ended_life(conn: &Connection, session: &SessionId, life: u64) -> Result<DbError, DbError> {
    let deleted: Option<bool> = conn
        .prepare_cached("SELECT deleted FROM ended_lives WHERE session = ?1 AND life = ?2")?
        .query_row(
            params![session.as_str(), int(life, session, "life")?],
            |row| row.get(0),
        )
        .optional()?;
    Ok(if deleted == Some(true) {
        session_error(
            SessionErrorKind::Deleted,
            session,
            "the session was deleted while the run ran",
        )
    } else {
        session_error(
            SessionErrorKind::Expired,
            session,
            "the session expired while the run ran and its data is gone",
        )
    }
    .into())
}

/// The session's row for a write under a run's lease.
fn leased_row(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    lease: &RunLease,
) -> Result<SessionRow, DbError> {
    let Some(row) = SessionRow::load(conn, session)? else {
        return Err(session_error(
            SessionErrorKind::Expired,
            session,
            "the session is gone (expired and removed)",
        )
        .into());
    };
    check_lease(conn, session, &row, now, lease)?;
    Ok(row)
}

/// Checks that the run holds its record under this lease, in a life that may still be written.
fn check_lease(
    conn: &Connection,
    session: &SessionId,
    row: &SessionRow,
    now: Now,
    lease: &RunLease,
) -> Result<(), DbError> {
    if row.deleted {
        return Err(session_error(
            SessionErrorKind::Deleted,
            session,
            "the session was deleted",
        )
        .into());
    }
    if lease.run < row.first_run || now.at >= row.purge_at {
        return Err(session_error(
            SessionErrorKind::Expired,
            session,
            format!(
                "run {} belongs to a life of the session that ended",
                lease.run
            ),
        )
        .into());
    }
    let stored: Option<Option<String>> = conn
        .prepare_cached("SELECT lease FROM runs WHERE session = ?1 AND run = ?2")?
        .query_row(
            params![session.as_str(), int(lease.run, session, "run")?],
            |row| row.get(0),
        )
        .optional()?;
    let item = format!("run {}", lease.run);
    match stored {
        None => Err(session_error(
            SessionErrorKind::NotFound,
            session,
            format!("run {} does not exist", lease.run),
        )
        .into()),
        Some(Some(held)) if rows::uuid(&held, session, &item)? == lease.lease => Ok(()),
        Some(_) => Err(session_error(
            SessionErrorKind::Conflict,
            session,
            format!(
                "run {} is held by another process now, or has ended",
                lease.run
            ),
        )
        .into()),
    }
}

/// A run record found by its run id.
struct RunById {
    run: u64,
    status: String,
    lease: Option<String>,
}

/// The newest record of a run id from run `?3` on: a search of the index `runs_by_run_id`.
pub(crate) const RUN_BY_ID: &str = "SELECT run, status, lease FROM runs \
     WHERE session = ?1 AND run_id = ?2 AND run >= ?3 ORDER BY run DESC LIMIT 1";

/// The same, of the records a `finish_run` keeps: final ones (status neither `?4` running,
/// `?5` paused nor `?6` interrupted, see `RunStatus::is_final`), and, when `?7` (the call
/// pauses the run), a paused one that holds no lease (a pause repeated after a lost answer).
pub(crate) const KEPT_RUN_BY_ID: &str = "SELECT run, status, lease FROM runs \
     WHERE session = ?1 AND run_id = ?2 AND run >= ?3 \
     AND (status NOT IN (?4, ?5, ?6) OR (?7 AND status = ?5 AND lease IS NULL)) \
     ORDER BY run DESC LIMIT 1";

/// Which records of a run id [`run_by_id`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Find {
    /// Any.
    Any,
    /// The ones a `finish_run` keeps (see [`KEPT_RUN_BY_ID`]); `pausing`: the call pauses
    /// the run.
    Kept { pausing: bool },
}

/// The newest record of the session's current life with this run id (of those `find` names),
/// found through the index `runs_by_run_id`.
fn run_by_id(
    conn: &Connection,
    session: &SessionId,
    row: &SessionRow,
    run_id: &str,
    find: Find,
) -> Result<Option<RunById>, DbError> {
    let first_run = int(row.first_run, session, "first_run")?;
    let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, String, Option<String>)> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    };
    let found = if let Find::Kept { pausing } = find {
        conn.prepare_cached(KEPT_RUN_BY_ID)?.query_row(
            params![
                session.as_str(),
                run_id,
                first_run,
                RunStatus::Running.as_str(),
                RunStatus::Paused.as_str(),
                RunStatus::Interrupted.as_str(),
                pausing,
            ],
            read,
        )
    } else {
        conn.prepare_cached(RUN_BY_ID)?
            .query_row(params![session.as_str(), run_id, first_run], read)
    }
    .optional()?;
    let Some((run, status, lease)) = found else {
        return Ok(None);
    };
    let run = rows::non_negative(run, session, &format_args!("run {run}"))?;
    Ok(Some(RunById { run, status, lease }))
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

fn insert_entry(
    conn: &Connection,
    session: &SessionId,
    seq: u64,
    run: Option<(Uuid, u64)>,
    body: &str,
    now: Now,
) -> Result<(), DbError> {
    let (run_id, run) = match run {
        Some((run_id, run)) => (
            Some(run_id.hyphenated().to_string()),
            Some(int(run, session, "run")?),
        ),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO entries (session, seq, run_id, run, body, bytes, written_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        session.as_str(),
        int(seq, session, "seq")?,
        run_id,
        run,
        body,
        len(body),
        now.at
    ])?;
    Ok(())
}

/// The earlier commit of this run, if it committed already (in any life still stored).
fn replayed(
    conn: &Connection,
    session: &SessionId,
    row: Option<&SessionRow>,
    run_id: Uuid,
) -> Result<Option<Committed>, DbError> {
    let found: Option<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT seq, run FROM entries WHERE session = ?1 AND run_id = ?2")?
        .query_row(
            params![session.as_str(), run_id.hyphenated().to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((seq, run)) = found else {
        return Ok(None);
    };
    let item = format!("entry {seq}");
    let (Some(row), Some(run)) = (row, run) else {
        return Err(corrupted(
            session,
            item,
            "a turn without its session row or run number",
        )
        .into());
    };
    let seq = rows::non_negative(seq, session, &item)?;
    let run = rows::non_negative(run, session, &item)?;
    Ok(Some(Committed::new(
        SessionVersion::new(row.life, seq),
        seq,
        run,
        true,
    )))
}

/// Appends a run's turn (and summary) and writes its final record, if the session is still at
/// the run's base.
pub(crate) fn commit(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    data: &CommitData,
) -> Result<Committed, DbError> {
    let loaded = SessionRow::load(conn, session)?;
    if let Some(done) = replayed(conn, session, loaded.as_ref(), data.run_id)? {
        return Ok(done);
    }
    let mut row = if data.base.is_empty() {
        if let Some(row) = &loaded
            && row.is_live(now.at)
            && row.has_entries()
        {
            return Err(session_error(
                SessionErrorKind::Conflict,
                session,
                format!(
                    "the session is at {}, not empty: another run committed first",
                    row.version()
                ),
            )
            .into());
        }
        writable(conn, session, now, loaded)?
    } else {
        match loaded {
            Some(row) if row.life == data.base.life() => {
                if row.deleted {
                    return Err(session_error(
                        SessionErrorKind::Deleted,
                        session,
                        "the session was deleted while the run ran",
                    )
                    .into());
                }
                if now.at >= row.purge_at {
                    return Err(session_error(
                        SessionErrorKind::Expired,
                        session,
                        "the session expired while the run ran and its data is being removed",
                    )
                    .into());
                }
                if !row.has_entries() || row.last_seq != data.base.seq() {
                    return Err(session_error(
                        SessionErrorKind::Conflict,
                        session,
                        format!(
                            "the session is at {}, no longer at {}: another run committed first",
                            row.version(),
                            data.base
                        ),
                    )
                    .into());
                }
                row
            }
            _ => return Err(ended_life(conn, session, data.base.life())?),
        }
    };
    let run = match &data.lease {
        Some(lease) => {
            check_lease(conn, session, &row, now, lease)?;
            lease.run
        }
        None => {
            row.last_run = next(row.last_run, session, "last_run")?;
            row.last_run
        }
    };
    // The state as it is now, under the write lock, with the run's changes on top: key by key
    // on the state of the session at the commit, in the same transaction as the turn (a state
    // too large fails here, and the transaction writes nothing).
    if let Some(changes) = &data.state {
        let state = changed_state(conn, session, changes)?;
        let bytes = state.as_deref().map(len);
        conn.prepare_cached("UPDATE sessions SET state = ?2, state_bytes = ?3 WHERE id = ?1")?
            .execute(params![session.as_str(), state, bytes])?;
    }
    if let Some(summary) = &data.summary {
        let seq = next(row.last_seq, session, "last_seq")?;
        insert_entry(conn, session, seq, None, summary, now)?;
        row.last_seq = seq;
        row.summary_seq = Some(seq);
    }
    let seq = next(row.last_seq, session, "last_seq")?;
    insert_entry(
        conn,
        session,
        seq,
        Some((data.run_id, run)),
        &data.turn,
        now,
    )?;
    row.last_seq = seq;
    conn.prepare_cached(
        "INSERT INTO runs (session, run, status, reasoning, bytes, lease, heartbeat_at, \
         committed_seq, run_id, lease_expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7, NULL) \
         ON CONFLICT (session, run) DO UPDATE SET status = excluded.status, \
         reasoning = excluded.reasoning, bytes = excluded.bytes, lease = NULL, \
         heartbeat_at = NULL, committed_seq = excluded.committed_seq, \
         run_id = excluded.run_id, lease_expires_at = NULL",
    )?
    .execute(params![
        session.as_str(),
        int(run, session, "run")?,
        data.record.status,
        data.record.reasoning,
        len(&data.record.reasoning),
        int(seq, session, "seq")?,
        data.record.run_id,
    ])?;
    touch(&mut row, now, true);
    save(conn, session, &row)?;
    Ok(Committed::new(
        SessionVersion::new(row.life, seq),
        seq,
        run,
        false,
    ))
}

/// Gives a real-time run the next number and its first record, with a lease that holds
/// `lease_for` microseconds. The run's first lease is its run id: a run that was begun already
/// (its answer lost) gets that lease back and nothing is written; one that has ended or was
/// claimed by another process since is a conflict.
pub(crate) fn begin_run(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    record: &RecordData,
    lease_for: i64,
) -> Result<RunLease, DbError> {
    let loaded = SessionRow::load(conn, session)?;
    if let Some(row) = loaded.as_ref().filter(|row| row.is_live(now.at))
        && let Some(begun) = run_by_id(conn, session, row, &record.run_id, Find::Any)?
    {
        let item = format!("run {}", begun.run);
        let held = match &begun.lease {
            Some(lease) => rows::uuid(lease, session, &item)? == record.run_uuid,
            None => false,
        };
        return if held && begun.status == RunStatus::Running.as_str() {
            Ok(RunLease::new(begun.run, record.run_uuid))
        } else {
            Err(session_error(
                SessionErrorKind::Conflict,
                session,
                format!(
                    "run {} was begun before and has ended or was taken over",
                    begun.run
                ),
            )
            .into())
        };
    }
    let mut row = writable(conn, session, now, loaded)?;
    row.last_run = next(row.last_run, session, "last_run")?;
    let lease = RunLease::new(row.last_run, record.run_uuid);
    conn.prepare_cached(
        "INSERT INTO runs (session, run, status, reasoning, bytes, lease, heartbeat_at, \
         committed_seq, run_id, lease_expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9)",
    )?
    .execute(params![
        session.as_str(),
        int(lease.run, session, "run")?,
        record.status,
        record.reasoning,
        len(&record.reasoning),
        lease.lease.hyphenated().to_string(),
        now.at,
        record.run_id,
        lease_end(now.at, lease_for),
    ])?;
    touch(&mut row, now, true);
    save(conn, session, &row)?;
    Ok(lease)
}

/// Writes events of a run by index: dense from 1, an index written again replaced.
pub(crate) fn append_events(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    lease: &RunLease,
    events: &[(u32, String)],
) -> Result<(), DbError> {
    leased_row(conn, session, now, lease)?;
    let run = int(lease.run, session, "run")?;
    let stored: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(idx), 0) FROM events WHERE session = ?1 AND run = ?2")?
        .query_row(params![session.as_str(), run], |row| row.get(0))?;
    let mut count = rows::non_negative(stored, session, &format_args!("the events of run {run}"))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (session, run, idx, event, bytes) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (session, run, idx) DO UPDATE SET event = excluded.event, bytes = excluded.bytes",
    )?;
    for (index, event) in events {
        let index = u64::from(*index);
        if index == 0 || index > count.saturating_add(1) {
            return Err(session_error(
                SessionErrorKind::InvalidInput,
                session,
                format!("event index {index} of run {run} leaves a gap after {count}"),
            )
            .into());
        }
        insert.execute(params![
            session.as_str(),
            run,
            int(index, session, "idx")?,
            event,
            len(event)
        ])?;
        count = count.max(index);
    }
    conn.prepare_cached("UPDATE sessions SET changes = changes + 1 WHERE id = ?1")?
        .execute([session.as_str()])?;
    Ok(())
}

/// Sets the run's heartbeat to now, its lease to hold `lease_for` microseconds from now (and
/// the session's life from now).
pub(crate) fn heartbeat(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    lease: &RunLease,
    lease_for: i64,
) -> Result<(), DbError> {
    let mut row = leased_row(conn, session, now, lease)?;
    conn.prepare_cached(
        "UPDATE runs SET heartbeat_at = ?3, lease_expires_at = ?4 WHERE session = ?1 AND run = ?2",
    )?
    .execute(params![
        session.as_str(),
        int(lease.run, session, "run")?,
        now.at,
        lease_end(now.at, lease_for)
    ])?;
    touch(&mut row, now, false);
    save(conn, session, &row)
}

/// Writes the final record of a run that did not commit, or the record of a run that pauses
/// (which releases its lease and keeps its heartbeat). A run that has a final record already
/// (this call repeated after a lost answer, or the run's commit) keeps it, and so does a paused
/// run paused again without its lease (a repeated pause): its number is returned and nothing is
/// written.
pub(crate) fn finish_run(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    lease: Option<&RunLease>,
    record: &RecordData,
) -> Result<u64, DbError> {
    let loaded = SessionRow::load(conn, session)?;
    let pausing = record.status == RunStatus::Paused.as_str();
    if let Some(row) = &loaded
        && let Some(done) = run_by_id(conn, session, row, &record.run_id, Find::Kept { pausing })?
    {
        return Ok(done.run);
    }
    let (mut row, run) = match lease {
        Some(lease) => {
            let row = leased_row(conn, session, now, lease)?;
            conn.prepare_cached(
                "UPDATE runs SET status = ?3, reasoning = ?4, bytes = ?5, lease = NULL, \
                 lease_expires_at = NULL, run_id = ?6 WHERE session = ?1 AND run = ?2",
            )?
            .execute(params![
                session.as_str(),
                int(lease.run, session, "run")?,
                record.status,
                record.reasoning,
                len(&record.reasoning),
                record.run_id,
            ])?;
            (row, lease.run)
        }
        None => {
            let mut row = writable(conn, session, now, loaded)?;
            row.last_run = next(row.last_run, session, "last_run")?;
            conn.prepare_cached(
                "INSERT INTO runs (session, run, status, reasoning, bytes, lease, heartbeat_at, \
                 committed_seq, run_id, lease_expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, ?6, NULL)",
            )?
            .execute(params![
                session.as_str(),
                int(row.last_run, session, "run")?,
                record.status,
                record.reasoning,
                len(&record.reasoning),
                record.run_id,
            ])?;
            let run = row.last_run;
            (row, run)
        }
    };
    touch(&mut row, now, true);
    save(conn, session, &row)?;
    Ok(run)
}

/// What `claim_run` reads of a run record, as stored.
struct Liveness {
    status: String,
    lease: Option<String>,
    heartbeat_at: Option<i64>,
    lease_expires_at: Option<i64>,
}

/// Takes over a running run whose heartbeat is still the claim's `last_heartbeat` and whose
/// lease has expired, or a paused run (no lease) whose heartbeat is still the claim's, under
/// the claim's lease, writing the claim's record if it has one. The same claim repeated (its
/// answer lost) succeeds again without writing.
pub(crate) fn claim_run(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    claim: &ClaimData,
) -> Result<RunLease, DbError> {
    let run = claim.run;
    let Some(mut row) = SessionRow::load(conn, session)?.filter(|row| row.is_live(now.at)) else {
        return Err(session_error(
            SessionErrorKind::NotFound,
            session,
            "the session does not exist",
        )
        .into());
    };
    let not_found = || {
        session_error(
            SessionErrorKind::NotFound,
            session,
            format!("run {run} does not exist"),
        )
    };
    if run < row.first_run {
        return Err(not_found().into());
    }
    let stored = conn
        .prepare_cached(
            "SELECT status, lease, heartbeat_at, lease_expires_at FROM runs \
             WHERE session = ?1 AND run = ?2",
        )?
        .query_row(
            params![session.as_str(), int(run, session, "run")?],
            |row| {
                Ok(Liveness {
                    status: row.get(0)?,
                    lease: row.get(1)?,
                    heartbeat_at: row.get(2)?,
                    lease_expires_at: row.get(3)?,
                })
            },
        )
        .optional()?;
    let Some(Liveness {
        status,
        lease,
        heartbeat_at,
        lease_expires_at,
    }) = stored
    else {
        return Err(not_found().into());
    };
    let item = format!("run {run}");
    let new = RunLease::new(run, claim.lease);
    let held = lease
        .map(|lease| rows::uuid(&lease, session, &item))
        .transpose()?;
    if held == Some(claim.lease) {
        // This claim's own, repeated after a lost answer.
        return Ok(new);
    }
    let heartbeat_at = heartbeat_at
        .map(|at| rows::timestamp(at, session, &item))
        .transpose()?;
    if status == RunStatus::Paused.as_str() && held.is_none() {
        // A paused run waits without a lease: its heartbeat alone decides the claim (the
        // write lock makes the check and the write one step, so one claimant wins).
        if heartbeat_at != claim.last_heartbeat {
            return Err(session_error(
                SessionErrorKind::Conflict,
                session,
                format!("run {run} was answered by another process"),
            )
            .into());
        }
    } else if status != RunStatus::Running.as_str() || held.is_none() {
        return Err(session_error(
            SessionErrorKind::Conflict,
            session,
            format!("run {run} has ended"),
        )
        .into());
    }
    if heartbeat_at != claim.last_heartbeat {
        return Err(session_error(
            SessionErrorKind::Conflict,
            session,
            format!("run {run} is alive or was claimed by another process"),
        )
        .into());
    }
    if lease_expires_at.is_some_and(|until| now.at < until) {
        return Err(session_error(
            SessionErrorKind::Conflict,
            session,
            format!("run {run} is alive: its lease has not expired"),
        )
        .into());
    }
    conn.prepare_cached(
        "UPDATE runs SET lease = ?3, heartbeat_at = ?4, lease_expires_at = ?5 \
         WHERE session = ?1 AND run = ?2",
    )?
    .execute(params![
        session.as_str(),
        int(run, session, "run")?,
        new.lease.hyphenated().to_string(),
        now.at,
        lease_end(now.at, claim.lease_for)
    ])?;
    if let Some(record) = &claim.record {
        // The claimant's record (a paused run continued is `running` again), in the same
        // transaction as the claim.
        conn.prepare_cached(
            "UPDATE runs SET status = ?3, reasoning = ?4, bytes = ?5, run_id = ?6 \
             WHERE session = ?1 AND run = ?2",
        )?
        .execute(params![
            session.as_str(),
            int(run, session, "run")?,
            record.status,
            record.reasoning,
            len(&record.reasoning),
            record.run_id,
        ])?;
    }
    touch(&mut row, now, true);
    save(conn, session, &row)?;
    Ok(new)
}

/// Changes a live session's state outside a run: `changes` applied key by key to the state
/// stored now, under the write lock, so the read and the write are one step (a commit cannot
/// slip in between, and a commit after it applies its own changes to the state this wrote).
/// No turn, no run record, and the session's life is left as it was (`expires_at` and
/// `purge_at` unchanged); only the change counter moves, so followers see the new state.
/// A session that does not exist, expired, was deleted or has no entries is `NotFound`; a
/// state that would be too large is `InvalidInput`, with nothing written.
pub(crate) fn update_state(
    conn: &Connection,
    session: &SessionId,
    now: Now,
    changes: &StateChanges,
) -> Result<SessionHead, DbError> {
    let Some(mut row) = live(conn, session, now.at)?.filter(SessionRow::has_entries) else {
        return Err(session_error(
            SessionErrorKind::NotFound,
            session,
            "the session does not exist",
        )
        .into());
    };
    let state = changed_state(conn, session, changes)?;
    let bytes = state.as_deref().map(len);
    conn.prepare_cached("UPDATE sessions SET state = ?2, state_bytes = ?3 WHERE id = ?1")?
        .execute(params![session.as_str(), state, bytes])?;
    row.changes = row.changes.wrapping_add(1);
    save(conn, session, &row)?;
    head(conn, session, now.at)
}

/// Deletes the session's data at once and leaves a tombstone, so that no commit of the
/// deleted life ever lands.
pub(crate) fn delete(conn: &Connection, session: &SessionId, now: Now) -> Result<(), DbError> {
    let Some(mut row) = SessionRow::load(conn, session)? else {
        return Ok(());
    };
    delete_data(conn, session)?;
    row.deleted = true;
    row.first_seq = next(row.last_seq, session, "last_seq")?;
    row.summary_seq = None;
    row.first_run = next(row.last_run, session, "last_run")?;
    row.expires_at = now.at;
    row.purge_at = now.expiry();
    row.changes = row.changes.wrapping_add(1);
    save(conn, session, &row)
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

fn live(conn: &Connection, session: &SessionId, now: i64) -> Result<Option<SessionRow>, DbError> {
    Ok(SessionRow::load(conn, session)?.filter(|row| row.is_live(now)))
}

fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The session's head, with its state when it is live.
pub(crate) fn head(
    conn: &Connection,
    session: &SessionId,
    now: i64,
) -> Result<SessionHead, DbError> {
    match SessionRow::load(conn, session)? {
        Some(row) if row.is_live(now) => Ok(row.head(now).with_state(load_state(conn, session)?)),
        Some(row) => Ok(row.head(now)),
        None => Ok(SessionHead::empty()),
    }
}

/// Entries `from ..= to` of the current life, checked dense.
pub(crate) fn entries(
    conn: &Connection,
    session: &SessionId,
    now: i64,
    from: u64,
    to: u64,
) -> Result<Vec<Entry>, DbError> {
    let Some(row) = live(conn, session, now)? else {
        return Err(session_error(
            SessionErrorKind::NotFound,
            session,
            "the session does not exist",
        )
        .into());
    };
    if from < row.first_seq || to > row.last_seq || from > to {
        return Err(session_error(
            SessionErrorKind::NotFound,
            session,
            format!(
                "entries {from}..={to} are outside the session's {}..={}",
                row.first_seq, row.last_seq
            ),
        )
        .into());
    }
    let mut statement = conn.prepare_cached(
        "SELECT seq, body, bytes, written_at FROM entries \
         WHERE session = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    )?;
    let mut found = statement.query(params![
        session.as_str(),
        int(from, session, "seq")?,
        int(to, session, "seq")?
    ])?;
    // The head's numbers say how many entries to expect, but they are stored data: the
    // capacity is bounded, the vector grows with the rows actually read.
    let expected = usize::try_from(to - from)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut entries = Vec::with_capacity(expected.min(1024));
    let mut want = from;
    while let Some(stored) = found.next()? {
        // The numbering first: a gap is reported as such, whatever the next row holds.
        let seq: i64 = rows::column(stored, 0, session, &"an entry")?;
        if i64::try_from(want).ok() != Some(seq) {
            return Err(corrupted(
                session,
                format!("entry {want}"),
                format!("missing (the next stored entry is {seq})"),
            )
            .into());
        }
        entries.push(rows::entry(stored, session)?);
        want += 1;
    }
    if want <= to {
        return Err(corrupted(
            session,
            format!("entries {want}..={to}"),
            format!(
                "missing: the session's head says it has entries up to {}",
                row.last_seq
            ),
        )
        .into());
    }
    Ok(entries)
}

/// Run records above `after`, at most `limit`.
pub(crate) fn runs(
    conn: &Connection,
    session: &SessionId,
    now: i64,
    after: u64,
    count: usize,
) -> Result<Vec<RunRecord>, DbError> {
    let Some(row) = live(conn, session, now)? else {
        return Ok(Vec::new());
    };
    let Ok(start) = i64::try_from(after.saturating_add(1).max(row.first_run)) else {
        return Ok(Vec::new());
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE session = ?1 AND run >= ?2 ORDER BY run LIMIT ?3"
    ))?;
    let mut found = statement.query(params![session.as_str(), start, limit(count)])?;
    let mut records = Vec::new();
    while let Some(stored) = found.next()? {
        records.push(rows::run(stored, session)?);
    }
    Ok(records)
}

/// The newest run record of the current life.
pub(crate) fn latest_run(
    conn: &Connection,
    session: &SessionId,
    now: i64,
) -> Result<Option<RunRecord>, DbError> {
    let Some(row) = live(conn, session, now)? else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE session = ?1 AND run >= ?2 ORDER BY run DESC LIMIT 1"
    ))?;
    let mut found = statement.query(params![
        session.as_str(),
        int(row.first_run, session, "first_run")?
    ])?;
    match found.next()? {
        Some(stored) => Ok(Some(rows::run(stored, session)?)),
        None => Ok(None),
    }
}

/// A run's events above `after`, at most `count`, checked dense.
pub(crate) fn events(
    conn: &Connection,
    session: &SessionId,
    now: i64,
    run: u64,
    after: u32,
    count: usize,
) -> Result<Vec<StoredEvent>, DbError> {
    let Some(row) = live(conn, session, now)? else {
        return Ok(Vec::new());
    };
    let Ok(run_number) = i64::try_from(run) else {
        return Ok(Vec::new());
    };
    if run < row.first_run {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(
        "SELECT idx, event, bytes FROM events WHERE session = ?1 AND run = ?2 AND idx > ?3 \
         ORDER BY idx LIMIT ?4",
    )?;
    let mut found = statement.query(params![session.as_str(), run_number, after, limit(count)])?;
    let mut events = Vec::new();
    let mut want = u64::from(after) + 1;
    while let Some(stored) = found.next()? {
        let index: i64 = rows::column(stored, 0, session, &format_args!("an event of run {run}"))?;
        if i64::try_from(want).ok() != Some(index) {
            return Err(corrupted(
                session,
                format!("event {want} of run {run}"),
                format!("missing (the next stored event is {index})"),
            )
            .into());
        }
        events.push(rows::event(stored, session, run)?);
        want += 1;
    }
    Ok(events)
}

/// Live sessions after `page` in id order, their heads with their state (it is in the row
/// read anyway). A session whose row is damaged (its state included) is left out (and logged)
/// rather than failing the listing of every other one.
pub(crate) fn list_sessions(
    conn: &Connection,
    now: i64,
    page: Option<&str>,
    count: usize,
) -> Result<SessionPage, DbError> {
    if count == 0 {
        return Ok(SessionPage::new(Vec::new(), None));
    }
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, {SESSION_COLUMNS}, {STATE_COLUMNS} FROM sessions \
         WHERE deleted = 0 AND expires_at > ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    let mut found = statement.query(params![
        now,
        page.unwrap_or(""),
        limit(count.saturating_add(1))
    ])?;
    let mut sessions = Vec::new();
    let mut seen = 0;
    let mut next = None;
    while let Some(stored) = found.next()? {
        let id: String = stored.get(0)?;
        seen += 1;
        if seen > count {
            break;
        }
        if seen == count {
            next = Some(id.clone());
        }
        let Ok(session) = SessionId::new(id.as_str()) else {
            tracing::warn!(id, "skipping a stored session with an invalid id");
            continue;
        };
        let read = SessionRow::from_row(stored, 1, &session).and_then(|row| {
            let state = rows::state(stored, 1 + rows::SESSION_COLUMN_COUNT, &session)?;
            Ok(row.head(now).with_state(state))
        });
        match read {
            Ok(head) => sessions.push(SessionInfo::new(session, head)),
            Err(error) => {
                tracing::warn!(%session, ?error, "skipping a damaged session while listing");
            }
        }
    }
    let next = if seen > count { next } else { None };
    Ok(SessionPage::new(sessions, next))
}

/// What followers poll: the session's life and change counter (`None`: no row).
pub(crate) fn change_marker(
    conn: &Connection,
    session: &SessionId,
) -> Result<Option<(i64, i64)>, DbError> {
    Ok(conn
        .prepare_cached("SELECT life, changes FROM sessions WHERE id = ?1")?
        .query_row([session.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}
