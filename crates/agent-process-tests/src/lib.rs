//! Tests of several processes sharing one session store. `session-worker` is the child
//! process; `tests/` run it against SQLite files and DynamoDB Local.
//!
//! What the worker's agents do needs no script, so that any process can take any turn: asked a
//! question, the model calls `echo` with it; given the result, it answers. A question starting
//! with `LONG` takes a second step that calls `hang`, which never returns in the worker (the
//! test kills it there) and returns at once in the test process that resumes the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use minimalagent::core::ToolUse;
use minimalagent::{
    ContentBlock, Message, Model, ModelError, ModelErrorKind, ModelRequest, ModelResponse, Role,
    StopReason, Tool, ToolContext, ToolError, ToolOutput, async_trait,
};
use serde_json::{Value, json};

/// The model of the worker's agents (see the crate docs). It remembers how many questions
/// the last request it answered held, earlier turns' and the current one.
#[derive(Debug, Default)]
pub struct EchoModel {
    questions_seen: AtomicUsize,
}

impl EchoModel {
    /// How many questions (user text messages) the last request held.
    pub fn questions_seen(&self) -> usize {
        self.questions_seen.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Model for EchoModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let questions = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.has_text())
            .count();
        self.questions_seen.store(questions, Ordering::SeqCst);
        let question = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User && m.has_text())
            .map(Message::text)
            .ok_or_else(|| ModelError::new(ModelErrorKind::Validation, "no question"))?;
        let results = request
            .messages
            .iter()
            .rev()
            .take_while(|m| !(m.role == Role::User && m.has_text()))
            .filter(|m| m.tool_results().next().is_some())
            .count();
        let tool = match results {
            0 => "echo",
            1 if question.starts_with("LONG") => "hang",
            _ => {
                return Ok(ModelResponse::new(
                    Message::assistant_text(format!("answer to {question}")),
                    StopReason::EndTurn,
                ));
            }
        };
        Ok(ModelResponse::new(
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("{tool}-{results}"),
                    name: tool.into(),
                    input: json!({ "q": question }),
                })],
            },
            StopReason::ToolUse,
        ))
    }
}

/// A tool that returns its input and counts its calls.
#[derive(Debug, Clone)]
pub struct CountingTool {
    name: &'static str,
    calls: Arc<AtomicUsize>,
    hang: bool,
}

impl CountingTool {
    /// `echo`.
    pub fn echo() -> Self {
        Self::new("echo", false)
    }

    /// `hang`: never returns when `hang` is set.
    pub fn hang(hang: bool) -> Self {
        Self::new("hang", hang)
    }

    fn new(name: &'static str, hang: bool) -> Self {
        Self {
            name,
            calls: Arc::default(),
            hang,
        }
    }

    /// How often it was called.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Tool for CountingTool {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "Returns its input."
    }

    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"q": {"type": "string"}}})
    }

    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang {
            // The test kills the worker here.
            std::future::pending::<()>().await;
        }
        Ok(ToolOutput::from(input))
    }
}
