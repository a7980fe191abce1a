//! The DynamoDB store on DynamoDB Local: concurrency across processes, crashes between writes,
//! large runs, the 400 KB edge, TTL, corrupted items, Python sessions, delete and tables.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic is a failed assertion.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use agent_core::{Message, Reasoning, RunStatus};
use agent_session::{RunCommit, SessionErrorKind, SessionId, SessionStore, SessionVersion};
use agent_session_dynamo::aws_sdk_dynamodb::primitives::Blob;
use agent_session_dynamo::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use agent_session_dynamo::size::{MAX_ITEM_BYTES, item_size};
use common::*;
use serde_json::json;
use uuid::Uuid;

type Item = std::collections::HashMap<String, AttributeValue>;

// ------------------------------------------------------------------------------ commits

#[tokio::test]
async fn two_processes_committing_at_once_both_land() {
    // Two stores, two clients, no shared cache: two processes.
    let (a, b) = (store().await, store().await);
    let session = session("twoproc");
    let writer = |store: agent_session_dynamo::DynamoSessionStore, name: &'static str| {
        let session = session.clone();
        tokio::spawn(async move {
            let mut conflicts = 0;
            for i in 0..8 {
                let turn = run(&format!("{name} q{i}"), &format!("{name} a{i}"));
                let run_id = Uuid::now_v7();
                loop {
                    let base = store.load(&session).await.unwrap().version;
                    let commit = RunCommit {
                        run_id,
                        base,
                        messages: &turn,
                    };
                    match store.commit_run(&session, commit).await {
                        Ok(_) => break,
                        Err(e) if e.is_conflict() => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        })
    };
    let (ca, cb) = (writer(a.clone(), "A"), writer(b.clone(), "B"));
    let conflicts = ca.await.unwrap() + cb.await.unwrap();
    let loaded = a.load(&session).await.unwrap();
    assert_eq!(
        loaded.messages.len(),
        32,
        "every run of both writers is kept"
    );
    let texts: HashSet<String> = loaded.messages.iter().map(Message::text).collect();
    assert_eq!(texts.len(), 32, "and none twice");
    for pair in loaded.messages.chunks(2) {
        assert_eq!(
            pair[0].text().replace('q', "a"),
            pair[1].text(),
            "turns never interleave"
        );
    }
    println!("conflicts met and resolved: {conflicts}");
}

#[tokio::test]
async fn a_retry_after_a_lost_response_is_recognised_by_another_process() {
    let (a, b) = (store().await, store().await);
    let session = session("retry");
    let turn = run("q", "a");
    let first = RunCommit {
        run_id: Uuid::now_v7(),
        base: SessionVersion::EMPTY,
        messages: &turn,
    };
    let v1 = a.commit_run(&session, first).await.unwrap();
    // Process B retries the same request (its response was lost): same version, nothing added.
    assert_eq!(b.commit_run(&session, first).await.unwrap(), v1);
    let v2 = commit(&a, &session, v1, &run("q2", "a2")).await;
    assert_eq!(b.commit_run(&session, first).await.unwrap(), v1);
    let loaded = b.load(&session).await.unwrap();
    assert_eq!((loaded.version, loaded.messages.len()), (v2, 4));
    // A stale base from another run is a conflict that writes nothing.
    let stale = RunCommit {
        run_id: Uuid::now_v7(),
        base: v1,
        messages: &turn,
    };
    let error = b.commit_run(&session, stale).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Conflict);
    assert_eq!(error.session(), Some(session.as_str()));
    assert_eq!(a.load(&session).await.unwrap().messages.len(), 4);
}

#[tokio::test]
async fn a_run_killed_between_writes_leaves_a_loadable_session() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("killed");
    let pk = format!("messages#{session}");
    let v1 = commit(&store, &session, SessionVersion::EMPTY, &run("q1", "a1")).await;

    // A crash after staging chunks, before the transaction: chunks nobody names.
    for part in 0..3u64 {
        let mut chunk = Item::new();
        chunk.insert("pk".into(), s(&pk));
        chunk.insert("sk".into(), n(500_000_000 + part));
        chunk.insert("schema".into(), n(2));
        chunk.insert("kind".into(), s("chunk"));
        chunk.insert("incarnation".into(), s("crashed"));
        chunk.insert("blob_id".into(), s("orphan"));
        chunk.insert("part".into(), n(part));
        chunk.insert("expiration_time".into(), n(now_secs() + 3600));
        chunk.insert("body".into(), AttributeValue::B(Blob::new(vec![7u8; 1000])));
        put_raw(&raw, SHARED_TABLE, chunk).await;
    }
    // A stray entry past the head's version (as an older, interrupted writer might leave).
    let mut stray = Item::new();
    stray.insert("pk".into(), s(&pk));
    stray.insert("sk".into(), n(2));
    stray.insert("schema".into(), n(2));
    stray.insert("kind".into(), s("run"));
    stray.insert("incarnation".into(), s("crashed"));
    stray.insert("enc".into(), s("json"));
    stray.insert(
        "body".into(),
        s(r#"[{"role":"user","content":[{"text":"partial"}]}]"#),
    );
    stray.insert("expiration_time".into(), n(now_secs() + 3600));
    put_raw(&raw, SHARED_TABLE, stray).await;

    // Both are invisible, from this process and from a fresh one.
    for reader in [store.clone(), common::store().await] {
        let loaded = reader.load(&session).await.unwrap();
        assert_eq!(loaded.version, v1);
        assert_eq!(loaded.messages, run("q1", "a1"));
    }
    // The next run takes the stray entry's place; chunks of a large run go past the orphans.
    let big = noise(600_000);
    let v2 = commit(&store, &session, v1, &run(&big, "a2")).await;
    let loaded = common::store().await.load(&session).await.unwrap();
    assert_eq!(loaded.version, v2);
    assert_eq!(loaded.messages.len(), 4);
    assert_eq!(loaded.messages[2].text(), big);
}

#[tokio::test]
async fn a_chunk_reservation_without_a_commit_leaves_an_empty_session() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("stub");
    let pk = format!("messages#{session}");
    // A crash right after reserving chunk keys on a new session: a stub head.
    raw.update_item()
        .table_name(SHARED_TABLE)
        .key("pk", s(&pk))
        .key("sk", n(0))
        .update_expression("ADD next_chunk :c SET #s = :s, expiration_time = :e")
        .expression_attribute_names("#s", "schema")
        .expression_attribute_values(":c", n(4))
        .expression_attribute_values(":s", n(2))
        .expression_attribute_values(":e", n(now_secs() + 3600))
        .send()
        .await
        .unwrap();
    let loaded = store.load(&session).await.unwrap();
    assert_eq!(loaded, Default::default());
    // Deleting it removes the stub too.
    store.delete(&session).await.unwrap();
    assert!(raw_items(&raw, SHARED_TABLE, &pk).await.is_empty());
}

