//! Session state on DynamoDB Local: the head item's `state` attribute as stored, large states
//! past the store's cache, commits of several processes merging per key, a damaged state, a
//! state left in the head by a version that did not know it, and paused runs continued with
//! their record. The conformance suite covers the contract; these cover this layout.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests: a panic is a failed assertion.

mod common;

use agent_core::{MAX_STATE_VALUE_BYTES, Reasoning, RunStatus, StateChanges};
use agent_session::{
    Commit, Committed, RunClaim, SessionError, SessionErrorKind, SessionId, SessionStore,
    SessionVersion,
};
use agent_session_dynamo::DynamoSessionStore;
use common::*;
use serde_json::{Value, json};

fn changes(pairs: &[(&str, Value)]) -> StateChanges {
    let mut changes = StateChanges::new();
    for (key, value) in pairs {
        changes.set_value(key, value.clone()).unwrap();
    }
    changes
}

async fn commit_state(
    store: &DynamoSessionStore,
    session: &SessionId,
    base: SessionVersion,
    changes: &StateChanges,
) -> Result<Committed, SessionError> {
    let trace = reasoning(session, "state");
    let turn = run("state", "ok");
    store
        .commit(
            session,
            Commit::new(trace.run_id, base, &turn, &trace).with_state(Some(changes)),
        )
        .await
}

#[tokio::test]
async fn the_state_is_readable_json_in_the_head_item_and_goes_with_a_delete() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("state-item");
    let mpk = format!("messages#{session}");
    let one = commit_state(
        &store,
        &session,
        SessionVersion::EMPTY,
        &changes(&[("plan", json!("pro")), ("n", json!(1))]),
    )
    .await
    .unwrap();
    let head = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    let stored: Value = serde_json::from_str(head["state"].as_s().unwrap()).unwrap();
    assert_eq!(stored, json!({"n": 1, "plan": "pro"}));
    assert_eq!(head["state_life"], n(one.version.life()));
    // A commit without changes leaves it; removing every key removes the attribute.
    let two = commit(&store, &session, one.version, &run("plain", "ok")).await;
    let mut none = StateChanges::new();
    none.remove("plan").unwrap();
    none.remove("n").unwrap();
    assert_eq!(store.head(&session).await.unwrap().state.len(), 2);
    commit_state(&store, &session, two.version, &none)
        .await
        .unwrap();
    let head = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    assert!(!head.contains_key("state") && !head.contains_key("state_life"));
    assert!(store.head(&session).await.unwrap().state.is_empty());
    // A delete takes the state out of the tombstone.
    let head = store.head(&session).await.unwrap();
    commit_state(&store, &session, head.version, &changes(&[("k", json!(1))]))
        .await
        .unwrap();
    store.delete(&session).await.unwrap();
    let tomb = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    assert!(!tomb.contains_key("state"), "{tomb:?}");
}

#[tokio::test]
async fn large_states_and_several_processes_merge_per_key() {
    let (a, b) = (store().await, store().await);
    let session = session("state-large");
    // A state larger than the cache keeps, written and changed again from the same process
    // (whose cached head does not hold it) and from another.
    let big = "x".repeat(MAX_STATE_VALUE_BYTES - 16);
    let one = commit_state(
        &a,
        &session,
        SessionVersion::EMPTY,
        &changes(&[("big1", json!(big)), ("big2", json!(big))]),
    )
    .await
    .unwrap();
    let two = commit_state(&a, &session, one.version, &changes(&[("a", json!(1))]))
        .await
        .unwrap();
    let three = commit_state(&b, &session, two.version, &changes(&[("b", json!(2))]))
        .await
        .unwrap();
    // `a` planned from its cache (at `two`): the condition fails, and the run re-bases.
    let conflict = commit_state(&a, &session, two.version, &changes(&[("c", json!(3))]))
        .await
        .unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");
    commit_state(&a, &session, three.version, &changes(&[("c", json!(3))]))
        .await
        .unwrap();
    for reader in [&a, &b] {
        let state = reader.head(&session).await.unwrap().state;
        let keys: Vec<&String> = state.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "big1", "big2", "c"]);
        assert_eq!(
            state.get::<String>("big2").unwrap().as_deref(),
            Some(big.as_str())
        );
    }
    // Too large in all: refused, nothing written.
    let head = a.head(&session).await.unwrap();
    let refused = commit_state(
        &a,
        &session,
        head.version,
        &changes(&[
            ("big3", json!(big)),
            ("big4", json!(big)),
            ("big5", json!(big)),
        ]),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.kind(), SessionErrorKind::InvalidInput, "{refused}");
    assert_eq!(b.head(&session).await.unwrap(), head);
    // Concurrent commits of two processes on one head: one conflicts, re-bases, and both keys
    // are kept.
    let (cx, cy) = (changes(&[("x", json!(1))]), changes(&[("y", json!(2))]));
    let (x, y) = tokio::join!(
        commit_state(&a, &session, head.version, &cx),
        commit_state(&b, &session, head.version, &cy),
    );
    let (loser, key) = match (x, y) {
        (Ok(_), Err(e)) => (e, ("y", &b)),
        (Err(e), Ok(_)) => (e, ("x", &a)),
        other => panic!("exactly one commit wins: {other:?}"),
    };
    assert!(loser.is_conflict(), "{loser}");
    let now = key.1.head(&session).await.unwrap();
    commit_state(key.1, &session, now.version, &changes(&[(key.0, json!(0))]))
        .await
        .unwrap();
    let state = a.head(&session).await.unwrap().state;
    assert!(state.get_value("x").is_some() && state.get_value("y").is_some());
}

