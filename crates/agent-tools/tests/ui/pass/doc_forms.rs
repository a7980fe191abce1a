//! The doc comment forms that describe a tool and its arguments.

use minimalagent::{Tool, tool};
use serde_json::json;

/**
 * Adds two numbers.
 *
 * # Arguments
 * * `a` - The first number
 * * `b` - The second number
 */
#[tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Multiplies two numbers.
///
/// Arguments:
/// - a: The first number
/// - b: The second number,
///   which may be negative
///
/// Returns:
/// - the product
#[tool]
fn multiply(a: i64, b: i64) -> i64 {
    a * b
}

#[doc = "Subtracts a number from another."]
#[doc = ""]
#[doc = "## Parameters"]
#[doc = "+ `a`: What to subtract from"]
#[doc = "+ `b` — What to subtract"]
#[tool]
fn subtract(a: i64, b: i64) -> i64 {
    a - b
}

fn main() {
    assert_eq!(Add.description(), "Adds two numbers.");
    assert_eq!(
        Add.input_schema()["properties"]["b"]["description"],
        json!("The second number")
    );
    assert_eq!(Multiply.description(), "Multiplies two numbers.");
    assert_eq!(
        Multiply.input_schema()["properties"]["b"]["description"],
        json!("The second number, which may be negative")
    );
    assert_eq!(Subtract.description(), "Subtracts a number from another.");
    assert_eq!(
        Subtract.input_schema()["properties"]["a"]["description"],
        json!("What to subtract from")
    );
    assert_eq!(
        Subtract.input_schema()["properties"]["b"]["description"],
        json!("What to subtract")
    );
}
