//! Conversions between agent-core's Converse-shaped types and the SDK's generated types.

use std::collections::HashMap;

use agent_core::{
    CachePoint, ContentBlock, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat,
    InferenceConfig, MediaSource, Message, ReasoningContent, ReasoningText, Role, ToolChoice,
    ToolResult, ToolResultContent, ToolResultStatus, ToolSpec, ToolUse,
};
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Blob, Document, Number};
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

pub(crate) fn cache_point() -> Result<sdk::CachePointBlock, ConversionError> {
    Ok(sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::Default)
        .build()?)
}

fn media_source_bytes(source: &MediaSource) -> Result<MediaBytes, ConversionError> {
    match source {
        MediaSource::Bytes(bytes) => Ok(MediaBytes::Bytes(Blob::new(bytes.clone()))),
        MediaSource::S3Location(location) => Ok(MediaBytes::S3(
            sdk::S3Location::builder()
                .uri(&location.uri)
                .set_bucket_owner(location.bucket_owner.clone())
                .build()?,
        )),
        other => Err(ConversionError(format!(
            "a media source of a kind this client cannot send: {other:?}"
        ))),
    }
}

enum MediaBytes {
    Bytes(Blob),
    S3(sdk::S3Location),
}

pub(crate) fn image_to_sdk(image: &ImageBlock) -> Result<sdk::ImageBlock, ConversionError> {
    let source = match media_source_bytes(&image.source)? {
        MediaBytes::Bytes(blob) => sdk::ImageSource::Bytes(blob),
        MediaBytes::S3(location) => sdk::ImageSource::S3Location(location),
    };
    Ok(sdk::ImageBlock::builder()
        .format(sdk::ImageFormat::from(image.format.as_str()))
        .source(source)
        .build()?)
}

pub(crate) fn document_to_sdk(
    document: &DocumentBlock,
) -> Result<sdk::DocumentBlock, ConversionError> {
    let source = match media_source_bytes(&document.source)? {
        MediaBytes::Bytes(blob) => sdk::DocumentSource::Bytes(blob),
        MediaBytes::S3(location) => sdk::DocumentSource::S3Location(location),
    };
    Ok(sdk::DocumentBlock::builder()
        .format(sdk::DocumentFormat::from(document.format.as_str()))
        .name(&document.name)
        .source(source)
        .build()?)
}

pub(crate) fn block_to_sdk(block: &ContentBlock) -> Result<sdk::ContentBlock, ConversionError> {
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
            let mut content = Vec::with_capacity(result.content.len());
            for item in &result.content {
                content.push(match item {
                    ToolResultContent::Json(value) => {
                        sdk::ToolResultContentBlock::Json(json_to_document(value))
                    }
                    ToolResultContent::Text(text) => {
                        sdk::ToolResultContentBlock::Text(text.clone())
                    }
                    ToolResultContent::Image(image) => {
                        sdk::ToolResultContentBlock::Image(image_to_sdk(image)?)
                    }
                    ToolResultContent::Document(document) => {
                        sdk::ToolResultContentBlock::Document(document_to_sdk(document)?)
                    }
                    // A block a newer version wrote: tell the model something was there.
                    _ => sdk::ToolResultContentBlock::Text(
                        "(a result block this client cannot send was left out)".to_owned(),
                    ),
                });
            }
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
                Blob::new(bytes),
            ))
        }
        ContentBlock::Image(image) => sdk::ContentBlock::Image(image_to_sdk(image)?),
        ContentBlock::Document(document) => sdk::ContentBlock::Document(document_to_sdk(document)?),
        ContentBlock::CachePoint(_) => sdk::ContentBlock::CachePoint(cache_point()?),
        other => {
            return Err(ConversionError(format!(
                "content block {} is not supported by this Converse client",
                other.type_name()
            )));
        }
    })
}

/// Converts a reply from the service. Blocks this crate does not model (citations, …) are
/// left out with a warning rather than failing the run.
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

fn media_source_from_sdk(
    bytes: Option<&Blob>,
    s3: Option<&sdk::S3Location>,
) -> Option<MediaSource> {
    match (bytes, s3) {
        (Some(blob), _) => Some(MediaSource::Bytes(blob.as_ref().to_vec())),
        (None, Some(location)) => Some(MediaSource::S3Location(agent_core::S3Location {
            uri: location.uri().to_owned(),
            bucket_owner: location.bucket_owner().map(str::to_owned),
        })),
        _ => None,
    }
}

fn image_from_sdk(image: &sdk::ImageBlock) -> Option<ImageBlock> {
    let source = image.source()?;
    let source = media_source_from_sdk(source.as_bytes().ok(), source.as_s3_location().ok())?;
    let format =
        serde_json::from_value::<ImageFormat>(Value::String(image.format().as_str().to_owned()))
            .ok()?;
    Some(ImageBlock { format, source })
}

fn document_from_sdk(document: &sdk::DocumentBlock) -> Option<DocumentBlock> {
    let source = document.source()?;
    let source = media_source_from_sdk(source.as_bytes().ok(), source.as_s3_location().ok())?;
    let format = serde_json::from_value::<DocumentFormat>(Value::String(
        document.format().as_str().to_owned(),
    ))
    .ok()?;
    Some(DocumentBlock {
        format,
        name: document.name().to_owned(),
        source,
    })
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
                    sdk::ToolResultContentBlock::Image(image) => {
                        image_from_sdk(image).map(ToolResultContent::Image)
                    }
                    sdk::ToolResultContentBlock::Document(document) => {
                        document_from_sdk(document).map(ToolResultContent::Document)
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
        sdk::ContentBlock::Image(image) => ContentBlock::Image(image_from_sdk(image)?),
        sdk::ContentBlock::Document(document) => {
            ContentBlock::Document(document_from_sdk(document)?)
        }
        sdk::ContentBlock::CachePoint(_) => ContentBlock::CachePoint(CachePoint::default()),
        _ => return None,
    })
}

