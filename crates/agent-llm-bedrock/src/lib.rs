//! # agent-llm-bedrock
//!
//! Amazon Bedrock's Converse API as an [`agent_core::Model`], on the official
//! `aws-sdk-bedrockruntime` client.
//!
//! - Model id: [`DEFAULT_MODEL_ID`] unless given.
//! - Region: the AWS environment's (`AWS_REGION`, `AWS_PROFILE`'s), else [`DEFAULT_REGION`].
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod error;
mod model;

pub use model::{
    BedrockConfigError, BedrockModel, BedrockModelBuilder, DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MODEL_ID, DEFAULT_OPERATION_TIMEOUT, DEFAULT_REGION,
};

/// The SDK crates this model is built on, for configuring them without a version mismatch.
pub use {aws_config, aws_credential_types, aws_sdk_bedrockruntime};
