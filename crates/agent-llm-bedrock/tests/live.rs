//! The live suite: `BedrockModel` against real Amazon Bedrock, for each model id of
//! `MINIMALAGENT_LIVE_MODELS` (comma-separated; default: the Region's Nova Pro profile,
//! Claude Sonnet 4, Llama 3.3 70B and Pixtral Large through their `us.` profiles).
//!
//! Every test is ignored, so CI compiles them and reports them ignored; they need AWS
//! credentials, model access and cost a few cents. Run them with `cargo xtask test-live`
//! (which also runs every example per model), or by hand:
//!
//! ```text
//! MINIMALAGENT_LIVE_MODELS=us.amazon.nova-pro-v1:0 \
//!   cargo test -p minimalagent-llm-bedrock --test live -- --ignored --test-threads 1
//! ```
//!
//! They check what the capability table (`docs/bedrock-models.md`) could only infer — its
//! "likely" findings: a plain turn, a tool turn (Converse and ConverseStream, and streamed tool
//! use where the table says the family refuses it), a typed answer (the forced tool choice), a
//! prompt-cache round trip, `maxTokens` at the table's maximum (and the disputed higher limits),
//! Nova's answer to an uncut tool schema, and a session of three turns with a tool and
//! checkpoints around tool turns. A failure names the model and the table cell it contradicts;
//! an observation that settles an open point without contradicting the table is printed as a
//! `note:` line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a test suite: a panic is a failed check, and its notes go to the test output"
)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    BlockDelta, BlockStart, ContentBlock, InferenceConfig, Message, Model, ModelError,
    ModelErrorKind, ModelEventStream, ModelRequest, ModelResponse, ModelStreamEvent, NoEvents,
    Role, StopReason, TokenUsage, Tool, ToolContext, ToolError, ToolOutput, ToolResult, ToolSet,
    ToolSpec, ToolUse, async_trait,
};
use agent_llm_bedrock::aws_config;
use agent_llm_bedrock::aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata};
use agent_llm_bedrock::aws_sdk_bedrockruntime::types as sdk;
use agent_llm_bedrock::families::{Capabilities, ModelFamily, ReasoningShape, ToolSchema};
use agent_llm_bedrock::{BedrockModel, ModelInfo, ReasoningEffort, default_model_id};
use agent_loop::{AgentLoop, RunInput, StructuredAnswer};
use aws_smithy_types::{Document, Number};
use futures::StreamExt;
use serde_json::{Value, json};

/// The variable listing the model ids to check.
const MODELS_ENV: &str = "MINIMALAGENT_LIVE_MODELS";

/// The models checked when `MINIMALAGENT_LIVE_MODELS` is unset, after the Region's Nova Pro.
const DEFAULT_MODELS: [&str; 3] = [
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "us.mistral.pixtral-large-2502-v1:0",
];

/// How long one check of one model may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// The Region the models will call, as the builder resolves it: the AWS environment's or
/// profile's, else the library's fallback.
async fn region() -> String {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    config.region().map_or_else(
        || agent_core::DEFAULT_AWS_REGION.to_owned(),
        ToString::to_string,
    )
}

