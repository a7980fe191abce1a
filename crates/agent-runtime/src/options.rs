//! [`SessionOptions`]: how runs use a session store.

use std::sync::Arc;
use std::time::Duration;

use agent_session::{Clock, SystemClock};

use crate::cache::{DEFAULT_CACHE_BYTES, DEFAULT_CACHED_SESSIONS};
use crate::context::ContextPolicy;

/// How long a run keeps trying to commit its turn by default (conflicts with other runs are
/// re-based and retried until then; a store that stays down is retried until then).
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a run recorded in real time says it is alive, by default.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a run may go without a heartbeat before readers call it interrupted, by default.
pub const DEFAULT_INTERRUPTED_AFTER: Duration = Duration::from_secs(30);
/// How often streamed text is written to a real-time log at most, by default.
pub const DEFAULT_TEXT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How runs use a session store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Record each run's events as they happen, so other processes can follow it and a crashed
    /// run can be resumed (the seed's `real_time_reasoning`). Off by default.
    pub real_time: bool,
    /// What the model sees of the conversation.
    pub context: ContextPolicy,
    /// How long a run keeps trying to commit its turn.
    pub commit_timeout: Duration,
    /// How often a real-time run beats its heart.
    pub heartbeat_interval: Duration,
    /// How long without a heartbeat makes a run interrupted.
    pub interrupted_after: Duration,
    /// How often streamed text is written at most (real-time runs).
    pub text_flush_interval: Duration,
    /// The time, for heartbeats and interruption.
    pub clock: Arc<dyn Clock>,
    /// How many sessions' conversations a process keeps to load incrementally.
    pub cached_sessions: usize,
    /// How many bytes of messages that cache holds at most.
    pub cache_bytes: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            real_time: false,
            context: ContextPolicy::WholeHistory,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            interrupted_after: DEFAULT_INTERRUPTED_AFTER,
            text_flush_interval: DEFAULT_TEXT_FLUSH_INTERVAL,
            clock: Arc::new(SystemClock),
            cached_sessions: DEFAULT_CACHED_SESSIONS,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl SessionOptions {
    /// Turns real-time recording on or off.
    #[must_use]
    pub fn with_real_time(mut self, real_time: bool) -> Self {
        self.real_time = real_time;
        self
    }

    /// Sets the context policy.
    #[must_use]
    pub fn with_context(mut self, context: ContextPolicy) -> Self {
        self.context = context;
        self
    }

    /// Sets how long a commit keeps trying.
    #[must_use]
    pub fn with_commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// Sets the heartbeat interval and the silence that makes a run interrupted.
    #[must_use]
    pub fn with_heartbeat(mut self, interval: Duration, interrupted_after: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.interrupted_after = interrupted_after;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
