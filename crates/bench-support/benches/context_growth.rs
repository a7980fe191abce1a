//! Sessions that grow: 200 turns of one session, each a run of two tool steps (three model
//! calls), through `SessionRunner` with `BedrockModel` (streaming, prompt caching off) on the
//! Converse stand-in, on the in-memory store and on DynamoDB Local, with the whole history
//! (`ContextPolicy::WholeHistory`) and with a window of the newest messages
//! (`ContextPolicy::window_messages`).
//!
//! Per turn: this thread's CPU time (the client: the loop, the runtime, the store's client and
//! the Bedrock client all run on one current-thread Tokio runtime here; the stand-in runs on
//! its own threads), the store calls the run made and the bytes it read (the entries returned,
//! as JSON; for DynamoDB also the HTTP requests and the bytes received, from the store's
//! metrics), the Bedrock request bytes the turn sent (counted by an interceptor on the model's
//! client) and the messages the model saw on the turn's last call (from the stand-in's record
//! of the requests). Reported as means over turns 1–10, 41–50 and 191–200.
//!
//! The floor, measured in the same run for the whole-history policy: the turn's requests, as
//! the stand-in received them, rebuilt as SDK inputs and sent with a bare SDK client whose
//! interceptor stops each call right after SigV4 signing — the SDK's request building, JSON
//! serialisation and signing (a SHA-256 of the body), and nothing else: no network, no
//! response. The inputs are built beforehand, outside the timing; median of three. Beside it,
//! the floor of a client that holds its conversation: the same, with each call's input copied
//! (`Clone`) from one held beforehand, inside the timing — the SDK takes its input by value,
//! so a client that keeps its messages for the next call copies them once per call.
//!
//! DynamoDB Local is used when `AWS_ENDPOINT_URL_DYNAMODB` is set (`cargo xtask bench` starts
//! it). Writes `context_growth.json`.
//!
//! `cargo bench -p bench-support --bench context_growth`.

// A benchmark that cannot set up its workload has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent_core::NoEvents;
use agent_llm_bedrock::aws_sdk_bedrockruntime::config::interceptors::BeforeTransmitInterceptorContextRef;
use agent_llm_bedrock::aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use agent_llm_bedrock::aws_sdk_bedrockruntime::{Client, types as sdk};
use agent_llm_bedrock::{BedrockModel, PromptCaching};
use agent_loop::RunInput;
use agent_runtime::{ContextPolicy, SessionOptions, SessionRunner};
use agent_session::SessionId;
use agent_testkit::{ConverseStandIn, Policy, RecordedRequest, Reply};
use aws_smithy_types::{Document, Number};
use bench_support::aws::{MODEL_ID, sdk_config};
use bench_support::{Report, mean, median, micros, run_by_cargo_bench};
use common::aws::{CountSent, SentCounter, dynamodb_endpoint};
use common::stores::{OpenStore, StoreKind, metered_store};
use common::workload::{ANSWER, QUERY, TOOL_NAME, agent_loop};
use cpu_time::ThreadTime;
use serde_json::{Value, json};

/// Turns per session.
const TURNS: usize = 200;
/// Tool steps per turn.
const TOOL_STEPS: usize = 2;
/// The window: the newest 24 messages (four turns of six messages).
const WINDOW_MESSAGES: usize = 24;
/// The turns reported.
const SPANS: [(usize, usize); 3] = [(1, 10), (41, 50), (191, 200)];
/// With a window, how far turns 191–200 may be from turns 1–10 on every figure.
const TARGET_WINDOW_GROWTH: f64 = 1.2;
/// With the whole history, how far CPU per turn at turns 191–200 may be from the floor.
const TARGET_OVER_FLOOR: f64 = 1.5;
/// DynamoDB bytes read per steady-state run, turn 200 against turn 10.
const TARGET_READ_GROWTH: f64 = 1.2;

fn main() {
    if run_by_cargo_bench("context_growth") {
        parent();
    }
}

