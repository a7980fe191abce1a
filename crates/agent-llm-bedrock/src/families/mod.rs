//! What each Bedrock model family accepts on the Converse API: one table, every cell with its
//! source (an AWS page, or a public report that quotes real Bedrock's answer).
//!
//! The client sends an optional feature of its own (cache checkpoints, a default output limit,
//! greedy decoding for tool calls, a forced tool choice for a typed answer) only where this
//! table says the family takes it, and shapes each request to the family's rules (no system
//! block where none is taken, tool results alone in their turn, …). A model id the table does
//! not know (a custom model, a provisioned-throughput or application inference profile ARN)
//! gets no optional feature at all: only what the user asked for explicitly is sent.
//!
//! `docs/bedrock-models.md` is [`markdown_table`] (a test keeps them equal).

mod sources;
mod table;

use std::fmt::Write as _;

pub use table::KNOWN_MODELS;

/// The Converse API's table of supported models and features.
pub(crate) use sources::FEATURES as FEATURES_SOURCE;
/// Where the inference profiles and the Regions they serve are listed.
pub(crate) use sources::PROFILE_REGION as PROFILE_SOURCE;

use sources as src;

/// A value of the table and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it comes from: one or more addresses separated by ` ; `.
    pub source: &'static str,
}

const fn cell<T>(value: T, source: &'static str) -> Sourced<T> {
    Sourced { value, source }
}

/// A family of models that take the same request shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelFamily {
    /// Anthropic Claude 3, 3.5, 3.7, 4, 4.5, 4.6, 4.7+, 5.
    AnthropicClaude,
    /// Amazon Nova 1: Micro, Lite, Pro, Premier.
    AmazonNova,
    /// Amazon Nova 2.
    AmazonNova2,
    /// Meta Llama 3.x and 4.
    MetaLlama,
    /// Mistral AI: Mistral 7B, Mixtral, Mistral Large and Small, Pixtral, Ministral.
    Mistral,
    /// Cohere Command R and R+.
    CohereCommandR,
    /// Cohere Command and Command Light (legacy text models).
    CohereCommand,
    /// AI21 Labs Jamba.
    Ai21Jamba,
    /// DeepSeek R1 and V3.
    DeepSeek,
    /// OpenAI gpt-oss.
    OpenAiGptOss,
    /// Qwen3.
    Qwen,
    /// Writer Palmyra.
    WriterPalmyra,
    /// Amazon Titan Text.
    AmazonTitanText,
}

impl ModelFamily {
    /// The family's name, as the docs write it.
    pub fn name(self) -> &'static str {
        match self {
            ModelFamily::AnthropicClaude => "Anthropic Claude",
            ModelFamily::AmazonNova => "Amazon Nova",
            ModelFamily::AmazonNova2 => "Amazon Nova 2",
            ModelFamily::MetaLlama => "Meta Llama",
            ModelFamily::Mistral => "Mistral AI",
            ModelFamily::CohereCommandR => "Cohere Command R",
            ModelFamily::CohereCommand => "Cohere Command",
            ModelFamily::Ai21Jamba => "AI21 Jamba",
            ModelFamily::DeepSeek => "DeepSeek",
            ModelFamily::OpenAiGptOss => "OpenAI gpt-oss",
            ModelFamily::Qwen => "Qwen",
            ModelFamily::WriterPalmyra => "Writer Palmyra",
            ModelFamily::AmazonTitanText => "Amazon Titan Text",
        }
    }
}

/// Where a model takes prompt-cache checkpoints (`cachePoint` blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheFields {
    /// After the system prompt.
    pub system: bool,
    /// In messages.
    pub messages: bool,
    /// After the tool definitions (`toolConfig.tools`).
    pub tools: bool,
    /// In a message that holds `toolUse` or `toolResult` blocks.
    pub in_tool_turns: bool,
    /// The fewest tokens a cached prefix must hold (a checkpoint before that is silently not
    /// cached).
    pub min_tokens: u32,
}

