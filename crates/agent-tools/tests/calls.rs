//! Calling tools made by `#[tool]`: valid input round trips, invalid input rejected with the
//! field named, sync and async functions, `Result`s, state, and panics inside an agent run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_testkit::ScriptedModel;
use minimalagent::core::{
    AgentLoop, ContentBlock, NoEvents, RunInput, Tool, ToolCallStatus, ToolErrorKind, ToolExt,
    ToolResultContent, ToolResultStatus, ToolSet,
};
use minimalagent::tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Units {
    Metric,
    Imperial,
}

#[derive(Debug, Serialize)]
struct Weather {
    location: String,
    temperature: f64,
    units: Units,
}

#[derive(Debug)]
struct WeatherError(String);

impl std::fmt::Display for WeatherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no weather station near {}", self.0)
    }
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
/// * `units` - Unit system to answer in
#[tool]
async fn get_weather(location: String, units: Option<Units>) -> Result<Weather, WeatherError> {
    tokio::task::yield_now().await;
    if location == "Atlantis" {
        return Err(WeatherError(location));
    }
    let units = units.unwrap_or(Units::Metric);
    let temperature = match units {
        Units::Metric => 20.0,
        Units::Imperial => 68.0,
    };
    Ok(Weather {
        location,
        temperature,
        units,
    })
}

#[derive(Debug, Serialize)]
struct DailyForecast {
    place: String,
    days: Vec<String>,
}

#[tool(
    name = "custom_weather",
    description = "Weather forecast for any place"
)]
fn forecast(
    #[arg(description = "City, postal code or coordinates")] place: String,
    #[arg(description = "How many days ahead")] days: u8,
) -> DailyForecast {
    DailyForecast {
        place,
        days: (1..=days).map(|day| format!("day {day}: sunny")).collect(),
    }
}

/// A postal address.
#[derive(Debug, Deserialize, JsonSchema)]
struct Address {
    /// Street and number.
    street: String,
    /// The city.
    city: String,
}

