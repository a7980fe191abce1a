//! What every example shares: choosing between Amazon Bedrock and the offline Converse stand-in.
//!
//! - With `MINIMALAGENT_OFFLINE=1`, or when no AWS credentials are configured, the example
//!   starts the Converse stand-in from `agent-testkit` on 127.0.0.1 and says so on its first
//!   line. Its demo policy is a rule-based fake model: it calls your tools with arguments made
//!   from their schemas, then summarises their results.
//! - With `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` set, the example talks to that endpoint (for
//!   example a stand-in started with `cargo run -p minimalagent-testkit --bin converse-standin`).
//! - Otherwise it uses Amazon Bedrock with your credentials, region and model access.
//!
//! `MINIMALAGENT_MODEL_ID` picks the model (default: Amazon Nova Pro through the Region's
//! cross-region profile); offline, the stand-in plays that model's family and enforces its
//! rules, so `cargo xtask test` runs every example as Nova and as Claude.

#![allow(dead_code)] // Not every example uses every helper.

use std::env;
use std::path::PathBuf;

use agent_testkit::{ConverseStandIn, Policy};
use anyhow::Context;
use minimalagent::BedrockModel;
use minimalagent::bedrock::aws_config::{self, BehaviorVersion, Region};

/// The model an example runs on, and the stand-in it keeps alive when offline.
pub(crate) struct ExampleModel {
    /// The model to give to `Agent::builder().model(..)`.
    pub(crate) model: BedrockModel,
    /// The stand-in server, when running offline; dropped at the end of the example.
    pub(crate) standin: Option<ConverseStandIn>,
}

/// Sets up logging from `RUST_LOG` (for example `RUST_LOG=minimalagent=debug,agent_core=debug`).
pub(crate) fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// Whether AWS credentials are configured, judged without any network call: environment
/// variables, a web-identity or container credentials setting, or a shared config file.
pub(crate) fn aws_credentials_configured() -> bool {
    let set = |name: &str| env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("AWS_ACCESS_KEY_ID")
        || set("AWS_PROFILE")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_BEARER_TOKEN_BEDROCK")
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

/// Picks Bedrock or the offline stand-in and prints which on the first line.
pub(crate) async fn example_model() -> anyhow::Result<ExampleModel> {
    let offline_asked = env::var("MINIMALAGENT_OFFLINE").is_ok_and(|v| v == "1");
    let endpoint = env::var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        .ok()
        .filter(|v| !v.is_empty());
    let model_id = env::var("MINIMALAGENT_MODEL_ID")
        .ok()
        .filter(|id| !id.trim().is_empty());
    if !offline_asked && endpoint.is_none() && aws_credentials_configured() {
        let mut builder = BedrockModel::builder();
        if let Some(model_id) = &model_id {
            builder = builder.model_id(model_id);
        }
        let model = builder.build().await?;
        println!(
            "Using Amazon Bedrock: model {} (set MINIMALAGENT_OFFLINE=1 to run offline).",
            model.model_id()
        );
        return Ok(ExampleModel {
            model,
            standin: None,
        });
    }
    let (endpoint, standin) = match endpoint.filter(|_| !offline_asked) {
        Some(endpoint) => {
            println!(
                "Running against the Converse endpoint in AWS_ENDPOINT_URL_BEDROCK_RUNTIME ({endpoint}), not Amazon Bedrock."
            );
            (endpoint, None)
        }
        None => {
            let standin = ConverseStandIn::start(Policy::demo())
                .await
                .context("starting the offline Converse stand-in")?;
            let endpoint = standin.endpoint_url();
            println!(
                "Running OFFLINE: {}, so this example talks to the built-in Converse stand-in at {endpoint}, not to Amazon Bedrock.",
                if offline_asked {
                    "MINIMALAGENT_OFFLINE=1 is set"
                } else {
                    "no AWS credentials were found"
                }
            );
            (endpoint, Some(standin))
        }
    };
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(
            minimalagent::bedrock::aws_credential_types::Credentials::new(
                "offline", "offline", None, None, "example",
            ),
        )
        .endpoint_url(endpoint)
        .load()
        .await;
    let model_id = model_id.unwrap_or_else(|| minimalagent::bedrock::DEFAULT_MODEL_ID.to_owned());
    Ok(ExampleModel {
        model: BedrockModel::from_sdk_config(&config, model_id),
        standin,
    })
}

/// Whether a DynamoDB endpoint is at hand: DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`, as
/// `cargo xtask example` sets it) or real DynamoDB when credentials are configured and the
/// example is not forced offline.
pub(crate) fn dynamodb_available() -> bool {
    let offline = env::var("MINIMALAGENT_OFFLINE").is_ok_and(|v| v == "1");
    env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some_and(|v| !v.is_empty())
        || (!offline && aws_credentials_configured())
}

/// A SQLite file for an example's sessions, under the workspace's `target/` directory, so that
/// a second run of the example finds the first run's sessions.
pub(crate) fn sqlite_url(name: &str) -> String {
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    format!(
        "sqlite://{}",
        target.join(format!("{name}-sessions.db")).display()
    )
}

/// Turns sessions on, as the seed does: in DynamoDB (`use_session_memory`) when it is at hand,
/// else in a SQLite file under `target/`, saying which on a line of its own.
pub(crate) fn with_sessions(
    builder: minimalagent::AgentBuilder,
    name: &str,
) -> minimalagent::AgentBuilder {
    if dynamodb_available() {
        println!("Sessions: DynamoDB table `minimalagent-session-table`.");
        builder.use_session_memory(true)
    } else {
        let url = sqlite_url(name);
        println!("Sessions: {url} (no DynamoDB endpoint or AWS credentials).");
        builder.session_store_url(url)
    }
}
