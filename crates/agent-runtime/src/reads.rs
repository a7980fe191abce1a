//! Reading a session: its runs' traces, following them live, its conversation page by page, and
//! deleting it.

use std::time::Duration;

use agent_core::Reasoning;
use agent_session::{SessionError, SessionId};
use futures::Stream;

use crate::follow::{FollowOptions, FollowPosition, FollowedEvent, follow};
use crate::reader::{latest_reasoning, reasoning_history};
use crate::runner::SessionRunner;

impl SessionRunner {
    /// The trace of the session's newest run (folded from its events while it runs;
    /// `interrupted` when its process stopped heart-beating).
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn latest_reasoning(
        &self,
        session: &SessionId,
    ) -> Result<Option<Reasoning>, SessionError> {
        let options = &self.inner.options;
        latest_reasoning(
            &*self.inner.store,
            session,
            &*options.clock,
            options.interrupted_after,
        )
        .await
    }

    /// The traces of every run of the session, oldest first.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn reasoning_history(
        &self,
        session: &SessionId,
    ) -> Result<Vec<Reasoning>, SessionError> {
        let options = &self.inner.options;
        reasoning_history(
            &*self.inner.store,
            session,
            &*options.clock,
            options.interrupted_after,
        )
        .await
    }

    /// Follows the session's runs from `position` (see [`FollowPosition`]).
    pub fn follow(
        &self,
        session: &SessionId,
        position: FollowPosition,
    ) -> impl Stream<Item = Result<FollowedEvent, SessionError>> + Send + 'static {
        let options = &self.inner.options;
        follow(
            self.inner.store.clone(),
            session.clone(),
            position,
            FollowOptions {
                min_poll: Duration::from_millis(100),
                max_poll: Duration::from_secs(2),
                interrupted_after: options.interrupted_after,
                clock: options.clock.clone(),
            },
        )
    }

    /// Deletes the session and forgets it.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.inner.cache.forget(session);
        self.inner.store.delete(session).await
    }

    /// A page of the session's conversation for audit: the messages of the entries from `from`
    /// (the first entry when `None`), at most `limit` entries, and where the next page starts.
    ///
    /// # Errors
    ///
    /// The store's error; [`SessionErrorKind::NotFound`](agent_session::SessionErrorKind::NotFound) for a page outside the session.
    pub async fn conversation(
        &self,
        session: &SessionId,
        from: Option<u64>,
        limit: usize,
    ) -> Result<ConversationPage, SessionError> {
        let head = self.inner.store.head(session).await?;
        if head.version.is_empty() {
            return Ok(ConversationPage::default());
        }
        let from = from.unwrap_or(head.first_seq).max(head.first_seq);
        if from > head.last_seq() {
            return Ok(ConversationPage::default());
        }
        let to = from
            .saturating_add(limit.max(1) as u64 - 1)
            .min(head.last_seq());
        let entries = self.inner.store.entries(session, from, to).await?;
        Ok(ConversationPage {
            entries,
            next: (to < head.last_seq()).then_some(to + 1),
        })
    }
}

/// A page of a session's conversation.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConversationPage {
    /// The entries (turns and summaries), in order.
    pub entries: Vec<agent_session::Entry>,
    /// Where the next page starts, if there is one.
    pub next: Option<u64>,
}

impl ConversationPage {
    /// The messages of the page's turns, in order.
    pub fn messages(&self) -> Vec<agent_core::Message> {
        self.entries
            .iter()
            .flat_map(|entry| entry.body.messages().iter().cloned())
            .collect()
    }
}
