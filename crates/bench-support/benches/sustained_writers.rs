//! Sustained writers on one session: 16 writers each running 20 turns on the same session,
//! as 16 tasks in one process (every store) and as 4 processes × 4 tasks (SQLite on one file,
//! DynamoDB Local on one table). Throughput, commit retries per run (`commit_conflicts` of
//! each run's record: how often another run committed first and the turn was re-based), and
//! a check that every run is kept exactly once with its record.
//!
//! Each run is a session run (`SessionRunner::run`) of an agent loop whose in-process model
//! answers at once after one tool step, so writers collide as often as they can: the worst
//! case for commits. Baseline, measured in the same run: one writer running the same 320 runs
//! one after another on a session of its own.
//!
//! The processes are this executable started again as children; they start together at a
//! time the parent sets, and report their runs as one JSON line. DynamoDB Local is used when
//! `AWS_ENDPOINT_URL_DYNAMODB` is set (`cargo xtask bench` starts it). Writes
//! `sustained_writers.json`.
//!
//! `cargo bench -p bench-support --bench sustained_writers`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, clippy::panic)]
// A child reports its runs on stdout, one JSON line, for the parent to read.
#![allow(clippy::print_stdout)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_core::NoEvents;
use agent_loop::{AgentLoop, RunInput};
use agent_runtime::{SessionOptions, SessionRunner};
use agent_session::{SessionId, SessionStore};
use bench_support::child::{self, self_command};
use bench_support::{Report, quantile, run_by_cargo_bench};
use common::aws::{DYNAMODB_ENDPOINT_ENV, dynamodb_endpoint};
use common::stores::{OpenStore, StoreKind, TempFile, dynamo_store, read_back};
use common::workload::{QUERY, StepsModel, agent_loop};
use serde_json::{Value, json};
use uuid::Uuid;

const WRITERS: usize = 16;
const TURNS: usize = 20;
const PROCESSES: usize = 4;

const ENV_STORE: &str = "MINIMALAGENT_BENCH_WRITERS_STORE";
const ENV_PLACE: &str = "MINIMALAGENT_BENCH_WRITERS_PLACE";
const ENV_TASKS: &str = "MINIMALAGENT_BENCH_WRITERS_TASKS";
const ENV_START_MS: &str = "MINIMALAGENT_BENCH_WRITERS_START_MS";

/// The session every writer writes to.
const SESSION: &str = "bench-writers";

fn main() {
    match child::role().as_deref() {
        Some("writer") => writer_child(),
        Some(other) => panic!("unknown role {other}"),
        None if run_by_cargo_bench("sustained_writers") => parent(),
        None => {}
    }
}

/// What the writers did.
#[derive(Debug, Default)]
struct Outcome {
    wall: Duration,
    kept: Vec<Uuid>,
    conflicts: Vec<u32>,
    failed: usize,
}

impl Outcome {
    fn add(&mut self, run: Result<(Uuid, u32), String>) {
        match run {
            Ok((run_id, conflicts)) => {
                self.kept.push(run_id);
                self.conflicts.push(conflicts);
            }
            Err(error) => {
                eprintln!("sustained_writers: a run failed: {error}");
                self.failed += 1;
            }
        }
    }
}

/// One run; its id and commit retries, or why it failed.
async fn one_run(
    runner: &SessionRunner,
    agent_loop: &AgentLoop,
    session: &SessionId,
) -> Result<(Uuid, u32), String> {
    let output = runner
        .run(agent_loop, session, RunInput::new(QUERY), &NoEvents)
        .await
        .map_err(|error| format!("{error} (turn {:?})", error.turn()))?;
    Ok((
        output.result.reasoning.run_id,
        output.result.reasoning.commit_conflicts,
    ))
}

/// `tasks` tasks of `turns` runs each on `session`, all started at once.
async fn writers(store: Arc<dyn SessionStore>, session: &SessionId, tasks: usize) -> Outcome {
    let runner = SessionRunner::new(store, SessionOptions::default());
    let agent_loop = Arc::new(agent_loop(Arc::new(StepsModel::new(1))));
    let started = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (runner, agent_loop, session) = (runner.clone(), agent_loop.clone(), session.clone());
        set.spawn(async move {
            let mut runs = Vec::with_capacity(TURNS);
            for _ in 0..TURNS {
                runs.push(one_run(&runner, &agent_loop, &session).await);
            }
            runs
        });
    }
    let mut outcome = Outcome::default();
    while let Some(runs) = set.join_next().await {
        for run in runs.expect("a writer task") {
            outcome.add(run);
        }
    }
    outcome.wall = started.elapsed();
    outcome
}

