//! What a run costs each store as its session grows: CPU, the store calls the runtime makes,
//! and what reaches the backend — HTTP requests by operation, bytes and write units for
//! DynamoDB Local, bytes written and `fsync`s for SQLite — at run 1, 10, 100 and 1000 of one
//! session, with real-time reasoning off and on.
//!
//! Each run is a real session run (`SessionRunner::run`) of an agent loop whose in-process
//! model answers at once after three tool steps (one tool call each, an instant tool that
//! returns 400 bytes of JSON), so the figures are the loop's and the store's, not a model's.
//! Stores: `InMemorySessionStore`; `SqliteSessionStore` on a new file in the temporary
//! directory (the default `Synchronous::Full`); `DynamoSessionStore` on DynamoDB Local, whose
//! figures come from the store's own request metrics (`DynamoSessionStore::metrics`). CPU is
//! the process's (SQLite's work runs on blocking threads), the median of the five runs around
//! the one named. `fsync`s are counted in a second pass of the SQLite workload run under
//! `strace -f` (the runs are marked in the trace), when strace is there.
//!
//! Baselines, measured in the same run: for CPU, the in-memory store (what the loop and the
//! runtime cost without a backend); for DynamoDB, the bare SDK calls a run minimally needs —
//! one strongly consistent GetItem of a small head item and one conditional PutItem of the
//! run's messages and record as plain JSON.
//!
//! DynamoDB Local is used when `AWS_ENDPOINT_URL_DYNAMODB` is set (`cargo xtask bench` starts
//! it). Writes `store_cost.json`.
//!
//! `cargo bench -p bench-support --bench store_cost`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_core::NoEvents;
use agent_core::{Message, Reasoning};
use agent_loop::RunInput;
use agent_runtime::{SessionOptions, SessionRunner};
use agent_session::SessionId;
use agent_session_dynamo::StoreMetrics;
use agent_session_dynamo::aws_sdk_dynamodb::Client;
use agent_session_dynamo::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnConsumedCapacity, ScalarAttributeType,
};
use bench_support::aws::sdk_config;
use bench_support::child::{self, ROLE_ENV};
use bench_support::process::ProcessIo;
use bench_support::{Report, median, micros, millis, quick, run_by_cargo_bench};
use common::aws::{CountSent, SentCounter, dynamodb_endpoint};
use common::stores::{Meter, OpenStore, StoreKind, metered_store};
use common::workload::{QUERY, StepsModel, agent_loop};
use cpu_time::ProcessTime;

/// The runs of the session at which the figures are reported.
const CHECKPOINTS: [usize; 4] = [1, 10, 100, 1000];
/// Tool steps per run.
const TOOL_STEPS: usize = 3;
/// How far the last checkpoint may be from run 1 in requests, bytes sent and write units.
const TARGET_GROWTH: f64 = 1.2;

/// The fsync-counting child's settings.
const RUNS_ENV: &str = "MINIMALAGENT_BENCH_STORE_COST_RUNS";
/// Paths the fsync-counting child looks up before each run, so the trace shows where runs
/// begin.
const MARK: &str = "/nonexistent-minimalagent-bench-mark";

fn main() {
    match child::role().as_deref() {
        Some("sqlite-fsyncs") => fsync_child(),
        Some(other) => panic!("unknown role {other}"),
        None if run_by_cargo_bench("store_cost") => parent(),
        None => {}
    }
}

