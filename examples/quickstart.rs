//! The seed's Quick Start: an agent with session memory, two questions in session `user123`,
//! then the reasoning of the last run.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With AWS credentials it uses Amazon Bedrock and the DynamoDB table
//! `minimalagent-session-table`, as the seed does. Without them it runs offline: the built-in
//! Converse stand-in plays the model and the session lives in a SQLite file under `target/`.
//! Run it twice: the second run continues the same session and says how many earlier
//! interactions it found.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::{Agent, tool};
use serde::Serialize;

/// What `get_weather` answers.
#[derive(Debug, Serialize)]
struct Weather {
    location: String,
    forecast: String,
    temperature_c: i32,
}

/// Get the weather forecast for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> Weather {
    // A real tool would call a weather service here.
    Weather {
        forecast: "sunny, then light rain tomorrow".to_owned(),
        temperature_c: 21,
        location,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let builder = Agent::builder()
        .model(example.model)
        .tool(GetWeather)
        .system_prompt("You are a weather assistant.")
        .show_reasoning(false);
    let agent = common::with_sessions(builder, "quickstart").build().await?;

    let earlier = agent.get_reasoning_history("user123").await?.len();
    if earlier > 0 {
        println!("Session user123 already holds {earlier} earlier interactions: continuing it.");
    } else {
        println!("Session user123 is new.");
    }

    // First interaction.
    let first = agent
        .run_in_session("What's the weather in Seattle?", "user123")
        .await?;
    println!("\n> What's the weather in Seattle?\n{}", first.response);

    // Later interaction (remembers context).
    let second = agent
        .run_in_session("What about tomorrow?", "user123")
        .await?;
    println!("\n> What about tomorrow?\n{}", second.response);

    // The reasoning of the most recent interaction.
    let reasoning = agent
        .get_reasoning("user123")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the session has no reasoning"))?;
    println!("\nQuery: {}", reasoning.query);
    println!("Response: {}", reasoning.final_response.unwrap_or_default());
    println!("The agent took {} steps to answer", reasoning.total_steps);
    for step in &reasoning.steps {
        println!(
            "Step {} thinking: {}",
            step.step_number,
            step.thinking.as_deref().unwrap_or("-")
        );
        for tool in &step.tools {
            println!("  Tool used: {} with inputs {}", tool.name, tool.inputs);
            println!(
                "  Tool result: {}",
                tool.result
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
        }
    }
    let history = agent.get_reasoning_history("user123").await?;
    println!("\nFound {} interactions in this session", history.len());
    Ok(())
}
