//! `minimalagent doctor` on DynamoDB session tables (DynamoDB Local in CI), with the Converse
//! stand-in as the model: a good table passes every check and is left as it was; a table of
//! the wrong key schema, one with TTL off and a missing one fail with their fixes and exit 4.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (with `AWS_REGION` and credentials, dummy ones for
//! DynamoDB Local): `cargo xtask test` starts DynamoDB Local and sets them. Without it these
//! tests fail, saying so — they are never skipped.
#![cfg(all(feature = "bedrock", feature = "dynamodb"))]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use agent_testkit::ConverseStandIn;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use common::*;

fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: the doctor's DynamoDB tests need DynamoDB \
             Local. `cargo xtask test` starts it and sets AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION \
             and dummy credentials; by hand, start it with `cargo xtask dynamodb-local` and set \
             the lines it prints"
        ),
    }
}

const REGION: &str = "us-west-2";

/// A table name no other test uses.
fn table(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("doctor-{test}-{}-{nanos}", std::process::id())
}

async fn client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&config)
        .endpoint_url(endpoint())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Creates `table` with these keys (name, type, HASH or RANGE), on-demand, without TTL.
async fn create_table(table: &str, keys: &[(&str, ScalarAttributeType, KeyType)]) {
    let mut request = client()
        .await
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, ty, key) in keys {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ty.clone())
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(key.clone())
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
}

/// The store's own keys: `pk` (S, HASH), `sk` (N, RANGE).
fn session_keys() -> Vec<(&'static str, ScalarAttributeType, KeyType)> {
    vec![
        ("pk", ScalarAttributeType::S, KeyType::Hash),
        ("sk", ScalarAttributeType::N, KeyType::Range),
    ]
}

async fn item_count(table: &str) -> usize {
    let output = client()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap();
    output.items().len()
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

async fn drop_table(table: &str) {
    let _ = client().await.delete_table().table_name(table).send().await;
}

/// `minimalagent doctor --table TABLE --region us-west-2 --endpoint DYNAMODB_LOCAL`, with the
/// stand-in as Bedrock.
fn doctor_command(standin: &ConverseStandIn, table: &str) -> Command {
    let mut command = cli();
    for name in [
        "MINIMALAGENT_MODEL_ID",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_BEARER_TOKEN_BEDROCK",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.endpoint_url())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "doctortest")
        .env("AWS_SECRET_ACCESS_KEY", "doctortest")
        .args([
            "doctor",
            "--table",
            table,
            "--region",
            REGION,
            "--endpoint",
            &endpoint(),
        ]);
    command
}

async fn run_doctor(command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(command, ""))
        .await
        .unwrap()
}

/// The status word and the line after (the fix) of the check `name`.
fn check(text: &str, name: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let index = lines
        .iter()
        .position(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("ok" | "FAILED" | "skipped"))
                && line.contains(&format!(" {name} "))
        })
        .unwrap_or_else(|| panic!("no `{name}` check in:\n{text}"));
    (
        lines[index].to_owned(),
        lines.get(index + 1).copied().unwrap_or_default().to_owned(),
    )
}

