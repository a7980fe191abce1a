//! The stand-in's prompt cache: which request prefixes (up to a `cachePoint`) it has seen.
//!
//! Bedrock caches a request up to each of its `cachePoint`s, in the order the model reads it:
//! tools, then system, then messages. A request reads the longest prefix an earlier request
//! cached (`cacheReadInputTokens`) and writes the rest up to its last checkpoint
//! (`cacheWriteInputTokens`). The stand-in keeps a hash of each prefix seen, per model id, and
//! no expiry. The model's minimum prefix length (a shorter checkpoint is not cached) is applied
//! by the caller for the models it knows.

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

/// The prefixes of `body` up to and including each of its `cachePoint` blocks, shortest first
/// (none when it has no checkpoint).
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
    let ends = items.iter().enumerate().filter_map(|(index, item)| {
        ["tool", "system", "block"]
            .iter()
            .any(|key| item.get(key).and_then(|b| b.get("cachePoint")).is_some())
            .then_some(index + 1)
    });
    ends.map(|end| {
        let canonical = sorted_keys(&Value::Array(items[..end].to_vec())).to_string();
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
}
