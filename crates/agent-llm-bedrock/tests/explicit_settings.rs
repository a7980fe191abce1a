//! What the user set explicitly is sent as set, against the local Converse stand-in: streaming
//! with tools on a family that cannot stream tool use, and a `maxTokens` above the model's
//! limit. Neither is dropped or lowered on the client's own; Bedrock's refusal of either comes
//! back once, as `Unsupported`, saying which setting. The client's own default `maxTokens` is
//! lowered once to the limit Bedrock names.
//!
//! Each test uses a model id of its own: what the client learns from a refusal is kept per
//! model id for the whole process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failed assertion"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    InferenceConfig, Message, Model, ModelErrorKind, ModelRequest, ModelStreamEvent, ToolSpec,
};
use agent_llm_bedrock::aws_config::retry::RetryConfig;
use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region};
use agent_llm_bedrock::{BedrockModel, BedrockModelBuilder};
use agent_testkit::{BedrockError, ConverseStandIn, Policy, Reply, Rule};
use aws_credential_types::Credentials;
use futures::StreamExt;
use serde_json::json;

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the test took too long")
}

/// A builder for `model_id` on the real SDK client, pointed at the stand-in. One attempt: a
/// refusal is not something the SDK retries anyway, and the count of requests stays exact.
fn builder(standin: &ConverseStandIn, model_id: &str) -> BedrockModelBuilder {
    BedrockModel::builder()
        .model_id(model_id)
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(Credentials::for_tests())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
}

/// A model on a client made from an SDK config, with no builder setting.
async fn plain_model(standin: &ConverseStandIn, model_id: &str) -> BedrockModel {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::for_tests())
        .endpoint_url(standin.endpoint_url())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    BedrockModel::from_sdk_config(&config, model_id)
}

fn with_tools() -> ModelRequest {
    ModelRequest::new(vec![Message::user_text("Weather in Oslo?")]).with_tools(Arc::from([
        ToolSpec {
            name: "weather".into(),
            description: "The weather of a city.".into(),
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        },
    ]))
}

