//! The trace viewer's server over plain HTTP (no browser): its security headers, the Host
//! check that keeps other sites' pages out (DNS rebinding), the JSON API, that deleting
//! needs `--allow-delete`, the page's header and the same origin, and that answering held
//! tool calls needs `--allow-approvals` (on loopback only), the per-start token, a JSON body
//! and the same origin; forks and damaged run records in the API; and that the viewer opens
//! the file read-only unless a flag lets it write.
#![cfg(feature = "sqlite")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::Value;

struct Viewer {
    _process: Lines,
    port: u16,
}

fn start_viewer(store_url: &str, extra: &[&str]) -> Viewer {
    let mut command = cli();
    command
        .args(["--store", store_url, "ui", "--port", "0"])
        .args(extra);
    let process = Lines::spawn(command);
    let line = process.next(Duration::from_secs(30)).unwrap();
    assert!(
        line.contains("read-only") != extra.iter().any(|arg| arg.starts_with("--allow-")),
        "{line}"
    );
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Viewer {
        _process: process,
        port,
    }
}

/// A response: status, headers (lower-case names), body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// One HTTP/1.1 request on loopback, with these extra header lines.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    request_with_body(port, method, path, headers, "")
}

/// One HTTP/1.1 request on loopback, with these extra header lines and this body.
fn request_with_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        text.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let body = if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_data_come_with_a_strict_content_security_policy() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let viewer = start_viewer(&store.url, &[]);
    for path in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/api/sessions",
        "/api/config",
    ] {
        let response = request(viewer.port, "GET", path, &[]);
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        let policy = response.header("content-security-policy").unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
    }
    let page = request(viewer.port, "GET", "/", &[]);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    // The page runs no inline script and loads nothing from elsewhere.
    assert!(
        page.body
            .contains("<script src=\"/assets/app.js\" defer></script>")
    );
    assert_eq!(page.body.matches("<script").count(), 1);
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
    let script = request(viewer.port, "GET", "/assets/app.js", &[]);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        !script.body.contains(".innerHTML"),
        "the page must not build HTML from strings"
    );
    assert!(!script.body.contains("insertAdjacentHTML"));
    assert!(!script.body.contains("document.write"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_other_hosts_are_refused() {
    let store = sqlite_store().await;
    let viewer = start_viewer(&store.url, &[]);
    let port = viewer.port.to_string();
    let evil = format!("attacker.example:{port}");
    let response = request(viewer.port, "GET", "/api/sessions", &[("Host", &evil)]);
    assert_eq!(response.status, 421, "{}", response.body);
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let response = request(viewer.port, "GET", "/api/config", &[("Host", &host)]);
        assert_eq!(response.status, 200, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_sessions_runs_and_conversations() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let viewer = start_viewer(&store.url, &[]);
    let config = request(viewer.port, "GET", "/api/config", &[]).json();
    assert_eq!(config["allow_delete"], false);
    assert_eq!(config["store"], store.url);

    let list = request(viewer.port, "GET", "/api/sessions", &[]).json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let weather = sessions.iter().find(|s| s["id"] == "weather").unwrap();
    assert_eq!(weather["run_list"].as_array().unwrap().len(), 2);
    assert_eq!(weather["run_list"][0]["tool_calls"], 2);
    assert_eq!(list["next"], Value::Null);

    let session = request(viewer.port, "GET", "/api/sessions/weather", &[]).json();
    assert_eq!(session["runs"].as_array().unwrap().len(), 2);
    assert_eq!(session["conversation"].as_array().unwrap().len(), 2);
    assert_eq!(
        session["runs"][0]["steps"][0]["tools"][1]["status"],
        "failed"
    );

    let missing = request(viewer.port, "GET", "/api/sessions/nobody", &[]);
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
    let invalid = request(viewer.port, "GET", "/api/sessions/bad%20id", &[]);
    assert_eq!(invalid.status, 400);
    assert_eq!(
        request(viewer.port, "GET", "/nothing/here", &[]).status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_sends_each_run_as_its_current_trace() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let viewer = start_viewer(&store.url, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", viewer.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/sessions/weather/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
        viewer.port
    )
    .unwrap();
    let mut seen = String::new();
    let mut buffer = [0_u8; 4096];
    while seen.matches("event: run").count() < 2 {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the feed ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    let updates: Vec<Value> = seen
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(updates.len(), 2, "one update per finished run: {seen}");
    assert_eq!(updates[0]["run"], 1);
    assert_eq!(updates[0]["last_event"], "run_finished");
    assert_eq!(updates[0]["reasoning"]["status"], "completed");
    assert_eq!(
        updates[0]["reasoning"]["steps"][0]["tools"][0]["name"],
        "lookup"
    );
    assert_eq!(
        updates[1]["reasoning"]["final_response"],
        "You are welcome."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_needs_the_flag_the_page_header_and_the_same_origin() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let read_only = start_viewer(&store.url, &[]);
    let header = [("X-Minimalagent-Delete", "weather")];
    let response = request(read_only.port, "DELETE", "/api/sessions/weather", &header);
    assert_eq!(response.status, 403);
    assert!(response.body.contains("--allow-delete"));

    let viewer = start_viewer(&store.url, &["--allow-delete"]);
    let response = request(viewer.port, "DELETE", "/api/sessions/weather", &[]);
    assert_eq!(response.status, 403, "no header: {}", response.body);
    let response = request(
        viewer.port,
        "DELETE",
        "/api/sessions/weather",
        &[
            ("X-Minimalagent-Delete", "weather"),
            ("Origin", "http://attacker.example"),
        ],
    );
    assert_eq!(response.status, 403, "another origin: {}", response.body);
    assert_eq!(
        request(viewer.port, "GET", "/api/sessions/weather", &[]).status,
        200
    );
    let origin = format!("http://127.0.0.1:{}", viewer.port);
    let response = request(
        viewer.port,
        "DELETE",
        "/api/sessions/weather",
        &[("X-Minimalagent-Delete", "weather"), ("Origin", &origin)],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        request(viewer.port, "GET", "/api/sessions/weather", &[]).status,
        404
    );
}

/// The approval token the page at `/` carries, if any.
fn page_token(port: u16) -> Option<String> {
    let page = request(port, "GET", "/", &[]);
    let (_, rest) = page
        .body
        .split_once("<meta name=\"minimalagent-approval-token\" content=\"")?;
    Some(rest.split('"').next()?.to_owned())
}

/// The ids of the calls session `id` holds, read from the store.
async fn held(url: &str, id: &str) -> Vec<String> {
    minimalagent::Sessions::open(url)
        .await
        .unwrap()
        .paused_runs(id)
        .await
        .unwrap()
        .iter()
        .flat_map(|run| run.interrupts.iter().map(|i| i.id.clone()))
        .collect()
}

const APPROVE_BOB: &str = r#"{"decisions": {"tool-1": {"decision": "approve"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_shown_read_only_without_the_flag() {
    let store = sqlite_store().await;
    let _agent = paused_run(&store.url, "pay").await;
    let viewer = start_viewer(&store.url, &[]);
    assert_eq!(page_token(viewer.port), None);
    let config = request(viewer.port, "GET", "/api/config", &[]).json();
    assert_eq!(config["allow_approvals"], false);

    let session = request(viewer.port, "GET", "/api/sessions/pay", &[]).json();
    assert_eq!(session["runs"][0]["status"], "paused");
    let pending = session["runs"][0]["pending_interrupts"].as_array().unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0]["id"], "tool-1");
    assert_eq!(pending[0]["reason"], "money leaves the account");
    let list = request(viewer.port, "GET", "/api/sessions", &[]).json();
    assert_eq!(list["sessions"][0]["latest_run"]["pending_decisions"], 2);

    // No endpoint at all, whatever the request carries.
    let origin = format!("http://127.0.0.1:{}", viewer.port);
    let response = request_with_body(
        viewer.port,
        "POST",
        "/api/sessions/pay/decisions",
        &[
            ("Content-Type", "application/json"),
            ("X-Approval-Token", "guess"),
            ("Origin", &origin),
        ],
        APPROVE_BOB,
    );
    assert_eq!(response.status, 404, "{}", response.body);
    assert_eq!(held(&store.url, "pay").await, ["tool-1", "tool-2"]);
}

#[tokio::test]
async fn answering_approvals_is_refused_beyond_loopback() {
    let store = sqlite_store().await;
    for bind in ["0.0.0.0", "192.0.2.1", "::"] {
        let output = run_on(
            &store.url,
            &["ui", "--port", "0", "--bind", bind, "--allow-approvals"],
        );
        assert_one_line_error(
            &output,
            2,
            &["--allow-approvals needs a loopback address", bind],
        );
        assert!(
            stdout(&output).is_empty(),
            "it must not start: {}",
            stdout(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_need_the_token_a_json_body_and_the_same_origin() {
    let store = sqlite_store().await;
    let _agent = paused_run(&store.url, "pay").await;
    let viewer = start_viewer(&store.url, &["--allow-approvals"]);
    let token = page_token(viewer.port).expect("the page carries the token");
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    let config = request(viewer.port, "GET", "/api/config", &[]);
    assert!(
        !config.body.contains(&token),
        "only the page carries the token"
    );
    assert_eq!(config.json()["allow_approvals"], true);
    // A new token each start.
    let other = start_viewer(&store.url, &["--allow-approvals"]);
    assert_ne!(page_token(other.port).unwrap(), token);
    drop(other);

    let port = viewer.port;
    let path = "/api/sessions/pay/decisions";
    let own = format!("http://127.0.0.1:{port}");
    let json = ("Content-Type", "application/json");
    let last = if token.ends_with('0') { "1" } else { "0" };
    let changed = format!("{}{last}", &token[..63]);
    let refused = [
        ("no token", vec![json, ("Origin", own.as_str())], 403),
        (
            "a wrong token",
            vec![
                json,
                ("X-Approval-Token", "0123456789abcdef"),
                ("Origin", own.as_str()),
            ],
            403,
        ),
        (
            "the token cut short",
            vec![
                json,
                ("X-Approval-Token", &token[..63]),
                ("Origin", own.as_str()),
            ],
            403,
        ),
        (
            "the token with one character changed",
            vec![
                json,
                ("X-Approval-Token", changed.as_str()),
                ("Origin", own.as_str()),
            ],
            403,
        ),
        (
            "another site's origin",
            vec![
                json,
                ("X-Approval-Token", token.as_str()),
                ("Origin", "http://attacker.example"),
            ],
            403,
        ),
        (
            "an opaque origin",
            vec![
                json,
                ("X-Approval-Token", token.as_str()),
                ("Origin", "null"),
            ],
            403,
        ),
        (
            "a cross-site fetch",
            vec![
                json,
                ("X-Approval-Token", token.as_str()),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            403,
        ),
        (
            "a form's content type",
            vec![
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Approval-Token", token.as_str()),
            ],
            415,
        ),
        (
            "text/plain",
            vec![
                ("Content-Type", "text/plain"),
                ("X-Approval-Token", token.as_str()),
            ],
            415,
        ),
        (
            "no content type",
            vec![("X-Approval-Token", token.as_str())],
            415,
        ),
    ];
    for (what, headers, status) in refused {
        let response = request_with_body(port, "POST", path, &headers, APPROVE_BOB);
        assert_eq!(response.status, status, "{what}: {}", response.body);
        assert!(response.json()["error"].is_string(), "{what}");
        assert_eq!(
            held(&store.url, "pay").await,
            ["tool-1", "tool-2"],
            "{what}"
        );
    }
    let good = [
        json,
        ("X-Approval-Token", token.as_str()),
        ("Origin", own.as_str()),
    ];
    for (what, body, status) in [
        ("not JSON", "{decisions", 400),
        ("no decisions", r#"{"decisions": {}}"#, 400),
        (
            "an unknown decision",
            r#"{"decisions": {"tool-1": {"decision": "maybe"}}}"#,
            400,
        ),
        (
            "expired",
            r#"{"decisions": {"tool-1": {"decision": "expired"}}}"#,
            400,
        ),
        (
            "an id nothing holds",
            r#"{"decisions": {"tool-9": {"decision": "approve"}}}"#,
            409,
        ),
    ] {
        let response = request_with_body(port, "POST", path, &good, body);
        assert_eq!(response.status, status, "{what}: {}", response.body);
    }
    let response = request_with_body(
        port,
        "POST",
        "/api/sessions/nobody/decisions",
        &good,
        APPROVE_BOB,
    );
    assert_eq!(response.status, 404, "{}", response.body);
    assert_eq!(held(&store.url, "pay").await, ["tool-1", "tool-2"]);

    // The page's own request: recorded.
    let response = request_with_body(port, "POST", path, &good, APPROVE_BOB);
    assert_eq!(response.status, 200, "{}", response.body);
    let answer = response.json();
    assert_eq!(answer["run"], 1);
    assert_eq!(
        answer["recorded"]["tool-1"],
        serde_json::json!({"decision": "approve"})
    );
    assert_eq!(answer["pending"][0]["id"], "tool-2");
    assert_eq!(answer["ready_to_continue"], false);
    assert_eq!(held(&store.url, "pay").await, ["tool-2"]);
    // Without an Origin (not a browser) the token is enough.
    let response = request_with_body(
        port,
        "POST",
        path,
        &[json, ("X-Approval-Token", token.as_str())],
        r#"{"decisions": {"tool-2": {"decision": "deny", "message": "no"}}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["ready_to_continue"], true);
    assert!(held(&store.url, "pay").await.is_empty());
    // Answered already.
    let response = request_with_body(port, "POST", path, &good, APPROVE_BOB);
    assert_eq!(response.status, 409, "{}", response.body);
    assert!(
        response.body.contains("answered run 1 first"),
        "{}",
        response.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_names_forks_and_shows_damaged_runs() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let output = run_on(&store.url, &["sessions", "fork", "weather", "whole"]);
    assert!(output.status.success(), "{}", stderr(&output));
    rusqlite::Connection::open(&store.path)
        .unwrap()
        .execute(
            "UPDATE runs SET reasoning = 'not json', bytes = 8 WHERE session = 'weather' AND run = 2",
            [],
        )
        .unwrap();
    let key = "the `runs` row of session `weather`, run 2";
    let viewer = start_viewer(&store.url, &[]);

    let whole = request(viewer.port, "GET", "/api/sessions/whole", &[]).json();
    assert_eq!(whole["fork"]["origin"]["session"], "weather");
    assert_eq!(whole["fork"]["origin"]["run"], 2);
    assert_eq!(whole["fork"]["children"], serde_json::json!([]));
    let weather = request(viewer.port, "GET", "/api/sessions/weather", &[]).json();
    assert_eq!(weather["fork"]["origin"], Value::Null);
    assert_eq!(weather["fork"]["children"][0]["session"], "whole");
    assert_eq!(weather["fork"]["children"][0]["run"], 2);
    let runs = weather["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[1]["status"], "damaged");
    assert!(
        runs[1]["error"]["message"].as_str().unwrap().contains(key),
        "{}",
        runs[1]
    );

    let list = request(viewer.port, "GET", "/api/sessions", &[]).json();
    let listed = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "weather")
        .unwrap()
        .clone();
    assert_eq!(listed["run_list"][1]["status"], "damaged");
    assert!(
        listed["run_list"][1]["error"]
            .as_str()
            .unwrap()
            .contains(key),
        "{listed}"
    );

    // The live feed sends the damaged run as its end, once.
    let mut stream = TcpStream::connect(("127.0.0.1", viewer.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/sessions/weather/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
        viewer.port
    )
    .unwrap();
    let mut seen = String::new();
    let mut buffer = [0_u8; 4096];
    while seen.matches("event: run").count() < 2 {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the feed ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    let updates: Vec<Value> = seen
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(updates[1]["run"], 2);
    assert_eq!(updates[1]["reasoning"]["status"], "damaged");
    assert_eq!(updates[1]["last_event"], "run_ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_opens_the_file_read_only_unless_a_flag_lets_it_write() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let (path, url) = quiet_copy(&store, "copy.db");
    {
        let viewer = start_viewer(&url, &[]);
        let list = request(viewer.port, "GET", "/api/sessions", &[]).json();
        assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
        let session = request(viewer.port, "GET", "/api/sessions/weather", &[]);
        assert_eq!(session.status, 200);
    }
    assert_eq!(
        pragma(&path, "journal_mode"),
        "delete",
        "a read-only viewer changed the journal mode"
    );
    // With a flag that writes, it opens the file as an agent does (which switches it to WAL).
    let viewer = start_viewer(&url, &["--allow-delete"]);
    let list = request(viewer.port, "GET", "/api/sessions", &[]).json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(pragma(&path, "journal_mode"), "wal");
}
