//! ConverseStream's events as [`ModelStreamEvent`]s.

use agent_core::{
    BlockDelta, BlockStart, ModelError, ModelErrorKind, ModelEventStream, ModelStreamEvent, Role,
    StopReason,
};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types as sdk;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use serde_json::json;

use crate::convert::usage_from_sdk;
use crate::error::model_error;

type Receiver = EventReceiver<sdk::ConverseStreamOutput, ConverseStreamOutputError>;

/// The reply's events, read from the SDK's event receiver as they arrive. An error event, a
/// broken frame or a cut connection ends the stream with an error.
pub(crate) fn events(receiver: Receiver) -> ModelEventStream {
    Box::pin(futures::stream::unfold(
        Some(receiver),
        |state| async move {
            let mut receiver = state?;
            loop {
                match receiver.recv().await {
                    Ok(Some(output)) => match convert(output) {
                        Ok(Some(event)) => return Some((Ok(event), Some(receiver))),
                        // An event of a kind this client does not use (citations, images).
                        Ok(None) => continue,
                        Err(error) => return Some((Err(error), None)),
                    },
                    Ok(None) => return None,
                    Err(error) => return Some((Err(model_error(error, true)), None)),
                }
            }
        },
    ))
}

fn index(raw: i32) -> Result<u32, ModelError> {
    u32::try_from(raw).map_err(|_| {
        ModelError::new(
            ModelErrorKind::InvalidResponse,
            format!("the stream named content block {raw}"),
        )
    })
}

fn convert(output: sdk::ConverseStreamOutput) -> Result<Option<ModelStreamEvent>, ModelError> {
    Ok(Some(match output {
        sdk::ConverseStreamOutput::MessageStart(start) => ModelStreamEvent::MessageStart {
            role: match start.role() {
                sdk::ConversationRole::User => Role::User,
                _ => Role::Assistant,
            },
        },
        sdk::ConverseStreamOutput::ContentBlockStart(start) => {
            let index = index(start.content_block_index())?;
            match start.start() {
                Some(sdk::ContentBlockStart::ToolUse(tool_use)) => ModelStreamEvent::BlockStart {
                    index,
                    start: BlockStart::ToolUse {
                        tool_use_id: tool_use.tool_use_id().to_owned(),
                        name: tool_use.name().to_owned(),
                    },
                },
                _ => return Ok(None),
            }
        }
        sdk::ConverseStreamOutput::ContentBlockDelta(delta) => {
            let index = index(delta.content_block_index())?;
            let delta = match delta.delta() {
                Some(sdk::ContentBlockDelta::Text(text)) => BlockDelta::Text(text.clone()),
                Some(sdk::ContentBlockDelta::ToolUse(tool_use)) => {
                    BlockDelta::ToolInput(tool_use.input().to_owned())
                }
                Some(sdk::ContentBlockDelta::ReasoningContent(reasoning)) => match reasoning {
                    sdk::ReasoningContentBlockDelta::Text(text) => {
                        BlockDelta::ReasoningText(text.clone())
                    }
                    sdk::ReasoningContentBlockDelta::Signature(signature) => {
                        BlockDelta::ReasoningSignature(signature.clone())
                    }
                    sdk::ReasoningContentBlockDelta::RedactedContent(blob) => {
                        BlockDelta::RedactedReasoning(aws_smithy_types::base64::encode(
                            blob.as_ref(),
                        ))
                    }
                    _ => return Ok(None),
                },
                _ => return Ok(None),
            };
            ModelStreamEvent::BlockDelta { index, delta }
        }
        sdk::ConverseStreamOutput::ContentBlockStop(stop) => ModelStreamEvent::BlockStop {
            index: index(stop.content_block_index())?,
        },
        sdk::ConverseStreamOutput::MessageStop(stop) => ModelStreamEvent::MessageStop {
            stop_reason: StopReason::from_converse(stop.stop_reason().as_str()),
        },
        sdk::ConverseStreamOutput::Metadata(metadata) => ModelStreamEvent::Metadata {
            usage: metadata.usage().map(usage_from_sdk).unwrap_or_default(),
            latency_ms: metadata
                .metrics()
                .and_then(|m| u64::try_from(m.latency_ms()).ok()),
            trace: metadata
                .trace()
                .and_then(|trace| trace.guardrail())
                .map(|guardrail| json!({"guardrail": format!("{guardrail:?}")})),
        },
        _ => return Ok(None),
    }))
}
