//! Model families: which model a request's model id names, and what that model accepts.
//!
//! The stand-in reads the model id from the request path, as Bedrock does: a base model id
//! (`anthropic.claude-sonnet-4-20250514-v1:0`), a cross-Region inference profile id (the base
//! id behind a geography prefix: `us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`, `us-gov.`,
//! `global.`), or the ARN of a foundation model or inference profile. ARNs of application
//! inference profiles, provisioned, custom and imported models name no model the stand-in can
//! see, and ids it does not know (tests use ids such as `test-model`) resolve to no family:
//! such requests get the service-level rules only.
//!
//! Id shapes: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>
//! (`modelId`); prefixes and their source Regions:
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html>

use std::fmt;

/// A family of Bedrock models whose per-model Converse rules the stand-in knows.
///
/// Found from a model id with [`ModelFamily::of`]. What the stand-in enforces for each family is
/// listed in the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelFamily {
    /// Anthropic Claude 3, 3.5 and 3.7 (`anthropic.claude-3-…`).
    Claude3,
    /// Anthropic Claude 4.x: Sonnet 4 to 4.6, Opus 4 to 4.8, Haiku 4.5
    /// (`anthropic.claude-sonnet-4-…`, `…-opus-4-…`, `…-haiku-4-5-…`). Opus 4.7 and later take
    /// adaptive thinking only and no `temperature`.
    Claude4,
    /// Anthropic Claude 5 (`anthropic.claude-opus-5`, `…-sonnet-5`, `…-fable-5`, `…-mythos-5`).
    Claude5,
    /// Amazon Nova Micro (`amazon.nova-micro-v1:0`): text only.
    NovaMicro,
    /// Amazon Nova Lite (`amazon.nova-lite-v1:0`).
    NovaLite,
    /// Amazon Nova Pro (`amazon.nova-pro-v1:0`).
    NovaPro,
    /// Amazon Nova Premier (`amazon.nova-premier-v1:0`).
    NovaPremier,
    /// Amazon Nova 2 (`amazon.nova-2-lite-v1:0`): reasoning through `reasoningConfig`.
    Nova2,
    /// Meta Llama 3.1, 3.2 11B/90B and 3.3: tool use, but not while streaming.
    Llama3,
    /// Meta Llama 3 8B/70B and Llama 3.2 1B/3B: no tool use.
    Llama3Small,
    /// Meta Llama 4 Scout and Maverick: tool use, but not while streaming.
    Llama4,
    /// Mistral 7B Instruct and Mixtral 8x7B Instruct: no system prompt, no tool use.
    MistralInstruct,
    /// Mistral Large (2402, 2407, …): tool use not streamed; `toolChoice` `auto` and `any`.
    MistralLarge,
    /// Other Mistral AI models: Mistral Small, Pixtral Large, Ministral, ….
    Mistral,
    /// Cohere Command R and R+.
    CohereCommandR,
    /// Cohere Command and Command Light (legacy): no system prompt, no tool use.
    CohereCommand,
    /// AI21 Labs Jamba 1.5 Large and Mini.
    Jamba,
    /// AI21 Labs Jamba-Instruct: no tool use.
    JambaInstruct,
    /// DeepSeek-R1: no tool use; its reasoning must not be sent back.
    DeepSeekR1,
    /// DeepSeek V3.x.
    DeepSeekV3,
    /// OpenAI gpt-oss 20B and 120B.
    GptOss,
    /// Qwen3 models (`qwen.qwen3-…`).
    Qwen3,
    /// Writer Palmyra X4 and X5.
    Palmyra,
    /// Amazon Titan Text (Express, Lite, Premier): no system prompt, no tool use.
    TitanText,
}

impl ModelFamily {
    /// The family of the model a Converse `modelId` names: a base model id, an inference
    /// profile id (`us.amazon.nova-pro-v1:0`), or a foundation-model or inference-profile ARN.
    /// `None` for ids the stand-in does not know and for ARNs that do not name the model
    /// (application inference profiles, provisioned, custom and imported models).
    ///
    /// ```
    /// use agent_testkit::ModelFamily;
    ///
    /// assert_eq!(ModelFamily::of("us.amazon.nova-pro-v1:0"), Some(ModelFamily::NovaPro));
    /// assert_eq!(
    ///     ModelFamily::of("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0"),
    ///     Some(ModelFamily::Claude4)
    /// );
    /// assert_eq!(ModelFamily::of("test-model"), None);
    /// ```
    pub fn of(model_id: &str) -> Option<ModelFamily> {
        resolve(model_id).model.map(|model| model.family)
    }

    /// Whether this is an Anthropic Claude family.
    pub fn is_claude(self) -> bool {
        matches!(
            self,
            ModelFamily::Claude3 | ModelFamily::Claude4 | ModelFamily::Claude5
        )
    }

    /// Whether this is an Amazon Nova family (Nova 1 or Nova 2).
    pub fn is_nova(self) -> bool {
        matches!(
            self,
            ModelFamily::NovaMicro
                | ModelFamily::NovaLite
                | ModelFamily::NovaPro
                | ModelFamily::NovaPremier
                | ModelFamily::Nova2
        )
    }

