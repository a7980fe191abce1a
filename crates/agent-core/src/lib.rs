//! # agent-core
//!
//! The core of MinimalAgent for Rust: Converse-shaped [`Message`]s, the [`Model`] and [`Tool`]
//! traits, the reasoning loop ([`AgentLoop`]) and its trace ([`Reasoning`]).
//!
//! Most applications depend on the `minimalagent` facade instead; backends (models, session
//! stores) and tool libraries depend on this crate, whose API changes least often.
//!
//! ```
//! use std::sync::Arc;
//! use agent_core::{
//!     async_trait, AgentLoop, InferenceConfig, Message, Model, ModelError, ModelRequest,
//!     ModelResponse, NoObserver, Reasoning, StopReason, TokenUsage, ToolSet,
//! };
//!
//! /// A model that answers every query with the same words.
//! struct Parrot;
//!
//! #[async_trait]
//! impl Model for Parrot {
//!     async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
//!         let query = request.messages.last().map(Message::text).unwrap_or_default();
//!         Ok(ModelResponse {
//!             message: Message::assistant_text(format!("You said: {query}")),
//!             stop_reason: StopReason::EndTurn,
//!             usage: TokenUsage::default(),
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let agent_loop = AgentLoop::new(Arc::new(Parrot), ToolSet::default(), "", 5, InferenceConfig::default());
//! let mut reasoning = Reasoning::start("hello", None);
//! let output = agent_loop.run(Vec::new(), &mut reasoning, &NoObserver).await?;
//! assert_eq!(output.response, "You said: hello");
//! assert_eq!(output.new_messages().len(), 2);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod agent_loop;
mod event;
mod message;
mod model;
mod reasoning;
mod thinking;
mod tool;

pub use agent_loop::{
    AgentLoop, EARLIER_RUN_NOT_RUN, NO_ANSWER, NO_REPLY, RunError, RunOutput, STEP_LIMIT_NOT_RUN,
    step_limit_prompt,
};
pub use event::{NoObserver, RunEvent, RunObserver};
pub use message::{
    ContentBlock, Message, ReasoningContent, ReasoningText, Role, ToolResult, ToolResultContent,
    ToolResultStatus, ToolUse,
};
pub use model::{
    InferenceConfig, Model, ModelError, ModelErrorKind, ModelRequest, ModelResponse, StopReason,
    TokenUsage, ToolSpec,
};
pub use reasoning::{
    Reasoning, ReasoningStep, RunFailure, RunStatus, ToolCallError, ToolCallStatus, ToolInvocation,
};
pub use thinking::{split_thinking, thinking_and_answer};
pub use tool::{Tool, ToolError, ToolErrorKind, ToolSet, ToolSetError, is_valid_tool_name};

/// Re-exported so that `Model`, `Tool` and `RunObserver` can be implemented without adding
/// `async-trait` as a dependency.
pub use async_trait::async_trait;

/// Re-exports used by code that `#[tool]` generates. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use serde_path_to_error;
}
