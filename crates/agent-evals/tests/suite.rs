//! A 20-case suite run offline against a whole agent on the wire-level Converse stand-in (its
//! deterministic demo model, through the real Bedrock client), with a scripted judge: every
//! case passes, twice in a row with the same report; a broken tool makes the cases that use it
//! regress, and the comparison says which; recorded runs become cases that pass on replay.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::time::Duration;

use agent_core::{Model, Tool, ToolSet, async_trait};
use agent_evals::{EvalReport, EvalRunner, Judge, cases_from_recording, parse_cases};
use agent_llm_bedrock::BedrockModel;
use agent_loop::AgentLoop;
use agent_testkit::{ConverseStandIn, Recording, ReplayMode, ReplayModel, ScriptedModel};
use aws_config::{BehaviorVersion, Region};
use serde_json::{Value, json};

const CASES: &str = include_str!("cases/travel.jsonl");

/// A tool with a fixed, deterministic answer made from its input.
struct Travel {
    name: &'static str,
    broken: bool,
}

#[async_trait]
impl Tool for Travel {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        match self.name {
            "get_weather" => "Gets today's weather for a city.",
            "find_hotels" => "Finds hotels in a city.",
            _ => "Cancels a booking by its id.",
        }
    }
    fn input_schema(&self) -> Value {
        match self.name {
            "cancel_booking" => {
                json!({"type": "object", "properties": {"booking_id": {"type": "string"}}, "required": ["booking_id"]})
            }
            _ => {
                json!({"type": "object", "properties": {"city": {"type": "string", "description": "The city"}}, "required": ["city"]})
            }
        }
    }
    async fn call(
        &self,
        input: Value,
        _context: &agent_core::ToolContext,
    ) -> Result<agent_core::ToolOutput, agent_core::ToolError> {
        let city = input["city"].as_str().unwrap_or_default().to_owned();
        if self.broken {
            return Err(agent_core::ToolError::new(
                agent_core::ToolErrorKind::Unavailable,
                "the service is down",
            ));
        }
        let len = city.chars().count();
        Ok(match self.name {
            "get_weather" => json!({"city": city, "celsius": 10 + len}),
            "find_hotels" => json!({"city": city, "found": format!("{} hotels", 2 * len)}),
            _ => json!({"cancelled": true}),
        }
        .into())
    }
}

fn tools(broken_weather: bool) -> ToolSet {
    ToolSet::new([
        Arc::new(Travel {
            name: "get_weather",
            broken: broken_weather,
        }) as Arc<dyn Tool>,
        Arc::new(Travel {
            name: "find_hotels",
            broken: false,
        }),
        Arc::new(Travel {
            name: "cancel_booking",
            broken: false,
        }),
    ])
    .unwrap()
}

async fn model(standin: &ConverseStandIn) -> BedrockModel {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "tests",
        ))
        .endpoint_url(standin.endpoint_url())
        .load()
        .await;
    BedrockModel::from_sdk_config(&config, "us.amazon.nova-pro-v1:0")
}

/// A judge that finds the hotels it is asked about.
fn judge() -> Judge {
    let mut judge = ScriptedModel::new();
    for _ in 0..4 {
        judge = judge.then_text(
            "```json\n{\"score\": 0.9, \"reason\": \"It lists the hotels found.\"}\n```",
        );
    }
    Judge::new(Arc::new(judge) as Arc<dyn Model>)
}

async fn run_suite(standin: &ConverseStandIn, broken_weather: bool) -> EvalReport {
    let cases = parse_cases(CASES).unwrap();
    let agent = AgentLoop::new(Arc::new(model(standin).await), tools(broken_weather));
    EvalRunner::new()
        .with_concurrency(4)
        .with_judge(judge())
        .with_timeout(Duration::from_secs(60))
        .run(&agent, &cases)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_case_suite_passes_offline_with_the_same_report_twice() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let cases = parse_cases(CASES).unwrap();
    assert!(cases.len() >= 20);
    let first = run_suite(&standin, false).await;
    assert!(first.all_passed(), "{}", first.to_markdown());
    assert_eq!(first.passed, cases.len());
    let judged: Vec<_> = first.cases.iter().filter_map(|c| c.score).collect();
    assert_eq!(judged, [0.9; 4]);
    for request in standin.requests() {
        assert_eq!(request.violation, None);
    }
    // Deterministic: the same answers, steps and tokens again (latency aside).
    let second = run_suite(&standin, false).await;
    let strip = |report: &EvalReport| {
        report
            .cases
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.passed,
                    c.answer.clone(),
                    c.steps,
                    c.tokens,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&first), strip(&second));
    let json = first.to_json();
    assert_eq!(EvalReport::from_json(&json).unwrap(), first);
    assert!(
        first
            .to_markdown()
            .starts_with("**20 of 20 cases passed.**")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_tool_is_a_regression_the_comparison_names() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let before = run_suite(&standin, false).await;
    let after = run_suite(&standin, true).await;
    assert!(!after.all_passed());
    let comparison = after.compare(&before);
    let mut regressed = comparison.regressed.clone();
    regressed.sort();
    // The cases that need the weather's figure regress; those that only check the tool was
    // called still pass (it was, and failed).
    let mut expected: Vec<String> = parse_cases(CASES)
        .unwrap()
        .into_iter()
        .filter(|c| c.answer.contains.iter().any(|text| text == "celsius"))
        .map(|c| c.name)
        .collect();
    assert_eq!(expected.len(), 8);
    expected.sort();
    assert_eq!(regressed, expected, "{}", comparison.to_markdown());
    assert!(comparison.improved.is_empty());
    let failure = after
        .cases
        .iter()
        .find(|c| c.name == "weather-oslo")
        .unwrap();
    assert!(
        failure
            .failures()
            .any(|check| check.check == "answer.contains \"celsius\""),
        "{failure:?}"
    );
    assert!(comparison.to_markdown().contains("**regressed**"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_runs_become_cases_that_pass_on_replay() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let agent = AgentLoop::new(Arc::new(model(&standin).await), tools(false));
    // Record two turns of one conversation.
    let mut turns = Vec::new();
    let mut traces = Vec::new();
    let mut history = Vec::new();
    for query in ["What is the weather in Oslo?", "Find hotels in Oslo."] {
        let input = agent_loop::RunInput::new(query).with_history(history.clone());
        let result = agent.run(input, &agent_core::NoEvents).await.unwrap();
        history.extend(result.messages.clone());
        turns.push((result.reasoning.run_id, result.messages.clone()));
        traces.push(result.reasoning);
    }
    let recording = Recording::from_turns(turns, traces);
    let cases = cases_from_recording(&recording, "oslo");
    assert_eq!(cases.len(), 2);
    assert_eq!(
        cases[1].conversation.len(),
        4,
        "the second case continues the first turn"
    );
    assert_eq!(cases[0].tools.called[0].name, "get_weather");

    let replay = ReplayModel::new(recording.clone(), ReplayMode::Strict);
    let replayed = AgentLoop::new(
        Arc::new(replay.clone()),
        recording.replay_tools(&tools(false)),
    );
    let report = EvalRunner::new()
        .with_concurrency(1)
        .run(&replayed, &cases)
        .await;
    assert!(report.all_passed(), "{}", report.to_markdown());
    assert!(
        replay.divergences().is_empty(),
        "{:?}",
        replay.divergences()
    );
}