    /// Whether this is a Nova 1 family (Micro, Lite, Pro, Premier).
    pub(crate) fn is_nova1(self) -> bool {
        self.is_nova() && self != ModelFamily::Nova2
    }

    /// Whether this is a Meta Llama family.
    pub(crate) fn is_llama(self) -> bool {
        matches!(
            self,
            ModelFamily::Llama3 | ModelFamily::Llama3Small | ModelFamily::Llama4
        )
    }

    /// Whether this is a Mistral AI family.
    pub(crate) fn is_mistral(self) -> bool {
        matches!(
            self,
            ModelFamily::MistralInstruct | ModelFamily::MistralLarge | ModelFamily::Mistral
        )
    }
}

impl fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A cross-Region inference profile's geography: the prefix of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Geography {
    Us,
    UsGov,
    Eu,
    Apac,
    Jp,
    Au,
    Ca,
    Global,
}

impl Geography {
    /// The geography of a prefix (`us`, `eu`, …), if it is one.
    fn of_prefix(prefix: &str) -> Option<Geography> {
        Some(match prefix {
            "us" => Geography::Us,
            "us-gov" => Geography::UsGov,
            "eu" => Geography::Eu,
            "apac" => Geography::Apac,
            "jp" => Geography::Jp,
            "au" => Geography::Au,
            "ca" => Geography::Ca,
            "global" => Geography::Global,
            _ => return None,
        })
    }

    /// Whether a profile of this geography can be called from `region`.
    ///
    /// Source Regions per prefix, from
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html>
    /// (and the CDK's list of them,
    /// <https://docs.aws.amazon.com/cdk/api/v2/docs/@aws-cdk_aws-bedrock-alpha.CrossRegionInferenceProfileRegion.html>):
    /// `us.` from the US commercial Regions, `us-gov.` from GovCloud, `eu.` from the EU Regions
    /// (and il-central-1, a source of the Nova profiles), `apac.` from the Asia Pacific Regions
    /// (and me-central-1, a source of the newer ones), `jp.` from Tokyo and Osaka, `au.` from
    /// Sydney and Melbourne, `ca.` from the Canada Regions, `global.` from any commercial
    /// Region. Per-model source lists are narrower; the stand-in checks the geography only.
    pub(crate) fn accepts_region(self, region: &str) -> bool {
        match self {
            Geography::Us => region.starts_with("us-") && !region.starts_with("us-gov-"),
            Geography::UsGov => region.starts_with("us-gov-"),
            Geography::Eu => region.starts_with("eu-") || region == "il-central-1",
            Geography::Apac => region.starts_with("ap-") || region == "me-central-1",
            Geography::Jp => matches!(region, "ap-northeast-1" | "ap-northeast-3"),
            Geography::Au => matches!(region, "ap-southeast-2" | "ap-southeast-4"),
            Geography::Ca => region.starts_with("ca-"),
            Geography::Global => !region.starts_with("us-gov-") && !region.starts_with("cn-"),
        }
    }
}

/// A model id, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedId {
    /// The model, when the stand-in knows it.
    pub(crate) model: Option<Model>,
    /// The geography, for a cross-Region inference profile.
    pub(crate) geography: Option<Geography>,
}

/// A model the stand-in knows: its family and, for Claude, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Model {
    pub(crate) family: ModelFamily,
    /// The base model id (`anthropic.claude-sonnet-4-20250514-v1:0`), without prefix or ARN.
    pub(crate) base_id: String,
    claude: Option<ClaudeVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaudeTier {
    Haiku,
    Sonnet,
    Opus,
    /// Fable, Mythos, and names to come.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClaudeVersion {
    tier: ClaudeTier,
    major: u32,
    minor: u32,
}

/// Reads a Converse `modelId`.
pub(crate) fn resolve(model_id: &str) -> ResolvedId {
    let unknown = ResolvedId {
        model: None,
        geography: None,
    };
    let id = match model_id.strip_prefix("arn:") {
        Some(arn) => {
            // arn:PARTITION:bedrock:REGION:ACCOUNT:RESOURCE-TYPE/RESOURCE-ID
            let mut parts = arn.splitn(5, ':');
            let (Some(_partition), Some("bedrock"), Some(_region), Some(_account), Some(resource)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                return unknown;
            };
            match resource.split_once('/') {
                Some(("foundation-model" | "inference-profile", id)) => id,
                // application-inference-profile, provisioned-model, custom-model,
                // imported-model, prompt routers: the ARN does not say which model it is.
                _ => return unknown,
            }
        }
        None => model_id,
    };
    let (geography, base) = match id.split_once('.') {
        Some((prefix, rest)) => match Geography::of_prefix(prefix) {
            Some(geography) => (Some(geography), rest),
            None => (None, id),
        },
        None => (None, id),
    };
    ResolvedId {
        model: model_of(base),
        geography,
    }
}

