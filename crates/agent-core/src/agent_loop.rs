//! The reasoning loop: call the model, run the tools it asks for, repeat until it answers.
//!
//! One loop serves every way of running: `run` is the event stream driven to completion, and a
//! session run is the same loop with a store writing what the events say. The loop keeps its
//! trace by folding its own events ([`Reasoning::apply`]), so a trace rebuilt from a stored
//! event log is the trace the loop had.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::assemble::ReplyAssembler;
use crate::event::{AgentEvent, EventSink};
use crate::message::{ContentBlock, Message, Role, ToolResult, ToolUse};
use crate::model::{
    ConversionCache, InferenceConfig, MalformedToolInput, Model, ModelError, ModelErrorKind,
    ModelIdentity, ModelRequest, ModelResponse, StopReason, ToolChoice, ToolSpec,
};
use crate::reasoning::{Reasoning, RunStatus, ToolCallError, ToolCallStatus, ToolInvocation};
use crate::result::{FailedRun, RunError, RunOutcome, RunResult};
use crate::telemetry;
use crate::tool::{Extensions, Tool, ToolContext, ToolError, ToolErrorKind, ToolOutput, ToolSet};

/// The text sent with the "not run" tool results when a run reaches its step limit.
pub fn step_limit_prompt(max_steps: u32) -> String {
    format!(
        "Maximum number of tool use iterations ({max_steps}) reached. \
         Please provide a response with the information gathered so far, without calling tools."
    )
}

/// The message given to the model for a tool call skipped at the step limit.
pub const STEP_LIMIT_NOT_RUN: &str = "step limit reached; not run";

/// The message given to the model for a tool call left unanswered by an earlier run.
pub const EARLIER_RUN_NOT_RUN: &str = "the earlier run ended before this tool ran; not run";

/// The text stored for a final reply that held nothing but tool requests.
pub const NO_ANSWER: &str = "(no answer)";

/// The assistant turn inserted between two user messages found in a stored history.
pub const NO_REPLY: &str = "(no reply was recorded for the previous message)";

/// The default number of times a model call whose stream broke off is made again.
pub const DEFAULT_STREAM_RETRIES: u32 = 2;

/// How many times one run may compact its history after the model said it was too long.
const MAX_COMPACTIONS: u32 = 3;

/// The settings of the loop. Cheap to clone; shared by every run of an agent.
#[derive(Clone)]
pub struct AgentLoop {
    config: Arc<LoopConfig>,
}

#[derive(Clone)]
struct LoopConfig {
    model: Arc<dyn Model>,
    identity: ModelIdentity,
    tools: ToolSet,
    system_prompt: String,
    max_steps: u32,
    inference: InferenceConfig,
    tool_choice: Option<ToolChoice>,
    stream_retries: u32,
    extensions: Extensions,
    capture_content: bool,
    name: String,
}

impl std::fmt::Debug for AgentLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        f.debug_struct("AgentLoop")
            .field("model", &c.identity)
            .field("tools", &c.tools)
            .field("system_prompt", &c.system_prompt)
            .field("max_steps", &c.max_steps)
            .field("inference", &c.inference)
            .finish_non_exhaustive()
    }
}

