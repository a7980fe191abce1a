//! The session store side of `doctor`: which store the CLI's settings name, and its checks
//! (DynamoDB: the table; SQLite: the file, read-only; memory: nothing to check).

use crate::cli::StoreArgs;
use crate::failure::Failure;
use crate::store::{STORE_ENV, store_url};
use crate::text::one_line;

#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
use super::report::Area;
use super::report::Report;

/// The store, resolved from the CLI's settings.
pub(super) struct Target {
    url: String,
    source: &'static str,
    kind: Kind,
}

enum Kind {
    #[cfg(feature = "dynamodb")]
    Dynamo(Result<crate::dynamo::Connection, Failure>),
    #[cfg(feature = "sqlite")]
    Sqlite(String),
    Memory,
    /// A store this build cannot open: the feature it needs.
    #[cfg_attr(all(feature = "dynamodb", feature = "sqlite"), allow(dead_code))]
    NotBuilt(&'static str),
}

impl Target {
    /// The store `--store`, `--table`/`--region`/`--endpoint`, `MINIMALAGENT_STORE` or the
    /// library's default name, as the other commands read it (a wrong URL is a usage error).
    pub(super) async fn resolve(args: &StoreArgs) -> Result<Self, Failure> {
        let env = std::env::var(STORE_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty());
        let url = store_url(args, env.clone())?;
        let source = if args.store.is_some() {
            "--store"
        } else if args.table.is_some() || args.region.is_some() || args.endpoint.is_some() {
            "--table, --region, --endpoint"
        } else if env.is_some() {
            STORE_ENV
        } else {
            "the library's default table"
        };
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(Failure::usage(format!(
                "invalid store URL `{}`: expected sqlite://PATH, dynamodb://TABLE or memory://",
                one_line(&url)
            )));
        };
        let kind = match scheme {
            #[cfg(feature = "dynamodb")]
            "dynamodb" => match crate::dynamo::connect(&url).await {
                Err(failure) if failure.exit() == crate::failure::Exit::Usage => {
                    return Err(failure);
                }
                connected => Kind::Dynamo(connected),
            },
            #[cfg(not(feature = "dynamodb"))]
            "dynamodb" => Kind::NotBuilt("dynamodb"),
            #[cfg(feature = "sqlite")]
            "sqlite" => Kind::Sqlite(url["sqlite://".len()..].to_owned()),
            #[cfg(not(feature = "sqlite"))]
            "sqlite" => Kind::NotBuilt("sqlite"),
            "memory" => Kind::Memory,
            _ => {
                return Err(Failure::usage(format!(
                    "invalid store URL `{}`: unknown store `{}`: use memory://, sqlite://PATH or \
                     dynamodb://TABLE",
                    one_line(&url),
                    one_line(scheme)
                )));
            }
        };
        Ok(Self { url, source, kind })
    }

    /// Prints the store's settings.
    pub(super) fn print(&self, report: &mut Report) {
        report.setting("store", &format!("{} ({})", self.url, self.source));
        #[cfg(feature = "dynamodb")]
        if let Kind::Dynamo(Ok(connection)) = &self.kind {
            report.setting(
                "dynamodb",
                &match &connection.endpoint {
                    Some((endpoint, source)) => {
                        format!("{endpoint} ({source}), Region {}", connection.region)
                    }
                    None => format!(
                        "https://dynamodb.{region}.amazonaws.com (the Region's)",
                        region = connection.region
                    ),
                },
            );
        }
    }

    /// Runs the store's checks.
    pub(super) async fn check(&self, report: &mut Report) {
        match &self.kind {
            #[cfg(feature = "dynamodb")]
            Kind::Dynamo(Ok(connection)) => super::table::check(connection, report).await,
            #[cfg(feature = "dynamodb")]
            Kind::Dynamo(Err(failure)) => report.failed(
                Area::StoreUnusable,
                "table",
                &failure.to_string(),
                "set the Region of the table: --region, AWS_REGION or the AWS profile",
            ),
            #[cfg(feature = "sqlite")]
            Kind::Sqlite(path) => check_sqlite(path, report).await,
            Kind::Memory => report.skipped(
                "store",
                "memory:// keeps sessions inside the agent's own process: nothing to check",
            ),
            Kind::NotBuilt(feature) => report.skipped(
                "store",
                &format!(
                    "this build of minimalagent has no `{feature}` support: install it with \
                     `cargo install minimalagent-cli --features {feature}` to check this store"
                ),
            ),
        }
    }
}

/// Opens the SQLite file read-only, as a monitor would: that succeeds only for a session
/// store of the schema version this build reads, and changes nothing.
#[cfg(feature = "sqlite")]
async fn check_sqlite(path: &str, report: &mut Report) {
    use minimalagent::session::SessionErrorKind;
    use minimalagent::sqlite::{SCHEMA_VERSION, SqliteSessionStore};

    const NAME: &str = "SQLite file";
    let shown = one_line(path);
    if path.is_empty() {
        report.failed(
            Area::StoreUnusable,
            NAME,
            "the store URL names no file",
            "pass --store sqlite://relative/path.db or sqlite:///absolute/path.db",
        );
        return;
    }
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            report.failed(
                Area::StoreUnusable,
                NAME,
                &format!("`{shown}` is a directory"),
                "pass the database file (--store sqlite://PATH/sessions.db)",
            );
            return;
        }
        Ok(_) => {}
        Err(error) => {
            report.failed(
                Area::StoreUnusable,
                NAME,
                &format!("cannot read `{shown}`: {error}"),
                "check the path: an agent creates the file when built with \
                 .session_store_url(\"sqlite://PATH\")",
            );
            return;
        }
    }
    let opened = SqliteSessionStore::builder()
        .path(path)
        .read_only(true)
        .build()
        .await;
    match opened {
        Ok(_) => report.ok(
            NAME,
            &format!(
                "`{shown}` opened read-only: a session store of schema version {SCHEMA_VERSION}, \
                 the version this build reads and writes"
            ),
        ),
        Err(error) => {
            let (area, fix) = match error.kind() {
                SessionErrorKind::Incompatible => (
                    Area::StoreUnusable,
                    "the file was written by a newer minimalagent: update this command",
                ),
                SessionErrorKind::Unavailable | SessionErrorKind::Throttled => (
                    Area::StoreUnreachable,
                    "the file is busy or could not be read: retry, and check the disk",
                ),
                _ if error.message().contains("migrat") => (
                    Area::StoreUnusable,
                    "run an agent on it once (a writable store migrates the file), then retry",
                ),
                _ => (
                    Area::StoreUnusable,
                    "pass the session store file an agent wrote (--store sqlite://PATH)",
                ),
            };
            report.failed(area, NAME, error.message(), fix);
        }
    }
}
