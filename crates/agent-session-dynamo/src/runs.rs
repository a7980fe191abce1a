//! Run records and real-time events: `begin_run`, `append_events`, `heartbeat`, `finish_run`,
//! `claim_run`, and the reads `runs`, `latest_run`, `events`.

use std::collections::BTreeMap;

use agent_core::{AgentEvent, Reasoning};
use agent_session::{RunLease, RunRecord, SessionError, SessionErrorKind, SessionId, StoredEvent};
use jiff::Timestamp;

use crate::codec::Stored;
use crate::db::{Action, Expr, PutSpec, QuerySpec, TxFailure, UpdateSpec, failed_at};
use crate::errors::{corrupted, error, invalid};
use crate::head::{self, Expect, Head, HeadItem};
use crate::layout::{
    Item, MAX_EVENT_INDEX, Reader, attr, event_sk, events_pk, is_expired, key, messages_pk,
    reasoning_pk,
};
use crate::records::{NewRun, Payload, RunItem, decode_event, decode_run, event_items, run_items};
use crate::retry::Backoff;
use crate::store::{DynamoSessionStore, new_lease, timestamp};

impl DynamoSessionStore {
    /// Gives a run the next number and writes its record, in one transaction with the head
    /// (starting or restarting the session's life if need be). Retries, with backoff, while
    /// other runs take numbers first.
    async fn allocate_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        running: bool,
    ) -> Result<RunLease, SessionError> {
        let sid = session.as_str();
        let (mpk, rpk) = (messages_pk(sid), reasoning_pk(sid));
        let mut head = self.known_head(session).await?;
        let mut backoff = Backoff::contention();
        loop {
            let now = self.now_ms();
            if head.is_none()
                && let Some(python) = self.python_head(session, now).await?
            {
                let sk = i64::try_from(python.version.life()).unwrap_or(0);
                head = Some(self.take_over_python(session, sk, now).await?);
            }
            if let Some(h) = &head {
                self.check_mixed_fleet(session, h, now).await?;
            }
            let (mut new, expect, expiry) = match &head {
                Some(h) if h.is_live(now) => (
                    h.clone(),
                    Expect::Same {
                        life: h.life,
                        last_seq: None,
                        runs: Some(h.runs),
                        horizon: h.horizon,
                        live_at: Some(now),
                    },
                    self.expiry(Some(h), now),
                ),
                Some(h) => (
                    Head::new_life(Some(h), now),
                    Expect::Ended {
                        life: h.life,
                        now_ms: now,
                    },
                    self.expiry(None, now),
                ),
                None => (
                    Head::new_life(None, now),
                    Expect::Absent,
                    self.expiry(None, now),
                ),
            };
            new.runs += 1;
            new.expires_at_ms = new.expires_at_ms.max(expiry.expires_at_ms);
            // A restarted life keeps at least the old horizon (see `commit`).
            new.horizon = expiry.horizon.max(head.as_ref().map_or(0, |h| h.horizon));
            let lease = RunLease {
                run: new.runs,
                lease: new_lease(),
            };
            let (record, chunks) = run_items(
                &rpk,
                NewRun {
                    run: lease.run,
                    reasoning,
                    lease: running.then_some(lease.lease),
                    heartbeat_at: running.then_some(now),
                    committed_seq: None,
                },
                new.horizon,
                self.inner.encoding,
            )
            .map_err(invalid)?;
            let mut actions = vec![
                Action::Update(head::write(&mpk, &new, self.ttl_s(), now, expect)),
                Action::Put(PutSpec::new(record).if_absent(now / 1000)),
            ];
            actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
            crate::db::Db::check_transaction(&actions)?;
            if expiry.extend
                && let Some(h) = &head
            {
                self.extend_records(session, h, expiry.horizon).await?;
            }
            match self.db().transact(actions).await {
                Ok(()) => {
                    self.remember_head(session, Some(&new));
                    return Ok(lease);
                }
                Err(TxFailure::Error(e)) => {
                    if e.maybe_applied() {
                        self.remember_head(session, None);
                    }
                    return Err(e);
                }
                Err(TxFailure::Condition(reasons)) => {
                    if let Some(old) = failed_at(&reasons, 0) {
                        head = match old {
                            Some(item) => match Head::parse(&mpk, item)? {
                                HeadItem::Current(h) => Some(h),
                                HeadItem::Schema2 => self.load_head(session).await?,
                            },
                            None => self.load_head(session).await?,
                        };
                        self.remember_head(session, head.as_ref());
                        if !backoff.wait().await {
                            return Err(error(
                                SessionErrorKind::Unavailable,
                                "other runs kept taking the next run number for 30 s",
                            ));
                        }
                        continue;
                    }
                    return Err(corrupted(
                        &rpk,
                        lease.run,
                        "a run record is stored past the head's last run",
                    ));
                }
            }
        }
    }

    pub(crate) async fn begin_run_inner(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
    ) -> Result<RunLease, SessionError> {
        self.allocate_run(session, reasoning, true).await
    }

    pub(crate) async fn finish_run_inner(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let Some(lease) = lease else {
            return Ok(self.allocate_run(session, reasoning, false).await?.run);
        };
        if self.is_fenced(session, lease) {
            return Err(taken_over(lease.run));
        }
        let now = self.now_ms();
        let rpk = reasoning_pk(session.as_str());
        let (record, chunks) = run_items(
            &rpk,
            NewRun {
                run: lease.run,
                reasoning,
                lease: None,
                heartbeat_at: Some(now),
                committed_seq: None,
            },
            self.loose_expiration(session, now),
            self.inner.encoding,
        )
        .map_err(invalid)?;
        if !chunks.is_empty() {
            self.db().batch_put(chunks).await?;
        }
        let mut put = PutSpec::new(record);
        let name = put.expr.name(attr::LEASE);
        let value = put.expr.str("lease", lease.lease.to_string());
        put.condition = Some(format!("{name} = {value}"));
        match self.db().put(put).await? {
            Ok(()) => {
                self.fence(session, lease);
                Ok(lease.run)
            }
            Err(old) => {
                let error = self.lease_failure(session, old.as_ref(), lease.run).await;
                self.fence(session, lease);
                Err(error)
            }
        }
    }

    pub(crate) async fn heartbeat_inner(
        &self,
        session: &SessionId,
        lease: &RunLease,
    ) -> Result<(), SessionError> {
        if self.is_fenced(session, lease) {
            return Err(taken_over(lease.run));
        }
        // A run of a life that ended (known from the cached head, so at no cost).
        if let Some(head) = self.cached_head(session)
            && lease.run < head.first_run
        {
            return Err(if head.prev_deleted {
                error(
                    SessionErrorKind::Deleted,
                    "the session was deleted while the run ran",
                )
            } else {
                error(
                    SessionErrorKind::Expired,
                    "the session expired while the run ran and was started again",
                )
            });
        }
        let now = self.now_ms();
        let rpk = reasoning_pk(session.as_str());
        let mut e = Expr::default();
        let update = format!("SET {} = {}", e.name(attr::HEARTBEAT_AT), e.num("now", now));
        let condition = format!(
            "{} = {}",
            e.name(attr::LEASE),
            e.str("lease", lease.lease.to_string())
        );
        let spec = UpdateSpec {
            key: key(&rpk, i128::from(lease.run)),
            update,
            condition: Some(condition),
            expr: e,
        };
        if let Err(old) = self.db().update(spec).await? {
            let error = self.lease_failure(session, old.as_ref(), lease.run).await;
            self.fence(session, lease);
            return Err(error);
        }
        self.keep_alive(session, now).await
    }

    /// Pushes the head's expiry forward when it is within half a time to live of expiring, so
    /// that a long run never sees its session expire: at most one write per half TTL.
    async fn keep_alive(&self, session: &SessionId, now: i64) -> Result<(), SessionError> {
        let Some(head) = self.known_head(session).await? else {
            return Ok(());
        };
        if !head.is_live(now) || head.expires_at_ms - now > self.ttl_ms() / 2 {
            return Ok(());
        }
        let expiry = self.expiry(Some(&head), now);
        if expiry.extend {
            self.extend_records(session, &head, expiry.horizon).await?;
        }
        let mut new = head.clone();
        new.expires_at_ms = expiry.expires_at_ms;
        new.horizon = expiry.horizon;
        let mpk = messages_pk(session.as_str());
        let spec = head::write(
            &mpk,
            &new,
            self.ttl_s(),
            now,
            Expect::Same {
                life: head.life,
                last_seq: None,
                runs: None,
                horizon: head.horizon,
                live_at: Some(now),
            },
        );
        match self.db().update(spec).await? {
            Ok(item) => {
                if let HeadItem::Current(h) = Head::parse(&mpk, &item)? {
                    self.remember_head(session, Some(&h));
                }
            }
            // Someone else moved it (a commit pushes the expiry too): read it next time.
            Err(_) => self.remember_head(session, None),
        }
        Ok(())
    }

    pub(crate) async fn claim_run_inner(
        &self,
        session: &SessionId,
        run: u64,
        last_heartbeat: Option<Timestamp>,
    ) -> Result<RunLease, SessionError> {
        let now = self.now_ms();
        let head = self.load_head(session).await?;
        let Some(head) = head.filter(|h| h.is_live(now)) else {
            return Err(error(
                SessionErrorKind::NotFound,
                "the session does not exist",
            ));
        };
        if run < head.first_run || run > head.runs {
            return Err(error(
                SessionErrorKind::NotFound,
                format!("run {run} does not exist"),
            ));
        }
        let lease = RunLease {
            run,
            lease: new_lease(),
        };
        let mut e = Expr::default();
        let update = format!(
            "SET {} = {}, {} = {}",
            e.name(attr::LEASE),
            e.str("lease", lease.lease.to_string()),
            e.name(attr::HEARTBEAT_AT),
            e.num("now", now)
        );
        let heartbeat = match last_heartbeat {
            Some(at) => format!(
                "{} = {}",
                e.name(attr::HEARTBEAT_AT),
                e.num("seen", at.as_millisecond())
            ),
            None => format!("attribute_not_exists({})", e.name(attr::HEARTBEAT_AT)),
        };
        let condition = format!(
            "{} = {} AND attribute_exists({}) AND {heartbeat}",
            e.name(attr::STATUS),
            e.str("running", "running"),
            e.name(attr::LEASE)
        );
        let spec = UpdateSpec {
            key: key(&reasoning_pk(session.as_str()), i128::from(run)),
            update,
            condition: Some(condition),
            expr: e,
        };
        match self.db().update(spec).await? {
            Ok(_) => Ok(lease),
            Err(None) => Err(error(
                SessionErrorKind::NotFound,
                format!("run {run} does not exist"),
            )),
            Err(Some(old)) => {
                let r = Reader::new(&old);
                let ended = r.string(attr::STATUS).ok() != Some("running") || !r.has(attr::LEASE);
                Err(error(
                    SessionErrorKind::Conflict,
                    if ended {
                        format!("run {run} has ended")
                    } else {
                        format!("run {run} is alive or was claimed by another process")
                    },
                ))
            }
        }
    }

    /// Why a write under a lease failed, from the run record as it was (`ALL_OLD`).
    pub(crate) async fn lease_failure(
        &self,
        session: &SessionId,
        old: Option<&Item>,
        run: u64,
    ) -> SessionError {
        if old.is_some() {
            return taken_over(run);
        }
        match self.load_head(session).await {
            Ok(Some(head)) if !head.deleted && run >= head.first_run && run <= head.runs => error(
                SessionErrorKind::NotFound,
                format!("run {run} does not exist"),
            ),
            Ok(Some(head)) if !head.deleted && head.prev_deleted && run < head.first_run => error(
                SessionErrorKind::Deleted,
                "the session was deleted while the run ran",
            ),
            Ok(Some(head)) if !head.deleted && run < head.first_run => error(
                SessionErrorKind::Expired,
                "the session expired while the run ran and was started again",
            ),
            Ok(_) => error(
                SessionErrorKind::Deleted,
                "the session was deleted while the run ran",
            ),
            Err(e) => e,
        }
    }

    pub(crate) async fn append_events_inner(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        if self.is_fenced(session, lease) {
            return Err(taken_over(lease.run));
        }
        if lease.run == 0 || lease.run > u64::from(u32::MAX) {
            return Err(invalid(format!("run {} does not exist", lease.run)));
        }
        // One write per index: the last one given wins.
        let mut by_index: BTreeMap<u32, &AgentEvent> = BTreeMap::new();
        for event in events {
            if event.index == 0 || event.index > MAX_EVENT_INDEX {
                return Err(invalid(format!(
                    "event index {} is outside 1..={MAX_EVENT_INDEX}",
                    event.index
                )));
            }
            by_index.insert(event.index, &event.event);
        }
        let now = self.now_ms();
        let expiration = self.loose_expiration(session, now);
        let pk = events_pk(session.as_str());
        let (mut chunks, mut items) = (Vec::new(), Vec::new());
        for (index, event) in by_index {
            let (item, parts) = event_items(
                &pk,
                lease.run,
                index,
                event,
                expiration,
                self.inner.encoding,
            )
            .map_err(invalid)?;
            chunks.extend(parts);
            items.push(item);
        }
        // Chunks before the events that name them.
        if !chunks.is_empty() {
            self.db().batch_put(chunks).await?;
        }
        self.db().batch_put(items).await
    }

    pub(crate) async fn runs_inner(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        let now = self.now_ms();
        let Some(head) = self.load_head(session).await? else {
            return self.python_runs(session, after, limit, now).await;
        };
        if !head.is_live(now) || limit == 0 {
            return Ok(Vec::new());
        }
        let from = after.saturating_add(1).max(head.first_run);
        if from > head.runs {
            return Ok(Vec::new());
        }
        let pk = reasoning_pk(session.as_str());
        let spec = QuerySpec {
            limit: Some(limit),
            ..QuerySpec::new(&pk).between(i128::from(from), i128::from(head.runs))
        };
        let items = self.db().query(&spec).await?;
        let mut records = Vec::new();
        let mut expected = from;
        for item in &items {
            let run =
                decode_run(item).map_err(|e| corrupted(&pk, Reader::new(item).sk_text(), e))?;
            if run.run != expected {
                return Err(corrupted(
                    &pk,
                    expected,
                    "the run record is missing: the runs have a gap",
                ));
            }
            records.push(self.run_record(&pk, run, now).await?);
            expected += 1;
        }
        let wanted = (head.runs - from + 1).min(limit as u64);
        if records.len() as u64 != wanted {
            return Err(corrupted(
                &pk,
                expected,
                format!(
                    "the run record is missing: the head says runs go on to {}",
                    head.runs
                ),
            ));
        }
        Ok(records)
    }

    pub(crate) async fn latest_run_inner(
        &self,
        session: &SessionId,
    ) -> Result<Option<RunRecord>, SessionError> {
        let now = self.now_ms();
        let Some(head) = self.load_head(session).await? else {
            return Ok(self.python_runs(session, 0, usize::MAX, now).await?.pop());
        };
        if !head.is_live(now) || head.runs < head.first_run {
            return Ok(None);
        }
        let pk = reasoning_pk(session.as_str());
        let Some(item) = self.db().get(&pk, i128::from(head.runs)).await? else {
            return Err(corrupted(
                &pk,
                head.runs,
                "the run record is missing: the head says it exists",
            ));
        };
        let run = decode_run(&item).map_err(|e| corrupted(&pk, head.runs, e))?;
        Ok(Some(self.run_record(&pk, run, now).await?))
    }

    /// A run record with its reasoning decoded.
    async fn run_record(
        &self,
        pk: &str,
        item: RunItem,
        now: i64,
    ) -> Result<RunRecord, SessionError> {
        if is_expired(item.expiration, now) {
            return Err(corrupted(
                pk,
                item.run,
                "the run record expired before its session",
            ));
        }
        let json = self
            .payload_json(
                pk,
                i128::from(item.run),
                Payload::Current(item.payload),
                now,
            )
            .await?;
        let reasoning: Reasoning = serde_json::from_str(&json)
            .map_err(|e| corrupted(pk, item.run, format!("bad reasoning JSON: {e}")))?;
        let mut record = RunRecord::new(item.run, reasoning);
        record.lease = item.lease;
        record.heartbeat_at = item.heartbeat_at.and_then(timestamp);
        record.committed_seq = item.committed_seq;
        Ok(record)
    }

    pub(crate) async fn events_inner(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        let now = self.now_ms();
        let Some(head) = self.load_head(session).await? else {
            return Ok(Vec::new());
        };
        if !head.is_live(now)
            || run < head.first_run
            || run > head.runs
            || limit == 0
            || after >= MAX_EVENT_INDEX
        {
            return Ok(Vec::new());
        }
        let pk = events_pk(session.as_str());
        let spec = QuerySpec {
            limit: Some(limit),
            ..QuerySpec::new(&pk).between(event_sk(run, after + 1), event_sk(run, MAX_EVENT_INDEX))
        };
        let mut events = Vec::new();
        let mut expected = after + 1;
        for item in self.db().query(&spec).await? {
            let event = decode_event(&item, run)
                .map_err(|e| corrupted(&pk, Reader::new(&item).sk_text(), e))?;
            if is_expired(event.expiration, now) {
                // Left by an earlier life of the session, waiting for DynamoDB's TTL.
                continue;
            }
            if event.index != expected {
                // Not written yet (an append in progress): the events so far.
                break;
            }
            let json = match event.payload {
                Stored::Chunked { .. } => {
                    self.payload_json(&pk, event.sk, Payload::Current(event.payload), now)
                        .await?
                }
                stored => {
                    crate::codec::inline_json(stored).map_err(|e| corrupted(&pk, event.sk, e))?
                }
            };
            let value: AgentEvent = serde_json::from_str(&json)
                .map_err(|e| corrupted(&pk, event.sk, format!("bad event JSON: {e}")))?;
            events.push(StoredEvent {
                index: event.index,
                event: value,
            });
            expected += 1;
        }
        Ok(events)
    }
}

fn taken_over(run: u64) -> SessionError {
    error(
        SessionErrorKind::Conflict,
        format!("run {run} is held by another process now, or has ended"),
    )
}
