//! Sessions written by the previous version of this crate (items with `schema = 2`).
//!
//! That layout had a head in each of `messages#` and `reasoning#` (`incarnation`, `version`,
//! `first_seq`, `created_at`, `expires_at_ms`, `record_expiration_time`), entries holding a
//! JSON array in `body` (`enc` = `json` or `gzip`, or chunk items at sort keys from
//! 500,000,000), and run pointers at negative sort keys in `reasoning#`.
//!
//! Such a session is migrated on first access (any read or write, or
//! [`DynamoSessionStore::migrate`]): its conversation entries stay where they are (this
//! version reads them), its reasoning entries become run records `1..=n`, the old reasoning
//! head, pointers and chunks are removed, and the conversation head is rewritten in this
//! version's schema, keeping the life, the numbers and the expiry. Every step is idempotent
//! and the order makes a crash at any point safe to resume: run records are written from the
//! highest down (each overwrites an old entry no lower record still needs), and the
//! conversation head — the switch — is rewritten last but one, conditioned on being unchanged.

use agent_core::Reasoning;
use agent_session::{SessionError, SessionId};
use serde_json::Value;

use crate::codec::MAX_PAYLOAD_BYTES;
use crate::db::{Expr, QuerySpec};
use crate::errors::{corrupted, invalid};
use crate::head::{self, Expect, Head};
use crate::layout::{
    HEAD_SK, Item, PYTHON_MIN_SK, Reader, SCHEMA, SCHEMA_2, attr, is_expired, key, messages_pk,
    reasoning_pk,
};
use crate::records::{EntryItem, EntryKind, NewRun, Payload, run_items};
use crate::store::DynamoSessionStore;

/// Old attribute names.
mod old {
    pub(super) const INCARNATION: &str = "incarnation";
    pub(super) const VERSION: &str = "version";
    pub(super) const CREATED_AT: &str = "created_at";
    pub(super) const RECORD_EXP: &str = "record_expiration_time";
    pub(super) const NEXT_CHUNK: &str = "next_chunk";
    pub(super) const ENC: &str = "enc";
    pub(super) const BODY: &str = "body";
    pub(super) const CHUNK_FIRST: &str = "chunk_first";
    pub(super) const CHUNK_COUNT: &str = "chunk_count";
    pub(super) const BLOB_ID: &str = "blob_id";
    pub(super) const BLOB_BYTES: &str = "blob_bytes";
    pub(super) const PART: &str = "part";
}

/// The sort keys of old chunks.
const OLD_CHUNK_MIN: i128 = 500_000_000;
const OLD_CHUNK_MAX: i128 = 999_999_999;

/// An old entry's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OldBody {
    Inline {
        gzip: bool,
        bytes: Vec<u8>,
    },
    Chunked {
        gzip: bool,
        blob_id: String,
        first: i128,
        count: u64,
        len: u64,
    },
}

fn old_body(item: &Item) -> Result<OldBody, String> {
    let r = Reader::new(item);
    let gzip = match r.string(old::ENC)? {
        "json" => false,
        "gzip" => true,
        other => return Err(format!("unknown body encoding {other:?}")),
    };
    if r.has(old::CHUNK_FIRST) {
        let first = r.int(old::CHUNK_FIRST)?;
        let count = r.u64(old::CHUNK_COUNT)?;
        let len = r.u64(old::BLOB_BYTES)?;
        if count == 0
            || first < OLD_CHUNK_MIN
            || first + i128::from(count) - 1 > OLD_CHUNK_MAX
            || len > MAX_PAYLOAD_BYTES as u64
        {
            return Err("bad chunk range".into());
        }
        return Ok(OldBody::Chunked {
            gzip,
            blob_id: r.string(old::BLOB_ID)?.to_owned(),
            first,
            count,
            len,
        });
    }
    let bytes = match (gzip, item.get(old::BODY)) {
        (false, Some(aws_sdk_dynamodb::types::AttributeValue::S(text))) => text.as_bytes().to_vec(),
        (true, Some(aws_sdk_dynamodb::types::AttributeValue::B(blob))) => blob.as_ref().to_vec(),
        (_, Some(_)) => return Err("attribute `body` has the wrong type for its encoding".into()),
        (_, None) => return Err("attribute `body` is missing".into()),
    };
    Ok(OldBody::Inline { gzip, bytes })
}

