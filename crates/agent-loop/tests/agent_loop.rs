//! The reasoning loop against in-process models: scripted, and streaming ones that misbehave.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion (or, in `EchoTool`, the behaviour under test).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_core::{
    AgentEvent, BlockDelta, BlockStart, ContentBlock, EventSink, Message, Model, ModelError,
    ModelErrorKind, ModelEventStream, ModelRequest, ModelResponse, ModelStreamEvent, NoEvents,
    Reasoning, Role, RunOutcome, RunStatus, StopReason, TokenUsage, Tool, ToolCallStatus,
    ToolContext, ToolError, ToolErrorKind, ToolOutput, ToolResultStatus, ToolSet, async_trait,
};
use agent_loop::{
    AgentLoop, AnswerCheck, Compacted, ContextCompactor, RunError, RunInput, StructuredAnswer,
};
use agent_testkit::ScriptedModel;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A tool that echoes its input after an optional delay, or fails/panics/waits on request.
struct EchoTool {
    name: &'static str,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Tool for EchoTool {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Echoes its input."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"mode": {"type": "string"}}})
    }
    async fn call(&self, input: Value, context: &ToolContext) -> Result<ToolOutput, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match input.get("mode").and_then(Value::as_str) {
            Some("fail") => Err(ToolError::failed("the echo broke")),
            Some("panic") => panic!("echo panicked on purpose"),
            Some("bad") => Err(ToolError::invalid_input("missing field `mode`")),
            Some("wait") => {
                context.cancellation().cancelled().await;
                Err(ToolError::new(ToolErrorKind::Cancelled, "stopped"))
            }
            Some("context") => Ok(json!({
                "run": context.run_id().to_string(),
                "session": context.session_id(),
                "shared": context.state::<String>(),
            })
            .into()),
            _ => Ok(json!({"echo": input}).into()),
        }
    }
}

fn echo_tools(delay: Duration) -> (ToolSet, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let set = ToolSet::new([
        Arc::new(EchoTool {
            name: "echo",
            delay,
            calls: calls.clone(),
        }) as Arc<dyn Tool>,
        Arc::new(EchoTool {
            name: "echo_two",
            delay,
            calls: calls.clone(),
        }),
    ])
    .unwrap();
    (set, calls)
}

fn agent(model: Arc<dyn Model>, tools: ToolSet, max_steps: u32) -> AgentLoop {
    AgentLoop::new(model, tools)
        .with_system_prompt("Be brief.")
        .with_max_steps(max_steps)
}

/// Collects the events a run reports.
#[derive(Default)]
struct Collected(Mutex<Vec<AgentEvent>>);

