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
    Migrated { from: i64, json: &'a str },
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
    pub(crate) expiration: Option<i64>,
    pub(crate) payload: Stored,
}

/// Decodes a run record.
pub(crate) fn decode_run(item: &Item) -> Result<RunItem, String> {
    let r = Reader::new(item);
    r.check_schema()?;
    let run = r.u64(attr::SK)?;
    if r.string(attr::KIND)? != kind::RUN {
        return Err(format!("a `{}` item where a run record belongs", r.string(attr::KIND)?));
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
        return Err(format!("a `{}` item where an event belongs", r.string(attr::KIND)?));
    }
    Ok(EventItem {
        sk,
        index: index as u32,
        expiration: r.expiration()?,
        payload: stored_payload(item, attr::EVENT)?,
    })
}
