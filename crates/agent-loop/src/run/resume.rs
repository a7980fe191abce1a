//! Resuming an interrupted run from its recorded events: steps whose tool results were all
//! recorded are not run again.

use std::collections::HashMap;

use agent_core::{AgentEvent, ContentBlock, Message, ModelResponse, ToolInvocation, ToolResult};

use super::RunState;
use super::tools::invocation_result;
use crate::conversation::{EARLIER_RUN_NOT_RUN, step_limit_prompt};

/// A step whose tools an interrupted run had started.
pub(crate) struct PendingStep {
    pub(super) step: u32,
    pub(super) message: Message,
    pub(super) done: HashMap<String, ToolInvocation>,
}

impl RunState<'_> {
    /// Rebuilds an interrupted run's state from its durable events, without reporting them
    /// again.
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
