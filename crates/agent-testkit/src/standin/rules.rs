//! The rules Converse enforces on a request body, checked the way the service does: the
//! service-level rules for every model, then the rules of the model's family (`model`).

mod media;
mod model;
pub(crate) mod refusal;
mod thinking;

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use super::family::{self, Model};
use super::reply::BedrockErrorKind;
pub use refusal::OptionalFeature;

/// Which rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The body is not JSON, or a field has the wrong JSON type.
    Malformed,
    /// `messages` is missing or empty.
    NoMessages,
    /// The first message is not a `user` message.
    FirstMessageNotUser,
    /// Two messages in a row have the same role.
    RolesNotAlternating,
    /// A message has no content blocks.
    EmptyContent,
    /// A `text` block (of a message or of `system`) is empty or only whitespace.
    BlankText,
    /// A `toolUse` is not answered by a `toolResult` in the next message.
    MissingToolResults,
    /// A message holds more `toolResult` blocks than the previous turn has `toolUse` blocks.
    ExtraToolResults,
    /// The conversation holds `toolUse` or `toolResult` blocks but the request no `toolConfig`.
    MissingToolConfig,
    /// `toolConfig.tools` is missing or empty.
    NoTools,
    /// A tool name does not match `^[a-zA-Z0-9_-]{1,64}$`.
    InvalidToolName,
    /// Two tools share a name.
    DuplicateToolName,
    /// A tool has no description, or an empty one.
    EmptyToolDescription,
    /// A tool's `inputSchema.json` is not an object schema, or has a `$ref` that does not
    /// resolve inside it.
    InvalidInputSchema,
    /// A `cachePoint` block is the first (or only) block of a message, comes directly after a
    /// `reasoningContent` block, or has a `type` other than `default`.
    InvalidCachePoint,
    /// `additionalModelRequestFields.thinking` is neither `{"type": "disabled"}` nor
    /// `{"type": "enabled", "budget_tokens": N}` with N at least 1024 and, when
    /// `inferenceConfig.maxTokens` is set, below it.
    InvalidThinkingConfig,
    /// `toolChoice` is outside `toolConfig`, is not exactly one of `auto`, `any` and `tool`, or
    /// names a tool that is not offered.
    InvalidToolChoice,
    /// A forced tool choice (`any` or `tool`) with thinking enabled.
    ToolChoiceForcedWithThinking,
    /// With thinking enabled, the first assistant message of the current turn is answered by
    /// tool results but does not begin with a `reasoningContent` block.
    MissingReasoningBeforeToolUse,
    /// An image format other than png, jpeg, gif and webp, or a document format other than
    /// pdf, csv, doc, docx, xls, xlsx, html, txt and md.
    UnsupportedMediaFormat,
    /// A document name that is empty or holds other than letters, digits, single spaces,
    /// hyphens, parentheses and square brackets.
    InvalidDocumentName,
    /// A media `source` that is not exactly one of `bytes` (base64) and `s3Location` (with an
    /// `s3://` URI).
    InvalidMediaSource,
    /// Inline media bytes over the limit: 3.75 MB for an image, 4.5 MB for a document.
    MediaTooLarge,
    /// More than 20 images or 5 documents in one request.
    TooManyMedia,
    /// `guardrailConfig` without a `guardrailIdentifier` or a valid `guardrailVersion`
    /// (`DRAFT` or a version number), or with a `trace` other than `enabled`, `disabled` and
    /// `enabled_full` (or a `streamProcessingMode` other than `sync` and `async`).
    InvalidGuardrailConfig,
    /// A message holding a `document` block holds no `text` block.
    DocumentWithoutText,
    /// Two documents of the request (tool results included) share a name.
    DuplicateDocumentName,
    /// A `toolResult` content block's `json` is not a JSON object.
    InvalidToolResultJson,
    /// A cross-Region inference profile (`us.`, `eu.`, …) called from a Region outside its
    /// geography (read from the request's SigV4 credential scope): Bedrock answers "The
    /// provided model identifier is invalid."
    InvalidModelIdentifier,
    /// A `cachePoint` block sent to a model without prompt caching. Answered with an
    /// `AccessDeniedException` (403), as Bedrock does.
    PromptCachingUnsupported,
    /// A `cachePoint` where the model takes none: Amazon Nova's `toolConfig.tools`, or directly
    /// after `toolResult` blocks in a Nova message.
    CachePointNotPermitted,
    /// More than 4 `cachePoint` blocks in one request.
    TooManyCachePoints,
    /// A `system` prompt sent to a model without system prompts.
    SystemPromptUnsupported,
    /// A `toolConfig` sent to a model without tool use (with `Converse`; with
    /// `ConverseStream` see [`Rule::StreamingToolUseUnsupported`]).
    ToolUseUnsupported,
    /// A `toolConfig` sent by `ConverseStream` to a model that uses tools only with `Converse`,
    /// or not at all.
    StreamingToolUseUnsupported,
    /// `toolChoice` `any` or `tool` sent to a model that does not take it.
    ToolChoiceUnsupported,
    /// A tool's `inputSchema.json` has a top-level keyword the model does not take (Amazon
    /// Nova 1 takes only `type`, `properties` and `required`).
    UnsupportedToolSchema,
    /// A user message holding `toolResult` blocks holds other blocks too, for a model that
    /// takes tool results alone (Llama, Mistral, Writer Palmyra).
    ToolResultsWithOtherBlocks,
    /// An assistant message holding `toolUse` blocks holds other blocks too, for a model that
    /// takes tool calls alone (Llama, Mistral).
    ToolUseWithOtherBlocks,
    /// A tool-call id that is not 9 characters of `[a-zA-Z0-9]`, sent to a Mistral AI model.
    InvalidToolCallId,
    /// `toolResult.status` sent to a model that rejects it (Writer Palmyra).
    ToolResultStatusUnsupported,
    /// `reasoningContent` blocks sent back to a model that rejects them (DeepSeek-R1).
    ReasoningContentUnsupported,
    /// A reasoning `signature` sent back to a model that rejects it (gpt-oss, Qwen).
    ReasoningSignatureUnsupported,
    /// An image or document sent to a model without vision or document chat (Nova Micro).
    MediaUnsupported,
    /// An image inside a `toolResult` sent to a model that takes none there (all but Claude,
    /// Nova and Llama 4).
    ImageInToolResultUnsupported,
    /// Media from an `s3Location` sent to a model that takes only bytes (all but Nova).
    S3LocationUnsupported,
    /// A reasoning field of `additionalModelRequestFields` the model rejects: `thinking` on
    /// Nova, `reasoningConfig` on Nova 1, a `reasoningConfig` Nova 2 does not take.
    InvalidReasoningConfig,
    /// An inference parameter the model rejects: `temperature` on Claude Opus 4.7 and later,
    /// `temperature` with `topP` on Claude Sonnet 4.5/4.6, Haiku 4.5, Opus 4.5.
    UnsupportedInferenceParameter,
    /// `inferenceConfig.maxTokens` above the model's maximum output.
    MaxTokensTooLarge,
    /// A key of `additionalModelRequestFields` the model does not take. No family's rule
    /// refuses one on its own: only a stand-in told to
    /// ([`OptionalFeature::AdditionalInferenceConfig`]).
    AdditionalFieldNotPermitted,
}

