//! A run that waits for a person: a worker process runs an agent whose money-moving tool must be
//! approved; the run pauses (nothing waits in memory: the worker exits), an operator approves
//! the held call with the `minimalagent` CLI, and another process continues the run, which
//! moves the money once and answers.
//!
//! ```sh
//! cargo run --example approval       # offline: Converse stand-in + a SQLite file the processes share
//! cargo xtask example approval       # the same, with DynamoDB Local
//! ```
//!
//! The three processes are this program started again with `--worker SESSION`,
//! `--operator SESSION` and `--finisher SESSION`. The operator runs the CLI
//! (`minimalagent sessions pending` and `approve`) when it has been built (`cargo build -p
//! minimalagent-cli`, which `cargo xtask` does); otherwise it makes the same library call the
//! CLI makes, `Sessions::decide`, and says so.

#![allow(clippy::print_stdout)] // An example talks to its user on stdout.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use minimalagent::{Agent, Decisions, RunOutcome, Sessions, tool};

/// How many transfers this process made: the money moves once, in the process that continues
/// the run, never in the one that paused.
static TRANSFERS: AtomicU32 = AtomicU32::new(0);

/// Sends money to a supplier. Each call waits for a person's approval.
///
/// # Arguments
/// * `supplier` - Who is paid
/// * `amount_eur` - How much, in euros
#[tool(approval = "money leaves the company account")]
async fn transfer_money(supplier: String, amount_eur: u32) -> serde_json::Value {
    TRANSFERS.fetch_add(1, Ordering::SeqCst);
    serde_json::json!({"supplier": supplier, "amount_eur": amount_eur, "status": "sent"})
}

/// The store the processes share: DynamoDB when at hand, else a SQLite file.
fn store_url() -> String {
    if common::dynamodb_available() {
        "dynamodb://minimalagent-session-table".to_owned()
    } else {
        common::sqlite_url("approval")
    }
}

async fn agent() -> anyhow::Result<(Agent, common::ExampleModel)> {
    let example = common::example_model().await?;
    let agent = Agent::builder()
        .model(example.model.clone())
        .tool(TransferMoney)
        .session_store_url(store_url())
        .system_prompt("You pay suppliers' invoices with the transfer_money tool.")
        .show_reasoning(false)
        .build()
        .await?;
    Ok((agent, example))
}

/// Runs the agent until its run pauses on the transfer, then exits.
async fn worker(session: &str) -> anyhow::Result<()> {
    let (agent, _model) = agent().await?;
    let result = agent
        .run_in_session("Pay invoice 42 from ACME Tools: 250 EUR.", session)
        .await?;
    anyhow::ensure!(
        result.outcome == RunOutcome::Paused,
        "the run did not pause: {}",
        result.outcome.as_str()
    );
    for held in &result.pending_interrupts {
        println!(
            "worker: the run waits for approval of {} {} ({}); call id {}",
            held.tool, held.input, held.reason, held.id
        );
    }
    println!(
        "worker: exiting with {} transfer(s) made",
        TRANSFERS.load(Ordering::SeqCst)
    );
    Ok(())
}

/// The `minimalagent` binary next to this example's, when it was built.
fn cli() -> Option<PathBuf> {
    let examples = std::env::current_exe().ok()?;
    let dir = examples.parent()?.parent()?;
    let cli = dir.join(format!("minimalagent{}", std::env::consts::EXE_SUFFIX));
    cli.is_file().then_some(cli)
}

/// Approves every call the session's paused run holds, with the CLI when it is at hand.
async fn operator(session: &str) -> anyhow::Result<()> {
    let sessions = Sessions::open(&store_url()).await?;
    let waiting = sessions.paused_runs(session).await?;
    let run = waiting
        .last()
        .ok_or_else(|| anyhow::anyhow!("no run of {session} waits for approval"))?;
    match cli() {
        Some(cli) => {
            let show = std::process::Command::new(&cli)
                .args(["--store", &store_url(), "sessions", "pending", session])
                .status()?;
            anyhow::ensure!(show.success(), "`minimalagent sessions pending` failed");
            for held in &run.interrupts {
                println!(
                    "operator: minimalagent sessions approve {session} {}",
                    held.id
                );
                let approved = std::process::Command::new(&cli)
                    .args([
                        "--store",
                        &store_url(),
                        "sessions",
                        "approve",
                        session,
                        &held.id,
                    ])
                    .status()?;
                anyhow::ensure!(approved.success(), "`minimalagent sessions approve` failed");
            }
        }
        None => {
            println!(
                "operator: the minimalagent CLI is not built (cargo build -p minimalagent-cli); \
                 deciding with Sessions::decide, the call it makes"
            );
            let decisions =
                Decisions::all(&run.interrupts, &minimalagent::InterruptDecision::Approve);
            sessions.decide(session, &decisions).await?;
        }
    }
    Ok(())
}

/// Continues the run whose calls were decided, and prints its answer.
async fn finisher(session: &str) -> anyhow::Result<()> {
    let (agent, _model) = agent().await?;
    let result = agent.respond(session, Decisions::new()).await?;
    println!("finisher: {}", result.response);
    for answered in &result.reasoning.answered_interrupts {
        println!(
            "finisher: {} was {}",
            answered.interrupt.tool,
            answered.decision.as_str()
        );
    }
    println!(
        "finisher: {} transfer(s) made in this process",
        TRANSFERS.load(Ordering::SeqCst)
    );
    anyhow::ensure!(
        TRANSFERS.load(Ordering::SeqCst) == 1,
        "the approved transfer runs exactly once"
    );
    Ok(())
}

async fn step(role: &str, session: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .args([role, session])
        .kill_on_drop(true)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "the {role} process failed: {status}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let mut args = std::env::args().skip(1);
    let role = args.next();
    let session = args.next();
    match (role.as_deref(), session) {
        (Some("--worker"), Some(session)) => worker(&session).await,
        (Some("--operator"), Some(session)) => operator(&session).await,
        (Some("--finisher"), Some(session)) => finisher(&session).await,
        (None, _) => {
            let session = format!("invoice-42-{}", std::process::id());
            step("--worker", &session).await?;
            step("--operator", &session).await?;
            step("--finisher", &session).await?;
            let sessions = Sessions::open(&store_url()).await?;
            let history = sessions.reasoning_history(&session).await?;
            println!(
                "session {session}: {} run, {}",
                history.len(),
                history
                    .last()
                    .map(|r| r.status.to_string())
                    .unwrap_or_default()
            );
            Ok(())
        }
        _ => anyhow::bail!("usage: approval [--worker|--operator|--finisher SESSION]"),
    }
}
