//! Sessions of the Python MinimalAgent 0.2.x: items at sort keys ≥ 1,000,000,000 (Unix
//! seconds) holding the whole history (`messages#`) or one trace (`reasoning#`) as JSON
//! strings. Read as they are while the session has no head; taken over by the first write of
//! this version; and, once taken over, a later write by a Python agent is detected and refused
//! rather than silently forked.

use agent_core::{Message, Reasoning};
use agent_session::{
    Entry, EntryBody, RunRecord, SessionError, SessionErrorKind, SessionHead, SessionId,
    SessionVersion,
};
use uuid::Uuid;

use crate::db::{Action, PutSpec, QuerySpec, TxFailure, failed_at};
use crate::errors::{corrupted, error, invalid};
use crate::head::{self, Expect, Head, python_digest};
use crate::layout::{Item, PYTHON_MIN_SK, Reader, attr, is_expired, messages_pk, reasoning_pk};
use crate::records::{NewEntry, NewRun, entry_items, run_items};
use crate::store::{DynamoSessionStore, timestamp};

/// How long after a Python item's second (its sort key) a Python agent may still write an item
/// with the same sort key, replacing it: that second, and a margin for the clocks of a fleet.
/// A session taken over within this time keeps the digest of the item it continued from in
/// its head, and every check compares it, until the time has passed.
pub(crate) const PYTHON_SAME_SECOND_S: i64 = 120;

/// The newest Python conversation item of a session.
struct PythonConversation {
    sk: i64,
    json: String,
    expiration: Option<i64>,
}

impl DynamoSessionStore {
    /// The newest unexpired Python conversation item, if any.
    async fn python_conversation(
        &self,
        session: &SessionId,
        above: i128,
        now: i64,
    ) -> Result<Option<PythonConversation>, SessionError> {
        let pk = messages_pk(session.as_str());
        let spec = QuerySpec {
            lo: Some(above.max(PYTHON_MIN_SK)),
            forward: false,
            limit: Some(1),
            ..QuerySpec::new(&pk)
        };
        let Some(item) = self.db().query(&spec).await?.into_iter().next() else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        let bad = |e: String| corrupted(&pk, r.sk_text(), e);
        let expiration = r.expiration().map_err(bad)?;
        if is_expired(expiration, now) {
            return Ok(None);
        }
        Ok(Some(PythonConversation {
            sk: r.i64(attr::SK).map_err(bad)?,
            json: r.string(attr::MESSAGES).map_err(bad)?.to_owned(),
            expiration,
        }))
    }

    /// Every unexpired Python reasoning record, oldest first: its trace, or, for a record that
    /// cannot be read, its sort key and what is wrong.
    async fn python_reasoning(
        &self,
        session: &SessionId,
        now: i64,
    ) -> Result<Vec<Result<Reasoning, (String, String)>>, SessionError> {
        let pk = reasoning_pk(session.as_str());
        let spec = QuerySpec {
            lo: Some(PYTHON_MIN_SK),
            ..QuerySpec::new(&pk)
        };
        let mut out = Vec::new();
        for item in self.db().query(&spec).await? {
            let r = Reader::new(&item);
            let bad = |e: String| (r.sk_text(), e);
            // An unreadable expiry is kept (and reported as damaged).
            if r.expiration().is_ok_and(|at| is_expired(at, now)) {
                continue;
            }
            let record = r.expiration().map_err(bad).and_then(|_| {
                let json = r.string(attr::REASONING).map_err(bad)?;
                serde_json::from_str(json).map_err(|e| bad(format!("bad reasoning record: {e}")))
            });
            out.push(record);
        }
        Ok(out)
    }

    /// The head of a session in the Python layout: version `(newest item's sk, 1)`, one entry
    /// (the whole history), one run per reasoning record.
    pub(crate) async fn python_head(
        &self,
        session: &SessionId,
        now: i64,
    ) -> Result<Option<SessionHead>, SessionError> {
        let Some(conversation) = self.python_conversation(session, 0, now).await? else {
            return Ok(None);
        };
        let runs = self.python_reasoning(session, now).await?.len() as u64;
        let version = SessionVersion::new(u64::try_from(conversation.sk).unwrap_or(0), 1);
        Ok(Some(
            SessionHead::new(version, 1, 1, runs).with_expiry(
                conversation
                    .expiration
                    .and_then(|s| timestamp(s.saturating_mul(1000))),
            ),
        ))
    }