impl Rule {
    /// The error Bedrock answers a violation of this rule with: `AccessDeniedException` for
    /// [`Rule::PromptCachingUnsupported`], `ValidationException` for every other rule.
    pub fn error_kind(self) -> BedrockErrorKind {
        match self {
            Rule::PromptCachingUnsupported => BedrockErrorKind::AccessDenied,
            _ => BedrockErrorKind::Validation,
        }
    }
}

/// A broken Converse rule: which one, and the message the stand-in answers with (worded like
/// the real service's where its wording is known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleViolation {
    rule: Rule,
    message: String,
}

impl RuleViolation {
    fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }

    /// The rule that was broken.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The error message (of a `ValidationException`, or of the error [`Rule::error_kind`]
    /// names).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error the stand-in answers with ([`Rule::error_kind`]).
    pub fn error_kind(&self) -> BedrockErrorKind {
        self.rule.error_kind()
    }
}

/// A violation of [`Rule::Malformed`] with this message.
pub(super) fn malformed(message: impl Into<String>) -> RuleViolation {
    RuleViolation::new(Rule::Malformed, message)
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Checks a Converse request body (the JSON the SDK sends to `POST /model/{modelId}/converse`
/// and `…/converse-stream`) against the rules the service enforces, returning the first rule
/// broken.
///
/// Checked, in this order:
///
/// 1. the body is a JSON object and `messages` a non-empty array of `{role, content}` objects
///    with role `user` or `assistant`;
/// 2. the first message is a `user` message and roles alternate;
/// 3. no message has empty content, and no `text` block (in messages or `system`) is blank;
/// 4. `cachePoint` blocks (allowed in `system`, `toolConfig.tools` and message content) have
///    type `default`, and none is the first block of a message or comes directly after a
///    `reasoningContent` block;
/// 5. images have format png, jpeg, gif or webp; documents pdf, csv, doc, docx, xls, xlsx,
///    html, txt or md, and a name of letters, digits, single spaces, hyphens, parentheses and
///    square brackets; each `source` is exactly one of `bytes` (base64, at most 3.75 MB
///    decoded for an image, 4.5 MB for a document) and `s3Location` (an `s3://` URI); a request
///    holds at most 20 images and 5 documents (tool results included);
/// 6. when `toolConfig` is present: `tools` is non-empty, each `toolSpec` has a name matching
///    `^[a-zA-Z0-9_-]{1,64}$`, unique among the tools, a non-empty description and an
///    `inputSchema.json` that is an object with top-level `"type": "object"` whose `$ref`s
///    resolve inside the document;
/// 7. `toolConfig` is present whenever a message holds `toolUse` or `toolResult` blocks;
/// 8. `additionalModelRequestFields.thinking`, when present, is `{"type": "disabled"}` or
///    `{"type": "enabled", "budget_tokens": N}` with N ≥ 1024 and N below
///    `inferenceConfig.maxTokens` when that is set;
/// 9. `toolChoice` sits in `toolConfig`, is exactly one of `{"auto": {}}`, `{"any": {}}` and
///    `{"tool": {"name": …}}` naming an offered tool, and does not force a tool (`any`,
///    `tool`) while thinking is enabled;
/// 10. every `toolUse` of an assistant message is answered by a `toolResult` with its id in
///     the next message, and no message holds more `toolResult` blocks than the previous turn
///     has `toolUse` blocks;
/// 11. with thinking enabled, the first assistant message of the current turn (after the last
///     user message that is not only tool results), when tool results answer it, begins with
///     a `reasoningContent` block — the model's own rule, which spares earlier turns and later
///     tool steps of the same turn;
/// 12. `guardrailConfig`, when present, has a non-empty `guardrailIdentifier`, a
///     `guardrailVersion` that is `DRAFT` or a version number, a `trace` (if any) of `enabled`,
///     `disabled` or `enabled_full`, and a `streamProcessingMode` (if any) of `sync` or
///     `async`.
///
/// Also checked, for every model (service-level rules added with the per-family ones):
/// a message holding a `document` holds a `text` block too; document names are unique across
/// the request; a `toolResult`'s `json` content is a JSON object.
///
/// A conversation may end with an assistant message (a prefill); its `toolUse` blocks, if
/// any, have no next message to be answered in and are not checked. Blocks of types it does
/// not know are let through: the check reads the body as JSON, never as agent-core types.
///
/// This is the family-agnostic check: the extended-thinking rules (8, 9, 11) are Anthropic
/// Claude's, applied whatever the model. [`check_converse_request_for`] checks a request for
/// the model it names, as the stand-in's server does.
pub fn check_converse_request(body: &Value) -> Result<(), RuleViolation> {
    check(body, None, false)
}

/// Where a Converse request goes: the model id of its path, the operation, and the AWS Region
/// it was signed for. What [`check_converse_request_for`] checks a body against.
///
/// ```
/// use agent_testkit::{RequestTarget, Rule, check_converse_request_for};
/// use serde_json::json;
///
/// let body = json!({
///     "messages": [{"role": "user", "content": [{"text": "Weather in Oslo?"}]}],
///     "toolConfig": {"tools": [{"toolSpec": {
///         "name": "get_weather",
///         "description": "Weather for a city",
///         "inputSchema": {"json": {"type": "object", "properties": {}}}
///     }}]}
/// });
/// // Llama 3.3 uses tools with Converse, not with ConverseStream.
/// let model = "us.meta.llama3-3-70b-instruct-v1:0";
/// assert!(check_converse_request_for(&RequestTarget::converse(model), &body).is_ok());
/// let streamed = RequestTarget::converse_stream(model);
/// let violation = check_converse_request_for(&streamed, &body).unwrap_err();
/// assert_eq!(violation.rule(), Rule::StreamingToolUseUnsupported);
/// // A US inference profile called from Europe.
/// let from_europe = RequestTarget::converse(model).in_region("eu-west-1");
/// let violation = check_converse_request_for(&from_europe, &body).unwrap_err();
/// assert_eq!(violation.message(), "The provided model identifier is invalid.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// The model id, as in the path (percent-decoded): a base model id, an inference profile
    /// id or an ARN.
    pub model_id: &'a str,
    /// Whether the request came to `ConverseStream` rather than `Converse`.
    pub streamed: bool,
    /// The AWS Region the request was signed for (the SigV4 credential scope), if known.
    pub region: Option<&'a str>,
}

impl<'a> RequestTarget<'a> {
    /// A `Converse` request for `model_id`, from no known Region.
    pub fn converse(model_id: &'a str) -> Self {
        Self {
            model_id,
            streamed: false,
            region: None,
        }
    }

    /// A `ConverseStream` request for `model_id`, from no known Region.
    pub fn converse_stream(model_id: &'a str) -> Self {
        Self {
            streamed: true,
            ..Self::converse(model_id)
        }
    }

    /// This target, signed for `region` (such as `us-west-2`).
    #[must_use]
    pub fn in_region(self, region: &'a str) -> Self {
        Self {
            region: Some(region),
            ..self
        }
    }
}

/// Checks a Converse request body for the model, operation and Region of `target`, returning
/// the first rule broken.
///
/// In order: the Region rule (a cross-Region inference profile called from a Region outside
/// its geography is "The provided model identifier is invalid."); the service-level rules of
/// [`check_converse_request`] (the extended-thinking rules only for Anthropic Claude and ids
/// the stand-in does not know); then the rules of the model's family ([`ModelFamily`]), listed
/// in the crate documentation. Ids the stand-in does not know get the service-level rules
/// only, as [`check_converse_request`] checks them.
///
/// [`ModelFamily`]: super::ModelFamily
pub fn check_converse_request_for(
    target: &RequestTarget<'_>,
    body: &Value,
) -> Result<(), RuleViolation> {
    let resolved = family::resolve(target.model_id);
    // "The provided model identifier is invalid." (ValidationException) for a `us.` profile
    // called from a non-US Region: https://github.com/opensearch-project/agent-health/issues/298 ,
    // https://github.com/anthropics/claude-code/issues/51074 ,
    // https://github.com/langchain-ai/open_deep_research/issues/224 .
    if let (Some(geography), Some(region)) = (resolved.geography, target.region)
        && !geography.accepts_region(region)
    {
        return Err(RuleViolation::new(
            Rule::InvalidModelIdentifier,
            "The provided model identifier is invalid.",
        ));
    }
    check(body, resolved.model.as_ref(), target.streamed)
}

/// The service-level rules, then, for a known model, its family's.
fn check(body: &Value, model: Option<&Model>, streamed: bool) -> Result<(), RuleViolation> {
    let Some(body) = body.as_object() else {
        return Err(RuleViolation::new(
            Rule::Malformed,
            "Malformed input request: the request body must be a JSON object.",
        ));
    };
    let messages = parse_messages(body)?;
    check_roles(&messages)?;
    check_content(&messages)?;
    check_system(body)?;
    check_cache_points(body, &messages)?;
    media::check_media(&messages)?;
    let has_tool_config = check_tool_config(body)?;
    let uses_tools = messages
        .iter()
        .any(|message| !message.tool_uses.is_empty() || !message.tool_results.is_empty());
    if uses_tools && !has_tool_config {
        return Err(RuleViolation::new(
            Rule::MissingToolConfig,
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ));
    }
    // Extended thinking is Anthropic Claude's: other families have their own shapes, checked
    // with their rules.
    let claude_rules = model.is_none_or(|model| model.family.is_claude());
    let thinking = if claude_rules {
        thinking::check_thinking(body, model)?
    } else {
        thinking::Thinking::Off
    };
    thinking::check_tool_choice(body, thinking != thinking::Thinking::Off)?;
    check_tool_pairing(&messages)?;
    thinking::check_reasoning_before_tool_use(&messages, thinking == thinking::Thinking::Budget)?;
    check_guardrail_config(body)?;
    match model {
        Some(model) => model::check_model_rules(body, &messages, model, streamed),
        None => Ok(()),
    }
}

struct WireMessage<'a> {
    role: &'a str,
    content: &'a [Value],
    tool_uses: Vec<&'a str>,
    tool_results: Vec<&'a str>,
}

