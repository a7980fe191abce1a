//! # MinimalAgent for Rust
//!
//! A small, fast, dependable agent framework for Amazon Bedrock: an [`Agent`] calls the
//! Converse API in a loop, runs the tools the model asks for (concurrently), and can keep each
//! conversation and each run's reasoning trace in a session store.
//!
//! ```no_run
//! use minimalagent::{Agent, tool};
//!
//! /// Get the weather for a location.
//! ///
//! /// # Arguments
//! /// * `location` - City name to get weather for
//! #[tool]
//! async fn get_weather(location: String) -> serde_json::Value {
//!     serde_json::json!({"location": location, "forecast": "sunny", "temperature_c": 21})
//! }
//!
//! # async fn demo() -> Result<(), minimalagent::Error> {
//! let agent = Agent::builder()
//!     .tool(GetWeather)
//!     .system_prompt("You are a weather assistant.")
//!     .max_steps(5)
//!     .build()
//!     .await?;
//! let (response, reasoning) = agent.run("What's the weather in Seattle?").await?;
//! println!("{response} after {} steps", reasoning.total_steps);
//! # Ok(())
//! # }
//! ```
//!
//! The same agent runs offline on a scripted model from `agent-testkit` — the way to unit-test
//! an agent (the Converse stand-in in that crate goes through the real Bedrock client):
//!
//! ```
//! use agent_testkit::ScriptedModel;
//! use minimalagent::{Agent, tool};
//! use serde_json::json;
//!
//! /// Get the weather for a location.
//! ///
//! /// # Arguments
//! /// * `location` - City name to get weather for
//! #[tool]
//! async fn get_weather(location: String) -> serde_json::Value {
//!     json!({"location": location, "forecast": "sunny"})
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), minimalagent::Error> {
//! let model = ScriptedModel::new()
//!     .then_tools(None, &[("get_weather", json!({"location": "Seattle"}))])
//!     .then_text("It is sunny in Seattle.");
//! let agent = Agent::builder()
//!     .model(model)
//!     .tool(GetWeather)
//!     .show_reasoning(false)
//!     .build()
//!     .await?;
//! let (response, reasoning) = agent.run("What's the weather in Seattle?").await?;
//! assert_eq!(response, "It is sunny in Seattle.");
//! assert_eq!(
//!     reasoning.steps[0].tools[0].result,
//!     Some(json!({"location": "Seattle", "forecast": "sunny"}))
//! );
//! # Ok(())
//! # }
//! ```
//!
//! ## Feature flags
//!
//! - `bedrock` (default): [`BedrockModel`], the model an agent uses unless given another.
//! - `dynamodb` (default): the DynamoDB session store ([`dynamodb::DynamoSessionStore`]) that
//!   `use_session_memory(true)` sets up.
//!
//! With both off, give the agent a model with `.model(..)` and, for sessions, a store with
//! `.session_store(..)` (for example [`session::InMemorySessionStore`]).
//!
//! ## Crates
//!
//! This facade re-exports the workspace's crates; libraries that only implement a model, a
//! tool or a store should depend on `agent-core` or `agent-session` instead.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod agent;
mod display;
mod error;
mod session_methods;

pub use agent::{
    Agent, AgentBuilder, DEFAULT_MAX_STEPS, DEFAULT_SESSION_TABLE_NAME, DEFAULT_SESSION_TTL,
    is_valid_table_name,
};
pub use display::ReasoningPrinter;
pub use error::{ConfigError, Error};

#[doc(inline)]
pub use agent_core::*;
#[doc(inline)]
pub use agent_tools::tool;

/// Sessions: the store contract, ids and errors.
pub mod session {
    #[doc(inline)]
    pub use agent_session::*;
}

/// The Amazon Bedrock Converse model.
#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
pub mod bedrock {
    #[doc(inline)]
    pub use agent_llm_bedrock::*;
}

#[cfg(feature = "bedrock")]
#[cfg_attr(docsrs, doc(cfg(feature = "bedrock")))]
#[doc(no_inline)]
pub use agent_llm_bedrock::BedrockModel;

/// The DynamoDB session store.
#[cfg(feature = "dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
pub mod dynamodb {
    #[doc(inline)]
    pub use agent_session_dynamo::*;
}
