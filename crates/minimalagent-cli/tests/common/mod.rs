//! Shared by the CLI's integration tests: tools, agents that write real sessions with a
//! scripted model, and running the `minimalagent` binary with bounded waits.
// Test helpers: a failed unwrap is a failed test.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agent_testkit::ScriptedModel;
use minimalagent::{Agent, tool};
use serde_json::{Value, json};

/// The longest any one CLI command may take in a test.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A script tag a hostile tool result carries.
pub const XSS_SCRIPT: &str = "<script>alert(1)</script>";
/// An element with an event handler a hostile tool result carries.
pub const XSS_IMG: &str = "<img src=x onerror=\"window.__xss = 1; alert(2)\">";
/// A terminal escape sequence a hostile tool result carries (it would turn the text red).
pub const ESCAPE: &str = "\u{1b}[31mred\u{1b}[0m";

/// Look rows up in the sales database.
///
/// # Arguments
/// * `query` - What to look up
#[tool]
pub async fn lookup(query: String) -> Value {
    json!({"query": query, "rows": 3, "top_region": "EMEA"})
}

/// Look rows up slowly.
///
/// # Arguments
/// * `millis` - How long the lookup takes, in milliseconds
#[tool]
pub async fn slow_lookup(millis: u64) -> Value {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    json!({"waited_ms": millis, "rows": 7})
}

/// A tool that always fails.
///
/// # Arguments
/// * `reason` - Why it fails
#[tool]
pub async fn broken(reason: String) -> Result<Value, String> {
    Err(reason)
}

/// Fetch a web page (whose content is hostile).
///
/// # Arguments
/// * `url` - The page
#[tool]
pub async fn fetch_page(url: String) -> Value {
    json!({"url": url, "body": format!("{XSS_SCRIPT} and {XSS_IMG}"), "terminal": ESCAPE})
}

/// A temporary SQLite session store file.
pub struct SqliteFile {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub url: String,
}

/// A new, empty SQLite store (the file is created, as an agent would).
pub async fn sqlite_store() -> SqliteFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let url = format!("sqlite://{}", path.display());
    minimalagent::Sessions::open(&url).await.unwrap();
    assert!(path.exists());
    SqliteFile { dir, path, url }
}

/// An agent with the test tools on a scripted model, in the store `url`.
pub async fn agent(url: &str, model: ScriptedModel, real_time: bool) -> Agent {
    Agent::builder()
        .model(model)
        .tool(Lookup)
        .tool(SlowLookup)
        .tool(Broken)
        .tool(FetchPage)
        .session_store_url(url)
        .real_time_reasoning(real_time)
        .show_reasoning(false)
        .max_steps(10)
        .build()
        .await
        .unwrap()
}

/// Writes two sessions: `weather` (a run with a tool call and a failed tool call, then a run
/// without tools) and `hostile` (a run whose tool returns hostile content).
pub async fn populate(url: &str) {
    let model = ScriptedModel::new()
        .then_tools(
            Some("I need the sales data first."),
            &[
                ("lookup", json!({"query": "sales 2025"})),
                ("broken", json!({"reason": "the archive is offline"})),
            ],
        )
        .then_text("Sales were up in EMEA.")
        .then_text("You are welcome.");
    let first = agent(url, model, false).await;
    first
        .run_in_session("How were sales in 2025?", "weather")
        .await
        .unwrap();
    first.run_in_session("Thanks!", "weather").await.unwrap();
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[("fetch_page", json!({"url": "https://example.test/"}))],
        )
        .then_text(format!("The page says {XSS_SCRIPT} in {ESCAPE}"));
    let second = agent(url, model, false).await;
    second
        .run_in_session(format!("Summarise {XSS_IMG}"), "hostile")
        .await
        .unwrap();
}

