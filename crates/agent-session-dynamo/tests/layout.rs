//! The layout on DynamoDB Local: attribute names and readable JSON, compression only above the
//! threshold or when needed, chunks, the cost of a run, and the lifecycle (delete and expiry
//! during a run, heartbeats keeping a long run alive, records outliving their head).
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)] // Tests: a panic is a failed assertion; figures are printed.

mod common;

use std::time::Duration;

use agent_core::{AgentEvent, ContentBlock, Message, Role, RunStatus, ToolResult, ToolUse};
use agent_session::{
    Commit, SessionErrorKind, SessionId, SessionStore, SessionVersion, StoredEvent,
};
use agent_session_dynamo::StoreMetrics;
use agent_session_dynamo::aws_sdk_dynamodb::types::AttributeValue;
use agent_session_dynamo::size::{MAX_ITEM_BYTES, item_size};
use common::*;
use serde_json::{Value, json};

type Item = std::collections::HashMap<String, AttributeValue>;

fn text_of<'a>(item: &'a Item, name: &str) -> &'a str {
    match &item[name] {
        AttributeValue::S(text) => text,
        other => panic!("attribute `{name}` is not a string: {other:?}"),
    }
}

fn event(index: u32, text: &str) -> StoredEvent {
    StoredEvent::new(
        index,
        AgentEvent::TextDelta {
            step: 1,
            text: text.to_owned(),
        },
    )
}

/// English-like text of `len` bytes (words drawn pseudo-randomly from a small vocabulary: it
/// compresses about as well as real tool output, 3 to 4 times).
fn prose(len: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "forecast",
        "for",
        "Seattle",
        "shows",
        "rain",
        "after",
        "noon",
        "with",
        "winds",
        "from",
        "south",
        "west",
        "at",
        "12",
        "mph",
        "humidity",
        "is",
        "81%",
        "and",
        "pressure",
        "falling",
        "slowly",
        "tomorrow",
        "clouds",
        "clear",
        "by",
        "evening",
        "temperature",
        "14°C",
        "feels",
        "like",
        "11°C",
        "visibility",
        "10",
        "km",
        "UV",
        "index",
        "low",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
        text.push(if state.is_multiple_of(11) { '.' } else { ' ' });
    }
    text.truncate(len);
    text
}

/// A run with a tool call whose result has `result_bytes` of text.
fn tool_run(n: usize, result_bytes: usize) -> Vec<Message> {
    let result = prose(result_bytes);
    vec![
        Message::user_text(format!(
            "What is the weather in city number {n}, and should I bring an umbrella tomorrow?"
        )),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text(
                    "<thinking>I need the forecast for that city.</thinking>".into(),
                ),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("tooluse_{n:08}"),
                    name: "get_weather".into(),
                    input: json!({"city": format!("city {n}"), "days": 2}),
                }),
            ],
        },
        Message::user(vec![ContentBlock::ToolResult(ToolResult::success(
            format!("tooluse_{n:08}"),
            json!({"today": {"temp_c": 14, "rain_mm": 0}, "report": result}),
        ))]),
        Message::assistant_text(
            "Today is dry at 14°C. Tomorrow brings about 6 mm of rain, so yes, bring an umbrella.",
        ),
    ]
}

// ------------------------------------------------------------------------------ layout

