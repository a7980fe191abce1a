//! The reasoning loop: call the model, run the tools it asks for, repeat until it answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use serde_json::Value;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::event::{RunEvent, RunObserver};
use crate::message::{ContentBlock, Message, Role, ToolResult, ToolUse};
use crate::model::{InferenceConfig, Model, ModelError, ModelRequest, ModelResponse};
use crate::reasoning::{
    Reasoning, ReasoningStep, RunFailure, RunStatus, ToolCallError, ToolCallStatus, ToolInvocation,
};
use crate::thinking::thinking_and_answer;
use crate::tool::{Tool, ToolError, ToolErrorKind, ToolSet};

/// The text sent with the "not run" tool results when a run reaches its step limit.
pub fn step_limit_prompt(max_steps: u32) -> String {
    format!(
        "Maximum number of tool use iterations ({max_steps}) reached. \
         Please provide a response with the information gathered so far."
    )
}

/// The message given to the model for a tool call skipped at the step limit.
pub const STEP_LIMIT_NOT_RUN: &str = "step limit reached; not run";

/// The message given to the model for a tool call left unanswered by an earlier run.
pub const EARLIER_RUN_NOT_RUN: &str = "the earlier run ended before this tool ran; not run";

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The model call failed (after the client's own retries).
    #[error("model call failed: {0}")]
    Model(#[from] ModelError),
}

impl RunError {
    /// A short, stable name of the error's kind, as stored in a failed run's trace.
    pub fn kind_name(&self) -> String {
        match self {
            RunError::Model(error) => format!("model.{}", error.kind().as_str()),
        }
    }
}

/// A finished run: the answer and the whole conversation including the run's own messages.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The final answer, with any `<thinking>` removed.
    pub response: String,
    /// The conversation: the history the run started from, then the run's messages.
    pub messages: Vec<Message>,
    /// Where the run's own messages start in [`RunOutput::messages`].
    pub first_new_message: usize,
}

impl RunOutput {
    /// The messages this run added: its query, the model's replies and the tool results.
    pub fn new_messages(&self) -> &[Message] {
        &self.messages[self.first_new_message..]
    }
}

/// The settings of the loop. Cheap to clone; shared by every run of an agent.
#[derive(Clone)]
pub struct AgentLoop {
    model: Arc<dyn Model>,
    tools: ToolSet,
    system_prompt: String,
    max_steps: u32,
    inference: InferenceConfig,
}

impl std::fmt::Debug for AgentLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLoop")
            .field("tools", &self.tools)
            .field("system_prompt", &self.system_prompt)
            .field("max_steps", &self.max_steps)
            .field("inference", &self.inference)
            .finish_non_exhaustive()
    }
}

impl AgentLoop {
    /// A loop over `model` with these tools. `max_steps` of 0 is raised to 1.
    pub fn new(
        model: Arc<dyn Model>,
        tools: ToolSet,
        system_prompt: impl Into<String>,
        max_steps: u32,
        inference: InferenceConfig,
    ) -> Self {
        Self {
            model,
            tools,
            system_prompt: system_prompt.into(),
            max_steps: max_steps.max(1),
            inference,
        }
    }

    /// The tools offered to the model.
    pub fn tools(&self) -> &ToolSet {
        &self.tools
    }

    /// The most tool steps a run takes before it asks for a final answer.
    pub fn max_steps(&self) -> u32 {
        self.max_steps
    }

