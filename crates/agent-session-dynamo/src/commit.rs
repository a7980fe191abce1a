//! [`SessionStore::commit`]: a run's turn, its final record and optionally a summary, in ONE
//! conditional `TransactWriteItems` planned from the head the store last saw (no read in the
//! steady state). A cancelled transaction is classified from the head DynamoDB returns with
//! it (`ALL_OLD`), without another read: deleted, expired, moved on (then: did this very run
//! commit already? one Query says), or a lease taken over.
//!
//! [`SessionStore::commit`]: agent_session::SessionStore::commit

use agent_session::{Commit, Committed, SessionError, SessionErrorKind, SessionId, SessionVersion};

use crate::db::{Action, PutSpec, QuerySpec, TxFailure, failed_at};
use crate::errors::{corrupted, error, invalid};
use crate::head::{self, Expect, Head, HeadItem, HeadState};
use crate::layout::{Reader, attr, messages_pk, reasoning_pk};
use crate::records::{NewEntry, NewRun, entry_items, run_items};
use crate::retry::Backoff;
use crate::store::DynamoSessionStore;

/// Versions below this life are those of Python sessions (their life is the newest Python
/// item's sort key, in seconds); lives of this layout are milliseconds.
pub(crate) const PYTHON_LIFE_LIMIT: u64 = 100_000_000_000;

/// What a commit does, decided from the head.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Start a life (none yet, or the previous one ended), then append.
    NewLife {
        prev: Option<Head>,
    },
    /// Append to the head's life.
    Append {
        head: Head,
    },
    /// The session moved on since `base`: this run may have committed among entries `from..`.
    Moved {
        head: Head,
        from: u64,
    },
    /// Take over the Python session whose newest item is at `sk`.
    Python {
        sk: i64,
    },
    Fail(SessionErrorKind, &'static str),
}

/// Decides what a commit on `base` does with the session's head as `head`.
pub(crate) fn decide(head: Option<&Head>, base: SessionVersion, now_ms: i64) -> Decision {
    if base.is_empty() {
        return match head {
            None => Decision::NewLife { prev: None },
            Some(h) if h.is_live(now_ms) && h.has_entries() => Decision::Moved {
                head: h.clone(),
                from: h.first_seq,
            },
            Some(h) if h.is_live(now_ms) => Decision::Append { head: h.clone() },
            Some(h) => Decision::NewLife {
                prev: Some(h.clone()),
            },
        };
    }
    if base.life() < PYTHON_LIFE_LIMIT {
        return match head {
            None => Decision::Python {
                sk: i64::try_from(base.life()).unwrap_or(0),
            },
            Some(_) => Decision::Fail(
                SessionErrorKind::Conflict,
                "the session was taken over from the Python layout by another run",
            ),
        };
    }
    match head {
        None => Decision::Fail(
            SessionErrorKind::Expired,
            "the session expired while the run ran and its data is gone",
        ),
        Some(h) if h.life == base.life() => {
            if h.deleted {
                Decision::Fail(
                    SessionErrorKind::Deleted,
                    "the session was deleted while the run ran",
                )
            } else if h.last_seq != base.seq() || !h.has_entries() {
                Decision::Moved {
                    head: h.clone(),
                    from: base.seq() + 1,
                }
            } else if !h.is_live(now_ms) && !h.data_present(now_ms) {
                Decision::Fail(
                    SessionErrorKind::Expired,
                    "the session expired while the run ran and its data may be gone",
                )
            } else {
                Decision::Append { head: h.clone() }
            }
        }
        Some(h) if h.prev_life == base.life() && h.prev_deleted => Decision::Fail(
            SessionErrorKind::Deleted,
            "the session was deleted while the run ran",
        ),
        Some(h) if h.deleted => Decision::Fail(
            SessionErrorKind::Deleted,
            "the session was deleted while the run ran",
        ),
        Some(_) => Decision::Fail(
            SessionErrorKind::Expired,
            "the session expired while the run ran and was started again; the run's \
             conversation is gone",
        ),
    }
}

