//! Forking a session: a new session holding another's conversation up to a run, or a step
//! within it, on the same store or another one, linked both ways.

use std::collections::HashMap;
use std::sync::Arc;

use agent_core::{Message, Role, RunStatus, SessionState, StateChanges};
use agent_session::{
    Commit, EntryBody, RunRecord, SessionError, SessionErrorKind, SessionId, SessionStore,
    SessionVersion, Summary,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::reader::PAGE;
use crate::runner::SessionRunner;

/// The state key of a forked session naming where it came from (see [`ForkOrigin`]).
pub const FORK_ORIGIN_KEY: &str = "fork.origin";
/// The prefix of the state keys under which a session lists the sessions forked from it
/// (`fork.child:{session}`), when its store can change state outside a run: one key per fork,
/// so that forks written at once never write over each other (state merges per key).
pub const FORK_CHILD_KEY_PREFIX: &str = "fork.child:";

/// A fork a session lists ([`fork_children`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ForkChild {
    /// The forked session.
    pub session: String,
    /// The run it was cut after (or within).
    pub run: u64,
    /// The step within that run, when cut within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// When.
    pub forked_at: Timestamp,
}

/// Where a session was forked from, when it was ([`FORK_ORIGIN_KEY`]).
pub fn fork_origin(state: &SessionState) -> Option<ForkOrigin> {
    state.get(FORK_ORIGIN_KEY).ok().flatten()
}

/// The sessions forked from a session, oldest first, as its state lists them.
pub fn fork_children(state: &SessionState) -> Vec<ForkChild> {
    let mut children: Vec<ForkChild> = state
        .iter()
        .filter(|(key, _)| key.starts_with(FORK_CHILD_KEY_PREFIX))
        .filter_map(|(_, value)| serde_json::from_value(value.clone()).ok())
        .collect();
    children.sort_by_key(|child| child.forked_at);
    children
}

/// Where to cut the source's conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkPoint {
    /// After this run's turn (the run's number in its session).
    AfterRun(u64),
    /// After this step of this run: its query, the model's first `step` replies and their
    /// tool results. The next run's query then follows a placeholder reply.
    AfterStep {
        /// The run's number.
        run: u64,
        /// The step, from 1.
        step: u32,
    },
    /// The whole conversation.
    End,
}

/// Where a forked session came from, kept in its state under [`FORK_ORIGIN_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ForkOrigin {
    /// The source session.
    pub session: String,
    /// The run it was cut after (or within).
    pub run: u64,
    /// The step within that run, when cut within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// When.
    pub forked_at: Timestamp,
}

/// What a fork made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Forked {
    /// Where the new session came from.
    pub origin: ForkOrigin,
    /// How many turns it holds.
    pub turns: usize,
    /// Whether the source records the fork too ([`fork_children`]); `false` when its store
    /// cannot change state outside a run.
    pub linked_in_source: bool,
}

fn invalid(message: impl Into<String>) -> SessionError {
    SessionError::new(SessionErrorKind::InvalidInput, message)
}

