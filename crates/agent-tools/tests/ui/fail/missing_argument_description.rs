//! Required arguments without a description, as in the issue's `forecast` (where `days` had
//! none). `Option` arguments may go without; `#[state]` is not shown to the model.

use minimalagent::tool;

#[derive(serde::Serialize)]
struct DailyForecast;

#[tool(
    name = "custom_weather",
    description = "Weather forecast for any place"
)]
fn forecast(
    #[arg(description = "City, postal code or coordinates")] place: String,
    days: u8,
) -> DailyForecast {
    let _ = (place, days);
    DailyForecast
}

/// Searches.
///
/// # Arguments
/// * `query` -
#[tool]
fn search(
    #[state] index: std::sync::Arc<Vec<String>>,
    query: String,
    limit: Option<u32>,
    #[arg(description = "")] offset: u32,
) -> usize {
    let _ = (query, limit, offset);
    index.len()
}

fn main() {}
