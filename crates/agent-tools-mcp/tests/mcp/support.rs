//! Shared helpers: the test server's binary, and small assertions on tool results.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use agent_core::{Tool, ToolContext, ToolError, ToolErrorKind, ToolOutput, ToolResultContent};
use agent_tools_mcp::McpClient;
use serde_json::Value;

/// The `mcp-test-server` binary of agent-testkit.
///
/// `CARGO_BIN_EXE_*` exists only for a package's own binaries, so the first test that needs it
/// builds it with the cargo that runs the tests (`cargo build --locked -p minimalagent-testkit
/// --features mcp --bin mcp-test-server`, into the same target directory; cargo holds no lock
/// on it while tests run) and reads the path from cargo's JSON messages. Set `MCP_TEST_SERVER`
/// to use a binary built beforehand.
pub(crate) fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("MCP_TEST_SERVER") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "build",
                "--locked",
                "--package",
                "minimalagent-testkit",
                "--features",
                "mcp",
                "--bin",
                "mcp-test-server",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build for mcp-test-server");
        assert!(
            output.status.success(),
            "cargo build of mcp-test-server failed"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "mcp-test-server")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo named the mcp-test-server executable")
    })
}

/// Calls the tool `name` of `client` with `input`.
pub(crate) async fn call(
    client: &McpClient,
    name: &str,
    input: Value,
) -> Result<ToolOutput, ToolError> {
    call_with(client, name, input, &ToolContext::detached()).await
}

/// Calls the tool `name` of `client` with `input` in `context`.
pub(crate) async fn call_with(
    client: &McpClient,
    name: &str,
    input: Value,
    context: &ToolContext,
) -> Result<ToolOutput, ToolError> {
    let tool: Arc<dyn Tool> = client
        .tool(name)
        .unwrap_or_else(|| panic!("no tool named {name}"));
    tool.call(input, context).await
}

/// The content blocks of a successful output.
pub(crate) fn blocks(output: ToolOutput) -> Vec<ToolResultContent> {
    match output {
        ToolOutput::Content(blocks) => blocks,
        other => panic!("expected content blocks, got {other:?}"),
    }
}

/// The only JSON block of a successful output.
pub(crate) fn json(output: Result<ToolOutput, ToolError>) -> Value {
    let blocks = blocks(output.expect("the call succeeded"));
    match blocks.as_slice() {
        [ToolResultContent::Json(value)] => value.clone(),
        other => panic!("expected one json block, got {other:?}"),
    }
}

/// The error of a failed call, checked to be of `kind`.
pub(crate) fn error_of(output: Result<ToolOutput, ToolError>, kind: ToolErrorKind) -> ToolError {
    match output {
        Err(error) => {
            assert_eq!(error.kind(), &kind, "unexpected error: {error}");
            error
        }
        Ok(output) => panic!("expected a {kind} error, got {output:?}"),
    }
}
