//! How the stand-in decides what to answer.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::reply::{BedrockErrorKind, Reply};
use super::request::ConverseRequest;
use super::{demo, lock};

type ReplyFn = dyn Fn(&ConverseRequest) -> Reply + Send + Sync;

/// Decides the stand-in's answer to each valid request.
///
/// Requests that break a Converse rule never reach the policy: the stand-in answers them with a
/// `ValidationException` itself. The policy runs on the server's task, one request at a time (so
/// that replies follow the order of arrival): it should answer at once and never block — use
/// [`ConverseStandIn::set_latency`](super::ConverseStandIn::set_latency) to make answers slow.
/// A policy that panics gets the request an `InternalServerException` (500) naming the panic.
///
/// Cheap to clone; clones share any state (a script's queue).
#[derive(Clone)]
pub struct Policy {
    name: &'static str,
    respond: Arc<ReplyFn>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// A policy computing each reply from the request.
    ///
    /// ```
    /// use agent_testkit::{Policy, Reply};
    ///
    /// let echo = Policy::from_fn(|request| Reply::text(format!("echo: {}", request.last_text())));
    /// # let _ = echo;
    /// ```
    pub fn from_fn(respond: impl Fn(&ConverseRequest) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            name: "from_fn",
            respond: Arc::new(respond),
        }
    }

    /// A policy replaying `replies` in order, one per request. Once they are used up it answers
    /// `ModelErrorException` (424, not retried by the SDK) saying the script ran out.
    pub fn script(replies: impl IntoIterator<Item = Reply>) -> Self {
        let queue = Mutex::new(replies.into_iter().collect::<VecDeque<_>>());
        Self {
            name: "script",
            respond: Arc::new(move |request: &ConverseRequest| {
                lock(&queue).pop_front().unwrap_or_else(|| {
                    Reply::error_with(
                        BedrockErrorKind::ModelError,
                        format!(
                            "The Converse stand-in's script has no reply left for request {}.",
                            request.index + 1
                        ),
                    )
                })
            }),
        }
    }

    /// A policy answering every request with `reply`.
    pub fn always(reply: Reply) -> Self {
        Self {
            name: "always",
            respond: Arc::new(move |_: &ConverseRequest| reply.clone()),
        }
    }

    /// The built-in demo model: a deterministic, rule-based stand-in for a real model, for
    /// offline examples.
    ///
    /// - With tools and no `toolResult` in the last user message, it answers a
    ///   `<thinking>…</thinking>` text and a `toolUse` of the tool whose name and description
    ///   best match the words of the question (the first tool when none matches), with an input
    ///   made from the tool's input schema (stop reason `tool_use`). Strings get a capitalised
    ///   phrase of the question (such as `Seattle`) for location-like fields and the question
    ///   itself otherwise; numbers get the schema's minimum or 1; booleans `true`; enums their
    ///   first value; arrays nothing; objects are filled recursively. Only required fields are
    ///   filled, plus optional location-like fields when the question names a place.
    /// - When the last user message holds tool results, it answers a text summarising them
    ///   (`Based on get_weather: {…}`), stop reason `end_turn`.
    /// - Without tools it answers `You asked: <question>`, stop reason `end_turn`.
    ///
    /// With extended thinking enabled (`additionalModelRequestFields.thinking`), every reply
    /// starts with a signed `reasoningContent` block instead (the `<thinking>` text moves into
    /// it). `toolChoice` is not followed.
    ///
    /// It plays the model the request names: for Meta Llama and Mistral AI models its tool
    /// calls come without the `<thinking>` text (they take tool calls alone), for Mistral with
    /// 9-character alphanumeric ids (`tool00001`); reasoning blocks come only with Claude's
    /// thinking enabled (`enabled` or `adaptive`).
    ///
    /// Its replies always keep the conversation valid under the stand-in's own rule check.
    pub fn demo() -> Self {
        Self {
            name: "demo",
            respond: Arc::new(demo::reply),
        }
    }

    /// The reply to `request`.
    pub fn reply(&self, request: &ConverseRequest) -> Reply {
        (self.respond)(request)
    }
}
