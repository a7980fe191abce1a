//! Older data on DynamoDB Local: sessions of the Python MinimalAgent 0.2.x (read, taken over,
//! and a Python write after the take-over refused), and sessions written by the previous
//! version of this crate (schema 2), migrated on first access. The fixtures write items
//! exactly as those versions did.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests: a panic is a failed assertion.

mod common;

use std::collections::HashMap;

use agent_core::{Message, Reasoning};
use agent_session::{Commit, EntryBody, SessionErrorKind, SessionId, SessionStore, SessionVersion};
use agent_session_dynamo::aws_sdk_dynamodb::primitives::Blob;
use agent_session_dynamo::aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

type Item = HashMap<String, AttributeValue>;

// ------------------------------------------------------------------------------ Python

/// Items as the Python MinimalAgent 0.2.x writes them: the whole history per turn, one trace
/// per run, sort keys in Unix seconds.
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
    let mut second = first.clone();
    let turns = second.as_array_mut().unwrap();
    turns.push(json!({"role": "user", "content": [{"text": "And tomorrow?"}]}));
    turns.push(json!({"role": "assistant", "content": [{"text": "Rain."}]}));
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

/// What the Python agent does on its next turn: a new item with the whole history.
async fn python_writes_again(session: &SessionId, at: i64) {
    let mut item = Item::new();
    item.insert("pk".into(), s(format!("messages#{session}")));
    item.insert("sk".into(), n(at));
    item.insert("messages".into(), s("[]"));
    item.insert("expiration_time".into(), n(at + 3600));
    put_raw(&raw_client().await, SHARED_TABLE, item).await;
}

#[tokio::test]
async fn python_sessions_load_and_are_taken_over() {
    let store = store().await;
    let session = session("python");
    let at = now_secs() - 60;
    let (old_messages, old_traces) = write_python_session(&session, at, 3600).await;

    let head = store.head(&session).await.unwrap();
    assert_eq!(head.version, SessionVersion::new(at as u64 + 30, 1));
    assert_eq!((head.first_seq, head.runs), (1, 2));
    assert!(head.state.is_empty(), "Python sessions have no state");
    assert_eq!(
        messages(&store, &session).await,
        old_messages,
        "the newest item is the history"
    );
    let runs = store.runs(&session, 0, 10).await.unwrap();
    let traces: Vec<Reasoning> = runs.into_iter().map(|r| r.reasoning).collect();
    assert_eq!(traces, old_traces);
    assert_eq!(
        store
            .latest_run(&session)
            .await
            .unwrap()
            .unwrap()
            .reasoning
            .query,
        "And tomorrow?"
    );

    // The next run takes it over and continues it, its state with it.
    let turn = run("And the day after?", "Sun.");
    let trace = reasoning(&session, "And the day after?");
    let mut changes = agent_core::StateChanges::new();
    changes.set_value("city", json!("Oslo")).unwrap();
    let taking = Commit::new(trace.run_id, head.version, &turn, &trace).with_state(Some(&changes));
    let committed = store.commit(&session, taking).await.unwrap();
    assert_eq!((committed.seq, committed.run), (2, 3));
    let state = store.head(&session).await.unwrap().state;
    assert_eq!(
        state.get::<String>("city").unwrap().as_deref(),
        Some("Oslo")
    );
    for reader in [store.clone(), common::store().await] {
        assert_eq!(
            messages(&reader, &session).await,
            [old_messages.clone(), turn.clone()].concat()
        );
        let runs = reader.runs(&session, 0, 10).await.unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[2].reasoning, trace);
        assert_eq!(runs[0].reasoning, old_traces[0]);
    }
    let entry = &store.entries(&session, 1, 1).await.unwrap()[0];
    assert!(matches!(&entry.body, EntryBody::Turn { run_id, .. } if run_id.is_nil()));
    // A retry of the taking-over commit is recognised, by another process too; a commit of
    // another run on the Python version is a conflict.
    for retrier in [store.clone(), common::store().await] {
        let again = retrier.commit(&session, taking).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.version, committed.version);
    }
    let other = reasoning(&session, "other");
    let error = store
        .commit(
            &session,
            Commit::new(other.run_id, head.version, &turn, &other),
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    // And goes on in this layout.
    let next = commit(
        &store,
        &session,
        committed.version,
        &run("Thanks", "Welcome"),
    )
    .await;
    assert_eq!(next.seq, 3);
    assert_eq!(messages(&store, &session).await.len(), 10);
}

