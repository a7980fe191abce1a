//! One step's tool calls: run concurrently, each on its own task, results in the model's order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use agent_core::{
    AgentEvent, ContentBlock, MalformedToolInput, Tool, ToolCallError, ToolCallStatus, ToolContext,
    ToolError, ToolErrorKind, ToolInvocation, ToolOutput, ToolResult, ToolUse,
};
use serde_json::Value;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::RunState;
use crate::conversation::step_limit_prompt;
use crate::error::RunError;
use crate::telemetry;

impl RunState<'_> {
    /// Runs a step's tool calls concurrently, each on its own task so that a slow or blocking
    /// tool does not hold up the others and a panic stays inside its task. Results go back in
    /// the model's order; each is reported as it ends. Calls already `done` (a resumed step)
    /// are not run again.
    pub(super) async fn run_tools(
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

    pub(super) fn tool_names(&self) -> String {
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
}

/// A call's invocation once it ended.
pub(crate) fn ended_invocation(
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
pub(crate) fn invocation_result(call: &ToolUse, invocation: &ToolInvocation) -> ToolResult {
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
