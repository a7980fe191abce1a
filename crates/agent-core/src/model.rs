//! The [`Model`] trait: one call of a Converse-style chat model.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::Message;

/// A chat model the agent loop calls: Bedrock Converse, or a scripted stand-in in tests.
///
/// Implementations are shared across concurrent runs, so they take `&self`.
#[async_trait]
pub trait Model: Send + Sync {
    /// Sends one request and returns the model's reply.
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError>;
}

#[async_trait]
impl<M: Model + ?Sized> Model for Arc<M> {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        (**self).converse(request).await
    }
}

#[async_trait]
impl<M: Model + ?Sized> Model for Box<M> {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        (**self).converse(request).await
    }
}

/// What the loop sends to the model on each call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRequest {
    /// The conversation so far, starting with a user message.
    pub messages: Vec<Message>,
    /// System prompt blocks, in order.
    pub system: Vec<String>,
    /// The tools the model may ask for; empty means the request carries no tool configuration.
    pub tools: Arc<[ToolSpec]>,
    /// Inference settings; unset fields fall back to the model's own defaults.
    pub inference: InferenceConfig,
}

/// A tool as the model sees it: Converse's `toolSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// The name the model uses to call it.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema of type `object` describing its input.
    pub input_schema: Value,
}

/// Inference settings. Unset fields leave the choice to the model (or its provider's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
pub struct ModelResponse {
    /// The assistant message.
    pub message: Message,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens this call used.
    pub usage: TokenUsage,
}

/// Why the model stopped writing. Serialises with Converse's names (`end_turn`, `tool_use`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Tokens in the request.
    pub input_tokens: u64,
    /// Tokens in the reply.
    pub output_tokens: u64,
    /// Input plus output, as the provider counts it.
    pub total_tokens: u64,
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
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
            ModelErrorKind::AccessDenied => "access_denied",
            ModelErrorKind::ModelNotReady => "model_not_ready",
            ModelErrorKind::ModelNotFound => "model_not_found",
            ModelErrorKind::ServiceUnavailable => "service_unavailable",
            ModelErrorKind::Timeout => "timeout",
            ModelErrorKind::Network => "network",
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
            ModelErrorKind::AccessDenied => "access denied",
            ModelErrorKind::ModelNotReady => "model not ready",
            ModelErrorKind::ModelNotFound => "model not found",
            ModelErrorKind::ServiceUnavailable => "service unavailable",
            ModelErrorKind::Timeout => "timed out",
            ModelErrorKind::Network => "network error",
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
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
