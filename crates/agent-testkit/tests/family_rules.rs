//! The per-model-family rules over HTTP: for each rule, a request the model's family rejects,
//! with the rule, the HTTP status, the error type and Bedrock's message; the same request
//! passing where the rule does not apply; valid requests per family; the Region rule; and the
//! behaviours (Claude's 4,096-token default, the prompt cache's minimum, the demo playing each
//! family).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic there is a failed assertion"
)]

mod common;

use std::future::Future;
use std::time::Duration;

use agent_testkit::{
    ConverseStandIn, ModelFamily, Policy, Reply, RequestTarget, Rule, check_converse_request,
    check_converse_request_for,
};
use common::{converse, converse_from, converse_stream};
use serde_json::{Value, json};

const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const NOVA: &str = "us.amazon.nova-pro-v1:0";
const NOVA_MICRO: &str = "us.amazon.nova-micro-v1:0";
const NOVA_2: &str = "us.amazon.nova-2-lite-v1:0";
const LLAMA: &str = "us.meta.llama3-3-70b-instruct-v1:0";
const MISTRAL_LARGE: &str = "mistral.mistral-large-2407-v1:0";
const MISTRAL_7B: &str = "mistral.mistral-7b-instruct-v0:2";
const DEEPSEEK_R1: &str = "us.deepseek.r1-v1:0";
const GPT_OSS: &str = "openai.gpt-oss-120b-1:0";
const PALMYRA: &str = "us.writer.palmyra-x5-v1:0";
const OPUS_4_7: &str = "global.anthropic.claude-opus-4-7";
const SONNET_4_5: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Bounds a test on Tokio's clock (paused: virtual time, immune to a slow machine).
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(600), test)
        .await
        .expect("the test took too long")
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"text": text}]})
}

fn ask(text: &str) -> Value {
    json!({"messages": [user(text)]})
}

fn weather_tool() -> Value {
    json!({"toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}
    }})
}

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn with_tools(mut body: Value) -> Value {
    body["toolConfig"] = json!({"tools": [weather_tool()]});
    body
}

