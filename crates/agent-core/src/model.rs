//! The [`Model`] trait: one call of a Converse-style chat model, whole or streamed.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::{ContentBlock, Message, ReasoningContent, Role};

/// A streamed model reply: its events in order, ending after the reply's metadata, or with an
/// error when the reply was cut off.
pub type ModelEventStream =
    Pin<Box<dyn Stream<Item = Result<ModelStreamEvent, ModelError>> + Send>>;

/// A chat model the agent loop calls: Bedrock Converse, or a scripted stand-in in tests.
///
/// Implement [`converse`](Self::converse); implement [`converse_stream`](Self::converse_stream)
/// too when the provider streams. The loop always calls `converse_stream`, whose default runs
/// `converse` and replays its reply as one burst of events, so a model that cannot stream works
/// unchanged (its text simply arrives all at once).
///
/// Implementations are shared across concurrent runs, so they take `&self`.
#[async_trait]
pub trait Model: Send + Sync {
    /// Sends one request and returns the model's whole reply.
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError>;

    /// Sends one request and returns the reply as a stream of events (see
    /// [`ModelStreamEvent`]). The default adapts [`converse`](Self::converse).
    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        let response = self.converse(request).await?;
        Ok(Box::pin(futures::stream::iter(
            response_events(response).into_iter().map(Ok),
        )))
    }

    /// What the model is, for traces: provider (`aws.bedrock`) and model id.
    fn identity(&self) -> ModelIdentity {
        ModelIdentity::default()
    }
}

#[async_trait]
impl<M: Model + ?Sized> Model for Arc<M> {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        (**self).converse(request).await
    }
    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        (**self).converse_stream(request).await
    }
    fn identity(&self) -> ModelIdentity {
        (**self).identity()
    }
}

#[async_trait]
impl<M: Model + ?Sized> Model for Box<M> {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        (**self).converse(request).await
    }
    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        (**self).converse_stream(request).await
    }
    fn identity(&self) -> ModelIdentity {
        (**self).identity()
    }
}

/// Who serves a model, and which model it is, as traces name them (OpenTelemetry's
/// `gen_ai.system` and `gen_ai.request.model`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelIdentity {
    /// The provider, for example `aws.bedrock`; empty when unknown.
    pub provider: String,
    /// The model id, for example `us.amazon.nova-pro-v1:0`; empty when unknown.
    pub model_id: String,
}

impl ModelIdentity {
    /// A provider and model id.
    pub fn new(provider: impl Into<String>, model_id: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model_id: model_id.into(),
        }
    }
}

/// What the loop sends to the model on each call.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ModelRequest {
    /// The conversation so far, starting with a user message.
    ///
    /// Shared, not copied: a run's history is the session's own messages, held once per
    /// process, and cloning a request clones pointers. A model reads them; one that must change
    /// a message for the wire changes its own copy ([`Arc::make_mut`]).
    pub messages: Vec<Arc<Message>>,
    /// System prompt blocks, in order.
    pub system: Vec<String>,
    /// The tools the model may ask for; empty means the request carries no tool configuration.
    pub tools: Arc<[ToolSpec]>,
    /// How the model must choose among the tools; `None` leaves it to the model (`auto`).
    pub tool_choice: Option<ToolChoice>,
    /// Whether [`tool_choice`](Self::tool_choice) is a preference rather than a demand: the
    /// loop forces the answer tool of a typed answer this way, and also checks an answer given
    /// in text. A model that cannot force a tool leaves an optional choice out (and says so with
    /// a [`DroppedFeature`]); a demanded one it cannot honour is an
    /// [`Unsupported`](ModelErrorKind::Unsupported) error.
    pub optional_tool_choice: bool,
    /// Inference settings; unset fields fall back to the model's own defaults.
    pub inference: InferenceConfig,
    /// Where a model keeps what it derived from this request's messages (their wire form), so
    /// that the next call converts only the messages added since. The loop gives each run one
    /// (a session's runs share their conversation's, see `RunInput::conversion`).
    pub cache: ConversionCache,
}

