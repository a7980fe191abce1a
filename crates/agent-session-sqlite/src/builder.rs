//! [`SqliteSessionStoreBuilder`]: where the database lives and how the store treats it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_session::{Clock, DEFAULT_SESSION_TTL, SessionError, SessionErrorKind, SystemClock};

use crate::connection::{self, Location, OpenOptions};
use crate::store::{SqliteSessionStore, StoreSettings};
use crate::sweep::SweepSettings;

/// The most reader connections a store may keep.
const MAX_READERS: usize = 64;

/// How a commit is made durable: SQLite's `PRAGMA synchronous` in WAL mode.
///
/// Both settings keep the database consistent when a process is killed at any point; they
/// differ only when the machine itself stops (power cut, kernel crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL` (the default): every commit is flushed to the disk (one `fsync` of the log)
    /// before it returns, so a commit that returned survives a power cut. A run's commit then
    /// costs a few milliseconds on an SSD, which is nothing beside the model calls of a run,
    /// and the contract's promise — a returned commit is kept — holds for the machine, not
    /// only for the process.
    #[default]
    Full,
    /// `NORMAL`: the log is flushed only at checkpoints, so commits are faster, but the last
    /// commits before a power cut may be lost (never torn). For stores whose sessions can be
    /// recomputed, or that write real-time events at a high rate.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Configures and opens a [`SqliteSessionStore`]; made by [`SqliteSessionStore::builder`].
///
/// Every setting has a default; only the database's place must be given, with
/// [`path`](Self::path) or [`in_memory`](Self::in_memory). Settings are checked by
/// [`build`](Self::build).
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug, Clone)]
pub struct SqliteSessionStoreBuilder {
    location: Option<Location>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    busy_timeout: Duration,
    busy_retries: u32,
    readers: usize,
    synchronous: Synchronous,
    sweep_batch: usize,
    sweep_interval: Option<Duration>,
    poll_interval: Duration,
    max_size: Option<u64>,
    read_only: bool,
    #[cfg(feature = "test-helper")]
    stall_commits: Option<PathBuf>,
}

impl Default for SqliteSessionStoreBuilder {
    fn default() -> Self {
        Self {
            location: None,
            ttl: DEFAULT_SESSION_TTL,
            clock: Arc::new(SystemClock),
            busy_timeout: Duration::from_secs(5),
            busy_retries: 2,
            readers: 4,
            synchronous: Synchronous::Full,
            sweep_batch: 1000,
            sweep_interval: None,
            poll_interval: Duration::from_millis(100),
            max_size: None,
            read_only: false,
            #[cfg(feature = "test-helper")]
            stall_commits: None,
        }
    }
}