impl AgentLoop {
    /// A loop over `model` offering `tools`, with a step limit of 5 and no system prompt.
    pub fn new(model: Arc<dyn Model>, tools: ToolSet) -> Self {
        let identity = model.identity();
        Self {
            config: Arc::new(LoopConfig {
                model,
                identity,
                tools,
                system_prompt: String::new(),
                max_steps: 5,
                inference: InferenceConfig::default(),
                tool_choice: None,
                stream_retries: DEFAULT_STREAM_RETRIES,
                extensions: Extensions::default(),
                capture_content: false,
                name: "minimalagent".to_owned(),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut LoopConfig)) -> Self {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// The system prompt, sent after a line with the current UTC time.
    #[must_use]
    pub fn with_system_prompt(self, prompt: impl Into<String>) -> Self {
        let prompt = prompt.into();
        self.configure(|c| c.system_prompt = prompt)
    }

    /// The most tool steps a run takes before it asks for a final answer (0 is raised to 1).
    #[must_use]
    pub fn with_max_steps(self, max_steps: u32) -> Self {
        self.configure(|c| c.max_steps = max_steps.max(1))
    }

    /// Inference settings sent with every request.
    #[must_use]
    pub fn with_inference(self, inference: InferenceConfig) -> Self {
        self.configure(|c| c.inference = inference)
    }

    /// How the model must choose among the tools (default: left to the model).
    #[must_use]
    pub fn with_tool_choice(self, choice: Option<ToolChoice>) -> Self {
        self.configure(|c| c.tool_choice = choice)
    }

    /// How many times a model call whose stream broke off (or was throttled mid-stream) is made
    /// again before the run fails (default [`DEFAULT_STREAM_RETRIES`]).
    #[must_use]
    pub fn with_stream_retries(self, retries: u32) -> Self {
        self.configure(|c| c.stream_retries = retries)
    }

    /// Values shared with every tool call ([`ToolContext::state`]).
    #[must_use]
    pub fn with_extensions(self, extensions: Extensions) -> Self {
        self.configure(|c| c.extensions = extensions)
    }

    /// Whether spans carry message content (prompts, answers, tool arguments and results).
    /// Off by default: content may be private.
    #[must_use]
    pub fn with_content_in_spans(self, capture: bool) -> Self {
        self.configure(|c| c.capture_content = capture)
    }

    /// The agent's name in traces (`gen_ai.agent.name`; default `minimalagent`).
    #[must_use]
    pub fn with_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.configure(|c| c.name = name)
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.config.model
    }

    /// The tools offered to the model.
    pub fn tools(&self) -> &ToolSet {
        &self.config.tools
    }

    /// The most tool steps a run takes before it asks for a final answer.
    pub fn max_steps(&self) -> u32 {
        self.config.max_steps
    }

    /// The agent's name in traces.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Runs one query, reporting every event to `sink`.
    ///
    /// The trace it returns (in the result or the failure) is the fold of the events `sink`
    /// saw. The loop does not report the end of the run (`RunFinished`, `RunEnded`): its caller
    /// does, once it has done what it must with the result (a session commits it first).
    pub async fn run(&self, input: RunInput, sink: &dyn EventSink) -> Result<RunResult, FailedRun> {
        let c = &self.config;
        let span = telemetry::invoke_agent(
            &c.identity,
            &c.name,
            input.session_id.as_deref(),
            input.run_id,
        );
        let run = async {
            let mut state = RunState::start(c, input, sink);
            let outcome = state.drive().await;
            state.end(outcome)
        };
        let result = run.instrument(span.clone()).await;
        match &result {
            Ok(result) => telemetry::record_run_end(&span, &result.usage, None),
            Err(failed) => telemetry::record_run_end(
                &span,
                &failed.reasoning.usage,
                Some(failed.error.kind_name().as_str()),
            ),
        }
        result
    }
}

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
    /// The conversation the run continues (empty without a session).
    pub history: Vec<Message>,
    /// The user's turn: text, and any images or documents.
    pub query: Vec<ContentBlock>,
    /// Extra system prompt blocks for this run (a summary of earlier turns).
    pub context_notes: Vec<String>,
    /// Cancels the run.
    pub cancellation: CancellationToken,
    /// Asks for an answer of a given shape.
    pub structured: Option<StructuredAnswer>,
    /// Makes the history smaller when the model says the request is too long.
    pub compactor: Option<Arc<dyn ContextCompactor>>,
    /// The durable events of an interrupted run to continue (see [`RunInput::resuming`]).
    pub resume: Vec<AgentEvent>,
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
            context_notes: Vec::new(),
            cancellation: CancellationToken::new(),
            structured: None,
            compactor: None,
            resume: Vec::new(),
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
    async fn compact(&self, history: &[Message]) -> Option<Compacted>;
}

/// A compacted history.
#[derive(Debug, Clone, Default)]
pub struct Compacted {
    /// The messages to send instead of the history; they start with a user text message.
    pub history: Vec<Message>,
    /// System prompt blocks replacing the run's context notes (for example a summary).
    pub context_notes: Vec<String>,
}

/// Everything one run keeps while it goes.
struct RunState<'a> {
    config: &'a LoopConfig,
    sink: &'a dyn EventSink,
    reasoning: Reasoning,
    request: ModelRequest,
    /// Where the run's own messages start in `request.messages`.
    first_new: usize,
    cancellation: CancellationToken,
    structured: Option<StructuredAnswer>,
    structured_failures: u32,
    compactor: Option<Arc<dyn ContextCompactor>>,
    compactions: u32,
    context_notes: Vec<String>,
    /// The model call under way (1 for the first).
    step: u32,
    /// The text of the reply being received, kept for a cancelled run.
    partial_text: String,
    /// A final answer already recorded by an interrupted run (resume).
    resumed_final: Option<ModelResponse>,
    /// The tool results of an interrupted step that were recorded (resume).
    resumed_tools: Option<PendingStep>,
}