impl ModelRequest {
    /// A request holding these messages (owned or already shared) and nothing else.
    pub fn new(messages: impl IntoIterator<Item = impl Into<Arc<Message>>>) -> Self {
        Self {
            messages: messages.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The same request with these system prompt blocks.
    #[must_use]
    pub fn with_system(mut self, system: Vec<String>) -> Self {
        self.system = system;
        self
    }

    /// The same request offering these tools.
    #[must_use]
    pub fn with_tools(mut self, tools: Arc<[ToolSpec]>) -> Self {
        self.tools = tools;
        self
    }

    /// The same request with this tool choice.
    #[must_use]
    pub fn with_tool_choice(mut self, choice: Option<ToolChoice>) -> Self {
        self.tool_choice = choice;
        self
    }

    /// The same request with this tool choice as a preference (see
    /// [`optional_tool_choice`](Self::optional_tool_choice)).
    #[must_use]
    pub fn with_optional_tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self.optional_tool_choice = true;
        self
    }

    /// The same request with these inference settings.
    #[must_use]
    pub fn with_inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }
}

impl PartialEq for ModelRequest {
    /// Compares what is sent; the conversion cache is not part of the request.
    fn eq(&self, other: &Self) -> bool {
        self.messages == other.messages
            && self.system == other.system
            && self.tools == other.tools
            && self.tool_choice == other.tool_choice
            && self.optional_tool_choice == other.optional_tool_choice
            && self.inference == other.inference
    }
}

/// A slot in which a [`Model`] keeps its own conversion of a conversation's messages between
/// calls, and between the runs of a session.
///
/// Messages are shared ([`ModelRequest::messages`]), so a model can keep the wire form of the
/// messages it converted, know them again by identity ([`Arc::ptr_eq`]) at the start of the
/// next request, and convert only those added since (see [`ConversionCache::with`]): a request
/// that changed or dropped a message gets that message and those after it converted again.
/// Cheap to clone: clones share the slot. A model that has nothing to keep ignores it.
#[derive(Clone, Default)]
pub struct ConversionCache(Arc<Mutex<Option<Box<dyn Any + Send>>>>);

impl fmt::Debug for ConversionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConversionCache")
    }
}

impl ConversionCache {
    /// Runs `f` on the model's value of type `T` in the slot, made with `T::default()` when the
    /// slot is empty or holds another type.
    pub fn with<T: Any + Send + Default, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|value| value.is::<T>()) {
            *slot = Some(Box::new(T::default()));
        }
        match slot.as_mut().and_then(|value| value.downcast_mut::<T>()) {
            Some(value) => f(value),
            // Unreachable: the slot was just filled with a T. A fresh value keeps the contract.
            None => f(&mut T::default()),
        }
    }
}

/// How the model must choose among the offered tools (Converse's `toolChoice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides whether to call a tool (the default).
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
}

impl ToolChoice {
    /// Whether the choice forces a tool call (`any` or a named tool).
    pub fn is_forced(&self) -> bool {
        !matches!(self, ToolChoice::Auto)
    }
}

/// A tool as the model sees it: Converse's `toolSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// The name the model uses to call it.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema of type `object` describing its input.
    pub input_schema: Value,
}

impl ToolSpec {
    /// What a run's trace keeps of the spec: its name and a digest of its description and
    /// schema, so that a replay can say a tool changed without the trace holding every schema.
    pub fn digest(&self) -> ToolDigest {
        let mut hash = Fnv64::default();
        hash.write(self.description.as_bytes());
        hash.write(&[0]);
        hash.write_canonical(&self.input_schema);
        ToolDigest {
            name: self.name.clone(),
            digest: format!("{:016x}", hash.0),
        }
    }
}

/// A tool as a run's trace keeps it ([`ToolSpec::digest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct ToolDigest {
    /// The tool's name.
    pub name: String,
    /// 64-bit FNV-1a of its description and its schema (object keys sorted), in hex.
    pub digest: String,
}

