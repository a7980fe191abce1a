//! The Converse stand-in over HTTP, with a plain client: replies, errors, rules, latency,
//! recording and the demo model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic there is a failed assertion"
)]

mod common;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use agent_testkit::{
    BedrockError, BedrockErrorKind, ConverseStandIn, Policy, Reply, Rule, check_converse_request,
};
use common::{converse, send};
use serde_json::{Value, json};

const MODEL: &str = "us.amazon.nova-pro-v1:0";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), test)
        .await
        .expect("the test took too long")
}

fn weather_tool() -> Value {
    json!({"toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }}
    }})
}

fn time_tool() -> Value {
    json!({"toolSpec": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "inputSchema": {"json": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"]
        }}
    }})
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"text": text}]})
}

#[tokio::test]
async fn a_scripted_reply_makes_the_round_trip_in_converse_json() {
    bounded(async {
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(
                Some("I need the weather"),
                &[("get_weather", json!({"location": "Seattle"}))],
            ),
            Reply::text("It is sunny in Seattle."),
        ])
        .await
        .unwrap();
        let url = standin.endpoint_url();

        let first = json!({
            "messages": [user("Weather in Seattle?")],
            "system": [{"text": "Be brief."}],
            "toolConfig": {"tools": [weather_tool()]},
            "inferenceConfig": {"maxTokens": 100}
        });
        let reply = converse(&url, MODEL, &first).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("x-amzn-requestid").is_some());
        assert_eq!(
            reply.body["output"]["message"],
            json!({"role": "assistant", "content": [
                {"text": "<thinking>I need the weather</thinking>"},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"location": "Seattle"}}}
            ]})
        );
        assert_eq!(reply.body["stopReason"], "tool_use");
        assert_eq!(
            reply.body["usage"],
            json!({"inputTokens": 10, "outputTokens": 5, "totalTokens": 15})
        );
        assert_eq!(reply.body["metrics"], json!({"latencyMs": 0}));

        let mut messages = first["messages"].as_array().unwrap().clone();
        messages.push(reply.body["output"]["message"].clone());
        messages.push(json!({"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp_c": 21}}]}}
        ]}));
        let second = json!({"messages": messages, "toolConfig": {"tools": [weather_tool()]}});
        let reply = converse(&url, MODEL, &second).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body["output"]["message"],
            json!({"role": "assistant", "content": [{"text": "It is sunny in Seattle."}]})
        );
        assert_eq!(reply.body["stopReason"], "end_turn");

        let requests = standin.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].model_id, MODEL);
        assert_eq!(requests[0].body, first);
        assert_eq!(requests[1].body, second);
        assert!(requests.iter().all(|r| r.succeeded() && r.violation.is_none()));
        assert_eq!(requests[1].messages().unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn every_rule_violation_is_a_validation_exception() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let tools = json!({"tools": [weather_tool()]});
        let assistant_tool_use = |ids: &[&str]| {
            let blocks: Vec<Value> = ids
                .iter()
                .map(|id| json!({"toolUse": {"toolUseId": id, "name": "get_weather", "input": {}}}))
                .collect();
            json!({"role": "assistant", "content": blocks})
        };
        let results = |ids: &[&str]| {
            let blocks: Vec<Value> = ids
                .iter()
                .map(|id| json!({"toolResult": {"toolUseId": id, "content": [{"text": "ok"}]}}))
                .collect();
            json!({"role": "user", "content": blocks})
        };
        let spec = |name: &str, description: &str, schema: Value| {
            json!({"tools": [{"toolSpec": {
                "name": name, "description": description, "inputSchema": {"json": schema}
            }}]})
        };
        let object = json!({"type": "object", "properties": {}});

        let cases: Vec<(&str, Value, Rule, &str)> = vec![
            ("no messages", json!({"messages": []}), Rule::NoMessages, "must start with a user message"),
            ("missing messages", json!({}), Rule::NoMessages, "at 'messages'"),
            (
                "assistant first",
                json!({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}),
                Rule::FirstMessageNotUser,
                "A conversation must start with a user message",
            ),
            (
                "two user messages",
                json!({"messages": [user("a"), user("b")]}),
                Rule::RolesNotAlternating,
                "must alternate between user and assistant roles",
            ),
            (
                "empty text",
                json!({"messages": [{"role": "user", "content": [{"text": "ok"}, {"text": ""}]}]}),
                Rule::BlankText,
                "messages.0.content.1 is blank",
            ),
            (
                "blank assistant text",
                json!({"messages": [user("a"), {"role": "assistant", "content": [{"text": " \n"}]}, user("b")]}),
                Rule::BlankText,
                "messages.1.content.0 is blank",
            ),
            (
                "empty content",
                json!({"messages": [{"role": "user", "content": []}]}),
                Rule::EmptyContent,
                "messages.0 is empty",
            ),
            (
                "bad role",
                json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}),
                Rule::Malformed,
                "enum value set",
            ),
            (
                "toolUse not answered",
                json!({"messages": [user("a"), assistant_tool_use(&["t1", "t2"]), results(&["t1"])], "toolConfig": tools}),
                Rule::MissingToolResults,
                "Expected toolResult blocks at messages.2.content for the following Ids: t2",
            ),
            (
                "toolUse answered with text only",
                json!({"messages": [user("a"), assistant_tool_use(&["t1"]), user("b")], "toolConfig": tools}),
                Rule::MissingToolResults,
                "Expected toolResult blocks at messages.2.content for the following Ids: t1",
            ),
            (
                "toolResult for another id",
                json!({"messages": [user("a"), assistant_tool_use(&["t1"]), results(&["zz"])], "toolConfig": tools}),
                Rule::MissingToolResults,
                "for the following Ids: t1",
            ),
            (
                "too many toolResults",
                json!({"messages": [user("a"), assistant_tool_use(&["t1"]), results(&["t1", "t9"])], "toolConfig": tools}),
                Rule::ExtraToolResults,
                "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn.",
            ),
            (
                "toolResult without any toolUse",
                json!({"messages": [results(&["t1"])], "toolConfig": tools}),
                Rule::ExtraToolResults,
                "messages.0.content exceeds",
            ),
            (
                "tool blocks without toolConfig",
                json!({"messages": [user("a"), assistant_tool_use(&["t1"]), results(&["t1"])]}),
                Rule::MissingToolConfig,
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            ),
            (
                "empty tool list",
                json!({"messages": [user("a")], "toolConfig": {"tools": []}}),
                Rule::NoTools,
                "toolConfig.tools",
            ),
            (
                "tool name with a space",
                json!({"messages": [user("a")], "toolConfig": spec("get weather", "d", object.clone())}),
                Rule::InvalidToolName,
                "regular expression pattern",
            ),
            (
                "tool name too long",
                json!({"messages": [user("a")], "toolConfig": spec(&"x".repeat(65), "d", object.clone())}),
                Rule::InvalidToolName,
                "less than or equal to 64",
            ),
            (
                "empty description",
                json!({"messages": [user("a")], "toolConfig": spec("t", "", object.clone())}),
                Rule::EmptyToolDescription,
                "toolSpec.description",
            ),
            (
                "schema not an object",
                json!({"messages": [user("a")], "toolConfig": spec("t", "d", json!("object"))}),
                Rule::InvalidInputSchema,
                "must be a JSON object",
            ),
            (
                "schema of type string",
                json!({"messages": [user("a")], "toolConfig": spec("t", "d", json!({"type": "string"}))}),
                Rule::InvalidInputSchema,
                "\"type\": \"object\"",
            ),
            (
                "dangling $ref",
                json!({"messages": [user("a")], "toolConfig": spec("t", "d", json!({
                    "type": "object", "properties": {"p": {"$ref": "#/$defs/Missing"}}
                }))}),
                Rule::InvalidInputSchema,
                "#/$defs/Missing",
            ),
            (
                "duplicate tool names",
                json!({"messages": [user("a")], "toolConfig": {"tools": [weather_tool(), weather_tool()]}}),
                Rule::DuplicateToolName,
                "get_weather",
            ),
            (
                "blank system text",
                json!({"messages": [user("a")], "system": [{"text": ""}]}),
                Rule::BlankText,
                "system.0 is blank",
            ),
        ];

        for (name, body, rule, fragment) in &cases {
            let reply = converse(&url, MODEL, body).await;
            assert_eq!(reply.status, 400, "{name}: {:?}", reply.body);
            assert_eq!(reply.header("x-amzn-errortype"), Some("ValidationException"), "{name}");
            let message = reply.body["message"].as_str().unwrap();
            assert!(message.contains(fragment), "{name}: {message}");
            let recorded = standin.requests().pop().unwrap();
            assert_eq!(recorded.violation.as_ref().map(|v| v.rule()), Some(*rule), "{name}");
            assert_eq!(recorded.violation.as_ref().unwrap().message(), message, "{name}");
            assert_eq!(recorded.status, 400);
            assert_eq!(&recorded.body, body);
        }

        // Not JSON at all.
        let reply = send(&url, "POST", "/model/m/converse", "{not json").await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.header("x-amzn-errortype"), Some("ValidationException"));
        assert_eq!(
            standin.requests().pop().unwrap().violation.unwrap().rule(),
            Rule::Malformed
        );

        // Every request was recorded, and the valid ones still reach the policy.
        assert_eq!(standin.request_count(), cases.len() + 1);
        let valid = json!({
            "messages": [user("a"), assistant_tool_use(&["t1", "t2"]), results(&["t2", "t1"])],
            "toolConfig": {"tools": [weather_tool(), {"cachePoint": {"type": "default"}}]}
        });
        assert!(check_converse_request(&valid).is_ok());
        // A cachePoint in the tools is valid for Claude; Amazon Nova (MODEL) rejects it.
        let reply = converse(&url, "us.anthropic.claude-sonnet-4-20250514-v1:0", &valid).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    })
    .await;
}

