//! A connected MCP server: the connection, its tools, and how it is closed.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agent_core::{Tool, is_valid_tool_name};
use rmcp::ServiceExt as _;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ServerPeerInfo};
use rmcp::service::{
    ClientInitializeError, NotificationContext, Peer, RoleClient, RunningService, ServiceError,
};
use rmcp::transport::IntoTransport;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{McpError, error_chain};
use crate::line::{LineTransport, StrayOutput};
use crate::process::{ChildProcess, Diagnostics, SpawnConfig};
use crate::server::Options;
use crate::tool::McpTool;

/// How long `close` waits at each step of stopping a child process.
const SHUTDOWN_STEP: Duration = Duration::from_secs(2);
/// How long an error message waits for a dying child's exit status.
const EXIT_STATUS_WAIT: Duration = Duration::from_millis(500);

/// What the server told about itself in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct McpServerInfo {
    /// The server's name (`serverInfo.name`), if it gave one.
    pub name: Option<String>,
    /// The server's version, if it gave one.
    pub version: Option<String>,
    /// The server's human-readable title, if it gave one.
    pub title: Option<String>,
    /// The protocol version agreed on.
    pub protocol_version: String,
    /// The server's instructions for using it (worth adding to the system prompt), if any.
    pub instructions: Option<String>,
}

impl McpServerInfo {
    fn from_peer(info: Option<&ServerPeerInfo>) -> Self {
        match info {
            Some(info) => Self {
                name: info.server_info.as_ref().map(|i| i.name.clone()),
                version: info.server_info.as_ref().map(|i| i.version.clone()),
                title: info.server_info.as_ref().and_then(|i| i.title.clone()),
                protocol_version: info.protocol_version.to_string(),
                instructions: info.instructions.clone(),
            },
            None => Self {
                name: None,
                version: None,
                title: None,
                protocol_version: String::new(),
                instructions: None,
            },
        }
    }
}

/// Our side of the MCP session: identifies us, and logs what the server notifies.
#[derive(Debug, Clone)]
pub(crate) struct ClientHandler {
    server: String,
}

impl rmcp::ClientHandler for ClientHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("minimalagent", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(
            server = %self.server,
            "the MCP server's tool list changed; connect again to offer the new tools"
        );
    }

    // MCP logging is deprecated by SEP-2577, but servers of the protocol versions in use send
    // it: forward it to `tracing`.
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let server = &self.server;
        let logger = params.logger.as_deref().unwrap_or("");
        let data = &params.data;
        use rmcp::model::LoggingLevel;
        match params.level {
            LoggingLevel::Debug => {
                tracing::debug!(target: "agent_tools_mcp::log", server, logger, %data);
            }
            LoggingLevel::Info | LoggingLevel::Notice => {
                tracing::info!(target: "agent_tools_mcp::log", server, logger, %data);
            }
            LoggingLevel::Warning => {
                tracing::warn!(target: "agent_tools_mcp::log", server, logger, %data);
            }
            _ => tracing::error!(target: "agent_tools_mcp::log", server, logger, %data),
        }
    }
}

/// How the server is reached.
#[derive(Debug)]
pub(crate) enum Backend {
    /// A child process.
    Process(Arc<ChildProcess>),
    /// Caller-supplied byte streams.
    Stream,
    /// Streamable HTTP: a lost response stream or a refused request is not the end of the
    /// connection; the next call tries again.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Http,
}

/// Why calls fail at once.
#[derive(Debug, Clone)]
enum Down {
    /// `close` was called.
    Closed,
    /// The server died or broke the protocol.
    Dead(String),
}