/// Labels parcels.
///
/// # Arguments
/// * `to` - Where they go
/// * `weights` - Each parcel's weight in grams
/// * `notes` - Notes per parcel number
#[tool]
fn label(to: Address, weights: Vec<u32>, notes: Option<HashMap<String, String>>) -> Vec<String> {
    weights
        .iter()
        .enumerate()
        .map(|(index, grams)| {
            let note = notes
                .as_ref()
                .and_then(|notes| notes.get(&index.to_string()))
                .map_or("", String::as_str);
            format!("{}, {}: {grams} g {note}", to.street, to.city)
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// Forgets everything.
#[tool]
fn forget() {}

/// Reads a file's size.
///
/// # Arguments
/// * `path` - The file
#[tool]
fn file_size(path: String) -> std::io::Result<u64> {
    std::fs::metadata(path).map(|metadata| metadata.len())
}

/// Gives a map whose keys are not strings, which JSON cannot hold.
#[tool]
fn unrepresentable() -> HashMap<(u8, u8), u8> {
    HashMap::from([((1, 2), 3)])
}

/// Always panics.
///
/// # Arguments
/// * `reason` - Why
#[tool]
#[expect(clippy::panic, reason = "the panic is what is tested")]
fn explode(reason: String) -> String {
    panic!("exploded: {reason}")
}

/// Counts its calls.
#[tool]
fn count_call(#[state] calls: Arc<AtomicUsize>) -> usize {
    calls.fetch_add(1, Ordering::SeqCst) + 1
}

/// Greets someone.
///
/// # Arguments
/// * `name` - Who to greet
#[tool]
async fn greet(#[state] greeting: String, name: String) -> String {
    format!("{greeting}, {name}!")
}

#[tokio::test]
async fn async_result_tool_round_trip() {
    let output = GetWeather
        .call_detached(json!({"location": "Paris", "units": "imperial"}))
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({"location": "Paris", "temperature": 68.0, "units": "imperial"})
    );
}

#[tokio::test]
async fn optional_arguments_may_be_missing_or_null() {
    let expected = json!({"location": "Oslo", "temperature": 20.0, "units": "metric"});
    let missing = GetWeather
        .call_detached(json!({"location": "Oslo"}))
        .await
        .unwrap();
    let null = GetWeather
        .call_detached(json!({"location": "Oslo", "units": null}))
        .await
        .unwrap();
    assert_eq!(missing, expected);
    assert_eq!(null, expected);
}

#[tokio::test]
async fn an_err_becomes_a_failed_call_with_its_message() {
    let error = GetWeather
        .call_detached(json!({"location": "Atlantis"}))
        .await
        .unwrap_err();
    assert_eq!(*error.kind(), ToolErrorKind::Failed);
    assert_eq!(error.message(), "no weather station near Atlantis");
}

#[tokio::test]
async fn io_results_are_results_too() {
    let error = FileSize
        .call_detached(json!({"path": "/this/file/does/not/exist"}))
        .await
        .unwrap_err();
    assert_eq!(*error.kind(), ToolErrorKind::Failed);
    assert!(error.message().contains("No such file"), "{error}");
    let size = FileSize
        .call_detached(json!({"path": env!("CARGO_MANIFEST_PATH")}))
        .await
        .unwrap();
    assert!(size.as_u64().unwrap() > 0);
}

#[tokio::test]
async fn sync_tool_round_trip() {
    let output = Forecast
        .call_detached(json!({"place": "Lyon", "days": 2}))
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({"place": "Lyon", "days": ["day 1: sunny", "day 2: sunny"]})
    );
}

#[tokio::test]
async fn nested_structs_sequences_and_maps_round_trip() {
    let output = Label
        .call_detached(json!({
            "to": {"street": "1 Rue Haute", "city": "Lyon"},
            "weights": [200, 1500],
            "notes": {"1": "fragile"}
        }))
        .await
        .unwrap();
    assert_eq!(
        output,
        json!([
            "1 Rue Haute, Lyon: 200 g",
            "1 Rue Haute, Lyon: 1500 g fragile"
        ])
    );
}

#[tokio::test]
async fn a_tool_without_arguments_takes_an_empty_object_or_null() {
    assert_eq!(Forget.call_detached(json!({})).await.unwrap(), Value::Null);
    assert_eq!(
        Forget.call_detached(Value::Null).await.unwrap(),
        Value::Null
    );
    let error = Forget
        .call_detached(json!({"everything": true}))
        .await
        .unwrap_err();
    assert_eq!(*error.kind(), ToolErrorKind::InvalidInput);
}

#[expect(clippy::unwrap_used, reason = "a test helper: a panic fails the test")]
async fn invalid(tool: &dyn Tool, input: Value) -> String {
    let error = tool.call_detached(input).await.unwrap_err();
    assert_eq!(*error.kind(), ToolErrorKind::InvalidInput, "{error}");
    error.message().to_owned()
}

#[tokio::test]
async fn a_wrong_type_names_the_field_and_what_was_expected() {
    assert_eq!(
        invalid(&Forecast, json!({"place": "Lyon", "days": "x"})).await,
        "field `days`: invalid type: string \"x\", expected u8"
    );
    assert_eq!(
        invalid(&Forecast, json!({"place": "Lyon", "days": 300})).await,
        "field `days`: invalid value: integer `300`, expected u8"
    );
    assert_eq!(
        invalid(&Forecast, json!({"place": "Lyon", "days": 2.5})).await,
        "field `days`: invalid type: floating point `2.5`, expected u8"
    );
}

#[tokio::test]
async fn missing_and_unknown_fields_are_named() {
    assert_eq!(
        invalid(&Forecast, json!({"place": "Lyon"})).await,
        "missing field `days`"
    );
    assert_eq!(
        invalid(&Forecast, json!({"place": "Lyon", "days": 1, "day": 2})).await,
        "field `day`: unknown field `day`, expected `place` or `days`"
    );
}

#[tokio::test]
async fn nested_fields_are_named_by_their_path() {
    assert_eq!(
        invalid(
            &Label,
            json!({"to": {"street": "1 Rue Haute", "city": 3}, "weights": []})
        )
        .await,
        "field `to.city`: invalid type: integer `3`, expected a string"
    );
    assert_eq!(
        invalid(
            &Label,
            json!({"to": {"street": "1 Rue Haute"}, "weights": []})
        )
        .await,
        "field `to`: missing field `city`"
    );
    assert_eq!(
        invalid(
            &Label,
            json!({"to": {"street": "s", "city": "c"}, "weights": [1, -2]})
        )
        .await,
        "field `weights[1]`: invalid value: integer `-2`, expected u32"
    );
}

#[tokio::test]
async fn enums_name_their_variants() {
    assert_eq!(
        invalid(&GetWeather, json!({"location": "Oslo", "units": "kelvin"})).await,
        "field `units`: unknown variant `kelvin`, expected `metric` or `imperial`"
    );
}

#[tokio::test]
async fn input_that_is_not_an_object_is_rejected() {
    assert_eq!(
        invalid(&Forecast, json!("Lyon for 2 days")).await,
        "the input must be a JSON object of the tool's arguments, not a string"
    );
    // serde would read a struct from an array by position; the schema offers no such thing.
    assert_eq!(
        invalid(&Forecast, json!(["Lyon", 2])).await,
        "the input must be a JSON object of the tool's arguments, not an array"
    );
    assert_eq!(
        invalid(&Forecast, json!(7)).await,
        "the input must be a JSON object of the tool's arguments, not a number"
    );
}

#[tokio::test]
async fn a_result_that_json_cannot_hold_is_a_failed_call() {
    let error = Unrepresentable.call_detached(json!({})).await.unwrap_err();
    assert_eq!(*error.kind(), ToolErrorKind::Failed);
    assert_eq!(
        error.message(),
        "the tool's result could not be turned into JSON: key must be a string"
    );
}

#[tokio::test]
async fn each_call_gets_a_clone_of_the_state() {
    let calls = Arc::new(AtomicUsize::new(0));
    let tool = CountCall::new(Arc::clone(&calls));
    assert_eq!(tool.call_detached(json!({})).await.unwrap(), json!(1));
    assert_eq!(
        tool.clone().call_detached(json!({})).await.unwrap(),
        json!(2)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(format!("{tool:?}"), "CountCall { .. }");

    let greet = Greet::new("Hello".to_owned());
    assert_eq!(
        greet.call_detached(json!({"name": "Ada"})).await.unwrap(),
        json!("Hello, Ada!")
    );
}

#[tokio::test]
async fn the_functions_stay_callable() {
    let weather = get_weather("Rome".to_owned(), Some(Units::Imperial))
        .await
        .unwrap();
    assert_eq!(weather.temperature, 68.0);
    assert_eq!(forecast("Rome".to_owned(), 1).days.len(), 1);
    assert_eq!(
        greet("Hi".to_owned(), "Bo".to_owned()).await,
        "Hi, Bo!".to_owned()
    );
}

/// A run whose model asks for a panicking tool and a working one in the same step.
#[tokio::test]
async fn a_panicking_tool_becomes_an_error_result_in_an_agent_run() {
    let model = ScriptedModel::new()
        .then_tools(
            Some("Two tools at once"),
            &[
                ("explode", json!({"reason": "testing"})),
                ("custom_weather", json!({"place": "Lyon", "days": 1})),
            ],
        )
        .then_text("One of them broke.");
    let tools = ToolSet::new([
        Arc::new(Explode) as Arc<dyn Tool>,
        Arc::new(Forecast) as Arc<dyn Tool>,
    ])
    .unwrap();
    let agent_loop = AgentLoop::new(Arc::new(model.clone()), tools).with_system_prompt("");
    let output = agent_loop
        .run(RunInput::new("go"), &NoEvents)
        .await
        .unwrap();
    let reasoning = &output.reasoning;
    assert_eq!(output.response, "One of them broke.");

    // The model's second request carries both results: the panic as an error, then the forecast.
    let requests = model.requests();
    let results: Vec<_> = requests[1]
        .messages
        .last()
        .unwrap()
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolResult(result) => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].status, Some(ToolResultStatus::Error));
    let ToolResultContent::Text(text) = &results[0].content[0] else {
        panic!("expected text, got {:?}", results[0].content);
    };
    assert!(text.contains("exploded: testing"), "{text}");
    assert_eq!(results[1].status, None);
    assert_eq!(
        results[1].content,
        [ToolResultContent::Json(
            json!({"place": "Lyon", "days": ["day 1: sunny"]})
        )]
    );

    let invocations = &reasoning.steps[0].tools;
    assert_eq!(invocations[0].status, ToolCallStatus::Failed);
    assert_eq!(
        invocations[0].error.as_ref().unwrap().kind,
        ToolErrorKind::Panicked
    );
    assert_eq!(invocations[1].status, ToolCallStatus::Succeeded);
}

