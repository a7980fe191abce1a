//! [`Layered`]: a store that routes every call of the store it wraps through a [`StoreLayer`],
//! so that a decorator (counting, metering, fault injection, tracing) is written once, as one
//! method, instead of delegating every [`SessionStore`] method by hand.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agent_core::{Reasoning, StateChanges};
use async_trait::async_trait;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::store::{
    Commit, Committed, Entry, RunClaim, RunLease, RunRecord, SessionHead, SessionPage,
    SessionStore, StoredEvent,
};

/// A method of [`SessionStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum StoreMethod {
    /// [`SessionStore::head`].
    Head,
    /// [`SessionStore::entries`].
    Entries,
    /// [`SessionStore::commit`].
    Commit,
    /// [`SessionStore::begin_run`].
    BeginRun,
    /// [`SessionStore::append_events`].
    AppendEvents,
    /// [`SessionStore::heartbeat`].
    Heartbeat,
    /// [`SessionStore::finish_run`].
    FinishRun,
    /// [`SessionStore::claim_run`].
    ClaimRun,
    /// [`SessionStore::runs`].
    Runs,
    /// [`SessionStore::latest_run`].
    LatestRun,
    /// [`SessionStore::events`].
    Events,
    /// [`SessionStore::wait_for_changes`].
    WaitForChanges,
    /// [`SessionStore::delete`].
    Delete,
    /// [`SessionStore::list_sessions`].
    ListSessions,
    /// [`SessionStore::update_state`].
    UpdateState,
}

impl StoreMethod {
    /// Every method, in the order the trait declares them.
    pub const ALL: [StoreMethod; 15] = [
        StoreMethod::Head,
        StoreMethod::Entries,
        StoreMethod::Commit,
        StoreMethod::BeginRun,
        StoreMethod::AppendEvents,
        StoreMethod::Heartbeat,
        StoreMethod::FinishRun,
        StoreMethod::ClaimRun,
        StoreMethod::Runs,
        StoreMethod::LatestRun,
        StoreMethod::Events,
        StoreMethod::WaitForChanges,
        StoreMethod::Delete,
        StoreMethod::ListSessions,
        StoreMethod::UpdateState,
    ];

    /// The method's name (`head`, `commit`, `wait_for_changes`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreMethod::Head => "head",
            StoreMethod::Entries => "entries",
            StoreMethod::Commit => "commit",
            StoreMethod::BeginRun => "begin_run",
            StoreMethod::AppendEvents => "append_events",
            StoreMethod::Heartbeat => "heartbeat",
            StoreMethod::FinishRun => "finish_run",
            StoreMethod::ClaimRun => "claim_run",
            StoreMethod::Runs => "runs",
            StoreMethod::LatestRun => "latest_run",
            StoreMethod::Events => "events",
            StoreMethod::WaitForChanges => "wait_for_changes",
            StoreMethod::Delete => "delete",
            StoreMethod::ListSessions => "list_sessions",
            StoreMethod::UpdateState => "update_state",
        }
    }

    /// Whether the method writes: commits, run records, events, heartbeats, claims and
    /// deletes.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            StoreMethod::Commit
                | StoreMethod::BeginRun
                | StoreMethod::AppendEvents
                | StoreMethod::Heartbeat
                | StoreMethod::FinishRun
                | StoreMethod::ClaimRun
                | StoreMethod::Delete
                | StoreMethod::UpdateState
        )
    }

    /// Whether the method reads: the head, entries, run records, events and the session list.
    /// ([`WaitForChanges`](StoreMethod::WaitForChanges) neither reads nor writes.)
    pub const fn is_read(self) -> bool {
        matches!(
            self,
            StoreMethod::Head
                | StoreMethod::Entries
                | StoreMethod::Runs
                | StoreMethod::LatestRun
                | StoreMethod::Events
                | StoreMethod::ListSessions
        )
    }
}

