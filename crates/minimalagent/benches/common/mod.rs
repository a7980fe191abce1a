//! What the end-to-end benchmarks share: the environment of their child processes. The SDK
//! settings, the report, `/proc` counters and child processes are `bench-support`'s.

#![allow(dead_code)] // Not every benchmark uses every helper.

use bench_support::aws::REGION;

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
