//! Refusals on demand: a stand-in told to ([`ConverseStandIn::refuse_once`],
//! [`ConverseStandIn::refuse_always`]) refuses a feature a client adds to its requests on its
//! own, with the error Bedrock gives when a model does not take it — so that a client's
//! recovery (drop the feature, call again, remember) can be tested against a family whose rules
//! otherwise take the feature.
//!
//! [`ConverseStandIn::refuse_once`]: crate::ConverseStandIn::refuse_once
//! [`ConverseStandIn::refuse_always`]: crate::ConverseStandIn::refuse_always

use serde_json::Value;

use super::{Rule, RuleViolation};

/// An optional feature a Converse client may add to a request on its own, which Bedrock refuses
/// for some models, each refused with Bedrock's own words (the source is named on each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionalFeature {
    /// A `cachePoint` block in a message: "Malformed input request: #/messages/N/content/M:
    /// extraneous key \[cachePoint\] is not permitted, please reformat your input and try again."
    /// ([`Rule::CachePointNotPermitted`]; Nova Pro and Nova 2 Lite during tool use,
    /// <https://github.com/earendil-works/pi/issues/2053>,
    /// <https://github.com/zeroclaw-labs/zeroclaw/issues/8720>).
    CachePointInMessages,
    /// A `cachePoint` in `toolConfig.tools`: "Malformed input request: #/toolConfig/tools/N:
    /// extraneous key \[cachePoint\] is not permitted, please reformat your input and try again."
    /// ([`Rule::CachePointNotPermitted`]; Nova,
    /// <https://github.com/NousResearch/hermes-agent/issues/97281>).
    CachePointInTools,
    /// Any `cachePoint`: an `AccessDeniedException` (403), "You invoked an unsupported model or
    /// your request did not allow prompt caching." ([`Rule::PromptCachingUnsupported`];
    /// <https://github.com/strands-agents/harness-sdk/pull/1807>).
    PromptCaching,
    /// `toolConfig.toolChoice` `any` or `tool`: "This model doesn't support the
    /// toolConfig.toolChoice.any field. Remove toolConfig.toolChoice.any and try again." (or
    /// `.tool`) ([`Rule::ToolChoiceUnsupported`];
    /// <https://github.com/strands-agents/harness-sdk/issues/1241>).
    ForcedToolChoice,
    /// `status` on a `toolResult`: "This model doesn't support the status field. Remove status
    /// and try again." ([`Rule::ToolResultStatusUnsupported`];
    /// <https://github.com/strands-agents/harness-sdk/issues/393>).
    ToolResultStatus,
    /// `additionalModelRequestFields.inferenceConfig` (the greedy decoding Nova's tool guide
    /// advises): "Malformed input request: #: extraneous key \[inferenceConfig\] is not
    /// permitted, please reformat your input and try again." ([`Rule::AdditionalFieldNotPermitted`]).
    /// No model is known to refuse it, so Bedrock's text for it was never captured: this is
    /// the form of Nova's schema check of request keys
    /// (<https://github.com/NousResearch/hermes-agent/issues/97281>,
    /// <https://github.com/zed-industries/zed/issues/31815>).
    AdditionalInferenceConfig,
}

impl OptionalFeature {
    /// The refusal a request holding this feature gets; `None` when it does not hold it.
    pub(crate) fn refusal(self, body: &Value) -> Option<RuleViolation> {
        match self {
            OptionalFeature::CachePointInMessages => {
                let (message, block) = message_cache_point(body)?;
                Some(RuleViolation::new(
                    Rule::CachePointNotPermitted,
                    format!(
                        "Malformed input request: #/messages/{message}/content/{block}: \
                         extraneous key [cachePoint] is not permitted, please reformat your \
                         input and try again."
                    ),
                ))
            }
            OptionalFeature::CachePointInTools => {
                let index = body
                    .pointer("/toolConfig/tools")
                    .and_then(Value::as_array)?
                    .iter()
                    .position(is_cache_point)?;
                Some(RuleViolation::new(
                    Rule::CachePointNotPermitted,
                    format!(
                        "Malformed input request: #/toolConfig/tools/{index}: extraneous key \
                         [cachePoint] is not permitted, please reformat your input and try again."
                    ),
                ))
            }
            OptionalFeature::PromptCaching => {
                let in_system = body
                    .get("system")
                    .and_then(Value::as_array)
                    .is_some_and(|blocks| blocks.iter().any(is_cache_point));
                let in_tools = body
                    .pointer("/toolConfig/tools")
                    .and_then(Value::as_array)
                    .is_some_and(|tools| tools.iter().any(is_cache_point));
                (in_system || in_tools || message_cache_point(body).is_some()).then(|| {
                    RuleViolation::new(
                        Rule::PromptCachingUnsupported,
                        "You invoked an unsupported model or your request did not allow prompt \
                         caching.",
                    )
                })
            }
            OptionalFeature::ForcedToolChoice => {
                let choice = body.pointer("/toolConfig/toolChoice")?;
                let kind = ["any", "tool"]
                    .into_iter()
                    .find(|kind| choice.get(kind).is_some())?;
                Some(RuleViolation::new(
                    Rule::ToolChoiceUnsupported,
                    format!(
                        "This model doesn't support the toolConfig.toolChoice.{kind} field. \
                         Remove toolConfig.toolChoice.{kind} and try again."
                    ),
                ))
            }
            OptionalFeature::ToolResultStatus => {
                let has_status = body
                    .get("messages")
                    .and_then(Value::as_array)?
                    .iter()
                    .filter_map(|message| message.get("content").and_then(Value::as_array))
                    .flatten()
                    .any(|block| block.pointer("/toolResult/status").is_some());
                has_status.then(|| {
                    RuleViolation::new(
                        Rule::ToolResultStatusUnsupported,
                        "This model doesn't support the status field. Remove status and try \
                         again.",
                    )
                })
            }
            OptionalFeature::AdditionalInferenceConfig => {
                body.pointer("/additionalModelRequestFields/inferenceConfig")?;
                Some(RuleViolation::new(
                    Rule::AdditionalFieldNotPermitted,
                    "Malformed input request: #: extraneous key [inferenceConfig] is not \
                     permitted, please reformat your input and try again.",
                ))
            }
        }
    }
}

