//! Shared set-up of the DynamoDB Local tests: the endpoint (loopback only), dummy credentials,
//! region us-west-2, unique sessions and tables.
#![allow(dead_code, unreachable_pub)] // Each test file uses some of the helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers: a panic is a failed assertion.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agent_core::{Message, Reasoning};
use agent_session::{Commit, Committed, SessionId, SessionStore, SessionVersion};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_dynamo::aws_config::{self, BehaviorVersion, SdkConfig};
use agent_session_dynamo::aws_sdk_dynamodb::Client;
use agent_session_dynamo::aws_sdk_dynamodb::config::retry::RetryConfig;
use agent_session_dynamo::aws_sdk_dynamodb::config::{Credentials, Region};
use agent_session_dynamo::aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

/// The table most tests share (each test uses its own session ids).
pub const SHARED_TABLE: &str = "minimalagent-test-sessions";

/// The lease tests' runs ask for (`begin_run`, `heartbeat`): no test claims them while it holds.
pub const LEASE: Duration = Duration::from_secs(30);

/// The DynamoDB Local endpoint from `AWS_ENDPOINT_URL_DYNAMODB`. Fails the test when it is not
/// set, and refuses anything but a loopback address, so no test can reach real AWS.
pub fn endpoint() -> String {
    let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set. These tests run against DynamoDB Local: run \
             them with `cargo xtask test`, or start the emulator with `cargo xtask dynamodb-local` \
             and export the variables it prints."
        );
    };
    let rest = url.strip_prefix("http://").unwrap_or_else(|| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB={url:?} must be http://<loopback>:<port>")
    });
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "AWS_ENDPOINT_URL_DYNAMODB={url:?} is not a loopback address: the tests only run against \
         DynamoDB Local"
    );
    url
}

/// An SDK config for DynamoDB Local: dummy credentials, us-west-2, the loopback endpoint.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("dummy", "dummy", None, None, "tests"))
        .endpoint_url(endpoint())
        .load()
        .await
}

/// A raw DynamoDB client on DynamoDB Local, to write or inspect items directly.
pub async fn raw_client() -> Client {
    Client::new(&sdk_config().await)
}

/// A builder on DynamoDB Local with quick retries.
pub async fn builder(table: &str) -> agent_session_dynamo::DynamoSessionStoreBuilder {
    DynamoSessionStore::builder()
        .sdk_config(&sdk_config().await)
        .table_name(table)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        )
}

/// A store on the shared table.
pub async fn store() -> DynamoSessionStore {
    store_with_ttl(Duration::from_secs(3600)).await
}

/// A store on the shared table with this TTL.
pub async fn store_with_ttl(ttl: Duration) -> DynamoSessionStore {
    builder(SHARED_TABLE)
        .await
        .ttl(ttl)
        .build()
        .await
        .expect("store on DynamoDB Local")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A session id no other test uses.
pub fn session(prefix: &str) -> SessionId {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    SessionId::new(format!("{prefix}-{}-{n}", Uuid::now_v7().simple())).unwrap()
}

/// A table name no other test uses.
pub fn table(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::now_v7().simple())
}

/// A run of a user and an assistant message.
pub fn run(user: &str, assistant: &str) -> Vec<Message> {
    vec![Message::user_text(user), Message::assistant_text(assistant)]
}

/// Commits a run on `base` with a new run id (and a finished trace).
pub async fn commit(
    store: &impl SessionStore,
    session: &SessionId,
    base: SessionVersion,
    messages: &[Message],
) -> Committed {
    let trace = reasoning(session, &messages[0].text());
    store
        .commit(session, Commit::new(trace.run_id, base, messages, &trace))
        .await
        .expect("commit")
}

/// Every message of the session's current life.
pub async fn messages(store: &impl SessionStore, session: &SessionId) -> Vec<Message> {
    let head = store.head(session).await.expect("head");
    if head.version.is_empty() {
        return Vec::new();
    }
    store
        .entries(session, head.first_seq, head.last_seq())
        .await
        .expect("entries")
        .into_iter()
        .flat_map(|entry| entry.body.messages().to_vec())
        .collect()
}

/// Incompressible text of `len` ASCII characters (a fixed pseudo-random sequence, so a longer
/// text starts with a shorter one).
pub fn noise(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state >> 58) as usize] as char
        })
        .collect()
}

/// A finished reasoning record of a run.
pub fn reasoning(session: &SessionId, query: &str) -> Reasoning {
    let mut reasoning = Reasoning::start(query, Some(session.to_string()));
    reasoning.status = agent_core::RunStatus::Completed;
    reasoning.final_response = Some(format!("answer to {query}"));
    reasoning
}

/// Every item of a partition, read directly (the SDK's paginator).
pub async fn raw_items(
    client: &Client,
    table: &str,
    pk: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("raw query")
}

/// One item, read directly.
pub async fn raw_item(
    client: &Client,
    table: &str,
    pk: &str,
    sk: i128,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", n(sk))
        .consistent_read(true)
        .send()
        .await
        .expect("raw get")
        .item
}

/// The sort key of a raw item.
pub fn sk_of(item: &std::collections::HashMap<String, AttributeValue>) -> i128 {
    item["sk"].as_n().unwrap().parse().unwrap()
}

/// A number attribute of a raw item.
pub fn number(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> i128 {
    item[name].as_n().unwrap().parse().unwrap()
}

/// Puts an item directly.
pub async fn put_raw(
    client: &Client,
    table: &str,
    item: std::collections::HashMap<String, AttributeValue>,
) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("raw put");
}

/// `S` value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// `N` value.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A clock the test moves by hand (shared by the stores built with it).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<jiff::Timestamp>);

impl ManualClock {
    /// A clock at the wall-clock time now.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::Mutex::new(jiff::Timestamp::now())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(jiff::SignedDuration::try_from(by).unwrap())
            .unwrap();
    }
}

impl agent_session::Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A store on the shared table with this TTL and clock.
pub async fn store_with_clock(
    ttl: Duration,
    clock: std::sync::Arc<ManualClock>,
) -> DynamoSessionStore {
    builder(SHARED_TABLE)
        .await
        .ttl(ttl)
        .clock(clock)
        .build()
        .await
        .expect("store on DynamoDB Local")
}

/// A finished trace with one tool step.
pub fn reasoning_with_tool(session: &SessionId, query: &str, tool: &str) -> Reasoning {
    let mut trace = reasoning(session, query);
    trace.steps.push(agent_core::ReasoningStep {
        step_number: 1,
        timestamp: Some(jiff::Timestamp::now()),
        thinking: Some(format!("I should call {tool}")),
        tools: vec![agent_core::ToolInvocation {
            name: tool.to_owned(),
            tool_use_id: format!("tooluse_{tool}"),
            inputs: serde_json::json!({"city": "Seattle"}),
            result: Some(serde_json::json!({"temp_f": 60, "sky": "cloudy"})),
            status: agent_core::ToolCallStatus::Succeeded,
            error: None,
            duration_ms: Some(120),
        }],
        usage: Default::default(),
    });
    trace.total_steps = 1;
    trace
}