/// FNV-1a, 64 bits: stable across versions and platforms, unlike `std`'s hasher, and a few
/// lines, where a digest only needs to tell that a spec changed (it is not a security boundary).
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Hashes JSON with object keys in sorted order, whatever order the map keeps them in.
    fn write_canonical(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                self.write(b"{");
                for key in keys {
                    self.write(key.as_bytes());
                    self.write(b":");
                    if let Some(value) = map.get(key) {
                        self.write_canonical(value);
                    }
                    self.write(b",");
                }
                self.write(b"}");
            }
            Value::Array(items) => {
                self.write(b"[");
                for item in items {
                    self.write_canonical(item);
                    self.write(b",");
                }
                self.write(b"]");
            }
            other => self.write(other.to_string().as_bytes()),
        }
    }
}

/// Inference settings. Unset fields leave the choice to the model (or its provider's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// The most tokens the model may write in one reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Text that ends the reply when the model writes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

impl InferenceConfig {
    /// These settings, with every unset field taken from `defaults`.
    pub fn or(&self, defaults: &InferenceConfig) -> InferenceConfig {
        InferenceConfig {
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            temperature: self.temperature.or(defaults.temperature),
            top_p: self.top_p.or(defaults.top_p),
            stop_sequences: if self.stop_sequences.is_empty() {
                defaults.stop_sequences.clone()
            } else {
                self.stop_sequences.clone()
            },
        }
    }
}

/// The model's reply to one request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelResponse {
    /// The assistant message.
    pub message: Message,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens this call used.
    pub usage: TokenUsage,
    /// How long the provider says the call took, when it says.
    pub latency_ms: Option<u64>,
    /// Tool calls whose input was not valid JSON. Their `toolUse` blocks in
    /// [`message`](Self::message) carry an empty object; the loop does not run them and tells
    /// the model what was wrong.
    pub malformed_tool_inputs: Vec<MalformedToolInput>,
    /// The provider's trace of the call (for example Bedrock's guardrail assessment), as JSON.
    pub trace: Option<Value>,
    /// Optional features the model left out of this call, or of every call from now on,
    /// because the provider refused them (see [`DroppedFeature`]).
    pub dropped_features: Vec<DroppedFeature>,
}

impl ModelResponse {
    /// A reply holding `message`, with no usage recorded.
    pub fn new(message: Message, stop_reason: StopReason) -> Self {
        Self {
            message,
            stop_reason,
            usage: TokenUsage::default(),
            latency_ms: None,
            malformed_tool_inputs: Vec::new(),
            trace: None,
            dropped_features: Vec::new(),
        }
    }

    /// The same reply with this token usage.
    #[must_use]
    pub fn with_usage(mut self, usage: TokenUsage) -> Self {
        self.usage = usage;
        self
    }
}

/// An optional feature a model client added to its requests on its own (a prompt-cache
/// checkpoint, a default output limit, a forced tool choice for a typed answer, …) and then left
/// out, because the provider refused it. The call was made again without it, and the client
/// leaves it out of later calls for the same model. Runs record it in their trace, so that a
/// degraded feature is seen, never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct DroppedFeature {
    /// Which feature, in the client's words (`cache_point.tools`, `max_tokens`, …).
    pub feature: String,
    /// Why: the provider's answer, and the rule it implies.
    pub reason: String,
}

impl DroppedFeature {
    /// A feature left out, and why.
    pub fn new(feature: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            feature: feature.into(),
            reason: reason.into(),
        }
    }
}

/// A tool call whose input arrived as text that is not valid JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MalformedToolInput {
    /// The call's id.
    pub tool_use_id: String,
    /// The text the model wrote.
    pub raw: String,
    /// What the JSON parser said.
    pub error: String,
}

