//! ConverseStream on the wire: how a reply becomes a sequence of AWS event-stream messages, how
//! those are cut into HTTP chunks, and the faults a test can ask for.
//!
//! The payloads are the JSON that `aws-sdk-bedrockruntime`'s `ConverseStreamOutputUnmarshaller`
//! reads: each message carries `:event-type`, `:content-type: application/json` and
//! `:message-type: event` (or `:message-type: exception` with `:exception-type`), and the
//! framing and CRCs come from `aws-smithy-eventstream`, the SDK's own implementation.

use std::fmt;
use std::time::Duration;

use agent_core::{ContentBlock, ModelResponse, ReasoningContent, TokenUsage};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Bytes;
use serde_json::{Value, json};

use super::reply::BedrockErrorKind;

/// How the stand-in streams its replies to `ConverseStream`
/// ([`ConverseStandIn::set_stream_settings`](super::ConverseStandIn::set_stream_settings)).
///
/// ```
/// use std::time::Duration;
/// use agent_testkit::{Chunking, StreamSettings};
///
/// let settings = StreamSettings::default()
///     .with_text_delta_chars(3)
///     .with_chunking(Chunking::FixedBytes(7))
///     .with_event_delay(Duration::from_millis(20));
/// assert_eq!(settings.tool_input_fragment_chars, 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSettings {
    /// Characters per `text` delta of a text block, and per reasoning-text delta (8 by
    /// default). 0 sends each block's text in one delta.
    pub text_delta_chars: usize,
    /// Characters per fragment of a `toolUse` block's input JSON (8 by default). 0 sends each
    /// input in one fragment.
    pub tool_input_fragment_chars: usize,
    /// How the event-stream messages are cut into HTTP chunks.
    pub chunking: Chunking,
    /// A pause between one event and the next, as a model writing slowly makes (none by
    /// default). The first event comes after the stand-in's latency instead.
    pub event_delay: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            text_delta_chars: 8,
            tool_input_fragment_chars: 8,
            chunking: Chunking::default(),
            event_delay: Duration::ZERO,
        }
    }
}

impl StreamSettings {
    /// These settings with `chars` characters per text and reasoning-text delta.
    #[must_use]
    pub fn with_text_delta_chars(mut self, chars: usize) -> Self {
        self.text_delta_chars = chars;
        self
    }

    /// These settings with `chars` characters per tool-input fragment.
    #[must_use]
    pub fn with_tool_input_fragment_chars(mut self, chars: usize) -> Self {
        self.tool_input_fragment_chars = chars;
        self
    }

    /// These settings with this chunking.
    #[must_use]
    pub fn with_chunking(mut self, chunking: Chunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// These settings with this pause between events.
    #[must_use]
    pub fn with_event_delay(mut self, delay: Duration) -> Self {
        self.event_delay = delay;
        self
    }
}

/// How a streamed body is cut into HTTP chunks. A client must reassemble event-stream
/// messages whatever the chunking; the real service's chunks do not follow message boundaries
/// either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Chunking {
    /// Each message in a chunk of its own.
    WholeMessages,
    /// Every `n`th message (the 2nd, 4th, … for `n = 2`) in two chunks: the first such message
    /// is cut inside its 12-byte prelude, the next in its middle, and so on alternately. The
    /// default is `SplitEvery(2)`. `SplitEvery(1)` splits every message; `SplitEvery(0)` none.
    SplitEvery(usize),
    /// The whole body in chunks of this many bytes regardless of message boundaries, so that
    /// one chunk holds the end of a message and the start of the next. The bytes of a message
    /// that do not fill a chunk wait for the next message (or the end of the stream). 0 is
    /// taken as 1.
    FixedBytes(usize),
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking::SplitEvery(2)
    }
}

/// The exceptions ConverseStream sends inside an open stream, as event-stream messages with
/// `:message-type: exception` and this `:exception-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// `modelStreamErrorException`: the model failed while streaming.
    ModelStreamError,
    /// `throttlingException`.
    Throttling,
    /// `serviceUnavailableException`.
    ServiceUnavailable,
    /// `internalServerException`.
    InternalServer,
    /// `validationException`.
    Validation,
}

