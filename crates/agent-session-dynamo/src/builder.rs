//! [`DynamoSessionStoreBuilder`]: client set-up and the table check.

use std::sync::Arc;
use std::time::Duration;

use agent_core::DEFAULT_AWS_REGION;
use agent_session::{Clock, DEFAULT_SESSION_TTL, SessionError, SessionErrorKind, SystemClock};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::Region;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::codec::Encoding;
use crate::db::Db;
use crate::errors::sdk_error;
use crate::layout::attr;
use crate::metrics::{Counters, CountingInterceptor};
use crate::store::DynamoSessionStore;

/// The table used when none is named: the Python MinimalAgent's default.
pub const DEFAULT_TABLE_NAME: &str = "minimalagent-session-table";

/// The compression threshold used unless [`DynamoSessionStoreBuilder::compress_above`] sets
/// one: payloads (the JSON of a run's messages, of a reasoning record, of an event) up to
/// 64 KiB are stored as plain JSON strings, readable in the console and by other tools; larger
/// ones are gzip-compressed. Measured on DynamoDB Local (`docs/design/session-layout.md`):
/// chat turns and runs with tool results of a few KB cost the same either way and stay
/// readable, while a run with a 150 KB tool result costs 134 write units instead of 594.
pub const DEFAULT_COMPRESS_ABOVE: Option<usize> = Some(64 * 1024);

/// How long [`DynamoSessionStoreBuilder::build`] waits for a table it created to become active.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(120);

/// The retry policy used unless [`DynamoSessionStoreBuilder::retry_config`] sets one: the SDK's
/// standard mode (exponential backoff with jitter; throttling, 5xx and timeouts are retried),
/// five attempts, 100 ms initial and 5 s largest backoff.
pub fn default_retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// The timeouts used unless [`DynamoSessionStoreBuilder::timeout_config`] sets them: 3.1 s to
/// connect, 10 s per attempt, 30 s per operation (retries included).
pub fn default_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

/// Checks a DynamoDB table name: 3 to 255 characters of `[A-Za-z0-9_.-]`.
pub fn validate_table_name(name: &str) -> Result<(), SessionError> {
    let valid = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        let shown: String = name.chars().take(300).collect();
        Err(SessionError::new(
            SessionErrorKind::InvalidInput,
            format!(
                "invalid DynamoDB table name {shown:?}: it must be 3 to 255 characters of \
                 [A-Za-z0-9_.-]"
            ),
        ))
    }
}

/// Where the builder gets its client from.
#[derive(Debug, Clone)]
enum Source {
    /// `aws_config::defaults`: the AWS environment (env vars, profile, IMDS, …).
    Environment,
    SdkConfig(Box<SdkConfig>),
    Client(Box<Client>),
}

/// Builds a [`DynamoSessionStore`]; see [`DynamoSessionStore::builder`].
///
/// Every setting has a default: table [`DEFAULT_TABLE_NAME`], time to live
/// [`agent_session::DEFAULT_SESSION_TTL`], the region of the AWS environment else
/// [`agent_core::DEFAULT_AWS_REGION`], the endpoint of the standard AWS settings
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, profile), the table created when missing,
/// payloads over 64 KiB compressed ([`DEFAULT_COMPRESS_ABOVE`]), the system clock.
#[derive(Clone)]
#[must_use]
pub struct DynamoSessionStoreBuilder {
    table_name: String,
    region: Option<String>,
    ttl: Duration,
    create_table_if_missing: bool,
    endpoint_url: Option<String>,
    source: Source,
    retry_config: Option<RetryConfig>,
    timeout_config: Option<TimeoutConfig>,
    compress_above: Option<usize>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoSessionStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoSessionStoreBuilder")
            .field("table_name", &self.table_name)
            .field("region", &self.region)
            .field("ttl", &self.ttl)
            .field("create_table_if_missing", &self.create_table_if_missing)
            .field("endpoint_url", &self.endpoint_url)
            .field("compress_above", &self.compress_above)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for DynamoSessionStoreBuilder {
    fn default() -> Self {
        Self {
            table_name: DEFAULT_TABLE_NAME.to_owned(),
            region: None,
            ttl: DEFAULT_SESSION_TTL,
            create_table_if_missing: true,
            endpoint_url: None,
            source: Source::Environment,
            retry_config: None,
            timeout_config: None,
            compress_above: DEFAULT_COMPRESS_ABOVE,
            clock: Arc::new(SystemClock),
        }
    }
}

impl DynamoSessionStoreBuilder {
    /// The table to use (3 to 255 characters of `[A-Za-z0-9_.-]`, checked by
    /// [`build`](Self::build)).
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// The AWS region, overriding the environment's and any given SDK config's.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// How long a session lives after its last write (at least one second).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Same as [`ttl`](Self::ttl), named like the agent's `session_ttl` setting.
    pub fn session_ttl(self, ttl: Duration) -> Self {
        self.ttl(ttl)
    }

