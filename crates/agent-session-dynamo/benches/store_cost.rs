//! What a run costs in DynamoDB as its session grows: requests by operation, bytes sent, write
//! and read units (as DynamoDB reports them, with its 1 KB write and 4 KB read rounding) and
//! wall time, at run 1, 10, 100 and 1000 of one session, with real-time reasoning off and on.
//!
//! Each run does what the runtime does for a run with one tool step, against
//! `DynamoSessionStore` on DynamoDB Local: read the head, then commit the run's four messages and
//! its trace (real time off); or read the head, begin the run, append its events in three
//! batches, beat once, and commit under the lease (real time on). The figures come from the
//! store's own request metrics. Baseline, measured in the same run: the
//! bare SDK calls one run minimally needs — one Query of the session's items and one PutItem of
//! the run's messages (as plain JSON) — on a table of the same keys.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (a loopback DynamoDB Local; `cargo xtask bench` starts
//! one). Writes `store_cost.json`.
//!
//! `cargo bench -p agent-session-dynamo --bench store_cost`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]

#[path = "../../agent-core/benches/common/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_core::{
    AgentEvent, ContentBlock, Message, Reasoning, ReasoningStep, Role, RunStatus, ToolCallStatus,
    ToolInvocation, ToolResult, ToolUse,
};
use agent_session::{Commit, SessionId, SessionStore, StoredEvent};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_dynamo::aws_config::{self, BehaviorVersion, SdkConfig};
use agent_session_dynamo::aws_sdk_dynamodb::Client;
use agent_session_dynamo::aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use agent_session_dynamo::aws_sdk_dynamodb::config::{
    ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use agent_session_dynamo::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnConsumedCapacity, ScalarAttributeType,
};
use report::{Report, loopback_url, median, millis, quick, run_by_cargo_bench};
use serde_json::json;

/// The runs of the session at which the figures are reported.
const CHECKPOINTS: [usize; 4] = [1, 10, 100, 1000];

/// How far run 1000 may be from run 1 in requests, bytes sent and write units.
const TARGET_GROWTH: f64 = 1.2;

const QUERY: &str = "What's the weather in Seattle today, and should I take an umbrella?";