impl EventSink for Collected {
    fn emit(&self, event: &AgentEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collected {
    fn kinds(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(AgentEvent::type_name)
            .collect()
    }
}

#[tokio::test]
async fn answers_without_tools_and_sends_no_tool_specs() {
    let model = ScriptedModel::new().then_text("<thinking>easy</thinking>Hello!");
    let result = agent(Arc::new(model.clone()), ToolSet::default(), 5)
        .run(RunInput::new("hi"), &NoEvents)
        .await
        .unwrap();
    assert_eq!(result.response, "Hello!");
    assert_eq!(result.outcome, RunOutcome::Answered);
    assert_eq!(result.reasoning.final_thinking.as_deref(), Some("easy"));
    assert_eq!(result.reasoning.status, RunStatus::Completed);
    assert_eq!(result.messages.len(), 2);
    let request = &model.requests()[0];
    assert!(request.tools.is_empty());
    // The system prompt is the agent's own, the same on every run: the time of the turn ends
    // the user turn instead, where it does not change the cached prefix of later runs.
    assert_eq!(request.system, vec!["Be brief.".to_owned()]);
    let turn = &request.messages[0];
    assert_eq!(turn.content.len(), 2);
    assert!(agent_loop::is_time_line(&turn.content[1]), "{turn:?}");
    assert_eq!(
        result.messages[0], **turn,
        "the time line is kept with the turn"
    );
}

#[tokio::test]
async fn no_system_block_is_sent_when_there_is_no_prompt() {
    let model = ScriptedModel::new().then_text("Hello!");
    AgentLoop::new(Arc::new(model.clone()), ToolSet::default())
        .run(RunInput::new("hi"), &NoEvents)
        .await
        .unwrap();
    assert!(model.requests()[0].system.is_empty());
}

#[tokio::test]
async fn the_time_line_comes_from_the_loop_clock() {
    #[derive(Debug)]
    struct Fixed;
    impl agent_core::Clock for Fixed {
        fn now(&self) -> jiff::Timestamp {
            "2026-12-07T11:00:00Z".parse().unwrap()
        }
    }
    let model = ScriptedModel::new().then_text("Hello!");
    let result = AgentLoop::new(Arc::new(model.clone()), ToolSet::default())
        .with_clock(Arc::new(Fixed))
        .run(RunInput::new("hi"), &NoEvents)
        .await
        .unwrap();
    assert_eq!(
        result.messages[0].content[1],
        ContentBlock::Text("Current time: 2026-12-07T11:00:00Z".into())
    );
    assert_eq!(
        result.reasoning.started_at,
        Some("2026-12-07T11:00:00Z".parse().unwrap())
    );
}

#[tokio::test]
async fn tool_steps_are_recorded_and_the_trace_is_the_fold_of_the_events() {
    let model = ScriptedModel::new()
        .then_tools(
            Some("need the weather"),
            &[("echo", json!({"city": "Oslo"}))],
        )
        .then_text("It is cold.");
    let events = Collected::default();
    let (tools, _) = echo_tools(Duration::ZERO);
    let result = agent(Arc::new(model), tools, 5)
        .run(RunInput::new("weather?"), &events)
        .await
        .unwrap();
    assert_eq!(result.reasoning.total_steps, 1);
    let step = &result.reasoning.steps[0];
    assert_eq!(step.thinking.as_deref(), Some("need the weather"));
    assert_eq!(step.tools[0].inputs, json!({"city": "Oslo"}));
    assert_eq!(
        step.tools[0].result,
        Some(json!({"echo": {"city": "Oslo"}}))
    );
    assert_eq!(step.tools[0].status, ToolCallStatus::Succeeded);
    assert_eq!(
        events.kinds(),
        [
            "run_started",
            "text_delta",
            "tool_call_started",
            "tool_input_complete",
            "usage",
            "model_reply",
            "tool_execution_started",
            "tool_result",
            "step_finished",
            "text_delta",
            "usage",
            "model_reply"
        ]
    );
    let folded = Reasoning::from_events(events.0.lock().unwrap().iter());
    assert_eq!(folded.steps, result.reasoning.steps);
    assert_eq!(folded.final_response, result.reasoning.final_response);
    assert_eq!(folded.usage, result.reasoning.usage);
    assert_eq!(folded.run_id, result.reasoning.run_id);
}

#[tokio::test(start_paused = true)]
async fn tools_of_one_message_run_concurrently_and_answer_in_model_order() {
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[
                ("echo", json!({"n": 1})),
                ("echo_two", json!({"n": 2})),
                ("echo", json!({"n": 3})),
            ],
        )
        .then_text("ok");
    let started = tokio::time::Instant::now();
    let (tools, _) = echo_tools(Duration::from_millis(300));
    agent(Arc::new(model.clone()), tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(300),
        "three 300 ms tools ran at once"
    );
    let request = &model.requests()[1];
    let ids: Vec<&str> = request.messages[2]
        .tool_results()
        .map(|r| r.tool_use_id.as_str())
        .collect();
    assert_eq!(ids, ["tool-1", "tool-2", "tool-3"]);
}

#[tokio::test]
async fn failing_panicking_unknown_and_invalid_tools_become_error_results() {
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[
                ("echo", json!({"mode": "fail"})),
                ("echo", json!({"mode": "panic"})),
                ("nope", json!({})),
                ("echo", json!({"mode": "bad"})),
                ("echo", json!({"mode": "ok"})),
            ],
        )
        .then_text("recovered");
    let (tools, _) = echo_tools(Duration::ZERO);
    let result = agent(Arc::new(model.clone()), tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap();
    assert_eq!(result.response, "recovered");
    let results: Vec<_> = model.requests()[1].messages[2]
        .tool_results()
        .cloned()
        .collect();
    let text = |i: usize| match &results[i].content[0] {
        agent_core::ToolResultContent::Text(t) => t.clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(results[0].status, Some(ToolResultStatus::Error));
    assert!(text(0).contains("the echo broke"));
    assert!(text(1).contains("echo panicked on purpose"), "{}", text(1));
    assert!(text(2).contains("no tool named `nope`"));
    assert!(text(2).contains("echo, echo_two"));
    assert!(text(3).contains("invalid input"));
    assert_eq!(results[4].status, None);
    let kinds: Vec<_> = result.reasoning.steps[0]
        .tools
        .iter()
        .map(|t| t.error.as_ref().map(|e| e.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ToolErrorKind::Failed),
            Some(ToolErrorKind::Panicked),
            Some(ToolErrorKind::UnknownTool),
            Some(ToolErrorKind::InvalidInput),
            None
        ]
    );
}

#[tokio::test]
async fn tools_get_their_run_context_and_shared_state() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({"mode": "context"}))])
        .then_text("done");
    let (tools, _) = echo_tools(Duration::ZERO);
    let loop_ = agent(Arc::new(model), tools, 5)
        .with_extensions(agent_core::Extensions::new().with("shared value".to_owned()));
    let mut input = RunInput::new("q");
    input.session_id = Some("s1".into());
    let run_id = input.run_id;
    let result = loop_.run(input, &NoEvents).await.unwrap();
    assert_eq!(
        result.reasoning.steps[0].tools[0].result,
        Some(json!({"run": run_id.to_string(), "session": "s1", "shared": "shared value"}))
    );
}

