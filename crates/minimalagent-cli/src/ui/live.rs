//! The viewer's live feed: a session followed from its first run, each run's events folded
//! into its trace with the library's own fold (`Reasoning::apply`), plus what the model is
//! streaming right now, sent as server-sent events.
//!
//! Each event is `event: run` with data
//! `{"run", "run_id", "position", "last_event", "reasoning", "live"}`: the whole current trace
//! of one run (the shape `/api/sessions/{id}` returns), so the page only ever renders traces.
//! Events that arrive together are folded together and sent once per run.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::response::sse::Event;
use futures::{Stream, StreamExt};
use minimalagent::{AgentEvent, FollowPosition, FollowedEvent, Reasoning, RunStatus, Sessions};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Events folded at most into one update.
const CHUNK: usize = 512;

/// What the model is writing in the step in progress, before its reply is complete.
#[derive(Debug, Default, Serialize)]
struct Live {
    /// The model call.
    step: u32,
    /// Its text so far.
    text: String,
    /// Its thinking so far.
    thinking: String,
    /// The tool calls it started, with their inputs once complete.
    tools: Vec<PendingTool>,
}

/// A tool call the model is writing.
#[derive(Debug, Serialize)]
struct PendingTool {
    tool_use_id: String,
    name: String,
    input: Option<Value>,
    input_error: Option<String>,
}

impl Live {
    /// The live state of `step` (a new step starts afresh).
    fn at(&mut self, step: u32) -> &mut Self {
        if self.step != step {
            *self = Live {
                step,
                ..Live::default()
            };
        }
        self
    }

    fn tool(&mut self, step: u32, tool_use_id: &str, name: &str) -> &mut PendingTool {
        let live = self.at(step);
        let index = match live.tools.iter().position(|t| t.tool_use_id == tool_use_id) {
            Some(index) => index,
            None => {
                live.tools.push(PendingTool {
                    tool_use_id: tool_use_id.to_owned(),
                    name: name.to_owned(),
                    input: None,
                    input_error: None,
                });
                live.tools.len() - 1
            }
        };
        &mut live.tools[index]
    }
}

/// One run as the feed knows it.
#[derive(Debug)]
struct LiveRun {
    run: u64,
    reasoning: Reasoning,
    live: Live,
    position: FollowPosition,
    last_event: &'static str,
    ended: bool,
}

impl LiveRun {
    fn apply(&mut self, event: &AgentEvent) {
        self.last_event = event.type_name();
        let decision = matches!(
            event,
            AgentEvent::InterruptRequested { .. } | AgentEvent::InterruptAnswered { .. }
        );
        if !decision
            && self.reasoning.status == RunStatus::Paused
            && self.reasoning.pending_interrupts.is_empty()
        {
            // Every held call was decided, and this event shows the run going on.
            self.reasoning.status = RunStatus::Running;
        }
        match event {
            AgentEvent::RunStarted { .. } => {
                self.reasoning = Reasoning::from_events([event]);
                self.live = Live::default();
            }
            AgentEvent::TextDelta { step, text } => self.live.at(*step).text.push_str(text),
            AgentEvent::ThinkingDelta { step, text } => {
                self.live.at(*step).thinking.push_str(text);
            }
            AgentEvent::ToolCallStarted {
                step,
                tool_use_id,
                name,
            } => {
                self.live.tool(*step, tool_use_id, name);
            }
            AgentEvent::ToolInputComplete {
                step,
                tool_use_id,
                name,
                input,
                error,
            } => {
                let tool = self.live.tool(*step, tool_use_id, name);
                tool.input = Some(input.clone());
                tool.input_error.clone_from(error);
            }
            AgentEvent::ModelRetry { step, .. } => {
                if self.live.step == *step {
                    self.live = Live::default();
                }
            }
            AgentEvent::ModelReply { .. } => {
                self.reasoning.apply(event);
                self.live = Live::default();
            }
            AgentEvent::InterruptRequested { .. } | AgentEvent::InterruptAnswered { .. } => {
                let waiting = self.reasoning.status == RunStatus::Paused;
                self.reasoning.apply(event);
                // Decisions recorded without continuing the run (`Sessions::decide`, the CLI,
                // this viewer) leave it paused until a process with the agent continues it,
                // which its next event shows; the fold alone would call it running.
                if waiting {
                    self.reasoning.status = RunStatus::Paused;
                }
            }
            other => {
                self.reasoning.apply(other);
                if other.is_terminal() {
                    self.live = Live::default();
                    self.ended = true;
                }
            }
        }
    }