// ------------------------------------------------------------------------------ sizes

#[tokio::test]
async fn a_run_larger_than_a_transaction_is_split_and_read_back() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("huge");
    // 5 MB that gzip cannot shrink below 4 MB: more than one TransactWriteItems can carry.
    let huge = noise(5_500_000);
    let turn = vec![
        Message::user_text("give me everything"),
        Message::assistant_text(huge.clone()),
    ];
    let before = store.metrics();
    let version = commit(&store, &session, SessionVersion::EMPTY, &turn).await;
    let cost = store.metrics().since(&before);
    println!("a 5.5 MB run: {cost}");
    assert_eq!(cost.operations.get("TransactWriteItems"), Some(&1));
    assert!(cost.operations.get("PutItem").copied().unwrap_or(0) >= 10);

    let loaded = common::store().await.load(&session).await.unwrap();
    assert_eq!(loaded.version, version);
    assert_eq!(loaded.messages[1].text(), huge, "byte for byte");

    let items = raw_items(&raw, SHARED_TABLE, &format!("messages#{session}")).await;
    let entry = items.iter().find(|i| sk_of(i) == 1).unwrap();
    assert!(
        entry.contains_key("chunk_first"),
        "the entry names its chunks"
    );
    for item in &items {
        assert!(item_size(item) <= MAX_ITEM_BYTES, "every item fits");
    }
}

