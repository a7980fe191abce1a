//! Streaming through our layer against the bare SDK: time to first text delta (p50, p95) and
//! CPU per streamed run, and the overhead our layer adds per streamed event.
//!
//! The Converse stand-in (`agent_testkit::ConverseStandIn`, on loopback, on its own Tokio
//! runtime and threads) answers every `ConverseStream` request with the same text, streamed
//! 8 characters per `contentBlockDelta` (its default), after the model latency of the case.
//! Three clients make the same request — the agent loop's own (captured from the stand-in): a
//! user turn of the query and the time line the loop adds, under the same system prompt and
//! `maxTokens`, no tools — in turn, on one current-thread Tokio runtime on this thread:
//!
//! - **agent run**: `AgentLoop::run` with `BedrockModel` (streaming, prompt caching off),
//!   events to a sink that notes the first `TextDelta`: everything an application gets;
//! - **model layer**: `BedrockModel::converse_stream`, its events read to the end;
//! - **baseline, bare SDK**: `Client::converse_stream`, every event read with the SDK's
//!   receiver (`EventReceiver::recv`).
//!
//! Time to first text delta runs from the call to the first text piece; CPU per run is this
//! thread's CPU time (`cpu_time::ThreadTime`), which the stand-in's threads do not touch. The
//! order of the three rotates from one iteration to the next. Per-event overhead = (CPU per
//! run − the bare SDK's) ÷ events per run. Writes `streaming.json`.
//!
//! `cargo bench -p bench-support --bench streaming`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use agent_core::{
    AgentEvent, BlockDelta, ContentBlock, EventSink, Message, Model, ModelRequest,
    ModelStreamEvent, ToolSet,
};
use agent_llm_bedrock::aws_sdk_bedrockruntime::{Client, types as sdk};
use agent_llm_bedrock::{BedrockModel, PromptCaching};
use agent_loop::{AgentLoop, RunInput, is_time_line};
use agent_testkit::{ConverseStandIn, Policy, Reply};
use bench_support::aws::{MODEL_ID, sdk_config};
use bench_support::{Report, mean, micros, quantile, quick, run_by_cargo_bench};
use common::aws::{CountSent, SentCounter};
use common::workload::{QUERY, SYSTEM_PROMPT};
use cpu_time::ThreadTime;
use futures::StreamExt;
use serde_json::Value;

/// How far our layer may be from the bare SDK in time to first text delta and CPU per run.
const TARGET_RATIO: f64 = 1.1;

/// The answers streamed: a short one and a long one.
const CASES: [(&str, usize); 2] = [("short answer", 64), ("long answer", 2000)];

fn main() {
    if run_by_cargo_bench("streaming") {
        parent();
    }
}

/// What one client did in one run.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    first_text: Duration,
    cpu: Duration,
    events: u64,
}

/// The three clients' samples of one case.
#[derive(Debug, Default)]
struct Samples {
    agent: Vec<Sample>,
    model: Vec<Sample>,
    sdk: Vec<Sample>,
}

/// A text of `len` characters, words of varied lengths.
fn answer(len: usize) -> String {
    const WORDS: [&str; 12] = [
        "Seattle", "is", "cloudy", "this", "morning,", "with", "light", "rain", "expected", "from",
        "about", "2 pm.",
    ];
    let mut text = String::with_capacity(len + 16);
    let mut index = 0;
    while text.len() < len {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[index % WORDS.len()]);
        index += 1;
    }
    text.truncate(len);
    text
}