/// Decodes an old conversation entry at `seq`.
pub(crate) fn decode_entry(item: &Item, seq: u64) -> Result<EntryItem, String> {
    let r = Reader::new(item);
    let kind = match r.string(attr::KIND)? {
        "run" | "migrated" => EntryKind::Turn,
        _ => EntryKind::Unknown,
    };
    let run_id = match r.opt_string(attr::RUN_ID)? {
        Some(text) => Some(uuid::Uuid::parse_str(text).map_err(|e| format!("bad `run_id`: {e}"))?),
        None => None,
    };
    Ok(EntryItem {
        seq,
        kind,
        run_id,
        run: None,
        written_at: r.opt_i64(old::CREATED_AT)?,
        expiration: r.expiration()?,
        payload: Payload::Old(old_body(item)?),
    })
}

/// Decompresses an old body, which recorded no size: bounded by [`MAX_PAYLOAD_BYTES`].
fn old_gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the body does not decompress: {e}"))?;
    if out.len() > MAX_PAYLOAD_BYTES {
        return Err("the body decompresses to more than a payload may hold".into());
    }
    Ok(out)
}

impl DynamoSessionStore {
    /// The JSON of an old entry's body, reading its chunks if it has any.
    pub(crate) async fn old_payload_json(
        &self,
        pk: &str,
        owner: i128,
        body: OldBody,
        now: i64,
    ) -> Result<String, SessionError> {
        let bytes = match body {
            OldBody::Inline { gzip: false, bytes } => bytes,
            OldBody::Inline { gzip: true, bytes } => {
                old_gunzip(&bytes).map_err(|e| corrupted(pk, owner, e))?
            }
            OldBody::Chunked {
                gzip,
                blob_id,
                first,
                count,
                len,
            } => {
                let last = first + i128::from(count) - 1;
                let items = self
                    .db()
                    .query(&QuerySpec::new(pk).between(first, last))
                    .await?;
                let mut bytes = Vec::new();
                let mut expected = first;
                for item in &items {
                    let r = Reader::new(item);
                    let at = r.sk_text();
                    let fail = |e: String| corrupted(pk, &at, e);
                    if r.sk().map_err(fail)? != expected {
                        return Err(corrupted(
                            pk,
                            expected,
                            format!("chunk of entry {owner} is missing"),
                        ));
                    }
                    if r.string(old::BLOB_ID).map_err(fail)? != blob_id
                        || r.int(old::PART).map_err(fail)? != expected - first
                    {
                        return Err(fail(format!("the chunk does not belong to entry {owner}")));
                    }
                    if is_expired(r.expiration().map_err(fail)?, now) {
                        return Err(fail("the chunk expired before its session".into()));
                    }
                    bytes.extend_from_slice(r.binary(old::BODY).map_err(fail)?);
                    if bytes.len() as u64 > len {
                        return Err(fail(format!("the chunks hold more than {len} bytes")));
                    }
                    expected += 1;
                }
                if expected != last + 1 || bytes.len() as u64 != len {
                    return Err(corrupted(
                        pk,
                        expected,
                        format!("chunk of entry {owner} is missing"),
                    ));
                }
                if gzip {
                    old_gunzip(&bytes).map_err(|e| corrupted(pk, owner, e))?
                } else {
                    bytes
                }
            }
        };
        String::from_utf8(bytes).map_err(|_| corrupted(pk, owner, "the body is not UTF-8"))
    }

