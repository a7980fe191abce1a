//! The loop's spans, as the OpenTelemetry semantic conventions for generative AI name them:
//! `invoke_agent {agent}` around a run, `chat {model}` around each model call and
//! `execute_tool {tool}` around each tool call, with their `gen_ai.*` attributes.
//!
//! The spans are `tracing` spans, so any subscriber sees them; `tracing-opentelemetry` turns
//! them into OpenTelemetry spans (it reads `otel.name`, `otel.kind` and `otel.status_code`).
//! With the `otel` feature, attributes that the conventions type as arrays
//! (`gen_ai.response.finish_reasons`) are set as arrays on the OpenTelemetry span; without it
//! they are recorded as JSON text, which is what a log subscriber can show.
//!
//! Message content (prompts, answers, tool arguments and results) is recorded only when the
//! agent was asked to (`capture`): it may hold personal data. It then follows the conventions'
//! JSON shapes (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`), with media described by type and size, never their bytes.
//! The run's span also carries its query and answer as text in `gen_ai.task.input` and
//! `gen_ai.task.output`, where Amazon Bedrock AgentCore Evaluations reads an agent's prompt and
//! response (a proposed GenAI attribute, not yet in the conventions' registry).
//!
//! Runs in a session carry the session id in `session.id` (what AgentCore Evaluations groups a
//! session's traces by, and requires on every span it reads) and in `gen_ai.conversation.id`.
//!
//! Content is serialised only when the span is enabled: without a subscriber that wants these
//! spans, capture costs nothing.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::Span;
use tracing::field::Empty;
use uuid::Uuid;

use agent_core::{ContentBlock, Message, ReasoningContent, Role, ToolResultContent, ToolUse};
use agent_core::{
    InferenceConfig, ModelIdentity, ModelResponse, RunOutcome, RunResult, TokenUsage,
};
use agent_core::{ToolError, ToolOutput};

/// The span around a run. With `capture`, the run's query (the user's turn as they gave it).
pub(crate) fn invoke_agent(
    identity: &ModelIdentity,
    agent: &str,
    conversation: Option<&str>,
    run_id: Uuid,
    capture: Option<&[ContentBlock]>,
) -> Span {
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = %format!("invoke_agent {agent}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = %identity.provider,
        gen_ai.agent.name = %agent,
        gen_ai.request.model = %identity.model_id,
        gen_ai.conversation.id = conversation,
        session.id = conversation,
        minimalagent.run_id = %run_id,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        gen_ai.task.input = Empty,
        gen_ai.task.output = Empty,
        error.type = Empty,
    );
    if let Some(query) = capture
        && !span.is_disabled()
    {
        let input = json!([message_json(Role::User, query, None)]);
        span.record("gen_ai.input.messages", input.to_string().as_str());
        span.record("gen_ai.task.input", text_of(query).as_str());
    }
    span
}

/// Records a run's end on its span: the tokens of all its model calls, and its error.
pub(crate) fn record_run_end(span: &Span, usage: &TokenUsage, error: Option<&str>) {
    record_usage(span, usage);
    if let Some(error) = error {
        record_error(span, error);
    }
}

/// Records a run's answer on its span (with `capture`): the final answer as the agent's output
/// message, and as text. A paused run has not answered yet: nothing is recorded.
pub(crate) fn record_answer(span: &Span, result: &RunResult) {
    if result.outcome == RunOutcome::Paused || span.is_disabled() {
        return;
    }
    let answer = match &result.structured {
        Some(value) if result.response.is_empty() => value.to_string(),
        _ => result.response.clone(),
    };
    let parts = if answer.is_empty() {
        json!([])
    } else {
        json!([{"type": "text", "content": answer}])
    };
    let output = json!([{
        "role": "assistant",
        "parts": parts,
        "finish_reason": result.stop_reason.as_str(),
    }]);
    span.record("gen_ai.output.messages", output.to_string().as_str());
    span.record("gen_ai.task.output", answer.as_str());
}