impl StreamErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [StreamErrorKind; 5] = [
        StreamErrorKind::ModelStreamError,
        StreamErrorKind::Throttling,
        StreamErrorKind::ServiceUnavailable,
        StreamErrorKind::InternalServer,
        StreamErrorKind::Validation,
    ];

    /// The `:exception-type` header value, as the SDK's unmarshaller matches it.
    pub fn exception_type(self) -> &'static str {
        match self {
            StreamErrorKind::ModelStreamError => "modelStreamErrorException",
            StreamErrorKind::Throttling => "throttlingException",
            StreamErrorKind::ServiceUnavailable => "serviceUnavailableException",
            StreamErrorKind::InternalServer => "internalServerException",
            StreamErrorKind::Validation => "validationException",
        }
    }

    /// A message like the one the real service sends with this exception.
    pub fn default_message(self) -> &'static str {
        match self {
            StreamErrorKind::ModelStreamError => {
                "The model encountered an error while streaming its response."
            }
            StreamErrorKind::Throttling => BedrockErrorKind::Throttling.default_message(),
            StreamErrorKind::ServiceUnavailable => {
                BedrockErrorKind::ServiceUnavailable.default_message()
            }
            StreamErrorKind::InternalServer => BedrockErrorKind::InternalServer.default_message(),
            StreamErrorKind::Validation => BedrockErrorKind::Validation.default_message(),
        }
    }
}

impl fmt::Display for StreamErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.exception_type())
    }
}

/// Something that goes wrong while a reply is streamed, for testing how a client copes.
///
/// Attach faults to a reply with [`Reply::with_stream_fault`](super::Reply::with_stream_fault).
/// They apply to `ConverseStream` only: `Converse` answers the reply whole. "Events" count the
/// event-stream messages of the reply from the start (`messageStart` is event 1); when several
/// faults cut the stream, the one cutting it earliest wins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamFault {
    /// The input fragments of the message's `tool_use`th `toolUse` block (from 0) join into
    /// text that is not valid JSON (a trailing comma before the closing brace).
    MalformedToolInput {
        /// Which `toolUse` block, counting only `toolUse` blocks, from 0.
        tool_use: usize,
    },
    /// After `after_events` events, an exception message of this kind, then the stream ends.
    Exception {
        /// How many events are sent first.
        after_events: usize,
        /// Which exception.
        kind: StreamErrorKind,
        /// Its `message`.
        message: String,
    },
    /// After `after_events` events the connection is dropped: the body ends without its final
    /// chunk, so the client sees an incomplete body or a reset. With `mid_message`, the first
    /// half of the next message is sent before the drop.
    DropConnection {
        /// How many events are sent first.
        after_events: usize,
        /// Whether half of the next message goes out before the drop.
        mid_message: bool,
    },
    /// The token limit strikes inside the message's `tool_use`th `toolUse` block: its input is
    /// cut to half its JSON text, it gets no `contentBlockStop`, later blocks are not sent, and
    /// the stream ends with `messageStop` (`stopReason: max_tokens`) and `metadata`.
    MaxTokensInToolUse {
        /// Which `toolUse` block, counting only `toolUse` blocks, from 0.
        tool_use: usize,
    },
    /// The stream ends cleanly after the last `contentBlockStop`, without `messageStop` and
    /// `metadata`.
    NoMessageStop,
}

impl StreamFault {
    /// [`StreamFault::MalformedToolInput`] for the `tool_use`th `toolUse` block.
    pub fn malformed_tool_input(tool_use: usize) -> Self {
        StreamFault::MalformedToolInput { tool_use }
    }

    /// [`StreamFault::Exception`] of this kind with its usual message, after `after_events`
    /// events.
    pub fn exception_after(after_events: usize, kind: StreamErrorKind) -> Self {
        StreamFault::Exception {
            after_events,
            kind,
            message: kind.default_message().to_owned(),
        }
    }

    /// [`StreamFault::DropConnection`] between two messages, after `after_events` events.
    pub fn drop_connection_after(after_events: usize) -> Self {
        StreamFault::DropConnection {
            after_events,
            mid_message: false,
        }
    }

    /// [`StreamFault::DropConnection`] in the middle of the message after `after_events`
    /// events.
    pub fn drop_connection_mid_message(after_events: usize) -> Self {
        StreamFault::DropConnection {
            after_events,
            mid_message: true,
        }
    }