/// A step whose tools an interrupted run had started.
struct PendingStep {
    step: u32,
    message: Message,
    done: HashMap<String, ToolInvocation>,
}

enum Ended {
    Answered(Box<ModelResponse>, Option<Value>),
    Failed(RunError),
}

impl<'a> RunState<'a> {
    fn start(config: &'a LoopConfig, input: RunInput, sink: &'a dyn EventSink) -> Self {
        let RunInput {
            run_id,
            session_id,
            started_at,
            history,
            query,
            context_notes,
            cancellation,
            structured,
            compactor,
            resume,
        } = input;
        let mut tools: Vec<ToolSpec> = config.tools.specs().to_vec();
        let mut tool_choice = config.tool_choice.clone();
        if let Some(answer) = &structured {
            tools.push(ToolSpec {
                name: answer.tool_name.clone(),
                description: answer.description.clone(),
                input_schema: answer.schema.clone(),
            });
            tool_choice = Some(ToolChoice::Any);
        }
        let mut messages = history;
        let first_new = messages.len();
        push_user_turn(&mut messages, query.clone());
        let mut state = Self {
            config,
            sink,
            reasoning: Reasoning::start("", session_id.clone()),
            request: ModelRequest {
                messages,
                system: Vec::new(),
                tools: tools.into(),
                tool_choice,
                inference: config.inference.clone(),
                cache: ConversionCache::default(),
            },
            first_new,
            cancellation,
            structured,
            structured_failures: 0,
            compactor,
            compactions: 0,
            context_notes,
            step: 0,
            partial_text: String::new(),
            resumed_final: None,
            resumed_tools: None,
        };
        state.request.system = state.system_blocks();
        if resume.is_empty() {
            state.emit(AgentEvent::RunStarted {
                run_id,
                session_id,
                query: Message::user(query).text(),
                started_at: started_at.unwrap_or_else(Timestamp::now),
            });
        } else {
            state.replay(&resume);
        }
        state
    }

    fn emit(&mut self, event: AgentEvent) {
        self.reasoning.apply(&event);
        self.sink.emit(&event);
    }

    fn system_blocks(&self) -> Vec<String> {
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let mut system = format!("Current time: {now}");
        if !self.config.system_prompt.is_empty() {
            system.push('\n');
            system.push_str(&self.config.system_prompt);
        }
        if let Some(answer) = &self.structured {
            system.push_str(&format!(
                "\nWhen you have the answer, give it by calling the `{}` tool; do not answer in text.",
                answer.tool_name
            ));
        }
        let mut blocks = vec![system];
        blocks.extend(self.context_notes.iter().cloned());
        blocks
    }

    /// Rebuilds an interrupted run's state from its durable events, without reporting them
    /// again.
    fn replay(&mut self, events: &[AgentEvent]) {
        for event in events {
            self.reasoning.apply(event);
            match event {
                AgentEvent::ModelReply {
                    step,
                    message,
                    stop_reason,
                    usage,
                    ..
                } => {
                    self.step = *step;
                    let is_step = message.tool_uses().next().is_some()
                        && self.reasoning.steps.last().map(|s| s.step_number) == Some(*step);
                    if is_step {
                        self.request.messages.push(message.clone());
                        self.resumed_tools = Some(PendingStep {
                            step: *step,
                            message: message.clone(),
                            done: HashMap::new(),
                        });
                    } else {
                        self.resumed_final = Some(
                            ModelResponse::new(message.clone(), stop_reason.clone())
                                .with_usage(*usage),
                        );
                    }
                }
                AgentEvent::ToolResult { invocation, .. } => {
                    if let Some(pending) = &mut self.resumed_tools {
                        pending
                            .done
                            .insert(invocation.tool_use_id.clone(), invocation.clone());
                    }
                }
                AgentEvent::StepFinished { step } => {
                    if let Some(pending) = self.resumed_tools.take()
                        && pending.step == *step
                    {
                        let blocks = self.result_blocks(&pending.message, &pending.done);
                        self.request.messages.push(Message::user(blocks));
                    }
                }
                _ => {}
            }
        }
    }

