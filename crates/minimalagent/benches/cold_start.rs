//! Start-up: the time from process start to the first completed run, as a Lambda function's
//! cold start pays it.
//!
//! This binary is its own subject: run by `cargo bench`, it starts the Converse stand-in (with a
//! fixed model latency) on loopback and spawns itself again and again as a child that builds an
//! `Agent` from the environment (`BedrockModel` pointed at the stand-in; with sessions, the
//! DynamoDB store on an existing table of DynamoDB Local), does one run, prints the answer and
//! exits. The figure is spawn-to-exit minus the model's latency. Baseline: the same executable
//! spawned to exit at once (the cost of starting any process).
//!
//! The DynamoDB case runs when `AWS_ENDPOINT_URL_DYNAMODB` points at a loopback DynamoDB Local
//! (`cargo xtask bench` starts one). Writes `cold_start.json`.
//!
//! `cargo bench -p minimalagent --bench cold_start`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]
// The child prints its answer, as the program it stands for would.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use agent_session_dynamo::DynamoSessionStore;
use agent_testkit::{ConverseStandIn, Policy, Reply};
use bench_support::aws::sdk_config;
use bench_support::child::{ROLE_ENV, run_self};
use bench_support::{Report, loopback_url, median, millis, quick, run_by_cargo_bench};
use common::sdk_child_env;
use minimalagent::Agent;

/// The model's own latency in the stand-in; subtracted from the figure.
const MODEL_LATENCY: Duration = Duration::from_millis(50);

/// Start-up the first run may add beyond the model's latency.
const TARGET_MS: f64 = 150.0;

/// The table of the sessions case, given to the child.
const TABLE_ENV: &str = "MINIMALAGENT_BENCH_COLD_TABLE";
const DYNAMODB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

const QUERY: &str = "What's the weather in Seattle?";

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("cold-start") => cold_start_child(),
        Ok("exit") => {}
        _ if run_by_cargo_bench("cold_start") => parent(),
        _ => {}
    }
}

/// What a Lambda function does on its first invocation: build the agent from the environment,
/// then run once (in a session when a table is given).
fn cold_start_child() {
    let table = std::env::var(TABLE_ENV).ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let response = runtime.block_on(async {
        let builder = Agent::builder().show_reasoning(false);
        match table {
            None => {
                let agent = builder.build().await.expect("the agent builds");
                agent.run(QUERY).await.expect("the run completes").response
            }
            Some(table) => {
                let agent = builder
                    .session_table_name(table)
                    .build()
                    .await
                    .expect("the agent builds");
                agent
                    .run_in_session(QUERY, "cold-start")
                    .await
                    .expect("the session run completes")
                    .response
            }
        }
    });
    println!("{response}");
}

fn parent() {
    let spawns = if quick() { 5 } else { 15 };
    let dynamodb = loopback_url(DYNAMODB_ENDPOINT_ENV).expect("a loopback DynamoDB endpoint");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("standin")
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

    let mut report = Report::new(
        "cold_start",
        "4. Start-up: process start to first completed run (BedrockModel on the stand-in)",
    );
    measure_case(
        &mut report,
        &format!("no sessions, {} ms model", MODEL_LATENCY.as_millis()),
        &env,
        spawns,
    );

    if let Some(endpoint) = &dynamodb {
        let table = format!("minimalagent-bench-cold-{}", std::process::id());
        runtime.block_on(async {
            let config = sdk_config(endpoint).await;
            DynamoSessionStore::builder()
                .sdk_config(&config)
                .table_name(&table)
                .create_table_if_missing(true)
                .build()
                .await
                .expect("the benchmark's table is created in DynamoDB Local");
        });
        let mut env = env.clone();
        env.push((TABLE_ENV, table.clone()));
        env.push((DYNAMODB_ENDPOINT_ENV, endpoint.clone()));
        measure_case(
            &mut report,
            &format!(
                "DynamoDB sessions (existing table), {} ms model",
                MODEL_LATENCY.as_millis()
            ),
            &env,
            spawns,
        );
        runtime.block_on(async {
            let config = sdk_config(endpoint).await;
            let client = agent_session_dynamo::aws_sdk_dynamodb::Client::new(&config);
            // The table lives in DynamoDB Local's memory anyway; leave it tidy all the same.
            let _ = client.delete_table().table_name(&table).send().await;
        });
    }
    runtime.block_on(standin.shutdown());
    report.finish().expect("the report is written");
}

/// Spawns the cold-start child and the bare child `spawns` times each (after one unmeasured
/// pair) and reports the medians.
fn measure_case(report: &mut Report, case: &str, env: &[(&'static str, String)], spawns: usize) {
    const BASELINE: &str = "the same executable spawned to exit at once";
    let timeout = Duration::from_secs(30);
    let mut first_runs = Vec::with_capacity(spawns);
    let mut bare = Vec::with_capacity(spawns);
    // One of each first, unmeasured: the executable's pages come into the page cache, as they
    // are on a Lambda host that has just loaded the function.
    for measured in std::iter::once(false).chain(std::iter::repeat_n(true, spawns)) {
        let child = run_self("cold-start", env, timeout).expect("the child starts");
        assert!(
            child.success && child.stdout.contains("sunny"),
            "the cold-start child failed: {child:?}"
        );
        let exit = run_self("exit", env, timeout).expect("the child starts");
        if measured {
            first_runs.push(child.elapsed);
            bare.push(exit.elapsed);
        }
    }
    let first_run = median(&mut first_runs);
    let bare_start = median(&mut bare);
    let beyond_model = first_run.saturating_sub(MODEL_LATENCY);
    report.push(
        report
            .row(
                case,
                "spawn to first answer (median)",
                "ms",
                millis(first_run),
            )
            .baseline(millis(bare_start), BASELINE),
    );
    report.push(
        report
            .row(
                case,
                "beyond the model's latency",
                "ms",
                millis(beyond_model),
            )
            .baseline(millis(bare_start), BASELINE)
            .target(
                format!("< {TARGET_MS} ms"),
                millis(beyond_model) < TARGET_MS,
            )
            .note(format!(
                "start-up: median of {spawns} spawns per case; the stand-in answers after {} ms",
                MODEL_LATENCY.as_millis()
            )),
    );
}