/// A state change outside a run is a write like a commit: it takes a Python session over
/// first, and a run that read the Python session before goes on from it.
#[tokio::test]
async fn a_python_session_changed_outside_a_run_is_taken_over() {
    let store = store().await;
    let session = session("python-state");
    let at = now_secs() - 60;
    let (old_messages, _) = write_python_session(&session, at, 3600).await;
    let python = common::store().await.head(&session).await.unwrap();
    let mut changes = agent_core::StateChanges::new();
    changes.set_value("city", json!("Oslo")).unwrap();
    let head = store.update_state(&session, &changes).await.unwrap();
    assert_ne!(
        head.version, python.version,
        "taken over: this layout's life"
    );
    assert_eq!((head.version.seq(), head.runs), (1, 2));
    assert_eq!(
        head.state.get::<String>("city").unwrap().as_deref(),
        Some("Oslo")
    );
    assert_eq!(messages(&store, &session).await, old_messages);
    // A run planned on the Python version, in another process, continues the same conversation
    // and keeps the state.
    let other = common::store().await;
    let turn = run("And the day after?", "Sun.");
    let committed = commit(&other, &session, python.version, &turn).await;
    assert_eq!(
        (committed.seq, committed.version.life()),
        (2, head.version.life())
    );
    let after = other.head(&session).await.unwrap();
    assert_eq!(after.state, head.state);
}

#[tokio::test]
async fn a_python_session_moved_on_by_a_python_writer_conflicts() {
    let store = store().await;
    let session = session("pythonmoved");
    let at = now_secs() - 100;
    write_python_session(&session, at, 3600).await;
    let head = store.head(&session).await.unwrap();
    python_writes_again(&session, at + 60).await;
    let (turn, trace) = (run("q", "a"), reasoning(&session, "q"));
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, head.version, &turn, &trace),
        )
        .await
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    // A commit on an empty base conflicts too: the session is not empty.
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, SessionVersion::EMPTY, &turn, &trace),
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
    let head = store.head(&session).await.unwrap();
    assert!(head.version.is_empty() && !head.exists());
    assert!(store.runs(&session, 0, 10).await.unwrap().is_empty());
    assert!(store.latest_run(&session).await.unwrap().is_none());
    // And the session starts afresh in this layout.
    commit(
        &store,
        &session,
        SessionVersion::EMPTY,
        &run("new", "start"),
    )
    .await;
    assert_eq!(messages(&store, &session).await, run("new", "start"));
}

#[tokio::test]
async fn a_python_write_after_the_take_over_is_refused_as_incompatible() {
    let store = store().await;
    let session = session("mixedfleet");
    let at = now_secs() - 100;
    write_python_session(&session, at, 3600).await;
    let head = store.head(&session).await.unwrap();
    let (turn, trace) = (run("q", "a"), reasoning(&session, "q"));
    let committed = store
        .commit(
            &session,
            Commit::new(trace.run_id, head.version, &turn, &trace),
        )
        .await
        .unwrap();
    // A Python agent of the same fleet answers on the session: it reads its own newest item
    // and writes the whole (forked) history again.
    python_writes_again(&session, at + 90).await;
    for reader in [store.clone(), common::store().await] {
        let error = reader.head(&session).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
        assert!(error.to_string().contains(session.as_str()), "{error}");
        let error = reader.entries(&session, 1, 2).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
        let next = reasoning(&session, "next");
        let error = reader
            .commit(
                &session,
                Commit::new(next.run_id, committed.version, &turn, &next),
            )
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
    }
}

/// What a Python agent writing again within the same second as the item a session was
/// continued from does: the same sort key, the history it had plus its own turn, replacing the
/// item.
async fn python_rewrites_in_the_same_second(session: &SessionId, sk: i64, history: &[Message]) {
    let mut forked = serde_json::to_value(history).unwrap();
    let turns = forked.as_array_mut().unwrap();
    turns.push(json!({"role": "user", "content": [{"text": "Python again"}]}));
    turns.push(json!({"role": "assistant", "content": [{"text": "Forked."}]}));
    let mut item = Item::new();
    item.insert("pk".into(), s(format!("messages#{session}")));
    item.insert("sk".into(), n(sk));
    item.insert("messages".into(), s(forked.to_string()));
    item.insert("expiration_time".into(), n(sk + 3600));
    put_raw(&raw_client().await, SHARED_TABLE, item).await;
}

