//! The rules of one model family, checked after the service-level rules for a model the
//! stand-in knows ([`Model`]). Each rule names its source next to the code. Where Bedrock's
//! exact text was never captured, the message is the closest documented wording and the comment
//! says so.

use serde_json::{Map, Value};

use super::super::family::{Model, ModelFamily, ToolSupport};
use super::{Rule, RuleViolation, WireMessage};

/// The most `cachePoint` blocks one request may hold.
const MAX_CACHE_POINTS: usize = 4;

/// The top-level keys Amazon Nova 1 takes in a tool's input schema.
const NOVA_SCHEMA_KEYS: [&str; 3] = ["type", "properties", "required"];

/// Checks `body` against the rules of `model`'s family.
pub(super) fn check_model_rules(
    body: &Map<String, Value>,
    messages: &[WireMessage<'_>],
    model: &Model,
    streamed: bool,
) -> Result<(), RuleViolation> {
    check_system(body, model)?;
    check_cache_points(body, messages, model)?;
    check_tools(body, model, streamed)?;
    check_tool_schemas(body, model)?;
    check_turns(messages, model)?;
    check_media(messages, model)?;
    check_reasoning_fields(body, model)?;
    check_inference_config(body, model)
}

fn check_system(body: &Map<String, Value>, model: &Model) -> Result<(), RuleViolation> {
    let has_system = body
        .get("system")
        .and_then(Value::as_array)
        .is_some_and(|blocks| !blocks.is_empty());
    // Mistral 7B / Mixtral: https://github.com/567-labs/instructor/issues/1753 ; Titan Text:
    // https://github.com/Mintplex-Labs/anything-llm/issues/2486 ; legacy Cohere Command: the
    // features table (system prompts "No"),
    // https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html
    if has_system && !model.system_prompts() {
        return Err(RuleViolation::new(
            Rule::SystemPromptUnsupported,
            "This model doesn't support system messages. Try again without a system message or \
             use a model that supports system messages.",
        ));
    }
    Ok(())
}

/// Where a `cachePoint` block sits.
enum CacheSpot {
    System,
    Tool(usize),
    Message { index: usize, block: usize },
}

fn check_cache_points(
    body: &Map<String, Value>,
    messages: &[WireMessage<'_>],
    model: &Model,
) -> Result<(), RuleViolation> {
    let is_cache_point = |block: &Value| block.get("cachePoint").is_some();
    let mut spots = Vec::new();
    let system = body.get("system").and_then(Value::as_array);
    spots.extend(
        system
            .into_iter()
            .flatten()
            .filter(|block| is_cache_point(block))
            .map(|_| CacheSpot::System),
    );
    let tools = body
        .get("toolConfig")
        .and_then(|config| config.get("tools"))
        .and_then(Value::as_array);
    spots.extend(
        tools
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, tool)| is_cache_point(tool))
            .map(|(index, _)| CacheSpot::Tool(index)),
    );
    for (index, message) in messages.iter().enumerate() {
        spots.extend(
            message
                .content
                .iter()
                .enumerate()
                .filter(|(_, block)| is_cache_point(block))
                .map(|(block, _)| CacheSpot::Message { index, block }),
        );
    }
    if spots.is_empty() {
        return Ok(());
    }
    // A model without prompt caching answers AccessDeniedException:
    // https://github.com/strands-agents/harness-sdk/pull/1807 (Llama),
    // https://github.com/pensarai/apex/pull/943 (DeepSeek-R1, Claude 3.5 Sonnet v1),
    // https://github.com/zeroclaw-labs/zeroclaw/pull/7315 (Qwen3),
    // https://github.com/strands-agents/harness-sdk/issues/4168 ; the models with a cache:
    // https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html
    let Some(cache) = model.prompt_cache() else {
        return Err(RuleViolation::new(
            Rule::PromptCachingUnsupported,
            "You invoked an unsupported model or your request did not allow prompt caching.",
        ));
    };
    for spot in &spots {
        match *spot {
            // Nova takes checkpoints in `system` and `messages` only (prompt-caching table);
            // Bedrock's answer: https://github.com/NousResearch/hermes-agent/issues/97281 ,
            // https://github.com/danny-avila/LibreChat/issues/13838 .
            CacheSpot::Tool(index) if !cache.in_tools => {
                return Err(RuleViolation::new(
                    Rule::CachePointNotPermitted,
                    format!(
                        "Malformed input request: #/toolConfig/tools/{index}: extraneous key \
                         [cachePoint] is not permitted, please reformat your input and try again."
                    ),
                ));
            }
            // Nova rejects a checkpoint directly after `toolResult` blocks
            // (https://github.com/aws-samples/bedrock-engineer/pull/71); the answer's form is the
            // one seen in messages on Nova Pro and Nova 2 Lite
            // (https://github.com/earendil-works/pi/issues/2053 ,
            // https://github.com/zeroclaw-labs/zeroclaw/pull/8943), its indices here the
            // checkpoint's.
            CacheSpot::Message { index, block } if model.family.is_nova() => {
                let after_result = block
                    .checked_sub(1)
                    .and_then(|previous| messages[index].content.get(previous))
                    .is_some_and(|previous| previous.get("toolResult").is_some());
                if after_result {
                    return Err(RuleViolation::new(
                        Rule::CachePointNotPermitted,
                        format!(
                            "Malformed input request: #/messages/{index}/content/{block}: \
                             extraneous key [cachePoint] is not permitted, please reformat your \
                             input and try again."
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    // At most 4 checkpoints ("Maximum number of cache checkpoints per request": 4,
    // https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html ; peers budget 4:
    // https://github.com/maximhq/bifrost/pull/5931). Bedrock's text was not captured: for
    // Claude this is the Anthropic API's own wording, passed on as model errors are.
    if spots.len() > MAX_CACHE_POINTS {
        let found = spots.len();
        let message = if model.family.is_claude() {
            format!(
                "The model returned the following errors: A maximum of {MAX_CACHE_POINTS} blocks \
                 with cache_control may be provided. Found {found}."
            )
        } else {
            format!(
                "The request holds {found} cachePoint blocks; this model takes at most \
                 {MAX_CACHE_POINTS} cache checkpoints per request. (The Converse stand-in's \
                 wording: Bedrock's text was not captured.)"
            )
        };
        return Err(RuleViolation::new(Rule::TooManyCachePoints, message));
    }
    // A `cachePoint` directly after a `reasoningContent` block, or first in a message, is a
    // service-level rule (see `check_cache_points` in the parent module).
    Ok(())
}

fn check_tools(
    body: &Map<String, Value>,
    model: &Model,
    streamed: bool,
) -> Result<(), RuleViolation> {
    let Some(config) = body.get("toolConfig").filter(|config| config.is_object()) else {
        return Ok(());
    };
    // "This model doesn't support tool use in streaming mode.": Llama 3.3 / 4
    // (https://github.com/earendil-works/pi/issues/3739 , https://github.com/n8n-io/n8n/issues/14206),
    // Mistral Large (https://github.com/brave/brave-browser/issues/52158), Palmyra X5
    // (https://github.com/strands-agents/harness-sdk/issues/393); a model without tools answers
    // the same to ConverseStream (DeepSeek-R1, https://github.com/danny-avila/LibreChat/issues/6351).
    let streaming = || {
        Err(RuleViolation::new(
            Rule::StreamingToolUseUnsupported,
            "This model doesn't support tool use in streaming mode.",
        ))
    };
    match model.tool_support() {
        ToolSupport::Full => {}
        ToolSupport::NotStreamed if streamed => return streaming(),
        ToolSupport::NotStreamed => {}
        // Cohere Command R / R+: https://github.com/langchain-ai/langchain-aws/issues/566 .
        ToolSupport::InvalidCombination => {
            return Err(RuleViolation::new(
                Rule::ToolUseUnsupported,
                "The model returned the following errors: Invalid parameter combination. Please \
                 check and try again.",
            ));
        }
        ToolSupport::None if streamed => return streaming(),
        // "This model doesn't support tool use.": DeepSeek-R1
        // (https://github.com/langchain-ai/langchain-aws/issues/447), small Llama
        // (https://github.com/epam/ai-dial-adapter-bedrock/issues/181); Titan Text,
        // Jamba-Instruct, Cohere Command, Mistral 7B / Mixtral per the features table.
        ToolSupport::None => {
            return Err(RuleViolation::new(
                Rule::ToolUseUnsupported,
                "This model doesn't support tool use.",
            ));
        }
    }
    // `any` and `tool` only where the API reference lists them
    // (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html);
    // Bedrock's answer: https://github.com/strands-agents/harness-sdk/issues/1241 (`any`),
    // https://github.com/vercel/ai/issues/4396 and https://github.com/maximhq/bifrost/pull/3196
    // (`tool`).
    let (any, tool) = model.tool_choice();
    if let Some(choice) = config.get("toolChoice").and_then(Value::as_object) {
        for (kind, allowed) in [("any", any), ("tool", tool)] {
            if choice.contains_key(kind) && !allowed {
                return Err(RuleViolation::new(
                    Rule::ToolChoiceUnsupported,
                    format!(
                        "This model doesn't support the toolConfig.toolChoice.{kind} field. \
                         Remove toolConfig.toolChoice.{kind} and try again."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Amazon Nova 1 takes only `type`, `properties` and `required` at the top of a tool's input
/// schema: <https://docs.aws.amazon.com/nova/latest/userguide/prompting-tool-troubleshooting.html>
/// (which lists `$schema`, `description`, `title` and `additionalProperties` as unsupported).
/// Bedrock's answer was captured for `definitions` on Nova Premier
/// (https://github.com/zed-industries/zed/issues/31815); for other keys it was not, and the
/// message says so. `$defs` is held to the same rule as `definitions`.
fn check_tool_schemas(body: &Map<String, Value>, model: &Model) -> Result<(), RuleViolation> {
    if !model.family.is_nova1() {
        return Ok(());
    }
    let tools = body
        .get("toolConfig")
        .and_then(|config| config.get("tools"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (index, tool) in tools.iter().enumerate() {
        let Some(schema) = tool
            .pointer("/toolSpec/inputSchema/json")
            .and_then(Value::as_object)
        else {
            continue;
        };
        if let Some(key) = schema
            .keys()
            .find(|key| !NOVA_SCHEMA_KEYS.contains(&key.as_str()))
        {
            let note = if key == "definitions" {
                ""
            } else {
                " (The Converse stand-in's wording: Bedrock's text for this key was not \
                 captured; this is its answer to a top-level definitions key.)"
            };
            return Err(RuleViolation::new(
                Rule::UnsupportedToolSchema,
                format!(
                    "Malformed input request: #/toolConfig/tools/{index}/toolSpec/inputSchema/json: \
                     extraneous key [{key}] is not permitted, please reformat your input and try \
                     again.{note}"
                ),
            ));
        }
    }
    Ok(())
}

fn is_nine_alphanumerics(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn check_turns(messages: &[WireMessage<'_>], model: &Model) -> Result<(), RuleViolation> {
    let (results_alone, tool_use_alone) = model.tool_turns_alone();
    for (index, message) in messages.iter().enumerate() {
        let others = |kind: &str| {
            message
                .content
                .iter()
                .any(|block| block.get(kind).is_none() && block.get("cachePoint").is_none())
        };
        // Llama: https://github.com/strands-agents/harness-sdk/issues/1223 (Llama 4),
        // https://github.com/browser-use/browser-use/issues/710 (Llama 3.3, Mistral Large);
        // Palmyra: https://github.com/pydantic/pydantic-ai/pull/6318 .
        if results_alone && !message.tool_results.is_empty() && others("toolResult") {
            return Err(RuleViolation::new(
                Rule::ToolResultsWithOtherBlocks,
                format!(
                    "messages.{index}.content: Conversation blocks and tool result blocks cannot \
                     be provided in the same turn."
                ),
            ));
        }
        // The langchain-aws integration tests' expected failure for Llama 4 Scout and Mistral
        // Large: https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/tests/integration_tests/chat_models/test_bedrock_converse.py
        if tool_use_alone && !message.tool_uses.is_empty() && others("toolUse") {
            return Err(RuleViolation::new(
                Rule::ToolUseWithOtherBlocks,
                "Conversation blocks and tool use blocks cannot be provided in the same turn.",
            ));
        }
        // Mistral: https://github.com/vercel/ai/issues/11802 .
        if model.nine_character_tool_ids()
            && let Some(id) = message
                .tool_uses
                .iter()
                .chain(&message.tool_results)
                .find(|id| !is_nine_alphanumerics(id))
        {
            return Err(RuleViolation::new(
                Rule::InvalidToolCallId,
                format!("Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."),
            ));
        }
        for block in message.content {
            // Writer Palmyra: https://github.com/strands-agents/harness-sdk/issues/393 ,
            // https://github.com/strands-agents/harness-sdk/pull/686 (text quoted in pydantic-ai's
            // Bedrock profile).
            if !model.tool_result_status()
                && block
                    .get("toolResult")
                    .is_some_and(|result| result.get("status").is_some())
            {
                return Err(RuleViolation::new(
                    Rule::ToolResultStatusUnsupported,
                    "This model doesn't support the status field. Remove status and try again.",
                ));
            }
            let Some(reasoning) = block.get("reasoningContent") else {
                continue;
            };
            // DeepSeek-R1: https://github.com/langchain-ai/langchain-aws/issues/401 ,
            // https://github.com/zed-industries/zed/issues/32341 .
            if !model.reasoning_history() {
                return Err(RuleViolation::new(
                    Rule::ReasoningContentUnsupported,
                    "User messages cannot contain reasoning content. Please remove the reasoning \
                     content and try again.",
                ));
            }
            // gpt-oss: https://github.com/aws-samples/bedrock-engineer/issues/239 ,
            // https://github.com/strands-agents/harness-sdk/pull/682 ; Qwen:
            // https://github.com/earendil-works/pi/pull/727 .
            if !model.reasoning_signatures()
                && reasoning.pointer("/reasoningText/signature").is_some()
            {
                return Err(RuleViolation::new(
                    Rule::ReasoningSignatureUnsupported,
                    "This model doesn't support the reasoningContent.reasoningText.signature \
                     field. Remove reasoningContent.reasoningText.signature and try again.",
                ));
            }
        }
    }
    Ok(())
}

fn check_media(messages: &[WireMessage<'_>], model: &Model) -> Result<(), RuleViolation> {
    for message in messages {
        for block in message.content {
            check_medium(block, model, false)?;
            let results = block
                .pointer("/toolResult/content")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for item in results {
                check_medium(item, model, true)?;
            }
        }
    }
    Ok(())
}

fn check_medium(block: &Value, model: &Model, in_tool_result: bool) -> Result<(), RuleViolation> {
    for kind in ["image", "document", "video"] {
        let Some(medium) = block.get(kind) else {
            continue;
        };
        // Nova Micro is text only (features table). Bedrock's text for it was not captured: the
        // message is the one Bedrock gives other models for an image they do not take
        // (https://github.com/anomalyco/opencode/issues/49443).
        if !model.media() {
            return Err(RuleViolation::new(
                Rule::MediaUnsupported,
                format!(
                    "This model doesn't support the {kind} field for user messages. Remove \
                     {kind} and try again."
                ),
            ));
        }
        // S3 locations: Nova only (features table, "Amazon S3 multimedia links"); Claude's
        // answer: pydantic-ai's recorded cassettes,
        // https://github.com/pydantic/pydantic-ai/tree/4fda38988f2939fa6ea9cdefcf120693e10ef491/tests/models/cassettes/test_multimodal_tool_returns ,
        // and https://github.com/strands-agents/harness-sdk/pull/3610 .
        if !model.s3_locations() && medium.pointer("/source/s3Location").is_some() {
            return Err(RuleViolation::new(
                Rule::S3LocationUnsupported,
                "This model doesn't support the s3Uri field. Remove s3Uri and try again.",
            ));
        }
        // Images in tool results: Claude and Nova (API reference, ToolResultContentBlock),
        // Llama 4 (pydantic-ai); gpt-oss / Pixtral reject them:
        // https://github.com/anomalyco/opencode/issues/48069 ,
        // https://github.com/anomalyco/opencode/issues/49443 ,
        // https://github.com/can1357/oh-my-pi/issues/11681 .
        if in_tool_result && kind == "image" && !model.images_in_tool_results() {
            return Err(RuleViolation::new(
                Rule::ImageInToolResultUnsupported,
                "This model doesn't support the image field for user messages. Remove image and \
                 try again.",
            ));
        }
    }
    Ok(())
}

fn check_reasoning_fields(body: &Map<String, Value>, model: &Model) -> Result<(), RuleViolation> {
    let fields = body
        .get("additionalModelRequestFields")
        .and_then(Value::as_object);
    let field = |key: &str| fields.and_then(|fields| fields.get(key));
    let invalid_reasoning_config = || {
        // Nova Pro's answer to a reasoningConfig:
        // https://github.com/UKGovernmentBEIS/inspect_ai/issues/5301 .
        Err(RuleViolation::new(
            Rule::InvalidReasoningConfig,
            "Malformed input request: the provided reasoning config value is invalid, please \
             reformat your input and try again.",
        ))
    };
    if model.family.is_nova() {
        // Nova validates its request against a schema and answers unknown keys with
        // "extraneous key [X] is not permitted" (Section B of the sources); for `thinking` the
        // text was not captured, and this is that pattern.
        if field("thinking").is_some() {
            return Err(RuleViolation::new(
                Rule::InvalidReasoningConfig,
                "Malformed input request: #: extraneous key [thinking] is not permitted, please \
                 reformat your input and try again.",
            ));
        }
        if let Some(config) = field("reasoningConfig") {
            if model.family != ModelFamily::Nova2 {
                return invalid_reasoning_config();
            }
            // Nova 2: {type: enabled|disabled, maxReasoningEffort: low|medium|high}:
            // https://docs.aws.amazon.com/nova/latest/nova2-userguide/reasoning-capabilities.html .
            // Bedrock's text for a wrong shape on Nova 2 was not captured; the message is Nova
            // Pro's.
            let Some(config) = config.as_object() else {
                return invalid_reasoning_config();
            };
            let kind = config.get("type").and_then(Value::as_str);
            let effort = config.get("maxReasoningEffort");
            let effort_text = effort.and_then(Value::as_str);
            let known_keys = config
                .keys()
                .all(|key| key == "type" || key == "maxReasoningEffort");
            let valid = known_keys
                && matches!(kind, Some("enabled" | "disabled"))
                && (effort.is_none() || matches!(effort_text, Some("low" | "medium" | "high")));
            if !valid {
                return invalid_reasoning_config();
            }
            // With `high`, maxTokens must be left unset:
            // https://github.com/UKGovernmentBEIS/inspect_ai/issues/3767 ,
            // https://github.com/UKGovernmentBEIS/inspect_ai/pull/3848 . Bedrock's text was not
            // captured.
            let max_tokens = body
                .get("inferenceConfig")
                .and_then(|config| config.get("maxTokens"))
                .is_some();
            if kind == Some("enabled") && effort_text == Some("high") && max_tokens {
                return Err(RuleViolation::new(
                    Rule::InvalidReasoningConfig,
                    "Malformed input request: inferenceConfig.maxTokens can't be set when \
                     reasoningConfig.maxReasoningEffort is high, please reformat your input and \
                     try again. (The Converse stand-in's wording: Bedrock's text was not \
                     captured.)",
                ));
            }
        }
        return Ok(());
    }
    // Opus 4.7, 4.8 and Opus 5 take adaptive thinking only:
    // https://github.com/Kilo-Org/kilocode/issues/10732 ,
    // https://github.com/tinovyatkin/amazon-bedrock-copilot-chat/issues/526 ,
    // https://github.com/earendil-works/pi/pull/7081 .
    if model.adaptive_only()
        && field("thinking")
            .and_then(|thinking| thinking.get("type"))
            .and_then(Value::as_str)
            == Some("enabled")
    {
        return Err(RuleViolation::new(
            Rule::InvalidThinkingConfig,
            "The model returned the following errors: \"thinking.type.enabled\" is not supported \
             for this model. Use \"thinking.type.adaptive\" and \"output_config.effort\" to \
             control thinking behavior.",
        ));
    }
    Ok(())
}

fn check_inference_config(body: &Map<String, Value>, model: &Model) -> Result<(), RuleViolation> {
    let config = body.get("inferenceConfig").and_then(Value::as_object);
    let has = |key: &str| config.is_some_and(|config| config.get(key).is_some());
    // Opus 4.7 and later: https://github.com/zeroclaw-labs/zeroclaw/issues/6095 ,
    // https://github.com/openclaw/openclaw/issues/73663 , https://github.com/promptfoo/promptfoo/issues/10307 .
    if model.adaptive_only() && has("temperature") {
        return Err(RuleViolation::new(
            Rule::UnsupportedInferenceParameter,
            "The model returned the following errors: `temperature` is deprecated for this model.",
        ));
    }
    // https://github.com/BerriAI/litellm/issues/15070 ,
    // https://github.com/aws-samples/bedrock-access-gateway/issues/191 .
    if model.temperature_or_top_p() && has("temperature") && has("topP") {
        return Err(RuleViolation::new(
            Rule::UnsupportedInferenceParameter,
            "The model returned the following errors: `temperature` and `top_p` cannot both be \
             specified for this model. Please use only one.",
        ));
    }
    // Bedrock's ValidationException for a `maxTokens` above the model's limit, word for word:
    // "The maximum tokens you requested exceeds the model limit of 4096. Try again with a
    // maximum tokens value that is lower than 4096." (Converse, Claude 3.5 Sonnet:
    // https://github.com/boto/boto3/issues/4279 , https://github.com/vercel/ai/issues/2772 ;
    // "…of 3000…" for Titan Text Premier:
    // https://github.com/aws-samples/generative-ai-use-cases/issues/594). The maximums and
    // their sources: `Model::max_output_tokens` (the capability table's numbers).
    let beta_128k = body
        .get("additionalModelRequestFields")
        .and_then(|fields| fields.get("anthropic_beta"))
        .and_then(Value::as_array)
        .is_some_and(|betas| {
            betas
                .iter()
                .filter_map(Value::as_str)
                .any(|beta| beta.starts_with("output-128k"))
        });
    let max_tokens = config
        .and_then(|config| config.get("maxTokens"))
        .and_then(Value::as_u64);
    let limit = model.max_output_tokens(beta_128k);
    if let Some(asked) = max_tokens
        && asked > limit
    {
        return Err(RuleViolation::new(
            Rule::MaxTokensTooLarge,
            format!(
                "The maximum tokens you requested exceeds the model limit of {limit}. Try again \
                 with a maximum tokens value that is lower than {limit}."
            ),
        ));
    }
    Ok(())
}
