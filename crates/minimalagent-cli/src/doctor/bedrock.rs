//! The Bedrock side of `doctor`: the settings the library would use, and three real calls
//! through `BedrockModel` (Converse with a tool, ConverseStream, a prompt-cache round trip).

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minimalagent::bedrock::aws_config::{self, BehaviorVersion};
use minimalagent::bedrock::aws_credential_types::provider::ProvideCredentials;
use minimalagent::bedrock::aws_credential_types::provider::error::CredentialsError;
use minimalagent::bedrock::aws_sdk_bedrockruntime::config::http::HttpResponse;
use minimalagent::bedrock::aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use minimalagent::bedrock::aws_sdk_bedrockruntime::operation::converse::ConverseError;
use minimalagent::bedrock::aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use minimalagent::bedrock::default_model_id;
use minimalagent::bedrock::families::{Capabilities, ModelInfo};
use minimalagent::bedrock::{BedrockModel, BedrockModelBuilder};
use minimalagent::core::{
    BlockDelta, DEFAULT_AWS_REGION, InferenceConfig, Message, Model, ModelError, ModelErrorKind,
    ModelRequest, ModelResponse, ModelStreamEvent, StopReason, TokenUsage, ToolSpec,
};
use serde_json::json;

use super::fixes::{self, clip};
use super::report::{Area, Report};
use crate::text::{duration_ms, one_line};

/// The environment variable naming the model, as the examples read it.
pub(super) const MODEL_ENV: &str = "MINIMALAGENT_MODEL_ID";

/// How long one HTTP attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one call may take, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long resolving the credentials may take (SSO, an assumed role, instance metadata).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(20);

/// The names of the checks, as printed.
const CONVERSE: &str = "Converse";
const STREAM: &str = "ConverseStream";
const CACHE: &str = "prompt cache";

/// The model settings an agent would use here, resolved as the library resolves them.
pub(super) struct Settings {
    region: String,
    region_source: String,
    /// The model id and where it comes from, or why there is none.
    model: Result<(String, String), String>,
    endpoint: String,
    endpoint_source: &'static str,
    /// What the credentials are, or why there are none.
    credentials: Result<String, String>,
}