/// The model ids to check.
async fn models() -> Vec<String> {
    if let Ok(list) = std::env::var(MODELS_ENV)
        && !list.trim().is_empty()
    {
        return list
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let region = region().await;
    let nova = default_model_id(&region).unwrap_or_else(|| {
        panic!("no Nova Pro profile serves {region}: set {MODELS_ENV} to model ids served there")
    });
    std::iter::once(nova.to_owned())
        .chain(DEFAULT_MODELS.iter().map(|id| (*id).to_owned()))
        .collect()
}

/// Whether AWS credentials are configured, judged without a network call (as the examples
/// judge it): variables, a web-identity or container setting, or a shared config file.
fn aws_credentials_configured() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_BEARER_TOKEN_BEDROCK",
    ]
    .iter()
    .any(|name| set(name))
    {
        return true;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        file("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .flatten()
    .any(|path| path.is_file())
}

/// What one check of one model found: contradictions of the table (failures) and notes.
#[derive(Default)]
struct Findings {
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Findings {
    fn fail(&mut self, text: impl Into<String>) {
        self.failures.push(text.into());
    }

    fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }
}

type Check = for<'a> fn(&'a str, &'a mut Findings) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs `check` for every model, printing each model's outcome and notes, and fails with every
/// contradiction found (all models are checked, even after one fails).
async fn for_each_model(name: &str, check: Check) {
    assert!(
        aws_credentials_configured(),
        "no AWS credentials are configured: this live test calls real Bedrock (set AWS_PROFILE \
         or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; `cargo xtask test-live` says so first)"
    );
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").is_none(),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME is set: the live suite must talk to Amazon Bedrock, \
         not to a stand-in"
    );
    let mut failures = Vec::new();
    for model_id in models().await {
        let mut findings = Findings::default();
        let outcome = tokio::time::timeout(CHECK_TIMEOUT, check(&model_id, &mut findings)).await;
        if outcome.is_err() {
            findings.fail(format!(
                "did not finish within {} s",
                CHECK_TIMEOUT.as_secs()
            ));
        }
        for note in &findings.notes {
            println!("note: {name} · {model_id}: {note}");
        }
        if findings.failures.is_empty() {
            println!("ok: {name} · {model_id}");
        }
        for failure in findings.failures {
            println!("FAILED: {name} · {model_id}: {failure}");
            failures.push(format!("{model_id}: {failure}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} contradiction(s) of the capability table or failed call(s):\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
}

/// The model, built from the AWS environment as an application builds it.
async fn model(model_id: &str, streaming: Option<bool>) -> BedrockModel {
    let mut builder = BedrockModel::builder().model_id(model_id);
    if let Some(streaming) = streaming {
        builder = builder.streaming(streaming);
    }
    builder
        .build()
        .await
        .unwrap_or_else(|error| panic!("{model_id}: the model could not be built: {error}"))
}

/// `the table's `cell` cell for Nova Pro says yes (source: …)`.
fn cell<T: std::fmt::Debug>(
    info: &ModelInfo,
    name: &str,
    cell: &agent_llm_bedrock::families::Sourced<T>,
) -> String {
    format!(
        "the table's `{name}` cell for {} says {:?} (source: {})",
        info.name(),
        cell.value,
        cell.source
    )
}

/// A model error in a line.
fn said(error: &ModelError) -> String {
    format!("{}: {}", error.kind().as_str(), error.message())
}

/// A streamed reply, collected into a response.
async fn collect(stream: ModelEventStream) -> Result<ModelResponse, ModelError> {
    let mut stream = stream;
    let mut blocks: Vec<(u32, ContentBlock)> = Vec::new();
    let mut inputs: std::collections::BTreeMap<u32, String> = std::collections::BTreeMap::new();
    let mut stop = StopReason::EndTurn;
    let mut usage = TokenUsage::default();
    let mut dropped = Vec::new();
    while let Some(event) = stream.next().await {
        match event? {
            ModelStreamEvent::BlockStart {
                index,
                start: BlockStart::ToolUse { tool_use_id, name },
            } => blocks.push((
                index,
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id,
                    name,
                    input: Value::Null,
                }),
            )),
            ModelStreamEvent::BlockStart {
                index,
                start: BlockStart::Whole(block),
            } => blocks.push((index, block)),
            ModelStreamEvent::BlockDelta {
                index,
                delta: BlockDelta::Text(text),
            } => match blocks.iter_mut().find(|(i, _)| *i == index) {
                Some((_, ContentBlock::Text(existing))) => existing.push_str(&text),
                _ => blocks.push((index, ContentBlock::Text(text))),
            },
            ModelStreamEvent::BlockDelta {
                index,
                delta: BlockDelta::ToolInput(fragment),
            } => inputs.entry(index).or_default().push_str(&fragment),
            ModelStreamEvent::MessageStop { stop_reason } => stop = stop_reason,
            ModelStreamEvent::Metadata { usage: u, .. } => usage = u,
            ModelStreamEvent::FeatureDropped(feature) => dropped.push(feature),
            _ => {}
        }
    }
    for (index, block) in &mut blocks {
        if let ContentBlock::ToolUse(call) = block {
            let text = inputs.get(index).map_or("{}", String::as_str);
            call.input = serde_json::from_str(if text.is_empty() { "{}" } else { text })
                .unwrap_or(Value::String(text.to_owned()));
        }
    }
    blocks.sort_by_key(|(index, _)| *index);
    let mut response = ModelResponse::new(
        Message {
            role: Role::Assistant,
            content: blocks.into_iter().map(|(_, block)| block).collect(),
        },
        stop,
    )
    .with_usage(usage);
    response.dropped_features = dropped;
    Ok(response)
}

/// One call, whole (Converse) or streamed (ConverseStream, collected).
async fn call(
    model: &BedrockModel,
    request: &ModelRequest,
    streamed: bool,
) -> Result<ModelResponse, ModelError> {
    if streamed {
        collect(model.converse_stream(request).await?).await
    } else {
        model.converse(request).await
    }
}

fn short(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 80 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(80).collect::<String>())
    }
}

