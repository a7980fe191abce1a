//! Test package for `#[tool]` in a package whose only runtime crate is the `minimalagent`
//! facade. Nothing here names a crate path, and `agent_core` is not a name this package can
//! use: the attribute must find `minimalagent` in this package's manifest, and a build of this
//! package fails if the generated code goes anywhere else.

use minimalagent::tool;

/// Repeats a word.
///
/// # Arguments
/// * `word` - The word to repeat
/// * `times` - How many times; once if not given
#[tool]
pub fn repeat(word: String, times: Option<usize>) -> String {
    vec![word; times.unwrap_or(1)].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use minimalagent::{Tool, ToolExt};
    use serde_json::json;

    #[test]
    fn the_schema_is_made_through_the_facade() {
        assert_eq!(Repeat.name(), "repeat");
        assert_eq!(Repeat.input_schema()["required"], json!(["word"]));
    }

    #[tokio::test]
    async fn the_tool_runs_through_the_facade() {
        let output = Repeat
            .call_detached(json!({"word": "hey", "times": 3}))
            .await
            .unwrap();
        assert_eq!(output, json!("hey hey hey"));
    }
}
