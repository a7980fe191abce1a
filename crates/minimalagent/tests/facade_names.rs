//! Everything a facade signature uses can be named through `minimalagent::…` alone: a store, a
//! model and a tool implemented, and every public method called, with no other crate of the
//! workspace in scope. If a type reachable from the facade's API is not re-exported, this file
//! stops compiling.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use minimalagent::core::{
    AgentLoop, Message, Model, ModelError, ModelRequest, ModelResponse, NoEvents, RunInput,
    StopReason, Tool, ToolContext, ToolError, ToolOutput, ToolSet, async_trait,
};
use minimalagent::session::{
    Commit, Committed, Entry, EntryBody, InMemorySessionStore, RunClaim, RunLease, RunRecord,
    SessionError, SessionHead, SessionId, SessionPage, SessionStore, StoredEvent,
};
use minimalagent::{
    Agent, AgentEvent, ConversationPage, FollowPosition, FollowedEvent, Reasoning, ResumeRefusal,
    RunResult, Sessions,
};

/// A store implemented through the facade's names only: it forwards to the in-memory store.
#[derive(Debug, Clone, Default)]
struct Forwarding(InMemorySessionStore);

#[async_trait]
impl SessionStore for Forwarding {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        self.0.head(session).await
    }
    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        self.0.entries(session, from, to).await
    }
    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        self.0.commit(session, commit).await
    }
    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        self.0.begin_run(session, reasoning, lease_for).await
    }
    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        self.0.append_events(session, lease, events).await
    }
    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        self.0.heartbeat(session, lease, lease_for).await
    }
    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        self.0.finish_run(session, lease, reasoning).await
    }
    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        self.0.claim_run(session, claim).await
    }
    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        self.0.runs(session, after, limit).await
    }
    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        self.0.latest_run(session).await
    }
    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        self.0.events(session, run, after, limit).await
    }
    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        self.0.delete(session).await
    }
    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        self.0.list_sessions(page, limit).await
    }
}

/// A model implemented through the facade's names only.
struct Parrot;

#[async_trait]
impl Model for Parrot {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let said = request.messages.len();
        Ok(ModelResponse::new(
            Message::assistant_text(format!("{said} messages so far")),
            StopReason::EndTurn,
        ))
    }
}

/// A tool implemented through the facade's names only.
struct Clock;

#[async_trait]
impl Tool for Clock {
    fn name(&self) -> &str {
        "clock"
    }
    fn description(&self) -> &str {
        "The time"
    }
    fn input_schema(&self) -> serde_json::Value {
        serde_json::json!({"type": "object"})
    }
    async fn call(
        &self,
        _input: serde_json::Value,
        _context: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::from(serde_json::json!("noon")))
    }
}

#[tokio::test]
async fn every_signature_is_named_through_the_facade() {
    let store = Forwarding::default();
    let agent = Agent::builder()
        .model(Parrot)
        .tool(Clock)
        .sessions(store.clone())
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let result: RunResult = agent.run_in_session("hello", "named").await.unwrap();
    assert_eq!(result.response, "1 messages so far");

    let sessions = Sessions::new(store);
    let page: SessionPage = sessions.list(None, 10).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    let conversation: ConversationPage = sessions.conversation("named", None, 10).await.unwrap();
    let entry: &Entry = &conversation.entries[0];
    assert!(matches!(entry.body, EntryBody::Turn { .. }));
    let history: Vec<Reasoning> = sessions.reasoning_history("named").await.unwrap();
    assert_eq!(history.len(), 1);
    let mut follow = sessions.follow("named", FollowPosition::start()).unwrap();
    let first: FollowedEvent = follow.next().await.unwrap().unwrap();
    assert!(matches!(first.event, AgentEvent::RunStarted { .. }));

    let error = agent.resume("named").await.unwrap_err();
    assert!(matches!(
        error.resume_refusal(),
        Some(ResumeRefusal::Ended { .. })
    ));

    // The loop on its own, named through the facade too.
    let tools = ToolSet::new([Arc::new(Clock) as Arc<dyn Tool>]).unwrap();
    let alone = AgentLoop::new(Arc::new(Parrot), tools)
        .run(RunInput::new("hi"), &NoEvents)
        .await
        .unwrap();
    assert!(alone.is_answered());
}
