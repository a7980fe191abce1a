//! Soak: 64 sessions run concurrently for a bounded time (`MINIMALAGENT_SOAK_SECONDS`, 60 s by
//! default; `cargo xtask bench` runs it for 120 s) on DynamoDB Local, each alternating runs
//! recorded in real time and plain runs, while faults are injected at two levels:
//!
//! - in the SDK's HTTP client: every 25th request is answered with a `ThrottlingException`
//!   without reaching DynamoDB, and every 37th write reaches DynamoDB but its answer is
//!   replaced with a 500 `InternalServerError` (applied, response lost);
//! - in the store (`agent_session::FaultyStore`, seeded): one store call in 40 fails with a
//!   `Throttled` or `Unavailable` error before the store sees it — for commits, one in 80, and
//!   one commit in 80 fails after it was applied, as an `Unavailable` error that may have been
//!   applied (its response lost).
//!
//! The runtime must retry and lose nothing. A run that fails before it starts (its load was
//! throttled) says its turn was not kept, and the test runs the query again as a new run, as an
//! application would. At the end every session is read back: every run that said its turn was
//! kept has exactly one turn (with its toolUse and toolResult together) and one completed
//! record; no run that said it was not kept left a turn; no turn is unknown. Memory must be
//! stable: RSS at the end within 10% of RSS after the warm-up (the first quarter of the time, at
//! least 10 s).
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (a loopback DynamoDB Local: `cargo xtask test` and
//! `cargo xtask bench` start one; `cargo xtask dynamodb-local` prints the variables) and fails
//! without it. With `MINIMALAGENT_BENCH_OUT` set (by `cargo xtask bench`), it also writes its
//! figures to `soak.json` there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use agent_core::{
    ContentBlock, Message, Model, ModelError, ModelRequest, ModelResponse, NoEvents, Role,
    RunStatus, StopReason, Tool, ToolContext, ToolError, ToolOutput, ToolSet, ToolUse, async_trait,
};
use agent_loop::{AgentLoop, RunInput};
use agent_runtime::{ContextPolicy, SessionOptions, SessionRunError, SessionRunner, TurnState};
use agent_session::{
    EntryBody, FaultInjector, FaultyStore, SessionId, SessionStore, StoreMethod, StoreMethods,
};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_dynamo::aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use bench_support::Report;
use bench_support::process::status_kib;
use serde_json::{Value, json};
use uuid::Uuid;

const SESSIONS: usize = 64;
const SECONDS_ENV: &str = "MINIMALAGENT_SOAK_SECONDS";
const DEFAULT_SECONDS: u64 = 60;
/// Every this many HTTP requests, one is throttled without reaching DynamoDB.
const THROTTLE_EVERY: u64 = 25;
/// Every this many write requests, one reaches DynamoDB and its answer is lost.
const LOSE_EVERY: u64 = 37;
/// The probability that a store call fails in the fault-injecting store (for commits, half of
/// them before the store sees them, half after it applied them).
const STORE_FAULT_RATE: f64 = 1.0 / 40.0;
/// The seed of the store's faults (the sessions' concurrency makes the sequence of calls, and so
/// the faults, vary from run to run all the same).
const STORE_FAULT_SEED: u64 = 0x50a4;
/// How far RSS at the end may be from RSS after the warm-up.
const RSS_TOLERANCE: f64 = 1.10;
/// The model's latency per call.
const MODEL_LATENCY: Duration = Duration::from_millis(10);

#[test]
fn soak_64_sessions_with_throttling_loses_no_run_and_keeps_memory_flat() {
    let seconds = std::env::var(SECONDS_ENV)
        .ok()
        .map(|value| {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{SECONDS_ENV}={value:?} is not a number of seconds"))
        })
        .unwrap_or(DEFAULT_SECONDS)
        .max(15);
    // Fails clearly when DynamoDB Local is not there (see the module's documentation).
    let _ = common::endpoint();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let figures = runtime.block_on(soak(Duration::from_secs(seconds)));
    figures.report();
    figures.check();
}

