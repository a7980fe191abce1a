//! The quick start: an agent with one tool, on Amazon Bedrock when AWS credentials are found,
//! otherwise offline against the built-in Converse stand-in.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

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

/// Get the current weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> Weather {
    // A real tool would call a weather service here.
    Weather {
        forecast: "sunny".to_owned(),
        temperature_c: 21,
        location,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let agent = Agent::builder()
        .model(example.model)
        .tool(GetWeather)
        .system_prompt("You are a weather assistant.")
        .max_steps(5)
        .build()
        .await?;
    let (response, reasoning) = agent.run("What's the weather in Seattle?").await?;
    println!("{response}");
    println!("(answered in {} tool step(s))", reasoning.total_steps);
    Ok(())
}
