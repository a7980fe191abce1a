//! An argument type that is neither `Deserialize` nor `JsonSchema`: the compiler's errors point
//! at the argument's type.

use minimalagent::tool;

struct Location {
    name: String,
}

/// Gets the weather.
///
/// # Arguments
/// * `location` - Where
#[tool]
fn get_weather(location: Location) -> String {
    location.name
}

fn main() {}