#[tokio::test]
async fn a_damaged_state_fails_only_what_reads_it() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("state-damaged");
    let mpk = format!("messages#{session}");
    let one = commit_state(
        &store,
        &session,
        SessionVersion::EMPTY,
        &changes(&[("k", json!(1))]),
    )
    .await
    .unwrap();
    let mut head = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    head.insert("state".into(), s("{\"k\":"));
    put_raw(&raw, SHARED_TABLE, head.clone()).await;
    let error = store.head(&session).await.unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::CorruptedData, "{error}");
    assert_eq!(error.session(), Some(session.as_str()));
    assert!(error.message().contains("sk=0"), "{error}");
    // The conversation and the runs still read; a commit that does not change the state goes
    // on (and leaves it as it is); one that changes it cannot build on it.
    assert_eq!(store.entries(&session, 1, 1).await.unwrap().len(), 1);
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 1);
    let two = commit(&store, &session, one.version, &run("plain", "ok")).await;
    let error = commit_state(&store, &session, two.version, &changes(&[("j", json!(2))]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SessionErrorKind::CorruptedData, "{error}");
    assert_eq!(
        raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap()["state"],
        s("{\"k\":")
    );
    // A state left by an earlier life (a version that did not know the state started this
    // one) is none.
    let mut head = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    head.insert("state".into(), s("{\"old\":true}"));
    head.insert("state_life".into(), n(one.version.life() - 1));
    put_raw(&raw, SHARED_TABLE, head).await;
    let fresh = common::store().await;
    assert!(fresh.head(&session).await.unwrap().state.is_empty());
    commit_state(
        &fresh,
        &session,
        two.version,
        &changes(&[("new", json!(1))]),
    )
    .await
    .unwrap();
    let state = fresh.head(&session).await.unwrap().state;
    assert_eq!(state.len(), 1, "the old life's state is not built on");
}

#[tokio::test]
async fn a_paused_run_is_continued_by_one_claimant_with_its_record() {
    let store = store().await;
    let raw = raw_client().await;
    let session = session("state-paused");
    let mut running = Reasoning::start("pay", Some(session.to_string()));
    running.status = RunStatus::Running;
    let lease = store.begin_run(&session, &running, LEASE).await.unwrap();
    let beat = store
        .latest_run(&session)
        .await
        .unwrap()
        .unwrap()
        .heartbeat_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut paused = running.clone();
    paused.status = RunStatus::Paused;
    // Large enough to be compressed: the record's attributes change shape.
    paused.final_response = Some(noise(100_000));
    store
        .finish_run(&session, Some(&lease), &paused)
        .await
        .unwrap();
    let rpk = format!("reasoning#{session}");
    let item = raw_item(&raw, SHARED_TABLE, &rpk, 1).await.unwrap();
    assert_eq!(item["status"], s("paused"));
    assert!(!item.contains_key("lease") && !item.contains_key("lease_expires_at"));
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.heartbeat_at, beat, "the pause keeps the heartbeat");
    assert_eq!(record.reasoning, paused);
    // Continued with a smaller record: the old payload's attributes go.
    let claim = RunClaim::new(lease.run, beat, LEASE).with_reasoning(running.clone());
    let other = common::store().await;
    let stale = RunClaim::new(lease.run, beat, LEASE).with_reasoning(running.clone());
    let (won, lost) = tokio::join!(
        store.claim_run(&session, &claim),
        other.claim_run(&session, &stale)
    );
    let (won, lost) = match (won, lost) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one claim wins: {other:?}"),
    };
    assert!(lost.is_conflict(), "{lost}");
    let item = raw_item(&raw, SHARED_TABLE, &rpk, 1).await.unwrap();
    assert_eq!(item["status"], s("running"));
    assert_eq!(item["lease"], s(won.lease.to_string()));
    assert!(
        !item.contains_key("enc") && !item.contains_key("size"),
        "{item:?}"
    );
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning, running);
    // It pauses again and is continued again; then it ends, and a pause repeated is refused
    // as the final record kept.
    store
        .finish_run(&session, Some(&won), &paused)
        .await
        .unwrap();
    let beat = store
        .latest_run(&session)
        .await
        .unwrap()
        .unwrap()
        .heartbeat_at;
    let again = store
        .claim_run(
            &session,
            &RunClaim::new(lease.run, beat, LEASE).with_reasoning(running.clone()),
        )
        .await
        .unwrap();
    let mut failed = running.clone();
    failed.status = RunStatus::Failed;
    assert_eq!(
        store
            .finish_run(&session, Some(&again), &failed)
            .await
            .unwrap(),
        lease.run
    );
    assert_eq!(
        store
            .finish_run(&session, Some(&again), &paused)
            .await
            .unwrap(),
        lease.run
    );
    let record = store.latest_run(&session).await.unwrap().unwrap();
    assert_eq!(record.reasoning.status, RunStatus::Failed);
    assert_eq!(store.runs(&session, 0, 10).await.unwrap().len(), 1);
}

