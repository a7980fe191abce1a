//! Replaying recorded runs: a [`ReplayModel`] that answers reply for reply from a
//! [`Recording`] (a session read from a store, or its `minimalagent sessions export` JSON
//! Lines), checking in strict mode that the agent sends what was recorded, and tools that
//! answer from the record ([`Recording::replay_tools`]), so a regression test needs no network
//! and has no side effects.
//!
//! A run's recorded turn holds its query, each model reply and the tool results fed back; its
//! trace holds the tools it offered ([`Reasoning::tools_offered`]) and each step's usage. A
//! replay walks the replies in order: the `n`-th model call of the replay gets the `n`-th
//! recorded reply, and a strict replay first compares the request with what the recorded call
//! was sent — the tools offered (by name and digest), the tool results fed back (by call id:
//! status and content), and the query's text — and fails at the first difference, naming the
//! run, the step, the field, and both values.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use agent_core::{
    ContentBlock, Message, Model, ModelError, ModelErrorKind, ModelRequest, ModelResponse,
    Reasoning, Role, StopReason, TokenUsage, Tool, ToolContext, ToolError, ToolErrorKind,
    ToolOutput, ToolResult, ToolResultStatus, ToolSet, ToolSpec, async_trait,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// A line of an export is not what `minimalagent sessions export` writes.
    #[error("line {line} of the export: {message}")]
    BadLine {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The recording holds no run to replay.
    #[error("the recording holds no run with a turn to replay")]
    Empty,
}

/// One recorded run: its turn's messages (query, replies, tool results, answer) and, when
/// known, its trace.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRun {
    /// The run's id (nil when unknown).
    pub run_id: Uuid,
    /// The turn's messages, in order.
    pub messages: Vec<Message>,
    /// The run's trace, when it was recorded.
    pub reasoning: Option<Reasoning>,
}

impl RecordedRun {
    /// A run from its turn's messages and its trace.
    pub fn new(run_id: Uuid, messages: Vec<Message>, reasoning: Option<Reasoning>) -> Self {
        Self {
            run_id,
            messages,
            reasoning,
        }
    }

    /// The query's text (without the turn's time line).
    pub fn query(&self) -> String {
        self.messages
            .first()
            .map(|first| {
                first
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        ContentBlock::Text(text) if !is_time_line(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// The model's replies, in order.
    fn replies(&self) -> impl Iterator<Item = (usize, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, message)| message.role == Role::Assistant)
    }
}

/// A recorded conversation, run by run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recording {
    runs: Vec<RecordedRun>,
}

/// An export line, as `minimalagent sessions export` writes it.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ExportLine {
    Entry {
        body: ExportBody,
    },
    Run {
        reasoning: Box<Reasoning>,
    },
    #[serde(other)]
    Other,
}

/// A conversation entry's body, as the published record schema has it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ExportBody {
    Turn {
        #[serde(default)]
        run_id: Uuid,
        messages: Vec<Message>,
    },
    #[serde(other)]
    Other,
}

impl Recording {
    /// A recording of these runs, in order.
    pub fn new(runs: Vec<RecordedRun>) -> Self {
        Self { runs }
    }

    /// A recording from a session's turns (run id and messages, in order) and its run traces
    /// (matched to the turns by run id).
    pub fn from_turns(
        turns: impl IntoIterator<Item = (Uuid, Vec<Message>)>,
        traces: impl IntoIterator<Item = Reasoning>,
    ) -> Self {
        let mut traces: HashMap<Uuid, Reasoning> = traces
            .into_iter()
            .map(|trace| (trace.run_id, trace))
            .collect();
        Self {
            runs: turns
                .into_iter()
                .map(|(run_id, messages)| {
                    let reasoning = traces.remove(&run_id);
                    RecordedRun::new(run_id, messages, reasoning)
                })
                .collect(),
        }
    }

    /// A recording from a `minimalagent sessions export` (JSON Lines: `entry` lines hold the
    /// turns, `run` lines the traces; other lines are skipped).
    ///
    /// # Errors
    ///
    /// [`RecordingError::BadLine`] for a line that is not JSON of that shape;
    /// [`RecordingError::Empty`] when no turn is left to replay.
    pub fn from_export(jsonl: &str) -> Result<Self, RecordingError> {
        let mut turns = Vec::new();
        let mut traces = Vec::new();
        for (number, line) in jsonl.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: ExportLine =
                serde_json::from_str(line).map_err(|error| RecordingError::BadLine {
                    line: number + 1,
                    message: error.to_string(),
                })?;
            match parsed {
                ExportLine::Entry {
                    body: ExportBody::Turn { run_id, messages },
                } => turns.push((run_id, messages)),
                ExportLine::Run { reasoning } => traces.push(*reasoning),
                ExportLine::Entry { .. } | ExportLine::Other => {}
            }
        }
        let recording = Self::from_turns(turns, traces);
        if recording.runs.is_empty() {
            return Err(RecordingError::Empty);
        }
        Ok(recording)
    }

    /// The recorded runs, in order.
    pub fn runs(&self) -> &[RecordedRun] {
        &self.runs
    }

    /// The runs' queries, in order: what to ask the agent to replay them.
    pub fn queries(&self) -> Vec<String> {
        self.runs.iter().map(RecordedRun::query).collect()
    }

    /// Tools with the specs of `tools` that answer from the record: a call gets the result
    /// recorded for its call id (the replayed replies carry the recorded ids), so nothing
    /// outside runs. A call the record does not hold fails (`unavailable`).
    pub fn replay_tools(&self, tools: &ToolSet) -> ToolSet {
        let results: Arc<HashMap<String, ToolResult>> = Arc::new(
            self.runs
                .iter()
                .flat_map(|run| run.messages.iter())
                .flat_map(Message::tool_results)
                .map(|result| (result.tool_use_id.clone(), result.clone()))
                .collect(),
        );
        let replayed = tools.specs().iter().map(|spec| {
            Arc::new(ReplayedTool {
                spec: spec.clone(),
                results: results.clone(),
            }) as Arc<dyn Tool>
        });
        // The specs came from a valid set, so they make a valid set again.
        ToolSet::new(replayed).unwrap_or_default()
    }
}

