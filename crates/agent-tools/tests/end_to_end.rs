//! A `#[tool]` tool in a whole agent run on the wire: `BedrockModel` on the real
//! `aws-sdk-bedrockruntime` client talks to the local Converse stand-in, whose demo model calls
//! the tool with an input made from the schema the request carried.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic there is a failed assertion"
)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_llm_bedrock::BedrockModel;
use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region};
use agent_testkit::{ConverseStandIn, RecordedRequest, Reply};
use aws_credential_types::Credentials;
use minimalagent::core::{
    AgentLoop, NoEvents, RunInput, Tool, ToolCallStatus, ToolResult, ToolResultContent,
    ToolResultStatus, ToolSet,
};
use minimalagent::tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Units {
    Metric,
    Imperial,
}

#[derive(Debug, Serialize)]
struct Forecast {
    location: String,
    units: Units,
    days: Vec<String>,
}

/// The arguments each call of `get_weather` received, in order.
type Calls = Arc<Mutex<Vec<(String, Units, Option<u8>)>>>;

/// Get the weather forecast for a location.
///
/// # Arguments
/// * `location` - City name to get the weather for
/// * `units` - Unit system to answer in
/// * `days` - How many days ahead, 1 if not given
#[tool]
async fn get_weather(
    #[state] calls: Calls,
    location: String,
    units: Units,
    days: Option<u8>,
) -> Result<Forecast, String> {
    calls.lock().unwrap().push((location.clone(), units, days));
    let days = (1..=days.unwrap_or(1))
        .map(|day| format!("day {day}: sunny"))
        .collect();
    Ok(Forecast {
        location,
        units,
        days,
    })
}

/// Convert an amount of money between currencies.
///
/// # Arguments
/// * `amount` - The amount to convert
/// * `from` - ISO code of its currency
/// * `to` - ISO code of the currency wanted
#[tool]
fn convert_currency(amount: f64, from: String, to: String) -> String {
    format!("{amount} {from} in {to}")
}

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the test took too long")
}

/// A model on the real SDK client, pointed at the stand-in.
async fn model_for(standin: &ConverseStandIn) -> BedrockModel {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "tests"))
        .endpoint_url(standin.endpoint_url())
        .load()
        .await;
    BedrockModel::from_sdk_config(&config, MODEL_ID)
}

fn agent_loop(model: BedrockModel, calls: &Calls) -> AgentLoop {
    let tools = ToolSet::new([
        Arc::new(GetWeather::new(Arc::clone(calls))) as Arc<dyn Tool>,
        Arc::new(ConvertCurrency),
    ])
    .unwrap();
    AgentLoop::new(Arc::new(model), tools).with_system_prompt("You are a test agent.")
}

/// The `toolSpec` named `name` in a recorded request's body, as sent on the wire.
fn wire_tool_spec(request: &RecordedRequest, name: &str) -> Value {
    request.body["toolConfig"]["tools"]
        .as_array()
        .expect("the request has tools")
        .iter()
        .map(|tool| &tool["toolSpec"])
        .find(|spec| spec["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no tool {name} in the request"))
}

/// The tool results of a recorded request's last message.
fn tool_results(request: &RecordedRequest) -> Vec<ToolResult> {
    let messages = request.messages().unwrap();
    messages.last().unwrap().tool_results().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_calls_the_tool_with_the_arguments_its_schema_says() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let calls = Calls::default();
        let agent_loop = agent_loop(model_for(&standin).await, &calls);
        let output = agent_loop
            .run(RunInput::new("What is the weather in Seattle?"), &NoEvents)
            .await
            .unwrap();
        let reasoning = &output.reasoning;

        // Two model calls, both valid Converse requests: the question, then the tool's result.
        let requests = standin.requests();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            assert_eq!(request.violation, None, "{:?}", request.body);
            assert_eq!(request.status, 200);
        }

        // The request carried the tool's spec as the macro made it, with the top level cut
        // to what Nova takes (`type`, `properties`, `required`: see the capability table).
        let nova_cut = |schema: Value| {
            let mut schema = schema;
            if let Some(object) = schema.as_object_mut() {
                object.retain(|key, _| matches!(key.as_str(), "type" | "properties" | "required"));
            }
            schema
        };
        let spec = wire_tool_spec(&requests[0], "get_weather");
        let tool = GetWeather::new(Calls::default());
        assert_eq!(spec["description"], json!(tool.description()));
        assert_eq!(spec["inputSchema"]["json"], nova_cut(tool.input_schema()));
        assert_eq!(
            spec["inputSchema"]["json"]["required"],
            json!(["location", "units"])
        );
        assert_eq!(
            wire_tool_spec(&requests[0], "convert_currency")["inputSchema"]["json"],
            nova_cut(ConvertCurrency.input_schema())
        );

        // The demo model filled in the required arguments from that schema (the place named in
        // the question, the first unit), and the function received them.
        let step = &reasoning.steps[0];
        assert_eq!(step.tools.len(), 1);
        assert_eq!(step.tools[0].name, "get_weather");
        assert_eq!(
            step.tools[0].inputs,
            json!({"location": "Seattle", "units": "metric"})
        );
        assert_eq!(step.tools[0].status, ToolCallStatus::Succeeded);
        assert_eq!(
            *calls.lock().unwrap(),
            [("Seattle".to_owned(), Units::Metric, None)]
        );

        // Its result went back to the model as JSON, and the answer is built on it.
        let results = tool_results(&requests[1]);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].status, None);
        assert_eq!(
            results[0].content,
            [ToolResultContent::Json(json!({
                "location": "Seattle",
                "units": "metric",
                "days": ["day 1: sunny"]
            }))]
        );
        assert!(
            output.response.contains("get_weather"),
            "{}",
            output.response
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_reaches_the_model_as_an_error_naming_the_field() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                None,
                &[(
                    "get_weather",
                    json!({"location": "Paris", "units": "kelvin"}),
                )],
            ),
            Reply::tool_use(
                None,
                &[(
                    "get_weather",
                    json!({"location": "Paris", "units": "metric", "days": 2}),
                )],
            ),
            Reply::text("Sunny in Paris for two days."),
        ])
        .await
        .unwrap();
        let calls = Calls::default();
        let agent_loop = agent_loop(model_for(&standin).await, &calls);
        let output = agent_loop
            .run(RunInput::new("Weather in Paris for two days?"), &NoEvents)
            .await
            .unwrap();
        let _ = &output.reasoning;
        assert_eq!(output.response, "Sunny in Paris for two days.");

        let requests = standin.requests();
        assert_eq!(requests.len(), 3);
        let rejected = tool_results(&requests[1]);
        assert_eq!(rejected[0].status, Some(ToolResultStatus::Error));
        let ToolResultContent::Text(text) = &rejected[0].content[0] else {
            panic!("expected text, got {:?}", rejected[0].content);
        };
        assert!(
            text.contains(
                "field `units`: unknown variant `kelvin`, expected `metric` or `imperial`"
            ),
            "{text}"
        );
        // The function ran once, on the corrected input.
        assert_eq!(
            *calls.lock().unwrap(),
            [("Paris".to_owned(), Units::Metric, Some(2))]
        );
        assert_eq!(tool_results(&requests[2])[0].status, None);
    })
    .await;
}
