//! Every problem of one tool is reported at once, each at its cause.

use minimalagent::tool;

#[tool(name = "bad name!", colour = "red")]
unsafe fn everything_wrong<T>(left: &str, (a, b): (u8, u8), right: impl Clone, count: u32) -> u8 {
    let _ = (left, right, count);
    a + b
}

fn main() {}
