//! [`BedrockModelBuilder`]: a [`BedrockModel`] from the AWS environment with explicit overrides,
//! checked against the capability table before anything is sent.

use std::time::Duration;

use agent_core::InferenceConfig;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::Client;
use serde_json::Value;

use crate::families::{ModelInfo, ReasoningShape, Sampling};
use crate::model::{BedrockModel, ModelOptions};

/// The model used when none is named in a US Region: Amazon Nova Pro through its US
/// cross-region profile (the Python MinimalAgent's default). Elsewhere the builder takes the
/// Region's own profile of the same model (see [`default_model_id`]).
pub const DEFAULT_MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// How long one HTTP attempt may take. Long answers from large models take well over a minute,
/// so this is generous; the SDK itself sets no limit at all.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one call may take, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// How many attempts a call gets (the first plus retries of throttling, 5xx and timeouts).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Where prompt-cache checkpoints go (Bedrock's `cachePoint` blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PromptCaching {
    /// Where the capability table says the model takes them: after the system prompt (after
    /// the tools when there is no system prompt and the family takes them there), at the end of
    /// the request, and where the previous call ended, so each call reads what the one before
    /// it cached; none for a model without prompt caching or one the table does not know. The
    /// default.
    #[default]
    Auto,
    /// At the places chosen, whatever the model: an explicit request, never rewritten.
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
    /// In the history: at its end and where the previous call ended (never right after a
    /// reasoning block, which Bedrock rejects).
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

/// Whether Bedrock supports prompt caching for this model id, per the capability table.
pub fn supports_prompt_caching(model_id: &str) -> bool {
    ModelInfo::resolve(model_id)
        .capabilities()
        .cache
        .value
        .any()
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

/// How much a model reasons before it answers, for families that take an effort (Claude's
/// adaptive thinking, Nova 2's `reasoningConfig`, gpt-oss's `reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// Little.
    Low,
    /// Some.
    Medium,
    /// Much.
    High,
}

impl ReasoningEffort {
    /// Its name on the wire (`low`, `medium`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// Extended thinking, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Thinking {
    /// A budget of tokens (Claude 3.7 to 4.6).
    Budget(u32),
    /// An effort (Claude 4.6 and later, Nova 2, gpt-oss).
    Effort(ReasoningEffort),
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
    /// The model does not take a setting asked for (per the capability table).
    #[error("{model} does not take {what}: {fix} (source: {reference})")]
    Unsupported {
        /// The model.
        model: String,
        /// What it does not take.
        what: &'static str,
        /// What to do instead.
        fix: &'static str,
        /// Where the rule comes from.
        reference: &'static str,
    },
    /// No model id was given, and the default model has no inference profile in the Region.
    #[error(
        "no model id was given, and the default model (Amazon Nova Pro) has no cross-region \
         inference profile for Region `{region}` (it has us., eu. and apac. profiles): name a \
         model available there with model_id(..), or use a Region of those geographies \
         (source: {reference})"
    )]
    NoDefaultModelInRegion {
        /// The Region.
        region: String,
        /// Where the profiles are listed.
        reference: &'static str,
    },
}

pub(crate) fn default_timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// The default model's inference profile for a Region: Amazon Nova Pro has `us.`, `eu.` and
/// `apac.` profiles, each callable only from its own source Regions (a profile called from
/// elsewhere answers "The provided model identifier is invalid."). `None` for a Region none of
/// them serves.
pub fn default_model_id(region: &str) -> Option<&'static str> {
    // The source Regions of each Nova Pro profile, from the inference-profiles page.
    const US: [&str; 4] = ["us-east-1", "us-east-2", "us-west-2", "us-west-1"];
    const EU: [&str; 7] = [
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-3",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
    ];
    const APAC: [&str; 11] = [
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-east-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "me-central-1",
    ];
    if US.contains(&region) {
        Some(DEFAULT_MODEL_ID)
    } else if EU.contains(&region) {
        Some("eu.amazon.nova-pro-v1:0")
    } else if APAC.contains(&region) {
        Some("apac.amazon.nova-pro-v1:0")
    } else {
        None
    }
}

/// Builds a [`BedrockModel`] from the AWS environment (credentials, region, profile, endpoint
/// settings) with explicit overrides.
#[derive(Debug, Clone)]
#[must_use]
pub struct BedrockModelBuilder {
    model_id: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    retry_config: RetryConfig,
    credentials: Option<SharedCredentialsProvider>,
    options: ModelOptions,
}

impl Default for BedrockModelBuilder {
    fn default() -> Self {
        Self {
            model_id: None,
            region: None,
            endpoint_url: None,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            retry_config: RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS),
            credentials: None,
            options: ModelOptions::default(),
        }
    }
}

impl BedrockModelBuilder {
    /// The model id or inference profile (default: Amazon Nova Pro through the Region's
    /// profile, see [`default_model_id`]).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
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

