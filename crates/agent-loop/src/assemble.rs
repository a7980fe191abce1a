//! Building a model's reply from its streamed events, reporting text, thinking and tool calls
//! as they arrive.
//!
//! The rules, where streaming clients commonly go wrong:
//! - blocks are tracked by index, so several tool calls in one message are all kept, whatever
//!   order their events interleave in;
//! - a tool call's input fragments are joined and parsed at its `BlockStop`; input that is not
//!   a JSON object is reported (the tool is not run, and the model is told), never replaced
//!   silently by `{}`;
//! - reasoning text, signature and redacted content are kept exactly, to be sent back;
//! - a reply is complete only with its `MessageStop` and every block stopped: anything less is
//!   [`ModelErrorKind::StreamInterrupted`], and a reply cut by the token limit inside a tool
//!   call is [`ModelErrorKind::IncompleteResponse`], so a half-received tool call never runs.

use std::collections::BTreeMap;

use serde_json::Value;

use agent_core::{AgentEvent, DroppedFeature, EventSink};
use agent_core::{
    BlockDelta, BlockStart, MalformedToolInput, ModelError, ModelErrorKind, ModelResponse,
    ModelStreamEvent, StopReason, TokenUsage,
};
use agent_core::{ContentBlock, Message, ReasoningContent, ReasoningText, Role, ToolUse};

/// A block being received.
#[derive(Debug)]
enum Partial {
    Text(String),
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<String>,
    },
    ToolUse {
        tool_use_id: String,
        name: String,
        json: String,
    },
    Whole(ContentBlock),
    /// A tool call whose input was parsed at its stop.
    Done(ContentBlock),
}

#[derive(Debug)]
struct Slot {
    block: Partial,
    stopped: bool,
}

/// Assembles one streamed reply.
#[derive(Debug)]
pub(crate) struct ReplyAssembler {
    step: u32,
    started: bool,
    blocks: BTreeMap<u32, Slot>,
    stop_reason: Option<StopReason>,
    usage: TokenUsage,
    latency_ms: Option<u64>,
    trace: Option<Value>,
    malformed: Vec<MalformedToolInput>,
    dropped: Vec<DroppedFeature>,
    /// The reply's text so far, for a run cancelled mid-reply.
    text: String,
}

fn invalid(message: impl Into<String>) -> ModelError {
    ModelError::new(ModelErrorKind::InvalidResponse, message)
}

impl ReplyAssembler {
    pub(crate) fn new(step: u32) -> Self {
        Self {
            step,
            started: false,
            blocks: BTreeMap::new(),
            stop_reason: None,
            usage: TokenUsage::default(),
            latency_ms: None,
            trace: None,
            malformed: Vec::new(),
            dropped: Vec::new(),
            text: String::new(),
        }
    }

    /// The text received so far.
    pub(crate) fn text_so_far(&self) -> &str {
        &self.text
    }

    /// Takes one event, reporting what it adds to `sink`.
    pub(crate) fn push(
        &mut self,
        event: ModelStreamEvent,
        sink: &dyn EventSink,
    ) -> Result<(), ModelError> {
        let step = self.step;
        match event {
            ModelStreamEvent::MessageStart { .. } => self.started = true,
            ModelStreamEvent::FeatureDropped(dropped) => {
                sink.emit(&AgentEvent::FeatureDropped {
                    step,
                    feature: dropped.feature.clone(),
                    reason: dropped.reason.clone(),
                });
                self.dropped.push(dropped);
            }
            ModelStreamEvent::BlockStart { index, start } => {
                if self.blocks.contains_key(&index) {
                    return Err(invalid(format!("content block {index} started twice")));
                }
                let block = match start {
                    BlockStart::ToolUse { tool_use_id, name } => {
                        sink.emit(&AgentEvent::ToolCallStarted {
                            step,
                            tool_use_id: tool_use_id.clone(),
                            name: name.clone(),
                        });
                        Partial::ToolUse {
                            tool_use_id,
                            name,
                            json: String::new(),
                        }
                    }
                    BlockStart::Whole(block) => Partial::Whole(block),
                    other => {
                        return Err(invalid(format!(
                            "content block {index} starts in a way this client does not know: \
                             {other:?}"
                        )));
                    }
                };
                self.blocks.insert(
                    index,
                    Slot {
                        block,
                        stopped: false,
                    },
                );
            }
            ModelStreamEvent::BlockDelta { index, delta } => self.delta(index, delta, sink)?,
            ModelStreamEvent::BlockStop { index } => self.stop(index, sink)?,
            ModelStreamEvent::MessageStop { stop_reason } => self.stop_reason = Some(stop_reason),
            ModelStreamEvent::Metadata {
                usage,
                latency_ms,
                trace,
            } => {
                self.usage = usage;
                self.latency_ms = latency_ms;
                if trace.is_some() {
                    self.trace = trace;
                }
                sink.emit(&AgentEvent::Usage {
                    step,
                    usage,
                    latency_ms,
                });
            }
            // An event of a newer model contract: nothing of it belongs in the reply.
            _ => {}
        }
        Ok(())
    }

