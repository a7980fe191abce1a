//! [`ConverseStandIn`]: a local HTTP server answering Amazon Bedrock's Converse API on the wire.

mod cache;
mod demo;
mod family;
mod policy;
mod reply;
mod request;
mod rules;
mod stream;
mod stream_body;

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use agent_core::{ContentBlock, ModelResponse, StopReason, TokenUsage};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use family::ModelFamily;
pub use policy::Policy;
pub use reply::{BedrockError, BedrockErrorKind, Reply, STANDIN_GUARDRAIL_ID};
pub use request::{ConverseRequest, RecordedRequest};
pub use rules::{
    OptionalFeature, RequestTarget, Rule, RuleViolation, check_converse_request,
    check_converse_request_for,
};
pub use stream::{Chunking, StreamBehavior, StreamErrorKind, StreamFault, StreamSettings};

use family::Model;
use stream::StreamMetadata;

/// The content type of a ConverseStream answer.
const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The largest request body accepted (Converse requests with documents can be large).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How long [`ConverseStandIn::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The output tokens Converse gives Claude when the request sets no `maxTokens` (the API
/// reference says "the model's maximum", but Bedrock stops at 4096):
/// <https://github.com/BerriAI/litellm/issues/41529> , <https://github.com/langchain-ai/openwiki/issues/722> .
const CLAUDE_DEFAULT_MAX_TOKENS: u64 = 4_096;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has already failed; keep going for its report.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StandInError {
    /// The listening socket could not be opened.
    #[error("the Converse stand-in could not listen on {addr}: {source}")]
    Bind {
        /// The address it tried.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A local stand-in for the Amazon Bedrock Runtime Converse and ConverseStream APIs, speaking
/// their wire protocol (restJson1, AWS event streams) on `127.0.0.1`, so that the real
/// `aws-sdk-bedrockruntime` client — and so `BedrockModel` and whole agents — can be tested
/// offline, without AWS credentials or cost.
///
/// It answers `POST /model/{modelId}/converse` with Converse's JSON (`output.message`,
/// `stopReason`, `usage`, `metrics`, and `trace` when the reply has one) or with Bedrock's
/// error shapes (HTTP status, `x-amzn-errortype` header, `{"message": …}` body), and
/// `POST /model/{modelId}/converse-stream` with the same reply as an
/// `application/vnd.amazon.eventstream` body: `messageStart`, the blocks'
/// `contentBlockStart`/`contentBlockDelta`/`contentBlockStop`, `messageStop` and `metadata`
/// events, streamed as [`StreamSettings`] say, with the faults a reply asks for
/// ([`StreamFault`]). Errors that come before a stream keep the HTTP error shapes. SigV4
/// signatures are not checked, so any credentials do; the Region of the signature's credential
/// scope (`Credential=AKID/DATE/REGION/bedrock/aws4_request`) is read. Each request, whichever
/// the operation, is:
///
/// 1. recorded (see [`ConverseStandIn::requests`]);
/// 2. checked against Converse's rules for the model it names, the operation and the Region
///    ([`check_converse_request_for`]): the service-level rules, then the rules of the model's
///    [family](ModelFamily) (listed in the crate documentation, each from an AWS page or a
///    public report of Bedrock's answer). A request breaking one is answered with the error
///    the real service gives: a 400 `ValidationException` worded like its own, or, for a
///    `cachePoint` sent to a model without prompt caching, a 403 `AccessDeniedException`.
///    Model ids the stand-in does not know (such as `test-model`) get the service-level rules
///    only;
/// 3. otherwise answered by the next queued reply ([`ConverseStandIn::push_reply`],
///    [`ConverseStandIn::fail_next`]) or, when none is queued, by the [`Policy`];
/// 4. delayed by the configured latency ([`ConverseStandIn::set_latency`]); a stream also
///    pauses between events ([`ConverseStandIn::set_stream_event_delay`]).
///
/// Requests holding `cachePoint` blocks get prompt-cache counts in their usage
/// ([`ConverseStandIn::set_prompt_cache`]); for a known model, a checkpoint whose prefix is
/// shorter than the model's minimum is not cached, as on Bedrock. A reply to an Anthropic
/// Claude request without `inferenceConfig.maxTokens` is cut at 4,096 output tokens (the
/// stand-in's rough count: a token per four bytes) with stop reason `max_tokens`, as Bedrock
/// does.
///
/// Point a client at [`ConverseStandIn::endpoint_url`] (for `aws_config`:
/// `.endpoint_url(…)` or `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`). The server stops when the
/// stand-in is dropped or [shut down](ConverseStandIn::shutdown). It runs on the Tokio runtime
/// that started it.
///
/// ```
/// use agent_testkit::{BedrockErrorKind, ConverseStandIn, Policy, Reply};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let standin = ConverseStandIn::start(Policy::script([
///     Reply::text("Hello!"),
///     Reply::error(BedrockErrorKind::AccessDenied),
/// ]))
/// .await?;
/// // Retry tests: the next two requests get a 429 ThrottlingException first.
/// standin.fail_next(2, BedrockErrorKind::Throttling);
/// assert!(standin.endpoint_url().starts_with("http://127.0.0.1:"));
/// assert!(standin.requests().is_empty());
/// standin.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ConverseStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<StandInState>,
    stop: watch::Sender<bool>,
}

