//! [`BedrockModel`]: the Converse and ConverseStream APIs as an [`agent_core::Model`].

use std::time::Duration;

use agent_core::{
    ContentBlock, InferenceConfig, Message, Model, ModelError, ModelErrorKind, ModelEventStream,
    ModelIdentity, ModelRequest, ModelResponse, ReasoningContent, StopReason, ToolChoice,
    async_trait,
};
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Document;
use serde_json::{Value, json};

use crate::convert::{
    ConversionError, cache_point, inference_to_sdk, json_to_document, message_from_sdk,
    message_to_sdk, tool_config_to_sdk, usage_from_sdk,
};
use crate::error::model_error;

/// The model used when none is named: Amazon Nova Pro through its US cross-region profile.
pub const DEFAULT_MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// How long one HTTP attempt may take. Long answers from large models take well over a minute,
/// so this is generous; the SDK itself sets no limit at all.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one call may take, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// How many attempts a call gets (the first plus retries of throttling, 5xx and timeouts).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The provider name traces give Bedrock (OpenTelemetry's `gen_ai.system`).
pub const PROVIDER: &str = "aws.bedrock";

/// Where prompt-cache checkpoints go (Bedrock's `cachePoint` blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PromptCaching {
    /// After the system prompt, after the tools and at the end of the history, for models known
    /// to support prompt caching (Anthropic Claude, Amazon Nova); none for others. The default.
    #[default]
    Auto,
    /// At the places chosen, whatever the model.
    On(CachePoints),
    /// None.
    Off,
}

/// Which cache checkpoints a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePoints {
    /// After the system prompt.
    pub system: bool,
    /// After the tool definitions.
    pub tools: bool,
    /// At the end of the conversation so far (never right after a reasoning block, which
    /// Bedrock rejects).
    pub history: bool,
}

impl CachePoints {
    /// Every place.
    pub const ALL: CachePoints = CachePoints {
        system: true,
        tools: true,
        history: true,
    };
    /// None.
    pub const NONE: CachePoints = CachePoints {
        system: false,
        tools: false,
        history: false,
    };
}

/// Whether Bedrock supports prompt caching for this model id (by model family).
pub fn supports_prompt_caching(model_id: &str) -> bool {
    let id = model_id.to_ascii_lowercase();
    id.contains("anthropic.claude-3-5-haiku")
        || id.contains("anthropic.claude-3-7")
        || id.contains("anthropic.claude-sonnet-4")
        || id.contains("anthropic.claude-opus-4")
        || id.contains("anthropic.claude-haiku-4")
        || id.contains("amazon.nova")
}

/// A Bedrock guardrail applied to every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrail {
    /// The guardrail's identifier or ARN.
    pub identifier: String,
    /// Its version (`DRAFT` or a number).
    pub version: String,
    /// Whether Bedrock sends its assessment back (`enabled`), for the trace.
    pub trace: bool,
}

impl Guardrail {
    /// A guardrail of this identifier and version, with its trace on.
    pub fn new(identifier: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            version: version.into(),
            trace: true,
        }
    }
}

/// Amazon Bedrock's Converse API as a [`Model`], streaming by default.
///
/// Cheap to clone: the SDK client inside is reference-counted. Build one at start-up and share
/// it; every call reuses the client's connection pool.
#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    options: ModelOptions,
}

#[derive(Debug, Clone, Default)]
struct ModelOptions {
    inference: InferenceConfig,
    streaming: bool,
    caching: CachePoints,
    thinking_budget: Option<u32>,
    guardrail: Option<Guardrail>,
    additional_fields: Option<Value>,
}

impl Default for CachePoints {
    fn default() -> Self {
        CachePoints::NONE
    }
}

/// Why a [`BedrockModel`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BedrockConfigError {
    /// The model id is empty.
    #[error("the Bedrock model id must not be empty")]
    EmptyModelId,
    /// The endpoint URL is not an http(s) URL.
    #[error("the Bedrock endpoint URL `{0}` must start with http:// or https://")]
    InvalidEndpoint(String),
    /// The thinking budget is below Bedrock's minimum.
    #[error("the thinking budget must be at least 1024 tokens, not {0}")]
    ThinkingBudgetTooSmall(u32),
    /// Extra request fields that are not a JSON object.
    #[error("additional model request fields must be a JSON object")]
    InvalidAdditionalFields,
}

