//! `minimalagent`: read, follow, export, fork and delete MinimalAgent sessions, watch runs live
//! in a local web viewer (`minimalagent ui`), run eval cases (`minimalagent eval`), and check
//! the model and the store an agent would use (`minimalagent doctor`). See docs/cli.md,
//! docs/viewer.md and docs/evals.md.

mod approvals;
mod cli;
mod commands;
mod doctor;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod eval;
mod failure;
mod follow;
mod fork;
mod render;
mod store;
mod summary;
mod text;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use minimalagent::InterruptDecision;

use crate::approvals::Which;
use crate::cli::{Cli, Command, DecisionTarget, SessionsCommand};
use crate::failure::Failure;
use crate::follow::Until;
use crate::fork::ForkArgs;
use crate::store::{Access, OpenStore};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.color.apply();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            Failure::failed(format!("cannot start the async runtime: {error}")).report();
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Work left behind (a blocked read of stdin) must not keep the process alive.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let command = match cli.command {
        // The doctor checks the store itself, saying what fails, instead of opening it.
        Command::Doctor(args) => return doctor::run(&cli.store, &args).await,
        // Eval cases run on a model or a recording, not on a store.
        Command::Eval(args) => return eval::run(&cli.store, &args).await,
        other => other,
    };
    let url = store::store_url(&cli.store, std::env::var(store::STORE_ENV).ok())?;
    let store = store::open(&url, access(&command)).await?;
    match command {
        Command::Sessions(command) => match command {
            SessionsCommand::List { json, limit } => commands::list(&store, json, limit).await,
            SessionsCommand::Show { id, json, full } => {
                commands::show(&store, &id, json, full).await
            }
            SessionsCommand::Follow {
                id,
                from,
                until_idle,
                once,
                json,
            } => {
                let until = if until_idle {
                    Until::Idle
                } else if once {
                    Until::OneRun
                } else {
                    Until::Forever
                };
                follow::follow(&store, &id, from, until, json).await
            }
            SessionsCommand::Delete { id, yes } => commands::delete(&store, &id, yes).await,
            SessionsCommand::Export {
                id,
                output,
                as_cases,
                prefix,
            } => {
                let prefix = as_cases.then(|| prefix.as_deref().unwrap_or(&id));
                commands::export(&store, &id, output.as_deref(), prefix).await
            }
            SessionsCommand::Fork {
                source,
                new,
                after_run,
                after_step,
                to_store,
                json,
            } => {
                let args = ForkArgs {
                    source: &source,
                    new: &new,
                    after_run,
                    after_step,
                    to_store: to_store.as_deref(),
                    json,
                };
                fork::fork(&store, &args).await
            }
            SessionsCommand::Pending { id, json, full } => {
                approvals::pending(&store, id.as_deref(), json, full).await
            }
            SessionsCommand::Approve {
                target,
                input,
                always,
                this_input_only,
            } => {
                let decision = match (input, always) {
                    (Some(input), _) => InterruptDecision::ApproveWithInput { input },
                    (None, true) => InterruptDecision::ApproveAlways { this_input_only },
                    (None, false) => InterruptDecision::Approve,
                };
                decide(&store, &target, decision).await
            }
            SessionsCommand::Deny { target, message } => {
                decide(&store, &target, InterruptDecision::Deny { message }).await
            }
            SessionsCommand::Answer {
                id,
                interrupt,
                output,
                json,
            } => {
                let decision = InterruptDecision::Answer { output };
                approvals::decide(&store, &id, Which::One(&interrupt), decision, json).await
            }
        },
        Command::Ui(args) => ui::serve(store, &args).await,
        // Handled above.
        Command::Doctor(_) | Command::Eval(_) => Ok(()),
    }
}

/// Whether `command` writes to the store: commands that only read open it read-only.
fn access(command: &Command) -> Access {
    match command {
        Command::Sessions(
            SessionsCommand::List { .. }
            | SessionsCommand::Show { .. }
            | SessionsCommand::Follow { .. }
            | SessionsCommand::Export { .. }
            | SessionsCommand::Pending { .. },
        )
        | Command::Doctor(_)
        | Command::Eval(_) => Access::Read,
        Command::Sessions(
            SessionsCommand::Delete { .. }
            | SessionsCommand::Approve { .. }
            | SessionsCommand::Deny { .. }
            | SessionsCommand::Answer { .. }
            | SessionsCommand::Fork { .. },
        ) => Access::Write,
        Command::Ui(args) if args.allow_delete || args.allow_approvals => Access::Write,
        Command::Ui(_) => Access::Read,
    }
}

/// `approve` or `deny` on the calls `target` names.
async fn decide(
    store: &OpenStore,
    target: &DecisionTarget,
    decision: InterruptDecision,
) -> Result<(), Failure> {
    let which = match &target.interrupt {
        Some(interrupt) => Which::One(interrupt),
        None => Which::All,
    };
    approvals::decide(store, &target.id, which, decision, target.json).await
}