/// The faults the HTTP client injected.
#[derive(Debug, Default)]
struct HttpFaults {
    requests: AtomicU64,
    writes: AtomicU64,
    throttled: AtomicU64,
    lost: AtomicU64,
}

/// The SDK's HTTP client with faults: see the module's documentation.
#[derive(Debug, Clone)]
struct FaultyHttpClient {
    inner: SharedHttpClient,
    faults: Arc<HttpFaults>,
}

impl HttpClient for FaultyHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Arc<HttpFaults>,
}

fn error_response(status: u16, kind: &str) -> HttpResponse {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": "injected by the soak test"
    });
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let n = self.faults.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(THROTTLE_EVERY) {
            self.faults.throttled.fetch_add(1, Ordering::Relaxed);
            return HttpConnectorFuture::ready(Ok(error_response(400, "ThrottlingException")));
        }
        let operation = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let write = ["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"]
            .iter()
            .any(|op| operation.ends_with(op));
        let lose = write
            && (self.faults.writes.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(LOSE_EVERY);
        let sent = self.inner.call(request);
        if !lose {
            return sent;
        }
        let faults = self.faults.clone();
        HttpConnectorFuture::new(async move {
            // The write reaches DynamoDB; its answer does not reach the store.
            let _ = sent.await;
            faults.lost.fetch_add(1, Ordering::Relaxed);
            Ok(error_response(500, "InternalServerError"))
        })
    }
}

/// A model that asks for the weather once, then answers, after `MODEL_LATENCY` per call.
struct WeatherModel;

#[async_trait]
impl Model for WeatherModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        tokio::time::sleep(MODEL_LATENCY).await;
        let asked = request.messages.last().is_some_and(|message| {
            message
                .content
                .iter()
                .any(|block| matches!(block, ContentBlock::ToolResult(_)))
        });
        if asked {
            return Ok(ModelResponse::new(
                Message::assistant_text("It is 14 °C and cloudy in Seattle; take an umbrella."),
                StopReason::EndTurn,
            ));
        }
        Ok(ModelResponse::new(
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("tooluse_{}", Uuid::now_v7().simple()),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle"}),
                })],
            },
            StopReason::ToolUse,
        ))
    }
}

struct WeatherTool;

#[async_trait]
impl Tool for WeatherTool {
    fn name(&self) -> &str {
        "get_weather"
    }
    fn description(&self) -> &str {
        "Gets the weather for a location."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"location": {"type": "string"}}})
    }
    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(json!({"location": "Seattle", "temperature_c": 14, "condition": "cloudy"}).into())
    }
}

/// What a run said about its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Kept,
    NotKept,
    Unknown,
}

/// The soak's figures and findings.
#[derive(Debug, Default)]
struct Figures {
    seconds: f64,
    runs: u64,
    real_time_runs: u64,
    plain_runs: u64,
    not_kept: u64,
    unknown: u64,
    commit_conflicts: u64,
    http_requests: u64,
    http_throttled: u64,
    http_lost: u64,
    store_failed_before: u64,
    store_applied_then_failed: u64,
    lost: u64,
    duplicated: u64,
    phantom: u64,
    torn: u64,
    missing_records: u64,
    rss_after_warmup_kib: u64,
    rss_end_kib: u64,
    rss_min_kib: u64,
    rss_max_kib: u64,
}

impl Figures {
    fn rss_ratio(&self) -> f64 {
        self.rss_end_kib as f64 / self.rss_after_warmup_kib.max(1) as f64
    }

