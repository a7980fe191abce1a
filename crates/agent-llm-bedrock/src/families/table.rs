//! The rows of the capability table: a baseline per family, and the models, most specific ids
//! first (`anthropic.claude-sonnet-4-5` before `anthropic.claude-sonnet-4`).
//!
//! Where sources disagree on a number (a model's output limit, a cache minimum), the row takes
//! the value Bedrock cannot refuse: the lower output limit (a higher one is a
//! ValidationException), the lower cache minimum (a checkpoint under the real minimum is only
//! not cached). Each such choice is noted beside the row.

use super::sources as src;
use super::{
    CacheFields, Capabilities, KnownModel, ModelFamily, ReasoningReplay, ReasoningShape, Sampling,
    ToolCallIds, ToolDecoding, ToolSchema, cell,
};

const fn claude_cache(min_tokens: u32) -> CacheFields {
    CacheFields {
        system: true,
        messages: true,
        tools: true,
        in_tool_turns: true,
        min_tokens,
    }
}

/// Claude 3 and later on Converse.
const CLAUDE: Capabilities = Capabilities {
    system: cell(true, src::FEATURES),
    tools: cell(true, src::FEATURES),
    tools_streaming: cell(true, src::FEATURES),
    tool_choice_any: cell(true, src::TOOL_CHOICE),
    tool_choice_tool: cell(true, src::TOOL_CHOICE),
    // Claude 3 Haiku and 3.5 Sonnet v1 answer a checkpoint with AccessDenied; 3.5 Sonnet v2
    // had caching in preview only.
    cache: cell(CacheFields::NONE, src::NO_CACHING),
    reasoning: cell(ReasoningShape::None, src::CLAUDE_THINKING),
    reasoning_replay: cell(ReasoningReplay::Signed, src::SIGNED_REPLAY),
    documents: cell(true, src::FEATURES),
    images: cell(true, src::FEATURES),
    s3_media: cell(false, src::S3_MEDIA),
    media_in_tool_results: cell(true, src::TOOL_RESULT_MEDIA),
    tool_result_status: cell(true, src::TOOL_RESULT_STATUS),
    tool_results_alone: cell(false, src::SAME_TURN_MATRIX),
    tool_use_alone: cell(false, src::SAME_TURN_MATRIX),
    tool_call_ids: cell(ToolCallIds::Any, src::TOOL_USE_BLOCK),
    tool_schema: cell(ToolSchema::JsonSchema, src::TOOL_INPUT_SCHEMA),
    tool_decoding: cell(ToolDecoding::Default, src::INFERENCE_CONFIG),
    sampling: cell(Sampling::TemperatureAndTopP, src::INFERENCE_CONFIG),
    max_output_tokens: cell(4_096, src::CLAUDE_MAX_OUTPUT),
    guardrails: cell(true, src::GUARDRAIL_STREAM),
};

/// Claude 4 to 4.5: prompt caching everywhere, budget thinking.
const CLAUDE_4: Capabilities = Capabilities {
    cache: cell(claude_cache(1_024), src::CACHING),
    reasoning: cell(ReasoningShape::AnthropicBudget, src::CLAUDE_THINKING),
    max_output_tokens: cell(64_000, src::CLAUDE_MAX_OUTPUT),
    ..CLAUDE
};

/// Claude Opus 4.7 and later: adaptive thinking only, no temperature.
const CLAUDE_ADAPTIVE_ONLY: Capabilities = Capabilities {
    cache: cell(claude_cache(4_096), src::CACHING),
    reasoning: cell(ReasoningShape::AnthropicAdaptive, src::CLAUDE_ADAPTIVE_ONLY),
    sampling: cell(Sampling::NoTemperature, src::NO_TEMPERATURE),
    max_output_tokens: cell(128_000, src::CLAUDE_ADAPTIVE_ONLY),
    ..CLAUDE
};

const fn nova_cache() -> CacheFields {
    CacheFields {
        system: true,
        messages: true,
        tools: false,
        in_tool_turns: false,
        // "1K" per checkpoint, at most 20K cached in all.
        min_tokens: 1_000,
    }
}

