//! The newer Converse rules over HTTP, through both operations: cache points, extended
//! thinking, tool choice, reasoning before tool use, media and guardrails. Each rule has
//! requests it accepts and requests it rejects with a `ValidationException`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic there is a failed assertion"
)]

mod common;

use std::future::Future;
use std::time::Duration;

use agent_testkit::{ConverseStandIn, Policy, Reply, Rule};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{converse, converse_stream};
use serde_json::{Value, json};

const MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// Bounds a test on Tokio's clock (paused: virtual time, immune to a slow machine).
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(600), test)
        .await
        .expect("the test took too long")
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"text": text}]})
}

fn user_blocks(blocks: Value) -> Value {
    json!({"messages": [{"role": "user", "content": blocks}]})
}

fn weather_tool() -> Value {
    json!({"toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string"}}}}
    }})
}

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn reasoning() -> Value {
    json!({"reasoningContent": {"reasoningText": {"text": "Thinking it over.", "signature": "c2ln"}}})
}

fn thinking(budget: u64) -> Value {
    json!({"thinking": {"type": "enabled", "budget_tokens": budget}})
}

fn image(format: &str, source: Value) -> Value {
    json!({"image": {"format": format, "source": source}})
}

fn document(format: &str, name: &str, source: Value) -> Value {
    json!({"document": {"format": format, "name": name, "source": source}})
}

fn bytes(data: &[u8]) -> Value {
    json!({"bytes": STANDARD.encode(data)})
}

fn s3(uri: &str) -> Value {
    json!({"s3Location": {"uri": uri}})
}

fn with_tools(mut body: Value, tool_choice: Option<Value>) -> Value {
    body["toolConfig"] = json!({"tools": [weather_tool()]});
    if let Some(choice) = tool_choice {
        body["toolConfig"]["toolChoice"] = choice;
    }
    body
}

fn with_thinking(mut body: Value, budget: u64, max_tokens: Option<u64>) -> Value {
    body["additionalModelRequestFields"] = thinking(budget);
    if let Some(max_tokens) = max_tokens {
        body["inferenceConfig"] = json!({"maxTokens": max_tokens});
    }
    body
}

fn with_guardrail(mut body: Value, config: Value) -> Value {
    body["guardrailConfig"] = config;
    body
}

/// A tool turn in progress: the assistant called a tool, the user sends its result.
fn tool_turn(assistant_blocks: Value) -> Value {
    with_tools(
        json!({"messages": [
            user("Weather in Oslo?"),
            {"role": "assistant", "content": assistant_blocks},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "4C"}]}}]}
        ]}),
        None,
    )
}