/// The model a base model id names, if the stand-in knows it.
fn model_of(base: &str) -> Option<Model> {
    let model = |family: ModelFamily| {
        Some(Model {
            family,
            base_id: base.to_owned(),
            claude: None,
        })
    };
    let (provider, name) = base.split_once('.')?;
    match provider {
        "anthropic" => {
            let version = claude_version(name.strip_prefix("claude-")?)?;
            let family = match version.major {
                3 => ModelFamily::Claude3,
                4 => ModelFamily::Claude4,
                5.. => ModelFamily::Claude5,
                _ => return None,
            };
            Some(Model {
                family,
                base_id: base.to_owned(),
                claude: Some(version),
            })
        }
        "amazon" => {
            if let Some(nova) = name.strip_prefix("nova-") {
                let family = if nova.starts_with("micro") {
                    ModelFamily::NovaMicro
                } else if nova.starts_with("lite") {
                    ModelFamily::NovaLite
                } else if nova.starts_with("pro") {
                    ModelFamily::NovaPro
                } else if nova.starts_with("premier") {
                    ModelFamily::NovaPremier
                } else if nova.starts_with("2-lite") || nova.starts_with("2-pro") {
                    ModelFamily::Nova2
                } else {
                    // Canvas, Reel, Sonic: not Converse text models.
                    return None;
                };
                model(family)
            } else if name.starts_with("titan-text-") || name.starts_with("titan-tg1-") {
                model(ModelFamily::TitanText)
            } else {
                None
            }
        }
        "meta" => {
            let family = if name.starts_with("llama4-") {
                ModelFamily::Llama4
            } else if name.starts_with("llama3-8b")
                || name.starts_with("llama3-70b")
                || name.starts_with("llama3-2-1b")
                || name.starts_with("llama3-2-3b")
            {
                ModelFamily::Llama3Small
            } else if name.starts_with("llama3-") {
                ModelFamily::Llama3
            } else {
                return None;
            };
            model(family)
        }
        "mistral" => {
            let family = if name.starts_with("mistral-7b") || name.starts_with("mixtral-8x7b") {
                ModelFamily::MistralInstruct
            } else if name.starts_with("mistral-large") {
                ModelFamily::MistralLarge
            } else {
                ModelFamily::Mistral
            };
            model(family)
        }
        "cohere" => {
            if name.starts_with("command-r") {
                model(ModelFamily::CohereCommandR)
            } else if name.starts_with("command-text") || name.starts_with("command-light") {
                model(ModelFamily::CohereCommand)
            } else {
                None
            }
        }
        "ai21" => {
            if name.starts_with("jamba-instruct") {
                model(ModelFamily::JambaInstruct)
            } else if name.starts_with("jamba-1-5") {
                model(ModelFamily::Jamba)
            } else {
                None
            }
        }
        "deepseek" => {
            if name.starts_with("r1") {
                model(ModelFamily::DeepSeekR1)
            } else if name.starts_with("v3") {
                model(ModelFamily::DeepSeekV3)
            } else {
                None
            }
        }
        "openai" if name.starts_with("gpt-oss-") => model(ModelFamily::GptOss),
        "qwen" if name.starts_with("qwen3") => model(ModelFamily::Qwen3),
        "writer" if name.starts_with("palmyra-x") => model(ModelFamily::Palmyra),
        _ => None,
    }
}

/// A one- or two-digit number (a version part, not a date).
fn version_part(token: Option<&str>) -> Option<u32> {
    token
        .filter(|t| (1..=2).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
}

/// Reads what follows `claude-`: `3-5-sonnet-20241022-v2:0` (version first) or
/// `sonnet-4-5-20250929-v1:0`, `opus-4-7`, `opus-5`, `fable-5-1` (tier first).
fn claude_version(rest: &str) -> Option<ClaudeVersion> {
    let tokens: Vec<&str> = rest.split(['-', ':']).collect();
    let tier_of = |name: &str| match name {
        "haiku" => Some(ClaudeTier::Haiku),
        "sonnet" => Some(ClaudeTier::Sonnet),
        "opus" => Some(ClaudeTier::Opus),
        "fable" | "mythos" => Some(ClaudeTier::Other),
        _ => None,
    };
    if let Some(major) = version_part(tokens.first().copied()) {
        let (minor, tier_at) = match version_part(tokens.get(1).copied()) {
            Some(minor) => (minor, 2),
            None => (0, 1),
        };
        let tier = tier_of(tokens.get(tier_at)?)?;
        return Some(ClaudeVersion { tier, major, minor });
    }
    let tier = tier_of(tokens.first()?)?;
    let (major, minor) = match version_part(tokens.get(1).copied()) {
        Some(major) => (major, version_part(tokens.get(2).copied()).unwrap_or(0)),
        // `claude-mythos-preview`: a Claude 5 generation model without a number.
        None if tier == ClaudeTier::Other => (5, 0),
        None => return None,
    };
    Some(ClaudeVersion { tier, major, minor })
}

/// Whether a family uses tools, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolSupport {
    /// Tools with both operations.
    Full,
    /// Tools with Converse only: ConverseStream with a `toolConfig` is rejected.
    NotStreamed,
    /// No tool use at all.
    None,
    /// Cohere Command R: tools are accepted by the features table, but Bedrock answers
    /// "Invalid parameter combination".
    InvalidCombination,
}