    fn delta(
        &mut self,
        index: u32,
        delta: BlockDelta,
        sink: &dyn EventSink,
    ) -> Result<(), ModelError> {
        let step = self.step;
        let slot = match self.blocks.get_mut(&index) {
            Some(slot) if slot.stopped => {
                return Err(invalid(format!(
                    "a delta for content block {index} after its stop"
                )));
            }
            Some(slot) => slot,
            None => {
                let block = match &delta {
                    BlockDelta::Text(_) => Partial::Text(String::new()),
                    BlockDelta::ReasoningText(_)
                    | BlockDelta::ReasoningSignature(_)
                    | BlockDelta::RedactedReasoning(_) => Partial::Reasoning {
                        text: String::new(),
                        signature: None,
                        redacted: None,
                    },
                    BlockDelta::ToolInput(_) => {
                        return Err(invalid(format!(
                            "tool input for content block {index}, which is not a tool call"
                        )));
                    }
                    other => {
                        return Err(invalid(format!(
                            "a delta for content block {index} of a kind this client does not \
                             know: {other:?}"
                        )));
                    }
                };
                self.blocks.entry(index).or_insert(Slot {
                    block,
                    stopped: false,
                })
            }
        };
        match (&mut slot.block, delta) {
            (Partial::Text(text), BlockDelta::Text(piece)) => {
                text.push_str(&piece);
                self.text.push_str(&piece);
                sink.emit(&AgentEvent::TextDelta { step, text: piece });
            }
            (Partial::Reasoning { text, .. }, BlockDelta::ReasoningText(piece)) => {
                text.push_str(&piece);
                sink.emit(&AgentEvent::ThinkingDelta { step, text: piece });
            }
            (Partial::Reasoning { signature, .. }, BlockDelta::ReasoningSignature(piece)) => {
                signature.get_or_insert_with(String::new).push_str(&piece);
            }
            (Partial::Reasoning { redacted, .. }, BlockDelta::RedactedReasoning(piece)) => {
                redacted.get_or_insert_with(String::new).push_str(&piece);
            }
            (Partial::ToolUse { json, .. }, BlockDelta::ToolInput(piece)) => json.push_str(&piece),
            (_, delta) => {
                return Err(invalid(format!(
                    "content block {index} received a delta of another kind: {delta:?}"
                )));
            }
        }
        Ok(())
    }

    fn stop(&mut self, index: u32, sink: &dyn EventSink) -> Result<(), ModelError> {
        let step = self.step;
        let Some(slot) = self.blocks.get_mut(&index) else {
            // An empty block (a stop with nothing before it) is a blank text block.
            self.blocks.insert(
                index,
                Slot {
                    block: Partial::Text(String::new()),
                    stopped: true,
                },
            );
            return Ok(());
        };
        if slot.stopped {
            return Err(invalid(format!("content block {index} stopped twice")));
        }
        slot.stopped = true;
        if let Partial::ToolUse {
            tool_use_id,
            name,
            json,
        } = &slot.block
        {
            let (input, error) = parse_tool_input(json);
            let reported = match &error {
                Some(_) => Value::String(json.clone()),
                None => input.clone(),
            };
            sink.emit(&AgentEvent::ToolInputComplete {
                step,
                tool_use_id: tool_use_id.clone(),
                name: name.clone(),
                input: reported,
                error: error.clone(),
            });
            if let Some(error) = error {
                self.malformed.push(MalformedToolInput {
                    tool_use_id: tool_use_id.clone(),
                    raw: json.clone(),
                    error,
                });
            }
            slot.block = Partial::Done(ContentBlock::ToolUse(ToolUse {
                tool_use_id: tool_use_id.clone(),
                name: name.clone(),
                input,
            }));
        }
        Ok(())
    }

