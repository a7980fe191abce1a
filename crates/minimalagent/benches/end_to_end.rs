//! End to end through the real SDK clients: `Agent::run_in_session` with `BedrockModel`
//! (streaming, as by default) against the Converse stand-in on loopback (0 ms and 200 ms model
//! latency), with the in-memory store, the SQLite store (a file in the temporary directory,
//! `Synchronous::Full`) and the DynamoDB store on DynamoDB Local, at 1, 64 and 512 concurrent
//! sessions.
//!
//! Run by `cargo bench`, this binary hosts the stand-in and spawns itself once per
//! configuration: each child is the "one process" of the figure (its own runs per second,
//! latencies, CPU and RSS), driving a closed loop of `sessions` tasks for a fixed window. The
//! baseline child makes the bare SDK `converse_stream` call instead (reading every event with
//! the SDK's receiver), with the same request each session's agent sends: the conversation,
//! each user turn with the time line the agent adds, the system prompt and the `maxTokens` the
//! agent sends on its own. Writes `end_to_end.json`.
//!
//! DynamoDB Local is used when `AWS_ENDPOINT_URL_DYNAMODB` is set (`cargo xtask bench` starts
//! it); without it, the DynamoDB cases are left out.
//!
//! `cargo bench -p minimalagent --bench end_to_end`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]
// The child reports its figures on stdout, one JSON line, for the parent to read.
#![allow(clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agent_session_dynamo::DynamoSessionStore;
use agent_session_sqlite::SqliteSessionStore;
use agent_testkit::{ConverseStandIn, Reply};
use bench_support::aws::{MODEL_ID, sdk_config};
use bench_support::child::{ROLE_ENV, run_self};
use bench_support::process::{status_kib, thread_cpu};
use bench_support::{Report, loopback_url, micros, quantile, quick, run_by_cargo_bench};
use common::{
    bare_converse_stream, forgetting_requests, sdk_child_env, sdk_user_turn, start_standin,
};
use cpu_time::ProcessTime;
use minimalagent::bedrock::PromptCaching;
use minimalagent::bedrock::aws_sdk_bedrockruntime::{Client, types as sdk};
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, BedrockModel};
use serde_json::{Value, json};

/// Runs a session takes before its task moves on to a new session, so that conversations (and
/// with them request sizes) stay those of ordinary sessions however fast the loop goes. With a
/// 200 ms model no session reaches it within the window, so there every task keeps one session.
const RUNS_PER_SESSION: u64 = 32;

const QUERY: &str = "What's the weather in Seattle?";
const ANSWER: &str = "It is sunny in Seattle, 21 degrees.";
const SYSTEM_PROMPT: &str = "You are a weather assistant. Answer in one sentence.";

/// Runs per second the 512-session, 200 ms, in-memory case should reach on two cores.
const TARGET_RUNS_PER_SECOND: f64 = 2000.0;
/// RSS an idle session may cost in that case.
const TARGET_KIB_PER_IDLE_SESSION: f64 = 64.0;
/// How far the 0 ms cases may fall behind the bare SDK call.
const TARGET_RATIO_TO_SDK: f64 = 1.3;

/// Child settings, passed through the environment.
const ENV_MODE: &str = "MINIMALAGENT_BENCH_E2E_MODE";
const ENV_SESSIONS: &str = "MINIMALAGENT_BENCH_E2E_SESSIONS";
const ENV_WARMUP_MS: &str = "MINIMALAGENT_BENCH_E2E_WARMUP_MS";
const ENV_MEASURE_MS: &str = "MINIMALAGENT_BENCH_E2E_MEASURE_MS";
const ENV_TABLE: &str = "MINIMALAGENT_BENCH_E2E_TABLE";
const ENV_SQLITE_FILE: &str = "MINIMALAGENT_BENCH_E2E_SQLITE_FILE";
const ENV_ONLY: &str = "MINIMALAGENT_BENCH_E2E_ONLY";
const DYNAMODB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("e2e") => child(),
        _ if run_by_cargo_bench("end_to_end") => parent(),
        _ => {}
    }
}