/// The `minimalagent` binary, with no store from the environment and no colours.
pub fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minimalagent"));
    command
        .env_remove("MINIMALAGENT_STORE")
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Runs the binary to its end (killed after [`COMMAND_TIMEOUT`]), with `stdin` as input.
pub fn run(mut command: Command, stdin: &str) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        stderr.read_to_end(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            panic!("{command:?} did not end within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

/// Runs `minimalagent --store URL ARGS…`.
pub fn run_on(url: &str, args: &[&str]) -> Output {
    let mut command = cli();
    command.arg("--store").arg(url).args(args);
    run(command, "")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts that a command failed with `code` and one line on stderr containing each of
/// `needles`, and no panic or backtrace.
pub fn assert_one_line_error(output: &Output, code: i32, needles: &[&str]) {
    assert_error_line(output, code, &stderr(output), needles);
}

/// Like [`assert_one_line_error`], for a command that asked a question on stderr first: the
/// last line is the error.
pub fn assert_last_line_error(output: &Output, code: i32, needles: &[&str]) {
    let err = stderr(output);
    let last = err.lines().last().unwrap_or_default().to_owned() + "\n";
    assert_error_line(output, code, &last, needles);
}

fn assert_error_line(output: &Output, code: i32, err: &str, needles: &[&str]) {
    let err = err.to_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code; stderr: {err}; stdout: {}",
        stdout(output)
    );
    assert_eq!(err.lines().count(), 1, "one line expected, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
    for word in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(word), "{err}");
    }
}

/// A child process whose stdout lines are read with bounded waits.
pub struct Lines {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    pub fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line, or `None` when the process closed its output.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no output within {timeout:?}"),
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("the process did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send money: each call waits for a person's approval.
///
/// # Arguments
/// * `to` - Who gets the money
/// * `amount` - How much
#[tool(approval = "money leaves the account")]
pub async fn transfer(to: String, amount: u64) -> Value {
    json!({"sent": amount, "to": to})
}

/// An agent with `lookup` and `transfer` (held for approval) on a scripted model, in the
/// store `url`, recording in real time.
pub async fn approval_agent(url: &str, model: ScriptedModel) -> Agent {
    Agent::builder()
        .model(model)
        .tool(Lookup)
        .tool(Transfer)
        .session_store_url(url)
        .real_time_reasoning(true)
        .show_reasoning(false)
        .max_steps(10)
        .build()
        .await
        .unwrap()
}

/// Pauses a run in session `session` of the store `url`: the model asks for two transfers
/// (`tool-1` to bob, `tool-2` to eve, both held for approval) and a lookup (`tool-3`, which
/// runs). Returns the agent, whose model answers `Paid.` once the run goes on.
pub async fn paused_run(url: &str, session: &str) -> Agent {
    let model = ScriptedModel::new()
        .then_tools(
            Some("Two payments, and the balance."),
            &[
                ("transfer", json!({"to": "bob", "amount": 100})),
                ("transfer", json!({"to": "eve", "amount": 7})),
                ("lookup", json!({"query": "balance"})),
            ],
        )
        .then_text("Paid.");
    let agent = approval_agent(url, model).await;
    let result = agent
        .run_in_session("Pay bob and eve.", session)
        .await
        .unwrap();
    assert_eq!(
        result.outcome,
        minimalagent::RunOutcome::Paused,
        "{result:?}"
    );
    agent
}

/// A pragma of a SQLite file, read with a connection of its own.
#[cfg(feature = "sqlite")]
pub fn pragma(path: &std::path::Path, name: &str) -> Value {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |row| {
        let value: rusqlite::types::Value = row.get(0)?;
        Ok(match value {
            rusqlite::types::Value::Integer(n) => json!(n),
            rusqlite::types::Value::Text(text) => json!(text),
            other => json!(format!("{other:?}")),
        })
    })
    .unwrap()
}

/// A copy of `store`'s file that no connection holds, in rollback-journal mode: the agents of
/// this process may still hold the original (a checkpoint of their log would change its bytes,
/// and switching the journal mode needs the file to itself).
#[cfg(feature = "sqlite")]
pub fn quiet_copy(store: &SqliteFile, name: &str) -> (PathBuf, String) {
    let path = store.dir.path().join(name);
    rusqlite::Connection::open(&store.path)
        .unwrap()
        .execute("VACUUM INTO ?1", [path.to_str().unwrap()])
        .unwrap();
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert_eq!(
        pragma(&path, "user_version"),
        i64::from(minimalagent::sqlite::SCHEMA_VERSION)
    );
    let url = format!("sqlite://{}", path.display());
    (path, url)
}
