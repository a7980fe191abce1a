//! # agent-session-sqlite
//!
//! MinimalAgent sessions in one SQLite file: [`SqliteSessionStore`] implements
//! [`agent_session::SessionStore`] — conditional, atomic, idempotent commits; run records,
//! leases and real-time events; time to live; delete — for a single process or for several
//! processes on one host sharing the file (an agent service and a monitor that follows its
//! runs, or workers of one queue).
//!
//! ```
//! use agent_core::{Message, Reasoning};
//! use agent_session::{Commit, SessionId, SessionStore, SessionVersion};
//! use agent_session_sqlite::SqliteSessionStore;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("sessions.db");
//! let store = SqliteSessionStore::builder()
//!     .path(&path) // created if missing; its directory must exist
//!     .ttl(Duration::from_secs(3600))
//!     .build()
//!     .await?;
//!
//! let session = SessionId::new("user123")?;
//! let turn = [Message::user_text("I am Ada."), Message::assistant_text("Hello, Ada.")];
//! let trace = Reasoning::start("I am Ada.", Some(session.to_string()));
//! let head = store.head(&session).await?;
//! let committed = store
//!     .commit(&session, Commit::new(trace.run_id, head.version, &turn, &trace))
//!     .await?;
//!
//! // Another process opening the same file sees the commit at once.
//! let other = SqliteSessionStore::open(&path).await?;
//! let head = other.head(&session).await?;
//! assert_eq!(head.version, committed.version);
//! let entries = other.entries(&session, head.first_seq, head.last_seq()).await?;
//! assert_eq!(entries[0].body.messages(), &turn);
//! # Ok(())
//! # }
//! ```
//!
//! ## Design
//!
//! - **rusqlite with bundled SQLite**, not sqlx: one statically linked SQLite of a known
//!   version on every machine (no system library), direct control of pragmas, of
//!   `BEGIN IMMEDIATE` and of SQLite's error codes (`SQLITE_BUSY`, `SQLITE_FULL`,
//!   `SQLITE_NOTADB`, …), and a small dependency tree. sqlx's async API would bring nothing:
//!   its SQLite driver also runs the blocking library on a worker thread.
//! - **Blocking work on Tokio's blocking pool.** Each call takes a connection — the one
//!   writer, or one of a few readers — through an async mutex, moves it into
//!   `tokio::task::spawn_blocking` and runs one transaction there. Chosen over a dedicated
//!   connection thread with a channel because the blocking pool cooperates with Tokio's paused
//!   test clock (time does not jump while a database call runs), and a cancelled caller never
//!   leaves a connection mid-transaction: the transaction finishes, then the connection goes
//!   back.
//! - **WAL**, so readers (a follower polling a run, a load) never wait for the writer nor it
//!   for them, and a commit appends to the log. **`synchronous=FULL`** by default: a commit
//!   that returned survives a power cut, for one `fsync` per commit
//!   ([`Synchronous::Normal`] trades that for speed). A **busy timeout** (5 s) arbitrates
//!   between processes, and a transaction that still meets a lock is tried again.
//! - **Writes begin with `BEGIN IMMEDIATE`**: the write lock is taken before the session is
//!   read, so the version check and the write see the same state, across processes, and a
//!   conflict is the contract's `Conflict`, never a lost update or a late `SQLITE_BUSY`.
//! - **Followers poll** a per-session change counter (one indexed read) with a backoff from
//!   5 ms up to the poll interval (100 ms), and are woken at once by writes of their own
//!   process. (`PRAGMA data_version` would wake them for writes to any session.)
//! - **Lives** are numbered by one counter of the file, so a session deleted or expired and
//!   written again never shows a version it had before; a run computed from the old life gets
//!   `Deleted` or `Expired`, never a commit on the new one.
//! - **Time to live** is checked on every read against the store's [`Clock`]; rows are removed
//!   one more time to live after expiry by a bounded sweep on the write path (at most 1,000
//!   rows, at most once a minute, across all processes).
//!
//! Schema, crash semantics and costs: see the crate's README. The schema version is recorded
//! in the file (`PRAGMA user_version`, [`SCHEMA_VERSION`]); a file written by a newer version
//! is refused with `Incompatible` and left untouched.
//!
//! [`Clock`]: agent_session::Clock
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod connection;
mod errors;
mod ops;
mod rows;
mod schema;
mod store;
mod sweep;

pub use builder::{SqliteSessionStoreBuilder, Synchronous};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::SqliteSessionStore;
