//! `sessions pending`, `approve`, `deny` and `answer` against runs that real agents (scripted
//! model, a tool held for approval) paused in a SQLite file; then the agent goes on with the
//! decisions the command recorded. Also how `show` and `follow` print paused runs.
#![cfg(feature = "sqlite")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use agent_testkit::ScriptedModel;
use common::*;
use minimalagent::{Decisions, RunOutcome, RunStatus, Sessions, ToolCallStatus};
use serde_json::{Value, json};

/// The `pending --json` lines.
fn pending_json(url: &str, session: Option<&str>) -> Vec<Value> {
    let mut args = vec!["sessions", "pending", "--json"];
    args.extend(session);
    let output = run_on(url, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_lists_the_held_calls_of_every_session_or_of_one() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let _pay = paused_run(&store.url, "pay").await;
    let _later = paused_run(&store.url, "later").await;

    let output = run_on(&store.url, &["sessions", "pending"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "a header and four held calls:\n{text}");
    for column in [
        "SESSION",
        "RUN",
        "INTERRUPT",
        "TOOL",
        "EXPIRY",
        "REASON",
        "INPUT",
    ] {
        assert!(lines[0].contains(column), "{text}");
    }
    let bob = lines
        .iter()
        .find(|l| l.starts_with("pay ") && l.contains("tool-1"))
        .unwrap();
    for needle in [" 1  ", "transfer", "expires 20", "money leaves the account"] {
        assert!(bob.contains(needle), "`{needle}` missing from {bob}");
    }
    assert!(
        printed_json(bob, r#""amount":100"#, r#""to":"bob""#),
        "the input is missing from {bob}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("later ") && l.contains("tool-2")),
        "{text}"
    );
    assert!(
        !text.contains("weather"),
        "sessions without held calls: {text}"
    );

    let all = pending_json(&store.url, None);
    assert_eq!(all.len(), 4, "{all:?}");
    let pay = pending_json(&store.url, Some("pay"));
    assert_eq!(pay.len(), 2);
    assert_eq!(pay[0]["session_id"], "pay");
    assert_eq!(pay[0]["run"], 1);
    assert_eq!(pay[0]["query"], "Pay bob and eve.");
    assert_eq!(pay[0]["id"], "tool-1");
    assert_eq!(pay[0]["tool"], "transfer");
    assert_eq!(pay[0]["input"], json!({"to": "bob", "amount": 100}));
    assert_eq!(pay[0]["reason"], "money leaves the account");
    assert_eq!(pay[0]["expired"], false);
    assert!(pay[0]["expires_at"].is_string());
    assert!(pay[0]["run_id"].is_string());
    assert_eq!(pay[1]["id"], "tool-2");

    let output = run_on(&store.url, &["sessions", "pending", "weather"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        "No run of session `weather` waits for a decision.\n"
    );
    assert!(pending_json(&store.url, Some("weather")).is_empty());
    let output = run_on(&store.url, &["sessions", "pending", "nobody"]);
    assert_one_line_error(&output, 3, &["session `nobody` not found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_deny_record_decisions_and_the_agent_goes_on_with_them() {
    let store = sqlite_store().await;
    let agent = paused_run(&store.url, "pay").await;
    let sessions = Sessions::open(&store.url).await.unwrap();

    // `show` says the run is paused and which calls wait.
    let output = run_on(&store.url, &["sessions", "show", "pay"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for needle in [
        "Run 1",
        "paused · 1 step",
        "⏸ transfer (tool-1) waiting for a decision",
        "✓ lookup (tool-3)",
        "waiting for a decision: 2 held calls",
        "⏸ transfer (tool-2) money leaves the account · expires 20",
        "input:  {",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    assert!(
        printed_json(&text, r#""amount":7"#, r#""to":"eve""#),
        "the held call's input is missing from:\n{text}"
    );

    // One approval: recorded, and the other call still waits.
    let output = run_on(&store.url, &["sessions", "approve", "pay", "tool-1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for needle in [
        "Recorded on run 1 of session `pay` (Pay bob and eve.):",
        "transfer (tool-1) → approve",
        "1 held call still waits:",
        "tool-2",
        "The run goes on once every held call is decided",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    let paused = sessions.paused_runs("pay").await.unwrap();
    assert_eq!(paused.len(), 1);
    let waiting: Vec<&str> = paused[0].interrupts.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(waiting, ["tool-2"]);

    // The same approval again: someone answered it already.
    let output = run_on(&store.url, &["sessions", "approve", "pay", "tool-1"]);
    assert_one_line_error(
        &output,
        7,
        &[
            "`tool-1`",
            "run 1",
            "answered already",
            "sessions pending pay",
        ],
    );
    // An id nothing holds.
    let output = run_on(&store.url, &["sessions", "deny", "pay", "tool-9"]);
    assert_one_line_error(&output, 7, &["holds a call `tool-9`", "waiting: tool-2"]);
    // Input that is not JSON is a wrong command line, and nothing is recorded.
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "approve",
            "pay",
            "tool-2",
            "--input",
            "{amount: 5",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not valid JSON"),
        "{}",
        stderr(&output)
    );
    // Neither an id nor --all; --all with an id; --this-input-only without --always.
    for args in [
        &["sessions", "deny", "pay"][..],
        &["sessions", "deny", "pay", "tool-2", "--all"],
        &["sessions", "approve", "pay", "tool-2", "--this-input-only"],
        &[
            "sessions", "approve", "pay", "tool-2", "--always", "--input", "{}",
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
    assert_eq!(
        sessions.paused_runs("pay").await.unwrap()[0]
            .interrupts
            .len(),
        1
    );

    // The last call denied, as JSON: every held call is decided, and the run still waits.
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "deny",
            "pay",
            "tool-2",
            "--message",
            "Eve is not a customer.",
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["session_id"], "pay");
    assert_eq!(outcome["run"], 1);
    assert_eq!(
        outcome["recorded"],
        json!([{"id": "tool-2", "tool": "transfer",
                "decision": {"decision": "deny", "message": "Eve is not a customer."}}])
    );
    assert_eq!(outcome["pending"], json!([]));
    assert_eq!(outcome["ready_to_continue"], true);
    let record = sessions.get_reasoning("pay").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Paused);
    assert!(record.pending_interrupts.is_empty());
    assert_eq!(record.answered_interrupts.len(), 2);
    let output = run_on(&store.url, &["sessions", "pending", "pay"]);
    assert_eq!(
        stdout(&output),
        "No run of session `pay` waits for a decision.\n"
    );

    let output = run_on(&store.url, &["sessions", "show", "pay"]);
    let text = stdout(&output);
    for needle in [
        "paused · 1 step",
        "⏸ transfer (tool-1) decided (approve), waiting for the run to go on",
        "every held call is decided: the run goes on when a process running the agent calls \
         Agent::respond(session, Decisions::new())",
        "decisions:",
        "transfer (tool-1) → approve",
        "transfer (tool-2) → deny: Eve is not a customer.",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }

    // A follower prints the requests and the decisions, and --until-idle ends at the pause.
    let output = run_on(&store.url, &["sessions", "follow", "pay", "--until-idle"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for needle in [
        "interrupt_requested step 1: transfer (tool-1) waits for a decision: money leaves the \
         account · input {",
        "interrupt_requested step 1: transfer (tool-2) waits for a decision",
        "interrupt_answered step 1: (tool-1) approve",
        "interrupt_answered step 1: (tool-2) deny: Eve is not a customer.",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
    assert!(
        printed_json(&text, r#""amount":100"#, r#""to":"bob""#) && text.contains("} · expires 20"),
        "tool-1's input and expiry are missing from:\n{text}"
    );

    // The agent goes on with what the command recorded: the approved call runs, the denied
    // one does not, and the turn is kept.
    let result = agent.respond("pay", Decisions::new()).await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered, "{result:?}");
    assert_eq!(result.response, "Paid.");
    let record = sessions.get_reasoning("pay").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    let tools: Vec<_> = record.steps.iter().flat_map(|s| &s.tools).collect();
    let bob = tools.iter().find(|t| t.tool_use_id == "tool-1").unwrap();
    assert_eq!(bob.status, ToolCallStatus::Succeeded);
    assert_eq!(bob.result, Some(json!({"sent": 100, "to": "bob"})));
    let eve = tools.iter().find(|t| t.tool_use_id == "tool-2").unwrap();
    assert_ne!(eve.status, ToolCallStatus::Succeeded, "{eve:?}");
    assert!(sessions.paused_runs("pay").await.unwrap().is_empty());
    let output = run_on(&store.url, &["sessions", "approve", "pay", "tool-2"]);
    assert_one_line_error(&output, 7, &["answered already"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_all_with_edited_input_always_or_an_answer() {
    let store = sqlite_store().await;
    let sessions = Sessions::open(&store.url).await.unwrap();

    // --all --always: both calls, and the tool for the rest of the session.
    let agent = paused_run(&store.url, "always").await;
    let output = run_on(
        &store.url,
        &["sessions", "approve", "always", "--all", "--always"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("transfer (tool-1) → approve always"),
        "{text}"
    );
    assert!(
        text.contains("transfer (tool-2) → approve always"),
        "{text}"
    );
    assert!(
        text.contains("Every held call of run 1 is decided."),
        "{text}"
    );
    assert!(
        text.contains("Agent::respond(\"always\", Decisions::new())"),
        "{text}"
    );
    let output = run_on(&store.url, &["sessions", "approve", "always", "--all"]);
    assert_one_line_error(&output, 7, &["no run of session `always` holds a call"]);
    let result = agent.respond("always", Decisions::new()).await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered, "{result:?}");
    let state = sessions.state("always").await.unwrap();
    assert!(
        state
            .get::<Value>("approval.always.transfer")
            .unwrap()
            .is_some(),
        "{state:?}"
    );

    // Edited input, and an answer in place of the tool.
    let agent = paused_run(&store.url, "edited").await;
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "approve",
            "edited",
            "tool-1",
            "--input",
            r#"{"to": "bob", "amount": 90}"#,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("→ approve with input {")
            && printed_json(&stdout(&output), r#""amount":90"#, r#""to":"bob""#),
        "{}",
        stdout(&output)
    );
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "answer",
            "edited",
            "tool-2",
            "--output",
            r#"{"sent": 0, "note": "paid in cash"}"#,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("→ answer in place of the tool {")
            && printed_json(&stdout(&output), r#""note":"paid in cash""#, r#""sent":0"#),
        "{}",
        stdout(&output)
    );
    let output = run_on(
        &store.url,
        &["sessions", "answer", "edited", "tool-2", "--output", "cash"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let result = agent.respond("edited", Decisions::new()).await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Answered, "{result:?}");
    let record = sessions.get_reasoning("edited").await.unwrap().unwrap();
    let tools: Vec<_> = record.steps.iter().flat_map(|s| &s.tools).collect();
    let bob = tools.iter().find(|t| t.tool_use_id == "tool-1").unwrap();
    assert_eq!(bob.result, Some(json!({"sent": 90, "to": "bob"})));
    let cash = tools.iter().find(|t| t.tool_use_id == "tool-2").unwrap();
    assert_eq!(
        cash.result,
        Some(json!({"sent": 0, "note": "paid in cash"})),
        "{cash:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_expired_is_recorded_as_expired_and_says_so() {
    let store = sqlite_store().await;
    let model = ScriptedModel::new()
        .then_tools(None, &[("transfer", json!({"to": "bob", "amount": 1}))])
        .then_text("Not paid.");
    let agent = minimalagent::Agent::builder()
        .model(model)
        .tool(Transfer)
        .session_store_url(&store.url)
        .interrupt_ttl(Duration::from_millis(1))
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let result = agent.run_in_session("Pay bob.", "late").await.unwrap();
    assert_eq!(result.outcome, RunOutcome::Paused);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pending = pending_json(&store.url, Some("late"));
    assert_eq!(pending[0]["expired"], true, "{pending:?}");

    let output = run_on(&store.url, &["sessions", "approve", "late", "tool-1"]);
    assert!(
        stdout(&output).contains("transfer (tool-1) → expired"),
        "{}",
        stdout(&output)
    );
    assert_one_line_error(
        &output,
        7,
        &[
            "`tool-1` had expired",
            "recorded as expired",
            "not as `approve`",
        ],
    );
    let record = Sessions::open(&store.url)
        .await
        .unwrap()
        .get_reasoning("late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.answered_interrupts[0].decision,
        minimalagent::InterruptDecision::Expired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_once_stops_at_a_pause() {
    let store = sqlite_store().await;
    let mut once = Lines::spawn({
        let mut command = cli();
        command.args([
            "--store", &store.url, "sessions", "follow", "held", "--json", "--once",
        ]);
        command
    });
    let _agent = paused_run(&store.url, "held").await;
    let wait = Duration::from_secs(30);
    let mut types = Vec::new();
    while let Some(line) = once.next(wait) {
        let event: Value = serde_json::from_str(&line).unwrap();
        types.push(event["event"]["type"].as_str().unwrap().to_owned());
    }
    assert!(once.wait(wait).success());
    assert_eq!(
        types.iter().filter(|t| *t == "interrupt_requested").count(),
        2,
        "{types:?}"
    );
    assert!(!types.iter().any(|t| t == "run_finished"), "{types:?}");
}

/// Whether `text` prints a two-key JSON object made of `one` and `other`, in either order: the
/// order follows serde_json's `preserve_order` feature, which other crates of a build may turn
/// on.
fn printed_json(text: &str, one: &str, other: &str) -> bool {
    text.contains(&format!("{{{one},{other}}}")) || text.contains(&format!("{{{other},{one}}}"))
}