#[tokio::test]
async fn the_size_calculator_agrees_with_dynamodb_at_400_kb() {
    let raw = raw_client().await;
    let _ = store().await; // creates the shared table if needed
    let pk = format!("size-edge-{}", Uuid::now_v7().simple());
    // Items whose calculated size is exactly 400 KB are accepted, with long attribute names,
    // multibyte UTF-8, numbers and binary in them.
    let exact = |filler_bytes: usize| {
        let mut item = Item::new();
        item.insert("pk".into(), s(&pk));
        item.insert("sk".into(), n(123_456_789));
        item.insert("a_rather_long_attribute_name_é".into(), n("1700000000.5"));
        item.insert("bin".into(), AttributeValue::B(Blob::new(vec![0u8; 1000])));
        item.insert("list".into(), AttributeValue::L(vec![s("x"), n(1)]));
        let base = {
            let mut probe = item.clone();
            probe.insert("text".into(), s(""));
            item_size(&probe)
        };
        // 2-byte and 3-byte characters count as their UTF-8 bytes.
        let target = filler_bytes.saturating_sub(base);
        let mut text = "é漢".repeat(target / 5);
        while text.len() > target {
            text.pop();
        }
        while text.len() < target {
            text.push('a');
        }
        item.insert("text".into(), s(text));
        item
    };
    let fits = exact(MAX_ITEM_BYTES);
    assert_eq!(item_size(&fits), MAX_ITEM_BYTES);
    raw.put_item()
        .table_name(SHARED_TABLE)
        .set_item(Some(fits))
        .send()
        .await
        .expect("an item the calculator says fits is accepted");
    let over = exact(MAX_ITEM_BYTES + 64);
    assert!(item_size(&over) > MAX_ITEM_BYTES);
    let error = raw
        .put_item()
        .table_name(SHARED_TABLE)
        .set_item(Some(over))
        .send()
        .await
        .expect_err("an item over 400 KB is refused");
    assert!(format!("{error:?}").contains("Item size"), "{error:?}");
}

#[tokio::test]
async fn entries_at_the_edge_of_one_item_are_stored_inline_or_split() {
    let store = store().await;
    let raw = raw_client().await;
    // Find the largest run that still fits one entry item: it is written whole, the next size
    // up is split, and both read back.
    let entry_of = |session: SessionId| {
        let raw = raw.clone();
        async move {
            raw_items(&raw, SHARED_TABLE, &format!("messages#{session}"))
                .await
                .into_iter()
                .find(|i| sk_of(i) == 1)
                .unwrap()
        }
    };
    let text = noise(600_000);
    let (mut lo, mut hi) = (300_000usize, 600_000usize); // inline at lo, split at hi
    let mut inline_item = None;
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let session = session("edge");
        let turn = vec![Message::user_text(&text[..mid])];
        let version = commit(&store, &session, SessionVersion::EMPTY, &turn).await;
        let loaded = store.load(&session).await.unwrap();
        assert_eq!((loaded.version, &loaded.messages), (version, &turn));
        let entry = entry_of(session).await;
        if entry.contains_key("chunk_first") {
            hi = mid;
        } else {
            lo = mid;
            inline_item = Some(entry);
        }
    }
    let inline_item = inline_item.expect("an inline entry near the edge");
    let size = item_size(&inline_item);
    println!("largest inline entry: {lo} characters of text, {size} bytes by the calculator");
    assert!(size <= MAX_ITEM_BYTES);
    assert!(
        size > MAX_ITEM_BYTES - 64,
        "inline entries use the item up to its edge"
    );
}

#[tokio::test]
async fn a_long_history_loads_with_one_query_page_per_megabyte() {
    let store = store().await;
    let session = session("pages");
    let mut version = SessionVersion::EMPTY;
    for i in 0..30 {
        version = commit(
            &store,
            &session,
            version,
            &run(&noise(100_000), &format!("a{i}")),
        )
        .await;
    }
    let fresh = common::store().await;
    let before = fresh.metrics();
    let loaded = fresh.load(&session).await.unwrap();
    let cost = fresh.metrics().since(&before);
    assert_eq!(loaded.messages.len(), 60);
    let megabytes = cost.response_bytes as f64 / 1_048_576.0;
    let pages = cost.operations.get("Query").copied().unwrap_or(0);
    println!("load of {megabytes:.2} MB: {cost}");
    assert!(
        (pages as f64) <= megabytes.ceil() + 1.0,
        "{pages} pages for {megabytes:.2} MB"
    );
}

