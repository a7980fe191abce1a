//! The test server as a child process over stdio. These run on the real clock: a child process
//! answers in real time, which Tokio's paused clock would jump past (it advances whenever the
//! runtime waits, including for the child). Timeouts are kept short (300 ms) instead.

use std::time::{Duration, Instant};

use agent_core::{CancellationToken, ToolContext, ToolErrorKind, ToolResultContent};
use agent_testkit::mcp::{CRASH_EXIT_CODE, GARBAGE_LINE, TEST_PNG};
use agent_tools_mcp::{McpErrorKind, McpServer, Stderr, StdioServer};
use serde_json::json;

use crate::support::{blocks, call, call_with, error_of, json, server_binary};

/// The test server's command.
fn server() -> StdioServer {
    McpServer::stdio(server_binary())
        .name("kit")
        .connect_timeout(Duration::from_secs(20))
}

/// How long a fast failure may take.
const FAST: Duration = Duration::from_millis(200);

#[tokio::test]
async fn lists_and_calls_tools_over_stdio() {
    let client = server()
        .arg("--page-size")
        .arg("2")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.tool_names().len(), 13);
    assert_eq!(client.server_name(), "kit");
    assert_eq!(
        client.server_info().name.as_deref(),
        Some("agent-testkit-mcp")
    );
    assert_eq!(
        json(call(&client, "echo", json!({"x": [1, 2]})).await),
        json!({"x": [1, 2]})
    );
    assert_eq!(
        json(call(&client, "add", json!({"a": 40, "b": 2})).await),
        json!({"sum": 42.0})
    );
    let image = blocks(call(&client, "image", json!({})).await.unwrap());
    assert_eq!(
        image[0],
        ToolResultContent::Image(agent_core::ImageBlock::from_bytes(
            agent_core::ImageFormat::Png,
            TEST_PNG
        ))
    );
    let failed = error_of(
        call(&client, "fail", json!({})).await,
        ToolErrorKind::Failed,
    );
    assert_eq!(failed.message(), "the tool failed on purpose");
    let big = blocks(call(&client, "big", json!({})).await.unwrap());
    assert!(matches!(&big[..], [ToolResultContent::Text(text)] if text.len() == 1 << 20));
    // Calls in parallel share the connection.
    let (a, b) = tokio::join!(
        call(&client, "sleep", json!({"ms": 100})),
        call(&client, "add", json!({"a": 1, "b": 1}))
    );
    a.unwrap();
    assert_eq!(json(b), json!({"sum": 2.0}));
    client.close().await;
}

