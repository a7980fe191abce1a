//! The facade's `Agent`: building, conflicts, runs, streams, errors, structured answers and
//! agents as tools — on scripted models, offline.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_testkit::ScriptedModel;
use futures::StreamExt;
use minimalagent::session::InMemorySessionStore;
use minimalagent::{
    Agent, AgentEvent, ChildSession, ConfigError, ErrorKind, EventSink, ModelError, ModelErrorKind,
    Prompt, RunOutcome, RunStatus, Tool, ToolContext, ToolError, ToolOutput, TurnState,
    async_trait,
};
use serde_json::{Value, json};

struct Named(&'static str);

#[async_trait]
impl Tool for Named {
    fn name(&self) -> &str {
        self.0
    }
    fn description(&self) -> &str {
        "A test tool."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {}})
    }
    async fn call(&self, _input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        if self.0 == "wait" {
            context.cancellation().cancelled().await;
            return Err(ToolError::failed("stopped"));
        }
        Ok(json!({"tool": self.0}).into())
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn agents_are_send_sync_and_cheap_to_clone() {
    assert_send_sync_clone::<Agent>();
}

async fn quiet(model: ScriptedModel) -> Agent {
    Agent::builder()
        .model(model)
        .show_reasoning(false)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn runs_a_tool_conversation_on_a_given_model() {
    let model = ScriptedModel::new()
        .then_tools(Some("check"), &[("lookup", json!({}))])
        .then_text("Found it.");
    let agent = Agent::builder()
        .model(model.clone())
        .tool(Named("lookup"))
        .system_prompt("Be helpful.")
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let result = agent.clone().run("find").await.unwrap();
    assert_eq!(result.response, "Found it.");
    assert_eq!(result.outcome, RunOutcome::Answered);
    assert_eq!(result.reasoning.total_steps, 1);
    assert_eq!(
        result.reasoning.steps[0].tools[0].result,
        Some(json!({"tool": "lookup"}))
    );
    assert!(model.requests()[0].system[0].ends_with("Be helpful."));
}

#[tokio::test(start_paused = true)]
async fn concurrent_runs_share_one_agent() {
    let model = ScriptedModel::new().with_latency(Duration::from_millis(50));
    for i in 0..16 {
        model.push(agent_testkit::ScriptedReply::Respond(
            agent_testkit::text_response(format!("answer {i}")),
        ));
    }
    let agent = quiet(model.clone()).await;
    let started = tokio::time::Instant::now();
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.run(format!("q{i}")).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(50),
        "runs went at once"
    );
    assert_eq!(model.requests().len(), 16);
}

#[tokio::test]
async fn invalid_and_conflicting_settings_are_typed_errors_at_build() {
    let model = ScriptedModel::new();
    let error = Agent::builder()
        .model(model.clone())
        .max_steps(0)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(
        error.config_error(),
        Some(ConfigError::ZeroMaxSteps)
    ));
    assert_eq!(error.kind(), ErrorKind::Config);

    let error = Agent::builder()
        .model(model.clone())
        .tool(Named("same"))
        .tool(Named("same"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error.config_error(), Some(ConfigError::Tools(_))));

    let error = Agent::builder()
        .model(model.clone())
        .model_id("us.anthropic.claude-sonnet-4-20250514-v1:0")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.config_error(),
            Some(ConfigError::Conflict {
                first: "model_id",
                ..
            })
        ),
        "{error}"
    );

    for (builder, shortcut) in [
        (
            Agent::builder().session_table_name("my-table"),
            "session_table_name",
        ),
        (Agent::builder().memory_region("eu-west-1"), "memory_region"),
        (
            Agent::builder().session_ttl(Duration::from_secs(60)),
            "session_ttl",
        ),
        (
            Agent::builder().dynamodb_endpoint("http://127.0.0.1:1"),
            "dynamodb_endpoint",
        ),
        (
            Agent::builder().session_store_url("memory://"),
            "session_store_url",
        ),
    ] {
        let error = builder
            .model(model.clone())
            .sessions(InMemorySessionStore::new())
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(error.config_error(), Some(ConfigError::Conflict { first, second: "sessions(..)", .. }) if *first == shortcut),
            "{error}"
        );
    }

    let error = Agent::builder()
        .model(model.clone())
        .session_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(
        error.config_error(),
        Some(ConfigError::InvalidSessionTtl)
    ));

    let error = Agent::builder()
        .model(model.clone())
        .real_time_reasoning(true)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(
        error.config_error(),
        Some(ConfigError::RealTimeWithoutSessions)
    ));

    let error = Agent::builder()
        .model(model.clone())
        .session_store_url("redis://localhost")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.config_error(),
            Some(ConfigError::InvalidStoreUrl { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_store_url_turns_sessions_on() {
    let agent = Agent::builder()
        .model(ScriptedModel::new().then_text("one").then_text("two"))
        .session_store_url("memory://")
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    agent.run_in_session("a", "url-session").await.unwrap();
    agent.run_in_session("b", "url-session").await.unwrap();
    assert_eq!(
        agent
            .get_reasoning_history("url-session")
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_model_error_is_a_typed_error_that_keeps_the_trace() {
    let model = ScriptedModel::new().then_fail(ModelError::new(
        ModelErrorKind::Throttled,
        "Too many requests, please wait before trying again.",
    ));
    let error = quiet(model).await.run("q").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Model);
    assert!(error.is_model());
    assert_eq!(
        error.model_error().map(ModelError::kind),
        Some(ModelErrorKind::Throttled)
    );
    assert!(
        error.is_retryable(),
        "throttling is, and the turn is not kept"
    );
    assert_eq!(error.turn(), TurnState::NotKept);
    assert_eq!(error.reasoning().unwrap().status, RunStatus::Failed);
    assert!(error.to_string().contains("Too many requests"));
    // Printed as a chain (anyhow's `{:#}`), each message appears once.
    let chain = format!("{:#}", anyhow::Error::new(error));
    assert_eq!(chain.matches("Too many requests").count(), 1, "{chain}");
}

#[tokio::test]
async fn streams_report_text_and_tools_as_they_happen_and_end_with_the_result() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("lookup", json!({}))])
        .then_text("Done.");
    let agent = Agent::builder()
        .model(model)
        .tool(Named("lookup"))
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let mut stream = agent.stream("go");
    let mut kinds = Vec::new();
    let mut finished = None;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        kinds.push(event.type_name());
        if let AgentEvent::RunFinished { result } = event {
            finished = Some(result);
        }
    }
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert!(kinds.contains(&"tool_result") && kinds.contains(&"text_delta"));
    assert_eq!(finished.unwrap().response, "Done.");
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_run_and_its_tools() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("wait", json!({}))])
        .then_text("never");
    let store = InMemorySessionStore::new();
    let agent = Agent::builder()
        .model(model)
        .tool(Named("wait"))
        .sessions(store)
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let mut stream = agent.stream_in_session("go", "dropped");
    while let Some(event) = stream.next().await {
        if matches!(event.unwrap(), AgentEvent::ToolCallStarted { .. }) {
            break;
        }
    }
    assert_eq!(agent.runs_in_flight(), 1);
    drop(stream);
    // The run's task writes the cancelled record on its own; the agent waits for it.
    tokio::time::timeout(Duration::from_secs(10), agent.wait_for_runs())
        .await
        .unwrap();
    assert_eq!(agent.runs_in_flight(), 0);
    let latest = agent.get_reasoning("dropped").await.unwrap().unwrap();
    assert_eq!(
        latest.status,
        RunStatus::Cancelled,
        "saved before the wait ended"
    );
    assert!(
        agent
            .conversation("dropped", None)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    // The agent still runs after a wait.
    let again = agent.run_in_session("again", "dropped").await.unwrap();
    assert_eq!(again.response, "never");
}

