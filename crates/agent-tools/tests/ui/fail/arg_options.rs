//! `#[arg]` and `#[state]` misused.

use std::sync::Arc;

use minimalagent::tool;

/// Looks up.
///
/// # Arguments
/// * `key` - The key
#[tool]
fn lookup(#[arg(default = 3)] key: String) -> String {
    key
}

/// Stores.
///
/// # Arguments
/// * `key` - The key
#[tool]
fn store(
    #[state]
    #[arg(description = "The store")]
    store: Arc<Vec<String>>,
    #[state] other: Arc<Vec<String>>,
    #[state(shared)] third: Arc<u8>,
    key: String,
) -> usize {
    let _ = (other, third, key);
    store.len()
}

fn main() {}