/// What a child drives: the bare SDK call, or agents with one of the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sdk,
    Memory,
    Sqlite,
    Dynamo,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sdk => "sdk",
            Mode::Memory => "memory",
            Mode::Sqlite => "sqlite",
            Mode::Dynamo => "dynamodb",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Mode::Sdk, Mode::Memory, Mode::Sqlite, Mode::Dynamo]
            .into_iter()
            .find(|mode| mode.name() == name)
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Sdk => "bare SDK converse_stream",
            Mode::Memory => "in-memory store",
            Mode::Sqlite => "SQLite store",
            Mode::Dynamo => "DynamoDB Local store",
        }
    }
}

/// One child's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    runs_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_run_us: f64,
    peak_rss_mib: f64,
    kib_per_idle_session: f64,
    sessions: f64,
    errors: f64,
    /// CPU the stand-in spent per request it answered, in the parent.
    standin_cpu_per_request_us: f64,
}

fn parent() {
    let quick = quick();
    let (warmup, measure) = if quick {
        (Duration::from_millis(500), Duration::from_millis(1500))
    } else {
        (Duration::from_millis(1000), Duration::from_millis(4000))
    };
    let (runtime, standin) = start_standin(2, Reply::text(ANSWER));

    let dynamodb = loopback_url(DYNAMODB_ENDPOINT_ENV).expect("a loopback DynamoDB endpoint");
    let table = format!("minimalagent-bench-e2e-{}", std::process::id());
    if let Some(endpoint) = &dynamodb {
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
    }

    let mut modes = vec![Mode::Sdk, Mode::Memory, Mode::Sqlite];
    if dynamodb.is_some() {
        modes.push(Mode::Dynamo);
    }
    let mut report = Report::new(
        "end_to_end",
        "3. End to end: Agent::run_in_session, BedrockModel on the Converse stand-in (loopback)",
    );
    forgetting_requests(&standin, || {
        run_configs(
            &standin,
            &modes,
            &table,
            dynamodb.as_deref(),
            (warmup, measure),
            &mut report,
        );
    });
    runtime.block_on(standin.shutdown());
    if let Some(endpoint) = &dynamodb {
        runtime.block_on(async {
            let config = sdk_config(endpoint).await;
            let client = agent_session_dynamo::aws_sdk_dynamodb::Client::new(&config);
            // The table lives in DynamoDB Local's memory anyway; leave it tidy all the same.
            let _ = client.delete_table().table_name(&table).send().await;
        });
    }
    report.finish().expect("the report is written");
}