// ------------------------------------------------------------------------------ TTL

#[tokio::test]
async fn records_outlive_their_session_as_it_goes_on() {
    let ttl = Duration::from_secs(2);
    let store = store_with_ttl(ttl).await;
    let raw = raw_client().await;
    let session = session("refresh");
    let start = tokio::time::Instant::now();
    let mut version = SessionVersion::EMPTY;
    let mut refreshes = 0;
    // A run every 1.5 s: after a few, the first records' own expiry has long passed.
    for i in 0..4u32 {
        tokio::time::sleep_until(start + Duration::from_millis(1500) * i).await;
        let before = store.metrics();
        version = commit(&store, &session, version, &run(&format!("q{i}"), "a")).await;
        store
            .save_reasoning(&session, &reasoning(&session, &format!("q{i}")))
            .await
            .unwrap();
        refreshes += store
            .metrics()
            .since(&before)
            .operations
            .get("UpdateItem")
            .copied()
            .unwrap_or(0);
    }
    assert!(refreshes > 0, "the records' expiry was pushed forward");
    tokio::time::sleep_until(start + Duration::from_millis(6000)).await;
    let loaded = store.load(&session).await.unwrap();
    assert_eq!(loaded.version, version);
    assert_eq!(loaded.messages.len(), 8, "the oldest runs are still there");
    assert_eq!(store.reasoning_history(&session).await.unwrap().len(), 4);
    // Every record expires no earlier than its head.
    for partition in ["messages", "reasoning"] {
        let items = raw_items(&raw, SHARED_TABLE, &format!("{partition}#{session}")).await;
        let head = items.iter().find(|i| sk_of(i) == 0).unwrap();
        let head_expiry = number(head, "expiration_time");
        for item in items.iter().filter(|i| sk_of(i) != 0) {
            assert!(number(item, "expiration_time") >= head_expiry);
        }
    }
}

