//! Run records and real-time events: `begin_run`, `append_events`, `heartbeat`, `finish_run`,
//! `claim_run`, and the reads `runs`, `latest_run`, `events`.

use std::collections::BTreeMap;
use std::time::Duration;

use agent_core::{AgentEvent, Reasoning, RunStatus};
use agent_session::{
    RunClaim, RunLease, RunRecord, SessionError, SessionErrorKind, SessionId, StoredEvent,
};
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use uuid::Uuid;

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
use crate::store::{DynamoSessionStore, timestamp};

/// At most this many stand-ins for records that cannot be read ([`RunRecord::damaged`]) in one
/// page of `runs`: a head claiming billions of runs past the data must not make a reader
/// allocate them all. The page ends early there.
const MAX_DAMAGED_PER_PAGE: usize = 1000;

/// What a run number is taken for.
#[derive(Debug, Clone, Copy)]
enum Allocation {
    /// `begin_run`: a running record under a new lease lasting this long.
    Begin { lease_for: Duration },
    /// `finish_run` without a lease: a final record.
    Finish,
}

/// What a record of the same run id found among the head's newest runs means.
enum Earlier {
    /// The call was made before and its record is there: its answer.
    Done(RunLease),
    /// Not this call's record (a running record of a run now finished without its lease):
    /// take a number all the same.
    Ignore,
}

/// The end of a lease that lasts `lease_for` from `now_ms` (ms, saturating at the latest
/// time a timestamp holds).
pub(crate) fn lease_end(now_ms: i64, lease_for: Duration) -> i64 {
    let lease = i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX);
    now_ms
        .saturating_add(lease)
        .min(Timestamp::MAX.as_millisecond())
}