fn parent() {
    let quick = quick();
    let (runs, warmup) = if quick { (100, 10) } else { (400, 30) };
    let standin_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("standin")
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let standin = standin_runtime
        .block_on(ConverseStandIn::start(Policy::always(Reply::text(
            "Hello.",
        ))))
        .expect("the Converse stand-in starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let clients = runtime.block_on(Clients::new(&standin.endpoint_url()));

    let mut report = Report::new(
        "streaming",
        "1b. Streaming: agent run and BedrockModel against the bare SDK converse_stream \
         (stand-in on loopback)",
    );
    for latency_ms in [0u64, 50] {
        standin.set_latency(Duration::from_millis(latency_ms));
        for (label, len) in CASES {
            // With a model latency only the time to first text says anything new; fewer runs.
            let (runs, warmup) = if latency_ms == 0 {
                (runs, warmup)
            } else {
                (runs / 8, warmup / 3)
            };
            standin.set_policy(Policy::always(Reply::text(answer(len))));
            let request = runtime.block_on(clients.captured_request(&standin));
            let samples = runtime.block_on(clients.measure(&request, runs, warmup));
            standin.clear_requests();
            add_rows(
                &mut report,
                &format!("{label} ({len} chars), {latency_ms} ms model"),
                &samples,
                latency_ms == 0,
                &clients,
            );
            eprintln!("streaming: {label}, {latency_ms} ms: done");
        }
    }
    standin_runtime.block_on(standin.shutdown());
    report.finish().expect("the report is written");
}

/// The request the agent loop sends, beyond its query: what the other two clients send too.
struct Captured {
    system: String,
    max_tokens: Option<i32>,
    /// The agent's user turn ends with its time line (`Current time: …`).
    time_line: String,
}

/// The three ways to make the call, each on its own client with its own byte counter.
struct Clients {
    agent_loop: AgentLoop,
    agent_sent: Arc<SentCounter>,
    model: BedrockModel,
    sdk: Client,
    sdk_sent: Arc<SentCounter>,
}

impl Clients {
    async fn new(endpoint: &str) -> Self {
        let config = sdk_config(endpoint).await;
        let counted = |counter: &Arc<SentCounter>| {
            Client::from_conf(
                agent_llm_bedrock::aws_sdk_bedrockruntime::config::Builder::from(&config)
                    .interceptor(CountSent(Arc::clone(counter)))
                    .build(),
            )
        };
        let agent_sent = Arc::new(SentCounter::default());
        let sdk_sent = Arc::new(SentCounter::default());
        let model = BedrockModel::from_client(counted(&agent_sent), MODEL_ID)
            .with_prompt_caching(PromptCaching::Off);
        let agent_loop = AgentLoop::new(
            Arc::new(model.clone()),
            ToolSet::new([]).expect("an empty tool set"),
        )
        .with_system_prompt(SYSTEM_PROMPT);
        Self {
            agent_loop,
            agent_sent,
            model,
            sdk: counted(&sdk_sent),
            sdk_sent,
        }
    }

    /// The system prompt, the time line and the `maxTokens` the agent loop sends, from the
    /// stand-in's record of one agent run, so that all three clients send the same request.
    async fn captured_request(&self, standin: &ConverseStandIn) -> Captured {
        standin.clear_requests();
        self.agent_loop
            .run(RunInput::new(QUERY), &agent_core::NoEvents)
            .await
            .expect("the agent run completes");
        let requests = standin.requests();
        let body = &requests.last().expect("the stand-in saw the run").body;
        for key in body.as_object().expect("a JSON body").keys() {
            assert!(
                ["messages", "system", "inferenceConfig"].contains(&key.as_str()),
                "the agent's request has more than messages, a system prompt and maxTokens: {body}"
            );
        }
        if let Some(inference) = body.get("inferenceConfig") {
            assert!(
                inference.as_object().is_some_and(|o| o.len() == 1),
                "the agent's inferenceConfig holds more than maxTokens: {body}"
            );
        }
        let max_tokens = body
            .pointer("/inferenceConfig/maxTokens")
            .and_then(Value::as_i64)
            .map(|n| i32::try_from(n).expect("maxTokens fits"));
        let system = body
            .pointer("/system/0/text")
            .and_then(Value::as_str)
            .expect("a system prompt")
            .to_owned();
        let user_turn = body
            .pointer("/messages/0/content")
            .and_then(Value::as_array)
            .expect("a user turn");
        assert!(
            user_turn.len() == 2 && user_turn[0].get("text").and_then(Value::as_str) == Some(QUERY),
            "the agent's user turn is more than the query and its time line: {body}"
        );
        let time_line = user_turn[1]
            .get("text")
            .and_then(Value::as_str)
            .filter(|text| is_time_line(&ContentBlock::Text((*text).to_owned())))
            .expect("the user turn ends with its time line")
            .to_owned();
        Captured {
            system,
            max_tokens,
            time_line,
        }
    }

    async fn measure(&self, request: &Captured, runs: usize, warmup: usize) -> Samples {
        let mut samples = Samples::default();
        for iteration in 0..runs + warmup {
            let mut round = [Sample::default(); 3];
            for turn in 0..3 {
                // Rotate the order, so that none of the three always follows another.
                let which = (iteration + turn) % 3;
                round[which] = match which {
                    0 => self.agent_run().await,
                    1 => self.model_call(request).await,
                    _ => self.sdk_call(request).await,
                };
            }
            if iteration >= warmup {
                samples.agent.push(round[0]);
                samples.model.push(round[1]);
                samples.sdk.push(round[2]);
            }
        }
        samples
    }

    async fn agent_run(&self) -> Sample {
        let sink = FirstText::new();
        let cpu = ThreadTime::now();
        self.agent_loop
            .run(RunInput::new(QUERY), &sink)
            .await
            .expect("the agent run completes");
        let cpu = cpu.elapsed();
        Sample {
            first_text: sink.first_text(),
            cpu,
            events: sink.events.load(Ordering::Relaxed),
        }
    }

    async fn model_call(&self, captured: &Captured) -> Sample {
        let request = ModelRequest::new(vec![Message::user(vec![
            ContentBlock::Text(QUERY.to_owned()),
            ContentBlock::Text(captured.time_line.clone()),
        ])])
        .with_system(vec![captured.system.clone()]);
        let started = Instant::now();
        let cpu = ThreadTime::now();
        let mut stream = self
            .model
            .converse_stream(&request)
            .await
            .expect("the stream starts");
        let mut first_text = None;
        let mut events = 0;
        while let Some(event) = stream.next().await {
            let event = event.expect("the stream completes");
            events += 1;
            if first_text.is_none()
                && matches!(
                    event,
                    ModelStreamEvent::BlockDelta {
                        delta: BlockDelta::Text(_),
                        ..
                    }
                )
            {
                first_text = Some(started.elapsed());
            }
        }
        Sample {
            first_text: first_text.unwrap_or_default(),
            cpu: cpu.elapsed(),
            events,
        }
    }

    async fn sdk_call(&self, captured: &Captured) -> Sample {
        let started = Instant::now();
        let cpu = ThreadTime::now();
        let message = sdk::Message::builder()
            .role(sdk::ConversationRole::User)
            .content(sdk::ContentBlock::Text(QUERY.to_owned()))
            .content(sdk::ContentBlock::Text(captured.time_line.clone()))
            .build()
            .expect("a message");
        let mut output = self
            .sdk
            .converse_stream()
            .model_id(MODEL_ID)
            .messages(message)
            .system(sdk::SystemContentBlock::Text(captured.system.clone()))
            .set_inference_config(
                captured
                    .max_tokens
                    .map(|n| sdk::InferenceConfiguration::builder().max_tokens(n).build()),
            )
            .send()
            .await
            .expect("the stream starts");
        let mut first_text = None;
        let mut events = 0;
        while let Some(event) = output.stream.recv().await.expect("the stream completes") {
            events += 1;
            if first_text.is_none()
                && let sdk::ConverseStreamOutput::ContentBlockDelta(delta) = &event
                && matches!(delta.delta, Some(sdk::ContentBlockDelta::Text(_)))
            {
                first_text = Some(started.elapsed());
            }
        }
        Sample {
            first_text: first_text.unwrap_or_default(),
            cpu: cpu.elapsed(),
            events,
        }
    }
}

/// A sink that notes when the first text delta arrived and counts events.
struct FirstText {
    started: Instant,
    first: Mutex<Option<Duration>>,
    events: AtomicU64,
}

impl FirstText {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            first: Mutex::new(None),
            events: AtomicU64::new(0),
        }
    }

    fn first_text(&self) -> Duration {
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_default()
    }
}

