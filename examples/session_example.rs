//! The complete session example: an agent that remembers a conversation across runs and keeps
//! the reasoning of each run.
//!
//! ```sh
//! cargo run --example session_example          # Bedrock + DynamoDB with credentials; else offline, in memory
//! cargo xtask example session_example          # offline, with DynamoDB Local
//! ```

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use minimalagent::{Agent, tool};
use serde::Serialize;

/// The answer to a question.
#[derive(Debug, Serialize)]
struct Answer {
    answer: String,
}

/// Answer a simple question.
///
/// # Arguments
/// * `question` - The question to answer
#[tool]
fn answer_question(question: String) -> Answer {
    Answer {
        answer: format!("The answer to '{question}' is 42."),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let example = common::example_model().await?;

    // Create an agent with sessions enabled.
    let agent = common::with_sessions(Agent::builder(), "session_example")
        .model(example.model)
        .tool(AnswerQuestion)
        .show_reasoning(true)
        .build()
        .await?;

    // A session id: a user id in a real application.
    let session_id = format!("example-{}", uuid_like());

    // First interaction.
    let first = agent
        .run_in_session("What is the meaning of life?", &session_id)
        .await?;
    println!("First answer: {}", first.response);

    // Second interaction, referring to the first.
    let second = agent
        .run_in_session("Can you elaborate on that?", &session_id)
        .await?;
    println!("Second answer: {}", second.response);

    // The reasoning history: one record per run, oldest first.
    let history = agent.get_reasoning_history(&session_id).await?;
    println!("Found {} interactions in this session", history.len());
    Ok(())
}

/// A unique enough id for an example run, without another dependency.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}