    /// Whether [`build`](Self::build) creates the table when it does not exist (default: yes).
    /// An existing table is only checked, never altered.
    pub fn create_table_if_missing(mut self, create: bool) -> Self {
        self.create_table_if_missing = create;
        self
    }

    /// The DynamoDB endpoint (for DynamoDB Local: `http://127.0.0.1:8000`), overriding the
    /// standard AWS settings.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Builds the client from this SDK config instead of loading the AWS environment.
    pub fn sdk_config(mut self, config: &SdkConfig) -> Self {
        self.source = Source::SdkConfig(Box::new(config.clone()));
        self
    }

    /// Uses this client's configuration (its credentials, HTTP client, interceptors…). The
    /// store still applies its region, endpoint, retry and timeout settings and adds its
    /// metrics interceptor.
    pub fn client(mut self, client: Client) -> Self {
        self.source = Source::Client(Box::new(client));
        self
    }

    /// Compresses payloads (messages, reasoning records, events) of more than `bytes` bytes of
    /// JSON with gzip (default [`DEFAULT_COMPRESS_ABOVE`]: 64 KiB); `None`: only payloads
    /// that would not fit in a 400 KB item otherwise. Smaller thresholds save write units on
    /// runs with large tool results; larger ones keep more items readable as plain JSON in
    /// the console and to other tools (a dashboard reading `reasoning` must gunzip the
    /// compressed ones: they have `enc = "gzip"` and a binary payload).
    pub fn compress_above(mut self, bytes: Option<usize>) -> Self {
        self.compress_above = bytes;
        self
    }

    /// Where the store takes the time from (default: the system clock). Expiry and
    /// heartbeats use it; DynamoDB's own TTL deletion follows the real clock regardless.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The retry policy; default [`default_retry_config`].
    pub fn retry_config(mut self, config: RetryConfig) -> Self {
        self.retry_config = Some(config);
        self
    }

    /// The timeouts; default [`default_timeout_config`].
    pub fn timeout_config(mut self, config: TimeoutConfig) -> Self {
        self.timeout_config = Some(config);
        self
    }

