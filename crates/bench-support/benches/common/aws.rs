//! The DynamoDB Local endpoint, and an interceptor that counts what a client sends (the SDK
//! settings themselves are `bench_support::aws`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_llm_bedrock::aws_sdk_bedrockruntime::config::interceptors::BeforeTransmitInterceptorContextRef;
use agent_llm_bedrock::aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};

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
