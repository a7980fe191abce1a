//! Request, byte and capacity counters of a store, for tests, benchmarks and dashboards.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ConsumedCapacity;

/// What a [`DynamoSessionStore`](crate::DynamoSessionStore) has sent to DynamoDB since it was
/// built: see [`DynamoSessionStore::metrics`](crate::DynamoSessionStore::metrics).
///
/// Subtract two snapshots with [`StoreMetrics::since`] to measure one operation.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StoreMetrics {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Bytes of request bodies sent, retries included.
    pub request_bytes: u64,
    /// Bytes of response bodies received.
    pub response_bytes: u64,
    /// Read capacity units DynamoDB reported as consumed (`ReturnConsumedCapacity=TOTAL`).
    pub read_capacity_units: f64,
    /// Write capacity units DynamoDB reported as consumed (`ReturnConsumedCapacity=TOTAL`).
    /// DynamoDB Local reports transactions differently from DynamoDB (more units), so see also
    /// [`estimated_write_units`](Self::estimated_write_units).
    pub write_capacity_units: f64,
    /// Write units by DynamoDB's on-demand pricing rules for the writes this store sent:
    /// ⌈item size / 1 KB⌉ per item written, twice that in a transaction. Updates and deletes
    /// are counted by the size of what they send, a lower bound (DynamoDB bills the whole
    /// item).
    pub estimated_write_units: u64,
    /// Completed API calls by operation name (`Query`, `TransactWriteItems`, …), retries not
    /// counted.
    pub operations: BTreeMap<String, u64>,
}

impl StoreMetrics {
    /// What happened between `earlier` and this snapshot.
    #[must_use]
    pub fn since(&self, earlier: &StoreMetrics) -> StoreMetrics {
        let mut operations = BTreeMap::new();
        for (name, count) in &self.operations {
            let before = earlier.operations.get(name).copied().unwrap_or(0);
            if *count > before {
                operations.insert(name.clone(), count - before);
            }
        }
        StoreMetrics {
            requests: self.requests.saturating_sub(earlier.requests),
            request_bytes: self.request_bytes.saturating_sub(earlier.request_bytes),
            response_bytes: self.response_bytes.saturating_sub(earlier.response_bytes),
            read_capacity_units: (self.read_capacity_units - earlier.read_capacity_units).max(0.0),
            write_capacity_units: (self.write_capacity_units - earlier.write_capacity_units)
                .max(0.0),
            estimated_write_units: self
                .estimated_write_units
                .saturating_sub(earlier.estimated_write_units),
            operations,
        }
    }

    /// The number of completed API calls of every operation.
    pub fn operation_count(&self) -> u64 {
        self.operations.values().sum()
    }
}

impl fmt::Display for StoreMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests, {} B sent, {} B received, {:.1} RCU, {:.1} WCU reported, {} WCU by \
             the pricing rules (",
            self.requests,
            self.request_bytes,
            self.response_bytes,
            self.read_capacity_units,
            self.write_capacity_units,
            self.estimated_write_units
        )?;
        for (i, (name, count)) in self.operations.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} {count}")?;
        }
        f.write_str(")")
    }
}

/// The live counters behind [`StoreMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// Thousandths of a capacity unit.
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
    estimated_write_units: AtomicU64,
    operations: Mutex<BTreeMap<&'static str, u64>>,
}

/// Whether an operation reads or writes, for capacity DynamoDB reports only as a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Counters {
    /// Counts one completed call of `operation` and the capacity it reported.
    pub(crate) fn record<'a>(
        &self,
        operation: &'static str,
        access: Access,
        capacity: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        for consumed in capacity {
            let (read, write) = match (
                consumed.read_capacity_units(),
                consumed.write_capacity_units(),
            ) {
                (None, None) => match access {
                    Access::Read => (consumed.capacity_units().unwrap_or(0.0), 0.0),
                    Access::Write => (0.0, consumed.capacity_units().unwrap_or(0.0)),
                },
                (read, write) => (read.unwrap_or(0.0), write.unwrap_or(0.0)),
            };
            self.read_milli_units
                .fetch_add(to_milli(read), Ordering::Relaxed);
            self.write_milli_units
                .fetch_add(to_milli(write), Ordering::Relaxed);
        }
        if let Ok(mut operations) = self.operations.lock() {
            *operations.entry(operation).or_insert(0) += 1;
        }
    }

    /// Counts write units computed from item sizes (see [`StoreMetrics::estimated_write_units`]).
    pub(crate) fn add_estimated_writes(&self, units: u64) {
        self.estimated_write_units
            .fetch_add(units, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreMetrics {
        let operations = self
            .operations
            .lock()
            .map(|ops| {
                ops.iter()
                    .map(|(name, count)| ((*name).to_owned(), *count))
                    .collect()
            })
            .unwrap_or_default();
        StoreMetrics {
            requests: self.requests.load(Ordering::Relaxed),
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            response_bytes: self.response_bytes.load(Ordering::Relaxed),
            read_capacity_units: self.read_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            write_capacity_units: self.write_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            estimated_write_units: self.estimated_write_units.load(Ordering::Relaxed),
            operations,
        }
    }
}

/// Write units of one item of `bytes` bytes: ⌈bytes / 1 KB⌉, at least 1.
pub(crate) fn write_units(bytes: usize) -> u64 {
    (bytes.div_ceil(1024)).max(1) as u64
}

fn to_milli(units: f64) -> u64 {
    if units.is_finite() && units > 0.0 {
        (units * 1000.0).round() as u64
    } else {
        0
    }
}

/// The SDK interceptor that counts HTTP requests and bytes into [`Counters`].
#[derive(Debug, Clone)]
pub(crate) struct CountingInterceptor {
    pub(crate) counters: Arc<Counters>,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "MinimalAgentSessionMetrics"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request();
        let bytes = request
            .body()
            .bytes()
            .map(|b| b.len() as u64)
            .or_else(|| request.body().content_length())
            .unwrap_or(0);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters
            .request_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // By now the body of a (non-streaming) response has been read into memory.
        let response = context.response();
        let bytes = response
            .body()
            .bytes()
            .map(|b| b.len() as u64)
            .or_else(|| {
                response
                    .headers()
                    .get("content-length")
                    .and_then(|value| value.parse::<u64>().ok())
            })
            .unwrap_or(0);
        self.counters
            .response_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}