impl Model {
    /// Whether the model takes a `system` prompt.
    ///
    /// Mistral 7B Instruct and Mixtral 8x7B: <https://github.com/567-labs/instructor/issues/1753> ;
    /// Titan Text: <https://github.com/Mintplex-Labs/anything-llm/issues/2486> ,
    /// <https://github.com/danny-avila/LibreChat/issues/6456> ; Cohere Command (legacy): the
    /// features table,
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html>
    pub(crate) fn system_prompts(&self) -> bool {
        !matches!(
            self.family,
            ModelFamily::MistralInstruct | ModelFamily::TitanText | ModelFamily::CohereCommand
        )
    }

    /// How the model uses tools.
    ///
    /// - Llama 3.x / 4, Mistral, Writer Palmyra: no tool use while streaming —
    ///   <https://github.com/earendil-works/pi/issues/3739> , <https://github.com/n8n-io/n8n/issues/14206>
    ///   (Llama); <https://github.com/brave/brave-browser/issues/52158> ,
    ///   <https://github.com/aws-samples/bedrock-chat/issues/609> (Mistral);
    ///   <https://github.com/strands-agents/harness-sdk/issues/393> (Palmyra).
    /// - No tool use: Llama 3 8B/70B and 3.2 1B/3B (https://github.com/epam/ai-dial-adapter-bedrock/issues/181),
    ///   DeepSeek-R1 (https://github.com/langchain-ai/langchain-aws/issues/447 ,
    ///   <https://github.com/danny-avila/LibreChat/issues/6351>), Titan Text, Jamba-Instruct,
    ///   Cohere Command, Mistral 7B / Mixtral (features table).
    /// - Cohere Command R: <https://github.com/langchain-ai/langchain-aws/issues/566> .
    pub(crate) fn tool_support(&self) -> ToolSupport {
        match self.family {
            ModelFamily::Llama3
            | ModelFamily::Llama4
            | ModelFamily::MistralLarge
            | ModelFamily::Mistral
            | ModelFamily::Palmyra => ToolSupport::NotStreamed,
            ModelFamily::Llama3Small
            | ModelFamily::MistralInstruct
            | ModelFamily::CohereCommand
            | ModelFamily::JambaInstruct
            | ModelFamily::DeepSeekR1
            | ModelFamily::TitanText => ToolSupport::None,
            ModelFamily::CohereCommandR => ToolSupport::InvalidCombination,
            _ => ToolSupport::Full,
        }
    }

    /// Whether the model takes `toolChoice` `any` and `tool`.
    ///
    /// <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html> :
    /// `any` and `tool` for Anthropic Claude (and Nova since March 2025,
    /// <https://docs.aws.amazon.com/nova/latest/userguide/tool-choice.html>), `any` for Mistral
    /// Large; DeepSeek V3 takes both (https://github.com/langchain-ai/langchain-aws/pull/688).
    /// Others answer "This model doesn't support the toolConfig.toolChoice.… field"
    /// (https://github.com/strands-agents/harness-sdk/issues/1241 ,
    /// <https://github.com/maximhq/bifrost/pull/3196>).
    pub(crate) fn tool_choice(&self) -> (bool, bool) {
        match self.family {
            family if family.is_claude() || family.is_nova() => (true, true),
            ModelFamily::DeepSeekV3 => (true, true),
            ModelFamily::MistralLarge => (true, false),
            _ => (false, false),
        }
    }

    /// Whether a user turn holding `toolResult` blocks must hold nothing else, and an assistant
    /// turn holding `toolUse` blocks no text: Llama
    /// (https://github.com/strands-agents/harness-sdk/issues/1223 ,
    /// <https://github.com/browser-use/browser-use/issues/710>), Mistral (browser-use#710; the
    /// langchain-aws integration tests,
    /// <https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/tests/integration_tests/chat_models/test_bedrock_converse.py>),
    /// and, for tool results, Writer Palmyra (https://github.com/pydantic/pydantic-ai/pull/6318).
    pub(crate) fn tool_turns_alone(&self) -> (bool, bool) {
        let family = self.family;
        if family.is_llama() || family.is_mistral() {
            (true, true)
        } else if family == ModelFamily::Palmyra {
            (true, false)
        } else {
            (false, false)
        }
    }

    /// Whether tool-call ids must be 9 characters of `[a-zA-Z0-9]`: Mistral AI models,
    /// <https://github.com/vercel/ai/issues/11802> .
    pub(crate) fn nine_character_tool_ids(&self) -> bool {
        self.family.is_mistral()
    }

    /// Whether `toolResult` may hold images: Claude 3/4 and Nova per the API reference
    /// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultContentBlock.html),
    /// Claude 5 like 4, and Llama 4 as measured by pydantic-ai
    /// (https://github.com/pydantic/pydantic-ai/blob/4fda38988f2939fa6ea9cdefcf120693e10ef491/pydantic_ai_slim/pydantic_ai/providers/bedrock.py).
    pub(crate) fn images_in_tool_results(&self) -> bool {
        self.family.is_claude() || self.family.is_nova() || self.family == ModelFamily::Llama4
    }