    pub(crate) async fn python_entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
        now: i64,
    ) -> Result<Vec<Entry>, SessionError> {
        let Some(conversation) = self.python_conversation(session, 0, now).await? else {
            return Err(error(
                SessionErrorKind::NotFound,
                "the session does not exist",
            ));
        };
        if from != 1 || to != 1 {
            return Err(error(
                SessionErrorKind::NotFound,
                format!("entries {from}..={to} are outside the session's 1..=1"),
            ));
        }
        let pk = messages_pk(session.as_str());
        let messages: Vec<Message> = serde_json::from_str(&conversation.json)
            .map_err(|e| corrupted(&pk, conversation.sk, format!("bad messages JSON: {e}")))?;
        Ok(vec![Entry::new(
            1,
            EntryBody::Turn {
                run_id: Uuid::nil(),
                messages,
            },
            timestamp(conversation.sk.saturating_mul(1000)),
        )])
    }

    pub(crate) async fn python_runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
        now: i64,
    ) -> Result<Vec<RunRecord>, SessionError> {
        if self.python_conversation(session, 0, now).await?.is_none() {
            return Ok(Vec::new());
        }
        let pk = reasoning_pk(session.as_str());
        Ok(self
            .python_reasoning(session, now)
            .await?
            .into_iter()
            .zip(1u64..)
            .filter(|(_, run)| *run > after)
            .take(limit)
            .map(|(reasoning, run)| match reasoning {
                Ok(reasoning) => RunRecord::new(run, reasoning),
                Err((sk, why)) => RunRecord::damaged(run, format!("item pk=`{pk}` sk={sk}"), why),
            })
            .collect())
    }

    /// Takes over the Python session whose newest item is at `sk`: its history becomes entry
    /// 1, its reasoning records runs 1..=n, under a new head that remembers `sk`. Fails with
    /// `Conflict` when the Python agent wrote again since.
    pub(crate) async fn take_over_python(
        &self,
        session: &SessionId,
        sk: i64,
        now: i64,
    ) -> Result<Head, SessionError> {
        let Some(conversation) = self.python_conversation(session, 0, now).await? else {
            return Err(error(
                SessionErrorKind::Expired,
                "the session expired while the run ran and its data is gone",
            ));
        };
        if conversation.sk != sk {
            return Err(error(
                SessionErrorKind::Conflict,
                "the Python MinimalAgent wrote to the session since the run read it",
            ));
        }
        let sid = session.as_str();
        let (mpk, rpk) = (messages_pk(sid), reasoning_pk(sid));
        // Strict here: a trace that cannot be read is not copied into a record of ours.
        let reasoning = self
            .python_reasoning(session, now)
            .await?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(sk, why)| corrupted(&rpk, sk, why))?;
        let expiry = self.expiry(None, now);
        let mut head = Head::new_life(None, now);
        head.last_seq = 1;
        head.runs = reasoning.len() as u64;
        head.migrated_from = Some(sk);
        // While a Python agent could still write in the item's second, the history taken over
        // is remembered by its digest, to recognise the item as the one continued from.
        head.migrated_digest = Some(python_digest(&conversation.json));
        self.settle_python_digest(&mut head, now);
        head.expires_at_ms = expiry.expires_at_ms;
        head.horizon = expiry.horizon;
        // The records first (deterministic, so concurrent take-overs write the same); they are
        // invisible until the head names them.
        let mut records: Vec<Item> = Vec::new();
        for (reasoning, run) in reasoning.iter().zip(1u64..) {
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
                expiry.horizon,
                self.inner.encoding,
            )
            .map_err(invalid)?;
            records.extend(chunks);
            records.push(item);
        }
        if !records.is_empty() {
            self.db().batch_put(records).await?;
        }
        let (entry, chunks) = entry_items(
            &mpk,
            1,
            NewEntry::Migrated {
                from: sk,
                json: &conversation.json,
            },
            now,
            expiry.horizon,
            self.inner.encoding,
        )
        .map_err(invalid)?;
        let mut actions = vec![
            Action::Update(head::write(&mpk, &head, self.ttl_s(), now, Expect::Absent)),
            Action::Put(PutSpec::new(entry).if_absent(now / 1000)),
        ];
        actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
        match self.db().transact(actions).await {
            Ok(()) => {
                tracing::info!(session = %session, from = sk, "took over a Python session");
                self.remember_head(session, Some(&head));
                Ok(head)
            }
            Err(TxFailure::Error(e)) => Err(e),
            Err(TxFailure::Condition(reasons)) => {
                if failed_at(&reasons, 0).is_some() {
                    // Another process took it over first.
                    if let Some(current) = self.load_head(session).await?
                        && current.migrated_from == Some(sk)
                    {
                        return Ok(current);
                    }
                    return Err(error(
                        SessionErrorKind::Conflict,
                        "another run took the session over first",
                    ));
                }
                Err(corrupted(
                    &mpk,
                    1,
                    "an entry is stored where the take-over writes",
                ))
            }
        }
    }

    /// For a session taken over from the Python MinimalAgent: refuses it when a Python agent
    /// wrote to it since (its conversation forked). Costs one Query, for such sessions only.
    pub(crate) async fn check_mixed_fleet(
        &self,
        session: &SessionId,
        head: &Head,
        now: i64,
    ) -> Result<(), SessionError> {
        let Some(from) = head.migrated_from else {
            return Ok(());
        };
        // While the item continued from may still be replaced (a Python write in its second),
        // it is read too and compared by content; after that, only newer items are looked for.
        let above = match head.migrated_digest {
            Some(_) => i128::from(from),
            None => i128::from(from) + 1,
        };
        let Some(newest) = self.python_conversation(session, above, now).await? else {
            return Ok(());
        };
        let written_again = newest.sk != from
            || head
                .migrated_digest
                .as_ref()
                .is_some_and(|digest| *digest != python_digest(&newest.json));
        if written_again {
            let item = if newest.sk == from {
                format!("item sk={from} replaced in the same second")
            } else {
                format!("item sk={}", newest.sk)
            };
            return Err(error(
                SessionErrorKind::Incompatible,
                format!(
                    "session `{session}` was taken over from the Python MinimalAgent (its item \
                     sk={from}), and a Python agent wrote to it again since ({item}): the two \
                     versions must not share a session. Keep Python agents off sessions this \
                     version has written, or delete the session"
                ),
            ));
        }
        Ok(())
    }

    /// Drops the digest of the Python item a session continued from once no Python agent can
    /// replace that item any more ([`PYTHON_SAME_SECOND_S`]): the head's next write says so,
    /// and later checks need not read the item. Only for a head checked just before.
    pub(crate) fn settle_python_digest(&self, head: &mut Head, now_ms: i64) {
        if let Some(from) = head.migrated_from
            && now_ms.div_euclid(1000) > from.saturating_add(PYTHON_SAME_SECOND_S)
        {
            head.migrated_digest = None;
        }
    }
}
