//! `minimalagent doctor` against the Converse stand-in (its endpoint in
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, dummy credentials): a model that passes every check,
//! and the refusals real Bedrock answers, each with its printed fix and exit code.
#![cfg(feature = "bedrock")]
// The helpers below are part of the tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use agent_testkit::{BedrockErrorKind, ConverseStandIn, Reply};
use common::*;

/// `minimalagent doctor` pointed at the stand-in, in us-west-2, with dummy credentials and no
/// model or store from the environment.
fn doctor_command(standin: &ConverseStandIn) -> Command {
    let mut command = cli();
    for name in [
        "MINIMALAGENT_MODEL_ID",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.endpoint_url())
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "doctortest")
        .env("AWS_SECRET_ACCESS_KEY", "doctortest")
        .arg("doctor");
    command
}

/// Runs the command off the async runtime, so the stand-in keeps answering.
async fn run_doctor(command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(command, ""))
        .await
        .unwrap()
}

/// The line of a check (`  ok       Converse       …`), with the line after it (the fix of a
/// failure).
fn check_line(text: &str, name: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let index = lines
        .iter()
        .position(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("ok" | "FAILED" | "skipped"))
                && line.contains(&format!(" {name} "))
        })
        .unwrap_or_else(|| panic!("no `{name}` check in:\n{text}"));
    (
        lines[index].to_owned(),
        lines.get(index + 1).copied().unwrap_or_default().to_owned(),
    )
}

