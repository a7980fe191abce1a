//! The test server over streamable HTTP on 127.0.0.1, in this process (on its own thread and
//! runtime, so that it can "crash"), and once as the `mcp-test-server --http` child. Real clock
//! with short timeouts, as over stdio: the server answers over real sockets.

use std::time::{Duration, Instant};

use agent_core::{CancellationToken, ToolContext, ToolErrorKind, ToolResultContent};
use agent_testkit::McpTestServer;
use agent_testkit::mcp::TEST_PNG;
use agent_tools_mcp::{HttpServer, McpErrorKind, McpServer};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use crate::support::{blocks, call, call_with, error_of, json, server_binary};

fn server(url: &str) -> HttpServer {
    McpServer::http(url)
        .name("web")
        .connect_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn lists_and_calls_tools_over_http_with_headers() {
    let http = McpTestServer::new().serve_http().await.unwrap();
    let client = server(http.url())
        .header("X-Api-Key", "key-1")
        .bearer_token("token-1")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.tool_names().len(), 13);
    assert_eq!(http.stats().list_requests, 4);
    assert_eq!(
        json(call(&client, "add", json!({"a": 1, "b": 2})).await),
        json!({"sum": 3.0})
    );
    assert_eq!(
        json(call(&client, "echo", json!({"k": "v"})).await),
        json!({"k": "v"})
    );
    let image = blocks(call(&client, "image", json!({})).await.unwrap());
    assert_eq!(
        image[0],
        ToolResultContent::Image(agent_core::ImageBlock::from_bytes(
            agent_core::ImageFormat::Png,
            TEST_PNG
        ))
    );
    error_of(
        call(&client, "fail", json!({})).await,
        ToolErrorKind::Failed,
    );
    error_of(
        call(&client, "add", json!({})).await,
        ToolErrorKind::InvalidInput,
    );
    assert!(http.header_values("x-api-key").iter().all(|v| v == "key-1"));
    assert!(!http.header_values("x-api-key").is_empty());
    assert!(
        http.header_values("authorization")
            .iter()
            .any(|v| v == "Bearer token-1")
    );
    client.close().await;
    http.shutdown().await;
}

#[tokio::test]
async fn a_server_that_dies_mid_call_gives_unavailable_then_fast_failures() {
    let http = McpTestServer::new().serve_http().await.unwrap();
    let client = server(http.url())
        .call_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let error = error_of(
        call(&client, "crash", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(error.message().contains("`web`"), "{error}");
    // The server is gone: the next calls are refused at once.
    for _ in 0..2 {
        let started = Instant::now();
        error_of(
            call(&client, "echo", json!({})).await,
            ToolErrorKind::Unavailable,
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_hang_times_out_and_is_cancelled_on_the_server() {
    let http = McpTestServer::new().serve_http().await.unwrap();
    let client = server(http.url())
        .call_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    error_of(
        call(&client, "sleep", json!({"ms": 30_000})).await,
        ToolErrorKind::Timeout,
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    for _ in 0..100 {
        if http.stats().cancelled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(http.stats().cancelled, 1);
    // Still usable.
    json(call(&client, "echo", json!({})).await);

    let token = CancellationToken::new();
    let context = ToolContext::detached().with_cancellation(token.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    });
    let started = Instant::now();
    error_of(
        call_with(&client, "sleep", json!({"ms": 30_000}), &context).await,
        ToolErrorKind::Cancelled,
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    client.close().await;
    http.shutdown().await;
}

#[tokio::test]
async fn connection_failures_are_typed_errors() {
    // Nothing listens.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = server(&format!("http://127.0.0.1:{port}/mcp"))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Connect, "{error}");

    // Accepts, never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let error = server(&url)
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Timeout, "{error}");
    held.abort();

    // Answers HTTP with something that is not MCP.
    let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", garbage.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = garbage.accept().await {
            tokio::spawn(async move {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = "<html>not MCP</html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    let error = server(&url).connect().await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            McpErrorKind::Connect | McpErrorKind::Handshake
        ),
        "{error}"
    );

    let error = server("localhost:1/mcp").connect().await.unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::InvalidConfig, "{error}");
    let error = server("http://127.0.0.1:1/mcp")
        .header("Accept", "text/plain")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::InvalidConfig, "{error}");
}

#[tokio::test]
async fn the_binary_serves_http_too() {
    let mut child = tokio::process::Command::new(server_binary())
        .args(["--http", "127.0.0.1:0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let client = server(&url).connect().await.unwrap();
    assert_eq!(
        json(call(&client, "add", json!({"a": 1, "b": 1})).await),
        json!({"sum": 2.0})
    );
    client.close().await;
    // Closing its stdin stops it.
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
