//! The agent's spans, exported through `tracing-opentelemetry` to an in-memory OpenTelemetry
//! exporter: names, nesting, kinds and the `gen_ai.*` attributes of the GenAI semantic
//! conventions, with message content only when asked for; and what an external evaluator that
//! reads them needs (Amazon Bedrock AgentCore Evaluations' generic OpenTelemetry support: the
//! instrumentation scope, `session.id` on every span, the prompt, response, messages and tool
//! arguments and results where it reads them). The model is `BedrockModel` through the real SDK
//! client, against the Converse stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use std::time::Duration;

use agent_testkit::{ConverseStandIn, Reply};
use minimalagent::bedrock::BedrockModel;
use minimalagent::otel::opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use minimalagent::otel::opentelemetry::{Array, Value as OtelValue};
use minimalagent::otel::tracing_opentelemetry;
use minimalagent::session::InMemorySessionStore;
use minimalagent::{Agent, TokenUsage, Tool, ToolContext, ToolError, ToolOutput, async_trait};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// The tracer's name, which `tracing-opentelemetry` makes every span's instrumentation scope:
/// AgentCore Evaluations reads spans as OpenTelemetry GenAI telemetry only under a scope named
/// `opentelemetry.instrumentation.*` (docs/observability.md).
const SCOPE: &str = "opentelemetry.instrumentation.minimalagent";

struct Lookup;

#[async_trait]
impl Tool for Lookup {
    fn name(&self) -> &str {
        "lookup"
    }
    fn description(&self) -> &str {
        "Looks a query up; fails for `broken`."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"q": {"type": "string"}}})
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        if input["q"] == "broken" {
            return Err(ToolError::failed("the archive is offline"));
        }
        Ok(json!({"rows": 3}).into())
    }
}

fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> TokenUsage {
    let mut usage = TokenUsage::new(input, output);
    usage.cache_read_input_tokens = cache_read;
    usage.cache_write_input_tokens = cache_write;
    usage
}

/// Runs `query` in session `user123` on an agent named `researcher` with `lookup`, the model
/// answering with `replies`, and returns the spans exported.
async fn spans_of_a_run(replies: Vec<Reply>, query: &str, content: bool) -> Vec<SpanData> {
    spans_of_runs(replies, &[(query, Some("user123"))], content).await
}

/// Makes `runs` one after the other (each a query and the session it runs in, or none) on one
/// agent named `researcher` with `lookup`, the model answering with `replies`, and returns the
/// agent's spans exported, in the order they ended.
async fn spans_of_runs(
    replies: Vec<Reply>,
    runs: &[(&str, Option<&str>)],
    content: bool,
) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    // The AWS SDK's own spans (serialisation, attempts, the HTTP call) come too, under `chat`:
    // the tests look at the agent's.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer(SCOPE)));
    // This thread's subscriber: the test runtime has one thread, so every task sees it.
    let _guard = tracing::subscriber::set_default(subscriber);

    let standin = ConverseStandIn::scripted(replies).await.unwrap();
    let model = BedrockModel::builder()
        .model_id(MODEL_ID)
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .build()
        .await
        .unwrap();
    let agent = Agent::builder()
        .model(model)
        .name("researcher")
        .tool(Lookup)
        .sessions(InMemorySessionStore::new())
        .content_in_spans(content)
        .system_prompt("You find figures.")
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    for (query, session) in runs {
        let run = async {
            match session {
                Some(session) => agent.run_in_session(*query, session).await,
                None => agent.run(*query).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the run ends")
            .unwrap();
    }
    provider.force_flush().unwrap();
    exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|span| attr(span, "gen_ai.operation.name").is_some())
        .collect()
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span `{name}` in {:?}", names(spans)))
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_ref()).collect()
}

fn attr(span: &SpanData, key: &str) -> Option<OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn text(span: &SpanData, key: &str) -> String {
    match attr(span, key) {
        Some(OtelValue::String(value)) => value.to_string(),
        other => panic!("`{key}` of `{}` is {other:?}, not a string", span.name),
    }
}

