//! One model call: streamed, retried when the reply broke off, compacting the history when the
//! model says the request is too long.

use std::time::Duration;

use agent_core::{AgentEvent, EventSink, ModelError, ModelErrorKind, ModelResponse, StopReason};
use futures::StreamExt;
use tracing::Instrument;

use super::RunState;
use super::compaction::estimate_tokens;
use crate::assemble::ReplyAssembler;
use crate::error::RunError;
use crate::telemetry;

impl RunState<'_> {
    /// Calls the model, streaming, retrying a reply that broke off, compacting the history
    /// when the model says it is too long.
    pub(super) async fn call_model(&mut self) -> Result<ModelResponse, RunError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.call_once().await;
            let error = match outcome {
                Ok(response) if response.stop_reason == StopReason::ModelContextWindowExceeded => {
                    ModelError::new(
                        ModelErrorKind::ContextWindowExceeded,
                        "the model stopped: its context window is exceeded",
                    )
                }
                Ok(response) => return Ok(response),
                Err(CallError::Cancelled) => return Err(RunError::Cancelled),
                Err(CallError::Model(error)) => error,
                // The request itself failed: the model's client has made its own retries.
                Err(CallError::Request(error)) => {
                    if error.kind() == ModelErrorKind::ContextWindowExceeded {
                        error
                    } else {
                        return Err(RunError::Model(error));
                    }
                }
            };
            if error.kind() == ModelErrorKind::ContextWindowExceeded {
                if self.compact().await {
                    attempt = 0;
                    continue;
                }
                return Err(RunError::ContextWindowExceeded {
                    session: self.reasoning.session_id.clone(),
                    messages: self.request.messages.len(),
                    estimated_tokens: estimate_tokens(&self.request.messages),
                });
            }
            let retry = error.is_retryable() && attempt <= self.config.stream_retries;
            if !retry {
                return Err(RunError::Model(error));
            }
            tracing::warn!(%error, attempt, "the model's reply broke off; calling again");
            self.sink.emit(&AgentEvent::ModelRetry {
                step: self.step,
                attempt,
                error: error.to_string(),
            });
            let backoff = Duration::from_millis(250 << (attempt - 1).min(4));
            tokio::select! {
                biased;
                () = self.cancellation.cancelled() => return Err(RunError::Cancelled),
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    pub(super) async fn call_once(&mut self) -> Result<ModelResponse, CallError> {
        let c = self.config;
        let capture = c.capture_content.then_some((
            self.request.system.as_slice(),
            self.request.messages.as_slice(),
        ));
        let span = telemetry::chat(
            &c.identity,
            &self.request.inference,
            self.reasoning.session_id.as_deref(),
            self.step,
            capture,
        );
        let outcome = self.stream_reply().instrument(span.clone()).await;
        match &outcome {
            Ok(response) => telemetry::record_reply(&span, response, c.capture_content),
            Err(CallError::Model(error) | CallError::Request(error)) => {
                telemetry::record_error(&span, error.kind().as_str());
            }
            Err(CallError::Cancelled) => telemetry::record_error(&span, "cancelled"),
        }
        outcome
    }

    pub(super) async fn stream_reply(&mut self) -> Result<ModelResponse, CallError> {
        let dropped = DroppedFeatures {
            sink: self.sink,
            events: std::sync::Mutex::default(),
        };
        let outcome = self.stream_into(&dropped).await;
        // A feature the client dropped is part of the run's trace, whatever became of the call.
        let events = dropped
            .events
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in &events {
            self.reasoning.apply(event);
        }
        outcome
    }

    async fn stream_into(
        &mut self,
        sink: &DroppedFeatures<'_>,
    ) -> Result<ModelResponse, CallError> {
        let mut assembler = ReplyAssembler::new(self.step);
        let opened = tokio::select! {
            biased;
            () = self.cancellation.cancelled() => return Err(CallError::Cancelled),
            opened = self.config.model.converse_stream(&self.request) => opened,
        };
        let mut stream = opened.map_err(CallError::Request)?;
        loop {
            let next = tokio::select! {
                biased;
                () = self.cancellation.cancelled() => {
                    self.partial_text = assembler.text_so_far().to_owned();
                    return Err(CallError::Cancelled);
                }
                next = stream.next() => next,
            };
            match next {
                Some(Ok(event)) => assembler.push(event, sink).map_err(CallError::Model)?,
                Some(Err(error)) => return Err(CallError::Model(error)),
                None => break,
            }
        }
        assembler.finish().map_err(CallError::Model)
    }
}

/// Passes a model call's events on, keeping the `FeatureDropped` ones for the run's trace.
struct DroppedFeatures<'a> {
    sink: &'a dyn EventSink,
    events: std::sync::Mutex<Vec<AgentEvent>>,
}

impl EventSink for DroppedFeatures<'_> {
    fn emit(&self, event: &AgentEvent) {
        if matches!(event, AgentEvent::FeatureDropped { .. }) {
            self.events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(event.clone());
        }
        self.sink.emit(event);
    }
}

pub(crate) enum CallError {
    /// The reply broke off or was incomplete.
    Model(ModelError),
    /// The request failed before any of the reply arrived.
    Request(ModelError),
    Cancelled,
}