fn parse_messages(body: &Map<String, Value>) -> Result<Vec<WireMessage<'_>>, RuleViolation> {
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            return Err(RuleViolation::new(
                Rule::NoMessages,
                "1 validation error detected: Value null at 'messages' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => {
            return Err(RuleViolation::new(
                Rule::Malformed,
                "Malformed input request: messages must be an array.",
            ));
        }
    };
    if messages.is_empty() {
        return Err(RuleViolation::new(
            Rule::NoMessages,
            "A conversation must start with a user message. Try again with a conversation that \
             starts with a user message.",
        ));
    }
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let role = message.get("role").and_then(Value::as_str);
            let role = match role {
                Some(role @ ("user" | "assistant")) => role,
                other => {
                    return Err(RuleViolation::new(
                        Rule::Malformed,
                        format!(
                            "1 validation error detected: Value '{}' at 'messages.{index}.member.role' \
                             failed to satisfy constraint: Member must satisfy enum value set: \
                             [user, assistant]",
                            other.unwrap_or("null")
                        ),
                    ));
                }
            };
            let Some(content) = message.get("content").and_then(Value::as_array) else {
                return Err(RuleViolation::new(
                    Rule::Malformed,
                    format!(
                        "1 validation error detected: Value null at 'messages.{index}.member.content' \
                         failed to satisfy constraint: Member must not be null"
                    ),
                ));
            };
            let tool_uses = content
                .iter()
                .filter_map(|block| block.get("toolUse"))
                .map(|tool_use| tool_use.get("toolUseId").and_then(Value::as_str).unwrap_or(""))
                .collect();
            let tool_results = content
                .iter()
                .filter_map(|block| block.get("toolResult"))
                .map(|result| result.get("toolUseId").and_then(Value::as_str).unwrap_or(""))
                .collect();
            Ok(WireMessage {
                role,
                content,
                tool_uses,
                tool_results,
            })
        })
        .collect()
}

