//! Borrowed arguments: the input is a JSON value the tool owns, so arguments must be owned.

use std::borrow::Cow;

use minimalagent::tool;

/// Greets.
///
/// # Arguments
/// * `name` - Who
/// * `titles` - Their titles
/// * `motto` - Their motto
/// * `town` - Their town
#[tool]
fn greet(
    name: &str,
    titles: Vec<&'static str>,
    motto: Cow<'_, str>,
    town: Cow<'static, str>,
) -> String {
    format!("{name} {titles:?} {motto} {town}")
}

/// Counts.
///
/// # Arguments
/// * `word` - The word
#[tool]
fn count(#[state] words: &Vec<String>, word: String) -> usize {
    words.iter().filter(|w| **w == word).count()
}

fn main() {}
