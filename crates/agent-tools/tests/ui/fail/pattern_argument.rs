//! Argument patterns other than a plain name: the name becomes the JSON property's.

use minimalagent::tool;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Point {
    x: i32,
    y: i32,
}

/// Adds.
#[tool]
fn add((a, b): (i32, i32), Point { x, y }: Point, _: u8, ref name: String, whole @ _: u8) -> i32 {
    let _ = (name, whole);
    a + b + x + y
}

fn main() {}