#[tokio::test]
async fn errors_have_bedrocks_status_header_and_body() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});
        let expected = [
            (BedrockErrorKind::Throttling, 429, "ThrottlingException"),
            (BedrockErrorKind::Validation, 400, "ValidationException"),
            (BedrockErrorKind::AccessDenied, 403, "AccessDeniedException"),
            (
                BedrockErrorKind::ResourceNotFound,
                404,
                "ResourceNotFoundException",
            ),
            (BedrockErrorKind::ModelError, 424, "ModelErrorException"),
            (
                BedrockErrorKind::InternalServer,
                500,
                "InternalServerException",
            ),
            (
                BedrockErrorKind::ServiceUnavailable,
                503,
                "ServiceUnavailableException",
            ),
            (BedrockErrorKind::ModelTimeout, 408, "ModelTimeoutException"),
            (
                BedrockErrorKind::ModelNotReady,
                429,
                "ModelNotReadyException",
            ),
        ];
        assert_eq!(expected.len(), BedrockErrorKind::ALL.len());
        for (kind, status, error_type) in expected {
            standin.push_reply(BedrockError::new(kind, format!("custom {error_type}")));
            let reply = converse(&url, MODEL, &body).await;
            assert_eq!(reply.status, status, "{error_type}");
            assert_eq!(reply.header("x-amzn-errortype"), Some(error_type));
            assert_eq!(reply.header("content-type"), Some("application/json"));
            assert_eq!(
                reply.body,
                json!({"message": format!("custom {error_type}")})
            );
            let recorded = standin.requests().pop().unwrap();
            assert_eq!(recorded.status, status);
            assert_eq!(recorded.error_type.as_deref(), Some(error_type));
            assert!(recorded.violation.is_none());
        }
        // With the default message.
        standin.push_reply(Reply::error(BedrockErrorKind::AccessDenied));
        let reply = converse(&url, MODEL, &body).await;
        assert_eq!(
            reply.body["message"],
            BedrockErrorKind::AccessDenied.default_message()
        );
        // Back to the policy.
        let reply = converse(&url, MODEL, &body).await;
        assert_eq!(reply.status, 200);
    })
    .await;
}

