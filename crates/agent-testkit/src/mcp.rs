//! An MCP server for testing MCP clients, built with the official Rust MCP SDK (`rmcp`).
//!
//! [`McpTestServer`] offers a fixed set of tools, each there to exercise one behaviour of a
//! client:
//!
//! | tool | what it does |
//! |---|---|
//! | `echo` | answers its input as JSON text |
//! | `add` | adds the numbers `a` and `b`; answers `{"sum": …}` as structured content and text; input that is not two numbers is a JSON-RPC "invalid params" error |
//! | `image` | answers a 1×1 PNG image and a line of text |
//! | `fail` | answers a result with `isError: true` |
//! | `sleep` | sleeps `ms` milliseconds (default 1000), stopping early when the client cancels the call |
//! | `crash` | over stdio, exits the process with status 3; over HTTP or an in-process stream, drops every connection; never answers |
//! | `garbage` | over stdio, writes a line that is not JSON-RPC on stdout, then answers normally |
//! | `big` | answers a text of `bytes` bytes (default 1 MiB) |
//! | `resource` | answers an embedded text resource and a resource link |
//! | `stats` | answers the server's [`McpTestStats`] and its process id as JSON |
//! | `env` | answers the names of its process's environment variables, and the values of those named in `names` |
//! | `titled` | a tool with a title and no description |
//! | `bare` | a tool with neither title nor description, whose input schema has no `"type"` |
//!
//! `tools/list` is paginated (4 tools a page unless [`McpTestServer::page_size`] says otherwise).
//! Options add tools whose names break Converse's rules ([`McpTestServer::with_invalid_tool_name`],
//! [`McpTestServer::with_duplicate_tool_name`]).
//!
//! Serve it over stdio ([`McpTestServer::serve_stdio`], what the `mcp-test-server` binary
//! does), over streamable HTTP on `127.0.0.1` ([`McpTestServer::serve_http`]), or over any
//! in-process byte streams ([`McpTestServer::serve_io`]).
//!
//! ```
//! use agent_testkit::McpTestServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = McpTestServer::new().serve_http().await?;
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.stats().calls, 0);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use rmcp::ErrorData;
use rmcp::ServerHandler;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool as McpTool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, oneshot};

/// A 1×1 red PNG, the answer of the `image` tool.
pub const TEST_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xDE, 0x00, 0x00, 0x00, 0x0C, 0x49, 0x44, 0x41, 0x54, 0x08, 0xD7, 0x63, 0xF8, 0xCF, 0xC0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xDD, 0x8D, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E,
    0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// The line the `garbage` tool writes on stdout.
pub const GARBAGE_LINE: &str = "this line is not JSON-RPC";

/// The exit status of the process when the `crash` tool runs over stdio.
pub const CRASH_EXIT_CODE: i32 = 3;

const DEFAULT_PAGE_SIZE: usize = 4;

/// What the server has seen so far, across all its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct McpTestStats {
    /// `tools/call` requests received.
    pub calls: u64,
    /// `tools/list` requests received (one per page).
    pub list_requests: u64,
    /// `sleep` calls stopped by the client's cancellation (`notifications/cancelled`).
    pub cancelled: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    list_requests: AtomicU64,
    cancelled: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> McpTestStats {
        McpTestStats {
            calls: self.calls.load(Ordering::SeqCst),
            list_requests: self.list_requests.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
        }
    }
}

/// Why a test server could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpTestServerError {
    /// Binding, reading or writing failed.
    #[error("MCP test server: {0}")]
    Io(#[from] std::io::Error),
    /// The MCP handshake with the client failed.
    #[error("MCP test server: the handshake failed: {0}")]
    Handshake(String),
}

/// An MCP server with tools for testing MCP clients; see the [module docs](self) for its tools.
///
/// Cheap to clone: clones share their [`McpTestStats`].
#[derive(Debug, Clone)]
pub struct McpTestServer {
    page_size: usize,
    invalid_name: bool,
    duplicate_name: bool,
    counters: Arc<Counters>,
}

impl Default for McpTestServer {
    fn default() -> Self {
        Self::new()
    }
}

