//! # agent-session
//!
//! The session-store contract of MinimalAgent: what a store of conversations and reasoning
//! traces must do, and the suite that proves a store does it. Store implementations depend on
//! this crate (and `agent-core` for messages and traces) and nothing else; its API changes
//! rarely. Running agents in sessions (loading, committing, real-time recording, following)
//! is the job of `agent-runtime`, used through the `minimalagent` facade.
//!
//! - [`SessionStore`]: the contract — a conversation log per session with conditional, atomic,
//!   idempotent commits; one record per run, written without contention; the events of runs
//!   recorded in real time; leases and heartbeats; time to live; delete.
//! - [`SessionId`], [`SessionVersion`], [`SessionHead`], [`Entry`], [`RunRecord`]: what it
//!   reads and writes.
//! - [`SessionError`] with a [`SessionErrorKind`].
//! - [`InMemorySessionStore`]: the reference implementation, for tests, examples and
//!   single-process programs.
//! - [`Layered`] with a [`StoreLayer`]: a decorator around every call of a store, written as
//!   one method.
//! - Feature `testing`: `CountingStore` (counts a store's calls) and `FaultyStore` with a
//!   `FaultInjector` (seeded, reproducible delays, failures, lost responses and reordering).
//! - `conformance` (feature `conformance`, which includes `testing`): the suite every store
//!   must pass.
//!
//! ```
//! use agent_core::{Message, Reasoning};
//! use agent_session::{Commit, InMemorySessionStore, SessionId, SessionStore, SessionVersion};
//! use uuid::Uuid;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = InMemorySessionStore::new();
//! let session = SessionId::new("user123")?;
//! let turn = [Message::user_text("I am Ada."), Message::assistant_text("Hello, Ada.")];
//! let trace = Reasoning::start("I am Ada.", Some(session.to_string()));
//! let committed = store
//!     .commit(&session, Commit::new(Uuid::now_v7(), SessionVersion::EMPTY, &turn, &trace))
//!     .await?;
//!
//! let head = store.head(&session).await?;
//! assert_eq!(head.version, committed.version);
//! let entries = store.entries(&session, head.first_seq, head.last_seq()).await?;
//! assert_eq!(entries[0].body.messages(), &turn);
//! assert_eq!(store.latest_run(&session).await?.map(|run| run.run), Some(1));
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::time::Duration;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "testing")]
mod counting;
mod error;
#[cfg(feature = "testing")]
mod faults;
mod id;
mod layer;
mod memory;
mod store;
mod version;

/// The time source of session code, defined with the messages and events in `agent-core`.
pub use agent_core::{Clock, SystemClock, TokioClock};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use counting::{CallCounter, CountingStore, StoreCalls};
pub use error::{SessionError, SessionErrorKind};
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use faults::{
    Fault, FaultCounts, FaultInjector, FaultyStore, InjectedFault, InjectedFaults, StoreMethods,
};
pub use id::{InvalidSessionId, MAX_SESSION_ID_LEN, SessionId};
pub use layer::{Layered, StoreCall, StoreLayer, StoreMethod, StoreOutput, StoreOutputRef};
pub use memory::InMemorySessionStore;
pub use store::{
    Commit, Committed, Entry, EntryBody, RunClaim, RunLease, RunRecord, SessionHead, SessionInfo,
    SessionPage, SessionStore, StoredEvent, Summary,
};
pub use version::{InvalidSessionVersion, SessionVersion};

/// How long a session lives after its last run, unless a store is told otherwise: one hour, as
/// in the Python MinimalAgent.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);

/// Checks a time to live: it must be at least one second (stores count it in whole seconds).
///
/// # Errors
///
/// [`SessionErrorKind::InvalidInput`] for a shorter one.
pub fn check_ttl(ttl: Duration) -> Result<(), SessionError> {
    if ttl < Duration::from_secs(1) {
        return Err(SessionError::new(
            SessionErrorKind::InvalidInput,
            format!("the session time to live must be at least 1 second, not {ttl:?}"),
        ));
    }
    Ok(())
}
