//! The three stores measured, opened the way an application opens them, and a store layer
//! that counts what runs ask of a store.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent_session::{
    InMemorySessionStore, Layered, RunRecord, SessionError, SessionId, SessionStore, StoreCall,
    StoreLayer, StoreMethod, StoreOutput, StoreOutputRef,
};
use agent_session_dynamo::DynamoSessionStore;
use agent_session_sqlite::SqliteSessionStore;
use cpu_time::ThreadTime;

use bench_support::aws::sdk_config;

/// Which store a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum StoreKind {
    /// `InMemorySessionStore`.
    Memory,
    /// `SqliteSessionStore` on a file in the temporary directory, `Synchronous::Full`.
    Sqlite,
    /// `DynamoSessionStore` on DynamoDB Local.
    Dynamo,
}

impl StoreKind {
    /// How tables name it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            StoreKind::Memory => "in-memory",
            StoreKind::Sqlite => "SQLite",
            StoreKind::Dynamo => "DynamoDB Local",
        }
    }

    /// A short name, for environment variables and file names.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Dynamo => "dynamodb",
        }
    }

    /// The kind named `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [StoreKind::Memory, StoreKind::Sqlite, StoreKind::Dynamo]
            .into_iter()
            .find(|kind| kind.name() == name)
    }

    /// The stores to measure: all three when DynamoDB Local is there, else the other two.
    pub(crate) fn all(dynamodb: Option<&str>) -> Vec<StoreKind> {
        let mut kinds = vec![StoreKind::Memory, StoreKind::Sqlite];
        if dynamodb.is_some() {
            kinds.push(StoreKind::Dynamo);
        }
        kinds
    }
}

/// A store opened for a benchmark, and what to remove when it is done.
pub(crate) enum OpenStore {
    /// In memory.
    Memory(InMemorySessionStore),
    /// A SQLite file, removed (with its `-wal` and `-shm` files) on drop.
    Sqlite(SqliteSessionStore, TempFile),
    /// A DynamoDB table.
    Dynamo(DynamoSessionStore),
}

impl OpenStore {
    /// Opens a store of `kind`: a new SQLite file named after `name`, or the DynamoDB table
    /// `name` (created if missing) at `endpoint`.
    pub(crate) async fn open(kind: StoreKind, name: &str, endpoint: Option<&str>) -> Self {
        match kind {
            StoreKind::Memory => OpenStore::Memory(InMemorySessionStore::new()),
            StoreKind::Sqlite => {
                let file = TempFile::new(name);
                let store = SqliteSessionStore::open(file.path.clone())
                    .await
                    .expect("the SQLite store opens");
                OpenStore::Sqlite(store, file)
            }
            StoreKind::Dynamo => {
                let endpoint = endpoint.expect("DynamoDB Local's endpoint");
                OpenStore::Dynamo(dynamo_store(endpoint, name).await)
            }
        }
    }

    /// The store, shared.
    pub(crate) fn shared(&self) -> Arc<dyn SessionStore> {
        match self {
            OpenStore::Memory(store) => Arc::new(store.clone()),
            OpenStore::Sqlite(store, _) => Arc::new(store.clone()),
            OpenStore::Dynamo(store) => Arc::new(store.clone()),
        }
    }

    /// The DynamoDB store, for its request metrics.
    pub(crate) fn dynamo(&self) -> Option<&DynamoSessionStore> {
        match self {
            OpenStore::Dynamo(store) => Some(store),
            _ => None,
        }
    }

    /// Drops a DynamoDB table (DynamoDB Local keeps tables in memory; tidy all the same).
    pub(crate) async fn remove(self) {
        if let OpenStore::Dynamo(store) = self {
            let _ = store
                .client()
                .delete_table()
                .table_name(store.table_name())
                .send()
                .await;
        }
    }
}

/// A `DynamoSessionStore` on the table `table` of DynamoDB Local at `endpoint`, created if
/// missing.
pub(crate) async fn dynamo_store(endpoint: &str, table: &str) -> DynamoSessionStore {
    DynamoSessionStore::builder()
        .sdk_config(&sdk_config(endpoint).await)
        .table_name(table)
        .create_table_if_missing(true)
        .build()
        .await
        .expect("the store's table is ready in DynamoDB Local")
}

/// A file path in the temporary directory, removed with its SQLite companions on drop.
#[derive(Debug)]
pub(crate) struct TempFile {
    /// The path.
    pub(crate) path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A new path `minimalagent-bench-<name>-<pid>.db` (any file there is removed first).
    pub(crate) fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "minimalagent-bench-{name}-{}.db",
            std::process::id()
        ));
        let file = Self { path, keep: false };
        file.remove();
        file
    }

    /// An existing path that is not removed on drop (a file another process owns).
    pub(crate) fn existing(path: PathBuf) -> Self {
        Self { path, keep: true }
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            self.remove();
        }
    }
}