fn status(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_table_passes_and_is_left_as_it_was() {
    let table = table("good");
    // The table an agent makes: the store creates it with TTL on.
    let url = format!(
        "dynamodb://{table}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("region", REGION)
            .append_pair("endpoint", &endpoint())
            .finish()
    );
    populate(&url).await;
    let items = item_count(&table).await;
    assert!(items > 0);

    let standin = ConverseStandIn::demo().await.unwrap();
    let output = run_doctor(doctor_command(&standin, &table)).await;
    let text = stdout(&output);
    println!("{text}");
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(
        text.contains(&format!(
            "store        dynamodb://{table}?region={REGION}&endpoint="
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "dynamodb     {} (the store URL), Region {REGION}",
            endpoint()
        )),
        "{text}"
    );
    for (name, needle) in [
        ("table", format!("`{table}` exists (ACTIVE")),
        ("key schema", "pk (S, HASH), sk (N, RANGE)".to_owned()),
        ("TTL", "enabled on expiration_time".to_owned()),
        ("PutItem", "wrote pk `doctor#".to_owned()),
        ("GetItem", "read the item back (consistent read)".to_owned()),
        ("DeleteItem", "deleted it".to_owned()),
    ] {
        let (line, _) = check(&text, name);
        assert_eq!(status(&line), "ok", "{text}");
        assert!(line.contains(&needle), "`{needle}` missing from: {line}");
    }
    assert!(text.contains("All 9 checks passed."), "{text}");
    // The probe item is gone, the sessions are untouched.
    assert_eq!(item_count(&table).await, items);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_the_wrong_key_schema_fails_with_the_template() {
    let table = table("keys");
    create_table(
        &table,
        &[
            ("pk", ScalarAttributeType::S, KeyType::Hash),
            ("sk", ScalarAttributeType::S, KeyType::Range),
        ],
    )
    .await;
    let standin = ConverseStandIn::demo().await.unwrap();
    let output = run_doctor(doctor_command(&standin, &table)).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(4), "{text}\n{}", stderr(&output));
    let (line, fix) = check(&text, "key schema");
    assert_eq!(status(&line), "FAILED", "{text}");
    assert!(
        line.contains(
            "pk (S, HASH), sk (S, RANGE); the session store needs pk (S, HASH), sk (N, RANGE)"
        ),
        "{line}"
    );
    assert!(
        fix.contains("fix: a table's key schema cannot be changed")
            && fix.contains("docs/cloudformation/session-table.yaml"),
        "{fix}"
    );
    // Nothing is written into a table the store cannot use.
    for name in ["PutItem", "GetItem", "DeleteItem"] {
        assert_eq!(status(&check(&text, name).0), "skipped", "{text}");
    }
    assert_eq!(item_count(&table).await, 0);
    // The model checks passed: the store sets the exit code.
    assert_eq!(status(&check(&text, "Converse").0), "ok");
    assert!(
        stderr(&output).contains("(key schema, TTL)"),
        "{}",
        stderr(&output)
    );
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_off_fails_with_the_command_that_turns_it_on() {
    let table = table("ttl");
    create_table(&table, &session_keys()).await;
    let standin = ConverseStandIn::demo().await.unwrap();
    let output = run_doctor(doctor_command(&standin, &table)).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(4), "{text}\n{}", stderr(&output));
    let (line, fix) = check(&text, "TTL");
    assert_eq!(status(&line), "FAILED", "{text}");
    assert!(line.contains("DISABLED"), "{line}");
    assert!(
        fix.contains(&format!(
            "fix: aws dynamodb update-time-to-live --table-name {table} --region {REGION} \
             --time-to-live-specification Enabled=true,AttributeName=expiration_time"
        )),
        "{fix}"
    );
    // The rest of the table works.
    for name in ["table", "key schema", "PutItem", "GetItem", "DeleteItem"] {
        assert_eq!(status(&check(&text, name).0), "ok", "{text}");
    }
    assert_eq!(
        item_count(&table).await,
        0,
        "the probe item was not deleted"
    );
    assert!(text.contains("1 of 9 checks failed: TTL."), "{text}");
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_fails_and_is_not_created() {
    let table = table("missing");
    let standin = ConverseStandIn::demo().await.unwrap();
    let output = run_doctor(doctor_command(&standin, &table)).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(4), "{text}\n{}", stderr(&output));
    let (line, fix) = check(&text, "table");
    assert_eq!(status(&line), "FAILED", "{text}");
    assert!(
        line.contains(&format!("the table `{table}` does not exist at")),
        "{line}"
    );
    assert!(
        fix.contains("docs/cloudformation/session-table.yaml"),
        "{fix}"
    );
    assert!(
        !table_exists(&table).await,
        "the doctor must not create tables"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_exit_1() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = cli();
    command
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.endpoint_url())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "doctortest")
        .env("AWS_SECRET_ACCESS_KEY", "doctortest")
        .env_remove("MINIMALAGENT_MODEL_ID")
        // Nothing listens on port 9 (discard) of loopback here.
        .args([
            "doctor",
            "--table",
            "sessions",
            "--region",
            REGION,
            "--endpoint",
            "http://127.0.0.1:9",
        ]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{}", stderr(&output));
    let (line, fix) = check(&text, "table");
    assert_eq!(status(&line), "FAILED", "{text}");
    assert!(
        line.contains("cannot reach DynamoDB at http://127.0.0.1:9"),
        "{line}"
    );
    assert!(
        fix.contains("check the network, --endpoint and --region"),
        "{fix}"
    );
}