impl DynamoSessionStore {
    pub(crate) async fn commit_inner(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        if commit.messages.is_empty() {
            return Err(invalid(format!(
                "run {} has no messages to commit",
                commit.run_id
            )));
        }
        // The cached head saves a read when this process made the last commit; any other
        // outcome than appending is only decided on a head read from the table.
        let mut fresh = self.cached_head(session).is_none();
        let mut head = self.known_head(session).await?;
        let mut backoff = Backoff::contention();
        loop {
            let now = self.now_ms();
            if let Some(h) = &head {
                self.check_mixed_fleet(session, h, now).await?;
            }
            // A base of the Python layout, taken over since: the same conversation.
            let mut base = commit.base;
            if let Some(h) = &head
                && base.life() < PYTHON_LIFE_LIMIT
                && !base.is_empty()
                && h.migrated_from == i64::try_from(base.life()).ok()
                && h.first_seq == 1
            {
                base = SessionVersion::new(h.life, base.seq());
            }
            let decision = decide(head.as_ref(), base, now);
            // A cached head decides nothing but an append; and an append under a lease the
            // cached head does not show (its run number is newer than the cache knows) is
            // planned from a fresh read too: only a head read afresh may say that the run's
            // life ended.
            let lease_unknown = match (&decision, commit.lease) {
                (Decision::Append { head }, Some(lease)) => !head.holds_run(lease.run),
                _ => false,
            };
            // Changes to the state are applied on the state of the head the transaction is
            // conditioned on; a cached head that did not keep a large state is read afresh (a
            // head read from the table always has it).
            let state_unknown = commit.state.is_some()
                && matches!(
                    &decision,
                    Decision::Append { head } if matches!(head.state, HeadState::Unknown { .. })
                );
            if state_unknown
                || (!fresh && (lease_unknown || !matches!(decision, Decision::Append { .. })))
            {
                head = self.load_head(session).await?;
                fresh = true;
                continue;
            }
            let (prev, append_to) = match decision {
                Decision::Fail(kind, message) => return Err(error(kind, message)),
                Decision::Moved { head, from } => {
                    return self.replay_or_conflict(session, &head, from, &commit).await;
                }
                Decision::Python { sk } => {
                    head = Some(self.take_over_python(session, sk, now).await?);
                    continue;
                }
                Decision::NewLife { prev: None } if base.is_empty() => {
                    if let Some(python) = self.python_head(session, now).await? {
                        return Err(error(
                            SessionErrorKind::Conflict,
                            format!(
                                "the session is at {} (written by the Python MinimalAgent), \
                                 not empty: another run committed first",
                                python.version
                            ),
                        ));
                    }
                    (None, None)
                }
                Decision::NewLife { prev } => (prev, None),
                Decision::Append { head } => (None, Some(head)),
            };
            match self
                .write_commit(session, prev.as_ref(), append_to.as_ref(), &commit, now)
                .await?
            {
                Ok(committed) => return Ok(committed),
                Err(current) => {
                    head = current;
                    fresh = true;
                    if !backoff.wait().await {
                        return Err(error(
                            SessionErrorKind::Unavailable,
                            "the session's head kept changing; the commit was not written",
                        ));
                    }
                }
            }
        }
    }