/// The connection, shared by the client and its tools.
pub(crate) struct Shared {
    pub(crate) server: String,
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) call_timeout: Duration,
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, ClientHandler>>>,
    backend: Backend,
    diagnostics: Arc<Diagnostics>,
    down: Mutex<Option<Down>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("server", &self.server)
            .field("backend", &self.backend)
            .field("call_timeout", &self.call_timeout)
            .field("down", &*self.lock_down())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock_down(&self) -> MutexGuard<'_, Option<Down>> {
        self.down.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why calls cannot be made, if they cannot: closed, known dead, or the connection ended
    /// since the last call (then its reason is found out and remembered).
    pub(crate) async fn unavailable_reason(&self) -> Option<String> {
        if let Some(down) = self.lock_down().clone() {
            return Some(self.describe(&down));
        }
        if self.peer.is_transport_closed() {
            return Some(self.mark_dead().await);
        }
        None
    }

    /// Records that the connection is gone, and why; gives the message for the model.
    pub(crate) async fn mark_dead(&self) -> String {
        if let Some(down) = self.lock_down().clone() {
            return self.describe(&down);
        }
        let reason = self.end_reason().await;
        let mut down = self.lock_down();
        let down = down.get_or_insert(Down::Dead(reason));
        self.describe(down)
    }

    fn describe(&self, down: &Down) -> String {
        match down {
            Down::Closed => format!("the MCP server `{}` was closed", self.server),
            Down::Dead(reason) => {
                format!("the MCP server `{}` is unavailable: {reason}", self.server)
            }
        }
    }

    /// Why the connection ended, as far as is known.
    async fn end_reason(&self) -> String {
        if let Some(violation) = self.diagnostics.protocol_violation() {
            return format!("it {violation}, so the connection was closed");
        }
        match &self.backend {
            Backend::Process(child) => {
                let mut text = child.describe_end(EXIT_STATUS_WAIT).await;
                if let Some(error) = self.diagnostics.read_error() {
                    text = format!("{error}; {text}");
                }
                text
            }
            Backend::Stream | Backend::Http => match self.diagnostics.read_error() {
                Some(error) => error,
                None => "the connection was closed".to_owned(),
            },
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(*self.lock_down(), Some(Down::Closed))
    }

    /// Whether a call that lost its connection means the server is gone: always for a
    /// child process or a stream (the stream ended), for HTTP only once the transport ended.
    pub(crate) fn lost_connection_is_fatal(&self) -> bool {
        match self.backend {
            Backend::Process(_) | Backend::Stream => true,
            Backend::Http => self.peer.is_transport_closed() || self.is_closed(),
        }
    }
}

/// A connection to one MCP server, and the tools it offers.
///
/// Cheap to clone. The connection (and, for a stdio server, the child process) lives while
/// any clone of the client or any of its tools does: an agent can keep the tools and drop the
/// client. When the last is dropped, the child process is killed at once; call
/// [`close`](Self::close) for a graceful stop.
#[derive(Clone)]
pub struct McpClient {
    shared: Arc<Shared>,
    tools: Arc<[Arc<McpTool>]>,
    info: Arc<McpServerInfo>,
}

impl fmt::Debug for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient")
            .field("server", &self.shared.server)
            .field(
                "tools",
                &self
                    .tools
                    .iter()
                    .map(|tool| tool.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// The server's tools, as the agent's tools: give them to the agent's builder.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        self.tools
            .iter()
            .map(|tool| tool.clone() as Arc<dyn Tool>)
            .collect()
    }

    /// The tool with this name (with the prefix), if the server offers it.
    pub fn tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools
            .iter()
            .find(|tool| tool.name() == name)
            .map(|tool| tool.clone() as Arc<dyn Tool>)
    }

    /// The names of the tools offered (with the prefix), in the server's order.
    pub fn tool_names(&self) -> Vec<&str> {
        self.tools.iter().map(|tool| tool.name()).collect()
    }

    /// The server's label (see `name` on the builders).
    pub fn server_name(&self) -> &str {
        &self.shared.server
    }

    /// What the server told about itself in the handshake.
    pub fn server_info(&self) -> &McpServerInfo {
        &self.info
    }

    /// Whether calls can still be made: `false` once the client was closed, or once a stdio (or
    /// `io`) server died or broke the protocol. An HTTP server that stopped answering is tried
    /// again on each call, so this stays `true` for it until its session ends.
    pub fn is_available(&self) -> bool {
        self.shared.lock_down().is_none() && !self.shared.peer.is_transport_closed()
    }

    /// Closes the connection gracefully. Later calls of the server's tools fail with
    /// [`ToolErrorKind::Unavailable`](agent_core::ToolErrorKind::Unavailable), and so do calls
    /// in flight.
    ///
    /// For a stdio server: closes the child's stdin and waits up to 2 s for it to exit, then
    /// sends SIGTERM (Unix) and waits 2 s more, then kills it. For an HTTP server: ends the
    /// session. Calling `close` again does nothing.
    pub async fn close(&self) {
        {
            let mut down = self.shared.lock_down();
            if !matches!(*down, Some(Down::Closed)) {
                *down = Some(Down::Closed);
            }
        }
        let service = self.shared.service.lock().await.take();
        if let Some(mut service) = service {
            // Ends the session; for stdio, closing the transport closes the child's stdin.
            if let Err(error) = service.close_with_timeout(SHUTDOWN_STEP).await {
                tracing::debug!(server = %self.shared.server, %error, "closing the MCP session");
            }
        }
        if let Backend::Process(child) = &self.shared.backend {
            if child.wait_for_exit(SHUTDOWN_STEP).await.is_some() {
                return;
            }
            tracing::debug!(server = %self.shared.server, "the MCP server did not exit; sending SIGTERM");
            child.terminate();
            if child.wait_for_exit(SHUTDOWN_STEP).await.is_some() {
                return;
            }
            tracing::warn!(server = %self.shared.server, "the MCP server did not stop; killing it");
            child.kill();
            let _ = child.wait_for_exit(SHUTDOWN_STEP).await;
        }
    }
}