/// What the store holds after the writers: (turns, distinct turns, records, distinct
/// completed records, kept runs missing a turn or a record).
async fn check(store: &dyn SessionStore, session: &SessionId, kept: &[Uuid]) -> [usize; 5] {
    let (turns, records) = read_back(store, session).await;
    let distinct_turns: HashSet<Uuid> = turns.iter().copied().collect();
    let completed: Vec<Uuid> = records
        .iter()
        .filter(|record| record.committed_seq.is_some())
        .map(|record| record.reasoning.run_id)
        .collect();
    let distinct_records: HashSet<Uuid> = completed.iter().copied().collect();
    let missing = kept
        .iter()
        .filter(|run| !distinct_turns.contains(run) || !distinct_records.contains(run))
        .count();
    [
        turns.len(),
        distinct_turns.len(),
        completed.len(),
        distinct_records.len(),
        missing,
    ]
}

fn parent() {
    let endpoint = dynamodb_endpoint();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let mut report = Report::new(
        "sustained_writers",
        format!(
            "5. Sustained writers: {WRITERS} writers × {TURNS} turns on one session \
             (1 tool step, the model answers at once)"
        ),
    );
    for kind in StoreKind::all(endpoint.as_deref()) {
        let place = format!(
            "minimalagent-bench-writers-{}-{}",
            kind.name(),
            std::process::id()
        );
        let open = runtime.block_on(OpenStore::open(kind, &place, endpoint.as_deref()));
        let store = open.shared();
        let session = SessionId::new(SESSION).expect("a valid session id");
        let solo = SessionId::new("bench-writers-solo").expect("a valid session id");
        let baseline = runtime.block_on(writers_solo(store.clone(), &solo));
        let outcome = runtime.block_on(writers(store.clone(), &session, WRITERS));
        let checked = runtime.block_on(check(&*store, &session, &outcome.kept));
        add_rows(
            &mut report,
            &format!("{}, {WRITERS} tasks in one process", kind.label()),
            &outcome,
            checked,
            &baseline,
        );
        if kind != StoreKind::Memory {
            let session = SessionId::new(format!("{SESSION}-processes")).expect("a valid id");
            let place = match &open {
                OpenStore::Sqlite(_, file) => file.path.display().to_string(),
                _ => place.clone(),
            };
            let outcome = processes(kind, &place, &session, endpoint.as_deref());
            let checked = runtime.block_on(check(&*store, &session, &outcome.kept));
            add_rows(
                &mut report,
                &format!(
                    "{}, {PROCESSES} processes × {} tasks",
                    kind.label(),
                    WRITERS / PROCESSES
                ),
                &outcome,
                checked,
                &baseline,
            );
        }
        eprintln!("sustained_writers: {}: done", kind.label());
        drop(store);
        runtime.block_on(open.remove());
    }
    report.finish().expect("the report is written");
}

/// The baseline: one writer, the same number of runs one after another.
async fn writers_solo(store: Arc<dyn SessionStore>, session: &SessionId) -> Outcome {
    let runner = SessionRunner::new(store, SessionOptions::default());
    let agent_loop = agent_loop(Arc::new(StepsModel::new(1)));
    let started = tokio::time::Instant::now();
    let mut outcome = Outcome::default();
    for _ in 0..WRITERS * TURNS {
        outcome.add(one_run(&runner, &agent_loop, session).await);
    }
    outcome.wall = started.elapsed();
    outcome
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `PROCESSES` children of `WRITERS / PROCESSES` tasks each, started together.
fn processes(kind: StoreKind, place: &str, session: &SessionId, endpoint: Option<&str>) -> Outcome {
    // Time for the children to start and open the store before they all begin.
    let start_ms = epoch_ms() + 2000;
    let mut env = vec![
        (ENV_STORE, kind.name().to_owned()),
        (ENV_PLACE, place.to_owned()),
        (ENV_TASKS, (WRITERS / PROCESSES).to_string()),
        (ENV_START_MS, start_ms.to_string()),
        ("MINIMALAGENT_BENCH_WRITERS_SESSION", session.to_string()),
    ];
    if let Some(endpoint) = endpoint {
        env.push((DYNAMODB_ENDPOINT_ENV, endpoint.to_owned()));
    }
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let command = self_command("writer", &env).expect("the writer command");
            std::thread::spawn(move || child::run(command, Duration::from_secs(600)))
        })
        .collect();
    let mut outcome = Outcome::default();
    let mut finished_ms = start_ms;
    for child in children {
        let child = child
            .join()
            .expect("a child's thread")
            .expect("the writer child runs");
        assert!(child.success, "a writer child failed: {child:?}");
        let figures: Value = serde_json::from_str(child.json_line().expect("the child's figures"))
            .expect("the child's figures are JSON");
        finished_ms = finished_ms.max(figures["finished_ms"].as_u64().unwrap_or(0));
        outcome.failed += figures["failed"].as_u64().unwrap_or(0) as usize;
        for (run_id, conflicts) in figures["runs"].as_array().expect("runs").iter().map(|run| {
            (
                run[0]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("a run id"),
                run[1].as_u64().unwrap_or(0) as u32,
            )
        }) {
            outcome.kept.push(run_id);
            outcome.conflicts.push(conflicts);
        }
    }
    outcome.wall = Duration::from_millis(finished_ms.saturating_sub(start_ms));
    outcome
}

