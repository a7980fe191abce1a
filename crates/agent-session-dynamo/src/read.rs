//! The read path of the conversation: [`SessionStore::head`] and [`SessionStore::entries`],
//! and payloads with their chunks.
//!
//! [`SessionStore::head`]: agent_session::SessionStore::head
//! [`SessionStore::entries`]: agent_session::SessionStore::entries

use agent_core::Message;
use agent_session::{
    Entry, EntryBody, SessionError, SessionErrorKind, SessionHead, SessionId, Summary,
};
use uuid::Uuid;

use crate::codec::{Stored, assemble, inline_json};
use crate::db::QuerySpec;
use crate::errors::{corrupted, error};
use crate::layout::{chunk_range, is_expired, messages_pk};
use crate::records::{EntryItem, EntryKind, Payload, decode_entry};
use crate::store::{DynamoSessionStore, timestamp};

impl DynamoSessionStore {
    pub(crate) async fn head_inner(
        &self,
        session: &SessionId,
    ) -> Result<SessionHead, SessionError> {
        let now = self.now_ms();
        match self.load_head(session).await? {
            Some(head) => {
                self.check_mixed_fleet(session, &head, now).await?;
                // The head as read, its state with it (a damaged state is `CorruptedData`).
                head.to_session_head(&messages_pk(session.as_str()), now)
            }
            None => Ok(self
                .python_head(session, now)
                .await?
                .unwrap_or_else(SessionHead::empty)),
        }
    }

    pub(crate) async fn entries_inner(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        let now = self.now_ms();
        let Some(head) = self.load_head(session).await? else {
            return self.python_entries(session, from, to, now).await;
        };
        if !head.is_live(now) {
            return Err(error(
                SessionErrorKind::NotFound,
                "the session does not exist",
            ));
        }
        self.check_mixed_fleet(session, &head, now).await?;
        if from < head.first_seq || to > head.last_seq || from > to {
            return Err(error(
                SessionErrorKind::NotFound,
                format!(
                    "entries {from}..={to} are outside the session's {}..={}",
                    head.first_seq, head.last_seq
                ),
            ));
        }
        let pk = messages_pk(session.as_str());
        let items = self
            .db()
            .query(&QuerySpec::new(&pk).between(i128::from(from), i128::from(to)))
            .await?;
        let mut entries = Vec::new();
        let mut expected = from;
        for item in &items {
            let entry = decode_entry(item)
                .map_err(|e| corrupted(&pk, crate::layout::Reader::new(item).sk_text(), e))?;
            if entry.seq != expected {
                return Err(corrupted(
                    &pk,
                    expected,
                    "the entry is missing: the conversation has a gap",
                ));
            }
            if is_expired(entry.expiration, now) {
                return Err(corrupted(
                    &pk,
                    entry.seq,
                    "the entry expired before its session",
                ));
            }
            entries.push(self.entry(&pk, entry, now).await?);
            expected += 1;
        }
        if expected != to + 1 {
            return Err(corrupted(
                &pk,
                expected,
                format!(
                    "the entry is missing: the head says the conversation goes on to {}",
                    head.last_seq
                ),
            ));
        }
        Ok(entries)
    }

    /// An entry with its payload decoded.
    async fn entry(&self, pk: &str, item: EntryItem, now: i64) -> Result<Entry, SessionError> {
        let seq = item.seq;
        let body = match item.kind {
            EntryKind::Unknown => EntryBody::Unknown,
            EntryKind::Turn => {
                let json = self
                    .payload_json(pk, i128::from(seq), item.payload, now)
                    .await?;
                let messages: Vec<Message> = serde_json::from_str(&json)
                    .map_err(|e| corrupted(pk, seq, format!("bad messages JSON: {e}")))?;
                EntryBody::Turn {
                    run_id: item.run_id.unwrap_or(Uuid::nil()),
                    messages,
                }
            }
            EntryKind::Summary => {
                let json = self
                    .payload_json(pk, i128::from(seq), item.payload, now)
                    .await?;
                let summary: Summary = serde_json::from_str(&json)
                    .map_err(|e| corrupted(pk, seq, format!("bad summary JSON: {e}")))?;
                EntryBody::Summary(summary)
            }
        };
        Ok(Entry::new(seq, body, item.written_at.and_then(timestamp)))
    }

    /// The JSON text of the payload of the item at `owner`, reading its chunks if it has any.
    pub(crate) async fn payload_json(
        &self,
        pk: &str,
        owner: i128,
        payload: Payload,
        now: i64,
    ) -> Result<String, SessionError> {
        match payload {
            Payload::Current(Stored::Chunked {
                gzip,
                size,
                chunks,
                blob,
            }) => {
                let (lo, hi) = chunk_range(owner);
                let items = self.db().query(&QuerySpec::new(pk).between(lo, hi)).await?;
                assemble(owner, gzip, size, chunks, &blob, &items, now)
                    .map_err(|(at, e)| corrupted(pk, at, e))
            }
            Payload::Current(stored) => inline_json(stored).map_err(|e| corrupted(pk, owner, e)),
            Payload::Old(old) => self.old_payload_json(pk, owner, old, now).await,
        }
    }
}