impl fmt::Display for StoreMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call of a [`SessionStore`] method with its arguments, as a [`StoreLayer`] sees it. The
/// fields are the method's arguments.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum StoreCall<'a> {
    /// [`SessionStore::head`].
    Head {
        /// The session.
        session: &'a SessionId,
    },
    /// [`SessionStore::entries`].
    Entries {
        /// The session.
        session: &'a SessionId,
        /// The first entry asked for.
        from: u64,
        /// The last entry asked for.
        to: u64,
    },
    /// [`SessionStore::commit`].
    Commit {
        /// The session.
        session: &'a SessionId,
        /// The commit: its messages, reasoning, summary and base.
        commit: Commit<'a>,
    },
    /// [`SessionStore::begin_run`].
    BeginRun {
        /// The session.
        session: &'a SessionId,
        /// The run's record as it begins.
        reasoning: &'a Reasoning,
        /// How long its lease lasts without a heartbeat.
        lease_for: Duration,
    },
    /// [`SessionStore::append_events`].
    AppendEvents {
        /// The session.
        session: &'a SessionId,
        /// The run's lease.
        lease: &'a RunLease,
        /// The events.
        events: &'a [StoredEvent],
    },
    /// [`SessionStore::heartbeat`].
    Heartbeat {
        /// The session.
        session: &'a SessionId,
        /// The run's lease.
        lease: &'a RunLease,
        /// How long the lease lasts from now.
        lease_for: Duration,
    },
    /// [`SessionStore::finish_run`].
    FinishRun {
        /// The session.
        session: &'a SessionId,
        /// The run's lease, if it has one.
        lease: Option<&'a RunLease>,
        /// The run's final record.
        reasoning: &'a Reasoning,
    },
    /// [`SessionStore::claim_run`].
    ClaimRun {
        /// The session.
        session: &'a SessionId,
        /// The claim: the run, the heartbeat the claimer saw, the new lease.
        claim: &'a RunClaim,
    },
    /// [`SessionStore::runs`].
    Runs {
        /// The session.
        session: &'a SessionId,
        /// Runs above this number are asked for.
        after: u64,
        /// At most this many.
        limit: usize,
    },
    /// [`SessionStore::latest_run`].
    LatestRun {
        /// The session.
        session: &'a SessionId,
    },
    /// [`SessionStore::events`].
    Events {
        /// The session.
        session: &'a SessionId,
        /// The run.
        run: u64,
        /// Events above this index are asked for.
        after: u32,
        /// At most this many.
        limit: usize,
    },
    /// [`SessionStore::wait_for_changes`].
    WaitForChanges {
        /// The session.
        session: &'a SessionId,
        /// The longest wait.
        timeout: Duration,
    },
    /// [`SessionStore::delete`].
    Delete {
        /// The session.
        session: &'a SessionId,
    },
    /// [`SessionStore::list_sessions`].
    ListSessions {
        /// Where the page starts (the previous page's `next`).
        page: Option<&'a str>,
        /// At most this many sessions.
        limit: usize,
    },
    /// [`SessionStore::update_state`].
    UpdateState {
        /// The session.
        session: &'a SessionId,
    },
}

impl<'a> StoreCall<'a> {
    /// The method called.
    pub fn method(&self) -> StoreMethod {
        match self {
            StoreCall::Head { .. } => StoreMethod::Head,
            StoreCall::Entries { .. } => StoreMethod::Entries,
            StoreCall::Commit { .. } => StoreMethod::Commit,
            StoreCall::BeginRun { .. } => StoreMethod::BeginRun,
            StoreCall::AppendEvents { .. } => StoreMethod::AppendEvents,
            StoreCall::Heartbeat { .. } => StoreMethod::Heartbeat,
            StoreCall::FinishRun { .. } => StoreMethod::FinishRun,
            StoreCall::ClaimRun { .. } => StoreMethod::ClaimRun,
            StoreCall::Runs { .. } => StoreMethod::Runs,
            StoreCall::LatestRun { .. } => StoreMethod::LatestRun,
            StoreCall::Events { .. } => StoreMethod::Events,
            StoreCall::WaitForChanges { .. } => StoreMethod::WaitForChanges,
            StoreCall::Delete { .. } => StoreMethod::Delete,
            StoreCall::ListSessions { .. } => StoreMethod::ListSessions,
            StoreCall::UpdateState { .. } => StoreMethod::UpdateState,
        }
    }