/// What one turn cost.
#[derive(Debug, Clone, Default)]
struct Turn {
    cpu: Duration,
    store_calls: f64,
    entry_bytes_read: f64,
    http_requests: Option<f64>,
    bytes_received: Option<f64>,
    read_units: Option<f64>,
    bedrock_bytes: f64,
    model_calls: f64,
    messages_seen: f64,
    /// The floor of the turn's requests (whole history, reported turns only).
    floor: Option<Duration>,
    /// The same with each call's input copied from a held one.
    floor_with_copy: Option<Duration>,
    floor_bytes: Option<f64>,
}

/// The messages of the current run in a Converse body: the assistant messages after the last
/// user message with text.
fn calls_so_far(body: &Value) -> usize {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return 0;
    };
    let has_text = |message: &Value| {
        message.get("role").and_then(Value::as_str) == Some("user")
            && message
                .get("content")
                .and_then(Value::as_array)
                .is_some_and(|blocks| blocks.iter().any(|b| b.get("text").is_some()))
    };
    let query = messages.iter().rposition(has_text).unwrap_or(0);
    messages[query..]
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .count()
}

fn parent() {
    let endpoint = dynamodb_endpoint();
    let standin_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("standin")
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let standin = standin_runtime
        .block_on(ConverseStandIn::start(Policy::from_fn(|request| {
            if calls_so_far(&request.body) < TOOL_STEPS {
                Reply::tool_use(
                    Some("I need the forecast for Seattle."),
                    &[(TOOL_NAME, json!({"location": "Seattle", "days": 2}))],
                )
            } else {
                Reply::text(ANSWER)
            }
        })))
        .expect("the Converse stand-in starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let config = runtime.block_on(sdk_config(&standin.endpoint_url()));
    let sent = Arc::new(SentCounter::default());
    let model = BedrockModel::from_client(
        Client::from_conf(
            agent_llm_bedrock::aws_sdk_bedrockruntime::config::Builder::from(&config)
                .interceptor(CountSent(Arc::clone(&sent)))
                .build(),
        ),
        MODEL_ID,
    )
    .with_prompt_caching(PromptCaching::Off);
    let floor = Floor::new(&config);

    let mut report = Report::new(
        "context_growth",
        format!(
            "3. Incremental loads and context: {TURNS} turns of {TOOL_STEPS} tool steps, \
             BedrockModel on the stand-in"
        ),
    );
    let mut kinds = vec![StoreKind::Memory];
    if endpoint.is_some() {
        kinds.push(StoreKind::Dynamo);
    } else {
        eprintln!("context_growth: AWS_ENDPOINT_URL_DYNAMODB is not set; DynamoDB is left out");
    }
    for kind in kinds {
        for (policy_label, policy) in [
            ("whole history", ContextPolicy::WholeHistory),
            (
                "window of 24 messages",
                ContextPolicy::window_messages(WINDOW_MESSAGES),
            ),
        ] {
            let whole = matches!(policy, ContextPolicy::WholeHistory);
            let turns = runtime.block_on(session(
                kind,
                policy,
                endpoint.as_deref(),
                &standin,
                &model,
                &sent,
                whole.then_some(&floor),
            ));
            add_rows(&mut report, kind, policy_label, whole, &turns);
            eprintln!("context_growth: {} {policy_label}: done", kind.label());
        }
    }
    standin_runtime.block_on(standin.shutdown());
    report.finish().expect("the report is written");
}

/// Runs the turns of one session and returns what each cost.
async fn session(
    kind: StoreKind,
    policy: ContextPolicy,
    endpoint: Option<&str>,
    standin: &ConverseStandIn,
    model: &BedrockModel,
    sent: &SentCounter,
    floor: Option<&Floor>,
) -> Vec<Turn> {
    let whole = floor.is_some();
    let name = format!(
        "minimalagent-bench-context-{}-{}-{}",
        kind.name(),
        if whole { "whole" } else { "window" },
        std::process::id()
    );
    let open = OpenStore::open(kind, &name, endpoint).await;
    let metered = Arc::new(metered_store(open.shared(), true));
    let runner = SessionRunner::new(
        metered.clone(),
        SessionOptions::default().with_context(policy),
    );
    let agent_loop = agent_loop(Arc::new(model.clone()));
    let session = SessionId::new("bench-context").expect("a valid session id");
    let reported = |turn: usize| SPANS.iter().any(|&(a, b)| (a..=b).contains(&turn));
    let mut turns = Vec::with_capacity(TURNS);
    standin.clear_requests();
    for turn in 1..=TURNS {
        let meter = metered.layer().meter();
        let metrics = open.dynamo().map(|store| store.metrics());
        let (_, bytes_before) = sent.get();
        let cpu = ThreadTime::now();
        runner
            .run(&agent_loop, &session, RunInput::new(QUERY), &NoEvents)
            .await
            .expect("the turn is kept");
        let cpu = cpu.elapsed();
        let meter = metered.layer().meter().since(&meter);
        let metrics = metrics.and_then(|before| Some(open.dynamo()?.metrics().since(&before)));
        let (_, bytes_after) = sent.get();
        let requests = standin.requests();
        standin.clear_requests();
        let floor_cost = match floor {
            Some(floor) if reported(turn) => Some(floor.measure(&requests).await),
            _ => None,
        };
        turns.push(Turn {
            cpu: cpu.saturating_sub(meter.measuring_cpu),
            store_calls: meter.total() as f64,
            entry_bytes_read: meter.entry_bytes_read as f64,
            http_requests: metrics.as_ref().map(|m| m.requests as f64),
            bytes_received: metrics.as_ref().map(|m| m.response_bytes as f64),
            read_units: metrics.as_ref().map(|m| m.read_capacity_units),
            bedrock_bytes: (bytes_after - bytes_before) as f64,
            model_calls: requests.len() as f64,
            messages_seen: requests
                .last()
                .and_then(|r| r.body.get("messages"))
                .and_then(Value::as_array)
                .map_or(0.0, |m| m.len() as f64),
            floor: floor_cost.as_ref().map(|c| c.cpu),
            floor_with_copy: floor_cost.as_ref().map(|c| c.cpu_with_copy),
            floor_bytes: floor_cost.map(|c| c.bytes as f64),
        });
        if turn % 50 == 0 {
            eprintln!("context_growth: {} turn {turn}", kind.label());
        }
    }
    open.remove().await;
    turns
}

fn add_rows(report: &mut Report, kind: StoreKind, policy: &str, whole: bool, turns: &[Turn]) {
    const FLOOR: &str = "floor: the turn's request bodies serialised and SigV4-signed by a bare \
                         SDK client (stopped after signing), nothing else";
    let span_mean = |(a, b): (usize, usize), f: &dyn Fn(&Turn) -> Option<f64>| {
        let values: Vec<f64> = turns[a - 1..b].iter().filter_map(f).collect();
        if values.is_empty() {
            f64::NAN
        } else {
            mean(&values)
        }
    };
    const FLOOR_WITH_COPY: &str = "floor with the input copied: the same, each call's SDK input \
                                   cloned from one held beforehand inside the timing (the SDK \
                                   takes its input by value)";
    type Figure<'a> = (&'a str, &'a str, &'a dyn Fn(&Turn) -> Option<f64>);
    let cpu = |t: &Turn| Some(micros(t.cpu));
    let calls = |t: &Turn| Some(t.store_calls);
    let entry_bytes = |t: &Turn| Some(t.entry_bytes_read);
    let http = |t: &Turn| t.http_requests;
    let received = |t: &Turn| t.bytes_received;
    let read_units = |t: &Turn| t.read_units;
    let bedrock = |t: &Turn| Some(t.bedrock_bytes);
    let seen = |t: &Turn| Some(t.messages_seen);
    let model_calls = |t: &Turn| Some(t.model_calls);
    let mut figures: Vec<Figure<'_>> = vec![
        ("CPU per turn", "µs", &cpu),
        ("store calls per run", "calls", &calls),
        ("entries read per run (as JSON)", "B", &entry_bytes),
    ];
    if kind == StoreKind::Dynamo {
        figures.push(("DynamoDB requests per run", "requests", &http));
        figures.push(("DynamoDB bytes received per run", "B", &received));
        figures.push(("DynamoDB read units per run", "RCU", &read_units));
    }
    figures.push(("Bedrock request bytes per turn", "B", &bedrock));
    figures.push(("model calls per turn", "calls", &model_calls));
    figures.push(("messages the model saw (last call)", "messages", &seen));
    let floor = |t: &Turn| t.floor.map(micros);
    let floor_with_copy = |t: &Turn| t.floor_with_copy.map(micros);
    let floor_bytes = |t: &Turn| t.floor_bytes;

    for span in SPANS {
        let case = format!("{}, {policy}, turns {}–{}", kind.label(), span.0, span.1);
        for (metric, unit, figure) in &figures {
            let mut row = report.row(&case, *metric, *unit, span_mean(span, figure));
            if whole && *metric == "CPU per turn" {
                row = row.baseline(span_mean(span, &floor), FLOOR);
                if span == (191, 200) {
                    let value = span_mean(span, figure);
                    let base = span_mean(span, &floor);
                    row = row.target(
                        format!("≤ {TARGET_OVER_FLOOR} × floor"),
                        value <= base * TARGET_OVER_FLOOR,
                    );
                }
                row = row.note(
                    "CPU per turn: this thread's CPU time for the turn's run (loop, runtime, \
                     store client, Bedrock client), mean over the turns; the floor's, median \
                     of three per request",
                );
            }
            if whole && *metric == "Bedrock request bytes per turn" {
                row = row.baseline(span_mean(span, &floor_bytes), FLOOR);
            }
            report.push(row);
            if whole && *metric == "CPU per turn" {
                report.push(
                    report
                        .row(
                            &case,
                            "CPU per turn, against the floor with the input copied",
                            *unit,
                            span_mean(span, figure),
                        )
                        .baseline(span_mean(span, &floor_with_copy), FLOOR_WITH_COPY),
                );
            }
        }
    }
    // With a window: turns 191–200 against turns 1–10, every figure.
    let (first, last) = (SPANS[0], SPANS[2]);
    if !whole {
        let case = format!("{}, {policy}, turns 191–200 ÷ turns 1–10", kind.label());
        for (metric, _, figure) in &figures {
            let (a, b) = (span_mean(first, figure), span_mean(last, figure));
            let growth = if a > 0.0 {
                b / a
            } else if b == 0.0 {
                1.0
            } else {
                f64::INFINITY
            };
            report.push(
                report
                    .row(&case, format!("{metric} growth"), "×", growth)
                    .target(
                        format!("≤ {TARGET_WINDOW_GROWTH}×"),
                        growth <= TARGET_WINDOW_GROWTH,
                    ),
            );
        }
    }
    if kind == StoreKind::Dynamo {
        let at = |turn: usize| turns[turn - 1].bytes_received.unwrap_or(f64::NAN);
        let growth = at(last.1) / at(10);
        report.push(
            report
                .row(
                    format!("{}, {policy}, turn 200 ÷ turn 10", kind.label()),
                    "DynamoDB bytes received per run growth",
                    "×",
                    growth,
                )
                .target(
                    format!("≤ {TARGET_READ_GROWTH}×"),
                    growth <= TARGET_READ_GROWTH,
                ),
        );
    }
}