    /// Default inference settings (max tokens, temperature, top_p, stop sequences). Without a
    /// `max_tokens`, requests ask for the model's documented maximum output (Converse would
    /// otherwise stop Claude at 4,096 tokens).
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.options.inference = inference;
        self
    }

    /// Whether to call ConverseStream (`true`: text arrives as it is written) or Converse.
    ///
    /// Streaming is the default. Left unset, a family the capability table says cannot stream
    /// tool use (Meta Llama, Mistral, Writer Palmyra) is called with Converse whenever tools are
    /// offered. `streaming(true)` set here is kept as asked, tools or not: the client never
    /// drops an explicit setting on its own. When Bedrock refuses tool use while streaming
    /// ("This model doesn't support tool use in streaming mode."), the call fails with
    /// [`agent_core::ModelErrorKind::Unsupported`], naming the setting and the table's source;
    /// nothing is retried with Converse.
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.options.streaming = streaming;
        self.options.streaming_explicit = streaming;
        self
    }

    /// Prompt-cache checkpoints (default [`PromptCaching::Auto`]).
    pub fn prompt_caching(mut self, caching: PromptCaching) -> Self {
        self.options.caching = caching;
        self
    }

    /// Turns on extended thinking with this budget of tokens (at least 1024), sent as
    /// `additionalModelRequestFields.thinking` (Claude 3.7 to 4.6). Reasoning blocks and their
    /// signatures are kept in the conversation and sent back exactly; a typed answer's forced
    /// tool choice is left out, since Bedrock does not combine the two.
    pub fn thinking(mut self, budget_tokens: u32) -> Self {
        self.options.thinking = Some(Thinking::Budget(budget_tokens));
        self
    }

    /// Turns on reasoning with this effort, in the shape the family takes: Claude's adaptive
    /// thinking (`thinking.type: adaptive` with `output_config.effort`; Claude 4.6 and later),
    /// Nova 2's `reasoningConfig`, gpt-oss's `reasoning_effort`.
    pub fn reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.options.thinking = Some(Thinking::Effort(effort));
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

    /// Whether tool calls are decoded greedily where the model's own guide advises it (Amazon
    /// Nova: `additionalModelRequestFields.inferenceConfig.topK = 1` when tools are offered,
    /// against "Model produced invalid sequence as part of ToolUse" errors; default `true`).
    pub fn greedy_tool_decoding(mut self, greedy: bool) -> Self {
        self.options.greedy_tool_decoding = greedy;
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
    /// thinking budget below 1024, extra fields that are not an object, a Region without a
    /// profile of the default model, or a setting the capability table says the model does not
    /// take (thinking of another shape, a temperature it refuses, checkpoints where it takes
    /// none).
    pub async fn build(self) -> Result<BedrockModel, BedrockConfigError> {
        if self
            .model_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(BedrockConfigError::EmptyModelId);
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(BedrockConfigError::InvalidEndpoint(url.clone()));
        }
        if let Some(Thinking::Budget(budget)) = self.options.thinking
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
        let region = config
            .region()
            .map_or(agent_core::DEFAULT_AWS_REGION, |region| region.as_ref())
            .to_owned();
        let model_id = match self.model_id {
            Some(model_id) => model_id,
            None => default_model_id(&region)
                .ok_or(BedrockConfigError::NoDefaultModelInRegion {
                    region: region.clone(),
                    reference: crate::families::PROFILE_SOURCE,
                })?
                .to_owned(),
        };
        check_options(&ModelInfo::resolve(&model_id), &self.options)?;
        tracing::debug!(
            model_id = %model_id,
            region = %region,
            endpoint = ?config.endpoint_url(),
            "Bedrock model ready"
        );
        let client = BedrockModel::from_sdk_config(&config, &model_id)
            .client()
            .clone();
        Ok(BedrockModel::assemble(client, model_id, self.options))
    }
}

impl BedrockModel {
    /// A model with the builder's options on `client` (for callers that build their own
    /// client): the same checks as [`BedrockModelBuilder::build`].
    ///
    /// # Errors
    ///
    /// As [`BedrockModelBuilder::build`], for the options.
    pub fn from_client_with(
        client: Client,
        model_id: impl Into<String>,
        builder: BedrockModelBuilder,
    ) -> Result<Self, BedrockConfigError> {
        let model_id = model_id.into();
        check_options(&ModelInfo::resolve(&model_id), &builder.options)?;
        Ok(BedrockModel::assemble(client, model_id, builder.options))
    }
}

