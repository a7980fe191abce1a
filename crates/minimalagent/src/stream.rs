//! [`RunStream`]: a run's events as they happen, and [`FollowStream`]: a session's runs as any
//! process writes them.

use std::pin::Pin;
use std::task::{Context, Poll};

use agent_core::{
    AgentEvent, Coalesce, CoalescingReceiver, CoalescingSender, EventSink, RunResult,
};
use agent_runtime::FollowedEvent;
use futures::Stream;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::Error;

/// A run's events as they happen: text and thinking as the model writes them, tool calls as
/// they start and end, usage, and last the run's end — `Ok(RunFinished)` with the same
/// [`RunResult`] `run` returns, or `Err` with the error (which keeps the run's trace).
///
/// The run goes on in its own task while the stream is read. **Dropping the stream cancels the
/// run**: its tools get the cancellation signal, nothing is committed to the conversation, and
/// in a session the run's record says `cancelled` with what it produced so far.
/// [`RunStream::cancel`] does the same without dropping it (the stream then ends with the
/// cancellation error).
///
/// The run never waits for its reader, and a reader that falls behind loses nothing: text (and
/// thinking) the model wrote meanwhile arrives joined, as one delta per step, so a stream read
/// slowly, or not at all, holds the answer once rather than an item per token.
///
/// ```
/// use futures::StreamExt;
/// use minimalagent::{Agent, AgentEvent};
/// use agent_testkit::ScriptedModel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), minimalagent::Error> {
/// let agent = Agent::builder()
///     .model(ScriptedModel::new().then_text("Hello there."))
///     .show_reasoning(false)
///     .build()
///     .await?;
/// let mut stream = agent.stream("Hi!");
/// let mut text = String::new();
/// while let Some(event) = stream.next().await {
///     match event? {
///         AgentEvent::TextDelta { text: piece, .. } => text.push_str(&piece),
///         AgentEvent::RunFinished { result } => assert_eq!(result.response, "Hello there."),
///         _ => {}
///     }
/// }
/// assert_eq!(text, "Hello there.");
/// # Ok(())
/// # }
/// ```
#[must_use = "a run stream does nothing useful unless read, and dropping it cancels the run"]
pub struct RunStream {
    events: CoalescingReceiver<RunItem>,
    cancellation: CancellationToken,
    _cancel_on_drop: DropGuard,
}

impl std::fmt::Debug for RunStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStream")
            .field("cancelled", &self.cancellation.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl RunStream {
    pub(crate) fn new(
        events: CoalescingReceiver<RunItem>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            _cancel_on_drop: cancellation.clone().drop_guard(),
            events,
            cancellation,
        }
    }

    /// Cancels the run; the stream then ends with the cancellation error.
    pub fn cancel(&self) {
        self.cancellation.cancel();
    }

    /// A token that cancels the run, for another task to hold.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancellation.clone()
    }

    /// Reads the stream to its end: the run's result, or its error.
    ///
    /// # Errors
    ///
    /// The run's [`Error`].
    pub async fn result(mut self) -> Result<RunResult, Error> {
        while let Some(item) = self.events.recv().await {
            if let AgentEvent::RunFinished { result } = Result::from(item)? {
                return Ok(*result);
            }
        }
        Err(Error::internal("the run's task ended without a result"))
    }
}

impl Stream for RunStream {
    type Item = Result<AgentEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx).map(|item| item.map(Result::from))
    }
}

/// What a run sends its stream: an event, or last the error that ended it.
// Nearly every item is an event: boxing events to shrink the rare error would allocate per token.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RunItem {
    Event(AgentEvent),
    Failed(Error),
}

impl From<RunItem> for Result<AgentEvent, Error> {
    fn from(item: RunItem) -> Self {
        match item {
            RunItem::Event(event) => Ok(event),
            RunItem::Failed(error) => Err(error),
        }
    }
}

/// A reader that falls behind (or stops reading and holds the stream) is sent the text written
/// meanwhile as one delta, not a queue of one item per token.
impl Coalesce for RunItem {
    fn absorb(&mut self, next: &Self) -> bool {
        match (self, next) {
            (RunItem::Event(event), RunItem::Event(next)) => event.absorb(next),
            _ => false,
        }
    }
}

/// Where a run's events go: the stream's reader, and the agent's own sinks (the trace printer,
/// observers).
pub(crate) struct StreamSink<'a> {
    pub(crate) reader: &'a CoalescingSender<RunItem>,
    pub(crate) sinks: &'a [std::sync::Arc<dyn EventSink>],
}

impl EventSink for StreamSink<'_> {
    fn emit(&self, event: &AgentEvent) {
        self.sinks.emit(event);
        // A reader that went away cancelled the run; its events have nowhere to go.
        let _ = self.reader.send(RunItem::Event(event.clone()));
    }
}

/// A session's run events as any process writes them (see `Agent::follow`): each with the
/// position to resume from. It never ends by itself; a store error is reported as an `Err`
/// item and following goes on.
pub struct FollowStream {
    inner: Pin<Box<dyn Stream<Item = Result<FollowedEvent, Error>> + Send>>,
}

impl std::fmt::Debug for FollowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowStream").finish_non_exhaustive()
    }
}

impl FollowStream {
    pub(crate) fn new(
        inner: impl Stream<Item = Result<FollowedEvent, Error>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for FollowStream {
    type Item = Result<FollowedEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
