//! # agent-session
//!
//! Sessions for MinimalAgent: conversation memory and reasoning history.
//!
//! - [`SessionStore`]: the contract every store implements (conversation log with conditional,
//!   atomic commits; one reasoning record per run; TTL; delete).
//! - [`SessionId`]: validated ids.
//! - [`InMemorySessionStore`]: a store in the process's memory, for tests, examples and
//!   single-process applications.
//! - [`run_in_session`]: the agent's side: load the conversation, run the
//!   [`AgentLoop`](agent_core::AgentLoop) on it, commit the turn (keeping both turns when two
//!   runs of a session overlap), and save the run's reasoning, in real time if asked.
//! - `conformance` (feature `conformance`): the suite every store must pass, run with the
//!   `session_store_conformance!` macro (see that module for how a store author runs it).
//!
//! Applications normally use all this through the `minimalagent` facade; store implementations
//! depend on this crate and `agent-core` only.
//!
//! ```
//! use std::sync::Arc;
//! use agent_core::{AgentLoop, InferenceConfig, NoObserver, RunStatus, ToolSet};
//! use agent_session::{
//!     InMemorySessionStore, SessionId, SessionRunOptions, SessionStore, run_in_session,
//! };
//! use agent_testkit::ScriptedModel;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = ScriptedModel::new()
//!     .then_text("Nice to meet you, Ada.")
//!     .then_text("You are Ada.");
//! let agent_loop = AgentLoop::new(
//!     Arc::new(model.clone()), ToolSet::default(), "", 5, InferenceConfig::default(),
//! );
//! let store = InMemorySessionStore::new();
//! let session = SessionId::new("user123")?;
//! let options = SessionRunOptions::default();
//!
//! run_in_session(&agent_loop, &store, &session, "I am Ada.", &options, &NoObserver).await?;
//! let second =
//!     run_in_session(&agent_loop, &store, &session, "Who am I?", &options, &NoObserver).await?;
//! assert_eq!(second.response, "You are Ada.");
//!
//! // The second run saw the first: its model request held the whole conversation.
//! assert_eq!(model.requests()[1].messages.len(), 3);
//! assert_eq!(store.load(&session).await?.messages.len(), 4);
//!
//! // One reasoning record per run, oldest first.
//! let history = store.reasoning_history(&session).await?;
//! assert_eq!(history.len(), 2);
//! assert_eq!(history[1].status, RunStatus::Completed);
//! assert_eq!(history[1].session_id.as_deref(), Some("user123"));
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
// The call-counting decorator is public through `conformance`; unit tests use it too.
#[cfg(any(test, feature = "conformance"))]
#[cfg_attr(not(feature = "conformance"), allow(unreachable_pub, dead_code))]
mod counting;
mod error;
mod id;
mod memory;
mod run;
mod store;

pub use error::{SessionError, SessionErrorKind};
pub use id::{InvalidSessionId, MAX_SESSION_ID_LEN, SessionId};
pub use memory::{DEFAULT_SESSION_TTL, InMemorySessionStore};
pub use run::{
    DEFAULT_MAX_COMMIT_ATTEMPTS, SessionRunError, SessionRunOptions, SessionRunOutput,
    UncommittedRun, run_in_session, run_in_session_str,
};
pub use store::{RunCommit, SessionSnapshot, SessionStore, SessionVersion};
