//! The [`Tool`] trait, the context a call runs in, and the set of tools one agent offers.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::message::ToolResultContent;
use crate::model::ToolSpec;
use crate::state::StateHandle;

/// A tool the model can ask the agent to run.
///
/// Most tools are written as plain functions with the `#[tool]` attribute (crate
/// `agent-tools`), which implements this trait. Implement it by hand for tools whose name,
/// description or schema are known only at run time (for example tools of an MCP server).
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name the model calls it by: 1 to 64 characters of `[A-Za-z0-9_-]`, unique per agent.
    fn name(&self) -> &str;

    /// What the tool does, written for the model.
    fn description(&self) -> &str;

    /// A JSON Schema with a top-level `"type": "object"` describing the input.
    fn input_schema(&self) -> Value;

    /// Runs the tool on the model's input.
    ///
    /// Input that does not fit the schema should give [`ToolError::invalid_input`], naming the
    /// field, so the model can correct itself on the next step. A long-running tool should
    /// stop when [`ToolContext::cancellation`] fires (the run was cancelled).
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError>;

    /// Why each call waits for a person's approval before it runs (money moves, data is
    /// deleted, a customer is emailed), or `None` (the default) when it runs at once. A held
    /// call pauses the run (see `Agent::respond`).
    fn approval(&self) -> Option<&str> {
        None
    }

    /// Whether a call may run again when a crashed run resumes without knowing whether it ran:
    /// [`ToolEffect::AtMostOnce`] (the default) never runs twice — the model is told its
    /// outcome is unknown —, [`ToolEffect::AtLeastOnce`] (safe to repeat: read-only tools) runs
    /// again.
    fn effect(&self) -> ToolEffect {
        ToolEffect::AtMostOnce
    }
}

/// What running a tool twice would do (see [`Tool::effect`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolEffect {
    /// Safe to repeat (reads, idempotent writes keyed by [`ToolContext::idempotency_key`]).
    AtLeastOnce,
    /// Never runs twice: a call that started but whose result was not recorded is not run
    /// again on resume.
    AtMostOnce,
}

#[async_trait]
impl<T: Tool + ?Sized> Tool for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn description(&self) -> &str {
        (**self).description()
    }
    fn input_schema(&self) -> Value {
        (**self).input_schema()
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        (**self).call(input, context).await
    }
    fn approval(&self) -> Option<&str> {
        (**self).approval()
    }
    fn effect(&self) -> ToolEffect {
        (**self).effect()
    }
}

#[async_trait]
impl<T: Tool + ?Sized> Tool for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn description(&self) -> &str {
        (**self).description()
    }
    fn input_schema(&self) -> Value {
        (**self).input_schema()
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        (**self).call(input, context).await
    }
    fn approval(&self) -> Option<&str> {
        (**self).approval()
    }
    fn effect(&self) -> ToolEffect {
        (**self).effect()
    }
}

/// What a tool gives back: a JSON value (most tools), or content blocks (text, JSON, images,
/// documents) sent to the model as they are.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolOutput {
    /// A JSON value: an object is sent as a `json` block, a string as `text`, anything else as
    /// its JSON text.
    Value(Value),
    /// Content blocks, in order.
    Content(Vec<ToolResultContent>),
}

impl ToolOutput {
    /// The output as one JSON value, for traces: the value itself, or the content blocks as
    /// their Converse JSON (media as their format and size, not their bytes).
    pub fn to_trace_value(&self) -> Value {
        match self {
            ToolOutput::Value(value) => value.clone(),
            ToolOutput::Content(blocks) => Value::Array(
                blocks
                    .iter()
                    .map(|block| match block {
                        ToolResultContent::Image(image) => serde_json::json!({
                            "image": {"format": image.format.as_str(), "source": image.source.describe()}
                        }),
                        ToolResultContent::Document(document) => serde_json::json!({
                            "document": {"format": document.format.as_str(), "name": document.name,
                                         "source": document.source.describe()}
                        }),
                        other => serde_json::to_value(other).unwrap_or(Value::Null),
                    })
                    .collect(),
            ),
        }
    }
}