/// A bare SDK client that stops each call right after signing, and counts the bodies.
struct Floor {
    client: Client,
    signed: Arc<SentCounter>,
}

/// Stops a call once its request is signed: no network, no response.
#[derive(Debug)]
struct StopAfterSigning(Arc<SentCounter>);

impl Intercept for StopAfterSigning {
    fn name(&self) -> &'static str {
        "BenchmarkStopAfterSigning"
    }

    fn read_after_signing(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let body = context.request().body();
        let bytes = body.bytes().map_or(0, |b| b.len() as u64);
        let signed = context
            .request()
            .headers()
            .get("authorization")
            .is_some_and(|value| value.starts_with("AWS4-HMAC-SHA256"));
        if !signed {
            return Err("the floor's request was not signed".into());
        }
        self.0.record(bytes);
        Err("stopped after signing".into())
    }
}

/// The SDK input of one Converse request.
#[derive(Clone)]
struct Input {
    messages: Vec<sdk::Message>,
    system: Option<Vec<sdk::SystemContentBlock>>,
    tools: Option<sdk::ToolConfiguration>,
    inference: Option<sdk::InferenceConfiguration>,
    additional: Option<Document>,
}

impl Floor {
    fn new(config: &agent_llm_bedrock::aws_config::SdkConfig) -> Self {
        let signed = Arc::new(SentCounter::default());
        let client = Client::from_conf(
            agent_llm_bedrock::aws_sdk_bedrockruntime::config::Builder::from(config)
                .interceptor(StopAfterSigning(Arc::clone(&signed)))
                .build(),
        );
        Self { client, signed }
    }

