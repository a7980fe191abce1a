//! The [`Tool`] trait and the set of tools one agent offers.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::model::ToolSpec;

/// A tool the model can ask the agent to run.
///
/// Most tools are written as plain functions with the `#[tool]` attribute (crate
/// `agent-tools`), which implements this trait. Implement it by hand for tools whose name,
/// description or schema are known only at run time.
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
    /// field, so the model can correct itself on the next step.
    async fn call(&self, input: Value) -> Result<Value, ToolError>;
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
    async fn call(&self, input: Value) -> Result<Value, ToolError> {
        (**self).call(input).await
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
    async fn call(&self, input: Value) -> Result<Value, ToolError> {
        (**self).call(input).await
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
}

impl fmt::Display for ToolErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ToolErrorKind::InvalidInput => "invalid input",
            ToolErrorKind::Failed => "tool failed",
            ToolErrorKind::Panicked => "tool panicked",
            ToolErrorKind::UnknownTool => "unknown tool",
            ToolErrorKind::NotRun => "not run",
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

    /// The tool ran and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::Failed, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ToolErrorKind {
        self.kind
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

/// Whether `name` is a tool name Converse accepts.
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

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}
