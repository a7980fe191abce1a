//! An `unsafe fn` cannot be a tool.

use minimalagent::tool;

/// Reads memory.
///
/// # Arguments
/// * `address` - Where
#[tool]
unsafe fn peek(address: usize) -> u8 {
    unsafe { *(address as *const u8) }
}

fn main() {}