impl CacheFields {
    /// No prompt caching.
    pub const NONE: CacheFields = CacheFields {
        system: false,
        messages: false,
        tools: false,
        in_tool_turns: false,
        min_tokens: 0,
    };

    /// Whether the model takes checkpoints anywhere.
    pub fn any(&self) -> bool {
        self.system || self.messages || self.tools
    }
}

/// The most cache checkpoints one request may hold (every family with prompt caching).
pub const MAX_CACHE_POINTS: usize = 4;

/// How a model is asked to reason before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasoningShape {
    /// It has no reasoning setting.
    None,
    /// `thinking: {type: enabled, budget_tokens}` (Claude 3.7 to 4.5).
    AnthropicBudget,
    /// `thinking: {type: adaptive}` with `output_config.effort`, and still the budget form
    /// (Claude 4.6).
    AnthropicAdaptiveOrBudget,
    /// `thinking: {type: adaptive}` with `output_config.effort` only (Claude Opus 4.7 and
    /// later, Claude 5).
    AnthropicAdaptive,
    /// `reasoningConfig: {type: enabled, maxReasoningEffort}` (Nova 2).
    NovaReasoningConfig,
    /// `reasoning_effort: low|medium|high` (gpt-oss).
    ReasoningEffort,
    /// The model always reasons (DeepSeek R1); nothing to ask for.
    AlwaysOn,
}

/// What may be sent back of the model's own reasoning blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasoningReplay {
    /// Exactly as written, with its signature (Claude).
    Signed,
    /// The text without a signature.
    Unsigned,
    /// Nothing: reasoning blocks are left out of the request.
    Never,
}

/// What a tool call id may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolCallIds {
    /// Any id of `[a-zA-Z0-9_-]`.
    Any,
    /// Exactly nine letters and digits (Mistral).
    NineAlphanumeric,
}

/// Which JSON Schema a tool's input schema may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolSchema {
    /// Any object schema.
    JsonSchema,
    /// An object schema whose top level holds only `type`, `properties` and `required` (and
    /// the `$defs` its references need) (Nova).
    TopLevelTypePropertiesRequired,
}

/// How tool calls are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolDecoding {
    /// The model's default.
    Default,
    /// Greedy (`additionalModelRequestFields.inferenceConfig.topK = 1`), as AWS advises for
    /// Nova's tool calls.
    GreedyTopK,
}

/// Which sampling settings go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sampling {
    /// `temperature` and `topP`, together or alone.
    TemperatureAndTopP,
    /// `temperature` or `topP`, not both.
    TemperatureOrTopP,
    /// No `temperature` (nor `topP`).
    NoTemperature,
}

/// What a model accepts on Converse, cell by cell, each with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// A `system` prompt.
    pub system: Sourced<bool>,
    /// Tool use (`toolConfig`).
    pub tools: Sourced<bool>,
    /// Tool use in ConverseStream.
    pub tools_streaming: Sourced<bool>,
    /// `toolChoice: any`.
    pub tool_choice_any: Sourced<bool>,
    /// `toolChoice: tool`.
    pub tool_choice_tool: Sourced<bool>,
    /// Prompt-cache checkpoints.
    pub cache: Sourced<CacheFields>,
    /// How reasoning is asked for.
    pub reasoning: Sourced<ReasoningShape>,
    /// What of the model's reasoning goes back.
    pub reasoning_replay: Sourced<ReasoningReplay>,
    /// Document blocks.
    pub documents: Sourced<bool>,
    /// Image blocks.
    pub images: Sourced<bool>,
    /// Images and documents from S3 locations.
    pub s3_media: Sourced<bool>,
    /// Images and documents inside tool results.
    pub media_in_tool_results: Sourced<bool>,
    /// `status` on a tool result.
    pub tool_result_status: Sourced<bool>,
    /// Whether a user turn holding tool results must hold nothing else.
    pub tool_results_alone: Sourced<bool>,
    /// Whether an assistant turn holding tool calls must hold no text.
    pub tool_use_alone: Sourced<bool>,
    /// What a tool call id may be.
    pub tool_call_ids: Sourced<ToolCallIds>,
    /// Which tool input schemas it takes.
    pub tool_schema: Sourced<ToolSchema>,
    /// How tool calls should be decoded.
    pub tool_decoding: Sourced<ToolDecoding>,
    /// Which sampling settings go together.
    pub sampling: Sourced<Sampling>,
    /// The most tokens one reply may hold (`maxTokens` may not be more).
    pub max_output_tokens: Sourced<u32>,
    /// Guardrails, in Converse and in ConverseStream.
    pub guardrails: Sourced<bool>,
}