impl SessionRunner {
    /// Forks `source` (in this runner's store) at `at` into the new session `target` of
    /// `target_store` (this store, or another: SQLite to DynamoDB works). The target holds the
    /// source's turns (and summaries) up to the cut, each with its run's trace, and names its
    /// origin in its state; the source lists its forks in its state when its store can.
    ///
    /// # Errors
    ///
    /// [`SessionErrorKind::NotFound`] for an empty source or a run it does not hold;
    /// [`SessionErrorKind::InvalidInput`] for a step the run does not have;
    /// [`SessionErrorKind::Conflict`] when the target exists; the stores' errors.
    pub async fn fork(
        &self,
        source: &SessionId,
        at: ForkPoint,
        target_store: &Arc<dyn SessionStore>,
        target: &SessionId,
    ) -> Result<Forked, SessionError> {
        let store = &self.inner.store;
        let head = store.head(source).await?;
        if head.version.is_empty() {
            return Err(SessionError::new(
                SessionErrorKind::NotFound,
                format!("session `{source}` has no conversation to fork"),
            ));
        }
        let target_head = target_store.head(target).await?;
        if target_head.exists() {
            return Err(SessionError::new(
                SessionErrorKind::Conflict,
                format!("session `{target}` exists; a fork makes a new session"),
            ));
        }
        let records = all_runs(&**store, source).await?;
        let by_seq: HashMap<u64, &RunRecord> = records
            .iter()
            .filter_map(|record| record.committed_seq.map(|seq| (seq, record)))
            .collect();
        let (cut_run, step) = match at {
            ForkPoint::AfterRun(run) => (Some(run), None),
            ForkPoint::AfterStep { run, step } => (Some(run), Some(step)),
            ForkPoint::End => (None, None),
        };
        let last_seq = match cut_run {
            None => head.last_seq(),
            Some(run) => records
                .iter()
                .find(|record| record.run == run)
                .and_then(|record| record.committed_seq)
                .ok_or_else(|| {
                    SessionError::new(
                        SessionErrorKind::NotFound,
                        format!("session `{source}` holds no kept turn of run {run}"),
                    )
                })?,
        };
        let mut entries = store.entries(source, head.first_seq, last_seq).await?;
        if let Some(step) = step
            && let Some(last) = entries.last_mut()
            && let EntryBody::Turn { messages, .. } = &mut last.body
        {
            // Cut before anything is written: a step the run does not have leaves no partial
            // fork behind.
            *messages = cut_at_step(std::mem::take(messages), step, cut_run)?;
        }
        let origin = ForkOrigin {
            session: source.to_string(),
            run: cut_run.unwrap_or_else(|| records.last().map_or(0, |record| record.run)),
            step,
            forked_at: self.inner.options.clock.now(),
        };
        let mut origin_state = StateChanges::new();
        origin_state
            .set_value(FORK_ORIGIN_KEY, json!(origin))
            .map_err(|error| invalid(error.to_string()))?;

        let mut base = SessionVersion::EMPTY;
        // Source seq → target seq: the seqs differ in the target, and a summary names the last
        // entry it covers by its seq.
        let mut seqs: HashMap<u64, u64> = HashMap::new();
        let mut summary: Option<(u64, Summary)> = None;
        let mut turns = 0;
        let count = entries.len();
        for (index, entry) in entries.into_iter().enumerate() {
            match entry.body {
                EntryBody::Summary(mut found) => {
                    found.through_seq = seqs
                        .get(&found.through_seq)
                        .copied()
                        .unwrap_or_else(|| base.seq());
                    summary = Some((entry.seq, found));
                }
                EntryBody::Turn { messages, .. } => {
                    let last = index + 1 == count;
                    let mut reasoning = by_seq.get(&entry.seq).map_or_else(
                        || agent_core::Reasoning::start(first_text(&messages), None),
                        |record| record.reasoning.clone(),
                    );
                    // The target's records are its own: a new run id, the target session.
                    reasoning.run_id = Uuid::now_v7();
                    reasoning.session_id = Some(target.to_string());
                    reasoning.status = RunStatus::Completed;
                    if last && let Some(step) = step {
                        reasoning.steps.truncate(step as usize);
                        reasoning.total_steps = reasoning.total_steps.min(step);
                        reasoning.final_response = None;
                    }
                    let mut commit = Commit::new(reasoning.run_id, base, &messages, &reasoning)
                        .with_summary(summary.as_ref().map(|(_, found)| found));
                    if turns == 0 {
                        commit = commit.with_state(Some(&origin_state));
                    }
                    let committed = target_store.commit(target, commit).await?;
                    if let Some((summary_seq, _)) = summary.take() {
                        // Written just before the turn, in the same commit.
                        seqs.insert(summary_seq, committed.seq.saturating_sub(1));
                    }
                    seqs.insert(entry.seq, committed.seq);
                    base = committed.version;
                    turns += 1;
                }
                _ => {}
            }
        }
        if turns == 0 {
            return Err(SessionError::new(
                SessionErrorKind::NotFound,
                format!("session `{source}` holds no turn up to that point"),
            ));
        }
        // The source lists its forks, when its store can change state outside a run: one key
        // per fork.
        let child = ForkChild {
            session: target.to_string(),
            run: origin.run,
            step: origin.step,
            forked_at: origin.forked_at,
        };
        let mut link = StateChanges::new();
        let linked_in_source = match link
            .set_value(&format!("{FORK_CHILD_KEY_PREFIX}{target}"), json!(child))
        {
            Ok(()) => match store.update_state(source, &link).await {
                Ok(_) => true,
                Err(error) => {
                    tracing::info!(%error, session = %source, "the source does not record the fork");
                    false
                }
            },
            Err(error) => {
                tracing::info!(%error, session = %source, "the source's state cannot hold the fork");
                false
            }
        };
        Ok(Forked {
            origin,
            turns,
            linked_in_source,
        })
    }
}

/// The query text of a turn.
fn first_text(messages: &[Message]) -> String {
    messages.first().map(Message::text).unwrap_or_default()
}

/// A turn's messages up to and with the tool results of its `step`-th reply.
fn cut_at_step(
    messages: Vec<Message>,
    step: u32,
    run: Option<u64>,
) -> Result<Vec<Message>, SessionError> {
    let run = run.unwrap_or_default();
    let replies: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, message)| message.role == Role::Assistant)
        .map(|(at, _)| at)
        .collect();
    let Some(&reply) = step
        .checked_sub(1)
        .and_then(|index| replies.get(index as usize))
    else {
        return Err(invalid(format!(
            "run {run} has no step {step} (it made {} model calls)",
            replies.len()
        )));
    };
    let results = reply + 1;
    let has_calls = messages[reply].tool_uses().next().is_some();
    let answered = messages
        .get(results)
        .is_some_and(|message| message.tool_results().next().is_some());
    if !has_calls || !answered {
        return Err(invalid(format!(
            "step {step} of run {run} is its answer, not a tool step: fork after the run instead"
        )));
    }
    let mut messages = messages;
    messages.truncate(results + 1);
    Ok(messages)
}

/// Every run record of a session.
async fn all_runs(
    store: &dyn SessionStore,
    session: &SessionId,
) -> Result<Vec<RunRecord>, SessionError> {
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let page = store.runs(session, after, PAGE).await?;
        let full = page.len() == PAGE;
        after = page.last().map_or(after, |record| record.run);
        records.extend(page);
        if !full {
            return Ok(records);
        }
    }
}
