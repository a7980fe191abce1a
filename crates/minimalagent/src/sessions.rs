//! [`Sessions`]: a session store's conversations and runs, read, followed and deleted — with
//! or without an agent (a monitor needs no model).

use std::sync::Arc;
use std::time::Duration;

use agent_core::{Reasoning, SessionState};
use agent_runtime::{
    ConversationPage, FollowPosition, ForkPoint, Forked, PausedRun, SessionOptions, SessionRunner,
};
use agent_session::{SessionId, SessionPage, SessionStore};
use futures::StreamExt;

use crate::error::Error;
use crate::stream::FollowStream;

/// A session store's conversations and runs: what a dashboard, a monitor, a CLI or an agent
/// reads. Cheap to clone.
///
/// ```
/// use minimalagent::Sessions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), minimalagent::Error> {
/// let sessions = Sessions::open("memory://").await?;
/// assert!(sessions.reasoning_history("user123").await?.is_empty());
/// assert!(sessions.get_reasoning("user123").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Sessions {
    runner: SessionRunner,
}

impl Sessions {
    /// Sessions in `store`, with the default options.
    pub fn new(store: impl SessionStore + 'static) -> Self {
        Self::with_options(Arc::new(store), SessionOptions::default())
    }

    /// Sessions in `store`, read with these options (the heartbeat limit that makes a run
    /// interrupted, the clock).
    pub fn with_options(store: Arc<dyn SessionStore>, options: SessionOptions) -> Self {
        Self {
            runner: SessionRunner::new(store, options),
        }
    }

    /// Sessions in the store a URL names (see [`open_store`](crate::open_store)).
    ///
    /// # Errors
    ///
    /// An [`Error`] of kind `Config` when the URL or the store is not usable.
    pub async fn open(url: &str) -> Result<Self, Error> {
        let store = crate::stores::open_store(url, None).await?;
        Ok(Self::with_options(store, SessionOptions::default()))
    }

    pub(crate) fn from_runner(runner: SessionRunner) -> Self {
        Self { runner }
    }

    pub(crate) fn runner(&self) -> &SessionRunner {
        &self.runner
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        self.runner.store()
    }

    /// How long a run may go without a heartbeat before it reads as interrupted.
    pub fn interrupted_after(&self) -> Duration {
        self.runner.options().interrupted_after
    }

    fn id(session_id: &str) -> Result<SessionId, Error> {
        Ok(SessionId::new(session_id)?)
    }