/// A model the table knows.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct KnownModel {
    /// Its name (`Claude Sonnet 4`).
    pub name: &'static str,
    /// Its family.
    pub family: ModelFamily,
    /// The base ids it answers to, as prefixes (`anthropic.claude-sonnet-4`).
    pub ids: &'static [&'static str],
    /// What it accepts.
    pub capabilities: Capabilities,
}

/// The geographic prefixes of cross-region inference profiles (`us.`, `eu.`, …).
pub const PROFILE_PREFIXES: [&str; 10] = [
    "us", "eu", "apac", "jp", "au", "ca", "us-gov", "global", "amer", "sa",
];

/// A model id resolved against the table.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The id as given.
    pub model_id: String,
    /// The cross-region profile's geography (`us`, `eu`, …), if the id names one.
    pub geography: Option<String>,
    /// The base model id (`anthropic.claude-sonnet-4-20250514-v1:0`), when the id names one.
    pub base_id: Option<String>,
    /// The model, when the table knows it.
    pub known: Option<&'static KnownModel>,
}

impl ModelInfo {
    /// Resolves a model id, an inference profile id, or an ARN: geographic prefixes (`us.`,
    /// `eu.`, `apac.`, `global.`, …) and `foundation-model/` and `inference-profile/` ARNs
    /// resolve to their base model; other ARNs (application inference profiles, provisioned,
    /// custom and imported models) name no base model and resolve to an unknown model.
    pub fn resolve(model_id: &str) -> Self {
        let (geography, base_id) = split_model_id(model_id);
        let known = base_id.as_deref().and_then(|base| {
            let base = base.to_ascii_lowercase();
            KNOWN_MODELS
                .iter()
                .find(|model| model.ids.iter().any(|id| base.starts_with(id)))
        });
        Self {
            model_id: model_id.to_owned(),
            geography,
            base_id,
            known,
        }
    }

    /// The model's family, when the table knows it.
    pub fn family(&self) -> Option<ModelFamily> {
        self.known.map(|model| model.family)
    }

    /// What the model accepts: the table's row, or [`Capabilities::UNKNOWN`].
    pub fn capabilities(&self) -> &'static Capabilities {
        self.known
            .map_or(&Capabilities::UNKNOWN, |model| &model.capabilities)
    }

    /// The model's name for messages: the table's, else the id.
    pub fn name(&self) -> &str {
        self.known
            .map_or(self.model_id.as_str(), |model| model.name)
    }
}

/// The geography and base id of a model id or ARN.
fn split_model_id(model_id: &str) -> (Option<String>, Option<String>) {
    let id = model_id.trim();
    let (resource, from_arn) = match id.strip_prefix("arn:") {
        // arn:PARTITION:bedrock:REGION:ACCOUNT:RESOURCE-TYPE/ID
        Some(rest) => match rest.splitn(5, ':').nth(4) {
            Some(resource) => (resource, true),
            None => return (None, None),
        },
        None => (id, false),
    };
    let id = if from_arn {
        if let Some(base) = resource.strip_prefix("foundation-model/") {
            return (None, Some(base.to_owned()));
        }
        match resource.strip_prefix("inference-profile/") {
            Some(profile) => profile,
            // Application inference profiles, provisioned, custom and imported models: the
            // ARN does not say which model is behind it.
            None => return (None, None),
        }
    } else {
        resource
    };
    if let Some((prefix, rest)) = id.split_once('.')
        && PROFILE_PREFIXES.contains(&prefix.to_ascii_lowercase().as_str())
        && rest.contains('.')
    {
        return (Some(prefix.to_ascii_lowercase()), Some(rest.to_owned()));
    }
    (None, Some(id.to_owned()))
}

