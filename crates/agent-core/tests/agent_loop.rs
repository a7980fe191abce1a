//! The reasoning loop against the in-process scripted model.
#![allow(clippy::unwrap_used, clippy::panic)] // Test code: a panic is a failed assertion (or, in `EchoTool`, the behaviour under test).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_core::{
    AgentLoop, ContentBlock, InferenceConfig, ModelError, ModelErrorKind, NoObserver, Reasoning,
    Role, RunError, RunEvent, RunObserver, RunStatus, StopReason, Tool, ToolCallStatus, ToolError,
    ToolErrorKind, ToolResultStatus, ToolSet, async_trait,
};
use agent_testkit::ScriptedModel;
use serde_json::{Value, json};

/// A tool that echoes its input after an optional delay, or fails/panics on request.
struct EchoTool {
    name: &'static str,
    delay: Duration,
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
    async fn call(&self, input: Value) -> Result<Value, ToolError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match input.get("mode").and_then(Value::as_str) {
            Some("fail") => Err(ToolError::failed("the echo broke")),
            Some("panic") => panic!("echo panicked on purpose"),
            Some("bad") => Err(ToolError::invalid_input("missing field `mode`")),
            _ => Ok(json!({"echo": input})),
        }
    }
}

fn tools(delay: Duration) -> ToolSet {
    ToolSet::new([
        Arc::new(EchoTool {
            name: "echo",
            delay,
        }) as Arc<dyn Tool>,
        Arc::new(EchoTool {
            name: "echo_two",
            delay,
        }),
    ])
    .unwrap()
}

fn agent(model: &ScriptedModel, tools: ToolSet, max_steps: u32) -> AgentLoop {
    AgentLoop::new(
        Arc::new(model.clone()),
        tools,
        "Be brief.",
        max_steps,
        InferenceConfig::default(),
    )
}

#[tokio::test]
async fn answers_without_tools_and_sends_no_tool_specs() {
    let model = ScriptedModel::new().then_text("<thinking>easy</thinking>Hello!");
    let mut reasoning = Reasoning::start("hi", None);
    let output = agent(&model, ToolSet::default(), 5)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap();
    assert_eq!(output.response, "Hello!");
    assert_eq!(reasoning.final_thinking.as_deref(), Some("easy"));
    assert_eq!(reasoning.status, RunStatus::Completed);
    assert_eq!(reasoning.total_steps, 0);
    let request = &model.requests()[0];
    assert!(request.tools.is_empty());
    assert!(request.system[0].starts_with("Current time: "));
    assert!(request.system[0].ends_with("\nBe brief."));
}

#[tokio::test]
async fn tool_steps_are_recorded_with_thinking_inputs_and_results() {
    let model = ScriptedModel::new()
        .then_tools(Some("need echo"), &[("echo", json!({"x": 1}))])
        .then_tools(None, &[("echo_two", json!({"y": 2}))])
        .then_text("done");
    let mut reasoning = Reasoning::start("q", Some("s".into()));
    let output = agent(&model, tools(Duration::ZERO), 5)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap();
    assert_eq!(output.response, "done");
    assert_eq!(reasoning.total_steps, 2);
    assert_eq!(reasoning.steps[0].thinking.as_deref(), Some("need echo"));
    assert_eq!(
        reasoning.steps[1].thinking, None,
        "a step without thinking is still a step"
    );
    assert_eq!(reasoning.steps[0].tools[0].inputs, json!({"x": 1}));
    assert_eq!(
        reasoning.steps[0].tools[0].result,
        Some(json!({"echo": {"x": 1}}))
    );
    assert_eq!(reasoning.usage.total_tokens, 30 + 30 + 15);
    // query, assistant, results, assistant, results, final
    assert_eq!(output.new_messages().len(), 6);
    let third_request = &model.requests()[2];
    let results = &third_request.messages[4];
    assert_eq!(results.role, Role::User);
    assert_eq!(results.tool_results().next().unwrap().tool_use_id, "tool-2");
}

#[tokio::test]
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
    let mut reasoning = Reasoning::start("q", None);
    let started = Instant::now();
    agent(&model, tools(Duration::from_millis(300)), 5)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(700),
        "three 300 ms tools took {elapsed:?}; they did not run concurrently"
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
    let mut reasoning = Reasoning::start("q", None);
    let output = agent(&model, tools(Duration::ZERO), 5)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap();
    assert_eq!(output.response, "recovered");
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
    let kinds: Vec<_> = reasoning.steps[0]
        .tools
        .iter()
        .map(|t| t.error.as_ref().map(|e| e.kind))
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
async fn step_limit_answers_pending_tools_and_asks_for_the_final_answer() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({}))])
        .then_tools(None, &[("echo", json!({}))])
        .then_tools(None, &[("echo", json!({})), ("echo_two", json!({}))])
        .then_tools(Some("still want tools"), &[("echo", json!({}))]);
    let mut reasoning = Reasoning::start("q", None);
    let output = agent(&model, tools(Duration::ZERO), 2)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap();
    assert!(reasoning.step_limit_reached);
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
    assert_eq!(reasoning.steps[2].tools[0].status, ToolCallStatus::Failed);
    // The stored conversation never ends with an unanswered toolUse.
    let last_message = output.messages.last().unwrap();
    assert_eq!(last_message.tool_uses().count(), 0);
}

