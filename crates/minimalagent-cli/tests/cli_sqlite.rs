//! The `minimalagent` command against SQLite stores written by real agent runs (scripted
//! model): list, show, export, delete, follow and its resumption, and the one-line errors.
#![cfg(feature = "sqlite")]

mod common;

use std::time::Duration;

use agent_testkit::ScriptedModel;
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_every_session_with_its_latest_run() {
    let store = sqlite_store().await;
    populate(&store.url).await;

    let output = run_on(&store.url, &["sessions", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("SESSION") && header.contains("LATEST RUN"),
        "{text}"
    );
    let weather = text.lines().find(|l| l.starts_with("weather")).unwrap();
    assert!(
        weather.contains("completed") && weather.contains("Thanks!"),
        "{weather}"
    );
    assert!(text.lines().any(|l| l.starts_with("hostile")), "{text}");

    let output = run_on(&store.url, &["sessions", "list", "--json"]);
    assert!(output.status.success());
    let sessions: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(sessions.len(), 2);
    let weather = sessions.iter().find(|s| s["id"] == "weather").unwrap();
    assert_eq!(weather["runs"], 2);
    assert_eq!(weather["entries"], 2);
    assert_eq!(weather["latest_run"]["status"], "completed");
    assert_eq!(weather["latest_run"]["query"], "Thanks!");
    assert!(weather["expires_at"].is_string());

    let output = run_on(&store.url, &["sessions", "list", "--json", "--limit", "1"]);
    assert_eq!(stdout(&output).lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_the_conversation_and_every_run() {
    let store = sqlite_store().await;
    populate(&store.url).await;

    let output = run_on(&store.url, &["sessions", "show", "weather"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for needle in [
        "Session weather",
        "2 runs",
        "Conversation",
        "#1 turn",
        "user",
        "How were sales in 2025?",
        "assistant",
        "→ lookup (tool-1) {\"query\":\"sales 2025\"}",
        "← result (tool-1)",
        "← error (tool-2)",
        "Sales were up in EMEA.",
        "Runs",
        "Run 1",
        "completed · 1 step",
        "thinking: I need the sales data first.",
        "✓ lookup (tool-1)",
        "input:  {\"query\":\"sales 2025\"}",
        "result: {\"query\":\"sales 2025\",\"rows\":3,\"top_region\":\"EMEA\"}",
        "✗ broken (tool-2) failed",
        "error:  tool failed: the archive is offline",
        "answer: Sales were up in EMEA.",
        "Run 2",
        "answer: You are welcome.",
        "tokens",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_never_passes_escape_sequences_from_the_store_to_the_terminal() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let output = run_on(&store.url, &["sessions", "show", "hostile", "--full"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(!text.contains('\u{1b}'), "raw escape in:\n{text}");
    // In text (the answer) as a visible escape; in JSON (the tool result) as JSON escapes it.
    assert!(
        text.contains("answer: The page says <script>alert(1)</script> in \\u{1b}[31mred"),
        "{text}"
    );
    assert!(text.contains("\"terminal\":\"\\u001b[31mred"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_json_is_the_whole_session() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let output = run_on(&store.url, &["sessions", "show", "weather", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["session_id"], "weather");
    assert_eq!(document["head"]["runs"], 2);
    let conversation = document["conversation"].as_array().unwrap();
    assert_eq!(conversation.len(), 2);
    assert_eq!(conversation[0]["body"]["type"], "turn");
    let messages = conversation[0]["body"]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"][0]["text"], "How were sales in 2025?");
    let runs = document["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let tools = &runs[0]["steps"][0]["tools"];
    assert_eq!(tools[0]["name"], "lookup");
    assert_eq!(tools[0]["inputs"], json!({"query": "sales 2025"}));
    assert_eq!(tools[0]["result"]["top_region"], "EMEA");
    assert_eq!(tools[0]["status"], "succeeded");
    assert_eq!(tools[1]["status"], "failed");
    assert_eq!(tools[1]["error"]["message"], "the archive is offline");
    assert_eq!(runs[1]["final_response"], "You are welcome.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_one_line_per_entry_and_per_run() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let output = run_on(&store.url, &["sessions", "export", "weather"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "2 entries and 2 runs");
    for (line, seq) in lines[..2].iter().zip([1, 2]) {
        assert_eq!(line["kind"], "entry");
        assert_eq!(line["session_id"], "weather");
        assert_eq!(line["seq"], seq);
        assert_eq!(line["body"]["type"], "turn");
        assert!(line["written_at"].is_string());
    }
    for (line, index) in lines[2..].iter().zip([1, 2]) {
        assert_eq!(line["kind"], "run");
        assert_eq!(line["index"], index);
        assert_eq!(line["status"], "completed");
        assert_eq!(line["run_id"], line["reasoning"]["run_id"]);
    }
    assert_eq!(
        lines[2]["reasoning"]["steps"][0]["tools"][0]["result"]["rows"],
        3
    );

    let file = store.dir.path().join("export.jsonl");
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "export",
            "weather",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_asks_first_and_deletes_only_when_confirmed() {
    let store = sqlite_store().await;
    populate(&store.url).await;

    let mut command = cli();
    command.args(["--store", &store.url, "sessions", "delete", "weather"]);
    let output = run(command, "n\n");
    assert_last_line_error(&output, 5, &["not deleted", "--yes"]);
    assert_eq!(stderr(&output).lines().count(), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("Delete session `weather` (2 runs, 2 entries)"));
    assert!(
        run_on(&store.url, &["sessions", "show", "weather"])
            .status
            .success()
    );

    // No answer at all (no terminal, empty input) is not a yes.
    let mut command = cli();
    command.args(["--store", &store.url, "sessions", "delete", "weather"]);
    assert_eq!(run(command, "").status.code(), Some(5));

    let mut command = cli();
    command.args(["--store", &store.url, "sessions", "delete", "weather"]);
    let output = run(command, "y\n");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("Deleted session `weather`"));
    let output = run_on(&store.url, &["sessions", "show", "weather"]);
    assert_one_line_error(&output, 3, &["session `weather` not found"]);

    let output = run_on(&store.url, &["sessions", "delete", "hostile", "--yes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run_on(&store.url, &["sessions", "list", "--json"]);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));

    let output = run_on(&store.url, &["sessions", "delete", "hostile", "--yes"]);
    assert_one_line_error(&output, 3, &["not found"]);
}

/// Three tool steps, the middle ones slow, so that the follower sees the run in progress.
fn slow_script() -> ScriptedModel {
    ScriptedModel::new()
        .with_latency(Duration::from_millis(100))
        .then_tools(
            Some("First the fast lookup."),
            &[("lookup", json!({"query": "q1"}))],
        )
        .then_tools(None, &[("slow_lookup", json!({"millis": 600}))])
        .then_tools(
            None,
            &[
                ("slow_lookup", json!({"millis": 300})),
                ("broken", json!({"reason": "nope"})),
            ],
        )
        .then_text("All done.")
}

fn follow_command(url: &str, session: &str, extra: &[&str]) -> std::process::Command {
    let mut command = cli();
    command
        .args(["--store", url, "sessions", "follow", session])
        .args(extra);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_a_live_run_and_a_restarted_follower_resumes_without_gap_or_duplicate() {
    let store = sqlite_store().await;
    let wait = Duration::from_secs(30);

    // A follower started before the session exists, waiting for its first run.
    let live = Lines::spawn(follow_command(&store.url, "live", &["--json"]));
    let runner = agent(&store.url, slow_script(), true).await;
    let result = runner
        .run_in_session("Do the three lookups.", "live")
        .await
        .unwrap();
    assert_eq!(result.response, "All done.");

    let mut events: Vec<Value> = Vec::new();
    loop {
        let line = live.next(wait).expect("the follower ended early");
        let event: Value = serde_json::from_str(&line).unwrap();
        let done = event["event"]["type"] == "run_finished";
        events.push(event);
        if done {
            break;
        }
    }
    drop(live);
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"run_started"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "tool_result").count(),
        4,
        "{types:?}"
    );
    for event in &events {
        assert_eq!(event["run"], 1);
        assert_eq!(event["run_id"], json!(result.reasoning.run_id));
        assert!(event["position"].is_string());
    }
    let finished = &events.last().unwrap()["event"]["result"];
    assert_eq!(finished["response"], "All done.");
    assert_eq!(finished["reasoning"]["total_steps"], 3);

    // Restart from each of a few printed positions: exactly the events after it, then exit.
    for cut in [0, 2, events.len() / 2, events.len() - 2] {
        let position = events[cut]["position"].as_str().unwrap();
        let mut resumed = Lines::spawn(follow_command(
            &store.url,
            "live",
            &["--json", "--from", position, "--until-idle"],
        ));
        let mut rest = Vec::new();
        while let Some(line) = resumed.next(wait) {
            rest.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        assert!(resumed.wait(wait).success());
        assert_eq!(rest, events[cut + 1..], "resumed after event {cut}");
    }

    // From the start, --until-idle prints the whole run and stops.
    let mut whole = Lines::spawn(follow_command(
        &store.url,
        "live",
        &["--json", "--until-idle"],
    ));
    let mut all = Vec::new();
    while let Some(line) = whole.next(wait) {
        all.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(whole.wait(wait).success());
    // A follower that starts after the run ended sees exactly what a live follower saw.
    assert_eq!(all, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_as_text_prints_positions_that_resume() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let wait = Duration::from_secs(30);

    let output = run_on(
        &store.url,
        &["sessions", "follow", "weather", "--until-idle"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains(" run 1 run_started How were sales in 2025?"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tool_result step 1: broken (tool-2) failed")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("run_finished completed")),
        "{text}"
    );
    assert!(
        lines.last().unwrap().contains("run 2 run_finished"),
        "{text}"
    );

    // Each line starts with its position: resume after the first run's end.
    let end_of_first = lines
        .iter()
        .position(|l| l.contains("run 1 run_finished"))
        .unwrap();
    let position = lines[end_of_first].split(' ').next().unwrap();
    let mut resumed = Lines::spawn(follow_command(
        &store.url,
        "weather",
        &["--from", position, "--until-idle"],
    ));
    let mut rest = Vec::new();
    while let Some(line) = resumed.next(wait) {
        rest.push(line);
    }
    assert!(resumed.wait(wait).success());
    assert_eq!(rest, lines[end_of_first + 1..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_once_stops_after_the_next_run() {
    let store = sqlite_store().await;
    let mut once = Lines::spawn(follow_command(&store.url, "later", &["--json", "--once"]));
    let runner = agent(&store.url, ScriptedModel::new().then_text("Hi."), true).await;
    runner.run_in_session("Hello", "later").await.unwrap();
    let wait = Duration::from_secs(30);
    let mut last = None;
    while let Some(line) = once.next(wait) {
        last = Some(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(once.wait(wait).success());
    assert_eq!(last.unwrap()["event"]["type"], "run_finished");
}

#[tokio::test]
async fn a_missing_sqlite_file_is_one_line_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        &["sessions", "list"][..],
        &["sessions", "show", "x"],
        &["sessions", "follow", "x"],
        &["ui", "--port", "0"],
    ] {
        let output = run_on(&url, args);
        assert_one_line_error(
            &output,
            4,
            &["no SQLite session store at", "typo.db", "check the path"],
        );
        assert!(stdout(&output).is_empty());
    }
    assert!(!path.exists(), "the CLI must not create a store");

    let output = run_on(
        &format!("sqlite://{}", dir.path().display()),
        &["sessions", "list"],
    );
    assert_one_line_error(&output, 4, &["is a directory"]);
}

#[tokio::test]
async fn a_file_that_is_not_a_session_store_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(
        &path,
        "these are not the sessions you are looking for\n".repeat(200),
    )
    .unwrap();
    let output = run_on(
        &format!("sqlite://{}", path.display()),
        &["sessions", "list"],
    );
    assert_one_line_error(
        &output,
        4,
        &["notes.db", "cannot be used as a session store"],
    );
}

#[tokio::test]
async fn wrong_store_urls_and_arguments_are_usage_errors() {
    let output = run_on("redis://localhost:6379", &["sessions", "list"]);
    assert_one_line_error(&output, 2, &["unknown store `redis`", "sqlite://"]);

    let output = run_on("sessions.db", &["sessions", "list"]);
    assert_one_line_error(&output, 2, &["invalid store URL `sessions.db`"]);

    let mut command = cli();
    command.args([
        "--store",
        "sqlite://x.db",
        "--table",
        "t",
        "sessions",
        "list",
    ]);
    assert_one_line_error(&run(command, ""), 2, &["--store cannot be combined"]);

    // A store named by the environment, as the flag would.
    let store = sqlite_store().await;
    populate(&store.url).await;
    let mut command = cli();
    command
        .env("MINIMALAGENT_STORE", &store.url)
        .args(["sessions", "show", "bad id!"]);
    assert_one_line_error(&run(command, ""), 2, &["session id"]);

    let mut command = cli();
    command
        .env("MINIMALAGENT_STORE", &store.url)
        .args(["sessions", "show", "nobody"]);
    assert_one_line_error(
        &run(command, ""),
        3,
        &["session `nobody` not found", "sessions list"],
    );

    let output = run_on(
        &store.url,
        &["sessions", "follow", "weather", "--from", "nonsense"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid follow position"),
        "{}",
        stderr(&output)
    );

    let output = run_on(
        &store.url,
        &["sessions", "follow", "nobody", "--until-idle"],
    );
    assert_one_line_error(&output, 3, &["not found"]);
}

#[tokio::test]
async fn a_closed_pipe_ends_quietly() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let mut command = cli();
    command
        .args(["--store", &store.url, "sessions", "export", "weather"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}
