//! `BedrockModel` on ConverseStream through the real `aws-sdk-bedrockruntime` client and the
//! stand-in's binary event stream: assembly where streaming clients go wrong, cut streams,
//! usage, and the 2026 request features (caching, thinking, tool choice, guardrails, media).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion"
)]

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_core::{
    AgentEvent, ContentBlock, DocumentBlock, DocumentFormat, EventSink, ImageBlock, ImageFormat,
    Message, ModelErrorKind, NoEvents, ReasoningContent, RunOutcome, StopReason, Tool, ToolChoice,
    ToolContext, ToolError, ToolErrorKind, ToolOutput, ToolSet, async_trait,
};
use agent_llm_bedrock::aws_config::retry::RetryConfig;
use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region};
use agent_llm_bedrock::{BedrockModel, BedrockModelBuilder, Guardrail, PromptCaching};
use agent_loop::{AgentLoop, RunError, RunInput, StructuredAnswer};
use agent_testkit::{ConverseStandIn, Reply, StreamErrorKind, StreamFault};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test took too long")
}

/// A builder for a model on the real SDK client, pointed at the stand-in, retrying quickly.
fn builder(standin: &ConverseStandIn) -> BedrockModelBuilder {
    BedrockModel::builder()
        .model_id(MODEL_ID)
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(Credentials::for_tests())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
}

async fn model(standin: &ConverseStandIn) -> BedrockModel {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::for_tests())
        .endpoint_url(standin.endpoint_url())
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await;
    BedrockModel::from_sdk_config(&config, MODEL_ID)
}

async fn built(builder: BedrockModelBuilder) -> BedrockModel {
    builder.build().await.unwrap()
}

/// A tool that echoes its input and counts its calls.
#[derive(Clone, Default)]
struct Echo {
    name: &'static str,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Tool for Echo {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Echoes its input."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}})
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"echo": input}).into())
    }
}

fn agent(model: BedrockModel, tools: &[Echo]) -> AgentLoop {
    let tools: Vec<Arc<dyn Tool>> = tools
        .iter()
        .map(|t| Arc::new(t.clone()) as Arc<dyn Tool>)
        .collect();
    AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap()).with_max_steps(4)
}

#[derive(Default)]
struct Events(Mutex<Vec<AgentEvent>>);