#[tokio::test]
async fn the_child_gets_only_safe_environment_variables_by_default() {
    // A variable cargo sets for the test process, and not on the default list (setting one
    // here would need `unsafe` `set_var`).
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let client = server().env("GIVEN", "yes").connect().await.unwrap();
    let env = json(call(&client, "env", json!({"names": ["GIVEN", "PATH"]})).await);
    let names: Vec<&str> = env["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|name| name.as_str())
        .collect();
    assert!(names.contains(&"GIVEN"));
    assert!(names.contains(&"PATH"));
    assert!(!names.contains(&"CARGO_PKG_NAME"), "{names:?}");
    assert_eq!(env["values"]["GIVEN"], "yes");
    client.close().await;

    let client = server()
        .inherit_env("CARGO_PKG_NAME")
        .connect()
        .await
        .unwrap();
    let env = json(call(&client, "env", json!({"names": ["CARGO_PKG_NAME"]})).await);
    assert_eq!(env["values"]["CARGO_PKG_NAME"], "minimalagent-tools-mcp");
    client.close().await;

    let client = server().clear_env().connect().await.unwrap();
    let env = json(call(&client, "env", json!({})).await);
    assert_eq!(env["names"], json!([]));
    client.close().await;
}

#[tokio::test]
async fn a_crash_mid_call_gives_unavailable_then_fast_failures() {
    let client = server().connect().await.unwrap();
    let error = error_of(
        call(&client, "crash", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    let message = error.message();
    assert!(message.contains("`kit` is unavailable"), "{message}");
    assert!(
        message.contains(&format!("exit status: {CRASH_EXIT_CODE}")),
        "{message}"
    );
    assert!(message.contains("crashing on purpose"), "{message}");
    assert!(!client.is_available());

    let started = Instant::now();
    let again = error_of(
        call(&client, "echo", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(started.elapsed() < FAST);
    assert_eq!(again.message(), message);
}

#[tokio::test]
async fn a_hang_times_out_and_the_call_is_cancelled_on_the_server() {
    let client = server()
        .call_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    let error = error_of(
        call(&client, "sleep", json!({"ms": 30_000})).await,
        ToolErrorKind::Timeout,
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert!(error.message().contains("within 0.3 s"), "{error}");
    // The server stopped the call when told.
    let mut cancelled = 0;
    for _ in 0..50 {
        cancelled = json(call(&client, "stats", json!({})).await)["cancelled"]
            .as_u64()
            .unwrap();
        if cancelled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancelled, 1);
    client.close().await;
}

#[tokio::test]
async fn cancelling_the_run_stops_a_call_promptly() {
    let client = server().connect().await.unwrap();
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
}

#[tokio::test]
async fn garbage_on_stdout_closes_the_connection_with_a_typed_error() {
    let client = server().connect().await.unwrap();
    let error = error_of(
        call(&client, "garbage", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(error.message().contains(GARBAGE_LINE), "{error}");
    let started = Instant::now();
    error_of(
        call(&client, "echo", json!({})).await,
        ToolErrorKind::Unavailable,
    );
    assert!(started.elapsed() < FAST);

    let client = server().tolerate_stray_output().connect().await.unwrap();
    assert_eq!(
        blocks(call(&client, "garbage", json!({})).await.unwrap()),
        vec![ToolResultContent::Text("wrote garbage".into())]
    );
    client.close().await;
}

#[tokio::test]
async fn connection_failures_are_typed_errors() {
    let error = server()
        .arg("--garbage-on-start")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Protocol, "{error}");
    assert!(error.to_string().contains(GARBAGE_LINE));

    let error = server().arg("--exit-on-start").connect().await.unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Handshake, "{error}");
    let text = error.to_string();
    assert!(text.contains("exit status: 2"), "{text}");
    assert!(text.contains("exiting on start"), "{text}");

    let error = server()
        .arg("--hang-on-start")
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Timeout, "{error}");

    let error = McpServer::stdio("/nonexistent/mcp-server")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Spawn, "{error}");
    assert_eq!(error.server(), "mcp-server");

    let error = server()
        .current_dir("/nonexistent/dir")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::Spawn, "{error}");

    let error = server().arg("--invalid-names").connect().await.unwrap_err();
    assert_eq!(error.kind(), McpErrorKind::InvalidToolName, "{error}");
    // …unless that tool is left out.
    let client = server()
        .arg("--invalid-names")
        .filter(|name| name != "bad.name")
        .stderr(Stderr::Discard)
        .connect()
        .await
        .unwrap();
    client.close().await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn close_stops_the_child_gracefully() {
    let client = server().connect().await.unwrap();
    let pid = json(call(&client, "stats", json!({})).await)["pid"]
        .as_u64()
        .unwrap();
    let started = Instant::now();
    client.close().await;
    // The child exits when its stdin closes, within the 2 s grace period (no SIGTERM).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!process_exists(pid));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn close_escalates_to_sigterm_then_sigkill() {
    // Keeps running when its stdin closes: SIGTERM after the 2 s grace period stops it.
    let client = server().arg("--linger").connect().await.unwrap();
    let pid = json(call(&client, "stats", json!({})).await)["pid"]
        .as_u64()
        .unwrap();
    let started = Instant::now();
    client.close().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    assert!(!process_exists(pid));

    // Ignores SIGTERM too: SIGKILL after 2 s more.
    let client = server()
        .args(["--linger", "--ignore-sigterm"])
        .connect()
        .await
        .unwrap();
    let pid = json(call(&client, "stats", json!({})).await)["pid"]
        .as_u64()
        .unwrap();
    let started = Instant::now();
    client.close().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    assert!(!process_exists(pid));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_client_and_its_tools_kills_the_child() {
    let client = server().connect().await.unwrap();
    let pid = json(call(&client, "stats", json!({})).await)["pid"]
        .as_u64()
        .unwrap();
    let tools = client.tools();
    drop(client);
    assert!(process_exists(pid), "the tools keep the server");
    drop(tools);
    for _ in 0..100 {
        if !process_exists(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server process {pid} is still running");
}

/// Whether a process with this id runs (a zombie does not count).
#[cfg(target_os = "linux")]
fn process_exists(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses; Z is a zombie.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
