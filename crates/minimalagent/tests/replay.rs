//! Recorded sessions replayed as regression tests: a session recorded on the wire-level
//! Converse stand-in (through the real Bedrock client) is exported, then replayed with
//! `ReplayModel` and tools answering from the record — no network, no side effects — with zero
//! divergences; a changed tool result or schema is reported at the step it shows.
#![cfg(feature = "bedrock")]
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_testkit::{ConverseStandIn, Recording, ReplayMode, ReplayModel};
use minimalagent::bedrock::aws_config::{self, BehaviorVersion, Region};
use minimalagent::core::ToolSet;
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, BedrockModel, ErrorKind, Tool, tool};

/// Gets the weather for a city.
///
/// # Arguments
/// * `city` - The city
#[tool]
fn get_weather(#[state] calls: Arc<AtomicUsize>, city: String) -> serde_json::Value {
    calls.fetch_add(1, Ordering::SeqCst);
    serde_json::json!({"city": city, "celsius": 21})
}

/// Gets the weather for a city.
///
/// # Arguments
/// * `city` - The city
#[tool(name = "get_weather", struct_name = "WarmerWeather")]
fn warmer_weather(city: String) -> serde_json::Value {
    serde_json::json!({"city": city, "celsius": 35})
}

/// Gets the weather for a city, in Fahrenheit.
///
/// # Arguments
/// * `city` - The city
#[tool(name = "get_weather", struct_name = "RenamedWeather")]
fn renamed_weather(city: String) -> serde_json::Value {
    serde_json::json!({"city": city, "celsius": 21})
}

const QUERIES: [&str; 3] = [
    "What is the weather in Oslo?",
    "And in Lisbon?",
    "Thanks, that is all.",
];

async fn record(calls: &Arc<AtomicUsize>) -> (String, Vec<String>) {
    let standin = ConverseStandIn::demo().await.unwrap();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "tests",
        ))
        .endpoint_url(standin.endpoint_url())
        .load()
        .await;
    let agent = Agent::builder()
        .model(BedrockModel::from_sdk_config(
            &config,
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
        ))
        .tool(GetWeather::new(calls.clone()))
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let mut answers = Vec::new();
    for query in QUERIES {
        answers.push(
            agent
                .run_in_session(query, "recorded")
                .await
                .unwrap()
                .response,
        );
    }
    for request in standin.requests() {
        assert_eq!(request.violation, None);
    }
    let export = agent
        .sessions()
        .unwrap()
        .export_jsonl("recorded")
        .await
        .unwrap();
    (export, answers)
}

async fn replayer(model: &ReplayModel, tool: impl Tool + 'static, recording: &Recording) -> Agent {
    let real = ToolSet::new([Arc::new(tool) as Arc<dyn Tool>]).unwrap();
    let replayed = recording.replay_tools(&real);
    Agent::builder()
        .model(model.clone())
        .tools(
            replayed
                .names()
                .filter_map(|name| replayed.get(name).cloned()),
        )
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_with_no_divergence_and_no_tool_running() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (export, answers) = record(&calls).await;
    let recording = Recording::from_export(&export).unwrap();
    assert_eq!(recording.queries(), QUERIES);
    let recorded_calls = calls.load(Ordering::SeqCst);
    assert!(recorded_calls >= 2, "the recording used the tool");

    let model = ReplayModel::new(recording.clone(), ReplayMode::Strict);
    let agent = replayer(&model, GetWeather::new(calls.clone()), &recording).await;
    for (query, answer) in recording.queries().iter().zip(&answers) {
        let result = agent.run_in_session(query, "replayed").await.unwrap();
        assert_eq!(&result.response, answer);
    }
    assert!(model.divergences().is_empty(), "{:?}", model.divergences());
    assert_eq!(model.remaining(), 0, "every recorded reply was used");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        recorded_calls,
        "the replayed tools ran nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tool_result_or_schema_is_reported_at_its_step() {
    let (export, _) = record(&Arc::default()).await;
    let recording = Recording::from_export(&export).unwrap();

    // A tool whose result changed: run 1, step 2 (the call that gets the result back).
    let model = ReplayModel::new(recording.clone(), ReplayMode::Strict);
    let agent = Agent::builder()
        .model(model.clone())
        .tool(WarmerWeather)
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let error = agent
        .run_in_session(QUERIES[0], "changed-result")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Model);
    let [divergence] = model.divergences().try_into().unwrap_or_else(|d: Vec<_>| {
        panic!("one divergence: {d:?}");
    });
    assert_eq!((divergence.run, divergence.step), (1, 2));
    assert!(
        divergence.field.starts_with("toolResult[") && divergence.field.ends_with("].content"),
        "{divergence}"
    );
    assert!(
        divergence.recorded.to_string().contains("21"),
        "{divergence}"
    );
    assert!(divergence.now.to_string().contains("35"), "{divergence}");
    assert!(error.to_string().contains("run 1 step 2"), "{error}");

    // A tool whose description changed: run 1, step 1, named.
    let model = ReplayModel::new(recording.clone(), ReplayMode::Lenient);
    let agent = replayer(&model, RenamedWeather, &recording).await;
    for query in recording.queries() {
        agent
            .run_in_session(&query, "changed-schema")
            .await
            .unwrap();
    }
    let divergences = model.divergences();
    assert_eq!(divergences[0].field, "tools.get_weather", "{divergences:?}");
    assert_eq!((divergences[0].run, divergences[0].step), (1, 1));
    assert_eq!(model.remaining(), 0, "a lenient replay goes on");
}
