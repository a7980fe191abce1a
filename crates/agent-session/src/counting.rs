//! [`CountingStore`]: a store that counts the calls made to the store it wraps, a [`Layered`]
//! store with a [`CallCounter`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::SessionError;
use crate::layer::{Layered, StoreCall, StoreLayer, StoreMethod, StoreOutput};
use crate::store::SessionStore;

/// How many times each method of a [`CountingStore`] was called, by method name
/// (`head`, `commit`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCalls(BTreeMap<&'static str, usize>);

impl StoreCalls {
    /// Calls of one method.
    pub fn of(&self, method: &str) -> usize {
        self.0.get(method).copied().unwrap_or(0)
    }

    /// Every call, of any method.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Calls that write: commits, run records, events, heartbeats and deletes (the methods
    /// for which [`StoreMethod::is_write`] holds).
    pub fn writes(&self) -> usize {
        StoreMethod::ALL
            .iter()
            .filter(|method| method.is_write())
            .map(|method| self.of(method.as_str()))
            .sum()
    }
}

/// A [`StoreLayer`] that counts the calls made through it (counted when made, whatever their
/// outcome), except [`wait_for_changes`](SessionStore::wait_for_changes), which is not a
/// request. Clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<StoreCalls>>,
}

impl CallCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls counted so far, by this counter and its clones.
    pub fn calls(&self) -> StoreCalls {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl StoreLayer for CallCounter {
    fn around<'a, T, F>(
        &'a self,
        call: StoreCall<'a>,
        inner: F,
    ) -> impl Future<Output = Result<T, SessionError>> + Send + 'a
    where
        T: StoreOutput + 'a,
        F: Future<Output = Result<T, SessionError>> + Send + 'a,
    {
        let method = call.method();
        if method != StoreMethod::WaitForChanges {
            *self
                .calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .0
                .entry(method.as_str())
                .or_default() += 1;
        }
        inner
    }
}

/// Wraps a store and counts the calls made to it (counted when made, whatever their outcome;
/// [`wait_for_changes`](SessionStore::wait_for_changes) is not counted): a [`Layered`] store
/// with a [`CallCounter`].
///
/// Used by the conformance suites to prove that invalid input never reaches the store, and by
/// tests that check how many reads and writes a run makes. Clones are handles on the same store
/// and the same counts.
pub type CountingStore<S = dyn SessionStore> = Layered<S, CallCounter>;

impl<S: SessionStore + ?Sized> Layered<S, CallCounter> {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Layered::wrap(inner, CallCounter::new())
    }

    /// The calls made so far, through this wrapper and its clones.
    pub fn calls(&self) -> StoreCalls {
        self.layer().calls()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::id::SessionId;
    use crate::memory::InMemorySessionStore;

    #[tokio::test(start_paused = true)]
    async fn calls_are_counted_by_method_and_shared_by_clones() {
        let inner = Arc::new(InMemorySessionStore::new());
        let counting = CountingStore::new(inner.clone());
        let shared: Arc<dyn SessionStore> = Arc::new(counting.clone());
        let session = SessionId::new("counted").unwrap();
        shared.head(&session).await.unwrap();
        counting.head(&session).await.unwrap();
        assert!(shared.entries(&session, 1, 1).await.is_err());
        shared.delete(&session).await.unwrap();
        shared
            .wait_for_changes(&session, Duration::from_millis(1))
            .await;
        let calls = counting.calls();
        assert_eq!(
            (calls.of("head"), calls.of("entries"), calls.of("delete")),
            (2, 1, 1)
        );
        assert_eq!(calls.of("wait_for_changes"), 0, "a wait is not a request");
        assert_eq!((calls.total(), calls.writes()), (4, 1));
        assert!(Arc::ptr_eq(counting.inner(), &inner));
    }
}