/// One event of a streamed reply, following Converse's `ConverseStream` events.
///
/// A reply is `MessageStart`, then for each content block (by index) an optional
/// `BlockStart`, its `BlockDelta`s and a `BlockStop`, then `MessageStop` and `Metadata`.
/// Blocks may interleave; the index says which block an event belongs to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelStreamEvent {
    /// The reply starts.
    MessageStart {
        /// Its role (assistant).
        role: Role,
    },
    /// A content block starts. Text and reasoning blocks may start with a delta instead.
    BlockStart {
        /// The block's index in the message.
        index: u32,
        /// What kind of block.
        start: BlockStart,
    },
    /// A piece of a content block.
    BlockDelta {
        /// The block's index in the message.
        index: u32,
        /// The piece.
        delta: BlockDelta,
    },
    /// A content block is complete.
    BlockStop {
        /// The block's index in the message.
        index: u32,
    },
    /// The reply is complete.
    MessageStop {
        /// Why the model stopped.
        stop_reason: StopReason,
    },
    /// The client left an optional feature out of this call (see [`DroppedFeature`]); sent
    /// before the reply's first event.
    FeatureDropped(DroppedFeature),
    /// Token usage and timing of the call, after `MessageStop`.
    Metadata {
        /// Tokens the call used.
        usage: TokenUsage,
        /// How long the call took, per the provider.
        latency_ms: Option<u64>,
        /// The provider's trace (guardrail assessments), as JSON.
        trace: Option<Value>,
    },
}

/// How a content block starts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BlockStart {
    /// A tool call; its input follows as [`BlockDelta::ToolInput`] fragments.
    ToolUse {
        /// The call's id.
        tool_use_id: String,
        /// The tool's name.
        name: String,
    },
    /// A block that is not streamed piecewise, given whole (used by models that cannot stream).
    Whole(ContentBlock),
}

/// A piece of a content block.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BlockDelta {
    /// Text of a text block.
    Text(String),
    /// A fragment of a tool call's input JSON; the fragments joined are the input.
    ToolInput(String),
    /// Text of a reasoning block.
    ReasoningText(String),
    /// The reasoning block's signature.
    ReasoningSignature(String),
    /// Encrypted reasoning, base64-encoded.
    RedactedReasoning(String),
}

/// The events a whole reply stands for: what [`Model::converse_stream`]'s default sends.
pub fn response_events(response: ModelResponse) -> Vec<ModelStreamEvent> {
    let mut events = Vec::with_capacity(
        response.message.content.len() * 3 + 3 + response.dropped_features.len(),
    );
    events.extend(
        response
            .dropped_features
            .into_iter()
            .map(ModelStreamEvent::FeatureDropped),
    );
    events.push(ModelStreamEvent::MessageStart {
        role: response.message.role,
    });
    for (index, block) in response.message.content.into_iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        match block {
            ContentBlock::Text(text) => events.push(ModelStreamEvent::BlockDelta {
                index,
                delta: BlockDelta::Text(text),
            }),
            ContentBlock::ToolUse(tool_use) => {
                events.push(ModelStreamEvent::BlockStart {
                    index,
                    start: BlockStart::ToolUse {
                        tool_use_id: tool_use.tool_use_id,
                        name: tool_use.name,
                    },
                });
                events.push(ModelStreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::ToolInput(tool_use.input.to_string()),
                });
            }
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
                events.push(ModelStreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::ReasoningText(reasoning.text),
                });
                if let Some(signature) = reasoning.signature {
                    events.push(ModelStreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::ReasoningSignature(signature),
                    });
                }
            }
            ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(data)) => {
                events.push(ModelStreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::RedactedReasoning(data),
                });
            }
            other => events.push(ModelStreamEvent::BlockStart {
                index,
                start: BlockStart::Whole(other),
            }),
        }
        events.push(ModelStreamEvent::BlockStop { index });
    }
    events.push(ModelStreamEvent::MessageStop {
        stop_reason: response.stop_reason,
    });
    events.push(ModelStreamEvent::Metadata {
        usage: response.usage,
        latency_ms: response.latency_ms,
        trace: response.trace,
    });
    events
}

/// Why the model stopped writing. Serialises with Converse's names (`end_turn`, `tool_use`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The model asks for tools to be run.
    ToolUse,
    /// The reply hit the token limit.
    MaxTokens,
    /// The reply hit a stop sequence.
    StopSequence,
    /// A guardrail intervened.
    GuardrailIntervened,
    /// Content was filtered.
    ContentFiltered,
    /// The context window was exceeded.
    ModelContextWindowExceeded,
    /// A reason this version does not know, kept as the provider wrote it.
    #[serde(untagged)]
    #[schemars(skip)]
    Other(String),
}

