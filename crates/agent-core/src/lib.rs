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
//!     async_trait, AgentLoop, Message, Model, ModelError, ModelRequest, ModelResponse,
//!     NoEvents, RunInput, StopReason, ToolSet,
//! };
//!
//! /// A model that answers every query with the same words.
//! struct Parrot;
//!
//! #[async_trait]
//! impl Model for Parrot {
//!     async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
//!         let query = request.messages.last().map(Message::text).unwrap_or_default();
//!         let reply = Message::assistant_text(format!("You said: {query}"));
//!         Ok(ModelResponse::new(reply, StopReason::EndTurn))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let agent_loop = AgentLoop::new(Arc::new(Parrot), ToolSet::default());
//! let result = agent_loop.run(RunInput::new("hello"), &NoEvents).await?;
//! assert_eq!(result.response, "You said: hello");
//! assert_eq!(result.messages.len(), 2);
//! assert!(result.is_answered());
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod agent_loop;
mod assemble;
mod event;
mod message;
mod model;
mod reasoning;
mod result;
mod schema;
mod telemetry;
mod thinking;
mod tool;

pub use agent_loop::{
    AgentLoop, AnswerCheck, Compacted, ContextCompactor, DEFAULT_STREAM_RETRIES,
    EARLIER_RUN_NOT_RUN, NO_ANSWER, NO_REPLY, RunInput, STEP_LIMIT_NOT_RUN, StructuredAnswer,
    estimate_tokens, step_limit_prompt,
};
pub use event::{AgentEvent, EventSink, NoEvents};
pub use message::{
    CachePoint, ContentBlock, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, MediaSource,
    Message, ReasoningContent, ReasoningText, Role, S3Location, ToolResult, ToolResultContent,
    ToolResultStatus, ToolUse,
};
pub use model::{
    BlockDelta, BlockStart, ConversionCache, InferenceConfig, MalformedToolInput, Model,
    ModelError, ModelErrorKind, ModelEventStream, ModelIdentity, ModelRequest, ModelResponse,
    ModelStreamEvent, StopReason, TokenUsage, ToolChoice, ToolSpec, response_events,
};
pub use reasoning::{
    Reasoning, ReasoningStep, RunFailure, RunStatus, ToolCallError, ToolCallStatus, ToolInvocation,
};
pub use result::{FailedRun, RunError, RunOutcome, RunResult};
pub use thinking::{split_thinking, thinking_and_answer};
pub use tool::{
    Extensions, Tool, ToolContext, ToolError, ToolErrorKind, ToolExt, ToolOutput, ToolSet,
    ToolSetError, is_valid_tool_name,
};

/// The AWS region MinimalAgent's AWS backends (Bedrock, DynamoDB) use when neither the builder
/// nor the AWS environment (`AWS_REGION`, the profile) names one.
pub const DEFAULT_AWS_REGION: &str = "us-west-2";

/// Re-exported so that `Model` and `Tool` can be implemented without adding `async-trait` as a
/// dependency.
pub use async_trait::async_trait;
/// Re-exported for [`ToolContext::cancellation`] and [`RunInput::cancellation`].
pub use tokio_util::sync::CancellationToken;

/// Re-exports used by code that `#[tool]` generates. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{Tool, ToolContext, ToolError, ToolOutput};
    pub use async_trait::async_trait;
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use serde_path_to_error;
}
