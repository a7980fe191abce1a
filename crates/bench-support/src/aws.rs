//! SDK settings for loopback endpoints, shared by every benchmark that builds an AWS SDK client
//! (feature `aws`).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The region every client uses: explicit, so the SDK looks nowhere for one.
pub const REGION: &str = "us-west-2";

/// The model id sent to the stand-in.
pub const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// SDK settings for a loopback endpoint: explicit region and static dummy credentials (so
/// nothing probes instance metadata or reads profile files), and short timeouts.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
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