impl EventSink for FirstText {
    fn emit(&self, event: &AgentEvent) {
        self.events.fetch_add(1, Ordering::Relaxed);
        if matches!(event, AgentEvent::TextDelta { .. }) {
            let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
            if first.is_none() {
                *first = Some(self.started.elapsed());
            }
        }
    }
}

fn add_rows(report: &mut Report, case: &str, samples: &Samples, cpu_rows: bool, clients: &Clients) {
    const SDK: &str = "bare SDK converse_stream, same request, every event read with recv()";
    let sorted = |samples: &[Sample]| {
        let mut first: Vec<Duration> = samples.iter().map(|s| s.first_text).collect();
        first.sort_unstable();
        first
    };
    let cpu = |samples: &[Sample]| mean(&samples.iter().map(|s| micros(s.cpu)).collect::<Vec<_>>());
    let events =
        |samples: &[Sample]| mean(&samples.iter().map(|s| s.events as f64).collect::<Vec<_>>());
    let (agent_first, model_first, sdk_first) = (
        sorted(&samples.agent),
        sorted(&samples.model),
        sorted(&samples.sdk),
    );
    for (q, name) in [(0.5, "p50"), (0.95, "p95")] {
        let sdk = micros(quantile(&sdk_first, q));
        let agent = micros(quantile(&agent_first, q));
        report.push(
            report
                .row(
                    format!("agent run, {case}"),
                    format!("time to first text delta, {name}"),
                    "µs",
                    agent,
                )
                .baseline(sdk, SDK)
                .target(
                    format!("≤ {TARGET_RATIO} × baseline"),
                    agent <= sdk * TARGET_RATIO,
                ),
        );
        report.push(
            report
                .row(
                    format!("BedrockModel::converse_stream, {case}"),
                    format!("time to first text delta, {name}"),
                    "µs",
                    micros(quantile(&model_first, q)),
                )
                .baseline(sdk, SDK),
        );
    }
    if !cpu_rows {
        return;
    }
    let (agent_cpu, model_cpu, sdk_cpu) =
        (cpu(&samples.agent), cpu(&samples.model), cpu(&samples.sdk));
    let sdk_events = events(&samples.sdk);
    report.push(
        report
            .row(format!("agent run, {case}"), "CPU per run", "µs", agent_cpu)
            .baseline(sdk_cpu, SDK)
            .target(
                format!("≤ {TARGET_RATIO} × baseline"),
                agent_cpu <= sdk_cpu * TARGET_RATIO,
            )
            .note(
                "CPU per run: this thread's CPU time (the stand-in runs on other threads), mean \
                 over the runs; the three clients take turns, in rotating order",
            ),
    );
    report.push(
        report
            .row(
                format!("BedrockModel::converse_stream, {case}"),
                "CPU per run",
                "µs",
                model_cpu,
            )
            .baseline(sdk_cpu, SDK),
    );
    report.push(
        report
            .row(
                format!("bare SDK, {case}"),
                "stream events per run",
                "events",
                sdk_events,
            )
            .note("stream events: what the SDK's receiver returns (messageStart, contentBlockDelta…, metadata)"),
    );
    report.push(report.row(
        format!("agent run, {case}"),
        "agent events per run",
        "events",
        events(&samples.agent),
    ));
    for (layer, cpu) in [
        ("agent run", agent_cpu),
        ("BedrockModel::converse_stream", model_cpu),
    ] {
        report.push(
            report
                .row(
                    format!("{layer}, {case}"),
                    "overhead per stream event",
                    "µs",
                    (cpu - sdk_cpu) / sdk_events,
                )
                .note("overhead per stream event: (CPU per run − the bare SDK's) ÷ the stream's events per run"),
        );
    }
    let (agent_requests, agent_bytes) = clients.agent_sent.get();
    let (sdk_requests, sdk_bytes) = clients.sdk_sent.get();
    report.push(
        report
            .row(
                format!("agent run, {case}"),
                "request body (mean, all calls so far)",
                "B",
                agent_bytes as f64 / agent_requests.max(1) as f64,
            )
            .baseline(sdk_bytes as f64 / sdk_requests.max(1) as f64, SDK),
    );
}