    /// The user message answering a step's tool calls from their recorded invocations, with
    /// the step-limit prompt when the step was past the limit.
    fn result_blocks(
        &self,
        message: &Message,
        done: &HashMap<String, ToolInvocation>,
    ) -> Vec<ContentBlock> {
        let mut blocks: Vec<ContentBlock> = message
            .tool_uses()
            .map(|call| {
                let result = match done.get(&call.tool_use_id) {
                    Some(invocation) => invocation_result(call, invocation),
                    None => ToolResult::error(&call.tool_use_id, EARLIER_RUN_NOT_RUN),
                };
                ContentBlock::ToolResult(result)
            })
            .collect();
        if self.reasoning.step_limit_reached {
            blocks.push(ContentBlock::Text(step_limit_prompt(self.config.max_steps)));
        }
        blocks
    }

    async fn drive(&mut self) -> Ended {
        if let Some(response) = self.resumed_final.take() {
            return Ended::Answered(Box::new(response), None);
        }
        if let Some(pending) = self.resumed_tools.take() {
            let calls: Vec<ToolUse> = pending.message.tool_uses().cloned().collect();
            let result = self
                .run_tools(pending.step, &calls, &[], Some(&pending.done))
                .await;
            match result {
                Ok(blocks) => {
                    self.emit(AgentEvent::StepFinished { step: pending.step });
                    self.request.messages.push(Message::user(blocks));
                }
                Err(error) => return Ended::Failed(error),
            }
        }
        loop {
            self.step += 1;
            let response = match self.call_model().await {
                Ok(response) => response,
                Err(error) => return Ended::Failed(error),
            };
            let calls: Vec<ToolUse> = response.message.tool_uses().cloned().collect();
            if let Some(answer) = self.structured.clone() {
                match self.structured_reply(&answer, &response, &calls) {
                    StructuredStep::Done(value) => {
                        return Ended::Answered(Box::new(response), Some(value));
                    }
                    StructuredStep::Failed(error) => return Ended::Failed(error),
                    StructuredStep::AskAgain(prompt) => {
                        self.emit_reply(&response);
                        self.request.messages.push(response.message);
                        self.request.messages.push(Message::user_text(prompt));
                        continue;
                    }
                    StructuredStep::Continue => {}
                }
            }
            if calls.is_empty() || self.reasoning.step_limit_reached {
                return Ended::Answered(Box::new(response), None);
            }
            let step = self.step;
            self.emit_reply(&response);
            let at_limit = self.reasoning.steps.len() > self.config.max_steps as usize;
            let ModelResponse {
                message,
                malformed_tool_inputs,
                ..
            } = response;
            self.request.messages.push(message);
            let blocks = if at_limit {
                self.emit(AgentEvent::StepLimitReached {
                    step,
                    max_steps: self.config.max_steps,
                });
                let mut blocks = Vec::with_capacity(calls.len() + 1);
                for call in &calls {
                    let error = ToolError::new(ToolErrorKind::NotRun, STEP_LIMIT_NOT_RUN);
                    let invocation = ended_invocation(call, Err(&error), 0);
                    blocks.push(ContentBlock::ToolResult(invocation_result(
                        call,
                        &invocation,
                    )));
                    self.emit(AgentEvent::ToolResult { step, invocation });
                }
                blocks.push(ContentBlock::Text(step_limit_prompt(self.config.max_steps)));
                blocks
            } else {
                match self
                    .run_tools(step, &calls, &malformed_tool_inputs, None)
                    .await
                {
                    Ok(blocks) => blocks,
                    Err(error) => return Ended::Failed(error),
                }
            };
            self.emit(AgentEvent::StepFinished { step });
            self.request.messages.push(Message::user(blocks));
        }
    }

    fn emit_reply(&mut self, response: &ModelResponse) {
        self.emit(AgentEvent::ModelReply {
            step: self.step,
            message: response.message.clone(),
            stop_reason: response.stop_reason.clone(),
            usage: response.usage,
            at: Timestamp::now(),
        });
    }

    /// Decides what a reply means for a structured answer.
    fn structured_reply(
        &mut self,
        answer: &StructuredAnswer,
        response: &ModelResponse,
        calls: &[ToolUse],
    ) -> StructuredStep {
        let final_call = calls.iter().find(|c| c.name == answer.tool_name).cloned();
        let candidate = match &final_call {
            Some(call) => Some(call.input.clone()),
            // A model that answers in text may still have written the JSON.
            None if calls.is_empty() => json_in_text(&response.message.text()),
            None => return StructuredStep::Continue,
        };
        let verdict = match &candidate {
            Some(value) => (answer.check)(value).map(|()| value.clone()),
            None => Err("the answer was text, not a call of the answer tool".to_owned()),
        };
        match verdict {
            Ok(value) => StructuredStep::Done(value),
            Err(error) => {
                self.structured_failures += 1;
                if self.structured_failures >= answer.max_attempts.max(1) {
                    return StructuredStep::Failed(RunError::InvalidStructuredAnswer {
                        attempts: self.structured_failures,
                        error,
                    });
                }
                match final_call {
                    // The call stays a tool step: its error result tells the model what to fix.
                    Some(_) => StructuredStep::Continue,
                    None => StructuredStep::AskAgain(format!(
                        "{error}. Give your answer by calling the `{}` tool.",
                        answer.tool_name
                    )),
                }
            }
        }
    }