    /// Migrates a session whose conversation head (`head_item`) is of schema 2.
    pub(crate) async fn migrate_schema2(
        &self,
        session: &SessionId,
        head_item: &Item,
    ) -> Result<(), SessionError> {
        let sid = session.as_str();
        let (mpk, rpk) = (messages_pk(sid), reasoning_pk(sid));
        let now = self.now_ms();
        let r = Reader::new(head_item);
        let bad = |e: String| corrupted(&mpk, HEAD_SK, format!("bad head item (schema 2): {e}"));
        if !r.has(old::VERSION) {
            // A stub left by a chunk reservation: no session. Remove it (if still a stub).
            let mut e = Expr::default();
            let condition = format!(
                "{} = {} AND attribute_not_exists({})",
                e.name(attr::SCHEMA),
                e.num("two", SCHEMA_2),
                e.name(old::VERSION)
            );
            self.db()
                .delete_if(key(&mpk, HEAD_SK), condition, e)
                .await?;
            return Ok(());
        }
        let incarnation = r.string(old::INCARNATION).map_err(bad)?.to_owned();
        let version = r.u64(old::VERSION).map_err(bad)?;
        let first_seq = r.u64(attr::FIRST_SEQ).map_err(bad)?;
        let created_at = r.u64(old::CREATED_AT).map_err(bad)?.max(1);
        let expires_at_ms = r.i64(attr::EXPIRES_AT_MS).map_err(bad)?;
        let record_exp = r.i64(old::RECORD_EXP).map_err(bad)?;
        if first_seq == 0 || version + 1 < first_seq || version > crate::layout::MAX_SEQ {
            return Err(bad(format!(
                "entries {first_seq}..={version} are out of range"
            )));
        }
        tracing::info!(session = %session, "migrating a session of schema 2");

        // 1. The reasoning records, flattened in order.
        let items = self
            .db()
            .query(&QuerySpec {
                hi: Some(PYTHON_MIN_SK - 1),
                ..QuerySpec::new(&rpk)
            })
            .await?;
        let old_head = items
            .iter()
            .find(|item| Reader::new(item).sk().ok() == Some(HEAD_SK))
            .filter(|item| Reader::new(item).schema() == Some(SCHEMA_2));
        let mut reasonings: Vec<Option<Reasoning>> = Vec::new();
        let mut done: Vec<u64> = Vec::new();
        if let Some(h) = old_head {
            let hr = Reader::new(h);
            let rbad =
                |e: String| corrupted(&rpk, HEAD_SK, format!("bad head item (schema 2): {e}"));
            if let (Ok(r_inc), Ok(r_version), Ok(r_first)) = (
                hr.string(old::INCARNATION),
                hr.u64(old::VERSION),
                hr.u64(attr::FIRST_SEQ),
            ) {
                if r_version > crate::layout::MAX_SEQ {
                    return Err(rbad("`version` is out of range".into()));
                }
                for item in &items {
                    let ir = Reader::new(item);
                    let Ok(sk) = ir.sk() else { continue };
                    if sk <= 0 {
                        continue;
                    }
                    match ir.schema() {
                        // Already written by an interrupted migration: what follows is done.
                        Some(SCHEMA) => {
                            done.push(sk as u64);
                            continue;
                        }
                        Some(SCHEMA_2) => {}
                        _ => continue,
                    }
                    if sk < i128::from(r_first) || sk > i128::from(r_version) {
                        continue;
                    }
                    if !done.is_empty() || ir.string(old::INCARNATION).ok() != Some(r_inc) {
                        continue;
                    }
                    if is_expired(ir.expiration().ok().flatten(), now) {
                        continue;
                    }
                    let body = old_body(item).map_err(|e| corrupted(&rpk, sk, e))?;
                    let json = self.old_payload_json(&rpk, sk, body, now).await?;
                    let values: Vec<Value> = serde_json::from_str(&json)
                        .map_err(|e| corrupted(&rpk, sk, format!("bad reasoning JSON: {e}")))?;
                    for value in values {
                        reasonings.push(Some(serde_json::from_value(value).map_err(|e| {
                            corrupted(&rpk, sk, format!("bad reasoning record: {e}"))
                        })?));
                    }
                }
            }
        }
        // Positions an interrupted migration already wrote keep their records.
        let total = reasonings
            .len()
            .max(done.iter().copied().max().unwrap_or(0) as usize);
        reasonings.resize(total, None);
        let runs = total as u64;
        let horizon = record_exp.max(now / 1000 + 2 * self.ttl_s());

        // 2. Run records, from the highest down.
        for (index, reasoning) in reasonings.iter().enumerate().rev() {
            let run = index as u64 + 1;
            if done.contains(&run) {
                continue;
            }
            let Some(reasoning) = reasoning else {
                return Err(corrupted(
                    &rpk,
                    run,
                    "a reasoning record of schema 2 is missing",
                ));
            };
            let (item, chunks) = run_items(
                &rpk,
                NewRun {
                    run,
                    reasoning,
                    lease: None,
                    heartbeat_at: None,
                    committed_seq: None,
                    lease_expires_at: None,
                },
                horizon,
                self.inner.encoding,
            )
            .map_err(invalid)?;
            if !chunks.is_empty() {
                self.db().batch_put(chunks).await?;
            }
            self.db().batch_put(vec![item]).await?;
        }

        // 3. Whether the conversation was taken over from the Python layout.
        let migrated_from = if first_seq <= version {
            self.db()
                .get(&mpk, i128::from(first_seq))
                .await?
                .and_then(|item| {
                    Reader::new(&item)
                        .opt_i64(attr::MIGRATED_FROM)
                        .ok()
                        .flatten()
                })
        } else {
            None
        };

        // 4. The switch: the conversation head in this schema, if it is still as read.
        let new = Head {
            life: created_at,
            first_seq,
            last_seq: version,
            summary_seq: None,
            first_run: 1,
            runs,
            expires_at_ms,
            horizon,
            deleted: false,
            prev_life: 0,
            prev_deleted: false,
            migrated_from,
            migrated_digest: None,
            recent: Vec::new(),
            // Schema 2 had no session state.
            state: crate::head::HeadState::EMPTY,
            state_version: 0,
        };
        let mut spec = head::write(
            &mpk,
            &new,
            self.ttl_s(),
            now,
            Expect::Schema2 {
                incarnation,
                version,
            },
        );
        let extra: Vec<String> = [old::CREATED_AT, old::RECORD_EXP, old::NEXT_CHUNK]
            .into_iter()
            .map(|name| spec.expr.name(name))
            .chain(["#incarnation".to_owned(), "#version".to_owned()])
            .collect();
        if spec.update.contains(" REMOVE ") {
            spec.update.push_str(&format!(", {}", extra.join(", ")));
        } else {
            spec.update
                .push_str(&format!(" REMOVE {}", extra.join(", ")));
        }
        if self.db().update(spec).await?.is_err() {
            // Changed meanwhile (migrated by another process, or written by the old version):
            // the caller reads the head again.
            return Ok(());
        }

        // 5. Old items nothing reads any more: the reasoning head, pointers, chunks, entries
        // past the records, and stray conversation entries past the head. Only items still of
        // schema 2 are deleted, so nothing written since is touched.
        let mut stale: Vec<(String, i128)> = items
            .iter()
            .filter(|item| Reader::new(item).schema() == Some(SCHEMA_2))
            .filter_map(|item| Reader::new(item).sk().ok())
            .filter(|sk| *sk <= 0 || *sk > i128::from(runs))
            .map(|sk| (rpk.clone(), sk))
            .collect();
        let strays = self
            .db()
            .query(&QuerySpec {
                projection: Some(&[attr::SCHEMA]),
                ..QuerySpec::new(&mpk).between(i128::from(version) + 1, OLD_CHUNK_MIN - 1)
            })
            .await?;
        stale.extend(
            strays
                .iter()
                .filter(|item| Reader::new(item).schema() == Some(SCHEMA_2))
                .filter_map(|item| Reader::new(item).sk().ok())
                .map(|sk| (mpk.clone(), sk)),
        );
        for (pk, sk) in stale {
            let mut e = Expr::default();
            let condition = format!("{} = {}", e.name(attr::SCHEMA), e.num("two", SCHEMA_2));
            self.db().delete_if(key(&pk, sk), condition, e).await?;
        }
        Ok(())
    }
}
