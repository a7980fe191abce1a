//! What one request sends: decided from the capability table, the model's options, what this
//! process has learned from Bedrock's refusals, and the request itself.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use agent_core::{ModelRequest, ToolChoice};

use crate::families::{Capabilities, ReasoningReplay, ToolCallIds, ToolDecoding, ToolSchema};

/// Something the client sends, or a shape it gives a request, on its own initiative: the table
/// says the family takes it, the user did not ask for it, and when Bedrock refuses it the client
/// leaves it out for that model from then on (see `recovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AutoFeature {
    /// A checkpoint after the system prompt.
    CacheSystem,
    /// A checkpoint after the tool definitions.
    CacheTools,
    /// Checkpoints in messages.
    CacheMessages,
    /// `maxTokens` set to the model's maximum output when the user set none.
    DefaultMaxTokens,
    /// A forced tool choice the loop marked optional (a typed answer's tool).
    ForcedToolChoice,
    /// Greedy decoding of tool calls (`additionalModelRequestFields.inferenceConfig.topK`).
    GreedyDecoding,
    /// ConverseStream for a request that offers tools (Converse otherwise).
    StreamingWithTools,
    /// `status` on tool results.
    ToolResultStatus,
    /// A `system` block (folded into the first user turn otherwise).
    SystemBlock,
    /// Text and media beside tool results in one user turn (folded into the last result
    /// otherwise).
    MixedToolResultTurn,
    /// Text beside tool calls in one assistant turn (left out otherwise).
    MixedToolUseTurn,
    /// The model's reasoning blocks sent back (left out otherwise).
    ReasoningReplay,
    /// Reasoning signatures sent back (left out otherwise).
    ReasoningSignature,
    /// Tool call ids as the model wrote them (nine letters and digits otherwise).
    OriginalToolCallIds,
    /// Images and documents inside tool results (a note in their place otherwise).
    MediaInToolResults,
    /// Tool schemas as written (only `type`, `properties`, `required` at the top otherwise).
    FullToolSchemas,
}

impl AutoFeature {
    /// Its name in traces and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AutoFeature::CacheSystem => "cache_point.system",
            AutoFeature::CacheTools => "cache_point.tools",
            AutoFeature::CacheMessages => "cache_point.messages",
            AutoFeature::DefaultMaxTokens => "max_tokens",
            AutoFeature::ForcedToolChoice => "tool_choice",
            AutoFeature::GreedyDecoding => "greedy_tool_decoding",
            AutoFeature::StreamingWithTools => "streaming_with_tools",
            AutoFeature::ToolResultStatus => "tool_result.status",
            AutoFeature::SystemBlock => "system",
            AutoFeature::MixedToolResultTurn => "text_beside_tool_results",
            AutoFeature::MixedToolUseTurn => "text_beside_tool_calls",
            AutoFeature::ReasoningReplay => "reasoning_replay",
            AutoFeature::ReasoningSignature => "reasoning_signature",
            AutoFeature::OriginalToolCallIds => "tool_call_ids",
            AutoFeature::MediaInToolResults => "media_in_tool_results",
            AutoFeature::FullToolSchemas => "tool_schema",
        }
    }
}

impl fmt::Display for AutoFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the process learned about one model id from Bedrock's refusals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Learned {
    /// Features left out from now on.
    pub(crate) avoid: BTreeSet<AutoFeature>,
    /// The output limit Bedrock named, when it refused a larger default.
    pub(crate) max_tokens: Option<u32>,
}

/// What every model id of this process has learned. Bedrock's rules are the same for every
/// client of a process, so two agents on one model learn once.
static LEARNED: LazyLock<Mutex<HashMap<String, Learned>>> = LazyLock::new(Mutex::default);

/// What the process has learned about `model_id` so far.
pub(crate) fn learned(model_id: &str) -> Learned {
    LEARNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(model_id)
        .cloned()
        .unwrap_or_default()
}

