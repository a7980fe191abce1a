//! `#[tool]` goes on functions only.

use minimalagent::tool;

/// Weather.
#[tool]
struct Weather;

fn main() {}