    /// Runs one query on top of `history`, recording the trace in `reasoning` (made by
    /// [`Reasoning::start`] with the query) and reporting each event to `observer`.
    ///
    /// On success the trace is `completed`; on error it is `failed` with the error, and the
    /// observer has seen [`RunEvent::Failed`].
    pub async fn run(
        &self,
        history: Vec<Message>,
        reasoning: &mut Reasoning,
        observer: &dyn RunObserver,
    ) -> Result<RunOutput, RunError> {
        let span = tracing::info_span!(
            "agent.run",
            run_id = %reasoning.run_id,
            session_id = reasoning.session_id.as_deref().unwrap_or(""),
        );
        async {
            observer.on_event(RunEvent::Started, reasoning).await;
            let result = self.run_steps(history, reasoning, observer).await;
            reasoning.ended_at = Some(Timestamp::now());
            match result {
                Ok(output) => {
                    reasoning.status = RunStatus::Completed;
                    observer
                        .on_event(
                            RunEvent::Completed {
                                response: &output.response,
                            },
                            reasoning,
                        )
                        .await;
                    Ok(output)
                }
                Err(error) => {
                    tracing::warn!(%error, "run failed");
                    reasoning.status = RunStatus::Failed;
                    reasoning.error = Some(RunFailure {
                        kind: error.kind_name(),
                        message: error.to_string(),
                    });
                    observer.on_event(RunEvent::Failed, reasoning).await;
                    Err(error)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn run_steps(
        &self,
        mut history: Vec<Message>,
        reasoning: &mut Reasoning,
        observer: &dyn RunObserver,
    ) -> Result<RunOutput, RunError> {
        let first_new_message = history.len();
        push_user_turn(&mut history, &reasoning.query);
        let mut request = ModelRequest {
            messages: history,
            system: self.system_blocks(),
            tools: self.tools.specs().clone(),
            inference: self.inference.clone(),
        };
        loop {
            let response = self.call_model(&request, reasoning).await?;
            let tool_uses: Vec<ToolUse> = response.message.tool_uses().cloned().collect();
            let at_limit = reasoning.steps.len() as u32 >= self.max_steps;
            if tool_uses.is_empty() || reasoning.step_limit_reached {
                return Ok(self.finish(request.messages, first_new_message, response, reasoning));
            }
            let step_number = reasoning.steps.len() as u32 + 1;
            let step_span = tracing::info_span!("agent.step", step_number);
            let (thinking, _) = thinking_and_answer(&response.message);
            reasoning.steps.push(ReasoningStep {
                step_number,
                timestamp: Some(Timestamp::now()),
                thinking,
                tools: tool_uses.iter().map(running_invocation).collect(),
                usage: response.usage,
            });
            reasoning.total_steps = step_number;
            request.messages.push(response.message);
            let results = if at_limit {
                // The model still wants tools after max_steps: answer every pending toolUse so
                // the conversation stays valid for Converse, and ask for the final answer in the
                // same user message.
                reasoning.step_limit_reached = true;
                let mut blocks = Vec::with_capacity(tool_uses.len() + 1);
                for (index, tool_use) in tool_uses.iter().enumerate() {
                    let error = ToolError::new(ToolErrorKind::NotRun, STEP_LIMIT_NOT_RUN);
                    record_result(reasoning, index, &Err(error.clone()), 0);
                    blocks.push(ContentBlock::ToolResult(error_result(tool_use, &error)));
                }
                blocks.push(ContentBlock::Text(step_limit_prompt(self.max_steps)));
                emit_step_started(observer, reasoning).await;
                blocks
            } else {
                emit_step_started(observer, reasoning).await;
                self.run_tools(&tool_uses, reasoning, observer)
                    .instrument(step_span)
                    .await
            };
            request.messages.push(Message {
                role: Role::User,
                content: results,
            });
        }
    }

    fn system_blocks(&self) -> Vec<String> {
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let mut system = format!("Current time: {now}");
        if !self.system_prompt.is_empty() {
            system.push('\n');
            system.push_str(&self.system_prompt);
        }
        vec![system]
    }

    async fn call_model(
        &self,
        request: &ModelRequest,
        reasoning: &mut Reasoning,
    ) -> Result<ModelResponse, ModelError> {
        let span = tracing::info_span!("agent.model_call", messages = request.messages.len());
        let response = self.model.converse(request).instrument(span).await?;
        reasoning.usage += response.usage;
        reasoning.stop_reason = Some(response.stop_reason.clone());
        Ok(response)
    }

    fn finish(
        &self,
        mut messages: Vec<Message>,
        first_new_message: usize,
        response: ModelResponse,
        reasoning: &mut Reasoning,
    ) -> RunOutput {
        let (thinking, answer) = thinking_and_answer(&response.message);
        reasoning.final_thinking = thinking;
        reasoning.final_response = Some(answer.clone());
        let mut message = response.message;
        // Only the reply to the step-limit prompt can still ask for tools here. Nothing will
        // answer those toolUse blocks, and Converse rejects a conversation that leaves one
        // unanswered, so they are dropped: every run's messages then end on a complete turn,
        // and another run's messages can follow them as they are.
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
        if message.content.is_empty() {
            message
                .content
                .push(ContentBlock::Text(NO_ANSWER.to_owned()));
        }
        messages.push(message);
        RunOutput {
            response: answer,
            messages,
            first_new_message,
        }
    }

    /// Runs the step's tool calls concurrently, each on its own task so that a slow or blocking
    /// tool does not hold up the others and a panic stays inside its task. Results go back in
    /// the model's order; the trace and the observer see each one as it ends.
    async fn run_tools(
        &self,
        tool_uses: &[ToolUse],
        reasoning: &mut Reasoning,
        observer: &dyn RunObserver,
    ) -> Vec<ContentBlock> {
        let mut results: Vec<Option<Result<Value, ToolError>>> = vec![None; tool_uses.len()];
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::with_capacity(tool_uses.len());
        for (index, tool_use) in tool_uses.iter().enumerate() {
            let Some(tool) = self.tools.get(&tool_use.name).cloned() else {
                let error = ToolError::new(
                    ToolErrorKind::UnknownTool,
                    format!(
                        "no tool named `{}`; available tools: {}",
                        tool_use.name,
                        self.tool_names()
                    ),
                );
                self.tool_ended(reasoning, observer, index, &Err(error.clone()), 0)
                    .await;
                results[index] = Some(Err(error));
                continue;
            };
            let input = tool_use.input.clone();
            let span = tracing::info_span!("agent.tool_call", tool = %tool_use.name, tool_use_id = %tool_use.tool_use_id);
            let handle = tasks.spawn(call_tool(tool, input).instrument(span));
            task_index.insert(handle.id(), index);
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(join_error) => {
                    let id = join_error.id();
                    let message = if join_error.is_panic() {
                        panic_message(join_error.into_panic())
                    } else {
                        "the tool's task was cancelled".to_owned()
                    };
                    let error = ToolError::new(ToolErrorKind::Panicked, message);
                    (id, (Err(error), 0))
                }
            };
            let Some(index) = task_index.get(&id).copied() else {
                continue;
            };
            let (result, millis) = outcome;
            self.tool_ended(reasoning, observer, index, &result, millis)
                .await;
            results[index] = Some(result);
        }
        tool_uses
            .iter()
            .zip(results)
            .map(|(tool_use, result)| {
                let result = result.unwrap_or_else(|| {
                    Err(ToolError::new(
                        ToolErrorKind::Panicked,
                        "the tool gave no result",
                    ))
                });
                ContentBlock::ToolResult(match result {
                    Ok(value) => ToolResult::success(&tool_use.tool_use_id, value),
                    Err(error) => error_result(tool_use, &error),
                })
            })
            .collect()
    }

    async fn tool_ended(
        &self,
        reasoning: &mut Reasoning,
        observer: &dyn RunObserver,
        index: usize,
        result: &Result<Value, ToolError>,
        millis: u64,
    ) {
        record_result(reasoning, index, result, millis);
        if let Some(step) = reasoning.steps.last()
            && let Some(tool) = step.tools.get(index)
        {
            observer
                .on_event(RunEvent::ToolFinished { step, tool }, reasoning)
                .await;
        }
    }

    fn tool_names(&self) -> String {
        let names: Vec<&str> = self
            .tools
            .specs()
            .iter()
            .map(|spec| spec.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// The error `toolResult` the model gets: what kind of failure, which tool, and the message.
fn error_result(tool_use: &ToolUse, error: &ToolError) -> ToolResult {
    ToolResult::error(
        &tool_use.tool_use_id,
        format!("{} `{}`: {}", error.kind(), tool_use.name, error.message()),
    )
}

async fn call_tool(tool: Arc<dyn Tool>, input: Value) -> (Result<Value, ToolError>, u64) {
    let started = Instant::now();
    let result = tool.call(input).await;
    if let Err(error) = &result {
        tracing::warn!(%error, "tool call failed");
    }
    (result, started.elapsed().as_millis() as u64)
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("the tool panicked: {detail}")
}

async fn emit_step_started(observer: &dyn RunObserver, reasoning: &Reasoning) {
    if let Some(step) = reasoning.steps.last() {
        observer
            .on_event(RunEvent::StepStarted { step }, reasoning)
            .await;
    }
}

fn running_invocation(tool_use: &ToolUse) -> ToolInvocation {
    ToolInvocation {
        name: tool_use.name.clone(),
        tool_use_id: tool_use.tool_use_id.clone(),
        inputs: tool_use.input.clone(),
        result: None,
        status: ToolCallStatus::Running,
        error: None,
        duration_ms: None,
    }
}

fn record_result(
    reasoning: &mut Reasoning,
    index: usize,
    result: &Result<Value, ToolError>,
    millis: u64,
) {
    let Some(invocation) = reasoning
        .steps
        .last_mut()
        .and_then(|step| step.tools.get_mut(index))
    else {
        return;
    };
    invocation.duration_ms = Some(millis);
    match result {
        Ok(value) => {
            invocation.status = ToolCallStatus::Succeeded;
            invocation.result = Some(value.clone());
        }
        Err(error) => {
            invocation.status = ToolCallStatus::Failed;
            invocation.error = Some(ToolCallError {
                kind: error.kind(),
                message: error.message().to_owned(),
            });
        }
    }
}

/// Appends the query as a user turn, keeping the conversation valid for Converse without
/// changing the messages already there (stores append; they never rewrite history):
/// toolUse blocks nobody answered (a run that stopped on its last allowed model reply) get
/// "not run" results in the new turn, and a history that ends with a user message (written by
/// another program) gets an empty-handed assistant reply first so that roles alternate.
fn push_user_turn(history: &mut Vec<Message>, query: &str) {
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
    blocks.push(ContentBlock::Text(query.to_owned()));
    history.push(Message {
        role: Role::User,
        content: blocks,
    });
}

/// The text stored for a final reply that held nothing but tool requests.
pub const NO_ANSWER: &str = "(no answer)";

/// The assistant turn inserted between two user messages found in a stored history.
pub const NO_REPLY: &str = "(no reply was recorded for the previous message)";
