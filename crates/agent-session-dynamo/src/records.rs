//! The items a session's data is stored in — entries, run records, events — as written and as
//! decoded (without reading their chunks). Decoders validate every attribute they use and name
//! what is wrong; they never panic and never allocate by a stored count.

use agent_core::{AgentEvent, Message, Reasoning};
use agent_session::Summary;
use uuid::Uuid;

use crate::codec::{Encoding, Stored, encode_payload, stored_payload};
use crate::layout::{
    Item, MAX_EVENT_INDEX, Reader, SCHEMA, SCHEMA_2, attr, event_sk, kind, n, new_item, s,
};
use crate::schema2::{self, OldBody};

/// A payload as found in an item: this version's encoding, or the previous version's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    Current(Stored),
    Old(OldBody),
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Turn,
    Summary,
    /// A kind this version does not know.
    Unknown,
}

/// An entry as stored (its payload not yet decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryItem {
    pub(crate) seq: u64,
    pub(crate) kind: EntryKind,
    pub(crate) run_id: Option<Uuid>,
    pub(crate) run: Option<u64>,
    pub(crate) written_at: Option<i64>,
    pub(crate) expiration: Option<i64>,
    pub(crate) payload: Payload,
}

/// A new entry's content.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewEntry<'a> {
    Turn {
        run_id: Uuid,
        run: u64,
        messages: &'a [Message],
    },
    Summary(&'a Summary),
    /// A Python conversation taken over as it was (its JSON text kept byte for byte).
    Migrated {
        from: i64,
        json: &'a str,
    },
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| format!("the {what} do not serialise: {e}"))
}

/// The items of a new entry: the entry and its chunks, if any.
pub(crate) fn entry_items(
    pk: &str,
    seq: u64,
    entry: NewEntry<'_>,
    now_ms: i64,
    expiration: i64,
    encoding: Encoding,
) -> Result<(Item, Vec<Item>), String> {
    let sk = i128::from(seq);
    let (mut item, name, json) = match entry {
        NewEntry::Turn {
            run_id,
            run,
            messages,
        } => {
            let mut item = new_item(pk, sk, kind::TURN);
            item.insert(attr::RUN_ID.into(), s(run_id.to_string()));
            item.insert(attr::RUN.into(), n(run));
            (item, attr::MESSAGES, to_json(messages, "messages")?)
        }
        NewEntry::Summary(summary) => (
            new_item(pk, sk, kind::SUMMARY),
            attr::SUMMARY,
            to_json(summary, "summary")?,
        ),
        NewEntry::Migrated { from, json } => {
            let mut item = new_item(pk, sk, kind::TURN);
            item.insert(attr::MIGRATED_FROM.into(), n(from));
            (item, attr::MESSAGES, json.to_owned())
        }
    };
    item.insert(attr::WRITTEN_AT.into(), n(now_ms));
    item.insert(attr::EXPIRATION_TIME.into(), n(expiration));
    let chunks = encode_payload(&mut item, name, json, encoding)?;
    Ok((item, chunks))
}

/// Decodes an entry item (this version's or schema 2's).
pub(crate) fn decode_entry(item: &Item) -> Result<EntryItem, String> {
    let r = Reader::new(item);
    let sk = r.sk()?;
    let seq = u64::try_from(sk).map_err(|_| format!("an entry at sort key {sk}"))?;
    match r.schema() {
        Some(SCHEMA) => {}
        Some(SCHEMA_2) => return schema2::decode_entry(item, seq),
        Some(other) => return Err(format!("unknown item schema {other:?}")),
        None => return Err("attribute `schema` is missing".into()),
    }
    let (kind, payload) = match r.string(attr::KIND)? {
        kind::TURN => (EntryKind::Turn, stored_payload(item, attr::MESSAGES)?),
        kind::SUMMARY => (EntryKind::Summary, stored_payload(item, attr::SUMMARY)?),
        _ => (EntryKind::Unknown, Stored::Plain("null".into())),
    };
    let run_id = match r.opt_string(attr::RUN_ID)? {
        Some(text) => Some(Uuid::parse_str(text).map_err(|e| format!("bad `run_id`: {e}"))?),
        None => None,
    };
    Ok(EntryItem {
        seq,
        kind,
        run_id,
        run: r.opt_u64(attr::RUN)?,
        written_at: r.opt_i64(attr::WRITTEN_AT)?,
        expiration: r.expiration()?,
        payload: Payload::Current(payload),
    })
}

