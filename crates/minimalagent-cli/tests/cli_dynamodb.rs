//! The `minimalagent` command against DynamoDB (DynamoDB Local in CI): the same sessions as on
//! SQLite, chosen by flags, by a store URL or by the standard AWS environment, and the
//! one-line errors for a missing table or an unreachable endpoint.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (with `AWS_REGION` and credentials, dummy ones for
//! DynamoDB Local): `cargo xtask test` starts DynamoDB Local and sets them. Without it these
//! tests fail, saying so — they are never skipped.
#![cfg(feature = "dynamodb")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_testkit::ScriptedModel;
use common::*;
use serde_json::{Value, json};

fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: the DynamoDB CLI tests need DynamoDB Local. \
             `cargo xtask test` starts it and sets AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and \
             dummy credentials; by hand, start DynamoDB Local and set them (for example \
             AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 AWS_REGION=us-west-2 \
             AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x)"
        ),
    }
}

fn region() -> String {
    std::env::var("AWS_REGION").unwrap_or_else(|_| "us-west-2".to_owned())
}

/// A table name no other test uses.
fn table(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("cli-{test}-{}-{nanos}", std::process::id())
}

/// The store URL of `table` on the endpoint.
fn url(table: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("region", &region())
        .append_pair("endpoint", &endpoint())
        .finish();
    format!("dynamodb://{table}?{query}")
}

async fn client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region()))
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&config)
        .endpoint_url(endpoint())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

async fn table_exists(table: &str) -> bool {
    client()
        .await
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
}

/// Drops the test's table.
async fn drop_table(table: &str) {
    let _ = client().await.delete_table().table_name(table).send().await;
}