#[derive(Debug)]
struct StandInState {
    policy: Policy,
    queue: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    received: usize,
    latency: Duration,
    check_rules: bool,
    family_rules: bool,
    stream: StreamSettings,
    prompt_cache_enabled: bool,
    /// Hashes of the prompt prefixes seen so far (see `cache`).
    prompt_cache: HashSet<u64>,
    /// The features to refuse (see [`ConverseStandIn::refuse_once`]).
    refusals: Vec<rules::refusal::Refusal>,
}

impl ConverseStandIn {
    /// Starts a stand-in on a free port of `127.0.0.1`, answering with `policy`.
    pub async fn start(policy: Policy) -> Result<Self, StandInError> {
        Self::start_on_port(0, policy).await
    }

    /// Starts a stand-in on `127.0.0.1:port` (0 picks a free port), answering with `policy`.
    pub async fn start_on_port(port: u16, policy: Policy) -> Result<Self, StandInError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StandInError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StandInError::Bind { addr, source })?;
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(StandInState {
                policy,
                queue: VecDeque::new(),
                requests: Vec::new(),
                received: 0,
                latency: Duration::ZERO,
                check_rules: true,
                family_rules: true,
                stream: StreamSettings::default(),
                prompt_cache_enabled: true,
                prompt_cache: HashSet::new(),
                refusals: Vec::new(),
            }),
            stop,
        });
        let router = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let mut stopped = shared.stop.subscribe();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            // An error means the stand-in is gone: stop as well.
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "the Converse stand-in stopped with an error");
            }
        });
        tracing::debug!(%addr, "Converse stand-in listening");
        Ok(Self {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// Starts a stand-in replaying `replies` in order ([`Policy::script`]).
    pub async fn scripted(replies: impl IntoIterator<Item = Reply>) -> Result<Self, StandInError> {
        Self::start(Policy::script(replies)).await
    }

    /// Starts a stand-in answering with the demo model ([`Policy::demo`]).
    pub async fn demo() -> Result<Self, StandInError> {
        Self::start(Policy::demo()).await
    }

    /// The URL to give the client as its endpoint: `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order of arrival, including rejected ones.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// How many requests it received so far (including any forgotten by
    /// [`ConverseStandIn::clear_requests`]).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.state).received
    }

    /// Forgets the requests recorded so far (their numbering goes on).
    pub fn clear_requests(&self) {
        lock(&self.shared.state).requests.clear();
    }

    /// Delays every answer by `latency` from now on, as a slow model would (zero by default).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.state).latency = latency;
    }

    /// The current delay of every answer.
    pub fn latency(&self) -> Duration {
        lock(&self.shared.state).latency
    }

    /// Replaces the policy that answers when no reply is queued.
    pub fn set_policy(&self, policy: Policy) {
        lock(&self.shared.state).policy = policy;
    }

    /// Turns the Converse rule check on (the default) or off. With it off, every request goes to
    /// the queued replies and the policy, however malformed.
    pub fn set_rule_check(&self, enabled: bool) {
        lock(&self.shared.state).check_rules = enabled;
    }

    /// Turns the per-model rules and behaviours on (the default) or off. With them off, every
    /// model id is treated as one the stand-in does not know: only the service-level rules are
    /// checked ([`check_converse_request`]), the Region is not, the prompt cache has no
    /// minimum and Claude replies are not cut at 4,096 tokens.
    pub fn set_family_rules(&self, enabled: bool) {
        lock(&self.shared.state).family_rules = enabled;
    }

    /// Queues a reply: queued replies answer the next valid requests, in order, before the
    /// policy is asked.
    pub fn push_reply(&self, reply: impl Into<Reply>) {
        lock(&self.shared.state).queue.push_back(reply.into());
    }

    /// Makes the next `count` valid requests fail with `error` (ahead of any queued reply), then
    /// goes on as before. With [`BedrockErrorKind::Throttling`] this tests a client's retries.
    pub fn fail_next(&self, count: usize, error: impl Into<BedrockError>) {
        let error = error.into();
        let mut state = lock(&self.shared.state);
        for _ in 0..count {
            state.queue.push_front(Reply::Error(error.clone()));
        }
    }

    /// Refuses the next request that holds `feature`, as Bedrock refuses it for a model that
    /// does not take it (its error and words: [`OptionalFeature`]), then takes it again: for
    /// testing that a client drops a feature it added on its own and calls again. Checked after
    /// the Converse rules, for every model id, ahead of queued replies and the policy; the
    /// request is recorded with the refusal as its [`RecordedRequest::violation`].
    pub fn refuse_once(&self, feature: OptionalFeature) {
        self.refuse(feature, rules::refusal::Times::Count(1));
    }

    /// Refuses every request that holds `feature` from now on (see
    /// [`ConverseStandIn::refuse_once`]): a model that never takes it, so a client that sends
    /// it again is refused again.
    pub fn refuse_always(&self, feature: OptionalFeature) {
        self.refuse(feature, rules::refusal::Times::Always);
    }

    /// Stops the refusals asked for with [`ConverseStandIn::refuse_once`] and
    /// [`ConverseStandIn::refuse_always`].
    pub fn stop_refusing(&self) {
        lock(&self.shared.state).refusals.clear();
    }

    fn refuse(&self, feature: OptionalFeature, times: rules::refusal::Times) {
        lock(&self.shared.state)
            .refusals
            .push(rules::refusal::Refusal { feature, times });
    }

    /// Sets how replies to `ConverseStream` are streamed from now on: delta sizes, HTTP
    /// chunking, pause between events.
    pub fn set_stream_settings(&self, settings: StreamSettings) {
        lock(&self.shared.state).stream = settings;
    }

    /// How replies to `ConverseStream` are streamed.
    pub fn stream_settings(&self) -> StreamSettings {
        lock(&self.shared.state).stream
    }

    /// Pauses `delay` between one streamed event and the next from now on (none by default),
    /// as a model writing slowly would. The first event waits for the latency instead
    /// ([`ConverseStandIn::set_latency`]).
    pub fn set_stream_event_delay(&self, delay: Duration) {
        lock(&self.shared.state).stream.event_delay = delay;
    }

    /// Turns the prompt cache on (the default) or off. With it on, a successful answer to a
    /// request holding `cachePoint` blocks reports `cacheWriteInputTokens` the first time its
    /// prefix (everything up to the last `cachePoint`: tools, system, messages) is seen for
    /// its model id, and `cacheReadInputTokens` afterwards, in the Converse `usage` and in the
    /// stream's `metadata`. Replies that set cache counts themselves keep them.
    pub fn set_prompt_cache(&self, enabled: bool) {
        lock(&self.shared.state).prompt_cache_enabled = enabled;
    }

    /// Forgets the prompt prefixes seen so far: the next request with a `cachePoint` writes
    /// the cache again.
    pub fn clear_prompt_cache(&self) {
        lock(&self.shared.state).prompt_cache.clear();
    }

    /// How many queued replies are left (not counting the policy's own script).
    pub fn queued_replies(&self) -> usize {
        lock(&self.shared.state).queue.len()
    }

    /// Stops the server: no new connections, answers held back by latency are cut short with a
    /// `ServiceUnavailableException`, and open connections close. Waits (a few seconds at
    /// most) until they have.
    pub async fn shutdown(mut self) {
        self.shared.stop.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ConverseStandIn {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    let Some((operation, model_id)) = operation_and_model_id(uri.path()) else {
        return error_response(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!(
                "The Converse stand-in serves only POST /model/{{modelId}}/converse and \
                 /model/{{modelId}}/converse-stream, not {method} {}.",
                uri.path()
            ),
        );
    };
    if method != Method::POST {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            &format!("The Converse stand-in serves only POST on {}.", uri.path()),
        );
    }

    let region = signing_region(&headers);
    let (response, latency) = answer(
        &shared,
        Incoming {
            operation,
            model_id,
            region,
            received_at,
        },
        &body,
    );

    if !latency.is_zero() {
        let mut stopped = shared.stop.subscribe();
        tokio::select! {
            () = tokio::time::sleep(latency) => {}
            _ = stopped.wait_for(|stop| *stop) => {
                return bedrock_error_response(&BedrockError::new(
                    BedrockErrorKind::ServiceUnavailable,
                    "The Converse stand-in is shutting down.",
                ));
            }
        }
    }
    response
}

