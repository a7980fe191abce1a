//! The item layout: partitions, sort keys, attribute names, and a reader of attributes that
//! names what is wrong.
//!
//! One table; three partitions per session (`docs/design/session-layout.md`):
//!
//! | partition | sk | item |
//! |---|---|---|
//! | `messages#{sid}` | `0` | the head: where the conversation and the runs stand |
//! | `messages#{sid}` | `1 ..= 999,999,999` | entries (turns, summaries), one per seq, dense |
//! | `messages#{sid}` | `>= 1,000,000,000` | items of the Python MinimalAgent 0.2.x (Unix seconds) |
//! | `reasoning#{sid}` | `1 ..` | one run record per run number |
//! | `reasoning#{sid}` | `>= 1,000,000,000` | Python reasoning items |
//! | `events#{sid}` | `run × 2^20 + index` | the events of runs recorded in real time |
//! | any | `< 0` | chunks of an item too large for 400 KB even compressed |

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

/// An item as the SDK gives it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The head's sort key.
pub(crate) const HEAD_SK: i128 = 0;
/// The highest sequence number of an entry.
pub(crate) const MAX_SEQ: u64 = 999_999_999;
/// Items at or above this sort key were written by the Python MinimalAgent (Unix seconds).
pub(crate) const PYTHON_MIN_SK: i128 = 1_000_000_000;
/// Event sort keys: `run << EVENT_BITS | index`.
pub(crate) const EVENT_BITS: u32 = 20;
/// The highest event index of a run.
pub(crate) const MAX_EVENT_INDEX: u32 = (1 << EVENT_BITS) - 1;
/// The most chunks one item may have.
pub(crate) const MAX_CHUNKS: u64 = 4095;
/// The value of `schema` on every item this version writes.
pub(crate) const SCHEMA: &str = "3";
/// The `schema` of the items of the previous version of this crate.
pub(crate) const SCHEMA_2: &str = "2";

/// Attribute names.
pub(crate) mod attr {
    pub(crate) const PK: &str = "pk";
    pub(crate) const SK: &str = "sk";
    pub(crate) const EXPIRATION_TIME: &str = "expiration_time";
    pub(crate) const SCHEMA: &str = "schema";
    pub(crate) const KIND: &str = "kind";
    // The head.
    pub(crate) const LIFE: &str = "life";
    pub(crate) const FIRST_SEQ: &str = "first_seq";
    pub(crate) const LAST_SEQ: &str = "last_seq";
    pub(crate) const SUMMARY_SEQ: &str = "summary_seq";
    pub(crate) const FIRST_RUN: &str = "first_run";
    pub(crate) const RUNS: &str = "runs";
    pub(crate) const EXPIRES_AT_MS: &str = "expires_at_ms";
    pub(crate) const HORIZON: &str = "record_horizon";
    pub(crate) const DELETED: &str = "deleted";
    pub(crate) const PREV_LIFE: &str = "prev_life";
    pub(crate) const PREV_DELETED: &str = "prev_deleted";
    pub(crate) const MIGRATED_FROM: &str = "migrated_from";
    pub(crate) const MIGRATED_DIGEST: &str = "migrated_digest";
    pub(crate) const RECENT_RUNS: &str = "recent_runs";
    pub(crate) const UPDATED_AT: &str = "updated_at";
    /// The session's state, JSON (S); absent when it is empty.
    pub(crate) const STATE: &str = "state";
    /// The life the state belongs to (N): a state of another life is none.
    pub(crate) const STATE_LIFE: &str = "state_life";
    /// How many times the state was written (N; absent for 0): every write of the state
    /// (a commit that changes it, `update_state`) pins it in its condition and adds one.
    pub(crate) const STATE_VERSION: &str = "state_version";
    // Entries.
    pub(crate) const MESSAGES: &str = "messages";
    pub(crate) const SUMMARY: &str = "summary";
    pub(crate) const RUN_ID: &str = "run_id";
    pub(crate) const RUN: &str = "run";
    pub(crate) const WRITTEN_AT: &str = "written_at";
    // Run records.
    pub(crate) const REASONING: &str = "reasoning";
    pub(crate) const STATUS: &str = "status";
    pub(crate) const LEASE: &str = "lease";
    pub(crate) const HEARTBEAT_AT: &str = "heartbeat_at";
    pub(crate) const LEASE_EXPIRES_AT: &str = "lease_expires_at";
    pub(crate) const COMMITTED_SEQ: &str = "committed_seq";
    // Events.
    pub(crate) const EVENT: &str = "event";
    // Payload encoding (compressed or chunked payloads only).
    pub(crate) const ENC: &str = "enc";
    pub(crate) const SIZE: &str = "size";
    pub(crate) const CHUNKS: &str = "chunks";
    pub(crate) const BLOB: &str = "blob";
    pub(crate) const PART: &str = "part";
    pub(crate) const OWNER: &str = "owner";
    pub(crate) const DATA: &str = "data";
}

