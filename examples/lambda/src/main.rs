//! MinimalAgent on AWS Lambda.
//!
//! The agent — its Bedrock client, its DynamoDB session store, its tools — is built once per
//! container, before the runtime takes the first invocation, and shared by every invocation
//! the container serves. Each invocation continues the conversation of the session its event
//! names (`run_in_session`), so a user's turns are kept in the DynamoDB table across
//! containers and cold starts.
//!
//! Event: `{"query": "What's the weather in Seattle?", "session_id": "user123"}`.
//! Response: `{"session_id", "response", "steps", "run_id", "usage"}`.
//!
//! Configuration (environment of the function):
//! - `SESSION_TABLE` — the session table (default `minimalagent-session-table`; create it from
//!   docs/cloudformation/session-table.yaml);
//! - `MODEL_ID` — the Bedrock model (default: the library's);
//! - the standard AWS settings (`AWS_REGION` is set by Lambda; credentials come from the
//!   function's role).
//!
//! See docs/lambda.md for the IAM policy and how to build and deploy.

use lambda_runtime::{Error as LambdaError, LambdaEvent, service_fn};
use minimalagent::{Agent, tool};
use serde::{Deserialize, Serialize};

/// What the function is invoked with.
#[derive(Debug, Deserialize)]
struct Request {
    /// The user's message.
    query: String,
    /// The conversation it belongs to: 1 to 128 characters of `[A-Za-z0-9_-]`.
    session_id: String,
}

/// What the function returns.
#[derive(Debug, Serialize)]
struct Response {
    session_id: String,
    response: String,
    steps: u32,
    run_id: String,
    usage: minimalagent::TokenUsage,
}

/// Get the weather for a location.
///
/// # Arguments
/// * `location` - City name to get weather for
#[tool]
async fn get_weather(location: String) -> serde_json::Value {
    // A real function would call a weather service here.
    serde_json::json!({"location": location, "forecast": "sunny", "temperature_c": 21})
}

/// Builds the agent from the function's environment.
async fn build_agent() -> Result<Agent, minimalagent::Error> {
    let mut builder = Agent::builder()
        .tool(GetWeather)
        .system_prompt("You are a helpful weather assistant. Be brief.")
        .use_session_memory(true)
        // The trace printer writes to stderr; in Lambda that is CloudWatch Logs, so keep it off
        // and log with tracing instead.
        .show_reasoning(false);
    if let Ok(table) = std::env::var("SESSION_TABLE") {
        builder = builder.session_table_name(table);
    }
    if let Ok(model_id) = std::env::var("MODEL_ID") {
        builder = builder.model_id(model_id);
    }
    builder.build().await
}

/// One invocation: the query, run in its session.
async fn handle(agent: &Agent, event: LambdaEvent<Request>) -> Result<Response, LambdaError> {
    let Request { query, session_id } = event.payload;
    let result = agent.run_in_session(query.as_str(), &session_id).await?;
    tracing::info!(
        session_id = %session_id,
        run_id = %result.reasoning.run_id,
        steps = result.reasoning.total_steps,
        "answered"
    );
    Ok(Response {
        session_id,
        steps: result.reasoning.total_steps,
        run_id: result.reasoning.run_id.to_string(),
        usage: result.usage,
        response: result.response,
    })
}

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time() // CloudWatch Logs stamps each line.
        .init();
    // Once per container: the clients, the table check and the tools are reused by every
    // invocation this container serves.
    let agent = build_agent().await?;
    let agent = &agent;
    lambda_runtime::run(service_fn(move |event| handle(agent, event))).await
}