impl Settings {
    /// Loads the AWS settings (no call to Bedrock; resolving credentials may call SSO or STS)
    /// and picks the model id: `--model`, else `MINIMALAGENT_MODEL_ID`, else the Region's
    /// default.
    pub(super) async fn resolve(model_flag: Option<String>) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (region, region_source) = match config.region() {
            Some(region) => {
                let source = if env("AWS_REGION").is_some() {
                    "AWS_REGION".to_owned()
                } else if env("AWS_DEFAULT_REGION").is_some() {
                    "AWS_DEFAULT_REGION".to_owned()
                } else {
                    format!(
                        "the AWS profile `{}`",
                        env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned())
                    )
                };
                (region.to_string(), source)
            }
            None => (
                DEFAULT_AWS_REGION.to_owned(),
                "no Region is configured: the library's fallback".to_owned(),
            ),
        };
        let model = match (
            model_flag.filter(|id| !id.trim().is_empty()),
            env(MODEL_ENV),
        ) {
            (Some(id), _) => Ok((id, "--model".to_owned())),
            (None, Some(id)) => Ok((id, MODEL_ENV.to_owned())),
            (None, None) => match default_model_id(&region) {
                Some(id) => Ok((id.to_owned(), format!("the library's default for {region}"))),
                None => Err(format!(
                    "none: the library's default model (Amazon Nova Pro) has no cross-Region \
                     profile in {region}"
                )),
            },
        };
        let ignore_configured = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        let (endpoint, endpoint_source) = match (
            env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            env("AWS_ENDPOINT_URL"),
            config.endpoint_url(),
        ) {
            _ if ignore_configured => (
                format!("https://bedrock-runtime.{region}.amazonaws.com"),
                "the Region's (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)",
            ),
            (Some(url), _, _) => (url, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            (None, Some(url), _) => (url, "AWS_ENDPOINT_URL"),
            (None, None, Some(url)) => (url.to_owned(), "the AWS profile's endpoint_url"),
            (None, None, None) => (
                format!("https://bedrock-runtime.{region}.amazonaws.com"),
                "the Region's",
            ),
        };
        let credentials = match config.credentials_provider() {
            None => Err("none: the AWS settings name no credentials provider".to_owned()),
            Some(provider) => {
                match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials())
                    .await
                {
                    Err(_) => Err(format!(
                        "not resolved within {} s",
                        CREDENTIALS_TIMEOUT.as_secs()
                    )),
                    Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => Err(
                        "none found (the SDK looked in the environment, the AWS profile, web \
                         identity, container and instance metadata)"
                            .to_owned(),
                    ),
                    Ok(Err(error)) => Err(format!("none: {}", clip(&error_chain(&error), 300))),
                    Ok(Ok(credentials)) => Ok(describe_credentials(&credentials)),
                }
            }
        };
        Self {
            region,
            region_source,
            model,
            endpoint,
            endpoint_source,
            credentials,
        }
    }

    /// Prints the settings.
    pub(super) fn print(&self, report: &mut Report) {
        match &self.model {
            Ok((id, source)) => {
                report.setting("model", &format!("{id} ({source})"));
                report.setting("family", &family_line(&ModelInfo::resolve(id)));
            }
            Err(why) => report.setting("model", why),
        }
        report.setting(
            "region",
            &format!("{} ({})", self.region, self.region_source),
        );
        report.setting(
            "bedrock",
            &format!("{} ({})", self.endpoint, self.endpoint_source),
        );
        let mut credentials = match &self.credentials {
            Ok(described) => described.clone(),
            Err(why) => why.clone(),
        };
        if std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_some_and(|v| !v.is_empty()) {
            credentials.push_str("; a Bedrock API key is set (AWS_BEARER_TOKEN_BEDROCK)");
        }
        report.setting("credentials", &credentials);
    }
}

/// The model's row of the capability table, in a line.
fn family_line(info: &ModelInfo) -> String {
    let Some(known) = info.known else {
        return "not in the capability table: the client sends no optional feature of its own \
                (no cache checkpoints, no default maxTokens; docs/bedrock-models.md)"
            .to_owned();
    };
    let c = info.capabilities();
    let tools = match (c.tools.value, c.tools_streaming.value) {
        (true, true) => "tools (streamed too)",
        (true, false) => "tools (not streamed: Converse is used when tools are offered)",
        (false, _) => "no tools",
    };
    let cache = c.cache.value;
    let cache = if cache.any() {
        format!(
            "prompt cache from {} tokens",
            thousands(cache.min_tokens.into())
        )
    } else {
        "no prompt cache".to_owned()
    };
    let profile = info
        .geography
        .as_deref()
        .map(|geography| format!(" through the `{geography}.` cross-Region profile"))
        .unwrap_or_default();
    format!(
        "{}: {}{profile} · {tools} · {cache} · max output {} tokens",
        known.family.name(),
        known.name,
        thousands(c.max_output_tokens.value.into())
    )
}

