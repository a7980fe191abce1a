//! Thin wrappers over the DynamoDB calls the store makes: metrics, consumed capacity, error
//! mapping, the SDK's paginators, and the one backoff for what the SDK does not retry.

use std::collections::HashMap;
use std::sync::Arc;

use agent_session::{SessionError, SessionErrorKind};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, DeleteRequest, Put, PutRequest, ReturnConsumedCapacity,
    ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};

use crate::errors::{error, invalid, sdk_error, service_error, write_error};
use crate::layout::{Item, attr, n, s};
use crate::metrics::{Access, Counters, write_units};
use crate::retry::Backoff;
use crate::size::{item_size, value_size};

/// How many single-item writes run at once (expiry refreshes, migrations).
pub(crate) const WRITE_CONCURRENCY: usize = 16;
/// DynamoDB's limits on one transaction.
pub(crate) const MAX_TRANSACTION_ACTIONS: usize = 100;
/// See [`MAX_TRANSACTION_ACTIONS`]: 4 MB, with room for the request's own framing.
pub(crate) const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024 - 64 * 1024;

/// Expression attribute names and values, with placeholders derived from the names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// `#name` for an attribute.
    pub(crate) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    /// `:label` for a value.
    pub(crate) fn value(&mut self, label: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{label}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `:label` for a number.
    pub(crate) fn num(&mut self, label: &str, value: impl ToString) -> String {
        self.value(label, n(value))
    }

    /// `:label` for a string.
    pub(crate) fn str(&mut self, label: &str, value: impl Into<String>) -> String {
        self.value(label, s(value))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn size(&self) -> usize {
        self.names.values().map(String::len).sum::<usize>()
            + self.values.values().map(value_size).sum::<usize>()
    }
}

/// A conditional Put.
#[derive(Debug, Clone)]
pub(crate) struct PutSpec {
    pub(crate) item: Item,
    pub(crate) condition: Option<String>,
    pub(crate) expr: Expr,
}

impl PutSpec {
    pub(crate) fn new(item: Item) -> Self {
        Self {
            item,
            condition: None,
            expr: Expr::default(),
        }
    }

    /// Only where no live item is: none at all, or one whose `expiration_time` has passed
    /// (left behind by an earlier life, waiting for DynamoDB's lazy TTL deletion).
    pub(crate) fn if_absent(mut self, now_s: i64) -> Self {
        let pk = self.expr.name(attr::PK);
        let exp = self.expr.name(attr::EXPIRATION_TIME);
        let now = self.expr.num("now_s", now_s);
        self.condition = Some(format!("attribute_not_exists({pk}) OR {exp} < {now}"));
        self
    }

    fn action(self, table: &str) -> Result<TransactWriteItem, SessionError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(self.item))
            .set_condition_expression(self.condition)
            .set_expression_attribute_names(self.expr.names())
            .set_expression_attribute_values(self.expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn size(&self) -> usize {
        item_size(&self.item) + self.expr.size()
    }
}

/// A conditional Update.
#[derive(Debug, Clone)]
pub(crate) struct UpdateSpec {
    pub(crate) key: Item,
    pub(crate) update: String,
    pub(crate) condition: Option<String>,
    pub(crate) expr: Expr,
    /// The item's size once updated, when the update writes it whole (the head): what
    /// DynamoDB bills, rather than the size of the request.
    pub(crate) item_size: Option<usize>,
}

impl UpdateSpec {
    fn action(self, table: &str) -> Result<TransactWriteItem, SessionError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(self.key))
            .update_expression(self.update)
            .set_condition_expression(self.condition)
            .set_expression_attribute_names(self.expr.names())
            .set_expression_attribute_values(self.expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn size(&self) -> usize {
        item_size(&self.key) + self.expr.size() + self.update.len()
    }

    /// The bytes the update's write units are estimated from.
    fn billed_size(&self) -> usize {
        self.item_size.unwrap_or_else(|| self.size())
    }
}

/// One action of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Put(PutSpec),
    Update(UpdateSpec),
}

impl Action {
    fn size(&self) -> usize {
        match self {
            Action::Put(put) => put.size(),
            Action::Update(update) => update.size(),
        }
    }