impl McpTestServer {
    /// The server with its standard tools, listed 4 a page.
    pub fn new() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            invalid_name: false,
            duplicate_name: false,
            counters: Arc::default(),
        }
    }

    /// Lists `page_size` tools a page (at least 1).
    #[must_use]
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Adds a tool named `bad.name`, which MCP allows and Converse does not.
    #[must_use]
    pub fn with_invalid_tool_name(mut self) -> Self {
        self.invalid_name = true;
        self
    }

    /// Lists a second tool named `echo`.
    #[must_use]
    pub fn with_duplicate_tool_name(mut self) -> Self {
        self.duplicate_name = true;
        self
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> McpTestStats {
        self.counters.snapshot()
    }

    /// The names of the tools `tools/list` gives, in order.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools()
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect()
    }

    /// Serves one client on this process's stdin and stdout until stdin closes. `crash` exits
    /// the process with [`CRASH_EXIT_CODE`]; `garbage` writes [`GARBAGE_LINE`] on stdout.
    pub async fn serve_stdio(self) -> Result<(), McpTestServerError> {
        let handler = Handler {
            server: self,
            wire: Wire::Stdio,
        };
        let running = handler
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|error| McpTestServerError::Handshake(error.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|error| McpTestServerError::Io(std::io::Error::other(error)))?;
        Ok(())
    }

    /// Serves one client over in-process byte streams (for example the halves of two
    /// [`tokio::io::duplex`] pipes) until the client closes its side. `crash` drops `write`, so
    /// that the client reads the end of the stream.
    pub async fn serve_io<R, W>(self, read: R, write: W) -> Result<(), McpTestServerError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let writer = DroppableWriter(Arc::new(Mutex::new(Some(write))));
        let crashed = Arc::new(Notify::new());
        let crash = {
            let writer = writer.clone();
            let crashed = crashed.clone();
            Arc::new(move || {
                writer.drop_inner();
                crashed.notify_one();
            }) as CrashHook
        };
        let handler = Handler {
            server: self,
            wire: Wire::Other(crash),
        };
        let running = handler
            .serve((read, writer))
            .await
            .map_err(|error| McpTestServerError::Handshake(error.to_string()))?;
        tokio::select! {
            result = running.waiting() => {
                result.map_err(|error| McpTestServerError::Io(std::io::Error::other(error)))?;
            }
            () = crashed.notified() => {}
        }
        Ok(())
    }

    /// Serves streamable HTTP at `http://127.0.0.1:<free port>/mcp` until the returned handle
    /// is shut down or dropped. The server runs on its own thread and Tokio runtime, so that
    /// `crash` (and [`McpHttpTestServer::crash`]) can drop every connection at once.
    pub async fn serve_http(self) -> Result<McpHttpTestServer, McpTestServerError> {
        self.serve_http_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
    }

    /// Serves streamable HTTP at `http://<addr>/mcp`; see [`McpTestServer::serve_http`].
    pub async fn serve_http_on(
        self,
        addr: SocketAddr,
    ) -> Result<McpHttpTestServer, McpTestServerError> {
        let (ready_tx, ready_rx) = oneshot::channel::<std::io::Result<SocketAddr>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let crashed = Arc::new(Notify::new());
        let counters = self.counters.clone();
        let headers = SeenHeaders::default();
        let thread_headers = headers.clone();
        let server = self;
        let thread_crashed = crashed.clone();
        std::thread::Builder::new()
            .name("mcp-test-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(serve_http_until(
                    server,
                    thread_headers,
                    addr,
                    ready_tx,
                    stop_rx,
                    thread_crashed,
                ));
                // Dropping the runtime drops every task: the listener, each connection and each
                // session, as a crashed process would.
                drop(runtime);
                let _ = done_tx.send(());
            })?;
        let local_addr = ready_rx.await.map_err(|_| {
            McpTestServerError::Io(std::io::Error::other("the server thread ended"))
        })??;
        Ok(McpHttpTestServer {
            url: format!("http://{local_addr}/mcp"),
            addr: local_addr,
            counters,
            headers,
            crashed,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    fn tools(&self) -> Vec<McpTool> {
        let mut tools = vec![
            McpTool::new(
                "echo",
                "Answers its input as JSON text.",
                schema(json!({"type": "object", "additionalProperties": true})),
            ),
            McpTool::new(
                "add",
                "Adds two numbers.",
                schema(json!({
                    "type": "object",
                    "properties": {
                        "a": {"type": "number", "description": "The first number."},
                        "b": {"type": "number", "description": "The second number."}
                    },
                    "required": ["a", "b"]
                })),
            )
            .with_title("Add"),
            McpTool::new(
                "image",
                "Answers a 1×1 PNG image.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "fail",
                "Always fails, with isError: true.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "sleep",
                "Sleeps `ms` milliseconds, then answers.",
                schema(json!({
                    "type": "object",
                    "properties": {"ms": {"type": "integer", "minimum": 0}}
                })),
            ),
            McpTool::new(
                "crash",
                "Kills the server (stdio: exits the process; HTTP: drops every connection).",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "garbage",
                "Writes a line that is not JSON-RPC on stdout, then answers.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "big",
                "Answers a text of `bytes` bytes.",
                schema(json!({
                    "type": "object",
                    "properties": {"bytes": {"type": "integer", "minimum": 0}}
                })),
            ),
            McpTool::new(
                "resource",
                "Answers an embedded text resource and a resource link.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "stats",
                "Answers what the server has seen so far.",
                schema(json!({"type": "object", "properties": {}})),
            ),
            McpTool::new(
                "env",
                "Answers the names of the server's environment variables, and the values of \
                 those named in `names`.",
                schema(json!({
                    "type": "object",
                    "properties": {"names": {"type": "array", "items": {"type": "string"}}}
                })),
            ),
            McpTool::new_with_raw(
                "titled",
                None,
                schema(json!({"type": "object", "properties": {}})),
            )
            .with_title("A tool with a title and no description"),
            McpTool::new_with_raw("bare", None, schema(json!({"properties": {}}))),
        ];
        if self.invalid_name {
            tools.push(McpTool::new(
                "bad.name",
                "A name with a dot, which Converse rejects.",
                schema(json!({"type": "object"})),
            ));
        }
        if self.duplicate_name {
            tools.push(McpTool::new(
                "echo",
                "A second tool named echo.",
                schema(json!({"type": "object"})),
            ));
        }
        tools
    }
}

async fn serve_http_until(
    server: McpTestServer,
    headers: SeenHeaders,
    addr: SocketAddr,
    ready: oneshot::Sender<std::io::Result<SocketAddr>>,
    stop: oneshot::Receiver<()>,
    crashed: Arc<Notify>,
) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    if ready.send(listener.local_addr()).is_err() {
        return;
    }
    let crash = {
        let crashed = crashed.clone();
        Arc::new(move || crashed.notify_one()) as CrashHook
    };
    let service = StreamableHttpService::new(
        move || {
            Ok(Handler {
                server: server.clone(),
                wire: Wire::Other(crash.clone()),
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let seen: Vec<(String, String)> = request
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| {
                        Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                    })
                    .collect();
                headers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(seen);
                next.run(request)
            },
        ));
    tokio::select! {
        result = axum::serve(listener, app) => {
            if let Err(error) = result {
                tracing::warn!(%error, "MCP test server stopped");
            }
        }
        _ = stop => {}
        () = crashed.notified() => {}
    }
}

