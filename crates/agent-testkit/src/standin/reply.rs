//! What the stand-in answers: a Converse reply or one of Bedrock's errors.

use std::fmt;

use agent_core::{
    ContentBlock, Message, ModelResponse, ReasoningContent, ReasoningText, Role, StopReason,
    TokenUsage, ToolUse,
};
use serde_json::{Value, json};

use super::stream::{StreamBehavior, StreamFault};

/// The guardrail id named in the trace of [`Reply::guardrail_intervened`].
pub const STANDIN_GUARDRAIL_ID: &str = "standin-guardrail";

/// The errors Bedrock's Converse operation answers with, each with its HTTP status and the
/// error type sent in the `x-amzn-errortype` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BedrockErrorKind {
    /// `ThrottlingException`, HTTP 429. The SDK retries it.
    Throttling,
    /// `ValidationException`, HTTP 400.
    Validation,
    /// `AccessDeniedException`, HTTP 403.
    AccessDenied,
    /// `ResourceNotFoundException`, HTTP 404: Bedrock's answer for a model it no longer serves
    /// (end of life, or a legacy model the account has not used lately).
    ResourceNotFound,
    /// `ModelErrorException`, HTTP 424.
    ModelError,
    /// `InternalServerException`, HTTP 500. The SDK retries it.
    InternalServer,
    /// `ServiceUnavailableException`, HTTP 503. The SDK retries it.
    ServiceUnavailable,
    /// `ModelTimeoutException`, HTTP 408.
    ModelTimeout,
    /// `ModelNotReadyException`, HTTP 429. The SDK retries it.
    ModelNotReady,
}

impl BedrockErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [BedrockErrorKind; 9] = [
        BedrockErrorKind::Throttling,
        BedrockErrorKind::Validation,
        BedrockErrorKind::AccessDenied,
        BedrockErrorKind::ResourceNotFound,
        BedrockErrorKind::ModelError,
        BedrockErrorKind::InternalServer,
        BedrockErrorKind::ServiceUnavailable,
        BedrockErrorKind::ModelTimeout,
        BedrockErrorKind::ModelNotReady,
    ];

    /// The HTTP status Bedrock answers this error with.
    pub fn status(self) -> u16 {
        match self {
            BedrockErrorKind::Throttling | BedrockErrorKind::ModelNotReady => 429,
            BedrockErrorKind::Validation => 400,
            BedrockErrorKind::AccessDenied => 403,
            BedrockErrorKind::ResourceNotFound => 404,
            BedrockErrorKind::ModelError => 424,
            BedrockErrorKind::InternalServer => 500,
            BedrockErrorKind::ServiceUnavailable => 503,
            BedrockErrorKind::ModelTimeout => 408,
        }
    }

    /// The error type, as sent in the `x-amzn-errortype` header.
    pub fn error_type(self) -> &'static str {
        match self {
            BedrockErrorKind::Throttling => "ThrottlingException",
            BedrockErrorKind::Validation => "ValidationException",
            BedrockErrorKind::AccessDenied => "AccessDeniedException",
            BedrockErrorKind::ResourceNotFound => "ResourceNotFoundException",
            BedrockErrorKind::ModelError => "ModelErrorException",
            BedrockErrorKind::InternalServer => "InternalServerException",
            BedrockErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            BedrockErrorKind::ModelTimeout => "ModelTimeoutException",
            BedrockErrorKind::ModelNotReady => "ModelNotReadyException",
        }
    }

    /// A message like the one the real service sends with this error.
    pub fn default_message(self) -> &'static str {
        match self {
            BedrockErrorKind::Throttling => "Too many requests, please wait before trying again.",
            BedrockErrorKind::Validation => "The provided request is not valid.",
            BedrockErrorKind::AccessDenied => {
                "You don't have access to the model with the specified model ID."
            }
            // Bedrock's ResourceNotFoundException for a model id it no longer serves, on
            // Converse (https://github.com/aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws/issues/708)
            // and ConverseStream (https://github.com/griptape-ai/griptape-nodes-engine/issues/4498).
            // "The provided model identifier is invalid." is a ValidationException's text
            // (https://github.com/opensearch-project/agent-health/issues/298), not this one's.
            BedrockErrorKind::ResourceNotFound => {
                "This model version has reached the end of its life. Please refer to the AWS \
                 documentation for more details."
            }
            BedrockErrorKind::ModelError => {
                "The model encountered an error processing the request."
            }
            BedrockErrorKind::InternalServer => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
            BedrockErrorKind::ServiceUnavailable => "Bedrock is unable to process your request.",
            BedrockErrorKind::ModelTimeout => {
                "Model has timed out in processing the request. Try your request again."
            }
            BedrockErrorKind::ModelNotReady => {
                "Model is not ready for inference. Wait and try your request again."
            }
        }
    }
}

impl fmt::Display for BedrockErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type())
    }
}

/// A Bedrock error reply: answered with the kind's HTTP status, its type in the
/// `x-amzn-errortype` header and `{"message": …}` as the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockError {
    /// Which error.
    pub kind: BedrockErrorKind,
    /// The message sent in the body.
    pub message: String,
}