    /// Whether the model takes images and documents at all: not Nova Micro (features table).
    pub(crate) fn media(&self) -> bool {
        self.family != ModelFamily::NovaMicro
    }

    /// Whether media may come from an `s3Location`: Nova only (features table, "Amazon S3
    /// multimedia links" column; <https://github.com/strands-agents/harness-sdk/pull/3610>).
    pub(crate) fn s3_locations(&self) -> bool {
        self.family.is_nova()
    }

    /// Whether `toolResult.status` is accepted: Writer Palmyra rejects it
    /// (https://github.com/strands-agents/harness-sdk/issues/554 ,
    /// <https://github.com/strands-agents/harness-sdk/pull/686>). The API reference
    /// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultBlock.html)
    /// lists it for Claude and Nova only, but no other family is reported to reject it.
    pub(crate) fn tool_result_status(&self) -> bool {
        self.family != ModelFamily::Palmyra
    }

    /// Whether `reasoningContent` blocks may be sent back: DeepSeek-R1 rejects them
    /// (https://github.com/langchain-ai/langchain-aws/issues/401 ,
    /// <https://github.com/zed-industries/zed/issues/32341>).
    pub(crate) fn reasoning_history(&self) -> bool {
        self.family != ModelFamily::DeepSeekR1
    }

    /// Whether reasoning sent back may carry a `signature`: gpt-oss
    /// (https://github.com/aws-samples/bedrock-engineer/issues/239 ,
    /// <https://github.com/strands-agents/harness-sdk/pull/682>) and Qwen
    /// (https://github.com/earendil-works/pi/pull/727) reject it.
    pub(crate) fn reasoning_signatures(&self) -> bool {
        !matches!(self.family, ModelFamily::GptOss | ModelFamily::Qwen3)
    }