/// Which Bedrock operation a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// `POST /model/{modelId}/converse`: one JSON answer.
    Converse,
    /// `POST /model/{modelId}/converse-stream`: an event stream.
    ConverseStream,
}

/// How a request used the prompt cache: the size of its cached prefix, and whether this
/// request wrote it (first sight) or read it.
#[derive(Debug, Clone, Copy)]
struct CacheUse {
    /// Tokens of the longest prefix an earlier request cached.
    read: u64,
    /// Tokens cached anew, up to the request's last checkpoint.
    written: u64,
}

/// What a reply is rendered with, besides the reply and the request.
#[derive(Debug, Clone, Copy)]
struct RenderContext {
    operation: Operation,
    latency: Duration,
    stream: StreamSettings,
    cache: Option<CacheUse>,
}

/// What the path and headers say of a request.
struct Incoming {
    operation: Operation,
    model_id: String,
    region: Option<String>,
    received_at: Instant,
}

/// The Region of a SigV4 `Authorization` header's credential scope
/// (`AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/bedrock/aws4_request, …`).
fn signing_region(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    // AKID / date / region / service / aws4_request
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [.., region, _service, "aws4_request"] if parts.len() >= 5 && !region.is_empty() => {
            Some((*region).to_owned())
        }
        _ => None,
    }
}

