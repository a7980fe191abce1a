//! Real-time recording: a run's events appended to its session as they happen, text coalesced,
//! and a heartbeat while it runs.
//!
//! The loop hands events to a [`RecorderSink`] without waiting (it must never block the run);
//! a writer task appends them in order, in batches, retrying transient failures. Text handed
//! over while the writer waits on the store joins the text before it in the queue, so a stalled
//! store makes the queue hold the run's text once, not an item per token. Text and
//! thinking deltas are never written one by one: they are joined and written at most once per
//! flush interval (and before the next durable event), so a store is written at most once a
//! second for a streaming answer, never per token, and a monitor still sees a long answer grow.

use std::sync::Arc;
use std::time::Duration;

use agent_core::{
    AgentEvent, Coalesce, CoalescingReceiver, CoalescingSender, EventSink, coalescing_channel,
};
use agent_session::{RunLease, SessionErrorKind, SessionId, SessionStore, StoredEvent};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// How many times a failed append is tried again before the recorder gives up on the run's
/// real-time log (the run itself goes on).
const APPEND_ATTEMPTS: u32 = 5;

enum Command {
    Event(Box<AgentEvent>),
    /// Answered once everything before it is written: `true`, or `false` when the log failed.
    Flush(oneshot::Sender<bool>),
}

/// Text handed over while the writer is busy (a slow or throttled store) joins the text before
/// it, so the queue holds the run's durable events and its text, never an item per token.
impl Coalesce for Command {
    fn absorb(&mut self, next: &Self) -> bool {
        match (self, next) {
            (Command::Event(event), Command::Event(next)) => event.absorb(next),
            _ => false,
        }
    }
}

/// Where the loop's events go to be recorded.
#[derive(Clone)]
pub(crate) struct RecorderSink {
    queue: CoalescingSender<Command>,
}

impl RecorderSink {
    async fn flush(&self) -> bool {
        let (done, written) = oneshot::channel();
        if self.queue.send(Command::Flush(done)).is_err() {
            return false;
        }
        written.await.unwrap_or(false)
    }
}

/// The loop waits on the recorder before it runs a tool that must not run twice.
#[agent_core::async_trait]
impl agent_loop::EventLog for RecorderSink {
    async fn flush(&self) -> bool {
        RecorderSink::flush(self).await
    }
}

impl EventSink for RecorderSink {
    fn emit(&self, event: &AgentEvent) {
        let wanted = event.is_durable()
            || matches!(
                event,
                AgentEvent::TextDelta { .. } | AgentEvent::ThinkingDelta { .. }
            );
        if wanted {
            let _ = self.queue.send(Command::Event(Box::new(event.clone())));
        }
    }
}

/// A run being recorded: the writer and the heartbeat.
pub(crate) struct Recorder {
    sink: RecorderSink,
    writer: JoinHandle<()>,
    /// Aborted when the recorder goes, however it goes: a heartbeat never outlives its run.
    heartbeat: AbortOnDropHandle<()>,
}

/// How a recorder writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecorderSettings {
    pub(crate) text_flush_interval: Duration,
    pub(crate) heartbeat_interval: Duration,
    /// How long the run's lease holds past each heartbeat.
    pub(crate) lease_for: Duration,
}

impl Recorder {
    /// Starts recording the run of `lease`, its next event getting index `next_index`. The
    /// heartbeat cancels `run` when the store says another process took the run over or the
    /// session was deleted.
    pub(crate) fn start(
        store: Arc<dyn SessionStore>,
        session: SessionId,
        lease: RunLease,
        next_index: u32,
        settings: RecorderSettings,
        run: CancellationToken,
    ) -> Self {
        let (queue, commands) = coalescing_channel();
        let writer = tokio::spawn(write_events(
            store.clone(),
            session.clone(),
            lease,
            next_index,
            settings.text_flush_interval,
            commands,
        ));
        let heartbeat = AbortOnDropHandle::new(tokio::spawn(beat(
            store,
            session,
            lease,
            settings.heartbeat_interval,
            settings.lease_for,
            run,
        )));
        Self {
            sink: RecorderSink { queue },
            writer,
            heartbeat,
        }
    }

    pub(crate) fn sink(&self) -> RecorderSink {
        self.sink.clone()
    }

