//! What the end-to-end benchmarks share: the environment of their child processes, the
//! stand-in they run in the parent, and the bare SDK call they compare with. The SDK settings,
//! the report, `/proc` counters and child processes are `bench-support`'s.

#![allow(dead_code)] // Not every benchmark uses every helper.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agent_testkit::{ConverseStandIn, Policy, Reply};
use bench_support::aws::REGION;
use jiff::Timestamp;
use minimalagent::bedrock::aws_sdk_bedrockruntime::{Client, types as sdk};
use minimalagent::core::time_line;
use tokio::runtime::Runtime;

/// Environment every child gets: loopback only, explicit region and dummy credentials, no
/// profile files, no instance-metadata probe.
pub(crate) fn sdk_child_env(bedrock_endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ACCESS_KEY_ID", "minimalagent".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "minimalagent".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/minimalagent-bench".to_owned(),
        ),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            bedrock_endpoint.to_owned(),
        ),
    ]
}

/// The Converse stand-in, answering every request with `reply`, on a Tokio runtime of its own
/// (`workers` threads named `standin`, whose CPU a benchmark may read). The runtime must outlive
/// the stand-in: shut the stand-in down on it.
pub(crate) fn start_standin(workers: usize, reply: Reply) -> (Runtime, ConverseStandIn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("standin")
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let standin = runtime
        .block_on(ConverseStandIn::start(Policy::always(reply)))
        .expect("the Converse stand-in starts");
    (runtime, standin)
}

/// Runs `work` while a thread forgets the requests the stand-in records, every 200 ms, so that
/// its memory stays flat however many requests the work makes.
pub(crate) fn forgetting_requests<T>(standin: &ConverseStandIn, work: impl FnOnce() -> T) -> T {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                standin.clear_requests();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let result = work();
        stop.store(true, Ordering::Relaxed);
        result
    })
}

/// A user turn as the agent writes it: the query, then the turn's time line.
pub(crate) fn sdk_user_turn(query: &str) -> sdk::Message {
    sdk::Message::builder()
        .role(sdk::ConversationRole::User)
        .content(sdk::ContentBlock::Text(query.to_owned()))
        .content(sdk::ContentBlock::Text(time_line(Timestamp::now())))
        .build()
        .expect("a user message")
}

/// An assistant turn of text.
pub(crate) fn sdk_assistant_text(text: String) -> sdk::Message {
    sdk::Message::builder()
        .role(sdk::ConversationRole::Assistant)
        .content(sdk::ContentBlock::Text(text))
        .build()
        .expect("an assistant message")
}

/// The bare SDK call with the request the agent sends: `converse_stream`, every event read with
/// the SDK's receiver, the answer's text gathered into the assistant message the conversation
/// continues with. `None` when the call or its stream failed.
pub(crate) async fn bare_converse_stream(
    client: &Client,
    model_id: &str,
    messages: Vec<sdk::Message>,
    system: Option<&str>,
    max_tokens: i32,
) -> Option<sdk::Message> {
    let mut output = client
        .converse_stream()
        .model_id(model_id)
        .set_messages(Some(messages))
        .set_system(system.map(|text| vec![sdk::SystemContentBlock::Text(text.to_owned())]))
        .inference_config(
            sdk::InferenceConfiguration::builder()
                .max_tokens(max_tokens)
                .build(),
        )
        .send()
        .await
        .ok()?;
    let mut text = String::new();
    while let Some(event) = output.stream.recv().await.ok()? {
        if let sdk::ConverseStreamOutput::ContentBlockDelta(delta) = event
            && let Some(sdk::ContentBlockDelta::Text(fragment)) = delta.delta
        {
            text.push_str(&fragment);
        }
    }
    Some(sdk_assistant_text(text))
}