/// Checks, records and answers one request; returns the answer and the latency.
fn answer(shared: &Arc<Shared>, incoming: Incoming, body: &[u8]) -> (Response, Duration) {
    let Incoming {
        operation,
        model_id,
        region,
        received_at,
    } = incoming;
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let mut state = lock(&shared.state);
    let index = state.received;
    state.received += 1;
    let latency = state.latency;
    let streamed = operation == Operation::ConverseStream;
    let model = if state.family_rules {
        family::resolve(&model_id).model
    } else {
        None
    };
    let (body, violation) = match parsed {
        Ok(body) => {
            let violation = if !state.check_rules {
                None
            } else if state.family_rules {
                let target = RequestTarget {
                    model_id: &model_id,
                    streamed,
                    region: region.as_deref(),
                };
                check_converse_request_for(&target, &body).err()
            } else {
                check_converse_request(&body).err()
            };
            (body, violation)
        }
        Err(error) => (
            Value::Null,
            Some(rules::malformed(format!(
                "Malformed input request: the body is not valid JSON ({error})."
            ))),
        ),
    };
    // A feature the stand-in was told to refuse, in a request the rules take.
    let violation = match violation {
        None => rules::refusal::refuse(&mut state.refusals, &body),
        some => some,
    };
    let request = ConverseRequest {
        index,
        model_id,
        body,
        streamed,
        region,
    };
    let mut reply = match &violation {
        Some(violation) => Reply::Error(BedrockError::new(
            violation.error_kind(),
            violation.message(),
        )),
        None => match state.queue.pop_front() {
            Some(reply) => reply,
            None => {
                let policy = state.policy.clone();
                ask_policy(&policy, &request)
            }
        },
    };
    if let Some(model) = &model {
        cap_claude_output(&mut reply, model, &request.body);
    }
    // Only a request the model answers reaches the prompt cache.
    let cache = if reply.response().is_some() && state.prompt_cache_enabled {
        let mut prefixes = cache::cache_prefixes(&request.model_id, &request.body);
        // A checkpoint below the model's minimum is silently not cached:
        // https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html (minimums in
        // `Model::prompt_cache`).
        let minimum = model
            .as_ref()
            .and_then(Model::prompt_cache)
            .map_or(0, |cache| cache.minimum_tokens);
        prefixes.retain(|prefix| prefix.tokens >= minimum);
        let read = prefixes
            .iter()
            .filter(|prefix| state.prompt_cache.contains(&prefix.hash))
            .map(|prefix| prefix.tokens)
            .max()
            .unwrap_or(0);
        let last = prefixes.last().map_or(0, |prefix| prefix.tokens);
        for prefix in &prefixes {
            state.prompt_cache.insert(prefix.hash);
        }
        (!prefixes.is_empty()).then_some(CacheUse {
            read,
            written: last.saturating_sub(read),
        })
    } else {
        None
    };
    let context = RenderContext {
        operation,
        latency,
        stream: state.stream,
        cache,
    };
    let (response, status, error_type) = render(reply, &request, model.as_ref(), context, shared);
    state.requests.push(RecordedRequest {
        index,
        model_id: request.model_id,
        body: request.body,
        received_at,
        violation,
        status,
        error_type,
        streamed: request.streamed,
        region: request.region,
        client_disconnected: false,
    });
    (response, latency)
}

