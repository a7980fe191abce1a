//! Monitoring a long-running operation from another process, as the session guide shows: one
//! process runs the agent with real-time reasoning; this one polls the session and prints each
//! step, tool call and result as it appears, then the final answer, and exits when the run ends.
//!
//! ```sh
//! cargo xtask example monitor        # offline: Converse stand-in (slowed down) + DynamoDB Local
//! cargo run --example monitor        # Bedrock + DynamoDB with credentials
//! ```
//!
//! It starts the worker itself (this program with `--worker SESSION_ID`) so that the watched run
//! really happens in another process. Without DynamoDB at hand there is no store two processes
//! can share, so the worker then runs as a task in this process with an in-memory store.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use minimalagent::{Agent, RunStatus, ToolCallStatus, tool};

/// How often the monitor polls.
const POLL_EVERY: Duration = Duration::from_millis(300);
/// How long the monitor waits for the run at most.
const GIVE_UP_AFTER: Duration = Duration::from_secs(180);

/// Search the sales database.
///
/// # Arguments
/// * `query` - What to search for
#[tool]
async fn search_database(query: String) -> serde_json::Value {
    tokio::time::sleep(Duration::from_millis(800)).await;
    serde_json::json!({"query": query, "rows": 1284, "top_region": "EMEA"})
}

/// Analyse the latest data and summarise the trends.
///
/// # Arguments
/// * `topic` - What to analyse
#[tool]
async fn complex_analysis(topic: String) -> serde_json::Value {
    tokio::time::sleep(Duration::from_millis(1200)).await;
    serde_json::json!({"topic": topic, "trend": "up 12% quarter on quarter"})
}

async fn worker_agent(
    model: minimalagent::BedrockModel,
    builder: minimalagent::AgentBuilder,
) -> anyhow::Result<Agent> {
    Ok(builder
        .model(model)
        .tool(SearchDatabase)
        .tool(ComplexAnalysis)
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await?)
}

const QUERY: &str =
    "Search the database for the latest sales data, then run a complex analysis and report.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, session_id] = args.as_slice()
        && flag == "--worker"
    {
        return run_worker(session_id).await;
    }
    let session_id = format!("report-task-{}", std::process::id());
    let example = common::example_model().await?;
    if let Some(standin) = &example.standin {
        // Slow the stand-in down so that the steps are visible one by one.
        standin.set_latency(Duration::from_millis(700));
    }
    let shared_store = common::dynamodb_available();
    let reader = worker_agent(
        example.model.clone(),
        common::with_sessions(Agent::builder()),
    )
    .await?;
    let mut worker_process = None;
    let mut worker_task = None;
    if shared_store {
        println!("Starting the worker process for session {session_id} …");
        worker_process = Some(
            std::process::Command::new(std::env::current_exe()?)
                .args(["--worker", &session_id])
                .spawn()?,
        );
    } else {
        println!("Starting the worker as a task in this process (in-memory store) …");
        let agent = reader.clone();
        let session = session_id.clone();
        worker_task = Some(tokio::spawn(async move {
            agent.run_in_session(QUERY, &session).await.map(|_| ())
        }));
    }
    let outcome = monitor_progress(&reader, &session_id).await;
    if let Some(mut child) = worker_process {
        let status = child.wait()?;
        anyhow::ensure!(status.success(), "the worker process failed: {status}");
    }
    if let Some(task) = worker_task {
        task.await??;
    }
    outcome
}

/// The worker: runs the long operation with real-time reasoning, then exits.
async fn run_worker(session_id: &str) -> anyhow::Result<()> {
    let example = common::example_model().await?;
    if let Some(standin) = &example.standin {
        standin.set_latency(Duration::from_millis(700));
    }
    let agent = worker_agent(example.model, common::with_sessions(Agent::builder())).await?;
    agent.run_in_session(QUERY, session_id).await?;
    Ok(())
}

/// Polls the session's latest reasoning and prints what is new until the run ends.
async fn monitor_progress(agent: &Agent, session_id: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut shown_steps = HashSet::new();
    let mut shown_results = HashSet::new();
    loop {
        anyhow::ensure!(
            started.elapsed() < GIVE_UP_AFTER,
            "the run did not finish within {GIVE_UP_AFTER:?}"
        );
        if let Some(reasoning) = agent.get_reasoning(session_id).await? {
            for step in &reasoning.steps {
                if shown_steps.insert(step.step_number) {
                    println!(
                        "[{:>5.1}s] Step {}: {}",
                        started.elapsed().as_secs_f32(),
                        step.step_number,
                        step.thinking.as_deref().unwrap_or("(no thinking)")
                    );
                    for tool in &step.tools {
                        println!(
                            "         Tool used: {} with inputs: {}",
                            tool.name, tool.inputs
                        );
                    }
                }
                for tool in &step.tools {
                    if tool.status != ToolCallStatus::Running
                        && shown_results.insert(tool.tool_use_id.clone())
                    {
                        let result = match (&tool.result, &tool.error) {
                            (Some(result), _) => result.to_string(),
                            (None, Some(error)) => format!("error: {}", error.message),
                            (None, None) => "(none)".to_owned(),
                        };
                        println!(
                            "[{:>5.1}s]   Result of {}: {result}",
                            started.elapsed().as_secs_f32(),
                            tool.name
                        );
                    }
                }
            }
            match reasoning.status {
                RunStatus::Running => {}
                RunStatus::Completed => {
                    println!(
                        "[{:>5.1}s] Completed after {} steps: {}",
                        started.elapsed().as_secs_f32(),
                        reasoning.total_steps,
                        reasoning.final_response.unwrap_or_default()
                    );
                    return Ok(());
                }
                RunStatus::Failed => {
                    anyhow::bail!(
                        "the run failed: {}",
                        reasoning.error.map(|e| e.message).unwrap_or_default()
                    );
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