#[tokio::test]
async fn a_missing_model_is_answered_in_bedrocks_own_words() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        standin.push_reply(Reply::error(BedrockErrorKind::ResourceNotFound));
        let body = json!({"messages": [user("hi")]});
        let reply = converse(&standin.endpoint_url(), MODEL, &body).await;
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ResourceNotFoundException")
        );
        // Bedrock's ResourceNotFoundException for a model it no longer serves, as quoted from
        // Converse (accelerated-intelligent-document-processing-on-aws#708) and ConverseStream
        // (griptape-nodes-engine#4498). "The provided model identifier is invalid." is the
        // ValidationException of a profile called from the wrong Region, not this error.
        assert_eq!(
            reply.body["message"],
            "This model version has reached the end of its life. Please refer to the AWS \
             documentation for more details."
        );
        assert_ne!(
            BedrockErrorKind::ResourceNotFound.default_message(),
            "The provided model identifier is invalid."
        );
    })
    .await;
}

#[tokio::test]
async fn failing_the_next_requests_then_following_the_script() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("one"), Reply::text("two")])
            .await
            .unwrap();
        standin.fail_next(2, BedrockErrorKind::Throttling);
        assert_eq!(standin.queued_replies(), 2);
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});
        let mut statuses = Vec::new();
        let mut texts = Vec::new();
        for _ in 0..5 {
            let reply = converse(&url, MODEL, &body).await;
            statuses.push(reply.status);
            texts.push(reply.body["output"]["message"]["content"][0]["text"].clone());
        }
        assert_eq!(statuses, [429, 429, 200, 200, 424]);
        assert_eq!(texts[2], "one");
        assert_eq!(texts[3], "two");
        let exhausted = standin.requests().pop().unwrap();
        assert_eq!(exhausted.error_type.as_deref(), Some("ModelErrorException"));
        // A rejected request does not use up a scripted reply.
        standin.push_reply(Reply::text("three"));
        let reply = converse(&url, MODEL, &json!({"messages": []})).await;
        assert_eq!(reply.status, 400);
        let reply = converse(&url, MODEL, &body).await;
        assert_eq!(
            reply.body["output"]["message"]["content"][0]["text"],
            "three"
        );
    })
    .await;
}

