//! `minimalagent`: read, follow, export and delete MinimalAgent sessions, watch runs live in a
//! local web viewer (`minimalagent ui`), and check the model and the store an agent would use
//! (`minimalagent doctor`). See docs/cli.md and docs/viewer.md.

mod cli;
mod commands;
mod doctor;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod failure;
mod follow;
mod render;
mod store;
mod summary;
mod text;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, SessionsCommand};
use crate::failure::Failure;
use crate::follow::Until;

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
        other => other,
    };
    let url = store::store_url(&cli.store, std::env::var(store::STORE_ENV).ok())?;
    let store = store::open(&url).await?;
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
            SessionsCommand::Export { id, output } => {
                commands::export(&store, &id, output.as_deref()).await
            }
        },
        Command::Ui(args) => ui::serve(store, &args).await,
        // Handled above.
        Command::Doctor(_) => Ok(()),
    }
}
