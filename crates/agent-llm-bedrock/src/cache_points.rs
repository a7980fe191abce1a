//! Where a request's prompt-cache checkpoints go, so that each call reads what the previous
//! call of the run, and the last call of the previous run, cached.
//!
//! Bedrock caches a request's prefix up to each checkpoint, in the order tools, system,
//! messages, and a later request reads a prefix it cached when it puts a checkpoint at the same
//! place (prompt-caching page, see `families::sources::CACHING`). The client puts one after the
//! system prompt (after the tools when there is none), one at the end of the request, and one
//! where the previous call ended: the message before the previous call's reply and results
//! (two messages back). The previous run's last call ended there too, before its final
//! answer, so the first call of a run reads the whole earlier conversation but the last
//! answer and writes only what is new. A message a family refuses a checkpoint in (Nova: a turn
//! of tool calls or results; every family: right after reasoning) moves that checkpoint to the
//! latest message before it that takes one — the same choice the earlier call made, so the
//! prefixes still meet. At most four checkpoints go in a request, the user's own counted
//! first; a checkpoint whose prefix is under the family's minimum is not placed (it would not
//! be cached, and it takes one of the four).

use aws_sdk_bedrockruntime::types as sdk;

use crate::families::MAX_CACHE_POINTS;
use crate::plan::CachePlacement;

/// Where checkpoints go in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checkpoints {
    /// After the system prompt.
    pub(crate) system: bool,
    /// After the tool definitions.
    pub(crate) tools: bool,
    /// At the end of these messages (indexes, ascending).
    pub(crate) messages: Vec<usize>,
}

/// The sizes the placement weighs, in rough tokens.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PrefixSizes<'a> {
    pub(crate) tools: u64,
    pub(crate) system: u64,
    /// The running total of the messages' sizes: `messages[i]` is the size of messages
    /// `0..=i`.
    pub(crate) messages: &'a [u64],
}

/// Places the checkpoints of a request.
pub(crate) fn place(
    placement: &CachePlacement,
    has_system: bool,
    has_tools: bool,
    wire: &[sdk::Message],
    sizes: PrefixSizes<'_>,
) -> Checkpoints {
    let user_points = wire
        .iter()
        .flat_map(|message| message.content())
        .filter(|block| block.is_cache_point())
        .count();
    let mut budget = MAX_CACHE_POINTS.saturating_sub(user_points);
    let min = u64::from(placement.min_tokens);
    let head = sizes.tools + sizes.system;
    let prefix_at = |index: usize| head + sizes.messages.get(index).copied().unwrap_or(0);
    let allowed = |index: usize| {
        wire.get(index)
            .is_some_and(|message| takes_checkpoint(message, placement.in_tool_turns))
            && prefix_at(index) >= min
    };
    let latest_allowed = |end: usize| (0..=end).rev().find(|&index| allowed(index));
    let mut points = Checkpoints::default();
    // The end of the request first: it is what the next call reads.
    let trailing = if placement.messages && !wire.is_empty() {
        latest_allowed(wire.len() - 1)
    } else {
        None
    };
    if let Some(index) = trailing
        && budget > 0
    {
        points.messages.push(index);
        budget -= 1;
    }
    if placement.system && has_system && budget > 0 && head >= min {
        points.system = true;
        budget -= 1;
    } else if placement.tools && has_tools && budget > 0 && sizes.tools >= min {
        points.tools = true;
        budget -= 1;
    }
    if placement.messages
        && budget > 0
        && let Some(end) = wire.len().checked_sub(3)
        && let Some(index) = latest_allowed(end)
        && Some(index) != trailing
    {
        points.messages.push(index);
    }
    points.messages.sort_unstable();
    points
}

/// Whether a checkpoint may end `message`: never right after reasoning (Claude: "Cache point
/// cannot be inserted after reasoning block"), never as the first block, and, for a family
/// that refuses them there, not in a turn of tool calls or results.
fn takes_checkpoint(message: &sdk::Message, in_tool_turns: bool) -> bool {
    let content = message.content();
    let Some(last) = content.last() else {
        return false;
    };
    if last.is_reasoning_content() || last.is_cache_point() {
        return false;
    }
    in_tool_turns
        || !content
            .iter()
            .any(|block| block.is_tool_use() || block.is_tool_result())
}

