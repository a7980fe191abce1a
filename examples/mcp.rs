//! Tools from a Model Context Protocol server: listed when the agent is built, called like any
//! tool. This example serves a small MCP server (the one the tests use) on 127.0.0.1 over
//! streamable HTTP and connects to it; a stdio server is `McpServer::stdio("command")`.
//!
//! ```sh
//! cargo run --example mcp
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use agent_testkit::McpTestServer;
use minimalagent::Agent;
use minimalagent::mcp::McpServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;

    // An MCP server on loopback; in real use, a server of your own or a third party's.
    let server = McpTestServer::new().serve_http().await?;
    let client = McpServer::http(server.url())
        .name("demo-server")
        .only(["add", "echo"])
        .connect()
        .await?;
    println!("MCP tools: {}", client.tool_names().join(", "));

    let agent = Agent::builder()
        .model(example.model)
        .tools(client.tools())
        .system_prompt("Use the tools to add numbers.")
        .build()
        .await?;
    let result = agent.run("Please add 2 and 40.").await?;
    println!("{}", result.response);
    for tool in result.reasoning.steps.iter().flat_map(|step| &step.tools) {
        println!(
            "called {} with {} -> {:?}",
            tool.name, tool.inputs, tool.result
        );
    }
    client.close().await;
    server.shutdown().await;
    Ok(())
}