    /// [`StreamFault::MaxTokensInToolUse`] inside the `tool_use`th `toolUse` block.
    pub fn max_tokens_in_tool_use(tool_use: usize) -> Self {
        StreamFault::MaxTokensInToolUse { tool_use }
    }
}

/// How one reply is streamed: the faults to inject and the order of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamBehavior {
    /// The faults, in the order they were added.
    pub faults: Vec<StreamFault>,
    /// Whether the deltas of consecutive `toolUse` blocks alternate (block 1, block 2, block 1,
    /// …) after all of their `contentBlockStart`s, instead of one block after the other.
    pub interleave_tool_inputs: bool,
}

/// What the stream says beyond the message: usage, latency and trace for `metadata`.
pub(super) struct StreamMetadata<'a> {
    pub(super) usage_json: Value,
    /// The reply's own latency, sent as it is when set.
    pub(super) latency_ms: Option<u64>,
    /// The stand-in's latency before the first event.
    pub(super) latency: Duration,
    /// The pause between events: the metadata's latency counts those before it.
    pub(super) event_delay: Duration,
    pub(super) trace: Option<&'a Value>,
}

impl StreamMetadata<'_> {
    /// `latencyMs` of a metadata event sent after `events_before` events.
    fn latency_ms(&self, events_before: usize) -> u64 {
        self.latency_ms.unwrap_or_else(|| {
            let pauses = u32::try_from(events_before).unwrap_or(u32::MAX);
            let total = self
                .latency
                .saturating_add(self.event_delay.saturating_mul(pauses));
            u64::try_from(total.as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// The messages of one streamed reply, and how the stream ends.
#[derive(Debug)]
pub(super) struct StreamPlan {
    pub(super) messages: Vec<Message>,
    pub(super) ending: StreamEnding,
}

#[derive(Debug)]
pub(super) enum StreamEnding {
    /// The body ends normally after the messages.
    Complete,
    /// The connection is dropped after the messages, having sent the first half of
    /// `cut_message` if there is one.
    Drop { cut_message: Option<Message> },
}

/// The body of a streamed reply as HTTP chunks grouped by event: a pause may come between one
/// group and the next. `abort` says whether the connection is dropped after the last chunk.
#[derive(Debug)]
pub(super) struct ChunkedBody {
    pub(super) groups: Vec<Vec<Bytes>>,
    pub(super) abort: bool,
}

/// One content block's events, before they are put in order.
struct BlockEvents {
    start: Option<Message>,
    deltas: Vec<Message>,
    /// `None` when the token limit cut the block.
    stop: Option<Message>,
    is_tool_use: bool,
    /// Whether the token limit cut this block: nothing is sent after its last event.
    cut_by_max_tokens: bool,
}

/// The events of `response` as ConverseStream sends them, faults applied.
pub(super) fn plan(
    response: &ModelResponse,
    metadata: &StreamMetadata<'_>,
    settings: &StreamSettings,
    behavior: &StreamBehavior,
) -> StreamPlan {
    let malformed: Vec<usize> = behavior
        .faults
        .iter()
        .filter_map(|fault| match fault {
            StreamFault::MalformedToolInput { tool_use } => Some(*tool_use),
            _ => None,
        })
        .collect();
    let cut_tool_use = behavior
        .faults
        .iter()
        .filter_map(|fault| match fault {
            StreamFault::MaxTokensInToolUse { tool_use } => Some(*tool_use),
            _ => None,
        })
        .min();

    let mut blocks = Vec::with_capacity(response.message.content.len());
    let mut tool_uses_seen = 0;
    for (index, block) in response.message.content.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let tool_use_ordinal = matches!(block, ContentBlock::ToolUse(_)).then(|| {
            tool_uses_seen += 1;
            tool_uses_seen - 1
        });
        let faults = ToolInputFaults {
            malformed: tool_use_ordinal.is_some_and(|n| malformed.contains(&n)),
            cut: tool_use_ordinal.is_some() && tool_use_ordinal == cut_tool_use,
        };
        blocks.push(block_events(index, block, settings, faults));
    }

    let mut messages = vec![event("messageStart", json!({"role": "assistant"}))];
    messages.extend(order_block_events(blocks, behavior.interleave_tool_inputs));
    let cut = cut_tool_use.is_some_and(|n| n < tool_uses_seen);
    let no_message_stop = behavior
        .faults
        .iter()
        .any(|fault| matches!(fault, StreamFault::NoMessageStop));
    if !no_message_stop {
        let stop_reason = if cut {
            "max_tokens"
        } else {
            response.stop_reason.as_str()
        };
        messages.push(event("messageStop", json!({"stopReason": stop_reason})));
        let mut payload = json!({
            "usage": metadata.usage_json,
            "metrics": {"latencyMs": metadata.latency_ms(messages.len())},
        });
        if let Some(trace) = metadata.trace {
            payload["trace"] = trace.clone();
        }
        messages.push(event("metadata", payload));
    }
    cut_stream(messages, &behavior.faults)
}

#[derive(Clone, Copy)]
struct ToolInputFaults {
    malformed: bool,
    cut: bool,
}

fn block_events(
    index: u32,
    block: &ContentBlock,
    settings: &StreamSettings,
    faults: ToolInputFaults,
) -> BlockEvents {
    let delta = |delta: Value| {
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": delta}),
        )
    };
    let stop = Some(event(
        "contentBlockStop",
        json!({"contentBlockIndex": index}),
    ));
    let mut events = BlockEvents {
        start: None,
        deltas: Vec::new(),
        stop,
        is_tool_use: false,
        cut_by_max_tokens: false,
    };
    match block {
        ContentBlock::Text(text) => {
            events.deltas = split_chars(text, settings.text_delta_chars)
                .into_iter()
                .map(|piece| delta(json!({"text": piece})))
                .collect();
        }
        ContentBlock::ToolUse(tool_use) => {
            events.is_tool_use = true;
            events.start = Some(event(
                "contentBlockStart",
                json!({"contentBlockIndex": index, "start": {"toolUse": {
                    "toolUseId": tool_use.tool_use_id,
                    "name": tool_use.name,
                }}}),
            ));
            let mut input = tool_use.input.to_string();
            if faults.malformed {
                input = malformed_json(&input);
            }
            if faults.cut {
                input = first_half(&input);
                events.stop = None;
                events.cut_by_max_tokens = true;
            }
            events.deltas = split_chars(&input, settings.tool_input_fragment_chars)
                .into_iter()
                .filter(|piece| !piece.is_empty())
                .map(|piece| delta(json!({"toolUse": {"input": piece}})))
                .collect();
        }
        ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(reasoning)) => {
            events.deltas = split_chars(&reasoning.text, settings.text_delta_chars)
                .into_iter()
                .map(|piece| delta(json!({"reasoningContent": {"text": piece}})))
                .collect();
            if let Some(signature) = &reasoning.signature {
                events
                    .deltas
                    .push(delta(json!({"reasoningContent": {"signature": signature}})));
            }
        }
        ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(data)) => {
            events.deltas = vec![delta(
                json!({"reasoningContent": {"redactedContent": data}}),
            )];
        }
        other => {
            // Blocks a model does not stream piecewise (and unknown ones): one delta holding
            // the block's JSON, which lets a test see how a client treats a delta it does not
            // know.
            let value = match other {
                ContentBlock::ReasoningContent(ReasoningContent::Unknown(value)) => {
                    json!({"reasoningContent": value})
                }
                _ => serde_json::to_value(other).unwrap_or(Value::Null),
            };
            events.deltas = vec![delta(value)];
        }
    }
    events
}

