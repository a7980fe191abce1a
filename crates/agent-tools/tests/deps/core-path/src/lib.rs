//! Test package for `#[tool]` in a package whose only runtime crate is `agent-core`, named as
//! itself. Nothing here names a crate path: the attribute finds `agent_core` in this package's
//! manifest, and a build of this package fails if it does not.

use agent_tools::tool;
use schemars::JsonSchema;
use serde::Deserialize;

/// A temperature scale.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Degrees Celsius.
    Celsius,
    /// Degrees Fahrenheit.
    Fahrenheit,
}

/// Converts a temperature from the other scale.
///
/// # Arguments
/// * `degrees` - The temperature to convert
/// * `to` - The scale to convert to
#[tool]
pub fn convert(degrees: f64, to: Scale) -> f64 {
    match to {
        Scale::Celsius => (degrees - 32.0) * 5.0 / 9.0,
        Scale::Fahrenheit => degrees * 9.0 / 5.0 + 32.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::{Tool, ToolErrorKind, ToolExt};
    use serde_json::json;

    #[test]
    fn the_schema_is_made_through_agent_core() {
        assert_eq!(Convert.name(), "convert");
        assert_eq!(
            Convert.input_schema(),
            json!({
                "type": "object",
                "properties": {
                    "degrees": {
                        "type": "number",
                        "format": "double",
                        "description": "The temperature to convert"
                    },
                    "to": {
                        // Variants with doc comments keep them, one `const` each.
                        "oneOf": [
                            { "type": "string", "const": "celsius", "description": "Degrees Celsius." },
                            {
                                "type": "string",
                                "const": "fahrenheit",
                                "description": "Degrees Fahrenheit."
                            }
                        ],
                        "description": "The scale to convert to"
                    }
                },
                "required": ["degrees", "to"],
                "additionalProperties": false
            })
        );
    }

    #[tokio::test]
    async fn the_tool_runs_through_agent_core() {
        let output = Convert
            .call_detached(json!({"degrees": 212.0, "to": "celsius"}))
            .await
            .unwrap();
        assert_eq!(output, json!(100.0));
        let error = Convert
            .call_detached(json!({"degrees": 1.0, "to": "kelvin"}))
            .await
            .unwrap_err();
        assert_eq!(*error.kind(), ToolErrorKind::InvalidInput);
    }
}
