//! `struct_name` picks the generated struct's name when the PascalCase one is taken, as it is
//! here by the function's own return type.

use minimalagent::{Tool, tool};
use serde::Serialize;

#[derive(Serialize)]
struct Forecast {
    days: u8,
}

/// Weather forecast for any place.
///
/// # Arguments
/// * `days` - How many days ahead, 1 to 10
#[tool(struct_name = "ForecastTool")]
fn forecast(days: u8) -> Forecast {
    Forecast { days }
}

fn main() {
    assert_eq!(ForecastTool.name(), "forecast");
    assert_eq!(forecast(3).days, 3);
}
