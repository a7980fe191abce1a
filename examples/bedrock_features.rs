//! What a Bedrock agent of 2026 is configured with: prompt caching (on by default for models
//! that support it), extended thinking, a guardrail, and a forced tool choice — each visible in
//! the result and the trace.
//!
//! ```sh
//! cargo run --example bedrock_features
//! ```
//!
//! Offline, the Converse stand-in checks each request against Converse's rules (cache points,
//! thinking, tool choice, guardrails) and answers as the service would.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::bedrock::{BedrockModel, Guardrail, PromptCaching};
use minimalagent::{Agent, ToolChoice, tool};

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> serde_json::Value {
    serde_json::json!({"location": location, "forecast": "sunny"})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let endpoint = example
        .standin
        .as_ref()
        .map(|standin| standin.endpoint_url());
    let builder = |model_id: &str| {
        let mut builder = BedrockModel::builder().model_id(model_id);
        if let Some(endpoint) = &endpoint {
            builder = builder.endpoint_url(endpoint).credentials_provider(
                minimalagent::bedrock::aws_credential_types::Credentials::new(
                    "offline", "offline", None, None, "example",
                ),
            );
        }
        builder
    };

    // Prompt caching: checkpoints after the system prompt, the tools and the history.
    let cached = Agent::builder()
        .model(
            builder("us.anthropic.claude-sonnet-4-20250514-v1:0")
                .prompt_caching(PromptCaching::Auto)
                .build()
                .await?,
        )
        .tool(GetWeather)
        .system_prompt("You are a weather assistant with a long, stable system prompt.")
        .show_reasoning(false)
        .build()
        .await?;
    let result = cached.run("What's the weather in Oslo?").await?;
    println!(
        "caching: {} input tokens, {} read from the cache, {} written to it",
        result.usage.input_tokens,
        result.usage.cache_read_input_tokens,
        result.usage.cache_write_input_tokens
    );

    // Extended thinking: reasoning blocks with signatures, kept and sent back exactly.
    let thinking = Agent::builder()
        .model(
            builder("us.anthropic.claude-sonnet-4-20250514-v1:0")
                .thinking(2048)
                .build()
                .await?,
        )
        .tool(GetWeather)
        .show_reasoning(false)
        .build()
        .await?;
    let result = thinking.run("Should I bring sunglasses to Lima?").await?;
    println!(
        "thinking: {:?}",
        result
            .reasoning
            .steps
            .first()
            .and_then(|s| s.thinking.clone())
    );

    // A forced tool choice: the model must call a tool.
    let forced = Agent::builder()
        .model(builder("us.amazon.nova-pro-v1:0").build().await?)
        .tool(GetWeather)
        .tool_choice(ToolChoice::Tool("get_weather".into()))
        .max_steps(1)
        .show_reasoning(false)
        .build()
        .await?;
    let result = forced.run("Hello!").await?;
    println!(
        "tool choice: first step called {:?}",
        result
            .reasoning
            .steps
            .first()
            .map(|s| s.tools[0].name.clone())
    );

    // A guardrail: an intervention is its own outcome, not an answer.
    let guarded = Agent::builder()
        .model(
            builder("us.amazon.nova-pro-v1:0")
                .guardrail(Guardrail::new("my-guardrail", "1"))
                .build()
                .await?,
        )
        .show_reasoning(false)
        .build()
        .await?;
    if let Some(standin) = &example.standin {
        standin.push_reply(agent_testkit::Reply::guardrail_intervened(
            "Sorry, I can't discuss that.",
        ));
    }
    let result = guarded.run("Tell me something forbidden.").await?;
    println!(
        "guardrail: outcome {} — {}",
        result.outcome.as_str(),
        result.response
    );
    Ok(())
}
