//! Thin wrappers over the DynamoDB calls the store makes: metrics, consumed capacity and error
//! mapping in one place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent_session::{SessionError, SessionErrorKind};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, DeleteRequest, ReturnConsumedCapacity, TransactWriteItem,
    WriteRequest,
};
use futures::{StreamExt, TryStreamExt};

use crate::errors::sdk_error;
use crate::layout::{Item, attr, n, s};
use crate::metrics::{Access, Counters, write_units};
use crate::size::{item_size, value_size};

/// How many single-item writes run at once (chunk uploads, expiry refreshes).
pub(crate) const WRITE_CONCURRENCY: usize = 16;

/// The sort-key part of a Query's key condition.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRange {
    /// Every item of the partition.
    All,
    /// `lo <= sk <= hi`.
    Between(i128, i128),
    /// `sk >= lo`.
    AtLeast(i128),
    /// `sk < hi`.
    Below(i128),
}

/// One Query: a partition, a key range, an order, and optionally a page size and a projection.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec<'a> {
    pub(crate) pk: &'a str,
    pub(crate) range: KeyRange,
    pub(crate) forward: bool,
    pub(crate) limit: Option<i32>,
    /// Attribute names to return (besides the key); `None` for whole items.
    pub(crate) projection: Option<&'a [&'a str]>,
}

impl<'a> QuerySpec<'a> {
    pub(crate) fn new(pk: &'a str, range: KeyRange) -> Self {
        Self {
            pk,
            range,
            forward: true,
            limit: None,
            projection: None,
        }
    }
}

/// How a transaction failed.
#[derive(Debug)]
pub(crate) enum TxFailure {
    /// Cancelled: one reason per action, in order.
    Canceled(Vec<CancellationReason>),
    /// The client request token was used with other parameters within ten minutes.
    IdempotentMismatch,
    /// Anything else.
    Error(SessionError),
}

/// The table and the client, with the store's counters.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) counters: Arc<Counters>,
}