#[tokio::test]
async fn items_hold_readable_json_under_the_seed_names() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("layout");
    let sid = session.as_str();
    let trace = reasoning_with_tool(&session, "weather?", "get_weather");
    let lease = store.begin_run(&session, &trace, LEASE).await.unwrap();
    store
        .append_events(&session, &lease, &[event(1, "thinking"), event(2, "done")])
        .await
        .unwrap();
    let messages = tool_run(1, 200);
    let committed = store
        .commit(
            &session,
            Commit::new(trace.run_id, SessionVersion::EMPTY, &messages, &trace)
                .with_lease(Some(lease)),
        )
        .await
        .unwrap();

    let head = raw_item(&raw, SHARED_TABLE, &format!("messages#{sid}"), 0)
        .await
        .unwrap();
    assert_eq!(text_of(&head, "kind"), "head");
    for name in [
        "life",
        "last_seq",
        "first_seq",
        "first_run",
        "runs",
        "expires_at_ms",
        "expiration_time",
        "record_horizon",
        "updated_at",
    ] {
        assert!(matches!(head[name], AttributeValue::N(_)), "{name}");
    }
    assert_eq!(head["last_seq"], n(committed.seq));
    let entry = raw_item(&raw, SHARED_TABLE, &format!("messages#{sid}"), 1)
        .await
        .unwrap();
    assert_eq!(text_of(&entry, "kind"), "turn");
    let stored: Vec<Message> = serde_json::from_str(text_of(&entry, "messages")).unwrap();
    assert_eq!(stored, messages);
    assert!(
        !entry.contains_key("enc"),
        "plain JSON has no encoding attribute"
    );
    assert_eq!(text_of(&entry, "run_id"), trace.run_id.to_string());

    let record = raw_item(&raw, SHARED_TABLE, &format!("reasoning#{sid}"), 1)
        .await
        .unwrap();
    let value: Value = serde_json::from_str(text_of(&record, "reasoning")).unwrap();
    assert_eq!(value["query"], "weather?");
    assert_eq!(value["steps"][0]["tools"][0]["name"], "get_weather");
    assert_eq!(value["steps"][0]["tools"][0]["inputs"]["city"], "Seattle");
    assert_eq!(text_of(&record, "status"), "completed");
    assert_eq!(record["committed_seq"], n(1));
    assert!(!record.contains_key("lease"));

    let first = raw_item(&raw, SHARED_TABLE, &format!("events#{sid}"), (1 << 20) + 1)
        .await
        .unwrap();
    let value: Value = serde_json::from_str(text_of(&first, "event")).unwrap();
    assert_eq!(value["text"], "thinking");

    // Every record outlives the head's expiry by at least one time to live; the head outlives
    // its records.
    let expires_s = number(&head, "expires_at_ms") / 1000;
    for item in [&entry, &record, &first] {
        assert!(number(item, "expiration_time") >= expires_s + 3600);
        assert!(number(item, "expiration_time") <= number(&head, "expiration_time"));
    }
}

#[tokio::test]
async fn payloads_are_compressed_above_the_threshold_or_when_they_must_be() {
    let raw = raw_client().await;
    let thrifty = builder(SHARED_TABLE)
        .await
        .compress_above(Some(1024))
        .build()
        .await
        .unwrap();
    let session = session("compress");
    let pk = format!("messages#{}", session.as_str());
    let small = run("hi", "hello");
    let v1 = commit(&thrifty, &session, SessionVersion::EMPTY, &small).await;
    let large = tool_run(2, 8000);
    let v2 = commit(&thrifty, &session, v1.version, &large).await;
    let entry = raw_item(&raw, SHARED_TABLE, &pk, 1).await.unwrap();
    assert!(
        matches!(entry["messages"], AttributeValue::S(_)),
        "small stays plain"
    );
    let entry = raw_item(&raw, SHARED_TABLE, &pk, 2).await.unwrap();
    assert!(
        matches!(entry["messages"], AttributeValue::B(_)),
        "over 1 KB is gzip"
    );
    assert_eq!(text_of(&entry, "enc"), "gzip");

    // The default: plain up to 64 KiB, compressed past it.
    let default = store().await;
    let big = tool_run(5, 100_000);
    let trace = reasoning(&session, "big");
    let other = session_id_for("default-threshold");
    default
        .commit(
            &other,
            Commit::new(trace.run_id, SessionVersion::EMPTY, &big, &trace),
        )
        .await
        .unwrap();
    let entry = raw_item(
        &raw,
        SHARED_TABLE,
        &format!("messages#{}", other.as_str()),
        1,
    )
    .await
    .unwrap();
    assert!(
        matches!(entry["messages"], AttributeValue::B(_)),
        "100 KB is compressed by default"
    );
    let small_entry = raw_item(&raw, SHARED_TABLE, &pk, 1).await.unwrap();
    assert!(matches!(small_entry["messages"], AttributeValue::S(_)));

    // Only when needed: plain up to the item limit; compressed past it; chunked past that.
    let store = builder(SHARED_TABLE)
        .await
        .compress_above(None)
        .build()
        .await
        .unwrap();
    let plain = tool_run(3, 300_000);
    let v3 = commit(&store, &session, v2.version, &plain).await;
    let entry = raw_item(&raw, SHARED_TABLE, &pk, 3).await.unwrap();
    assert!(matches!(entry["messages"], AttributeValue::S(_)));
    let squeezed = tool_run(4, 900_000);
    let v4 = commit(&store, &session, v3.version, &squeezed).await;
    let entry = raw_item(&raw, SHARED_TABLE, &pk, 4).await.unwrap();
    assert!(
        matches!(entry["messages"], AttributeValue::B(_)),
        "900 KB must be compressed"
    );
    let noise_run = vec![
        Message::user_text("dump"),
        Message::assistant_text(noise(1_500_000)),
    ];
    let v5 = commit(&store, &session, v4.version, &noise_run).await;
    let items = raw_items(&raw, SHARED_TABLE, &pk).await;
    let chunks: Vec<&Item> = items.iter().filter(|i| sk_of(i) < 0).collect();
    assert!(
        chunks.len() >= 3,
        "1.5 MB of noise in chunks: {}",
        chunks.len()
    );
    assert!(items.iter().all(|i| item_size(i) <= MAX_ITEM_BYTES));
    assert_eq!(store.head(&session).await.unwrap().version, v5.version);
    let all = messages(&store, &session).await;
    assert_eq!(all, [small, large, plain, squeezed, noise_run].concat());

    // More than one transaction can carry: a typed error, and nothing is written.
    let huge = vec![
        Message::user_text("too much"),
        Message::assistant_text(noise(6_000_000)),
    ];
    let trace = reasoning(&session, "too much");
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, v5.version, &huge, &trace),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::InvalidInput, "{error}");
    assert_eq!(store.head(&session).await.unwrap().version, v5.version);
}

