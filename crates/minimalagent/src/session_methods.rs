//! The agent's session methods: runs that remember, and reasoning retrieval.

use agent_core::Reasoning;
use agent_session::{SessionId, SessionRunOptions, run_in_session};

use crate::agent::Agent;
use crate::error::Error;

impl Agent {
    /// Runs a query in a session: loads the session's conversation, runs the query on top of
    /// it, and keeps the new turn and the run's reasoning in the session store.
    ///
    /// The turn is kept only when the run completes; a failed run leaves the conversation as it
    /// was and its reasoning record says `failed` with the error. Two runs of one session at
    /// once are both kept, in the order they commit (the second run's trace counts the retry
    /// in `commit_conflicts`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSessionId`] before any I/O for an id that is not 1 to 128 characters of
    /// `[A-Za-z0-9_-]`; [`Error::SessionsDisabled`] when the agent has no session store;
    /// [`Error::SessionRun`] when the run or the store failed (it keeps the trace and, if the
    /// run completed, the answer).
    pub async fn run_in_session(
        &self,
        query: &str,
        session_id: &str,
    ) -> Result<(String, Reasoning), Error> {
        let session = SessionId::new(session_id)?;
        let sessions = self.sessions()?;
        let options =
            SessionRunOptions::default().with_real_time_reasoning(sessions.real_time_reasoning);
        let output = run_in_session(
            self.agent_loop(),
            sessions.store.as_ref(),
            &session,
            query,
            &options,
            self.observers(),
        )
        .await?;
        Ok((output.response, output.reasoning))
    }

    /// The reasoning of the session's most recent run (the one in progress, with real-time
    /// reasoning), or `None` for an unknown or expired session.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSessionId`], [`Error::SessionsDisabled`], or the store's
    /// [`Error::Session`].
    pub async fn get_reasoning(&self, session_id: &str) -> Result<Option<Reasoning>, Error> {
        let session = SessionId::new(session_id)?;
        Ok(self.sessions()?.store.latest_reasoning(&session).await?)
    }

    /// The reasoning of every run of the session, oldest first, one record per run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSessionId`], [`Error::SessionsDisabled`], or the store's
    /// [`Error::Session`].
    pub async fn get_reasoning_history(&self, session_id: &str) -> Result<Vec<Reasoning>, Error> {
        let session = SessionId::new(session_id)?;
        Ok(self.sessions()?.store.reasoning_history(&session).await?)
    }

    /// Deletes the session's conversation and reasoning.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSessionId`], [`Error::SessionsDisabled`], or the store's
    /// [`Error::Session`].
    pub async fn delete_session(&self, session_id: &str) -> Result<(), Error> {
        let session = SessionId::new(session_id)?;
        Ok(self.sessions()?.store.delete(&session).await?)
    }
}
