//! # MinimalAgent for Rust
//!
//! A small, fast, dependable agent framework for Amazon Bedrock: an [`Agent`] calls the
//! Converse API in a loop (streaming), runs the tools the model asks for (concurrently), and
//! can keep each conversation and each run's reasoning trace in a session store — DynamoDB,
//! SQLite or your own — where other processes can follow runs live.
//!
//! ```no_run
//! use minimalagent::{Agent, tool};
//!
//! /// Get the weather for a location.
//! ///
//! /// # Arguments
//! /// * `location` - City name to get weather for
//! #[tool]
//! async fn get_weather(location: String) -> serde_json::Value {
//!     serde_json::json!({"location": location, "forecast": "sunny", "temperature_c": 21})
//! }
//!
//! # async fn demo() -> Result<(), minimalagent::Error> {
//! let agent = Agent::builder()
//!     .tool(GetWeather)
//!     .system_prompt("You are a weather assistant.")
//!     .use_session_memory(true)
//!     .build()
//!     .await?;
//! let result = agent.run_in_session("What's the weather in Seattle?", "user123").await?;
//! println!("{} after {} steps", result.response, result.reasoning.total_steps);
//! let result = agent.run_in_session("What about tomorrow?", "user123").await?;
//! # let _ = result; Ok(())
//! # }
//! ```
//!
//! The same agent runs offline on a scripted model from `agent-testkit` — the way to unit-test
//! an agent (the Converse stand-in in that crate goes through the real Bedrock client):
//!
//! ```
//! use agent_testkit::ScriptedModel;
//! use minimalagent::{Agent, tool};
//! use serde_json::json;
//!
//! /// Get the weather for a location.
//! ///
//! /// # Arguments
//! /// * `location` - City name to get weather for
//! #[tool]
//! async fn get_weather(location: String) -> serde_json::Value {
//!     json!({"location": location, "forecast": "sunny"})
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), minimalagent::Error> {
//! let model = ScriptedModel::new()
//!     .then_tools(None, &[("get_weather", json!({"location": "Seattle"}))])
//!     .then_text("It is sunny in Seattle.");
//! let agent = Agent::builder()
//!     .model(model)
//!     .tool(GetWeather)
//!     .show_reasoning(false)
//!     .build()
//!     .await?;
//! let result = agent.run("What's the weather in Seattle?").await?;
//! assert_eq!(result.response, "It is sunny in Seattle.");
//! assert_eq!(
//!     result.reasoning.steps[0].tools[0].result,
//!     Some(json!({"location": "Seattle", "forecast": "sunny"}))
//! );
//! # Ok(())
//! # }
//! ```
//!
//! ## Feature flags
//!
//! - `bedrock` (default): [`BedrockModel`], the model an agent uses unless given another.
//! - `dynamodb` (default): the DynamoDB session store ([`dynamodb::DynamoSessionStore`]) that
//!   `use_session_memory(true)` sets up.
//! - `sqlite`: the embedded SQLite session store ([`sqlite::SqliteSessionStore`],
//!   `sqlite://` URLs).
//! - `mcp`: tools from Model Context Protocol servers ([`mcp`]).
//! - `otel`: OpenTelemetry GenAI spans through `tracing-opentelemetry` ([`otel`]).
//!
//! With `bedrock` off, give the agent a model with `.model(..)`; with no store feature, give it
//! a store with `.sessions(..)` (for example [`session::InMemorySessionStore`]).
//!
//! ## Crates
//!
//! This facade composes the workspace's crates; libraries that only implement a model, a tool
//! or a store depend on `agent-core` or `agent-session` instead.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod agent;
mod agent_tool;
mod builder;
mod error;
mod printer;
mod prompt;
mod sessions;
mod stores;
mod stream;
mod structured;

pub use agent::Agent;
pub use agent_tool::{AgentTool, ChildSession};
pub use builder::{AgentBuilder, DEFAULT_MAX_STEPS};
pub use error::{ConfigError, Error, ErrorKind};
pub use printer::ReasoningPrinter;
pub use prompt::Prompt;
pub use sessions::Sessions;
pub use stores::open_store;
pub use stream::{FollowStream, RunStream};
pub use structured::{ANSWER_ATTEMPTS, ANSWER_TOOL, Structured};

#[doc(inline)]
pub use agent_core::{
    AgentEvent, AnsweredInterrupt, CancellationToken, ContentBlock, Decisions, DocumentBlock,
    DocumentFormat, EventSink, Extensions, ImageBlock, ImageFormat, InferenceConfig, Interrupt,
    InterruptDecision, MediaSource, Message, Model, ModelError, ModelErrorKind, ModelRequest,
    ModelResponse, Reasoning, ReasoningStep, Role, RunOutcome, RunResult, RunStatus, SessionState,
    StateChanges, StateError, StateHandle, StopReason, TokenUsage, Tool, ToolCallStatus,
    ToolChoice, ToolContext, ToolEffect, ToolError, ToolErrorKind, ToolExt, ToolInvocation,
    ToolOutput, ToolResultContent, async_trait,
};
#[doc(inline)]
pub use agent_loop::{
    Hook, HookContext, RunDecision, RunError, ToolCallView, ToolDecision, always_approve_key,
};
#[doc(inline)]
pub use agent_runtime::{
    ContextPolicy, ConversationPage, FORK_CHILD_KEY_PREFIX, FORK_ORIGIN_KEY, FollowPosition,
    FollowedEvent, ForkChild, ForkOrigin, ForkPoint, Forked, PausedRun, ResumeRefusal,
    SessionOptions, SummaryPolicy, TurnState, Window, fork_children, fork_origin,
};
#[doc(inline)]
pub use agent_tools::tool;

/// Sessions: the store contract, ids, errors and the in-memory store.
pub mod session {
    #[doc(inline)]
    pub use agent_session::{
        Clock, Commit, Committed, DEFAULT_SESSION_TTL, Entry, EntryBody, InMemorySessionStore,
        InvalidSessionId, InvalidSessionVersion, MAX_SESSION_ID_LEN, RunClaim, RunLease, RunRecord,
        SessionError, SessionErrorKind, SessionHead, SessionId, SessionInfo, SessionPage,
        SessionStore, SessionVersion, StoredEvent, Summary, SystemClock, TokioClock, check_ttl,
    };
}

/// The pieces of the loop and the model contract, for implementing models and tools by hand.
pub mod core {
    #[doc(inline)]
    pub use agent_core::{
        AgentEvent, BlockDelta, BlockStart, CachePoint, CancellationToken, Clock, Coalesce,
        CoalescingReceiver, CoalescingSender, ContentBlock, ConversionCache, DEFAULT_AWS_REGION,
        DocumentBlock, DocumentFormat, DroppedFeature, EventSink, Extensions, ImageBlock,
        ImageFormat, InferenceConfig, MAX_STATE_BYTES, MAX_STATE_KEY_LEN, MAX_STATE_VALUE_BYTES,
        MalformedToolInput, MediaSource, Message, Model, ModelError, ModelErrorKind,
        ModelEventStream, ModelIdentity, ModelRequest, ModelResponse, ModelStreamEvent, NoEvents,
        Reasoning, ReasoningContent, ReasoningStep, ReasoningText, Role, RunFailure, RunOutcome,
        RunResult, RunStatus, S3Location, StepFeatureDropped, StopReason, SystemClock, TokenUsage,
        Tool, ToolCallError, ToolCallStatus, ToolChoice, ToolContext, ToolError, ToolErrorKind,
        ToolExt, ToolInvocation, ToolOutput, ToolResult, ToolResultContent, ToolResultStatus,
        ToolSet, ToolSetError, ToolSpec, ToolUse, async_trait, coalescing_channel,
        is_valid_tool_name, response_events, split_thinking, thinking_and_answer,
    };
    #[doc(inline)]
    pub use agent_loop::{
        AgentLoop, AnswerCheck, Compacted, ContextCompactor, DEFAULT_STREAM_RETRIES,
        EARLIER_RUN_NOT_RUN, EventLog, FailedRun, NO_ANSWER, NO_REPLY, RunError, RunInput,
        STEP_LIMIT_NOT_RUN, StructuredAnswer, estimate_tokens, is_time_line, step_limit_prompt,
        time_line,
    };
}

/// The Amazon Bedrock Converse model.
#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub mod bedrock {
    #[doc(inline)]
    pub use agent_llm_bedrock::{
        BedrockConfigError, BedrockModel, BedrockModelBuilder, CachePoints,
        DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_MODEL_ID, DEFAULT_OPERATION_TIMEOUT,
        Guardrail, ModelFamily, ModelInfo, PROVIDER, PromptCaching, ReasoningEffort, aws_config,
        aws_credential_types, aws_sdk_bedrockruntime, default_model_id, families,
        supports_prompt_caching,
    };
}

