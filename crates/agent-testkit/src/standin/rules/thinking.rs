//! Extended thinking (`additionalModelRequestFields.thinking`), `toolChoice`, and the rules
//! that tie them together. The thinking rules are the model's (Anthropic Claude on Bedrock):
//! Bedrock passes its errors on as a `ValidationException` starting "The model returned the
//! following errors:". Sources:
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html> ;
//! forced tool choice: <https://github.com/pydantic/pydantic-ai/issues/3092> ,
//! <https://github.com/can1357/oh-my-pi/issues/341> .

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::super::family::Model;
use super::{Rule, RuleViolation, WireMessage};

/// How a request asks Claude to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Thinking {
    /// No `thinking`, or `{"type": "disabled"}`.
    Off,
    /// `{"type": "enabled", "budget_tokens": N}`.
    Budget,
    /// `{"type": "adaptive"}` (Claude Sonnet 4.6, Opus 4.6 and later).
    Adaptive,
}

/// The smallest thinking budget the model takes.
pub(super) const MIN_THINKING_BUDGET: u64 = 1024;

/// Checks `additionalModelRequestFields.thinking`; returns how thinking is asked for.
/// `{"type": "adaptive"}` is taken by the models that have it, and by ids the stand-in does
/// not know.
pub(super) fn check_thinking(
    body: &Map<String, Value>,
    model: Option<&Model>,
) -> Result<Thinking, RuleViolation> {
    let Some(thinking) = body
        .get("additionalModelRequestFields")
        .and_then(|fields| fields.get("thinking"))
    else {
        return Ok(Thinking::Off);
    };
    let adaptive = model.is_none_or(Model::adaptive_thinking);
    let invalid = |message: String| {
        Err(RuleViolation::new(
            Rule::InvalidThinkingConfig,
            format!("The model returned the following errors: {message}"),
        ))
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(Thinking::Off),
        Some("adaptive") if adaptive => Ok(Thinking::Adaptive),
        Some("enabled") => {
            let Some(budget) = thinking.get("budget_tokens") else {
                return invalid("thinking.enabled.budget_tokens: Field required".to_owned());
            };
            let Some(budget) = budget.as_u64() else {
                return invalid(
                    "thinking.enabled.budget_tokens: Input should be a valid integer".to_owned(),
                );
            };
            if budget < MIN_THINKING_BUDGET {
                return invalid(format!(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to \
                     {MIN_THINKING_BUDGET}"
                ));
            }
            let max_tokens = body
                .get("inferenceConfig")
                .and_then(|config| config.get("maxTokens"))
                .and_then(Value::as_u64);
            if let Some(max_tokens) = max_tokens
                && budget >= max_tokens
            {
                return invalid(format!(
                    "`max_tokens` must be greater than `thinking.budget_tokens` ({max_tokens} \
                     <= {budget})."
                ));
            }
            Ok(Thinking::Budget)
        }
        other => invalid(format!(
            "thinking.type: Input should be 'enabled' or 'disabled', not {}",
            other.map_or_else(|| "null".to_owned(), |t| format!("'{t}'"))
        )),
    }
}