#[tokio::test]
async fn a_python_write_in_the_same_second_is_refused_as_incompatible() {
    let store = store().await;
    let session = session("samesecond");
    // The newest Python item was written 10 s ago: a Python agent may still be writing.
    let at = now_secs() - 40;
    let (old_messages, _) = write_python_session(&session, at, 3600).await;
    let head = store.head(&session).await.unwrap();
    let (turn, trace) = (run("q", "a"), reasoning(&session, "q"));
    let committed = store
        .commit(
            &session,
            Commit::new(trace.run_id, head.version, &turn, &trace),
        )
        .await
        .unwrap();
    // The item continued from reads as itself: no refusal.
    assert_eq!(
        messages(&store, &session).await,
        [old_messages.clone(), turn.clone()].concat()
    );
    // A Python agent answers on the session within the same second: its item replaces the one
    // continued from, at the same sort key.
    python_rewrites_in_the_same_second(&session, at + 30, &old_messages).await;
    for reader in [store.clone(), common::store().await] {
        let error = reader.head(&session).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
        assert!(error.to_string().contains("same second"), "{error}");
        let error = reader.entries(&session, 1, 2).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
        let next = reasoning(&session, "next");
        let error = reader
            .commit(
                &session,
                Commit::new(next.run_id, committed.version, &turn, &next),
            )
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
        let error = reader.begin_run(&session, &next, LEASE).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
    }
}

/// Once no Python agent can write in the second of the item a session continued from, the
/// head's next write drops its digest: checks look for newer items only, reading none.
#[tokio::test]
async fn the_same_second_check_ends_once_the_second_is_past() {
    let clock = ManualClock::new();
    let store = store_with_clock(std::time::Duration::from_secs(3600), clock.clone()).await;
    let raw = raw_client().await;
    let session = session("secondpast");
    let at = clock_secs(&clock) - 40;
    write_python_session(&session, at, 36_000).await;
    let head = store.head(&session).await.unwrap();
    let first = commit(&store, &session, head.version, &run("q1", "a1")).await;
    let pk = format!("messages#{session}");
    let stored = raw_item(&raw, SHARED_TABLE, &pk, 0).await.unwrap();
    assert!(stored.contains_key("migrated_digest"), "{stored:?}");
    clock.advance(std::time::Duration::from_secs(150));
    let second = commit(&store, &session, first.version, &run("q2", "a2")).await;
    let stored = raw_item(&raw, SHARED_TABLE, &pk, 0).await.unwrap();
    assert!(!stored.contains_key("migrated_digest"), "{stored:?}");
    // A session taken over long after its item's second never keeps one.
    let late = common::session("secondlong");
    write_python_session(&late, clock_secs(&clock) - 600, 36_000).await;
    let head = store.head(&late).await.unwrap();
    commit(&store, &late, head.version, &run("q", "a")).await;
    let stored = raw_item(&raw, SHARED_TABLE, &format!("messages#{late}"), 0)
        .await
        .unwrap();
    assert!(!stored.contains_key("migrated_digest"), "{stored:?}");
    // And a newer Python item is refused all the same.
    python_writes_again(&session, clock_secs(&clock)).await;
    let (turn, trace) = (run("q3", "a3"), reasoning(&session, "q3"));
    let error = store
        .commit(
            &session,
            Commit::new(trace.run_id, second.version, &turn, &trace),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::Incompatible, "{error}");
}

fn clock_secs(clock: &ManualClock) -> i64 {
    agent_session::Clock::now(clock).as_second()
}

// ------------------------------------------------------------------------------ schema 2