#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
#[doc(no_inline)]
pub use agent_llm_bedrock::BedrockModel;

/// The DynamoDB session store.
#[cfg(feature = "dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
pub mod dynamodb {
    #[doc(inline)]
    pub use agent_session_dynamo::{
        DEFAULT_COMPRESS_ABOVE, DEFAULT_TABLE_NAME, DynamoSessionStore, DynamoSessionStoreBuilder,
        MAX_PAYLOAD_BYTES, StoreMetrics, aws_config, aws_sdk_dynamodb, default_retry_config,
        default_timeout_config, size, validate_table_name,
    };
}

/// The embedded SQLite session store.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    #[doc(inline)]
    pub use agent_session_sqlite::{
        APPLICATION_ID, SCHEMA_VERSION, SqliteSessionStore, SqliteSessionStoreBuilder, Synchronous,
    };
}

/// Tools from Model Context Protocol servers.
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp {
    #[doc(inline)]
    pub use agent_tools_mcp::{
        DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, HttpServer, IoServer, MAX_MESSAGE_BYTES,
        McpClient, McpError, McpErrorKind, McpServer, McpServerInfo, Stderr, StdioServer,
    };
}

/// Evaluations (feature `evals`): run cases against an agent (`agent.agent_loop()`), live or
/// replaying a recorded session, and report and compare the results; see `docs/evals.md`.
#[cfg(feature = "evals")]
#[cfg_attr(docsrs, doc(cfg(feature = "evals")))]
pub mod evals {
    #[doc(inline)]
    pub use agent_evals::*;
    /// Replaying recorded sessions: the model and tools answering from the record.
    pub mod replay {
        #[doc(inline)]
        pub use agent_testkit::{
            Divergence, RecordedRun, Recording, RecordingError, ReplayMode, ReplayModel,
        };
    }
}