impl EventSink for Events {
    fn emit(&self, event: &AgentEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn count(&self, kind: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.type_name() == kind)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_streams_in_pieces_and_usage_lands_in_the_trace() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text(
            "A long answer that arrives in several pieces over the wire.",
        )])
        .await
        .unwrap();
        let events = Events::default();
        let result = agent(model(&standin).await, &[])
            .run(RunInput::new("Tell me"), &events)
            .await
            .unwrap();
        assert_eq!(
            result.response,
            "A long answer that arrives in several pieces over the wire."
        );
        assert!(events.count("text_delta") > 3, "the text arrived in pieces");
        assert_eq!(events.count("usage"), 1);
        assert_eq!(
            (result.usage.input_tokens, result.usage.output_tokens),
            (10, 5)
        );
        let recorded = standin.requests();
        assert!(recorded[0].streamed && recorded[0].succeeded());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tool_calls_in_one_streamed_message_all_run() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                Some("Three at once"),
                &[
                    ("weather", json!({"city": "Oslo"})),
                    ("weather", json!({"city": "Lima"})),
                    ("clock", json!({"city": "Pune"})),
                ],
            )
            .with_interleaved_tool_inputs(),
            Reply::text("Done."),
        ])
        .await
        .unwrap();
        let weather = Echo {
            name: "weather",
            ..Echo::default()
        };
        let clock = Echo {
            name: "clock",
            ..Echo::default()
        };
        let result = agent(model(&standin).await, &[weather.clone(), clock.clone()])
            .run(RunInput::new("Weather and time"), &NoEvents)
            .await
            .unwrap();
        assert_eq!(weather.calls.load(Ordering::SeqCst), 2);
        assert_eq!(clock.calls.load(Ordering::SeqCst), 1);
        let inputs: Vec<&Value> = result.reasoning.steps[0]
            .tools
            .iter()
            .map(|t| &t.inputs)
            .collect();
        assert_eq!(
            inputs,
            [
                &json!({"city": "Oslo"}),
                &json!({"city": "Lima"}),
                &json!({"city": "Pune"})
            ]
        );
        // The next request answers all three, in the model's order, and satisfies Converse.
        let second = &standin.requests()[1];
        assert!(second.violation.is_none(), "{:?}", second.violation);
        let messages = second.messages().unwrap();
        let ids: Vec<&str> = messages[2]
            .tool_results()
            .map(|r| r.tool_use_id.as_str())
            .collect();
        assert_eq!(ids, ["tooluse_1", "tooluse_2", "tooluse_3"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tool_input_reaches_the_model_as_an_error_and_never_runs() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                None,
                &[
                    ("weather", json!({"city": "Oslo"})),
                    ("weather", json!({"city": "Rome"})),
                ],
            )
            .with_stream_fault(StreamFault::malformed_tool_input(1)),
            Reply::text("Recovered."),
        ])
        .await
        .unwrap();
        let weather = Echo {
            name: "weather",
            ..Echo::default()
        };
        let result = agent(model(&standin).await, std::slice::from_ref(&weather))
            .run(RunInput::new("Two cities"), &NoEvents)
            .await
            .unwrap();
        assert_eq!(
            weather.calls.load(Ordering::SeqCst),
            1,
            "only the well-formed call ran"
        );
        let bad = &result.reasoning.steps[0].tools[1];
        assert_eq!(
            bad.error.as_ref().unwrap().kind,
            ToolErrorKind::InvalidInput
        );
        assert!(bad.inputs.is_string(), "the raw text is kept in the trace");
        let second = &standin.requests()[1];
        assert!(second.violation.is_none(), "{:?}", second.violation);
        let results: Vec<_> = second.messages().unwrap()[2]
            .tool_results()
            .cloned()
            .collect();
        assert!(results[1].is_error());
        assert!(
            serde_json::to_string(&results[1].content)
                .unwrap()
                .contains("not valid JSON")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_deltas_are_kept_and_sent_back_exactly() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(None, &[("weather", json!({"city": "Oslo"}))])
                .with_redacted_reasoning("ZW5jcnlwdGVk")
                .with_reasoning("I should check the weather first.", Some("c2lnbmF0dXJl")),
            Reply::text("Cold."),
        ])
        .await
        .unwrap();
        let events = Events::default();
        let result = agent(model(&standin).await, &[Echo { name: "weather", ..Echo::default() }])
            .run(RunInput::new("Oslo?"), &events)
            .await
            .unwrap();
        assert!(events.count("thinking_delta") > 0);
        assert_eq!(
            result.reasoning.steps[0].thinking.as_deref(),
            Some("I should check the weather first.")
        );
        let reply = &result.messages[1];
        let ContentBlock::ReasoningContent(ReasoningContent::ReasoningText(text)) = &reply.content[0] else {
            panic!("expected readable reasoning first: {reply:?}");
        };
        assert_eq!(text.signature.as_deref(), Some("c2lnbmF0dXJl"));
        assert!(matches!(&reply.content[1], ContentBlock::ReasoningContent(ReasoningContent::RedactedContent(d)) if d == "ZW5jcnlwdGVk"));
        // The second request carries the reasoning blocks exactly as received.
        let sent = &standin.requests()[1].body["messages"][1]["content"];
        assert_eq!(sent[0]["reasoningContent"]["reasoningText"]["signature"], "c2lnbmF0dXJl");
        assert_eq!(sent[1]["reasoningContent"]["redactedContent"], "ZW5jcnlwdGVk");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_message_is_asked_again_before_any_tool_runs() {
    let faults = [
        StreamFault::drop_connection_mid_message(3),
        StreamFault::drop_connection_after(4),
        StreamFault::exception_after(3, StreamErrorKind::ModelStreamError),
        StreamFault::exception_after(3, StreamErrorKind::Throttling),
        StreamFault::exception_after(3, StreamErrorKind::ServiceUnavailable),
        StreamFault::exception_after(3, StreamErrorKind::InternalServer),
        StreamFault::NoMessageStop,
    ];
    for fault in faults {
        bounded(async {
            let standin = ConverseStandIn::scripted([
                Reply::tool_use(None, &[("weather", json!({"city": "Oslo"}))])
                    .with_stream_fault(fault.clone()),
                Reply::tool_use(None, &[("weather", json!({"city": "Oslo"}))]),
                Reply::text("Whole."),
            ])
            .await
            .unwrap();
            let weather = Echo {
                name: "weather",
                ..Echo::default()
            };
            let events = Events::default();
            let result = agent(model(&standin).await, std::slice::from_ref(&weather))
                .run(RunInput::new("Oslo?"), &events)
                .await
                .unwrap_or_else(|failed| panic!("{fault:?}: {}", failed.error));
            assert_eq!(result.response, "Whole.", "{fault:?}");
            assert_eq!(events.count("model_retry"), 1, "{fault:?}");
            assert_eq!(
                weather.calls.load(Ordering::SeqCst),
                1,
                "{fault:?}: the cut call never ran"
            );
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_exception_mid_stream_and_max_tokens_in_a_tool_call_are_typed_errors() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("never whole")
            .with_stream_fault(StreamFault::exception_after(2, StreamErrorKind::Validation))])
        .await
        .unwrap();
        let failed = agent(model(&standin).await, &[]).run(RunInput::new("q"), &NoEvents).await.unwrap_err();
        assert!(matches!(&failed.error, RunError::Model(e) if e.kind() == ModelErrorKind::Validation), "{}", failed.error);

        let standin = ConverseStandIn::scripted([
            Reply::tool_use(None, &[("weather", json!({"city": "Oslo"}))]).with_stream_fault(StreamFault::max_tokens_in_tool_use(0)),
        ])
        .await
        .unwrap();
        let weather = Echo { name: "weather", ..Echo::default() };
        let failed = agent(model(&standin).await, std::slice::from_ref(&weather))
            .run(RunInput::new("q"), &NoEvents)
            .await
            .unwrap_err();
        assert!(matches!(&failed.error, RunError::Model(e) if e.kind() == ModelErrorKind::IncompleteResponse), "{}", failed.error);
        assert_eq!(weather.calls.load(Ordering::SeqCst), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converse_is_kept_as_an_option() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("Whole at once.")])
            .await
            .unwrap();
        let model = model(&standin).await.with_streaming(false);
        assert!(!model.is_streaming());
        let result = agent(model, &[])
            .run(RunInput::new("q"), &NoEvents)
            .await
            .unwrap();
        assert_eq!(result.response, "Whole at once.");
        assert!(!standin.requests()[0].streamed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_is_requested_and_never_combined_with_a_forced_tool_choice() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(None, &[("final_answer", json!({"city": "Oslo"}))])
                .with_reasoning("The answer is Oslo.", Some("c2ln")),
        ])
        .await
        .unwrap();
        let model = built(builder(&standin).thinking(2048)).await;
        let mut input = RunInput::new("Which city?");
        input.structured = Some(StructuredAnswer::new("final_answer", "The answer.", json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}), 2, Arc::new(|_| Ok(()))));
        let result = agent(model, &[]).run(input, &NoEvents).await.unwrap();
        assert_eq!(result.structured, Some(json!({"city": "Oslo"})));
        let body = &standin.requests()[0].body;
        assert_eq!(body["additionalModelRequestFields"]["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
        assert!(body["toolConfig"].get("toolChoice").is_none(), "a forced choice is not sent with thinking: {body}");
        assert!(body["inferenceConfig"]["maxTokens"].as_i64().unwrap() > 2048);
        assert!(standin.requests()[0].violation.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_choice_is_sent_as_converse_writes_it() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("ok"), Reply::text("ok")])
            .await
            .unwrap();
        let weather = Echo {
            name: "weather",
            ..Echo::default()
        };
        for (choice, wire) in [
            (ToolChoice::Any, json!({"any": {}})),
            (
                ToolChoice::Tool("weather".into()),
                json!({"tool": {"name": "weather"}}),
            ),
        ] {
            agent(model(&standin).await, std::slice::from_ref(&weather))
                .with_tool_choice(Some(choice))
                .run(RunInput::new("q"), &NoEvents)
                .await
                .unwrap();
            let body = standin.requests().last().unwrap().body.clone();
            assert_eq!(body["toolConfig"]["toolChoice"], wire);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_intervention_is_its_own_outcome() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::guardrail_intervened(
            "Sorry, I can't help with that.",
        )])
        .await
        .unwrap();
        let model = built(builder(&standin).guardrail(Guardrail::new("gr-123", "1"))).await;
        let result = agent(model, &[])
            .run(RunInput::new("something forbidden"), &NoEvents)
            .await
            .unwrap();
        assert_eq!(result.outcome, RunOutcome::GuardrailIntervened);
        assert_eq!(result.stop_reason, StopReason::GuardrailIntervened);
        assert_eq!(result.response, "Sorry, I can't help with that.");
        let body = &standin.requests()[0].body;
        assert_eq!(body["guardrailConfig"]["guardrailIdentifier"], "gr-123");
        assert_eq!(body["guardrailConfig"]["trace"], "enabled");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_documents_go_on_the_wire_and_cache_points_follow_the_model() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("A chart."), Reply::text("Again.")])
            .await
            .unwrap();
        let media = || {
            RunInput::with_content(vec![
                ContentBlock::Text("What is this?".into()),
                ContentBlock::Image(ImageBlock::from_bytes(
                    ImageFormat::Png,
                    vec![0x89, b'P', b'N', b'G'],
                )),
                ContentBlock::Document(DocumentBlock::from_s3(
                    DocumentFormat::Pdf,
                    "Q3 report",
                    "s3://bucket/q3.pdf",
                )),
            ])
        };
        // Claude takes no media from S3: refused, typed, before anything is sent.
        let refused = agent(model(&standin).await, &[])
            .run(media(), &NoEvents)
            .await
            .unwrap_err();
        let RunError::Model(error) = &refused.error else {
            panic!("{}", refused.error);
        };
        assert_eq!(error.kind(), ModelErrorKind::Unsupported, "{error}");
        assert!(error.message().contains("S3"), "{error}");
        assert!(standin.requests().is_empty());

        // Amazon Nova takes them.
        let nova = built(builder(&standin).model_id("us.amazon.nova-pro-v1:0")).await;
        let system = "You describe what you are shown.\n".repeat(200);
        AgentLoop::new(Arc::new(nova), ToolSet::default())
            .with_system_prompt(system)
            .run(media(), &NoEvents)
            .await
            .unwrap();
        let request = &standin.requests()[0];
        assert!(request.violation.is_none(), "{:?}", request.violation);
        let content = &request.body["messages"][0]["content"];
        assert_eq!(content[1]["image"]["format"], "png");
        assert_eq!(content[1]["image"]["source"]["bytes"], "iVBORw==");
        assert_eq!(
            content[2]["document"]["source"]["s3Location"]["uri"],
            "s3://bucket/q3.pdf"
        );
        assert!(
            request.body["system"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b.get("cachePoint").is_some()),
            "a system prompt past the family's minimum gets a checkpoint"
        );

        // Caching off: no checkpoints at all.
        let model = built(builder(&standin).prompt_caching(PromptCaching::Off)).await;
        agent(model, &[])
            .run(RunInput::new("again"), &NoEvents)
            .await
            .unwrap();
        let body = standin.requests()[1].body.to_string();
        assert!(!body.contains("cachePoint"), "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_too_long_for_the_model_is_told_apart() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::error_with(
            agent_testkit::BedrockErrorKind::Validation,
            "Input is too long for requested model.",
        )])
        .await
        .unwrap();
        let failed = agent(model(&standin).await, &[])
            .run(RunInput::new("q"), &NoEvents)
            .await
            .unwrap_err();
        assert!(
            matches!(failed.error, RunError::ContextWindowExceeded { .. }),
            "{}",
            failed.error
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_converted_once_per_run() {
    bounded(async {
        // Three model calls of one run: every request holds the whole conversation, and every
        // one of them is valid, although later calls convert only the messages added since.
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(None, &[("weather", json!({"city": "A"}))]),
            Reply::tool_use(None, &[("weather", json!({"city": "B"}))]),
            Reply::text("done"),
        ])
        .await
        .unwrap();
        let input = RunInput::new("q").with_history([
            Message::user_text("earlier"),
            Message::assistant_text("reply"),
        ]);
        agent(
            model(&standin).await,
            &[Echo {
                name: "weather",
                ..Echo::default()
            }],
        )
        .run(input, &NoEvents)
        .await
        .unwrap();
        let counts: Vec<usize> = standin
            .requests()
            .iter()
            .map(|r| r.body["messages"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [3, 5, 7]);
        assert!(standin.requests().iter().all(|r| r.violation.is_none()));
    })
    .await;
}