#[tokio::test]
async fn expired_sessions_stay_stored_but_read_as_gone() {
    let store = store_with_ttl(Duration::from_secs(1)).await;
    let raw = raw_client().await;
    let session = session("expired");
    let v1 = commit(&store, &session, SessionVersion::EMPTY, &run("q", "a")).await;
    store
        .save_reasoning(&session, &reasoning(&session, "q"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(store.load(&session).await.unwrap(), Default::default());
    assert_eq!(store.latest_reasoning(&session).await.unwrap(), None);
    assert!(store.reasoning_history(&session).await.unwrap().is_empty());
    let items = raw_items(&raw, SHARED_TABLE, &format!("messages#{session}")).await;
    assert!(
        items.len() >= 2,
        "DynamoDB has not deleted them, and need not have"
    );
    for item in &items {
        let expiry = number(item, "expiration_time");
        assert!(expiry < 10_000_000_000, "epoch seconds, not milliseconds");
    }
    // A stale commit on the expired conversation conflicts; a new one starts afresh, at a
    // version the session never had.
    let stale = run("late", "late");
    let error = store
        .commit_run(
            &session,
            RunCommit {
                run_id: Uuid::now_v7(),
                base: v1,
                messages: &stale,
            },
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict());
    let v2 = commit(
        &store,
        &session,
        SessionVersion::EMPTY,
        &run("new", "start"),
    )
    .await;
    assert_ne!(v2, v1);
    let loaded = store.load(&session).await.unwrap();
    assert_eq!((loaded.version, loaded.messages), (v2, run("new", "start")));
}

// ------------------------------------------------------------------------------ corruption

/// A session of three runs; returns its partition key.
async fn three_runs(store: &impl SessionStore, session: &SessionId) -> String {
    let mut v = SessionVersion::EMPTY;
    for i in 0..3 {
        v = commit(store, session, v, &run(&format!("q{i}"), &format!("a{i}"))).await;
    }
    format!("messages#{session}")
}

async fn corrupt(pk: &str, sk: i128, change: impl FnOnce(&mut Item)) {
    let raw = raw_client().await;
    let mut item = raw
        .get_item()
        .table_name(SHARED_TABLE)
        .key("pk", s(pk))
        .key("sk", n(sk))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    change(&mut item);
    put_raw(&raw, SHARED_TABLE, item).await;
}

#[tokio::test]
async fn corrupted_items_are_reported_with_their_session_and_key() {
    let store = store().await;
    let healthy = session("healthy");
    three_runs(&store, &healthy).await;
    type Corruption = Box<dyn FnOnce(&mut Item)>;
    let cases: Vec<(&str, i128, Corruption)> = vec![
        (
            "bad JSON",
            2,
            Box::new(|i: &mut Item| {
                i.insert("body".into(), s("[{\"role\":"));
            }),
        ),
        (
            "missing attribute",
            2,
            Box::new(|i: &mut Item| {
                i.remove("enc");
            }),
        ),
        (
            "wrong type",
            3,
            Box::new(|i: &mut Item| {
                i.insert("body".into(), n(42));
            }),
        ),
        (
            "head of wrong type",
            0,
            Box::new(|i: &mut Item| {
                i.insert("version".into(), s("three"));
            }),
        ),
        (
            "not messages",
            1,
            Box::new(|i: &mut Item| {
                i.insert("body".into(), s(r#"[{"role":"robot","content":[]}]"#));
            }),
        ),
    ];
    for (what, sk, change) in cases {
        let session = session("corrupt");
        let pk = three_runs(&store, &session).await;
        corrupt(&pk, sk, change).await;
        for reader in [store.clone(), common::store().await] {
            let error = reader.load(&session).await.expect_err(what);
            assert_eq!(
                error.kind(),
                SessionErrorKind::CorruptedData,
                "{what}: {error}"
            );
            assert_eq!(error.session(), Some(session.as_str()), "{what}");
            let message = error.to_string();
            assert!(
                message.contains(&pk) && message.contains(&format!("sk={sk}")),
                "{what}: the error names the item: {message}"
            );
        }
        // Other sessions are not affected.
        assert_eq!(store.load(&healthy).await.unwrap().messages.len(), 6);
    }
}

#[tokio::test]
async fn a_missing_entry_is_a_gap_not_a_silent_hole() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("gap");
    let pk = three_runs(&store, &session).await;
    raw.delete_item()
        .table_name(SHARED_TABLE)
        .key("pk", s(&pk))
        .key("sk", n(2))
        .send()
        .await
        .unwrap();
    let error = store.load(&session).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::CorruptedData);
    assert!(error.to_string().contains("sk=2"), "{error}");
}

#[tokio::test]
async fn a_corrupted_reasoning_record_is_reported() {
    let store = store().await;
    let session = session("badreasoning");
    store
        .save_reasoning(&session, &reasoning(&session, "one"))
        .await
        .unwrap();
    store
        .save_reasoning(&session, &reasoning(&session, "two"))
        .await
        .unwrap();
    let pk = format!("reasoning#{session}");
    corrupt(&pk, 2, |i| {
        i.insert("body".into(), s(r#"[{"no_query": true}]"#));
    })
    .await;
    for error in [
        store.reasoning_history(&session).await.unwrap_err(),
        store.latest_reasoning(&session).await.unwrap_err(),
    ] {
        assert_eq!(error.kind(), SessionErrorKind::CorruptedData);
        assert!(error.to_string().contains(&pk) && error.to_string().contains("sk=2"));
    }
}

// ------------------------------------------------------------------------------ Python sessions

/// Items as the Python MinimalAgent 0.2.x writes them.
async fn write_python_session(
    session: &SessionId,
    at: i64,
    ttl: i64,
) -> (Vec<Message>, Vec<Reasoning>) {
    let raw = raw_client().await;
    let first = json!([
        {"role": "user", "content": [{"text": "What's the weather in Seattle?"}]},
        {"role": "assistant", "content": [
            {"text": "<thinking>I need the weather</thinking>"},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"location": "Seattle"}}}
        ]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 60}}]}}]},
        {"role": "assistant", "content": [{"text": "It is 60F in Seattle."}]}
    ]);
    let second = json!([
        {"role": "user", "content": [{"text": "What's the weather in Seattle?"}]},
        {"role": "assistant", "content": [
            {"text": "<thinking>I need the weather</thinking>"},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"location": "Seattle"}}}
        ]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 60}}]}}]},
        {"role": "assistant", "content": [{"text": "It is 60F in Seattle."}]},
        {"role": "user", "content": [{"text": "And tomorrow?"}]},
        {"role": "assistant", "content": [{"text": "Rain."}]}
    ]);
    for (offset, history) in [(0, &first), (30, &second)] {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("messages#{session}")));
        item.insert("sk".into(), n(at + offset));
        item.insert("messages".into(), s(history.to_string()));
        item.insert("expiration_time".into(), n(at + offset + ttl));
        put_raw(&raw, SHARED_TABLE, item).await;
    }
    let traces = [
        json!({"session_id": session.as_str(), "query": "What's the weather in Seattle?",
               "steps": [{"step_number": 1, "timestamp": "2025-03-01T10:00:00.123456",
                          "thinking": "I need the weather",
                          "tools": [{"name": "get_weather", "inputs": {"location": "Seattle"},
                                     "result": {"temp": 60}}]}],
               "total_steps": 1, "final_thinking": null, "final_response": "It is 60F in Seattle.",
               "truncated": false, "exceeded_size_limit": false}),
        json!({"session_id": session.as_str(), "query": "And tomorrow?", "steps": [],
               "total_steps": 0, "final_thinking": null, "final_response": "Rain.",
               "truncated": false, "exceeded_size_limit": false}),
    ];
    for (offset, trace) in [(0, &traces[0]), (30, &traces[1])] {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("reasoning#{session}")));
        item.insert("sk".into(), n(at + offset));
        item.insert("reasoning".into(), s(trace.to_string()));
        item.insert("expiration_time".into(), n(at + offset + ttl));
        put_raw(&raw, SHARED_TABLE, item).await;
    }
    (
        serde_json::from_value(second).unwrap(),
        traces
            .iter()
            .map(|t| serde_json::from_value(t.clone()).unwrap())
            .collect(),
    )
}

