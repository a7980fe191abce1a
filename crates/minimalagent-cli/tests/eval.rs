//! `minimalagent eval`: cases run against the Converse stand-in (a Bedrock model without tools,
//! its endpoint in `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, dummy credentials) and against a replay
//! of a recorded session (`sessions export`, and the cases `sessions export --as-cases`
//! makes); the report, its JSON, the comparison that flags a regression, and the exit codes.
#![cfg(all(feature = "sqlite", feature = "bedrock"))]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use agent_testkit::ConverseStandIn;
use common::*;
use serde_json::{Value, json};

/// `minimalagent eval …` pointed at the stand-in, in us-west-2, with dummy credentials and no
/// model from the environment.
fn eval_command(standin: Option<&ConverseStandIn>) -> Command {
    let mut command = cli();
    for name in [
        "MINIMALAGENT_MODEL_ID",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    ] {
        command.env_remove(name);
    }
    if let Some(standin) = standin {
        command.env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.endpoint_url());
    }
    command
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "evaltest")
        .env("AWS_SECRET_ACCESS_KEY", "evaltest")
        .arg("eval");
    command
}

/// Runs the command off the async runtime, so the stand-in keeps answering.
async fn run_eval(command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(command, ""))
        .await
        .unwrap()
}

fn write_cases(path: &Path, cases: &[Value]) {
    let text: String = cases.iter().map(|case| format!("{case}\n")).collect();
    std::fs::write(path, format!("# cases for the stand-in\n{text}")).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_run_on_bedrock_are_reported_and_a_regression_fails_the_comparison() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    let prompt_file = dir.path().join("prompt.txt");
    std::fs::write(&prompt_file, "You are a terse assistant.").unwrap();
    let mut suite = vec![
        json!({"name": "echo", "prompt": "What is the capital of Norway?",
               "answer": {"contains": ["You asked", "Norway"], "not_contains": ["Sweden"]},
               "limits": {"max_steps": 0}}),
        json!({"name": "regex", "prompt": "Say hello",
               "answer": {"regex": "^You asked: Say hello$"}, "tools": {"never": ["anything"]}}),
    ];
    write_cases(&cases, &suite);
    let first = dir.path().join("first.json");
    let markdown = dir.path().join("first.md");

    let mut command = eval_command(Some(&standin));
    command
        .arg(&cases)
        .args(["--system-prompt"])
        .arg(format!("@{}", prompt_file.display()))
        .args(["--concurrency", "2", "--timeout", "30", "--report"])
        .arg(&first)
        .arg("--markdown")
        .arg(&markdown);
    let output = run_eval(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(text.contains("**2 of 2 cases passed.**"), "{text}");
    assert!(text.contains("| echo | pass |"), "{text}");
    let report = read_json(&first);
    assert_eq!(report["passed"], 2);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["cases"][0]["name"], "echo");
    assert_eq!(
        report["cases"][0]["answer"],
        "You asked: What is the capital of Norway?"
    );
    assert_eq!(std::fs::read_to_string(&markdown).unwrap(), text);

    // What Bedrock was sent: no tools, the system prompt from the file.
    let requests = standin.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for request in &requests {
        assert!(!request.has_tool_config(), "{request:#?}");
        assert_eq!(
            request.body["system"][0]["text"], "You are a terse assistant.",
            "{}",
            request.body
        );
    }

    // The same suite with a case changed so that it fails: exit 1, and a regression against
    // the first report.
    suite[1]["answer"] = json!({"contains": ["Goodbye"]});
    write_cases(&cases, &suite);
    let second = dir.path().join("second.json");
    let mut command = eval_command(Some(&standin));
    command
        .arg(&cases)
        .arg("--report")
        .arg(&second)
        .arg("--compare")
        .arg(&first);
    let output = run_eval(command).await;
    let text = stdout(&output);
    assert_last_line_error(
        &output,
        1,
        &[
            "1 of 2 cases failed (regex)",
            "1 regressed since",
            "first.json",
        ],
    );
    assert!(text.contains("**1 of 2 cases passed.**"), "{text}");
    assert!(text.contains("| regex | **FAIL** |"), "{text}");
    assert!(
        text.contains("### Compared with the previous report"),
        "{text}"
    );
    assert!(text.contains("- **regressed**: regex"), "{text}");
    let report = read_json(&second);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["cases"][1]["passed"], false);
    assert!(
        report["cases"][1]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check["passed"] == false),
        "{report}"
    );

    // The second report against itself: the failure stays, nothing regressed.
    let mut command = eval_command(Some(&standin));
    command.arg(&cases).arg("--compare").arg(&second);
    let output = run_eval(command).await;
    assert_last_line_error(&output, 1, &["1 of 2 cases failed (regex)"]);
    assert!(
        !stderr(&output).contains("regressed"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("- no change"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_cases_pass_on_their_replay_and_a_changed_case_regresses() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("weather.jsonl");
    let cases = dir.path().join("cases.jsonl");
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "export",
            "weather",
            "-o",
            export.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "export",
            "weather",
            "--as-cases",
            "--prefix",
            "w",
            "-o",
            cases.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Exported 2 cases of session `weather`"),
        "{}",
        stderr(&output)
    );

    // The cases: each run's query after the turns before it, its answer, its tool calls.
    let lines: Vec<Value> = std::fs::read_to_string(&cases)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "w-1");
    assert_eq!(lines[0]["prompt"], "How were sales in 2025?");
    assert_eq!(lines[0]["answer"]["equals"], "Sales were up in EMEA.");
    assert_eq!(lines[0]["tools"]["order"], json!(["lookup", "broken"]));
    assert_eq!(
        lines[0]["tools"]["called"][0],
        json!({"name": "lookup", "input": {"query": "sales 2025"}})
    );
    assert_eq!(lines[1]["name"], "w-2");
    assert_eq!(lines[1]["prompt"], "Thanks!");
    assert_eq!(lines[1]["conversation"].as_array().unwrap().len(), 4);

    // On their replay (no network: no Bedrock endpoint is set), every case passes.
    let first = dir.path().join("first.json");
    let mut command = eval_command(None);
    command
        .arg(&cases)
        .arg("--replay")
        .arg(&export)
        .arg("--report")
        .arg(&first);
    let output = run_eval(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    assert!(text.contains("**2 of 2 cases passed.**"), "{text}");
    let report = read_json(&first);
    assert_eq!(report["cases"][0]["answer"], "Sales were up in EMEA.");
    assert_eq!(report["cases"][0]["steps"], 1);

    // A case expecting another answer, and one asking what was never recorded.
    let mut changed = lines.clone();
    changed[1]["answer"]["equals"] = json!("You are most welcome.");
    changed.push(json!({"name": "w-new", "prompt": "And in 2026?"}));
    write_cases(&cases, &changed);
    let mut command = eval_command(None);
    command
        .arg(&cases)
        .arg("--replay")
        .arg(&export)
        .arg("--compare")
        .arg(&first);
    let output = run_eval(command).await;
    let text = stdout(&output);
    assert_last_line_error(
        &output,
        1,
        &["2 of 3 cases failed (w-2, w-new)", "1 regressed since"],
    );
    assert!(text.contains("- **regressed**: w-2"), "{text}");
    assert!(text.contains("- new: w-new"), "{text}");
    assert!(
        text.contains("the recording holds no run that asked this case's prompt"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_differs_from_the_record_fails_unless_lenient() {
    let store = sqlite_store().await;
    populate(&store.url).await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("weather.jsonl");
    let output = run_on(
        &store.url,
        &[
            "sessions",
            "export",
            "weather",
            "-o",
            export.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // The recorded result of the `lookup` call is filed under another call id in the export:
    // the replayed tool has no result for the call the replayed reply makes, so what the run
    // feeds back differs from what the recorded model call was sent.
    let mut lines: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let messages = lines[0]["body"]["messages"].as_array_mut().unwrap();
    let moved = messages[2]["content"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|block| block["toolResult"]["toolUseId"] == "tool-1")
        .unwrap();
    moved["toolResult"]["toolUseId"] = json!("tool-9");
    let altered = dir.path().join("altered.jsonl");
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&altered, text).unwrap();
    let cases = dir.path().join("cases.jsonl");
    write_cases(
        &cases,
        &[json!({"name": "sales", "prompt": "How were sales in 2025?",
                 "answer": {"contains": ["EMEA"]}})],
    );

    // Strict (the default): the case fails, naming the difference.
    let mut command = eval_command(None);
    command.arg(&cases).arg("--replay").arg(&altered);
    let output = run_eval(command).await;
    let text = stdout(&output);
    assert_last_line_error(&output, 1, &["1 of 1 cases failed (sales)"]);
    assert!(
        text.contains("the replay differs from the record: run 1 step 2: toolResult[tool-9]"),
        "{text}"
    );

    // Lenient: the case passes on the recorded replies, and the difference is a warning.
    let mut command = eval_command(None);
    command
        .arg(&cases)
        .arg("--replay")
        .arg(&altered)
        .arg("--lenient");
    let output = run_eval(command).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("**1 of 1 cases passed.**"));
    let err = stderr(&output);
    assert!(
        err.starts_with("warning: case `sales`: the replay differs from the record: run 1 step 2: toolResult[tool-9]"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_command_lines_and_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    let missing = dir.path().join("missing.jsonl");

    let mut command = eval_command(None);
    command.arg(&missing);
    assert_one_line_error(
        &run_eval(command).await,
        2,
        &["cannot read the cases file", "missing.jsonl"],
    );

    std::fs::write(
        &cases,
        "{\"name\": \"a\", \"prompt\": \"x\", \"colour\": 1}\n",
    )
    .unwrap();
    let mut command = eval_command(None);
    command.arg(&cases);
    assert_one_line_error(
        &run_eval(command).await,
        2,
        &["cases.jsonl", "line 1", "colour"],
    );

    std::fs::write(&cases, "# nothing yet\n").unwrap();
    let mut command = eval_command(None);
    command.arg(&cases);
    assert_one_line_error(&run_eval(command).await, 2, &["holds no case"]);

    write_cases(&cases, &[json!({"name": "a", "prompt": "x"})]);
    let not_a_report = dir.path().join("report.json");
    std::fs::write(&not_a_report, "[]").unwrap();
    let mut command = eval_command(None);
    command.arg(&cases).arg("--compare").arg(&not_a_report);
    assert_one_line_error(
        &run_eval(command).await,
        2,
        &["is not a report `minimalagent eval --report` wrote"],
    );

    let mut command = eval_command(None);
    command.arg(&cases).arg("--replay").arg(&not_a_report);
    assert_one_line_error(
        &run_eval(command).await,
        2,
        &["is not a session export to replay"],
    );

    for args in [
        &["--lenient"][..],
        &["--concurrency", "0"],
        &["--timeout", "0"],
        &["--replay", "x.jsonl", "--model-id", "m"],
    ] {
        let mut command = eval_command(None);
        command.arg(&cases).args(args);
        let output = run_eval(command).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }

    let mut command = eval_command(None);
    command.arg(&cases).args(["--store", "sqlite://x.db"]);
    assert_one_line_error(&run_eval(command).await, 2, &["reads no session store"]);
}
