//! Hooks: code the loop calls at run start and end, around each model call and each tool call,
//! whose decisions can deny a tool call, rewrite its input, hold it for a person's approval, or
//! stop the run.
//!
//! Hooks run in the order they were registered. Before a tool call, each hook sees the input as
//! the hooks before it left it (a [`ToolDecision::Rewrite`] passes the new input on); a
//! [`ToolDecision::Deny`] or [`ToolDecision::Stop`] ends the chain and is the call's decision;
//! a [`ToolDecision::Interrupt`] holds the call but the later hooks are still asked (one may
//! deny it, or stop the run). At the other points the first [`RunDecision::Stop`] ends the
//! chain and the run.

use std::sync::Arc;

use agent_core::{
    ModelRequest, ModelResponse, RunStatus, StateHandle, ToolEffect, ToolInvocation, async_trait,
};
use serde_json::Value;
use uuid::Uuid;

/// What a hook sees of the run it is called in.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HookContext<'a> {
    /// The run's id.
    pub run_id: Uuid,
    /// The run's session, if it has one.
    pub session_id: Option<&'a str>,
    /// The model call under way (0 before the first).
    pub step: u32,
    /// The session's state as the run sees it: read it, and write it (saved with the turn).
    pub state: &'a StateHandle,
}

/// A tool call as a hook sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ToolCallView<'a> {
    /// The call's `toolUse` id.
    pub tool_use_id: &'a str,
    /// The tool's name.
    pub name: &'a str,
    /// The input it runs with (as the hooks before this one left it).
    pub input: &'a Value,
    /// Why the tool itself asks for approval, when it does ([`agent_core::Tool::approval`]).
    pub approval: Option<&'a str>,
    /// Whether the tool may run twice ([`agent_core::Tool::effect`]).
    pub effect: ToolEffect,
}

/// A hook's decision on a tool call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolDecision {
    /// Let it run (the next hook decides next).
    Proceed,
    /// Do not run it; the model sees `message` as the call's error.
    Deny {
        /// What the model is told.
        message: String,
    },
    /// Run it with this input instead (the next hook sees it).
    Rewrite {
        /// The new input.
        input: Value,
    },
    /// Hold it for a person's decision: the run pauses after this step.
    Interrupt {
        /// Why, shown to whoever decides.
        reason: String,
    },
    /// Stop the run: it ends `cancelled`, its turn not kept, the reason in its trace.
    Stop {
        /// Why.
        reason: String,
    },
}

/// A hook's decision at the run's other points.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunDecision {
    /// Go on.
    Proceed,
    /// Stop the run: it ends `cancelled`, its turn not kept, the reason in its trace.
    Stop {
        /// Why.
        reason: String,
    },
}

/// Code the loop calls at fixed points of each run. Every method has a default that proceeds,
/// so a hook implements only the points it cares about. Hooks are called on the run's task:
/// keep them quick, and never hold a lock across an await.
///
/// A call held for approval that a person approved runs without `before_tool_call` being asked
/// again (the person decided); `after_tool_call` sees it as any other.
///
/// ```
/// use agent_loop::{Hook, HookContext, ToolCallView, ToolDecision};
/// use agent_core::async_trait;
///
/// /// Holds every transfer above 1,000 for a person's approval.
/// struct LargeTransfers;
///
/// #[async_trait]
/// impl Hook for LargeTransfers {
///     async fn before_tool_call(&self, _run: &HookContext<'_>, call: &ToolCallView<'_>) -> ToolDecision {
///         let amount = call.input["amount"].as_f64().unwrap_or(0.0);
///         if call.name == "transfer" && amount > 1000.0 {
///             ToolDecision::Interrupt { reason: format!("a transfer of {amount}") }
///         } else {
///             ToolDecision::Proceed
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Hook: Send + Sync {
    /// The run starts (a resumed run does not start again).
    async fn run_started(&self, run: &HookContext<'_>) -> RunDecision {
        let _ = run;
        RunDecision::Proceed
    }

    /// A model call is about to be made with `request`.
    async fn before_model_call(
        &self,
        run: &HookContext<'_>,
        request: &ModelRequest,
    ) -> RunDecision {
        let _ = (run, request);
        RunDecision::Proceed
    }

    /// The model replied.
    async fn after_model_call(
        &self,
        run: &HookContext<'_>,
        response: &ModelResponse,
    ) -> RunDecision {
        let _ = (run, response);
        RunDecision::Proceed
    }

    /// The model asked for a tool call.
    async fn before_tool_call(
        &self,
        run: &HookContext<'_>,
        call: &ToolCallView<'_>,
    ) -> ToolDecision {
        let _ = (run, call);
        ToolDecision::Proceed
    }

    /// A tool call ended (ran, failed, or was denied).
    async fn after_tool_call(
        &self,
        run: &HookContext<'_>,
        call: &ToolCallView<'_>,
        invocation: &ToolInvocation,
    ) -> RunDecision {
        let _ = (run, call, invocation);
        RunDecision::Proceed
    }

    /// The run ended with `status` (`paused` included: it will go on after the decisions).
    async fn run_ended(&self, run: &HookContext<'_>, status: &RunStatus) {
        let _ = (run, status);
    }
}

