//! A state that is not `Clone`: each call receives a clone of it.

use minimalagent::tool;

struct Database;

/// Queries.
///
/// # Arguments
/// * `sql` - The query
#[tool]
fn query(#[state] database: Database, sql: String) -> usize {
    let _ = database;
    sql.len()
}

fn main() {}
