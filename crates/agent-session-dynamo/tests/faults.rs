//! Faults DynamoDB Local cannot produce, with a mocked client (`aws-smithy-mocks`): throttling,
//! transaction cancellations, lost responses, idempotency mismatches, timeouts. No network is
//! used, except a loopback server that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic is a failed assertion.

use std::collections::HashMap;
use std::time::Duration;

use agent_core::{Message, Reasoning, RunStatus};
use agent_session::{Commit, SessionErrorKind, SessionId, SessionStore, SessionVersion};
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
use aws_sdk_dynamodb::types::error::{
    IdempotentParameterMismatchException, TransactionCanceledException,
};
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
    let key = |name: &str, ty| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
            .unwrap()
    };
    let def = |name: &str, ty| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ty)
            .build()
            .unwrap()
    };
    let table = mock!(Client::describe_table).then_output(move || {
        DescribeTableOutput::builder()
            .table(
                TableDescription::builder()
                    .table_status(TableStatus::Active)
                    .key_schema(key("pk", KeyType::Hash))
                    .key_schema(key("sk", KeyType::Range))
                    .attribute_definitions(def("pk", ScalarAttributeType::S))
                    .attribute_definitions(def("sk", ScalarAttributeType::N))
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

/// Queries of a session without Python data (and, for the replay check, `entries`).
fn queries(entries: Vec<Item>) -> Rule {
    mock!(Client::query).then_compute_output(move |request| {
        let python = request
            .expression_attribute_values()
            .and_then(|values| values.get(":lo"))
            .is_some_and(|lo| lo == &n(1_000_000_000));
        if python {
            QueryOutput::builder().build()
        } else {
            QueryOutput::builder()
                .set_items(Some(entries.clone()))
                .build()
        }
    })
}

fn session() -> SessionId {
    SessionId::new(format!("faults-{}", Uuid::now_v7().simple())).unwrap()
}

fn turn() -> Vec<Message> {
    vec![Message::user_text("q"), Message::assistant_text("a")]
}

fn trace() -> Reasoning {
    let mut reasoning = Reasoning::start("q", None);
    reasoning.status = RunStatus::Completed;
    reasoning
}

fn cancelled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
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

/// A live head of life `life` whose last entry is `last_seq` and last run `runs`.
fn head(life: u64, last_seq: u64, runs: u64) -> Item {
    let now = now_ms();
    HashMap::from([
        ("pk".to_owned(), s("messages#x")),
        ("sk".to_owned(), n(0)),
        ("schema".to_owned(), n(3)),
        ("kind".to_owned(), s("head")),
        ("life".to_owned(), n(life)),
        ("first_seq".to_owned(), n(1)),
        ("last_seq".to_owned(), n(last_seq)),
        ("first_run".to_owned(), n(1)),
        ("runs".to_owned(), n(runs)),
        ("expires_at_ms".to_owned(), n(now + 3_600_000)),
        ("record_horizon".to_owned(), n(now / 1000 + 10_800)),
        ("expiration_time".to_owned(), n(now / 1000 + 14_400)),
        ("deleted".to_owned(), AttributeValue::Bool(false)),
        ("prev_life".to_owned(), n(0)),
        ("prev_deleted".to_owned(), AttributeValue::Bool(false)),
    ])
}

/// The entry at `seq` of run `run` (as the replay check projects it).
fn entry(seq: u64, run_id: Uuid, run: u64) -> Item {
    HashMap::from([
        ("pk".to_owned(), s("messages#x")),
        ("sk".to_owned(), n(seq)),
        ("run_id".to_owned(), s(run_id.to_string())),
        ("run".to_owned(), n(run)),
    ])
}

#[tokio::test]
async fn throttled_writes_are_retried_and_the_run_lands() {
    let (get, query) = (no_head(), queries(Vec::new()));
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(
            400,
            Some(dynamodb_error("ProvisionedThroughputExceededException")),
        )
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = mocked_store(&[&get, &query, &tx]).await;
    let reasoning = trace();
    let messages = turn();
    let committed = store
        .commit(
            &session(),
            Commit::new(
                reasoning.run_id,
                SessionVersion::EMPTY,
                &messages,
                &reasoning,
            ),
        )
        .await
        .unwrap();
    assert!(!committed.replayed);
    assert_eq!((committed.seq, committed.run), (1, 1));
    assert_eq!(tx.num_calls(), 3, "two throttled attempts, then success");
}

#[tokio::test]
async fn persistent_throttling_is_a_typed_error_and_writes_nothing() {
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    ] {
        let (get, query) = (no_head(), queries(Vec::new()));
        let put = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let tx = mock!(Client::transact_write_items)
            .sequence()
            .http_status(400, Some(dynamodb_error(code)))
            .repeatedly()
            .build();
        let store = mocked_store(&[&get, &query, &put, &tx]).await;
        let session = session();
        let (reasoning, messages) = (trace(), turn());
        let error = store
            .commit(
                &session,
                Commit::new(
                    reasoning.run_id,
                    SessionVersion::EMPTY,
                    &messages,
                    &reasoning,
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Throttled, "{code}: {error}");
        assert!(error.is_retryable());
        assert!(
            !error.maybe_applied(),
            "a throttled request was not applied"
        );
        assert_eq!(error.session(), Some(session.as_str()));
        assert_eq!(tx.num_calls(), 3, "every attempt the retry policy allows");
        assert_eq!(
            put.num_calls(),
            0,
            "nothing was written outside the transaction"
        );
    }
}

#[tokio::test]
async fn throttled_reads_are_retried() {
    let life = now_ms() as u64;
    let get = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(dynamodb_error("ThrottlingException")))
        .times(2)
        .output(move || {
            GetItemOutput::builder()
                .set_item(Some(head(life, 1, 1)))
                .build()
        })
        .build();
    let store = mocked_store(&[&get]).await;
    let head = store.head(&session()).await.unwrap();
    assert_eq!(head.version, SessionVersion::new(life, 1));
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn cancellations_for_throttling_or_conflicts_are_resent() {
    let (get, query) = (no_head(), queries(Vec::new()));
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled(vec![reason("ThrottlingError"), reason("None")]))
        .error(|| cancelled(vec![reason("TransactionConflict"), reason("None")]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let store = mocked_store(&[&get, &query, &tx]).await;
    let (reasoning, messages) = (trace(), turn());
    let commit = Commit::new(
        reasoning.run_id,
        SessionVersion::EMPTY,
        &messages,
        &reasoning,
    );
    store.commit(&session(), commit).await.unwrap();
    assert_eq!(tx.num_calls(), 3);

    for (code, kind) in [
        ("ThrottlingError", SessionErrorKind::Throttled),
        ("TransactionConflict", SessionErrorKind::Unavailable),
    ] {
        let tx = mock!(Client::transact_write_items)
            .sequence()
            .error(move || cancelled(vec![reason(code), reason("None")]))
            .repeatedly()
            .build();
        let (get, query) = (no_head(), queries(Vec::new()));
        let store = mocked_store(&[&get, &query, &tx]).await;
        let error = store.commit(&session(), commit).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert!(error.is_retryable());
        assert!(tx.num_calls() >= 3, "resent with backoff");
    }
}

#[tokio::test]
async fn a_lost_response_says_maybe_applied_and_its_retry_is_recognised() {
    let (reasoning, messages) = (trace(), turn());
    let run_id = reasoning.run_id;
    let life = now_ms() as u64 - 10_000;
    // The write lands, but every response is lost (500s): the outcome is unknown.
    let tx = mock!(Client::transact_write_items)
        .sequence()
        .http_status(500, None)
        .times(3)
        // The retry fails its condition: the head moved — by our own write.
        .error(move || {
            cancelled(vec![
                CancellationReason::builder()
                    .code("ConditionalCheckFailed")
                    .set_item(Some(head(life, 1, 1)))
                    .build(),
                reason("None"),
                reason("None"),
            ])
        })
        .build();
    let (get, query) = (no_head(), queries(vec![entry(1, run_id, 1)]));
    let store = mocked_store(&[&get, &query, &tx]).await;
    let session = session();
    let commit = Commit::new(run_id, SessionVersion::EMPTY, &messages, &reasoning);
    let error = store.commit(&session, commit).await.unwrap_err();
    assert!(error.maybe_applied(), "{error}");
    assert_eq!(error.kind(), SessionErrorKind::Unavailable);
    let again = store.commit(&session, commit).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.version, again.seq, again.run),
        (SessionVersion::new(life, 1), 1, 1)
    );
    assert_eq!(tx.num_calls(), 4);

    // Someone else's write in that place is a conflict.
    let other = trace();
    let tx = mock!(Client::transact_write_items).then_error(move || {
        cancelled(vec![
            CancellationReason::builder()
                .code("ConditionalCheckFailed")
                .set_item(Some(head(life, 1, 1)))
                .build(),
            reason("None"),
            reason("None"),
        ])
    });
    let (get, query) = (no_head(), queries(vec![entry(1, run_id, 1)]));
    let store = mocked_store(&[&get, &query, &tx]).await;
    let error = store
        .commit(
            &session,
            Commit::new(other.run_id, SessionVersion::EMPTY, &messages, &other),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict, "{error}");
    assert!(!error.maybe_applied());
}

#[tokio::test]
async fn an_idempotency_mismatch_is_an_unknown_outcome_not_a_conflict() {
    let (get, query) = (no_head(), queries(Vec::new()));
    let tx = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::IdempotentParameterMismatchException(
            IdempotentParameterMismatchException::builder()
                .message("mocked mismatch")
                .build(),
        )
    });
    let store = mocked_store(&[&get, &query, &tx]).await;
    let (reasoning, messages) = (trace(), turn());
    let error = store
        .commit(
            &session(),
            Commit::new(
                reasoning.run_id,
                SessionVersion::EMPTY,
                &messages,
                &reasoning,
            ),
        )
        .await
        .unwrap_err();
    assert!(error.maybe_applied(), "{error}");
    assert!(!error.is_conflict());
    assert_eq!(tx.num_calls(), 1);
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
    assert_eq!(store.ttl(), agent_session::DEFAULT_SESSION_TTL);
    assert_eq!(
        store.compress_above(),
        agent_session_dynamo::DEFAULT_COMPRESS_ABOVE
    );
}

// Tokio's paused clock: the SDK's timeouts sleep on Tokio's timer, so the budget is checked in
// virtual time, which a loaded machine cannot stretch.
#[tokio::test(start_paused = true)]
async fn timeouts_fire_within_the_budget() {
    // A server that accepts connections and never answers (loopback only).
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
    let started = tokio::time::Instant::now();
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
    // Two attempts of 300 ms each (and a 1 ms backoff), within the 800 ms operation budget.
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed <= Duration::from_millis(800),
        "gave up after {elapsed:?}"
    );
    silent.abort();
}