fn call() -> Value {
    json!({"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"location": "Oslo"}}})
}

fn accepted_cases() -> Vec<(&'static str, Value)> {
    let plain = json!({"messages": [user("hi")]});
    vec![
        (
            "cachePoint in system",
            json!({"system": [{"text": "Be brief."}, cache_point()], "messages": [user("hi")]}),
        ),
        (
            "cachePoint in tools",
            json!({"messages": [user("hi")], "toolConfig": {"tools": [weather_tool(), cache_point()]}}),
        ),
        (
            "cachePoint after text",
            user_blocks(json!([{"text": "A long document"}, cache_point()])),
        ),
        (
            "cachePoint after text after reasoning",
            json!({"messages": [user("hi"), {"role": "assistant", "content": [reasoning(), {"text": "Hello"}, cache_point()]}, user("again")]}),
        ),
        (
            "thinking at the floor",
            with_thinking(plain.clone(), 1024, None),
        ),
        (
            "thinking under maxTokens",
            with_thinking(plain.clone(), 2000, Some(4000)),
        ),
        (
            "thinking disabled",
            json!({"messages": [user("hi")], "additionalModelRequestFields": {"thinking": {"type": "disabled"}}}),
        ),
        (
            "toolChoice auto",
            with_tools(plain.clone(), Some(json!({"auto": {}}))),
        ),
        (
            "toolChoice any",
            with_tools(plain.clone(), Some(json!({"any": {}}))),
        ),
        (
            "toolChoice of an offered tool",
            with_tools(
                plain.clone(),
                Some(json!({"tool": {"name": "get_weather"}})),
            ),
        ),
        (
            "toolChoice auto with thinking",
            with_thinking(
                with_tools(plain.clone(), Some(json!({"auto": {}}))),
                1024,
                None,
            ),
        ),
        (
            "thinking with a tool turn that starts with reasoning",
            with_thinking(tool_turn(json!([reasoning(), call()])), 1024, None),
        ),
        (
            "thinking with redacted reasoning first",
            with_thinking(
                tool_turn(json!([{"reasoningContent": {"redactedContent": "ZW5j"}}, call()])),
                1024,
                None,
            ),
        ),
        (
            "no thinking, tool turn without reasoning",
            tool_turn(json!([{"text": "Checking."}, call()])),
        ),
        (
            "media of every kind",
            user_blocks(json!([
                {"text": "Compare these."},
                image("png", bytes(b"\x89PNG")),
                image("jpeg", bytes(b"\xff\xd8")),
                image("gif", bytes(b"GIF89a")),
                image("webp", bytes(b"RIFF")),
                document("pdf", "Report 2026", bytes(b"%PDF")),
                document("md", "Notes (draft) [v2]", bytes(b"# Notes")),
                document("xlsx", "Q1-results", bytes(b"PK"))
            ])),
        ),
        (
            "twenty images and five documents",
            user_blocks(Value::Array(
                std::iter::once(json!({"text": "Many."}))
                    .chain((0..20).map(|_| image("png", bytes(b"x"))))
                    .chain((0..5).map(|i| document("txt", &format!("Doc {i}"), bytes(b"x"))))
                    .collect(),
            )),
        ),
        (
            "an image in a tool result",
            with_tools(
                json!({"messages": [
                    user("Draw it"),
                    {"role": "assistant", "content": [call()]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [image("png", bytes(b"x"))]}}]}
                ]}),
                None,
            ),
        ),
        (
            "guardrail with version number and full trace",
            with_guardrail(
                plain.clone(),
                json!({"guardrailIdentifier": "gr-abc", "guardrailVersion": "12", "trace": "enabled_full"}),
            ),
        ),
        (
            "draft guardrail streamed asynchronously",
            with_guardrail(
                plain.clone(),
                json!({"guardrailIdentifier": "arn:aws:bedrock:us-west-2:1:guardrail/gr", "guardrailVersion": "DRAFT", "streamProcessingMode": "async"}),
            ),
        ),
        (
            "a block type Converse may add later",
            user_blocks(
                json!([{"text": "clip?"}, {"video": {"format": "mkv", "source": {"bytes": "AAAA"}}}]),
            ),
        ),
    ]
}

