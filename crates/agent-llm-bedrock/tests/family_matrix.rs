//! The whole agent as four model families: Amazon Nova Pro (the default), Claude Sonnet 4,
//! Llama 3.3 70B and Mistral Large, each with the client's defaults, streaming (the default)
//! and with Converse (`streaming(false)`), against the Converse stand-in playing that family
//! (its demo policy, the family's rules enforced, its prompt cache keeping count).
//!
//! Each test is one feature over the table of families and both modes: a tool conversation, a
//! typed answer, extended thinking, prompt caching, an image, a document, a guardrail. Where a
//! family takes the feature, every request must be taken (no rule broken, HTTP 200) and the run
//! answered; where it does not, the client's refusal is what is checked (a typed error before
//! anything is sent). A failure names the family, the mode and the feature.
//!
//! What each family takes is written in [`FAMILIES`] from the sources, and
//! `the_capability_table_says_what_the_matrix_expects` checks the client's capability table
//! says the same.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    ContentBlock, DocumentBlock, DocumentFormat, ImageBlock, ImageFormat, ModelErrorKind, NoEvents,
    RunOutcome, Tool, ToolSet,
};
use agent_llm_bedrock::families::ReasoningShape;
use agent_llm_bedrock::{BedrockConfigError, BedrockModel, Guardrail, ModelInfo, ReasoningEffort};
use agent_loop::{AgentLoop, RunError, RunInput, StructuredAnswer};
use agent_testkit::{ConverseStandIn, Policy, RecordedRequest, Reply};
use common::{CLAUDE_SONNET_4, LLAMA_3_3, MISTRAL_LARGE, Mode, NOVA_PRO, POLICY, Weather};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

/// A model family as the matrix expects it to behave.
#[derive(Debug, Clone, Copy)]
struct Family {
    name: &'static str,
    model_id: &'static str,
    /// Extended thinking can be asked for: Claude 3.7 and later
    /// (<https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html>);
    /// Nova 1 has no reasoning setting
    /// (<https://github.com/UKGovernmentBEIS/inspect_ai/issues/5301>), nor Llama 3.3 or
    /// Mistral Large (the features table).
    thinking: bool,
    /// Prompt caching: Claude Sonnet 4 and Nova
    /// (<https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>); Llama and
    /// Mistral have none.
    caching: bool,
    /// Images and documents (the features table,
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html>).
    images: bool,
    documents: bool,
    /// Tool use on ConverseStream: not Llama 3.3 nor Mistral Large
    /// (<https://github.com/earendil-works/pi/issues/3739>).
    tools_streaming: bool,
    /// `toolChoice: any` (a typed answer's forced tool): Claude, Nova, Mistral Large; not Llama
    /// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html>).
    tool_choice_any: bool,
}

const FAMILIES: [Family; 4] = [
    Family {
        name: "Amazon Nova Pro",
        model_id: NOVA_PRO,
        thinking: false,
        caching: true,
        images: true,
        documents: true,
        tools_streaming: true,
        tool_choice_any: true,
    },
    Family {
        name: "Claude Sonnet 4",
        model_id: CLAUDE_SONNET_4,
        thinking: true,
        caching: true,
        images: true,
        documents: true,
        tools_streaming: true,
        tool_choice_any: true,
    },
    Family {
        name: "Llama 3.3 70B",
        model_id: LLAMA_3_3,
        thinking: false,
        caching: false,
        images: false,
        documents: true,
        tools_streaming: false,
        tool_choice_any: false,
    },
    Family {
        name: "Mistral Large",
        model_id: MISTRAL_LARGE,
        thinking: false,
        caching: false,
        images: false,
        documents: true,
        tools_streaming: false,
        tool_choice_any: true,
    },
];

/// Each family in each mode, with a label for failures.
fn cases() -> impl Iterator<Item = (Family, Mode, String)> {
    FAMILIES.into_iter().flat_map(|family| {
        Mode::BOTH
            .into_iter()
            .map(move |mode| (family, mode, format!("{} ({mode:?})", family.name)))
    })
}

/// A stand-in with the demo policy, and the family's model on it with the defaults (and this
/// mode).
async fn setup(family: Family, mode: Mode) -> (ConverseStandIn, BedrockModel) {
    let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
    let model = mode
        .apply(common::builder(&standin, family.model_id))
        .build()
        .await
        .unwrap();
    (standin, model)
}

fn agent(model: BedrockModel, tools: Vec<Arc<dyn Tool>>) -> AgentLoop {
    AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap()).with_system_prompt(POLICY)
}

