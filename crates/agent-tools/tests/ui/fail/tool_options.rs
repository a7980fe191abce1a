//! Options of `#[tool(...)]` that are not accepted.

use minimalagent::tool;

/// A tool.
#[tool(colour = "red")]
fn unknown_option() {}

/// A tool.
#[tool(name = "one", name = "two")]
fn twice() {}

/// A tool.
#[tool(name = "with spaces")]
fn bad_name() {}

/// A tool.
#[tool(name = "a_name_that_goes_on_and_on_well_past_the_sixty_four_characters_converse_allows")]
fn long_name() {}

/// A tool.
#[tool(crate = "not a path")]
fn bad_crate() {}

/// A tool.
#[tool(name)]
fn no_value() {}

/// A tool.
#[tool]
fn météo() {}

fn main() {}