    /// This thread's CPU time to serialise and sign `requests` (median of three), the same
    /// with each input copied from a held one inside the timing, and the bytes signed.
    async fn measure(&self, requests: &[RecordedRequest]) -> FloorCost {
        let mut cost = FloorCost::default();
        for request in requests {
            let mut samples = Vec::with_capacity(3);
            let mut copied = Vec::with_capacity(3);
            for attempt in 0..3 {
                let built = input(&request.body);
                let (cpu, bytes) = self.send(|| built).await;
                samples.push(cpu);
                if attempt == 0 {
                    cost.bytes += bytes;
                }
                let held = input(&request.body);
                let (cpu, _) = self.send(|| held.clone()).await;
                copied.push(cpu);
                drop(held);
            }
            cost.cpu += median(&mut samples);
            cost.cpu_with_copy += median(&mut copied);
        }
        cost
    }

    /// This thread's CPU time to make the input with `make` and send it until it is signed,
    /// and the bytes signed.
    async fn send(&self, make: impl FnOnce() -> Input) -> (Duration, u64) {
        let (_, before) = self.signed.get();
        let cpu = ThreadTime::now();
        let input = make();
        let outcome = self
            .client
            .converse_stream()
            .model_id(MODEL_ID)
            .set_messages(Some(input.messages))
            .set_system(input.system)
            .set_tool_config(input.tools)
            .set_inference_config(input.inference)
            .set_additional_model_request_fields(input.additional)
            .send()
            .await;
        let cpu = cpu.elapsed();
        let (_, after) = self.signed.get();
        assert!(outcome.is_err(), "the floor's call must stop after signing");
        assert!(
            after > before,
            "the floor's call was not signed: {outcome:?}"
        );
        (cpu, after - before)
    }
}