/// Amazon Nova 1 (Lite, Pro).
const NOVA: Capabilities = Capabilities {
    system: cell(true, src::FEATURES),
    tools: cell(true, src::FEATURES),
    tools_streaming: cell(true, src::FEATURES),
    tool_choice_any: cell(true, src::TOOL_CHOICE),
    tool_choice_tool: cell(true, src::TOOL_CHOICE),
    // System and messages, never the tools; never in a turn of tool calls or results.
    cache: cell(nova_cache(), src::NOVA_CACHE),
    reasoning: cell(ReasoningShape::None, src::NOVA1_NO_REASONING),
    // Nova writes its thinking as text; reasoning blocks (from another model of the session)
    // are not its own and are left out.
    reasoning_replay: cell(ReasoningReplay::Never, src::NOVA1_NO_REASONING),
    documents: cell(true, src::FEATURES),
    images: cell(true, src::FEATURES),
    s3_media: cell(true, src::S3_MEDIA),
    media_in_tool_results: cell(true, src::TOOL_RESULT_MEDIA),
    tool_result_status: cell(true, src::TOOL_RESULT_STATUS),
    tool_results_alone: cell(false, src::SAME_TURN_MATRIX),
    tool_use_alone: cell(false, src::SAME_TURN_MATRIX),
    tool_call_ids: cell(ToolCallIds::Any, src::TOOL_USE_BLOCK),
    tool_schema: cell(ToolSchema::TopLevelTypePropertiesRequired, src::NOVA_SCHEMA),
    tool_decoding: cell(ToolDecoding::GreedyTopK, src::NOVA_TOOLS),
    sampling: cell(Sampling::TemperatureAndTopP, src::INFERENCE_CONFIG),
    // The model cards say 5K; AWS's Nova 2 migration post says 10K. 5K cannot be refused.
    max_output_tokens: cell(5_000, src::NOVA_MAX_OUTPUT),
    guardrails: cell(true, src::GUARDRAIL_STREAM),
};

/// Amazon Nova 2: Nova's rules, and reasoning through `reasoningConfig`.
const NOVA_2: Capabilities = Capabilities {
    cache: cell(nova_cache(), src::NOVA_CACHE),
    reasoning: cell(ReasoningShape::NovaReasoningConfig, src::NOVA2_REASONING),
    reasoning_replay: cell(ReasoningReplay::Never, src::NOVA2_REASONING),
    max_output_tokens: cell(64_000, src::NOVA2_REASONING),
    ..NOVA
};

/// Meta Llama with tools (3.1, 3.2 11B/90B, 3.3, 4).
const LLAMA: Capabilities = Capabilities {
    system: cell(true, src::FEATURES),
    tools: cell(true, src::FEATURES),
    tools_streaming: cell(false, src::NO_STREAMING_TOOLS),
    tool_choice_any: cell(false, src::NO_FORCED_TOOL_CHOICE),
    tool_choice_tool: cell(false, src::NO_FORCED_TOOL_CHOICE),
    cache: cell(CacheFields::NONE, src::NO_CACHING),
    reasoning: cell(ReasoningShape::None, src::FEATURES),
    reasoning_replay: cell(ReasoningReplay::Never, src::DEEPSEEK_R1),
    documents: cell(true, src::FEATURES),
    images: cell(false, src::FEATURES),
    s3_media: cell(false, src::S3_MEDIA),
    media_in_tool_results: cell(false, src::TOOL_RESULT_MEDIA),
    tool_result_status: cell(false, src::TOOL_RESULT_STATUS),
    tool_results_alone: cell(true, src::TOOL_RESULTS_ALONE),
    tool_use_alone: cell(true, src::TOOL_USE_ALONE),
    tool_call_ids: cell(ToolCallIds::Any, src::TOOL_USE_BLOCK),
    tool_schema: cell(ToolSchema::JsonSchema, src::TOOL_INPUT_SCHEMA),
    tool_decoding: cell(ToolDecoding::Default, src::INFERENCE_CONFIG),
    sampling: cell(Sampling::TemperatureAndTopP, src::INFERENCE_CONFIG),
    // 2,048 was Bedrock's answer for Llama 3.1 70B; peer tables now say 4,096.
    max_output_tokens: cell(2_048, src::LLAMA_MAX_OUTPUT),
    guardrails: cell(true, src::FEATURES),
};

