//! The stand-in's prompt cache: which request prefixes (up to a `cachePoint`) it has seen.
//!
//! Bedrock caches a request up to each of its `cachePoint`s, in the order the model reads it:
//! tools, then system, then messages. A request reads the longest prefix an earlier request
//! cached (`cacheReadInputTokens`) and writes the rest up to its last checkpoint
//! (`cacheWriteInputTokens`). The stand-in keeps a hash of each prefix seen, per model id, and
//! no expiry. The model's minimum prefix length (a shorter checkpoint is not cached) is applied
//! by the caller for the models it knows.
//!
//! A checkpoint marks where a prefix ends; it is not part of the prefix. A conversation that
//! moves its checkpoint to its last message on every turn still reads what the earlier turns
//! cached: Claude's prompt cache marks "the end of reusable content" with a breakpoint and looks
//! for hits at the earlier block boundaries of the same content
//! (<https://platform.claude.com/docs/en/build-with-claude/prompt-caching>; the Korean copy
//! <https://docs.anthropic.com/ko/docs/build-with-claude/prompt-caching>), and clients that
//! move the breakpoint each turn read the earlier prefix because the marker is not in the
//! cache key (<https://github.com/gnachman/iTerm2/releases/tag/v20260622-nightly>). Bedrock's
//! checkpoints are the same markers
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>). So the
//! prefixes hashed and counted here leave the `cachePoint` blocks out.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::demo::sorted_keys;

/// The part of a request the prompt cache covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CachePrefix {
    /// A hash of the model id and the prefix (keys sorted: clients send JSON objects in any
    /// order).
    pub(super) hash: u64,
    /// A rough token count of the prefix: a token per four bytes of JSON.
    pub(super) tokens: u64,
}

/// The prefixes of `body` up to each of its `cachePoint` blocks (the blocks themselves left
/// out), shortest first (none when it has no checkpoint).
pub(super) fn cache_prefixes(model_id: &str, body: &Value) -> Vec<CachePrefix> {
    let mut items: Vec<Value> = Vec::new();
    let array = |pointer: &str| {
        body.pointer(pointer)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    };
    items.extend(
        array("/toolConfig/tools")
            .iter()
            .map(|tool| json!({"tool": tool})),
    );
    items.extend(
        array("/system")
            .iter()
            .map(|block| json!({"system": block})),
    );
    for message in array("/messages") {
        let role = message.get("role").cloned().unwrap_or(Value::Null);
        if let Some(content) = message.get("content").and_then(Value::as_array) {
            items.extend(
                content
                    .iter()
                    .map(|block| json!({"role": role, "block": block})),
            );
        }
    }
    // The checkpoints are left out of the prefixes: each ends where the content before it ends.
    let mut content: Vec<Value> = Vec::with_capacity(items.len());
    let mut ends: Vec<usize> = Vec::new();
    for item in items {
        let is_cache_point = ["tool", "system", "block"]
            .iter()
            .any(|key| item.get(key).and_then(|b| b.get("cachePoint")).is_some());
        if is_cache_point {
            if ends.last() != Some(&content.len()) {
                ends.push(content.len());
            }
        } else {
            content.push(item);
        }
    }
    ends.into_iter()
        .filter(|end| *end > 0)
        .map(|end| {
            let canonical = sorted_keys(&Value::Array(content[..end].to_vec())).to_string();
            let mut hasher = DefaultHasher::new();
            model_id.hash(&mut hasher);
            canonical.hash(&mut hasher);
            CachePrefix {
                hash: hasher.finish(),
                tokens: (canonical.len() as u64 / 4).max(1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_ends_at_the_last_cache_point_and_ignores_what_follows() {
        let cache_point = json!({"cachePoint": {"type": "default"}});
        let first = json!({
            "system": [{"text": "You are terse."}, cache_point],
            "messages": [{"role": "user", "content": [{"text": "one"}]}]
        });
        let second = json!({
            "messages": [
                {"role": "user", "content": [{"text": "one"}]},
                {"role": "assistant", "content": [{"text": "1"}]},
                {"role": "user", "content": [{"text": "two"}]}
            ],
            "system": [{"text": "You are terse."}, cache_point]
        });
        let a = cache_prefixes("m", &first);
        let b = cache_prefixes("m", &second);
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_ne!(cache_prefixes("other", &first)[0].hash, a[0].hash);
        let none = json!({"messages": [{"role": "user", "content": [{"text": "one"}]}]});
        assert!(cache_prefixes("m", &none).is_empty());
        let more = json!({
            "system": [{"text": "You are terse."}, cache_point],
            "messages": [{"role": "user", "content": [{"text": "one"}, cache_point]}]
        });
        let c = cache_prefixes("m", &more);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], a[0], "the shorter prefix is the earlier request's");
        assert!(c[1].tokens > c[0].tokens);
    }

    #[test]
    fn a_checkpoint_moved_to_the_next_turn_still_meets_the_earlier_prefix() {
        let cache_point = json!({"cachePoint": {"type": "default"}});
        let user = |text: &str, point: bool| {
            let mut content = vec![json!({"text": text})];
            if point {
                content.push(cache_point.clone());
            }
            json!({"role": "user", "content": content})
        };
        let assistant = |text: &str| json!({"role": "assistant", "content": [{"text": text}]});
        // Turn 2 marks its question and turn 1's question; turn 3 marks its own and turn 2's.
        let turn_2 = json!({"messages": [user("one", true), assistant("1"), user("two", true)]});
        let turn_3 = json!({"messages": [
            user("one", false), assistant("1"), user("two", true), assistant("2"),
            user("three", true)
        ]});
        let written = cache_prefixes("m", &turn_2);
        let read = cache_prefixes("m", &turn_3);
        assert_eq!(written.len(), 2);
        assert_eq!(read.len(), 2);
        assert_eq!(
            read[0], written[1],
            "the prefix up to turn 2's question is the same, wherever the markers sit"
        );
        // A checkpoint first in a request marks nothing.
        let first = json!({"system": [cache_point], "messages": [user("one", false)]});
        assert!(cache_prefixes("m", &first).is_empty());
    }
}