/// Refuses settings the table says the model does not take. A model the table does not know
/// takes what is asked, as asked.
fn check_options(info: &ModelInfo, options: &ModelOptions) -> Result<(), BedrockConfigError> {
    if info.known.is_none() {
        if matches!(options.thinking, Some(Thinking::Effort(_))) {
            return Err(BedrockConfigError::Unsupported {
                model: info.model_id.clone(),
                what: "a reasoning effort in a shape the client knows",
                fix: "the capability table does not know this model, so the shape of its \
                      reasoning setting is unknown; send it with additional_request_fields(..)",
                reference: crate::families::FEATURES_SOURCE,
            });
        }
        return Ok(());
    }
    let c = info.capabilities();
    let unsupported = |what, fix, reference| {
        Err(BedrockConfigError::Unsupported {
            model: info.name().to_owned(),
            what,
            fix,
            reference,
        })
    };
    match (options.thinking, c.reasoning.value) {
        (Some(Thinking::Budget(_)), ReasoningShape::AnthropicAdaptive) => {
            return unsupported(
                "a thinking budget",
                "it takes adaptive thinking only: use reasoning_effort(..)",
                c.reasoning.source,
            );
        }
        (
            Some(Thinking::Budget(_)),
            ReasoningShape::NovaReasoningConfig | ReasoningShape::ReasoningEffort,
        ) => {
            return unsupported(
                "a thinking budget",
                "it takes a reasoning effort: use reasoning_effort(..)",
                c.reasoning.source,
            );
        }
        (Some(Thinking::Effort(_)), ReasoningShape::AnthropicBudget) => {
            return unsupported(
                "a reasoning effort",
                "it takes a thinking budget: use thinking(budget)",
                c.reasoning.source,
            );
        }
        (Some(_), ReasoningShape::None) => {
            return unsupported(
                "extended thinking",
                "choose a model that reasons (Claude 3.7 or later, Nova 2, gpt-oss)",
                c.reasoning.source,
            );
        }
        (Some(_), ReasoningShape::AlwaysOn) => {
            return unsupported(
                "a thinking setting",
                "it always reasons: leave thinking off",
                c.reasoning.source,
            );
        }
        _ => {}
    }
    if let PromptCaching::On(points) = options.caching {
        let fields = c.cache.value;
        if (points.tools && !fields.tools)
            || (points.system && !fields.system)
            || (points.history && !fields.messages)
        {
            return unsupported(
                "cache checkpoints where asked",
                "use PromptCaching::Auto (checkpoints only where the model takes them) or \
                 choose the places it takes",
                c.cache.source,
            );
        }
    }
    let inference = &options.inference;
    if options.thinking.is_none() {
        match c.sampling.value {
            Sampling::NoTemperature if inference.temperature.is_some() => {
                return unsupported(
                    "a temperature",
                    "leave temperature unset",
                    c.sampling.source,
                );
            }
            Sampling::TemperatureOrTopP
                if inference.temperature.is_some() && inference.top_p.is_some() =>
            {
                return unsupported(
                    "a temperature and a top_p together",
                    "set one of them",
                    c.sampling.source,
                );
            }
            _ => {}
        }
    }
    if options.guardrail.is_some() && !c.guardrails.value {
        return unsupported(
            "guardrails",
            "choose a model that takes them",
            c.guardrails.source,
        );
    }
    if let (Some(max), max_output) = (inference.max_tokens, c.max_output_tokens.value)
        && max_output > 0
        && max > max_output
    {
        return unsupported(
            "this many output tokens",
            "ask for no more than its maximum output",
            c.max_output_tokens.source,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_follows_the_region() {
        assert_eq!(
            default_model_id("us-west-2"),
            Some("us.amazon.nova-pro-v1:0")
        );
        assert_eq!(
            default_model_id("eu-west-1"),
            Some("eu.amazon.nova-pro-v1:0")
        );
        assert_eq!(
            default_model_id("ap-northeast-1"),
            Some("apac.amazon.nova-pro-v1:0")
        );
        assert_eq!(
            default_model_id("eu-west-2"),
            None,
            "no Nova Pro profile there"
        );
        assert_eq!(default_model_id("sa-east-1"), None);
    }

    #[test]
    fn explicit_settings_the_model_does_not_take_are_build_errors() {
        let check = |model: &str, change: fn(&mut ModelOptions)| {
            let mut options = ModelOptions::default();
            change(&mut options);
            check_options(&ModelInfo::resolve(model), &options)
        };
        assert!(
            check("us.amazon.nova-pro-v1:0", |o| o.thinking =
                Some(Thinking::Budget(2048)))
            .is_err()
        );
        assert!(
            check("us.anthropic.claude-opus-4-7", |o| o.thinking =
                Some(Thinking::Budget(2048)))
            .is_err()
        );
        assert!(
            check("us.anthropic.claude-opus-4-7", |o| o.thinking =
                Some(Thinking::Effort(ReasoningEffort::High)))
            .is_ok()
        );
        assert!(
            check("us.amazon.nova-pro-v1:0", |o| o.caching =
                PromptCaching::On(CachePoints::ALL))
            .is_err(),
            "Nova takes no checkpoint in its tools"
        );
        assert!(
            check("us.anthropic.claude-sonnet-4-5-20250929-v1:0", |o| {
                o.inference.temperature = Some(0.5);
                o.inference.top_p = Some(0.9);
            })
            .is_err()
        );
        assert!(
            check("meta.llama3-3-70b-instruct-v1:0", |o| o
                .inference
                .max_tokens =
                Some(100_000))
            .is_err()
        );
        // A model the table does not know takes what is asked.
        assert!(
            check("my-custom-model", |o| o.thinking =
                Some(Thinking::Budget(2048)))
            .is_ok()
        );
    }
}