/// Mistral models with tools (Large, Small, Pixtral, Ministral).
const MISTRAL: Capabilities = Capabilities {
    tool_choice_any: cell(false, src::TOOL_CHOICE),
    tool_choice_tool: cell(false, src::TOOL_CHOICE),
    tool_call_ids: cell(ToolCallIds::NineAlphanumeric, src::MISTRAL_TOOL_IDS),
    max_output_tokens: cell(8_192, src::MISTRAL_MAX_OUTPUT),
    ..LLAMA
};

/// Models without tool use.
const NO_TOOLS: Capabilities = Capabilities {
    tools: cell(false, src::FEATURES),
    tools_streaming: cell(false, src::FEATURES),
    ..LLAMA
};

/// OpenAI gpt-oss.
const GPT_OSS: Capabilities = Capabilities {
    tools_streaming: cell(true, src::PEER_MAPS),
    tool_result_status: cell(false, src::TOOL_RESULT_STATUS),
    tool_results_alone: cell(false, src::SAME_TURN_MATRIX),
    tool_use_alone: cell(false, src::SAME_TURN_MATRIX),
    reasoning: cell(ReasoningShape::ReasoningEffort, src::GPT_OSS),
    reasoning_replay: cell(ReasoningReplay::Unsigned, src::GPT_OSS),
    max_output_tokens: cell(16_384, src::MODEL_PROFILES),
    ..LLAMA
};