fn is_cache_point(block: &Value) -> bool {
    block.get("cachePoint").is_some()
}

/// The message and block index of the first `cachePoint` in the messages.
fn message_cache_point(body: &Value) -> Option<(usize, usize)> {
    body.get("messages")
        .and_then(Value::as_array)?
        .iter()
        .enumerate()
        .find_map(|(index, message)| {
            message
                .get("content")
                .and_then(Value::as_array)?
                .iter()
                .position(is_cache_point)
                .map(|block| (index, block))
        })
}

/// How many more requests a refusal refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Times {
    /// This many.
    Count(usize),
    /// Every one.
    Always,
}

/// A refusal the stand-in was told to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) feature: OptionalFeature,
    pub(crate) times: Times,
}

/// The first refusal of `refusals` that `body` meets, counted (a refusal used up is removed).
pub(crate) fn refuse(refusals: &mut Vec<Refusal>, body: &Value) -> Option<RuleViolation> {
    let (index, violation) = refusals
        .iter()
        .enumerate()
        .find_map(|(index, refusal)| Some((index, refusal.feature.refusal(body)?)))?;
    match &mut refusals[index].times {
        Times::Always => {}
        Times::Count(left) => {
            *left = left.saturating_sub(1);
            if *left == 0 {
                refusals.remove(index);
            }
        }
    }
    Some(violation)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_feature_is_found_where_clients_put_it_and_refused_in_bedrocks_words() {
        let cache_point = json!({"cachePoint": {"type": "default"}});
        let body = json!({
            "system": [{"text": "Be brief."}, cache_point],
            "messages": [
                {"role": "user", "content": [{"text": "Weather?"}, cache_point]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "w", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "a", "content": [{"text": "sunny"}], "status": "success"}}]}
            ],
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "w"}}, cache_point],
                "toolChoice": {"any": {}}
            },
            "additionalModelRequestFields": {"inferenceConfig": {"topK": 1}}
        });
        let refused = |feature: OptionalFeature| feature.refusal(&body).unwrap();
        assert_eq!(
            refused(OptionalFeature::CachePointInMessages).message(),
            "Malformed input request: #/messages/0/content/1: extraneous key [cachePoint] is not \
             permitted, please reformat your input and try again."
        );
        assert_eq!(
            refused(OptionalFeature::CachePointInTools).message(),
            "Malformed input request: #/toolConfig/tools/1: extraneous key [cachePoint] is not \
             permitted, please reformat your input and try again."
        );
        assert_eq!(
            refused(OptionalFeature::PromptCaching).rule(),
            Rule::PromptCachingUnsupported
        );
        assert_eq!(
            refused(OptionalFeature::ForcedToolChoice).message(),
            "This model doesn't support the toolConfig.toolChoice.any field. Remove \
             toolConfig.toolChoice.any and try again."
        );
        assert_eq!(
            refused(OptionalFeature::ToolResultStatus).rule(),
            Rule::ToolResultStatusUnsupported
        );
        assert_eq!(
            refused(OptionalFeature::AdditionalInferenceConfig).rule(),
            Rule::AdditionalFieldNotPermitted
        );

        let plain = json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "w"}}], "toolChoice": {"auto": {}}}});
        for feature in [
            OptionalFeature::CachePointInMessages,
            OptionalFeature::CachePointInTools,
            OptionalFeature::PromptCaching,
            OptionalFeature::ForcedToolChoice,
            OptionalFeature::ToolResultStatus,
            OptionalFeature::AdditionalInferenceConfig,
        ] {
            assert!(feature.refusal(&plain).is_none(), "{feature:?}");
        }
    }

    #[test]
    fn a_refusal_given_once_is_used_up_and_one_given_always_is_not() {
        let choice = json!({"messages": [], "toolConfig": {"toolChoice": {"tool": {"name": "w"}}}});
        let plain = json!({"messages": []});
        let mut refusals = vec![
            Refusal {
                feature: OptionalFeature::ForcedToolChoice,
                times: Times::Count(1),
            },
            Refusal {
                feature: OptionalFeature::ToolResultStatus,
                times: Times::Always,
            },
        ];
        assert!(refuse(&mut refusals, &plain).is_none(), "nothing to refuse");
        assert_eq!(
            refusals.len(),
            2,
            "a request without the feature uses nothing up"
        );
        assert!(refuse(&mut refusals, &choice).is_some());
        assert!(
            refuse(&mut refusals, &choice).is_none(),
            "refused once only"
        );
        assert_eq!(
            refusals,
            [Refusal {
                feature: OptionalFeature::ToolResultStatus,
                times: Times::Always,
            }]
        );
    }
}
