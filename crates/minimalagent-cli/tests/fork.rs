//! `minimalagent sessions fork` on SQLite stores written by real agent runs (scripted model):
//! whole, after a run, after a tool step, into another store; what `show` says of forks; and
//! the exit codes of a refused fork.
#![cfg(feature = "sqlite")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_copies_the_conversation_and_both_sessions_say_so() {
    let store = sqlite_store().await;
    populate(&store.url).await;

    // The whole conversation, in the same store.
    let output = run_on(&store.url, &["sessions", "fork", "weather", "whole"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Forked session `weather` after run 2 into `whole`: 2 turns in SQLite file"),
        "{text}"
    );
    assert!(
        text.contains("`weather` lists the fork in its state (fork.child:whole)"),
        "{text}"
    );

    // After run 1, as JSON.
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "fork",
            "weather",
            "first",
            "--after-run",
            "1",
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let forked: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(forked["session"], "first");
    assert_eq!(forked["turns"], 1);
    assert_eq!(forked["origin"]["session"], "weather");
    assert_eq!(forked["origin"]["run"], 1);
    assert_eq!(forked["linked_in_source"], true);
    assert_eq!(forked["store"], store.url.as_str());

    // Within run 1, after its tool step: the query, the tool calls and their results.
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "fork",
            "weather",
            "stepped",
            "--after-step",
            "1.1",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("after run 1 step 1 into `stepped`: 1 turn"),
        "{}",
        stdout(&output)
    );

    // The fork says where it came from; the source lists its forks.
    let output = run_on(&store.url, &["sessions", "show", "stepped"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("forked from weather after run 1 step 1"),
        "{text}"
    );
    assert!(text.contains("How were sales in 2025?"), "{text}");
    assert!(text.contains("← result (tool-1)"), "{text}");
    assert!(
        !text.contains("Sales were up in EMEA."),
        "the answer comes after the cut:\n{text}"
    );
    let output = run_on(&store.url, &["sessions", "show", "weather"]);
    let text = stdout(&output);
    assert!(
        text.contains(
            "forks: whole (after run 2), first (after run 1), stepped (after run 1 step 1)"
        ),
        "{text}"
    );
    let output = run_on(&store.url, &["sessions", "show", "whole", "--json"]);
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        document["head"]["state"]["fork.origin"]["session"],
        "weather"
    );
    assert_eq!(document["conversation"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_goes_to_another_store() {
    let source = sqlite_store().await;
    populate(&source.url).await;
    let target = sqlite_store().await;
    let output = run_on(
        &source.url,
        &[
            "sessions",
            "fork",
            "weather",
            "copied",
            "--to-store",
            &target.url,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("2 turns from SQLite file"), "{text}");
    let output = run_on(&target.url, &["sessions", "show", "copied"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("forked from weather after run 2"),
        "{}",
        stdout(&output)
    );
    let output = run_on(&source.url, &["sessions", "show", "copied"]);
    assert_eq!(output.status.code(), Some(3), "not in the source's store");

    // The target store must exist, as every store the command opens.
    let missing = format!("sqlite://{}", source.dir.path().join("typo.db").display());
    let output = run_on(
        &source.url,
        &["sessions", "fork", "weather", "x", "--to-store", &missing],
    );
    assert_one_line_error(&output, 4, &["no SQLite session store at", "typo.db"]);
    assert!(!source.dir.path().join("typo.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_forks_have_typed_exit_codes() {
    let store = sqlite_store().await;
    populate(&store.url).await;

    // No such source: 3.
    let output = run_on(&store.url, &["sessions", "fork", "nobody", "new"]);
    assert_one_line_error(&output, 3, &["session `nobody` not found"]);

    // The new session exists: 7, a conflict; nothing is written.
    let output = run_on(&store.url, &["sessions", "fork", "weather", "hostile"]);
    assert_one_line_error(&output, 7, &["session `hostile` exists", "new session"]);
    let output = run_on(&store.url, &["sessions", "show", "hostile"]);
    assert!(!stdout(&output).contains("forked from"));

    // A run the source does not hold, a step that is not a tool step (run 2 answered at
    // once), a step the run does not have: the command line's mistake, 2.
    for (flag, value, needle) in [
        ("--after-run", "9", "run 9"),
        ("--after-step", "2.1", "step 1 of run 2"),
        ("--after-step", "1.5", "run 1"),
    ] {
        let output = run_on(
            &store.url,
            &["sessions", "fork", "weather", "new", flag, value],
        );
        assert_one_line_error(&output, 2, &[needle, "sessions show weather"]);
    }
    let output = run_on(&store.url, &["sessions", "show", "new"]);
    assert_eq!(output.status.code(), Some(3), "no session was made");

    // Malformed points and ids: 2.
    for args in [
        &["sessions", "fork", "weather", "new", "--after-step", "1"][..],
        &["sessions", "fork", "weather", "new", "--after-step", "0.1"],
        &[
            "sessions",
            "fork",
            "weather",
            "new",
            "--after-run",
            "1",
            "--after-step",
            "1.1",
        ],
    ] {
        let output = run_on(&store.url, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = run_on(&store.url, &["sessions", "fork", "weather", "bad id!"]);
    assert_one_line_error(&output, 2, &["session id"]);
}