fn rejected_cases() -> Vec<(&'static str, Value, Rule, &'static str)> {
    let plain = json!({"messages": [user("hi")]});
    let big_image = vec![0u8; 3_932_161];
    let big_document = vec![0u8; 4_718_593];
    vec![
        (
            "cachePoint alone",
            user_blocks(json!([cache_point()])),
            Rule::InvalidCachePoint,
            "messages.0.content.0 is the first block",
        ),
        (
            "cachePoint first",
            user_blocks(json!([cache_point(), {"text": "hi"}])),
            Rule::InvalidCachePoint,
            "first block of its message",
        ),
        (
            "cachePoint right after reasoning",
            json!({"messages": [user("hi"), {"role": "assistant", "content": [reasoning(), cache_point(), {"text": "Hello"}]}, user("again")]}),
            Rule::InvalidCachePoint,
            "directly follows a reasoningContent block",
        ),
        (
            "cachePoint of another type",
            json!({"system": [{"text": "x"}, {"cachePoint": {"type": "ephemeral"}}], "messages": [user("hi")]}),
            Rule::InvalidCachePoint,
            "enum value set: [default]",
        ),
        (
            "thinking budget under 1024",
            with_thinking(plain.clone(), 1000, None),
            Rule::InvalidThinkingConfig,
            "greater than or equal to 1024",
        ),
        (
            "thinking budget not under maxTokens",
            with_thinking(plain.clone(), 4000, Some(4000)),
            Rule::InvalidThinkingConfig,
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
        (
            "thinking without a budget",
            json!({"messages": [user("hi")], "additionalModelRequestFields": {"thinking": {"type": "enabled"}}}),
            Rule::InvalidThinkingConfig,
            "budget_tokens: Field required",
        ),
        (
            "toolChoice outside toolConfig",
            json!({"messages": [user("hi")], "toolChoice": {"auto": {}}}),
            Rule::InvalidToolChoice,
            "inside toolConfig",
        ),
        (
            "toolChoice of a tool not offered",
            with_tools(plain.clone(), Some(json!({"tool": {"name": "get_time"}}))),
            Rule::InvalidToolChoice,
            "'get_time'",
        ),
        (
            "toolChoice with two choices",
            with_tools(plain.clone(), Some(json!({"auto": {}, "any": {}}))),
            Rule::InvalidToolChoice,
            "exactly one of auto, any and tool",
        ),
        (
            "toolChoice any with thinking",
            with_thinking(
                with_tools(plain.clone(), Some(json!({"any": {}}))),
                1024,
                None,
            ),
            Rule::ToolChoiceForcedWithThinking,
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
        (
            "toolChoice tool with thinking",
            with_thinking(
                with_tools(
                    plain.clone(),
                    Some(json!({"tool": {"name": "get_weather"}})),
                ),
                1024,
                None,
            ),
            Rule::ToolChoiceForcedWithThinking,
            "forces tool use",
        ),
        (
            "thinking with a tool turn that starts with text",
            with_thinking(
                tool_turn(json!([{"text": "Checking."}, call()])),
                1024,
                None,
            ),
            Rule::MissingReasoningBeforeToolUse,
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`",
        ),
        (
            "thinking with a tool turn that starts with the call",
            with_thinking(tool_turn(json!([call()])), 1024, None),
            Rule::MissingReasoningBeforeToolUse,
            "but found `tool_use`",
        ),
        (
            "image format bmp",
            user_blocks(json!([{"text": "?"}, image("bmp", bytes(b"BM"))])),
            Rule::UnsupportedMediaFormat,
            "[png, jpeg, gif, webp]",
        ),
        (
            "document format exe",
            user_blocks(json!([{"text": "?"}, document("exe", "Tool", bytes(b"MZ"))])),
            Rule::UnsupportedMediaFormat,
            "[pdf, csv, doc, docx, xls, xlsx, html, txt, md]",
        ),
        (
            "document name with a dot",
            user_blocks(json!([{"text": "?"}, document("pdf", "report.pdf", bytes(b"%PDF"))])),
            Rule::InvalidDocumentName,
            "can only contain alphanumeric characters",
        ),
        (
            "document name with two spaces",
            user_blocks(json!([{"text": "?"}, document("pdf", "Q1  report", bytes(b"%PDF"))])),
            Rule::InvalidDocumentName,
            "more than one consecutive whitespace",
        ),
        (
            "source with bytes and s3Location",
            user_blocks(
                json!([{"text": "?"}, image("png", json!({"bytes": "eA==", "s3Location": {"uri": "s3://b/k"}}))]),
            ),
            Rule::InvalidMediaSource,
            "exactly one of bytes and s3Location",
        ),
        (
            "empty source",
            user_blocks(json!([{"text": "?"}, image("png", json!({}))])),
            Rule::InvalidMediaSource,
            "give one of bytes and s3Location",
        ),
        (
            "bytes not base64",
            user_blocks(json!([{"text": "?"}, image("png", json!({"bytes": "not base64!"}))])),
            Rule::InvalidMediaSource,
            "not valid base64",
        ),
        (
            "s3Location over https",
            user_blocks(
                json!([{"text": "?"}, document("pdf", "Doc", s3("https://bucket.s3.amazonaws.com/k"))]),
            ),
            Rule::InvalidMediaSource,
            "must be an s3:// URI",
        ),
        (
            "image over 3.75 MB",
            user_blocks(json!([{"text": "?"}, image("png", bytes(&big_image))])),
            Rule::MediaTooLarge,
            "3932161 bytes, more than the 3.75 MB",
        ),
        (
            "document over 4.5 MB",
            user_blocks(json!([{"text": "?"}, document("pdf", "Big", bytes(&big_document))])),
            Rule::MediaTooLarge,
            "more than the 4.5 MB",
        ),
        (
            "twenty-one images",
            user_blocks(Value::Array(
                std::iter::once(json!({"text": "Many."}))
                    .chain((0..21).map(|_| image("png", bytes(b"x"))))
                    .collect(),
            )),
            Rule::TooManyMedia,
            "21 images",
        ),
        (
            "six documents",
            user_blocks(Value::Array(
                std::iter::once(json!({"text": "Many."}))
                    .chain((0..6).map(|i| document("txt", &format!("Doc {i}"), bytes(b"x"))))
                    .collect(),
            )),
            Rule::TooManyMedia,
            "6 documents",
        ),
        (
            "guardrail without an identifier",
            with_guardrail(
                plain.clone(),
                json!({"guardrailIdentifier": "", "guardrailVersion": "1"}),
            ),
            Rule::InvalidGuardrailConfig,
            "'guardrailConfig.guardrailIdentifier'",
        ),
        (
            "guardrail without a version",
            with_guardrail(plain.clone(), json!({"guardrailIdentifier": "gr"})),
            Rule::InvalidGuardrailConfig,
            "Value null at 'guardrailConfig.guardrailVersion'",
        ),
        (
            "guardrail version not a number",
            with_guardrail(
                plain.clone(),
                json!({"guardrailIdentifier": "gr", "guardrailVersion": "v1"}),
            ),
            Rule::InvalidGuardrailConfig,
            "(([1-9][0-9]{0,7})|(DRAFT))",
        ),
        (
            "guardrail trace on",
            with_guardrail(
                plain.clone(),
                json!({"guardrailIdentifier": "gr", "guardrailVersion": "1", "trace": "on"}),
            ),
            Rule::InvalidGuardrailConfig,
            "[enabled, disabled, enabled_full]",
        ),
        (
            "guardrail stream mode fast",
            with_guardrail(
                plain,
                json!({"guardrailIdentifier": "gr", "guardrailVersion": "1", "streamProcessingMode": "fast"}),
            ),
            Rule::InvalidGuardrailConfig,
            "[sync, async]",
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn requests_within_the_rules_are_answered_by_both_operations() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        for (name, body) in accepted_cases() {
            let whole = converse(&url, MODEL, &body).await;
            assert_eq!(whole.status, 200, "{name}: {:?}", whole.body);
            let streamed = converse_stream(&url, MODEL, &body).await;
            assert_eq!(streamed.status, 200, "{name} (stream): {:?}", streamed.json);
            assert_eq!(streamed.joined(0, "/text"), "fine", "{name}");
            for recorded in standin.requests().iter().rev().take(2) {
                assert!(recorded.violation.is_none(), "{name}");
                assert_eq!(recorded.body, body, "{name}");
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn requests_breaking_a_rule_get_a_validation_exception_from_both_operations() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        for (name, body, rule, fragment) in rejected_cases() {
            let whole = converse(&url, MODEL, &body).await;
            assert_eq!(whole.status, 400, "{name}: {:?}", whole.body);
            assert_eq!(
                whole.header("x-amzn-errortype"),
                Some("ValidationException")
            );
            let message = whole.body["message"].as_str().unwrap().to_owned();
            assert!(message.contains(fragment), "{name}: {message}");

            let streamed = converse_stream(&url, MODEL, &body).await;
            assert_eq!(streamed.status, 400, "{name} (stream)");
            assert_eq!(
                streamed.header("x-amzn-errortype"),
                Some("ValidationException")
            );
            assert_eq!(streamed.json["message"], message.as_str(), "{name}");

            for recorded in standin.requests().iter().rev().take(2) {
                let violation = recorded.violation.as_ref().unwrap();
                assert_eq!(violation.rule(), rule, "{name}");
                assert_eq!(violation.message(), message, "{name}");
                assert_eq!(recorded.body, body, "{name}: recorded as sent");
            }
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_demo_model_keeps_a_thinking_conversation_within_the_rules() {
    bounded(async {
        let standin = ConverseStandIn::demo().await.unwrap();
        let url = standin.endpoint_url();
        let mut messages = vec![user("What's the weather in Seattle?")];
        let mut stop_reasons = Vec::new();
        for _ in 0..4 {
            let body = with_thinking(
                with_tools(json!({"messages": messages}), None),
                2048,
                Some(4096),
            );
            let reply = converse(&url, MODEL, &body).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            let message = reply.body["output"]["message"].clone();
            assert!(
                message["content"][0]["reasoningContent"]["reasoningText"]["signature"].is_string(),
                "{message}"
            );
            messages.push(message.clone());
            stop_reasons.push(reply.body["stopReason"].clone());
            if reply.body["stopReason"] != "tool_use" {
                break;
            }
            let results: Vec<Value> = message["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|block| block.get("toolUse"))
                .map(|call| json!({"toolResult": {"toolUseId": call["toolUseId"], "content": [{"json": {"temp_c": 12}}]}}))
                .collect();
            messages.push(json!({"role": "user", "content": results}));
        }
        assert_eq!(stop_reasons, [json!("tool_use"), json!("end_turn")]);
        assert!(standin.requests().iter().all(|r| r.violation.is_none()));
    })
    .await;
}
