//! `#[tool]` on a method: a tool is a free function.

use minimalagent::tool;

struct Weather;

impl Weather {
    /// Gets the weather.
    #[tool]
    fn get(&self) -> String {
        String::new()
    }

    /// Takes the weather.
    #[tool]
    fn take(self) -> String {
        String::new()
    }
}

fn main() {}
