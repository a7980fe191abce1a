//! Tests of agent-tools-mcp against the MCP test server of agent-testkit: in process (over
//! in-memory pipes, on Tokio's paused clock where time matters), as a child process over stdio
//! (the `mcp-test-server` binary, built by `support::server_binary`), and over streamable HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers: a panic is a failed assertion.

mod http;
mod in_process;
mod stdio;
mod support;
