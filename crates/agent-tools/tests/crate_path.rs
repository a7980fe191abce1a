//! The paths by which generated code reaches the runtime crate, from a package that depends on
//! both `minimalagent` and `agent-core` (this one, through its dev-dependencies):
//!
//! - with no option, the manifest lookup prefers the facade, `::minimalagent`;
//! - `crate = "…"` overrides the lookup, here with `agent_core` and with a path through a
//!   re-export.
//!
//! The packages under `tests/deps/` each have a single route to the runtime crate, so that
//! only the right path compiles there: the facade alone, agent-core as itself, and agent-core
//! under another name.

/// Names nothing but the facade. That the lookup picks `::minimalagent` for this package is
/// checked by the unit test `crate_path::tests::this_package_prefers_the_facade`; that the
/// facade alone is enough is checked by `tests/deps/facade-path`, which has no other route.
mod through_the_facade {
    use minimalagent::{ToolExt, tool};
    use serde_json::json;

    /// Doubles a number.
    ///
    /// # Arguments
    /// * `n` - The number
    #[tool]
    fn double(n: i32) -> i32 {
        n * 2
    }

    #[tokio::test]
    async fn the_tool_works() {
        assert_eq!(
            Double.call_detached(json!({"n": 21})).await.unwrap(),
            json!(42)
        );
        assert_eq!(double(1), 2);
    }
}

mod crate_option {
    use agent_core::{Tool, ToolExt};
    use serde_json::json;

    /// A crate that re-exports the runtime crate, as an application's own prelude might.
    mod reexport {
        pub(crate) use minimalagent as runtime;
    }

    /// Triples a number.
    ///
    /// # Arguments
    /// * `n` - The number
    #[agent_tools::tool(crate = "agent_core")]
    fn triple(n: i32) -> i32 {
        n * 3
    }

    /// Squares a number.
    ///
    /// # Arguments
    /// * `n` - The number
    #[agent_tools::tool(crate = "self::reexport::runtime")]
    fn square(n: i32) -> i32 {
        n * n
    }

    #[tokio::test]
    async fn agent_core_by_name() {
        assert_eq!(
            Triple.call_detached(json!({"n": 3})).await.unwrap(),
            json!(9)
        );
    }

    #[tokio::test]
    async fn a_path_through_a_reexport() {
        assert_eq!(
            Square.call_detached(json!({"n": 4})).await.unwrap(),
            json!(16)
        );
        assert_eq!(Square.input_schema()["required"], json!(["n"]));
    }
}
