//! The stand-in's prompt cache: which request prefixes (up to a `cachePoint`) it has seen.
//!
//! Bedrock caches the part of a request up to its last `cachePoint`, in the order the model
//! reads it: tools, then system, then messages. The first request with a given prefix writes
//! it to the cache (`cacheWriteInputTokens`), later ones read it (`cacheReadInputTokens`). The
//! stand-in keeps a hash of each prefix seen, per model id; unlike the service it has no
//! minimum prefix length and no expiry.

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

/// The prefix of `body` up to and including its last `cachePoint` block, or `None` when it
/// has none.
pub(super) fn cache_prefix(model_id: &str, body: &Value) -> Option<CachePrefix> {
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
    let last = items.iter().rposition(|item| {
        ["tool", "system", "block"]
            .iter()
            .any(|key| item.get(key).and_then(|b| b.get("cachePoint")).is_some())
    })?;
    items.truncate(last + 1);
    let canonical = sorted_keys(&Value::Array(items)).to_string();
    let mut hasher = DefaultHasher::new();
    model_id.hash(&mut hasher);
    canonical.hash(&mut hasher);
    Some(CachePrefix {
        hash: hasher.finish(),
        tokens: (canonical.len() as u64 / 4).max(1),
    })
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
        let a = cache_prefix("m", &first).unwrap();
        let b = cache_prefix("m", &second).unwrap();
        assert_eq!(a, b);
        assert_ne!(cache_prefix("other", &first).unwrap().hash, a.hash);
        let none = json!({"messages": [{"role": "user", "content": [{"text": "one"}]}]});
        assert_eq!(cache_prefix("m", &none), None);
        let moved = json!({
            "system": [{"text": "You are terse."}],
            "messages": [{"role": "user", "content": [{"text": "one"}, cache_point]}]
        });
        let c = cache_prefix("m", &moved).unwrap();
        assert_ne!(c.hash, a.hash);
        assert!(c.tokens > a.tokens);
    }
}