fn inference(max_tokens: u32) -> InferenceConfig {
    InferenceConfig {
        max_tokens: Some(max_tokens),
        ..InferenceConfig::default()
    }
}

/// The weather tool's schema, with the top-level `additionalProperties: false` every `#[tool]`
/// schema carries (the client cuts it for Nova).
fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
        "additionalProperties": false
    })
}

fn weather_spec() -> ToolSpec {
    ToolSpec {
        name: "get_weather".to_owned(),
        description: "Get the current weather for a city.".to_owned(),
        input_schema: weather_schema(),
    }
}

/// The weather tool, for runs of the loop.
struct Weather;

#[async_trait]
impl Tool for Weather {
    fn name(&self) -> &str {
        "get_weather"
    }
    fn description(&self) -> &str {
        "Get the current weather for a city."
    }
    fn input_schema(&self) -> Value {
        weather_schema()
    }
    async fn call(&self, input: Value, _context: &ToolContext) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::from(json!({
            "city": input.get("city").cloned().unwrap_or(Value::Null),
            "forecast": "sunny",
            "temperature_c": 21
        })))
    }
}

/// A system prompt of at least one and a half times `min_tokens` tokens.
fn long_system_prompt(min_tokens: u32) -> String {
    let wanted = (min_tokens.max(1) as usize) * 6;
    let mut prompt = String::from("You are a helpful, terse assistant.\n");
    let mut rule = 1;
    while prompt.len() < wanted {
        prompt.push_str(&format!(
            "Rule {rule}: when a question concerns topic number {rule}, answer it briefly, \
             plainly and politely.\n"
        ));
        rule += 1;
    }
    prompt
}

// --- the checks -------------------------------------------------------------------------------

/// A plain turn with a system prompt, whole and streamed.
fn plain_turn<'a>(id: &'a str, found: &'a mut Findings) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let model = model(id, None).await;
        let info = model.model_info().clone();
        let c = info.capabilities();
        let request = ModelRequest::new(vec![Message::user_text(
            "Reply with the single word: pong.",
        )])
        .with_system(vec!["You are a terse assistant.".to_owned()])
        .with_inference(inference(50));
        for streamed in [false, true] {
            let operation = if streamed {
                "ConverseStream"
            } else {
                "Converse"
            };
            match call(&model, &request, streamed).await {
                Ok(response) => {
                    if response.message.text().trim().is_empty() {
                        found.fail(format!("{operation}: an empty answer"));
                    }
                    if response.stop_reason != StopReason::EndTurn {
                        found.fail(format!(
                            "{operation}: stop reason {} for a one-word answer",
                            response.stop_reason.as_str()
                        ));
                    }
                    if response.usage.output_tokens == 0 {
                        found.fail(format!("{operation}: no output tokens in the usage"));
                    }
                }
                Err(error) if error.message().to_ascii_lowercase().contains("system") => {
                    found.fail(format!(
                        "{operation} refused the system prompt ({}): contradicts {}",
                        said(&error),
                        cell(&info, "system", &c.system)
                    ));
                }
                Err(error) => found.fail(format!(
                    "{operation} failed: {} (model access, Region or credentials?)",
                    said(&error)
                )),
            }
        }
    })
}