impl SqliteSessionStoreBuilder {
    /// The database file; created (with its directory's `-wal` and `-shm` companions) if it
    /// does not exist. The directory must exist.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.location = Some(Location::File(path.into()));
        self
    }

    /// A private database in this process's memory, gone when the store is dropped: for
    /// tests. One connection serves reads and writes.
    pub fn in_memory(mut self) -> Self {
        self.location = Some(Location::Memory);
        self
    }

    /// How long a session lives after its last write (default [`DEFAULT_SESSION_TTL`], one
    /// hour; at least one second). Its data is removed no sooner than one more `ttl` later.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Where the time comes from (default [`SystemClock`]); tests pass an
    /// [`agent_session::TokioClock`] to step over time to live with Tokio's paused clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a statement waits for another process's lock before it gives up (default
    /// 5 s); then the whole transaction is tried again, [`busy_retries`](Self::busy_retries)
    /// times, before the call fails with `Unavailable`.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many times a transaction that met a lock timeout is tried again (default 2).
    pub fn busy_retries(mut self, retries: u32) -> Self {
        self.busy_retries = retries;
        self
    }

    /// How many reader connections to keep (default 4, at most 64). Reads run on them in
    /// parallel with the writer; with 0, reads queue behind writes on the writer connection.
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Durability of commits (default [`Synchronous::Full`]).
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// The most rows one sweep of expired sessions removes (default 1,000).
    pub fn sweep_batch(mut self, rows: usize) -> Self {
        self.sweep_batch = rows;
        self
    }

    /// The least time between two sweeps of expired sessions, across every process that
    /// opens the file (default: the time to live, at most one minute).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval);
        self
    }

    /// The longest pause between two polls of a follower in
    /// [`wait_for_changes`](agent_session::SessionStore::wait_for_changes) (default 100 ms).
    /// Polls start at 5 ms and double up to this.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Caps the database file at about this many bytes (`PRAGMA max_page_count`): a write
    /// that would grow it further fails with `Unavailable` and writes nothing. Unlimited by
    /// default (up to the disk).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Opens the file for reading only: no schema change, and every write fails with
    /// `Unsupported`. For monitors that follow sessions another process writes. The file
    /// must exist and be at this crate's schema version.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// For this crate's crash tests only: every commit writes `marker` and then stalls forever
    /// with its write transaction open, waiting to be killed.
    #[cfg(feature = "test-helper")]
    #[doc(hidden)]
    pub fn stall_commits_for_tests(mut self, marker: impl Into<PathBuf>) -> Self {
        self.stall_commits = Some(marker.into());
        self
    }

    /// Opens the database: creates the file if needed, checks it is a session database of a
    /// schema this version reads, migrates it forward, and opens the connections.
    ///
    /// # Errors
    ///
    /// - [`SessionErrorKind::InvalidInput`]: no path, a time to live under a second, or an
    ///   out-of-range setting.
    /// - [`SessionErrorKind::Misconfigured`]: the file cannot be opened (missing directory,
    ///   a directory, no permission), is not a SQLite database, belongs to another
    ///   application, or cannot use WAL (a network file system).
    /// - [`SessionErrorKind::Incompatible`]: the file was written by a newer version of this
    ///   crate; it is left as it was.
    /// - [`SessionErrorKind::Unavailable`]: another process held the file locked too long.
    pub async fn build(self) -> Result<SqliteSessionStore, SessionError> {
        agent_session::check_ttl(self.ttl)?;
        let invalid =
            |message: String| Err(SessionError::new(SessionErrorKind::InvalidInput, message));
        let Some(location) = self.location.clone() else {
            return invalid(
                "no database given: call `path(..)` or `in_memory()` on the builder".into(),
            );
        };
        if self.readers > MAX_READERS {
            return invalid(format!(
                "at most {MAX_READERS} readers, not {}",
                self.readers
            ));
        }
        if self.sweep_batch == 0 {
            return invalid("the sweep batch must be at least one row".into());
        }
        if self.poll_interval < Duration::from_millis(1) {
            return invalid(format!(
                "the poll interval must be at least 1 ms, not {:?}",
                self.poll_interval
            ));
        }
        let options = OpenOptions {
            location,
            busy_timeout: self.busy_timeout,
            readers: self.readers,
            synchronous: self.synchronous,
            max_size: self.max_size,
            read_only: self.read_only,
        };
        let opened = tokio::task::spawn_blocking(move || connection::open(&options))
            .await
            .map_err(|error| {
                SessionError::new(
                    SessionErrorKind::Unavailable,
                    format!("the task opening the database failed: {error}"),
                )
            })??;
        let sweep_interval = self
            .sweep_interval
            .unwrap_or_else(|| self.ttl.min(Duration::from_secs(60)));
        let settings = StoreSettings {
            ttl: self.ttl,
            clock: self.clock,
            busy_retries: self.busy_retries,
            poll_interval: self.poll_interval,
            sweep: SweepSettings {
                batch: self.sweep_batch,
                interval: micros(sweep_interval),
            },
            #[cfg(feature = "test-helper")]
            stall_commits: self.stall_commits,
        };
        Ok(SqliteSessionStore::from_parts(opened, settings))
    }
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