/// The content events in sending order: block by block, except that runs of consecutive
/// `toolUse` blocks interleave their deltas when asked. Nothing is sent after the last event of
/// a block the token limit cut.
fn order_block_events(blocks: Vec<BlockEvents>, interleave: bool) -> Vec<Message> {
    let mut ordered = Vec::new();
    let mut blocks = blocks.into_iter().peekable();
    while let Some(block) = blocks.next() {
        if interleave && block.is_tool_use && blocks.peek().is_some_and(|next| next.is_tool_use) {
            let mut run = vec![block];
            while let Some(next) = blocks.next_if(|next| next.is_tool_use) {
                run.push(next);
            }
            if emit_interleaved(run, &mut ordered) {
                return ordered;
            }
        } else {
            let cut = block.cut_by_max_tokens;
            ordered.extend(block.start);
            ordered.extend(block.deltas);
            ordered.extend(block.stop);
            if cut {
                return ordered;
            }
        }
    }
    ordered
}

/// Sends a run of `toolUse` blocks with alternating deltas; returns whether the token limit
/// cut one of them (and so the message).
fn emit_interleaved(run: Vec<BlockEvents>, ordered: &mut Vec<Message>) -> bool {
    let mut deltas: Vec<std::vec::IntoIter<Message>> = Vec::with_capacity(run.len());
    let mut stops = Vec::with_capacity(run.len());
    let mut cut_block = None;
    for (position, block) in run.into_iter().enumerate() {
        ordered.extend(block.start);
        deltas.push(block.deltas.into_iter());
        stops.push(block.stop);
        if block.cut_by_max_tokens && cut_block.is_none() {
            cut_block = Some(position);
        }
    }
    loop {
        let mut sent_any = false;
        for (position, pending) in deltas.iter_mut().enumerate() {
            if let Some(delta) = pending.next() {
                ordered.push(delta);
                sent_any = true;
                if Some(position) == cut_block && pending.as_slice().is_empty() {
                    return true;
                }
            }
        }
        if !sent_any {
            break;
        }
    }
    if cut_block.is_some() {
        // The cut block had no delta at all: the limit struck right after the starts.
        return true;
    }
    ordered.extend(stops.into_iter().flatten());
    false
}

