//! `minimalagent doctor`: live checks of the Bedrock model and the session store an agent on
//! this machine would use, each one line (`ok`, `FAILED` or `skipped`) with why, and for a
//! failure the fix.
//!
//! The settings are the library's: the model id from `--model`, `MINIMALAGENT_MODEL_ID` or the
//! Region's default; Region, endpoints and credentials from the standard AWS settings; the store
//! from the CLI's own store settings.

#[cfg(feature = "bedrock")]
mod bedrock;
#[cfg(feature = "bedrock")]
mod fixes;
#[cfg(feature = "bedrock")]
mod report;
#[cfg(feature = "bedrock")]
mod store;
#[cfg(all(feature = "bedrock", feature = "dynamodb"))]
mod table;

use crate::cli::{DoctorArgs, StoreArgs};
use crate::failure::Failure;

/// Runs the checks and prints them; the failure (and its exit code) when one failed.
#[cfg(feature = "bedrock")]
pub(crate) async fn run(store_args: &StoreArgs, args: &DoctorArgs) -> Result<(), Failure> {
    use report::Report;

    let store = store::Target::resolve(store_args).await?;
    let mut report = Report::new();
    report.title("minimalagent doctor");
    let settings = bedrock::Settings::resolve(args.model.clone()).await;
    report.heading("Settings");
    settings.print(&mut report);
    store.print(&mut report);
    report.heading("Bedrock");
    bedrock::check(&settings, &mut report).await;
    report.heading("Session store");
    store.check(&mut report).await;
    report.finish()
}

/// Without Bedrock support there is nothing to check the model with: say so.
#[cfg(not(feature = "bedrock"))]
pub(crate) async fn run(_store_args: &StoreArgs, _args: &DoctorArgs) -> Result<(), Failure> {
    Err(Failure::usage(
        "`minimalagent doctor` needs Bedrock support (the `bedrock` feature), which this build \
         of minimalagent does not have: install it with `cargo install minimalagent-cli` (the \
         feature is on by default) or `--features bedrock`",
    ))
}