/// A writer process: opens the store, waits for the common start, runs its tasks, and prints
/// its runs as one JSON line.
fn writer_child() {
    let env = |name: &str| std::env::var(name).expect(name);
    let kind = StoreKind::from_name(&env(ENV_STORE)).expect("a store kind");
    let place = env(ENV_PLACE);
    let tasks: usize = env(ENV_TASKS).parse().expect("a task count");
    let start_ms: u64 = env(ENV_START_MS).parse().expect("a start time");
    let session =
        SessionId::new(env("MINIMALAGENT_BENCH_WRITERS_SESSION")).expect("a valid session id");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let outcome = runtime.block_on(async {
        let store: Arc<dyn SessionStore> = match kind {
            StoreKind::Sqlite => {
                let file = TempFile::existing(place.into());
                Arc::new(
                    agent_session_sqlite::SqliteSessionStore::open(file.path.clone())
                        .await
                        .expect("the SQLite store opens"),
                )
            }
            StoreKind::Dynamo => {
                let endpoint = dynamodb_endpoint().expect("DynamoDB Local's endpoint");
                Arc::new(dynamo_store(&endpoint, &place).await)
            }
            StoreKind::Memory => panic!("an in-memory store cannot be shared by processes"),
        };
        tokio::time::sleep(Duration::from_millis(start_ms.saturating_sub(epoch_ms()))).await;
        writers(store, &session, tasks).await
    });
    let runs: Vec<Value> = outcome
        .kept
        .iter()
        .zip(&outcome.conflicts)
        .map(|(run_id, conflicts)| json!([run_id.to_string(), conflicts]))
        .collect();
    println!(
        "{}",
        json!({"runs": runs, "failed": outcome.failed, "finished_ms": epoch_ms()})
    );
}

fn add_rows(
    report: &mut Report,
    case: &str,
    outcome: &Outcome,
    [turns, distinct_turns, records, distinct_records, missing]: [usize; 5],
    baseline: &Outcome,
) {
    const SOLO: &str = "one writer running the same 320 runs one after another";
    let runs = (WRITERS * TURNS) as f64;
    let per_second = |o: &Outcome| o.kept.len() as f64 / o.wall.as_secs_f64();
    report.push(
        report
            .row(case, "throughput", "runs/s", per_second(outcome))
            .baseline(per_second(baseline), SOLO),
    );
    let mut conflicts = outcome.conflicts.clone();
    conflicts.sort_unstable();
    let mean = conflicts.iter().map(|&c| f64::from(c)).sum::<f64>() / conflicts.len().max(1) as f64;
    report.push(
        report
            .row(case, "commit retries per run (mean)", "retries", mean)
            .note(
                "commit retries: the run's commit_conflicts, how often another run of the \
                 session committed first and the turn was re-based on it",
            ),
    );
    report.push(report.row(
        case,
        "commit retries per run (p95)",
        "retries",
        f64::from(quantile(&conflicts, 0.95)),
    ));
    report.push(report.row(
        case,
        "commit retries per run (max)",
        "retries",
        f64::from(conflicts.last().copied().unwrap_or(0)),
    ));
    let all_kept = outcome.failed == 0
        && outcome.kept.len() == WRITERS * TURNS
        && turns == WRITERS * TURNS
        && distinct_turns == turns
        && records == turns
        && distinct_records == records
        && missing == 0;
    report.push(
        report
            .row(case, "runs kept", "runs", outcome.kept.len() as f64)
            .target(
                format!("all {runs} kept once, each with its record"),
                all_kept,
            )
            .note(format!(
                "runs kept: runs that returned a kept turn; then checked in the store: turns, \
                 distinct run ids, completed run records, kept runs missing either. {case}: \
                 {turns} turns ({distinct_turns} distinct), {records} records \
                 ({distinct_records} distinct), {missing} missing, {} failed runs",
                outcome.failed
            )),
    );
}