/// The tool configuration, with a cache point after the tools when asked, and schemas cut to
/// `type`, `properties` and `required` at the top (with the `$defs` their references need) for a
/// family that takes no more (Nova's tool guide, see `families`).
pub(crate) fn tool_config_to_sdk(
    tools: &[ToolSpec],
    choice: Option<&ToolChoice>,
    cache_tools: bool,
    full_schemas: bool,
) -> Result<Option<sdk::ToolConfiguration>, ConversionError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let mut sdk_tools = Vec::with_capacity(tools.len() + 1);
    for spec in tools {
        sdk_tools.push(sdk::Tool::ToolSpec(
            sdk::ToolSpecification::builder()
                .name(&spec.name)
                .description(&spec.description)
                .input_schema(sdk::ToolInputSchema::Json(json_to_document(
                    &if full_schemas {
                        spec.input_schema.clone()
                    } else {
                        top_level_schema(&spec.input_schema)
                    },
                )))
                .build()?,
        ));
    }
    if cache_tools {
        sdk_tools.push(sdk::Tool::CachePoint(cache_point()?));
    }
    let choice = match choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::Any) => Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build())),
        Some(ToolChoice::Tool(name)) => Some(sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder().name(name).build()?,
        )),
        Some(other) => {
            return Err(ConversionError(format!(
                "tool choice {other:?} is not supported by this Converse client"
            )));
        }
    };
    Ok(Some(
        sdk::ToolConfiguration::builder()
            .set_tools(Some(sdk_tools))
            .set_tool_choice(choice)
            .build()?,
    ))
}

/// A schema with only `type`, `properties`, `required` (and `$defs`, when a reference needs it)
/// at its top level.
fn top_level_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let needs_defs = schema.to_string().contains("\"#/$defs/");
    Value::Object(
        map.iter()
            .filter(|(key, _)| {
                matches!(key.as_str(), "type" | "properties" | "required")
                    || (needs_defs && key.as_str() == "$defs")
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
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

/// Token counts from the SDK's usage (negative counts, which the service never sends, read as
/// zero).
pub(crate) fn usage_from_sdk(usage: &sdk::TokenUsage) -> agent_core::TokenUsage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    agent_core::TokenUsage {
        input_tokens: count(usage.input_tokens()),
        output_tokens: count(usage.output_tokens()),
        total_tokens: count(usage.total_tokens()),
        cache_read_input_tokens: usage.cache_read_input_tokens().map_or(0, count),
        cache_write_input_tokens: usage.cache_write_input_tokens().map_or(0, count),
    }
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

    fn message_to_sdk(message: &Message) -> Result<sdk::Message, ConversionError> {
        let rules = crate::plan::WireRules {
            system_block: true,
            tool_result_status: true,
            mixed_tool_result_turn: true,
            mixed_tool_use_turn: true,
            reasoning: crate::families::ReasoningReplay::Signed,
            original_tool_call_ids: true,
            media_in_tool_results: true,
            full_tool_schemas: true,
        };
        crate::wire::message_to_wire(message, &rules, true, &mut Default::default())
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
        let user = Message::user(vec![
            ContentBlock::ToolResult(ToolResult::success("t1", json!({"temp": 1}))),
            ContentBlock::ToolResult(ToolResult {
                tool_use_id: "t2".into(),
                content: vec![ToolResultContent::Image(ImageBlock::from_bytes(
                    ImageFormat::Png,
                    vec![1, 2],
                ))],
                status: None,
            }),
            ContentBlock::Image(ImageBlock::from_s3(ImageFormat::Jpeg, "s3://b/k.jpg")),
            ContentBlock::Document(DocumentBlock::from_bytes(
                DocumentFormat::Pdf,
                "Report",
                vec![3],
            )),
            ContentBlock::cache_point(),
        ]);
        assert_eq!(message_from_sdk(&message_to_sdk(&user).unwrap()), user);
    }

    #[test]
    fn blank_text_and_unknown_blocks_are_left_out() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("\n\n".into()),
                ContentBlock::Unknown(json!({"hologram": {}})),
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
    fn tool_configs_carry_the_choice_and_a_cache_point() {
        assert!(tool_config_to_sdk(&[], None, true, true).unwrap().is_none());
        let spec = ToolSpec {
            name: "t".into(),
            description: "d".into(),
            input_schema: json!({"type": "object"}),
        };
        let config = tool_config_to_sdk(&[spec], Some(&ToolChoice::Tool("t".into())), true, true)
            .unwrap()
            .unwrap();
        assert_eq!(config.tools().len(), 2);
        assert!(config.tools()[1].is_cache_point());
        assert!(config.tool_choice().unwrap().is_tool());
        assert!(inference_to_sdk(&InferenceConfig::default()).is_none());
    }

    #[test]
    fn schemas_keep_only_type_properties_and_required_at_the_top_where_asked() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Args",
            "type": "object",
            "additionalProperties": false,
            "properties": {"a": {"$ref": "#/$defs/A"}},
            "required": ["a"],
            "$defs": {"A": {"type": "string"}}
        });
        let cut = top_level_schema(&schema);
        let mut keys: Vec<&String> = cut.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["$defs", "properties", "required", "type"]);
        let plain = json!({"type": "object", "additionalProperties": false, "properties": {}});
        assert_eq!(
            top_level_schema(&plain),
            json!({"type": "object", "properties": {}})
        );
    }
}