    fn report(&self) {
        let mut report = Report::new(
            "soak",
            format!(
                "6. Soak: {SESSIONS} sessions on DynamoDB Local for {:.0} s, real-time and plain \
                 runs, injected throttling and lost answers",
                self.seconds
            ),
        );
        let case = format!("{SESSIONS} sessions, {:.0} s", self.seconds);
        let row = |report: &Report, metric: &str, unit: &str, value: f64| {
            report.row(&case, metric, unit, value)
        };
        for (metric, unit, value) in [
            (
                "runs kept",
                "runs",
                (self.runs - self.not_kept - self.unknown) as f64,
            ),
            (
                "runs kept per second",
                "runs/s",
                (self.runs - self.not_kept - self.unknown) as f64 / self.seconds,
            ),
            ("real-time runs kept", "runs", self.real_time_runs as f64),
            ("plain runs kept", "runs", self.plain_runs as f64),
            (
                "runs not kept (load failed; run again)",
                "runs",
                self.not_kept as f64,
            ),
            (
                "commit retries (conflicts)",
                "retries",
                self.commit_conflicts as f64,
            ),
            ("HTTP requests", "requests", self.http_requests as f64),
            (
                "HTTP requests throttled (injected)",
                "requests",
                self.http_throttled as f64,
            ),
            (
                "HTTP answers lost after the write (injected)",
                "requests",
                self.http_lost as f64,
            ),
            (
                "store calls failed before the store (injected)",
                "calls",
                self.store_failed_before as f64,
            ),
            (
                "commits applied, then failed (injected)",
                "calls",
                self.store_applied_then_failed as f64,
            ),
        ] {
            report.push(row(&report, metric, unit, value));
        }
        for (metric, value) in [
            (
                "runs lost (kept but missing a turn or record)",
                self.lost + self.missing_records,
            ),
            ("turns doubled", self.duplicated),
            ("turns of runs said not kept, or unknown", self.phantom),
            ("turns with a torn toolUse/toolResult", self.torn),
            ("runs whose outcome was unknown", self.unknown),
        ] {
            report.push(row(&report, metric, "runs", value as f64).target("0", value == 0));
        }
        report.push(
            row(&report, "RSS at the end", "KiB", self.rss_end_kib as f64)
                .baseline(self.rss_after_warmup_kib as f64, "RSS after the warm-up")
                .target(
                    format!("≤ {RSS_TOLERANCE} × after the warm-up"),
                    self.rss_ratio() <= RSS_TOLERANCE,
                )
                .note(format!(
                    "RSS: median of three one-second samples right after the warm-up (the first \
                     quarter of the time, at least 10 s) and at the end; lowest {} KiB, highest {} \
                     KiB over the run",
                    self.rss_min_kib, self.rss_max_kib
                )),
        );
        println!("{}", bench_support::render_table(report.rows()));
        if std::env::var_os(bench_support::settings::OUT_DIR_ENV).is_some() {
            report.finish().expect("the soak's figures are written");
        }
    }

    fn check(&self) {
        assert!(self.runs > 0, "no run completed");
        assert!(
            self.http_throttled > 0
                && self.http_lost > 0
                && self.store_failed_before > 0
                && self.store_applied_then_failed > 0,
            "no fault was injected: {self:?}"
        );
        assert_eq!(
            self.lost + self.missing_records,
            0,
            "runs were lost: {self:?}"
        );
        assert_eq!(self.duplicated, 0, "turns were doubled: {self:?}");
        assert_eq!(self.phantom, 0, "runs said not kept left turns: {self:?}");
        assert_eq!(self.torn, 0, "turns were torn: {self:?}");
        assert_eq!(
            self.unknown, 0,
            "runs ended not knowing their turn: {self:?}"
        );
        assert!(
            self.rss_ratio() <= RSS_TOLERANCE,
            "RSS grew from {} KiB after the warm-up to {} KiB at the end ({:.2}×)",
            self.rss_after_warmup_kib,
            self.rss_end_kib,
            self.rss_ratio()
        );
    }
}

/// One session's runs, in order: run id, what it said, whether it was real-time.
type Ledger = Vec<(Uuid, Said, bool)>;