/// Cuts a Claude reply to a request without `inferenceConfig.maxTokens` at
/// [`CLAUDE_DEFAULT_MAX_TOKENS`] output tokens of text (a token per four bytes, the
/// stand-in's rough count): the text stops there, later blocks are dropped, and the stop
/// reason becomes `max_tokens`.
fn cap_claude_output(reply: &mut Reply, model: &Model, body: &Value) {
    if !model.family.is_claude() || body.pointer("/inferenceConfig/maxTokens").is_some() {
        return;
    }
    let response: &mut ModelResponse = match reply {
        Reply::Respond(response) | Reply::RespondWithStream { response, .. } => response,
        Reply::Error(_) | Reply::Raw { .. } => return,
    };
    let limit = usize::try_from(CLAUDE_DEFAULT_MAX_TOKENS * 4).unwrap_or(usize::MAX);
    let mut used = 0usize;
    let mut cut_at = None;
    for (index, block) in response.message.content.iter_mut().enumerate() {
        let ContentBlock::Text(text) = block else {
            continue;
        };
        if used + text.len() > limit {
            let mut end = limit - used;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            cut_at = Some(index);
            break;
        }
        used += text.len();
    }
    let Some(index) = cut_at else {
        return;
    };
    response.message.content.truncate(index + 1);
    if matches!(response.message.content.last(), Some(ContentBlock::Text(text)) if text.is_empty())
    {
        response.message.content.pop();
    }
    response.stop_reason = StopReason::MaxTokens;
    let usage = &mut response.usage;
    usage.output_tokens = CLAUDE_DEFAULT_MAX_TOKENS;
    usage.total_tokens = usage
        .input_tokens
        .saturating_add(usage.output_tokens)
        .saturating_add(usage.cache_read_input_tokens)
        .saturating_add(usage.cache_write_input_tokens);
}

fn ask_policy(policy: &Policy, request: &ConverseRequest) -> Reply {
    // A policy is test code: if it panics, say so in the answer instead of dropping the
    // connection.
    std::panic::catch_unwind(AssertUnwindSafe(|| policy.reply(request))).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Reply::error_with(
            BedrockErrorKind::InternalServer,
            format!("The Converse stand-in's policy panicked: {detail}"),
        )
    })
}

