//! [`BedrockModel`]: the Converse API as an [`agent_core::Model`].

use std::time::Duration;

use agent_core::{
    InferenceConfig, Model, ModelError, ModelErrorKind, ModelRequest, ModelResponse, StopReason,
    TokenUsage, async_trait,
};
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types as sdk;

use crate::convert::{
    ConversionError, inference_to_sdk, message_from_sdk, message_to_sdk, tool_config_to_sdk,
};
use crate::error::model_error;

/// The model used when none is named: Amazon Nova Pro through its US cross-region profile.
pub const DEFAULT_MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// The region used when the AWS environment names none.
pub const DEFAULT_REGION: &str = "us-west-2";

/// How long one HTTP attempt may take. Long answers from large models take well over a minute,
/// so this is generous; the SDK itself sets no limit at all.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one call may take, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// How many attempts a call gets (the first plus retries of throttling, 5xx and timeouts).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Amazon Bedrock's Converse API as a [`Model`].
///
/// Cheap to clone: the SDK client inside is reference-counted. Build one at start-up and share
/// it; every call reuses the client's connection pool.
#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    inference: InferenceConfig,
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

    /// A model on a ready client, used as it is.
    pub fn from_client(client: Client, model_id: impl Into<String>) -> Self {
        Self {
            client,
            model_id: model_id.into(),
            inference: InferenceConfig::default(),
        }
    }

    /// The same model with default inference settings (a request's own settings win).
    #[must_use]
    pub fn with_inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// The model id or inference profile this model calls.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn converse_input(
        &self,
        request: &ModelRequest,
    ) -> Result<
        aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder,
        ConversionError,
    > {
        let messages = request
            .messages
            .iter()
            .map(message_to_sdk)
            .collect::<Result<Vec<_>, _>>()?;
        let system = request
            .system
            .iter()
            .map(|text| sdk::SystemContentBlock::Text(text.clone()))
            .collect::<Vec<_>>();
        Ok(self
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .set_system((!system.is_empty()).then_some(system))
            .set_tool_config(tool_config_to_sdk(&request.tools)?)
            .set_inference_config(inference_to_sdk(&request.inference.or(&self.inference))))
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
        let input = self.converse_input(request).map_err(|error| {
            ModelError::new(ModelErrorKind::Validation, error.0.clone()).with_source(error)
        })?;
        let output = input.send().await.map_err(model_error)?;
        let message = match output.output() {
            Some(sdk::ConverseOutput::Message(message)) => message_from_sdk(message),
            _ => {
                return Err(ModelError::new(
                    ModelErrorKind::InvalidResponse,
                    "the Converse response holds no message",
                ));
            }
        };
        let usage = output
            .usage()
            .map_or_else(TokenUsage::default, |usage| TokenUsage {
                input_tokens: non_negative(usage.input_tokens()),
                output_tokens: non_negative(usage.output_tokens()),
                total_tokens: non_negative(usage.total_tokens()),
            });
        Ok(ModelResponse {
            message,
            stop_reason: StopReason::from_converse(output.stop_reason().as_str()),
            usage,
        })
    }
}

fn non_negative(count: i32) -> u64 {
    u64::try_from(count).unwrap_or(0)
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
    inference: InferenceConfig,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    retry_config: RetryConfig,
}

impl Default for BedrockModelBuilder {
    fn default() -> Self {
        Self {
            model_id: DEFAULT_MODEL_ID.to_owned(),
            region: None,
            endpoint_url: None,
            inference: InferenceConfig::default(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            retry_config: RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS),
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
    /// [`DEFAULT_REGION`].
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
        self.inference = inference;
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
    pub async fn build(self) -> Result<BedrockModel, BedrockConfigError> {
        if self.model_id.trim().is_empty() {
            return Err(BedrockConfigError::EmptyModelId);
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(BedrockConfigError::InvalidEndpoint(url.clone()));
        }
        let region = RegionProviderChain::first_try(self.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new(DEFAULT_REGION));
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
        let config = loader.load().await;
        tracing::debug!(
            model_id = %self.model_id,
            region = ?config.region(),
            endpoint = ?config.endpoint_url(),
            "Bedrock model ready"
        );
        Ok(BedrockModel::from_sdk_config(&config, self.model_id).with_inference(self.inference))
    }
}