impl StopReason {
    /// The Converse name of this reason.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::GuardrailIntervened => "guardrail_intervened",
            StopReason::ContentFiltered => "content_filtered",
            StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
            StopReason::Other(other) => other,
        }
    }

    /// Parses a Converse stop reason; unknown names are kept in [`StopReason::Other`].
    pub fn from_converse(name: &str) -> Self {
        match name {
            "end_turn" => StopReason::EndTurn,
            "tool_use" => StopReason::ToolUse,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "guardrail_intervened" => StopReason::GuardrailIntervened,
            "content_filtered" => StopReason::ContentFiltered,
            "model_context_window_exceeded" => StopReason::ModelContextWindowExceeded,
            other => StopReason::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts of one model call, or summed over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenUsage {
    /// Tokens in the request that were not read from or written to the prompt cache.
    pub input_tokens: u64,
    /// Tokens in the reply.
    pub output_tokens: u64,
    /// All tokens, as the provider counts them.
    pub total_tokens: u64,
    /// Request tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_input_tokens: u64,
    /// Request tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_input_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TokenUsage {
    /// Input and output counts, with the total their sum.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            ..Self::default()
        }
    }
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_write_input_tokens += other.cache_write_input_tokens;
    }
}

/// What kind of failure a model call met. Provider errors map onto these so that callers can
/// decide (retry later, fix the request, fix permissions) without knowing the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelErrorKind {
    /// Too many requests; retried already, try again later (`ThrottlingException`, quota).
    Throttled,
    /// The request was malformed (`ValidationException`).
    Validation,
    /// The model does not support something the request explicitly asked for (a tool on a model
    /// without tool use, an image for a text-only model, a kind of extended thinking it does
    /// not take, …). The message says which rule, and where it comes from.
    Unsupported,
    /// The request is longer than the model's context window.
    ContextWindowExceeded,
    /// The caller may not use this model (`AccessDeniedException`).
    AccessDenied,
    /// The model is not ready yet (`ModelNotReadyException`).
    ModelNotReady,
    /// No such model or resource (`ResourceNotFoundException`).
    ModelNotFound,
    /// The service is down or failed (`ServiceUnavailableException`, internal errors).
    ServiceUnavailable,
    /// The call or the model took too long.
    Timeout,
    /// The request never reached the service (connection refused, DNS, TLS).
    Network,
    /// A streamed reply broke off before it was complete (connection reset, a stream error
    /// event). Nothing of it was used.
    StreamInterrupted,
    /// The reply ended inside a tool call (the token limit cut it); nothing of it was run.
    IncompleteResponse,
    /// The service answered with something this client cannot use.
    InvalidResponse,
    /// Anything else; the message says what.
    Other,
}

impl ModelErrorKind {
    /// A short, stable snake_case name (`throttled`, `access_denied`, …) for logs and traces.
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelErrorKind::Throttled => "throttled",
            ModelErrorKind::Validation => "validation",
            ModelErrorKind::Unsupported => "unsupported",
            ModelErrorKind::ContextWindowExceeded => "context_window_exceeded",
            ModelErrorKind::AccessDenied => "access_denied",
            ModelErrorKind::ModelNotReady => "model_not_ready",
            ModelErrorKind::ModelNotFound => "model_not_found",
            ModelErrorKind::ServiceUnavailable => "service_unavailable",
            ModelErrorKind::Timeout => "timeout",
            ModelErrorKind::Network => "network",
            ModelErrorKind::StreamInterrupted => "stream_interrupted",
            ModelErrorKind::IncompleteResponse => "incomplete_response",
            ModelErrorKind::InvalidResponse => "invalid_response",
            ModelErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ModelErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelErrorKind::Throttled => "throttled",
            ModelErrorKind::Validation => "invalid request",
            ModelErrorKind::Unsupported => "not supported by the model",
            ModelErrorKind::ContextWindowExceeded => "context window exceeded",
            ModelErrorKind::AccessDenied => "access denied",
            ModelErrorKind::ModelNotReady => "model not ready",
            ModelErrorKind::ModelNotFound => "model not found",
            ModelErrorKind::ServiceUnavailable => "service unavailable",
            ModelErrorKind::Timeout => "timed out",
            ModelErrorKind::Network => "network error",
            ModelErrorKind::StreamInterrupted => "stream interrupted",
            ModelErrorKind::IncompleteResponse => "incomplete response",
            ModelErrorKind::InvalidResponse => "invalid response",
            ModelErrorKind::Other => "model error",
        })
    }
}

