//! The reasoning trace of a run: what the agent thought, which tools it called with which
//! inputs and results, and what it answered.
//!
//! Field names follow the Python MinimalAgent (`session_id, query, steps[step_number, timestamp,
//! thinking, tools[name, inputs, result]], total_steps, final_thinking, final_response,
//! truncated, exceeded_size_limit`), so traces read the same from either implementation. Fields
//! added here (`run_id`, `status`, times, usage, …) default when absent, so the original's
//! records still deserialise.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::event::AgentEvent;
use crate::interrupt::{Interrupt, InterruptDecision};
use crate::model::{StopReason, TokenUsage};
use crate::thinking::thinking_and_answer;
use crate::tool::ToolErrorKind;

/// The trace of one run.
///
/// `#[non_exhaustive]`: made with [`Reasoning::start`] or folded from events
/// ([`Reasoning::from_events`]); fields are added as runs learn to report more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Reasoning {
    /// A unique, time-ordered id of the run (UUID v7).
    #[serde(default = "Uuid::nil")]
    pub run_id: Uuid,
    /// The session the run belongs to, if any.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The user's query.
    pub query: String,
    /// Whether the run is going on, finished or failed.
    #[serde(default = "RunStatus::completed")]
    pub status: RunStatus,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    pub started_at: Option<Timestamp>,
    /// When the run ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    pub ended_at: Option<Timestamp>,
    /// One step per model reply that asked for tools, in order.
    #[serde(default)]
    pub steps: Vec<ReasoningStep>,
    /// How many steps the run took.
    #[serde(default)]
    pub total_steps: u32,
    /// The thinking that came with the final answer.
    #[serde(default)]
    pub final_thinking: Option<String>,
    /// The final answer, once there is one.
    #[serde(default)]
    pub final_response: Option<String>,
    /// Why the model stopped on its last reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Whether the run reached `max_steps` while the model still asked for tools.
    #[serde(default)]
    pub step_limit_reached: bool,
    /// Tokens used by the whole run.
    #[serde(default)]
    pub usage: TokenUsage,
    /// Why the run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunFailure>,
    /// How many times the run's messages were re-applied after another run of the same
    /// session committed first (both turns are kept, in commit order).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commit_conflicts: u32,
    /// The tools the run offered the model, by name and digest (see
    /// [`ToolSpec::digest`](crate::ToolSpec::digest)): a replay tells a changed tool by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools_offered: Vec<crate::model::ToolDigest>,
    /// Tool calls the stored conversation left without results, answered with error results by
    /// this run before its first model call (see [`AgentEvent::HistoryRepaired`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repaired_tool_uses: Vec<String>,
    /// Tool calls waiting for a person's decision (the run is `paused` while any is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_interrupts: Vec<Interrupt>,
    /// Tool calls that waited for a decision, with the decision: who allowed what stays in
    /// the trace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered_interrupts: Vec<AnsweredInterrupt>,
    /// Optional features the model client left out during the run because the provider
    /// refused them (a cache checkpoint where the model takes none, …), with the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_features: Vec<StepFeatureDropped>,
    /// Kept for compatibility: the original cut large traces; this implementation never does.
    #[serde(default)]
    pub truncated: bool,
    /// Kept for compatibility: the original flagged traces over its size limit; never set here.
    #[serde(default)]
    pub exceeded_size_limit: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Reasoning {
    /// The trace that stands in for a run record that could not be read: status
    /// [`RunStatus::Damaged`], and an error of kind `store.damaged_record` naming the record
    /// and why.
    pub fn damaged(record: impl Into<String>, why: impl Into<String>) -> Self {
        let mut reasoning = Reasoning::start("", None);
        reasoning.run_id = Uuid::nil();
        reasoning.started_at = None;
        reasoning.status = RunStatus::Damaged;
        reasoning.error = Some(RunFailure {
            kind: "store.damaged_record".to_owned(),
            message: format!("{}: {}", record.into(), why.into()),
        });
        reasoning
    }

    /// A new trace for a run that starts now.
    pub fn start(query: impl Into<String>, session_id: Option<String>) -> Self {
        Self {
            run_id: Uuid::now_v7(),
            session_id,
            query: query.into(),
            status: RunStatus::Running,
            started_at: Some(Timestamp::now()),
            ended_at: None,
            steps: Vec::new(),
            total_steps: 0,
            final_thinking: None,
            final_response: None,
            stop_reason: None,
            step_limit_reached: false,
            usage: TokenUsage::default(),
            error: None,
            commit_conflicts: 0,
            dropped_features: Vec::new(),
            tools_offered: Vec::new(),
            repaired_tool_uses: Vec::new(),
            pending_interrupts: Vec::new(),
            answered_interrupts: Vec::new(),
            truncated: false,
            exceeded_size_limit: false,
        }
    }

    /// Whether the run has ended, completed or not (a paused run has not: it waits).
    pub fn is_finished(&self) -> bool {
        !matches!(self.status, RunStatus::Running | RunStatus::Paused)
    }

    /// A trace folded from a run's events, in order (see [`Reasoning::apply`]).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a AgentEvent>) -> Self {
        let mut reasoning = Reasoning::start("", None);
        reasoning.run_id = Uuid::nil();
        reasoning.started_at = None;
        for event in events {
            reasoning.apply(event);
        }
        reasoning
    }

    /// Folds one event into the trace. The agent loop keeps its own trace this way, and a
    /// reader folds a real-time session log the same way, so the two always agree.
    pub fn apply(&mut self, event: &AgentEvent) {
        // A paused run whose calls were all decided is running again once it does anything.
        if self.status == RunStatus::Paused
            && self.pending_interrupts.is_empty()
            && matches!(
                event,
                AgentEvent::ToolExecutionStarted { .. }
                    | AgentEvent::ToolResult { .. }
                    | AgentEvent::ToolCallStarted { .. }
                    | AgentEvent::TextDelta { .. }
                    | AgentEvent::ThinkingDelta { .. }
                    | AgentEvent::ModelReply { .. }
                    | AgentEvent::StepFinished { .. }
            )
        {
            self.status = RunStatus::Running;
        }
        match event {
            AgentEvent::RunStarted {
                run_id,
                session_id,
                query,
                started_at,
            } => {
                self.run_id = *run_id;
                self.session_id.clone_from(session_id);
                self.query.clone_from(query);
                self.started_at = Some(*started_at);
                self.status = RunStatus::Running;
            }
            AgentEvent::ModelReply {
                step,
                message,
                stop_reason,
                usage,
                at,
            } => {
                self.usage += *usage;
                self.stop_reason = Some(stop_reason.clone());
                if message.tool_uses().next().is_some() && !self.step_limit_reached {
                    let (thinking, _) = thinking_and_answer(message);
                    self.steps.push(ReasoningStep {
                        step_number: *step,
                        timestamp: Some(*at),
                        thinking,
                        tools: message.tool_uses().map(ToolInvocation::running).collect(),
                        usage: *usage,
                    });
                    self.total_steps = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
                } else {
                    let (thinking, answer) = thinking_and_answer(message);
                    self.final_thinking = thinking;
                    self.final_response = Some(answer);
                }
            }
            AgentEvent::StepLimitReached { .. } => self.step_limit_reached = true,
            AgentEvent::HistoryRepaired { tool_use_ids, .. } => {
                self.repaired_tool_uses.extend(tool_use_ids.iter().cloned());
            }
            // A call already answered is not held again: a reader folds a claimed run's events
            // over a record that may hold their answers already (a decision being recorded),
            // and must not count them twice.
            AgentEvent::InterruptRequested { interrupt, .. }
                if !self
                    .answered_interrupts
                    .iter()
                    .any(|answered| answered.interrupt.id == interrupt.id) =>
            {
                self.pending_interrupts
                    .retain(|held| held.id != interrupt.id);
                self.pending_interrupts.push(interrupt.clone());
                self.status = RunStatus::Paused;
            }
            AgentEvent::InterruptAnswered {
                interrupt_id,
                decision,
                answered_at,
                ..
            } => {
                if let Some(at) = self
                    .pending_interrupts
                    .iter()
                    .position(|held| held.id == *interrupt_id)
                {
                    let interrupt = self.pending_interrupts.remove(at);
                    self.answered_interrupts.push(AnsweredInterrupt {
                        interrupt,
                        decision: decision.clone(),
                        answered_at: *answered_at,
                    });
                }
                // Still paused, decided or not, until the run goes on.
            }
            AgentEvent::FeatureDropped {
                step,
                feature,
                reason,
            } => self.dropped_features.push(StepFeatureDropped {
                step: *step,
                feature: feature.clone(),
                reason: reason.clone(),
            }),
            AgentEvent::ToolResult { step, invocation } => {
                if let Some(tool) = self
                    .steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.step_number == *step)
                    .and_then(|s| {
                        s.tools
                            .iter_mut()
                            .find(|t| t.tool_use_id == invocation.tool_use_id)
                    })
                {
                    *tool = invocation.clone();
                }
            }
            AgentEvent::RunFinished { result } => *self = result.reasoning.clone(),
            AgentEvent::RunEnded { reasoning } => *self = (**reasoning).clone(),
            _ => {}
        }
    }
}

