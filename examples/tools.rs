//! Several tools, sync and async, with typed arguments, a failing tool, application state, and
//! parallel calls: the model's tool requests in one reply run concurrently.
//!
//! ```sh
//! cargo run --example tools
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use minimalagent::{Agent, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A temperature unit.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Units {
    /// Degrees Celsius.
    Celsius,
    /// Degrees Fahrenheit.
    Fahrenheit,
}

/// Current conditions at a place.
#[derive(Debug, Serialize)]
struct Weather {
    location: String,
    forecast: &'static str,
    temperature: f64,
    units: &'static str,
}

/// Why the weather service could not answer.
#[derive(Debug, thiserror::Error)]
#[error("no weather station near {0}")]
struct NoStation(String);

/// Get the current weather for a city.
///
/// # Arguments
/// * `location` - City name to get the weather for
/// * `units` - Unit of the temperature (default celsius)
#[tool]
async fn get_weather(location: String, units: Option<Units>) -> Result<Weather, NoStation> {
    // Simulates a call to a weather service; tools called in one step run concurrently.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if location.eq_ignore_ascii_case("atlantis") {
        return Err(NoStation(location));
    }
    let celsius = 18.0;
    let (temperature, units) = match units.unwrap_or(Units::Celsius) {
        Units::Celsius => (celsius, "celsius"),
        Units::Fahrenheit => (celsius * 9.0 / 5.0 + 32.0, "fahrenheit"),
    };
    Ok(Weather {
        location,
        forecast: "partly cloudy",
        temperature,
        units,
    })
}

/// Population figures, as an application would load them once at start-up.
#[derive(Debug, Default)]
struct Census {
    by_city: HashMap<String, u64>,
}

/// Look up the population of a city.
///
/// # Arguments
/// * `city` - City name to look up
#[tool]
fn city_population(#[state] census: Arc<Census>, city: String) -> Result<u64, String> {
    census
        .by_city
        .get(&city.to_lowercase())
        .copied()
        .ok_or_else(|| format!("no census data for {city}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let census = Arc::new(Census {
        by_city: [
            ("seattle".to_owned(), 755_078),
            ("paris".to_owned(), 2_102_650),
        ]
        .into_iter()
        .collect(),
    });
    let agent = Agent::builder()
        .model(example.model)
        .tool(GetWeather)
        .tool(CityPopulation::new(census))
        .system_prompt(
            "You answer questions about cities. Use the tools; call several at once when you can.",
        )
        .build()
        .await?;
    let result = agent
        .run("What's the weather in Seattle and in Paris, and what is the city population of each?")
        .await?;
    println!("{}", result.response);
    let reasoning = &result.reasoning;
    let calls: usize = reasoning.steps.iter().map(|step| step.tools.len()).sum();
    println!(
        "({} steps, {calls} tool calls, {} tokens)",
        reasoning.total_steps, reasoning.usage.total_tokens
    );
    Ok(())
}
