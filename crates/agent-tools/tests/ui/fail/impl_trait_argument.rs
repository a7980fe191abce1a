//! `impl Trait` arguments have no single type to read the input into.

use minimalagent::tool;

/// Shows a value.
///
/// # Arguments
/// * `value` - The value
/// * `values` - More values
#[tool]
fn show(value: impl std::fmt::Display, values: Vec<impl std::fmt::Debug>) -> String {
    format!("{value} {values:?}")
}

fn main() {}
