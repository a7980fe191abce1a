//! Runs that wait for a person: a tool call held for approval ([`Interrupt`]) and the answer it
//! gets ([`InterruptDecision`]).

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool call a run holds until someone decides on it: the tool asks for approval, or a hook
/// asked to interrupt. The run pauses after the model's step (the step's other calls run), its
/// record says `paused`, and it costs nothing while it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Interrupt {
    /// Its id: the held call's `toolUse` id, unique in the run.
    pub id: String,
    /// The model call that asked for the tool.
    pub step: u32,
    /// The tool's name.
    pub tool: String,
    /// The input the model gave.
    pub input: Value,
    /// Why it waits (the tool's or the hook's words).
    pub reason: String,
    /// When it stops waiting: a decision after that reads as denied ("expired").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    pub expires_at: Option<Timestamp>,
}

impl Interrupt {
    /// A call held for `reason`.
    pub fn new(
        step: u32,
        tool_use_id: impl Into<String>,
        tool: impl Into<String>,
        input: Value,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            id: tool_use_id.into(),
            step,
            tool: tool.into(),
            input,
            reason: reason.into(),
            expires_at: None,
        }
    }

    /// The same interrupt, waiting until `expires_at`.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Option<Timestamp>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Whether it has stopped waiting at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// What someone decided on an [`Interrupt`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InterruptDecision {
    /// Run the call as the model asked.
    Approve,
    /// Run the call, and from now on in this session run this tool without asking (with
    /// `this_input_only`, only when the model gives this same input). Kept in the session's
    /// state, under `approval.always.{tool}`.
    ApproveAlways {
        /// Only this input, not every input.
        #[serde(default)]
        this_input_only: bool,
    },
    /// Run the call with this input instead.
    ApproveWithInput {
        /// The input to run it with.
        input: Value,
    },
    /// Do not run it; the model is told this.
    Deny {
        /// What the model is told.
        message: String,
    },
    /// Do not run it; this is its result, as the tool would have given it.
    Answer {
        /// The result.
        output: Value,
    },
    /// Nobody decided before it expired: not run, and the model is told it was denied.
    Expired,
}

impl InterruptDecision {
    /// Its name (`approve`, `deny`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            InterruptDecision::Approve => "approve",
            InterruptDecision::ApproveAlways { .. } => "approve_always",
            InterruptDecision::ApproveWithInput { .. } => "approve_with_input",
            InterruptDecision::Deny { .. } => "deny",
            InterruptDecision::Answer { .. } => "answer",
            InterruptDecision::Expired => "expired",
        }
    }

    /// Whether the call runs.
    pub fn runs_the_call(&self) -> bool {
        matches!(
            self,
            InterruptDecision::Approve
                | InterruptDecision::ApproveAlways { .. }
                | InterruptDecision::ApproveWithInput { .. }
        )
    }
}

/// Decisions on a paused run's held calls, by interrupt id (see `Agent::respond`). Several
/// held calls may be answered at once, or one at a time: the run goes on once every held call
/// has a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Decisions(std::collections::BTreeMap<String, InterruptDecision>);

impl Decisions {
    /// No decision yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same decisions with `decision` on interrupt `id` (replacing an earlier one on it).
    #[must_use]
    pub fn with(mut self, id: impl Into<String>, decision: InterruptDecision) -> Self {
        self.0.insert(id.into(), decision);
        self
    }

    /// Approves interrupt `id`: the call runs as the model asked.
    #[must_use]
    pub fn approve(self, id: impl Into<String>) -> Self {
        self.with(id, InterruptDecision::Approve)
    }

    /// Approves interrupt `id` with another input.
    #[must_use]
    pub fn approve_with_input(self, id: impl Into<String>, input: Value) -> Self {
        self.with(id, InterruptDecision::ApproveWithInput { input })
    }

    /// Approves interrupt `id`, and this tool for the rest of the session (with
    /// `this_input_only`, only with this input).
    #[must_use]
    pub fn approve_always(self, id: impl Into<String>, this_input_only: bool) -> Self {
        self.with(id, InterruptDecision::ApproveAlways { this_input_only })
    }

    /// Denies interrupt `id`; the model is told `message`.
    #[must_use]
    pub fn deny(self, id: impl Into<String>, message: impl Into<String>) -> Self {
        self.with(
            id,
            InterruptDecision::Deny {
                message: message.into(),
            },
        )
    }

    /// Answers interrupt `id` in place of the tool: the call does not run, and the model gets
    /// `output` as its result.
    #[must_use]
    pub fn answer(self, id: impl Into<String>, output: Value) -> Self {
        self.with(id, InterruptDecision::Answer { output })
    }

    /// The same decision on every one of `interrupts`.
    pub fn all<'a>(
        interrupts: impl IntoIterator<Item = &'a Interrupt>,
        decision: &InterruptDecision,
    ) -> Self {
        Self(
            interrupts
                .into_iter()
                .map(|interrupt| (interrupt.id.clone(), decision.clone()))
                .collect(),
        )
    }

    /// The decisions, by interrupt id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &InterruptDecision)> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
