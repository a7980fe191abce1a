//! Reading runs back: the seed's reasoning shapes, derived from run records and their events,
//! with runs whose process died shown as `interrupted`.

use std::time::Duration;

use agent_core::{AgentEvent, Reasoning, RunFailure, RunStatus};
use agent_session::{Clock, RunRecord, SessionError, SessionId, SessionStore, StoredEvent};
use jiff::SignedDuration;

/// How many records or events one read asks for.
pub(crate) const PAGE: usize = 500;

/// Whether a running record's process stopped heart-beating more than `limit` ago.
///
/// The writer's lease decides when the record holds its end ([`RunRecord::lease_expires_at`]):
/// a reader with a shorter limit than the writer's never calls a live run interrupted. Records
/// written before leases had ends are judged by the reader's `limit`.
pub(crate) fn is_interrupted(record: &RunRecord, clock: &dyn Clock, limit: Duration) -> bool {
    if record.reasoning.status != RunStatus::Running {
        return false;
    }
    if let Some(until) = record.lease_expires_at {
        return clock.now() >= until;
    }
    let Some(last) = record.heartbeat_at.or(record.reasoning.started_at) else {
        return false;
    };
    let limit = SignedDuration::try_from(limit).unwrap_or(SignedDuration::MAX);
    clock.now().duration_since(last) > limit
}

/// How long until a running run reads as interrupted if it does not beat again; `None` when it
/// is not running or has no time to judge by.
pub(crate) fn interrupted_in(
    record: &RunRecord,
    clock: &dyn Clock,
    limit: Duration,
) -> Option<Duration> {
    if record.reasoning.status != RunStatus::Running {
        return None;
    }
    let remaining = match record.lease_expires_at {
        Some(until) => until.duration_since(clock.now()),
        None => {
            let last = record.heartbeat_at.or(record.reasoning.started_at)?;
            let limit = SignedDuration::try_from(limit).unwrap_or(SignedDuration::MAX);
            limit.saturating_sub(clock.now().duration_since(last))
        }
    };
    Some(Duration::try_from(remaining).unwrap_or(Duration::ZERO))
}

/// Marks a trace as interrupted.
pub(crate) fn mark_interrupted(reasoning: &mut Reasoning, record: &RunRecord) {
    reasoning.status = RunStatus::Interrupted;
    reasoning.error = Some(RunFailure {
        kind: "run.interrupted".to_owned(),
        message: format!(
            "the run's process stopped heart-beating{}; resume it with Agent::resume",
            record
                .heartbeat_at
                .map(|at| format!(" (last heartbeat {at})"))
                .unwrap_or_default()
        ),
    });
}

/// Every stored event of a run.
pub(crate) async fn all_events(
    store: &dyn SessionStore,
    session: &SessionId,
    run: u64,
) -> Result<Vec<StoredEvent>, SessionError> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &StoredEvent| e.index);
        let page = store.events(session, run, after, PAGE).await?;
        let full = page.len() == PAGE;
        events.extend(page);
        if !full {
            return Ok(events);
        }
    }
}

/// The trace a record stands for now: an ended run's record as it is; a running one's record
/// with its events folded in, and `interrupted` when its heartbeat is older than `limit`.
pub(crate) async fn current_reasoning(
    store: &dyn SessionStore,
    session: &SessionId,
    record: &RunRecord,
    clock: &dyn Clock,
    limit: Duration,
) -> Result<Reasoning, SessionError> {
    if record.reasoning.status != RunStatus::Running {
        return Ok(record.reasoning.clone());
    }
    let mut reasoning = as_begun(&record.reasoning);
    for stored in all_events(store, session, record.run).await? {
        reasoning.apply(&stored.event);
    }
    if is_interrupted(record, clock, limit) {
        mark_interrupted(&mut reasoning, record);
    }
    Ok(reasoning)
}

/// A running run as it began, for its events to be folded over: a run recorded in real time
/// has this record, but a paused run claimed by the process that continues it (or recorded at
/// once when it paused) holds its steps and decisions already, and folding its events over
/// them would show each step, its usage and its decisions twice for as long as it runs.
fn as_begun(run: &Reasoning) -> Reasoning {
    let mut began = Reasoning::start(run.query.clone(), run.session_id.clone());
    began.run_id = run.run_id;
    began.started_at = run.started_at;
    began.tools_offered.clone_from(&run.tools_offered);
    began
}

/// The trace of the session's newest run, if any.
pub(crate) async fn latest_reasoning(
    store: &dyn SessionStore,
    session: &SessionId,
    clock: &dyn Clock,
    limit: Duration,
) -> Result<Option<Reasoning>, SessionError> {
    match store.latest_run(session).await? {
        Some(record) => Ok(Some(
            current_reasoning(store, session, &record, clock, limit).await?,
        )),
        None => Ok(None),
    }
}

/// The traces of every run of the session, oldest first.
pub(crate) async fn reasoning_history(
    store: &dyn SessionStore,
    session: &SessionId,
    clock: &dyn Clock,
    limit: Duration,
) -> Result<Vec<Reasoning>, SessionError> {
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let page = store.runs(session, after, PAGE).await?;
        let full = page.len() == PAGE;
        for record in &page {
            history.push(current_reasoning(store, session, record, clock, limit).await?);
            after = record.run;
        }
        if !full {
            return Ok(history);
        }
    }
}

/// The events an ended run stands for, for a follower of a run that was not recorded in real
/// time (or whose events expired): a reply per step with its tool calls, their results, and
/// the step's end.
pub(crate) fn events_of_record(reasoning: &Reasoning) -> Vec<AgentEvent> {
    use agent_core::{ContentBlock, Message, Role, StopReason, ToolUse};
    let mut events = Vec::new();
    for step in &reasoning.steps {
        let mut content = Vec::new();
        if let Some(thinking) = &step.thinking {
            content.push(ContentBlock::Text(format!(
                "<thinking>{thinking}</thinking>"
            )));
        }
        content.extend(step.tools.iter().map(|tool| {
            ContentBlock::ToolUse(ToolUse {
                tool_use_id: tool.tool_use_id.clone(),
                name: tool.name.clone(),
                input: tool.inputs.clone(),
            })
        }));
        events.push(AgentEvent::ModelReply {
            step: step.step_number,
            message: Message {
                role: Role::Assistant,
                content,
            },
            stop_reason: StopReason::ToolUse,
            usage: step.usage,
            at: step
                .timestamp
                .or(reasoning.started_at)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        });
        for tool in &step.tools {
            events.push(AgentEvent::ToolResult {
                step: step.step_number,
                invocation: tool.clone(),
            });
        }
        events.push(AgentEvent::StepFinished {
            step: step.step_number,
        });
    }
    events
}
