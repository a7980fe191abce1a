//! How SQLite's failures become [`SessionError`]s.
//!
//! Inside a blocking database call everything fails with a [`DbError`]: either a SQLite error,
//! kept raw so that the caller can tell `SQLITE_BUSY` (retried) from the rest, or a
//! [`SessionError`] already decided by the store's logic (a conflict, corrupted data). At the
//! boundary [`DbError::into_session_error`] turns it into the one error type of the contract.

use std::fmt;

use agent_session::{SessionError, SessionErrorKind, SessionId};
use rusqlite::ErrorCode;

/// A failure inside a blocking database call.
#[derive(Debug)]
pub(crate) enum DbError {
    /// SQLite refused a statement before the transaction's `COMMIT`: nothing was written.
    Sqlite(rusqlite::Error),
    /// SQLite refused the `COMMIT` itself: whether the write landed is not certain.
    AtCommit(rusqlite::Error),
    /// The store's own verdict (conflict, deleted, corrupted data, …).
    Session(SessionError),
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        DbError::Sqlite(error)
    }
}

impl From<SessionError> for DbError {
    fn from(error: SessionError) -> Self {
        DbError::Session(error)
    }
}

impl DbError {
    /// Whether another connection held the lock for longer than the busy timeout (so the whole
    /// transaction may be tried again: nothing was written).
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            DbError::Sqlite(error) => is_busy(error),
            DbError::AtCommit(_) | DbError::Session(_) => false,
        }
    }

    /// The contract's error, naming the database file and, when known, the session.
    pub(crate) fn into_session_error(
        self,
        file: &str,
        session: Option<&SessionId>,
    ) -> SessionError {
        let error = match self {
            DbError::Session(error) => return error,
            DbError::Sqlite(error) => from_sqlite(error, file),
            DbError::AtCommit(error) => {
                let busy = is_busy(&error);
                let error = from_sqlite(error, file);
                // A refused COMMIT is rolled back by SQLite; one that failed in I/O may have
                // reached the log. Only a lock timeout is known not to have been applied.
                if busy {
                    error
                } else {
                    error.with_maybe_applied()
                }
            }
        };
        match session {
            Some(session) => error.for_session(session),
            None => error,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Maps a SQLite error to a kind and a sentence saying what it means for the store.
pub(crate) fn from_sqlite(error: rusqlite::Error, file: &str) -> SessionError {
    use SessionErrorKind::{CorruptedData, InvalidInput, Misconfigured, Unavailable};
    let (kind, meaning) = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => (
            Unavailable,
            "another connection held the database lock longer than the busy timeout",
        ),
        Some(ErrorCode::DiskFull) => (
            Unavailable,
            "the database is full (the disk, or the store's `max_size`)",
        ),
        Some(ErrorCode::ReadOnly) => (Misconfigured, "the database is read-only"),
        Some(ErrorCode::NotADatabase) => (Misconfigured, "the file is not a SQLite database"),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            (Misconfigured, "the database file cannot be opened")
        }
        Some(ErrorCode::DatabaseCorrupt) => (CorruptedData, "the database file is damaged"),
        Some(ErrorCode::TooBig) => (InvalidInput, "a value is larger than SQLite can store"),
        Some(ErrorCode::ConstraintViolation) => (
            CorruptedData,
            "the stored data breaks the schema's constraints",
        ),
        Some(_) => (Unavailable, "SQLite failed"),
        None => match &error {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..) => {
                (CorruptedData, "a stored value has the wrong type")
            }
            _ => (Unavailable, "SQLite failed"),
        },
    };
    SessionError::new(kind, format!("{meaning} (`{file}`): {error}")).with_source(error)
}

/// `CorruptedData` about one stored item of a session.
pub(crate) fn corrupted(
    session: &SessionId,
    item: impl fmt::Display,
    problem: impl fmt::Display,
) -> SessionError {
    SessionError::new(
        SessionErrorKind::CorruptedData,
        format!("{item}: {problem}"),
    )
    .for_session(session)
}

/// An error of `kind` about a session.
pub(crate) fn session_error(
    kind: SessionErrorKind,
    session: &SessionId,
    message: impl Into<String>,
) -> SessionError {
    SessionError::new(kind, message).for_session(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_map_to_kinds_naming_the_file() {
        for (code, kind) in [
            (rusqlite::ffi::SQLITE_BUSY, SessionErrorKind::Unavailable),
            (rusqlite::ffi::SQLITE_FULL, SessionErrorKind::Unavailable),
            (
                rusqlite::ffi::SQLITE_READONLY,
                SessionErrorKind::Misconfigured,
            ),
            (
                rusqlite::ffi::SQLITE_NOTADB,
                SessionErrorKind::Misconfigured,
            ),
            (
                rusqlite::ffi::SQLITE_CANTOPEN,
                SessionErrorKind::Misconfigured,
            ),
            (
                rusqlite::ffi::SQLITE_CORRUPT,
                SessionErrorKind::CorruptedData,
            ),
            (rusqlite::ffi::SQLITE_TOOBIG, SessionErrorKind::InvalidInput),
            (rusqlite::ffi::SQLITE_IOERR, SessionErrorKind::Unavailable),
        ] {
            let error = from_sqlite(sqlite(code), "/data/s.db");
            assert_eq!(error.kind(), kind, "{code}");
            assert!(error.message().contains("/data/s.db"), "{error}");
        }
    }

    #[test]
    fn only_a_failed_commit_that_was_not_a_lock_timeout_may_have_been_applied() {
        let file = "f.db";
        assert!(
            !DbError::Sqlite(sqlite(rusqlite::ffi::SQLITE_IOERR))
                .into_session_error(file, None)
                .maybe_applied()
        );
        assert!(
            DbError::AtCommit(sqlite(rusqlite::ffi::SQLITE_IOERR))
                .into_session_error(file, None)
                .maybe_applied()
        );
        assert!(
            !DbError::AtCommit(sqlite(rusqlite::ffi::SQLITE_BUSY))
                .into_session_error(file, None)
                .maybe_applied()
        );
        assert!(DbError::Sqlite(sqlite(rusqlite::ffi::SQLITE_BUSY)).is_busy());
        assert!(!DbError::AtCommit(sqlite(rusqlite::ffi::SQLITE_BUSY)).is_busy());
    }
}
