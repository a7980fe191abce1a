//! What the end-to-end benchmarks share: SDK settings that never leave loopback, and the
//! environment of their child processes. The report, `/proc` counters and child processes are
//! `bench-support`'s.

#![allow(dead_code)] // Not every benchmark uses every helper.

use std::time::Duration;

use minimalagent::bedrock::aws_config::timeout::TimeoutConfig;
use minimalagent::bedrock::aws_config::{self, BehaviorVersion, Region, SdkConfig};
use minimalagent::bedrock::aws_credential_types::Credentials;

/// The region every client uses: explicit, so the SDK looks nowhere for one.
pub(crate) const REGION: &str = "us-west-2";

/// The model id sent to the stand-in.
pub(crate) const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// Shared SDK settings for loopback endpoints: explicit region and static dummy credentials (so
/// nothing probes instance metadata or reads profile files), and short timeouts.
pub(crate) async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "minimalagent",
            "minimalagent",
            None,
            None,
            "benchmark",
        ))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Environment every child gets: loopback only, explicit region and dummy credentials, no
/// profile files, no instance-metadata probe.
pub(crate) fn sdk_child_env(bedrock_endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "minimalagent".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "minimalagent".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            bedrock_endpoint.to_owned(),
        ),
    ]
}