impl BedrockError {
    /// An error of this kind with this message.
    pub fn new(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// `ThrottlingException` (429) with the service's usual message.
    pub fn throttling() -> Self {
        BedrockErrorKind::Throttling.into()
    }

    /// `ValidationException` (400) with this message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(BedrockErrorKind::Validation, message)
    }
}

impl From<BedrockErrorKind> for BedrockError {
    /// The error with the service's usual message for this kind.
    fn from(kind: BedrockErrorKind) -> Self {
        Self::new(kind, kind.default_message())
    }
}

impl fmt::Display for BedrockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind,
            self.kind.status(),
            self.message
        )
    }
}

/// One answer of the stand-in.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// A successful Converse response holding this assistant message, stop reason and usage.
    ///
    /// `toolUse` blocks with an empty `toolUseId` get one from the stand-in (`tooluse_1`,
    /// `tooluse_2`, … numbered after the toolUse blocks already in the conversation), so that
    /// scripts need not invent ids.
    Respond(ModelResponse),
    /// A successful response like [`Reply::Respond`], streamed by `ConverseStream` with these
    /// faults and options ([`Reply::with_stream_fault`],
    /// [`Reply::with_interleaved_tool_inputs`]). `Converse` answers it whole, as it would
    /// `Respond`.
    RespondWithStream {
        /// The response.
        response: ModelResponse,
        /// How `ConverseStream` sends it.
        stream: StreamBehavior,
    },
    /// One of Bedrock's errors.
    Error(BedrockError),
    /// Exactly this status and body, for testing how a client copes with odd answers.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The `x-amzn-errortype` header to send, if any.
        error_type: Option<String>,
        /// The body, sent as `application/json` whatever it holds.
        body: String,
    },
}

