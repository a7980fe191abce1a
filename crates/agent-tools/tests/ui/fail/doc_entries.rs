//! Doc comment entries that describe no argument, or one twice.

use minimalagent::tool;

/// Gets the weather.
///
/// # Arguments
/// * `locaton` - City name
/// * `units` - Unit system
/// * `units` - Unit system, again
#[tool]
fn get_weather(location: Option<String>, units: Option<String>) -> String {
    format!("{location:?} {units:?}")
}

fn main() {}
