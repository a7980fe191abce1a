//! Generic tools: the input needs one concrete type per argument.

use minimalagent::tool;

/// Echoes.
///
/// # Arguments
/// * `value` - The value
#[tool]
fn echo<T: serde::Serialize>(value: T) -> T {
    value
}

/// Repeats.
///
/// # Arguments
/// * `text` - The text
#[tool]
fn repeat<const N: usize>(text: String) -> String {
    text.repeat(N)
}

/// Measures.
///
/// # Arguments
/// * `text` - The text
#[tool]
fn measure(text: String) -> usize
where
    String: Clone,
{
    text.len()
}

fn main() {}