    fn to_event(&self, run_id: Uuid) -> Event {
        #[derive(Serialize)]
        struct Update<'a> {
            run: u64,
            run_id: Uuid,
            position: &'a FollowPosition,
            last_event: &'a str,
            reasoning: &'a Reasoning,
            live: &'a Live,
        }
        let update = Update {
            run: self.run,
            run_id,
            position: &self.position,
            last_event: self.last_event,
            reasoning: &self.reasoning,
            live: &self.live,
        };
        let data = serde_json::to_string(&update).unwrap_or_else(|_| "{}".to_owned());
        Event::default().event("run").data(data)
    }
}

/// The folded state of the runs of one feed, by run number and id: records the store cannot
/// read all stand in with the nil id, and must not be folded into one another.
#[derive(Debug, Default)]
struct Feed {
    runs: HashMap<(u64, Uuid), LiveRun>,
}

impl Feed {
    /// Folds a batch of followed events; returns the updates to send.
    fn fold(&mut self, batch: Vec<Result<FollowedEvent, minimalagent::Error>>) -> Vec<Event> {
        let mut changed: Vec<(u64, Uuid)> = Vec::new();
        let mut out = Vec::new();
        for item in batch {
            let followed = match item {
                Ok(followed) => followed,
                Err(error) => {
                    let data = serde_json::json!({"message": error.to_string()}).to_string();
                    out.push(Event::default().event("store-error").data(data));
                    continue;
                }
            };
            let key = (followed.run, followed.run_id);
            let run = self.runs.entry(key).or_insert_with(|| LiveRun {
                run: followed.run,
                reasoning: Reasoning::from_events([]),
                live: Live::default(),
                position: FollowPosition::start(),
                last_event: "",
                ended: false,
            });
            run.apply(&followed.event);
            run.position = followed.position;
            if !changed.contains(&key) {
                changed.push(key);
            }
        }
        for key in changed {
            if let Some(run) = self.runs.get(&key) {
                out.push(run.to_event(key.1));
                if run.ended {
                    self.runs.remove(&key);
                }
            }
        }
        out
    }
}

/// The feed of session `id`, from its first run, until `stop` resolves.
pub(super) fn feed(
    sessions: &Sessions,
    id: &str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + Send + 'static, minimalagent::Error> {
    let follow = sessions.follow(id, FollowPosition::start())?;
    let mut feed = Feed::default();
    Ok(follow
        .ready_chunks(CHUNK)
        .map(move |batch| futures::stream::iter(feed.fold(batch).into_iter().map(Ok)))
        .flatten()
        .take_until(stop))
}

#[cfg(test)]
mod tests {
    use minimalagent::{Interrupt, InterruptDecision};
    use serde_json::json;

    use super::*;

    fn run() -> LiveRun {
        LiveRun {
            run: 1,
            reasoning: Reasoning::from_events([]),
            live: Live::default(),
            position: FollowPosition::start(),
            last_event: "",
            ended: false,
        }
    }

    /// Decisions recorded without continuing the run leave it paused; its next event shows it
    /// going on.
    #[test]
    fn a_decided_run_stays_paused_until_it_goes_on() {
        let mut live = run();
        let now = jiff::Timestamp::now();
        live.apply(&AgentEvent::RunStarted {
            run_id: Uuid::nil(),
            session_id: Some("s".to_owned()),
            query: "Pay.".to_owned(),
            started_at: now,
        });
        let held = Interrupt::new(1, "tool-1", "pay", json!({}), "money");
        live.apply(&AgentEvent::InterruptRequested {
            step: 1,
            interrupt: held,
        });
        assert_eq!(live.reasoning.status, RunStatus::Paused);
        assert_eq!(live.reasoning.pending_interrupts.len(), 1);
        live.apply(&AgentEvent::InterruptAnswered {
            step: 1,
            interrupt_id: "tool-1".to_owned(),
            decision: InterruptDecision::Approve,
            answered_at: now,
        });
        assert_eq!(live.reasoning.status, RunStatus::Paused);
        assert!(live.reasoning.pending_interrupts.is_empty());
        assert_eq!(live.reasoning.answered_interrupts.len(), 1);
        live.apply(&AgentEvent::ToolExecutionStarted {
            step: 1,
            tool_use_id: "tool-1".to_owned(),
            name: "pay".to_owned(),
        });
        assert_eq!(live.reasoning.status, RunStatus::Running);
        assert!(!live.ended);
    }
}
