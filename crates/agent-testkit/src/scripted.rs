//! An in-process [`Model`] that replies from a script, for unit tests of agents and tools.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use agent_core::{
    ContentBlock, Message, Model, ModelError, ModelRequest, ModelResponse, Role, StopReason,
    TokenUsage, ToolUse, async_trait,
};
use serde_json::Value;

/// One scripted reply.
#[derive(Debug)]
pub enum ScriptedReply {
    /// Reply with this response.
    Respond(ModelResponse),
    /// Fail the call with this error.
    Fail(ModelError),
}

/// A [`Model`] that replies from a queue of [`ScriptedReply`]s and records every request.
///
/// Clones share the script and the record, so a test keeps one clone to inspect what the agent
/// sent. When the script runs out, the model fails with a validation error saying so.
#[derive(Debug, Clone, Default)]
pub struct ScriptedModel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    script: Mutex<VecDeque<ScriptedReply>>,
    requests: Mutex<Vec<ModelRequest>>,
    latency: Mutex<Duration>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has already failed; keep going for its report.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScriptedModel {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reply to the end of the script.
    #[must_use]
    pub fn then(self, reply: ScriptedReply) -> Self {
        self.push(reply);
        self
    }

    /// Adds a final text answer (stop reason `end_turn`).
    #[must_use]
    pub fn then_text(self, text: impl Into<String>) -> Self {
        self.then(ScriptedReply::Respond(text_response(text)))
    }

    /// Adds a reply asking for tools: `(name, input)` pairs, with ids `tool-1`, `tool-2`, … in
    /// script order, preceded by `thinking` in `<thinking>` tags when given.
    #[must_use]
    pub fn then_tools(self, thinking: Option<&str>, calls: &[(&str, Value)]) -> Self {
        let start = self.scripted_tool_calls();
        self.then(ScriptedReply::Respond(tool_use_response(
            thinking, start, calls,
        )))
    }

    /// Adds a failure.
    #[must_use]
    pub fn then_fail(self, error: ModelError) -> Self {
        self.then(ScriptedReply::Fail(error))
    }

    /// Adds a reply at the end of the script (on a shared clone).
    pub fn push(&self, reply: ScriptedReply) {
        lock(&self.inner.script).push_back(reply);
    }

    /// Waits this long before each reply, as a real model would.
    #[must_use]
    pub fn with_latency(self, latency: Duration) -> Self {
        *lock(&self.inner.latency) = latency;
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ModelRequest> {
        lock(&self.inner.requests).clone()
    }

    /// How many replies are left in the script.
    pub fn remaining(&self) -> usize {
        lock(&self.inner.script).len()
    }

    fn scripted_tool_calls(&self) -> usize {
        lock(&self.inner.script)
            .iter()
            .map(|reply| match reply {
                ScriptedReply::Respond(response) => response.message.tool_uses().count(),
                ScriptedReply::Fail(_) => 0,
            })
            .sum()
    }
}

#[async_trait]
impl Model for ScriptedModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        lock(&self.inner.requests).push(request.clone());
        let latency = *lock(&self.inner.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let reply = lock(&self.inner.script).pop_front();
        match reply {
            Some(ScriptedReply::Respond(response)) => Ok(response),
            Some(ScriptedReply::Fail(error)) => Err(error),
            None => Err(ModelError::new(
                agent_core::ModelErrorKind::Validation,
                "the scripted model has no reply left",
            )),
        }
    }
}

/// A final text answer with stop reason `end_turn`.
pub fn text_response(text: impl Into<String>) -> ModelResponse {
    ModelResponse::new(Message::assistant_text(text), StopReason::EndTurn)
        .with_usage(TokenUsage::new(10, 5))
}

/// A reply asking for tools, with ids `tool-{first_id + 1}`, … and optional `<thinking>` text.
pub fn tool_use_response(
    thinking: Option<&str>,
    first_id: usize,
    calls: &[(&str, Value)],
) -> ModelResponse {
    let mut content = Vec::with_capacity(calls.len() + 1);
    if let Some(thinking) = thinking {
        content.push(ContentBlock::Text(format!(
            "<thinking>{thinking}</thinking>"
        )));
    }
    for (offset, (name, input)) in calls.iter().enumerate() {
        content.push(ContentBlock::ToolUse(ToolUse {
            tool_use_id: format!("tool-{}", first_id + offset + 1),
            name: (*name).to_owned(),
            input: input.clone(),
        }));
    }
    ModelResponse::new(
        Message {
            role: Role::Assistant,
            content,
        },
        StopReason::ToolUse,
    )
    .with_usage(TokenUsage::new(20, 10))
}