#[tokio::test]
async fn at_the_step_limit_pending_tools_are_answered_and_the_final_answer_asked_for() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({}))])
        .then_tools(None, &[("echo", json!({}))])
        .then_tools(None, &[("echo", json!({})), ("echo_two", json!({}))])
        .then_tools(Some("still want tools"), &[("echo", json!({}))]);
    let (tools, calls) = echo_tools(Duration::ZERO);
    let events = Collected::default();
    let result = agent(Arc::new(model.clone()), tools, 2)
        .run(RunInput::new("q"), &events)
        .await
        .unwrap();
    assert!(result.step_limit_reached);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "tools past the limit are not run"
    );
    assert!(events.kinds().contains(&"step_limit_reached"));
    let requests = model.requests();
    assert_eq!(requests.len(), 4);
    let last = &requests[3];
    assert!(!last.tools.is_empty(), "toolConfig stays in the request");
    let final_user = last.messages.last().unwrap();
    let ids: Vec<_> = final_user
        .tool_results()
        .map(|r| (r.tool_use_id.clone(), r.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("tool-3".to_owned(), Some(ToolResultStatus::Error)),
            ("tool-4".to_owned(), Some(ToolResultStatus::Error))
        ]
    );
    assert!(
        matches!(final_user.content.last(), Some(ContentBlock::Text(t)) if t.contains("Maximum number of tool use iterations (2)"))
    );
    assert_eq!(
        result.reasoning.steps[2].tools[0].status,
        ToolCallStatus::Failed
    );
    // The reply to the limit held only a tool request: the result says so, and the stored
    // conversation still ends on a complete turn.
    assert_eq!(result.outcome, RunOutcome::EmptyAnswer);
    assert_eq!(result.response, "");
    let last_message = result.messages.last().unwrap();
    assert_eq!(last_message.tool_uses().count(), 0);
    assert!(last_message.has_text());
}

#[tokio::test]
async fn a_model_error_fails_the_run_with_a_typed_error_and_keeps_the_trace() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({}))])
        .then_fail(ModelError::new(ModelErrorKind::AccessDenied, "Not allowed"));
    let (tools, _) = echo_tools(Duration::ZERO);
    let failed = agent(Arc::new(model), tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap_err();
    let RunError::Model(error) = &failed.error else {
        panic!("unexpected {:?}", failed.error)
    };
    assert_eq!(error.kind(), ModelErrorKind::AccessDenied);
    assert_eq!(failed.reasoning.status, RunStatus::Failed);
    let failure = failed.reasoning.error.clone().unwrap();
    assert_eq!(failure.kind, "model.access_denied");
    assert!(failure.message.contains("Not allowed"));
    assert_eq!(
        failed.reasoning.steps.len(),
        1,
        "the completed step is kept"
    );
    assert_eq!(failed.messages.len(), 3, "query, tool call and its results");
}