#[tokio::test]
async fn a_run_cancelled_through_its_handle_ends_with_a_cancellation_error() {
    let model = ScriptedModel::new().then_tools(None, &[("wait", json!({}))]);
    let agent = Agent::builder()
        .model(model)
        .tool(Named("wait"))
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let stream = agent.stream("go");
    let cancel = stream.cancellation();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let error = stream.result().await.unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert_eq!(error.reasoning().unwrap().status, RunStatus::Cancelled);
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Forecast {
    city: String,
    days: Vec<String>,
}

#[tokio::test]
async fn structured_answers_are_typed_and_kept_in_the_session() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("final_answer", json!({"city": "Oslo"}))])
        .then_tools(
            None,
            &[("final_answer", json!({"city": "Oslo", "days": ["rain"]}))],
        );
    let agent = Agent::builder()
        .model(model.clone())
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let forecast = agent
        .run_structured_in_session::<Forecast>("Oslo?", "typed")
        .await
        .unwrap();
    assert_eq!(
        forecast.value,
        Forecast {
            city: "Oslo".into(),
            days: vec!["rain".into()]
        }
    );
    let schema = &model.requests()[0].tools[0].input_schema;
    assert_eq!(schema["required"], json!(["city", "days"]));
    let page = agent.conversation("typed", None).await.unwrap();
    let messages = page.messages();
    assert_eq!(
        messages.last().unwrap().text(),
        r#"{"city":"Oslo","days":["rain"]}"#
    );

    let model = ScriptedModel::new()
        .then_text("not json")
        .then_text("still not")
        .then_text("nope");
    let error = quiet(model)
        .await
        .run_structured::<Forecast>("?")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidStructuredAnswer);
}

