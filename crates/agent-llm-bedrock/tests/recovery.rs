//! Recovery from Bedrock's refusals, end to end: the whole agent on the real client against the
//! Converse stand-in, told to refuse a feature the client adds on its own with Bedrock's own
//! error (`ConverseStandIn::refuse_once`, `refuse_always`).
//!
//! A refusal of such a feature drops it for that model id: the call is made once more without
//! it (before any tool runs, so nothing runs twice), the process remembers it (later calls,
//! later runs, other `BedrockModel`s of the same id leave it out), a warning is logged once
//! through `tracing`, and the run reports it (the `FeatureDropped` event, and the run's own
//! trace, `RunResult::reasoning.dropped_features`).
//! The same refusal of a feature the user set explicitly is returned, typed
//! (`ModelErrorKind::Unsupported`), naming the setting, after one request.
//!
//! What the client learns is kept per model id for the whole process, so every test here uses
//! model ids of its own (ids that resolve to the same row of the capability table).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion"
)]

mod common;

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use agent_core::{
    AgentEvent, Message, ModelErrorKind, NoEvents, RunResult, Tool, ToolChoice, ToolSet,
};
use agent_llm_bedrock::{BedrockModel, CachePoints, PromptCaching};
use agent_loop::{AgentLoop, FailedRun, RunError, RunInput, StructuredAnswer};
use agent_testkit::{ConverseStandIn, OptionalFeature, Policy, RecordedRequest, Rule};
use common::{Events, Mode, POLICY, Weather};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

const LIMIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------
// The warnings logged through `tracing`, captured for the whole process.

/// A warning of this crate: the fields it was logged with.
#[derive(Debug, Clone, Default)]
struct Warning {
    model_id: String,
    feature: String,
    message: String,
}

static WARNINGS: Mutex<Vec<Warning>> = Mutex::new(Vec::new());

struct CaptureWarnings;

impl Visit for Warning {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "feature" => value.clone_into(&mut self.feature),
            "message" => value.clone_into(&mut self.message),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "model_id" => self.model_id = text,
            "feature" => self.feature = text.trim_matches('"').to_owned(),
            "message" => self.message = text,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() == tracing::Level::WARN
            && metadata.target().starts_with("agent_llm_bedrock")
        {
            let mut warning = Warning::default();
            event.record(&mut warning);
            WARNINGS.lock().unwrap().push(warning);
        }
    }
}

/// Installs the capture, once for the process (tests run on several threads).
fn capture_warnings() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CaptureWarnings),
        )
        .unwrap();
    });
}

/// The warnings logged for `model_id` so far.
fn warnings_for(model_id: &str) -> Vec<Warning> {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|warning| warning.model_id == model_id)
        .cloned()
        .collect()
}

// ------------------------------------------------------------------------------------------

fn agent(model: BedrockModel, tools: Vec<Arc<dyn Tool>>) -> AgentLoop {
    AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap()).with_system_prompt(POLICY)
}

/// A run carrying `history`.
fn input(question: &str, history: &[Message]) -> RunInput {
    RunInput::new(question).with_history(history.to_vec())
}

/// The `FeatureDropped` events of a run, as `(step, feature)`.
fn dropped_events(events: &[AgentEvent]) -> Vec<(u32, String)> {
    events
        .iter()
        .filter_map(|event| match event {
            AgentEvent::FeatureDropped { step, feature, .. } => Some((*step, feature.clone())),
            _ => None,
        })
        .collect()
}

/// `body` without the `cachePoint` blocks of its messages.
fn without_message_cache_points(body: &Value) -> Value {
    let mut body = body.clone();
    for message in body["messages"].as_array_mut().unwrap() {
        message["content"]
            .as_array_mut()
            .unwrap()
            .retain(|block| block.get("cachePoint").is_none());
    }
    body
}

fn refused_by(request: &RecordedRequest, rule: Rule) -> bool {
    request.status == 400
        && request.error_type.as_deref() == Some("ValidationException")
        && request.violation.as_ref().map(|v| v.rule()) == Some(rule)
}

fn the_error(failed: FailedRun) -> agent_core::ModelError {
    match failed.error {
        RunError::Model(error) => error,
        other => panic!("not a model error: {other}"),
    }
}