/// The span around one model call. With `capture`, the request's system prompt and messages.
pub(crate) fn chat(
    identity: &ModelIdentity,
    inference: &InferenceConfig,
    conversation: Option<&str>,
    step: u32,
    capture: Option<(&[String], &[Arc<Message>])>,
) -> Span {
    let span = tracing::info_span!(
        "chat",
        otel.name = %format!("chat {}", identity.model_id),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %identity.provider,
        gen_ai.request.model = %identity.model_id,
        gen_ai.request.max_tokens = inference.max_tokens.map(i64::from),
        gen_ai.request.temperature = inference.temperature.map(f64::from),
        gen_ai.request.top_p = inference.top_p.map(f64::from),
        gen_ai.conversation.id = conversation,
        session.id = conversation,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.system_instructions = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        minimalagent.step = i64::from(step),
        error.type = Empty,
    );
    if let Some((system, messages)) = capture
        && !span.is_disabled()
    {
        let instructions: Vec<Value> = system
            .iter()
            .map(|text| json!({"type": "text", "content": text}))
            .collect();
        span.record(
            "gen_ai.system_instructions",
            Value::Array(instructions).to_string().as_str(),
        );
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| message_json(m.role, &m.content, None))
            .collect();
        span.record(
            "gen_ai.input.messages",
            Value::Array(messages).to_string().as_str(),
        );
    }
    span
}

/// Records a model call's reply on its span.
pub(crate) fn record_reply(span: &Span, response: &ModelResponse, capture: bool) {
    let reason = response.stop_reason.to_string();
    record_finish_reasons(span, &reason);
    record_usage(span, &response.usage);
    if capture && !span.is_disabled() {
        let message = &response.message;
        let output = json!([message_json(message.role, &message.content, Some(&reason))]);
        span.record("gen_ai.output.messages", output.to_string().as_str());
    }
}

/// The span around one tool call. With `capture`, its arguments.
pub(crate) fn execute_tool(
    identity: &ModelIdentity,
    call: &ToolUse,
    conversation: Option<&str>,
    capture: bool,
) -> Span {
    let span = tracing::info_span!(
        "execute_tool",
        otel.name = %format!("execute_tool {}", call.name),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.provider.name = %identity.provider,
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.tool_use_id,
        gen_ai.tool.type = "function",
        gen_ai.conversation.id = conversation,
        session.id = conversation,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
        error.type = Empty,
    );
    if capture && !span.is_disabled() {
        span.record(
            "gen_ai.tool.call.arguments",
            call.input.to_string().as_str(),
        );
    }
    span
}

/// Records a tool call's outcome on its span (its result only with `capture`).
pub(crate) fn record_tool_result(
    span: &Span,
    result: &Result<ToolOutput, ToolError>,
    capture: bool,
) {
    match result {
        Ok(output) if capture && !span.is_disabled() => {
            span.record(
                "gen_ai.tool.call.result",
                output.to_trace_value().to_string().as_str(),
            );
        }
        Ok(_) => {}
        Err(error) => record_error(span, error.kind().as_str()),
    }
}

/// Marks the span failed, with the error's type (a stable, low-cardinality name).
pub(crate) fn record_error(span: &Span, error_type: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

/// The conventions count cached tokens in `gen_ai.usage.input_tokens`; Bedrock reports them
/// apart from `inputTokens`, so they are added back. Counts are recorded as `i64`: OpenTelemetry
/// has no unsigned integers, and `tracing-opentelemetry` turns a `u64` into text.
fn record_usage(span: &Span, usage: &TokenUsage) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let input = usage
        .input_tokens
        .saturating_add(usage.cache_read_input_tokens)
        .saturating_add(usage.cache_write_input_tokens);
    span.record("gen_ai.usage.input_tokens", count(input));
    span.record("gen_ai.usage.output_tokens", count(usage.output_tokens));
    span.record(
        "gen_ai.usage.cache_read.input_tokens",
        count(usage.cache_read_input_tokens),
    );
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        count(usage.cache_write_input_tokens),
    );
}

#[cfg(feature = "otel")]
fn record_finish_reasons(span: &Span, reason: &str) {
    use opentelemetry::{Array, StringValue, Value as OtelValue};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    // Without an OpenTelemetry layer installed this does nothing.
    span.set_attribute(
        "gen_ai.response.finish_reasons",
        OtelValue::Array(Array::String(vec![StringValue::from(reason.to_owned())])),
    );
}

#[cfg(not(feature = "otel"))]
fn record_finish_reasons(span: &Span, reason: &str) {
    span.record(
        "gen_ai.response.finish_reasons",
        json!([reason]).to_string().as_str(),
    );
}