    /// Calls the model, streaming, retrying a reply that broke off, compacting the history
    /// when the model says it is too long.
    async fn call_model(&mut self) -> Result<ModelResponse, RunError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.call_once().await;
            let error = match outcome {
                Ok(response) if response.stop_reason == StopReason::ModelContextWindowExceeded => {
                    ModelError::new(
                        ModelErrorKind::ContextWindowExceeded,
                        "the model stopped: its context window is exceeded",
                    )
                }
                Ok(response) => return Ok(response),
                Err(CallError::Cancelled) => return Err(RunError::Cancelled),
                Err(CallError::Model(error)) => error,
                // The request itself failed: the model's client has made its own retries.
                Err(CallError::Request(error)) => {
                    if error.kind() == ModelErrorKind::ContextWindowExceeded {
                        error
                    } else {
                        return Err(RunError::Model(error));
                    }
                }
            };
            if error.kind() == ModelErrorKind::ContextWindowExceeded {
                if self.compact().await {
                    attempt = 0;
                    continue;
                }
                return Err(RunError::ContextWindowExceeded {
                    session: self.reasoning.session_id.clone(),
                    messages: self.request.messages.len(),
                    estimated_tokens: estimate_tokens(&self.request.messages),
                });
            }
            let retry = error.is_retryable() && attempt <= self.config.stream_retries;
            if !retry {
                return Err(RunError::Model(error));
            }
            tracing::warn!(%error, attempt, "the model's reply broke off; calling again");
            self.sink.emit(&AgentEvent::ModelRetry {
                step: self.step,
                attempt,
                error: error.to_string(),
            });
            let backoff = Duration::from_millis(250 << (attempt - 1).min(4));
            tokio::select! {
                biased;
                () = self.cancellation.cancelled() => return Err(RunError::Cancelled),
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    async fn call_once(&mut self) -> Result<ModelResponse, CallError> {
        let c = self.config;
        let capture = c.capture_content.then_some((
            self.request.system.as_slice(),
            self.request.messages.as_slice(),
        ));
        let span = telemetry::chat(
            &c.identity,
            &self.request.inference,
            self.reasoning.session_id.as_deref(),
            self.step,
            capture,
        );
        let outcome = self.stream_reply().instrument(span.clone()).await;
        match &outcome {
            Ok(response) => telemetry::record_reply(&span, response, c.capture_content),
            Err(CallError::Model(error) | CallError::Request(error)) => {
                telemetry::record_error(&span, error.kind().as_str());
            }
            Err(CallError::Cancelled) => telemetry::record_error(&span, "cancelled"),
        }
        outcome
    }

    async fn stream_reply(&mut self) -> Result<ModelResponse, CallError> {
        let mut assembler = ReplyAssembler::new(self.step);
        let opened = tokio::select! {
            biased;
            () = self.cancellation.cancelled() => return Err(CallError::Cancelled),
            opened = self.config.model.converse_stream(&self.request) => opened,
        };
        let mut stream = opened.map_err(CallError::Request)?;
        loop {
            let next = tokio::select! {
                biased;
                () = self.cancellation.cancelled() => {
                    self.partial_text = assembler.text_so_far().to_owned();
                    return Err(CallError::Cancelled);
                }
                next = stream.next() => next,
            };
            match next {
                Some(Ok(event)) => assembler.push(event, self.sink).map_err(CallError::Model)?,
                Some(Err(error)) => return Err(CallError::Model(error)),
                None => break,
            }
        }
        assembler.finish().map_err(CallError::Model)
    }

    /// Replaces the history with a compacted one; false when it cannot be made smaller.
    async fn compact(&mut self) -> bool {
        if self.compactions >= MAX_COMPACTIONS {
            return false;
        }
        let Some(compactor) = self.compactor.clone() else {
            return false;
        };
        let history = &self.request.messages[..self.first_new];
        let Some(compacted) = compactor.compact(history).await else {
            return false;
        };
        if compacted.history.len() >= self.first_new
            && compacted.context_notes == self.context_notes
        {
            return false;
        }
        self.compactions += 1;
        tracing::info!(
            before = self.first_new,
            after = compacted.history.len(),
            "the request was too long for the model; the history was compacted"
        );
        let own = self.request.messages.split_off(self.first_new);
        self.first_new = compacted.history.len();
        self.request.messages = compacted.history;
        self.request.messages.extend(own);
        self.context_notes = compacted.context_notes;
        self.request.system = self.system_blocks();
        // The model's conversion of the old history no longer applies.
        self.request.cache = ConversionCache::default();
        true
    }

    /// Runs a step's tool calls concurrently, each on its own task so that a slow or blocking
    /// tool does not hold up the others and a panic stays inside its task. Results go back in
    /// the model's order; each is reported as it ends. Calls already `done` (a resumed step)
    /// are not run again.
    async fn run_tools(
        &mut self,
        step: u32,
        calls: &[ToolUse],
        malformed: &[MalformedToolInput],
        done: Option<&HashMap<String, ToolInvocation>>,
    ) -> Result<Vec<ContentBlock>, RunError> {
        let mut invocations: Vec<Option<ToolInvocation>> = vec![None; calls.len()];
        let mut outputs: Vec<Option<ToolOutput>> = vec![None; calls.len()];
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::with_capacity(calls.len());
        let tool_cancellation = self.cancellation.child_token();
        for (index, call) in calls.iter().enumerate() {
            if let Some(invocation) = done.and_then(|done| done.get(&call.tool_use_id)) {
                invocations[index] = Some(invocation.clone());
                continue;
            }
            if let Some(bad) = malformed.iter().find(|m| m.tool_use_id == call.tool_use_id) {
                let error = ToolError::invalid_input(format!(
                    "{}; the input was: {}",
                    bad.error,
                    shorten(&bad.raw, 2000)
                ));
                let mut invocation = ended_invocation(call, Err(&error), 0);
                invocation.inputs = Value::String(bad.raw.clone());
                self.emit(AgentEvent::ToolResult {
                    step,
                    invocation: invocation.clone(),
                });
                invocations[index] = Some(invocation);
                continue;
            }
            let tool = self.config.tools.get(&call.name).cloned();
            let Some(tool) = tool else {
                let error = self.structured_error(call).unwrap_or_else(|| {
                    ToolError::new(
                        ToolErrorKind::UnknownTool,
                        format!(
                            "no tool named `{}`; available tools: {}",
                            call.name,
                            self.tool_names()
                        ),
                    )
                });
                let invocation = ended_invocation(call, Err(&error), 0);
                self.emit(AgentEvent::ToolResult {
                    step,
                    invocation: invocation.clone(),
                });
                invocations[index] = Some(invocation);
                continue;
            };
            let context = ToolContext::new(self.reasoning.run_id, &call.tool_use_id)
                .with_session(self.reasoning.session_id.clone())
                .with_cancellation(tool_cancellation.clone())
                .with_extensions(self.config.extensions.clone());
            let span =
                telemetry::execute_tool(&self.config.identity, call, self.config.capture_content);
            let capture = self.config.capture_content;
            let input = call.input.clone();
            let handle = tasks
                .spawn(call_tool(tool, input, context, span.clone(), capture).instrument(span));
            task_index.insert(handle.id(), index);
        }
        while !tasks.is_empty() {
            let joined = tokio::select! {
                biased;
                () = self.cancellation.cancelled() => {
                    // The tools saw the token fire; stop waiting for them.
                    tasks.abort_all();
                    for (index, call) in calls.iter().enumerate() {
                        if invocations[index].is_none() {
                            let error = ToolError::new(ToolErrorKind::Cancelled, "the run was cancelled");
                            let invocation = ended_invocation(call, Err(&error), 0);
                            self.emit(AgentEvent::ToolResult { step, invocation });
                        }
                    }
                    return Err(RunError::Cancelled);
                }
                joined = tasks.join_next_with_id() => joined,
            };
            let Some(joined) = joined else { break };
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(join_error) => {
                    let id = join_error.id();
                    let message = if join_error.is_panic() {
                        panic_message(join_error.into_panic())
                    } else {
                        "the tool's task was cancelled".to_owned()
                    };
                    (
                        id,
                        (Err(ToolError::new(ToolErrorKind::Panicked, message)), 0),
                    )
                }
            };
            let Some(index) = task_index.get(&id).copied() else {
                continue;
            };
            let (result, millis) = outcome;
            let call = &calls[index];
            let (invocation, output) = match result {
                Ok(output) => (ended_invocation(call, Ok(&output), millis), Some(output)),
                Err(error) => (ended_invocation(call, Err(&error), millis), None),
            };
            self.emit(AgentEvent::ToolResult {
                step,
                invocation: invocation.clone(),
            });
            invocations[index] = Some(invocation);
            outputs[index] = output;
        }
        let mut blocks = Vec::with_capacity(calls.len() + 1);
        for (index, call) in calls.iter().enumerate() {
            let result = match (&invocations[index], &outputs[index]) {
                (_, Some(ToolOutput::Content(content))) => ToolResult {
                    tool_use_id: call.tool_use_id.clone(),
                    content: content.clone(),
                    status: None,
                },
                (Some(invocation), _) => invocation_result(call, invocation),
                (None, _) => ToolResult::error(&call.tool_use_id, "the tool gave no result"),
            };
            blocks.push(ContentBlock::ToolResult(result));
        }
        if self.reasoning.step_limit_reached {
            blocks.push(ContentBlock::Text(step_limit_prompt(self.config.max_steps)));
        }
        Ok(blocks)
    }

