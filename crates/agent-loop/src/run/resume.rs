//! Continuing a run from its recorded events: an interrupted run (its process died) or a paused
//! one (its held calls decided). Steps whose tool results were all recorded are not run again;
//! in the step that was under way, a recorded result is reused, a decision is applied, and a
//! call that started without a recorded result runs again only if it is safe to repeat.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agent_core::{
    AgentEvent, ContentBlock, Interrupt, InterruptDecision, Message, ModelResponse, ToolInvocation,
    ToolResult,
};

use super::RunState;
use super::tools::invocation_result;
use crate::conversation::{EARLIER_RUN_NOT_RUN, step_limit_prompt};

/// A step whose tools a run had started, as its events recorded it.
pub(crate) struct PendingStep {
    pub(super) step: u32,
    pub(super) message: Message,
    /// Calls whose result was recorded.
    pub(super) done: HashMap<String, ToolInvocation>,
    /// Calls recorded as started (their result may be missing).
    pub(super) started: HashSet<String>,
    /// Calls held for a person's decision.
    pub(super) held: HashMap<String, Interrupt>,
    /// The decisions recorded on held calls.
    pub(super) decisions: HashMap<String, InterruptDecision>,
}

impl RunState<'_> {
    /// Rebuilds a run's state from its durable events, without reporting them again.
    pub(super) fn replay(&mut self, events: &[AgentEvent]) {
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
                        self.request.messages.push(Arc::new(message.clone()));
                        self.resumed_tools = Some(PendingStep {
                            step: *step,
                            message: message.clone(),
                            done: HashMap::new(),
                            started: HashSet::new(),
                            held: HashMap::new(),
                            decisions: HashMap::new(),
                        });
                    } else {
                        self.resumed_final = Some(
                            ModelResponse::new(message.clone(), stop_reason.clone())
                                .with_usage(*usage),
                        );
                    }
                }
                AgentEvent::ToolExecutionStarted { tool_use_id, .. } => {
                    if let Some(pending) = &mut self.resumed_tools {
                        pending.started.insert(tool_use_id.clone());
                    }
                }
                AgentEvent::ToolResult { invocation, .. } => {
                    if let Some(pending) = &mut self.resumed_tools {
                        pending
                            .done
                            .insert(invocation.tool_use_id.clone(), invocation.clone());
                    }
                }
                AgentEvent::InterruptRequested { interrupt, .. } => {
                    if let Some(pending) = &mut self.resumed_tools {
                        pending.held.insert(interrupt.id.clone(), interrupt.clone());
                    }
                }
                AgentEvent::InterruptAnswered {
                    interrupt_id,
                    decision,
                    ..
                } => {
                    if let Some(pending) = &mut self.resumed_tools {
                        pending
                            .decisions
                            .insert(interrupt_id.clone(), decision.clone());
                    }
                }
                AgentEvent::StateChanged { changes, .. } => {
                    self.state.restore(changes.clone());
                    self.recorded_changes = changes.clone();
                }
                AgentEvent::StepFinished { step } => {
                    if let Some(pending) = self.resumed_tools.take()
                        && pending.step == *step
                    {
                        let blocks = self.result_blocks(&pending.message, &pending.done);
                        self.request.messages.push(Arc::new(Message::user(blocks)));
                    }
                }
                _ => {}
            }
        }
    }

    /// The user message answering a step's tool calls from their recorded invocations, with
    /// the step-limit prompt when the step was past the limit.
    pub(super) fn result_blocks(
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
}