// Tokio's paused clock: the latency is measured in virtual time, which a loaded machine
// cannot stretch.
#[tokio::test(start_paused = true)]
async fn latency_delays_every_answer_and_can_change_at_any_time() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("slow")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});

        standin.set_latency(Duration::from_millis(300));
        assert_eq!(standin.latency(), Duration::from_millis(300));
        let started = Instant::now();
        let reply = converse(&url, MODEL, &body).await;
        let elapsed = started.elapsed();
        assert_eq!(reply.status, 200);
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert_eq!(reply.body["metrics"]["latencyMs"], 300);

        // Errors are slowed down as well.
        standin.push_reply(Reply::throttling());
        let started = Instant::now();
        let reply = converse(&url, MODEL, &body).await;
        assert_eq!(reply.status, 429);
        assert!(started.elapsed() >= Duration::from_millis(300));

        // Concurrent requests wait side by side, not one after the other.
        let started = Instant::now();
        let (a, b) = tokio::join!(converse(&url, MODEL, &body), converse(&url, MODEL, &body));
        assert_eq!((a.status, b.status), (200, 200));
        assert!(
            started.elapsed() < Duration::from_millis(550),
            "{:?}",
            started.elapsed()
        );

        standin.set_latency(Duration::ZERO);
        let started = Instant::now();
        converse(&url, MODEL, &body).await;
        assert!(started.elapsed() < Duration::from_millis(250));
    })
    .await;
}