    /// The method's name (`head`, `commit`, …).
    pub fn as_str(&self) -> &'static str {
        self.method().as_str()
    }

    /// The session the call concerns (none for [`list_sessions`](SessionStore::list_sessions)).
    pub fn session(&self) -> Option<&'a SessionId> {
        match *self {
            StoreCall::Head { session }
            | StoreCall::Entries { session, .. }
            | StoreCall::Commit { session, .. }
            | StoreCall::BeginRun { session, .. }
            | StoreCall::AppendEvents { session, .. }
            | StoreCall::Heartbeat { session, .. }
            | StoreCall::FinishRun { session, .. }
            | StoreCall::ClaimRun { session, .. }
            | StoreCall::Runs { session, .. }
            | StoreCall::LatestRun { session }
            | StoreCall::Events { session, .. }
            | StoreCall::WaitForChanges { session, .. }
            | StoreCall::Delete { session }
            | StoreCall::UpdateState { session } => Some(session),
            StoreCall::ListSessions { .. } => None,
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What a [`SessionStore`] method returns on success, so that a [`StoreLayer`], generic over
/// it, can look at it through [`view`](StoreOutput::view). Implemented for the return types of
/// the store's methods only.
pub trait StoreOutput: Send + sealed::Sealed {
    /// The value, by kind.
    fn view(&self) -> StoreOutputRef<'_>;
}

/// A [`StoreOutput`], by kind: what a store method returned.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum StoreOutputRef<'a> {
    /// A head, from [`head`](SessionStore::head).
    Head(&'a SessionHead),
    /// Entries, from [`entries`](SessionStore::entries).
    Entries(&'a [Entry]),
    /// A commit's outcome, from [`commit`](SessionStore::commit).
    Committed(&'a Committed),
    /// A lease, from [`begin_run`](SessionStore::begin_run) or
    /// [`claim_run`](SessionStore::claim_run).
    Lease(&'a RunLease),
    /// Nothing, from [`append_events`](SessionStore::append_events),
    /// [`heartbeat`](SessionStore::heartbeat), [`delete`](SessionStore::delete) and
    /// [`wait_for_changes`](SessionStore::wait_for_changes).
    Nothing,
    /// A run's number, from [`finish_run`](SessionStore::finish_run).
    Run(u64),
    /// Run records, from [`runs`](SessionStore::runs).
    Runs(&'a [RunRecord]),
    /// The newest run record, from [`latest_run`](SessionStore::latest_run).
    LatestRun(Option<&'a RunRecord>),
    /// Stored events, from [`events`](SessionStore::events).
    Events(&'a [StoredEvent]),
    /// A page of sessions, from [`list_sessions`](SessionStore::list_sessions).
    Sessions(&'a SessionPage),
}

macro_rules! store_output {
    ($($ty:ty => |$value:ident| $view:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl StoreOutput for $ty {
            fn view(&self) -> StoreOutputRef<'_> {
                let $value = self;
                $view
            }
        }
    )*};
}

store_output! {
    SessionHead => |head| StoreOutputRef::Head(head);
    Vec<Entry> => |entries| StoreOutputRef::Entries(entries);
    Committed => |committed| StoreOutputRef::Committed(committed);
    RunLease => |lease| StoreOutputRef::Lease(lease);
    () => |_nothing| StoreOutputRef::Nothing;
    u64 => |run| StoreOutputRef::Run(*run);
    Vec<RunRecord> => |runs| StoreOutputRef::Runs(runs);
    Option<RunRecord> => |run| StoreOutputRef::LatestRun(run.as_ref());
    Vec<StoredEvent> => |events| StoreOutputRef::Events(events);
    SessionPage => |page| StoreOutputRef::Sessions(page);
}

/// What a [`Layered`] store does around every call of the store it wraps.
///
/// One method, [`around`](StoreLayer::around), sees each call (which method, its arguments)
/// and the call to the wrapped store as a future, and returns the future the caller awaits. It
/// may await `inner` and return its result (the default), count or time the call, delay it,
/// fail it without calling the store (drop `inner` unpolled: the store is never called), or
/// call the store and then replace its result (say, with an error
/// [marked `maybe_applied`](SessionError::with_maybe_applied): a lost response).
///
/// For [`wait_for_changes`](SessionStore::wait_for_changes), which cannot fail, `inner` yields
/// `Ok(())` and an error returned by the layer just ends the wait.
///
/// `around` is called when the caller first polls the call's future, and `inner` calls the
/// wrapped store only once it is polled itself.
///
/// A layer that only acts after or around the call may write the method as an `async fn`
/// (`async fn around<'a, T, F>(&'a self, call: StoreCall<'a>, inner: F) -> Result<T,
/// SessionError>`, with the same bounds); one that acts when the call is made, as below,
/// returns `inner` or its own future.
///
/// ```
/// use std::future::Future;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use agent_session::{
///     InMemorySessionStore, Layered, SessionError, SessionId, SessionStore, StoreCall,
///     StoreLayer, StoreOutput,
/// };
///
/// /// Counts the calls that write.
/// #[derive(Debug, Default)]
/// struct CountWrites(AtomicUsize);
///
/// impl StoreLayer for CountWrites {
///     fn around<'a, T, F>(
///         &'a self,
///         call: StoreCall<'a>,
///         inner: F,
///     ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
///     where
///         T: StoreOutput + 'a,
///         F: Future<Output = Result<T, SessionError>> + Send + 'a,
///     {
///         if call.method().is_write() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         inner
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Layered::wrap(Arc::new(InMemorySessionStore::new()), CountWrites::default());
/// let session = SessionId::new("user123")?;
/// store.head(&session).await?;
/// store.delete(&session).await?;
/// assert_eq!(store.layer().0.load(Ordering::Relaxed), 1);
/// # Ok(())
/// # }
/// ```
pub trait StoreLayer: Send + Sync + fmt::Debug {
    /// Wraps one call: `call` says which method with which arguments, `inner` calls the
    /// wrapped store when first polled. The default returns `inner` as it is.
    fn around<'a, T, F>(
        &'a self,
        call: StoreCall<'a>,
        inner: F,
    ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
    where
        T: StoreOutput + 'a,
        F: Future<Output = Result<T, SessionError>> + Send + 'a,
    {
        let _ = call;
        inner
    }
}

impl<L: StoreLayer + ?Sized> StoreLayer for Arc<L> {
    fn around<'a, T, F>(
        &'a self,
        call: StoreCall<'a>,
        inner: F,
    ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
    where
        T: StoreOutput + 'a,
        F: Future<Output = Result<T, SessionError>> + Send + 'a,
    {
        (**self).around(call, inner)
    }
}

/// A [`SessionStore`] that routes every call of the store it wraps through a [`StoreLayer`].
///
/// Dispatch to the layer is static (the wrapper is generic over it); the wrapped store may be
/// any store, `dyn SessionStore` included. Every method of the trait goes through
/// [`StoreLayer::around`], [`wait_for_changes`](SessionStore::wait_for_changes) and
/// [`list_sessions`](SessionStore::list_sessions) included, so that a layer sees every call.
/// Cloning (when the layer clones) gives another handle on the same store.
///
/// `CountingStore` and `FaultyStore` (feature `testing`) are layered stores.
pub struct Layered<S: ?Sized, L> {
    layer: L,
    inner: Arc<S>,
}

impl<S: SessionStore + ?Sized, L: StoreLayer> Layered<S, L> {
    /// `inner`, with every call going through `layer`.
    pub fn wrap(inner: Arc<S>, layer: L) -> Self {
        Self { layer, inner }
    }
}

impl<S: ?Sized, L> Layered<S, L> {
    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The wrapped store and the layer.
    pub fn into_parts(self) -> (Arc<S>, L) {
        (self.inner, self.layer)
    }
}

impl<S: ?Sized, L: Clone> Clone for Layered<S, L> {
    /// Another handle on the same store, with a clone of the layer.
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug + ?Sized, L: fmt::Debug> fmt::Debug for Layered<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("layer", &self.layer)
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized, L: StoreLayer> SessionStore for Layered<S, L> {
    async fn head(&self, session: &SessionId) -> Result<SessionHead, SessionError> {
        let inner = async move { self.inner.head(session).await };
        self.layer.around(StoreCall::Head { session }, inner).await
    }

    async fn entries(
        &self,
        session: &SessionId,
        from: u64,
        to: u64,
    ) -> Result<Vec<Entry>, SessionError> {
        let inner = async move { self.inner.entries(session, from, to).await };
        let call = StoreCall::Entries { session, from, to };
        self.layer.around(call, inner).await
    }

    async fn commit(
        &self,
        session: &SessionId,
        commit: Commit<'_>,
    ) -> Result<Committed, SessionError> {
        let inner = async move { self.inner.commit(session, commit).await };
        let call = StoreCall::Commit { session, commit };
        self.layer.around(call, inner).await
    }

    async fn begin_run(
        &self,
        session: &SessionId,
        reasoning: &Reasoning,
        lease_for: Duration,
    ) -> Result<RunLease, SessionError> {
        let inner = async move { self.inner.begin_run(session, reasoning, lease_for).await };
        let call = StoreCall::BeginRun {
            session,
            reasoning,
            lease_for,
        };
        self.layer.around(call, inner).await
    }

    async fn append_events(
        &self,
        session: &SessionId,
        lease: &RunLease,
        events: &[StoredEvent],
    ) -> Result<(), SessionError> {
        let inner = async move { self.inner.append_events(session, lease, events).await };
        let call = StoreCall::AppendEvents {
            session,
            lease,
            events,
        };
        self.layer.around(call, inner).await
    }

    async fn heartbeat(
        &self,
        session: &SessionId,
        lease: &RunLease,
        lease_for: Duration,
    ) -> Result<(), SessionError> {
        let inner = async move { self.inner.heartbeat(session, lease, lease_for).await };
        let call = StoreCall::Heartbeat {
            session,
            lease,
            lease_for,
        };
        self.layer.around(call, inner).await
    }

    async fn finish_run(
        &self,
        session: &SessionId,
        lease: Option<&RunLease>,
        reasoning: &Reasoning,
    ) -> Result<u64, SessionError> {
        let inner = async move { self.inner.finish_run(session, lease, reasoning).await };
        let call = StoreCall::FinishRun {
            session,
            lease,
            reasoning,
        };
        self.layer.around(call, inner).await
    }

    async fn claim_run(
        &self,
        session: &SessionId,
        claim: &RunClaim,
    ) -> Result<RunLease, SessionError> {
        let inner = async move { self.inner.claim_run(session, claim).await };
        let call = StoreCall::ClaimRun { session, claim };
        self.layer.around(call, inner).await
    }

    async fn runs(
        &self,
        session: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunRecord>, SessionError> {
        let inner = async move { self.inner.runs(session, after, limit).await };
        let call = StoreCall::Runs {
            session,
            after,
            limit,
        };
        self.layer.around(call, inner).await
    }

    async fn latest_run(&self, session: &SessionId) -> Result<Option<RunRecord>, SessionError> {
        let inner = async move { self.inner.latest_run(session).await };
        self.layer
            .around(StoreCall::LatestRun { session }, inner)
            .await
    }

    async fn events(
        &self,
        session: &SessionId,
        run: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, SessionError> {
        let inner = async move { self.inner.events(session, run, after, limit).await };
        let call = StoreCall::Events {
            session,
            run,
            after,
            limit,
        };
        self.layer.around(call, inner).await
    }

    async fn wait_for_changes(&self, session: &SessionId, timeout: Duration) {
        let inner = async move {
            self.inner.wait_for_changes(session, timeout).await;
            Ok(())
        };
        let call = StoreCall::WaitForChanges { session, timeout };
        // A layer's error cannot be reported from here: it ends the wait, as a change would.
        let _ = self.layer.around(call, inner).await;
    }

    fn time_to_live(&self) -> Option<Duration> {
        self.inner.time_to_live()
    }

    async fn update_state(
        &self,
        session: &SessionId,
        changes: &StateChanges,
    ) -> Result<SessionHead, SessionError> {
        let inner = async move { self.inner.update_state(session, changes).await };
        self.layer
            .around(StoreCall::UpdateState { session }, inner)
            .await
    }

    async fn delete(&self, session: &SessionId) -> Result<(), SessionError> {
        let inner = async move { self.inner.delete(session).await };
        self.layer
            .around(StoreCall::Delete { session }, inner)
            .await
    }

    async fn list_sessions(
        &self,
        page: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage, SessionError> {
        let inner = async move { self.inner.list_sessions(page, limit).await };
        let call = StoreCall::ListSessions { page, limit };
        self.layer.around(call, inner).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use agent_core::{AgentEvent, Message, RunStatus};
    use uuid::Uuid;

    use super::*;
    use crate::error::SessionErrorKind;
    use crate::memory::InMemorySessionStore;
    use crate::version::SessionVersion;

    /// Records every call it sees, with the kind of what the store returned.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Recorder {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl StoreLayer for Recorder {
        // A layer may be an `async fn`.
        async fn around<'a, T, F>(
            &'a self,
            call: StoreCall<'a>,
            inner: F,
        ) -> Result<T, SessionError>
        where
            T: StoreOutput + 'a,
            F: Future<Output = Result<T, SessionError>> + Send + 'a,
        {
            let result = inner.await;
            let returned = match result.as_ref().map(StoreOutput::view) {
                Ok(StoreOutputRef::Head(_)) => "head".to_owned(),
                Ok(StoreOutputRef::Entries(entries)) => format!("{} entries", entries.len()),
                Ok(StoreOutputRef::Committed(committed)) => format!("seq {}", committed.seq),
                Ok(StoreOutputRef::Lease(lease)) => format!("lease of run {}", lease.run),
                Ok(StoreOutputRef::Nothing) => "nothing".to_owned(),
                Ok(StoreOutputRef::Run(run)) => format!("run {run}"),
                Ok(StoreOutputRef::Runs(runs)) => format!("{} runs", runs.len()),
                Ok(StoreOutputRef::LatestRun(run)) => {
                    format!("latest {:?}", run.map(|run| run.run))
                }
                Ok(StoreOutputRef::Events(events)) => format!("{} events", events.len()),
                Ok(StoreOutputRef::Sessions(page)) => {
                    format!("{} sessions", page.sessions.len())
                }
                Err(error) => format!("error {}", error.kind()),
            };
            let session = call.session().map_or("-", SessionId::as_str);
            let detail = match call {
                StoreCall::Entries { from, to, .. } => format!(" {from}..={to}"),
                StoreCall::Commit { commit, .. } => {
                    format!(" {} messages", commit.messages.len())
                }
                StoreCall::AppendEvents { events, .. } => format!(" {} events", events.len()),
                StoreCall::ListSessions { limit, .. } => format!(" limit {limit}"),
                _ => String::new(),
            };
            self.0.lock().unwrap().push(format!(
                "{}({session}{detail}) -> {returned}",
                call.as_str()
            ));
            result
        }
    }

    /// Fails every call without calling the store.
    #[derive(Debug)]
    struct Refuse;

    impl StoreLayer for Refuse {
        fn around<'a, T, F>(
            &'a self,
            call: StoreCall<'a>,
            inner: F,
        ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
        where
            T: StoreOutput + 'a,
            F: Future<Output = Result<T, SessionError>> + Send + 'a,
        {
            drop(inner);
            std::future::ready(Err(SessionError::new(
                SessionErrorKind::Unsupported,
                format!("refused {}", call.as_str()),
            )))
        }
    }

    /// A layer with the default `around`.
    #[derive(Debug)]
    struct Transparent;

    impl StoreLayer for Transparent {}

    fn session() -> SessionId {
        SessionId::new("layered").unwrap()
    }

    fn event(index: u32) -> StoredEvent {
        StoredEvent {
            index,
            event: AgentEvent::TextDelta {
                step: 1,
                text: "hi".into(),
            },
        }
    }

    /// Calls every method of the store once (in the trait's order, where the store allows),
    /// and returns the names of the methods called.
    async fn call_every_method(store: &dyn SessionStore) -> BTreeSet<&'static str> {
        let session = session();
        let turn = [Message::user_text("hi"), Message::assistant_text("hello")];
        let trace = Reasoning::start("hi", Some(session.to_string()));
        let _ = store.head(&session).await;
        let _ = store
            .commit(
                &session,
                Commit::new(trace.run_id, SessionVersion::EMPTY, &turn, &trace),
            )
            .await;
        let _ = store.entries(&session, 1, 1).await;
        let mut running = Reasoning::start("again", Some(session.to_string()));
        running.status = RunStatus::Running;
        let lease = store
            .begin_run(&session, &running, Duration::ZERO)
            .await
            .unwrap_or(RunLease::new(2, Uuid::nil()));
        let _ = store.append_events(&session, &lease, &[event(1)]).await;
        let _ = store.heartbeat(&session, &lease, Duration::ZERO).await;
        let beat = store
            .latest_run(&session)
            .await
            .ok()
            .flatten()
            .and_then(|run| run.heartbeat_at);
        let lease = store
            .claim_run(
                &session,
                &crate::RunClaim::new(lease.run, beat, Duration::ZERO),
            )
            .await
            .unwrap_or(lease);
        let _ = store.events(&session, lease.run, 0, 10).await;
        running.status = RunStatus::Cancelled;
        let _ = store.finish_run(&session, Some(&lease), &running).await;
        let _ = store.runs(&session, 0, 10).await;
        store
            .wait_for_changes(&session, Duration::from_secs(1))
            .await;
        let _ = store.list_sessions(None, 10).await;
        let _ = store
            .update_state(&session, &agent_core::StateChanges::new())
            .await;
        let _ = store.delete(&session).await;
        StoreMethod::ALL
            .iter()
            .map(|method| method.as_str())
            .collect()
    }

    /// What [`Recorder`] sees of [`call_every_method`] on an in-memory store.
    const EVERY_CALL: [&str; 15] = [
        "head(layered) -> head",
        "commit(layered 2 messages) -> seq 1",
        "entries(layered 1..=1) -> 1 entries",
        "begin_run(layered) -> lease of run 2",
        "append_events(layered 1 events) -> nothing",
        "heartbeat(layered) -> nothing",
        "latest_run(layered) -> latest Some(2)",
        "claim_run(layered) -> lease of run 2",
        "events(layered) -> 1 events",
        "finish_run(layered) -> run 2",
        "runs(layered) -> 2 runs",
        "wait_for_changes(layered) -> nothing",
        "list_sessions(- limit 10) -> 1 sessions",
        "update_state(layered) -> head",
        "delete(layered) -> nothing",
    ];

    #[tokio::test(start_paused = true)]
    async fn every_method_goes_through_the_layer_with_its_arguments_and_result() {
        let inner = Arc::new(InMemorySessionStore::new());
        let store = Layered::wrap(inner.clone(), Recorder::default());
        let every = call_every_method(&store).await;
        let calls = store.layer().take();
        assert_eq!(calls, EVERY_CALL);
        let called: BTreeSet<&str> = calls
            .iter()
            .map(|call| call.split('(').next().unwrap())
            .collect();
        assert_eq!(called, every, "every method of the trait was routed");
        assert!(!inner.head(&session()).await.unwrap().exists(), "deleted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_layer_can_fail_every_call_without_the_store_seeing_it() {
        let inner = Arc::new(InMemorySessionStore::new());
        let store = Layered::wrap(inner.clone(), Refuse);
        let session = session();
        let error = store.head(&session).await.unwrap_err();
        assert_eq!(error.message(), "refused head");
        let started = tokio::time::Instant::now();
        call_every_method(&store).await;
        // The wait ended at once: had it bypassed the layer, it would have waited its second.
        assert_eq!(started.elapsed(), Duration::ZERO);
        let error = store.list_sessions(None, 10).await.unwrap_err();
        assert_eq!(error.message(), "refused list_sessions");
        // Nothing reached the store: no conversation, no run.
        let head = inner.head(&session).await.unwrap();
        assert_eq!((head.exists(), head.runs), (false, 0));
        assert!(
            inner
                .list_sessions(None, 10)
                .await
                .unwrap()
                .sessions
                .is_empty()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_layer_changes_nothing() {
        // The recorder sits under the default layer: it sees every call made through it, and
        // the results it records are what the caller got.
        let recorded = Arc::new(Layered::wrap(
            Arc::new(InMemorySessionStore::new()),
            Recorder::default(),
        ));
        let store = Layered::wrap(recorded.clone() as Arc<dyn SessionStore>, Transparent);
        call_every_method(&store).await;
        assert_eq!(recorded.layer().take(), EVERY_CALL);
        let (back, layer) = store.into_parts();
        assert!(Arc::ptr_eq(&back, &(recorded as Arc<dyn SessionStore>)));
        assert_eq!(format!("{layer:?}"), "Transparent");
    }

    #[test]
    fn methods_have_their_trait_names_and_one_class_each() {
        let names: BTreeSet<&str> = StoreMethod::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names.len(), StoreMethod::ALL.len());
        for method in StoreMethod::ALL {
            let classes = [method.is_read(), method.is_write()];
            let expected = if method == StoreMethod::WaitForChanges {
                [false, false]
            } else {
                [!method.is_write(), method.is_write()]
            };
            assert_eq!(classes, expected, "{method}");
        }
        assert_eq!(StoreMethod::ALL.iter().filter(|m| m.is_write()).count(), 8);
        for (index, method) in StoreMethod::ALL.into_iter().enumerate() {
            assert_eq!(method as usize, index, "ALL is in declaration order");
        }
    }
}