// ------------------------------------------------------------------------------ cost

#[tokio::test]
async fn a_steady_state_run_costs_one_read_and_one_write() {
    let store = store().await;
    let session = session("cost");
    let mut base = SessionVersion::EMPTY;
    let mut costs: Vec<StoreMetrics> = Vec::new();
    for n in 1..=30 {
        let before = store.metrics();
        // What a run does with real-time recording off: read the head, commit.
        let head = store.head(&session).await.unwrap();
        assert_eq!(head.version, base);
        let messages = tool_run(n, 300);
        let trace = reasoning_with_tool(&session, &messages[0].text(), "get_weather");
        base = store
            .commit(&session, Commit::new(trace.run_id, base, &messages, &trace))
            .await
            .unwrap()
            .version;
        costs.push(store.metrics().since(&before));
    }
    for n in [1, 2, 10, 30] {
        println!("run {n:>2}: {}", costs[n - 1]);
    }
    for (i, cost) in costs.iter().enumerate().skip(1) {
        assert_eq!(cost.requests, 2, "run {}: {cost}", i + 1);
        assert_eq!(cost.operations.get("GetItem"), Some(&1));
        assert_eq!(cost.operations.get("TransactWriteItems"), Some(&1));
        assert_eq!(
            cost.estimated_write_units, costs[1].estimated_write_units,
            "write units do not grow with the session"
        );
    }

    // Real time on: begin, 10 event batches, 2 heartbeats, commit.
    let before = store.metrics();
    let head = store.head(&session).await.unwrap();
    let messages = tool_run(99, 300);
    let trace = reasoning_with_tool(&session, "live", "get_weather");
    let lease = store.begin_run(&session, &trace, LEASE).await.unwrap();
    for i in 0..10 {
        store
            .append_events(
                &session,
                &lease,
                &[event(2 * i + 1, "a few words"), event(2 * i + 2, "more")],
            )
            .await
            .unwrap();
    }
    store.heartbeat(&session, &lease, LEASE).await.unwrap();
    store.heartbeat(&session, &lease, LEASE).await.unwrap();
    store
        .commit(
            &session,
            Commit::new(trace.run_id, head.version, &messages, &trace).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    let live = store.metrics().since(&before);
    println!("a real-time run (20 events in 10 batches, 2 heartbeats): {live}");
    assert_eq!(live.operations.get("TransactWriteItems"), Some(&2));
    assert_eq!(live.operations.get("BatchWriteItem"), Some(&10));
    assert_eq!(live.operations.get("UpdateItem"), Some(&2), "heartbeats");
}

/// The measurements behind the default compression threshold (`docs/design/session-layout.md`):
/// write units per run of four representative runs at several thresholds.
#[tokio::test]
async fn compression_thresholds_are_measured() {
    let runs: [(&str, usize); 4] = [
        ("chat turn (no tool)", 0),
        ("tool run, 2 KB result", 2_000),
        ("tool run, 20 KB result", 20_000),
        ("tool run, 150 KB result", 150_000),
    ];
    let thresholds: [(&str, Option<usize>); 4] = [
        ("1 KB", Some(1024)),
        ("8 KB", Some(8 * 1024)),
        ("64 KB", Some(64 * 1024)),
        ("only when needed", None),
    ];
    println!(
        "| run | JSON bytes | {} |",
        thresholds.map(|(name, _)| name).join(" | ")
    );
    for (label, result) in runs {
        let mut row = Vec::new();
        let messages = if result == 0 {
            run("What's the capital of Norway?", "Oslo.")
        } else {
            tool_run(1, result)
        };
        let json = serde_json::to_string(&messages).unwrap().len();
        for (_, threshold) in thresholds {
            let store = builder(SHARED_TABLE)
                .await
                .compress_above(threshold)
                .build()
                .await
                .unwrap();
            let session = session("threshold");
            let first = commit(&store, &session, SessionVersion::EMPTY, &run("a", "b")).await;
            let mut trace = reasoning_with_tool(&session, "q", "get_weather");
            if result == 0 {
                trace.steps.clear();
            } else {
                // The trace holds the tool's result too, as a real run's does.
                trace.steps[0].tools[0].result = Some(json!({"report": prose(result)}));
            }
            let before = store.metrics();
            store
                .commit(
                    &session,
                    Commit::new(trace.run_id, first.version, &messages, &trace),
                )
                .await
                .unwrap();
            let cost = store.metrics().since(&before);
            row.push(format!(
                "{:.0} ({})",
                cost.write_capacity_units, cost.estimated_write_units
            ));
        }
        println!("| {label} | {json} | {} |", row.join(" | "));
    }
    println!(
        "(write units reported by DynamoDB Local, and by the on-demand pricing rules in brackets)"
    );
}

// ------------------------------------------------------------------------------ lifecycle

#[tokio::test]
async fn a_delete_during_a_run_is_never_undone() {
    let store = store().await;
    let other = store_with_ttl(Duration::from_secs(3600)).await; // another process
    let session = session("deleterace");
    let v1 = commit(&store, &session, SessionVersion::EMPTY, &run("q1", "a1")).await;
    let trace = reasoning(&session, "slow");
    let lease = store.begin_run(&session, &trace, LEASE).await.unwrap();
    store
        .append_events(&session, &lease, &[event(1, "a")])
        .await
        .unwrap();
    // Another process deletes the session while the run goes on.
    other.delete(&session).await.unwrap();
    let error = store.heartbeat(&session, &lease, LEASE).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Deleted, "{error}");
    let messages = run("slow", "answer");
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, v1.version, &messages, &trace).with_lease(Some(lease)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Deleted, "{error}");
    // A commit without a lease computed from the old conversation: also refused.
    let late = reasoning(&session, "late");
    let error = store
        .commit(
            &session,
            Commit::new(late.run_id, v1.version, &messages, &late),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Deleted, "{error}");
    assert!(store.head(&session).await.unwrap().version.is_empty());
    assert!(store.runs(&session, 0, 10).await.unwrap().is_empty());
    // The session starts again, new, without the old conversation.
    let fresh = commit(&other, &session, SessionVersion::EMPTY, &run("new", "life")).await;
    assert_ne!(fresh.version.life(), v1.version.life());
    assert_eq!(messages_of(&store, &session).await, run("new", "life"));
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 1);
    // And a commit of the old life is still refused, as deleted.
    let error = store
        .commit(
            &session,
            Commit::new(late.run_id, v1.version, &messages, &late),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Deleted, "{error}");
}