    /// The complete reply, or why it is not complete.
    pub(crate) fn finish(self) -> Result<ModelResponse, ModelError> {
        let open_tool_call = self
            .blocks
            .values()
            .any(|slot| !slot.stopped && matches!(slot.block, Partial::ToolUse { .. }));
        let cut_tool_call = open_tool_call
            || (!self.malformed.is_empty() && self.stop_reason == Some(StopReason::MaxTokens));
        if cut_tool_call && self.stop_reason == Some(StopReason::MaxTokens) {
            return Err(ModelError::new(
                ModelErrorKind::IncompleteResponse,
                "the reply reached the token limit (max_tokens) inside a tool call; the call \
                 was not run. Raise max_tokens, or ask for less at once",
            ));
        }
        let Some(stop_reason) = self.stop_reason else {
            return Err(ModelError::new(
                ModelErrorKind::StreamInterrupted,
                "the reply stream ended before its messageStop event",
            ));
        };
        if let Some((index, _)) = self.blocks.iter().find(|(_, slot)| !slot.stopped) {
            return Err(ModelError::new(
                ModelErrorKind::StreamInterrupted,
                format!("the reply ended with content block {index} still open"),
            ));
        }
        if !self.started && !self.blocks.is_empty() {
            tracing::debug!("a streamed reply had no messageStart event");
        }
        let content =
            self.blocks
                .into_values()
                .map(|slot| match slot.block {
                    Partial::Text(text) => ContentBlock::Text(text),
                    Partial::Reasoning {
                        redacted: Some(data),
                        ..
                    } => ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(data)),
                    Partial::Reasoning {
                        text, signature, ..
                    } => ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(
                        ReasoningText { text, signature },
                    )),
                    Partial::Whole(block) | Partial::Done(block) => block,
                    // Unreachable: every tool call was checked to be stopped, and stopping it
                    // makes it `Done`.
                    Partial::ToolUse {
                        tool_use_id, name, ..
                    } => ContentBlock::ToolUse(ToolUse {
                        tool_use_id,
                        name,
                        input: Value::Object(serde_json::Map::new()),
                    }),
                })
                .collect();
        let mut response = ModelResponse::new(
            Message {
                role: Role::Assistant,
                content,
            },
            stop_reason,
        )
        .with_usage(self.usage);
        response.latency_ms = self.latency_ms;
        response.malformed_tool_inputs = self.malformed;
        response.trace = self.trace;
        response.dropped_features = self.dropped;
        Ok(response)
    }
}