/// A tool turn: the call, then the result sent back and the answer.
async fn tool_turn(id: &str, streamed: bool, found: &mut Findings) {
    let model = model(id, None).await;
    let info = model.model_info().clone();
    let c = info.capabilities();
    let operation = if streamed {
        "ConverseStream"
    } else {
        "Converse"
    };
    let question = Message::user_text("What is the weather in Paris? Use the get_weather tool.");
    let request = ModelRequest::new(vec![question.clone()])
        .with_tools(Arc::from(vec![weather_spec()]))
        .with_inference(inference(1_000));
    let response = match call(&model, &request, streamed).await {
        Ok(response) if !c.tools.value => {
            found.fail(format!(
                "{operation} with tools was answered, but the client should have refused it: \
                 contradicts {}",
                cell(&info, "tools", &c.tools)
            ));
            let _ = response;
            return;
        }
        Err(error) if !c.tools.value && error.kind() == ModelErrorKind::Unsupported => {
            found.note(format!(
                "tools refused before sending, as the table says: {}",
                said(&error)
            ));
            return;
        }
        Ok(response) => response,
        Err(error) => {
            found.fail(format!(
                "{operation} with a tool failed: {}: contradicts {} (or, for a schema error, \
                 {})",
                said(&error),
                cell(&info, "tools", &c.tools),
                cell(&info, "tool schema", &c.tool_schema)
            ));
            return;
        }
    };
    for dropped in &response.dropped_features {
        found.note(format!(
            "{operation}: the client dropped {}: {}",
            dropped.feature, dropped.reason
        ));
    }
    let Some(call_made) = response
        .message
        .tool_uses()
        .find(|call| call.name == "get_weather")
        .cloned()
    else {
        found.fail(format!(
            "{operation}: the model answered in text instead of calling get_weather (\"{}\"): \
             {} (audit M6: some families write the call as text)",
            short(&response.message.text()),
            cell(&info, "tools", &c.tools)
        ));
        return;
    };
    if call_made
        .input
        .get("city")
        .and_then(Value::as_str)
        .is_none()
    {
        found.fail(format!(
            "{operation}: the tool input {} has no `city` string ({})",
            call_made.input,
            cell(&info, "tool schema", &c.tool_schema)
        ));
    }
    let result = Message::user(vec![ContentBlock::ToolResult(ToolResult::success(
        call_made.tool_use_id.clone(),
        json!({"city": "Paris", "forecast": "sunny", "temperature_c": 21}),
    ))]);
    let follow_up = ModelRequest::new(vec![question, response.message.clone(), result])
        .with_tools(Arc::from(vec![weather_spec()]))
        .with_inference(inference(1_000));
    match call(&model, &follow_up, streamed).await {
        Ok(answer) if answer.message.text().trim().is_empty() => found.fail(format!(
            "{operation}: no text answer after the tool result (stop reason {})",
            answer.stop_reason.as_str()
        )),
        Ok(_) => {}
        Err(error) => found.fail(format!(
            "{operation}: the tool result was refused: {}: contradicts {} or {}",
            said(&error),
            cell(
                &info,
                "tool results alone / tool use alone",
                &c.tool_use_alone
            ),
            cell(&info, "toolResult status", &c.tool_result_status)
        )),
    }
}

fn tool_turn_converse<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(tool_turn(id, false, found))
}