/// The `kind` attribute's values.
pub(crate) mod kind {
    pub(crate) const HEAD: &str = "head";
    pub(crate) const TURN: &str = "turn";
    pub(crate) const SUMMARY: &str = "summary";
    pub(crate) const RUN: &str = "run";
    pub(crate) const EVENT: &str = "event";
    pub(crate) const CHUNK: &str = "chunk";
}

/// The partition keys of a session.
pub(crate) fn messages_pk(session: &str) -> String {
    format!("messages#{session}")
}

/// See [`messages_pk`].
pub(crate) fn reasoning_pk(session: &str) -> String {
    format!("reasoning#{session}")
}

/// See [`messages_pk`].
pub(crate) fn events_pk(session: &str) -> String {
    format!("events#{session}")
}

/// The sort key of event `index` of run `run`.
pub(crate) fn event_sk(run: u64, index: u32) -> i128 {
    (i128::from(run) << EVENT_BITS) | i128::from(index)
}

/// The sort key of chunk `part` of the item at `owner`.
pub(crate) fn chunk_sk(owner: i128, part: u64) -> i128 {
    -(owner * (MAX_CHUNKS as i128 + 1) + part as i128 + 1)
}

/// The sort-key range holding every chunk of the item at `owner` (inclusive).
pub(crate) fn chunk_range(owner: i128) -> (i128, i128) {
    (chunk_sk(owner, MAX_CHUNKS - 1), chunk_sk(owner, 0))
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn b(value: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(value))
}

/// The key of an item.
pub(crate) fn key(pk: &str, sk: i128) -> Item {
    HashMap::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), n(sk))])
}

/// A new item with its key, `schema` and `kind`.
pub(crate) fn new_item(pk: &str, sk: i128, kind: &str) -> Item {
    let mut item = key(pk, sk);
    item.insert(attr::SCHEMA.to_owned(), n(SCHEMA));
    item.insert(attr::KIND.to_owned(), s(kind));
    item
}