impl ToolOutput {
    /// The output as JSON: the value itself, or the content blocks as in traces.
    pub fn into_value(self) -> Value {
        match self {
            ToolOutput::Value(value) => value,
            other => other.to_trace_value(),
        }
    }
}

/// Calling a tool outside any run, for tests and direct use.
pub trait ToolExt: Tool {
    /// Calls the tool with a detached context (a fresh run id, no session, never cancelled)
    /// and returns its output as JSON.
    fn call_detached(
        &self,
        input: Value,
    ) -> impl std::future::Future<Output = Result<Value, ToolError>> + Send
    where
        Self: Sync,
    {
        async move {
            self.call(input, &ToolContext::detached())
                .await
                .map(ToolOutput::into_value)
        }
    }
}

impl<T: Tool + ?Sized> ToolExt for T {}

impl From<Value> for ToolOutput {
    fn from(value: Value) -> Self {
        ToolOutput::Value(value)
    }
}

impl From<Vec<ToolResultContent>> for ToolOutput {
    fn from(blocks: Vec<ToolResultContent>) -> Self {
        ToolOutput::Content(blocks)
    }
}

/// Values an application shares with every tool of an agent, looked up by type.
///
/// Given to the agent's builder (`.state(..)`) and reached from a tool with
/// [`ToolContext::state`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Extensions {
    values: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Extensions {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// These values plus `value` (replacing one of the same type).
    #[must_use]
    pub fn with<T: Any + Send + Sync>(self, value: T) -> Self {
        let mut values = Arc::unwrap_or_clone(self.values);
        values.insert(TypeId::of::<T>(), Arc::new(value));
        Self {
            values: Arc::new(values),
        }
    }

    /// The value of type `T`, if there is one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }
}

/// What a tool call knows about the run it belongs to.
#[derive(Debug, Clone)]
pub struct ToolContext {
    run_id: Uuid,
    session_id: Option<String>,
    tool_use_id: String,
    cancellation: CancellationToken,
    extensions: Extensions,
    session_state: StateHandle,
    approved: bool,
}

impl ToolContext {
    /// A context for a call of run `run_id`.
    pub fn new(run_id: Uuid, tool_use_id: impl Into<String>) -> Self {
        Self {
            run_id,
            session_id: None,
            tool_use_id: tool_use_id.into(),
            cancellation: CancellationToken::new(),
            extensions: Extensions::default(),
            session_state: StateHandle::default(),
            approved: false,
        }
    }

    /// A context for calling a tool outside any run (tests, direct calls): a fresh run id,
    /// no session, never cancelled, no shared values.
    pub fn detached() -> Self {
        Self::new(Uuid::now_v7(), "detached")
    }

    /// The same context in a session.
    #[must_use]
    pub fn with_session(mut self, session_id: Option<String>) -> Self {
        self.session_id = session_id;
        self
    }

    /// The same context with this cancellation token.
    #[must_use]
    pub fn with_cancellation(mut self, cancellation: CancellationToken) -> Self {
        self.cancellation = cancellation;
        self
    }

    /// The same context with these shared values.
    #[must_use]
    pub fn with_extensions(mut self, extensions: Extensions) -> Self {
        self.extensions = extensions;
        self
    }

    /// The same context with this view of the session's state.
    #[must_use]
    pub fn with_session_state(mut self, state: StateHandle) -> Self {
        self.session_state = state;
        self
    }

    /// The same context for a call a person approved (it was held for approval).
    #[must_use]
    pub fn with_approved(mut self, approved: bool) -> Self {
        self.approved = approved;
        self
    }

    /// Whether a person approved this call after it was held (by [`Tool::approval`], a hook,
    /// or the tool's own [`ToolError::needs_approval`]).
    pub fn is_approved(&self) -> bool {
        self.approved
    }

    /// The session's state as the run sees it: read it, and write it (saved with the run's
    /// turn). Empty outside a session.
    pub fn session_state(&self) -> &StateHandle {
        &self.session_state
    }

