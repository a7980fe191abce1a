//! What the end-to-end tests against the Converse stand-in share: a model on the real SDK client
//! pointed at the stand-in, a tool that counts its calls, an event sink, and checks of the
//! recorded requests.
#![allow(dead_code, reason = "each test file uses the helpers it needs")]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{
    AgentEvent, EventSink, TokenUsage, Tool, ToolContext, ToolError, ToolOutput, async_trait,
};
use agent_llm_bedrock::aws_config::retry::RetryConfig;
use agent_llm_bedrock::{BedrockModel, BedrockModelBuilder};
use agent_testkit::{ConverseStandIn, RecordedRequest};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

/// Amazon Nova Pro, the default model.
pub(crate) const NOVA_PRO: &str = "us.amazon.nova-pro-v1:0";
/// A Claude 4 model.
pub(crate) const CLAUDE_SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/// A Meta Llama model with tool use.
pub(crate) const LLAMA_3_3: &str = "us.meta.llama3-3-70b-instruct-v1:0";
/// A Mistral AI model with tool use.
pub(crate) const MISTRAL_LARGE: &str = "mistral.mistral-large-2407-v1:0";

/// A realistic system prompt (a policy document of about 1,300 tokens), past the smallest
/// prefix Claude Sonnet 4 (1,024 tokens) and Amazon Nova (1K) cache, per
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>.
pub(crate) const POLICY: &str = include_str!("policy.md");

/// Runs `test`, failing it if it takes longer than `limit`.
pub(crate) async fn bounded<T>(limit: Duration, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, test)
        .await
        .expect("the test took too long")
}

/// A builder for `model_id` on the real SDK client, pointed at the stand-in, with one attempt
/// per call: nothing the stand-in answers is retried by the SDK, so the recorded requests are
/// exactly the calls the client made.
pub(crate) fn builder(standin: &ConverseStandIn, model_id: &str) -> BedrockModelBuilder {
    BedrockModel::builder()
        .model_id(model_id)
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(Credentials::for_tests())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
}

/// How the client calls the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The default: ConverseStream (Converse when tools are offered to a family that cannot
    /// stream tool use).
    Streaming,
    /// `streaming(false)`: Converse.
    Converse,
}

impl Mode {
    pub(crate) const BOTH: [Mode; 2] = [Mode::Streaming, Mode::Converse];

    /// The builder set up for this mode (the default builder for streaming: nothing set).
    pub(crate) fn apply(self, builder: BedrockModelBuilder) -> BedrockModelBuilder {
        match self {
            Mode::Streaming => builder,
            Mode::Converse => builder.streaming(false),
        }
    }
}

/// The weather of a city: a tool that counts its calls.
#[derive(Clone, Default)]
pub(crate) struct Weather {
    pub(crate) calls: Arc<AtomicUsize>,
}

impl Weather {
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Tool for Weather {
    fn name(&self) -> &str {
        "get_weather"
    }
    fn description(&self) -> &str {
        "Current weather for a city."
    }
    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city."}},
            "required": ["city"]
        })
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let city = input["city"]
            .as_str()
            .ok_or_else(|| ToolError::invalid_input("city must be a string"))?;
        Ok(json!({"city": city, "forecast": "sunny", "temp_c": 14 + (call % 9)}).into())
    }
}

/// Every event of a run, kept.
#[derive(Default)]
pub(crate) struct Events(Mutex<Vec<AgentEvent>>);

impl EventSink for Events {
    fn emit(&self, event: &AgentEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    pub(crate) fn take(&self) -> Vec<AgentEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The usage of each model call, in order.
    pub(crate) fn call_usage(events: &[AgentEvent]) -> Vec<TokenUsage> {
        events
            .iter()
            .filter_map(|event| match event {
                AgentEvent::Usage { usage, .. } => Some(*usage),
                _ => None,
            })
            .collect()
    }

    /// The `(feature, reason)` of each `FeatureDropped` event.
    pub(crate) fn dropped(events: &[AgentEvent]) -> Vec<(String, String)> {
        events
            .iter()
            .filter_map(|event| match event {
                AgentEvent::FeatureDropped {
                    feature, reason, ..
                } => Some((feature.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Fails, naming `what`, unless every request was taken: no rule broken, HTTP 200.
pub(crate) fn assert_all_taken(what: &str, requests: &[RecordedRequest]) {
    assert!(
        !requests.is_empty(),
        "{what}: no request reached the stand-in"
    );
    for request in requests {
        assert!(
            request.violation.is_none() && request.status == 200,
            "{what}: request {} was answered {} ({:?}): {:?}\nbody: {}",
            request.index,
            request.status,
            request.error_type,
            request.violation,
            request.body
        );
    }
}

/// Whether a JSON array of blocks holds a `cachePoint`.
pub(crate) fn has_cache_point(blocks: &Value) -> bool {
    blocks
        .as_array()
        .is_some_and(|blocks| blocks.iter().any(|block| block.get("cachePoint").is_some()))
}

/// The indexes of the messages of a request that end with a `cachePoint`.
pub(crate) fn message_cache_points(body: &Value) -> Vec<usize> {
    body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .enumerate()
                .filter(|(_, message)| has_cache_point(&message["content"]))
                .map(|(index, _)| index)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a request holds a `cachePoint` anywhere.
pub(crate) fn any_cache_point(body: &Value) -> bool {
    body.to_string().contains("\"cachePoint\"")
}