/// An optional feature the model client left out during a run (see
/// [`AgentEvent::FeatureDropped`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct StepFeatureDropped {
    /// The model call it happened on.
    pub step: u32,
    /// Which feature.
    pub feature: String,
    /// Why.
    pub reason: String,
}

/// The state of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// The run is going on.
    Running,
    /// The run gave its final answer.
    Completed,
    /// The run ended with an error; see [`Reasoning::error`].
    Failed,
    /// The run was cancelled (its stream dropped, or cancelled through its handle); the trace
    /// keeps what it produced so far.
    Cancelled,
    /// The run's process stopped heart-beating (it died, was killed, or lost the network)
    /// before the run ended. `Agent::resume` can continue it.
    Interrupted,
    /// The run waits for a person's decision on tool calls
    /// ([`Reasoning::pending_interrupts`]); `Agent::respond` continues it. It holds no lease and
    /// costs nothing while it waits.
    Paused,
    /// The run's stored record could not be read (damaged, or written in a form this version
    /// cannot read); [`Reasoning::error`] says why. Only readers make such traces: the rest of
    /// the session stays readable.
    Damaged,
    /// A status this version does not know, kept as written.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl RunStatus {
    /// The status's name (`running`, `completed`, …).
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Damaged => "damaged",
            RunStatus::Paused => "paused",
            RunStatus::Other(other) => other,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RunStatus {
    /// Whether a run in this status has its final record: it completed, failed, was cancelled
    /// or is damaged (not running, paused or interrupted, which go on).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            RunStatus::Running | RunStatus::Paused | RunStatus::Interrupted
        )
    }

    fn completed() -> Self {
        RunStatus::Completed
    }
}

