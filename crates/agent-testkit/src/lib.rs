//! # agent-testkit
//!
//! Test aids for MinimalAgent, for this project's tests and for users testing their own agents
//! offline:
//!
//! - [`ScriptedModel`]: an in-process [`agent_core::Model`] that replies from a script and
//!   records every request, for unit tests.
//! - A wire-level Amazon Bedrock Converse stand-in server on `127.0.0.1`, for tests that go
//!   through the real `aws-sdk-bedrockruntime` client.
//!
//! ```
//! use agent_testkit::ScriptedModel;
//! use serde_json::json;
//!
//! let model = ScriptedModel::new()
//!     .then_tools(Some("I need the weather"), &[("get_weather", json!({"location": "Seattle"}))])
//!     .then_text("It is sunny in Seattle.");
//! assert_eq!(model.remaining(), 2);
//! ```

mod scripted;

pub use scripted::{ScriptedModel, ScriptedReply, text_response, tool_use_response};