/// `12345` as `12,345`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Who provided the credentials (the SDK's provider name, from its debug form: the only place
/// it shows it), the access key's last characters, and when they expire.
fn describe_credentials(
    credentials: &minimalagent::bedrock::aws_credential_types::Credentials,
) -> String {
    let debug = format!("{credentials:?}");
    let provider = debug
        .split("provider_name: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("resolved");
    let key = credentials.access_key_id();
    let tail: String = key
        .chars()
        .skip(key.chars().count().saturating_sub(4))
        .collect();
    let mut out = format!("{provider} (access key …{tail}");
    if let Some(expiry) = credentials.expiry()
        && let Ok(at) = jiff::Timestamp::try_from(expiry)
    {
        out.push_str(&format!(", expires {}", crate::text::timestamp(at)));
    }
    out.push(')');
    out
}

/// An error and its sources, in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Runs the Bedrock checks and prints one line each.
pub(super) async fn check(settings: &Settings, report: &mut Report) {
    let model_id = match &settings.model {
        Ok((id, _)) => id.clone(),
        Err(why) => {
            report.failed(
                Area::Bedrock,
                CONVERSE,
                &format!("no model id: {why}"),
                &format!(
                    "pass --model ID or set {MODEL_ENV} to a model served in {region} (as \
                     agents take it with .model_id(..)), or set AWS_REGION to a Region of the \
                     us, eu or apac geographies",
                    region = settings.region
                ),
            );
            report.skipped(STREAM, "no model to call");
            report.skipped(CACHE, "no model to call");
            return;
        }
    };
    let builder = || {
        BedrockModelBuilder::default()
            .model_id(&model_id)
            .region(&settings.region)
            .attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
    };
    let (whole, streamed) = match (
        builder().streaming(false).build().await,
        builder().build().await,
    ) {
        (Ok(whole), Ok(streamed)) => (whole, streamed),
        (Err(error), _) | (_, Err(error)) => {
            report.failed(
                Area::Bedrock,
                CONVERSE,
                &format!("the model could not be built: {error}"),
                "pass another --model (or MINIMALAGENT_MODEL_ID)",
            );
            report.skipped(STREAM, "no model to call");
            report.skipped(CACHE, "no model to call");
            return;
        }
    };
    let context = Context {
        model_id: &model_id,
        region: &settings.region,
        endpoint: &settings.endpoint,
        info: whole.model_info().clone(),
    };

    let converse = converse_with_a_tool(&whole, &context, report).await;
    let stream_runs = match &converse {
        Ok(()) => true,
        // Another IAM action (InvokeModelWithResponseStream) may be allowed.
        Err(diagnosis) => !diagnosis.model_level,
    };
    if stream_runs {
        converse_stream(&streamed, &context, report).await;
    } else {
        report.skipped(STREAM, "the model cannot be called (see Converse above)");
    }
    if converse.is_ok() {
        prompt_cache(&whole, &context, report).await;
    } else {
        report.skipped(CACHE, "needs Converse, which failed (see above)");
    }
}

/// What the fixes need to know.
struct Context<'a> {
    model_id: &'a str,
    region: &'a str,
    endpoint: &'a str,
    info: ModelInfo,
}

impl Context<'_> {
    fn capabilities(&self) -> &'static Capabilities {
        self.info.capabilities()
    }
}

/// A failed call, as printed.
struct Diagnosis {
    why: String,
    fix: String,
    /// The model cannot be called at all (access, Region, credentials, network): the other
    /// checks would fail the same way.
    model_level: bool,
}

/// Check 1: Converse (`streaming(false)`) offering one tool, `ping`; a tool call and a text
/// answer both pass.
async fn converse_with_a_tool(
    model: &BedrockModel,
    context: &Context<'_>,
    report: &mut Report,
) -> Result<(), Diagnosis> {
    let takes_tools = context.capabilities().tools.value;
    let mut request = ModelRequest::new(vec![Message::user_text(
        "This is a connectivity check. Call the ping tool with the message \"doctor\".",
    )])
    .with_inference(InferenceConfig {
        max_tokens: Some(300),
        ..InferenceConfig::default()
    });
    if takes_tools {
        request = request.with_tools(Arc::from(vec![ping_tool()]));
    }
    let started = Instant::now();
    match model.converse(&request).await {
        Ok(response) => {
            let ping = response
                .message
                .tool_uses()
                .find(|call| call.name == "ping");
            let what = match ping {
                Some(call) => format!("ping called with {}", clip(&call.input.to_string(), 60)),
                None => format!(
                    "answered in text{}: \"{}\"",
                    if takes_tools {
                        ", without calling ping"
                    } else {
                        " (the capability table says it takes no tools: asked without)"
                    },
                    clip(response.message.text().trim(), 60)
                ),
            };
            report.ok(
                CONVERSE,
                &format!("{what} · {}", call_figures(&response.usage, started)),
            );
            dropped_notes(&response, report);
            Ok(())
        }
        Err(error) => {
            let diagnosis = diagnose(&error, Operation::Converse, context);
            report.failed(Area::Bedrock, CONVERSE, &diagnosis.why, &diagnosis.fix);
            Err(diagnosis)
        }
    }
}