#[tokio::test]
async fn python_sessions_load_and_continue() {
    let store = store().await;
    let session = session("python");
    let (old_messages, old_traces) = write_python_session(&session, now_secs() - 60, 3600).await;

    let loaded = store.load(&session).await.unwrap();
    assert_eq!(
        loaded.messages, old_messages,
        "the newest Python item is the history"
    );
    assert_ne!(loaded.version, SessionVersion::EMPTY);
    assert_eq!(store.reasoning_history(&session).await.unwrap(), old_traces);
    assert_eq!(
        store
            .latest_reasoning(&session)
            .await
            .unwrap()
            .map(|r| r.query),
        Some("And tomorrow?".to_owned())
    );

    // The next run continues it.
    let turn = run("And the day after?", "Sun.");
    let migrating = RunCommit {
        run_id: Uuid::now_v7(),
        base: loaded.version,
        messages: &turn,
    };
    let v = store.commit_run(&session, migrating).await.unwrap();
    let mut new_trace = reasoning(&session, "And the day after?");
    store.save_reasoning(&session, &new_trace).await.unwrap();
    for reader in [store.clone(), common::store().await] {
        let loaded = reader.load(&session).await.unwrap();
        assert_eq!(loaded.version, v);
        assert_eq!(
            loaded.messages,
            [old_messages.clone(), turn.clone()].concat()
        );
        let history = reader.reasoning_history(&session).await.unwrap();
        assert_eq!(
            history,
            [old_traces.clone(), vec![new_trace.clone()]].concat()
        );
    }
    // And goes on in this layout, in place updates included.
    let v2 = commit(&store, &session, v, &run("Thanks", "Welcome")).await;
    new_trace.status = RunStatus::Failed;
    store.save_reasoning(&session, &new_trace).await.unwrap();
    let loaded = store.load(&session).await.unwrap();
    assert_eq!((loaded.version, loaded.messages.len()), (v2, 10));
    let history = store.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].status, RunStatus::Failed);

    // A retry of the migrating commit is recognised, by another process too; a commit on the
    // Python version by another run is a conflict.
    for retrier in [store.clone(), common::store().await] {
        assert_eq!(retrier.commit_run(&session, migrating).await.unwrap(), v);
    }
    let late = RunCommit {
        run_id: Uuid::now_v7(),
        ..migrating
    };
    assert!(
        store
            .commit_run(&session, late)
            .await
            .unwrap_err()
            .is_conflict()
    );
    assert_eq!(store.load(&session).await.unwrap().messages.len(), 10);
}

