//! `cargo xtask test-live`: the Bedrock client's live tests and every example against real
//! Amazon Bedrock, for each model id of `MINIMALAGENT_LIVE_MODELS`. For maintainers with AWS
//! credentials; without them it does not run, says so, and exits with its own code.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::dynamodb_local::DynamoDbLocal;
use crate::{cargo, example_names, step};

/// The variable listing the model ids, comma-separated.
const MODELS_ENV: &str = "MINIMALAGENT_LIVE_MODELS";

/// The models after the Region's default (Amazon Nova Pro through the Region's profile, which
/// the examples and the live tests pick themselves when no id is given).
const DEFAULT_MODELS: [&str; 3] = [
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "us.mistral.pixtral-large-2502-v1:0",
];

/// The live suite did not run: why, and how to make it run.
#[derive(Debug)]
pub(crate) struct NotRun(String);

impl fmt::Display for NotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotRun {}

/// Whether AWS credentials are configured, judged without any network call as the examples
/// judge it (examples/common/mod.rs): variables, a web-identity or container credentials
/// setting, or a shared config file.
fn aws_credentials_configured() -> bool {
    let set = |name: &str| env::var_os(name).is_some_and(|v| !v.is_empty());
    if [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_BEARER_TOKEN_BEDROCK",
    ]
    .iter()
    .any(|name| set(name))
    {
        return true;
    }
    let home = env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .flatten()
    .any(|path| path.is_file())
}

/// The models to run the examples as: `None` is the library's default for the Region.
fn models() -> (Vec<Option<String>>, bool) {
    match env::var(MODELS_ENV) {
        Ok(list) if !list.trim().is_empty() => (
            list.split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| Some(id.to_owned()))
                .collect(),
            true,
        ),
        _ => (
            std::iter::once(None)
                .chain(DEFAULT_MODELS.iter().map(|id| Some((*id).to_owned())))
                .collect(),
            false,
        ),
    }
}

/// A command that talks to real Bedrock: no stand-in endpoint, not offline.
fn live(mut command: Command) -> Command {
    command
        .env_remove("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("MINIMALAGENT_OFFLINE");
    command
}

/// Runs the live suite: the live tests, then every example once per model. Every step runs
/// even after one fails; the failures are listed at the end.
pub(crate) fn run(root: &Path) -> Result<()> {
    if !aws_credentials_configured() {
        return Err(NotRun(
            "test-live did NOT run: no AWS credentials are configured (none of \
             AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, container \
             credentials or AWS_BEARER_TOKEN_BEDROCK is set, and there is no ~/.aws/credentials \
             or ~/.aws/config). It calls real Amazon Bedrock: set credentials with model access \
             and run it again. Exit code 3 means \"not run\", never \"passed\"."
                .to_owned(),
        )
        .into());
    }
    let (models, from_env) = models();
    let label = |model: &Option<String>| {
        model
            .clone()
            .unwrap_or_else(|| "the Region's default (Amazon Nova Pro)".to_owned())
    };
    eprintln!(
        "xtask: test-live against Amazon Bedrock (Region: {}), models: {}",
        env::var("AWS_REGION")
            .or_else(|_| env::var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|_| "from the AWS profile, else us-west-2".to_owned()),
        models.iter().map(label).collect::<Vec<_>>().join(", ")
    );
    let mut failures: Vec<String> = Vec::new();

    let mut tests = live(cargo(root));
    tests.args([
        "test",
        "-p",
        "minimalagent-llm-bedrock",
        "--test",
        "live",
        "--",
        "--ignored",
        "--test-threads",
        "1",
        "--nocapture",
    ]);
    if from_env {
        let list: Vec<String> = models.iter().flatten().cloned().collect();
        tests.env(MODELS_ENV, list.join(","));
    } else {
        tests.env_remove(MODELS_ENV);
    }
    if let Err(error) = step("the Bedrock client's live tests", &mut tests) {
        failures.push(format!("{error:#}"));
    }

    // The examples keep their sessions in DynamoDB Local, not in the account's DynamoDB.
    let emulator = DynamoDbLocal::start(root)?;
    eprintln!("xtask: DynamoDB Local at {}", emulator.endpoint());
    let names = example_names(root)?;
    for model in &models {
        for name in &names {
            let mut command = live(cargo(root));
            command
                .args(["run", "--quiet", "--example", name])
                .env("AWS_ENDPOINT_URL_DYNAMODB", emulator.endpoint());
            match model {
                Some(id) => command.env("MINIMALAGENT_MODEL_ID", id),
                None => command.env_remove("MINIMALAGENT_MODEL_ID"),
            };
            let what = format!("example {name} on Bedrock as {}", label(model));
            if let Err(error) = step(&what, &mut command) {
                failures.push(format!("{error:#}"));
            }
        }
    }
    drop(emulator);

    let total = 1 + models.len() * names.len();
    if failures.is_empty() {
        eprintln!(
            "xtask: test-live passed: the live tests and {} example runs",
            total - 1
        );
        return Ok(());
    }
    bail!(
        "test-live: {} of {total} steps failed:\n- {}",
        failures.len(),
        failures.join("\n- ")
    )
}
