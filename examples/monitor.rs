//! Monitoring a long-running operation from another process: a worker process runs the agent
//! with real-time reasoning; this process follows the session and prints each step, tool call
//! and result as it lands, then the run's end. It survives its own restart: halfway through it
//! stops following and starts again from the last position it printed, with no event missed or
//! repeated. It ends when the run completes or is interrupted.
//!
//! ```sh
//! cargo run --example monitor        # offline: Converse stand-in + a SQLite file both processes share
//! cargo xtask example monitor        # the same, with DynamoDB Local
//! ```
//!
//! The worker is this program started again with `--worker SESSION_ID`. A monitor needs no model:
//! it reads the store through `Sessions`.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use futures::StreamExt;
use minimalagent::{Agent, AgentEvent, FollowPosition, Sessions, tool};

/// Search the sales database.
///
/// # Arguments
/// * `query` - What to search for
#[tool]
async fn search_database(query: String) -> serde_json::Value {
    tokio::time::sleep(Duration::from_millis(700)).await;
    serde_json::json!({"query": query, "rows": 1284, "top_region": "EMEA"})
}

/// Analyse the latest data and summarise the trends.
///
/// # Arguments
/// * `topic` - What to analyse
#[tool]
async fn complex_analysis(topic: String) -> serde_json::Value {
    tokio::time::sleep(Duration::from_millis(900)).await;
    serde_json::json!({"topic": topic, "trend": "up 12% quarter on quarter"})
}

/// The store both processes use: DynamoDB when at hand, else a SQLite file.
fn store_url() -> String {
    if common::dynamodb_available() {
        "dynamodb://minimalagent-session-table".to_owned()
    } else {
        common::sqlite_url("monitor")
    }
}

async fn work(session_id: &str) -> anyhow::Result<()> {
    let example = common::example_model().await?;
    if let Some(standin) = &example.standin {
        // Slow the model down so that the monitor sees the run unfold.
        standin.set_latency(Duration::from_millis(400));
    }
    let agent = Agent::builder()
        .model(example.model)
        .tool(SearchDatabase)
        .tool(ComplexAnalysis)
        .session_store_url(store_url())
        .real_time_reasoning(true)
        .show_reasoning(false)
        .build()
        .await?;
    agent
        .run_in_session(
            "Analyse the latest sales data and generate a comprehensive report",
            session_id,
        )
        .await?;
    Ok(())
}

/// Prints one event the way a dashboard would show it; returns whether the run ended.
fn show(event: &AgentEvent) -> bool {
    match event {
        AgentEvent::RunStarted { query, .. } => println!("run started: {query}"),
        AgentEvent::ModelReply { step, message, .. } if message.tool_uses().next().is_some() => {
            println!(
                "step {step}: the model asks for {} tool(s)",
                message.tool_uses().count()
            );
        }
        AgentEvent::ToolInputComplete { name, input, .. } => println!("  tool {name} with {input}"),
        AgentEvent::ToolResult { invocation, .. } => println!(
            "  result of {} ({} ms): {}",
            invocation.name,
            invocation.duration_ms.unwrap_or_default(),
            invocation
                .result
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        AgentEvent::RunFinished { result } => {
            println!(
                "run completed after {} steps: {}",
                result.reasoning.total_steps, result.response
            );
            return true;
        }
        AgentEvent::RunEnded { reasoning } => {
            println!("run ended: {}", reasoning.status);
            return true;
        }
        _ => {}
    }
    false
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--worker") {
        let session_id = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("--worker SESSION_ID"))?;
        return work(&session_id).await;
    }

    let session_id = format!("report-task-{}", std::process::id());
    let mut worker = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--worker", &session_id])
        .kill_on_drop(true)
        .spawn()?;
    println!(
        "worker process {} runs session {session_id}",
        worker.id().unwrap_or_default()
    );

    let sessions = Sessions::open(&store_url()).await?;
    let mut position = FollowPosition::start();
    let mut printed = 0usize;
    let mut restarted = false;
    let ended = tokio::time::timeout(Duration::from_secs(180), async {
        'follow: loop {
            let mut events = sessions.follow(&session_id, position.clone())?;
            while let Some(item) = events.next().await {
                let item = item?;
                let done = show(&item.event);
                // Save the position after each event, as a monitor that may restart would.
                position = item.position;
                printed += 1;
                if done {
                    return anyhow::Ok(());
                }
                if printed == 4 && !restarted {
                    restarted = true;
                    println!("(monitor restarts, resuming from position {position})");
                    continue 'follow;
                }
            }
        }
    })
    .await;
    match ended {
        Ok(result) => result?,
        Err(_) => anyhow::bail!("the run did not end within 3 minutes"),
    }
    let status = worker.wait().await?;
    println!("worker exited: {status}");
    Ok(())
}