impl Reply {
    /// A final text answer, stop reason `end_turn`.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Respond(
            ModelResponse::new(Message::assistant_text(text), StopReason::EndTurn)
                .with_usage(default_usage()),
        )
    }

    /// A request for tools, stop reason `tool_use`: an optional `<thinking>` text, then one
    /// `toolUse` block per `(name, input)` pair. The stand-in assigns the ids (see
    /// [`Reply::Respond`]).
    pub fn tool_use(thinking: Option<&str>, calls: &[(&str, Value)]) -> Self {
        let mut content = Vec::with_capacity(calls.len() + 1);
        if let Some(thinking) = thinking {
            content.push(ContentBlock::Text(format!(
                "<thinking>{thinking}</thinking>"
            )));
        }
        content.extend(calls.iter().map(|(name, input)| {
            ContentBlock::ToolUse(ToolUse {
                tool_use_id: String::new(),
                name: (*name).to_owned(),
                input: input.clone(),
            })
        }));
        Reply::Respond(
            ModelResponse::new(
                Message {
                    role: Role::Assistant,
                    content,
                },
                StopReason::ToolUse,
            )
            .with_usage(default_usage()),
        )
    }

    /// A reply holding this assistant message, stop reason and usage.
    pub fn message(message: Message, stop_reason: StopReason, usage: TokenUsage) -> Self {
        Reply::Respond(ModelResponse::new(message, stop_reason).with_usage(usage))
    }

    /// One of Bedrock's errors with the service's usual message.
    pub fn error(kind: BedrockErrorKind) -> Self {
        Reply::Error(kind.into())
    }

    /// One of Bedrock's errors with this message.
    pub fn error_with(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        Reply::Error(BedrockError::new(kind, message))
    }

    /// `ThrottlingException` (429).
    pub fn throttling() -> Self {
        Reply::error(BedrockErrorKind::Throttling)
    }

    /// A guardrail intervention as Bedrock answers it: the guardrail's `text` as the assistant
    /// message, stop reason `guardrail_intervened`, and a trace whose `guardrail` object says
    /// the input was blocked by a content filter of [`STANDIN_GUARDRAIL_ID`]. Both operations
    /// send the trace (`trace` of the Converse JSON, of the stream's `metadata` event).
    pub fn guardrail_intervened(text: impl Into<String>) -> Self {
        Self::guardrail_intervened_with_trace(text, default_guardrail_trace())
    }

    /// A guardrail intervention with this trace (Converse's `trace` object, such as
    /// `{"guardrail": {…}}`).
    pub fn guardrail_intervened_with_trace(text: impl Into<String>, trace: Value) -> Self {
        let mut response = ModelResponse::new(
            Message::assistant_text(text),
            StopReason::GuardrailIntervened,
        )
        .with_usage(default_usage());
        response.trace = Some(trace);
        Reply::Respond(response)
    }

    /// The response this reply sends, if it is a success.
    pub fn response(&self) -> Option<&ModelResponse> {
        match self {
            Reply::Respond(response) | Reply::RespondWithStream { response, .. } => Some(response),
            Reply::Error(_) | Reply::Raw { .. } => None,
        }
    }

    /// How `ConverseStream` sends this reply, if it asked for faults or options.
    pub fn stream_behavior(&self) -> Option<&StreamBehavior> {
        match self {
            Reply::RespondWithStream { stream, .. } => Some(stream),
            _ => None,
        }
    }

    /// This reply with `fault` injected when it is streamed (see [`StreamFault`]); several
    /// faults may be added. Errors and raw replies are returned unchanged: they are answered
    /// before any stream starts.
    ///
    /// ```
    /// use agent_testkit::{Reply, StreamErrorKind, StreamFault};
    /// use serde_json::json;
    ///
    /// let reply = Reply::tool_use(None, &[("get_weather", json!({"location": "Paris"}))])
    ///     .with_stream_fault(StreamFault::malformed_tool_input(0))
    ///     .with_stream_fault(StreamFault::exception_after(4, StreamErrorKind::ModelStreamError));
    /// assert_eq!(reply.stream_behavior().unwrap().faults.len(), 2);
    /// ```
    #[must_use]
    pub fn with_stream_fault(self, fault: StreamFault) -> Self {
        self.with_stream(|stream| stream.faults.push(fault))
    }

    /// This reply with the input deltas of consecutive `toolUse` blocks alternating when it is
    /// streamed (all their `contentBlockStart`s first, then block 1, block 2, block 1, … then
    /// their `contentBlockStop`s). Errors and raw replies are returned unchanged.
    #[must_use]
    pub fn with_interleaved_tool_inputs(self) -> Self {
        self.with_stream(|stream| stream.interleave_tool_inputs = true)
    }

    fn with_stream(self, change: impl FnOnce(&mut StreamBehavior)) -> Self {
        let (response, mut stream) = match self {
            Reply::Respond(response) => (response, StreamBehavior::default()),
            Reply::RespondWithStream { response, stream } => (response, stream),
            other => return other,
        };
        change(&mut stream);
        Reply::RespondWithStream { response, stream }
    }

    /// This reply with a `reasoningContent` block of readable reasoning (and its signature)
    /// put first, as a model with extended thinking answers. Streamed as reasoning-text deltas
    /// and a signature delta. Errors and raw replies are returned unchanged.
    #[must_use]
    pub fn with_reasoning(self, text: impl Into<String>, signature: Option<&str>) -> Self {
        self.with_first_block(ContentBlock::ReasoningContent(
            ReasoningContent::ReasoningText(ReasoningText {
                text: text.into(),
                signature: signature.map(str::to_owned),
            }),
        ))
    }

    /// This reply with a `reasoningContent` block of redacted (encrypted) reasoning put first;
    /// `data` is its base64 text, streamed as one `redactedContent` delta. Errors and raw
    /// replies are returned unchanged.
    #[must_use]
    pub fn with_redacted_reasoning(self, data: impl Into<String>) -> Self {
        self.with_first_block(ContentBlock::ReasoningContent(
            ReasoningContent::RedactedContent(data.into()),
        ))
    }

    fn with_first_block(mut self, block: ContentBlock) -> Self {
        if let Reply::Respond(response) | Reply::RespondWithStream { response, .. } = &mut self {
            response.message.content.insert(0, block);
        }
        self
    }

    /// This reply with this token usage. Cache counts set here are sent as they are; left at
    /// zero, the stand-in's prompt cache fills them in for requests with `cachePoint` blocks.
    /// Errors and raw replies are returned unchanged.
    #[must_use]
    pub fn with_usage(mut self, usage: TokenUsage) -> Self {
        if let Reply::Respond(response) | Reply::RespondWithStream { response, .. } = &mut self {
            response.usage = usage;
        }
        self
    }
}

impl From<ModelResponse> for Reply {
    fn from(response: ModelResponse) -> Self {
        Reply::Respond(response)
    }
}

impl From<BedrockError> for Reply {
    fn from(error: BedrockError) -> Self {
        Reply::Error(error)
    }
}

impl From<BedrockErrorKind> for Reply {
    fn from(kind: BedrockErrorKind) -> Self {
        Reply::error(kind)
    }
}

fn default_usage() -> TokenUsage {
    TokenUsage::new(10, 5)
}

/// A trace like the one Bedrock sends when a content filter blocks the input.
fn default_guardrail_trace() -> Value {
    json!({"guardrail": {
        "inputAssessment": {STANDIN_GUARDRAIL_ID: {
            "contentPolicy": {"filters": [{
                "type": "VIOLENCE",
                "confidence": "HIGH",
                "filterStrength": "HIGH",
                "action": "BLOCKED",
                "detected": true
            }]},
            "invocationMetrics": {
                "guardrailProcessingLatency": 42,
                "usage": {
                    "topicPolicyUnits": 0,
                    "contentPolicyUnits": 1,
                    "wordPolicyUnits": 0,
                    "sensitiveInformationPolicyUnits": 0,
                    "sensitiveInformationPolicyFreeUnits": 0,
                    "contextualGroundingPolicyUnits": 0
                },
                "guardrailCoverage": {"textCharacters": {"guarded": 20, "total": 20}}
            }
        }},
        "actionReason": "Guardrail blocked."
    }})
}
