//! Retrieving reasoning and tool-invocation history: what the agent thought, which tools it
//! called with which inputs, and what they returned — for the latest run and the whole session.
//!
//! ```sh
//! cargo run --example reasoning_example
//! cargo xtask example reasoning_example        # offline, with DynamoDB Local
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::{Agent, tool};
use serde::Serialize;

/// Current conditions at a place.
#[derive(Debug, Serialize)]
struct Conditions {
    location: String,
    forecast: String,
    temperature_c: i32,
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> Conditions {
    Conditions {
        location,
        forecast: "light rain".to_owned(),
        temperature_c: 12,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let agent = common::with_sessions(Agent::builder(), "reasoning_example")
        .model(example.model)
        .tool(GetWeather)
        .show_reasoning(false)
        .build()
        .await?;
    let session_id = "reasoning-example";
    agent.delete_session(session_id).await?;
    agent
        .run_in_session("What's the weather in Seattle?", session_id)
        .await?;
    agent
        .run_in_session("And what about the weather in Paris?", session_id)
        .await?;

    // The most recent run's reasoning.
    let Some(reasoning) = agent.get_reasoning(session_id).await? else {
        anyhow::bail!("no reasoning was kept for {session_id}");
    };
    println!("Query: {}", reasoning.query);
    println!(
        "Response: {}",
        reasoning.final_response.as_deref().unwrap_or("")
    );
    println!("The agent took {} steps to answer", reasoning.total_steps);
    for step in &reasoning.steps {
        println!(
            "\nStep {} thinking: {}",
            step.step_number,
            step.thinking.as_deref().unwrap_or("(none)")
        );
        for tool in &step.tools {
            println!("Tool used: {}", tool.name);
            println!("Tool inputs: {}", tool.inputs);
            match (&tool.result, &tool.error) {
                (Some(result), _) => println!("Tool result: {result}"),
                (None, Some(error)) => println!("Tool error: {}", error.message),
                (None, None) => println!("Tool result: (none yet)"),
            }
        }
    }

    // Every run of the session.
    let history = agent.get_reasoning_history(session_id).await?;
    println!("\nFound {} interactions in this session", history.len());
    for (i, interaction) in history.iter().enumerate() {
        println!("\nInteraction {}: {}", i + 1, interaction.query);
        println!("Total steps: {}", interaction.total_steps);
        for step in &interaction.steps {
            for tool in &step.tools {
                println!("Tool: {}, Inputs: {}", tool.name, tool.inputs);
            }
        }
    }
    Ok(())
}