/// OpenTelemetry, in the versions the agent's spans are made for (feature `otel`).
///
/// The agent's runs, model calls and tool calls are `tracing` spans named and attributed as the
/// OpenTelemetry semantic conventions for generative AI say (`invoke_agent`, `chat`,
/// `execute_tool`; `gen_ai.*`; `session.id` for runs in a session). Install
/// `tracing_opentelemetry`'s layer with the tracer of the exporter you chose, and they reach
/// your collector; see `docs/observability.md`.
///
/// Evaluators that score traces read them too. For Amazon Bedrock AgentCore Evaluations, name
/// the tracer `opentelemetry.instrumentation.minimalagent` (the service reads GenAI spans only
/// under an `opentelemetry.instrumentation.*` scope, and the tracer's name is every span's
/// scope), run conversations in sessions, and build the agent with `.content_in_spans(true)`
/// (off by default: prompts and answers may be personal data) — see "Scoring traces" in
/// `docs/observability.md`.
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel {
    #[doc(no_inline)]
    pub use opentelemetry;
    #[doc(no_inline)]
    pub use tracing_opentelemetry;
}

/// Used by code that `#[tool]` generates. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use agent_core::__private::*;
}

/// The Rust snippets of the workspace's README, its guides and the READMEs of the crates this one
/// composes, compiled as doctests so that they cannot drift from the API:
/// `cargo test -p minimalagent --doc --all-features` builds every ```` ```rust ```` block of
/// these pages (and runs those not marked `no_run`). A page whose snippets need an optional
/// feature is tested when that feature is on.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../../README.md")]
    mod readme {}

    #[doc = include_str!("../README.md")]
    mod crate_readme {}

    #[doc = include_str!("../../../docs/getting-started.md")]
    mod getting_started {}

    #[cfg(all(feature = "bedrock", feature = "dynamodb"))]
    #[doc = include_str!("../../../docs/configuration.md")]
    mod configuration {}

    #[doc = include_str!("../../../docs/tools.md")]
    mod tools {}

    #[cfg(feature = "dynamodb")]
    #[doc = include_str!("../../../docs/sessions.md")]
    mod sessions {}

    #[cfg(all(feature = "bedrock", feature = "dynamodb"))]
    #[doc = include_str!("../../../docs/testing.md")]
    mod testing {}

    #[cfg(feature = "otel")]
    #[doc = include_str!("../../../docs/observability.md")]
    mod observability {}

    #[cfg(feature = "bedrock")]
    #[doc = include_str!("../../../docs/streaming.md")]
    mod streaming {}

    #[doc = include_str!("../../../docs/context.md")]
    mod context {}

    #[cfg(feature = "sqlite")]
    #[doc = include_str!("../../../docs/sqlite.md")]
    mod sqlite {}

    #[cfg(feature = "bedrock")]
    #[doc = include_str!("../../../docs/bedrock-features.md")]
    mod bedrock_features {}

    #[cfg(feature = "mcp")]
    #[doc = include_str!("../../../docs/mcp.md")]
    mod mcp {}

    #[doc = include_str!("../../../docs/migrating-from-python.md")]
    mod migrating_from_python {}

    #[doc = include_str!("../../../docs/approvals.md")]
    mod approvals {}

    #[cfg(all(
        feature = "evals",
        feature = "bedrock",
        feature = "sqlite",
        feature = "dynamodb"
    ))]
    #[doc = include_str!("../../../docs/evals.md")]
    mod evals {}

    #[doc = include_str!("../../agent-core/README.md")]
    mod agent_core_readme {}

    #[doc = include_str!("../../agent-loop/README.md")]
    mod agent_loop_readme {}

    #[doc = include_str!("../../agent-session/README.md")]
    mod agent_session_readme {}

    #[doc = include_str!("../../agent-runtime/README.md")]
    mod agent_runtime_readme {}

    #[doc = include_str!("../../agent-tools/README.md")]
    mod agent_tools_readme {}

    #[cfg(feature = "bedrock")]
    #[doc = include_str!("../../agent-llm-bedrock/README.md")]
    mod agent_llm_bedrock_readme {}

    #[cfg(feature = "bedrock")]
    #[doc = include_str!("../../agent-testkit/README.md")]
    mod agent_testkit_readme {}
}