    /// The error result for a call of the structured-answer tool that did not fit.
    fn structured_error(&self, call: &ToolUse) -> Option<ToolError> {
        let answer = self.structured.as_ref()?;
        if answer.tool_name != call.name {
            return None;
        }
        let error = match (answer.check)(&call.input) {
            Ok(()) => return None,
            Err(error) => error,
        };
        Some(ToolError::invalid_input(format!(
            "the answer does not fit the required shape: {error}. Call `{}` again with a \
             corrected answer.",
            answer.tool_name
        )))
    }

    fn tool_names(&self) -> String {
        let names: Vec<&str> = self
            .request
            .tools
            .iter()
            .map(|spec| spec.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }

    /// Ends the run: the result, or the failure with what the run produced.
    fn end(mut self, ended: Ended) -> Result<RunResult, FailedRun> {
        match ended {
            Ended::Answered(response, structured) => {
                let response = *response;
                let message = match &structured {
                    Some(value) => structured_message(&response.message, value),
                    None => final_message(response.message),
                };
                let response = ModelResponse {
                    message,
                    ..response
                };
                self.emit_reply(&response);
                let ModelResponse {
                    mut message,
                    stop_reason,
                    ..
                } = response;
                if !message.content.iter().any(
                    |block| !matches!(block, ContentBlock::Text(text) if text.trim().is_empty()),
                ) {
                    message
                        .content
                        .push(ContentBlock::Text(NO_ANSWER.to_owned()));
                }
                self.request.messages.push(message);
                self.reasoning.status = RunStatus::Completed;
                self.reasoning.ended_at = Some(Timestamp::now());
                let response = self.reasoning.final_response.clone().unwrap_or_default();
                let messages = self.request.messages.split_off(self.first_new);
                let mut result = RunResult::new(response, self.reasoning, messages);
                result.stop_reason = stop_reason;
                result.outcome = RunOutcome::of(
                    &result.response,
                    &result.stop_reason,
                    result.step_limit_reached,
                );
                result.structured = structured;
                Ok(result)
            }
            Ended::Failed(error) => {
                tracing::warn!(%error, "run did not complete");
                self.reasoning.status = error.status();
                self.reasoning.ended_at = Some(Timestamp::now());
                self.reasoning.error = Some(error.to_failure());
                if error.status() == RunStatus::Cancelled && !self.partial_text.is_empty() {
                    let (thinking, answer) = crate::thinking::split_thinking(&self.partial_text);
                    self.reasoning.final_response = Some(answer);
                    if thinking.is_some() {
                        self.reasoning.final_thinking = thinking;
                    }
                }
                let mut messages = self.request.messages.split_off(self.first_new);
                // Keep complete steps only: a reply whose tools did not all answer goes.
                if messages
                    .last()
                    .is_some_and(|m| m.role == Role::Assistant && m.tool_uses().next().is_some())
                {
                    messages.pop();
                }
                Err(FailedRun::new(error, self.reasoning, messages))
            }
        }
    }
}

enum StructuredStep {
    Done(Value),
    Failed(RunError),
    AskAgain(String),
    Continue,
}

enum CallError {
    /// The reply broke off or was incomplete.
    Model(ModelError),
    /// The request failed before any of the reply arrived.
    Request(ModelError),
    Cancelled,
}

/// A final reply as it enters the conversation: tool calls nobody will answer are dropped (only
/// a reply to the step-limit prompt can still hold them).
fn final_message(mut message: Message) -> Message {
    let before = message.content.len();
    message
        .content
        .retain(|block| !matches!(block, ContentBlock::ToolUse(_)));
    if message.content.len() != before {
        tracing::warn!(
            dropped = before - message.content.len(),
            "the model asked for tools after the step limit; those requests were dropped"
        );
    }
    message
}

/// The final message of a structured answer: the reply's reasoning, then the answer as JSON
/// text, so the conversation holds the answer without an unanswered tool call.
fn structured_message(reply: &Message, answer: &Value) -> Message {
    let mut content: Vec<ContentBlock> = reply
        .content
        .iter()
        .filter(|block| matches!(block, ContentBlock::ReasoningContent(_)))
        .cloned()
        .collect();
    content.push(ContentBlock::Text(answer.to_string()));
    Message {
        role: Role::Assistant,
        content,
    }
}

/// The first JSON object in `text` (whole, or inside a code fence), if there is one.
fn json_in_text(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Some(value);
    }
    let start = trimmed.find('{')?;
    let end = trimmed.rfind('}')?;
    (start < end)
        .then(|| serde_json::from_str::<Value>(&trimmed[start..=end]).ok())
        .flatten()
        .filter(Value::is_object)
}