fn tool_turn_streamed<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        // As the loop calls it: the client streams, or uses Converse where the table says the
        // family cannot stream tool use.
        tool_turn(id, true, found).await;
        // Does Bedrock stream tool use for this family? Asked through the SDK directly: the
        // client streams tools where the table says the family refuses only when the user set
        // streaming(true) explicitly, and then turns the refusal into an `Unsupported` error.
        let model = model(id, Some(true)).await;
        let info = model.model_info().clone();
        let c = info.capabilities();
        if !c.tools.value {
            return;
        }
        match (
            raw_stream_with_a_tool(&model, id).await,
            c.tools_streaming.value,
        ) {
            (Ok(()), true) => {}
            (Ok(()), false) => found.fail(format!(
                "ConverseStream with a tool (sent through the SDK) was answered: contradicts \
                 {} (the client needlessly falls back to Converse for tools)",
                cell(&info, "tools streaming", &c.tools_streaming)
            )),
            (Err(error), true) => found.fail(format!(
                "ConverseStream with a tool (sent through the SDK) failed: {error}: contradicts \
                 {}",
                cell(&info, "tools streaming", &c.tools_streaming)
            )),
            (Err(error), false) => found.note(format!(
                "streamed tool use refused, as the table says: {error}"
            )),
        }
    })
}

/// ConverseStream with one tool (a schema every family takes), through the SDK, read to its
/// end: `Err` with Bedrock's words when it is refused.
async fn raw_stream_with_a_tool(model: &BedrockModel, id: &str) -> Result<(), String> {
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"]
    });
    let spec = sdk::ToolSpecification::builder()
        .name("get_weather")
        .description("Get the current weather for a city.")
        .input_schema(sdk::ToolInputSchema::Json(document(&schema)))
        .build()
        .map_err(|error| error.to_string())?;
    let tool_config = sdk::ToolConfiguration::builder()
        .tools(sdk::Tool::ToolSpec(spec))
        .build()
        .map_err(|error| error.to_string())?;
    let message = sdk::Message::builder()
        .role(sdk::ConversationRole::User)
        .content(sdk::ContentBlock::Text(
            "What is the weather in Paris? Use the get_weather tool.".to_owned(),
        ))
        .build()
        .map_err(|error| error.to_string())?;
    let mut output = model
        .client()
        .converse_stream()
        .model_id(id)
        .messages(message)
        .tool_config(tool_config)
        .inference_config(
            sdk::InferenceConfiguration::builder()
                .max_tokens(500)
                .build(),
        )
        .send()
        .await
        .map_err(|error| aws_said(&error))?;
    while let Some(_event) = output
        .stream
        .recv()
        .await
        .map_err(|error| aws_said(&error))?
    {}
    Ok(())
}

/// The typed answer's tool and check.
fn structured() -> StructuredAnswer {
    StructuredAnswer::new(
        "answer",
        "Give the final answer.",
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "country": {"type": "string"},
                "population_millions": {"type": "number"}
            },
            "required": ["city", "country", "population_millions"]
        }),
        2,
        Arc::new(|_| Ok(())),
    )
}

/// A typed answer through the loop: the forced tool choice where the table says it is taken.
async fn typed_answer_with(model: BedrockModel, found: &mut Findings) {
    let info = model.model_info().clone();
    let c = info.capabilities();
    let agent = AgentLoop::new(
        Arc::new(model),
        ToolSet::new(Vec::<Arc<dyn Tool>>::new()).unwrap(),
    )
    .with_system_prompt("You answer geography questions.")
    .with_inference(inference(1_000));
    let mut input = RunInput::new("What is the capital of France, and its population in millions?");
    input.structured = Some(structured());
    match agent.run(input, &NoEvents).await {
        Ok(result) => {
            let answer = result.structured.unwrap_or(Value::Null);
            if answer.get("city").and_then(Value::as_str).is_none()
                || answer
                    .get("population_millions")
                    .and_then(Value::as_f64)
                    .is_none()
            {
                found.fail(format!(
                    "the typed answer {answer} lacks its fields ({})",
                    cell(&info, "toolChoice any", &c.tool_choice_any)
                ));
            }
            for dropped in &result.reasoning.dropped_features {
                let text = format!("the client dropped {}: {}", dropped.feature, dropped.reason);
                if dropped.feature.contains("tool_choice") && c.tool_choice_any.value {
                    found.fail(format!(
                        "{text}: contradicts {}",
                        cell(&info, "toolChoice any", &c.tool_choice_any)
                    ));
                } else {
                    found.note(text);
                }
            }
        }
        Err(failed) => found.fail(format!(
            "the typed answer failed: {}: contradicts {}",
            failed.error,
            cell(&info, "toolChoice any", &c.tool_choice_any)
        )),
    }
}