#[tokio::test]
async fn a_python_session_moved_on_by_a_python_writer_conflicts() {
    let store = store().await;
    let session = session("pythonmoved");
    let at = now_secs() - 100;
    write_python_session(&session, at, 3600).await;
    let loaded = store.load(&session).await.unwrap();
    // The Python agent answers once more meanwhile.
    let mut item = Item::new();
    item.insert("pk".into(), s(format!("messages#{session}")));
    item.insert("sk".into(), n(at + 60));
    item.insert("messages".into(), s("[]"));
    item.insert("expiration_time".into(), n(at + 3660));
    put_raw(&raw_client().await, SHARED_TABLE, item).await;
    let turn = run("q", "a");
    let error = store
        .commit_run(
            &session,
            RunCommit {
                run_id: Uuid::now_v7(),
                base: loaded.version,
                messages: &turn,
            },
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
}

#[tokio::test]
async fn expired_python_items_are_hidden() {
    let store = store().await;
    let session = session("pythonexpired");
    write_python_session(&session, now_secs() - 7200, 3600).await;
    assert_eq!(store.load(&session).await.unwrap(), Default::default());
    assert!(store.reasoning_history(&session).await.unwrap().is_empty());
    assert_eq!(store.latest_reasoning(&session).await.unwrap(), None);
}

// ------------------------------------------------------------------------------ reasoning

#[tokio::test]
async fn reasoning_updates_from_another_process_replace_the_record() {
    let (a, b) = (store().await, store().await);
    let session = session("rtwo");
    let mut trace = Reasoning::start("q", Some(session.to_string()));
    a.save_reasoning(&session, &trace).await.unwrap();
    let other = reasoning(&session, "other");
    a.save_reasoning(&session, &other).await.unwrap();
    trace.status = RunStatus::Completed;
    trace.final_response = Some("done".into());
    b.save_reasoning(&session, &trace).await.unwrap();
    a.save_reasoning(&session, &trace).await.unwrap();
    let history = a.reasoning_history(&session).await.unwrap();
    assert_eq!(history, vec![trace, other.clone()]);
    assert_eq!(b.latest_reasoning(&session).await.unwrap(), Some(other));
}

#[tokio::test]
async fn concurrent_reasoning_saves_of_many_runs_all_land() {
    let (a, b) = (store().await, store().await);
    let session = session("rconc");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let session = session.clone();
        tasks.spawn(async move {
            let mut trace = Reasoning::start(format!("q{i}"), Some(session.to_string()));
            store.save_reasoning(&session, &trace).await.unwrap();
            trace.status = RunStatus::Completed;
            store.save_reasoning(&session, &trace).await.unwrap();
            trace.run_id
        });
    }
    let mut ids = HashSet::new();
    while let Some(id) = tasks.join_next().await {
        ids.insert(id.unwrap());
    }
    let history = a.reasoning_history(&session).await.unwrap();
    assert_eq!(history.len(), 16, "one record per run");
    assert_eq!(
        history.iter().map(|r| r.run_id).collect::<HashSet<_>>(),
        ids
    );
    assert!(history.iter().all(|r| r.status == RunStatus::Completed));
}

#[tokio::test]
async fn a_large_reasoning_record_is_replaced_without_leaving_chunks() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("rlarge");
    let mut trace = reasoning(&session, "big");
    trace.final_response = Some(noise(2_000_000));
    store.save_reasoning(&session, &trace).await.unwrap();
    trace.final_response = Some(noise(900_000));
    store.save_reasoning(&session, &trace).await.unwrap();
    assert_eq!(
        store.latest_reasoning(&session).await.unwrap(),
        Some(trace.clone())
    );
    assert_eq!(
        store.reasoning_history(&session).await.unwrap(),
        vec![trace]
    );
    let chunks = raw_items(&raw, SHARED_TABLE, &format!("reasoning#{session}"))
        .await
        .into_iter()
        .filter(|i| sk_of(i) >= 500_000_000)
        .count();
    assert_eq!(chunks, 2, "only the current record's chunks are left");
}

