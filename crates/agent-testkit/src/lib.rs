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
//!   Converse's rules — the service's, and those of the model family the model id names
//!   ([`check_converse_request_for`], [`ModelFamily`], [`Rule`]; see
//!   [below](#what-the-stand-in-enforces-per-model-family)) — with the error the real service
//!   gives, and records every request ([`RecordedRequest`]).
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
//!     afterwards ([`ConverseStandIn::set_prompt_cache`]); a checkpoint marks where a prefix
//!     ends and is not part of it, so a checkpoint moved on to the next turn still reads what
//!     the earlier turns cached.
//!   - **Refusals on demand**: [`ConverseStandIn::refuse_once`] and
//!     [`ConverseStandIn::refuse_always`] refuse a feature a client adds on its own (a cache
//!     checkpoint, a forced tool choice, `toolResult.status`, an additional request field;
//!     [`OptionalFeature`]) with the error and words Bedrock gives a model that does not take
//!     it, to test a client's recovery.
//!
//!   The `converse-standin` binary serves the demo model for examples and manual tests.
//! - [`ScriptedModel`]: an in-process [`agent_core::Model`] that replies from a script and
//!   records every request, for unit tests that need no HTTP at all.
//! - [`ReplayModel`]: a model that answers from a recorded session ([`Recording`], read from a
//!   store or from `minimalagent sessions export`), reply for reply, reporting the first
//!   [`Divergence`] of the agent from the record; with [`Recording::replay_tools`], tools answer
//!   from the record too, so a recorded session becomes an offline regression test.
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
//!
//! # What the stand-in enforces per model family
//!
//! The stand-in reads the model id of each request's path (a base model id, a cross-Region
//! inference profile id such as `us.amazon.nova-pro-v1:0`, or a foundation-model or
//! inference-profile ARN) and finds its [`ModelFamily`]. After the service-level rules of
//! [`check_converse_request`] it checks the family's rules ([`check_converse_request_for`]),
//! with Bedrock's own error texts. Ids it does not know (`test-model`, application inference
//! profile, provisioned, custom and imported model ARNs) get the service-level rules only.
//! [`ConverseStandIn::set_family_rules`] turns the per-family rules off.
//!
//! Every rule comes from an AWS page or a public report quoting Bedrock's answer; the source
//! is named in a comment next to the code (`standin/family.rs`, `standin/rules/model.rs`).
//! Where Bedrock's exact text was never captured, the message says so.
//!
//! | Rule ([`Rule`]) | Families | Source |
//! |---|---|---|
//! | `InvalidModelIdentifier`: a `us.`/`eu.`/`apac.`/`jp.`/`au.`/`ca.`/`us-gov.` profile called from a Region outside its geography (read from the SigV4 credential scope; `global.` from anywhere) | all | [inference profiles](https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html), [agent-health#298](https://github.com/opensearch-project/agent-health/issues/298) |
//! | `DocumentWithoutText`, `DuplicateDocumentName`, `InvalidToolResultJson` | all (service-level) | [litellm#36499](https://github.com/BerriAI/litellm/pull/36499), [bifrost#7003](https://github.com/maximhq/bifrost/issues/7003), [aichat#1550](https://github.com/sigoden/aichat/pull/1550) |
//! | `PromptCachingUnsupported` (403 `AccessDeniedException`): any `cachePoint` | all but Claude 3.5 Haiku / 3.7 / 4.x / 5 and Nova | [prompt caching](https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html), [strands#1807](https://github.com/strands-agents/harness-sdk/pull/1807) |
//! | `CachePointNotPermitted`: a `cachePoint` in `toolConfig.tools`, or directly after `toolResult` blocks | Nova | [prompt caching](https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html), [hermes-agent#97281](https://github.com/NousResearch/hermes-agent/issues/97281), [bedrock-engineer#71](https://github.com/aws-samples/bedrock-engineer/pull/71) |
//! | `TooManyCachePoints`: more than 4 | Claude, Nova | [prompt caching](https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html) (text not captured) |
//! | `SystemPromptUnsupported` | Mistral 7B, Mixtral, Titan Text, Cohere Command | [instructor#1753](https://github.com/567-labs/instructor/issues/1753), [anything-llm#2486](https://github.com/Mintplex-Labs/anything-llm/issues/2486) |
//! | `StreamingToolUseUnsupported`: ConverseStream with a `toolConfig` | Llama 3.x / 4, Mistral, Palmyra, and the families without tools | [pi#3739](https://github.com/earendil-works/pi/issues/3739), [brave#52158](https://github.com/brave/brave-browser/issues/52158), [strands#393](https://github.com/strands-agents/harness-sdk/issues/393) |
//! | `ToolUseUnsupported` | Llama 3 8B/70B, 3.2 1B/3B, DeepSeek-R1, Titan Text, Jamba-Instruct, Cohere Command, Mistral 7B/Mixtral; Cohere Command R ("Invalid parameter combination") | [features table](https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html), [langchain-aws#447](https://github.com/langchain-ai/langchain-aws/issues/447), [langchain-aws#566](https://github.com/langchain-ai/langchain-aws/issues/566) |
//! | `ToolChoiceUnsupported`: `any` / `tool` | all but Claude, Nova, DeepSeek V3 (Mistral Large takes `any`) | [ToolChoice](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html), [strands#1241](https://github.com/strands-agents/harness-sdk/issues/1241) |
//! | `UnsupportedToolSchema`: top-level schema keys other than `type`, `properties`, `required` | Nova 1 | [Nova tool troubleshooting](https://docs.aws.amazon.com/nova/latest/userguide/prompting-tool-troubleshooting.html), [zed#31815](https://github.com/zed-industries/zed/issues/31815) |
//! | `ToolResultsWithOtherBlocks`, `ToolUseWithOtherBlocks` | Llama, Mistral (tool results: also Palmyra) | [strands#1223](https://github.com/strands-agents/harness-sdk/issues/1223), [browser-use#710](https://github.com/browser-use/browser-use/issues/710) |
//! | `InvalidToolCallId`: ids not 9 × `[a-zA-Z0-9]` | Mistral | [vercel/ai#11802](https://github.com/vercel/ai/issues/11802) |
//! | `ToolResultStatusUnsupported` | Palmyra | [strands#686](https://github.com/strands-agents/harness-sdk/pull/686) |
//! | `ReasoningContentUnsupported` | DeepSeek-R1 | [langchain-aws#401](https://github.com/langchain-ai/langchain-aws/issues/401) |
//! | `ReasoningSignatureUnsupported` | gpt-oss, Qwen3 | [strands#682](https://github.com/strands-agents/harness-sdk/pull/682), [pi#727](https://github.com/earendil-works/pi/pull/727) |
//! | `MediaUnsupported` (images, documents) | Nova Micro | features table (text not captured) |
//! | `ImageInToolResultUnsupported` | all but Claude, Nova, Llama 4 | [ToolResultContentBlock](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultContentBlock.html), [opencode#49443](https://github.com/anomalyco/opencode/issues/49443) |
//! | `S3LocationUnsupported` | all but Nova | features table, [strands#3610](https://github.com/strands-agents/harness-sdk/pull/3610) |
//! | `InvalidReasoningConfig`: `thinking` on Nova; `reasoningConfig` on Nova 1; Nova 2's `{type, maxReasoningEffort}` shape, no `maxTokens` with `high` | Nova | [inspect_ai#5301](https://github.com/UKGovernmentBEIS/inspect_ai/issues/5301), [Nova 2 reasoning](https://docs.aws.amazon.com/nova/latest/nova2-userguide/reasoning-capabilities.html), [inspect_ai#3767](https://github.com/UKGovernmentBEIS/inspect_ai/issues/3767) |
//! | extended thinking (`InvalidThinkingConfig`, `ToolChoiceForcedWithThinking`, `MissingReasoningBeforeToolUse`); `type: adaptive` only on Sonnet 4.6, Opus 4.6+ and Claude 5; `type: enabled` rejected on Opus 4.7, 4.8, Opus 5 | Claude (and unknown ids) | [extended thinking](https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html), [kilocode#10732](https://github.com/Kilo-Org/kilocode/issues/10732) |
//! | `UnsupportedInferenceParameter`: `temperature` on Opus 4.7+; `temperature` with `topP` on Sonnet 4.5/4.6, Haiku 4.5, Opus 4.5 | Claude | [zeroclaw#6095](https://github.com/zeroclaw-labs/zeroclaw/issues/6095), [litellm#15070](https://github.com/BerriAI/litellm/issues/15070) |
//! | `MaxTokensTooLarge`: `maxTokens` above the model's maximum output, the same numbers as agent-llm-bedrock's capability table (the lower where sources disagree; Nova 1 5,000, Llama 3.x 2,048) | all | [boto3#4279](https://github.com/boto/boto3/issues/4279), [vercel/ai#2772](https://github.com/vercel/ai/issues/2772), [generative-ai-use-cases#594](https://github.com/aws-samples/generative-ai-use-cases/issues/594); maximums per model, with their sources, in `standin/family.rs` |
//!
//! Behaviours, not rejections: a Claude request without `inferenceConfig.maxTokens` gets at most
//! 4,096 output tokens of text (the stand-in's rough count), then stop reason `max_tokens`
//! ([litellm#41529](https://github.com/BerriAI/litellm/issues/41529)); a `cachePoint` whose
//! prefix is below the model's minimum (512 to 4,096 tokens for Claude, 1K for Nova) is
//! silently not cached ([prompt caching](https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html));
//! the demo model ([`Policy::demo`]) keeps its replies valid for the family it plays (no text
//! beside tool calls for Llama and Mistral, 9-character ids for Mistral, which the stand-in also
//! gives scripted tool calls without ids).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod echo;
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
mod replay;
mod scripted;
mod standin;

pub use echo::EchoTool;
#[cfg(feature = "mcp")]
pub use mcp::{McpHttpTestServer, McpTestServer, McpTestServerError, McpTestStats};
pub use replay::{Divergence, RecordedRun, Recording, RecordingError, ReplayMode, ReplayModel};
pub use scripted::{ScriptedModel, ScriptedReply, text_response, tool_use_response};
pub use standin::{
    BedrockError, BedrockErrorKind, Chunking, ConverseRequest, ConverseStandIn, ModelFamily,
    OptionalFeature, Policy, RecordedRequest, Reply, RequestTarget, Rule, RuleViolation,
    STANDIN_GUARDRAIL_ID, StandInError, StreamBehavior, StreamErrorKind, StreamFault,
    StreamSettings, check_converse_request, check_converse_request_for,
};