/// Remembers, for `model_id`, to leave these features out (and Bedrock's output limit).
/// Returns the features that were not left out before.
pub(crate) fn learn(
    model_id: &str,
    features: &[AutoFeature],
    max_tokens: Option<u32>,
) -> Vec<AutoFeature> {
    let mut all = LEARNED.lock().unwrap_or_else(PoisonError::into_inner);
    let entry = all.entry(model_id.to_owned()).or_default();
    if max_tokens.is_some() {
        entry.max_tokens = max_tokens;
    }
    features
        .iter()
        .copied()
        .filter(|feature| entry.avoid.insert(*feature))
        .collect()
}

/// How the messages are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireRules {
    pub(crate) system_block: bool,
    pub(crate) tool_result_status: bool,
    pub(crate) mixed_tool_result_turn: bool,
    pub(crate) mixed_tool_use_turn: bool,
    pub(crate) reasoning: ReasoningReplay,
    pub(crate) original_tool_call_ids: bool,
    pub(crate) media_in_tool_results: bool,
    pub(crate) full_tool_schemas: bool,
}

/// Where checkpoints go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CachePlacement {
    pub(crate) system: bool,
    pub(crate) tools: bool,
    pub(crate) messages: bool,
    /// Checkpoints may go in messages holding tool calls or results.
    pub(crate) in_tool_turns: bool,
    /// A checkpoint whose prefix is estimated below this is not placed.
    pub(crate) min_tokens: u32,
}

/// What one request sends.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) streaming: bool,
    pub(crate) cache: CachePlacement,
    /// The output limit the client sends on its own (the user set none): the model's maximum,
    /// or the one Bedrock named. `None` when the user set one, or none may be sent.
    pub(crate) default_max_tokens: Option<u32>,
    /// The output limit the user set (on the request, else on the model), sent as set.
    pub(crate) own_max_tokens: Option<u32>,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) greedy: bool,
    pub(crate) wire: WireRules,
    /// The features of this plan the client added on its own: what a refusal may drop.
    pub(crate) automatic: BTreeSet<AutoFeature>,
}

/// The model's own settings a plan reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanOptions {
    pub(crate) streaming: bool,
    /// Whether the user set streaming on explicitly (`streaming(true)`, `with_streaming(true)`):
    /// then ConverseStream is called with tools too, whatever the table says.
    pub(crate) streaming_explicit: bool,
    pub(crate) greedy_tool_decoding: bool,
    /// Automatic caching (`PromptCaching::Auto`), or the user's explicit points.
    pub(crate) cache: CacheChoice,
    /// Whether thinking is on (a forced tool choice is then never sent).
    pub(crate) thinking: bool,
    /// Whether the user's additional request fields set `inferenceConfig` (greedy decoding
    /// then stays off).
    pub(crate) own_inference_fields: bool,
    /// The `maxTokens` the user set: the request's, else the model's default inference.
    pub(crate) own_max_tokens: Option<u32>,
    /// Whether `maxTokens` must be left unset (Nova 2 with a high reasoning effort).
    pub(crate) max_tokens_forbidden: bool,
}

/// Where the user wants checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheChoice {
    /// Where the table allows.
    Auto,
    /// Exactly these.
    Explicit {
        system: bool,
        tools: bool,
        messages: bool,
    },
    /// None.
    Off,
}