fn typed_answer<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move { typed_answer_with(model(id, None).await, found).await })
}

/// Claude 4.6 and later: a typed answer with adaptive thinking (does Bedrock take a forced
/// tool choice with it?). Other models: nothing to check.
fn typed_answer_with_adaptive_thinking<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let info = ModelInfo::resolve(id);
        if !matches!(
            info.capabilities().reasoning.value,
            ReasoningShape::AnthropicAdaptive | ReasoningShape::AnthropicAdaptiveOrBudget
        ) {
            found.note("no adaptive thinking in the table: nothing to check");
            return;
        }
        let model = BedrockModel::builder()
            .model_id(id)
            .reasoning_effort(ReasoningEffort::Low)
            .build()
            .await
            .unwrap_or_else(|error| panic!("{id}: {error}"));
        typed_answer_with(model, found).await;
    })
}

/// Two identical calls with a system prompt above the cache minimum.
fn prompt_cache<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let model = model(id, Some(false)).await;
        let info = model.model_info().clone();
        let c = info.capabilities();
        let cache = c.cache.value;
        let request =
            ModelRequest::new(vec![Message::user_text("Answer with the single word: ok.")])
                .with_system(vec![long_system_prompt(cache.min_tokens.max(1_024))])
                .with_inference(inference(20));
        let mut usages = Vec::new();
        for attempt in 1..=2 {
            match model.converse(&request).await {
                Ok(response) => {
                    for dropped in &response.dropped_features {
                        found.fail(format!(
                            "call {attempt}: Bedrock refused {}: {}: contradicts {}",
                            dropped.feature,
                            dropped.reason,
                            cell(&info, "cache checkpoints", &c.cache)
                        ));
                    }
                    usages.push(response.usage);
                }
                Err(error) => {
                    found.fail(format!(
                        "call {attempt} failed: {}: contradicts {}",
                        said(&error),
                        cell(&info, "cache checkpoints", &c.cache)
                    ));
                    return;
                }
            }
        }
        let figures = format!(
            "call 1 wrote {} read {}, call 2 wrote {} read {}",
            usages[0].cache_write_input_tokens,
            usages[0].cache_read_input_tokens,
            usages[1].cache_write_input_tokens,
            usages[1].cache_read_input_tokens
        );
        if cache.any() && usages[1].cache_read_input_tokens == 0 {
            found.fail(format!(
                "the second call read nothing from the cache ({figures}): contradicts {}",
                cell(&info, "cache checkpoints", &c.cache)
            ));
        } else {
            found.note(figures);
        }
    })
}

/// The output limit the sources dispute, above the table's (which takes the lower).
fn disputed_limit(info: &ModelInfo, max: u32) -> u32 {
    let name = info.name();
    match info.family() {
        Some(ModelFamily::AmazonNova) if !name.contains("Premier") => 10_000,
        Some(ModelFamily::AmazonNova2) => 65_535,
        Some(ModelFamily::MetaLlama) if name.contains("Llama 3") => 4_096,
        _ => max + 1,
    }
}

/// `maxTokens` at the table's maximum is taken; the disputed higher limit is tried and noted.
fn max_tokens<'a>(id: &'a str, found: &'a mut Findings) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let model = model(id, Some(false)).await;
        let info = model.model_info().clone();
        let c = info.capabilities();
        let max = c.max_output_tokens.value;
        if max == 0 {
            found.note("the table has no output limit for this model: nothing to check");
            return;
        }
        let ask = |max_tokens| {
            ModelRequest::new(vec![Message::user_text("Say hi.")])
                .with_inference(inference(max_tokens))
        };
        match model.converse(&ask(max)).await {
            Ok(response) => {
                for dropped in &response.dropped_features {
                    found.fail(format!(
                        "maxTokens {max}: the client dropped {}: {}: contradicts {}",
                        dropped.feature,
                        dropped.reason,
                        cell(&info, "max output tokens", &c.max_output_tokens)
                    ));
                }
            }
            Err(error) => found.fail(format!(
                "maxTokens {max} was refused: {}: contradicts {}",
                said(&error),
                cell(&info, "max output tokens", &c.max_output_tokens)
            )),
        }
        let higher = disputed_limit(&info, max);
        match model.converse(&ask(higher)).await {
            Ok(_) => found.note(format!(
                "maxTokens {higher} (above the table's {max}) was accepted: the cell is \
                 conservative and could be raised"
            )),
            Err(error) => found.note(format!(
                "maxTokens {higher} (above the table's {max}) was refused, so the table's value \
                 stands: {}",
                said(&error)
            )),
        }
    })
}