fn run_configs(
    standin: &ConverseStandIn,
    modes: &[Mode],
    table: &str,
    dynamodb: Option<&str>,
    (warmup, measure): (Duration, Duration),
    report: &mut Report,
) {
    for latency_ms in [0u64, 200] {
        standin.set_latency(Duration::from_millis(latency_ms));
        for sessions in [1usize, 64, 512] {
            if !selected(latency_ms, sessions) {
                continue;
            }
            let mut baseline = Figures::default();
            let mut in_memory = None;
            for &mode in modes {
                let requests_before = standin.request_count();
                let cpu_before = thread_cpu(std::process::id(), "standin");
                // Each SQLite child gets a new file, so that one configuration's sessions do not
                // weigh on the next.
                let sqlite_file = std::env::temp_dir().join(format!(
                    "minimalagent-bench-e2e-{}-{latency_ms}-{sessions}.db",
                    std::process::id()
                ));
                let mut env = sdk_child_env(&standin.endpoint_url());
                env.extend([
                    (ENV_MODE, mode.name().to_owned()),
                    (ENV_SESSIONS, sessions.to_string()),
                    (ENV_WARMUP_MS, warmup.as_millis().to_string()),
                    (ENV_MEASURE_MS, measure.as_millis().to_string()),
                    (ENV_TABLE, table.to_owned()),
                    (ENV_SQLITE_FILE, sqlite_file.display().to_string()),
                ]);
                if let Some(endpoint) = dynamodb {
                    env.push((DYNAMODB_ENDPOINT_ENV, endpoint.to_owned()));
                }
                let child = run_self("e2e", &env, Duration::from_secs(120))
                    .expect("the benchmark child starts");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
                }
                assert!(child.success, "the {} child failed: {child:?}", mode.name());
                let mut figures = parse_figures(child.json_line());
                let requests = standin.request_count() - requests_before;
                let cpu = thread_cpu(std::process::id(), "standin") - cpu_before;
                if requests > 0 {
                    figures.standin_cpu_per_request_us = micros(cpu) / requests as f64;
                }
                eprintln!(
                    "end_to_end: {} ms, {sessions} sessions, {}: {figures:?}",
                    latency_ms,
                    mode.name()
                );
                match mode {
                    Mode::Sdk => baseline = figures,
                    _ => {
                        add_rows(report, mode, latency_ms, sessions, &figures, &baseline);
                        if mode == Mode::Memory {
                            in_memory = Some(figures);
                        } else if let Some(memory) = &in_memory {
                            report.push(
                                report
                                    .row(
                                        format!(
                                            "{}, {latency_ms} ms, {sessions} sess.",
                                            mode.label()
                                        ),
                                        "runs per second vs in-memory store",
                                        "runs/s",
                                        figures.runs_per_second,
                                    )
                                    .baseline(
                                        memory.runs_per_second,
                                        "the in-memory store's runs per second, same configuration",
                                    ),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Whether `MINIMALAGENT_BENCH_E2E_ONLY` (a list like `0:64,200:512` of latency in ms and
/// sessions), when set, selects this configuration: for profiling one of them.
fn selected(latency_ms: u64, sessions: usize) -> bool {
    std::env::var(ENV_ONLY).map_or(true, |only| {
        only.split(',')
            .any(|item| item.trim() == format!("{latency_ms}:{sessions}"))
    })
}

fn parse_figures(line: Option<&str>) -> Figures {
    let line = line.expect("the child printed its figures");
    let value: Value = serde_json::from_str(line).expect("the child's figures are JSON");
    let number = |key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
    Figures {
        runs_per_second: number("runs_per_second"),
        p50_ms: number("p50_ms"),
        p99_ms: number("p99_ms"),
        cpu_per_run_us: number("cpu_per_run_us"),
        peak_rss_mib: number("peak_rss_mib"),
        kib_per_idle_session: number("kib_per_idle_session"),
        sessions: number("sessions"),
        errors: number("errors"),
        standin_cpu_per_request_us: 0.0,
    }
}

fn add_rows(
    report: &mut Report,
    mode: Mode,
    latency_ms: u64,
    sessions: usize,
    figures: &Figures,
    sdk: &Figures,
) {
    const BASELINE: &str =
        "bare SDK converse_stream calls, same latency, concurrency and conversation";
    let case = format!("{}, {latency_ms} ms, {sessions} sess.", mode.label());
    let zero_latency_memory = mode == Mode::Memory && latency_ms == 0;
    let headline = mode == Mode::Memory && latency_ms == 200 && sessions == 512;

    let mut row = report
        .row(&case, "runs per second", "runs/s", figures.runs_per_second)
        .baseline(sdk.runs_per_second, BASELINE);
    if zero_latency_memory {
        row = row.target(
            format!("≥ baseline / {TARGET_RATIO_TO_SDK}"),
            figures.runs_per_second * TARGET_RATIO_TO_SDK >= sdk.runs_per_second,
        );
    } else if headline {
        row = row.target(
            format!("≥ {TARGET_RUNS_PER_SECOND} runs/s"),
            figures.runs_per_second >= TARGET_RUNS_PER_SECOND,
        );
    }
    if figures.errors > 0.0 {
        row = row.note(format!(
            "{case}: {} runs failed and are not counted",
            figures.errors
        ));
    }
    report.push(row);

    let mut row = report
        .row(&case, "p50 latency", "ms", figures.p50_ms)
        .baseline(sdk.p50_ms, BASELINE);
    if zero_latency_memory {
        row = row.target(
            format!("≤ {TARGET_RATIO_TO_SDK} × baseline"),
            figures.p50_ms <= sdk.p50_ms * TARGET_RATIO_TO_SDK,
        );
    }
    report.push(row);
    report.push(
        report
            .row(&case, "p99 latency", "ms", figures.p99_ms)
            .baseline(sdk.p99_ms, BASELINE),
    );
    report.push(
        report
            .row(&case, "client CPU per run", "µs", figures.cpu_per_run_us)
            .baseline(sdk.cpu_per_run_us, BASELINE),
    );
    report.push(
        report
            .row(
                &case,
                "stand-in CPU per request",
                "µs",
                figures.standin_cpu_per_request_us,
            )
            .baseline(sdk.standin_cpu_per_request_us, BASELINE)
            .note(
                "the Converse stand-in runs in the parent process on the same two cores; its CPU is \
                 not in the client's, and is sampled in 10 ms ticks (rough below ~100 requests)",
            ),
    );
    report.push(
        report
            .row(&case, "peak RSS (VmHWM)", "MiB", figures.peak_rss_mib)
            .baseline(sdk.peak_rss_mib, BASELINE),
    );
    let mut row = report
        .row(
            &case,
            format!("RSS per idle session ({} held)", figures.sessions),
            "KiB",
            figures.kib_per_idle_session,
        )
        .baseline(sdk.kib_per_idle_session, BASELINE);
    if headline {
        row = row.target(
            format!("< {TARGET_KIB_PER_IDLE_SESSION} KiB"),
            figures.kib_per_idle_session < TARGET_KIB_PER_IDLE_SESSION,
        );
    }
    report.push(row.note(
        "RSS per idle session: (RSS once every task is idle − RSS before the first task) / sessions held",
    ));
}

/// One child: a closed loop of `sessions` tasks for the warm-up and the measured window.
fn child() {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let mode = Mode::from_name(&env(ENV_MODE)).expect("a known mode");
    let sessions: usize = env(ENV_SESSIONS).parse().expect("a session count");
    let warmup = Duration::from_millis(env(ENV_WARMUP_MS).parse().expect("a warm-up time"));
    let measure = Duration::from_millis(env(ENV_MEASURE_MS).parse().expect("a window"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let figures = runtime.block_on(drive(mode, sessions, warmup, measure));
    println!("{figures}");
}

/// What each task runs: an agent in a session, or the bare SDK call.
#[derive(Clone)]
enum Driver {
    Agent(Agent),
    /// The bare client, and the `maxTokens` the agent sends on its own (the model's maximum):
    /// the baseline sends what the agent sends.
    Sdk(Client, i32),
}

impl Driver {
    async fn build(mode: Mode) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
            .expect("the stand-in's endpoint is given");
        let config = sdk_config(&endpoint).await;
        let model = BedrockModel::from_sdk_config(&config, MODEL_ID)
            // The bare SDK call sends no cache points; neither does the agent here.
            .with_prompt_caching(PromptCaching::Off);
        // The limit the agent sends when none is set: the model's maximum output.
        let max_tokens = model.model_info().capabilities().max_output_tokens.value;
        let builder = Agent::builder()
            .model(model)
            .system_prompt(SYSTEM_PROMPT)
            .show_reasoning(false);
        let builder = match mode {
            Mode::Sdk => {
                return Driver::Sdk(
                    Client::new(&config),
                    i32::try_from(max_tokens).expect("maxTokens fits"),
                );
            }
            Mode::Memory => builder.sessions(InMemorySessionStore::new()),
            Mode::Sqlite => {
                let file = std::env::var(ENV_SQLITE_FILE).expect("a SQLite file is given");
                let store = SqliteSessionStore::open(file)
                    .await
                    .expect("the SQLite store opens");
                builder.sessions(store)
            }
            Mode::Dynamo => {
                let endpoint = loopback_url(DYNAMODB_ENDPOINT_ENV)
                    .expect("a loopback DynamoDB endpoint")
                    .expect("DynamoDB Local's endpoint is given");
                let config = sdk_config(&endpoint).await;
                let store = DynamoSessionStore::builder()
                    .sdk_config(&config)
                    .table_name(std::env::var(ENV_TABLE).expect("a table name"))
                    .create_table_if_missing(false)
                    .build()
                    .await
                    .expect("the DynamoDB store connects");
                builder.sessions(store)
            }
        };
        Driver::Agent(builder.build().await.expect("the agent builds"))
    }

    /// One run (or call) of the session named `session`, whose earlier turns `history` holds
    /// for the bare SDK call. Returns whether it succeeded.
    async fn run(&self, session: &str, history: &mut Vec<sdk::Message>) -> bool {
        match self {
            Driver::Agent(agent) => agent.run_in_session(QUERY, session).await.is_ok(),
            Driver::Sdk(client, max_tokens) => {
                history.push(sdk_user_turn(QUERY));
                let answer = bare_converse_stream(
                    client,
                    MODEL_ID,
                    history.clone(),
                    Some(SYSTEM_PROMPT),
                    *max_tokens,
                )
                .await;
                match answer {
                    Some(message) => {
                        history.push(message);
                        true
                    }
                    None => {
                        history.pop();
                        false
                    }
                }
            }
        }
    }
}

async fn drive(mode: Mode, sessions: usize, warmup: Duration, measure: Duration) -> Value {
    let driver = Driver::build(mode).await;
    // One run first, so that clients and connection set-up are not counted as a session's.
    let mut history = Vec::new();
    assert!(
        driver.run("warm-up", &mut history).await,
        "the warm-up run failed"
    );
    let rss_start = status_kib("VmRSS").unwrap_or(0);

    let started = tokio::time::Instant::now();
    let window_start = started + warmup;
    let window_end = window_start + measure;
    // Sessions arrive spread over the first 200 ms, not in lock-step waves.
    let stagger = Duration::from_millis(200) / u32::try_from(sessions).unwrap_or(u32::MAX);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..sessions {
        let driver = driver.clone();
        let errors = Arc::clone(&errors);
        let first = started + stagger * u32::try_from(task).unwrap_or(u32::MAX);
        tasks.spawn(async move {
            tokio::time::sleep_until(first).await;
            let mut runs = Vec::new();
            let mut generation = 0u64;
            let mut runs_in_session = 0u64;
            let mut history = Vec::new();
            let mut session = format!("bench-{task}-{generation}");
            loop {
                let begun = tokio::time::Instant::now();
                if begun >= window_end {
                    break;
                }
                if runs_in_session == RUNS_PER_SESSION {
                    generation += 1;
                    runs_in_session = 0;
                    history.clear();
                    session = format!("bench-{task}-{generation}");
                }
                let ok = driver.run(&session, &mut history).await;
                runs_in_session += 1;
                let ended = tokio::time::Instant::now();
                if ok {
                    runs.push((begun, ended));
                } else if ended >= window_start {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (runs, generation + 1)
        });
    }
    tokio::time::sleep_until(window_start).await;
    let cpu_start = ProcessTime::now();
    tokio::time::sleep_until(window_end).await;
    let cpu_window = cpu_start.elapsed();

    // Each run counts for the share of it that falls in the window, so that runs longer than
    // the window, or finishing together, do not skew the rate.
    let mut window_runs = 0.0;
    let mut latencies = Vec::new();
    let mut sessions_held = 0u64;
    while let Some(joined) = tasks.join_next().await {
        let (runs, task_sessions) = joined.expect("a session task");
        for (begun, ended) in runs {
            let overlap = ended
                .min(window_end)
                .saturating_duration_since(begun.max(window_start));
            if overlap.is_zero() {
                continue;
            }
            let length = (ended - begun).max(Duration::from_nanos(1));
            window_runs += overlap.as_secs_f64() / length.as_secs_f64();
            latencies.push(ended - begun);
        }
        sessions_held += task_sessions;
    }
    // Let the runtime settle (connections idle, tasks freed) before reading the idle RSS.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_idle = status_kib("VmRSS").unwrap_or(0);
    let peak_rss = status_kib("VmHWM").unwrap_or(0);

    latencies.sort_unstable();
    let runs = window_runs;
    let seconds = measure.as_secs_f64();
    let sessions_held = match mode {
        // The bare SDK keeps no session; its idle cost is per concurrent caller.
        Mode::Sdk => sessions as u64,
        Mode::Memory | Mode::Sqlite | Mode::Dynamo => sessions_held,
    };
    json!({
        "runs_per_second": runs / seconds,
        "p50_ms": quantile(&latencies, 0.50).as_secs_f64() * 1e3,
        "p99_ms": quantile(&latencies, 0.99).as_secs_f64() * 1e3,
        "cpu_per_run_us": if runs > 0.0 { micros(cpu_window) / runs } else { 0.0 },
        "peak_rss_mib": peak_rss as f64 / 1024.0,
        "kib_per_idle_session": rss_idle.saturating_sub(rss_start) as f64 / sessions_held.max(1) as f64,
        "sessions": sessions_held,
        "errors": errors.load(Ordering::Relaxed),
    })
}