fn status(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_model_passes_every_check() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // The settings, as the library resolves them.
    for needle in [
        "model        us.amazon.nova-pro-v1:0 (the library's default for us-west-2)",
        "family       Amazon Nova: Nova Pro through the `us.` cross-Region profile",
        "prompt cache from 1,000 tokens",
        "region       us-west-2 (AWS_REGION)",
        &format!(
            "bedrock      {} (AWS_ENDPOINT_URL_BEDROCK_RUNTIME)",
            standin.endpoint_url()
        ),
        "credentials  EnvironmentVariable (access key …test)",
        "store        memory:// (--store)",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }

    let (converse, _) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "ok", "{text}");
    assert!(converse.contains("ping called with"), "{converse}");
    let (stream, _) = check_line(&text, "ConverseStream");
    assert_eq!(status(&stream), "ok", "{text}");
    let (cache, _) = check_line(&text, "prompt cache");
    assert_eq!(status(&cache), "ok", "{text}");
    assert!(cache.contains("call 1 wrote"), "{cache}");
    assert!(!cache.contains("call 2 wrote 0 and read 0"), "{cache}");
    let (store, _) = check_line(&text, "store");
    assert_eq!(status(&store), "skipped", "{store}");
    assert!(text.contains("All 3 checks passed, 1 skipped."), "{text}");

    // What was sent: Converse with the ping tool, ConverseStream, then two identical Converse
    // calls whose system prompt carries a checkpoint; the second read the first one's cache.
    let requests = standin.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(!requests[0].streamed);
    let tools = requests[0].tool_specs();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "ping");
    assert!(requests[1].streamed && !requests[1].has_tool_config());
    assert!(!requests[2].streamed && !requests[3].streamed);
    assert_eq!(requests[2].body, requests[3].body);
    assert!(
        requests[2].body["system"]
            .as_array()
            .unwrap()
            .iter()
            .any(|block| block.get("cachePoint").is_some()),
        "{}",
        requests[2].body["system"]
    );
    assert!(requests.iter().all(|request| request.succeeded()));
    assert!(
        requests
            .iter()
            .all(|request| request.region.as_deref() == Some("us-west-2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_without_prompt_caching_skips_that_check() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = doctor_command(&standin);
    command.env(
        "MINIMALAGENT_MODEL_ID",
        "us.meta.llama3-3-70b-instruct-v1:0",
    );
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(
        text.contains("model        us.meta.llama3-3-70b-instruct-v1:0 (MINIMALAGENT_MODEL_ID)"),
        "{text}"
    );
    assert!(text.contains("Meta Llama: Llama 3.1, 3.3"), "{text}");
    let (converse, _) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "ok", "{text}");
    let (cache, _) = check_line(&text, "prompt cache");
    assert_eq!(status(&cache), "skipped", "{text}");
    assert!(cache.contains("has no prompt caching"), "{cache}");
    // No call was spent on it: Converse and ConverseStream only.
    assert_eq!(standin.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_access_says_to_request_it() {
    let standin = ConverseStandIn::demo().await.unwrap();
    standin.push_reply(Reply::error_with(
        BedrockErrorKind::AccessDenied,
        "You don't have access to the model with the specified model ID.",
    ));
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(
        converse.contains(
            "AccessDeniedException: You don't have access to the model with the specified \
             model ID."
        ),
        "{converse}"
    );
    for needle in [
        "fix: request access to Nova Pro (`us.amazon.nova-pro-v1:0`)",
        "Bedrock console, Model access, for Region us-west-2",
        "https://console.aws.amazon.com/bedrock/home?region=us-west-2#/modelaccess",
    ] {
        assert!(fix.contains(needle), "`{needle}` missing from: {fix}");
    }
    // The other model checks would fail the same way: skipped, and not called.
    assert_eq!(status(&check_line(&text, "ConverseStream").0), "skipped");
    assert_eq!(status(&check_line(&text, "prompt cache").0), "skipped");
    assert_eq!(standin.request_count(), 1);
    assert!(
        text.contains("1 of 1 checks failed, 3 skipped: Converse."),
        "{text}"
    );
    let err = stderr(&output);
    assert!(
        err.starts_with("error: 1 of 1 doctor checks failed (Converse)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eu_profile_from_us_west_2_is_an_invalid_identifier() {
    // No scripted reply: the stand-in itself refuses a `eu.` profile signed for us-west-2.
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://", "--model", "eu.amazon.nova-pro-v1:0"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    assert!(
        text.contains("model        eu.amazon.nova-pro-v1:0 (--model)"),
        "{text}"
    );
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(
        converse.contains("ValidationException: The provided model identifier is invalid."),
        "{converse}"
    );
    for needle in [
        "the `eu.` inference profile does not serve Region us-west-2",
        "use `us.amazon.nova-pro-v1:0`",
        "the library's default here is `us.amazon.nova-pro-v1:0`",
    ] {
        assert!(fix.contains(needle), "`{needle}` missing from: {fix}");
    }
    assert_eq!(status(&check_line(&text, "ConverseStream").0), "skipped");
    let requests = standin.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].error_type.as_deref(),
        Some("ValidationException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iam_refusal_names_the_action_to_grant_and_streaming_is_still_checked() {
    let standin = ConverseStandIn::demo().await.unwrap();
    standin.push_reply(Reply::error_with(
        BedrockErrorKind::AccessDenied,
        "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: \
         bedrock:InvokeModel on resource: \
         arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0 because no \
         identity-based policy allows the bedrock:InvokeModel action",
    ));
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(
        fix.contains(
            "fix: grant bedrock:InvokeModel on \
             arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0"
        ),
        "{fix}"
    );
    // ConverseStream needs another action, which may be allowed: it is checked.
    assert_eq!(
        status(&check_line(&text, "ConverseStream").0),
        "ok",
        "{text}"
    );
    assert_eq!(status(&check_line(&text, "prompt cache").0), "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_after_the_retries_points_at_the_quotas() {
    let standin = ConverseStandIn::demo().await.unwrap();
    // More than the client's three attempts.
    standin.fail_next(4, BedrockErrorKind::Throttling);
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(converse.contains("ThrottlingException"), "{converse}");
    assert!(
        fix.contains("raise the quota (Service Quotas console"),
        "{fix}"
    );
    assert_eq!(standin.request_count(), 3, "three attempts, then the fix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_missing_credentials_say_so() {
    let standin = ConverseStandIn::demo().await.unwrap();
    standin.push_reply(Reply::Raw {
        status: 403,
        error_type: Some("UnrecognizedClientException".to_owned()),
        body: r#"{"message":"The security token included in the request is invalid."}"#.to_owned(),
    });
    let mut command = doctor_command(&standin);
    command.args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    let (converse, fix) = check_line(&text, "Converse");
    assert!(
        converse.contains("UnrecognizedClientException"),
        "{converse}"
    );
    assert!(
        fix.contains("the AWS credentials were refused (UnrecognizedClientException)"),
        "{fix}"
    );

    // No credentials anywhere: no variables, no files.
    let home = tempfile::tempdir().unwrap();
    let mut command = doctor_command(&standin);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .args(["--store", "memory://"]);
    let before = standin.request_count();
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    assert!(text.contains("credentials  none found"), "{text}");
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(fix.contains("fix: no AWS credentials were found"), "{fix}");
    assert_eq!(standin.request_count(), before, "nothing unsigned was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_a_default_model_asks_for_one() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = doctor_command(&standin);
    command
        .env("AWS_REGION", "eu-west-2")
        .args(["--store", "memory://"]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(6), "{text}\n{}", stderr(&output));
    assert!(
        text.contains("no cross-Region profile in eu-west-2"),
        "{text}"
    );
    let (converse, fix) = check_line(&text, "Converse");
    assert_eq!(status(&converse), "FAILED", "{text}");
    assert!(
        fix.contains("pass --model ID or set MINIMALAGENT_MODEL_ID"),
        "{fix}"
    );
    assert_eq!(standin.request_count(), 0);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_is_opened_read_only_and_a_missing_one_fails() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let store = sqlite_store().await;
    // The helper's own store closes in the background: wait until the file stops changing.
    let modified_now = || std::fs::metadata(&store.path).unwrap().modified().unwrap();
    let mut modified = modified_now();
    let mut unchanged = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = modified_now();
        unchanged = if now == modified { unchanged + 1 } else { 0 };
        modified = now;
        if unchanged == 3 {
            break;
        }
    }
    assert_eq!(unchanged, 3, "the new store file kept changing");
    let mut command = doctor_command(&standin);
    command.env("MINIMALAGENT_STORE", &store.url);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(text.contains("(MINIMALAGENT_STORE)"), "{text}");
    let (file, _) = check_line(&text, "SQLite file");
    assert_eq!(status(&file), "ok", "{text}");
    assert!(
        file.contains("opened read-only: a session store of schema version"),
        "{file}"
    );
    assert_eq!(modified_now(), modified, "the doctor changed the file");

    let missing = store.dir.path().join("nope.db");
    let mut command = doctor_command(&standin);
    command.args(["--store", &format!("sqlite://{}", missing.display())]);
    let output = run_doctor(command).await;
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(4), "{text}\n{}", stderr(&output));
    let (file, fix) = check_line(&text, "SQLite file");
    assert_eq!(status(&file), "FAILED", "{text}");
    assert!(fix.contains("check the path"), "{fix}");
    assert!(!missing.exists(), "the doctor created a store");
}

#[tokio::test]
async fn a_wrong_store_url_is_a_usage_error() {
    let standin = ConverseStandIn::demo().await.unwrap();
    let mut command = doctor_command(&standin);
    command.args(["--store", "redis://x"]);
    let output = run_doctor(command).await;
    assert_one_line_error(&output, 2, &["unknown store `redis`"]);
    assert_eq!(standin.request_count(), 0);
}