/// Nova's answer to a tool schema with top-level `additionalProperties`, sent uncut through the
/// SDK (the client cuts it; this settles what Nova does with it).
fn uncut_tool_schema<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let model = model(id, Some(false)).await;
        let c: &Capabilities = model.model_info().capabilities();
        if c.tool_schema.value != ToolSchema::TopLevelTypePropertiesRequired {
            found.note("the table does not cut this model's tool schemas: nothing to check");
            return;
        }
        let spec = sdk::ToolSpecification::builder()
            .name("get_weather")
            .description("Get the current weather for a city.")
            .input_schema(sdk::ToolInputSchema::Json(document(&weather_schema())))
            .build()
            .unwrap();
        let tool_config = sdk::ToolConfiguration::builder()
            .tools(sdk::Tool::ToolSpec(spec))
            .build()
            .unwrap();
        let message = sdk::Message::builder()
            .role(sdk::ConversationRole::User)
            .content(sdk::ContentBlock::Text(
                "What is the weather in Paris? Use the get_weather tool.".to_owned(),
            ))
            .build()
            .unwrap();
        let sent = model
            .client()
            .converse()
            .model_id(id)
            .messages(message)
            .tool_config(tool_config)
            .send()
            .await;
        match sent {
            Ok(output) => {
                let called = output
                    .output()
                    .and_then(|output| output.as_message().ok())
                    .is_some_and(|message| {
                        message
                            .content()
                            .iter()
                            .any(|block| matches!(block, sdk::ContentBlock::ToolUse(_)))
                    });
                found.note(if called {
                    "an uncut schema (top-level additionalProperties) was accepted and the tool \
                     called: the cut is not needed"
                } else {
                    "an uncut schema was accepted but the tool was not called: Nova ignores \
                     tools it cannot read; the cut is needed"
                });
            }
            Err(error) => found.note(format!(
                "an uncut schema was refused, so the cut is needed: {}",
                aws_said(&error)
            )),
        }
    })
}

/// What AWS answered, in a line: its code and message, else the SDK's account of the error.
fn aws_said<E>(error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// A JSON value as a Smithy document.
fn document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Document::Number(Number::PosInt(u)),
            (_, Some(i), _) => Document::Number(Number::NegInt(i)),
            (_, _, Some(f)) => Document::Number(Number::Float(f)),
            _ => Document::Null,
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), document(value)))
                .collect(),
        ),
    }
}

