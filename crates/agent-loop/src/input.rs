//! What one run is given: [`RunInput`], and the optional parts a caller plugs in (a typed
//! answer, a compactor).

use std::sync::Arc;
use std::time::Duration;

use agent_core::{AgentEvent, ContentBlock, ConversionCache, Message, StateHandle, async_trait};
use jiff::Timestamp;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One run's input.
#[derive(Clone)]
#[non_exhaustive]
pub struct RunInput {
    /// The run's id (UUID v7, time-ordered).
    pub run_id: Uuid,
    /// The session the run belongs to, if any.
    pub session_id: Option<String>,
    /// When the run started, if the caller already recorded its start (a session store's
    /// real-time record); `None` means now. Readers then see one start time, whichever record
    /// they read.
    pub started_at: Option<Timestamp>,
    /// The conversation the run continues (empty without a session), shared with whoever
    /// holds it (a session's cache): the run appends its own messages and copies none of these.
    pub history: Vec<Arc<Message>>,
    /// The user's turn: text, and any images or documents.
    pub query: Vec<ContentBlock>,
    /// Where the model keeps the wire form of this conversation's messages, shared by the
    /// session's runs so that a run converts only the messages added since the last one
    /// ([`ConversionCache`]); `None` gives the run a cache of its own.
    pub conversion: Option<ConversionCache>,
    /// Extra system prompt blocks for this run (a summary of earlier turns).
    pub context_notes: Vec<String>,
    /// Cancels the run.
    pub cancellation: CancellationToken,
    /// Asks for an answer of a given shape.
    pub structured: Option<StructuredAnswer>,
    /// Makes the history smaller when the model says the request is too long.
    pub compactor: Option<Arc<dyn ContextCompactor>>,
    /// The durable events of an interrupted or paused run to continue (see
    /// [`RunInput::resuming`]); a paused run's decisions are among them
    /// ([`AgentEvent::InterruptAnswered`]).
    pub resume: Vec<AgentEvent>,
    /// The session's state as loaded: tools and hooks read and write it through this handle,
    /// and the run's changes come back in [`RunResult::state_changes`](agent_core::RunResult).
    pub state: StateHandle,
    /// Where the run's events are recorded durably, when they are: the loop waits for it to
    /// record a call's start before running a tool that must not run twice.
    pub event_log: Option<Arc<dyn EventLog>>,
    /// How long a call held for approval waits, when the agent does not say
    /// ([`AgentLoop::with_interrupt_ttl`](crate::AgentLoop::with_interrupt_ttl)): a session
    /// gives its time to live.
    pub interrupt_ttl: Option<Duration>,
}

impl std::fmt::Debug for RunInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunInput")
            .field("run_id", &self.run_id)
            .field("session_id", &self.session_id)
            .field("history", &self.history.len())
            .field("query", &self.query)
            .field("resume", &self.resume.len())
            .finish_non_exhaustive()
    }
}

impl RunInput {
    /// A run of a text query with a new run id and no history.
    pub fn new(query: impl Into<String>) -> Self {
        Self::with_content(vec![ContentBlock::Text(query.into())])
    }

    /// A run of a user turn made of these blocks (text, images, documents).
    pub fn with_content(query: Vec<ContentBlock>) -> Self {
        Self {
            run_id: Uuid::now_v7(),
            session_id: None,
            started_at: None,
            history: Vec::new(),
            query,
            conversion: None,
            context_notes: Vec::new(),
            cancellation: CancellationToken::new(),
            structured: None,
            compactor: None,
            resume: Vec::new(),
            state: StateHandle::default(),
            event_log: None,
            interrupt_ttl: None,
        }
    }

    /// A run continuing an interrupted one from its durable events (its `RunStarted` first):
    /// the steps whose tool results were all recorded are not run again.
    pub fn resuming(events: Vec<AgentEvent>) -> Self {
        let (run_id, session_id, query) = events
            .iter()
            .find_map(|event| match event {
                AgentEvent::RunStarted {
                    run_id,
                    session_id,
                    query,
                    ..
                } => Some((*run_id, session_id.clone(), query.clone())),
                _ => None,
            })
            .unwrap_or_else(|| (Uuid::now_v7(), None, String::new()));
        Self {
            run_id,
            session_id,
            resume: events,
            ..Self::new(query)
        }
    }

    /// The same input continuing this conversation (owned or already shared messages).
    #[must_use]
    pub fn with_history(
        mut self,
        history: impl IntoIterator<Item = impl Into<Arc<Message>>>,
    ) -> Self {
        self.history = history.into_iter().map(Into::into).collect();
        self
    }

    /// The query's text (its text blocks joined by newlines).
    pub fn query_text(&self) -> String {
        Message::user(self.query.clone()).text()
    }
}

/// Checks a structured answer: `Err` says what does not fit, for the model to fix.
pub type AnswerCheck = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// An answer of a given shape: the model answers by calling a final tool whose input schema is
/// the shape; an input that does not fit is sent back with the error, up to a bound.
#[derive(Clone)]
#[non_exhaustive]
pub struct StructuredAnswer {
    /// The final tool's name.
    pub tool_name: String,
    /// The final tool's description.
    pub description: String,
    /// The JSON Schema of the answer (type `object`).
    pub schema: Value,
    /// How many answers the model may give before the run fails.
    pub max_attempts: u32,
    /// Checks an answer: `Err` says what does not fit.
    pub check: AnswerCheck,
}

impl StructuredAnswer {
    /// An answer given by calling the tool `tool_name` (described by `description`) with an
    /// input fitting `schema`, checked by `check`, at most `max_attempts` times.
    pub fn new(
        tool_name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
        max_attempts: u32,
        check: AnswerCheck,
    ) -> Self {
        Self {
            tool_name: tool_name.into(),
            description: description.into(),
            schema,
            max_attempts,
            check,
        }
    }
}

impl std::fmt::Debug for StructuredAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StructuredAnswer")
            .field("tool_name", &self.tool_name)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Makes a conversation's history smaller when the model says a request is too long.
#[async_trait]
pub trait ContextCompactor: Send + Sync {
    /// A smaller history to send instead of `history` (the messages before the run's own),
    /// with system notes to add (a summary); `None` when it cannot be made smaller.
    async fn compact(&self, history: &[Arc<Message>]) -> Option<Compacted>;
}

/// A compacted history.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Compacted {
    /// The messages to send instead of the history; they start with a user text message.
    pub history: Vec<Arc<Message>>,
    /// System prompt blocks replacing the run's context notes (for example a summary).
    pub context_notes: Vec<String>,
}

impl Compacted {
    /// A history to send instead (owned or shared messages), with its system notes.
    pub fn new(
        history: impl IntoIterator<Item = impl Into<Arc<Message>>>,
        context_notes: Vec<String>,
    ) -> Self {
        Self {
            history: history.into_iter().map(Into::into).collect(),
            context_notes,
        }
    }
}

/// Where a run's events are recorded durably (a session's real-time log).
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Waits until every event reported so far is recorded: `false` when they could not be
    /// (the log failed), in which case the loop does not run a tool that must not run twice.
    async fn flush(&self) -> bool;
}