impl DynamoSessionStore {
    /// Gives a run the next number and writes its record, in one transaction with the head
    /// (starting or restarting the session's life if need be). Retries, with backoff, while
    /// other runs take numbers first. Idempotent by run id: the head keeps the ids of its
    /// newest runs, so a call repeated after a lost answer finds its record (one `GetItem`,
    /// only then) instead of taking a second number; the transaction's condition on the run
    /// count makes the head it checked the one it writes.
    async fn allocate_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        allocation: Allocation,
    ) -> Result<RunLease, SessionError> {
        let sid = session.as_str();
        let (mpk, rpk) = (messages_pk(sid), reasoning_pk(sid));
        let mut head = self.known_head(session).await?;
        let mut backoff = Backoff::contention();
        let mut ignored: Option<u64> = None;
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
                if let Some(run) = h.recent_run(reasoning.run_id)
                    && ignored != Some(run)
                {
                    match self
                        .earlier_run(session, run, reasoning, allocation)
                        .await?
                    {
                        Earlier::Done(lease) => return Ok(lease),
                        Earlier::Ignore => ignored = Some(run),
                    }
                }
            }
            let (mut new, expect, expiry) = match &head {
                Some(h) if h.is_live(now) => (
                    h.clone(),
                    Expect::Same {
                        life: h.life,
                        last_seq: None,
                        runs: Some(h.runs),
                        state: None,
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
            new.push_recent(new.runs, reasoning.run_id);
            self.settle_python_digest(&mut new, now);
            new.expires_at_ms = new.expires_at_ms.max(expiry.expires_at_ms);
            // A restarted life keeps at least the old horizon (see `commit`).
            new.horizon = expiry.horizon.max(head.as_ref().map_or(0, |h| h.horizon));
            // A begun run's first lease is its run id, so a begin repeated after a lost answer
            // is recognised; a lease-less finish holds none.
            let lease = RunLease::new(new.runs, reasoning.run_id);
            let running = match allocation {
                Allocation::Begin { lease_for } => Some(lease_end(now, lease_for)),
                Allocation::Finish => None,
            };
            let (record, chunks) = run_items(
                &rpk,
                NewRun {
                    run: lease.run,
                    reasoning,
                    lease: running.map(|_| lease.lease),
                    heartbeat_at: running.map(|_| now),
                    committed_seq: None,
                    lease_expires_at: running,
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
                        // The head as it is now may name this very run (a repeated call):
                        // looked at before any wait.
                        if head
                            .as_ref()
                            .and_then(|h| h.recent_run(reasoning.run_id))
                            .is_some_and(|run| ignored != Some(run))
                        {
                            continue;
                        }
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

    /// Run `run` of the head's newest runs has this call's run id: reads its record (strongly
    /// consistent) to answer as the first call did, or says to take a number after all.
    async fn earlier_run(
        &self,
        session: &SessionId,
        run: u64,
        reasoning: &Reasoning,
        allocation: Allocation,
    ) -> Result<Earlier, SessionError> {
        let rpk = reasoning_pk(session.as_str());
        let Some(item) = self.db().get(&rpk, i128::from(run)).await? else {
            return Err(corrupted(
                &rpk,
                run,
                "the run record is missing: the head says it exists",
            ));
        };
        let record = decode_run(&item).map_err(|e| corrupted(&rpk, run, e))?;
        let same_run = Reader::new(&item).opt_string(attr::RUN_ID).ok().flatten()
            == Some(reasoning.run_id.to_string().as_str());
        let running = record.status == agent_core::RunStatus::Running.as_str();
        match allocation {
            // A begun run's first lease is its run id: only that lease, still held, is this
            // call's; another means another process claimed the run since.
            Allocation::Begin { .. } => match record.lease {
                Some(lease) if same_run && running && lease == reasoning.run_id => {
                    tracing::debug!(run, "the run had begun already");
                    Ok(Earlier::Done(RunLease::new(run, lease)))
                }
                _ => Err(error(
                    SessionErrorKind::Conflict,
                    format!("run {run} was begun before and has ended or was taken over"),
                )),
            },
            Allocation::Finish
                if same_run && kept(&record.status, record.lease.is_some(), reasoning) =>
            {
                tracing::debug!(run, "the run's record was written already");
                Ok(Earlier::Done(RunLease::new(run, Uuid::nil())))
            }
            Allocation::Finish => Ok(Earlier::Ignore),
        }
    }

    pub(crate) async fn begin_run_inner(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        self.allocate_run(session, reasoning, Allocation::Begin { lease_for })
            .await
    }

    pub(crate) async fn finish_run_inner(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let Some(lease) = lease else {
            return Ok(self
                .allocate_run(session, reasoning, Allocation::Finish)
                .await?
                .run);
        };
        // No refusal of a fenced lease here: a lease this store saw end may have ended with
        // this very run's commit or finish, whose record is then kept (the condition below
        // says which).
        let now = self.now_ms();
        let rpk = reasoning_pk(session.as_str());
        // The record is built with a heartbeat so that its size counts one, but the write keeps
        // the stored heartbeat (a paused run is claimed on it).
        let (mut record, chunks) = run_items(
            &rpk,
            NewRun {
                run: lease.run,
                reasoning,
                lease: None,
                heartbeat_at: Some(now),
                committed_seq: None,
                lease_expires_at: None,
            },
            self.loose_expiration(session, now),
            self.inner.encoding,
        )
        .map_err(invalid)?;
        if !chunks.is_empty() {
            // Chunks are written before their record, and would replace those of a final
            // record kept: look first.
            let current = self.db().get(&rpk, i128::from(lease.run)).await?;
            if !current.as_ref().is_some_and(|item| held_by(item, lease)) {
                return self
                    .finish_refused(session, current.as_ref(), lease, reasoning)
                    .await;
            }
            self.db().batch_put(chunks).await?;
        }
        record.remove(attr::HEARTBEAT_AT);
        let mut e = Expr::default();
        let condition = format!(
            "{} = {}",
            e.name(attr::LEASE),
            e.str("c_lease", lease.lease.to_string())
        );
        let spec = replace_record(&rpk, lease.run, record, e, condition);
        match self.db().update(spec).await? {
            Ok(_) => {
                self.fence(session, lease);
                Ok(lease.run)
            }
            Err(old) => {
                self.finish_refused(session, old.as_ref(), lease, reasoning)
                    .await
            }
        }
    }

    /// A `finish_run` whose record was not under its lease any more (`old`: the record as it
    /// is): the run's own final record (a repeated call, or its commit whose answer was lost)
    /// is kept and its number returned, and so is its paused record when the call pauses it
    /// again (a pause repeated after a lost answer); anything else is refused.
    async fn finish_refused(
        &self,
        session: &SessionId,
        old: Option<&Item>,
        lease: &RunLease,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        self.fence(session, lease);
        if let Some(item) = old {
            let r = Reader::new(item);
            let same_run = !reasoning.run_id.is_nil()
                && r.opt_string(attr::RUN_ID).ok().flatten()
                    == Some(reasoning.run_id.to_string().as_str());
            let kept = r
                .string(attr::STATUS)
                .is_ok_and(|status| kept(status, r.has(attr::LEASE), reasoning));
            if same_run && kept {
                tracing::debug!(run = lease.run, "the run's final record is kept");
                return Ok(lease.run);
            }
        }
        Err(self.lease_failure(session, old, lease.run).await)
    }

    pub(crate) async fn heartbeat_inner(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        if self.is_fenced(session, lease) {
            return Err(taken_over(lease.run));
        }
        // A run of a life that ended: the cached head hints at it, a head read afresh decides.
        if self
            .cached_head(session)
            .is_some_and(|head| lease.run < head.first_run)
            && let Some(head) = self.load_head(session).await?
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
        let update = format!(
            "SET {} = {}, {} = {}",
            e.name(attr::HEARTBEAT_AT),
            e.num("now", now),
            e.name(attr::LEASE_EXPIRES_AT),
            e.num("until", lease_end(now, lease_for))
        );
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
            item_size: None,
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
                state: None,
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
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        let run = claim.run;
        let now = self.now_ms();
        let head = self.load_head(session).await?;
        let Some(head) = head.filter(|h| h.is_live(now)) else {
            return Err(error(
                SessionErrorKind::NotFound,
                "the session does not exist",
            ));
        };
        if !head.holds_run(run) {
            return Err(error(
                SessionErrorKind::NotFound,
                format!("run {run} does not exist"),
            ));
        }
        let lease = RunLease::new(run, claim.lease);
        let until = lease_end(now, claim.lease_for);
        let rpk = reasoning_pk(session.as_str());
        // One conditional write, compared in DynamoDB with the record as stored (never a read,
        // then a write): its heartbeat as the claimant saw it, and its lease expired by this
        // store's clock; and either the run still running under a lease, or paused (it holds
        // no lease, and its heartbeat alone decides: of several claimants, one wins).
        let mut e = Expr::default();
        let heartbeat = match claim.last_heartbeat {
            Some(at) => format!(
                "{} = {}",
                e.name(attr::HEARTBEAT_AT),
                e.num("seen", at.as_millisecond())
            ),
            None => format!("attribute_not_exists({})", e.name(attr::HEARTBEAT_AT)),
        };
        let (status, held, expires) = (
            e.name(attr::STATUS),
            e.name(attr::LEASE),
            e.name(attr::LEASE_EXPIRES_AT),
        );
        let condition = format!(
            "{heartbeat} AND (attribute_not_exists({expires}) OR {expires} <= {}) AND \
             (({status} = {} AND attribute_exists({held})) OR \
             ({status} = {} AND attribute_not_exists({held})))",
            e.num("now", now),
            e.str("running", RunStatus::Running.as_str()),
            e.str("paused", RunStatus::Paused.as_str()),
        );
        let written = match &claim.reasoning {
            // The lease alone.
            None => {
                let update = format!(
                    "SET {held} = {}, {} = {}, {expires} = {}",
                    e.str("lease", lease.lease.to_string()),
                    e.name(attr::HEARTBEAT_AT),
                    e.num("v_now", now),
                    e.num("until", until)
                );
                let spec = UpdateSpec {
                    key: key(&rpk, i128::from(run)),
                    update,
                    condition: Some(condition),
                    expr: e,
                    item_size: None,
                };
                self.db().update(spec).await?.map(|_| ())
            }
            // The claimant's record with the lease (a paused run continued is `running`
            // again), in the same conditional write.
            Some(reasoning) => {
                let (record, chunks) = run_items(
                    &rpk,
                    NewRun {
                        run,
                        reasoning,
                        lease: Some(lease.lease),
                        heartbeat_at: Some(now),
                        committed_seq: None,
                        lease_expires_at: Some(until),
                    },
                    self.loose_expiration(session, now),
                    self.inner.encoding,
                )
                .map_err(invalid)?;
                let spec = replace_record(&rpk, run, record, e, condition);
                if chunks.is_empty() {
                    self.db().update(spec).await?.map(|_| ())
                } else {
                    // Chunks replace the stored record's: in one transaction with the
                    // conditional write, so a claim that loses writes none.
                    let mut actions = vec![Action::Update(spec)];
                    actions.extend(chunks.into_iter().map(|c| Action::Put(PutSpec::new(c))));
                    match self.db().transact(actions).await {
                        Ok(()) => Ok(()),
                        Err(TxFailure::Error(e)) => return Err(e),
                        Err(TxFailure::Condition(reasons)) => match failed_at(&reasons, 0) {
                            Some(old) => Err(old.cloned()),
                            None => {
                                return Err(error(
                                    SessionErrorKind::Unavailable,
                                    "the claim's transaction was cancelled for an unknown reason",
                                ));
                            }
                        },
                    }
                }
            }
        };
        match written {
            Ok(()) => Ok(lease),
            Err(None) => Err(error(
                SessionErrorKind::NotFound,
                format!("run {run} does not exist"),
            )),
            Err(Some(old)) => {
                let r = Reader::new(&old);
                if r.opt_string(attr::LEASE).ok().flatten()
                    == Some(claim.lease.to_string().as_str())
                {
                    // This claim's own, repeated after a lost answer.
                    return Ok(lease);
                }
                let status = r.string(attr::STATUS).ok();
                let paused = status == Some(RunStatus::Paused.as_str()) && !r.has(attr::LEASE);
                let ended =
                    !paused && (status != Some(RunStatus::Running.as_str()) || !r.has(attr::LEASE));
                let heartbeat = r.opt_i64(attr::HEARTBEAT_AT).ok().flatten();
                let seen = claim.last_heartbeat.map(Timestamp::as_millisecond);
                Err(error(
                    SessionErrorKind::Conflict,
                    if ended {
                        format!("run {run} has ended")
                    } else if paused && heartbeat != seen {
                        format!("run {run} was answered by another process")
                    } else if heartbeat != seen {
                        format!("run {run} is alive or was claimed by another process")
                    } else {
                        format!("run {run} is alive: its lease has not expired")
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
        // Every number `from ..= runs` up to `limit` has a record: the stored one, or a
        // stand-in for one that is missing or cannot be read, in its place.
        let last = head
            .runs
            .min(from.saturating_add(u64::try_from(limit).unwrap_or(u64::MAX) - 1));
        let mut records = Vec::new();
        let mut damaged = 0usize;
        let mut missing = |records: &mut Vec<RunRecord>, run: u64| {
            if damaged == MAX_DAMAGED_PER_PAGE {
                return false;
            }
            damaged += 1;
            records.push(RunRecord::damaged(
                run,
                record_key(&pk, run),
                format!(
                    "the run record is missing: the head says runs go on to {}",
                    head.runs
                ),
            ));
            true
        };
        let mut expected = from;
        'items: for item in &items {
            let Ok(run) = Reader::new(item).u64(attr::SK) else {
                continue;
            };
            if run < expected || run > last {
                continue;
            }
            while expected < run {
                if !missing(&mut records, expected) {
                    break 'items;
                }
                expected += 1;
            }
            records.push(self.stored_record(&pk, item, now).await?);
            expected += 1;
        }
        while expected <= last && missing(&mut records, expected) {
            expected += 1;
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
        Ok(Some(
            match self.db().get(&pk, i128::from(head.runs)).await? {
                Some(item) => self.stored_record(&pk, &item, now).await?,
                None => RunRecord::damaged(
                    head.runs,
                    record_key(&pk, head.runs),
                    "the run record is missing: the head says it exists",
                ),
            },
        ))
    }

    /// A stored run record, decoded; a record that cannot be read is a stand-in saying why
    /// ([`RunRecord::damaged`]), so one damaged record never hides the others. Errors are
    /// only those of DynamoDB (reading chunks).
    async fn stored_record(
        &self,
        pk: &str,
        item: &Item,
        now: i64,
    ) -> Result<RunRecord, SessionError> {
        let r = Reader::new(item);
        let number = r.u64(attr::SK).unwrap_or(0);
        let damaged = |why: String| RunRecord::damaged(number, record_key(pk, r.sk_text()), why);
        let run = match decode_run(item) {
            Ok(run) => run,
            Err(why) => return Ok(damaged(why)),
        };
        match self.run_record(pk, run, now).await {
            Ok(record) => Ok(record),
            Err(e) if e.kind() == SessionErrorKind::CorruptedData => {
                tracing::warn!(error = %e, "a run record cannot be read");
                let prefix = format!("{}: ", record_key(pk, r.sk_text()));
                let why = e.message().strip_prefix(&prefix).unwrap_or(e.message());
                Ok(damaged(why.to_owned()))
            }
            Err(e) => Err(e),
        }
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
        record.lease_expires_at = item.lease_expires_at.and_then(timestamp);
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
            events.push(StoredEvent::new(event.index, value));
            expected += 1;
        }
        Ok(events)
    }
}

/// Whether a run status, as stored, is final ([`RunStatus::is_final`]: not running, paused or
/// interrupted).
fn is_final(status: &str) -> bool {
    ![
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Interrupted,
    ]
    .iter()
    .any(|going_on| going_on.as_str() == status)
}

/// Whether a `finish_run` of `reasoning` keeps the stored record of the same run (its status,
/// and whether it holds a lease) rather than write: a final record (the call repeated after a
/// lost answer, or the run's commit), or a paused one without a lease when the call pauses the
/// run (a pause repeated).
fn kept(status: &str, has_lease: bool, reasoning: &Reasoning) -> bool {
    is_final(status)
        || (status == RunStatus::Paused.as_str()
            && !has_lease
            && reasoning.status == RunStatus::Paused)
}

/// Every attribute a run record of this version may hold besides its key.
const RECORD_ATTRIBUTES: [&str; 14] = [
    attr::SCHEMA,
    attr::KIND,
    attr::RUN_ID,
    attr::STATUS,
    attr::LEASE,
    attr::HEARTBEAT_AT,
    attr::COMMITTED_SEQ,
    attr::LEASE_EXPIRES_AT,
    attr::EXPIRATION_TIME,
    attr::REASONING,
    attr::ENC,
    attr::SIZE,
    attr::CHUNKS,
    attr::BLOB,
];

/// An update that makes the stored record of run `run` in partition `pk` `record` (as
/// [`run_items`] makes it), on `condition` (written with `e`): every attribute of `record`
/// set, every other attribute a record may hold removed — except `heartbeat_at` when `record`
/// has none, which keeps the stored one (what a `PutItem` of the record could not do).
fn replace_record(pk: &str, run: u64, record: Item, mut e: Expr, condition: String) -> UpdateSpec {
    let size = crate::size::item_size(&record);
    let mut attributes: Vec<(&String, &AttributeValue)> = record
        .iter()
        .filter(|(name, _)| *name != attr::PK && *name != attr::SK)
        .collect();
    attributes.sort_by(|a, b| a.0.cmp(b.0));
    let sets: Vec<String> = attributes
        .into_iter()
        .map(|(name, value)| {
            let placeholder = e.name(name);
            let value = e.value(&format!("v_{name}"), value.clone());
            format!("{placeholder} = {value}")
        })
        .collect();
    let removes: Vec<String> = RECORD_ATTRIBUTES
        .into_iter()
        .filter(|name| *name != attr::HEARTBEAT_AT && !record.contains_key(*name))
        .map(|name| e.name(name))
        .collect();
    let mut update = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        update.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    UpdateSpec {
        key: key(pk, i128::from(run)),
        update,
        condition: Some(condition),
        expr: e,
        item_size: Some(size),
    }
}

/// How a run record is named in a stand-in for it ([`RunRecord::damaged`]).
fn record_key(pk: &str, sk: impl std::fmt::Display) -> String {
    format!("item pk=`{pk}` sk={sk}")
}

/// Whether the stored run record is held under `lease`.
fn held_by(item: &Item, lease: &RunLease) -> bool {
    Reader::new(item).opt_string(attr::LEASE).ok().flatten()
        == Some(lease.lease.to_string().as_str())
}

fn taken_over(run: u64) -> SessionError {
    error(
        SessionErrorKind::Conflict,
        format!("run {run} is held by another process now, or has ended"),
    )
}