/// The HTTP answer for a reply, with its status and error type for the record.
fn render(
    reply: Reply,
    request: &ConverseRequest,
    model: Option<&Model>,
    context: RenderContext,
    shared: &Arc<Shared>,
) -> (Response, u16, Option<String>) {
    let (mut response, stream) = match reply {
        Reply::Respond(response) => (response, StreamBehavior::default()),
        Reply::RespondWithStream { response, stream } => (response, stream),
        Reply::Error(error) => {
            let mut response = bedrock_error_response(&error);
            set_request_id(&mut response, request.index);
            return (
                response,
                error.kind.status(),
                Some(error.kind.error_type().to_owned()),
            );
        }
        Reply::Raw {
            status,
            error_type,
            body,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_response(code, body, request.index);
            if let Some(value) = error_type
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
            {
                response.headers_mut().insert("x-amzn-errortype", value);
            }
            return (response, code.as_u16(), error_type);
        }
    };
    assign_tool_use_ids(&mut response.message.content, &request.body, model);
    let usage = with_cache_use(response.usage, context.cache);
    let usage_json = stream::usage_json(&usage, context.cache.is_some());
    match context.operation {
        Operation::Converse => {
            let latency_ms = response
                .latency_ms
                .unwrap_or_else(|| millis(context.latency));
            let mut body = json!({
                "output": {"message": response.message},
                "stopReason": response.stop_reason.as_str(),
                "usage": usage_json,
                "metrics": {"latencyMs": latency_ms},
            });
            if let Some(trace) = &response.trace {
                body["trace"] = trace.clone();
            }
            (
                json_response(StatusCode::OK, body.to_string(), request.index),
                200,
                None,
            )
        }
        Operation::ConverseStream => {
            let metadata = StreamMetadata {
                usage_json,
                latency_ms: response.latency_ms,
                latency: context.latency,
                event_delay: context.stream.event_delay,
                trace: response.trace.as_ref(),
            };
            let plan = stream::plan(&response, &metadata, &context.stream, &stream);
            match stream::chunk(&plan, context.stream.chunking) {
                Ok(chunked) => {
                    let body = stream_body::stream_body(
                        chunked,
                        context.stream.event_delay,
                        Arc::clone(shared),
                        request.index,
                    );
                    let mut response = (StatusCode::OK, body).into_response();
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
                    );
                    set_request_id(&mut response, request.index);
                    (response, 200, None)
                }
                Err(error) => {
                    // Only a message too large for event-stream framing gets here.
                    let error = BedrockError::new(
                        BedrockErrorKind::InternalServer,
                        format!("The Converse stand-in could not frame its reply: {error}"),
                    );
                    let mut response = bedrock_error_response(&error);
                    set_request_id(&mut response, request.index);
                    (
                        response,
                        error.kind.status(),
                        Some(error.kind.error_type().to_owned()),
                    )
                }
            }
        }
    }
}

