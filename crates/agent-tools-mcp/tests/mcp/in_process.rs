//! The test server in process, over in-memory pipes: no child process and no sockets, so the
//! tests of time run on Tokio's paused clock and check the exact timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_core::{
    CancellationToken, ImageBlock, ImageFormat, ToolContext, ToolErrorKind, ToolResultContent,
    ToolSet,
};
use agent_testkit::McpTestServer;
use agent_testkit::mcp::TEST_PNG;
use agent_tools_mcp::{IoServer, McpClient, McpError, McpErrorKind, McpServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::time::Instant;

use crate::support::{blocks, call, call_with, error_of, json};

/// Connects to `server` served over in-memory pipes.
async fn connect(
    server: &McpTestServer,
    configure: impl FnOnce(IoServer) -> IoServer,
) -> Result<McpClient, McpError> {
    let (client_write, server_read) = tokio::io::duplex(1 << 16);
    let (server_write, client_read) = tokio::io::duplex(1 << 16);
    tokio::spawn(server.clone().serve_io(server_read, server_write));
    configure(McpServer::io(client_read, client_write).name("test"))
        .connect()
        .await
}

/// Waits (on the test's clock) until `condition` holds, for at most 5 s.
async fn wait_until(mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not hold within 5 s");
}

#[tokio::test]
async fn lists_every_page_of_tools_with_their_schemas() {
    let server = McpTestServer::new().page_size(5);
    let client = connect(&server, |s| s).await.unwrap();
    assert_eq!(client.tool_names(), server.tool_names());
    assert_eq!(client.tool_names().len(), 13);
    // 13 tools, 5 a page: three pages.
    assert_eq!(server.stats().list_requests, 3);

    let add = client.tool("add").unwrap();
    assert_eq!(add.description(), "Adds two numbers.");
    assert_eq!(
        add.input_schema(),
        json!({
            "type": "object",
            "properties": {
                "a": {"type": "number", "description": "The first number."},
                "b": {"type": "number", "description": "The second number."}
            },
            "required": ["a", "b"]
        })
    );
    // No description: the title, else the name. No "type": added.
    let titled = client.tool("titled").unwrap();
    assert_eq!(
        titled.description(),
        "A tool with a title and no description"
    );
    let bare = client.tool("bare").unwrap();
    assert_eq!(bare.description(), "bare");
    assert_eq!(
        bare.input_schema(),
        json!({"type": "object", "properties": {}})
    );

    let info = client.server_info();
    assert_eq!(info.name.as_deref(), Some("agent-testkit-mcp"));
    assert_eq!(
        info.instructions.as_deref(),
        Some("A server for testing MCP clients.")
    );
    assert!(!info.protocol_version.is_empty());
    // Everything the agent's tool set checks holds.
    assert_eq!(ToolSet::new(client.tools()).unwrap().len(), 13);
}

#[tokio::test]
async fn results_map_to_converse_content() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();

    assert_eq!(
        json(call(&client, "echo", json!({"text": "hi", "n": 2})).await),
        json!({"text": "hi", "n": 2})
    );
    assert_eq!(
        json(call(&client, "add", json!({"a": 2, "b": 1.5})).await),
        json!({"sum": 3.5})
    );
    assert_eq!(
        blocks(call(&client, "image", json!({})).await.unwrap()),
        vec![
            ToolResultContent::Image(ImageBlock::from_bytes(ImageFormat::Png, TEST_PNG)),
            ToolResultContent::Text("A 1×1 red PNG.".into()),
        ]
    );
    assert_eq!(
        blocks(call(&client, "resource", json!({})).await.unwrap()),
        vec![
            ToolResultContent::Text(
                "[resource test://files/readme.md]\n# Readme\nHello from a resource.".into()
            ),
            ToolResultContent::Text(
                "[resource link: notes.txt (test://files/notes.txt), text/plain: Some notes]"
                    .into()
            ),
        ]
    );
    let big = blocks(
        call(&client, "big", json!({"bytes": 3_000_000}))
            .await
            .unwrap(),
    );
    assert!(matches!(&big[..], [ToolResultContent::Text(text)] if text.len() == 3_000_000));
    // A null input is no arguments.
    assert_eq!(json(call(&client, "echo", Value::Null).await), json!({}));
}

