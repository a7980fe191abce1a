//! Payloads (messages, reasoning records, events, summaries) as item attributes: plain JSON
//! strings whenever the item fits, gzip-compressed when it does not (or above the store's
//! compression threshold), split into chunk items when even that is too large. Decompression
//! is bounded: a gzip bomb is corrupted data, never an out-of-memory.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use uuid::Uuid;

use crate::layout::{
    Item, MAX_CHUNKS, Reader, attr, b, chunk_sk, is_expired, kind, n, new_item, s, short,
};
use crate::size::{MAX_ITEM_BYTES, item_size};

/// The largest payload (uncompressed JSON) a store writes or reads back: 64 MiB.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

/// Room kept in an item for the encoding attributes (`enc`, `size`, `chunks`, `blob`).
const ENCODING_OVERHEAD: usize = 128;

/// How an item's payload is to be stored: the threshold above which payloads are compressed
/// even when they would fit (`None`: only when they must).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub(crate) compress_above: Option<usize>,
}

/// Gzip-compresses `data`.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3 + 64), Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Decompresses `data`, which must decompress to exactly `size` bytes (at most
/// [`MAX_PAYLOAD_BYTES`]); reads at most one byte more than that, whatever `data` holds.
pub(crate) fn gunzip(data: &[u8], size: usize) -> Result<Vec<u8>, String> {
    if size > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "the payload claims {size} bytes, more than the {MAX_PAYLOAD_BYTES} allowed"
        ));
    }
    let mut out = Vec::with_capacity(size.min(1 << 20));
    GzDecoder::new(data)
        .take(size as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the payload does not decompress: {e}"))?;
    if out.len() != size {
        return Err(format!(
            "the payload decompresses to {}{} bytes, not the {size} recorded",
            if out.len() > size { "more than " } else { "" },
            out.len().min(size)
        ));
    }
    Ok(out)
}

/// Puts `json` into `item` as attribute `name` — plain, compressed, or in chunk items (which
/// are returned, to be written with the item). `item` must already hold every other attribute
/// (its key and `expiration_time` included).
pub(crate) fn encode_payload(
    item: &mut Item,
    name: &str,
    json: String,
    encoding: Encoding,
) -> Result<Vec<Item>, String> {
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "the {name} payload has {} bytes, more than the {MAX_PAYLOAD_BYTES} a store holds",
            json.len()
        ));
    }
    let base = item_size(item) + name.len() + ENCODING_OVERHEAD;
    let fits = |len: usize| base + len <= MAX_ITEM_BYTES;
    let want_gzip = encoding.compress_above.is_some_and(|t| json.len() > t);
    if !want_gzip && fits(json.len()) {
        item.insert(name.to_owned(), s(json));
        return Ok(Vec::new());
    }
    let compressed = gzip(json.as_bytes());
    if compressed.len() >= json.len() && fits(json.len()) {
        // Compression does not pay: keep it readable.
        item.insert(name.to_owned(), s(json));
        return Ok(Vec::new());
    }
    if fits(compressed.len()) {
        item.insert(name.to_owned(), b(compressed));
        item.insert(attr::ENC.to_owned(), s("gzip"));
        item.insert(attr::SIZE.to_owned(), n(json.len()));
        return Ok(Vec::new());
    }
    // Too large for one item even compressed: chunks.
    let (gzipped, bytes) = if compressed.len() < json.len() {
        (true, compressed)
    } else {
        (false, json.clone().into_bytes())
    };
    let reader = Reader::new(item);
    let pk = reader.string(attr::PK)?.to_owned();
    let owner = reader.sk()?;
    let expiration = reader.expiration()?.unwrap_or(0);
    let blob = Uuid::now_v7().simple().to_string();
    let empty = chunk_item(&pk, owner, MAX_CHUNKS - 1, &blob, expiration, Vec::new());
    let per_chunk = MAX_ITEM_BYTES.saturating_sub(item_size(&empty) + 16).max(1);
    let parts: Vec<&[u8]> = bytes.chunks(per_chunk).collect();
    if parts.len() as u64 > MAX_CHUNKS {
        return Err(format!(
            "the {name} payload needs {} chunks, more than {MAX_CHUNKS}",
            parts.len()
        ));
    }
    let chunks: Vec<Item> = parts
        .iter()
        .enumerate()
        .map(|(part, data)| chunk_item(&pk, owner, part as u64, &blob, expiration, data.to_vec()))
        .collect();
    item.insert(
        attr::ENC.to_owned(),
        s(if gzipped { "gzip" } else { "json" }),
    );
    item.insert(attr::SIZE.to_owned(), n(json.len()));
    item.insert(attr::CHUNKS.to_owned(), n(chunks.len()));
    item.insert(attr::BLOB.to_owned(), s(blob));
    Ok(chunks)
}

