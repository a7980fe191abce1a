//! # agent-tools-mcp
//!
//! Tools from [Model Context Protocol](https://modelcontextprotocol.io) servers for
//! MinimalAgent, built on the official Rust MCP SDK ([`rmcp`]).
//!
//! Connect to a server — a child process speaking MCP on stdio, or a streamable HTTP endpoint —
//! and its tools become [`agent_core::Tool`]s, ready for an agent:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use agent_tools_mcp::McpServer;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // A local server, run as a child process.
//! let files = McpServer::stdio("npx")
//!     .args(["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"])
//!     .name("files")
//!     .prefix("files_")
//!     .connect()
//!     .await?;
//!
//! // A remote server, over streamable HTTP.
//! let github = McpServer::http("https://api.githubcopilot.com/mcp/")
//!     .bearer_token(std::env::var("GITHUB_TOKEN")?)
//!     .prefix("github_")
//!     .call_timeout(Duration::from_secs(30))
//!     .connect()
//!     .await?;
//!
//! let mut tools: Vec<Arc<dyn agent_core::Tool>> = files.tools();
//! tools.extend(github.tools());
//! let tool_set = agent_core::ToolSet::new(tools)?;
//! # let _ = tool_set;
//! // … run the agent …
//! files.close().await;
//! github.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## What the model sees
//!
//! - **Names**: the server's tool name, after an optional prefix ([`StdioServer::prefix`]). A
//!   name Converse would reject (it must be 1 to 64 characters of `[A-Za-z0-9_-]`; MCP also
//!   allows `.`, and longer names) fails `connect` with [`McpError::InvalidToolName`]; leave
//!   such tools out with [`StdioServer::filter`] or [`StdioServer::only`]. Two tools with one
//!   name fail with [`McpError::DuplicateToolName`] (across servers, [`agent_core::ToolSet`]
//!   reports it: give each server its own prefix).
//! - **Descriptions**: the server's, or else the tool's title, or else its name.
//! - **Input schemas**: the server's JSON Schema as it is, except that Converse requires a
//!   top-level `"type": "object"`: it is **added when missing** (and `["object", "null"]`
//!   becomes `"object"`); a schema with another top-level type fails `connect` with
//!   [`McpError::InvalidSchema`].
//! - **Results** ([`ToolOutput::Content`](agent_core::ToolOutput::Content)): text as `text`
//!   blocks (a text that is a whole JSON object as a `json` block); `structuredContent` as a
//!   `json` block, in place of the text that repeats it; images as `image` blocks (PNG, JPEG,
//!   GIF, WebP, from the MIME type); embedded text resources as text headed by their URI;
//!   embedded binary resources as images or documents when Converse accepts their type; audio
//!   and resource links as a line of text. A result with `isError: true` is a
//!   [`ToolErrorKind::Failed`](agent_core::ToolErrorKind::Failed) error whose message is the
//!   server's text.
//!
//! ## Failures never hang a run
//!
//! Connection-time failures are [`McpError`]s (see [`McpError::kind`]). A failing call is a
//! [`ToolError`](agent_core::ToolError), which the agent sends back to the model as an error
//! `toolResult`:
//!
//! | what happens | [`ToolErrorKind`](agent_core::ToolErrorKind) |
//! |---|---|
//! | the server died (the child exited, the connection was refused or reset) | `Unavailable`, with the exit status and last stderr lines; later calls fail at once with `Unavailable` |
//! | the server wrote something that is not MCP on stdout | `Unavailable` (the connection is closed; see [`StdioServer::tolerate_stray_output`]) |
//! | no answer within the call timeout (default 60 s) | `Timeout`; the call is cancelled on the server with `notifications/cancelled` |
//! | the run was cancelled ([`ToolContext::cancellation`](agent_core::ToolContext::cancellation)) | `Cancelled`, at once; the call is cancelled on the server |
//! | the server answered "invalid params" | `InvalidInput` |
//! | the tool result has `isError: true`, or the server answered another error | `Failed` |
//!
//! ## Lifetime
//!
//! An [`McpClient`] is cheap to clone, and each tool holds the connection: the server lives
//! while the client or any of its tools does, and a stdio server's process (with its process
//! group on Unix) is killed when the last of them is dropped. [`McpClient::close`] stops it
//! gracefully.
//!
//! ## Features
//!
//! - `http` (default): streamable HTTP servers ([`McpServer::http`]).
//! - `rustls` (default): `https://` URLs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod content;
mod error;
#[cfg(feature = "http")]
mod http;
mod line;
mod process;
mod server;
mod tool;

pub use client::{McpClient, McpServerInfo};
pub use error::{McpError, McpErrorKind};
pub use line::MAX_MESSAGE_BYTES;
pub use process::Stderr;
#[cfg(feature = "http")]
pub use server::HttpServer;
pub use server::{DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, IoServer, McpServer, StdioServer};