/// A tool answering from the record.
struct ReplayedTool {
    spec: ToolSpec,
    results: Arc<HashMap<String, ToolResult>>,
}

#[async_trait]
impl Tool for ReplayedTool {
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn description(&self) -> &str {
        &self.spec.description
    }
    fn input_schema(&self) -> Value {
        self.spec.input_schema.clone()
    }
    async fn call(&self, _input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let Some(result) = self.results.get(context.tool_use_id()) else {
            return Err(ToolError::new(
                ToolErrorKind::Unavailable,
                format!(
                    "the recording holds no result for call `{}` of `{}`",
                    context.tool_use_id(),
                    self.spec.name
                ),
            ));
        };
        if result.status == Some(ToolResultStatus::Error) {
            let text: Vec<String> = result
                .content
                .iter()
                .map(|content| match content {
                    agent_core::ToolResultContent::Text(text) => text.clone(),
                    other => serde_json::to_string(other).unwrap_or_default(),
                })
                .collect();
            return Err(ToolError::failed(text.join("\n")));
        }
        Ok(ToolOutput::Content(result.content.clone()))
    }
}

/// How strictly a [`ReplayModel`] holds the agent to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplayMode {
    /// Each request must be what the recorded call was sent; the first difference fails the
    /// model call (a `validation` error naming it).
    #[default]
    Strict,
    /// Differences are noted ([`ReplayModel::divergences`]) and the replay goes on, reply by
    /// reply.
    Lenient,
}

/// Where a replayed request differed from the record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Divergence {
    /// The run, from 1.
    pub run: usize,
    /// The model call within the run, from 1.
    pub step: usize,
    /// What differs (`tools.get_weather`, `toolResult[tooluse_1].content`, `query`, …).
    pub field: String,
    /// The recorded value.
    pub recorded: Value,
    /// The value now.
    pub now: Value,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} step {}: {} was {} and is now {}",
            self.run, self.step, self.field, self.recorded, self.now
        )
    }
}

/// A [`Model`] that answers from a [`Recording`], reply for reply. Clones share the replay.
#[derive(Debug, Clone)]
pub struct ReplayModel {
    inner: Arc<ReplayInner>,
}

#[derive(Debug)]
struct ReplayInner {
    recording: Recording,
    mode: ReplayMode,
    state: Mutex<ReplayState>,
}

#[derive(Debug, Default)]
struct ReplayState {
    /// The run being replayed, and the reply within it.
    run: usize,
    reply: usize,
    divergences: Vec<Divergence>,
}

