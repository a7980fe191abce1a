//! Streaming: the answer printed as the model writes it, tool calls shown as they start and
//! end, then cancellation by dropping the stream.
//!
//! ```sh
//! cargo run --example streaming
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use minimalagent::{Agent, AgentEvent, tool};

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> serde_json::Value {
    // A slow service, so that the stream shows the call in progress.
    tokio::time::sleep(Duration::from_millis(300)).await;
    serde_json::json!({"location": location, "forecast": "sunny", "temperature_c": 21})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;
    let agent = Agent::builder()
        .model(example.model)
        .tool(GetWeather)
        .system_prompt("You are a weather assistant.")
        .show_reasoning(false) // this example prints the events itself
        .build()
        .await?;

    let mut stream = agent.stream("What's the weather in Seattle and in Lisbon?");
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event? {
            AgentEvent::TextDelta { text, .. } => {
                print!("{text}");
                stdout.flush()?;
            }
            AgentEvent::ToolCallStarted { name, .. } => println!("\n[calling {name}…]"),
            AgentEvent::ToolResult { invocation, .. } => println!(
                "[{} answered in {} ms: {}]",
                invocation.name,
                invocation.duration_ms.unwrap_or_default(),
                invocation.result.map(|r| r.to_string()).unwrap_or_default()
            ),
            AgentEvent::RunFinished { result } => println!(
                "\n\nDone: {} step(s), {} tokens, outcome {}.",
                result.reasoning.total_steps,
                result.usage.total_tokens,
                result.outcome.as_str()
            ),
            _ => {}
        }
    }

    // Dropping a stream cancels its run: tools get the signal, nothing is kept.
    let mut stream = agent.stream("What's the weather in Paris?");
    while let Some(event) = stream.next().await {
        if let AgentEvent::ToolCallStarted { name, .. } = event? {
            println!("\n[{name} started; dropping the stream cancels the run]");
            break;
        }
    }
    drop(stream);
    Ok(())
}