/// The tool check 1 offers.
fn ping_tool() -> ToolSpec {
    ToolSpec {
        name: "ping".to_owned(),
        description: "Answers pong. Call it to check that tool use works.".to_owned(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "Any short text"}
            },
            "required": ["message"]
        }),
    }
}

/// Tokens and time of a call: `32 in / 8 out tokens · 412 ms`.
fn call_figures(usage: &TokenUsage, started: Instant) -> String {
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    format!(
        "{} in / {} out tokens · {}",
        usage.input_tokens,
        usage.output_tokens,
        duration_ms(elapsed)
    )
}

/// The features Bedrock refused and the client left out, under the check.
fn dropped_notes(response: &ModelResponse, report: &mut Report) {
    for dropped in &response.dropped_features {
        report.detail(&format!(
            "note: Bedrock refused {} and the client left it out: {}",
            dropped.feature, dropped.reason
        ));
    }
}

/// Check 2: ConverseStream, a plain question.
async fn converse_stream(model: &BedrockModel, context: &Context<'_>, report: &mut Report) {
    let request = ModelRequest::new(vec![Message::user_text(
        "This is a connectivity check. Answer with the single word: pong.",
    )])
    .with_inference(InferenceConfig {
        max_tokens: Some(50),
        ..InferenceConfig::default()
    });
    let started = Instant::now();
    let outcome = tokio::time::timeout(OPERATION_TIMEOUT, async {
        let mut stream = model.converse_stream(&request).await?;
        let mut reply = Streamed::default();
        while let Some(event) = stream.next().await {
            match event? {
                ModelStreamEvent::BlockDelta {
                    delta: BlockDelta::Text(text),
                    ..
                } => {
                    reply.deltas += 1;
                    reply.text.push_str(&text);
                }
                ModelStreamEvent::MessageStop { stop_reason } => reply.stop = Some(stop_reason),
                ModelStreamEvent::Metadata { usage, .. } => reply.usage = usage,
                ModelStreamEvent::FeatureDropped(dropped) => reply.dropped.push(format!(
                    "note: Bedrock refused {} and the client left it out: {}",
                    dropped.feature, dropped.reason
                )),
                _ => {}
            }
        }
        Ok::<Streamed, ModelError>(reply)
    })
    .await;
    match outcome {
        Err(_) => report.failed(
            Area::Bedrock,
            STREAM,
            &format!(
                "the stream did not end within {} s",
                OPERATION_TIMEOUT.as_secs()
            ),
            &format!(
                "check the network (a proxy that buffers or cuts long responses) and the \
                 endpoint {}",
                context.endpoint
            ),
        ),
        Ok(Err(error)) => {
            let diagnosis = diagnose(&error, Operation::ConverseStream, context);
            report.failed(Area::Bedrock, STREAM, &diagnosis.why, &diagnosis.fix);
        }
        Ok(Ok(reply)) if reply.stop.is_none() => report.failed(
            Area::Bedrock,
            STREAM,
            "the stream ended without its messageStop event",
            &format!(
                "check the network between here and {} (a proxy may cut event streams)",
                context.endpoint
            ),
        ),
        Ok(Ok(reply)) => {
            let stop = match &reply.stop {
                Some(StopReason::EndTurn) | None => String::new(),
                Some(other) => format!(" (stop reason {})", other.as_str()),
            };
            report.ok(
                STREAM,
                &format!(
                    "\"{}\" in {} text event{}{stop} · {}",
                    clip(reply.text.trim(), 40),
                    reply.deltas,
                    if reply.deltas == 1 { "" } else { "s" },
                    call_figures(&reply.usage, started)
                ),
            );
            for note in &reply.dropped {
                report.detail(note);
            }
        }
    }
}

