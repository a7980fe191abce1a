//! The child process of this crate's tests.
//!
//! ```text
//! session-worker writers  <store-url> <session> <tasks> <turns> <prefix>
//! session-worker long-run <store-url> <session>
//! session-worker turns    <store-url> <session>
//! ```
//!
//! - `writers` runs `tasks` concurrent tasks of `turns` runs each on the session (queries
//!   `<prefix>-w<task>-t<turn>`), and prints `conflicts <n>`: the commit retries of all runs.
//!   Any failed run fails the process, naming the run.
//! - `turns` reads questions from stdin, one per line, runs each on the session, and prints
//!   `saw <n>` after each: how many questions the model was sent (earlier turns' and this one).
//! - `long-run` runs `LONG` on the session with real-time reasoning and a heartbeat every
//!   200 ms; its second step hangs until the process is killed.

#![allow(clippy::print_stdout)] // The parent reads the worker's report on stdout.

use std::sync::Arc;
use std::time::Duration;

use agent_process_tests::{CountingTool, EchoModel};
use anyhow::{Context, Result, bail};
use minimalagent::{Agent, open_store};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["writers", url, session, tasks, turns, prefix] => {
            writers(url, session, tasks.parse()?, turns.parse()?, prefix).await
        }
        ["long-run", url, session] => long_run(url, session).await,
        ["turns", url, session] => turns(url, session).await,
        _ => bail!(
            "usage: session-worker writers URL SESSION TASKS TURNS PREFIX | long-run URL SESSION"
        ),
    }
}

async fn writers(url: &str, session: &str, tasks: usize, turns: usize, prefix: &str) -> Result<()> {
    let agent = Agent::builder()
        .model(EchoModel::default())
        .show_reasoning(false)
        .tool(CountingTool::echo())
        .sessions(open_store(url, None).await?)
        .build()
        .await?;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (agent, session, prefix) = (agent.clone(), session.to_owned(), prefix.to_owned());
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for turn in 0..turns {
                let result = agent
                    .run_in_session(format!("{prefix}-w{task}-t{turn}"), &session)
                    .await
                    .with_context(|| format!("{prefix} task {task} turn {turn}"))?;
                conflicts += result.reasoning.commit_conflicts;
            }
            anyhow::Ok(conflicts)
        }));
    }
    let mut conflicts = 0;
    for handle in handles {
        conflicts += handle.await??;
    }
    println!("conflicts {conflicts}");
    Ok(())
}

async fn long_run(url: &str, session: &str) -> Result<()> {
    let agent = Agent::builder()
        .model(EchoModel::default())
        .show_reasoning(false)
        .tool(CountingTool::echo())
        .tool(CountingTool::hang(true))
        .sessions(open_store(url, None).await?)
        .real_time_reasoning(true)
        .heartbeat(Duration::from_millis(200), Duration::from_secs(2))
        .build()
        .await?;
    agent.run_in_session("LONG", session).await?;
    bail!("the run ended, but its second step should have hung")
}

async fn turns(url: &str, session: &str) -> Result<()> {
    let model = Arc::new(EchoModel::default());
    let agent = Agent::builder()
        .model(model.clone())
        .show_reasoning(false)
        .tool(CountingTool::echo())
        .sessions(open_store(url, None).await?)
        .build()
        .await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(question) = lines.next_line().await? {
        agent.run_in_session(question, session).await?;
        println!("saw {}", model.questions_seen());
    }
    Ok(())
}