async fn soak(duration: Duration) -> Figures {
    let http_faults = Arc::new(HttpFaults::default());
    let config =
        agent_session_dynamo::aws_sdk_dynamodb::config::Builder::from(&common::sdk_config().await)
            .http_client(FaultyHttpClient {
                inner: aws_smithy_http_client::Builder::new().build_http(),
                faults: http_faults.clone(),
            })
            .build();
    let table = common::table("minimalagent-soak");
    let store = DynamoSessionStore::builder()
        .client(Client::from_conf(config))
        .table_name(&table)
        .build()
        .await
        .expect("the soak's table is created in DynamoDB Local");
    let faults = FaultInjector::new(STORE_FAULT_SEED)
        .fail_before(StoreMethods::READS | StoreMethods::WRITES, STORE_FAULT_RATE)
        .fail_before(StoreMethod::Commit, STORE_FAULT_RATE / 2.0)
        .drop_response(StoreMethod::Commit, STORE_FAULT_RATE / 2.0);
    let faulty_store = Arc::new(FaultyStore::new(Arc::new(store.clone()), faults));
    let faulty: Arc<dyn SessionStore> = faulty_store.clone();
    // A window keeps each conversation the runners cache bounded, as a long-lived service would.
    let options = SessionOptions::default().with_context(ContextPolicy::window_messages(8));
    let real_time = SessionRunner::new(faulty.clone(), options.clone().with_real_time(true));
    let plain = SessionRunner::new(faulty.clone(), options);
    let tools = ToolSet::new([Arc::new(WeatherTool) as Arc<dyn Tool>]).unwrap();
    let agent_loop = Arc::new(AgentLoop::new(Arc::new(WeatherModel), tools));

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let warmup = (duration / 4)
        .max(Duration::from_secs(10))
        .min(duration / 2);
    let rss = Arc::new(Mutex::new(Vec::<(Duration, u64)>::new()));
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = status_kib("VmRSS") {
                    rss.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((started.elapsed(), kib));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..SESSIONS {
        let session = common::session(&format!("soak-{index}"));
        let (real_time, plain, agent_loop, conflicts) = (
            real_time.clone(),
            plain.clone(),
            agent_loop.clone(),
            conflicts.clone(),
        );
        tasks.spawn(async move {
            let mut ledger: Ledger = Vec::new();
            let mut n = 0u64;
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let recorded = n.is_multiple_of(2);
                let runner = if recorded { &real_time } else { &plain };
                let input = RunInput::new(format!("What's the weather in Seattle? ({n})"));
                let run_id = input.run_id;
                let said = match runner.run(&agent_loop, &session, input, &NoEvents).await {
                    Ok(output) => {
                        assert_eq!(output.result.reasoning.run_id, run_id);
                        conflicts.fetch_add(
                            u64::from(output.result.reasoning.commit_conflicts),
                            Ordering::Relaxed,
                        );
                        Said::Kept
                    }
                    Err(error @ SessionRunError::Run { .. }) => {
                        panic!("a run failed on its own: {error}")
                    }
                    Err(error) => match error.turn() {
                        TurnState::Kept => Said::Kept,
                        TurnState::NotKept => Said::NotKept,
                        _ => {
                            eprintln!("soak: a run did not learn whether it was kept: {error}");
                            Said::Unknown
                        }
                    },
                };
                ledger.push((run_id, said, recorded));
            }
            (session, ledger)
        });
    }
    let mut ledgers = Vec::with_capacity(SESSIONS);
    while let Some(joined) = tasks.join_next().await {
        ledgers.push(joined.expect("a session task"));
    }
    let seconds = started.elapsed().as_secs_f64();
    sampler.abort();
    let samples = rss.lock().unwrap_or_else(PoisonError::into_inner).clone();

    let mut figures = Figures {
        seconds,
        commit_conflicts: conflicts.load(Ordering::Relaxed),
        http_requests: http_faults.requests.load(Ordering::Relaxed),
        http_throttled: http_faults.throttled.load(Ordering::Relaxed),
        http_lost: http_faults.lost.load(Ordering::Relaxed),
        store_failed_before: faulty_store.injected().total().failed_before,
        store_applied_then_failed: faulty_store
            .injected()
            .of(StoreMethod::Commit)
            .dropped_responses,
        ..Figures::default()
    };
    rss_figures(&mut figures, &samples, warmup);
    for (session, ledger) in &ledgers {
        check_session(&store, session, ledger, &mut figures).await;
    }
    let _ = store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await;
    figures
}