impl Db {
    fn err<E, R>(&self, operation: &str, error: SdkError<E, R>) -> SessionError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        sdk_error(operation, &self.table, error)
    }

    /// A strongly consistent GetItem.
    pub(crate) async fn get(&self, pk: &str, sk: i128) -> Result<Option<Item>, SessionError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(crate::layout::key(pk, sk)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| self.err("GetItem", e))?;
        self.counters
            .record("GetItem", Access::Read, output.consumed_capacity());
        Ok(output.item)
    }

    /// One strongly consistent Query page: the items and where the next page starts.
    pub(crate) async fn query_page(
        &self,
        spec: &QuerySpec<'_>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), SessionError> {
        let mut names = HashMap::from([
            ("#pk".to_owned(), attr::PK.to_owned()),
            ("#sk".to_owned(), attr::SK.to_owned()),
        ]);
        let mut values = HashMap::from([(":pk".to_owned(), s(spec.pk))]);
        let condition = match spec.range {
            KeyRange::All => "#pk = :pk",
            KeyRange::Between(lo, hi) => {
                values.insert(":lo".to_owned(), n(lo));
                values.insert(":hi".to_owned(), n(hi));
                "#pk = :pk AND #sk BETWEEN :lo AND :hi"
            }
            KeyRange::AtLeast(lo) => {
                values.insert(":lo".to_owned(), n(lo));
                "#pk = :pk AND #sk >= :lo"
            }
            KeyRange::Below(hi) => {
                values.insert(":hi".to_owned(), n(hi));
                "#pk = :pk AND #sk < :hi"
            }
        };
        let projection = spec.projection.map(|attributes| {
            let mut parts = vec!["#pk".to_owned(), "#sk".to_owned()];
            for (i, name) in attributes.iter().enumerate() {
                let placeholder = format!("#p{i}");
                names.insert(placeholder.clone(), (*name).to_owned());
                parts.push(placeholder);
            }
            parts.join(", ")
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .set_projection_expression(projection)
            .scan_index_forward(spec.forward)
            .set_limit(spec.limit)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| self.err("Query", e))?;
        self.counters
            .record("Query", Access::Read, output.consumed_capacity());
        let next = output.last_evaluated_key.filter(|key| !key.is_empty());
        Ok((output.items.unwrap_or_default(), next))
    }

    /// Every page of a Query. `until` stops paging once an item at or past that sort key (in the
    /// Query's direction) has been read.
    pub(crate) async fn query_all(
        &self,
        spec: &QuerySpec<'_>,
        until: Option<i128>,
    ) -> Result<Vec<Item>, SessionError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_page(spec, start).await?;
            items.extend(page);
            let reached = match (until, items.last()) {
                (Some(limit), Some(last)) => crate::layout::Reader::new(last)
                    .sk()
                    .map(|sk| {
                        if spec.forward {
                            sk >= limit
                        } else {
                            sk <= limit
                        }
                    })
                    .unwrap_or(false),
                _ => false,
            };
            match next {
                Some(key) if !reached => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// An unconditional PutItem.
    pub(crate) async fn put(&self, item: Item) -> Result<(), SessionError> {
        let units = write_units(item_size(&item));
        let output = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| self.err("PutItem", e))?;
        self.counters
            .record("PutItem", Access::Write, output.consumed_capacity());
        self.counters.add_estimated_writes(units);
        Ok(())
    }

    /// PutItems in parallel (bounded).
    pub(crate) async fn put_all(&self, items: Vec<Item>) -> Result<(), SessionError> {
        futures::stream::iter(items.into_iter().map(|item| self.put(item)))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// An UpdateItem. Returns `Ok(None)` when the condition failed, else the attributes asked
    /// for with `return_all_new`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update(
        &self,
        key: Item,
        update: &str,
        condition: Option<&str>,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
        return_all_new: bool,
    ) -> Result<Option<Item>, SessionError> {
        let units = write_units(update_size(&key, &names, &values));
        self.counters.add_estimated_writes(units);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values(if return_all_new {
                aws_sdk_dynamodb::types::ReturnValue::AllNew
            } else {
                aws_sdk_dynamodb::types::ReturnValue::None
            })
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                self.counters
                    .record("UpdateItem", Access::Write, output.consumed_capacity());
                Ok(Some(output.attributes.unwrap_or_default()))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.counters.record("UpdateItem", Access::Write, None);
                Ok(None)
            }
            Err(e) => Err(self.err("UpdateItem", e)),
        }
    }

    /// A DeleteItem; a failed condition is not an error (`Ok(false)`).
    pub(crate) async fn delete(
        &self,
        key: Item,
        condition: Option<&str>,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, SessionError> {
        self.counters.add_estimated_writes(1);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                self.counters
                    .record("DeleteItem", Access::Write, output.consumed_capacity());
                Ok(true)
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.counters.record("DeleteItem", Access::Write, None);
                Ok(false)
            }
            Err(e) => Err(self.err("DeleteItem", e)),
        }
    }

    /// One TransactWriteItems with a fresh client request token (the SDK reuses it on its own
    /// retries, so a retried request that already committed is not applied twice).
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let token = uuid::Uuid::now_v7().to_string();
        let units: u64 = actions.iter().map(action_units).sum::<u64>() * 2;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(token)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                self.counters.record(
                    "TransactWriteItems",
                    Access::Write,
                    output.consumed_capacity(),
                );
                self.counters.add_estimated_writes(units);
                Ok(())
            }
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                TransactWriteItemsError::TransactionCanceledException(canceled) => {
                    self.counters
                        .record("TransactWriteItems", Access::Write, None);
                    Err(TxFailure::Canceled(
                        canceled.cancellation_reasons().to_vec(),
                    ))
                }
                TransactWriteItemsError::IdempotentParameterMismatchException(_) => {
                    Err(TxFailure::IdempotentMismatch)
                }
                other => Err(TxFailure::Error(crate::errors::service_error(
                    "TransactWriteItems",
                    &self.table,
                    other,
                ))),
            },
            Err(e) => Err(TxFailure::Error(self.err("TransactWriteItems", e))),
        }
    }

    /// Deletes items with BatchWriteItem, 25 at a time, resending what DynamoDB left
    /// unprocessed (with backoff) until all are gone.
    pub(crate) async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), SessionError> {
        for batch in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                        .map_err(|e| {
                            SessionError::new(SessionErrorKind::InvalidInput, e.to_string())
                        })
                })
                .collect::<Result<_, _>>()?;
            let mut backoff = Duration::from_millis(50);
            for round in 0.. {
                let sent = requests.len();
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| self.err("BatchWriteItem", e))?;
                self.counters
                    .record("BatchWriteItem", Access::Write, output.consumed_capacity());
                requests = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .unwrap_or_default();
                self.counters
                    .add_estimated_writes(sent.saturating_sub(requests.len()) as u64);
                if requests.is_empty() {
                    break;
                }
                if round >= 8 {
                    return Err(SessionError::new(
                        SessionErrorKind::Throttled,
                        format!(
                            "DynamoDB BatchWriteItem on table `{}` left {} deletes unprocessed \
                             after {} rounds",
                            self.table,
                            requests.len(),
                            round + 1
                        ),
                    ));
                }
                tracing::debug!(left = requests.len(), "resending unprocessed deletes");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Ok(())
    }
}

/// The size an update sends: its key, attribute names and values.
fn update_size(
    key: &Item,
    names: &HashMap<String, String>,
    values: &HashMap<String, AttributeValue>,
) -> usize {
    item_size(key)
        + names.values().map(String::len).sum::<usize>()
        + values.values().map(value_size).sum::<usize>()
}

/// Write units of one transaction action, before the transaction's doubling.
fn action_units(action: &TransactWriteItem) -> u64 {
    if let Some(put) = action.put() {
        write_units(item_size(put.item()))
    } else if let Some(update) = action.update() {
        let names = update
            .expression_attribute_names()
            .cloned()
            .unwrap_or_default();
        let values = update
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
        write_units(update_size(update.key(), &names, &values))
    } else {
        1
    }
}