// ------------------------------------------------------------------------------ delete

#[tokio::test]
async fn delete_removes_every_item_and_old_versions_conflict_after() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("del");
    write_python_session(&session, now_secs() - 60, 3600).await;
    let loaded = store.load(&session).await.unwrap();
    let v1 = commit(
        &store,
        &session,
        loaded.version,
        &run(&noise(900_000), "big"),
    )
    .await;
    let mut trace = reasoning(&session, "q");
    trace.final_response = Some(noise(500_000));
    store.save_reasoning(&session, &trace).await.unwrap();

    store.delete(&session).await.unwrap();
    for partition in ["messages", "reasoning"] {
        let items = raw_items(&raw, SHARED_TABLE, &format!("{partition}#{session}")).await;
        assert!(
            items
                .iter()
                .all(|i| sk_of(i) == 0 && !i.contains_key("body")),
            "only an expired head with no data is left in {partition}: {items:?}"
        );
    }
    assert_eq!(store.load(&session).await.unwrap(), Default::default());
    // A run computed before the delete conflicts; a new one starts at a new version.
    let turn = run("q", "a");
    let error = store
        .commit_run(
            &session,
            RunCommit {
                run_id: Uuid::now_v7(),
                base: v1,
                messages: &turn,
            },
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict());
    let v2 = commit(&store, &session, SessionVersion::EMPTY, &turn).await;
    assert_ne!(v2, v1);
    assert_eq!(store.load(&session).await.unwrap().messages, turn);
}

// ------------------------------------------------------------------------------ tables

#[tokio::test]
async fn a_missing_table_is_created_on_demand_with_ttl() {
    let table = table("created");
    builder(&table).await.build().await.unwrap();
    let raw = raw_client().await;
    let described = raw
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let described = described.table.unwrap();
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode().cloned()),
        Some(BillingMode::PayPerRequest)
    );
    let ttl = raw
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expiration_time"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    // A second store checks the table and leaves it as it is.
    builder(&table).await.build().await.unwrap();
    raw.delete_table().table_name(&table).send().await.unwrap();
}

async fn create_raw_table(name: &str, sk_type: ScalarAttributeType) {
    let raw = raw_client().await;
    raw.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
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
                .attribute_type(sk_type)
                .build()
                .unwrap(),
        )
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
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn tables_are_checked_and_never_altered() {
    // The wrong key schema: a clear error, and the table is left alone.
    let wrong = table("wrongkeys");
    create_raw_table(&wrong, ScalarAttributeType::S).await;
    let error = builder(&wrong).await.build().await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured, "{error}");
    assert!(error.to_string().contains("sk S RANGE"), "{error}");

    // A pre-made table without TTL works (with a warning), and TTL stays off.
    let premade = table("premade");
    create_raw_table(&premade, ScalarAttributeType::N).await;
    let store = builder(&premade)
        .await
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap();
    let session = session("premade");
    commit(&store, &session, SessionVersion::EMPTY, &run("q", "a")).await;
    let raw = raw_client().await;
    let ttl = raw
        .describe_time_to_live()
        .table_name(&premade)
        .send()
        .await
        .unwrap();
    assert_ne!(
        ttl.time_to_live_description()
            .and_then(|d| d.time_to_live_status()),
        Some(&TimeToLiveStatus::Enabled)
    );

    // No table and no permission to create one.
    let error = builder(&table("absent"))
        .await
        .create_table_if_missing(false)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Misconfigured);
    for name in [wrong, premade] {
        raw.delete_table().table_name(name).send().await.unwrap();
    }
}

#[tokio::test]
async fn bad_settings_are_rejected_before_any_io() {
    for name in ["ab", "has space", "slash/", "ü-table", &"x".repeat(256)] {
        let error = builder(name).await.build().await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::InvalidInput, "{name}");
    }
    let error = builder("fine-name")
        .await
        .ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::InvalidInput);
    assert!(agent_session_dynamo::validate_table_name(&"x".repeat(255)).is_ok());
    assert!(agent_session_dynamo::validate_table_name("a.b-c_D9").is_ok());
}
