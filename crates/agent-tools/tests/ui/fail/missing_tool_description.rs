//! A tool without a description. The function is still emitted (with its `#[arg]` removed),
//! so `main`'s call to it compiles and only the missing description is reported.

use minimalagent::tool;

#[tool]
fn get_weather(#[arg(description = "City name")] location: String) -> String {
    location
}

/// # Arguments
/// * `query` - What to look for
#[tool]
fn search(query: String) -> String {
    query
}

#[tool(description = "  ")]
fn blank(query: String) -> String {
    query
}

fn main() {
    let _ = get_weather("Paris".to_owned());
    let _ = search("x".to_owned());
}
