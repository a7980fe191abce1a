//! Which session store a command reads, and opening it with a one-line error when it cannot
//! be used.

use std::path::Path;

use minimalagent::Sessions;
// The table the library's `use_session_memory(true)` uses when no name is given: the store
// crate's own constant, so that the command and the agents always agree on it.
#[cfg(feature = "dynamodb")]
use minimalagent::dynamodb::DEFAULT_TABLE_NAME;

use crate::cli::StoreArgs;
use crate::failure::Failure;
use crate::text::one_line;

/// The environment variable naming the store when `--store` is not given.
pub(crate) const STORE_ENV: &str = "MINIMALAGENT_STORE";

/// What a command does with the store: a command that only reads opens a SQLite file
/// read-only, so that it never migrates the schema or switches the journal mode under a
/// running agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reading only: `list`, `show`, `follow`, `export`, `pending`, the viewer without a flag
    /// that writes.
    Read,
    /// Writing too: `delete`, `approve`, `deny`, `answer`, `fork`, the viewer with
    /// `--allow-delete` or `--allow-approvals`.
    Write,
}

/// An open store, with the name commands use for it in messages.
#[derive(Clone, Debug)]
pub(crate) struct OpenStore {
    pub(crate) sessions: Sessions,
    /// What messages call the store (``SQLite file `x.db` ``).
    pub(crate) label: String,
    /// The store's URL.
    pub(crate) url: String,
}

/// The store URL the arguments and the environment name: `--store`, else the DynamoDB
/// settings (`--table`, `--region`, `--endpoint`), else `MINIMALAGENT_STORE`, else the
/// library's default table.
pub(crate) fn store_url(args: &StoreArgs, env: Option<String>) -> Result<String, Failure> {
    let dynamo_settings = args.table.is_some() || args.region.is_some() || args.endpoint.is_some();
    if let Some(url) = &args.store {
        if dynamo_settings {
            return Err(Failure::usage(
                "--store cannot be combined with --table, --region or --endpoint: put them in \
                 the URL (dynamodb://TABLE?region=…&endpoint=…)",
            ));
        }
        return Ok(url.clone());
    }
    if !dynamo_settings && let Some(url) = env.filter(|url| !url.trim().is_empty()) {
        return Ok(url);
    }
    let table = match args.table.as_deref() {
        Some(table) => table,
        None => default_table()?,
    };
    let mut url = format!("dynamodb://{table}");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(region) = &args.region {
        query.append_pair("region", region);
    }
    if let Some(endpoint) = &args.endpoint {
        query.append_pair("endpoint", endpoint);
    }
    let query = query.finish();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    Ok(url)
}

/// The library's default table, when no store is named.
#[cfg(feature = "dynamodb")]
fn default_table() -> Result<&'static str, Failure> {
    Ok(DEFAULT_TABLE_NAME)
}

/// Without DynamoDB support there is no default store: the library's default is a table.
#[cfg(not(feature = "dynamodb"))]
fn default_table() -> Result<&'static str, Failure> {
    Err(Failure::usage(
        "no session store given: pass --store sqlite://PATH or set MINIMALAGENT_STORE (the \
         library's default store is a DynamoDB table, and this build of minimalagent has no \
         DynamoDB support: install it with `cargo install minimalagent-cli --features \
         dynamodb`)",
    ))
}

/// Opens the store `url` names, after checking that it exists: the command never creates a
/// SQLite file or a DynamoDB table by mistake. With [`Access::Read`] a SQLite file is opened
/// read-only (DynamoDB has no such mode: the credentials decide what may be written).
pub(crate) async fn open(url: &str, access: Access) -> Result<OpenStore, Failure> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Failure::usage(format!(
            "invalid store URL `{}`: expected sqlite://PATH, dynamodb://TABLE or memory://",
            one_line(url)
        )));
    };
    let label = match scheme {
        "sqlite" => {
            check_sqlite_file(rest)?;
            format!("SQLite file `{}`", one_line(rest))
        }
        "dynamodb" => dynamodb_label(url).await?,
        _ => format!("store `{}`", one_line(url)),
    };
    #[cfg(feature = "sqlite")]
    if scheme == "sqlite" && access == Access::Read {
        let store = minimalagent::sqlite::SqliteSessionStore::builder()
            .path(rest)
            .read_only(true)
            .build()
            .await
            .map_err(|error| Failure::from_open(&error, &label))?;
        return Ok(OpenStore {
            sessions: Sessions::new(store),
            label,
            url: url.to_owned(),
        });
    }
    #[cfg(not(feature = "sqlite"))]
    let _ = access;
    match Sessions::open(url).await {
        Ok(sessions) => Ok(OpenStore {
            sessions,
            label,
            url: url.to_owned(),
        }),
        Err(error) => Err(Failure::from_error(&error, &label)),
    }
}

