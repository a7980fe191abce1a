//! One tool of an MCP server, as an agent tool.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use agent_core::{Tool, ToolContext, ToolError, ToolErrorKind, ToolOutput, async_trait};
use rmcp::model::{CallToolRequestParams, ErrorCode};
use rmcp::service::ServiceError;
use serde_json::Value;

use crate::client::Shared;
use crate::content::tool_output;
use crate::error::error_chain;

/// A tool of an MCP server. Its calls are `tools/call` requests on the server's connection.
pub(crate) struct McpTool {
    shared: Arc<Shared>,
    name: String,
    mcp_name: String,
    description: String,
    input_schema: Value,
}

impl fmt::Debug for McpTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTool")
            .field("server", &self.shared.server)
            .field("name", &self.name)
            .field("mcp_name", &self.mcp_name)
            .finish_non_exhaustive()
    }
}

impl McpTool {
    pub(crate) fn new(
        shared: Arc<Shared>,
        name: String,
        mcp_name: String,
        description: String,
        input_schema: Value,
    ) -> Self {
        Self {
            shared,
            name,
            mcp_name,
            description,
            input_schema,
        }
    }

    /// What a failed `tools/call` means for the model.
    async fn call_error(&self, error: ServiceError) -> ToolError {
        let shared = &self.shared;
        match error {
            ServiceError::TransportClosed if shared.lost_connection_is_fatal() => {
                unavailable(shared.mark_dead().await)
            }
            ServiceError::TransportClosed => unavailable(format!(
                "the connection to the MCP server `{}` was lost during the call",
                shared.server
            )),
            ServiceError::TransportSend(send_error) => {
                if shared.peer.is_transport_closed() || shared.is_closed() {
                    unavailable(shared.mark_dead().await)
                } else {
                    unavailable(format!(
                        "the call could not reach the MCP server `{}`: {}",
                        shared.server,
                        error_chain(&send_error)
                    ))
                }
            }
            ServiceError::McpError(data) if data.code == ErrorCode::INVALID_PARAMS => {
                ToolError::invalid_input(data.message.into_owned())
            }
            ServiceError::McpError(data) => ToolError::failed(format!(
                "the MCP server `{}` answered with an error ({}): {}",
                shared.server, data.code.0, data.message
            )),
            ServiceError::Timeout { .. } => timeout(shared),
            ServiceError::Cancelled { reason } => ToolError::failed(format!(
                "the MCP server `{}` cancelled the call{}",
                shared.server,
                reason
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            )),
            ServiceError::UnexpectedResponse => ToolError::failed(format!(
                "the MCP server `{}` answered with something that is not a tool result (this \
                 client does not drive MCP tasks or input requests)",
                shared.server
            )),
            other => ToolError::failed(format!(
                "the call to the MCP server `{}` failed: {}",
                shared.server,
                error_chain(&other)
            )),
        }
    }
}

fn unavailable(message: String) -> ToolError {
    ToolError::new(ToolErrorKind::Unavailable, message)
}

fn timeout(shared: &Shared) -> ToolError {
    ToolError::new(
        ToolErrorKind::Timeout,
        format!(
            "the MCP server `{}` did not answer within {} s; the call was cancelled",
            shared.server,
            shared.call_timeout.as_secs_f64()
        ),
    )
}

#[async_trait]
impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> Value {
        self.input_schema.clone()
    }

    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        if context.is_cancelled() {
            return Err(cancelled());
        }
        if let Some(reason) = self.shared.unavailable_reason().await {
            return Err(unavailable(reason));
        }
        let mut params = CallToolRequestParams::new(self.mcp_name.clone());
        match input {
            Value::Object(arguments) => params = params.with_arguments(arguments),
            Value::Null => {}
            other => {
                return Err(ToolError::invalid_input(format!(
                    "the input must be a JSON object, not {other}"
                )));
            }
        }
        let started = Instant::now();
        // Dropping the call future (on timeout or cancellation) makes rmcp send
        // `notifications/cancelled` for the request, so the server can stop.
        let outcome = tokio::select! {
            biased;
            () = context.cancellation().cancelled() => Err(cancelled()),
            result = tokio::time::timeout(
                self.shared.call_timeout,
                self.shared.peer.call_tool(params),
            ) => match result {
                Err(_elapsed) => Err(timeout(&self.shared)),
                Ok(Ok(result)) => tool_output(result),
                Ok(Err(error)) => Err(self.call_error(error).await),
            },
        };
        let outcome = match outcome {
            // A call in flight when `close` ran.
            Err(error)
                if *error.kind() == ToolErrorKind::Unavailable && self.shared.is_closed() =>
            {
                Err(unavailable(format!(
                    "the MCP server `{}` was closed",
                    self.shared.server
                )))
            }
            other => other,
        };
        match &outcome {
            Ok(_) => tracing::debug!(
                server = %self.shared.server,
                tool = %self.mcp_name,
                elapsed_ms = started.elapsed().as_millis(),
                "MCP tool call answered"
            ),
            Err(error) => tracing::debug!(
                server = %self.shared.server,
                tool = %self.mcp_name,
                elapsed_ms = started.elapsed().as_millis(),
                %error,
                "MCP tool call failed"
            ),
        }
        outcome
    }
}

fn cancelled() -> ToolError {
    ToolError::new(
        ToolErrorKind::Cancelled,
        "the run was cancelled, and with it the MCP tool call",
    )
}
