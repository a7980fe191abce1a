//! One step's tool calls: decided (recorded results, decisions, hooks), recorded as started,
//! run concurrently, each on its own task, results in the model's order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use agent_core::{
    AgentEvent, ContentBlock, Interrupt, InterruptDecision, MalformedToolInput, Tool,
    ToolCallError, ToolCallStatus, ToolContext, ToolEffect, ToolError, ToolErrorKind,
    ToolInvocation, ToolOutput, ToolResult, ToolUse,
};
use serde_json::Value;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::RunState;
use super::resume::PendingStep;
use crate::conversation::step_limit_prompt;
use crate::error::RunError;
use crate::hooks::{CallDecision, ToolCallView, always_approved, remember_always_approved};
use crate::telemetry;

/// How a step's tool calls ended.
pub(super) enum StepEnd {
    /// Every call has a result: the user message answering them.
    Answered(Vec<ContentBlock>),
    /// Some calls wait for a person's decision; the others ran.
    Paused,
}

/// What the run does with one call of the step.
enum Plan {
    /// It has its result already (recorded, refused, denied, answered).
    Ended(ToolInvocation, Option<ToolOutput>),
    /// Run the tool with this input (`true`: a person approved it).
    Run(Arc<dyn Tool>, Value, bool),
    /// Hold it for a person.
    Hold(Interrupt),
    /// Still held: no decision yet.
    StillHeld,
}

