//! What a completed run gives back: [`RunResult`] and its [`RunOutcome`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::Message;
use crate::model::{StopReason, TokenUsage};
use crate::reasoning::Reasoning;

/// A completed run.
///
/// `#[non_exhaustive]`: fields are added as the agent learns to report more, without breaking
/// code that reads the ones it knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct RunResult {
    /// The final answer, with any `<thinking>` removed. Empty when the model gave no text:
    /// [`outcome`](Self::outcome) then says [`RunOutcome::EmptyAnswer`].
    pub response: String,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The run's trace.
    pub reasoning: Reasoning,
    /// The messages this run added to the conversation: its query, the model's replies and the
    /// tool results, ending with the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    /// Tokens used by the whole run (cache reads and writes included).
    pub usage: TokenUsage,
    /// Why the model stopped on its last reply.
    pub stop_reason: StopReason,
    /// Whether the run reached its step limit while the model still asked for tools (the model
    /// was then asked for its final answer).
    pub step_limit_reached: bool,
    /// The structured answer, for runs asked for one (`run_structured`), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured: Option<Value>,
    /// The tool calls the run waits on, when it paused ([`RunOutcome::Paused`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_interrupts: Vec<crate::interrupt::Interrupt>,
    /// The run's changes to its session's state, saved with its turn.
    #[serde(default, skip_serializing_if = "crate::state::StateChanges::is_empty")]
    pub state_changes: crate::state::StateChanges,
}

impl RunResult {
    /// A result from its parts (for models and tests that build results by hand).
    pub fn new(response: String, reasoning: Reasoning, messages: Vec<Message>) -> Self {
        let stop_reason = reasoning.stop_reason.clone().unwrap_or(StopReason::EndTurn);
        let outcome = RunOutcome::of(&response, &stop_reason, reasoning.step_limit_reached);
        Self {
            response,
            outcome,
            usage: reasoning.usage,
            step_limit_reached: reasoning.step_limit_reached,
            stop_reason,
            reasoning,
            messages,
            structured: None,
            pending_interrupts: Vec::new(),
            state_changes: crate::state::StateChanges::new(),
        }
    }

    /// Whether the run gave a complete, non-empty answer ([`RunOutcome::Answered`] or
    /// [`RunOutcome::AnsweredAtStepLimit`]).
    pub fn is_answered(&self) -> bool {
        matches!(
            self.outcome,
            RunOutcome::Answered | RunOutcome::AnsweredAtStepLimit
        )
    }
}

/// How a completed run ended. Anything but an answer is said here, never hidden behind an empty
/// string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunOutcome {
    /// The model answered.
    Answered,
    /// The model answered after the run reached its step limit (some tools it asked for were
    /// not run).
    AnsweredAtStepLimit,
    /// The model's last reply held no text (for example it only asked for more tools after the
    /// step limit).
    EmptyAnswer,
    /// The answer was cut off by the token limit (`max_tokens`).
    Truncated,
    /// A guardrail intervened; the response is the guardrail's message.
    GuardrailIntervened,
    /// The provider filtered the content.
    ContentFiltered,
    /// The run waits for a person's decision on tool calls
    /// ([`RunResult::pending_interrupts`]); nothing of its turn is in the conversation yet.
    Paused,
}

impl RunOutcome {
    /// The outcome of a run that answered `response` with `stop_reason`.
    pub fn of(response: &str, stop_reason: &StopReason, step_limit_reached: bool) -> Self {
        match stop_reason {
            StopReason::GuardrailIntervened => RunOutcome::GuardrailIntervened,
            StopReason::ContentFiltered => RunOutcome::ContentFiltered,
            StopReason::MaxTokens => RunOutcome::Truncated,
            _ if response.trim().is_empty() => RunOutcome::EmptyAnswer,
            _ if step_limit_reached => RunOutcome::AnsweredAtStepLimit,
            _ => RunOutcome::Answered,
        }
    }

    /// The outcome's name (`answered`, `empty_answer`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Answered => "answered",
            RunOutcome::AnsweredAtStepLimit => "answered_at_step_limit",
            RunOutcome::EmptyAnswer => "empty_answer",
            RunOutcome::Truncated => "truncated",
            RunOutcome::GuardrailIntervened => "guardrail_intervened",
            RunOutcome::ContentFiltered => "content_filtered",
            RunOutcome::Paused => "paused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_never_hide_an_empty_answer() {
        assert_eq!(
            RunOutcome::of("", &StopReason::EndTurn, false),
            RunOutcome::EmptyAnswer
        );
        assert_eq!(
            RunOutcome::of("  ", &StopReason::EndTurn, true),
            RunOutcome::EmptyAnswer
        );
        assert_eq!(
            RunOutcome::of("42", &StopReason::EndTurn, true),
            RunOutcome::AnsweredAtStepLimit
        );
        assert_eq!(
            RunOutcome::of("cut", &StopReason::MaxTokens, false),
            RunOutcome::Truncated
        );
        assert_eq!(
            RunOutcome::of("Sorry.", &StopReason::GuardrailIntervened, false),
            RunOutcome::GuardrailIntervened
        );
    }
}
