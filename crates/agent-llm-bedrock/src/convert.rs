//! Conversions between agent-core's Converse-shaped types and the SDK's generated types.

use std::collections::HashMap;

use agent_core::{
    ContentBlock, InferenceConfig, Message, ReasoningContent, ReasoningText, Role, ToolResult,
    ToolResultContent, ToolResultStatus, ToolSpec, ToolUse,
};
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// Why a message could not be turned into the SDK's types, or back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConversionError(pub(crate) String);

impl From<aws_smithy_types::error::operation::BuildError> for ConversionError {
    fn from(error: aws_smithy_types::error::operation::BuildError) -> Self {
        ConversionError(error.to_string())
    }
}

pub(crate) fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub(crate) fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        // JSON has no NaN or infinity; such a number becomes null, as serde_json writes it.
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Object(map) => {
            // The SDK's objects are hash maps; sorting the keys makes the JSON the same on every
            // run, whether or not serde_json keeps insertion order.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), document_to_json(v)))
                    .collect(),
            )
        }
    }
}

pub(crate) fn message_to_sdk(message: &Message) -> Result<sdk::Message, ConversionError> {
    let role = match message.role {
        Role::User => sdk::ConversationRole::User,
        Role::Assistant => sdk::ConversationRole::Assistant,
    };
    // Converse rejects blank text blocks ("The text field in the ContentBlock object at
    // messages.N.content.M is blank"), yet models write them (a bare "\n\n" before a toolUse).
    // They are left out on the wire when the message holds anything else; the stored
    // conversation keeps the model's reply as it was.
    let has_other_content = message.content.iter().any(|block| !is_blank_text(block));
    let content = message
        .content
        .iter()
        .filter(|block| !(has_other_content && is_blank_text(block)))
        .map(block_to_sdk)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()?)
}

fn is_blank_text(block: &ContentBlock) -> bool {
    matches!(block, ContentBlock::Text(text) if text.trim().is_empty())
}

fn block_to_sdk(block: &ContentBlock) -> Result<sdk::ContentBlock, ConversionError> {
    Ok(match block {
        ContentBlock::Text(text) => sdk::ContentBlock::Text(text.clone()),
        ContentBlock::ToolUse(tool_use) => sdk::ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id(&tool_use.tool_use_id)
                .name(&tool_use.name)
                .input(json_to_document(&tool_use.input))
                .build()?,
        ),
        ContentBlock::ToolResult(result) => {
            let content = result
                .content
                .iter()
                .map(|item| match item {
                    ToolResultContent::Json(value) => {
                        Ok(sdk::ToolResultContentBlock::Json(json_to_document(value)))
                    }
                    ToolResultContent::Text(text) => {
                        Ok(sdk::ToolResultContentBlock::Text(text.clone()))
                    }
                    other => Err(ConversionError(format!(
                        "tool result content {other:?} is not supported by Converse"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let status = result.status.map(|status| match status {
                ToolResultStatus::Success => sdk::ToolResultStatus::Success,
                ToolResultStatus::Error => sdk::ToolResultStatus::Error,
            });
            sdk::ContentBlock::ToolResult(
                sdk::ToolResultBlock::builder()
                    .tool_use_id(&result.tool_use_id)
                    .set_content(Some(content))
                    .set_status(status)
                    .build()?,
            )
        }
        ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
            sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(
                sdk::ReasoningTextBlock::builder()
                    .text(&reasoning.text)
                    .set_signature(reasoning.signature.clone())
                    .build()?,
            ))
        }
        ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(encoded)) => {
            let bytes = aws_smithy_types::base64::decode(encoded).map_err(|error| {
                ConversionError(format!("redacted reasoning is not valid base64: {error}"))
            })?;
            sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(
                aws_smithy_types::Blob::new(bytes),
            ))
        }
        other => {
            return Err(ConversionError(format!(
                "content block {other:?} is not supported by this Converse client"
            )));
        }
    })
}

/// Converts a reply from the service. Blocks this crate does not model (images, citations, …)
/// are left out with a warning rather than failing the run.
pub(crate) fn message_from_sdk(message: &sdk::Message) -> Message {
    let role = match message.role() {
        sdk::ConversationRole::User => Role::User,
        _ => Role::Assistant,
    };
    let content = message
        .content()
        .iter()
        .filter_map(|block| {
            let converted = block_from_sdk(block);
            if converted.is_none() {
                tracing::warn!(block = ?block, "left out a content block this client does not model");
            }
            converted
        })
        .collect();
    Message { role, content }
}