/// Runs `connect` within the connect timeout.
async fn with_connect_timeout(
    server: &str,
    timeout: Duration,
    connect: impl Future<Output = Result<McpClient, McpError>>,
) -> Result<McpClient, McpError> {
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(McpError::Timeout {
            server: server.to_owned(),
            timeout,
        }),
    }
}

pub(crate) async fn connect_stdio(
    server: String,
    spawn: SpawnConfig,
    stray: StrayOutput,
    options: Options,
) -> Result<McpClient, McpError> {
    let timeout = options.connect_timeout;
    with_connect_timeout(&server.clone(), timeout, async move {
        let diagnostics = Arc::new(Diagnostics::default());
        let (child, stdout, stdin) = ChildProcess::spawn(&spawn, &server, diagnostics.clone())
            .map_err(|source| McpError::Spawn {
                server: server.clone(),
                command: spawn.command.to_string_lossy().into_owned(),
                source,
            })?;
        let transport = LineTransport::new(stdout, stdin, stray, diagnostics.clone());
        establish(
            server,
            transport,
            Backend::Process(Arc::new(child)),
            diagnostics,
            options,
        )
        .await
    })
    .await
}

pub(crate) async fn connect_io(
    server: String,
    read: Box<dyn AsyncRead + Unpin + Send>,
    write: Box<dyn AsyncWrite + Unpin + Send>,
    stray: StrayOutput,
    options: Options,
) -> Result<McpClient, McpError> {
    let timeout = options.connect_timeout;
    with_connect_timeout(&server.clone(), timeout, async move {
        let diagnostics = Arc::new(Diagnostics::default());
        let transport = LineTransport::new(read, write, stray, diagnostics.clone());
        establish(server, transport, Backend::Stream, diagnostics, options).await
    })
    .await
}

#[cfg(feature = "http")]
pub(crate) async fn connect_http(
    server: String,
    url: String,
    headers: Vec<(String, String)>,
    bearer_token: Option<String>,
    options: Options,
) -> Result<McpClient, McpError> {
    let config = crate::http::transport_config(&server, &url, &headers, bearer_token)?;
    let timeout = options.connect_timeout;
    with_connect_timeout(&server.clone(), timeout, async move {
        let transport = rmcp::transport::StreamableHttpClientTransport::<_>::from_config(config);
        let diagnostics = Arc::new(Diagnostics::default());
        establish(server, transport, Backend::Http, diagnostics, options).await
    })
    .await
}

/// The handshake, `tools/list`, and the tools.
async fn establish<T, E, A>(
    server: String,
    transport: T,
    backend: Backend,
    diagnostics: Arc<Diagnostics>,
    options: Options,
) -> Result<McpClient, McpError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let handler = ClientHandler {
        server: server.clone(),
    };
    let service = match handler.serve(transport).await {
        Ok(service) => service,
        Err(error) => return Err(handshake_error(&server, error, &backend, &diagnostics).await),
    };
    let peer = service.peer().clone();
    let peer_info = peer.peer_info();
    let info = McpServerInfo::from_peer(peer_info.as_deref());
    let offers_tools = peer_info
        .as_deref()
        .is_some_and(|info| info.capabilities.tools.is_some());
    let shared = Arc::new(Shared {
        server: server.clone(),
        peer: peer.clone(),
        call_timeout: options.call_timeout,
        service: tokio::sync::Mutex::new(Some(service)),
        backend,
        diagnostics,
        down: Mutex::new(None),
    });
    let listed = if offers_tools {
        match peer.list_all_tools().await {
            Ok(tools) => tools,
            Err(error) => return Err(list_error(&shared, error).await),
        }
    } else {
        tracing::info!(server = %server, "the MCP server offers no tools");
        Vec::new()
    };
    let mut names = HashSet::new();
    let mut tools = Vec::new();
    for listed in listed {
        if let Some(filter) = &options.filter
            && !filter(&listed.name)
        {
            continue;
        }
        let name = format!("{}{}", options.prefix, listed.name);
        if !is_valid_tool_name(&name) {
            return Err(McpError::InvalidToolName {
                server,
                name,
                mcp_name: listed.name.into_owned(),
            });
        }
        if !names.insert(name.clone()) {
            return Err(McpError::DuplicateToolName { server, name });
        }
        let input_schema =
            object_schema(&listed.input_schema).map_err(|message| McpError::InvalidSchema {
                server: server.clone(),
                mcp_name: listed.name.to_string(),
                message,
            })?;
        if listed.input_schema.get("type").is_none() {
            tracing::debug!(
                server = %server,
                tool = %listed.name,
                "the tool's input schema has no \"type\"; \"type\": \"object\" was added"
            );
        }
        let description = description(&listed);
        tools.push(Arc::new(McpTool::new(
            shared.clone(),
            name,
            listed.name.into_owned(),
            description,
            input_schema,
        )));
    }
    tracing::debug!(server = %server, tools = tools.len(), "connected to the MCP server");
    Ok(McpClient {
        shared,
        tools: tools.into(),
        info: Arc::new(info),
    })
}

