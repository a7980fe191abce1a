//! Progress reports from a run as it happens.
//!
//! One mechanism serves every consumer: the coloured trace on the terminal, real-time reasoning
//! written to a session store, a live display, or an application's own channel. The loop calls
//! [`RunObserver::on_event`] and awaits it, with the trace as it stands, so an observer that
//! persists the trace sees every step in order.

use std::sync::Arc;

use async_trait::async_trait;

use crate::reasoning::{Reasoning, ReasoningStep, ToolInvocation};

/// One thing that happened in a run. The trace passed alongside already includes it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// The run started; the trace is `running` with no steps.
    Started,
    /// The model replied asking for tools: the step's thinking and its tool calls, not yet run.
    StepStarted {
        /// The new step.
        step: &'a ReasoningStep,
    },
    /// One tool call of a step ended (tools of one step run concurrently, so in any order).
    ToolFinished {
        /// The step it belongs to.
        step: &'a ReasoningStep,
        /// The call, with its result or error.
        tool: &'a ToolInvocation,
    },
    /// The run gave its final answer.
    Completed {
        /// The answer.
        response: &'a str,
    },
    /// The run failed; the trace holds the error.
    Failed,
}

/// Receives a run's events as they happen.
///
/// Observers must not fail the run: one that writes somewhere should log its own errors.
#[async_trait]
pub trait RunObserver: Send + Sync {
    /// Called for each event, with the trace including it.
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

#[async_trait]
impl RunObserver for NoObserver {
    async fn on_event(&self, _event: RunEvent<'_>, _reasoning: &Reasoning) {}
}

#[async_trait]
impl<O: RunObserver + ?Sized> RunObserver for Arc<O> {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        (**self).on_event(event, reasoning).await;
    }
}

/// Several observers, called one after another in order.
#[async_trait]
impl RunObserver for [Arc<dyn RunObserver>] {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        for observer in self {
            observer.on_event(event, reasoning).await;
        }
    }
}

#[async_trait]
impl RunObserver for Vec<Arc<dyn RunObserver>> {
    async fn on_event(&self, event: RunEvent<'_>, reasoning: &Reasoning) {
        self.as_slice().on_event(event, reasoning).await;
    }
}
