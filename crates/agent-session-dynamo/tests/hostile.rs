//! Damaged and hostile items on DynamoDB Local: wrong types, missing attributes, bad JSON,
//! truncated gzip, gzip bombs, chunk sets with a part missing or extra, gaps, heads pointing
//! past the data, absurd counts. Each is `CorruptedData` naming the session and the item —
//! except a run record, which `runs` and `latest_run` return as a stand-in in its place
//! (`RunRecord::damaged`, naming the item) so that it never hides the others — no read
//! allocates by a stored count, and other sessions keep working.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests: a panic is a failed assertion.

mod common;

use std::io::Write;

use agent_core::{AgentEvent, Message, RunStatus};
use agent_session::{
    RunRecord, SessionError, SessionErrorKind, SessionId, SessionStore, SessionVersion, StoredEvent,
};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_dynamo::aws_sdk_dynamodb::primitives::Blob;
use agent_session_dynamo::aws_sdk_dynamodb::types::AttributeValue;
use common::*;

type Item = std::collections::HashMap<String, AttributeValue>;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Rewrites one stored item.
async fn corrupt(pk: &str, sk: i128, change: impl FnOnce(&mut Item)) {
    let raw = raw_client().await;
    let mut item = raw_item(&raw, SHARED_TABLE, pk, sk)
        .await
        .unwrap_or_else(|| panic!("no item {pk} {sk}"));
    change(&mut item);
    put_raw(&raw, SHARED_TABLE, item).await;
}

async fn remove(pk: &str, sk: i128) {
    raw_client()
        .await
        .delete_item()
        .table_name(SHARED_TABLE)
        .key("pk", s(pk))
        .key("sk", n(sk))
        .send()
        .await
        .unwrap();
}

/// A session of three turns.
async fn three_turns(store: &DynamoSessionStore, prefix: &str) -> SessionId {
    let session = session(prefix);
    let mut base = SessionVersion::EMPTY;
    for i in 0..3 {
        base = commit(
            store,
            &session,
            base,
            &run(&format!("q{i}"), &format!("a{i}")),
        )
        .await
        .version;
    }
    session
}

fn assert_corrupted(error: &SessionError, session: &SessionId, sk: &str) {
    assert_eq!(error.kind(), SessionErrorKind::CorruptedData, "{error}");
    assert_eq!(error.session(), Some(session.as_str()), "{error}");
    assert!(error.message().contains(&format!("sk={sk}")), "{error}");
}

async fn read_all(
    store: &DynamoSessionStore,
    session: &SessionId,
) -> Result<Vec<Message>, SessionError> {
    let head = store.head(session).await?;
    let entries = store
        .entries(session, head.first_seq, head.last_seq())
        .await?;
    Ok(entries
        .into_iter()
        .flat_map(|e| e.body.messages().to_vec())
        .collect())
}