fn session_id_for(prefix: &str) -> SessionId {
    session(prefix)
}

async fn messages_of(store: &impl SessionStore, session: &SessionId) -> Vec<Message> {
    messages(store, session).await
}

#[tokio::test]
async fn expiry_during_a_run_keeps_the_commit_while_the_data_is_there() {
    let clock = ManualClock::new();
    let ttl = Duration::from_secs(600);
    let store = store_with_clock(ttl, clock.clone()).await;
    let session = session("expiryrace");
    let v1 = commit(&store, &session, SessionVersion::EMPTY, &run("q1", "a1")).await;
    // The run takes longer than the TTL: the session expires under it.
    clock.advance(ttl + Duration::from_secs(60));
    assert!(store.head(&session).await.unwrap().version.is_empty());
    let v2 = commit(&store, &session, v1.version, &run("q2", "a2")).await;
    assert_eq!(
        v2.version.life(),
        v1.version.life(),
        "the same life goes on"
    );
    assert_eq!(messages(&store, &session).await.len(), 4);
    // Expired long enough for DynamoDB to have removed the records: Expired.
    clock.advance(ttl * 4);
    let trace = reasoning(&session, "too late");
    let late = run("q3", "a3");
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, v2.version, &late, &trace),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Expired, "{error}");
    // Restarted by another run: a commit of the old life is Expired too, not a conflict.
    let raw = raw_client().await;
    let pk = format!("messages#{}", session.as_str());
    let old_horizon = number(
        &raw_item(&raw, SHARED_TABLE, &pk, 0).await.unwrap(),
        "record_horizon",
    );
    let fresh = commit(&store, &session, SessionVersion::EMPTY, &run("new", "life")).await;
    let head = raw_item(&raw, SHARED_TABLE, &pk, 0).await.unwrap();
    assert!(
        number(&head, "record_horizon") >= old_horizon,
        "the new life's head outlives the old life's records"
    );
    assert_ne!(fresh.version.life(), v2.version.life());
    assert!(fresh.seq > v2.seq, "numbers continue across lives");
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, v2.version, &late, &trace),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Expired, "{error}");
    assert_eq!(messages(&store, &session).await, run("new", "life"));
}