/// What one run cost.
#[derive(Debug, Clone, Default)]
struct RunCost {
    cpu: Duration,
    wall: Duration,
    meter: Meter,
    dynamo: Option<StoreMetrics>,
    io: Option<ProcessIo>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

fn runs() -> usize {
    std::env::var(RUNS_ENV)
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(if quick() { 100 } else { 1000 })
}

fn parent() {
    let runs = runs();
    let endpoint = dynamodb_endpoint();
    if endpoint.is_none() {
        eprintln!("store_cost: AWS_ENDPOINT_URL_DYNAMODB is not set; DynamoDB is left out");
    }
    let runtime = runtime();
    let mut costs: BTreeMap<(StoreKind, bool), Vec<RunCost>> = BTreeMap::new();
    let mut baseline = Vec::new();
    for kind in StoreKind::all(endpoint.as_deref()) {
        for real_time in [false, true] {
            let measured = runtime.block_on(measure(
                kind,
                real_time,
                runs,
                endpoint.as_deref(),
                (kind == StoreKind::Dynamo && !real_time).then_some(&mut baseline),
            ));
            costs.insert((kind, real_time), measured);
        }
    }
    let fsyncs = if costs.keys().any(|(kind, _)| *kind == StoreKind::Sqlite) {
        count_fsyncs(runs)
    } else {
        Err("SQLite was not measured".to_owned())
    };

    let mut report = Report::new(
        "store_cost",
        format!("2. Store cost per run vs session length ({TOOL_STEPS} tool steps per run)"),
    );
    for ((kind, real_time), store_costs) in &costs {
        let memory = costs.get(&(StoreKind::Memory, *real_time));
        add_rows(
            &mut report,
            *kind,
            *real_time,
            store_costs,
            memory.filter(|_| *kind != StoreKind::Memory),
            (*kind == StoreKind::Dynamo).then_some(baseline.as_slice()),
            fsyncs.as_ref().ok().map(|f| &f[usize::from(*real_time)]),
        );
    }
    if let Err(why) = &fsyncs {
        report.push(
            report
                .row("SQLite", "fsyncs", "fsyncs", f64::NAN)
                .note(format!("SQLite fsyncs not measured: {why}")),
        );
    }
    report.finish().expect("the report is written");
}

/// Runs `runs` runs of one session of `kind` and returns what each cost; for the DynamoDB
/// store with real time off, also measures the bare SDK baseline after each run.
async fn measure(
    kind: StoreKind,
    real_time: bool,
    runs: usize,
    endpoint: Option<&str>,
    mut baseline: Option<&mut Vec<RunCost>>,
) -> Vec<RunCost> {
    let mode = if real_time { "rt" } else { "plain" };
    let name = format!("store-cost-{}-{mode}", kind.name());
    let table = format!("minimalagent-bench-{name}-{}", std::process::id());
    let open = OpenStore::open(
        kind,
        if kind == StoreKind::Dynamo {
            &table
        } else {
            &name
        },
        endpoint,
    )
    .await;
    let bare = match (&mut baseline, endpoint) {
        (Some(_), Some(endpoint)) => {
            Some(Baseline::new(endpoint, &format!("{table}-baseline")).await)
        }
        _ => None,
    };
    let metered = Arc::new(metered_store(open.shared(), false));
    let runner = SessionRunner::new(
        metered.clone(),
        SessionOptions::default().with_real_time(real_time),
    );
    let agent_loop = agent_loop(Arc::new(StepsModel::new(TOOL_STEPS)));
    let session = SessionId::new(format!("bench-{mode}")).expect("a valid session id");
    let mut costs = Vec::with_capacity(runs);
    for run in 1..=runs {
        let meter = metered.layer().meter();
        let dynamo = open.dynamo().map(|store| store.metrics());
        let io = ProcessIo::read();
        let started = Instant::now();
        let cpu = ProcessTime::now();
        let output = runner
            .run(&agent_loop, &session, RunInput::new(QUERY), &NoEvents)
            .await
            .expect("the run is kept");
        let cpu = cpu.elapsed();
        let wall = started.elapsed();
        costs.push(RunCost {
            cpu,
            wall,
            meter: metered.layer().meter().since(&meter),
            dynamo: dynamo.and_then(|before| Some(open.dynamo()?.metrics().since(&before))),
            io: io.and_then(|before| Some(ProcessIo::read()?.since(&before))),
        });
        if let (Some(bare), Some(baseline)) = (&bare, baseline.as_deref_mut()) {
            baseline.push(
                bare.run(
                    session.as_str(),
                    run,
                    &output.result.messages,
                    &output.result.reasoning,
                )
                .await,
            );
        }
        if run % 100 == 0 {
            eprintln!("store_cost: {} {mode}: {run} runs", kind.label());
        }
    }
    if let Some(bare) = bare {
        bare.remove().await;
    }
    open.remove().await;
    costs
}

/// The cost at `run` (1-based): counts of that run; CPU and wall time the median of the five
/// runs around it (run 1 alone: it is the one that creates the session).
fn at(costs: &[RunCost], run: usize) -> RunCost {
    let mut cost = costs[run - 1].clone();
    if run > 1 {
        let lo = run.saturating_sub(3).max(1);
        let hi = (run + 2).min(costs.len());
        let mut cpus: Vec<Duration> = costs[lo..hi].iter().map(|c| c.cpu).collect();
        let mut walls: Vec<Duration> = costs[lo..hi].iter().map(|c| c.wall).collect();
        cost.cpu = median(&mut cpus);
        cost.wall = median(&mut walls);
    }
    cost
}

fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "GetItem" | "Query" | "BatchGetItem" | "Scan" | "TransactGetItems"
    )
}

