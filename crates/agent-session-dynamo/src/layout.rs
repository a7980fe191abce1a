//! The item layout: keys, attribute names, and the items' Rust shapes.
//!
//! One table, two partitions per session: `messages#{session}` (the conversation) and
//! `reasoning#{session}` (one trace per run). In each partition:
//!
//! | sk | item |
//! |---|---|
//! | `< 0` | reasoning only: a run pointer, `-(run_id >> 8) - 1` → the run's entry seq |
//! | `0` | the head: version, incarnation, expiry; rules the partition |
//! | `1 ..= 499,999,999` | entries, one per commit (a run, or migrated legacy data), dense |
//! | `500,000,000 ..= 999,999,999` | chunks of entries too large for one item |
//! | `>= 1,000,000,000` | items of the Python MinimalAgent 0.2.x (sk = Unix seconds) |
//!
//! See `docs/design/session-layout.md` for the design.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

/// An item as the SDK gives it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The head's sort key.
pub(crate) const HEAD_SK: i128 = 0;
/// The highest sort key of an entry.
pub(crate) const ENTRY_MAX_SK: i128 = 499_999_999;
/// The first sort key of the chunk range.
pub(crate) const CHUNK_BASE_SK: i128 = 500_000_000;
/// The highest sort key of a chunk.
pub(crate) const CHUNK_MAX_SK: i128 = 999_999_999;
/// Items at or above this sort key were written by the Python MinimalAgent (Unix seconds).
pub(crate) const LEGACY_MIN_SK: i128 = 1_000_000_000;
/// The value of the `schema` attribute on every item this crate writes.
pub(crate) const SCHEMA_VERSION: &str = "2";

/// Attribute names.
pub(crate) mod attr {
    pub(crate) const PK: &str = "pk";
    pub(crate) const SK: &str = "sk";
    pub(crate) const EXPIRATION_TIME: &str = "expiration_time";
    pub(crate) const SCHEMA: &str = "schema";
    pub(crate) const KIND: &str = "kind";
    pub(crate) const INCARNATION: &str = "incarnation";
    pub(crate) const VERSION: &str = "version";
    pub(crate) const FIRST_SEQ: &str = "first_seq";
    pub(crate) const NEXT_CHUNK: &str = "next_chunk";
    pub(crate) const CREATED_AT: &str = "created_at";
    pub(crate) const UPDATED_AT: &str = "updated_at";
    pub(crate) const EXPIRES_AT_MS: &str = "expires_at_ms";
    pub(crate) const RECORD_EXP: &str = "record_expiration_time";
    pub(crate) const RUN_ID: &str = "run_id";
    pub(crate) const ENC: &str = "enc";
    pub(crate) const BODY: &str = "body";
    pub(crate) const CHUNK_FIRST: &str = "chunk_first";
    pub(crate) const CHUNK_COUNT: &str = "chunk_count";
    pub(crate) const BLOB_ID: &str = "blob_id";
    pub(crate) const BLOB_BYTES: &str = "blob_bytes";
    pub(crate) const PART: &str = "part";
    pub(crate) const SEQ: &str = "seq";
    pub(crate) const MIGRATED_FROM: &str = "migrated_from";
    /// Legacy conversation items: the whole history as a JSON string.
    pub(crate) const LEGACY_MESSAGES: &str = "messages";
    /// Legacy reasoning items: one trace as a JSON string.
    pub(crate) const LEGACY_REASONING: &str = "reasoning";
}

/// The `kind` attribute's values.
pub(crate) mod kind {
    pub(crate) const HEAD: &str = "head";
    pub(crate) const RUN: &str = "run";
    pub(crate) const MIGRATED: &str = "migrated";
    pub(crate) const CHUNK: &str = "chunk";
    pub(crate) const POINTER: &str = "run_pointer";
}

/// Which of a session's two partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partition {
    Messages,
    Reasoning,
}

impl Partition {
    pub(crate) fn pk(self, session: &str) -> String {
        match self {
            Partition::Messages => format!("messages#{session}"),
            Partition::Reasoning => format!("reasoning#{session}"),
        }
    }
}

/// The sort key of a run pointer: negative, derived from the run id.
pub(crate) fn pointer_sk(run_id: Uuid) -> i128 {
    // 120 bits keep the number within DynamoDB's 38 digits; -1 keeps it clear of the head.
    -((run_id.as_u128() >> 8) as i128) - 1
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

/// Reads attributes of one item, naming what is wrong.
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
            Some(other) => Err(format!("attribute `{name}` is not a string: {other:?}")),
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

    pub(crate) fn i64(&self, name: &str) -> Result<i64, String> {
        let value = self.int(name)?;
        i64::try_from(value).map_err(|_| format!("attribute `{name}` is out of range: {value}"))
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
            Some(AttributeValue::N(value)) => value.clone(),
            Some(other) => short(other),
            None => "?".to_owned(),
        }
    }

    /// Checks that the item was written by this crate.
    pub(crate) fn check_schema(&self) -> Result<(), String> {
        match self.item.get(attr::SCHEMA) {
            Some(AttributeValue::N(v)) if v == SCHEMA_VERSION => Ok(()),
            Some(other) => Err(format!("unknown item schema {}", short(other))),
            None => Err("attribute `schema` is missing".to_owned()),
        }
    }

    /// `expiration_time` in epoch seconds; `None` when the item has none.
    pub(crate) fn expiration(&self) -> Result<Option<i64>, String> {
        if !self.has(attr::EXPIRATION_TIME) {
            return Ok(None);
        }
        self.i64(attr::EXPIRATION_TIME).map(Some)
    }
}

