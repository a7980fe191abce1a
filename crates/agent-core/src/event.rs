//! What a run reports as it happens: [`AgentEvent`]s.
//!
//! One event type serves every consumer: an application reading `Agent::stream`, the coloured
//! trace on the terminal, real-time reasoning written to a session store and replayed to
//! followers in other processes. Events are serialisable (`{"type": "text_delta", …}`) because
//! stores persist them; a [`Reasoning`](crate::Reasoning) record is the fold of a run's events
//! ([`Reasoning::apply`](crate::Reasoning::apply)).

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::interrupt::{Interrupt, InterruptDecision};
use crate::message::Message;
use crate::model::{StopReason, TokenUsage};
use crate::reasoning::{Reasoning, ToolInvocation};
use crate::result::RunResult;

/// One thing that happened in a run.
///
/// `step` numbers the run's model calls from 1; a call that asked for tools is the reasoning
/// step of the same number, and the call that gave the final answer is the one after the last
/// step. Events of one run arrive in order; tool results of one step arrive as the tools end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// The run started.
    RunStarted {
        /// The run's id.
        run_id: Uuid,
        /// Its session, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// The user's query (its text).
        query: String,
        /// When it started.
        #[schemars(schema_with = "crate::schema::timestamp")]
        started_at: Timestamp,
    },
    /// Text the model wrote, as it arrives.
    TextDelta {
        /// The model call.
        step: u32,
        /// The new text.
        text: String,
    },
    /// Reasoning the model wrote (native reasoning blocks), as it arrives.
    ThinkingDelta {
        /// The model call.
        step: u32,
        /// The new reasoning text.
        text: String,
    },
    /// The model started a tool call; its input follows.
    ToolCallStarted {
        /// The model call.
        step: u32,
        /// The call's id.
        tool_use_id: String,
        /// The tool's name.
        name: String,
    },
    /// A tool call's input is complete (parsed), or could not be parsed (`error`).
    ToolInputComplete {
        /// The model call.
        step: u32,
        /// The call's id.
        tool_use_id: String,
        /// The tool's name.
        name: String,
        /// The input: the parsed JSON, or the raw text when it was not JSON.
        input: Value,
        /// Why the input could not be parsed; the tool is then not run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A model call's whole reply, once it is complete: the message as it enters the
    /// conversation.
    ModelReply {
        /// The model call.
        step: u32,
        /// The assistant message.
        message: Message,
        /// Why the model stopped.
        stop_reason: StopReason,
        /// Tokens the call used.
        usage: TokenUsage,
        /// When the reply was complete.
        #[schemars(schema_with = "crate::schema::timestamp")]
        at: Timestamp,
    },
    /// The run reached its step limit: the tools of this step are not run, and the model is
    /// asked for its final answer.
    StepLimitReached {
        /// The model call whose tools are not run.
        step: u32,
        /// The limit.
        max_steps: u32,
    },
    /// One tool call ended (tools of one step run concurrently, so in any order).
    ToolResult {
        /// The model call that asked for it.
        step: u32,
        /// The call, with its result or error and duration.
        invocation: ToolInvocation,
    },
    /// Every tool call of a step has ended; the next model call follows.
    StepFinished {
        /// The model call whose tools ended.
        step: u32,
    },
    /// Token usage and latency of one model call, as soon as the provider reports them.
    Usage {
        /// The model call.
        step: u32,
        /// Tokens it used.
        usage: TokenUsage,
        /// How long it took, per the provider.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<u64>,
    },
    /// A tool call is about to run (after its hooks, with its final input): recorded before
    /// it runs, so that a resumed run knows which calls may have had their effect.
    ToolExecutionStarted {
        /// The model call that asked for it.
        step: u32,
        /// The call's id.
        tool_use_id: String,
        /// The tool's name.
        name: String,
    },
    /// A tool call waits for a person's decision; the run pauses after this step.
    InterruptRequested {
        /// The model call that asked for the tool.
        step: u32,
        /// The held call.
        interrupt: Interrupt,
    },
    /// A held call was decided on (by a person, or by its expiry).
    InterruptAnswered {
        /// The model call that asked for the tool.
        step: u32,
        /// The interrupt's id (the call's `toolUse` id).
        interrupt_id: String,
        /// The decision.
        decision: InterruptDecision,
        /// When it was decided.
        #[schemars(schema_with = "crate::schema::timestamp")]
        answered_at: Timestamp,
    },
    /// The run's changes to its session's state so far (all of them, not only the step's),
    /// recorded after each step that changed it, so that a paused or resumed run keeps them.
    StateChanged {
        /// The step after which they were recorded.
        step: u32,
        /// The run's changes so far.
        changes: crate::state::StateChanges,
    },
    /// The stored conversation had tool calls without results (a crash, a killed process, a
    /// session written by another program): the run answered them with error results before
    /// calling the model.
    HistoryRepaired {
        /// The calls answered.
        tool_use_ids: Vec<String>,
        /// Why, as told to the model.
        reason: String,
    },
    /// The model client left an optional feature out of this call, and leaves it out of later
    /// calls to the same model, because the provider refused it (see
    /// [`DroppedFeature`](crate::DroppedFeature)).
    FeatureDropped {
        /// The model call.
        step: u32,
        /// Which feature.
        feature: String,
        /// Why.
        reason: String,
    },
    /// A model call broke off before its reply was complete and is being made again: discard
    /// the text and thinking deltas of this step received so far.
    ModelRetry {
        /// The model call.
        step: u32,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// What went wrong.
        error: String,
    },
    /// The run completed; the same result `run` returns.
    RunFinished {
        /// The result.
        result: Box<RunResult>,
    },
    /// The run ended without completing: it failed, was cancelled, or (seen by a follower) its
    /// process stopped heart-beating. The trace's status says which.
    RunEnded {
        /// The run's trace, with its status and error.
        reasoning: Box<Reasoning>,
    },
    /// An event this version does not know (written by a newer version).
    #[serde(other)]
    #[schemars(skip)]
    Unknown,
}