/// The reply a model call gets, and what the recorded call was sent.
struct NextReply<'a> {
    /// The run, from 1, and the model call within it, from 1.
    run: usize,
    step: usize,
    /// The message the recorded call answered (the query, or the tool results).
    fed: Message,
    reply: Message,
    usage: Option<TokenUsage>,
    recorded: &'a RecordedRun,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplayModel {
    /// A replay of `recording` in `mode`.
    pub fn new(recording: Recording, mode: ReplayMode) -> Self {
        Self {
            inner: Arc::new(ReplayInner {
                recording,
                mode,
                state: Mutex::default(),
            }),
        }
    }

    /// Every difference found so far.
    pub fn divergences(&self) -> Vec<Divergence> {
        lock(&self.inner.state).divergences.clone()
    }

    /// How many recorded replies are left.
    pub fn remaining(&self) -> usize {
        let state = lock(&self.inner.state);
        self.inner
            .recording
            .runs
            .iter()
            .enumerate()
            .map(|(at, run)| {
                let replies = run.replies().count();
                match at.cmp(&state.run) {
                    std::cmp::Ordering::Less => 0,
                    std::cmp::Ordering::Equal => replies.saturating_sub(state.reply),
                    std::cmp::Ordering::Greater => replies,
                }
            })
            .sum()
    }

    /// The next reply and the message it answered, moving on.
    fn next(&self) -> Option<NextReply<'_>> {
        let mut state = lock(&self.inner.state);
        loop {
            let run = self.inner.recording.runs.get(state.run)?;
            if let Some((at, reply)) = run.replies().nth(state.reply) {
                state.reply += 1;
                let fed = at
                    .checked_sub(1)
                    .and_then(|before| run.messages.get(before))
                    .cloned()
                    .unwrap_or_else(|| Message::user(Vec::new()));
                let usage = run
                    .reasoning
                    .as_ref()
                    .and_then(|trace| trace.steps.get(state.reply - 1))
                    .map(|step| step.usage);
                return Some(NextReply {
                    run: state.run + 1,
                    step: state.reply,
                    fed,
                    reply: reply.clone(),
                    usage,
                    recorded: run,
                });
            }
            state.run += 1;
            state.reply = 0;
        }
    }

    fn diverge(&self, found: Vec<Divergence>) -> Result<(), ModelError> {
        if found.is_empty() {
            return Ok(());
        }
        let message = found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        lock(&self.inner.state).divergences.extend(found);
        match self.inner.mode {
            ReplayMode::Strict => Err(ModelError::new(
                ModelErrorKind::Validation,
                format!("the replay diverged from the record: {message}"),
            )),
            ReplayMode::Lenient => Ok(()),
        }
    }
}

/// Whether a text block is a turn's time line (`Current time: …`).
fn is_time_line(text: &str) -> bool {
    text.starts_with("Current time: ") && text.len() <= 40
}

/// The texts of a message other than its time line.
fn texts(message: &Message) -> Vec<&str> {
    message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) if !is_time_line(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// How a request differs from what the recorded call was sent.
fn compare(
    run: usize,
    step: usize,
    recorded_run: &RecordedRun,
    fed: &Message,
    request: &ModelRequest,
) -> Vec<Divergence> {
    let mut found = Vec::new();
    let mut differ = |field: String, recorded: Value, now: Value| {
        found.push(Divergence {
            run,
            step,
            field,
            recorded,
            now,
        });
    };
    // The tools offered, by name and digest, when the trace kept them.
    if let Some(trace) = &recorded_run.reasoning
        && !trace.tools_offered.is_empty()
    {
        let now: HashMap<String, String> = request
            .tools
            .iter()
            .map(|spec| {
                let digest = spec.digest();
                (digest.name, digest.digest)
            })
            .collect();
        for tool in &trace.tools_offered {
            match now.get(&tool.name) {
                None => differ(
                    format!("tools.{}", tool.name),
                    json!("offered"),
                    json!("not offered"),
                ),
                Some(digest) if *digest != tool.digest => differ(
                    format!("tools.{}", tool.name),
                    json!(format!("spec {}", tool.digest)),
                    json!(format!("spec {digest} (its description or schema changed)")),
                ),
                Some(_) => {}
            }
        }
        for name in now.keys() {
            if !trace.tools_offered.iter().any(|tool| tool.name == *name) {
                differ(
                    format!("tools.{name}"),
                    json!("not offered"),
                    json!("offered"),
                );
            }
        }
    }
    let Some(last) = request.messages.last() else {
        differ("messages".into(), json!("a message"), json!("none"));
        return found;
    };
    // The tool results fed back, by call id.
    let recorded_results: Vec<&ToolResult> = fed.tool_results().collect();
    let now_results: HashMap<&str, &ToolResult> = last
        .tool_results()
        .map(|result| (result.tool_use_id.as_str(), result))
        .collect();
    for recorded in &recorded_results {
        let field = format!("toolResult[{}]", recorded.tool_use_id);
        match now_results.get(recorded.tool_use_id.as_str()) {
            None => differ(field, json!("present"), json!("missing")),
            Some(now) => {
                if now.status != recorded.status {
                    differ(
                        format!("{field}.status"),
                        json!(recorded.status),
                        json!(now.status),
                    );
                }
                if now.content != recorded.content {
                    differ(
                        format!("{field}.content"),
                        serde_json::to_value(&recorded.content).unwrap_or_default(),
                        serde_json::to_value(&now.content).unwrap_or_default(),
                    );
                }
            }
        }
    }
    if recorded_results.is_empty() && step == 1 {
        let (recorded, now) = (texts(fed), texts(last));
        if recorded != now {
            differ(
                "query".into(),
                json!(recorded.join("\n")),
                json!(now.join("\n")),
            );
        }
    }
    found
}

#[async_trait]
impl Model for ReplayModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let Some(NextReply {
            run,
            step,
            fed,
            reply,
            usage,
            recorded,
        }) = self.next()
        else {
            return Err(ModelError::new(
                ModelErrorKind::Validation,
                "the recording has no more replies: the agent made more model calls than were recorded",
            ));
        };
        self.diverge(compare(run, step, recorded, &fed, request))?;
        let stop = if reply.tool_uses().next().is_some() {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        };
        Ok(ModelResponse::new(reply, stop).with_usage(usage.unwrap_or_default()))
    }
}