/// `minimalagent` with the DynamoDB settings as flags.
fn run_with_flags(table: &str, args: &[&str]) -> std::process::Output {
    let mut command = cli();
    command
        .args([
            "--table",
            table,
            "--region",
            &region(),
            "--endpoint",
            &endpoint(),
        ])
        .args(args);
    run(command, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_export_and_delete_on_dynamodb() {
    let table = table("sessions");
    populate(&url(&table)).await;

    // By flags.
    let output = run_with_flags(&table, &["sessions", "list", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ids: Vec<String> = stdout(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"weather".to_owned()) && ids.contains(&"hostile".to_owned()));

    // By a store URL in the environment.
    let mut command = cli();
    command
        .env("MINIMALAGENT_STORE", url(&table))
        .args(["sessions", "show", "weather", "--json"]);
    let output = run(command, "");
    assert!(output.status.success(), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["conversation"].as_array().unwrap().len(), 2);
    assert_eq!(
        document["runs"][0]["steps"][0]["tools"][0]["inputs"],
        json!({"query": "sales 2025"})
    );
    assert_eq!(document["runs"][1]["final_response"], "You are welcome.");

    // By the standard AWS settings alone: the table name, and the endpoint and region from
    // AWS_ENDPOINT_URL_DYNAMODB and AWS_REGION.
    let mut command = cli();
    command
        .env("AWS_REGION", region())
        .args(["--table", &table, "sessions", "show", "weather"]);
    let output = run(command, "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("DynamoDB table `{table}`")),
        "{text}"
    );
    assert!(text.contains("✓ lookup (tool-1)"), "{text}");

    let output = run_with_flags(&table, &["sessions", "export", "weather"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let kinds: Vec<String> = stdout(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["entry", "entry", "run", "run"]);

    let output = run_with_flags(&table, &["sessions", "delete", "weather", "--yes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run_with_flags(&table, &["sessions", "show", "weather"]);
    assert_one_line_error(&output, 3, &["session `weather` not found"]);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_on_dynamodb_resumes_without_gap_or_duplicate() {
    let table = table("follow");
    let store_url = url(&table);
    let model = ScriptedModel::new()
        .then_tools(None, &[("slow_lookup", json!({"millis": 400}))])
        .then_tools(None, &[("lookup", json!({"query": "q"}))])
        .then_text("Done.");
    let runner = agent(&store_url, model, true).await;
    let mut command = cli();
    command.args([
        "--store", &store_url, "sessions", "follow", "live", "--json",
    ]);
    let live = Lines::spawn(command);
    runner.run_in_session("Go.", "live").await.unwrap();
    let wait = Duration::from_secs(60);
    let mut events = Vec::new();
    loop {
        let event: Value = serde_json::from_str(&live.next(wait).unwrap()).unwrap();
        let done = event["event"]["type"] == "run_finished";
        events.push(event);
        if done {
            break;
        }
    }
    drop(live);
    assert_eq!(events[0]["event"]["type"], "run_started");
    let cut = events.len() / 2;
    let mut command = cli();
    command.args([
        "--store",
        &store_url,
        "sessions",
        "follow",
        "live",
        "--json",
        "--until-idle",
        "--from",
        events[cut]["position"].as_str().unwrap(),
    ]);
    let mut resumed = Lines::spawn(command);
    let mut rest = Vec::new();
    while let Some(line) = resumed.next(wait) {
        rest.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(resumed.wait(wait).success());
    assert_eq!(rest, events[cut + 1..]);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_one_line_and_is_not_created() {
    let table = table("missing");
    let output = run_with_flags(&table, &["sessions", "list"]);
    assert_one_line_error(
        &output,
        4,
        &[
            &format!("table `{table}` does not exist"),
            "docs/cloudformation/session-table.yaml",
            "--store sqlite://",
        ],
    );
    assert!(
        !table_exists(&table).await,
        "the CLI must not create tables"
    );

    let mut command = cli();
    command
        .env("MINIMALAGENT_STORE", url(&table))
        .args(["ui", "--port", "0"]);
    assert_one_line_error(&run(command, ""), 4, &["does not exist"]);
    assert!(!table_exists(&table).await);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_line() {
    // Nothing listens on port 9 (discard) of loopback here.
    let mut command = cli();
    command.args([
        "--table",
        "sessions",
        "--region",
        "us-west-2",
        "--endpoint",
        "http://127.0.0.1:9",
        "sessions",
        "list",
    ]);
    let output = run(command, "");
    assert_one_line_error(&output, 1, &["cannot reach DynamoDB at http://127.0.0.1:9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_approve_and_deny_on_dynamodb() {
    let table = table("approvals");
    let store = url(&table);
    // A session with a kept turn, whose second run pauses: the table lists it.
    let model = ScriptedModel::new()
        .then_text("Hello.")
        .then_tools(None, &[("transfer", json!({"to": "bob", "amount": 5}))])
        .then_text("Paid.");
    let agent = approval_agent(&store, model).await;
    agent.run_in_session("Hi.", "again").await.unwrap();
    let paused = agent.run_in_session("Pay bob.", "again").await.unwrap();
    assert_eq!(paused.outcome, minimalagent::RunOutcome::Paused);
    // A session whose first run pauses: DynamoDB lists only sessions with a kept turn, so it
    // is found by its id.
    let first = paused_run(&store, "pay").await;

    let output = run_with_flags(&table, &["sessions", "pending", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let held: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let listed: Vec<(&str, u64, &str)> = held
        .iter()
        .map(|h| {
            (
                h["session_id"].as_str().unwrap(),
                h["run"].as_u64().unwrap(),
                h["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(listed.contains(&("again", 2, "tool-1")), "{held:?}");

    let output = run_with_flags(&table, &["sessions", "pending", "pay", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ids: Vec<String> = stdout(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["tool-1", "tool-2"]);

    let output = run_with_flags(&table, &["sessions", "approve", "pay", "tool-1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run_with_flags(&table, &["sessions", "approve", "pay", "tool-1"]);
    assert_one_line_error(&output, 7, &["answered already"]);
    let output = run_with_flags(
        &table,
        &["sessions", "deny", "pay", "tool-2", "--message", "Not eve."],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Every held call of run 1 is decided."),
        "{}",
        stdout(&output)
    );
    let output = run_with_flags(&table, &["sessions", "approve", "again", "--all"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let result = first
        .respond("pay", minimalagent::Decisions::new())
        .await
        .unwrap();
    assert_eq!(result.response, "Paid.");
    let result = agent
        .respond("again", minimalagent::Decisions::new())
        .await
        .unwrap();
    assert_eq!(result.response, "Paid.");
    let output = run_with_flags(&table, &["sessions", "pending"]);
    assert_eq!(
        stdout(&output),
        format!(
            "No run waits for a decision in DynamoDB table `{table}` at {}.\n",
            endpoint()
        )
    );
    drop_table(&table).await;
}