    /// The prompt cache, if the model has one: the fewest tokens a checkpoint's prefix needs,
    /// and whether `toolConfig.tools` may hold a checkpoint.
    ///
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html> (table
    /// "Supported models, Regions, and explicit caching limits"): Claude 3.7 Sonnet 1,024,
    /// 3.5 Haiku 2,048, Sonnet 4 / 4.5 / 4.6 1,024, Opus 4 / 4.1 1,024, Opus 4.5 / 4.6 / 4.7
    /// 4,096, Opus 4.8 1,024, Haiku 4.5 4,096, Opus 5 / Fable 5 / Mythos 5 512, Sonnet 5 1,024;
    /// Nova "1K", fields `system` and `messages` only (not `tools`). Nova 2 Lite caching:
    /// <https://github.com/zeroclaw-labs/zeroclaw/pull/8943> . Claude 3.5 Sonnet v2 was a
    /// preview closed to new customers; Claude 3 and 3.5 Sonnet v1 have no cache
    /// (https://github.com/pensarai/apex/pull/943).
    pub(crate) fn prompt_cache(&self) -> Option<PromptCache> {
        let claude = |minimum| {
            Some(PromptCache {
                minimum_tokens: minimum,
                in_tools: true,
            })
        };
        if self.family.is_nova() {
            return Some(PromptCache {
                minimum_tokens: 1_000,
                in_tools: false,
            });
        }
        let version = self.claude?;
        use ClaudeTier::{Haiku, Opus, Other, Sonnet};
        match (version.major, version.minor, version.tier) {
            (3, 7, Sonnet) => claude(1_024),
            (3, 5, Haiku) => claude(2_048),
            (3, _, _) => None,
            (4, 5..=7, Opus) | (4, _, Haiku) => claude(4_096),
            (4, _, _) => claude(1_024),
            (_, _, Opus | Other) => claude(512),
            (_, _, Sonnet | Haiku) => claude(1_024),
        }
    }

    /// The most output tokens `inferenceConfig.maxTokens` may ask for.
    ///
    /// These are the numbers of agent-llm-bedrock's capability table (its `max_output_tokens`
    /// cells, shown in `docs/bedrock-models.md`), with the same sources. Where sources disagree
    /// the table takes the lower value, the one Bedrock cannot refuse, and so does the
    /// stand-in: a client that asks for more than the table allows is refused here as Bedrock
    /// may refuse it. agent-testkit cannot depend on agent-llm-bedrock (whose tests use it), so
    /// the numbers are repeated here; agent-llm-bedrock's test
    /// `the_standin_refuses_max_tokens_above_the_tables_limit` checks that the two agree.
    ///
    /// - Claude 3 Haiku/Sonnet/Opus 4,096, 3.5 Haiku and 3.5 Sonnet v2 8,192, Sonnet 4 / 4.5,
    ///   Haiku 4.5, Opus 4.5 64,000, Opus 4 / 4.1 32,000, Opus 4.6 128,000:
    ///   <https://platform.claude.com/docs/en/about-claude/models/overview> ; Claude 3.5 Sonnet
    ///   v1 4,096 on Bedrock: <https://github.com/vercel/ai/issues/2772> ,
    ///   <https://github.com/boto/boto3/issues/4279> ; 3.7 Sonnet 64,000 (131,072 with the
    ///   `output-128k-2025-02-19` beta, asked for in `anthropic_beta`):
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html> ;
    ///   Opus 4.7 / 4.8 128,000:
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-anthropic-claude-opus-4-7.html> ;
    ///   Sonnet 4.6 64,000 on Bedrock (128,000 on Anthropic's API) and Claude 5 128,000:
    ///   <https://github.com/langchain-ai/langchain-aws/blob/0434c7f94f6c27bfa275534f8ff1b0c3f1738144/libs/aws/langchain_aws/data/_profiles.py>
    /// - Nova Micro/Lite/Pro 5,000 (the model cards; a later AWS post says 10,000), Premier
    ///   32,000: <https://docs.aws.amazon.com/nova/latest/userguide/what-is-nova.html> ; Nova 2
    ///   64,000: <https://docs.aws.amazon.com/nova/latest/nova2-userguide/reasoning-capabilities.html> ,
    ///   <https://github.com/UKGovernmentBEIS/inspect_ai/pull/3848>
    /// - Llama 3.x 2,048 (Bedrock's "exceeds the model limit of 2048" for Llama 3.1 70B; peer
    ///   tables now say 4,096):
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html> ,
    ///   <https://github.com/aws-samples/bedrock-access-gateway/issues/41> ; Llama 4 16,384:
    ///   the langchain-aws profiles above
    /// - Mistral 8,192:
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-mistral.html> ;
    ///   Ministral 4,096: the langchain-aws profiles
    /// - DeepSeek-R1 32,768:
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-deepseek.html> ;
    ///   DeepSeek V3 8,192, gpt-oss 16,384, Qwen3 16,384, Palmyra 8,192: the langchain-aws
    ///   profiles
    /// - Titan Text Premier 3,000 (<https://github.com/aws-samples/generative-ai-use-cases/issues/594>),
    ///   Express and Lite 4,096 (Lite's; Express's is 8,192):
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-text.html>
    /// - Jamba, Jamba-Instruct, Cohere Command R and Command 4,096:
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-jamba.html> ,
    ///   <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-cohere-command-r-plus.html>
    pub(crate) fn max_output_tokens(&self, beta_128k: bool) -> u64 {
        let base = self.base_id.as_str();
        if let Some(version) = self.claude {
            use ClaudeTier::{Haiku, Opus, Sonnet};
            return match (version.major, version.minor, version.tier) {
                (3, 5, Sonnet) if base.contains("20241022") => 8_192,
                (3, 5, Sonnet) => 4_096,
                (3, 5, _) => 8_192,
                (3, 7, _) if beta_128k => 131_072,
                (3, 7, _) => 64_000,
                (3, _, _) => 4_096,
                (4, _, Sonnet | Haiku) | (4, 5, Opus) => 64_000,
                (4, 6..=8, Opus) => 128_000,
                // Opus 4, 4.1, and Opus 4 ids to come: the table's Opus 4 row.
                (4, _, Opus) => 32_000,
                _ => 128_000,
            };
        }
        match self.family {
            ModelFamily::NovaMicro | ModelFamily::NovaLite | ModelFamily::NovaPro => 5_000,
            ModelFamily::NovaPremier => 32_000,
            ModelFamily::Nova2 => 64_000,
            ModelFamily::Llama3Small | ModelFamily::Llama3 => 2_048,
            ModelFamily::Llama4 => 16_384,
            ModelFamily::Mistral if base.starts_with("mistral.ministral") => 4_096,
            ModelFamily::MistralInstruct | ModelFamily::MistralLarge | ModelFamily::Mistral => {
                8_192
            }
            ModelFamily::DeepSeekR1 => 32_768,
            ModelFamily::DeepSeekV3 => 8_192,
            ModelFamily::GptOss | ModelFamily::Qwen3 => 16_384,
            ModelFamily::Palmyra => 8_192,
            ModelFamily::TitanText if base.contains("premier") => 3_000,
            ModelFamily::TitanText => 4_096,
            ModelFamily::Jamba
            | ModelFamily::JambaInstruct
            | ModelFamily::CohereCommandR
            | ModelFamily::CohereCommand => 4_096,
            // Claude families are answered above.
            ModelFamily::Claude3 | ModelFamily::Claude4 | ModelFamily::Claude5 => 128_000,
        }
    }

    /// Claude models that take adaptive thinking only and reject `temperature`: Opus 4.7, 4.8
    /// and Opus 5.
    ///
    /// Adaptive only: <https://github.com/Kilo-Org/kilocode/issues/10732> (Opus 4.8),
    /// <https://github.com/tinovyatkin/amazon-bedrock-copilot-chat/issues/526> (Opus 4.7),
    /// <https://github.com/earendil-works/pi/pull/7081> (Opus 5). No `temperature`:
    /// <https://github.com/zeroclaw-labs/zeroclaw/issues/6095> (Opus 4.7),
    /// <https://github.com/DayuanJiang/next-ai-draw-io/issues/861> (Opus 4.8),
    /// <https://github.com/promptfoo/promptfoo/issues/10307> (Opus 5).
    pub(crate) fn adaptive_only(&self) -> bool {
        self.claude.is_some_and(|v| {
            v.tier == ClaudeTier::Opus && ((v.major == 4 && v.minor >= 7) || v.major >= 5)
        })
    }

    /// Whether `thinking: {"type": "adaptive"}` is accepted: Claude Sonnet 4.6, Opus 4.6 and
    /// later, Claude 5 (https://github.com/AAswordman/Operit/pull/568 ; pydantic-ai's Bedrock
    /// profiles).
    pub(crate) fn adaptive_thinking(&self) -> bool {
        self.claude
            .is_some_and(|v| v.major >= 5 || (v.major == 4 && v.minor >= 6))
    }

    /// Claude models that take `temperature` or `topP` but not both: Sonnet 4.5, Haiku 4.5,
    /// Sonnet 4.6 (https://github.com/BerriAI/litellm/issues/15070 ,
    /// <https://github.com/aws-samples/bedrock-access-gateway/issues/191>) and Opus 4.5
    /// (https://github.com/aws-samples/bedrock-access-gateway/pull/238).
    pub(crate) fn temperature_or_top_p(&self) -> bool {
        use ClaudeTier::{Haiku, Opus, Sonnet};
        self.claude.is_some_and(|v| {
            matches!(
                (v.major, v.minor, v.tier),
                (4, 5, Sonnet | Haiku | Opus) | (4, 6, Sonnet)
            )
        })
    }
}

/// A model's prompt cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PromptCache {
    /// A checkpoint whose prefix has fewer tokens is not cached (silently).
    pub(crate) minimum_tokens: u64,
    /// Whether `toolConfig.tools` may hold a `cachePoint`.
    pub(crate) in_tools: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(id: &str) -> Option<ModelFamily> {
        ModelFamily::of(id)
    }