    /// Waits until every event handed over so far is written (or given up on): whether they
    /// all were.
    pub(crate) async fn flush(&self) -> bool {
        self.sink.flush().await
    }

    /// Flushes, then stops writing and beating.
    pub(crate) async fn stop(self) {
        self.flush().await;
        let Self {
            sink,
            writer,
            heartbeat,
        } = self;
        drop(heartbeat);
        drop(sink);
        let _ = writer.await;
    }
}

/// Text waiting to be written: the step and kind it belongs to, and the text so far.
struct Pending {
    thinking: bool,
    step: u32,
    text: String,
    since: Instant,
}

impl Pending {
    fn into_event(self) -> AgentEvent {
        if self.thinking {
            AgentEvent::ThinkingDelta {
                step: self.step,
                text: self.text,
            }
        } else {
            AgentEvent::TextDelta {
                step: self.step,
                text: self.text,
            }
        }
    }
}

async fn write_events(
    store: Arc<dyn SessionStore>,
    session: SessionId,
    lease: RunLease,
    mut next_index: u32,
    flush_interval: Duration,
    mut commands: CoalescingReceiver<Command>,
) {
    let mut pending: Option<Pending> = None;
    let mut failed = false;
    loop {
        let received = match &pending {
            Some(text) => {
                let wait = flush_interval.saturating_sub(text.since.elapsed());
                match tokio::time::timeout(wait, commands.recv()).await {
                    Ok(command) => command,
                    Err(_) => {
                        // The flush interval passed: write the text so far.
                        let batch: Vec<AgentEvent> = pending
                            .take()
                            .map(Pending::into_event)
                            .into_iter()
                            .collect();
                        write_batch(
                            &*store,
                            &session,
                            &lease,
                            &mut next_index,
                            batch,
                            &mut failed,
                        )
                        .await;
                        continue;
                    }
                }
            }
            None => commands.recv().await,
        };
        let Some(first) = received else { break };
        let mut batch = Vec::new();
        let mut acks = Vec::new();
        let mut command = Some(first);
        while let Some(next) = command {
            match next {
                Command::Event(event) => {
                    let event = *event;
                    let (thinking, step, text) = match &event {
                        AgentEvent::TextDelta { step, text } => (false, *step, text),
                        AgentEvent::ThinkingDelta { step, text } => (true, *step, text),
                        _ => {
                            batch.extend(pending.take().map(Pending::into_event));
                            batch.push(event);
                            command = commands.try_recv();
                            continue;
                        }
                    };
                    match &mut pending {
                        Some(p) if p.thinking == thinking && p.step == step => {
                            p.text.push_str(text)
                        }
                        _ => {
                            batch.extend(pending.take().map(Pending::into_event));
                            pending = Some(Pending {
                                thinking,
                                step,
                                text: text.clone(),
                                since: Instant::now(),
                            });
                        }
                    }
                }
                Command::Flush(ack) => {
                    batch.extend(pending.take().map(Pending::into_event));
                    acks.push(ack);
                }
            }
            command = commands.try_recv();
        }
        if pending
            .as_ref()
            .is_some_and(|p| p.since.elapsed() >= flush_interval)
        {
            batch.extend(pending.take().map(Pending::into_event));
        }
        write_batch(
            &*store,
            &session,
            &lease,
            &mut next_index,
            batch,
            &mut failed,
        )
        .await;
        for ack in acks {
            let _ = ack.send(!failed);
        }
    }
}

/// Appends a batch with the next indexes, trying again on transient failures. Once a write has
/// failed for good, the rest of the run's log is not written (a gap would mislead followers).
async fn write_batch(
    store: &dyn SessionStore,
    session: &SessionId,
    lease: &RunLease,
    next_index: &mut u32,
    batch: Vec<AgentEvent>,
    failed: &mut bool,
) {
    if batch.is_empty() || *failed {
        return;
    }
    let events: Vec<StoredEvent> = batch
        .into_iter()
        .enumerate()
        .map(|(offset, event)| {
            StoredEvent::new(
                next_index.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX)),
                event,
            )
        })
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.append_events(session, lease, &events).await {
            Ok(()) => {
                *next_index =
                    next_index.saturating_add(u32::try_from(events.len()).unwrap_or(u32::MAX));
                return;
            }
            Err(error) if error.is_retryable() && attempt < APPEND_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Err(error) => {
                tracing::warn!(
                    session = %session,
                    run = lease.run,
                    %error,
                    "real-time events could not be written; the run goes on without them"
                );
                *failed = true;
                return;
            }
        }
    }
}