/// A finished tool step: the assistant called `get_weather` with `id`, the user answers with
/// `result_blocks` (the `toolResult` first).
fn tool_turn(id: &str, assistant: Vec<Value>, result: Value, more: Vec<Value>) -> Value {
    let mut assistant_blocks = assistant;
    assistant_blocks.push(
        json!({"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"location": "Oslo"}}}),
    );
    let mut user_blocks = vec![json!({"toolResult": result})];
    user_blocks.extend(more);
    with_tools(json!({"messages": [
        user("Weather in Oslo?"),
        {"role": "assistant", "content": assistant_blocks},
        {"role": "user", "content": user_blocks}
    ]}))
}

fn result(id: &str) -> Value {
    json!({"toolUseId": id, "content": [{"text": "4C"}]})
}

/// Sends `body` for `model` (streamed or not) to a fresh stand-in and checks it is rejected
/// with `rule`, `status` (and its error type) and exactly `message`; checks that the check
/// function agrees.
async fn assert_rejected(
    model: &str,
    streamed: bool,
    body: &Value,
    rule: Rule,
    status: u16,
    message: &str,
) {
    let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
        .await
        .unwrap();
    let url = standin.endpoint_url();
    let (got_status, error_type, got_message) = if streamed {
        let reply = converse_stream(&url, model, body).await;
        let error_type = reply.header("x-amzn-errortype").map(str::to_owned);
        (reply.status, error_type, reply.json["message"].clone())
    } else {
        let reply = converse(&url, model, body).await;
        let error_type = reply.header("x-amzn-errortype").map(str::to_owned);
        (reply.status, error_type, reply.body["message"].clone())
    };
    let expected_type = match status {
        403 => "AccessDeniedException",
        _ => "ValidationException",
    };
    assert_eq!(got_status, status, "{model}: {got_message}");
    assert_eq!(error_type.as_deref(), Some(expected_type), "{model}");
    assert_eq!(got_message, message, "{model}");
    let recorded = standin.requests().pop().unwrap();
    let violation = recorded.violation.unwrap();
    assert_eq!(violation.rule(), rule, "{model}");
    assert_eq!(violation.error_kind().status(), status);
    assert_eq!(recorded.status, status);
    assert_eq!(recorded.region.as_deref(), Some("us-west-2"));
    let target = RequestTarget {
        model_id: model,
        streamed,
        region: Some("us-west-2"),
    };
    assert_eq!(
        check_converse_request_for(&target, body)
            .unwrap_err()
            .rule(),
        rule
    );
}

/// Sends `body` for `model` and checks it is answered (by Converse, or ConverseStream).
async fn assert_accepted(model: &str, streamed: bool, body: &Value) {
    let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
        .await
        .unwrap();
    let url = standin.endpoint_url();
    if streamed {
        let reply = converse_stream(&url, model, body).await;
        assert_eq!(reply.status, 200, "{model} (stream): {:?}", reply.json);
    } else {
        let reply = converse(&url, model, body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
    }
    let target = RequestTarget {
        model_id: model,
        streamed,
        region: None,
    };
    assert_eq!(check_converse_request_for(&target, body), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Amazon Nova

#[tokio::test(start_paused = true)]
async fn nova_rejects_a_cache_point_in_its_tools() {
    bounded(async {
        let mut body = ask("hi");
        body["toolConfig"] = json!({"tools": [weather_tool(), cache_point()]});
        for streamed in [false, true] {
            assert_rejected(
                NOVA,
                streamed,
                &body,
                Rule::CachePointNotPermitted,
                400,
                "Malformed input request: #/toolConfig/tools/1: extraneous key [cachePoint] is \
                 not permitted, please reformat your input and try again.",
            )
            .await;
        }
        // Claude takes it, and so does the family-agnostic check.
        assert_accepted(CLAUDE, true, &body).await;
        assert!(check_converse_request(&body).is_ok());
        // Nova takes checkpoints in system and messages.
        let fine = json!({
            "system": [{"text": "Be brief."}, cache_point()],
            "messages": [{"role": "user", "content": [{"text": "hi"}, cache_point()]}],
            "toolConfig": {"tools": [weather_tool()]}
        });
        assert_accepted(NOVA, true, &fine).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_rejects_a_cache_point_right_after_tool_results() {
    bounded(async {
        let body = tool_turn("t1", vec![], result("t1"), vec![cache_point()]);
        assert_rejected(
            NOVA_2,
            false,
            &body,
            Rule::CachePointNotPermitted,
            400,
            "Malformed input request: #/messages/2/content/1: extraneous key [cachePoint] is not \
             permitted, please reformat your input and try again.",
        )
        .await;
        assert_accepted(CLAUDE, false, &body).await;
        // Elsewhere in a tool turn it is fine.
        let later = tool_turn(
            "t1",
            vec![],
            result("t1"),
            vec![json!({"text": "Thanks."}), cache_point()],
        );
        assert_accepted(NOVA, false, &later).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_rejects_claude_thinking() {
    bounded(async {
        let mut body = ask("hi");
        body["additionalModelRequestFields"] =
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}});
        assert_rejected(
            NOVA,
            false,
            &body,
            Rule::InvalidReasoningConfig,
            400,
            "Malformed input request: #: extraneous key [thinking] is not permitted, please \
             reformat your input and try again.",
        )
        .await;
        assert_accepted(CLAUDE, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_1_rejects_a_reasoning_config() {
    bounded(async {
        let mut body = ask("hi");
        body["additionalModelRequestFields"] =
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}});
        assert_rejected(
            NOVA,
            false,
            &body,
            Rule::InvalidReasoningConfig,
            400,
            "Malformed input request: the provided reasoning config value is invalid, please \
             reformat your input and try again.",
        )
        .await;
        // Nova 2 takes it.
        assert_accepted(NOVA_2, true, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_2_takes_its_own_reasoning_config_shape() {
    bounded(async {
        let with = |config: Value, max_tokens: Option<u64>| {
            let mut body = ask("hi");
            body["additionalModelRequestFields"] = json!({"reasoningConfig": config});
            if let Some(max_tokens) = max_tokens {
                body["inferenceConfig"] = json!({"maxTokens": max_tokens});
            }
            body
        };
        for good in [
            with(json!({"type": "disabled"}), Some(1000)),
            with(
                json!({"type": "enabled", "maxReasoningEffort": "medium"}),
                Some(1000),
            ),
            with(
                json!({"type": "enabled", "maxReasoningEffort": "high"}),
                None,
            ),
        ] {
            assert_accepted(NOVA_2, false, &good).await;
        }
        for bad in [
            with(json!({"type": "on"}), None),
            with(
                json!({"type": "enabled", "maxReasoningEffort": "max"}),
                None,
            ),
            with(json!({"type": "enabled", "budget_tokens": 1024}), None),
        ] {
            assert_rejected(
                NOVA_2,
                false,
                &bad,
                Rule::InvalidReasoningConfig,
                400,
                "Malformed input request: the provided reasoning config value is invalid, please \
                 reformat your input and try again.",
            )
            .await;
        }
        assert_rejected(
            NOVA_2,
            false,
            &with(
                json!({"type": "enabled", "maxReasoningEffort": "high"}),
                Some(1000),
            ),
            Rule::InvalidReasoningConfig,
            400,
            "Malformed input request: inferenceConfig.maxTokens can't be set when \
             reasoningConfig.maxReasoningEffort is high, please reformat your input and try \
             again. (The Converse stand-in's wording: Bedrock's text was not captured.)",
        )
        .await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_micro_takes_no_images_or_documents() {
    bounded(async {
        let image = json!({"messages": [{"role": "user", "content": [
            {"text": "What is this?"},
            {"image": {"format": "png", "source": {"bytes": "iVBORw=="}}}
        ]}]});
        assert_rejected(
            NOVA_MICRO,
            false,
            &image,
            Rule::MediaUnsupported,
            400,
            "This model doesn't support the image field for user messages. Remove image and try \
             again.",
        )
        .await;
        let document = json!({"messages": [{"role": "user", "content": [
            {"text": "Summarise."},
            {"document": {"format": "txt", "name": "Notes", "source": {"bytes": "aGk="}}}
        ]}]});
        assert_rejected(
            NOVA_MICRO,
            false,
            &document,
            Rule::MediaUnsupported,
            400,
            "This model doesn't support the document field for user messages. Remove document \
             and try again.",
        )
        .await;
        assert_accepted(NOVA, false, &image).await;
        assert_accepted(NOVA, false, &document).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn nova_tool_schemas_take_only_type_properties_and_required() {
    bounded(async {
        let with_schema = |schema: Value| {
            json!({"messages": [user("hi")], "toolConfig": {"tools": [
                weather_tool(),
                {"toolSpec": {"name": "answer", "description": "The answer", "inputSchema": {"json": schema}}}
            ]}})
        };
        let strict = with_schema(json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": false
        }));
        assert_rejected(
            NOVA,
            false,
            &strict,
            Rule::UnsupportedToolSchema,
            400,
            "Malformed input request: #/toolConfig/tools/1/toolSpec/inputSchema/json: extraneous \
             key [additionalProperties] is not permitted, please reformat your input and try \
             again. (The Converse stand-in's wording: Bedrock's text for this key was not \
             captured; this is its answer to a top-level definitions key.)",
        )
        .await;
        let definitions = with_schema(json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/definitions/A"}},
            "definitions": {"A": {"type": "string"}}
        }));
        assert_rejected(
            NOVA,
            false,
            &definitions,
            Rule::UnsupportedToolSchema,
            400,
            "Malformed input request: #/toolConfig/tools/1/toolSpec/inputSchema/json: extraneous \
             key [definitions] is not permitted, please reformat your input and try again.",
        )
        .await;
        // Claude takes any JSON Schema.
        assert_accepted(CLAUDE, false, &strict).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Prompt caching

#[tokio::test(start_paused = true)]
async fn families_without_prompt_caching_deny_cache_points() {
    bounded(async {
        let body =
            json!({"system": [{"text": "Be brief."}, cache_point()], "messages": [user("hi")]});
        for model in [
            LLAMA,
            MISTRAL_LARGE,
            DEEPSEEK_R1,
            GPT_OSS,
            "qwen.qwen3-32b-v1:0",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
        ] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::PromptCachingUnsupported,
                403,
                "You invoked an unsupported model or your request did not allow prompt caching.",
            )
            .await;
        }
        assert_accepted(NOVA, false, &body).await;
        assert_accepted("anthropic.claude-3-5-haiku-20241022-v1:0", false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_request_holds_at_most_four_cache_points() {
    bounded(async {
        let five = json!({
            "system": [{"text": "Be brief."}, cache_point()],
            "messages": [
                {"role": "user", "content": [{"text": "a"}, cache_point()]},
                {"role": "assistant", "content": [{"text": "b"}, cache_point()]},
                {"role": "user", "content": [{"text": "c"}, cache_point(), {"text": "d"}, cache_point()]}
            ]
        });
        assert_rejected(
            CLAUDE,
            false,
            &five,
            Rule::TooManyCachePoints,
            400,
            "The model returned the following errors: A maximum of 4 blocks with cache_control \
             may be provided. Found 5.",
        )
        .await;
        assert_rejected(
            NOVA,
            false,
            &five,
            Rule::TooManyCachePoints,
            400,
            "The request holds 5 cachePoint blocks; this model takes at most 4 cache checkpoints \
             per request. (The Converse stand-in's wording: Bedrock's text was not captured.)",
        )
        .await;
        let mut four = five.clone();
        four["system"] = json!([{"text": "Be brief."}]);
        assert_accepted(CLAUDE, false, &four).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Tools

#[tokio::test(start_paused = true)]
async fn some_families_take_no_tools_while_streaming() {
    bounded(async {
        let body = with_tools(ask("Weather in Oslo?"));
        for model in [
            LLAMA,
            "meta.llama4-maverick-17b-instruct-v1:0",
            MISTRAL_LARGE,
            PALMYRA,
            "ai21.jamba-instruct-v1:0",
            DEEPSEEK_R1,
        ] {
            assert_rejected(
                model,
                true,
                &body,
                Rule::StreamingToolUseUnsupported,
                400,
                "This model doesn't support tool use in streaming mode.",
            )
            .await;
        }
        // With Converse, Llama and Mistral use tools; streaming without tools is fine.
        assert_accepted(LLAMA, false, &body).await;
        assert_accepted(MISTRAL_LARGE, false, &body).await;
        assert_accepted(LLAMA, true, &ask("hi")).await;
        assert_accepted(NOVA, true, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_families_take_no_tools_at_all() {
    bounded(async {
        let body = with_tools(ask("Weather in Oslo?"));
        for model in [
            DEEPSEEK_R1,
            "meta.llama3-8b-instruct-v1:0",
            "us.meta.llama3-2-1b-instruct-v1:0",
            "amazon.titan-text-express-v1",
            "ai21.jamba-instruct-v1:0",
            "cohere.command-text-v14",
            MISTRAL_7B,
        ] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::ToolUseUnsupported,
                400,
                "This model doesn't support tool use.",
            )
            .await;
        }
        assert_rejected(
            "cohere.command-r-plus-v1:0",
            false,
            &body,
            Rule::ToolUseUnsupported,
            400,
            "The model returned the following errors: Invalid parameter combination. Please check \
             and try again.",
        )
        .await;
        assert_accepted("ai21.jamba-1-5-large-v1:0", true, &body).await;
        assert_accepted("deepseek.v3-v1:0", true, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn forced_tool_choice_only_where_the_model_takes_it() {
    bounded(async {
        let with_choice = |choice: Value| {
            let mut body = with_tools(ask("Weather in Oslo?"));
            body["toolConfig"]["toolChoice"] = choice;
            body
        };
        let any = with_choice(json!({"any": {}}));
        let tool = with_choice(json!({"tool": {"name": "get_weather"}}));
        for model in [
            LLAMA,
            "mistral.mistral-small-2402-v1:0",
            "ai21.jamba-1-5-mini-v1:0",
        ] {
            assert_rejected(
                model,
                false,
                &any,
                Rule::ToolChoiceUnsupported,
                400,
                "This model doesn't support the toolConfig.toolChoice.any field. Remove \
                 toolConfig.toolChoice.any and try again.",
            )
            .await;
        }
        assert_rejected(
            MISTRAL_LARGE,
            false,
            &tool,
            Rule::ToolChoiceUnsupported,
            400,
            "This model doesn't support the toolConfig.toolChoice.tool field. Remove \
             toolConfig.toolChoice.tool and try again.",
        )
        .await;
        assert_accepted(MISTRAL_LARGE, false, &any).await;
        assert_accepted(NOVA, false, &tool).await;
        assert_accepted(CLAUDE, false, &any).await;
        assert_accepted(LLAMA, false, &with_choice(json!({"auto": {}}))).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn llama_takes_tool_results_alone() {
    bounded(async {
        let body = tool_turn(
            "t1",
            vec![],
            result("t1"),
            vec![json!({"text": "You have used all your steps: answer now."})],
        );
        for model in [LLAMA, PALMYRA] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::ToolResultsWithOtherBlocks,
                400,
                "messages.2.content: Conversation blocks and tool result blocks cannot be \
                 provided in the same turn.",
            )
            .await;
        }
        assert_accepted(CLAUDE, false, &body).await;
        assert_accepted(NOVA, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn llama_and_mistral_take_tool_calls_without_text() {
    bounded(async {
        let body = tool_turn(
            "abcDEF123",
            vec![json!({"text": "Let me check."})],
            result("abcDEF123"),
            vec![],
        );
        for model in [LLAMA, MISTRAL_LARGE] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::ToolUseWithOtherBlocks,
                400,
                "Conversation blocks and tool use blocks cannot be provided in the same turn.",
            )
            .await;
        }
        assert_accepted(CLAUDE, false, &body).await;
        let alone = tool_turn("abcDEF123", vec![], result("abcDEF123"), vec![]);
        assert_accepted(MISTRAL_LARGE, false, &alone).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn mistral_tool_call_ids_are_nine_alphanumerics() {
    bounded(async {
        let body = tool_turn("tooluse_1", vec![], result("tooluse_1"), vec![]);
        assert_rejected(
            MISTRAL_LARGE,
            false,
            &body,
            Rule::InvalidToolCallId,
            400,
            "Tool call id was tooluse_1 but must be a-z, A-Z, 0-9, with a length of 9.",
        )
        .await;
        assert_accepted(LLAMA, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn palmyra_takes_no_tool_result_status() {
    bounded(async {
        let failed =
            json!({"toolUseId": "t1", "content": [{"text": "no such city"}], "status": "error"});
        let body = tool_turn("t1", vec![], failed, vec![]);
        assert_rejected(
            PALMYRA,
            false,
            &body,
            Rule::ToolResultStatusUnsupported,
            400,
            "This model doesn't support the status field. Remove status and try again.",
        )
        .await;
        assert_accepted(CLAUDE, false, &body).await;
        assert_accepted(
            PALMYRA,
            false,
            &tool_turn("t1", vec![], result("t1"), vec![]),
        )
        .await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// System prompts, reasoning, media

#[tokio::test(start_paused = true)]
async fn some_families_take_no_system_prompt() {
    bounded(async {
        let body = json!({"system": [{"text": "Be brief."}], "messages": [user("hi")]});
        for model in [
            MISTRAL_7B,
            "mistral.mixtral-8x7b-instruct-v0:1",
            "amazon.titan-text-premier-v1:0",
            "cohere.command-light-text-v14",
        ] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::SystemPromptUnsupported,
                400,
                "This model doesn't support system messages. Try again without a system message \
                 or use a model that supports system messages.",
            )
            .await;
        }
        assert_accepted(MISTRAL_7B, false, &ask("hi")).await;
        assert_accepted(MISTRAL_LARGE, false, &body).await;
    })
    .await;
}

fn history_with_reasoning(reasoning: Value) -> Value {
    json!({"messages": [
        user("hi"),
        {"role": "assistant", "content": [{"reasoningContent": reasoning}, {"text": "Hello."}]},
        user("again")
    ]})
}

#[tokio::test(start_paused = true)]
async fn deepseek_r1_takes_no_reasoning_back() {
    bounded(async {
        let body = history_with_reasoning(json!({"reasoningText": {"text": "Greet them."}}));
        assert_rejected(
            DEEPSEEK_R1,
            false,
            &body,
            Rule::ReasoningContentUnsupported,
            400,
            "User messages cannot contain reasoning content. Please remove the reasoning content \
             and try again.",
        )
        .await;
        assert_accepted(GPT_OSS, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn gpt_oss_takes_no_reasoning_signature() {
    bounded(async {
        let body = history_with_reasoning(
            json!({"reasoningText": {"text": "Greet them.", "signature": "c2ln"}}),
        );
        assert_rejected(
            GPT_OSS,
            false,
            &body,
            Rule::ReasoningSignatureUnsupported,
            400,
            "This model doesn't support the reasoningContent.reasoningText.signature field. \
             Remove reasoningContent.reasoningText.signature and try again.",
        )
        .await;
        assert_accepted(CLAUDE, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn images_in_tool_results_only_for_claude_nova_and_llama_4() {
    bounded(async {
        // Nine-character ids, as Mistral (Pixtral) takes them.
        let image = json!({"toolUseId": "abcDEF123", "content": [{"image": {"format": "png", "source": {"bytes": "iVBORw=="}}}]});
        let body = tool_turn("abcDEF123", vec![], image, vec![]);
        for model in [GPT_OSS, "us.mistral.pixtral-large-2502-v1:0", LLAMA] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::ImageInToolResultUnsupported,
                400,
                "This model doesn't support the image field for user messages. Remove image and \
                 try again.",
            )
            .await;
        }
        for model in [CLAUDE, NOVA, "us.meta.llama4-scout-17b-instruct-v1:0"] {
            assert_accepted(model, false, &body).await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn s3_media_only_for_nova() {
    bounded(async {
        let body = json!({"messages": [{"role": "user", "content": [
            {"text": "What is this?"},
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/photo.png"}}}}
        ]}]});
        for model in [CLAUDE, LLAMA] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::S3LocationUnsupported,
                400,
                "This model doesn't support the s3Uri field. Remove s3Uri and try again.",
            )
            .await;
        }
        assert_accepted(NOVA, false, &body).await;
        assert_accepted("test-model", false, &body).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Claude's thinking and sampling

#[tokio::test(start_paused = true)]
async fn opus_4_7_takes_adaptive_thinking_only() {
    bounded(async {
        let thinking = |value: Value| {
            let mut body = ask("hi");
            body["additionalModelRequestFields"] = json!({"thinking": value});
            body
        };
        let budget = thinking(json!({"type": "enabled", "budget_tokens": 2048}));
        for model in [
            OPUS_4_7,
            "us.anthropic.claude-opus-4-8",
            "global.anthropic.claude-opus-5",
        ] {
            assert_rejected(
                model,
                false,
                &budget,
                Rule::InvalidThinkingConfig,
                400,
                "The model returned the following errors: \"thinking.type.enabled\" is not \
                 supported for this model. Use \"thinking.type.adaptive\" and \
                 \"output_config.effort\" to control thinking behavior.",
            )
            .await;
        }
        let adaptive = thinking(json!({"type": "adaptive"}));
        assert_accepted(OPUS_4_7, true, &adaptive).await;
        assert_accepted("us.anthropic.claude-sonnet-4-6", true, &adaptive).await;
        assert_accepted(CLAUDE, false, &budget).await;
        // Older Claude models do not know adaptive thinking.
        let violation =
            check_converse_request_for(&RequestTarget::converse(CLAUDE), &adaptive).unwrap_err();
        assert_eq!(violation.rule(), Rule::InvalidThinkingConfig);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn opus_4_7_takes_no_temperature() {
    bounded(async {
        let mut body = ask("hi");
        body["inferenceConfig"] = json!({"temperature": 0.2, "maxTokens": 1000});
        assert_rejected(
            OPUS_4_7,
            false,
            &body,
            Rule::UnsupportedInferenceParameter,
            400,
            "The model returned the following errors: `temperature` is deprecated for this model.",
        )
        .await;
        assert_accepted(CLAUDE, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn sonnet_4_5_takes_temperature_or_top_p_not_both() {
    bounded(async {
        let mut body = ask("hi");
        body["inferenceConfig"] = json!({"temperature": 0.2, "topP": 0.9});
        for model in [
            SONNET_4_5,
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "global.anthropic.claude-opus-4-5-20251101-v1:0",
            "us.anthropic.claude-sonnet-4-6",
        ] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::UnsupportedInferenceParameter,
                400,
                "The model returned the following errors: `temperature` and `top_p` cannot both \
                 be specified for this model. Please use only one.",
            )
            .await;
        }
        assert_accepted(CLAUDE, false, &body).await;
        body["inferenceConfig"] = json!({"temperature": 0.2});
        assert_accepted(SONNET_4_5, false, &body).await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn max_tokens_stay_within_the_model_limit() {
    bounded(async {
        let with_max = |max_tokens: u64| {
            let mut body = ask("hi");
            body["inferenceConfig"] = json!({"maxTokens": max_tokens});
            body
        };
        // The capability table's numbers (the lower where sources disagree: Nova 1 5,000, not
        // the 10,000 of a later AWS post; Llama 3.x 2,048, not peer tables' 4,096).
        let cases = [
            ("anthropic.claude-3-5-sonnet-20240620-v1:0", 4_096),
            ("us.anthropic.claude-opus-4-1-20250805-v1:0", 32_000),
            (NOVA, 5_000),
            ("us.meta.llama3-3-70b-instruct-v1:0", 2_048),
            (DEEPSEEK_R1, 32_768),
            ("amazon.titan-text-premier-v1:0", 3_000),
            ("openai.gpt-oss-120b-1:0", 16_384),
        ];
        for (model, limit) in cases {
            assert_rejected(
                model,
                false,
                &with_max(limit + 1),
                Rule::MaxTokensTooLarge,
                400,
                &format!(
                    "The maximum tokens you requested exceeds the model limit of {limit}. Try \
                     again with a maximum tokens value that is lower than {limit}."
                ),
            )
            .await;
            assert_accepted(model, false, &with_max(limit)).await;
        }
        // Claude 3.7 Sonnet goes to 128K output with the beta flag.
        let mut beta = with_max(100_000);
        beta["additionalModelRequestFields"] =
            json!({"anthropic_beta": ["output-128k-2025-02-19"]});
        assert_accepted("us.anthropic.claude-3-7-sonnet-20250219-v1:0", false, &beta).await;
        assert_accepted("test-model", false, &with_max(1_000_000)).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Service-level additions (every family, and ids the stand-in does not know)

#[tokio::test(start_paused = true)]
async fn a_document_needs_a_text_block_beside_it() {
    bounded(async {
        let body = json!({"messages": [{"role": "user", "content": [
            {"document": {"format": "txt", "name": "Notes", "source": {"bytes": "aGk="}}}
        ]}]});
        for model in [CLAUDE, NOVA, "test-model"] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::DocumentWithoutText,
                400,
                "A text block must be included when using documents. Add a text block and retry \
                 your request.",
            )
            .await;
        }
        assert_eq!(
            check_converse_request(&body).unwrap_err().rule(),
            Rule::DocumentWithoutText
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn document_names_are_unique_across_the_request() {
    bounded(async {
        let document = |name: &str| {
            json!({"document": {"format": "txt", "name": name, "source": {"bytes": "aGk="}}})
        };
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "Read this."}, document("Notes")]},
            {"role": "assistant", "content": [{"text": "Done."}]},
            {"role": "user", "content": [{"text": "And this."}, document("Notes")]}
        ]});
        for model in [CLAUDE, "test-model"] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::DuplicateDocumentName,
                400,
                "Messages can't contain duplicate document names. Rename the document and retry \
                 your request.",
            )
            .await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn tool_result_json_is_an_object() {
    bounded(async {
        let list = json!({"toolUseId": "t1", "content": [{"text": "ok"}, {"json": [1, 2, 3]}]});
        let body = tool_turn("t1", vec![], list, vec![]);
        for model in [CLAUDE, "test-model"] {
            assert_rejected(
                model,
                false,
                &body,
                Rule::InvalidToolResultJson,
                400,
                "The format of the value at messages.2.content.0.toolResult.content.1.json is \
                 invalid. Provide a json object for the field and try again.",
            )
            .await;
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Region

#[tokio::test(start_paused = true)]
async fn a_geographic_profile_is_called_from_its_own_geography() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let body = ask("hi");
        let rejected = [
            (NOVA, "eu-west-1"),
            (NOVA, "ap-southeast-2"),
            (NOVA, "us-gov-west-1"),
            ("eu.amazon.nova-pro-v1:0", "us-east-1"),
            ("apac.amazon.nova-pro-v1:0", "eu-central-1"),
            (
                "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "ap-southeast-1",
            ),
            (
                "au.anthropic.claude-haiku-4-5-20251001-v1:0",
                "ap-northeast-1",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
                "eu-west-1",
            ),
        ];
        for (model, region) in rejected {
            let reply = converse_from(&url, model, &body, Some(region)).await;
            assert_eq!(reply.status, 400, "{model} from {region}");
            assert_eq!(
                reply.header("x-amzn-errortype"),
                Some("ValidationException")
            );
            assert_eq!(
                reply.body["message"],
                "The provided model identifier is invalid."
            );
            let recorded = standin.requests().pop().unwrap();
            assert_eq!(recorded.region.as_deref(), Some(region));
            assert_eq!(
                recorded.violation.unwrap().rule(),
                Rule::InvalidModelIdentifier
            );
        }
        let accepted = [
            (NOVA, Some("us-east-1")),
            ("eu.amazon.nova-pro-v1:0", Some("eu-west-3")),
            ("apac.amazon.nova-pro-v1:0", Some("ap-south-1")),
            (
                "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
                Some("ap-northeast-1"),
            ),
            (
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
                Some("eu-west-1"),
            ),
            ("anthropic.claude-sonnet-4-20250514-v1:0", Some("eu-west-1")),
            ("us.test-model", Some("us-east-2")),
            // Without a parsable Region, no Region rule.
            (NOVA, None),
        ];
        for (model, region) in accepted {
            let reply = converse_from(&url, model, &body, region).await;
            assert_eq!(
                reply.status, 200,
                "{model} from {region:?}: {:?}",
                reply.body
            );
            assert_eq!(standin.requests().pop().unwrap().region.as_deref(), region);
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Valid requests, unknown ids, and the switch

#[tokio::test(start_paused = true)]
async fn a_valid_request_passes_for_every_family() {
    bounded(async {
        let models: [(&str, ModelFamily); 24] = [
            (
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                ModelFamily::Claude3,
            ),
            (CLAUDE, ModelFamily::Claude4),
            (OPUS_4_7, ModelFamily::Claude4),
            ("us.anthropic.claude-sonnet-5", ModelFamily::Claude5),
            (NOVA_MICRO, ModelFamily::NovaMicro),
            ("us.amazon.nova-lite-v1:0", ModelFamily::NovaLite),
            (NOVA, ModelFamily::NovaPro),
            ("us.amazon.nova-premier-v1:0", ModelFamily::NovaPremier),
            (NOVA_2, ModelFamily::Nova2),
            (LLAMA, ModelFamily::Llama3),
            ("meta.llama3-70b-instruct-v1:0", ModelFamily::Llama3Small),
            (
                "us.meta.llama4-scout-17b-instruct-v1:0",
                ModelFamily::Llama4,
            ),
            (MISTRAL_7B, ModelFamily::MistralInstruct),
            (MISTRAL_LARGE, ModelFamily::MistralLarge),
            ("us.mistral.pixtral-large-2502-v1:0", ModelFamily::Mistral),
            ("cohere.command-r-v1:0", ModelFamily::CohereCommandR),
            ("cohere.command-text-v14", ModelFamily::CohereCommand),
            ("ai21.jamba-1-5-mini-v1:0", ModelFamily::Jamba),
            ("ai21.jamba-instruct-v1:0", ModelFamily::JambaInstruct),
            (DEEPSEEK_R1, ModelFamily::DeepSeekR1),
            ("deepseek.v3-v1:0", ModelFamily::DeepSeekV3),
            (GPT_OSS, ModelFamily::GptOss),
            ("qwen.qwen3-32b-v1:0", ModelFamily::Qwen3),
            (PALMYRA, ModelFamily::Palmyra),
        ];
        for (model, family) in models {
            assert_eq!(ModelFamily::of(model), Some(family), "{model}");
            let plain = json!({"messages": [
                user("Hello there."),
                {"role": "assistant", "content": [{"text": "Hi."}]},
                user("What can you do?")
            ], "inferenceConfig": {"maxTokens": 1000, "temperature": 0.5}});
            // Opus 4.7 takes no temperature.
            let body = if model != OPUS_4_7 {
                plain
            } else {
                json!({"messages": plain["messages"], "inferenceConfig": {"maxTokens": 1000}})
            };
            assert_accepted(model, false, &body).await;
            assert_accepted(model, true, &body).await;
        }
        assert_eq!(
            ModelFamily::of("amazon.titan-text-express-v1"),
            Some(ModelFamily::TitanText)
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unknown_ids_and_switched_off_family_rules_get_the_service_level_rules_only() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("fine")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let mut body = with_tools(
            json!({"system": [{"text": "Be brief."}, cache_point()], "messages": [user("hi")]}),
        );
        body["toolConfig"]["tools"] = json!([weather_tool(), cache_point()]);
        for model in [
            "test-model",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl",
        ] {
            let reply = converse_stream(&url, model, &body).await;
            assert_eq!(reply.status, 200, "{model}: {:?}", reply.json);
        }
        let reply = converse(&url, NOVA, &body).await;
        assert_eq!(reply.status, 400);
        standin.set_family_rules(false);
        let reply = converse(&url, NOVA, &body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let reply = converse_from(&url, NOVA, &ask("hi"), Some("eu-west-1")).await;
        assert_eq!(reply.status, 200, "no Region rule either: {:?}", reply.body);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Behaviours

#[tokio::test(start_paused = true)]
async fn claude_without_max_tokens_stops_at_4096_tokens() {
    bounded(async {
        let long = "word ".repeat(5_000); // 25,000 bytes: about 6,250 tokens
        let standin = ConverseStandIn::start(Policy::always(Reply::text(long.clone())))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let reply = converse(&url, CLAUDE, &ask("Write a lot.")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["stopReason"], "max_tokens");
        assert_eq!(reply.body["usage"]["outputTokens"], 4096);
        let text = reply.body["output"]["message"]["content"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(text.len(), 4096 * 4);
        let streamed = converse_stream(&url, CLAUDE, &ask("Write a lot.")).await;
        assert_eq!(
            streamed.payload("messageStop").unwrap()["stopReason"],
            "max_tokens"
        );
        assert_eq!(streamed.joined(0, "/text").len(), 4096 * 4);

        // With maxTokens set, or for another family, the reply is whole.
        let mut bounded_body = ask("Write a lot.");
        bounded_body["inferenceConfig"] = json!({"maxTokens": 10_000});
        let reply = converse(&url, CLAUDE, &bounded_body).await;
        assert_eq!(reply.body["stopReason"], "end_turn");
        for model in [NOVA, "test-model"] {
            let reply = converse(&url, model, &ask("Write a lot.")).await;
            assert_eq!(reply.body["stopReason"], "end_turn", "{model}");
            assert_eq!(
                reply.body["output"]["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .len(),
                long.len()
            );
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_prefix_below_the_model_minimum_is_not_cached() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("ok")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let with_system = |text: String| {
            json!({"system": [{"text": text}, cache_point()], "messages": [user("hi")]})
        };
        // About 300 tokens: under Claude Sonnet 4's 1,024 and Haiku 4.5's 4,096.
        let short = with_system("Be precise. ".repeat(100));
        for _ in 0..2 {
            let reply = converse(&url, CLAUDE, &short).await;
            assert_eq!(reply.status, 200);
            assert!(reply.body["usage"].get("cacheWriteInputTokens").is_none());
            assert!(reply.body["usage"].get("cacheReadInputTokens").is_none());
        }
        // A model the stand-in does not know has no minimum.
        let reply = converse(&url, "test-model", &short).await;
        assert!(reply.body["usage"]["cacheWriteInputTokens"].as_u64().unwrap() > 0);
        // About 2,000 tokens: cached for Sonnet 4 (1,024), not for Haiku 4.5 (4,096).
        let long = with_system("Be precise. ".repeat(700));
        let reply = converse(&url, CLAUDE, &long).await;
        assert!(reply.body["usage"]["cacheWriteInputTokens"].as_u64().unwrap() > 1_024);
        let reply = converse(&url, CLAUDE, &long).await;
        assert!(reply.body["usage"]["cacheReadInputTokens"].as_u64().unwrap() > 1_024);
        let haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
        let reply = converse(&url, haiku, &long).await;
        assert_eq!(reply.status, 200);
        assert!(reply.body["usage"].get("cacheWriteInputTokens").is_none());
    })
    .await;
}

/// Runs the demo model through a whole tool turn for `model` (Converse), checking every
/// request passes the model's rules, and returns the assistant messages.
async fn demo_turn(model: &str) -> Vec<Value> {
    let standin = ConverseStandIn::demo().await.unwrap();
    let url = standin.endpoint_url();
    let mut messages = vec![user("What's the weather in Seattle?")];
    let mut answers = Vec::new();
    for _ in 0..3 {
        let body = with_tools(json!({"messages": messages}));
        let reply = converse(&url, model, &body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let message = reply.body["output"]["message"].clone();
        answers.push(message.clone());
        messages.push(message.clone());
        let calls: Vec<Value> = message["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|block| block.get("toolUse"))
            .map(|call| {
                json!({"toolResult": {"toolUseId": call["toolUseId"], "content": [{"json": {"forecast": "sunny"}}]}})
            })
            .collect();
        if calls.is_empty() {
            break;
        }
        messages.push(json!({"role": "user", "content": calls}));
    }
    assert!(standin.requests().iter().all(|r| r.violation.is_none()));
    answers
}

#[tokio::test(start_paused = true)]
async fn the_demo_keeps_its_replies_valid_for_the_family_it_plays() {
    bounded(async {
        // Llama and Mistral: tool calls without text; Mistral's ids are 9 alphanumerics.
        for model in [LLAMA, MISTRAL_LARGE] {
            let answers = demo_turn(model).await;
            assert_eq!(answers.len(), 2, "{model}: a call, then the answer");
            let first = answers[0]["content"].as_array().unwrap();
            assert!(first.iter().all(|block| block.get("toolUse").is_some()), "{model}");
            let id = first[0]["toolUse"]["toolUseId"].as_str().unwrap();
            if model == MISTRAL_LARGE {
                assert_eq!(id.len(), 9);
                assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
        // Claude and Nova keep the `<thinking>` text beside the call.
        for model in [CLAUDE, NOVA] {
            let answers = demo_turn(model).await;
            let first = answers[0]["content"].as_array().unwrap();
            assert!(first[0]["text"].as_str().unwrap().starts_with("<thinking>"));
            assert_eq!(first[1]["toolUse"]["toolUseId"], "tooluse_1");
        }
        // Scripted replies without ids get the family's shape too.
        let standin = ConverseStandIn::scripted([Reply::tool_use(
            None,
            &[("get_weather", json!({"location": "Oslo"}))],
        )])
        .await
        .unwrap();
        let reply = converse(
            &standin.endpoint_url(),
            MISTRAL_LARGE,
            &with_tools(ask("Oslo?")),
        )
        .await;
        assert_eq!(
            reply.body["output"]["message"]["content"][0]["toolUse"]["toolUseId"],
            "tool00001"
        );
        // No reasoning blocks unless thinking is on: Nova with reasoningConfig, DeepSeek-R1.
        for (model, body) in [
            (DEEPSEEK_R1, ask("hi")),
            (
                NOVA_2,
                json!({"messages": [user("hi")], "additionalModelRequestFields": {"reasoningConfig": {"type": "enabled"}}}),
            ),
        ] {
            let standin = ConverseStandIn::demo().await.unwrap();
            let reply = converse(&standin.endpoint_url(), model, &body).await;
            let content = reply.body["output"]["message"]["content"].as_array().unwrap().clone();
            assert!(
                content.iter().all(|block| block.get("reasoningContent").is_none()),
                "{model}"
            );
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_moved_on_to_the_next_turn_reads_what_the_earlier_turn_cached() {
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("ok")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        let system = json!([{"text": "Be precise. ".repeat(700)}, cache_point()]);
        let marked =
            |text: &str| json!({"role": "user", "content": [{"text": text}, cache_point()]});
        let assistant = |text: &str| json!({"role": "assistant", "content": [{"text": text}]});
        // Each turn marks the question of the turn before and its own, as a client marks where
        // the previous call ended and the end of the request: turn 2 marks turn 1's question,
        // turn 3 no longer does.
        let turn_2 = json!({"system": system, "messages": [
            marked("one"), assistant("1"), marked("two")
        ]});
        let second = converse(&url, CLAUDE, &turn_2).await;
        let usage = &second.body["usage"];
        let prompt_2 = usage["cacheReadInputTokens"].as_u64().unwrap_or(0)
            + usage["cacheWriteInputTokens"].as_u64().unwrap();
        let turn_3 = json!({"system": system, "messages": [
            user("one"), assistant("1"), marked("two"), assistant("2"), marked("three")
        ]});
        let third = converse(&url, CLAUDE, &turn_3).await;
        assert_eq!(
            third.body["usage"]["cacheReadInputTokens"].as_u64(),
            Some(prompt_2),
            "turn 2's whole prefix is read though a marker in it is gone: {}",
            third.body
        );
        let new = third.body["usage"]["cacheWriteInputTokens"]
            .as_u64()
            .unwrap();
        assert!(
            new > 0 && new < 50,
            "only the new messages are written: {new}"
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn refusals_on_demand_answer_in_bedrocks_words_once_or_always() {
    use agent_testkit::OptionalFeature;
    bounded(async {
        let standin = ConverseStandIn::start(Policy::always(Reply::text("ok")))
            .await
            .unwrap();
        let url = standin.endpoint_url();
        // Nova takes checkpoints in messages; told to, the stand-in refuses one, once.
        let checkpoint = json!({"messages": [{"role": "user", "content": [
            {"text": "Weather in Oslo?"}, cache_point()
        ]}]});
        standin.refuse_once(OptionalFeature::CachePointInMessages);
        let refused = converse(&url, NOVA, &ask("No checkpoint here.")).await;
        assert_eq!(
            refused.status, 200,
            "a request without the feature is taken"
        );
        let refused = converse(&url, NOVA, &checkpoint).await;
        assert_eq!(refused.status, 400);
        assert_eq!(
            refused.header("x-amzn-errortype"),
            Some("ValidationException")
        );
        assert_eq!(
            refused.body["message"],
            "Malformed input request: #/messages/0/content/1: extraneous key [cachePoint] is not \
             permitted, please reformat your input and try again."
        );
        assert_eq!(
            converse(&url, NOVA, &checkpoint).await.status,
            200,
            "once only"
        );

        // Claude takes a forced tool choice; refused always, until told to stop.
        let forced = with_tools(json!({"messages": [user("Weather?")]}));
        let mut forced = forced;
        forced["toolConfig"]["toolChoice"] = json!({"tool": {"name": "get_weather"}});
        standin.refuse_always(OptionalFeature::ForcedToolChoice);
        for _ in 0..2 {
            let reply = converse(&url, CLAUDE, &forced).await;
            assert_eq!(reply.status, 400);
            assert_eq!(
                reply.body["message"],
                "This model doesn't support the toolConfig.toolChoice.tool field. Remove \
                 toolConfig.toolChoice.tool and try again."
            );
        }
        // Prompt caching refused as Bedrock refuses a model without it: 403.
        standin.refuse_once(OptionalFeature::PromptCaching);
        let denied = converse(&url, CLAUDE, &checkpoint).await;
        assert_eq!(denied.status, 403);
        assert_eq!(
            denied.header("x-amzn-errortype"),
            Some("AccessDeniedException")
        );
        standin.stop_refusing();
        assert_eq!(converse(&url, CLAUDE, &forced).await.status, 200);

        let rules: Vec<Option<Rule>> = standin
            .requests()
            .iter()
            .map(|r| r.violation.as_ref().map(|v| v.rule()))
            .collect();
        assert_eq!(
            rules,
            [
                None,
                Some(Rule::CachePointNotPermitted),
                None,
                Some(Rule::ToolChoiceUnsupported),
                Some(Rule::ToolChoiceUnsupported),
                Some(Rule::PromptCachingUnsupported),
                None
            ]
        );
    })
    .await;
}
