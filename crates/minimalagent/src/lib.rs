//! # minimalagent
//!
//! A small, fast, dependable agent framework for Amazon Bedrock (work in progress).

#[doc(inline)]
pub use agent_core::*;
#[doc(inline)]
pub use agent_tools::tool;
