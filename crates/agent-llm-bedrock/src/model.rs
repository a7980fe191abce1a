//! [`BedrockModel`]: the Converse and ConverseStream APIs as an [`agent_core::Model`].
//!
//! Each call is planned from the capability table (`families`): what the model family takes,
//! what the user asked for, and what this process learned from Bedrock's refusals. A refusal
//! that names a feature the client added on its own drops that feature, the call is made once
//! more (before any tool runs: nothing runs twice), the process remembers it, a warning is
//! logged once, and the run's trace records it ([`agent_core::DroppedFeature`]). A refusal of
//! something the user asked for explicitly is returned, typed, saying which rule.

use std::sync::{Arc, Weak};

use agent_core::{
    ContentBlock, DroppedFeature, InferenceConfig, MediaSource, Message, Model, ModelError,
    ModelErrorKind, ModelEventStream, ModelIdentity, ModelRequest, ModelResponse, ModelStreamEvent,
    StopReason, ToolChoice, ToolResultContent, async_trait,
};
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Document;
use serde_json::{Value, json};

use crate::builder::{
    BedrockModelBuilder, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MODEL_ID, DEFAULT_OPERATION_TIMEOUT,
    Guardrail, PromptCaching, ReasoningEffort, Thinking, default_timeouts,
};
use crate::cache_points::{self, Checkpoints, PrefixSizes};
use crate::convert::{
    ConversionError, cache_point, inference_to_sdk, json_to_document, message_from_sdk,
    tool_config_to_sdk, usage_from_sdk,
};
use crate::error::model_error;
use crate::families::{ModelInfo, ReasoningShape, Sampling};
use crate::plan::{self, AutoFeature, CacheChoice, Plan, PlanOptions, WireRules};
use crate::recovery::read_refusal;
use crate::wire::{WireState, fold_system, message_to_wire};

/// The provider name traces give Bedrock (OpenTelemetry's `gen_ai.system`).
pub const PROVIDER: &str = "aws.bedrock";

/// Amazon Bedrock's Converse API as a [`Model`], streaming by default.
///
/// Cheap to clone: the SDK client inside is reference-counted. Build one at start-up and share
/// it; every call reuses the client's connection pool.
#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    info: Arc<ModelInfo>,
    pub(crate) options: ModelOptions,
}

#[derive(Debug, Clone)]
pub(crate) struct ModelOptions {
    pub(crate) inference: InferenceConfig,
    pub(crate) streaming: bool,
    /// Whether the user asked for streaming explicitly (never switched off then).
    pub(crate) streaming_explicit: bool,
    pub(crate) caching: PromptCaching,
    pub(crate) thinking: Option<Thinking>,
    pub(crate) guardrail: Option<Guardrail>,
    pub(crate) additional_fields: Option<Value>,
    pub(crate) greedy_tool_decoding: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            inference: InferenceConfig::default(),
            streaming: true,
            streaming_explicit: false,
            caching: PromptCaching::Auto,
            thinking: None,
            guardrail: None,
            additional_fields: None,
            greedy_tool_decoding: true,
        }
    }
}

/// The cached wire form of a conversation's messages (see [`agent_core::ConversionCache`]).
#[derive(Default)]
struct Converted {
    /// The rules the messages were converted with; other rules convert them again.
    rules: Option<(WireRules, bool)>,
    /// The messages converted, by identity: a request whose messages start with these (the
    /// same allocations) reuses their wire form. A weak reference keeps the allocation, so an
    /// address is never reused for another message while it is here, and keeps nothing else;
    /// and while it exists no one can change the message in place (`Arc::get_mut` refuses,
    /// `Arc::make_mut` moves it to a new allocation), so the same address is the same message.
    sources: Vec<Weak<Message>>,
    messages: Vec<sdk::Message>,
    /// The running total of the messages' sizes, in rough tokens.
    sizes: Vec<u64>,
    state: WireState,
}

