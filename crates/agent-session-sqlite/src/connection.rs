//! Opening the database: the settings every connection gets, the schema check, and the small
//! pool the store works with — one writer connection and a few readers.
//!
//! Why a writer and readers: SQLite lets one connection write at a time, and in WAL mode
//! readers never wait for it. Queuing this process's writes on one connection (behind an
//! async mutex, so waiting costs no thread) leaves SQLite's lock and busy timeout to arbitrate
//! only between processes, and keeps reads — followers polling a run, loads — off the
//! writer's queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agent_session::{SessionError, SessionErrorKind};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::builder::Synchronous;
use crate::errors::DbError;
use crate::schema::{self, FileState, MIGRATIONS};

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    Memory,
}

/// Everything needed to open the pool.
#[derive(Debug, Clone)]
pub(crate) struct OpenOptions {
    pub(crate) location: Location,
    pub(crate) busy_timeout: Duration,
    pub(crate) readers: usize,
    pub(crate) synchronous: Synchronous,
    pub(crate) max_size: Option<u64>,
    pub(crate) read_only: bool,
}

/// Whether the store may write, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writable,
    /// Opened with `read_only(true)`.
    ReadOnly,
    /// The file (or its directory) is write-protected, so SQLite opened it read-only.
    WriteProtected,
}

/// The writing connection and what only the writer keeps.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    /// When this process looks for expired sessions next (microseconds since the epoch).
    pub(crate) next_sweep_at: i64,
}

/// One writer, a few readers. Connections are lent out whole (an owned guard moved into the
/// blocking task), so a cancelled caller never leaves one half-used.
#[derive(Debug)]
pub(crate) struct Pool {
    /// `None` only while the pool is being dropped.
    writer: Option<Arc<Mutex<Writer>>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl Drop for Pool {
    /// Closing the last connection to a WAL file checkpoints the log into the database and
    /// flushes it: blocking I/O, handed to the blocking pool when the store is dropped inside
    /// a Tokio runtime.
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let connections = (std::mem::take(&mut self.readers), self.writer.take());
            runtime.spawn_blocking(move || drop(connections));
        }
    }
}

/// A connection lent for reading: a reader, or the writer when there are none (in memory).
pub(crate) enum ReadConnection {
    Reader(OwnedMutexGuard<Connection>),
    Writer(OwnedMutexGuard<Writer>),
}

impl ReadConnection {
    pub(crate) fn conn(&self) -> &Connection {
        match self {
            ReadConnection::Reader(conn) => conn,
            ReadConnection::Writer(writer) => &writer.conn,
        }
    }
}

impl Pool {
    /// The writer connection, once this process's earlier writes are done with it.
    pub(crate) async fn writer(&self) -> Option<OwnedMutexGuard<Writer>> {
        Some(Arc::clone(self.writer.as_ref()?).lock_owned().await)
    }

    /// A connection to read with: an idle reader if there is one, else the next in turn.
    pub(crate) async fn reader(&self) -> Option<ReadConnection> {
        if self.readers.is_empty() {
            return self.writer().await.map(ReadConnection::Writer);
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        for offset in 0..count {
            let reader = Arc::clone(&self.readers[(start + offset) % count]);
            if let Ok(guard) = reader.try_lock_owned() {
                return Some(ReadConnection::Reader(guard));
            }
        }
        let next = Arc::clone(&self.readers[start % count]);
        Some(ReadConnection::Reader(next.lock_owned().await))
    }
}

/// The opened database.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) pool: Pool,
    pub(crate) access: Access,
    /// The file as named in messages.
    pub(crate) file: String,
}

/// Opens (creating and migrating when allowed) the database and its pool. Blocking.
pub(crate) fn open(options: &OpenOptions) -> Result<Opened, SessionError> {
    let file = match &options.location {
        Location::File(path) => path.display().to_string(),
        Location::Memory => ":memory:".to_owned(),
    };
    open_pool(options, &file)
        .map_err(|error| error.into_session_error(&file, None))
        .map(|(pool, access)| Opened { pool, access, file })
}