/// A rough token count of a message: a token per four bytes of its JSON, as the providers'
/// own rule of thumb; only used to keep checkpoints off prefixes too short to be cached.
pub(crate) fn approx_tokens(message: &agent_core::Message) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; a message that cannot be written counts as empty.
    let _ = serde_json::to_writer(&mut count, message);
    count.0.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(role: sdk::ConversationRole, text: &str) -> sdk::Message {
        sdk::Message::builder()
            .role(role)
            .content(sdk::ContentBlock::Text(text.to_owned()))
            .build()
            .unwrap()
    }

    fn results() -> sdk::Message {
        sdk::Message::builder()
            .role(sdk::ConversationRole::User)
            .content(sdk::ContentBlock::ToolResult(
                sdk::ToolResultBlock::builder()
                    .tool_use_id("a")
                    .content(sdk::ToolResultContentBlock::Text("1".into()))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap()
    }

    fn calls() -> sdk::Message {
        sdk::Message::builder()
            .role(sdk::ConversationRole::Assistant)
            .content(sdk::ContentBlock::ToolUse(
                sdk::ToolUseBlock::builder()
                    .tool_use_id("a")
                    .name("t")
                    .input(aws_smithy_types::Document::Object(Default::default()))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap()
    }

    const ALL: CachePlacement = CachePlacement {
        system: true,
        tools: true,
        messages: true,
        in_tool_turns: true,
        min_tokens: 0,
    };

    #[test]
    fn the_end_and_where_the_previous_call_ended() {
        use sdk::ConversationRole::{Assistant, User};
        // Turn 1 (question, tool call, results, answer), then turn 2's question.
        let wire = [
            text(User, "q1"),
            calls(),
            results(),
            text(Assistant, "a1"),
            text(User, "q2"),
        ];
        let sizes = [10, 20, 30, 40, 50];
        let sizes = PrefixSizes {
            tools: 0,
            system: 5,
            messages: &sizes,
        };
        let claude = place(&ALL, true, true, &wire, sizes);
        assert_eq!(
            claude.messages,
            [2, 4],
            "the results turn 1 ended with, and the end"
        );
        assert!(
            claude.system && !claude.tools,
            "the system prompt covers the tools"
        );
        let nova = CachePlacement {
            tools: false,
            in_tool_turns: false,
            ..ALL
        };
        let nova = place(&nova, true, true, &wire, sizes);
        assert_eq!(
            nova.messages,
            [0, 4],
            "not in tool turns: back to the question"
        );
        let no_system = place(&ALL, false, true, &wire, sizes);
        assert!(no_system.tools && !no_system.system);
    }

    #[test]
    fn at_most_four_with_the_users_own_and_none_under_the_minimum() {
        use sdk::ConversationRole::{Assistant, User};
        let with_user_point = sdk::Message::builder()
            .role(User)
            .content(sdk::ContentBlock::Text("q".into()))
            .content(sdk::ContentBlock::CachePoint(
                sdk::CachePointBlock::builder()
                    .r#type(sdk::CachePointType::Default)
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        let wire = [
            with_user_point.clone(),
            text(Assistant, "a"),
            with_user_point.clone(),
            text(Assistant, "b"),
            text(User, "c"),
        ];
        let sizes = [10, 20, 30, 40, 50];
        let sizes = PrefixSizes {
            tools: 0,
            system: 5,
            messages: &sizes,
        };
        let points = place(&ALL, true, false, &wire, sizes);
        assert_eq!(points.messages.len() + usize::from(points.system), 2);
        let high = CachePlacement {
            min_tokens: 53,
            ..ALL
        };
        let points = place(&high, true, false, &wire, sizes);
        assert_eq!(points.messages, [4], "only the end is past 53 tokens");
        assert!(!points.system);
    }
}
