//! The agent-loop workload: a model that replays canned replies at no cost, instant tools, and
//! the shapes of run measured (tool steps × parallel tool calls per step).

#![allow(dead_code)] // Not every benchmark uses every helper.

use std::sync::Arc;

use agent_core::{
    ContentBlock, Message, Model, ModelError, ModelRequest, ModelResponse, NoEvents, Reasoning,
    Role, StopReason, TokenUsage, Tool, ToolContext, ToolError, ToolOutput, ToolSet, ToolUse,
    async_trait,
};
use agent_loop::{AgentLoop, FailedRun, RunInput};
use serde_json::{Value, json};

/// How many tool steps a run takes and how many tool calls each step makes at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Model replies that ask for tools before the final answer.
    pub(crate) tool_steps: usize,
    /// Tool calls in each of those replies, run concurrently by the loop.
    pub(crate) parallel: usize,
}

impl Shape {
    /// Model calls in one run: one per tool step, plus the final answer.
    pub(crate) fn model_calls(self) -> usize {
        self.tool_steps + 1
    }

    /// A short, stable id (`s5_p4`).
    pub(crate) fn id(self) -> String {
        format!("s{}_p{}", self.tool_steps, self.parallel)
    }

    /// How the table names it.
    pub(crate) fn label(self) -> String {
        match self.tool_steps {
            0 => "0 tool steps".to_owned(),
            1 => format!("1 tool step x {} call(s)", self.parallel),
            steps => format!("{steps} tool steps x {} call(s)", self.parallel),
        }
    }
}

/// The shapes measured: 0, 1 and 5 tool steps; 1 and 4 parallel tool calls per step.
pub(crate) const SHAPES: [Shape; 5] = [
    Shape {
        tool_steps: 0,
        parallel: 0,
    },
    Shape {
        tool_steps: 1,
        parallel: 1,
    },
    Shape {
        tool_steps: 1,
        parallel: 4,
    },
    Shape {
        tool_steps: 5,
        parallel: 1,
    },
    Shape {
        tool_steps: 5,
        parallel: 4,
    },
];

/// The tool every step calls.
pub(crate) const TOOL_NAME: &str = "lookup";

/// A model with zero latency and next to zero cost: it picks the canned reply for the number of
/// assistant turns already in the request and returns a clone of it. No locks, no counters, so
/// concurrent runs do not contend and the figure is the loop's own.
#[derive(Debug, Clone)]
pub(crate) struct ReplayModel {
    replies: Arc<[ModelResponse]>,
}

impl ReplayModel {
    /// The replies of one run of `shape`: `tool_steps` replies asking for `parallel` tools
    /// each (after a short `<thinking>`), then a final answer.
    pub(crate) fn new(shape: Shape) -> Self {
        let mut replies = Vec::with_capacity(shape.model_calls());
        for step in 0..shape.tool_steps {
            let mut content = Vec::with_capacity(shape.parallel + 1);
            content.push(ContentBlock::Text(
                "<thinking>I should look that up.</thinking>".to_owned(),
            ));
            for call in 0..shape.parallel {
                content.push(ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("tooluse_{step}_{call}"),
                    name: TOOL_NAME.to_owned(),
                    input: json!({"key": call}),
                }));
            }
            replies.push(
                ModelResponse::new(
                    Message {
                        role: Role::Assistant,
                        content,
                    },
                    StopReason::ToolUse,
                )
                .with_usage(usage()),
            );
        }
        replies.push(
            ModelResponse::new(
                Message::assistant_text("<thinking>Done.</thinking>The answer is 42."),
                StopReason::EndTurn,
            )
            .with_usage(usage()),
        );
        Self {
            replies: replies.into(),
        }
    }

    /// The requests a run of this shape sends, one per model call (messages only as far as the
    /// model looks at them), for calling the model directly.
    pub(crate) fn direct_requests(&self) -> Vec<ModelRequest> {
        let mut messages = vec![Message::user_text(QUERY)];
        let mut requests = Vec::with_capacity(self.replies.len());
        for reply in self.replies.iter() {
            requests.push(ModelRequest::new(messages.clone()));
            messages.push(reply.message.clone());
            messages.push(Message::user_text("results"));
        }
        requests
    }
}

fn usage() -> TokenUsage {
    TokenUsage::new(100, 20)
}

#[async_trait]
impl Model for ReplayModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let turns = request
            .messages
            .iter()
            .filter(|message| message.role == Role::Assistant)
            .count();
        let index = turns.min(self.replies.len() - 1);
        Ok(self.replies[index].clone())
    }
}

/// A tool that returns at once, doing nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InstantTool;

#[async_trait]
impl Tool for InstantTool {
    fn name(&self) -> &str {
        TOOL_NAME
    }
    fn description(&self) -> &str {
        "Looks a key up."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"key": {"type": "integer"}}, "required": ["key"]})
    }
    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(Value::Null.into())
    }
}

/// The query of every run.
pub(crate) const QUERY: &str = "What is the answer?";

/// A loop over the replay model of `shape` with the instant tool.
pub(crate) fn agent_loop(shape: Shape) -> (AgentLoop, ReplayModel) {
    let model = ReplayModel::new(shape);
    let tools = ToolSet::new([Arc::new(InstantTool) as Arc<dyn Tool>]).unwrap_or_default();
    let agent_loop = AgentLoop::new(Arc::new(model.clone()), tools)
        .with_system_prompt("You are a benchmark.")
        .with_max_steps(10);
    (agent_loop, model)
}

/// One run, as an agent without sessions makes it: the loop, its events going nowhere.
pub(crate) async fn run_once(agent_loop: &AgentLoop) -> Result<(String, Reasoning), FailedRun> {
    let result = agent_loop.run(RunInput::new(QUERY), &NoEvents).await?;
    Ok((result.response, result.reasoning))
}

/// The baseline of one run: the same model calls, made directly in order.
pub(crate) async fn direct_calls(
    model: &ReplayModel,
    requests: &[ModelRequest],
) -> Result<usize, ModelError> {
    let mut blocks = 0;
    for request in requests {
        blocks += model.converse(request).await?.message.content.len();
    }
    Ok(blocks)
}