/// The state's keys as a sorted list.
fn keys(state: &agent_core::SessionState) -> Vec<String> {
    state.iter().map(|(key, _)| key.clone()).collect()
}

/// The race `update_state` opens: it changes the state without an entry, so a commit planned
/// from a head read (here: cached) before it, conditioned on the entries alone, would write
/// the older state back. Process `a` caches the head; process `b` changes the state; `a`
/// commits from its cache, with changes to the state and without: `b`'s keys survive each
/// time, and `a`'s commit is applied on them (planned again on the head the failed condition
/// returns, with no conflict for the run).
#[tokio::test]
async fn a_commit_planned_before_another_process_changed_the_state_keeps_the_change() {
    let (a, b) = (store().await, store().await);
    let raw = raw_client().await;
    let session = session("state-race");
    let mpk = format!("messages#{session}");
    let one = commit_state(
        &a,
        &session,
        SessionVersion::EMPTY,
        &changes(&[("a0", json!(0))]),
    )
    .await
    .unwrap();
    // `b`, another process, changes the state; `a`'s cached head is the one before.
    let updated = b
        .update_state(&session, &changes(&[("b1", json!("kept"))]))
        .await
        .unwrap();
    assert_eq!(updated.version, one.version, "no entry");
    assert_eq!(keys(&updated.state), ["a0", "b1"]);
    // `a` commits a change to the state planned from its cache (no read first).
    let before = a.metrics();
    let two = commit_state(&a, &session, one.version, &changes(&[("a1", json!(1))]))
        .await
        .unwrap();
    let cost = a.metrics().since(&before);
    let state = b.head(&session).await.unwrap().state;
    assert_eq!(keys(&state), ["a0", "a1", "b1"]);
    assert_eq!(state.get::<String>("b1").unwrap().as_deref(), Some("kept"));
    assert!(!two.replayed);
    assert_eq!(cost.operations.get("GetItem"), None, "{cost:?}");
    assert_eq!(
        cost.operations.get("TransactWriteItems"),
        Some(&2),
        "refused once, then written on the state as it is: {cost:?}"
    );

    // Again, with a commit that does not change the state: it leaves the state as stored.
    b.update_state(&session, &changes(&[("b2", json!(2))]))
        .await
        .unwrap();
    let before = a.metrics();
    let three = commit(&a, &session, two.version, &run("plain", "ok")).await;
    let cost = a.metrics().since(&before);
    assert_eq!(
        cost.operations.get("TransactWriteItems"),
        Some(&1),
        "{cost:?}"
    );
    assert_eq!(
        keys(&b.head(&session).await.unwrap().state),
        ["a0", "a1", "b1", "b2"]
    );
    // `a`'s cache now holds the entry of that commit with the state before `b2`: its next
    // change to the state is refused once and applied on `b2`.
    let mut remove = StateChanges::new();
    remove.remove("b1").unwrap();
    commit_state(&a, &session, three.version, &remove)
        .await
        .unwrap();
    let head = b.head(&session).await.unwrap();
    assert_eq!(keys(&head.state), ["a0", "a1", "b2"]);
    // Every write of the state counted: two commits and two updates after the first commit.
    let item = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    assert_eq!(number(&item, "state_version"), 5);
}

