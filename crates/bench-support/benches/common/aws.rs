//! SDK settings for loopback endpoints, and an interceptor that counts what a client sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agent_llm_bedrock::aws_config::timeout::TimeoutConfig;
use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region, SdkConfig};
use agent_llm_bedrock::aws_credential_types::Credentials;
use agent_llm_bedrock::aws_sdk_bedrockruntime::config::interceptors::BeforeTransmitInterceptorContextRef;
use agent_llm_bedrock::aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};

/// The region every client uses: explicit, so the SDK looks nowhere for one.
pub(crate) const REGION: &str = "us-west-2";

/// The model id sent to the stand-in (prompt caching is turned off explicitly where it
/// matters).
pub(crate) const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

/// The DynamoDB Local endpoint's variable, set by `cargo xtask bench`.
pub(crate) const DYNAMODB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

/// The DynamoDB Local endpoint, when set (loopback only; anything else stops the benchmark).
pub(crate) fn dynamodb_endpoint() -> Option<String> {
    match bench_support::loopback_url(DYNAMODB_ENDPOINT_ENV) {
        Ok(endpoint) => endpoint,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    }
}

/// SDK settings for a loopback endpoint: explicit region and static dummy credentials (so
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

/// Requests a client sent and the bytes of their bodies.
#[derive(Debug, Default)]
pub(crate) struct SentCounter {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl SentCounter {
    /// (requests, body bytes) so far.
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Counts one request of `bytes` body bytes.
    pub(crate) fn record(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Counts each request and its body bytes just before it is sent (retries included).
#[derive(Debug, Clone)]
pub(crate) struct CountSent(pub(crate) Arc<SentCounter>);

impl Intercept for CountSent {
    fn name(&self) -> &'static str {
        "BenchmarkSentCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let body = context.request().body();
        let bytes = body
            .bytes()
            .map(|b| b.len() as u64)
            .or_else(|| body.content_length())
            .unwrap_or(0);
        self.0.record(bytes);
        Ok(())
    }
}