/// The cached wire form of a run's messages (see [`agent_core::ConversionCache`]).
#[derive(Default)]
struct Converted {
    /// How many of the request's messages `messages` holds.
    count: usize,
    messages: Vec<sdk::Message>,
}

impl BedrockModel {
    /// A builder that loads the AWS configuration from the environment.
    pub fn builder() -> BedrockModelBuilder {
        BedrockModelBuilder::default()
    }

    /// A model on a client made from `config`, with this crate's timeouts where `config` sets
    /// none. Endpoint settings in `config` (including `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` when it
    /// came from `aws_config`) apply.
    pub fn from_sdk_config(config: &SdkConfig, model_id: impl Into<String>) -> Self {
        let mut client_config = aws_sdk_bedrockruntime::config::Builder::from(config);
        let timeouts = config.timeout_config();
        if timeouts.is_none_or(|t| t.operation_timeout().is_none()) {
            client_config = client_config.timeout_config(default_timeouts(
                DEFAULT_ATTEMPT_TIMEOUT,
                DEFAULT_OPERATION_TIMEOUT,
            ));
        }
        Self::from_client(Client::from_conf(client_config.build()), model_id)
    }

    /// A model on a ready client, used as it is: streaming, prompt caching as
    /// [`PromptCaching::Auto`] decides.
    pub fn from_client(client: Client, model_id: impl Into<String>) -> Self {
        let model_id = model_id.into();
        let caching = caching_for(PromptCaching::Auto, &model_id);
        Self {
            client,
            model_id,
            options: ModelOptions {
                streaming: true,
                caching,
                ..ModelOptions::default()
            },
        }
    }

    /// The same model with default inference settings (a request's own settings win).
    #[must_use]
    pub fn with_inference(mut self, inference: InferenceConfig) -> Self {
        self.options.inference = inference;
        self
    }

    /// The same model calling ConverseStream (`true`, the default) or Converse (`false`).
    #[must_use]
    pub fn with_streaming(mut self, streaming: bool) -> Self {
        self.options.streaming = streaming;
        self
    }

    /// The same model with these prompt-cache checkpoints.
    #[must_use]
    pub fn with_prompt_caching(mut self, caching: PromptCaching) -> Self {
        self.options.caching = caching_for(caching, &self.model_id);
        self
    }

