//! `BedrockModel` through the real `aws-sdk-bedrockruntime` client, against the local Converse
//! stand-in: tool conversations, concurrency, retries, error mapping and the step limit, all on
//! the wire.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic there is a failed assertion"
)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_core::{
    ContentBlock, Message, Model, ModelErrorKind, ModelRequest, NoEvents, Role, RunStatus,
    StopReason, TokenUsage, Tool, ToolContext, ToolError, ToolOutput, ToolSet, ToolUse,
    async_trait,
};
use agent_llm_bedrock::BedrockModel;
use agent_llm_bedrock::aws_config::retry::RetryConfig;
use agent_llm_bedrock::aws_config::{self, BehaviorVersion, Region};
use agent_loop::{AgentLoop, RunError, RunInput, STEP_LIMIT_NOT_RUN, step_limit_prompt};
use agent_testkit::{BedrockErrorKind, ConverseStandIn, Policy, RecordedRequest, Reply};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

const MODEL_ID: &str = "us.amazon.nova-pro-v1:0";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("the test took too long")
}

/// A model on the real SDK client, pointed at the stand-in, retrying quickly.
async fn model_for(standin: &ConverseStandIn) -> BedrockModel {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::for_tests())
        .endpoint_url(standin.endpoint_url())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .load()
        .await;
    BedrockModel::from_sdk_config(&config, MODEL_ID)
}

fn agent(model: BedrockModel, tools: Vec<Arc<dyn Tool>>, max_steps: u32) -> AgentLoop {
    AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap())
        .with_system_prompt("You are a test agent.")
        .with_max_steps(max_steps)
}

fn input(query: &str, history: Vec<Message>) -> RunInput {
    RunInput::new(query).with_history(history)
}

/// A tool written by hand: answers `reply(input)` after `delay`, recording when it ran.
struct FnTool {
    name: &'static str,
    description: &'static str,
    schema: Value,
    delay: Duration,
    reply: fn(&Value) -> Result<Value, ToolError>,
    runs: Mutex<Vec<(Instant, Instant)>>,
}

impl FnTool {
    fn new(
        name: &'static str,
        description: &'static str,
        reply: fn(&Value) -> Result<Value, ToolError>,
    ) -> Self {
        Self {
            name,
            description,
            schema: json!({"type": "object", "properties": {}}),
            delay: Duration::ZERO,
            reply,
            runs: Mutex::new(Vec::new()),
        }
    }

    fn with_schema(mut self, schema: Value) -> Self {
        self.schema = schema;
        self
    }

    fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[async_trait]
impl Tool for FnTool {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        self.description
    }
    fn input_schema(&self) -> Value {
        self.schema.clone()
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        let started = Instant::now();
        tokio::time::sleep(self.delay).await;
        self.runs.lock().unwrap().push((started, Instant::now()));
        (self.reply)(&input).map(ToolOutput::from)
    }
}

/// A system prompt long enough to be cached (Nova caches prefixes of at least 1,000 tokens).
fn long_system_prompt() -> String {
    let mut prompt = String::from("You are a test agent.\n");
    for n in 0..300 {
        prompt.push_str(&format!(
            "Rule {n}: answer with the facts the tools give.\n"
        ));
    }
    prompt
}

/// Whether every request carries checkpoints where Amazon Nova takes them: after the system
/// prompt and in messages, never in the tools, never in a turn of tool calls or results.
fn requests_have_nova_cache_points(requests: &[RecordedRequest]) -> bool {
    let has_point = |items: &Value| {
        items
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item.get("cachePoint").is_some()))
    };
    requests.iter().all(|request| {
        let body = &request.body;
        let messages = body["messages"].as_array().unwrap();
        let tool_turn =
            |message: &Value| {
                message["content"].as_array().unwrap().iter().any(|block| {
                    block.get("toolUse").is_some() || block.get("toolResult").is_some()
                })
            };
        has_point(&body["system"])
            && !has_point(&body["toolConfig"]["tools"])
            && messages.iter().any(|m| has_point(&m["content"]))
            && !messages
                .iter()
                .any(|m| tool_turn(m) && has_point(&m["content"]))
    })
}