impl Plan {
    /// The plan for `request` to a model with `capabilities`.
    pub(crate) fn new(
        capabilities: &Capabilities,
        options: PlanOptions,
        learned: &Learned,
        request: &ModelRequest,
    ) -> Plan {
        let c = capabilities;
        let mut automatic = BTreeSet::new();
        let mut allow = |feature: AutoFeature, table_says: bool| {
            let on = table_says && !learned.avoid.contains(&feature);
            if on {
                automatic.insert(feature);
            }
            on
        };
        let has_tools = !request.tools.is_empty();
        let cache = match options.cache {
            CacheChoice::Auto => {
                let fields = c.cache.value;
                CachePlacement {
                    system: allow(AutoFeature::CacheSystem, fields.system),
                    tools: allow(AutoFeature::CacheTools, fields.tools && has_tools),
                    messages: allow(AutoFeature::CacheMessages, fields.messages),
                    in_tool_turns: fields.in_tool_turns,
                    min_tokens: fields.min_tokens,
                }
            }
            CacheChoice::Explicit {
                system,
                tools,
                messages,
            } => CachePlacement {
                system,
                tools,
                messages,
                // The user's placement is theirs; the family's rule still keeps message
                // checkpoints out of tool turns where the family refuses them there.
                in_tool_turns: c.cache.value.in_tool_turns || !c.cache.value.messages,
                min_tokens: 0,
            },
            CacheChoice::Off => CachePlacement::default(),
        };
        // A limit Bedrock named wins over the table's. The default is the client's own only
        // when the user set no limit: the user's own is sent as set, never lowered, so it must
        // not count as automatic (a refusal of it is then the user's to see, not a retry).
        let max_output = learned.max_tokens.unwrap_or(c.max_output_tokens.value);
        let default_max_tokens = (options.own_max_tokens.is_none()
            && !options.max_tokens_forbidden
            && allow(AutoFeature::DefaultMaxTokens, max_output > 0))
        .then_some(max_output);
        let tool_choice = match &request.tool_choice {
            Some(choice) if choice.is_forced() && request.optional_tool_choice => {
                let takes = match choice {
                    ToolChoice::Tool(_) => c.tool_choice_tool.value,
                    _ => c.tool_choice_any.value,
                };
                // Extended thinking forbids a forced choice; the instruction and the check of
                // a text answer do the work then.
                allow(
                    AutoFeature::ForcedToolChoice,
                    takes && has_tools && !options.thinking,
                )
                .then(|| choice.clone())
            }
            other => other.clone(),
        };
        let greedy = allow(
            AutoFeature::GreedyDecoding,
            options.greedy_tool_decoding
                && has_tools
                && c.tool_decoding.value == ToolDecoding::GreedyTopK
                && !options.own_inference_fields,
        );
        // Streaming is the default; by default a family that cannot stream tool use is called
        // with Converse whenever tools are offered. Streaming the user set on explicitly is kept
        // as asked (the builder's `streaming` documents it): it is not the client's to drop,
        // so it is never automatic, and a refusal of it is explained (`BedrockModel::explain`).
        let streaming = options.streaming
            && (!has_tools
                || options.streaming_explicit
                || allow(AutoFeature::StreamingWithTools, c.tools_streaming.value));
        let mut wire = WireRules {
            system_block: allow(AutoFeature::SystemBlock, c.system.value),
            tool_result_status: allow(AutoFeature::ToolResultStatus, c.tool_result_status.value),
            mixed_tool_result_turn: allow(
                AutoFeature::MixedToolResultTurn,
                !c.tool_results_alone.value,
            ),
            mixed_tool_use_turn: allow(AutoFeature::MixedToolUseTurn, !c.tool_use_alone.value),
            reasoning: c.reasoning_replay.value,
            original_tool_call_ids: allow(
                AutoFeature::OriginalToolCallIds,
                c.tool_call_ids.value == ToolCallIds::Any,
            ),
            media_in_tool_results: allow(
                AutoFeature::MediaInToolResults,
                c.media_in_tool_results.value,
            ),
            full_tool_schemas: allow(
                AutoFeature::FullToolSchemas,
                c.tool_schema.value == ToolSchema::JsonSchema,
            ),
        };
        if wire.reasoning != ReasoningReplay::Never && !allow(AutoFeature::ReasoningReplay, true) {
            wire.reasoning = ReasoningReplay::Never;
        }
        if wire.reasoning == ReasoningReplay::Signed
            && !allow(AutoFeature::ReasoningSignature, true)
        {
            wire.reasoning = ReasoningReplay::Unsigned;
        }
        Plan {
            streaming,
            cache,
            default_max_tokens,
            own_max_tokens: options.own_max_tokens,
            tool_choice,
            greedy,
            wire,
            automatic,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agent_core::{Message, ToolSpec};
    use serde_json::json;

    use super::*;
    use crate::families::ModelInfo;

    fn options() -> PlanOptions {
        PlanOptions {
            streaming: true,
            streaming_explicit: false,
            greedy_tool_decoding: true,
            cache: CacheChoice::Auto,
            thinking: false,
            own_inference_fields: false,
            own_max_tokens: None,
            max_tokens_forbidden: false,
        }
    }

    fn with_tools() -> ModelRequest {
        ModelRequest::new(vec![Message::user_text("Weather in Oslo?")]).with_tools(Arc::from([
            ToolSpec {
                name: "weather".into(),
                description: "The weather of a city.".into(),
                input_schema: json!({"type": "object", "properties": {}}),
            },
        ]))
    }

    fn plan(model_id: &str, options: PlanOptions, request: &ModelRequest) -> Plan {
        let info = ModelInfo::resolve(model_id);
        Plan::new(info.capabilities(), options, &Learned::default(), request)
    }

    #[test]
    fn explicit_streaming_is_kept_with_tools_the_family_cannot_stream() {
        // The table: Llama 3.3 and Mistral Large do not stream tool use.
        for model in [
            "us.meta.llama3-3-70b-instruct-v1:0",
            "mistral.mistral-large-2407-v1:0",
        ] {
            assert!(
                !ModelInfo::resolve(model)
                    .capabilities()
                    .tools_streaming
                    .value
            );
            let by_default = plan(model, options(), &with_tools());
            assert!(
                !by_default.streaming,
                "{model}: Converse for tools by default"
            );
            let explicit = PlanOptions {
                streaming_explicit: true,
                ..options()
            };
            let kept = plan(model, explicit, &with_tools());
            assert!(kept.streaming, "{model}: streaming(true) is kept as asked");
            assert!(
                !kept.automatic.contains(&AutoFeature::StreamingWithTools),
                "{model}: an explicit setting is never the client's to drop"
            );
            let off = PlanOptions {
                streaming: false,
                ..options()
            };
            assert!(!plan(model, off, &with_tools()).streaming);
        }
        // Where the family streams tool use, streaming by default is the client's choice (and
        // may be dropped on a refusal); set explicitly it is the user's.
        let claude = "us.anthropic.claude-sonnet-4-20250514-v1:0";
        let by_default = plan(claude, options(), &with_tools());
        assert!(by_default.streaming);
        assert!(
            by_default
                .automatic
                .contains(&AutoFeature::StreamingWithTools)
        );
        let explicit = plan(
            claude,
            PlanOptions {
                streaming_explicit: true,
                ..options()
            },
            &with_tools(),
        );
        assert!(explicit.streaming);
        assert!(
            !explicit
                .automatic
                .contains(&AutoFeature::StreamingWithTools)
        );
    }

    #[test]
    fn a_users_own_max_tokens_is_never_the_clients_default() {
        let nova = "us.amazon.nova-pro-v1:0";
        let request = ModelRequest::new(vec![Message::user_text("Hello")]);
        let by_default = plan(nova, options(), &request);
        assert_eq!(by_default.default_max_tokens, Some(5_000));
        assert_eq!(by_default.own_max_tokens, None);
        assert!(
            by_default
                .automatic
                .contains(&AutoFeature::DefaultMaxTokens)
        );
        // The user's own limit, above the model's: sent as set, and not the client's to lower.
        let own = plan(
            nova,
            PlanOptions {
                own_max_tokens: Some(20_000),
                ..options()
            },
            &request,
        );
        assert_eq!(own.default_max_tokens, None);
        assert_eq!(own.own_max_tokens, Some(20_000));
        assert!(!own.automatic.contains(&AutoFeature::DefaultMaxTokens));
        // A limit that must not be sent is not sent, nor counted as sent.
        let forbidden = plan(
            "us.amazon.nova-2-lite-v1:0",
            PlanOptions {
                max_tokens_forbidden: true,
                ..options()
            },
            &request,
        );
        assert_eq!(forbidden.default_max_tokens, None);
        assert!(!forbidden.automatic.contains(&AutoFeature::DefaultMaxTokens));
    }
}
