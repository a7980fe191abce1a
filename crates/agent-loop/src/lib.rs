//! # agent-loop
//!
//! MinimalAgent's reasoning loop: call the model, run the tools it asks for, repeat until it
//! answers. [`AgentLoop`] streams each model reply, runs the tools of a step concurrently
//! (results in the model's order), turns tool failures, panics, unknown tools and bad input into
//! error results the model can act on, retries replies that broke off, compacts the history when
//! the model says it is too long, stops at `max_steps` with a valid request for the final
//! answer, can ask for a typed answer ([`StructuredAnswer`]), can be cancelled, and resumes an
//! interrupted run from its recorded events.
//!
//! The loop lives apart from `agent-core` (messages, the `Model` and `Tool` traits, events and
//! the trace), as `tracing` lives apart from `tracing-core`: models, tools and stores depend on
//! the core, whose API changes least, and a change to the loop is not a breaking change for
//! them. Applications use the loop through the `minimalagent` facade; `agent-runtime` runs it
//! in a session store.
//!
//! ```
//! use std::sync::Arc;
//! use agent_core::{
//!     async_trait, Message, Model, ModelError, ModelRequest, ModelResponse, NoEvents,
//!     StopReason, ToolSet,
//! };
//! use agent_loop::{AgentLoop, RunInput};
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
//! let agent_loop = AgentLoop::new(Arc::new(Parrot), ToolSet::default());
//! let result = agent_loop.run(RunInput::new("hello"), &NoEvents).await?;
//! assert!(result.response.starts_with("You said: hello"));
//! assert_eq!(result.messages.len(), 2);
//! assert!(result.is_answered());
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assemble;
mod config;
mod conversation;
mod error;
mod hooks;
mod input;
mod run;
mod telemetry;

pub use config::{AgentLoop, DEFAULT_STREAM_RETRIES};
pub use conversation::{
    EARLIER_RUN_NOT_RUN, NO_ANSWER, NO_REPLY, STEP_LIMIT_NOT_RUN, is_time_line, step_limit_prompt,
    time_line,
};
pub use error::{FailedRun, RunError};
pub use hooks::{Hook, HookContext, RunDecision, ToolCallView, ToolDecision, always_approve_key};
pub use input::{AnswerCheck, Compacted, ContextCompactor, EventLog, RunInput, StructuredAnswer};
pub use run::estimate_tokens;
