//! Reading Bedrock's refusals: which feature the client added on its own a refusal names, so
//! that the call is made once more without it and the process leaves it out from then on.
//!
//! The texts matched are Bedrock's own, as the sources of the capability table quote them;
//! each arm names its source.

use crate::plan::AutoFeature;

/// What a refusal says about the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Refusal {
    /// The features it names.
    pub(crate) features: Vec<AutoFeature>,
    /// The output limit it names ("exceeds the model limit of N").
    pub(crate) max_tokens: Option<u32>,
}

/// The features a `ValidationException` (or, for prompt caching, an `AccessDeniedException`)
/// names, from its message.
pub(crate) fn read_refusal(message: &str) -> Refusal {
    let lower = message.to_ascii_lowercase();
    let mut refusal = Refusal::default();
    let mut add = |feature| {
        if !refusal.features.contains(&feature) {
            refusal.features.push(feature);
        }
    };
    // Prompt caching: "#/toolConfig/tools/N: extraneous key [cachePoint] is not permitted"
    // (Nova; hermes-agent#97281), "#/messages/N/content/M: extraneous key [cachePoint]" (Nova;
    // zeroclaw#8720), "Cache point cannot be inserted after reasoning block" (Claude;
    // opencode#36517), "There is nothing available to cache" (strands PR#3677), "You invoked an
    // unsupported model or your request did not allow prompt caching" (strands PR#1807).
    if lower.contains("cachepoint")
        || lower.contains("cache point")
        || lower.contains("prompt caching")
        || lower.contains("nothing available to cache")
    {
        if lower.contains("toolconfig/tools") || lower.contains("toolconfig.tools") {
            add(AutoFeature::CacheTools);
        } else if lower.contains("#/messages") || lower.contains("messages.") {
            add(AutoFeature::CacheMessages);
        } else if lower.contains("#/system") || lower.contains("system.") {
            add(AutoFeature::CacheSystem);
        } else {
            add(AutoFeature::CacheMessages);
            add(AutoFeature::CacheTools);
            add(AutoFeature::CacheSystem);
        }
    }
    // "The maximum tokens you requested exceeds the model limit of 4096. Try again with a
    // maximum tokens value that is lower than 4096." (vercel/ai#2772)
    if let Some(at) = lower.find("exceeds the model limit of ") {
        let digits: String = lower[at + "exceeds the model limit of ".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        refusal.max_tokens = digits.parse().ok().filter(|limit| *limit > 0);
        add(AutoFeature::DefaultMaxTokens);
    } else if lower.contains("maxtokens") || lower.contains("max_tokens") {
        add(AutoFeature::DefaultMaxTokens);
    }
    // "This model doesn't support the toolConfig.toolChoice.any field." (strands#1241);
    // "Thinking may not be enabled when tool_choice forces tool use." (pydantic-ai#3092)
    if lower.contains("toolchoice") || lower.contains("tool_choice") {
        add(AutoFeature::ForcedToolChoice);
    }
    // "This model doesn't support tool use in streaming mode." (pi#3739)
    if lower.contains("tool use in streaming mode") {
        add(AutoFeature::StreamingWithTools);
    }
    // "This model doesn't support the status field. Remove status and try again." (strands#393)
    if lower.contains("status field") {
        add(AutoFeature::ToolResultStatus);
    }
    // "This model doesn't support system messages." (instructor#1753)
    if lower.contains("system message") {
        add(AutoFeature::SystemBlock);
    }
    // "Conversation blocks and tool result blocks cannot be provided in the same turn."
    // (strands#1223) and "… tool use blocks …" (langchain-aws tests)
    if lower.contains("tool result blocks cannot be provided in the same turn") {
        add(AutoFeature::MixedToolResultTurn);
    }
    if lower.contains("tool use blocks cannot be provided in the same turn") {
        add(AutoFeature::MixedToolUseTurn);
    }
    // "This model doesn't support the reasoningContent.reasoningText.signature field."
    // (strands PR#682); "User messages cannot contain reasoning content." (langchain-aws#401)
    if lower.contains("reasoningtext.signature") {
        add(AutoFeature::ReasoningSignature);
    } else if lower.contains("reasoning content") || lower.contains("reasoningcontent") {
        add(AutoFeature::ReasoningReplay);
    }
    // "Tool call id was a but must be a-z, A-Z, 0-9, with a length of 9." (vercel/ai#11802)
    if lower.contains("tool call id") {
        add(AutoFeature::OriginalToolCallIds);
    }
    // "This model doesn't support the image field for user messages." in tool results
    // (opencode#49443)
    if lower.contains("image field") || lower.contains("document field") {
        add(AutoFeature::MediaInToolResults);
    }
    // "…inputSchema/json: extraneous key [definitions] is not permitted" (zed#31815)
    if lower.contains("inputschema") && lower.contains("extraneous key") {
        add(AutoFeature::FullToolSchemas);
    }
    // Nova's schema check of the additional fields: "extraneous key [inferenceConfig]" or
    // "[topK]" (the Nova tool guide's greedy decoding).
    if lower.contains("extraneous key [inferenceconfig]")
        || lower.contains("extraneous key [topk]")
        || (lower.contains("additionalmodelrequestfields") && lower.contains("topk"))
    {
        add(AutoFeature::GreedyDecoding);
    }
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(message: &str) -> Vec<AutoFeature> {
        read_refusal(message).features
    }

    #[test]
    fn bedrocks_own_refusals_name_their_feature() {
        assert_eq!(
            features(
                "Malformed input request: #/toolConfig/tools/1: extraneous key [cachePoint] is \
                 not permitted, please reformat your input and try again."
            ),
            [AutoFeature::CacheTools]
        );
        assert_eq!(
            features(
                "Malformed input request: #/messages/6/content/0: extraneous key [cachePoint] \
                 is not permitted, please reformat your input and try again."
            ),
            [AutoFeature::CacheMessages]
        );
        assert_eq!(
            features(
                "You invoked an unsupported model or your request did not allow prompt caching."
            ),
            [
                AutoFeature::CacheMessages,
                AutoFeature::CacheTools,
                AutoFeature::CacheSystem
            ]
        );
        let limit = read_refusal(
            "The maximum tokens you requested exceeds the model limit of 4096. Try again with a \
             maximum tokens value that is lower than 4096.",
        );
        assert_eq!(limit.features, [AutoFeature::DefaultMaxTokens]);
        assert_eq!(limit.max_tokens, Some(4096));
        assert_eq!(
            features(
                "This model doesn't support the toolConfig.toolChoice.any field. Remove \
                 toolConfig.toolChoice.any and try again"
            ),
            [AutoFeature::ForcedToolChoice]
        );
        assert_eq!(
            features("This model doesn't support tool use in streaming mode."),
            [AutoFeature::StreamingWithTools]
        );
        assert_eq!(
            features("This model doesn't support the status field. Remove status and try again."),
            [AutoFeature::ToolResultStatus]
        );
        assert_eq!(
            features(
                "This model doesn't support system messages. Try again without a system message \
                 or use a model that supports system messages."
            ),
            [AutoFeature::SystemBlock]
        );
        assert_eq!(
            features(
                "messages.2.content: Conversation blocks and tool result blocks cannot be \
                 provided in the same turn."
            ),
            [AutoFeature::MixedToolResultTurn]
        );
        assert_eq!(
            features(
                "Conversation blocks and tool use blocks cannot be provided in the same turn."
            ),
            [AutoFeature::MixedToolUseTurn]
        );
        assert_eq!(
            features(
                "This model doesn't support the reasoningContent.reasoningText.signature field. \
                 Remove reasoningContent.reasoningText.signature and try again."
            ),
            [AutoFeature::ReasoningSignature]
        );
        assert_eq!(
            features(
                "User messages cannot contain reasoning content. Please remove the reasoning \
                 content and try again."
            ),
            [AutoFeature::ReasoningReplay]
        );
        assert_eq!(
            features("Tool call id was a but must be a-z, A-Z, 0-9, with a length of 9."),
            [AutoFeature::OriginalToolCallIds]
        );
        assert_eq!(
            features(
                "Malformed input request: #/toolConfig/tools/1/toolSpec/inputSchema/json: \
                 extraneous key [definitions] is not permitted, please reformat your input and \
                 try again."
            ),
            [AutoFeature::FullToolSchemas]
        );
        assert!(features("Input is too long for requested model.").is_empty());
        assert!(features("The provided model identifier is invalid.").is_empty());
    }
}