/// A run record to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewRun<'a> {
    pub(crate) run: u64,
    pub(crate) reasoning: &'a Reasoning,
    pub(crate) lease: Option<Uuid>,
    pub(crate) heartbeat_at: Option<i64>,
    pub(crate) committed_seq: Option<u64>,
    /// Until when the lease holds (ms), for a running record.
    pub(crate) lease_expires_at: Option<i64>,
}

/// The items of a run record: the record and its chunks, if any.
pub(crate) fn run_items(
    pk: &str,
    run: NewRun<'_>,
    expiration: i64,
    encoding: Encoding,
) -> Result<(Item, Vec<Item>), String> {
    let mut item = new_item(pk, i128::from(run.run), kind::RUN);
    if !run.reasoning.run_id.is_nil() {
        item.insert(attr::RUN_ID.into(), s(run.reasoning.run_id.to_string()));
    }
    item.insert(attr::STATUS.into(), s(run.reasoning.status.as_str()));
    if let Some(lease) = run.lease {
        item.insert(attr::LEASE.into(), s(lease.to_string()));
    }
    if let Some(at) = run.heartbeat_at {
        item.insert(attr::HEARTBEAT_AT.into(), n(at));
    }
    if let Some(seq) = run.committed_seq {
        item.insert(attr::COMMITTED_SEQ.into(), n(seq));
    }
    if let Some(until) = run.lease_expires_at {
        item.insert(attr::LEASE_EXPIRES_AT.into(), n(until));
    }
    item.insert(attr::EXPIRATION_TIME.into(), n(expiration));
    let json = to_json(run.reasoning, "reasoning")?;
    let chunks = encode_payload(&mut item, attr::REASONING, json, encoding)?;
    Ok((item, chunks))
}

/// A run record as stored (its payload not yet decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunItem {
    pub(crate) run: u64,
    pub(crate) status: String,
    pub(crate) lease: Option<Uuid>,
    pub(crate) heartbeat_at: Option<i64>,
    pub(crate) committed_seq: Option<u64>,
    pub(crate) lease_expires_at: Option<i64>,
    pub(crate) expiration: Option<i64>,
    pub(crate) payload: Stored,
}

/// Decodes a run record.
pub(crate) fn decode_run(item: &Item) -> Result<RunItem, String> {
    let r = Reader::new(item);
    r.check_schema()?;
    let run = r.u64(attr::SK)?;
    if r.string(attr::KIND)? != kind::RUN {
        return Err(format!(
            "a `{}` item where a run record belongs",
            r.string(attr::KIND)?
        ));
    }
    let lease = match r.opt_string(attr::LEASE)? {
        Some(text) => Some(Uuid::parse_str(text).map_err(|e| format!("bad `lease`: {e}"))?),
        None => None,
    };
    Ok(RunItem {
        run,
        status: r.string(attr::STATUS)?.to_owned(),
        lease,
        heartbeat_at: r.opt_i64(attr::HEARTBEAT_AT)?,
        committed_seq: r.opt_u64(attr::COMMITTED_SEQ)?,
        lease_expires_at: r.opt_i64(attr::LEASE_EXPIRES_AT)?,
        expiration: r.expiration()?,
        payload: stored_payload(item, attr::REASONING)?,
    })
}

/// The items of an event.
pub(crate) fn event_items(
    pk: &str,
    run: u64,
    index: u32,
    event: &AgentEvent,
    expiration: i64,
    encoding: Encoding,
) -> Result<(Item, Vec<Item>), String> {
    let mut item = new_item(pk, event_sk(run, index), kind::EVENT);
    item.insert(attr::EXPIRATION_TIME.into(), n(expiration));
    let json = to_json(event, "event")?;
    let chunks = encode_payload(&mut item, attr::EVENT, json, encoding)?;
    Ok((item, chunks))
}