/// A failed model call: its kind and the provider's own message.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ModelError {
    kind: ModelErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Clone for ModelError {
    /// A copy of the kind and message; the source, which need not be `Clone`, is left out.
    fn clone(&self) -> Self {
        Self::new(self.kind, self.message.clone())
    }
}

impl ModelError {
    /// A new error of this kind with the provider's message.
    pub fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ModelErrorKind {
        self.kind
    }

    /// The provider's message, unchanged.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ModelErrorKind::Throttled
                | ModelErrorKind::ModelNotReady
                | ModelErrorKind::ServiceUnavailable
                | ModelErrorKind::Timeout
                | ModelErrorKind::Network
                | ModelErrorKind::StreamInterrupted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ReasoningText, ToolUse};
    use serde_json::json;

    #[test]
    fn stop_reasons_use_converse_names_and_keep_unknown_ones() {
        for name in ["end_turn", "tool_use", "max_tokens", "guardrail_intervened"] {
            let reason = StopReason::from_converse(name);
            assert_eq!(reason.as_str(), name);
            assert_eq!(serde_json::to_value(&reason).unwrap(), name);
        }
        let odd: StopReason = serde_json::from_str("\"brand_new\"").unwrap();
        assert_eq!(odd, StopReason::Other("brand_new".into()));
    }

    #[test]
    fn request_settings_fall_back_field_by_field() {
        let defaults = InferenceConfig {
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: None,
            stop_sequences: vec!["END".into()],
        };
        let request = InferenceConfig {
            temperature: Some(0.1),
            ..Default::default()
        };
        let merged = request.or(&defaults);
        assert_eq!(merged.max_tokens, Some(100));
        assert_eq!(merged.temperature, Some(0.1));
        assert_eq!(merged.stop_sequences, vec!["END".to_string()]);
    }

    #[test]
    fn usage_adds_cache_counts_and_reads_records_without_them() {
        let mut total = TokenUsage::new(10, 5);
        total += TokenUsage {
            cache_read_input_tokens: 7,
            ..TokenUsage::new(1, 1)
        };
        assert_eq!(total.total_tokens, 17);
        assert_eq!(total.cache_read_input_tokens, 7);
        let old: TokenUsage = serde_json::from_value(
            json!({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}),
        )
        .unwrap();
        assert_eq!(old, TokenUsage::new(1, 2));
    }

    #[test]
    fn a_whole_reply_becomes_the_events_of_a_stream() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "think".into(),
                    signature: Some("sig".into()),
                })),
                ContentBlock::Text("hi".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t1".into(),
                    name: "echo".into(),
                    input: json!({"a": 1}),
                }),
            ],
        };
        let events = response_events(ModelResponse::new(message, StopReason::ToolUse));
        assert_eq!(events.len(), 1 + 3 + 2 + 3 + 2);
        // MessageStart; reasoning text, signature, stop; text, stop; tool start, input, stop; …
        assert!(matches!(
            &events[4],
            ModelStreamEvent::BlockDelta { index: 1, delta: BlockDelta::Text(text) } if text == "hi"
        ));
        assert!(matches!(
            &events[7],
            ModelStreamEvent::BlockDelta { index: 2, delta: BlockDelta::ToolInput(json) } if json == "{\"a\":1}"
        ));
    }

    #[test]
    fn the_conversion_cache_keeps_one_value_per_type() {
        let cache = ConversionCache::default();
        cache.with(|count: &mut usize| *count += 2);
        let clone = cache.clone();
        assert_eq!(clone.with(|count: &mut usize| *count), 2);
        assert_eq!(clone.with(|text: &mut String| text.len()), 0);
        assert_eq!(
            cache.with(|count: &mut usize| *count),
            0,
            "another type replaced it"
        );
    }
}