    /// The bytes its write units are estimated from.
    fn billed_size(&self) -> usize {
        match self {
            Action::Put(put) => put.size(),
            Action::Update(update) => update.billed_size(),
        }
    }
}

/// Why a transaction did not apply.
#[derive(Debug)]
pub(crate) enum TxFailure {
    /// A condition failed: one reason per action, in order, with the item as it was
    /// (`ALL_OLD`) for the failed ones.
    Condition(Vec<CancellationReason>),
    /// Anything else.
    Error(SessionError),
}

impl From<SessionError> for TxFailure {
    fn from(error: SessionError) -> Self {
        TxFailure::Error(error)
    }
}

/// Whether the action at `index` failed its condition; its old item if it had one.
pub(crate) fn failed_at(reasons: &[CancellationReason], index: usize) -> Option<Option<&Item>> {
    let reason = reasons.get(index)?;
    (reason.code() == Some("ConditionalCheckFailed"))
        .then(|| reason.item().filter(|item| !item.is_empty()))
}

/// A strongly consistent Query of one partition.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec<'a> {
    pub(crate) pk: &'a str,
    /// Inclusive sort-key bounds.
    pub(crate) lo: Option<i128>,
    pub(crate) hi: Option<i128>,
    pub(crate) forward: bool,
    /// Stop after this many items.
    pub(crate) limit: Option<usize>,
    /// Attributes to return besides the key; `None` for whole items.
    pub(crate) projection: Option<&'a [&'a str]>,
}

impl<'a> QuerySpec<'a> {
    pub(crate) fn new(pk: &'a str) -> Self {
        Self {
            pk,
            lo: None,
            hi: None,
            forward: true,
            limit: None,
            projection: None,
        }
    }

    pub(crate) fn between(mut self, lo: i128, hi: i128) -> Self {
        self.lo = Some(lo);
        self.hi = Some(hi);
        self
    }
}

/// The result of a conditional single-item write.
pub(crate) type Conditional<T> = Result<T, Option<Item>>;

/// The table and the client, with the store's counters.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) client: Client,
    pub(crate) table: String,
    pub(crate) counters: Arc<Counters>,
}