impl Capabilities {
    /// What the client assumes of a model the table does not know: every feature the user
    /// asks for is sent as asked, and none is added on the client's own (no cache checkpoint,
    /// no default output limit, no forced tool choice, no greedy decoding, no `status`).
    pub const UNKNOWN: Capabilities = Capabilities {
        system: cell(true, src::FEATURES),
        tools: cell(true, src::FEATURES),
        tools_streaming: cell(true, src::FEATURES),
        tool_choice_any: cell(false, src::TOOL_CHOICE),
        tool_choice_tool: cell(false, src::TOOL_CHOICE),
        cache: cell(CacheFields::NONE, src::NO_CACHING),
        reasoning: cell(ReasoningShape::None, src::FEATURES),
        reasoning_replay: cell(ReasoningReplay::Signed, src::SIGNED_REPLAY),
        documents: cell(true, src::FEATURES),
        images: cell(true, src::FEATURES),
        s3_media: cell(true, src::S3_MEDIA),
        media_in_tool_results: cell(true, src::TOOL_RESULT_MEDIA),
        tool_result_status: cell(false, src::TOOL_RESULT_STATUS),
        tool_results_alone: cell(false, src::TOOL_RESULTS_ALONE),
        tool_use_alone: cell(false, src::TOOL_USE_ALONE),
        tool_call_ids: cell(ToolCallIds::Any, src::TOOL_USE_BLOCK),
        tool_schema: cell(ToolSchema::JsonSchema, src::TOOL_INPUT_SCHEMA),
        tool_decoding: cell(ToolDecoding::Default, src::INFERENCE_CONFIG),
        sampling: cell(Sampling::TemperatureAndTopP, src::INFERENCE_CONFIG),
        max_output_tokens: cell(0, src::INFERENCE_CONFIG),
        guardrails: cell(true, src::GUARDRAIL_STREAM),
    };
}

