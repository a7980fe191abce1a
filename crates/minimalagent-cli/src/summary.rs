//! The JSON shapes of sessions and runs in summaries: `sessions list --json` and the viewer's
//! `/api/sessions` (documented in docs/cli.md and docs/viewer.md).

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use minimalagent::session::{SessionHead, SessionId};
use minimalagent::{Reasoning, RunStatus, Sessions, TokenUsage};
use serde::Serialize;
use uuid::Uuid;

/// How many sessions are summarised at once.
const CONCURRENT_READS: usize = 8;

/// A session: its id, counts, expiry, and its latest run (or every run's summary).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionSummary {
    /// The session id.
    pub(crate) id: String,
    /// How many runs the session has.
    pub(crate) runs: u64,
    /// How many conversation entries (turns and summaries) it has.
    pub(crate) entries: u64,
    /// When it expires unless written again.
    pub(crate) expires_at: Option<Timestamp>,
    /// Its newest run.
    pub(crate) latest_run: Option<RunSummary>,
    /// Every run, oldest first, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) run_list: Option<Vec<RunSummary>>,
}

/// A run in brief.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunSummary {
    /// The run's id.
    pub(crate) run_id: Uuid,
    /// `running`, `paused`, `completed`, `failed`, `cancelled` or `interrupted`.
    pub(crate) status: RunStatus,
    /// The user's query.
    pub(crate) query: String,
    /// When it started.
    pub(crate) started_at: Option<Timestamp>,
    /// When it ended.
    pub(crate) ended_at: Option<Timestamp>,
    /// Its steps.
    pub(crate) total_steps: u32,
    /// Its tool calls.
    pub(crate) tool_calls: usize,
    /// Tokens it used.
    pub(crate) usage: TokenUsage,
    /// Why it failed, when it did.
    pub(crate) error: Option<String>,
    /// How many of its tool calls wait for a person's decision (a paused run).
    pub(crate) pending_decisions: usize,
}

impl RunSummary {
    pub(crate) fn of(reasoning: &Reasoning) -> Self {
        Self {
            run_id: reasoning.run_id,
            status: reasoning.status.clone(),
            query: reasoning.query.clone(),
            started_at: reasoning.started_at,
            ended_at: reasoning.ended_at,
            total_steps: reasoning.total_steps,
            tool_calls: reasoning.steps.iter().map(|step| step.tools.len()).sum(),
            usage: reasoning.usage,
            error: reasoning
                .error
                .as_ref()
                .map(|error| format!("{}: {}", error.kind, error.message)),
            pending_decisions: reasoning.pending_interrupts.len(),
        }
    }
}

/// How many runs a head counts.
pub(crate) fn run_count(head: &SessionHead) -> u64 {
    (head.runs + 1).saturating_sub(head.first_run)
}

/// One page of sessions, summarised (`with_runs`: every run, else the latest only), and where
/// the next page starts.
pub(crate) async fn page(
    sessions: &Sessions,
    from: Option<&str>,
    limit: usize,
    with_runs: bool,
) -> Result<(Vec<SessionSummary>, Option<String>), minimalagent::Error> {
    let page = sessions.list(from, limit).await?;
    let listed: Vec<(SessionId, SessionHead)> = page
        .sessions
        .into_iter()
        .map(|info| (info.id, info.head))
        .collect();
    let summaries = futures::stream::iter(listed)
        .map(|(id, head)| summarise(sessions, id, head, with_runs))
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok((summaries, page.next))
}

async fn summarise(
    sessions: &Sessions,
    id: SessionId,
    head: SessionHead,
    with_runs: bool,
) -> Result<SessionSummary, minimalagent::Error> {
    let (latest_run, run_list) = if with_runs {
        let runs: Vec<RunSummary> = sessions
            .reasoning_history(id.as_str())
            .await?
            .iter()
            .map(RunSummary::of)
            .collect();
        (runs.last().cloned(), Some(runs))
    } else {
        let latest = sessions.get_reasoning(id.as_str()).await?;
        (latest.as_ref().map(RunSummary::of), None)
    };
    Ok(SessionSummary {
        id: id.to_string(),
        runs: run_count(&head),
        entries: head.entry_count(),
        expires_at: head.expires_at,
        latest_run,
        run_list,
    })
}