/// A message in the conventions' shape: `{"role", "parts": [...]}`, plus `finish_reason` for
/// an output message. A user turn that only answers tool calls is the conventions' `tool`
/// message (Converse sends tool results as a user turn).
fn message_json(role: Role, content: &[ContentBlock], finish_reason: Option<&str>) -> Value {
    let answers_tools = content
        .iter()
        .any(|block| matches!(block, ContentBlock::ToolResult(_)))
        && content.iter().all(|block| {
            matches!(
                block,
                ContentBlock::ToolResult(_) | ContentBlock::CachePoint(_)
            )
        });
    let role = match role {
        Role::User if answers_tools => "tool",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let parts: Vec<Value> = content.iter().filter_map(part_json).collect();
    let mut value = json!({"role": role, "parts": parts});
    if let (Some(reason), Some(object)) = (finish_reason, value.as_object_mut()) {
        object.insert("finish_reason".to_owned(), Value::from(reason));
    }
    value
}

/// The text of a turn: its text blocks, joined by newlines.
fn text_of(content: &[ContentBlock]) -> String {
    let texts: Vec<&str> = content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

fn part_json(block: &ContentBlock) -> Option<Value> {
    Some(match block {
        ContentBlock::Text(text) => json!({"type": "text", "content": text}),
        ContentBlock::ToolUse(call) => json!({
            "type": "tool_call",
            "id": call.tool_use_id,
            "name": call.name,
            "arguments": call.input,
        }),
        ContentBlock::ToolResult(result) => {
            let response: Vec<Value> = result
                .content
                .iter()
                .map(|content| match content {
                    ToolResultContent::Json(value) => value.clone(),
                    ToolResultContent::Text(text) => Value::from(text.as_str()),
                    ToolResultContent::Image(image) => json!({
                        "type": "image",
                        "format": image.format.as_str(),
                        "source": image.source.describe(),
                    }),
                    ToolResultContent::Document(document) => json!({
                        "type": "document",
                        "format": document.format.as_str(),
                        "source": document.source.describe(),
                    }),
                    _ => json!({"type": "unknown"}),
                })
                .collect();
            json!({"type": "tool_call_response", "id": result.tool_use_id, "response": response})
        }
        ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
            json!({"type": "reasoning", "content": reasoning.text})
        }
        ContentBlock::ReasoningContent(_) => json!({"type": "reasoning", "content": "[redacted]"}),
        ContentBlock::Image(image) => json!({
            "type": "image",
            "format": image.format.as_str(),
            "source": image.source.describe(),
        }),
        ContentBlock::Document(document) => json!({
            "type": "document",
            "name": document.name,
            "format": document.format.as_str(),
            "source": document.source.describe(),
        }),
        ContentBlock::CachePoint(_) => return None,
        _ => json!({"type": "unknown"}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{ImageBlock, ImageFormat, ToolResult};

    #[test]
    fn messages_take_the_conventions_shape_and_media_show_no_bytes() {
        let user = Message::user(vec![
            ContentBlock::Text("What is in it?".into()),
            ContentBlock::Image(ImageBlock::from_bytes(ImageFormat::Png, vec![7u8; 1234])),
            ContentBlock::CachePoint(Default::default()),
        ]);
        assert_eq!(
            message_json(user.role, &user.content, None),
            json!({"role": "user", "parts": [
                {"type": "text", "content": "What is in it?"},
                {"type": "image", "format": "png", "source": "1234 bytes"},
            ]})
        );
        let results = Message::user(vec![ContentBlock::ToolResult(ToolResult {
            tool_use_id: "t1".into(),
            content: vec![ToolResultContent::Json(json!({"rows": 3}))],
            status: None,
        })]);
        // Tool results alone are the conventions' `tool` message, not a user's turn.
        assert_eq!(
            message_json(results.role, &results.content, None),
            json!({"role": "tool", "parts": [
                {"type": "tool_call_response", "id": "t1", "response": [{"rows": 3}]},
            ]})
        );
        let answer = Message::assistant_text("A cat.");
        let answer = message_json(answer.role, &answer.content, Some("end_turn"));
        assert_eq!(answer["finish_reason"], "end_turn");
        assert_eq!(text_of(&user.content), "What is in it?");
    }
}