    /// Checks the settings, builds the client, and checks the table (creating it if it is
    /// missing and creation is on).
    ///
    /// # Errors
    ///
    /// [`SessionErrorKind::InvalidInput`] for a bad table name or a zero TTL (before any
    /// I/O); [`SessionErrorKind::Misconfigured`] for a table with the wrong key schema, a
    /// missing table when creation is off, or wrong credentials or permissions;
    /// [`SessionErrorKind::Unavailable`] or [`SessionErrorKind::Throttled`] when DynamoDB
    /// cannot be reached.
    #[tracing::instrument(level = "debug", skip_all, fields(table = %self.table_name))]
    pub async fn build(self) -> Result<DynamoSessionStore, SessionError> {
        validate_table_name(&self.table_name)?;
        agent_session::check_ttl(self.ttl)?;
        let counters = Arc::new(Counters::default());
        let mut config = match self.source {
            Source::Client(client) => client.config().to_builder(),
            Source::SdkConfig(sdk) => {
                let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk.as_ref());
                if sdk.region().is_none() {
                    builder = builder.region(Region::new(DEFAULT_AWS_REGION));
                }
                builder
            }
            Source::Environment => {
                let region = aws_config::meta::region::RegionProviderChain::default_provider()
                    .or_else(Region::new(DEFAULT_AWS_REGION));
                let sdk = aws_config::defaults(BehaviorVersion::latest())
                    .region(region)
                    .load()
                    .await;
                aws_sdk_dynamodb::config::Builder::from(&sdk)
            }
        };
        if let Some(region) = &self.region {
            config = config.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            config = config.endpoint_url(url.clone());
        }
        config = config
            .retry_config(self.retry_config.unwrap_or_else(default_retry_config))
            .timeout_config(self.timeout_config.unwrap_or_else(default_timeout_config))
            .interceptor(CountingInterceptor {
                counters: counters.clone(),
            });
        let client = Client::from_conf(config.build());
        let db = Db {
            client,
            table: self.table_name,
            counters,
        };
        ensure_table(&db, self.create_table_if_missing).await?;
        Ok(DynamoSessionStore::from_parts(
            db,
            self.ttl,
            Encoding {
                compress_above: self.compress_above,
            },
            self.clock,
        ))
    }
}

/// Checks the table, or creates it.
async fn ensure_table(db: &Db, create: bool) -> Result<(), SessionError> {
    let created = match describe_table(db).await? {
        Some(table) => {
            let table = wait_until_usable(db, table).await?;
            check_key_schema(&db.table, &table)?;
            false
        }
        None if create => {
            create_table(db).await?;
            true
        }
        None => {
            return Err(SessionError::new(
                SessionErrorKind::Misconfigured,
                format!(
                    "DynamoDB table `{}` does not exist and creating it is turned off",
                    db.table
                ),
            ));
        }
    };
    if created {
        enable_ttl(db).await
    } else {
        check_ttl(db).await
    }
}

async fn describe_table(db: &Db) -> Result<Option<TableDescription>, SessionError> {
    match db
        .client
        .describe_table()
        .table_name(&db.table)
        .send()
        .await
    {
        Ok(output) => Ok(Some(
            output
                .table
                .unwrap_or_else(|| TableDescription::builder().build()),
        )),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), DescribeTableError::ResourceNotFoundException(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error("DescribeTable", &db.table, e)),
    }
}

/// Waits while the table is being created (the SDK's `table_exists` waiter); a table being
/// deleted is an error.
async fn wait_until_usable(
    db: &Db,
    table: TableDescription,
) -> Result<TableDescription, SessionError> {
    match table.table_status() {
        Some(TableStatus::Deleting) => {
            return Err(SessionError::new(
                SessionErrorKind::Misconfigured,
                format!("DynamoDB table `{}` is being deleted", db.table),
            ));
        }
        Some(TableStatus::Creating) => {}
        _ => return Ok(table),
    }
    let output = db
        .client
        .wait_until_table_exists()
        .table_name(&db.table)
        .wait(TABLE_ACTIVE_WAIT)
        .await
        .map_err(|e| {
            SessionError::new(
                SessionErrorKind::Unavailable,
                format!(
                    "DynamoDB table `{}` did not become active within {} s",
                    db.table,
                    TABLE_ACTIVE_WAIT.as_secs()
                ),
            )
            .with_source(e)
        })?
        .into_result()
        .map_err(|e| sdk_error("DescribeTable", &db.table, e))?;
    Ok(output
        .table
        .unwrap_or_else(|| TableDescription::builder().build()))
}

