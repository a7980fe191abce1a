//! Tests of several processes sharing one session store. `session-worker` is the child
//! process; `tests/` run it against SQLite files and DynamoDB Local.
//!
//! What the worker's agents do needs no script, so that any process can take any turn: asked a
//! question, the model calls `echo` with it; given the result, it answers. A question starting
//! with `LONG` takes a second step that calls `hang`, which never returns in the worker (the
//! test kills it there) and returns at once in the test process that resumes the run (it is
//! safe to repeat, so the resumed run calls it again).
//!
//! [`OneStepModel`] and [`LoggedTool`] serve the tests of calls that must not run twice and of
//! approvals across processes: the tools log each call outside the process, before anything
//! else, so that a test can count calls across processes and crashes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use minimalagent::core::ToolUse;
use minimalagent::{
    ContentBlock, Message, Model, ModelError, ModelErrorKind, ModelRequest, ModelResponse, Role,
    StopReason, Tool, ToolContext, ToolEffect, ToolError, ToolOutput, async_trait,
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
        let question = last_question(request)?;
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

/// The question of a user turn: its first text block (the turn's time line follows it).
pub fn question(message: &Message) -> Option<&str> {
    if message.role != Role::User {
        return None;
    }
    message.content.iter().find_map(|block| match block {
        ContentBlock::Text(text) => Some(text.as_str()),
        _ => None,
    })
}

/// The question of the request's last user turn with text.
fn last_question(request: &ModelRequest) -> Result<String, ModelError> {
    request
        .messages
        .iter()
        .rev()
        .find_map(|message| question(message))
        .map(str::to_owned)
        .ok_or_else(|| ModelError::new(ModelErrorKind::Validation, "no question"))
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

    /// `hang` is safe to repeat, so that the run resumed after the worker was killed in it runs
    /// it again; `echo` is at most once, the default.
    fn effect(&self) -> ToolEffect {
        if self.name == "hang" {
            ToolEffect::AtLeastOnce
        } else {
            ToolEffect::AtMostOnce
        }
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

/// Why `transfer` waits for approval.
pub const TRANSFER_REASON: &str = "moves money";

/// A model that, asked a question, calls each of its tools once, all in one step (ids
/// `{tool}-1`), and, given their results, answers `done: {question}`. It keeps the messages of
/// every request it was sent, so that a test can read what the model saw.
#[derive(Debug)]
pub struct OneStepModel {
    tools: Vec<(&'static str, Value)>,
    requests: Mutex<Vec<Vec<Arc<Message>>>>,
}

impl OneStepModel {
    /// Calls `tools` (name and input) in one step.
    pub fn new(tools: impl IntoIterator<Item = (&'static str, Value)>) -> Self {
        Self {
            tools: tools.into_iter().collect(),
            requests: Mutex::default(),
        }
    }

    /// The model of the at-most-once tests: `pay` (1200) and `read_balance`, in one step.
    pub fn paying() -> Self {
        Self::new([
            ("pay", json!({"amount": 1200})),
            ("read_balance", json!({})),
        ])
    }

    /// The model of the approval tests: `transfer` (10).
    pub fn transferring() -> Self {
        Self::new([("transfer", json!({"amount": 10}))])
    }

    /// The messages of each request it was sent, in order.
    pub fn requests(&self) -> Vec<Vec<Arc<Message>>> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Model for OneStepModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(request.messages.clone());
        let question = last_question(request)?;
        let answered = request
            .messages
            .last()
            .is_some_and(|m| m.tool_results().next().is_some());
        if answered {
            return Ok(ModelResponse::new(
                Message::assistant_text(format!("done: {question}")),
                StopReason::EndTurn,
            ));
        }
        let content = self
            .tools
            .iter()
            .map(|(name, input)| {
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("{name}-1"),
                    name: (*name).into(),
                    input: input.clone(),
                })
            })
            .collect();
        Ok(ModelResponse::new(
            Message {
                role: Role::Assistant,
                content,
            },
            StopReason::ToolUse,
        ))
    }
}

/// A tool that records each call durably, outside the process, before it does anything else:
/// one line appended (and synced) to `{dir}/{name}.log` with the call's idempotency key and its
/// input, tab-separated. It then returns `{"tool", "key", "input"}`, or, when `hang` is set,
/// never returns (the test kills its process there).
#[derive(Debug, Clone)]
pub struct LoggedTool {
    name: &'static str,
    log: PathBuf,
    effect: ToolEffect,
    approval: Option<&'static str>,
    hang: bool,
}

/// One recorded call of a [`LoggedTool`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedCall {
    /// [`ToolContext::idempotency_key`].
    pub key: String,
    /// The input it ran with.
    pub input: Value,
}

impl LoggedTool {
    /// A tool `name` logging to `dir`, [`ToolEffect::AtMostOnce`] (the default), run at once.
    pub fn new(name: &'static str, dir: &Path) -> Self {
        Self {
            name,
            log: Self::log_path(dir, name),
            effect: ToolEffect::AtMostOnce,
            approval: None,
            hang: false,
        }
    }

    /// The same tool, safe to repeat.
    #[must_use]
    pub fn at_least_once(mut self) -> Self {
        self.effect = ToolEffect::AtLeastOnce;
        self
    }

    /// The same tool, each call held for a person's approval, for `reason`.
    #[must_use]
    pub fn needing_approval(mut self, reason: &'static str) -> Self {
        self.approval = Some(reason);
        self
    }

    /// The same tool, never returning once it logged the call.
    #[must_use]
    pub fn hanging(mut self) -> Self {
        self.hang = true;
        self
    }

    fn log_path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.log"))
    }

    /// The calls of tool `name` logged in `dir`, in order (none when it never ran).
    ///
    /// # Errors
    ///
    /// The log cannot be read, or holds a line that is not a whole call.
    pub fn calls(dir: &Path, name: &str) -> anyhow::Result<Vec<LoggedCall>> {
        let text = match std::fs::read_to_string(Self::log_path(dir, name)) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(anyhow::Error::new(error).context(format!("{name}'s log"))),
        };
        text.lines()
            .map(|line| {
                let (key, input) = line
                    .split_once('\t')
                    .ok_or_else(|| anyhow::anyhow!("a torn line in {name}'s log: {line:?}"))?;
                Ok(LoggedCall {
                    key: key.to_owned(),
                    input: serde_json::from_str(input)
                        .map_err(|e| anyhow::anyhow!("{name}'s log: {e}: {line:?}"))?,
                })
            })
            .collect()
    }

    fn log_call(&self, key: &str, input: &Value) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        file.write_all(format!("{key}\t{input}\n").as_bytes())?;
        file.sync_all()
    }
}

#[async_trait]
impl Tool for LoggedTool {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        "Records its call."
    }

    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"amount": {"type": "number"}}})
    }

    fn approval(&self) -> Option<&str> {
        self.approval
    }

    fn effect(&self) -> ToolEffect {
        self.effect
    }

    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let key = context.idempotency_key();
        self.log_call(&key, &input)
            .map_err(|e| ToolError::failed(format!("could not log the call: {e}")))?;
        if self.hang {
            // The test kills the process here.
            std::future::pending::<()>().await;
        }
        Ok(ToolOutput::from(
            json!({"tool": self.name, "key": key, "input": input}),
        ))
    }
}
