//! Conversation messages, shaped exactly like the Bedrock Converse API's JSON.
//!
//! A stored conversation is plain Converse JSON: `{"role":"user","content":[{"text":"…"}]}`,
//! `{"toolUse":{"toolUseId":…,"name":…,"input":…}}`, `{"toolResult":{…,"status":"error"}}`,
//! `{"reasoningContent":{"reasoningText":{"text":…,"signature":…}}}`. Serde's externally tagged
//! enums give that shape directly, so there is no hand-written (de)serialiser to keep in step.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user, or the agent speaking for the user (tool results are user messages).
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation: a role and its content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message holding one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// An assistant message holding one text block.
    pub fn assistant_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// The `toolUse` blocks of this message, in the model's order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use),
            _ => None,
        })
    }

    /// The `toolResult` blocks of this message, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolResult(result) => Some(result),
            _ => None,
        })
    }

    /// The message's text blocks joined by newlines (reasoning and tool blocks left out).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for block in &self.content {
            if let ContentBlock::Text(text) = block {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }
}

/// One content block of a message.
///
/// Serialises as Converse's single-key objects: `{"text": …}`, `{"toolUse": …}`,
/// `{"toolResult": …}`, `{"reasoningContent": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(String),
    /// The model asks for a tool to be run.
    ToolUse(ToolUse),
    /// The result of a tool the model asked for.
    ToolResult(ToolResult),
    /// The model's native reasoning (extended thinking), passed back unchanged on later turns.
    ReasoningContent(ReasoningContent),
}

/// A request from the model to run one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// The id the matching `toolResult` must carry.
    pub tool_use_id: String,
    /// The tool's name, as given in the tool spec.
    pub name: String,
    /// The arguments, as JSON the model wrote against the tool's input schema.
    pub input: Value,
}

/// The answer to one `toolUse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The id of the `toolUse` this answers.
    pub tool_use_id: String,
    /// The result, as JSON or text blocks.
    pub content: Vec<ToolResultContent>,
    /// `error` when the tool did not succeed; absent on success, as Converse writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
}

impl ToolResult {
    /// A successful result. A JSON object is sent as a `json` block, a string as a `text` block,
    /// and any other value as its JSON text (Converse expects `json` results to be objects).
    pub fn success(tool_use_id: impl Into<String>, value: Value) -> Self {
        let content = match value {
            Value::Object(_) => ToolResultContent::Json(value),
            Value::String(text) => ToolResultContent::Text(text),
            other => ToolResultContent::Text(other.to_string()),
        };
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![content],
            status: None,
        }
    }

    /// A failed result whose text tells the model what went wrong.
    pub fn error(tool_use_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Text(message.into())],
            status: Some(ToolResultStatus::Error),
        }
    }
}

/// One block of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ToolResultContent {
    /// A JSON document.
    Json(Value),
    /// Text.
    Text(String),
}

/// Whether a tool result is a success or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolResultStatus {
    /// The tool succeeded.
    Success,
    /// The tool failed, or was not run; the content says why.
    Error,
}

/// The model's native reasoning (for example Claude's extended thinking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ReasoningContent {
    /// Readable reasoning, with the signature the model needs to see it again.
    ReasoningText(ReasoningText),
    /// Reasoning the provider encrypted, base64-encoded; kept only to be sent back.
    RedactedContent(String),
}

/// Readable reasoning text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningText {
    /// The reasoning.
    pub text: String,
    /// The provider's signature over it, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_serialise_as_converse_json() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                })),
                ContentBlock::Text("hi".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t1".into(),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle"}),
                }),
            ],
        };
        let expected = json!({"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
            {"text": "hi"},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"location": "Seattle"}}}
        ]});
        assert_eq!(serde_json::to_value(&message).unwrap(), expected);
        let back: Message = serde_json::from_value(expected).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn tool_results_serialise_with_status_only_on_error() {
        let ok = ToolResult::success("t1", json!({"temp": 12}));
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            json!({"toolUseId": "t1", "content": [{"json": {"temp": 12}}]})
        );
        let err = ToolResult::error("t2", "boom");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"toolUseId": "t2", "content": [{"text": "boom"}], "status": "error"})
        );
        assert_eq!(
            ToolResult::success("t3", json!(42)).content,
            vec![ToolResultContent::Text("42".into())]
        );
    }
}
