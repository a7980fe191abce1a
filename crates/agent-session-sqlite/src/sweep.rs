//! Removing expired sessions: a bounded sweep on the write path.
//!
//! Reads never rely on it (they compare `expires_at` with the clock), so it only has to
//! reclaim space, and may be slow and lazy. It runs after a successful write when this process
//! has not looked for [`SweepSettings::interval`], and only if no process of the file swept
//! within that interval (`store_meta.last_sweep_at`); it removes at most
//! [`SweepSettings::batch`] rows, oldest purge time first, in one short transaction of its
//! own, so a write never waits on an unbounded clean-up. A session is removed one time to live
//! after it expired (`purge_at`), never sooner: a run that read it before it expired can still
//! commit until then.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::errors::DbError;

/// How much a sweep may do, and how often.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SweepSettings {
    /// The most rows one sweep removes.
    pub(crate) batch: usize,
    /// The least time between two sweeps of the file, in microseconds.
    pub(crate) interval: i64,
}

/// Sweeps if no process swept within the interval; returns the number of rows removed.
pub(crate) fn sweep(
    conn: &Connection,
    now: i64,
    settings: SweepSettings,
) -> Result<usize, DbError> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let last: Option<i64> = tx
        .prepare_cached("SELECT last_sweep_at FROM store_meta WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let Some(last) = last else {
        return Ok(0);
    };
    // A sweep time in the future by more than an interval is a clock that jumped: sweep anyway.
    let recent = now >= last && now < last.saturating_add(settings.interval);
    let skewed = last > now.saturating_add(settings.interval);
    if recent || (now < last && !skewed) {
        return Ok(0);
    }
    let mut budget = settings.batch;
    let due: Vec<String> = {
        let mut statement = tx.prepare_cached(
            "SELECT id FROM sessions WHERE purge_at <= ?1 ORDER BY purge_at LIMIT ?2",
        )?;
        let rows = statement.query_map(
            params![now, i64::try_from(budget).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?;
        rows.collect::<Result<_, _>>()?
    };
    for session in due {
        if budget == 0 {
            break;
        }
        let mut emptied = true;
        for table in ["events", "runs", "entries"] {
            if budget == 0 {
                emptied = false;
                break;
            }
            let removed = tx
                .prepare_cached(&format!(
                    "DELETE FROM {table} WHERE rowid IN \
                     (SELECT rowid FROM {table} WHERE session = ?1 LIMIT ?2)"
                ))?
                .execute(params![session, i64::try_from(budget).unwrap_or(i64::MAX)])?;
            emptied &= removed < budget;
            budget -= removed.min(budget);
        }
        if emptied && budget > 0 {
            budget -= tx
                .prepare_cached("DELETE FROM sessions WHERE id = ?1 AND purge_at <= ?2")?
                .execute(params![session, now])?
                .min(budget);
        }
    }
    if budget > 0 {
        budget -= tx
            .prepare_cached(
                "DELETE FROM ended_lives WHERE rowid IN \
                 (SELECT rowid FROM ended_lives WHERE purge_at <= ?1 LIMIT ?2)",
            )?
            .execute(params![now, i64::try_from(budget).unwrap_or(i64::MAX)])?
            .min(budget);
    }
    tx.prepare_cached("UPDATE store_meta SET last_sweep_at = ?1 WHERE id = 1")?
        .execute([now])?;
    tx.commit().map_err(DbError::AtCommit)?;
    Ok(settings.batch - budget)
}