fn check_key_schema(table_name: &str, table: &TableDescription) -> Result<(), SessionError> {
    let key_type = |name: &str| {
        table
            .key_schema()
            .iter()
            .find(|k| k.attribute_name() == name)
            .map(|k| k.key_type().clone())
    };
    let attr_type = |name: &str| {
        table
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == name)
            .map(|d| d.attribute_type().clone())
    };
    let ok = table.key_schema().len() == 2
        && key_type(attr::PK) == Some(KeyType::Hash)
        && key_type(attr::SK) == Some(KeyType::Range)
        && attr_type(attr::PK) == Some(ScalarAttributeType::S)
        && attr_type(attr::SK) == Some(ScalarAttributeType::N);
    if ok {
        return Ok(());
    }
    let found: Vec<String> = table
        .key_schema()
        .iter()
        .map(|k| {
            let ty = attr_type(k.attribute_name())
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| "?".to_owned());
            format!("{} {} {}", k.attribute_name(), ty, k.key_type().as_str())
        })
        .collect();
    Err(SessionError::new(
        SessionErrorKind::Misconfigured,
        format!(
            "DynamoDB table `{table_name}` has the key schema [{}]; sessions need `pk` (S, HASH) \
             and `sk` (N, RANGE). Use another table name, or create the table as \
             docs/cloudformation/session-table.yaml does",
            found.join(", ")
        ),
    ))
}

async fn create_table(db: &Db) -> Result<(), SessionError> {
    let definition = |name: &str, ty| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ty)
            .build()
    };
    let key = |name: &str, ty| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
    };
    let build_error = |e: aws_sdk_dynamodb::error::BuildError| {
        SessionError::new(SessionErrorKind::InvalidInput, e.to_string())
    };
    tracing::info!(table = %db.table, "creating the DynamoDB session table (on-demand capacity)");
    let result = db
        .client
        .create_table()
        .table_name(&db.table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition(attr::PK, ScalarAttributeType::S).map_err(build_error)?)
        .attribute_definitions(definition(attr::SK, ScalarAttributeType::N).map_err(build_error)?)
        .key_schema(key(attr::PK, KeyType::Hash).map_err(build_error)?)
        .key_schema(key(attr::SK, KeyType::Range).map_err(build_error)?)
        .send()
        .await;
    match result {
        Ok(_) => {}
        // Another process created it first: use theirs once it is active.
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), CreateTableError::ResourceInUseException(_)) => {}
        Err(e) => return Err(sdk_error("CreateTable", &db.table, e)),
    }
    let table = describe_table(db).await?.ok_or_else(|| {
        SessionError::new(
            SessionErrorKind::Unavailable,
            format!(
                "DynamoDB table `{}` is missing right after creation",
                db.table
            ),
        )
    })?;
    let table = wait_until_usable(db, table).await?;
    check_key_schema(&db.table, &table)
}

async fn enable_ttl(db: &Db) -> Result<(), SessionError> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attr::EXPIRATION_TIME)
        .enabled(true)
        .build()
        .map_err(|e| SessionError::new(SessionErrorKind::InvalidInput, e.to_string()))?;
    match db
        .client
        .update_time_to_live()
        .table_name(&db.table)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Already enabled (a concurrent creator did it).
        Err(SdkError::ServiceError(e))
            if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e.err())
                == Some("ValidationException") =>
        {
            tracing::debug!(table = %db.table, "TTL was already being enabled");
            Ok(())
        }
        Err(e) => Err(sdk_error("UpdateTimeToLive", &db.table, e)),
    }
}

async fn check_ttl(db: &Db) -> Result<(), SessionError> {
    let output = db
        .client
        .describe_time_to_live()
        .table_name(&db.table)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTimeToLive", &db.table, e))?;
    let description = output.time_to_live_description();
    let status = description.and_then(|d| d.time_to_live_status());
    let attribute = description.and_then(|d| d.attribute_name());
    let enabled = matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    if !enabled || attribute != Some(attr::EXPIRATION_TIME) {
        tracing::warn!(
            table = %db.table,
            status = status.map(|s| s.as_str()).unwrap_or("DISABLED"),
            attribute = attribute.unwrap_or("-"),
            "TTL is not enabled on `expiration_time`: expired sessions are hidden from reads but \
             DynamoDB will not delete them. Enable TTL on `expiration_time` for this table."
        );
    }
    Ok(())
}