fn add_rows(
    report: &mut Report,
    kind: StoreKind,
    real_time: bool,
    costs: &[RunCost],
    memory: Option<&Vec<RunCost>>,
    baseline: Option<&[RunCost]>,
    fsyncs: Option<&HashMap<usize, u64>>,
) {
    const MEMORY: &str = "the in-memory store, same run of the same workload";
    const BARE: &str = "bare SDK: one consistent GetItem of a head item + one conditional \
                        PutItem of the run's messages and record (plain JSON)";
    let mode = if real_time {
        "real time on"
    } else {
        "real time off"
    };
    let checkpoints: Vec<usize> = CHECKPOINTS
        .into_iter()
        .filter(|&run| run <= costs.len())
        .collect();
    for &run in &checkpoints {
        let cost = at(costs, run);
        let case = format!("{}, {mode}, run {run}", kind.label());
        let mut row = report.row(&case, "CPU per run", "µs", micros(cost.cpu));
        if let Some(memory) = memory {
            row = row.baseline(micros(at(memory, run).cpu), MEMORY);
        }
        report.push(row.note(
            "CPU: the process's CPU time, median of the five runs around the one named (run 1 \
             alone); wall time likewise",
        ));
        let base = baseline
            .and_then(|b| b.get(run - 1))
            .cloned()
            .unwrap_or_default();
        let mut row = report.row(&case, "wall time", "ms", millis(cost.wall));
        if kind == StoreKind::Dynamo {
            row = row.baseline(millis(base.wall), BARE);
        }
        report.push(row);
        report.push(report.row(
            &case,
            "store reads (head, entries)",
            "calls",
            cost.meter.reads() as f64,
        ));
        report.push(
            report
                .row(
                    &case,
                    "store writes (commit, run records, events)",
                    "calls",
                    cost.meter.writes() as f64,
                )
                .note(
                    "store calls: what the runtime asks of the store (SessionStore methods), \
                     whatever the backend",
                ),
        );
        match kind {
            StoreKind::Sqlite => {
                sqlite_rows(report, &case, &cost, fsyncs.and_then(|f| f.get(&run)))
            }
            StoreKind::Dynamo => dynamo_rows(report, &case, &cost, &base, real_time, run, BARE),
            StoreKind::Memory => {}
        }
    }
    // Growth: the last checkpoint against run 1 (and CPU against run 10: run 1 is cold).
    let Some(&last) = checkpoints.last() else {
        return;
    };
    if last < 10 {
        return;
    }
    let growth = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let case = format!("{}, {mode}, run {last} ÷ run 10", kind.label());
    report.push(report.row(
        &case,
        "CPU per run growth",
        "×",
        growth(micros(at(costs, last).cpu), micros(at(costs, 10).cpu)),
    ));
    if kind == StoreKind::Dynamo {
        let (first, final_) = (at(costs, 1), at(costs, last));
        let metrics = |cost: &RunCost| cost.dynamo.clone().unwrap_or_default();
        let (m1, mn) = (metrics(&first), metrics(&final_));
        let case = format!("{}, {mode}, run {last} ÷ run 1", kind.label());
        for (metric, value) in [
            (
                "HTTP requests",
                growth(mn.requests as f64, m1.requests as f64),
            ),
            (
                "bytes sent",
                growth(mn.request_bytes as f64, m1.request_bytes as f64),
            ),
            (
                "write units (pricing rules)",
                growth(
                    mn.estimated_write_units as f64,
                    m1.estimated_write_units as f64,
                ),
            ),
        ] {
            let target = if last == 1000 {
                format!("≤ {TARGET_GROWTH}×")
            } else {
                format!("≤ {TARGET_GROWTH}× (at run 1000; this run stopped at {last})")
            };
            report.push(
                report
                    .row(&case, format!("{metric} growth"), "×", value)
                    .target(target, value <= TARGET_GROWTH),
            );
        }
    }
}