fn max_tokens(max: u32) -> InferenceConfig {
    InferenceConfig {
        max_tokens: Some(max),
        ..InferenceConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_streaming_with_tools_is_kept_and_its_refusal_explained() {
    bounded(async {
        // Llama 3.3: the table says its ConverseStream does not take tool use (pi#3739), and
        // the stand-in refuses it as Bedrock does.
        let llama = "us.meta.llama3-3-70b-instruct-v1:0";
        let standin = ConverseStandIn::start(Policy::always(Reply::text("Sunny.")))
            .await
            .unwrap();

        // Left unset, tools go through Converse.
        let by_default = builder(&standin, llama).build().await.unwrap();
        let events: Vec<_> = by_default
            .converse_stream(&with_tools())
            .await
            .unwrap()
            .collect()
            .await;
        assert!(events.iter().all(Result::is_ok));
        let requests = standin.requests();
        assert_eq!(requests.len(), 1);
        assert!(!requests[0].streamed, "Converse when tools are offered");
        assert!(requests[0].succeeded());

        // Set explicitly, streaming is kept: one ConverseStream call, Bedrock's refusal said
        // as the user's own setting, with the table's source, and nothing retried.
        let explicit = [
            builder(&standin, llama)
                .streaming(true)
                .build()
                .await
                .unwrap(),
            plain_model(&standin, llama).await.with_streaming(true),
        ];
        for model in explicit {
            standin.clear_requests();
            let failure = match model.converse_stream(&with_tools()).await {
                Ok(_) => panic!("Bedrock refuses tool use while streaming for Llama"),
                Err(failure) => failure,
            };
            assert_eq!(failure.kind(), ModelErrorKind::Unsupported, "{failure}");
            let message = failure.message();
            assert!(message.contains("streaming(true)"), "{message}");
            assert!(
                message.contains("does not take tool use while streaming"),
                "{message}"
            );
            assert!(
                message.contains("https://github.com/earendil-works/pi/issues/3739"),
                "the table's source is named: {message}"
            );
            assert!(
                message.contains("This model doesn't support tool use in streaming mode."),
                "Bedrock's own words are kept: {message}"
            );
            let requests = standin.requests();
            assert_eq!(requests.len(), 1, "no retry with Converse");
            assert!(requests[0].streamed);
            assert_eq!(
                requests[0].violation.as_ref().map(|v| v.rule()),
                Some(Rule::StreamingToolUseUnsupported)
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_max_tokens_above_the_limit_is_sent_once_and_refused_by_name() {
    bounded(async {
        // Nova Pro: the table and the stand-in say 5,000 (the Nova model cards).
        let nova = "us.amazon.nova-pro-v1:0";
        let standin = ConverseStandIn::start(Policy::always(Reply::text("Hello.")))
            .await
            .unwrap();
        let model = plain_model(&standin, nova).await;
        let request =
            ModelRequest::new(vec![Message::user_text("Hello")]).with_inference(max_tokens(20_000));
        let failure = model.converse(&request).await.unwrap_err();
        assert_eq!(failure.kind(), ModelErrorKind::Unsupported, "{failure}");
        let message = failure.message();
        assert!(message.contains("maxTokens 20000"), "{message}");
        assert!(message.contains("ask for at most 5000"), "{message}");
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "the same request is not sent twice");
        assert_eq!(requests[0].body["inferenceConfig"]["maxTokens"], 20_000);
        assert_eq!(
            requests[0].violation.as_ref().map(|v| v.rule()),
            Some(Rule::MaxTokensTooLarge)
        );

        // Nothing was learned from the user's own limit: the next request without one asks for
        // the table's maximum, and is taken.
        standin.clear_requests();
        let response = model
            .converse(&ModelRequest::new(vec![Message::user_text("Hello")]))
            .await
            .unwrap();
        assert!(response.dropped_features.is_empty());
        assert_eq!(
            standin.requests()[0].body["inferenceConfig"]["maxTokens"],
            5_000
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_own_max_tokens_is_the_users_too() {
    bounded(async {
        // The builder's limit (within the table's 5,000, so the build takes it) refused by a
        // Bedrock whose limit is lower: the user's setting, so no retry and no lowering.
        let nova = "us.amazon.nova-lite-v1:0";
        let standin = ConverseStandIn::start(Policy::always(Reply::text("Hello.")))
            .await
            .unwrap();
        standin.fail_next(
            1,
            BedrockError::validation(
                "The maximum tokens you requested exceeds the model limit of 1000. Try again with \
                 a maximum tokens value that is lower than 1000.",
            ),
        );
        let model = builder(&standin, nova)
            .inference(max_tokens(2_000))
            .build()
            .await
            .unwrap();
        let failure = model
            .converse(&ModelRequest::new(vec![Message::user_text("Hello")]))
            .await
            .unwrap_err();
        assert_eq!(failure.kind(), ModelErrorKind::Unsupported, "{failure}");
        assert!(
            failure.message().contains("maxTokens 2000")
                && failure.message().contains("ask for at most 1000"),
            "{failure}"
        );
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].body["inferenceConfig"]["maxTokens"], 2_000);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_max_tokens_is_lowered_once_to_the_limit_bedrock_names() {
    bounded(async {
        // A Bedrock whose limit is below the table's: the client's own default is lowered to
        // the limit named, once, visibly, and kept lower from then on.
        let nova = "us.amazon.nova-micro-v1:0";
        let standin = ConverseStandIn::start(Policy::always(Reply::text("Hello.")))
            .await
            .unwrap();
        standin.fail_next(
            1,
            BedrockError::validation(
                "The maximum tokens you requested exceeds the model limit of 3000. Try again with \
                 a maximum tokens value that is lower than 3000.",
            ),
        );
        let model = builder(&standin, nova)
            .streaming(true)
            .build()
            .await
            .unwrap();
        let request = ModelRequest::new(vec![Message::user_text("Hello")]);
        let events: Vec<ModelStreamEvent> = model
            .converse_stream(&request)
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        let dropped: Vec<_> = events
            .iter()
            .filter_map(|event| match event {
                ModelStreamEvent::FeatureDropped(feature) => Some(feature),
                _ => None,
            })
            .collect();
        assert_eq!(dropped.len(), 1, "{events:?}");
        assert_eq!(dropped[0].feature, "max_tokens");
        assert!(dropped[0].reason.contains("3000"), "{:?}", dropped[0]);
        let sent: Vec<_> = standin
            .requests()
            .iter()
            .map(|r| r.body["inferenceConfig"]["maxTokens"].clone())
            .collect();
        assert_eq!(sent, [json!(5_000), json!(3_000)]);

        // From now on the lower limit, at once.
        standin.clear_requests();
        let response = model.converse(&request).await.unwrap();
        assert!(response.dropped_features.is_empty());
        assert_eq!(
            standin.requests()[0].body["inferenceConfig"]["maxTokens"],
            3_000
        );
    })
    .await;
}
