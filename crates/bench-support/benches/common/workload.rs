//! The runs the benchmarks make: a query, tool steps that look the weather up, an answer.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    ContentBlock, Message, Model, ModelError, ModelRequest, ModelResponse, Role, StopReason,
    TokenUsage, Tool, ToolContext, ToolError, ToolOutput, ToolSet, ToolUse, async_trait,
};
use agent_loop::AgentLoop;
use serde_json::{Value, json};

/// The query of every run.
pub(crate) const QUERY: &str =
    "What's the weather in Seattle today, and should I take an umbrella?";

/// The final answer of every run.
pub(crate) const ANSWER: &str = "Seattle is 14 °C and cloudy this morning, with light rain \
     expected from about 2 pm (70% chance) and winds from the south-west at 15 km/h. Yes, take \
     an umbrella if you will be out in the afternoon; the morning should stay dry. Tomorrow \
     looks brighter, with sunny spells and a high of 17 °C.";

/// The system prompt of every agent.
pub(crate) const SYSTEM_PROMPT: &str =
    "You are a weather assistant. Look the forecast up before you answer.";

/// The tool every step calls.
pub(crate) const TOOL_NAME: &str = "get_weather";

/// The forecast the tool returns (about 400 bytes of JSON).
pub(crate) fn forecast() -> Value {
    json!({
        "location": "Seattle, WA",
        "today": {"condition": "cloudy, light rain from 14:00", "temperature_c": 14,
                  "high_c": 16, "low_c": 9, "rain_chance": 0.7, "wind_kmh": 15,
                  "wind_direction": "SW"},
        "tomorrow": {"condition": "sunny spells", "temperature_c": 15, "high_c": 17,
                     "low_c": 10, "rain_chance": 0.2, "wind_kmh": 10,
                     "wind_direction": "W"},
        "source": "benchmark"
    })
}

/// How many of the model calls of the current run came before this request: the assistant
/// messages after the run's query (the last user message that holds text, not tool results).
pub(crate) fn calls_so_far<M: Borrow<Message>>(messages: &[M]) -> usize {
    let query = messages
        .iter()
        .rposition(|message| {
            let message: &Message = message.borrow();
            message.role == Role::User
                && message
                    .content
                    .iter()
                    .any(|block| matches!(block, ContentBlock::Text(_)))
        })
        .unwrap_or(0);
    messages[query..]
        .iter()
        .filter(|message| Borrow::<Message>::borrow(*message).role == Role::Assistant)
        .count()
}

/// A model in this process that asks for `steps` tool steps (one call each) and then answers,
/// after `latency` per call (none by default). No locks and no state: concurrent runs do not
/// contend in it.
#[derive(Debug, Clone)]
pub(crate) struct StepsModel {
    steps: usize,
    latency: Duration,
}

impl StepsModel {
    /// A model that takes `steps` tool steps per run and answers at once.
    pub(crate) fn new(steps: usize) -> Self {
        Self {
            steps,
            latency: Duration::ZERO,
        }
    }

    /// The same model, answering each call after `latency`.
    pub(crate) fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

#[async_trait]
impl Model for StepsModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let step = calls_so_far(&request.messages);
        let message = if step < self.steps {
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text(format!(
                        "<thinking>Step {}: I need the forecast for Seattle.</thinking>",
                        step + 1
                    )),
                    ContentBlock::ToolUse(ToolUse {
                        tool_use_id: format!("tooluse_{}", uuid::Uuid::now_v7().simple()),
                        name: TOOL_NAME.to_owned(),
                        input: json!({"location": "Seattle", "days": 2}),
                    }),
                ],
            }
        } else {
            Message::assistant_text(ANSWER)
        };
        let stop = if step < self.steps {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        };
        Ok(ModelResponse::new(message, stop).with_usage(TokenUsage::new(400, 60)))
    }
}

/// The weather tool: returns [`forecast`] at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeatherTool;

#[async_trait]
impl Tool for WeatherTool {
    fn name(&self) -> &str {
        TOOL_NAME
    }
    fn description(&self) -> &str {
        "Gets the weather forecast for a location."
    }
    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["location"]
        })
    }
    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(forecast().into())
    }
}

/// A loop over `model` with the weather tool and the system prompt.
pub(crate) fn agent_loop(model: Arc<dyn Model>) -> AgentLoop {
    let tools =
        ToolSet::new([Arc::new(WeatherTool) as Arc<dyn Tool>]).expect("the weather tool is valid");
    AgentLoop::new(model, tools)
        .with_system_prompt(SYSTEM_PROMPT)
        .with_max_steps(10)
}