/// The RSS after the warm-up and at the end: medians of three samples.
fn rss_figures(figures: &mut Figures, samples: &[(Duration, u64)], warmup: Duration) {
    let median3 = |values: &[u64]| {
        let mut values = values.to_vec();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    let after: Vec<u64> = samples
        .iter()
        .filter(|(at, _)| *at >= warmup)
        .take(3)
        .map(|(_, kib)| *kib)
        .collect();
    let end: Vec<u64> = samples.iter().rev().take(3).map(|(_, kib)| *kib).collect();
    figures.rss_after_warmup_kib = median3(&after);
    figures.rss_end_kib = median3(&end);
    let measured = samples
        .iter()
        .filter(|(at, _)| *at >= warmup)
        .map(|(_, kib)| *kib);
    figures.rss_min_kib = measured.clone().min().unwrap_or(0);
    figures.rss_max_kib = measured.max().unwrap_or(0);
}

/// Reads a session back (through the store itself, without faults) and checks it against what
/// its runs said.
async fn check_session(
    store: &DynamoSessionStore,
    session: &SessionId,
    ledger: &Ledger,
    figures: &mut Figures,
) {
    let head = store.head(session).await.expect("the head is read");
    let mut turns: HashMap<Uuid, u64> = HashMap::new();
    if !head.version.is_empty() {
        let mut from = head.first_seq;
        while from <= head.last_seq() {
            let to = (from + 99).min(head.last_seq());
            for entry in store.entries(session, from, to).await.expect("entries") {
                if let EntryBody::Turn { run_id, messages } = &entry.body {
                    *turns.entry(*run_id).or_default() += 1;
                    if torn(messages) {
                        figures.torn += 1;
                    }
                }
            }
            from = to + 1;
        }
    }
    let mut completed: HashMap<Uuid, u64> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.runs(session, after, 100).await.expect("run records");
        let Some(last) = page.last() else { break };
        after = last.run;
        for record in page {
            if record.reasoning.status == RunStatus::Completed && record.committed_seq.is_some() {
                *completed.entry(record.reasoning.run_id).or_default() += 1;
            }
        }
    }
    let mut ours = HashSet::new();
    for &(run_id, said, recorded) in ledger {
        ours.insert(run_id);
        figures.runs += 1;
        let count = turns.get(&run_id).copied().unwrap_or(0);
        match said {
            Said::Kept => {
                if recorded {
                    figures.real_time_runs += 1;
                } else {
                    figures.plain_runs += 1;
                }
                match count {
                    0 => figures.lost += 1,
                    1 => {}
                    _ => figures.duplicated += 1,
                }
                if completed.get(&run_id).copied().unwrap_or(0) != 1 {
                    figures.missing_records += 1;
                }
            }
            Said::NotKept => {
                figures.not_kept += 1;
                if count > 0 {
                    figures.phantom += 1;
                }
            }
            Said::Unknown => figures.unknown += 1,
        }
    }
    figures.phantom += turns.keys().filter(|run| !ours.contains(run)).count() as u64;
}

/// Whether a turn's tool calls and results do not match: each assistant toolUse must be
/// answered by a toolResult of the same id in the next message.
fn torn(messages: &[Message]) -> bool {
    messages.windows(2).any(|pair| {
        let asked: Vec<&str> = pair[0]
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::ToolUse(call) => Some(call.tool_use_id.as_str()),
                _ => None,
            })
            .collect();
        let answered: Vec<&str> = pair[1]
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::ToolResult(result) => Some(result.tool_use_id.as_str()),
                _ => None,
            })
            .collect();
        pair[0].role == Role::Assistant && asked != answered
    }) || messages.last().is_none_or(|last| {
        last.content
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolUse(_)))
    })
}