#[tokio::test]
async fn history_with_unanswered_tool_use_or_a_trailing_user_message_stays_valid() {
    let dangling = Message {
        role: Role::Assistant,
        content: vec![ContentBlock::ToolUse(agent_core::ToolUse {
            tool_use_id: "old".into(),
            name: "echo".into(),
            input: json!({}),
        })],
    };
    let model = ScriptedModel::new().then_text("a").then_text("b");
    let (tools, _) = echo_tools(Duration::ZERO);
    let loop_ = agent(Arc::new(model), tools, 5);
    let input = RunInput::new("next").with_history(vec![Message::user_text("first"), dangling]);
    let result = loop_.run(input, &NoEvents).await.unwrap();
    assert_eq!(
        result.messages[0]
            .tool_results()
            .next()
            .unwrap()
            .tool_use_id,
        "old"
    );

    let input = RunInput::new("again").with_history(vec![Message::user_text("orphan")]);
    let result = loop_.run(input, &NoEvents).await.unwrap();
    let roles: Vec<Role> = result.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Assistant, Role::User, Role::Assistant]);
}

/// A model that streams scripted event sequences, one per call; an `Err` in a sequence ends
/// that reply with the error.
#[derive(Default)]
struct StreamingModel {
    replies: Mutex<Vec<Vec<Result<ModelStreamEvent, ModelError>>>>,
    requests: Mutex<Vec<ModelRequest>>,
}

impl StreamingModel {
    fn new(replies: Vec<Vec<Result<ModelStreamEvent, ModelError>>>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into_iter().rev().collect()),
            requests: Mutex::default(),
        })
    }
}

#[async_trait]
impl Model for StreamingModel {
    async fn converse(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        Err(ModelError::new(ModelErrorKind::Other, "streaming only"))
    }
    async fn converse_stream(
        &self,
        request: &ModelRequest,
    ) -> Result<ModelEventStream, ModelError> {
        self.requests.lock().unwrap().push(request.clone());
        let reply = self.replies.lock().unwrap().pop().unwrap_or_default();
        Ok(Box::pin(futures::stream::iter(reply)))
    }
}

fn text_reply(text: &str) -> Vec<Result<ModelStreamEvent, ModelError>> {
    vec![
        Ok(ModelStreamEvent::MessageStart {
            role: Role::Assistant,
        }),
        Ok(ModelStreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text(text.into()),
        }),
        Ok(ModelStreamEvent::BlockStop { index: 0 }),
        Ok(ModelStreamEvent::MessageStop {
            stop_reason: StopReason::EndTurn,
        }),
        Ok(ModelStreamEvent::Metadata {
            usage: TokenUsage::new(5, 5),
            latency_ms: None,
            trace: None,
        }),
    ]
}

fn tool_call(index: u32, id: &str, input: &str) -> Vec<Result<ModelStreamEvent, ModelError>> {
    vec![
        Ok(ModelStreamEvent::BlockStart {
            index,
            start: BlockStart::ToolUse {
                tool_use_id: id.into(),
                name: "echo".into(),
            },
        }),
        Ok(ModelStreamEvent::BlockDelta {
            index,
            delta: BlockDelta::ToolInput(input.into()),
        }),
        Ok(ModelStreamEvent::BlockStop { index }),
    ]
}