/// Why a run failed, as stored in its trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunFailure {
    /// A short, stable name of the kind of error (for example `model.throttled`).
    pub kind: String,
    /// The error's message.
    pub message: String,
}

/// One step: a model reply that asked for tools, and what those tools gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReasoningStep {
    /// 1 for the first step.
    pub step_number: u32,
    /// When the model's reply arrived.
    #[serde(default, with = "lenient_timestamp")]
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    pub timestamp: Option<Timestamp>,
    /// The model's thinking in this step: `<thinking>` text and native reasoning blocks.
    #[serde(default)]
    pub thinking: Option<String>,
    /// The tools the model asked for in this step, in its order.
    #[serde(default)]
    pub tools: Vec<ToolInvocation>,
    /// Tokens used by the model call of this step.
    #[serde(default)]
    pub usage: TokenUsage,
}

/// One tool call of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInvocation {
    /// The tool's name as the model wrote it.
    pub name: String,
    /// The id that ties the call to its result in the conversation.
    #[serde(default)]
    pub tool_use_id: String,
    /// The input the model gave.
    #[serde(default)]
    pub inputs: Value,
    /// The tool's result, once it has one (`null` while it runs and when it failed).
    #[serde(default)]
    pub result: Option<Value>,
    /// Whether the call is running, succeeded or failed.
    #[serde(default = "ToolCallStatus::succeeded")]
    pub status: ToolCallStatus,
    /// What went wrong, when the call did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolCallError>,
    /// How long the call took, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The state of one tool call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolCallStatus {
    /// The tool is running.
    Running,
    /// The tool gave a result.
    Succeeded,
    /// The tool failed, was unknown, got bad input, panicked, or was not run.
    Failed,
    /// A status this version does not know, kept as written.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl ToolCallStatus {
    fn succeeded() -> Self {
        ToolCallStatus::Succeeded
    }
}

impl ToolInvocation {
    /// A call the model asked for, not yet ended.
    pub fn running(tool_use: &crate::message::ToolUse) -> Self {
        Self {
            name: tool_use.name.clone(),
            tool_use_id: tool_use.tool_use_id.clone(),
            inputs: tool_use.input.clone(),
            result: None,
            status: ToolCallStatus::Running,
            error: None,
            duration_ms: None,
        }
    }
}

/// Why a tool call failed, as stored in the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallError {
    /// The kind of failure.
    pub kind: ToolErrorKind,
    /// The message the model was given.
    pub message: String,
}