/// The capability table as Markdown, with a numbered source for every cell:
/// `docs/bedrock-models.md` holds it.
pub fn markdown_table() -> String {
    let mut sources: Vec<&'static str> = Vec::new();
    let mut cite = |source: &'static str| -> String {
        let index = match sources.iter().position(|s| *s == source) {
            Some(index) => index,
            None => {
                sources.push(source);
                sources.len() - 1
            }
        };
        format!("[{n}](#source-{n})", n = index + 1)
    };
    let yes_no = |value: bool| if value { "yes" } else { "no" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Every request without a `maxTokens` of its own asks for the model's maximum output \
         (the table's last number column): without one, Converse stops Claude at 4,096 tokens \
         ({}).\n",
        src::DEFAULT_MAX_TOKENS
            .split(" ; ")
            .map(|address| format!("<{address}>"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let header = [
        "model (base ids)",
        "system",
        "tools",
        "tools streaming",
        "toolChoice any / tool",
        "cache checkpoints (min tokens)",
        "reasoning",
        "reasoning sent back",
        "documents / images / S3",
        "media in tool results",
        "toolResult status",
        "tool results alone / tool use alone",
        "tool call ids",
        "tool schema",
        "tool decoding",
        "sampling",
        "max output tokens",
        "guardrails",
    ];
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    let rows = KNOWN_MODELS
        .iter()
        .map(|model| {
            (
                format!(
                    "{}: {} ({})",
                    model.family.name(),
                    model.name,
                    model
                        .ids
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &model.capabilities,
            )
        })
        .chain(std::iter::once((
            "any other id: custom, provisioned, imported models, application inference profiles"
                .to_owned(),
            &Capabilities::UNKNOWN,
        )));
    for (name, c) in rows {
        let cache = c.cache.value;
        let cache_text = if cache.any() {
            let mut fields = Vec::new();
            if cache.system {
                fields.push("system");
            }
            if cache.messages {
                fields.push(if cache.in_tool_turns {
                    "messages"
                } else {
                    "messages without tool blocks"
                });
            }
            if cache.tools {
                fields.push("tools");
            }
            format!("{} ({})", fields.join(", "), cache.min_tokens)
        } else {
            "none".to_owned()
        };
        let max_output = match c.max_output_tokens.value {
            0 => "not sent".to_owned(),
            n => n.to_string(),
        };
        let cells = [
            format!("{} {}", yes_no(c.system.value), cite(c.system.source)),
            format!("{} {}", yes_no(c.tools.value), cite(c.tools.source)),
            format!(
                "{} {}",
                yes_no(c.tools_streaming.value),
                cite(c.tools_streaming.source)
            ),
            format!(
                "{} / {} {} {}",
                yes_no(c.tool_choice_any.value),
                yes_no(c.tool_choice_tool.value),
                cite(c.tool_choice_any.source),
                if c.tool_choice_tool.source == c.tool_choice_any.source {
                    String::new()
                } else {
                    cite(c.tool_choice_tool.source)
                }
            ),
            format!("{cache_text} {}", cite(c.cache.source)),
            format!("{:?} {}", c.reasoning.value, cite(c.reasoning.source)),
            format!(
                "{:?} {}",
                c.reasoning_replay.value,
                cite(c.reasoning_replay.source)
            ),
            format!(
                "{} / {} / {} {} {} {}",
                yes_no(c.documents.value),
                yes_no(c.images.value),
                yes_no(c.s3_media.value),
                cite(c.documents.source),
                cite(c.images.source),
                cite(c.s3_media.source)
            ),
            format!(
                "{} {}",
                yes_no(c.media_in_tool_results.value),
                cite(c.media_in_tool_results.source)
            ),
            format!(
                "{} {}",
                yes_no(c.tool_result_status.value),
                cite(c.tool_result_status.source)
            ),
            format!(
                "{} / {} {} {}",
                yes_no(c.tool_results_alone.value),
                yes_no(c.tool_use_alone.value),
                cite(c.tool_results_alone.source),
                cite(c.tool_use_alone.source)
            ),
            format!(
                "{:?} {}",
                c.tool_call_ids.value,
                cite(c.tool_call_ids.source)
            ),
            format!("{:?} {}", c.tool_schema.value, cite(c.tool_schema.source)),
            format!(
                "{:?} {}",
                c.tool_decoding.value,
                cite(c.tool_decoding.source)
            ),
            format!("{:?} {}", c.sampling.value, cite(c.sampling.source)),
            format!("{max_output} {}", cite(c.max_output_tokens.source)),
            format!(
                "{} {}",
                yes_no(c.guardrails.value),
                cite(c.guardrails.source)
            ),
        ];
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n### Sources\n");
    for (index, source) in sources.iter().enumerate() {
        let links: Vec<String> = source
            .split(" ; ")
            .map(|address| format!("<{address}>"))
            .collect();
        let _ = writeln!(
            out,
            "{n}. <a id=\"source-{n}\"></a>{}",
            links.join(" · "),
            n = index + 1
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_prefixes_and_arns_resolve_to_the_base_model() {
        for id in [
            "us.amazon.nova-pro-v1:0",
            "eu.amazon.nova-pro-v1:0",
            "apac.amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0",
        ] {
            let info = ModelInfo::resolve(id);
            assert_eq!(info.name(), "Nova Pro", "{id}");
            assert_eq!(info.family(), Some(ModelFamily::AmazonNova), "{id}");
        }
        assert_eq!(
            ModelInfo::resolve("global.anthropic.claude-sonnet-4-5-20250929-v1:0").name(),
            "Claude Sonnet 4.5"
        );
        assert_eq!(
            ModelInfo::resolve("us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0").name(),
            "Claude 3.7 Sonnet"
        );
        assert_eq!(
            ModelInfo::resolve("us.anthropic.claude-sonnet-4-20250514-v1:0").name(),
            "Claude Sonnet 4"
        );
        assert_eq!(
            ModelInfo::resolve("us.anthropic.claude-opus-4-1-20250805-v1:0").name(),
            "Claude Opus 4.1"
        );
        assert_eq!(
            ModelInfo::resolve("eu.amazon.nova-pro-v1:0")
                .geography
                .as_deref(),
            Some("eu")
        );
        for unknown in [
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdef123456",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdef123456",
            "my-custom-model",
            "test-model",
        ] {
            let info = ModelInfo::resolve(unknown);
            assert!(info.known.is_none(), "{unknown}");
            assert_eq!(*info.capabilities(), Capabilities::UNKNOWN);
        }
    }

    #[test]
    fn unknown_models_get_no_optional_feature() {
        let c = Capabilities::UNKNOWN;
        assert!(!c.cache.value.any());
        assert_eq!(c.max_output_tokens.value, 0);
        assert!(!c.tool_choice_any.value && !c.tool_choice_tool.value);
        assert_eq!(c.tool_decoding.value, ToolDecoding::Default);
        assert!(!c.tool_result_status.value);
    }

    #[test]
    fn every_cell_names_a_source_of_addresses() {
        for model in KNOWN_MODELS {
            let c = &model.capabilities;
            let sources = [
                c.system.source,
                c.tools.source,
                c.tools_streaming.source,
                c.tool_choice_any.source,
                c.tool_choice_tool.source,
                c.cache.source,
                c.reasoning.source,
                c.reasoning_replay.source,
                c.documents.source,
                c.images.source,
                c.s3_media.source,
                c.media_in_tool_results.source,
                c.tool_result_status.source,
                c.tool_results_alone.source,
                c.tool_use_alone.source,
                c.tool_call_ids.source,
                c.tool_schema.source,
                c.tool_decoding.source,
                c.sampling.source,
                c.max_output_tokens.source,
                c.guardrails.source,
            ];
            for source in sources {
                assert!(
                    source.split(" ; ").all(|a| a.starts_with("https://")),
                    "{}: {source}",
                    model.name
                );
            }
        }
    }

    #[test]
    fn the_table_orders_specific_ids_before_general_ones() {
        // A prefix that matches an earlier entry's id would make that later entry unreachable.
        for (index, model) in KNOWN_MODELS.iter().enumerate() {
            for id in model.ids {
                let first = KNOWN_MODELS
                    .iter()
                    .position(|m| m.ids.iter().any(|p| id.starts_with(p)));
                assert_eq!(first, Some(index), "{id} is shadowed by an earlier entry");
            }
        }
    }

    /// One real id of every row of the table, as Bedrock names them.
    const ONE_ID_PER_ROW: &[&str] = &[
        "anthropic.claude-opus-4-8",
        "anthropic.claude-opus-4-7",
        "anthropic.claude-opus-5",
        "anthropic.claude-sonnet-5",
        "anthropic.claude-fable-5",
        "anthropic.claude-mythos-preview",
        "anthropic.claude-opus-4-6-v1",
        "anthropic.claude-sonnet-4-6",
        "anthropic.claude-opus-4-5-20251101-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "anthropic.claude-opus-4-1-20250805-v1:0",
        "anthropic.claude-opus-4-20250514-v1:0",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-3-sonnet-20240229-v1:0",
        "anthropic.claude-3-opus-20240229-v1:0",
        "amazon.nova-2-lite-v1:0",
        "amazon.nova-micro-v1:0",
        "amazon.nova-lite-v1:0",
        "amazon.nova-pro-v1:0",
        "amazon.nova-premier-v1:0",
        "meta.llama3-8b-instruct-v1:0",
        "meta.llama3-70b-instruct-v1:0",
        "meta.llama3-2-1b-instruct-v1:0",
        "meta.llama3-2-3b-instruct-v1:0",
        "meta.llama3-2-11b-instruct-v1:0",
        "meta.llama3-2-90b-instruct-v1:0",
        "meta.llama4-scout-17b-instruct-v1:0",
        "meta.llama4-maverick-17b-instruct-v1:0",
        "meta.llama3-1-8b-instruct-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "meta.llama3-3-70b-instruct-v1:0",
        "mistral.mistral-7b-instruct-v0:2",
        "mistral.mixtral-8x7b-instruct-v0:1",
        "mistral.mistral-large-2402-v1:0",
        "mistral.mistral-large-2407-v1:0",
        "mistral.pixtral-large-2502-v1:0",
        "mistral.ministral-3-8b-instruct",
        "mistral.mistral-small-2402-v1:0",
        "cohere.command-r-v1:0",
        "cohere.command-r-plus-v1:0",
        "cohere.command-text-v14",
        "cohere.command-light-text-v14",
        "ai21.jamba-instruct-v1:0",
        "ai21.jamba-1-5-large-v1:0",
        "ai21.jamba-1-5-mini-v1:0",
        "deepseek.r1-v1:0",
        "deepseek.v3-v1:0",
        "openai.gpt-oss-20b-1:0",
        "openai.gpt-oss-120b-1:0",
        "qwen.qwen3-32b-v1:0",
        "writer.palmyra-x4-v1:0",
        "writer.palmyra-x5-v1:0",
        "amazon.titan-text-premier-v1:0",
        "amazon.titan-text-express-v1",
        "amazon.titan-text-lite-v1",
    ];

    /// agent-testkit's stand-in cannot depend on this crate (this crate tests with it), so it
    /// repeats the table's output limits; this keeps the two equal: for every row, `maxTokens`
    /// at the table's limit is taken and one more is refused, in Bedrock's words.
    #[test]
    fn the_standin_refuses_max_tokens_above_the_tables_limit() {
        use agent_testkit::{RequestTarget, Rule, check_converse_request_for};
        use serde_json::json;

        for model in KNOWN_MODELS {
            assert!(
                ONE_ID_PER_ROW.iter().any(|id| ModelInfo::resolve(id)
                    .known
                    .is_some_and(|m| m.name == model.name)),
                "no id of the row {} is checked",
                model.name
            );
        }
        for id in ONE_ID_PER_ROW {
            let info = ModelInfo::resolve(id);
            assert!(info.known.is_some(), "{id} is not in the table");
            let limit = info.capabilities().max_output_tokens.value;
            let body = |max_tokens: u32| {
                json!({
                    "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                    "inferenceConfig": {"maxTokens": max_tokens},
                })
            };
            let target = RequestTarget::converse(id);
            if let Err(violation) = check_converse_request_for(&target, &body(limit)) {
                assert_ne!(
                    violation.rule(),
                    Rule::MaxTokensTooLarge,
                    "{id}: the stand-in refuses the table's {limit}: {}",
                    violation.message()
                );
            }
            let Err(refused) = check_converse_request_for(&target, &body(limit + 1)) else {
                panic!(
                    "{id}: the stand-in takes {} tokens, above the table's {limit}",
                    limit + 1
                );
            };
            assert_eq!(refused.rule(), Rule::MaxTokensTooLarge, "{id}");
            assert_eq!(
                refused.message(),
                format!(
                    "The maximum tokens you requested exceeds the model limit of {limit}. Try \
                     again with a maximum tokens value that is lower than {limit}."
                ),
                "{id}"
            );
        }
    }

    #[test]
    fn the_docs_show_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bedrock-models.md");
        let table = markdown_table();
        if std::env::var_os("MINIMALAGENT_BLESS").is_some() {
            let doc = std::fs::read_to_string(path).unwrap();
            let start = doc.find("<!-- table:start -->").unwrap() + "<!-- table:start -->".len();
            let end = doc.find("<!-- table:end -->").unwrap();
            let updated = format!("{}\n{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(path, updated).unwrap();
        }
        let doc = std::fs::read_to_string(path).unwrap();
        assert!(
            doc.contains(&table),
            "docs/bedrock-models.md does not hold the current table: run \
             MINIMALAGENT_BLESS=1 cargo test -p minimalagent-llm-bedrock --lib the_docs_show_the_table"
        );
    }
}