/// What a stream brought.
#[derive(Default)]
struct Streamed {
    text: String,
    deltas: usize,
    stop: Option<StopReason>,
    usage: TokenUsage,
    dropped: Vec<String>,
}

/// Check 3: two identical Converse calls with a system prompt above the family's cache
/// minimum; the second must read from the cache.
async fn prompt_cache(model: &BedrockModel, context: &Context<'_>, report: &mut Report) {
    let cache = context.capabilities().cache.value;
    if !cache.any() {
        let why = match context.info.known {
            Some(known) => format!(
                "{} has no prompt caching (capability table: docs/bedrock-models.md)",
                known.name
            ),
            None => "the capability table does not know this model, so the client sends no \
                     cache checkpoints"
                .to_owned(),
        };
        report.skipped(CACHE, &why);
        return;
    }
    let system = long_system_prompt(cache.min_tokens);
    let estimate = system.len() / 4;
    let request = ModelRequest::new(vec![Message::user_text(
        "This is a prompt-cache check. Answer with the single word: ok.",
    )])
    .with_system(vec![system])
    .with_inference(InferenceConfig {
        max_tokens: Some(20),
        ..InferenceConfig::default()
    });
    let mut usages = Vec::with_capacity(2);
    for _ in 0..2 {
        match model.converse(&request).await {
            Ok(response) => {
                if let Some(dropped) = response
                    .dropped_features
                    .iter()
                    .find(|dropped| dropped.feature.contains("cache"))
                {
                    report.failed(
                        Area::Bedrock,
                        CACHE,
                        &format!("Bedrock refused the cache checkpoints: {}", dropped.reason),
                        &format!(
                            "prompt caching is not available to this account for {} in {}: \
                             agents still work, at the full input price (see \
                             https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html)",
                            context.model_id, context.region
                        ),
                    );
                    return;
                }
                usages.push(response.usage);
            }
            Err(error) => {
                let diagnosis = diagnose(&error, Operation::Converse, context);
                report.failed(Area::Bedrock, CACHE, &diagnosis.why, &diagnosis.fix);
                return;
            }
        }
    }
    let [first, second] = [&usages[0], &usages[1]];
    let figures = format!(
        "call 1 wrote {} and read {} tokens, call 2 wrote {} and read {} (system prompt ≈ {} \
         tokens, minimum {})",
        thousands(first.cache_write_input_tokens),
        thousands(first.cache_read_input_tokens),
        thousands(second.cache_write_input_tokens),
        thousands(second.cache_read_input_tokens),
        thousands(estimate as u64),
        thousands(cache.min_tokens.into())
    );
    if second.cache_read_input_tokens > 0 {
        report.ok(CACHE, &figures);
    } else {
        let why = if first.cache_write_input_tokens == 0 {
            "nothing was written to the cache or read from it"
        } else {
            "the second call read nothing from the cache"
        };
        report.failed(
            Area::Bedrock,
            CACHE,
            &format!("{why}: {figures}"),
            &format!(
                "prompt caching may not be available for {} in {}: agents still work, at the \
                 full input price; if it is available there, the capability table's minimum \
                 ({}) may be too low for this model: report it (docs/bedrock-models.md)",
                context.model_id,
                context.region,
                thousands(cache.min_tokens.into())
            ),
        );
    }
}

