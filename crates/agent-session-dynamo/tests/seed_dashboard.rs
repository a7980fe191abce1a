//! A dashboard written for the Python MinimalAgent's table keeps working: `seed_dashboard.py`,
//! a plain boto3 script, queries `reasoning#{id}` newest first and reads every record with
//! `json.loads(item["reasoning"])`. This test writes a session with tool steps through the
//! store and checks what the script prints.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (DynamoDB Local) and `MINIMALAGENT_PYTHON`: a Python
//! interpreter with boto3 (`cargo xtask test` makes one). Without either it fails, saying how
//! to set it: CI never skips it silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests: a panic is a failed assertion.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_session::{Commit, SessionStore, SessionVersion};
use common::*;

/// How long the script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn python() -> String {
    match std::env::var("MINIMALAGENT_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ => panic!(
            "MINIMALAGENT_PYTHON is not set. This test runs tests/seed_dashboard.py with a Python \
             that has boto3. `cargo xtask test` sets it up; by hand: \
             `python3 -m venv VENV && VENV/bin/pip install boto3`, then \
             `export MINIMALAGENT_PYTHON=VENV/bin/python`."
        ),
    }
}

#[tokio::test]
async fn a_boto3_dashboard_reads_the_reasoning_records() {
    let python = python();
    let store = store().await;
    let session = session("dashboard");
    let mut base = SessionVersion::EMPTY;
    for (query, tool) in [
        ("Weather in Seattle?", "get_weather"),
        ("And the traffic?", "get_traffic"),
    ] {
        let messages = run(query, "Here you go.");
        let trace = reasoning_with_tool(&session, query, tool);
        base = store
            .commit(&session, Commit::new(trace.run_id, base, &messages, &trace))
            .await
            .unwrap()
            .version;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed_dashboard.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args([
            "--endpoint",
            &endpoint(),
            "--table",
            SHARED_TABLE,
            "--session",
            session.as_str(),
        ])
        .env("AWS_ACCESS_KEY_ID", "minimalagent")
        .env("AWS_SECRET_ACCESS_KEY", "minimalagent")
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("AWS_REGION", "us-west-2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run MINIMALAGENT_PYTHON={python}: {e}"));
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            panic!("seed_dashboard.py did not finish within {SCRIPT_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the script failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    for expected in [
        "run 2: query: And the traffic?",
        "run 1: query: Weather in Seattle?",
        "tool: get_traffic",
        "tool: get_weather",
        r#"inputs: {"city": "Seattle"}"#,
        r#"result: {"sky": "cloudy", "temp_f": 60}"#,
        "2 runs",
    ] {
        assert!(stdout.contains(expected), "`{expected}` not in:\n{stdout}");
    }
    assert!(
        stdout.find("run 2:").unwrap() < stdout.find("run 1:").unwrap(),
        "newest first:\n{stdout}"
    );
}