#[tokio::test]
async fn prompts_carry_images_and_documents_into_the_session() {
    let model = ScriptedModel::new().then_text("A chart.");
    let agent = Agent::builder()
        .model(model.clone())
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let prompt = Prompt::new("What is this?")
        .image(minimalagent::ImageBlock::from_bytes(
            minimalagent::ImageFormat::Png,
            vec![7; 1024],
        ))
        .document(minimalagent::DocumentBlock::from_s3(
            minimalagent::DocumentFormat::Pdf,
            "Report",
            "s3://bucket/report.pdf",
        ));
    agent.run_in_session(prompt.clone(), "media").await.unwrap();
    // The turn holds the prompt's blocks, then the time of the turn.
    let sent = &model.requests()[0].messages[0].content;
    assert_eq!(&sent[..sent.len() - 1], prompt.blocks());
    assert!(minimalagent::core::is_time_line(&sent[sent.len() - 1]));
    let stored = agent.conversation("media", None).await.unwrap().messages();
    assert_eq!(&stored[0].content, sent);
    let reasoning = agent.get_reasoning("media").await.unwrap().unwrap();
    assert_eq!(
        reasoning.query, "What is this?",
        "the trace holds the text, not the bytes"
    );
}

#[derive(Default)]
struct Count(AtomicUsize);

impl EventSink for Count {
    fn emit(&self, _event: &AgentEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_agent_is_a_tool_for_another_and_its_run_is_linked() {
    let child = Agent::builder()
        .model(ScriptedModel::new().then_text("Paris is the capital."))
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let parent_model = ScriptedModel::new()
        .then_tools(
            None,
            &[("geographer", json!({"query": "capital of France?"}))],
        )
        .then_text("It is Paris.");
    let seen = Arc::new(Count::default());
    let parent = Agent::builder()
        .model(parent_model)
        .tool(
            child
                .as_tool("geographer", "Answers geography questions.")
                .with_session(ChildSession::PerParentSession),
        )
        .sessions(InMemorySessionStore::new())
        .on_event(SharedSink(seen.clone()))
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let result = parent.run_in_session("Where?", "parent").await.unwrap();
    assert_eq!(result.response, "It is Paris.");
    let output = result.reasoning.steps[0].tools[0].result.clone().unwrap();
    assert_eq!(output["answer"], "Paris is the capital.");
    assert_eq!(output["session_id"], "parent-geographer");
    let child_trace = child
        .get_reasoning("parent-geographer")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output["run_id"], json!(child_trace.run_id));
    assert!(
        seen.0.load(Ordering::SeqCst) > 5,
        "observers see the parent's events"
    );
}

struct SharedSink(Arc<Count>);

impl EventSink for SharedSink {
    fn emit(&self, event: &AgentEvent) {
        self.0.emit(event);
    }
}

/// Holds each call for approval.
struct Held;

#[async_trait]
impl Tool for Held {
    fn name(&self) -> &str {
        "transfer"
    }
    fn description(&self) -> &str {
        "Moves money."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {}})
    }
    fn approval(&self) -> Option<&str> {
        Some("money moves")
    }
    async fn call(&self, _input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(json!({"sent": true}).into())
    }
}

