//! Typed final answers: the model answers through a schema-constrained final tool, and the
//! answer comes back as a Rust value.
//!
//! ```sh
//! cargo run --example typed_answer
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::{Agent, tool};
use schemars::JsonSchema;
use serde::Deserialize;

/// The answer this example wants.
#[derive(Debug, Deserialize, JsonSchema)]
struct TripAdvice {
    /// The city the advice is for.
    city: String,
    /// Whether to pack an umbrella.
    umbrella: bool,
    /// One sentence of advice.
    advice: String,
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> serde_json::Value {
    serde_json::json!({"location": location, "forecast": "showers", "temperature_c": 14})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let agent = Agent::builder()
        .model(example.model)
        .tool(GetWeather)
        .system_prompt("You give short travel advice.")
        .show_reasoning(false)
        .build()
        .await?;
    let advice = agent
        .run_structured::<TripAdvice>("I'm going to Bergen tomorrow. Umbrella?")
        .await?;
    let TripAdvice {
        city,
        umbrella,
        advice: sentence,
    } = &advice.value;
    println!(
        "{city}: umbrella {}: {sentence}",
        if *umbrella { "yes" } else { "no" }
    );
    println!("(as JSON in the conversation: {})", advice.result.response);
    Ok(())
}
