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
//! (`cargo xtask bench` starts one).
//!
//! Peak memory of a short-lived process: a child builds the agent from the environment with
//! the in-memory store (the quick start with memory), runs 50 turns of one session and prints
//! its peak RSS (`VmHWM`). Baseline: a child that makes the same 50 calls with the bare SDK
//! `converse_stream`, keeping its conversation, each user turn with the time line the agent
//! adds and the agent's `maxTokens`. Writes `cold_start.json`.
//!
//! `cargo bench -p minimalagent --bench cold_start`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, clippy::panic)]
// The child prints its answer, as the program it stands for would.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use agent_session_dynamo::DynamoSessionStore;
use agent_testkit::Reply;
use bench_support::aws::sdk_config;
use bench_support::child::{ROLE_ENV, run_self};
use bench_support::process::status_kib;
use bench_support::{Report, loopback_url, median, millis, quick, run_by_cargo_bench};
use common::{bare_converse_stream, sdk_child_env, sdk_user_turn, start_standin};
use minimalagent::bedrock::aws_sdk_bedrockruntime::types as sdk;
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, BedrockModel};

/// The model's own latency in the stand-in; subtracted from the figure.
const MODEL_LATENCY: Duration = Duration::from_millis(50);

/// Start-up the first run may add beyond the model's latency.
const TARGET_MS: f64 = 150.0;

/// Turns of the peak-memory case.
const TURNS: usize = 50;
/// Peak RSS the 50-turn process may reach, in MB (10⁶ bytes).
const TARGET_PEAK_MB: f64 = 15.0;

/// The table of the sessions case, given to the child.
const TABLE_ENV: &str = "MINIMALAGENT_BENCH_COLD_TABLE";
const DYNAMODB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

const QUERY: &str = "What's the weather in Seattle?";

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("cold-start") => cold_start_child(),
        Ok("fifty-turns") => fifty_turns_child(false),
        Ok("fifty-sdk-calls") => fifty_turns_child(true),
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

/// A process that lives for one 50-turn conversation, then prints its peak RSS and its
/// anonymous RSS (what it allocated, not the executable's and libraries' pages) in KiB: the
/// agent with the in-memory store, or (`bare`) the bare SDK call with the same requests.
fn fifty_turns_child(bare: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let model = BedrockModel::builder()
            .build()
            .await
            .expect("the model builds from the environment");
        if bare {
            let max_tokens =
                i32::try_from(model.model_info().capabilities().max_output_tokens.value)
                    .expect("maxTokens fits");
            let client = model.client().clone();
            let mut history: Vec<sdk::Message> = Vec::new();
            for _ in 0..TURNS {
                history.push(sdk_user_turn(QUERY));
                // The agent here has no system prompt, and sends no system block.
                let answer = bare_converse_stream(
                    &client,
                    model.model_id(),
                    history.clone(),
                    None,
                    max_tokens,
                )
                .await
                .expect("the call and its stream succeed");
                history.push(answer);
            }
        } else {
            let agent = Agent::builder()
                .model(model)
                .sessions(InMemorySessionStore::new())
                .show_reasoning(false)
                .build()
                .await
                .expect("the agent builds");
            for _ in 0..TURNS {
                agent
                    .run_in_session(QUERY, "fifty-turns")
                    .await
                    .expect("the session run completes");
            }
        }
    });
    let peak = status_kib("VmHWM").expect("the peak RSS is readable");
    let anonymous = status_kib("RssAnon").expect("the anonymous RSS is readable");
    println!("{peak} {anonymous}");
}

fn parent() {
    let spawns = if quick() { 5 } else { 15 };
    let dynamodb = loopback_url(DYNAMODB_ENDPOINT_ENV).expect("a loopback DynamoDB endpoint");
    let (runtime, standin) = start_standin(1, Reply::text("It is sunny in Seattle."));
    standin.set_latency(MODEL_LATENCY);
    let env = sdk_child_env(&standin.endpoint_url());

    let mut report = Report::new(
        "cold_start",
        "4. Start-up: process start to first completed run (BedrockModel on the stand-in)",
    );
    measure_peak_rss(&mut report, &env);
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

/// Spawns the 50-turn child and its bare-SDK baseline three times each and reports the median
/// peak RSS and anonymous RSS of each, in MB.
fn measure_peak_rss(report: &mut Report, env: &[(&'static str, String)]) {
    let timeout = Duration::from_secs(60);
    let median_of_three = |role: &str| -> (f64, f64) {
        let mut peaks = Vec::new();
        let mut anonymous = Vec::new();
        for _ in 0..3 {
            let child = run_self(role, env, timeout).expect("the child starts");
            assert!(child.success, "the {role} child failed: {child:?}");
            let figures: Vec<f64> = child
                .stdout
                .split_whitespace()
                .map(|kib| kib.parse::<f64>().expect("the child prints KiB") * 1024.0 / 1e6)
                .collect();
            let [peak, anon] = figures[..] else {
                panic!("the {role} child printed {:?}", child.stdout);
            };
            peaks.push(peak);
            anonymous.push(anon);
        }
        peaks.sort_by(f64::total_cmp);
        anonymous.sort_by(f64::total_cmp);
        (peaks[1], anonymous[1])
    };
    let (agent, agent_anonymous) = median_of_three("fifty-turns");
    let (bare, bare_anonymous) = median_of_three("fifty-sdk-calls");
    const BASELINE: &str = "the same 50 calls with the bare SDK converse_stream, conversation kept";
    let case = format!("{TURNS} turns of one session, in-memory store");
    report.push(
        report
            .row(
                &case,
                "peak RSS (VmHWM, median of 3 processes)",
                "MB",
                agent,
            )
            .baseline(bare, BASELINE)
            .target(format!("≤ {TARGET_PEAK_MB} MB"), agent <= TARGET_PEAK_MB)
            .note(format!(
                "peak RSS: the stand-in answers after {} ms; MB = 10⁶ bytes",
                MODEL_LATENCY.as_millis()
            )),
    );
    report.push(
        report
            .row(&case, "anonymous RSS at the end", "MB", agent_anonymous)
            .baseline(bare_anonymous, BASELINE)
            .note(
                "anonymous RSS: what the process allocated; the rest of its RSS is the pages of \
                 the executable and libraries it touched",
            ),
    );
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