#[tokio::test]
async fn damaged_heads_and_entries_are_corrupted_data_naming_the_item() {
    let store = store().await;
    type Change = fn(&mut Item);
    let cases: [(&str, i128, Change, &str); 8] = [
        (
            "head-type",
            0,
            |i| {
                i.insert("last_seq".into(), s("3"));
            },
            "0",
        ),
        (
            "head-missing",
            0,
            |i| {
                i.remove("life");
            },
            "0",
        ),
        (
            "head-range",
            0,
            |i| {
                i.insert("last_seq".into(), n(5_000_000_000u64));
            },
            "0",
        ),
        (
            "bad-json",
            2,
            |i| {
                i.insert("messages".into(), s("[{\"role\":"));
            },
            "2",
        ),
        (
            "wrong-type",
            2,
            |i| {
                i.insert("messages".into(), n(7));
            },
            "2",
        ),
        (
            "truncated-gzip",
            2,
            |i| {
                let full = gzip(br#"[{"role":"user","content":[{"text":"hi"}]}]"#);
                i.insert(
                    "messages".into(),
                    AttributeValue::B(Blob::new(full[..full.len() / 2].to_vec())),
                );
                i.insert("enc".into(), s("gzip"));
                i.insert("size".into(), n(44));
            },
            "2",
        ),
        (
            "gzip-bomb",
            2,
            |i| {
                // 64 MB of zeros in about 64 KB, claiming to be 100 bytes.
                i.insert(
                    "messages".into(),
                    AttributeValue::B(Blob::new(gzip(&vec![0u8; 64 << 20]))),
                );
                i.insert("enc".into(), s("gzip"));
                i.insert("size".into(), n(100));
            },
            "2",
        ),
        (
            "absurd-size",
            2,
            |i| {
                i.insert("messages".into(), AttributeValue::B(Blob::new(gzip(b"[]"))));
                i.insert("enc".into(), s("gzip"));
                i.insert("size".into(), n(1_000_000_000_000u64));
            },
            "2",
        ),
    ];
    for (label, sk, change, at) in cases {
        let session = three_turns(&store, label).await;
        corrupt(&format!("messages#{session}"), sk, change).await;
        let error = read_all(&store, &session).await.unwrap_err();
        assert_corrupted(&error, &session, at);
    }
    // Other sessions are untouched.
    let fine = three_turns(&store, "fine").await;
    assert_eq!(read_all(&store, &fine).await.unwrap().len(), 6);
}

#[tokio::test]
async fn gaps_and_heads_pointing_past_the_data_are_never_silent() {
    let store = store().await;
    let session = three_turns(&store, "gap").await;
    remove(&format!("messages#{session}"), 2).await;
    let error = read_all(&store, &session).await.unwrap_err();
    assert_corrupted(&error, &session, "2");

    let session = three_turns(&store, "past").await;
    corrupt(&format!("messages#{session}"), 0, |head| {
        head.insert("last_seq".into(), n(5));
    })
    .await;
    let error = read_all(&store, &session).await.unwrap_err();
    assert_corrupted(&error, &session, "4");

    // A run record missing where the head says runs are: a stand-in in its place, saying so,
    // and the other records as they are.
    let session = three_turns(&store, "runs-gap").await;
    remove(&format!("reasoning#{session}"), 2).await;
    let runs = store.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2, 3]);
    assert_damaged(&runs[1], &session, 2, "missing");
    assert!(!runs[0].is_damaged() && !runs[2].is_damaged());
    remove(&format!("reasoning#{session}"), 3).await;
    let latest = store.latest_run(&session).await.unwrap().unwrap();
    assert_damaged(&latest, &session, 3, "missing");
    // A head past the runs: the runs it names that are not there.
    corrupt(&format!("messages#{session}"), 0, |head| {
        head.insert("runs".into(), n(5));
    })
    .await;
    let runs = store.runs(&session, 0, 10).await.unwrap();
    assert_eq!(runs.len(), 5);
    assert!(!runs[0].is_damaged());
    for (record, run) in runs[1..].iter().zip(2..) {
        assert_damaged(record, &session, run, "missing");
    }
    assert_eq!(store.runs(&session, 3, 1).await.unwrap()[0].run, 4);
    // A head claiming billions of runs: a bounded page, not billions of stand-ins.
    corrupt(&format!("messages#{session}"), 0, |head| {
        head.insert("runs".into(), n(4_000_000_000u64));
    })
    .await;
    let runs = store.runs(&session, 0, usize::MAX).await.unwrap();
    assert_eq!(runs.len(), 1 + 1000, "the record there and 1,000 stand-ins");
    assert!(
        store
            .latest_run(&session)
            .await
            .unwrap()
            .unwrap()
            .is_damaged()
    );
    // The conversation stays strict: a turn never runs on a history with a hole.
    assert_eq!(read_all(&store, &session).await.unwrap().len(), 6);
}

/// A record that could not be read, standing in for run `run`, names its item and says why.
fn assert_damaged(record: &RunRecord, session: &SessionId, run: u64, why: &str) {
    assert_eq!(record.run, run);
    assert!(record.is_damaged(), "{record:?}");
    assert_eq!(record.reasoning.status, RunStatus::Damaged);
    let failure = record.reasoning.error.as_ref().unwrap();
    assert_eq!(failure.kind, "store.damaged_record");
    assert!(
        failure
            .message
            .contains(&format!("pk=`reasoning#{session}` sk={run}")),
        "{failure:?}"
    );
    assert!(failure.message.contains(why), "{failure:?}");
}

