//! The cost of a run does not grow with the session: 1,000 runs on DynamoDB Local, with the
//! requests, bytes and write units of each run's writes measured by the store's own counters.
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (set by `cargo xtask test`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic is a failed assertion.

mod common;

use agent_core::{ContentBlock, Message, ReasoningStep, Role, ToolInvocation, ToolResult, ToolUse};
use agent_session::{RunCommit, SessionStore, SessionVersion};
use agent_session_dynamo::StoreMetrics;
use common::*;
use serde_json::json;
use uuid::Uuid;

const TURNS: usize = 1000;

/// A typical run: a question, a tool call, its result and the answer.
fn turn(n: usize) -> Vec<Message> {
    vec![
        Message::user_text(format!(
            "What is the weather in city number {n}, and should I bring an umbrella tomorrow?"
        )),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text(
                    "<thinking>I need the forecast for that city.</thinking>".into(),
                ),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: format!("tooluse_{n:08}"),
                    name: "get_weather".into(),
                    input: json!({"city": format!("city {n}"), "days": 2}),
                }),
            ],
        },
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult(ToolResult::success(
                format!("tooluse_{n:08}"),
                json!({"today": {"temp_c": 14, "rain_mm": 0}, "tomorrow": {"temp_c": 11, "rain_mm": 6}}),
            ))],
        },
        Message::assistant_text(
            "Today is dry at 14°C. Tomorrow brings about 6 mm of rain at 11°C, so yes, bring an \
             umbrella.",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_costs_the_same_at_turn_1000_as_at_turn_1() {
    let store = store().await;
    let session = session("cost");
    let mut version = SessionVersion::EMPTY;
    let mut per_turn: Vec<StoreMetrics> = Vec::with_capacity(TURNS);
    let mut loads = Vec::new();
    for n in 1..=TURNS {
        // The agent loads at the start of a run; measured apart (it reads the history).
        if n == 1 || n == TURNS {
            let before = store.metrics();
            let snapshot = store.load(&session).await.unwrap();
            assert_eq!(snapshot.version, version);
            assert_eq!(snapshot.messages.len(), 4 * (n - 1));
            loads.push((n, store.metrics().since(&before)));
        }
        let messages = turn(n);
        let mut reasoning = reasoning(&session, &messages[0].text());
        reasoning.steps.push(ReasoningStep {
            step_number: 1,
            timestamp: Some(jiff::Timestamp::now()),
            thinking: Some("I need the forecast for that city.".into()),
            tools: vec![ToolInvocation {
                name: "get_weather".into(),
                tool_use_id: format!("tooluse_{n:08}"),
                inputs: json!({"city": format!("city {n}"), "days": 2}),
                result: Some(json!({"today": {"temp_c": 14}, "tomorrow": {"temp_c": 11}})),
                status: agent_core::ToolCallStatus::Succeeded,
                error: None,
                duration_ms: Some(120),
            }],
            usage: Default::default(),
        });
        let before = store.metrics();
        version = store
            .commit_run(
                &session,
                RunCommit {
                    run_id: Uuid::now_v7(),
                    base: version,
                    messages: &messages,
                },
            )
            .await
            .unwrap();
        store.save_reasoning(&session, &reasoning).await.unwrap();
        per_turn.push(store.metrics().since(&before));
    }

    println!("writes of one run (commit + reasoning save):");
    for n in [1, 2, 10, 100, 500, 1000] {
        println!("  turn {n:>4}: {}", per_turn[n - 1]);
    }
    for (n, load) in &loads {
        println!("load before turn {n:>4}: {load}");
    }
    let (first, last) = (&per_turn[0], &per_turn[TURNS - 1]);
    // Turn 1 also creates the heads and looks for Python data: compare with turn 2 too.
    for (label, base) in [("turn 1", first), ("turn 2", &per_turn[1])] {
        assert!(
            last.requests as f64 <= 1.2 * base.requests as f64,
            "requests at turn {TURNS}: {} vs {label}: {}",
            last.requests,
            base.requests
        );
        assert!(
            last.request_bytes as f64 <= 1.2 * base.request_bytes as f64,
            "bytes sent at turn {TURNS}: {} vs {label}: {}",
            last.request_bytes,
            base.request_bytes
        );
        assert!(
            last.write_capacity_units <= 1.2 * base.write_capacity_units,
            "write units reported at turn {TURNS}: {} vs {label}: {}",
            last.write_capacity_units,
            base.write_capacity_units
        );
        assert!(
            last.estimated_write_units as f64 <= 1.2 * base.estimated_write_units as f64,
            "write units by the pricing rules at turn {TURNS}: {} vs {label}: {}",
            last.estimated_write_units,
            base.estimated_write_units
        );
    }
    // Reading the whole history of 1,000 runs: one Query page per MB.
    let (_, last_load) = loads.last().unwrap();
    let megabytes = last_load.response_bytes as f64 / 1_048_576.0;
    let pages = last_load.operations.get("Query").copied().unwrap_or(0);
    assert!(
        pages as f64 <= megabytes.ceil().max(1.0),
        "{pages} pages for {megabytes:.2} MB"
    );
}