/// Applies the faults that cut the stream short: the one cutting earliest wins.
fn cut_stream(mut messages: Vec<Message>, faults: &[StreamFault]) -> StreamPlan {
    let earliest = faults
        .iter()
        .filter_map(|fault| match fault {
            StreamFault::Exception { after_events, .. }
            | StreamFault::DropConnection { after_events, .. } => Some((*after_events, fault)),
            _ => None,
        })
        .min_by_key(|(after_events, _)| *after_events);
    match earliest {
        Some((after_events, StreamFault::Exception { kind, message, .. })) => {
            messages.truncate(after_events);
            messages.push(exception(*kind, message));
            StreamPlan {
                messages,
                ending: StreamEnding::Complete,
            }
        }
        Some((after_events, StreamFault::DropConnection { mid_message, .. })) => {
            let rest = if after_events < messages.len() {
                messages.split_off(after_events)
            } else {
                Vec::new()
            };
            let cut_message = if *mid_message {
                rest.into_iter().next()
            } else {
                None
            };
            StreamPlan {
                messages,
                ending: StreamEnding::Drop { cut_message },
            }
        }
        _ => StreamPlan {
            messages,
            ending: StreamEnding::Complete,
        },
    }
}

/// An event message: `:event-type`, `:content-type: application/json`, `:message-type: event`.
fn event(event_type: &'static str, payload: Value) -> Message {
    Message::new_from_parts(
        vec![
            Header::new(":event-type", HeaderValue::String(event_type.into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        payload.to_string(),
    )
}

/// An exception message: `:exception-type`, `:content-type: application/json`,
/// `:message-type: exception`, and `{"message": …}` as the payload.
fn exception(kind: StreamErrorKind, message: &str) -> Message {
    Message::new_from_parts(
        vec![
            Header::new(
                ":exception-type",
                HeaderValue::String(kind.exception_type().into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("exception".into())),
        ],
        json!({ "message": message }).to_string(),
    )
}

/// The plan as HTTP chunks, framed by `aws-smithy-eventstream`.
pub(super) fn chunk(
    plan: &StreamPlan,
    chunking: Chunking,
) -> Result<ChunkedBody, aws_smithy_eventstream::error::Error> {
    let mut frames = plan
        .messages
        .iter()
        .map(encode)
        .collect::<Result<Vec<_>, _>>()?;
    let (cut_frame, abort) = match &plan.ending {
        StreamEnding::Complete => (None, false),
        StreamEnding::Drop { cut_message } => {
            let cut = cut_message
                .as_ref()
                .map(encode)
                .transpose()?
                .map(|frame| frame.slice(..frame.len() / 2));
            (cut, true)
        }
    };
    let mut groups: Vec<Vec<Bytes>> = Vec::with_capacity(frames.len() + 1);
    match chunking {
        Chunking::WholeMessages | Chunking::SplitEvery(0) => {
            groups.extend(frames.drain(..).map(|frame| vec![frame]));
        }
        Chunking::SplitEvery(every) => {
            let mut splits = 0usize;
            for (position, frame) in frames.drain(..).enumerate() {
                if (position + 1).is_multiple_of(every) && frame.len() > 1 {
                    // Alternate between a cut inside the prelude and one in the middle.
                    let at = if splits.is_multiple_of(2) {
                        5
                    } else {
                        frame.len() / 2
                    };
                    splits += 1;
                    groups.push(vec![frame.slice(..at), frame.slice(at..)]);
                } else {
                    groups.push(vec![frame]);
                }
            }
        }
        Chunking::FixedBytes(size) => {
            let size = size.max(1);
            let mut pending: Vec<u8> = Vec::new();
            for frame in frames.drain(..) {
                pending.extend_from_slice(&frame);
                let mut group = Vec::new();
                while pending.len() >= size {
                    let rest = pending.split_off(size);
                    group.push(Bytes::from(std::mem::replace(&mut pending, rest)));
                }
                groups.push(group);
            }
            if let Some(cut) = &cut_frame {
                pending.extend_from_slice(cut);
            }
            if !pending.is_empty() {
                let rest: Vec<Bytes> = pending.chunks(size).map(Bytes::copy_from_slice).collect();
                match groups.last_mut() {
                    Some(last) if cut_frame.is_none() => last.extend(rest),
                    _ => groups.push(rest),
                }
            }
            return Ok(ChunkedBody { groups, abort });
        }
    }
    if let Some(cut) = cut_frame
        && !cut.is_empty()
    {
        groups.push(vec![cut]);
    }
    Ok(ChunkedBody { groups, abort })
}

fn encode(message: &Message) -> Result<Bytes, aws_smithy_eventstream::error::Error> {
    let mut buffer = Vec::with_capacity(message.payload().len() + 128);
    write_message_to(message, &mut buffer)?;
    Ok(Bytes::from(buffer))
}

/// `text` in pieces of `chars` characters (the whole text in one piece for 0). An empty text
/// is one empty piece, so that its block still has a delta.
fn split_chars(text: &str, chars: usize) -> Vec<String> {
    if chars == 0 || text.is_empty() {
        return vec![text.to_owned()];
    }
    let characters: Vec<char> = text.chars().collect();
    characters
        .chunks(chars)
        .map(|piece| piece.iter().collect())
        .collect()
}

/// JSON text made invalid the way a model's slip would: a trailing comma before the closing
/// brace of an object, or a stray brace after any other value.
fn malformed_json(json: &str) -> String {
    match json.strip_suffix('}') {
        Some(body) => format!("{body},}}"),
        None => format!("{json}}}"),
    }
}

/// The first half of `text` (by characters), never all of it for a text of 2 or more.
fn first_half(text: &str) -> String {
    let count = text.chars().count();
    text.chars().take(count / 2).collect()
}

/// The Converse `usage` object. The cache counts are given when the request used the prompt
/// cache or the reply set them, as the service gives them only to models that cache.
pub(super) fn usage_json(usage: &TokenUsage, with_cache_counts: bool) -> Value {
    let mut value = json!({
        "inputTokens": clamp_i32(usage.input_tokens),
        "outputTokens": clamp_i32(usage.output_tokens),
        "totalTokens": clamp_i32(usage.total_tokens),
    });
    if with_cache_counts || usage.cache_read_input_tokens > 0 || usage.cache_write_input_tokens > 0
    {
        value["cacheReadInputTokens"] = clamp_i32(usage.cache_read_input_tokens).into();
        value["cacheWriteInputTokens"] = clamp_i32(usage.cache_write_input_tokens).into();
    }
    value
}

/// Converse's token counts are 32-bit integers.
fn clamp_i32(count: u64) -> i64 {
    i64::try_from(count).map_or(i64::from(i32::MAX), |n| n.min(i64::from(i32::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{Message as AgentMessage, ReasoningText, Role, StopReason, ToolUse};
    use aws_smithy_eventstream::frame::read_message_from;

    fn tool_use(id: &str, input: Value) -> ContentBlock {
        ContentBlock::ToolUse(ToolUse {
            tool_use_id: id.into(),
            name: "get_weather".into(),
            input,
        })
    }

    fn response(content: Vec<ContentBlock>, stop_reason: StopReason) -> ModelResponse {
        ModelResponse::new(
            AgentMessage {
                role: Role::Assistant,
                content,
            },
            stop_reason,
        )
        .with_usage(TokenUsage::new(10, 5))
    }

    fn metadata() -> StreamMetadata<'static> {
        StreamMetadata {
            usage_json: usage_json(&TokenUsage::new(10, 5), false),
            latency_ms: Some(7),
            latency: Duration::ZERO,
            event_delay: Duration::ZERO,
            trace: None,
        }
    }

    fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    }

    /// `(event type, payload)` of each message.
    fn events_of(plan: &StreamPlan) -> Vec<(String, Value)> {
        plan.messages
            .iter()
            .map(|m| {
                let kind = header(m, ":event-type")
                    .or_else(|| header(m, ":exception-type"))
                    .unwrap()
                    .to_owned();
                (kind, serde_json::from_slice(m.payload()).unwrap())
            })
            .collect()
    }

    fn plan_of(content: Vec<ContentBlock>, behavior: StreamBehavior) -> StreamPlan {
        plan(
            &response(content, StopReason::ToolUse),
            &metadata(),
            &StreamSettings::default()
                .with_text_delta_chars(4)
                .with_tool_input_fragment_chars(5),
            &behavior,
        )
    }

    fn tool_inputs(events: &[(String, Value)], index: u64) -> String {
        events
            .iter()
            .filter(|(kind, p)| kind == "contentBlockDelta" && p["contentBlockIndex"] == index)
            .map(|(_, p)| p["delta"]["toolUse"]["input"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_reply_becomes_the_events_bedrock_sends() {
        let content = vec![
            ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(ReasoningText {
                text: "Let me see".into(),
                signature: Some("sig".into()),
            })),
            ContentBlock::Text("Hello there".into()),
            tool_use("t1", json!({"location": "Seattle"})),
        ];
        let plan = plan_of(content, StreamBehavior::default());
        let events = events_of(&plan);
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(events[0].1, json!({"role": "assistant"}));
        assert_eq!(
            events[1].1,
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let "}}})
        );
        assert_eq!(
            events[4].1,
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}})
        );
        assert_eq!(events[5].1, json!({"contentBlockIndex": 0}));
        assert_eq!(
            events[6].1,
            json!({"contentBlockIndex": 1, "delta": {"text": "Hell"}})
        );
        assert_eq!(
            events[10].1,
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "get_weather"}}})
        );
        assert_eq!(tool_inputs(&events, 2), r#"{"location":"Seattle"}"#);
        assert_eq!(events[17].1, json!({"stopReason": "tool_use"}));
        assert_eq!(
            events[18].1,
            json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 7}})
        );
        for message in &plan.messages {
            assert_eq!(header(message, ":content-type"), Some("application/json"));
            assert_eq!(header(message, ":message-type"), Some("event"));
        }
    }

    #[test]
    fn interleaved_tool_inputs_alternate_between_blocks() {
        let content = vec![
            ContentBlock::Text("Two calls".into()),
            tool_use("a", json!({"location": "Paris"})),
            tool_use("b", json!({"location": "Lyon"})),
        ];
        let behavior = StreamBehavior {
            interleave_tool_inputs: true,
            ..StreamBehavior::default()
        };
        let events = events_of(&plan_of(content, behavior));
        let tool_events: Vec<(String, u64)> = events
            .iter()
            .filter(|(_, p)| p["contentBlockIndex"].as_u64().is_some_and(|i| i > 0))
            .map(|(k, p)| (k.clone(), p["contentBlockIndex"].as_u64().unwrap()))
            .collect();
        assert_eq!(tool_events[0], ("contentBlockStart".to_owned(), 1));
        assert_eq!(tool_events[1], ("contentBlockStart".to_owned(), 2));
        assert_eq!(tool_events[2], ("contentBlockDelta".to_owned(), 1));
        assert_eq!(tool_events[3], ("contentBlockDelta".to_owned(), 2));
        assert_eq!(tool_events[4], ("contentBlockDelta".to_owned(), 1));
        assert_eq!(tool_inputs(&events, 1), r#"{"location":"Paris"}"#);
        assert_eq!(tool_inputs(&events, 2), r#"{"location":"Lyon"}"#);
        let stops: Vec<&(String, u64)> = tool_events
            .iter()
            .filter(|(k, _)| k == "contentBlockStop")
            .collect();
        assert_eq!(stops.len(), 2);
    }

    #[test]
    fn malformed_and_cut_inputs_are_not_json() {
        assert_eq!(malformed_json("{}"), "{,}");
        assert_eq!(malformed_json(r#"{"a":1}"#), r#"{"a":1,}"#);
        assert_eq!(malformed_json("12"), "12}");
        for text in ["{}", r#"{"a":1}"#, "12", "[1]", "\"x\""] {
            assert!(serde_json::from_str::<Value>(&malformed_json(text)).is_err());
        }
        assert_eq!(first_half(r#"{"a":1}"#), r#"{"a"#);
        assert!(serde_json::from_str::<Value>(&first_half("{}")).is_err());

        let content = vec![
            tool_use("a", json!({"location": "Paris"})),
            tool_use("b", json!({"location": "Lyon"})),
        ];
        let behavior = StreamBehavior {
            faults: vec![StreamFault::malformed_tool_input(1)],
            ..StreamBehavior::default()
        };
        let events = events_of(&plan_of(content.clone(), behavior));
        assert!(serde_json::from_str::<Value>(&tool_inputs(&events, 0)).is_ok());
        assert_eq!(tool_inputs(&events, 1), r#"{"location":"Lyon",}"#);

        let behavior = StreamBehavior {
            faults: vec![StreamFault::max_tokens_in_tool_use(0)],
            ..StreamBehavior::default()
        };
        let events = events_of(&plan_of(content, behavior));
        assert_eq!(tool_inputs(&events, 0), r#"{"location"#);
        assert!(!events.iter().any(|(k, _)| k == "contentBlockStop"));
        assert!(!events.iter().any(|(_, p)| p["contentBlockIndex"] == 1));
        let last = events.len() - 1;
        assert_eq!(events[last - 1].1, json!({"stopReason": "max_tokens"}));
        assert_eq!(events[last].0, "metadata");
    }

    #[test]
    fn the_earliest_cutting_fault_wins_and_frames_survive_any_chunking() {
        let content = vec![ContentBlock::Text("abcdefghijkl".into())];
        let behavior = StreamBehavior {
            faults: vec![
                StreamFault::drop_connection_mid_message(4),
                StreamFault::exception_after(2, StreamErrorKind::Throttling),
            ],
            ..StreamBehavior::default()
        };
        let plan = plan_of(content.clone(), behavior);
        assert!(matches!(plan.ending, StreamEnding::Complete));
        let events = events_of(&plan);
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].0, "throttlingException");
        assert_eq!(
            header(&plan.messages[2], ":message-type"),
            Some("exception")
        );

        let behavior = StreamBehavior {
            faults: vec![StreamFault::drop_connection_mid_message(2)],
            ..StreamBehavior::default()
        };
        let plan = plan_of(content, behavior);
        assert_eq!(plan.messages.len(), 2);
        for chunking in [
            Chunking::WholeMessages,
            Chunking::SplitEvery(1),
            Chunking::SplitEvery(2),
            Chunking::FixedBytes(7),
        ] {
            let body = chunk(&plan, chunking).unwrap();
            assert!(body.abort);
            let bytes: Vec<u8> = body.groups.iter().flatten().flatten().copied().collect();
            let mut rest = &bytes[..];
            for expected in &plan.messages {
                let total = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                let message = read_message_from(&rest[..total]).unwrap();
                assert_eq!(&message, expected, "{chunking:?}");
                rest = &rest[total..];
            }
            // Half of the third message follows, then nothing.
            assert!(
                !rest.is_empty() && read_message_from(rest).is_err(),
                "{chunking:?}"
            );
            if let Chunking::FixedBytes(size) = chunking {
                assert!(body.groups.iter().flatten().all(|c| c.len() <= size));
            }
        }
    }
}