fn check_roles(messages: &[WireMessage<'_>]) -> Result<(), RuleViolation> {
    if messages.first().is_some_and(|first| first.role != "user") {
        return Err(RuleViolation::new(
            Rule::FirstMessageNotUser,
            "A conversation must start with a user message. Try again with a conversation that \
             starts with a user message.",
        ));
    }
    if messages.windows(2).any(|pair| pair[0].role == pair[1].role) {
        return Err(RuleViolation::new(
            Rule::RolesNotAlternating,
            "A conversation must alternate between user and assistant roles. Make sure the \
             conversation alternates between user and assistant roles and try again.",
        ));
    }
    Ok(())
}

fn check_content(messages: &[WireMessage<'_>]) -> Result<(), RuleViolation> {
    for (index, message) in messages.iter().enumerate() {
        if message.content.is_empty() {
            return Err(RuleViolation::new(
                Rule::EmptyContent,
                format!(
                    "The content field in the Message object at messages.{index} is empty. Add a \
                     ContentBlock object to the content field and try again."
                ),
            ));
        }
        for (block_index, block) in message.content.iter().enumerate() {
            if let Some(text) = block.get("text")
                && text.as_str().is_none_or(|text| text.trim().is_empty())
            {
                return Err(RuleViolation::new(
                    Rule::BlankText,
                    format!(
                        "The text field in the ContentBlock object at \
                         messages.{index}.content.{block_index} is blank. Add text to the text \
                         field, and try again."
                    ),
                ));
            }
            check_tool_result_json(block, index, block_index)?;
        }
    }
    Ok(())
}

/// A `toolResult`'s `json` content must be a JSON object (every family):
/// <https://github.com/sigoden/aichat/pull/1550> , <https://github.com/maximhq/bifrost/issues/5762> .
fn check_tool_result_json(
    block: &Value,
    index: usize,
    block_index: usize,
) -> Result<(), RuleViolation> {
    let items = block
        .pointer("/toolResult/content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (item_index, item) in items.iter().enumerate() {
        if item.get("json").is_some_and(|json| !json.is_object()) {
            return Err(RuleViolation::new(
                Rule::InvalidToolResultJson,
                format!(
                    "The format of the value at \
                     messages.{index}.content.{block_index}.toolResult.content.{item_index}.json \
                     is invalid. Provide a json object for the field and try again."
                ),
            ));
        }
    }
    Ok(())
}

fn check_system(body: &Map<String, Value>) -> Result<(), RuleViolation> {
    let Some(system) = body.get("system").and_then(Value::as_array) else {
        return Ok(());
    };
    for (index, block) in system.iter().enumerate() {
        if let Some(text) = block.get("text")
            && text.as_str().is_none_or(|text| text.trim().is_empty())
        {
            return Err(RuleViolation::new(
                Rule::BlankText,
                format!(
                    "The text field in the SystemContentBlock object at system.{index} is blank. \
                     Add text to the text field, and try again."
                ),
            ));
        }
    }
    Ok(())
}

/// Checks every `cachePoint` block: its type everywhere, its place in messages.
fn check_cache_points(
    body: &Map<String, Value>,
    messages: &[WireMessage<'_>],
) -> Result<(), RuleViolation> {
    let sections = [
        ("system", body.get("system")),
        (
            "toolConfig.tools",
            body.get("toolConfig").and_then(|c| c.get("tools")),
        ),
    ];
    for (name, section) in sections {
        let blocks = section
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (index, block) in blocks.iter().enumerate() {
            if let Some(cache_point) = block.get("cachePoint") {
                check_cache_point_type(cache_point, &format!("{name}.{index}.member"))?;
            }
        }
    }
    for (index, message) in messages.iter().enumerate() {
        for (block_index, block) in message.content.iter().enumerate() {
            let Some(cache_point) = block.get("cachePoint") else {
                continue;
            };
            check_cache_point_type(
                cache_point,
                &format!("messages.{index}.member.content.{block_index}.member"),
            )?;
            let at = format!("messages.{index}.content.{block_index}");
            let Some(previous) = block_index
                .checked_sub(1)
                .and_then(|previous| message.content.get(previous))
            else {
                return Err(RuleViolation::new(
                    Rule::InvalidCachePoint,
                    format!(
                        "The cachePoint block at {at} is the first block of its message. A \
                         cachePoint marks the end of the content to cache: put it after that \
                         content."
                    ),
                ));
            };
            if previous.get("reasoningContent").is_some() {
                return Err(RuleViolation::new(
                    Rule::InvalidCachePoint,
                    format!(
                        "The cachePoint block at {at} directly follows a reasoningContent block. \
                         A cachePoint can't be placed right after reasoning content."
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_cache_point_type(cache_point: &Value, at: &str) -> Result<(), RuleViolation> {
    let kind = cache_point.get("type").and_then(Value::as_str);
    if kind == Some("default") {
        return Ok(());
    }
    Err(RuleViolation::new(
        Rule::InvalidCachePoint,
        format!(
            "1 validation error detected: Value '{}' at '{at}.cachePoint.type' failed to satisfy \
             constraint: Member must satisfy enum value set: [default]",
            kind.unwrap_or("null")
        ),
    ))
}

/// Checks `guardrailConfig` when present.
fn check_guardrail_config(body: &Map<String, Value>) -> Result<(), RuleViolation> {
    let config = match body.get("guardrailConfig") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(config)) => config,
        Some(_) => {
            return Err(RuleViolation::new(
                Rule::Malformed,
                "Malformed input request: guardrailConfig must be an object.",
            ));
        }
    };
    let invalid = |message: String| Err(RuleViolation::new(Rule::InvalidGuardrailConfig, message));
    for field in ["guardrailIdentifier", "guardrailVersion"] {
        match config.get(field).and_then(Value::as_str) {
            None => {
                return invalid(format!(
                    "1 validation error detected: Value null at 'guardrailConfig.{field}' \
                     failed to satisfy constraint: Member must not be null"
                ));
            }
            Some(value) if value.trim().is_empty() => {
                return invalid(format!(
                    "1 validation error detected: Value '{value}' at 'guardrailConfig.{field}' \
                     failed to satisfy constraint: Member must have length greater than or \
                     equal to 1"
                ));
            }
            Some(_) => {}
        }
    }
    let version = config
        .get("guardrailVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !is_guardrail_version(version) {
        return invalid(format!(
            "1 validation error detected: Value '{version}' at 'guardrailConfig.guardrailVersion' \
             failed to satisfy constraint: Member must satisfy regular expression pattern: \
             (([1-9][0-9]{{0,7}})|(DRAFT))"
        ));
    }
    let enums: [(&str, &[&str]); 2] = [
        ("trace", &["enabled", "disabled", "enabled_full"]),
        ("streamProcessingMode", &["sync", "async"]),
    ];
    for (field, allowed) in enums {
        let Some(value) = config.get(field) else {
            continue;
        };
        let text = value.as_str();
        if !text.is_some_and(|text| allowed.contains(&text)) {
            return invalid(format!(
                "1 validation error detected: Value '{}' at 'guardrailConfig.{field}' failed to \
                 satisfy constraint: Member must satisfy enum value set: [{}]",
                text.unwrap_or("null"),
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// `DRAFT`, or a version number of up to 8 digits without a leading zero.
fn is_guardrail_version(version: &str) -> bool {
    version == "DRAFT"
        || (!version.is_empty()
            && version.len() <= 8
            && !version.starts_with('0')
            && version.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks `toolConfig` when present; returns whether it is.
fn check_tool_config(body: &Map<String, Value>) -> Result<bool, RuleViolation> {
    let tool_config = match body.get("toolConfig") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Object(tool_config)) => tool_config,
        Some(_) => {
            return Err(RuleViolation::new(
                Rule::Malformed,
                "Malformed input request: toolConfig must be an object.",
            ));
        }
    };
    let tools = match tool_config.get("tools") {
        Some(Value::Array(tools)) if !tools.is_empty() => tools,
        Some(Value::Array(_)) => {
            return Err(RuleViolation::new(
                Rule::NoTools,
                "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
            ));
        }
        _ => {
            return Err(RuleViolation::new(
                Rule::NoTools,
                "1 validation error detected: Value null at 'toolConfig.tools' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
    };
    let mut names = HashSet::new();
    for (index, tool) in tools.iter().enumerate() {
        // Other members of the Tool union (cachePoint, systemTool) carry no spec to check.
        let Some(spec) = tool.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        check_tool_name(index, name)?;
        if !names.insert(name) {
            return Err(RuleViolation::new(
                Rule::DuplicateToolName,
                format!(
                    "The toolConfig field contains duplicate tool names: {name}. Tool names must \
                     be unique."
                ),
            ));
        }
        let description = spec.get("description").and_then(Value::as_str);
        if description.is_none_or(|description| description.trim().is_empty()) {
            return Err(RuleViolation::new(
                Rule::EmptyToolDescription,
                format!(
                    "1 validation error detected: Value at \
                     'toolConfig.tools.{index}.member.toolSpec.description' failed to satisfy \
                     constraint: Member must have length greater than or equal to 1"
                ),
            ));
        }
        let schema = spec
            .get("inputSchema")
            .and_then(|schema| schema.get("json"));
        if let Err(why) = check_input_schema(schema) {
            return Err(RuleViolation::new(
                Rule::InvalidInputSchema,
                format!(
                    "The value at toolConfig.tools.{index}.toolSpec.inputSchema.json is invalid: \
                     {why}"
                ),
            ));
        }
    }
    Ok(true)
}

fn check_tool_name(index: usize, name: &str) -> Result<(), RuleViolation> {
    let at = format!("toolConfig.tools.{index}.member.toolSpec.name");
    if name.is_empty() {
        return Err(RuleViolation::new(
            Rule::InvalidToolName,
            format!(
                "1 validation error detected: Value '' at '{at}' failed to satisfy constraint: \
                 Member must have length greater than or equal to 1"
            ),
        ));
    }
    if name.chars().count() > 64 {
        return Err(RuleViolation::new(
            Rule::InvalidToolName,
            format!(
                "1 validation error detected: Value '{name}' at '{at}' failed to satisfy \
                 constraint: Member must have length less than or equal to 64"
            ),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(RuleViolation::new(
            Rule::InvalidToolName,
            format!(
                "1 validation error detected: Value '{name}' at '{at}' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_-]{{1,64}}$"
            ),
        ));
    }
    Ok(())
}

fn check_input_schema(schema: Option<&Value>) -> Result<(), String> {
    let Some(schema) = schema else {
        return Err("inputSchema.json is required".to_owned());
    };
    if !schema.is_object() {
        return Err("the schema must be a JSON object".to_owned());
    }
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err("the schema must have a top-level \"type\": \"object\"".to_owned());
    }
    check_refs(schema, schema)
}

/// Keywords whose values are data, not schemas: a `$ref` key inside them is not a reference.
const DATA_KEYWORDS: [&str; 4] = ["const", "enum", "default", "examples"];

fn check_refs(root: &Value, node: &Value) -> Result<(), String> {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                resolve_ref(root, reference)?;
            }
            for (key, value) in map {
                if key == "properties" || key == "$defs" || key == "definitions" {
                    // Maps of name to schema: the names are not keywords.
                    if let Value::Object(schemas) = value {
                        for schema in schemas.values() {
                            check_refs(root, schema)?;
                        }
                    }
                } else if !DATA_KEYWORDS.contains(&key.as_str()) {
                    check_refs(root, value)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| check_refs(root, item)),
        _ => Ok(()),
    }
}

fn resolve_ref(root: &Value, reference: &str) -> Result<(), String> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(format!(
            "$ref \"{reference}\" points outside the schema; only local references such as \
             #/$defs/Name or #/definitions/Name are supported"
        ));
    };
    if pointer.is_empty() {
        return Ok(());
    }
    let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
    if root.pointer(&decoded).is_some() {
        Ok(())
    } else {
        Err(format!(
            "$ref \"{reference}\" does not resolve inside the schema"
        ))
    }
}

fn check_tool_pairing(messages: &[WireMessage<'_>]) -> Result<(), RuleViolation> {
    for (index, message) in messages.iter().enumerate() {
        if message.role != "user" {
            continue;
        }
        let previous_uses: &[&str] = match index.checked_sub(1).map(|i| &messages[i]) {
            Some(previous) if previous.role == "assistant" => &previous.tool_uses,
            _ => &[],
        };
        if message.tool_results.len() > previous_uses.len() {
            return Err(RuleViolation::new(
                Rule::ExtraToolResults,
                format!(
                    "The number of toolResult blocks at messages.{index}.content exceeds the \
                     number of toolUse blocks of previous turn."
                ),
            ));
        }
        let missing: Vec<&str> = previous_uses
            .iter()
            .copied()
            .filter(|id| !message.tool_results.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(RuleViolation::new(
                Rule::MissingToolResults,
                format!(
                    "Expected toolResult blocks at messages.{index}.content for the following \
                     Ids: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool_config() -> Value {
        json!({"tools": [{"toolSpec": {
            "name": "get_weather",
            "description": "Weather for a city",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}
        }}]})
    }

    fn rule_of(body: Value) -> Option<Rule> {
        check_converse_request(&body).err().map(|v| v.rule())
    }

    #[test]
    fn a_plain_question_passes() {
        assert_eq!(
            rule_of(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})),
            None
        );
    }

    #[test]
    fn a_complete_tool_turn_passes() {
        let body = json!({
            "messages": [
                {"role": "user", "content": [{"text": "weather?"}]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "a", "name": "get_weather", "input": {}}},
                    {"toolUse": {"toolUseId": "b", "name": "get_weather", "input": {}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "b", "content": [{"text": "1"}]}},
                    {"toolResult": {"toolUseId": "a", "content": [{"json": {"t": 2}}]}}
                ]}
            ],
            "toolConfig": tool_config()
        });
        assert_eq!(rule_of(body), None);
    }

    #[test]
    fn refs_must_resolve_locally() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/definitions/B"}},
            "$defs": {"A": {"type": "string"}},
            "definitions": {"B": {"type": "integer"}},
            "default": {"$ref": "not a reference"}
        });
        assert_eq!(check_input_schema(Some(&schema)), Ok(()));
        let broken = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}});
        assert!(check_input_schema(Some(&broken)).is_err());
        let remote = json!({"type": "object", "properties": {"a": {"$ref": "http://x/y"}}});
        assert!(check_input_schema(Some(&remote)).is_err());
    }

    #[test]
    fn extra_results_are_counted_before_missing_ids() {
        let body = json!({
            "messages": [
                {"role": "user", "content": [{"toolResult": {"toolUseId": "x", "content": []}}]}
            ],
            "toolConfig": tool_config()
        });
        let violation = check_converse_request(&body).unwrap_err();
        assert_eq!(violation.rule(), Rule::ExtraToolResults);
        assert!(violation.message().contains("messages.0.content"));
    }
}
