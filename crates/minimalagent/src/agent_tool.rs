//! Agents as tools: one agent offered to another as a tool.

use agent_core::{
    Decisions, InterruptDecision, RunOutcome, Tool, ToolContext, ToolError, ToolErrorKind,
    ToolOutput, async_trait, is_valid_tool_name,
};
use serde_json::{Value, json};

use crate::agent::{Agent, Job};
use crate::error::Error;
use crate::prompt::Prompt;

/// An [`Agent`] offered to another agent as a tool (see [`Agent::as_tool`]): the parent's model
/// asks it a question, it runs (in its own session, when it has one), and its answer comes back
/// as the tool's result, with the child run's id and session so that the child's trace is
/// linked from the parent's.
#[derive(Debug, Clone)]
pub struct AgentTool {
    agent: Agent,
    name: String,
    description: String,
    session: ChildSession,
}

/// Where an agent used as a tool keeps its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildSession {
    /// No session: each call starts afresh.
    None,
    /// One session for every call, with this id.
    Fixed(String),
    /// A session per parent session: `{parent session}-{tool name}` (no session when the
    /// parent runs without one).
    PerParentSession,
}

impl Agent {
    /// This agent as a tool named `name` for another agent: its input is `{"query": "…"}`, its
    /// result `{"answer", "run_id", "session_id", "steps"}`.
    pub fn as_tool(&self, name: impl Into<String>, description: impl Into<String>) -> AgentTool {
        AgentTool {
            agent: self.clone(),
            name: name.into(),
            description: description.into(),
            session: ChildSession::None,
        }
    }
}

impl AgentTool {
    /// The same tool keeping its runs in `session` (the agent must have sessions).
    #[must_use]
    pub fn with_session(mut self, session: ChildSession) -> Self {
        self.session = session;
        self
    }

    fn session_for(&self, context: &ToolContext) -> Option<String> {
        match &self.session {
            ChildSession::None => None,
            ChildSession::Fixed(id) => Some(id.clone()),
            ChildSession::PerParentSession => context
                .session_id()
                .map(|parent| format!("{parent}-{}", self.name)),
        }
    }
}

#[async_trait]
impl Tool for AgentTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to ask this agent."}},
            "required": ["query"],
            "additionalProperties": false
        })
    }

    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        debug_assert!(is_valid_tool_name(&self.name));
        let query = input
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::invalid_input("field `query`: a string is required"))?;
        let session = match self.session_for(context) {
            Some(id) => Some(
                self.agent
                    .session_id(&id)
                    .map_err(|error| ToolError::failed(error.to_string()))?,
            ),
            None => None,
        };
        let session_id = session.as_ref().map(ToString::to_string);
        let job = match session {
            // The parent's person approved what the child waited for: the child's held calls
            // are approved and its run goes on.
            Some(session) if context.is_approved() => {
                let waiting = self
                    .agent
                    .runner()
                    .map_err(|error| ToolError::failed(error.to_string()))?
                    .paused_runs(&session)
                    .await
                    .map_err(|error| ToolError::failed(error.to_string()))?;
                let decisions = waiting
                    .last()
                    .map(|run| Decisions::all(&run.interrupts, &InterruptDecision::Approve))
                    .unwrap_or_default();
                Job::Respond { session, decisions }
            }
            session => Job::Run {
                prompt: Prompt::new(query),
                session,
                structured: None,
            },
        };
        // The child stops when the parent run is cancelled.
        let stream = self
            .agent
            .launch(Ok(job), context.cancellation().child_token());
        match stream.result().await {
            // The child waits for a person: the parent's call waits too, for the same reasons
            // (the parent pauses; approving it approves the child's calls and goes on).
            Ok(result) if result.outcome == RunOutcome::Paused => {
                if session_id.is_none() {
                    return Err(ToolError::failed(format!(
                        "agent `{}` asked for approval, but it has no session to wait in; give it one with `with_session`",
                        self.name
                    )));
                }
                let waits: Vec<String> = result
                    .pending_interrupts
                    .iter()
                    .map(|held| format!("{} {} ({})", held.tool, held.input, held.reason))
                    .collect();
                Err(ToolError::needs_approval(format!(
                    "agent `{}` waits for approval: {}",
                    self.name,
                    waits.join("; ")
                )))
            }
            Ok(result) => Ok(json!({
                "answer": result.response,
                "run_id": result.reasoning.run_id,
                "session_id": session_id,
                "steps": result.reasoning.total_steps,
            })
            .into()),
            Err(error) if error.is_cancelled() => {
                Err(ToolError::new(ToolErrorKind::Cancelled, error.to_string()))
            }
            Err(error) => Err(child_error(&error)),
        }
    }
}

fn child_error(error: &Error) -> ToolError {
    let run = error
        .reasoning()
        .map(|r| format!(" (child run {})", r.run_id))
        .unwrap_or_default();
    ToolError::failed(format!("{error}{run}"))
}
