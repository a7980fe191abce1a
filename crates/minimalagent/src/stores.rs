//! Choosing a session store by URL, and the DynamoDB store the seed's shortcuts set up.

use std::sync::Arc;
use std::time::Duration;

use agent_session::{DEFAULT_SESSION_TTL, InMemorySessionStore, SessionStore};

use crate::error::{ConfigError, Error};

/// The table the seed's `use_session_memory(true)` uses when no name is given.
#[cfg(feature = "dynamodb")]
pub(crate) use agent_session_dynamo::DEFAULT_TABLE_NAME;
/// Without the `dynamodb` feature there is no default table: any name turns sessions on (and
/// then fails, naming the feature).
#[cfg(not(feature = "dynamodb"))]
pub(crate) const DEFAULT_TABLE_NAME: &str = "";

/// Opens the session store a URL names, so that an application (or the CLI) can switch stores
/// by configuration:
///
/// - `memory://` — an in-memory store (this process only);
/// - `sqlite://path/to/sessions.db` (a relative path) or `sqlite:///abs/path.db` — the embedded
///   SQLite store, created if missing (feature `sqlite`);
/// - `dynamodb://table-name?region=us-east-1&endpoint=http://localhost:8000` — the DynamoDB
///   store; region and endpoint are optional and default to the AWS environment's (feature
///   `dynamodb`).
///
/// `ttl` is the session time to live (default one hour).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), minimalagent::Error> {
/// let store = minimalagent::open_store("memory://", None).await?;
/// let error = minimalagent::open_store("redis://localhost", None).await.unwrap_err();
/// assert!(error.is_config());
/// # let _ = store; Ok(())
/// # }
/// ```
///
/// # Errors
///
/// An [`Error`] of kind `Config`: an unknown scheme, a URL that cannot be parsed, a feature
/// that is off, or a store that cannot be set up (a table of the wrong schema, a file that is
/// not SQLite…).
pub async fn open_store(url: &str, ttl: Option<Duration>) -> Result<Arc<dyn SessionStore>, Error> {
    let invalid = |reason: &str| ConfigError::InvalidStoreUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        invalid("expected scheme://…: memory://, sqlite://PATH or dynamodb://TABLE")
    })?;
    match scheme {
        "memory" => {
            let store = InMemorySessionStore::with_ttl(ttl.unwrap_or(DEFAULT_SESSION_TTL))
                .map_err(|_| ConfigError::InvalidSessionTtl)?;
            Ok(Arc::new(store))
        }
        "sqlite" => {
            if rest.is_empty() {
                return Err(invalid("sqlite:// needs a file path").into());
            }
            sqlite_store(rest, ttl).await
        }
        "dynamodb" => {
            let parsed = url::Url::parse(url).map_err(|error| invalid(&error.to_string()))?;
            let table = parsed
                .host_str()
                .filter(|host| !host.is_empty())
                .ok_or_else(|| invalid("dynamodb:// needs a table name"))?
                .to_owned();
            let mut settings = DynamoSettings {
                table_name: Some(table),
                region: None,
                endpoint: None,
                ttl,
            };
            for (key, value) in parsed.query_pairs() {
                match key.as_ref() {
                    "region" => settings.region = Some(value.into_owned()),
                    "endpoint" => settings.endpoint = Some(value.into_owned()),
                    other => {
                        return Err(invalid(&format!(
                            "unknown setting `{other}` (known: region, endpoint)"
                        ))
                        .into());
                    }
                }
            }
            dynamodb_store(settings).await
        }
        other => Err(invalid(&format!(
            "unknown store `{other}`: use memory://, sqlite://PATH or dynamodb://TABLE"
        ))
        .into()),
    }
}

#[cfg(feature = "sqlite")]
async fn sqlite_store(path: &str, ttl: Option<Duration>) -> Result<Arc<dyn SessionStore>, Error> {
    let mut builder = agent_session_sqlite::SqliteSessionStore::builder().path(path);
    if let Some(ttl) = ttl {
        builder = builder.ttl(ttl);
    }
    let store = builder.build().await.map_err(ConfigError::Store)?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite_store(_path: &str, _ttl: Option<Duration>) -> Result<Arc<dyn SessionStore>, Error> {
    Err(ConfigError::FeatureDisabled {
        what: "a sqlite:// session store".to_owned(),
        feature: "sqlite",
    }
    .into())
}

/// The seed's DynamoDB settings.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
pub(crate) struct DynamoSettings {
    pub(crate) table_name: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) ttl: Option<Duration>,
}

#[cfg(feature = "dynamodb")]
pub(crate) async fn dynamodb_store(
    settings: DynamoSettings,
) -> Result<Arc<dyn SessionStore>, Error> {
    let table = settings
        .table_name
        .unwrap_or_else(|| DEFAULT_TABLE_NAME.to_owned());
    if agent_session_dynamo::validate_table_name(&table).is_err() {
        return Err(ConfigError::InvalidTableName(table).into());
    }
    let mut builder = agent_session_dynamo::DynamoSessionStore::builder().table_name(table);
    if let Some(region) = settings.region {
        builder = builder.region(region);
    }
    if let Some(endpoint) = settings.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if let Some(ttl) = settings.ttl {
        builder = builder.ttl(ttl);
    }
    let store = builder.build().await.map_err(ConfigError::Store)?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "dynamodb"))]
pub(crate) async fn dynamodb_store(
    _settings: DynamoSettings,
) -> Result<Arc<dyn SessionStore>, Error> {
    Err(ConfigError::FeatureDisabled {
        what: "a DynamoDB session store (use_session_memory, session_table_name, dynamodb://)"
            .to_owned(),
        feature: "dynamodb",
    }
    .into())
}