/// A tool call's input: the parsed object, or an empty object and what was wrong with the text.
/// No text at all is an empty object (a tool without arguments).
fn parse_tool_input(json: &str) -> (Value, Option<String>) {
    let empty = || Value::Object(serde_json::Map::new());
    if json.trim().is_empty() {
        return (empty(), None);
    }
    match serde_json::from_str::<Value>(json) {
        Ok(value @ Value::Object(_)) => (value, None),
        Ok(other) => (
            empty(),
            Some(format!(
                "the tool input must be a JSON object, not {}",
                match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            )),
        ),
        Err(error) => (
            empty(),
            Some(format!("the tool input is not valid JSON: {error}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use agent_core::{ModelResponse, response_events};
    use serde_json::json;

    #[derive(Default)]
    struct Collected(Mutex<Vec<AgentEvent>>);

    impl EventSink for Collected {
        fn emit(&self, event: &AgentEvent) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    fn start_tool(index: u32, id: &str, name: &str) -> ModelStreamEvent {
        ModelStreamEvent::BlockStart {
            index,
            start: BlockStart::ToolUse {
                tool_use_id: id.into(),
                name: name.into(),
            },
        }
    }

    fn input(index: u32, fragment: &str) -> ModelStreamEvent {
        ModelStreamEvent::BlockDelta {
            index,
            delta: BlockDelta::ToolInput(fragment.into()),
        }
    }

    fn stop(index: u32) -> ModelStreamEvent {
        ModelStreamEvent::BlockStop { index }
    }

    fn assemble(
        events: Vec<ModelStreamEvent>,
    ) -> (Result<ModelResponse, ModelError>, Vec<AgentEvent>) {
        let sink = Collected::default();
        let mut assembler = ReplyAssembler::new(1);
        let mut result = Ok(());
        for event in events {
            result = assembler.push(event, &sink);
            if result.is_err() {
                break;
            }
        }
        let response = result.and_then(|()| assembler.finish());
        (response, sink.0.into_inner().unwrap())
    }

    #[test]
    fn interleaved_tool_calls_are_all_kept_in_index_order() {
        let (response, events) = assemble(vec![
            ModelStreamEvent::MessageStart {
                role: Role::Assistant,
            },
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("Let me ".into()),
            },
            start_tool(1, "a", "weather"),
            start_tool(2, "b", "time"),
            input(2, "{\"zone\":"),
            input(1, "{\"city\""),
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("check.".into()),
            },
            input(1, ":\"Oslo\"}"),
            stop(0),
            input(2, "\"UTC\"}"),
            stop(2),
            stop(1),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
            },
            ModelStreamEvent::Metadata {
                usage: TokenUsage::new(3, 4),
                latency_ms: Some(9),
                trace: None,
            },
        ]);
        let response = response.unwrap();
        let calls: Vec<_> = response.message.tool_uses().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].name.as_str(), &calls[0].input),
            ("weather", &json!({"city": "Oslo"}))
        );
        assert_eq!(
            (calls[1].name.as_str(), &calls[1].input),
            ("time", &json!({"zone": "UTC"}))
        );
        assert_eq!(response.message.text(), "Let me check.");
        assert_eq!(response.usage, TokenUsage::new(3, 4));
        let completed: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::ToolInputComplete { tool_use_id, .. } => Some(tool_use_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            completed,
            ["b", "a"],
            "reported as each call's input completes"
        );
    }

    #[test]
    fn malformed_input_is_reported_never_silently_emptied() {
        let (response, events) = assemble(vec![
            start_tool(0, "a", "weather"),
            input(0, "{\"city\": Oslo}"),
            stop(0),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
            },
        ]);
        let response = response.unwrap();
        assert_eq!(response.malformed_tool_inputs.len(), 1);
        assert_eq!(response.malformed_tool_inputs[0].raw, "{\"city\": Oslo}");
        assert!(
            response.malformed_tool_inputs[0]
                .error
                .contains("not valid JSON")
        );
        assert!(events.iter().any(|e| matches!(
            e,
            AgentEvent::ToolInputComplete { error: Some(_), input: Value::String(raw), .. } if raw.contains("Oslo")
        )));
        let (response, _) = assemble(vec![
            start_tool(0, "a", "weather"),
            input(0, "[1, 2]"),
            stop(0),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse,
            },
        ]);
        assert!(
            response.unwrap().malformed_tool_inputs[0]
                .error
                .contains("an array")
        );
    }

    #[test]
    fn a_cut_stream_or_a_tool_call_cut_by_max_tokens_is_an_error() {
        let (response, _) = assemble(vec![start_tool(0, "a", "weather"), input(0, "{\"city\":")]);
        assert_eq!(
            response.unwrap_err().kind(),
            ModelErrorKind::StreamInterrupted
        );
        let (response, _) = assemble(vec![
            start_tool(0, "a", "weather"),
            input(0, "{\"city\":"),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
            },
        ]);
        assert_eq!(
            response.unwrap_err().kind(),
            ModelErrorKind::IncompleteResponse
        );
        let (response, _) = assemble(vec![
            start_tool(0, "a", "weather"),
            input(0, "{\"city\":"),
            stop(0),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::MaxTokens,
            },
        ]);
        assert_eq!(
            response.unwrap_err().kind(),
            ModelErrorKind::IncompleteResponse
        );
        let (response, _) = assemble(vec![
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("half".into()),
            },
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::EndTurn,
            },
        ]);
        assert_eq!(
            response.unwrap_err().kind(),
            ModelErrorKind::StreamInterrupted
        );
    }

    #[test]
    fn reasoning_text_signature_and_redacted_content_are_kept_exactly() {
        let (response, events) = assemble(vec![
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::ReasoningText("Hmm, ".into()),
            },
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::ReasoningText("yes.".into()),
            },
            ModelStreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::ReasoningSignature("c2ln".into()),
            },
            stop(0),
            ModelStreamEvent::BlockDelta {
                index: 1,
                delta: BlockDelta::RedactedReasoning("ZW5j".into()),
            },
            stop(1),
            ModelStreamEvent::BlockDelta {
                index: 2,
                delta: BlockDelta::Text("Yes.".into()),
            },
            stop(2),
            ModelStreamEvent::MessageStop {
                stop_reason: StopReason::EndTurn,
            },
        ]);
        let message = response.unwrap().message;
        assert_eq!(
            message.content[0],
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                text: "Hmm, yes.".into(),
                signature: Some("c2ln".into()),
            }))
        );
        assert_eq!(
            message.content[1],
            ContentBlock::ReasoningContent(ReasoningContent::RedactedContent("ZW5j".into()))
        );
        let thinking: String = events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::ThinkingDelta { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(thinking, "Hmm, yes.");
    }

    #[test]
    fn a_whole_reply_round_trips_through_its_events() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("Checking.".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "t".into(),
                    name: "echo".into(),
                    input: json!({"x": [1, 2]}),
                }),
            ],
        };
        let original =
            ModelResponse::new(message, StopReason::ToolUse).with_usage(TokenUsage::new(1, 2));
        let (response, _) = assemble(response_events(original.clone()));
        assert_eq!(response.unwrap(), original);
    }
}
