//! Test package for `#[tool]` in a package that depends on `agent-core` under another name
//! (`core_renamed`). Nothing here names a crate path: the attribute finds the rename in this
//! package's manifest, and a build of this package fails if it does not. The package has no
//! other dependency, so the generated code cannot lean on one either.

use agent_tools::tool;

/// Adds two whole numbers.
///
/// # Arguments
/// - a: The first number
/// - b: The second number
#[tool]
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_renamed::{Tool, ToolErrorKind, ToolExt};
    use serde_json::json;

    #[test]
    fn the_schema_is_made_through_the_renamed_crate() {
        assert_eq!(Add.description(), "Adds two whole numbers.");
        assert_eq!(Add.input_schema()["required"], json!(["a", "b"]));
    }

    #[tokio::test]
    async fn the_tool_runs_through_the_renamed_crate() {
        assert_eq!(
            Add.call_detached(json!({"a": 2, "b": 40})).await.unwrap(),
            json!(42)
        );
        let error = Add.call_detached(json!({"a": 2})).await.unwrap_err();
        assert_eq!(*error.kind(), ToolErrorKind::InvalidInput);
        assert_eq!(error.message(), "missing field `b`");
    }
}