/// A running streamable HTTP test server (see [`McpTestServer::serve_http`]). Dropping it
/// stops the server.
#[derive(Debug)]
pub struct McpHttpTestServer {
    url: String,
    addr: SocketAddr,
    counters: Arc<Counters>,
    headers: SeenHeaders,
    crashed: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl McpHttpTestServer {
    /// The MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> McpTestStats {
        self.counters.snapshot()
    }

    /// The values of the request header `name` (any case) seen so far, oldest first.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(seen, _)| seen.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Drops every connection and stops listening at once, as if the server process died.
    pub fn crash(&self) {
        self.crashed.notify_one();
    }

    /// Stops the server and waits until its connections are closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), done).await;
        }
    }
}

impl Drop for McpHttpTestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type CrashHook = Arc<dyn Fn() + Send + Sync>;

/// Request headers seen by the HTTP server.
type SeenHeaders = Arc<Mutex<Vec<(String, String)>>>;

#[derive(Clone)]
enum Wire {
    /// Process stdio: `crash` exits, `garbage` writes on stdout.
    Stdio,
    /// HTTP or in-process streams: `crash` runs the hook; `garbage` is not available.
    Other(CrashHook),
}

#[derive(Clone)]
struct Handler {
    server: McpTestServer,
    wire: Wire,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn number(arguments: &JsonObject, name: &str) -> Result<f64, ErrorData> {
    arguments
        .get(name)
        .and_then(Value::as_f64)
        .ok_or_else(|| ErrorData::invalid_params(format!("`{name}` must be a number"), None))
}

impl Handler {
    async fn run_tool(
        &self,
        name: &str,
        arguments: JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let counters = &self.server.counters;
        match name {
            "echo" => Ok(text_result(Value::Object(arguments).to_string())),
            "add" => {
                let sum = number(&arguments, "a")? + number(&arguments, "b")?;
                Ok(CallToolResult::structured(json!({ "sum": sum })))
            }
            "image" => {
                let data = base64::engine::general_purpose::STANDARD.encode(TEST_PNG);
                Ok(CallToolResult::success(vec![
                    ContentBlock::image(data, "image/png"),
                    ContentBlock::text("A 1×1 red PNG."),
                ]))
            }
            "fail" => Ok(CallToolResult::error(vec![ContentBlock::text(
                "the tool failed on purpose",
            )])),
            "sleep" => {
                let ms = arguments.get("ms").and_then(Value::as_u64).unwrap_or(1000);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {
                        Ok(text_result(format!("slept {ms} ms")))
                    }
                    () = context.ct.cancelled() => {
                        counters.cancelled.fetch_add(1, Ordering::SeqCst);
                        Err(ErrorData::internal_error("cancelled by the client", None))
                    }
                }
            }
            "crash" => {
                match &self.wire {
                    Wire::Stdio => {
                        let _ = writeln!(std::io::stderr(), "mcp-test-server: crashing on purpose");
                        std::process::exit(CRASH_EXIT_CODE);
                    }
                    Wire::Other(crash) => crash(),
                }
                std::future::pending::<()>().await;
                Err(ErrorData::internal_error("unreachable", None))
            }
            "garbage" => match &self.wire {
                Wire::Stdio => {
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(format!("{GARBAGE_LINE}\n").as_bytes())
                        .and_then(|()| stdout.flush())
                        .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
                    Ok(text_result("wrote garbage"))
                }
                Wire::Other(_) => Ok(CallToolResult::error(vec![ContentBlock::text(
                    "garbage is only available over stdio",
                )])),
            },
            "big" => {
                let bytes = arguments
                    .get("bytes")
                    .and_then(Value::as_u64)
                    .unwrap_or(1 << 20);
                let bytes = usize::try_from(bytes).unwrap_or(usize::MAX).min(64 << 20);
                Ok(text_result("x".repeat(bytes)))
            }
            "resource" => {
                let mut link = Resource::new("test://files/notes.txt", "notes.txt");
                link.description = Some("Some notes".into());
                link.mime_type = Some("text/plain".into());
                Ok(CallToolResult::success(vec![
                    ContentBlock::resource(ResourceContents::TextResourceContents {
                        uri: "test://files/readme.md".into(),
                        mime_type: Some("text/markdown".into()),
                        text: "# Readme\nHello from a resource.".into(),
                        meta: None,
                    }),
                    ContentBlock::resource_link(link),
                ]))
            }
            "stats" => {
                let stats = counters.snapshot();
                Ok(CallToolResult::structured(json!({
                    "calls": stats.calls,
                    "list_requests": stats.list_requests,
                    "cancelled": stats.cancelled,
                    "pid": std::process::id(),
                })))
            }
            "env" => {
                let mut names: Vec<String> = std::env::vars_os()
                    .map(|(name, _)| name.to_string_lossy().into_owned())
                    .collect();
                names.sort();
                let values: serde_json::Map<String, Value> = arguments
                    .get("names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter_map(|name| {
                        std::env::var(name)
                            .ok()
                            .map(|value| (name.to_owned(), Value::String(value)))
                    })
                    .collect();
                Ok(CallToolResult::structured(
                    json!({ "names": names, "values": values }),
                ))
            }
            "titled" | "bare" | "bad.name" => Ok(text_result(format!("{name} ran"))),
            other => Err(ErrorData::invalid_params(
                format!("no tool named `{other}`"),
                None,
            )),
        }
    }
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(rmcp::model::Implementation::new(
                "agent-testkit-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("A server for testing MCP clients.")
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.server
            .counters
            .list_requests
            .fetch_add(1, Ordering::SeqCst);
        let tools = self.server.tools();
        let start = match request.and_then(|request| request.cursor) {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|start| *start <= tools.len())
                .ok_or_else(|| ErrorData::invalid_params("unknown cursor", None))?,
        };
        let end = (start + self.server.page_size).min(tools.len());
        let mut result = ListToolsResult::with_all_items(tools[start..end].to_vec());
        if end < tools.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.server.counters.calls.fetch_add(1, Ordering::SeqCst);
        let arguments = request.arguments.unwrap_or_default();
        self.run_tool(&request.name, arguments, &context)
            .await
            .map(CallToolResponse::from)
    }
}

/// A writer that the `crash` tool can drop while the server still holds it, so that the
/// client reads the end of the stream.
struct DroppableWriter<W>(Arc<Mutex<Option<W>>>);

impl<W> Clone for DroppableWriter<W> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W> DroppableWriter<W> {
    fn drop_inner(&self) {
        drop(self.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the test server crashed")
}

impl<W: AsyncWrite + Unpin> AsyncWrite for DroppableWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.as_mut() {
            Some(writer) => Pin::new(writer).poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.as_mut() {
            Some(writer) => Pin::new(writer).poll_flush(cx),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.as_mut() {
            Some(writer) => Pin::new(writer).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
