//! # agent-core
//!
//! The core of MinimalAgent for Rust, the crate whose API changes least: Converse-shaped
//! [`Message`]s, the [`Model`] and [`Tool`] traits, the [`AgentEvent`]s a run reports, and its
//! trace ([`Reasoning`]), the fold of those events ([`Reasoning::apply`]).
//!
//! Models, tools and session stores depend on this crate alone. The loop that drives a model and
//! its tools is `agent-loop`; applications use both through the `minimalagent` facade.
//!
//! ```
//! use agent_core::{async_trait, Message, Model, ModelError, ModelRequest, ModelResponse, StopReason};
//!
//! /// A model that answers every query with the same words.
//! struct Parrot;
//!
//! #[async_trait]
//! impl Model for Parrot {
//!     async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
//!         let query = request.messages.last().map(|m| m.text()).unwrap_or_default();
//!         let reply = Message::assistant_text(format!("You said: {query}"));
//!         Ok(ModelResponse::new(reply, StopReason::EndTurn))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reply = Parrot.converse(&ModelRequest::new(vec![Message::user_text("hello")])).await?;
//! assert_eq!(reply.message.text(), "You said: hello");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod coalescing;
mod event;
mod interrupt;
mod message;
mod model;
mod reasoning;
mod result;
mod schema;
mod state;
mod thinking;
mod tool;

pub use clock::{Clock, SystemClock, TokioClock};
pub use coalescing::{Coalesce, CoalescingReceiver, CoalescingSender, coalescing_channel};
pub use event::{AgentEvent, EventSink, NoEvents};
pub use interrupt::{Decisions, Interrupt, InterruptDecision};
pub use message::{
    CachePoint, ContentBlock, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, MediaSource,
    Message, ReasoningContent, ReasoningText, Role, S3Location, ToolResult, ToolResultContent,
    ToolResultStatus, ToolUse,
};
pub use model::{
    BlockDelta, BlockStart, ConversionCache, DroppedFeature, InferenceConfig, MalformedToolInput,
    Model, ModelError, ModelErrorKind, ModelEventStream, ModelIdentity, ModelRequest,
    ModelResponse, ModelStreamEvent, StopReason, TokenUsage, ToolChoice, ToolDigest, ToolSpec,
    response_events,
};
pub use reasoning::{
    AnsweredInterrupt, Reasoning, ReasoningStep, RunFailure, RunStatus, StepFeatureDropped,
    ToolCallError, ToolCallStatus, ToolInvocation,
};
pub use result::{RunOutcome, RunResult};
pub use state::{
    MAX_STATE_BYTES, MAX_STATE_KEY_LEN, MAX_STATE_VALUE_BYTES, SessionState, StateChanges,
    StateError, StateHandle,
};
pub use thinking::{split_thinking, thinking_and_answer};
pub use tool::{
    Extensions, Tool, ToolContext, ToolEffect, ToolError, ToolErrorKind, ToolExt, ToolOutput,
    ToolSet, ToolSetError, is_valid_tool_name,
};

/// The AWS region MinimalAgent's AWS backends (Bedrock, DynamoDB) use when neither the builder
/// nor the AWS environment (`AWS_REGION`, the profile) names one.
pub const DEFAULT_AWS_REGION: &str = "us-west-2";

/// Re-exported so that `Model` and `Tool` can be implemented without adding `async-trait` as a
/// dependency.
pub use async_trait::async_trait;
/// Re-exported for [`ToolContext::cancellation`] (and the loop's run input).
pub use tokio_util::sync::CancellationToken;

/// Re-exports used by code that `#[tool]` generates. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{Tool, ToolContext, ToolEffect, ToolError, ToolOutput};
    pub use async_trait::async_trait;
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use serde_path_to_error;
}