fn open_pool(options: &OpenOptions, file: &str) -> Result<(Pool, Access), DbError> {
    // Not SQLITE_OPEN_URI: a path is a path, never a `file:` URI with options in it.
    let flags = if options.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let writer = match &options.location {
        Location::File(path) => Connection::open_with_flags(path, flags)?,
        Location::Memory => Connection::open_in_memory_with_flags(flags)?,
    };
    configure(&writer, options)?;
    // Each step is idempotent, so a lock met on the way (switching to WAL and creating the
    // schema need the file to themselves while other processes open it too, and SQLite may
    // refuse that at once rather than wait) means: wait a little and start again.
    let access = retry_while_busy(options.busy_timeout, || {
        prepare_writer(&writer, options, file)
    })?;
    let mut readers = Vec::new();
    if let Location::File(path) = &options.location {
        let flags = if access == Access::Writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        for _ in 0..options.readers {
            let reader = Connection::open_with_flags(path, flags)?;
            configure(&reader, options)?;
            reader.pragma_update(None, "query_only", true)?;
            readers.push(Arc::new(Mutex::new(reader)));
        }
    }
    let pool = Pool {
        writer: Some(Arc::new(Mutex::new(Writer {
            conn: writer,
            next_sweep_at: 0,
        }))),
        readers,
        next_reader: AtomicUsize::new(0),
    };
    Ok((pool, access))
}

/// Whether the database file exists and this process may not write it. SQLite alone does not
/// always say so: in WAL mode it opens a write-protected file through its `-wal` and `-shm`
/// files (which it may create) and reports the database writable until the first write fails.
fn file_is_write_protected(location: &Location) -> bool {
    match location {
        Location::File(path) => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .is_err_and(|error| {
                matches!(
                    error.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            }),
        Location::Memory => false,
    }
}

/// Checks the file, sets up the writer and creates or migrates the schema.
fn prepare_writer(
    writer: &Connection,
    options: &OpenOptions,
    file: &str,
) -> Result<Access, DbError> {
    // Read the file's identity and version before changing anything in it.
    let state = schema::inspect(writer, file)?;
    let access = if options.read_only {
        Access::ReadOnly
    } else if writer.is_readonly(rusqlite::MAIN_DB)? || file_is_write_protected(&options.location) {
        Access::WriteProtected
    } else {
        Access::Writable
    };
    if access == Access::Writable {
        if let Location::File(_) = options.location {
            enable_wal(writer, file)?;
        }
        writer.pragma_update(None, "synchronous", options.synchronous.pragma())?;
        if let Some(max_size) = options.max_size {
            let page_size: i64 = writer.query_row("PRAGMA page_size", [], |row| row.get(0))?;
            let pages = max_size.div_ceil(u64::try_from(page_size.max(512)).unwrap_or(4096));
            writer.pragma_update(
                None,
                "max_page_count",
                i64::try_from(pages).unwrap_or(i64::MAX),
            )?;
        }
        // A current file needs no write lock to open: another process may hold it for long.
        if state != FileState::Ours(schema::SCHEMA_VERSION) {
            schema::migrate(writer, MIGRATIONS, file)?;
        }
    } else if state != FileState::Ours(schema::SCHEMA_VERSION) {
        // A read-only store cannot create nor migrate: say which it would have needed.
        schema::require_current(writer, file)?;
    }
    Ok(access)
}

/// Runs `step` again while it fails on a lock, for up to `patience`, pausing 1 ms, then twice
/// as long each time, up to 50 ms.
fn retry_while_busy<T>(
    patience: Duration,
    mut step: impl FnMut() -> Result<T, DbError>,
) -> Result<T, DbError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(error) if error.is_busy() && started.elapsed() < patience => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// Settings of every connection, reader or writer.
fn configure(conn: &Connection, options: &OpenOptions) -> Result<(), DbError> {
    conn.busy_timeout(options.busy_timeout)?;
    // The file may come from anywhere: never run SQL functions named in its schema.
    conn.pragma_update(None, "trusted_schema", false)?;
    // Enough for every statement the store prepares, so each is compiled once per connection.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Switches the file to WAL (kept in the file: later opens find it set). Readers then never
/// block the writer nor it them, and a commit appends to the log instead of rewriting pages.
fn enable_wal(conn: &Connection, file: &str) -> Result<(), DbError> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    // Only the first opener switches (which needs the file to itself); the rest just read.
    let mode = if mode.eq_ignore_ascii_case("wal") {
        mode
    } else {
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SessionError::new(
            SessionErrorKind::Misconfigured,
            format!(
                "`{file}` cannot use SQLite's write-ahead log (journal mode stays `{mode}`); \
                 it needs a local file system with shared memory"
            ),
        )
        .into());
    }
    // A large commit grows the log; give the space back after the next checkpoint.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}