fn int(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(OtelValue::I64(value)) => value,
        other => panic!("`{key}` of `{}` is {other:?}, not an integer", span.name),
    }
}

fn json(span: &SpanData, key: &str) -> Value {
    serde_json::from_str(&text(span, key))
        .unwrap_or_else(|e| panic!("`{key}` of `{}` is not JSON: {e}", span.name))
}

/// The attributes that carry message content: none of them without `content_in_spans(true)`.
const CONTENT: [&str; 7] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.task.input",
    "gen_ai.task.output",
];

fn tool_then_answer() -> Vec<Reply> {
    vec![
        Reply::tool_use(Some("Look it up"), &[("lookup", json!({"q": "sales"}))])
            .with_usage(usage(100, 20, 50, 10)),
        Reply::text("Found it.").with_usage(usage(130, 5, 0, 0)),
    ]
}

#[tokio::test]
async fn spans_are_named_nested_and_attributed_as_the_genai_conventions_say() {
    let spans = spans_of_a_run(tool_then_answer(), "find the sales", false).await;
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));
    let run = span(&spans, "invoke_agent researcher");
    let tool = span(&spans, "execute_tool lookup");
    let chats: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == format!("chat {MODEL_ID}"))
        .collect();
    assert_eq!(chats.len(), 2);

    // One trace: the model and tool calls are children of the run.
    let run_id = run.span_context.span_id();
    for child in chats.iter().copied().chain([tool]) {
        assert_eq!(
            child.parent_span_id, run_id,
            "{} is not under the run",
            child.name
        );
        assert_eq!(child.span_context.trace_id(), run.span_context.trace_id());
    }
    assert_eq!(run.span_kind, SpanKind::Internal);
    assert_eq!(chats[0].span_kind, SpanKind::Client);
    assert_eq!(tool.span_kind, SpanKind::Internal);

    assert_eq!(text(run, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(text(run, "gen_ai.provider.name"), "aws.bedrock");
    assert_eq!(text(run, "gen_ai.agent.name"), "researcher");
    assert_eq!(text(run, "gen_ai.request.model"), MODEL_ID);
    assert_eq!(text(run, "gen_ai.conversation.id"), "user123");
    // The run's tokens are its model calls'. (The stand-in's prompt cache fills in the second
    // call's cache counts.)
    for key in [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    ] {
        assert_eq!(
            int(run, key),
            int(chats[0], key) + int(chats[1], key),
            "{key}"
        );
    }

    let first = chats[0];
    assert_eq!(text(first, "gen_ai.operation.name"), "chat");
    assert_eq!(text(first, "gen_ai.provider.name"), "aws.bedrock");
    assert_eq!(text(first, "gen_ai.request.model"), MODEL_ID);
    assert_eq!(text(first, "gen_ai.conversation.id"), "user123");
    assert_eq!(
        attr(first, "gen_ai.response.finish_reasons"),
        Some(OtelValue::Array(Array::String(vec!["tool_use".into()])))
    );
    // Input tokens include cached ones, as the conventions count them.
    assert_eq!(int(first, "gen_ai.usage.input_tokens"), 100 + 50 + 10);
    assert_eq!(int(first, "gen_ai.usage.output_tokens"), 20);
    assert_eq!(int(first, "gen_ai.usage.cache_read.input_tokens"), 50);
    assert_eq!(int(first, "gen_ai.usage.cache_creation.input_tokens"), 10);
    assert_eq!(
        attr(chats[1], "gen_ai.response.finish_reasons"),
        Some(OtelValue::Array(Array::String(vec!["end_turn".into()])))
    );

    assert_eq!(text(tool, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(text(tool, "gen_ai.tool.name"), "lookup");
    assert_eq!(text(tool, "gen_ai.tool.type"), "function");
    assert!(!text(tool, "gen_ai.tool.call.id").is_empty());
    assert_ne!(tool.status, Status::error(""));

    // Content is opt-in: none of it by default.
    for span in &spans {
        for key in CONTENT {
            assert_eq!(attr(span, key), None, "{key} on {}", span.name);
        }
    }
}

#[tokio::test]
async fn message_content_is_recorded_only_when_asked_for() {
    let spans = spans_of_a_run(tool_then_answer(), "find the sales", true).await;
    let chats: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    let input: Value = serde_json::from_str(&text(chats[0], "gen_ai.input.messages")).unwrap();
    // The user turn, as sent: the query, then the time of the turn.
    assert_eq!(input[0]["role"], "user");
    assert_eq!(
        input[0]["parts"][0],
        json!({"type": "text", "content": "find the sales"})
    );
    assert!(
        input[0]["parts"][1]["content"]
            .as_str()
            .unwrap()
            .starts_with("Current time: ")
    );
    let output: Value = serde_json::from_str(&text(chats[0], "gen_ai.output.messages")).unwrap();
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["finish_reason"], "tool_use");
    assert!(
        output[0]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|part| part["type"] == "tool_call" && part["arguments"] == json!({"q": "sales"})),
        "{output}"
    );
    let system: Value =
        serde_json::from_str(&text(chats[0], "gen_ai.system_instructions")).unwrap();
    assert_eq!(system[0]["type"], "text");

    let tool = span(&spans, "execute_tool lookup");
    let arguments: Value = serde_json::from_str(&text(tool, "gen_ai.tool.call.arguments")).unwrap();
    assert_eq!(arguments, json!({"q": "sales"}));
    let result: Value = serde_json::from_str(&text(tool, "gen_ai.tool.call.result")).unwrap();
    assert_eq!(result, json!({"rows": 3}));
}

#[tokio::test]
async fn a_failed_tool_call_is_an_error_span_with_its_type() {
    let spans = spans_of_a_run(
        vec![
            Reply::tool_use(None, &[("lookup", json!({"q": "broken"}))]),
            Reply::text("The archive is offline."),
        ],
        "find it",
        false,
    )
    .await;
    let tool = span(&spans, "execute_tool lookup");
    assert!(
        matches!(tool.status, Status::Error { .. }),
        "{:?}",
        tool.status
    );
    assert_eq!(text(tool, "error.type"), "failed");
    // The run itself answered: it is not an error.
    let run = span(&spans, "invoke_agent researcher");
    assert!(!matches!(run.status, Status::Error { .. }));
    assert_eq!(attr(run, "error.type"), None);
}

/// What AgentCore Evaluations' generic OpenTelemetry support needs to find and score a session's
/// spans, content aside: the scope, the identifying operation name and `session.id` on every
/// span it reads.
#[tokio::test]
async fn an_evaluator_finds_every_span_of_a_session_under_the_genai_scope() {
    let spans = spans_of_a_run(tool_then_answer(), "find the sales", false).await;
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));
    for span in &spans {
        assert_eq!(span.instrumentation_scope.name(), SCOPE, "{}", span.name);
        assert!(
            matches!(
                text(span, "gen_ai.operation.name").as_str(),
                "invoke_agent" | "chat" | "execute_tool"
            ),
            "{}",
            span.name
        );
        assert_eq!(text(span, "session.id"), "user123", "{}", span.name);
        assert_eq!(
            text(span, "gen_ai.conversation.id"),
            "user123",
            "{}",
            span.name
        );
    }
}

