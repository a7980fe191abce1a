//! The struct takes the function's PascalCase name, so a type of that name in the same module
//! clashes; the error points at the function's name.

use minimalagent::tool;

#[derive(serde::Serialize)]
struct Forecast {
    days: u8,
}

/// Forecasts.
///
/// # Arguments
/// * `days` - How many days
#[tool]
fn forecast(days: u8) -> Forecast {
    Forecast { days }
}

fn main() {}