fn block_from_sdk(block: &sdk::ContentBlock) -> Option<ContentBlock> {
    Some(match block {
        sdk::ContentBlock::Text(text) => ContentBlock::Text(text.clone()),
        sdk::ContentBlock::ToolUse(tool_use) => ContentBlock::ToolUse(ToolUse {
            tool_use_id: tool_use.tool_use_id().to_owned(),
            name: tool_use.name().to_owned(),
            input: document_to_json(tool_use.input()),
        }),
        sdk::ContentBlock::ToolResult(result) => ContentBlock::ToolResult(ToolResult {
            tool_use_id: result.tool_use_id().to_owned(),
            content: result
                .content()
                .iter()
                .filter_map(|item| match item {
                    sdk::ToolResultContentBlock::Json(doc) => {
                        Some(ToolResultContent::Json(document_to_json(doc)))
                    }
                    sdk::ToolResultContentBlock::Text(text) => {
                        Some(ToolResultContent::Text(text.clone()))
                    }
                    _ => None,
                })
                .collect(),
            status: result.status().and_then(|status| match status {
                sdk::ToolResultStatus::Success => Some(ToolResultStatus::Success),
                sdk::ToolResultStatus::Error => Some(ToolResultStatus::Error),
                _ => None,
            }),
        }),
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(text)) => {
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                text: text.text().to_owned(),
                signature: text.signature().map(str::to_owned),
            }))
        }
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(blob)) => {
            ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(
                aws_smithy_types::base64::encode(blob.as_ref()),
            ))
        }
        _ => return None,
    })
}

pub(crate) fn tool_config_to_sdk(
    tools: &[ToolSpec],
) -> Result<Option<sdk::ToolConfiguration>, ConversionError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let tools = tools
        .iter()
        .map(|spec| {
            Ok(sdk::Tool::ToolSpec(
                sdk::ToolSpecification::builder()
                    .name(&spec.name)
                    .description(&spec.description)
                    .input_schema(sdk::ToolInputSchema::Json(json_to_document(
                        &spec.input_schema,
                    )))
                    .build()?,
            ))
        })
        .collect::<Result<Vec<_>, ConversionError>>()?;
    Ok(Some(
        sdk::ToolConfiguration::builder()
            .set_tools(Some(tools))
            .build()?,
    ))
}

pub(crate) fn inference_to_sdk(config: &InferenceConfig) -> Option<sdk::InferenceConfiguration> {
    if config == &InferenceConfig::default() {
        return None;
    }
    Some(
        sdk::InferenceConfiguration::builder()
            .set_max_tokens(
                config
                    .max_tokens
                    .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            )
            .set_temperature(config.temperature)
            .set_top_p(config.top_p)
            .set_stop_sequences(
                (!config.stop_sequences.is_empty()).then(|| config.stop_sequences.clone()),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_documents_round_trip() {
        let value = json!({"a": [1, -2, 2.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(document_to_json(&json_to_document(&value)), value);
    }

    #[test]
    fn messages_round_trip_through_sdk_types() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                })),
                ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(
                    aws_smithy_types::base64::encode(b"secret"),
                )),
                ContentBlock::Text("hi".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t1".into(),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle"}),
                }),
            ],
        };
        let back = message_from_sdk(&message_to_sdk(&message).unwrap());
        assert_eq!(back, message);
        let results = Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult(ToolResult::success("t1", json!({"temp": 1}))),
                ContentBlock::ToolResult(ToolResult::error("t2", "bad")),
            ],
        };
        assert_eq!(
            message_from_sdk(&message_to_sdk(&results).unwrap()),
            results
        );
    }

    #[test]
    fn blank_text_is_left_out_unless_it_is_all_there_is() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("\n\n".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t1".into(),
                    name: "lookup".into(),
                    input: json!({}),
                }),
            ],
        };
        let sent = message_to_sdk(&message).unwrap();
        assert_eq!(sent.content().len(), 1);
        assert!(sent.content()[0].is_tool_use());
        let only_blank = Message::assistant_text(" ");
        assert_eq!(message_to_sdk(&only_blank).unwrap().content().len(), 1);
    }

    #[test]
    fn no_tools_means_no_tool_config() {
        assert!(tool_config_to_sdk(&[]).unwrap().is_none());
        assert!(inference_to_sdk(&InferenceConfig::default()).is_none());
    }
}