/// What a [`Metering`] layer counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Meter {
    /// Calls by method (`head`, `entries`, `commit`, …; `wait_for_changes` is not counted).
    pub(crate) calls: BTreeMap<&'static str, u64>,
    /// Entries returned by `entries`.
    pub(crate) entries_read: u64,
    /// Bytes of those entries as JSON (when the store measures them).
    pub(crate) entry_bytes_read: u64,
    /// CPU this thread spent measuring those bytes, to take out of the run's CPU.
    pub(crate) measuring_cpu: Duration,
}

impl Meter {
    /// Every call.
    pub(crate) fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    fn of_class(&self, class: fn(StoreMethod) -> bool) -> u64 {
        StoreMethod::ALL
            .into_iter()
            .filter(|method| class(*method))
            .map(|method| self.calls.get(method.as_str()).copied().unwrap_or(0))
            .sum()
    }

    /// Calls that read: `head` and `entries` (and the run readers).
    pub(crate) fn reads(&self) -> u64 {
        self.of_class(StoreMethod::is_read)
    }

    /// Calls that write.
    pub(crate) fn writes(&self) -> u64 {
        self.of_class(StoreMethod::is_write)
    }

    /// What happened between `earlier` and this.
    pub(crate) fn since(&self, earlier: &Meter) -> Meter {
        let calls = self
            .calls
            .iter()
            .filter_map(|(method, count)| {
                let before = earlier.calls.get(method).copied().unwrap_or(0);
                (*count > before).then_some((*method, count - before))
            })
            .collect();
        Meter {
            calls,
            entries_read: self.entries_read - earlier.entries_read,
            entry_bytes_read: self.entry_bytes_read - earlier.entry_bytes_read,
            measuring_cpu: self.measuring_cpu.saturating_sub(earlier.measuring_cpu),
        }
    }
}

/// A store layer that counts the calls made through it and the entries they return; with
/// `measure_bytes`, also their size as JSON (the CPU that costs is counted apart, so that it
/// can be taken out of a run's).
#[derive(Debug)]
pub(crate) struct Metering {
    meter: Mutex<Meter>,
    measure_bytes: bool,
}

impl Metering {
    /// The counts so far.
    pub(crate) fn meter(&self) -> Meter {
        self.meter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl StoreLayer for Metering {
    async fn around<'a, T, F>(&'a self, call: StoreCall<'a>, inner: F) -> Result<T, SessionError>
    where
        T: StoreOutput + 'a,
        F: Future<Output = Result<T, SessionError>> + Send + 'a,
    {
        let method = call.method();
        if method != StoreMethod::WaitForChanges {
            *self
                .meter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .calls
                .entry(method.as_str())
                .or_default() += 1;
        }
        let result = inner.await;
        if let Ok(output) = &result
            && let StoreOutputRef::Entries(entries) = output.view()
        {
            let (bytes, cpu) = if self.measure_bytes {
                let started = ThreadTime::now();
                let bytes = serde_json::to_vec(entries).map_or(0, |json| json.len() as u64);
                (bytes, started.elapsed())
            } else {
                (0, Duration::ZERO)
            };
            let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
            meter.entries_read += entries.len() as u64;
            meter.entry_bytes_read += bytes;
            meter.measuring_cpu += cpu;
        }
        result
    }
}

/// A store whose calls a [`Metering`] layer counts (`store.layer().meter()`).
pub(crate) type MeteredStore = Layered<dyn SessionStore, Metering>;

/// Counts the calls made to `inner`; with `measure_bytes`, also the size of the entries read.
pub(crate) fn metered_store(inner: Arc<dyn SessionStore>, measure_bytes: bool) -> MeteredStore {
    Layered::wrap(
        inner,
        Metering {
            meter: Mutex::new(Meter::default()),
            measure_bytes,
        },
    )
}

/// Every turn and run record of a session, read back to check that nothing was lost or
/// doubled: the run ids of its turns in log order, and of its run records.
pub(crate) async fn read_back(
    store: &dyn SessionStore,
    session: &SessionId,
) -> (Vec<uuid::Uuid>, Vec<RunRecord>) {
    let head = store.head(session).await.expect("the head is read");
    let mut turns = Vec::new();
    if !head.version.is_empty() {
        let mut from = head.first_seq;
        while from <= head.last_seq() {
            let to = (from + 199).min(head.last_seq());
            for entry in store
                .entries(session, from, to)
                .await
                .expect("the entries are read")
            {
                if let agent_session::EntryBody::Turn { run_id, .. } = entry.body {
                    turns.push(run_id);
                }
            }
            from = to + 1;
        }
    }
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .runs(session, after, 200)
            .await
            .expect("the run records are read");
        let Some(last) = page.last() else { break };
        after = last.run;
        records.extend(page);
    }
    (turns, records)
}