    #[test]
    fn prefixes_and_arns_resolve_to_the_base_model() {
        for id in [
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "eu.anthropic.claude-sonnet-4-20250514-v1:0",
            "apac.anthropic.claude-sonnet-4-20250514-v1:0",
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "us-gov.anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-sonnet-4-20250514-v1:0",
        ] {
            assert_eq!(family(id), Some(ModelFamily::Claude4), "{id}");
        }
        let resolved = resolve("jp.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(resolved.geography, Some(Geography::Jp));
        assert_eq!(
            resolved.model.unwrap().base_id,
            "anthropic.claude-haiku-4-5-20251001-v1:0"
        );
        for id in [
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghijkl",
            "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-pro-v1:0/abc",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghijkl",
            "test-model",
            "m",
            "anthropic.claude-v2",
            "amazon.nova-canvas-v1:0",
            "xx.amazon.nova-pro-v1:0",
        ] {
            assert_eq!(family(id), None, "{id}");
        }
    }

    #[test]
    fn every_family_has_its_ids() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                ModelFamily::Claude3,
            ),
            (
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                ModelFamily::Claude3,
            ),
            (
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
                ModelFamily::Claude3,
            ),
            (
                "anthropic.claude-opus-4-1-20250805-v1:0",
                ModelFamily::Claude4,
            ),
            ("anthropic.claude-opus-4-7", ModelFamily::Claude4),
            ("anthropic.claude-opus-4-6-v1", ModelFamily::Claude4),
            ("anthropic.claude-opus-5", ModelFamily::Claude5),
            ("anthropic.claude-fable-5-1", ModelFamily::Claude5),
            ("anthropic.claude-mythos-preview", ModelFamily::Claude5),
            ("amazon.nova-micro-v1:0", ModelFamily::NovaMicro),
            ("amazon.nova-lite-v1:0", ModelFamily::NovaLite),
            ("amazon.nova-pro-v1:0", ModelFamily::NovaPro),
            ("amazon.nova-premier-v1:0", ModelFamily::NovaPremier),
            ("amazon.nova-2-lite-v1:0", ModelFamily::Nova2),
            ("amazon.titan-text-express-v1", ModelFamily::TitanText),
            ("amazon.titan-text-premier-v1:0", ModelFamily::TitanText),
            ("meta.llama3-8b-instruct-v1:0", ModelFamily::Llama3Small),
            ("meta.llama3-2-1b-instruct-v1:0", ModelFamily::Llama3Small),
            ("meta.llama3-2-11b-instruct-v1:0", ModelFamily::Llama3),
            ("meta.llama3-1-70b-instruct-v1:0", ModelFamily::Llama3),
            ("meta.llama3-3-70b-instruct-v1:0", ModelFamily::Llama3),
            (
                "meta.llama4-maverick-17b-instruct-v1:0",
                ModelFamily::Llama4,
            ),
            (
                "mistral.mistral-7b-instruct-v0:2",
                ModelFamily::MistralInstruct,
            ),
            (
                "mistral.mixtral-8x7b-instruct-v0:1",
                ModelFamily::MistralInstruct,
            ),
            ("mistral.mistral-large-2407-v1:0", ModelFamily::MistralLarge),
            ("mistral.mistral-small-2402-v1:0", ModelFamily::Mistral),
            ("mistral.pixtral-large-2502-v1:0", ModelFamily::Mistral),
            ("cohere.command-r-plus-v1:0", ModelFamily::CohereCommandR),
            ("cohere.command-text-v14", ModelFamily::CohereCommand),
            ("cohere.command-light-text-v14", ModelFamily::CohereCommand),
            ("ai21.jamba-1-5-large-v1:0", ModelFamily::Jamba),
            ("ai21.jamba-instruct-v1:0", ModelFamily::JambaInstruct),
            ("deepseek.r1-v1:0", ModelFamily::DeepSeekR1),
            ("deepseek.v3-v1:0", ModelFamily::DeepSeekV3),
            ("openai.gpt-oss-120b-1:0", ModelFamily::GptOss),
            ("qwen.qwen3-32b-v1:0", ModelFamily::Qwen3),
            ("writer.palmyra-x5-v1:0", ModelFamily::Palmyra),
        ];
        for (id, expected) in cases {
            assert_eq!(family(id), Some(expected), "{id}");
        }
    }

    #[test]
    fn claude_versions_give_the_model_traits() {
        let model = |id: &str| resolve(id).model.unwrap();
        assert!(model("us.anthropic.claude-opus-4-7").adaptive_only());
        assert!(model("global.anthropic.claude-opus-4-8").adaptive_only());
        assert!(model("anthropic.claude-opus-5").adaptive_only());
        assert!(!model("anthropic.claude-opus-4-20250514-v1:0").adaptive_only());
        assert!(!model("anthropic.claude-opus-4-6-v1").adaptive_only());
        assert!(model("anthropic.claude-opus-4-6-v1").adaptive_thinking());
        assert!(!model("anthropic.claude-sonnet-4-5-20250929-v1:0").adaptive_thinking());
        assert!(model("anthropic.claude-sonnet-4-5-20250929-v1:0").temperature_or_top_p());
        assert!(!model("anthropic.claude-sonnet-4-20250514-v1:0").temperature_or_top_p());
        let cache = |id: &str| model(id).prompt_cache().map(|c| c.minimum_tokens);
        assert_eq!(
            cache("anthropic.claude-3-7-sonnet-20250219-v1:0"),
            Some(1_024)
        );
        assert_eq!(
            cache("anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some(2_048)
        );
        assert_eq!(cache("anthropic.claude-3-5-sonnet-20240620-v1:0"), None);
        assert_eq!(cache("anthropic.claude-3-haiku-20240307-v1:0"), None);
        assert_eq!(
            cache("anthropic.claude-haiku-4-5-20251001-v1:0"),
            Some(4_096)
        );
        assert_eq!(
            cache("anthropic.claude-opus-4-5-20251101-v1:0"),
            Some(4_096)
        );
        assert_eq!(cache("anthropic.claude-opus-4-8"), Some(1_024));
        assert_eq!(cache("anthropic.claude-opus-5"), Some(512));
        assert_eq!(cache("anthropic.claude-sonnet-5"), Some(1_024));
        assert_eq!(cache("amazon.nova-pro-v1:0"), Some(1_000));
        assert_eq!(cache("meta.llama4-scout-17b-instruct-v1:0"), None);
        // The capability table's numbers (agent-llm-bedrock checks every row against these).
        let max = |id: &str| model(id).max_output_tokens(false);
        assert_eq!(max("anthropic.claude-3-5-sonnet-20240620-v1:0"), 4_096);
        assert_eq!(max("anthropic.claude-3-5-sonnet-20241022-v2:0"), 8_192);
        assert_eq!(max("anthropic.claude-opus-4-1-20250805-v1:0"), 32_000);
        assert_eq!(max("anthropic.claude-sonnet-4-5-20250929-v1:0"), 64_000);
        assert_eq!(max("anthropic.claude-sonnet-4-6"), 64_000);
        assert_eq!(max("anthropic.claude-opus-4-6-v1"), 128_000);
        assert_eq!(max("anthropic.claude-opus-5"), 128_000);
        assert_eq!(
            model("anthropic.claude-3-7-sonnet-20250219-v1:0").max_output_tokens(true),
            131_072
        );
        assert_eq!(max("amazon.nova-pro-v1:0"), 5_000);
        assert_eq!(max("meta.llama3-3-70b-instruct-v1:0"), 2_048);
        assert_eq!(max("openai.gpt-oss-20b-1:0"), 16_384);
    }

    #[test]
    fn geographies_take_their_own_regions() {
        assert!(Geography::Us.accepts_region("us-west-2"));
        assert!(!Geography::Us.accepts_region("eu-west-1"));
        assert!(!Geography::Us.accepts_region("us-gov-west-1"));
        assert!(Geography::UsGov.accepts_region("us-gov-east-1"));
        assert!(Geography::Eu.accepts_region("eu-central-1"));
        assert!(!Geography::Eu.accepts_region("us-east-1"));
        assert!(Geography::Apac.accepts_region("ap-southeast-1"));
        assert!(Geography::Jp.accepts_region("ap-northeast-1"));
        assert!(!Geography::Jp.accepts_region("ap-southeast-1"));
        assert!(Geography::Au.accepts_region("ap-southeast-2"));
        assert!(Geography::Ca.accepts_region("ca-central-1"));
        assert!(Geography::Global.accepts_region("sa-east-1"));
    }
}