#[tokio::test]
async fn a_model_error_fails_the_run_with_a_typed_error() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({}))])
        .then_fail(ModelError::new(
            ModelErrorKind::Throttled,
            "Too many requests",
        ));
    let mut reasoning = Reasoning::start("q", None);
    let error = agent(&model, tools(Duration::ZERO), 5)
        .run(Vec::new(), &mut reasoning, &NoObserver)
        .await
        .unwrap_err();
    let RunError::Model(model_error) = &error else {
        panic!("unexpected {error:?}")
    };
    assert_eq!(model_error.kind(), ModelErrorKind::Throttled);
    assert_eq!(reasoning.status, RunStatus::Failed);
    let failure = reasoning.error.unwrap();
    assert_eq!(failure.kind, "model.throttled");
    assert!(failure.message.contains("Too many requests"));
    assert_eq!(reasoning.steps.len(), 1, "the completed step is kept");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

#[async_trait]
impl RunObserver for Recorder {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        let line = match event {
            RunEvent::Started => format!("started {:?}", reasoning.status),
            RunEvent::StepStarted { step } => format!("step {}", step.step_number),
            RunEvent::ToolFinished { tool, .. } => format!("tool {:?}", tool.status),
            RunEvent::Completed { response } => format!("completed {response}"),
            RunEvent::Failed => "failed".to_owned(),
            _ => "other".to_owned(),
        };
        self.0.lock().unwrap().push(line);
    }
}

#[tokio::test]
async fn observers_see_each_event_in_order() {
    let model = ScriptedModel::new()
        .then_tools(None, &[("echo", json!({})), ("echo_two", json!({}))])
        .then_text("fin");
    let recorder = Recorder::default();
    let mut reasoning = Reasoning::start("q", None);
    agent(&model, tools(Duration::ZERO), 5)
        .run(Vec::new(), &mut reasoning, &recorder)
        .await
        .unwrap();
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "started Running",
            "step 1",
            "tool Succeeded",
            "tool Succeeded",
            "completed fin"
        ]
    );
}

#[tokio::test]
async fn history_with_unanswered_tool_use_or_a_trailing_user_message_stays_valid() {
    let dangling = agent_core::Message {
        role: Role::Assistant,
        content: vec![ContentBlock::ToolUse(agent_core::ToolUse {
            tool_use_id: "old".into(),
            name: "echo".into(),
            input: json!({}),
        })],
    };
    let model = ScriptedModel::new().then_text("a").then_text("b");
    let loop_ = agent(&model, tools(Duration::ZERO), 5);
    let mut reasoning = Reasoning::start("next", None);
    let output = loop_
        .run(
            vec![agent_core::Message::user_text("first"), dangling],
            &mut reasoning,
            &NoObserver,
        )
        .await
        .unwrap();
    let first_new = &output.new_messages()[0];
    assert_eq!(first_new.tool_results().next().unwrap().tool_use_id, "old");

    let mut reasoning = Reasoning::start("again", None);
    let output = loop_
        .run(
            vec![agent_core::Message::user_text("orphan")],
            &mut reasoning,
            &NoObserver,
        )
        .await
        .unwrap();
    let roles: Vec<Role> = output.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert_eq!(output.new_messages().len(), 3);
}

#[test]
fn tool_sets_reject_duplicates_and_bad_names() {
    let dup = ToolSet::new([
        Arc::new(EchoTool {
            name: "echo",
            delay: Duration::ZERO,
        }) as Arc<dyn Tool>,
        Arc::new(EchoTool {
            name: "echo",
            delay: Duration::ZERO,
        }),
    ]);
    assert!(matches!(dup, Err(agent_core::ToolSetError::DuplicateName(n)) if n == "echo"));
    let bad = ToolSet::new([Arc::new(EchoTool {
        name: "has space",
        delay: Duration::ZERO,
    }) as Arc<dyn Tool>]);
    assert!(matches!(bad, Err(agent_core::ToolSetError::InvalidName(_))));
    let _ = StopReason::EndTurn;
}
