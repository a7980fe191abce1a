//! ConverseStream over HTTP: event-stream framing, deltas, tool inputs, reasoning, faults,
//! chunking, pauses, disconnects, guardrails and the prompt cache. Frames are decoded with
//! aws-smithy-eventstream, which checks their CRCs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic there is a failed assertion"
)]

mod common;

use std::future::Future;
use std::time::Duration;

use agent_testkit::{
    BedrockErrorKind, Chunking, ConverseStandIn, Policy, Reply, STANDIN_GUARDRAIL_ID,
    StreamErrorKind, StreamFault, StreamSettings,
};
use common::{StreamReply, converse, converse_stream, converse_stream_until};
use serde_json::{Value, json};

const MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// Bounds a test on Tokio's clock: paused in these tests, so the bound is virtual time and a
/// slow machine cannot trip it.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(600), test)
        .await
        .expect("the test took too long")
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"text": text}]})
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

fn question() -> Value {
    json!({"messages": [user("Weather in Seattle and Paris?")], "toolConfig": {"tools": [weather_tool()]}})
}

/// Every message is an event with Bedrock's headers, except an exception at the end.
fn assert_well_formed(reply: &StreamReply) {
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    assert!(reply.header("x-amzn-requestid").is_some());
    let events = reply.events();
    for (position, event) in events.iter().enumerate() {
        assert_eq!(event.content_type, "application/json");
        if event.message_type == "exception" {
            assert_eq!(position, events.len() - 1, "an exception ends the stream");
        } else {
            assert_eq!(event.message_type, "event");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_text_reply_streams_in_several_deltas() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("It is sunny in Seattle today.")])
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let reply = converse_stream(&url, MODEL, &json!({"messages": [user("Weather?")]})).await;
        assert_well_formed(&reply);
        assert!(reply.body_error.is_none());
        assert_eq!(reply.leftover, 0);

        let kinds = reply.kinds();
        assert_eq!(kinds.first().map(String::as_str), Some("messageStart"));
        assert_eq!(
            &kinds[kinds.len() - 3..],
            ["contentBlockStop", "messageStop", "metadata"]
        );
        assert_eq!(
            reply.payload("messageStart"),
            Some(json!({"role": "assistant"}))
        );
        // 29 characters, 8 per delta by default.
        let deltas = reply.deltas(0);
        assert_eq!(deltas.len(), 4);
        assert_eq!(deltas[0], json!({"text": "It is su"}));
        assert_eq!(reply.joined(0, "/text"), "It is sunny in Seattle today.");
        assert_eq!(
            reply.payload("contentBlockStop"),
            Some(json!({"contentBlockIndex": 0}))
        );
        assert!(
            reply.payload("contentBlockStart").is_none(),
            "text blocks have no start"
        );
        assert_eq!(
            reply.payload("messageStop"),
            Some(json!({"stopReason": "end_turn"}))
        );
        assert_eq!(
            reply.payload("metadata"),
            Some(json!({
                "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                "metrics": {"latencyMs": 0}
            }))
        );

        let recorded = standin.requests().pop().unwrap();
        assert!(recorded.streamed);
        assert!(recorded.succeeded());
        assert!(!recorded.client_disconnected);
        assert_eq!(recorded.model_id, MODEL);

        // Smaller deltas on request; the same reply over Converse is not streamed.
        standin.set_stream_settings(StreamSettings::default().with_text_delta_chars(3));
        standin.push_reply(Reply::text("abcdefgh"));
        let reply = converse_stream(&url, MODEL, &json!({"messages": [user("again")]})).await;
        assert_eq!(
            reply.deltas(0),
            [
                json!({"text": "abc"}),
                json!({"text": "def"}),
                json!({"text": "gh"})
            ]
        );
        standin.push_reply(Reply::text("abcdefgh"));
        let whole = converse(&url, MODEL, &json!({"messages": [user("again")]})).await;
        assert_eq!(
            whole.body["output"]["message"]["content"][0]["text"],
            "abcdefgh"
        );
        assert!(!standin.requests().pop().unwrap().streamed);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn parallel_tool_uses_stream_with_fragmented_inputs() {
    bounded(async {
        let calls = [
            ("get_weather", json!({"location": "Seattle"})),
            ("get_weather", json!({"location": "Paris"})),
        ];
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(Some("Two cities"), &calls),
            Reply::tool_use(None, &calls).with_interleaved_tool_inputs(),
        ])
        .await
        .unwrap();
        let url = standin.endpoint_url();

        let reply = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&reply);
        assert_eq!(reply.joined(0, "/text"), "<thinking>Two cities</thinking>");
        let starts: Vec<Value> = reply
            .events()
            .into_iter()
            .filter(|e| e.kind == "contentBlockStart")
            .map(|e| e.payload)
            .collect();
        assert_eq!(
            starts,
            [
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}}),
                json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather"}}}),
            ]
        );
        for (index, (_, input)) in [1, 2].into_iter().zip(&calls) {
            assert!(reply.deltas(index).len() >= 2, "block {index} is fragmented");
            let joined = reply.joined(index, "/toolUse/input");
            assert_eq!(&serde_json::from_str::<Value>(&joined).unwrap(), input);
        }
        assert_eq!(
            reply.payload("messageStop"),
            Some(json!({"stopReason": "tool_use"}))
        );
        // Block by block: every event of block 1 before any of block 2.
        let order: Vec<u64> = reply
            .events()
            .iter()
            .filter_map(|e| e.payload["contentBlockIndex"].as_u64())
            .filter(|index| *index > 0)
            .collect();
        assert!(order.windows(2).all(|pair| pair[0] <= pair[1]), "{order:?}");

        // Interleaved: both starts, then the deltas alternate, then both stops.
        let reply = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&reply);
        let order: Vec<(String, u64)> = reply
            .events()
            .into_iter()
            .filter_map(|e| Some((e.kind, e.payload["contentBlockIndex"].as_u64()?)))
            .collect();
        assert_eq!(order[0], ("contentBlockStart".to_owned(), 0));
        assert_eq!(order[1], ("contentBlockStart".to_owned(), 1));
        assert_eq!(order[2], ("contentBlockDelta".to_owned(), 0));
        assert_eq!(order[3], ("contentBlockDelta".to_owned(), 1));
        assert_eq!(order[4], ("contentBlockDelta".to_owned(), 0));
        assert_eq!(
            &order[order.len() - 2..],
            [
                ("contentBlockStop".to_owned(), 0),
                ("contentBlockStop".to_owned(), 1)
            ]
        );
        for (index, (_, input)) in [0, 1].into_iter().zip(&calls) {
            let joined = reply.joined(index, "/toolUse/input");
            assert_eq!(&serde_json::from_str::<Value>(&joined).unwrap(), input);
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reasoning_streams_as_text_signature_and_redacted_deltas() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("Sunny.")
            .with_reasoning("The user wants weather.", Some("c2lnbmF0dXJl"))
            .with_redacted_reasoning("ZW5jcnlwdGVk")])
        .await
        .unwrap();
        let reply = converse_stream(
            &standin.endpoint_url(),
            MODEL,
            &json!({"messages": [user("Weather?")]}),
        )
        .await;
        assert_well_formed(&reply);
        // Redacted first (added last), then the readable reasoning, then the text.
        assert_eq!(
            reply.deltas(0),
            [json!({"reasoningContent": {"redactedContent": "ZW5jcnlwdGVk"}})]
        );
        let reasoning = reply.deltas(1);
        assert!(reasoning.len() >= 3);
        assert_eq!(
            reply.joined(1, "/reasoningContent/text"),
            "The user wants weather."
        );
        assert_eq!(
            reasoning.last().unwrap(),
            &json!({"reasoningContent": {"signature": "c2lnbmF0dXJl"}})
        );
        assert_eq!(reply.joined(2, "/text"), "Sunny.");
        let stops = reply
            .kinds()
            .iter()
            .filter(|k| *k == "contentBlockStop")
            .count();
        assert_eq!(stops, 3);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn malformed_tool_input_and_max_tokens_inside_a_tool_use() {
    bounded(async {
        let calls = [
            ("get_weather", json!({"location": "Seattle"})),
            ("get_weather", json!({"location": "Paris"})),
        ];
        let standin = ConverseStandIn::scripted([
            Reply::tool_use(None, &calls).with_stream_fault(StreamFault::malformed_tool_input(1)),
            Reply::tool_use(Some("Two"), &calls)
                .with_stream_fault(StreamFault::max_tokens_in_tool_use(0)),
        ])
        .await
        .unwrap();
        let url = standin.endpoint_url();

        let reply = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&reply);
        let good = reply.joined(0, "/toolUse/input");
        assert!(serde_json::from_str::<Value>(&good).is_ok());
        let bad = reply.joined(1, "/toolUse/input");
        assert_eq!(bad, r#"{"location":"Paris",}"#);
        assert!(serde_json::from_str::<Value>(&bad).is_err());
        assert_eq!(
            reply.payload("messageStop"),
            Some(json!({"stopReason": "tool_use"}))
        );

        let reply = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&reply);
        let cut = reply.joined(1, "/toolUse/input");
        assert_eq!(cut, r#"{"location""#);
        let stops: Vec<Value> = reply
            .events()
            .into_iter()
            .filter(|e| e.kind == "contentBlockStop")
            .map(|e| e.payload)
            .collect();
        assert_eq!(
            stops,
            [json!({"contentBlockIndex": 0})],
            "only the text block stops"
        );
        assert!(reply.deltas(2).is_empty(), "nothing after the cut block");
        let kinds = reply.kinds();
        assert_eq!(&kinds[kinds.len() - 2..], ["messageStop", "metadata"]);
        assert_eq!(
            reply.payload("messageStop"),
            Some(json!({"stopReason": "max_tokens"}))
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn exception_events_of_every_kind_end_the_stream() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("unused")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});
        let expected = [
            "modelStreamErrorException",
            "throttlingException",
            "serviceUnavailableException",
            "internalServerException",
            "validationException",
        ];
        assert_eq!(StreamErrorKind::ALL.len(), expected.len());
        for (kind, exception_type) in StreamErrorKind::ALL.into_iter().zip(expected) {
            standin.push_reply(
                Reply::text("A long answer that never ends")
                    .with_stream_fault(StreamFault::exception_after(3, kind)),
            );
            let reply = converse_stream(&url, MODEL, &body).await;
            assert_well_formed(&reply);
            assert!(reply.body_error.is_none(), "the body ends cleanly");
            let events = reply.events();
            assert_eq!(events.len(), 4, "{exception_type}");
            let last = events.last().unwrap();
            assert_eq!(last.message_type, "exception");
            assert_eq!(last.kind, exception_type);
            assert_eq!(last.payload, json!({"message": kind.default_message()}));
            assert_eq!(events[0].kind, "messageStart");
            let recorded = standin.requests().pop().unwrap();
            assert_eq!(recorded.status, 200);
            assert!(!recorded.client_disconnected);
        }

        // A custom message, right at the start.
        standin.push_reply(Reply::text("x").with_stream_fault(StreamFault::Exception {
            after_events: 0,
            kind: StreamErrorKind::ModelStreamError,
            message: "The model went away.".to_owned(),
        }));
        let reply = converse_stream(&url, MODEL, &body).await;
        let events = reply.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].payload,
            json!({"message": "The model went away."})
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_connections_and_streams_without_message_stop() {
    bounded(async {
        let standin =
            ConverseStandIn::start(Policy::always(Reply::text("Twenty-four characters!!")))
                .await
                .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});

        // Between two messages: what was sent decodes, then the body breaks off.
        standin.push_reply(
            Reply::text("Twenty-four characters!!")
                .with_stream_fault(StreamFault::drop_connection_after(2)),
        );
        let reply = converse_stream(&url, MODEL, &body).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.body_error.is_some(),
            "the client sees the body break off"
        );
        assert_eq!(reply.messages.len(), 2);
        assert_eq!(reply.leftover, 0);
        assert!(!standin.requests().pop().unwrap().client_disconnected);

        // In the middle of a message: half a frame arrives.
        standin.push_reply(
            Reply::text("Twenty-four characters!!")
                .with_stream_fault(StreamFault::drop_connection_mid_message(3)),
        );
        let reply = converse_stream(&url, MODEL, &body).await;
        assert!(reply.body_error.is_some());
        assert_eq!(reply.messages.len(), 3);
        assert!(reply.leftover > 0, "half a message is left over");

        // No messageStop: the body ends cleanly after the last contentBlockStop.
        standin.push_reply(
            Reply::text("Twenty-four characters!!").with_stream_fault(StreamFault::NoMessageStop),
        );
        let reply = converse_stream(&url, MODEL, &body).await;
        assert_well_formed(&reply);
        assert!(reply.body_error.is_none());
        assert_eq!(
            reply.kinds().last().map(String::as_str),
            Some("contentBlockStop")
        );
        assert!(reply.payload("messageStop").is_none());
        assert!(reply.payload("metadata").is_none());

        // Faults do not touch Converse.
        standin.push_reply(
            Reply::text("whole").with_stream_fault(StreamFault::drop_connection_after(1)),
        );
        let whole = converse(&url, MODEL, &body).await;
        assert_eq!(whole.status, 200);
        assert_eq!(
            whole.body["output"]["message"]["content"][0]["text"],
            "whole"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn messages_are_split_across_http_chunks() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::tool_use(
            Some("a little thinking"),
            &[("get_weather", json!({"location": "Seattle"}))],
        )))
        .await
        .unwrap();
        let url = standin.endpoint_url();
        let whole_message_sizes = |reply: &StreamReply| -> Vec<usize> {
            let mut sizes = Vec::new();
            let mut at = 0;
            let bytes: Vec<u8> = reply.chunks.iter().flatten().copied().collect();
            while at < bytes.len() {
                let total = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                sizes.push(total);
                at += total;
            }
            sizes
        };

        // The default splits every second message, once inside its prelude.
        assert_eq!(standin.stream_settings().chunking, Chunking::SplitEvery(2));
        let split = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&split);
        let sizes = whole_message_sizes(&split);
        assert_eq!(sizes.len(), split.messages.len());
        assert!(
            split.chunks.len() > split.messages.len(),
            "{} chunks for {} messages",
            split.chunks.len(),
            split.messages.len()
        );
        assert!(
            split.chunks.iter().any(|chunk| chunk.len() == 5),
            "a cut inside a prelude"
        );

        // Fixed-size chunks straddle message boundaries; every frame still decodes.
        standin
            .set_stream_settings(StreamSettings::default().with_chunking(Chunking::FixedBytes(7)));
        let fixed = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&fixed);
        assert!(fixed.chunks.iter().all(|chunk| chunk.len() <= 7));
        assert_eq!(fixed.events(), split.events());

        standin
            .set_stream_settings(StreamSettings::default().with_chunking(Chunking::WholeMessages));
        let whole = converse_stream(&url, MODEL, &question()).await;
        assert_eq!(whole.events(), split.events());
        assert_eq!(whole.leftover, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn events_come_at_the_configured_pace_and_latency_counts_it() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("abcdefghijklmnop")])
            .await
            .unwrap();
        standin.set_latency(Duration::from_secs(2));
        standin.set_stream_event_delay(Duration::from_secs(1));
        assert_eq!(
            standin.stream_settings().event_delay,
            Duration::from_secs(1)
        );
        let started = tokio::time::Instant::now();
        let reply = converse_stream(
            &standin.endpoint_url(),
            MODEL,
            &json!({"messages": [user("hi")]}),
        )
        .await;
        let elapsed = started.elapsed();
        assert_well_formed(&reply);
        // messageStart, 2 deltas, stop, messageStop, metadata: 5 pauses after the latency.
        assert_eq!(reply.messages.len(), 6);
        assert!(elapsed >= Duration::from_secs(7), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
        assert_eq!(
            reply.payload("metadata").unwrap()["metrics"]["latencyMs"],
            7000
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_client_hanging_up_mid_stream_is_recorded() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("x".repeat(80))])
            .await
            .unwrap();
        standin.set_stream_event_delay(Duration::from_secs(1));
        let reply = converse_stream_until(
            &standin.endpoint_url(),
            MODEL,
            &json!({"messages": [user("hi")]}),
            Some(2),
        )
        .await;
        assert_eq!(reply.messages.len(), 2);
        // The stand-in notices when it next writes.
        let mut noticed = false;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if standin.requests()[0].client_disconnected {
                noticed = true;
                break;
            }
        }
        assert!(noticed, "the stand-in did not notice the client hang up");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn errors_before_the_stream_keep_the_http_error_shapes() {
    bounded(async {
        let standin = ConverseStandIn::scripted([Reply::text("fine")])
            .await
            .unwrap();
        let url = standin.endpoint_url();
        standin.fail_next(1, BedrockErrorKind::Throttling);
        let reply = converse_stream(&url, MODEL, &json!({"messages": [user("hi")]})).await;
        assert_eq!(reply.status, 429);
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ThrottlingException")
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            reply.json["message"],
            BedrockErrorKind::Throttling.default_message()
        );

        let reply = converse_stream(&url, MODEL, &json!({"messages": []})).await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ValidationException")
        );
        let recorded = standin.requests().pop().unwrap();
        assert!(recorded.streamed && recorded.violation.is_some());

        // The script's reply is still there for a valid request.
        let reply = converse_stream(&url, MODEL, &json!({"messages": [user("hi")]})).await;
        assert_eq!(reply.joined(0, "/text"), "fine");
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn policies_see_the_operation_and_the_demo_model_streams() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::from_fn(|request| {
            Reply::text(if request.streamed {
                "streamed"
            } else {
                "whole"
            })
        }))
        .await
        .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [user("hi")]});
        assert_eq!(
            converse_stream(&url, MODEL, &body).await.joined(0, "/text"),
            "streamed"
        );
        assert_eq!(
            converse(&url, MODEL, &body).await.body["output"]["message"]["content"][0]["text"],
            "whole"
        );

        standin.set_policy(Policy::demo());
        let reply = converse_stream(&url, MODEL, &question()).await;
        assert_well_formed(&reply);
        let start = reply.payload("contentBlockStart").unwrap();
        assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
        assert_eq!(start["start"]["toolUse"]["toolUseId"], "tooluse_1");
        let input: Value = serde_json::from_str(&reply.joined(1, "/toolUse/input")).unwrap();
        assert_eq!(input, json!({"location": "Seattle"}));
        let usage = &reply.payload("metadata").unwrap()["usage"];
        assert!(usage["inputTokens"].as_u64().unwrap() > 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn guardrail_interventions_carry_their_trace_in_both_operations() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::guardrail_intervened(
            "Sorry, I can't help with that.",
        )))
        .await
        .unwrap();
        let url = standin.endpoint_url();
        let body = json!({
            "messages": [user("Something forbidden")],
            "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"}
        });

        let whole = converse(&url, MODEL, &body).await;
        assert_eq!(whole.status, 200, "{:?}", whole.body);
        assert_eq!(whole.body["stopReason"], "guardrail_intervened");
        assert_eq!(
            whole.body["output"]["message"]["content"][0]["text"],
            "Sorry, I can't help with that."
        );
        let assessment = &whole.body["trace"]["guardrail"]["inputAssessment"][STANDIN_GUARDRAIL_ID];
        assert_eq!(assessment["contentPolicy"]["filters"][0]["action"], "BLOCKED");

        let streamed = converse_stream(&url, MODEL, &body).await;
        assert_well_formed(&streamed);
        assert_eq!(streamed.joined(0, "/text"), "Sorry, I can't help with that.");
        assert_eq!(
            streamed.payload("messageStop"),
            Some(json!({"stopReason": "guardrail_intervened"}))
        );
        assert_eq!(streamed.payload("metadata").unwrap()["trace"], whole.body["trace"]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_prompt_cache_writes_a_prefix_once_then_reads_it() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("ok")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let cache_point = json!({"cachePoint": {"type": "default"}});
        // Long enough for the models' minimum cache checkpoint (1,024 tokens for Claude
        // Sonnet 4, 1K for Nova): shorter prefixes are not cached.
        let instructions = "You are a meticulous weather assistant. ".repeat(120);
        let system = json!([{"text": instructions}, cache_point]);
        let first = json!({"system": system, "messages": [user("Seattle?")]});
        let second = json!({"system": system, "messages": [
            user("Seattle?"),
            {"role": "assistant", "content": [{"text": "Sunny."}]},
            user("And Paris?")
        ]});

        let reply = converse(&url, MODEL, &first).await;
        let usage = reply.body["usage"].clone();
        let written = usage["cacheWriteInputTokens"].as_u64().unwrap();
        assert!(written > 0);
        assert_eq!(usage["cacheReadInputTokens"], 0);
        assert_eq!(
            usage["totalTokens"].as_u64().unwrap(),
            usage["inputTokens"].as_u64().unwrap()
                + usage["outputTokens"].as_u64().unwrap()
                + written
        );

        // Same prefix, streamed: read from the cache, reported in the metadata.
        let reply = converse_stream(&url, MODEL, &second).await;
        let usage = reply.payload("metadata").unwrap()["usage"].clone();
        assert_eq!(usage["cacheReadInputTokens"].as_u64(), Some(written));
        assert_eq!(usage["cacheWriteInputTokens"], 0);

        // Another model has its own cache; clearing forgets every prefix.
        let reply = converse(&url, "amazon.nova-pro-v1:0", &first).await;
        assert_eq!(
            reply.body["usage"]["cacheWriteInputTokens"].as_u64(),
            Some(written)
        );
        standin.clear_prompt_cache();
        let reply = converse(&url, MODEL, &second).await;
        assert_eq!(
            reply.body["usage"]["cacheWriteInputTokens"].as_u64(),
            Some(written)
        );

        // Without cache points, or with the cache off, no cache counts.
        let reply = converse(&url, MODEL, &json!({"messages": [user("hi")]})).await;
        assert!(reply.body["usage"].get("cacheReadInputTokens").is_none());
        standin.set_prompt_cache(false);
        let reply = converse(&url, MODEL, &first).await;
        assert!(reply.body["usage"].get("cacheWriteInputTokens").is_none());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unknown_blocks_are_recorded_and_shutdown_cuts_a_stream() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("x".repeat(64))))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let body = json!({"messages": [{"role": "user", "content": [
            {"text": "What is in this clip?"},
            {"video": {"format": "mkv", "source": {"bytes": "AAAA"}}}
        ]}]});
        let reply = converse_stream(&url, MODEL, &body).await;
        assert_well_formed(&reply);
        let recorded = standin.requests().pop().unwrap();
        assert_eq!(recorded.body, body);
        assert!(recorded.messages().is_ok());

        standin.set_stream_event_delay(Duration::from_secs(10));
        let pending = tokio::spawn(async move { converse_stream(&url, MODEL, &body).await });
        while standin.request_count() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(15)).await;
        let started = tokio::time::Instant::now();
        standin.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        let reply = pending.await.unwrap();
        assert!(reply.body_error.is_some(), "the stream was cut");
        assert!(reply.messages.len() < 8);
    })
    .await;
}