/// `usage` with the prompt cache's counts, unless the reply set its own; the total then
/// counts them too, as Bedrock's does.
fn with_cache_use(mut usage: TokenUsage, cache: Option<CacheUse>) -> TokenUsage {
    let Some(cache) = cache else {
        return usage;
    };
    if usage.cache_read_input_tokens > 0 || usage.cache_write_input_tokens > 0 {
        return usage;
    }
    usage.cache_read_input_tokens = cache.read;
    usage.cache_write_input_tokens = cache.written;
    usage.total_tokens = usage
        .input_tokens
        .saturating_add(usage.output_tokens)
        .saturating_add(cache.read)
        .saturating_add(cache.written);
    usage
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Gives `toolUse` blocks without an id one that is not used in the conversation yet (of the
/// shape the model's family takes: see `demo::fresh_tool_use_ids`).
fn assign_tool_use_ids(content: &mut [ContentBlock], body: &Value, model: Option<&Model>) {
    let missing = content
        .iter()
        .filter(|block| matches!(block, ContentBlock::ToolUse(tool_use) if tool_use.tool_use_id.is_empty()))
        .count();
    if missing == 0 {
        return;
    }
    let messages: &[Value] = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let mut ids = demo::fresh_tool_use_ids(messages, missing, model).into_iter();
    for block in content {
        if let ContentBlock::ToolUse(tool_use) = block
            && tool_use.tool_use_id.is_empty()
            && let Some(id) = ids.next()
        {
            tool_use.tool_use_id = id;
        }
    }
}

fn json_response(status: StatusCode, body: String, index: usize) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_request_id(&mut response, index);
    response
}

fn set_request_id(response: &mut Response, index: usize) {
    if let Ok(value) = HeaderValue::from_str(&format!("00000000-0000-4000-8000-{index:012x}")) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
}

fn bedrock_error_response(error: &BedrockError) -> Response {
    let status =
        StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response(status, error.kind.error_type(), &error.message)
}

fn error_response(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let body = json!({ "message": message }).to_string();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

/// The operation and percent-decoded model id of a `/model/{modelId}/converse` or
/// `/model/{modelId}/converse-stream` path.
fn operation_and_model_id(path: &str) -> Option<(Operation, String)> {
    let rest = path.strip_prefix("/model/")?;
    let (encoded, operation) = match rest.strip_suffix("/converse-stream") {
        Some(encoded) => (encoded, Operation::ConverseStream),
        None => (rest.strip_suffix("/converse")?, Operation::Converse),
    };
    if encoded.is_empty() || encoded.contains('/') {
        return None;
    }
    let model_id = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned();
    Some((operation, model_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_and_operations_are_read_from_the_path() {
        let model_id = |path: &str| operation_and_model_id(path).map(|(_, id)| id);
        assert_eq!(
            model_id("/model/us.amazon.nova-pro-v1%3A0/converse").as_deref(),
            Some("us.amazon.nova-pro-v1:0")
        );
        assert_eq!(
            model_id("/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fx/converse")
                .as_deref(),
            Some("arn:aws:bedrock:us-west-2:1:inference-profile/x")
        );
        assert_eq!(
            operation_and_model_id("/model/x/converse-stream"),
            Some((Operation::ConverseStream, "x".to_owned()))
        );
        assert_eq!(
            operation_and_model_id("/model/x/converse"),
            Some((Operation::Converse, "x".to_owned()))
        );
        assert_eq!(model_id("/model//converse"), None);
        assert_eq!(model_id("/model//converse-stream"), None);
        assert_eq!(model_id("/model/x/invoke"), None);
    }

    #[test]
    fn cache_counts_join_the_total_unless_the_reply_set_its_own() {
        let written = with_cache_use(
            TokenUsage::new(10, 5),
            Some(CacheUse {
                read: 0,
                written: 100,
            }),
        );
        assert_eq!(written.cache_write_input_tokens, 100);
        assert_eq!(written.cache_read_input_tokens, 0);
        assert_eq!(written.total_tokens, 115);
        let read = with_cache_use(
            TokenUsage::new(10, 5),
            Some(CacheUse {
                read: 100,
                written: 20,
            }),
        );
        assert_eq!(read.cache_read_input_tokens, 100);
        assert_eq!(read.cache_write_input_tokens, 20);
        let own = TokenUsage {
            cache_read_input_tokens: 3,
            ..TokenUsage::new(1, 1)
        };
        assert_eq!(
            with_cache_use(
                own,
                Some(CacheUse {
                    read: 0,
                    written: 100
                })
            ),
            own
        );
    }

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let region = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            signing_region(&headers)
        };
        assert_eq!(
            region(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/bedrock/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc"
            )
            .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region("AWS4-HMAC-SHA256 Credential=test/20250101/us-west-2/bedrock/aws4_request")
                .as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region("Bearer abc"), None);
        assert_eq!(region("AWS4-HMAC-SHA256 Credential=garbage"), None);
        assert_eq!(signing_region(&HeaderMap::new()), None);
    }

    #[test]
    fn a_claude_reply_is_cut_on_a_character_boundary_and_loses_later_blocks() {
        let model = family::resolve("anthropic.claude-sonnet-4-20250514-v1:0")
            .model
            .unwrap();
        // 16,383 ASCII bytes, then two-byte characters: the cut lands inside one.
        let text = format!("{}{}", "a".repeat(16_383), "é".repeat(10));
        let mut reply = Reply::tool_use(None, &[("t", json!({}))]);
        if let Reply::Respond(response) = &mut reply {
            response.message.content.insert(0, ContentBlock::Text(text));
        }
        cap_claude_output(&mut reply, &model, &json!({"messages": []}));
        let response = reply.response().unwrap();
        assert_eq!(response.stop_reason, StopReason::MaxTokens);
        assert_eq!(response.message.content.len(), 1);
        assert!(matches!(&response.message.content[0], ContentBlock::Text(t) if t.len() == 16_383));
        assert_eq!(response.usage.output_tokens, CLAUDE_DEFAULT_MAX_TOKENS);
        // A reply within the limit is left alone.
        let mut short = Reply::text("short");
        cap_claude_output(&mut short, &model, &json!({"messages": []}));
        assert_eq!(short, Reply::text("short"));
    }

    #[test]
    fn every_error_kind_has_its_status() {
        let statuses: Vec<u16> = BedrockErrorKind::ALL.iter().map(|k| k.status()).collect();
        assert_eq!(statuses, [429, 400, 403, 404, 424, 500, 503, 408, 429]);
    }
}