/// Invalid input reaches the model as an error result naming the field, so it can try again.
#[tokio::test]
async fn invalid_input_in_an_agent_run_tells_the_model_what_to_fix() {
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[("custom_weather", json!({"place": "Lyon", "days": "two"}))],
        )
        .then_tools(
            None,
            &[("custom_weather", json!({"place": "Lyon", "days": 2}))],
        )
        .then_text("Sunny for two days.");
    let tools = ToolSet::new([Arc::new(Forecast) as Arc<dyn Tool>]).unwrap();
    let agent_loop = AgentLoop::new(Arc::new(model.clone()), tools).with_system_prompt("");
    let output = agent_loop
        .run(RunInput::new("weather in Lyon?"), &NoEvents)
        .await
        .unwrap();
    let reasoning = &output.reasoning;

    let requests = model.requests();
    let first_result = requests[1]
        .messages
        .last()
        .unwrap()
        .tool_results()
        .next()
        .unwrap()
        .clone();
    assert_eq!(first_result.status, Some(ToolResultStatus::Error));
    let ToolResultContent::Text(text) = &first_result.content[0] else {
        panic!("expected text, got {:?}", first_result.content);
    };
    assert!(
        text.ends_with("field `days`: invalid type: string \"two\", expected u8"),
        "{text}"
    );
    assert_eq!(
        reasoning.steps[1].tools[0].status,
        ToolCallStatus::Succeeded
    );
}

/// Moves money: each call waits for a person's approval.
///
/// # Arguments
///
/// * `amount` - How much.
#[tool(approval = "money leaves the account")]
fn pay(amount: u32) -> u32 {
    amount
}

/// Reads a balance; safe to run again.
#[tool(read_only)]
fn balance() -> u32 {
    7
}

#[test]
fn approval_and_effect_are_declared_by_the_attribute() {
    use agent_core::ToolEffect;
    assert_eq!(Pay.approval(), Some("money leaves the account"));
    assert_eq!(Pay.effect(), ToolEffect::AtMostOnce, "the default");
    assert_eq!(Balance.approval(), None);
    assert_eq!(Balance.effect(), ToolEffect::AtLeastOnce);
}