/// The checks every recovery shares, for one run whose first call was refused once: two
/// requests for the first call (the refusal, then the same request without the feature), one
/// `FeatureDropped` event on step 1 naming `feature` with Bedrock's words and the model id.
///
/// The run's own trace (`RunResult::reasoning.dropped_features`) is checked by
/// [`the_runs_trace_records_the_dropped_feature`].
fn assert_dropped_once(
    what: &str,
    result: &RunResult,
    events: &[AgentEvent],
    requests: &[RecordedRequest],
    feature: &str,
    rule: Rule,
) {
    assert!(result.is_answered(), "{what}: {:?}", result.outcome);
    assert!(
        refused_by(&requests[0], rule),
        "{what}: the first request is refused: {:?}",
        requests[0]
    );
    common::assert_all_taken(what, &requests[1..]);
    assert_eq!(
        dropped_events(events),
        [(1, feature.to_owned())],
        "{what}: one FeatureDropped, on the first call"
    );
    let refusal = requests[0].violation.as_ref().unwrap().message();
    let reasons = Events::dropped(events);
    assert!(
        reasons[0].1.contains(refusal) && reasons[0].1.contains(&requests[0].model_id),
        "{what}: the event names the model and Bedrock's words: {}",
        reasons[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cache_checkpoint_is_dropped_once_and_never_sent_again_for_that_model() {
    capture_warnings();
    common::bounded(LIMIT, async {
        // Two ids of Nova Pro, one per mode: the client learns per model id.
        for (mode, model_id) in [
            (Mode::Streaming, "us.amazon.nova-pro-v1:0"),
            (Mode::Converse, "amazon.nova-pro-v1:0"),
        ] {
            let what = format!("{model_id} ({mode:?})");
            let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
            // A Nova that takes no checkpoint in messages at all.
            standin.refuse_always(OptionalFeature::CachePointInMessages);
            let weather = Weather::default();
            let model = mode
                .apply(common::builder(&standin, model_id))
                .build()
                .await
                .unwrap();
            let events = Events::default();
            let result = agent(model, vec![Arc::new(weather.clone())])
                .run(input("What's the weather in Oslo?", &[]), &events)
                .await
                .unwrap();
            let events = events.take();
            let requests = standin.requests();
            assert_dropped_once(
                &what,
                &result,
                &events,
                &requests,
                "cache_point.messages",
                Rule::CachePointNotPermitted,
            );
            assert_eq!(weather.calls(), 1, "{what}: the tool ran once");
            assert_eq!(
                requests.len(),
                3,
                "{what}: refused, retried, after the tool"
            );
            assert!(!common::message_cache_points(&requests[0].body).is_empty());
            assert_eq!(
                requests[1].body,
                without_message_cache_points(&requests[0].body),
                "{what}: the retry is the same request without the checkpoints in messages"
            );
            for request in &requests[1..] {
                assert!(
                    common::message_cache_points(&request.body).is_empty()
                        && common::has_cache_point(&request.body["system"]),
                    "{what}: the system prompt keeps its checkpoint, the messages get none: {}",
                    request.body
                );
            }
            let warnings = warnings_for(model_id);
            assert_eq!(warnings.len(), 1, "{what}: one warning: {warnings:?}");
            assert_eq!(warnings[0].feature, "cache_point.messages");

            // A later run, on another model value of the same id: the checkpoints stay out, no
            // refusal, nothing dropped, no new warning.
            standin.clear_requests();
            let model = mode
                .apply(common::builder(&standin, model_id))
                .build()
                .await
                .unwrap();
            let events = Events::default();
            let again = agent(model, vec![Arc::new(weather.clone())])
                .run(
                    input("And in Lima?", &[result.messages.clone()].concat()),
                    &events,
                )
                .await
                .unwrap();
            assert!(again.is_answered());
            let requests = standin.requests();
            common::assert_all_taken(&format!("{what}, run 2"), &requests);
            assert!(
                requests
                    .iter()
                    .all(|r| common::message_cache_points(&r.body).is_empty()),
                "{what}: remembered"
            );
            assert!(again.reasoning.dropped_features.is_empty());
            assert!(dropped_events(&events.take()).is_empty());
            assert_eq!(warnings_for(model_id).len(), 1, "{what}: warned once only");
            assert_eq!(weather.calls(), 2);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_greedy_decoding_is_dropped_once_even_when_bedrock_would_take_it_again() {
    capture_warnings();
    common::bounded(LIMIT, async {
        for (mode, model_id) in [
            (
                Mode::Streaming,
                "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
            ),
            (
                Mode::Converse,
                "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            ),
        ] {
            let what = format!("{model_id} ({mode:?})");
            let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
            // Refused once only: the client must still leave it out from then on.
            standin.refuse_once(OptionalFeature::AdditionalInferenceConfig);
            let weather = Weather::default();
            let model = mode
                .apply(common::builder(&standin, model_id))
                .build()
                .await
                .unwrap();
            let events = Events::default();
            let result = agent(model, vec![Arc::new(weather.clone())])
                .run(input("What's the weather in Paris?", &[]), &events)
                .await
                .unwrap();
            let requests = standin.requests();
            assert_dropped_once(
                &what,
                &result,
                &events.take(),
                &requests,
                "greedy_tool_decoding",
                Rule::AdditionalFieldNotPermitted,
            );
            assert_eq!(weather.calls(), 1, "{what}: the tool ran once");
            assert_eq!(
                requests[0].body["additionalModelRequestFields"],
                json!({"inferenceConfig": {"topK": 1}}),
                "{what}: Nova's tool guide's greedy decoding, sent on the client's own"
            );
            for request in &requests[1..] {
                assert!(
                    request.body.get("additionalModelRequestFields").is_none(),
                    "{what}: {}",
                    request.body
                );
            }
            let warnings = warnings_for(model_id);
            assert_eq!(warnings.len(), 1, "{what}: {warnings:?}");
            assert_eq!(warnings[0].feature, "greedy_tool_decoding");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_typed_answer_tool_choice_is_dropped_and_the_answer_still_comes() {
    capture_warnings();
    common::bounded(LIMIT, async {
        for (mode, model_id) in [
            (
                Mode::Streaming,
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (Mode::Converse, "anthropic.claude-sonnet-4-20250514-v1:0"),
        ] {
            let what = format!("{model_id} ({mode:?})");
            let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
            standin.refuse_always(OptionalFeature::ForcedToolChoice);
            let model = mode
                .apply(common::builder(&standin, model_id))
                .build()
                .await
                .unwrap();
            let structured = || {
                let mut input = input("Which city should I visit, Oslo or Lima?", &[]);
                input.structured = Some(StructuredAnswer::new(
                    "final_answer",
                    "The answer.",
                    json!({
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"]
                    }),
                    2,
                    Arc::new(|_| Ok(())),
                ));
                input
            };
            let events = Events::default();
            let result = agent(model.clone(), Vec::new())
                .run(structured(), &events)
                .await
                .unwrap();
            let requests = standin.requests();
            assert_dropped_once(
                &what,
                &result,
                &events.take(),
                &requests,
                "tool_choice",
                Rule::ToolChoiceUnsupported,
            );
            assert!(result.structured.is_some(), "{what}: {result:?}");
            assert_eq!(
                requests[0].body["toolConfig"]["toolChoice"],
                json!({"any": {}})
            );
            assert!(requests[1].body["toolConfig"].get("toolChoice").is_none());
            assert_eq!(warnings_for(model_id).len(), 1, "{what}");

            // Remembered for the next typed answer.
            standin.clear_requests();
            let again = agent(model, Vec::new())
                .run(structured(), &NoEvents)
                .await
                .unwrap();
            assert!(again.structured.is_some() && again.reasoning.dropped_features.is_empty());
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert!(
                requests
                    .iter()
                    .all(|r| r.body["toolConfig"].get("toolChoice").is_none())
            );
            assert_eq!(warnings_for(model_id).len(), 1, "{what}: warned once only");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_refusal_on_the_retry_is_returned_not_retried_again() {
    capture_warnings();
    common::bounded(LIMIT, async {
        let model_id = "us.amazon.nova-lite-v1:0";
        let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
        standin.refuse_always(OptionalFeature::CachePointInMessages);
        standin.refuse_always(OptionalFeature::AdditionalInferenceConfig);
        let weather = Weather::default();
        let model = common::builder(&standin, model_id).build().await.unwrap();
        let failed = agent(model, vec![Arc::new(weather.clone())])
            .run(input("What's the weather in Quito?", &[]), &NoEvents)
            .await
            .unwrap_err();
        let requests = standin.requests();
        assert_eq!(requests.len(), 2, "one retry, never more: {requests:?}");
        assert!(refused_by(&requests[0], Rule::CachePointNotPermitted));
        assert!(refused_by(&requests[1], Rule::AdditionalFieldNotPermitted));
        assert_eq!(weather.calls(), 0, "no tool ran");
        let error = the_error(failed);
        assert_eq!(error.kind(), ModelErrorKind::Validation, "{error}");
        assert!(
            error.message().contains("extraneous key [inferenceConfig]"),
            "Bedrock's own words: {error}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_setting_refused_the_same_way_is_returned_typed_after_one_request() {
    capture_warnings();
    common::bounded(LIMIT, async {
        // Checkpoints in messages the user placed (`PromptCaching::On`) on Nova.
        let model_id = "eu.amazon.nova-pro-v1:0";
        let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
        standin.refuse_always(OptionalFeature::CachePointInMessages);
        let weather = Weather::default();
        let explicit = common::builder(&standin, model_id)
            .region("eu-west-1")
            .prompt_caching(PromptCaching::On(CachePoints {
                system: true,
                tools: false,
                history: true,
            }))
            .build()
            .await
            .unwrap();
        let failed = agent(explicit, vec![Arc::new(weather.clone())])
            .run(input("What's the weather in Osaka?", &[]), &NoEvents)
            .await
            .unwrap_err();
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "sent once: {requests:?}");
        assert!(refused_by(&requests[0], Rule::CachePointNotPermitted));
        assert_eq!(weather.calls(), 0);
        assert!(failed.reasoning.dropped_features.is_empty());
        let error = the_error(failed);
        assert_eq!(error.kind(), ModelErrorKind::Unsupported, "{error}");
        let message = error.message();
        assert!(
            message.contains("PromptCaching::On")
                && message.contains("explicitly")
                && message.contains(requests[0].violation.as_ref().unwrap().message()),
            "names the setting and Bedrock's words: {message}"
        );
        assert!(
            warnings_for(model_id).is_empty(),
            "nothing dropped, nothing to warn of"
        );
        // Nothing was learned from the user's own setting: checkpoints placed on the client's
        // own initiative still go in messages for this id.
        standin.stop_refusing();
        standin.clear_requests();
        let automatic = common::builder(&standin, model_id)
            .region("eu-west-1")
            .build()
            .await
            .unwrap();
        agent(automatic, vec![Arc::new(weather.clone())])
            .run(input("What's the weather in Osaka?", &[]), &NoEvents)
            .await
            .unwrap();
        assert!(!common::message_cache_points(&standin.requests()[0].body).is_empty());

        // A forced tool choice the user set (`with_tool_choice`) on Claude.
        let model_id = "eu.anthropic.claude-sonnet-4-20250514-v1:0";
        let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
        standin.refuse_always(OptionalFeature::ForcedToolChoice);
        let model = common::builder(&standin, model_id)
            .region("eu-west-1")
            .build()
            .await
            .unwrap();
        let failed = agent(model, vec![Arc::new(weather.clone())])
            .with_tool_choice(Some(ToolChoice::Any))
            .run(input("What's the weather in Perth?", &[]), &NoEvents)
            .await
            .unwrap_err();
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "sent once: {requests:?}");
        assert!(refused_by(&requests[0], Rule::ToolChoiceUnsupported));
        let error = the_error(failed);
        assert_eq!(error.kind(), ModelErrorKind::Unsupported, "{error}");
        assert!(
            error.message().contains("a forced tool choice")
                && error.message().contains("toolConfig.toolChoice.any"),
            "{error}"
        );
        assert!(warnings_for(model_id).is_empty());

        // The user's own `additionalModelRequestFields.inferenceConfig` on Nova.
        let model_id = "apac.amazon.nova-pro-v1:0";
        let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
        standin.refuse_always(OptionalFeature::AdditionalInferenceConfig);
        let model = common::builder(&standin, model_id)
            .region("ap-northeast-1")
            .additional_request_fields(json!({"inferenceConfig": {"topK": 5}}))
            .build()
            .await
            .unwrap();
        let failed = agent(model, vec![Arc::new(weather.clone())])
            .run(input("What's the weather in Lima?", &[]), &NoEvents)
            .await
            .unwrap_err();
        let requests = standin.requests();
        assert_eq!(requests.len(), 1, "sent once: {requests:?}");
        assert_eq!(
            requests[0].body["additionalModelRequestFields"],
            json!({"inferenceConfig": {"topK": 5}}),
            "the user's fields, as set"
        );
        let error = the_error(failed);
        assert_eq!(error.kind(), ModelErrorKind::Unsupported, "{error}");
        assert!(
            error.message().contains("additional_request_fields")
                && error.message().contains("extraneous key [inferenceConfig]"),
            "{error}"
        );
        assert!(warnings_for(model_id).is_empty());
        assert_eq!(
            weather.calls(),
            1,
            "only the automatic run above ran the tool"
        );
    })
    .await;
}

/// The run's trace (`RunResult::reasoning.dropped_features`) records a dropped feature as the
/// `FeatureDropped` event does (the loop folds the model call's events into it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_trace_records_the_dropped_feature() {
    common::bounded(LIMIT, async {
        let model_id = "us.amazon.nova-micro-v1:0";
        let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
        standin.refuse_once(OptionalFeature::CachePointInMessages);
        let model = common::builder(&standin, model_id).build().await.unwrap();
        let result = agent(model, Vec::new())
            .run(input("What should I pack for Oslo?", &[]), &NoEvents)
            .await
            .unwrap();
        let trace = &result.reasoning.dropped_features;
        assert_eq!(trace.len(), 1, "{trace:?}");
        assert_eq!(trace[0].feature, "cache_point.messages");
        assert_eq!(trace[0].step, 1);
        assert!(trace[0].reason.contains(model_id), "{}", trace[0].reason);
    })
    .await;
}