/// Writes a session as the previous version of this crate did (schema 2): a conversation of
/// three entries (plain JSON, gzip, and gzip in two chunks), a stray entry past the head, and
/// a reasoning partition with its own head, a migrated bundle of two records, one run record,
/// pointers and a chunked third record.
async fn write_schema2_session(session: &SessionId) -> (Vec<Vec<Message>>, Vec<Reasoning>, i64) {
    let raw = raw_client().await;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let created = now_ms - 60_000;
    let exp = now_ms / 1000 + 3600;
    let record_exp = exp + 3600;
    let mpk = format!("messages#{session}");
    let rpk = format!("reasoning#{session}");
    let head = |pk: &str, inc: &str, version: u64| {
        Item::from([
            ("pk".into(), s(pk)),
            ("sk".into(), n(0)),
            ("schema".into(), n(2)),
            ("kind".into(), s("head")),
            ("incarnation".into(), s(inc)),
            ("version".into(), n(version)),
            ("first_seq".into(), n(1)),
            ("created_at".into(), n(created)),
            ("updated_at".into(), n(now_ms)),
            ("expires_at_ms".into(), n(now_ms + 3_600_000)),
            ("expiration_time".into(), n(exp)),
            ("record_expiration_time".into(), n(record_exp)),
            ("next_chunk".into(), n(2)),
        ])
    };
    let entry = |pk: &str, inc: &str, seq: u64, kind: &str| {
        Item::from([
            ("pk".into(), s(pk)),
            ("sk".into(), n(seq)),
            ("schema".into(), n(2)),
            ("kind".into(), s(kind)),
            ("incarnation".into(), s(inc)),
            ("run_id".into(), s(Uuid::now_v7().to_string())),
            ("created_at".into(), n(now_ms)),
            ("expiration_time".into(), n(record_exp)),
        ])
    };
    let gzip = |bytes: &[u8]| {
        use std::io::Write;
        let mut encoder = flate2_encoder();
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let turns: Vec<Vec<Message>> = (0..3)
        .map(|i| {
            run(
                &format!("old q{i} {}", "pad ".repeat(300)),
                &format!("old a{i}"),
            )
        })
        .collect();
    // Entry 1: plain JSON.
    let mut e1 = entry(&mpk, "inc-m", 1, "run");
    e1.insert("enc".into(), s("json"));
    e1.insert("body".into(), s(serde_json::to_string(&turns[0]).unwrap()));
    // Entry 2: gzip.
    let mut e2 = entry(&mpk, "inc-m", 2, "run");
    e2.insert("enc".into(), s("gzip"));
    e2.insert(
        "body".into(),
        b(gzip(&serde_json::to_vec(&turns[1]).unwrap())),
    );
    // Entry 3: gzip in two chunks.
    let compressed = gzip(&serde_json::to_vec(&turns[2]).unwrap());
    let half = compressed.len() / 2;
    let mut e3 = entry(&mpk, "inc-m", 3, "run");
    e3.insert("enc".into(), s("gzip"));
    e3.insert("chunk_first".into(), n(500_000_000));
    e3.insert("chunk_count".into(), n(2));
    e3.insert("blob_id".into(), s("blob1"));
    e3.insert("blob_bytes".into(), n(compressed.len()));
    for (part, bytes) in [&compressed[..half], &compressed[half..]]
        .into_iter()
        .enumerate()
    {
        let chunk = Item::from([
            ("pk".into(), s(&mpk)),
            ("sk".into(), n(500_000_000 + part)),
            ("schema".into(), n(2)),
            ("kind".into(), s("chunk")),
            ("incarnation".into(), s("inc-m")),
            ("blob_id".into(), s("blob1")),
            ("part".into(), n(part)),
            ("expiration_time".into(), n(record_exp)),
            ("body".into(), b(bytes.to_vec())),
        ]);
        put_raw(&raw, SHARED_TABLE, chunk).await;
    }
    // A stray entry past the head's version (an interrupted writer of that version).
    let mut stray = entry(&mpk, "crashed", 4, "run");
    stray.insert("enc".into(), s("json"));
    stray.insert("body".into(), s("[]"));
    for item in [head(&mpk, "inc-m", 3), e1, e2, e3, stray] {
        put_raw(&raw, SHARED_TABLE, item).await;
    }

    // Reasoning: a migrated bundle of two records, then one run's record (chunked, plain).
    let traces: Vec<Reasoning> = (0..3)
        .map(|i| reasoning(session, &format!("old q{i}")))
        .collect();
    let mut r1 = entry(&rpk, "inc-r", 1, "migrated");
    r1.remove("run_id");
    r1.insert("migrated_from".into(), n(1_700_000_000));
    r1.insert("enc".into(), s("json"));
    r1.insert(
        "body".into(),
        s(serde_json::to_string(&traces[..2]).unwrap()),
    );
    let json = serde_json::to_vec(&traces[2..]).unwrap();
    let mut r2 = entry(&rpk, "inc-r", 2, "run");
    r2.insert("enc".into(), s("json"));
    r2.insert("chunk_first".into(), n(500_000_000));
    r2.insert("chunk_count".into(), n(1));
    r2.insert("blob_id".into(), s("blob2"));
    r2.insert("blob_bytes".into(), n(json.len()));
    let chunk = Item::from([
        ("pk".into(), s(&rpk)),
        ("sk".into(), n(500_000_000)),
        ("schema".into(), n(2)),
        ("kind".into(), s("chunk")),
        ("incarnation".into(), s("inc-r")),
        ("blob_id".into(), s("blob2")),
        ("part".into(), n(0)),
        ("expiration_time".into(), n(record_exp)),
        ("body".into(), b(json)),
    ]);
    let pointer = Item::from([
        ("pk".into(), s(&rpk)),
        (
            "sk".into(),
            n(-((traces[2].run_id.as_u128() >> 8) as i128) - 1),
        ),
        ("schema".into(), n(2)),
        ("kind".into(), s("run_pointer")),
        ("incarnation".into(), s("inc-r")),
        ("run_id".into(), s(traces[2].run_id.to_string())),
        ("seq".into(), n(2)),
        ("expiration_time".into(), n(record_exp)),
    ]);
    for item in [head(&rpk, "inc-r", 2), r1, r2, chunk, pointer] {
        put_raw(&raw, SHARED_TABLE, item).await;
    }
    (turns, traces, created)
}

fn flate2_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default())
}

