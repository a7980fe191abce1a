//! # agent-session-dynamo
//!
//! MinimalAgent sessions in Amazon DynamoDB: [`DynamoSessionStore`] implements
//! [`agent_session::SessionStore`] over one table with `pk` (S) and `sk` (N) keys and TTL on
//! `expiration_time` — the table of the Python MinimalAgent, whose sessions it reads and
//! continues.
//!
//! - **A conversation log, constant cost per run.** A session is a small head item (`sk` 0 of
//!   `messages#{id}`) and append-only items: one per conversation entry (`messages#{id}`),
//!   one record per run (`reasoning#{id}`), one per real-time event (`events#{id}`). A run's
//!   commit is ONE conditional `TransactWriteItems` of a few small items; with real-time
//!   recording off a run costs one small `GetItem` of the head and that transaction, at turn
//!   1 and at turn 1,000 alike.
//! - **Session state in the head.** The session's state is a JSON string in the head item's
//!   attribute `state` (with its life in `state_life`; both absent while it is empty), written
//!   by the commit's transaction or, outside a run, by `update_state`'s one conditional
//!   `UpdateItem`: the changes are applied on the state of the head the write is conditioned
//!   on, which the condition on the state's version (`state_version`, one more at every write
//!   of the state) makes the state at the write.
//! - **Readable items.** Messages, reasoning records and events are stored as plain JSON
//!   strings in the attributes `messages`, `reasoning` and `event` — the names the Python
//!   MinimalAgent used, so a dashboard that reads `json.loads(item["reasoning"])` keeps
//!   working. Only payloads that would not fit in DynamoDB's 400 KB are compressed (or, with
//!   [`DynamoSessionStoreBuilder::compress_above`], those above a threshold), and split into
//!   chunk items when even that is too large.
//! - **Atomic, conditional, idempotent.** A commit computed from a stale version fails with
//!   [`SessionErrorKind::Conflict`] and writes nothing; a retried commit (after a lost
//!   response, reported with [`SessionError::maybe_applied`]) is recognised and returns the
//!   first one, marked `replayed`.
//! - **Sessions expire whole, and stay deleted.** The head decides when a session expires;
//!   its records outlive it (their expiry is pushed forward in rare, geometrically spaced
//!   steps). A delete tombstones the head first, so no run of the old conversation can bring
//!   it back.
//! - **Typed errors.** Throttling is retried with backoff, then
//!   [`SessionErrorKind::Throttled`]; damaged items are [`SessionErrorKind::CorruptedData`]
//!   naming the session and the item (a damaged run record is read as a stand-in in its place,
//!   `RunRecord::damaged`, so it never hides the others); a table of the wrong schema is
//!   [`SessionErrorKind::Misconfigured`]; a Python agent writing to a session this version has
//!   taken over is [`SessionErrorKind::Incompatible`].
//! - **Older data keeps working.** Sessions of the Python MinimalAgent 0.2.x load and are
//!   taken over by the first write; sessions of the previous version of this crate (schema 2)
//!   are migrated on first access.
//!
//! The layout, the costs, the compression measurements and the IAM policy are in
//! `docs/design/session-layout.md`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use agent_core::{Message, Reasoning};
//! use agent_session::{Commit, SessionId, SessionStore};
//! use agent_session_dynamo::DynamoSessionStore;
//!
//! # async fn example() -> Result<(), agent_session::SessionError> {
//! let store = DynamoSessionStore::builder()
//!     .table_name("my-agent-sessions")
//!     .region("us-east-1")
//!     .ttl(Duration::from_secs(3600))
//!     .build()
//!     .await?;
//!
//! let session = SessionId::new("user123")?;
//! let head = store.head(&session).await?;
//! let turn = [Message::user_text("What's the weather?"), Message::assistant_text("Sunny.")];
//! let trace = Reasoning::start("What's the weather?", Some(session.to_string()));
//! let committed = store
//!     .commit(&session, Commit::new(trace.run_id, head.version, &turn, &trace))
//!     .await?;
//! assert!(!committed.replayed);
//! println!("{}", store.metrics());
//! # Ok(())
//! # }
//! ```
//!
//! [`SessionErrorKind::Conflict`]: agent_session::SessionErrorKind::Conflict
//! [`SessionErrorKind::Throttled`]: agent_session::SessionErrorKind::Throttled
//! [`SessionErrorKind::CorruptedData`]: agent_session::SessionErrorKind::CorruptedData
//! [`SessionErrorKind::Misconfigured`]: agent_session::SessionErrorKind::Misconfigured
//! [`SessionErrorKind::Incompatible`]: agent_session::SessionErrorKind::Incompatible
//! [`SessionError::maybe_applied`]: agent_session::SessionError::maybe_applied
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod builder;
mod codec;
mod commit;
mod db;
mod errors;
mod head;
mod layout;
mod metrics;
mod python;
mod read;
mod records;
mod retry;
mod runs;
mod schema2;
pub mod size;
mod state;
mod store;
mod ttl;

pub use builder::{
    DEFAULT_COMPRESS_ABOVE, DEFAULT_TABLE_NAME, DynamoSessionStoreBuilder, default_retry_config,
    default_timeout_config, validate_table_name,
};
pub use codec::MAX_PAYLOAD_BYTES;
pub use metrics::StoreMetrics;
pub use store::DynamoSessionStore;

/// The AWS SDK crates this store is built on, re-exported so callers use the same versions.
pub use aws_config;
/// See [`aws_config`].
pub use aws_sdk_dynamodb;
