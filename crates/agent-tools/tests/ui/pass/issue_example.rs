//! The two tools of the issue that introduced `#[tool]`: an async function returning a
//! `Result`, documented in its doc comment, and a sync one described by attributes. (The
//! issue left `days` undescribed, which is a compile error: see `fail/missing_argument_description.rs`.)

use minimalagent::core::ToolSet;
use minimalagent::{Tool, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize, JsonSchema)]
enum Units {
    Metric,
    Imperial,
}

#[derive(Serialize)]
struct Weather {
    summary: String,
}

#[derive(Debug)]
struct WeatherError;

impl std::fmt::Display for WeatherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no weather")
    }
}

#[derive(Serialize)]
struct DailyForecast {
    days: u8,
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
/// * `units` - Unit system to answer in
#[tool]
async fn get_weather(location: String, units: Option<Units>) -> Result<Weather, WeatherError> {
    Ok(Weather {
        summary: format!("{location} {units:?}"),
    })
}

#[tool(
    name = "custom_weather",
    description = "Weather forecast for any place"
)]
fn forecast(
    #[arg(description = "City, postal code or coordinates")] place: String,
    #[arg(description = "How many days ahead")] days: u8,
) -> DailyForecast {
    let _ = place;
    DailyForecast { days }
}

fn main() {
    let tools = ToolSet::new([Arc::new(GetWeather) as Arc<dyn Tool>, Arc::new(Forecast)]).unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(Forecast.name(), "custom_weather");
    assert_eq!(
        Forecast.input_schema()["required"],
        serde_json::json!(["place", "days"])
    );
}