fn b(bytes: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

#[tokio::test]
async fn schema_2_sessions_load_migrate_and_continue() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("schema2");
    let (turns, traces, created) = write_schema2_session(&session).await;

    let head = store.head(&session).await.unwrap();
    assert_eq!(
        head.version,
        SessionVersion::new(created as u64, 3),
        "the life is kept"
    );
    assert_eq!((head.first_seq, head.first_run, head.runs), (1, 1, 3));
    assert!(head.state.is_empty(), "schema 2 had no state");
    assert_eq!(messages(&store, &session).await, turns.concat());
    let runs = store.runs(&session, 0, 10).await.unwrap();
    let read: Vec<Reasoning> = runs.into_iter().map(|r| r.reasoning).collect();
    assert_eq!(read, traces);

    // Migrated: the head and the records are of this schema; the old reasoning head, pointer,
    // chunk and the stray entry are gone; the conversation's old entries stay.
    let mpk = format!("messages#{session}");
    let rpk = format!("reasoning#{session}");
    let head_item = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    assert_eq!(head_item["schema"], n(3));
    assert!(!head_item.contains_key("incarnation"));
    let reasoning_items = raw_items(&raw, SHARED_TABLE, &rpk).await;
    let sks: Vec<i128> = reasoning_items.iter().map(sk_of).collect();
    assert_eq!(sks, vec![1, 2, 3]);
    assert!(reasoning_items.iter().all(|i| i["schema"] == n(3)));
    let value: Value =
        serde_json::from_str(reasoning_items[0]["reasoning"].as_s().unwrap()).unwrap();
    assert_eq!(value["query"], "old q0");
    assert!(
        raw_item(&raw, SHARED_TABLE, &mpk, 4).await.is_none(),
        "the stray entry is gone"
    );
    assert!(
        raw_item(&raw, SHARED_TABLE, &mpk, 500_000_000)
            .await
            .is_some(),
        "chunks still named stay"
    );

    // It goes on, from this process and another; migrating again changes nothing.
    let next = commit(&store, &session, head.version, &run("new q", "new a")).await;
    assert_eq!((next.seq, next.run), (4, 4));
    let other = common::store().await;
    other.migrate(&session).await.unwrap();
    assert_eq!(
        messages(&other, &session).await,
        [turns.concat(), run("new q", "new a")].concat()
    );
    assert_eq!(other.runs(&session, 0, 10).await.unwrap().len(), 4);
    // Delete removes the old items too.
    other.delete(&session).await.unwrap();
    let left: Vec<i128> = raw_items(&raw, SHARED_TABLE, &mpk)
        .await
        .iter()
        .map(sk_of)
        .collect();
    assert_eq!(left, vec![0], "only the tombstone head is left");
    assert!(raw_items(&raw, SHARED_TABLE, &rpk).await.is_empty());
}

#[tokio::test]
async fn an_interrupted_schema_2_migration_resumes() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("schema2resume");
    let (turns, traces, _) = write_schema2_session(&session).await;
    // A migration that died after writing the highest run record (over the old entry 2... and
    // beyond): record 3 is there in this schema, the old head is still of schema 2.
    let rpk = format!("reasoning#{session}");
    let mut record = Item::from([
        ("pk".into(), s(&rpk)),
        ("sk".into(), n(3)),
        ("schema".into(), n(3)),
        ("kind".into(), s("run")),
        ("status".into(), s("completed")),
        ("expiration_time".into(), n(now_secs() + 7200)),
    ]);
    record.insert(
        "reasoning".into(),
        s(serde_json::to_string(&traces[2]).unwrap()),
    );
    put_raw(&raw, SHARED_TABLE, record).await;
    assert_eq!(messages(&store, &session).await, turns.concat());
    let read: Vec<Reasoning> = store
        .runs(&session, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.reasoning)
        .collect();
    assert_eq!(read, traces);
}
