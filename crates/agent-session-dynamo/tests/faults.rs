//! Faults DynamoDB Local cannot produce, with a mocked client (`aws-smithy-mocks`): throttling,
//! transaction cancellations, lost responses, timeouts. No network is used.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic is a failed assertion.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agent_core::Message;
use agent_session::{RunCommit, SessionErrorKind, SessionId, SessionStore, SessionVersion};
use agent_session_dynamo::DynamoSessionStore;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
use aws_sdk_dynamodb::operation::describe_time_to_live::DescribeTimeToLiveOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, CancellationReason, KeySchemaElement, KeyType,
    ScalarAttributeType, TableDescription, TableStatus, TimeToLiveDescription, TimeToLiveStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use uuid::Uuid;

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn describe_rules() -> [Rule; 2] {
    let table = mock!(Client::describe_table).then_output(|| {
        DescribeTableOutput::builder()
            .table(
                TableDescription::builder()
                    .table_status(TableStatus::Active)
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("pk")
                            .key_type(KeyType::Hash)
                            .build()
                            .unwrap(),
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("sk")
                            .key_type(KeyType::Range)
                            .build()
                            .unwrap(),
                    )
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name("pk")
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .unwrap(),
                    )
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name("sk")
                            .attribute_type(ScalarAttributeType::N)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
    });
    let ttl = mock!(Client::describe_time_to_live).then_output(|| {
        DescribeTimeToLiveOutput::builder()
            .time_to_live_description(
                TimeToLiveDescription::builder()
                    .attribute_name("expiration_time")
                    .time_to_live_status(TimeToLiveStatus::Enabled)
                    .build(),
            )
            .build()
    });
    [table, ttl]
}

/// A store on a mocked client, with quick retries (3 attempts).
async fn mocked_store(rules: &[&Rule]) -> DynamoSessionStore {
    let [table, ttl] = describe_rules();
    let mut all = vec![&table, &ttl];
    all.extend_from_slice(rules);
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, all);
    DynamoSessionStore::builder()
        .client(client)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build()
        .await
        .expect("a store on the mocked client")
}

/// An HTTP error response as DynamoDB sends it.
fn dynamodb_error(code: &str) -> String {
    format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"mocked {code}"}}"#)
}

fn no_head() -> Rule {
    mock!(Client::get_item).then_output(|| GetItemOutput::builder().build())
}

fn session() -> SessionId {
    SessionId::new(format!("faults-{}", Uuid::now_v7().simple())).unwrap()
}

fn turn() -> Vec<Message> {
    vec![Message::user_text("q"), Message::assistant_text("a")]
}

fn canceled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message("Transaction cancelled")
            .set_cancellation_reasons(Some(reasons))
            .build(),
    )
}

fn reason(code: &str) -> CancellationReason {
    CancellationReason::builder().code(code).build()
}

/// A live conversation head at `version`, created at `created_ms`.
fn head(version: u64, created_ms: i64) -> Item {
    HashMap::from([
        ("pk".to_owned(), s("messages#x")),
        ("sk".to_owned(), n(0)),
        ("schema".to_owned(), n(2)),
        ("kind".to_owned(), s("head")),
        ("incarnation".to_owned(), s("inc1")),
        ("version".to_owned(), n(version)),
        ("first_seq".to_owned(), n(1)),
        ("created_at".to_owned(), n(created_ms)),
        ("updated_at".to_owned(), n(created_ms)),
        ("expires_at_ms".to_owned(), n(now_ms() + 3_600_000)),
        ("expiration_time".to_owned(), n(now_ms() / 1000 + 3600)),
        (
            "record_expiration_time".to_owned(),
            n(now_ms() / 1000 + 7200),
        ),
    ])
}

/// The entry at `seq` written by run `run_id`.
fn entry(seq: u64, run_id: Uuid) -> Item {
    HashMap::from([
        ("pk".to_owned(), s("messages#x")),
        ("sk".to_owned(), n(seq)),
        ("schema".to_owned(), n(2)),
        ("kind".to_owned(), s("run")),
        ("incarnation".to_owned(), s("inc1")),
        ("run_id".to_owned(), s(run_id.to_string())),
        ("enc".to_owned(), s("json")),
        (
            "body".to_owned(),
            s(serde_json::to_string(&turn()).unwrap()),
        ),
        ("expiration_time".to_owned(), n(now_ms() / 1000 + 7200)),
    ])
}

#[tokio::test]
async fn throttled_writes_are_retried_and_the_run_lands() {
    let get = no_head();
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(
            400,
            Some(dynamodb_error("ProvisionedThroughputExceededException")),
        )
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = mocked_store(&[&get, &tx]).await;
    let commit = RunCommit {
        run_id: Uuid::now_v7(),
        base: SessionVersion::EMPTY,
        messages: &turn(),
    };
    let version = store.commit_run(&session(), commit).await.unwrap();
    assert_ne!(version, SessionVersion::EMPTY);
    assert_eq!(tx.num_calls(), 3, "two throttled attempts, then success");
    assert_eq!(store.metrics().requests, 2 + 1 + 3);
}

#[tokio::test]
async fn persistent_throttling_is_a_typed_error_and_writes_nothing() {
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    ] {
        let get = no_head();
        let put = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let tx = mock!(Client::transact_write_items)
            .sequence()
            .http_status(400, Some(dynamodb_error(code)))
            .repeatedly()
            .build();
        let store = mocked_store(&[&get, &put, &tx]).await;
        let commit = RunCommit {
            run_id: Uuid::now_v7(),
            base: SessionVersion::EMPTY,
            messages: &turn(),
        };
        let session = session();
        let error = store.commit_run(&session, commit).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Throttled, "{code}: {error}");
        assert!(error.is_retryable());
        assert_eq!(error.session(), Some(session.as_str()));
        assert_eq!(tx.num_calls(), 3, "every attempt the retry policy allows");
        assert_eq!(
            put.num_calls(),
            0,
            "no item was written outside the transaction"
        );
    }
}