fn chunk_item(
    pk: &str,
    owner: i128,
    part: u64,
    blob: &str,
    expiration: i64,
    data: Vec<u8>,
) -> Item {
    let mut item = new_item(pk, chunk_sk(owner, part), kind::CHUNK);
    item.insert(attr::OWNER.to_owned(), n(owner));
    item.insert(attr::PART.to_owned(), n(part));
    item.insert(attr::BLOB.to_owned(), s(blob));
    item.insert(attr::EXPIRATION_TIME.to_owned(), n(expiration));
    item.insert(attr::DATA.to_owned(), b(data));
    item
}

/// A payload as stored in its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Plain JSON text.
    Plain(String),
    /// Gzip of `size` bytes of JSON.
    Gzip { data: Vec<u8>, size: usize },
    /// In `chunks` chunk items tagged `blob`; gzip or plain JSON of `size` bytes.
    Chunked {
        gzip: bool,
        size: usize,
        chunks: u64,
        blob: String,
    },
}

/// Reads the payload attribute `name` of an item (without its chunks).
pub(crate) fn stored_payload(item: &Item, name: &str) -> Result<Stored, String> {
    let r = Reader::new(item);
    let size = |r: &Reader<'_>| -> Result<usize, String> {
        let size = r.u64(attr::SIZE)?;
        usize::try_from(size)
            .ok()
            .filter(|size| *size <= MAX_PAYLOAD_BYTES)
            .ok_or_else(|| format!("attribute `size` is too large: {size}"))
    };
    if r.has(attr::CHUNKS) {
        let chunks = r.u64(attr::CHUNKS)?;
        if chunks == 0 || chunks > MAX_CHUNKS {
            return Err(format!("attribute `chunks` is out of range: {chunks}"));
        }
        let gzip = match r.string(attr::ENC)? {
            "gzip" => true,
            "json" => false,
            other => return Err(format!("unknown payload encoding {other:?}")),
        };
        return Ok(Stored::Chunked {
            gzip,
            size: size(&r)?,
            chunks,
            blob: r.string(attr::BLOB)?.to_owned(),
        });
    }
    match (r.opt_string(attr::ENC)?, item.get(name)) {
        (None, Some(aws_sdk_dynamodb::types::AttributeValue::S(text))) => {
            Ok(Stored::Plain(text.clone()))
        }
        (Some("gzip"), Some(aws_sdk_dynamodb::types::AttributeValue::B(data))) => {
            Ok(Stored::Gzip {
                data: data.as_ref().to_vec(),
                size: size(&r)?,
            })
        }
        (Some(enc), _) if enc != "gzip" => Err(format!("unknown payload encoding {enc:?}")),
        (_, Some(other)) => Err(format!(
            "attribute `{name}` has the wrong type: {}",
            short(other)
        )),
        (_, None) => Err(format!("attribute `{name}` is missing")),
    }
}

/// The JSON text of a payload that needs no chunks.
pub(crate) fn inline_json(stored: Stored) -> Result<String, String> {
    match stored {
        Stored::Plain(text) => Ok(text),
        Stored::Gzip { data, size } => {
            String::from_utf8(gunzip(&data, size)?).map_err(|_| "the payload is not UTF-8".into())
        }
        Stored::Chunked { .. } => Err("the payload is chunked".into()),
    }
}