#[tokio::test]
async fn heartbeats_keep_a_long_run_alive_with_few_writes() {
    let clock = ManualClock::new();
    let ttl = Duration::from_secs(600);
    let store = store_with_clock(ttl, clock.clone()).await;
    let session = session("longrun");
    let trace = reasoning(&session, "long");
    let lease = store.begin_run(&session, &trace, LEASE).await.unwrap();
    let before = store.metrics();
    // A run of 2 hours, beating every 30 s.
    for _ in 0..240 {
        clock.advance(Duration::from_secs(30));
        store.heartbeat(&session, &lease, LEASE).await.unwrap();
        let head = store.head(&session).await.unwrap();
        assert!(head.exists(), "the session stays alive while its run beats");
    }
    let cost = store.metrics().since(&before);
    let updates = cost.operations.get("UpdateItem").copied().unwrap_or(0);
    // 240 heartbeats, one head push per half TTL (5 min): 24, and the run record's expiry
    // extended when the horizon moves (a few times).
    assert!(updates <= 240 + 24 + 6, "{cost}");
    println!("2 h of heartbeats every 30 s: {cost}");
    let messages = run("long", "done");
    let head = store.head(&session).await.unwrap();
    store
        .commit(
            &session,
            Commit::new(trace.run_id, head.version, &messages, &trace).with_lease(Some(lease)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn records_always_outlive_their_head_as_a_session_goes_on() {
    let clock = ManualClock::new();
    let ttl = Duration::from_secs(60);
    let store = store_with_clock(ttl, clock.clone()).await;
    let raw = raw_client().await;
    let session = session("horizon");
    let sid = session.as_str();
    let mut base = SessionVersion::EMPTY;
    let mut refreshes = 0;
    for n in 0..40 {
        let before = store.metrics();
        base = commit(&store, &session, base, &run(&format!("q{n}"), "a"))
            .await
            .version;
        if store
            .metrics()
            .since(&before)
            .operations
            .contains_key("UpdateItem")
        {
            refreshes += 1;
        }
        let head = raw_item(&raw, SHARED_TABLE, &format!("messages#{sid}"), 0)
            .await
            .unwrap();
        let floor = number(&head, "expires_at_ms") / 1000 + 60;
        for pk in [format!("messages#{sid}"), format!("reasoning#{sid}")] {
            for item in raw_items(&raw, SHARED_TABLE, &pk).await {
                if sk_of(&item) != 0 {
                    assert!(
                        number(&item, "expiration_time") >= floor,
                        "{pk} {}",
                        sk_of(&item)
                    );
                }
            }
        }
        clock.advance(Duration::from_secs(50));
    }
    // 40 runs over 2,000 s with a 60 s TTL: the horizon moved about log2(2000 / 60) times.
    println!("40 runs, 50 s apart, TTL 60 s: {refreshes} runs extended the records");
    assert!((3..=8).contains(&refreshes), "{refreshes} refreshes");
    assert_eq!(messages(&store, &session).await.len(), 80);
}

#[tokio::test]
async fn runs_that_begin_at_once_all_get_a_number() {
    let store = store().await;
    let session = session("beginrace");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, session) = (common::store().await, session.clone());
        tasks.push(tokio::spawn(async move {
            let trace = reasoning(&session, &format!("r{i}"));
            store.begin_run(&session, &trace, LEASE).await.unwrap().run
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<u64>>());
    let runs = store.runs(&session, 0, 100).await.unwrap();
    assert_eq!(runs.len(), 8);
    assert!(
        runs.iter()
            .all(|r| r.lease.is_some() && r.heartbeat_at.is_some())
    );
    assert!(
        runs.iter()
            .all(|r| r.reasoning.status == RunStatus::Completed)
    );
}

/// A process whose cached head is older than another process's commit starts a run (a head
/// write that checks the run count, not the entry count): the commit stays in the head. Found
/// by the run-level conformance check of two concurrent real-time runs, where the second run's
/// start wrote the old entry count back and hid the first run's turn.
#[tokio::test]
async fn starting_a_run_on_a_stale_head_keeps_other_commits() {
    let (first, second) = (store().await, store().await);
    let session = session("stale-start");
    let one = reasoning(&session, "one");
    let lease = first.begin_run(&session, &one, LEASE).await.unwrap();
    // The second process reads the head now: no entry yet, one run.
    assert!(second.head(&session).await.unwrap().version.is_empty());
    let messages = run("one", "first answer");
    let committed = first
        .commit(
            &session,
            Commit::new(one.run_id, SessionVersion::EMPTY, &messages, &one).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    // Its head still says no entry; its run start must not write that back.
    second
        .begin_run(&session, &reasoning(&session, "two"), LEASE)
        .await
        .unwrap();
    let fresh = store().await;
    assert_eq!(
        fresh.head(&session).await.unwrap().version,
        committed.version
    );
    assert_eq!(messages_of(&fresh, &session).await, messages);
}

/// A commit under a lease its store's cached head does not know (the run began through another
/// store): the head is read again, and the turn kept. Only a head read afresh may say that a
/// run's life ended.
#[tokio::test]
async fn a_lease_newer_than_the_cached_head_is_checked_on_a_fresh_head() {
    let (here, there) = (store().await, store().await);
    let session = session("fresh-verdict");
    // `here` caches the head: one entry, one run.
    let v1 = commit(&here, &session, SessionVersion::EMPTY, &run("q1", "a1")).await;
    let mut running = reasoning(&session, "elsewhere");
    running.status = RunStatus::Running;
    let lease = there.begin_run(&session, &running, LEASE).await.unwrap();
    assert_eq!(lease.run, 2);
    let mut done = running.clone();
    done.status = RunStatus::Completed;
    let messages = run("elsewhere", "kept");
    let before = here.metrics();
    let committed = here
        .commit(
            &session,
            Commit::new(running.run_id, v1.version, &messages, &done).with_lease(Some(lease)),
        )
        .await
        .unwrap();
    assert_eq!((committed.seq, committed.run), (2, 2));
    let cost = here.metrics().since(&before);
    assert_eq!(
        cost.operations.get("GetItem"),
        Some(&1),
        "one fresh read: {cost}"
    );
    assert_eq!(
        messages_of(&there, &session).await,
        [run("q1", "a1"), messages].concat()
    );
}