impl AgentEvent {
    /// The `type` name the event serialises with (`run_started`, `text_delta`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AgentEvent::RunStarted { .. } => "run_started",
            AgentEvent::TextDelta { .. } => "text_delta",
            AgentEvent::ThinkingDelta { .. } => "thinking_delta",
            AgentEvent::ToolCallStarted { .. } => "tool_call_started",
            AgentEvent::ToolInputComplete { .. } => "tool_input_complete",
            AgentEvent::ModelReply { .. } => "model_reply",
            AgentEvent::StepLimitReached { .. } => "step_limit_reached",
            AgentEvent::ToolResult { .. } => "tool_result",
            AgentEvent::StepFinished { .. } => "step_finished",
            AgentEvent::Usage { .. } => "usage",
            AgentEvent::FeatureDropped { .. } => "feature_dropped",
            AgentEvent::ToolExecutionStarted { .. } => "tool_execution_started",
            AgentEvent::InterruptRequested { .. } => "interrupt_requested",
            AgentEvent::InterruptAnswered { .. } => "interrupt_answered",
            AgentEvent::HistoryRepaired { .. } => "history_repaired",
            AgentEvent::StateChanged { .. } => "state_changed",
            AgentEvent::ModelRetry { .. } => "model_retry",
            AgentEvent::RunFinished { .. } => "run_finished",
            AgentEvent::RunEnded { .. } => "run_ended",
            AgentEvent::Unknown => "unknown",
        }
    }

    /// Whether the event ends its run ([`RunFinished`](Self::RunFinished) or
    /// [`RunEnded`](Self::RunEnded)).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            AgentEvent::RunFinished { .. } | AgentEvent::RunEnded { .. }
        )
    }

    /// Whether a real-time session log keeps the event as it is. Deltas are kept only
    /// coalesced, usage only in [`ModelReply`](Self::ModelReply), retries not at all, and the
    /// end of a run is the run's record itself.
    pub fn is_durable(&self) -> bool {
        matches!(
            self,
            AgentEvent::ToolCallStarted { .. }
                | AgentEvent::ToolInputComplete { .. }
                | AgentEvent::ModelReply { .. }
                | AgentEvent::StepLimitReached { .. }
                | AgentEvent::ToolResult { .. }
                | AgentEvent::StepFinished { .. }
                | AgentEvent::FeatureDropped { .. }
                | AgentEvent::ToolExecutionStarted { .. }
                | AgentEvent::InterruptRequested { .. }
                | AgentEvent::InterruptAnswered { .. }
                | AgentEvent::HistoryRepaired { .. }
                | AgentEvent::StateChanged { .. }
        )
    }
}

/// Receives a run's events as they happen.
///
/// Called on the run's task for every event, in order; it must return quickly and never block
/// (hand slow work, such as writing to a terminal or a store, to another task or thread).
pub trait EventSink: Send + Sync {
    /// Called for each event.
    fn emit(&self, event: &AgentEvent);
}

/// A sink that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: &AgentEvent) {}
}

impl<F: Fn(&AgentEvent) + Send + Sync> EventSink for F {
    fn emit(&self, event: &AgentEvent) {
        self(event);
    }
}

/// Several sinks, each given every event in order.
impl EventSink for [std::sync::Arc<dyn EventSink>] {
    fn emit(&self, event: &AgentEvent) {
        for sink in self {
            sink.emit(event);
        }
    }
}

impl EventSink for Vec<std::sync::Arc<dyn EventSink>> {
    fn emit(&self, event: &AgentEvent) {
        self.as_slice().emit(event);
    }
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<AgentEvent> {
    /// Sends the event; a closed channel (its reader is gone) drops it.
    fn emit(&self, event: &AgentEvent) {
        let _ = self.send(event.clone());
    }
}

/// The sink for a reader that may fall behind: text and thinking sent while it is behind are
/// joined, so the channel holds an answer once, not an item per token.
impl EventSink for crate::CoalescingSender<AgentEvent> {
    /// Sends the event; a closed channel (its reader is gone) drops it.
    fn emit(&self, event: &AgentEvent) {
        let _ = self.send(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialise_with_a_type_tag_and_unknown_ones_still_read() {
        let event = AgentEvent::TextDelta {
            step: 2,
            text: "Hel".into(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"type": "text_delta", "step": 2, "text": "Hel"})
        );
        let newer: AgentEvent =
            serde_json::from_value(json!({"type": "hologram", "step": 1, "pixels": 9})).unwrap();
        assert_eq!(newer, AgentEvent::Unknown);
        assert!(!newer.is_durable() && !newer.is_terminal());
    }
}
