//! Start-up: the time from process start to the first completed run, as a Lambda function's
//! cold start pays it.
//!
//! This binary is its own subject: run by `cargo bench`, it starts the Converse stand-in (with a
//! fixed model latency) on loopback and spawns itself again and again as a child that builds an
//! `Agent` from the environment (BedrockModel pointed at the stand-in), does one run, prints
//! the answer and exits. The figure is spawn-to-exit, minus the model's latency. Baseline: the
//! same executable spawned to exit at once (the cost of starting any process).
//!
//! `cargo bench -p minimalagent --bench cold_start`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]
// The child prints its answer, as the program it stands for would.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use agent_testkit::{ConverseStandIn, Policy, Reply};
use common::report::{Report, median, millis, quick};
use common::{ROLE_ENV, run_self, sdk_child_env};
use minimalagent::Agent;

/// The model's own latency in the stand-in; subtracted from the figure.
const MODEL_LATENCY: Duration = Duration::from_millis(50);

/// Start-up the first run may add beyond the model's latency.
const TARGET_MS: f64 = 150.0;

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("cold-start") => cold_start_child(),
        Ok("exit") => {}
        _ => parent(),
    }
}

/// What a Lambda function does on its first invocation: build the agent from the environment,
/// then run once.
fn cold_start_child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let response = runtime.block_on(async {
        let agent = Agent::builder()
            .show_reasoning(false)
            .build()
            .await
            .expect("the agent builds");
        agent
            .run("What's the weather in Seattle?")
            .await
            .expect("the run completes")
            .0
    });
    println!("{response}");
}

fn parent() {
    let spawns = if quick() { 5 } else { 15 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("converse-standin")
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let standin = runtime
        .block_on(ConverseStandIn::start(Policy::always(Reply::text(
            "It is sunny in Seattle.",
        ))))
        .expect("the Converse stand-in starts");
    standin.set_latency(MODEL_LATENCY);
    let env = sdk_child_env(&standin.endpoint_url());

    let timeout = Duration::from_secs(30);
    let mut first_runs = Vec::with_capacity(spawns);
    let mut bare = Vec::with_capacity(spawns);
    // One of each first, unmeasured: the executable's pages come into the page cache, as they
    // would be on a warm Lambda host.
    for measured in std::iter::once(false).chain(std::iter::repeat_n(true, spawns)) {
        let child = run_self("cold-start", &env, timeout).expect("the child starts");
        assert!(
            child.success && child.stdout.contains("sunny"),
            "the cold-start child failed: {child:?}"
        );
        let exit = run_self("exit", &env, timeout).expect("the child starts");
        if measured {
            first_runs.push(child.elapsed);
            bare.push(exit.elapsed);
        }
    }
    runtime.block_on(standin.shutdown());

    let first_run = median(&mut first_runs);
    let bare_start = median(&mut bare);
    let beyond_model = first_run.saturating_sub(MODEL_LATENCY);
    let mut report = Report::new(
        "cold_start",
        "4. Start-up: process start to first completed run (BedrockModel on the stand-in)",
    );
    let case = format!("no sessions, {} ms model", MODEL_LATENCY.as_millis());
    report.push(
        report
            .row(
                &case,
                "spawn to first answer (median)",
                "ms",
                millis(first_run),
            )
            .baseline(
                millis(bare_start),
                "the same executable spawned to exit at once",
            ),
    );
    report.push(
        report
            .row(
                &case,
                "beyond the model's latency",
                "ms",
                millis(beyond_model),
            )
            .baseline(
                millis(bare_start),
                "the same executable spawned to exit at once",
            )
            .target(
                format!("< {TARGET_MS} ms"),
                millis(beyond_model) < TARGET_MS,
            )
            .note(format!(
                "median of {spawns} spawns; the stand-in answers after {} ms",
                MODEL_LATENCY.as_millis()
            )),
    );
    report.finish().expect("the report is written");
}