#[tokio::test]
async fn a_run_outside_a_session_has_no_session_id() {
    let spans = spans_of_runs(tool_then_answer(), &[("find the sales", None)], true).await;
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));
    for span in &spans {
        assert_eq!(attr(span, "session.id"), None, "{}", span.name);
        assert_eq!(attr(span, "gen_ai.conversation.id"), None, "{}", span.name);
    }
}

/// With content on, each span carries what an evaluator reads from it, where AgentCore
/// Evaluations reads it: the run's prompt and answer on `invoke_agent` (as text in
/// `gen_ai.task.input` / `gen_ai.task.output`, and as the conventions' messages), the messages
/// and system prompt of each model call on `chat`, and the arguments and result of each tool
/// call on `execute_tool`.
#[tokio::test]
async fn with_content_each_span_carries_what_an_evaluator_reads() {
    let spans = spans_of_a_run(tool_then_answer(), "find the sales", true).await;

    let run = span(&spans, "invoke_agent researcher");
    assert_eq!(text(run, "gen_ai.task.input"), "find the sales");
    assert_eq!(text(run, "gen_ai.task.output"), "Found it.");
    assert_eq!(
        json(run, "gen_ai.input.messages"),
        json!([{"role": "user", "parts": [{"type": "text", "content": "find the sales"}]}])
    );
    assert_eq!(
        json(run, "gen_ai.output.messages"),
        json!([{
            "role": "assistant",
            "parts": [{"type": "text", "content": "Found it."}],
            "finish_reason": "end_turn",
        }])
    );

    let chats: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert_eq!(
        json(chats[0], "gen_ai.system_instructions"),
        json!([{"type": "text", "content": "You find figures."}])
    );
    // The second call sees the tool's answer as the conventions' `tool` message, after the
    // model's call.
    let input = json(chats[1], "gen_ai.input.messages");
    let roles: Vec<&str> = input
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool"], "{input}");
    let answer = &input[2]["parts"][0];
    assert_eq!(answer["type"], "tool_call_response");
    assert_eq!(answer["response"], json!([{"rows": 3}]));
    let call = input[1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["type"] == "tool_call")
        .unwrap();
    assert_eq!(answer["id"], call["id"]);
    assert_eq!(
        json(chats[1], "gen_ai.output.messages"),
        json!([{
            "role": "assistant",
            "parts": [{"type": "text", "content": "Found it."}],
            "finish_reason": "end_turn",
        }])
    );

    let tool = span(&spans, "execute_tool lookup");
    assert_eq!(text(tool, "gen_ai.tool.name"), "lookup");
    assert_eq!(
        json(tool, "gen_ai.tool.call.arguments"),
        json!({"q": "sales"})
    );
    assert_eq!(json(tool, "gen_ai.tool.call.result"), json!({"rows": 3}));
    assert_eq!(text(tool, "gen_ai.tool.call.id"), call["id"]);
}