#[tokio::test]
async fn requests_are_recorded_in_order_with_their_model_ids() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::from_fn(|request| {
            Reply::text(format!("#{} for {}", request.index, request.model_id))
        }))
        .await
        .unwrap();
        let url = standin.endpoint_url();
        let arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0";
        let reply = converse(&url, MODEL, &json!({"messages": [user("one")]})).await;
        assert_eq!(
            reply.body["output"]["message"]["content"][0]["text"],
            format!("#0 for {MODEL}")
        );
        converse(&url, arn, &json!({"messages": [user("two")]})).await;
        let requests = standin.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].index, 0);
        assert_eq!(requests[1].index, 1);
        assert_eq!(requests[1].model_id, arn);
        assert_eq!(requests[0].last_text(), "one");
        assert_eq!(requests[1].last_text(), "two");
        assert!(requests[0].received_at <= requests[1].received_at);
        assert!(!requests[0].has_tool_config());

        standin.clear_requests();
        assert!(standin.requests().is_empty());
        assert_eq!(standin.request_count(), 2);
        converse(&url, MODEL, &json!({"messages": [user("three")]})).await;
        assert_eq!(standin.requests()[0].index, 2);

        // Only Converse and ConverseStream are served.
        let reply = send(&url, "POST", "/model/m/invoke", "{}").await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.header("x-amzn-errortype"), Some("UnknownOperationException"));
        let reply = send(&url, "GET", "/model/m/converse", "").await;
        assert_eq!(reply.status, 405);
        assert_eq!(standin.request_count(), 3);
    })
    .await;
}

#[tokio::test]
async fn raw_replies_panicking_policies_and_disabled_rules() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::from_fn(|request| {
            assert!(request.body.get("boom").is_none(), "asked to fail");
            Reply::text("fine")
        }))
        .await
        .unwrap();
        let url = standin.endpoint_url();

        standin.push_reply(Reply::Raw {
            status: 200,
            error_type: None,
            body: "{\"output\": 42}".to_owned(),
        });
        let reply = converse(&url, MODEL, &json!({"messages": [user("hi")]})).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, json!({"output": 42}));

        let reply = converse(
            &url,
            MODEL,
            &json!({"messages": [user("hi")], "boom": true}),
        )
        .await;
        assert_eq!(reply.status, 500);
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("InternalServerException")
        );
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("asked to fail")
        );

        standin.set_rule_check(false);
        let reply = converse(&url, MODEL, &json!({"messages": []})).await;
        assert_eq!(reply.status, 200);
        assert!(standin.requests().pop().unwrap().violation.is_none());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn shutting_down_closes_the_port_and_cuts_slow_answers_short() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("late")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let addr = standin.local_addr();
        standin.set_latency(Duration::from_secs(30));
        let pending = tokio::spawn({
            let url = url.clone();
            async move { converse(&url, MODEL, &json!({"messages": [user("hi")]})).await }
        });
        while standin.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        standin.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        let reply = pending.await.unwrap();
        assert_eq!(reply.status, 503);
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());

        // Dropping stops it as well.
        let standin = ConverseStandIn::demo().await.unwrap();
        let addr = standin.local_addr();
        drop(standin);
        let mut closed = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            closed,
            "the port stayed open after the stand-in was dropped"
        );
    })
    .await;
}

