//! # agent-session-dynamo
//!
//! MinimalAgent sessions in Amazon DynamoDB: [`DynamoSessionStore`] implements
//! [`agent_session::SessionStore`] over one table with `pk` (S) and `sk` (N) keys and TTL on
//! `expiration_time` — the table of the Python MinimalAgent, whose sessions it reads and
//! continues.
//!
//! - **Append-only, constant cost per run.** A run writes one entry item (its new messages)
//!   and updates a small head item, in one `TransactWriteItems`: requests and write units do
//!   not grow with the session. Loading reads one Query page per MB of history.
//! - **Atomic and conditional.** The transaction is conditioned on the head's version: a run
//!   computed from a stale version fails with [`SessionErrorKind::Conflict`] and writes
//!   nothing; a retried request of a run that already committed returns that commit's
//!   version.
//! - **No size limit to hit.** Bodies over 1 KB are gzip-compressed; an entry that still does
//!   not fit in 400 KB is split into chunk items, written before the transaction and invisible
//!   until it commits.
//! - **Sessions expire whole.** The head rules: a session is gone `ttl` after its last write,
//!   whether DynamoDB has deleted its items yet or not. Its records always outlive the head,
//!   their expiry being pushed forward in amortized, geometrically spaced steps.
//! - **Typed errors.** Throttling is retried with backoff, then reported as
//!   [`SessionErrorKind::Throttled`]; bad items as [`SessionErrorKind::CorruptedData`] naming
//!   the item; a wrong table as [`SessionErrorKind::Misconfigured`].
//!
//! The layout, the costs and the IAM policy are in `docs/design/session-layout.md`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use agent_session::{RunCommit, SessionId, SessionStore, SessionVersion};
//! use agent_session_dynamo::DynamoSessionStore;
//! use agent_core::Message;
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
//! let snapshot = store.load(&session).await?;
//! let run = [Message::user_text("What's the weather?"), Message::assistant_text("Sunny.")];
//! let version = store
//!     .commit_run(
//!         &session,
//!         RunCommit { run_id: uuid::Uuid::now_v7(), base: snapshot.version, messages: &run },
//!     )
//!     .await?;
//! assert_ne!(version, SessionVersion::EMPTY);
//! println!("{}", store.metrics());
//! # Ok(())
//! # }
//! ```
//!
//! [`SessionErrorKind::Conflict`]: agent_session::SessionErrorKind::Conflict
//! [`SessionErrorKind::Throttled`]: agent_session::SessionErrorKind::Throttled
//! [`SessionErrorKind::CorruptedData`]: agent_session::SessionErrorKind::CorruptedData
//! [`SessionErrorKind::Misconfigured`]: agent_session::SessionErrorKind::Misconfigured
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod codec;
mod db;
mod errors;
mod layout;
mod metrics;
pub mod size;
mod store;

pub use builder::{
    DEFAULT_REGION, DEFAULT_TABLE_NAME, DEFAULT_TTL, DynamoSessionStoreBuilder,
    default_retry_config, default_timeout_config, validate_table_name,
};
pub use metrics::StoreMetrics;
pub use store::DynamoSessionStore;

/// The AWS SDK crates this store is built on, re-exported so callers use the same versions.
pub use aws_config;
/// See [`aws_config`].
pub use aws_sdk_dynamodb;