/// A call's invocation once it ended.
fn ended_invocation(
    call: &ToolUse,
    outcome: Result<&ToolOutput, &ToolError>,
    millis: u64,
) -> ToolInvocation {
    let mut invocation = ToolInvocation::running(call);
    invocation.duration_ms = Some(millis);
    match outcome {
        Ok(output) => {
            invocation.status = ToolCallStatus::Succeeded;
            invocation.result = Some(output.to_trace_value());
        }
        Err(error) => {
            invocation.status = ToolCallStatus::Failed;
            invocation.error = Some(ToolCallError {
                kind: error.kind().clone(),
                message: error.message().to_owned(),
            });
        }
    }
    invocation
}

/// The `toolResult` the model gets for an ended call: its value, or what kind of failure,
/// which tool, and the message.
fn invocation_result(call: &ToolUse, invocation: &ToolInvocation) -> ToolResult {
    match (&invocation.status, &invocation.error) {
        (ToolCallStatus::Succeeded, _) => ToolResult::success(
            &call.tool_use_id,
            invocation.result.clone().unwrap_or(Value::Null),
        ),
        (_, Some(error)) => ToolResult::error(
            &call.tool_use_id,
            format!("{} `{}`: {}", error.kind, call.name, error.message),
        ),
        _ => ToolResult::error(&call.tool_use_id, "the tool gave no result"),
    }
}