#[tokio::test]
async fn a_malformed_tool_input_is_told_to_the_model_and_never_run() {
    let mut first = tool_call(0, "good", "{\"mode\": \"ok\"}");
    first.extend(tool_call(1, "broken", "{\"mode\": ok"));
    first.push(Ok(ModelStreamEvent::MessageStop {
        stop_reason: StopReason::ToolUse,
    }));
    let model = StreamingModel::new(vec![first, text_reply("fixed")]);
    let (tools, calls) = echo_tools(Duration::ZERO);
    let result = agent(model.clone(), tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the well-formed call ran"
    );
    let step = &result.reasoning.steps[0];
    assert_eq!(step.tools.len(), 2);
    assert_eq!(step.tools[1].inputs, json!("{\"mode\": ok"));
    assert_eq!(
        step.tools[1].error.as_ref().unwrap().kind,
        ToolErrorKind::InvalidInput
    );
    let sent = &model.requests.lock().unwrap()[1];
    let result = sent.messages[2].tool_results().nth(1).unwrap();
    assert!(result.is_error());
    let ContentBlock::ToolResult(shown) = &sent.messages[2].content[1] else {
        panic!("expected a tool result");
    };
    let text = serde_json::to_string(&shown.content).unwrap();
    assert!(
        text.contains("not valid JSON") && text.contains("mode"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reply_cut_mid_stream_is_asked_again_before_any_tool_runs() {
    let mut cut = vec![Ok(ModelStreamEvent::MessageStart {
        role: Role::Assistant,
    })];
    cut.push(Ok(ModelStreamEvent::BlockDelta {
        index: 0,
        delta: BlockDelta::Text("Let me ".into()),
    }));
    cut.push(Ok(ModelStreamEvent::BlockStart {
        index: 1,
        start: BlockStart::ToolUse {
            tool_use_id: "half".into(),
            name: "echo".into(),
        },
    }));
    cut.push(Ok(ModelStreamEvent::BlockDelta {
        index: 1,
        delta: BlockDelta::ToolInput("{\"mo".into()),
    }));
    cut.push(Err(ModelError::new(
        ModelErrorKind::StreamInterrupted,
        "connection reset",
    )));
    let model = StreamingModel::new(vec![cut, text_reply("whole answer")]);
    let (tools, calls) = echo_tools(Duration::ZERO);
    let events = Collected::default();
    let result = agent(model, tools, 5)
        .run(RunInput::new("q"), &events)
        .await
        .unwrap();
    assert_eq!(result.response, "whole answer");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the half-received call never ran"
    );
    assert!(events.kinds().contains(&"model_retry"));

    // Retries are bounded: a stream that keeps breaking fails the run with a typed error.
    let broken = || {
        vec![Err(ModelError::new(
            ModelErrorKind::StreamInterrupted,
            "reset",
        ))]
    };
    let model = StreamingModel::new(vec![broken(), broken(), broken()]);
    let (tools, _) = echo_tools(Duration::ZERO);
    let failed = agent(model.clone(), tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap_err();
    assert!(
        matches!(&failed.error, RunError::Model(e) if e.kind() == ModelErrorKind::StreamInterrupted)
    );
    assert_eq!(model.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_tool_call_cut_by_max_tokens_is_an_error_not_a_call() {
    let mut reply = tool_call(0, "t", "{\"mode\": \"o");
    reply.push(Ok(ModelStreamEvent::MessageStop {
        stop_reason: StopReason::MaxTokens,
    }));
    let model = StreamingModel::new(vec![reply]);
    let (tools, calls) = echo_tools(Duration::ZERO);
    let failed = agent(model, tools, 5)
        .run(RunInput::new("q"), &NoEvents)
        .await
        .unwrap_err();
    assert!(
        matches!(&failed.error, RunError::Model(e) if e.kind() == ModelErrorKind::IncompleteResponse)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cancelling_a_run_signals_its_tools_and_keeps_what_it_produced() {
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[
                ("echo", json!({"mode": "wait"})),
                ("echo_two", json!({"mode": "ok"})),
            ],
        )
        .then_text("never");
    let (tools, calls) = echo_tools(Duration::ZERO);
    let loop_ = agent(Arc::new(model), tools, 5);
    let mut input = RunInput::new("q");
    let cancel = CancellationToken::new();
    input.cancellation = cancel.clone();
    let run = tokio::spawn(async move { loop_.run(input, &NoEvents).await });
    while calls.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    cancel.cancel();
    let failed = run.await.unwrap().unwrap_err();
    assert!(matches!(failed.error, RunError::Cancelled));
    assert_eq!(failed.reasoning.status, RunStatus::Cancelled);
    let tools = &failed.reasoning.steps[0].tools;
    assert_eq!(
        tools[0].error.as_ref().unwrap().kind,
        ToolErrorKind::Cancelled
    );
    assert_eq!(
        tools[1].status,
        ToolCallStatus::Succeeded,
        "a finished tool keeps its result"
    );
    assert_eq!(failed.messages.len(), 1, "only complete steps: the query");
}

#[tokio::test]
async fn cancelling_while_the_answer_streams_keeps_the_partial_answer() {
    let gate = Arc::new(tokio::sync::Notify::new());
    struct Slow(Arc<tokio::sync::Notify>);
    #[async_trait]
    impl Model for Slow {
        async fn converse(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
            Err(ModelError::new(ModelErrorKind::Other, "streaming only"))
        }
        async fn converse_stream(
            &self,
            _request: &ModelRequest,
        ) -> Result<ModelEventStream, ModelError> {
            let first = futures::stream::iter(vec![
                Ok(ModelStreamEvent::MessageStart {
                    role: Role::Assistant,
                }),
                Ok(ModelStreamEvent::BlockDelta {
                    index: 0,
                    delta: BlockDelta::Text("The answer is".into()),
                }),
            ]);
            let gate = self.0.clone();
            let rest = futures::stream::once(async move {
                gate.notified().await;
                Ok(ModelStreamEvent::BlockStop { index: 0 })
            });
            Ok(Box::pin(futures::StreamExt::chain(first, rest)))
        }
    }
    let loop_ = agent(Arc::new(Slow(gate)), ToolSet::default(), 5);
    let mut input = RunInput::new("q");
    let cancel = CancellationToken::new();
    input.cancellation = cancel.clone();
    let events = Arc::new(Collected::default());
    let sink = events.clone();
    let run = tokio::spawn(async move { loop_.run(input, &*sink).await });
    while !events.kinds().contains(&"text_delta") {
        tokio::task::yield_now().await;
    }
    cancel.cancel();
    let failed = run.await.unwrap().unwrap_err();
    assert!(matches!(failed.error, RunError::Cancelled));
    assert_eq!(
        failed.reasoning.final_response.as_deref(),
        Some("The answer is")
    );
}

fn answer_check() -> AnswerCheck {
    Arc::new(
        |input: &Value| match input.get("city").and_then(Value::as_str) {
            Some(_) => Ok(()),
            None => Err("field `city`: a string is required".to_owned()),
        },
    )
}

fn structured(max_attempts: u32) -> StructuredAnswer {
    StructuredAnswer::new(
        "final_answer",
        "Give the answer.",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        max_attempts,
        answer_check(),
    )
}

#[tokio::test]
async fn a_structured_answer_that_does_not_fit_is_sent_back_until_it_does() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("final_answer", json!({"town": "Oslo"}))])
        .then_text("Oslo, I think")
        .then_tools(None, &[("final_answer", json!({"city": "Oslo"}))]);
    let (tools, _) = echo_tools(Duration::ZERO);
    let mut input = RunInput::new("where?");
    input.structured = Some(structured(3));
    let result = agent(Arc::new(model.clone()), tools, 5)
        .run(input, &NoEvents)
        .await
        .unwrap();
    assert_eq!(result.structured, Some(json!({"city": "Oslo"})));
    assert_eq!(result.response, "{\"city\":\"Oslo\"}");
    let requests = model.requests();
    assert!(requests[0].tools.iter().any(|t| t.name == "final_answer"));
    assert_eq!(requests[0].tool_choice, Some(agent_core::ToolChoice::Any));
    let sent_back = serde_json::to_string(&requests[1].messages.last().unwrap()).unwrap();
    assert!(sent_back.contains("field `city`"), "{sent_back}");
    assert!(
        requests[2]
            .messages
            .last()
            .unwrap()
            .text()
            .contains("final_answer")
    );
    assert_eq!(result.messages.last().unwrap().tool_uses().count(), 0);

    let model = ScriptedModel::new()
        .then_tools(None, &[("final_answer", json!({}))])
        .then_tools(None, &[("final_answer", json!({"x": 1}))]);
    let (tools, _) = echo_tools(Duration::ZERO);
    let mut input = RunInput::new("where?");
    input.structured = Some(structured(2));
    let failed = agent(Arc::new(model), tools, 5)
        .run(input, &NoEvents)
        .await
        .unwrap_err();
    assert!(matches!(
        failed.error,
        RunError::InvalidStructuredAnswer { attempts: 2, .. }
    ));
}

/// A compactor that keeps the newest half of the history, counting its calls.
#[derive(Default)]
struct Halving(AtomicUsize);

#[async_trait]
impl ContextCompactor for Halving {
    async fn compact(&self, history: &[Arc<Message>]) -> Option<Compacted> {
        self.0.fetch_add(1, Ordering::SeqCst);
        (history.len() > 2).then(|| {
            Compacted::new(
                history[history.len() - 2..].to_vec(),
                vec!["earlier turns were dropped".into()],
            )
        })
    }
}

#[tokio::test]
async fn a_request_too_long_for_the_model_is_compacted_or_fails_with_its_size() {
    let too_long = || ModelError::new(ModelErrorKind::ContextWindowExceeded, "Input is too long");
    let history: Vec<Message> = (0..6)
        .flat_map(|n| {
            [
                Message::user_text(format!("q{n}")),
                Message::assistant_text(format!("a{n}")),
            ]
        })
        .collect();
    let model = ScriptedModel::new()
        .then_fail(too_long())
        .then_text("fits now");
    let compactor = Arc::new(Halving::default());
    let mut input = RunInput::new("q").with_history(history.clone());
    input.compactor = Some(compactor.clone());
    let result = agent(Arc::new(model.clone()), ToolSet::default(), 5)
        .run(input, &NoEvents)
        .await
        .unwrap();
    assert_eq!(result.response, "fits now");
    assert_eq!(compactor.0.load(Ordering::SeqCst), 1);
    let second = &model.requests()[1];
    assert_eq!(second.messages.len(), 3);
    assert!(
        second
            .system
            .iter()
            .any(|s| s == "earlier turns were dropped")
    );

    let model = ScriptedModel::new().then_fail(too_long());
    let mut input = RunInput::new("q").with_history(history);
    input.session_id = Some("long-one".into());
    let failed = agent(Arc::new(model), ToolSet::default(), 5)
        .run(input, &NoEvents)
        .await
        .unwrap_err();
    let RunError::ContextWindowExceeded {
        session, messages, ..
    } = &failed.error
    else {
        panic!("unexpected {:?}", failed.error);
    };
    assert_eq!((session.as_deref(), *messages), (Some("long-one"), 13));
    assert!(failed.error.to_string().contains("long-one"));
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_running_any_started_tool_again() {
    let model = ScriptedModel::new()
        .then_tools(
            None,
            &[("echo", json!({"n": 1})), ("echo_two", json!({"n": 2}))],
        )
        .then_text("first answer");
    let (tools, calls) = echo_tools(Duration::ZERO);
    let events = Collected::default();
    agent(Arc::new(model), tools, 5)
        .run(RunInput::new("q"), &events)
        .await
        .unwrap();
    // The process "died" after the first tool result was recorded.
    let recorded: Vec<AgentEvent> = events.0.lock().unwrap().clone();
    let cut = recorded
        .iter()
        .position(|e| matches!(e, AgentEvent::ToolResult { .. }))
        .unwrap();
    let durable: Vec<AgentEvent> = recorded[..=cut]
        .iter()
        .filter(|e| e.is_durable() || matches!(e, AgentEvent::RunStarted { .. }))
        .cloned()
        .collect();
    let model = ScriptedModel::new().then_text("resumed answer");
    let (tools, resumed_calls) = echo_tools(Duration::ZERO);
    let result = agent(Arc::new(model.clone()), tools, 5)
        .run(RunInput::resuming(durable), &NoEvents)
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Both calls were recorded as started; the second's result was not. The tools must not
    // run twice (the default), so neither runs again: the second's outcome is unknown.
    assert_eq!(
        resumed_calls.load(Ordering::SeqCst),
        0,
        "a started call without a result is not run again"
    );
    assert_eq!(result.response, "resumed answer");
    assert_eq!(result.reasoning.total_steps, 1);
    assert_eq!(result.messages.len(), 4);
    let request = &model.requests()[0];
    let results: Vec<_> = request.messages[2].tool_results().collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].status, Some(ToolResultStatus::Error));
    assert!(
        format!("{:?}", results[1].content).contains("outcome unknown"),
        "{:?}",
        results[1].content
    );
    let unknown = &result.reasoning.steps[0].tools[1];
    assert_eq!(
        unknown.error.as_ref().map(|e| e.kind.clone()),
        Some(ToolErrorKind::OutcomeUnknown)
    );
}

#[test]
fn tool_sets_reject_duplicates_and_bad_names() {
    let echo = |name: &'static str| {
        Arc::new(EchoTool {
            name,
            delay: Duration::ZERO,
            calls: Arc::default(),
        }) as Arc<dyn Tool>
    };
    let dup = ToolSet::new([echo("echo"), echo("echo")]);
    assert!(matches!(dup, Err(agent_core::ToolSetError::DuplicateName(n)) if n == "echo"));
    let bad = ToolSet::new([echo("has space")]);
    assert!(matches!(bad, Err(agent_core::ToolSetError::InvalidName(_))));
}