async fn beat(
    store: Arc<dyn SessionStore>,
    session: SessionId,
    lease: RunLease,
    interval: Duration,
    lease_for: Duration,
    run: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.heartbeat(&session, &lease, lease_for).await {
            Ok(()) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    SessionErrorKind::Conflict
                        | SessionErrorKind::Deleted
                        | SessionErrorKind::NotFound
                ) =>
            {
                tracing::warn!(
                    session = %session,
                    run = lease.run,
                    %error,
                    "the run was taken over by another process or its session deleted; cancelling it"
                );
                run.cancel();
                return;
            }
            Err(error) => {
                tracing::warn!(session = %session, run = lease.run, %error, "heartbeat failed; trying again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use agent_core::Reasoning;
    use agent_session::{
        InMemorySessionStore, Layered, SessionError, StoreCall, StoreLayer, StoreMethod,
        StoreOutput,
    };
    use tokio::sync::Semaphore;

    use super::*;

    /// Holds every `append_events` until the test opens the gate: a store that stalls.
    #[derive(Debug)]
    struct StalledAppends {
        gate: Arc<Semaphore>,
    }

    impl StoreLayer for StalledAppends {
        fn around<'a, T, F>(
            &'a self,
            call: StoreCall<'a>,
            inner: F,
        ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
        where
            T: StoreOutput + 'a,
            F: Future<Output = Result<T, SessionError>> + Send + 'a,
        {
            let stalls = call.method() == StoreMethod::AppendEvents;
            async move {
                if stalls {
                    let _open = self.gate.acquire().await;
                }
                inner.await
            }
        }
    }

    fn step_finished(step: u32) -> AgentEvent {
        AgentEvent::StepLimitReached {
            step,
            max_steps: step,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_store_holds_the_text_once_not_a_queue_of_tokens() {
        let gate = Arc::new(Semaphore::new(0));
        let store: Arc<dyn SessionStore> = Arc::new(Layered::wrap(
            Arc::new(InMemorySessionStore::new()),
            StalledAppends { gate: gate.clone() },
        ));
        let session = SessionId::new("stalled-store").unwrap();
        let reasoning = Reasoning::start("Hi", Some(session.to_string()));
        let lease = store
            .begin_run(&session, &reasoning, Duration::from_secs(600))
            .await
            .unwrap();
        let recorder = Recorder::start(
            store.clone(),
            session.clone(),
            lease,
            1,
            RecorderSettings {
                text_flush_interval: Duration::from_millis(100),
                heartbeat_interval: Duration::from_secs(3600),
                lease_for: Duration::from_secs(600),
            },
            CancellationToken::new(),
        );
        let sink = recorder.sink();
        // The writer takes the first event and waits on the store with it.
        sink.emit(&step_finished(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        for step in 2..=3 {
            for _ in 0..10_000 {
                sink.emit(&AgentEvent::TextDelta {
                    step,
                    text: "ab".into(),
                });
            }
            sink.emit(&step_finished(step));
        }
        assert!(
            sink.queue.unread() <= 4,
            "{} items queued for two answers and two events",
            sink.queue.unread()
        );

        drop(sink);
        gate.add_permits(1_000);
        tokio::time::timeout(Duration::from_secs(60), recorder.stop())
            .await
            .unwrap();
        let stored = store.events(&session, lease.run, 0, 100).await.unwrap();
        let text_of = |wanted: u32| -> String {
            stored
                .iter()
                .filter_map(|stored| match &stored.event {
                    AgentEvent::TextDelta { step, text } if *step == wanted => Some(text.as_str()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(text_of(2), "ab".repeat(10_000));
        assert_eq!(text_of(3), "ab".repeat(10_000));
        assert!(stored.len() <= 6, "{} events stored", stored.len());
        let indexes: Vec<u32> = stored.iter().map(|stored| stored.index).collect();
        assert_eq!(
            indexes,
            (1..=u32::try_from(stored.len()).unwrap()).collect::<Vec<_>>()
        );
    }
}