impl Db {
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
            .map_err(|e| sdk_error("GetItem", &self.table, e))?;
        self.counters
            .record("GetItem", Access::Read, output.consumed_capacity());
        Ok(output.item)
    }

    /// A strongly consistent Query, every page (the SDK's paginator) up to the spec's limit.
    pub(crate) async fn query(&self, spec: &QuerySpec<'_>) -> Result<Vec<Item>, SessionError> {
        let mut expr = Expr::default();
        let pk = expr.name(attr::PK);
        let sk = expr.name(attr::SK);
        let pk_value = expr.str("pk", spec.pk);
        let condition = match (spec.lo, spec.hi) {
            (Some(lo), Some(hi)) => {
                let (lo, hi) = (expr.num("lo", lo), expr.num("hi", hi));
                format!("{pk} = {pk_value} AND {sk} BETWEEN {lo} AND {hi}")
            }
            (Some(lo), None) => {
                let lo = expr.num("lo", lo);
                format!("{pk} = {pk_value} AND {sk} >= {lo}")
            }
            (None, Some(hi)) => {
                let hi = expr.num("hi", hi);
                format!("{pk} = {pk_value} AND {sk} <= {hi}")
            }
            (None, None) => format!("{pk} = {pk_value}"),
        };
        let projection = spec.projection.map(|attributes| {
            let mut parts = vec![pk.clone(), sk.clone()];
            parts.extend(attributes.iter().map(|name| expr.name(name)));
            parts.join(", ")
        });
        let page_size = spec
            .limit
            .map(|limit| i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
        let mut builder = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_projection_expression(projection)
            .scan_index_forward(spec.forward)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator();
        if let Some(size) = page_size {
            builder = builder.page_size(size);
        }
        let mut pages = builder.send();
        let mut items = Vec::new();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|e| sdk_error("Query", &self.table, e))?
        {
            self.counters
                .record("Query", Access::Read, page.consumed_capacity());
            items.extend(page.items.unwrap_or_default());
            if spec.limit.is_some_and(|limit| items.len() >= limit) {
                break;
            }
        }
        if let Some(limit) = spec.limit {
            items.truncate(limit);
        }
        Ok(items)
    }

    /// A conditional UpdateItem returning the item as it is after it (`ALL_NEW`); `Err(old
    /// item)` when the condition failed.
    pub(crate) async fn update(&self, spec: UpdateSpec) -> Result<Conditional<Item>, SessionError> {
        self.counters
            .add_estimated_writes(write_units(spec.billed_size()));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(spec.key))
            .update_expression(spec.update)
            .set_condition_expression(spec.condition)
            .set_expression_attribute_names(spec.expr.names())
            .set_expression_attribute_values(spec.expr.values())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                self.counters
                    .record("UpdateItem", Access::Write, output.consumed_capacity());
                Ok(Ok(output.attributes.unwrap_or_default()))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                self.counters.record("UpdateItem", Access::Write, None);
                let old = match e.into_err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                Ok(Err(old.filter(|item| !item.is_empty())))
            }
            Err(e) => Err(write_error("UpdateItem", &self.table, e)),
        }
    }

    /// A conditional DeleteItem; `false` when the condition failed.
    pub(crate) async fn delete_if(
        &self,
        key: Item,
        condition: String,
        expr: Expr,
    ) -> Result<bool, SessionError> {
        self.counters.add_estimated_writes(1);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
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
            Err(e) => Err(write_error("DeleteItem", &self.table, e)),
        }
    }

    /// Checks that a transaction is within DynamoDB's limits (100 actions, 4 MB).
    pub(crate) fn check_transaction(actions: &[Action]) -> Result<(), SessionError> {
        let bytes: usize = actions.iter().map(Action::size).sum();
        if actions.len() > MAX_TRANSACTION_ACTIONS || bytes > MAX_TRANSACTION_BYTES {
            return Err(invalid(format!(
                "the write needs {} items and {bytes} bytes in one transaction, more than \
                 DynamoDB allows ({MAX_TRANSACTION_ACTIONS} items, 4 MB); shorten the run's \
                 messages or tool results",
                actions.len()
            )));
        }
        Ok(())
    }

    /// One TransactWriteItems with a fresh client request token (the SDK resends it unchanged
    /// on its own retries, so a resent request that already applied is not applied twice).
    /// Cancellations for conflicts or throttling are resent with backoff; a failed condition
    /// is returned with every reason; an unknown outcome is marked `maybe_applied`.
    pub(crate) async fn transact(&self, actions: Vec<Action>) -> Result<(), TxFailure> {
        Self::check_transaction(&actions)?;
        let units: u64 = actions
            .iter()
            .map(|action| write_units(action.billed_size()))
            .sum::<u64>()
            * 2;
        let items = actions
            .into_iter()
            .map(|action| match action {
                Action::Put(put) => put.action(&self.table),
                Action::Update(update) => update.action(&self.table),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut backoff = Backoff::transaction();
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(uuid::Uuid::now_v7().to_string())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let reasons = match result {
                Ok(output) => {
                    self.counters.record(
                        "TransactWriteItems",
                        Access::Write,
                        output.consumed_capacity(),
                    );
                    self.counters.add_estimated_writes(units);
                    return Ok(());
                }
                Err(SdkError::ServiceError(service)) if service.raw().status().as_u16() < 500 => {
                    match service.into_err() {
                        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            self.counters
                                .record("TransactWriteItems", Access::Write, None);
                            cancelled.cancellation_reasons.unwrap_or_default()
                        }
                        TransactWriteItemsError::IdempotentParameterMismatchException(e) => {
                            return Err(TxFailure::Error(
                                service_error("TransactWriteItems", &self.table, e)
                                    .with_maybe_applied(),
                            ));
                        }
                        other => {
                            return Err(TxFailure::Error(service_error(
                                "TransactWriteItems",
                                &self.table,
                                other,
                            )));
                        }
                    }
                }
                Err(e) => {
                    return Err(TxFailure::Error(write_error(
                        "TransactWriteItems",
                        &self.table,
                        e,
                    )));
                }
            };
            if reasons
                .iter()
                .any(|r| r.code() == Some("ConditionalCheckFailed"))
            {
                return Err(TxFailure::Condition(reasons));
            }
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            let transient = codes.iter().any(|code| {
                matches!(
                    *code,
                    "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                        | "RequestLimitExceeded"
                        | "TransactionInProgress"
                )
            });
            if !transient {
                let kind = if codes.contains(&"ValidationError") {
                    SessionErrorKind::InvalidInput
                } else {
                    SessionErrorKind::Unavailable
                };
                return Err(TxFailure::Error(error(
                    kind,
                    format!(
                        "DynamoDB TransactWriteItems on table `{}` was cancelled: {codes:?}",
                        self.table
                    ),
                )));
            }
            if !backoff.wait().await {
                let throttled = codes
                    .iter()
                    .any(|c| *c != "TransactionConflict" && *c != "None");
                return Err(TxFailure::Error(error(
                    if throttled {
                        SessionErrorKind::Throttled
                    } else {
                        SessionErrorKind::Unavailable
                    },
                    format!(
                        "DynamoDB TransactWriteItems on table `{}` was cancelled {} times: \
                         {codes:?}",
                        self.table,
                        backoff.attempts()
                    ),
                )));
            }
            tracing::debug!(?codes, "transaction cancelled; resending");
        }
    }

    /// Puts items with BatchWriteItem, 25 at a time, resending what DynamoDB left unprocessed.
    pub(crate) async fn batch_put(&self, items: Vec<Item>) -> Result<(), SessionError> {
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// Deletes items by key with BatchWriteItem, 25 at a time.
    pub(crate) async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), SessionError> {
        let requests = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
                    .map_err(|e| invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), SessionError> {
        for batch in requests.chunks(25) {
            let mut pending = batch.to_vec();
            let mut backoff = Backoff::batch();
            loop {
                let units: u64 = pending
                    .iter()
                    .map(|r| {
                        r.put_request()
                            .map_or(1, |put| write_units(item_size(put.item())))
                    })
                    .sum();
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending.clone())
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| write_error("BatchWriteItem", &self.table, e))?;
                self.counters
                    .record("BatchWriteItem", Access::Write, output.consumed_capacity());
                let left = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .unwrap_or_default();
                let left_units: u64 = left
                    .iter()
                    .map(|r| {
                        r.put_request()
                            .map_or(1, |put| write_units(item_size(put.item())))
                    })
                    .sum();
                self.counters
                    .add_estimated_writes(units.saturating_sub(left_units));
                if left.is_empty() {
                    break;
                }
                if !backoff.wait().await {
                    return Err(error(
                        SessionErrorKind::Throttled,
                        format!(
                            "DynamoDB BatchWriteItem on table `{}` left {} writes unprocessed \
                             after {} tries",
                            self.table,
                            left.len(),
                            backoff.attempts()
                        ),
                    )
                    .with_maybe_applied());
                }
                tracing::debug!(left = left.len(), "resending unprocessed writes");
                pending = left;
            }
        }
        Ok(())
    }

    /// Runs single-item updates, [`WRITE_CONCURRENCY`] at a time.
    pub(crate) async fn update_all(&self, specs: Vec<UpdateSpec>) -> Result<(), SessionError> {
        futures::stream::iter(specs.into_iter().map(|spec| self.update(spec)))
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await
            .map(|_| ())
    }

    /// One Scan page of head items (`begins_with(pk, prefix) AND sk = 0`), starting after
    /// `start`, reading at most `limit` items before the filter (the SDK's paginator, one
    /// page). Returns the heads and where the next page starts.
    pub(crate) async fn scan_heads(
        &self,
        prefix: &str,
        start: Option<Item>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<Item>), SessionError> {
        let mut expr = Expr::default();
        let filter = format!(
            "begins_with({}, {}) AND {} = {}",
            expr.name(attr::PK),
            expr.str("prefix", prefix),
            expr.name(attr::SK),
            expr.num("zero", 0)
        );
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_exclusive_start_key(start)
            .limit(limit)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        let Some(page) = pages
            .try_next()
            .await
            .map_err(|e| sdk_error("Scan", &self.table, e))?
        else {
            return Ok((Vec::new(), None));
        };
        self.counters
            .record("Scan", Access::Read, page.consumed_capacity());
        let next = page.last_evaluated_key.filter(|key| !key.is_empty());
        Ok((page.items.unwrap_or_default(), next))
    }
}