/// The hooks of an agent, in order.
#[derive(Clone, Default)]
pub(crate) struct Hooks(Vec<Arc<dyn Hook>>);

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hooks", self.0.len())
    }
}

/// The decision the hooks came to on a tool call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallDecision {
    /// Run it with this input.
    Run(Value),
    /// Do not run it; the model is told this.
    Deny(String),
    /// Hold it for a person: why, and the input it would run with.
    Interrupt(String, Value),
    /// Stop the run.
    Stop(String),
}

impl Hooks {
    pub(crate) fn push(&mut self, hook: Arc<dyn Hook>) {
        self.0.push(hook);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first stop, if any hook stops the run when it starts.
    pub(crate) async fn started(&self, run: &HookContext<'_>) -> Option<String> {
        for hook in &self.0 {
            if let RunDecision::Stop { reason } = hook.run_started(run).await {
                return Some(reason);
            }
        }
        None
    }

    /// The first stop, if any hook stops the run before a model call.
    pub(crate) async fn before_model(
        &self,
        run: &HookContext<'_>,
        request: &ModelRequest,
    ) -> Option<String> {
        for hook in &self.0 {
            if let RunDecision::Stop { reason } = hook.before_model_call(run, request).await {
                return Some(reason);
            }
        }
        None
    }

    /// The first stop, if any hook stops the run after a model call.
    pub(crate) async fn after_model(
        &self,
        run: &HookContext<'_>,
        response: &ModelResponse,
    ) -> Option<String> {
        for hook in &self.0 {
            if let RunDecision::Stop { reason } = hook.after_model_call(run, response).await {
                return Some(reason);
            }
        }
        None
    }

    /// The hooks' decision on a call the model asked for: the tool's own approval first (a
    /// hook may still deny or stop), then each hook in order.
    pub(crate) async fn decide_call(
        &self,
        run: &HookContext<'_>,
        call: &ToolCallView<'_>,
    ) -> CallDecision {
        let mut input = call.input.clone();
        let mut held = call.approval.map(str::to_owned);
        for hook in &self.0 {
            let view = ToolCallView {
                input: &input,
                ..*call
            };
            match hook.before_tool_call(run, &view).await {
                ToolDecision::Proceed => {}
                ToolDecision::Rewrite { input: new } => input = new,
                ToolDecision::Deny { message } => return CallDecision::Deny(message),
                ToolDecision::Interrupt { reason } => {
                    held.get_or_insert(reason);
                }
                ToolDecision::Stop { reason } => return CallDecision::Stop(reason),
            }
        }
        match held {
            Some(reason) => CallDecision::Interrupt(reason, input),
            None => CallDecision::Run(input),
        }
    }

    pub(crate) async fn after_call(
        &self,
        run: &HookContext<'_>,
        call: &ToolCallView<'_>,
        invocation: &ToolInvocation,
    ) -> Option<String> {
        for hook in &self.0 {
            if let RunDecision::Stop { reason } = hook.after_tool_call(run, call, invocation).await
            {
                return Some(reason);
            }
        }
        None
    }

    pub(crate) async fn ended(&self, run: &HookContext<'_>, status: &RunStatus) {
        for hook in &self.0 {
            hook.run_ended(run, status).await;
        }
    }
}

/// The session state key under which "always approve" decisions on `tool` are kept: `true`
/// (any input) or `{"inputs": [...]}` (these inputs only).
pub fn always_approve_key(tool: &str) -> String {
    format!("approval.always.{tool}")
}

/// Whether the session's state says a call of `tool` with `input` needs no approval.
pub(crate) fn always_approved(state: &StateHandle, tool: &str, input: &Value) -> bool {
    match state.get::<Value>(&always_approve_key(tool)) {
        Ok(Some(Value::Bool(true))) => true,
        Ok(Some(Value::Object(kept))) => kept
            .get("inputs")
            .and_then(Value::as_array)
            .is_some_and(|inputs| inputs.contains(input)),
        _ => false,
    }
}

/// Remembers in the session's state that calls of `tool` (with `input` only, when given) need
/// no approval from now on. A state too large to hold it is logged and left as it was: the
/// call itself was approved.
pub(crate) fn remember_always_approved(state: &StateHandle, tool: &str, input: Option<&Value>) {
    let key = always_approve_key(tool);
    let value = match input {
        None => Value::Bool(true),
        Some(input) => {
            let mut inputs = match state.get::<Value>(&key) {
                Ok(Some(Value::Bool(true))) => return,
                Ok(Some(Value::Object(kept))) => kept
                    .get("inputs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if !inputs.contains(input) {
                inputs.push(input.clone());
            }
            serde_json::json!({ "inputs": inputs })
        }
    };
    if let Err(error) = state.set(&key, &value) {
        tracing::warn!(%error, tool, "could not remember the approval in the session's state");
    }
}