/// Three turns through the loop, streamed as agents stream: a name, a tool call, a question on
/// the first turn; with a cached system prompt, turns after the first read the cache (Nova's
/// checkpoints around tool turns included).
fn session_of_three_turns<'a>(
    id: &'a str,
    found: &'a mut Findings,
) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let model = model(id, None).await;
        let info = model.model_info().clone();
        let c = info.capabilities();
        let cache = c.cache.value;
        let tools: Vec<Arc<dyn Tool>> = if c.tools.value {
            vec![Arc::new(Weather)]
        } else {
            Vec::new()
        };
        let agent = AgentLoop::new(Arc::new(model), ToolSet::new(tools).unwrap())
            .with_system_prompt(long_system_prompt(cache.min_tokens.max(1_024)))
            .with_inference(inference(1_000));
        let turns = [
            "My name is Ada. Reply with just: OK.",
            "What is the weather in Paris? Use the get_weather tool, then answer in one sentence.",
            "What is my name? Answer with the name only.",
        ];
        let mut history: Vec<Message> = Vec::new();
        for (turn, query) in turns.iter().enumerate() {
            let turn = turn + 1;
            let input = RunInput::new(*query).with_history(history.clone());
            let result = match agent.run(input, &NoEvents).await {
                Ok(result) => result,
                Err(failed) => {
                    found.fail(format!(
                        "turn {turn} failed: {}: contradicts {} or {}",
                        failed.error,
                        cell(
                            &info,
                            "tool results alone / tool use alone",
                            &c.tool_use_alone
                        ),
                        cell(&info, "cache checkpoints", &c.cache)
                    ));
                    return;
                }
            };
            for dropped in &result.reasoning.dropped_features {
                found.fail(format!(
                    "turn {turn}: the client dropped {}: {}: contradicts the table's cell for \
                     it ({})",
                    dropped.feature,
                    dropped.reason,
                    cell(&info, "cache checkpoints", &c.cache)
                ));
            }
            if turn == 2 && c.tools.value {
                let called = result
                    .messages
                    .iter()
                    .any(|message| message.tool_uses().any(|call| call.name == "get_weather"));
                if !called {
                    found.fail(format!(
                        "turn 2 answered without calling get_weather (\"{}\"): {}",
                        short(&result.response),
                        cell(&info, "tools", &c.tools)
                    ));
                }
            }
            if turn == 3 && !result.response.to_ascii_lowercase().contains("ada") {
                found.fail(format!(
                    "turn 3 did not recall the name from turn 1: \"{}\"",
                    short(&result.response)
                ));
            }
            if turn > 1 && cache.any() && result.usage.cache_read_input_tokens == 0 {
                found.fail(format!(
                    "turn {turn} read nothing from the prompt cache ({} written): contradicts {}",
                    result.usage.cache_write_input_tokens,
                    cell(&info, "cache checkpoints", &c.cache)
                ));
            }
            found.note(format!(
                "turn {turn}: {} in / {} out, cache read {} write {}",
                result.usage.input_tokens,
                result.usage.output_tokens,
                result.usage.cache_read_input_tokens,
                result.usage.cache_write_input_tokens
            ));
            history.extend(result.messages);
        }
    })
}

// --- the tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_plain_turn_whole_and_streamed() {
    for_each_model("plain turn", plain_turn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_tool_turn_with_converse() {
    for_each_model("tool turn (Converse)", tool_turn_converse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_tool_turn_streamed() {
    for_each_model("tool turn (streamed)", tool_turn_streamed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_typed_answer() {
    for_each_model("typed answer", typed_answer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_typed_answer_with_adaptive_thinking() {
    for_each_model(
        "typed answer with adaptive thinking",
        typed_answer_with_adaptive_thinking,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn prompt_caching_across_two_calls() {
    for_each_model("prompt cache", prompt_cache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn max_tokens_at_the_tables_maximum() {
    for_each_model("maxTokens", max_tokens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn an_uncut_tool_schema_on_nova() {
    for_each_model("uncut tool schema", uncut_tool_schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs AWS credentials: cargo xtask test-live"]
async fn a_session_of_three_turns() {
    for_each_model("session of three turns", session_of_three_turns).await;
}

/// Not ignored: the model list parses as documented, so a typo in the defaults is caught in CI.
#[test]
fn the_model_list_comes_from_the_environment_or_the_defaults() {
    let defaults: Vec<ModelInfo> = DEFAULT_MODELS
        .iter()
        .map(|id| ModelInfo::resolve(id))
        .collect();
    assert!(
        defaults.iter().all(|info| info.known.is_some()),
        "every default model is in the table"
    );
    assert_eq!(
        defaults
            .iter()
            .map(|info| info.family())
            .collect::<Vec<_>>(),
        [
            Some(ModelFamily::AnthropicClaude),
            Some(ModelFamily::MetaLlama),
            Some(ModelFamily::Mistral)
        ]
    );
    assert_eq!(
        default_model_id("us-west-2"),
        Some("us.amazon.nova-pro-v1:0")
    );
}