/// Reads step timestamps written as RFC 3339 text (ours) or as epoch seconds (older writers).
mod lenient_timestamp {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Seconds(f64),
        }
        Ok(match Option::<Raw>::deserialize(deserializer)? {
            None => None,
            Some(Raw::Text(text)) => text
                .parse::<Timestamp>()
                .ok()
                .or_else(|| parse_naive_utc(&text)),
            Some(Raw::Seconds(seconds)) => {
                // Sub-second precision is kept to the millisecond, as the writers had it.
                Timestamp::from_millisecond((seconds * 1000.0) as i64).ok()
            }
        })
    }

    /// `2025-01-01T10:00:00.123456` with no offset, as Python's `isoformat()` writes; read as UTC.
    fn parse_naive_utc(text: &str) -> Option<Timestamp> {
        let civil: jiff::civil::DateTime = text.parse().ok()?;
        jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// While a decision is being recorded, the run's record holds the answers and reads as
    /// running, so a reader folds the run's events over it again: no answer may count twice.
    #[test]
    fn events_folded_again_over_their_answers_count_each_answer_once() {
        let events: Vec<AgentEvent> = ["tool-1", "tool-2"]
            .iter()
            .map(|id| AgentEvent::InterruptRequested {
                step: 1,
                interrupt: crate::Interrupt::new(1, *id, "pay", json!({}), "needs approval"),
            })
            .chain(
                ["tool-1", "tool-2"]
                    .iter()
                    .map(|id| AgentEvent::InterruptAnswered {
                        step: 1,
                        interrupt_id: (*id).to_owned(),
                        decision: crate::InterruptDecision::Approve,
                        answered_at: Timestamp::UNIX_EPOCH,
                    }),
            )
            .collect();
        let mut reasoning = Reasoning::start("q", Some("s1".into()));
        for event in events.iter().chain(&events) {
            reasoning.apply(event);
        }
        let answered: Vec<&str> = reasoning
            .answered_interrupts
            .iter()
            .map(|answered| answered.interrupt.id.as_str())
            .collect();
        assert_eq!(answered, ["tool-1", "tool-2"]);
        assert!(reasoning.pending_interrupts.is_empty());
    }

    #[test]
    fn serialises_with_the_reference_field_names() {
        let mut reasoning = Reasoning::start("q", Some("s1".into()));
        reasoning.steps.push(ReasoningStep {
            step_number: 1,
            timestamp: Some(Timestamp::UNIX_EPOCH),
            thinking: Some("think".into()),
            tools: vec![ToolInvocation {
                name: "t".into(),
                tool_use_id: "id".into(),
                inputs: json!({"a": 1}),
                result: Some(json!({"b": 2})),
                status: ToolCallStatus::Succeeded,
                error: None,
                duration_ms: Some(3),
            }],
            usage: TokenUsage::default(),
        });
        let value = serde_json::to_value(&reasoning).unwrap();
        for key in [
            "session_id",
            "query",
            "steps",
            "total_steps",
            "final_thinking",
            "final_response",
            "truncated",
            "exceeded_size_limit",
            "run_id",
            "status",
            "usage",
        ] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        let step = &value["steps"][0];
        assert_eq!(step["step_number"], 1);
        assert_eq!(step["thinking"], "think");
        assert_eq!(step["tools"][0]["name"], "t");
        assert_eq!(step["tools"][0]["inputs"], json!({"a": 1}));
        assert_eq!(step["tools"][0]["result"], json!({"b": 2}));
        assert_eq!(value["status"], "running");
        let back: Reasoning = serde_json::from_value(value).unwrap();
        assert_eq!(back, reasoning);
    }

    #[test]
    fn reads_a_trace_written_by_the_python_original() {
        let original = json!({
            "session_id": "user123",
            "query": "What's the weather?",
            "steps": [{"step_number": 1, "timestamp": "2025-03-01T10:00:00.123456",
                       "thinking": "I need the weather",
                       "tools": [{"name": "get_weather", "inputs": {"location": "Seattle"},
                                  "result": {"temp": 60}}]}],
            "total_steps": 1,
            "final_thinking": null,
            "final_response": "It is 60F.",
            "truncated": false,
            "exceeded_size_limit": false
        });
        let reasoning: Reasoning = serde_json::from_value(original).unwrap();
        assert_eq!(reasoning.status, RunStatus::Completed);
        assert_eq!(
            reasoning.steps[0].tools[0].status,
            ToolCallStatus::Succeeded
        );
        assert_eq!(
            reasoning.steps[0].timestamp.unwrap().to_string(),
            "2025-03-01T10:00:00.123456Z"
        );
        let with_seconds: ReasoningStep =
            serde_json::from_value(json!({"step_number": 2, "timestamp": 1700000000.5})).unwrap();
        assert_eq!(
            with_seconds.timestamp.unwrap().as_millisecond(),
            1_700_000_000_500
        );
    }
}

/// A tool call that waited for a decision, and the decision ([`Reasoning::answered_interrupts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct AnsweredInterrupt {
    /// The held call.
    pub interrupt: Interrupt,
    /// What was decided.
    pub decision: InterruptDecision,
    /// When.
    #[schemars(schema_with = "crate::schema::timestamp")]
    pub answered_at: Timestamp,
}
