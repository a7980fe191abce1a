//! # agent-runtime
//!
//! Running MinimalAgent's loop in a session store, the part between the loop (`agent-core`)
//! and a store (`agent-session`):
//!
//! - **Incremental loads.** A process keeps the conversations it has seen (bounded, least
//!   recently used first out) and before each run reads the session's head — one small
//!   consistent read — and only the entries written since. A cold process reads only what the
//!   [`ContextPolicy`] needs. Runs of one session in different processes always see every
//!   earlier turn: a cache is never used without checking the head.
//! - **Context policies**, persisted: the whole history, a window of the newest turns, or a
//!   summary plus the newest turns, where the summary is stored in the session.
//! - **Commits that keep every turn.** A run whose commit conflicts with another run's is
//!   re-based on it (both turns are kept, in commit order) until a deadline the caller chose; a
//!   commit whose response was lost is repeated and recognised; every error says whether the
//!   turn is in the conversation ([`TurnState`]).
//! - **Real-time recording**: each run's events appended as they happen (text coalesced, never
//!   per token), a heartbeat while it runs, and [following](SessionRunner::follow) by position
//!   from any process, with crashed runs reported `interrupted` and
//!   [resumable](SessionRunner::resume).
//!
//! Applications use all this through the `minimalagent` facade.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod commit;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod context;
mod follow;
mod fork;
mod options;
mod outcome;
mod pause;
mod reader;
mod reads;
mod recorder;
mod resume;
mod runner;

pub use cache::{DEFAULT_CACHE_BYTES, DEFAULT_CACHED_SESSIONS};
pub use context::{ContextPolicy, SUMMARY_INSTRUCTION, SummaryPolicy, Window};
pub use follow::{FollowPosition, FollowedEvent, InvalidFollowPosition};
pub use fork::{
    FORK_CHILD_KEY_PREFIX, FORK_ORIGIN_KEY, ForkChild, ForkOrigin, ForkPoint, Forked,
    fork_children, fork_origin,
};
pub use options::{
    DEFAULT_COMMIT_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_INTERRUPTED_AFTER,
    DEFAULT_TEXT_FLUSH_INTERVAL, SessionOptions,
};
pub use outcome::{ResumeRefusal, SessionRunError, SessionRunOutput, TurnState};
pub use pause::PausedRun;
pub use reads::ConversationPage;
pub use runner::SessionRunner;