/// The description the model sees: the server's, or the title, or the name.
fn description(tool: &rmcp::model::Tool) -> String {
    let candidates = [
        tool.description.as_deref(),
        tool.title.as_deref(),
        tool.annotations
            .as_ref()
            .and_then(|annotations| annotations.title.as_deref()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|text| !text.is_empty())
        .map_or_else(|| tool.name.to_string(), str::to_owned)
}

/// The input schema with a top-level `"type": "object"`, which Converse requires: added when
/// there is no `"type"`, chosen when `"type"` is a list that holds `"object"`; any other type
/// is an error (MCP tool input is always an object).
pub(crate) fn object_schema(schema: &Map<String, Value>) -> Result<Value, String> {
    let mut schema = schema.clone();
    match schema.get("type") {
        None => {
            schema.insert("type".into(), Value::String("object".into()));
        }
        Some(Value::String(kind)) if kind == "object" => {}
        Some(Value::Array(kinds)) if kinds.iter().any(|kind| kind == "object") => {
            schema.insert("type".into(), Value::String("object".into()));
        }
        Some(other) => {
            return Err(format!(
                "its top-level \"type\" is {other}; the input of a tool must be an object"
            ));
        }
    }
    Ok(Value::Object(schema))
}

async fn handshake_error(
    server: &str,
    error: ClientInitializeError,
    backend: &Backend,
    diagnostics: &Diagnostics,
) -> McpError {
    let server = server.to_owned();
    if let Some(violation) = diagnostics.protocol_violation() {
        return McpError::Protocol {
            server,
            message: format!("the server {violation}"),
        };
    }
    match (&error, backend) {
        (ClientInitializeError::JsonRpcError(data), _) => McpError::Handshake {
            server,
            message: format!(
                "the server answered `initialize` with an error ({}): {}",
                data.code.0, data.message
            ),
        },
        (
            ClientInitializeError::ConnectionClosed(_)
            | ClientInitializeError::TransportError { .. },
            Backend::Process(child),
        ) => McpError::Handshake {
            server,
            message: child.describe_end(EXIT_STATUS_WAIT).await,
        },
        (ClientInitializeError::TransportError { .. }, Backend::Http) => McpError::Connect {
            server,
            message: error_chain(&error),
        },
        _ => McpError::Handshake {
            server,
            message: error_chain(&error),
        },
    }
}

async fn list_error(shared: &Shared, error: ServiceError) -> McpError {
    let server = shared.server.clone();
    if let Some(violation) = shared.diagnostics.protocol_violation() {
        return McpError::Protocol {
            server,
            message: format!("the server {violation}"),
        };
    }
    let message = match error {
        ServiceError::TransportClosed => shared.end_reason().await,
        ServiceError::McpError(data) => format!(
            "the server answered with an error ({}): {}",
            data.code.0, data.message
        ),
        other => error_chain(&other),
    };
    McpError::ListTools { server, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            _ => Map::new(),
        }
    }

    #[test]
    fn schemas_get_a_top_level_object_type() {
        assert_eq!(
            object_schema(&object(json!({"properties": {"a": {"type": "string"}}}))).unwrap(),
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
        assert_eq!(
            object_schema(&object(json!({"type": ["object", "null"]}))).unwrap(),
            json!({"type": "object"})
        );
        let kept =
            json!({"type": "object", "$schema": "https://json-schema.org/draft/2020-12/schema"});
        assert_eq!(object_schema(&object(kept.clone())).unwrap(), kept);
        assert!(
            object_schema(&object(json!({"type": "string"})))
                .unwrap_err()
                .contains("\"string\"")
        );
    }

    #[test]
    fn descriptions_fall_back_to_the_title_then_the_name() {
        let schema = Arc::new(Map::new());
        let described = rmcp::model::Tool::new("a", "Does a.", schema.clone());
        assert_eq!(description(&described), "Does a.");
        let titled = rmcp::model::Tool::new_with_raw("b", Some("  ".into()), schema.clone())
            .with_title("Bee");
        assert_eq!(description(&titled), "Bee");
        let annotated = rmcp::model::Tool::new_with_raw("c", None, schema.clone())
            .annotate(rmcp::model::ToolAnnotations::with_title("Sea"));
        assert_eq!(description(&annotated), "Sea");
        let bare = rmcp::model::Tool::new_with_raw("d", None, schema);
        assert_eq!(description(&bare), "d");
    }
}
