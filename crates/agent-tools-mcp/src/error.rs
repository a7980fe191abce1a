//! Why connecting to an MCP server failed.

use std::time::Duration;

/// Why connecting to an MCP server, or offering its tools, failed.
///
/// Each variant names the server (its label, see `name` on the builders). Match on
/// [`McpError::kind`] to handle a kind of failure without matching the fields.
///
/// Failures of single tool calls are not `McpError`s: they are [`agent_core::ToolError`]s,
/// which the agent sends back to the model (see the crate documentation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The builder was given something unusable: a URL that is not `http(s)://`, a header that
    /// is not valid HTTP, or a header the transport sets itself.
    #[error("MCP server `{server}`: invalid configuration: {message}")]
    InvalidConfig {
        /// The server's label.
        server: String,
        /// What is wrong.
        message: String,
    },
    /// The server's command could not be started (not found, not executable, bad working
    /// directory).
    #[error("MCP server `{server}`: could not start `{command}`: {source}")]
    Spawn {
        /// The server's label.
        server: String,
        /// The command that was run.
        command: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached: the connection was refused or reset, TLS failed, or
    /// the server answered with an HTTP error (for example 401 without valid credentials).
    #[error("MCP server `{server}`: could not connect: {message}")]
    Connect {
        /// The server's label.
        server: String,
        /// What happened, with the underlying errors.
        message: String,
    },
    /// The MCP handshake (`initialize`) failed: the server exited or closed the connection
    /// before answering, answered with an error, or speaks no protocol version we speak.
    #[error("MCP server `{server}`: the MCP handshake failed: {message}")]
    Handshake {
        /// The server's label.
        server: String,
        /// What happened; for a child process, with its exit status and last lines of stderr.
        message: String,
    },
    /// The server wrote something that is not an MCP message (for example log lines on the
    /// stdout of a stdio server).
    #[error("MCP server `{server}`: {message}")]
    Protocol {
        /// The server's label.
        server: String,
        /// What the server wrote.
        message: String,
    },
    /// Connecting (starting the server, the handshake and listing its tools) took longer than
    /// the connect timeout.
    #[error(
        "MCP server `{server}`: no answer within {} s while connecting (connect timeout)",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// The server's label.
        server: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// `tools/list` failed.
    #[error("MCP server `{server}`: listing its tools failed: {message}")]
    ListTools {
        /// The server's label.
        server: String,
        /// What happened.
        message: String,
    },
    /// A tool's name, with the prefix, is not a name Converse accepts.
    #[error(
        "MCP server `{server}`: its tool `{mcp_name}` would be named `{name}`, which is not a \
         valid tool name (1 to 64 characters of [A-Za-z0-9_-]); leave it out with a tool \
         filter or choose a shorter prefix"
    )]
    InvalidToolName {
        /// The server's label.
        server: String,
        /// The name the tool would have (prefix and MCP name).
        name: String,
        /// The tool's name on the server.
        mcp_name: String,
    },
    /// Two of the server's tools would have the same name.
    #[error("MCP server `{server}`: two of its tools are named `{name}`")]
    DuplicateToolName {
        /// The server's label.
        server: String,
        /// The duplicated name (with the prefix).
        name: String,
    },
    /// A tool's input schema cannot be given to Converse: its top-level `"type"` is not
    /// `"object"`.
    #[error("MCP server `{server}`: tool `{mcp_name}` has an unusable input schema: {message}")]
    InvalidSchema {
        /// The server's label.
        server: String,
        /// The tool's name on the server.
        mcp_name: String,
        /// What is wrong.
        message: String,
    },
}

/// The kinds of [`McpError`], for matching without the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum McpErrorKind {
    /// [`McpError::InvalidConfig`].
    InvalidConfig,
    /// [`McpError::Spawn`].
    Spawn,
    /// [`McpError::Connect`].
    Connect,
    /// [`McpError::Handshake`].
    Handshake,
    /// [`McpError::Protocol`].
    Protocol,
    /// [`McpError::Timeout`].
    Timeout,
    /// [`McpError::ListTools`].
    ListTools,
    /// [`McpError::InvalidToolName`].
    InvalidToolName,
    /// [`McpError::DuplicateToolName`].
    DuplicateToolName,
    /// [`McpError::InvalidSchema`].
    InvalidSchema,
}

impl McpError {
    /// The kind of failure.
    pub fn kind(&self) -> McpErrorKind {
        match self {
            McpError::InvalidConfig { .. } => McpErrorKind::InvalidConfig,
            McpError::Spawn { .. } => McpErrorKind::Spawn,
            McpError::Connect { .. } => McpErrorKind::Connect,
            McpError::Handshake { .. } => McpErrorKind::Handshake,
            McpError::Protocol { .. } => McpErrorKind::Protocol,
            McpError::Timeout { .. } => McpErrorKind::Timeout,
            McpError::ListTools { .. } => McpErrorKind::ListTools,
            McpError::InvalidToolName { .. } => McpErrorKind::InvalidToolName,
            McpError::DuplicateToolName { .. } => McpErrorKind::DuplicateToolName,
            McpError::InvalidSchema { .. } => McpErrorKind::InvalidSchema,
        }
    }

    /// The label of the server the error is about.
    pub fn server(&self) -> &str {
        match self {
            McpError::InvalidConfig { server, .. }
            | McpError::Spawn { server, .. }
            | McpError::Connect { server, .. }
            | McpError::Handshake { server, .. }
            | McpError::Protocol { server, .. }
            | McpError::Timeout { server, .. }
            | McpError::ListTools { server, .. }
            | McpError::InvalidToolName { server, .. }
            | McpError::DuplicateToolName { server, .. }
            | McpError::InvalidSchema { server, .. } => server,
        }
    }
}

/// An error and its causes, joined by `: `, skipping a cause whose text is already there, and
/// skipping rmcp's wrappers that name the transport's type, so that the root cause (for example
/// "Connection refused") shows.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let (shown, cause) = unwrap_transport_error(current);
        if let Some(shown) = shown {
            let shown = shown.to_string();
            if !text.contains(&shown) {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(&shown);
            }
        }
        next = cause;
    }
    text
}

type Cause<'a> = Option<&'a (dyn std::error::Error + 'static)>;

/// The error to show for `error` (none for a wrapper) and the one after it.
fn unwrap_transport_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> (Cause<'a>, Cause<'a>) {
    if let Some(dynamic) = error.downcast_ref::<rmcp::transport::DynamicTransportError>() {
        return (None, Some(dynamic.error.as_ref()));
    }
    if let Some(rmcp::service::ClientInitializeError::TransportError { error, .. }) =
        error.downcast_ref::<rmcp::service::ClientInitializeError>()
    {
        return (None, Some(error));
    }
    if let Some(rmcp::service::ServiceError::TransportSend(error)) =
        error.downcast_ref::<rmcp::service::ServiceError>()
    {
        return (None, Some(error));
    }
    #[cfg(feature = "http")]
    if let Some(rmcp::transport::streamable_http_client::StreamableHttpError::Client(client)) =
        error.downcast_ref::<rmcp::transport::streamable_http_client::StreamableHttpError<
            reqwest::Error,
        >>()
    {
        return (None, Some(client));
    }
    (Some(error), error.source())
}