/// Plays the client side of an agent against the demo model: runs "tools" by echoing their
/// input, feeds the results back, and checks the conversation stays valid all along.
async fn run_demo_conversation(
    url: &str,
    mut messages: Vec<Value>,
    tools: &[Value],
    max_steps: usize,
) -> (Vec<Value>, Vec<Value>) {
    let mut replies = Vec::new();
    for step in 0..=max_steps {
        let mut body = json!({"messages": messages});
        if !tools.is_empty() {
            body["toolConfig"] = json!({"tools": tools});
        }
        let reply = converse(url, MODEL, &body).await;
        assert_eq!(reply.status, 200, "step {step}: {:?}", reply.body);
        let message = reply.body["output"]["message"].clone();
        messages.push(message.clone());
        replies.push(reply.body.clone());
        if reply.body["stopReason"] != "tool_use" {
            break;
        }
        let results: Vec<Value> = message["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|block| block.get("toolUse"))
            .map(|tool_use| {
                json!({"toolResult": {
                    "toolUseId": tool_use["toolUseId"],
                    "content": [{"json": {"tool": tool_use["name"], "input": tool_use["input"], "temp_c": 18}}]
                }})
            })
            .collect();
        messages.push(json!({"role": "user", "content": results}));
    }
    (messages, replies)
}

#[tokio::test]
async fn the_demo_model_completes_a_tool_conversation_within_its_own_rules() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let url = standin.endpoint_url();
        let tools = [time_tool(), weather_tool()];
        let (messages, replies) = run_demo_conversation(
            &url,
            vec![user("What's the weather in Seattle today?")],
            &tools,
            4,
        )
        .await;
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0]["stopReason"], "tool_use");
        let asked = &replies[0]["output"]["message"]["content"];
        let thinking = asked[0]["text"].as_str().unwrap();
        assert!(thinking.starts_with("<thinking>") && thinking.ends_with("</thinking>"));
        assert_eq!(asked[1]["toolUse"]["name"], "get_weather");
        assert_eq!(asked[1]["toolUse"]["input"], json!({"location": "Seattle"}));
        assert_eq!(replies[1]["stopReason"], "end_turn");
        let answer = replies[1]["output"]["message"]["content"][0]["text"]
            .as_str()
            .unwrap();
        assert!(answer.starts_with("Based on get_weather: "), "{answer}");
        assert!(answer.contains("\"temp_c\":18"), "{answer}");
        for reply in &replies {
            let usage = &reply["usage"];
            assert!(usage["inputTokens"].as_u64().unwrap() > 0);
            assert_eq!(
                usage["totalTokens"].as_u64().unwrap(),
                usage["inputTokens"].as_u64().unwrap() + usage["outputTokens"].as_u64().unwrap()
            );
        }

        // A second query in the same conversation: another tool call, with a fresh id.
        let mut next = messages.clone();
        next.push(user("And what time is it in the Pacific timezone?"));
        let (messages, replies) = run_demo_conversation(&url, next, &tools, 4).await;
        assert_eq!(replies.len(), 2);
        let tool_use = &replies[0]["output"]["message"]["content"][1]["toolUse"];
        assert_eq!(tool_use["name"], "get_time");
        assert_eq!(tool_use["toolUseId"], "tooluse_2");

        // The whole conversation, final answer included, passes the rule check; so did every
        // request on the way.
        let whole = json!({"messages": messages, "toolConfig": {"tools": tools}});
        check_converse_request(&whole).unwrap();
        assert!(
            standin
                .requests()
                .iter()
                .all(|r| r.violation.is_none() && r.succeeded())
        );
    })
    .await;
}

#[tokio::test]
async fn the_demo_model_answers_step_limit_prompts_and_plain_questions() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let url = standin.endpoint_url();
        let tools = [weather_tool()];

        // What an agent sends at its step limit: "not run" results plus a prompt, same message.
        let messages = vec![
            user("Weather in Paris?"),
            json!({"role": "assistant", "content": [
                {"text": "<thinking>checking</thinking>"},
                {"toolUse": {"toolUseId": "a", "name": "get_weather", "input": {"location": "Paris"}}},
                {"toolUse": {"toolUseId": "b", "name": "get_weather", "input": {"location": "Lyon"}}}
            ]}),
            json!({"role": "user", "content": [
                {"toolResult": {"toolUseId": "a", "content": [{"text": "step limit reached; not run"}], "status": "error"}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "step limit reached; not run"}], "status": "error"}},
                {"text": "Maximum number of tool use iterations (1) reached. Please provide a response with the information gathered so far."}
            ]}),
        ];
        let body = json!({"messages": messages, "toolConfig": {"tools": tools}});
        let reply = converse(&url, MODEL, &body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["stopReason"], "end_turn");
        assert_eq!(
            reply.body["output"]["message"]["content"][0]["text"],
            "Based on get_weather failed: step limit reached; not run; get_weather failed: step limit reached; not run."
        );

        // Without tools: a short echo.
        let reply = converse(&url, MODEL, &json!({"messages": [user("Hello,   demo!")]})).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body["output"]["message"]["content"][0]["text"],
            "You asked: Hello, demo!"
        );
        assert_eq!(reply.body["stopReason"], "end_turn");
    })
    .await;
}
