//! A tool for tests that need one.

use agent_core::{Tool, ToolContext, ToolError, ToolOutput, async_trait};
use serde_json::{Value, json};

/// A tool named `echo` that answers `{"echo": input}` at once: the smallest real tool, for tests
/// of loops and stores that need tool steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoTool;

#[async_trait]
impl Tool for EchoTool {
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Echoes its input."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(json!({ "echo": input }).into())
    }
}
