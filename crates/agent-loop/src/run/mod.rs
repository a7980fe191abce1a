//! One run: its state, the driver that alternates model calls and tool steps, and its end.
//!
//! The run's jobs each live in a module of their own, so that what happens before and after a
//! model call ([`model_call`]), around each tool call ([`tools`]), on resume ([`resume`]), for a
//! typed answer ([`structured`]) and when the history is too long ([`compaction`]) has one
//! place.

mod compaction;
mod model_call;
mod resume;
mod structured;
mod tools;

pub use compaction::estimate_tokens;

use std::sync::Arc;

use std::time::Duration;

use agent_core::{
    AgentEvent, ContentBlock, EventSink, Message, ModelRequest, ModelResponse, Reasoning, Role,
    RunOutcome, RunResult, RunStatus, StateChanges, StateHandle, ToolChoice, ToolError,
    ToolErrorKind, ToolSpec, ToolUse,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::LoopConfig;
use crate::conversation::{
    NO_ANSWER, STEP_LIMIT_NOT_RUN, final_message, push_user_turn, repair_history, step_limit_prompt,
};
use crate::error::{FailedRun, RunError};
use crate::hooks::HookContext;
use crate::input::{ContextCompactor, EventLog, RunInput, StructuredAnswer};
use resume::PendingStep;
use structured::{StructuredStep, structured_message};
use tools::{StepEnd, ended_invocation, invocation_result};

/// Everything one run keeps while it goes.
pub(crate) struct RunState<'a> {
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
    /// Whether the answer the run ends with was recorded before (resume): it is not reported
    /// again, so its usage is counted once.
    answer_recorded: bool,
    /// The tool results of an interrupted step that were recorded (resume).
    resumed_tools: Option<PendingStep>,
    /// Whether the run continues a recorded one (it does not start again).
    resuming: bool,
    /// The session's state as the run sees it.
    state: StateHandle,
    /// The run's state changes as last recorded ([`AgentEvent::StateChanged`]).
    recorded_changes: StateChanges,
    /// Where the run's events are recorded durably, if they are.
    event_log: Option<Arc<dyn EventLog>>,
    /// How long held calls wait, when the agent does not say.
    interrupt_ttl: Option<Duration>,
}

pub(crate) enum Ended {
    Answered(Box<ModelResponse>, Option<Value>),
    /// Calls wait for a person's decision.
    Paused,
    Failed(RunError),
}

