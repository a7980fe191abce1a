//! # agent-llm-bedrock
//!
//! Amazon Bedrock's Converse API as an [`agent_core::Model`], on the official
//! `aws-sdk-bedrockruntime` client.
//!
//! - Model id: Amazon Nova Pro through the Region's cross-region profile unless given
//!   ([`DEFAULT_MODEL_ID`] in US Regions, [`default_model_id`]).
//! - What each model family takes: one capability table ([`families`]), every cell with its
//!   source; optional features (cache checkpoints, a default output limit, greedy tool
//!   decoding, a typed answer's forced tool choice) are sent only where it says the family
//!   takes them, requests are shaped to the family's rules, and a refusal of a feature the
//!   client added on its own drops it (once, visibly: a warning and the run's trace).
//! - Region: the AWS environment's (`AWS_REGION`, `AWS_PROFILE`'s), else
//!   [`agent_core::DEFAULT_AWS_REGION`].
//! - Endpoint: the standard AWS settings (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
//!   `AWS_ENDPOINT_URL`, profile `endpoint_url`) or [`BedrockModelBuilder::endpoint_url`].
//! - Timeouts and retries are set explicitly ([`DEFAULT_ATTEMPT_TIMEOUT`],
//!   [`DEFAULT_OPERATION_TIMEOUT`], [`DEFAULT_MAX_ATTEMPTS`]); the SDK sets no operation timeout
//!   of its own.
//! - Bedrock's errors become [`agent_core::ModelError`]s whose
//!   [`kind`](agent_core::ModelError::kind) says what happened (throttled, validation, access
//!   denied, model not ready or not found, service unavailable, timeout) and whose message is
//!   AWS's own.
//!
//! ```no_run
//! use agent_llm_bedrock::BedrockModel;
//! use agent_core::InferenceConfig;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let model = BedrockModel::builder()
//!     .model_id("us.anthropic.claude-sonnet-4-20250514-v1:0")
//!     .inference(InferenceConfig { max_tokens: Some(1024), ..Default::default() })
//!     .build()
//!     .await?;
//! # let _ = model; Ok(())
//! # }
//! ```
//!
//! A model can also be made from an [`aws_config::SdkConfig`] the application already has
//! ([`BedrockModel::from_sdk_config`]) or from a ready client ([`BedrockModel::from_client`]).
//! Here, one call through the real client to the Converse stand-in from `agent-testkit`, as the
//! tests do:
//!
//! ```
//! use agent_core::{Message, Model, ModelRequest, StopReason};
//! use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region};
//! use agent_llm_bedrock::aws_credential_types::Credentials;
//! use agent_llm_bedrock::BedrockModel;
//! use agent_testkit::{ConverseStandIn, Reply};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let standin = ConverseStandIn::scripted([Reply::text("Hello from Converse.")]).await?;
//! let config = aws_config::defaults(BehaviorVersion::latest())
//!     .region(Region::new("us-west-2"))
//!     .credentials_provider(Credentials::new("test", "test", None, None, "doc"))
//!     .endpoint_url(standin.endpoint_url())
//!     .load()
//!     .await;
//! let model = BedrockModel::from_sdk_config(&config, "us.amazon.nova-pro-v1:0");
//! let request = ModelRequest::new(vec![Message::user_text("Hi!")]);
//! let response = model.converse(&request).await?;
//! assert_eq!(response.message.text(), "Hello from Converse.");
//! assert_eq!(response.stop_reason, StopReason::EndTurn);
//! assert_eq!(standin.requests()[0].model_id, "us.amazon.nova-pro-v1:0");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod cache_points;
mod convert;
mod error;
pub mod families;
mod model;
mod plan;
mod recovery;
mod stream;
mod wire;

pub use builder::{
    BedrockConfigError, BedrockModelBuilder, CachePoints, DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MODEL_ID, DEFAULT_OPERATION_TIMEOUT, Guardrail, PromptCaching,
    ReasoningEffort, default_model_id, supports_prompt_caching,
};
pub use families::{ModelFamily, ModelInfo};
pub use model::{BedrockModel, PROVIDER};

/// The SDK crates this model is built on, for configuring them without a version mismatch.
pub use {aws_config, aws_credential_types, aws_sdk_bedrockruntime};