/// The `toolResult` blocks of a recorded request's last message, as raw JSON.
fn last_tool_results(request: &RecordedRequest) -> Vec<Value> {
    request.body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block.get("toolResult").cloned())
        .collect()
}

#[tokio::test]
async fn a_three_step_tool_conversation_runs_through_the_real_client() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                Some("First the weather"),
                &[("get_weather", json!({"location": "Seattle"}))],
            ),
            Reply::tool_use(
                Some("Now in Fahrenheit"),
                &[("to_fahrenheit", json!({"celsius": 20}))],
            ),
            Reply::tool_use(Some("And the time"), &[("get_time", json!({}))]),
            Reply::text("<thinking>All done</thinking>It is 68 °F in Seattle at noon."),
        ])
        .await
        .unwrap();
        let weather = FnTool::new("get_weather", "Current weather for a city", |input| {
            Ok(json!({"location": input["location"], "temp_c": 18}))
        })
        .with_schema(json!({
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }));
        let convert = FnTool::new("to_fahrenheit", "Converts Celsius to Fahrenheit", |input| {
            let celsius = input["celsius"]
                .as_i64()
                .ok_or_else(|| ToolError::invalid_input("celsius must be a whole number"))?;
            Ok(json!({"fahrenheit": celsius * 9 / 5 + 32}))
        });
        let clock = FnTool::new("get_time", "The current local time", |_| Ok(json!("12:00")));
        let agent = agent(
            model_for(&standin).await,
            vec![Arc::new(weather), Arc::new(convert), Arc::new(clock)],
            5,
        )
        .with_system_prompt(long_system_prompt());

        let output = agent
            .run(input("Weather in Seattle, in Fahrenheit, and the time?", Vec::new()), &NoEvents)
            .await.unwrap();
        let reasoning = &output.reasoning;

        assert_eq!(output.response, "It is 68 °F in Seattle at noon.");
        assert_eq!(reasoning.status, RunStatus::Completed);
        assert_eq!(reasoning.total_steps, 3);
        assert_eq!(
            (reasoning.usage.input_tokens, reasoning.usage.output_tokens),
            (4 * 10, 4 * 5)
        );
        // Nova caches prompts: the first request wrote the cache, the later ones read it.
        assert!(reasoning.usage.cache_write_input_tokens > 0, "{:?}", reasoning.usage);
        assert!(reasoning.usage.cache_read_input_tokens > 0, "{:?}", reasoning.usage);
        assert!(requests_have_nova_cache_points(&standin.requests()));

        let requests = standin.requests();
        assert_eq!(requests.len(), 4);
        assert!(requests.iter().all(|r| r.succeeded() && r.violation.is_none()));
        assert!(requests.iter().all(|r| r.model_id == MODEL_ID));
        let names: Vec<String> = requests[0].tool_specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["get_weather", "to_fahrenheit", "get_time"]);
        assert_eq!(requests[0].body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["location"]));
        assert!(requests[0].body["system"][0]["text"]
            .as_str()
            .unwrap()
            .contains("You are a test agent."));

        // Each request carries the previous step's result, in order.
        assert_eq!(
            last_tool_results(&requests[1]),
            [json!({"toolUseId": "tooluse_1", "content": [{"json": {"location": "Seattle", "temp_c": 18}}]})]
        );
        assert_eq!(
            last_tool_results(&requests[2]),
            [json!({"toolUseId": "tooluse_2", "content": [{"json": {"fahrenheit": 68}}]})]
        );
        assert_eq!(
            last_tool_results(&requests[3]),
            [json!({"toolUseId": "tooluse_3", "content": [{"text": "12:00"}]})]
        );
        let mut conversation = requests[3].messages().unwrap();
        assert_eq!(conversation.len(), 7);
        // The cache point at the end is on the wire only, not in the conversation.
        for message in &mut conversation {
            message
                .content
                .retain(|block| !matches!(block, ContentBlock::CachePoint(_)));
        }
        assert_eq!(&conversation[..], &output.messages[..7]);
    })
    .await;
}