    /// The trace of the session's most recent run: the one in progress (its events folded in,
    /// with real-time reasoning), `interrupted` if its process stopped heart-beating, or `None`
    /// for an unknown, expired or deleted session.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn get_reasoning(&self, session_id: &str) -> Result<Option<Reasoning>, Error> {
        Ok(self.runner.latest_reasoning(&Self::id(session_id)?).await?)
    }

    /// The trace of every run of the session, oldest first, one per run.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn reasoning_history(&self, session_id: &str) -> Result<Vec<Reasoning>, Error> {
        Ok(self
            .runner
            .reasoning_history(&Self::id(session_id)?)
            .await?)
    }

    /// A page of the session's whole conversation (at most `limit` entries from `from`; start
    /// with `None`, then pass the page's `next`).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn conversation(
        &self,
        session_id: &str,
        from: Option<u64>,
        limit: usize,
    ) -> Result<ConversationPage, Error> {
        Ok(self
            .runner
            .conversation(&Self::id(session_id)?, from, limit)
            .await?)
    }

    /// Forks `source` at `at` into the new session `new_session` of this store: the new session
    /// holds the source's turns up to the cut (each with its run's trace), names its origin in
    /// its state ([`FORK_ORIGIN_KEY`](agent_runtime::FORK_ORIGIN_KEY)), and the source lists its
    /// forks ([`fork_children`](agent_runtime::fork_children)). Run the agent in the new
    /// session to try another way from there.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`; the store's `Store` error: `NotFound` for an empty source or a run it
    /// does not hold, `InvalidInput` for a step that is not a tool step, `Conflict` when
    /// `new_session` exists.
    pub async fn fork(
        &self,
        source: &str,
        at: ForkPoint,
        new_session: &str,
    ) -> Result<Forked, Error> {
        self.fork_into(source, at, self, new_session).await
    }

    /// [`fork`](Self::fork) into another store (SQLite to DynamoDB, say).
    ///
    /// # Errors
    ///
    /// As [`fork`](Self::fork).
    pub async fn fork_into(
        &self,
        source: &str,
        at: ForkPoint,
        target: &Sessions,
        new_session: &str,
    ) -> Result<Forked, Error> {
        let (source, new_session) = (Self::id(source)?, Self::id(new_session)?);
        Ok(self
            .runner
            .fork(&source, at, target.store(), &new_session)
            .await?)
    }

    /// The session as JSON Lines, as `minimalagent sessions export` writes it: one `entry`
    /// line per conversation entry (the published conversation-entry schema, with `kind` and
    /// `session_id`), then one `run` line per run (its trace). A test replays it with
    /// `agent_testkit::Recording::from_export`; an eval suite turns it into cases.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn export_jsonl(&self, session_id: &str) -> Result<String, Error> {
        let id = Self::id(session_id)?;
        let mut lines = Vec::new();
        let mut from = None;
        loop {
            let page = self.runner.conversation(&id, from, 100).await?;
            for entry in &page.entries {
                let mut line = serde_json::json!({"kind": "entry", "session_id": session_id});
                if let (Some(line), Ok(serde_json::Value::Object(entry))) =
                    (line.as_object_mut(), serde_json::to_value(entry))
                {
                    line.extend(entry);
                }
                lines.push(line.to_string());
            }
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        for (index, run) in self.runner.reasoning_history(&id).await?.iter().enumerate() {
            lines.push(
                serde_json::json!({
                    "kind": "run",
                    "session_id": session_id,
                    "index": index + 1,
                    "run_id": run.run_id,
                    "status": run.status,
                    "reasoning": run,
                })
                .to_string(),
            );
        }
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        Ok(text)
    }

    /// The session's runs that wait for decisions on held tool calls, oldest first (answer them
    /// with [`Agent::respond`](crate::Agent::respond)).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn paused_runs(&self, session_id: &str) -> Result<Vec<PausedRun>, Error> {
        Ok(self.runner.paused_runs(&Self::id(session_id)?).await?)
    }

    /// Records decisions on a paused run's held calls without continuing the run: for a
    /// process that does not run the agent (an operator's CLI, an approval API behind a
    /// button). It never runs a tool. The run stays paused; a process with the agent continues
    /// it with [`Agent::respond`](crate::Agent::respond) and no decisions once every held call
    /// is decided. Of two processes deciding on one run, one wins; the other gets
    /// `NotResumable` with [`ResumeRefusal::AlreadyAnswered`](crate::ResumeRefusal).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`; `NotResumable` saying why (nothing paused, an unknown interrupt
    /// id, answered elsewhere, no decisions); the store's `Store` error.
    pub async fn decide(
        &self,
        session_id: &str,
        decisions: &agent_core::Decisions,
    ) -> Result<PausedRun, Error> {
        Ok(self
            .runner
            .decide(&Self::id(session_id)?, decisions)
            .await?)
    }

    /// The session's state: the key-value map tools and hooks read and write, as the last
    /// kept turn left it (empty for an unknown session).
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn state(&self, session_id: &str) -> Result<SessionState, Error> {
        Ok(self.store().head(&Self::id(session_id)?).await?.state)
    }

    /// Deletes the session's conversation and runs.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`, or the store's `Store` error.
    pub async fn delete(&self, session_id: &str) -> Result<(), Error> {
        Ok(self.runner.delete(&Self::id(session_id)?).await?)
    }

    /// A page of the store's live sessions (start with `None`, then pass the page's `next`).
    ///
    /// # Errors
    ///
    /// The store's `Store` error (`Unsupported` for a store that cannot list).
    pub async fn list(&self, page: Option<&str>, limit: usize) -> Result<SessionPage, Error> {
        Ok(self.runner.store().list_sessions(page, limit).await?)
    }

    /// Follows the session's runs from `position` (from the first run with
    /// [`FollowPosition::start`]): the events of the run in progress and of later runs, as any
    /// process writes them, each with the position to resume from, exactly once each.
    ///
    /// # Errors
    ///
    /// `InvalidSessionId`.
    pub fn follow(
        &self,
        session_id: &str,
        position: FollowPosition,
    ) -> Result<FollowStream, Error> {
        let stream = self
            .runner
            .follow(&Self::id(session_id)?, position)
            .map(|item| item.map_err(Error::from));
        Ok(FollowStream::new(stream))
    }
}