    /// A key that names this call and no other, stable when a resumed run runs it again:
    /// `{run id}:{toolUse id}`. A tool with effects outside (a payment, an email) passes it to
    /// the service it calls, so that the service does it once.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.run_id, self.tool_use_id)
    }

    /// The id of the run the call belongs to.
    pub fn run_id(&self) -> Uuid {
        self.run_id
    }

    /// The session of the run, if it runs in one.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The id of the `toolUse` this call answers.
    pub fn tool_use_id(&self) -> &str {
        &self.tool_use_id
    }

    /// Fires when the run is cancelled: a long tool should stop and return.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancellation
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }

    /// A value the application shared with the agent's tools (`AgentBuilder::state`).
    pub fn state<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    /// Every value the application shared.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }
}

/// Why a tool call did not give a result. The message goes back to the model in an error
/// `toolResult`, so it should say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ToolError {
    kind: ToolErrorKind,
    message: String,
}

/// The kinds of [`ToolError`].
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolErrorKind {
    /// The input did not fit the tool's arguments.
    InvalidInput,
    /// The tool ran and reported a failure.
    Failed,
    /// The tool panicked.
    Panicked,
    /// The model named a tool this agent does not have.
    UnknownTool,
    /// The tool was not run because the run reached its step limit.
    NotRun,
    /// The tool took longer than it was allowed.
    Timeout,
    /// The tool's backend (for example an MCP server) could not be reached or died.
    Unavailable,
    /// The run was cancelled while the tool ran.
    Cancelled,
    /// The call was not run: a person or a hook denied it.
    Denied,
    /// The call started in a run that stopped before its result was recorded, and the tool
    /// must not run twice ([`ToolEffect::AtMostOnce`]): whether it had its effect is unknown.
    OutcomeUnknown,
    /// The tool asks for a person's approval before it does anything
    /// ([`ToolError::needs_approval`]): the call is held and the run pauses.
    NeedsApproval,
    /// A kind this version does not know, kept as written.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl ToolErrorKind {
    /// The kind's stable name, as it serialises (`invalid_input`, `failed`, …): for logs,
    /// metrics and span attributes (`error.type`).
    pub fn as_str(&self) -> &str {
        match self {
            ToolErrorKind::InvalidInput => "invalid_input",
            ToolErrorKind::Failed => "failed",
            ToolErrorKind::Panicked => "panicked",
            ToolErrorKind::UnknownTool => "unknown_tool",
            ToolErrorKind::NotRun => "not_run",
            ToolErrorKind::Timeout => "timeout",
            ToolErrorKind::Unavailable => "unavailable",
            ToolErrorKind::Cancelled => "cancelled",
            ToolErrorKind::Denied => "denied",
            ToolErrorKind::OutcomeUnknown => "outcome_unknown",
            ToolErrorKind::NeedsApproval => "needs_approval",
            ToolErrorKind::Other(other) => other,
        }
    }
}

impl fmt::Display for ToolErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ToolErrorKind::InvalidInput => "invalid input",
            ToolErrorKind::Failed => "tool failed",
            ToolErrorKind::Panicked => "tool panicked",
            ToolErrorKind::UnknownTool => "unknown tool",
            ToolErrorKind::NotRun => "not run",
            ToolErrorKind::Timeout => "tool timed out",
            ToolErrorKind::Unavailable => "tool unavailable",
            ToolErrorKind::Cancelled => "cancelled",
            ToolErrorKind::Denied => "denied",
            ToolErrorKind::OutcomeUnknown => "outcome unknown",
            ToolErrorKind::NeedsApproval => "needs approval",
            ToolErrorKind::Other(other) => other,
        })
    }
}