#[tokio::test]
async fn errors_map_to_tool_error_kinds() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();

    let failed = error_of(
        call(&client, "fail", json!({})).await,
        ToolErrorKind::Failed,
    );
    assert_eq!(failed.message(), "the tool failed on purpose");
    // JSON-RPC "invalid params" from the server.
    let invalid = error_of(
        call(&client, "add", json!({"a": "two"})).await,
        ToolErrorKind::InvalidInput,
    );
    assert!(invalid.message().contains("`a` must be a number"));
    // Not an object: refused before it is sent.
    let calls = server.stats().calls;
    error_of(
        call(&client, "echo", json!([1, 2])).await,
        ToolErrorKind::InvalidInput,
    );
    assert_eq!(server.stats().calls, calls);
    // The connection is still fine.
    assert!(client.is_available());
    json(call(&client, "echo", json!({})).await);
}

#[tokio::test(start_paused = true)]
async fn a_hung_call_times_out_after_the_default_60_s_and_is_cancelled_on_the_server() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();
    let started = Instant::now();
    let error = error_of(
        call(&client, "sleep", json!({"ms": 3_600_000})).await,
        ToolErrorKind::Timeout,
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(60) && elapsed < Duration::from_secs(61),
        "{elapsed:?}"
    );
    assert!(error.message().contains("within 60 s"), "{error}");
    // rmcp sent notifications/cancelled for the abandoned request.
    wait_until(|| server.stats().cancelled == 1).await;
    // The connection is still usable.
    json(call(&client, "echo", json!({})).await);
}

#[tokio::test(start_paused = true)]
async fn the_call_timeout_can_be_set() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s.call_timeout(Duration::from_millis(1500)))
        .await
        .unwrap();
    let started = Instant::now();
    error_of(
        call(&client, "sleep", json!({"ms": 60_000})).await,
        ToolErrorKind::Timeout,
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(1600),
        "{elapsed:?}"
    );
    // A call shorter than the timeout is answered.
    assert_eq!(
        blocks(call(&client, "sleep", json!({"ms": 1000})).await.unwrap()),
        vec![ToolResultContent::Text("slept 1000 ms".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn the_runs_cancellation_stops_a_call_at_once_and_cancels_it_on_the_server() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();
    let token = CancellationToken::new();
    let context = ToolContext::detached().with_cancellation(token.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        token.cancel();
    });
    let started = Instant::now();
    error_of(
        call_with(&client, "sleep", json!({"ms": 3_600_000}), &context).await,
        ToolErrorKind::Cancelled,
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_millis(5100),
        "{elapsed:?}"
    );
    wait_until(|| server.stats().cancelled == 1).await;

    // A context cancelled before the call: nothing is sent.
    let calls = server.stats().calls;
    error_of(
        call_with(&client, "echo", json!({}), &context).await,
        ToolErrorKind::Cancelled,
    );
    assert_eq!(server.stats().calls, calls);
}

#[tokio::test]
async fn a_dead_server_gives_unavailable_then_fails_fast() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();
    let error = error_of(
        call(&client, "crash", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(error.message().contains("`test` is unavailable"), "{error}");
    assert!(!client.is_available());
    let calls = server.stats().calls;
    let again = error_of(
        call(&client, "echo", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert_eq!(again.message(), error.message());
    assert_eq!(server.stats().calls, calls, "nothing was sent");
}

#[tokio::test]
async fn closing_makes_the_tools_unavailable() {
    let server = McpTestServer::new();
    let client = connect(&server, |s| s).await.unwrap();
    let tools = client.tools();
    client.close().await;
    client.close().await;
    assert!(!client.is_available());
    let error = tools[0]
        .call(json!({}), &ToolContext::detached())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ToolErrorKind::Unavailable);
    assert_eq!(error.message(), "the MCP server `test` was closed");
}

#[tokio::test]
async fn the_tools_keep_the_connection_after_the_client_is_dropped() {
    let server = McpTestServer::new();
    let tools = connect(&server, |s| s).await.unwrap().tools();
    let echo = tools.iter().find(|tool| tool.name() == "echo").unwrap();
    let output = echo.call(json!({"a": 1}), &ToolContext::detached()).await;
    assert_eq!(json(output), json!({"a": 1}));
}

#[tokio::test]
async fn a_prefix_and_a_filter_choose_the_names() {
    let server = McpTestServer::new().with_invalid_tool_name();
    let client = connect(&server, |s| {
        s.prefix("kit_").filter(|name| name != "bad.name")
    })
    .await
    .unwrap();
    assert_eq!(client.tool_names().len(), 13);
    assert!(
        client
            .tool_names()
            .iter()
            .all(|name| name.starts_with("kit_"))
    );
    // Calls use the server's name.
    assert_eq!(
        json(call(&client, "kit_add", json!({"a": 1, "b": 2})).await),
        json!({"sum": 3.0})
    );

    let client = connect(&server, |s| s.only(["echo", "add"])).await.unwrap();
    assert_eq!(client.tool_names(), ["echo", "add"]);
}

#[tokio::test]
async fn invalid_and_duplicate_names_fail_to_connect() {
    let error = connect(&McpTestServer::new().with_invalid_tool_name(), |s| s)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::InvalidToolName);
    assert!(matches!(
        &error,
        McpError::InvalidToolName { name, mcp_name, .. } if name == "bad.name" && mcp_name == "bad.name"
    ));

    let long_prefix = "p".repeat(60);
    let error = connect(&McpTestServer::new(), |s| s.prefix(long_prefix))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::InvalidToolName);

    let error = connect(&McpTestServer::new().with_duplicate_tool_name(), |s| s)
        .await
        .unwrap_err();
    assert!(matches!(&error, McpError::DuplicateToolName { name, .. } if name == "echo"));
    assert_eq!(error.server(), "test");
}

/// What the fake server below answers to a `tools/call`.
type OnCall = fn(&Value) -> Vec<String>;

/// A hand-written MCP server: answers `initialize` (after writing `before_init`) and
/// `tools/list` (one tool, `t`), and each `tools/call` with the lines `on_call` gives for the
/// request's id.
async fn fake_server(
    before_init: Vec<String>,
    on_call: OnCall,
    configure: impl FnOnce(IoServer) -> IoServer,
) -> Result<McpClient, McpError> {
    let (client_write, server_read) = tokio::io::duplex(1 << 16);
    let (mut server_write, client_read) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let mut lines = BufReader::new(server_read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap();
            let id = &request["id"];
            let answer = match request["method"].as_str() {
                Some("initialize") => {
                    let mut answer = before_init.clone();
                    answer.push(
                        json!({"jsonrpc": "2.0", "id": id, "result": {
                            "protocolVersion": request["params"]["protocolVersion"],
                            "capabilities": {"tools": {}},
                            "serverInfo": {"name": "fake", "version": "1"}
                        }})
                        .to_string(),
                    );
                    answer
                }
                Some("tools/list") => vec![
                    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                        {"name": "t", "description": "A tool.", "inputSchema": {"type": "object"}}
                    ]}})
                    .to_string(),
                ],
                Some("tools/call") => on_call(id),
                _ => Vec::new(),
            };
            for line in answer {
                if server_write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    configure(McpServer::io(client_read, client_write).name("fake"))
        .connect()
        .await
}