/// Checks `toolChoice`: inside `toolConfig`, exactly one of `auto`, `any`, `tool`, a named
/// tool offered, and not forcing a tool while thinking is enabled (budget or adaptive).
pub(super) fn check_tool_choice(
    body: &Map<String, Value>,
    thinking_enabled: bool,
) -> Result<(), RuleViolation> {
    let invalid = |message: String| Err(RuleViolation::new(Rule::InvalidToolChoice, message));
    if body.get("toolChoice").is_some() {
        return invalid(
            "toolChoice must be given inside toolConfig (toolConfig.toolChoice), with the tools \
             it chooses from."
                .to_owned(),
        );
    }
    let Some(choice) = body
        .get("toolConfig")
        .and_then(|config| config.get("toolChoice"))
    else {
        return Ok(());
    };
    let Some((kind, value)) = choice
        .as_object()
        .filter(|choice| choice.len() == 1)
        .and_then(|choice| choice.iter().next())
    else {
        return invalid(
            "toolConfig.toolChoice must hold exactly one of auto, any and tool.".to_owned(),
        );
    };
    match kind.as_str() {
        "auto" | "any" => {}
        "tool" => {
            let name = value.get("name").and_then(Value::as_str).unwrap_or("");
            let offered: HashSet<&str> = body
                .get("toolConfig")
                .and_then(|config| config.get("tools"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|tool| tool.pointer("/toolSpec/name").and_then(Value::as_str))
                .collect();
            if !offered.contains(name) {
                return invalid(format!(
                    "The tool '{name}' named in toolConfig.toolChoice is not one of the tools \
                     in toolConfig.tools."
                ));
            }
        }
        other => {
            return invalid(format!(
                "toolConfig.toolChoice.{other} is not a tool choice: use auto, any or tool."
            ));
        }
    }
    if thinking_enabled && kind != "auto" {
        return Err(RuleViolation::new(
            Rule::ToolChoiceForcedWithThinking,
            "The model returned the following errors: Thinking may not be enabled when \
             tool_choice forces tool use.",
        ));
    }
    Ok(())
}

/// With thinking enabled, the model's side of the current turn must start with its reasoning
/// once the turn uses tools: the first assistant message after the last user message that is
/// not only tool results, when tool results answer it, must begin with a `reasoningContent`
/// block. Earlier turns, and later tool steps of the same turn, may leave reasoning out, as
/// the model allows (without interleaved thinking it reasons once per turn).
pub(super) fn check_reasoning_before_tool_use(
    messages: &[WireMessage<'_>],
    thinking_enabled: bool,
) -> Result<(), RuleViolation> {
    if !thinking_enabled {
        return Ok(());
    }
    let turn_start = messages
        .iter()
        .rposition(|message| message.role == "user" && message.tool_results.is_empty())
        .map_or(0, |index| index + 1);
    let Some(first) = messages
        .iter()
        .enumerate()
        .skip(turn_start)
        .find(|(_, message)| message.role == "assistant")
        .map(|(index, _)| index)
    else {
        return Ok(());
    };
    let answered_by_results = messages
        .get(first + 1)
        .is_some_and(|next| next.role == "user" && !next.tool_results.is_empty());
    let assistant = &messages[first];
    let first_block = assistant.content.first();
    let starts_with_reasoning =
        first_block.is_some_and(|block| block.get("reasoningContent").is_some());
    if !answered_by_results || starts_with_reasoning {
        return Ok(());
    }
    let found = first_block
        .and_then(Value::as_object)
        .and_then(|block| block.keys().next())
        .map_or("nothing", |key| anthropic_block_type(key));
    Err(RuleViolation::new(
        Rule::MissingReasoningBeforeToolUse,
        format!(
            "The model returned the following errors: messages.{first}.content.0.type: Expected \
             `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, \
             a final `assistant` message must start with a thinking block (preceeding the \
             lastmost set of `tool_use` and `tool_result` blocks). We recommend you include \
             thinking blocks from previous turns. To avoid this requirement, disable `thinking`."
        ),
    ))
}

/// The model's name for a Converse block type, as its error messages use it.
fn anthropic_block_type(converse: &str) -> &str {
    match converse {
        "toolUse" => "tool_use",
        "toolResult" => "tool_result",
        "cachePoint" => "cache_control",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule_of(body: Value) -> Option<Rule> {
        super::super::check_converse_request(&body)
            .err()
            .map(|v| v.rule())
    }

    fn thinking(budget: u64) -> Value {
        json!({"thinking": {"type": "enabled", "budget_tokens": budget}})
    }

    #[test]
    fn the_thinking_budget_has_a_floor_and_stays_under_max_tokens() {
        let ask = |fields: Value, max_tokens: Option<u64>| {
            let mut body = json!({
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "additionalModelRequestFields": fields
            });
            if let Some(max_tokens) = max_tokens {
                body["inferenceConfig"] = json!({"maxTokens": max_tokens});
            }
            rule_of(body)
        };
        assert_eq!(ask(thinking(1024), None), None);
        assert_eq!(ask(thinking(1024), Some(1025)), None);
        assert_eq!(ask(thinking(1023), None), Some(Rule::InvalidThinkingConfig));
        assert_eq!(
            ask(thinking(2048), Some(2048)),
            Some(Rule::InvalidThinkingConfig)
        );
        assert_eq!(
            ask(json!({"thinking": {"type": "disabled"}}), Some(10)),
            None
        );
        assert_eq!(
            ask(json!({"thinking": {"type": "enabled"}}), None),
            Some(Rule::InvalidThinkingConfig)
        );
        assert_eq!(
            ask(json!({"thinking": {"type": "sometimes"}}), None),
            Some(Rule::InvalidThinkingConfig)
        );
        // Other model fields are the model's business.
        assert_eq!(ask(json!({"top_k": 5}), None), None);
    }

    #[test]
    fn only_the_first_step_of_the_current_turn_needs_reasoning() {
        let reasoning =
            json!({"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}});
        let call = |id: &str| json!({"toolUse": {"toolUseId": id, "name": "t", "input": {}}});
        let result =
            |id: &str| json!({"toolResult": {"toolUseId": id, "content": [{"text": "1"}]}});
        let user = |text: &str| json!({"role": "user", "content": [{"text": text}]});
        let body = |messages: Vec<Value>| {
            json!({
                "messages": messages,
                "toolConfig": {"tools": [{"toolSpec": {"name": "t", "description": "d", "inputSchema": {"json": {"type": "object"}}}}]},
                "additionalModelRequestFields": thinking(2048)
            })
        };
        // Earlier turn without reasoning; current turn starts with it; its second step not.
        let good = body(vec![
            user("one"),
            json!({"role": "assistant", "content": [call("a")]}),
            json!({"role": "user", "content": [result("a")]}),
            json!({"role": "assistant", "content": [{"text": "done"}]}),
            user("two"),
            json!({"role": "assistant", "content": [reasoning, call("b")]}),
            json!({"role": "user", "content": [result("b")]}),
            json!({"role": "assistant", "content": [call("c")]}),
            json!({"role": "user", "content": [result("c")]}),
        ]);
        assert_eq!(rule_of(good), None);
        let bad = body(vec![
            user("two"),
            json!({"role": "assistant", "content": [{"text": "Let me check."}, call("b")]}),
            json!({"role": "user", "content": [result("b")]}),
        ]);
        let violation = check_converse_request_err(bad);
        assert_eq!(violation.rule(), Rule::MissingReasoningBeforeToolUse);
        assert!(violation.message().contains("messages.1.content.0.type"));
        assert!(violation.message().contains("found `text`"));
    }

    fn check_converse_request_err(body: Value) -> RuleViolation {
        super::super::check_converse_request(&body).unwrap_err()
    }
}