impl RunState<'_> {
    /// Runs a step's tool calls. Every call is decided first (a recorded result, a decision
    /// on a held call, the hooks), so a hook that stops the run stops it before any tool of
    /// the step ran; the calls to run are recorded as started (the loop waits for the run's
    /// event log before running a tool that must not run twice) and run concurrently, each on
    /// its own task so that a slow or blocking tool does not hold up the others and a panic
    /// stays inside its task. Results go back in the model's order; each is reported as it
    /// ends. When calls are held, the others still run and the step ends [`StepEnd::Paused`].
    pub(super) async fn run_tools(
        &mut self,
        step: u32,
        calls: &[ToolUse],
        malformed: &[MalformedToolInput],
        resumed: Option<&PendingStep>,
    ) -> Result<StepEnd, RunError> {
        let config = self.config;
        let hooks = &config.hooks;
        let mut plans = Vec::with_capacity(calls.len());
        for call in calls {
            let plan = self.plan_call(step, call, malformed, resumed).await;
            match plan {
                Ok(plan) => plans.push(plan),
                Err(reason) => return Err(RunError::Stopped { reason }),
            }
        }
        let mut invocations: Vec<Option<ToolInvocation>> = vec![None; calls.len()];
        let mut outputs: Vec<Option<ToolOutput>> = vec![None; calls.len()];
        let mut held = Vec::new();
        let mut still_held = false;
        let mut to_run = Vec::new();
        let mut ended_here = Vec::new();
        let mut approved_calls = std::collections::HashSet::new();
        for (index, plan) in plans.into_iter().enumerate() {
            match plan {
                Plan::Ended(invocation, output) => {
                    let recorded = resumed.is_some_and(|pending| {
                        pending.done.contains_key(&calls[index].tool_use_id)
                    });
                    if !recorded {
                        self.emit(AgentEvent::ToolResult {
                            step,
                            invocation: invocation.clone(),
                        });
                        ended_here.push(index);
                    }
                    invocations[index] = Some(invocation);
                    outputs[index] = output;
                }
                Plan::Run(tool, input, approved) => {
                    if approved {
                        approved_calls.insert(index);
                    }
                    to_run.push((index, tool, input));
                }
                Plan::Hold(interrupt) => held.push(interrupt),
                Plan::StillHeld => still_held = true,
            }
        }

        // Recorded as started before they run: a run resumed after a crash knows which calls
        // may have had their effect.
        for (index, tool, _) in &to_run {
            self.emit(AgentEvent::ToolExecutionStarted {
                step,
                tool_use_id: calls[*index].tool_use_id.clone(),
                name: tool.name().to_owned(),
            });
        }
        let must_record = to_run
            .iter()
            .any(|(_, tool, _)| tool.effect() == ToolEffect::AtMostOnce);
        if must_record
            && let Some(log) = self.event_log.clone()
            && !log.flush().await
        {
            let mut kept = Vec::with_capacity(to_run.len());
            for (index, tool, input) in to_run {
                if tool.effect() == ToolEffect::AtMostOnce {
                    let error = ToolError::new(
                        ToolErrorKind::Unavailable,
                        "not run: the run's log could not record that it started, and this tool must not run twice",
                    );
                    let invocation = ended_invocation(&calls[index], Err(&error), 0);
                    self.emit(AgentEvent::ToolResult {
                        step,
                        invocation: invocation.clone(),
                    });
                    invocations[index] = Some(invocation);
                    ended_here.push(index);
                } else {
                    kept.push((index, tool, input));
                }
            }
            to_run = kept;
        }

        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::with_capacity(to_run.len());
        let mut run_inputs: HashMap<usize, Value> = HashMap::with_capacity(to_run.len());
        let tool_cancellation = self.cancellation.child_token();
        for (index, tool, input) in to_run {
            let call = &calls[index];
            let context = ToolContext::new(self.reasoning.run_id, &call.tool_use_id)
                .with_session(self.reasoning.session_id.clone())
                .with_cancellation(tool_cancellation.clone())
                .with_extensions(self.config.extensions.clone())
                .with_session_state(self.state.clone())
                .with_approved(approved_calls.contains(&index));
            let span = telemetry::execute_tool(
                &self.config.identity,
                call,
                self.reasoning.session_id.as_deref(),
                self.config.capture_content,
            );
            let capture = self.config.capture_content;
            run_inputs.insert(index, input.clone());
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
                        if invocations[index].is_none() && run_inputs.contains_key(&index) {
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
            // The invocation shows the input the tool ran with (a hook or a person may have
            // changed the model's).
            let call = match run_inputs.get(&index) {
                Some(input) if *input != calls[index].input => ToolUse {
                    input: input.clone(),
                    ..calls[index].clone()
                },
                _ => calls[index].clone(),
            };
            let (invocation, output) = match result {
                Ok(output) => (ended_invocation(&call, Ok(&output), millis), Some(output)),
                // The tool asks for approval before doing anything: held, as if it had asked
                // up front (once approved, asking again is a failure, not another hold).
                Err(error)
                    if *error.kind() == ToolErrorKind::NeedsApproval
                        && !approved_calls.contains(&index) =>
                {
                    let expires_at = self.interrupt_expiry();
                    held.push(
                        Interrupt::new(
                            step,
                            &call.tool_use_id,
                            &call.name,
                            call.input.clone(),
                            error.message(),
                        )
                        .with_expiry(expires_at),
                    );
                    continue;
                }
                Err(error) => (ended_invocation(&call, Err(&error), millis), None),
            };
            self.emit(AgentEvent::ToolResult {
                step,
                invocation: invocation.clone(),
            });
            invocations[index] = Some(invocation);
            outputs[index] = output;
            ended_here.push(index);
        }

        let mut stop = None;
        if !hooks.is_empty() {
            for index in ended_here {
                let (Some(invocation), call) = (&invocations[index], &calls[index]) else {
                    continue;
                };
                let tool = self.config.tools.get(&call.name);
                let view = ToolCallView {
                    tool_use_id: &call.tool_use_id,
                    name: &call.name,
                    input: &invocation.inputs,
                    approval: tool.and_then(|tool| tool.approval()),
                    effect: tool.map_or(ToolEffect::AtMostOnce, |tool| tool.effect()),
                };
                let context = self.hook_context();
                if let Some(reason) = hooks.after_call(&context, &view, invocation).await {
                    stop.get_or_insert(reason);
                }
            }
        }
        if let Some(reason) = stop {
            return Err(RunError::Stopped { reason });
        }

        if !held.is_empty() || still_held {
            self.record_state_changes(step);
            for interrupt in held {
                self.emit(AgentEvent::InterruptRequested { step, interrupt });
            }
            return Ok(StepEnd::Paused);
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
        Ok(StepEnd::Answered(blocks))
    }

    /// What to do with one call: `Err` is a hook's reason to stop the run.
    async fn plan_call(
        &mut self,
        step: u32,
        call: &ToolUse,
        malformed: &[MalformedToolInput],
        resumed: Option<&PendingStep>,
    ) -> Result<Plan, String> {
        let id = &call.tool_use_id;
        if let Some(invocation) = resumed.and_then(|pending| pending.done.get(id)) {
            return Ok(Plan::Ended(invocation.clone(), None));
        }
        if let Some(bad) = malformed.iter().find(|m| m.tool_use_id == *id) {
            let error = ToolError::invalid_input(format!(
                "{}; the input was: {}",
                bad.error,
                shorten(&bad.raw, 2000)
            ));
            let mut invocation = ended_invocation(call, Err(&error), 0);
            invocation.inputs = Value::String(bad.raw.clone());
            return Ok(Plan::Ended(invocation, None));
        }
        let Some(tool) = self.config.tools.get(&call.name).cloned() else {
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
            return Ok(Plan::Ended(ended_invocation(call, Err(&error), 0), None));
        };
        // A held call: what was decided, if anything.
        if let Some(interrupt) = resumed.and_then(|pending| pending.held.get(id)) {
            let now = self.config.clock.now();
            let decision = match resumed.and_then(|pending| pending.decisions.get(id)) {
                Some(decision) => decision.clone(),
                None if interrupt.is_expired(now) => {
                    self.emit(AgentEvent::InterruptAnswered {
                        step,
                        interrupt_id: id.clone(),
                        decision: InterruptDecision::Expired,
                        answered_at: now,
                    });
                    InterruptDecision::Expired
                }
                None => return Ok(Plan::StillHeld),
            };
            let held_call = ToolUse {
                input: interrupt.input.clone(),
                ..call.clone()
            };
            let denied = |message: &str| {
                let error = ToolError::new(ToolErrorKind::Denied, message);
                Plan::Ended(ended_invocation(&held_call, Err(&error), 0), None)
            };
            return Ok(match decision {
                InterruptDecision::Approve => Plan::Run(tool, interrupt.input.clone(), true),
                InterruptDecision::ApproveAlways { this_input_only } => {
                    remember_always_approved(
                        &self.state,
                        &call.name,
                        this_input_only.then_some(&interrupt.input),
                    );
                    Plan::Run(tool, interrupt.input.clone(), true)
                }
                InterruptDecision::ApproveWithInput { input } => Plan::Run(tool, input, true),
                InterruptDecision::Deny { message } => denied(&message),
                InterruptDecision::Answer { output } => {
                    let output = ToolOutput::Value(output);
                    Plan::Ended(ended_invocation(&held_call, Ok(&output), 0), Some(output))
                }
                InterruptDecision::Expired => {
                    denied("nobody decided on this call before it expired; it was not run")
                }
                _ => denied(
                    "the decision on this call is not one this version knows; it was not run",
                ),
            });
        }
        // Started by an earlier process, with no recorded result.
        if resumed.is_some_and(|pending| pending.started.contains(id))
            && tool.effect() == ToolEffect::AtMostOnce
        {
            let error = ToolError::new(
                ToolErrorKind::OutcomeUnknown,
                "this call started before the run stopped and its result was not recorded: \
                 whether it had its effect is unknown, and it is not run again",
            );
            return Ok(Plan::Ended(ended_invocation(call, Err(&error), 0), None));
        }
        let view = ToolCallView {
            tool_use_id: id,
            name: &call.name,
            input: &call.input,
            approval: tool.approval(),
            effect: tool.effect(),
        };
        let context = self.hook_context();
        let decision = self.config.hooks.decide_call(&context, &view).await;
        Ok(match decision {
            CallDecision::Run(input) => Plan::Run(tool, input, false),
            CallDecision::Deny(message) => {
                let error = ToolError::new(ToolErrorKind::Denied, message);
                Plan::Ended(ended_invocation(call, Err(&error), 0), None)
            }
            CallDecision::Interrupt(_, input)
                if always_approved(&self.state, &call.name, &input) =>
            {
                Plan::Run(tool, input, true)
            }
            CallDecision::Interrupt(reason, input) => {
                let expires_at = self.interrupt_expiry();
                Plan::Hold(
                    Interrupt::new(step, id, &call.name, input, reason).with_expiry(expires_at),
                )
            }
            CallDecision::Stop(reason) => return Err(reason),
        })
    }

    /// When a call held now stops waiting.
    fn interrupt_expiry(&self) -> Option<jiff::Timestamp> {
        let ttl = self.config.interrupt_ttl.or(self.interrupt_ttl)?;
        let ttl = jiff::SignedDuration::try_from(ttl).ok()?;
        self.config.clock.now().checked_add(ttl).ok()
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