fn main() {
    if !run_by_cargo_bench("store_cost") {
        return;
    }
    let endpoint = match loopback_url("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(Some(url)) => url,
        Ok(None) => {
            eprintln!("store_cost: AWS_ENDPOINT_URL_DYNAMODB is not set; nothing to measure");
            Report::new("store_cost", "2. Store cost per run (DynamoDB Local)")
                .finish()
                .expect("the report is written");
            return;
        }
        Err(message) => {
            eprintln!("store_cost: {message}");
            std::process::exit(2);
        }
    };
    let runs = if quick() { 100 } else { 1000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let report = runtime.block_on(measure(&endpoint, runs));
    report.finish().expect("the report is written");
}

/// The counted figures of one run.
#[derive(Debug, Clone, Default)]
struct RunCost {
    operations: BTreeMap<String, u64>,
    requests: u64,
    bytes_sent: u64,
    write_units: f64,
    read_units: f64,
    wall: Duration,
}

async fn measure(endpoint: &str, runs: usize) -> Report {
    let config = sdk_config(endpoint).await;
    let suffix = std::process::id();
    let store_table = format!("minimalagent-bench-store-{suffix}");
    let baseline_table = format!("minimalagent-bench-baseline-{suffix}");
    let store = DynamoSessionStore::builder()
        .sdk_config(&config)
        .table_name(&store_table)
        .create_table_if_missing(true)
        .build()
        .await
        .expect("the store's table is created in DynamoDB Local");
    let baseline = Baseline::new(&config, &baseline_table).await;

    let mut report = Report::new(
        "store_cost",
        "2. Store cost per run vs session length (DynamoDB Local)",
    );
    let mut baseline_costs = Vec::with_capacity(runs);
    for real_time in [false, true] {
        let label = if real_time {
            "real-time reasoning"
        } else {
            "reasoning at end"
        };
        let session = SessionId::new(format!("bench-{}", if real_time { "rt" } else { "end" }))
            .expect("a valid session id");
        let mut store_costs = Vec::with_capacity(runs);
        for run in 1..=runs {
            let before = store.metrics();
            let started = Instant::now();
            let messages = session_run(&store, &session, real_time, run).await;
            let wall = started.elapsed();
            let delta = store.metrics().since(&before);
            store_costs.push(RunCost {
                operations: delta.operations,
                requests: delta.requests,
                bytes_sent: delta.request_bytes,
                write_units: delta.write_capacity_units,
                read_units: delta.read_capacity_units,
                wall,
            });
            // The baseline keeps the same conversation: same messages, one item per run. It does
            // not depend on how reasoning is written, so it is measured once.
            if !real_time {
                baseline_costs.push(baseline.run(session.as_str(), run, &messages).await);
            }
            if run % 100 == 0 {
                eprintln!("store_cost: {label}: {run} runs");
            }
        }
        add_rows(&mut report, label, &store_costs, &baseline_costs);
    }
    // DynamoDB Local keeps tables in memory; drop them all the same.
    let _ = store
        .client()
        .delete_table()
        .table_name(&store_table)
        .send()
        .await;
    let _ = baseline
        .client
        .delete_table()
        .table_name(&baseline_table)
        .send()
        .await;
    report
}

/// The figure at `run` (1-based). Wall time is the median of the runs around it, as single
/// requests to an emulator on a shared machine are noisy.
fn at(costs: &[RunCost], run: usize) -> RunCost {
    let mut cost = costs[run - 1].clone();
    let lo = run.saturating_sub(3);
    let hi = (run + 2).min(costs.len());
    let mut walls: Vec<Duration> = costs[lo..hi].iter().map(|c| c.wall).collect();
    cost.wall = median(&mut walls);
    cost
}

fn add_rows(report: &mut Report, label: &str, store: &[RunCost], baseline: &[RunCost]) {
    const BASELINE: &str = "bare SDK: one Query of the session + one PutItem of the run's messages";
    let checkpoints: Vec<usize> = CHECKPOINTS
        .into_iter()
        .filter(|&run| run <= store.len())
        .collect();
    for &run in &checkpoints {
        let cost = at(store, run);
        let base = baseline
            .get(run - 1)
            .map(|_| at(baseline, run))
            .unwrap_or_default();
        let case = format!("{label}, run {run}");
        for (operation, count) in &cost.operations {
            let base_count = base.operations.get(operation).copied().unwrap_or(0);
            report.push(
                report
                    .row(&case, format!("{operation} calls"), "calls", *count as f64)
                    .baseline(base_count as f64, BASELINE),
            );
        }
        for (operation, count) in &base.operations {
            if !cost.operations.contains_key(operation) {
                report.push(
                    report
                        .row(&case, format!("{operation} calls"), "calls", 0.0)
                        .baseline(*count as f64, BASELINE),
                );
            }
        }
        report.push(
            report
                .row(&case, "HTTP requests", "requests", cost.requests as f64)
                .baseline(base.requests as f64, BASELINE),
        );
        report.push(
            report
                .row(&case, "bytes sent", "B", cost.bytes_sent as f64)
                .baseline(base.bytes_sent as f64, BASELINE),
        );
        report.push(
            report
                .row(&case, "write units", "WCU", cost.write_units)
                .baseline(base.write_units, BASELINE),
        );
        report.push(
            report
                .row(&case, "read units", "RCU", cost.read_units)
                .baseline(base.read_units, BASELINE),
        );
        report.push(
            report
                .row(&case, "wall time", "ms", millis(cost.wall))
                .baseline(millis(base.wall), BASELINE)
                .note("wall time: median of the 5 runs around the one named, DynamoDB Local on the same 2 cores"),
        );
    }
    // The growth targets: the last checkpoint against run 1.
    let Some(&last) = checkpoints.last() else {
        return;
    };
    if last == 1 {
        return;
    }
    let (first, final_) = (at(store, 1), at(store, last));
    let base_first = baseline.first().cloned().unwrap_or_default();
    let base_final = baseline.get(last - 1).cloned().unwrap_or_default();
    let case = format!("{label}, run {last} ÷ run 1");
    let growth = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    for (metric, value, base) in [
        (
            "HTTP requests",
            growth(final_.requests as f64, first.requests as f64),
            growth(base_final.requests as f64, base_first.requests as f64),
        ),
        (
            "bytes sent",
            growth(final_.bytes_sent as f64, first.bytes_sent as f64),
            growth(base_final.bytes_sent as f64, base_first.bytes_sent as f64),
        ),
        (
            "write units",
            growth(final_.write_units, first.write_units),
            growth(base_final.write_units, base_first.write_units),
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
                .baseline(base, BASELINE)
                .target(target, value <= TARGET_GROWTH),
        );
    }
    report.push(
        report
            .row(
                &case,
                "read units growth",
                "×",
                growth(final_.read_units, first.read_units),
            )
            .baseline(
                growth(base_final.read_units, base_first.read_units),
                BASELINE,
            )
            .note("read units grow with the history a run loads: the conversation is read whole"),
    );
}

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new(
            "minimalagent",
            "minimalagent",
            None,
            None,
            "benchmark",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The bare SDK calls a run minimally needs, on their own table and counted the same way.
struct Baseline {
    client: Client,
    table: String,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// Counts HTTP requests and their body bytes, as the store's own metrics do.
#[derive(Debug)]
struct CountingInterceptor(Arc<Counters>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "BenchmarkBaselineCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let body = context.request().body();
        let bytes = body
            .bytes()
            .map(|b| b.len() as u64)
            .or_else(|| body.content_length())
            .unwrap_or(0);
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}

impl Baseline {
    async fn new(config: &SdkConfig, table: &str) -> Self {
        let counters = Arc::new(Counters::default());
        let client_config = agent_session_dynamo::aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(CountingInterceptor(Arc::clone(&counters)))
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
            counters,
        }
    }

    /// Run `run` of `session`: read the conversation, then write the run's messages.
    async fn run(&self, session: &str, run: usize, messages: &[Message]) -> RunCost {
        let requests = self.counters.requests.load(Ordering::Relaxed);
        let bytes = self.counters.bytes.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut read_units = 0.0;
        let mut pages = 0;
        let mut stream = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(session.to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        while let Some(page) = stream.next().await {
            let page = page.expect("the baseline Query succeeds");
            pages += 1;
            read_units += page
                .consumed_capacity()
                .and_then(|c| c.capacity_units())
                .unwrap_or(0.0);
        }
        let body = serde_json::to_string(messages).expect("messages serialise");
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(session.to_owned()))
            .item("sk", AttributeValue::N(run.to_string()))
            .item("messages", AttributeValue::S(body))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("the baseline PutItem succeeds");
        let wall = started.elapsed();
        RunCost {
            operations: BTreeMap::from([("PutItem".to_owned(), 1), ("Query".to_owned(), pages)]),
            requests: self.counters.requests.load(Ordering::Relaxed) - requests,
            bytes_sent: self.counters.bytes.load(Ordering::Relaxed) - bytes,
            write_units: put
                .consumed_capacity()
                .and_then(|c| c.capacity_units())
                .unwrap_or(0.0),
            read_units,
            wall,
        }
    }
}

/// One run of a session as the runtime does it, with one tool step; returns its messages.
async fn session_run(
    store: &DynamoSessionStore,
    session: &SessionId,
    real_time: bool,
    run: usize,
) -> Vec<Message> {
    let head = store.head(session).await.expect("the head is read");
    let messages = messages(run);
    let mut reasoning = Reasoning::start(QUERY, Some(session.to_string()));
    let lease = if real_time {
        let lease = store
            .begin_run(session, &reasoning)
            .await
            .expect("the run begins");
        let events: Vec<AgentEvent> = vec![
            AgentEvent::TextDelta {
                step: 1,
                text: "<thinking>I need today's forecast".into(),
            },
            AgentEvent::TextDelta {
                step: 1,
                text: " for Seattle to answer.</thinking>".into(),
            },
            AgentEvent::ToolCallStarted {
                step: 1,
                tool_use_id: format!("tooluse_{run}"),
                name: "get_weather".into(),
            },
            AgentEvent::TextDelta {
                step: 2,
                text: "Seattle is 14 °C and cloudy".into(),
            },
            AgentEvent::TextDelta {
                step: 2,
                text: ", with light rain expected.".into(),
            },
            AgentEvent::TextDelta {
                step: 2,
                text: " Take an umbrella.".into(),
            },
        ];
        let stored: Vec<StoredEvent> = events
            .into_iter()
            .zip(1u32..)
            .map(|(event, index)| StoredEvent { index, event })
            .collect();
        for batch in stored.chunks(2) {
            store
                .append_events(session, &lease, batch)
                .await
                .expect("events are appended");
        }
        store
            .heartbeat(session, &lease)
            .await
            .expect("the run beats");
        Some(lease)
    } else {
        None
    };
    reasoning.status = RunStatus::Completed;
    reasoning.total_steps = 1;
    reasoning.final_response = Some(messages[3].text());
    reasoning.steps.push(ReasoningStep {
        step_number: 1,
        timestamp: Some(jiff::Timestamp::now()),
        thinking: Some("I need today's forecast for Seattle to answer.".into()),
        tools: vec![ToolInvocation {
            name: "get_weather".into(),
            tool_use_id: format!("tooluse_{run}"),
            inputs: json!({"location": "Seattle", "days": 2}),
            result: Some(weather()),
            status: ToolCallStatus::Succeeded,
            error: None,
            duration_ms: Some(120),
        }],
        usage: Default::default(),
    });
    store
        .commit(
            session,
            Commit::new(reasoning.run_id, head.version, &messages, &reasoning).with_lease(lease),
        )
        .await
        .expect("the run commits");
    messages
}

/// The forecast the tool returns.
fn weather() -> serde_json::Value {
    json!({
        "location": "Seattle, WA",
        "today": {"condition": "cloudy, light rain from 14:00", "temperature_c": 14,
                  "high_c": 16, "low_c": 9, "rain_chance": 0.7, "wind_kmh": 15,
                  "wind_direction": "SW"},
        "tomorrow": {"condition": "sunny spells", "temperature_c": 15, "high_c": 17,
                     "low_c": 10, "rain_chance": 0.2, "wind_kmh": 10,
                     "wind_direction": "W"},
        "source": "benchmark"
    })
}

/// A run's messages: the query, a tool call, its result, the answer.
fn messages(run: usize) -> Vec<Message> {
    vec![
        Message::user_text(QUERY),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text(
                    "<thinking>I need today's forecast for Seattle to answer.</thinking>".into(),
                ),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("tooluse_{run}"),
                    name: "get_weather".into(),
                    input: json!({"location": "Seattle", "days": 2}),
                }),
            ],
        },
        Message::user(vec![ContentBlock::ToolResult(ToolResult::success(
            format!("tooluse_{run}"),
            weather(),
        ))]),
        Message::assistant_text(
            "<thinking>The forecast says light rain in the afternoon, so an umbrella is \
             sensible.</thinking>Seattle is 14 °C and cloudy this morning, with light rain \
             expected from about 2 pm (70% chance) and winds from the south-west at 15 km/h. \
             Yes, take an umbrella if you will be out in the afternoon; the morning should stay \
             dry. Tomorrow looks brighter, with sunny spells and a high of 17 °C.",
        ),
    ]
}