/// A system prompt of at least one and a half times `min_tokens` tokens (a token per four
/// bytes, which real tokenizers exceed on this text), the same on every run.
fn long_system_prompt(min_tokens: u32) -> String {
    let wanted_bytes = (min_tokens as usize).max(1) * 6;
    let mut prompt = String::from(
        "You are the minimalagent doctor's prompt-cache check. The rules below only make this \
         prompt long enough to be cached; follow the user's request.\n",
    );
    let mut rule = 1;
    while prompt.len() < wanted_bytes {
        prompt.push_str(&format!(
            "Rule {rule}: when a question concerns topic number {rule}, answer it briefly, \
             plainly and politely.\n"
        ));
        rule += 1;
    }
    prompt
}

/// Which operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    ConverseStream,
}

impl Operation {
    /// The IAM action it needs.
    fn action(self) -> &'static str {
        match self {
            Operation::Converse => "bedrock:InvokeModel",
            Operation::ConverseStream => "bedrock:InvokeModelWithResponseStream",
        }
    }
}

/// AWS's error code, from the SDK error under the model error.
fn aws_code(error: &ModelError) -> Option<String> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(sdk) = cause.downcast_ref::<SdkError<ConverseError, HttpResponse>>() {
            return sdk.code().map(str::to_owned);
        }
        if let Some(sdk) = cause.downcast_ref::<SdkError<ConverseStreamError, HttpResponse>>() {
            return sdk.code().map(str::to_owned);
        }
        if let Some(model_error) = cause.downcast_ref::<ModelError>() {
            return aws_code(model_error);
        }
        source = cause.source();
    }
    None
}

