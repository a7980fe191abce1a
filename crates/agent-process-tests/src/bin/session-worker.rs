//! The child process of this crate's tests.
//!
//! ```text
//! session-worker writers  <store-url> <session> <tasks> <turns> <prefix>
//! session-worker long-run <store-url> <session>
//! session-worker turns    <store-url> <session>
//! session-worker pay-run  <store-url> <session> <dir>
//! session-worker approval-run <store-url> <session> <dir>
//! session-worker decide   <store-url> <session> <interrupt> <by>
//! session-worker continue <store-url> <session> <dir>
//! ```
//!
//! - `writers` runs `tasks` concurrent tasks of `turns` runs each on the session (queries
//!   `<prefix>-w<task>-t<turn>`), and prints `conflicts <n>`: the commit retries of all runs.
//!   Any failed run fails the process, naming the run.
//! - `turns` reads questions from stdin, one per line, runs each on the session, and prints
//!   `saw <n>` after each: how many questions the model was sent (earlier turns' and this one).
//! - `long-run` runs `LONG` on the session with real-time reasoning and a heartbeat every
//!   200 ms; its second step hangs until the process is killed.
//! - `pay-run` runs `pay the rent` on the session with real-time reasoning and a heartbeat
//!   every 200 ms: its one step calls `pay` (at most once) and `read_balance` (at least once),
//!   which log their calls in `dir` and hang until the process is killed.
//! - `approval-run` runs `send 10` on the session: its one step calls `transfer`, which waits
//!   for approval, so the run pauses; it prints `paused <interrupt id>` and exits.
//! - `decide` is an operator without model or tools: it opens the store, prints `ready`,
//!   waits for a line on stdin, approves the interrupt with the input
//!   `{"amount": 10, "by": <by>}`, and prints `decided`, or `already_answered <run> <how>` when
//!   another operator answered first (`how`: `claim-lost` when its conditional claim lost,
//!   `found-answered` when it read the answer).
//! - `continue` continues the session's paused run whose calls were decided elsewhere
//!   (`Agent::respond` with no decisions) and prints `response <text>`.

#![allow(clippy::print_stdout)] // The parent reads the worker's report on stdout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_process_tests::{CountingTool, EchoModel, LoggedTool, OneStepModel, TRANSFER_REASON};
use anyhow::{Context, Result, bail};
use minimalagent::{Agent, Decisions, ResumeRefusal, RunOutcome, Sessions, open_store};
use serde_json::json;
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
        ["pay-run", url, session, dir] => pay_run(url, session, Path::new(dir)).await,
        ["approval-run", url, session, dir] => approval_run(url, session, Path::new(dir)).await,
        ["decide", url, session, interrupt, by] => decide(url, session, interrupt, by).await,
        ["continue", url, session, dir] => continue_run(url, session, Path::new(dir)).await,
        _ => bail!("usage: see the worker's docs; got {args:?}"),
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

async fn pay_run(url: &str, session: &str, dir: &Path) -> Result<()> {
    let agent = Agent::builder()
        .model(OneStepModel::paying())
        .show_reasoning(false)
        .tool(LoggedTool::new("pay", dir).hanging())
        .tool(
            LoggedTool::new("read_balance", dir)
                .at_least_once()
                .hanging(),
        )
        .sessions(open_store(url, None).await?)
        .real_time_reasoning(true)
        .heartbeat(Duration::from_millis(200), Duration::from_secs(2))
        .build()
        .await?;
    agent.run_in_session("pay the rent", session).await?;
    bail!("the run ended, but its tools should have hung")
}

/// The agent of `approval-run` and `continue`: no real-time reasoning, so nothing of a paused
/// run stays anywhere but in the store.
async fn approval_agent(url: &str, dir: &Path) -> Result<Agent> {
    Ok(Agent::builder()
        .model(OneStepModel::transferring())
        .show_reasoning(false)
        .tool(LoggedTool::new("transfer", dir).needing_approval(TRANSFER_REASON))
        .sessions(open_store(url, None).await?)
        .build()
        .await?)
}

async fn approval_run(url: &str, session: &str, dir: &Path) -> Result<()> {
    let agent = approval_agent(url, dir).await?;
    let result = agent.run_in_session("send 10", session).await?;
    if result.outcome != RunOutcome::Paused {
        bail!("the run did not pause: {:?}", result.outcome);
    }
    let [interrupt] = result.pending_interrupts.as_slice() else {
        bail!("one call should wait: {:?}", result.pending_interrupts);
    };
    println!("paused {}", interrupt.id);
    Ok(())
}

async fn decide(url: &str, session: &str, interrupt: &str, by: &str) -> Result<()> {
    let sessions = Sessions::open(url).await?;
    let decisions = Decisions::new().approve_with_input(interrupt, json!({"amount": 10, "by": by}));
    // Ready: the parent starts every operator at once with a line on stdin.
    println!("ready");
    let mut go = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut go)
        .await?;
    match sessions.decide(session, &decisions).await {
        Ok(_) => println!("decided"),
        Err(error) => match error.resume_refusal() {
            Some(ResumeRefusal::AlreadyAnswered { run }) => {
                // Lost the conditional claim (the store said so), or found it answered.
                let how = if error.session_error().is_some() {
                    "claim-lost"
                } else {
                    "found-answered"
                };
                println!("already_answered {run} {how}");
            }
            _ => return Err(anyhow::Error::new(error).context("deciding")),
        },
    }
    Ok(())
}

async fn continue_run(url: &str, session: &str, dir: &Path) -> Result<()> {
    let agent = approval_agent(url, dir).await?;
    let result = agent.respond(session, Decisions::new()).await?;
    println!("response {}", result.response);
    Ok(())
}