    /// Sends the commit's transaction. `Ok(Err(head))`: the head was not as planned; here it
    /// is now (re-plan).
    async fn write_commit(
        &self,
        session: &SessionId,
        prev: Option<&Head>,
        append_to: Option<&Head>,
        commit: &Commit<'_>,
        now: i64,
    ) -> Result<Result<Committed, Option<Head>>, SessionError> {
        let sid = session.as_str();
        let (mpk, rpk) = (messages_pk(sid), reasoning_pk(sid));
        let ttl_s = self.ttl_s();
        let (mut new, expect, expiry) = match append_to {
            Some(h) => {
                let expiry = self.expiry(Some(h), now);
                (
                    h.clone(),
                    Expect::Same {
                        life: h.life,
                        last_seq: Some(h.last_seq),
                        runs: commit.lease.is_none().then_some(h.runs),
                        // A commit that changes the state pins its version; one that does not
                        // leaves it as stored (see below).
                        state: commit.state.is_some().then_some(h.state_version),
                        horizon: h.horizon,
                        live_at: None,
                    },
                    expiry,
                )
            }
            None => (
                Head::new_life(prev, now),
                match prev {
                    None => Expect::Absent,
                    Some(p) => Expect::Ended {
                        life: p.life,
                        now_ms: now,
                    },
                },
                self.expiry(None, now),
            ),
        };
        let run = match commit.lease {
            Some(lease) => {
                // `commit_inner` only gets here from a head read afresh (or returned by a
                // failed condition) when the lease is outside the head's runs.
                if !new.holds_run(lease.run) {
                    return Err(error(
                        SessionErrorKind::Expired,
                        format!(
                            "run {} belongs to a life of the session that ended",
                            lease.run
                        ),
                    ));
                }
                lease.run
            }
            None => {
                new.runs += 1;
                new.push_recent(new.runs, commit.run_id);
                new.runs
            }
        };
        // The state: DynamoDB cannot read and modify in one transaction, so the changes are
        // applied here, on the state of the head this transaction is conditioned on (its life
        // and its state's version, `state_version`; a new life: no state), and the whole new
        // state is written with the head, its version one more. `last_seq` alone would not do:
        // `update_state` changes the state without an entry, and a commit planned from a head
        // read (or cached) before it would write the older state back, the update's keys
        // lost. With the version pinned, if the condition holds, this is the state the session
        // has at the commit; if another write of the state came first, the condition fails
        // and the commit is planned again from the head as it is (returned with the failure):
        // its changes are applied on the state the update left (or, when another commit came
        // first, the run re-bases, as for any conflict). A commit without changes does not
        // pin the version and does not write the state: it stands whatever was written to it
        // since. A state too large is refused here, before anything is written.
        if let Some(changes) = commit.state {
            let Some(current) = new.state.parse(&mpk)? else {
                return Err(error(
                    SessionErrorKind::Unavailable,
                    "the session's state was not read with its head; the commit was not written",
                ));
            };
            let state = current
                .apply(changes)
                .map_err(|refused| invalid(refused.to_string()))?;
            new.state = HeadState::of(&state)?;
            new.state_version += 1;
        }
        self.settle_python_digest(&mut new, now);
        // A new life keeps at least the horizon of the one before, so that the head always
        // outlives every record ever written under it (numbers are never reused while one
        // may remain).
        let horizon = expiry.horizon.max(prev.map_or(0, |p| p.horizon));
        let mut actions = Vec::new();
        let mut puts = Vec::new();
        if let Some(summary) = commit.summary {
            new.last_seq += 1;
            new.summary_seq = Some(new.last_seq);
            let (item, chunks) = entry_items(
                &mpk,
                new.last_seq,
                NewEntry::Summary(summary),
                now,
                horizon,
                self.inner.encoding,
            )
            .map_err(invalid)?;
            puts.push(PutSpec::new(item).if_absent(now / 1000));
            actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
        }
        new.last_seq += 1;
        let seq = new.last_seq;
        if seq > crate::layout::MAX_SEQ {
            return Err(invalid(
                "the session has reached 999,999,999 entries; delete it to go on",
            ));
        }
        let (item, chunks) = entry_items(
            &mpk,
            seq,
            NewEntry::Turn {
                run_id: commit.run_id,
                run,
                messages: commit.messages,
            },
            now,
            horizon,
            self.inner.encoding,
        )
        .map_err(invalid)?;
        puts.push(PutSpec::new(item).if_absent(now / 1000));
        actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
        let (record, chunks) = run_items(
            &rpk,
            NewRun {
                run,
                reasoning: commit.reasoning,
                lease: None,
                heartbeat_at: None,
                committed_seq: Some(seq),
                lease_expires_at: None,
            },
            horizon,
            self.inner.encoding,
        )
        .map_err(invalid)?;
        let record = match commit.lease {
            Some(lease) => {
                let mut put = PutSpec::new(record);
                let name = put.expr.name(attr::LEASE);
                let value = put.expr.str("lease", lease.lease.to_string());
                put.condition = Some(format!("{name} = {value}"));
                put
            }
            None => PutSpec::new(record).if_absent(now / 1000),
        };
        actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
        new.expires_at_ms = expiry.expires_at_ms;
        new.horizon = horizon;
        // Head first, then the entries and the record: their indexes classify a failure.
        let entry_count = puts.len();
        let mut all = vec![Action::Update(head::write(&mpk, &new, ttl_s, now, expect))];
        all.extend(puts.into_iter().map(Action::Put));
        all.push(Action::Put(record));
        all.extend(actions);
        crate::db::Db::check_transaction(&all)?;
        if expiry.extend
            && let Some(h) = append_to
        {
            self.extend_records(session, h, horizon).await?;
        }
        match self.db().transact(all).await {
            Ok(()) => {
                self.remember_head(session, Some(&new));
                if let Some(lease) = &commit.lease {
                    self.fence(session, lease);
                }
                tracing::debug!(seq, run, "run committed");
                Ok(Ok(Committed::new(
                    SessionVersion::new(new.life, seq),
                    seq,
                    run,
                    false,
                )))
            }
            Err(TxFailure::Error(e)) => {
                if e.maybe_applied() {
                    self.remember_head(session, None);
                }
                Err(e)
            }
            Err(TxFailure::Condition(reasons)) => {
                if let Some(old) = failed_at(&reasons, 0) {
                    let current = match old {
                        Some(item) => match Head::parse(&mpk, item)? {
                            HeadItem::Current(h) => Some(h),
                            HeadItem::Schema2 => self.load_head(session).await?,
                        },
                        None => self.load_head(session).await?,
                    };
                    self.remember_head(session, current.as_ref());
                    return Ok(Err(current));
                }
                let record_index = 1 + entry_count;
                if let Some(old) = failed_at(&reasons, record_index) {
                    let error = self.lease_failure(session, old, run).await;
                    if let Some(lease) = &commit.lease {
                        self.fence(session, lease);
                    }
                    return Err(error);
                }
                if (1..record_index).any(|index| failed_at(&reasons, index).is_some()) {
                    // An entry we would write exists although the head passed its check:
                    // damaged data (an entry past the head), unless a head read afresh has
                    // moved, which is a conflict to re-plan, not a verdict of corruption.
                    let expected = append_to.map(|h| (h.life, h.last_seq));
                    let current = self.load_head(session).await?;
                    if current.as_ref().map(|h| (h.life, h.last_seq)) != expected {
                        self.remember_head(session, current.as_ref());
                        return Ok(Err(current));
                    }
                    return Err(corrupted(
                        &mpk,
                        seq,
                        "an entry is stored past the head's last entry",
                    ));
                }
                Err(error(
                    SessionErrorKind::Unavailable,
                    "the commit's transaction was cancelled for an unknown reason",
                ))
            }
        }
    }