#[tokio::test]
async fn an_agent_used_as_a_tool_that_waits_for_approval_pauses_its_parent() {
    let child = Agent::builder()
        .model(
            ScriptedModel::new()
                .then_tools(None, &[("transfer", json!({}))])
                .then_text("Sent."),
        )
        .tool(Held)
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let parent = Agent::builder()
        .model(
            ScriptedModel::new()
                .then_tools(None, &[("payments", json!({"query": "pay bob"}))])
                .then_text("Bob is paid."),
        )
        .tool(
            child
                .as_tool("payments", "Makes payments.")
                .with_session(ChildSession::PerParentSession),
        )
        .sessions(InMemorySessionStore::new())
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let paused = parent.run_in_session("Pay bob", "desk").await.unwrap();
    assert_eq!(paused.outcome, RunOutcome::Paused);
    let held = &paused.pending_interrupts[0];
    assert_eq!(held.tool, "payments");
    assert!(
        held.reason.contains("transfer") && held.reason.contains("money moves"),
        "the parent's call says what the child waits for: {}",
        held.reason
    );
    let child_waiting = child
        .sessions()
        .unwrap()
        .paused_runs("desk-payments")
        .await
        .unwrap();
    assert_eq!(
        child_waiting.len(),
        1,
        "the child's run waits in its own session"
    );

    let done = parent
        .respond("desk", minimalagent::Decisions::new().approve(&held.id))
        .await
        .unwrap();
    assert_eq!(done.response, "Bob is paid.");
    let child_trace = child.get_reasoning("desk-payments").await.unwrap().unwrap();
    assert_eq!(child_trace.status, RunStatus::Completed);
    assert_eq!(child_trace.final_response.as_deref(), Some("Sent."));
    assert!(
        child
            .sessions()
            .unwrap()
            .paused_runs("desk-payments")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Streams its answer two characters at a time, `tokens` times.
struct TokenByToken {
    tokens: usize,
}

#[async_trait]
impl minimalagent::core::Model for TokenByToken {
    async fn converse(
        &self,
        _request: &minimalagent::core::ModelRequest,
    ) -> Result<minimalagent::core::ModelResponse, ModelError> {
        Ok(agent_testkit::text_response("ab".repeat(self.tokens)))
    }

    async fn converse_stream(
        &self,
        _request: &minimalagent::core::ModelRequest,
    ) -> Result<minimalagent::core::ModelEventStream, ModelError> {
        use minimalagent::core::{BlockDelta, ModelStreamEvent, Role, StopReason, TokenUsage};
        let mut events = vec![ModelStreamEvent::MessageStart {
            role: Role::Assistant,
        }];
        events.extend((0..self.tokens).map(|_| ModelStreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text("ab".into()),
        }));
        events.push(ModelStreamEvent::BlockStop { index: 0 });
        events.push(ModelStreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
        });
        events.push(ModelStreamEvent::Metadata {
            usage: TokenUsage::default(),
            latency_ms: None,
            trace: None,
        });
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

/// A reader that falls behind is not owed a queue of one item per token: what the run wrote
/// meanwhile waits as one delta, and reads as the same text.
#[tokio::test]
async fn an_unread_stream_holds_the_answer_once_not_per_token() {
    let agent = Agent::builder()
        .model(TokenByToken { tokens: 20_000 })
        .show_reasoning(false)
        .build()
        .await
        .unwrap();
    let stream = agent.stream("Hi!");
    // The run ends while nobody reads its stream.
    tokio::time::timeout(Duration::from_secs(30), agent.wait_for_runs())
        .await
        .unwrap();
    let events: Vec<AgentEvent> = stream.map(Result::unwrap).collect().await;
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas.len(), 1, "{} text deltas queued", deltas.len());
    assert_eq!(deltas[0], "ab".repeat(20_000));
    let Some(AgentEvent::RunFinished { result }) = events.last() else {
        panic!("the stream ends with the run's result");
    };
    assert_eq!(result.response, "ab".repeat(20_000));
}
