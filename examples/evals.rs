//! From recorded runs to tests: record a session, replay it as a regression test (no network,
//! no tool runs), fork it at its first run to try another question, and run an eval suite —
//! cases made from the recording plus hand-written ones — whose report is compared with the
//! previous run's, failing on a regression as a CI job would.
//!
//! ```sh
//! cargo run --example evals          # offline: the Converse stand-in and an in-memory store
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use minimalagent::core::ToolSet;
use minimalagent::evals::replay::{Recording, ReplayMode, ReplayModel};
use minimalagent::evals::{EvalCase, EvalReport, EvalRunner, ExpectedCall, cases_from_recording};
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, ForkPoint, Tool, tool};

/// Gets today's weather for a city.
///
/// # Arguments
/// * `city` - The city
#[tool]
fn get_weather(city: String) -> serde_json::Value {
    let celsius = 8 + city.len() % 20;
    serde_json::json!({"city": city, "celsius": celsius})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let store = InMemorySessionStore::new();
    let agent = Agent::builder()
        .model(example.model.clone())
        .tool(GetWeather)
        .sessions(store.clone())
        .show_reasoning(false)
        .build()
        .await?;

    // 1. Record a session.
    for query in ["What is the weather in Oslo?", "And in Lisbon?"] {
        let result = agent.run_in_session(query, "trip").await?;
        println!("recorded: {query} → {}", result.response);
    }
    let sessions = agent.sessions()?;
    let recording = Recording::from_export(&sessions.export_jsonl("trip").await?)?;

    // 2. Replay it: the model and the tool answer from the record; a strict replay fails at
    //    the first difference between what the agent sends now and what it sent then.
    let tools = ToolSet::new([Arc::new(GetWeather) as Arc<dyn Tool>])?;
    let replay = ReplayModel::new(recording.clone(), ReplayMode::Strict);
    let replayed = recording.replay_tools(&tools);
    let replayer = Agent::builder()
        .model(replay.clone())
        .tools(
            replayed
                .names()
                .filter_map(|name| replayed.get(name).cloned()),
        )
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await?;
    for query in recording.queries() {
        replayer.run_in_session(&query, "replayed").await?;
    }
    println!(
        "replayed {} runs with {} divergences",
        recording.runs().len(),
        replay.divergences().len()
    );

    // 3. Fork after the first run and go another way.
    let forked = sessions
        .fork("trip", ForkPoint::AfterRun(1), "trip-fork")
        .await?;
    let other = agent.run_in_session("And in Nairobi?", "trip-fork").await?;
    println!(
        "forked after run {} of `{}` ({} turn): {}",
        forked.origin.run, forked.origin.session, forked.turns, other.response
    );

    // 4. An eval suite: the recorded runs as cases, and one written by hand.
    let mut cases = cases_from_recording(&recording, "trip");
    let mut lima = EvalCase::new("weather-lima", "What is the weather in Lima?");
    lima.tools.called.push(ExpectedCall::with_input(
        "get_weather",
        serde_json::json!({"city": "Lima"}),
    ));
    lima.tools.never.push("book_flight".into());
    lima.answer.contains.push("Lima".into());
    lima.limits.max_steps = Some(2);
    cases.push(lima);
    let report = EvalRunner::new()
        .with_concurrency(2)
        .run(agent.agent_loop(), &cases)
        .await;
    println!("{}", report.to_markdown());

    // Compared with the previous run's report, as a CI job keeps it.
    let path = std::env::temp_dir().join("minimalagent-evals-report.json");
    if let Ok(previous) = std::fs::read_to_string(&path)
        && let Ok(previous) = EvalReport::from_json(&previous)
    {
        let comparison = report.compare(&previous);
        println!("{}", comparison.to_markdown());
        anyhow::ensure!(!comparison.has_regressions(), "the suite regressed");
    }
    std::fs::write(&path, report.to_json())?;
    anyhow::ensure!(report.all_passed(), "some cases failed");
    Ok(())
}