async fn call_tool(
    tool: Arc<dyn Tool>,
    input: Value,
    context: ToolContext,
    span: tracing::Span,
    capture: bool,
) -> (Result<ToolOutput, ToolError>, u64) {
    let started = Instant::now();
    let result = tool.call(input, &context).await;
    telemetry::record_tool_result(&span, &result, capture);
    if let Err(error) = &result {
        tracing::warn!(%error, "tool call failed");
    }
    (
        result,
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    )
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("the tool panicked: {detail}")
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars).collect();
    cut.push('…');
    cut
}

/// A rough token count of messages: a quarter of their JSON size. Enough to decide when to
/// window or summarise; the provider's count is the truth.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    let bytes: usize = messages
        .iter()
        .map(|m| serde_json::to_vec(m).map_or(0, |v| v.len()))
        .sum();
    (bytes as u64).div_ceil(4)
}

/// Appends the query as a user turn, keeping the conversation valid for Converse without
/// changing the messages already there (stores append; they never rewrite history):
/// toolUse blocks nobody answered (a run that stopped on its last allowed model reply) get
/// "not run" results in the new turn, and a history that ends with a user message (written by
/// another program) gets an empty-handed assistant reply first so that roles alternate.
fn push_user_turn(history: &mut Vec<Message>, query: Vec<ContentBlock>) {
    let mut blocks = Vec::new();
    match history.last() {
        Some(last) if last.role == Role::Assistant => {
            blocks.extend(last.tool_uses().map(|tool_use| {
                ContentBlock::ToolResult(ToolResult::error(
                    &tool_use.tool_use_id,
                    EARLIER_RUN_NOT_RUN,
                ))
            }));
        }
        Some(_) => history.push(Message::assistant_text(NO_REPLY)),
        None => {}
    }
    blocks.extend(query);
    history.push(Message::user(blocks));
}