#[tokio::test]
async fn chunk_sets_with_a_part_missing_or_extra_are_corrupted_data() {
    let store = builder(SHARED_TABLE)
        .await
        .compress_above(None)
        .build()
        .await
        .unwrap();
    let raw = raw_client().await;
    for case in ["missing", "extra", "absurd-count"] {
        let session = session(&format!("chunks-{case}"));
        let big = vec![
            Message::user_text("dump"),
            Message::assistant_text(noise(1_200_000)),
        ];
        commit(&store, &session, SessionVersion::EMPTY, &big).await;
        let pk = format!("messages#{session}");
        let chunks: Vec<Item> = raw_items(&raw, SHARED_TABLE, &pk)
            .await
            .into_iter()
            .filter(|item| sk_of(item) < 0)
            .collect();
        assert!(chunks.len() >= 2);
        let at = match case {
            "missing" => {
                let victim = sk_of(&chunks[0]);
                remove(&pk, victim).await;
                victim.to_string()
            }
            "extra" => {
                let mut extra = chunks[0].clone();
                let parts = chunks.len() as i128;
                let sk = -(4096 + parts + 1);
                extra.insert("sk".into(), n(sk));
                extra.insert("part".into(), n(parts));
                put_raw(&raw, SHARED_TABLE, extra).await;
                sk.to_string()
            }
            _ => {
                corrupt(&pk, 1, |entry| {
                    entry.insert("chunks".into(), n(1_000_000_000_000u64));
                })
                .await;
                "1".to_owned()
            }
        };
        let error = read_all(&store, &session).await.unwrap_err();
        assert_corrupted(&error, &session, &at);
    }
}

/// Damaged run records are stand-ins in their place (`RunRecord::damaged`), never an error
/// hiding the others; damaged events are `CorruptedData`.
#[tokio::test]
async fn damaged_records_stand_in_and_damaged_events_are_corrupted_data() {
    let store = store().await;
    type Change = fn(&mut Item);
    let cases: [(&str, Change, &str); 5] = [
        (
            "json",
            |record| {
                record.insert("reasoning".into(), s("{not json"));
            },
            "bad reasoning JSON",
        ),
        (
            "type",
            |record| {
                record.insert("status".into(), n(1));
            },
            "attribute `status` is not a string",
        ),
        (
            "bomb",
            |record| {
                record.insert(
                    "reasoning".into(),
                    AttributeValue::B(Blob::new(gzip(&vec![b' '; 64 << 20]))),
                );
                record.insert("enc".into(), s("gzip"));
                record.insert("size".into(), n(100));
            },
            "decompresses to more than 100 bytes",
        ),
        (
            "lease-type",
            |record| {
                record.insert("lease_expires_at".into(), s("soon"));
            },
            "attribute `lease_expires_at` is not a number",
        ),
        (
            "kind",
            |record| {
                record.insert("kind".into(), s("turn"));
            },
            "a `turn` item where a run record belongs",
        ),
    ];
    for (label, change, why) in cases {
        let session = three_turns(&store, &format!("records-{label}")).await;
        corrupt(&format!("reasoning#{session}"), 2, change).await;
        let runs = store.runs(&session, 0, 10).await.unwrap();
        assert_eq!(runs.len(), 3, "{label}");
        assert_damaged(&runs[1], &session, 2, why);
        assert_eq!(runs[0].reasoning.query, "q0");
        assert_eq!(runs[2].reasoning.query, "q2");
        corrupt(&format!("reasoning#{session}"), 3, change).await;
        let latest = store.latest_run(&session).await.unwrap().unwrap();
        assert_damaged(&latest, &session, 3, why);
        // The conversation is untouched, and the session goes on.
        assert_eq!(read_all(&store, &session).await.unwrap().len(), 6);
        let head = store.head(&session).await.unwrap();
        commit(&store, &session, head.version, &run("q3", "a3")).await;
        assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 4);
    }

    let session = common::session("events");
    let trace = reasoning(&session, "live");
    let lease = store.begin_run(&session, &trace, LEASE).await.unwrap();
    let events: Vec<StoredEvent> = (1..=3)
        .map(|index| {
            StoredEvent::new(
                index,
                AgentEvent::TextDelta {
                    step: 1,
                    text: format!("t{index}"),
                },
            )
        })
        .collect();
    store
        .append_events(&session, &lease, &events)
        .await
        .unwrap();
    let sk = (1i128 << 20) + 2;
    corrupt(&format!("events#{session}"), sk, |event| {
        event.insert("event".into(), s("]"));
    })
    .await;
    let error = store.events(&session, 1, 0, 10).await.unwrap_err();
    assert_corrupted(&error, &session, &sk.to_string());
    assert_eq!(store.events(&session, 1, 2, 10).await.unwrap().len(), 1);
}