/// The table. Most specific ids first.
pub static KNOWN_MODELS: &[KnownModel] = &[
    // ---------------------------------------------------------------- Anthropic Claude
    KnownModel {
        name: "Claude Opus 4.8",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4-8"],
        capabilities: CLAUDE_ADAPTIVE_ONLY,
    },
    KnownModel {
        name: "Claude Opus 4.7",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4-7"],
        capabilities: CLAUDE_ADAPTIVE_ONLY,
    },
    KnownModel {
        name: "Claude 5 (Opus, Sonnet, Fable, Mythos)",
        family: ModelFamily::AnthropicClaude,
        ids: &[
            "anthropic.claude-opus-5",
            "anthropic.claude-sonnet-5",
            "anthropic.claude-fable-5",
            "anthropic.claude-mythos",
        ],
        capabilities: Capabilities {
            // The table lists 512 for the Claude 5 models (4,096 for Mythos Preview).
            cache: cell(claude_cache(512), src::CACHING),
            max_output_tokens: cell(128_000, src::MODEL_PROFILES),
            ..CLAUDE_ADAPTIVE_ONLY
        },
    },
    KnownModel {
        name: "Claude Opus 4.6",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4-6"],
        capabilities: Capabilities {
            cache: cell(claude_cache(4_096), src::CACHING),
            reasoning: cell(
                ReasoningShape::AnthropicAdaptiveOrBudget,
                src::CLAUDE_ADAPTIVE,
            ),
            max_output_tokens: cell(128_000, src::CLAUDE_MAX_OUTPUT),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Sonnet 4.6",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-sonnet-4-6"],
        capabilities: Capabilities {
            reasoning: cell(
                ReasoningShape::AnthropicAdaptiveOrBudget,
                src::CLAUDE_ADAPTIVE,
            ),
            sampling: cell(Sampling::TemperatureOrTopP, src::TEMPERATURE_OR_TOP_P),
            // 64,000 on Bedrock per the model profiles (128,000 on Anthropic's API).
            max_output_tokens: cell(64_000, src::MODEL_PROFILES),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Opus 4.5",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4-5"],
        capabilities: Capabilities {
            cache: cell(claude_cache(4_096), src::CACHING),
            sampling: cell(Sampling::TemperatureOrTopP, src::TEMPERATURE_OR_TOP_P),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Sonnet 4.5",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-sonnet-4-5"],
        capabilities: Capabilities {
            // The caching table's copies say 1,024 and 4,096: the lower one.
            sampling: cell(Sampling::TemperatureOrTopP, src::TEMPERATURE_OR_TOP_P),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Haiku 4.5",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-haiku-4-5"],
        capabilities: Capabilities {
            cache: cell(claude_cache(4_096), src::CACHING),
            sampling: cell(Sampling::TemperatureOrTopP, src::TEMPERATURE_OR_TOP_P),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Opus 4.1",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4-1"],
        capabilities: Capabilities {
            max_output_tokens: cell(32_000, src::CLAUDE_MAX_OUTPUT),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Opus 4",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-opus-4"],
        capabilities: Capabilities {
            max_output_tokens: cell(32_000, src::CLAUDE_MAX_OUTPUT),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude Sonnet 4",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-sonnet-4"],
        capabilities: CLAUDE_4,
    },
    KnownModel {
        name: "Claude 3.7 Sonnet",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-3-7-sonnet"],
        capabilities: Capabilities {
            max_output_tokens: cell(64_000, src::CLAUDE37_MAX_OUTPUT),
            ..CLAUDE_4
        },
    },
    KnownModel {
        name: "Claude 3.5 Haiku",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-3-5-haiku"],
        capabilities: Capabilities {
            cache: cell(claude_cache(2_048), src::CACHING),
            images: cell(false, src::FEATURES),
            max_output_tokens: cell(8_192, src::CLAUDE_MAX_OUTPUT),
            ..CLAUDE
        },
    },
    KnownModel {
        name: "Claude 3.5 Sonnet v2",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-3-5-sonnet-20241022"],
        capabilities: Capabilities {
            max_output_tokens: cell(8_192, src::CLAUDE_MAX_OUTPUT),
            ..CLAUDE
        },
    },
    KnownModel {
        name: "Claude 3.5 Sonnet",
        family: ModelFamily::AnthropicClaude,
        ids: &["anthropic.claude-3-5-sonnet"],
        capabilities: Capabilities {
            max_output_tokens: cell(4_096, src::CLAUDE35_V1_MAX_OUTPUT),
            ..CLAUDE
        },
    },
    KnownModel {
        name: "Claude 3 (Haiku, Sonnet, Opus)",
        family: ModelFamily::AnthropicClaude,
        ids: &[
            "anthropic.claude-3-haiku",
            "anthropic.claude-3-sonnet",
            "anthropic.claude-3-opus",
        ],
        capabilities: CLAUDE,
    },
    // ---------------------------------------------------------------- Amazon Nova
    KnownModel {
        name: "Nova 2 Lite",
        family: ModelFamily::AmazonNova2,
        ids: &["amazon.nova-2-"],
        capabilities: NOVA_2,
    },
    KnownModel {
        name: "Nova Micro",
        family: ModelFamily::AmazonNova,
        ids: &["amazon.nova-micro"],
        capabilities: Capabilities {
            documents: cell(false, src::FEATURES),
            images: cell(false, src::FEATURES),
            s3_media: cell(false, src::FEATURES),
            media_in_tool_results: cell(false, src::FEATURES),
            ..NOVA
        },
    },
    KnownModel {
        name: "Nova Lite",
        family: ModelFamily::AmazonNova,
        ids: &["amazon.nova-lite"],
        capabilities: NOVA,
    },
    KnownModel {
        name: "Nova Pro",
        family: ModelFamily::AmazonNova,
        ids: &["amazon.nova-pro"],
        capabilities: NOVA,
    },
    KnownModel {
        name: "Nova Premier",
        family: ModelFamily::AmazonNova,
        ids: &["amazon.nova-premier"],
        capabilities: Capabilities {
            max_output_tokens: cell(32_000, src::NOVA_MAX_OUTPUT),
            ..NOVA
        },
    },
    // ---------------------------------------------------------------- Meta Llama
    KnownModel {
        name: "Llama 3 8B/70B, Llama 3.2 1B/3B (no tool use)",
        family: ModelFamily::MetaLlama,
        ids: &[
            "meta.llama3-8b",
            "meta.llama3-70b",
            "meta.llama3-2-1b",
            "meta.llama3-2-3b",
        ],
        capabilities: Capabilities {
            tools: cell(false, src::SMALL_LLAMA_NO_TOOLS),
            tools_streaming: cell(false, src::SMALL_LLAMA_NO_TOOLS),
            ..LLAMA
        },
    },
    KnownModel {
        name: "Llama 3.2 11B/90B (vision)",
        family: ModelFamily::MetaLlama,
        ids: &["meta.llama3-2-11b", "meta.llama3-2-90b"],
        capabilities: Capabilities {
            images: cell(true, src::FEATURES),
            ..LLAMA
        },
    },
    KnownModel {
        name: "Llama 4 (Scout, Maverick)",
        family: ModelFamily::MetaLlama,
        ids: &["meta.llama4"],
        capabilities: Capabilities {
            images: cell(true, src::FEATURES),
            max_output_tokens: cell(16_384, src::MODEL_PROFILES),
            ..LLAMA
        },
    },
    KnownModel {
        name: "Llama 3.1, 3.3",
        family: ModelFamily::MetaLlama,
        ids: &["meta.llama3"],
        capabilities: LLAMA,
    },
    // ---------------------------------------------------------------- Mistral AI
    KnownModel {
        name: "Mistral 7B Instruct, Mixtral 8x7B",
        family: ModelFamily::Mistral,
        ids: &["mistral.mistral-7b", "mistral.mixtral"],
        capabilities: Capabilities {
            system: cell(false, src::NO_SYSTEM),
            ..Capabilities {
                tools: cell(false, src::FEATURES),
                tools_streaming: cell(false, src::FEATURES),
                ..MISTRAL
            }
        },
    },
    KnownModel {
        name: "Mistral Large",
        family: ModelFamily::Mistral,
        ids: &["mistral.mistral-large"],
        capabilities: Capabilities {
            tool_choice_any: cell(true, src::TOOL_CHOICE),
            ..MISTRAL
        },
    },
    KnownModel {
        name: "Pixtral Large",
        family: ModelFamily::Mistral,
        ids: &["mistral.pixtral"],
        capabilities: Capabilities {
            images: cell(true, src::FEATURES),
            ..MISTRAL
        },
    },
    KnownModel {
        name: "Ministral",
        family: ModelFamily::Mistral,
        ids: &["mistral.ministral"],
        capabilities: Capabilities {
            max_output_tokens: cell(4_096, src::MODEL_PROFILES),
            ..MISTRAL
        },
    },
    KnownModel {
        name: "Mistral Small and others",
        family: ModelFamily::Mistral,
        ids: &["mistral."],
        capabilities: MISTRAL,
    },
    // ---------------------------------------------------------------- Cohere
    KnownModel {
        name: "Command R, R+",
        family: ModelFamily::CohereCommandR,
        ids: &["cohere.command-r"],
        capabilities: Capabilities {
            // Listed with tool use, but tools fail on Converse ("Invalid parameter
            // combination").
            tools: cell(false, src::COHERE_TOOLS),
            tools_streaming: cell(false, src::COHERE_TOOLS),
            max_output_tokens: cell(4_096, src::AI21_COHERE_MAX_OUTPUT),
            ..NO_TOOLS
        },
    },
    KnownModel {
        name: "Command, Command Light",
        family: ModelFamily::CohereCommand,
        ids: &["cohere.command"],
        capabilities: Capabilities {
            system: cell(false, src::FEATURES),
            max_output_tokens: cell(4_096, src::AI21_COHERE_MAX_OUTPUT),
            ..NO_TOOLS
        },
    },
    // ---------------------------------------------------------------- AI21 Labs
    KnownModel {
        name: "Jamba-Instruct",
        family: ModelFamily::Ai21Jamba,
        ids: &["ai21.jamba-instruct"],
        capabilities: Capabilities {
            documents: cell(false, src::FEATURES),
            guardrails: cell(false, src::FEATURES),
            max_output_tokens: cell(4_096, src::AI21_COHERE_MAX_OUTPUT),
            ..NO_TOOLS
        },
    },
    KnownModel {
        name: "Jamba 1.5 (Large, Mini)",
        family: ModelFamily::Ai21Jamba,
        ids: &["ai21.jamba"],
        capabilities: Capabilities {
            tools_streaming: cell(true, src::FEATURES),
            tool_result_status: cell(false, src::TOOL_RESULT_STATUS),
            tool_results_alone: cell(true, src::TOOL_RESULTS_ALONE),
            tool_use_alone: cell(true, src::TOOL_USE_ALONE),
            max_output_tokens: cell(4_096, src::AI21_COHERE_MAX_OUTPUT),
            ..LLAMA
        },
    },
    // ---------------------------------------------------------------- DeepSeek
    KnownModel {
        name: "DeepSeek R1",
        family: ModelFamily::DeepSeek,
        ids: &["deepseek.r1"],
        capabilities: Capabilities {
            tools: cell(false, src::DEEPSEEK_R1),
            tools_streaming: cell(false, src::DEEPSEEK_R1),
            reasoning: cell(ReasoningShape::AlwaysOn, src::DEEPSEEK_R1),
            reasoning_replay: cell(ReasoningReplay::Never, src::DEEPSEEK_R1),
            max_output_tokens: cell(32_768, src::DEEPSEEK_R1),
            ..NO_TOOLS
        },
    },
    KnownModel {
        name: "DeepSeek V3",
        family: ModelFamily::DeepSeek,
        ids: &["deepseek.v3"],
        capabilities: Capabilities {
            tools_streaming: cell(true, src::PEER_MAPS),
            tool_choice_any: cell(true, src::DEEPSEEK_V3),
            tool_choice_tool: cell(true, src::DEEPSEEK_V3),
            reasoning_replay: cell(ReasoningReplay::Unsigned, src::DEEPSEEK_V3),
            tool_results_alone: cell(false, src::SAME_TURN_MATRIX),
            tool_use_alone: cell(false, src::SAME_TURN_MATRIX),
            max_output_tokens: cell(8_192, src::MODEL_PROFILES),
            ..LLAMA
        },
    },
    // ---------------------------------------------------------------- OpenAI
    KnownModel {
        name: "gpt-oss (20b, 120b)",
        family: ModelFamily::OpenAiGptOss,
        ids: &["openai.gpt-oss"],
        capabilities: GPT_OSS,
    },
    // ---------------------------------------------------------------- Qwen
    KnownModel {
        name: "Qwen3",
        family: ModelFamily::Qwen,
        ids: &["qwen."],
        capabilities: Capabilities {
            tools_streaming: cell(true, src::QWEN),
            reasoning: cell(ReasoningShape::None, src::QWEN),
            reasoning_replay: cell(ReasoningReplay::Unsigned, src::QWEN),
            max_output_tokens: cell(16_384, src::MODEL_PROFILES),
            ..GPT_OSS
        },
    },
    // ---------------------------------------------------------------- Writer
    KnownModel {
        name: "Palmyra X4, X5",
        family: ModelFamily::WriterPalmyra,
        ids: &["writer.palmyra"],
        capabilities: Capabilities {
            tools_streaming: cell(false, src::PALMYRA),
            tool_result_status: cell(false, src::PALMYRA),
            tool_results_alone: cell(true, src::PALMYRA),
            tool_use_alone: cell(false, src::SAME_TURN_MATRIX),
            max_output_tokens: cell(8_192, src::MODEL_PROFILES),
            ..LLAMA
        },
    },
    // ---------------------------------------------------------------- Amazon Titan
    KnownModel {
        name: "Titan Text Premier",
        family: ModelFamily::AmazonTitanText,
        ids: &["amazon.titan-text-premier"],
        capabilities: Capabilities {
            system: cell(false, src::NO_SYSTEM),
            documents: cell(false, src::FEATURES),
            max_output_tokens: cell(3_000, src::TITAN_MAX_OUTPUT),
            ..NO_TOOLS
        },
    },
    KnownModel {
        name: "Titan Text Express, Lite",
        family: ModelFamily::AmazonTitanText,
        ids: &["amazon.titan-text"],
        capabilities: Capabilities {
            system: cell(false, src::NO_SYSTEM),
            // Express 8,192, Lite 4,096: the lower.
            max_output_tokens: cell(4_096, src::TITAN_MAX_OUTPUT),
            ..NO_TOOLS
        },
    },
];