fn text_answer(id: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "ok"}]}})
        .to_string()
}

#[tokio::test]
async fn garbage_before_the_handshake_is_a_protocol_error() {
    let error = fake_server(vec!["Server started!".into()], |_| Vec::new(), |s| s)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Protocol);
    assert!(error.to_string().contains("\"Server started!\""), "{error}");
}

#[tokio::test]
async fn garbage_during_a_call_closes_the_connection() {
    let client = fake_server(
        Vec::new(),
        |id| vec!["\u{1b}[31mnot json".into(), text_answer(id)],
        |s| s,
    )
    .await
    .unwrap();
    let error = error_of(
        call(&client, "t", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(error.message().contains("not JSON-RPC"), "{error}");
    let started = std::time::Instant::now();
    error_of(
        call(&client, "t", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(started.elapsed() < Duration::from_millis(100));

    // JSON that is not a message (a batch) too.
    let client = fake_server(
        Vec::new(),
        |id| vec![format!("[{}]", text_answer(id))],
        |s| s,
    )
    .await
    .unwrap();
    error_of(
        call(&client, "t", json!({})).await,
        ToolErrorKind::Unavailable,
    );
}

#[tokio::test]
async fn stray_output_can_be_tolerated() {
    let client = fake_server(
        vec!["a banner".into()],
        |id| vec!["log: working".into(), String::new(), text_answer(id)],
        |s| s.tolerate_stray_output(),
    )
    .await
    .unwrap();
    assert_eq!(
        blocks(call(&client, "t", json!({})).await.unwrap()),
        vec![ToolResultContent::Text("ok".into())]
    );
}

#[tokio::test]
async fn an_unreadable_response_fails_that_call_only() {
    let client = fake_server(
        Vec::new(),
        |id| {
            static CALLS: AtomicUsize = AtomicUsize::new(0);
            if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first call: a result whose content does not parse.
                vec![
                    json!({"jsonrpc": "2.0", "id": id, "result": {
                        "content": [{"type": "text", "text": 42}]
                    }})
                    .to_string(),
                ]
            } else {
                vec![text_answer(id)]
            }
        },
        |s| s,
    )
    .await
    .unwrap();
    error_of(call(&client, "t", json!({})).await, ToolErrorKind::Failed);
    assert!(client.is_available());
    assert_eq!(
        blocks(call(&client, "t", json!({})).await.unwrap()),
        vec![ToolResultContent::Text("ok".into())]
    );
}