    /// Whether run `commit` already committed among entries `from ..= head.last_seq` (a retry
    /// after a lost response): that commit, marked replayed; else a conflict.
    async fn replay_or_conflict(
        &self,
        session: &SessionId,
        head: &Head,
        from: u64,
        commit: &Commit<'_>,
    ) -> Result<Committed, SessionError> {
        if from <= head.last_seq {
            let pk = messages_pk(session.as_str());
            let spec = QuerySpec {
                projection: Some(&[attr::RUN_ID, attr::RUN]),
                ..QuerySpec::new(&pk).between(i128::from(from), i128::from(head.last_seq))
            };
            let wanted = commit.run_id.to_string();
            for item in self.db().query(&spec).await? {
                let r = Reader::new(&item);
                if r.opt_string(attr::RUN_ID).ok().flatten() == Some(wanted.as_str()) {
                    let seq = r
                        .u64(attr::SK)
                        .map_err(|e| corrupted(&pk, r.sk_text(), e))?;
                    let run = r.opt_u64(attr::RUN).ok().flatten().unwrap_or(0);
                    tracing::debug!(seq, "the run had already committed");
                    return Ok(Committed::new(
                        SessionVersion::new(head.life, seq),
                        seq,
                        run,
                        true,
                    ));
                }
            }
        }
        Err(error(
            SessionErrorKind::Conflict,
            format!(
                "the session is at {}, no longer at {}: another run committed first",
                head.version(),
                commit.base
            ),
        ))
    }
}
