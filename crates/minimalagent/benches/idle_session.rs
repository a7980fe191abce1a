//! What an idle session holds: heap bytes per session once 512 sessions have run and gone idle,
//! and which part holds them.
//!
//! RSS per idle session (`end_to_end`) counts everything the process keeps after the burst,
//! the HTTP client's connections and what the allocator keeps among it. This benchmark counts
//! live heap bytes instead, with a counting global allocator (`stats_alloc`; its own bench
//! target, so that the timing benchmarks run on the plain allocator): live bytes after the
//! sessions, less live bytes before them, divided by the sessions. The HTTP connections are
//! opened before the count starts, by a burst of as many concurrent runs without a session.
//!
//! A child process (the stand-in runs in the parent, so that none of its allocations count)
//! measures three phases, each with a fresh agent and store, `SESSIONS` sessions of `RUNS`
//! runs each (all sessions at once, the runs of one session in turn, 0 ms model latency). In
//! each it counts the live bytes once the sessions are idle, again after dropping the agent
//! (its session cache, its clients), and again after dropping the store too:
//!
//! - **agent**: `BedrockModel`, the in-memory store, the default session cache;
//! - **one-session cache**: the same with `SessionOptions::cached_sessions` at 1, so that the
//!   agent holds no session's conversation, only its clients (whose connections, opened by the
//!   burst, dropping the agent frees in both phases alike);
//! - **model in the process**: the default cache, with a model in the process that answers the
//!   same text: no HTTP client and no wire form, so what the agent holds is the cache's
//!   messages alone.
//!
//! From these: the store's share (what dropping the store frees), the runtime cache's share
//! with the model's wire form (what dropping the agent frees, less the same in the one-session
//! phase), the wire form within it (less what the in-process model's agent frees), and the
//! rest (the whole, less those). Baseline: the
//! conversation a bare SDK caller keeps, `Vec<aws_sdk_bedrockruntime::types::Message>`, the
//! same `RUNS` turns (the query with its time line, the answer).
//!
//! Writes `idle_session.json`. `cargo bench -p minimalagent --bench idle_session`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]
// The child reports its figures on stdout, one JSON line, for the parent to read.
#![allow(clippy::print_stdout)]

mod common;

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use agent_testkit::{Reply, text_response};
use bench_support::aws::{MODEL_ID, sdk_config};
use bench_support::child::{ROLE_ENV, run_self};
use bench_support::{Report, quick, run_by_cargo_bench};
use common::{
    forgetting_requests, sdk_assistant_text, sdk_child_env, sdk_user_turn, start_standin,
};
use minimalagent::bedrock::PromptCaching;
use minimalagent::bedrock::aws_sdk_bedrockruntime::types as sdk;
use minimalagent::core::{Model, ModelError, ModelRequest, ModelResponse, async_trait};
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, BedrockModel, SessionOptions};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const QUERY: &str = "What's the weather in Seattle?";
const ANSWER: &str = "It is sunny in Seattle, 21 degrees.";
const SYSTEM_PROMPT: &str = "You are a weather assistant. Answer in one sentence.";

/// Sessions held, as in `end_to_end`'s idle-RSS case.
const SESSIONS: usize = 512;
/// Runs per session: about what each of `end_to_end`'s 512 sessions runs at 200 ms.
const RUNS: usize = 24;

/// Sessions and runs per session: fewer with quick.
fn workload() -> (usize, usize) {
    if quick() { (64, 8) } else { (SESSIONS, RUNS) }
}

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("idle") => child(),
        _ if run_by_cargo_bench("idle_session") => parent(),
        _ => {}
    }
}

fn parent() {
    let (runtime, standin) = start_standin(1, Reply::text(ANSWER));
    let child = forgetting_requests(&standin, || {
        run_self(
            "idle",
            &sdk_child_env(&standin.endpoint_url()),
            Duration::from_secs(300),
        )
    })
    .expect("the benchmark child starts");
    runtime.block_on(standin.shutdown());
    assert!(child.success, "the child failed: {child:?}");
    let figures: Value =
        serde_json::from_str(child.json_line().expect("the child printed its figures"))
            .expect("the child's figures are JSON");
    let kib = |key: &str| {
        figures
            .get(key)
            .and_then(Value::as_f64)
            .expect("a figure the child reports")
            / 1024.0
    };
    let (all, store, cache_and_wire, wire, sdk) = (
        kib("all"),
        kib("store"),
        kib("cache_and_wire_form"),
        kib("wire_form"),
        kib("sdk"),
    );

    let mut report = Report::new(
        "idle_session",
        "3b. What an idle session holds: live heap bytes per session, 512 sessions of 24 runs",
    );
    const BASELINE: &str = "a bare SDK caller's conversation (Vec<Message>), the same 24 turns";
    let (sessions, runs) = workload();
    let case = format!("{sessions} idle sessions of {runs} runs, in-memory store");
    report.push(
        report
            .row(&case, "heap per idle session, all", "KiB", all)
            .baseline(sdk, BASELINE)
            .note(
                "heap per idle session: live heap bytes after the sessions less before them \
                 (HTTP connections already open), ÷ sessions; counted by a counting allocator",
            ),
    );
    for (metric, value) in [
        ("of which the in-memory store (entries, run records)", store),
        (
            "of which the runtime's cache, messages",
            cache_and_wire - wire,
        ),
        ("of which the model's wire form, kept with the cache", wire),
        (
            "of which the rest (the whole less those three)",
            all - store - cache_and_wire,
        ),
    ] {
        report.push(
            report
                .row(&case, metric, "KiB", value)
                .baseline(sdk, BASELINE),
        );
    }
    report.push(
        report
            .row(
                &case,
                "heap per run, store and cache",
                "bytes",
                (store + cache_and_wire) * 1024.0 / runs as f64,
            )
            .baseline(sdk * 1024.0 / runs as f64, BASELINE),
    );
    report.finish().expect("the report is written");
}