#[tokio::test]
async fn two_tool_uses_in_one_message_run_concurrently_and_answer_in_order() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                Some("Both at once"),
                &[("slow_a", json!({})), ("slow_b", json!({}))],
            ),
            Reply::text("Both answered."),
        ])
        .await
        .unwrap();
        // The first tool is the slower one, so it finishes last.
        let slow_a = Arc::new(
            FnTool::new("slow_a", "Sleeps, then answers a", |_| {
                Ok(json!({"from": "a"}))
            })
            .with_delay(Duration::from_millis(330)),
        );
        let slow_b = Arc::new(
            FnTool::new("slow_b", "Sleeps, then answers b", |_| {
                Ok(json!({"from": "b"}))
            })
            .with_delay(Duration::from_millis(300)),
        );
        let agent = agent(
            model_for(&standin).await,
            vec![slow_a.clone(), slow_b.clone()],
            5,
        );
        agent
            .run(input("Run both", Vec::new()), &NoEvents)
            .await
            .unwrap();

        let requests = standin.requests();
        assert_eq!(requests.len(), 2);
        // The two tools' runs overlapped: each started before the other ended.
        let (a_start, a_end) = slow_a.runs.lock().unwrap()[0];
        let (b_start, b_end) = slow_b.runs.lock().unwrap()[0];
        assert!(
            a_start < b_end && b_start < a_end,
            "the tool runs did not overlap"
        );
        assert!(b_end < a_end);

        let results = last_tool_results(&requests[1]);
        let ids: Vec<&str> = results
            .iter()
            .map(|r| r["toolUseId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["tooluse_1", "tooluse_2"]);
        assert_eq!(results[0]["content"], json!([{"json": {"from": "a"}}]));
        assert_eq!(results[1]["content"], json!([{"json": {"from": "b"}}]));
    })
    .await;
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("Finally.")])
            .await
            .unwrap();
        standin.fail_next(2, BedrockErrorKind::Throttling);
        let agent = agent(model_for(&standin).await, Vec::new(), 3);
        let output = agent
            .run(input("Hello?", Vec::new()), &NoEvents)
            .await
            .unwrap();
        let reasoning = &output.reasoning;
        assert_eq!(output.response, "Finally.");
        assert_eq!(reasoning.status, RunStatus::Completed);

        let requests = standin.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].status, 429);
        assert_eq!(
            requests[1].error_type.as_deref(),
            Some("ThrottlingException")
        );
        assert!(requests[2].succeeded());
        // The retries resent the same request.
        assert_eq!(requests[0].body, requests[2].body);
    })
    .await;
}

#[tokio::test]
async fn a_validation_error_fails_the_run_with_aws_message() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("never sent")])
            .await
            .unwrap();
        let agent = agent(model_for(&standin).await, Vec::new(), 3);
        // A stored history that starts with the assistant breaks Converse's first rule.
        let history = vec![Message::assistant_text("Hi, how can I help?")];
        let failed = agent
            .run(input("What now?", history), &NoEvents)
            .await
            .unwrap_err();
        let reasoning = &failed.reasoning;
        let RunError::Model(model_error) = &failed.error else {
            panic!("expected a model error, got {:?}", failed.error);
        };
        let expected = "A conversation must start with a user message. Try again with a \
                        conversation that starts with a user message.";
        assert_eq!(model_error.kind(), ModelErrorKind::Validation);
        assert_eq!(model_error.message(), expected);
        assert!(!model_error.is_retryable());
        assert_eq!(reasoning.status, RunStatus::Failed);
        let failure = reasoning.error.as_ref().unwrap();
        assert_eq!(failure.kind, "model.validation");
        assert!(failure.message.contains(expected), "{}", failure.message);

        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "a validation error is not retried");
        assert_eq!(requests[0].status, 400);
        assert!(requests[0].violation.is_some());
        // The script was not used up by the rejected request.
        let model = model_for(&standin).await;
        let response = model
            .converse(&ModelRequest::new(vec![Message::user_text("hi")]))
            .await
            .unwrap();
        assert_eq!(response.message.text(), "never sent");
    })
    .await;
}