/// What the floor of one turn's requests costs.
#[derive(Default)]
struct FloorCost {
    cpu: Duration,
    cpu_with_copy: Duration,
    bytes: u64,
}

/// The SDK input of a Converse body as the stand-in received it (the blocks this workload
/// sends: text, toolUse, toolResult with JSON).
fn input(body: &Value) -> Input {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .expect("messages")
        .iter()
        .map(|message| {
            let role = match message.get("role").and_then(Value::as_str) {
                Some("user") => sdk::ConversationRole::User,
                _ => sdk::ConversationRole::Assistant,
            };
            let content = message
                .get("content")
                .and_then(Value::as_array)
                .expect("content")
                .iter()
                .map(block)
                .collect();
            sdk::Message::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .expect("a message")
        })
        .collect();
    let system = body.get("system").and_then(Value::as_array).map(|blocks| {
        blocks
            .iter()
            .map(|b| {
                sdk::SystemContentBlock::Text(
                    b.get("text")
                        .and_then(Value::as_str)
                        .expect("system text")
                        .to_owned(),
                )
            })
            .collect()
    });
    let tools = body.get("toolConfig").map(|config| {
        let tools = config
            .get("tools")
            .and_then(Value::as_array)
            .expect("tools")
            .iter()
            .map(|tool| {
                let spec = tool.get("toolSpec").expect("a tool spec");
                let text = |key: &str| spec.get(key).and_then(Value::as_str).unwrap_or_default();
                sdk::Tool::ToolSpec(
                    sdk::ToolSpecification::builder()
                        .name(text("name"))
                        .description(text("description"))
                        .input_schema(sdk::ToolInputSchema::Json(document(
                            spec.pointer("/inputSchema/json").expect("a schema"),
                        )))
                        .build()
                        .expect("a tool spec"),
                )
            })
            .collect();
        assert!(
            config.get("toolChoice").is_none(),
            "the workload sends no tool choice"
        );
        sdk::ToolConfiguration::builder()
            .set_tools(Some(tools))
            .build()
            .expect("a tool configuration")
    });
    let inference = body.get("inferenceConfig").map(|config| {
        for key in config.as_object().expect("an inference object").keys() {
            assert!(
                ["maxTokens", "temperature", "topP"].contains(&key.as_str()),
                "the floor does not rebuild `inferenceConfig.{key}`"
            );
        }
        let number = |key: &str| config.get(key).and_then(Value::as_f64);
        sdk::InferenceConfiguration::builder()
            .set_max_tokens(
                config
                    .get("maxTokens")
                    .and_then(Value::as_i64)
                    .map(|n| i32::try_from(n).expect("maxTokens fits")),
            )
            .set_temperature(number("temperature").map(|n| n as f32))
            .set_top_p(number("topP").map(|n| n as f32))
            .build()
    });
    let additional = body.get("additionalModelRequestFields").map(document);
    for key in body.as_object().expect("a JSON object").keys() {
        assert!(
            [
                "messages",
                "system",
                "toolConfig",
                "inferenceConfig",
                "additionalModelRequestFields"
            ]
            .contains(&key.as_str()),
            "the floor does not rebuild `{key}`"
        );
    }
    Input {
        messages,
        system,
        tools,
        inference,
        additional,
    }
}

