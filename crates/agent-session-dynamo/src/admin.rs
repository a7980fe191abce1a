//! `delete` (tombstone the head, then remove every item) and `list_sessions` (a Scan of head
//! items, for administration).

use agent_session::{SessionError, SessionErrorKind, SessionId, SessionInfo, SessionPage};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::db::QuerySpec;
use crate::errors::{error, invalid};
use crate::head::{self, Expect, Head, HeadItem};
use crate::layout::{
    HEAD_SK, Item, MAX_CHUNKS, MAX_EVENT_INDEX, PYTHON_MIN_SK, Reader, SCHEMA_2, attr, event_sk,
    events_pk, key, messages_pk, n, reasoning_pk, s,
};
use crate::store::DynamoSessionStore;

/// The prefix of head items' partition keys.
const HEAD_PREFIX: &str = "messages#";
/// Items read per Scan request while listing (before the filter keeps the heads).
const SCAN_PAGE: i32 = 500;

/// The owner of a chunk key, or the key itself.
fn owner(sk: i128) -> i128 {
    if sk < 0 {
        (-sk - 1) / (i128::from(MAX_CHUNKS) + 1)
    } else {
        sk
    }
}

impl DynamoSessionStore {
    pub(crate) async fn delete_inner(&self, session: &SessionId) -> Result<(), SessionError> {
        let sid = session.as_str();
        let mpk = messages_pk(sid);
        let mut head = self.load_head(session).await?;
        // 1. The tombstone: from now on every read sees no session, and every commit or
        // record write of the old life fails its condition.
        let mut attempts = 0;
        let bounds = loop {
            let Some(h) = &head else { break None };
            let now = self.now_ms();
            let mut tomb = h.clone();
            tomb.deleted = true;
            tomb.expires_at_ms = 0;
            tomb.horizon = h.horizon.max(now / 1000 + 3 * self.ttl_s());
            let spec = head::write(
                &mpk,
                &tomb,
                self.ttl_s(),
                now,
                Expect::Same {
                    life: h.life,
                    last_seq: None,
                    runs: None,
                    state: None,
                    horizon: h.horizon,
                    live_at: None,
                },
            );
            // A deleted head is deleted already: `Same` requires `deleted = false`.
            if h.deleted {
                break Some((h.last_seq, h.runs));
            }
            match self.db().update(spec).await? {
                // The counts as stored: the tombstone does not set them (they are not in its
                // condition), so a commit that landed since the read is counted and deleted.
                Ok(item) => {
                    let stored = match Head::parse(&mpk, &item)? {
                        HeadItem::Current(stored) => stored,
                        HeadItem::Schema2 => tomb,
                    };
                    self.remember_head(session, Some(&stored));
                    break Some((stored.last_seq, stored.runs));
                }
                Err(old) => {
                    attempts += 1;
                    if attempts > 10 {
                        return Err(error(
                            SessionErrorKind::Unavailable,
                            "the session kept changing while it was being deleted",
                        ));
                    }
                    head = match old {
                        Some(item) => match Head::parse(&mpk, &item)? {
                            HeadItem::Current(h) => Some(h),
                            HeadItem::Schema2 => self.load_head(session).await?,
                        },
                        None => self.load_head(session).await?,
                    };
                }
            }
        };
        // 2. Every item of the old lives (and Python items); nothing of a life started since.
        let (last_seq, runs) = bounds.unwrap_or((u64::MAX / 2, u64::from(u32::MAX)));
        let partitions = [
            (mpk.clone(), i128::from(last_seq)),
            (reasoning_pk(sid), i128::from(runs)),
            (
                events_pk(sid),
                event_sk(runs.min(u64::from(u32::MAX)), MAX_EVENT_INDEX),
            ),
        ];
        let mut keys: Vec<Item> = Vec::new();
        for (pk, last) in &partitions {
            let spec = QuerySpec {
                projection: Some(&[attr::SCHEMA]),
                ..QuerySpec::new(pk)
            };
            for item in self.db().query(&spec).await? {
                let r = Reader::new(&item);
                let Ok(sk) = r.sk() else {
                    continue;
                };
                let is_head = *pk == mpk && sk == HEAD_SK;
                // Items of the previous schema (old chunks) belong to the old lives too.
                let old = r.schema() == Some(SCHEMA_2);
                if !is_head && (old || sk >= PYTHON_MIN_SK || owner(sk) <= *last) {
                    keys.push(key(pk, sk));
                }
            }
        }
        tracing::debug!(session = %session, items = keys.len(), "deleting the session's items");
        self.db().batch_delete(keys).await
    }