/// Live heap bytes since the region began, as the counting allocator sees them (it counts a
/// reallocation's growth as allocated and its shrinking as deallocated).
fn live_bytes(region: &Region<'_, System>) -> i64 {
    let change = region.change();
    i64::try_from(change.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(change.bytes_deallocated).unwrap_or(i64::MAX)
}

/// One phase's agent: `BedrockModel` (or the in-process model) with the in-memory store.
enum Phase {
    Agent,
    OneSessionCache,
    InProcessModel,
}

/// Live bytes per session of one phase: once idle, after dropping the agent, after dropping
/// the store too.
struct Held {
    idle: f64,
    without_agent: f64,
    without_store: f64,
}

impl Held {
    /// What the agent held: its cache, its clients.
    fn agent(&self) -> f64 {
        self.idle - self.without_agent
    }
}

/// Answers every request with the same text, in the process, keeping nothing.
struct FixedAnswer;

#[async_trait]
impl Model for FixedAnswer {
    async fn converse(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        Ok(text_response(ANSWER))
    }
}

fn child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let region = Region::new(GLOBAL);
    let (sessions, runs) = workload();
    let measure = |phase| runtime.block_on(measure_phase(phase, sessions, runs, &region));
    let agent = measure(Phase::Agent);
    let one_session_cache = measure(Phase::OneSessionCache);
    let in_process = measure(Phase::InProcessModel);
    let cache_and_wire = agent.agent() - one_session_cache.agent();
    let mut figures = serde_json::Map::new();
    for (name, value) in [
        ("all", agent.idle),
        ("store", agent.without_agent - agent.without_store),
        ("cache_and_wire_form", cache_and_wire),
        ("wire_form", cache_and_wire - in_process.agent()),
    ] {
        figures.insert(name.to_owned(), json!(value));
    }
    // The bare SDK caller's conversation: the same turns, as SDK messages.
    let before = live_bytes(&region);
    let conversations: Vec<Vec<sdk::Message>> = (0..sessions)
        .map(|_| {
            (0..runs)
                .flat_map(|_| [sdk_user_turn(QUERY), sdk_assistant_text(ANSWER.to_owned())])
                .collect()
        })
        .collect();
    let held = live_bytes(&region) - before;
    drop(conversations);
    figures.insert("sdk".to_owned(), json!(held as f64 / sessions as f64));
    println!("{}", Value::Object(figures));
}

/// Live heap bytes per session that `sessions` sessions of `runs` runs leave behind.
async fn measure_phase(
    phase: Phase,
    sessions: usize,
    runs: usize,
    region: &Region<'_, System>,
) -> Held {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        .expect("the stand-in's endpoint is given");
    let config = sdk_config(&endpoint).await;
    let model =
        BedrockModel::from_sdk_config(&config, MODEL_ID).with_prompt_caching(PromptCaching::Off);
    let mut builder = Agent::builder()
        .system_prompt(SYSTEM_PROMPT)
        .show_reasoning(false)
        .sessions(InMemorySessionStore::new());
    builder = match phase {
        Phase::Agent => builder.model(model),
        Phase::OneSessionCache => {
            let mut options = SessionOptions::default();
            options.cached_sessions = 1;
            builder.model(model).session_options(options)
        }
        Phase::InProcessModel => builder.model(FixedAnswer),
    };
    let agent = Arc::new(builder.build().await.expect("the agent builds"));
    // Open the connections first (a burst of runs without a session), so that the count holds
    // only what the sessions keep.
    let burst: Vec<_> = (0..sessions)
        .map(|_| {
            let agent = Arc::clone(&agent);
            tokio::spawn(async move { agent.run(QUERY).await.map(|_| ()) })
        })
        .collect();
    for run in burst {
        run.await
            .expect("a burst task")
            .expect("a run without a session");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = live_bytes(region);
    let tasks: Vec<_> = (0..sessions)
        .map(|session| {
            let agent = Arc::clone(&agent);
            tokio::spawn(async move {
                for _ in 0..runs {
                    agent
                        .run_in_session(QUERY, &format!("idle-{session}"))
                        .await
                        .expect("the session run completes");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a session task");
    }
    // Let the runs' tasks end and the connections go idle before counting.
    agent.wait_for_runs().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = live_bytes(region) - before;
    let store = agent.session_store().cloned();
    drop(agent);
    // The connections' tasks end once their client is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let without_agent = live_bytes(region) - before;
    drop(store);
    let without_store = live_bytes(region) - before;
    let per_session = |bytes: i64| bytes as f64 / sessions as f64;
    Held {
        idle: per_session(idle),
        without_agent: per_session(without_agent),
        without_store: per_session(without_store),
    }
}