#[tokio::test]
async fn throttled_reads_are_retried() {
    let run_id = Uuid::now_v7();
    let created = now_ms();
    let query = mock!(Client::query)
        .sequence()
        .http_status(400, Some(dynamodb_error("ThrottlingException")))
        .times(2)
        .output(move || {
            QueryOutput::builder()
                .items(head(1, created))
                .items(entry(1, run_id))
                .build()
        })
        .build();
    let store = mocked_store(&[&query]).await;
    let loaded = store.load(&session()).await.unwrap();
    assert_eq!(loaded.messages, turn());
    assert_eq!(query.num_calls(), 3);
}

#[tokio::test]
async fn cancellations_for_throttling_or_conflicts_are_retried() {
    let get = no_head();
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .error(|| canceled(vec![reason("ThrottlingError"), reason("None")]))
        .error(|| canceled(vec![reason("TransactionConflict"), reason("None")]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = mocked_store(&[&get, &tx]).await;
    let commit = RunCommit {
        run_id: Uuid::now_v7(),
        base: SessionVersion::EMPTY,
        messages: &turn(),
    };
    store.commit_run(&session(), commit).await.unwrap();
    assert_eq!(tx.num_calls(), 3);

    let tx = mock!(Client::transact_write_items)
        .sequence()
        .error(|| canceled(vec![reason("ThrottlingError"), reason("None")]))
        .repeatedly()
        .build();
    let get = no_head();
    let store = mocked_store(&[&get, &tx]).await;
    let error = store.commit_run(&session(), commit).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Throttled, "{error}");
}

#[tokio::test]
async fn a_lost_response_is_recognised_as_our_own_write() {
    let run_id = Uuid::now_v7();
    let created = now_ms() - 10_000;
    // The write lands, but the response is lost (a 500); the SDK retries, and the retry fails
    // its condition because the head has moved to version 1 — by our own write.
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(500, None)
        .error(move || {
            canceled(vec![
                CancellationReason::builder()
                    .code("ConditionalCheckFailed")
                    .set_item(Some(head(1, created)))
                    .build(),
                reason("None"),
            ])
        })
        .build();
    let get = mock!(Client::get_item).then_compute_output(move |request| {
        let sk = request.key().and_then(|k| k.get("sk")).cloned();
        match sk {
            Some(AttributeValue::N(sk)) if sk == "1" => GetItemOutput::builder()
                .set_item(Some(entry(1, run_id)))
                .build(),
            _ => GetItemOutput::builder().build(),
        }
    });
    let store = mocked_store(&[&get, &tx]).await;
    let commit = RunCommit {
        run_id,
        base: SessionVersion::EMPTY,
        messages: &turn(),
    };
    let version = store.commit_run(&session(), commit).await.unwrap();
    let epoch = (created / 1000) as u64;
    assert_eq!(version, SessionVersion((epoch << 32) | 1));
    assert_eq!(tx.num_calls(), 2);

    // Someone else's write at that place is a conflict.
    let other = RunCommit {
        run_id: Uuid::now_v7(),
        ..commit
    };
    let tx = mock!(Client::transact_write_items).then_error(move || {
        canceled(vec![
            CancellationReason::builder()
                .code("ConditionalCheckFailed")
                .set_item(Some(head(1, created)))
                .build(),
            reason("None"),
        ])
    });
    let get = mock!(Client::get_item).then_compute_output(move |request| {
        match request.key().and_then(|k| k.get("sk")) {
            Some(AttributeValue::N(sk)) if sk == "1" => GetItemOutput::builder()
                .set_item(Some(entry(1, run_id)))
                .build(),
            _ => GetItemOutput::builder().build(),
        }
    });
    let store = mocked_store(&[&get, &tx]).await;
    let error = store.commit_run(&session(), other).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
}

#[tokio::test]
async fn the_client_gets_explicit_retries_and_timeouts() {
    let store = mocked_store(&[]).await;
    let config = store.client().config();
    let timeouts = config.timeout_config().unwrap();
    assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(
        timeouts.operation_attempt_timeout(),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        timeouts.connect_timeout(),
        Some(Duration::from_millis(3100))
    );
    assert_eq!(config.retry_config().unwrap().max_attempts(), 3);

    let [table, ttl] = describe_rules();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&table, &ttl]);
    let store = DynamoSessionStore::builder()
        .client(client)
        .build()
        .await
        .unwrap();
    let retry = store.client().config().retry_config().unwrap().clone();
    assert_eq!(retry.max_attempts(), 5, "the default policy");
}

#[tokio::test]
async fn timeouts_fire_within_the_budget() {
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = agent_session_dynamo::aws_config::defaults(
        agent_session_dynamo::aws_config::BehaviorVersion::latest(),
    )
    .region(aws_sdk_dynamodb::config::Region::new("us-west-2"))
    .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
        "dummy", "dummy", None, None, "tests",
    ))
    .load()
    .await;
    let started = Instant::now();
    let error = DynamoSessionStore::builder()
        .sdk_config(&config)
        .endpoint_url(format!("http://{address}"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .operation_timeout(Duration::from_millis(800))
                .build(),
        )
        .build()
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), SessionErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable());
    assert!(
        elapsed < Duration::from_secs(3),
        "gave up after {elapsed:?}"
    );
    silent.abort();
}