/// An event as stored (its payload not yet decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventItem {
    pub(crate) sk: i128,
    pub(crate) index: u32,
    pub(crate) expiration: Option<i64>,
    pub(crate) payload: Stored,
}

/// Decodes an event of run `run`.
pub(crate) fn decode_event(item: &Item, run: u64) -> Result<EventItem, String> {
    let r = Reader::new(item);
    r.check_schema()?;
    let sk = r.sk()?;
    let index = sk - event_sk(run, 0);
    if !(1..=i128::from(MAX_EVENT_INDEX)).contains(&index) {
        return Err(format!("sort key {sk} is not an event of run {run}"));
    }
    if r.string(attr::KIND)? != kind::EVENT {
        return Err(format!(
            "a `{}` item where an event belongs",
            r.string(attr::KIND)?
        ));
    }
    Ok(EventItem {
        sk,
        index: index as u32,
        expiration: r.expiration()?,
        payload: stored_payload(item, attr::EVENT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{assemble, inline_json};
    use crate::layout::{SCHEMA, key};
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use proptest::prelude::*;

    /// Any attribute value, of every type DynamoDB has, small.
    fn value() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            ".{0,12}".prop_map(AttributeValue::S),
            "-?[0-9]{1,45}(\\.[0-9]{1,3})?".prop_map(AttributeValue::N),
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| AttributeValue::B(Blob::new(b))),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null(true)),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                proptest::collection::hash_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(AttributeValue::M),
            ]
        })
    }

    /// An item with the attributes the decoders read, each present or not, of any type.
    fn item() -> impl Strategy<Value = Item> {
        let names = [
            attr::SK,
            attr::SCHEMA,
            attr::KIND,
            attr::MESSAGES,
            attr::SUMMARY,
            attr::REASONING,
            attr::EVENT,
            attr::RUN_ID,
            attr::RUN,
            attr::STATUS,
            attr::LEASE,
            attr::HEARTBEAT_AT,
            attr::COMMITTED_SEQ,
            attr::LEASE_EXPIRES_AT,
            attr::ENC,
            attr::SIZE,
            attr::CHUNKS,
            attr::BLOB,
            attr::EXPIRATION_TIME,
            attr::WRITTEN_AT,
            attr::LIFE,
            attr::FIRST_SEQ,
            attr::LAST_SEQ,
            attr::FIRST_RUN,
            attr::RUNS,
            attr::EXPIRES_AT_MS,
            attr::HORIZON,
            attr::DELETED,
            attr::STATE,
            attr::STATE_LIFE,
            attr::STATE_VERSION,
            "body",
            "chunk_first",
            "chunk_count",
            "blob_bytes",
        ];
        proptest::collection::vec(proptest::option::of(value()), names.len()).prop_map(
            move |values| {
                let mut item = key("messages#p", 1);
                for (name, value) in names.iter().zip(values) {
                    if let Some(value) = value {
                        item.insert((*name).to_owned(), value);
                    }
                }
                item
            },
        )
    }

    /// A well-formed item of this schema with some attributes replaced by arbitrary values.
    fn damaged(kind: &'static str, payload: &'static str) -> impl Strategy<Value = Item> {
        (
            proptest::collection::hash_map(
                prop_oneof![
                    Just(attr::KIND),
                    Just(payload),
                    Just(attr::ENC),
                    Just(attr::SIZE),
                    Just(attr::CHUNKS),
                    Just(attr::RUN_ID),
                    Just(attr::STATUS),
                    Just(attr::LEASE),
                    Just(attr::SK),
                ],
                value(),
                0..4,
            ),
            1u64..5,
        )
            .prop_map(move |(changes, sk)| {
                let mut item = new_item("messages#p", i128::from(sk), kind);
                item.insert(attr::SCHEMA.into(), n(SCHEMA));
                item.insert(payload.into(), s("[]"));
                item.insert(attr::STATUS.into(), s("running"));
                for (name, value) in changes {
                    item.insert(name.to_owned(), value);
                }
                item
            })
    }

    /// Decodes everything the store would read from an item; must never panic.
    fn decode_everything(item: &Item) {
        if let Ok(entry) = decode_entry(item)
            && let Payload::Current(stored) = entry.payload
        {
            let _ = inline_json(stored);
        }
        if let Ok(run) = decode_run(item) {
            let _ = inline_json(run.payload);
        }
        let _ = decode_event(item, 1);
        if let Ok(crate::head::HeadItem::Current(head)) =
            crate::head::Head::parse("messages#p", item)
        {
            let _ = head.state.parse("messages#p");
        }
        if let Ok(crate::codec::Stored::Chunked {
            gzip,
            size,
            chunks,
            blob,
        }) = crate::codec::stored_payload(item, attr::MESSAGES)
        {
            let _ = assemble(1, gzip, size, chunks, &blob, std::slice::from_ref(item), 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn decoders_never_panic_on_arbitrary_items(item in item()) {
            decode_everything(&item);
        }

        #[test]
        fn decoders_never_panic_on_damaged_items(
            entry in damaged(kind::TURN, attr::MESSAGES),
            run in damaged(kind::RUN, attr::REASONING),
            event in damaged(kind::EVENT, attr::EVENT),
        ) {
            decode_everything(&entry);
            decode_everything(&run);
            decode_everything(&event);
        }

        #[test]
        fn entries_round_trip(
            texts in proptest::collection::vec(".{0,40}", 1..6),
            threshold in proptest::option::of(0usize..200),
            seq in 1u64..1000,
        ) {
            let messages: Vec<Message> = texts.iter().map(Message::user_text).collect();
            let run_id = Uuid::now_v7();
            let (item, chunks) = entry_items(
                "messages#p",
                seq,
                NewEntry::Turn { run_id, run: 7, messages: &messages },
                1,
                2_000_000_000,
                Encoding { compress_above: threshold },
            ).unwrap();
            prop_assert!(chunks.is_empty());
            let entry = decode_entry(&item).unwrap();
            prop_assert_eq!((entry.seq, entry.run_id, entry.run), (seq, Some(run_id), Some(7)));
            let Payload::Current(stored) = entry.payload else { panic!("current") };
            let back: Vec<Message> = serde_json::from_str(&inline_json(stored).unwrap()).unwrap();
            prop_assert_eq!(back, messages);
        }

        #[test]
        fn gunzip_of_arbitrary_bytes_is_an_error_or_exact(
            data in proptest::collection::vec(any::<u8>(), 0..256),
            size in 0usize..1024,
        ) {
            if let Ok(out) = crate::codec::gunzip(&data, size) {
                prop_assert_eq!(out.len(), size);
            }
        }
    }

    #[test]
    fn run_records_and_events_round_trip() {
        let mut reasoning = Reasoning::start("q", Some("s".into()));
        reasoning.final_response = Some("a".repeat(500_000));
        let lease = Uuid::now_v7();
        let (item, chunks) = run_items(
            "reasoning#p",
            NewRun {
                run: 3,
                reasoning: &reasoning,
                lease: Some(lease),
                heartbeat_at: Some(42),
                committed_seq: None,
                lease_expires_at: Some(30_042),
            },
            2_000_000_000,
            Encoding {
                compress_above: None,
            },
        )
        .unwrap();
        assert!(chunks.is_empty(), "compressible: one item, gzip");
        let run = decode_run(&item).unwrap();
        assert_eq!(
            (run.run, run.lease, run.heartbeat_at, run.lease_expires_at),
            (3, Some(lease), Some(42), Some(30_042))
        );
        assert_eq!(run.status, "running");
        let back: Reasoning = serde_json::from_str(&inline_json(run.payload).unwrap()).unwrap();
        assert_eq!(back, reasoning);

        let event = AgentEvent::TextDelta {
            step: 1,
            text: "hi".into(),
        };
        let (item, _) = event_items(
            "events#p",
            3,
            9,
            &event,
            2_000_000_000,
            Encoding {
                compress_above: None,
            },
        )
        .unwrap();
        let decoded = decode_event(&item, 3).unwrap();
        assert_eq!(decoded.index, 9);
        assert!(decode_event(&item, 4).is_err(), "an event of another run");
        let _ = AttributeValue::Null(true);
    }
}