#[tokio::test]
async fn the_step_limit_path_stays_within_converse_rules() {
    bounded(async {
        // A model that never stops asking for the tool.
        let standin = ConverseStandIn::start(Policy::always(Reply::tool_use(
            Some("Once more"),
            &[("lookup", json!({"key": "k"}))],
        )))
        .await
        .unwrap();
        let lookup = FnTool::new("lookup", "Looks a key up", |_| Ok(json!({"value": 1})));
        let agent = agent(model_for(&standin).await, vec![Arc::new(lookup)], 2);
        let output = agent
            .run(
                input("Look it up until you are sure", Vec::new()),
                &NoEvents,
            )
            .await
            .unwrap();
        let reasoning = &output.reasoning;
        assert!(reasoning.step_limit_reached);
        assert_eq!(reasoning.status, RunStatus::Completed);

        let requests = standin.requests();
        assert_eq!(
            requests.len(),
            4,
            "two tool steps, the step-limit turn and the answer"
        );
        for request in &requests {
            assert!(request.violation.is_none(), "{:?}", request.violation);
            assert!(request.succeeded());
        }
        let last = requests.last().unwrap();
        assert!(
            last.has_tool_config(),
            "the final request must keep toolConfig"
        );
        let results = last_tool_results(last);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["toolUseId"], "tooluse_3");
        assert_eq!(results[0]["status"], "error");
        let text = results[0]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.starts_with("not run `") && text.ends_with(STEP_LIMIT_NOT_RUN),
            "{text}"
        );
        assert_eq!(last.last_text(), step_limit_prompt(2));
        // The unanswered request for tools in the final reply is dropped from the conversation.
        assert!(output.messages.last().unwrap().tool_uses().next().is_none());
        let mut whole = last.body.clone();
        whole["messages"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::to_value(output.messages.last().unwrap()).unwrap());
        agent_testkit::check_converse_request(&whole).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_request_without_tools_has_no_tool_config() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let agent = agent(model_for(&standin).await, Vec::new(), 3);
        let output = agent
            .run(input("Just chat", Vec::new()), &NoEvents)
            .await
            .unwrap();

        assert_eq!(output.response, "You asked: Just chat");
        let requests = standin.requests();
        assert_eq!(requests.len(), 1);
        let body = requests[0].body.as_object().unwrap();
        assert!(!body.contains_key("toolConfig"), "{body:?}");
        // Nova Pro's documented maximum output is asked for: without it, Converse may stop
        // the answer early (it stops Claude at 4,096 tokens).
        assert_eq!(
            body["inferenceConfig"],
            json!({"maxTokens": 5000}),
            "{body:?}"
        );
        assert_eq!(requests[0].model_id, MODEL_ID);
    })
    .await;
}

#[tokio::test]
async fn the_demo_model_drives_a_whole_agent_run() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let weather = FnTool::new("get_weather", "Current weather for a city", |input| {
            Ok(json!({"location": input["location"], "temp_c": 18}))
        })
        .with_schema(json!({
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }));
        let clock = FnTool::new("get_time", "The current time in a timezone", |_| {
            Ok(json!("12:00"))
        });
        let agent = agent(
            model_for(&standin).await,
            vec![Arc::new(clock), Arc::new(weather)],
            1,
        );
        let output = agent
            .run(
                input("What's the weather in Seattle?", Vec::new()),
                &NoEvents,
            )
            .await
            .unwrap();
        let reasoning = &output.reasoning;
        assert_eq!(
            output.response,
            "Based on get_weather: {\"location\":\"Seattle\",\"temp_c\":18}."
        );
        assert_eq!(reasoning.total_steps, 1);
        assert_eq!(
            reasoning.steps[0].tools[0].inputs,
            json!({"location": "Seattle"})
        );
        assert!(standin.requests().iter().all(|r| r.succeeded()));
    })
    .await;
}