fn sqlite_rows(report: &mut Report, case: &str, cost: &RunCost, fsyncs: Option<&u64>) {
    let io = cost.io.unwrap_or_default();
    report.push(
        report
            .row(case, "bytes written", "B", io.write_chars as f64)
            .note(
                "SQLite bytes written: bytes passed to write(2) by the process during the run \
                 (/proc/self/io wchar: the WAL's frames; checkpoints into the database file \
                 happen in some runs)",
            ),
    );
    report.push(report.row(case, "write system calls", "calls", io.write_calls as f64));
    if let Some(fsyncs) = fsyncs {
        report.push(report.row(case, "fsyncs", "fsyncs", *fsyncs as f64).note(
            "SQLite fsyncs: fsync(2) and fdatasync(2) calls of the run, counted with \
                     `strace -f` in a second pass of the same workload",
        ));
    }
}

fn dynamo_rows(
    report: &mut Report,
    case: &str,
    cost: &RunCost,
    base: &RunCost,
    real_time: bool,
    run: usize,
    label: &str,
) {
    let metrics = cost.dynamo.clone().unwrap_or_default();
    let bare = base.dynamo.clone().unwrap_or_default();
    let mut operations: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (operation, count) in &metrics.operations {
        operations.entry(operation).or_default().0 = *count;
    }
    for (operation, count) in &bare.operations {
        operations.entry(operation).or_default().1 = *count;
    }
    let mut reads = 0;
    let mut writes = 0;
    for (operation, (count, base_count)) in &operations {
        if is_read(operation) {
            reads += count;
        } else {
            writes += count;
        }
        report.push(
            report
                .row(case, format!("{operation} calls"), "calls", *count as f64)
                .baseline(*base_count as f64, label),
        );
    }
    let mut row = report
        .row(case, "HTTP requests", "requests", metrics.requests as f64)
        .baseline(bare.requests as f64, label);
    if !real_time && run >= 10 {
        row = row.target(
            "steady state: one read + one write request (before: a Query + 2 TransactWriteItems)",
            reads <= 1 && writes <= 1 && metrics.requests <= 2,
        );
    }
    report.push(row);
    report.push(
        report
            .row(case, "write requests", "requests", writes as f64)
            .baseline(1.0, label),
    );
    report.push(
        report
            .row(case, "bytes sent", "B", metrics.request_bytes as f64)
            .baseline(bare.request_bytes as f64, label),
    );
    report.push(
        report
            .row(case, "bytes received", "B", metrics.response_bytes as f64)
            .baseline(bare.response_bytes as f64, label),
    );
    report.push(
        report
            .row(
                case,
                "write units (pricing rules)",
                "WCU",
                metrics.estimated_write_units as f64,
            )
            .baseline(bare.estimated_write_units as f64, label)
            .note(
                "write units (pricing rules): ⌈item KB⌉ per item written, twice in a \
                 transaction, as DynamoDB bills on demand; (reported): as DynamoDB Local \
                 reports consumed capacity, which counts transactions differently",
            ),
    );
    report.push(
        report
            .row(
                case,
                "write units (reported)",
                "WCU",
                metrics.write_capacity_units,
            )
            .baseline(bare.write_capacity_units, label),
    );
    report.push(
        report
            .row(
                case,
                "read units (reported)",
                "RCU",
                metrics.read_capacity_units,
            )
            .baseline(bare.read_capacity_units, label),
    );
}

/// The bare SDK calls a run minimally needs, on their own table and counted the same way.
struct Baseline {
    client: Client,
    table: String,
    counter: Arc<SentCounter>,
}

impl Baseline {
    async fn new(endpoint: &str, table: &str) -> Self {
        let config = sdk_config(endpoint).await;
        let counter = Arc::new(SentCounter::default());
        let client_config = agent_session_dynamo::aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(CountSent(Arc::clone(&counter)))
            .build();
        let client = Client::from_conf(client_config);
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("a key schema element")
        };
        let attribute = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .expect("an attribute definition")
        };
        client
            .create_table()
            .table_name(table)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attribute("pk", ScalarAttributeType::S))
            .attribute_definitions(attribute("sk", ScalarAttributeType::N))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("the baseline table is created in DynamoDB Local");
        Self {
            client,
            table: table.to_owned(),
            counter,
        }
    }

    /// Run `run` of `session`: read the head, then write the run's messages and record.
    async fn run(
        &self,
        session: &str,
        run: usize,
        messages: &[Message],
        reasoning: &Reasoning,
    ) -> RunCost {
        let (requests, bytes) = self.counter.get();
        let started = Instant::now();
        let head = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(session.to_owned()))
            .key("sk", AttributeValue::N("0".to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("the baseline GetItem succeeds");
        let body = serde_json::to_string(&(messages, reasoning)).expect("the run serialises");
        let size = body.len() + session.len() + 40;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(session.to_owned()))
            .item("sk", AttributeValue::N(run.to_string()))
            .item("run", AttributeValue::S(body))
            .condition_expression("attribute_not_exists(sk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("the baseline PutItem succeeds");
        let wall = started.elapsed();
        let (requests_after, bytes_after) = self.counter.get();
        let units = |capacity: Option<
            &agent_session_dynamo::aws_sdk_dynamodb::types::ConsumedCapacity,
        >| { capacity.and_then(|c| c.capacity_units()).unwrap_or(0.0) };
        let mut metrics = StoreMetrics::default();
        metrics.operations = BTreeMap::from([("GetItem".to_owned(), 1), ("PutItem".to_owned(), 1)]);
        metrics.requests = requests_after - requests;
        metrics.request_bytes = bytes_after - bytes;
        metrics.read_capacity_units = units(head.consumed_capacity());
        metrics.write_capacity_units = units(put.consumed_capacity());
        metrics.estimated_write_units = size.div_ceil(1024) as u64;
        RunCost {
            wall,
            dynamo: Some(metrics),
            ..RunCost::default()
        }
    }

    async fn remove(self) {
        let _ = self
            .client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await;
    }
}

