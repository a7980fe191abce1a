//! # agent-testkit
//!
//! Test aids for MinimalAgent, for this project's tests and for users testing their own agents
//! offline:
//!
//! - [`ConverseStandIn`]: a local HTTP server on `127.0.0.1` that speaks the Amazon Bedrock
//!   Converse and ConverseStream APIs on the wire, so that the real `aws-sdk-bedrockruntime`
//!   client (and with it `BedrockModel` and whole agents) runs without AWS. It replies from a
//!   script, a closure or a built-in demo model ([`Policy`]), answers with Bedrock's error
//!   shapes on demand ([`BedrockErrorKind`]), can be slowed down, rejects requests that break
//!   Converse's rules ([`check_converse_request`], [`Rule`]) with a `ValidationException` like
//!   the real service's, and records every request ([`RecordedRequest`]).
//!   - **Streaming**: `ConverseStream` answers are AWS event streams (framed by
//!     `aws-smithy-eventstream`): text and reasoning in deltas, tool inputs in fragments, cut
//!     into HTTP chunks and paced as [`StreamSettings`] say. A reply can carry faults
//!     ([`Reply::with_stream_fault`], [`StreamFault`]): malformed tool input, an exception
//!     event ([`StreamErrorKind`]), a dropped connection, `max_tokens` inside a tool call, a
//!     missing `messageStop`; and interleaved tool inputs
//!     ([`Reply::with_interleaved_tool_inputs`]).
//!   - **Guardrails and caching**: [`Reply::guardrail_intervened`] answers with
//!     `guardrail_intervened` and a guardrail trace; requests with `cachePoint` blocks get
//!     `cacheWriteInputTokens` the first time their prefix is seen and `cacheReadInputTokens`
//!     afterwards ([`ConverseStandIn::set_prompt_cache`]).
//!
//!   The `converse-standin` binary serves the demo model for examples and manual tests.
//! - [`ScriptedModel`]: an in-process [`agent_core::Model`] that replies from a script and
//!   records every request, for unit tests that need no HTTP at all.
//! - With the `mcp` feature, `McpTestServer` (module `mcp`): an MCP server with tools for
//!   testing MCP clients (echo, numbers, images, errors, slow calls, crashes, garbage on the
//!   wire), over stdio (the `mcp-test-server` binary), streamable HTTP on `127.0.0.1`, or
//!   in-process streams.
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
//! A reply streamed with faults, as a test of a client's error handling would ask for it:
//!
//! ```
//! use agent_testkit::{ConverseStandIn, Reply, StreamErrorKind, StreamFault, StreamSettings};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let standin = ConverseStandIn::scripted([
//!     // Two parallel calls whose input deltas alternate; the second's JSON comes out broken.
//!     Reply::tool_use(None, &[
//!         ("get_weather", json!({"location": "Seattle"})),
//!         ("get_weather", json!({"location": "Paris"})),
//!     ])
//!     .with_interleaved_tool_inputs()
//!     .with_stream_fault(StreamFault::malformed_tool_input(1)),
//!     // Reasoning, then a throttling exception after four events.
//!     Reply::text("It is sunny.")
//!         .with_reasoning("The user wants the weather.", Some("c2lnbmF0dXJl"))
//!         .with_stream_fault(StreamFault::exception_after(4, StreamErrorKind::Throttling)),
//! ])
//! .await?;
//! standin.set_stream_settings(StreamSettings::default().with_text_delta_chars(4));
//! // … call ConverseStream through the SDK, then:
//! assert!(standin.requests().iter().all(|request| !request.client_disconnected));
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
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
mod scripted;
mod standin;

pub use echo::EchoTool;
#[cfg(feature = "mcp")]
pub use mcp::{McpHttpTestServer, McpTestServer, McpTestServerError, McpTestStats};
pub use scripted::{ScriptedModel, ScriptedReply, text_response, tool_use_response};
pub use standin::{
    BedrockError, BedrockErrorKind, Chunking, ConverseRequest, ConverseStandIn, Policy,
    RecordedRequest, Reply, Rule, RuleViolation, STANDIN_GUARDRAIL_ID, StandInError,
    StreamBehavior, StreamErrorKind, StreamFault, StreamSettings, check_converse_request,
};
