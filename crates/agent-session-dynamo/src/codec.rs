//! Entry bodies: JSON, gzip-compressed when that pays, split into chunks when one item is not
//! enough.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use uuid::Uuid;

use crate::layout::{CHUNK_MAX_SK, Item, SCHEMA_VERSION, StoredBody, attr, b, kind, n, s};
use crate::size::{MAX_ITEM_BYTES, item_size};

/// Bodies smaller than this stay plain JSON (readable in the console, and a write unit is
/// 1 KB anyway).
pub(crate) const COMPRESS_MIN_BYTES: usize = 1024;

/// A body ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    pub(crate) gzip: bool,
    pub(crate) bytes: Vec<u8>,
}

/// Encodes a JSON body: gzip when it is at least [`COMPRESS_MIN_BYTES`] and gzip makes it
/// smaller.
pub(crate) fn encode(json: Vec<u8>) -> Encoded {
    if json.len() >= COMPRESS_MIN_BYTES {
        let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 3), Compression::new(6));
        if encoder.write_all(&json).is_ok()
            && let Ok(compressed) = encoder.finish()
            && compressed.len() < json.len()
        {
            return Encoded {
                gzip: true,
                bytes: compressed,
            };
        }
    }
    Encoded {
        gzip: false,
        bytes: json,
    }
}

/// Decodes a stored body back to JSON bytes.
pub(crate) fn decode(gzip: bool, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if !gzip {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| format!("the body does not decompress: {e}"))?;
    Ok(out)
}

/// What an entry says about where it lives, besides its body.
#[derive(Debug, Clone)]
pub(crate) struct EntryMeta<'a> {
    pub(crate) pk: &'a str,
    pub(crate) seq: u64,
    pub(crate) incarnation: &'a str,
    pub(crate) run_id: Option<Uuid>,
    pub(crate) kind: &'static str,
    pub(crate) migrated_from: Option<i128>,
    pub(crate) created_at_ms: i64,
    pub(crate) expiration_time: i64,
}

/// The attributes every entry has, without its body.
fn entry_base(meta: &EntryMeta<'_>, gzip: bool) -> Item {
    let mut item = Item::new();
    item.insert(attr::PK.to_owned(), s(meta.pk));
    item.insert(attr::SK.to_owned(), n(meta.seq));
    item.insert(attr::SCHEMA.to_owned(), n(SCHEMA_VERSION));
    item.insert(attr::KIND.to_owned(), s(meta.kind));
    item.insert(attr::INCARNATION.to_owned(), s(meta.incarnation));
    if let Some(run_id) = meta.run_id {
        item.insert(attr::RUN_ID.to_owned(), s(run_id.to_string()));
    }
    if let Some(from) = meta.migrated_from {
        item.insert(attr::MIGRATED_FROM.to_owned(), n(from));
    }
    item.insert(attr::CREATED_AT.to_owned(), n(meta.created_at_ms));
    item.insert(attr::EXPIRATION_TIME.to_owned(), n(meta.expiration_time));
    item.insert(attr::ENC.to_owned(), s(if gzip { "gzip" } else { "json" }));
    item
}

/// The entry with its body inline, if it fits in one item.
pub(crate) fn inline_entry(meta: &EntryMeta<'_>, body: &Encoded) -> Option<Item> {
    let mut item = entry_base(meta, body.gzip);
    let value = if body.gzip {
        b(body.bytes.clone())
    } else {
        s(String::from_utf8(body.bytes.clone()).ok()?)
    };
    item.insert(attr::BODY.to_owned(), value);
    (item_size(&item) <= MAX_ITEM_BYTES).then_some(item)
}

/// The entry of a body stored in chunks.
pub(crate) fn chunked_entry(meta: &EntryMeta<'_>, body: &StoredBody) -> Item {
    let mut item = match body {
        StoredBody::Inline { gzip, .. } | StoredBody::Chunked { gzip, .. } => {
            entry_base(meta, *gzip)
        }
    };
    if let StoredBody::Chunked {
        blob_id,
        first,
        count,
        len,
        ..
    } = body
    {
        item.insert(attr::BLOB_ID.to_owned(), s(blob_id.clone()));
        item.insert(attr::CHUNK_FIRST.to_owned(), n(first));
        item.insert(attr::CHUNK_COUNT.to_owned(), n(count));
        item.insert(attr::BLOB_BYTES.to_owned(), n(len));
    }
    item
}

/// The item of one chunk.
pub(crate) fn chunk_item(
    pk: &str,
    sk: i128,
    incarnation: &str,
    blob_id: &str,
    part: u64,
    expiration_time: i64,
    bytes: Vec<u8>,
) -> Item {
    let mut item = Item::new();
    item.insert(attr::PK.to_owned(), s(pk));
    item.insert(attr::SK.to_owned(), n(sk));
    item.insert(attr::SCHEMA.to_owned(), n(SCHEMA_VERSION));
    item.insert(attr::KIND.to_owned(), s(kind::CHUNK));
    item.insert(attr::INCARNATION.to_owned(), s(incarnation));
    item.insert(attr::BLOB_ID.to_owned(), s(blob_id));
    item.insert(attr::PART.to_owned(), n(part));
    item.insert(attr::EXPIRATION_TIME.to_owned(), n(expiration_time));
    item.insert(attr::BODY.to_owned(), b(bytes));
    item
}

/// How many body bytes one chunk item holds: what is left of 400 KB after the chunk's other
/// attributes (counted at their largest).
pub(crate) fn chunk_payload(
    pk: &str,
    incarnation: &str,
    blob_id: &str,
    expiration_time: i64,
) -> usize {
    let empty = chunk_item(
        pk,
        CHUNK_MAX_SK,
        incarnation,
        blob_id,
        u64::from(u32::MAX),
        expiration_time,
        Vec::new(),
    );
    MAX_ITEM_BYTES.saturating_sub(item_size(&empty)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_only_when_it_pays() {
        let small = br#"[{"role":"user","content":[{"text":"hi"}]}]"#.to_vec();
        assert!(!encode(small.clone()).gzip);
        let large = serde_json::to_vec(&vec!["the same words again"; 200]).unwrap();
        let encoded = encode(large.clone());
        assert!(encoded.gzip);
        assert!(encoded.bytes.len() < large.len() / 5);
        assert_eq!(decode(true, encoded.bytes).unwrap(), large);
        assert!(decode(true, b"not gzip".to_vec()).is_err());
    }

    #[test]
    fn chunk_items_fit_with_the_payload_they_are_given() {
        let pk = format!("messages#{}", "s".repeat(128));
        let payload = chunk_payload(&pk, "inc", "blob", 1_900_000_000);
        let item = chunk_item(
            &pk,
            CHUNK_MAX_SK,
            "inc",
            "blob",
            7,
            1_900_000_000,
            vec![0; payload],
        );
        assert!(item_size(&item) <= MAX_ITEM_BYTES);
        assert!(item_size(&item) > MAX_ITEM_BYTES - 64);
    }
}