impl<'a> RunState<'a> {
    pub(crate) fn start(config: &'a LoopConfig, input: RunInput, sink: &'a dyn EventSink) -> Self {
        let RunInput {
            run_id,
            session_id,
            started_at,
            history,
            query,
            conversion,
            context_notes,
            cancellation,
            structured,
            compactor,
            resume,
            state: session_state,
            event_log,
            interrupt_ttl,
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
        let structured_choice = structured.is_some();
        let mut messages = history;
        let first_new = messages.len();
        // A tool call left without a result (a crashed process, a session another program
        // wrote) would make every later request invalid: each gets an error result saying why.
        let mut repaired = repair_history(&mut messages);
        repaired.extend(push_user_turn(
            &mut messages,
            query.clone(),
            config.clock.now(),
        ));
        let mut state = Self {
            config,
            sink,
            reasoning: Reasoning::start("", session_id.clone()),
            request: {
                let mut request = ModelRequest::new(messages)
                    .with_tools(tools.into())
                    .with_tool_choice(tool_choice)
                    .with_inference(config.inference.clone());
                // The answer tool is forced where the model can force a tool; elsewhere the
                // instruction in the system prompt and the check of a text answer do the work.
                request.optional_tool_choice = structured_choice;
                request.cache = conversion.unwrap_or_default();
                request
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
            answer_recorded: false,
            resumed_tools: None,
            resuming: !resume.is_empty(),
            state: session_state,
            recorded_changes: StateChanges::new(),
            event_log,
            interrupt_ttl,
        };
        state.request.system = state.system_blocks();
        state.reasoning.tools_offered = state.request.tools.iter().map(ToolSpec::digest).collect();
        if resume.is_empty() {
            state.emit(AgentEvent::RunStarted {
                run_id,
                session_id,
                query: Message::user(query).text(),
                started_at: started_at.unwrap_or_else(|| config.clock.now()),
            });
            if !repaired.is_empty() {
                state.emit(AgentEvent::HistoryRepaired {
                    tool_use_ids: repaired,
                    reason: crate::conversation::EARLIER_RUN_NOT_RUN.to_owned(),
                });
            }
        } else {
            state.replay(&resume);
        }
        state
    }

    /// What hooks see of the run now.
    fn hook_context(&self) -> HookContext<'_> {
        HookContext {
            run_id: self.reasoning.run_id,
            session_id: self.reasoning.session_id.as_deref(),
            step: self.step,
            state: &self.state,
        }
    }

    /// Records the run's state changes, when they changed since they were last recorded.
    fn record_state_changes(&mut self, step: u32) {
        let changes = self.state.changes();
        if changes != self.recorded_changes {
            self.recorded_changes = changes.clone();
            self.emit(AgentEvent::StateChanged { step, changes });
        }
    }

    /// Ends a step whose calls all have results.
    fn finish_step(&mut self, step: u32, blocks: Vec<ContentBlock>) {
        self.record_state_changes(step);
        self.emit(AgentEvent::StepFinished { step });
        self.request.messages.push(Arc::new(Message::user(blocks)));
    }

    /// The messages the run added, taken out of the request: the run's own, so they are moved,
    /// not copied (a model that kept a request shares them, and then they are copied).
    fn own_messages(&mut self) -> Vec<Message> {
        self.request
            .messages
            .split_off(self.first_new)
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect()
    }

    /// Tells the hooks the run ended.
    pub(crate) async fn report_end(&self, ended: &Ended) {
        if self.config.hooks.is_empty() {
            return;
        }
        let status = match ended {
            Ended::Answered(..) => RunStatus::Completed,
            Ended::Paused => RunStatus::Paused,
            Ended::Failed(error) => error.status(),
        };
        self.config.hooks.ended(&self.hook_context(), &status).await;
    }

    /// The first hook's reason to stop the run before a model call, if any.
    async fn before_model_call(&self) -> Option<String> {
        let hooks = &self.config.hooks;
        if hooks.is_empty() {
            return None;
        }
        hooks
            .before_model(&self.hook_context(), &self.request)
            .await
    }

    /// The first hook's reason to stop the run after a model call, if any.
    async fn after_model_call(&self, response: &ModelResponse) -> Option<String> {
        let hooks = &self.config.hooks;
        if hooks.is_empty() {
            return None;
        }
        hooks.after_model(&self.hook_context(), response).await
    }

    fn emit(&mut self, event: AgentEvent) {
        self.reasoning.apply(&event);
        self.sink.emit(&event);
    }

    /// The system prompt blocks: the agent's prompt (with the typed answer's instruction),
    /// then the context notes (a summary). None at all when there is nothing to say, so a model
    /// that takes no system prompt is not sent an empty one.
    fn system_blocks(&self) -> Vec<String> {
        let mut system = self.config.system_prompt.clone();
        if let Some(answer) = &self.structured {
            if !system.is_empty() {
                system.push('\n');
            }
            system.push_str(&format!(
                "When you have the answer, give it by calling the `{}` tool; do not answer in text.",
                answer.tool_name
            ));
        }
        let mut blocks = Vec::with_capacity(1 + self.context_notes.len());
        if !system.trim().is_empty() {
            blocks.push(system);
        }
        blocks.extend(self.context_notes.iter().cloned());
        blocks
    }

    pub(crate) async fn drive(&mut self) -> Ended {
        if let Some(response) = self.resumed_final.take() {
            self.answer_recorded = true;
            return Ended::Answered(Box::new(response), None);
        }
        if !self.resuming
            && !self.config.hooks.is_empty()
            && let Some(reason) = self.config.hooks.started(&self.hook_context()).await
        {
            return Ended::Failed(RunError::Stopped { reason });
        }
        if let Some(pending) = self.resumed_tools.take() {
            let calls: Vec<ToolUse> = pending.message.tool_uses().cloned().collect();
            let result = self
                .run_tools(pending.step, &calls, &[], Some(&pending))
                .await;
            match result {
                Ok(StepEnd::Answered(blocks)) => self.finish_step(pending.step, blocks),
                Ok(StepEnd::Paused) => return Ended::Paused,
                Err(error) => return Ended::Failed(error),
            }
        }
        loop {
            self.step += 1;
            if let Some(reason) = self.before_model_call().await {
                return Ended::Failed(RunError::Stopped { reason });
            }
            let response = match self.call_model().await {
                Ok(response) => response,
                Err(error) => return Ended::Failed(error),
            };
            if let Some(reason) = self.after_model_call(&response).await {
                return Ended::Failed(RunError::Stopped { reason });
            }
            let calls: Vec<ToolUse> = response.message.tool_uses().cloned().collect();
            if let Some(answer) = self.structured.clone() {
                match self.structured_reply(&answer, &response, &calls) {
                    StructuredStep::Done(value) => {
                        return Ended::Answered(Box::new(response), Some(value));
                    }
                    StructuredStep::Failed(error) => return Ended::Failed(error),
                    StructuredStep::AskAgain(prompt) => {
                        self.emit_reply(&response);
                        self.request.messages.push(Arc::new(response.message));
                        self.request
                            .messages
                            .push(Arc::new(Message::user_text(prompt)));
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
            self.request.messages.push(Arc::new(message));
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
                    Ok(StepEnd::Answered(blocks)) => blocks,
                    Ok(StepEnd::Paused) => return Ended::Paused,
                    Err(error) => return Ended::Failed(error),
                }
            };
            self.finish_step(step, blocks);
        }
    }

    fn emit_reply(&mut self, response: &ModelResponse) {
        self.emit(AgentEvent::ModelReply {
            step: self.step,
            message: response.message.clone(),
            stop_reason: response.stop_reason.clone(),
            usage: response.usage,
            at: self.config.clock.now(),
        });
    }

    /// Ends the run: the result, or the failure with what the run produced.
    pub(crate) fn end(mut self, ended: Ended) -> Result<RunResult, FailedRun> {
        match ended {
            Ended::Answered(response, structured) => {
                let mut response = *response;
                let reply = std::mem::replace(
                    &mut response.message,
                    Message {
                        role: Role::Assistant,
                        content: Vec::new(),
                    },
                );
                response.message = match &structured {
                    Some(value) => structured_message(&reply, value),
                    None => final_message(reply),
                };
                if !self.answer_recorded {
                    self.emit_reply(&response);
                }
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
                self.request.messages.push(Arc::new(message));
                self.reasoning.status = RunStatus::Completed;
                self.reasoning.ended_at = Some(self.config.clock.now());
                let response = self.reasoning.final_response.clone().unwrap_or_default();
                let messages = self.own_messages();
                let mut result = RunResult::new(response, self.reasoning, messages);
                result.stop_reason = stop_reason;
                result.outcome = RunOutcome::of(
                    &result.response,
                    &result.stop_reason,
                    result.step_limit_reached,
                );
                result.structured = structured;
                result.state_changes = self.state.changes();
                Ok(result)
            }
            Ended::Paused => {
                // Nothing of the turn enters the conversation yet: the messages so far (the
                // query, the steps, the reply whose calls wait) come back for the record.
                self.reasoning.status = RunStatus::Paused;
                let messages = self.own_messages();
                let pending = self.reasoning.pending_interrupts.clone();
                let mut result = RunResult::new(String::new(), self.reasoning, messages);
                result.outcome = RunOutcome::Paused;
                result.pending_interrupts = pending;
                result.state_changes = self.state.changes();
                Ok(result)
            }
            Ended::Failed(error) => {
                tracing::warn!(%error, "run did not complete");
                self.reasoning.status = error.status();
                self.reasoning.ended_at = Some(self.config.clock.now());
                self.reasoning.error = Some(error.to_failure());
                if error.status() == RunStatus::Cancelled && !self.partial_text.is_empty() {
                    let (thinking, answer) = agent_core::split_thinking(&self.partial_text);
                    self.reasoning.final_response = Some(answer);
                    if thinking.is_some() {
                        self.reasoning.final_thinking = thinking;
                    }
                }
                let mut messages = self.own_messages();
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