    /// The model id or inference profile this model calls.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Whether the model streams its replies.
    pub fn is_streaming(&self) -> bool {
        self.options.streaming
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The request's messages in the SDK's types: those converted by earlier calls of the same
    /// run are reused, and only the messages added since are converted.
    fn messages(&self, request: &ModelRequest) -> Result<Vec<sdk::Message>, ConversionError> {
        let mut messages = request.cache.with(|converted: &mut Converted| {
            if converted.count > request.messages.len() {
                // The run's messages were rewritten: start again.
                *converted = Converted::default();
            }
            for message in &request.messages[converted.count..] {
                converted.messages.push(message_to_sdk(message)?);
                converted.count += 1;
            }
            Ok::<_, ConversionError>(converted.messages.clone())
        })?;
        if self.options.caching.history
            && let Some(last) = request.messages.last()
            && history_cache_point_allowed(last)
            && let Some(wire) = messages.last_mut()
        {
            let mut content = wire.content().to_vec();
            content.push(sdk::ContentBlock::CachePoint(cache_point()?));
            *wire = sdk::Message::builder()
                .role(wire.role().clone())
                .set_content(Some(content))
                .build()?;
        }
        Ok(messages)
    }

    fn system(
        &self,
        request: &ModelRequest,
    ) -> Result<Option<Vec<sdk::SystemContentBlock>>, ConversionError> {
        if request.system.is_empty() {
            return Ok(None);
        }
        let mut system: Vec<sdk::SystemContentBlock> = request
            .system
            .iter()
            .map(|text| sdk::SystemContentBlock::Text(text.clone()))
            .collect();
        if self.options.caching.system {
            // Before the last block when there are several: the first blocks (the prompt) stay
            // the same from run to run, while later ones (a summary) change.
            let at = if system.len() > 1 {
                system.len() - 1
            } else {
                system.len()
            };
            system.insert(at, sdk::SystemContentBlock::CachePoint(cache_point()?));
        }
        Ok(Some(system))
    }

    /// Extended thinking and any extra fields, as `additionalModelRequestFields`.
    fn additional_fields(&self) -> Option<Document> {
        let mut fields = match &self.options.additional_fields {
            Some(Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        if let Some(budget) = self.options.thinking_budget {
            fields.insert(
                "thinking".to_owned(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        (!fields.is_empty()).then(|| json_to_document(&Value::Object(fields)))
    }

    /// The tool choice to send: a forced choice is never combined with extended thinking,
    /// which Bedrock rejects; the model then chooses (`auto`).
    fn tool_choice<'a>(&self, request: &'a ModelRequest) -> Option<&'a ToolChoice> {
        match &request.tool_choice {
            Some(choice) if choice.is_forced() && self.options.thinking_budget.is_some() => {
                tracing::debug!(
                    "extended thinking is on: the forced tool choice is sent as `auto`"
                );
                None
            }
            other => other.as_ref(),
        }
    }

    fn inference(&self, request: &ModelRequest) -> InferenceConfig {
        let mut inference = request.inference.or(&self.options.inference);
        if let Some(budget) = self.options.thinking_budget {
            // The reply must have room for the thinking and the answer.
            let floor = budget.saturating_add(1024);
            if inference.max_tokens.is_none_or(|max| max <= budget) {
                inference.max_tokens = Some(floor.max(4096));
            }
            // Extended thinking does not take a temperature or top_p of its own.
            inference.temperature = None;
            inference.top_p = None;
        }
        inference
    }

    fn conversion_failed(error: ConversionError) -> ModelError {
        ModelError::new(ModelErrorKind::Validation, error.0.clone()).with_source(error)
    }

    async fn converse_whole(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let messages = self.messages(request).map_err(Self::conversion_failed)?;
        let tool_config = tool_config_to_sdk(
            &request.tools,
            self.tool_choice(request),
            self.options.caching.tools,
        )
        .map_err(Self::conversion_failed)?;
        let guardrail = self.options.guardrail.as_ref().map(|g| {
            sdk::GuardrailConfiguration::builder()
                .guardrail_identifier(&g.identifier)
                .guardrail_version(&g.version)
                .trace(if g.trace {
                    sdk::GuardrailTrace::Enabled
                } else {
                    sdk::GuardrailTrace::Disabled
                })
                .build()
        });
        let output = self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .set_system(self.system(request).map_err(Self::conversion_failed)?)
            .set_tool_config(tool_config)
            .set_inference_config(inference_to_sdk(&self.inference(request)))
            .set_additional_model_request_fields(self.additional_fields())
            .set_guardrail_config(guardrail)
            .send()
            .await
            .map_err(|error| model_error(error, false))?;
        let message = match output.output() {
            Some(sdk::ConverseOutput::Message(message)) => message_from_sdk(message),
            _ => {
                return Err(ModelError::new(
                    ModelErrorKind::InvalidResponse,
                    "the Converse response holds no message",
                ));
            }
        };
        let mut response = ModelResponse::new(
            message,
            StopReason::from_converse(output.stop_reason().as_str()),
        );
        if let Some(usage) = output.usage() {
            response.usage = usage_from_sdk(usage);
        }
        response.latency_ms = output
            .metrics()
            .and_then(|m| u64::try_from(m.latency_ms()).ok());
        response.trace = output
            .trace()
            .and_then(|trace| trace.guardrail())
            .map(|guardrail| json!({"guardrail": format!("{guardrail:?}")}));
        Ok(response)
    }

    async fn converse_streamed(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        let messages = self.messages(request).map_err(Self::conversion_failed)?;
        let tool_config = tool_config_to_sdk(
            &request.tools,
            self.tool_choice(request),
            self.options.caching.tools,
        )
        .map_err(Self::conversion_failed)?;
        let guardrail = self.options.guardrail.as_ref().map(|g| {
            sdk::GuardrailStreamConfiguration::builder()
                .guardrail_identifier(&g.identifier)
                .guardrail_version(&g.version)
                .trace(if g.trace {
                    sdk::GuardrailTrace::Enabled
                } else {
                    sdk::GuardrailTrace::Disabled
                })
                .build()
        });
        let output = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .set_system(self.system(request).map_err(Self::conversion_failed)?)
            .set_tool_config(tool_config)
            .set_inference_config(inference_to_sdk(&self.inference(request)))
            .set_additional_model_request_fields(self.additional_fields())
            .set_guardrail_config(guardrail)
            .send()
            .await
            .map_err(|error| model_error(error, false))?;
        Ok(crate::stream::events(output.stream))
    }
}

/// Whether a cache point may follow `message` (Bedrock rejects one right after a reasoning
/// block).
fn history_cache_point_allowed(message: &Message) -> bool {
    !matches!(
        message.content.last(),
        Some(ContentBlock::ReasoningContent(
            ReasoningContent::ReasoningText(_)
        )) | Some(ContentBlock::ReasoningContent(_))
            | Some(ContentBlock::CachePoint(_))
            | None
    )
}

fn caching_for(caching: PromptCaching, model_id: &str) -> CachePoints {
    match caching {
        PromptCaching::Auto if supports_prompt_caching(model_id) => CachePoints::ALL,
        PromptCaching::Auto | PromptCaching::Off => CachePoints::NONE,
        PromptCaching::On(points) => points,
    }
}

impl From<Client> for BedrockModel {
    /// A model on a ready client, calling [`DEFAULT_MODEL_ID`].
    fn from(client: Client) -> Self {
        Self::from_client(client, DEFAULT_MODEL_ID)
    }
}

#[async_trait]
impl Model for BedrockModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        self.converse_whole(request).await
    }

    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        if self.options.streaming {
            self.converse_streamed(request).await
        } else {
            let response = self.converse_whole(request).await?;
            Ok(Box::pin(futures::stream::iter(
                agent_core::response_events(response).into_iter().map(Ok),
            )))
        }
    }

    fn identity(&self) -> ModelIdentity {
        ModelIdentity::new(PROVIDER, &self.model_id)
    }
}

fn default_timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// Builds a [`BedrockModel`] from the AWS environment (credentials, region, profile, endpoint
/// settings) with explicit overrides.
#[derive(Debug, Clone)]
#[must_use]
pub struct BedrockModelBuilder {
    model_id: String,
    region: Option<String>,
    endpoint_url: Option<String>,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    retry_config: RetryConfig,
    caching: PromptCaching,
    credentials: Option<SharedCredentialsProvider>,
    options: ModelOptions,
}

impl Default for BedrockModelBuilder {
    fn default() -> Self {
        Self {
            model_id: DEFAULT_MODEL_ID.to_owned(),
            region: None,
            endpoint_url: None,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            retry_config: RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS),
            caching: PromptCaching::Auto,
            credentials: None,
            options: ModelOptions {
                streaming: true,
                ..ModelOptions::default()
            },
        }
    }
}