/// The run's own prompt is on its span: an evaluator that instead took the first user message
/// of the run's model calls would read the conversation's first turn, not this run's.
#[tokio::test]
async fn each_run_of_a_session_names_its_own_prompt_and_answer() {
    let spans = spans_of_runs(
        vec![Reply::text("Sales were 3."), Reply::text("Costs were 2.")],
        &[
            ("find the sales", Some("user123")),
            ("and the costs?", Some("user123")),
        ],
        true,
    )
    .await;
    let runs: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "invoke_agent researcher")
        .collect();
    assert_eq!(runs.len(), 2, "{:?}", names(&spans));
    let second = runs[1];
    assert_eq!(text(second, "gen_ai.task.input"), "and the costs?");
    assert_eq!(text(second, "gen_ai.task.output"), "Costs were 2.");
    assert_eq!(text(second, "session.id"), "user123");
    // Its model call was sent the whole conversation, the first turn first.
    let chat = spans
        .iter()
        .find(|s| s.name.starts_with("chat ") && s.parent_span_id == second.span_context.span_id())
        .unwrap();
    let input = json(chat, "gen_ai.input.messages");
    assert_eq!(
        input[0]["parts"][0],
        json!({"type": "text", "content": "find the sales"})
    );
    assert_eq!(input.as_array().unwrap().len(), 3, "{input}");
}
