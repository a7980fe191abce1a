//! The requests the stand-in receives, as seen by a policy and as recorded for tests.

use std::time::Instant;

use agent_core::{Message, ToolSpec};
use serde_json::Value;

use super::rules::RuleViolation;

/// A Converse request as a [`Policy`](super::Policy) sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseRequest {
    /// Its position among the requests this stand-in received, from 0.
    pub index: usize,
    /// The model id from the path, percent-decoded (`us.amazon.nova-pro-v1:0`).
    pub model_id: String,
    /// The JSON body, as sent.
    pub body: Value,
    /// Whether it came to `ConverseStream` (`POST /model/{modelId}/converse-stream`) rather
    /// than `Converse`.
    pub streamed: bool,
    /// The AWS Region the request was signed for, read from its SigV4 `Authorization` header
    /// (`None` without one).
    pub region: Option<String>,
}

impl ConverseRequest {
    /// The conversation, as [`Message`]s. Fails on content blocks agent-core does not model
    /// (images, documents, …); use [`ConverseRequest::body`] for those.
    pub fn messages(&self) -> Result<Vec<Message>, serde_json::Error> {
        messages(&self.body)
    }

    /// The tool specs of `toolConfig`, in order (empty when there is none).
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        tool_specs(&self.body)
    }

    /// Whether the body has a `toolConfig` key.
    pub fn has_tool_config(&self) -> bool {
        self.body.get("toolConfig").is_some()
    }

    /// The `text` blocks of the last message, joined by newlines.
    pub fn last_text(&self) -> String {
        last_text(&self.body)
    }
}

/// A request the stand-in received, with what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Its position among the requests this stand-in received, from 0.
    pub index: usize,
    /// The model id from the path, percent-decoded (`us.amazon.nova-pro-v1:0`).
    pub model_id: String,
    /// The JSON body, as sent (`Value::Null` if it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub received_at: Instant,
    /// The Converse rule it broke, or the refusal it was given
    /// ([`ConverseStandIn::refuse_once`](super::ConverseStandIn::refuse_once)), if any; such
    /// requests were answered with the rule's error
    /// ([`Rule::error_kind`](super::Rule::error_kind): a 400 `ValidationException`, or a 403
    /// `AccessDeniedException` for prompt caching on a model without it) carrying the
    /// violation's message.
    pub violation: Option<RuleViolation>,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// The `x-amzn-errortype` it was answered with, for error answers. A stream that fails
    /// after it started (an exception event) was answered with 200 and has none here.
    pub error_type: Option<String>,
    /// Whether it came to `ConverseStream` (`POST /model/{modelId}/converse-stream`) rather
    /// than `Converse`.
    pub streamed: bool,
    /// The AWS Region the request was signed for, read from its SigV4 `Authorization` header
    /// (`None` without one).
    pub region: Option<String>,
    /// Whether the client went away before the whole streamed answer was sent: the stand-in
    /// saw the connection close while the stream was under way. Best effort: a client that
    /// hangs up after the last bytes were handed to the operating system is not noticed.
    /// Always `false` for `Converse`, and for streams the stand-in cut on purpose
    /// ([`StreamFault`](super::StreamFault)).
    pub client_disconnected: bool,
}

impl RecordedRequest {
    /// The conversation, as [`Message`]s. Fails on content blocks agent-core does not model.
    pub fn messages(&self) -> Result<Vec<Message>, serde_json::Error> {
        messages(&self.body)
    }

    /// The tool specs of `toolConfig`, in order (empty when there is none).
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        tool_specs(&self.body)
    }

    /// Whether the body has a `toolConfig` key.
    pub fn has_tool_config(&self) -> bool {
        self.body.get("toolConfig").is_some()
    }

    /// The `text` blocks of the last message, joined by newlines.
    pub fn last_text(&self) -> String {
        last_text(&self.body)
    }

    /// Whether it was answered with a success (HTTP 200).
    pub fn succeeded(&self) -> bool {
        self.status == 200
    }
}

fn messages(body: &Value) -> Result<Vec<Message>, serde_json::Error> {
    match body.get("messages") {
        Some(messages) => serde_json::from_value(messages.clone()),
        None => Ok(Vec::new()),
    }
}

pub(crate) fn tool_specs(body: &Value) -> Vec<ToolSpec> {
    body.pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|tool| tool.get("toolSpec"))
                .map(|spec| ToolSpec {
                    name: string_at(spec, "name"),
                    description: string_at(spec, "description"),
                    input_schema: spec
                        .pointer("/inputSchema/json")
                        .cloned()
                        .unwrap_or(Value::Null),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_at(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn last_text(body: &Value) -> String {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| messages.last())
        .map(message_text)
        .unwrap_or_default()
}

/// The `text` blocks of one wire message, joined by newlines.
///
/// Blocks that are not the user's words are left out: a turn's time line (`Current time:
/// 2026-12-07T11:00:00Z`, which agents end each user turn with) and instructions folded into the
/// first turn for a model without a system prompt (`Instructions: …`).
pub(crate) fn message_text(message: &Value) -> String {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|block| block.get("text").and_then(Value::as_str))
                .filter(|text| !is_agent_note(text))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Whether a text block is a note an agent adds to a user turn rather than the user's words.
pub(crate) fn is_agent_note(text: &str) -> bool {
    (text.starts_with("Current time: ") && text.len() <= 40) || text.starts_with("Instructions: ")
}