/// A request ready for the SDK.
struct Prepared {
    messages: Vec<sdk::Message>,
    system: Option<Vec<sdk::SystemContentBlock>>,
    tool_config: Option<sdk::ToolConfiguration>,
    inference: Option<sdk::InferenceConfiguration>,
    additional: Option<Document>,
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
        Self {
            client,
            info: Arc::new(ModelInfo::resolve(&model_id)),
            model_id,
            options: ModelOptions::default(),
        }
    }

    /// The same model with default inference settings (a request's own settings win).
    #[must_use]
    pub fn with_inference(mut self, inference: InferenceConfig) -> Self {
        self.options.inference = inference;
        self
    }

    /// The same model calling ConverseStream (`true`, the default) or Converse (`false`).
    ///
    /// By default, a family the capability table says cannot stream tool use (Meta Llama,
    /// Mistral, Writer Palmyra) is called with Converse whenever tools are offered. Set here,
    /// `true` is kept as asked, tools or not: the client never drops an explicit setting on
    /// its own. When Bedrock refuses tool use while streaming, the call fails with
    /// [`ModelErrorKind::Unsupported`], naming the setting and the table's source; nothing is
    /// retried with Converse.
    #[must_use]
    pub fn with_streaming(mut self, streaming: bool) -> Self {
        self.options.streaming = streaming;
        self.options.streaming_explicit = streaming;
        self
    }

    /// The same model with these prompt-cache checkpoints.
    #[must_use]
    pub fn with_prompt_caching(mut self, caching: PromptCaching) -> Self {
        self.options.caching = caching;
        self
    }

    /// The model id or inference profile this model calls.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The model as the capability table knows it (its family and what it accepts), or an
    /// unknown model.
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the model streams its replies (unless streaming was set explicitly, a family
    /// that cannot stream tool use is still called with Converse when tools are offered).
    pub fn is_streaming(&self) -> bool {
        self.options.streaming
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What of this model's settings, and of the request's own, a plan reads.
    fn plan_options(&self, request: &ModelRequest) -> PlanOptions {
        PlanOptions {
            streaming: self.options.streaming,
            streaming_explicit: self.options.streaming_explicit,
            greedy_tool_decoding: self.options.greedy_tool_decoding,
            cache: match self.options.caching {
                PromptCaching::Auto => CacheChoice::Auto,
                PromptCaching::Off => CacheChoice::Off,
                PromptCaching::On(points) => CacheChoice::Explicit {
                    system: points.system,
                    tools: points.tools,
                    messages: points.history,
                },
            },
            thinking: self.thinking_on(),
            own_inference_fields: self
                .options
                .additional_fields
                .as_ref()
                .is_some_and(|fields| fields.get("inferenceConfig").is_some()),
            own_max_tokens: request
                .inference
                .max_tokens
                .or(self.options.inference.max_tokens),
            max_tokens_forbidden: self.nova_high_effort(),
        }
    }

    /// Whether the request asks the model to reason (extended thinking), by this model's
    /// options or the user's own additional fields.
    fn thinking_on(&self) -> bool {
        self.options.thinking.is_some()
            || self.options.additional_fields.as_ref().is_some_and(|f| {
                f.get("thinking")
                    .and_then(|t| t.get("type"))
                    .and_then(Value::as_str)
                    .is_some_and(|kind| kind != "disabled")
            })
    }

    /// Refuses, before anything is sent, what the request asks for explicitly and the table
    /// says the model does not take.
    fn check_request(&self, request: &ModelRequest) -> Result<(), ModelError> {
        let c = self.info.capabilities();
        let unsupported = |what: &str, source: &str| {
            Err(ModelError::new(
                ModelErrorKind::Unsupported,
                format!(
                    "{} does not take {what} on the Converse API (source: {source})",
                    self.info.name()
                ),
            ))
        };
        if !request.tools.is_empty() && !c.tools.value {
            return unsupported("tool use", c.tools.source);
        }
        if let Some(choice) = &request.tool_choice
            && choice.is_forced()
            && !request.optional_tool_choice
            && self.info.known.is_some()
        {
            let (takes, source) = match choice {
                ToolChoice::Tool(_) => (c.tool_choice_tool.value, c.tool_choice_tool.source),
                _ => (c.tool_choice_any.value, c.tool_choice_any.source),
            };
            if !takes {
                return unsupported("a forced tool choice (`any` or `tool`)", source);
            }
        }
        let inference = request.inference.or(&self.options.inference);
        if self.info.known.is_some() && self.options.thinking.is_none() {
            match c.sampling.value {
                Sampling::NoTemperature if inference.temperature.is_some() => {
                    return unsupported("a temperature", c.sampling.source);
                }
                Sampling::TemperatureOrTopP
                    if inference.temperature.is_some() && inference.top_p.is_some() =>
                {
                    return unsupported("a temperature and a top_p together", c.sampling.source);
                }
                _ => {}
            }
        }
        let mut media = MediaUse::default();
        for message in &request.messages {
            for block in &message.content {
                media.add_block(block);
            }
        }
        if media.images && !c.images.value {
            return unsupported("images", c.images.source);
        }
        if media.documents && !c.documents.value {
            return unsupported("documents", c.documents.source);
        }
        if media.s3 && !c.s3_media.value {
            return unsupported("images or documents from S3 locations", c.s3_media.source);
        }
        if let Some(format) = media.unknown_image_format {
            // "Value at '…image.format' failed to satisfy constraint" (hermes-agent#55429).
            return Err(ModelError::new(
                ModelErrorKind::Validation,
                format!(
                    "image format `{format}` is not one Converse takes: png, jpeg, gif or webp"
                ),
            ));
        }
        Ok(())
    }

    /// The request's messages on the wire: those converted by earlier calls of the same run
    /// are reused and only the messages added since are converted, with the running size of
    /// each prefix.
    fn wire_messages(
        &self,
        request: &ModelRequest,
        rules: WireRules,
    ) -> Result<(Vec<sdk::Message>, Vec<u64>), ConversionError> {
        let tools_offered = !request.tools.is_empty();
        request.cache.with(|converted: &mut Converted| {
            let same = converted
                .sources
                .iter()
                .zip(&request.messages)
                .take_while(|(held, message)| Weak::as_ptr(held) == Arc::as_ptr(message))
                .count();
            if converted.rules != Some((rules, tools_offered))
                || same < converted.sources.len() && !converted.state.is_empty()
            {
                // Other rules, or messages that differ after one whose conversion left state
                // behind (a document name): start again.
                *converted = Converted {
                    rules: Some((rules, tools_offered)),
                    ..Converted::default()
                };
            } else {
                // Messages after the shared prefix were rewritten or belong to another run of
                // the conversation: their wire form goes.
                converted.sources.truncate(same);
                converted.messages.truncate(same);
                converted.sizes.truncate(same);
            }
            let start = converted.sources.len();
            for message in &request.messages[start..] {
                let wire = message_to_wire(message, &rules, tools_offered, &mut converted.state)?;
                converted.messages.push(wire);
                let before = converted.sizes.last().copied().unwrap_or(0);
                converted
                    .sizes
                    .push(before + cache_points::approx_tokens(message));
                converted.sources.push(Arc::downgrade(message));
            }
            Ok((converted.messages.clone(), converted.sizes.clone()))
        })
    }

    /// The request as the SDK takes it, per `plan`.
    fn prepare(&self, request: &ModelRequest, plan: &Plan) -> Result<Prepared, ConversionError> {
        let (mut messages, sizes) = self.wire_messages(request, plan.wire)?;
        let system_text: &[String] = &request.system;
        if !plan.wire.system_block {
            fold_system(&mut messages, system_text)?;
        }
        let has_system = plan.wire.system_block && !system_text.is_empty();
        let sizes = PrefixSizes {
            tools: if plan.cache.tools {
                request
                    .tools
                    .iter()
                    .map(|spec| {
                        (spec.description.len() + spec.input_schema.to_string().len()) as u64 / 4
                    })
                    .sum()
            } else {
                0
            },
            system: if has_system {
                system_text.iter().map(|s| s.len() as u64 / 4).sum()
            } else {
                0
            },
            messages: &sizes,
        };
        let points = cache_points::place(
            &plan.cache,
            has_system,
            !request.tools.is_empty(),
            &messages,
            sizes,
        );
        add_message_points(&mut messages, &points)?;
        let system = if has_system {
            let mut system: Vec<sdk::SystemContentBlock> = system_text
                .iter()
                .map(|text| sdk::SystemContentBlock::Text(text.clone()))
                .collect();
            if points.system {
                // Before the last block when there are several: the first blocks (the prompt)
                // stay the same from run to run, while later ones (a summary) change.
                let at = if system.len() > 1 {
                    system.len() - 1
                } else {
                    system.len()
                };
                system.insert(at, sdk::SystemContentBlock::CachePoint(cache_point()?));
            }
            Some(system)
        } else {
            None
        };
        let tool_config = tool_config_to_sdk(
            &request.tools,
            plan.tool_choice.as_ref(),
            points.tools,
            plan.wire.full_tool_schemas,
        )?;
        Ok(Prepared {
            messages,
            system,
            tool_config,
            inference: inference_to_sdk(&self.inference(request, plan)),
            additional: self.additional_fields(plan),
        })
    }

    /// Extended thinking, greedy tool decoding and the user's own fields, as
    /// `additionalModelRequestFields`, in the shape the family takes.
    fn additional_fields(&self, plan: &Plan) -> Option<Document> {
        let mut fields = match &self.options.additional_fields {
            Some(Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        if let Some(thinking) = self.options.thinking {
            let shape = self.info.capabilities().reasoning.value;
            for (key, value) in thinking_fields(thinking, shape) {
                fields.insert(key.to_owned(), value);
            }
        }
        if plan.greedy {
            // Greedy decoding for tool calls, as Nova's tool guide advises.
            fields.insert("inferenceConfig".to_owned(), json!({"topK": 1}));
        }
        (!fields.is_empty()).then(|| json_to_document(&Value::Object(fields)))
    }

    fn inference(&self, request: &ModelRequest, plan: &Plan) -> InferenceConfig {
        let mut inference = request.inference.or(&self.options.inference);
        let max_output = self.info.capabilities().max_output_tokens.value;
        if inference.max_tokens.is_none() {
            // The plan sends a default only where the user set none and one may be sent.
            inference.max_tokens = plan.default_max_tokens;
        }
        if let Some(Thinking::Budget(budget)) = self.options.thinking {
            // The reply must have room for the thinking and the answer.
            let floor = budget.saturating_add(1024).max(4096);
            let floor = if max_output > 0 {
                floor.min(max_output)
            } else {
                floor
            };
            if inference.max_tokens.is_none_or(|max| max <= budget) {
                inference.max_tokens = Some(floor);
            }
        }
        if self.options.thinking.is_some()
            && self.info.family() == Some(crate::families::ModelFamily::AnthropicClaude)
        {
            // Extended thinking does not take a temperature or top_p of its own.
            inference.temperature = None;
            inference.top_p = None;
        }
        inference
    }

    /// Nova 2's high reasoning effort: `maxTokens` must be left unset.
    fn nova_high_effort(&self) -> bool {
        self.info.capabilities().reasoning.value == ReasoningShape::NovaReasoningConfig
            && self.options.thinking == Some(Thinking::Effort(ReasoningEffort::High))
    }

    async fn send_whole(&self, prepared: Prepared) -> Result<ModelResponse, ModelError> {
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
            .set_messages(Some(prepared.messages))
            .set_system(prepared.system)
            .set_tool_config(prepared.tool_config)
            .set_inference_config(prepared.inference)
            .set_additional_model_request_fields(prepared.additional)
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

    async fn send_streamed(&self, prepared: Prepared) -> Result<ModelEventStream, ModelError> {
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
            .set_messages(Some(prepared.messages))
            .set_system(prepared.system)
            .set_tool_config(prepared.tool_config)
            .set_inference_config(prepared.inference)
            .set_additional_model_request_fields(prepared.additional)
            .set_guardrail_config(guardrail)
            .send()
            .await
            .map_err(|error| model_error(error, false))?;
        Ok(crate::stream::events(output.stream))
    }

    /// One call, planned, made, and made once more without the features a refusal names.
    async fn call(&self, request: &ModelRequest, streamed: bool) -> Result<Reply, ModelError> {
        self.check_request(request)?;
        let capabilities = self.info.capabilities();
        let mut dropped: Vec<DroppedFeature> = Vec::new();
        let mut retried = false;
        loop {
            let learned = plan::learned(&self.model_id);
            let plan = Plan::new(capabilities, self.plan_options(request), &learned, request);
            let prepared = self.prepare(request, &plan).map_err(conversion_failed)?;
            let outcome = if streamed && plan.streaming {
                self.send_streamed(prepared).await.map(Reply::Stream)
            } else {
                self.send_whole(prepared)
                    .await
                    .map(|response| Reply::Whole(Box::new(response)))
            };
            let error = match outcome {
                Ok(reply) => return Ok(reply.with_dropped(dropped)),
                Err(error) => error,
            };
            if !retried && let Some(now_dropped) = self.recover(&error, &plan) {
                retried = true;
                dropped.extend(now_dropped);
                continue;
            }
            return Err(self.explain(error, &plan));
        }
    }

    /// Learns from a refusal that names features the client added on its own: the features
    /// dropped, or `None` when the refusal names none of them.
    fn recover(&self, error: &ModelError, plan: &Plan) -> Option<Vec<DroppedFeature>> {
        if !matches!(
            error.kind(),
            ModelErrorKind::Validation | ModelErrorKind::AccessDenied
        ) {
            return None;
        }
        let refusal = read_refusal(error.message());
        let mut features: Vec<AutoFeature> = refusal
            .features
            .iter()
            .copied()
            .filter(|feature| plan.automatic.contains(feature))
            .collect();
        let mut limit = None;
        if let Some(max) = refusal.max_tokens
            && plan.automatic.contains(&AutoFeature::DefaultMaxTokens)
            && plan.default_max_tokens != Some(max)
        {
            // Keep sending a limit: the one Bedrock named.
            features.retain(|feature| *feature != AutoFeature::DefaultMaxTokens);
            limit = Some(max);
        }
        if features.is_empty() && limit.is_none() {
            return None;
        }
        let newly = plan::learn(&self.model_id, &features, limit);
        let mut dropped: Vec<DroppedFeature> = features
            .iter()
            .map(|feature| {
                DroppedFeature::new(
                    feature.name(),
                    format!(
                        "Bedrock refused it for {}: {}",
                        self.model_id,
                        error.message()
                    ),
                )
            })
            .collect();
        if let Some(max) = limit {
            dropped.push(DroppedFeature::new(
                AutoFeature::DefaultMaxTokens.name(),
                format!(
                    "Bedrock refused {} output tokens for {}; {max} from now on: {}",
                    plan.default_max_tokens.unwrap_or(0),
                    self.model_id,
                    error.message()
                ),
            ));
        }
        for feature in newly {
            tracing::warn!(
                model_id = %self.model_id,
                feature = feature.name(),
                error = %error.message(),
                "Bedrock refused an optional feature; it is left out for this model from now on"
            );
        }
        if limit.is_some() {
            tracing::warn!(
                model_id = %self.model_id,
                limit,
                "Bedrock refused the default output limit; its own limit is used from now on"
            );
        }
        Some(dropped)
    }

    /// A refusal of something the user asked for explicitly, said as such: a
    /// [`ModelErrorKind::Unsupported`] error naming the setting and what to do (for an output
    /// limit, the limit Bedrock named; for streaming with tools, the table's cell and its
    /// source), with Bedrock's error as its source. The client changes none of these on its
    /// own, so the call is not made again.
    fn explain(&self, error: ModelError, plan: &Plan) -> ModelError {
        if error.kind() != ModelErrorKind::Validation
            && error.kind() != ModelErrorKind::AccessDenied
        {
            return error;
        }
        let refusal = read_refusal(error.message());
        let c = self.info.capabilities();
        // What the user set, and what to do about it.
        let explicit: Vec<(String, Option<String>)> = refusal
            .features
            .iter()
            .filter(|feature| !plan.automatic.contains(feature))
            .filter_map(|feature| match feature {
                AutoFeature::CacheSystem | AutoFeature::CacheTools | AutoFeature::CacheMessages
                    if matches!(self.options.caching, PromptCaching::On(_)) =>
                {
                    Some((
                        "prompt-cache checkpoints (PromptCaching::On)".to_owned(),
                        None,
                    ))
                }
                AutoFeature::StreamingWithTools if self.options.streaming_explicit => {
                    // With the table's cell, so the user sees whether the refusal was expected,
                    // and where the rule comes from.
                    Some((
                        "streaming with tools (streaming(true))".to_owned(),
                        Some(format!(
                            "the capability table says {} {} tool use while streaming (source: \
                             {}); leave streaming unset to call Converse when tools are offered",
                            self.info.name(),
                            if c.tools_streaming.value {
                                "takes"
                            } else {
                                "does not take"
                            },
                            c.tools_streaming.source
                        )),
                    ))
                }
                AutoFeature::ForcedToolChoice => Some(("a forced tool choice".to_owned(), None)),
                // The user's own `additionalModelRequestFields.inferenceConfig` (the client's
                // greedy decoding stays off then): Nova's "extraneous key [inferenceConfig]".
                AutoFeature::GreedyDecoding
                    if self
                        .options
                        .additional_fields
                        .as_ref()
                        .is_some_and(|fields| fields.get("inferenceConfig").is_some()) =>
                {
                    Some((
                        "additionalModelRequestFields.inferenceConfig \
                         (additional_request_fields(..))"
                            .to_owned(),
                        None,
                    ))
                }
                AutoFeature::DefaultMaxTokens => {
                    // Only the user's own limit is theirs to hear about; the client's default
                    // was either lowered by `recover` or is not the one refused.
                    let asked = plan.own_max_tokens?;
                    Some((
                        format!("maxTokens {asked}"),
                        refusal.max_tokens.map(|limit| {
                            format!(
                                "Bedrock's limit for this model is {limit}: ask for at most \
                                 {limit}"
                            )
                        }),
                    ))
                }
                _ => None,
            })
            .collect();
        if explicit.is_empty() {
            return error;
        }
        let what: Vec<&str> = explicit.iter().map(|(what, _)| what.as_str()).collect();
        let advice: Vec<&str> = explicit
            .iter()
            .filter_map(|(_, advice)| advice.as_deref())
            .collect();
        let message = format!(
            "{}: the request asked for {} explicitly, so the client did not change it{}: {}",
            self.info.name(),
            what.join(" and "),
            if advice.is_empty() {
                String::new()
            } else {
                format!(" ({})", advice.join("; "))
            },
            error.message()
        );
        ModelError::new(ModelErrorKind::Unsupported, message).with_source(error)
    }
}

/// A reply: whole (Converse) or streamed.
enum Reply {
    /// Boxed: a response is many times the size of a stream's pointer, and a `Reply` only
    /// passes from `call` to its caller once per call.
    Whole(Box<ModelResponse>),
    Stream(ModelEventStream),
}

impl Reply {
    fn with_dropped(self, dropped: Vec<DroppedFeature>) -> Self {
        if dropped.is_empty() {
            return self;
        }
        match self {
            Reply::Whole(mut response) => {
                response.dropped_features = dropped;
                Reply::Whole(response)
            }
            Reply::Stream(stream) => {
                let first = futures::stream::iter(
                    dropped
                        .into_iter()
                        .map(|feature| Ok(ModelStreamEvent::FeatureDropped(feature))),
                );
                Reply::Stream(Box::pin(futures::StreamExt::chain(first, stream)))
            }
        }
    }
}

/// The `additionalModelRequestFields` that ask a family to reason.
fn thinking_fields(thinking: Thinking, shape: ReasoningShape) -> Vec<(&'static str, Value)> {
    match (thinking, shape) {
        (Thinking::Effort(effort), ReasoningShape::NovaReasoningConfig) => vec![(
            "reasoningConfig",
            json!({"type": "enabled", "maxReasoningEffort": effort.as_str()}),
        )],
        (Thinking::Effort(effort), ReasoningShape::ReasoningEffort) => {
            vec![("reasoning_effort", Value::from(effort.as_str()))]
        }
        (Thinking::Effort(effort), _) => vec![
            ("thinking", json!({"type": "adaptive"})),
            ("output_config", json!({"effort": effort.as_str()})),
        ],
        (Thinking::Budget(budget), _) => vec![(
            "thinking",
            json!({"type": "enabled", "budget_tokens": budget}),
        )],
    }
}

/// Appends a checkpoint to the messages `points` names.
fn add_message_points(
    messages: &mut [sdk::Message],
    points: &Checkpoints,
) -> Result<(), ConversionError> {
    for &index in &points.messages {
        if let Some(wire) = messages.get_mut(index) {
            let mut content = wire.content().to_vec();
            content.push(sdk::ContentBlock::CachePoint(cache_point()?));
            *wire = sdk::Message::builder()
                .role(wire.role().clone())
                .set_content(Some(content))
                .build()?;
        }
    }
    Ok(())
}

/// Which media a request holds.
#[derive(Debug, Default)]
struct MediaUse {
    images: bool,
    documents: bool,
    s3: bool,
    unknown_image_format: Option<String>,
}

impl MediaUse {
    fn add_block(&mut self, block: &ContentBlock) {
        match block {
            ContentBlock::Image(image) => {
                self.images = true;
                self.s3 |= matches!(image.source, MediaSource::S3Location(_));
                let format = image.format.as_str();
                if !["png", "jpeg", "gif", "webp"].contains(&format) {
                    self.unknown_image_format = Some(format.to_owned());
                }
            }
            ContentBlock::Document(document) => {
                self.documents = true;
                self.s3 |= matches!(document.source, MediaSource::S3Location(_));
            }
            ContentBlock::ToolResult(result) => {
                for item in &result.content {
                    match item {
                        ToolResultContent::Image(image) => {
                            self.s3 |= matches!(image.source, MediaSource::S3Location(_));
                        }
                        ToolResultContent::Document(document) => {
                            self.s3 |= matches!(document.source, MediaSource::S3Location(_));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn conversion_failed(error: ConversionError) -> ModelError {
    ModelError::new(ModelErrorKind::Validation, error.0.clone()).with_source(error)
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
        match self.call(request, false).await? {
            Reply::Whole(response) => Ok(*response),
            // Not asked to stream: unreachable, but an answer is an answer.
            Reply::Stream(_) => Err(ModelError::new(
                ModelErrorKind::InvalidResponse,
                "a streamed reply to a Converse call",
            )),
        }
    }

    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        match self.call(request, true).await? {
            Reply::Stream(stream) => Ok(stream),
            Reply::Whole(response) => Ok(Box::pin(futures::stream::iter(
                agent_core::response_events(*response).into_iter().map(Ok),
            ))),
        }
    }

    fn identity(&self) -> ModelIdentity {
        ModelIdentity::new(PROVIDER, &self.model_id)
    }
}

impl BedrockModel {
    /// A model from its parts (the builder's).
    pub(crate) fn assemble(client: Client, model_id: String, options: ModelOptions) -> Self {
        Self {
            client,
            info: Arc::new(ModelInfo::resolve(&model_id)),
            model_id,
            options,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use agent_core::ConversionCache;
    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};

    fn offline_model() -> BedrockModel {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        BedrockModel::from_client(Client::from_conf(config), "us.amazon.nova-pro-v1:0")
    }

    fn texts(model: &BedrockModel, request: &ModelRequest) -> Vec<String> {
        let plan = Plan::new(
            model.info.capabilities(),
            model.plan_options(request),
            &plan::learned(&model.model_id),
            request,
        );
        let (messages, sizes) = model.wire_messages(request, plan.wire).unwrap();
        assert_eq!(sizes.len(), messages.len());
        messages
            .iter()
            .map(|m| match m.content().first() {
                Some(sdk::ContentBlock::Text(text)) => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn converted(cache: &ConversionCache) -> usize {
        cache.with(|converted: &mut Converted| converted.sources.len())
    }

    #[test]
    fn a_shared_conversion_is_reused_only_for_the_same_messages() {
        let model = offline_model();
        let cache = ConversionCache::default();
        let request = |messages: &[&Arc<Message>]| {
            let mut request = ModelRequest::new(messages.iter().map(|m| Arc::clone(m)));
            request.cache = cache.clone();
            request
        };
        let one = Arc::new(Message::user_text("one"));
        let two = Arc::new(Message::assistant_text("two"));
        assert_eq!(texts(&model, &request(&[&one, &two])), ["one", "two"]);
        assert_eq!(converted(&cache), 2);

        // Another run of the conversation: the same first message, another second one.
        let other = Arc::new(Message::assistant_text("other"));
        let three = Arc::new(Message::user_text("three"));
        assert_eq!(
            texts(&model, &request(&[&one, &other, &three])),
            ["one", "other", "three"]
        );
        // An equal message in another allocation is converted again, never mistaken.
        let equal = Arc::new(Message::user_text("one"));
        let changed = Arc::new(Message::user_text("changed"));
        assert_eq!(
            texts(&model, &request(&[&equal, &changed])),
            ["one", "changed"]
        );
        // A message changed through its `Arc` is a new allocation while the cache knows it.
        let mut edited = Arc::clone(&equal);
        drop(equal);
        Arc::make_mut(&mut edited).content = vec![ContentBlock::Text("edited".into())];
        assert_eq!(
            texts(&model, &request(&[&edited, &changed])),
            ["edited", "changed"]
        );
        assert_eq!(converted(&cache), 2);
    }

    #[test]
    fn thinking_takes_the_shape_of_its_family() {
        // Compared as JSON values: the order of an object's keys follows serde_json's
        // `preserve_order`, which other crates of a build may turn on.
        assert_eq!(
            thinking_fields(Thinking::Budget(2048), ReasoningShape::AnthropicBudget),
            [(
                "thinking",
                json!({"type": "enabled", "budget_tokens": 2048})
            )]
        );
        assert_eq!(
            thinking_fields(
                Thinking::Effort(ReasoningEffort::High),
                ReasoningShape::AnthropicAdaptive
            ),
            [
                ("thinking", json!({"type": "adaptive"})),
                ("output_config", json!({"effort": "high"}))
            ]
        );
        assert_eq!(
            thinking_fields(
                Thinking::Effort(ReasoningEffort::Low),
                ReasoningShape::NovaReasoningConfig
            ),
            [(
                "reasoningConfig",
                json!({"type": "enabled", "maxReasoningEffort": "low"})
            )]
        );
        assert_eq!(
            thinking_fields(
                Thinking::Effort(ReasoningEffort::Medium),
                ReasoningShape::ReasoningEffort
            ),
            [("reasoning_effort", json!("medium"))]
        );
    }
}