/// Which operation each request went to: ConverseStream where the mode streams and the family
/// streams what the request holds (tools only where it streams tool use), Converse otherwise.
fn assert_operations(what: &str, family: Family, mode: Mode, requests: &[RecordedRequest]) {
    for request in requests {
        let expected =
            mode == Mode::Streaming && (!request.has_tool_config() || family.tools_streaming);
        assert_eq!(
            request.streamed, expected,
            "{what}: request {} went to the wrong operation",
            request.index
        );
    }
}

#[test]
fn the_capability_table_says_what_the_matrix_expects() {
    for family in FAMILIES {
        let info = ModelInfo::resolve(family.model_id);
        let c = info.capabilities();
        let name = family.name;
        assert!(info.known.is_some(), "{name}: not in the table");
        assert_eq!(
            c.reasoning.value != ReasoningShape::None,
            family.thinking,
            "{name}: thinking"
        );
        assert_eq!(c.cache.value.any(), family.caching, "{name}: caching");
        assert_eq!(c.images.value, family.images, "{name}: images");
        assert_eq!(c.documents.value, family.documents, "{name}: documents");
        assert_eq!(
            c.tools_streaming.value, family.tools_streaming,
            "{name}: tools while streaming"
        );
        assert_eq!(
            c.tool_choice_any.value, family.tool_choice_any,
            "{name}: toolChoice any"
        );
        assert!(
            c.tools.value && c.guardrails.value,
            "{name}: tools, guardrails"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_conversation() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, tools");
            let (standin, model) = setup(family, mode).await;
            let weather = Weather::default();
            let result = agent(model, vec![Arc::new(weather.clone())])
                .run(RunInput::new("What's the weather in Oslo?"), &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert!(result.is_answered(), "{what}: {:?}", result.outcome);
            assert!(
                result.response.contains("Oslo"),
                "{what}: {}",
                result.response
            );
            assert_eq!(weather.calls(), 1, "{what}: the tool ran once");
            let requests = standin.requests();
            assert_eq!(requests.len(), 2, "{what}: the tool call, then the answer");
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_answer() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, typed answer");
            let (standin, model) = setup(family, mode).await;
            let mut input = RunInput::new("Which city should I visit in June, Oslo or Lima?");
            input.structured = Some(StructuredAnswer::new(
                "final_answer",
                "The answer: a city.",
                json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }),
                2,
                Arc::new(|answer| match answer["city"].as_str() {
                    Some(city) if !city.is_empty() => Ok(()),
                    _ => Err("`city` must be a city's name".to_owned()),
                }),
            ));
            let result = agent(model, Vec::new())
                .run(input, &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            let answer = result
                .structured
                .as_ref()
                .unwrap_or_else(|| panic!("{what}"));
            assert!(answer["city"].is_string(), "{what}: {answer}");
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
            // The answer tool is forced where the family takes a forced choice; elsewhere the
            // instruction in the system prompt does the work.
            let choice = &requests[0].body["toolConfig"]["toolChoice"];
            if family.tool_choice_any {
                assert_eq!(*choice, json!({"any": {}}), "{what}");
            } else {
                assert!(choice.is_null(), "{what}: {choice}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_thinking() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, thinking");
            let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
            let asked = mode
                .apply(common::builder(&standin, family.model_id))
                .thinking(2048)
                .build()
                .await;
            if !family.thinking {
                // Refused by the client, typed, naming the table's source; nothing is sent.
                for refused in [
                    asked.map(drop),
                    mode.apply(common::builder(&standin, family.model_id))
                        .reasoning_effort(ReasoningEffort::Low)
                        .build()
                        .await
                        .map(drop),
                ] {
                    match refused {
                        Err(BedrockConfigError::Unsupported {
                            what: setting,
                            reference,
                            ..
                        }) => {
                            assert_eq!(setting, "extended thinking", "{what}");
                            assert_eq!(
                                reference,
                                ModelInfo::resolve(family.model_id)
                                    .capabilities()
                                    .reasoning
                                    .source,
                                "{what}"
                            );
                        }
                        other => panic!("{what}: {other:?}"),
                    }
                }
                assert!(standin.requests().is_empty(), "{what}");
                continue;
            }
            let weather = Weather::default();
            let result = agent(asked.unwrap(), vec![Arc::new(weather.clone())])
                .run(
                    RunInput::new("Should I bring sunglasses to Lima?"),
                    &NoEvents,
                )
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert!(result.is_answered(), "{what}: {:?}", result.outcome);
            assert!(
                result.reasoning.steps[0]
                    .thinking
                    .as_deref()
                    .is_some_and(|t| !t.is_empty()),
                "{what}: the reasoning is kept in the trace"
            );
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
            for request in &requests {
                assert_eq!(
                    request.body["additionalModelRequestFields"]["thinking"],
                    json!({"type": "enabled", "budget_tokens": 2048}),
                    "{what}"
                );
            }
            // The reasoning block goes back, signed, with the tool result.
            let second = requests[1].body["messages"][1]["content"][0].clone();
            assert!(
                second["reasoningContent"]["reasoningText"]["signature"].is_string(),
                "{what}: {second}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_caching() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, caching");
            let (standin, model) = setup(family, mode).await;
            let agent = agent(model, Vec::new());
            let first = agent
                .run(RunInput::new("What should I pack for Oslo?"), &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            let input = RunInput::new("And for Lima?").with_history(first.messages.clone());
            let second = agent
                .run(input, &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert!(first.is_answered() && second.is_answered(), "{what}");
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
            if family.caching {
                assert!(
                    first.usage.cache_write_input_tokens > 0,
                    "{what}: the first call writes the cache: {:?}",
                    first.usage
                );
                assert!(
                    second.usage.cache_read_input_tokens > 0,
                    "{what}: the second call reads it: {:?}",
                    second.usage
                );
                assert!(
                    requests
                        .iter()
                        .all(|r| common::has_cache_point(&r.body["system"])),
                    "{what}: a checkpoint after the system prompt"
                );
            } else {
                assert!(
                    requests.iter().all(|r| !common::any_cache_point(&r.body)),
                    "{what}: no checkpoint where the family takes none"
                );
                assert_eq!(
                    second.usage.cache_read_input_tokens + second.usage.cache_write_input_tokens,
                    0,
                    "{what}"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, image");
            let (standin, model) = setup(family, mode).await;
            let input = RunInput::with_content(vec![
                ContentBlock::Text("Where was this photo taken?".into()),
                ContentBlock::Image(ImageBlock::from_bytes(
                    ImageFormat::Png,
                    vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a],
                )),
            ]);
            let outcome = agent(model, Vec::new()).run(input, &NoEvents).await;
            if family.images {
                let result = outcome.unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
                assert!(result.is_answered(), "{what}");
                let requests = standin.requests();
                common::assert_all_taken(&what, &requests);
                assert_operations(&what, family, mode, &requests);
                assert_eq!(
                    requests[0].body["messages"][0]["content"][1]["image"]["format"], "png",
                    "{what}"
                );
            } else {
                let failed = outcome.err().unwrap_or_else(|| panic!("{what}: answered"));
                let RunError::Model(error) = &failed.error else {
                    panic!("{what}: {}", failed.error);
                };
                assert_eq!(error.kind(), ModelErrorKind::Unsupported, "{what}: {error}");
                assert!(error.message().contains("images"), "{what}: {error}");
                assert!(standin.requests().is_empty(), "{what}: nothing sent");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, document");
            assert!(
                family.documents,
                "{what}: every family of the matrix takes documents"
            );
            let (standin, model) = setup(family, mode).await;
            let input = RunInput::with_content(vec![
                ContentBlock::Text("When does my flight leave?".into()),
                ContentBlock::Document(DocumentBlock::from_bytes(
                    DocumentFormat::Txt,
                    "Trip notes",
                    b"Flight NW 123 leaves Oslo at 09:40 on 12 June.".to_vec(),
                )),
            ]);
            let result = agent(model, Vec::new())
                .run(input, &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert!(result.is_answered(), "{what}");
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
            assert_eq!(
                requests[0].body["messages"][0]["content"][1]["document"]["name"], "Trip notes",
                "{what}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail() {
    common::bounded(LIMIT, async {
        for (family, mode, what) in cases() {
            let what = format!("{what}, guardrail");
            let standin = ConverseStandIn::start(Policy::demo()).await.unwrap();
            let model = mode
                .apply(common::builder(&standin, family.model_id))
                .guardrail(Guardrail::new("travel-guardrail", "1"))
                .build()
                .await
                .unwrap();
            let agent = agent(model, Vec::new());
            // Let through, then blocked.
            let passed = agent
                .run(RunInput::new("What should I pack for Quito?"), &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert!(passed.is_answered(), "{what}: {:?}", passed.outcome);
            standin.push_reply(Reply::guardrail_intervened(
                "Sorry, I can't help with that.",
            ));
            let blocked = agent
                .run(RunInput::new("Something the guardrail blocks."), &NoEvents)
                .await
                .unwrap_or_else(|failed| panic!("{what}: {}", failed.error));
            assert_eq!(blocked.outcome, RunOutcome::GuardrailIntervened, "{what}");
            assert_eq!(blocked.response, "Sorry, I can't help with that.", "{what}");
            let requests = standin.requests();
            common::assert_all_taken(&what, &requests);
            assert_operations(&what, family, mode, &requests);
            for request in &requests {
                assert_eq!(
                    request.body["guardrailConfig"]["guardrailIdentifier"], "travel-guardrail",
                    "{what}"
                );
            }
        }
    })
    .await;
}