    pub(crate) async fn list_sessions_inner(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        if limit == 0 {
            return Ok(SessionPage::new(Vec::new(), page.map(str::to_owned)));
        }
        let mut start = match page {
            Some(token) => Some(decode_token(token)?),
            None => None,
        };
        let mut sessions = Vec::new();
        loop {
            let now = self.now_ms();
            let (items, next) = self.db().scan_heads(HEAD_PREFIX, start, SCAN_PAGE).await?;
            for item in &items {
                let r = Reader::new(item);
                let Ok(pk) = r.string(attr::PK) else { continue };
                let Some(id) = pk
                    .strip_prefix(HEAD_PREFIX)
                    .and_then(|id| SessionId::new(id).ok())
                else {
                    continue;
                };
                // Heads of the previous schema are listed once migrated (on first access).
                let Ok(HeadItem::Current(head)) = Head::parse(pk, item) else {
                    continue;
                };
                // Live sessions with a conversation or a run (a session whose first run paused
                // for approval, or failed, has no turn yet and is listed all the same, as the
                // other stores list it).
                let has_runs = head.runs >= head.first_run;
                if !head.is_live(now) || (!head.has_entries() && !has_runs) {
                    continue;
                }
                // With its state: the Scan reads the whole head item anyway. A session whose
                // state is damaged is left out, as one whose head is.
                let info = match head.to_session_head(pk, now) {
                    Ok(info) => info,
                    Err(error) => {
                        tracing::warn!(%error, "skipping a damaged session while listing");
                        continue;
                    }
                };
                sessions.push(SessionInfo::new(id, info));
                if sessions.len() == limit {
                    return Ok(SessionPage::new(sessions, Some(encode_token(pk))));
                }
            }
            match next {
                Some(key) => start = Some(key),
                None => return Ok(SessionPage::new(sessions, None)),
            }
        }
    }
}

/// A page token: the partition key of the last head listed, base64url.
fn encode_token(pk: &str) -> String {
    URL_SAFE_NO_PAD.encode(pk.as_bytes())
}

fn decode_token(token: &str) -> Result<Item, SessionError> {
    let bad = || {
        invalid(format!(
            "invalid page token {:?}",
            token.chars().take(64).collect::<String>()
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let pk = String::from_utf8(bytes).map_err(|_| bad())?;
    let valid = pk
        .strip_prefix(HEAD_PREFIX)
        .is_some_and(|id| SessionId::new(id).is_ok());
    if !valid {
        return Err(bad());
    }
    let mut item = Item::new();
    item.insert(attr::PK.to_owned(), s(pk));
    item.insert(attr::SK.to_owned(), n(HEAD_SK));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bad_ones_are_refused() {
        let token = encode_token("messages#user-1");
        let key = decode_token(&token).unwrap();
        assert_eq!(key[attr::PK], s("messages#user-1"));
        for bad in [
            "",
            "!!",
            &encode_token("reasoning#x"),
            &encode_token("messages#a b"),
        ] {
            assert_eq!(
                decode_token(bad).unwrap_err().kind(),
                SessionErrorKind::InvalidInput
            );
        }
        assert_eq!(owner(crate::layout::chunk_sk(42, 3)), 42);
    }
}