/// Reads attributes of one item, saying what is wrong in terms a maintainer can act on.
pub(crate) struct Reader<'a> {
    pub(crate) item: &'a Item,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(item: &'a Item) -> Self {
        Self { item }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.item.contains_key(name)
    }

    pub(crate) fn string(&self, name: &str) -> Result<&'a str, String> {
        match self.item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value),
            Some(other) => Err(format!(
                "attribute `{name}` is not a string: {}",
                short(other)
            )),
            None => Err(format!("attribute `{name}` is missing")),
        }
    }

    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<&'a str>, String> {
        if self.has(name) {
            self.string(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn number_text(&self, name: &str) -> Result<&'a str, String> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => Ok(value),
            Some(other) => Err(format!(
                "attribute `{name}` is not a number: {}",
                short(other)
            )),
            None => Err(format!("attribute `{name}` is missing")),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<i128, String> {
        let text = self.number_text(name)?;
        if text.len() > 40 {
            return Err(format!("attribute `{name}` is not an integer"));
        }
        text.parse::<i128>()
            .or_else(|_| {
                // Python's boto3 may write whole numbers with a fraction (`1700000000.0`).
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && v.fract() == 0.0 && v.abs() < 1e36)
                    .map(|v| v as i128)
                    .ok_or(())
            })
            .map_err(|()| format!("attribute `{name}` is not an integer: {text}"))
    }

    pub(crate) fn u64(&self, name: &str) -> Result<u64, String> {
        let value = self.int(name)?;
        u64::try_from(value).map_err(|_| format!("attribute `{name}` is out of range: {value}"))
    }

    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        if self.has(name) {
            self.u64(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn i64(&self, name: &str) -> Result<i64, String> {
        let value = self.int(name)?;
        i64::try_from(value).map_err(|_| format!("attribute `{name}` is out of range: {value}"))
    }

    pub(crate) fn opt_i64(&self, name: &str) -> Result<Option<i64>, String> {
        if self.has(name) {
            self.i64(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn bool(&self, name: &str) -> Result<bool, String> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            None => Ok(false),
            Some(other) => Err(format!(
                "attribute `{name}` is not a boolean: {}",
                short(other)
            )),
        }
    }

    pub(crate) fn binary(&self, name: &str) -> Result<&'a [u8], String> {
        match self.item.get(name) {
            Some(AttributeValue::B(value)) => Ok(value.as_ref()),
            Some(other) => Err(format!(
                "attribute `{name}` is not binary: {}",
                short(other)
            )),
            None => Err(format!("attribute `{name}` is missing")),
        }
    }

    pub(crate) fn sk(&self) -> Result<i128, String> {
        self.int(attr::SK)
    }

    /// The item's sort key as text, for error messages.
    pub(crate) fn sk_text(&self) -> String {
        match self.item.get(attr::SK) {
            Some(AttributeValue::N(value)) => value.chars().take(48).collect(),
            Some(other) => short(other),
            None => "?".to_owned(),
        }
    }

    /// The item's `schema` as text (`None` for Python items, which have none).
    pub(crate) fn schema(&self) -> Option<&'a str> {
        match self.item.get(attr::SCHEMA) {
            Some(AttributeValue::N(value) | AttributeValue::S(value)) => Some(value),
            _ => None,
        }
    }

    /// Checks that the item is of this version's schema.
    pub(crate) fn check_schema(&self) -> Result<(), String> {
        match self.item.get(attr::SCHEMA) {
            Some(AttributeValue::N(v)) if v == SCHEMA => Ok(()),
            Some(other) => Err(format!("unknown item schema {}", short(other))),
            None => Err("attribute `schema` is missing".to_owned()),
        }
    }

    /// `expiration_time` in epoch seconds; `None` when the item has none.
    pub(crate) fn expiration(&self) -> Result<Option<i64>, String> {
        self.opt_i64(attr::EXPIRATION_TIME)
    }
}

/// A short rendering of a value for error messages (a corrupted attribute may be huge).
pub(crate) fn short(value: &AttributeValue) -> String {
    let text = format!("{value:?}");
    if text.len() > 80 {
        let mut cut = 80;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

/// Whether an item with this `expiration_time` has expired at `now_ms`.
pub(crate) fn is_expired(expiration_time: Option<i64>, now_ms: i64) -> bool {
    match expiration_time {
        Some(seconds) => seconds.saturating_mul(1000) <= now_ms,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_do_not_overlap() {
        assert_eq!(event_sk(1, 1), (1 << 20) + 1);
        assert!(event_sk(1, MAX_EVENT_INDEX) < event_sk(2, 0));
        let (lo, hi) = chunk_range(5);
        assert!(lo < hi && hi < 0);
        assert!(chunk_range(6).1 < lo, "the chunks of two items never mix");
        let big = event_sk(u64::from(u32::MAX), MAX_EVENT_INDEX);
        assert!(chunk_sk(big, MAX_CHUNKS - 1).to_string().len() <= 39);
    }

    #[test]
    fn numbers_are_read_strictly() {
        let mut item = key("p", 1);
        item.insert("a".into(), n("1700000000.0"));
        item.insert("b".into(), n("1.5"));
        item.insert("c".into(), s("7"));
        item.insert("d".into(), n("-3"));
        let r = Reader::new(&item);
        assert_eq!(r.int("a").unwrap(), 1_700_000_000);
        assert!(r.int("b").is_err());
        assert!(r.int("c").unwrap_err().contains("not a number"));
        assert!(r.u64("d").unwrap_err().contains("out of range"));
        assert!(r.int("missing").unwrap_err().contains("missing"));
        assert!(!r.bool("missing").unwrap());
    }
}
