//! # agent-testkit
//!
//! Test aids for MinimalAgent, for this project's tests and for users testing their own agents
//! offline:
//!
//! - [`ConverseStandIn`]: a local HTTP server on `127.0.0.1` that speaks the Amazon Bedrock
//!   Converse API on the wire, so that the real `aws-sdk-bedrockruntime` client (and with it
//!   `BedrockModel` and whole agents) runs without AWS. It replies from a script, a closure or
//!   a built-in demo model ([`Policy`]), answers with Bedrock's error shapes on demand
//!   ([`BedrockErrorKind`]), can be slowed down, rejects requests that break Converse's rules
//!   ([`check_converse_request`]) with a `ValidationException` like the real service's, and
//!   records every request ([`RecordedRequest`]). The `converse-standin` binary serves the demo
//!   model for examples and manual tests.
//! - [`ScriptedModel`]: an in-process [`agent_core::Model`] that replies from a script and
//!   records every request, for unit tests that need no HTTP at all.
//!
//! ```
//! use agent_testkit::{ConverseStandIn, Reply};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let standin = ConverseStandIn::scripted([
//!     Reply::tool_use(Some("I need the weather"), &[("get_weather", json!({"location": "Seattle"}))]),
//!     Reply::text("It is sunny in Seattle."),
//! ])
//! .await?;
//! // Give `standin.endpoint_url()` to the SDK client (`aws_config`'s `.endpoint_url(…)`, or
//! // AWS_ENDPOINT_URL_BEDROCK_RUNTIME), run the agent, then check what it sent:
//! let url = standin.endpoint_url();
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(standin.requests().len(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! The in-process model needs no server:
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

mod echo;
mod scripted;
mod standin;

pub use echo::EchoTool;
pub use scripted::{ScriptedModel, ScriptedReply, text_response, tool_use_response};
pub use standin::{
    BedrockError, BedrockErrorKind, Chunking, ConverseRequest, ConverseStandIn, Policy,
    RecordedRequest, Reply, Rule, RuleViolation, STANDIN_GUARDRAIL_ID, StandInError,
    StreamBehavior, StreamErrorKind, StreamFault, StreamSettings, check_converse_request,
};