/// The SQLite workload again, in a child run under `strace -f`, counting `fsync` and
/// `fdatasync` per run (real time off, then on). `Err` says why they could not be counted.
fn count_fsyncs(runs: usize) -> Result<[HashMap<usize, u64>; 2], String> {
    let trace = std::env::temp_dir().join(format!(
        "minimalagent-bench-store-cost-strace-{}.txt",
        std::process::id()
    ));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = std::process::Command::new("strace");
    command
        .args(["-f", "--seccomp-bpf", "-qq", "-e", "signal=none"])
        .args(["-e", "trace=fsync,fdatasync,statx", "-o"])
        .arg(&trace)
        .arg(exe)
        .env(ROLE_ENV, "sqlite-fsyncs")
        .env(RUNS_ENV, runs.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let child = child::run(command, Duration::from_secs(600))
        .map_err(|error| format!("strace could not be started ({error})"))?;
    let text = std::fs::read_to_string(&trace);
    let _ = std::fs::remove_file(&trace);
    if !child.success {
        return Err("the traced run failed (is ptrace allowed here?)".to_owned());
    }
    let text = text.map_err(|error| format!("no trace ({error})"))?;
    let mut counts = [HashMap::new(), HashMap::new()];
    let mut current: Option<(usize, usize)> = None;
    for line in text.lines() {
        if let Some(rest) = line.split(MARK).nth(1) {
            // `…/<mode>/<run>", …`
            let mut parts = rest.trim_start_matches('/').split(['/', '"']);
            let mode = parts.next().and_then(|m| m.parse::<usize>().ok());
            let run = parts.next().and_then(|r| r.parse::<usize>().ok());
            current = mode.zip(run);
            if let Some((mode, run)) = current {
                counts[mode.min(1)].insert(run, 0);
            }
        } else if (line.contains("fsync(") || line.contains("fdatasync("))
            && let Some((mode, run)) = current
        {
            *counts[mode.min(1)].entry(run).or_default() += 1;
        }
    }
    if counts[0].is_empty() {
        return Err("the trace holds no run marks".to_owned());
    }
    Ok(counts)
}

/// The SQLite workload, marking each run's start with a lookup of `MARK/<mode>/<run>` so that
/// the tracing parent can tell the runs apart.
fn fsync_child() {
    let runs = runs();
    let runtime = runtime();
    runtime.block_on(async {
        for real_time in [false, true] {
            let mode = usize::from(real_time);
            let name = format!("store-cost-fsyncs-{mode}");
            let open = OpenStore::open(StoreKind::Sqlite, &name, None).await;
            let runner = SessionRunner::new(
                open.shared(),
                SessionOptions::default().with_real_time(real_time),
            );
            let agent_loop = agent_loop(Arc::new(StepsModel::new(TOOL_STEPS)));
            let session = SessionId::new("bench-fsyncs").expect("a valid session id");
            for run in 1..=runs {
                let _ = std::fs::metadata(format!("{MARK}/{mode}/{run}"));
                runner
                    .run(&agent_loop, &session, RunInput::new(QUERY), &NoEvents)
                    .await
                    .expect("the run is kept");
            }
            let _ = std::fs::metadata(format!("{MARK}/{mode}/end"));
        }
    });
}