/// A short rendering of a value for error messages (a corrupted attribute may be huge).
fn short(value: &AttributeValue) -> String {
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

/// A partition's head item (sk 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The id of the partition's current life; `None` for a stub that only reserved chunks.
    pub(crate) incarnation: Option<String>,
    /// The sequence number of the last entry: the session's version.
    pub(crate) version: u64,
    /// The first entry of the current incarnation.
    pub(crate) first_seq: u64,
    pub(crate) created_at_ms: i64,
    /// When the partition stops being live (milliseconds).
    pub(crate) expires_at_ms: i64,
    /// Every entry, chunk and pointer of the incarnation expires at or after this (seconds).
    pub(crate) record_exp: i64,
}

impl Head {
    /// Whether the partition holds a live session at `now_ms`.
    pub(crate) fn is_live(&self, now_ms: i64) -> bool {
        self.incarnation.is_some() && self.expires_at_ms > now_ms
    }

    pub(crate) fn parse(item: &Item) -> Result<Head, String> {
        let r = Reader::new(item);
        r.check_schema()?;
        if !r.has(attr::VERSION) {
            // A stub: created by a chunk reservation before the first commit.
            return Ok(Head {
                incarnation: None,
                version: 0,
                first_seq: 1,
                created_at_ms: 0,
                expires_at_ms: 0,
                record_exp: 0,
            });
        }
        Ok(Head {
            incarnation: Some(r.string(attr::INCARNATION)?.to_owned()),
            version: r.u64(attr::VERSION)?,
            first_seq: r.u64(attr::FIRST_SEQ)?,
            created_at_ms: r.i64(attr::CREATED_AT)?,
            expires_at_ms: r.i64(attr::EXPIRES_AT_MS)?,
            record_exp: r.i64(attr::RECORD_EXP)?,
        })
    }
}

/// How an entry's body is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredBody {
    /// In the entry itself.
    Inline { gzip: bool, bytes: Vec<u8> },
    /// In `count` chunk items from sort key `first`.
    Chunked {
        gzip: bool,
        blob_id: String,
        first: i128,
        count: u64,
        len: u64,
    },
}

/// An entry (one commit) as read.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) incarnation: String,
    pub(crate) run_id: Option<Uuid>,
    pub(crate) expiration_time: Option<i64>,
    pub(crate) body: StoredBody,
}

impl Entry {
    pub(crate) fn parse(item: &Item) -> Result<Entry, String> {
        let r = Reader::new(item);
        r.check_schema()?;
        let seq = u64::try_from(r.sk()?).map_err(|_| "negative entry sort key")?;
        let gzip = match r.string(attr::ENC)? {
            "json" => false,
            "gzip" => true,
            other => return Err(format!("unknown body encoding `{other}`")),
        };
        let body = if r.has(attr::CHUNK_FIRST) {
            StoredBody::Chunked {
                gzip,
                blob_id: r.string(attr::BLOB_ID)?.to_owned(),
                first: r.int(attr::CHUNK_FIRST)?,
                count: r.u64(attr::CHUNK_COUNT)?,
                len: r.u64(attr::BLOB_BYTES)?,
            }
        } else {
            let bytes = match item.get(attr::BODY) {
                Some(AttributeValue::S(text)) if !gzip => text.as_bytes().to_vec(),
                Some(AttributeValue::B(blob)) if gzip => blob.as_ref().to_vec(),
                Some(other) => {
                    return Err(format!(
                        "attribute `body` has the wrong type for encoding {}: {}",
                        if gzip { "gzip" } else { "json" },
                        short(other)
                    ));
                }
                None => return Err("attribute `body` is missing".to_owned()),
            };
            StoredBody::Inline { gzip, bytes }
        };
        let run_id = match r.opt_string(attr::RUN_ID)? {
            Some(text) => {
                Some(Uuid::parse_str(text).map_err(|e| format!("bad `run_id` {text:?}: {e}"))?)
            }
            None => None,
        };
        Ok(Entry {
            seq,
            incarnation: r.string(attr::INCARNATION)?.to_owned(),
            run_id,
            expiration_time: r.expiration()?,
            body,
        })
    }
}