/// A SQLite store must be an existing file: opening a mistyped path would create an empty one.
fn check_sqlite_file(path: &str) -> Result<(), Failure> {
    if path.is_empty() {
        return Err(Failure::usage(
            "invalid store URL `sqlite://`: give the file, sqlite://relative/path.db or \
             sqlite:///absolute/path.db",
        ));
    }
    match std::fs::metadata(Path::new(path)) {
        Ok(metadata) if metadata.is_dir() => Err(Failure::unusable(format!(
            "`{}` is a directory, not a SQLite session store: pass the database file \
             (--store sqlite://PATH/sessions.db)",
            one_line(path)
        ))),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::unusable(format!(
                "no SQLite session store at `{}`: check the path (an agent creates the file \
                 when built with .session_store_url(\"sqlite://PATH\")), or pass another \
                 --store",
                one_line(path)
            )))
        }
        Err(error) => Err(Failure::unusable(format!(
            "cannot read the SQLite session store `{}`: {error}",
            one_line(path)
        ))),
    }
}

#[cfg(feature = "dynamodb")]
async fn dynamodb_label(url: &str) -> Result<String, Failure> {
    crate::dynamo::check(url).await
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamodb_label(url: &str) -> Result<String, Failure> {
    Err(Failure::usage(format!(
        "`{}` needs DynamoDB support, which this build of minimalagent does not have: install \
         it with `cargo install minimalagent-cli --features dynamodb`, or pass --store \
         sqlite://PATH",
        one_line(url)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(store: Option<&str>, table: Option<&str>, region: Option<&str>) -> StoreArgs {
        StoreArgs {
            store: store.map(str::to_owned),
            table: table.map(str::to_owned),
            region: region.map(str::to_owned),
            endpoint: None,
        }
    }

    #[cfg(feature = "dynamodb")]
    #[test]
    fn the_store_comes_from_the_flag_then_the_settings_then_the_environment() {
        let env = || Some("sqlite://env.db".to_owned());
        assert_eq!(
            store_url(&args(Some("sqlite://a.db"), None, None), env()).unwrap(),
            "sqlite://a.db"
        );
        assert_eq!(
            store_url(&args(None, Some("t1"), Some("eu-west-1")), env()).unwrap(),
            "dynamodb://t1?region=eu-west-1"
        );
        assert_eq!(
            store_url(&args(None, None, None), env()).unwrap(),
            "sqlite://env.db"
        );
        assert_eq!(
            store_url(&args(None, None, None), None).unwrap(),
            "dynamodb://minimalagent-session-table"
        );
        let endpoint = StoreArgs {
            endpoint: Some("http://127.0.0.1:8000".to_owned()),
            ..args(None, None, None)
        };
        assert_eq!(
            store_url(&endpoint, None).unwrap(),
            "dynamodb://minimalagent-session-table?endpoint=http%3A%2F%2F127.0.0.1%3A8000"
        );
        assert!(store_url(&args(Some("sqlite://a.db"), Some("t"), None), None).is_err());
    }

    #[cfg(not(feature = "dynamodb"))]
    #[test]
    fn without_dynamodb_there_is_no_default_store() {
        let env = || Some("sqlite://env.db".to_owned());
        assert_eq!(
            store_url(&args(None, None, None), env()).unwrap(),
            "sqlite://env.db"
        );
        let failure = store_url(&args(None, None, None), None).unwrap_err();
        assert_eq!(failure.exit(), crate::failure::Exit::Usage);
        assert!(
            failure.to_string().contains("--store sqlite://PATH"),
            "{failure}"
        );
    }
}