fn block(block: &Value) -> sdk::ContentBlock {
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        return sdk::ContentBlock::Text(text.to_owned());
    }
    if let Some(tool_use) = block.get("toolUse") {
        let text = |key: &str| {
            tool_use
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        return sdk::ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id(text("toolUseId"))
                .name(text("name"))
                .input(document(tool_use.get("input").unwrap_or(&Value::Null)))
                .build()
                .expect("a toolUse block"),
        );
    }
    if let Some(result) = block.get("toolResult") {
        let content = result
            .get("content")
            .and_then(Value::as_array)
            .expect("toolResult content")
            .iter()
            .map(|part| match (part.get("json"), part.get("text")) {
                (Some(json), _) => sdk::ToolResultContentBlock::Json(document(json)),
                (None, Some(text)) => {
                    sdk::ToolResultContentBlock::Text(text.as_str().unwrap_or_default().to_owned())
                }
                _ => panic!("a toolResult part the floor does not rebuild: {part}"),
            })
            .collect();
        return sdk::ContentBlock::ToolResult(
            sdk::ToolResultBlock::builder()
                .tool_use_id(
                    result
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .set_content(Some(content))
                .set_status(
                    result
                        .get("status")
                        .and_then(Value::as_str)
                        .map(sdk::ToolResultStatus::from),
                )
                .build()
                .expect("a toolResult block"),
        );
    }
    panic!("a content block the floor does not rebuild: {block}");
}

fn document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}