/// The other way round: an update planned from a head cached before another process's commit
/// changed the state is refused and applied on the commit's state. The update touches the state
/// alone: the session's expiry (and the records') is left as it was, and no entry or run is
/// written.
#[tokio::test]
async fn an_update_planned_before_a_commit_keeps_the_commit_and_leaves_the_expiry() {
    let (a, b) = (store().await, store().await);
    let raw = raw_client().await;
    let session = session("state-update");
    let mpk = format!("messages#{session}");
    let one = commit_state(
        &a,
        &session,
        SessionVersion::EMPTY,
        &changes(&[("a0", json!(0))]),
    )
    .await
    .unwrap();
    // `b` caches the head by an update, then `a` commits a change.
    b.update_state(&session, &changes(&[("b0", json!(0))]))
        .await
        .unwrap();
    let two = commit_state(&a, &session, one.version, &changes(&[("a1", json!(1))]))
        .await
        .unwrap();
    let stored = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    let before = b.metrics();
    let head = b
        .update_state(&session, &changes(&[("b1", json!(1))]))
        .await
        .unwrap();
    let cost = b.metrics().since(&before);
    assert_eq!(keys(&head.state), ["a0", "a1", "b0", "b1"]);
    assert_eq!(head.version, two.version);
    assert_eq!(
        cost.operations.get("UpdateItem"),
        Some(&2),
        "refused once, then written on the state as it is: {cost:?}"
    );
    assert_eq!(a.head(&session).await.unwrap(), head);
    // Only the state and its version changed in the head item.
    let after = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    for (name, value) in &stored {
        if name != "state" && name != "state_version" {
            assert_eq!(after.get(name), Some(value), "{name}");
        }
    }
    assert_eq!(after.len(), stored.len());
    assert_eq!(
        number(&after, "state_version"),
        number(&stored, "state_version") + 1
    );
    // Removing every key removes the attribute.
    let mut none = StateChanges::new();
    for key in ["a0", "a1", "b0", "b1"] {
        none.remove(key).unwrap();
    }
    assert!(
        b.update_state(&session, &none)
            .await
            .unwrap()
            .state
            .is_empty()
    );
    let item = raw_item(&raw, SHARED_TABLE, &mpk, 0).await.unwrap();
    assert!(!item.contains_key("state") && !item.contains_key("state_life"));
}

/// `update_state` needs a live session with a conversation: one that never was, has only a
/// run, was deleted or expired is `NotFound` (decided on a head read afresh, not on a cached
/// one), and a state too large is refused with nothing written.
#[tokio::test]
async fn an_update_needs_a_live_session_and_a_state_that_fits() {
    let clock = ManualClock::new();
    let store = store_with_clock(std::time::Duration::from_secs(60), clock.clone()).await;
    let other = store_with_clock(std::time::Duration::from_secs(60), clock.clone()).await;
    let set = changes(&[("k", json!(1))]);
    let not_found = async |session: &SessionId| {
        let error = store.update_state(session, &set).await.unwrap_err();
        assert_eq!(error.kind(), SessionErrorKind::NotFound, "{error}");
    };
    not_found(&session("state-never")).await;
    let begun = session("state-begun");
    store
        .begin_run(&begun, &reasoning(&begun, "q"), LEASE)
        .await
        .unwrap();
    not_found(&begun).await;
    let deleted = session("state-deleted");
    commit(&store, &deleted, SessionVersion::EMPTY, &run("d", "ok")).await;
    other.delete(&deleted).await.unwrap();
    not_found(&deleted).await;

    let live = session("state-live");
    let one = commit(&store, &live, SessionVersion::EMPTY, &run("l", "ok")).await;
    let big = "x".repeat(MAX_STATE_VALUE_BYTES - 16);
    let huge = changes(&[
        ("b1", json!(big)),
        ("b2", json!(big)),
        ("b3", json!(big)),
        ("b4", json!(big)),
        ("b5", json!(big)),
    ]);
    let refused = store.update_state(&live, &huge).await.unwrap_err();
    assert_eq!(refused.kind(), SessionErrorKind::InvalidInput, "{refused}");
    assert!(store.head(&live).await.unwrap().state.is_empty());
    // Half a time to live later, a large state (past what the cache keeps) is changed on the
    // state as stored.
    clock.advance(std::time::Duration::from_secs(30));
    let large = changes(&[("b1", json!(big)), ("b2", json!(big))]);
    store.update_state(&live, &large).await.unwrap();
    let head = store.update_state(&live, &set).await.unwrap();
    assert_eq!(keys(&head.state), ["b1", "b2", "k"]);
    // The updates did not extend the session's life: it expires a time to live after the
    // commit (not after them), and is then not found; a new life starts without its state.
    assert_eq!(head.expires_at, store.head(&live).await.unwrap().expires_at);
    clock.advance(std::time::Duration::from_secs(31));
    not_found(&live).await;
    let again = commit(&store, &live, SessionVersion::EMPTY, &run("again", "ok")).await;
    assert_ne!(again.version.life(), one.version.life());
    assert!(store.head(&live).await.unwrap().state.is_empty());
}