impl ToolError {
    /// A new error of the given kind.
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The input did not fit the tool's arguments; `message` names the field and what was expected.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::InvalidInput, message)
    }

    /// The tool asks for a person's approval before it does anything, for `reason` (decided at
    /// run time: an amount over a limit, an agent used as a tool that waits for one). The call
    /// is held as if the tool had asked through [`Tool::approval`]: the run pauses, and once
    /// approved the tool is called again with [`ToolContext::is_approved`] true. The tool must
    /// not have had any effect when it returns this.
    pub fn needs_approval(reason: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::NeedsApproval, reason)
    }

    /// The tool ran and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::Failed, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ToolErrorKind {
        &self.kind
    }

    /// The message for the model.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a set of tools cannot be offered to a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolSetError {
    /// Two tools share a name.
    #[error("two tools are named `{0}`; tool names must be unique per agent")]
    DuplicateName(String),
    /// A name Converse would reject.
    #[error("tool name `{0}` must be 1 to 64 characters of [A-Za-z0-9_-]")]
    InvalidName(String),
    /// A tool without a description (Converse requires one).
    #[error("tool `{0}` has an empty description")]
    EmptyDescription(String),
    /// A schema whose top level is not `"type": "object"`.
    #[error("tool `{0}`: the input schema must be a JSON object with \"type\": \"object\"")]
    InvalidSchema(String),
}

/// The tools of one agent, looked up by name, with their specs computed once.
#[derive(Clone, Default)]
pub struct ToolSet {
    by_name: HashMap<String, Arc<dyn Tool>>,
    specs: Arc<[ToolSpec]>,
}

impl fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.specs.iter().map(|spec| &spec.name))
            .finish()
    }
}

/// Whether `name` is a tool name Converse accepts: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ToolSet {
    /// Checks the tools and builds the set; order is kept in the specs sent to the model.
    pub fn new(tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> Result<Self, ToolSetError> {
        let mut by_name = HashMap::new();
        let mut specs = Vec::new();
        for tool in tools {
            let name = tool.name().to_owned();
            if !is_valid_tool_name(&name) {
                return Err(ToolSetError::InvalidName(name));
            }
            if tool.description().trim().is_empty() {
                return Err(ToolSetError::EmptyDescription(name));
            }
            let input_schema = tool.input_schema();
            if input_schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(ToolSetError::InvalidSchema(name));
            }
            specs.push(ToolSpec {
                name: name.clone(),
                description: tool.description().to_owned(),
                input_schema,
            });
            if by_name.insert(name.clone(), tool).is_some() {
                return Err(ToolSetError::DuplicateName(name));
            }
        }
        Ok(Self {
            by_name,
            specs: specs.into(),
        })
    }

    /// The tool with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.by_name.get(name)
    }

    /// The specs sent to the model, in the order the tools were given.
    pub fn specs(&self) -> &Arc<[ToolSpec]> {
        &self.specs
    }

    /// The tools' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.iter().map(|spec| spec.name.as_str())
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ImageBlock, ImageFormat};
    use serde_json::json;

    #[test]
    fn error_kind_names_are_their_serialised_names() {
        for kind in [
            ToolErrorKind::InvalidInput,
            ToolErrorKind::Failed,
            ToolErrorKind::Panicked,
            ToolErrorKind::UnknownTool,
            ToolErrorKind::NotRun,
            ToolErrorKind::Timeout,
            ToolErrorKind::Unavailable,
            ToolErrorKind::Cancelled,
            ToolErrorKind::Other("quota".into()),
        ] {
            assert_eq!(json!(kind), json!(kind.as_str()));
        }
    }

    #[test]
    fn extensions_hold_one_value_per_type() {
        let extensions = Extensions::new()
            .with(5_u32)
            .with("db".to_owned())
            .with(7_u32);
        assert_eq!(extensions.get::<u32>(), Some(&7));
        assert_eq!(extensions.get::<String>().map(String::as_str), Some("db"));
        assert!(extensions.get::<i64>().is_none());
        let context = ToolContext::detached().with_extensions(extensions);
        assert_eq!(context.state::<u32>(), Some(&7));
        assert!(!context.is_cancelled());
    }

    #[test]
    fn content_outputs_show_media_as_metadata_in_traces() {
        let output = ToolOutput::Content(vec![
            ToolResultContent::Text("chart".into()),
            ToolResultContent::Image(ImageBlock::from_bytes(ImageFormat::Png, vec![0; 2048])),
        ]);
        assert_eq!(
            output.to_trace_value(),
            json!([{"text": "chart"}, {"image": {"format": "png", "source": "2048 bytes"}}])
        );
    }
}