impl BedrockModelBuilder {
    /// The model id or inference profile (default [`DEFAULT_MODEL_ID`]).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = model_id.into();
        self
    }

    /// The region; by default the AWS environment's (`AWS_REGION`, profile), else
    /// [`agent_core::DEFAULT_AWS_REGION`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The endpoint, overriding `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` and `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Default inference settings (max tokens, temperature, top_p, stop sequences).
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.options.inference = inference;
        self
    }

    /// Whether to call ConverseStream (`true`, the default: text arrives as it is written) or
    /// Converse.
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.options.streaming = streaming;
        self
    }

    /// Prompt-cache checkpoints (default [`PromptCaching::Auto`]).
    pub fn prompt_caching(mut self, caching: PromptCaching) -> Self {
        self.caching = caching;
        self
    }

    /// Turns on extended thinking with this budget of tokens (at least 1024), sent as
    /// `additionalModelRequestFields.thinking`. Reasoning blocks and their signatures are kept
    /// in the conversation and sent back exactly; a forced tool choice is sent as `auto`, since
    /// Bedrock does not combine the two.
    pub fn thinking(mut self, budget_tokens: u32) -> Self {
        self.options.thinking_budget = Some(budget_tokens);
        self
    }

    /// Applies a guardrail to every request; an intervention ends the run with the outcome
    /// `GuardrailIntervened` and the guardrail's assessment in the trace.
    pub fn guardrail(mut self, guardrail: Guardrail) -> Self {
        self.options.guardrail = Some(guardrail);
        self
    }

    /// Extra model-specific fields (`additionalModelRequestFields`), a JSON object.
    pub fn additional_request_fields(mut self, fields: Value) -> Self {
        self.options.additional_fields = Some(fields);
        self
    }

    /// The credentials to sign requests with, instead of the AWS environment's (an assumed
    /// role's provider, or fixed test credentials).
    pub fn credentials_provider(
        mut self,
        provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
    ) -> Self {
        self.credentials = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// How long one HTTP attempt may take (default [`DEFAULT_ATTEMPT_TIMEOUT`]).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// How long a call may take with its retries (default [`DEFAULT_OPERATION_TIMEOUT`]).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The retry policy (default: standard, [`DEFAULT_MAX_ATTEMPTS`] attempts, exponential
    /// backoff with jitter).
    pub fn retry_config(mut self, retry_config: RetryConfig) -> Self {
        self.retry_config = retry_config;
        self
    }

    /// Loads the AWS configuration and builds the model.
    ///
    /// # Errors
    ///
    /// A [`BedrockConfigError`] for an empty model id, an endpoint that is not http(s), a
    /// thinking budget below 1024, or extra fields that are not an object.
    pub async fn build(self) -> Result<BedrockModel, BedrockConfigError> {
        if self.model_id.trim().is_empty() {
            return Err(BedrockConfigError::EmptyModelId);
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(BedrockConfigError::InvalidEndpoint(url.clone()));
        }
        if let Some(budget) = self.options.thinking_budget
            && budget < 1024
        {
            return Err(BedrockConfigError::ThinkingBudgetTooSmall(budget));
        }
        if self
            .options
            .additional_fields
            .as_ref()
            .is_some_and(|fields| !fields.is_object())
        {
            return Err(BedrockConfigError::InvalidAdditionalFields);
        }
        let region = RegionProviderChain::first_try(self.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new(agent_core::DEFAULT_AWS_REGION));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(self.retry_config.clone())
            .timeout_config(default_timeouts(
                self.attempt_timeout,
                self.operation_timeout,
            ));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = self.credentials.clone() {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        tracing::debug!(
            model_id = %self.model_id,
            region = ?config.region(),
            endpoint = ?config.endpoint_url(),
            "Bedrock model ready"
        );
        let mut model = BedrockModel::from_sdk_config(&config, self.model_id);
        model.options = ModelOptions {
            caching: caching_for(self.caching, &model.model_id),
            ..self.options
        };
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_caching_follows_the_model_family() {
        assert!(supports_prompt_caching(
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        ));
        assert!(supports_prompt_caching("us.amazon.nova-pro-v1:0"));
        assert!(!supports_prompt_caching("meta.llama3-70b-instruct-v1:0"));
        assert_eq!(
            caching_for(PromptCaching::Auto, "meta.llama3"),
            CachePoints::NONE
        );
        assert_eq!(
            caching_for(PromptCaching::Auto, "amazon.nova-lite-v1:0"),
            CachePoints::ALL
        );
        assert_eq!(
            caching_for(PromptCaching::Off, "amazon.nova-lite-v1:0"),
            CachePoints::NONE
        );
    }

    #[test]
    fn no_cache_point_right_after_reasoning() {
        let reasoning = Message {
            role: agent_core::Role::Assistant,
            content: vec![ContentBlock::ReasoningContent(
                ReasoningContent::RedactedContent("eA==".into()),
            )],
        };
        assert!(!history_cache_point_allowed(&reasoning));
        assert!(history_cache_point_allowed(&Message::user_text("hi")));
    }
}