/// Reassembles a chunked payload from the items found in its chunk range (any order). Chunks
/// of another blob (left by an earlier write of the same item) and expired ones are ignored;
/// a missing, repeated or extra part of this blob is an error naming the chunk.
pub(crate) fn assemble(
    owner: i128,
    gzip: bool,
    size: usize,
    chunks: u64,
    blob: &str,
    items: &[Item],
    now_ms: i64,
) -> Result<String, (String, String)> {
    let mut parts: Vec<Option<&[u8]>> = vec![None; chunks as usize];
    let mut total = 0usize;
    for item in items {
        let r = Reader::new(item);
        let at = r.sk_text();
        let fail = |e: String| (at.clone(), e);
        if r.string(attr::BLOB).map_err(fail)? != blob {
            continue;
        }
        if is_expired(r.expiration().map_err(fail)?, now_ms) {
            continue;
        }
        if r.int(attr::OWNER).map_err(fail)? != owner {
            return Err(fail(format!("the chunk does not belong to item {owner}")));
        }
        let part = r.u64(attr::PART).map_err(fail)?;
        let data = r.binary(attr::DATA).map_err(fail)?;
        let Some(slot) = parts.get_mut(part as usize).filter(|_| part < chunks) else {
            return Err(fail(format!(
                "an extra chunk: part {part} of an item of {chunks}"
            )));
        };
        if slot.replace(data).is_some() {
            return Err(fail(format!("chunk part {part} appears twice")));
        }
        total += data.len();
        if total > MAX_PAYLOAD_BYTES {
            return Err(fail("the chunks hold more than a payload may".into()));
        }
    }
    let mut bytes = Vec::with_capacity(total);
    for (part, data) in parts.iter().enumerate() {
        match data {
            Some(data) => bytes.extend_from_slice(data),
            None => {
                return Err((
                    chunk_sk(owner, part as u64).to_string(),
                    format!("chunk part {part} of {chunks} is missing"),
                ));
            }
        }
    }
    let at = owner.to_string();
    let json = if gzip {
        gunzip(&bytes, size).map_err(|e| (at.clone(), e))?
    } else {
        if bytes.len() != size {
            return Err((
                at,
                format!("the chunks hold {} bytes, not {size}", bytes.len()),
            ));
        }
        bytes
    };
    String::from_utf8(json).map_err(|_| (owner.to_string(), "the payload is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::key;

    fn base(sk: i128) -> Item {
        let mut item = key("messages#s", sk);
        item.insert(attr::EXPIRATION_TIME.into(), n(2_000_000_000));
        item
    }

    fn round_trip(json: &str, encoding: Encoding) -> (Item, Vec<Item>, String) {
        let mut item = base(7);
        let chunks = encode_payload(&mut item, "messages", json.to_owned(), encoding).unwrap();
        let back = match stored_payload(&item, "messages").unwrap() {
            Stored::Chunked {
                gzip,
                size,
                chunks: count,
                blob,
            } => assemble(7, gzip, size, count, &blob, &chunks, 0).unwrap(),
            other => inline_json(other).unwrap(),
        };
        (item, chunks, back)
    }

    #[test]
    fn small_payloads_stay_plain_and_large_ones_compress_then_chunk() {
        let never = Encoding {
            compress_above: None,
        };
        let json = serde_json::to_string(&vec!["the same words again"; 200]).unwrap();
        let (item, chunks, back) = round_trip(&json, never);
        assert!(matches!(
            item["messages"],
            aws_sdk_dynamodb::types::AttributeValue::S(_)
        ));
        assert!(chunks.is_empty() && back == json);
        let (item, _, back) = round_trip(
            &json,
            Encoding {
                compress_above: Some(1024),
            },
        );
        assert!(matches!(
            item["messages"],
            aws_sdk_dynamodb::types::AttributeValue::B(_)
        ));
        assert_eq!(back, json);
        let big = "x".repeat(500_000);
        let (item, chunks, back) = round_trip(&big, never);
        assert!(item_size(&item) <= MAX_ITEM_BYTES && chunks.is_empty());
        assert_eq!(back, big);
        // Incompressible and over 400 KB: chunks.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: String = (0..900_000u32)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state >> 58) as u8)
            })
            .collect();
        let (item, chunks, back) = round_trip(&noise, never);
        assert!(chunks.len() >= 2, "{}", chunks.len());
        assert!(item_size(&item) <= MAX_ITEM_BYTES);
        assert!(chunks.iter().all(|c| item_size(c) <= MAX_ITEM_BYTES));
        assert_eq!(back, noise);
    }

    #[test]
    fn decompression_is_bounded() {
        let bomb = gzip(&vec![b'a'; 10_000_000]);
        assert!(gunzip(&bomb, 100).unwrap_err().contains("more than"));
        assert!(gunzip(&bomb, MAX_PAYLOAD_BYTES + 1).is_err());
        assert!(gunzip(b"not gzip", 3).is_err());
        assert_eq!(gunzip(&gzip(b"abc"), 3).unwrap(), b"abc");
    }
}