#[tokio::test]
async fn bedrock_error_shapes_map_onto_model_error_kinds() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let model = model_for(&standin).await;
        let request = ModelRequest::new(vec![Message::user_text("hi")]);
        // (error, expected kind, attempts the SDK makes with max_attempts = 3)
        let cases = [
            (BedrockErrorKind::Throttling, ModelErrorKind::Throttled, 3),
            (BedrockErrorKind::Validation, ModelErrorKind::Validation, 1),
            (
                BedrockErrorKind::AccessDenied,
                ModelErrorKind::AccessDenied,
                1,
            ),
            (
                BedrockErrorKind::ModelNotReady,
                ModelErrorKind::ModelNotReady,
                3,
            ),
            (
                BedrockErrorKind::ResourceNotFound,
                ModelErrorKind::ModelNotFound,
                1,
            ),
            (
                BedrockErrorKind::ServiceUnavailable,
                ModelErrorKind::ServiceUnavailable,
                3,
            ),
            (
                BedrockErrorKind::InternalServer,
                ModelErrorKind::ServiceUnavailable,
                3,
            ),
            (BedrockErrorKind::ModelTimeout, ModelErrorKind::Timeout, 1),
            (BedrockErrorKind::ModelError, ModelErrorKind::Other, 1),
        ];
        for (error, expected, attempts) in cases {
            let message = format!("stand-in says {}", error.error_type());
            standin.set_policy(Policy::always(Reply::error_with(error, message.clone())));
            standin.clear_requests();
            let failure = model.converse(&request).await.unwrap_err();
            assert_eq!(failure.kind(), expected, "{error}: {failure}");
            assert_eq!(failure.message(), message, "{error}");
            assert_eq!(standin.requests().len(), attempts, "{error}");
        }
    })
    .await;
}

#[tokio::test]
async fn odd_answers_map_to_invalid_response_or_their_status() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let model = model_for(&standin).await;
        let request = ModelRequest::new(vec![Message::user_text("hi")]);
        // (status, x-amzn-errortype, body, expected kind, attempts)
        let cases = [
            (
                200,
                None,
                "{\"output\": 42}",
                ModelErrorKind::InvalidResponse,
                1,
            ),
            (200, None, "not json", ModelErrorKind::InvalidResponse, 1),
            (200, None, "{}", ModelErrorKind::InvalidResponse, 1),
            (
                500,
                None,
                "<html>oops</html>",
                ModelErrorKind::ServiceUnavailable,
                3,
            ),
            (502, None, "", ModelErrorKind::ServiceUnavailable, 3),
            (
                400,
                Some("SomethingNewException"),
                "{\"message\": \"new\"}",
                ModelErrorKind::Other,
                1,
            ),
        ];
        for (status, error_type, body, expected, attempts) in cases {
            standin.set_policy(Policy::always(Reply::Raw {
                status,
                error_type: error_type.map(str::to_owned),
                body: body.to_owned(),
            }));
            standin.clear_requests();
            let failure = model.converse(&request).await.unwrap_err();
            assert_eq!(failure.kind(), expected, "{status} {body}: {failure}");
            assert_eq!(standin.requests().len(), attempts, "{status} {body}");
        }
    })
    .await;
}

#[tokio::test]
async fn blank_text_from_the_model_is_not_sent_back() {
    bounded(async {
        // Models sometimes write a bare newline before a toolUse; Converse rejects blank text.
        let standin = ConverseStandIn::scripted([
            Reply::message(
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text("\n\n".into()),
                        ContentBlock::ToolUse(ToolUse {
                            tool_use_id: String::new(),
                            name: "lookup".into(),
                            input: json!({}),
                        }),
                    ],
                },
                StopReason::ToolUse,
                TokenUsage::default(),
            ),
            Reply::text("done"),
        ])
        .await
        .unwrap();
        let lookup = FnTool::new("lookup", "Looks a key up", |_| Ok(json!({"value": 1})));
        let agent = agent(model_for(&standin).await, vec![Arc::new(lookup)], 3);
        let output = agent.run(input("go", Vec::new()), &NoEvents).await.unwrap();
        assert_eq!(output.response, "done");
        let requests = standin.requests();
        assert_eq!(requests.len(), 2);
        assert!(requests[1].violation.is_none());
        assert_eq!(
            requests[1].body["messages"][1]["content"],
            json!([{"toolUse": {"toolUseId": "tooluse_1", "name": "lookup", "input": {}}}])
        );
        // The stored conversation keeps the reply as the model wrote it.
        assert_eq!(output.messages[1].content.len(), 2);
    })
    .await;
}