/// What failed, and the fix.
fn diagnose(error: &ModelError, operation: Operation, context: &Context<'_>) -> Diagnosis {
    let message = one_line(error.message());
    let code = aws_code(error);
    let why = match &code {
        Some(code) => format!("{code}: {message}"),
        // The SDK's own errors (a connection refused, a timeout) carry their whole chain.
        None => format!(
            "{} error: {}",
            error.kind().as_str(),
            fixes::sdk_text(&message, 300)
        ),
    };
    let lower = message.to_ascii_lowercase();
    let model = context.model_id;
    let region = context.region;
    let name = context.info.name().to_owned();
    let diagnosis = |fix: String, model_level: bool| Diagnosis {
        why: why.clone(),
        fix,
        model_level,
    };
    if let Some(code) = code
        .as_deref()
        .filter(|code| fixes::CREDENTIAL_CODES.contains(code))
    {
        return diagnosis(fixes::refused_credentials(code), true);
    }
    if lower.contains("security token included in the request")
        || lower.contains("signature we calculated")
    {
        return diagnosis(
            fixes::refused_credentials("the security token or signature"),
            true,
        );
    }
    if !matches!(
        error.kind(),
        ModelErrorKind::AccessDenied | ModelErrorKind::Validation | ModelErrorKind::ModelNotFound
    ) && fixes::says_no_credentials(&message)
    {
        return Diagnosis {
            why: "the SDK found no AWS credentials to sign the request with".to_owned(),
            fix: fixes::NO_CREDENTIALS.to_owned(),
            model_level: true,
        };
    }
    match error.kind() {
        ModelErrorKind::AccessDenied if lower.contains("access to the model") => diagnosis(
            format!(
                "request access to {name} (`{model}`) in the Bedrock console, Model access, for \
                 Region {region}: {} (a cross-Region profile such as `us.` needs access in each \
                 Region it routes to)",
                fixes::model_access_page(region)
            ),
            true,
        ),
        ModelErrorKind::AccessDenied => {
            let denial = fixes::iam_denial(&message);
            let resource = format!("the model `{model}` (and its inference profile)");
            diagnosis(
                fixes::grant(denial.as_ref(), operation.action(), &resource),
                false,
            )
        }
        ModelErrorKind::Validation if lower.contains("model identifier is invalid") => {
            diagnosis(fixes::invalid_identifier(model, region), true)
        }
        ModelErrorKind::Validation if lower.contains("on-demand throughput") => {
            diagnosis(fixes::needs_profile(model, region), true)
        }
        ModelErrorKind::ModelNotFound if lower.contains("use case") => diagnosis(
            format!(
                "submit the Anthropic use-case form once for this account: Bedrock console \
                 ({}), the model's page, \"Submit use case details\"",
                fixes::model_access_page(region)
            ),
            true,
        ),
        ModelErrorKind::ModelNotFound
            if lower.contains("end of its life") || lower.contains("legacy") =>
        {
            diagnosis(
                format!(
                    "{name} is retired or legacy in {region}: choose a newer model (--model or \
                     {MODEL_ENV})"
                ),
                true,
            )
        }
        ModelErrorKind::ModelNotFound => diagnosis(
            format!(
                "`{model}` is not available in {region}: choose a model and Region that serve \
                 it (https://docs.aws.amazon.com/bedrock/latest/userguide/models-regions.html), \
                 or a cross-Region profile of this Region's geography{}",
                fixes::region_geography(region)
                    .map(|geo| format!(" (`{geo}.`…)"))
                    .unwrap_or_default()
            ),
            true,
        ),
        ModelErrorKind::Throttled => diagnosis(
            format!(
                "Bedrock throttled the calls even after retries: wait and retry, or raise the \
                 quota (Service Quotas console, Amazon Bedrock, the requests and tokens per \
                 minute of {name} in {region}); a cross-Region profile (`us.`, `eu.`, …) \
                 spreads the load over several Regions"
            ),
            true,
        ),
        ModelErrorKind::Network => diagnosis(
            format!(
                "cannot reach Bedrock at {}: check the network and any proxy (HTTPS_PROXY), \
                 the Region, and AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                context.endpoint
            ),
            true,
        ),
        ModelErrorKind::Timeout => diagnosis(
            "Bedrock did not answer in time: retry; if it lasts, check the network and the \
             AWS Health Dashboard"
                .to_owned(),
            false,
        ),
        ModelErrorKind::ModelNotReady => diagnosis(
            "the model is not ready (an imported or provisioned model still starting): wait a \
             few minutes and retry"
                .to_owned(),
            true,
        ),
        ModelErrorKind::ServiceUnavailable => diagnosis(
            "Bedrock is unavailable or failed: retry later (AWS Health Dashboard)".to_owned(),
            false,
        ),
        ModelErrorKind::Unsupported => diagnosis(
            format!(
                "the client refused the request for {name} before sending it, per the \
                 capability table (docs/bedrock-models.md); if Bedrock takes it, report it"
            ),
            false,
        ),
        ModelErrorKind::Validation => diagnosis(
            format!(
                "Bedrock refused the request the client built for {name}: if the model id is \
                 right, the capability table may be wrong for it: report it with this message \
                 (docs/bedrock-models.md)"
            ),
            false,
        ),
        _ => diagnosis(
            "see AWS's message above; run again with RUST_LOG=debug for the SDK's details"
                .to_owned(),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_is_above_the_minimum_and_the_same_each_time() {
        for min in [512, 1_000, 1_024, 4_096] {
            let prompt = long_system_prompt(min);
            assert!(prompt.len() / 4 >= min as usize * 3 / 2, "{min}");
            assert_eq!(prompt, long_system_prompt(min));
        }
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(128_000), "128,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_family_line_sums_up_the_table_row() {
        let line = family_line(&ModelInfo::resolve("us.amazon.nova-pro-v1:0"));
        assert!(
            line.starts_with("Amazon Nova: Nova Pro through the `us.`"),
            "{line}"
        );
        assert!(line.contains("prompt cache from 1,000 tokens"), "{line}");
        let line = family_line(&ModelInfo::resolve("us.meta.llama3-3-70b-instruct-v1:0"));
        assert!(
            line.contains("not streamed") && line.contains("no prompt cache"),
            "{line}"
        );
        let line = family_line(&ModelInfo::resolve(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
        ));
        assert!(line.starts_with("not in the capability table"), "{line}");
    }
}
